import ArgumentParser
import Codec
import Consensus
import Daemon
import EnsureCrypto
import Foundation
import Ledger
import Mempool
import NodeConfig
import Storage

/// `ensure-bench pipeline`: what one validator spends on each transaction besides checking its signature, stage by
/// stage, in one process with no network, as a ratio to one Ed25519 verification measured in the same run.
///
/// A leader and a follower (two ledgers in LevelDB, two mempools) take every block through the node's own code:
/// the leader decodes submissions, admits them, encodes gossip, reaps, executes and encodes its proposal; the
/// follower decodes the gossip and the proposal, admits, journals, executes; both commit with a certificate and
/// update their mempools. Every signature is put in the signature caches before the clock starts, so what is timed
/// is everything except the verification the bound counts.
struct PipelineBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline",
        abstract: "A validator's work per transaction besides its signature check, stage by stage, in-process.",
        discussion: """
            Each stage's thread CPU and wall time are printed per transaction; CPU the process spent outside the \
            stages is LevelDB's background compaction. With v the time of one verification and o a node's CPU \
            per transaction (three blocks as follower and one as leader, as with 4 validators, plus its share of \
            compaction), no network of validators sharing cores can pass v / (v + o) of the load bench's Ed25519 \
            bound: that ceiling is printed. Networking, HTTP, votes and scheduling are not in o, so a real node \
            costs more.
            """
    )

    @Option(help: "Blocks to commit (after one warm-up block that is not counted).")
    var blocks = 60

    @Option(help: "Transactions per block.")
    var blockTransactions = 500

    @Option(help: "Canonical bytes of each transaction (notarize; the label pads it).")
    var txBytes = 250

    @Option(help: "Member organizations; each admin key signs an equal share of the transactions.")
    var organizations = 4

    @Option(help: "Transactions per gossip message.")
    var gossipBatch = 64

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        guard (1...10_000).contains(blocks) else { throw ValidationError("--blocks must be 1-10000") }
        guard (1...LedgerLimits.blockTransactions).contains(blockTransactions) else {
            throw ValidationError("--block-transactions must be 1-\(LedgerLimits.blockTransactions)")
        }
        guard (1...64).contains(organizations) else { throw ValidationError("--organizations must be 1-64") }
        guard (1...NodeMessage.maxGossipTransactions).contains(gossipBatch) else {
            throw ValidationError("--gossip-batch must be 1-\(NodeMessage.maxGossipTransactions)")
        }
    }

    func run() throws {
        let bound = Ed25519VerificationBound.measure()
        if !json { print(bound) }
        let path = NSTemporaryDirectory() + "ensure-bench-pipeline-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let chainID = "bench-pipeline"
        let perSigner = (blocks + 1) * blockTransactions / organizations + 1
        var mempool = NodeConfiguration().mempool
        mempool.maxTransactions = 4 * blockTransactions
        mempool.maxPerSigner = perSigner
        mempool.sequenceWindow = perSigner
        let home = try BenchNodeHome.create(
            at: path, chainID: chainID, organizations: organizations, parameters: GenesisParameters(),
            genesisTime: PipelineNode.genesisTime, mempool: mempool)
        let configuration = try MempoolConfiguration(
            chainID: chainID, maxTransactions: mempool.maxTransactions, maxBytes: 1 << 30,
            maxPerSigner: perSigner, sequenceWindow: UInt64(perSigner), verifiedCacheCapacity: 4 * blockTransactions)
        // Twice the count: a generation holds half the capacity, and every id must stay until its block executes.
        let signatures = SignatureCache(capacity: 2 * (blocks + 1) * blockTransactions + 2)
        let leader = try PipelineNode(home: home, directory: path + "/leader", mempool: configuration, signatures)
        let follower = try PipelineNode(home: home, directory: path + "/follower", mempool: configuration, signatures)

        let shape = try TransactionShape(chainID: chainID, targetBytes: txBytes)
        let count = (blocks + 1) * blockTransactions
        let slots = ParallelSlots<Transaction>(count: count)
        let keys = home.admins
        let signing = ContinuousClock().now
        let failures = ParallelSlots<String?>(count: count)
        BenchChain.parallel(count) { index in
            // Round-robin signers: transaction i is signer (i % n)'s number i / n + 1, so each block is in order.
            do {
                slots.set(
                    index,
                    try shape.transaction(
                        key: keys[index % keys.count], sequence: UInt64(index / keys.count + 1)))
                failures.set(index, nil)
            } catch {
                failures.set(index, "\(error)")
            }
        }
        if let failure = failures.values().compactMap({ $0 }).first { throw BenchNodeError(failure) }
        let transactions = slots.values()
        for transaction in transactions { signatures.insert(transaction.id) }
        if !json {
            print(
                "signed \(count) transactions of \(txBytes) bytes in "
                    + String(format: "%.2f s", (ContinuousClock().now - signing).benchSeconds))
        }

        var stages = PipelineStages()
        var tip = PipelineTip(
            block: leader.genesisBlock,
            certificate: .genesis(chainID: chainID, blockID: leader.genesisBlock.id))
        // The process clock includes LevelDB's background compaction thread; the stages' thread clocks do not.
        let cpuStart = CPUClock.process()
        let wallStart = ContinuousClock().now
        for index in 0...blocks {
            let batch = Array(transactions[index * blockTransactions..<(index + 1) * blockTransactions])
            var round = PipelineStages()
            tip = try commitOne(batch, after: tip, leader: leader, follower: follower, home: home, into: &round)
            // The first block warms caches and allocators and is not counted.
            if index > 0 { stages.add(round) }
        }
        let cpu = CPUClock.process() - cpuStart
        let wall = (ContinuousClock().now - wallStart).benchSeconds
        let report = PipelineReport(
            bound: bound, stages: stages, transactions: blocks * blockTransactions, blocks: blocks,
            processCPUSeconds: cpu, wallSeconds: wall * Double(blocks) / Double(blocks + 1))
        print(json ? report.json() : report.text())
    }

    /// One block through the leader and the follower; returns the new tip.
    private func commitOne(
        _ batch: [Transaction], after tip: PipelineTip, leader: PipelineNode, follower: PipelineNode,
        home: BenchNodeHome, into stages: inout PipelineStages
    ) throws -> PipelineTip {
        // Leader: the submissions arrive as bytes, are decoded, admitted and gossiped.
        let submitted = batch.map(\.canonicalBytes)
        let decoded = try stages.time(\.leaderDecode) {
            try submitted.map { try Transaction.decode(canonical: $0, field: "transaction") }
        }
        try stages.time(\.leaderAdmit) { try leader.admit(decoded, from: .local) }
        let gossip = stages.time(\.gossipEncode) {
            stride(from: 0, to: decoded.count, by: gossipBatch).map { start in
                NodeMessage.transactions(Array(decoded[start..<min(decoded.count, start + gossipBatch)]))
                    .canonicalBytes
            }
        }

        // Follower: gossip is decoded, pre-checked (a cache hit: the verification is the bound's) and admitted.
        let peer = home.validatorKey.publicKey
        let received = try stages.time(\.gossipDecode) {
            var received: [Transaction] = []
            for bytes in gossip {
                guard case .transactions(let part) = try NodeMessage.decode(canonical: bytes, field: "message") else {
                    throw BenchNodeError("gossip did not decode as transactions")
                }
                for transaction in part where !follower.signatures.verify(transaction) {
                    throw BenchNodeError("a gossiped signature does not verify")
                }
                received += part
            }
            return received
        }
        try stages.time(\.followerAdmit) { try follower.admit(received, from: .peer(peer)) }

        // Leader: reap, execute, sign and encode the proposal; journal it.
        let (proposal, proposalBytes) = try stages.time(\.propose) {
            let block = try leader.build(on: tip)
            guard block.transactions.count == batch.count else {
                throw BenchNodeError(
                    "block \(block.header.height) carries \(block.transactions.count) of \(batch.count) transactions")
            }
            let signature = home.validatorKey.signature(
                for: Proposal.signingBytes(blockID: block.id), domain: .proposal)
            let proposal = Proposal(block: block, timeoutCertificate: nil, signature: signature)
            return (proposal, NodeMessage.consensus(.proposal(proposal)).canonicalBytes)
        }
        // In a node the safety state stored for the vote makes the record durable, with one data sync.
        try stages.time(\.leaderJournal) {
            try leader.journal.record(proposal)
            try leader.journal.sync()
        }

        // Follower: decode the proposal, pre-check its transactions (cache hits), journal it, execute it.
        let proposed = try stages.time(\.proposalDecode) {
            guard
                case .consensus(.proposal(let received)) = try NodeMessage.decode(
                    canonical: proposalBytes, field: "message")
            else { throw BenchNodeError("the proposal did not decode") }
            for transaction in received.block.transactions where !follower.signatures.verify(transaction) {
                throw BenchNodeError("a proposed signature does not verify")
            }
            return received
        }
        try stages.time(\.followerJournal) {
            try follower.journal.record(proposed)
            try follower.journal.sync()
        }
        // As the engine does: the pre-check above verified every signature, so execution asks the cache nothing.
        try stages.time(\.execute) { _ = try follower.executor.execute(proposed.block, signaturesChecked: true) }

        // Both commit with the certificate and drop the block's transactions from their mempools.
        let certificate = home.certificate(for: proposal.block.header)
        try stages.time(\.leaderCommit) { try leader.commit(proposal.block, certificate: certificate) }
        try stages.time(\.followerCommit) { try follower.commit(proposed.block, certificate: certificate) }
        return PipelineTip(block: proposal.block, certificate: certificate)
    }
}

/// The committed tip both nodes build on.
struct PipelineTip {
    var block: Block
    var certificate: QuorumCertificate
}

/// One node of ``PipelineBench``: a ledger in its own LevelDB, a mempool and a proposal journal, used the way
/// ``NodeEngine`` uses them.
final class PipelineNode {
    static let genesisTime: UInt64 = 1_767_225_600_000

    let executor: LedgerExecutor
    let journal: ProposalJournal
    let signatures: SignatureCache
    let genesisBlock: Block
    private var mempool: Mempool
    private let chainID: String
    private let proposer: Ed25519PublicKey

    init(
        home: BenchNodeHome, directory: String, mempool configuration: MempoolConfiguration,
        _ signatures: SignatureCache
    )
        throws
    {
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let database = try LevelDB(path: directory + "/ledger")
        let store = try BlockStore(database: database)
        let validators = try home.genesis.validatorSet()
        genesisBlock = ConsensusCore.genesisBlock(
            chainID: home.genesis.chainID, validators: validators, timestamp: home.genesis.genesisTime)
        executor = try LedgerExecutor(
            genesis: home.genesis, genesisBlock: genesisBlock, store: store, signatures: signatures)
        journal = try ProposalJournal(database: database)
        self.signatures = signatures
        mempool = Mempool(configuration: configuration)
        chainID = home.genesis.chainID
        proposer = home.validatorKey.publicKey
    }

    /// What the engine's admission does for each transaction whose signature its pre-check verified.
    func admit(_ transactions: [Transaction], from origin: TransactionOrigin) throws {
        let policy = CommittedPolicy(executor: executor)
        for transaction in transactions {
            guard executor.isAuthorized(signer: transaction.signer, kind: transaction.kind) else {
                throw BenchNodeError("\(transaction.signer.keyID) may not notarize")
            }
            if let failure = LedgerApplication.statelessFailure(of: transaction) {
                throw BenchNodeError("a transaction is invalid: \(failure.reason)")
            }
            let checked = mempool.signatureVerifications
            guard
                case .added = try mempool.admit(
                    transaction, from: origin, policy: policy, now: .zero, signatureChecked: true)
            else {
                throw BenchNodeError("a transaction was already pending")
            }
            if mempool.signatureVerifications != checked { executor.markVerified(transaction.id) }
        }
    }

    /// The engine's block building: reap what can follow `tip`, select what executes, execute it.
    func build(on tip: PipelineTip) throws -> Block {
        let parentID = tip.block.id
        let transactions = executor.transactionsToPropose(
            from: mempool, parentID: parentID, maxMessageBytes: LedgerLimits.blockBytes + 64 * 1024)
        let height = tip.block.header.height + 1
        let template = BlockHeader(
            chainID: chainID, epoch: 0, height: height, round: height, parentID: parentID, proposer: proposer,
            timestamp: Self.genesisTime + height * 1000, transactionRoot: Block.transactionRoot(of: transactions),
            transactionCount: UInt64(transactions.count), incidentLogSize: 0, incidentLogRoot: MerkleHash.emptyRoot,
            stateRoot: .zero,
            validatorSetHash: tip.block.header.nextValidatorSetHash ?? tip.block.header.validatorSetHash)
        guard let header = executor.prepare(transactions, header: template, signaturesChecked: true) else {
            throw BenchNodeError("block \(height) does not execute")
        }
        return Block(header: header, justify: tip.certificate, transactions: transactions)
    }

    /// The engine's commit: the synced batch, the journal pruned, the mempool updated.
    func commit(_ block: Block, certificate: QuorumCertificate) throws {
        try executor.commit(block, certificate: certificate)
        journal.prune(throughRound: block.header.round)
        let removals = mempool.update(
            committed: block.transactions, policy: CommittedPolicy(executor: executor), now: .zero)
        guard removals.committed.count == block.transactions.count else {
            throw BenchNodeError("the mempool held \(removals.committed.count) of the block's transactions")
        }
    }
}

/// Wall and thread CPU seconds of one stage.
struct PipelineTime {
    var wall = 0.0
    var cpu = 0.0
}

/// Seconds spent in each stage, summed over the counted blocks.
struct PipelineStages {
    var leaderDecode = PipelineTime()
    var leaderAdmit = PipelineTime()
    var gossipEncode = PipelineTime()
    var gossipDecode = PipelineTime()
    var followerAdmit = PipelineTime()
    var propose = PipelineTime()
    var leaderJournal = PipelineTime()
    var proposalDecode = PipelineTime()
    var followerJournal = PipelineTime()
    var execute = PipelineTime()
    var leaderCommit = PipelineTime()
    var followerCommit = PipelineTime()

    /// Runs `body`, adding its wall time and this thread's CPU time to `stage`.
    mutating func time<T>(_ stage: WritableKeyPath<PipelineStages, PipelineTime>, _ body: () throws -> T) rethrows
        -> T
    {
        let clock = ContinuousClock()
        let start = clock.now
        let cpu = CPUClock.thread()
        let result = try body()
        self[keyPath: stage].cpu += CPUClock.thread() - cpu
        self[keyPath: stage].wall += (clock.now - start).benchSeconds
        return result
    }

    mutating func add(_ other: PipelineStages) {
        for stage in Self.all {
            self[keyPath: stage.path].wall += other[keyPath: stage.path].wall
            self[keyPath: stage.path].cpu += other[keyPath: stage.path].cpu
        }
    }

    /// CPU seconds of every stage.
    var cpu: Double { Self.all.reduce(0) { $0 + self[keyPath: $1.path].cpu } }

    /// Each stage, its name and whose work it is.
    static var all: [(name: String, role: PipelineRole, path: WritableKeyPath<PipelineStages, PipelineTime>)] {
        [
            ("decode submissions", .leader, \.leaderDecode),
            ("admit (local)", .leader, \.leaderAdmit),
            ("encode gossip", .leader, \.gossipEncode),
            ("reap, execute, encode proposal", .leader, \.propose),
            ("journal proposal", .leader, \.leaderJournal),
            ("commit", .leader, \.leaderCommit),
            ("decode gossip", .follower, \.gossipDecode),
            ("admit (gossip)", .follower, \.followerAdmit),
            ("decode proposal", .follower, \.proposalDecode),
            ("journal proposal", .follower, \.followerJournal),
            ("execute", .follower, \.execute),
            ("commit", .follower, \.followerCommit),
        ]
    }
}

enum PipelineRole: String {
    case leader
    case follower
}

/// What ``PipelineBench`` prints.
struct PipelineReport {
    let bound: Ed25519VerificationBound
    let stages: PipelineStages
    let transactions: Int
    let blocks: Int
    let processCPUSeconds: Double
    let wallSeconds: Double

    /// Microseconds of one verification on one core, measured in this run.
    var verificationMicros: Double { 1e6 / bound.perCore }

    func micros(_ seconds: Double) -> Double { seconds * 1e6 / Double(transactions) }

    /// CPU per transaction in `role`'s stages.
    func roleMicros(_ role: PipelineRole) -> Double {
        micros(PipelineStages.all.filter { $0.role == role }.reduce(0) { $0 + stages[keyPath: $1.path].cpu })
    }

    /// CPU per transaction outside the stages, as one node's share: LevelDB's background compaction, mostly.
    var backgroundMicrosPerNode: Double { max(0, micros(processCPUSeconds - stages.cpu)) / 2 }

    /// A node's mean CPU per transaction with four validators (leader for one block in four), compaction included.
    var nodeMicros: Double { (roleMicros(.leader) + 3 * roleMicros(.follower)) / 4 + backgroundMicrosPerNode }

    /// The highest fraction of the verification bound a network could reach if a node did only this besides its
    /// one verification per transaction.
    var ceiling: Double { verificationMicros / (verificationMicros + nodeMicros) }

    func text() -> String {
        var lines = [
            "\(blocks) blocks of \(transactions / blocks) transactions through a leader and a follower, "
                + String(format: "%.2f s", wallSeconds)
        ]
        for stage in PipelineStages.all {
            let time = stages[keyPath: stage.path]
            lines.append(
                "  \(stage.role.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)) "
                    + "\(stage.name.padding(toLength: 32, withPad: " ", startingAt: 0))"
                    + String(
                        format: "%6.2f µs CPU (%6.2f µs wall) per transaction", micros(time.cpu), micros(time.wall)))
        }
        lines.append(
            String(
                format: "leader %.1f µs, follower %.1f µs, background (compaction) %.1f µs per transaction per node",
                roleMicros(.leader), roleMicros(.follower), backgroundMicrosPerNode))
        lines.append(
            String(
                format:
                    "a node (leader 1 block in 4) %.1f µs; one verification %.1f µs: the node's other work is %.2f "
                    + "verifications; ceiling %.2f of the bound",
                nodeMicros, verificationMicros, nodeMicros / verificationMicros, ceiling))
        return lines.joined(separator: "\n")
    }

    private struct Document: Encodable {
        struct Stage: Encodable {
            var role: String
            var stage: String
            var cpuMicros: Double
            var wallMicros: Double
        }
        var blocks: Int
        var transactions: Int
        var verificationMicros: Double
        var stages: [Stage]
        var leaderMicros: Double
        var followerMicros: Double
        var backgroundMicros: Double
        var nodeMicros: Double
        var ceiling: Double
    }

    func json() -> String {
        let document = Document(
            blocks: blocks, transactions: transactions, verificationMicros: verificationMicros,
            stages: PipelineStages.all.map {
                Document.Stage(
                    role: $0.role.rawValue, stage: $0.name, cpuMicros: micros(stages[keyPath: $0.path].cpu),
                    wallMicros: micros(stages[keyPath: $0.path].wall))
            },
            leaderMicros: roleMicros(.leader), followerMicros: roleMicros(.follower),
            backgroundMicros: backgroundMicrosPerNode, nodeMicros: nodeMicros, ceiling: ceiling)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(document)) ?? Data(), as: UTF8.self)
    }
}
