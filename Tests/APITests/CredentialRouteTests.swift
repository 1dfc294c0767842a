import Credentials
import EnsureCrypto
import Foundation
import Hummingbird
import HummingbirdTesting
import Ledger
import Testing

@testable import API

/// Sends `method` `uri` with an optional JSON `body` to a fake node's API and hands the response to `check`.
private func send(
    _ method: HTTPRequest.Method, _ uri: String, json body: String? = nil, node: FakeNode = FakeNode(),
    accept: String? = nil, _ check: @escaping @Sendable (TestResponse) async throws -> Void
) async throws {
    var fields = body == nil ? HTTPFields() : headers(contentType: "application/json")
    if let accept { fields[.accept] = accept }
    let requestFields = fields
    try await makeApplication(node).test(.router) { client in
        try await client.execute(
            uri: uri, method: method, headers: requestFields, body: body.map { ByteBuffer(string: $0) }
        ) {
            response in try await check(response)
        }
    }
}

/// Every refusal the library can give, one of each case.
let everyRefusal: [PresentationRefusal] = [
    .malformed("x"), .unsupportedAlgorithm("HS256"), .badIssuerSignature, .unknownIssuer("i"), .delistedIssuer("i"),
    .issuerKeyUnknown(issuer: "i", kid: "k"), .issuerKeyOutsideValidity(issuer: "i", kid: "k"),
    .issuerKeyRetired(issuer: "i", kid: "k", since: 1), .issuerKeyRevoked(issuer: "i", kid: "k"), .vctNotAllowed("v"),
    .revoked(index: 3, status: 1), .suspended(index: 3), .statusListUnavailable(uri: "u"), .expired(exp: 1),
    .notYetValid(2), .nonceUnknown, .nonceReused, .nonceExpired, .wrongAudience(expected: "a", found: "b"),
    .disclosureDigestMismatch(digest: "d"), .keyBindingMissing, .keyBindingSignatureInvalid, .sdHashMismatch,
    .keyBindingTooOld(iat: 1), .keyBindingFromFuture(iat: 2), .predicateNotDisclosed(threshold: 18),
]

@Suite("API credential routes")
struct CredentialRouteTests {
    @Test("a presentation request answers a nonce, the audience, the question, the expiry and the wallet command")
    func createRequest() async throws {
        try await send(.post, "/v1/presentations/requests", json: #"{"over": 18}"#) { response in
            #expect(response.status == .created)
            let document = try JSONDocument(response)
            #expect(document.string("nonce") == FakeNode.nonce)
            #expect(document.string("audience") == "urn:ensure:verifier:test")
            #expect(document.integer("over") == 18)
            #expect(document.integer("expiresAt") == 1_750_000_300)
            #expect(
                document.string("command")
                    == "ensure wallet present --nonce \(FakeNode.nonce) --aud urn:ensure:verifier:test --over 18")
        }
        try await send(.post, "/v1/presentations/requests", json: #"{"over": 21, "audience": "https://shop.example"}"#)
        { response in
            let document = try JSONDocument(response)
            #expect(document.string("audience") == "https://shop.example")
            #expect(document.integer("over") == 21)
        }
    }

    @Test("a request with a bad threshold, audience or body is refused and names what was wrong")
    func badRequest() async throws {
        let cases: [(String, String)] = [
            (#"{"over": 17}"#, "over must be one of"), (#"{}"#, "over is missing"), (#"{"over": "18"}"#, "over has"),
            (#"{"over": 18, "audience": ""}"#, "audience"), (#"{"over": 18, "audience": "a b"}"#, "audience"),
            ("[1]", "body"),
        ]
        for (body, mention) in cases {
            try await send(.post, "/v1/presentations/requests", json: body) { response in
                #expect(response.status == .badRequest, "\(body)")
                let problem = try ProblemJSON(response)
                #expect(problem.type == "urn:ensure:problem:malformed")
                #expect(problem.detail.contains(mention), "\(body): \(problem.detail)")
            }
        }
        try await makeApplication(FakeNode()).test(.router) { client in
            try await client.execute(
                uri: "/v1/presentations/requests", method: .post, headers: headers(contentType: "text/plain"),
                body: ByteBuffer(string: #"{"over":18}"#)
            ) { response in #expect(response.status == .unsupportedMediaType) }
        }
    }

    @Test("every refusal is a 422 problem with its own stable type and the library's code")
    func verifyRefused() async throws {
        var types: Set<String> = []
        for refusal in everyRefusal {
            let node = FakeNode()
            await node.setVerifyResult(.failure(refusal))
            try await send(.post, "/v1/presentations/verify", json: #"{"nonce": "n", "presentation": "p"}"#, node: node)
            { response in
                #expect(response.status == .unprocessableContent)
                #expect(response.headers[.contentType] == "application/problem+json")
                let document = try JSONDocument(response)
                #expect(document.string("refusal") == refusal.code)
                #expect(document["accepted"] as? Bool == false)
                #expect(document.string("detail") == refusal.description)
                let problem = try ProblemJSON(response)
                #expect(problem.status == 422)
                #expect(
                    problem.type == "urn:ensure:problem:presentation-"
                        + refusal.code.replacingOccurrences(of: "_", with: "-"))
            }
            types.insert(APIProblem.typePrefix + refusal.problemCode)
        }
        #expect(types.count == everyRefusal.count)
    }

    @Test("a verification body without a nonce or presentation is refused before the node is asked")
    func verifyMalformed() async throws {
        let node = FakeNode()
        for body in [#"{"presentation": "p"}"#, #"{"nonce": "n"}"#, #"{"nonce": "", "presentation": "p"}"#] {
            try await send(.post, "/v1/presentations/verify", json: body, node: node) { response in
                #expect(response.status == .badRequest, "\(body)")
            }
        }
        #expect(await node.verifications.isEmpty)
    }

    @Test("the stored status list token is public, as JSON or as application/statuslist+jwt")
    func statusList() async throws {
        let entry = FakeNode.statusEntry
        let query = "/v1/status-lists?uri=" + entry.uri.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        try await send(.get, query) { response in
            #expect(response.status == .ok)
            let document = try JSONDocument(response)
            #expect(document.string("token") == entry.token)
            #expect(document.string("issuer") == entry.issuer)
            #expect(document.integer("version") == 3)
        }
        try await send(.get, query, accept: "application/statuslist+jwt") { response in
            #expect(response.headers[.contentType] == "application/statuslist+jwt")
            #expect(String(decoding: response.body.readableBytesView, as: UTF8.self) == entry.token)
        }
        try await send(.get, "/v1/status-lists?uri=https%3A%2F%2Fnone.example%2F1") { response in
            #expect(response.status == .notFound)
            let problem = try ProblemJSON(response)
            #expect(problem.type == "urn:ensure:problem:unknown-status-list")
        }
        try await send(.get, "/v1/status-lists") { response in #expect(response.status == .badRequest) }
    }

    @Test("issuer metadata lists the issuer's P-256 keys as JWKs, by identifier or at the well-known path")
    func metadata() async throws {
        let issuer = LedgerFixture().issuer
        for uri in [
            "/v1/issuers/https%3A%2F%2Fissuer.example%2Fage/metadata", "/.well-known/jwt-vc-issuer/issuer.example/age",
        ] {
            try await send(.get, uri) { response in
                #expect(response.status == .ok, "\(uri)")
                let document = try JSONDocument(response)
                #expect(document.string("issuer") == issuer.identifier)
                let keys = try #require((document["jwks"] as? [String: Any])?["keys"] as? [[String: String]])
                #expect(keys.count == 1)
                #expect(keys[0]["kty"] == "EC" && keys[0]["crv"] == "P-256" && keys[0]["kid"] == "k1")
                #expect(keys[0]["x"] == Base64.encodeURL(issuer.signingKeys[0].x))
                #expect(keys[0]["y"] == Base64.encodeURL(issuer.signingKeys[0].y))
            }
        }
        try await send(.get, "/.well-known/jwt-vc-issuer/nobody.example") { response in
            #expect(response.status == .notFound)
        }
    }

    @Test("the shop page is one self-contained HTML page that calls the two presentation routes")
    func shop() async throws {
        try await send(.get, "/shop") { response in
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "text/html; charset=utf-8")
            let html = String(decoding: response.body.readableBytesView, as: UTF8.self)
            #expect(html.hasPrefix("<!doctype html>"))
            #expect(html.contains(#"<form id="verify-form">"#))
            #expect(html.contains("<textarea"))
            #expect(html.contains(#"post("/v1/presentations/requests""#))
            #expect(html.contains(#"post("/v1/presentations/verify""#))
            #expect(html.contains("ensure wallet present --nonce"))
            // Nothing is loaded from elsewhere.
            #expect(!html.contains("src=\"http") && !html.contains("href=\"http") && !html.contains("@import"))
        }
    }
}
