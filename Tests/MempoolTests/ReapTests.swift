import ConsensusSimulation
import EnsureCrypto
import Ledger
import Mempool
import Testing

@Suite struct ReapTests {
    let alice = MempoolFixtures.key(0)
    let bob = MempoolFixtures.key(1)
    let carol = MempoolFixtures.key(2)

    @Test func aGapHoldsBackTheSuccessorUntilThePredecessorArrives() throws {
        var pool = MempoolFixtures.pool()
        let policy = TestPolicy()
        let second = MempoolFixtures.transaction(alice, 2)
        let first = MempoolFixtures.transaction(alice, 1)
        try pool.admit(second, policy: policy, now: .zero)
        #expect(pool.reap(maxCount: 10, maxBytes: 1 << 20).isEmpty)
        try pool.admit(first, policy: policy, now: .zero)
        #expect(pool.reap(maxCount: 10, maxBytes: 1 << 20) == [first, second])
    }

    @Test func aCommittedPredecessorLetsTheSuccessorBeProposed() throws {
        var pool = MempoolFixtures.pool()
        let policy = TestPolicy(next: [alice.publicKey: 5])
        let sixth = MempoolFixtures.transaction(alice, 6)
        let fifth = MempoolFixtures.transaction(alice, 5)
        try pool.admit(sixth, policy: policy, now: .zero)
        try pool.admit(fifth, policy: policy, now: .zero)
        #expect(pool.reap(maxCount: 10, maxBytes: 1 << 20) == [fifth, sixth])
    }

    @Test func signersTakeTurnsInArrivalOrder() throws {
        var pool = MempoolFixtures.pool()
        let policy = TestPolicy()
        let a = (1...4).map { MempoolFixtures.transaction(alice, UInt64($0)) }
        let b = (1...2).map { MempoolFixtures.transaction(bob, UInt64($0)) }
        let c = [MempoolFixtures.transaction(carol, 1)]
        for transaction in a + b + c { try pool.admit(transaction, policy: policy, now: .zero) }
        let batch = pool.reap(maxCount: 100, maxBytes: 1 << 20)
        #expect(batch == [a[0], b[0], c[0], a[1], b[1], a[2], a[3]])
        // A backlog that arrived first does not fill a small block alone.
        #expect(pool.reap(maxCount: 3, maxBytes: 1 << 20) == [a[0], b[0], c[0]])
    }

    @Test func turnOrderFollowsTheFirstProposableArrival() throws {
        var pool = MempoolFixtures.pool()
        let policy = TestPolicy()
        let aliceSecond = MempoolFixtures.transaction(alice, 2)
        let bobFirst = MempoolFixtures.transaction(bob, 1)
        let aliceFirst = MempoolFixtures.transaction(alice, 1)
        for transaction in [aliceSecond, bobFirst, aliceFirst] {
            try pool.admit(transaction, policy: policy, now: .zero)
        }
        #expect(pool.reap(maxCount: 10, maxBytes: 1 << 20) == [bobFirst, aliceFirst, aliceSecond])
    }

    @Test func countAndByteLimitsAreExact() throws {
        var pool = MempoolFixtures.pool()
        let policy = TestPolicy()
        let transactions = (1...5).map { MempoolFixtures.transaction(alice, UInt64($0)) }
        for transaction in transactions { try pool.admit(transaction, policy: policy, now: .zero) }
        let size = MempoolFixtures.size(transactions[0])
        #expect(pool.reap(maxCount: 3, maxBytes: 1 << 20) == Array(transactions.prefix(3)))
        #expect(pool.reap(maxCount: 10, maxBytes: 2 * size) == Array(transactions.prefix(2)))
        #expect(pool.reap(maxCount: 10, maxBytes: 2 * size - 1) == Array(transactions.prefix(1)))
        #expect(pool.reap(maxCount: 10, maxBytes: size - 1).isEmpty)
        #expect(pool.reap(maxCount: 0, maxBytes: 1 << 20).isEmpty)
        #expect(pool.count == 5)
    }

    @Test func aSignerWhoseNextDoesNotFitLeavesTheTurnsButOthersContinue() throws {
        var pool = MempoolFixtures.pool()
        let policy = TestPolicy()
        let small = MempoolFixtures.transaction(alice, 1)
        let large = MempoolFixtures.transaction(alice, 2, payload: [UInt8](repeating: 1, count: 500))
        let afterLarge = MempoolFixtures.transaction(alice, 3)
        let other = (1...2).map { MempoolFixtures.transaction(bob, UInt64($0)) }
        for transaction in [small, large, afterLarge] + other {
            try pool.admit(transaction, policy: policy, now: .zero)
        }
        let budget = 3 * MempoolFixtures.size(small)
        #expect(pool.reap(maxCount: 10, maxBytes: budget) == [small, other[0], other[1]])
    }

    @Test func excludedTransactionsAreSkippedAndTheirSuccessorsFollow() throws {
        var pool = MempoolFixtures.pool()
        let policy = TestPolicy()
        let transactions = (1...3).map { MempoolFixtures.transaction(alice, UInt64($0)) }
        for transaction in transactions { try pool.admit(transaction, policy: policy, now: .zero) }
        let inFlight: Set<Digest> = [transactions[0].id]
        #expect(pool.reap(maxCount: 10, maxBytes: 1 << 20, excluding: inFlight) == [transactions[1], transactions[2]])
        let everything = Set(transactions.map(\.id))
        #expect(pool.reap(maxCount: 10, maxBytes: 1 << 20, excluding: everything).isEmpty)
    }

    /// Random interleavings of many signers' sequences, some delivered twice, with every batch committed back:
    /// each batch is gap-free, and every transaction is reaped exactly once.
    @Test(arguments: UInt64(1)...12)
    func randomArrivalsAreReapedGapFreeAndExactlyOnce(seed: UInt64) throws {
        var random = SimulationRandom(seed: seed)
        let signerCount = Int.random(in: 2...10, using: &random)
        var all: [Transaction] = []
        for signer in 0..<signerCount {
            let key = MempoolFixtures.key(10 + signer)
            let length = Int.random(in: 1...25, using: &random)
            all += (1...length).map { MempoolFixtures.transaction(key, UInt64($0), payload: [UInt8(signer)]) }
        }
        var arrivals = all.shuffled(using: &random)
        arrivals += (0..<all.count / 5).map { _ in all.randomElement(using: &random)! }
        arrivals.shuffle(using: &random)

        var pool = MempoolFixtures.pool()
        var policy = TestPolicy()
        var reaped: Set<Digest> = []
        var delivered = 0
        var rounds = 0
        let replay = "replay: swift test --filter MempoolTests.ReapTests (seed \(seed))"
        while reaped.count < all.count {
            rounds += 1
            try #require(rounds < 10_000, "no progress; \(replay)")
            let arriving = min(Int.random(in: 0...15, using: &random), arrivals.count - delivered)
            for transaction in arrivals[delivered..<delivered + arriving] {
                if reaped.contains(transaction.id) {
                    #expect(throws: MempoolRejection.self, "\(replay)") {
                        try pool.admit(transaction, policy: policy, now: .zero)
                    }
                } else {
                    try pool.admit(transaction, policy: policy, now: .zero)
                }
            }
            delivered += arriving
            let batch = pool.reap(maxCount: Int.random(in: 1...12, using: &random), maxBytes: 1 << 20)
            var expected = policy.next
            for transaction in batch {
                let next = expected[transaction.signer] ?? 1
                #expect(transaction.sequence == next, "gap in batch; \(replay)")
                expected[transaction.signer] = transaction.sequence + 1
                #expect(reaped.insert(transaction.id).inserted, "reaped twice; \(replay)")
            }
            policy.commit(batch)
            let removals = pool.update(committed: batch, policy: policy, now: .zero)
            #expect(Set(removals.committed) == Set(batch.map(\.id)), "\(replay)")
            #expect(removals.stale.isEmpty && removals.unauthorized.isEmpty && removals.expired.isEmpty, "\(replay)")
        }
        #expect(reaped == Set(all.map(\.id)), "\(replay)")
        #expect(pool.count == 0 && pool.totalBytes == 0, "\(replay)")
    }
}
