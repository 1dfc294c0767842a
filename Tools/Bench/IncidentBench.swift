import API
import ArgumentParser
import Codec
import Consensus
import Daemon
import Dispatch
import EnsureCrypto
import Foundation
import Ledger
import NIOCore
import NIOPosix
import NodeConfig
import Storage

/// `ensure-bench incidents`: builds a node store holding `--count` incidents through the real application (blocks
/// executed by ``LedgerExecutor`` over LevelDB and committed with their certificates, as a node commits them), then
/// measures p50/p99 latency of the query path the API calls (``LedgerQueries``) for a mix of queries, and a few of
/// them through the HTTP route of a node started in-process on that store.
struct IncidentBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "incidents",
        abstract: "Incident query latency p50/p99 over a store of 1,000,000 incidents built by the real application.",
        discussion: """
            The store is a real one-validator node home in --data (reused when it already holds a store built with \
            the same parameters; its build figures are then the ones recorded when it was built). Incidents are \
            reported by --plugins plugins, registered by governance, of --organizations organizations, with RSIT \
            categories, five severities and detection times spread over a year; --updated of them are moved to \
            one of the four other statuses by their organization. Blocks of --block-transactions are signed and \
            verified on every core, then executed and committed one at a time.
            """
    )

    @Option(help: "Incidents in the store.")
    var count = 1_000_000

    @Option(help: "Node home holding the store (default: ensure-bench-incidents-COUNT in the temporary directory).")
    var data: String?

    @Option(help: "Member organizations.")
    var organizations = 20

    @Option(help: "Detection plugins reporting the incidents.")
    var plugins = 50

    @Option(help: "Share of incidents whose organization moves them from open to another status.")
    var updated = 0.4

    @Option(help: "Transactions per block while building.")
    var blockTransactions = 4_000

    @Option(help: "Samples of each query kind through LedgerQueries.")
    var samples = 1_000

    @Option(help: "Samples of each query kind through the HTTP route (0: skip the HTTP part).")
    var httpSamples = 200

    @Option(help: "Page size of the list queries.")
    var limit = 50

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        guard (1...100_000_000).contains(count) else { throw ValidationError("--count must be 1-100000000") }
        guard (1...1_000).contains(organizations) else { throw ValidationError("--organizations must be 1-1000") }
        guard (1...10_000).contains(plugins) else { throw ValidationError("--plugins must be 1-10000") }
        guard updated >= 0 && updated <= 1 else { throw ValidationError("--updated must be between 0 and 1") }
        guard (1...LedgerLimits.blockTransactions).contains(blockTransactions) else {
            throw ValidationError("--block-transactions must be 1-\(LedgerLimits.blockTransactions)")
        }
        guard (1...1_000_000).contains(samples) else { throw ValidationError("--samples must be 1-1000000") }
        guard (0...1_000_000).contains(httpSamples) else { throw ValidationError("--http-samples must be 0-1000000") }
        guard (1...IncidentQuery.maxLimit).contains(limit) else {
            throw ValidationError("--limit must be 1-\(IncidentQuery.maxLimit)")
        }
    }

    func run() async throws {
        let path = data ?? NSTemporaryDirectory() + "ensure-bench-incidents-\(count)"
        let plan = IncidentPlan(
            count: count, organizations: organizations, plugins: plugins, updated: updated, seed: 0x5EED_1C1D)
        let manifestPath = path + "/bench-incidents.json"
        var build: IncidentBuild
        var reused = false
        if FileManager.default.fileExists(atPath: manifestPath) {
            let manifest = try JSONDecoder().decode(
                IncidentManifest.self, from: Data(contentsOf: URL(fileURLWithPath: manifestPath)))
            guard manifest.plan == plan else {
                throw BenchNodeError(
                    "\(path) holds a store built with other parameters (\(manifest.plan)); remove it or give another --data"
                )
            }
            build = manifest.build
            reused = true
        } else {
            if FileManager.default.fileExists(atPath: path) {
                let contents = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                guard contents.isEmpty else {
                    throw BenchNodeError(
                        "\(path) exists without \(manifestPath) (an interrupted build?); remove it or give another --data"
                    )
                }
            }
            build = try IncidentStoreBuilder(path: path, plan: plan, blockTransactions: blockTransactions).build(
                progress: !json)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            try encoder.encode(IncidentManifest(plan: plan, build: build)).write(
                to: URL(fileURLWithPath: manifestPath))
        }
        let home = try BenchNodeHome.open(at: path)
        let storeBytes = Self.bytes(under: path + "/data")

        // Direct: the function the API route calls, over the node's database.
        let direct: IncidentQueryResults
        let census: IncidentCensus
        do {
            let database = try LevelDB(path: path + "/data/ledger")
            let store = try BlockStore(database: database)
            let queries = LedgerQueries(store: store)
            census = try IncidentCensus.take(database)
            guard census.incidents == UInt64(plan.count) else {
                throw BenchNodeError(
                    "the store holds \(census.incidents) incidents in its index, not \(plan.count): it is damaged")
            }
            direct = try IncidentQueryRunner(plan: plan, queries: queries, limit: limit, logSize: census.logSize)
                .measure(samples: samples)
        }

        var http: IncidentQueryResults?
        if httpSamples > 0 {
            try home.refreshPorts()
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            let node = try await InProcessNode.start(home: home, on: group.next())
            do {
                let connection = try await BenchHTTPConnection.connect(
                    host: node.host, port: node.port, on: group.next())
                let token = try await BenchHTTP.token(
                    for: home.admins[0], chainID: home.genesis.chainID, over: connection)
                http = try await IncidentHTTPRunner(
                    plan: plan, connection: connection, token: token, limit: limit, logSize: census.logSize
                ).measure(samples: httpSamples)
                await connection.close()
            } catch {
                await node.stop()
                try? await group.shutdownGracefully()
                throw error
            }
            await node.stop()
            try? await group.shutdownGracefully()
        }
        let report = IncidentReport(
            path: path, reused: reused, plan: plan, build: build, storeBytes: storeBytes, census: census,
            limit: limit, direct: direct, http: http)
        print(json ? report.json() : report.text())
    }

    /// Bytes of the regular files under `path`.
    static func bytes(under path: String) -> UInt64 {
        guard let enumerator = FileManager.default.enumerator(atPath: path) else { return 0 }
        var total: UInt64 = 0
        while let name = enumerator.nextObject() as? String {
            let attributes = try? FileManager.default.attributesOfItem(atPath: path + "/" + name)
            if attributes?[.type] as? FileAttributeType == .typeRegular {
                total += (attributes?[.size] as? NSNumber)?.uint64Value ?? 0
            }
        }
        return total
    }
}

/// What the store holds, fixed by its parameters: a rerun with the same plan reuses the store.
struct IncidentPlan: Codable, Equatable, Sendable, CustomStringConvertible {
    var count: Int
    var organizations: Int
    var plugins: Int
    var updated: Double
    var seed: UInt64

    /// Detection times fall in the year before this (milliseconds since 1970, 2026-01-01T00:00:00Z).
    static let genesisTime: UInt64 = 1_767_225_600_000
    /// One year of detection times.
    static let span: UInt64 = 365 * 24 * 3_600_000
    /// The first possible detection time.
    static let firstTime = genesisTime - span
    /// Every RSIT `class/type`, sorted.
    static let categories = SecurityIncidentTaxonomy.classes.flatMap { rsitClass, types in
        types.map { "\(rsitClass)/\($0)" }
    }.sorted()
    /// Every RSIT class, sorted.
    static let classes = SecurityIncidentTaxonomy.classes.keys.sorted()
    /// The five severities incidents are spread over.
    static let severities: [IncidentSeverity] = [.informational, .low, .medium, .high, .critical]
    /// The statuses an update moves an incident to.
    static let updateStatuses: [IncidentStatus] = [.acknowledged, .mitigating, .resolved, .falsePositive]

    var description: String {
        "count \(count), organizations \(organizations), plugins \(plugins), updated \(updated), seed \(seed)"
    }

    /// The organization of plugin `plugin`.
    func organization(ofPlugin plugin: Int) -> Int { plugin % organizations }

    /// Incident `index`: its reporting plugin, organization, record and the status an update gives it (if any).
    func incident(_ index: Int) -> IncidentSpec {
        var random = SplitMix64(seed: seed ^ (UInt64(index) &* 0x2545_F491_4F6C_DD1D))
        let plugin = Int(random.next() % UInt64(plugins))
        let category = Self.categories[Int(random.next() % UInt64(Self.categories.count))]
        let severity = Self.severities[Int(random.next() % 5)]
        let detectedAt = Self.firstTime + random.next() % Self.span
        let asset = "host-\(random.next() % 500)"
        let roll = Double(random.next() >> 11) / Double(1 << 53)
        let status = roll < updated ? Self.updateStatuses[Int(random.next() % 4)] : nil
        let record = IncidentRecord(
            id: "inc-\(index)", detectedAt: detectedAt, category: category, severity: severity, asset: asset,
            detector: "bench-plugin-\(plugin)", summary: "benchmark incident \(index) on \(asset)",
            evidenceDigest: SHA256.hash(Array("evidence \(index)".utf8)))
        return IncidentSpec(
            plugin: plugin, organization: organization(ofPlugin: plugin), record: record, status: status)
    }
}

/// One generated incident.
struct IncidentSpec {
    var plugin: Int
    var organization: Int
    var record: IncidentRecord
    var status: IncidentStatus?
}

/// How the store was built.
struct IncidentBuild: Codable, Sendable {
    var transactions: Int
    var blocks: Int
    var seconds: Double
    var signSeconds: Double
    var verifySeconds: Double
    var executeSeconds: Double
    var commitSeconds: Double
    var cores: Int
}

/// `bench-incidents.json` in the store's directory, written when the build completed.
struct IncidentManifest: Codable {
    var plan: IncidentPlan
    var build: IncidentBuild
}

/// Builds the store: a one-validator home, governance that registers the plugins, then blocks of incident reports
/// and, a block later, the updates of those reports.
struct IncidentStoreBuilder {
    let path: String
    let plan: IncidentPlan
    let blockTransactions: Int

    func build(progress: Bool) throws -> IncidentBuild {
        let home = try BenchNodeHome.create(
            at: path, chainID: "bench-incidents", organizations: plan.organizations,
            parameters: GenesisParameters(maxBlockTransactions: UInt64(LedgerLimits.blockTransactions)),
            genesisTime: IncidentPlan.genesisTime, mempool: NodeConfiguration().mempool)
        var pluginKeys: [Ed25519PrivateKey] = []
        for index in 0..<plan.plugins {
            let key = Ed25519PrivateKey()
            try KeyFile.write(key, to: path + String(format: "/keys/plugin-%03d.key", index))
            pluginKeys.append(key)
        }
        try FileManager.default.createDirectory(
            atPath: path + "/data", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let database = try LevelDB(path: path + "/data/ledger")
        let store = try BlockStore(database: database)
        let validators = try home.genesis.validatorSet()
        let genesisBlock = ConsensusCore.genesisBlock(
            chainID: home.genesis.chainID, validators: validators, timestamp: home.genesis.genesisTime)
        let executor = try LedgerExecutor(genesis: home.genesis, genesisBlock: genesisBlock, store: store)
        var chain = BenchChain(
            home: home, executor: executor, validators: validators, tip: genesisBlock,
            tipCertificate: .genesis(chainID: home.genesis.chainID, blockID: genesisBlock.id))

        let clock = ContinuousClock()
        let start = clock.now

        // Governance: each plugin proposed by its organization and approved by just over two thirds of them.
        let needed = plan.organizations * 2 / 3 + 1
        var proposals: [(transaction: Transaction, proposer: Int)] = []
        for (index, key) in pluginKeys.enumerated() {
            let organization = plan.organization(ofPlugin: index)
            let payload = ProposePayload(
                action: .addPlugin(
                    PluginRecord(
                        key: key.publicKey, organization: BenchNodeHome.organizationName(organization),
                        name: "bench-plugin-\(index)")),
                rationale: "benchmark plugin")
            proposals.append(
                (chain.sign(home.admins[organization], .governancePropose, payload.canonicalBytes), organization))
        }
        var votes: [Transaction] = []
        for (proposal, proposer) in proposals {
            for step in 1..<needed {
                let voter = (proposer + step) % plan.organizations
                votes.append(
                    chain.sign(
                        home.admins[voter], .governanceVote,
                        VotePayload(proposal: proposal.id, approve: true).canonicalBytes))
            }
        }
        for batch in [proposals.map(\.transaction), votes] where !batch.isEmpty {
            for slice in stride(from: 0, to: batch.count, by: blockTransactions) {
                try chain.commit(Array(batch[slice..<min(slice + blockTransactions, batch.count)]))
            }
        }
        for (index, key) in pluginKeys.enumerated() {
            guard executor.role(of: key.publicKey) != nil else {
                throw BenchNodeError("governance did not register plugin \(index)")
            }
        }

        // Reports in blocks; each block also carries the updates of the previous block's reports.
        var pendingUpdates: [IncidentSpec] = []
        var next = 0
        var lastPrinted = clock.now
        while next < plan.count || !pendingUpdates.isEmpty {
            var specs: [IncidentSpec] = []
            let room = blockTransactions - min(pendingUpdates.count, blockTransactions)
            while specs.count < room, next < plan.count {
                specs.append(plan.incident(next))
                next += 1
            }
            let updates = Array(pendingUpdates.prefix(blockTransactions))
            pendingUpdates.removeFirst(updates.count)
            var unsigned: [(Ed25519PrivateKey, TransactionKind, [UInt8])] = updates.map { spec in
                (
                    home.admins[spec.organization], .incidentUpdate,
                    IncidentUpdatePayload(incidentID: spec.record.id, status: spec.status!, note: "benchmark")
                        .canonicalBytes
                )
            }
            unsigned += specs.map { (pluginKeys[$0.plugin], .incidentReport, $0.record.canonicalBytes) }
            try chain.commit(chain.signInParallel(unsigned))
            pendingUpdates += specs.filter { $0.status != nil }
            if progress, (clock.now - lastPrinted) > .seconds(10) {
                lastPrinted = clock.now
                let seconds = (clock.now - start).benchSeconds
                print(
                    "built \(next) of \(plan.count) incidents in \(Int(seconds)) s "
                        + "(\(Int(Double(next) / seconds))/s)")
            }
        }
        return IncidentBuild(
            transactions: chain.transactions, blocks: chain.blocks, seconds: (clock.now - start).benchSeconds,
            signSeconds: chain.signSeconds, verifySeconds: chain.verifySeconds, executeSeconds: chain.executeSeconds,
            commitSeconds: chain.commitSeconds, cores: ProcessInfo.processInfo.activeProcessorCount)
    }
}

/// Blocks committed the way a node commits them, with certificates of the one validator.
struct BenchChain {
    let home: BenchNodeHome
    let executor: LedgerExecutor
    let validators: ValidatorSet
    var tip: Block
    var tipCertificate: QuorumCertificate
    var sequences: [Ed25519PublicKey: UInt64] = [:]
    var transactions = 0
    var blocks = 0
    var signSeconds = 0.0
    var verifySeconds = 0.0
    var executeSeconds = 0.0
    var commitSeconds = 0.0

    /// Signs one transaction with `key`'s next sequence number.
    mutating func sign(_ key: Ed25519PrivateKey, _ kind: TransactionKind, _ payload: [UInt8]) -> Transaction {
        let sequence = sequences[key.publicKey, default: 1]
        sequences[key.publicKey] = sequence + 1
        return Transaction(
            chainID: home.genesis.chainID, sequence: sequence, kind: kind, payload: payload, signedBy: key)
    }

    /// Signs `items` on every core, with sequence numbers given in order.
    mutating func signInParallel(_ items: [(Ed25519PrivateKey, TransactionKind, [UInt8])]) -> [Transaction] {
        let clock = ContinuousClock()
        let start = clock.now
        var numbered: [(Ed25519PrivateKey, TransactionKind, [UInt8], UInt64)] = []
        numbered.reserveCapacity(items.count)
        for (key, kind, payload) in items {
            let sequence = sequences[key.publicKey, default: 1]
            sequences[key.publicKey] = sequence + 1
            numbered.append((key, kind, payload, sequence))
        }
        let chainID = home.genesis.chainID
        let results = ParallelSlots<Transaction>(count: numbered.count)
        let frozen = numbered
        Self.parallel(frozen.count) { index in
            let (key, kind, payload, sequence) = frozen[index]
            results.set(
                index,
                Transaction(chainID: chainID, sequence: sequence, kind: kind, payload: payload, signedBy: key))
        }
        signSeconds += (clock.now - start).benchSeconds
        return results.values()
    }

    /// Runs `body` for 0..<count in chunks over every core.
    static func parallel(_ count: Int, _ body: @Sendable (Int) -> Void) {
        let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
        let chunk = max(1, (count + cores * 4 - 1) / (cores * 4))
        let chunks = (count + chunk - 1) / chunk
        DispatchQueue.concurrentPerform(iterations: chunks) { part in
            for index in part * chunk..<min(count, (part + 1) * chunk) { body(index) }
        }
    }

    /// Verifies the signatures on every core (what the mempool does on admission), then executes the block on the
    /// tip and commits it with the validator's certificate in one synced batch.
    mutating func commit(_ transactions: [Transaction]) throws {
        let clock = ContinuousClock()
        var start = clock.now
        let valid = ParallelSlots<Bool>(count: transactions.count)
        Self.parallel(transactions.count) { index in valid.set(index, transactions[index].hasValidSignature) }
        guard valid.values().allSatisfy({ $0 }) else { throw BenchNodeError("a signature does not verify") }
        for transaction in transactions { executor.markVerified(transaction.id) }
        verifySeconds += (clock.now - start).benchSeconds

        start = clock.now
        let height = tip.header.height + 1
        let template = BlockHeader(
            chainID: home.genesis.chainID, epoch: 0, height: height, round: height, parentID: tip.id,
            proposer: home.validatorKey.publicKey, timestamp: IncidentPlan.genesisTime + height * 1000,
            transactionRoot: Block.transactionRoot(of: transactions), transactionCount: UInt64(transactions.count),
            incidentLogSize: 0, incidentLogRoot: MerkleHash.emptyRoot, stateRoot: .zero,
            validatorSetHash: validators.hash)
        guard let header = executor.prepare(transactions, header: template) else {
            throw BenchNodeError("block \(height) does not execute")
        }
        let block = Block(header: header, justify: tipCertificate, transactions: transactions)
        executeSeconds += (clock.now - start).benchSeconds

        start = clock.now
        let certificate = home.certificate(for: header)
        try executor.commit(block, certificate: certificate)
        commitSeconds += (clock.now - start).benchSeconds
        // Every transaction must have applied: a failure would leave the store short of what the plan says.
        for transaction in [transactions.first, transactions.last].compactMap({ $0 }) {
            if let failure = executor.location(of: transaction.id)?.failure {
                throw BenchNodeError("block \(height): a transaction failed: \(failure)")
            }
        }
        tip = block
        tipCertificate = certificate
        self.transactions += transactions.count
        blocks += 1
    }
}

/// One result slot per index, written from parallel work items and read after they finish.
final class ParallelSlots<Value>: @unchecked Sendable {
    // Each slot is written by one work item; the lock orders the writes before the read in values().
    private var slots: [Value?]
    private let lock = NSLock()

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ value: Value) { lock.withLock { slots[index] = value } }

    func values() -> [Value] { lock.withLock { slots.map { $0! } } }
}

/// The incident index counted entry by entry: incidents per status, and the log size.
struct IncidentCensus: Codable {
    var incidents: UInt64
    var byStatus: [String: UInt64]
    var logSize: UInt64

    static func take(_ database: LevelDB) throws -> IncidentCensus {
        func count(_ prefix: [UInt8]) throws -> UInt64 {
            var total: UInt64 = 0
            var start: [UInt8]? = nil
            while true {
                let batch = try database.entries(withPrefix: prefix, from: start, limit: 10_000)
                total += UInt64(batch.count)
                guard let last = batch.last, batch.count == 10_000 else { return total }
                start = last.key + [0]
            }
        }
        var byStatus: [String: UInt64] = [:]
        for status in IncidentStatus.allCases {
            byStatus[status.name] = try count(StateKeys.IncidentIndex.status(status))
        }
        let sizeBytes = try database.get(StateKeys.incidentLogSize)
        return IncidentCensus(
            incidents: try count(StateKeys.IncidentIndex.all), byStatus: byStatus,
            logSize: sizeBytes.flatMap(StateKeys.uint64) ?? 0)
    }
}

/// The query kinds measured, each with its parameters drawn at random per sample.
enum IncidentQueryKind: String, CaseIterable, Codable {
    case newest = "unfiltered, newest hour"
    case first = "unfiltered, first page"
    case organization = "by organization"
    case rsitClass = "by RSIT class"
    case severityStatus = "by severity + status"
    case sparse = "organization + severity + status"
    case timeRange = "time range of 1 hour"
    case deepCursor = "next page from a deep cursor"
    case deepCursorOrganization = "deep cursor, by organization"
    case detail = "incident detail by id"
    case inclusion = "inclusion proof"
    case consistency = "consistency proof"

    /// The kinds the HTTP part measures.
    static let http: [IncidentQueryKind] = [.newest, .organization, .severityStatus, .detail, .inclusion]
}

/// Latency and result sizes of one kind.
struct IncidentKindResult: Encodable {
    var kind: String
    var latency: LatencySummary?
    /// Mean incidents per answer (list kinds), or 1 for one-item answers.
    var meanResults: Double
}

/// Results of every kind, in ``IncidentQueryKind`` order.
struct IncidentQueryResults: Encodable {
    var kinds: [IncidentKindResult]
}

/// Draws the parameters of each sample.
struct IncidentSampler {
    let plan: IncidentPlan
    let logSize: UInt64
    var random = SplitMix64(seed: 0xA11CE)

    mutating func uniform(_ bound: Int) -> Int { Int(random.next() % UInt64(bound)) }

    mutating func time() -> UInt64 { IncidentPlan.firstTime + random.next() % IncidentPlan.span }

    mutating func organization() -> String { BenchNodeHome.organizationName(uniform(plan.organizations)) }

    mutating func query(_ kind: IncidentQueryKind, limit: Int) -> IncidentQuery {
        switch kind {
        case .newest:
            return IncidentQuery(from: IncidentPlan.genesisTime - 3_600_000, limit: limit)
        case .first, .deepCursor:
            return IncidentQuery(from: kind == .first ? nil : time(), limit: limit)
        case .organization, .deepCursorOrganization:
            return IncidentQuery(organization: organization(), from: time(), limit: limit)
        case .rsitClass:
            return IncidentQuery(
                rsitClass: IncidentPlan.classes[uniform(IncidentPlan.classes.count)], from: time(), limit: limit)
        case .severityStatus:
            return IncidentQuery(
                severity: IncidentPlan.severities[uniform(5)], status: IncidentStatus.allCases[uniform(5)],
                from: time(), limit: limit)
        case .sparse:
            return IncidentQuery(
                organization: organization(), severity: IncidentPlan.severities[uniform(5)],
                status: IncidentPlan.updateStatuses[uniform(4)], from: time(), limit: limit)
        case .timeRange:
            let from = time()
            return IncidentQuery(from: from, to: from + 3_600_000, limit: limit)
        case .detail, .inclusion, .consistency:
            return IncidentQuery(limit: limit)
        }
    }

    mutating func incident() -> (organization: String, id: String) {
        let index = uniform(plan.count)
        let spec = plan.incident(index)
        return (BenchNodeHome.organizationName(spec.organization), spec.record.id)
    }
}

/// Measures each kind through ``LedgerQueries``, kinds interleaved sample by sample so that noise falls on all.
struct IncidentQueryRunner {
    let plan: IncidentPlan
    let queries: LedgerQueries
    let limit: Int
    let logSize: UInt64

    func measure(samples: Int) throws -> IncidentQueryResults {
        var sampler = IncidentSampler(plan: plan, logSize: logSize)
        let kinds = IncidentQueryKind.allCases
        var latencies = Array(repeating: [Double](), count: kinds.count)
        var results = Array(repeating: 0, count: kinds.count)
        let clock = ContinuousClock()
        for _ in 0..<samples {
            for (k, kind) in kinds.enumerated() {
                var query = sampler.query(kind, limit: limit)
                if kind == .deepCursor || kind == .deepCursorOrganization {
                    // A cursor handed out deep in the index (at a random detection time), not timed.
                    query.cursor = try queries.incidents(query).nextCursor
                    query.from = nil
                }
                let (organization, id) = sampler.incident()
                let leaf = random(below: logSize, &sampler)
                let oldSize = 1 + random(below: logSize, &sampler)
                let start = clock.now
                switch kind {
                case .detail:
                    let detail = try queries.incident(organization: organization, id: id).value
                    guard detail != nil else { throw BenchNodeError("incident \(organization):\(id) is missing") }
                    results[k] += 1
                case .inclusion:
                    results[k] += try queries.incidentInclusionProof(leaf: leaf, treeSize: nil).proof.isEmpty ? 0 : 1
                case .consistency:
                    _ = try queries.incidentConsistencyProof(oldSize: oldSize, newSize: nil)
                    results[k] += 1
                default:
                    results[k] += try queries.incidents(query).incidents.count
                }
                latencies[k].append((clock.now - start).benchSeconds)
            }
        }
        return IncidentQueryResults(
            kinds: kinds.enumerated().map { k, kind in
                IncidentKindResult(
                    kind: kind.rawValue, latency: LatencySummary(latencies[k]),
                    meanResults: Double(results[k]) / Double(samples))
            })
    }

    private func random(below bound: UInt64, _ sampler: inout IncidentSampler) -> UInt64 {
        bound == 0 ? 0 : sampler.random.next() % bound
    }
}

/// Measures a few kinds through `GET /v1/incidents...` and `/v1/incident-log/inclusion` with a bearer token, one
/// keep-alive connection, one request at a time.
struct IncidentHTTPRunner {
    let plan: IncidentPlan
    let connection: BenchHTTPConnection
    let token: String
    let limit: Int
    let logSize: UInt64

    func measure(samples: Int) async throws -> IncidentQueryResults {
        struct Page: Decodable { var incidents: [Item] }
        struct Item: Decodable {}
        var sampler = IncidentSampler(plan: plan, logSize: logSize)
        let kinds = IncidentQueryKind.http
        var latencies = Array(repeating: [Double](), count: kinds.count)
        var results = Array(repeating: 0, count: kinds.count)
        let headers = [("authorization", "Bearer \(token)")]
        let clock = ContinuousClock()
        for _ in 0..<samples {
            for (k, kind) in kinds.enumerated() {
                let path: String
                switch kind {
                case .detail:
                    let (organization, id) = sampler.incident()
                    path = "/v1/incidents/\(organization)/\(id)"
                case .inclusion:
                    path = "/v1/incident-log/inclusion?leaf=\(sampler.random.next() % max(1, logSize))"
                default:
                    path = "/v1/incidents?" + Self.parameters(sampler.query(kind, limit: limit))
                }
                let start = clock.now
                let response = try await connection.request(path: path, headers: headers)
                let elapsed = (clock.now - start).benchSeconds
                guard response.status == 200 else {
                    throw BenchNodeError(
                        "GET \(path) answered HTTP \(response.status): "
                            + String(decoding: response.body.prefix(300), as: UTF8.self))
                }
                latencies[k].append(elapsed)
                if kind == .detail || kind == .inclusion {
                    results[k] += 1
                } else {
                    results[k] += try JSONDecoder().decode(Page.self, from: Data(response.body)).incidents.count
                }
            }
        }
        return IncidentQueryResults(
            kinds: kinds.enumerated().map { k, kind in
                IncidentKindResult(
                    kind: kind.rawValue, latency: LatencySummary(latencies[k]),
                    meanResults: Double(results[k]) / Double(samples))
            })
    }

    /// The query string of `query` as `GET /v1/incidents` reads it.
    static func parameters(_ query: IncidentQuery) -> String {
        var items: [String] = []
        if let organization = query.organization { items.append("organization=\(organization)") }
        if let rsitClass = query.rsitClass { items.append("class=\(rsitClass)") }
        if let severity = query.severity { items.append("severity=\(severity.rawValue)") }
        if let status = query.status { items.append("status=\(status.name)") }
        if let from = query.from { items.append("from=\(from)") }
        if let to = query.to { items.append("to=\(to)") }
        items.append("limit=\(query.limit)")
        return items.joined(separator: "&")
    }
}

/// The `ensure-bench incidents` report.
struct IncidentReport {
    let path: String
    let reused: Bool
    let plan: IncidentPlan
    let build: IncidentBuild
    let storeBytes: UInt64
    let census: IncidentCensus
    let limit: Int
    let direct: IncidentQueryResults
    let http: IncidentQueryResults?

    var buildRate: Double { build.seconds > 0 ? Double(plan.count) / build.seconds : 0 }

    func text() -> String {
        var lines: [String] = []
        lines.append("store: \(path) (\(reused ? "reused; build figures from when it was built" : "built now"))")
        lines.append(
            "plan: \(plan.count) incidents from \(plan.plugins) plugins of \(plan.organizations) organizations, "
                + "\(IncidentPlan.categories.count) RSIT types in \(IncidentPlan.classes.count) classes, 5 severities, "
                + "\(Int(plan.updated * 100)) % moved to another status")
        lines.append(
            "build: \(build.transactions) transactions in \(build.blocks) blocks, \(String(format: "%.1f", build.seconds)) s "
                + "= \(Int(buildRate)) incidents/s (sign \(String(format: "%.1f", build.signSeconds)) s and verify "
                + "\(String(format: "%.1f", build.verifySeconds)) s on \(build.cores) cores, execute "
                + "\(String(format: "%.1f", build.executeSeconds)) s, commit \(String(format: "%.1f", build.commitSeconds)) s)"
        )
        lines.append(
            "store size: \(String(format: "%.1f", Double(storeBytes) / 1e6)) MB (\(storeBytes / UInt64(max(1, plan.count))) bytes per incident)"
        )
        let statuses = IncidentStatus.allCases.map { "\($0.name) \(census.byStatus[$0.name] ?? 0)" }
        lines.append(
            "index: \(census.incidents) incidents (\(statuses.joined(separator: ", "))), incident log \(census.logSize) leaves"
        )
        lines.append("LedgerQueries (the function the API route calls), pages of \(limit):")
        for kind in direct.kinds { lines.append(Self.line(kind)) }
        if let http {
            lines.append("through HTTP (in-process node, bearer token, one keep-alive connection):")
            for kind in http.kinds {
                var line = Self.line(kind)
                if let direct = direct.kinds.first(where: { $0.kind == kind.kind })?.latency, let latency = kind.latency
                {
                    line += "  HTTP adds \(LatencySummary.format(max(0, latency.p50 - direct.p50))) at p50"
                }
                lines.append(line)
            }
        }
        return lines.joined(separator: "\n")
    }

    private static func line(_ kind: IncidentKindResult) -> String {
        let name = kind.kind.padding(toLength: 36, withPad: " ", startingAt: 0)
        return
            "  \(name) \(kind.latency?.text ?? "no samples")  mean \(String(format: "%.1f", kind.meanResults)) results"
    }

    private struct Document: Encodable {
        var path: String
        var reused: Bool
        var plan: IncidentPlan
        var build: IncidentBuild
        var buildIncidentsPerSecond: Double
        var storeBytes: UInt64
        var census: IncidentCensus
        var limit: Int
        var direct: IncidentQueryResults
        var http: IncidentQueryResults?
    }

    func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let document = Document(
            path: path, reused: reused, plan: plan, build: build, buildIncidentsPerSecond: buildRate,
            storeBytes: storeBytes, census: census, limit: limit, direct: direct, http: http)
        return String(decoding: (try? encoder.encode(document)) ?? Data("{}".utf8), as: UTF8.self)
    }
}
