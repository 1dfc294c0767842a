import Codec
import Credentials
import EnsureCrypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Ledger
import NIOCore
import Testing

@testable import API

/// One request of the conformance run.
struct Exchange: Sendable, CustomStringConvertible {
    var method: HTTPRequest.Method = .get
    var uri: String
    var headers: HTTPFields = [:]
    var body: String?
    /// nil: the route tests' application, which adds a member's bearer token to requests without credentials;
    /// otherwise a guarded application with this access control (anonymous or explicitly signed requests).
    var access: AccessControl?
    /// Sets the fake node up before the request.
    var prepare: @Sendable (FakeNode) async -> Void = { _ in }

    var description: String { "\(method) \(uri)" }

    static func get(_ uri: String, headers: HTTPFields = [:], access: AccessControl? = nil) -> Exchange {
        Exchange(uri: uri, headers: headers, access: access)
    }

    static func post(_ uri: String, json body: String?, contentType: String = "application/json") -> Exchange {
        Exchange(method: .post, uri: uri, headers: APITests.headers(contentType: contentType), body: body)
    }

    func preparing(_ prepare: @escaping @Sendable (FakeNode) async -> Void) -> Exchange {
        var copy = self
        copy.prepare = prepare
        return copy
    }
}

/// Checks answers against the document, and remembers which statuses of which operations were seen.
final class Conformance: @unchecked Sendable {
    // Used by one test task at a time, sequentially.
    let spec: OpenAPISpec
    private(set) var seen: [String: Set<String>] = [:]

    init(spec: OpenAPISpec) { self.spec = spec }

    /// Sends `exchange` to a fresh application and checks the answer.
    func run(_ exchange: Exchange) async throws {
        let node = FakeNode()
        await exchange.prepare(node)
        let body = exchange.body.map { ByteBuffer(string: $0) }
        if let access = exchange.access {
            try await makeGuardedApplication(node, access: access).test(.router) { client in
                let response = try await client.execute(
                    uri: exchange.uri, method: exchange.method, headers: exchange.headers, body: body)
                try self.check(exchange.description, method: exchange.method, uri: exchange.uri, response)
            }
        } else {
            try await makeApplication(node).test(.router) { client in
                let response = try await client.execute(
                    uri: exchange.uri, method: exchange.method, headers: exchange.headers, body: body)
                try self.check(exchange.description, method: exchange.method, uri: exchange.uri, response)
            }
        }
    }

    /// Checks one answer: its status is listed for the operation, its content type is listed for the status,
    /// its body validates against that schema, and the headers the status documents are there.
    func check(
        _ label: String, method: HTTPRequest.Method, uri: String, _ response: TestResponse,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let path = String(uri.split(separator: "?", maxSplits: 1).first ?? "")
        guard let template = spec.template(for: path),
            let operation = spec.root["paths"]?[template]?[method.rawValue.lowercased()]
        else {
            Issue.record("\(label): no documented operation", sourceLocation: sourceLocation)
            return
        }
        let key = "\(method.rawValue) \(template)"
        let status = String(response.status.code)
        seen[key, default: []].insert(status)
        guard let documented = operation["responses"]?[status] else {
            Issue.record(
                "\(label): status \(status) is not documented for \(key): \(bodyText(response))",
                sourceLocation: sourceLocation)
            return
        }
        for (name, header) in documented["headers"]?.objectMembers ?? [] {
            let value = response.headers[HTTPField.Name(name)!]
            if header["required"] == .bool(true) {
                #expect(value != nil, "\(label): \(status) without its \(name) header", sourceLocation: sourceLocation)
            }
            if let value, let schema = header["schema"] {
                let parsed: JSONValue = Int64(value).map { .integer($0) } ?? .string(value)
                let errors = try spec.validator.errors(parsed, against: schema, at: name)
                #expect(errors.isEmpty, "\(label): \(errors)", sourceLocation: sourceLocation)
            }
        }
        guard let contentType = response.headers[.contentType], let media = documented["content"]?[contentType]
        else {
            Issue.record(
                "\(label): content type \(response.headers[.contentType] ?? "none") is not documented for \(status)",
                sourceLocation: sourceLocation)
            return
        }
        let schema = try #require(media["schema"], "\(label): \(contentType) has no schema")
        let instance: JSONValue
        if contentType.hasSuffix("json") {
            instance = try JSONValue.parse(Array(response.body.readableBytesView))
        } else {
            instance = .string(bodyText(response))
            #expect(response.body.readableBytes > 0, "\(label): empty body", sourceLocation: sourceLocation)
        }
        let errors = try spec.validator.errors(instance, against: schema)
        #expect(errors.isEmpty, "\(label) → \(status): \(errors)", sourceLocation: sourceLocation)
    }

    private func bodyText(_ response: TestResponse) -> String {
        String(decoding: response.body.readableBytesView, as: UTF8.self)
    }
}

@Suite("The OpenAPI document at /openapi.json")
struct OpenAPITests {
    // MARK: (c) the document's shape

    @Test("it is an OpenAPI 3.1.0 document with info, paths, the 2020-12 dialect and security schemes")
    func shape() async throws {
        let spec = try await OpenAPISpec.served()
        #expect(spec.root["openapi"] == .string("3.1.0"))
        #expect(spec.root["jsonSchemaDialect"] == .string("https://json-schema.org/draft/2020-12/schema"))
        #expect(spec.root["info"]?["title"]?.stringValue?.isEmpty == false)
        #expect(spec.root["info"]?["version"]?.stringValue?.isEmpty == false)
        #expect((spec.root["paths"]?.objectMembers?.count ?? 0) > 30)
        let schemes = try #require(spec.root["components"]?["securitySchemes"])
        #expect(schemes["bearerToken"]?["type"] == .string("http"))
        #expect(schemes["bearerToken"]?["scheme"] == .string("bearer"))
        #expect(schemes["httpSignature"]?["in"] == .string("header"))
        #expect(schemes["httpSignature"]?["name"] == .string("Signature"))
        #expect(schemes["httpSignatureInput"]?["name"] == .string("Signature-Input"))
    }

    @Test("every $ref resolves, and every security requirement names a defined scheme")
    func referencesResolve() async throws {
        let spec = try await OpenAPISpec.served()
        let found = references(in: spec.root)
        #expect(found.count > 50)
        for (path, reference) in found {
            #expect(throws: Never.self, "\(path): \(reference)") { _ = try spec.validator.resolve(reference) }
        }
        #expect(throws: JSONSchemaValidator.UnsupportedSchema.self) {
            _ = try spec.validator.resolve("#/components/schemas/NoSuchSchema")
        }
        let schemes = Set(spec.root["components"]?["securitySchemes"]?.objectMembers?.map(\.0) ?? [])
        for (key, _, _, operation) in spec.operations {
            for requirement in operation["security"]?.arrayValue ?? [] {
                for (name, _) in requirement.objectMembers ?? [] {
                    #expect(schemes.contains(name), "\(key) requires an undefined scheme \(name)")
                }
            }
        }
    }

    @Test("operation ids are unique, every path parameter is declared, every operation has a 2xx and a 500")
    func operations() async throws {
        let spec = try await OpenAPISpec.served()
        let ids = spec.operations.compactMap { $0.operation["operationId"]?.stringValue }
        #expect(ids.count == spec.operations.count)
        #expect(Set(ids).count == ids.count, "duplicate operationIds: \(ids.sorted())")
        for (key, _, path, operation) in spec.operations {
            let templated = Set(
                path.split(separator: "/").filter { $0.hasPrefix("{") }.map { String($0.dropFirst().dropLast()) })
            let declared = (operation["parameters"]?.arrayValue ?? []).filter { $0["in"] == .string("path") }
            #expect(Set(declared.compactMap { $0["name"]?.stringValue }) == templated, "\(key)")
            #expect(declared.allSatisfy { $0["required"] == .bool(true) }, "\(key)")
            let statuses = operation["responses"]?.objectMembers?.map(\.0) ?? []
            #expect(statuses.contains { $0.hasPrefix("2") }, "\(key) documents no success")
            #expect(statuses.contains("500"), "\(key)")
            for (status, response) in operation["responses"]?.objectMembers ?? [] {
                #expect(response["description"]?.stringValue?.isEmpty == false, "\(key) \(status)")
            }
        }
    }

    @Test("every schema uses only keywords the conformance validator applies")
    func schemasUseTheValidatedSubset() async throws {
        let spec = try await OpenAPISpec.served()
        let keywords: Set<String> = [
            "$ref", "type", "enum", "const", "properties", "required", "additionalProperties", "propertyNames",
            "items", "pattern", "minimum", "maximum", "minLength", "maxLength", "oneOf", "anyOf", "allOf",
        ]
        let known = keywords.union(JSONSchemaValidator.annotations)
        var schemas: [(String, JSONValue)] = spec.root["components"]?["schemas"]?.objectMembers ?? []
        for (key, _, _, operation) in spec.operations {
            for (status, response) in operation["responses"]?.objectMembers ?? [] {
                for (media, content) in response["content"]?.objectMembers ?? [] {
                    if let schema = content["schema"] { schemas.append(("\(key) \(status) \(media)", schema)) }
                }
            }
        }
        func walk(_ schema: JSONValue, at path: String) {
            guard let members = schema.objectMembers else { return }
            for (keyword, value) in members {
                #expect(known.contains(keyword), "\(path) uses \(keyword)")
                switch keyword {
                case "properties":
                    for (name, member) in value.objectMembers ?? [] { walk(member, at: "\(path).\(name)") }
                case "items", "additionalProperties", "propertyNames": walk(value, at: "\(path)/\(keyword)")
                case "oneOf", "anyOf", "allOf":
                    for (index, member) in (value.arrayValue ?? []).enumerated() {
                        walk(member, at: "\(path)/\(keyword)[\(index)]")
                    }
                default: break
                }
            }
        }
        for (name, schema) in schemas { walk(schema, at: name) }
        #expect(schemas.count > 40)
    }

    // MARK: (a) documented routes are the router's routes

    @Test("the document's (method, path) set is exactly the router's")
    func routesMatchTheRouter() async throws {
        let spec = try await OpenAPISpec.served()
        let router = APIServer(node: FakeNode(), host: "127.0.0.1", port: 0, logger: quietLogger()).makeRouter()
        let registered = Set(router.routes.map { "\($0.method.rawValue) \($0.path.description)" })
        let documented = Set(
            spec.operations.map { "\($0.method) \(routerPathOfTemplate[$0.path] ?? $0.path)" })
        #expect(registered.count == router.routes.count)
        #expect(registered.contains("GET /openapi.json"))
        #expect(registered.contains("GET /v1/incidents"))
        #expect(
            documented == registered,
            """
            undocumented routes: \(registered.subtracting(documented).sorted()); \
            documented but not routed: \(documented.subtracting(registered).sorted())
            """)
    }

    // MARK: (b) answers match the document

    /// Requests that between them reach every documented operation, most of them more than once: successes
    /// and the refusals the fake node can produce.
    static func exchanges() -> [Exchange] {
        let fixture = Fixture()
        let ledger = LedgerFixture()
        let clock = ManualSource()
        var exchanges: [Exchange] = [
            .get("/health"), .get("/v1/status"), .get("/openapi.json"),
            .post("/v1/transactions", json: #"{"transaction":"AAEC"}"#),
            .post("/v1/transactions", json: #"{"transaction":"AAEC"}"#).preparing {
                await $0.setSubmitResult(.alreadyCommitted(id: Fixture().transaction.id, height: 2))
            },
            .post("/v1/transactions", json: "AAEC", contentType: "text/plain"),
            .post("/v1/transactions", json: "not json"),
            .post("/v1/transactions/batch", json: #"{"transactions":["AAEC","AAED"]}"#),
            .post("/v1/transactions/batch", json: #"{"transactions":["AAEC"]}"#).preparing {
                await $0.setSubmitResult(.alreadyCommitted(id: Fixture().transaction.id, height: 2))
            },
            .post("/v1/transactions/batch", json: #"{"transactions":["AAEC"]}"#).preparing {
                await $0.setSubmitResult(.rejected(SubmissionRejection(code: .signerLimit, detail: "16 pending")))
            },
            .post("/v1/transactions/batch", json: #"{"transactions":[]}"#),
            .post("/v1/transactions/batch", json: "AAEC", contentType: "text/plain"),
            .get("/v1/transactions/\(fixture.transaction.id.hex)"), .get("/v1/transactions/\(fixture.pendingID.hex)"),
            .get("/v1/transactions/\(fixture.droppedID.hex)"), .get("/v1/transactions/\(SHA256.hash([7]).hex)"),
            .get("/v1/transactions/xyz"),
            .get("/v1/blocks/2", access: clock.access()), .get("/v1/blocks/latest"), .get("/v1/blocks/9"),
            .get("/v1/blocks/abc"),
            .get("/v1/blocks/1", headers: [.authorization: "Bearer AAAA"], access: clock.access()),
            .get(
                "/v1/blocks/1",
                headers: SigningPlan(key: Signer.issuer.key, created: clock.seconds).headers(target: "/v1/blocks/1"),
                access: clock.access()),
            .get("/v1/notarizations/\(fixture.notarization.digest.hex)"),
            .get("/v1/notarizations/\(SHA256.hash([7]).hex)"), .get("/v1/notarizations/00"),
            .get("/v1/accounts/\(fixture.admin.publicKey.hex)"), .get("/v1/accounts/00"),
            .post("/v1/auth/challenge", json: nil),
            .post("/v1/auth/token", json: "{}"), .post("/v1/auth/token", json: "{}", contentType: "text/plain"),
            .get("/v1/issuers/https%3A%2F%2Fissuer.example%2Fage"), .get("/v1/issuers/https%3A%2F%2Fnone.example"),
            .get("/v1/issuers/%ZZ"), .get("/v1/proposals?status=open"), .get("/v1/proposals?status=pending"),
            .get("/v1/proposals/\(ledger.proposals[1].id.hex)"), .get("/v1/proposals/\(SHA256.hash([9]).hex)"),
            .get("/v1/proposals/xyz"),
            .get("/v1/incidents?organization=shop-a&severity=high&limit=2"), .get("/v1/incidents?severity=loud"),
            .get("/v1/incidents?cursor=CQkJ"), .get("/v1/incidents", access: clock.access()),
            .get(
                "/v1/incidents",
                headers: SigningPlan(key: Signer.stranger.key, created: clock.seconds).headers(target: "/v1/incidents"),
                access: clock.access()),
            .get("/v1/incidents/shop-a/inc-0"), .get("/v1/incidents/shop-a/inc-9"), .get("/v1/incidents/Shop!/inc-0"),
            .get("/v1/incident-log/inclusion?leaf=3"), .get("/v1/incident-log/inclusion?leaf=3&size=4"),
            .get("/v1/incident-log/inclusion?leaf=9"), .get("/v1/incident-log/inclusion"),
            .get("/v1/incident-log/consistency?from=2"), .get("/v1/incident-log/consistency?from=0"),
            .get("/v1/incident-log/leaves/3"), .get("/v1/incident-log/leaves/9"), .get("/v1/incident-log/leaves/x"),
            .get("/v1/incident-log/leaves/3", access: clock.access()),
            .post("/v1/presentations/requests", json: #"{"over": 18}"#),
            .post("/v1/presentations/requests", json: #"{"over": 21, "audience": "https://shop.example"}"#),
            .post("/v1/presentations/requests", json: #"{"over": 17}"#),
            .post("/v1/presentations/requests", json: #"{"over": 18}"#, contentType: "text/plain"),
            .post("/v1/presentations/verify", json: #"{"nonce": "n"}"#),
            .get(
                "/v1/status-lists?uri=" + FakeNode.statusEntry.uri.addingPercentEncoding(
                    withAllowedCharacters: .alphanumerics)!),
            Exchange(
                uri: "/v1/status-lists?uri=https%3A%2F%2Fissuer.example%2Fage%2Fstatus%2F1",
                headers: [.accept: "application/statuslist+jwt"]),
            .get("/v1/status-lists?uri=https%3A%2F%2Fnone.example%2F1"), .get("/v1/status-lists"),
            .get("/v1/issuers/https%3A%2F%2Fissuer.example%2Fage/metadata"),
            .get("/v1/issuers/https%3A%2F%2Fnone.example/metadata"),
            .get("/.well-known/jwt-vc-issuer/issuer.example/age"), .get("/.well-known/jwt-vc-issuer/nobody.example"),
            .get("/shop"),
        ]
        // Every registry and log route: its answer, an unknown parameter, and state that cannot be read.
        for uri in [
            "/v1/organizations", "/v1/validators", "/v1/plugins", "/v1/issuers", "/v1/regulators", "/v1/parameters",
            "/v1/proposals", "/v1/incident-log",
        ] {
            exchanges.append(.get(uri))
            exchanges.append(.get(uri + "?size=3"))
            exchanges.append(.get(uri).preparing { await $0.setQueryFailure(.unavailable("disk")) })
        }
        // Every refusal of a submission, with the status its code maps to.
        for code in SubmissionRejection.Code.allCases {
            exchanges.append(
                .post("/v1/transactions", json: #"{"transaction":"AAEC"}"#).preparing {
                    await $0.setSubmitResult(.rejected(SubmissionRejection(code: code, detail: "refused")))
                })
        }
        // Metrics, and the event streams' refusals (a bad resume point, an unknown parameter, no credentials).
        exchanges += [
            .get("/metrics"), .get("/v1/events/blocks?from=x"), .get("/v1/events/blocks?color=red"),
            .get("/v1/events/incidents?severity=loud"), .get("/v1/events/incidents", access: AccessControl()),
            .get("/v1/events/blocks", headers: [HTTPField.Name("Last-Event-ID")!: "not-a-number"]),
        ]
        // Every refusal of a presentation.
        for refusal in everyRefusal {
            exchanges.append(
                .post("/v1/presentations/verify", json: #"{"nonce": "n", "presentation": "p"}"#).preparing {
                    await $0.setVerifyResult(.failure(refusal))
                })
        }
        return exchanges
    }

    @Test("answers to requests of every documented operation have a listed status and match its schema")
    func answersMatchTheDocument() async throws {
        let conformance = Conformance(spec: try await OpenAPISpec.served())
        for exchange in Self.exchanges() {
            try await conformance.run(exchange)
        }
        try await tokenExchanges(conformance)
        // The fake node cannot build a successful AgeVerification (the library's initializer is internal to it);
        // verificationAnswer() checks that 200 body instead.
        // An event stream's 200 never ends, so it cannot be read whole here; EventStreamTests and
        // IncidentStreamTests parse the streams and check each event's fields.
        let successCheckedElsewhere: Set<String> = [
            "POST /v1/presentations/verify", "GET /v1/events/blocks", "GET /v1/events/incidents",
        ]
        for (key, _, _, _) in conformance.spec.operations where !successCheckedElsewhere.contains(key) {
            let statuses = conformance.seen[key] ?? []
            #expect(statuses.contains { $0.hasPrefix("2") }, "\(key) was never answered with success: \(statuses)")
        }
        let answered = conformance.seen.values.reduce(0) { $0 + $1.count }
        #expect(answered > 80, "distinct (operation, status) pairs checked: \(answered)")
    }

    /// The token route over one application: a login, a bad signature, a key that may not read.
    private func tokenExchanges(_ conformance: Conformance) async throws {
        let clock = ManualSource()
        try await makeGuardedApplication(FakeNode(), access: clock.access()).test(.router) { client in
            for (signer, tamper) in [(Signer.admin, false), (Signer.admin, true), (Signer.issuer, false)] {
                let key = signer.key
                let made = try await client.execute(uri: "/v1/auth/challenge", method: .post)
                let challenge = try JSONDecoder().decode(ChallengeBody.self, from: Data(made.body.readableBytesView))
                var message = AccessControl.tokenMessage(
                    chainID: Fixture.chainID, challenge: try Base64.decodeURL(challenge.challenge))
                if tamper { message[message.count - 1] ^= 1 }
                let request = TokenRequestBody(
                    publicKey: key.publicKey.hex, challenge: challenge.challenge,
                    signature: Base64.encode(key.signature(for: message, domain: .apiRequest).bytes))
                let response = try await client.execute(
                    uri: "/v1/auth/token", method: .post, headers: headers(contentType: "application/json"),
                    body: ByteBuffer(bytes: try JSONEncoder().encode(request)))
                try conformance.check("POST /v1/auth/token", method: .post, uri: "/v1/auth/token", response)
                #expect(response.status == (tamper ? .unauthorized : signer == .admin ? .ok : .forbidden))
            }
        }
    }

    @Test("a verified presentation's answer, as the route encodes it, matches the Verification schema")
    func verificationAnswer() async throws {
        // The fake node of this suite cannot build an AgeVerification (its initializer is the library's), so the
        // 200 body is checked here as the route encodes it; PresentationFlowTests validates the live answer of the
        // real verifier against the same schema.
        let spec = try await OpenAPISpec.served()
        let answer = VerificationAnswer(
            over: 18, holds: true, answeredBy: "age_over_18", disclosed: ["age_over_18": true, "age_over_21": false],
            issuer: "https://issuer.example/age", vct: "urn:eu.europa.ec.eudi:age_verification:1")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = try JSONValue.parse(Array(try encoder.encode(answer)))
        let schema = try #require(
            spec.root["paths"]?["/v1/presentations/verify"]?["post"]?["responses"]?["200"]?["content"]?[
                "application/json"]?["schema"])
        #expect(try spec.validator.errors(body, against: schema).isEmpty)
        let refusedShape = body.adding("accepted", .bool(false))
        #expect(try !spec.validator.errors(refusedShape, against: schema).isEmpty)
    }

    @Test("a block event's data validates against the document's x-ensure-events schema of the block stream")
    func blockEventData() async throws {
        let spec = try await OpenAPISpec.served()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try JSONValue.parse(Array(try encoder.encode(BlockEventBody(Fixture().blocks[1].block))))
        let schema = try #require(
            spec.root["paths"]?["/v1/events/blocks"]?["get"]?["responses"]?["200"]?["content"]?[
                "text/event-stream"]?["x-ensure-events"]?["block"]?["data"])
        #expect(try spec.validator.errors(data, against: schema).isEmpty)
        #expect(try !spec.validator.errors(data.adding("block", .string("AAEC")), against: schema).isEmpty)
    }

    // MARK: The validator can fail

    @Test("drift fails: an extra, missing, renamed or mistyped member of a real answer no longer validates")
    func driftIsCaught() async throws {
        let spec = try await OpenAPISpec.served()
        let box = ResponseCapture()
        try await makeApplication(FakeNode()).test(.router) { client in
            box.bytes = Array(try await client.execute(uri: "/v1/blocks/2", method: .get).body.readableBytesView)
        }
        let block = try JSONValue.parse(box.bytes)
        let schema = Schema.ref("Block").json
        #expect(try spec.validator.errors(block, against: schema).isEmpty)
        let drifted: [(String, JSONValue)] = [
            ("extra member", block.adding("size", .integer(1))),
            ("missing member", block.removing("headerBytes")),
            ("renamed member", block.removing("stateRoot").adding("state_root", block["stateRoot"]!)),
            ("string for integer", block.adding("height", .string("2"))),
            ("uppercase hex", block.adding("id", .string(block["id"]!.stringValue!.uppercased()))),
            ("bad Base64", block.adding("headerBytes", .string("not base64!"))),
            ("negative height", block.adding("height", .integer(-1))),
            ("certificate extra member", block.adding("certificate", block["certificate"]!.adding("x", .null))),
            ("array of numbers", block.adding("transactions", .array([.integer(1)]))),
        ]
        for (what, value) in drifted {
            #expect(try !spec.validator.errors(value, against: schema).isEmpty, "\(what) validated")
        }
    }

    @Test("the validator's keywords each refuse what they should")
    func validatorRefuses() throws {
        let validator = JSONSchemaValidator(root: .object([]))
        func schema(_ text: String) throws -> JSONValue { try JSONValue.parse(text) }
        let cases: [(String, String, Bool)] = [
            (#"{"type":"integer"}"#, "1", true), (#"{"type":"integer"}"#, "1.5", false),
            (#"{"type":"integer"}"#, "true", false), (#"{"type":"boolean"}"#, "1", false),
            (#"{"type":"number"}"#, "1", true), (#"{"type":["string","null"]}"#, "null", true),
            (#"{"enum":["a","b"]}"#, #""c""#, false), (#"{"const":422}"#, "422", true),
            (#"{"const":422}"#, "400", false), (#"{"pattern":"^[0-9a-f]{2}$"}"#, #""0A""#, false),
            (#"{"minimum":1}"#, "0", false), (#"{"maximum":5}"#, "6", false), (#"{"minLength":1}"#, #""""#, false),
            (#"{"required":["a"]}"#, "{}", false),
            (#"{"properties":{"a":{}},"additionalProperties":false}"#, #"{"b":1}"#, false),
            (#"{"additionalProperties":{"type":"boolean"}}"#, #"{"b":1}"#, false),
            (#"{"propertyNames":{"pattern":"^x"}}"#, #"{"y":1}"#, false),
            (#"{"items":{"type":"string"}}"#, "[1]", false),
            (#"{"oneOf":[{"type":"integer"},{"minimum":0}]}"#, "1", false),
            (#"{"oneOf":[{"type":"integer"},{"type":"string"}]}"#, "1", true),
            (#"{"anyOf":[{"type":"integer"},{"type":"string"}]}"#, "true", false),
            (#"{"allOf":[{"type":"integer"},{"minimum":3}]}"#, "2", false), ("false", "1", false),
        ]
        for (schemaText, instance, valid) in cases {
            let errors = try validator.errors(try JSONValue.parse(instance), against: try schema(schemaText))
            #expect(errors.isEmpty == valid, "\(schemaText) against \(instance): \(errors)")
        }
        #expect(throws: JSONSchemaValidator.UnsupportedSchema.self) {
            _ = try validator.errors(.integer(1), against: try schema(#"{"multipleOf":2}"#))
        }
    }

    // MARK: A real OpenAPI validator

    @Test("openapi-spec-validator (PyPI) accepts the document, and refuses it without info or with a bad $ref")
    func pythonValidatorAccepts() async throws {
        let spec = try await OpenAPISpec.served()
        let accepted = try runSpecValidator(spec.root)
        #expect(accepted.status == 0, "openapi-spec-validator refused the document: \(accepted.error)")
        #expect(accepted.output.contains("valid OpenAPI 3.1"))

        let withoutInfo = JSONValue.object(spec.root.objectMembers!.filter { $0.0 != "info" })
        #expect(try runSpecValidator(withoutInfo).status != 0)
        let badReference = spec.root.adding(
            "paths",
            spec.root["paths"]!.adding(
                "/health", .object([("get", .object([("responses", .object([("200", Schema.ref("Nope").json)]))]))])))
        #expect(try runSpecValidator(badReference).status != 0)
    }

    /// The script that runs the validator on a document file.
    static let validatorScript = """
        import json, sys
        from openapi_spec_validator import validate
        from openapi_spec_validator.validation import OpenAPIV31SpecValidator
        with open(sys.argv[1]) as f:
            document = json.load(f)
        validate(document, cls=OpenAPIV31SpecValidator)
        print("valid OpenAPI 3.1")
        """

    private func runSpecValidator(_ document: JSONValue) throws -> (status: Int32, output: String, error: String) {
        let python = try interopPython()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("openapi-\(UUID().uuidString).json")
        try Data(document.serializedBytes).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        // Output goes to files, not pipes: a refusal prints the whole document, more than a pipe holds, and a
        // full pipe would block the validator while this waits for it to exit.
        let outputFile = file.appendingPathExtension("out")
        let errorFile = file.appendingPathExtension("err")
        _ = FileManager.default.createFile(atPath: outputFile.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: outputFile)
            try? FileManager.default.removeItem(at: errorFile)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", Self.validatorScript, file.path]
        process.standardOutput = try FileHandle(forWritingTo: outputFile)
        process.standardError = try FileHandle(forWritingTo: errorFile)
        try process.run()
        process.waitUntilExit()
        let out = try String(contentsOf: outputFile, encoding: .utf8)
        let err = try String(contentsOf: errorFile, encoding: .utf8)
        return (process.terminationStatus, out, String(err.suffix(2000)))
    }

    /// The interop venv's Python; missing is a failure, never a skip.
    private func interopPython() throws -> String {
        if let configured = ProcessInfo.processInfo.environment["ENSURE_INTEROP_PYTHON"] {
            guard FileManager.default.isExecutableFile(atPath: configured) else {
                throw SpecError("ENSURE_INTEROP_PYTHON=\(configured) is not executable")
            }
            return configured
        }
        let path = apiTestsRepositoryRoot.appendingPathComponent(".build/interop-venv/bin/python3").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw SpecError(
                "the interop venv is missing (\(path)); run `bash scripts/setup`, which installs "
                    + "openapi-spec-validator 0.9.0 into it, or set ENSURE_INTEROP_PYTHON")
        }
        return path
    }
}

extension JSONValue {
    /// The object with member `name` set to `value`.
    func adding(_ name: String, _ value: JSONValue) -> JSONValue {
        guard var members = objectMembers else { return self }
        if let index = members.firstIndex(where: { $0.0 == name }) {
            members[index].1 = value
        } else {
            members.append((name, value))
        }
        return .object(members)
    }

    /// The object without member `name`.
    func removing(_ name: String) -> JSONValue {
        .object((objectMembers ?? []).filter { $0.0 != name })
    }
}
