import EnsureCrypto
import Ledger
import Storage

/// A Bloom filter over every committed notarization key, so that executing a notarize transaction of a new digest
/// (nearly all of them) answers "not notarized yet" without a LevelDB read.
///
/// Such a read misses, and a miss consults the memtable, every level-0 table and one table per deeper level: in
/// `ensure-bench pipeline` it was about a third of executing a notarization. The filter never answers "absent" for a
/// key that is committed: it is filled from LevelDB when the executor opens and gets every notarization key a
/// committed block writes, in the same turn as the commit. It may answer "present" for a key that is not
/// (about 1 % of keys at 3 million notarizations, more beyond), and then the read happens as before.
///
/// Probe positions come from `Hasher`, whose seed is random per process: someone who chooses digests to notarize
/// cannot aim them at one node's bits, and the worst a crowded filter does is send reads to LevelDB.
///
/// Not `Sendable`: the executor owns it, and only its execution and commits use it.
final class NotarizationFilter {
    /// 2^25 bits: 4 MiB.
    static let bitCount = 1 << 25
    static let probes = 7

    private var words: [UInt64]
    /// Keys added (counting repeats).
    private(set) var count = 0

    init() {
        words = [UInt64](repeating: 0, count: Self.bitCount / 64)
    }

    /// A filter holding every notarization key committed in `database`, read a page at a time.
    static func load(from database: LevelDB) throws(LevelDBError) -> NotarizationFilter {
        let filter = NotarizationFilter()
        var start: [UInt8]? = nil
        while true {
            let page = try database.entries(withPrefix: StateKeys.notarizationPrefix, from: start, limit: 4_096)
            for entry in page { filter.insert(key: entry.key) }
            guard page.count == 4_096, let last = page.last else { return filter }
            start = last.key + [0]
        }
    }

    /// Whether `key` is a notarization key this filter answers for.
    static func covers(_ key: [UInt8]) -> Bool {
        key.count == StateKeys.notarizationPrefix.count + Digest.byteCount
            && key.starts(with: StateKeys.notarizationPrefix)
    }

    /// Adds a notarization key (other keys are ignored).
    func insert(key: [UInt8]) {
        guard Self.covers(key) else { return }
        count += 1
        let (first, step) = Self.hashes(key)
        var position = first
        for _ in 0..<Self.probes {
            let bit = Int(position & UInt64(Self.bitCount - 1))
            words[bit >> 6] |= 1 << UInt64(bit & 63)
            position &+= step
        }
    }

    /// False only when `key` (a notarization key) was never inserted.
    func mayContain(key: [UInt8]) -> Bool {
        let (first, step) = Self.hashes(key)
        var position = first
        for _ in 0..<Self.probes {
            let bit = Int(position & UInt64(Self.bitCount - 1))
            guard words[bit >> 6] & (1 << UInt64(bit & 63)) != 0 else { return false }
            position &+= step
        }
        return true
    }

    /// Two 64-bit hashes of the key's digest for double hashing; the step is odd, so probes never repeat early.
    private static func hashes(_ key: [UInt8]) -> (UInt64, UInt64) {
        var first = Hasher()
        var second = Hasher()
        key.withUnsafeBytes { bytes in
            let digest = UnsafeRawBufferPointer(rebasing: bytes[StateKeys.notarizationPrefix.count...])
            first.combine(bytes: digest)
            second.combine(0x5a as UInt8)
            second.combine(bytes: digest)
        }
        return (UInt64(bitPattern: Int64(first.finalize())), UInt64(bitPattern: Int64(second.finalize())) | 1)
    }
}
