import Codec
import EnsureCrypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Ledger
import NIOCore
import Testing

@testable import API

/// A clock tests move by hand, and randomness that counts: access control decisions depend on nothing else.
/// The lock makes the shared state safe across the test's tasks, which is why the class is Sendable.
final class ManualSource: @unchecked Sendable {
    private let lock = NSLock()
    private var milliseconds: UInt64
    private var counter: UInt8 = 0

    init(seconds: UInt64 = 1_750_000_000) { milliseconds = seconds * 1000 }

    var now: UInt64 { lock.withLock { milliseconds } }
    var seconds: Int64 { Int64(now / 1000) }

    func advance(seconds: UInt64) { lock.withLock { milliseconds += seconds * 1000 } }

    func bytes(_ count: Int) -> [UInt8] {
        lock.withLock {
            counter &+= 1
            return [UInt8](repeating: counter, count: count)
        }
    }

    func access(_ limits: AccessControl.Limits = AccessControl.Limits()) -> AccessControl {
        AccessControl(limits: limits, clock: { [self] in now }, random: { [self] in bytes($0) })
    }
}

/// The keys of the role matrix.
enum Signer: String, CaseIterable, CustomStringConvertible {
    case admin, plugin, regulator, issuer, stranger

    var key: Ed25519PrivateKey {
        let ledger = LedgerFixture()
        switch self {
        case .admin: return ledger.admin
        case .plugin: return ledger.pluginKey
        case .regulator: return ledger.validatorKeys[0]
        case .issuer: return Fixture.issuerKey
        case .stranger: return Ed25519PrivateKey(seed: [UInt8](repeating: 42, count: 32))!
        }
    }

    var mayRead: Bool { self == .admin || self == .plugin || self == .regulator }
    var description: String { rawValue }
}

/// How a test request is signed; every field can be bent to produce one refusal.
struct SigningPlan {
    var key: Ed25519PrivateKey
    var created: Int64
    var expires: Int64?
    var nonce: String? = "nonce-0123456789abcdef"
    var alg: String? = "ed25519"
    var keyID: String?
    var components = ["@method", "@authority", "@path", "@query"]
    var label = "ensure"
    /// Sign this target instead of the one sent.
    var signedTarget: String?

    init(key: Ed25519PrivateKey, created: Int64) {
        self.key = key
        self.created = created
    }

    func parameters() -> [StructuredField.Parameter] {
        var out = [StructuredField.Parameter("created", .integer(created))]
        if let expires { out.append(.init("expires", .integer(expires))) }
        out.append(.init("keyid", .string(keyID ?? key.publicKey.hex)))
        if let nonce { out.append(.init("nonce", .string(nonce))) }
        if let alg { out.append(.init("alg", .string(alg))) }
        return out
    }

    /// `Signature-Input` and `Signature` for a request to `target` with `fields` (and the method).
    func headers(method: String = "GET", target: String, fields: HTTPFields = [:]) -> HTTPFields {
        let list = StructuredField.InnerList(components.map { .init(.string($0)) }, parameters: parameters())
        let signature = MessageSignature(label: label, components: components, parameters: list, signature: [])
        let parts = SignedRequestParts(
            method: method, scheme: "http", authority: "localhost", target: signedTarget ?? target,
            fields: fields.map { ($0.name.canonicalName, $0.value) })
        let base = try! signature.signatureBase(for: parts)
        var headers = fields
        headers[HTTPField.Name("Signature-Input")!] = "\(label)=" + StructuredField.serialize(list)
        headers[HTTPField.Name("Signature")!] = "\(label)=:" + Base64.encode(key.signature(forRaw: base).bytes) + ":"
        return headers
    }
}

/// The protected routes and a URI of each that the fake node answers with 200.
let protectedURIs = ["/v1/incidents", "/v1/incidents/shop-a/inc-0", "/v1/incident-log/leaves/0"]

/// Sends `uri` with `headers` to a guarded application and hands the response to `check`.
func send(
    _ uri: String, method: HTTPRequest.Method = .get, headers: HTTPFields = [:], body: ByteBuffer? = nil,
    node: FakeNode = FakeNode(), access: AccessControl, _ check: @escaping @Sendable (TestResponse) throws -> Void
) async throws {
    try await makeGuardedApplication(node, access: access).test(.router) { client in
        try await client.execute(uri: uri, method: method, headers: headers, body: body) { response in
            try check(response)
        }
    }
}

/// Expects a 401 `unauthenticated` whose detail starts with `reason`.
func expectUnauthenticated(
    _ response: TestResponse, _ reason: AuthFailure.Reason, sourceLocation: SourceLocation = #_sourceLocation
) throws {
    #expect(response.status == .unauthorized, sourceLocation: sourceLocation)
    #expect(response.headers[.wwwAuthenticate] == #"Bearer realm="ensure""#, sourceLocation: sourceLocation)
    let problem = try ProblemJSON(response)
    #expect(problem.type == "urn:ensure:problem:unauthenticated", sourceLocation: sourceLocation)
    #expect(problem.detail.hasPrefix(reason.rawValue + ":"), "\(problem.detail)", sourceLocation: sourceLocation)
}

func expectForbidden(_ response: TestResponse, sourceLocation: SourceLocation = #_sourceLocation) throws {
    #expect(response.status == .forbidden, sourceLocation: sourceLocation)
    #expect(try ProblemJSON(response).type == "urn:ensure:problem:forbidden", sourceLocation: sourceLocation)
}

@Suite("RFC 9421 and RFC 8941")
struct MessageSignatureVectorTests {
    /// RFC 9421 Appendix B.1.4 (test-key-ed25519) and B.2.6.
    static let seed = Hex.decode("9f8362f87a484a954e6e740c5b4c0e84229139a20aa8ab56ff66586f6a7d29c5")!
    static let publicKey = "26b40b8f93fff3d897112f7ebc582b232dbd72517d082fe83cfb30ddce43d1bb"
    static let input =
        #"sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");"#
        + #"created=1618884473;keyid="test-key-ed25519""#
    static let signature =
        "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:"
    static let base = """
        "date": Tue, 20 Apr 2021 02:07:55 GMT
        "@method": POST
        "@path": /foo
        "@authority": example.com
        "content-type": application/json
        "content-length": 18
        "@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length");\
        created=1618884473;keyid="test-key-ed25519"
        """
    /// The RFC's test request (B.2).
    static let request = SignedRequestParts(
        method: "POST", scheme: "https", authority: "example.com", target: "/foo?param=Value&Pet=dog",
        fields: [
            ("Host", "example.com"), ("Date", "Tue, 20 Apr 2021 02:07:55 GMT"), ("Content-Type", "application/json"),
            (
                "Content-Digest",
                "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:"
            ),
            ("Content-Length", "18"),
        ])

    @Test func ed25519VectorRebuildsTheBaseAndVerifies() throws {
        let key = try #require(Ed25519PrivateKey(seed: Self.seed))
        #expect(key.publicKey.hex == Self.publicKey)
        let signature = try MessageSignature.parse(signatureInput: Self.input, signature: Self.signature)
        #expect(signature.label == "sig-b26")
        let base = try signature.signatureBase(for: Self.request)
        #expect(String(decoding: base, as: UTF8.self) == Self.base)
        #expect(try signature.verifies(with: key.publicKey, for: Self.request))
        // Ed25519 is deterministic: signing the base reproduces the RFC's signature byte for byte.
        #expect(key.signature(forRaw: base).bytes == signature.signature)
    }

    @Test func ed25519VectorFailsWhenAnythingCoveredChanges() throws {
        let signature = try MessageSignature.parse(signatureInput: Self.input, signature: Self.signature)
        let key = try #require(Ed25519PublicKey(hex: Self.publicKey))
        var request = Self.request
        request.method = "PUT"
        #expect(try !signature.verifies(with: key, for: request))
        request = Self.request
        request.target = "/bar"
        #expect(try !signature.verifies(with: key, for: request))
        var tampered = signature.signature
        tampered[0] ^= 1
        let forged = MessageSignature(
            label: signature.label, components: signature.components, parameters: signature.parameters,
            signature: tampered)
        #expect(try !forged.verifies(with: key, for: Self.request))
        // A covered field that is missing is named.
        request = Self.request
        request.fields.removeAll { $0.name == "date" }
        #expect(throws: AuthFailure.self) { try signature.signatureBase(for: request) }
    }

    @Test func theVectorDoesNotMeetThisAPIsProfile() throws {
        // It has no alg, no nonce, and its keyid is a name rather than the key itself.
        let signature = try MessageSignature.parse(signatureInput: Self.input, signature: Self.signature)
        #expect(throws: AuthFailure(.unsupportedAlgorithm, "alg is missing; this API takes alg=\"ed25519\" only")) {
            try RequestSignatureProfile().check(signature, request: Self.request, hasBody: true, now: 1_618_884_473)
        }
    }

    /// The worked example of docs/api.md, "Access": its headers, signature base and signature.
    @Test func theDocumentedExampleVerifies() throws {
        let key = try #require(Ed25519PrivateKey(seed: [UInt8](repeating: 1, count: 32)))
        let keyID = "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
        #expect(key.publicKey.hex == keyID)
        let parameters =
            #"("@method" "@authority" "@path" "@query");created=1750000000;keyid="\#(keyID)";"#
            + #"nonce="q9KnOGO2cT5vYt3lqQ9JxA";alg="ed25519""#
        let signature = try MessageSignature.parse(
            signatureInput: "ensure=" + parameters,
            signature:
                "ensure=:Bw1W3qNp0gN4F6qCqDDbfuxNbsIonKM74Cb1Tc/xyQk+kLzz3mHYYYtJvlP9tAHkOpg20C0S0f4L3wZGPZ+TAA==:")
        let request = SignedRequestParts(
            method: "GET", scheme: "http", authority: "127.0.0.1:26601", target: "/v1/incidents?status=open&limit=2",
            fields: [])
        let base = """
            "@method": GET
            "@authority": 127.0.0.1:26601
            "@path": /v1/incidents
            "@query": ?status=open&limit=2
            "@signature-params": \(parameters)
            """
        #expect(String(decoding: try signature.signatureBase(for: request), as: UTF8.self) == base)
        let accepted = try RequestSignatureProfile().check(
            signature, request: request, hasBody: false, now: 1_750_000_010)
        #expect(accepted.key == key.publicKey)
        #expect(accepted.nonce == "q9KnOGO2cT5vYt3lqQ9JxA")
        #expect(accepted.acceptableUntil == 1_750_000_300)
    }

    @Test func derivedComponents() throws {
        let request = SignedRequestParts(
            method: "GET", scheme: "HTTP", authority: "Node.Example:80", target: "/v1/incidents?limit=5&x=%20",
            fields: [("X-A", " one "), ("x-a", "two")])
        #expect(try MessageSignature.componentValue("@authority", of: request) == "node.example")
        #expect(try MessageSignature.componentValue("@path", of: request) == "/v1/incidents")
        #expect(try MessageSignature.componentValue("@query", of: request) == "?limit=5&x=%20")
        #expect(
            try MessageSignature.componentValue("@target-uri", of: request)
                == "http://node.example/v1/incidents?limit=5&x=%20")
        #expect(try MessageSignature.componentValue("x-a", of: request) == "one, two")
        let bare = SignedRequestParts(method: "GET", scheme: "http", authority: "h:8080", target: "", fields: [])
        #expect(try MessageSignature.componentValue("@query", of: bare) == "?")
        #expect(try MessageSignature.componentValue("@path", of: bare) == "/")
        #expect(try MessageSignature.componentValue("@authority", of: bare) == "h:8080")
        #expect(throws: AuthFailure.self) { try MessageSignature.componentValue("@query-param", of: bare) }
        #expect(throws: AuthFailure.self) { try MessageSignature.componentValue("X-A", of: bare) }
    }

    @Test func structuredFieldsParseTheSubsetStrictly() throws {
        let members = try StructuredField.parseDictionary(
            #"a=("x" "y");p=1;q="s\"t", b=:AQI=:, c, d=tok/en:1;e=?0, f=-15"#, field: "T")
        #expect(members.map(\.key) == ["a", "b", "c", "d", "f"])
        guard case .innerList(let list) = members[0].member else {
            Issue.record("a is not an inner list")
            return
        }
        #expect(list.items.map(\.value) == [.string("x"), .string("y")])
        #expect(list.parameter("q") == .string(#"s"t"#))
        #expect(StructuredField.serialize(list) == #"("x" "y");p=1;q="s\"t""#)
        #expect(members[1].member == .item(.init(.bytes([1, 2]))))
        #expect(members[2].member == .item(.init(.boolean(true))))
        #expect(members[3].member == .item(.init(.token("tok/en:1"), parameters: [.init("e", .boolean(false))])))
        #expect(members[4].member == .item(.init(.integer(-15))))

        let refused = [
            "a=1,": "ends with a comma", "a=1, a=2": "repeats the key a", "a=1.5": "decimal",
            "a=:AQI:": "Base64", #"a="open"#: "ends inside a string", "A=1": "key", "a=(1 2": "inner-list",
            "a=1;p;p": "repeats the parameter p", "a=1234567890123456": "15 digits", "a=?2": "boolean",
            "a=1 b=2": "comma", #"a="\x""#: "backslash", "a=\"é\"": "printable ASCII", "a=(1)(2)": "comma",
        ]
        for (text, reason) in refused {
            #expect(throws: StructuredFieldError.self, "\(text)") {
                try StructuredField.parseDictionary(text, field: "T")
            }
            do {
                _ = try StructuredField.parseDictionary(text, field: "T")
            } catch {
                #expect(error.description.contains(reason), "\(text): \(error)")
            }
        }
    }
}

@Suite("Access to the incident routes")
struct AuthTests {
    // MARK: Roles, both ways, on every protected route

    @Test(arguments: Signer.allCases)
    func signedRequestsByRole(_ signer: Signer) async throws {
        let clock = ManualSource()
        let access = clock.access()
        for (index, uri) in protectedURIs.enumerated() {
            var plan = SigningPlan(key: signer.key, created: clock.seconds)
            plan.nonce = "nonce-\(signer)-\(index)-0123456789"
            try await send(uri, headers: plan.headers(target: uri), access: access) { response in
                if signer.mayRead {
                    #expect(response.status == .ok, "\(signer) \(uri)")
                } else {
                    try expectForbidden(response)
                }
            }
        }
    }

    @Test func unsignedRequestsAreRefusedOnEveryProtectedRoute() async throws {
        let clock = ManualSource()
        for uri in protectedURIs {
            try await send(uri, access: clock.access()) { response in
                try expectUnauthenticated(response, .missingCredentials)
            }
        }
    }

    @Test func publicRoutesStayOpenWithoutCredentials() async throws {
        let fixture = Fixture()
        let node = FakeNode(fixture: fixture)
        let uris = [
            "/health", "/v1/status", "/v1/blocks/1", "/v1/blocks/latest",
            "/v1/transactions/\(fixture.transaction.id.hex)",
            "/v1/notarizations/\(fixture.notarization.digest.hex)", "/v1/accounts/\(fixture.admin.publicKey.hex)",
            "/v1/organizations", "/v1/validators", "/v1/plugins", "/v1/issuers", "/v1/regulators", "/v1/parameters",
            "/v1/proposals", "/v1/incident-log", "/v1/incident-log/inclusion?leaf=0&size=5",
            "/v1/incident-log/consistency?from=2&to=5",
        ]
        let access = ManualSource().access()
        for uri in uris {
            try await send(uri, node: node, access: access) { response in
                #expect(response.status == .ok, "\(uri)")
            }
        }
        #expect(await node.roleQueries.isEmpty)
    }

    @Test func aPluginOfAnOrganizationThatLeftIsRefused() async throws {
        // The daemon answers nil for such a key; the fake does what governance would have left behind.
        let clock = ManualSource()
        let node = FakeNode()
        await node.setRole(nil, of: Signer.plugin.key.publicKey)
        let plan = SigningPlan(key: Signer.plugin.key, created: clock.seconds)
        try await send(
            "/v1/incidents", headers: plan.headers(target: "/v1/incidents"), node: node, access: clock.access()
        ) { response in
            try expectForbidden(response)
        }
    }

    // MARK: Every refusal of a signature

    /// Sends `/v1/incidents?limit=1` signed by the admin with `plan` bent by `bend`, and checks the answer.
    private func signed(
        status expected: HTTPResponse.Status = .ok, reason: AuthFailure.Reason? = nil,
        clock: ManualSource = ManualSource(), headers extra: HTTPFields = [:],
        sourceLocation: SourceLocation = #_sourceLocation, _ bend: (inout SigningPlan) -> Void = { _ in }
    ) async throws {
        var plan = SigningPlan(key: Signer.admin.key, created: clock.seconds)
        bend(&plan)
        let uri = "/v1/incidents?limit=1"
        var headers = plan.headers(target: uri)
        for field in extra { headers[field.name] = field.value }
        try await send(uri, headers: headers, access: clock.access()) { response in
            if let reason {
                try expectUnauthenticated(response, reason, sourceLocation: sourceLocation)
            } else {
                #expect(response.status == expected, sourceLocation: sourceLocation)
            }
        }
    }

    @Test func aProperSignatureIsAccepted() async throws {
        try await signed(status: .ok)
        try await signed(status: .ok) { $0.label = "any-label" }
        try await signed(status: .ok) { $0.components += ["@target-uri"] }
    }

    @Test func missingOrMalformedHeaders() async throws {
        let input = HTTPField.Name("Signature-Input")!
        let signature = HTTPField.Name("Signature")!
        let clock = ManualSource()
        let plan = SigningPlan(key: Signer.admin.key, created: clock.seconds)
        let full = plan.headers(target: "/v1/incidents")
        var onlyInput = HTTPFields()
        onlyInput[input] = full[input]
        try await send("/v1/incidents", headers: onlyInput, access: clock.access()) { response in
            try expectUnauthenticated(response, .malformedSignature)
        }
        for (name, value) in [
            (input, "ensure=(\"@method\""), (input, "ensure=1"), (signature, "ensure=:notbase64:"),
            (signature, "other=:AAAA:"), (input, "a=(\"@method\"), b=(\"@method\")"),
            (input, "ensure=(\"@method\";req)"), (input, "ensure=(\"@method\" \"@method\")"),
        ] {
            var headers = full
            headers[name] = value
            try await send("/v1/incidents", headers: headers, access: clock.access()) { response in
                try expectUnauthenticated(response, .malformedSignature)
            }
        }
    }

    @Test func algorithmMustBeEd25519() async throws {
        try await signed(reason: .unsupportedAlgorithm) { $0.alg = "rsa-pss-sha512" }
        try await signed(reason: .unsupportedAlgorithm) { $0.alg = nil }
    }

    @Test func requiredParameters() async throws {
        try await signed(reason: .missingParameter) { $0.nonce = nil }
        try await signed(reason: .missingParameter) { $0.nonce = "short" }
        try await signed(reason: .missingParameter) { $0.keyID = $0.key.publicKey.hex.uppercased() }
        try await signed(reason: .missingParameter) { $0.keyID = "test-key-ed25519" }
    }

    @Test func createdMayBeAtMostThirtySecondsAhead() async throws {
        try await signed(status: .ok) { $0.created += 30 }
        try await signed(reason: .createdInFuture) { $0.created += 31 }
    }

    @Test func signaturesLiveThreeHundredSeconds() async throws {
        try await signed(status: .ok) { $0.created -= 300 }
        try await signed(reason: .tooOld) { $0.created -= 301 }
    }

    @Test func expiresIsHonoured() async throws {
        try await signed(status: .ok) { $0.expires = $0.created + 1 }
        try await signed(reason: .expired) { plan in
            plan.created -= 10
            plan.expires = plan.created + 10
        }
    }

    @Test func everyRequiredComponentIsCovered() async throws {
        for name in RequestSignatureProfile.requiredComponents {
            try await signed(reason: .missingComponent) { $0.components.removeAll { $0 == name } }
        }
    }

    @Test func aSignatureOverAnotherRequestDoesNotVerify() async throws {
        try await signed(reason: .badSignature) { $0.signedTarget = "/v1/incidents?limit=2" }
        try await signed(reason: .badSignature) { plan in
            plan.keyID = plan.key.publicKey.hex  // the admin's key id, signed by the plugin
            plan.key = Signer.plugin.key
        }
    }

    @Test func aNonceIsUsedOnce() async throws {
        let clock = ManualSource()
        let access = clock.access()
        let plan = SigningPlan(key: Signer.admin.key, created: clock.seconds)
        let headers = plan.headers(target: "/v1/incidents")
        try await send("/v1/incidents", headers: headers, access: access) { #expect($0.status == .ok) }
        try await send("/v1/incidents", headers: headers, access: access) { response in
            try expectUnauthenticated(response, .replayedNonce)
        }
        // The same nonce from another key is that key's own.
        var other = plan
        other.key = Signer.regulator.key
        try await send("/v1/incidents", headers: other.headers(target: "/v1/incidents"), access: access) {
            #expect($0.status == .ok)
        }
        // A refused (403) key does not consume nonces.
        #expect(await access.storeCounts().nonces == 2)
    }

    @Test func theNonceStoreIsBoundedAndForgetsExpiredNonces() async throws {
        let clock = ManualSource()
        var limits = AccessControl.Limits()
        limits.nonces = 1
        let access = clock.access(limits)
        var plan = SigningPlan(key: Signer.admin.key, created: clock.seconds)
        try await send("/v1/incidents", headers: plan.headers(target: "/v1/incidents"), access: access) {
            #expect($0.status == .ok)
        }
        plan.nonce = "another-nonce-0123456789"
        try await send("/v1/incidents", headers: plan.headers(target: "/v1/incidents"), access: access) { response in
            #expect(response.status == .serviceUnavailable)
            let problem = try ProblemJSON(response)
            #expect(problem.type == "urn:ensure:problem:access-busy")
        }
        clock.advance(seconds: 301)
        plan.created = clock.seconds
        try await send("/v1/incidents", headers: plan.headers(target: "/v1/incidents"), access: access) {
            #expect($0.status == .ok)
        }
        #expect(await access.storeCounts().nonces == 1)
    }

    @Test func aBodyMustBeCoveredByContentDigest() async throws {
        let clock = ManualSource()
        let body = ByteBuffer(string: "{}")
        let digest = "sha-256=:" + Base64.encode(SHA256.hash(Array("{}".utf8)).bytes) + ":"
        var fields = HTTPFields()
        fields[.contentLength] = "2"
        fields[HTTPField.Name("Content-Digest")!] = digest
        var plan = SigningPlan(key: Signer.admin.key, created: clock.seconds)
        // Digest given and covered: the request passes access control (the route then ignores the body).
        plan.components.append("content-digest")
        try await send(
            "/v1/incidents", headers: plan.headers(target: "/v1/incidents", fields: fields), body: body,
            access: clock.access()
        ) { #expect($0.status == .ok) }
        // Not covered.
        plan.components.removeLast()
        plan.nonce = "nonce-uncovered-0123456789"
        try await send(
            "/v1/incidents", headers: plan.headers(target: "/v1/incidents", fields: fields), body: body,
            access: clock.access()
        ) { try expectUnauthenticated($0, .missingComponent) }
        // Covered but wrong.
        plan.components.append("content-digest")
        fields[HTTPField.Name("Content-Digest")!] = "sha-256=:" + Base64.encode(SHA256.hash([1]).bytes) + ":"
        try await send(
            "/v1/incidents", headers: plan.headers(target: "/v1/incidents", fields: fields), body: body,
            access: clock.access()
        ) { try expectUnauthenticated($0, .badContentDigest) }
        // Missing.
        fields[HTTPField.Name("Content-Digest")!] = nil
        plan.components.removeLast()
        try await send(
            "/v1/incidents", headers: plan.headers(target: "/v1/incidents", fields: fields), body: body,
            access: clock.access()
        ) { try expectUnauthenticated($0, .badContentDigest) }
    }

    @Test func oneCredentialAtATime() async throws {
        var extra = HTTPFields()
        extra[.authorization] = "Bearer " + Base64.encodeURL([UInt8](repeating: 1, count: 32))
        try await signed(reason: .ambiguousCredentials, headers: extra)
    }

    // MARK: Tokens

    /// Asks for a challenge, signs it with `key` for `chainID`, and returns the token answer's response.
    private func login(
        _ key: Ed25519PrivateKey, chainID: String = Fixture.chainID, client: some TestClientProtocol,
        challenge given: String? = nil
    ) async throws -> (TestResponse, challenge: String) {
        let challenge: String
        if let given {
            challenge = given
        } else {
            let answer = try await client.execute(uri: "/v1/auth/challenge", method: .post)
            #expect(answer.status == .ok)
            challenge = try JSONDecoder().decode(ChallengeBody.self, from: Data(answer.body.readableBytesView))
                .challenge
        }
        let message = AccessControl.tokenMessage(chainID: chainID, challenge: try Base64.decodeURL(challenge))
        let request = TokenRequestBody(
            publicKey: key.publicKey.hex, challenge: challenge,
            signature: Base64.encode(key.signature(for: message, domain: .apiRequest).bytes))
        let response = try await client.execute(
            uri: "/v1/auth/token", method: .post, headers: headers(contentType: "application/json"),
            body: ByteBuffer(bytes: try JSONEncoder().encode(request)))
        return (response, challenge)
    }

    private func bearer(_ response: TestResponse) throws -> HTTPFields {
        let body = try JSONDecoder().decode(TokenBody.self, from: Data(response.body.readableBytesView))
        var fields = HTTPFields()
        fields[.authorization] = "Bearer \(body.token)"
        return fields
    }

    @Test(arguments: Signer.allCases)
    func tokensByRole(_ signer: Signer) async throws {
        let clock = ManualSource()
        try await makeGuardedApplication(FakeNode(), access: clock.access()).test(.router) { client in
            let (response, _) = try await login(signer.key, client: client)
            guard signer.mayRead else {
                try expectForbidden(response)
                return
            }
            #expect(response.status == .ok)
            let body = try JSONDecoder().decode(TokenBody.self, from: Data(response.body.readableBytesView))
            #expect(body.expiresAt == clock.now + 15 * 60_000)
            #expect(body.key == signer.key.publicKey.hex)
            #expect(
                body.role
                    == ["admin": "organization-admin", "plugin": "plugin", "regulator": "regulator"][signer.rawValue])
            for uri in protectedURIs {
                let answer = try await client.execute(uri: uri, method: .get, headers: try bearer(response))
                #expect(answer.status == .ok, "\(signer) \(uri)")
            }
        }
    }

    @Test func aChallengeIsUsedOnceAndExpires() async throws {
        let clock = ManualSource()
        try await makeGuardedApplication(FakeNode(), access: clock.access()).test(.router) { client in
            let (first, challenge) = try await login(Signer.admin.key, client: client)
            #expect(first.status == .ok)
            let (again, _) = try await login(Signer.admin.key, client: client, challenge: challenge)
            try expectUnauthenticated(again, .unknownChallenge)
            let made = try await client.execute(uri: "/v1/auth/challenge", method: .post)
            let stale = try JSONDecoder().decode(ChallengeBody.self, from: Data(made.body.readableBytesView))
            #expect(stale.expiresAt == clock.now + 60_000)
            clock.advance(seconds: 60)
            let (late, _) = try await login(Signer.admin.key, client: client, challenge: stale.challenge)
            try expectUnauthenticated(late, .unknownChallenge)
            let (never, _) = try await login(
                Signer.admin.key, client: client, challenge: Base64.encodeURL([UInt8](repeating: 0xee, count: 32)))
            try expectUnauthenticated(never, .unknownChallenge)
        }
    }

    @Test func aSignatureForAnotherChainOrKeyIsRefused() async throws {
        try await makeGuardedApplication(FakeNode(), access: ManualSource().access()).test(.router) { client in
            let (otherChain, _) = try await login(Signer.admin.key, chainID: "another-chain", client: client)
            try expectUnauthenticated(otherChain, .badSignature)
            // Signed by the plugin but claiming the admin's key.
            let made = try await client.execute(uri: "/v1/auth/challenge", method: .post)
            let challenge = try JSONDecoder().decode(ChallengeBody.self, from: Data(made.body.readableBytesView))
            let message = AccessControl.tokenMessage(
                chainID: Fixture.chainID, challenge: try Base64.decodeURL(challenge.challenge))
            let request = TokenRequestBody(
                publicKey: Signer.admin.key.publicKey.hex, challenge: challenge.challenge,
                signature: Base64.encode(Signer.plugin.key.signature(for: message, domain: .apiRequest).bytes))
            let response = try await client.execute(
                uri: "/v1/auth/token", method: .post, headers: headers(contentType: "application/json"),
                body: ByteBuffer(bytes: try JSONEncoder().encode(request)))
            try expectUnauthenticated(response, .badSignature)
        }
    }

    @Test func malformedTokenRequestsNameTheField() async throws {
        try await makeGuardedApplication(FakeNode(), access: ManualSource().access()).test(.router) { client in
            let good = Base64.encodeURL([UInt8](repeating: 1, count: 32))
            let signature = Base64.encode([UInt8](repeating: 0, count: 64))
            for (body, field) in [
                (#"{"publicKey":"zz","challenge":"\#(good)","signature":"\#(signature)"}"#, "publicKey"),
                (
                    #"{"publicKey":"\#(Signer.admin.key.publicKey.hex)","challenge":"AA","signature":"\#(signature)"}"#,
                    "challenge"
                ),
                (
                    #"{"publicKey":"\#(Signer.admin.key.publicKey.hex)","challenge":"\#(good)","signature":"AA=="}"#,
                    "signature"
                ),
                ("not json", "publicKey"),
            ] {
                let response = try await client.execute(
                    uri: "/v1/auth/token", method: .post, headers: headers(contentType: "application/json"),
                    body: ByteBuffer(string: body))
                #expect(response.status == .badRequest)
                #expect(try ProblemJSON(response).detail.contains(field), "\(body)")
            }
            let wrongType = try await client.execute(
                uri: "/v1/auth/token", method: .post, headers: headers(contentType: "text/plain"),
                body: ByteBuffer(string: "{}"))
            #expect(wrongType.status == .unsupportedMediaType)
        }
    }

    @Test func anExpiredTokenIsRefusedAndForgotten() async throws {
        let clock = ManualSource()
        let access = clock.access()
        try await makeGuardedApplication(FakeNode(), access: access).test(.router) { client in
            let (response, _) = try await login(Signer.regulator.key, client: client)
            let fields = try bearer(response)
            clock.advance(seconds: 15 * 60 - 1)
            #expect(try await client.execute(uri: "/v1/incidents", method: .get, headers: fields).status == .ok)
            clock.advance(seconds: 1)
            try expectUnauthenticated(
                try await client.execute(uri: "/v1/incidents", method: .get, headers: fields), .expiredToken)
            try expectUnauthenticated(
                try await client.execute(uri: "/v1/incidents", method: .get, headers: fields), .unknownToken)
        }
        #expect(await access.storeCounts().tokens == 0)
    }

    @Test func aTokenOfAKeySinceRemovedIsRefusedAtOnce() async throws {
        let node = FakeNode()
        try await makeGuardedApplication(node, access: ManualSource().access()).test(.router) { client in
            let (response, _) = try await login(Signer.plugin.key, client: client)
            let fields = try bearer(response)
            #expect(try await client.execute(uri: "/v1/incidents", method: .get, headers: fields).status == .ok)
            await node.setRole(nil, of: Signer.plugin.key.publicKey)
            try expectForbidden(try await client.execute(uri: "/v1/incidents", method: .get, headers: fields))
            // Adding the key back does not revive the token.
            await node.setRole(.plugin(organization: "shop-a"), of: Signer.plugin.key.publicKey)
            try expectUnauthenticated(
                try await client.execute(uri: "/v1/incidents", method: .get, headers: fields), .unknownToken)
        }
    }

    @Test func aTokenIsBoundToTheRoleItWasIssuedFor() async throws {
        let node = FakeNode()
        try await makeGuardedApplication(node, access: ManualSource().access()).test(.router) { client in
            let (response, _) = try await login(Signer.plugin.key, client: client)
            let fields = try bearer(response)
            await node.setRole(.regulator, of: Signer.plugin.key.publicKey)
            try expectUnauthenticated(
                try await client.execute(uri: "/v1/incidents", method: .get, headers: fields), .roleChanged)
        }
    }

    @Test func unknownAndMalformedTokens() async throws {
        try await makeGuardedApplication(FakeNode(), access: ManualSource().access()).test(.router) { client in
            for value in [
                "Bearer " + Base64.encodeURL([UInt8](repeating: 3, count: 32)), "Bearer short", "Basic abc", "Bearer",
            ] {
                var fields = HTTPFields()
                fields[.authorization] = value
                try expectUnauthenticated(
                    try await client.execute(uri: "/v1/incidents", method: .get, headers: fields), .unknownToken)
            }
        }
    }

    @Test func theChallengeAndTokenStoresAreBounded() async throws {
        let clock = ManualSource()
        var limits = AccessControl.Limits()
        limits.challenges = 1
        limits.tokens = 1
        let access = clock.access(limits)
        try await makeGuardedApplication(FakeNode(), access: access).test(.router) { client in
            let (first, _) = try await login(Signer.admin.key, client: client)
            #expect(first.status == .ok)
            _ = try await client.execute(uri: "/v1/auth/challenge", method: .post)
            let busy = try await client.execute(uri: "/v1/auth/challenge", method: .post)
            #expect(busy.status == .serviceUnavailable)
            #expect(busy.headers[.retryAfter] == "5")
            clock.advance(seconds: 61)
            // The stale challenge is purged; the live token still fills the token store.
            let (second, _) = try await login(Signer.admin.key, client: client)
            #expect(second.status == .serviceUnavailable)
            clock.advance(seconds: 15 * 60)
            let (third, _) = try await login(Signer.admin.key, client: client)
            #expect(third.status == .ok)
        }
        #expect(await access.storeCounts().tokens == 1)
    }
}
