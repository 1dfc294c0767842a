import ArgumentParser
import EnsureCrypto
import Foundation
import Ledger

/// `ensure genesis`: build, validate and write a network's genesis.json.
struct GenesisCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "genesis",
        abstract: "Build and validate a genesis.json from organizations, validators and observers.",
        discussion: """
            Organizations are NAME=ADMIN_KEY_HEX, or NAME=ADMIN_KEY_HEX,X25519_KEY_HEX to receive sealed incident \
            details. Validators are ORGANIZATION=NODE_KEY_HEX. Parameters take their documented defaults.
            """
    )

    @Option(name: .long, help: "The chain id: 1-64 characters of a-z 0-9 . _ -")
    var chainId: String

    @Option(name: .customLong("org"), help: "A member organization: NAME=ADMIN_KEY_HEX[,X25519_KEY_HEX].")
    var organizations: [String] = []

    @Option(name: .customLong("validator"), help: "A validator: ORGANIZATION=NODE_KEY_HEX.")
    var validators: [String] = []

    @Option(name: .customLong("observer"), help: "An observer's node key in hex.")
    var observers: [String] = []

    @Option(name: .long, help: "Genesis time in milliseconds since 1970 (default: now).")
    var genesisTimeMs: UInt64?

    @Option(name: .long, help: "The file to write.")
    var out: String

    @Flag(name: .long, help: "Replace an existing file at --out.")
    var force = false

    @Flag(name: .long, help: "Print one JSON object instead of text.")
    var json = false

    func run() throws {
        var parsedOrganizations: [GenesisOrganization] = []
        for text in organizations {
            let (name, value) = try Self.split(text, option: "--org", form: "NAME=ADMIN_KEY_HEX[,X25519_KEY_HEX]")
            let keys = value.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard keys.count <= 2, let admin = Self.ed25519(keys[0]) else {
                throw CommandFailure("--org \(text): the admin key must be 64 lower-case hexadecimal characters")
            }
            var incident: X25519PublicKey?
            if keys.count == 2 {
                guard keys[1].count == 64, keys[1] == keys[1].lowercased(),
                    let bytes = Hex.decode(keys[1]), let key = X25519PublicKey(bytes: bytes)
                else {
                    throw CommandFailure("--org \(text): the X25519 key must be 64 lower-case hexadecimal characters")
                }
                incident = key
            }
            parsedOrganizations.append(GenesisOrganization(name: name, adminKey: admin, incidentKey: incident))
        }
        var parsedValidators: [GenesisValidator] = []
        for text in validators {
            let (name, value) = try Self.split(text, option: "--validator", form: "ORGANIZATION=NODE_KEY_HEX")
            guard let key = Self.ed25519(value) else {
                throw CommandFailure("--validator \(text): the node key must be 64 lower-case hexadecimal characters")
            }
            parsedValidators.append(GenesisValidator(organization: name, nodeKey: key))
        }
        var parsedObservers: [Ed25519PublicKey] = []
        for text in observers {
            guard let key = Self.ed25519(text) else {
                throw CommandFailure("--observer \(text): must be 64 lower-case hexadecimal characters")
            }
            parsedObservers.append(key)
        }
        let time = genesisTimeMs ?? UInt64(Date().timeIntervalSince1970 * 1000)
        let genesis = Genesis(
            chainID: chainId, genesisTime: time, organizations: parsedOrganizations, validators: parsedValidators,
            observers: parsedObservers)
        do {
            try genesis.validate()
        } catch {
            throw CommandFailure("genesis refused: \(error)")
        }
        if !force && FileManager.default.fileExists(atPath: out) {
            throw CommandFailure("\(out) already exists; give --force to replace it")
        }
        try NodeHome.writeFile(Array(genesis.jsonText().utf8), to: out)
        print(GenesisSummary(genesis: genesis, file: out).render(json: json))
    }

    /// Splits `NAME=VALUE`.
    static func split(_ text: String, option: String, form: String) throws -> (String, String) {
        guard let equals = text.firstIndex(of: "=") else {
            throw CommandFailure("\(option) \(text): expected \(form)")
        }
        return (String(text[..<equals]), String(text[text.index(after: equals)...]))
    }

    /// A public key from exactly 64 lower-case hex digits.
    static func ed25519(_ text: String) -> Ed25519PublicKey? {
        guard text.count == 64, text == text.lowercased() else { return nil }
        return Ed25519PublicKey(hex: text)
    }
}

/// What `genesis` and `testnet` print about a genesis.
struct GenesisSummary: Encodable {
    var genesisFile: String
    var chainID: String
    var genesisHash: String
    var genesisTimeMs: UInt64
    var organizations: Int
    var validators: Int
    var observers: Int

    init(genesis: Genesis, file: String) {
        genesisFile = file
        chainID = genesis.chainID
        genesisHash = genesis.hash.hex
        genesisTimeMs = genesis.genesisTime
        organizations = genesis.organizations.count
        validators = genesis.validators.count
        observers = genesis.observers.count
    }

    /// One JSON object on one line, or aligned text lines.
    func render(json: Bool) -> String {
        if json { return OperatorJSON.line(self) }
        return """
            genesis file:   \(genesisFile)
            chain id:       \(chainID)
            genesis hash:   \(genesisHash)
            organizations:  \(organizations)
            validators:     \(validators)
            observers:      \(observers)
            """
    }
}
