internal import CSodium

/// Why an X25519 key agreement or an Ed25519→X25519 conversion was refused.
public enum KeyAgreementError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The peer's public key is a low-order point: the shared secret would be all zeros and known to anyone.
    case lowOrderPublicKey(X25519PublicKey)
    /// The Ed25519 public key is not a valid curve point, so it has no X25519 counterpart.
    case invalidEd25519PublicKey(Ed25519PublicKey)

    public var description: String {
        switch self {
        case .lowOrderPublicKey(let key):
            return "X25519 public key \(key.hex) is a low-order point; refusing the key agreement"
        case .invalidEd25519PublicKey(let key):
            return "Ed25519 public key \(key.hex) is not a valid curve point and has no X25519 form"
        }
    }
}

/// An X25519 public key (32 bytes, RFC 7748): the peer's half of a Diffie–Hellman exchange.
public struct X25519PublicKey: Hashable, Sendable, CustomStringConvertible {
    /// The number of bytes in a public key.
    public static let byteCount = 32

    /// The key's 32 bytes (the u-coordinate, little-endian).
    public let bytes: [UInt8]

    /// Wraps 32 bytes; returns nil for any other length. Low-order points are refused at key agreement.
    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.byteCount else { return nil }
        self.bytes = bytes
    }

    /// Lower-case hexadecimal.
    public var hex: String { Hex.encode(bytes) }

    public var description: String { hex }
}

/// The two directional keys of a session made with ``X25519PrivateKey/clientSessionKeys(serverPublicKey:)``
/// and ``X25519PrivateKey/serverSessionKeys(clientPublicKey:)`` (libsodium `crypto_kx`): what one side
/// transmits with, the other receives with.
public struct SessionKeys: Sendable {
    /// The key for frames this side receives.
    public let receive: ChaCha20Poly1305.Key
    /// The key for frames this side sends.
    public let transmit: ChaCha20Poly1305.Key
}

/// An X25519 private key (a 32-byte scalar). Its ``description`` never shows key material.
public struct X25519PrivateKey: Sendable, CustomStringConvertible {
    /// The number of bytes in a private key.
    public static let byteCount = 32

    /// The scalar.
    let scalar: [UInt8]

    /// The matching public key.
    public let publicKey: X25519PublicKey

    /// Generates a new key from the operating system's CSPRNG.
    public init() {
        self.init(uncheckedScalar: SecureRandom.bytes(Self.byteCount))
    }

    /// Wraps a 32-byte scalar (for example one restored from storage); nil for any other length.
    public init?(rawRepresentation: [UInt8]) {
        guard rawRepresentation.count == Self.byteCount else { return nil }
        self.init(uncheckedScalar: rawRepresentation)
    }

    init(uncheckedScalar scalar: [UInt8]) {
        Sodium.ensureInitialized()
        var pk = [UInt8](repeating: 0, count: X25519PublicKey.byteCount)
        _ = pk.withUnsafeMutableBufferPointer { p in
            scalar.withUnsafeBufferPointer { s in crypto_scalarmult_base(p.baseAddress!, s.baseAddress!) }
        }
        self.scalar = scalar
        self.publicKey = X25519PublicKey(bytes: pk)!
    }

    /// The 32-byte scalar. Handle with care: whoever holds it can decrypt what is sent to this key.
    public var rawRepresentation: [UInt8] { scalar }

    /// The raw X25519 shared secret with `peer` (`crypto_scalarmult`). Never use it directly as a key: hash it
    /// together with both public keys, as ``clientSessionKeys(serverPublicKey:)`` does.
    public func sharedSecret(with peer: X25519PublicKey) throws(KeyAgreementError) -> [UInt8] {
        var shared = [UInt8](repeating: 0, count: 32)
        let status = shared.withUnsafeMutableBufferPointer { out in
            scalar.withUnsafeBufferPointer { s in
                peer.bytes.withUnsafeBufferPointer { p in
                    crypto_scalarmult(out.baseAddress!, s.baseAddress!, p.baseAddress!)
                }
            }
        }
        guard status == 0 else { throw .lowOrderPublicKey(peer) }
        return shared
    }

    /// Session keys for the side that opened the connection (`crypto_kx_client_session_keys`).
    public func clientSessionKeys(serverPublicKey: X25519PublicKey) throws(KeyAgreementError) -> SessionKeys {
        try sessionKeys(peer: serverPublicKey, client: true)
    }

    /// Session keys for the side that accepted the connection (`crypto_kx_server_session_keys`).
    public func serverSessionKeys(clientPublicKey: X25519PublicKey) throws(KeyAgreementError) -> SessionKeys {
        try sessionKeys(peer: clientPublicKey, client: false)
    }

    private func sessionKeys(peer: X25519PublicKey, client: Bool) throws(KeyAgreementError) -> SessionKeys {
        var rx = [UInt8](repeating: 0, count: ChaCha20Poly1305.Key.byteCount)
        var tx = [UInt8](repeating: 0, count: ChaCha20Poly1305.Key.byteCount)
        let status = rx.withUnsafeMutableBufferPointer { r in
            tx.withUnsafeMutableBufferPointer { t in
                publicKey.bytes.withUnsafeBufferPointer { pk in
                    scalar.withUnsafeBufferPointer { sk in
                        peer.bytes.withUnsafeBufferPointer { other in
                            client
                                ? crypto_kx_client_session_keys(
                                    r.baseAddress!, t.baseAddress!, pk.baseAddress!, sk.baseAddress!,
                                    other.baseAddress!)
                                : crypto_kx_server_session_keys(
                                    r.baseAddress!, t.baseAddress!, pk.baseAddress!, sk.baseAddress!,
                                    other.baseAddress!)
                        }
                    }
                }
            }
        }
        guard status == 0 else { throw .lowOrderPublicKey(peer) }
        return SessionKeys(receive: ChaCha20Poly1305.Key(bytes: rx)!, transmit: ChaCha20Poly1305.Key(bytes: tx)!)
    }

    public var description: String { "X25519PrivateKey(public: \(publicKey.hex))" }
}

extension Ed25519PublicKey {
    /// The X25519 form of this key (`crypto_sign_ed25519_pk_to_curve25519`), so a node's identity key can also
    /// receive sealed boxes; throws if the bytes are not a valid point.
    public func x25519PublicKey() throws(KeyAgreementError) -> X25519PublicKey {
        Sodium.ensureInitialized()
        var out = [UInt8](repeating: 0, count: X25519PublicKey.byteCount)
        let status = out.withUnsafeMutableBufferPointer { o in
            bytes.withUnsafeBufferPointer { pk in crypto_sign_ed25519_pk_to_curve25519(o.baseAddress!, pk.baseAddress!)
            }
        }
        guard status == 0 else { throw .invalidEd25519PublicKey(self) }
        return X25519PublicKey(bytes: out)!
    }
}

extension Ed25519PrivateKey {
    /// The X25519 form of this key (`crypto_sign_ed25519_sk_to_curve25519`); its public key equals
    /// ``Ed25519PublicKey/x25519PublicKey()`` of this key's public key.
    public func x25519PrivateKey() -> X25519PrivateKey {
        var out = [UInt8](repeating: 0, count: X25519PrivateKey.byteCount)
        _ = out.withUnsafeMutableBufferPointer { o in
            secretKey.withUnsafeBufferPointer { sk in
                crypto_sign_ed25519_sk_to_curve25519(o.baseAddress!, sk.baseAddress!)
            }
        }
        return X25519PrivateKey(uncheckedScalar: out)
    }
}
