import EnsureCrypto
import Logging
import NIOCore

/// What a connection reports to its ``PeerTransport``, in order, through one stream.
enum ConnectionEvent: Sendable {
    case opened(any Channel, handler: NIOLoopBound<PeerSessionHandler>)
    case established(
        any Channel, peer: Ed25519PublicKey, role: HandshakeRole, handler: NIOLoopBound<PeerSessionHandler>)
    case closed(
        any Channel, peer: Ed25519PublicKey?, role: HandshakeRole, remoteAddress: String, reason: PeerDisconnectReason)
}

/// Why a message could not be handed to a connection.
enum OutboundRefusal: Error {
    case notEstablished
    case queueFull
    case closed
}

/// The whole protocol of one connection on its event loop: hello, authentication frame, then sealed frames in
/// both directions, with a bounded outbound queue for when the socket is not writable.
///
/// Inbound bytes are kept only until a hello or frame is complete, and a length is checked against its bound
/// before the handler waits for the bytes it announces, so a peer cannot make it buffer more than one maximum
/// frame. Outbound messages go straight to the socket while it is writable (below the high water mark);
/// otherwise they wait in a queue bounded in messages and bytes, and a message that does not fit is dropped
/// and counted.
final class PeerSessionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = [UInt8]
    typealias OutboundOut = ByteBuffer

    private enum Phase {
        case awaitingHello
        case awaitingAuthentication
        case established
        case closed
    }

    private let limits: TransportLimits
    private let events: AsyncStream<ConnectionEvent>.Continuation
    private let inbound: InboundBuffer
    private let logger: Logger
    private let establishedPromise: EventLoopPromise<Ed25519PublicKey>

    private var phase = Phase.awaitingHello
    private var handshake: Handshake
    private var session: EstablishedSession?
    private var received = ByteBuffer()
    private var queue = CircularBuffer<(message: [UInt8], promise: EventLoopPromise<Void>?)>()
    private var statistics = PeerStatistics()
    private var timeout: Scheduled<Void>?
    private var closeReason: PeerDisconnectReason?
    private var started = false
    private var remoteAddress = "unknown"
    private var context: ChannelHandlerContext?

    init(
        handshake: Handshake, limits: TransportLimits, events: AsyncStream<ConnectionEvent>.Continuation,
        inbound: InboundBuffer, logger: Logger, establishedPromise: EventLoopPromise<Ed25519PublicKey>
    ) {
        self.handshake = handshake
        self.limits = limits
        self.events = events
        self.inbound = inbound
        self.logger = logger
        self.establishedPromise = establishedPromise
    }

    // MARK: Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { start(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    private func start(context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        remoteAddress = context.channel.remoteAddress?.description ?? "unknown"
        events.yield(.opened(context.channel, handler: NIOLoopBound(self, eventLoop: context.eventLoop)))
        let limit = limits.handshakeTimeout
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        timeout = context.eventLoop.scheduleTask(in: TimeAmount(limit)) {
            if bound.value.phase != .established {
                bound.value.close(reason: .handshakeFailed(.timedOut(after: limit)))
            }
        }
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: handshake.localHelloBytes)), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        let wasEstablished = session != nil
        let reason =
            closeReason ?? (wasEstablished ? .closedByPeer : .handshakeFailed(.closedDuringHandshake))
        if phase != .closed, !wasEstablished {
            logger.warning(
                "peer connection refused",
                metadata: ["remote": "\(remoteAddress)", "role": "\(handshake.role)", "reason": "\(reason)"])
        }
        phase = .closed
        timeout?.cancel()
        establishedPromise.fail(reason)
        while let pending = queue.popFirst() {
            pending.promise?.fail(OutboundRefusal.closed)
        }
        statistics.queuedMessages = 0
        statistics.queuedBytes = 0
        events.yield(
            .closed(
                context.channel, peer: session?.peerKey, role: handshake.role, remoteAddress: remoteAddress,
                reason: reason))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        close(context: context, reason: .networkError(String(describing: error)))
    }

    /// Closes the connection, recording why; the reason reaches the transport when the channel is inactive.
    func close(reason: PeerDisconnectReason) {
        guard let context else { return }
        close(context: context, reason: reason)
    }

    private func close(context: ChannelHandlerContext, reason: PeerDisconnectReason) {
        guard phase != .closed else { return }
        let wasEstablished = phase == .established
        phase = .closed
        closeReason = reason
        if wasEstablished {
            logger.info(
                "peer disconnected",
                metadata: [
                    "peer": "\(session?.peerKey.hex ?? "?")", "remote": "\(remoteAddress)", "reason": "\(reason)",
                ])
        } else {
            logger.warning(
                "peer connection refused",
                metadata: ["remote": "\(remoteAddress)", "role": "\(handshake.role)", "reason": "\(reason)"])
        }
        context.close(promise: nil)
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard phase != .closed else { return }
        var incoming = unwrapInboundIn(data)
        received.writeBuffer(&incoming)
        do {
            try process(context: context)
        } catch let error as HandshakeError {
            close(context: context, reason: .handshakeFailed(error))
        } catch let error as FrameError {
            close(context: context, reason: .frameRejected(error))
        } catch {
            close(context: context, reason: .networkError(String(describing: error)))
        }
        if received.readableBytes == 0 {
            received.clear()
        } else if received.readerIndex > 64 << 10 {
            received.discardReadBytes()
        }
    }

    private func process(context: ChannelHandlerContext) throws {
        while true {
            switch phase {
            case .closed:
                return
            case .awaitingHello:
                let view = received.readableBytesView
                try HandshakeHello.checkMagic(prefix: view)
                guard view.count >= HandshakeHello.headerByteCount else { return }
                let total = try HandshakeHello.headerByteCount + HandshakeHello.bodyByteCount(header: view)
                guard view.count >= total else { return }
                let hello = received.readBytes(length: total)!
                let authentication = try handshake.receiveHello(wireBytes: hello)
                phase = .awaitingAuthentication
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: authentication)), promise: nil)
            case .awaitingAuthentication:
                guard let length = try nextFrameLength(Handshake.checkAuthenticationLength) else { return }
                guard let ciphertext = takeFrame(length: length) else { return }
                let established = try handshake.receiveAuthentication(ciphertext: ciphertext)
                session = established
                phase = .established
                timeout?.cancel()
                logger.info(
                    "peer connected",
                    metadata: [
                        "peer": "\(established.peerKey.hex)", "remote": "\(remoteAddress)",
                        "role": "\(handshake.role)",
                    ])
                establishedPromise.succeed(established.peerKey)
                events.yield(
                    .established(
                        context.channel, peer: established.peerKey, role: handshake.role,
                        handler: NIOLoopBound(self, eventLoop: context.eventLoop)))
            case .established:
                guard var current = session else { return }
                let opener = current.opener
                guard
                    let length = try nextFrameLength({ (length: Int) throws(FrameError) in
                        _ = try opener.ciphertextByteCount(prefix: FrameLength.encode(length))
                    })
                else { return }
                guard let ciphertext = takeFrame(length: length) else { return }
                let message = try current.opener.open(ciphertext: ciphertext)
                session = current
                statistics.receivedMessages += 1
                if !inbound.deliver(InboundMessage(peer: current.peerKey, bytes: message)) {
                    statistics.droppedInboundMessages += 1
                }
            }
        }
    }

    /// The announced length of the next frame, checked by `check` as soon as its 4-byte prefix is here.
    private func nextFrameLength<E: Error>(_ check: (Int) throws(E) -> Void) throws(E) -> Int? {
        let view = received.readableBytesView
        guard view.count >= FrameLength.byteCount else { return nil }
        let length = FrameLength.decode(view)
        try check(length)
        return length
    }

    /// The frame's ciphertext once all of it has arrived (consuming the prefix too), else nil.
    private func takeFrame(length: Int) -> [UInt8]? {
        guard received.readableBytes >= FrameLength.byteCount + length else { return nil }
        received.moveReaderIndex(forwardBy: FrameLength.byteCount)
        return received.readBytes(length: length)
    }

    // MARK: Outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let message = unwrapOutboundIn(data)
        guard phase == .established else {
            promise?.fail(phase == .closed ? OutboundRefusal.closed : OutboundRefusal.notEstablished)
            return
        }
        if queue.isEmpty && context.channel.isWritable {
            seal(context: context, message: message, promise: promise)
            return
        }
        guard queue.count < limits.outboundQueueMessageCount,
            statistics.queuedBytes + message.count <= limits.outboundQueueByteCount
        else {
            statistics.droppedOutboundMessages += 1
            promise?.fail(OutboundRefusal.queueFull)
            return
        }
        queue.append((message, promise))
        statistics.queuedMessages = queue.count
        statistics.queuedBytes += message.count
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        drain(context: context)
        context.fireChannelWritabilityChanged()
    }

    private func drain(context: ChannelHandlerContext) {
        var wrote = false
        while phase == .established, context.channel.isWritable, let next = queue.popFirst() {
            statistics.queuedMessages = queue.count
            statistics.queuedBytes -= next.message.count
            seal(context: context, message: next.message, promise: next.promise)
            wrote = true
        }
        if wrote { context.flush() }
    }

    private func seal(context: ChannelHandlerContext, message: [UInt8], promise: EventLoopPromise<Void>?) {
        guard var current = session else {
            promise?.fail(OutboundRefusal.notEstablished)
            return
        }
        do {
            let frame = try current.sealer.seal(message)
            session = current
            statistics.sentMessages += 1
            context.write(wrapOutboundOut(ByteBuffer(bytes: frame)), promise: promise)
        } catch {
            promise?.fail(error)
            close(context: context, reason: .frameRejected(error))
        }
    }

    /// The connection's counters, including what the socket itself still buffers.
    var currentStatistics: PeerStatistics {
        var snapshot = statistics
        if let context, let buffered = try? context.channel.syncOptions?.getOption(.bufferedWritableBytes) {
            snapshot.bufferedSocketBytes = buffered
        }
        return snapshot
    }
}
