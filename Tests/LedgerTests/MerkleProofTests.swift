import EnsureCrypto
import Ledger
import Testing

/// Proof verification on its own: each way a proof can be wrong gets its own typed error, and the examples
/// of RFC 6962 §2.1.3 come out as the RFC lists them.
@Suite struct MerkleProofTests {
    static let leaves = merkleTestLeaves(7)

    /// The hash of leaves [start, end) of the seven-leaf example tree.
    static func hash(_ start: Int, _ end: Int) -> Digest {
        MerkleHash.root(leafHashes: Array(leaves[start..<end]))
    }

    @Test func theRFCExampleTreeGivesTheListedProofs() throws {
        let log = try MerkleTestLog(leaves: Self.leaves).log
        // RFC 6962 §2.1.3 names the leaves a to g and the nodes above them; by range:
        // PATH(0) = [b, h, l], PATH(3) = [c, g, l], PATH(4) = [f, j, k], PATH(6) = [i, k].
        #expect(
            try log.inclusionProof(leafIndex: 0, treeSize: 7) == [Self.hash(1, 2), Self.hash(2, 4), Self.hash(4, 7)])
        #expect(
            try log.inclusionProof(leafIndex: 3, treeSize: 7) == [Self.hash(2, 3), Self.hash(0, 2), Self.hash(4, 7)])
        #expect(
            try log.inclusionProof(leafIndex: 4, treeSize: 7) == [Self.hash(5, 6), Self.hash(6, 7), Self.hash(0, 4)])
        #expect(try log.inclusionProof(leafIndex: 6, treeSize: 7) == [Self.hash(4, 6), Self.hash(0, 4)])
        // PROOF(3, D[7]) = [c, d, g, l], PROOF(4, D[7]) = [l], PROOF(6, D[7]) = [i, j, k].
        #expect(
            try log.consistencyProof(oldSize: 3, newSize: 7) == [
                Self.hash(2, 3), Self.hash(3, 4), Self.hash(0, 2), Self.hash(4, 7),
            ])
        #expect(try log.consistencyProof(oldSize: 4, newSize: 7) == [Self.hash(4, 7)])
        #expect(
            try log.consistencyProof(oldSize: 6, newSize: 7) == [Self.hash(4, 6), Self.hash(6, 7), Self.hash(0, 4)])
        #expect(MerkleProof.inclusionProofLength(index: 6, treeSize: 7) == 2)
        #expect(MerkleProof.consistencyProofLength(oldSize: 3, newSize: 7) == 4)
        #expect(MerkleProof.consistencyProofLength(oldSize: 7, newSize: 7) == 0)
        #expect(MerkleProof.inclusionProofLength(index: 7, treeSize: 7) == nil)
        #expect(MerkleProof.consistencyProofLength(oldSize: 0, newSize: 7) == nil)
        #expect(MerkleProof.consistencyProofLength(oldSize: 8, newSize: 7) == nil)
    }

    @Test func inclusionFailuresAreNamed() throws {
        let log = try MerkleTestLog(leaves: Self.leaves).log
        let root = try log.root()
        let proof = try log.inclusionProof(leafIndex: 2, treeSize: 7)
        let leaf = Self.leaves[2]
        try MerkleProof.verifyInclusion(leafHash: leaf, index: 2, treeSize: 7, proof: proof, root: root)

        #expect(throws: MerkleProofError.leafIndexOutOfRange(index: 7, treeSize: 7)) {
            try MerkleProof.verifyInclusion(leafHash: leaf, index: 7, treeSize: 7, proof: proof, root: root)
        }
        #expect(throws: MerkleProofError.leafIndexOutOfRange(index: 0, treeSize: 0)) {
            try MerkleProof.verifyInclusion(leafHash: leaf, index: 0, treeSize: 0, proof: [], root: root)
        }
        #expect(throws: MerkleProofError.wrongProofLength(expected: 3, actual: 2)) {
            try MerkleProof.verifyInclusion(
                leafHash: leaf, index: 2, treeSize: 7, proof: Array(proof.dropLast()), root: root)
        }
        #expect(throws: MerkleProofError.wrongProofLength(expected: 3, actual: 4)) {
            try MerkleProof.verifyInclusion(leafHash: leaf, index: 2, treeSize: 7, proof: proof + [root], root: root)
        }
        // Another leaf, a reordered proof, or another root all lead somewhere else.
        let wrongLeaf = Self.rootMismatchComputed { () throws(MerkleProofError) in
            try MerkleProof.verifyInclusion(leafHash: Self.leaves[3], index: 2, treeSize: 7, proof: proof, root: root)
        }
        #expect(wrongLeaf != nil && wrongLeaf != root)
        let reordered = Self.rootMismatchComputed { () throws(MerkleProofError) in
            try MerkleProof.verifyInclusion(
                leafHash: leaf, index: 2, treeSize: 7, proof: [proof[1], proof[0], proof[2]], root: root)
        }
        #expect(reordered != nil && reordered != root)
        let otherRoot = try log.root(atSize: 6)
        #expect(throws: MerkleProofError.rootMismatch(expected: otherRoot, computed: root)) {
            try MerkleProof.verifyInclusion(leafHash: leaf, index: 2, treeSize: 7, proof: proof, root: otherRoot)
        }
    }

    @Test func consistencyFailuresAreNamed() throws {
        let log = try MerkleTestLog(leaves: Self.leaves).log
        let oldRoot = try log.root(atSize: 3)
        let newRoot = try log.root()
        let proof = try log.consistencyProof(oldSize: 3, newSize: 7)
        try MerkleProof.verifyConsistency(oldSize: 3, newSize: 7, oldRoot: oldRoot, newRoot: newRoot, proof: proof)

        #expect(throws: MerkleProofError.oldSizeExceedsNewSize(oldSize: 7, newSize: 3)) {
            try MerkleProof.verifyConsistency(oldSize: 7, newSize: 3, oldRoot: newRoot, newRoot: oldRoot, proof: proof)
        }
        #expect(throws: MerkleProofError.consistencyWithEmptyTree(newSize: 7)) {
            try MerkleProof.verifyConsistency(
                oldSize: 0, newSize: 7, oldRoot: MerkleHash.emptyRoot, newRoot: newRoot, proof: [])
        }
        #expect(throws: MerkleProofError.wrongProofLength(expected: 4, actual: 0)) {
            try MerkleProof.verifyConsistency(oldSize: 3, newSize: 7, oldRoot: oldRoot, newRoot: newRoot, proof: [])
        }
        #expect(throws: MerkleProofError.wrongProofLength(expected: 4, actual: 3)) {
            try MerkleProof.verifyConsistency(
                oldSize: 3, newSize: 7, oldRoot: oldRoot, newRoot: newRoot, proof: Array(proof.dropFirst()))
        }
        let otherOldRoot = try log.root(atSize: 2)
        #expect(throws: MerkleProofError.oldRootMismatch(expected: otherOldRoot, computed: oldRoot)) {
            try MerkleProof.verifyConsistency(
                oldSize: 3, newSize: 7, oldRoot: otherOldRoot, newRoot: newRoot, proof: proof)
        }
        let otherNewRoot = try log.root(atSize: 6)
        #expect(throws: MerkleProofError.newRootMismatch(expected: otherNewRoot, computed: newRoot)) {
            try MerkleProof.verifyConsistency(
                oldSize: 3, newSize: 7, oldRoot: oldRoot, newRoot: otherNewRoot, proof: proof)
        }
        // Equal sizes: no proof, and the same root.
        try MerkleProof.verifyConsistency(oldSize: 7, newSize: 7, oldRoot: newRoot, newRoot: newRoot, proof: [])
        #expect(throws: MerkleProofError.wrongProofLength(expected: 0, actual: 1)) {
            try MerkleProof.verifyConsistency(
                oldSize: 7, newSize: 7, oldRoot: newRoot, newRoot: newRoot, proof: [newRoot])
        }
        #expect(throws: MerkleProofError.rootsDifferAtEqualSize(size: 7, oldRoot: oldRoot, newRoot: newRoot)) {
            try MerkleProof.verifyConsistency(oldSize: 7, newSize: 7, oldRoot: oldRoot, newRoot: newRoot, proof: [])
        }
        // An old tree that is a perfect subtree: its root is not in the proof, so a wrong one shows at the end.
        let fourProof = try log.consistencyProof(oldSize: 4, newSize: 7)
        let fourRoot = try log.root(atSize: 4)
        try MerkleProof.verifyConsistency(oldSize: 4, newSize: 7, oldRoot: fourRoot, newRoot: newRoot, proof: fourProof)
        #expect(throws: MerkleProofError.self) {
            try MerkleProof.verifyConsistency(
                oldSize: 4, newSize: 7, oldRoot: oldRoot, newRoot: newRoot, proof: fourProof)
        }
    }

    @Test func hashesGivenAsBytesMustBe32Long() throws {
        let log = try MerkleTestLog(leaves: Self.leaves).log
        let root = try log.root().bytes
        let proof = try log.inclusionProof(leafIndex: 1, treeSize: 7).map(\.bytes)
        let leaf = Self.leaves[1].bytes
        try MerkleProof.verifyInclusion(leafHash: leaf, index: 1, treeSize: 7, proof: proof, root: root)

        #expect(throws: MerkleProofError.malformedHash(field: .leafHash, byteCount: 31)) {
            try MerkleProof.verifyInclusion(
                leafHash: Array(leaf.dropLast()), index: 1, treeSize: 7, proof: proof, root: root)
        }
        #expect(throws: MerkleProofError.malformedHash(field: .root, byteCount: 0)) {
            try MerkleProof.verifyInclusion(leafHash: leaf, index: 1, treeSize: 7, proof: proof, root: [])
        }
        var longElement = proof
        longElement[1].append(0)
        #expect(throws: MerkleProofError.malformedHash(field: .proofElement(1), byteCount: 33)) {
            try MerkleProof.verifyInclusion(leafHash: leaf, index: 1, treeSize: 7, proof: longElement, root: root)
        }

        let oldRoot = try log.root(atSize: 5).bytes
        let consistency = try log.consistencyProof(oldSize: 5, newSize: 7).map(\.bytes)
        try MerkleProof.verifyConsistency(oldSize: 5, newSize: 7, oldRoot: oldRoot, newRoot: root, proof: consistency)
        #expect(throws: MerkleProofError.malformedHash(field: .oldRoot, byteCount: 12)) {
            try MerkleProof.verifyConsistency(
                oldSize: 5, newSize: 7, oldRoot: Array("don't care 1".utf8), newRoot: root, proof: consistency)
        }
        #expect(throws: MerkleProofError.malformedHash(field: .newRoot, byteCount: 64)) {
            try MerkleProof.verifyConsistency(
                oldSize: 5, newSize: 7, oldRoot: oldRoot, newRoot: root + root, proof: consistency)
        }
        #expect(throws: MerkleProofError.malformedHash(field: .proofElement(0), byteCount: 0)) {
            try MerkleProof.verifyConsistency(
                oldSize: 5, newSize: 7, oldRoot: oldRoot, newRoot: root, proof: [[]] + consistency)
        }
    }

    /// RFC 9162 proofs carry bare hashes, so a size whose proof has the same shape verifies too: leaf 0 of six
    /// leaves has the same path in a tree of seven. That is why a checkpoint is the size and root signed
    /// together (a block header certified by a quorum), and an auditor takes both from it.
    @Test func theSizeIsBoundOnlyThroughTheShapeOfTheProof() throws {
        let log = try MerkleTestLog(leaves: Self.leaves).log
        let root = try log.root(atSize: 6)
        let proof = try log.inclusionProof(leafIndex: 0, treeSize: 6)
        try MerkleProof.verifyInclusion(leafHash: Self.leaves[0], index: 0, treeSize: 7, proof: proof, root: root)
        #expect(MerkleReference.inclusionShape(0, 6) == MerkleReference.inclusionShape(0, 7))
        // Sizes whose paths differ are refused.
        #expect(MerkleReference.inclusionShape(0, 6) != MerkleReference.inclusionShape(0, 4))
        #expect(throws: MerkleProofError.self) {
            try MerkleProof.verifyInclusion(leafHash: Self.leaves[0], index: 0, treeSize: 4, proof: proof, root: root)
        }
        #expect(throws: MerkleProofError.self) {
            try MerkleProof.verifyInclusion(leafHash: Self.leaves[0], index: 0, treeSize: 9, proof: proof, root: root)
        }
    }

    @Test func errorsNameWhatWasWrong() {
        #expect(MerkleProofError.malformedHash(field: .proofElement(4), byteCount: 3).description.contains("proof[4]"))
        #expect(MerkleProofError.wrongProofLength(expected: 5, actual: 2).description.contains("2 hashes"))
        #expect(MerkleProofError.oldSizeExceedsNewSize(oldSize: 9, newSize: 4).description.contains("9"))
        #expect(
            MerkleProofError.rootMismatch(expected: .zero, computed: MerkleHash.emptyRoot).description.contains(
                MerkleHash.emptyRoot.hex))
    }

    /// The hash a failed inclusion check computed, when it failed on the root.
    static func rootMismatchComputed(_ check: () throws(MerkleProofError) -> Void) -> Digest? {
        do {
            try check()
            return nil
        } catch {
            guard case .rootMismatch(_, let computed) = error else { return nil }
            return computed
        }
    }
}
