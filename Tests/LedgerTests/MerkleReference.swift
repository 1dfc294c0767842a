import EnsureCrypto
import Ledger

/// RFC 9162's recursive definitions written as literally as possible, over an array of leaf hashes, to check
/// the stored-node log against. Quadratic and proud of it: only small trees go through here.
enum MerkleReference {
    /// MTH(D[n]) of §2.1.1, where each entry is already a leaf hash.
    static func treeHash(_ leaves: ArraySlice<Digest>) -> Digest {
        switch leaves.count {
        case 0: return SHA256.hash([])
        case 1: return leaves[leaves.startIndex]
        default:
            let k = split(leaves.count)
            return hashChildren(treeHash(leaves.prefix(k)), treeHash(leaves.dropFirst(k)))
        }
    }

    /// PATH(m, D[n]) of §2.1.3.1.
    static func path(_ m: Int, _ leaves: ArraySlice<Digest>) -> [Digest] {
        let n = leaves.count
        guard n > 1 else { return [] }
        let k = split(n)
        if m < k {
            return path(m, leaves.prefix(k)) + [treeHash(leaves.dropFirst(k))]
        }
        return path(m - k, leaves.dropFirst(k)) + [treeHash(leaves.prefix(k))]
    }

    /// PROOF(m, D[n]) of §2.1.4.1.
    static func proof(_ m: Int, _ leaves: ArraySlice<Digest>) -> [Digest] {
        subproof(m, leaves, true)
    }

    private static func subproof(_ m: Int, _ leaves: ArraySlice<Digest>, _ b: Bool) -> [Digest] {
        let n = leaves.count
        if m == n {
            return b ? [] : [treeHash(leaves)]
        }
        let k = split(n)
        if m <= k {
            return subproof(m, leaves.prefix(k), b) + [treeHash(leaves.dropFirst(k))]
        }
        return subproof(m - k, leaves.dropFirst(k), false) + [treeHash(leaves.prefix(k))]
    }

    /// The hash expression an inclusion verifier must evaluate for PATH(m, D[n]), with the leaf hash as
    /// atom -1 and proof element j as atom j; nil when m is not a leaf of the tree. Proofs carry bare hashes,
    /// so a verifier accepts another (m, n) exactly when its expression is the same one.
    static func inclusionShape(_ m: UInt64, _ n: UInt64) -> MerkleShape? {
        guard m < n else { return nil }
        return inclusionShapeAndLength(m, n).shape
    }

    private static func inclusionShapeAndLength(_ m: UInt64, _ n: UInt64) -> (shape: MerkleShape, length: Int) {
        guard n > 1 else { return (.atom(-1), 0) }
        let k = split(n)
        if m < k {
            let (below, length) = inclusionShapeAndLength(m, k)
            return (.node(below, .atom(length)), length + 1)
        }
        let (below, length) = inclusionShapeAndLength(m - k, n - k)
        return (.node(.atom(length), below), length + 1)
    }

    /// The expressions a consistency verifier must evaluate for PROOF(m, D[n]) to reach the old and the new
    /// root, with the old root as given as atom -1 and proof element j as atom j, and the proof's length;
    /// nil unless 0 < m ≤ n, and when `requiredLength` is given, nil for a proof of any other length.
    static func consistencyShape(
        _ m: UInt64, _ n: UInt64, requiredLength: Int? = nil
    ) -> (old: MerkleShape, new: MerkleShape, length: Int)? {
        guard m > 0, m <= n else { return nil }
        // The ranges PROOF(m, D[n]) lists, in proof order; the old tree itself is left out when the recursion
        // ends on it with b still true, and the verifier then uses the old root it was given.
        let (ranges, omitsOldTree) = proofRanges(m, 0, n, true)
        if let requiredLength, ranges.count != requiredLength {
            return nil
        }
        var atoms: [Range<UInt64>: Int] = [:]
        for (position, range) in ranges.enumerated() {
            atoms[range] = position
        }
        if omitsOldTree {
            atoms[0..<m] = -1
        }
        func expression(_ range: Range<UInt64>) -> MerkleShape? {
            if let atom = atoms[range] { return .atom(atom) }
            let width = range.upperBound - range.lowerBound
            guard width > 1 else { return nil }
            let middle = range.lowerBound + split(width)
            guard let left = expression(range.lowerBound..<middle), let right = expression(middle..<range.upperBound)
            else { return nil }
            return .node(left, right)
        }
        guard let old = expression(0..<m), let new = expression(0..<n) else { return nil }
        return (old, new, ranges.count)
    }

    /// The ranges whose hashes SUBPROOF(m, D[range], b) lists, in order, and whether it ended on the old tree
    /// with b true (listing nothing for it).
    private static func proofRanges(
        _ m: UInt64, _ start: UInt64, _ end: UInt64, _ b: Bool
    ) -> (ranges: [Range<UInt64>], omitsOldTree: Bool) {
        let n = end - start
        if m == n {
            return b ? ([], true) : ([start..<end], false)
        }
        let k = split(n)
        if m <= k {
            let (below, omits) = proofRanges(m, start, start + k, b)
            return (below + [start + k..<end], omits)
        }
        let (below, omits) = proofRanges(m - k, start + k, end, false)
        return (below + [start..<start + k], omits)
    }

    /// The largest power of two smaller than n, found by counting rather than by bit tricks.
    private static func split<Size: BinaryInteger>(_ n: Size) -> Size {
        var k: Size = 1
        while k < n - n / 2 { k *= 2 }
        return k
    }

    /// SHA-256(0x01 ‖ left ‖ right), spelled out here rather than taken from ``MerkleHash``.
    private static func hashChildren(_ left: Digest, _ right: Digest) -> Digest {
        SHA256.hash([1] + left.bytes + right.bytes)
    }
}

/// A hash computation with its inputs left symbolic: atoms are the hashes a verifier is given.
indirect enum MerkleShape: Hashable {
    case atom(Int)
    case node(MerkleShape, MerkleShape)

    /// This expression with atom -1 replaced by `expression`.
    func replacingOldRoot(with expression: MerkleShape) -> MerkleShape {
        switch self {
        case .atom(-1): return expression
        case .atom: return self
        case .node(let left, let right):
            return .node(left.replacingOldRoot(with: expression), right.replacingOldRoot(with: expression))
        }
    }
}

/// A node source that counts its reads, to show that the log touches O(log n) stored nodes.
final class CountingNodeSource: MerkleNodeSource {
    private(set) var store = InMemoryMerkleNodeStore()
    private(set) var reads = 0

    func node(at position: MerkleNodePosition) throws -> Digest? {
        reads += 1
        return try store.node(at: position)
    }

    func store(_ writes: [(MerkleNodePosition, Digest)]) {
        store.store(writes)
    }

    /// The reads `body` makes.
    func readsDuring<T>(_ body: () throws -> T) rethrows -> (result: T, reads: Int) {
        let before = reads
        let result = try body()
        return (result, reads - before)
    }
}

/// A log and its in-memory store that grow together, as the node's block executor grows them.
struct MerkleTestLog {
    private(set) var store = InMemoryMerkleNodeStore()
    private(set) var size: UInt64 = 0

    /// The log at its current size.
    var log: MerkleLog<InMemoryMerkleNodeStore> { MerkleLog(source: store, size: size) }

    /// An empty log.
    init() {}

    /// A log holding `leaves`, appended in batches of `batchSize`.
    init(leaves: [Digest], batchSize: Int = 1) throws {
        var start = 0
        while start < leaves.count {
            let end = min(start + batchSize, leaves.count)
            try append(Array(leaves[start..<end]))
            start = end
        }
    }

    /// Appends and stores the nodes the append returned.
    mutating func append(_ leaves: [Digest]) throws {
        let result = try MerkleLog(source: store, size: size).appending(leaves)
        store.store(result.writes)
        size = result.size
    }
}

/// Leaf hashes of distinct records, the same on every run.
func merkleTestLeaves(_ count: Int) -> [Digest] {
    (0..<count).map { MerkleHash.leaf(Array("incident \($0)".utf8)) }
}

/// `digest` with bit `bit` (0 = most significant bit of the first byte) flipped.
func flippingBit(_ bit: Int, of digest: Digest) -> Digest {
    var bytes = digest.bytes
    bytes[bit / 8] ^= 0x80 >> UInt8(bit % 8)
    return Digest(bytes: bytes)!
}
