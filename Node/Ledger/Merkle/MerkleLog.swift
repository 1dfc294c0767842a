public import EnsureCrypto

/// The append-only incident log as an RFC 9162 Merkle tree, read from stored perfect-subtree hashes.
///
/// A `MerkleLog` is a pure value: a ``MerkleNodeSource`` and a size. Appending returns the nodes to persist
/// rather than writing them, so the node can put them in the same storage batch as the block that carried the
/// leaves. Every operation reads O(log n) stored nodes: a tree of any size splits into at most one perfect
/// subtree per set bit of its size, and every subtree that RFC 9162's recursive definitions visit is either
/// perfect (one stored node) or runs to the tree's right edge (one stored node per set bit of its size).
public struct MerkleLog<Source: MerkleNodeSource> {
    /// The largest size a log may reach. It keeps every size and index representable as a non-negative `Int`.
    public static var maximumSize: UInt64 { UInt64(Int64.max) }

    /// Where stored subtree hashes are read from.
    public let source: Source
    /// The number of leaves in the log.
    public let size: UInt64

    /// A log of `size` leaves whose subtree hashes `source` holds (every node written by the appends that
    /// grew the log to `size`).
    public init(source: Source, size: UInt64) {
        self.source = source
        self.size = size
    }

    /// Appends leaf hashes (each ``MerkleHash/leaf(_:)`` of a record) and returns the new size and the nodes
    /// the caller must store before using a log of that size. Reads one stored node per set bit of ``size``
    /// (none for an empty append).
    public func appending(_ leafHashes: [Digest]) throws -> MerkleAppend {
        let added = UInt64(leafHashes.count)
        guard size <= Self.maximumSize, added <= Self.maximumSize - size else {
            throw MerkleLogError.sizeLimitExceeded(size: size, appending: added, limit: Self.maximumSize)
        }
        guard added > 0 else { return MerkleAppend(size: size, writes: []) }
        // The perfect subtrees that make up the current tree, largest first: a binary counter that each new
        // leaf increments, merging equal-height subtrees into the nodes it completes.
        var frontier = try perfectSubtrees(count: size)
        var writes: [(MerkleNodePosition, Digest)] = []
        writes.reserveCapacity(leafHashes.count * 2 + 1)
        var nextIndex = size
        for leafHash in leafHashes {
            writes.append((MerkleNodePosition(level: 0, index: nextIndex), leafHash))
            nextIndex += 1
            var current = (hash: leafHash, level: UInt8(0))
            while let last = frontier.last, last.level == current.level {
                frontier.removeLast()
                current = (MerkleHash.node(last.hash, current.hash), current.level + 1)
                let index = (nextIndex >> UInt64(current.level)) - 1
                writes.append((MerkleNodePosition(level: current.level, index: index), current.hash))
            }
            frontier.append(current)
        }
        return MerkleAppend(size: nextIndex, writes: writes)
    }

    /// The root of the log at its current size (RFC 9162 §2.1.1); ``MerkleHash/emptyRoot`` when empty.
    public func root() throws -> Digest {
        try root(atSize: size)
    }

    /// The root the log had when it held `treeSize` leaves, for any `treeSize` up to ``size``.
    public func root(atSize treeSize: UInt64) throws -> Digest {
        try requireWithinLog(treeSize)
        guard treeSize > 0 else { return MerkleHash.emptyRoot }
        return try subtreeHash(start: 0, count: treeSize)
    }

    /// The inclusion proof of the leaf at `leafIndex` in the tree of `treeSize` leaves: PATH(m, D[n]) of
    /// RFC 9162 §2.1.3.1, the sibling hashes from the leaf up to the root.
    public func inclusionProof(leafIndex: UInt64, treeSize: UInt64) throws -> [Digest] {
        try requireWithinLog(treeSize)
        guard leafIndex < treeSize else {
            throw MerkleLogError.leafIndexOutOfRange(index: leafIndex, treeSize: treeSize)
        }
        // PATH(m, D[start:start+count]) descends into the half holding the leaf; the other half's hash is
        // the sibling at that height. Siblings are found top-down and the proof lists them bottom-up.
        var siblings: [Digest] = []
        var start: UInt64 = 0
        var count = treeSize
        var index = leafIndex
        while count > 1 {
            let split = MerkleTreeMath.largestPowerOfTwo(below: count)
            if index < split {
                siblings.append(try subtreeHash(start: start + split, count: count - split))
                count = split
            } else {
                siblings.append(try subtreeHash(start: start, count: split))
                start += split
                index -= split
                count -= split
            }
        }
        return siblings.reversed()
    }

    /// The consistency proof between the tree of `oldSize` leaves and the tree of `newSize` leaves:
    /// PROOF(m, D[n]) of RFC 9162 §2.1.4.1. Equal sizes give the empty proof; an old size of zero is refused,
    /// because every tree extends the empty one and a proof of that says nothing.
    public func consistencyProof(oldSize: UInt64, newSize: UInt64) throws -> [Digest] {
        try requireWithinLog(newSize)
        guard oldSize > 0, oldSize <= newSize else {
            throw MerkleLogError.invalidConsistencySizes(oldSize: oldSize, newSize: newSize)
        }
        // SUBPROOF(m, D[start:start+count], b), unrolled: each step records the hash of the half it leaves
        // behind; the walk ends at the subtree equal to the old tree, whose own hash is recorded unless that
        // subtree is the whole old tree (b still true), which the verifier already holds as the old root.
        var parts: [Digest] = []
        var start: UInt64 = 0
        var count = newSize
        var old = oldSize
        var isWholeOldTree = true
        while old != count {
            let split = MerkleTreeMath.largestPowerOfTwo(below: count)
            if old <= split {
                parts.append(try subtreeHash(start: start + split, count: count - split))
                count = split
            } else {
                parts.append(try subtreeHash(start: start, count: split))
                start += split
                old -= split
                count -= split
                isWholeOldTree = false
            }
        }
        if !isWholeOldTree {
            parts.append(try subtreeHash(start: start, count: count))
        }
        return parts.reversed()
    }

    // MARK: - Stored nodes

    private func requireWithinLog(_ treeSize: UInt64) throws {
        guard treeSize <= size else {
            throw MerkleLogError.treeSizeBeyondLog(treeSize: treeSize, logSize: size)
        }
    }

    /// MTH(D[start:start+count]) for a non-empty range that is a subtree of RFC 9162's recursion: `start` is a
    /// multiple of the largest power of two not above `count`, so the range splits into aligned perfect
    /// subtrees, one per set bit of `count`, largest first; its hash folds them from the right, so they are
    /// read smallest first.
    private func subtreeHash(start: UInt64, count: UInt64) throws -> Digest {
        var end = start + count
        var remaining = count
        var hash: Digest?
        while remaining > 0 {
            let level = UInt64(remaining.trailingZeroBitCount)
            let width = UInt64(1) << level
            end -= width
            let part = try storedNode(level: level, offset: end)
            hash = hash.map { MerkleHash.node(part, $0) } ?? part
            remaining -= width
        }
        return hash ?? MerkleHash.emptyRoot
    }

    /// The stored hash of the perfect subtree of 2^level leaves that starts at leaf `offset`.
    private func storedNode(level: UInt64, offset: UInt64) throws -> Digest {
        assert(offset & ((UInt64(1) << level) - 1) == 0, "a perfect subtree starts aligned to its width")
        let position = MerkleNodePosition(level: UInt8(level), index: offset >> level)
        guard let hash = try source.node(at: position) else {
            throw MerkleLogError.missingNode(position: position, logSize: size)
        }
        return hash
    }

    /// The stored perfect subtrees covering [0, count) (the tree of `count` leaves), largest first: one read
    /// per set bit of `count`.
    private func perfectSubtrees(count: UInt64) throws -> [(hash: Digest, level: UInt8)] {
        var parts: [(hash: Digest, level: UInt8)] = []
        parts.reserveCapacity(count.nonzeroBitCount)
        var offset: UInt64 = 0
        var remaining = count
        while remaining > 0 {
            let level = UInt64(63 - remaining.leadingZeroBitCount)
            parts.append((try storedNode(level: level, offset: offset), UInt8(level)))
            offset += UInt64(1) << level
            remaining -= UInt64(1) << level
        }
        return parts
    }
}

extension MerkleLog: Sendable where Source: Sendable {}

/// What an append produced: the log's new size and the subtree hashes to store, in the order they were made
/// (each leaf hash at level 0, then the nodes it completed).
public struct MerkleAppend: Sendable {
    /// The number of leaves after the append.
    public let size: UInt64
    /// The nodes to persist (with the block that appended the leaves) before reading a log of ``size``.
    public let writes: [(MerkleNodePosition, Digest)]

    /// Creates an append result.
    public init(size: UInt64, writes: [(MerkleNodePosition, Digest)]) {
        self.size = size
        self.writes = writes
    }
}

/// Why a ``MerkleLog`` could not answer.
public enum MerkleLogError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A root or proof was asked for a tree larger than the log.
    case treeSizeBeyondLog(treeSize: UInt64, logSize: UInt64)
    /// An inclusion proof was asked for a leaf the tree does not have.
    case leafIndexOutOfRange(index: UInt64, treeSize: UInt64)
    /// A consistency proof needs 0 < old size ≤ new size.
    case invalidConsistencySizes(oldSize: UInt64, newSize: UInt64)
    /// The node source lacks a subtree hash that a log of this size must have: the store is incomplete or the
    /// size is wrong.
    case missingNode(position: MerkleNodePosition, logSize: UInt64)
    /// The append would grow the log past ``MerkleLog/maximumSize``.
    case sizeLimitExceeded(size: UInt64, appending: UInt64, limit: UInt64)

    /// A sentence naming what was wrong, with the sizes and position involved.
    public var description: String {
        switch self {
        case .treeSizeBeyondLog(let treeSize, let logSize):
            return "Merkle log: tree size \(treeSize) is beyond the log's \(logSize) leaves"
        case .leafIndexOutOfRange(let index, let treeSize):
            return "Merkle log: leaf index \(index) is not below tree size \(treeSize)"
        case .invalidConsistencySizes(let oldSize, let newSize):
            return "Merkle log: a consistency proof needs 0 < old size ≤ new size, got \(oldSize) and \(newSize)"
        case .missingNode(let position, let logSize):
            return "Merkle log: the node store has no hash at level \(position.level) index \(position.index), "
                + "which a log of \(logSize) leaves must have"
        case .sizeLimitExceeded(let size, let appending, let limit):
            return "Merkle log: appending \(appending) leaves to \(size) would pass the limit of \(limit)"
        }
    }
}

/// Arithmetic on tree sizes shared by proof generation and verification.
enum MerkleTreeMath {
    /// The largest power of two strictly below `n` (RFC 9162's split point k); `n` must be at least 2.
    static func largestPowerOfTwo(below n: UInt64) -> UInt64 {
        UInt64(1) << UInt64(63 - (n - 1).leadingZeroBitCount)
    }

    /// The number of hashes in PATH(index, D[treeSize]); `index` must be below `treeSize`.
    static func inclusionPathLength(index: UInt64, treeSize: UInt64) -> Int {
        var count = treeSize
        var index = index
        var length = 0
        while count > 1 {
            let split = largestPowerOfTwo(below: count)
            if index < split {
                count = split
            } else {
                index -= split
                count -= split
            }
            length += 1
        }
        return length
    }

    /// The number of hashes in PROOF(oldSize, D[newSize]); needs 0 < oldSize ≤ newSize.
    static func consistencyPathLength(oldSize: UInt64, newSize: UInt64) -> Int {
        var count = newSize
        var old = oldSize
        var isWholeOldTree = true
        var length = 0
        while old != count {
            let split = largestPowerOfTwo(below: count)
            if old > split {
                old -= split
                count -= split
                isWholeOldTree = false
            } else {
                count = split
            }
            length += 1
        }
        return isWholeOldTree ? length : length + 1
    }
}
