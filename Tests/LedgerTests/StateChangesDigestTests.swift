import EnsureCrypto
import Ledger
import Testing

/// The digest a state root commits to, pinned to its layout: for each written key in byte order, the key's
/// length (u32 big-endian) and bytes, then 0x01, the value's length and bytes, or 0x00 for a deletion; all of it
/// SHA-256 under the tag `ensure/state-writes/v1`.
@Suite("State writes digest")
struct StateChangesDigestTests {
    static func length(_ count: Int) -> [UInt8] {
        [UInt8(count >> 24 & 0xFF), UInt8(count >> 16 & 0xFF), UInt8(count >> 8 & 0xFF), UInt8(count & 0xFF)]
    }

    @Test("writes and deletions in byte order of their keys, whatever order they were made in")
    func layoutAndOrder() {
        let a = Array("a".utf8)
        let ab = Array("ab".utf8)
        let b = Array("b".utf8)
        let value = [UInt8](repeating: 7, count: 300)
        var expected: [UInt8] = []
        expected += Self.length(1) + a + [1] + Self.length(2) + [1, 2]
        expected += Self.length(2) + ab + [0]
        expected += Self.length(1) + b + [1] + Self.length(300) + value
        let digest = SHA256.hash(tag: "ensure/state-writes/v1", expected)

        var forward = StateOverlay(base: InMemoryLedgerState())
        forward.set(a, [1, 2])
        forward.delete(ab)
        forward.set(b, value)
        var backward = StateOverlay(base: InMemoryLedgerState())
        backward.set(b, value)
        backward.delete(ab)
        backward.set(a, [9])
        backward.set(a, [1, 2])
        #expect(forward.changes.digest == digest)
        #expect(backward.changes.digest == digest)

        var other = StateOverlay(base: InMemoryLedgerState())
        other.set(a, [1, 2])
        other.set(ab, [])
        other.set(b, value)
        #expect(other.changes.digest != digest)
    }

    @Test("keys compare and order byte by byte, as LevelDB sorts them, prefixes first")
    func keyOrder() {
        var generator = SystemRandomNumberGenerator()
        // Short keys over a small alphabet, so equal keys, shared prefixes and bytes above 0x7f all occur often.
        let keys = (0..<2_000).map { _ in
            StateKey(
                (0..<Int.random(in: 0...4, using: &generator)).map { _ in [0, 1, 0x7F, 0x80, 0xFF].randomElement()! })
        }
        for (left, right) in zip(keys, keys.shuffled()) {
            #expect(StateKey.precedes(left, right) == left.bytes.lexicographicallyPrecedes(right.bytes))
            #expect((left == right) == (left.bytes == right.bytes))
        }
        #expect(StateKey.precedes(StateKey([]), StateKey([0])))
        #expect(!StateKey.precedes(StateKey([1]), StateKey([1])))
        #expect(StateKey.precedes(StateKey([1, 2]), StateKey([1, 2, 0])))
        #expect(StateKey.precedes(StateKey([0x7F]), StateKey([0x80])))
        #expect(StateKey([1, 2]) != StateKey([1, 2, 3]))
    }
}
