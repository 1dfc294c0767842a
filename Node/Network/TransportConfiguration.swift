public import EnsureCrypto

/// A peer this node dials: its node key and where it listens.
public struct PeerAddress: Hashable, Sendable, CustomStringConvertible {
    /// The key the remote must prove; a dial that reaches another key is refused.
    public let key: Ed25519PublicKey
    /// Host name or IP address.
    public let host: String
    /// TCP port.
    public let port: Int

    /// A peer at `host:port` that must present `key`.
    public init(key: Ed25519PublicKey, host: String, port: Int) {
        self.key = key
        self.host = host
        self.port = port
    }

    public var description: String { "\(key.keyID)@\(host):\(port)" }
}

/// Capped exponential backoff between dial attempts: `initial × 2^failures`, never above `maximum`.
public struct ReconnectBackoff: Sendable, Equatable {
    /// The wait after a disconnection or the first failed dial.
    public let initial: Duration
    /// The longest wait.
    public let maximum: Duration

    /// A backoff from `initial`, doubling after each consecutive failure, capped at `maximum`.
    public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(30)) {
        self.initial = initial
        self.maximum = max(initial, maximum)
    }

    /// The wait before the next dial after `failures` consecutive failed attempts (0 after a clean disconnect).
    public func delay(afterFailures failures: Int) -> Duration {
        var delay = initial
        var remaining = max(0, failures)
        while remaining > 0 && delay < maximum {
            delay *= 2
            remaining -= 1
        }
        return min(delay, maximum)
    }
}

/// The bounds that keep a slow or hostile peer from exhausting this node's memory.
public struct TransportLimits: Sendable, Equatable {
    /// The largest message (frame plaintext); a length prefix above it closes the connection.
    public var maximumMessageByteCount: Int
    /// Messages waiting per peer while its socket is not writable; beyond it new messages are dropped.
    public var outboundQueueMessageCount: Int
    /// Bytes waiting per peer while its socket is not writable; beyond it new messages are dropped.
    public var outboundQueueByteCount: Int
    /// Received messages not yet taken from ``PeerTransport/inbound``; beyond it new ones are dropped.
    public var inboundBufferMessageCount: Int
    /// Received bytes not yet taken from ``PeerTransport/inbound``; beyond it new messages are dropped.
    public var inboundBufferByteCount: Int
    /// The socket write buffer level at which a connection stops taking frames and starts queueing.
    public var writeBufferHighWaterMark: Int
    /// The level at which it takes frames again.
    public var writeBufferLowWaterMark: Int
    /// How long a handshake may take before the connection is refused.
    public var handshakeTimeout: Duration

    /// Limits suited to a consensus node: 4 MiB messages, 16 MiB queued per peer, 64 MiB of inbound buffer.
    public init(
        maximumMessageByteCount: Int = 4 << 20, outboundQueueMessageCount: Int = 1024,
        outboundQueueByteCount: Int = 16 << 20, inboundBufferMessageCount: Int = 4096,
        inboundBufferByteCount: Int = 64 << 20, writeBufferHighWaterMark: Int = 1 << 20,
        writeBufferLowWaterMark: Int = 256 << 10, handshakeTimeout: Duration = .seconds(10)
    ) {
        self.maximumMessageByteCount = maximumMessageByteCount
        self.outboundQueueMessageCount = outboundQueueMessageCount
        self.outboundQueueByteCount = outboundQueueByteCount
        self.inboundBufferMessageCount = inboundBufferMessageCount
        self.inboundBufferByteCount = inboundBufferByteCount
        self.writeBufferHighWaterMark = writeBufferHighWaterMark
        self.writeBufferLowWaterMark = writeBufferLowWaterMark
        self.handshakeTimeout = handshakeTimeout
    }
}

/// Why a transport configuration was refused.
public enum TransportConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The chain id is empty or longer than 64 bytes.
    case invalidChainID(String)
    /// A limit is zero, negative, or inconsistent with another.
    case invalidLimit(name: String, value: Int)
    /// The peer list names this node's own key.
    case selfInPeerList(Ed25519PublicKey)
    /// The peer list names one key twice.
    case duplicatePeer(Ed25519PublicKey)

    public var description: String {
        switch self {
        case .invalidChainID(let chainID):
            return "chain id '\(chainID)' must be 1-\(HandshakeHello.maximumChainIDByteCount) bytes"
        case .invalidLimit(let name, let value):
            return "transport limit \(name) = \(value) is not allowed"
        case .selfInPeerList(let key):
            return "peer list names this node's own key \(key.hex)"
        case .duplicatePeer(let key):
            return "peer list names key \(key.hex) more than once"
        }
    }
}

/// Everything a ``PeerTransport`` needs: who this node is, which chain, where to listen, whom to dial.
public struct PeerTransportConfiguration: Sendable {
    /// This node's identity key, proven in every handshake.
    public let identity: Ed25519PrivateKey
    /// The chain both sides must be on.
    public let chainID: String
    /// The address to listen on.
    public let listenHost: String
    /// The port to listen on; 0 lets the operating system choose (read it back from ``PeerTransport/start()``).
    public let listenPort: Int
    /// The peers to keep connected to.
    public let peers: [PeerAddress]
    /// Which keys may connect, in either direction.
    public let authorizer: PeerAuthorizer
    /// Memory and time bounds.
    public let limits: TransportLimits
    /// The wait between dial attempts.
    public let backoff: ReconnectBackoff

    /// A configuration, checked: a bad chain id, limit or peer list throws ``TransportConfigurationError``.
    public init(
        identity: Ed25519PrivateKey, chainID: String, listenHost: String = "127.0.0.1", listenPort: Int = 0,
        peers: [PeerAddress] = [], authorizer: PeerAuthorizer, limits: TransportLimits = TransportLimits(),
        backoff: ReconnectBackoff = ReconnectBackoff()
    ) throws(TransportConfigurationError) {
        guard !chainID.utf8.isEmpty, chainID.utf8.count <= HandshakeHello.maximumChainIDByteCount else {
            throw .invalidChainID(chainID)
        }
        let positive: [(String, Int)] = [
            ("maximumMessageByteCount", limits.maximumMessageByteCount),
            ("outboundQueueMessageCount", limits.outboundQueueMessageCount),
            ("outboundQueueByteCount", limits.outboundQueueByteCount),
            ("inboundBufferMessageCount", limits.inboundBufferMessageCount),
            ("inboundBufferByteCount", limits.inboundBufferByteCount),
            ("writeBufferLowWaterMark", limits.writeBufferLowWaterMark),
        ]
        for (name, value) in positive where value <= 0 {
            throw .invalidLimit(name: name, value: value)
        }
        // The frame length prefix is 32 bits and must hold the plaintext and the tag.
        if limits.maximumMessageByteCount > Int(UInt32.max) - ChaCha20Poly1305.tagByteCount {
            throw .invalidLimit(name: "maximumMessageByteCount", value: limits.maximumMessageByteCount)
        }
        if limits.writeBufferHighWaterMark < limits.writeBufferLowWaterMark {
            throw .invalidLimit(name: "writeBufferHighWaterMark", value: limits.writeBufferHighWaterMark)
        }
        var seen = Set<Ed25519PublicKey>()
        for peer in peers {
            if peer.key == identity.publicKey { throw .selfInPeerList(peer.key) }
            if !seen.insert(peer.key).inserted { throw .duplicatePeer(peer.key) }
        }
        self.identity = identity
        self.chainID = chainID
        self.listenHost = listenHost
        self.listenPort = listenPort
        self.peers = peers
        self.authorizer = authorizer
        self.limits = limits
        self.backoff = backoff
    }
}
