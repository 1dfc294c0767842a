public import Codec
import EnsureCrypto

/// The payload of a ``TransactionKind/statusListPublish`` transaction: a credential issuer publishes a new version
/// of one of its Token Status Lists (draft-ietf-oauth-status-list) as the signed status list token it would serve
/// over HTTP. Verifiers read it from their own node, so the issuer never learns who checks which credential.
public struct StatusListPayload: Hashable, Sendable {
    /// The only version this build writes and reads.
    public static let version: UInt8 = 1
    /// Longest URI.
    public static let maxURIBytes = 512
    /// Largest token (a compact JWS).
    public static let maxTokenBytes = 60 * 1024

    /// The status list's URI (the `uri` credentials name and the token's `sub`); it must start with the issuer's
    /// identifier.
    public var uri: String
    /// The list's version: each publication of a URI must carry a higher one.
    public var listVersion: UInt64
    /// The status list token (`typ: statuslist+jwt`) in compact serialization.
    public var token: String

    /// Creates a payload.
    public init(uri: String, listVersion: UInt64, token: String) {
        self.uri = uri
        self.listVersion = listVersion
        self.token = token
    }
}

extension StatusListPayload: CanonicalCodable {
    public static var maxEncodedSize: Int { 1 + 3 + maxURIBytes + 10 + 4 + maxTokenBytes }

    public func encode(to writer: inout CanonicalWriter) {
        writer.writeByte(Self.version)
        writer.writeString(uri)
        writer.writeVarUInt(listVersion)
        writer.writeString(token)
    }

    public init(from reader: inout CanonicalReader, field: String) throws(CanonicalDecodingError) {
        _ = try reader.readVersion(field: "\(field).version", supported: Self.version...Self.version)
        uri = try reader.readString(field: "\(field).uri", maxBytes: Self.maxURIBytes)
        listVersion = try reader.readVarUInt(field: "\(field).listVersion")
        token = try reader.readString(field: "\(field).token", maxBytes: Self.maxTokenBytes)
        let segments = token.split(separator: ".", omittingEmptySubsequences: false)
        let base64URL = token.utf8.allSatisfy {
            ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D
                || $0 == 0x5F || $0 == 0x2E
        }
        guard segments.count == 3, segments.allSatisfy({ !$0.isEmpty }), base64URL else {
            throw .invalidValue(field: "\(field).token", reason: "is not a compact JWS (three base64url segments)")
        }
    }
}

/// The latest published version of a status list, as stored.
public struct StatusListEntry: Hashable, Sendable {
    /// The issuer that published it.
    public var issuer: String
    /// The list's URI.
    public var uri: String
    /// Its version.
    public var listVersion: UInt64
    /// The status list token.
    public var token: String
    /// The height of the block that committed it.
    public var height: UInt64
    /// That block's time, milliseconds since 1970.
    public var timestamp: UInt64

    /// Creates an entry.
    public init(issuer: String, uri: String, listVersion: UInt64, token: String, height: UInt64, timestamp: UInt64) {
        self.issuer = issuer
        self.uri = uri
        self.listVersion = listVersion
        self.token = token
        self.height = height
        self.timestamp = timestamp
    }
}

extension StatusListEntry: CanonicalCodable {
    public static var maxEncodedSize: Int {
        3 + RegistryLimits.issuerIdentifierBytes + StatusListPayload.maxEncodedSize + 20
    }

    public func encode(to writer: inout CanonicalWriter) {
        writer.writeString(issuer)
        writer.writeString(uri)
        writer.writeVarUInt(listVersion)
        writer.writeString(token)
        writer.writeVarUInt(height)
        writer.writeVarUInt(timestamp)
    }

    public init(from reader: inout CanonicalReader, field: String) throws(CanonicalDecodingError) {
        issuer = try reader.readString(field: "\(field).issuer", maxBytes: RegistryLimits.issuerIdentifierBytes)
        uri = try reader.readString(field: "\(field).uri", maxBytes: StatusListPayload.maxURIBytes)
        listVersion = try reader.readVarUInt(field: "\(field).listVersion")
        token = try reader.readString(field: "\(field).token", maxBytes: StatusListPayload.maxTokenBytes)
        height = try reader.readVarUInt(field: "\(field).height")
        timestamp = try reader.readVarUInt(field: "\(field).timestamp")
    }
}

extension LedgerApplication {
    static func publish<Base>(
        _ payload: StatusListPayload, issuer identifier: String, context: Context, state: inout StateOverlay<Base>
    ) throws(TransactionFailure) {
        guard let issuer = try load(IssuerRecord.self, StateKeys.issuer(identifier), in: state), !issuer.delisted
        else {
            throw .unauthorized("issuer \(identifier) is not registered or was delisted")
        }
        guard try exists(StateKeys.organization(issuer.organization), in: state) else {
            throw .unauthorized(
                "issuer \(identifier)'s sponsoring organization \(issuer.organization) is no longer a member")
        }
        let prefix = identifier.hasSuffix("/") ? identifier : identifier + "/"
        guard payload.uri.utf8.starts(with: prefix.utf8) else {
            throw .invalidPayload("status list URI \(payload.uri) is not under the issuer's identifier \(identifier)")
        }
        let key = StateKeys.statusList(payload.uri)
        if let current = try load(StatusListEntry.self, key, in: state) {
            guard current.issuer.utf8.elementsEqual(identifier.utf8) else {
                throw .unauthorized("status list \(payload.uri) belongs to issuer \(current.issuer)")
            }
            guard payload.listVersion > current.listVersion else {
                throw .conflict(
                    "status list \(payload.uri) is at version \(current.listVersion); a new one must be higher, not "
                        + "\(payload.listVersion)")
            }
        }
        let entry = StatusListEntry(
            issuer: identifier, uri: payload.uri, listVersion: payload.listVersion, token: payload.token,
            height: context.height, timestamp: context.timestamp)
        state.set(key, entry.canonicalBytes)
    }
}
