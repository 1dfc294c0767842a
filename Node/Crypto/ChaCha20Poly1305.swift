internal import CSodium

/// Why a ChaCha20-Poly1305 message or a sealed box could not be opened.
public enum AuthenticatedDecryptionError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The input is shorter than the authentication tag (and nonce or ephemeral key) alone.
    case ciphertextTooShort(byteCount: Int, minimum: Int)
    /// The tag does not match: wrong key, wrong nonce, wrong associated data, or tampered bytes.
    case authenticationFailed

    public var description: String {
        switch self {
        case .ciphertextTooShort(let byteCount, let minimum):
            return "ciphertext of \(byteCount) bytes is shorter than the minimum of \(minimum)"
        case .authenticationFailed:
            return "authentication failed: wrong key or nonce, or the ciphertext or associated data was altered"
        }
    }
}

/// ChaCha20-Poly1305 AEAD with 96-bit nonces (RFC 8439, libsodium's `_ietf_` variant): the frame cipher of
/// the peer transport. A nonce must never repeat under one key; the transport uses a frame counter.
public enum ChaCha20Poly1305 {
    /// The number of bytes of the authentication tag appended to every ciphertext.
    public static let tagByteCount = 16

    /// A 256-bit key. Its ``description`` never shows key material.
    public struct Key: Sendable, CustomStringConvertible {
        /// The number of bytes in a key.
        public static let byteCount = 32

        let bytes: [UInt8]

        /// A fresh random key.
        public init() {
            self.bytes = SecureRandom.bytes(Self.byteCount)
        }

        /// Wraps 32 bytes; nil for any other length.
        public init?(bytes: [UInt8]) {
            guard bytes.count == Self.byteCount else { return nil }
            self.bytes = bytes
        }

        /// The key's bytes. Handle with care.
        public var rawRepresentation: [UInt8] { bytes }

        public var description: String { "ChaCha20Poly1305.Key(redacted)" }
    }

    /// A 96-bit nonce.
    public struct Nonce: Hashable, Sendable {
        /// The number of bytes in a nonce.
        public static let byteCount = 12

        /// The nonce's bytes.
        public let bytes: [UInt8]

        /// A random nonce (safe for a modest number of messages per key; counters are preferred).
        public init() {
            self.bytes = SecureRandom.bytes(Self.byteCount)
        }

        /// Wraps 12 bytes; nil for any other length.
        public init?(bytes: [UInt8]) {
            guard bytes.count == Self.byteCount else { return nil }
            self.bytes = bytes
        }

        /// A nonce made from a message counter: 4 zero bytes then the counter, little-endian.
        public init(counter: UInt64) {
            var out = [UInt8](repeating: 0, count: Self.byteCount)
            for index in 0..<8 {
                out[4 + index] = UInt8(truncatingIfNeeded: counter >> (8 * UInt64(index)))
            }
            self.bytes = out
        }
    }

    /// Encrypts `plaintext` and authenticates it together with `associatedData`; returns ciphertext ‖ tag.
    public static func seal(
        _ plaintext: [UInt8], key: Key, nonce: Nonce, associatedData: [UInt8] = []
    ) -> [UInt8] {
        Sodium.ensureInitialized()
        var out = [UInt8](repeating: 0, count: plaintext.count + tagByteCount)
        var written: UInt64 = 0
        _ = out.withUnsafeMutableBufferPointer { c in
            plaintext.withUnsafeBufferPointer { m in
                associatedData.withUnsafeBufferPointer { ad in
                    nonce.bytes.withUnsafeBufferPointer { n in
                        key.bytes.withUnsafeBufferPointer { k in
                            crypto_aead_chacha20poly1305_ietf_encrypt(
                                c.baseAddress!, &written, m.baseAddress, UInt64(m.count), ad.baseAddress,
                                UInt64(ad.count), nil, n.baseAddress!, k.baseAddress!)
                        }
                    }
                }
            }
        }
        return out
    }

    /// Checks the tag and decrypts; throws ``AuthenticatedDecryptionError`` and returns nothing if any byte of
    /// the ciphertext, the nonce, the key or the associated data differs from what was sealed.
    public static func open(
        _ sealed: [UInt8], key: Key, nonce: Nonce, associatedData: [UInt8] = []
    ) throws(AuthenticatedDecryptionError) -> [UInt8] {
        guard sealed.count >= tagByteCount else {
            throw .ciphertextTooShort(byteCount: sealed.count, minimum: tagByteCount)
        }
        Sodium.ensureInitialized()
        // One spare byte keeps the output pointer non-null for an empty plaintext.
        var out = [UInt8](repeating: 0, count: sealed.count - tagByteCount + 1)
        var written: UInt64 = 0
        let status = out.withUnsafeMutableBufferPointer { m in
            sealed.withUnsafeBufferPointer { c in
                associatedData.withUnsafeBufferPointer { ad in
                    nonce.bytes.withUnsafeBufferPointer { n in
                        key.bytes.withUnsafeBufferPointer { k in
                            crypto_aead_chacha20poly1305_ietf_decrypt(
                                m.baseAddress, &written, nil, c.baseAddress!, UInt64(c.count), ad.baseAddress,
                                UInt64(ad.count), n.baseAddress!, k.baseAddress!)
                        }
                    }
                }
            }
        }
        guard status == 0 else { throw .authenticationFailed }
        out.removeLast()
        return out
    }
}

/// Anonymous public-key encryption (libsodium sealed boxes, `crypto_box_seal`): anyone can seal a message to
/// an ``X25519PublicKey``; only the holder of the private key can open it, and the sender stays anonymous.
public enum SealedBox {
    /// The bytes a sealed box adds to its message: an ephemeral public key and a tag.
    public static let overheadByteCount = 48

    /// Seals `message` to `recipient`.
    public static func seal(_ message: [UInt8], to recipient: X25519PublicKey) -> [UInt8] {
        Sodium.ensureInitialized()
        var out = [UInt8](repeating: 0, count: message.count + overheadByteCount)
        _ = out.withUnsafeMutableBufferPointer { c in
            message.withUnsafeBufferPointer { m in
                recipient.bytes.withUnsafeBufferPointer { pk in
                    crypto_box_seal(c.baseAddress!, m.baseAddress, UInt64(m.count), pk.baseAddress!)
                }
            }
        }
        return out
    }

    /// Opens a box sealed to `recipient`'s public key; throws if it was sealed to another key or altered.
    public static func open(
        _ box: [UInt8], recipient: X25519PrivateKey
    ) throws(AuthenticatedDecryptionError) -> [UInt8] {
        guard box.count >= overheadByteCount else {
            throw .ciphertextTooShort(byteCount: box.count, minimum: overheadByteCount)
        }
        Sodium.ensureInitialized()
        // One spare byte keeps the output pointer non-null for an empty message.
        var out = [UInt8](repeating: 0, count: box.count - overheadByteCount + 1)
        let status = out.withUnsafeMutableBufferPointer { m in
            box.withUnsafeBufferPointer { c in
                recipient.publicKey.bytes.withUnsafeBufferPointer { pk in
                    recipient.scalar.withUnsafeBufferPointer { sk in
                        crypto_box_seal_open(
                            m.baseAddress, c.baseAddress!, UInt64(c.count), pk.baseAddress!, sk.baseAddress!)
                    }
                }
            }
        }
        guard status == 0 else { throw .authenticationFailed }
        out.removeLast()
        return out
    }
}
