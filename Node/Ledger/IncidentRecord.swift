public import Codec
public import EnsureCrypto

/// Severity, as the OCSF `severity_id` enumeration: 0 unknown, 1 informational, 2 low, 3 medium, 4 high,
/// 5 critical, 6 fatal, 99 other.
public enum IncidentSeverity: UInt8, Hashable, Sendable, CaseIterable {
    case unknown = 0
    case informational = 1
    case low = 2
    case medium = 3
    case high = 4
    case critical = 5
    case fatal = 6
    case other = 99
}

/// Incident details encrypted to one recipient (a libsodium sealed box to its X25519 key), so the metadata
/// stays readable to every member while the details are readable only to the chosen organizations or
/// regulators.
public struct SealedDetail: Hashable, Sendable {
    /// The recipient's X25519 public key.
    public let recipient: [UInt8]
    /// The sealed box.
    public let ciphertext: [UInt8]

    /// Creates an entry; `recipient` must be 32 bytes.
    public init(recipient: [UInt8], ciphertext: [UInt8]) {
        precondition(recipient.count == 32, "an X25519 key is 32 bytes")
        self.recipient = recipient
        self.ciphertext = ciphertext
    }
}

/// A security incident as a detector reported it. Its canonical bytes are a leaf of the incident log.
public struct IncidentRecord: Hashable, Sendable {
    /// The only version this build writes and reads.
    public static let version: UInt8 = 1

    /// Limits on the record's fields.
    public enum Limits {
        /// Longest id, class, asset or detector, in bytes.
        public static let identifierBytes = 128
        /// Longest summary.
        public static let summaryBytes = 2048
        /// Most evidence URIs.
        public static let evidenceURIs = 8
        /// Longest URI.
        public static let uriBytes = 512
        /// Most sealed details.
        public static let sealedDetails = 16
        /// Largest sealed detail.
        public static let sealedDetailBytes = 16 * 1024
        /// Most links.
        public static let links = 16
    }

    /// Client-chosen id, unique per reporting organization.
    public var id: String
    /// When the detector saw it, milliseconds since 1970-01-01 UTC.
    public var detectedAt: UInt64
    /// Class and type from the ENISA Reference Security Incident Taxonomy, as `class/type`
    /// (for example `intrusion-attempts/exploit-known-vulnerability`).
    public var category: String
    /// OCSF severity.
    public var severity: IncidentSeverity
    /// The affected asset (host, service, shop, sensor).
    public var asset: String
    /// The detector or product that saw it.
    public var detector: String
    /// A human-readable summary.
    public var summary: String
    /// SHA-256 of the raw source bytes (log lines, file, capture).
    public var evidenceDigest: Digest
    /// Where the evidence can be fetched by those allowed to.
    public var evidenceURIs: [String]
    /// Details sealed to chosen recipients, ascending by recipient.
    public var sealedDetails: [SealedDetail]
    /// Ids of related incidents.
    public var links: [String]

    /// Creates a record, sorting the sealed details by recipient. The field limits, a non-empty id and distinct
    /// recipients are the decoder's rules: ``validateCanonicalForm(field:)`` reports a record that breaks one.
    public init(
        id: String, detectedAt: UInt64, category: String, severity: IncidentSeverity, asset: String, detector: String,
        summary: String, evidenceDigest: Digest, evidenceURIs: [String] = [], sealedDetails: [SealedDetail] = [],
        links: [String] = []
    ) {
        self.id = id
        self.detectedAt = detectedAt
        self.category = category
        self.severity = severity
        self.asset = asset
        self.detector = detector
        self.summary = summary
        self.evidenceDigest = evidenceDigest
        self.evidenceURIs = evidenceURIs
        self.sealedDetails = sealedDetails.sorted { $0.recipient.lexicographicallyPrecedes($1.recipient) }
        self.links = links
    }
}

extension IncidentRecord {
    /// Records are equal when their canonical encodings are. Swift's `String` equality treats canonically
    /// equivalent text (a precomposed "é" and "e" followed by a combining accent) as equal although the bytes,
    /// and so the record's leaf hash in the incident log, differ; comparing bytes keeps the two notions one.
    public static func == (lhs: IncidentRecord, rhs: IncidentRecord) -> Bool {
        lhs.canonicalBytes == rhs.canonicalBytes
    }

    /// Hashes the canonical encoding, consistent with ``==(_:_:)``.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(canonicalBytes)
    }
}

extension IncidentRecord: CanonicalCodable {
    public static var maxEncodedSize: Int { 64 * 1024 }

    public func encode(to writer: inout CanonicalWriter) {
        writer.writeByte(Self.version)
        writer.writeString(id)
        writer.writeVarUInt(detectedAt)
        writer.writeString(category)
        writer.writeByte(severity.rawValue)
        writer.writeString(asset)
        writer.writeString(detector)
        writer.writeString(summary)
        writer.write(evidenceDigest)
        writer.writeArray(evidenceURIs) { $0.writeString($1) }
        writer.writeArray(sealedDetails) { w, d in
            w.writeFixedBytes(d.recipient)
            w.writeLengthPrefixedBytes(d.ciphertext)
        }
        writer.writeArray(links) { $0.writeString($1) }
    }

    public init(from reader: inout CanonicalReader, field: String) throws(CanonicalDecodingError) {
        _ = try reader.readVersion(field: "\(field).version", supported: Self.version...Self.version)
        id = try reader.readString(field: "\(field).id", maxBytes: Limits.identifierBytes)
        guard !id.isEmpty else { throw .invalidValue(field: "\(field).id", reason: "must not be empty") }
        detectedAt = try reader.readVarUInt(field: "\(field).detectedAt")
        category = try reader.readString(field: "\(field).category", maxBytes: Limits.identifierBytes)
        let severityByte = try reader.readByte(field: "\(field).severity")
        guard let severity = IncidentSeverity(rawValue: severityByte) else {
            throw .invalidTag(field: "\(field).severity", tag: UInt64(severityByte))
        }
        self.severity = severity
        asset = try reader.readString(field: "\(field).asset", maxBytes: Limits.identifierBytes)
        detector = try reader.readString(field: "\(field).detector", maxBytes: Limits.identifierBytes)
        summary = try reader.readString(field: "\(field).summary", maxBytes: Limits.summaryBytes)
        evidenceDigest = try reader.readDigest(field: "\(field).evidenceDigest")
        evidenceURIs = try reader.readArray(field: "\(field).evidenceURIs", maxCount: Limits.evidenceURIs) {
            (r: inout CanonicalReader, i: Int) throws(CanonicalDecodingError) in
            try r.readString(field: "\(field).evidenceURIs[\(i)]", maxBytes: Limits.uriBytes)
        }
        sealedDetails = try reader.readArray(field: "\(field).sealedDetails", maxCount: Limits.sealedDetails) {
            (r: inout CanonicalReader, i: Int) throws(CanonicalDecodingError) in
            SealedDetail(
                recipient: try r.readFixedBytes(count: 32, field: "\(field).sealedDetails[\(i)].recipient"),
                ciphertext: try r.readLengthPrefixedBytes(
                    field: "\(field).sealedDetails[\(i)].ciphertext", maxLength: Limits.sealedDetailBytes))
        }
        for i in sealedDetails.indices.dropFirst()
        where !sealedDetails[i - 1].recipient.lexicographicallyPrecedes(sealedDetails[i].recipient) {
            throw .notStrictlyAscending(field: "\(field).sealedDetails", index: i)
        }
        links = try reader.readArray(field: "\(field).links", maxCount: Limits.links) {
            (r: inout CanonicalReader, i: Int) throws(CanonicalDecodingError) in
            try r.readString(field: "\(field).links[\(i)]", maxBytes: Limits.identifierBytes)
        }
    }
}
