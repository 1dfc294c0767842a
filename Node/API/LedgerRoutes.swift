import EnsureCrypto
import Foundation
import Hummingbird
import Ledger

extension APIServer {
    /// Adds the ledger query routes (registries, proposals, incidents, the incident log) to `router`. The
    /// incident routes form one group (`/v1/incidents`) and the log another (`/v1/incident-log`), so that an
    /// access-control middleware guards the incidents and the log's leaves, while the checkpoint and the proofs
    /// (hashes only) stay public.
    func addLedgerRoutes(to router: Router<APIRequestContext>) {
        let routes = LedgerRoutes(node: node)
        router.get("/v1/organizations") { request, _ in try await routes.organizations(request) }
        router.get("/v1/validators") { request, _ in try await routes.validators(request) }
        router.get("/v1/plugins") { request, _ in try await routes.plugins(request) }
        router.get("/v1/issuers") { request, _ in try await routes.issuers(request) }
        router.get("/v1/issuers/{identifier}") { request, context in
            try await routes.issuer(request, context.parameters.get("identifier"))
        }
        router.get("/v1/regulators") { request, _ in try await routes.regulators(request) }
        router.get("/v1/parameters") { request, _ in try await routes.parameters(request) }
        router.get("/v1/proposals") { request, _ in try await routes.proposals(request) }
        router.get("/v1/proposals/{id}") { request, context in
            try await routes.proposal(request, context.parameters.get("id"))
        }

        let incidents = router.group("/v1/incidents").add(middleware: accessMiddleware)
        incidents.get { request, _ in try await routes.incidents(request) }
        incidents.get("{organization}/{id}") { request, context in
            try await routes.incident(
                request, organization: context.parameters.get("organization"), id: context.parameters.get("id"))
        }

        let log = router.group("/v1/incident-log")
        log.get { request, _ in try await routes.checkpoint(request) }
        log.get("inclusion") { request, _ in try await routes.inclusion(request) }
        log.get("consistency") { request, _ in try await routes.consistency(request) }
        // A leaf holds the whole incident transaction: members and regulators only.
        log.group("leaves").add(middleware: accessMiddleware).get("{index}") { request, context in
            try await routes.leaf(request, context.parameters.get("index"))
        }
    }
}

extension APIProblem {
    /// A query parameter of a list route that does not parse or is not one of the route's.
    static func invalidFilter(_ name: String, _ detail: String) -> APIProblem {
        APIProblem(code: "invalid-filter", status: .badRequest, title: "Invalid filter", detail: "\(name) \(detail)")
    }

    /// A ledger query the node refused or could not answer.
    static func query(_ error: LedgerQueryError) -> APIProblem {
        switch error {
        case .invalidParameter(let name, let reason): return .invalidFilter(name, reason)
        case .invalidCursor(let reason):
            return APIProblem(
                code: "invalid-cursor", status: .badRequest, title: "Invalid cursor", detail: "cursor \(reason)")
        case .proofOutOfRange(let reason):
            return APIProblem(
                code: "proof-out-of-range", status: .badRequest, title: "Proof out of range", detail: reason)
        case .unavailable:
            // The reason names internal keys; it goes to the log, not to the client.
            return APIProblem(
                code: "state-unavailable", status: .serviceUnavailable, title: "State unavailable",
                detail: "the node could not read its committed state")
        }
    }

    static func notFound(_ code: String, _ title: String, _ detail: String) -> APIProblem {
        APIProblem(code: code, status: .notFound, title: title, detail: detail)
    }
}

/// A route's query string: each parameter at most once, and only the ones the route knows.
struct QueryString {
    private(set) var values: [String: String] = [:]

    init(_ request: Request, allowed: Set<String>) throws(APIProblem) {
        for (key, value) in request.uri.queryParameters {
            let name = String(key)
            guard allowed.contains(name) else {
                let known =
                    allowed.isEmpty ? "this route takes none" : "known: \(allowed.sorted().joined(separator: ", "))"
                throw .invalidFilter(String(name.prefix(64)), "is not a parameter of this route (\(known))")
            }
            guard values[name] == nil else { throw .invalidFilter(name, "is given more than once") }
            values[name] = String(value)
        }
    }

    subscript(name: String) -> String? { values[name] }

    /// Decimal digits only, at most UInt64.max.
    static func decimal(_ text: String) -> UInt64? {
        guard !text.isEmpty, text.utf8.count <= 20,
            text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        else { return nil }
        return UInt64(text)
    }

    /// A decimal unsigned integer.
    func number(_ name: String) throws(APIProblem) -> UInt64? {
        guard let text = values[name] else { return nil }
        guard let value = Self.decimal(text) else {
            throw .invalidFilter(name, "must be a decimal number")
        }
        return value
    }
}

/// The handlers of the ledger query routes.
struct LedgerRoutes<Node: NodeService>: Sendable {
    let node: Node

    private func run<T>(_ body: () async throws(LedgerQueryError) -> T) async throws(APIProblem) -> T {
        do { return try await body() } catch { throw .query(error) }
    }

    // MARK: Registries

    func organizations(_ request: Request) async throws(APIProblem) -> Response {
        _ = try QueryString(request, allowed: [])
        return JSONBody.response(
            OrganizationsBody(try await run { () async throws(LedgerQueryError) in try await node.organizations() }))
    }

    func validators(_ request: Request) async throws(APIProblem) -> Response {
        _ = try QueryString(request, allowed: [])
        return JSONBody.response(
            ValidatorsBody(try await run { () async throws(LedgerQueryError) in try await node.validators() }))
    }

    func plugins(_ request: Request) async throws(APIProblem) -> Response {
        _ = try QueryString(request, allowed: [])
        return JSONBody.response(
            PluginsBody(try await run { () async throws(LedgerQueryError) in try await node.plugins() }))
    }

    func issuers(_ request: Request) async throws(APIProblem) -> Response {
        _ = try QueryString(request, allowed: [])
        let read = try await run { () async throws(LedgerQueryError) in try await node.issuers() }
        return JSONBody.response(IssuersBody(height: read.height, issuers: read.value.map(IssuerBody.init)))
    }

    func issuer(_ request: Request, _ parameter: String?) async throws(APIProblem) -> Response {
        _ = try QueryString(request, allowed: [])
        guard let identifier = parameter?.removingPercentEncoding, !identifier.isEmpty,
            identifier.utf8.count <= RegistryLimits.issuerIdentifierBytes
        else {
            throw .invalidParameter(
                "identifier",
                "must be a percent-encoded issuer identifier of 1 to \(RegistryLimits.issuerIdentifierBytes) bytes")
        }
        let read = try await run { () async throws(LedgerQueryError) in try await node.issuer(identifier: identifier) }
        guard let record = read.value else {
            throw .notFound("unknown-issuer", "Unknown issuer", "no issuer \(identifier) is registered")
        }
        return JSONBody.response(IssuerAnswer(height: read.height, issuer: IssuerBody(record)))
    }

    func regulators(_ request: Request) async throws(APIProblem) -> Response {
        _ = try QueryString(request, allowed: [])
        return JSONBody.response(
            RegulatorsBody(try await run { () async throws(LedgerQueryError) in try await node.regulators() }))
    }

    func parameters(_ request: Request) async throws(APIProblem) -> Response {
        _ = try QueryString(request, allowed: [])
        let read = try await run { () async throws(LedgerQueryError) in try await node.parameters() }
        return JSONBody.response(ParametersBody(height: read.height, parameters: read.value.namedValues))
    }

    // MARK: Proposals

    func proposals(_ request: Request) async throws(APIProblem) -> Response {
        let query = try QueryString(request, allowed: ["status"])
        var status: ProposalStatusName?
        if let text = query["status"] {
            guard let parsed = ProposalStatusName(rawValue: text) else {
                throw .invalidFilter(
                    "status", "must be one of \(ProposalStatusName.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            status = parsed
        }
        let filter = status
        let read = try await run { () async throws(LedgerQueryError) in try await node.proposals(status: filter) }
        return JSONBody.response(
            ProposalsBody(height: read.height, proposals: read.value.map { ProposalBody($0, height: read.height) }))
    }

    func proposal(_ request: Request, _ parameter: String?) async throws(APIProblem) -> Response {
        _ = try QueryString(request, allowed: [])
        let id = try Routes<Node>.digest(parameter, name: "proposal id")
        let read = try await run { () async throws(LedgerQueryError) in try await node.proposal(id: id) }
        guard let record = read.value else {
            throw .notFound("unknown-proposal", "Unknown proposal", "no proposal \(id.hex) was committed")
        }
        return JSONBody.response(
            ProposalAnswer(height: read.height, proposal: ProposalBody(record, height: read.height)))
    }

    // MARK: Incidents

    /// The filters of `GET /v1/incidents`, each checked and named when wrong.
    static func incidentQuery(_ request: Request) throws(APIProblem) -> IncidentQuery {
        let query = try QueryString(
            request,
            allowed: [
                "organization", "reporter", "class", "type", "severity", "status", "from", "to", "limit", "cursor",
            ])
        var result = try incidentFilters(query)
        result.from = try query["from"].map { (text) throws(APIProblem) in try time(text, name: "from") }
        result.to = try query["to"].map { (text) throws(APIProblem) in try time(text, name: "to") }
        if let from = result.from, let to = result.to, from > to {
            throw .invalidFilter("from", "is later than to")
        }
        if let limit = query["limit"] {
            guard let value = QueryString.decimal(limit), value >= 1, value <= UInt64(IncidentQuery.maxLimit) else {
                throw .invalidFilter("limit", "must be a number between 1 and \(IncidentQuery.maxLimit)")
            }
            result.limit = Int(value)
        }
        if let cursor = query["cursor"] {
            guard cursor.utf8.count <= 1024, let bytes = try? Base64.decodeURL(cursor), !bytes.isEmpty else {
                throw APIProblem.query(.invalidCursor("is not a cursor this API handed out (base64url)"))
            }
            result.cursor = bytes
        }
        return result
    }

    /// The filters the incident list and the incident event stream share (organization, reporter or plugin,
    /// class, type, severity, status), each checked and named when wrong; the route's own parameters are its own.
    static func incidentFilters(_ query: QueryString) throws(APIProblem) -> IncidentQuery {
        var result = IncidentQuery()
        if let organization = query["organization"] {
            guard GenesisOrganization.isValidName(organization) else {
                throw .invalidFilter("organization", "must be 1-64 characters of [a-z0-9-]")
            }
            result.organization = organization
        }
        // `plugin` is the event stream's name for the reporting key; both parse alike.
        for name in ["reporter", "plugin"] {
            guard let reporter = query[name] else { continue }
            guard reporter.utf8.count == 64, let key = Ed25519PublicKey(hex: reporter) else {
                throw .invalidFilter(name, "must be 64 hexadecimal characters (an Ed25519 public key)")
            }
            if let earlier = result.reporter, earlier != key {
                throw .invalidFilter(name, "names another key than reporter")
            }
            result.reporter = key
        }
        if let rsitClass = query["class"] {
            guard SecurityIncidentTaxonomy.classes[rsitClass] != nil else {
                throw .invalidFilter("class", "is not an ENISA RSIT class")
            }
            result.rsitClass = rsitClass
        }
        if let category = query["type"] {
            guard SecurityIncidentTaxonomy.isValid(category) else {
                throw .invalidFilter("type", "must be an ENISA RSIT class/type, for example intrusion-attempts/exploit")
            }
            if let rsitClass = result.rsitClass, !category.hasPrefix(rsitClass + "/") {
                throw .invalidFilter("type", "is not a type of class \(rsitClass)")
            }
            result.category = category
        }
        if let severity = query["severity"] {
            guard let parsed = IncidentSeverity(parsing: severity) else {
                throw .invalidFilter(
                    "severity",
                    "must be an OCSF severity id or name (\(IncidentSeverity.allCases.map(\.name).joined(separator: ", ")))"
                )
            }
            result.severity = parsed
        }
        if let status = query["status"] {
            guard let parsed = IncidentStatus(name: status) else {
                throw .invalidFilter(
                    "status", "must be one of \(IncidentStatus.allCases.map(\.name).joined(separator: ", "))")
            }
            result.status = parsed
        }
        return result
    }

    func incidents(_ request: Request) async throws(APIProblem) -> Response {
        let query = try Self.incidentQuery(request)
        let page = try await run { () async throws(LedgerQueryError) in try await node.incidents(query) }
        return JSONBody.response(IncidentsBody(page))
    }

    func incident(_ request: Request, organization: String?, id: String?) async throws(APIProblem) -> Response {
        _ = try QueryString(request, allowed: [])
        guard let organization = organization?.removingPercentEncoding, GenesisOrganization.isValidName(organization)
        else {
            throw .invalidParameter("organization", "must be 1-64 characters of [a-z0-9-]")
        }
        guard let id = id?.removingPercentEncoding, !id.isEmpty,
            id.utf8.count <= IncidentRecord.Limits.identifierBytes
        else {
            throw .invalidParameter(
                "id", "must be a percent-encoded incident id of 1 to \(IncidentRecord.Limits.identifierBytes) bytes")
        }
        let read = try await run { () async throws(LedgerQueryError) in
            try await node.incident(organization: organization, id: id)
        }
        guard let detail = read.value else {
            throw .notFound("unknown-incident", "Unknown incident", "no incident \(organization):\(id) was reported")
        }
        return JSONBody.response(IncidentDetailBody(detail, height: read.height))
    }

    // MARK: Incident log

    func checkpoint(_ request: Request) async throws(APIProblem) -> Response {
        _ = try QueryString(request, allowed: [])
        return JSONBody.response(
            CheckpointBody(
                try await run { () async throws(LedgerQueryError) in try await node.incidentLogCheckpoint() }))
    }

    func leaf(_ request: Request, _ parameter: String?) async throws(APIProblem) -> Response {
        _ = try QueryString(request, allowed: [])
        guard let parameter, let index = QueryString.decimal(parameter) else {
            throw .invalidParameter("index", "must be a decimal leaf index")
        }
        let read = try await run { () async throws(LedgerQueryError) in try await node.incidentLogLeaf(at: index) }
        guard let leaf = read.value else {
            throw .notFound("unknown-leaf", "Unknown leaf", "the incident log has no leaf \(index)")
        }
        return JSONBody.response(LeafBody(leaf, height: read.height))
    }

    func inclusion(_ request: Request) async throws(APIProblem) -> Response {
        let query = try QueryString(request, allowed: ["leaf", "size"])
        guard let leaf = try query.number("leaf") else { throw .invalidFilter("leaf", "is required") }
        let size = try query.number("size")
        let answer = try await run { () async throws(LedgerQueryError) in
            try await node.incidentInclusionProof(leaf: leaf, treeSize: size)
        }
        return JSONBody.response(InclusionBody(answer))
    }

    func consistency(_ request: Request) async throws(APIProblem) -> Response {
        let query = try QueryString(request, allowed: ["from", "to"])
        guard let from = try query.number("from") else { throw .invalidFilter("from", "is required") }
        let to = try query.number("to")
        let answer = try await run { () async throws(LedgerQueryError) in
            try await node.incidentConsistencyProof(oldSize: from, newSize: to)
        }
        return JSONBody.response(ConsistencyBody(answer))
    }

    // MARK: Parsing

    /// A detection time: milliseconds since 1970, or an RFC 3339 date-time (`2025-01-01T12:00:00Z`).
    static func time(_ text: String, name: String) throws(APIProblem) -> UInt64 {
        if let milliseconds = QueryString.decimal(text) { return milliseconds }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var date = formatter.date(from: text)
        if date == nil {
            formatter.formatOptions = [.withInternetDateTime]
            date = formatter.date(from: text)
        }
        guard let date, date.timeIntervalSince1970 >= 0, date.timeIntervalSince1970 < 1e13 else {
            throw .invalidFilter(name, "must be milliseconds since 1970 or an RFC 3339 date-time")
        }
        return UInt64((date.timeIntervalSince1970 * 1000).rounded())
    }
}
