import Codec
import EnsureCrypto
import Ledger
import Storage
import Testing

@Suite("Block store")
struct BlockStoreTests {
    /// Opens a block store in a fresh directory; the caller removes the directory.
    private func makeStore() throws -> (BlockStore, TemporaryDirectory) {
        let directory = try TemporaryDirectory()
        return (try BlockStore(database: LevelDB(path: directory.path("db"))), directory)
    }

    /// Expects `append` to be refused with `expected` and to leave every key of the database as it was.
    private func expectRefusal(
        _ expected: BlockStoreError, store: BlockStore, sourceLocation: SourceLocation = #_sourceLocation,
        _ append: () throws -> Void
    ) throws {
        let before = try allEntries(store.database)
        let tipBefore = store.tip
        let error = #expect(throws: BlockStoreError.self, sourceLocation: sourceLocation) { try append() }
        #expect(error == expected, sourceLocation: sourceLocation)
        #expect(try allEntries(store.database) == before, "a refused append wrote something")
        #expect(store.tip == tipBefore, sourceLocation: sourceLocation)
    }

    @Test("an empty store has no tip and no blocks")
    func emptyStore() throws {
        let (store, directory) = try makeStore()
        defer { directory.remove() }
        #expect(store.tip == nil)
        #expect(store.latestHeight == nil)
        #expect(try store.block(atHeight: 0) == nil)
        #expect(try store.certificate(atHeight: 0) == nil)
        #expect(try store.block(withID: .zero) == nil)
        #expect(try store.height(ofBlock: .zero) == nil)
    }

    @Test("genesis then a chain of blocks can be read back by height, by id and with their certificates")
    func appendAndRead() throws {
        let (store, directory) = try makeStore()
        defer { directory.remove() }
        let chain = ChainBuilder().chain(blocks: 5)
        for (block, certificate) in chain {
            try store.append(block, certificate: certificate)
        }
        #expect(store.latestHeight == 5)
        #expect(store.tip == ChainTip(height: 5, blockID: chain[5].block.id, chainID: "storage-test"))
        for (height, entry) in chain.enumerated() {
            #expect(try store.block(atHeight: UInt64(height)) == entry.block)
            #expect(try store.block(withID: entry.block.id) == entry.block)
            #expect(try store.height(ofBlock: entry.block.id) == UInt64(height))
            #expect(try store.certificate(atHeight: UInt64(height)) == entry.certificate)
        }
        #expect(try store.block(atHeight: 6) == nil)
        #expect(try store.certificate(atHeight: 6) == nil)
    }

    @Test("the store's tip, blocks and certificates survive closing and reopening, and appending continues")
    func reopenPersistence() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let builder = ChainBuilder()
        let chain = builder.chain(blocks: 3)
        do {
            let store = try BlockStore(database: LevelDB(path: directory.path("db")))
            for (block, certificate) in chain {
                try store.append(block, certificate: certificate)
            }
        }
        let reopened = try BlockStore(database: LevelDB(path: directory.path("db")))
        #expect(reopened.tip == ChainTip(height: 3, blockID: chain[3].block.id, chainID: builder.chainID))
        #expect(try reopened.block(atHeight: 2) == chain[2].block)
        #expect(try reopened.certificate(atHeight: 3) == chain[3].certificate)
        let next = builder.child(of: chain[3].block, parentCertificate: chain[3].certificate)
        try reopened.append(next.block, certificate: next.certificate)
        #expect(reopened.latestHeight == 4)
    }

    @Test("extra writes land in the same batch as the block, and Merkle nodes are readable afterwards")
    func extraWrites() throws {
        let (store, directory) = try makeStore()
        defer { directory.remove() }
        let (genesis, certificate) = ChainBuilder().genesis()
        var extra = WriteBatch()
        extra.put(key: bytes("state/org/acme"), value: bytes("member"))
        let leaf = MerkleHash.leaf(bytes("first incident"))
        LevelDBMerkleNodeStore.addNodes([(MerkleNodePosition(level: 0, index: 0), leaf)], to: &extra)
        try store.append(genesis, certificate: certificate, extraWrites: extra)
        #expect(try store.database.get(bytes("state/org/acme")) == bytes("member"))
        let nodes = LevelDBMerkleNodeStore(database: store.database)
        #expect(try nodes.node(at: MerkleNodePosition(level: 0, index: 0)) == leaf)
    }

    @Test("the first block must be genesis at height 0")
    func refusesNonGenesisFirst() throws {
        let (store, directory) = try makeStore()
        defer { directory.remove() }
        let builder = ChainBuilder()
        let chain = builder.chain(blocks: 1)
        try expectRefusal(
            .unexpectedHeight(expected: 0, actual: 1, blockID: chain[1].block.id), store: store
        ) {
            try store.append(chain[1].block, certificate: chain[1].certificate)
        }
    }

    @Test("genesis must name the zero parent")
    func refusesGenesisWithParent() throws {
        let (store, directory) = try makeStore()
        defer { directory.remove() }
        let builder = ChainBuilder()
        let parent = SHA256.hash(bytes("somewhere else"))
        let block = Block(
            header: builder.header(height: 0, parentID: parent, transactions: []),
            justify: .genesis(chainID: builder.chainID, blockID: .zero), transactions: [])
        try expectRefusal(.wrongParent(height: 0, expected: .zero, actual: parent), store: store) {
            try store.append(block, certificate: .genesis(chainID: builder.chainID, blockID: block.id))
        }
    }

    @Test("genesis needs its genesis certificate, not a signed or foreign one")
    func refusesGenesisWithWrongCertificate() throws {
        let (store, directory) = try makeStore()
        defer { directory.remove() }
        let builder = ChainBuilder()
        let (genesis, _) = builder.genesis()
        let expected = BlockStoreError.certificateMismatch(
            height: 0, reason: "is not the genesis certificate of this block")
        try expectRefusal(expected, store: store) {
            try store.append(genesis, certificate: builder.certificate(for: genesis))
        }
        try expectRefusal(expected, store: store) {
            try store.append(genesis, certificate: .genesis(chainID: builder.chainID, blockID: .zero))
        }
        try expectRefusal(expected, store: store) {
            try store.append(genesis, certificate: .genesis(chainID: "other-chain", blockID: genesis.id))
        }
    }

    @Test("a block that skips a height or repeats one is refused")
    func refusesWrongHeight() throws {
        let (store, directory) = try makeStore()
        defer { directory.remove() }
        let builder = ChainBuilder()
        let chain = builder.chain(blocks: 3)
        try store.append(chain[0].block, certificate: chain[0].certificate)
        try store.append(chain[1].block, certificate: chain[1].certificate)
        // Height 3 on top of 1: a gap.
        let gap = builder.block(
            with: builder.header(height: 3, parentID: chain[1].block.id, transactions: []),
            justify: chain[1].certificate)
        try expectRefusal(.unexpectedHeight(expected: 2, actual: 3, blockID: gap.block.id), store: store) {
            try store.append(gap.block, certificate: gap.certificate)
        }
        // A different block at height 1 again.
        let again = builder.block(
            with: builder.header(height: 1, parentID: chain[0].block.id, transactions: []),
            justify: chain[0].certificate)
        try expectRefusal(.unexpectedHeight(expected: 2, actual: 1, blockID: again.block.id), store: store) {
            try store.append(again.block, certificate: again.certificate)
        }
    }

    @Test("a block whose parent is not the stored block below is refused")
    func refusesWrongParent() throws {
        let (store, directory) = try makeStore()
        defer { directory.remove() }
        let builder = ChainBuilder()
        let chain = builder.chain(blocks: 1)
        try store.append(chain[0].block, certificate: chain[0].certificate)
        let stranger = SHA256.hash(bytes("not the genesis"))
        let orphan = builder.block(
            with: builder.header(height: 1, parentID: stranger, transactions: []), justify: chain[0].certificate)
        try expectRefusal(
            .wrongParent(height: 1, expected: chain[0].block.id, actual: stranger), store: store
        ) {
            try store.append(orphan.block, certificate: orphan.certificate)
        }
    }

    @Test("appending a block that is already stored is refused as a duplicate")
    func refusesDuplicate() throws {
        let (store, directory) = try makeStore()
        defer { directory.remove() }
        let chain = ChainBuilder().chain(blocks: 2)
        for (block, certificate) in chain {
            try store.append(block, certificate: certificate)
        }
        try expectRefusal(.duplicateBlock(id: chain[2].block.id, storedHeight: 2), store: store) {
            try store.append(chain[2].block, certificate: chain[2].certificate)
        }
        try expectRefusal(.duplicateBlock(id: chain[0].block.id, storedHeight: 0), store: store) {
            try store.append(chain[0].block, certificate: chain[0].certificate)
        }
    }

    @Test("a block of another chain is refused")
    func refusesOtherChain() throws {
        let (store, directory) = try makeStore()
        defer { directory.remove() }
        let builder = ChainBuilder()
        let chain = builder.chain(blocks: 1)
        try store.append(chain[0].block, certificate: chain[0].certificate)
        let foreign = ChainBuilder(chainID: "other-chain", key: builder.key)
        let block = foreign.block(
            with: foreign.header(height: 1, parentID: chain[0].block.id, transactions: []),
            justify: chain[0].certificate)
        try expectRefusal(
            .wrongChain(height: 1, expected: builder.chainID, actual: "other-chain"), store: store
        ) {
            try store.append(block.block, certificate: block.certificate)
        }
    }

    @Test("a certificate that does not certify the block is refused")
    func refusesMismatchedCertificate() throws {
        let (store, directory) = try makeStore()
        defer { directory.remove() }
        let builder = ChainBuilder()
        let chain = builder.chain(blocks: 2)
        try store.append(chain[0].block, certificate: chain[0].certificate)
        let block = chain[1].block
        let good = chain[1].certificate
        func forged(_ data: VoteData) -> QuorumCertificate {
            QuorumCertificate(data: data, signatures: good.signatures)
        }
        let d = good.data
        let cases: [(QuorumCertificate, String)] = [
            (chain[2].certificate, "names block \(chain[2].block.id), not \(block.id)"),
            (
                forged(VoteData(chainID: d.chainID, epoch: 0, round: d.round, height: 7, blockID: d.blockID)),
                "is for height 7"
            ),
            (
                forged(VoteData(chainID: d.chainID, epoch: 0, round: 9, height: d.height, blockID: d.blockID)),
                "is for round 9, the block's is 1"
            ),
            (
                forged(VoteData(chainID: d.chainID, epoch: 4, round: d.round, height: d.height, blockID: d.blockID)),
                "is for epoch 4, the block's is 0"
            ),
            (
                forged(VoteData(chainID: "elsewhere", epoch: 0, round: d.round, height: d.height, blockID: d.blockID)),
                "is for chain 'elsewhere'"
            ),
            (QuorumCertificate(data: d, signatures: []), "carries no signatures"),
        ]
        for (certificate, reason) in cases {
            try expectRefusal(.certificateMismatch(height: 1, reason: reason), store: store) {
                try store.append(block, certificate: certificate)
            }
        }
        try store.append(block, certificate: good)
        #expect(store.latestHeight == 1)
    }

    @Test(
        "extra writes into the block store's own namespaces are refused",
        arguments: ["block/", "qc/", "block-id/", "chain/tip", "chain/id"])
    func refusesReservedExtraWrites(prefix: String) throws {
        let (store, directory) = try makeStore()
        defer { directory.remove() }
        let (genesis, certificate) = ChainBuilder().genesis()
        var extra = WriteBatch()
        extra.put(key: bytes("state/fine"), value: [1])
        extra.delete(key: bytes(prefix) + [0, 0, 0, 0, 0, 0, 0, 9])
        let error = #expect(throws: BlockStoreError.self) {
            try store.append(genesis, certificate: certificate, extraWrites: extra)
        }
        guard case .reservedKey(let key)? = error else {
            Issue.record("expected a reserved-key refusal, got \(String(describing: error))")
            return
        }
        #expect(key.hasPrefix(prefix))
        #expect(try allEntries(store.database).isEmpty)
        #expect(store.tip == nil)
    }

    @Test("a damaged block record reads as a typed corruption error naming its key")
    func corruptBlockRecord() throws {
        let (store, directory) = try makeStore()
        defer { directory.remove() }
        let chain = ChainBuilder().chain(blocks: 2)
        for (block, certificate) in chain {
            try store.append(block, certificate: certificate)
        }
        var damaged = chain[1].block.canonicalBytes
        damaged.removeLast(3)
        try store.database.put(key: StorageKeyspace.blockKey(height: 1), value: damaged)
        try store.database.put(key: StorageKeyspace.certificateKey(height: 2), value: [0xFF, 0x00])
        // A valid block stored under the wrong height is caught too.
        try store.database.put(key: StorageKeyspace.blockKey(height: 0), value: chain[2].block.canonicalBytes)

        let blockError = #expect(throws: BlockStoreError.self) { try store.block(atHeight: 1) }
        guard case .corruptRecord(let key, _)? = blockError else {
            Issue.record("expected a corrupt record, got \(String(describing: blockError))")
            return
        }
        #expect(key == "block/1")
        let byID = #expect(throws: BlockStoreError.self) { try store.block(withID: chain[1].block.id) }
        #expect(byID == blockError)
        let certificateError = #expect(throws: BlockStoreError.self) { try store.certificate(atHeight: 2) }
        guard case .corruptRecord(let certificateKey, _)? = certificateError else {
            Issue.record("expected a corrupt record, got \(String(describing: certificateError))")
            return
        }
        #expect(certificateKey == "qc/2")
        let misplaced = #expect(throws: BlockStoreError.self) { try store.block(atHeight: 0) }
        #expect(misplaced == .corruptRecord(key: "block/0", reason: "holds a block of height 2"))
    }

    @Test("a damaged tip record makes opening the store fail with a typed error")
    func corruptTip() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let database = try LevelDB(path: directory.path("db"))
        do {
            let store = try BlockStore(database: database)
            let (genesis, certificate) = ChainBuilder().genesis()
            try store.append(genesis, certificate: certificate)
        }
        try database.put(key: StorageKeyspace.chainTipKey, value: [1, 2, 3])
        let short = #expect(throws: BlockStoreError.self) { try BlockStore(database: database) }
        #expect(short == .corruptRecord(key: "chain/tip", reason: "holds 3 bytes, not 40"))

        let unknown = SHA256.hash(bytes("never stored"))
        try database.put(key: StorageKeyspace.chainTipKey, value: [0, 0, 0, 0, 0, 0, 0, 0] + unknown.bytes)
        let dangling = #expect(throws: BlockStoreError.self) { try BlockStore(database: database) }
        guard case .corruptRecord(let key, _)? = dangling else {
            Issue.record("expected a corrupt record, got \(String(describing: dangling))")
            return
        }
        #expect(key == "chain/tip")

        try database.delete(key: StorageKeyspace.chainTipKey)
        let orphanChainID = #expect(throws: BlockStoreError.self) { try BlockStore(database: database) }
        #expect(orphanChainID == .corruptRecord(key: "chain/id", reason: "is present without a tip"))
    }

    @Test("two racing appends of the same height: exactly one wins")
    func concurrentAppends() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try BlockStore(database: LevelDB(path: directory.path("db")))
        let builder = ChainBuilder()
        let (genesis, certificate) = builder.genesis()
        try store.append(genesis, certificate: certificate)
        let candidates = (0..<8).map { _ in builder.child(of: genesis, parentCertificate: certificate) }
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for candidate in candidates {
                group.addTask {
                    (try? store.append(candidate.block, certificate: candidate.certificate)) != nil
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 }.count == 1)
        #expect(store.latestHeight == 1)
        let stored = try #require(try store.block(atHeight: 1))
        #expect(candidates.contains { $0.block == stored })
    }

    @Test("keys describe themselves for error messages and sort numerically")
    func keyspace() {
        #expect(StorageKeyspace.describe(StorageKeyspace.blockKey(height: 42)) == "block/42")
        #expect(StorageKeyspace.describe(StorageKeyspace.certificateKey(height: 7)) == "qc/7")
        #expect(StorageKeyspace.describe(StorageKeyspace.chainTipKey) == "chain/tip")
        #expect(StorageKeyspace.describe(StorageKeyspace.blockIDKey(.zero)) == "block-id/" + Digest.zero.hex)
        #expect(StorageKeyspace.describe([0xDE, 0xAD]) == "0xdead")
        let heights: [UInt64] = [0, 1, 255, 256, 65_535, 1 << 40, .max]
        let keys = heights.map { StorageKeyspace.blockKey(height: $0) }
        #expect(keys == keys.sorted { $0.lexicographicallyPrecedes($1) })
        for (index, prefix) in StorageKeyspace.blockStoreNamespaces.enumerated() {
            for (other, second) in StorageKeyspace.blockStoreNamespaces.enumerated() where other != index {
                #expect(!second.starts(with: prefix), "namespace prefixes overlap")
            }
            #expect(!StorageKeyspace.merkleNodePrefix.starts(with: prefix))
        }
    }
}
