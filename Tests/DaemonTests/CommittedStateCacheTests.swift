import Ledger
import Testing

@testable import Daemon

/// State with no keys, under a block's writes.
private struct NoState: LedgerStateReader {
    func value(forKey key: [UInt8]) throws(LedgerStateError) -> [UInt8]? { nil }
}

@Suite("Committed state cache")
struct CommittedStateCacheTests {
    @Test("values and absences are kept until a committed block writes or deletes their key")
    func followsCommits() {
        let cache = CommittedStateCache()
        let role = StateKey([1, 1])
        let missing = StateKey([1, 2])
        let untouched = StateKey([1, 3])
        #expect(cache.value(forKey: role) == nil)
        cache.remember([7], forKey: role)
        cache.remember(nil, forKey: missing)
        cache.remember([9], forKey: untouched)
        #expect(cache.value(forKey: role) == .some([7]))
        #expect(cache.value(forKey: missing) == .some(nil))

        var block = StateOverlay(base: NoState())
        block.delete(role.bytes)
        block.set(missing.bytes, [5])
        block.set([2, 0], [1])
        cache.apply(block.changes)
        #expect(cache.value(forKey: role) == .some(nil), "a deleted key still read its old value")
        #expect(cache.value(forKey: missing) == .some([5]), "a written key still read as absent")
        #expect(cache.value(forKey: untouched) == .some([9]))
        #expect(cache.value(forKey: StateKey([2, 0])) == nil, "a write the cache never read was added")
        #expect(cache.count == 3)
    }

    @Test("a block of fewer writes than the cache holds keys is applied the same way")
    func smallBlock() {
        let cache = CommittedStateCache()
        for byte in UInt8(0)..<10 { cache.remember([byte], forKey: StateKey([byte])) }
        var block = StateOverlay(base: NoState())
        block.set([4], [40])
        cache.apply(block.changes)
        #expect(cache.value(forKey: StateKey([4])) == .some([40]))
        #expect(cache.value(forKey: StateKey([5])) == .some([5]))
    }

    @Test("past its capacity it starts over instead of growing")
    func bounded() {
        let cache = CommittedStateCache(capacity: 4)
        for byte in UInt8(0)..<4 { cache.remember([byte], forKey: StateKey([byte])) }
        #expect(cache.count == 4)
        cache.remember([4], forKey: StateKey([4]))
        #expect(cache.count == 1)
        #expect(cache.value(forKey: StateKey([0])) == nil)
        #expect(cache.value(forKey: StateKey([4])) == .some([4]))
    }
}
