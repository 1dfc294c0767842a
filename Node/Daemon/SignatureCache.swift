public import API
public import EnsureCrypto
public import Ledger
import NIOConcurrencyHelpers

/// Ids of transactions whose signature verified, shared by everything in one node that checks signatures: the
/// pre-check of submissions and gossip (off the engine's actor), the pre-check of proposals, admission and block
/// execution (on it). An id covers the signature, so a hit means the same bytes verified before: a transaction
/// that reached a follower in a proposal before its gossip is verified once, not once for each path.
///
/// Bounded by two generations: when the newer holds half the capacity it becomes the older one and the oldest
/// ids are forgotten (they are verified again if they ever come back).
public final class SignatureCache: Sendable {
    private struct Generations {
        var current: Set<Digest> = []
        var previous: Set<Digest> = []
        var statistics = SignatureStatistics()
    }

    /// Most ids remembered.
    public let capacity: Int
    private let generations = NIOLockedValueBox(Generations())

    /// A cache of at most `capacity` ids (at least 2).
    public init(capacity: Int = 200_000) {
        self.capacity = max(2, capacity)
    }

    /// Whether `id` verified before.
    public func contains(_ id: Digest) -> Bool {
        generations.withLockedValue { $0.current.contains(id) || $0.previous.contains(id) }
    }

    /// Remembers that `id` verified.
    public func insert(_ id: Digest) {
        generations.withLockedValue { Self.insert(id, into: &$0, half: capacity / 2) }
    }

    private static func insert(_ id: Digest, into generations: inout Generations, half: Int) {
        guard !generations.previous.contains(id), generations.current.insert(id).inserted else { return }
        if generations.current.count >= half {
            generations.previous = generations.current
            generations.current = Set(minimumCapacity: half)
        }
    }

    /// What was verified so far.
    public var statistics: SignatureStatistics { generations.withLockedValue { $0.statistics } }

    /// Whether `transaction`'s signature holds: from the cache, or verified now and remembered.
    public func verify(_ transaction: Transaction) -> Bool {
        let id = transaction.id
        if contains(id) { return true }
        let valid = transaction.hasValidSignature
        record(id, valid: valid)
        return valid
    }

    /// For each of `transactions`, whether `eligible` holds for it and then its signature: a transaction that is
    /// not eligible costs no verification. Used for batches (submissions, gossip, proposals), whose verifications
    /// are timed by the thread's CPU clock: read once before the first verification and once after the last, so
    /// a batch answered from the cache costs no clock reads, and a full one two.
    public func verify(_ transactions: [Transaction], where eligible: (Transaction) -> Bool) -> [Bool] {
        var start: Double?
        var verified: UInt64 = 0
        let results = transactions.map { transaction in
            guard eligible(transaction) else { return false }
            let id = transaction.id
            if contains(id) { return true }
            if start == nil { start = CPUClock.thread() }
            verified += 1
            let valid = transaction.hasValidSignature
            if valid { insert(id) }
            return valid
        }
        guard let start else { return results }
        let seconds = max(0, CPUClock.thread() - start)
        generations.withLockedValue {
            $0.statistics.verified += verified
            $0.statistics.timed += verified
            $0.statistics.timedCPUSeconds += seconds
        }
        return results
    }

    private func record(_ id: Digest, valid: Bool) {
        let half = capacity / 2
        generations.withLockedValue { generations in
            generations.statistics.verified += 1
            if valid { Self.insert(id, into: &generations, half: half) }
        }
    }
}
