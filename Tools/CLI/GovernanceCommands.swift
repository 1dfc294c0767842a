import ArgumentParser
import Codec
import EnsureCrypto
import Foundation
import Ledger

/// What every signing command shares: the key file, the node, and how long to wait for the commit.
struct SigningOptions: ParsableArguments {
    @Option(name: .long, help: "The signing key file (an organization admin key, or a plugin key for reports).")
    var key: String

    @OptionGroup var passphrase: PassphraseSource

    @Option(name: .long, help: "The node's API URL, for example http://127.0.0.1:26601.")
    var node: String

    @Option(name: .long, help: "Wait up to this many seconds for the transaction to be committed.")
    var wait: Double?

    @Flag(name: .long, help: "Print one JSON object instead of text.")
    var json = false

    func validateWait() throws(CommandFailure) {
        if let wait, !(wait >= 0 && wait <= 86_400) {
            throw CommandFailure("--wait must be a number of seconds between 0 and 86400")
        }
    }

    func readKey() throws -> Ed25519PrivateKey {
        let secret = try passphrase.read()
        do {
            return try KeyFile.read(from: key, passphrase: secret).privateKey
        } catch .passphraseRequired(let path) {
            throw CommandFailure(
                "key file \(path) is encrypted; give its passphrase with --passphrase-file FILE or the "
                    + "\(PassphraseSource.environmentVariable) environment variable")
        } catch {
            throw CommandFailure("\(error)")
        }
    }

    /// Signs `payload` as a `kind` transaction with the next sequence of the key, submits it, and waits when
    /// asked; a transaction that commits as failed throws its code and reason.
    func submit(kind: TransactionKind, payload: [UInt8]) throws -> SubmissionOutcome {
        try validateWait()
        let client = try NodeClient(url: node)
        let signer = try readKey()
        let status: NodeAPI.StatusAnswer = try client.get("/v1/status")
        guard ChainID.isValid(status.chainID) else {
            throw CommandFailure("node \(client.base) answered an invalid chain id \"\(status.chainID.prefix(80))\"")
        }
        let account: NodeAPI.AccountAnswer = try client.get("/v1/accounts/\(signer.publicKey.hex)")
        let transaction = Transaction(
            chainID: status.chainID, sequence: account.nextSequence, kind: kind, payload: payload, signedBy: signer)
        let submitted: NodeAPI.SubmissionAnswer = try client.post(
            "/v1/transactions", json: NodeAPI.SubmissionRequest(transaction: Base64.encode(transaction.canonicalBytes)))
        guard submitted.id == transaction.id.hex else {
            throw CommandFailure(
                "node \(client.base) answered transaction id \(submitted.id.prefix(80)), expected \(transaction.id.hex)"
            )
        }
        var outcome = SubmissionOutcome(
            id: submitted.id, kind: kind.name, status: submitted.status, height: submitted.height, blockID: nil,
            signer: signer.publicKey.hex, sequence: account.nextSequence)
        if let wait, submitted.status != "committed" {
            let final = try client.waitForCommit(of: transaction.id, seconds: wait)
            outcome.status = final.status
            outcome.height = final.height
            outcome.blockID = final.blockID
        }
        return outcome
    }
}

/// What a signing command prints.
struct SubmissionOutcome: Encodable {
    var id: String
    var kind: String
    var status: String
    var height: UInt64?
    var blockID: String?
    var signer: String
    var sequence: UInt64

    func render(json: Bool, label: String = "transaction") -> String {
        if json { return NodeAPI.JSONLine.render(self) }
        var lines = ["\(label):".padding(toLength: 13, withPad: " ", startingAt: 0) + id, "status:      \(status)"]
        if let height { lines.append("height:      \(height)") }
        if let blockID { lines.append("block:       \(blockID)") }
        lines.append("signer:      \(signer)")
        lines.append("sequence:    \(sequence)")
        return lines.joined(separator: "\n")
    }
}

/// Parsing shared by the governance and incident commands: each failure names the option.
enum OptionParsing {
    static func ed25519(_ text: String?, option: String) throws(CommandFailure) -> Ed25519PublicKey {
        guard let text else { throw CommandFailure("\(option) is required") }
        guard text.utf8.count == 64, let key = Ed25519PublicKey(hex: text) else {
            throw CommandFailure("\(option) must be 64 hexadecimal characters (an Ed25519 public key)")
        }
        return key
    }

    static func x25519(_ text: String, option: String) throws(CommandFailure) -> X25519PublicKey {
        guard text.utf8.count == 64, let bytes = Hex.decode(text), let key = X25519PublicKey(bytes: bytes) else {
            throw CommandFailure("\(option) must be 64 hexadecimal characters (an X25519 public key)")
        }
        return key
    }

    static func required(_ text: String?, option: String) throws(CommandFailure) -> String {
        guard let text, !text.isEmpty else { throw CommandFailure("\(option) is required") }
        return text
    }

    static func organization(_ text: String?, option: String) throws(CommandFailure) -> String {
        let name = try required(text, option: option)
        guard GenesisOrganization.isValidName(name) else {
            throw CommandFailure("\(option) must be 1-64 characters of [a-z0-9-]")
        }
        return name
    }

    /// Milliseconds since 1970, or an RFC 3339 date-time.
    static func time(_ text: String?, option: String) throws(CommandFailure) -> UInt64 {
        let text = try required(text, option: option)
        if text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }), let value = UInt64(text) {
            return value
        }
        let formatter = ISO8601DateFormatter()
        guard let date = formatter.date(from: text), date.timeIntervalSince1970 >= 0 else {
            throw CommandFailure("\(option) must be milliseconds since 1970 or an RFC 3339 date-time")
        }
        return UInt64(date.timeIntervalSince1970 * 1000)
    }

    /// A query-string value, percent-encoded.
    static func query(_ pairs: [(String, String?)]) -> String {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&+=?#")
        let parts = pairs.compactMap { name, value in
            value.map { "\(name)=\($0.addingPercentEncoding(withAllowedCharacters: allowed) ?? $0)" }
        }
        return parts.isEmpty ? "" : "?" + parts.joined(separator: "&")
    }

    /// A path segment, percent-encoded (slashes too).
    static func segment(_ text: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/?#%")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}

/// `ensure gov`: governance proposals and votes through a node's API.
struct GovernanceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gov",
        abstract: "Propose and vote on consortium changes, and list proposals.",
        subcommands: [Propose.self, Vote.self, List.self, Show.self]
    )

    /// `ensure gov propose ACTION`.
    struct Propose: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Propose a governance action, signed with an organization admin key (proposing is a vote for it).",
            discussion: """
                ACTION is one of: add-organization (--name, --admin-key, [--incident-key]), remove-organization \
                (--name), add-validator (--organization, --node-key), remove-validator (--node-key), add-plugin \
                (--organization, --plugin-key, --name), remove-plugin (--plugin-key), add-regulator (--name, \
                --regulator-key, [--incident-key]), remove-regulator (--regulator-key), add-issuer (--identifier, \
                --organization, --ledger-key, --jwk FILE..., --vct V..., --valid-from, --valid-until), \
                delist-issuer (--identifier), set-parameters (--param name=value...). Prints the proposal id.
                """
        )

        static let actions: [String: Set<String>] = [
            "add-organization": ["--name", "--admin-key", "--incident-key"],
            "remove-organization": ["--name"],
            "add-validator": ["--organization", "--node-key"],
            "remove-validator": ["--node-key"],
            "add-plugin": ["--organization", "--plugin-key", "--name"],
            "remove-plugin": ["--plugin-key"],
            "add-regulator": ["--name", "--regulator-key", "--incident-key"],
            "remove-regulator": ["--regulator-key"],
            "add-issuer": [
                "--identifier", "--organization", "--ledger-key", "--jwk", "--vct", "--valid-from", "--valid-until",
            ],
            "delist-issuer": ["--identifier"],
            "set-parameters": ["--param"],
        ]

        @Argument(help: "The action (see the discussion).")
        var action: String

        @OptionGroup var signing: SigningOptions

        @Option(name: .long, help: "Why, for the members who vote (at most 1024 bytes).")
        var rationale = ""

        @Option(name: .long, help: "An organization, plugin or regulator name.") var name: String?
        @Option(name: .customLong("admin-key"), help: "The new organization's admin key (hex).") var adminKey: String?
        @Option(name: .customLong("incident-key"), help: "X25519 key sealed details go to (hex).") var incidentKey:
            String?
        @Option(name: .long, help: "The organization that runs the validator, plugin or issuer.") var organization:
            String?
        @Option(name: .customLong("node-key"), help: "The validator's node key (hex).") var nodeKey: String?
        @Option(name: .customLong("plugin-key"), help: "The plugin's key (hex).") var pluginKey: String?
        @Option(name: .customLong("regulator-key"), help: "The regulator's key (hex).") var regulatorKey: String?
        @Option(name: .long, help: "The issuer identifier (its iss).") var identifier: String?
        @Option(name: .customLong("ledger-key"), help: "The issuer's ledger key (hex).") var ledgerKey: String?
        @Option(name: .long, help: "A P-256 public JWK file with a kid (repeatable).") var jwk: [String] = []
        @Option(name: .long, help: "A credential type the issuer may issue (repeatable).") var vct: [String] = []
        @Option(name: .customLong("valid-from"), help: "Approved from (ms since 1970 or RFC 3339).") var validFrom:
            String?
        @Option(name: .customLong("valid-until"), help: "Approved until (ms since 1970 or RFC 3339).") var validUntil:
            String?
        @Option(name: .long, help: "A parameter to change, name=value (repeatable).") var param: [String] = []

        func run() throws {
            let payload = ProposePayload(action: try buildAction(), rationale: rationale)
            print(
                try signing.submit(kind: .governancePropose, payload: payload.canonicalBytes).render(
                    json: signing.json, label: "proposal"))
        }

        /// The options given, by their flag.
        var given: [String: Bool] {
            [
                "--name": name != nil, "--admin-key": adminKey != nil, "--incident-key": incidentKey != nil,
                "--organization": organization != nil, "--node-key": nodeKey != nil, "--plugin-key": pluginKey != nil,
                "--regulator-key": regulatorKey != nil, "--identifier": identifier != nil,
                "--ledger-key": ledgerKey != nil, "--jwk": !jwk.isEmpty, "--vct": !vct.isEmpty,
                "--valid-from": validFrom != nil, "--valid-until": validUntil != nil, "--param": !param.isEmpty,
            ]
        }

        /// The action the options describe; refuses options that do not belong to it.
        func buildAction() throws -> GovernanceAction {
            guard let allowed = Self.actions[action] else {
                throw CommandFailure(
                    "unknown action \"\(action.prefix(40))\"; one of \(Self.actions.keys.sorted().joined(separator: ", "))"
                )
            }
            for (option, isGiven) in given.sorted(by: { $0.key < $1.key }) where isGiven && !allowed.contains(option) {
                throw CommandFailure("\(option) is not an option of \(action)")
            }
            guard rationale.utf8.count <= ProposePayload.maxRationaleBytes else {
                throw CommandFailure("--rationale is longer than \(ProposePayload.maxRationaleBytes) bytes")
            }
            let incident = try incidentKey.map { (text) throws(CommandFailure) in
                try OptionParsing.x25519(text, option: "--incident-key")
            }
            switch action {
            case "add-organization":
                return .addOrganization(
                    name: try OptionParsing.organization(name, option: "--name"),
                    adminKey: try OptionParsing.ed25519(adminKey, option: "--admin-key"), incidentKey: incident)
            case "remove-organization":
                return .removeOrganization(name: try OptionParsing.organization(name, option: "--name"))
            case "add-validator":
                return .addValidator(
                    ValidatorRecord(
                        nodeKey: try OptionParsing.ed25519(nodeKey, option: "--node-key"),
                        organization: try OptionParsing.organization(organization, option: "--organization")))
            case "remove-validator":
                return .removeValidator(nodeKey: try OptionParsing.ed25519(nodeKey, option: "--node-key"))
            case "add-plugin":
                let pluginName = try OptionParsing.required(name, option: "--name")
                guard pluginName.utf8.count <= RegistryLimits.nameBytes else {
                    throw CommandFailure("--name is longer than \(RegistryLimits.nameBytes) bytes")
                }
                return .addPlugin(
                    PluginRecord(
                        key: try OptionParsing.ed25519(pluginKey, option: "--plugin-key"),
                        organization: try OptionParsing.organization(organization, option: "--organization"),
                        name: pluginName))
            case "remove-plugin":
                return .removePlugin(key: try OptionParsing.ed25519(pluginKey, option: "--plugin-key"))
            case "add-regulator":
                let regulatorName = try OptionParsing.required(name, option: "--name")
                guard regulatorName.utf8.count <= RegistryLimits.nameBytes else {
                    throw CommandFailure("--name is longer than \(RegistryLimits.nameBytes) bytes")
                }
                return .addRegulator(
                    RegulatorRecord(
                        key: try OptionParsing.ed25519(regulatorKey, option: "--regulator-key"), name: regulatorName,
                        incidentKey: incident))
            case "remove-regulator":
                return .removeRegulator(key: try OptionParsing.ed25519(regulatorKey, option: "--regulator-key"))
            case "add-issuer":
                return .addIssuer(try issuer())
            case "delist-issuer":
                return .delistIssuer(identifier: try OptionParsing.required(identifier, option: "--identifier"))
            default:
                return .setParameters(try parameters())
            }
        }

        private func issuer() throws -> IssuerRecord {
            let identifier = try OptionParsing.required(identifier, option: "--identifier")
            guard identifier.utf8.count <= RegistryLimits.issuerIdentifierBytes else {
                throw CommandFailure("--identifier is longer than \(RegistryLimits.issuerIdentifierBytes) bytes")
            }
            let from = try OptionParsing.time(validFrom, option: "--valid-from")
            let until = try OptionParsing.time(validUntil, option: "--valid-until")
            guard from <= until else { throw CommandFailure("--valid-until is before --valid-from") }
            guard !jwk.isEmpty, jwk.count <= RegistryLimits.issuerKeys else {
                throw CommandFailure("--jwk is required, 1 to \(RegistryLimits.issuerKeys) times")
            }
            guard !vct.isEmpty, vct.count <= RegistryLimits.issuerTypes, Set(vct).count == vct.count else {
                throw CommandFailure("--vct is required, 1 to \(RegistryLimits.issuerTypes) distinct types")
            }
            let keys = try jwk.map { try Self.readJWK($0, notBefore: from, notAfter: until) }
            guard Set(keys.map(\.keyID)).count == keys.count else {
                throw CommandFailure("--jwk: two keys share a kid")
            }
            return IssuerRecord(
                identifier: identifier,
                organization: try OptionParsing.organization(organization, option: "--organization"),
                ledgerKey: try OptionParsing.ed25519(ledgerKey, option: "--ledger-key"), signingKeys: keys,
                credentialTypes: vct, validFrom: from, validUntil: until)
        }

        /// A P-256 public JWK file: `kty` EC, `crv` P-256, `kid`, and 32-byte base64url `x` and `y`.
        static func readJWK(_ path: String, notBefore: UInt64, notAfter: UInt64) throws -> IssuerSigningKey {
            struct JWK: Decodable {
                var kty: String?
                var crv: String?
                var kid: String?
                var x: String?
                var y: String?
                var d: String?
            }
            guard let data = FileManager.default.contents(atPath: path) else {
                throw CommandFailure("--jwk \(path) cannot be read")
            }
            guard let key = try? JSONDecoder().decode(JWK.self, from: data) else {
                throw CommandFailure("--jwk \(path) is not a JSON object")
            }
            guard key.d == nil else {
                throw CommandFailure("--jwk \(path) holds a private key (d); give the public JWK")
            }
            guard key.kty == "EC", key.crv == "P-256" else {
                throw CommandFailure("--jwk \(path) is not an EC P-256 key")
            }
            guard let kid = key.kid, !kid.isEmpty, kid.utf8.count <= RegistryLimits.keyIDBytes else {
                throw CommandFailure("--jwk \(path) needs a kid of 1 to \(RegistryLimits.keyIDBytes) bytes")
            }
            guard let xText = key.x, let x = try? Base64.decodeURL(xText), x.count == 32 else {
                throw CommandFailure("--jwk \(path): x must be 32 bytes of base64url")
            }
            guard let yText = key.y, let y = try? Base64.decodeURL(yText), y.count == 32 else {
                throw CommandFailure("--jwk \(path): y must be 32 bytes of base64url")
            }
            return IssuerSigningKey(keyID: kid, x: x, y: y, notBefore: notBefore, notAfter: notAfter)
        }

        /// The current parameters (from the node) with the named ones changed.
        private func parameters() throws -> GenesisParameters {
            var changes: [String: UInt64] = [:]
            for item in param {
                let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, let value = UInt64(parts[1]) else {
                    throw CommandFailure("--param \(item.prefix(80)) must be name=value with a decimal value")
                }
                guard ParametersAnswer.names.contains(parts[0]) else {
                    throw CommandFailure(
                        "--param \(parts[0].prefix(64)) is not a parameter; one of \(ParametersAnswer.names.joined(separator: ", "))"
                    )
                }
                changes[parts[0]] = value
            }
            guard !changes.isEmpty else { throw CommandFailure("--param is required") }
            let client = try NodeClient(url: signing.node)
            let current: ParametersAnswer = try client.get("/v1/parameters")
            var values = current.parameters
            for (name, value) in changes { values[name] = value }
            let parameters = try ParametersAnswer.make(values)
            do { try parameters.validate() } catch { throw CommandFailure("\(error)") }
            return parameters
        }
    }

    /// `ensure gov vote`.
    struct Vote: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Vote for or against a proposal.")

        @Option(name: .long, help: "The proposal id (64 hexadecimal characters).")
        var proposal: String

        @Flag(name: .long, help: "Vote for.") var approve = false
        @Flag(name: .long, help: "Vote against.") var reject = false

        @OptionGroup var signing: SigningOptions

        func run() throws {
            guard proposal.utf8.count == 64, let id = Digest(hex: proposal) else {
                throw CommandFailure("--proposal must be 64 hexadecimal characters")
            }
            guard approve != reject else { throw CommandFailure("give exactly one of --approve and --reject") }
            let payload = VotePayload(proposal: id, approve: approve)
            print(try signing.submit(kind: .governanceVote, payload: payload.canonicalBytes).render(json: signing.json))
        }
    }

    /// `ensure gov list`.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List proposals, newest first.")

        @Option(name: .long, help: "The node's API URL.") var node: String
        @Option(name: .long, help: "open, passed, rejected, failed or expired.") var status: String?
        @Flag(name: .long, help: "Print one JSON object instead of text.") var json = false

        func run() throws {
            if let status, !["open", "passed", "rejected", "failed", "expired"].contains(status) {
                throw CommandFailure("--status must be open, passed, rejected, failed or expired")
            }
            let client = try NodeClient(url: node)
            let answer: ProposalsAnswer = try client.get("/v1/proposals" + OptionParsing.query([("status", status)]))
            if json {
                print(NodeAPI.JSONLine.render(answer))
                return
            }
            print("height \(answer.height): \(answer.proposals.count) proposal(s)")
            for proposal in answer.proposals {
                print(proposal.line)
            }
        }
    }

    /// `ensure gov show`.
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one proposal and its votes.")

        @Option(name: .long, help: "The node's API URL.") var node: String
        @Argument(help: "The proposal id.") var id: String
        @Flag(name: .long, help: "Print one JSON object instead of text.") var json = false

        func run() throws {
            guard id.utf8.count == 64, let digest = Digest(hex: id) else {
                throw CommandFailure("proposal id must be 64 hexadecimal characters")
            }
            let client = try NodeClient(url: node)
            guard let answer: ProposalAnswer = try client.getIfFound("/v1/proposals/\(digest.hex)") else {
                throw CommandFailure("node \(client.base) knows no proposal \(digest.hex)")
            }
            if json {
                print(NodeAPI.JSONLine.render(answer))
                return
            }
            let p = answer.proposal
            var lines = [
                p.line, "rationale: \(p.rationale)",
                "created \(p.createdHeight), expires \(p.expiresHeight)"
                    + (p.decidedHeight.map { ", decided \($0)" } ?? ""),
            ]
            if let reason = p.failureReason { lines.append("failure: \(reason)") }
            for vote in p.votes { lines.append("  \(vote.organization): \(vote.approve ? "approve" : "reject")") }
            print(lines.joined(separator: "\n"))
        }
    }
}

/// `GET /v1/parameters`.
struct ParametersAnswer: Codable {
    static let names = [
        "max_block_bytes", "max_block_transactions", "mempool_max_transactions", "mempool_max_bytes",
        "proposal_expiry_blocks", "epoch_length_blocks", "base_round_timeout_ms", "max_round_timeout_ms",
    ]

    var height: UInt64
    var parameters: [String: UInt64]

    static func make(_ values: [String: UInt64]) throws(CommandFailure) -> GenesisParameters {
        func value(_ name: String) throws(CommandFailure) -> UInt64 {
            guard let value = values[name] else { throw CommandFailure("the node's parameters lack \(name)") }
            return value
        }
        return GenesisParameters(
            maxBlockBytes: try value(names[0]), maxBlockTransactions: try value(names[1]),
            mempoolMaxTransactions: try value(names[2]), mempoolMaxBytes: try value(names[3]),
            proposalExpiryBlocks: try value(names[4]), epochLengthBlocks: try value(names[5]),
            baseRoundTimeoutMs: try value(names[6]), maxRoundTimeoutMs: try value(names[7]))
    }
}

/// A proposal as the CLI reads it (the action stays a JSON object it prints as given).
struct ProposalJSON: Codable {
    struct Action: Codable {
        var type: String
        var name: String?
        var organization: String?
        var identifier: String?
        var key: String?
        var nodeKey: String?
    }

    struct Vote: Codable {
        var organization: String
        var approve: Bool
    }

    var id: String
    var proposer: String
    var action: Action
    var rationale: String
    var createdHeight: UInt64
    var expiresHeight: UInt64
    var decidedHeight: UInt64?
    var votes: [Vote]
    var status: String
    var failureReason: String?

    var line: String {
        let target = [action.name, action.organization, action.identifier, action.key, action.nodeKey]
            .compactMap { $0 }.joined(separator: " ")
        return "\(id)  \(status)  \(action.type) \(target)  by \(proposer)"
    }
}

/// `GET /v1/proposals`.
struct ProposalsAnswer: Codable {
    var height: UInt64
    var proposals: [ProposalJSON]
}

/// `GET /v1/proposals/{id}`.
struct ProposalAnswer: Codable {
    var height: UInt64
    var proposal: ProposalJSON
}
