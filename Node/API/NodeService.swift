public import EnsureCrypto
public import Ledger

/// What the HTTP API asks of the node it runs in. The daemon implements it over its mempool, block store and
/// committed state; tests implement it with fixed answers. Every method answers from committed state or the
/// mempool and never blocks on consensus.
public protocol NodeService: Sendable {
    /// Decodes and admits canonical transaction bytes into the mempool, which gossips them on.
    func submit(transaction bytes: [UInt8]) async -> SubmissionResult
    /// Where the transaction with `id` stands.
    func transactionStatus(_ id: Digest) async -> TransactionStatus
    /// The committed block at `height` and the certificate stored with it, or nil above the tip.
    func block(atHeight height: UInt64) async -> CommittedBlock?
    /// The committed notarization of `digest`, if any.
    func notarization(of digest: Digest) async -> NotarizationRecord?
    /// The sequence number `signer`'s next new transaction should carry: one past its highest pending one, or
    /// its next expected committed one when nothing is pending.
    func nextSequence(for signer: Ed25519PublicKey) async -> UInt64
    /// The node's view of the chain and its peers.
    func status() async -> NodeStatus
}

/// The answer to a submission.
public enum SubmissionResult: Sendable, Equatable {
    /// The transaction is pending (just admitted, or already pending).
    case accepted(id: Digest)
    /// The transaction was committed earlier; submitting it again changes nothing.
    case alreadyCommitted(id: Digest, height: UInt64)
    /// The transaction was refused; nothing changed.
    case rejected(SubmissionRejection)
}

/// Why a submission was refused: a stable machine-readable code and a sentence for people.
public struct SubmissionRejection: Error, Sendable, Equatable, CustomStringConvertible {
    /// Stable codes, one per kind of refusal.
    public enum Code: String, Sendable, CaseIterable {
        /// The bytes are not one canonical transaction.
        case malformed = "malformed"
        /// The transaction names another chain.
        case wrongChain = "wrong-chain"
        /// The transaction is larger than the limit.
        case oversize = "oversize"
        /// The signer already committed this sequence number.
        case staleSequence = "stale-sequence"
        /// The sequence number is too far ahead of the signer's next expected one.
        case sequenceTooFarAhead = "sequence-too-far-ahead"
        /// The signature does not verify.
        case badSignature = "bad-signature"
        /// The signer may not submit this kind of transaction.
        case unauthorized = "unauthorized"
        /// A different transaction of the signer with the same sequence number is pending.
        case conflictingSequence = "conflicting-sequence"
        /// The signer has too many pending transactions.
        case signerLimit = "signer-limit"
        /// The mempool is full; retry later.
        case mempoolFull = "mempool-full"
        /// The payload does not decode for the transaction's kind.
        case invalidPayload = "invalid-payload"
        /// The node is not accepting transactions now (starting, syncing or stopping).
        case unavailable = "unavailable"
    }

    /// What kind of refusal.
    public let code: Code
    /// What exactly was wrong.
    public let detail: String

    /// Creates a rejection.
    public init(code: Code, detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { "\(code.rawValue): \(detail)" }
}

/// Where a transaction stands.
public enum TransactionStatus: Sendable, Equatable {
    /// The node has never seen it (or forgot a refusal long ago).
    case unknown
    /// It waits in the mempool.
    case pending
    /// It is in the committed block at `height`, at position `index`, and applied.
    case committed(height: UInt64, index: Int, blockID: Digest)
    /// It is in the committed block at `height`, at position `index`, but changed nothing except its signer's
    /// sequence, for `failure`.
    case failed(height: UInt64, index: Int, blockID: Digest, failure: TransactionFailure)
    /// It was admitted and later dropped without committing, for `reason`.
    case dropped(reason: String)
}

/// A committed block with the certificate stored with it.
public struct CommittedBlock: Sendable, Equatable {
    /// The block.
    public let block: Block
    /// The quorum certificate over the block's id.
    public let certificate: QuorumCertificate

    /// Creates a value.
    public init(block: Block, certificate: QuorumCertificate) {
        self.block = block
        self.certificate = certificate
    }
}

/// A committed notarization.
public struct NotarizationRecord: Sendable, Equatable {
    /// The notarized SHA-256.
    public let digest: Digest
    /// The label the signer gave it.
    public let label: String
    /// Who notarized it.
    public let signer: Ed25519PublicKey
    /// The notarizing transaction.
    public let transactionID: Digest
    /// The height of the block that committed it.
    public let height: UInt64
    /// That block's timestamp, milliseconds since 1970-01-01 UTC.
    public let timestamp: UInt64

    /// Creates a record.
    public init(
        digest: Digest, label: String, signer: Ed25519PublicKey, transactionID: Digest, height: UInt64,
        timestamp: UInt64
    ) {
        self.digest = digest
        self.label = label
        self.signer = signer
        self.transactionID = transactionID
        self.height = height
        self.timestamp = timestamp
    }
}

/// The node's view of itself.
public struct NodeStatus: Sendable, Equatable {
    /// Whether the node votes.
    public enum Role: String, Sendable {
        case validator
        case observer
    }

    /// The chain.
    public var chainID: String
    /// The node's public key.
    public var nodeKey: Ed25519PublicKey
    /// Validator or observer.
    public var role: Role
    /// Height of the last committed block.
    public var height: UInt64
    /// Id of the last committed block.
    public var blockID: Digest
    /// The consensus round the node is in.
    public var round: UInt64
    /// The consensus epoch.
    public var epoch: UInt64
    /// Keys of the peers connected now.
    public var peers: [Ed25519PublicKey]
    /// Pending transactions.
    public var mempoolTransactions: Int
    /// Their canonical bytes together.
    public var mempoolBytes: Int
    /// True while the node fetches committed blocks from peers to catch up.
    public var syncing: Bool

    /// Creates a status.
    public init(
        chainID: String, nodeKey: Ed25519PublicKey, role: Role, height: UInt64, blockID: Digest, round: UInt64,
        epoch: UInt64, peers: [Ed25519PublicKey], mempoolTransactions: Int, mempoolBytes: Int, syncing: Bool
    ) {
        self.chainID = chainID
        self.nodeKey = nodeKey
        self.role = role
        self.height = height
        self.blockID = blockID
        self.round = round
        self.epoch = epoch
        self.peers = peers
        self.mempoolTransactions = mempoolTransactions
        self.mempoolBytes = mempoolBytes
        self.syncing = syncing
    }
}
