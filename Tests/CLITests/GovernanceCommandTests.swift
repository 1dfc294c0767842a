import Foundation
import Testing

/// Runs `ensure` and checks it failed with one line on standard error that mentions `message`.
func expectCLIFailure(
    _ arguments: [String], mentions message: String, sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let result = try EnsureBinary.run(arguments)
    #expect(result.status != 0, "\(arguments) succeeded", sourceLocation: sourceLocation)
    #expect(result.standardOutput.isEmpty, sourceLocation: sourceLocation)
    #expect(
        result.standardError.contains(message), "\(result.standardError) does not mention \(message)",
        sourceLocation: sourceLocation)
}

/// A node URL where nothing listens.
let deadNode = "http://127.0.0.1:1"

/// The offline refusals of `ensure gov`: every bad option is named before any key is read or node asked.
@Suite("ensure gov", .serialized)
struct GovernanceCommandTests {
    private let common = ["--key", "/nonexistent/admin.key", "--node", deadNode]
    private let hexKey = String(repeating: "ab", count: 32)

    @Test("propose refuses an unknown action, naming the known ones")
    func unknownAction() throws {
        try expectCLIFailure(["gov", "propose", "add-friend"] + common, mentions: "unknown action")
    }

    @Test(
        "propose names a missing or malformed option",
        arguments: [
            (["add-organization", "--admin-key", String(repeating: "ab", count: 32)], "--name is required"),
            (
                ["add-organization", "--name", "Org_A", "--admin-key", String(repeating: "ab", count: 32)],
                "--name must be"
            ),
            (["add-organization", "--name", "org-a", "--admin-key", "abc"], "--admin-key must be 64"),
            (
                [
                    "add-organization", "--name", "org-a", "--admin-key", String(repeating: "ab", count: 32),
                    "--incident-key", "zz",
                ],
                "--incident-key must be 64"
            ),
            (["add-validator", "--organization", "org-a"], "--node-key is required"),
            (
                ["add-plugin", "--organization", "org-a", "--plugin-key", String(repeating: "ab", count: 32)],
                "--name is required"
            ),
            (["remove-regulator"], "--regulator-key is required"),
            (["delist-issuer"], "--identifier is required"),
            (["set-parameters"], "--param is required"),
            (["set-parameters", "--param", "max_block_bytes"], "must be name=value"),
            (["set-parameters", "--param", "speed=3"], "is not a parameter"),
            (
                ["remove-organization", "--name", "org-a", "--node-key", String(repeating: "ab", count: 32)],
                "--node-key is not an option of remove-organization"
            ),
            (
                [
                    "add-issuer", "--identifier", "https://i.example", "--organization", "org-a", "--ledger-key",
                    String(repeating: "ab", count: 32), "--valid-from", "10", "--valid-until", "5", "--vct", "a",
                ],
                "--valid-until is before --valid-from"
            ),
            (
                [
                    "add-issuer", "--identifier", "https://i.example", "--organization", "org-a", "--ledger-key",
                    String(repeating: "ab", count: 32), "--valid-from", "1", "--valid-until", "5", "--vct", "a",
                ],
                "--jwk is required"
            ),
        ])
    func badOptions(arguments: [String], message: String) throws {
        try expectCLIFailure(["gov", "propose"] + arguments + common, mentions: message)
    }

    @Test("add-issuer refuses a private JWK, a non-P-256 key and short coordinates")
    func badJWK() throws {
        let workspace = try Workspace()
        let x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"
        let y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
        let cases = [
            (#"{"kty":"EC","crv":"P-256","kid":"k","x":"\#(x)","y":"\#(y)","d":"AAAA"}"#, "private key"),
            (#"{"kty":"OKP","crv":"Ed25519","kid":"k","x":"\#(x)"}"#, "not an EC P-256 key"),
            (#"{"kty":"EC","crv":"P-256","x":"\#(x)","y":"\#(y)"}"#, "needs a kid"),
            (#"{"kty":"EC","crv":"P-256","kid":"k","x":"AAAA","y":"\#(y)"}"#, "x must be 32 bytes"),
            ("not json", "not a JSON object"),
        ]
        for (index, (text, message)) in cases.enumerated() {
            let path = workspace.file("key\(index).jwk")
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            try expectCLIFailure(
                [
                    "gov", "propose", "add-issuer", "--identifier", "https://i.example", "--organization", "org-a",
                    "--ledger-key", hexKey, "--valid-from", "1", "--valid-until", "2025-01-01T00:00:00Z", "--vct", "a",
                    "--jwk", path,
                ] + common, mentions: message)
        }
    }

    @Test("a well-formed proposal gets as far as reading the key file")
    func wellFormedReachesKey() throws {
        try expectCLIFailure(
            ["gov", "propose", "add-organization", "--name", "org-a", "--admin-key", hexKey] + common,
            mentions: "/nonexistent/admin.key")
    }

    @Test("vote needs a proposal id and exactly one of --approve and --reject")
    func vote() throws {
        try expectCLIFailure(
            ["gov", "vote", "--proposal", "abc", "--approve"] + common, mentions: "--proposal must be 64")
        try expectCLIFailure(["gov", "vote", "--proposal", hexKey] + common, mentions: "exactly one of")
        try expectCLIFailure(
            ["gov", "vote", "--proposal", hexKey, "--approve", "--reject"] + common, mentions: "exactly one of")
        try expectCLIFailure(
            ["gov", "vote", "--proposal", hexKey, "--approve"] + common, mentions: "/nonexistent/admin.key")
    }

    @Test("list and show refuse bad input before asking the node")
    func listAndShow() throws {
        try expectCLIFailure(["gov", "list", "--node", deadNode, "--status", "pending"], mentions: "--status must be")
        try expectCLIFailure(["gov", "show", "--node", deadNode, "xyz"], mentions: "64 hexadecimal")
        try expectCLIFailure(["gov", "list", "--node", deadNode], mentions: "127.0.0.1:1")
    }
}
