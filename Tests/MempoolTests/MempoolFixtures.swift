import Codec
import EnsureCrypto
import Ledger
import Mempool

/// Deterministic keys, transactions and a committed-state policy for the mempool tests.
enum MempoolFixtures {
    static let chainID = "ensure-test"

    /// Signer `index` has the seed whose 32 bytes are all `index + 1`.
    static func key(_ index: Int) -> Ed25519PrivateKey {
        Ed25519PrivateKey(seed: [UInt8](repeating: UInt8(index + 1), count: 32))!
    }

    static func transaction(
        _ signer: Ed25519PrivateKey, _ sequence: UInt64, kind: TransactionKind = .notarize,
        payload: [UInt8] = [1, 2, 3], chainID: String = chainID
    ) -> Transaction {
        Transaction(chainID: chainID, sequence: sequence, kind: kind, payload: payload, signedBy: signer)
    }

    static func configuration(
        maxTransactions: Int = 1_000, maxBytes: Int = 1 << 24, maxTransactionBytes: Int = LedgerLimits.transactionBytes,
        maxPerSigner: Int = 64, sequenceWindow: UInt64 = 64, maxGapAge: Duration = .seconds(60),
        verifiedCacheCapacity: Int = 1_000
    ) -> MempoolConfiguration {
        try! MempoolConfiguration(
            chainID: chainID, maxTransactions: maxTransactions, maxBytes: maxBytes,
            maxTransactionBytes: maxTransactionBytes, maxPerSigner: maxPerSigner, sequenceWindow: sequenceWindow,
            maxGapAge: maxGapAge, verifiedCacheCapacity: verifiedCacheCapacity)
    }

    static func pool(_ configuration: MempoolConfiguration = configuration()) -> Mempool {
        Mempool(configuration: configuration)
    }

    /// The canonical size of a transaction.
    static func size(_ transaction: Transaction) -> Int { transaction.canonicalBytes.count }
}

/// Committed state as the tests set it: every signer may submit every kind unless revoked, and its next
/// sequence is 1 unless set. Counts the questions asked so tests can see the pool consults it.
struct TestPolicy: AdmissionPolicy {
    struct Grant: Hashable {
        let signer: Ed25519PublicKey
        let kind: TransactionKind
    }

    var next: [Ed25519PublicKey: UInt64] = [:]
    var revoked: Set<Grant> = []

    func isAuthorized(signer: Ed25519PublicKey, kind: TransactionKind) -> Bool {
        !revoked.contains(Grant(signer: signer, kind: kind))
    }

    func nextExpectedSequence(of signer: Ed25519PublicKey) -> UInt64 { next[signer] ?? 1 }

    mutating func revoke(_ signer: Ed25519PrivateKey, _ kind: TransactionKind) {
        revoked.insert(Grant(signer: signer.publicKey, kind: kind))
    }

    /// Records `transactions` as committed, in order.
    mutating func commit(_ transactions: [Transaction]) {
        for transaction in transactions {
            next[transaction.signer] = max(next[transaction.signer] ?? 1, transaction.sequence + 1)
        }
    }
}
