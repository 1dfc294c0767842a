public import Codec
public import EnsureCrypto

/// Reading and writing the Crypto module's fixed-size values in canonical form.
extension CanonicalWriter {
    /// Writes a 32-byte digest.
    public mutating func write(_ digest: Digest) { digest.withUnsafeBytes { writeFixedBytes($0) } }
    /// Writes a 32-byte public key.
    public mutating func write(_ key: Ed25519PublicKey) { key.withUnsafeBytes { writeFixedBytes($0) } }
    /// Writes a 64-byte signature.
    public mutating func write(_ signature: Ed25519Signature) { signature.withUnsafeBytes { writeFixedBytes($0) } }
}

extension CanonicalReader {
    /// Reads a 32-byte digest.
    public mutating func readDigest(field: String) throws(CanonicalDecodingError) -> Digest {
        try readFixedBytes(count: Digest.byteCount, field: field) { Digest($0)! }
    }

    /// Reads a 32-byte public key.
    public mutating func readPublicKey(field: String) throws(CanonicalDecodingError) -> Ed25519PublicKey {
        try readFixedBytes(count: Ed25519PublicKey.byteCount, field: field) { Ed25519PublicKey($0)! }
    }

    /// Reads a 64-byte signature.
    public mutating func readSignature(field: String) throws(CanonicalDecodingError) -> Ed25519Signature {
        try readFixedBytes(count: Ed25519Signature.byteCount, field: field) { Ed25519Signature($0)! }
    }

    /// Reads a chain id and checks its form (see ``ChainID``).
    public mutating func readChainID(field: String) throws(CanonicalDecodingError) -> String {
        let value = try readString(field: field, maxBytes: ChainID.maxBytes)
        guard ChainID.isValid(value) else {
            throw .invalidValue(field: field, reason: "chain id must be 1-64 characters of [a-z0-9._-]")
        }
        return value
    }
}

/// Chain identifiers: 1 to 64 characters of lower-case letters, digits, `.`, `_` and `-`.
public enum ChainID {
    /// The longest chain id, in bytes.
    public static let maxBytes = 64

    /// Whether `value` is a well-formed chain id.
    public static func isValid(_ value: String) -> Bool {
        let utf8 = value.utf8
        return !utf8.isEmpty && utf8.count <= maxBytes
            && utf8.allSatisfy { c in
                (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
                    || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
            }
    }
}

/// Size limits of the ledger's objects, enforced by every decoder before it allocates.
public enum LedgerLimits {
    /// Largest transaction payload.
    public static let transactionPayloadBytes = 64 * 1024
    /// Largest encoded transaction.
    public static let transactionBytes = transactionPayloadBytes + 256
    /// Most transactions in one block.
    public static let blockTransactions = 10_000
    /// Largest encoded block.
    public static let blockBytes = 16 * 1024 * 1024
    /// Most signers in one certificate (and validators in one set).
    public static let certificateSigners = 1024
}
