import EnsureCrypto
import Foundation
import Testing

/// The result of one run of the `ensure` binary.
struct CommandResult {
    let status: Int32
    let standardOutput: String
    let standardError: String
}

/// The `ensure` executable is not in the build products; the test fails with this message.
struct MissingExecutable: Error, CustomStringConvertible {
    let searchedFrom: String

    var description: String {
        "the ensure executable was not found in the build products next to \(searchedFrom); "
            + "build it with `swift build --product ensure`"
    }
}

/// Runs the real `ensure` executable built next to this test binary.
enum EnsureBinary {
    /// The build products directory: the nearest ancestor of the running test binary that holds `ensure`.
    static func locate() throws -> URL {
        let start = Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
        var directory = start.resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<5 {
            let candidate = directory.appendingPathComponent("ensure")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        throw MissingExecutable(searchedFrom: start.path)
    }

    /// Runs `ensure` with `arguments`; `ENSURE_PASSPHRASE` is set only when `passphrase` is given.
    static func run(_ arguments: [String], passphrase: String? = nil) throws -> CommandResult {
        let process = Process()
        process.executableURL = try locate()
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["ENSURE_PASSPHRASE"] = passphrase
        process.environment = environment
        let output = Pipe()
        let error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        let outData = output.fileHandleForReading.readDataToEndOfFile()
        let errData = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return CommandResult(
            status: process.terminationStatus, standardOutput: String(decoding: outData, as: UTF8.self),
            standardError: String(decoding: errData, as: UTF8.self))
    }
}

/// A fresh directory removed when the test ends.
struct Workspace: ~Copyable {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("ensure-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// What `--json` prints.
struct KeySummaryJSON: Decodable, Equatable {
    let keyFile: String
    let publicKeyHex: String
    let publicKeyBase64: String
    let keyID: String
    let encrypted: Bool
}

/// Parses the aligned `label: value` lines of the text output.
func textFields(_ output: String) -> [String: String] {
    var fields: [String: String] = [:]
    for line in output.split(separator: "\n") {
        guard let colon = line.firstIndex(of: ":") else { continue }
        fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    return fields
}

/// The CLI tests run one at a time: each encrypted run costs 256 MiB of Argon2id memory.
@Suite("ensure keys", .serialized)
struct KeysCommandTests {
    @Test("generate then show: text and JSON agree, and the key id matches the public key")
    func generateThenShow() throws {
        let workspace = try Workspace()
        let path = workspace.file("node.key")
        let generated = try EnsureBinary.run(["keys", "generate", "--out", path, "--json"])
        #expect(generated.status == 0, "\(generated.standardError)")
        let created = try JSONDecoder().decode(KeySummaryJSON.self, from: Data(generated.standardOutput.utf8))

        let shownJSON = try EnsureBinary.run(["keys", "show", path, "--json"])
        #expect(shownJSON.status == 0, "\(shownJSON.standardError)")
        #expect(shownJSON.standardOutput.split(separator: "\n").count == 1)
        let shown = try JSONDecoder().decode(KeySummaryJSON.self, from: Data(shownJSON.standardOutput.utf8))
        #expect(shown == created)

        let text = try EnsureBinary.run(["keys", "show", path])
        #expect(text.status == 0)
        let fields = textFields(text.standardOutput)
        #expect(fields["public key"] == shown.publicKeyHex)
        #expect(fields["base64"] == shown.publicKeyBase64)
        #expect(fields["key id"] == shown.keyID)
        #expect(fields["encrypted"] == "no")

        let publicKey = try #require(Ed25519PublicKey(hex: shown.publicKeyHex))
        #expect(shown.keyID == publicKey.keyID)
        #expect(try Base64.decode(shown.publicKeyBase64) == publicKey.bytes)
        #expect(try KeyFile.read(from: path).publicKey == publicKey)
        #expect(!shown.encrypted)
    }

    @Test("the key file is created with mode 0600")
    func fileMode() throws {
        let workspace = try Workspace()
        let path = workspace.file("node.key")
        #expect(try EnsureBinary.run(["keys", "generate", "--out", path]).status == 0)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int).map { $0 & 0o7777 } == 0o600)
    }

    @Test("an insecure file is refused with one line naming the path, the mode and the fix", arguments: [0o644, 0o640])
    func insecureFile(mode: Int) throws {
        let workspace = try Workspace()
        let path = workspace.file("node.key")
        #expect(try EnsureBinary.run(["keys", "generate", "--out", path]).status == 0)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        let result = try EnsureBinary.run(["keys", "show", path])
        #expect(result.status != 0)
        #expect(result.standardOutput.isEmpty)
        let error = result.standardError.trimmingCharacters(in: .newlines)
        #expect(!error.contains("\n"))
        #expect(error.contains(path))
        #expect(error.contains("0" + String(mode, radix: 8)))
        #expect(error.contains("chmod 600"))
    }

    @Test("an encrypted key: the right passphrase from a file or the environment opens it, a wrong one does not")
    func passphrases() throws {
        let workspace = try Workspace()
        let path = workspace.file("node.key")
        let passphraseFile = workspace.file("passphrase")
        try "right horse battery\n".write(toFile: passphraseFile, atomically: true, encoding: .utf8)
        let generated = try EnsureBinary.run(["keys", "generate", "--out", path, "--passphrase-file", passphraseFile])
        #expect(generated.status == 0, "\(generated.standardError)")
        #expect(textFields(generated.standardOutput)["encrypted"] == "yes")

        let fromEnvironment = try EnsureBinary.run(["keys", "show", path, "--json"], passphrase: "right horse battery")
        #expect(fromEnvironment.status == 0, "\(fromEnvironment.standardError)")
        let shown = try JSONDecoder().decode(KeySummaryJSON.self, from: Data(fromEnvironment.standardOutput.utf8))
        #expect(shown.encrypted)
        #expect(shown.publicKeyHex == textFields(generated.standardOutput)["public key"])

        let wrong = try EnsureBinary.run(["keys", "show", path], passphrase: "wrong horse")
        #expect(wrong.status != 0)
        #expect(wrong.standardOutput.isEmpty)
        #expect(wrong.standardError.contains("wrong passphrase"))
        #expect(wrong.standardError.contains(path))

        let missing = try EnsureBinary.run(["keys", "show", path])
        #expect(missing.status != 0)
        #expect(missing.standardError.contains("ENSURE_PASSPHRASE"))
    }

    @Test("an empty passphrase is refused and no file is written")
    func emptyPassphrase() throws {
        let workspace = try Workspace()
        let path = workspace.file("node.key")
        let result = try EnsureBinary.run(["keys", "generate", "--out", path], passphrase: "")
        #expect(result.status != 0)
        #expect(result.standardError.contains("empty passphrase"))
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test("an existing file is not overwritten without --force, and is replaced with it")
    func overwrite() throws {
        let workspace = try Workspace()
        let path = workspace.file("node.key")
        let first = try EnsureBinary.run(["keys", "generate", "--out", path, "--json"])
        #expect(first.status == 0)
        let original = try JSONDecoder().decode(KeySummaryJSON.self, from: Data(first.standardOutput.utf8))

        let refused = try EnsureBinary.run(["keys", "generate", "--out", path])
        #expect(refused.status != 0)
        #expect(refused.standardError.contains("already exists"))
        #expect(try KeyFile.read(from: path).publicKey.hex == original.publicKeyHex)

        let forced = try EnsureBinary.run(["keys", "generate", "--out", path, "--force", "--json"])
        #expect(forced.status == 0)
        let replacement = try JSONDecoder().decode(KeySummaryJSON.self, from: Data(forced.standardOutput.utf8))
        #expect(replacement.publicKeyHex != original.publicKeyHex)
        #expect(try KeyFile.read(from: path).publicKey.hex == replacement.publicKeyHex)
    }

    @Test("a missing file and a missing argument fail with a message on standard error")
    func failures() throws {
        let workspace = try Workspace()
        let missing = try EnsureBinary.run(["keys", "show", workspace.file("absent.key")])
        #expect(missing.status != 0)
        #expect(missing.standardError.contains("does not exist"))
        let noOut = try EnsureBinary.run(["keys", "generate"])
        #expect(noOut.status != 0)
        #expect(noOut.standardError.contains("--out"))
    }

    @Test(
        "--help works on every command and exits 0",
        arguments: [["--help"], ["keys", "--help"], ["keys", "generate", "--help"], ["keys", "show", "--help"]])
    func help(arguments: [String]) throws {
        let result = try EnsureBinary.run(arguments)
        #expect(result.status == 0)
        #expect(result.standardOutput.contains("USAGE:"))
    }
}
