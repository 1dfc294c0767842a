public import Codec
public import EnsureCrypto

/// A change to the consortium that member organizations decide by vote.
public enum GovernanceAction: Hashable, Sendable {
    /// Admit an organization.
    case addOrganization(name: String, adminKey: Ed25519PublicKey, incidentKey: X25519PublicKey?)
    /// Remove an organization (it must run no validator, and one member must remain).
    case removeOrganization(name: String)
    /// Add a validator run by an organization; it joins consensus at the next epoch.
    case addValidator(ValidatorRecord)
    /// Remove a validator at the next epoch.
    case removeValidator(nodeKey: Ed25519PublicKey)
    /// Register a detection plugin of an organization.
    case addPlugin(PluginRecord)
    /// Remove a plugin.
    case removePlugin(key: Ed25519PublicKey)
    /// Approve a credential issuer.
    case addIssuer(IssuerRecord)
    /// Delist an issuer: its credentials stop verifying.
    case delistIssuer(identifier: String)
    /// Register a regulator.
    case addRegulator(RegulatorRecord)
    /// Remove a regulator.
    case removeRegulator(key: Ed25519PublicKey)
    /// Replace the chain parameters.
    case setParameters(GenesisParameters)

    /// A short name for logs and the API (`add-organization`).
    public var name: String {
        switch self {
        case .addOrganization: return "add-organization"
        case .removeOrganization: return "remove-organization"
        case .addValidator: return "add-validator"
        case .removeValidator: return "remove-validator"
        case .addPlugin: return "add-plugin"
        case .removePlugin: return "remove-plugin"
        case .addIssuer: return "add-issuer"
        case .delistIssuer: return "delist-issuer"
        case .addRegulator: return "add-regulator"
        case .removeRegulator: return "remove-regulator"
        case .setParameters: return "set-parameters"
        }
    }
}

extension GovernanceAction: CanonicalCodable {
    public static var maxEncodedSize: Int { 1 + IssuerRecord.maxEncodedSize }

    public func encode(to writer: inout CanonicalWriter) {
        switch self {
        case .addOrganization(let name, let adminKey, let incidentKey):
            writer.writeByte(0)
            writer.writeString(name)
            writer.write(adminKey)
            writer.writeOptional(incidentKey) { $0.write($1) }
        case .removeOrganization(let name):
            writer.writeByte(1)
            writer.writeString(name)
        case .addValidator(let record):
            writer.writeByte(2)
            writer.write(record)
        case .removeValidator(let key):
            writer.writeByte(3)
            writer.write(key)
        case .addPlugin(let record):
            writer.writeByte(4)
            writer.write(record)
        case .removePlugin(let key):
            writer.writeByte(5)
            writer.write(key)
        case .addIssuer(let record):
            writer.writeByte(6)
            writer.write(record)
        case .delistIssuer(let identifier):
            writer.writeByte(7)
            writer.writeString(identifier)
        case .addRegulator(let record):
            writer.writeByte(8)
            writer.write(record)
        case .removeRegulator(let key):
            writer.writeByte(9)
            writer.write(key)
        case .setParameters(let parameters):
            writer.writeByte(10)
            writer.write(parameters)
        }
    }

    public init(from reader: inout CanonicalReader, field: String) throws(CanonicalDecodingError) {
        let tag = try reader.readByte(field: "\(field).tag")
        switch tag {
        case 0:
            let name = try reader.readOrganizationName(field: "\(field).name")
            let adminKey = try reader.readPublicKey(field: "\(field).adminKey")
            let incidentKey = try reader.readOptional(field: "\(field).incidentKey") {
                (r: inout CanonicalReader) throws(CanonicalDecodingError) in
                try r.readX25519Key(field: "\(field).incidentKey")
            }
            self = .addOrganization(name: name, adminKey: adminKey, incidentKey: incidentKey)
        case 1: self = .removeOrganization(name: try reader.readOrganizationName(field: "\(field).name"))
        case 2: self = .addValidator(try reader.read(ValidatorRecord.self, field: "\(field).validator"))
        case 3: self = .removeValidator(nodeKey: try reader.readPublicKey(field: "\(field).nodeKey"))
        case 4: self = .addPlugin(try reader.read(PluginRecord.self, field: "\(field).plugin"))
        case 5: self = .removePlugin(key: try reader.readPublicKey(field: "\(field).key"))
        case 6:
            let record = try reader.read(IssuerRecord.self, field: "\(field).issuer")
            guard !record.delisted else {
                throw .invalidValue(field: "\(field).issuer.delisted", reason: "a new issuer cannot be delisted")
            }
            guard record.signingKeys.count <= RegistryLimits.issuerKeys else {
                throw .invalidValue(
                    field: "\(field).issuer.signingKeys", reason: "more than \(RegistryLimits.issuerKeys) keys")
            }
            guard !record.signingKeys.contains(where: { $0.hasLifecycleMark }) else {
                throw .invalidValue(
                    field: "\(field).issuer.signingKeys", reason: "a new issuer's keys cannot be retired or revoked")
            }
            self = .addIssuer(record)
        case 7:
            self = .delistIssuer(
                identifier: try reader.readString(
                    field: "\(field).identifier", maxBytes: RegistryLimits.issuerIdentifierBytes))
        case 8: self = .addRegulator(try reader.read(RegulatorRecord.self, field: "\(field).regulator"))
        case 9: self = .removeRegulator(key: try reader.readPublicKey(field: "\(field).key"))
        case 10: self = .setParameters(try reader.read(GenesisParameters.self, field: "\(field).parameters"))
        default: throw .invalidTag(field: "\(field).tag", tag: UInt64(tag))
        }
    }
}

/// The payload of a ``TransactionKind/governancePropose`` transaction. The proposal's id is the transaction's id;
/// proposing counts as the proposing organization's vote for it.
public struct ProposePayload: Hashable, Sendable {
    /// The only version this build writes and reads.
    public static let version: UInt8 = 1
    /// Longest rationale.
    public static let maxRationaleBytes = 1024

    /// What the proposal would do.
    public var action: GovernanceAction
    /// Why, for the members who vote.
    public var rationale: String

    /// Creates a payload.
    public init(action: GovernanceAction, rationale: String = "") {
        self.action = action
        self.rationale = rationale
    }
}

extension ProposePayload: CanonicalCodable {
    public static var maxEncodedSize: Int { 1 + GovernanceAction.maxEncodedSize + 2 + maxRationaleBytes }

    public func encode(to writer: inout CanonicalWriter) {
        writer.writeByte(Self.version)
        writer.write(action)
        writer.writeString(rationale)
    }

    public init(from reader: inout CanonicalReader, field: String) throws(CanonicalDecodingError) {
        _ = try reader.readVersion(field: "\(field).version", supported: Self.version...Self.version)
        action = try reader.read(GovernanceAction.self, field: "\(field).action")
        rationale = try reader.readString(field: "\(field).rationale", maxBytes: Self.maxRationaleBytes)
    }
}

/// The payload of a ``TransactionKind/governanceVote`` transaction.
public struct VotePayload: Hashable, Sendable {
    /// The only version this build writes and reads.
    public static let version: UInt8 = 1

    /// The proposal (its transaction id).
    public var proposal: Digest
    /// For (true) or against (false).
    public var approve: Bool

    /// Creates a payload.
    public init(proposal: Digest, approve: Bool) {
        self.proposal = proposal
        self.approve = approve
    }
}

extension VotePayload: CanonicalCodable {
    public static var maxEncodedSize: Int { 1 + 32 + 1 }

    public func encode(to writer: inout CanonicalWriter) {
        writer.writeByte(Self.version)
        writer.write(proposal)
        writer.writeBool(approve)
    }

    public init(from reader: inout CanonicalReader, field: String) throws(CanonicalDecodingError) {
        _ = try reader.readVersion(field: "\(field).version", supported: Self.version...Self.version)
        proposal = try reader.readDigest(field: "\(field).proposal")
        approve = try reader.readBool(field: "\(field).approve")
    }
}

/// Where a proposal stands.
public enum ProposalStatus: Hashable, Sendable {
    /// Votes are still being counted (unless its expiry height has passed: see ``ProposalRecord/status(at:)``).
    case open
    /// More than two thirds of the members approved, and the action was applied.
    case passed
    /// Enough members voted against that it can no longer pass.
    case rejected
    /// It passed, but its action no longer applied (for example, the organization had been added meanwhile).
    case failed(reason: String)
    /// Its expiry height passed while it was open.
    case expired

    /// The name the API shows.
    public var name: String {
        switch self {
        case .open: return "open"
        case .passed: return "passed"
        case .rejected: return "rejected"
        case .failed: return "failed"
        case .expired: return "expired"
        }
    }
}

/// A governance proposal as stored: the action, who proposed it, the votes, and the outcome.
public struct ProposalRecord: Hashable, Sendable {
    /// The proposal id (its transaction's id).
    public var id: Digest
    /// The proposing organization.
    public var proposer: String
    /// What it does.
    public var action: GovernanceAction
    /// Why.
    public var rationale: String
    /// The height of the block that proposed it.
    public var createdHeight: UInt64
    /// The last height at which a vote counts.
    public var expiresHeight: UInt64
    /// The votes, ascending by organization.
    public var votes: [(organization: String, approve: Bool)]
    /// The stored status (never ``ProposalStatus/expired``, which is derived from the height).
    public var storedStatus: ProposalStatus
    /// The height at which it was decided, if it was.
    public var decidedHeight: UInt64?

    /// Creates a record.
    public init(
        id: Digest, proposer: String, action: GovernanceAction, rationale: String, createdHeight: UInt64,
        expiresHeight: UInt64, votes: [(organization: String, approve: Bool)], storedStatus: ProposalStatus,
        decidedHeight: UInt64?
    ) {
        self.id = id
        self.proposer = proposer
        self.action = action
        self.rationale = rationale
        self.createdHeight = createdHeight
        self.expiresHeight = expiresHeight
        self.votes = votes.sorted { $0.organization < $1.organization }
        self.storedStatus = storedStatus
        self.decidedHeight = decidedHeight
    }

    /// The status as seen at `height`: an open proposal past its expiry height is expired.
    public func status(at height: UInt64) -> ProposalStatus {
        if case .open = storedStatus, height > expiresHeight { return .expired }
        return storedStatus
    }

    public static func == (lhs: ProposalRecord, rhs: ProposalRecord) -> Bool {
        lhs.canonicalBytes == rhs.canonicalBytes
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(canonicalBytes) }
}

extension ProposalRecord: CanonicalCodable {
    public static var maxEncodedSize: Int {
        32 + 1 + GenesisOrganization.maxNameBytes + GovernanceAction.maxEncodedSize + 2
            + ProposePayload.maxRationaleBytes + 20 + 3 + Genesis.maxMembers * (2 + GenesisOrganization.maxNameBytes)
            + 3 + 1024 + 11
    }

    public func encode(to writer: inout CanonicalWriter) {
        writer.write(id)
        writer.writeString(proposer)
        writer.write(action)
        writer.writeString(rationale)
        writer.writeVarUInt(createdHeight)
        writer.writeVarUInt(expiresHeight)
        writer.writeArray(votes) { w, vote in
            w.writeString(vote.organization)
            w.writeBool(vote.approve)
        }
        switch storedStatus {
        case .open, .expired: writer.writeByte(0)
        case .passed: writer.writeByte(1)
        case .rejected: writer.writeByte(2)
        case .failed(let reason):
            writer.writeByte(3)
            writer.writeString(reason)
        }
        writer.writeOptional(decidedHeight) { $0.writeVarUInt($1) }
    }

    public init(from reader: inout CanonicalReader, field: String) throws(CanonicalDecodingError) {
        id = try reader.readDigest(field: "\(field).id")
        proposer = try reader.readOrganizationName(field: "\(field).proposer")
        action = try reader.read(GovernanceAction.self, field: "\(field).action")
        rationale = try reader.readString(field: "\(field).rationale", maxBytes: ProposePayload.maxRationaleBytes)
        createdHeight = try reader.readVarUInt(field: "\(field).createdHeight")
        expiresHeight = try reader.readVarUInt(field: "\(field).expiresHeight")
        votes = try reader.readArray(field: "\(field).votes", maxCount: Genesis.maxMembers) {
            (r: inout CanonicalReader, i: Int) throws(CanonicalDecodingError) in
            (
                organization: try r.readOrganizationName(field: "\(field).votes[\(i)].organization"),
                approve: try r.readBool(field: "\(field).votes[\(i)].approve")
            )
        }
        let tag = try reader.readByte(field: "\(field).status")
        switch tag {
        case 0: storedStatus = .open
        case 1: storedStatus = .passed
        case 2: storedStatus = .rejected
        case 3: storedStatus = .failed(reason: try reader.readString(field: "\(field).status.reason", maxBytes: 1024))
        default: throw .invalidTag(field: "\(field).status", tag: UInt64(tag))
        }
        decidedHeight = try reader.readOptional(field: "\(field).decidedHeight") {
            (r: inout CanonicalReader) throws(CanonicalDecodingError) in
            try r.readVarUInt(field: "\(field).decidedHeight")
        }
    }
}
