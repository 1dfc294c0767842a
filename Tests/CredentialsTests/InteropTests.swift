import Credentials
import Crypto
import EnsureCrypto
import Foundation
import Testing

/// The Python interpreter of the interop venv is missing; the test fails with this (CI must install it).
struct MissingInteropVenv: Error, CustomStringConvertible {
    let searched: String

    var description: String {
        "the SD-JWT interop venv is missing (\(searched)); run `bash scripts/setup`, which creates it with "
            + "`python3 -m venv .build/interop-venv` and installs sd-jwt==0.10.4 from PyPI, or set "
            + "ENSURE_INTEROP_PYTHON to a python3 that can `import sd_jwt`"
    }
}

/// Runs the committed interop script with the venv's Python.
enum InteropScript {
    static let script = testSourceDirectory.appendingPathComponent("Interop/sdjwt_interop.py").path

    static func python() throws -> String {
        if let configured = ProcessInfo.processInfo.environment["ENSURE_INTEROP_PYTHON"] {
            guard FileManager.default.isExecutableFile(atPath: configured) else {
                throw MissingInteropVenv(searched: configured)
            }
            return configured
        }
        let path = repositoryRoot.appendingPathComponent(".build/interop-venv/bin/python3").path
        guard FileManager.default.isExecutableFile(atPath: path) else { throw MissingInteropVenv(searched: path) }
        return path
    }

    static func run(_ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try python())
        process.arguments = [script] + arguments
        let output = Pipe()
        let error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }
}

@Suite("Interoperability with the SD-JWT reference implementation (PyPI sd-jwt 0.10.4)")
struct InteropTests {
    static let nonce = "aW50ZXJvcC1ub25jZS0xMjgtYml0cy1vci1tb3Jl"
    static let audience = "https://shop.example"

    @Test("our credential and presentation verify with sd-jwt; a wrong nonce makes it refuse")
    func oursVerifyWithPython() throws {
        let now = Int64(Date().timeIntervalSince1970)
        var generator = SystemRandomNumberGenerator()
        let issuerKey = makeP256Key(using: &generator)
        let issuer = try AgeCredentialIssuer(
            issuer: "https://issuer.example", kid: "ensure-1", signingKey: .p256(issuerKey))
        var list = try IssuerStatusList(uri: "https://issuer.example/status/1", bits: 1, count: 1024)
        let batch = try issuer.issueBatch(
            birthDate: CivilDate(iso: "1990-05-01")!, count: 1, now: now, statusList: &list, using: &generator)
        let presentation = try AgePresentation.present(
            credential: batch[0].sdJWT, holderKey: batch[0].holderKey, over: 18, nonce: Self.nonce,
            audience: Self.audience, now: now)

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("interop-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let presentationFile = directory.appendingPathComponent("presentation.txt")
        let keyFile = directory.appendingPathComponent("issuer.jwk")
        try Data(presentation.utf8).write(to: presentationFile)
        try Data(PublicJWK(key: .p256(issuerKey.publicKey), kid: "ensure-1").json.serializedBytes).write(to: keyFile)

        let result = try InteropScript.run([
            "verify", "--presentation", presentationFile.path, "--issuer-jwk", keyFile.path, "--nonce", Self.nonce,
            "--aud", Self.audience,
        ])
        #expect(result.status == 0, "sd-jwt refused our presentation: \(result.error)")
        let answer = try JSONValue.parse(result.output)
        let payload = try #require(answer["payload"])
        #expect(payload["age_over_18"] == .bool(true))
        for threshold in [12, 14, 16, 21, 65] { #expect(payload["age_over_\(threshold)"] == nil) }
        #expect(payload["iss"] == .string("https://issuer.example"))
        #expect(payload["vct"] == .string(AgeProfile.defaultVCT))
        #expect(answer["header"]?["typ"] == .string("dc+sd-jwt"))

        let refused = try InteropScript.run([
            "verify", "--presentation", presentationFile.path, "--issuer-jwk", keyFile.path, "--nonce", "other",
            "--aud", Self.audience,
        ])
        #expect(refused.status != 0)
        #expect(refused.error.contains("nonce"))
    }

    @Test("a credential and presentation made by sd-jwt verify with ours; revoking its index refuses it")
    func pythonsVerifyWithOurs() throws {
        let now = Int64(Date().timeIntervalSince1970)
        let iat = CivilDate(utcDayOf: now).unixSeconds
        let result = try InteropScript.run([
            "issue", "--nonce", Self.nonce, "--aud", Self.audience, "--iat", String(iat), "--exp",
            String(iat + 30 * 86_400), "--idx", "7", "--status-uri", "https://py.example/status/1", "--iss",
            "https://py.example", "--vct", AgeProfile.defaultVCT,
        ])
        #expect(result.status == 0, "sd-jwt failed to issue: \(result.error)")
        let output = try JSONValue.parse(result.output)
        let jwk = try PublicJWK.parse(try #require(output["issuer_jwk"]), path: "issuer_jwk")
        let presentation = try #require(output["presentation"]?.stringValue)
        let registry = InMemoryIssuerRegistry([
            RegisteredIssuer(
                identifier: "https://py.example", keys: [IssuerKey(jwk: jwk)], allowedVCTs: [AgeProfile.defaultVCT])
        ])
        var list = try StatusList(bits: 1, count: 64)
        let request = PresentationRequest(
            nonce: Self.nonce, audience: Self.audience, threshold: 18, createdAt: now, expiresAt: now + 300)
        let verifier = PresentationVerifier(
            registry: registry, statusLists: InMemoryStatusListSource(["https://py.example/status/1": list]))
        let answer = try verifier.verify(presentation, request: request, now: Int64(Date().timeIntervalSince1970))
        #expect(answer.holds)
        #expect(answer.answeredBy == 18)
        #expect(answer.disclosed == [18: true])

        try list.setStatus(1, at: 7)
        let revoked = PresentationVerifier(
            registry: registry, statusLists: InMemoryStatusListSource(["https://py.example/status/1": list]))
        #expect(throws: PresentationRefusal.revoked(index: 7, status: 1)) {
            try revoked.verify(presentation, request: request, now: Int64(Date().timeIntervalSince1970))
        }
        // sd-jwt's own issuance (all disclosures, decoys) parses and processes with our SD-JWT code too.
        let issuance = try SDJWT.parse(try #require(output["issuance"]?.stringValue))
        let processed = try issuance.processedPayload()
        #expect(processed["age_over_21"] == .bool(false))
        #expect(issuance.issuerJWT.header["typ"] == .string("dc+sd-jwt"))
    }
}
