import EnsureCrypto
import Ledger
import Testing

/// The stored-node log: known answers, what an append writes, how many nodes each operation reads, and the
/// typed errors for requests the log cannot answer.
@Suite struct MerkleLogTests {
    @Test func knownAnswers() throws {
        let emptyRoot = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        let emptyLeaf = "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        #expect(MerkleHash.emptyRoot.hex == emptyRoot)
        #expect(MerkleHash.root(leafHashes: []).hex == emptyRoot)
        #expect(try MerkleTestLog().log.root().hex == emptyRoot)
        #expect(MerkleHash.leaf([]).hex == emptyLeaf)
        // A one-leaf tree's root is its leaf hash.
        let single = try MerkleTestLog(leaves: [MerkleHash.leaf([])])
        #expect(try single.log.root().hex == emptyLeaf)
        // The RFC 6962 reference tree of eight leaves.
        let leafData = [
            "", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f",
        ]
        let leaves = try leafData.map { MerkleHash.leaf(try #require(Hex.decode($0))) }
        let eight = try MerkleTestLog(leaves: leaves, batchSize: 8)
        #expect(try eight.log.root().hex == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
    }

    @Test func appendWritesEachLeafAndTheNodesItCompletes() throws {
        let leaves = merkleTestLeaves(4)
        var grown = MerkleTestLog()
        let first = try grown.log.appending([leaves[0]])
        #expect(first.size == 1)
        #expect(first.writes.map(\.0) == [MerkleNodePosition(level: 0, index: 0)])
        try grown.append([leaves[0], leaves[1], leaves[2]])

        let fourth = try grown.log.appending([leaves[3]])
        #expect(fourth.size == 4)
        #expect(
            fourth.writes.map(\.0) == [
                MerkleNodePosition(level: 0, index: 3),
                MerkleNodePosition(level: 1, index: 1),
                MerkleNodePosition(level: 2, index: 0),
            ])
        #expect(
            fourth.writes.map(\.1) == [
                leaves[3], MerkleHash.node(leaves[2], leaves[3]), MerkleHash.root(leafHashes: leaves),
            ])

        let nothing = try grown.log.appending([])
        #expect(nothing.size == 3)
        #expect(nothing.writes.isEmpty)
    }

    @Test func appendingLeavesTheLogUnchanged() throws {
        let leaves = merkleTestLeaves(10)
        let grown = try MerkleTestLog(leaves: Array(leaves.prefix(6)))
        let log = grown.log
        let rootBefore = try log.root()
        _ = try log.appending(Array(leaves.suffix(4)))
        #expect(log.size == 6)
        #expect(try log.root() == rootBefore)
        #expect(grown.store.nodes.count == 6 + 3 + 1)
    }

    /// Appending, roots and proofs read O(log n) stored nodes, never O(n): counted at every size of a log
    /// grown to 100,000 leaves in uneven batches, then for proofs spread over the whole log.
    @Test func operationsReadLogarithmicallyManyNodes() throws {
        let source = CountingNodeSource()
        var size: UInt64 = 0
        var batch = 1
        while size < 100_000 {
            let count = min(batch, 100_000 - Int(size))
            let leaves = (0..<count).map { MerkleHash.leaf(Array("leaf \(Int(size) + $0)".utf8)) }
            let log = MerkleLog(source: source, size: size)
            let (result, reads) = try source.readsDuring { try log.appending(leaves) }
            #expect(reads == size.nonzeroBitCount, "append at size \(size)")
            source.store(result.writes)
            size = result.size
            batch = batch % 997 + 13
        }
        let log = MerkleLog(source: source, size: size)

        func bound(_ treeSize: UInt64) -> Int {
            2 * ceilLog2(treeSize) + 2
        }
        var treeSizes: [UInt64] = [1, 2, 3, 4, 5, 7, 8, 9, 1023, 1024, 1025, 65_535, 65_536, 65_537, 99_999, 100_000]
        treeSizes += stride(from: 7, to: 100_000, by: 7919).map { UInt64($0) }
        var proofsChecked = 0
        for treeSize in treeSizes {
            let (root, rootReads) = try source.readsDuring { try log.root(atSize: treeSize) }
            #expect(rootReads == treeSize.nonzeroBitCount, "root at \(treeSize)")

            var indices: Set<UInt64> = [0, treeSize - 1, treeSize / 2, treeSize / 3]
            for index in stride(from: UInt64(1), to: treeSize, by: Int(max(1, treeSize / 40))) {
                indices.insert(index)
            }
            for index in indices.sorted() {
                let (proof, reads) = try source.readsDuring {
                    try log.inclusionProof(leafIndex: index, treeSize: treeSize)
                }
                #expect(reads <= bound(treeSize), "inclusion of \(index) in \(treeSize): \(reads) reads")
                #expect(throws: Never.self) {
                    try MerkleProof.verifyInclusion(
                        leafHash: MerkleHash.leaf(Array("leaf \(index)".utf8)), index: index, treeSize: treeSize,
                        proof: proof, root: root)
                }
                proofsChecked += 1
            }

            var oldSizes: Set<UInt64> = [1, treeSize, treeSize - 1 == 0 ? 1 : treeSize - 1, (treeSize + 1) / 2]
            for oldSize in stride(from: UInt64(1), to: treeSize, by: Int(max(1, treeSize / 25))) {
                oldSizes.insert(oldSize)
            }
            for oldSize in oldSizes.sorted() {
                let oldRoot = try log.root(atSize: oldSize)
                let (proof, reads) = try source.readsDuring {
                    try log.consistencyProof(oldSize: oldSize, newSize: treeSize)
                }
                #expect(reads <= bound(treeSize), "consistency \(oldSize) to \(treeSize): \(reads) reads")
                #expect(throws: Never.self) {
                    try MerkleProof.verifyConsistency(
                        oldSize: oldSize, newSize: treeSize, oldRoot: oldRoot, newRoot: root, proof: proof)
                }
                proofsChecked += 1
            }
        }
        #expect(proofsChecked > 1_500)
    }

    @Test func requestsBeyondTheLogAreRefused() throws {
        let log = try MerkleTestLog(leaves: merkleTestLeaves(5)).log
        #expect(throws: MerkleLogError.treeSizeBeyondLog(treeSize: 6, logSize: 5)) { try log.root(atSize: 6) }
        #expect(throws: MerkleLogError.treeSizeBeyondLog(treeSize: 6, logSize: 5)) {
            try log.inclusionProof(leafIndex: 0, treeSize: 6)
        }
        #expect(throws: MerkleLogError.treeSizeBeyondLog(treeSize: .max, logSize: 5)) {
            try log.consistencyProof(oldSize: 1, newSize: .max)
        }
        #expect(throws: MerkleLogError.leafIndexOutOfRange(index: 5, treeSize: 5)) {
            try log.inclusionProof(leafIndex: 5, treeSize: 5)
        }
        #expect(throws: MerkleLogError.leafIndexOutOfRange(index: 3, treeSize: 3)) {
            try log.inclusionProof(leafIndex: 3, treeSize: 3)
        }
        #expect(throws: MerkleLogError.leafIndexOutOfRange(index: 0, treeSize: 0)) {
            try log.inclusionProof(leafIndex: 0, treeSize: 0)
        }
        #expect(throws: MerkleLogError.invalidConsistencySizes(oldSize: 0, newSize: 3)) {
            try log.consistencyProof(oldSize: 0, newSize: 3)
        }
        #expect(throws: MerkleLogError.invalidConsistencySizes(oldSize: 4, newSize: 3)) {
            try log.consistencyProof(oldSize: 4, newSize: 3)
        }
        #expect(try log.consistencyProof(oldSize: 5, newSize: 5).isEmpty)
    }

    @Test func aStoreMissingANodeIsNamed() throws {
        let complete = try MerkleTestLog(leaves: merkleTestLeaves(6))
        // Six leaves are stored as the subtrees [0, 4) and [4, 6); drop the second.
        var partial = InMemoryMerkleNodeStore()
        partial.store(
            complete.store.nodes.filter { $0.key != MerkleNodePosition(level: 1, index: 2) }.map { ($0.key, $0.value) })
        let log = MerkleLog(source: partial, size: 6)
        let missing = MerkleLogError.missingNode(position: MerkleNodePosition(level: 1, index: 2), logSize: 6)
        #expect(throws: missing) { try log.root() }
        #expect(throws: missing) { try log.appending(merkleTestLeaves(1)) }
        #expect(throws: missing) { try log.inclusionProof(leafIndex: 0, treeSize: 6) }
        #expect(throws: missing) { try log.consistencyProof(oldSize: 4, newSize: 6) }
        // What does not need the node still works.
        #expect(try log.root(atSize: 4) == complete.log.root(atSize: 4))
        #expect(
            try log.inclusionProof(leafIndex: 5, treeSize: 6) == complete.log.inclusionProof(leafIndex: 5, treeSize: 6))
        // A log claiming more leaves than its store holds.
        let overstated = MerkleLog(source: complete.store, size: 7)
        #expect(throws: MerkleLogError.missingNode(position: MerkleNodePosition(level: 0, index: 6), logSize: 7)) {
            try overstated.root()
        }
    }

    @Test func errorsFromTheSourcePassThrough() throws {
        struct FailingSource: MerkleNodeSource {
            struct ReadFailed: Error, Equatable {}
            func node(at position: MerkleNodePosition) throws -> Digest? { throw ReadFailed() }
        }
        let log = MerkleLog(source: FailingSource(), size: 3)
        #expect(throws: FailingSource.ReadFailed()) { try log.root() }
        #expect(throws: FailingSource.ReadFailed()) { try log.appending(merkleTestLeaves(1)) }
        // The empty tree and an empty append need no read.
        #expect(try MerkleLog(source: FailingSource(), size: 0).root() == MerkleHash.emptyRoot)
        #expect(try log.appending([]).size == 3)
    }

    @Test func theSizeLimitIsEnforced() throws {
        let limit = MerkleLog<InMemoryMerkleNodeStore>.maximumSize
        let log = MerkleLog(source: InMemoryMerkleNodeStore(), size: limit)
        #expect(throws: MerkleLogError.sizeLimitExceeded(size: limit, appending: 1, limit: limit)) {
            try log.appending(merkleTestLeaves(1))
        }
        // A size past the limit, however it was made, is refused rather than overflowing.
        let beyond = MerkleLog(source: InMemoryMerkleNodeStore(), size: .max)
        #expect(throws: MerkleLogError.sizeLimitExceeded(size: .max, appending: 0, limit: limit)) {
            try beyond.appending([])
        }
    }

    @Test func errorsNameWhatWasWrong() {
        let position = MerkleNodePosition(level: 3, index: 17)
        #expect(
            MerkleLogError.missingNode(position: position, logSize: 200).description.contains("level 3 index 17"))
        #expect(MerkleLogError.treeSizeBeyondLog(treeSize: 9, logSize: 4).description.contains("9"))
        #expect(MerkleLogError.leafIndexOutOfRange(index: 12, treeSize: 4).description.contains("12"))
    }

    private func ceilLog2(_ n: UInt64) -> Int {
        n <= 1 ? 0 : 64 - (n - 1).leadingZeroBitCount
    }
}
