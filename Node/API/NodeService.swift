public import Credentials
public import EnsureCrypto
public import Ledger

/// What the HTTP API asks of the node it runs in. The daemon implements it over its mempool, block store and
/// committed state; tests implement it with fixed answers. Every method answers from committed state or the
/// mempool and never blocks on consensus.
public protocol NodeService: Sendable {
    /// Decodes and admits canonical transaction bytes into the mempool, which gossips them on.
    func submit(transaction bytes: [UInt8]) async -> SubmissionResult
    /// Admits several transactions at once, in order: one result per transaction, at the same position. The
    /// answer of each is the one ``submit(transaction:)`` would give it.
    func submit(transactions batch: [[UInt8]]) async -> [SubmissionResult]
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
    /// What `key` is in committed state: nil when it has no role, and for an organization admin or plugin key
    /// also when its organization is no longer a member. Access control asks it on every protected request.
    func role(of key: Ed25519PublicKey) async -> KeyRole?
    /// The feed the node publishes each durably committed block to: the event streams follow it and `/metrics`
    /// reads its counters. One feed per node, created with the committed tip.
    var commitFeed: CommitFeed { get }
    /// What `/metrics` reports beyond ``status()`` and the commit feed's counters.
    func metricsSample() async -> NodeMetricsSample

    // MARK: Ledger queries (committed state; each answer is read from one consistent snapshot)

    /// The member organizations, ascending by name.
    func organizations() async throws(LedgerQueryError) -> CommittedRead<[OrganizationRecord]>
    /// The validators governance decided, ascending by node key.
    func validators() async throws(LedgerQueryError) -> CommittedRead<[ValidatorRecord]>
    /// The registered detection plugins, ascending by key.
    func plugins() async throws(LedgerQueryError) -> CommittedRead<[PluginRecord]>
    /// Every issuer, delisted ones included (marked), ascending by identifier.
    func issuers() async throws(LedgerQueryError) -> CommittedRead<[IssuerRecord]>
    /// The issuer with `identifier`, if there is one.
    func issuer(identifier: String) async throws(LedgerQueryError) -> CommittedRead<IssuerRecord?>
    /// The registered regulators, ascending by key.
    func regulators() async throws(LedgerQueryError) -> CommittedRead<[RegulatorRecord]>
    /// The chain parameters in force.
    func parameters() async throws(LedgerQueryError) -> CommittedRead<GenesisParameters>
    /// Governance proposals whose status at the committed height is `status` (every one when nil), newest first.
    func proposals(status: ProposalStatusName?) async throws(LedgerQueryError) -> CommittedRead<[ProposalRecord]>
    /// The proposal `id`, if there is one.
    func proposal(id: Digest) async throws(LedgerQueryError) -> CommittedRead<ProposalRecord?>
    /// One page of incidents matching `query`, in ascending detection time.
    func incidents(_ query: IncidentQuery) async throws(LedgerQueryError) -> IncidentPage
    /// The incident `id` of `organization`, with its record and updates, if there is one.
    func incident(organization: String, id: String) async throws(LedgerQueryError) -> CommittedRead<IncidentDetail?>
    /// The incident log's size and root at the committed tip, with the tip's certified header.
    func incidentLogCheckpoint() async throws(LedgerQueryError) -> IncidentLogCheckpoint
    /// The incident-log leaf at `index`, or nil beyond the log.
    func incidentLogLeaf(at index: UInt64) async throws(LedgerQueryError) -> CommittedRead<IncidentLogLeaf?>
    /// The RFC 9162 inclusion proof of leaf `leaf` in the log's tree of `treeSize` leaves (the current size when nil).
    func incidentInclusionProof(leaf: UInt64, treeSize: UInt64?) async throws(LedgerQueryError) -> InclusionProofAnswer
    /// The RFC 9162 consistency proof from the tree of `oldSize` leaves to that of `newSize` (current when nil).
    func incidentConsistencyProof(oldSize: UInt64, newSize: UInt64?) async throws(LedgerQueryError)
        -> ConsistencyProofAnswer

    // MARK: Age verification (docs/credentials.md, "On the node")

    /// A single-use presentation request for "over `threshold`" addressed to `audience` (the node's default
    /// audience when nil).
    func createPresentationRequest(audience: String?, over threshold: Int) async -> PresentationRequest
    /// Consumes the request of `nonce` (once only, even when the presentation is refused) and verifies
    /// `presentation` against it, the issuer registry and the status lists in committed state.
    func verifyPresentation(nonce: String, presentation: String) async throws(PresentationRefusal) -> AgeVerification
    /// The latest status list token published under `uri`, as stored, if any.
    func statusList(uri: String) async throws(LedgerQueryError) -> CommittedRead<StatusListEntry?>
}

/// Counters of the node that `/metrics` reports and ``NodeStatus`` does not carry.
public struct NodeMetricsSample: Sendable, Equatable {
    /// Consensus rounds this process left because its round timer fired.
    public var consensusTimeouts: UInt64
    /// How late the engine's event loop ran its probe task (nil where there is no such loop).
    public var eventLoopLag: SecondsHistogram?

    /// Transaction signatures verified, and the CPU time of those verified in batches.
    public var signatures: SignatureStatistics

    /// Creates a sample.
    public init(
        consensusTimeouts: UInt64, eventLoopLag: SecondsHistogram? = nil,
        signatures: SignatureStatistics = SignatureStatistics()
    ) {
        self.consensusTimeouts = consensusTimeouts
        self.eventLoopLag = eventLoopLag
        self.signatures = signatures
    }
}

/// The transaction signatures a node verified since it started (its signature cache's counts): `/metrics` reports
/// them, and with them the load bench compares a node's cost of one verification with the machine's bound.
public struct SignatureStatistics: Sendable, Equatable {
    /// Signatures verified (ids not in the cache), valid or not, on every path.
    public var verified: UInt64 = 0
    /// Of those, the ones verified in batches (submissions, gossip, proposals), whose thread CPU time is measured.
    public var timed: UInt64 = 0
    /// The thread CPU time of the timed verifications, in seconds.
    public var timedCPUSeconds: Double = 0

    /// Nothing verified yet.
    public init() {}
}

/// Why a ledger query could not be answered: a parameter that only state can judge, or a store that failed.
public enum LedgerQueryError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A query parameter is not acceptable: its name and why.
    case invalidParameter(name: String, reason: String)
    /// The pagination cursor is not one this query handed out.
    case invalidCursor(String)
    /// A proof was asked for sizes or a leaf the log does not have.
    case proofOutOfRange(String)
    /// Committed state could not be read (the store failed or holds a damaged value).
    case unavailable(String)

    public var description: String {
        switch self {
        case .invalidParameter(let name, let reason): return "\(name) \(reason)"
        case .invalidCursor(let reason): return "cursor \(reason)"
        case .proofOutOfRange(let reason): return reason
        case .unavailable(let reason): return "state unavailable: \(reason)"
        }
    }
}

/// A value read from committed state, with the height of the block it was read at.
public struct CommittedRead<Value: Sendable>: Sendable {
    /// The committed height the value was read at.
    public let height: UInt64
    /// The value.
    public let value: Value

    /// Creates a read.
    public init(height: UInt64, value: Value) {
        self.height = height
        self.value = value
    }
}

extension CommittedRead: Equatable where Value: Equatable {}

/// A proposal status as the API filters by it (``ProposalStatus/name``).
public enum ProposalStatusName: String, Sendable, CaseIterable {
    case open, passed, rejected, failed, expired
}

/// What `GET /v1/incidents` asks for: filters (all optional, combined with AND), a time range on the detection
/// time, and a page.
public struct IncidentQuery: Sendable, Equatable {
    /// Largest page.
    public static let maxLimit = 500
    /// Page size when none is given.
    public static let defaultLimit = 50

    /// The reporting organization.
    public var organization: String?
    /// The reporting key (a plugin or an admin).
    public var reporter: Ed25519PublicKey?
    /// The RSIT class (`intrusion-attempts`).
    public var rsitClass: String?
    /// The full RSIT `class/type`.
    public var category: String?
    /// The OCSF severity.
    public var severity: IncidentSeverity?
    /// The current status.
    public var status: IncidentStatus?
    /// Earliest detection time, milliseconds since 1970 (inclusive).
    public var from: UInt64?
    /// Latest detection time, milliseconds since 1970 (inclusive).
    public var to: UInt64?
    /// Most incidents in the page, 1 to ``maxLimit``.
    public var limit: Int
    /// Where the previous page stopped (opaque: an index key).
    public var cursor: [UInt8]?

    /// Creates a query.
    public init(
        organization: String? = nil, reporter: Ed25519PublicKey? = nil, rsitClass: String? = nil,
        category: String? = nil, severity: IncidentSeverity? = nil, status: IncidentStatus? = nil, from: UInt64? = nil,
        to: UInt64? = nil, limit: Int = IncidentQuery.defaultLimit, cursor: [UInt8]? = nil
    ) {
        self.organization = organization
        self.reporter = reporter
        self.rsitClass = rsitClass
        self.category = category
        self.severity = severity
        self.status = status
        self.from = from
        self.to = to
        self.limit = limit
        self.cursor = cursor
    }
}

/// An incident as a list shows it: its state and its record.
public struct IncidentSummary: Sendable, Equatable {
    /// Where it is in its lifecycle and in the log.
    public let state: IncidentState
    /// The record as reported.
    public let record: IncidentRecord

    /// Creates a summary.
    public init(state: IncidentState, record: IncidentRecord) {
        self.state = state
        self.record = record
    }
}

/// One page of incidents.
public struct IncidentPage: Sendable, Equatable {
    /// The committed height the page was read at.
    public let height: UInt64
    /// The incidents, ascending by detection time (then by report leaf).
    public let incidents: [IncidentSummary]
    /// Where to continue, when the scan stopped before the end of the range.
    public let nextCursor: [UInt8]?

    /// Creates a page.
    public init(height: UInt64, incidents: [IncidentSummary], nextCursor: [UInt8]?) {
        self.height = height
        self.incidents = incidents
        self.nextCursor = nextCursor
    }
}

/// One lifecycle update of an incident, from its incident-log leaf.
public struct IncidentUpdateEntry: Sendable, Equatable {
    /// The leaf index.
    public let leaf: UInt64
    /// The leaf (block height and time, and the signed update transaction).
    public let entry: IncidentLogEntry
    /// The update.
    public let update: IncidentUpdatePayload

    /// Creates an entry.
    public init(leaf: UInt64, entry: IncidentLogEntry, update: IncidentUpdatePayload) {
        self.leaf = leaf
        self.entry = entry
        self.update = update
    }
}

/// An incident with everything public about it.
public struct IncidentDetail: Sendable, Equatable {
    /// Its state.
    public let state: IncidentState
    /// Its record.
    public let record: IncidentRecord
    /// The leaf of the report.
    public let report: IncidentLogEntry
    /// Its updates, oldest first.
    public let updates: [IncidentUpdateEntry]

    /// Creates a detail.
    public init(state: IncidentState, record: IncidentRecord, report: IncidentLogEntry, updates: [IncidentUpdateEntry])
    {
        self.state = state
        self.record = record
        self.report = report
        self.updates = updates
    }
}

/// The incident log at the committed tip, with the header that commits to it and the certificate of that header.
public struct IncidentLogCheckpoint: Sendable, Equatable {
    /// Leaves in the log.
    public let size: UInt64
    /// The RFC 9162 root of those leaves.
    public let root: Digest
    /// The committed block whose header holds size and root.
    public let header: BlockHeader
    /// The quorum certificate over that block.
    public let certificate: QuorumCertificate

    /// Creates a checkpoint.
    public init(size: UInt64, root: Digest, header: BlockHeader, certificate: QuorumCertificate) {
        self.size = size
        self.root = root
        self.header = header
        self.certificate = certificate
    }
}

/// One leaf of the incident log.
public struct IncidentLogLeaf: Sendable, Equatable {
    /// Its index.
    public let index: UInt64
    /// Its canonical bytes (what the leaf hash is of).
    public let bytes: [UInt8]
    /// The decoded entry.
    public let entry: IncidentLogEntry

    /// Creates a leaf.
    public init(index: UInt64, bytes: [UInt8], entry: IncidentLogEntry) {
        self.index = index
        self.bytes = bytes
        self.entry = entry
    }
}

/// An inclusion proof of one leaf in one tree size of the incident log.
public struct InclusionProofAnswer: Sendable, Equatable {
    /// The committed height the proof was built at.
    public let height: UInt64
    /// The leaf's index.
    public let leafIndex: UInt64
    /// The tree size the proof is for.
    public let treeSize: UInt64
    /// The leaf's RFC 9162 hash.
    public let leafHash: Digest
    /// The root of the tree of ``treeSize`` leaves.
    public let root: Digest
    /// The audit path, from the leaf up.
    public let proof: [Digest]

    /// Creates an answer.
    public init(height: UInt64, leafIndex: UInt64, treeSize: UInt64, leafHash: Digest, root: Digest, proof: [Digest]) {
        self.height = height
        self.leafIndex = leafIndex
        self.treeSize = treeSize
        self.leafHash = leafHash
        self.root = root
        self.proof = proof
    }
}

/// A consistency proof between two tree sizes of the incident log.
public struct ConsistencyProofAnswer: Sendable, Equatable {
    /// The committed height the proof was built at.
    public let height: UInt64
    /// The older size.
    public let oldSize: UInt64
    /// The newer size.
    public let newSize: UInt64
    /// The root at the older size.
    public let oldRoot: Digest
    /// The root at the newer size.
    public let newRoot: Digest
    /// The proof.
    public let proof: [Digest]

    /// Creates an answer.
    public init(height: UInt64, oldSize: UInt64, newSize: UInt64, oldRoot: Digest, newRoot: Digest, proof: [Digest]) {
        self.height = height
        self.oldSize = oldSize
        self.newSize = newSize
        self.oldRoot = oldRoot
        self.newRoot = newRoot
        self.proof = proof
    }
}

/// The answer to a submission.
extension NodeService {
    /// One submission after the other; the daemon's engine admits a batch in one turn instead.
    public func submit(transactions batch: [[UInt8]]) async -> [SubmissionResult] {
        var results: [SubmissionResult] = []
        results.reserveCapacity(batch.count)
        for bytes in batch { results.append(await submit(transaction: bytes)) }
        return results
    }
}

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
