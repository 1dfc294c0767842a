import Credentials
import Crypto
import EnsureCrypto
import Foundation
import Testing

/// Rebuilds a presentation from parts: the issuer JWT, the given disclosures, and a KB-JWT over them signed by
/// `kbKey` with the given claims (defaults: the fixture's request, a correct sd_hash).
func assemble(
    issuerJWT: String, disclosures: [String], kbKey: P256.Signing.PrivateKey?, nonce: String, audience: String,
    iat: Int64, sdHash: String? = nil, kbType: String = "kb+jwt"
) -> String {
    let prefix = ([issuerJWT] + disclosures).joined(separator: "~") + "~"
    guard let kbKey else { return prefix }
    let hash = sdHash ?? Base64.encodeURL(EnsureCrypto.SHA256.hash(Array(prefix.utf8)).bytes)
    let kb = CompactJWS.sign(
        header: [("typ", .string(kbType))],
        payload: .object([
            ("iat", .integer(iat)), ("aud", .string(audience)), ("nonce", .string(nonce)), ("sd_hash", .string(hash)),
        ]), with: .p256(kbKey))
    return prefix + kb
}

@Suite("Presentation verifier: the valid case and every refusal")
struct VerifierTests {
    let fixture: CredentialFixture

    init() throws { fixture = try CredentialFixture() }

    func refusal(
        _ presentation: String, verifier: PresentationVerifier? = nil, request: PresentationRequest? = nil,
        at now: Int64 = CredentialFixture.now
    ) -> PresentationRefusal? {
        do {
            _ = try (verifier ?? fixture.verifier).verify(presentation, request: request ?? fixture.request(), now: now)
            return nil
        } catch {
            return error
        }
    }

    /// The issuer JWT and disclosures of credential `index`.
    func parts(_ index: Int = 0) -> (jwt: String, disclosures: [String]) {
        let segments = fixture.batch[index].sdJWT.split(separator: "~").map(String.init)
        return (segments[0], Array(segments.dropFirst()))
    }

    @Test("a fresh presentation for over 18 is accepted and answered by age_over_18")
    func valid() throws {
        let answer = try fixture.verifier.verify(
            try fixture.present(), request: fixture.request(), now: CredentialFixture.now)
        #expect(answer.holds)
        #expect(answer.answeredBy == 18)
        #expect(answer.disclosed == [18: true])
        #expect(answer.issuer == CredentialFixture.issuerURL)
    }

    @Test("nearest-true: a disclosed over 21 true answers over 18; over 65 false answers \"not over 65\"")
    func nearestRule() throws {
        let over21 = try fixture.present(over: 21)
        let answer = try fixture.verifier.verify(over21, request: fixture.request(over: 18), now: CredentialFixture.now)
        #expect(answer.holds && answer.answeredBy == 21)
        let over65 = try fixture.present(1, over: 65)
        let no = try fixture.verifier.verify(over65, request: fixture.request(over: 65), now: CredentialFixture.now)
        #expect(!no.holds && no.answeredBy == 65)
        // "over 65: false" also proves "not over 70" (M <= N), but says nothing about "over 30".
        let no70 = try fixture.verifier.verify(over65, request: fixture.request(over: 70), now: CredentialFixture.now)
        #expect(!no70.holds)
        #expect(refusal(over65, request: fixture.request(over: 30)) == .predicateNotDisclosed(threshold: 30))
    }

    @Test("the wallet discloses exactly the nearest claim, and cannot answer a question no claim settles")
    func walletChoice() throws {
        for (asked, expected) in [(12, 12), (13, 14), (17, 18), (18, 18), (19, 21), (65, 65), (70, 65)] {
            let presentation = try fixture.present(over: asked)
            let disclosures = presentation.split(separator: "~").dropFirst().dropLast()
            #expect(disclosures.count == 1)
            let disclosure = try Disclosure(encoded: String(disclosures.first!))
            #expect(disclosure.claimName == "age_over_\(expected)", "asked over \(asked)")
        }
        #expect(throws: WalletError.cannotAnswer(threshold: 30)) { try fixture.present(over: 30) }
    }

    @Test("an issuer JWT signed with EdDSA (Ed25519) is accepted when the registry holds its OKP key")
    func edDSAIssuer() throws {
        var generator = SeededGenerator(seed: 3)
        let edKey = Ed25519PrivateKey(seed: (0..<32).map { UInt8($0) })!
        let issuer = try AgeCredentialIssuer(issuer: "https://ed.example", kid: "ed-1", signingKey: .ed25519(edKey))
        var list = try IssuerStatusList(uri: "https://ed.example/status", bits: 1, count: 1024)
        let batch = try issuer.issueBatch(
            birthDate: CredentialFixture.birthDate, count: 1, now: CredentialFixture.now, statusList: &list,
            using: &generator)
        let registry = InMemoryIssuerRegistry([
            RegisteredIssuer(
                identifier: "https://ed.example",
                keys: [IssuerKey(jwk: PublicJWK(key: .ed25519(edKey.publicKey), kid: "ed-1"))],
                allowedVCTs: [AgeProfile.defaultVCT])
        ])
        let verifier = PresentationVerifier(
            registry: registry, statusLists: InMemoryStatusListSource(["https://ed.example/status": list.list]))
        let presentation = try AgePresentation.present(
            credential: batch[0].sdJWT, holderKey: batch[0].holderKey, over: 18, nonce: fixture.request().nonce,
            audience: CredentialFixture.audience, now: CredentialFixture.now)
        #expect(try verifier.verify(presentation, request: fixture.request(), now: CredentialFixture.now).holds)
        let header = try decodeSegment(presentation.split(separator: ".")[0])
        #expect(header["alg"] == .string("EdDSA"))
    }

    @Test(
        "malformed input is refused as malformed, never a crash", arguments: ["", "~", "a.b.c~", "not a presentation"])
    func malformed(_ text: String) {
        guard case .malformed = refusal(text) else {
            Issue.record("expected malformed for \"\(text)\"")
            return
        }
    }

    @Test("an issuer JWT with typ other than dc+sd-jwt is malformed")
    func wrongType() throws {
        let (jwt, disclosures) = parts()
        let payload = try decodeSegment(jwt.split(separator: ".")[1])
        let resigned = signJWT(
            header: [("kid", .string(CredentialFixture.kid)), ("typ", .string("vc+sd-jwt"))], payload: payload,
            key: fixture.issuerKey)
        let presentation = assemble(
            issuerJWT: resigned, disclosures: [disclosures[3]], kbKey: fixture.batch[0].holderKey,
            nonce: fixture.request().nonce, audience: CredentialFixture.audience, iat: CredentialFixture.now)
        #expect(
            refusal(presentation)
                == .malformed("issuer-signed JWT: JWS header typ must be \"dc+sd-jwt\", found \"vc+sd-jwt\""))
    }

    @Test("alg none is refused as an unsupported algorithm")
    func algNone() throws {
        let (jwt, disclosures) = parts()
        let segments = jwt.split(separator: ".")
        let header = Base64.encodeURL(Array(#"{"alg":"none","typ":"dc+sd-jwt","kid":"bank-2025-1"}"#.utf8))
        let forged = header + "." + segments[1] + "." + segments[2]
        let presentation = assemble(
            issuerJWT: forged, disclosures: [disclosures[3]], kbKey: fixture.batch[0].holderKey,
            nonce: fixture.request().nonce, audience: CredentialFixture.audience, iat: CredentialFixture.now)
        #expect(refusal(presentation) == .unsupportedAlgorithm("none"))
    }

    @Test("a changed payload, or a payload signed by another key under the issuer's kid, is a bad issuer signature")
    func badIssuerSignature() throws {
        let (jwt, disclosures) = parts()
        let segments = jwt.split(separator: ".")
        var payload = try decodeSegment(segments[1])
        guard case .object(var members) = payload else { throw CredentialFieldError(path: "payload", problem: "") }
        members = members.map { $0.0 == "exp" ? ($0.0, .integer(4_000_000_000)) : $0 }
        payload = .object(members)
        let tampered = segments[0] + "." + Base64.encodeURL(payload.serializedBytes) + "." + segments[2]
        let forgedKey = P256.Signing.PrivateKey()
        let forged = signJWT(
            header: [("kid", .string(CredentialFixture.kid)), ("typ", .string("dc+sd-jwt"))],
            payload: try decodeSegment(segments[1]), key: forgedKey)
        for issuerJWT in [tampered, forged] {
            let presentation = assemble(
                issuerJWT: issuerJWT, disclosures: [disclosures[3]], kbKey: fixture.batch[0].holderKey,
                nonce: fixture.request().nonce, audience: CredentialFixture.audience, iat: CredentialFixture.now)
            #expect(refusal(presentation) == .badIssuerSignature)
        }
    }

    @Test("an issuer missing from the registry is unknown")
    func unknownIssuer() throws {
        let verifier = PresentationVerifier(registry: InMemoryIssuerRegistry(), statusLists: fixture.statusSource)
        #expect(refusal(try fixture.present(), verifier: verifier) == .unknownIssuer(CredentialFixture.issuerURL))
    }

    @Test("a delisted issuer is refused")
    func delisted() throws {
        let entry = fixture.registeredIssuer
        let registry = InMemoryIssuerRegistry([
            RegisteredIssuer(
                identifier: entry.identifier, keys: entry.keys, allowedVCTs: entry.allowedVCTs, delisted: true)
        ])
        let verifier = PresentationVerifier(registry: registry, statusLists: fixture.statusSource)
        #expect(refusal(try fixture.present(), verifier: verifier) == .delistedIssuer(CredentialFixture.issuerURL))
    }

    @Test("a kid the issuer does not have is an unknown issuer key")
    func unknownKey() throws {
        let registry = InMemoryIssuerRegistry([
            RegisteredIssuer(
                identifier: CredentialFixture.issuerURL,
                keys: [IssuerKey(jwk: PublicJWK(key: .p256(fixture.issuerKey.publicKey), kid: "bank-2026-1"))],
                allowedVCTs: [AgeProfile.defaultVCT])
        ])
        let verifier = PresentationVerifier(registry: registry, statusLists: fixture.statusSource)
        #expect(
            refusal(try fixture.present(), verifier: verifier)
                == .issuerKeyUnknown(issuer: CredentialFixture.issuerURL, kid: CredentialFixture.kid))
    }

    @Test("a key retired before now, or not yet valid when the credential was issued, is outside its validity")
    func keyOutsideValidity() throws {
        let jwk = PublicJWK(key: .p256(fixture.issuerKey.publicKey), kid: CredentialFixture.kid)
        for key in [
            IssuerKey(jwk: jwk, notAfter: CredentialFixture.now - 1),
            IssuerKey(jwk: jwk, notBefore: CredentialFixture.now),
        ] {
            let registry = InMemoryIssuerRegistry([
                RegisteredIssuer(
                    identifier: CredentialFixture.issuerURL, keys: [key], allowedVCTs: [AgeProfile.defaultVCT])
            ])
            let verifier = PresentationVerifier(registry: registry, statusLists: fixture.statusSource)
            #expect(
                refusal(try fixture.present(), verifier: verifier)
                    == .issuerKeyOutsideValidity(issuer: CredentialFixture.issuerURL, kid: CredentialFixture.kid))
        }
    }

    @Test("a retired key: credentials issued up to the retirement verify, later ones are refused")
    func keyRetired() throws {
        let jwk = PublicJWK(key: .p256(fixture.issuerKey.publicKey), kid: CredentialFixture.kid)
        // The fixture's credentials carry iat = the start of the UTC day of `now`.
        let iat = CredentialFixture.now - CredentialFixture.now % 86_400
        func verifier(retiredFrom: Int64) -> PresentationVerifier {
            PresentationVerifier(
                registry: InMemoryIssuerRegistry([
                    RegisteredIssuer(
                        identifier: CredentialFixture.issuerURL, keys: [IssuerKey(jwk: jwk, retiredFrom: retiredFrom)],
                        allowedVCTs: [AgeProfile.defaultVCT])
                ]), statusLists: fixture.statusSource)
        }
        #expect(refusal(try fixture.present(), verifier: verifier(retiredFrom: iat)) == nil)
        #expect(
            refusal(try fixture.present(), verifier: verifier(retiredFrom: iat - 1))
                == .issuerKeyRetired(issuer: CredentialFixture.issuerURL, kid: CredentialFixture.kid, since: iat - 1))
    }

    @Test("a revoked key: everything it signed is refused, before its signature is even checked")
    func keyRevoked() throws {
        let jwk = PublicJWK(key: .p256(fixture.issuerKey.publicKey), kid: CredentialFixture.kid)
        let verifier = PresentationVerifier(
            registry: InMemoryIssuerRegistry([
                RegisteredIssuer(
                    identifier: CredentialFixture.issuerURL, keys: [IssuerKey(jwk: jwk, revoked: true)],
                    allowedVCTs: [AgeProfile.defaultVCT])
            ]), statusLists: fixture.statusSource)
        #expect(
            refusal(try fixture.present(), verifier: verifier)
                == .issuerKeyRevoked(issuer: CredentialFixture.issuerURL, kid: CredentialFixture.kid))
        // Not revoked, the same registry entry accepts it.
        #expect(refusal(try fixture.present()) == nil)
    }

    @Test("an issuers file carries retirement and revocation, and refuses them in the wrong type")
    func issuersFileMarks() throws {
        let jwk = PublicJWK(key: .p256(fixture.issuerKey.publicKey), kid: CredentialFixture.kid)
        let registry = InMemoryIssuerRegistry([
            RegisteredIssuer(
                identifier: CredentialFixture.issuerURL,
                keys: [IssuerKey(jwk: jwk, retiredFrom: 1_700_000_000), IssuerKey(jwk: jwk, revoked: true)],
                allowedVCTs: [AgeProfile.defaultVCT])
        ])
        let read = try InMemoryIssuerRegistry(json: registry.json)
        let keys = try #require(read.issuer(CredentialFixture.issuerURL)?.keys)
        #expect(keys.map(\.retiredFrom) == [1_700_000_000, nil])
        #expect(keys.map(\.revoked) == [false, true])
        for (member, value, path) in [
            ("retired_from", JSONValue.string("soon"), "issuers[0].keys[0].retired_from"),
            ("revoked", JSONValue.integer(1), "issuers[0].keys[0].revoked"),
        ] {
            let json = JSONValue.object([
                (
                    "issuers",
                    .array([
                        .object([
                            ("iss", .string("i")), ("vct", .array([])),
                            ("keys", .array([.object([("jwk", jwk.json), (member, value)])])),
                        ])
                    ])
                )
            ])
            let problem = member == "revoked" ? "must be a boolean" : "must be an integer"
            #expect(throws: CredentialFieldError(path: path, problem: problem)) {
                try InMemoryIssuerRegistry(json: json)
            }
        }
    }

    @Test("a vct the issuer is not approved for is refused")
    func vctNotAllowed() throws {
        let entry = fixture.registeredIssuer
        let registry = InMemoryIssuerRegistry([
            RegisteredIssuer(identifier: entry.identifier, keys: entry.keys, allowedVCTs: ["urn:other"])
        ])
        let verifier = PresentationVerifier(registry: registry, statusLists: fixture.statusSource)
        #expect(refusal(try fixture.present(), verifier: verifier) == .vctNotAllowed(AgeProfile.defaultVCT))
    }

    @Test("revoking one credential flips one entry: that credential is refused, the rest of the batch is not")
    func revoked() throws {
        var list = fixture.statusList.list
        let before = list
        let index = fixture.batch[0].statusIndex
        try list.setStatus(CredentialStatus.invalid.rawValue, at: index)
        var changed = 0
        for i in 0..<list.count where try list.status(at: i) != before.status(at: i) { changed += 1 }
        #expect(changed == 1)
        let verifier = PresentationVerifier(
            registry: fixture.registry, statusLists: InMemoryStatusListSource([CredentialFixture.statusURI: list]))
        #expect(refusal(try fixture.present(0), verifier: verifier) == .revoked(index: index, status: 1))
        #expect(refusal(try fixture.present(1), verifier: verifier) == nil)
        try list.setStatus(3, at: index)
        let unknownStatus = PresentationVerifier(
            registry: fixture.registry, statusLists: InMemoryStatusListSource([CredentialFixture.statusURI: list]))
        #expect(refusal(try fixture.present(0), verifier: unknownStatus) == .revoked(index: index, status: 3))
    }

    @Test("a suspended credential is refused as suspended")
    func suspended() throws {
        var list = fixture.statusList.list
        try list.setStatus(CredentialStatus.suspended.rawValue, at: fixture.batch[0].statusIndex)
        let verifier = PresentationVerifier(
            registry: fixture.registry, statusLists: InMemoryStatusListSource([CredentialFixture.statusURI: list]))
        #expect(refusal(try fixture.present(), verifier: verifier) == .suspended(index: fixture.batch[0].statusIndex))
    }

    @Test("no status list for the uri, or one too short for the index, is unavailable")
    func statusUnavailable() throws {
        let none = PresentationVerifier(registry: fixture.registry, statusLists: InMemoryStatusListSource())
        #expect(
            refusal(try fixture.present(), verifier: none) == .statusListUnavailable(uri: CredentialFixture.statusURI))
        let short = PresentationVerifier(
            registry: fixture.registry,
            statusLists: InMemoryStatusListSource([CredentialFixture.statusURI: try StatusList(bits: 2, count: 4)]))
        #expect(
            refusal(try fixture.present(), verifier: short) == .statusListUnavailable(uri: CredentialFixture.statusURI))
    }

    @Test("at exp the credential is expired; before iat it is not yet valid")
    func validityWindow() throws {
        let exp = fixture.batch[0].expiresAt
        let late = try fixture.present(at: exp)
        let lateRequest = PresentationRequest(
            nonce: fixture.request().nonce, audience: CredentialFixture.audience, threshold: 18, createdAt: exp,
            expiresAt: exp + 300)
        #expect(refusal(late, request: lateRequest, at: exp) == .expired(exp: exp))
        let iat = CivilDate(utcDayOf: CredentialFixture.now).unixSeconds
        let early = iat - 3600
        #expect(refusal(try fixture.present(at: early), at: early) == .notYetValid(iat))
    }

    @Test("a nonce this request did not issue is unknown; an expired request is refused")
    func nonces() throws {
        let other = try fixture.present(nonce: "c29tZS1vdGhlci1ub25jZS12YWx1ZS1oZXJl")
        #expect(refusal(other) == .nonceUnknown)
        let expiredAt = fixture.request().expiresAt
        #expect(refusal(try fixture.present(at: expiredAt - 10), at: expiredAt) == .nonceExpired)
    }

    @Test("a presentation for another audience is refused")
    func wrongAudience() throws {
        let presentation = try fixture.present(audience: "https://evil.example")
        #expect(
            refusal(presentation) == .wrongAudience(expected: CredentialFixture.audience, found: "https://evil.example")
        )
    }

    @Test("a disclosure with a changed value (true for false) is a digest mismatch")
    func digestMismatch() throws {
        let (jwt, disclosures) = parts()
        let original = try Disclosure(encoded: disclosures[5])  // age_over_65: false
        #expect(original.claimName == "age_over_65" && original.value == .bool(false))
        let flipped = Disclosure(salt: original.salt, claimName: original.claimName, value: .bool(true))
        let presentation = assemble(
            issuerJWT: jwt, disclosures: [flipped.encoded], kbKey: fixture.batch[0].holderKey,
            nonce: fixture.request().nonce, audience: CredentialFixture.audience, iat: CredentialFixture.now)
        #expect(
            refusal(presentation, request: fixture.request(over: 65))
                == .disclosureDigestMismatch(digest: flipped.digest))
        // A disclosure lifted from another credential of the same batch does not match either.
        let foreign = parts(1).disclosures[3]
        let mixed = assemble(
            issuerJWT: jwt, disclosures: [foreign], kbKey: fixture.batch[0].holderKey, nonce: fixture.request().nonce,
            audience: CredentialFixture.audience, iat: CredentialFixture.now)
        guard case .disclosureDigestMismatch = refusal(mixed) else {
            Issue.record("a foreign disclosure was not refused as a digest mismatch")
            return
        }
    }

    @Test("a presentation without a key-binding JWT is refused")
    func keyBindingMissing() throws {
        let (jwt, disclosures) = parts()
        let presentation = assemble(
            issuerJWT: jwt, disclosures: [disclosures[3]], kbKey: nil, nonce: "", audience: "", iat: 0)
        #expect(refusal(presentation) == .keyBindingMissing)
    }

    @Test("a KB-JWT signed by a key other than the credential's cnf key is refused (a stolen credential)")
    func keyBindingWrongKey() throws {
        let (jwt, disclosures) = parts()
        let presentation = assemble(
            issuerJWT: jwt, disclosures: [disclosures[3]], kbKey: fixture.batch[1].holderKey,
            nonce: fixture.request().nonce, audience: CredentialFixture.audience, iat: CredentialFixture.now)
        #expect(refusal(presentation) == .keyBindingSignatureInvalid)
    }

    @Test("a KB-JWT whose sd_hash covers other disclosures is refused (disclosures swapped after signing)")
    func sdHashWrong() throws {
        let (jwt, disclosures) = parts()
        let signedOver = ([jwt, disclosures[3]]).joined(separator: "~") + "~"
        let hash = Base64.encodeURL(EnsureCrypto.SHA256.hash(Array(signedOver.utf8)).bytes)
        let presentation = assemble(
            issuerJWT: jwt, disclosures: [disclosures[4]], kbKey: fixture.batch[0].holderKey,
            nonce: fixture.request().nonce, audience: CredentialFixture.audience, iat: CredentialFixture.now,
            sdHash: hash)
        #expect(refusal(presentation) == .sdHashMismatch)
    }

    @Test("a KB-JWT older than 300 s is too old; one from beyond the clock skew is from the future")
    func keyBindingAge() throws {
        let old = try fixture.present(at: CredentialFixture.now - 301)
        #expect(refusal(old) == .keyBindingTooOld(iat: CredentialFixture.now - 301))
        #expect(refusal(try fixture.present(at: CredentialFixture.now - 300)) == nil)
        let future = try fixture.present(at: CredentialFixture.now + 61)
        #expect(refusal(future) == .keyBindingFromFuture(iat: CredentialFixture.now + 61))
    }

    @Test("a KB-JWT with typ other than kb+jwt is malformed")
    func keyBindingType() throws {
        let (jwt, disclosures) = parts()
        let presentation = assemble(
            issuerJWT: jwt, disclosures: [disclosures[3]], kbKey: fixture.batch[0].holderKey,
            nonce: fixture.request().nonce, audience: CredentialFixture.audience, iat: CredentialFixture.now,
            kbType: "JWT")
        guard case .malformed = refusal(presentation) else {
            Issue.record("a KB-JWT of typ JWT was not refused")
            return
        }
    }

    @Test("a presentation with no age disclosure, or none that answers, is refused as predicate not disclosed")
    func predicateNotDisclosed() throws {
        let (jwt, _) = parts()
        let bare = assemble(
            issuerJWT: jwt, disclosures: [], kbKey: fixture.batch[0].holderKey, nonce: fixture.request().nonce,
            audience: CredentialFixture.audience, iat: CredentialFixture.now)
        #expect(refusal(bare) == .predicateNotDisclosed(threshold: 18))
        let over16 = try fixture.present(over: 16)
        #expect(refusal(over16, request: fixture.request(over: 18)) == .predicateNotDisclosed(threshold: 18))
    }

    @Test("every refusal has a distinct stable code")
    func codes() {
        let all: [PresentationRefusal] = [
            .malformed(""), .unsupportedAlgorithm(""), .badIssuerSignature, .unknownIssuer(""), .delistedIssuer(""),
            .issuerKeyUnknown(issuer: "", kid: nil), .issuerKeyOutsideValidity(issuer: "", kid: ""),
            .issuerKeyRetired(issuer: "", kid: "", since: 0), .issuerKeyRevoked(issuer: "", kid: ""),
            .vctNotAllowed(""), .revoked(index: 0, status: 1), .suspended(index: 0), .statusListUnavailable(uri: ""),
            .expired(exp: 0), .notYetValid(0), .nonceUnknown, .nonceReused, .nonceExpired,
            .wrongAudience(expected: "", found: ""), .disclosureDigestMismatch(digest: ""), .keyBindingMissing,
            .keyBindingSignatureInvalid, .sdHashMismatch, .keyBindingTooOld(iat: 0), .keyBindingFromFuture(iat: 0),
            .predicateNotDisclosed(threshold: 18),
        ]
        #expect(Set(all.map(\.code)).count == all.count)
    }
}

/// A clock tests can move. `@unchecked Sendable` is sound: every access to `value` holds `lock`.
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Int64

    init(_ start: Int64) { value = start }

    func now() -> Int64 { lock.withLock { value } }

    func advance(_ seconds: Int64) { lock.withLock { value += seconds } }
}

@Suite("Presentation requests")
struct PresentationRequestStoreTests {
    @Test("nonces carry at least 128 bits from the CSPRNG and are all different")
    func nonceSize() async {
        let store = PresentationRequestStore(clock: { CredentialFixture.now })
        var seen = Set<String>()
        for _ in 0..<100 {
            let request = await store.create(audience: "https://shop.example", threshold: 18)
            let bytes = (try? Base64.decodeURL(request.nonce)) ?? []
            #expect(bytes.count * 8 >= 128)
            seen.insert(request.nonce)
            #expect(request.expiresAt == CredentialFixture.now + 300)
        }
        #expect(seen.count == 100)
    }

    @Test("a nonce is consumed once; a second use is a replay; an unknown nonce is unknown; a late one expired")
    func consumeOnce() async throws {
        let clock = TestClock(CredentialFixture.now)
        let store = PresentationRequestStore(clock: { clock.now() })
        let request = await store.create(audience: "a", threshold: 18)
        #expect(try await store.consume(nonce: request.nonce) == request)
        await #expect(throws: PresentationRefusal.nonceReused) { try await store.consume(nonce: request.nonce) }
        await #expect(throws: PresentationRefusal.nonceUnknown) { try await store.consume(nonce: "bm9wZQ") }
        let late = await store.create(audience: "a", threshold: 18)
        clock.advance(300)
        await #expect(throws: PresentationRefusal.nonceExpired) { try await store.consume(nonce: late.nonce) }
    }

    @Test("the store is bounded: expired requests go first, then the oldest")
    func bounded() async {
        let clock = TestClock(CredentialFixture.now)
        let store = PresentationRequestStore(capacity: 3, lifetime: 100, clock: { clock.now() })
        let first = await store.create(audience: "a", threshold: 18)
        clock.advance(200)
        var later: [PresentationRequest] = []
        for _ in 0..<5 { later.append(await store.create(audience: "a", threshold: 18)) }
        #expect(await store.count == 3)
        await #expect(throws: PresentationRefusal.nonceUnknown) { try await store.consume(nonce: first.nonce) }
        await #expect(throws: PresentationRefusal.nonceUnknown) { try await store.consume(nonce: later[0].nonce) }
        #expect((try? await store.consume(nonce: later[4].nonce)) != nil)
    }

    @Test("verifying through the store accepts a presentation once and names the replay")
    func verifyThroughStore() async throws {
        let fixture = try CredentialFixture()
        let store = PresentationRequestStore(clock: { CredentialFixture.now })
        let request = await store.create(audience: CredentialFixture.audience, threshold: 18)
        let presentation = try fixture.present(nonce: request.nonce)
        let answer = try await fixture.verifier.verify(presentation, requests: store)
        #expect(answer.holds)
        await #expect(throws: PresentationRefusal.nonceReused) {
            try await fixture.verifier.verify(presentation, requests: store)
        }
    }
}
