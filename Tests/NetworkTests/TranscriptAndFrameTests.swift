import EnsureCrypto
import PeerNetwork
import Testing

struct TranscriptTests {
    let initiatorHello = HelloTests.sampleHello().wireBytes
    let responderHello = HelloTests.sampleHello().wireBytes

    @Test func bothSidesComputeTheSameDigestAndOrderMatters() {
        let a = HandshakeTranscript(initiatorHello: initiatorHello, responderHello: responderHello)
        let b = HandshakeTranscript(initiatorHello: initiatorHello, responderHello: responderHello)
        let swapped = HandshakeTranscript(initiatorHello: responderHello, responderHello: initiatorHello)
        #expect(a == b)
        #expect(a != swapped)
    }

    @Test func digestIsTheTaggedHashOfLengthPrefixedHellos() {
        let transcript = HandshakeTranscript(initiatorHello: [1, 2, 3], responderHello: [4, 5])
        #expect(transcript.digest == SHA256.hash(tag: "ensure/network/transcript/v1", [3, 1, 2, 3, 2, 4, 5]))
    }

    @Test func movingTheBoundaryBetweenHellosChangesTheDigest() {
        let joined = initiatorHello + responderHello
        let a = HandshakeTranscript(
            initiatorHello: Array(joined.prefix(100)), responderHello: Array(joined.dropFirst(100)))
        let b = HandshakeTranscript(
            initiatorHello: Array(joined.prefix(101)), responderHello: Array(joined.dropFirst(101)))
        #expect(a != b)
    }

    @Test func anyChangedByteChangesTheDigest() {
        let base = HandshakeTranscript(initiatorHello: initiatorHello, responderHello: responderHello)
        for index in stride(from: 0, to: initiatorHello.count, by: 7) {
            var changed = initiatorHello
            changed[index] ^= 1
            #expect(HandshakeTranscript(initiatorHello: changed, responderHello: responderHello) != base)
        }
        var changed = responderHello
        changed[changed.count - 1] ^= 1
        #expect(HandshakeTranscript(initiatorHello: initiatorHello, responderHello: changed) != base)
    }

    @Test func signatureVerifiesOnlyForItsRoleKeyAndTranscript() {
        let key = Ed25519PrivateKey()
        let other = Ed25519PrivateKey()
        let transcript = HandshakeTranscript(initiatorHello: initiatorHello, responderHello: responderHello)
        let otherTranscript = HandshakeTranscript(initiatorHello: responderHello, responderHello: initiatorHello)
        let signature = transcript.signature(role: .initiator, identity: key)
        #expect(transcript.isValidSignature(signature, role: .initiator, key: key.publicKey))
        #expect(!transcript.isValidSignature(signature, role: .responder, key: key.publicKey))
        #expect(!transcript.isValidSignature(signature, role: .initiator, key: other.publicKey))
        #expect(!otherTranscript.isValidSignature(signature, role: .initiator, key: key.publicKey))
        // The same digest signed outside the handshake domain is not a handshake signature.
        let undomained = key.signature(forRaw: transcript.signedMessage(role: .initiator))
        #expect(!transcript.isValidSignature(undomained, role: .initiator, key: key.publicKey))
    }

    @Test func rolesArePeersOfEachOther() {
        #expect(HandshakeRole.initiator.peer == .responder)
        #expect(HandshakeRole.responder.peer == .initiator)
        #expect(HandshakeRole.initiator.rawValue != HandshakeRole.responder.rawValue)
    }
}

struct FrameCounterTests {
    @Test func countsFromZeroOneValuePerFrame() throws {
        var counter = FrameCounter()
        #expect(try counter.take() == 0)
        #expect(try counter.take() == 1)
        #expect(try counter.take() == 2)
        #expect(counter.next == 3)
        #expect(counter.limit == UInt64.max)
    }

    @Test func refusesToReachItsLimit() throws {
        var counter = FrameCounter(limit: 2)
        _ = try counter.take()
        _ = try counter.take()
        #expect(throws: FrameError.counterExhausted(limit: 2)) { try counter.take() }
        #expect(throws: FrameError.counterExhausted(limit: 2)) { try counter.take() }
        #expect(counter.next == 2)
    }

    @Test func counterNoncesAreDistinctAndLittleEndianAfterFourZeroBytes() {
        let nonces = (0..<1000).map { ChaCha20Poly1305.Nonce(counter: UInt64($0)) }
        #expect(Set(nonces).count == 1000)
        #expect(ChaCha20Poly1305.Nonce(counter: 0x0102).bytes == [0, 0, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0])
    }
}

struct FrameCipherTests {
    let key = ChaCha20Poly1305.Key()
    let maximum = 1024

    @Test func framesRoundTripInOrder() throws {
        var sealer = FrameSealer(key: key, maximumPlaintextByteCount: maximum)
        var opener = FrameOpener(key: key, maximumPlaintextByteCount: maximum)
        for message in [[UInt8](), [1, 2, 3], [UInt8](repeating: 7, count: maximum)] {
            let frame = try sealer.seal(message)
            #expect(FrameLength.decode(frame) == message.count + 16)
            #expect(try opener.ciphertextByteCount(prefix: frame.prefix(4)) == frame.count - 4)
            #expect(try opener.open(ciphertext: Array(frame.dropFirst(4))) == message)
        }
        #expect(sealer.nextFrameIndex == 3)
        #expect(opener.nextFrameIndex == 3)
    }

    @Test func identicalMessagesGiveDifferentCiphertexts() throws {
        var sealer = FrameSealer(key: key, maximumPlaintextByteCount: maximum)
        #expect(try sealer.seal([1, 2, 3]) != sealer.seal([1, 2, 3]))
    }

    @Test func everyTamperedByteIsRefused() throws {
        var sealer = FrameSealer(key: key, maximumPlaintextByteCount: maximum)
        let ciphertext = Array(try sealer.seal(Array("hello, peer".utf8)).dropFirst(4))
        for index in ciphertext.indices {
            var tampered = ciphertext
            tampered[index] ^= 0x01
            var opener = FrameOpener(key: key, maximumPlaintextByteCount: maximum)
            #expect(throws: FrameError.authenticationFailed(frameIndex: 0)) { try opener.open(ciphertext: tampered) }
        }
    }

    @Test func reorderedReplayedAndWrongKeyFramesAreRefused() throws {
        var sealer = FrameSealer(key: key, maximumPlaintextByteCount: maximum)
        let first = Array(try sealer.seal([1]).dropFirst(4))
        let second = Array(try sealer.seal([2]).dropFirst(4))
        var reordered = FrameOpener(key: key, maximumPlaintextByteCount: maximum)
        #expect(throws: FrameError.authenticationFailed(frameIndex: 0)) { try reordered.open(ciphertext: second) }
        var replayed = FrameOpener(key: key, maximumPlaintextByteCount: maximum)
        #expect(try replayed.open(ciphertext: first) == [1])
        #expect(throws: FrameError.authenticationFailed(frameIndex: 1)) { try replayed.open(ciphertext: first) }
        var otherKey = FrameOpener(key: ChaCha20Poly1305.Key(), maximumPlaintextByteCount: maximum)
        #expect(throws: FrameError.authenticationFailed(frameIndex: 0)) { try otherKey.open(ciphertext: first) }
    }

    @Test func lengthPrefixIsCheckedBeforeTheBody() throws {
        let opener = FrameOpener(key: key, maximumPlaintextByteCount: maximum)
        #expect(throws: FrameError.frameTooLarge(declared: Int(UInt32.max), maximum: maximum + 16)) {
            try opener.ciphertextByteCount(prefix: [0xff, 0xff, 0xff, 0xff])
        }
        #expect(throws: FrameError.frameTooLarge(declared: maximum + 17, maximum: maximum + 16)) {
            try opener.ciphertextByteCount(prefix: FrameLength.encode(maximum + 17))
        }
        #expect(throws: FrameError.frameTooShort(declared: 15, minimum: 16)) {
            try opener.ciphertextByteCount(prefix: FrameLength.encode(15))
        }
        #expect(try opener.ciphertextByteCount(prefix: FrameLength.encode(16)) == 16)
    }

    @Test func oversizeMessagesAreNotSealed() {
        var sealer = FrameSealer(key: key, maximumPlaintextByteCount: maximum)
        #expect(throws: FrameError.messageTooLarge(byteCount: maximum + 1, maximum: maximum)) {
            try sealer.seal([UInt8](repeating: 0, count: maximum + 1))
        }
        #expect(sealer.nextFrameIndex == 0)
    }

    @Test func sealerStopsAtTheCounterLimit() throws {
        var sealer = FrameSealer(key: key, maximumPlaintextByteCount: maximum, counter: FrameCounter(limit: 1))
        _ = try sealer.seal([1])
        #expect(throws: FrameError.counterExhausted(limit: 1)) { try sealer.seal([2]) }
    }

    @Test func lengthPrefixIsBigEndian() {
        #expect(FrameLength.encode(0x0102_0304) == [1, 2, 3, 4])
        #expect(FrameLength.decode([1, 2, 3, 4, 9]) == 0x0102_0304)
    }
}
