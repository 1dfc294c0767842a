import API
import Codec
import Consensus
import Daemon
import EnsureCrypto
import Foundation
import Ledger
import Logging
import Mempool
import NIOCore
import NIOPosix
import Storage
import Testing

/// Four engines wired to each other in memory (no sockets): the engine, executor, mempool and consensus core
/// together, with real LevelDB stores and real signatures.
final class EngineCluster: @unchecked Sendable {
    // Built once, then only read; the engines are actors.
    let fixture: ChainFixture
    let directories: [TemporaryDirectory]
    /// nil while an engine restarts, so the old one can release its LevelDB lock.
    /// Adjusts every engine's settings after the cluster's own.
    let configure: @Sendable (inout EngineSettings) -> Void
    var slots: [NodeEngine?] = []
    var engines: [NodeEngine] { slots.compactMap { $0 } }

    func engine(_ index: Int) -> NodeEngine { slots[index]! }
    /// One event loop per engine, as a node has: an engine pinned to a loop it shared with other tests' engines
    /// would wait behind their synced writes. Never shut down, so that a late call on a stopped engine still runs.
    static func loop() -> any EventLoop { MultiThreadedEventLoopGroup(numberOfThreads: 1).next() }
    var tickers: [Int: RepeatedTask] = [:]

    /// `count` engines, of which genesis names the first `genesisValidators` as validators.
    init(
        count: Int = 4, genesisValidators: Int? = nil, parameters: GenesisParameters = GenesisParameters(),
        configure: @escaping @Sendable (inout EngineSettings) -> Void = { _ in }
    ) throws {
        self.configure = configure
        fixture = ChainFixture(validatorCount: count, genesisValidators: genesisValidators, parameters: parameters)
        directories = (0..<count).map { _ in TemporaryDirectory() }
        for index in 0..<count { slots.append(try makeEngine(index)) }
    }

    func makeEngine(_ index: Int) throws -> NodeEngine {
        let database = try LevelDB(path: directories[index].path + "/ledger")
        let store = try BlockStore(database: database)
        var settings = EngineSettings(
            consensus: ConsensusConfiguration(
                chainID: fixture.chainID, baseTimeoutMilliseconds: 1000, maxBackoffExponent: 2),
            mempool: try MempoolConfiguration(chainID: fixture.chainID))
        settings.idleProposalDelay = .milliseconds(50)
        settings.statusInterval = .milliseconds(200)
        configure(&settings)
        var logger = Logger(label: "engine-\(index)")
        logger.logLevel = .critical
        return try NodeEngine(
            genesis: fixture.genesis, key: fixture.validatorKeys[index], store: store,
            settings: settings, logger: logger,
            eventLoop: Self.loop())
    }

    /// Starts engine `index` and routes its output to the others that are up. As in a node, a message goes from
    /// the sender's event loop to the receiver's, and the gossip flush and status tick are scheduled tasks of the
    /// engine's loop: no message or timer waits for the cooperative threads, which CPU-bound tests may keep busy.
    func start(_ index: Int) async {
        let engine = engine(index)
        let me = fixture.validatorKeys[index].publicKey
        let keys = fixture.validatorKeys.map(\.publicKey)
        await engine.setConnectedPeers(keys.filter { $0 != me })
        await engine.send { [weak self] message in
            guard let self else { return }
            switch message {
            case .send(let bytes, let peer):
                if let target = keys.firstIndex(of: peer) { self.deliver(bytes, from: me, to: target) }
            case .broadcast(let bytes):
                for target in keys.indices where keys[target] != me { self.deliver(bytes, from: me, to: target) }
            }
        }
        await engine.start()
        tickers[index] = engine.eventLoop.scheduleRepeatedTask(
            initialDelay: .milliseconds(200), delay: .milliseconds(200)
        ) { _ in
            engine.assumeIsolated { engine in
                engine.flushGossip()
                engine.tick()
            }
        }
    }

    /// Hands `bytes` from `sender` to engine `index` on its event loop, if it is up.
    private func deliver(_ bytes: [UInt8], from sender: Ed25519PublicKey, to index: Int) {
        guard let target = slots[index] else { return }
        target.eventLoop.execute { target.assumeIsolated { $0.receive(bytes, from: sender) } }
    }

    func stopAll() async {
        for engine in engines { await engine.stop() }
        for ticker in tickers.values { ticker.cancel() }
    }

    /// Stops engine `index` and opens a new one on its data directory once the old one let go of LevelDB.
    func restart(_ index: Int) async throws {
        await halt(index)
        try await reopen(index)
    }

    /// Stops engine `index` and takes it off the network.
    func halt(_ index: Int) async {
        await engine(index).stop()
        tickers[index]?.cancel()
        tickers[index] = nil
        slots[index] = nil
    }

    /// Opens engine `index` again on its data directory (not started).
    func reopen(_ index: Int) async throws {
        for attempt in 0..<100 {
            do {
                slots[index] = try makeEngine(index)
                return
            } catch {
                if attempt == 99 { throw error }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// Waits until every transaction of `ids` is committed on `engine`.
    func waitUntilCommitted(_ ids: [Digest], on engine: NodeEngine, _ what: String) async throws {
        try await waitUntil(what) {
            for id in ids {
                guard case .committed = await engine.transactionStatus(id) else { return false }
            }
            return true
        }
    }

    /// Polls `condition` until it holds. The deadline is wall time and generous on purpose: in the full suite the
    /// CPU-bound tests (simulator seeds, decoder fuzzing) keep both cooperative threads of the 2-core CI machine
    /// busy for about three minutes, and an engine cluster that starts then makes little progress until they end.
    func waitUntil(_ what: String, seconds: Double = 600, _ condition: () async -> Bool) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("timed out waiting until \(what)")
        throw CancellationError()
    }
}

@Suite("Engines over an in-memory network", .serialized)
struct EngineNetworkTests {
    @Test("four engines commit submitted notarizations with identical blocks, state and index")
    func commitTogether() async throws {
        let cluster = try EngineCluster()
        for index in 0..<4 { await cluster.start(index) }
        var ids: [Digest] = []
        for sequence in 1...30 {
            let tx = cluster.fixture.notarize(
                admin: sequence % 2, sequence: UInt64((sequence + 1) / 2), label: "tx \(sequence)")
            let result = await cluster.engine(sequence % 4).submit(transaction: tx.canonicalBytes)
            #expect(result == .accepted(id: tx.id))
            ids.append(tx.id)
        }
        try await cluster.waitUntil("all 30 transactions commit on every engine") {
            for engine in cluster.engines {
                for id in ids {
                    guard case .committed = await engine.transactionStatus(id) else { return false }
                }
            }
            return true
        }
        var lowest = UInt64.max
        for engine in cluster.engines { lowest = min(lowest, await engine.status().height) }
        for height in 1...lowest {
            var blockIDs = Set<Digest>()
            for engine in cluster.engines { blockIDs.insert(await engine.block(atHeight: height)!.block.id) }
            #expect(blockIDs.count == 1, "engines disagree at height \(height)")
        }
        // Submitting a committed transaction again changes nothing.
        let first = cluster.fixture.notarize(admin: 1, sequence: 1, label: "tx 1")
        let again = await cluster.engine(0).submit(transaction: first.canonicalBytes)
        guard case .alreadyCommitted(let id, _) = again else {
            Issue.record("expected alreadyCommitted, got \(again)")
            return
        }
        #expect(id == first.id)
        #expect(await cluster.engine(0).nextSequence(for: cluster.fixture.adminKeys[0].publicKey) == 16)
        await cluster.stopAll()
    }

    @Test("bad submissions are refused with their code and leave the mempool unchanged")
    func refusals() async throws {
        let cluster = try EngineCluster()
        let engine = cluster.engine(0)
        let fixture = cluster.fixture
        func code(_ result: SubmissionResult) -> SubmissionRejection.Code? {
            if case .rejected(let rejection) = result { return rejection.code }
            return nil
        }
        #expect(code(await engine.submit(transaction: [1, 2, 3])) == .malformed)
        let payload = try NotarizePayload(digest: SHA256.hash([7]), label: "")
        let byValidator = Transaction(
            chainID: fixture.chainID, sequence: 1, kind: .notarize, payload: payload.canonicalBytes,
            signedBy: fixture.validatorKeys[0])
        #expect(code(await engine.submit(transaction: byValidator.canonicalBytes)) == .unauthorized)
        let badPayload = Transaction(
            chainID: fixture.chainID, sequence: 1, kind: .notarize, payload: [9, 9], signedBy: fixture.adminKeys[0])
        #expect(code(await engine.submit(transaction: badPayload.canonicalBytes)) == .invalidPayload)
        let otherChain = Transaction(
            chainID: "other-chain", sequence: 1, kind: .notarize, payload: payload.canonicalBytes,
            signedBy: fixture.adminKeys[0])
        #expect(code(await engine.submit(transaction: otherChain.canonicalBytes)) == .wrongChain)
        let good = fixture.notarize(sequence: 1)
        let forged = Transaction(
            chainID: good.chainID, signer: good.signer, sequence: good.sequence, kind: good.kind,
            payload: fixture.notarize(sequence: 1, label: "x").payload, signature: good.signature)
        #expect(code(await engine.submit(transaction: forged.canonicalBytes)) == .badSignature)
        #expect(await engine.status().mempoolTransactions == 0)
        #expect(await engine.submit(transaction: good.canonicalBytes) == .accepted(id: good.id))
        #expect(await engine.status().mempoolTransactions == 1)
        #expect(await engine.transactionStatus(good.id) == .pending)
        #expect(await engine.nextSequence(for: fixture.adminKeys[0].publicKey) == 2)
        await cluster.stopAll()
    }

    @Test("a peer that connects later is sent what local clients submitted, once")
    func gossipOnConnect() async throws {
        let cluster = try EngineCluster()
        let engine = cluster.engine(0)
        let peer = cluster.fixture.validatorKeys[1].publicKey
        let tx = cluster.fixture.notarize(sequence: 1, label: "before the peer connected")
        #expect(await engine.submit(transaction: tx.canonicalBytes) == .accepted(id: tx.id))
        await engine.setConnectedPeers([peer])
        await engine.setConnectedPeers([peer])
        await engine.flushGossip()
        await engine.stop()
        var messages: [OutgoingMessage] = []
        for await message in engine.outgoing { messages.append(message) }
        // One direct send on connect, then the ordinary broadcast of the flush; the second call with the same
        // peer sends nothing.
        #expect(messages.count == 2)
        guard case .send(let bytes, let target)? = messages.first else {
            Issue.record("expected a direct send first, got \(messages)")
            return
        }
        #expect(target == peer)
        #expect(try NodeMessage.decode(canonical: bytes) == .transactions([tx]))
        guard case .broadcast? = messages.last else {
            Issue.record("expected the gossip broadcast last, got \(messages)")
            return
        }
    }

    @Test("an engine restarted on its data directory keeps its blocks and rejoins")
    func restart() async throws {
        let cluster = try EngineCluster()
        for index in 0..<4 { await cluster.start(index) }
        let tx = cluster.fixture.notarize(sequence: 1, label: "before restart")
        _ = await cluster.engine(1).submit(transaction: tx.canonicalBytes)
        try await cluster.waitUntil("the transaction commits on engine 3") {
            if case .committed = await cluster.engine(3).transactionStatus(tx.id) { return true }
            return false
        }
        let before = await cluster.engine(3).status().height
        try await cluster.restart(3)
        // The others keep committing until engine 3 stops, so it may have committed more after `before` was read;
        // what restart must never do is lose a committed block.
        #expect(await cluster.engine(3).status().height >= before)
        guard case .committed = await cluster.engine(3).transactionStatus(tx.id) else {
            Issue.record("the committed transaction is gone after restart")
            return
        }
        await cluster.start(3)
        let after = cluster.fixture.notarize(sequence: 2, label: "after restart")
        _ = await cluster.engine(0).submit(transaction: after.canonicalBytes)
        try await cluster.waitUntil("the restarted engine commits a new transaction") {
            if case .committed = await cluster.engine(3).transactionStatus(after.id) { return true }
            return false
        }
        await cluster.stopAll()
    }

    @Test("a validator voted in joins consensus at the next epoch boundary, and one voted out leaves it")
    func validatorChangesAtEpochBoundaries() async throws {
        let cluster = try EngineCluster(
            count: 5, genesisValidators: 4, parameters: GenesisParameters(epochLengthBlocks: 6))
        for index in 0..<5 { await cluster.start(index) }
        let fixture = cluster.fixture
        let joiner = fixture.validatorKeys[4].publicKey
        #expect(await cluster.engine(4).status().role == .observer)

        func govern(_ action: GovernanceAction) async throws {
            let proposal = Transaction(
                chainID: fixture.chainID,
                sequence: await cluster.engine(0).nextSequence(for: fixture.adminKeys[0].publicKey),
                kind: .governancePropose, payload: ProposePayload(action: action).canonicalBytes,
                signedBy: fixture.adminKeys[0])
            _ = await cluster.engine(0).submit(transaction: proposal.canonicalBytes)
            // A vote that executes before its proposal commits fails with not-found.
            try await cluster.waitUntil("the proposal commits") {
                if case .committed = await cluster.engine(1).transactionStatus(proposal.id) { return true }
                return false
            }
            let vote = Transaction(
                chainID: fixture.chainID,
                sequence: await cluster.engine(1).nextSequence(for: fixture.adminKeys[1].publicKey),
                kind: .governanceVote, payload: VotePayload(proposal: proposal.id, approve: true).canonicalBytes,
                signedBy: fixture.adminKeys[1])
            _ = await cluster.engine(1).submit(transaction: vote.canonicalBytes)
            try await cluster.waitUntil("the vote commits") {
                if case .committed = await cluster.engine(2).transactionStatus(vote.id) { return true }
                return false
            }
        }

        try await govern(.addValidator(ValidatorRecord(nodeKey: joiner, organization: "org-1")))
        try await cluster.waitUntil("every engine enters epoch 1") {
            for engine in cluster.engines where await engine.status().epoch < 1 { return false }
            return true
        }
        #expect(await cluster.engine(4).status().role == .validator)
        // The joiner's votes count: a certificate of the new epoch carries its signature.
        try await cluster.waitUntil("a certificate carries the joiner's signature") {
            let height = await cluster.engine(0).status().height
            guard let committed = await cluster.engine(0).block(atHeight: height) else { return false }
            return committed.block.header.epoch >= 1
                && committed.certificate.signatures.contains { $0.signer == joiner }
        }

        // A restart in the new epoch resumes with the new set.
        try await cluster.restart(2)
        await cluster.start(2)
        let marker = fixture.notarize(
            sequence: await cluster.engine(0).nextSequence(for: fixture.adminKeys[0].publicKey))
        _ = await cluster.engine(0).submit(transaction: marker.canonicalBytes)
        try await cluster.waitUntil("the restarted engine commits in epoch 1") {
            if case .committed = await cluster.engine(2).transactionStatus(marker.id) { return true }
            return false
        }

        let leaving = fixture.validatorKeys[3].publicKey
        try await govern(.removeValidator(nodeKey: leaving))
        try await cluster.waitUntil("every engine enters epoch 2") {
            for engine in cluster.engines where await engine.status().epoch < 2 { return false }
            return true
        }
        #expect(await cluster.engine(3).status().role == .observer)
        let last = fixture.notarize(sequence: await cluster.engine(0).nextSequence(for: fixture.adminKeys[0].publicKey))
        _ = await cluster.engine(0).submit(transaction: last.canonicalBytes)
        try await cluster.waitUntil("the chain goes on in epoch 2, followed by the engine voted out") {
            if case .committed = await cluster.engine(3).transactionStatus(last.id) { return true }
            return false
        }
        let height = await cluster.engine(0).status().height
        let tip = await cluster.engine(0).block(atHeight: height)
        #expect(tip?.certificate.signatures.contains { $0.signer == leaving } == false)
        // Every engine holds the same blocks.
        for h in 1...height {
            let id = await cluster.engine(0).block(atHeight: h)?.block.id
            for index in 1..<5 {
                guard let other = await cluster.engine(index).block(atHeight: h) else { continue }
                #expect(other.block.id == id, "engine \(index) differs at height \(h)")
            }
        }
        await cluster.stopAll()
    }

    @Test("an engine that was down through an epoch change catches up across it by block sync")
    func syncAcrossEpochs() async throws {
        let cluster = try EngineCluster(
            count: 5, genesisValidators: 4, parameters: GenesisParameters(epochLengthBlocks: 4))
        for index in 0..<5 { await cluster.start(index) }
        let fixture = cluster.fixture
        await cluster.halt(3)
        let proposal = Transaction(
            chainID: fixture.chainID, sequence: 1, kind: .governancePropose,
            payload: ProposePayload(
                action: .addValidator(
                    ValidatorRecord(nodeKey: fixture.validatorKeys[4].publicKey, organization: "org-0"))
            ).canonicalBytes, signedBy: fixture.adminKeys[0])
        let vote = Transaction(
            chainID: fixture.chainID, sequence: 1, kind: .governanceVote,
            payload: VotePayload(proposal: proposal.id, approve: true).canonicalBytes, signedBy: fixture.adminKeys[1])
        _ = await cluster.engine(0).submit(transaction: proposal.canonicalBytes)
        try await cluster.waitUntil("the proposal commits") {
            if case .committed = await cluster.engine(0).transactionStatus(proposal.id) { return true }
            return false
        }
        _ = await cluster.engine(1).submit(transaction: vote.canonicalBytes)
        try await cluster.waitUntil("the others enter epoch 1 and go 20 blocks further") {
            let status = await cluster.engine(0).status()
            return status.epoch >= 1 && status.height >= 30
        }
        try await cluster.reopen(3)
        await cluster.start(3)
        let target = await cluster.engine(0).status().height
        try await cluster.waitUntil("the engine that was down catches up into epoch 1") {
            let status = await cluster.engine(3).status()
            return status.height >= target && status.epoch >= 1
        }
        for h in 1...target {
            let expected = await cluster.engine(0).block(atHeight: h)?.block.id
            #expect(await cluster.engine(3).block(atHeight: h)?.block.id == expected, "height \(h)")
        }
        await cluster.stopAll()
    }
}
