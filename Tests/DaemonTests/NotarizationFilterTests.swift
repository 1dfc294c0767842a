import API
import Codec
import Consensus
import EnsureCrypto
import Ledger
import Storage
import Testing

@testable import Daemon

/// The executor's filter of committed notarizations: it may send a read to LevelDB for nothing, but it must never
/// call a committed digest new, or a second notarization would overwrite the first.
@Suite("Notarization filter")
struct NotarizationFilterTests {
    let fixture = ChainFixture()

    private func open(_ directory: TemporaryDirectory) throws -> LedgerExecutor {
        let database = try LevelDB(path: directory.path + "/ledger")
        return try LedgerExecutor(
            genesis: fixture.genesis, genesisBlock: fixture.genesisBlock, store: try BlockStore(database: database))
    }

    /// A notarization of `digest` by admin `admin` at `sequence`.
    private func notarize(_ digest: Digest, admin: Int, sequence: UInt64, label: String) throws -> Transaction {
        let payload = try NotarizePayload(digest: digest, label: label)
        return Transaction(
            chainID: fixture.chainID, sequence: sequence, kind: .notarize, payload: payload.canonicalBytes,
            signedBy: fixture.adminKeys[admin])
    }

    /// Executes and commits `transactions` on the executor's tip.
    private func commit(
        _ transactions: [Transaction], on executor: LedgerExecutor, tip: inout (Block, QuorumCertificate)
    )
        throws
    {
        let block = fixture.child(
            of: tip.0, parentCertificate: tip.1, round: tip.0.header.round + 1, transactions: transactions,
            executor: executor)
        try executor.execute(block)
        let certificate = fixture.certificate(for: block.header)
        try executor.commit(block, certificate: certificate)
        tip = (block, certificate)
    }

    @Test("a digest notarized again, in a later block or after a restart, keeps its first notarization")
    func firstNotarizationWins() throws {
        let directory = TemporaryDirectory()
        let digest = SHA256.hash(Array("the contract".utf8))
        var tip = (
            fixture.genesisBlock, QuorumCertificate.genesis(chainID: fixture.chainID, blockID: fixture.genesisBlock.id)
        )
        do {
            let executor = try open(directory)
            try commit([try notarize(digest, admin: 0, sequence: 1, label: "first")], on: executor, tip: &tip)
            try commit([try notarize(digest, admin: 1, sequence: 1, label: "second")], on: executor, tip: &tip)
            let entry = try #require(executor.notarization(of: digest))
            #expect(entry.label == "first" && entry.height == 1)
        }
        // After a restart the filter is rebuilt from LevelDB, and still knows the digest.
        let executor = try open(directory)
        try commit([try notarize(digest, admin: 0, sequence: 2, label: "third")], on: executor, tip: &tip)
        let entry = try #require(executor.notarization(of: digest))
        #expect(entry.label == "first" && entry.height == 1)
        // A new digest still notarizes.
        let other = SHA256.hash(Array("another".utf8))
        try commit([try notarize(other, admin: 1, sequence: 2, label: "new")], on: executor, tip: &tip)
        #expect(executor.notarization(of: other)?.height == 4)
    }

    @Test("every inserted key is found, other keys are not its business, and unseen keys are rarely positive")
    func filter() {
        let filter = NotarizationFilter()
        let inserted = (0..<20_000).map { StateKeys.notarization(SHA256.hash(Array("in \($0)".utf8))) }
        for key in inserted { filter.insert(key: key) }
        #expect(filter.count == 20_000)
        #expect(inserted.allSatisfy { filter.mayContain(key: $0) })
        let unseen = (0..<20_000).map { StateKeys.notarization(SHA256.hash(Array("out \($0)".utf8))) }
        // 20,000 keys in 65,536 blocks of 512 bits with 7 probes: about 2e-12 false positives per key.
        #expect(unseen.filter { filter.mayContain(key: $0) }.count <= 2)
        #expect(!NotarizationFilter.covers(StateKeys.receipt(SHA256.hash([1]))))
        #expect(!NotarizationFilter.covers(StateKeys.notarizationPrefix + [1, 2, 3]))
        filter.insert(key: StateKeys.receipt(SHA256.hash([1])))
        #expect(filter.count == 20_000)
    }

    @Test("loading reads every notarization key across pages and nothing else")
    func loadPages() throws {
        let directory = TemporaryDirectory()
        let database = try LevelDB(path: directory.path + "/ledger")
        // More than two pages of 4,096, and keys on either side of the prefix.
        let keys = (0..<9_000).map { StateKeys.notarization(SHA256.hash(Array("k \($0)".utf8))) }
        var batch = WriteBatch()
        for key in keys { batch.put(key: key, value: [1]) }
        batch.put(key: StateKeys.receipt(SHA256.hash([2])), value: [1])
        batch.put(key: Array("app/notarz".utf8), value: [1])
        try database.write(batch, sync: false)
        let filter = try NotarizationFilter.load(from: database)
        #expect(filter.count == 9_000)
        #expect(keys.allSatisfy { filter.mayContain(key: $0) })
    }
}
