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
        let half = capacity / 2
        generations.withLockedValue { generations in
            guard !generations.previous.contains(id), generations.current.insert(id).inserted else { return }
            if generations.current.count >= half {
                generations.previous = generations.current
                generations.current = Set(minimumCapacity: half)
            }
        }
    }

    /// Whether `transaction`'s signature holds: from the cache, or verified now and remembered.
    public func verify(_ transaction: Transaction) -> Bool {
        let id = transaction.id
        if contains(id) { return true }
        guard transaction.hasValidSignature else { return false }
        insert(id)
        return true
    }
}
