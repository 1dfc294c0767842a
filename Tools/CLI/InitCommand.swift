import ArgumentParser
import EnsureCrypto
import Foundation
import NodeConfig

/// `ensure init`: a new node home with its config, key and data directory.
struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a node home: config.toml, keys/node.key (mode 0600) and the data directory.",
        discussion: """
            A home that exists and is not empty is refused unless --force is given; with --force the config and \
            the key are replaced and other files are left alone. Copy the network's genesis.json into the home \
            before starting the node.
            """
    )

    @Option(name: .long, help: "The home directory to create.")
    var home: String

    @Option(name: .long, help: "The node's name in logs: 1-64 characters of A-Z a-z 0-9 . _ -")
    var moniker = "node"

    @Flag(name: .long, help: "Initialize a home that is not empty, replacing its config and key.")
    var force = false

    @Flag(name: .long, help: "Print one JSON object instead of text.")
    var json = false

    func run() throws {
        var configuration = NodeConfiguration()
        configuration.node.moniker = moniker
        try NodeHome.checkConfiguration(configuration)
        try NodeHome.prepare(home, force: force)
        let key = Ed25519PrivateKey()
        let written = try NodeHome.write(configuration: configuration, key: key, home: home, overwrite: force)
        print(written.render(json: json))
    }
}

/// Writing a node's home: shared by `init` and `testnet`.
enum NodeHome {
    /// Refuses a configuration its own reader would refuse (for example a bad moniker).
    static func checkConfiguration(_ configuration: NodeConfiguration) throws {
        do {
            _ = try NodeConfiguration(parsing: configuration.renderTOML())
        } catch {
            throw CommandFailure("invalid configuration: \(error)")
        }
    }

    /// Creates `path` if needed; refuses a file, and a non-empty directory unless `force`.
    static func prepare(_ path: String, force: Bool) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw CommandFailure("\(path) exists and is not a directory") }
            let contents = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            guard contents.isEmpty || force else {
                throw CommandFailure("\(path) is not empty; choose another directory or give --force")
            }
        }
        try createDirectory(path)
    }

    /// Creates a directory and its parents.
    static func createDirectory(_ path: String, mode: Int = 0o755) throws {
        do {
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: mode])
        } catch {
            throw CommandFailure("cannot create directory \(path)")
        }
    }

    /// Writes `text` to `path`, replacing it atomically.
    static func writeFile(_ bytes: [UInt8], to path: String) throws {
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw CommandFailure("cannot write \(path)")
        }
    }

    /// Writes config.toml, the key file and the data directory of a home that `prepare` accepted.
    static func write(
        configuration: NodeConfiguration, key: Ed25519PrivateKey, home: String, overwrite: Bool
    ) throws -> HomeSummary {
        let keyPath = configuration.keyFilePath(home: home)
        try createDirectory((keyPath as NSString).deletingLastPathComponent, mode: 0o700)
        try createDirectory(configuration.dataDirectoryPath(home: home), mode: 0o700)
        let configPath = NodeConfiguration.resolve(NodeConfiguration.fileName, home: home)
        try writeFile(Array(configuration.renderTOML().utf8), to: configPath)
        try KeyFile.write(key, to: keyPath, overwrite: overwrite)
        return HomeSummary(
            home: home, moniker: configuration.node.moniker, configFile: configPath, keyFile: keyPath,
            dataDir: configuration.dataDirectoryPath(home: home), publicKeyHex: key.publicKey.hex,
            keyID: key.publicKey.keyID)
    }
}

/// What `init` prints about the home it created.
struct HomeSummary: Encodable {
    var home: String
    var moniker: String
    var configFile: String
    var keyFile: String
    var dataDir: String
    var publicKeyHex: String
    var keyID: String

    /// One JSON object on one line, or aligned text lines.
    func render(json: Bool) -> String {
        if json { return OperatorJSON.line(self) }
        return """
            home:        \(home)
            moniker:     \(moniker)
            config:      \(configFile)
            key file:    \(keyFile)
            data dir:    \(dataDir)
            public key:  \(publicKeyHex)
            key id:      \(keyID)
            """
    }
}

/// JSON output of the operator commands.
enum OperatorJSON {
    /// `value` as one line of JSON with sorted keys.
    static func line(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // The summaries hold only strings, integers, booleans and arrays of them, which always encode.
        return String(decoding: try! encoder.encode(value), as: UTF8.self)
    }
}
