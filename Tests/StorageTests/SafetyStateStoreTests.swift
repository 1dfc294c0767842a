import Codec
import Consensus
import EnsureCrypto
import Foundation
import Ledger
import Storage
import Testing

/// The validator's safety state in LevelDB: round trips, survives reopening, refuses corrupt records, keeps the
/// previous state when a write fails, and stops a restarted validator from signing twice in a round.
@Suite struct SafetyStateStoreTests {
    let chain = ChainBuilder(chainID: "safety-test")

    /// A state with a vote and a timeout, so every optional field is written.
    private func sampleState() -> SafetyState {
        let blocks = chain.chain(blocks: 2)
        let vote = Vote(
            data: VoteData(
                chainID: chain.chainID, epoch: 0, round: 2, height: 2, blockID: blocks[2].block.id),
            signedBy: chain.key)
        let timeout = Timeout(
            data: TimeoutData(chainID: chain.chainID, epoch: 0, round: 3, highQCRound: 2),
            highQC: blocks[2].certificate, signedBy: chain.key)
        var state = SafetyState.initial(epoch: 0)
        state.lastVotedRound = 3
        state.preferredRound = 1
        state.lastTimeoutRound = 3
        state.lastProposedRound = 2
        state.lastVote = vote
        state.lastTimeout = timeout
        return state
    }

    /// The reason of the ``SafetyPersistenceError`` `body` throws; nil when it throws nothing (or another error).
    private func persistenceReason(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch {
            return (error as? SafetyPersistenceError)?.reason
        }
    }

    @Test func roundTripsTheState() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = LevelDBSafetyStateStore(database: try LevelDB(path: directory.path("db")))
        #expect(try store.load() == nil, "a fresh database holds no state")
        let state = sampleState()
        try store.store(state)
        #expect(try store.load() == state)
        var later = state
        later.lastVotedRound = 9
        later.lastVote = nil
        try store.store(later)
        #expect(try store.load() == later, "a store replaces the previous state")
    }

    @Test func stateSurvivesClosingAndReopening() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("db")
        let state = sampleState()
        try storeAndClose(state, at: path)
        let reopened = LevelDBSafetyStateStore(database: try LevelDB(path: path))
        #expect(try reopened.load() == state)
        #expect(try reopened.database.get(StorageKeyspace.safetyStateKey) == state.canonicalBytes)
    }

    /// Opens, stores and lets the handle go, which closes the database.
    private func storeAndClose(_ state: SafetyState, at path: String) throws {
        let store = LevelDBSafetyStateStore(database: try LevelDB(path: path))
        try store.store(state)
    }

    @Test(arguments: ["garbage", "truncated", "trailing", "version"])
    func corruptRecordIsRefusedNamingTheKey(damage: String) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let database = try LevelDB(path: directory.path("db"))
        let good = sampleState().canonicalBytes
        let bad: [UInt8]
        switch damage {
        case "garbage": bad = [0xff, 0x13, 0x37]
        case "truncated": bad = Array(good.dropLast(5))
        case "trailing": bad = good + [0]
        default: bad = [99] + good.dropFirst()
        }
        try database.put(key: StorageKeyspace.safetyStateKey, value: bad)
        let store = LevelDBSafetyStateStore(database: database)
        let failure = persistenceReason { _ = try store.load() }
        let reason = try #require(failure)
        #expect(reason.contains("safety/state"), "the error names the key: \(reason)")
        #expect(reason.contains(directory.path("db")), "and the database: \(reason)")
        // A validator refuses to start from it rather than sign from a state it cannot read.
        #expect(throws: SafetyRulesError.self) {
            _ = try SafetyRules(signer: Ed25519ConsensusSigner(key: chain.key), persistence: store)
        }
    }

    @Test func failedStoreLeavesThePreviousStateReadable() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("db")
        let database = try LevelDB(path: path, options: LevelDBOptions(writeBufferBytes: 64 << 10))
        let store = LevelDBSafetyStateStore(database: database)
        let previous = sampleState()
        try store.store(previous)
        // Fill the write buffer, so the next write must start a new log file, and put a directory where every
        // log file LevelDB could create next would go: the next write fails with an I/O error.
        try database.put(key: bytes("filler"), value: [UInt8](repeating: 7, count: 128 << 10), sync: false)
        let blockers = try blockNextLogFiles(in: path)
        var next = previous
        next.lastVotedRound = 4
        let failure = persistenceReason { try store.store(next) }
        let reason = try #require(failure, "the write must fail")
        #expect(reason.contains("safety/state"), "\(reason)")
        #expect(try store.load() == previous)
        for blocker in blockers { try FileManager.default.removeItem(atPath: blocker) }
        try store.store(next)
        #expect(try store.load() == next, "once the disk works again, stores land")
    }

    /// Creates directories named like the next log files of the database at `path`; returns their paths.
    private func blockNextLogFiles(in path: String) throws -> [String] {
        let numbers = try FileManager.default.contentsOfDirectory(atPath: path).compactMap { name in
            UInt64(name.split(whereSeparator: { !$0.isNumber }).last ?? "")
        }
        let highest = numbers.max() ?? 0
        return try (highest + 1...highest + 32).map { number in
            let name = String(number)
            let blocker = path + "/" + String(repeating: "0", count: max(0, 6 - name.count)) + name + ".log"
            try FileManager.default.createDirectory(atPath: blocker, withIntermediateDirectories: false)
            return blocker
        }
    }

    @Test func restartedValidatorRefusesToVoteAgainInTheVotedRound() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("db")
        let blocks = chain.chain(blocks: 1)
        let block = blocks[1].block
        let conflicting = chain.block(
            with: chain.header(height: 1, parentID: blocks[0].block.id, transactions: []),
            justify: blocks[0].certificate
        ).block
        #expect(conflicting.id != block.id)
        let signer = Ed25519ConsensusSigner(key: chain.key)
        let first = try voteAndClose(for: block, signer: signer, at: path)

        let restarted = try SafetyRules(
            signer: signer, persistence: LevelDBSafetyStateStore(database: try LevelDB(path: path)))
        #expect(restarted.state.lastVotedRound == 1)
        #expect(throws: SafetyRulesError.alreadyVoted(round: 1, lastVotedRound: 1)) {
            _ = try restarted.signVote(for: conflicting, timeoutCertificate: nil)
        }
        #expect(try restarted.signVote(for: block, timeoutCertificate: nil) == first, "the same vote, re-sent")
    }

    /// Votes for `block` through rules on a fresh database at `path`, then closes it.
    private func voteAndClose(for block: Block, signer: Ed25519ConsensusSigner, at path: String) throws -> Vote {
        let rules = try SafetyRules(
            signer: signer, persistence: LevelDBSafetyStateStore(database: try LevelDB(path: path)))
        #expect(rules.state == .initial(epoch: 0), "a fresh database: nothing signed yet")
        return try rules.signVote(for: block, timeoutCertificate: nil)
    }
}
