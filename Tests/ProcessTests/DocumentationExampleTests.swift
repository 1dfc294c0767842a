import Foundation
import Testing

/// One `<!-- doctest -->` console block of a document: the `$ ` commands in order, each with the output lines it
/// must print. A command ending in `\` continues on the next line; `…` in an output line stands for any text.
struct DocumentExample: Equatable {
    /// One command and what it must print.
    struct Step: Equatable {
        /// The shell command, continuation lines joined.
        var command: String
        /// Output lines that must appear, in this order, among the lines the command prints.
        var expected: [String]
        /// The 1-based line of the document where the command starts.
        var line: Int
    }

    /// The marker line that makes the next console block executable.
    static let marker = "<!-- doctest -->"

    var steps: [Step]
    /// Set when a marker was not directly followed by a console block: the 0-based line after the marker.
    var misplacedMarkerLine: Int? = nil

    /// Every marked console block of `markdown`.
    static func parse(_ markdown: String) -> [DocumentExample] {
        let lines = markdown.components(separatedBy: "\n")
        var examples: [DocumentExample] = []
        var index = 0
        while index < lines.count {
            defer { index += 1 }
            guard lines[index].trimmingCharacters(in: .whitespaces) == marker else { continue }
            index += 1
            // A marker that is not directly above a console block is a mistake, not a block to skip quietly.
            guard index < lines.count, lines[index].hasPrefix("```console") else {
                examples.append(DocumentExample(steps: [], misplacedMarkerLine: index))
                continue
            }
            var steps: [Step] = []
            index += 1
            while index < lines.count, !lines[index].hasPrefix("```") {
                let line = lines[index]
                if line.hasPrefix("$ ") {
                    let start = index + 1
                    var command = String(line.dropFirst(2))
                    while command.hasSuffix("\\"), index + 1 < lines.count {
                        index += 1
                        command =
                            String(command.dropLast()).trimmingTrailingWhitespace + " "
                            + lines[index].trimmingCharacters(in: .whitespaces)
                    }
                    steps.append(Step(command: command, expected: [], line: start))
                } else if !steps.isEmpty, !line.trimmingCharacters(in: .whitespaces).isEmpty {
                    steps[steps.count - 1].expected.append(line)
                }
                index += 1
            }
            examples.append(DocumentExample(steps: steps, misplacedMarkerLine: nil))
        }
        return examples
    }

    /// Whether `line` matches `pattern`, where each `…` stands for any (possibly empty) text and trailing
    /// whitespace is ignored on both.
    static func matches(_ pattern: String, _ line: String) -> Bool {
        let pattern = pattern.trimmingTrailingWhitespace
        let line = line.trimmingTrailingWhitespace
        let parts = pattern.components(separatedBy: "…")
        guard parts.count > 1 else { return pattern == line }
        guard line.hasPrefix(parts[0]) else { return false }
        var rest = line.dropFirst(parts[0].count)
        for part in parts.dropFirst().dropLast() where !part.isEmpty {
            guard let range = rest.range(of: part) else { return false }
            rest = rest[range.upperBound...]
        }
        let last = parts[parts.count - 1]
        return rest.count >= last.count && rest.hasSuffix(last)
    }

    /// The first expected line of `expected` that `output` does not print in order, or nil when all appear.
    static func firstMissing(_ expected: [String], in output: [String]) -> String? {
        var position = output.startIndex
        for pattern in expected {
            guard let found = output[position...].firstIndex(where: { matches(pattern, $0) }) else { return pattern }
            position = found + 1
        }
        return nil
    }
}

extension String {
    var trimmingTrailingWhitespace: String {
        var copy = self
        while let last = copy.last, last.isWhitespace { copy.removeLast() }
        return copy
    }
}

/// The parser and matcher on their own: they decide whether a documented example fails, so both ways are tested.
@Suite("Documentation examples: parsing and matching")
struct DocumentExampleParsingTests {
    @Test("a marked block splits into commands with their expected lines; unmarked blocks are ignored")
    func parsesMarkedBlocks() {
        let markdown = """
            ```console
            $ not run
            ```
            \(DocumentExample.marker)
            ```console
            $ ensure gov vote --proposal "$p" \\
                --approve
            status:      committed
            $ true

            $ echo two
            two
            ```
            """
        let examples = DocumentExample.parse(markdown)
        #expect(examples.count == 1)
        #expect(
            examples.first?.steps == [
                .init(
                    command: "ensure gov vote --proposal \"$p\" --approve", expected: ["status:      committed"],
                    line: 6),
                .init(command: "true", expected: [], line: 9),
                .init(command: "echo two", expected: ["two"], line: 11),
            ])
    }

    @Test(
        "… matches any text; everything else must be equal",
        arguments: [
            ("status:      committed", "status:      committed", true),
            ("status:      committed", "status:      failed", false),
            ("proposal:    …", "proposal:    2300553b", true),
            ("proposal:    …", "proposals:   2300553b", false),
            ("org-0/inc-0001  …  acknowledged  high", "org-0/inc-0001  2026-11-30T02:01:09Z  acknowledged  high", true),
            ("org-0/inc-0001  …  acknowledged  high", "org-0/inc-0001  2026-11-30T02:01:09Z  open  high", false),
            (
                "{\"leafIndex\":0,\"proof\":[\"…\"],\"treeSize\":2}",
                "{\"leafIndex\":0,\"proof\":[\"ab\"],\"treeSize\":2}", true
            ),
            (
                "{\"leafIndex\":0,\"proof\":[\"…\"],\"treeSize\":2}",
                "{\"leafIndex\":0,\"proof\":[\"ab\"],\"treeSize\":3}", false
            ),
            ("a…b…b", "ab", false),
            ("evidence: 91…", "evidence: 9167 ", true),
        ])
    func matching(pattern: String, line: String, expected: Bool) {
        #expect(DocumentExample.matches(pattern, line) == expected)
    }

    @Test("a marker without a console block directly under it is reported, not skipped")
    func misplacedMarker() {
        let examples = DocumentExample.parse("\(DocumentExample.marker)\n\n```console\n$ true\n```\n")
        #expect(examples.map(\.misplacedMarkerLine) == [1])
    }

    @Test("expected lines must appear in their order")
    func order() {
        #expect(DocumentExample.firstMissing(["a", "c"], in: ["a", "b", "c"]) == nil)
        #expect(DocumentExample.firstMissing(["c", "a"], in: ["a", "b", "c"]) == "a")
        #expect(DocumentExample.firstMissing(["d"], in: ["a"]) == "d")
    }
}

/// The documents' marked examples, run as written against four real nodes with the `ensure` built here.
@Suite("Documentation examples on a local network", .serialized)
struct DocumentationExampleTests {
    /// The documents whose marked examples must run; each must have at least one.
    static let documents = ["docs/incidents.md", "docs/api.md"]

    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    @Test("every marked console example prints what the document shows", .timeLimit(.minutes(6)))
    func examplesRunAsWritten() async throws {
        var examples: [(document: String, example: DocumentExample)] = []
        for document in Self.documents {
            let text = try String(
                contentsOf: Self.repositoryRoot.appendingPathComponent(document), encoding: .utf8)
            let found = DocumentExample.parse(text)
            #expect(!found.isEmpty, "\(document) has no \(DocumentExample.marker) console block")
            for example in found {
                if let line = example.misplacedMarkerLine {
                    Issue.record("\(document):\(line) has \(DocumentExample.marker) without a console block under it")
                }
                #expect(example.misplacedMarkerLine != nil || !example.steps.isEmpty, "\(document): an empty example")
            }
            examples += found.map { (document, $0) }
        }

        let network = try LocalNetwork(validators: 4)
        try network.startAll()
        // Generous: in the full suite the CPU-bound tests can keep this process's threads (and so its status
        // requests) waiting for minutes while the nodes commit.
        try await network.waitUntil("every node commits past height 2", seconds: 300) {
            let heights = await network.heights(network.nodes)
            return heights.count == network.nodes.count && heights.values.allSatisfy { $0 >= 2 }
        }
        let ensure = try Executables.locate("ensure")
        for (number, item) in examples.enumerated() {
            let work = FileManager.default.temporaryDirectory.appendingPathComponent("ensure-doc-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: work) }
            let outputs = try await run(
                item.example, in: work,
                environment: [
                    "PATH": ensure.deletingLastPathComponent().path + ":"
                        + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"),
                    "OUT": network.directory, "NODE": network.nodes[0].apiURL.absoluteString,
                ])
            for (index, step) in item.example.steps.enumerated() {
                let location = "\(item.document):\(step.line) (example \(number + 1)) `\(step.command)`"
                guard index < outputs.steps.count, let output = outputs.steps[index] else {
                    Issue.record("\(location) did not run; the example stopped earlier:\n\(outputs.tail)")
                    break
                }
                if index == outputs.steps.count - 1, !outputs.finished {
                    Issue.record("\(location) failed:\n\(output.joined(separator: "\n"))")
                    break
                }
                if let missing = DocumentExample.firstMissing(step.expected, in: output) {
                    Issue.record(
                        "\(location) did not print `\(missing)`; it printed:\n\(output.joined(separator: "\n"))")
                }
            }
        }
        #expect(network.stopAll().allSatisfy { $0 == 0 })
    }

    /// What one example printed: the output lines of each step that started, and whether the last step finished.
    struct Outputs {
        var steps: [[String]?]
        var finished: Bool
        var tail: String
    }

    /// Runs the steps as one bash script (so variables carry from step to step) that stops at the first failing
    /// command, and splits its output at markers printed between steps. A pipeline's status is its last command's,
    /// as in an interactive shell, so an example may cut a stream short with `head` or `grep -m`.
    func run(_ example: DocumentExample, in directory: URL, environment: [String: String]) async throws -> Outputs {
        let marker = "@@doctest-\(UUID().uuidString)"
        var script = "set -eu\n"
        for (index, step) in example.steps.enumerated() {
            script += "echo '\(marker) \(index)'\n\(step.command)\n"
        }
        script += "echo '\(marker) end'\n"
        let child = try await runToEnd(
            URL(fileURLWithPath: "/bin/bash"), ["-c", script], directory: directory,
            environment: ProcessInfo.processInfo.environment.merging(environment) { $1 }, mergeErrors: true)
        let text = String(decoding: child.output, as: UTF8.self)
        var steps = [[String]?](repeating: nil, count: example.steps.count)
        var current: Int?
        var finished = false
        for var line in text.components(separatedBy: "\n") {
            // A step whose output does not end in a newline leaves the next marker inside its last line.
            if let range = line.range(of: marker + " ") {
                if let current, range.lowerBound > line.startIndex {
                    steps[current]?.append(String(line[..<range.lowerBound]))
                }
                line = String(line[range.lowerBound...])
            }
            if line.hasPrefix(marker + " ") {
                let label = line.dropFirst(marker.count + 1)
                if label == "end" {
                    finished = true
                    current = nil
                } else if let index = Int(label), index < steps.count {
                    current = index
                    steps[index] = []
                }
            } else if let current {
                steps[current]?.append(line)
            }
        }
        let started = steps.prefix { $0 != nil }.count
        return Outputs(
            steps: Array(steps.prefix(started)), finished: finished && child.status == 0,
            tail: String(text.suffix(2_000)))
    }
}
