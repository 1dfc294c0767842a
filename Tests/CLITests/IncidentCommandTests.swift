import Foundation
import Testing

/// The offline refusals of `ensure incident`: every bad option is named before any key is read or node asked.
@Suite("ensure incident", .serialized)
struct IncidentCommandTests {
    private let common = ["--key", "/nonexistent/plugin.key", "--node", deadNode]
    private let digest = String(repeating: "ab", count: 32)

    private func report(_ changes: [String: String?]) -> [String] {
        var options: [String: String?] = [
            "--id": "inc-1", "--category": "intrusion-attempts/exploit", "--severity": "high", "--asset": "web-1",
            "--detector": "wazuh", "--summary": "exploit", "--evidence-digest": digest,
        ]
        for (key, value) in changes { options[key] = value }
        var arguments = ["incident", "report"]
        for (key, value) in options.sorted(by: { $0.key < $1.key }) {
            if let value { arguments += [key, value] }
        }
        return arguments + common
    }

    @Test("report names each bad option")
    func reportRefusals() throws {
        try expectCLIFailure(report(["--category": "intrusion/exploit"]), mentions: "not an ENISA RSIT class/type")
        try expectCLIFailure(report(["--severity": "7"]), mentions: "--severity must be")
        try expectCLIFailure(report(["--severity": "severe"]), mentions: "--severity must be")
        try expectCLIFailure(report(["--id": String(repeating: "i", count: 129)]), mentions: "--id must be")
        try expectCLIFailure(report(["--asset": ""]), mentions: "--asset must be")
        try expectCLIFailure(report(["--evidence-digest": "abc"]), mentions: "--digest must be 64")
        try expectCLIFailure(report(["--evidence-digest": nil]), mentions: "give --file PATH or --digest HEX")
        try expectCLIFailure(report(["--detected-at": "yesterday"]), mentions: "--detected-at must be")
        try expectCLIFailure(report(["--seal-to": digest]), mentions: "--seal-to needs --details-file")
        try expectCLIFailure(report(["--details-file": "/etc/passwd"]), mentions: "--details-file needs")
        try expectCLIFailure(
            report(["--seal-to": "zz", "--details-file": "/etc/passwd"]), mentions: "--seal-to must be 64")
        try expectCLIFailure(
            report(["--seal-to": digest, "--details-file": "/nonexistent/details"]), mentions: "cannot be read")
    }

    @Test("a well-formed report (names or ids for severity) gets as far as reading the key file")
    func reportReachesKey() throws {
        try expectCLIFailure(report([:]), mentions: "/nonexistent/plugin.key")
        try expectCLIFailure(report(["--severity": "4"]), mentions: "/nonexistent/plugin.key")
        try expectCLIFailure(
            report(["--seal-to": digest, "--details-file": "/etc/passwd", "--detected-at": "2025-01-01T00:00:00Z"]),
            mentions: "/nonexistent/plugin.key")
    }

    @Test("update names a bad status, note or id")
    func updateRefusals() throws {
        try expectCLIFailure(
            ["incident", "update", "--id", "inc-1", "--status", "closed"] + common, mentions: "--status must be one of")
        try expectCLIFailure(
            ["incident", "update", "--id", "", "--status", "resolved"] + common, mentions: "--id must be")
        try expectCLIFailure(
            ["incident", "update", "--id", "i", "--status", "resolved", "--note", String(repeating: "n", count: 2049)]
                + common, mentions: "--note is longer")
        try expectCLIFailure(
            ["incident", "update", "--id", "i", "--status", "false-positive"] + common,
            mentions: "/nonexistent/plugin.key")
    }

    @Test("list and show refuse bad filters and references before asking the node")
    func listAndShow() throws {
        try expectCLIFailure(["incident", "list", "--node", deadNode, "--limit", "0"], mentions: "--limit must be")
        try expectCLIFailure(
            ["incident", "list", "--node", deadNode, "--status", "closed"], mentions: "--status must be")
        try expectCLIFailure(
            ["incident", "list", "--node", deadNode, "--reporter", "ab"], mentions: "--reporter must be")
        try expectCLIFailure(["incident", "show", "--node", deadNode, "org-a"], mentions: "organization/id")
        try expectCLIFailure(["incident", "show", "--node", deadNode, "Org!/x"], mentions: "organization must be")
        try expectCLIFailure(["incident", "list", "--node", deadNode, "--severity", "high"], mentions: "127.0.0.1:1")
    }
}
