import EnsureCrypto
import Ledger
import Storage
import Testing

@Suite("LevelDB Merkle node store")
struct MerkleNodeStoreTests {
    private func nodes(_ count: UInt64, level: UInt8 = 0) -> [(MerkleNodePosition, Digest)] {
        (0..<count).map {
            (MerkleNodePosition(level: level, index: $0), MerkleHash.leaf(bytes("level \(level) node \($0)")))
        }
    }

    @Test("nodes added to a batch are read back at their positions; others are absent")
    func roundTrip() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let database = try LevelDB(path: directory.path("db"))
        var batch = WriteBatch()
        let written =
            nodes(5) + nodes(2, level: 1) + [(MerkleNodePosition(level: 63, index: .max), MerkleHash.emptyRoot)]
        LevelDBMerkleNodeStore.addNodes(written, to: &batch)
        #expect(batch.count == written.count)
        try database.write(batch)
        let store = LevelDBMerkleNodeStore(database: database)
        for (position, digest) in written {
            #expect(try store.node(at: position) == digest)
        }
        #expect(try store.node(at: MerkleNodePosition(level: 0, index: 5)) == nil)
        #expect(try store.node(at: MerkleNodePosition(level: 2, index: 0)) == nil)
        // Level and index are both part of the key: (1, 0) is not (0, 0).
        #expect(try store.node(at: MerkleNodePosition(level: 1, index: 0)) != written[0].1)
    }

    @Test("a store over a snapshot does not see nodes written after it")
    func snapshotIsolation() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let database = try LevelDB(path: directory.path("db"))
        var first = WriteBatch()
        LevelDBMerkleNodeStore.addNodes(nodes(2), to: &first)
        try database.write(first)
        let frozen = LevelDBMerkleNodeStore(snapshot: database.snapshot())
        var second = WriteBatch()
        LevelDBMerkleNodeStore.addNodes(nodes(4), to: &second)
        LevelDBMerkleNodeStore.addNodes([(MerkleNodePosition(level: 0, index: 0), MerkleHash.emptyRoot)], to: &second)
        try database.write(second)
        #expect(try frozen.node(at: MerkleNodePosition(level: 0, index: 0)) == nodes(1)[0].1)
        #expect(try frozen.node(at: MerkleNodePosition(level: 0, index: 3)) == nil)
        let live = LevelDBMerkleNodeStore(database: database)
        #expect(try live.node(at: MerkleNodePosition(level: 0, index: 0)) == MerkleHash.emptyRoot)
        #expect(try live.node(at: MerkleNodePosition(level: 0, index: 3)) == nodes(4)[3].1)
    }

    @Test("a stored value that is not 32 bytes is a typed error naming the position", arguments: [0, 31, 33])
    func malformedNode(length: Int) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let database = try LevelDB(path: directory.path("db"))
        let position = MerkleNodePosition(level: 3, index: 12)
        try database.put(key: StorageKeyspace.merkleNodeKey(position), value: [UInt8](repeating: 1, count: length))
        let store = LevelDBMerkleNodeStore(database: database)
        let error = #expect(throws: MerkleNodeStoreError.self) { try store.storedNode(at: position) }
        #expect(error == .malformedNode(position: position, byteCount: length))
        #expect(error?.description.contains("level 3, index 12") == true)
        #expect(throws: MerkleNodeStoreError.self) { try store.node(at: position) }
    }

    @Test("the store serves as a MerkleNodeSource: a root folded from stored level-0 nodes matches")
    func servesAsNodeSource() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let database = try LevelDB(path: directory.path("db"))
        let leaves = nodes(7)
        var batch = WriteBatch()
        LevelDBMerkleNodeStore.addNodes(leaves, to: &batch)
        try database.write(batch)
        let source: any MerkleNodeSource = LevelDBMerkleNodeStore(database: database)
        let read = try (0..<7).map { try source.node(at: MerkleNodePosition(level: 0, index: UInt64($0))) }
        let unwrapped = read.compactMap { $0 }
        #expect(unwrapped.count == 7)
        #expect(MerkleHash.root(leafHashes: unwrapped) == MerkleHash.root(leafHashes: leaves.map(\.1)))
    }
}
