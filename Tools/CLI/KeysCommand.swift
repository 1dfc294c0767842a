import ArgumentParser
import EnsureCrypto
import Foundation

/// `ensure keys`: create and inspect Ed25519 key files.
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Create and inspect Ed25519 key files.",
        subcommands: [Generate.self, Show.self]
    )

    /// `ensure keys generate`: a new key in a new file with mode 0600.
    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate a new Ed25519 key and write it to a key file (mode 0600).",
            discussion: """
                The seed is encrypted (Argon2id, then XSalsa20-Poly1305) when a passphrase is given, from \
                --passphrase-file or the \(PassphraseSource.environmentVariable) environment variable; \
                otherwise it is stored in clear. Passphrases are never accepted as arguments.
                """
        )

        @Option(name: .long, help: "The key file to create.")
        var out: String

        @OptionGroup var passphrase: PassphraseSource

        @Flag(name: .long, help: "Replace an existing file at --out.")
        var force = false

        @Flag(name: .long, help: "Print one JSON object instead of text.")
        var json = false

        func run() throws {
            let secret = try passphrase.read()
            let key = Ed25519PrivateKey()
            try KeyFile.write(key, to: out, passphrase: secret, overwrite: force)
            print(KeySummary(path: out, publicKey: key.publicKey, encrypted: secret != nil).render(json: json))
        }
    }

    /// `ensure keys show`: the public key and key id of a key file, after checking the file.
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a key file and print its public key (hex and Base64) and key id."
        )

        @Argument(help: "The key file to read.")
        var file: String

        @OptionGroup var passphrase: PassphraseSource

        @Flag(name: .long, help: "Print one JSON object instead of text.")
        var json = false

        func run() throws {
            let secret = try passphrase.read()
            let keyFile: KeyFile
            do {
                keyFile = try KeyFile.read(from: file, passphrase: secret)
            } catch .passphraseRequired(let path) {
                throw CommandFailure(
                    "key file \(path) is encrypted; give its passphrase with --passphrase-file FILE or the "
                        + "\(PassphraseSource.environmentVariable) environment variable")
            }
            let summary = KeySummary(path: file, publicKey: keyFile.publicKey, encrypted: keyFile.isEncrypted)
            print(summary.render(json: json))
        }
    }
}

/// Where a passphrase comes from: a file named on the command line, or the environment. Never an argument,
/// because arguments are visible to every user of the machine in the process list.
struct PassphraseSource: ParsableArguments {
    /// The environment variable read when no file is given.
    static let environmentVariable = "ENSURE_PASSPHRASE"

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Read the passphrase from this file (one trailing newline is ignored).",
            discussion: "Without it, the ENSURE_PASSPHRASE environment variable is used if set.",
            valueName: "file"))
    var passphraseFile: String?

    /// The passphrase, or nil if none was given; an empty passphrase is refused.
    func read() throws -> String? {
        let passphrase: String
        let origin: String
        if let passphraseFile {
            let data: Data
            do {
                data = try Data(contentsOf: URL(fileURLWithPath: passphraseFile))
            } catch {
                throw CommandFailure("cannot read passphrase file \(passphraseFile)")
            }
            guard var text = String(data: data, encoding: .utf8) else {
                throw CommandFailure("passphrase file \(passphraseFile) is not UTF-8 text")
            }
            if text.hasSuffix("\r\n") {
                text.removeLast(1)  // "\r\n" is one Character in Swift.
            } else if text.hasSuffix("\n") {
                text.removeLast()
            }
            passphrase = text
            origin = "passphrase file \(passphraseFile)"
        } else if let value = ProcessInfo.processInfo.environment[Self.environmentVariable] {
            passphrase = value
            origin = "\(Self.environmentVariable)"
        } else {
            return nil
        }
        guard !passphrase.isEmpty else { throw CommandFailure("\(origin) holds an empty passphrase") }
        return passphrase
    }
}

/// What `generate` and `show` print about a key.
struct KeySummary: Encodable {
    var keyFile: String
    var publicKeyHex: String
    var publicKeyBase64: String
    var keyID: String
    var encrypted: Bool

    init(path: String, publicKey: Ed25519PublicKey, encrypted: Bool) {
        self.keyFile = path
        self.publicKeyHex = publicKey.hex
        self.publicKeyBase64 = Base64.encode(publicKey.bytes)
        self.keyID = publicKey.keyID
        self.encrypted = encrypted
    }

    /// One JSON object on one line, or aligned text lines.
    func render(json: Bool) -> String {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            // Strings and booleans always encode.
            return String(decoding: try! encoder.encode(self), as: UTF8.self)
        }
        return """
            key file:    \(keyFile)
            public key:  \(publicKeyHex)
            base64:      \(publicKeyBase64)
            key id:      \(keyID)
            encrypted:   \(encrypted ? "yes" : "no")
            """
    }
}

/// A failure the command reports on one line of standard error before exiting with a non-zero status.
struct CommandFailure: Error, CustomStringConvertible {
    /// What went wrong and, where possible, what to do.
    var description: String

    init(_ description: String) {
        self.description = description
    }
}
