import Codec
import Credentials
import Crypto
import Daemon
import EnsureCrypto
import Ledger
import Testing

/// Key rotation end to end: `issuer-keys` transactions committed to a real LevelDB chain, read back by
/// ``LedgerCredentialSources``, and presentations of real credentials verified against them.
@Suite("Issuer key rotation over committed ledger state")
struct IssuerRotationTests {
    static let day: Int64 = 86_400

    /// The signing-key entry of `key` for the ledger.
    static func entry(_ kid: String, _ key: P256.Signing.PrivateKey) -> IssuerSigningKey {
        let raw = Array(key.publicKey.rawRepresentation)
        return IssuerSigningKey(
            keyID: kid, x: Array(raw[0..<32]), y: Array(raw[32..<64]), notBefore: 1_700_000_000_000,
            notAfter: 1_790_000_000_000)
    }

    /// Commits an `issuer-keys` transaction of the chain's issuer; it must apply.
    static func rotate(_ chain: CredentialChain, _ operations: [IssuerKeyOperation]) throws {
        try chain.commit([
            chain.transaction(
                chain.ledgerKey, .issuerKeys,
                IssuerKeysPayload(issuer: CredentialChain.identifier, operations: operations).canonicalBytes)
        ])
    }

    /// Issues credentials with `key` under `kid` at `time`, with indices from the chain's status list.
    static func issue(_ chain: CredentialChain, key: P256.Signing.PrivateKey, kid: String, at time: Int64) throws
        -> [IssuedCredential]
    {
        var generator = SystemRandomNumberGenerator()
        let issuer = try AgeCredentialIssuer(issuer: CredentialChain.identifier, kid: kid, signingKey: .p256(key))
        return try issuer.issueBatch(
            birthDate: CivilDate(iso: "2000-03-10")!, count: 2, now: time, statusList: &chain.statusList,
            using: &generator)
    }

    /// Presents `credential` for "over 18" and verifies it against the chain's ledger sources now.
    static func verify(_ chain: CredentialChain, _ credential: IssuedCredential) throws(PresentationRefusal)
        -> AgeVerification
    {
        let request = PresentationRequest(
            nonce: "bm9uY2Utb2YtMTI4LWJpdHMtYXQtbGVhc3Q", audience: CredentialChain.audience, threshold: 18,
            createdAt: CredentialChain.now, expiresAt: CredentialChain.now + 300)
        let presentation = try! AgePresentation.present(
            credential: credential.sdJWT, holderKey: credential.holderKey, over: 18, nonce: request.nonce,
            audience: CredentialChain.audience, now: CredentialChain.now)
        return try chain.verifier.verify(presentation, request: request, now: CredentialChain.now)
    }

    @Test("a new key verifies after its block; the retired key's older credentials verify, its newer ones do not")
    func rotateAndRetire() throws {
        let chain = try CredentialChain()
        let old = CredentialChain.kid
        // Issued with the old key three days ago, before the retirement.
        let early = try Self.issue(chain, key: chain.issuerKey, kid: old, at: CredentialChain.now - 3 * Self.day)
        let newKey = P256.Signing.PrivateKey()
        let fresh = try Self.issue(chain, key: newKey, kid: "bank-a-2026", at: CredentialChain.now)
        try chain.publish(version: 1)
        #expect(try Self.verify(chain, early[0]).holds)
        #expect(try chain.verify(0).holds)
        // Before the rotation block the ledger knows no key bank-a-2026.
        #expect(throws: PresentationRefusal.issuerKeyUnknown(issuer: CredentialChain.identifier, kid: "bank-a-2026")) {
            try Self.verify(chain, fresh[0])
        }

        // The issuer adds the new key and retires the old one from two days ago on.
        let retiredFrom = (CredentialChain.now - 2 * Self.day) * 1000
        try Self.rotate(
            chain, [.add(Self.entry("bank-a-2026", newKey)), .retire(keyID: old, from: UInt64(retiredFrom))])
        let registered = try #require(chain.sources.issuer(CredentialChain.identifier))
        #expect(registered.keys.map(\.jwk.kid) == [old, "bank-a-2026"])
        #expect(registered.keys[0].retiredFrom == retiredFrom / 1000 && !registered.keys[0].revoked)
        #expect(registered.keys[1].retiredFrom == nil)

        #expect(try Self.verify(chain, fresh[0]).holds)
        #expect(try Self.verify(chain, early[1]).holds)
        // Today's credentials under the old key carry an iat after the retirement.
        #expect(
            throws: PresentationRefusal.issuerKeyRetired(
                issuer: CredentialChain.identifier, kid: old, since: retiredFrom / 1000)
        ) { try chain.verify(1) }
        // The status list the old key signed before its retirement is still read.
        #expect(chain.sources.statusList(uri: CredentialChain.uri) != nil)
    }

    @Test("a revoked key's credentials are refused from the revocation block on, whatever their iat")
    func revoke() throws {
        let chain = try CredentialChain()
        let second = P256.Signing.PrivateKey()
        let third = P256.Signing.PrivateKey()
        try Self.rotate(chain, [.add(Self.entry("k2", second))])
        let bySecond = try Self.issue(chain, key: second, kid: "k2", at: CredentialChain.now)
        let byThird = try Self.issue(chain, key: third, kid: "k3", at: CredentialChain.now)
        try chain.publish(version: 1)
        #expect(try Self.verify(chain, bySecond[0]).holds)

        // k2 is compromised: the issuer adds k3 and revokes k2 in one transaction.
        try Self.rotate(chain, [.add(Self.entry("k3", third)), .revoke(keyID: "k2")])
        #expect(throws: PresentationRefusal.issuerKeyRevoked(issuer: CredentialChain.identifier, kid: "k2")) {
            try Self.verify(chain, bySecond[1])
        }
        // The credential accepted a moment ago is refused too: a revocation does not look at iat.
        #expect(throws: PresentationRefusal.issuerKeyRevoked(issuer: CredentialChain.identifier, kid: "k2")) {
            try Self.verify(chain, bySecond[0])
        }
        #expect(try Self.verify(chain, byThird[0]).holds)
        // The first key was never touched.
        #expect(try chain.verify(0).holds)
        let registered = try #require(chain.sources.issuer(CredentialChain.identifier))
        #expect(registered.keys.map(\.revoked) == [false, true, false])
    }

    @Test("a status list token signed by a revoked key is not used; republished with a live key, it is")
    func revokedKeyStatusList() throws {
        let chain = try CredentialChain()
        let second = P256.Signing.PrivateKey()
        try Self.rotate(chain, [.add(Self.entry("k2", second))])
        func publish(_ version: UInt64, key: P256.Signing.PrivateKey, kid: String) throws {
            let token = StatusListToken.sign(
                chain.statusList.list, uri: CredentialChain.uri, issuer: CredentialChain.identifier,
                issuedAt: CredentialChain.now, expiresAt: CredentialChain.now + Self.day, ttl: 3600, key: .p256(key),
                kid: kid)
            try chain.commit([
                chain.transaction(
                    chain.ledgerKey, .statusListPublish,
                    StatusListPayload(uri: CredentialChain.uri, listVersion: version, token: token).canonicalBytes)
            ])
        }
        try publish(1, key: second, kid: "k2")
        #expect(chain.sources.statusList(uri: CredentialChain.uri) != nil)
        try Self.rotate(chain, [.revoke(keyID: "k2")])
        #expect(chain.sources.statusList(uri: CredentialChain.uri) == nil)
        #expect(throws: PresentationRefusal.statusListUnavailable(uri: CredentialChain.uri)) { try chain.verify(0) }
        try publish(2, key: chain.issuerKey, kid: CredentialChain.kid)
        #expect(try chain.verify(0).holds)
    }

    @Test("a retired key's status list token published before the retirement is still used")
    func retiredKeyStatusList() throws {
        let chain = try CredentialChain()
        try chain.publish(version: 1)
        let second = P256.Signing.PrivateKey()
        try Self.rotate(
            chain,
            [.add(Self.entry("k2", second)), .retire(keyID: CredentialChain.kid, from: 1_749_000_000_000)])
        #expect(chain.sources.statusList(uri: CredentialChain.uri) != nil)
    }
}
