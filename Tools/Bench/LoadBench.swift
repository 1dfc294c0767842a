import ArgumentParser
import Codec
import EnsureCrypto
import Foundation
import Ledger
import NIOCore
import NIOHTTP1
import NIOPosix
import NodeConfig

/// `ensure-bench load`: drives a running local network (made by `testnet/up`) with signed notarize transactions at a
/// target rate over its HTTP API, and reports committed transactions per second as a ratio to this machine's
/// Ed25519 verification bound, commit latency, refusals by code and each node's peak memory.
struct LoadBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Load a running testnet: committed tx/s against the Ed25519 bound, commit latency, peak RSS.",
        discussion: """
            Reads DIR/testnet.json (written by testnet/up) for the nodes' API addresses, DIR/orgs/*/admin.key for \
            the signers and DIR/NAME/node.pid for the processes. Each organization's admin key signs notarize \
            transactions with consecutive sequence numbers from GET /v1/accounts/{key} (before the load starts, \
            unless --no-presign), sent to one node per key over keep-alive, pipelined HTTP/1.1 connections: one \
            per request, or with --batch N up to N per POST /v1/transactions/batch. Commits are seen on one node: its \
            block stream (GET /v1/events/blocks) says when each block commits and GET /v1/blocks/{height} gives its \
            transactions (polled every 10 ms while the stream is down); latency runs from the first submission of a \
            transaction to the moment the node announces the block that holds it, and is split into the wait for \
            the node's answer, the wait until the block was proposed (its header time: the nodes share this \
            machine's clock) and the rest. Every validator verifies every transaction once and the nodes share this \
            machine's cores, so the bound is the all-core verification rate divided by the number of validators, \
            measured before the load and again after it (the ratio uses the mean of both). \
            Targets: committed >= 0.5 x bound, p99 <= 1 s, peak RSS <= 200 MB per node.
            """
    )

    @Option(help: "Directory of a running network made by testnet/up.")
    var testnet = "testnet/.net"

    @Option(
        help: """
            Target submissions per second (default: the throughput target, half the verification bound measured at \
            the start, plus 5 %, so that a bound that moves up during the run still leaves the load at the target).
            """)
    var rate: Double?

    @Option(help: "Seconds of the measured window.")
    var duration = 60.0

    @Option(help: "Seconds of load before the measured window starts.")
    var warmup = 5.0

    @Option(help: "Canonical bytes of each transaction (the label pads it).")
    var txBytes = 250

    @Option(help: "Seconds after the window to wait for its transactions to commit.")
    var drain = 10.0

    @Option(help: "Keep-alive HTTP/1.1 connections per node.")
    var connections = 2

    @Option(help: "Requests in flight on one connection (pipelined).")
    var pipeline = 32

    @Option(
        help: """
            Transactions per request: 1 sends each to POST /v1/transactions; more sends up to that many at once to \
            POST /v1/transactions/batch (1-512).
            """)
    var batch = 1

    @Option(help: "Milliseconds a partly filled batch waits for more transactions before it is sent.")
    var batchWait = 10

    @Flag(
        inversion: .prefixedNo,
        help: """
            Sign the transactions of warmup and window before the load starts (on every core), so that signing \
            does not compete with the nodes for this machine's cores during the window; --no-presign signs each \
            one as it is sent.
            """)
    var presign = true

    @Option(
        help: """
            Most uncommitted transactions per signer (default: the smallest mempool max_per_signer or \
            sequence_window in the nodes' config.toml).
            """)
    var signerWindow: Int?

    @Option(help: "Name of the node whose blocks are followed (default: the first in testnet.json).")
    var follow: String?

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        if let rate { guard rate > 0 && rate <= 1_000_000 else { throw ValidationError("--rate must be 0-1000000") } }
        guard duration >= 1 && duration <= 86_400 else { throw ValidationError("--duration must be 1-86400 s") }
        guard warmup >= 0 && warmup <= 3_600 else { throw ValidationError("--warmup must be 0-3600 s") }
        guard drain >= 0 && drain <= 3_600 else { throw ValidationError("--drain must be 0-3600 s") }
        guard (1...64).contains(connections) else { throw ValidationError("--connections must be 1-64") }
        guard (1...1_024).contains(pipeline) else { throw ValidationError("--pipeline must be 1-1024") }
        guard (1...512).contains(batch) else { throw ValidationError("--batch must be 1-512") }
        guard (0...1_000).contains(batchWait) else { throw ValidationError("--batch-wait must be 0-1000 ms") }
        if let signerWindow {
            guard (1...1_000_000).contains(signerWindow) else {
                throw ValidationError("--signer-window must be 1-1000000")
            }
        }
        guard (1...LedgerLimits.transactionBytes).contains(txBytes) else {
            throw ValidationError("--tx-bytes must be 1-\(LedgerLimits.transactionBytes)")
        }
    }

    func run() throws {
        let network = try LoadNetwork.read(directory: testnet)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let loop = group.next()

        var statuses: [LoadNetwork.NodeStatusDocument] = []
        for node in network.nodes {
            statuses.append(
                try LoadHTTP.getJSON(LoadNetwork.NodeStatusDocument.self, node: node, path: "/v1/status", on: loop))
        }
        let chainID = statuses[0].chainID
        guard ChainID.isValid(chainID) else {
            throw LoadBenchError("node \(network.nodes[0].name) reports an invalid chain id \"\(chainID)\"")
        }
        if let other = zip(network.nodes, statuses).first(where: { $0.1.chainID != chainID }) {
            throw LoadBenchError("node \(other.0.name) is on chain \(other.1.chainID), not \(chainID)")
        }
        let followIndex: Int
        if let follow {
            guard let index = network.nodes.firstIndex(where: { $0.name == follow }) else {
                throw LoadBenchError("--follow \(follow) is not a node of \(testnet)/testnet.json")
            }
            followIndex = index
        } else {
            followIndex = 0
        }

        let shape = try TransactionShape(chainID: chainID, targetBytes: txBytes)

        var signers: [LoadPlan.Signer] = []
        for (index, organization) in network.organizations.enumerated() {
            let node = index % network.nodes.count
            let account = try LoadHTTP.getJSON(
                LoadNetwork.AccountDocument.self, node: network.nodes[node],
                path: "/v1/accounts/\(organization.key.publicKey.hex)", on: loop)
            signers.append(
                .init(name: organization.name, key: organization.key, node: node, next: account.nextSequence))
        }

        let bound = Ed25519VerificationBound.measure()
        let validators = network.nodes.count(where: \.validator)
        let networkBound = bound.allCores / Double(max(1, validators))
        let target = rate ?? (networkBound * LoadReport.throughputTarget * LoadReport.defaultRateMargin).rounded()

        var presigned: [[PresignedTransaction]] = Array(repeating: [], count: signers.count)
        if presign {
            let signing = ContinuousClock().now
            presigned = try LoadPlan.presign(
                signers: signers, shape: shape, count: Int((target * (warmup + duration) * 1.05).rounded(.up)))
            if !json {
                let seconds = (ContinuousClock().now - signing).benchSeconds
                print(
                    "presigned \(presigned.reduce(0) { $0 + $1.count }) transactions in "
                        + "\(LoadReport.format(seconds)) s")
            }
        }
        let plan = LoadPlan(
            nodes: network.nodes, signers: signers, shape: shape, rate: target, warmup: warmup, duration: duration,
            drain: drain, connections: connections, pipeline: pipeline, batch: batch,
            batchWait: Double(batchWait) / 1000,
            signerWindow: signerWindow ?? network.signerWindow, presigned: presigned,
            followNode: followIndex, startHeight: statuses[followIndex].height)
        if !json {
            let requests =
                batch > 1
                ? "up to \(batch) transactions per request (POST /v1/transactions/batch, \(batchWait) ms wait), "
                : "one transaction per request, "
            print(bound)
            print(
                "bound for the network: \(Int(networkBound)) verifications/s (\(Int(bound.allCores))/s over "
                    + "\(validators) validators sharing \(bound.cores) cores)")
            print(
                "load: \(network.nodes.count) nodes, \(signers.count) signers, \(connections) connections per node, "
                    + requests + "at most \(plan.signerWindow) uncommitted per signer, target \(Int(target)) tx/s of "
                    + "\(shape.targetBytes)-byte notarize transactions, warmup "
                    + "\(LoadReport.format(warmup)) s, window \(LoadReport.format(duration)) s, following "
                    + "\(network.nodes[followIndex].name) from height \(plan.startHeight)")
            if network.nodes.count > signers.count {
                print("note: \(signers.count) signers for \(network.nodes.count) nodes; some nodes get no submissions")
            }
        }

        let outcome = try loop.flatSubmit { LoadDriver(plan: plan, loop: loop).run() }.wait()
        let memory = network.nodes.map { node in (node.name, PeakMemory.read(home: node.home)) }
        // Measured again with the nodes idle as at the start: the ratio uses the mean of both.
        let boundAtEnd = Ed25519VerificationBound.measure()
        let report = LoadReport(
            plan: plan, outcome: outcome, boundAtStart: bound, boundAtEnd: boundAtEnd, validators: validators,
            memory: memory)
        print(json ? report.json() : report.text())
    }
}

/// Why `ensure-bench load` cannot run: names the file, node or key that was wrong.
struct LoadBenchError: Error, CustomStringConvertible {
    /// What went wrong.
    let description: String

    init(_ description: String) { self.description = description }
}

// MARK: - The network under test

/// What the bench reads from a testnet directory: nodes, their addresses and processes, and the organization keys.
struct LoadNetwork {
    /// One node of the network.
    struct Node: Sendable {
        var name: String
        var host: String
        var port: Int
        var validator: Bool
        var home: String
    }

    /// An organization whose admin key signs the load.
    struct Organization {
        var name: String
        var key: Ed25519PrivateKey
    }

    /// The part of `ensure testnet --json` the bench uses.
    private struct SummaryDocument: Decodable {
        struct NodeEntry: Decodable {
            var name: String
            var apiAddress: String
            var validator: Bool
        }
        var nodes: [NodeEntry]
    }

    /// The part of `GET /v1/status` the bench uses.
    struct NodeStatusDocument: Decodable, Sendable {
        var chainID: String
        var height: UInt64
    }

    /// `GET /v1/accounts/{key}`.
    struct AccountDocument: Decodable, Sendable {
        var nextSequence: UInt64
    }

    var nodes: [Node]
    var organizations: [Organization]
    /// The most uncommitted transactions one signer may have on every node: the smallest `max_per_signer` or
    /// `sequence_window` of the nodes' `[mempool]` configuration.
    var signerWindow: Int

    /// Reads `directory`/testnet.json, every node's config.toml and `directory`/orgs/*/admin.key.
    static func read(directory: String) throws(LoadBenchError) -> LoadNetwork {
        let summaryPath = (directory as NSString).appendingPathComponent("testnet.json")
        guard let data = FileManager.default.contents(atPath: summaryPath) else {
            throw LoadBenchError("cannot read \(summaryPath): start a network with testnet/up first")
        }
        let summary: SummaryDocument
        do {
            summary = try JSONDecoder().decode(SummaryDocument.self, from: data)
        } catch {
            throw LoadBenchError("\(summaryPath) is not the summary of ensure testnet --json: \(error)")
        }
        guard !summary.nodes.isEmpty else { throw LoadBenchError("\(summaryPath) lists no nodes") }
        var nodes: [Node] = []
        for entry in summary.nodes {
            guard let address = splitAddress(entry.apiAddress) else {
                throw LoadBenchError(
                    "\(summaryPath): node \(entry.name) has an unusable apiAddress \"\(entry.apiAddress)\"")
            }
            nodes.append(
                Node(
                    name: entry.name, host: address.host, port: address.port, validator: entry.validator,
                    home: (directory as NSString).appendingPathComponent(entry.name)))
        }

        var signerWindow = Int.max
        for node in nodes {
            let configuration: NodeConfiguration
            do {
                configuration = try NodeConfiguration.load(home: node.home)
            } catch {
                throw LoadBenchError("cannot read the configuration of \(node.name) in \(node.home): \(error)")
            }
            signerWindow = min(signerWindow, configuration.mempool.maxPerSigner, configuration.mempool.sequenceWindow)
        }

        let orgsPath = (directory as NSString).appendingPathComponent("orgs")
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: orgsPath).sorted()
        } catch {
            throw LoadBenchError("cannot list the organizations in \(orgsPath): \(error.localizedDescription)")
        }
        var organizations: [Organization] = []
        for name in names {
            let keyPath = (orgsPath as NSString).appendingPathComponent("\(name)/admin.key")
            guard FileManager.default.fileExists(atPath: keyPath) else { continue }
            do {
                organizations.append(Organization(name: name, key: try KeyFile.read(from: keyPath).privateKey))
            } catch {
                throw LoadBenchError("cannot read the admin key \(keyPath): \(error)")
            }
        }
        guard !organizations.isEmpty else { throw LoadBenchError("no admin key in \(orgsPath)/*/admin.key") }
        return LoadNetwork(nodes: nodes, organizations: organizations, signerWindow: signerWindow)
    }

    /// `host:port` or `[v6]:port` into its parts.
    static func splitAddress(_ address: String) -> (host: String, port: Int)? {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
            (1...65_535).contains(port)
        else { return nil }
        var host = String(address[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        return (host, port)
    }
}

/// The peak resident memory of a node's process: VmHWM from /proc/PID/status, with the pid from HOME/node.pid.
enum PeakMemory {
    /// Bytes, or a sentence saying why it could not be read.
    static func read(home: String) -> Result<Int, LoadBenchError> {
        let pidPath = (home as NSString).appendingPathComponent("node.pid")
        guard let pidText = try? String(contentsOfFile: pidPath, encoding: .utf8),
            let pid = Int(pidText.trimmingCharacters(in: .whitespacesAndNewlines))
        else { return .failure(LoadBenchError("no pid in \(pidPath)")) }
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else {
            return .failure(LoadBenchError("process \(pid) is not running"))
        }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if fields.count >= 3, fields[2] == "kB", let kibibytes = Int(fields[1]) {
                return .success(kibibytes * 1024)
            }
        }
        return .failure(LoadBenchError("no VmHWM line in /proc/\(pid)/status"))
    }
}

/// CPU time used by processes, from /proc: the nodes' (utime + stime of /proc/PID/stat, pid from HOME/node.pid)
/// and the bench's own (getrusage).
enum ProcessCPU {
    /// Seconds of CPU `home`'s node process has used, or nil when it cannot be read.
    static func seconds(home: String) -> Double? {
        let pidPath = (home as NSString).appendingPathComponent("node.pid")
        guard let pidText = try? String(contentsOfFile: pidPath, encoding: .utf8),
            let pid = Int(pidText.trimmingCharacters(in: .whitespacesAndNewlines)),
            let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        // After "pid (comm) ": state is field 3, utime field 14 and stime field 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Seconds of CPU this process has used.
    static func ownSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
            + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    /// Every node's CPU seconds (nil where unreadable) and the bench's, now.
    static func sample(_ nodes: [LoadNetwork.Node]) -> CPUSample {
        CPUSample(nodes: nodes.map { seconds(home: $0.home) }, bench: ownSeconds())
    }
}

/// CPU seconds used so far by each node and by the bench.
struct CPUSample: Sendable {
    var nodes: [Double?]
    var bench: Double
}

// MARK: - Transactions

/// Builds notarize transactions of one canonical size: the label pads each to ``targetBytes``.
struct TransactionShape: Sendable {
    let chainID: String
    let targetBytes: Int
    /// Label length by the byte length of the sequence number's varint (1...10).
    private let labelLengths: [Int]

    init(chainID: String, targetBytes: Int) throws(LoadBenchError) {
        self.chainID = chainID
        self.targetBytes = targetBytes
        let probeKey = Ed25519PublicKey(bytes: [UInt8](repeating: 1, count: Ed25519PublicKey.byteCount))
        let probeSignature = Ed25519Signature(bytes: [UInt8](repeating: 0, count: Ed25519Signature.byteCount))
        guard let probeKey, let probeSignature else { throw LoadBenchError("cannot build a probe transaction") }
        var lengths: [Int] = []
        for width in 1...10 {
            // The smallest sequence whose varint has `width` bytes.
            let sequence: UInt64 = width == 1 ? 1 : 1 << UInt64(7 * (width - 1))
            func size(labelLength: Int) throws(LoadBenchError) -> Int {
                let payload = try Self.payload(digest: .zero, labelLength: labelLength)
                return Transaction(
                    chainID: chainID, signer: probeKey, sequence: sequence, kind: .notarize, payload: payload,
                    signature: probeSignature
                ).canonicalBytes.count
            }
            let smallest = try size(labelLength: 0)
            let largest = try size(labelLength: NotarizePayload.maxLabelBytes)
            guard (smallest...largest).contains(targetBytes) else {
                throw LoadBenchError(
                    "--tx-bytes \(targetBytes) is not reachable: a notarize transaction on chain \(chainID) has "
                        + "\(smallest)-\(largest) canonical bytes")
            }
            // Varint length prefixes grow by a byte at 128, so step until the size matches (or is one short).
            var length = targetBytes - smallest
            while length > 0, try size(labelLength: length) > targetBytes { length -= 1 }
            lengths.append(length)
        }
        labelLengths = lengths
    }

    /// A signed transaction of `key` at `sequence` with a fresh random digest.
    func transaction(key: Ed25519PrivateKey, sequence: UInt64) throws(LoadBenchError) -> Transaction {
        var width = 1
        var rest = sequence >> 7
        while rest > 0 {
            width += 1
            rest >>= 7
        }
        guard let digest = Digest(bytes: SecureRandom.bytes(Digest.byteCount)) else {
            throw LoadBenchError("cannot make a random digest")
        }
        let payload = try Self.payload(digest: digest, labelLength: labelLengths[width - 1])
        return Transaction(chainID: chainID, sequence: sequence, kind: .notarize, payload: payload, signedBy: key)
    }

    private static func payload(digest: Digest, labelLength: Int) throws(LoadBenchError) -> [UInt8] {
        let label =
            labelLength >= 5
            ? "load " + String(repeating: "x", count: labelLength - 5)
            : String(
                repeating: "x", count: labelLength)
        do {
            return try NotarizePayload(digest: digest, label: label).canonicalBytes
        } catch {
            throw LoadBenchError("cannot build a notarize payload with a \(labelLength)-byte label: \(error)")
        }
    }
}

// MARK: - HTTP/1.1 client

/// A response, read whole.
struct LoadHTTPResponse: Sendable {
    var status: Int
    var body: [UInt8]
    var retryAfterSeconds: Int?
}

/// Why a request got no response.
struct LoadHTTPFailure: Error, CustomStringConvertible {
    var description: String
}

/// Collects pipelined responses and hands each to the callback of the request it answers, in order.
final class ResponseCollector: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias Callback = (Result<LoadHTTPResponse, LoadHTTPFailure>) -> Void

    private var waiting = CircularBuffer<Callback>()
    private var head: HTTPResponseHead?
    private var body = ByteBuffer()

    /// Requests sent and not answered yet.
    var inFlight: Int { waiting.count }

    func enqueue(_ callback: @escaping Callback) { waiting.append(callback) }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let received):
            head = received
            body.clear()
        case .body(var bytes):
            body.writeBuffer(&bytes)
        case .end:
            guard let head, let callback = waiting.popFirst() else {
                context.close(promise: nil)
                return
            }
            self.head = nil
            let retryAfter = head.headers.first(name: "retry-after").flatMap { Int($0) }
            callback(
                .success(
                    LoadHTTPResponse(
                        status: Int(head.status.code), body: Array(body.readableBytesView),
                        retryAfterSeconds: retryAfter)))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        let pending = waiting
        waiting.removeAll()
        for callback in pending { callback(.failure(LoadHTTPFailure(description: "connection closed"))) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// Reads a node's block stream (`GET /v1/events/blocks`, server-sent events) and reports each event's id, the height
/// of a block just committed; `onEnd` runs once when the stream ends, fails or is refused.
final class BlockStreamReader: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    /// Set before the request goes out, on the channel's loop.
    private var onHeight: (UInt64) -> Void = { _ in }
    private var onEnd: () -> Void = {}
    private var line: [UInt8] = []
    private var ended = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            if head.status != .ok { end(context: context) }
        case .body(let bytes):
            for byte in bytes.readableBytesView {
                guard byte == UInt8(ascii: "\n") else {
                    line.append(byte)
                    continue
                }
                if line.starts(with: Array("id: ".utf8)),
                    let height = UInt64(String(decoding: line.dropFirst(4), as: UTF8.self))
                {
                    onHeight(height)
                }
                line.removeAll(keepingCapacity: true)
            }
        case .end:
            end(context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        end(context: context)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        end(context: context)
    }

    private func end(context: ChannelHandlerContext) {
        guard !ended else { return }
        ended = true
        context.close(promise: nil)
        onEnd()
        onEnd = {}
    }

    /// Opens `node`'s block stream from `height` on `loop` (the caller's loop).
    static func open(
        node: LoadNetwork.Node, from height: UInt64, on loop: any EventLoop,
        onHeight: @escaping (UInt64) -> Void, onEnd: @escaping () -> Void
    ) -> EventLoopFuture<any Channel>.Isolated {
        LoadConnection.clientChannel(to: node, on: loop) { BlockStreamReader() }
            .flatMapThrowing { channel in
                let reader = try channel.pipeline.syncOperations.handler(type: BlockStreamReader.self)
                reader.onHeight = onHeight
                reader.onEnd = onEnd
                var headers = HTTPHeaders()
                headers.add(name: "host", value: "\(node.host):\(node.port)")
                headers.add(name: "accept", value: "text/event-stream")
                channel.write(
                    HTTPClientRequestPart.head(
                        HTTPRequestHead(
                            version: .http1_1, method: .GET, uri: "/v1/events/blocks?from=\(height)",
                            headers: headers)),
                    promise: nil)
                channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
                return channel
            }
    }
}

/// One keep-alive HTTP/1.1 connection to a node; used only on its event loop.
final class LoadConnection {
    let channel: any Channel
    let collector: ResponseCollector
    let hostHeader: String

    private init(channel: any Channel, collector: ResponseCollector, hostHeader: String) {
        self.channel = channel
        self.collector = collector
        self.hostHeader = hostHeader
    }

    var isActive: Bool { channel.isActive }
    var inFlight: Int { collector.inFlight }

    /// Connects to `node` on `loop` (which must be the caller's loop).
    static func connect(to node: LoadNetwork.Node, on loop: any EventLoop) -> EventLoopFuture<LoadConnection>.Isolated {
        clientChannel(to: node, on: loop) { ResponseCollector() }
            .flatMapThrowing { channel in
                LoadConnection(
                    channel: channel,
                    collector: try channel.pipeline.syncOperations.handler(type: ResponseCollector.self),
                    hostHeader: "\(node.host):\(node.port)")
            }
    }

    /// Opens an HTTP/1.1 client connection to `node` on `loop` (the caller's loop) whose responses go to the
    /// handler `makeHandler` builds.
    static func clientChannel<Handler: ChannelInboundHandler>(
        to node: LoadNetwork.Node, on loop: any EventLoop, handler makeHandler: @escaping @Sendable () -> Handler
    ) -> EventLoopFuture<any Channel>.Isolated where Handler.InboundIn == HTTPClientResponsePart {
        ClientBootstrap(group: loop)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture(withResultOf: {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(makeHandler())
                })
            }
            .connect(host: node.host, port: node.port)
            .assumeIsolated()
    }

    /// Sends one request; `callback` runs on the loop with its response or failure.
    func send(
        method: HTTPMethod, path: String, body: [UInt8]? = nil,
        callback: @escaping (Result<LoadHTTPResponse, LoadHTTPFailure>) -> Void
    ) {
        guard channel.isActive else {
            callback(.failure(LoadHTTPFailure(description: "connection closed")))
            return
        }
        var headers = HTTPHeaders()
        headers.add(name: "host", value: hostHeader)
        headers.add(name: "content-length", value: String(body?.count ?? 0))
        if body != nil { headers.add(name: "content-type", value: "application/octet-stream") }
        collector.enqueue(callback)
        channel.write(
            HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: headers)),
            promise: nil)
        if let body { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
    }

    func close() { channel.close(promise: nil) }
}

/// Blocking one-off requests for the set-up before the load.
enum LoadHTTP {
    /// GETs `path` from `node` and decodes a 200 JSON answer as `T`.
    static func getJSON<T: Decodable & Sendable>(
        _ type: T.Type, node: LoadNetwork.Node, path: String, on loop: any EventLoop
    ) throws(LoadBenchError) -> T {
        let future = loop.flatSubmit {
            let promise = loop.makePromise(of: LoadHTTPResponse.self)
            LoadConnection.connect(to: node, on: loop).whenComplete { result in
                switch result {
                case .failure(let error):
                    promise.fail(error)
                case .success(let connection):
                    connection.send(method: .GET, path: path) { answer in
                        connection.close()
                        promise.completeWith(answer.mapError { $0 as any Error })
                    }
                }
            }
            return promise.futureResult
        }
        let response: LoadHTTPResponse
        do {
            response = try future.wait()
        } catch {
            throw LoadBenchError(
                "node \(node.name) at \(node.host):\(node.port) does not answer GET \(path): \(error); is the network up?"
            )
        }
        guard response.status == 200 else {
            throw LoadBenchError(
                "node \(node.name) answered GET \(path) with HTTP \(response.status): "
                    + String(decoding: response.body.prefix(300), as: UTF8.self))
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(response.body))
        } catch {
            throw LoadBenchError("node \(node.name) answered GET \(path) with JSON the bench cannot read: \(error)")
        }
    }
}

// MARK: - The load

/// Everything the driver needs, fixed before the load starts.
struct LoadPlan: Sendable {
    /// An organization key and where its transactions go.
    struct Signer: Sendable {
        var name: String
        var key: Ed25519PrivateKey
        /// Index of the node its transactions are sent to.
        var node: Int
        /// Its next sequence number when the load starts.
        var next: UInt64
    }

    var nodes: [LoadNetwork.Node]
    var signers: [Signer]
    var shape: TransactionShape
    var rate: Double
    var warmup: Double
    var duration: Double
    var drain: Double
    var connections: Int
    var pipeline: Int
    /// Transactions per request (1: POST /v1/transactions each; more: POST /v1/transactions/batch).
    var batch: Int
    /// Seconds a partly filled batch waits before it is sent.
    var batchWait: Double
    var signerWindow: Int
    /// Per signer, transactions signed before the load at its consecutive sequence numbers from `next`; the
    /// driver signs on the fly past the end.
    var presigned: [[PresignedTransaction]]
    var followNode: Int
    var startHeight: UInt64
}

/// A transaction signed before the load starts.
struct PresignedTransaction: Sendable {
    var id: String
    var bytes: [UInt8]
}

extension LoadPlan {
    /// `count` transactions shared out over `signers`, each signer's at consecutive sequence numbers from its
    /// `next`, signed on every core.
    static func presign(signers: [Signer], shape: TransactionShape, count: Int) throws(LoadBenchError)
        -> [[PresignedTransaction]]
    {
        guard !signers.isEmpty else { return [] }
        let each = min(count / signers.count + 1, 2_000_000 / signers.count)
        let signed = SignedBatches<PresignedTransaction>(count: signers.count)
        DispatchQueue.concurrentPerform(iterations: signers.count) { index in
            let signer = signers[index]
            let batch = (0..<each).compactMap { offset -> PresignedTransaction? in
                guard let transaction = try? shape.transaction(key: signer.key, sequence: signer.next + UInt64(offset))
                else { return nil }
                return PresignedTransaction(id: transaction.id.hex, bytes: transaction.canonicalBytes)
            }
            signed.set(index, batch)
        }
        let all = signed.all()
        guard all.allSatisfy({ $0.count == each }) else { throw LoadBenchError("could not sign every transaction") }
        return all
    }
}

/// The commit latency of the window's committed transactions in three parts, in seconds: until the node answered
/// the submission (it was admitted), until the block that holds it was proposed (its header time, from the
/// proposer's clock, which on a local testnet is this machine's), and from the proposal until the followed node
/// announced the commit. The last two add up to the latency.
struct LatencySplit: Sendable {
    var answered: [Double] = []
    var proposed: [Double] = []
    var afterProposal: [Double] = []
    /// Seconds from writing each submission request sent in the window to reading its answer: the part of
    /// `answered` spent on the connection and in the node, against the batch's wait before it was sent. The node's
    /// own share is its `ensure_api_request_duration_seconds`.
    var requestRoundTrips: [Double] = []

    /// The `q` quantile of `samples` (nearest rank), nil when there are none.
    static func quantile(_ samples: [Double], _ q: Double) -> Double? {
        guard !samples.isEmpty else { return nil }
        let sorted = samples.sorted()
        let rank = Int((q * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }
}

/// The cumulative buckets of a node's `ensure_engine_loop_lag_seconds`, as `/metrics` gives them.
struct LoopLagHistogram: Sendable {
    /// (upper bound in seconds, observations at most that), ascending; the last bound is +Inf.
    var buckets: [(bound: Double, cumulative: Double)]

    /// The histogram in a Prometheus text page; nil when the page has none.
    init?(metrics: String) {
        let prefix = "ensure_engine_loop_lag_seconds_bucket{le=\""
        var buckets: [(bound: Double, cumulative: Double)] = []
        for line in metrics.split(separator: "\n") where line.hasPrefix(prefix) {
            let rest = line.dropFirst(prefix.count)
            guard let quote = rest.firstIndex(of: "\""), let space = rest.lastIndex(of: " "),
                let count = Double(rest[rest.index(after: space)...])
            else { return nil }
            let label = rest[..<quote]
            guard let bound = label == "+Inf" ? Double.infinity : Double(label) else { return nil }
            buckets.append((bound, count))
        }
        guard !buckets.isEmpty else { return nil }
        self.buckets = buckets.sorted { $0.bound < $1.bound }
    }

    init(buckets: [(bound: Double, cumulative: Double)]) { self.buckets = buckets }

    /// The observations made between `earlier` and this one, bucket by bucket; nil when the bounds differ.
    func since(_ earlier: LoopLagHistogram) -> LoopLagHistogram? {
        guard buckets.map(\.bound) == earlier.buckets.map(\.bound) else { return nil }
        return LoopLagHistogram(
            buckets: zip(buckets, earlier.buckets).map { ($0.bound, max(0, $0.cumulative - $1.cumulative)) })
    }

    /// The upper bound of the bucket that holds the `q` quantile; nil without observations.
    func quantileBound(_ q: Double) -> Double? {
        guard let total = buckets.last?.cumulative, total > 0 else { return nil }
        return buckets.first { $0.cumulative >= q * total }?.bound
    }
}

/// A node's signature counters, as `/metrics` gives them: verifications, and the CPU time of those it timed.
struct SignatureCounters: Sendable, Equatable {
    var verified: Double
    var timed: Double
    var timedCPUSeconds: Double

    /// The counters in a Prometheus text page; nil when the page lacks one of them.
    init?(metrics: String) {
        var values: [String: Double] = [:]
        for line in metrics.split(separator: "\n") where line.hasPrefix("ensure_signature") {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let value = Double(parts[1]) else { continue }
            values[String(parts[0])] = value
        }
        guard let verified = values["ensure_signatures_verified_total"],
            let timed = values["ensure_signature_verifications_timed_total"],
            let seconds = values["ensure_signature_verification_cpu_seconds_total"]
        else { return nil }
        self.init(verified: verified, timed: timed, timedCPUSeconds: seconds)
    }

    init(verified: Double, timed: Double, timedCPUSeconds: Double) {
        self.verified = verified
        self.timed = timed
        self.timedCPUSeconds = timedCPUSeconds
    }

    /// What changed between `earlier` and this one.
    func since(_ earlier: SignatureCounters) -> SignatureCounters {
        SignatureCounters(
            verified: verified - earlier.verified, timed: timed - earlier.timed,
            timedCPUSeconds: timedCPUSeconds - earlier.timedCPUSeconds)
    }
}

/// What the load measured.
struct LoadOutcome: Sendable {
    /// Transactions first submitted inside the window.
    var submittedInWindow = 0
    /// All first submissions, warmup and window.
    var submitted = 0
    /// Submissions answered 202 or 200 (including retries that were admitted).
    var accepted = 0
    /// Refusals and transport failures by problem code (`connection` for no answer).
    var refusals: [String: Int] = [:]
    /// Retries of refused or unanswered submissions.
    var retries = 0
    /// Transactions given up (a refusal that breaks the signer's sequence chain).
    var failed = 0
    /// Transactions of the bench seen committed inside the window.
    var committedInWindow = 0
    /// Every transaction of the bench seen committed.
    var committed = 0
    /// Blocks read inside the window, and transactions in them.
    var blocksInWindow = 0
    var blockTransactionsInWindow = 0
    /// Commit latency in seconds of each transaction submitted in the window that committed.
    var latencies: [Double] = []
    /// Where that latency went, for the same transactions.
    var split = LatencySplit()
    /// Transactions submitted in the window that were not seen committed before the drain ended.
    var uncommitted = 0
    /// Submissions the schedule asked for but no signer (window full) or connection (pipeline full) could take.
    var notOfferedSignerWindow = 0
    var notOfferedConnections = 0
    /// Signers stopped because a refusal broke their sequence chain, with the reason.
    var stoppedSigners: [String] = []
    /// Failed reads of the followed node's blocks.
    var followErrors = 0
    /// Seconds from the end of the window to the last of its transactions' commits (or the drain limit).
    var drainSeconds = 0.0
    /// Height the followed node reached.
    var lastHeight: UInt64 = 0
    /// CPU used by the nodes and the bench at the start and the end of the window.
    var cpuAtWindowStart: CPUSample?
    var cpuAtWindowEnd: CPUSample?
    /// Each node's `ensure_engine_loop_lag_seconds` histogram at the window's start and end, by node index.
    var loopLagAtWindowStart: [Int: LoopLagHistogram] = [:]
    var loopLagAtWindowEnd: [Int: LoopLagHistogram] = [:]
    /// Each node's signature counters at the window's start and end, by node index.
    var signaturesAtWindowStart: [Int: SignatureCounters] = [:]
    var signaturesAtWindowEnd: [Int: SignatureCounters] = [:]
}

/// Runs the load on one event loop: paces submissions, keeps each signer's uncommitted transactions within its
/// window, retries refusals that say "later", and follows one node's blocks to see commits. Used only on `loop`.
final class LoadDriver {
    private struct Pending {
        var firstSubmitted: NIODeadline
        /// The same moment by the wall clock, which block times (the proposer's clock) are comparable with.
        var firstSubmittedWall: Double
        /// Seconds from the first submission to the answer that admitted it.
        var answered: Double?
        var signer: Int
        var inWindow: Bool
        var bytes: [UInt8]
        var attempts: Int
    }

    private struct SignerState {
        var next: UInt64
        var outstanding = 0
        var stopped = false
    }

    private let plan: LoadPlan
    private let loop: any EventLoop
    private let promise: EventLoopPromise<LoadOutcome>
    private var outcome = LoadOutcome()
    private var signers: [SignerState]
    private var pending: [String: Pending] = [:]
    private var connections: [[LoadConnection]]
    private var follower: LoadConnection?
    private var nextHeight: UInt64
    /// The followed node's block stream, while it is open.
    private var blockStream: (any Channel)?
    /// The highest height the block stream announced, and when each announced block not yet read was announced.
    private var announcedHeight: UInt64 = 0
    private var announcedAt: [UInt64: NIODeadline] = [:]
    /// Whether a block read is in flight or scheduled.
    private var reading = false
    private var start = NIODeadline.now()
    private var windowStart = NIODeadline.now()
    private var windowEnd = NIODeadline.now()
    private var drainEnd = NIODeadline.now()
    private var issued = 0
    private var signerCursor = 0
    private var inWindowOutstanding = 0
    private var finished = false
    private var tickTask: Scheduled<Void>?
    /// Per node, the transactions waiting to go out in one batch request (with `--batch` above 1), oldest first.
    private var batches: [[(id: String, bytes: [UInt8])]]
    private var batchSince: [NIODeadline]

    private static let tick = TimeAmount.milliseconds(5)
    private static let retryableCodes: Set<String> = ["mempool-full", "signer-limit", "unavailable", "connection"]

    init(plan: LoadPlan, loop: any EventLoop) {
        self.plan = plan
        self.loop = loop
        self.promise = loop.makePromise(of: LoadOutcome.self)
        self.signers = plan.signers.map { SignerState(next: $0.next) }
        self.connections = Array(repeating: [], count: plan.nodes.count)
        self.batches = Array(repeating: [], count: plan.nodes.count)
        self.batchSince = Array(repeating: .now(), count: plan.nodes.count)
        self.nextHeight = plan.startHeight + 1
    }

    /// Connects, runs warmup, window and drain, and completes with what was measured.
    func run() -> EventLoopFuture<LoadOutcome> {
        var opening: [EventLoopFuture<Void>] = []
        let usedNodes = Set(plan.signers.map(\.node))
        for node in usedNodes.sorted() {
            for _ in 0..<plan.connections {
                opening.append(
                    LoadConnection.connect(to: plan.nodes[node], on: loop).map { connection in
                        self.connections[node].append(connection)
                    }.nonisolated())
            }
        }
        opening.append(
            LoadConnection.connect(to: plan.nodes[plan.followNode], on: loop).map { connection in
                self.follower = connection
            }.nonisolated())
        EventLoopFuture.andAllSucceed(opening, on: loop).assumeIsolated().whenComplete { result in
            switch result {
            case .failure(let error):
                self.finish(failure: LoadBenchError("cannot open the load connections: \(error)"))
            case .success:
                self.begin()
            }
        }
        return promise.futureResult
    }

    private func begin() {
        start = .now()
        windowStart = start + Self.amount(seconds: plan.warmup)
        windowEnd = windowStart + Self.amount(seconds: plan.duration)
        drainEnd = windowEnd + Self.amount(seconds: plan.drain)
        scheduleTick()
        openBlockStream()
        reading = true
        fetchNextBlock()
    }

    private func scheduleTick() {
        tickTask = loop.assumeIsolated().scheduleTask(in: Self.tick) { self.onTick() }
    }

    private func onTick() {
        guard !finished else { return }
        let now = NIODeadline.now()
        if now >= windowStart, outcome.cpuAtWindowStart == nil {
            outcome.cpuAtWindowStart = ProcessCPU.sample(plan.nodes)
            scrapeMetrics { index, lag, signatures in
                self.outcome.loopLagAtWindowStart[index] = lag
                self.outcome.signaturesAtWindowStart[index] = signatures
            }
        }
        if now >= windowEnd, outcome.cpuAtWindowEnd == nil {
            outcome.cpuAtWindowEnd = ProcessCPU.sample(plan.nodes)
            scrapeMetrics { index, lag, signatures in
                self.outcome.loopLagAtWindowEnd[index] = lag
                self.outcome.signaturesAtWindowEnd[index] = signatures
            }
        }
        if now < windowEnd { submitDue(now: now) }
        flushBatches(now: now)
        if now >= windowEnd, inWindowOutstanding == 0 || now >= drainEnd {
            outcome.drainSeconds = Self.seconds(now - windowEnd)
            finish(failure: nil)
            return
        }
        scheduleTick()
    }

    /// Reads every node's `/metrics` on a connection of its own and hands over its loop-lag histogram.
    private func scrapeMetrics(_ store: @escaping (Int, LoopLagHistogram?, SignatureCounters?) -> Void) {
        for (index, node) in plan.nodes.enumerated() {
            LoadConnection.connect(to: node, on: loop).whenSuccess { connection in
                connection.send(method: .GET, path: "/metrics") { result in
                    connection.close()
                    guard case .success(let response) = result, response.status == 200 else { return }
                    let page = String(decoding: response.body, as: UTF8.self)
                    store(index, LoopLagHistogram(metrics: page), SignatureCounters(metrics: page))
                }
            }
        }
    }

    /// Sends what the schedule asks for by `now`, as far as signer windows and connections allow.
    private func submitDue(now: NIODeadline) {
        let scheduled = Int(plan.rate * Self.seconds(now - start))
        // A backlog of more than a second is not sent as a burst later: it is counted as not offered.
        if scheduled - issued > Int(plan.rate) + 1 {
            issued = scheduled - Int(plan.rate) - 1
        }
        while issued < scheduled {
            guard let signer = nextSigner() else {
                outcome.notOfferedSignerWindow += scheduled - issued
                issued = scheduled
                return
            }
            let node = plan.signers[signer].node
            var connection: LoadConnection?
            if plan.batch == 1 {
                connection = freeConnection(node: node)
            }
            // Batches wait while every connection is busy, up to a few requests' worth.
            guard plan.batch == 1 ? connection != nil : batches[node].count < plan.batch * 4 else {
                outcome.notOfferedConnections += scheduled - issued
                issued = scheduled
                return
            }
            issued += 1
            let sequence = signers[signer].next
            let id: String
            let bytes: [UInt8]
            let offset = Int(sequence - plan.signers[signer].next)
            if offset < plan.presigned[signer].count {
                (id, bytes) = (plan.presigned[signer][offset].id, plan.presigned[signer][offset].bytes)
            } else {
                do {
                    let transaction = try plan.shape.transaction(key: plan.signers[signer].key, sequence: sequence)
                    (id, bytes) = (transaction.id.hex, transaction.canonicalBytes)
                } catch {
                    finish(failure: error)
                    return
                }
            }
            signers[signer].next += 1
            signers[signer].outstanding += 1
            let inWindow = now >= windowStart
            outcome.submitted += 1
            if inWindow {
                outcome.submittedInWindow += 1
                inWindowOutstanding += 1
            }
            pending[id] = Pending(
                firstSubmitted: now, firstSubmittedWall: Date().timeIntervalSince1970, signer: signer,
                inWindow: inWindow, bytes: bytes, attempts: 1)
            if let connection {
                send(id: id, bytes: bytes, over: connection)
            } else {
                if batches[node].isEmpty { batchSince[node] = now }
                batches[node].append((id, bytes))
            }
        }
    }

    /// Sends each node's full batches, and a partly filled one that waited `batchWait`, while connections have
    /// room.
    private func flushBatches(now: NIODeadline) {
        guard plan.batch > 1 else { return }
        for node in batches.indices where !batches[node].isEmpty {
            while !batches[node].isEmpty,
                batches[node].count >= plan.batch || now - batchSince[node] >= Self.amount(seconds: plan.batchWait),
                let connection = freeConnection(node: node)
            {
                let count = min(plan.batch, batches[node].count)
                let items = Array(batches[node].prefix(count))
                batches[node].removeFirst(count)
                sendBatch(items, over: connection)
            }
        }
    }

    private func sendBatch(_ items: [(id: String, bytes: [UInt8])], over connection: LoadConnection) {
        var writer = CanonicalWriter()
        writer.writeArray(items) { $0.writeLengthPrefixedBytes($1.bytes) }
        let ids = items.map(\.id)
        let sent = NIODeadline.now()
        connection.send(method: .POST, path: "/v1/transactions/batch", body: writer.bytes) { result in
            self.recordRoundTrip(since: sent)
            self.handleBatch(ids: ids, result: result)
        }
    }

    private struct BatchAnswer: Decodable {
        struct Result: Decodable {
            var status: String
            var code: String?
        }
        var results: [Result]
    }

    private func handleBatch(ids: [String], result: Result<LoadHTTPResponse, LoadHTTPFailure>) {
        switch result {
        case .success(let response) where response.status == 200:
            guard let answer = try? JSONDecoder().decode(BatchAnswer.self, from: Data(response.body)),
                answer.results.count == ids.count
            else {
                for id in ids { handleSubmission(id: id, result: .failure(LoadHTTPFailure(description: "bad answer"))) }
                return
            }
            for (id, item) in zip(ids, answer.results) {
                guard !finished, pending[id] != nil else { continue }
                if item.status == "pending" || item.status == "committed" {
                    outcome.accepted += 1
                    answered(id)
                } else {
                    refused(id: id, code: item.code ?? "rejected", retryAfter: 1)
                }
            }
        default:
            for id in ids { handleSubmission(id: id, result: result) }
        }
    }

    /// The next signer, round robin, whose uncommitted transactions leave room in its window.
    private func nextSigner() -> Int? {
        for offset in 0..<signers.count {
            let index = (signerCursor + offset) % signers.count
            if !signers[index].stopped && signers[index].outstanding < plan.signerWindow {
                signerCursor = (index + 1) % signers.count
                return index
            }
        }
        return nil
    }

    /// The open connection to `node` with the fewest requests in flight, if one has room.
    private func freeConnection(node: Int) -> LoadConnection? {
        connections[node].removeAll { !$0.isActive }
        if connections[node].count < plan.connections { reconnect(node: node) }
        let best = connections[node].min { $0.inFlight < $1.inFlight }
        guard let best, best.inFlight < plan.pipeline else { return nil }
        return best
    }

    private var reconnecting: Set<Int> = []

    private func reconnect(node: Int) {
        guard !reconnecting.contains(node), !finished else { return }
        reconnecting.insert(node)
        LoadConnection.connect(to: plan.nodes[node], on: loop).whenComplete { result in
            self.reconnecting.remove(node)
            if case .success(let connection) = result {
                if self.finished { connection.close() } else { self.connections[node].append(connection) }
            }
        }
    }

    private func send(id: String, bytes: [UInt8], over connection: LoadConnection) {
        let sent = NIODeadline.now()
        connection.send(method: .POST, path: "/v1/transactions", body: bytes) { result in
            self.recordRoundTrip(since: sent)
            self.handleSubmission(id: id, result: result)
        }
    }

    /// Records a submission request's round trip when it was sent inside the window.
    private func recordRoundTrip(since sent: NIODeadline) {
        guard !finished, sent >= windowStart, sent < windowEnd else { return }
        outcome.split.requestRoundTrips.append(Double((NIODeadline.now() - sent).nanoseconds) / 1e9)
    }

    private func handleSubmission(id: String, result: Result<LoadHTTPResponse, LoadHTTPFailure>) {
        guard !finished, pending[id] != nil else { return }
        switch result {
        case .success(let response) where response.status == 200 || response.status == 202:
            outcome.accepted += 1
            answered(id)
        case .success(let response):
            refused(
                id: id, code: Self.problemCode(response), retryAfter: min(max(response.retryAfterSeconds ?? 1, 1), 10))
        case .failure:
            refused(id: id, code: "connection", retryAfter: 1)
        }
    }

    /// Notes when the submission of `id` was admitted, from its first submission.
    private func answered(_ id: String) {
        guard let entry = pending[id], entry.answered == nil else { return }
        pending[id]?.answered = Self.seconds(NIODeadline.now() - entry.firstSubmitted)
    }

    /// A refusal with `code`: retried alone after `retryAfter` seconds when it says "later", else the end of its
    /// signer.
    private func refused(id: String, code: String, retryAfter: Int) {
        guard let entry = pending[id] else { return }
        outcome.refusals[code, default: 0] += 1
        if Self.retryableCodes.contains(code) {
            outcome.retries += 1
            pending[id]?.attempts += 1
            loop.assumeIsolated().scheduleTask(in: .seconds(Int64(retryAfter))) { self.retry(id: id) }
            return
        }
        // Any other refusal leaves a hole in the signer's sequence chain that nothing will fill: stop the signer.
        pending[id] = nil
        outcome.failed += 1
        signers[entry.signer].outstanding -= 1
        if entry.inWindow { inWindowOutstanding -= 1 }
        if !signers[entry.signer].stopped {
            signers[entry.signer].stopped = true
            outcome.stoppedSigners.append("\(plan.signers[entry.signer].name): \(code)")
        }
        if signers.allSatisfy(\.stopped) {
            finish(failure: LoadBenchError("every signer was stopped by refusals: \(outcome.stoppedSigners)"))
        }
    }

    private func retry(id: String) {
        guard !finished, let entry = pending[id] else { return }
        guard let connection = freeConnection(node: plan.signers[entry.signer].node) else {
            loop.assumeIsolated().scheduleTask(in: .milliseconds(50)) { self.retry(id: id) }
            return
        }
        send(id: id, bytes: entry.bytes, over: connection)
    }

    /// The problem code of an RFC 9457 answer (`urn:ensure:problem:CODE`), or `http-STATUS`.
    private static func problemCode(_ response: LoadHTTPResponse) -> String {
        struct Problem: Decodable { var type: String }
        let prefix = "urn:ensure:problem:"
        if let problem = try? JSONDecoder().decode(Problem.self, from: Data(response.body)),
            problem.type.hasPrefix(prefix)
        {
            return String(problem.type.dropFirst(prefix.count))
        }
        return "http-\(response.status)"
    }

    // MARK: Following commits

    private struct BlockDocument: Decodable {
        var height: UInt64
        var transactions: [String]
        /// Milliseconds since the epoch, from the proposer's clock.
        var timestamp: UInt64
    }

    /// Opens the followed node's block stream; while it is down, blocks are polled instead.
    private func openBlockStream() {
        guard !finished else { return }
        BlockStreamReader.open(
            node: plan.nodes[plan.followNode], from: nextHeight, on: loop,
            onHeight: { height in self.announced(height) },
            onEnd: {
                self.blockStream = nil
                self.loop.assumeIsolated().scheduleTask(in: .milliseconds(100)) { self.openBlockStream() }
                self.readNextBlockSoon()
            }
        ).whenComplete { result in
            switch result {
            case .success(let channel):
                if self.finished { channel.close(promise: nil) } else { self.blockStream = channel }
            case .failure:
                self.loop.assumeIsolated().scheduleTask(in: .milliseconds(100)) { self.openBlockStream() }
            }
        }
    }

    private func announced(_ height: UInt64) {
        guard !finished, height >= nextHeight else { return }
        announcedHeight = max(announcedHeight, height)
        announcedAt[height] = .now()
        readNextBlockSoon()
    }

    /// Reads the next block now unless a read is already in flight or scheduled.
    private func readNextBlockSoon() {
        guard !reading else { return }
        reading = true
        fetchNextBlock()
    }

    private func fetchNextBlock() {
        guard !finished else { return }
        // With the stream open, read only what it announced; it says when the next block commits.
        if blockStream != nil, nextHeight > announcedHeight {
            reading = false
            return
        }
        guard let follower, follower.isActive else {
            outcome.followErrors += 1
            LoadConnection.connect(to: plan.nodes[plan.followNode], on: loop).whenComplete { result in
                if case .success(let connection) = result { self.follower = connection }
                self.loop.assumeIsolated().scheduleTask(in: .milliseconds(100)) { self.fetchNextBlock() }
            }
            return
        }
        follower.send(method: .GET, path: "/v1/blocks/\(nextHeight)") { result in
            self.handleBlock(result)
        }
    }

    private func handleBlock(_ result: Result<LoadHTTPResponse, LoadHTTPFailure>) {
        guard !finished else { return }
        guard case .success(let response) = result, response.status == 200 || response.status == 404 else {
            outcome.followErrors += 1
            loop.assumeIsolated().scheduleTask(in: .milliseconds(100)) { self.fetchNextBlock() }
            return
        }
        guard response.status == 200,
            let block = try? JSONDecoder().decode(BlockDocument.self, from: Data(response.body)),
            block.height == nextHeight
        else {
            if response.status == 200 { outcome.followErrors += 1 }
            // Not there yet: ask again shortly. The interval bounds how late the bench sees a commit.
            loop.assumeIsolated().scheduleTask(in: .milliseconds(10)) { self.fetchNextBlock() }
            return
        }
        let now = announcedAt.removeValue(forKey: block.height) ?? NIODeadline.now()
        let inWindow = now >= windowStart && now < windowEnd
        if inWindow {
            outcome.blocksInWindow += 1
            outcome.blockTransactionsInWindow += block.transactions.count
        }
        for id in block.transactions {
            guard let entry = pending.removeValue(forKey: id) else { continue }
            outcome.committed += 1
            if inWindow { outcome.committedInWindow += 1 }
            signers[entry.signer].outstanding -= 1
            if entry.inWindow {
                inWindowOutstanding -= 1
                let latency = Self.seconds(now - entry.firstSubmitted)
                outcome.latencies.append(latency)
                // The testnet's nodes share this machine's clock, so the block's time places its proposal.
                let proposed = min(max(Double(block.timestamp) / 1000 - entry.firstSubmittedWall, 0), latency)
                outcome.split.proposed.append(proposed)
                outcome.split.afterProposal.append(latency - proposed)
                if let answered = entry.answered { outcome.split.answered.append(answered) }
            }
        }
        outcome.lastHeight = block.height
        nextHeight = block.height + 1
        fetchNextBlock()
    }

    // MARK: Ending

    private func finish(failure: LoadBenchError?) {
        guard !finished else { return }
        finished = true
        tickTask?.cancel()
        for connection in connections.joined() { connection.close() }
        follower?.close()
        blockStream?.close(promise: nil)
        if let failure {
            promise.fail(failure)
        } else {
            outcome.uncommitted = inWindowOutstanding
            promise.succeed(outcome)
        }
    }

    private static func amount(seconds: Double) -> TimeAmount { .nanoseconds(Int64(seconds * 1e9)) }

    private static func seconds(_ amount: TimeAmount) -> Double { Double(amount.nanoseconds) / 1e9 }
}

// MARK: - Report

/// The figures of a run against the targets, as text or one JSON object.
struct LoadReport {
    /// Committed tx/s must reach this share of the bound.
    static let throughputTarget = 0.5
    /// The default rate's margin over the throughput target. The ratio divides by the mean of the bounds at the
    /// start and the end; the rate can only use the start's. Without a margin, a run whose bound rose by a few
    /// percent during it read as a miss although the network carried everything offered.
    static let defaultRateMargin = 1.05
    /// p99 commit latency, seconds.
    static let latencyTarget = 1.0
    /// Peak RSS per node, bytes (200 MB).
    static let memoryTarget = 200_000_000

    let plan: LoadPlan
    let outcome: LoadOutcome
    /// The bound measured before the load, and again after the drain: the machine is shared, so either alone can
    /// be off by a quarter. The ratio uses their mean (``bound``).
    let boundAtStart: Ed25519VerificationBound
    let boundAtEnd: Ed25519VerificationBound
    let validators: Int
    let memory: [(String, Result<Int, LoadBenchError>)]

    var bound: Ed25519VerificationBound { boundAtStart.averaged(with: boundAtEnd) }
    var networkBound: Double { bound.allCores / Double(max(1, validators)) }
    /// How far the end measurement is from the start one, as a share of the start.
    var boundDrift: Double { (boundAtEnd.allCores - boundAtStart.allCores) / boundAtStart.allCores }

    var committedRate: Double { Double(outcome.committedInWindow) / plan.duration }
    var offeredRate: Double { Double(outcome.submittedInWindow) / plan.duration }
    var ratio: Double { committedRate / networkBound }

    /// Latency at quantile `q`; transactions that never committed count as infinitely late.
    func latency(_ q: Double) -> Double? {
        LatencySplit.quantile(outcome.latencies + Array(repeating: .infinity, count: outcome.uncommitted), q)
    }

    /// Each node's p99 engine-loop lag in the window: the upper bound of its `/metrics` bucket (nil: not measured).
    var loopLagP99: [Double?] {
        plan.nodes.indices.map { index in
            guard let start = outcome.loopLagAtWindowStart[index], let end = outcome.loopLagAtWindowEnd[index] else {
                return nil
            }
            return end.since(start)?.quantileBound(0.99)
        }
    }

    /// The nodes' signature checks in the window, summed over the nodes: verifications per committed transaction,
    /// and the CPU time of one (the timed ones' mean) against one verification on one core in the bound.
    struct Verification {
        var perTransaction: Double
        var microseconds: Double
        var boundMicroseconds: Double
    }

    var verification: Verification? {
        var total = SignatureCounters(verified: 0, timed: 0, timedCPUSeconds: 0)
        for index in plan.nodes.indices {
            guard let start = outcome.signaturesAtWindowStart[index], let end = outcome.signaturesAtWindowEnd[index]
            else { return nil }
            let change = end.since(start)
            total.verified += change.verified
            total.timed += change.timed
            total.timedCPUSeconds += change.timedCPUSeconds
        }
        guard outcome.committedInWindow > 0, total.timed > 0 else { return nil }
        return Verification(
            perTransaction: total.verified / Double(outcome.committedInWindow),
            microseconds: total.timedCPUSeconds / total.timed * 1e6, boundMicroseconds: 1e6 / bound.perCore)
    }

    /// The most tx/s the signers can carry: each keeps at most ``LoadPlan/signerWindow`` transactions uncommitted,
    /// for about the median commit latency.
    var signerCeiling: Double? {
        guard let median = latency(0.5), median.isFinite, median > 0 else { return nil }
        return Double(plan.signers.count * plan.signerWindow) / median
    }

    /// CPU the nodes and the bench used in the window, as cores, and the nodes' CPU per committed transaction in
    /// units of one Ed25519 verification on one core (the bound assumes one verification per validator).
    struct CPUUse {
        var nodeCores: [Double?]
        var benchCores: Double
        var nodeMicrosecondsPerTransaction: Double?
        var verificationsPerTransaction: Double?
    }

    var cpu: CPUUse? {
        guard let first = outcome.cpuAtWindowStart, let last = outcome.cpuAtWindowEnd, plan.duration > 0 else {
            return nil
        }
        let nodeSeconds: [Double?] = zip(first.nodes, last.nodes).map { start, end in
            guard let start, let end else { return nil }
            return end - start
        }
        let known = nodeSeconds.compactMap { $0 }
        var perTransaction: Double?
        if known.count == nodeSeconds.count, outcome.committedInWindow > 0 {
            perTransaction = known.reduce(0, +) / Double(outcome.committedInWindow) * 1e6
        }
        return CPUUse(
            nodeCores: nodeSeconds.map { $0.map { $0 / plan.duration } },
            benchCores: (last.bench - first.bench) / plan.duration,
            nodeMicrosecondsPerTransaction: perTransaction,
            verificationsPerTransaction: perTransaction.map { $0 / (1e6 / bound.perCore) })
    }

    var throughputMet: Bool { ratio >= Self.throughputTarget }
    var latencyMet: Bool { (latency(0.99) ?? .infinity) <= Self.latencyTarget }
    var memoryMet: Bool {
        memory.allSatisfy { if case .success(let bytes) = $0.1 { bytes <= Self.memoryTarget } else { false } }
    }

    func text() -> String {
        func verdict(_ met: Bool) -> String { met ? "met" : "MISSED" }
        var lines: [String] = []
        lines.append(
            "submitted: \(outcome.submittedInWindow) in the window (\(Self.format(offeredRate)) tx/s offered of "
                + "\(Self.format(plan.rate)) targeted), \(outcome.submitted) in all; \(outcome.accepted) accepted, "
                + "\(outcome.retries) retried, \(outcome.failed) given up")
        if outcome.notOfferedSignerWindow + outcome.notOfferedConnections > 0 {
            lines.append(
                "not offered: \(outcome.notOfferedSignerWindow) (every signer had \(plan.signerWindow) uncommitted), "
                    + "\(outcome.notOfferedConnections) (every connection had \(plan.pipeline) requests in flight)")
        }
        if outcome.notOfferedSignerWindow > 0, let ceiling = signerCeiling {
            lines.append(
                "signer ceiling: \(plan.signers.count) signers x \(plan.signerWindow) uncommitted / p50 "
                    + "\(Self.formatSeconds(latency(0.5))) = \(Self.format(ceiling)) tx/s at most; more signing keys "
                    + "(organizations) raise it")
        }
        let refusals = outcome.refusals.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        lines.append("refused: " + (refusals.isEmpty ? "none" : refusals.joined(separator: ", ")))
        for stopped in outcome.stoppedSigners { lines.append("signer stopped: \(stopped)") }
        lines.append(
            "bound at the end: \(Int(boundAtEnd.allCores))/s on \(boundAtEnd.cores) cores, "
                + "\(Self.formatPercent(boundDrift)) from the start; the ratio uses the mean of both, "
                + "\(Int(networkBound)) verifications/s for the network")
        lines.append(
            "committed: \(outcome.committedInWindow) in the window = \(Self.format(committedRate)) tx/s, "
                + "\(Self.format(ratio)) of the bound (\(Int(networkBound))/s): target >= "
                + "\(Self.format(Self.throughputTarget)) \(verdict(throughputMet))")
        let average =
            outcome.blocksInWindow == 0 ? 0 : Double(outcome.blockTransactionsInWindow) / Double(outcome.blocksInWindow)
        lines.append(
            "blocks: \(outcome.blocksInWindow) in the window (\(Self.format(Double(outcome.blocksInWindow) / plan.duration))/s, "
                + "\(Self.format(average)) transactions each); height \(outcome.lastHeight); \(outcome.followErrors) "
                + "failed block reads")
        lines.append(
            "commit latency: p50 \(Self.formatSeconds(latency(0.5))), p99 \(Self.formatSeconds(latency(0.99))) over "
                + "\(outcome.latencies.count) transactions, \(outcome.uncommitted) not committed "
                + "\(Self.format(outcome.drainSeconds)) s after the window: target p99 <= 1 s \(verdict(latencyMet))")
        func parts(_ samples: [Double]) -> String {
            "p50 \(Self.formatSeconds(LatencySplit.quantile(samples, 0.5))), "
                + "p99 \(Self.formatSeconds(LatencySplit.quantile(samples, 0.99)))"
        }
        lines.append(
            "latency split: answered \(parts(outcome.split.answered)) (request round trip \(parts(outcome.split.requestRoundTrips)) "
                + "over \(outcome.split.requestRoundTrips.count) requests); proposed (block time) "
                + "\(parts(outcome.split.proposed)); proposal to commit seen \(parts(outcome.split.afterProposal))")
        let peaks = memory.map { name, result in
            switch result {
            case .success(let bytes): "\(name) \(Self.format(Double(bytes) / 1e6)) MB"
            case .failure(let error): "\(name) NOT MEASURED (\(error))"
            }
        }
        lines.append("peak RSS: " + peaks.joined(separator: ", ") + ": target <= 200 MB \(verdict(memoryMet))")
        let lags = zip(plan.nodes, loopLagP99).map { node, bound in
            "\(node.name) \(bound.map { $0.isFinite ? "<= \(String($0)) s" : "above every bucket" } ?? "NOT MEASURED")"
        }
        lines.append("engine loop lag in the window, p99 (its /metrics bucket): " + lags.joined(separator: ", "))
        if let cpu {
            let cores = zip(plan.nodes, cpu.nodeCores).map { node, cores in
                "\(node.name) \(cores.map { Self.format($0) } ?? "NOT MEASURED")"
            }
            var line =
                "CPU in the window (cores): " + cores.joined(separator: ", ") + ", bench \(Self.format(cpu.benchCores))"
            if let micros = cpu.nodeMicrosecondsPerTransaction, let verifications = cpu.verificationsPerTransaction {
                line +=
                    "; the nodes used \(Self.format(micros)) µs per committed transaction = \(Self.format(verifications)) "
                    + "single-core verifications (the bound counts \(validators), one per validator)"
            }
            lines.append(line)
        }
        if let verification {
            var line =
                "signature checks in the nodes: \(Self.format(verification.perTransaction)) verifications per committed "
                + "transaction, \(Self.format(verification.microseconds)) µs of CPU each against "
                + "\(Self.format(verification.boundMicroseconds)) µs in the bound "
                + "(x\(Self.format(verification.microseconds / verification.boundMicroseconds)))"
            if let micros = cpu?.nodeMicrosecondsPerTransaction {
                let other = micros - verification.perTransaction * verification.microseconds
                line +=
                    "; the rest of the nodes' work: \(Self.format(other)) µs per committed transaction = "
                    + "\(Self.format(other / verification.boundMicroseconds)) single-core verifications"
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }

    /// The JSON form: every figure of ``text()``, with nulls for what was not measured.
    private struct Document: Encodable {
        struct Bound: Encodable {
            /// The means of the measurements at the start and at the end, which the ratio uses.
            var perCore: Double
            var allCores: Double
            var cores: Int
            var network: Double
            var allCoresAtStart: Double
            var allCoresAtEnd: Double
        }
        struct NotOffered: Encodable {
            var signerWindow: Int
            var connections: Int
        }
        struct Latency: Encodable {
            var p50: Double?
            var p99: Double?
            var samples: Int
            var uncommitted: Int
            var drainSeconds: Double
        }
        struct Quantiles: Encodable {
            var p50: Double?
            var p99: Double?
            init(_ samples: [Double]) {
                p50 = LatencySplit.quantile(samples, 0.5)
                p99 = LatencySplit.quantile(samples, 0.99)
            }
        }
        struct Split: Encodable {
            var answered: Quantiles
            var requestRoundTrip: Quantiles
            var proposed: Quantiles
            var afterProposal: Quantiles
        }
        struct Target: Encodable {
            var limit: Double
            var met: Bool
        }
        var nodes: Int
        var validators: Int
        var signers: Int
        var txBytes: Int
        var transactionsPerRequest: Int
        var targetRate: Double
        var warmupSeconds: Double
        var windowSeconds: Double
        var bound: Bound
        var submittedInWindow: Int
        var submitted: Int
        var offeredRate: Double
        var accepted: Int
        var retries: Int
        var failed: Int
        var refusals: [String: Int]
        var notOffered: NotOffered
        var signerCeiling: Double?
        var stoppedSigners: [String]
        var committedInWindow: Int
        var committedRate: Double
        var ratioToBound: Double
        var blocksInWindow: Int
        var lastHeight: UInt64
        var followErrors: Int
        var latency: Latency
        var latencySplit: Split
        /// Per node, the upper bound (seconds) of the bucket holding the p99 engine-loop lag; null when not measured
        /// or above every bucket.
        var engineLoopLagP99Seconds: [String: Double?]
        var peakRSSBytes: [String: Int?]
        var nodeCPUCores: [String: Double?]?
        var benchCPUCores: Double?
        var nodeCPUMicrosecondsPerTransaction: Double?
        var nodeCPUVerificationsPerTransaction: Double?
        /// Signature verifications in the nodes per committed transaction, and the mean CPU time of one.
        var nodeVerificationsPerTransaction: Double?
        var nodeVerificationMicroseconds: Double?
        var boundVerificationMicroseconds: Double
        var targets: [String: Target]
    }

    func json() -> String {
        func finite(_ value: Double?) -> Double? {
            guard let value, value.isFinite else { return nil }
            return value
        }
        var peaks: [String: Int?] = [:]
        for (name, result) in memory {
            if case .success(let bytes) = result { peaks[name] = .some(bytes) } else { peaks[name] = .some(nil) }
        }
        let document = Document(
            nodes: plan.nodes.count, validators: validators, signers: plan.signers.count,
            txBytes: plan.shape.targetBytes, transactionsPerRequest: plan.batch, targetRate: plan.rate,
            warmupSeconds: plan.warmup,
            windowSeconds: plan.duration,
            bound: .init(
                perCore: bound.perCore, allCores: bound.allCores, cores: bound.cores, network: networkBound,
                allCoresAtStart: boundAtStart.allCores, allCoresAtEnd: boundAtEnd.allCores),
            submittedInWindow: outcome.submittedInWindow, submitted: outcome.submitted, offeredRate: offeredRate,
            accepted: outcome.accepted, retries: outcome.retries, failed: outcome.failed, refusals: outcome.refusals,
            notOffered: .init(
                signerWindow: outcome.notOfferedSignerWindow, connections: outcome.notOfferedConnections),
            signerCeiling: signerCeiling,
            stoppedSigners: outcome.stoppedSigners, committedInWindow: outcome.committedInWindow,
            committedRate: committedRate, ratioToBound: ratio, blocksInWindow: outcome.blocksInWindow,
            lastHeight: outcome.lastHeight, followErrors: outcome.followErrors,
            latency: .init(
                p50: finite(latency(0.5)), p99: finite(latency(0.99)), samples: outcome.latencies.count,
                uncommitted: outcome.uncommitted, drainSeconds: outcome.drainSeconds),
            latencySplit: .init(
                answered: .init(outcome.split.answered), requestRoundTrip: .init(outcome.split.requestRoundTrips),
                proposed: .init(outcome.split.proposed),
                afterProposal: .init(outcome.split.afterProposal)),
            engineLoopLagP99Seconds: Dictionary(
                uniqueKeysWithValues: zip(plan.nodes.map(\.name), loopLagP99.map { finite($0) })),
            peakRSSBytes: peaks,
            nodeCPUCores: cpu.map { cpu in
                Dictionary(uniqueKeysWithValues: zip(plan.nodes.map(\.name), cpu.nodeCores.map { finite($0) }))
            },
            benchCPUCores: cpu.map(\.benchCores),
            nodeCPUMicrosecondsPerTransaction: finite(cpu?.nodeMicrosecondsPerTransaction),
            nodeCPUVerificationsPerTransaction: finite(cpu?.verificationsPerTransaction),
            nodeVerificationsPerTransaction: finite(verification?.perTransaction),
            nodeVerificationMicroseconds: finite(verification?.microseconds),
            boundVerificationMicroseconds: 1e6 / bound.perCore,
            targets: [
                "throughputRatio": .init(limit: Self.throughputTarget, met: throughputMet),
                "p99Seconds": .init(limit: Self.latencyTarget, met: latencyMet),
                "peakRSSBytes": .init(limit: Double(Self.memoryTarget), met: memoryMet),
            ])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Every field is a string, an integer, a finite double, a boolean or a container of them: encoding succeeds.
        guard let data = try? encoder.encode(document) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    static func format(_ value: Double) -> String {
        if value >= 100 { return String(Int(value.rounded())) }
        return "\((value * 100).rounded() / 100)"
    }

    /// A signed share as a percentage: "+12 %", "-3 %".
    static func formatPercent(_ share: Double) -> String {
        guard share.isFinite else { return "-" }
        let percent = Int((share * 100).rounded())
        return "\(percent >= 0 ? "+" : "")\(percent) %"
    }

    static func formatSeconds(_ value: Double?) -> String {
        guard let value else { return "-" }
        guard value.isFinite else { return "never" }
        return "\(format(value)) s"
    }
}
