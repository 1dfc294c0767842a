import Foundation
import Testing

/// The credentials of the members-and-regulators routes, refused offline before any key is read or node asked.
@Suite("ensure incident credentials", .serialized)
struct IncidentCredentialTests {
    private let token = String(repeating: "A", count: 43)

    @Test("list and show take --key or --token, not both")
    func bothCredentials() throws {
        for command in [["incident", "list"], ["incident", "show", "org-0/inc-1"]] {
            try expectCLIFailure(
                command + ["--node", deadNode, "--key", "/nonexistent/admin.key", "--token", token],
                mentions: "give --key or --token, not both")
        }
    }

    @Test("a token that is not 32 bytes of base64url is named")
    func malformedToken() throws {
        for bad in ["short", token + "=", String(repeating: "+", count: 43)] {
            try expectCLIFailure(
                ["incident", "list", "--node", deadNode, "--token", bad], mentions: "--token must be the 43-character")
        }
    }

    @Test("a missing key file is named before the node is asked")
    func missingKey() throws {
        try expectCLIFailure(
            ["incident", "show", "org-0/inc-1", "--node", deadNode, "--key", "/nonexistent/admin.key"],
            mentions: "/nonexistent/admin.key")
        try expectCLIFailure(
            ["auth", "token", "--node", deadNode, "--key", "/nonexistent/admin.key"], mentions: "/nonexistent/admin.key"
        )
    }

    @Test("a well-formed token reaches the node (which is not there)")
    func tokenReachesTheNode() throws {
        try expectCLIFailure(["incident", "list", "--node", deadNode, "--token", token], mentions: "cannot reach node")
    }
}
