import Credentials
import Foundation
import Testing

/// Runs the `ensure` executable built next to this test binary (the way Tests/CLITests does).
enum EnsureCLI {
    struct NotBuilt: Error, CustomStringConvertible {
        let from: String
        var description: String {
            "the ensure executable was not found next to \(from); build it with `swift build --product ensure`"
        }
    }

    static func locate() throws -> URL {
        let start = Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
        var directory = start.resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<5 {
            let candidate = directory.appendingPathComponent("ensure")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        throw NotBuilt(from: start.path)
    }

    static func run(_ arguments: [String], input: String? = nil) throws -> (
        status: Int32, output: String, error: String
    ) {
        let process = Process()
        process.executableURL = try locate()
        process.arguments = arguments
        let output = Pipe()
        let error = Pipe()
        let stdin = Pipe()
        process.standardOutput = output
        process.standardError = error
        process.standardInput = stdin
        try process.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }
}

@Suite("ensure credential / ensure wallet")
struct CredentialCLITests {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ensure-cred-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { directory.appendingPathComponent(name).path }

    func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    /// issuer-key, issuer-entry and issue a batch of `count`; returns the status indices printed.
    func setUp(count: Int = 6) throws -> [Int] {
        let key = try EnsureCLI.run(["credential", "issuer-key", "--out", file("issuer.jwk"), "--kid", "cli-1"])
        #expect(key.status == 0, "\(key.error)")
        #expect(try mode(file("issuer.jwk")) == 0o600)
        #expect(!key.output.contains("\"d\""))
        let entry = try EnsureCLI.run([
            "credential", "issuer-entry", "--issuer-key", file("issuer.jwk"), "--issuer", "https://cli.example",
            "--out", file("issuers.json"),
        ])
        #expect(entry.status == 0, "\(entry.error)")
        let issue = try EnsureCLI.run([
            "credential", "issue", "--issuer-key", file("issuer.jwk"), "--issuer", "https://cli.example",
            "--birth-date", "1999-12-31", "--count", String(count), "--status-list", file("status.json"),
            "--status-uri", "https://cli.example/status/1", "--wallet", file("wallet.json"),
        ])
        #expect(issue.status == 0, "\(issue.error)")
        #expect(try mode(file("wallet.json")) == 0o600)
        let indices = issue.output.split(separator: " ").last.map { $0.split(separator: ",") } ?? []
        return indices.compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    func present(nonce: String) throws -> (status: Int32, output: String, error: String) {
        try EnsureCLI.run([
            "wallet", "present", "--wallet", file("wallet.json"), "--nonce", nonce, "--aud", "https://shop.example",
            "--over", "18",
        ])
    }

    func verify(_ presentation: String, nonce: String) throws -> (status: Int32, output: String, error: String) {
        try Data(presentation.utf8).write(to: URL(fileURLWithPath: file("presentation.txt")))
        return try EnsureCLI.run([
            "credential", "verify", "--presentation", file("presentation.txt"), "--nonce", nonce, "--aud",
            "https://shop.example", "--over", "18", "--issuers", file("issuers.json"), "--status-list",
            file("status.json"),
        ])
    }

    @Test("issue → present → verify accepts; the wallet spends one credential per presentation")
    func issuePresentVerify() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let indices = try setUp()
        #expect(indices.count == 6)
        let presented = try present(nonce: "Y2xpLW5vbmNlLTEyOC1iaXRzLWxvbmc")
        #expect(presented.status == 0, "\(presented.error)")
        let verified = try verify(presented.output, nonce: "Y2xpLW5vbmNlLTEyOC1iaXRzLWxvbmc")
        #expect(verified.status == 0, "\(verified.error)")
        let answer = try JSONValue.parse(verified.output)
        #expect(answer["accepted"] == .bool(true))
        #expect(answer["holds"] == .bool(true))
        #expect(answer["answered_by"] == .string("age_over_18"))
        let second = try present(nonce: "Y2xpLW5vbmNlLTEyOC1iaXRzLWxvbmc")
        #expect(second.output.split(separator: "~")[0] != presented.output.split(separator: "~")[0])
        let status = try EnsureCLI.run(["wallet", "status", "--wallet", file("wallet.json"), "--json"])
        let counts = try JSONValue.parse(status.output)
        #expect(counts["usable"] == .integer(4))
        #expect(counts["used"] == .integer(2))
        #expect(counts["needs_refill"] == .bool(true))
        #expect(second.error.contains("refill"))
        // A presentation checked against another nonce is refused with its reason and a non-zero exit.
        let wrongNonce = try verify(presented.output, nonce: "b3RoZXItbm9uY2UtdmFsdWUtMTIzNDU2")
        #expect(wrongNonce.status != 0)
        #expect(try JSONValue.parse(wrongNonce.output)["reason"] == .string("nonce_unknown"))
    }

    @Test("revoke → the credential's next presentation is refused as revoked")
    func revokeRefused() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let indices = try setUp(count: 1)
        let index = try #require(indices.first)
        let revoke = try EnsureCLI.run([
            "credential", "revoke", "--status-list", file("status.json"), "--index", String(index),
        ])
        #expect(revoke.status == 0, "\(revoke.error)")
        let presented = try present(nonce: "cmV2b2tlLW5vbmNlLTEyOC1iaXRzLWxvbmc")
        #expect(presented.status == 0)
        #expect(presented.error.contains("last credential"))
        let verified = try verify(presented.output, nonce: "cmV2b2tlLW5vbmNlLTEyOC1iaXRzLWxvbmc")
        #expect(verified.status == 1)
        #expect(try JSONValue.parse(verified.output)["reason"] == .string("revoked"))
        #expect(verified.error.contains("revoked"))
        let empty = try present(nonce: "x")
        #expect(empty.status != 0)
        #expect(empty.error.contains("new batch"))
    }

    @Test("bad input is refused with a named reason and changes nothing")
    func badInput() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        _ = try setUp(count: 1)
        let before = try Data(contentsOf: URL(fileURLWithPath: file("wallet.json")))
        let badDate = try EnsureCLI.run([
            "credential", "issue", "--issuer-key", file("issuer.jwk"), "--issuer", "https://cli.example",
            "--birth-date", "1999-02-30", "--status-list", file("status.json"), "--status-uri",
            "https://cli.example/status/1", "--wallet", file("wallet.json"),
        ])
        #expect(badDate.status != 0)
        #expect(badDate.error.contains("birth-date"))
        let badIndex = try EnsureCLI.run([
            "credential", "revoke", "--status-list", file("status.json"), "--index", "-5",
        ])
        #expect(badIndex.status != 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: file("wallet.json"))) == before)
    }
}
