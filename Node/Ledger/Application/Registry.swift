public import Codec
public import EnsureCrypto

/// Limits on registry entries, checked by every decoder.
public enum RegistryLimits {
    /// Longest plugin or regulator name.
    public static let nameBytes = 64
    /// Longest issuer identifier (an https URL, the `iss` of its credentials).
    public static let issuerIdentifierBytes = 256
    /// Most usable signing keys an issuer has at once (neither revoked, retired nor expired); also the most an
    /// `add-issuer` proposal may name.
    public static let issuerKeys = 8
    /// Most signing-key entries an issuer record holds: usable keys plus retired and revoked ones kept until they
    /// expire, so that credentials signed before a retirement still verify and a revocation is reported as such.
    public static let issuerKeyEntries = 16
    /// Longest key id.
    public static let keyIDBytes = 64
    /// Most credential types an issuer may issue.
    public static let issuerTypes = 16
    /// Longest credential type (`vct`).
    public static let typeBytes = 256
}

extension CanonicalWriter {
    /// Writes a 32-byte X25519 key.
    public mutating func write(_ key: X25519PublicKey) { writeFixedBytes(key.bytes) }
}

extension CanonicalReader {
    /// Reads a 32-byte X25519 key.
    public mutating func readX25519Key(field: String) throws(CanonicalDecodingError) -> X25519PublicKey {
        X25519PublicKey(bytes: try readFixedBytes(count: X25519PublicKey.byteCount, field: field))!
    }

    /// Reads an organization name and checks its form.
    public mutating func readOrganizationName(field: String) throws(CanonicalDecodingError) -> String {
        let name = try readString(field: field, maxBytes: GenesisOrganization.maxNameBytes)
        guard GenesisOrganization.isValidName(name) else {
            throw .invalidValue(field: field, reason: "must be 1-64 characters of [a-z0-9-]")
        }
        return name
    }
}

/// A member organization: its admin key signs its governance votes, incident updates and notarizations.
public struct OrganizationRecord: Hashable, Sendable {
    /// The organization's name (lower-case letters, digits and `-`).
    public var name: String
    /// The key that acts for it.
    public var adminKey: Ed25519PublicKey
    /// The key incident details are sealed to for it, if it receives sealed details.
    public var incidentKey: X25519PublicKey?
    /// The height at which it joined (0 for genesis members).
    public var joinedHeight: UInt64

    /// Creates a record.
    public init(name: String, adminKey: Ed25519PublicKey, incidentKey: X25519PublicKey?, joinedHeight: UInt64) {
        self.name = name
        self.adminKey = adminKey
        self.incidentKey = incidentKey
        self.joinedHeight = joinedHeight
    }
}

extension OrganizationRecord: CanonicalCodable {
    public static var maxEncodedSize: Int { 1 + GenesisOrganization.maxNameBytes + 32 + 33 + 10 }

    public func encode(to writer: inout CanonicalWriter) {
        writer.writeString(name)
        writer.write(adminKey)
        writer.writeOptional(incidentKey) { $0.write($1) }
        writer.writeVarUInt(joinedHeight)
    }

    public init(from reader: inout CanonicalReader, field: String) throws(CanonicalDecodingError) {
        name = try reader.readOrganizationName(field: "\(field).name")
        adminKey = try reader.readPublicKey(field: "\(field).adminKey")
        incidentKey = try reader.readOptional(field: "\(field).incidentKey") {
            (r: inout CanonicalReader) throws(CanonicalDecodingError) in
            try r.readX25519Key(field: "\(field).incidentKey")
        }
        joinedHeight = try reader.readVarUInt(field: "\(field).joinedHeight")
    }
}

/// What a signing key is on the ledger; one key has at most one role.
public enum KeyRole: Hashable, Sendable {
    /// The admin key of an organization.
    case organizationAdmin(organization: String)
    /// A detection plugin of an organization.
    case plugin(organization: String)
    /// The ledger key of a credential issuer (publishes its status lists).
    case issuer(identifier: String)
    /// A regulator.
    case regulator

    /// The organization the key acts for, if any.
    public var organization: String? {
        switch self {
        case .organizationAdmin(let organization), .plugin(let organization): return organization
        case .issuer, .regulator: return nil
        }
    }
}

extension KeyRole: CanonicalCodable {
    public static var maxEncodedSize: Int { 1 + 2 + RegistryLimits.issuerIdentifierBytes }

    public func encode(to writer: inout CanonicalWriter) {
        switch self {
        case .organizationAdmin(let organization):
            writer.writeByte(0)
            writer.writeString(organization)
        case .plugin(let organization):
            writer.writeByte(1)
            writer.writeString(organization)
        case .issuer(let identifier):
            writer.writeByte(2)
            writer.writeString(identifier)
        case .regulator:
            writer.writeByte(3)
        }
    }

    public init(from reader: inout CanonicalReader, field: String) throws(CanonicalDecodingError) {
        // Field names are static and prefixed only on an error: executing a block reads a role per transaction.
        do throws(CanonicalDecodingError) {
            let tag = try reader.readByte(field: "tag")
            switch tag {
            case 0: self = .organizationAdmin(organization: try reader.readOrganizationName(field: "organization"))
            case 1: self = .plugin(organization: try reader.readOrganizationName(field: "organization"))
            case 2:
                self = .issuer(
                    identifier: try reader.readString(
                        field: "identifier", maxBytes: RegistryLimits.issuerIdentifierBytes))
            case 3: self = .regulator
            default: throw .invalidTag(field: "tag", tag: UInt64(tag))
            }
        } catch {
            throw error.inField(field + ".")
        }
    }
}

/// A validator as governance decided it: its node key and the organization that runs it.
public struct ValidatorRecord: Hashable, Sendable {
    /// The node's key.
    public var nodeKey: Ed25519PublicKey
    /// The organization that runs it.
    public var organization: String

    /// Creates a record.
    public init(nodeKey: Ed25519PublicKey, organization: String) {
        self.nodeKey = nodeKey
        self.organization = organization
    }
}

extension ValidatorRecord: CanonicalCodable {
    public static var maxEncodedSize: Int { 32 + 1 + GenesisOrganization.maxNameBytes }

    public func encode(to writer: inout CanonicalWriter) {
        writer.write(nodeKey)
        writer.writeString(organization)
    }

    public init(from reader: inout CanonicalReader, field: String) throws(CanonicalDecodingError) {
        nodeKey = try reader.readPublicKey(field: "\(field).nodeKey")
        organization = try reader.readOrganizationName(field: "\(field).organization")
    }
}

/// A detection plugin: a key that may report incidents and notarize for its organization.
public struct PluginRecord: Hashable, Sendable {
    /// The plugin's signing key.
    public var key: Ed25519PublicKey
    /// The organization it reports for.
    public var organization: String
    /// What it is (`wazuh-fim@shop-web-1`).
    public var name: String

    /// Creates a record.
    public init(key: Ed25519PublicKey, organization: String, name: String) {
        self.key = key
        self.organization = organization
        self.name = name
    }
}

extension PluginRecord: CanonicalCodable {
    public static var maxEncodedSize: Int { 32 + 2 * (1 + RegistryLimits.nameBytes) }

    public func encode(to writer: inout CanonicalWriter) {
        writer.write(key)
        writer.writeString(organization)
        writer.writeString(name)
    }

    public init(from reader: inout CanonicalReader, field: String) throws(CanonicalDecodingError) {
        key = try reader.readPublicKey(field: "\(field).key")
        organization = try reader.readOrganizationName(field: "\(field).organization")
        name = try reader.readString(field: "\(field).name", maxBytes: RegistryLimits.nameBytes)
    }
}

/// One of an issuer's credential-signing keys: a P-256 public key (its JWK `x` and `y` coordinates), when
/// credentials signed with it are acceptable, and where it is in its life: usable, retired (routine rotation) or
/// revoked (compromise). Retirement and revocation are set by the issuer's `issuer-keys` transactions.
public struct IssuerSigningKey: Hashable, Sendable {
    /// The JWK `kid` credentials name in their header.
    public var keyID: String
    /// The 32-byte big-endian x coordinate.
    public var x: [UInt8]
    /// The 32-byte big-endian y coordinate.
    public var y: [UInt8]
    /// Milliseconds since 1970: the first moment the key may be used.
    public var notBefore: UInt64
    /// Milliseconds since 1970: the moment after which it may not.
    public var notAfter: UInt64
    /// Milliseconds since 1970 from which the key is retired: a credential it signed whose `iat` is later is
    /// refused; one issued at or before it stays acceptable until its own `exp` (within the key's window). Nil
    /// while the key is not retired.
    public var retiredFrom: UInt64?
    /// Milliseconds since 1970: the time of the block that revoked the key. Everything signed with a revoked key
    /// is refused. Nil while the key is not revoked.
    public var revokedAt: UInt64?

    /// Creates a key; `x` and `y` must be 32 bytes each (the decoder and the governance rules check it).
    public init(
        keyID: String, x: [UInt8], y: [UInt8], notBefore: UInt64, notAfter: UInt64, retiredFrom: UInt64? = nil,
        revokedAt: UInt64? = nil
    ) {
        self.keyID = keyID
        self.x = x
        self.y = y
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.retiredFrom = retiredFrom
        self.revokedAt = revokedAt
    }

    /// Whether the key may still sign new credentials at `time` (milliseconds): not revoked, not retired by then,
    /// and not past its `notAfter`.
    public func isUsable(at time: UInt64) -> Bool {
        revokedAt == nil && (retiredFrom.map { $0 > time } ?? true) && notAfter > time
    }

    /// Whether the key carries a retirement or a revocation.
    public var hasLifecycleMark: Bool { retiredFrom != nil || revokedAt != nil }

    /// Writes kid, x, y, notBefore and notAfter (the form `add-issuer` and `issuer-keys` add a key in).
    func encodeBase(to writer: inout CanonicalWriter) {
        writer.writeString(keyID)
        writer.writeFixedBytes(x)
        writer.writeFixedBytes(y)
        writer.writeVarUInt(notBefore)
        writer.writeVarUInt(notAfter)
    }

    /// Reads what ``encodeBase(to:)`` writes and checks it: a non-empty kid, `notBefore` ≤ `notAfter`.
    static func decodeBase(from reader: inout CanonicalReader, field path: String) throws(CanonicalDecodingError)
        -> IssuerSigningKey
    {
        let key = IssuerSigningKey(
            keyID: try reader.readString(field: "\(path).keyID", maxBytes: RegistryLimits.keyIDBytes),
            x: try reader.readFixedBytes(count: 32, field: "\(path).x"),
            y: try reader.readFixedBytes(count: 32, field: "\(path).y"),
            notBefore: try reader.readVarUInt(field: "\(path).notBefore"),
            notAfter: try reader.readVarUInt(field: "\(path).notAfter"))
        guard !key.keyID.isEmpty else { throw .invalidValue(field: "\(path).keyID", reason: "must not be empty") }
        guard key.notBefore <= key.notAfter else {
            throw .invalidValue(field: "\(path).notAfter", reason: "is before notBefore")
        }
        return key
    }
}

/// A credential issuer approved by governance: who it is, the keys its credentials are signed with, the types it
/// may issue, and its ledger key for status-list transactions. A delisted issuer keeps its record, marked.
public struct IssuerRecord: Hashable, Sendable {
    /// The issuer identifier, the `iss` claim of its credentials.
    public var identifier: String
    /// The member organization that sponsors it.
    public var organization: String
    /// The Ed25519 key that signs its ledger transactions.
    public var ledgerKey: Ed25519PublicKey
    /// Its credential-signing keys.
    public var signingKeys: [IssuerSigningKey]
    /// The credential types (`vct`) it may issue, ascending.
    public var credentialTypes: [String]
    /// Milliseconds since 1970 from which it is approved.
    public var validFrom: UInt64
    /// Milliseconds since 1970 until which it is approved.
    public var validUntil: UInt64
    /// Whether governance removed it.
    public var delisted: Bool

    /// Creates a record.
    public init(
        identifier: String, organization: String, ledgerKey: Ed25519PublicKey, signingKeys: [IssuerSigningKey],
        credentialTypes: [String], validFrom: UInt64, validUntil: UInt64, delisted: Bool = false
    ) {
        self.identifier = identifier
        self.organization = organization
        self.ledgerKey = ledgerKey
        self.signingKeys = signingKeys
        self.credentialTypes = credentialTypes.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        self.validFrom = validFrom
        self.validUntil = validUntil
        self.delisted = delisted
    }
}

/// The canonical form of an issuer record. Its last byte was the `delisted` flag (0 or 1); bit 1 of that byte now
/// says that a key-lifecycle section follows: for each signing key in order, a flags byte (bit 0 retired, bit 1
/// revoked) and then `retiredFrom` and `revokedAt` for the bits set. A record whose keys carry no mark is written
/// without the section, exactly as before, so existing records, proposals and state roots are unchanged; a section
/// in which no key is marked is refused as non-canonical.
extension IssuerRecord: CanonicalCodable {
    public static var maxEncodedSize: Int {
        let key = 1 + RegistryLimits.keyIDBytes + 64 + 20
        return 2 + RegistryLimits.issuerIdentifierBytes + 1 + GenesisOrganization.maxNameBytes + 32
            + 1 + RegistryLimits.issuerKeyEntries * (key + 21) + 1 + RegistryLimits.issuerTypes
            * (2 + RegistryLimits.typeBytes) + 21
    }

    public func encode(to writer: inout CanonicalWriter) {
        writer.writeString(identifier)
        writer.writeString(organization)
        writer.write(ledgerKey)
        writer.writeArray(signingKeys) { w, key in key.encodeBase(to: &w) }
        writer.writeArray(credentialTypes) { $0.writeString($1) }
        writer.writeVarUInt(validFrom)
        writer.writeVarUInt(validUntil)
        let marked = signingKeys.contains { $0.hasLifecycleMark }
        writer.writeByte((delisted ? 1 : 0) | (marked ? 2 : 0))
        guard marked else { return }
        for key in signingKeys {
            writer.writeByte((key.retiredFrom == nil ? 0 : 1) | (key.revokedAt == nil ? 0 : 2))
            if let retiredFrom = key.retiredFrom { writer.writeVarUInt(retiredFrom) }
            if let revokedAt = key.revokedAt { writer.writeVarUInt(revokedAt) }
        }
    }

    public init(from reader: inout CanonicalReader, field: String) throws(CanonicalDecodingError) {
        identifier = try reader.readString(field: "\(field).identifier", maxBytes: RegistryLimits.issuerIdentifierBytes)
        guard !identifier.isEmpty else {
            throw .invalidValue(field: "\(field).identifier", reason: "must not be empty")
        }
        organization = try reader.readOrganizationName(field: "\(field).organization")
        ledgerKey = try reader.readPublicKey(field: "\(field).ledgerKey")
        signingKeys = try reader.readArray(field: "\(field).signingKeys", maxCount: RegistryLimits.issuerKeyEntries) {
            (r: inout CanonicalReader, i: Int) throws(CanonicalDecodingError) in
            try IssuerSigningKey.decodeBase(from: &r, field: "\(field).signingKeys[\(i)]")
        }
        guard !signingKeys.isEmpty else {
            throw .invalidValue(field: "\(field).signingKeys", reason: "at least one key is required")
        }
        guard Set(signingKeys.map { Array($0.keyID.utf8) }).count == signingKeys.count else {
            throw .invalidValue(field: "\(field).signingKeys", reason: "two keys share a key id")
        }
        credentialTypes = try reader.readArray(field: "\(field).credentialTypes", maxCount: RegistryLimits.issuerTypes)
        {
            (r: inout CanonicalReader, i: Int) throws(CanonicalDecodingError) in
            try r.readString(field: "\(field).credentialTypes[\(i)]", maxBytes: RegistryLimits.typeBytes)
        }
        for i in credentialTypes.indices.dropFirst()
        where !credentialTypes[i - 1].utf8.lexicographicallyPrecedes(credentialTypes[i].utf8) {
            throw .notStrictlyAscending(field: "\(field).credentialTypes", index: i)
        }
        validFrom = try reader.readVarUInt(field: "\(field).validFrom")
        validUntil = try reader.readVarUInt(field: "\(field).validUntil")
        guard validFrom <= validUntil else {
            throw .invalidValue(field: "\(field).validUntil", reason: "is before validFrom")
        }
        let flags = try reader.readByte(field: "\(field).delisted")
        guard flags & ~3 == 0 else { throw .invalidTag(field: "\(field).delisted", tag: UInt64(flags)) }
        delisted = flags & 1 != 0
        guard flags & 2 != 0 else { return }
        for i in signingKeys.indices {
            let path = "\(field).signingKeys[\(i)]"
            let marks = try reader.readByte(field: "\(path).lifecycle")
            guard marks & ~3 == 0 else { throw .invalidTag(field: "\(path).lifecycle", tag: UInt64(marks)) }
            if marks & 1 != 0 { signingKeys[i].retiredFrom = try reader.readVarUInt(field: "\(path).retiredFrom") }
            if marks & 2 != 0 { signingKeys[i].revokedAt = try reader.readVarUInt(field: "\(path).revokedAt") }
        }
        guard signingKeys.contains(where: { $0.hasLifecycleMark }) else {
            throw .invalidValue(
                field: "\(field).signingKeys", reason: "a lifecycle section must mark at least one key (non-canonical)")
        }
    }
}

/// A regulator: may read every incident's metadata and receive sealed details, but does not vote.
public struct RegulatorRecord: Hashable, Sendable {
    /// The regulator's signing key.
    public var key: Ed25519PublicKey
    /// Its name.
    public var name: String
    /// The key incident details are sealed to for it, if any.
    public var incidentKey: X25519PublicKey?

    /// Creates a record.
    public init(key: Ed25519PublicKey, name: String, incidentKey: X25519PublicKey?) {
        self.key = key
        self.name = name
        self.incidentKey = incidentKey
    }
}

extension RegulatorRecord: CanonicalCodable {
    public static var maxEncodedSize: Int { 32 + 1 + RegistryLimits.nameBytes + 33 }

    public func encode(to writer: inout CanonicalWriter) {
        writer.write(key)
        writer.writeString(name)
        writer.writeOptional(incidentKey) { $0.write($1) }
    }

    public init(from reader: inout CanonicalReader, field: String) throws(CanonicalDecodingError) {
        key = try reader.readPublicKey(field: "\(field).key")
        name = try reader.readString(field: "\(field).name", maxBytes: RegistryLimits.nameBytes)
        guard !name.isEmpty else { throw .invalidValue(field: "\(field).name", reason: "must not be empty") }
        incidentKey = try reader.readOptional(field: "\(field).incidentKey") {
            (r: inout CanonicalReader) throws(CanonicalDecodingError) in
            try r.readX25519Key(field: "\(field).incidentKey")
        }
    }
}

extension GenesisParameters: CanonicalCodable {
    public static var maxEncodedSize: Int { 8 * 10 }

    public func encode(to writer: inout CanonicalWriter) {
        for field in fields { writer.writeVarUInt(field.value) }
    }

    public init(from reader: inout CanonicalReader, field: String) throws(CanonicalDecodingError) {
        var values: [UInt64] = []
        for parameter in GenesisParameters().fields {
            values.append(try reader.readVarUInt(field: "\(field).\(parameter.name)"))
        }
        self.init(values: values)
    }
}
