import Codec
public import EnsureCrypto

/// The first, unencrypted message each side of a connection sends (docs/network.md, "Hello").
///
/// Wire form: protocol magic (8 bytes) ‖ version (1 byte) ‖ body length (2 bytes, big-endian) ‖ body, where
/// the body is the chain id (canonical string: varint length, 1–64 bytes of UTF-8) ‖ ephemeral X25519 public
/// key (32) ‖ Ed25519 node public key (32) ‖ nonce (32). The magic and version come first so that garbage and
/// other protocol versions are refused by name before any length is trusted.
public struct HandshakeHello: Hashable, Sendable {
    /// The protocol magic, ASCII `ENSR-P2P`.
    public static let magic: [UInt8] = Array("ENSR-P2P".utf8)
    /// The protocol version this build speaks.
    public static let currentVersion: UInt8 = 1
    /// Magic, version and body length: the bytes read before the body length is known.
    public static let headerByteCount = 8 + 1 + 2
    /// The number of random bytes in ``nonce``.
    public static let nonceByteCount = 32
    /// The longest chain id, in bytes (the ledger's limit).
    public static let maximumChainIDByteCount = 64
    /// The shortest body: a one-byte chain id with its one-byte length, then the three fixed fields.
    public static let minimumBodyByteCount = 1 + 1 + 32 + 32 + nonceByteCount
    /// The longest body: a 64-byte chain id with its one-byte length, then the three fixed fields.
    public static let maximumBodyByteCount = 1 + maximumChainIDByteCount + 32 + 32 + nonceByteCount

    /// The protocol version the sender speaks.
    public let version: UInt8
    /// The chain the sender is on; both sides must agree.
    public let chainID: String
    /// A fresh X25519 public key, used for this connection only.
    public let ephemeralKey: X25519PublicKey
    /// The sender's long-term identity.
    public let nodeKey: Ed25519PublicKey
    /// Fresh random bytes, so that no two transcripts are equal even if an ephemeral key were reused.
    public let nonce: [UInt8]

    /// A hello with the given fields; the nonce must be ``nonceByteCount`` bytes and the chain id 1–64 bytes.
    public init(
        version: UInt8 = HandshakeHello.currentVersion, chainID: String, ephemeralKey: X25519PublicKey,
        nodeKey: Ed25519PublicKey, nonce: [UInt8]
    ) {
        precondition(nonce.count == Self.nonceByteCount, "hello nonce must be 32 bytes")
        precondition(
            !chainID.utf8.isEmpty && chainID.utf8.count <= Self.maximumChainIDByteCount, "chain id must be 1-64 bytes")
        self.version = version
        self.chainID = chainID
        self.ephemeralKey = ephemeralKey
        self.nodeKey = nodeKey
        self.nonce = nonce
    }

    /// The complete wire form, header included: these exact bytes enter the transcript.
    public var wireBytes: [UInt8] {
        var body = CanonicalWriter(reservingCapacity: Self.maximumBodyByteCount)
        body.writeString(chainID)
        body.writeFixedBytes(ephemeralKey.bytes)
        body.writeFixedBytes(nodeKey.bytes)
        body.writeFixedBytes(nonce)
        var out = Self.magic
        out.reserveCapacity(Self.headerByteCount + body.bytes.count)
        out.append(version)
        out.append(UInt8(truncatingIfNeeded: body.bytes.count >> 8))
        out.append(UInt8(truncatingIfNeeded: body.bytes.count))
        out.append(contentsOf: body.bytes)
        return out
    }

    /// Checks what has arrived so far against the magic, so garbage is refused after its first wrong byte.
    public static func checkMagic(prefix: some Collection<UInt8>) throws(HandshakeError) {
        if !zip(prefix, magic).allSatisfy({ $0 == $1 }) {
            throw .badMagic(received: Array(prefix.prefix(magic.count)))
        }
    }

    /// Reads the header (magic, version, body length) and returns the body length, refusing a wrong magic, an
    /// unsupported version or a length outside the bounds before any body byte is read.
    public static func bodyByteCount(header: some Collection<UInt8>) throws(HandshakeError) -> Int {
        let bytes = Array(header.prefix(headerByteCount))
        try checkMagic(prefix: bytes)
        guard bytes.count == headerByteCount else {
            throw .malformedHello(
                .truncated(field: "hello.header", needed: headerByteCount - bytes.count, remaining: bytes.count))
        }
        let version = bytes[8]
        guard version == currentVersion else {
            throw .unsupportedVersion(received: version, supported: currentVersion)
        }
        let length = Int(bytes[9]) << 8 | Int(bytes[10])
        guard (minimumBodyByteCount...maximumBodyByteCount).contains(length) else {
            throw .helloLengthOutOfRange(
                declared: length, minimum: minimumBodyByteCount, maximum: maximumBodyByteCount)
        }
        return length
    }

    /// Decodes a complete wire hello, refusing a wrong magic or version, truncation and trailing bytes.
    public init(wireBytes bytes: [UInt8]) throws(HandshakeError) {
        let bodyLength = try Self.bodyByteCount(header: bytes)
        let body = Array(bytes.dropFirst(Self.headerByteCount))
        guard body.count >= bodyLength else {
            throw .malformedHello(.truncated(field: "hello.body", needed: bodyLength, remaining: body.count))
        }
        guard body.count == bodyLength else {
            throw .malformedHello(.trailingBytes(field: "hello", count: body.count - bodyLength))
        }
        do throws(CanonicalDecodingError) {
            var reader = CanonicalReader(body)
            let chainID = try reader.readString(field: "hello.chainID", maxBytes: Self.maximumChainIDByteCount)
            guard !chainID.utf8.isEmpty else {
                throw CanonicalDecodingError.invalidValue(field: "hello.chainID", reason: "is empty")
            }
            let ephemeral = try reader.readFixedBytes(count: X25519PublicKey.byteCount, field: "hello.ephemeralKey")
            let node = try reader.readFixedBytes(count: Ed25519PublicKey.byteCount, field: "hello.nodeKey")
            let nonce = try reader.readFixedBytes(count: Self.nonceByteCount, field: "hello.nonce")
            try reader.expectEnd(field: "hello")
            guard let nodeKey = Ed25519PublicKey(bytes: node) else {
                throw CanonicalDecodingError.invalidValue(field: "hello.nodeKey", reason: "is not 32 bytes")
            }
            self.init(
                version: bytes[8], chainID: chainID, ephemeralKey: X25519PublicKey(bytes: ephemeral)!,
                nodeKey: nodeKey, nonce: nonce)
        } catch {
            throw .malformedHello(error)
        }
    }
}
