public import EnsureCrypto
import NIOConcurrencyHelpers

/// Why a connection ended or was refused.
public enum PeerDisconnectReason: Error, Equatable, Sendable, CustomStringConvertible {
    /// The handshake was refused (by either side) or did not finish.
    case handshakeFailed(HandshakeError)
    /// A frame was refused after the handshake; the connection is no longer trustworthy.
    case frameRejected(FrameError)
    /// The remote closed the connection.
    case closedByPeer
    /// Another connection to the same peer was kept by the deterministic rule (``PeerTransport``).
    case duplicateConnection
    /// The peer's key is no longer authorized (after ``PeerTransport/disconnectUnauthorizedPeers()``).
    case deauthorized
    /// The transport is shutting down.
    case transportShutdown
    /// The socket failed (the operating system's error text).
    case networkError(String)

    public var description: String {
        switch self {
        case .handshakeFailed(let error): return "handshake failed: \(error)"
        case .frameRejected(let error): return "frame rejected: \(error)"
        case .closedByPeer: return "closed by the peer"
        case .duplicateConnection: return "duplicate connection to the same peer"
        case .deauthorized: return "peer is no longer authorized"
        case .transportShutdown: return "transport shutting down"
        case .networkError(let text): return "network error: \(text)"
        }
    }
}

/// What happened to a connection, for the node's logs, metrics and tests.
public enum PeerEvent: Sendable, Equatable {
    /// A peer completed the handshake and is now the connection used for it.
    case connected(peer: Ed25519PublicKey, role: HandshakeRole)
    /// The connection used for a peer ended.
    case disconnected(peer: Ed25519PublicKey, reason: PeerDisconnectReason)
    /// A connection ended before the handshake completed: the remote was refused, or refused us.
    case refused(remoteAddress: String, role: HandshakeRole, reason: PeerDisconnectReason)
}

/// One message received from an authenticated peer.
public struct InboundMessage: Sendable, Equatable {
    /// The peer's proven node key.
    public let peer: Ed25519PublicKey
    /// The message's bytes, exactly as the peer sent them.
    public let bytes: [UInt8]

    /// A message from `peer`.
    public init(peer: Ed25519PublicKey, bytes: [UInt8]) {
        self.peer = peer
        self.bytes = bytes
    }
}

/// Counters of one connected peer.
public struct PeerStatistics: Sendable, Equatable {
    /// Messages handed to the socket.
    public var sentMessages: Int = 0
    /// Messages received and authenticated.
    public var receivedMessages: Int = 0
    /// Messages waiting because the socket is not writable.
    public var queuedMessages: Int = 0
    /// Bytes of those messages.
    public var queuedBytes: Int = 0
    /// Messages dropped because the outbound queue was full.
    public var droppedOutboundMessages: Int = 0
    /// Messages from this peer dropped because the inbound buffer was full.
    public var droppedInboundMessages: Int = 0
    /// Bytes accepted by the socket but not yet written to the kernel (bounded by the high water mark and
    /// one frame).
    public var bufferedSocketBytes: Int = 0
}

/// The stream of received messages; its buffer is bounded in messages and bytes
/// (``TransportLimits/inboundBufferMessageCount``, ``TransportLimits/inboundBufferByteCount``). A message that
/// would exceed either bound is dropped and counted in ``PeerStatistics/droppedInboundMessages``.
public struct InboundMessages: AsyncSequence, Sendable {
    /// Each element is one message from one authenticated peer.
    public typealias Element = InboundMessage

    let stream: AsyncStream<InboundMessage>
    let buffer: InboundBuffer

    /// Iterates the messages, releasing each one's share of the buffer as it is taken.
    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncStream<InboundMessage>.AsyncIterator
        let buffer: InboundBuffer

        /// The next message, or nil once the transport has shut down and the buffer is empty.
        public mutating func next() async -> InboundMessage? {
            let message = await base.next()
            if let message { buffer.release(byteCount: message.bytes.count) }
            return message
        }
    }

    /// An iterator; the stream has one consumer.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: stream.makeAsyncIterator(), buffer: buffer)
    }
}

/// The bounded buffer behind ``InboundMessages``, shared by every connection's event loop.
final class InboundBuffer: Sendable {
    private struct Level {
        var messages = 0
        var bytes = 0
    }

    private let level = NIOLockedValueBox(Level())
    private let continuation: AsyncStream<InboundMessage>.Continuation
    private let maximumMessages: Int
    private let maximumBytes: Int

    init(continuation: AsyncStream<InboundMessage>.Continuation, maximumMessages: Int, maximumBytes: Int) {
        self.continuation = continuation
        self.maximumMessages = maximumMessages
        self.maximumBytes = maximumBytes
    }

    /// The receiver that takes messages instead of the stream, once set (``PeerTransport/deliver(to:)``).
    let receiver = NIOLockedValueBox<InboundReceiver?>(nil)

    /// Hands `message` to the receiver if one is set; otherwise buffers it if it fits, and returns false (buffering
    /// nothing) if it does not.
    func deliver(_ message: InboundMessage) -> Bool {
        if let receiver = receiver.withLockedValue({ $0 }) {
            receiver.receive(message)
            return true
        }
        let size = message.bytes.count
        let reserved = level.withLockedValue { level in
            guard level.messages < maximumMessages, level.bytes + size <= maximumBytes else { return false }
            level.messages += 1
            level.bytes += size
            return true
        }
        guard reserved else { return false }
        if case .enqueued = continuation.yield(message) { return true }
        release(byteCount: size)
        return false
    }

    func release(byteCount: Int) {
        level.withLockedValue { level in
            level.messages -= 1
            level.bytes -= byteCount
        }
    }

    /// Bytes received but not yet taken.
    var bufferedBytes: Int { level.withLockedValue { $0.bytes } }

    func finish() { continuation.finish() }
}

/// A function that takes inbound messages on the connections' event loops. A class, so that the lock box holds it
/// as it is: a function value stored through a generic `inout` is wrapped in a new thunk at every access.
final class InboundReceiver: Sendable {
    let receive: @Sendable (InboundMessage) -> Void

    init(_ receive: @escaping @Sendable (InboundMessage) -> Void) { self.receive = receive }
}
