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
/// (under 1 % of keys at 3 million notarizations, more beyond), and then the read happens as before.
///
/// Probe positions come from `Hasher`, whose seed is random per process: someone who chooses digests to notarize
/// cannot aim them at one node's bits, and the worst a crowded filter does is send reads to LevelDB.
///
/// The bits are kept in blocks of 512 (one cache line), and every probe of a key falls in one block chosen by the
/// key's hash: an insert or a lookup touches one line of memory, where seven probes across 4 MiB missed the
/// cache seven times (1.1 % of `ensure-bench pipeline` went to inserts alone). Blocking raises the false-positive
/// rate a little: at 3 million keys, about 0.57 % against 0.47 % for probes spread over the whole filter.
///
/// Not `Sendable`: the executor owns it, and only its execution and commits use it.
final class NotarizationFilter {
    /// 2^25 bits: 4 MiB.
    static let bitCount = 1 << 25
    static let probes = 7
    /// 64-bit words per block: 512 bits.
    static let blockWords = 8
    static let blockCount = bitCount / (64 * blockWords)

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
        var (base, positions) = Self.probe(key)
        words.withUnsafeMutableBufferPointer { words in
            for _ in 0..<Self.probes {
                let bit = Int(positions & 511)
                words[base + (bit >> 6)] |= 1 << UInt64(bit & 63)
                positions >>= 9
            }
        }
    }

    /// False only when `key` (a notarization key) was never inserted.
    func mayContain(key: [UInt8]) -> Bool {
        var (base, positions) = Self.probe(key)
        return words.withUnsafeBufferPointer { words in
            for _ in 0..<Self.probes {
                let bit = Int(positions & 511)
                guard words[base + (bit >> 6)] & (1 << UInt64(bit & 63)) != 0 else { return false }
                positions >>= 9
            }
            return true
        }
    }

    /// The first word of the key's block, and seven 9-bit positions in it (the low 63 bits), from one seeded hash
    /// of the key's digest: its top bits pick the block, and a bijective mix of it gives the positions.
    private static func probe(_ key: [UInt8]) -> (base: Int, positions: UInt64) {
        var hasher = Hasher()
        key.withUnsafeBytes { bytes in
            hasher.combine(bytes: UnsafeRawBufferPointer(rebasing: bytes[StateKeys.notarizationPrefix.count...]))
        }
        let hash = UInt64(bitPattern: Int64(hasher.finalize()))
        let block = Int(truncatingIfNeeded: hash >> 32) & (blockCount - 1)
        // splitmix64's finalizer: every bit of the hash reaches every bit of the positions.
        var mixed = hash &+ 0x9E37_79B9_7F4A_7C15
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        mixed ^= mixed >> 31
        return (block * blockWords, mixed)
    }
}
