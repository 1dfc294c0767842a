internal import CSodium

/// An Ed25519 public key (32 bytes): the identity of a node, plugin, issuer, regulator or organization.
public struct Ed25519PublicKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The number of bytes in a public key.
    public static let byteCount = 32

    /// The key's 32 bytes, held inline (``InlineBytes32``): mempools, caches and vote tables are keyed by keys.
    private let storage: InlineBytes32

    /// The key's 32 bytes, as a new array.
    public var bytes: [UInt8] { storage.bytes }

    /// Wraps 32 bytes; returns nil for any other length. The point itself is checked when verifying.
    public init?(bytes: [UInt8]) {
        guard let storage = InlineBytes32(bytes) else { return nil }
        self.storage = storage
    }

    /// Copies exactly 32 bytes from a buffer; returns nil for any other length.
    public init?(_ buffer: UnsafeRawBufferPointer) {
        guard let storage = InlineBytes32(buffer) else { return nil }
        self.storage = storage
    }

    /// Parses 64 hexadecimal characters.
    public init?(hex: String) {
        guard let bytes = Hex.decode(hex) else { return nil }
        self.init(bytes: bytes)
    }

    /// Calls `body` with the 32 bytes, without copying them into an array.
    public func withUnsafeBytes<Result, Failure: Error>(
        _ body: (UnsafeRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try storage.withUnsafeBytes(body)
    }

    /// Lower-case hexadecimal.
    public var hex: String { Hex.encode(bytes) }

    /// A short identifier for logs and file names: the first 8 bytes of SHA-256 of the key, in hex.
    public var keyID: String { Hex.encode(SHA256.hash(bytes).bytes.prefix(8)) }

    public var description: String { hex }

    /// Byte-wise order of the 32 bytes.
    public static func < (lhs: Ed25519PublicKey, rhs: Ed25519PublicKey) -> Bool { lhs.storage < rhs.storage }

    /// Verifies a signature over `message` exactly as given (RFC 8032 Ed25519, as libsodium implements it:
    /// non-canonical S and small-order keys are rejected). Protocol code uses
    /// ``isValidSignature(_:for:domain:)`` instead.
    public func isValidSignature(_ signature: Ed25519Signature, forRaw message: [UInt8]) -> Bool {
        Sodium.ensureInitialized()
        return signature.withUnsafeBytes { sig in
            message.withUnsafeBufferPointer { msg in
                storage.withUnsafeBytes { pk in
                    crypto_sign_verify_detached(
                        sig.baseAddress!.assumingMemoryBound(to: UInt8.self), msg.baseAddress, UInt64(msg.count),
                        pk.baseAddress!.assumingMemoryBound(to: UInt8.self)) == 0
                }
            }
        }
    }

    /// Verifies a signature made with ``Ed25519PrivateKey/signature(for:domain:)`` for the same domain.
    public func isValidSignature(
        _ signature: Ed25519Signature, for message: some Collection<UInt8>, domain: SigningDomain
    ) -> Bool {
        isValidSignature(signature, forRaw: domain.prefixed(message))
    }
}

/// An Ed25519 signature (64 bytes), held inline: every transaction carries one, and decoding it costs no
/// allocation.
public struct Ed25519Signature: Hashable, Sendable, CustomStringConvertible {
    /// The number of bytes in a signature.
    public static let byteCount = 64

    /// R and S, 32 bytes each, contiguous in memory.
    private let halves: (InlineBytes32, InlineBytes32)

    /// The signature's 64 bytes, as a new array.
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// Wraps 64 bytes; returns nil for any other length.
    public init?(bytes: [UInt8]) {
        guard let signature = bytes.withUnsafeBytes({ Self($0) }) else { return nil }
        self = signature
    }

    /// Copies exactly 64 bytes from a buffer; returns nil for any other length.
    public init?(_ buffer: UnsafeRawBufferPointer) {
        guard buffer.count == Self.byteCount,
            let first = InlineBytes32(UnsafeRawBufferPointer(rebasing: buffer[..<32])),
            let second = InlineBytes32(UnsafeRawBufferPointer(rebasing: buffer[32...]))
        else { return nil }
        self.halves = (first, second)
    }

    /// Calls `body` with the 64 bytes, without copying them into an array.
    public func withUnsafeBytes<Result, Failure: Error>(
        _ body: (UnsafeRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try Swift.withUnsafeBytes(of: halves, body)
    }

    public static func == (lhs: Ed25519Signature, rhs: Ed25519Signature) -> Bool {
        lhs.halves.0 == rhs.halves.0 && lhs.halves.1 == rhs.halves.1
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(halves.0)
        hasher.combine(halves.1)
    }

    /// Lower-case hexadecimal.
    public var hex: String { Hex.encode(bytes) }

    public var description: String { hex }
}

/// An Ed25519 private key. Its ``description`` never shows key material, so it cannot leak into logs.
public struct Ed25519PrivateKey: Sendable, CustomStringConvertible {
    /// The number of bytes in a seed.
    public static let seedByteCount = 32

    /// libsodium's 64-byte secret key: seed ‖ public key.
    let secretKey: [UInt8]

    /// The matching public key.
    public let publicKey: Ed25519PublicKey

    /// Generates a new key from the operating system's CSPRNG.
    public init() {
        self.init(uncheckedSeed: SecureRandom.bytes(Self.seedByteCount))
    }

    /// Derives the key from a 32-byte seed (the private key of RFC 8032).
    public init?(seed: [UInt8]) {
        guard seed.count == Self.seedByteCount else { return nil }
        self.init(uncheckedSeed: seed)
    }

    private init(uncheckedSeed seed: [UInt8]) {
        Sodium.ensureInitialized()
        var pk = [UInt8](repeating: 0, count: Ed25519PublicKey.byteCount)
        var sk = [UInt8](repeating: 0, count: 64)
        _ = seed.withUnsafeBufferPointer { s in
            pk.withUnsafeMutableBufferPointer { p in
                sk.withUnsafeMutableBufferPointer { k in
                    crypto_sign_seed_keypair(p.baseAddress!, k.baseAddress!, s.baseAddress!)
                }
            }
        }
        self.secretKey = sk
        self.publicKey = Ed25519PublicKey(bytes: pk)!
    }

    /// The 32-byte seed. Handle with care: whoever holds it can sign as this key.
    public var seed: [UInt8] { Array(secretKey[0..<Self.seedByteCount]) }

    /// Signs `message` exactly as given (RFC 8032). Protocol code uses ``signature(for:domain:)``.
    public func signature(forRaw message: [UInt8]) -> Ed25519Signature {
        var sig = [UInt8](repeating: 0, count: Ed25519Signature.byteCount)
        _ = sig.withUnsafeMutableBufferPointer { s in
            message.withUnsafeBufferPointer { m in
                secretKey.withUnsafeBufferPointer { k in
                    crypto_sign_detached(s.baseAddress!, nil, m.baseAddress, UInt64(m.count), k.baseAddress!)
                }
            }
        }
        return Ed25519Signature(bytes: sig)!
    }

    /// Signs `message` for one ``SigningDomain``: the signature never verifies for another domain.
    public func signature(for message: [UInt8], domain: SigningDomain) -> Ed25519Signature {
        signature(forRaw: domain.prefixed(message))
    }

    public var description: String { "Ed25519PrivateKey(public: \(publicKey.hex))" }
}
