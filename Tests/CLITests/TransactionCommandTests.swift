import EnsureCrypto
import Foundation
import Testing

/// A node URL where nothing listens: port 1 on the loopback address refuses connections at once.
private let unreachableNode = "http://127.0.0.1:1"

/// A digest that parses.
private let someDigest = String(repeating: "ab", count: 32)

/// The offline failure paths of `ensure notarize`, `ensure tx status` and `ensure notarization show`: each
/// exits non-zero with one line that names what was wrong. The online paths run against a real node elsewhere.
@Suite("ensure notarize, tx, notarization", .serialized)
struct TransactionCommandTests {
    /// Runs `ensure` and checks it failed with one line on standard error that contains `message`.
    private func expectFailure(
        _ arguments: [String], mentions message: String, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let result = try EnsureBinary.run(arguments)
        #expect(result.status != 0, "\(arguments) succeeded", sourceLocation: sourceLocation)
        #expect(result.standardOutput.isEmpty, sourceLocation: sourceLocation)
        let lines = result.standardError.split(separator: "\n", omittingEmptySubsequences: true)
        #expect(lines.count == 1, "expected one line, got: \(result.standardError)", sourceLocation: sourceLocation)
        #expect(
            result.standardError.contains(message), "\(result.standardError) does not mention \(message)",
            sourceLocation: sourceLocation)
    }

    /// A fresh admin key in `workspace`.
    private func adminKey(in workspace: borrowing Workspace) throws -> String {
        let path = workspace.file("admin.key")
        let generated = try EnsureBinary.run(["keys", "generate", "--out", path])
        try #require(generated.status == 0, "\(generated.standardError)")
        return path
    }

    @Test("notarize with a missing key file names the file")
    func missingKeyFile() throws {
        let workspace = try Workspace()
        let missing = workspace.file("absent.key")
        try expectFailure(
            ["notarize", "--key", missing, "--node", unreachableNode, "--digest", someDigest], mentions: missing)
    }

    @Test(
        "notarize refuses a digest that is not 64 hex characters",
        arguments: ["abc", String(repeating: "z", count: 64), String(repeating: "a", count: 66), ""])
    func badDigest(digest: String) throws {
        let workspace = try Workspace()
        let key = try adminKey(in: workspace)
        try expectFailure(
            ["notarize", "--key", key, "--node", unreachableNode, "--digest", digest], mentions: "--digest must be 64")
    }

    @Test("notarize refuses both --file and --digest, and neither")
    func fileAndDigest() throws {
        let workspace = try Workspace()
        let key = try adminKey(in: workspace)
        let data = workspace.file("orders.csv")
        try Data("id,total\n1,10\n".utf8).write(to: URL(fileURLWithPath: data))
        try expectFailure(
            ["notarize", "--key", key, "--node", unreachableNode, "--file", data, "--digest", someDigest],
            mentions: "not both")
        try expectFailure(
            ["notarize", "--key", key, "--node", unreachableNode], mentions: "--file PATH or --digest HEX")
    }

    @Test("notarize against a node where nothing listens says it cannot reach the node")
    func unreachable() throws {
        let workspace = try Workspace()
        let key = try adminKey(in: workspace)
        try expectFailure(
            ["notarize", "--key", key, "--node", unreachableNode, "--digest", someDigest],
            mentions: "cannot reach node \(unreachableNode)")
        let data = workspace.file("orders.csv")
        try Data("id,total\n1,10\n".utf8).write(to: URL(fileURLWithPath: data))
        try expectFailure(
            ["notarize", "--key", key, "--node", unreachableNode, "--file", data],
            mentions: "cannot reach node \(unreachableNode)")
    }

    @Test("notarize names a file it cannot read")
    func unreadableFile() throws {
        let workspace = try Workspace()
        let key = try adminKey(in: workspace)
        let missing = workspace.file("no-such-export.csv")
        try expectFailure(
            ["notarize", "--key", key, "--node", unreachableNode, "--file", missing],
            mentions: "cannot read file \(missing)")
    }

    @Test(
        "notarize refuses a node URL that is not http(s)", arguments: ["ftp://127.0.0.1:1", "127.0.0.1:1", "http://"])
    func badNodeURL(url: String) throws {
        let workspace = try Workspace()
        let key = try adminKey(in: workspace)
        try expectFailure(
            ["notarize", "--key", key, "--node", url, "--digest", someDigest], mentions: "--node must be")
    }

    @Test("notarize refuses a label over 256 bytes, sequence 0 and a negative wait")
    func badOptions() throws {
        let workspace = try Workspace()
        let key = try adminKey(in: workspace)
        let base = ["notarize", "--key", key, "--node", unreachableNode, "--digest", someDigest]
        try expectFailure(base + ["--label", String(repeating: "x", count: 257)], mentions: "--label")
        try expectFailure(base + ["--sequence", "0"], mentions: "--sequence must be at least 1")
        try expectFailure(base + ["--wait=-1"], mentions: "--wait must be")
    }

    @Test("tx status refuses a malformed id and reports an unreachable node")
    func transactionStatus() throws {
        try expectFailure(["tx", "status", "--node", unreachableNode, "xyz"], mentions: "64 hexadecimal")
        try expectFailure(
            ["tx", "status", "--node", unreachableNode, someDigest], mentions: "cannot reach node \(unreachableNode)")
    }

    @Test("notarization show needs exactly one of --digest and --file, and a reachable node")
    func notarizationShow() throws {
        let workspace = try Workspace()
        let data = workspace.file("orders.csv")
        try Data("id,total\n".utf8).write(to: URL(fileURLWithPath: data))
        try expectFailure(
            ["notarization", "show", "--node", unreachableNode, "--digest", someDigest, "--file", data],
            mentions: "not both")
        try expectFailure(["notarization", "show", "--node", unreachableNode], mentions: "--file PATH or --digest HEX")
        try expectFailure(
            ["notarization", "show", "--node", unreachableNode, "--digest", "12"], mentions: "--digest must be 64")
        try expectFailure(
            ["notarization", "show", "--node", unreachableNode, "--file", data],
            mentions: "cannot reach node \(unreachableNode)")
    }
}
