import API
import Codec
import Consensus
import Credentials
import Crypto
import Daemon
import EnsureCrypto
import Foundation
import Ledger
import Storage
import Testing

/// A chain in a real LevelDB on which governance registers one credential issuer, which then publishes versions of
/// its status list; credentials are issued with the library against that issuer.
final class CredentialChain {
    static let identifier = "https://issuer.bank-a.example"
    static let uri = identifier + "/status/1"
    static let kid = "bank-a-2025"
    static let audience = "https://shop.example"
    /// 2025-06-15T12:00:00Z, in seconds.
    static let now: Int64 = 1_749_988_800

    let fixture = ChainFixture()
    let directory = TemporaryDirectory()
    let executor: LedgerExecutor
    let queries: LedgerQueries
    let ledgerKey = Ed25519PrivateKey(seed: [UInt8](repeating: 71, count: 32))!
    let issuerKey: P256.Signing.PrivateKey
    let issuer: AgeCredentialIssuer
    var statusList: IssuerStatusList
    let batch: [IssuedCredential]
    private var tip: Block
    private var tipQC: QuorumCertificate
    private var round: UInt64 = 0
    private var sequences: [Ed25519PublicKey: UInt64] = [:]

    init() throws {
        let store = try BlockStore(database: try LevelDB(path: directory.path + "/ledger"))
        executor = try LedgerExecutor(genesis: fixture.genesis, genesisBlock: fixture.genesisBlock, store: store)
        queries = LedgerQueries(store: store)
        tip = fixture.genesisBlock
        tipQC = .genesis(chainID: fixture.chainID, blockID: fixture.genesisBlock.id)
        var generator = SystemRandomNumberGenerator()
        issuerKey = makeP256Key(using: &generator)
        issuer = try AgeCredentialIssuer(issuer: Self.identifier, kid: Self.kid, signingKey: .p256(issuerKey))
        statusList = try IssuerStatusList(uri: Self.uri, bits: 1, count: 1024)
        batch = try issuer.issueBatch(
            birthDate: CivilDate(iso: "2000-03-10")!, count: 3, now: Self.now, statusList: &statusList,
            using: &generator)

        let raw = Array(issuerKey.publicKey.rawRepresentation)
        let record = IssuerRecord(
            identifier: Self.identifier, organization: "org-0", ledgerKey: ledgerKey.publicKey,
            signingKeys: [
                IssuerSigningKey(
                    keyID: Self.kid, x: Array(raw[0..<32]), y: Array(raw[32..<64]), notBefore: 1_700_000_000_000,
                    notAfter: 1_800_000_000_000)
            ],
            credentialTypes: [AgeProfile.defaultVCT], validFrom: 1_600_000_000_000, validUntil: 1_790_000_000_000)
        try governance(.addIssuer(record))
    }

    /// Passes `action`: org-0 proposes, org-1 approves.
    func governance(_ action: GovernanceAction) throws {
        let proposal = transaction(
            fixture.adminKeys[0], .governancePropose, ProposePayload(action: action).canonicalBytes)
        try commit([proposal])
        try commit([
            transaction(
                fixture.adminKeys[1], .governanceVote, VotePayload(proposal: proposal.id, approve: true).canonicalBytes)
        ])
    }

    /// Publishes the current list as `version`, signed by `key` (the issuer's by default) for `sub`.
    func publish(version: UInt64, key: P256.Signing.PrivateKey? = nil, sub: String = CredentialChain.uri) throws {
        let token = StatusListToken.sign(
            statusList.list, uri: sub, issuer: Self.identifier, issuedAt: Self.now, expiresAt: Self.now + 86_400,
            ttl: 3600, key: .p256(key ?? issuerKey), kid: Self.kid)
        try commit([
            transaction(
                ledgerKey, .statusListPublish,
                StatusListPayload(uri: Self.uri, listVersion: version, token: token).canonicalBytes)
        ])
    }

    func transaction(_ key: Ed25519PrivateKey, _ kind: TransactionKind, _ payload: [UInt8]) -> Transaction {
        let sequence = sequences[key.publicKey, default: 1]
        sequences[key.publicKey] = sequence + 1
        return Transaction(chainID: fixture.chainID, sequence: sequence, kind: kind, payload: payload, signedBy: key)
    }

    func commit(_ transactions: [Transaction]) throws {
        round += 1
        let block = fixture.child(
            of: tip, parentCertificate: tipQC, round: round, transactions: transactions, executor: executor)
        try executor.execute(block)
        let qc = fixture.certificate(for: block.header)
        try executor.commit(block, certificate: qc)
        for id in block.transactions.map(\.id) {
            let location = try #require(executor.location(of: id))
            try #require(location.failure == nil, "transaction failed: \(location.failure!)")
        }
        tip = block
        tipQC = qc
    }

    var sources: LedgerCredentialSources { LedgerCredentialSources(queries: queries, clock: { Self.now }) }

    var verifier: PresentationVerifier { PresentationVerifier(registry: sources, statusLists: sources) }

    /// Presents credential `index` for "over 18" to a fresh request and verifies it against the ledger sources.
    func verify(_ index: Int) throws(PresentationRefusal) -> AgeVerification {
        let request = PresentationRequest(
            nonce: "bm9uY2Utb2YtMTI4LWJpdHMtYXQtbGVhc3Q", audience: Self.audience, threshold: 18,
            createdAt: Self.now, expiresAt: Self.now + 300)
        let presentation = try! AgePresentation.present(
            credential: batch[index].sdJWT, holderKey: batch[index].holderKey, over: 18, nonce: request.nonce,
            audience: Self.audience, now: Self.now)
        return try verifier.verify(presentation, request: request, now: Self.now)
    }
}

@Suite("Credential sources over committed ledger state")
struct LedgerCredentialSourcesTests {
    @Test("a governance-approved issuer is the library's registered issuer: P-256 JWK, kid, window in seconds")
    func issuerFromLedger() throws {
        let chain = try CredentialChain()
        let issuer = try #require(chain.sources.issuer(CredentialChain.identifier))
        #expect(issuer.identifier == CredentialChain.identifier)
        #expect(!issuer.delisted)
        #expect(issuer.allowedVCTs == [AgeProfile.defaultVCT])
        #expect(issuer.keys.count == 1)
        #expect(issuer.keys[0].jwk == PublicJWK(key: .p256(chain.issuerKey.publicKey), kid: CredentialChain.kid))
        // The key's own notBefore and the issuer's validUntil are the tighter bounds.
        #expect(issuer.keys[0].notBefore == 1_700_000_000)
        #expect(issuer.keys[0].notAfter == 1_790_000_000)
        #expect(chain.sources.issuer("https://nobody.example") == nil)
    }

    @Test("milliseconds become seconds rounded inwards; a key that is not a P-256 point is left out")
    func conversion() throws {
        let raw = Array(P256.Signing.PrivateKey().publicKey.rawRepresentation)
        let good = IssuerSigningKey(
            keyID: "good", x: Array(raw[0..<32]), y: Array(raw[32..<64]), notBefore: 1_000_001, notAfter: 5_000_999)
        let offCurve = IssuerSigningKey(
            keyID: "bad", x: [UInt8](repeating: 1, count: 32), y: [UInt8](repeating: 2, count: 32), notBefore: 0,
            notAfter: 9_000_000)
        let record = IssuerRecord(
            identifier: "https://i.example", organization: "org-0",
            ledgerKey: Ed25519PrivateKey(seed: [UInt8](repeating: 5, count: 32))!.publicKey,
            signingKeys: [good, offCurve], credentialTypes: ["a", "b"], validFrom: 0, validUntil: 9_000_000,
            delisted: true)
        let issuer = LedgerCredentialSources.registeredIssuer(record)
        #expect(issuer.keys.map(\.jwk.kid) == ["good"])
        #expect(issuer.keys[0].notBefore == 1001)
        #expect(issuer.keys[0].notAfter == 5000)
        #expect(issuer.delisted)
        #expect(issuer.allowedVCTs == ["a", "b"])
    }

    @Test("a presentation verifies against ledger state; a new list version revokes it; delisting refuses all")
    func verifyAgainstLedger() throws {
        let chain = try CredentialChain()
        // No list published yet: the status is unavailable, not assumed valid.
        #expect(chain.sources.statusList(uri: CredentialChain.uri) == nil)
        #expect(throws: PresentationRefusal.statusListUnavailable(uri: CredentialChain.uri)) { try chain.verify(0) }

        try chain.publish(version: 1)
        let answer = try chain.verify(0)
        #expect(answer.holds && answer.threshold == 18 && answer.issuer == CredentialChain.identifier)
        #expect(try chain.verify(1).holds)

        // Version 2 flips credential 0's bit: it is revoked, credential 1 is not.
        let revoked = chain.batch[0].statusIndex
        try chain.statusList.list.setStatus(CredentialStatus.invalid.rawValue, at: revoked)
        try chain.publish(version: 2)
        #expect(throws: PresentationRefusal.revoked(index: revoked, status: 1)) { try chain.verify(0) }
        #expect(try chain.verify(1).holds)

        // Governance delists the issuer: every credential of it is refused.
        try chain.governance(.delistIssuer(identifier: CredentialChain.identifier))
        #expect(chain.sources.issuer(CredentialChain.identifier)?.delisted == true)
        #expect(throws: PresentationRefusal.delistedIssuer(CredentialChain.identifier)) { try chain.verify(1) }
    }

    @Test("an issuer whose sponsoring organization left counts as delisted; one still sponsored does not")
    func orphanedIssuer() throws {
        let chain = try CredentialChain()
        let record = try #require(try chain.queries.issuer(identifier: CredentialChain.identifier).value)
        #expect(!LedgerCredentialSources.registeredIssuer(record, sponsored: true).delisted)
        #expect(LedgerCredentialSources.registeredIssuer(record, sponsored: false).delisted)
        // Through the ledger: org-0 is a member, so its issuer is not delisted.
        #expect(chain.sources.issuer(CredentialChain.identifier)?.delisted == false)
    }

    @Test("a stored token signed by a key the issuer did not register is not used")
    func foreignSignature() throws {
        let chain = try CredentialChain()
        try chain.publish(version: 1, key: P256.Signing.PrivateKey())
        #expect(chain.sources.statusList(uri: CredentialChain.uri) == nil)
        #expect(throws: PresentationRefusal.statusListUnavailable(uri: CredentialChain.uri)) { try chain.verify(0) }
        try chain.publish(version: 2)
        #expect(chain.sources.statusList(uri: CredentialChain.uri) != nil)
    }

    @Test("a stored token whose sub is another list is not used for this one")
    func subjectMismatch() throws {
        let chain = try CredentialChain()
        try chain.publish(version: 1, sub: CredentialChain.identifier + "/status/2")
        #expect(chain.sources.statusList(uri: CredentialChain.uri) == nil)
        #expect(throws: PresentationRefusal.statusListUnavailable(uri: CredentialChain.uri)) { try chain.verify(0) }
        // The raw entry is still there for the public status-list route.
        #expect(try chain.sources.statusListEntry(uri: CredentialChain.uri).value?.listVersion == 1)
    }

    @Test("a token that has expired at the verifier's time is not used")
    func expiredToken() throws {
        let chain = try CredentialChain()
        try chain.publish(version: 1)
        let later = LedgerCredentialSources(queries: chain.queries, clock: { CredentialChain.now + 86_400 })
        #expect(later.statusList(uri: CredentialChain.uri) == nil)
        #expect(chain.sources.statusList(uri: CredentialChain.uri) != nil)
    }
}

@Suite("The node's verifier: requests and verification over ledger state")
struct NodeCredentialsTests {
    @Test("a request's nonce verifies once; a replay, another audience and an unknown nonce are refused")
    func requestFlow() async throws {
        let chain = try CredentialChain()
        try chain.publish(version: 1)
        let node = NodeCredentials(
            queries: chain.queries, audience: "urn:ensure:verifier:test", clock: { CredentialChain.now })
        let request = await node.createRequest(audience: nil, over: 18)
        #expect(request.audience == "urn:ensure:verifier:test")
        #expect(try Base64.decodeURL(request.nonce).count >= 16)
        #expect(request.expiresAt == CredentialChain.now + 300)
        func present(_ index: Int, nonce: String, audience: String) throws -> String {
            try AgePresentation.present(
                credential: chain.batch[index].sdJWT, holderKey: chain.batch[index].holderKey, over: 18, nonce: nonce,
                audience: audience, now: CredentialChain.now)
        }
        let presentation = try present(0, nonce: request.nonce, audience: request.audience)
        let answer = try await node.verify(nonce: request.nonce, presentation: presentation)
        #expect(answer.holds && answer.threshold == 18)
        await #expect(throws: PresentationRefusal.nonceReused) {
            try await node.verify(nonce: request.nonce, presentation: presentation)
        }
        await #expect(throws: PresentationRefusal.nonceUnknown) {
            try await node.verify(nonce: "bm9uY2Utb2YtMTI4LWJpdHMtYXQtbGVhc3Q", presentation: presentation)
        }
        let other = await node.createRequest(audience: "https://shop.example", over: 18)
        await #expect(
            throws: PresentationRefusal.wrongAudience(
                expected: "https://shop.example", found: "https://elsewhere.example")
        ) {
            try await node.verify(
                nonce: other.nonce,
                presentation: try present(1, nonce: other.nonce, audience: "https://elsewhere.example"))
        }
    }
}
