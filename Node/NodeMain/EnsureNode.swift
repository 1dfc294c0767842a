import ArgumentParser
import Daemon
import Foundation
import Logging

/// `ensure-node --home DIR`: runs one Ensure node until SIGTERM or SIGINT.
@main
struct EnsureNode: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ensure-node",
        abstract: "Run an Ensure node from a home directory made by `ensure init` or `ensure testnet`.",
        discussion: """
            Reads HOME/config.toml, the genesis file and the node key it names, opens the data directory, joins \
            the peers and serves the HTTP API. Logs one logfmt line per event to standard error. SIGTERM or \
            SIGINT stops it cleanly (exit 0); a configuration that does not hold stops it at once with a \
            one-line reason (exit 1).
            """
    )

    @Option(name: .long, help: "The node's home directory.")
    var home: String

    @Option(name: .long, help: "Override the configured log level (trace, debug, info, notice, warning, error).")
    var logLevel: String?

    @Option(
        name: .long,
        help: "Read the passphrase of an encrypted node key from this environment variable.")
    var passphraseEnv: String?

    @Flag(
        name: .long,
        help: """
            The node's key joins by governance: genesis does not name it, and peers accept it once the members \
            voted it in as a validator.
            """)
    var join = false

    func run() async throws {
        var passphrase: String?
        if let name = passphraseEnv {
            guard let value = ProcessInfo.processInfo.environment[name] else {
                throw ValidationError("environment variable \(name) is not set")
            }
            passphrase = value
        }
        let setup: NodeSetup
        do {
            setup = try NodeSetup.load(home: home, passphrase: passphrase, joining: join)
        } catch {
            FileHandle.standardError.write(Data("ensure-node: \(error)\n".utf8))
            throw ExitCode(1)
        }
        var level = setup.logLevel
        if let logLevel {
            guard let parsed = Logger.Level(rawValue: logLevel) else {
                throw ValidationError("unknown log level \(logLevel)")
            }
            level = parsed
        }
        let chosen = level
        LoggingSystem.bootstrap { label in LogfmtHandler(label: label, level: chosen) }
        let logger = Logger(label: "ensure.node")
        do {
            try await NodeRuntime(setup: setup, logger: logger).run()
        } catch {
            logger.critical("node stopped with an error", metadata: ["reason": "\(error)"])
            throw ExitCode(1)
        }
    }
}
