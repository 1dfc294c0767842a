import Credentials
import Ledger

// The JSON Schemas of the answers, one per Codable body in Responses.swift, LedgerResponses.swift,
// AuthRoutes.swift and CredentialRoutes.swift. Enumerations come from the code's own cases, so that a new case
// shows up here without an edit.

extension OpenAPIDocument {
    /// `components.schemas`, in the order the document lists them.
    static var schemas: [(String, OpenAPIValue)] {
        nodeSchemas + registrySchemas + proposalSchemas + incidentSchemas + logSchemas + accessSchemas
            + credentialSchemas + problemSchemas
    }

    private static func hex(_ description: String) -> OpenAPIValue { Schema.hex32(description) }

    /// A submission's answer when the transaction is pending, alone or in a batch.
    private static let submissionPending = Schema.object([
        "id": hex("the transaction id"), "status": Schema.constant("pending"),
    ])

    /// A submission's answer when the transaction committed earlier, alone or in a batch.
    private static let submissionCommitted = Schema.object([
        "id": hex("the transaction id"), "status": Schema.constant("committed"),
        "height": Schema.uint64("the height that committed it earlier"),
    ])

    private static var nodeSchemas: [(String, OpenAPIValue)] {
        [
            ("Health", Schema.object(["status": Schema.constant("ok")])),
            (
                "Status",
                Schema.object([
                    "chainID": Schema.string("the chain; every transaction must name it"),
                    "nodeKey": hex("the node's Ed25519 public key"),
                    "role": Schema.enumeration(["validator", "observer"], "the node's role"),
                    "height": Schema.uint64("height of the last committed block"),
                    "blockID": hex("id of the last committed block"),
                    "round": Schema.uint64("the consensus round the node is in"),
                    "epoch": Schema.uint64("the current epoch"),
                    "peers": Schema.array(hex("a connected peer's key"), "keys of the peers connected now"),
                    "mempool": Schema.object([
                        "transactions": Schema.uint64("pending transactions"),
                        "bytes": Schema.uint64("their canonical size in bytes"),
                    ]),
                    "syncing": Schema.boolean("true while the node fetches committed blocks to catch up"),
                ])
            ),
            (
                "SubmissionRequest",
                Schema.requestObject([
                    "transaction": Schema.base64("the canonical transaction bytes (docs/encoding.md)")
                ])
            ),
            ("Submission", ["oneOf": [submissionPending, submissionCommitted]]),
            (
                "BatchSubmissionRequest",
                Schema.requestObject([
                    "transactions": Schema.array(
                        Schema.base64("the canonical transaction bytes (docs/encoding.md)"),
                        "1 to 512 transactions, admitted in this order")
                ])
            ),
            (
                "BatchSubmission",
                Schema.object([
                    "results": Schema.array(
                        [
                            "oneOf": [
                                submissionPending, submissionCommitted,
                                Schema.object([
                                    "status": Schema.constant("rejected"),
                                    "code": Schema.enumeration(
                                        SubmissionRejection.Code.allCases.map(\.rawValue),
                                        "why: the problem code POST /v1/transactions would answer with"),
                                    "detail": Schema.string("what exactly was wrong"),
                                ]),
                            ]
                        ], "one result per submitted transaction, at its position")
                ])
            ),
            ("TransactionStatus", transactionStatus),
            ("Certificate", certificate),
            ("Block", block),
            (
                "BlockEvent",
                Schema.object(
                    [
                        "height": Schema.uint64("the block height (also the event id)"),
                        "id": hex("the block id"), "epoch": Schema.uint64("the epoch"),
                        "round": Schema.uint64("the consensus round"), "parentID": hex("the parent block id"),
                        "proposer": hex("the proposing validator's key"),
                        "timestamp": Schema.uint64("the block time, ms since 1970"),
                        "transactionRoot": hex("RFC 9162 root over the transaction ids"),
                        "transactionCount": Schema.uint64("transactions in the block"),
                        "incidentLogSize": Schema.uint64("incident log size after the block"),
                        "incidentLogRoot": hex("incident log root after the block"),
                        "stateRoot": hex("the state root after the block"),
                        "validatorSetHash": hex("the hash of the validator set that certified it"),
                    ], description: "the data of one `block` event: the committed block's header fields")
            ),
            (
                "Notarization",
                Schema.object([
                    "digest": hex("the notarized SHA-256"),
                    "label": Schema.string("the label given when notarizing"),
                    "signer": hex("the organization admin key that signed"),
                    "transactionID": hex("the notarize transaction"),
                    "height": Schema.uint64("the committing block"),
                    "timestamp": Schema.uint64("the committing block's time, ms since 1970"),
                ])
            ),
            (
                "Account",
                Schema.object([
                    "key": hex("the key asked about"),
                    "nextSequence": Schema.uint64("the sequence number the key's next transaction should carry"),
                ])
            ),
        ]
    }

    private static var transactionStatus: OpenAPIValue {
        let id = hex("the transaction id")
        return [
            "oneOf": [
                Schema.object(["id": id, "status": Schema.constant("pending")]),
                Schema.object([
                    "id": id, "status": Schema.constant("committed"), "height": Schema.uint64("the block height"),
                    "index": Schema.uint64("the position in the block"), "blockID": hex("the block id"),
                ]),
                Schema.object([
                    "id": id, "status": Schema.constant("failed"), "height": Schema.uint64("the block height"),
                    "index": Schema.uint64("the position in the block"), "blockID": hex("the block id"),
                    "code": Schema.string("why execution failed, stable"),
                    "reason": Schema.string("why execution failed, for people"),
                ]),
                Schema.object([
                    "id": id, "status": Schema.constant("dropped"),
                    "reason": Schema.string("why it left the mempool without committing"),
                ]),
            ]
        ]
    }

    private static var certificate: OpenAPIValue {
        Schema.object(
            [
                "round": Schema.uint64("the certified round"),
                "blockID": hex("the certified block id"),
                "signers": Schema.array(hex("a validator's node key"), "the validators whose votes it holds"),
            ], description: "a quorum certificate, summarized")
    }

    /// The members of a block header, as the block answer and the checkpoint's `header` show them.
    private static var headerMembers: KeyValuePairs<String, OpenAPIValue> {
        [
            "chainID": Schema.string("the chain"),
            "epoch": Schema.uint64("the epoch"),
            "height": Schema.uint64("the height"),
            "round": Schema.uint64("the round it was proposed in"),
            "parentID": hex("the parent block's id"),
            "proposer": hex("the proposing validator's node key"),
            "timestamp": Schema.uint64("the block time, ms since 1970"),
            "transactionRoot": hex("RFC 9162 root over the transaction ids"),
            "transactionCount": Schema.uint64("the number of transactions"),
            "incidentLogSize": Schema.uint64("the incident log's size after this block"),
            "incidentLogRoot": hex("the incident log's root after this block"),
            "stateRoot": hex("the application state root after this block"),
            "validatorSetHash": hex("the hash of the validator set that certifies this block"),
        ]
    }

    private static var nextValidatorSetHash: KeyValuePairs<String, OpenAPIValue> {
        ["nextValidatorSetHash": hex("the next epoch's validator set, in the last block of an epoch")]
    }

    private static var block: OpenAPIValue {
        var required = Array(headerMembers).map { ($0.key, $0.value) }
        required.insert(("id", hex("the block id: the tagged SHA-256 of headerBytes")), at: 2)
        required += [
            ("transactions", Schema.array(hex("a transaction id"), "the transaction ids in block order")),
            ("certificate", Schema.ref("Certificate")),
            ("headerBytes", Schema.base64("the canonical BlockHeader; its id is what the certificate signs")),
            ("certificateBytes", Schema.base64("the canonical QuorumCertificate stored with the block")),
        ]
        let optional: [(String, OpenAPIValue)] =
            nextValidatorSetHash.map { ($0.key, $0.value) } + [
                (
                    "block",
                    Schema.base64(
                        "the canonical Block (header, justifying certificate, transactions); only for requests "
                            + "authenticated as a member's or a regulator's key")
                )
            ]
        return strict(
            required: required, optional: optional,
            description: "a committed block's certified header; with the block's bytes for members and regulators")
    }

    /// ``Schema/object`` from arrays rather than literals.
    private static func strict(
        required: [(String, OpenAPIValue)], optional: [(String, OpenAPIValue)] = [], description: String? = nil
    ) -> OpenAPIValue {
        var members: [(String, OpenAPIValue)] = [("type", "object")]
        if let description { members.append(("description", .string(description))) }
        members.append(("properties", .object(required + optional)))
        members.append(("required", .array(required.map { .string($0.0) })))
        members.append(("additionalProperties", false))
        return .object(members)
    }

    // MARK: Registries

    private static var registrySchemas: [(String, OpenAPIValue)] {
        let height = Schema.uint64("the committed height the answer was read at")
        let organization = Schema.string(pattern: "^[a-z0-9-]{1,64}$", "an organization name")
        let parameterNames = GenesisParameters().namedValues.keys.sorted()
        return [
            (
                "Organizations",
                Schema.object([
                    "height": height,
                    "organizations": Schema.array(
                        Schema.object(
                            [
                                "name": organization, "adminKey": hex("the organization's admin key"),
                                "joinedHeight": Schema.uint64("the height it joined at"),
                            ], optional: ["incidentKey": hex("X25519 key that sealed incident details go to")])),
                ])
            ),
            (
                "Validators",
                Schema.object([
                    "height": height,
                    "validators": Schema.array(
                        Schema.object(["nodeKey": hex("the validator's node key"), "organization": organization])),
                ])
            ),
            (
                "Plugins",
                Schema.object([
                    "height": height,
                    "plugins": Schema.array(
                        Schema.object([
                            "key": hex("the plugin's key"), "organization": organization,
                            "name": Schema.string("the plugin's name"),
                        ])),
                ])
            ),
            (
                "Regulators",
                Schema.object([
                    "height": height,
                    "regulators": Schema.array(
                        Schema.object(
                            ["key": hex("the regulator's key"), "name": Schema.string("the regulator's name")],
                            optional: ["incidentKey": hex("X25519 key that sealed incident details go to")])),
                ])
            ),
            (
                "Issuer",
                Schema.object([
                    "identifier": Schema.string("the issuer identifier (its `iss`)"),
                    "organization": organization,
                    "ledgerKey": hex("the key that signs the issuer's status-list transactions"),
                    "signingKeys": Schema.array(
                        Schema.object(
                            [
                                "kid": Schema.string("key id"), "kty": Schema.constant("EC"),
                                "crv": Schema.constant("P-256"), "x": Schema.base64url("x coordinate"),
                                "y": Schema.base64url("y coordinate"),
                                "notBefore": Schema.uint64("valid from, ms since 1970"),
                                "notAfter": Schema.uint64("valid until, ms since 1970"),
                            ],
                            optional: [
                                "retiredFrom": Schema.uint64(
                                    "ms since 1970: retired by the issuer; credentials issued later are refused"),
                                "revokedAt": Schema.uint64(
                                    "ms since 1970 (block time): revoked by the issuer; everything it signed is refused"
                                ),
                            ]), "P-256 public JWKs"),
                    "credentialTypes": Schema.array(Schema.string("a vct"), "the credential types it may issue"),
                    "validFrom": Schema.uint64("ms since 1970"),
                    "validUntil": Schema.uint64("ms since 1970"),
                    "delisted": Schema.boolean("true once governance delisted it"),
                ])
            ),
            ("Issuers", Schema.object(["height": height, "issuers": Schema.array(Schema.ref("Issuer"))])),
            ("IssuerAnswer", Schema.object(["height": height, "issuer": Schema.ref("Issuer")])),
            ("ParameterValues", parameterValues(parameterNames)),
            ("Parameters", Schema.object(["height": height, "parameters": Schema.ref("ParameterValues")])),
        ]
    }

    private static func parameterValues(_ names: [String]) -> OpenAPIValue {
        strict(
            required: names.map { ($0, Schema.uint64("the genesis parameter \($0)")) },
            description: "the chain parameters by their genesis-file names")
    }

    // MARK: Proposals

    private static var proposalSchemas: [(String, OpenAPIValue)] {
        let height = Schema.uint64("the committed height the answer was read at")
        return [
            ("Action", action),
            (
                "Proposal",
                Schema.object(
                    [
                        "id": hex("the proposal id (its transaction's id)"),
                        "proposer": Schema.string("the proposing organization"),
                        "action": Schema.ref("Action"),
                        "rationale": Schema.string("why, as the proposer wrote it"),
                        "createdHeight": Schema.uint64("the height it was proposed at"),
                        "expiresHeight": Schema.uint64("the height after which it can no longer pass"),
                        "votes": Schema.array(
                            Schema.object([
                                "organization": Schema.string("the voting organization"),
                                "approve": Schema.boolean("its vote"),
                            ])),
                        "status": Schema.enumeration(
                            ProposalStatusName.allCases.map(\.rawValue), "the status at the committed height"),
                    ],
                    optional: [
                        "decidedHeight": Schema.uint64("the height it passed, failed or was rejected at"),
                        "failureReason": Schema.string("why a passed proposal's action no longer applied"),
                    ])
            ),
            (
                "Proposals",
                Schema.object(["height": height, "proposals": Schema.array(Schema.ref("Proposal"))])
            ),
            ("ProposalAnswer", Schema.object(["height": height, "proposal": Schema.ref("Proposal")])),
        ]
    }

    /// One strict object per governance action type, told apart by `type`.
    private static var action: OpenAPIValue {
        let name = Schema.string("an organization or regulator name")
        let key = hex("an Ed25519 key")
        let incidentKey = hex("an X25519 key that sealed details go to")
        let variants: [OpenAPIValue] = [
            Schema.object(
                ["type": Schema.constant("add-organization"), "name": name, "adminKey": key],
                optional: ["incidentKey": incidentKey]),
            Schema.object(["type": Schema.constant("remove-organization"), "name": name]),
            Schema.object(["type": Schema.constant("add-validator"), "nodeKey": key, "organization": name]),
            Schema.object(["type": Schema.constant("remove-validator"), "nodeKey": key]),
            Schema.object(["type": Schema.constant("add-plugin"), "key": key, "organization": name, "name": name]),
            Schema.object(["type": Schema.constant("remove-plugin"), "key": key]),
            Schema.object([
                "type": Schema.constant("add-issuer"), "identifier": Schema.string("the issuer identifier"),
                "issuer": Schema.ref("Issuer"),
            ]),
            Schema.object([
                "type": Schema.constant("delist-issuer"), "identifier": Schema.string("the issuer identifier"),
            ]),
            Schema.object(
                ["type": Schema.constant("add-regulator"), "key": key, "name": name],
                optional: ["incidentKey": incidentKey]),
            Schema.object(["type": Schema.constant("remove-regulator"), "key": key]),
            Schema.object([
                "type": Schema.constant("set-parameters"), "parameters": Schema.ref("ParameterValues"),
            ]),
        ]
        return ["description": "a governance action; `type` names it", "oneOf": .array(variants)]
    }

    // MARK: Incidents

    private static var incidentSchemas: [(String, OpenAPIValue)] {
        let height = Schema.uint64("the committed height the answer was read at")
        let statuses = IncidentStatus.allCases.map(\.name)
        return [
            (
                "Incident",
                Schema.object([
                    "organization": Schema.string("the reporting organization"),
                    "id": Schema.string("the client-chosen incident id"),
                    "reporter": hex("the reporting key (plugin or admin)"),
                    "status": Schema.enumeration(statuses, "the incident's current status"),
                    "detectedAt": Schema.uint64("detection time, ms since 1970"),
                    "category": Schema.string("an ENISA RSIT class/type"),
                    "severity": [
                        "type": "integer",
                        "enum": .array(IncidentSeverity.allCases.map { .integer(Int64($0.rawValue)) }),
                        "description": "the OCSF severity id",
                    ],
                    "severityName": Schema.enumeration(IncidentSeverity.allCases.map(\.name), "the OCSF severity name"),
                    "asset": Schema.string("the affected asset"),
                    "detector": Schema.string("the detector or product"),
                    "summary": Schema.string("a summary"),
                    "evidenceDigest": hex("SHA-256 of the raw evidence bytes"),
                    "evidenceURIs": Schema.array(Schema.string("where the evidence is kept")),
                    "sealedTo": Schema.array(hex("an X25519 recipient key"), "recipients of sealed details"),
                    "links": Schema.array(Schema.string("organization:id of a linked incident")),
                    "reportLeaf": Schema.uint64("the incident log leaf of the report"),
                    "reportedHeight": Schema.uint64("the height that committed the report"),
                    "reportedAt": Schema.uint64("that block's time, ms since 1970"),
                    "updates": Schema.uint64("how many lifecycle updates it has"),
                ])
            ),
            (
                "Incidents",
                Schema.object(
                    ["height": height, "incidents": Schema.array(Schema.ref("Incident"))],
                    optional: ["nextCursor": Schema.base64url("the cursor of the next page; absent on the last")])
            ),
            (
                "IncidentDetail",
                Schema.object([
                    "height": height,
                    "incident": Schema.ref("Incident"),
                    "transactionID": hex("the report transaction"),
                    "updates": Schema.array(
                        Schema.object([
                            "leaf": Schema.uint64("its incident log leaf"),
                            "status": Schema.enumeration(statuses, "the status it set"),
                            "note": Schema.string("the note"),
                            "links": Schema.array(Schema.string("organization:id of a linked incident")),
                            "height": Schema.uint64("the committing height"),
                            "timestamp": Schema.uint64("that block's time, ms since 1970"),
                            "signer": hex("the signing key"),
                            "transactionID": hex("the update transaction"),
                        ])),
                ])
            ),
        ]
    }

    // MARK: Incident log

    private static var logSchemas: [(String, OpenAPIValue)] {
        let height = Schema.uint64("the committed height the answer was read at")
        let header = strict(
            required: Array(headerMembers).map { ($0.key, $0.value) },
            optional: nextValidatorSetHash.map { ($0.key, $0.value) }, description: "a block header")
        return [
            ("Header", header),
            (
                "Checkpoint",
                Schema.object([
                    "size": Schema.uint64("the incident log's size"),
                    "root": hex("the incident log's RFC 9162 root"),
                    "height": Schema.uint64("the certified block's height"),
                    "blockID": hex("the certified block's id"),
                    "header": Schema.ref("Header"),
                    "headerBytes": Schema.base64("the canonical BlockHeader"),
                    "certificate": Schema.ref("Certificate"),
                    "certificateBytes": Schema.base64("the canonical QuorumCertificate"),
                ])
            ),
            (
                "Leaf",
                Schema.object(
                    [
                        "height": height,
                        "index": Schema.uint64("the leaf index"),
                        "leafHash": hex("RFC 9162 leaf hash of bytes"),
                        "bytes": Schema.base64("the canonical IncidentLogEntry"),
                        "blockHeight": Schema.uint64("the committing height"),
                        "timestamp": Schema.uint64("that block's time, ms since 1970"),
                        "organization": Schema.string("the reporting organization"),
                        "kind": Schema.string(pattern: "^[a-z0-9()-]+$", "the transaction kind (incident-report)"),
                        "signer": hex("the signing key"),
                        "sequence": Schema.uint64("the signer's sequence number"),
                        "transactionID": hex("the transaction id"),
                    ],
                    optional: [
                        "incidentID": Schema.string("the incident a report or update is about"),
                        "status": Schema.enumeration(IncidentStatus.allCases.map(\.name), "the status it set"),
                    ])
            ),
            (
                "InclusionProof",
                Schema.object([
                    "height": height,
                    "leafIndex": Schema.uint64("the leaf"),
                    "treeSize": Schema.uint64("the tree size the proof is for"),
                    "leafHash": hex("the leaf's RFC 9162 hash"),
                    "root": hex("the root at treeSize"),
                    "proof": Schema.array(hex("a node hash"), "the RFC 9162 audit path"),
                ])
            ),
            (
                "ConsistencyProof",
                Schema.object([
                    "height": height,
                    "from": Schema.uint64("the older size"),
                    "to": Schema.uint64("the newer size"),
                    "oldRoot": hex("the root at from"),
                    "newRoot": hex("the root at to"),
                    "proof": Schema.array(hex("a node hash"), "the RFC 9162 consistency proof"),
                ])
            ),
        ]
    }

    // MARK: Access

    private static var accessSchemas: [(String, OpenAPIValue)] {
        [
            (
                "Challenge",
                Schema.object([
                    "challenge": Schema.base64url("32 random bytes, single use"),
                    "expiresAt": Schema.uint64("when it can no longer be answered, ms since 1970"),
                ])
            ),
            (
                "TokenRequest",
                Schema.requestObject([
                    "publicKey": Schema.string(pattern: "^[0-9a-fA-F]{64}$", "the Ed25519 key, hex"),
                    "challenge": Schema.base64url("the challenge as handed out"),
                    "signature": Schema.base64(
                        "Ed25519 signature, in the api/request signing domain, over \"ensure/auth-token/v1\" ‖ "
                            + "chain id ‖ the 32 challenge bytes"),
                ])
            ),
            (
                "Token",
                Schema.object(
                    [
                        "token": Schema.base64url("32 random bytes: send as Authorization: Bearer <token>"),
                        "expiresAt": Schema.uint64("ms since 1970"),
                        "role": Schema.enumeration(
                            [AccessRole.organizationAdmin, .plugin, .regulator].map(\.rawValue), "the key's role"),
                        "key": hex("the key the token stands for"),
                    ], optional: ["organization": Schema.string("the key's organization; absent for a regulator")])
            ),
        ]
    }

    // MARK: Credentials

    private static var credentialSchemas: [(String, OpenAPIValue)] {
        let thresholds: OpenAPIValue = .array(AgeProfile.thresholds.map { .integer(Int64($0)) })
        return [
            (
                "PresentationRequestCreate",
                Schema.requestObject(
                    ["over": ["type": "integer", "enum": thresholds, "description": "the age threshold to prove"]],
                    optional: [
                        "audience": Schema.string(
                            pattern: "^[!-~]{1,256}$", "the verifier's audience; the node's own when absent")
                    ])
            ),
            (
                "PresentationRequest",
                Schema.object([
                    "nonce": Schema.string("the fresh nonce the presentation must bind"),
                    "audience": Schema.string("the audience it must name"),
                    "over": ["type": "integer", "enum": thresholds],
                    "expiresAt": Schema.uint64("Unix seconds after which the nonce is refused"),
                    "command": Schema.string("the wallet command that answers it"),
                ])
            ),
            (
                "VerifyRequest",
                Schema.requestObject([
                    "nonce": Schema.string("the nonce of a presentation request"),
                    "presentation": Schema.string("the SD-JWT VC presentation with key binding, at most 64 KiB"),
                ])
            ),
            (
                "Verification",
                Schema.object([
                    "accepted": ["type": "boolean", "const": true],
                    "over": ["type": "integer", "enum": thresholds],
                    "holds": Schema.boolean("whether the holder is over the threshold"),
                    "answeredBy": Schema.string(pattern: "^age_over_[0-9]+$", "the disclosed claim that answered"),
                    "disclosed": [
                        "type": "object", "propertyNames": ["pattern": "^age_over_[0-9]+$"],
                        "additionalProperties": ["type": "boolean"],
                        "description": "every age claim the presentation disclosed",
                    ],
                    "issuer": Schema.string("the issuer identifier"),
                    "vct": Schema.string("the credential type"),
                ])
            ),
            (
                "StatusList",
                Schema.object([
                    "height": Schema.uint64("the committed height the answer was read at"),
                    "uri": Schema.string("the status list URI"),
                    "issuer": Schema.string("the issuer identifier"),
                    "version": Schema.uint64("the list version"),
                    "token": Schema.string(pattern: "^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]*$", "the JWT"),
                    "publishedHeight": Schema.uint64("the height that committed this version"),
                    "publishedAt": Schema.uint64("that block's time, ms since 1970"),
                ])
            ),
            (
                "IssuerMetadata",
                Schema.object(
                    [
                        "issuer": Schema.string("the issuer identifier"),
                        "jwks": Schema.object([
                            "keys": Schema.array(
                                Schema.object([
                                    "kty": Schema.constant("EC"), "crv": Schema.constant("P-256"),
                                    "x": Schema.base64url("x coordinate"), "y": Schema.base64url("y coordinate"),
                                    "kid": Schema.string("key id"), "alg": Schema.constant("ES256"),
                                    "use": Schema.constant("sig"),
                                ]))
                        ]),
                    ], description: "JWT VC Issuer Metadata (draft-ietf-oauth-sd-jwt-vc)")
            ),
        ]
    }

    // MARK: Problems

    private static var problemSchemas: [(String, OpenAPIValue)] {
        [
            (
                "Problem",
                Schema.object(
                    [
                        "type": Schema.string(
                            pattern: "^urn:ensure:problem:[a-z0-9-]+$", "urn:ensure:problem:<code>, stable"),
                        "title": Schema.string("depends only on the code"),
                        "status": ["type": "integer", "minimum": 400, "maximum": 599],
                        "detail": Schema.string("what exactly was wrong, for people"),
                    ], description: "an RFC 9457 problem document")
            ),
            (
                "PresentationRefusal",
                Schema.object(
                    [
                        "type": Schema.string(
                            pattern: "^urn:ensure:problem:presentation-[a-z-]+$",
                            "urn:ensure:problem:presentation-<refusal with - for _>"),
                        "title": Schema.string("depends only on the refusal"),
                        "status": ["type": "integer", "const": 422],
                        "detail": Schema.string("exactly why, for people"),
                        "refusal": Schema.string(pattern: "^[a-z_]+$", "the verifier's stable snake_case code"),
                        "accepted": ["type": "boolean", "const": false],
                    ], description: "an RFC 9457 problem document for a refused presentation")
            ),
        ]
    }
}
