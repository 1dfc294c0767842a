import API
import Codec
import Consensus
import Daemon
import EnsureCrypto
import Foundation
import Ledger
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NodeConfig

/// Why a benchmark that runs a node in-process cannot go on: names the file, key or answer that was wrong.
struct BenchNodeError: Error, CustomStringConvertible {
    /// What went wrong.
    var description: String
    init(_ description: String) { self.description = description }
}

/// The home directory of a one-validator node made for a benchmark: `config.toml`, `genesis.json`, the node key and
/// every organization admin and plugin key under `keys/` (key files, mode 0600), and the data directory. It is a
/// real node home: `ensure-node --home DIR` runs it too.
struct BenchNodeHome {
    /// The home directory.
    let path: String
    /// The chain's genesis.
    let genesis: Genesis
    /// The validator's key (it signs the certificates of blocks a benchmark commits directly).
    let validatorKey: Ed25519PrivateKey
    /// The organization admin keys, in genesis order (`org-00`, `org-01`, ...).
    let admins: [Ed25519PrivateKey]

    /// The organization name of admin `index`.
    static func organizationName(_ index: Int) -> String { String(format: "org-%02d", index) }

    /// The key file of organization `index`'s admin.
    static func adminKeyPath(home: String, _ index: Int) -> String { "\(home)/keys/\(organizationName(index)).key" }

    /// Creates `path` (which must not hold a genesis yet) with `organizations` member organizations, one validator,
    /// loopback ports chosen by the system and `mempool` as the node's pool limits. With `observer`, genesis also
    /// names an observer and the home runs that key: a node that admits transactions but never commits them.
    static func create(
        at path: String, chainID: String, organizations: Int, parameters: GenesisParameters, genesisTime: UInt64,
        mempool: NodeConfiguration.Mempool, observer: Bool = false
    ) throws -> BenchNodeHome {
        let manager = FileManager.default
        try manager.createDirectory(
            atPath: path + "/keys", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let validatorKey = Ed25519PrivateKey()
        let observerKey = observer ? Ed25519PrivateKey() : nil
        let admins = (0..<organizations).map { _ in Ed25519PrivateKey() }
        let genesis = Genesis(
            chainID: chainID, genesisTime: genesisTime,
            organizations: admins.enumerated().map {
                GenesisOrganization(name: organizationName($0.offset), adminKey: $0.element.publicKey)
            },
            validators: [GenesisValidator(organization: organizationName(0), nodeKey: validatorKey.publicKey)],
            observers: observerKey.map { [$0.publicKey] } ?? [], parameters: parameters)
        try genesis.validate()
        // An observer home runs the observer key; the validator's key is kept beside it but nothing runs it.
        try KeyFile.write(observerKey ?? validatorKey, to: path + "/keys/node.key")
        if observerKey != nil { try KeyFile.write(validatorKey, to: path + "/keys/validator.key") }
        for (index, admin) in admins.enumerated() {
            try KeyFile.write(admin, to: adminKeyPath(home: path, index))
        }
        var configuration = NodeConfiguration()
        configuration.node.moniker = "bench"
        configuration.node.logLevel = .warning
        configuration.p2p.listenAddress = NetworkAddress(host: "127.0.0.1", port: try freePort())!
        configuration.api.listenAddress = NetworkAddress(host: "127.0.0.1", port: try freePort())!
        configuration.mempool = mempool
        try Data(configuration.renderTOML().utf8).write(to: URL(fileURLWithPath: path + "/config.toml"))
        try Data(genesis.jsonText().utf8).write(to: URL(fileURLWithPath: path + "/genesis.json"))
        return BenchNodeHome(path: path, genesis: genesis, validatorKey: validatorKey, admins: admins)
    }

    /// Opens a home made by ``create(at:chainID:organizations:parameters:genesisTime:mempool:)``.
    static func open(at path: String) throws -> BenchNodeHome {
        guard let bytes = FileManager.default.contents(atPath: path + "/genesis.json") else {
            throw BenchNodeError("\(path)/genesis.json cannot be read")
        }
        let genesis = try Genesis.decode(json: Array(bytes))
        let validatorKey = try KeyFile.read(from: path + "/keys/node.key").privateKey
        var admins: [Ed25519PrivateKey] = []
        for (index, organization) in genesis.organizations.enumerated() {
            guard organization.name == organizationName(index) else {
                throw BenchNodeError(
                    "\(path)/genesis.json: organization \(index) is \(organization.name), not a bench home")
            }
            let key = try KeyFile.read(from: adminKeyPath(home: path, index)).privateKey
            guard key.publicKey == organization.adminKey else {
                throw BenchNodeError("\(adminKeyPath(home: path, index)) is not \(organization.name)'s admin key")
            }
            admins.append(key)
        }
        return BenchNodeHome(path: path, genesis: genesis, validatorKey: validatorKey, admins: admins)
    }

    /// The API address in `config.toml`.
    func apiAddress() throws -> (host: String, port: Int) {
        let configuration = try NodeConfiguration.load(home: path)
        return (configuration.api.listenAddress.host, configuration.api.listenAddress.port)
    }

    /// Gives the node new loopback ports (a reused home's old ones may be taken now).
    func refreshPorts() throws {
        var configuration = try NodeConfiguration.load(home: path)
        configuration.p2p.listenAddress = NetworkAddress(host: "127.0.0.1", port: try Self.freePort())!
        configuration.api.listenAddress = NetworkAddress(host: "127.0.0.1", port: try Self.freePort())!
        try Data(configuration.renderTOML().utf8).write(to: URL(fileURLWithPath: path + "/config.toml"))
    }

    /// A loopback TCP port that was free a moment ago.
    static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw BenchNodeError("socket() failed: errno \(errno)") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                bind(descriptor, generic, length) == 0 && getsockname(descriptor, generic, &length) == 0
            }
        }
        guard bound else { throw BenchNodeError("cannot bind a loopback port: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// The certificate the home's single validator signs over `header`.
    func certificate(for header: BlockHeader) -> QuorumCertificate {
        let data = VoteData(
            chainID: genesis.chainID, epoch: header.epoch, round: header.round, height: header.height,
            blockID: header.id)
        return QuorumCertificate(
            data: data,
            signatures: [
                ValidatorSignature(
                    signer: validatorKey.publicKey,
                    signature: validatorKey.signature(for: data.canonicalBytes, domain: .vote))
            ])
    }
}

/// The real node (``NodeRuntime``: engine, peer transport and HTTP API in one service group) running in this
/// process on a ``BenchNodeHome``, until ``stop()``.
final class InProcessNode: Sendable {
    private let task: Task<Void, any Error>
    private let quiet: QuietSwitch
    /// The API's host.
    let host: String
    /// The API's port.
    let port: Int

    private init(task: Task<Void, any Error>, quiet: QuietSwitch, host: String, port: Int) {
        self.task = task
        self.quiet = quiet
        self.host = host
        self.port = port
    }

    /// Starts the node on `home` and waits until its API answers `GET /v1/status`.
    static func start(home: BenchNodeHome, on loop: any EventLoop) async throws -> InProcessNode {
        let setup = try NodeSetup.load(home: home.path)
        let quiet = QuietSwitch()
        var logger = Logger(label: "ensure-bench.node") { label in
            QuietLogHandler(inner: StreamLogHandler.standardError(label: label), quiet: quiet)
        }
        logger.logLevel = .warning
        let runtime = NodeRuntime(setup: setup, logger: logger)
        let task = Task { try await runtime.run() }
        let (host, port) = try home.apiAddress()
        let node = InProcessNode(task: task, quiet: quiet, host: host, port: port)
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(30)
        while clock.now < deadline {
            if let response = try? await BenchHTTP.request(host: host, port: port, path: "/v1/status", on: loop),
                response.status == 200
            {
                return node
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        await node.stop()
        throw BenchNodeError("the in-process node on \(home.path) did not answer GET /v1/status within 30 s")
    }

    /// Stops the node (cancels its service group, which shuts every service down) and waits for it.
    func stop() async {
        // Cancelling the group makes the HTTP server log its closing channels as errors: not news here.
        quiet.set()
        task.cancel()
        _ = await task.result
    }
}

/// Turned on once, when the bench stops its in-process node.
final class QuietSwitch: @unchecked Sendable {
    // The flag is read and written only under the lock.
    private var flag = false
    private let lock = NSLock()

    /// Whether the node is being stopped.
    var isOn: Bool { lock.withLock { flag } }

    /// Marks the node as being stopped.
    func set() { lock.withLock { flag = true } }
}

/// Passes the in-process node's log lines (warnings and worse) to standard error until it is being stopped.
struct QuietLogHandler: LogHandler {
    var inner: StreamLogHandler
    let quiet: QuietSwitch

    var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }

    var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        guard !quiet.isOn else { return }
        inner.log(event: event)
    }
}

/// One keep-alive HTTP/1.1 connection for sequential requests with headers, awaited one at a time.
final class BenchHTTPConnection: Sendable {
    private let channel: any Channel
    private let host: String

    private init(channel: any Channel, host: String) {
        self.channel = channel
        self.host = host
    }

    /// Connects to `host`:`port` on `loop`.
    static func connect(host: String, port: Int, on loop: any EventLoop) async throws -> BenchHTTPConnection {
        let channel = try await ClientBootstrap(group: loop)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture(withResultOf: {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ResponseCollector())
                })
            }
            .connect(host: host, port: port).get()
        return BenchHTTPConnection(channel: channel, host: "\(host):\(port)")
    }

    /// Sends one request and waits for its answer.
    func request(
        method: HTTPMethod = .GET, path: String, headers extra: [(String, String)] = [], body: [UInt8]? = nil,
        contentType: String = "application/json"
    ) async throws -> LoadHTTPResponse {
        let channel = self.channel
        let hostHeader = host
        let promise = channel.eventLoop.makePromise(of: LoadHTTPResponse.self)
        channel.eventLoop.execute {
            guard channel.isActive,
                let collector = try? channel.pipeline.syncOperations.handler(type: ResponseCollector.self)
            else {
                promise.fail(LoadHTTPFailure(description: "connection closed"))
                return
            }
            var headers = HTTPHeaders()
            headers.add(name: "host", value: hostHeader)
            headers.add(name: "content-length", value: String(body?.count ?? 0))
            if body != nil { headers.add(name: "content-type", value: contentType) }
            for (name, value) in extra { headers.add(name: name, value: value) }
            collector.enqueue { result in
                switch result {
                case .success(let response): promise.succeed(response)
                case .failure(let failure): promise.fail(failure)
                }
            }
            channel.write(
                HTTPClientRequestPart.head(
                    HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: headers)),
                promise: nil)
            if let body {
                channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil)
            }
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        }
        return try await promise.futureResult.get()
    }

    /// Closes the connection.
    func close() async { try? await channel.close() }
}

/// One-off requests.
enum BenchHTTP {
    /// Opens a connection, sends one request and closes it.
    static func request(
        method: HTTPMethod = .GET, host: String, port: Int, path: String, headers: [(String, String)] = [],
        body: [UInt8]? = nil, on loop: any EventLoop
    ) async throws -> LoadHTTPResponse {
        let connection = try await BenchHTTPConnection.connect(host: host, port: port, on: loop)
        defer { Task { await connection.close() } }
        return try await connection.request(method: method, path: path, headers: headers, body: body)
    }

    /// Decodes a 200 JSON answer as `T`; anything else is an error that quotes the answer.
    static func decode<T: Decodable>(_ type: T.Type, _ response: LoadHTTPResponse, path: String) throws -> T {
        guard response.status == 200 else {
            throw BenchNodeError(
                "GET \(path) answered HTTP \(response.status): "
                    + String(decoding: response.body.prefix(300), as: UTF8.self))
        }
        return try JSONDecoder().decode(T.self, from: Data(response.body))
    }

    /// The problem code of an RFC 9457 answer (`urn:ensure:problem:CODE`), or `http-STATUS`.
    static func problemCode(_ response: LoadHTTPResponse) -> String {
        struct Problem: Decodable { var type: String }
        let prefix = "urn:ensure:problem:"
        if let problem = try? JSONDecoder().decode(Problem.self, from: Data(response.body)),
            problem.type.hasPrefix(prefix)
        {
            return String(problem.type.dropFirst(prefix.count))
        }
        return "http-\(response.status)"
    }

    /// A bearer token for `key` from the challenge routes (docs/api.md, "Access").
    static func token(for key: Ed25519PrivateKey, chainID: String, over connection: BenchHTTPConnection) async throws
        -> String
    {
        struct Challenge: Decodable { var challenge: String }
        struct Token: Decodable { var token: String }
        let challengeAnswer = try await connection.request(method: .POST, path: "/v1/auth/challenge")
        let challenge = try decode(Challenge.self, challengeAnswer, path: "/v1/auth/challenge").challenge
        let bytes = try Base64.decodeURL(challenge)
        let signature = key.signature(
            for: AccessControl.tokenMessage(chainID: chainID, challenge: bytes), domain: .apiRequest)
        let body = try JSONEncoder().encode([
            "publicKey": key.publicKey.hex, "challenge": challenge, "signature": Base64.encode(signature.bytes),
        ])
        let answer = try await connection.request(method: .POST, path: "/v1/auth/token", body: Array(body))
        return try decode(Token.self, answer, path: "/v1/auth/token").token
    }
}

/// Order statistics of latency samples.
struct LatencySummary: Sendable, Encodable {
    /// Samples.
    var count: Int
    /// Median, seconds.
    var p50: Double
    /// 99th percentile, seconds.
    var p99: Double
    /// Largest, seconds.
    var max: Double
    /// Mean, seconds.
    var mean: Double

    /// The summary of `samples` (seconds); nil when there are none.
    init?(_ samples: [Double]) {
        guard !samples.isEmpty else { return nil }
        let sorted = samples.sorted()
        func quantile(_ q: Double) -> Double {
            let rank = Int((q * Double(sorted.count)).rounded(.up))
            return sorted[Swift.min(Swift.max(rank, 1), sorted.count) - 1]
        }
        count = sorted.count
        p50 = quantile(0.5)
        p99 = quantile(0.99)
        max = sorted[sorted.count - 1]
        mean = sorted.reduce(0, +) / Double(sorted.count)
    }

    /// `p50 … p99` in milliseconds or microseconds, for text reports.
    var text: String {
        "p50 \(Self.format(p50))  p99 \(Self.format(p99))  max \(Self.format(max))  (\(count) samples)"
    }

    /// A duration in seconds as `123 µs` or `4.56 ms`.
    static func format(_ seconds: Double) -> String {
        if seconds < 0.001 { return "\(Int((seconds * 1e6).rounded())) µs" }
        return String(format: "%.2f ms", seconds * 1000)
    }
}

/// A small deterministic generator (SplitMix64), so that a store built from the same seed holds the same incidents.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    /// Starts at `seed`.
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Duration {
    /// The duration in seconds.
    var benchSeconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
