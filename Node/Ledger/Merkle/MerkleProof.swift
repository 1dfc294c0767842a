public import EnsureCrypto

/// Verification of RFC 9162 inclusion and consistency proofs: pure functions of their arguments, with no
/// store, so an offline auditor can check an export with nothing but the hashes it carries.
public enum MerkleProof {
    /// The number of hashes an inclusion proof for leaf `index` in a tree of `treeSize` leaves has, or nil
    /// when the tree has no such leaf.
    public static func inclusionProofLength(index: UInt64, treeSize: UInt64) -> Int? {
        guard index < treeSize else { return nil }
        return MerkleTreeMath.inclusionPathLength(index: index, treeSize: treeSize)
    }

    /// The number of hashes a consistency proof from `oldSize` to `newSize` leaves has, or nil unless
    /// 0 < `oldSize` ≤ `newSize`.
    public static func consistencyProofLength(oldSize: UInt64, newSize: UInt64) -> Int? {
        guard oldSize > 0, oldSize <= newSize else { return nil }
        return MerkleTreeMath.consistencyPathLength(oldSize: oldSize, newSize: newSize)
    }

    /// Checks that `proof` shows the leaf whose hash is `leafHash` at `index` in the tree of `treeSize`
    /// leaves whose root is `root` (RFC 9162 §2.1.3.2). Returns normally when it does; otherwise throws the
    /// first thing that does not hold. A proof is bare hashes, so it binds `treeSize` only through its shape
    /// (another size with the same path passes too): take size and root together from a signed checkpoint.
    public static func verifyInclusion(
        leafHash: Digest,
        index: UInt64,
        treeSize: UInt64,
        proof: [Digest],
        root: Digest
    ) throws(MerkleProofError) {
        // Step 1: the leaf must be in the tree.
        guard index < treeSize else {
            throw .leafIndexOutOfRange(index: index, treeSize: treeSize)
        }
        // The RFC's loop also rejects a proof of the wrong length, but only after hashing, and with a less
        // precise complaint; the length follows from index and size alone.
        let expectedLength = MerkleTreeMath.inclusionPathLength(index: index, treeSize: treeSize)
        guard proof.count == expectedLength else {
            throw .wrongProofLength(expected: expectedLength, actual: proof.count)
        }
        // Steps 2 to 5.
        var fn = index
        var sn = treeSize - 1
        var computed = leafHash
        for sibling in proof {
            guard sn != 0 else { throw .wrongProofLength(expected: expectedLength, actual: proof.count) }
            if fn & 1 == 1 || fn == sn {
                computed = MerkleHash.node(sibling, computed)
                while fn & 1 == 0 && fn != 0 {
                    fn >>= 1
                    sn >>= 1
                }
            } else {
                computed = MerkleHash.node(computed, sibling)
            }
            fn >>= 1
            sn >>= 1
        }
        guard sn == 0 else { throw .wrongProofLength(expected: expectedLength, actual: proof.count) }
        guard computed == root else {
            throw .rootMismatch(expected: root, computed: computed)
        }
    }

    /// Checks that `proof` shows the tree of `newSize` leaves with root `newRoot` extends the tree of
    /// `oldSize` leaves with root `oldRoot` by appending only (RFC 9162 §2.1.4.2). Equal sizes need an empty
    /// proof and equal roots. An old size of zero is refused: every tree extends the empty tree, so such a
    /// "proof" would check nothing, and a caller asking for one has mistaken a size. As with inclusion, the
    /// proof binds `newSize` only through its shape: take both sizes with their roots from signed checkpoints.
    public static func verifyConsistency(
        oldSize: UInt64,
        newSize: UInt64,
        oldRoot: Digest,
        newRoot: Digest,
        proof: [Digest]
    ) throws(MerkleProofError) {
        guard oldSize <= newSize else {
            throw .oldSizeExceedsNewSize(oldSize: oldSize, newSize: newSize)
        }
        guard oldSize > 0 else {
            throw .consistencyWithEmptyTree(newSize: newSize)
        }
        let expectedLength = MerkleTreeMath.consistencyPathLength(oldSize: oldSize, newSize: newSize)
        guard proof.count == expectedLength else {
            throw .wrongProofLength(expected: expectedLength, actual: proof.count)
        }
        if oldSize == newSize {
            guard oldRoot == newRoot else {
                throw .rootsDifferAtEqualSize(size: oldSize, oldRoot: oldRoot, newRoot: newRoot)
            }
            return
        }
        // Step 1 (an empty path fails) holds by the length check: for old < new the length is at least 1.
        // Step 2: when the old tree is a perfect subtree, the proof leaves out its hash, the old root.
        var path = proof
        if oldSize & (oldSize - 1) == 0 {
            path.insert(oldRoot, at: 0)
        }
        // Steps 3 and 4.
        var fn = oldSize - 1
        var sn = newSize - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        // Steps 5 and 6.
        var oldComputed = path[0]
        var newComputed = path[0]
        for node in path.dropFirst() {
            guard sn != 0 else { throw .wrongProofLength(expected: expectedLength, actual: proof.count) }
            if fn & 1 == 1 || fn == sn {
                oldComputed = MerkleHash.node(node, oldComputed)
                newComputed = MerkleHash.node(node, newComputed)
                while fn & 1 == 0 && fn != 0 {
                    fn >>= 1
                    sn >>= 1
                }
            } else {
                newComputed = MerkleHash.node(newComputed, node)
            }
            fn >>= 1
            sn >>= 1
        }
        // Step 7.
        guard sn == 0 else { throw .wrongProofLength(expected: expectedLength, actual: proof.count) }
        guard oldComputed == oldRoot else {
            throw .oldRootMismatch(expected: oldRoot, computed: oldComputed)
        }
        guard newComputed == newRoot else {
            throw .newRootMismatch(expected: newRoot, computed: newComputed)
        }
    }

    /// ``verifyInclusion(leafHash:index:treeSize:proof:root:)`` for hashes that arrive as raw bytes (JSON,
    /// an export file): each must be 32 bytes, or the check fails naming the hash that was not.
    public static func verifyInclusion(
        leafHash: [UInt8],
        index: UInt64,
        treeSize: UInt64,
        proof: [[UInt8]],
        root: [UInt8]
    ) throws(MerkleProofError) {
        try verifyInclusion(
            leafHash: digest(leafHash, field: .leafHash),
            index: index,
            treeSize: treeSize,
            proof: digests(proof),
            root: digest(root, field: .root)
        )
    }

    /// ``verifyConsistency(oldSize:newSize:oldRoot:newRoot:proof:)`` for hashes that arrive as raw bytes:
    /// each must be 32 bytes, or the check fails naming the hash that was not.
    public static func verifyConsistency(
        oldSize: UInt64,
        newSize: UInt64,
        oldRoot: [UInt8],
        newRoot: [UInt8],
        proof: [[UInt8]]
    ) throws(MerkleProofError) {
        try verifyConsistency(
            oldSize: oldSize,
            newSize: newSize,
            oldRoot: digest(oldRoot, field: .oldRoot),
            newRoot: digest(newRoot, field: .newRoot),
            proof: digests(proof)
        )
    }

    private static func digest(_ bytes: [UInt8], field: MerkleProofField) throws(MerkleProofError) -> Digest {
        guard let digest = Digest(bytes: bytes) else {
            throw .malformedHash(field: field, byteCount: bytes.count)
        }
        return digest
    }

    private static func digests(_ proof: [[UInt8]]) throws(MerkleProofError) -> [Digest] {
        var result: [Digest] = []
        result.reserveCapacity(proof.count)
        for (position, bytes) in proof.enumerated() {
            result.append(try digest(bytes, field: .proofElement(position)))
        }
        return result
    }
}

/// A hash argument of a proof check, named in ``MerkleProofError/malformedHash(field:byteCount:)``.
public enum MerkleProofField: Hashable, Sendable, CustomStringConvertible {
    /// The hash of the leaf whose inclusion is checked.
    case leafHash
    /// The root of the tree an inclusion proof is checked against.
    case root
    /// The root of the older tree of a consistency check.
    case oldRoot
    /// The root of the newer tree of a consistency check.
    case newRoot
    /// The hash at this 0-based position of the proof.
    case proofElement(Int)

    /// The argument's name as an error message shows it.
    public var description: String {
        switch self {
        case .leafHash: return "leaf hash"
        case .root: return "root"
        case .oldRoot: return "old root"
        case .newRoot: return "new root"
        case .proofElement(let position): return "proof[\(position)]"
        }
    }
}

/// Why a Merkle proof did not verify.
public enum MerkleProofError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The leaf index is not below the tree size (a tree of size 0 has no leaves at all).
    case leafIndexOutOfRange(index: UInt64, treeSize: UInt64)
    /// The proof has a different number of hashes than the sizes and index call for.
    case wrongProofLength(expected: Int, actual: Int)
    /// The inclusion proof leads to another root than the one given.
    case rootMismatch(expected: Digest, computed: Digest)
    /// A consistency check with the old tree larger than the new one.
    case oldSizeExceedsNewSize(oldSize: UInt64, newSize: UInt64)
    /// A consistency check from the empty tree, which proves nothing.
    case consistencyWithEmptyTree(newSize: UInt64)
    /// Two trees of the same size with different roots: they are not the same tree.
    case rootsDifferAtEqualSize(size: UInt64, oldRoot: Digest, newRoot: Digest)
    /// The consistency proof does not lead to the old root given.
    case oldRootMismatch(expected: Digest, computed: Digest)
    /// The consistency proof does not lead to the new root given.
    case newRootMismatch(expected: Digest, computed: Digest)
    /// A hash given as bytes is not 32 bytes long.
    case malformedHash(field: MerkleProofField, byteCount: Int)

    /// A sentence naming what did not hold, with the sizes and hashes involved.
    public var description: String {
        switch self {
        case .leafIndexOutOfRange(let index, let treeSize):
            return "Merkle proof: leaf index \(index) is not below tree size \(treeSize)"
        case .wrongProofLength(let expected, let actual):
            return "Merkle proof: \(actual) hashes where the sizes call for \(expected)"
        case .rootMismatch(let expected, let computed):
            return "Merkle proof: the inclusion proof leads to root \(computed), not \(expected)"
        case .oldSizeExceedsNewSize(let oldSize, let newSize):
            return "Merkle proof: old size \(oldSize) is larger than new size \(newSize)"
        case .consistencyWithEmptyTree(let newSize):
            return "Merkle proof: consistency from the empty tree to size \(newSize) proves nothing"
        case .rootsDifferAtEqualSize(let size, let oldRoot, let newRoot):
            return "Merkle proof: two trees of size \(size) with different roots \(oldRoot) and \(newRoot)"
        case .oldRootMismatch(let expected, let computed):
            return "Merkle proof: the consistency proof leads to old root \(computed), not \(expected)"
        case .newRootMismatch(let expected, let computed):
            return "Merkle proof: the consistency proof leads to new root \(computed), not \(expected)"
        case .malformedHash(let field, let byteCount):
            return "Merkle proof: the \(field) is \(byteCount) bytes, not 32"
        }
    }
}
