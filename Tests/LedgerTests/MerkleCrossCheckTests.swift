import EnsureCrypto
import Ledger
import Testing

/// Every tree of 1 to 70 leaves, every leaf and every pair of sizes: the stored-node log must give exactly
/// RFC 9162's recursive answers, its proofs must verify, and every single-bit change to a proof or index must
/// be rejected. A single-bit change to a size is rejected unless the proof has exactly the same shape at the
/// changed size: RFC 9162 proofs carry bare hashes, so no verifier can reject those (the signed header binds
/// size and root together); the tests check the accepted sizes are exactly those, computed from the RFC's
/// recursive definitions.
@Suite struct MerkleCrossCheckTests {
    static let maximumSize = 70
    static let leaves = merkleTestLeaves(maximumSize)

    @Test func rootsAtEverySizeEqualTheRecursiveDefinition() throws {
        let grown = try MerkleTestLog(leaves: Self.leaves, batchSize: 1)
        for size in 0...Self.maximumSize {
            let prefix = Self.leaves.prefix(size)
            let root = try grown.log.root(atSize: UInt64(size))
            #expect(root == MerkleReference.treeHash(prefix), "root at size \(size)")
            #expect(root == MerkleHash.root(leafHashes: Array(prefix)), "root at size \(size)")
            // A log that stopped at this size agrees with the longer log's view of its past.
            let stopped = try MerkleTestLog(leaves: Array(prefix), batchSize: 3)
            #expect(try stopped.log.root() == root, "root of a log of \(size) leaves")
        }
    }

    @Test func batchSizesDoNotChangeTheStoredNodes() throws {
        let oneByOne = try MerkleTestLog(leaves: Self.leaves, batchSize: 1)
        for batchSize in [2, 3, 7, 16, 33, 70] {
            let batched = try MerkleTestLog(leaves: Self.leaves, batchSize: batchSize)
            #expect(batched.store.nodes == oneByOne.store.nodes, "batches of \(batchSize)")
        }
        // One node per perfect aligned subtree: 70 leaves, 35 + 17 + 8 + 4 + 2 + 1 interior nodes.
        #expect(oneByOne.store.nodes.count == 70 + 35 + 17 + 8 + 4 + 2 + 1)
    }

    @Test(arguments: 1...maximumSize)
    func inclusionProofsForEveryLeaf(treeSize: Int) throws {
        let log = try MerkleTestLog(leaves: Self.leaves, batchSize: 5).log
        let size = UInt64(treeSize)
        let root = try log.root(atSize: size)
        for index in 0..<treeSize {
            let leaf = Self.leaves[index]
            let proof = try log.inclusionProof(leafIndex: UInt64(index), treeSize: size)
            #expect(proof == MerkleReference.path(index, Self.leaves.prefix(treeSize)), "leaf \(index) of \(size)")
            #expect(proof.count == MerkleProof.inclusionProofLength(index: UInt64(index), treeSize: size))
            #expect(throws: Never.self, "leaf \(index) of \(size)") {
                try MerkleProof.verifyInclusion(
                    leafHash: leaf, index: UInt64(index), treeSize: size, proof: proof, root: root)
            }

            var accepted = Self.acceptedBitFlips(of: proof) { tampered in
                (try? MerkleProof.verifyInclusion(
                    leafHash: leaf, index: UInt64(index), treeSize: size, proof: tampered, root: root)) != nil
            }
            // The index picks the hashing order, so every other index fails. The size only shapes the path:
            // a size whose path has the same shape is accepted, as RFC 9162 verification must (a proof carries
            // bare hashes; the signature over size and root is what binds the size).
            let shape = MerkleReference.inclusionShape(UInt64(index), size)
            var acceptedSizes: [UInt64] = []
            var sameShapeSizes: [UInt64] = []
            for bit in 0..<64 {
                let mask = UInt64(1) << UInt64(bit)
                if (try? MerkleProof.verifyInclusion(
                    leafHash: leaf, index: UInt64(index) ^ mask, treeSize: size, proof: proof, root: root)) != nil
                {
                    accepted.append("index bit \(bit)")
                }
                let otherSize = size ^ mask
                if (try? MerkleProof.verifyInclusion(
                    leafHash: leaf, index: UInt64(index), treeSize: otherSize, proof: proof, root: root)) != nil
                {
                    acceptedSizes.append(otherSize)
                }
                if MerkleReference.inclusionShape(UInt64(index), otherSize) == shape {
                    sameShapeSizes.append(otherSize)
                }
            }
            #expect(acceptedSizes == sameShapeSizes, "leaf \(index) of \(size): sizes accepted")
            #expect(accepted.isEmpty, "leaf \(index) of \(size): tampered proofs accepted")
        }
    }

    @Test(arguments: 1...maximumSize)
    func consistencyProofsForEveryOlderSize(newSize: Int) throws {
        let log = try MerkleTestLog(leaves: Self.leaves, batchSize: 4).log
        let newTreeSize = UInt64(newSize)
        let newRoot = try log.root(atSize: newTreeSize)
        for oldSize in 1...newSize {
            let oldTreeSize = UInt64(oldSize)
            let oldRoot = try log.root(atSize: oldTreeSize)
            let proof = try log.consistencyProof(oldSize: oldTreeSize, newSize: newTreeSize)
            let context = "from \(oldSize) to \(newSize)"
            #expect(proof == MerkleReference.proof(oldSize, Self.leaves.prefix(newSize)), "\(context)")
            #expect(proof.count == MerkleProof.consistencyProofLength(oldSize: oldTreeSize, newSize: newTreeSize))
            #expect(throws: Never.self, "\(context)") {
                try MerkleProof.verifyConsistency(
                    oldSize: oldTreeSize, newSize: newTreeSize, oldRoot: oldRoot, newRoot: newRoot, proof: proof)
            }

            let accepted = Self.acceptedBitFlips(of: proof) { tampered in
                (try? MerkleProof.verifyConsistency(
                    oldSize: oldTreeSize, newSize: newTreeSize, oldRoot: oldRoot, newRoot: newRoot, proof: tampered))
                    != nil
            }
            // Sizes only shape the proof: a pair of sizes whose proof computes the same expressions from the same
            // hashes is accepted, as RFC 9162 verification must; every other pair is rejected.
            let truth = try #require(MerkleReference.consistencyShape(oldTreeSize, newTreeSize))
            var acceptedSizes: [String] = []
            var sameShapeSizes: [String] = []
            for bit in 0..<64 {
                let mask = UInt64(1) << UInt64(bit)
                for (otherOld, otherNew, name) in [
                    (oldTreeSize ^ mask, newTreeSize, "old size bit \(bit)"),
                    (oldTreeSize, newTreeSize ^ mask, "new size bit \(bit)"),
                ] {
                    if (try? MerkleProof.verifyConsistency(
                        oldSize: otherOld, newSize: otherNew, oldRoot: oldRoot, newRoot: newRoot, proof: proof)) != nil
                    {
                        acceptedSizes.append(name)
                    }
                    if Self.hasSameShape(truth, otherOld, otherNew) {
                        sameShapeSizes.append(name)
                    }
                }
            }
            #expect(acceptedSizes == sameShapeSizes, "\(context): sizes accepted")
            #expect(!sameShapeSizes.contains { $0.hasPrefix("old") }, "\(context): an old size is never ambiguous")
            #expect(accepted.isEmpty, "\(context): tampered proofs accepted")
        }
    }

    /// Where flipping one bit of one hash of `proof` still `verifies`.
    static func acceptedBitFlips(of proof: [Digest], _ verifies: ([Digest]) -> Bool) -> [String] {
        var accepted: [String] = []
        var tampered = proof
        for position in proof.indices {
            for bit in 0..<256 {
                tampered[position] = flippingBit(bit, of: proof[position])
                if verifies(tampered) {
                    accepted.append("proof[\(position)] bit \(bit)")
                }
            }
            tampered[position] = proof[position]
        }
        return accepted
    }

    /// Whether a verifier given the proof and roots whose expressions are `truth` computes the same expressions
    /// for the sizes (otherOld, otherNew), and so cannot tell the two apart.
    static func hasSameShape(
        _ truth: (old: MerkleShape, new: MerkleShape, length: Int), _ otherOld: UInt64, _ otherNew: UInt64
    ) -> Bool {
        guard let other = MerkleReference.consistencyShape(otherOld, otherNew, requiredLength: truth.length) else {
            return false
        }
        return other.old.replacingOldRoot(with: truth.old) == truth.old
            && other.new.replacingOldRoot(with: truth.old) == truth.new
    }
}
