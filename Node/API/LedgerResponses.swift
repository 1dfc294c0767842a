import Codec
import EnsureCrypto
public import Ledger

// The JSON bodies of the ledger query routes (docs/api.md). Same conventions as Responses.swift: camelCase
// members, lowercase hex for keys and digests, standard Base64 for canonical bytes, base64url for JWK
// coordinates. Every answer carries the committed `height` it was read at.

extension IncidentSeverity {
    /// The OCSF name the API shows and accepts (`high`).
    public var name: String {
        switch self {
        case .unknown: return "unknown"
        case .informational: return "informational"
        case .low: return "low"
        case .medium: return "medium"
        case .high: return "high"
        case .critical: return "critical"
        case .fatal: return "fatal"
        case .other: return "other"
        }
    }

    /// The severity named `text`: an OCSF id (`4`) or a name (`high`, any case).
    public init?(parsing text: String) {
        if let id = UInt8(text), let severity = IncidentSeverity(rawValue: id) {
            self = severity
            return
        }
        guard let match = Self.allCases.first(where: { $0.name == text.lowercased() }) else { return nil }
        self = match
    }
}

extension GenesisParameters {
    /// The parameters by their genesis-file names (`max_block_bytes`).
    public var namedValues: [String: UInt64] {
        [
            "max_block_bytes": maxBlockBytes, "max_block_transactions": maxBlockTransactions,
            "mempool_max_transactions": mempoolMaxTransactions, "mempool_max_bytes": mempoolMaxBytes,
            "proposal_expiry_blocks": proposalExpiryBlocks, "epoch_length_blocks": epochLengthBlocks,
            "base_round_timeout_ms": baseRoundTimeoutMs, "max_round_timeout_ms": maxRoundTimeoutMs,
        ]
    }
}

/// `GET /v1/organizations`.
struct OrganizationsBody: Codable, Equatable {
    struct Organization: Codable, Equatable {
        var name: String
        var adminKey: String
        var incidentKey: String?
        var joinedHeight: UInt64
    }

    var height: UInt64
    var organizations: [Organization]

    init(_ read: CommittedRead<[OrganizationRecord]>) {
        height = read.height
        organizations = read.value.map {
            Organization(
                name: $0.name, adminKey: $0.adminKey.hex, incidentKey: $0.incidentKey.map { Hex.encode($0.bytes) },
                joinedHeight: $0.joinedHeight)
        }
    }
}

/// `GET /v1/validators`.
struct ValidatorsBody: Codable, Equatable {
    struct Validator: Codable, Equatable {
        var nodeKey: String
        var organization: String
    }

    var height: UInt64
    var validators: [Validator]

    init(_ read: CommittedRead<[ValidatorRecord]>) {
        height = read.height
        validators = read.value.map { Validator(nodeKey: $0.nodeKey.hex, organization: $0.organization) }
    }
}

/// `GET /v1/plugins`.
struct PluginsBody: Codable, Equatable {
    struct Plugin: Codable, Equatable {
        var key: String
        var organization: String
        var name: String
    }

    var height: UInt64
    var plugins: [Plugin]

    init(_ read: CommittedRead<[PluginRecord]>) {
        height = read.height
        plugins = read.value.map { Plugin(key: $0.key.hex, organization: $0.organization, name: $0.name) }
    }
}

/// An issuer, with its signing keys as P-256 public JWKs.
struct IssuerBody: Codable, Equatable {
    struct SigningKey: Codable, Equatable {
        var kid: String
        var kty: String
        var crv: String
        var x: String
        var y: String
        var notBefore: UInt64
        var notAfter: UInt64
        /// Set once the issuer retired the key (`issuer-keys`): credentials issued after it are refused.
        var retiredFrom: UInt64?
        /// Set once the issuer revoked the key: everything it signed is refused.
        var revokedAt: UInt64?
    }

    var identifier: String
    var organization: String
    var ledgerKey: String
    var signingKeys: [SigningKey]
    var credentialTypes: [String]
    var validFrom: UInt64
    var validUntil: UInt64
    var delisted: Bool

    init(_ record: IssuerRecord) {
        identifier = record.identifier
        organization = record.organization
        ledgerKey = record.ledgerKey.hex
        signingKeys = record.signingKeys.map {
            SigningKey(
                kid: $0.keyID, kty: "EC", crv: "P-256", x: Base64.encodeURL($0.x), y: Base64.encodeURL($0.y),
                notBefore: $0.notBefore, notAfter: $0.notAfter, retiredFrom: $0.retiredFrom, revokedAt: $0.revokedAt)
        }
        credentialTypes = record.credentialTypes
        validFrom = record.validFrom
        validUntil = record.validUntil
        delisted = record.delisted
    }
}

/// `GET /v1/issuers`.
struct IssuersBody: Codable, Equatable {
    var height: UInt64
    var issuers: [IssuerBody]
}

/// `GET /v1/issuers/{identifier}`.
struct IssuerAnswer: Codable, Equatable {
    var height: UInt64
    var issuer: IssuerBody
}

/// `GET /v1/regulators`.
struct RegulatorsBody: Codable, Equatable {
    struct Regulator: Codable, Equatable {
        var key: String
        var name: String
        var incidentKey: String?
    }

    var height: UInt64
    var regulators: [Regulator]

    init(_ read: CommittedRead<[RegulatorRecord]>) {
        height = read.height
        regulators = read.value.map {
            Regulator(key: $0.key.hex, name: $0.name, incidentKey: $0.incidentKey.map { Hex.encode($0.bytes) })
        }
    }
}

/// `GET /v1/parameters`.
struct ParametersBody: Codable, Equatable {
    var height: UInt64
    var parameters: [String: UInt64]
}

/// A governance action: `type` names it, and the members that type has are set.
struct ActionBody: Codable, Equatable {
    var type: String
    var name: String?
    var adminKey: String?
    var incidentKey: String?
    var organization: String?
    var nodeKey: String?
    var key: String?
    var identifier: String?
    var issuer: IssuerBody?
    var parameters: [String: UInt64]?

    init(_ action: GovernanceAction) {
        type = action.name
        switch action {
        case .addOrganization(let name, let adminKey, let incidentKey):
            self.name = name
            self.adminKey = adminKey.hex
            self.incidentKey = incidentKey.map { Hex.encode($0.bytes) }
        case .removeOrganization(let name):
            self.name = name
        case .addValidator(let record):
            nodeKey = record.nodeKey.hex
            organization = record.organization
        case .removeValidator(let key):
            nodeKey = key.hex
        case .addPlugin(let record):
            key = record.key.hex
            organization = record.organization
            name = record.name
        case .removePlugin(let key):
            self.key = key.hex
        case .addIssuer(let record):
            identifier = record.identifier
            issuer = IssuerBody(record)
        case .delistIssuer(let identifier):
            self.identifier = identifier
        case .addRegulator(let record):
            key = record.key.hex
            name = record.name
            incidentKey = record.incidentKey.map { Hex.encode($0.bytes) }
        case .removeRegulator(let key):
            self.key = key.hex
        case .setParameters(let parameters):
            self.parameters = parameters.namedValues
        }
    }
}

/// A proposal, with its status at the committed height.
struct ProposalBody: Codable, Equatable {
    struct Vote: Codable, Equatable {
        var organization: String
        var approve: Bool
    }

    var id: String
    var proposer: String
    var action: ActionBody
    var rationale: String
    var createdHeight: UInt64
    var expiresHeight: UInt64
    var decidedHeight: UInt64?
    var votes: [Vote]
    var status: String
    var failureReason: String?

    init(_ record: ProposalRecord, height: UInt64) {
        id = record.id.hex
        proposer = record.proposer
        action = ActionBody(record.action)
        rationale = record.rationale
        createdHeight = record.createdHeight
        expiresHeight = record.expiresHeight
        decidedHeight = record.decidedHeight
        votes = record.votes.map { Vote(organization: $0.organization, approve: $0.approve) }
        // As the next block would see it: at the expiry height itself, no later vote can count any more.
        let status = record.status(at: height + 1)
        self.status = status.name
        if case .failed(let reason) = status { failureReason = reason }
    }
}

/// `GET /v1/proposals`.
struct ProposalsBody: Codable, Equatable {
    var height: UInt64
    var proposals: [ProposalBody]
}

/// `GET /v1/proposals/{id}`.
struct ProposalAnswer: Codable, Equatable {
    var height: UInt64
    var proposal: ProposalBody
}

/// An incident: its record's public metadata (never sealed ciphertexts) and its state.
struct IncidentBody: Codable, Equatable {
    var organization: String
    var id: String
    var reporter: String
    var status: String
    var detectedAt: UInt64
    var category: String
    var severity: UInt8
    var severityName: String
    var asset: String
    var detector: String
    var summary: String
    var evidenceDigest: String
    var evidenceURIs: [String]
    var sealedTo: [String]
    var links: [String]
    var reportLeaf: UInt64
    var reportedHeight: UInt64
    var reportedAt: UInt64
    var updates: Int

    init(_ summary: IncidentSummary) {
        let state = summary.state
        let record = summary.record
        organization = state.organization
        id = state.id
        reporter = state.reporter.hex
        status = state.status.name
        detectedAt = record.detectedAt
        category = record.category
        severity = record.severity.rawValue
        severityName = record.severity.name
        asset = record.asset
        detector = record.detector
        self.summary = record.summary
        evidenceDigest = record.evidenceDigest.hex
        evidenceURIs = record.evidenceURIs
        sealedTo = record.sealedDetails.map { Hex.encode($0.recipient) }
        links = state.links.map(\.description)
        reportLeaf = state.reportLeaf
        reportedHeight = state.reportedHeight
        reportedAt = state.reportedAt
        updates = state.updateLeaves.count
    }
}

/// `GET /v1/incidents`.
struct IncidentsBody: Codable, Equatable {
    var height: UInt64
    var incidents: [IncidentBody]
    var nextCursor: String?

    init(_ page: IncidentPage) {
        height = page.height
        incidents = page.incidents.map(IncidentBody.init)
        nextCursor = page.nextCursor.map(Base64.encodeURL)
    }
}

/// `GET /v1/incidents/{organization}/{id}`.
struct IncidentDetailBody: Codable, Equatable {
    struct Update: Codable, Equatable {
        var leaf: UInt64
        var status: String
        var note: String
        var links: [String]
        var height: UInt64
        var timestamp: UInt64
        var signer: String
        var transactionID: String
    }

    var height: UInt64
    var incident: IncidentBody
    var transactionID: String
    var updates: [Update]

    init(_ detail: IncidentDetail, height: UInt64) {
        self.height = height
        incident = IncidentBody(IncidentSummary(state: detail.state, record: detail.record))
        transactionID = detail.report.transaction.id.hex
        updates = detail.updates.map {
            Update(
                leaf: $0.leaf, status: $0.update.status.name, note: $0.update.note, links: $0.update.links,
                height: $0.entry.height, timestamp: $0.entry.timestamp, signer: $0.entry.transaction.signer.hex,
                transactionID: $0.entry.transaction.id.hex)
        }
    }
}

/// A block header in JSON.
struct HeaderBody: Codable, Equatable {
    var chainID: String
    var epoch: UInt64
    var height: UInt64
    var round: UInt64
    var parentID: String
    var proposer: String
    var timestamp: UInt64
    var transactionRoot: String
    var transactionCount: UInt64
    var incidentLogSize: UInt64
    var incidentLogRoot: String
    var stateRoot: String
    var validatorSetHash: String
    var nextValidatorSetHash: String?

    init(_ header: BlockHeader) {
        chainID = header.chainID
        epoch = header.epoch
        height = header.height
        round = header.round
        parentID = header.parentID.hex
        proposer = header.proposer.hex
        timestamp = header.timestamp
        transactionRoot = header.transactionRoot.hex
        transactionCount = header.transactionCount
        incidentLogSize = header.incidentLogSize
        incidentLogRoot = header.incidentLogRoot.hex
        stateRoot = header.stateRoot.hex
        validatorSetHash = header.validatorSetHash.hex
        nextValidatorSetHash = header.nextValidatorSetHash?.hex
    }
}

/// `GET /v1/incident-log`.
struct CheckpointBody: Codable, Equatable {
    /// The same certificate summary a block answer carries.
    typealias Certificate = BlockBody.Certificate

    var size: UInt64
    var root: String
    var height: UInt64
    var blockID: String
    var header: HeaderBody
    var headerBytes: String
    var certificate: Certificate
    var certificateBytes: String

    init(_ checkpoint: IncidentLogCheckpoint) {
        size = checkpoint.size
        root = checkpoint.root.hex
        height = checkpoint.header.height
        blockID = checkpoint.header.id.hex
        header = HeaderBody(checkpoint.header)
        headerBytes = Base64.encode(checkpoint.header.canonicalBytes)
        certificate = Certificate(
            round: checkpoint.certificate.round, blockID: checkpoint.certificate.blockID.hex,
            signers: checkpoint.certificate.signatures.map(\.signer.hex))
        certificateBytes = Base64.encode(checkpoint.certificate.canonicalBytes)
    }
}

/// `GET /v1/incident-log/leaves/{index}`.
struct LeafBody: Codable, Equatable {
    var height: UInt64
    var index: UInt64
    var leafHash: String
    var bytes: String
    var blockHeight: UInt64
    var timestamp: UInt64
    var organization: String
    var kind: String
    var signer: String
    var sequence: UInt64
    var transactionID: String
    var incidentID: String?
    var status: String?

    init(_ leaf: IncidentLogLeaf, height: UInt64) {
        self.height = height
        index = leaf.index
        leafHash = MerkleHash.leaf(leaf.bytes).hex
        bytes = Base64.encode(leaf.bytes)
        let entry = leaf.entry
        blockHeight = entry.height
        timestamp = entry.timestamp
        organization = entry.organization
        kind = entry.transaction.kind.name
        signer = entry.transaction.signer.hex
        sequence = entry.transaction.sequence
        transactionID = entry.transaction.id.hex
        if entry.transaction.kind == .incidentReport,
            let record = try? IncidentRecord.decode(canonical: entry.transaction.payload)
        {
            incidentID = record.id
            status = IncidentStatus.open.name
        } else if entry.transaction.kind == .incidentUpdate,
            let update = try? IncidentUpdatePayload.decode(canonical: entry.transaction.payload)
        {
            incidentID = update.incidentID
            status = update.status.name
        }
    }
}

/// `GET /v1/incident-log/inclusion`.
struct InclusionBody: Codable, Equatable {
    var height: UInt64
    var leafIndex: UInt64
    var treeSize: UInt64
    var leafHash: String
    var root: String
    var proof: [String]

    init(_ answer: InclusionProofAnswer) {
        height = answer.height
        leafIndex = answer.leafIndex
        treeSize = answer.treeSize
        leafHash = answer.leafHash.hex
        root = answer.root.hex
        proof = answer.proof.map(\.hex)
    }
}

/// `GET /v1/incident-log/consistency`.
struct ConsistencyBody: Codable, Equatable {
    var height: UInt64
    var from: UInt64
    var to: UInt64
    var oldRoot: String
    var newRoot: String
    var proof: [String]

    init(_ answer: ConsistencyProofAnswer) {
        height = answer.height
        from = answer.oldSize
        to = answer.newSize
        oldRoot = answer.oldRoot.hex
        newRoot = answer.newRoot.hex
        proof = answer.proof.map(\.hex)
    }
}
