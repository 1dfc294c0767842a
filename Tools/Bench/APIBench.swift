import ArgumentParser
import Codec
import Dispatch
import EnsureCrypto
import Foundation
import Ledger
import NIOCore
import NIOHTTP1
import NIOPosix
import NodeConfig

/// `ensure-bench api`: how many signed transactions per second the HTTP API admits (`POST /v1/transactions`),
/// with request latency and refusals by reason, against the Ed25519 verification bound of this machine measured in
/// the same run. The node is a real one started in this process (one validator, so the mempool drains into
/// blocks), or a running testnet.
struct APIBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api",
        abstract: "API transaction admissions per second against the Ed25519 verification bound.",
        discussion: """
            Pre-signs --transactions notarize transactions (--tx-bytes canonical bytes each) spread over distinct \
            signers, then submits them as raw canonical bytes (POST /v1/transactions, application/octet-stream) \
            over --connections keep-alive HTTP/1.1 connections per node with up to --pipeline requests in flight \
            on each, every signer on one connection with at most one request in flight, as fast as the API \
            answers. Without --testnet the node is a real ensure-node runtime (engine, peer transport, Hummingbird \
            API) started in this process on a fresh home whose genesis has --signers organizations (only \
            organization admins may notarize) and one validator. By default the node is an observer and the \
            validator does not run, so nothing commits and admission alone is measured (the mempool limit is \
            raised to --mempool-max so that it does not fill); --validator runs the validator itself, so that \
            admissions compete with block commits on the engine. The node verifies each signature on admission, \
            on its actor (one core at a time), so the figure is printed as a ratio to one core's verification \
            rate. The client shares the machine's cores with the node.
            """
    )

    @Option(help: "Transactions to submit.")
    var transactions = 40_000

    @Option(help: "Distinct signers (organizations in the in-process node's genesis).")
    var signers = 128

    @Option(help: "Keep-alive HTTP/1.1 connections per node.")
    var connections = 8

    @Option(help: "Requests in flight on one connection (pipelined), each of a different signer.")
    var pipeline = 16

    @Option(help: "Canonical bytes of each transaction (the notarize label pads it).")
    var txBytes = 250

    @Option(help: "The in-process node's mempool limit, in transactions ([mempool] max_transactions).")
    var mempoolMax = 200_000

    @Flag(
        help: """
            Run the in-process node as the chain's one validator, so that it commits what it admits (default: as an \
            observer of a chain whose validator is not running, so that only admission is measured).
            """)
    var validator = false

    @Option(help: "Seconds to wait after the load for the mempool to drain into blocks (0: do not wait).")
    var drain = 60.0

    @Option(help: "Home directory for the in-process node (default: a temporary one, removed afterwards).")
    var data: String?

    @Option(help: "Drive a running network made by testnet/up in this directory instead of an in-process node.")
    var testnet: String?

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        guard (1...10_000_000).contains(transactions) else {
            throw ValidationError("--transactions must be 1-10000000")
        }
        guard (1...1_000).contains(signers) else { throw ValidationError("--signers must be 1-1000") }
        guard (1...256).contains(connections) else { throw ValidationError("--connections must be 1-256") }
        guard (1...1_024).contains(pipeline) else { throw ValidationError("--pipeline must be 1-1024") }
        guard (1...10_000_000).contains(mempoolMax) else { throw ValidationError("--mempool-max must be 1-10000000") }
        guard drain >= 0 && drain <= 3_600 else { throw ValidationError("--drain must be 0-3600 s") }
        guard (1...LedgerLimits.transactionBytes).contains(txBytes) else {
            throw ValidationError("--tx-bytes must be 1-\(LedgerLimits.transactionBytes)")
        }
    }

    func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        var node: InProcessNode?
        var temporary: String?
        do {
            let target: APITarget
            if let testnet {
                target = try await APITarget.testnet(directory: testnet, on: loop)
            } else {
                let path: String
                if let data {
                    path = data
                    guard !FileManager.default.fileExists(atPath: path + "/genesis.json") else {
                        throw BenchNodeError("\(path) already holds a node home; give an empty or new directory")
                    }
                } else {
                    path = NSTemporaryDirectory() + "ensure-bench-api-\(UUID().uuidString)"
                    temporary = path
                }
                var mempool = NodeConfiguration().mempool
                mempool.maxTransactions = mempoolMax
                mempool.maxBytes = max(mempool.maxBytes, mempoolMax * (txBytes + 512))
                let home = try BenchNodeHome.create(
                    at: path, chainID: "bench-api", organizations: signers,
                    parameters: GenesisParameters(mempoolMaxTransactions: UInt64(mempoolMax)),
                    genesisTime: UInt64(Date().timeIntervalSince1970 * 1000), mempool: mempool, observer: !validator)
                let started = try await InProcessNode.start(home: home, on: loop)
                node = started
                target = APITarget(
                    description:
                        "in-process node, \(validator ? "the chain's one validator (commits what it admits)" : "observer of a chain whose validator does not run (admits, never commits)") at \(home.path), mempool limit \(mempoolMax)",
                    chainID: home.genesis.chainID, endpoints: [(started.host, started.port)],
                    signers: home.admins.enumerated().map { .init(key: $0.element, endpoint: 0, next: 1) },
                    mempoolLimit: mempoolMax, perSignerLimit: mempool.maxPerSigner)
            }
            let report = try await measure(target, on: loop)
            print(json ? report.json() : report.text())
        } catch {
            await node?.stop()
            if let temporary { try? FileManager.default.removeItem(atPath: temporary) }
            try? await group.shutdownGracefully()
            throw error
        }
        await node?.stop()
        if let temporary { try? FileManager.default.removeItem(atPath: temporary) }
        try? await group.shutdownGracefully()
    }

    private func measure(_ target: APITarget, on loop: any EventLoop) async throws -> APIReport {
        let shape = try TransactionShape(chainID: target.chainID, targetBytes: txBytes)
        // Transactions per signer, signed before the clock starts (in parallel, one signer per work item).
        let counts = (0..<target.signers.count).map { index in
            transactions / target.signers.count + (index < transactions % target.signers.count ? 1 : 0)
        }
        let signing = ContinuousClock().now
        let signed = SignedBatches<[UInt8]>(count: target.signers.count)
        DispatchQueue.concurrentPerform(iterations: target.signers.count) { index in
            let signer = target.signers[index]
            let batch = (0..<counts[index]).compactMap { offset in
                try? shape.transaction(key: signer.key, sequence: signer.next + UInt64(offset)).canonicalBytes
            }
            signed.set(index, batch)
        }
        let batches = signed.all()
        guard batches.map(\.count) == counts else { throw BenchNodeError("could not sign every transaction") }
        let signingSeconds = (ContinuousClock().now - signing).benchSeconds

        let bound = Ed25519VerificationBound.measure()
        let plan = APIPlan(
            endpoints: target.endpoints.map { APIPlan.Endpoint(host: $0.host, port: $0.port) },
            signerEndpoints: target.signers.map(\.endpoint), transactions: batches, connections: connections,
            pipeline: pipeline)
        let outcome = try await loop.flatSubmit { APIDriver(plan: plan, loop: loop).run() }.get()

        var drained: Double?
        var pendingAfter: Int?
        if drain > 0, validator || testnet != nil {
            let clock = ContinuousClock()
            let start = clock.now
            while (clock.now - start).benchSeconds < drain {
                var pending = 0
                for endpoint in target.endpoints {
                    let response = try await BenchHTTP.request(
                        host: endpoint.host, port: endpoint.port, path: "/v1/status", on: loop)
                    pending += try BenchHTTP.decode(APIStatusDocument.self, response, path: "/v1/status")
                        .mempool.transactions
                }
                pendingAfter = pending
                if pending == 0 {
                    drained = (clock.now - start).benchSeconds
                    break
                }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        return APIReport(
            target: target.description, connections: connections, pipeline: pipeline, signers: target.signers.count,
            txBytes: txBytes, mempoolLimit: target.mempoolLimit, perSignerLimit: target.perSignerLimit,
            signingSeconds: signingSeconds, bound: bound, outcome: outcome, drainSeconds: drained,
            pendingAfterDrain: pendingAfter)
    }
}

/// The part of `GET /v1/status` the API bench reads.
struct APIStatusDocument: Decodable {
    struct Mempool: Decodable {
        var transactions: Int
    }
    var chainID: String
    var height: UInt64
    var mempool: Mempool
}

/// Where the API bench submits, and who signs.
struct APITarget {
    struct Signer {
        var key: Ed25519PrivateKey
        var endpoint: Int
        var next: UInt64
    }

    var description: String
    var chainID: String
    var endpoints: [(host: String, port: Int)]
    var signers: [Signer]
    var mempoolLimit: Int?
    var perSignerLimit: Int?

    /// A running testnet: every node's API, every organization admin key (spread over the nodes), each key's next
    /// sequence number from the node it submits to.
    static func testnet(directory: String, on loop: any EventLoop) async throws -> APITarget {
        let network = try LoadNetwork.read(directory: directory)
        var chainID: String?
        for node in network.nodes {
            let response = try await BenchHTTP.request(host: node.host, port: node.port, path: "/v1/status", on: loop)
            let status = try BenchHTTP.decode(APIStatusDocument.self, response, path: "/v1/status")
            if let chainID, chainID != status.chainID {
                throw BenchNodeError("node \(node.name) is on chain \(status.chainID), not \(chainID)")
            }
            chainID = status.chainID
        }
        var signers: [Signer] = []
        for (index, organization) in network.organizations.enumerated() {
            let endpoint = index % network.nodes.count
            let node = network.nodes[endpoint]
            let path = "/v1/accounts/\(organization.key.publicKey.hex)"
            let response = try await BenchHTTP.request(host: node.host, port: node.port, path: path, on: loop)
            let account = try BenchHTTP.decode(LoadNetwork.AccountDocument.self, response, path: path)
            signers.append(Signer(key: organization.key, endpoint: endpoint, next: account.nextSequence))
        }
        return APITarget(
            description: "testnet \(directory) (\(network.nodes.count) nodes)", chainID: chainID ?? "",
            endpoints: network.nodes.map { ($0.host, $0.port) }, signers: signers, mempoolLimit: nil,
            perSignerLimit: network.signerWindow)
    }
}

/// Results of parallel signing, one slot per signer.
final class SignedBatches<Element: Sendable>: @unchecked Sendable {
    // Each slot is written by exactly one work item of concurrentPerform, then read after it returns; the lock
    // makes that hand-over explicit.
    private var batches: [[Element]]
    private let lock = NSLock()

    init(count: Int) { batches = Array(repeating: [], count: count) }

    func set(_ index: Int, _ batch: [Element]) { lock.withLock { batches[index] = batch } }

    func all() -> [[Element]] { lock.withLock { batches } }
}

/// What the driver sends, fixed before it starts.
struct APIPlan: Sendable {
    struct Endpoint: Sendable {
        var host: String
        var port: Int
    }

    var endpoints: [Endpoint]
    /// The endpoint of each signer.
    var signerEndpoints: [Int]
    /// Each signer's transactions, canonical bytes in sequence order.
    var transactions: [[[UInt8]]]
    /// Connections per endpoint.
    var connections: Int
    /// Requests in flight per connection.
    var pipeline: Int
}

/// What the load found.
struct APIOutcome: Sendable {
    /// Answered 202: admitted into the mempool.
    var admitted = 0
    /// Answered 200: already committed (a retry after a lost answer).
    var alreadyCommitted = 0
    /// Refusals by problem code, retried ones included.
    var refusals: [String: Int] = [:]
    /// Refusals that meant "later" and were sent again.
    var retries = 0
    /// Signers stopped by a refusal that breaks their sequence chain, with its code.
    var stoppedSigners: [String] = []
    /// Transactions never admitted (their signer was stopped).
    var abandoned = 0
    /// Latency of every answered request, seconds.
    var latencies: [Double] = []
    /// From the first request to the last answer, seconds.
    var elapsed = 0.0
    /// Requests sent.
    var requests = 0
}

/// Sends every planned transaction as fast as the API answers: each connection keeps up to ``APIPlan/pipeline``
/// requests in flight, taking its signers in turn; a signer has at most one request in flight, so its transactions
/// arrive in sequence order. Runs on one event loop.
final class APIDriver {
    private struct Signer {
        var next = 0
        var busy = false
        var stopped = false
        var waiting = false
    }

    private static let retryableCodes: Set<String> = ["mempool-full", "signer-limit", "unavailable"]

    private let plan: APIPlan
    private let loop: any EventLoop
    private let promise: EventLoopPromise<APIOutcome>
    private var connections: [LoadConnection] = []
    /// The signers each connection serves, and where its round-robin stands.
    private var owned: [[Int]] = []
    private var cursor: [Int] = []
    private var signers: [Signer]
    private var outcome = APIOutcome()
    private var start = NIODeadline.now()
    private var finished = false

    init(plan: APIPlan, loop: any EventLoop) {
        self.plan = plan
        self.loop = loop
        promise = loop.makePromise(of: APIOutcome.self)
        signers = Array(repeating: Signer(), count: plan.transactions.count)
    }

    func run() -> EventLoopFuture<APIOutcome> {
        var targets: [(node: LoadNetwork.Node, endpoint: Int)] = []
        for (index, endpoint) in plan.endpoints.enumerated() {
            let node = LoadNetwork.Node(
                name: "api-\(index)", host: endpoint.host, port: endpoint.port, validator: true, home: "")
            for _ in 0..<plan.connections { targets.append((node, index)) }
        }
        connect(targets, opened: [])
        return promise.futureResult
    }

    /// Opens the connections one after another, then starts.
    private func connect(_ targets: [(node: LoadNetwork.Node, endpoint: Int)], opened: [LoadConnection]) {
        guard opened.count < targets.count else {
            begin(connections: opened, endpoints: targets.map(\.endpoint))
            return
        }
        let target = targets[opened.count]
        LoadConnection.connect(to: target.node, on: loop).whenComplete { result in
            switch result {
            case .failure(let error):
                self.promise.fail(
                    BenchNodeError("cannot connect to the API at \(target.node.host):\(target.node.port): \(error)"))
            case .success(let connection):
                self.connect(targets, opened: opened + [connection])
            }
        }
    }

    private func begin(connections: [LoadConnection], endpoints: [Int]) {
        self.connections = connections
        owned = Array(repeating: [], count: connections.count)
        cursor = Array(repeating: 0, count: connections.count)
        // Signers of an endpoint are dealt over that endpoint's connections.
        var dealt = Array(repeating: 0, count: plan.endpoints.count)
        for signer in plan.transactions.indices {
            let endpoint = plan.signerEndpoints[signer]
            let candidates = endpoints.indices.filter { endpoints[$0] == endpoint }
            owned[candidates[dealt[endpoint] % candidates.count]].append(signer)
            dealt[endpoint] += 1
        }
        start = .now()
        for index in connections.indices { pump(index) }
        finishIfDone()
    }

    /// Sends the next transactions of the connection's next ready signers until it has ``APIPlan/pipeline``
    /// requests in flight.
    private func pump(_ index: Int) {
        guard !finished, !owned[index].isEmpty else { return }
        let mine = owned[index]
        var step = 0
        while connections[index].inFlight < plan.pipeline, step < mine.count {
            let signer = mine[(cursor[index] + step) % mine.count]
            step += 1
            let state = signers[signer]
            guard !state.busy, !state.stopped, !state.waiting, state.next < plan.transactions[signer].count else {
                continue
            }
            send(signer: signer, over: index)
        }
        cursor[index] = (cursor[index] + step) % mine.count
    }

    private func send(signer: Int, over index: Int) {
        signers[signer].busy = true
        outcome.requests += 1
        let sent = NIODeadline.now()
        let bytes = plan.transactions[signer][signers[signer].next]
        connections[index].send(method: .POST, path: "/v1/transactions", body: bytes) { result in
            self.answered(signer: signer, connection: index, sent: sent, result: result)
        }
    }

    private func answered(
        signer: Int, connection: Int, sent: NIODeadline, result: Result<LoadHTTPResponse, LoadHTTPFailure>
    ) {
        guard !finished else { return }
        let now = NIODeadline.now()
        signers[signer].busy = false
        switch result {
        case .failure(let failure):
            finish(error: BenchNodeError("connection \(connection) failed: \(failure)"))
            return
        case .success(let response):
            outcome.latencies.append(Double((now - sent).nanoseconds) / 1e9)
            outcome.elapsed = Double((now - start).nanoseconds) / 1e9
            if response.status == 202 {
                outcome.admitted += 1
                signers[signer].next += 1
            } else if response.status == 200 {
                outcome.alreadyCommitted += 1
                signers[signer].next += 1
            } else {
                let code = BenchHTTP.problemCode(response)
                outcome.refusals[code, default: 0] += 1
                if Self.retryableCodes.contains(code) {
                    outcome.retries += 1
                    signers[signer].waiting = true
                    let delay = TimeAmount.milliseconds(
                        Int64(min(max(response.retryAfterSeconds ?? 0, 0), 10)) * 1000 + 20)
                    loop.assumeIsolated().scheduleTask(in: delay) {
                        self.signers[signer].waiting = false
                        for index in self.connections.indices { self.pump(index) }
                    }
                } else {
                    signers[signer].stopped = true
                    outcome.abandoned += plan.transactions[signer].count - signers[signer].next
                    outcome.stoppedSigners.append("signer \(signer): \(code)")
                }
            }
        }
        pump(connection)
        finishIfDone()
    }

    private func finishIfDone() {
        let done = signers.indices.allSatisfy { index in
            signers[index].stopped || (signers[index].next == plan.transactions[index].count && !signers[index].busy)
        }
        if done { finish(error: nil) }
    }

    private func finish(error: (any Error)?) {
        guard !finished else { return }
        finished = true
        for connection in connections { connection.close() }
        if let error { promise.fail(error) } else { promise.succeed(outcome) }
    }
}

/// The `ensure-bench api` report.
struct APIReport {
    let target: String
    let connections: Int
    let pipeline: Int
    let signers: Int
    let txBytes: Int
    let mempoolLimit: Int?
    let perSignerLimit: Int?
    let signingSeconds: Double
    let bound: Ed25519VerificationBound
    let outcome: APIOutcome
    let drainSeconds: Double?
    let pendingAfterDrain: Int?

    var admittedRate: Double { outcome.elapsed > 0 ? Double(outcome.admitted) / outcome.elapsed : 0 }
    var requestRate: Double { outcome.elapsed > 0 ? Double(outcome.requests) / outcome.elapsed : 0 }
    var latency: LatencySummary? { LatencySummary(outcome.latencies) }

    func text() -> String {
        var lines: [String] = []
        lines.append("target: \(target)")
        lines.append(
            "load: \(outcome.requests) requests of \(txBytes)-byte notarize transactions from \(signers) signers "
                + "over \(connections) keep-alive connections per node, up to \(pipeline) requests in flight on each")
        lines.append("pre-signed in \(String(format: "%.2f", signingSeconds)) s (not part of the measurement)")
        lines.append(bound.description)
        lines.append(
            "admitted: \(outcome.admitted) in \(String(format: "%.2f", outcome.elapsed)) s = \(Int(admittedRate)) /s"
                + "  (\(String(format: "%.3f", admittedRate / bound.perCore)) of one core's verifications, "
                + "\(String(format: "%.3f", admittedRate / bound.allCores)) of all cores')")
        if outcome.alreadyCommitted > 0 { lines.append("already committed (200): \(outcome.alreadyCommitted)") }
        if let latency { lines.append("request latency: \(latency.text)") }
        if outcome.refusals.isEmpty {
            lines.append("refusals: none")
        } else {
            let list = outcome.refusals.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
            lines.append("refusals: \(list.joined(separator: ", ")); retried \(outcome.retries)")
        }
        if !outcome.stoppedSigners.isEmpty {
            lines.append(
                "stopped signers: \(outcome.stoppedSigners.joined(separator: "; ")); \(outcome.abandoned) not sent")
        }
        if let drainSeconds {
            lines.append("mempool drained into blocks \(String(format: "%.2f", drainSeconds)) s after the last answer")
        } else if let pendingAfterDrain {
            lines.append("mempool not drained: \(pendingAfterDrain) transactions still pending")
        }
        return lines.joined(separator: "\n")
    }

    private struct Document: Encodable {
        struct Bound: Encodable {
            var perCore: Double
            var allCores: Double
            var cores: Int
        }
        var target: String
        var connections: Int
        var pipeline: Int
        var signers: Int
        var txBytes: Int
        var mempoolLimit: Int?
        var perSignerLimit: Int?
        var requests: Int
        var admitted: Int
        var alreadyCommitted: Int
        var refusals: [String: Int]
        var retries: Int
        var abandoned: Int
        var stoppedSigners: [String]
        var elapsedSeconds: Double
        var admittedPerSecond: Double
        var ratioToOneCore: Double
        var ratioToAllCores: Double
        var bound: Bound
        var latency: LatencySummary?
        var signingSeconds: Double
        var drainSeconds: Double?
        var pendingAfterDrain: Int?
    }

    func json() -> String {
        let document = Document(
            target: target, connections: connections, pipeline: pipeline, signers: signers, txBytes: txBytes,
            mempoolLimit: mempoolLimit,
            perSignerLimit: perSignerLimit, requests: outcome.requests, admitted: outcome.admitted,
            alreadyCommitted: outcome.alreadyCommitted, refusals: outcome.refusals, retries: outcome.retries,
            abandoned: outcome.abandoned, stoppedSigners: outcome.stoppedSigners, elapsedSeconds: outcome.elapsed,
            admittedPerSecond: admittedRate, ratioToOneCore: admittedRate / bound.perCore,
            ratioToAllCores: admittedRate / bound.allCores,
            bound: .init(perCore: bound.perCore, allCores: bound.allCores, cores: bound.cores), latency: latency,
            signingSeconds: signingSeconds, drainSeconds: drainSeconds, pendingAfterDrain: pendingAfterDrain)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(document)) ?? Data("{}".utf8), as: UTF8.self)
    }
}
