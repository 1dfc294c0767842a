import Codec
import Consensus
import Daemon
import EnsureCrypto
import Foundation
import Ledger
import Storage
import Testing

/// The proposal journal's file: what a restart reads back, what a crash mid-write leaves, pruning, the rewrite,
/// and proposals an older node kept in LevelDB.
@Suite("Proposal journal")
struct ProposalJournalTests {
    let fixture = ChainFixture()

    /// Proposals on a chain of certified blocks in rounds 1, 2, ..., each carrying `transactions` notarizations.
    func proposals(_ count: Int, transactions: Int = 2) -> [Proposal] {
        var parent = fixture.genesisBlock
        var parentQC = QuorumCertificate.genesis(chainID: fixture.chainID, blockID: parent.id)
        var result: [Proposal] = []
        for round in 1...UInt64(count) {
            let txs = (0..<transactions).map {
                fixture.notarize(sequence: round * 1_000 + UInt64($0), label: "journal")
            }
            let block = fixture.child(of: parent, parentCertificate: parentQC, round: round, transactions: txs)
            let proposer = fixture.validatorKeys[Int(round % UInt64(fixture.validatorKeys.count))]
            result.append(
                Proposal(
                    block: block, timeoutCertificate: nil,
                    signature: proposer.signature(for: Proposal.signingBytes(blockID: block.id), domain: .proposal)))
            parent = block
            parentQC = fixture.certificate(for: block.header)
        }
        return result
    }

    func open(_ directory: TemporaryDirectory, rewriteBytes: Int = ProposalJournal.defaultRewriteBytes) throws -> (
        LevelDB, ProposalJournal
    ) {
        let database = try LevelDB(path: directory.path + "/ledger")
        return (database, try ProposalJournal(database: database, rewriteBytes: rewriteBytes))
    }

    /// Records `proposals` in a journal in `directory`, closes it and returns its file's path.
    func record(_ proposals: some Sequence<Proposal>, in directory: TemporaryDirectory) throws -> String {
        let (_, journal) = try open(directory)
        for proposal in proposals { try journal.record(proposal) }
        return journal.path
    }

    @Test("recorded proposals come back after a reopen, in round order, above the round asked for")
    func reopen() throws {
        let directory = TemporaryDirectory()
        let all = proposals(4)
        do {
            let (_, journal) = try open(directory)
            #expect(journal.path == directory.path + "/ledger-proposals.journal")
            for proposal in all.reversed() { try journal.record(proposal) }
            // A second record of the same proposal is not a second entry.
            try journal.record(all[0])
        }
        let (_, journal) = try open(directory)
        #expect(journal.proposals(above: 0) == all)
        #expect(journal.proposals(above: 2) == Array(all[2...]))
        #expect(journal.proposals(above: 4).isEmpty)
        let mode = try FileManager.default.attributesOfItem(atPath: journal.path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test("pruning forgets the rounds at or below a commit, and the pruned stay forgotten after a reopen")
    func prune() throws {
        let directory = TemporaryDirectory()
        let all = proposals(5)
        do {
            let (_, journal) = try open(directory)
            for proposal in all { try journal.record(proposal) }
            journal.prune(throughRound: 3)
            #expect(journal.proposals(above: 0) == Array(all[3...]))
        }
        // The file still holds the pruned records (no rewrite below the threshold), so a reopen reads them back:
        // the engine asks only for rounds above its committed tip, which is how they stay out.
        let (_, journal) = try open(directory)
        #expect(journal.proposals(above: 3) == Array(all[3...]))
    }

    @Test("a record cut short by a crash is dropped at the next open, and later records append after the cut")
    func tornTail() throws {
        let directory = TemporaryDirectory()
        let all = proposals(3)
        let path = try record(all.prefix(2), in: directory)
        let whole = try Data(contentsOf: URL(fileURLWithPath: path))
        // Cut the second record in the middle of its payload.
        try whole.prefix(whole.count - 10).write(to: URL(fileURLWithPath: path))
        do {
            let (_, journal) = try open(directory)
            #expect(journal.proposals(above: 0) == [all[0]])
            try journal.record(all[2])
        }
        let (_, journal) = try open(directory)
        #expect(journal.proposals(above: 0) == [all[0], all[2]])
    }

    @Test("a record whose bytes changed on disk fails its digest and ends the journal there")
    func corruptRecord() throws {
        let directory = TemporaryDirectory()
        let all = proposals(2)
        let path = try record(all.prefix(2), in: directory)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        // Flip a byte in the last record's payload.
        bytes[bytes.count - 5] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let (_, journal) = try open(directory)
        #expect(journal.proposals(above: 0) == [all[0]])
    }

    @Test("a file that is not a journal is refused with its path named, and left as it was")
    func foreignFile() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/ledger-proposals.journal"
        let foreign = Data("not a journal at all".utf8)
        try foreign.write(to: URL(fileURLWithPath: path))
        let database = try LevelDB(path: directory.path + "/ledger")
        #expect(throws: ProposalJournalError.self) { try ProposalJournal(database: database) }
        do {
            _ = try ProposalJournal(database: database)
        } catch {
            #expect(error.path == path && error.operation == "open")
            #expect(error.description.contains("ENSJRNL1"))
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == foreign)
    }

    @Test("a file created by a node killed before its magic was whole opens as an empty journal")
    func partialMagic() throws {
        let directory = TemporaryDirectory()
        try Data("ENSJ".utf8).write(to: URL(fileURLWithPath: directory.path + "/ledger-proposals.journal"))
        let (_, journal) = try open(directory)
        #expect(journal.proposals(above: 0).isEmpty)
        let all = proposals(1)
        try journal.record(all[0])
        #expect(journal.proposals(above: 0) == all)
    }

    @Test("past the rewrite size, a prune rewrites the file with the live records only")
    func rewrite() throws {
        let directory = TemporaryDirectory()
        let all = proposals(40, transactions: 20)
        let path: String
        do {
            let (_, journal) = try open(directory, rewriteBytes: 64 << 10)
            path = journal.path
            for proposal in all { try journal.record(proposal) }
            let before = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
            #expect(before >= 64 << 10)
            // Below the threshold nothing is rewritten; past it, the prune rewrites.
            journal.prune(throughRound: 38)
            let after = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
            #expect(after < before / 10)
            #expect(journal.proposals(above: 0) == Array(all[38...]))
            #expect(!FileManager.default.fileExists(atPath: path + ".new"))
        }
        // The rewritten file reads back, and appends go after its live records.
        let (_, reopened) = try open(directory)
        #expect(reopened.proposals(above: 0) == Array(all[38...]))
        let more = proposals(41, transactions: 20)
        try reopened.record(more[40])
        #expect(reopened.proposals(above: 0) == Array(more[38...]))
    }

    @Test("proposals an older node kept in LevelDB move into the file and leave LevelDB")
    func migration() throws {
        let directory = TemporaryDirectory()
        let all = proposals(3)
        let prefix = Array("consensus/proposal/".utf8)
        do {
            let database = try LevelDB(path: directory.path + "/ledger")
            for proposal in all {
                let key = prefix + StorageKeyspace.bigEndian(proposal.block.header.round) + proposal.block.id.bytes
                try database.put(key: key, value: ConsensusMessage.proposal(proposal).canonicalBytes, sync: true)
            }
            // Something that does not decode is dropped, not moved.
            try database.put(key: prefix + [0xff], value: [1, 2, 3], sync: true)
        }
        do {
            let (database, journal) = try open(directory)
            #expect(journal.proposals(above: 0) == all)
            #expect(try database.entries(withPrefix: prefix).isEmpty)
        }
        let (_, reopened) = try open(directory)
        #expect(reopened.proposals(above: 1) == Array(all[1...]))
    }
}
