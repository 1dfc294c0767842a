public import Codec
public import EnsureCrypto

/// The payload of a ``TransactionKind/notarize`` transaction: the SHA-256 of an external data set (a shop's
/// daily order export, a log archive) and a short label saying what it is. Anchoring it on the ledger lets anyone
/// check later that the data existed, unchanged, no later than the block that committed it.
public struct NotarizePayload: Hashable, Sendable {
    /// The only version this build writes and reads.
    public static let version: UInt8 = 1
    /// Longest label, in UTF-8 bytes.
    public static let maxLabelBytes = 256

    /// SHA-256 of the notarized bytes.
    public let digest: Digest
    /// What the digest is of; may be empty.
    public let label: String

    /// Creates a payload, or throws when `label` is longer than ``maxLabelBytes``.
    public init(digest: Digest, label: String = "") throws(CanonicalDecodingError) {
        guard label.utf8.count <= Self.maxLabelBytes else {
            throw .invalidValue(field: "notarize.label", reason: "is longer than \(Self.maxLabelBytes) bytes")
        }
        self.digest = digest
        self.label = label
    }
}

extension NotarizePayload: CanonicalCodable {
    public static var maxEncodedSize: Int { 1 + 32 + 2 + maxLabelBytes }

    public func encode(to writer: inout CanonicalWriter) {
        writer.writeByte(Self.version)
        writer.write(digest)
        writer.writeString(label)
    }

    public init(from reader: inout CanonicalReader, field: String) throws(CanonicalDecodingError) {
        // Field names are static and prefixed only on an error: every notarization decodes one of these.
        do throws(CanonicalDecodingError) {
            let version = try reader.readByte(field: "version")
            guard version == Self.version else { throw .unknownVersion(field: "version", version: version) }
            digest = try reader.readDigest(field: "digest")
            label = try reader.readString(field: "label", maxBytes: Self.maxLabelBytes)
        } catch {
            throw error.inField(field + ".")
        }
    }
}
