import Credentials
import Hummingbird
import Ledger
import NIOCore

/// The OpenAPI 3.1 description of the node's API, served at `GET /openapi.json` (docs/api.md). It is built in
/// Swift and kept in the binary, so a copied `ensure-node` serves it without resource files.
/// Tests/APITests/OpenAPITests.swift holds it to the server: its operations are exactly the router's routes,
/// and real answers to requests of every operation have a listed status and validate against the listed schema.
enum OpenAPIDocument {
    /// The OpenAPI version the document follows.
    static let openAPIVersion = "3.1.0"
    /// The JSON Schema dialect of its schemas.
    static let dialect = "https://json-schema.org/draft/2020-12/schema"
    /// The media type of problem documents.
    static let problemMediaType = "application/problem+json"

    /// The serialized document, built once.
    static let body: [UInt8] = document.json.serializedBytes

    /// `GET /openapi.json`.
    static func response() -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// The whole document.
    static var document: OpenAPIValue {
        [
            "openapi": .string(openAPIVersion),
            "jsonSchemaDialect": .string(dialect),
            "info": [
                "title": "Ensure node API",
                "version": "1",
                "summary": "Submit transactions to an Ensure node and read its committed ledger.",
                "description": .string(infoDescription),
            ],
            "tags": .array(tags.map { ["name": .string($0.0), "description": .string($0.1)] }),
            "paths": paths,
            "components": [
                "schemas": .object(schemas),
                "securitySchemes": securitySchemes,
            ],
        ]
    }

    private static let infoDescription = """
        Every node serves this API (docs/api.md in the repository describes each route with examples). \
        Answers are JSON; keys, digests and ids are lowercase hex, binary blobs standard padded Base64, \
        integers JSON numbers (timestamps are milliseconds since 1970). Every refusal is an RFC 9457 problem \
        document (application/problem+json) whose `type` is `urn:ensure:problem:<code>`; each response below \
        lists the codes it can carry; in rare cases the HTTP layer refuses a request before any route runs (a \
        malformed request line, for example), with `urn:ensure:problem:http-<status>`. Request bodies are limited \
        to 1 MiB. Incident details, the incident query \
        routes and incident log leaves are for members and regulators: requests signed with HTTP Message \
        Signatures (RFC 9421, Ed25519) or carrying a bearer token obtained by signing a challenge. Certified \
        headers, registries, status lists and health are public; a block's canonical bytes are for members and \
        regulators too.
        """

    private static let tags: [(String, String)] = [
        ("node", "Health, status and this document"),
        ("transactions", "Submitting transactions and following them"),
        ("blocks", "Committed blocks and their certified headers"),
        ("registries", "Members, validators, plugins, issuers, regulators and parameters in committed state"),
        ("governance", "Governance proposals"),
        ("incidents", "Incident records (members and regulators)"),
        ("incident-log", "The RFC 9162 incident log: checkpoint, leaves and proofs"),
        ("access", "Bearer tokens for members and regulators"),
        ("credentials", "Age verification: presentation requests, verification, status lists, issuer metadata"),
        ("events", "Server-sent event streams"),
    ]

    // MARK: Security

    /// The three schemes. An RFC 9421 signature needs both of its header fields, so it is two `apiKey`
    /// schemes that a requirement lists together.
    private static var securitySchemes: OpenAPIValue {
        [
            "httpSignatureInput": [
                "type": "apiKey", "in": "header", "name": "Signature-Input",
                "description": .string(signatureDescription),
            ],
            "httpSignature": [
                "type": "apiKey", "in": "header", "name": "Signature",
                "description": .string(
                    "RFC 9421 `Signature` field: `ensure=:<Base64 of the Ed25519 signature>:`, sent with "
                        + "`Signature-Input` (see httpSignatureInput)."),
            ],
            "bearerToken": [
                "type": "http", "scheme": "bearer", "bearerFormat": "32 random bytes, base64url",
                "description": "A token from POST /v1/auth/token, valid 15 minutes, bound to the key and its role.",
            ],
        ]
    }

    private static let signatureDescription = """
        HTTP Message Signatures (RFC 9421) with Ed25519: `Signature-Input: ensure=("@method" "@authority" \
        "@path" "@query");created=<unix seconds>;keyid="<64 lowercase hex Ed25519 public key>";\
        nonce="<16-128 characters, new each request>";alg="ed25519"`. `created` at most 30 s ahead and 300 s \
        old; a request with a body also covers `content-digest` and sends `Content-Digest: sha-256=:<Base64>:` \
        (RFC 9530). The key must be a member organization's admin or plugin key or a regulator's key. \
        Send with `Signature`; never with a bearer token as well.
        """

    /// Who may call an operation.
    enum Access {
        /// Anyone.
        case open
        /// Members and regulators only.
        case members
        /// Anyone; members and regulators get more, and credentials, when presented, must be valid.
        case optionalMembers
    }

    private static let memberRequirements: [OpenAPIValue] = [
        ["httpSignatureInput": [], "httpSignature": []], ["bearerToken": []],
    ]

    // MARK: Paths

    /// One operation of the document.
    struct Operation {
        var method: String
        var path: String
        var id: String
        var tag: String
        var summary: String
        var description: String? = nil
        var access: Access = .open
        var parameters: [OpenAPIValue] = []
        var requestBody: OpenAPIValue? = nil
        var responses: [(String, OpenAPIValue)]

        var value: OpenAPIValue {
            var members: [(String, OpenAPIValue)] = [
                ("operationId", .string(id)), ("tags", [.string(tag)]), ("summary", .string(summary)),
            ]
            if let description { members.append(("description", .string(description))) }
            switch access {
            case .open: break
            case .members: members.append(("security", .array(memberRequirements)))
            case .optionalMembers: members.append(("security", .array([[:]] + memberRequirements)))
            }
            if !parameters.isEmpty { members.append(("parameters", .array(parameters))) }
            if let requestBody { members.append(("requestBody", requestBody)) }
            members.append(("responses", .object(responses + [("500", problem(500, ["internal"], "the node failed"))])))
            return .object(members)
        }
    }

    /// `paths`: the operations grouped by path, in the order listed.
    private static var paths: OpenAPIValue {
        var grouped: [(String, [(String, OpenAPIValue)])] = []
        for operation in operations {
            if let index = grouped.firstIndex(where: { $0.0 == operation.path }) {
                grouped[index].1.append((operation.method, operation.value))
            } else {
                grouped.append((operation.path, [(operation.method, operation.value)]))
            }
        }
        return .object(grouped.map { ($0.0, .object($0.1)) })
    }

    /// Every operation.
    static var operations: [Operation] {
        nodeOperations + registryOperations + incidentOperations + accessOperations + credentialOperations
            + eventOperations
    }

    // MARK: Building blocks

    /// A JSON answer with the schema `name`.
    static func json(_ name: String, _ description: String) -> OpenAPIValue {
        ["description": .string(description), "content": ["application/json": ["schema": Schema.ref(name)]]]
    }

    /// A problem answer with `status` whose `type` is one of `codes`.
    static func problem(_ status: Int, _ codes: [String], _ description: String) -> OpenAPIValue {
        let schema: OpenAPIValue = [
            "allOf": [
                Schema.ref("Problem"),
                [
                    "properties": [
                        "type": ["enum": .array(codes.map { .string(APIProblem.typePrefix + $0) })],
                        "status": ["const": .integer(Int64(status))],
                    ]
                ],
            ]
        ]
        var answer: [(String, OpenAPIValue)] = [
            ("description", .string(description + " (" + codes.joined(separator: ", ") + ")")),
            ("content", [problemMediaType: ["schema": schema]]),
        ]
        if status == 401 {
            answer.append(
                (
                    "headers",
                    [
                        "WWW-Authenticate": [
                            "required": true, "schema": Schema.constant(#"Bearer realm="ensure""#),
                        ]
                    ]
                ))
        }
        let retrying = codes.filter(retryAfterCodes.contains)
        if !retrying.isEmpty {
            let header: OpenAPIValue = [
                "description": .string(
                    "seconds to wait before retrying; sent with " + retrying.joined(separator: ", ")),
                "required": .bool(retrying.count == codes.count), "schema": ["type": "integer", "minimum": 1],
            ]
            answer.append(("headers", ["Retry-After": header]))
        }
        return .object(answer)
    }

    /// The problem codes sent with `Retry-After`.
    static let retryAfterCodes: Set<String> = [SubmissionRejection.Code.mempoolFull.rawValue, "access-busy"]

    static func pathParameter(_ name: String, _ schema: OpenAPIValue, _ description: String) -> OpenAPIValue {
        ["name": .string(name), "in": "path", "required": true, "description": .string(description), "schema": schema]
    }

    static func queryParameter(
        _ name: String, _ schema: OpenAPIValue, _ description: String, required: Bool = false
    ) -> OpenAPIValue {
        [
            "name": .string(name), "in": "query", "required": .bool(required), "description": .string(description),
            "schema": schema,
        ]
    }

    static func jsonBody(_ name: String, _ description: String) -> OpenAPIValue {
        [
            "description": .string(description), "required": true,
            "content": ["application/json": ["schema": Schema.ref(name)]],
        ]
    }

    /// The 400 of a route that refuses query parameters it does not know.
    static let unknownQuery = problem(400, ["invalid-filter"], "a query parameter is unknown or repeated")
    /// The 503 of a route that reads committed state.
    static let stateUnavailable = problem(503, ["state-unavailable"], "the node could not read its state")
    static let unauthenticated = problem(
        401, ["unauthenticated"], "no credentials, or credentials that prove no key; the detail starts with a reason")
    static let forbidden = problem(403, ["forbidden"], "the key is not a member's admin or plugin key or a regulator's")

    static let digestSchema = Schema.string(pattern: "^[0-9a-fA-F]{64}$", "64 hexadecimal characters")

    // MARK: Node, transactions, blocks

    private static var nodeOperations: [Operation] {
        let rejections = Dictionary(grouping: SubmissionRejection.Code.allCases) { Int($0.httpStatus.code) }
        var submissionRefusals: [(String, OpenAPIValue)] = rejections.sorted { $0.key < $1.key }.map { status, codes in
            (
                String(status),
                problem(status, codes.map(\.rawValue), "the node refused the transaction; nothing changed")
            )
        }
        submissionRefusals.append(
            ("415", problem(415, ["unsupported-media-type"], "neither application/json nor application/octet-stream")))
        return [
            Operation(
                method: "get", path: "/health", id: "getHealth", tag: "node", summary: "Liveness",
                responses: [("200", json("Health", "the process serves requests"))]),
            Operation(
                method: "get", path: "/v1/status", id: "getStatus", tag: "node",
                summary: "The node's view of the chain and its peers",
                responses: [("200", json("Status", "the node's status"))]),
            Operation(
                method: "get", path: "/openapi.json", id: "getOpenAPIDocument", tag: "node",
                summary: "This document",
                responses: [
                    (
                        "200",
                        [
                            "description": "the OpenAPI 3.1 document",
                            "content": [
                                "application/json": [
                                    "schema": [
                                        "type": "object", "required": ["openapi", "info", "paths", "components"],
                                        "properties": ["openapi": Schema.constant(openAPIVersion)],
                                    ]
                                ]
                            ],
                        ]
                    )
                ]),
            Operation(
                method: "post", path: "/v1/transactions", id: "submitTransaction", tag: "transactions",
                summary: "Submit a signed transaction",
                description: "The node checks the chain, signature, signer's authorization and sequence number and "
                    + "admits the transaction to its mempool. Send JSON with the Base64 canonical bytes, or the raw "
                    + "bytes as application/octet-stream.",
                requestBody: [
                    "required": true,
                    "content": [
                        "application/json": ["schema": Schema.ref("SubmissionRequest")],
                        "application/octet-stream": [
                            "schema": ["type": "string", "contentMediaType": "application/octet-stream"]
                        ],
                    ],
                ],
                responses: [
                    ("200", json("Submission", "committed earlier; submitting it again changed nothing")),
                    ("202", json("Submission", "admitted now, or already pending")),
                ] + submissionRefusals.sorted { $0.0 < $1.0 }),
            Operation(
                method: "post", path: "/v1/transactions/batch", id: "submitTransactions", tag: "transactions",
                summary: "Submit up to 512 signed transactions in one request",
                description: "Each transaction is checked and admitted as POST /v1/transactions would, in order, and "
                    + "answered at its position: refusing one changes nothing for the others. Send JSON with the "
                    + "Base64 canonical bytes, or as application/octet-stream the canonical list of byte strings "
                    + "(a varint count, then each transaction as a varint length and its bytes; docs/api.md).",
                requestBody: [
                    "required": true,
                    "content": [
                        "application/json": ["schema": Schema.ref("BatchSubmissionRequest")],
                        "application/octet-stream": [
                            "schema": ["type": "string", "contentMediaType": "application/octet-stream"]
                        ],
                    ],
                ],
                responses: [
                    ("200", json("BatchSubmission", "the batch was read; each transaction's own result")),
                    (
                        "400",
                        problem(
                            400, ["malformed"],
                            "the body is not a batch of 1 to 512 transactions (bad JSON, bad Base64, bad framing)")
                    ),
                    ("413", problem(413, ["oversize"], "the body is larger than 1 MiB")),
                    (
                        "415",
                        problem(
                            415, ["unsupported-media-type"], "neither application/json nor application/octet-stream")
                    ),
                ]),
            Operation(
                method: "get", path: "/v1/transactions/{id}", id: "getTransaction", tag: "transactions",
                summary: "A transaction's status: pending, committed, failed or dropped",
                parameters: [pathParameter("id", digestSchema, "the transaction id")],
                responses: [
                    ("200", json("TransactionStatus", "what the node knows of it")),
                    ("400", problem(400, ["invalid-parameter"], "the id is not 64 hexadecimal characters")),
                    ("404", problem(404, ["unknown-transaction"], "the node has never seen it")),
                ]),
            Operation(
                method: "get", path: "/v1/blocks/{height}", id: "getBlock", tag: "blocks",
                summary: "A committed block's certified header (and, for members and regulators, its bytes)",
                description: "Anyone gets the header fields, the transaction ids, the quorum certificate and the "
                    + "canonical header bytes, whose tagged SHA-256 is the block id the certificate signs. A "
                    + "request signed by, or with a token of, a member's admin or plugin key or a regulator's key "
                    + "also gets `block`, the canonical block. Credentials that are presented must be valid: a "
                    + "bad one is 401, a valid one of another key 403.",
                access: .optionalMembers,
                parameters: [
                    pathParameter(
                        "height", Schema.string(pattern: "^([0-9]{1,20}|latest)$", "a decimal height or latest"),
                        "the height, or `latest` for the last committed block")
                ],
                responses: [
                    ("200", json("Block", "the block")),
                    ("400", problem(400, ["invalid-parameter"], "the height is not a decimal UInt64 or latest")),
                    ("401", unauthenticated),
                    ("403", forbidden),
                    ("404", problem(404, ["unknown-block"], "no committed block at this height")),
                    ("503", problem(503, ["access-busy"], "the node holds too many live nonces")),
                ]),
            Operation(
                method: "get", path: "/v1/notarizations/{digest}", id: "getNotarization", tag: "transactions",
                summary: "The committed notarization of a SHA-256 digest",
                parameters: [pathParameter("digest", digestSchema, "the notarized SHA-256")],
                responses: [
                    ("200", json("Notarization", "the notarization")),
                    ("400", problem(400, ["invalid-parameter"], "the digest is not 64 hexadecimal characters")),
                    ("404", problem(404, ["unknown-notarization"], "no committed notarization of this digest")),
                ]),
            Operation(
                method: "get", path: "/v1/accounts/{key}", id: "getAccount", tag: "transactions",
                summary: "The sequence number a key's next transaction should carry",
                parameters: [pathParameter("key", digestSchema, "an Ed25519 public key")],
                responses: [
                    ("200", json("Account", "the key's next sequence number")),
                    ("400", problem(400, ["invalid-parameter"], "the key is not 64 hexadecimal characters")),
                ]),
        ]
    }

    // MARK: Registries and governance

    private static var registryOperations: [Operation] {
        func list(_ path: String, _ id: String, _ schema: String, _ summary: String, tag: String = "registries")
            -> Operation
        {
            Operation(
                method: "get", path: path, id: id, tag: tag, summary: summary,
                responses: [("200", json(schema, summary)), ("400", unknownQuery), ("503", stateUnavailable)])
        }
        let identifier = pathParameter(
            "identifier", ["type": "string", "minLength": 1],
            "the issuer identifier, percent-encoded (at most 256 bytes decoded)")
        return [
            list("/v1/organizations", "listOrganizations", "Organizations", "The member organizations"),
            list("/v1/validators", "listValidators", "Validators", "The validators"),
            list("/v1/plugins", "listPlugins", "Plugins", "The detection plugins"),
            list("/v1/issuers", "listIssuers", "Issuers", "The credential issuers, delisted ones marked"),
            Operation(
                method: "get", path: "/v1/issuers/{identifier}", id: "getIssuer", tag: "registries",
                summary: "One credential issuer", parameters: [identifier],
                responses: [
                    ("200", json("IssuerAnswer", "the issuer")),
                    (
                        "400",
                        problem(400, ["invalid-filter", "invalid-parameter"], "a bad identifier or query parameter")
                    ),
                    ("404", problem(404, ["unknown-issuer"], "no such issuer is registered")),
                    ("503", stateUnavailable),
                ]),
            list("/v1/regulators", "listRegulators", "Regulators", "The regulators"),
            list("/v1/parameters", "getParameters", "Parameters", "The chain parameters in force"),
            Operation(
                method: "get", path: "/v1/proposals", id: "listProposals", tag: "governance",
                summary: "Governance proposals, newest first",
                parameters: [
                    queryParameter(
                        "status",
                        Schema.enumeration(ProposalStatusName.allCases.map(\.rawValue), "a proposal status"),
                        "only proposals with this status at the committed height")
                ],
                responses: [
                    ("200", json("Proposals", "the proposals")),
                    ("400", problem(400, ["invalid-filter"], "an unknown status or query parameter")),
                    ("503", stateUnavailable),
                ]),
            Operation(
                method: "get", path: "/v1/proposals/{id}", id: "getProposal", tag: "governance",
                summary: "One governance proposal",
                parameters: [pathParameter("id", digestSchema, "the proposal id (its transaction's id)")],
                responses: [
                    ("200", json("ProposalAnswer", "the proposal")),
                    ("400", problem(400, ["invalid-filter", "invalid-parameter"], "a bad id or query parameter")),
                    ("404", problem(404, ["unknown-proposal"], "no such proposal was committed")),
                    ("503", stateUnavailable),
                ]),
        ]
    }

    // MARK: Incidents and the incident log

    /// The filters of `GET /v1/incidents` that the incident event stream shares.
    static var incidentFilters: [OpenAPIValue] {
        [
            queryParameter(
                "organization", Schema.string(pattern: "^[a-z0-9-]{1,64}$", "an organization name"),
                "the reporting organization"),
            queryParameter("reporter", digestSchema, "the reporting key (plugin or admin)"),
            queryParameter(
                "class", Schema.string("an ENISA RSIT class"), "an ENISA RSIT class, for example intrusion-attempts"),
            queryParameter(
                "type", Schema.string("an ENISA RSIT class/type"),
                "an RSIT class/type (intrusion-attempts/exploit); with class, of that class"),
            queryParameter(
                "severity",
                Schema.string(
                    pattern: "^([0-9]+|[A-Za-z]+)$",
                    "an OCSF severity id or name (\(IncidentSeverity.allCases.map(\.name).joined(separator: ", ")))"),
                "an OCSF severity id (4) or name (high)"),
            queryParameter(
                "status", Schema.enumeration(IncidentStatus.allCases.map(\.name), "an incident status"),
                "the incident's current status"),
        ]
    }

    private static var incidentOperations: [Operation] {
        let time = Schema.string(
            pattern: "^([0-9]{1,20}|[0-9]{4}-.*)$", "milliseconds since 1970 or an RFC 3339 date-time")
        let number = Schema.string(pattern: "^[0-9]{1,20}$", "a decimal number")
        let readBusy = problem(
            503, ["access-busy", "state-unavailable"],
            "the node holds too many live nonces, or could not read its state")
        return [
            Operation(
                method: "get", path: "/v1/incidents", id: "listIncidents", tag: "incidents",
                summary: "One page of incidents matching the filters, in ascending detection time",
                description: "A page may hold fewer than `limit` incidents, or none, and still carry `nextCursor`; "
                    + "follow it with the same filters until it is absent.",
                access: .members,
                parameters: incidentFilters + [
                    queryParameter("from", time, "detection time lower bound, inclusive"),
                    queryParameter("to", time, "detection time upper bound, inclusive"),
                    queryParameter(
                        "limit",
                        ["type": "integer", "minimum": 1, "maximum": .integer(Int64(IncidentQuery.maxLimit))],
                        "page size, default 50"),
                    queryParameter("cursor", Schema.base64url("a nextCursor"), "the previous page's nextCursor"),
                ],
                responses: [
                    ("200", json("Incidents", "the page")),
                    ("400", problem(400, ["invalid-filter", "invalid-cursor"], "a filter does not parse")),
                    ("401", unauthenticated), ("403", forbidden), ("503", readBusy),
                ]),
            Operation(
                method: "get", path: "/v1/incidents/{organization}/{id}", id: "getIncident", tag: "incidents",
                summary: "One incident with its lifecycle updates", access: .members,
                parameters: [
                    pathParameter(
                        "organization", Schema.string(pattern: "^[a-z0-9-]{1,64}$", "an organization name"),
                        "the reporting organization"),
                    pathParameter(
                        "id", ["type": "string", "minLength": 1], "the incident id, percent-encoded (at most 128 bytes)"
                    ),
                ],
                responses: [
                    ("200", json("IncidentDetail", "the incident")),
                    ("400", problem(400, ["invalid-filter", "invalid-parameter"], "a bad path or query parameter")),
                    ("401", unauthenticated), ("403", forbidden),
                    ("404", problem(404, ["unknown-incident"], "no such incident was reported")),
                    ("503", readBusy),
                ]),
            Operation(
                method: "get", path: "/v1/incident-log", id: "getIncidentLogCheckpoint", tag: "incident-log",
                summary: "The incident log's size and root with the certified header that carries them",
                responses: [
                    ("200", json("Checkpoint", "the checkpoint")), ("400", unknownQuery), ("503", stateUnavailable),
                ]),
            Operation(
                method: "get", path: "/v1/incident-log/inclusion", id: "getInclusionProof", tag: "incident-log",
                summary: "An RFC 9162 inclusion proof",
                parameters: [
                    queryParameter("leaf", number, "the leaf index", required: true),
                    queryParameter("size", number, "the tree size; the current size when absent"),
                ],
                responses: [
                    ("200", json("InclusionProof", "the proof")),
                    (
                        "400",
                        problem(400, ["invalid-filter", "proof-out-of-range"], "leaf missing, or outside the log")
                    ),
                    ("503", stateUnavailable),
                ]),
            Operation(
                method: "get", path: "/v1/incident-log/consistency", id: "getConsistencyProof", tag: "incident-log",
                summary: "An RFC 9162 consistency proof between two sizes",
                parameters: [
                    queryParameter("from", number, "the older size, at least 1", required: true),
                    queryParameter("to", number, "the newer size; the current size when absent"),
                ],
                responses: [
                    ("200", json("ConsistencyProof", "the proof")),
                    ("400", problem(400, ["invalid-filter", "proof-out-of-range"], "from missing, or out of range")),
                    ("503", stateUnavailable),
                ]),
            Operation(
                method: "get", path: "/v1/incident-log/leaves/{index}", id: "getIncidentLogLeaf", tag: "incident-log",
                summary: "One leaf of the incident log (the whole incident transaction)", access: .members,
                parameters: [pathParameter("index", number, "the leaf index")],
                responses: [
                    ("200", json("Leaf", "the leaf")),
                    ("400", problem(400, ["invalid-filter", "invalid-parameter"], "a bad index or query parameter")),
                    ("401", unauthenticated), ("403", forbidden),
                    ("404", problem(404, ["unknown-leaf"], "the log has no such leaf")),
                    ("503", readBusy),
                ]),
        ]
    }

    // MARK: Access

    private static var accessOperations: [Operation] {
        [
            Operation(
                method: "post", path: "/v1/auth/challenge", id: "createChallenge", tag: "access",
                summary: "A single-use login challenge, valid 60 s",
                responses: [
                    ("200", json("Challenge", "the challenge")),
                    ("503", problem(503, ["access-busy"], "the node holds too many live challenges")),
                ]),
            Operation(
                method: "post", path: "/v1/auth/token", id: "createToken", tag: "access",
                summary: "A bearer token for a signed challenge",
                requestBody: jsonBody("TokenRequest", "the key, the challenge and the signature over it"),
                responses: [
                    ("200", json("Token", "the token")),
                    ("400", problem(400, ["malformed"], "the body does not parse; the detail names the member")),
                    (
                        "401",
                        problem(
                            401, ["unauthenticated"],
                            "unknown-challenge (used, expired or unknown) or bad-signature")
                    ),
                    ("403", forbidden),
                    ("415", problem(415, ["unsupported-media-type"], "the body is not application/json")),
                    ("503", problem(503, ["access-busy"], "the node holds too many live tokens")),
                ]),
        ]
    }

    // MARK: Credentials

    private static var credentialOperations: [Operation] {
        let bodyRefusals: [(String, OpenAPIValue)] = [
            ("400", problem(400, ["invalid-filter", "malformed"], "the body or a query parameter is wrong")),
            ("413", problem(413, ["oversize"], "the body is over 1 MiB")),
            ("415", problem(415, ["unsupported-media-type"], "the body is not application/json")),
        ]
        let metadataAnswers: [(String, OpenAPIValue)] = [
            ("200", json("IssuerMetadata", "the issuer's metadata")),
            ("400", problem(400, ["invalid-filter", "invalid-parameter"], "a bad identifier or query parameter")),
            ("404", problem(404, ["unknown-issuer"], "no such issuer is registered")),
            ("410", problem(410, ["delisted-issuer"], "governance delisted the issuer")),
            ("503", stateUnavailable),
        ]
        return [
            Operation(
                method: "post", path: "/v1/presentations/requests", id: "createPresentationRequest",
                tag: "credentials", summary: "A presentation request with a fresh nonce (for a shop)",
                requestBody: jsonBody("PresentationRequestCreate", "the threshold and, optionally, the audience"),
                responses: [("201", json("PresentationRequest", "the request"))] + bodyRefusals),
            Operation(
                method: "post", path: "/v1/presentations/verify", id: "verifyPresentation", tag: "credentials",
                summary: "Verify an age presentation against this node's issuer registry and status lists",
                requestBody: jsonBody("VerifyRequest", "the nonce and the presentation"),
                responses: [("200", json("Verification", "the presentation verified"))] + bodyRefusals + [
                    (
                        "422",
                        [
                            "description": "the presentation was refused; `refusal` says why",
                            "content": [
                                problemMediaType: ["schema": Schema.ref("PresentationRefusal")]
                            ],
                        ]
                    )
                ]),
            Operation(
                method: "get", path: "/v1/status-lists", id: "getStatusList", tag: "credentials",
                summary: "The latest committed version of a Token Status List",
                description: "With `Accept: application/statuslist+jwt` the answer is the JWT itself.",
                parameters: [
                    queryParameter("uri", Schema.string("the status list URI"), "the list's URI", required: true)
                ],
                responses: [
                    (
                        "200",
                        [
                            "description": "the status list",
                            "content": [
                                "application/json": ["schema": Schema.ref("StatusList")],
                                "application/statuslist+jwt": ["schema": ["type": "string"]],
                            ],
                        ]
                    ),
                    ("400", problem(400, ["invalid-filter", "invalid-parameter"], "uri missing or too long")),
                    ("404", problem(404, ["unknown-status-list"], "no list is published under this URI")),
                    ("503", stateUnavailable),
                ]),
            Operation(
                method: "get", path: "/v1/issuers/{identifier}/metadata", id: "getIssuerMetadata",
                tag: "credentials", summary: "JWT VC Issuer Metadata of a registered issuer",
                parameters: [
                    pathParameter(
                        "identifier", ["type": "string", "minLength": 1], "the issuer identifier, percent-encoded")
                ],
                responses: metadataAnswers),
            Operation(
                method: "get", path: "/.well-known/jwt-vc-issuer/{issuerPath}", id: "getWellKnownIssuerMetadata",
                tag: "credentials", summary: "JWT VC Issuer Metadata at its well-known location",
                description: "The issuer `https://<issuerPath>`: the parameter is the identifier without its "
                    + "scheme, and its slashes are sent as path separators (the route matches every segment after "
                    + "`/.well-known/jwt-vc-issuer/`).",
                parameters: [
                    pathParameter(
                        "issuerPath", ["type": "string", "minLength": 1],
                        "host and path of the https issuer identifier; may span several segments")
                ],
                responses: metadataAnswers),
            Operation(
                method: "get", path: "/shop", id: "getShopPage", tag: "credentials",
                summary: "The demo shop page (HTML)",
                responses: [
                    (
                        "200",
                        [
                            "description": "a self-contained HTML page",
                            "content": ["text/html; charset=utf-8": ["schema": ["type": "string"]]],
                        ]
                    )
                ]),
        ]
    }

    // MARK: Events and metrics

    private static var eventOperations: [Operation] {
        let lastEventID: OpenAPIValue = [
            "name": "Last-Event-ID", "in": "header", "required": false,
            "description": "the id of the last event received; the stream resumes after it",
            "schema": Schema.string(pattern: "^[0-9]{1,20}$", "a decimal height or leaf index"),
        ]
        func stream(_ event: String, _ schema: String, _ description: String) -> OpenAPIValue {
            [
                "description": .string(description),
                "content": [
                    "text/event-stream": [
                        "schema": [
                            "type": "string",
                            "description": .string(
                                "server-sent events: `event: \(event)`, `id:` and `data:` one JSON object "
                                    + "(the \(schema) schema)"),
                        ],
                        "x-ensure-events": [event: ["data": Schema.ref(schema)]],
                    ]
                ],
            ]
        }
        return [
            Operation(
                method: "get", path: "/v1/events/blocks", id: "streamBlocks", tag: "events",
                summary: "Committed blocks as server-sent events",
                description: "One `block` event per committed block, in height order, its data the block's header "
                    + "fields; the event id is the height. Replays from `from` or after `Last-Event-ID` (at most "
                    + "1,000 blocks behind the tip), then follows commits; `: keep-alive` comments every 15 s. At "
                    + "most 128 block streams are open at once.",
                parameters: [
                    queryParameter(
                        "from", Schema.string(pattern: "^[0-9]{1,20}$", "a decimal height"),
                        "the first height to send"),
                    lastEventID,
                ],
                responses: [
                    ("200", stream("block", "BlockEvent", "the event stream")),
                    (
                        "400",
                        problem(
                            400, ["invalid-filter", "invalid-parameter", "replay-too-long"],
                            "a parameter or Last-Event-ID does not parse, or the resume point is too far behind")
                    ),
                    ("503", problem(503, ["too-many-streams"], "every event-stream slot is taken, or the node stops")),
                ]),
            Operation(
                method: "get", path: "/v1/events/incidents", id: "streamIncidents", tag: "events",
                summary: "Newly committed incidents matching a filter, as server-sent events",
                description: "One `incident` event per incident log leaf (a report or an update) whose incident "
                    + "matches the filters, its data shaped like one item of GET /v1/incidents as the incident stood "
                    + "after that leaf; the event id is the leaf index. Streams close after 15 minutes; reconnect "
                    + "with fresh credentials and Last-Event-ID.",
                access: .members,
                parameters: incidentFilters + [
                    queryParameter(
                        "from", Schema.string(pattern: "^[0-9]{1,20}$", "a decimal leaf index"),
                        "the first incident log leaf to send"),
                    lastEventID,
                ],
                responses: [
                    ("200", stream("incident", "Incident", "the event stream")),
                    (
                        "400",
                        problem(
                            400, ["invalid-filter", "invalid-parameter", "replay-too-long"],
                            "a filter or Last-Event-ID does not parse, or the resume point is too far behind")
                    ),
                    ("401", unauthenticated), ("403", forbidden),
                    (
                        "503",
                        problem(
                            503, ["access-busy", "state-unavailable", "too-many-streams"],
                            "the node is busy, cannot read its state, or has no event-stream slot free")
                    ),
                ]),
            Operation(
                method: "get", path: "/metrics", id: "getMetrics", tag: "node",
                summary: "Prometheus metrics (text exposition format 0.0.4)",
                responses: [
                    (
                        "200",
                        [
                            "description": "the metrics",
                            "content": ["\(MetricsExposition.contentType)": ["schema": ["type": "string"]]],
                        ]
                    )
                ]),
        ]
    }
}
