import Codec
import EnsureCrypto
import PeerNetwork
import Testing

struct HelloTests {
    static func sampleHello(chainID: String = "ensure-test") -> HandshakeHello {
        HandshakeHello(
            chainID: chainID, ephemeralKey: X25519PrivateKey().publicKey, nodeKey: Ed25519PrivateKey().publicKey,
            nonce: SecureRandom.bytes(HandshakeHello.nonceByteCount))
    }

    @Test func encodingRoundTrips() throws {
        let hello = Self.sampleHello()
        let decoded = try HandshakeHello(wireBytes: hello.wireBytes)
        #expect(decoded == hello)
        #expect(decoded.wireBytes == hello.wireBytes)
    }

    @Test func wireLayoutIsMagicVersionLengthThenFields() {
        let ephemeral = X25519PrivateKey().publicKey
        let node = Ed25519PrivateKey().publicKey
        let nonce = [UInt8](repeating: 0xab, count: 32)
        let bytes = HandshakeHello(chainID: "abc", ephemeralKey: ephemeral, nodeKey: node, nonce: nonce).wireBytes
        #expect(bytes.count == 11 + 1 + 3 + 96)
        #expect(Array(bytes[0..<8]) == Array("ENSR-P2P".utf8))
        #expect(bytes[8] == HandshakeHello.currentVersion)
        #expect(Int(bytes[9]) << 8 | Int(bytes[10]) == 1 + 3 + 96)
        #expect(bytes[11] == 3)
        #expect(Array(bytes[12..<15]) == Array("abc".utf8))
        #expect(Array(bytes[15..<47]) == ephemeral.bytes)
        #expect(Array(bytes[47..<79]) == node.bytes)
        #expect(Array(bytes[79..<111]) == nonce)
    }

    @Test func everyTruncationIsRefused() {
        let bytes = Self.sampleHello().wireBytes
        for cut in 0..<bytes.count {
            #expect(throws: HandshakeError.self) { try HandshakeHello(wireBytes: Array(bytes.prefix(cut))) }
        }
    }

    @Test func truncatedBodyNamesTheShortfall() {
        let bytes = Self.sampleHello().wireBytes
        #expect(
            throws: HandshakeError.malformedHello(
                .truncated(field: "hello.body", needed: bytes.count - 11, remaining: bytes.count - 12))
        ) {
            try HandshakeHello(wireBytes: Array(bytes.dropLast()))
        }
    }

    @Test func trailingBytesAreRefused() {
        let bytes = Self.sampleHello().wireBytes + [0]
        #expect(throws: HandshakeError.malformedHello(.trailingBytes(field: "hello", count: 1))) {
            try HandshakeHello(wireBytes: bytes)
        }
    }

    @Test func wrongMagicIsRefusedAfterTheFirstWrongByte() {
        var bytes = Self.sampleHello().wireBytes
        bytes[3] ^= 0x20
        #expect(throws: HandshakeError.badMagic(received: Array(bytes[0..<8]))) { try HandshakeHello(wireBytes: bytes) }
        #expect(throws: HandshakeError.self) { try HandshakeHello.checkMagic(prefix: Array("ENSX".utf8)) }
        #expect(throws: Never.self) { try HandshakeHello.checkMagic(prefix: Array("ENSR".utf8)) }
    }

    @Test func garbageIsRefusedAsBadMagic() {
        let garbage = Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        #expect(throws: HandshakeError.badMagic(received: Array(garbage[0..<8]))) {
            try HandshakeHello(wireBytes: garbage)
        }
    }

    @Test func otherVersionIsRefusedByName() {
        var bytes = Self.sampleHello().wireBytes
        bytes[8] = 2
        #expect(throws: HandshakeError.unsupportedVersion(received: 2, supported: 1)) {
            try HandshakeHello(wireBytes: bytes)
        }
    }

    @Test func bodyLengthOutOfRangeIsRefusedFromTheHeaderAlone() {
        var header = HandshakeHello.magic + [HandshakeHello.currentVersion, 0xff, 0xff]
        #expect(
            throws: HandshakeError.helloLengthOutOfRange(
                declared: 0xffff, minimum: HandshakeHello.minimumBodyByteCount,
                maximum: HandshakeHello.maximumBodyByteCount)
        ) { try HandshakeHello.bodyByteCount(header: header) }
        header[10] = 0
        header[9] = 0
        #expect(throws: HandshakeError.self) { try HandshakeHello.bodyByteCount(header: header) }
    }

    @Test func chainIDLengthThatDisagreesWithBodyIsRefused() {
        var bytes = Self.sampleHello(chainID: "ab").wireBytes
        bytes[11] = 3  // claims one more chain-id byte than the body carries
        #expect(throws: HandshakeError.self) { try HandshakeHello(wireBytes: bytes) }
    }

    @Test func emptyAndNonUTF8ChainIDsAreRefused() throws {
        let valid = Self.sampleHello(chainID: "ab").wireBytes
        var invalidUTF8 = valid
        invalidUTF8[12] = 0xff
        #expect(throws: HandshakeError.malformedHello(.invalidUTF8(field: "hello.chainID"))) {
            try HandshakeHello(wireBytes: invalidUTF8)
        }
        // An empty chain id: a zero length, and one padding byte so the body keeps its minimum size.
        var empty = HandshakeHello.magic + [HandshakeHello.currentVersion, 0, 98, 0]
        empty += Array(valid[14..<110]) + [0]
        #expect(throws: HandshakeError.malformedHello(.invalidValue(field: "hello.chainID", reason: "is empty"))) {
            try HandshakeHello(wireBytes: empty)
        }
    }
}
