import Credentials
import Crypto
import EnsureCrypto
import Foundation
import Testing

/// SplitMix64: a small seeded generator, so issuance and presentation in tests are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// One issuer, its registry entry, a status list and a batch of credentials, all from one seed.
struct CredentialFixture {
    static let issuerURL = "https://issuer.example/bank"
    static let kid = "bank-2025-1"
    static let statusURI = "https://issuer.example/bank/status/1"
    static let audience = "https://shop.example"
    /// 2025-06-15T12:00:00Z.
    static let now: Int64 = 1_749_988_800
    static let birthDate = CivilDate(iso: "2000-03-10")!

    var generator: SeededGenerator
    let issuerKey: P256.Signing.PrivateKey
    let issuer: AgeCredentialIssuer
    var statusList: IssuerStatusList
    var batch: [IssuedCredential]

    init(seed: UInt64 = 42, birthDate: CivilDate = CredentialFixture.birthDate, count: Int = 4) throws {
        generator = SeededGenerator(seed: seed)
        issuerKey = makeP256Key(using: &generator)
        issuer = try AgeCredentialIssuer(issuer: Self.issuerURL, kid: Self.kid, signingKey: .p256(issuerKey))
        statusList = try IssuerStatusList(uri: Self.statusURI, bits: 2, count: 4096)
        batch = try issuer.issueBatch(
            birthDate: birthDate, count: count, now: Self.now, statusList: &statusList, using: &generator)
    }

    var registeredIssuer: RegisteredIssuer {
        RegisteredIssuer(
            identifier: Self.issuerURL,
            keys: [IssuerKey(jwk: PublicJWK(key: .p256(issuerKey.publicKey), kid: Self.kid))],
            allowedVCTs: [AgeProfile.defaultVCT])
    }

    var registry: InMemoryIssuerRegistry { InMemoryIssuerRegistry([registeredIssuer]) }

    var statusSource: InMemoryStatusListSource { InMemoryStatusListSource([Self.statusURI: statusList.list]) }

    var verifier: PresentationVerifier { PresentationVerifier(registry: registry, statusLists: statusSource) }

    func request(over threshold: Int = 18, nonce: String = "bm9uY2Utb2YtMTI4LWJpdHMtYXQtbGVhc3Q") -> PresentationRequest
    {
        PresentationRequest(
            nonce: nonce, audience: Self.audience, threshold: threshold, createdAt: Self.now,
            expiresAt: Self.now + 300)
    }

    func present(
        _ index: Int = 0, over threshold: Int = 18, nonce: String? = nil, audience: String? = nil, at: Int64? = nil
    )
        throws -> String
    {
        try AgePresentation.present(
            credential: batch[index].sdJWT, holderKey: batch[index].holderKey, over: threshold,
            nonce: nonce ?? request().nonce, audience: audience ?? Self.audience, now: at ?? Self.now)
    }
}

/// Decodes a base64url JSON segment of a JWT for inspection.
func decodeSegment(_ segment: some StringProtocol) throws -> JSONValue {
    try JSONValue.parse(try Base64.decodeURL(String(segment)))
}

/// Re-signs `payload` and `header` with `key` as a compact JWS (for building tampered inputs).
func signJWT(header: [(String, JSONValue)], payload: JSONValue, key: P256.Signing.PrivateKey) -> String {
    CompactJWS.sign(header: header, payload: payload, with: .p256(key))
}

/// The test sources directory (for the Interop folder and the shared test vectors).
let testSourceDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()

/// The repository root.
let repositoryRoot = testSourceDirectory.deletingLastPathComponent().deletingLastPathComponent()
