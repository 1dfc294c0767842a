public import EnsureCrypto
public import Logging
import NIOConcurrencyHelpers
public import NIOCore
import NIOPosix

/// Why a transport operation was refused.
public enum PeerTransportError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No authenticated connection to the peer exists right now.
    case notConnected(Ed25519PublicKey)
    /// The message is larger than ``TransportLimits/maximumMessageByteCount``.
    case messageTooLarge(byteCount: Int, maximum: Int)
    /// The listening socket could not be opened.
    case listenFailed(host: String, port: Int, reason: String)
    /// ``PeerTransport/start()`` was called on a transport that is running or was shut down.
    case notIdle

    public var description: String {
        switch self {
        case .notConnected(let peer):
            return "no connection to peer \(peer.hex)"
        case .messageTooLarge(let byteCount, let maximum):
            return "message of \(byteCount) bytes exceeds the maximum of \(maximum)"
        case .listenFailed(let host, let port, let reason):
            return "cannot listen on \(host):\(port): \(reason)"
        case .notIdle:
            return "the transport was already started or has been shut down"
        }
    }
}

/// The node's authenticated, encrypted links to its peers over TCP.
///
/// An actor owns the connection table, so that every decision about which connection a peer uses is taken in
/// one place and in one order; each connection's bytes, handshake and frames stay on its NIO event loop
/// (``PeerSessionHandler``) and reach the actor as an ordered stream of events. ``send(_:to:)`` and
/// ``broadcast(_:)`` read a locked copy of the table, so a caller on a connection's event loop writes with no hop;
/// received messages go to ``inbound``, or straight to the receiver given to ``deliver(to:)``. The daemon runs it as
/// a service: ``start()`` when the node starts, ``shutdown()`` on graceful shutdown.
///
/// - Listens on the configured address; dials every configured peer and redials it after a failure or a
///   disconnection, with capped exponential backoff (``ReconnectBackoff``).
/// - Keeps one connection per peer. When two exist (both sides dialed at once, or a peer redialed before the
///   old connection was noticed dead), the one opened by the node with the lower key wins; between two opened
///   by the same node the newer wins. Both ends apply the same rule, so they keep the same connection.
/// - Bounds memory: each peer's outbound queue and the shared inbound buffer are bounded in messages and bytes;
///   a message that does not fit is dropped and counted (``PeerStatistics``), never buffered without limit.
public actor PeerTransport {
    /// Messages received from authenticated peers.
    public nonisolated let inbound: InboundMessages
    /// Connections made, ended and refused; bounded (the oldest unread events are dropped first).
    public nonisolated let events: AsyncStream<PeerEvent>

    private enum State {
        case idle
        case running
        case stopped
    }

    private struct Connection {
        let channel: any Channel
        let role: HandshakeRole
        let handler: NIOLoopBound<PeerSessionHandler>
    }

    private let configuration: PeerTransportConfiguration
    private let group: any EventLoopGroup
    private let logger: Logger
    private let inboundBuffer: InboundBuffer
    private let eventsContinuation: AsyncStream<PeerEvent>.Continuation
    private let connectionEvents: AsyncStream<ConnectionEvent>
    private let connectionEventsContinuation: AsyncStream<ConnectionEvent>.Continuation
    private let factory: SessionFactory

    private var state = State.idle
    private var serverChannel: (any Channel)?
    private var openChannels: [ObjectIdentifier: (channel: any Channel, handler: NIOLoopBound<PeerSessionHandler>)] =
        [:]
    private var connections: [Ed25519PublicKey: Connection] = [:]
    /// Each connected peer's channel, mirrored from ``connections`` so that sending needs no hop to the actor.
    private nonisolated let routes = NIOLockedValueBox<[Ed25519PublicKey: any Channel]>([:])
    private var peers: [Ed25519PublicKey: PeerAddress]
    private var dialTasks: [Ed25519PublicKey: Task<Void, Never>] = [:]
    private var eventTask: Task<Void, Never>?

    /// A transport for `configuration`, running its sockets on `eventLoopGroup` (NIO's shared multi-threaded
    /// group when nil), logging to `logger`.
    public init(
        configuration: PeerTransportConfiguration, eventLoopGroup: (any EventLoopGroup)? = nil, logger: Logger
    ) {
        self.configuration = configuration
        self.peers = Dictionary(uniqueKeysWithValues: configuration.peers.map { ($0.key, $0) })
        self.group = eventLoopGroup ?? MultiThreadedEventLoopGroup.singleton
        var logger = logger
        logger[metadataKey: "node"] = "\(configuration.identity.publicKey.keyID)"
        self.logger = logger
        let (inboundStream, inboundContinuation) = AsyncStream.makeStream(of: InboundMessage.self)
        self.inboundBuffer = InboundBuffer(
            continuation: inboundContinuation, maximumMessages: configuration.limits.inboundBufferMessageCount,
            maximumBytes: configuration.limits.inboundBufferByteCount)
        self.inbound = InboundMessages(stream: inboundStream, buffer: inboundBuffer)
        (self.events, self.eventsContinuation) = AsyncStream.makeStream(
            of: PeerEvent.self, bufferingPolicy: .bufferingNewest(1024))
        (self.connectionEvents, self.connectionEventsContinuation) = AsyncStream.makeStream(
            of: ConnectionEvent.self)
        self.factory = SessionFactory(
            configuration: configuration, events: connectionEventsContinuation, inbound: inboundBuffer,
            logger: logger)
    }

    /// Opens the listening socket, starts dialing the configured peers, and returns the bound port (the one
    /// the operating system chose when the configured port is 0).
    public func start() async throws(PeerTransportError) -> Int {
        guard state == .idle else { throw .notIdle }
        let factory = self.factory
        let limits = configuration.limits
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: factory.waterMark)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let promise = channel.eventLoop.makePromise(of: Ed25519PublicKey.self)
                    try factory.install(on: channel, role: .responder, expectedPeer: nil, established: promise)
                }
            }
        let server: any Channel
        do {
            server = try await bootstrap.bind(host: configuration.listenHost, port: configuration.listenPort).get()
        } catch {
            throw .listenFailed(
                host: configuration.listenHost, port: configuration.listenPort, reason: String(describing: error))
        }
        serverChannel = server
        state = .running
        let port = server.localAddress?.port ?? configuration.listenPort
        logger.info(
            "peer transport listening",
            metadata: [
                "address": "\(configuration.listenHost):\(port)", "peers": "\(configuration.peers.count)",
                "maximumMessageBytes": "\(limits.maximumMessageByteCount)",
            ])
        let events = connectionEvents
        eventTask = Task { [weak self] in
            for await event in events {
                await self?.handle(event)
            }
        }
        for peer in peers.values {
            dialTasks[peer.key] = Task { await self.dialLoop(peer) }
        }
        return port
    }

    /// Starts keeping a connection to `peer` (for example a validator that joined at an epoch boundary); before
    /// ``start()`` it is added to the peers dialed on start.
    public func addPeer(_ peer: PeerAddress) throws(TransportConfigurationError) {
        guard peer.key != configuration.identity.publicKey else { throw .selfInPeerList(peer.key) }
        guard peers[peer.key] == nil else { throw .duplicatePeer(peer.key) }
        peers[peer.key] = peer
        if state == .running {
            dialTasks[peer.key] = Task { await self.dialLoop(peer) }
        }
    }

    /// Stops dialing `peer`; an existing connection stays until it ends or the peer is deauthorized.
    public func removePeer(_ key: Ed25519PublicKey) {
        peers[key] = nil
        dialTasks.removeValue(forKey: key)?.cancel()
    }

    /// This node's role in the connection it keeps with `peer`, or nil if there is none.
    public func role(of peer: Ed25519PublicKey) -> HandshakeRole? {
        connections[peer]?.role
    }

    /// The port the transport listens on, once started.
    public var listeningPort: Int? { serverChannel?.localAddress?.port }

    /// The keys of the peers with an authenticated connection, in ascending order.
    public func connectedPeers() -> [Ed25519PublicKey] {
        connections.keys.sorted()
    }

    /// Hands `message` to `peer`'s connection. It is sent in order after earlier messages to that peer; if the
    /// peer's outbound queue is full it is dropped and counted in ``PeerStatistics/droppedOutboundMessages``.
    public nonisolated func send(_ message: [UInt8], to peer: Ed25519PublicKey) throws(PeerTransportError) {
        let maximum = configuration.limits.maximumMessageByteCount
        guard message.count <= maximum else { throw .messageTooLarge(byteCount: message.count, maximum: maximum) }
        guard let channel = routes.withLockedValue({ $0[peer] }) else { throw .notConnected(peer) }
        channel.writeAndFlush(message, promise: nil)
    }

    /// Hands `message` to every connected peer and returns their keys, in ascending order.
    @discardableResult
    public nonisolated func broadcast(_ message: [UInt8]) throws(PeerTransportError) -> [Ed25519PublicKey] {
        let maximum = configuration.limits.maximumMessageByteCount
        guard message.count <= maximum else { throw .messageTooLarge(byteCount: message.count, maximum: maximum) }
        let targets = routes.withLockedValue { $0.sorted { $0.key < $1.key } }
        for (_, channel) in targets {
            channel.writeAndFlush(message, promise: nil)
        }
        return targets.map(\.key)
    }

    /// The counters of `peer`'s connection, or nil if it is not connected.
    public func statistics(for peer: Ed25519PublicKey) async -> PeerStatistics? {
        guard let connection = connections[peer] else { return nil }
        let handler = connection.handler
        return try? await connection.channel.eventLoop.submit { handler.value.currentStatistics }.get()
    }

    /// Hands every message received from now on to `receiver`, called on the event loop of the connection that
    /// read it, instead of to ``inbound``. Nothing is buffered: a receiver that is slow slows the reading of its
    /// peers' sockets, and their own bounded outbound queues drop what does not fit. Call it before ``start()``.
    public nonisolated func deliver(to receiver: @escaping @Sendable (InboundMessage) -> Void) {
        inboundBuffer.receiver.withLockedValue { $0 = InboundReceiver(receiver) }
    }

    /// Bytes received from peers and not yet taken from ``inbound``.
    public nonisolated var inboundBufferedBytes: Int { inboundBuffer.bufferedBytes }

    /// Closes the connections of peers the authorizer no longer accepts; call it when the validator or observer
    /// set changes.
    public func disconnectUnauthorizedPeers() {
        for (peer, connection) in connections where !configuration.authorizer.isAuthorized(peer) {
            close(connection.handler, on: connection.channel, reason: .deauthorized)
        }
    }

    /// Stops listening and dialing, closes every connection, and ends ``inbound`` and ``events`` once the last
    /// connection's events are delivered.
    public func shutdown() async {
        guard state != .stopped else { return }
        let wasRunning = state == .running
        state = .stopped
        for task in dialTasks.values { task.cancel() }
        try? await serverChannel?.close()
        for (channel, handler) in openChannels.values {
            close(handler, on: channel, reason: .transportShutdown)
        }
        for (channel, _) in openChannels.values {
            try? await channel.closeFuture.get()
        }
        for task in dialTasks.values { await task.value }
        dialTasks = [:]
        connectionEventsContinuation.finish()
        if wasRunning { await eventTask?.value }
        connections = [:]
        routes.withLockedValue { $0 = [:] }
        inboundBuffer.finish()
        eventsContinuation.finish()
        logger.info("peer transport stopped")
    }

    // MARK: Connection events

    private func handle(_ event: ConnectionEvent) {
        switch event {
        case .opened(let channel, let handler):
            openChannels[ObjectIdentifier(channel)] = (channel, handler)
            if state == .stopped { close(handler, on: channel, reason: .transportShutdown) }
        case .established(let channel, let peer, let role, let handler):
            guard state == .running, channel.isActive else { return }
            if let existing = connections[peer], existing.channel !== channel {
                if keepsExisting(existingRole: existing.role, newRole: role, peer: peer) {
                    close(handler, on: channel, reason: .duplicateConnection)
                    return
                }
                close(existing.handler, on: existing.channel, reason: .duplicateConnection)
            }
            connections[peer] = Connection(channel: channel, role: role, handler: handler)
            routes.withLockedValue { $0[peer] = channel }
            eventsContinuation.yield(.connected(peer: peer, role: role))
        case .closed(let channel, let peer, let role, let remoteAddress, let reason):
            openChannels[ObjectIdentifier(channel)] = nil
            if let peer {
                if let existing = connections[peer], existing.channel === channel {
                    connections[peer] = nil
                    routes.withLockedValue { $0[peer] = nil }
                    eventsContinuation.yield(.disconnected(peer: peer, reason: reason))
                }
            } else {
                eventsContinuation.yield(.refused(remoteAddress: remoteAddress, role: role, reason: reason))
            }
        }
    }

    /// The duplicate rule: a connection opened by the lower key wins; between two opened by the same side the
    /// newer wins (the older is most likely dead on the other side already).
    private func keepsExisting(existingRole: HandshakeRole, newRole: HandshakeRole, peer: Ed25519PublicKey) -> Bool {
        guard existingRole != newRole else { return false }
        let lowerKeyIsSelf = configuration.identity.publicKey < peer
        let existingOpenedBySelf = existingRole == .initiator
        return existingOpenedBySelf == lowerKeyIsSelf
    }

    private func close(
        _ handler: NIOLoopBound<PeerSessionHandler>, on channel: any Channel, reason: PeerDisconnectReason
    ) {
        channel.eventLoop.execute { handler.value.close(reason: reason) }
    }

    // MARK: Dialing

    private func dialLoop(_ peer: PeerAddress) async {
        var failures = 0
        while !Task.isCancelled, state == .running {
            if let existing = connections[peer.key], existing.channel.isActive {
                try? await existing.channel.closeFuture.get()
            } else {
                do {
                    let channel = try await dial(peer)
                    failures = 0
                    try? await channel.closeFuture.get()
                } catch {
                    failures += 1
                    logger.debug("dial failed", metadata: ["peer": "\(peer)", "failures": "\(failures)"])
                }
            }
            guard !Task.isCancelled, state == .running else { return }
            try? await Task.sleep(for: configuration.backoff.delay(afterFailures: failures))
        }
    }

    private func dial(_ peer: PeerAddress) async throws -> any Channel {
        let loop = group.next()
        let promise = loop.makePromise(of: Ed25519PublicKey.self)
        let factory = self.factory
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: loop)
                .connectTimeout(TimeAmount(configuration.limits.handshakeTimeout))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelOption(.writeBufferWaterMark, value: factory.waterMark)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try factory.install(
                            on: channel, role: .initiator, expectedPeer: peer.key, established: promise)
                    }
                }
                .connect(host: peer.host, port: peer.port).get()
        } catch {
            promise.fail(error)
            throw error
        }
        _ = try await promise.futureResult.get()
        return channel
    }
}

/// What every connection's handler is built from; a value, so the event loops never touch the actor.
struct SessionFactory: Sendable {
    let configuration: PeerTransportConfiguration
    let events: AsyncStream<ConnectionEvent>.Continuation
    let inbound: InboundBuffer
    let logger: Logger

    var waterMark: ChannelOptions.Types.WriteBufferWaterMark {
        ChannelOptions.Types.WriteBufferWaterMark(
            low: configuration.limits.writeBufferLowWaterMark, high: configuration.limits.writeBufferHighWaterMark)
    }

    /// Adds the session handler to a new channel's pipeline; must run on the channel's event loop.
    func install(
        on channel: any Channel, role: HandshakeRole, expectedPeer: Ed25519PublicKey?,
        established: EventLoopPromise<Ed25519PublicKey>
    ) throws {
        let handshake = Handshake(
            role: role, identity: configuration.identity, chainID: configuration.chainID, expectedPeer: expectedPeer,
            authorizer: configuration.authorizer,
            maximumMessageByteCount: configuration.limits.maximumMessageByteCount)
        let handler = PeerSessionHandler(
            handshake: handshake, limits: configuration.limits, events: events, inbound: inbound, logger: logger,
            establishedPromise: established)
        try channel.pipeline.syncOperations.addHandler(handler)
    }
}
