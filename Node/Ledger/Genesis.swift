public import Codec
public import EnsureCrypto

/// The document that founds a network: its chain id, start time, member organizations, the validators and
/// observers of epoch 0, and the parameters every node must agree on. Its ``hash`` identifies the network; an
/// offline auditor needs nothing else to check a history from the first block.
///
/// Organizations are kept sorted by name, validators and observers by key, so a value has one canonical
/// encoding however its parts were listed.
public struct Genesis: Hashable, Sendable {
    /// The only version this build writes and reads.
    public static let version: UInt8 = 1
    /// The tag of ``hash``.
    public static let hashTag = "ensure/genesis/v1"
    /// Most organizations, validators or observers in one genesis.
    public static let maxMembers = LedgerLimits.certificateSigners
    /// The largest `genesis.json` accepted, in bytes.
    public static let maxJSONBytes = 1 << 20

    /// The network's chain id (see ``ChainID``).
    public let chainID: String
    /// Milliseconds since 1970-01-01 UTC; the time of block 0.
    public let genesisTime: UInt64
    /// Member organizations, ascending by name.
    public let organizations: [GenesisOrganization]
    /// Validators of epoch 0, ascending by node key.
    public let validators: [GenesisValidator]
    /// Observer node keys (nodes that follow the chain without voting), ascending.
    public let observers: [Ed25519PublicKey]
    /// The network parameters.
    public let parameters: GenesisParameters

    /// A genesis with its lists sorted; call ``validate()`` to check it.
    public init(
        chainID: String, genesisTime: UInt64, organizations: [GenesisOrganization], validators: [GenesisValidator],
        observers: [Ed25519PublicKey] = [], parameters: GenesisParameters = GenesisParameters()
    ) {
        self.chainID = chainID
        self.genesisTime = genesisTime
        self.organizations = organizations.sorted { Array($0.name.utf8).lexicographicallyPrecedes($1.name.utf8) }
        self.validators = validators.sorted { $0.nodeKey < $1.nodeKey }
        self.observers = observers.sorted()
        self.parameters = parameters
    }

    /// Checks every rule a network's founding document must meet; the error names the first field that breaks one.
    public func validate() throws(GenesisError) {
        guard ChainID.isValid(chainID) else { throw .invalidChainID(chainID) }
        guard !organizations.isEmpty else { throw .empty(field: "organizations") }
        guard !validators.isEmpty else { throw .empty(field: "validators") }
        for (field, count) in [
            ("organizations", organizations.count), ("validators", validators.count), ("observers", observers.count),
        ] where count > Self.maxMembers {
            throw .tooMany(field: field, limit: Self.maxMembers, actual: count)
        }
        var names = Set<String>()
        for (i, organization) in organizations.enumerated() {
            guard GenesisOrganization.isValidName(organization.name) else {
                throw .invalidOrganizationName(field: "organizations[\(i)].name", name: organization.name)
            }
            guard names.insert(organization.name).inserted else {
                throw .duplicateOrganization(organization.name)
            }
        }
        var nodeKeys = Set<Ed25519PublicKey>()
        for (i, validator) in validators.enumerated() {
            guard names.contains(validator.organization) else {
                throw .unknownOrganization(field: "validators[\(i)].organization", name: validator.organization)
            }
            guard nodeKeys.insert(validator.nodeKey).inserted else {
                throw .duplicateNodeKey(field: "validators[\(i)].node_key", key: validator.nodeKey)
            }
        }
        for (i, observer) in observers.enumerated() {
            guard nodeKeys.insert(observer).inserted else {
                throw .duplicateNodeKey(field: "observers[\(i)]", key: observer)
            }
        }
        try parameters.validate()
    }

    /// The validators of epoch 0.
    public func validatorSet() throws(GenesisError) -> ValidatorSet {
        try validate()
        // validate() has refused an empty list, duplicates and more than the set's limit.
        return ValidatorSet(validators.map(\.nodeKey))!
    }

    /// SHA-256 (tag `ensure/genesis/v1`) of the canonical encoding: the identity of the network.
    public var hash: Digest { SHA256.hash(tag: Self.hashTag, canonicalBytes) }
}

/// A member organization of the consortium.
public struct GenesisOrganization: Hashable, Sendable {
    /// The longest name, in bytes.
    public static let maxNameBytes = 64

    /// Unique name: 1 to 64 characters of `[a-z0-9-]`.
    public let name: String
    /// The key that signs the organization's governance votes and binds its nodes and plugins.
    public let adminKey: Ed25519PublicKey
    /// The X25519 key sealed incident details are encrypted to, if the organization receives them.
    public let incidentKey: X25519PublicKey?

    /// An organization; the name is checked by ``Genesis/validate()``.
    public init(name: String, adminKey: Ed25519PublicKey, incidentKey: X25519PublicKey? = nil) {
        self.name = name
        self.adminKey = adminKey
        self.incidentKey = incidentKey
    }

    /// Whether `name` is 1 to 64 characters of lower-case letters, digits and `-`.
    public static func isValidName(_ name: String) -> Bool {
        let utf8 = name.utf8
        return !utf8.isEmpty && utf8.count <= maxNameBytes
            && utf8.allSatisfy { c in
                (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
                    || c == UInt8(ascii: "-")
            }
    }
}

/// A validator of epoch 0 and the organization that runs it.
public struct GenesisValidator: Hashable, Sendable {
    /// The name of a member organization.
    public let organization: String
    /// The node's Ed25519 key: it signs votes and authenticates the node to its peers.
    public let nodeKey: Ed25519PublicKey

    /// A validator run by `organization`.
    public init(organization: String, nodeKey: Ed25519PublicKey) {
        self.organization = organization
        self.nodeKey = nodeKey
    }
}

/// The parameters all nodes of a network agree on from block 0; governance may change them later.
public struct GenesisParameters: Hashable, Sendable {
    /// Largest encoded block a proposer may build and a validator accepts (default 4 MiB, at most 16 MiB).
    public var maxBlockBytes: UInt64
    /// Most transactions in one block (default 5 000, at most 10 000).
    public var maxBlockTransactions: UInt64
    /// Most transactions a node's mempool holds (default 20 000).
    public var mempoolMaxTransactions: UInt64
    /// Most bytes of transactions a node's mempool holds (default 64 MiB).
    public var mempoolMaxBytes: UInt64
    /// Blocks after which an undecided governance proposal expires (default 100 000).
    public var proposalExpiryBlocks: UInt64
    /// Blocks in an epoch; validator-set changes take effect at epoch boundaries (default 10 000).
    public var epochLengthBlocks: UInt64
    /// The first round timeout in milliseconds (default 1 000).
    public var baseRoundTimeoutMs: UInt64
    /// The cap of the doubling round timeout in milliseconds (default 60 000).
    public var maxRoundTimeoutMs: UInt64

    /// Parameters; every argument defaults to the documented value.
    public init(
        maxBlockBytes: UInt64 = 4 << 20, maxBlockTransactions: UInt64 = 5_000, mempoolMaxTransactions: UInt64 = 20_000,
        mempoolMaxBytes: UInt64 = 64 << 20, proposalExpiryBlocks: UInt64 = 100_000, epochLengthBlocks: UInt64 = 10_000,
        baseRoundTimeoutMs: UInt64 = 1_000, maxRoundTimeoutMs: UInt64 = 60_000
    ) {
        self.maxBlockBytes = maxBlockBytes
        self.maxBlockTransactions = maxBlockTransactions
        self.mempoolMaxTransactions = mempoolMaxTransactions
        self.mempoolMaxBytes = mempoolMaxBytes
        self.proposalExpiryBlocks = proposalExpiryBlocks
        self.epochLengthBlocks = epochLengthBlocks
        self.baseRoundTimeoutMs = baseRoundTimeoutMs
        self.maxRoundTimeoutMs = maxRoundTimeoutMs
    }

    /// The JSON names and values in their fixed order.
    var fields: [(name: String, value: UInt64)] {
        [
            ("max_block_bytes", maxBlockBytes), ("max_block_transactions", maxBlockTransactions),
            ("mempool_max_transactions", mempoolMaxTransactions), ("mempool_max_bytes", mempoolMaxBytes),
            ("proposal_expiry_blocks", proposalExpiryBlocks), ("epoch_length_blocks", epochLengthBlocks),
            ("base_round_timeout_ms", baseRoundTimeoutMs), ("max_round_timeout_ms", maxRoundTimeoutMs),
        ]
    }

    /// Builds parameters from values in ``fields`` order.
    init(values v: [UInt64]) {
        self.init(
            maxBlockBytes: v[0], maxBlockTransactions: v[1], mempoolMaxTransactions: v[2], mempoolMaxBytes: v[3],
            proposalExpiryBlocks: v[4], epochLengthBlocks: v[5], baseRoundTimeoutMs: v[6], maxRoundTimeoutMs: v[7])
    }

    /// Checks each parameter's range; the error names the parameter.
    public func validate() throws(GenesisError) {
        func check(_ name: String, _ ok: Bool, _ reason: String) throws(GenesisError) {
            if !ok { throw .invalidParameter(field: "parameters.\(name)", reason: reason) }
        }
        // A block holds 64 KiB of header and certificate room plus at least one transaction of the largest size.
        let smallestBlock = UInt64(64 * 1024 + LedgerLimits.transactionBytes)
        try check(
            "max_block_bytes", maxBlockBytes >= smallestBlock && maxBlockBytes <= UInt64(LedgerLimits.blockBytes),
            "must be between \(smallestBlock) and \(LedgerLimits.blockBytes)")
        try check(
            "max_block_transactions",
            maxBlockTransactions >= 1 && maxBlockTransactions <= UInt64(LedgerLimits.blockTransactions),
            "must be between 1 and \(LedgerLimits.blockTransactions)")
        try check(
            "mempool_max_transactions", mempoolMaxTransactions >= maxBlockTransactions,
            "must hold at least one full block (max_block_transactions)")
        try check(
            "mempool_max_bytes", mempoolMaxBytes >= maxBlockBytes, "must hold at least one full block (max_block_bytes)"
        )
        try check(
            "proposal_expiry_blocks", proposalExpiryBlocks >= 1 && proposalExpiryBlocks <= 1_000_000_000,
            "must be between 1 and 1000000000")
        try check(
            "epoch_length_blocks", epochLengthBlocks >= 1 && epochLengthBlocks <= 1_000_000_000,
            "must be between 1 and 1000000000")
        try check(
            "base_round_timeout_ms", baseRoundTimeoutMs >= 10 && baseRoundTimeoutMs <= 3_600_000,
            "must be between 10 and 3600000")
        try check(
            "max_round_timeout_ms", maxRoundTimeoutMs >= baseRoundTimeoutMs && maxRoundTimeoutMs <= 86_400_000,
            "must be between base_round_timeout_ms and 86400000")
    }
}

/// Why a genesis was refused; every case names the field or value that was wrong.
public enum GenesisError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The chain id breaks the ``ChainID`` rules.
    case invalidChainID(String)
    /// A list that must not be empty is empty.
    case empty(field: String)
    /// A list is longer than ``Genesis/maxMembers``.
    case tooMany(field: String, limit: Int, actual: Int)
    /// An organization name is not 1 to 64 characters of `[a-z0-9-]`.
    case invalidOrganizationName(field: String, name: String)
    /// Two organizations have the same name.
    case duplicateOrganization(String)
    /// A validator names an organization that is not a member.
    case unknownOrganization(field: String, name: String)
    /// A node key appears twice among validators and observers.
    case duplicateNodeKey(field: String, key: Ed25519PublicKey)
    /// A parameter is out of its range.
    case invalidParameter(field: String, reason: String)
    /// The JSON text is not well-formed; line and column are 1-based (the column counts bytes).
    case malformedJSON(line: Int, column: Int, reason: String)
    /// An object has a field this version does not know.
    case unknownField(String)
    /// An object has the same field twice.
    case duplicateField(String)
    /// A required field is absent.
    case missingField(String)
    /// A field has the wrong JSON type or form.
    case invalidField(field: String, reason: String)
    /// The canonical binary form was refused.
    case canonical(CanonicalDecodingError)

    public var description: String {
        switch self {
        case .invalidChainID(let value): return "chain_id \"\(value)\" must be 1-64 characters of [a-z0-9._-]"
        case .empty(let field): return "\(field): at least one entry is required"
        case .tooMany(let field, let limit, let actual): return "\(field): \(actual) entries, at most \(limit) allowed"
        case .invalidOrganizationName(let field, let name):
            return "\(field): organization name \"\(name)\" must be 1-64 characters of [a-z0-9-]"
        case .duplicateOrganization(let name): return "organizations: \"\(name)\" is listed twice"
        case .unknownOrganization(let field, let name):
            return "\(field): organization \"\(name)\" is not among the organizations"
        case .duplicateNodeKey(let field, let key):
            return "\(field): node key \(key.hex) is listed twice among validators and observers"
        case .invalidParameter(let field, let reason): return "\(field) \(reason)"
        case .malformedJSON(let line, let column, let reason):
            return "genesis JSON is malformed at line \(line), column \(column): \(reason)"
        case .unknownField(let field): return "\(field): unknown field"
        case .duplicateField(let field): return "\(field): field appears twice"
        case .missingField(let field): return "\(field): required field is missing"
        case .invalidField(let field, let reason): return "\(field): \(reason)"
        case .canonical(let error): return "genesis binary form refused: \(error)"
        }
    }
}

// MARK: - Canonical form

extension Genesis: CanonicalCodable {
    /// Version, chain id, time, three arrays of at most ``maxMembers`` entries and eight varints.
    public static var maxEncodedSize: Int {
        let organization = 1 + GenesisOrganization.maxNameBytes + 32 + 1 + 32
        let validator = 1 + GenesisOrganization.maxNameBytes + 32
        return 1 + 1 + ChainID.maxBytes + 10 + 3 * 2 + maxMembers * (organization + validator + 32) + 8 * 10
    }

    public func encode(to writer: inout CanonicalWriter) {
        writer.writeByte(Self.version)
        writer.writeString(chainID)
        writer.writeVarUInt(genesisTime)
        writer.writeArray(organizations) { w, organization in
            w.writeString(organization.name)
            w.write(organization.adminKey)
            w.writeOptional(organization.incidentKey) { $0.writeFixedBytes($1.bytes) }
        }
        writer.writeArray(validators) { w, validator in
            w.writeString(validator.organization)
            w.write(validator.nodeKey)
        }
        writer.writeArray(observers) { $0.write($1) }
        for field in parameters.fields { writer.writeVarUInt(field.value) }
    }

    public init(from reader: inout CanonicalReader, field: String) throws(CanonicalDecodingError) {
        _ = try reader.readVersion(field: "\(field).version", supported: Self.version...Self.version)
        let chainID = try reader.readChainID(field: "\(field).chainID")
        let genesisTime = try reader.readVarUInt(field: "\(field).genesisTime")
        let organizations = try reader.readArray(field: "\(field).organizations", maxCount: Self.maxMembers) {
            (r: inout CanonicalReader, i: Int) throws(CanonicalDecodingError) in
            let path = "\(field).organizations[\(i)]"
            let name = try r.readString(field: "\(path).name", maxBytes: GenesisOrganization.maxNameBytes)
            let admin = try r.readPublicKey(field: "\(path).adminKey")
            let incident = try r.readOptional(field: "\(path).incidentKey") {
                (r: inout CanonicalReader) throws(CanonicalDecodingError) in
                X25519PublicKey(
                    bytes: try r.readFixedBytes(count: X25519PublicKey.byteCount, field: "\(path).incidentKey"))!
            }
            return GenesisOrganization(name: name, adminKey: admin, incidentKey: incident)
        }
        let validators = try reader.readArray(field: "\(field).validators", maxCount: Self.maxMembers) {
            (r: inout CanonicalReader, i: Int) throws(CanonicalDecodingError) in
            let path = "\(field).validators[\(i)]"
            let organization = try r.readString(
                field: "\(path).organization", maxBytes: GenesisOrganization.maxNameBytes)
            return GenesisValidator(organization: organization, nodeKey: try r.readPublicKey(field: "\(path).nodeKey"))
        }
        let observers = try reader.readArray(field: "\(field).observers", maxCount: Self.maxMembers) {
            (r: inout CanonicalReader, i: Int) throws(CanonicalDecodingError) in
            try r.readPublicKey(field: "\(field).observers[\(i)]")
        }
        var values: [UInt64] = []
        for parameter in GenesisParameters().fields {
            values.append(try reader.readVarUInt(field: "\(field).parameters.\(parameter.name)"))
        }
        for i in organizations.indices.dropFirst()
        where !Array(organizations[i - 1].name.utf8).lexicographicallyPrecedes(organizations[i].name.utf8) {
            throw .notStrictlyAscending(field: "\(field).organizations", index: i)
        }
        for i in validators.indices.dropFirst() where !(validators[i - 1].nodeKey < validators[i].nodeKey) {
            throw .notStrictlyAscending(field: "\(field).validators", index: i)
        }
        for i in observers.indices.dropFirst() where !(observers[i - 1] < observers[i]) {
            throw .notStrictlyAscending(field: "\(field).observers", index: i)
        }
        self.init(
            chainID: chainID, genesisTime: genesisTime, organizations: organizations, validators: validators,
            observers: observers, parameters: GenesisParameters(values: values))
    }

    /// Decodes the canonical form and then applies ``validate()``.
    public static func decodeValidated(canonical bytes: [UInt8]) throws(GenesisError) -> Genesis {
        let genesis: Genesis
        do {
            genesis = try decode(canonical: bytes)
        } catch {
            throw .canonical(error)
        }
        try genesis.validate()
        return genesis
    }
}

// MARK: - JSON form

extension Genesis {
    /// `genesis.json`: pretty-printed, keys in snake_case in a fixed order, keys in lower-case hex, the time both
    /// in milliseconds and as RFC 3339 UTC. Ends with a newline.
    public func jsonText() -> String {
        var out = "{\n"
        out += "  \"chain_id\": \(JSONText.quoted(chainID)),\n"
        out += "  \"genesis_time\": \"\(RFC3339.format(milliseconds: genesisTime))\",\n"
        out += "  \"genesis_time_ms\": \(genesisTime),\n"
        out += "  \"organizations\": ["
        out += organizations.map { organization in
            var entry = "\n    {\n      \"name\": \(JSONText.quoted(organization.name)),\n"
            entry += "      \"admin_key\": \"\(organization.adminKey.hex)\""
            if let incident = organization.incidentKey {
                entry += ",\n      \"incident_key\": \"\(incident.hex)\""
            }
            return entry + "\n    }"
        }.joined(separator: ",")
        out += organizations.isEmpty ? "],\n" : "\n  ],\n"
        out += "  \"validators\": ["
        out += validators.map { validator in
            "\n    {\n      \"organization\": \(JSONText.quoted(validator.organization)),\n"
                + "      \"node_key\": \"\(validator.nodeKey.hex)\"\n    }"
        }.joined(separator: ",")
        out += validators.isEmpty ? "],\n" : "\n  ],\n"
        out += "  \"observers\": ["
        out += observers.map { "\n    \"\($0.hex)\"" }.joined(separator: ",")
        out += observers.isEmpty ? "],\n" : "\n  ],\n"
        out += "  \"parameters\": {\n"
        out += parameters.fields.map { "    \"\($0.name)\": \($0.value)" }.joined(separator: ",\n")
        out += "\n  }\n}\n"
        return out
    }

    /// Reads `genesis.json`, refusing malformed JSON, unknown or repeated fields, bad hex, a `genesis_time` that
    /// does not match `genesis_time_ms`, and anything ``validate()`` refuses.
    public static func decode(json bytes: [UInt8]) throws(GenesisError) -> Genesis {
        guard bytes.count <= maxJSONBytes else {
            throw .malformedJSON(line: 1, column: 1, reason: "larger than \(maxJSONBytes) bytes")
        }
        var parser = JSONParser(bytes)
        let root = try parser.parseDocument()
        let top = try root.object(
            "genesis",
            keys: [
                "chain_id", "genesis_time", "genesis_time_ms", "organizations", "validators", "observers", "parameters",
            ])
        let chainID = try top.string("chain_id")
        let genesisTime = try top.unsigned("genesis_time_ms")
        let shown = try top.string("genesis_time")
        guard shown == RFC3339.format(milliseconds: genesisTime) else {
            throw .invalidField(
                field: "genesis_time",
                reason: "\"\(shown)\" is not \(RFC3339.format(milliseconds: genesisTime)), the RFC 3339 form of "
                    + "genesis_time_ms")
        }
        var organizations: [GenesisOrganization] = []
        for (i, element) in try top.array("organizations").enumerated() {
            let path = "organizations[\(i)]"
            let entry = try element.object(path, keys: ["name", "admin_key", "incident_key"])
            let admin = try entry.hexBytes("admin_key", count: Ed25519PublicKey.byteCount)
            let incident = try entry.optionalHexBytes("incident_key", count: X25519PublicKey.byteCount)
            organizations.append(
                GenesisOrganization(
                    name: try entry.string("name"), adminKey: Ed25519PublicKey(bytes: admin)!,
                    incidentKey: incident.map { X25519PublicKey(bytes: $0)! }))
        }
        var validators: [GenesisValidator] = []
        for (i, element) in try top.array("validators").enumerated() {
            let entry = try element.object("validators[\(i)]", keys: ["organization", "node_key"])
            let key = try entry.hexBytes("node_key", count: Ed25519PublicKey.byteCount)
            validators.append(
                GenesisValidator(organization: try entry.string("organization"), nodeKey: Ed25519PublicKey(bytes: key)!)
            )
        }
        var observers: [Ed25519PublicKey] = []
        for (i, element) in try top.array("observers").enumerated() {
            observers.append(
                Ed25519PublicKey(bytes: try element.hexBytes("observers[\(i)]", count: Ed25519PublicKey.byteCount))!)
        }
        let defaults = GenesisParameters()
        let parameters = try top.required("parameters").object(
            "parameters", keys: defaults.fields.map(\.name))
        var values: [UInt64] = []
        for field in defaults.fields { values.append(try parameters.unsigned(field.name)) }
        let genesis = Genesis(
            chainID: chainID, genesisTime: genesisTime, organizations: organizations, validators: validators,
            observers: observers, parameters: GenesisParameters(values: values))
        try genesis.validate()
        return genesis
    }
}

/// RFC 3339 timestamps in UTC with milliseconds, computed from days since the epoch (no calendar library).
enum RFC3339 {
    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` for milliseconds since 1970-01-01 UTC.
    static func format(milliseconds: UInt64) -> String {
        let days = Int64(milliseconds / 86_400_000)
        var rest = Int64(milliseconds % 86_400_000)
        let millisecond = rest % 1000
        rest /= 1000
        let (year, month, day) = civil(daysSinceEpoch: days)
        func pad(_ value: Int64, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(rest / 3600, 2)):\(pad(rest / 60 % 60, 2)):"
            + "\(pad(rest % 60, 2)).\(pad(millisecond, 3))Z"
    }

    /// The proleptic Gregorian date of a day count, by 400-year eras.
    private static func civil(daysSinceEpoch: Int64) -> (Int64, Int64, Int64) {
        let z = daysSinceEpoch + 719_468
        let era = z / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

/// Writing JSON strings.
enum JSONText {
    /// `value` as a JSON string literal with the required escapes.
    static func quoted(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = Hex.encode([UInt8(0), UInt8(scalar.value)])
                out += "\\u" + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// A parsed JSON value; objects keep their fields in order and the parser refuses repeated names.
private indirect enum JSONValue {
    case object([(String, JSONValue)], path: String)
    case array([JSONValue])
    case string(String)
    case number(String)
    case bool(Bool)
    case null

    var typeName: String {
        switch self {
        case .object: return "an object"
        case .array: return "an array"
        case .string: return "a string"
        case .number: return "a number"
        case .bool: return "a boolean"
        case .null: return "null"
        }
    }

    /// This value as an object with only the `keys` allowed; `path` names it in errors.
    func object(_ path: String, keys: [String]) throws(GenesisError) -> JSONObject {
        guard case .object(let fields, _) = self else {
            throw .invalidField(field: path, reason: "must be an object, found \(typeName)")
        }
        var map: [String: JSONValue] = [:]
        for (key, value) in fields {
            let fieldPath = path == "genesis" ? key : "\(path).\(key)"
            guard keys.contains(key) else { throw .unknownField(fieldPath) }
            map[key] = value
        }
        return JSONObject(path: path, fields: map)
    }

    func hexBytes(_ path: String, count: Int) throws(GenesisError) -> [UInt8] {
        guard case .string(let text) = self else {
            throw .invalidField(field: path, reason: "must be a hex string, found \(typeName)")
        }
        guard text.utf8.count == 2 * count, text == text.lowercased(), let bytes = Hex.decode(text),
            bytes.count == count
        else {
            throw .invalidField(field: path, reason: "must be \(2 * count) lower-case hexadecimal characters")
        }
        return bytes
    }
}

/// An object's fields by name, for typed access with paths in errors.
private struct JSONObject {
    let path: String
    let fields: [String: JSONValue]

    func name(_ key: String) -> String { path == "genesis" ? key : "\(path).\(key)" }

    func required(_ key: String) throws(GenesisError) -> JSONValue {
        guard let value = fields[key] else { throw .missingField(name(key)) }
        return value
    }

    func string(_ key: String) throws(GenesisError) -> String {
        let value = try required(key)
        guard case .string(let text) = value else {
            throw .invalidField(field: name(key), reason: "must be a string, found \(value.typeName)")
        }
        return text
    }

    func unsigned(_ key: String) throws(GenesisError) -> UInt64 {
        let value = try required(key)
        guard case .number(let text) = value, let number = UInt64(text), text == String(number) else {
            throw .invalidField(field: name(key), reason: "must be an unsigned integer below 2^64")
        }
        return number
    }

    func array(_ key: String) throws(GenesisError) -> [JSONValue] {
        let value = try required(key)
        guard case .array(let elements) = value else {
            throw .invalidField(field: name(key), reason: "must be an array, found \(value.typeName)")
        }
        guard elements.count <= Genesis.maxMembers else {
            throw .tooMany(field: name(key), limit: Genesis.maxMembers, actual: elements.count)
        }
        return elements
    }

    func hexBytes(_ key: String, count: Int) throws(GenesisError) -> [UInt8] {
        try required(key).hexBytes(name(key), count: count)
    }

    func optionalHexBytes(_ key: String, count: Int) throws(GenesisError) -> [UInt8]? {
        guard let value = fields[key] else { return nil }
        return try value.hexBytes(name(key), count: count)
    }
}

/// A strict RFC 8259 parser for documents of bounded size: no comments, no trailing commas, no repeated names,
/// nesting at most 16 deep.
private struct JSONParser {
    let bytes: [UInt8]
    var offset = 0
    var depth = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func fail(_ reason: String, at position: Int? = nil) -> GenesisError {
        let end = min(position ?? offset, bytes.count)
        var line = 1
        var column = 1
        for byte in bytes[..<end] {
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        return .malformedJSON(line: line, column: column, reason: reason)
    }

    mutating func parseDocument() throws(GenesisError) -> JSONValue {
        let value = try parseValue(path: "genesis")
        skipWhitespace()
        guard offset == bytes.count else { throw fail("unexpected text after the document") }
        return value
    }

    mutating func skipWhitespace() {
        while offset < bytes.count, [0x20, 0x09, 0x0a, 0x0d].contains(bytes[offset]) { offset += 1 }
    }

    mutating func expect(_ literal: String) throws(GenesisError) {
        for byte in literal.utf8 {
            guard offset < bytes.count, bytes[offset] == byte else { throw fail("expected \(literal)") }
            offset += 1
        }
    }

    mutating func parseValue(path: String) throws(GenesisError) -> JSONValue {
        skipWhitespace()
        guard offset < bytes.count else { throw fail("unexpected end of input") }
        switch bytes[offset] {
        case UInt8(ascii: "{"): return try parseObject(path: path)
        case UInt8(ascii: "["): return try parseArray(path: path)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"):
            try expect("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expect("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expect("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw fail("unexpected character")
        }
    }

    mutating func enter() throws(GenesisError) {
        depth += 1
        guard depth <= 16 else { throw fail("nested more than 16 levels") }
    }

    mutating func parseObject(path: String) throws(GenesisError) -> JSONValue {
        try enter()
        offset += 1
        var fields: [(String, JSONValue)] = []
        var seen = Set<String>()
        skipWhitespace()
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "}") {
            offset += 1
            depth -= 1
            return .object(fields, path: path)
        }
        while true {
            skipWhitespace()
            guard offset < bytes.count, bytes[offset] == UInt8(ascii: "\"") else { throw fail("expected a field name") }
            let key = try parseString()
            let fieldPath = path == "genesis" ? key : "\(path).\(key)"
            guard seen.insert(key).inserted else { throw .duplicateField(fieldPath) }
            skipWhitespace()
            try expect(":")
            fields.append((key, try parseValue(path: fieldPath)))
            skipWhitespace()
            guard offset < bytes.count else { throw fail("unexpected end of input in an object") }
            if bytes[offset] == UInt8(ascii: ",") {
                offset += 1
                continue
            }
            guard bytes[offset] == UInt8(ascii: "}") else { throw fail("expected , or } in an object") }
            offset += 1
            depth -= 1
            return .object(fields, path: path)
        }
    }

    mutating func parseArray(path: String) throws(GenesisError) -> JSONValue {
        try enter()
        offset += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "]") {
            offset += 1
            depth -= 1
            return .array(elements)
        }
        while true {
            elements.append(try parseValue(path: "\(path)[\(elements.count)]"))
            skipWhitespace()
            guard offset < bytes.count else { throw fail("unexpected end of input in an array") }
            if bytes[offset] == UInt8(ascii: ",") {
                offset += 1
                continue
            }
            guard bytes[offset] == UInt8(ascii: "]") else { throw fail("expected , or ] in an array") }
            offset += 1
            depth -= 1
            return .array(elements)
        }
    }

    mutating func parseNumber() throws(GenesisError) -> String {
        let start = offset
        if bytes[offset] == UInt8(ascii: "-") { offset += 1 }
        func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
        let digitsStart = offset
        while offset < bytes.count, isDigit(bytes[offset]) { offset += 1 }
        guard offset > digitsStart else { throw fail("a number needs digits") }
        if bytes[digitsStart] == UInt8(ascii: "0") && offset - digitsStart > 1 {
            throw fail("a number has a leading zero", at: digitsStart)
        }
        if offset < bytes.count, bytes[offset] == UInt8(ascii: ".") {
            offset += 1
            let fractionStart = offset
            while offset < bytes.count, isDigit(bytes[offset]) { offset += 1 }
            guard offset > fractionStart else { throw fail("a fraction needs digits") }
        }
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "e") || bytes[offset] == UInt8(ascii: "E") {
            offset += 1
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "+") || bytes[offset] == UInt8(ascii: "-") {
                offset += 1
            }
            let exponentStart = offset
            while offset < bytes.count, isDigit(bytes[offset]) { offset += 1 }
            guard offset > exponentStart else { throw fail("an exponent needs digits") }
        }
        return String(decoding: bytes[start..<offset], as: UTF8.self)
    }

    mutating func parseHex4() throws(GenesisError) -> UInt32 {
        guard offset + 4 <= bytes.count,
            let value = UInt32(String(decoding: bytes[offset..<offset + 4], as: UTF8.self), radix: 16)
        else { throw fail("\\u needs four hexadecimal digits") }
        offset += 4
        return value
    }

    mutating func parseString() throws(GenesisError) -> String {
        offset += 1
        var scalars = String.UnicodeScalarView()
        var runStart = offset
        var text = ""
        func flush(_ parser: JSONParser, _ end: Int) throws(GenesisError) -> String {
            guard let run = String(validating: parser.bytes[runStart..<end], as: UTF8.self) else {
                throw parser.fail("a string is not valid UTF-8", at: runStart)
            }
            return run
        }
        while true {
            guard offset < bytes.count else { throw fail("unterminated string") }
            let byte = bytes[offset]
            if byte == UInt8(ascii: "\"") {
                text += try flush(self, offset)
                offset += 1
                return text
            }
            guard byte >= 0x20 else { throw fail("a control character must be escaped in a string") }
            guard byte == UInt8(ascii: "\\") else {
                offset += 1
                continue
            }
            text += try flush(self, offset)
            offset += 1
            guard offset < bytes.count else { throw fail("unterminated escape") }
            let escape = bytes[offset]
            offset += 1
            scalars.removeAll()
            switch escape {
            case UInt8(ascii: "\""): scalars.append("\"")
            case UInt8(ascii: "\\"): scalars.append("\\")
            case UInt8(ascii: "/"): scalars.append("/")
            case UInt8(ascii: "b"): scalars.append("\u{08}")
            case UInt8(ascii: "f"): scalars.append("\u{0C}")
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "r"): scalars.append("\r")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "u"):
                var value = try parseHex4()
                if value >= 0xD800 && value < 0xDC00 {
                    try expect("\\u")
                    let low = try parseHex4()
                    guard low >= 0xDC00 && low < 0xE000 else { throw fail("a high surrogate without its low half") }
                    value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let scalar = Unicode.Scalar(value) else { throw fail("\\u escape is a lone surrogate") }
                scalars.append(scalar)
            default: throw fail("unknown escape")
            }
            text += String(scalars)
            runStart = offset
        }
    }
}
