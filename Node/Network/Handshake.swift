public import EnsureCrypto

/// Decides whether a node key may connect. The caller supplies it because the validator and observer sets
/// change by epoch; the closure is consulted on every handshake.
public struct PeerAuthorizer: Sendable {
    private let check: @Sendable (Ed25519PublicKey) -> Bool

    /// An authorizer that asks `isAuthorized` about every peer key.
    public init(_ isAuthorized: @escaping @Sendable (Ed25519PublicKey) -> Bool) {
        self.check = isAuthorized
    }

    /// An authorizer that accepts exactly `keys`.
    public static func only(_ keys: Set<Ed25519PublicKey>) -> PeerAuthorizer {
        PeerAuthorizer { keys.contains($0) }
    }

    /// Whether `key` may connect now.
    public func isAuthorized(_ key: Ed25519PublicKey) -> Bool { check(key) }
}

/// A session both sides have authenticated: the peer's proven identity and the two frame directions.
public struct EstablishedSession: Sendable {
    /// The peer's node key, proven by its transcript signature.
    public let peerKey: Ed25519PublicKey
    /// This side's role.
    public let role: HandshakeRole
    /// The transcript both sides signed.
    public let transcript: HandshakeTranscript
    /// Seals what this side sends (its authentication frame already used counter 0).
    public var sealer: FrameSealer
    /// Opens what the peer sends (its authentication frame already used counter 0).
    public var opener: FrameOpener
}

/// One side of the handshake as a pure state machine: no sockets, no clock. The transport feeds it the
/// peer's hello and authentication frame; tests drive two of them against each other in memory.
///
/// 1. Both sides send ``localHello`` at once.
/// 2. ``receiveHello(wireBytes:)`` checks the peer's version, chain id and key, agrees session keys from the
///    two ephemeral keys (`crypto_kx`, initiator as client) and returns this side's authentication frame: its
///    transcript signature sealed as frame 0 of its direction.
/// 3. ``receiveAuthentication(ciphertext:)`` opens the peer's frame 0 and verifies its signature.
public struct Handshake: Sendable {
    /// The ciphertext length of an authentication frame: a 64-byte signature and the tag.
    public static let authenticationCiphertextByteCount = Ed25519Signature.byteCount + ChaCha20Poly1305.tagByteCount

    /// This side's role.
    public let role: HandshakeRole
    /// The hello this side sends.
    public let localHello: HandshakeHello
    /// Its exact wire bytes.
    public let localHelloBytes: [UInt8]

    private let identity: Ed25519PrivateKey
    private let ephemeralKey: X25519PrivateKey
    private let expectedPeer: Ed25519PublicKey?
    private let authorizer: PeerAuthorizer
    private let maximumMessageByteCount: Int
    private var pending: Pending?

    private struct Pending: Sendable {
        let peerKey: Ed25519PublicKey
        let transcript: HandshakeTranscript
        let sealer: FrameSealer
        var opener: FrameOpener
    }

    /// Starts a handshake. `expectedPeer` is the key an outbound dial must reach (nil for inbound); the
    /// ephemeral key and nonce default to fresh random values and are parameters only so tests can fix them.
    public init(
        role: HandshakeRole, identity: Ed25519PrivateKey, chainID: String, expectedPeer: Ed25519PublicKey?,
        authorizer: PeerAuthorizer, maximumMessageByteCount: Int,
        ephemeralKey: X25519PrivateKey = X25519PrivateKey(),
        nonce: [UInt8] = SecureRandom.bytes(HandshakeHello.nonceByteCount)
    ) {
        self.role = role
        self.identity = identity
        self.ephemeralKey = ephemeralKey
        self.expectedPeer = expectedPeer
        self.authorizer = authorizer
        self.maximumMessageByteCount = maximumMessageByteCount
        self.localHello = HandshakeHello(
            chainID: chainID, ephemeralKey: ephemeralKey.publicKey, nodeKey: identity.publicKey, nonce: nonce)
        self.localHelloBytes = localHello.wireBytes
    }

    /// The peer's claimed key once its hello was accepted (proven only after ``receiveAuthentication(ciphertext:)``).
    public var claimedPeerKey: Ed25519PublicKey? { pending?.peerKey }

    /// Checks the peer's hello and returns this side's authentication frame (length prefix and ciphertext).
    public mutating func receiveHello(wireBytes: [UInt8]) throws(HandshakeError) -> [UInt8] {
        precondition(pending == nil, "receiveHello called twice")
        let hello = try HandshakeHello(wireBytes: wireBytes)
        guard hello.chainID == localHello.chainID else {
            throw .chainMismatch(expected: localHello.chainID, received: hello.chainID)
        }
        guard hello.nodeKey != identity.publicKey else { throw .selfConnection(hello.nodeKey) }
        if let expectedPeer, expectedPeer != hello.nodeKey {
            throw .unexpectedPeer(expected: expectedPeer, received: hello.nodeKey)
        }
        guard authorizer.isAuthorized(hello.nodeKey) else { throw .unauthorizedPeer(hello.nodeKey) }

        let keys: SessionKeys
        do {
            keys =
                role == .initiator
                ? try ephemeralKey.clientSessionKeys(serverPublicKey: hello.ephemeralKey)
                : try ephemeralKey.serverSessionKeys(clientPublicKey: hello.ephemeralKey)
        } catch {
            throw .weakEphemeralKey(hello.ephemeralKey)
        }
        let transcript =
            role == .initiator
            ? HandshakeTranscript(initiatorHello: localHelloBytes, responderHello: wireBytes)
            : HandshakeTranscript(initiatorHello: wireBytes, responderHello: localHelloBytes)
        var sealer = FrameSealer(key: keys.transmit, maximumPlaintextByteCount: maximumMessageByteCount)
        let signature = transcript.signature(role: role, identity: identity)
        let frame: [UInt8]
        do {
            frame = try sealer.seal(signature.bytes)
        } catch {
            preconditionFailure("a fresh sealer always seals a 64-byte signature: \(error)")
        }
        pending = Pending(
            peerKey: hello.nodeKey, transcript: transcript, sealer: sealer,
            opener: FrameOpener(key: keys.receive, maximumPlaintextByteCount: maximumMessageByteCount))
        return frame
    }

    /// Checks an authentication frame's announced length before its body is read.
    public static func checkAuthenticationLength(_ declared: Int) throws(HandshakeError) {
        guard declared == authenticationCiphertextByteCount else {
            throw .authenticationFrameLength(declared: declared, expected: authenticationCiphertextByteCount)
        }
    }

    /// Opens the peer's authentication frame (the bytes after its length prefix) and verifies the transcript
    /// signature; on success the session is ready for messages.
    public mutating func receiveAuthentication(ciphertext: [UInt8]) throws(HandshakeError) -> EstablishedSession {
        guard var pending else { preconditionFailure("receiveAuthentication called before receiveHello") }
        try Self.checkAuthenticationLength(ciphertext.count)
        let plaintext: [UInt8]
        do {
            plaintext = try pending.opener.open(ciphertext: ciphertext)
        } catch {
            throw .authenticationFrameUndecryptable(peer: pending.peerKey)
        }
        guard let signature = Ed25519Signature(bytes: plaintext),
            pending.transcript.isValidSignature(signature, role: role.peer, key: pending.peerKey)
        else {
            throw .invalidSignature(peer: pending.peerKey)
        }
        self.pending = nil
        return EstablishedSession(
            peerKey: pending.peerKey, role: role, transcript: pending.transcript, sealer: pending.sealer,
            opener: pending.opener)
    }
}
