import Codec
import Consensus
import Daemon
import EnsureCrypto
import Foundation
import Ledger
import Storage
import Testing

/// The validator's safety state in the proposal journal: what a reopen reads, what survives a rewrite and a torn
/// tail, the move from LevelDB's `safety/state`, the earlier file format, and the refusals that keep a validator
/// from signing twice.
@Suite("Safety state in the proposal journal")
struct JournalSafetyStateTests {
    let fixture = ChainFixture()

    /// A proposal of a child of genesis in `round`, carrying `transactions` notarizations.
    func proposal(round: UInt64, transactions: Int = 2) -> Proposal {
        let parentQC = QuorumCertificate.genesis(chainID: fixture.chainID, blockID: fixture.genesisBlock.id)
        let txs = (0..<transactions).map { fixture.notarize(sequence: round * 1_000 + UInt64($0), label: "safety") }
        let block = fixture.child(
            of: fixture.genesisBlock, parentCertificate: parentQC, round: round, transactions: txs)
        return Proposal(
            block: block, timeoutCertificate: nil,
            signature: fixture.validatorKeys[0].signature(
                for: Proposal.signingBytes(blockID: block.id), domain: .proposal))
    }

    /// A state that voted in `round`, with its vote, so the optional fields are written too.
    func state(votedIn round: UInt64) -> SafetyState {
        let block = proposal(round: round, transactions: 0).block
        let data = VoteData(
            chainID: fixture.chainID, epoch: 0, round: round, height: block.header.height, blockID: block.id)
        var state = SafetyState.initial(epoch: 0)
        state.lastVotedRound = round
        state.preferredRound = round - 1
        state.lastProposedRound = round - 1
        state.lastVote = Vote(data: data, signedBy: fixture.validatorKeys[0])
        return state
    }

    func open(_ directory: TemporaryDirectory, rewriteBytes: Int = ProposalJournal.defaultRewriteBytes) throws -> (
        LevelDB, ProposalJournal
    ) {
        let database = try LevelDB(path: directory.path + "/ledger")
        return (database, try ProposalJournal(database: database, rewriteBytes: rewriteBytes))
    }

    func fileBytes(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

    /// The error `body` throws, as a description; nil when it throws nothing.
    func failure(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test("a fresh journal holds no state; the last state stored is the one a reopen reads")
    func storeAndReopen() throws {
        let directory = TemporaryDirectory()
        do {
            let (database, journal) = try open(directory)
            #expect(try journal.load() == nil)
            #expect(try database.get(StorageKeyspace.safetyInJournalKey) == nil, "nothing signed, nothing marked")
            try journal.record(proposal(round: 1))
            try journal.store(state(votedIn: 1))
            try journal.record(proposal(round: 2))
            try journal.store(state(votedIn: 2))
            #expect(try journal.load() == state(votedIn: 2))
            // The first store marks LevelDB: from now on the file must hold a state.
            #expect(
                try database.get(StorageKeyspace.safetyInJournalKey) == Array("ledger-proposals.journal".utf8))
            // The old key holds bytes no state decodes, so a node from before the move refuses to start.
            #expect(try database.get(StorageKeyspace.safetyStateKey) == ProposalJournal.movedStateTombstone)
            #expect(throws: SafetyPersistenceError.self) { try LevelDBSafetyStateStore(database: database).load() }
        }
        let (_, journal) = try open(directory)
        #expect(try journal.load() == state(votedIn: 2))
        #expect(journal.proposals(above: 0) == [proposal(round: 1), proposal(round: 2)])
        #expect(journal.truncatedBytes == 0)
    }

    @Test("a torn record after the last stored state is cut off, and the state before it survives")
    func tornTailKeepsState() throws {
        let directory = TemporaryDirectory()
        let path: String
        let lengthBefore: Int
        do {
            let (_, journal) = try open(directory)
            path = journal.path
            try journal.store(state(votedIn: 3))
            lengthBefore = try fileBytes(path).count
            // Written, never synced: a crash may leave any prefix of it.
            try journal.record(proposal(round: 4))
        }
        let whole = try fileBytes(path)
        try Data(whole.prefix(whole.count - 7)).write(to: URL(fileURLWithPath: path))
        let (_, journal) = try open(directory)
        #expect(try journal.load() == state(votedIn: 3))
        #expect(journal.proposals(above: 0).isEmpty)
        #expect(journal.truncatedBytes == whole.count - 7 - lengthBefore)
        #expect(try fileBytes(path).count == lengthBefore, "the cut is on disk")
    }

    @Test("a rewrite keeps the state with the live proposals, and the file reads back the same")
    func rewriteKeepsState() throws {
        let directory = TemporaryDirectory()
        let path: String
        do {
            let (_, journal) = try open(directory, rewriteBytes: 32 << 10)
            path = journal.path
            for round in 1...12 {
                try journal.record(proposal(round: UInt64(round), transactions: 20))
                try journal.store(state(votedIn: UInt64(round)))
            }
            let before = try fileBytes(path).count
            #expect(before >= 32 << 10)
            journal.prune(throughRound: 11)
            #expect(try fileBytes(path).count < before / 4, "rewritten")
        }
        do {
            let (_, journal) = try open(directory)
            #expect(try journal.load() == state(votedIn: 12))
            #expect(journal.proposals(above: 0) == [proposal(round: 12, transactions: 20)])
            try journal.store(state(votedIn: 13))
        }
        let (_, journal) = try open(directory)
        #expect(try journal.load() == state(votedIn: 13), "appends go after the rewritten records")
    }

    @Test("a state an older node kept in LevelDB moves into the file; the old key is deleted and the move marked")
    func migratesFromLevelDB() throws {
        let directory = TemporaryDirectory()
        do {
            let database = try LevelDB(path: directory.path + "/ledger")
            try LevelDBSafetyStateStore(database: database).store(state(votedIn: 5))
        }
        do {
            let (database, journal) = try open(directory)
            #expect(try journal.load() == state(votedIn: 5))
            #expect(try database.get(StorageKeyspace.safetyStateKey) == ProposalJournal.movedStateTombstone)
            #expect(try database.get(StorageKeyspace.safetyInJournalKey) != nil)
        }
        let (_, journal) = try open(directory)
        #expect(try journal.load() == state(votedIn: 5))
    }

    @Test("a move a crash interrupted finishes: the file's state wins over the one left in LevelDB")
    func interruptedMigration() throws {
        let directory = TemporaryDirectory()
        do {
            let (database, journal) = try open(directory)
            try journal.store(state(votedIn: 7))
            // As if the crash came after the file's sync and before LevelDB's batch: the old key still holds an
            // older state and the mark is missing.
            try database.put(key: StorageKeyspace.safetyStateKey, value: state(votedIn: 6).canonicalBytes, sync: true)
            try database.delete(key: StorageKeyspace.safetyInJournalKey, sync: true)
        }
        do {
            let (database, journal) = try open(directory)
            #expect(try journal.load() == state(votedIn: 7))
            #expect(try database.get(StorageKeyspace.safetyStateKey) == ProposalJournal.movedStateTombstone)
            #expect(try database.get(StorageKeyspace.safetyInJournalKey) != nil)
        }
    }

    @Test("a state that moved into the file is refused when the file is gone, and a fresh node still starts")
    func missingFileIsRefused() throws {
        let directory = TemporaryDirectory()
        let path: String
        do {
            let (_, journal) = try open(directory)
            path = journal.path
            try journal.store(state(votedIn: 2))
        }
        try FileManager.default.removeItem(atPath: path)
        let (_, journal) = try open(directory)
        let reason = try #require(failure { _ = try journal.load() })
        #expect(reason.contains(path), "names the file: \(reason)")
        #expect(reason.contains("safety/in-journal"), "and the key that says the state was there: \(reason)")
        // A validator refuses to start from it rather than sign from an empty state.
        #expect(throws: SafetyRulesError.self) {
            _ = try SafetyRules(signer: Ed25519ConsensusSigner(key: fixture.validatorKeys[0]), persistence: journal)
        }

        // Without the mark, an empty journal is simply a node that never signed.
        let fresh = TemporaryDirectory()
        let (_, unmarked) = try open(fresh)
        #expect(try unmarked.load() == nil)
    }

    @Test("a corrupt state left in LevelDB by an older node stops the open, naming the key")
    func corruptLegacyState() throws {
        let directory = TemporaryDirectory()
        let database = try LevelDB(path: directory.path + "/ledger")
        try database.put(key: StorageKeyspace.safetyStateKey, value: [0xff, 0x13, 0x37], sync: true)
        do {
            _ = try ProposalJournal(database: database)
            Issue.record("a journal opened over a corrupt safety/state")
        } catch {
            #expect(error.operation == "migrate")
            #expect(error.description.contains("safety/state"), "\(error)")
        }
        #expect(try database.get(StorageKeyspace.safetyStateKey) == [0xff, 0x13, 0x37], "left as it was")
    }

    @Test("a file in the format before the safety state opens: its proposals are kept and it is rewritten")
    func proposalsOnlyFormat() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/ledger-proposals.journal"
        let proposals = [proposal(round: 1), proposal(round: 2)]
        try writeProposalsOnlyFile(at: path, proposals)
        do {
            let (_, journal) = try open(directory)
            #expect(journal.proposals(above: 0) == proposals)
            #expect(try journal.load() == nil)
            #expect(Array(try fileBytes(path).prefix(8)) == Array("ENSJRNL2".utf8))
            try journal.store(state(votedIn: 3))
        }
        let (_, journal) = try open(directory)
        #expect(journal.proposals(above: 0) == proposals)
        #expect(try journal.load() == state(votedIn: 3))
    }

    /// A journal file in the format before the safety state (`ENSJRNL1`): every record a bare proposal.
    func writeProposalsOnlyFile(at path: String, _ proposals: [Proposal]) throws {
        var bytes = Array("ENSJRNL1".utf8)
        for proposal in proposals {
            let payload = ConsensusMessage.proposal(proposal).canonicalBytes
            let length = UInt32(payload.count)
            bytes += [UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)]
            bytes += SHA256.hash(payload).bytes + payload
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// A journal file holding one whole record of `type` with `body`.
    func writeFile(at path: String, type: UInt8, body: [UInt8]) throws {
        let payload = [type] + body
        let length = UInt32(payload.count)
        var bytes = Array("ENSJRNL2".utf8)
        bytes += [UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)]
        bytes += SHA256.hash(payload).bytes + payload
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    @Test(
        "a whole record this build cannot read is refused, not cut off, and the file is left as it was",
        arguments: ["unknown type", "state does not decode", "proposal does not decode"])
    func unreadableWholeRecord(kind: String) throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/ledger-proposals.journal"
        switch kind {
        case "unknown type": try writeFile(at: path, type: 9, body: [1, 2, 3])
        case "state does not decode": try writeFile(at: path, type: 2, body: [99] + state(votedIn: 2).canonicalBytes)
        case "proposal does not decode": try writeFile(at: path, type: 1, body: [0xff, 0xee])
        default: Issue.record("no file for \(kind)")
        }
        let before = try fileBytes(path)
        let database = try LevelDB(path: directory.path + "/ledger")
        do {
            _ = try ProposalJournal(database: database)
            Issue.record("opened a journal with an unreadable record (\(kind))")
        } catch {
            #expect(error.path == path && error.operation == "open")
            #expect(error.description.contains("offset 8"), "names where: \(error)")
        }
        #expect(try fileBytes(path) == before)
    }

    @Test("a validator restarted on the journal refuses a second vote in the round it voted, and re-sends its vote")
    func restartedValidatorDoesNotVoteTwice() throws {
        let directory = TemporaryDirectory()
        let signer = Ed25519ConsensusSigner(key: fixture.validatorKeys[1])
        let parentQC = QuorumCertificate.genesis(chainID: fixture.chainID, blockID: fixture.genesisBlock.id)
        let block = fixture.child(of: fixture.genesisBlock, parentCertificate: parentQC, round: 1, transactions: [])
        let conflicting = fixture.child(
            of: fixture.genesisBlock, parentCertificate: parentQC, round: 1,
            transactions: [fixture.notarize(sequence: 1)])
        #expect(conflicting.id != block.id)
        let first: Vote
        do {
            let (_, journal) = try open(directory)
            let rules = try SafetyRules(signer: signer, persistence: journal)
            #expect(rules.state == .initial(epoch: 0))
            first = try rules.signVote(for: block, timeoutCertificate: nil)
        }
        let (_, journal) = try open(directory)
        let restarted = try SafetyRules(signer: signer, persistence: journal)
        #expect(restarted.state.lastVotedRound == 1)
        #expect(throws: SafetyRulesError.alreadyVoted(round: 1, lastVotedRound: 1)) {
            _ = try restarted.signVote(for: conflicting, timeoutCertificate: nil)
        }
        #expect(try restarted.signVote(for: block, timeoutCertificate: nil) == first, "the same vote, re-sent")
    }

    @Test("a proposal is written without a sync; the next stored state syncs it with itself, once")
    func oneSyncPerStoredState() throws {
        let directory = TemporaryDirectory()
        let (_, journal) = try open(directory)
        let opened = journal.dataSyncs
        try journal.record(proposal(round: 1))
        try journal.record(proposal(round: 2))
        #expect(journal.dataSyncs == opened, "recording does not sync")
        try journal.store(state(votedIn: 2))
        #expect(journal.dataSyncs == opened + 1, "the state's sync covers the proposals before it")
        try journal.sync()
        #expect(journal.dataSyncs == opened + 1, "nothing pending, nothing synced")
        try journal.record(proposal(round: 3))
        try journal.sync()
        #expect(journal.dataSyncs == opened + 2)
    }

    @Test("after a failed write every later write is refused, and a reopen reads the state stored before it")
    func failedWriteIsLatched() throws {
        let directory = TemporaryDirectory()
        do {
            let (_, journal) = try open(directory)
            try journal.store(state(votedIn: 1))
            #expect(journal.failure == nil)
            journal.failNextAppend()
            #expect(throws: SafetyPersistenceError.self) { try journal.store(state(votedIn: 2)) }
            #expect(journal.failure?.operation == "write")
            #expect(try journal.load() == state(votedIn: 1), "the failed state is not the state")
            // Refused from now on, though the disk would take them.
            #expect(throws: SafetyPersistenceError.self) { try journal.store(state(votedIn: 3)) }
            #expect(throws: ProposalJournalError.self) { try journal.record(proposal(round: 4)) }
            #expect(throws: ProposalJournalError.self) { try journal.sync() }
            let rules = try SafetyRules(
                signer: Ed25519ConsensusSigner(key: fixture.validatorKeys[0]), persistence: journal)
            let parentQC = QuorumCertificate.genesis(chainID: fixture.chainID, blockID: fixture.genesisBlock.id)
            let block = fixture.child(of: fixture.genesisBlock, parentCertificate: parentQC, round: 2)
            #expect(throws: SafetyRulesError.self, "nothing is signed") {
                _ = try rules.signVote(for: block, timeoutCertificate: nil)
            }
        }
        let (_, journal) = try open(directory)
        #expect(journal.failure == nil)
        #expect(try journal.load() == state(votedIn: 1))
        #expect(journal.proposals(above: 0).isEmpty)
    }

    @Test("a damaged record before newer states is cut off, and the newest state behind it is kept")
    func damagedRecordBeforeNewerStates() throws {
        let directory = TemporaryDirectory()
        let path: String
        let damageAt: Int
        do {
            let (_, journal) = try open(directory)
            path = journal.path
            try journal.store(state(votedIn: 1))
            damageAt = try fileBytes(path).count + 60
            try journal.record(proposal(round: 2))
            try journal.store(state(votedIn: 2))
            try journal.store(state(votedIn: 3))
        }
        var bytes = try fileBytes(path)
        bytes[damageAt] ^= 0x10
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        do {
            let (_, journal) = try open(directory)
            #expect(journal.truncatedBytes > 0)
            #expect(try journal.load() == state(votedIn: 3), "not the older state before the damage")
            #expect(journal.proposals(above: 0).isEmpty)
        }
        // The kept state was written again after the cut, so it no longer depends on the damaged part.
        let (_, journal) = try open(directory)
        #expect(journal.truncatedBytes == 0)
        #expect(try journal.load() == state(votedIn: 3))
    }

    @Test("an upgrade from a proposals-only file and a state in LevelDB keeps both")
    func upgradeFromBothEarlierLocations() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/ledger-proposals.journal"
        let kept = proposal(round: 4)
        try writeProposalsOnlyFile(at: path, [kept])
        do {
            let database = try LevelDB(path: directory.path + "/ledger")
            try LevelDBSafetyStateStore(database: database).store(state(votedIn: 4))
        }
        do {
            let (database, journal) = try open(directory)
            #expect(journal.proposals(above: 0) == [kept])
            #expect(try journal.load() == state(votedIn: 4))
            #expect(try database.get(StorageKeyspace.safetyStateKey) == ProposalJournal.movedStateTombstone)
        }
        let (_, journal) = try open(directory)
        #expect(Array(try fileBytes(path).prefix(8)) == Array("ENSJRNL2".utf8))
        #expect(journal.proposals(above: 0) == [kept])
        #expect(try journal.load() == state(votedIn: 4))
    }
}
