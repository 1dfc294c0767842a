import ConsensusSimulation
import EnsureCrypto
import Ledger
import Mempool
import Testing

/// The pool's commit and expiry bookkeeping against a model that applies the documented rules by visiting every
/// pending transaction: random admissions, commits (through the pool and elsewhere), revocations and clock
/// jumps, with the removals and the remaining pool compared after every step.
@Suite struct UpdateModelTests {
    /// What the model keeps of one admitted transaction.
    struct Pending {
        let transaction: Transaction
        let admittedAt: Duration
        let arrival: Int
    }

    /// The rules of ``Mempool/update(committed:policy:now:)`` and ``Mempool/removeExpired(now:)``, written as a
    /// walk over everything pending.
    struct Model {
        let maxGapAge: Duration
        var pending: [Digest: Pending] = [:]
        /// Each signer's next expected sequence as the pool last learned it, while the signer has pending
        /// transactions.
        var nextExpected: [Ed25519PublicKey: UInt64] = [:]
        var arrivals = 0

        mutating func admitted(_ transaction: Transaction, policy: TestPolicy, now: Duration) {
            pending[transaction.id] = Pending(transaction: transaction, admittedAt: now, arrival: arrivals)
            arrivals += 1
            let next = policy.nextExpectedSequence(of: transaction.signer)
            nextExpected[transaction.signer] = max(nextExpected[transaction.signer] ?? next, next)
        }

        mutating func update(committed: [Transaction], policy: TestPolicy, now: Duration) -> MempoolRemovals {
            var removals = MempoolRemovals()
            removals.committed = remove(committed.map(\.id).filter { pending[$0] != nil })
            for signer in nextExpected.keys { nextExpected[signer] = policy.nextExpectedSequence(of: signer) }
            removals.stale = remove(
                pending.values.filter { $0.transaction.sequence < nextExpected[$0.transaction.signer]! }.map(
                    \.transaction.id))
            removals.unauthorized = remove(
                pending.values.filter {
                    !policy.isAuthorized(signer: $0.transaction.signer, kind: $0.transaction.kind)
                }.map(\.transaction.id))
            removals.expired = removeExpired(now: now).expired
            return removals
        }

        mutating func removeExpired(now: Duration) -> MempoolRemovals {
            var removals = MempoolRemovals()
            let expired = pending.values.filter { entry in
                let signer = entry.transaction.signer
                let next = nextExpected[signer]!
                var proposable = next
                while pending.values.contains(where: {
                    $0.transaction.signer == signer && $0.transaction.sequence == proposable
                }) {
                    proposable += 1
                }
                let sequence = entry.transaction.sequence
                let gapped = sequence < next || sequence >= proposable
                return gapped && now - entry.admittedAt > maxGapAge
            }
            removals.expired = remove(expired.map(\.transaction.id))
            return removals
        }

        /// Removes these ids and returns them in arrival order.
        private mutating func remove(_ ids: [Digest]) -> [Digest] {
            let removed = ids.compactMap { pending.removeValue(forKey: $0) }.sorted { $0.arrival < $1.arrival }
            for signer in Set(removed.map(\.transaction.signer))
            where !pending.values.contains(where: { $0.transaction.signer == signer }) {
                nextExpected.removeValue(forKey: signer)
            }
            return removed.map(\.transaction.id)
        }
    }

    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func commitsAndExpiryMatchTheModel(seed: UInt64) throws {
        var random = SimulationRandom(seed: seed)
        let keys = (0..<3).map(MempoolFixtures.key)
        let kinds: [TransactionKind] = [.notarize, .incidentReport]
        let maxGapAge = Duration.seconds(20)
        var pool = MempoolFixtures.pool(MempoolFixtures.configuration(maxGapAge: maxGapAge))
        var model = Model(maxGapAge: maxGapAge)
        var policy = TestPolicy()
        var now = Duration.zero
        var seen = MempoolRemovals()
        for step in 0..<600 {
            now += .seconds(Int.random(in: 0...4, using: &random))
            switch Int.random(in: 0..<10, using: &random) {
            case 0..<5:
                // Admit: usually the next few sequences, sometimes one that leaves a gap; now and then with other
                // bytes at a sequence another transaction already holds (refused as conflicting).
                let key = keys.randomElement(using: &random)!
                let next = policy.nextExpectedSequence(of: key.publicKey)
                let sequence = next + UInt64.random(in: 0..<6, using: &random)
                let transaction = MempoolFixtures.transaction(
                    key, sequence, kind: kinds.randomElement(using: &random)!,
                    payload: [UInt8(step & 0xFF), UInt8(step >> 8)])
                if case .added = try? pool.admit(transaction, policy: policy, now: now) {
                    model.admitted(transaction, policy: policy, now: now)
                }
            case 5:
                // Committed state moves on before the pool hears of it: admissions meanwhile see the new next
                // sequence, and the pool holds transactions below it until the update.
                let key = keys.randomElement(using: &random)!
                let next = policy.nextExpectedSequence(of: key.publicKey)
                policy.commit([MempoolFixtures.transaction(key, next + UInt64.random(in: 0...2, using: &random))])
            case 6..<8:
                // Commit what a leader would propose, and sometimes sequences committed elsewhere too.
                var committed = pool.reap(maxCount: Int.random(in: 0...6, using: &random), maxBytes: 1 << 20)
                if random.chance(0.4) {
                    let key = keys.randomElement(using: &random)!
                    let next = policy.nextExpectedSequence(of: key.publicKey)
                    let elsewhere = (next..<next + UInt64.random(in: 1...4, using: &random)).map {
                        MempoolFixtures.transaction(key, $0, payload: [0xEE])
                    }
                    if !committed.contains(where: { $0.signer == key.publicKey }) { committed += elsewhere }
                }
                if random.chance(0.15) {
                    let key = keys.randomElement(using: &random)!
                    let kind = kinds.randomElement(using: &random)!
                    let grant = TestPolicy.Grant(signer: key.publicKey, kind: kind)
                    if policy.revoked.remove(grant) == nil { policy.revoked.insert(grant) }
                }
                policy.commit(committed)
                let expected = model.update(committed: committed, policy: policy, now: now)
                let removals = pool.update(committed: committed, policy: policy, now: now)
                #expect(removals == expected, "step \(step)")
                seen.add(removals)
            default:
                now += .seconds(Int.random(in: 0...15, using: &random))
                let expected = model.removeExpired(now: now)
                let removals = pool.removeExpired(now: now)
                #expect(removals == expected, "step \(step)")
                seen.add(removals)
            }
            #expect(pool.count == model.pending.count, "step \(step)")
            #expect(model.pending.keys.allSatisfy(pool.contains), "step \(step)")
        }
        // The walk exercised every reason for a removal, not only the easy ones.
        #expect(!seen.committed.isEmpty && !seen.stale.isEmpty)
        #expect(!seen.unauthorized.isEmpty && !seen.expired.isEmpty)
    }
}

extension MempoolRemovals {
    fileprivate mutating func add(_ other: MempoolRemovals) {
        committed += other.committed
        stale += other.stale
        unauthorized += other.unauthorized
        expired += other.expired
    }
}
