public import EnsureCrypto

/// The position of a perfect subtree in the Merkle log: level 0 holds leaf hashes, level k holds the
/// hash of leaves [index·2^k, (index+1)·2^k).
public struct MerkleNodePosition: Hashable, Sendable, Comparable {
    /// Height of the subtree above the leaves.
    public let level: UInt8
    /// Index of the subtree among those of its level.
    public let index: UInt64

    /// Creates a position.
    public init(level: UInt8, index: UInt64) {
        self.level = level
        self.index = index
    }

    /// Orders by level, then index.
    public static func < (lhs: MerkleNodePosition, rhs: MerkleNodePosition) -> Bool {
        (lhs.level, lhs.index) < (rhs.level, rhs.index)
    }
}

/// Where the Merkle log reads stored perfect-subtree hashes from. The log itself is pure: appending
/// returns the nodes to write, and the caller stores them (the node puts them in the same LevelDB batch as
/// the block that appended the leaves, so the log and the chain can never disagree after a crash).
public protocol MerkleNodeSource {
    /// The hash of the perfect subtree at `position`, or nil when it is not stored.
    func node(at position: MerkleNodePosition) throws -> Digest?
}

/// An in-memory node store, for tests, the simulator and tools.
public struct InMemoryMerkleNodeStore: MerkleNodeSource, Sendable {
    /// The stored nodes.
    public private(set) var nodes: [MerkleNodePosition: Digest] = [:]

    /// An empty store.
    public init() {}

    /// The stored hash at `position`, or nil.
    public func node(at position: MerkleNodePosition) throws -> Digest? { nodes[position] }

    /// Stores nodes returned by an append.
    public mutating func store(_ writes: [(MerkleNodePosition, Digest)]) {
        for (position, digest) in writes {
            nodes[position] = digest
        }
    }
}
