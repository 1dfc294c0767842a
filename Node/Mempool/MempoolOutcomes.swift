public import Codec
public import EnsureCrypto
public import Ledger

/// Why the mempool refused a transaction. A refusal changes nothing in the pool.
public enum MempoolRejection: Error, Equatable, Sendable, CustomStringConvertible {
    /// Gossiped bytes are not a canonical transaction.
    case malformed(CanonicalDecodingError)
    /// The transaction names another chain.
    case wrongChain(expected: String, found: String)
    /// Its canonical encoding is larger than ``MempoolConfiguration/maxTransactionBytes``.
    case oversize(bytes: Int, limit: Int)
    /// The signature does not verify for the signer key.
    case badSignature(signer: Ed25519PublicKey, id: Digest)
    /// The application does not let the signer submit this kind.
    case unauthorized(signer: Ed25519PublicKey, kind: TransactionKind)
    /// The sequence is below the signer's next expected one: a transaction with it is already committed.
    case staleSequence(signer: Ed25519PublicKey, sequence: UInt64, nextExpected: UInt64)
    /// The sequence is at or past `nextExpected + window`.
    case sequenceTooFarAhead(signer: Ed25519PublicKey, sequence: UInt64, nextExpected: UInt64, window: UInt64)
    /// Another transaction with the same signer and sequence is already pending; the pool never replaces one.
    case conflictingSequence(signer: Ed25519PublicKey, sequence: UInt64, pending: Digest)
    /// The signer already has ``MempoolConfiguration/maxPerSigner`` pending transactions.
    case signerLimit(signer: Ed25519PublicKey, limit: Int)
    /// Admitting it would pass the pool's count or byte limit; nothing is evicted to make room.
    case mempoolFull(transactions: Int, bytes: Int, maxTransactions: Int, maxBytes: Int)

    public var description: String {
        switch self {
        case .malformed(let error):
            "malformed transaction: \(error)"
        case .wrongChain(let expected, let found):
            "transaction is for chain \(found), this pool admits \(expected)"
        case .oversize(let bytes, let limit):
            "transaction is \(bytes) bytes, the limit is \(limit)"
        case .badSignature(let signer, let id):
            "transaction \(id) has no valid signature of signer \(signer.keyID)"
        case .unauthorized(let signer, let kind):
            "signer \(signer.keyID) is not authorized for \(kind)"
        case .staleSequence(let signer, let sequence, let next):
            "sequence \(sequence) of signer \(signer.keyID) is already committed (next expected \(next))"
        case .sequenceTooFarAhead(let signer, let sequence, let next, let window):
            "sequence \(sequence) of signer \(signer.keyID) is too far ahead (next expected \(next), window \(window))"
        case .conflictingSequence(let signer, let sequence, let pending):
            "signer \(signer.keyID) already has transaction \(pending) pending at sequence \(sequence)"
        case .signerLimit(let signer, let limit):
            "signer \(signer.keyID) already has \(limit) pending transactions"
        case .mempoolFull(let transactions, let bytes, let maxTransactions, let maxBytes):
            "mempool full: \(transactions)/\(maxTransactions) transactions, \(bytes)/\(maxBytes) bytes"
        }
    }
}

/// What an admission did when it did not refuse.
public enum AdmissionOutcome: Equatable, Sendable {
    /// The transaction is now pending.
    case added(id: Digest)
    /// The same transaction (same id) was already pending; nothing changed.
    case alreadyPending(id: Digest)
}

/// Where a transaction came from, so gossip never echoes it back to the peer that sent it.
public enum TransactionOrigin: Hashable, Sendable {
    /// A client of this node (API, CLI, plugin).
    case local
    /// A peer, by its node key.
    case peer(Ed25519PublicKey)
}

/// The transactions an ``Mempool/update(committed:policy:now:)`` or ``Mempool/removeExpired(now:)`` removed,
/// by reason, each list in arrival order.
public struct MempoolRemovals: Equatable, Sendable {
    /// Pending transactions that the block committed.
    public var committed: [Digest] = []
    /// Pending transactions whose sequence the committed state passed (another transaction took it).
    public var stale: [Digest] = []
    /// Pending transactions whose signer the application no longer authorizes for their kind.
    public var unauthorized: [Digest] = []
    /// Transactions that waited longer than ``MempoolConfiguration/maxGapAge`` for a missing predecessor.
    public var expired: [Digest] = []

    /// No removals.
    public init() {}

    /// Every removed id.
    public var all: [Digest] { committed + stale + unauthorized + expired }
}
