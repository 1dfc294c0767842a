import EnsureCrypto
import PeerNetwork
import Testing

/// The handshake state machine driven in memory: two honest sides, refusals, and active attackers.
struct HandshakeTests {
    let chainID = "ensure-test"
    let alice = Ed25519PrivateKey()
    let bob = Ed25519PrivateKey()

    func side(
        _ role: HandshakeRole, _ identity: Ed25519PrivateKey, chainID: String? = nil,
        expecting: Ed25519PublicKey? = nil, authorizer: PeerAuthorizer? = nil
    ) -> Handshake {
        Handshake(
            role: role, identity: identity, chainID: chainID ?? self.chainID, expectedPeer: expecting,
            authorizer: authorizer ?? .only([alice.publicKey, bob.publicKey]), maximumMessageByteCount: 1 << 16)
    }

    @Test func honestSidesAgreeAndTheirSessionsInteroperate() throws {
        var initiator = side(.initiator, alice, expecting: bob.publicKey)
        var responder = side(.responder, bob)
        let initiatorAuth = try initiator.receiveHello(wireBytes: responder.localHelloBytes)
        let responderAuth = try responder.receiveHello(wireBytes: initiator.localHelloBytes)
        #expect(FrameLength.decode(initiatorAuth) == Handshake.authenticationCiphertextByteCount)
        var a = try initiator.receiveAuthentication(ciphertext: Array(responderAuth.dropFirst(4)))
        var b = try responder.receiveAuthentication(ciphertext: Array(initiatorAuth.dropFirst(4)))
        #expect(a.peerKey == bob.publicKey)
        #expect(b.peerKey == alice.publicKey)
        #expect(a.transcript == b.transcript)
        let toBob = try a.sealer.seal([1, 2, 3])
        #expect(try b.opener.open(ciphertext: Array(toBob.dropFirst(4))) == [1, 2, 3])
        let toAlice = try b.sealer.seal([4, 5])
        #expect(try a.opener.open(ciphertext: Array(toAlice.dropFirst(4))) == [4, 5])
        // Each direction has its own key: a side cannot open its own frames.
        let own = try a.sealer.seal([9])
        #expect(throws: FrameError.self) { try a.opener.open(ciphertext: Array(own.dropFirst(4))) }
    }

    @Test func wrongChainIsRefused() {
        var initiator = side(.initiator, alice)
        let responder = side(.responder, bob, chainID: "other-chain")
        #expect(throws: HandshakeError.chainMismatch(expected: chainID, received: "other-chain")) {
            try initiator.receiveHello(wireBytes: responder.localHelloBytes)
        }
    }

    @Test func unauthorizedKeyIsRefused() {
        var responder = side(.responder, bob, authorizer: .only([bob.publicKey]))
        let initiator = side(.initiator, alice)
        #expect(throws: HandshakeError.unauthorizedPeer(alice.publicKey)) {
            try responder.receiveHello(wireBytes: initiator.localHelloBytes)
        }
    }

    @Test func dialerReachingAnotherKeyRefuses() {
        let carol = Ed25519PrivateKey()
        var initiator = side(.initiator, alice, expecting: carol.publicKey)
        let responder = side(.responder, bob)
        #expect(throws: HandshakeError.unexpectedPeer(expected: carol.publicKey, received: bob.publicKey)) {
            try initiator.receiveHello(wireBytes: responder.localHelloBytes)
        }
    }

    @Test func reflectedHelloIsRefusedAsSelfConnection() {
        var initiator = side(.initiator, alice)
        let reflected = initiator.localHelloBytes
        #expect(throws: HandshakeError.selfConnection(alice.publicKey)) {
            try initiator.receiveHello(wireBytes: reflected)
        }
    }

    @Test func lowOrderEphemeralKeyIsRefused() {
        var initiator = side(.initiator, alice)
        let zero = X25519PublicKey(bytes: [UInt8](repeating: 0, count: 32))!
        let hello = HandshakeHello(
            chainID: chainID, ephemeralKey: zero, nodeKey: bob.publicKey, nonce: [UInt8](repeating: 1, count: 32))
        #expect(throws: HandshakeError.weakEphemeralKey(zero)) {
            try initiator.receiveHello(wireBytes: hello.wireBytes)
        }
    }

    @Test func authenticationFrameOfWrongLengthIsRefused() throws {
        var initiator = side(.initiator, alice)
        let responder = side(.responder, bob)
        _ = try initiator.receiveHello(wireBytes: responder.localHelloBytes)
        #expect(throws: HandshakeError.authenticationFrameLength(declared: 81, expected: 80)) {
            try initiator.receiveAuthentication(ciphertext: [UInt8](repeating: 0, count: 81))
        }
        #expect(throws: HandshakeError.self) { try Handshake.checkAuthenticationLength(1 << 30) }
    }

    @Test func tamperedAuthenticationFrameIsRefused() throws {
        var initiator = side(.initiator, alice)
        var responder = side(.responder, bob)
        _ = try initiator.receiveHello(wireBytes: responder.localHelloBytes)
        var frame = Array(try responder.receiveHello(wireBytes: initiator.localHelloBytes).dropFirst(4))
        frame[10] ^= 0x80
        #expect(throws: HandshakeError.authenticationFrameUndecryptable(peer: bob.publicKey)) {
            try initiator.receiveAuthentication(ciphertext: frame)
        }
    }

    /// Mallory sits between Alice and Bob and swaps both ephemeral keys for her own, so she shares session keys
    /// with each. She forwards Bob's signature to Alice re-encrypted; it does not verify, because Bob signed
    /// the transcript he saw (Mallory's hello as initiator), not the one Alice saw.
    @Test func manInTheMiddleSwappingEphemeralKeysIsRefused() throws {
        var alice = side(.initiator, self.alice, expecting: bob.publicKey)
        var bob = side(.responder, self.bob)
        let aliceHello = try HandshakeHello(wireBytes: alice.localHelloBytes)
        let bobHello = try HandshakeHello(wireBytes: bob.localHelloBytes)
        let malloryTowardAlice = X25519PrivateKey()
        let malloryTowardBob = X25519PrivateKey()
        let fakeBobHello = HandshakeHello(
            chainID: chainID, ephemeralKey: malloryTowardAlice.publicKey, nodeKey: bobHello.nodeKey,
            nonce: bobHello.nonce)
        let fakeAliceHello = HandshakeHello(
            chainID: chainID, ephemeralKey: malloryTowardBob.publicKey, nodeKey: aliceHello.nodeKey,
            nonce: aliceHello.nonce)
        _ = try alice.receiveHello(wireBytes: fakeBobHello.wireBytes)
        let bobAuth = try bob.receiveHello(wireBytes: fakeAliceHello.wireBytes)

        // Mallory opens Bob's authentication frame with the keys she shares with Bob ...
        let withBob = try malloryTowardBob.clientSessionKeys(serverPublicKey: bobHello.ephemeralKey)
        var fromBob = FrameOpener(key: withBob.receive, maximumPlaintextByteCount: 1 << 16)
        let bobSignature = try fromBob.open(ciphertext: Array(bobAuth.dropFirst(4)))
        // ... and re-seals it for Alice with the keys she shares with Alice.
        let withAlice = try malloryTowardAlice.serverSessionKeys(clientPublicKey: aliceHello.ephemeralKey)
        var toAlice = FrameSealer(key: withAlice.transmit, maximumPlaintextByteCount: 1 << 16)
        let forwarded = try toAlice.seal(bobSignature)
        #expect(throws: HandshakeError.invalidSignature(peer: self.bob.publicKey)) {
            try alice.receiveAuthentication(ciphertext: Array(forwarded.dropFirst(4)))
        }
    }

    /// An attacker who recorded Bob's hello and authentication frame replays them to Alice later. Alice's new
    /// ephemeral key gives new session keys, so the recorded frame does not even decrypt.
    @Test func replayedTranscriptIsRefused() throws {
        var firstAlice = side(.initiator, alice)
        var firstBob = side(.responder, bob)
        _ = try firstAlice.receiveHello(wireBytes: firstBob.localHelloBytes)
        let recordedHello = firstBob.localHelloBytes
        let recordedAuth = try firstBob.receiveHello(wireBytes: firstAlice.localHelloBytes)

        var laterAlice = side(.initiator, alice)
        _ = try laterAlice.receiveHello(wireBytes: recordedHello)
        #expect(throws: HandshakeError.authenticationFrameUndecryptable(peer: bob.publicKey)) {
            try laterAlice.receiveAuthentication(ciphertext: Array(recordedAuth.dropFirst(4)))
        }
    }

    /// A responder that signs a valid frame with a key other than the one it claims is refused.
    @Test func signatureByAnotherKeyIsRefused() throws {
        var alice = side(.initiator, self.alice)
        let impostor = Ed25519PrivateKey()
        let ephemeral = X25519PrivateKey()
        let claimed = HandshakeHello(
            chainID: chainID, ephemeralKey: ephemeral.publicKey, nodeKey: bob.publicKey,
            nonce: SecureRandom.bytes(32))
        _ = try alice.receiveHello(wireBytes: claimed.wireBytes)
        let transcript = HandshakeTranscript(initiatorHello: alice.localHelloBytes, responderHello: claimed.wireBytes)
        let keys = try ephemeral.serverSessionKeys(clientPublicKey: alice.localHello.ephemeralKey)
        var sealer = FrameSealer(key: keys.transmit, maximumPlaintextByteCount: 1 << 16)
        let frame = try sealer.seal(transcript.signature(role: .responder, identity: impostor).bytes)
        #expect(throws: HandshakeError.invalidSignature(peer: bob.publicKey)) {
            try alice.receiveAuthentication(ciphertext: Array(frame.dropFirst(4)))
        }
    }

    /// A responder that reflects the initiator's own role in its signature is refused.
    @Test func signatureWithTheWrongRoleIsRefused() throws {
        var alice = side(.initiator, self.alice)
        let ephemeral = X25519PrivateKey()
        let hello = HandshakeHello(
            chainID: chainID, ephemeralKey: ephemeral.publicKey, nodeKey: bob.publicKey,
            nonce: SecureRandom.bytes(32))
        _ = try alice.receiveHello(wireBytes: hello.wireBytes)
        let transcript = HandshakeTranscript(initiatorHello: alice.localHelloBytes, responderHello: hello.wireBytes)
        let keys = try ephemeral.serverSessionKeys(clientPublicKey: alice.localHello.ephemeralKey)
        var sealer = FrameSealer(key: keys.transmit, maximumPlaintextByteCount: 1 << 16)
        let frame = try sealer.seal(transcript.signature(role: .initiator, identity: bob).bytes)
        #expect(throws: HandshakeError.invalidSignature(peer: bob.publicKey)) {
            try alice.receiveAuthentication(ciphertext: Array(frame.dropFirst(4)))
        }
    }
}

struct ConfigurationTests {
    let identity = Ed25519PrivateKey()

    @Test func backoffDoublesAndIsCapped() {
        let backoff = ReconnectBackoff(initial: .milliseconds(100), maximum: .seconds(1))
        #expect(backoff.delay(afterFailures: 0) == .milliseconds(100))
        #expect(backoff.delay(afterFailures: 1) == .milliseconds(200))
        #expect(backoff.delay(afterFailures: 3) == .milliseconds(800))
        #expect(backoff.delay(afterFailures: 4) == .seconds(1))
        #expect(backoff.delay(afterFailures: 1000) == .seconds(1))
        #expect(backoff.delay(afterFailures: -5) == .milliseconds(100))
        #expect(ReconnectBackoff(initial: .seconds(2), maximum: .seconds(1)).maximum == .seconds(2))
    }

    @Test func validConfigurationIsAccepted() throws {
        let peer = PeerAddress(key: Ed25519PrivateKey().publicKey, host: "127.0.0.1", port: 1)
        let configuration = try PeerTransportConfiguration(
            identity: identity, chainID: "ensure-test", peers: [peer], authorizer: .only([peer.key]))
        #expect(configuration.peers == [peer])
    }

    @Test func badChainIDIsRefused() {
        #expect(throws: TransportConfigurationError.invalidChainID("")) {
            try PeerTransportConfiguration(identity: identity, chainID: "", authorizer: .only([]))
        }
        let long = String(repeating: "x", count: 65)
        #expect(throws: TransportConfigurationError.invalidChainID(long)) {
            try PeerTransportConfiguration(identity: identity, chainID: long, authorizer: .only([]))
        }
    }

    @Test func badPeerListsAreRefused() {
        let own = PeerAddress(key: identity.publicKey, host: "127.0.0.1", port: 1)
        #expect(throws: TransportConfigurationError.selfInPeerList(identity.publicKey)) {
            try PeerTransportConfiguration(identity: identity, chainID: "c", peers: [own], authorizer: .only([]))
        }
        let other = PeerAddress(key: Ed25519PrivateKey().publicKey, host: "127.0.0.1", port: 1)
        let again = PeerAddress(key: other.key, host: "127.0.0.2", port: 2)
        #expect(throws: TransportConfigurationError.duplicatePeer(other.key)) {
            try PeerTransportConfiguration(
                identity: identity, chainID: "c", peers: [other, again], authorizer: .only([]))
        }
    }

    @Test func badLimitsAreRefused() {
        var limits = TransportLimits()
        limits.outboundQueueByteCount = 0
        #expect(throws: TransportConfigurationError.invalidLimit(name: "outboundQueueByteCount", value: 0)) {
            try PeerTransportConfiguration(identity: identity, chainID: "c", authorizer: .only([]), limits: limits)
        }
        limits = TransportLimits()
        limits.maximumMessageByteCount = Int(UInt32.max)
        #expect(throws: TransportConfigurationError.self) {
            try PeerTransportConfiguration(identity: identity, chainID: "c", authorizer: .only([]), limits: limits)
        }
        limits = TransportLimits(writeBufferHighWaterMark: 10, writeBufferLowWaterMark: 20)
        #expect(throws: TransportConfigurationError.invalidLimit(name: "writeBufferHighWaterMark", value: 10)) {
            try PeerTransportConfiguration(identity: identity, chainID: "c", authorizer: .only([]), limits: limits)
        }
    }
}
