import EnsureCrypto
import Logging
import NIOCore
import NIOPosix
import PeerNetwork

/// What a test node has seen: events and inbound messages, gathered by one consumer task each.
actor Observations {
    private(set) var events: [PeerEvent] = []
    private(set) var messages: [InboundMessage] = []
    private(set) var inboundFinished = false

    func record(_ event: PeerEvent) { events.append(event) }
    func record(_ message: InboundMessage) { messages.append(message) }
    func finishInbound() { inboundFinished = true }

    func hasEvent(_ predicate: @Sendable (PeerEvent) -> Bool) -> Bool { events.contains(where: predicate) }
}

/// Collects log lines (message and metadata) so a test can check what an operator would read.
actor LogLines {
    private(set) var lines: [String] = []
    func append(_ line: String) { lines.append(line) }
}

struct CapturingLogHandler: LogHandler {
    let sink: LogLines
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = self.metadata.merging(event.metadata ?? [:]) { $1 }
        let text = "\(event.level) \(event.message) \(merged.map { "\($0)=\($1)" }.sorted().joined(separator: " "))"
        let sink = self.sink
        Task { await sink.append(text) }
    }
}

/// A started transport on 127.0.0.1 with a port the operating system chose.
struct TestNode {
    static let chainID = "ensure-test"

    let identity: Ed25519PrivateKey
    let transport: PeerTransport
    let port: Int
    let seen: Observations

    var key: Ed25519PublicKey { identity.publicKey }

    /// Whether this node reports, within the usual deadline, refusing a handshake in `role` for `reason`.
    func sawHandshakeRefusal(as role: HandshakeRole, _ reason: HandshakeError) async -> Bool {
        await eventually {
            await seen.hasEvent {
                if case .refused(_, role, .handshakeFailed(reason)) = $0 { return true }
                return false
            }
        }
    }

    var address: PeerAddress { PeerAddress(key: key, host: "127.0.0.1", port: port) }

    static func start(
        identity: Ed25519PrivateKey = Ed25519PrivateKey(), chainID: String = chainID, port: Int = 0,
        peers: [PeerAddress] = [], authorizer: PeerAuthorizer, limits: TransportLimits = TransportLimits(),
        consumeInbound: Bool = true, logger: Logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
    ) async throws -> TestNode {
        let configuration = try PeerTransportConfiguration(
            identity: identity, chainID: chainID, listenHost: "127.0.0.1", listenPort: port, peers: peers,
            authorizer: authorizer, limits: limits,
            backoff: ReconnectBackoff(initial: .milliseconds(20), maximum: .milliseconds(200)))
        let transport = PeerTransport(configuration: configuration, logger: logger)
        let bound = try await transport.start()
        let seen = Observations()
        Task {
            for await event in transport.events { await seen.record(event) }
        }
        if consumeInbound {
            Task {
                for await message in transport.inbound { await seen.record(message) }
                await seen.finishInbound()
            }
        }
        return TestNode(identity: identity, transport: transport, port: bound, seen: seen)
    }
}

/// Polls `condition` every 10 ms until it holds or `limit` passes; returns whether it held. Only bounds a
/// test's running time: no test asserts on how long anything took.
func eventually(within limit: Duration = .seconds(15), _ condition: () async -> Bool) async -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + limit
    while clock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return await condition()
}

/// Why a scripted connection ended before its handshake completed.
struct ScriptedPeerClosed: Error {}

/// A hand-driven peer on a raw NIO connection: performs the handshake with the library's pure pieces, then lets
/// the test write any bytes it likes (tampered frames, oversize prefixes) or stop reading.
final class ScriptedPeerHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var handshake: Handshake
    private var received = ByteBuffer()
    private var sentAuthentication = false
    private var done = false
    private let established: EventLoopPromise<EstablishedSession>
    private let stopReadingWhenEstablished: Bool

    init(handshake: Handshake, established: EventLoopPromise<EstablishedSession>, stopReadingWhenEstablished: Bool) {
        self.handshake = handshake
        self.established = established
        self.stopReadingWhenEstablished = stopReadingWhenEstablished
    }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: handshake.localHelloBytes)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        var incoming = unwrapInboundIn(data)
        received.writeBuffer(&incoming)
        do {
            if !sentAuthentication, received.readableBytes >= HandshakeHello.headerByteCount {
                let total =
                    try HandshakeHello.headerByteCount
                    + HandshakeHello.bodyByteCount(header: received.readableBytesView)
                if received.readableBytes >= total {
                    let auth = try handshake.receiveHello(wireBytes: received.readBytes(length: total)!)
                    context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: auth)), promise: nil)
                    sentAuthentication = true
                }
            }
            if sentAuthentication, received.readableBytes >= 4 + Handshake.authenticationCiphertextByteCount {
                received.moveReaderIndex(forwardBy: 4)
                let ciphertext = received.readBytes(length: Handshake.authenticationCiphertextByteCount)!
                let session = try handshake.receiveAuthentication(ciphertext: ciphertext)
                done = true
                if stopReadingWhenEstablished {
                    context.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
                }
                established.succeed(session)
            }
        } catch {
            established.fail(error)
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        established.fail(ScriptedPeerClosed())
        context.fireChannelInactive()
    }
}

/// A scripted connection to `port`, returned once the handshake completed.
func connectScriptedPeer(
    to port: Int, identity: Ed25519PrivateKey, expecting peer: Ed25519PublicKey, maximumMessageByteCount: Int,
    stopReadingWhenEstablished: Bool = false
) async throws -> (channel: any Channel, session: EstablishedSession) {
    let loop = MultiThreadedEventLoopGroup.singleton.next()
    let promise = loop.makePromise(of: EstablishedSession.self)
    let handshake = Handshake(
        role: .initiator, identity: identity, chainID: TestNode.chainID, expectedPeer: peer,
        authorizer: .only([peer]), maximumMessageByteCount: maximumMessageByteCount)
    let channel: any Channel
    do {
        channel = try await ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ScriptedPeerHandler(
                            handshake: handshake, established: promise,
                            stopReadingWhenEstablished: stopReadingWhenEstablished))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
    } catch {
        promise.fail(error)
        throw error
    }
    return (channel, try await promise.futureResult.get())
}

/// A plain TCP connection with no protocol handler, for sending raw bytes.
func connectRaw(to port: Int) async throws -> any Channel {
    try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port)
        .get()
}
