import Credentials
import EnsureCrypto
import Foundation
import Hummingbird
import HummingbirdTesting
import Ledger
import Testing

@testable import API

/// A real issuer, status list and batch, and a fake node whose verifier is the real ``PresentationVerifier`` over
/// in-memory sources with a real ``PresentationRequestStore``: the HTTP routes run exactly as on a node.
private struct PresentationFlow {
    static let issuerURL = "https://issuer.example/bank"
    static let kid = "bank-1"
    static let statusURI = issuerURL + "/status/1"
    /// 2025-06-15T12:00:00Z.
    static let now: Int64 = 1_749_988_800

    let signingKey: JWSSigningKey
    var statusList: IssuerStatusList
    let batch: [IssuedCredential]
    let requests = PresentationRequestStore(clock: { PresentationFlow.now })

    init() throws {
        var generator = SystemRandomNumberGenerator()
        signingKey = .p256(makeP256Key(using: &generator))
        let issuer = try AgeCredentialIssuer(issuer: Self.issuerURL, kid: Self.kid, signingKey: signingKey)
        statusList = try IssuerStatusList(uri: Self.statusURI, bits: 1, count: 1024)
        batch = try issuer.issueBatch(
            birthDate: CivilDate(iso: "2000-03-10")!, count: 3, now: Self.now, statusList: &statusList,
            using: &generator)
    }

    /// The verifier over the issuer (its key `revoked` or not) and the current status list.
    func verifier(keyRevoked: Bool = false) -> PresentationVerifier {
        PresentationVerifier(
            registry: InMemoryIssuerRegistry([
                RegisteredIssuer(
                    identifier: Self.issuerURL,
                    keys: [IssuerKey(jwk: signingKey.publicJWK(kid: Self.kid), revoked: keyRevoked)],
                    allowedVCTs: [AgeProfile.defaultVCT])
            ]), statusLists: InMemoryStatusListSource([Self.statusURI: statusList.list]))
    }

    /// Asks the API for a request for "over 18", presents credential `index` for it, posts the presentation and
    /// returns the answer's status and document.
    func presentThroughAPI(_ index: Int, client: some TestClientProtocol) async throws -> (
        HTTPResponse.Status, JSONDocument
    ) {
        let (nonce, audience) = try await client.execute(
            uri: "/v1/presentations/requests", method: .post, headers: headers(contentType: "application/json"),
            body: ByteBuffer(string: #"{"over": 18}"#)
        ) { response in
            #expect(response.status == .created)
            let document = try JSONDocument(response)
            return (try #require(document.string("nonce")), try #require(document.string("audience")))
        }
        let presentation = try AgePresentation.present(
            credential: batch[index].sdJWT, holderKey: batch[index].holderKey, over: 18, nonce: nonce,
            audience: audience, now: Self.now)
        return try await post(nonce: nonce, presentation: presentation, client: client)
    }

    func post(nonce: String, presentation: String, client: some TestClientProtocol) async throws
        -> (HTTPResponse.Status, JSONDocument)
    {
        let (status, body) = try await postRaw(nonce: nonce, presentation: presentation, client: client)
        return (status, try JSONDocument(bytes: body))
    }

    /// The answer's status and its body as sent.
    func postRaw(nonce: String, presentation: String, client: some TestClientProtocol) async throws
        -> (HTTPResponse.Status, [UInt8])
    {
        let body = try JSONSerialization.data(withJSONObject: ["nonce": nonce, "presentation": presentation])
        return try await client.execute(
            uri: "/v1/presentations/verify", method: .post, headers: headers(contentType: "application/json"),
            body: ByteBuffer(bytes: body)
        ) { response in (response.status, Array(buffer: response.body)) }
    }
}

@Suite("Presentation verification through the API with the real verifier")
struct PresentationFlowTests {
    @Test("a wallet's presentation is accepted through POST /v1/presentations/verify, and refused once revoked")
    func acceptedThenRevoked() async throws {
        var flow = try PresentationFlow()
        let node = FakeNode()
        await node.setCredentials(requests: flow.requests, verifier: flow.verifier())
        let before = flow
        try await makeApplication(node).test(.router) { client in
            let (status, answer) = try await before.presentThroughAPI(0, client: client)
            #expect(status == .ok)
            #expect(answer["accepted"] as? Bool == true)
            #expect(answer["holds"] as? Bool == true)
            #expect(answer.integer("over") == 18)
            #expect(answer.string("answeredBy") == "age_over_18")
            #expect(answer.string("issuer") == PresentationFlow.issuerURL)
            #expect(answer.string("vct") == AgeProfile.defaultVCT)
            #expect(answer.string("refusal") == nil)
            // Credential 1 is accepted too, before its revocation; its answer, as sent, validates against the
            // OpenAPI document's 200 schema of the route, and the refusal's against its 422 schema.
            let request = await before.requests.create(audience: "urn:ensure:verifier:test", threshold: 18)
            let presentation = try AgePresentation.present(
                credential: before.batch[1].sdJWT, holderKey: before.batch[1].holderKey, over: 18,
                nonce: request.nonce, audience: request.audience, now: PresentationFlow.now)
            let (acceptedStatus, acceptedBody) = try await before.postRaw(
                nonce: request.nonce, presentation: presentation, client: client)
            #expect(acceptedStatus == .ok)
            let (replayStatus, replayBody) = try await before.postRaw(
                nonce: request.nonce, presentation: presentation, client: client)
            #expect(replayStatus == .unprocessableContent)
            let spec = try await OpenAPISpec.served()
            let route = spec.root["paths"]?["/v1/presentations/verify"]?["post"]?["responses"]
            let accepted = try #require(route?["200"]?["content"]?["application/json"]?["schema"])
            let refused = try #require(route?["422"]?["content"]?["application/problem+json"]?["schema"])
            #expect(try spec.validator.errors(JSONValue.parse(acceptedBody), against: accepted).isEmpty)
            #expect(try spec.validator.errors(JSONValue.parse(replayBody), against: refused).isEmpty)
            // And the schemas tell them apart.
            #expect(try !spec.validator.errors(JSONValue.parse(replayBody), against: accepted).isEmpty)
        }

        // The issuer revokes credential 1; the node sees the new list.
        try flow.statusList.list.setStatus(CredentialStatus.invalid.rawValue, at: flow.batch[1].statusIndex)
        await node.setCredentials(requests: flow.requests, verifier: flow.verifier())
        let after = flow
        try await makeApplication(node).test(.router) { client in
            let (status, problem) = try await after.presentThroughAPI(1, client: client)
            #expect(status == .unprocessableContent)
            #expect(problem.string("type") == "urn:ensure:problem:presentation-revoked")
            #expect(problem.string("refusal") == "revoked")
            #expect(problem["accepted"] as? Bool == false)
            // The others still verify.
            #expect(try await after.presentThroughAPI(2, client: client).0 == .ok)
        }
    }

    @Test("a replayed presentation is refused as nonce-reused; a revoked issuer key as issuer-key-revoked")
    func replayAndRevokedKey() async throws {
        let flow = try PresentationFlow()
        let node = FakeNode()
        await node.setCredentials(requests: flow.requests, verifier: flow.verifier())
        try await makeApplication(node).test(.router) { client in
            let request = await flow.requests.create(audience: "urn:ensure:verifier:test", threshold: 18)
            let presentation = try AgePresentation.present(
                credential: flow.batch[0].sdJWT, holderKey: flow.batch[0].holderKey, over: 18, nonce: request.nonce,
                audience: request.audience, now: PresentationFlow.now)
            #expect(try await flow.post(nonce: request.nonce, presentation: presentation, client: client).0 == .ok)
            let (status, problem) = try await flow.post(
                nonce: request.nonce, presentation: presentation, client: client)
            #expect(status == .unprocessableContent)
            #expect(problem.string("type") == "urn:ensure:problem:presentation-nonce-reused")
        }
        await node.setCredentials(requests: flow.requests, verifier: flow.verifier(keyRevoked: true))
        try await makeApplication(node).test(.router) { client in
            let (status, problem) = try await flow.presentThroughAPI(1, client: client)
            #expect(status == .unprocessableContent)
            #expect(problem.string("type") == "urn:ensure:problem:presentation-issuer-key-revoked")
            #expect(problem.string("title") == "Issuer key revoked")
            #expect(problem.string("refusal") == "issuer_key_revoked")
        }
    }

    @Test("issuer metadata leaves revoked keys out and keeps retired ones (they still verify older credentials)")
    func metadataWithoutRevokedKeys() async throws {
        func key(_ kid: String, _ fill: UInt8) -> IssuerSigningKey {
            IssuerSigningKey(
                keyID: kid, x: [UInt8](repeating: fill, count: 32), y: [UInt8](repeating: 2, count: 32), notBefore: 1,
                notAfter: 2)
        }
        var retired = key("old", 1)
        retired.retiredFrom = 1
        var revoked = key("lost", 3)
        revoked.revokedAt = 1
        let node = FakeNode()
        await node.setIssuerRecord(
            IssuerRecord(
                identifier: "https://issuer.example/age", organization: "shop-a",
                ledgerKey: Ed25519PrivateKey(seed: [UInt8](repeating: 8, count: 32))!.publicKey,
                signingKeys: [retired, revoked, key("new", 5)], credentialTypes: ["age-over-18"], validFrom: 1,
                validUntil: 3))
        try await makeApplication(node).test(.router) { client in
            try await client.execute(uri: "/v1/issuers/https%3A%2F%2Fissuer.example%2Fage/metadata", method: .get) {
                response in
                #expect(response.status == .ok)
                let document = try JSONDocument(response)
                let keys = try #require((document["jwks"] as? [String: Any])?["keys"] as? [[String: Any]])
                #expect(keys.compactMap { $0["kid"] as? String } == ["old", "new"])
            }
        }
    }
}
