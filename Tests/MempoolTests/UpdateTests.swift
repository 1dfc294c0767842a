import EnsureCrypto
import Ledger
import Mempool
import Testing

@Suite struct UpdateTests {
    let alice = MempoolFixtures.key(0)
    let bob = MempoolFixtures.key(1)

    @Test func commitRemovesCommittedAndStaleAndKeepsTheRest() throws {
        var pool = MempoolFixtures.pool()
        var policy = TestPolicy()
        let first = MempoolFixtures.transaction(alice, 1)
        let second = MempoolFixtures.transaction(alice, 2)
        let bobsFirst = MempoolFixtures.transaction(bob, 1, payload: [1])
        for transaction in [first, second, bobsFirst] { try pool.admit(transaction, policy: policy, now: .zero) }
        // Bob's sequence 1 was committed through another node with other bytes: his pending one is stale.
        let bobsCommitted = MempoolFixtures.transaction(bob, 1, payload: [2])
        policy.commit([first, bobsCommitted])
        let removals = pool.update(committed: [first, bobsCommitted], policy: policy, now: .zero)
        #expect(removals.committed == [first.id])
        #expect(removals.stale == [bobsFirst.id])
        #expect(removals.unauthorized.isEmpty && removals.expired.isEmpty)
        #expect(pool.count == 1)
        #expect(pool.totalBytes == MempoolFixtures.size(second))
        #expect(pool.reap(maxCount: 10, maxBytes: 1 << 20) == [second])
    }

    @Test func aCommitElsewhereMakesPendingSuccessorsProposable() throws {
        var pool = MempoolFixtures.pool()
        var policy = TestPolicy()
        let third = MempoolFixtures.transaction(alice, 3)
        try pool.admit(third, policy: policy, now: .zero)
        #expect(pool.reap(maxCount: 10, maxBytes: 1 << 20).isEmpty)
        let committed = [MempoolFixtures.transaction(alice, 1), MempoolFixtures.transaction(alice, 2)]
        policy.commit(committed)
        let removals = pool.update(committed: committed, policy: policy, now: .zero)
        #expect(removals == MempoolRemovals())
        #expect(pool.reap(maxCount: 10, maxBytes: 1 << 20) == [third])
    }

    @Test func revokedAuthorizationDropsOnlyThatSignersKind() throws {
        var pool = MempoolFixtures.pool()
        var policy = TestPolicy()
        let report = MempoolFixtures.transaction(alice, 1, kind: .incidentReport)
        let notarize = MempoolFixtures.transaction(alice, 2, kind: .notarize)
        let laterReport = MempoolFixtures.transaction(alice, 3, kind: .incidentReport)
        let bobsReport = MempoolFixtures.transaction(bob, 1, kind: .incidentReport)
        for transaction in [report, notarize, laterReport, bobsReport] {
            try pool.admit(transaction, policy: policy, now: .zero)
        }
        let unchanged = pool.update(committed: [], policy: policy, now: .zero)
        #expect(unchanged == MempoolRemovals())
        #expect(pool.count == 4)
        policy.revoke(alice, .incidentReport)
        let removals = pool.update(committed: [], policy: policy, now: .zero)
        #expect(removals.unauthorized == [report.id, laterReport.id])
        #expect(removals.all == [report.id, laterReport.id])
        #expect(pool.contains(notarize.id) && pool.contains(bobsReport.id))
        // Alice's notarization now waits behind a gap; Bob's report is still proposable.
        #expect(pool.reap(maxCount: 10, maxBytes: 1 << 20) == [bobsReport])
    }

    @Test func aTransactionBehindAGapExpiresOnlyAfterMaxGapAge() throws {
        let age = Duration.seconds(30)
        var pool = MempoolFixtures.pool(MempoolFixtures.configuration(maxGapAge: age))
        let policy = TestPolicy()
        let gapped = MempoolFixtures.transaction(alice, 3)
        let ready = MempoolFixtures.transaction(bob, 1)
        try pool.admit(gapped, policy: policy, now: .seconds(100))
        try pool.admit(ready, policy: policy, now: .seconds(100))
        #expect(pool.removeExpired(now: .seconds(100) + age) == MempoolRemovals())
        #expect(pool.count == 2)
        let removals = pool.update(committed: [], policy: policy, now: .seconds(100) + age + .milliseconds(1))
        #expect(removals.expired == [gapped.id])
        #expect(!pool.contains(gapped.id))
        // A proposable transaction never expires: it leaves when committed.
        #expect(pool.removeExpired(now: .seconds(100_000)) == MempoolRemovals())
        #expect(pool.contains(ready.id))
    }

    @Test func aFilledGapStopsTheClock() throws {
        var pool = MempoolFixtures.pool(MempoolFixtures.configuration(maxGapAge: .seconds(10)))
        let policy = TestPolicy()
        let second = MempoolFixtures.transaction(alice, 2)
        try pool.admit(second, policy: policy, now: .zero)
        try pool.admit(MempoolFixtures.transaction(alice, 1), policy: policy, now: .seconds(9))
        #expect(pool.removeExpired(now: .seconds(60)) == MempoolRemovals())
        #expect(pool.count == 2)
    }

    @Test func expiredTransactionMayBeSubmittedAgain() throws {
        var pool = MempoolFixtures.pool(MempoolFixtures.configuration(maxGapAge: .seconds(1)))
        let policy = TestPolicy()
        let gapped = MempoolFixtures.transaction(alice, 2)
        try pool.admit(gapped, policy: policy, now: .zero)
        #expect(pool.removeExpired(now: .seconds(2)).expired == [gapped.id])
        #expect(pool.count == 0 && pool.totalBytes == 0)
        #expect(try pool.admit(gapped, policy: policy, now: .seconds(2)) == .added(id: gapped.id))
        #expect(pool.signatureVerifications == 1)
    }
}

@Suite struct GossipTests {
    let alice = MempoolFixtures.key(0)
    let bob = MempoolFixtures.key(1)
    let peer = MempoolFixtures.key(7).publicKey
    let otherPeer = MempoolFixtures.key(8).publicKey

    @Test func listsUnsentIdsInArrivalOrderWithoutEchoingTheSender() throws {
        var pool = MempoolFixtures.pool()
        let policy = TestPolicy()
        let local = MempoolFixtures.transaction(alice, 1)
        let fromPeer = MempoolFixtures.transaction(bob, 1)
        let later = MempoolFixtures.transaction(alice, 2)
        try pool.admit(local, policy: policy, now: .zero)
        try pool.admit(fromPeer, from: .peer(peer), policy: policy, now: .zero)
        try pool.admit(later, policy: policy, now: .zero)
        #expect(pool.idsToGossip(to: peer, alreadySent: [], limit: 10) == [local.id, later.id])
        #expect(pool.idsToGossip(to: otherPeer, alreadySent: [], limit: 10) == [local.id, fromPeer.id, later.id])
        #expect(pool.idsToGossip(to: otherPeer, alreadySent: [local.id], limit: 10) == [fromPeer.id, later.id])
        #expect(pool.idsToGossip(to: otherPeer, alreadySent: [], limit: 1) == [local.id])
        #expect(pool.idsToGossip(to: otherPeer, alreadySent: [], limit: 0).isEmpty)
    }

    @Test func removedTransactionsAreNotOfferedAndReadmittedOnesOnce() throws {
        var pool = MempoolFixtures.pool(MempoolFixtures.configuration(maxGapAge: .seconds(1)))
        let policy = TestPolicy()
        let gapped = MempoolFixtures.transaction(alice, 2)
        let ready = MempoolFixtures.transaction(bob, 1)
        try pool.admit(gapped, policy: policy, now: .zero)
        try pool.admit(ready, policy: policy, now: .zero)
        pool.removeExpired(now: .seconds(5))
        #expect(pool.idsToGossip(to: peer, alreadySent: [], limit: 10) == [ready.id])
        try pool.admit(gapped, policy: policy, now: .seconds(5))
        #expect(pool.idsToGossip(to: peer, alreadySent: [], limit: 10) == [ready.id, gapped.id])
    }

    @Test func manyRemovalsKeepTheListExact() throws {
        var pool = MempoolFixtures.pool(MempoolFixtures.configuration(maxPerSigner: 200, sequenceWindow: 200))
        var policy = TestPolicy()
        let transactions = (1...150).map { MempoolFixtures.transaction(alice, UInt64($0)) }
        for transaction in transactions { try pool.admit(transaction, policy: policy, now: .zero) }
        let committed = Array(transactions.prefix(120))
        policy.commit(committed)
        pool.update(committed: committed, policy: policy, now: .zero)
        #expect(pool.idsToGossip(to: peer, alreadySent: [], limit: 1_000) == transactions.suffix(30).map(\.id))
    }
}
