import Codec
import Credentials
import EnsureCrypto
import Foundation
import Ledger
import Testing

/// A fake node for the issuer's ledger commands: it answers the status, account, issuer and transaction routes
/// the `ensure` binary asks, decodes every submitted transaction, and reports each as committed, or as failed
/// with `failure`'s code.
private func issuerNode(failure: (code: String, reason: String)? = nil) throws -> FakeNodeServer {
    try FakeNodeServer { request in
        let path = request.path
        switch (request.method, path) {
        case ("GET", "/v1/status"):
            return (200, #"{"chainID":"ensure-cli-test","height":4}"#)
        case ("GET", _) where path.hasPrefix("/v1/accounts/"):
            return (200, #"{"key":"\#(path.dropFirst("/v1/accounts/".count))","nextSequence":4}"#)
        case ("GET", _) where path.hasPrefix("/v1/issuers/"):
            return (
                200,
                #"{"height":4,"issuer":{"identifier":"https://issuer.bank-a.example","validFrom":1600000000000,"#
                    + #""validUntil":4102444800000}}"#
            )
        case ("POST", "/v1/transactions"):
            guard let transaction = try? submitted(request) else { return (400, #"{"type":"bad"}"#) }
            return (202, #"{"id":"\#(transaction.id.hex)","status":"pending"}"#)
        case ("GET", _) where path.hasPrefix("/v1/transactions/"):
            let id = path.dropFirst("/v1/transactions/".count)
            if let failure {
                return (
                    200,
                    #"{"id":"\#(id)","status":"failed","height":5,"index":0,"code":"\#(failure.code)","#
                        + #""reason":"\#(failure.reason)"}"#
                )
            }
            return (200, #"{"id":"\#(id)","status":"committed","height":5,"index":0,"blockID":"\#(id)"}"#)
        default:
            return (404, #"{"type":"urn:ensure:problem:not-found","title":"Not found","status":404,"detail":"no"}"#)
        }
    }
}

/// The transaction in a `POST /v1/transactions` body.
private func submitted(_ request: FakeNodeServer.Request) throws -> Transaction {
    struct Body: Decodable { var transaction: String }
    let body = try JSONDecoder().decode(Body.self, from: Data(request.body))
    return try Transaction.decode(canonical: try Base64.decode(body.transaction), field: "transaction")
}

/// Key files for an issuer: its Ed25519 ledger key and a P-256 signing key (kid `k1`).
private struct IssuerFiles: ~Copyable {
    let workspace: Workspace
    let ledgerKey: String
    let ledgerPublicKey: Ed25519PublicKey
    let signingKey: String

    init() throws {
        let workspace = try Workspace()
        let ledgerKey = workspace.file("ledger.key")
        let signingKey = workspace.file("issuer.jwk")
        let generated = try EnsureBinary.run(["keys", "generate", "--out", ledgerKey])
        try #require(generated.status == 0, "\(generated.standardError)")
        let ledgerPublicKey = try KeyFile.read(from: ledgerKey, passphrase: nil).privateKey.publicKey
        let made = try EnsureBinary.run(["credential", "issuer-key", "--out", signingKey, "--kid", "k1"])
        try #require(made.status == 0, "\(made.standardError)")
        self.ledgerKey = ledgerKey
        self.ledgerPublicKey = ledgerPublicKey
        self.signingKey = signingKey
        self.workspace = workspace
    }

    /// Another P-256 key file, `kid` in it.
    func newSigningKey(_ name: String, kid: String) throws -> String {
        let path = workspace.file(name)
        let made = try EnsureBinary.run(["credential", "issuer-key", "--out", path, "--kid", kid])
        try #require(made.status == 0, "\(made.standardError)")
        return path
    }

    /// The public JWK of a private key file.
    func publicJWK(_ path: String) throws -> PublicJWK {
        let parsed = try P256PrivateJWK.parse(try JSONValue.parse(try PrivateFile.read(path)))
        return JWSSigningKey.p256(parsed.key).publicJWK(kid: parsed.kid)
    }
}

@Suite("ensure credential publish-status and rotate-key against a node", .serialized)
struct IssuerNodeCommandTests {
    @Test("publish-status signs the issuer's list as a statuslist+jwt and submits it signed by the ledger key")
    func publishStatus() throws {
        let files = try IssuerFiles()
        let uri = "https://issuer.bank-a.example/status/1"
        let statusList = files.workspace.file("status.json")
        let issued = try EnsureBinary.run([
            "credential", "issue", "--issuer-key", files.signingKey, "--issuer", "https://issuer.bank-a.example",
            "--birth-date", "2000-03-10", "--count", "3", "--status-list", statusList, "--status-uri", uri,
            "--wallet", files.workspace.file("wallet.json"),
        ])
        try #require(issued.status == 0, "\(issued.standardError)")
        // Revoke one credential so the published list is not all zeros.
        // `issue` prints "... status indices I,J,K ...".
        let listed = try #require(issued.standardOutput.components(separatedBy: "status indices ").last)
        let indices = listed.prefix { $0.isNumber || $0 == "," }.split(separator: ",").compactMap { Int($0) }
        try #require(indices.count == 3, "\(issued.standardOutput)")
        let revokedIndex = indices[0]
        let revoked = try EnsureBinary.run([
            "credential", "revoke", "--status-list", statusList, "--index", String(revokedIndex),
        ])
        try #require(revoked.status == 0, "\(revoked.standardError)")

        let node = try issuerNode()
        defer { node.stop() }
        let result = try EnsureBinary.run([
            "credential", "publish-status", "--ledger-key", files.ledgerKey, "--node", node.url, "--status-list",
            statusList, "--issuer-key", files.signingKey, "--version", "7", "--wait", "5",
        ])
        #expect(result.status == 0, "\(result.standardError)")
        let posts = node.requests.filter { $0.method == "POST" }
        try #require(posts.count == 1)
        let transaction = try submitted(posts[0])
        #expect(transaction.hasValidSignature)
        #expect(transaction.kind == .statusListPublish)
        #expect(transaction.signer == files.ledgerPublicKey)
        #expect(transaction.sequence == 4)
        #expect(transaction.chainID == "ensure-cli-test")
        #expect(result.standardOutput.contains(transaction.id.hex))
        #expect(result.standardOutput.contains("committed"))
        let payload = try StatusListPayload.decode(canonical: transaction.payload, field: "payload")
        #expect(payload.uri == uri)
        #expect(payload.listVersion == 7)
        // The token verifies with the issuer's P-256 key and carries the list with the revocation.
        let jwk = try files.publicJWK(files.signingKey)
        let now = Int64(Date().timeIntervalSince1970)
        let list = try StatusListToken.verify(payload.token, expectedURI: uri, now: now) { kid in
            kid == "k1" ? jwk : nil
        }
        #expect(try list.status(at: revokedIndex) == CredentialStatus.invalid.rawValue)
        #expect(try list.status(at: indices[1]) == CredentialStatus.valid.rawValue)
        // Signed with another key, the token does not verify.
        let stranger = try files.publicJWK(try files.newSigningKey("other.jwk", kid: "k1"))
        #expect(throws: StatusListError.self) {
            try StatusListToken.verify(payload.token, expectedURI: uri, now: now) { _ in stranger }
        }
    }

    @Test("rotate-key adds the new key, retires and revokes by kid, in one issuer-keys transaction")
    func rotateKey() throws {
        let files = try IssuerFiles()
        let newKey = try files.newSigningKey("k2.jwk", kid: "k2")
        let node = try issuerNode()
        defer { node.stop() }
        let before = UInt64(Date().timeIntervalSince1970 * 1000)
        let result = try EnsureBinary.run([
            "credential", "rotate-key", "--node", node.url, "--key", files.ledgerKey, "--issuer",
            "https://issuer.bank-a.example", "--new-key", newKey, "--retire", "k1", "--revoke", "k0", "--wait", "5",
            "--json",
        ])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains(#""kind":"issuer-keys""#))
        let transaction = try submitted(try #require(node.requests.first { $0.method == "POST" }))
        #expect(transaction.hasValidSignature && transaction.kind == .issuerKeys)
        #expect(transaction.signer == files.ledgerPublicKey)
        let payload = try IssuerKeysPayload.decode(canonical: transaction.payload, field: "payload")
        #expect(payload.issuer == "https://issuer.bank-a.example")
        try #require(payload.operations.count == 3)
        guard case .add(let added) = payload.operations[0] else {
            Issue.record("the first operation is \(payload.operations[0]), not add")
            return
        }
        let jwk = try files.publicJWK(newKey)
        #expect(added.keyID == "k2")
        #expect(Base64.encodeURL(added.x) == jwk.json["x"]?.stringValue)
        #expect(Base64.encodeURL(added.y) == jwk.json["y"]?.stringValue)
        // Valid from the start of today (UTC), when today's credentials are dated, to the issuer's approval end.
        #expect(added.notBefore == before - before % 86_400_000)
        #expect(added.notAfter == 4_102_444_800_000)
        guard case .retire(let retired, let from) = payload.operations[1] else {
            Issue.record("the second operation is \(payload.operations[1]), not retire")
            return
        }
        #expect(retired == "k1")
        #expect(from >= before && from <= UInt64(Date().timeIntervalSince1970 * 1000))
        #expect(payload.operations[2] == .revoke(keyID: "k0"))
    }

    @Test("rotate-key with explicit times asks the node nothing but the submission")
    func rotateKeyExplicit() throws {
        let files = try IssuerFiles()
        let node = try issuerNode()
        defer { node.stop() }
        let result = try EnsureBinary.run([
            "credential", "rotate-key", "--node", node.url, "--key", files.ledgerKey, "--issuer",
            "https://issuer.bank-a.example", "--new-key", try files.newSigningKey("k2.jwk", kid: "k2"), "--kid",
            "renamed", "--not-before", "1750000000000", "--not-after", "2026-01-01T00:00:00Z", "--retire", "k1",
            "--retire-from", "1750000000001",
        ])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(!node.requests.contains { $0.path.hasPrefix("/v1/issuers/") })
        let transaction = try submitted(try #require(node.requests.first { $0.method == "POST" }))
        let payload = try IssuerKeysPayload.decode(canonical: transaction.payload, field: "payload")
        guard case .add(let added) = payload.operations[0] else {
            Issue.record("the first operation is not add")
            return
        }
        #expect(added.keyID == "renamed")
        #expect(added.notBefore == 1_750_000_000_000 && added.notAfter == 1_767_225_600_000)
        #expect(payload.operations[1] == .retire(keyID: "k1", from: 1_750_000_000_001))
    }

    @Test("rotate-key reports a transaction the ledger committed as failed, with its code")
    func rotateKeyFailed() throws {
        let files = try IssuerFiles()
        let node = try issuerNode(failure: ("invalid-transition", "issuer would have no usable signing key"))
        defer { node.stop() }
        let result = try EnsureBinary.run([
            "credential", "rotate-key", "--node", node.url, "--key", files.ledgerKey, "--issuer",
            "https://issuer.bank-a.example", "--revoke", "k1", "--wait", "5",
        ])
        #expect(result.status != 0)
        #expect(result.standardError.contains("invalid-transition"), "\(result.standardError)")
    }

    @Test("rotate-key names each bad option before it reads a key or asks the node")
    func rotateKeyRefusals() throws {
        let files = try IssuerFiles()
        let base = ["credential", "rotate-key", "--node", deadNode, "--key", files.ledgerKey]
        let issuer = ["--issuer", "https://issuer.bank-a.example"]
        let publicOnly = files.workspace.file("public.jwk")
        try Data(try files.publicJWK(files.signingKey).json.serializedBytes).write(to: URL(fileURLWithPath: publicOnly))
        let edKey = files.workspace.file("ed.jwk")
        try Data(#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"e"}"#.utf8)
            .write(to: URL(fileURLWithPath: edKey))
        let cases: [([String], String)] = [
            (base + issuer, "nothing to do"),
            (base + ["--issuer", "", "--revoke", "k1"], "--issuer must be"),
            (base + issuer + ["--retire", ""], "--retire must name a kid"),
            (base + issuer + ["--revoke", "k1", "--revoke", "k1"], "--revoke names a kid twice"),
            (base + issuer + ["--retire", "k1", "--revoke", "k1"], "revoking is enough"),
            (base + issuer + ["--revoke", "k1", "--kid", "x"], "--new-key, which is missing"),
            (base + issuer + ["--revoke", "k1", "--retire-from", "0"], "--retire-from needs --retire"),
            (base + issuer + ["--retire", "k1", "--retire-from", "yesterday"], "--retire-from must be"),
            (base + issuer + ["--new-key", files.workspace.file("absent.jwk")], "--new-key"),
            (base + issuer + ["--new-key", edKey], "is not a P-256 key"),
            (
                base + issuer + [
                    "--new-key", files.signingKey, "--retire", "k1", "--not-before", "5", "--not-after", "4",
                ],
                "--not-after is before --not-before"
            ),
            (base + issuer + ["--new-key", files.signingKey, "--revoke", "k1"], "also retired or revoked"),
            (base + issuer + (1...9).flatMap { ["--revoke", "k\($0)"] }, "at most 8"),
        ]
        for (arguments, message) in cases {
            try expectCLIFailure(arguments, mentions: message)
        }
        // A public JWK is accepted as --new-key; with explicit times only the unreachable node stops it.
        try expectCLIFailure(
            base + issuer + [
                "--new-key", publicOnly, "--not-before", "1750000000000", "--not-after", "1760000000000",
            ], mentions: "127.0.0.1:1")
    }
}
