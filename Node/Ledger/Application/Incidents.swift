public import Codec
public import EnsureCrypto

/// The ENISA Reference Security Incident Taxonomy (RSIT): its classes and their types, as `class/type`
/// in lower-case with `-` (for example `intrusion-attempts/exploit`).
public enum SecurityIncidentTaxonomy {
    /// Every class and its types.
    public static let classes: [String: Set<String>] = [
        "abusive-content": ["spam", "harmful-speech", "violence"],
        "malicious-code": ["infected-system", "c2-server", "malware-distribution", "malware-configuration"],
        "information-gathering": ["scanner", "sniffing", "social-engineering"],
        "intrusion-attempts": ["ids-alert", "brute-force", "exploit"],
        "intrusions": [
            "privileged-account-compromise", "unprivileged-account-compromise", "application-compromise",
            "system-compromise", "burglary",
        ],
        "availability": ["dos", "ddos", "misconfiguration", "sabotage", "outage"],
        "information-content-security": [
            "unauthorised-information-access", "unauthorised-information-modification", "data-loss", "data-leak",
        ],
        "fraud": ["unauthorised-use-of-resources", "copyright", "masquerade", "phishing"],
        "vulnerable": [
            "weak-crypto", "ddos-amplifier", "potentially-unwanted-accessible", "information-disclosure",
            "vulnerable-system",
        ],
        "other": ["other", "undetermined"],
        "test": ["test"],
    ]

    /// Whether `category` is a `class/type` of the taxonomy.
    public static func isValid(_ category: String) -> Bool {
        let parts = category.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let types = classes[String(parts[0])] else { return false }
        return types.contains(String(parts[1]))
    }
}

/// Where an incident is in its lifecycle. Only the reporting organization moves it.
public enum IncidentStatus: UInt8, Hashable, Sendable, CaseIterable {
    /// Reported, not yet looked at.
    case open = 0
    /// The organization has seen it.
    case acknowledged = 1
    /// Work to contain it is under way.
    case mitigating = 2
    /// Closed: dealt with.
    case resolved = 3
    /// Closed: it was not an incident.
    case falsePositive = 4

    /// The name the API and the CLI use.
    public var name: String {
        switch self {
        case .open: return "open"
        case .acknowledged: return "acknowledged"
        case .mitigating: return "mitigating"
        case .resolved: return "resolved"
        case .falsePositive: return "false-positive"
        }
    }

    /// The status named `name`, if any.
    public init?(name: String) {
        guard let match = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = match
    }
}

/// The payload of a ``TransactionKind/incidentUpdate`` transaction: the reporting organization moves one of its
/// incidents to another status and may link it to related incidents.
public struct IncidentUpdatePayload: Hashable, Sendable {
    /// The only version this build writes and reads.
    public static let version: UInt8 = 1
    /// Longest note.
    public static let maxNoteBytes = 2048

    /// The incident's id (the organization is the signer's).
    public var incidentID: String
    /// The new status.
    public var status: IncidentStatus
    /// What was done, in a few words.
    public var note: String
    /// Links to add (`id` of the same organization, or `organization:id`).
    public var links: [String]

    /// Creates a payload.
    public init(incidentID: String, status: IncidentStatus, note: String = "", links: [String] = []) {
        self.incidentID = incidentID
        self.status = status
        self.note = note
        self.links = links
    }
}

extension IncidentUpdatePayload: CanonicalCodable {
    public static var maxEncodedSize: Int {
        1 + 2 + IncidentRecord.Limits.identifierBytes + 1 + 2 + maxNoteBytes + 1 + IncidentRecord.Limits.links
            * (2 + IncidentRecord.Limits.identifierBytes)
    }

    public func encode(to writer: inout CanonicalWriter) {
        writer.writeByte(Self.version)
        writer.writeString(incidentID)
        writer.writeByte(status.rawValue)
        writer.writeString(note)
        writer.writeArray(links) { $0.writeString($1) }
    }

    public init(from reader: inout CanonicalReader, field: String) throws(CanonicalDecodingError) {
        _ = try reader.readVersion(field: "\(field).version", supported: Self.version...Self.version)
        incidentID = try reader.readString(
            field: "\(field).incidentID", maxBytes: IncidentRecord.Limits.identifierBytes)
        let statusByte = try reader.readByte(field: "\(field).status")
        guard let status = IncidentStatus(rawValue: statusByte) else {
            throw .invalidTag(field: "\(field).status", tag: UInt64(statusByte))
        }
        self.status = status
        note = try reader.readString(field: "\(field).note", maxBytes: Self.maxNoteBytes)
        links = try reader.readArray(field: "\(field).links", maxCount: IncidentRecord.Limits.links) {
            (r: inout CanonicalReader, i: Int) throws(CanonicalDecodingError) in
            try r.readString(field: "\(field).links[\(i)]", maxBytes: IncidentRecord.Limits.identifierBytes)
        }
    }
}

/// A reference to an incident: the reporting organization and its id.
public struct IncidentReference: Hashable, Sendable, CustomStringConvertible {
    /// The reporting organization.
    public var organization: String
    /// Its id for the incident.
    public var id: String

    /// Creates a reference.
    public init(organization: String, id: String) {
        self.organization = organization
        self.id = id
    }

    /// Parses a link as a record writes it: `organization:id`, or a bare `id` of `defaultOrganization`.
    public init?(link: String, defaultOrganization: String) {
        if let colon = link.firstIndex(of: ":"), GenesisOrganization.isValidName(String(link[..<colon])) {
            organization = String(link[..<colon])
            id = String(link[link.index(after: colon)...])
        } else {
            organization = defaultOrganization
            id = link
        }
        if id.isEmpty { return nil }
    }

    public var description: String { "\(organization):\(id)" }

    /// References are equal when their bytes are: `String` equality would merge canonically equivalent texts
    /// (a precomposed "é" and "e" with a combining accent) that are different incident ids on the ledger.
    public static func == (lhs: IncidentReference, rhs: IncidentReference) -> Bool {
        lhs.organization.utf8.elementsEqual(rhs.organization.utf8) && lhs.id.utf8.elementsEqual(rhs.id.utf8)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(Array(organization.utf8))
        hasher.combine(Array(id.utf8))
    }

    /// Byte order (organization, then id): the order links are stored in.
    public static func precedes(_ lhs: IncidentReference, _ rhs: IncidentReference) -> Bool {
        if !lhs.organization.utf8.elementsEqual(rhs.organization.utf8) {
            return lhs.organization.utf8.lexicographicallyPrecedes(rhs.organization.utf8)
        }
        return lhs.id.utf8.lexicographicallyPrecedes(rhs.id.utf8)
    }
}

/// An incident as the state keeps it: where its record and updates are in the incident log, and its status.
public struct IncidentState: Hashable, Sendable {
    /// The reporting organization.
    public var organization: String
    /// The organization's id for it.
    public var id: String
    /// The key that reported it (an admin or plugin key).
    public var reporter: Ed25519PublicKey
    /// SHA-256 of the record's canonical bytes, to tell a resubmission from a conflicting record.
    public var recordDigest: Digest
    /// The incident-log leaf that holds the report.
    public var reportLeaf: UInt64
    /// The height and block time at which it was reported.
    public var reportedHeight: UInt64
    /// Block time of the report, milliseconds since 1970.
    public var reportedAt: UInt64
    /// The current status.
    public var status: IncidentStatus
    /// The incident-log leaves of its updates, oldest first.
    public var updateLeaves: [UInt64]
    /// Every incident it is linked to (from the record and from updates), ascending.
    public var links: [IncidentReference]

    /// Creates a state.
    public init(
        organization: String, id: String, reporter: Ed25519PublicKey, recordDigest: Digest, reportLeaf: UInt64,
        reportedHeight: UInt64, reportedAt: UInt64, status: IncidentStatus, updateLeaves: [UInt64],
        links: [IncidentReference]
    ) {
        self.organization = organization
        self.id = id
        self.reporter = reporter
        self.recordDigest = recordDigest
        self.reportLeaf = reportLeaf
        self.reportedHeight = reportedHeight
        self.reportedAt = reportedAt
        self.status = status
        self.updateLeaves = updateLeaves
        self.links = links
    }

    /// Most updates one incident keeps.
    public static let maxUpdates = 1024
    /// Most links one incident keeps.
    public static let maxLinks = 256
}

extension IncidentState: CanonicalCodable {
    public static var maxEncodedSize: Int {
        2 * (2 + IncidentRecord.Limits.identifierBytes) + 32 + 32 + 40 + 3 + maxUpdates * 10 + 3 + maxLinks
            * (4 + GenesisOrganization.maxNameBytes + IncidentRecord.Limits.identifierBytes)
    }

    public func encode(to writer: inout CanonicalWriter) {
        writer.writeString(organization)
        writer.writeString(id)
        writer.write(reporter)
        writer.write(recordDigest)
        writer.writeVarUInt(reportLeaf)
        writer.writeVarUInt(reportedHeight)
        writer.writeVarUInt(reportedAt)
        writer.writeByte(status.rawValue)
        writer.writeArray(updateLeaves) { $0.writeVarUInt($1) }
        writer.writeArray(links) { w, link in
            w.writeString(link.organization)
            w.writeString(link.id)
        }
    }

    public init(from reader: inout CanonicalReader, field: String) throws(CanonicalDecodingError) {
        organization = try reader.readOrganizationName(field: "\(field).organization")
        id = try reader.readString(field: "\(field).id", maxBytes: IncidentRecord.Limits.identifierBytes)
        reporter = try reader.readPublicKey(field: "\(field).reporter")
        recordDigest = try reader.readDigest(field: "\(field).recordDigest")
        reportLeaf = try reader.readVarUInt(field: "\(field).reportLeaf")
        reportedHeight = try reader.readVarUInt(field: "\(field).reportedHeight")
        reportedAt = try reader.readVarUInt(field: "\(field).reportedAt")
        let statusByte = try reader.readByte(field: "\(field).status")
        guard let status = IncidentStatus(rawValue: statusByte) else {
            throw .invalidTag(field: "\(field).status", tag: UInt64(statusByte))
        }
        self.status = status
        updateLeaves = try reader.readArray(field: "\(field).updateLeaves", maxCount: Self.maxUpdates) {
            (r: inout CanonicalReader, i: Int) throws(CanonicalDecodingError) in
            try r.readVarUInt(field: "\(field).updateLeaves[\(i)]")
        }
        links = try reader.readArray(field: "\(field).links", maxCount: Self.maxLinks) {
            (r: inout CanonicalReader, i: Int) throws(CanonicalDecodingError) in
            IncidentReference(
                organization: try r.readOrganizationName(field: "\(field).links[\(i)].organization"),
                id: try r.readString(field: "\(field).links[\(i)].id", maxBytes: IncidentRecord.Limits.identifierBytes))
        }
    }
}

/// One leaf of the incident log: a committed incident report or update, with the block that committed it and
/// the organization it was made for, around the signed transaction itself. An auditor holding a leaf, its
/// inclusion proof and a certified header checks the signature and the record without trusting any node.
public struct IncidentLogEntry: Hashable, Sendable {
    /// The only version this build writes and reads.
    public static let version: UInt8 = 1

    /// The height of the block that committed it.
    public var height: UInt64
    /// That block's time, milliseconds since 1970.
    public var timestamp: UInt64
    /// The organization the report or update is for.
    public var organization: String
    /// The signed transaction (an incident report or update).
    public var transaction: Transaction

    /// Creates an entry.
    public init(height: UInt64, timestamp: UInt64, organization: String, transaction: Transaction) {
        self.height = height
        self.timestamp = timestamp
        self.organization = organization
        self.transaction = transaction
    }

    /// The RFC 9162 leaf hash of the entry's canonical bytes.
    public var leafHash: Digest { MerkleHash.leaf(canonicalBytes) }
}

extension IncidentLogEntry: CanonicalCodable {
    public static var maxEncodedSize: Int { 1 + 20 + 1 + GenesisOrganization.maxNameBytes + Transaction.maxEncodedSize }

    public func encode(to writer: inout CanonicalWriter) {
        writer.writeByte(Self.version)
        writer.writeVarUInt(height)
        writer.writeVarUInt(timestamp)
        writer.writeString(organization)
        writer.write(transaction)
    }

    public init(from reader: inout CanonicalReader, field: String) throws(CanonicalDecodingError) {
        _ = try reader.readVersion(field: "\(field).version", supported: Self.version...Self.version)
        height = try reader.readVarUInt(field: "\(field).height")
        timestamp = try reader.readVarUInt(field: "\(field).timestamp")
        organization = try reader.readOrganizationName(field: "\(field).organization")
        transaction = try reader.read(Transaction.self, field: "\(field).transaction")
    }
}
