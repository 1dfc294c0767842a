import API
import Codec
import Consensus
import Daemon
import EnsureCrypto
import Ledger
import Storage
import Testing

@Suite("Ledger executor")
struct LedgerExecutorTests {
    let fixture = ChainFixture()

    private func open(_ directory: TemporaryDirectory) throws -> LedgerExecutor {
        let database = try LevelDB(path: directory.path + "/ledger")
        let store = try BlockStore(database: database)
        return try LedgerExecutor(genesis: fixture.genesis, genesisBlock: fixture.genesisBlock, store: store)
    }

    private var genesisQC: QuorumCertificate {
        .genesis(chainID: fixture.chainID, blockID: fixture.genesisBlock.id)
    }

    @Test("an executed block commits with its index, sequences and notarizations, and survives reopening")
    func commitAndReopen() throws {
        let directory = TemporaryDirectory()
        let txs = [fixture.notarize(sequence: 1, label: "a"), fixture.notarize(sequence: 2, label: "b")]
        let digest = try NotarizePayload.decode(canonical: txs[0].payload).digest
        let second = try NotarizePayload.decode(canonical: txs[1].payload).digest
        var timestamp: UInt64 = 0
        do {
            let executor = try open(directory)
            let block = fixture.child(
                of: fixture.genesisBlock, parentCertificate: genesisQC, round: 1, transactions: txs, executor: executor)
            timestamp = block.header.timestamp
            try executor.execute(block)
            try executor.commit(block, certificate: fixture.certificate(for: block.header))
            #expect(executor.committedHeader.height == 1)
        }
        let reopened = try open(directory)
        #expect(reopened.committedHeader.height == 1)
        #expect(reopened.committedNextSequence(of: fixture.adminKeys[0].publicKey) == 3)
        #expect(reopened.committedNextSequence(of: fixture.adminKeys[1].publicKey) == 1)
        #expect(reopened.location(of: txs[1].id) == TransactionLocation(height: 1, index: 1))
        #expect(reopened.location(of: fixture.notarize(sequence: 3).id) == nil)
        #expect(
            reopened.notarization(of: digest)
                == NotarizationRecord(
                    digest: digest, label: "a", signer: fixture.adminKeys[0].publicKey, transactionID: txs[0].id,
                    height: 1, timestamp: timestamp))
        #expect(reopened.notarization(of: second)?.label == "b")
        #expect(reopened.notarization(of: second)?.transactionID == txs[1].id)
        // The state keeps only where the transaction sits; the record is read back from the block.
        let stored = try #require(try reopened.store.database.get(StateKeys.notarization(second)))
        #expect(try NotarizationEntry.decode(canonical: stored) == NotarizationEntry(height: 1, index: 1))
        #expect(stored.count == 2)
    }

    @Test("a notarization entry that leads to another digest's transaction, or past the block, answers nothing")
    func notarizationEntryMustMatchItsBlock() throws {
        let executor = try open(TemporaryDirectory())
        let tx = fixture.notarize(sequence: 1, label: "a")
        let block = fixture.child(
            of: fixture.genesisBlock, parentCertificate: genesisQC, round: 1, transactions: [tx], executor: executor)
        try executor.execute(block)
        try executor.commit(block, certificate: fixture.certificate(for: block.header))
        let database = executor.store.database
        let elsewhere = SHA256.hash(Array("never notarized".utf8))
        try database.put(
            key: StateKeys.notarization(elsewhere), value: NotarizationEntry(height: 1, index: 0).canonicalBytes)
        #expect(executor.notarization(of: elsewhere) == nil)
        let digest = try NotarizePayload.decode(canonical: tx.payload).digest
        try database.put(
            key: StateKeys.notarization(digest), value: NotarizationEntry(height: 1, index: 1).canonicalBytes)
        #expect(executor.notarization(of: digest) == nil)
        try database.put(
            key: StateKeys.notarization(digest), value: NotarizationEntry(height: 2, index: 0).canonicalBytes)
        #expect(executor.notarization(of: digest) == nil)
        try database.put(
            key: StateKeys.notarization(digest), value: NotarizationEntry(height: 1, index: 0).canonicalBytes)
        #expect(executor.notarization(of: digest)?.label == "a")
    }

    @Test("a committed key that earlier blocks read is read with its new value once a block wrote it")
    func committedReadsFollowCommits() throws {
        let executor = try open(TemporaryDirectory())
        var parent = fixture.genesisBlock
        var certificate = genesisQC
        // Each block reads its signer's sequence number from committed state, which the block before it wrote: a
        // read remembered from an earlier block and not updated by the commit would expect sequence 1 again.
        for round in UInt64(1)...3 {
            let block = fixture.child(
                of: parent, parentCertificate: certificate, round: round,
                transactions: [fixture.notarize(sequence: round, label: "block \(round)")], executor: executor)
            try executor.execute(block)
            let qc = fixture.certificate(for: block.header)
            try executor.commit(block, certificate: qc)
            parent = block
            certificate = qc
        }
        #expect(executor.committedHeader.height == 3)
        #expect(executor.committedNextSequence(of: fixture.adminKeys[0].publicKey) == 4)
        #expect(!executor.lastCommitChangedRoles)
    }

    @Test("a wrong sequence number makes the block invalid, naming the transaction")
    func wrongSequence() throws {
        let directory = TemporaryDirectory()
        let executor = try open(directory)
        let block = fixture.child(
            of: fixture.genesisBlock, parentCertificate: genesisQC, round: 1,
            transactions: [fixture.notarize(sequence: 2)], executor: executor)
        let error = #expect(throws: ExecutionError.self) { try executor.execute(block) }
        #expect(error?.field == "block.transactions[0].sequence")
        #expect(!executor.hasExecuted(block.id))
    }

    @Test("a signer the ledger does not authorize commits as failed: its sequence is used, nothing else changes")
    func unauthorizedSigner() throws {
        let executor = try open(TemporaryDirectory())
        let digest = SHA256.hash([1])
        let payload = try NotarizePayload(digest: digest, label: "")
        let tx = Transaction(
            chainID: fixture.chainID, sequence: 1, kind: .notarize, payload: payload.canonicalBytes,
            signedBy: fixture.validatorKeys[0])
        let block = fixture.child(
            of: fixture.genesisBlock, parentCertificate: genesisQC, round: 1, transactions: [tx], executor: executor)
        try executor.execute(block)
        try executor.commit(block, certificate: fixture.certificate(for: block.header))
        #expect(executor.location(of: tx.id)?.failure?.code == "unauthorized")
        #expect(executor.notarization(of: digest) == nil)
        #expect(executor.committedNextSequence(of: fixture.validatorKeys[0].publicKey) == 2)
        #expect(executor.isAuthorized(signer: fixture.adminKeys[0].publicKey, kind: .notarize))
        #expect(executor.isAuthorized(signer: fixture.adminKeys[0].publicKey, kind: .incidentReport))
        #expect(!executor.isAuthorized(signer: fixture.validatorKeys[0].publicKey, kind: .notarize))
    }

    @Test("a transaction whose signature does not verify is refused")
    func badSignature() throws {
        let executor = try open(TemporaryDirectory())
        let good = fixture.notarize(sequence: 1)
        let other = fixture.notarize(sequence: 1, label: "other")
        let forged = Transaction(
            chainID: good.chainID, signer: good.signer, sequence: good.sequence, kind: good.kind,
            payload: other.payload, signature: good.signature)
        let block = fixture.child(
            of: fixture.genesisBlock, parentCertificate: genesisQC, round: 1, transactions: [forged], executor: executor
        )
        let error = #expect(throws: ExecutionError.self) { try executor.execute(block) }
        #expect(error?.field == "block.transactions[0].signature")
    }

    @Test("a state root that does not follow from the parent is refused")
    func wrongStateRoot() throws {
        let executor = try open(TemporaryDirectory())
        let block = fixture.child(of: fixture.genesisBlock, parentCertificate: genesisQC, round: 1)
        let error = #expect(throws: ExecutionError.self) { try executor.execute(block) }
        #expect(error?.field == "block.header.stateRoot")
    }

    @Test("sequences carry through uncommitted ancestors, and selection skips what does not follow")
    func speculativeChain() throws {
        let executor = try open(TemporaryDirectory())
        let first = fixture.child(
            of: fixture.genesisBlock, parentCertificate: genesisQC, round: 1,
            transactions: [fixture.notarize(sequence: 1)], executor: executor)
        try executor.execute(first)
        let firstQC = fixture.certificate(for: first.header)
        // The child must continue at sequence 2, not restart at 1.
        let replay = fixture.child(
            of: first, parentCertificate: firstQC, round: 2, transactions: [fixture.notarize(sequence: 1)],
            executor: executor)
        #expect(throws: ExecutionError.self) { try executor.execute(replay) }
        let candidates = [
            fixture.notarize(sequence: 1), fixture.notarize(sequence: 2), fixture.notarize(sequence: 4),
            fixture.notarize(admin: 1, sequence: 1),
        ]
        let chosen = executor.selectExecutable(candidates, parentID: first.id)
        #expect(chosen.map(\.id) == [candidates[1].id, candidates[3].id])
        let second = fixture.child(
            of: first, parentCertificate: firstQC, round: 2, transactions: chosen, executor: executor)
        try executor.execute(second)
        #expect(executor.uncommittedTransactionIDs(through: second.id) == Set([candidates[0].id] + chosen.map(\.id)))
    }

    @Test("committing a block that was not executed on the tip is refused and changes nothing")
    func commitWithoutExecution() throws {
        let directory = TemporaryDirectory()
        let executor = try open(directory)
        let block = fixture.child(of: fixture.genesisBlock, parentCertificate: genesisQC, round: 1, executor: executor)
        #expect(throws: ApplicationStateError.self) {
            try executor.commit(block, certificate: fixture.certificate(for: block.header))
        }
        #expect(executor.committedHeader.height == 0)
        #expect(try executor.store.block(atHeight: 1) == nil)
    }

    @Test("a data directory of another chain is refused")
    func otherChain() throws {
        let directory = TemporaryDirectory()
        _ = try open(directory)
        let other = ChainFixture(validatorCount: 5)
        let database = try LevelDB(path: directory.path + "/ledger")
        let store = try BlockStore(database: database)
        #expect(throws: ApplicationStateError.self) {
            try LedgerExecutor(genesis: other.genesis, genesisBlock: other.genesisBlock, store: store)
        }
    }

    @Test("a block on a fork cut off from the committed tip does not execute")
    func forkCutOff() throws {
        let executor = try open(TemporaryDirectory())
        let kept = fixture.child(of: fixture.genesisBlock, parentCertificate: genesisQC, round: 1, executor: executor)
        let sibling = fixture.child(
            of: fixture.genesisBlock, parentCertificate: genesisQC, round: 2, executor: executor)
        try executor.execute(kept)
        try executor.execute(sibling)
        let siblingQC = fixture.certificate(for: sibling.header)
        let lost = fixture.child(of: sibling, parentCertificate: siblingQC, round: 3, executor: executor)
        try executor.execute(lost)
        try executor.commit(kept, certificate: fixture.certificate(for: kept.header))
        // `lost` (height 2) is still remembered, but its parent, a sibling of the committed block, is not.
        let onLost = fixture.child(of: lost, parentCertificate: fixture.certificate(for: lost.header), round: 4)
        let error = #expect(throws: ExecutionError.self) { try executor.execute(onLost) }
        #expect(error?.reason == "does not descend from the committed tip")
    }
}
