import EnsureCrypto
import Foundation
import Testing

/// A fresh directory under the system temporary directory, removed when the test ends.
struct ScratchDirectory: ~Copyable {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("ensure-keyfile-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// The permission bits of the file at `path`.
func permissions(of path: String) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    return try #require(attributes[.posixPermissions] as? Int) & 0o7777
}

/// Writes `text` to `path` with the given mode, bypassing ``KeyFile`` (to build malformed or hostile files).
func writeRaw(_ text: String, to path: String, mode: Int = 0o600) throws {
    try? FileManager.default.removeItem(atPath: path)
    #expect(FileManager.default.createFile(atPath: path, contents: Data(text.utf8)))
    try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
}

@Suite("Key files")
struct KeyFileTests {
    @Test("a clear key file round-trips and is written with mode 0600")
    func clearRoundTrip() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.file("node.key")
        let key = Ed25519PrivateKey()
        try KeyFile.write(key, to: path)
        #expect(try permissions(of: path) == 0o600)
        let loaded = try KeyFile.read(from: path)
        #expect(loaded.publicKey == key.publicKey)
        #expect(loaded.privateKey.seed == key.seed)
        #expect(!loaded.isEncrypted)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains("\"type\" : \"ensure-ed25519-private-key\""))
        #expect(text.contains("\"version\" : 1"))
    }

    @Test("an encrypted key file round-trips, and the seed is not in the file")
    func encryptedRoundTrip() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.file("node.key")
        let key = Ed25519PrivateKey()
        try KeyFile.write(key, to: path, passphrase: "correct horse", cost: .interactive)
        #expect(try permissions(of: path) == 0o600)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(!text.contains(Hex.encode(key.seed)))
        #expect(text.contains("argon2id13"))
        let loaded = try KeyFile.read(from: path, passphrase: "correct horse")
        #expect(loaded.privateKey.seed == key.seed)
        #expect(loaded.isEncrypted)
    }

    @Test("the default (moderate) cost is stored and read back")
    func moderateCost() throws {
        let key = Ed25519PrivateKey()
        let bytes = try KeyFile.encode(key, passphrase: "pass")
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains("\"memLimit\" : 268435456"))
        #expect(text.contains("\"opsLimit\" : 3"))
        #expect(try KeyFile.decode(bytes, path: "m.key", passphrase: "pass").publicKey == key.publicKey)
    }

    @Test("two encryptions of one key use different salts and nonces")
    func freshSaltAndNonce() throws {
        let key = Ed25519PrivateKey()
        let first = try KeyFile.encode(key, passphrase: "p", cost: .interactive)
        let second = try KeyFile.encode(key, passphrase: "p", cost: .interactive)
        #expect(first != second)
    }

    @Test(
        "a file readable by group or others is refused with its path, mode and the chmod fix",
        arguments: [0o644, 0o640, 0o604, 0o660, 0o606])
    func insecureModes(mode: Int) throws {
        let scratch = try ScratchDirectory()
        let path = scratch.file("node.key")
        try KeyFile.write(Ed25519PrivateKey(), to: path)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        #expect(throws: KeyFileError.insecurePermissions(path: path, mode: UInt32(mode))) {
            try KeyFile.read(from: path)
        }
        let message = KeyFileError.insecurePermissions(path: path, mode: UInt32(mode)).description
        #expect(message.contains(path))
        #expect(message.contains("0" + String(mode, radix: 8)))
        #expect(message.contains("chmod 600 \(path)"))
    }

    @Test("a wrong passphrase is refused")
    func wrongPassphrase() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.file("node.key")
        try KeyFile.write(Ed25519PrivateKey(), to: path, passphrase: "right", cost: .interactive)
        #expect(throws: KeyFileError.wrongPassphrase(path: path)) { try KeyFile.read(from: path, passphrase: "wrong") }
    }

    @Test("an encrypted file without a passphrase is refused")
    func passphraseRequired() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.file("node.key")
        try KeyFile.write(Ed25519PrivateKey(), to: path, passphrase: "right", cost: .interactive)
        #expect(throws: KeyFileError.passphraseRequired(path: path)) { try KeyFile.read(from: path) }
    }

    @Test("an altered ciphertext is refused like a wrong passphrase")
    func alteredCiphertext() throws {
        let key = Ed25519PrivateKey()
        let text = String(decoding: try KeyFile.encode(key, passphrase: "p", cost: .interactive), as: UTF8.self)
        let range = try #require(text.range(of: "\"ciphertext\" : \""))
        var altered = text
        let first = altered.index(range.upperBound, offsetBy: 0)
        altered.replaceSubrange(first...first, with: text[first] == "0" ? "1" : "0")
        #expect(throws: KeyFileError.wrongPassphrase(path: "k")) {
            try KeyFile.decode(Array(altered.utf8), path: "k", passphrase: "p")
        }
    }

    @Test("corrupted JSON is refused as malformed", arguments: ["", "{", "not json", "[]", "{\"type\": 5}"])
    func corruptedJSON(text: String) throws {
        let scratch = try ScratchDirectory()
        let path = scratch.file("node.key")
        try writeRaw(text, to: path)
        #expect {
            try KeyFile.read(from: path)
        } throws: { error in
            guard case .malformed(let at, _)? = error as? KeyFileError else { return false }
            return at == path
        }
    }

    @Test("a truncated file is refused as malformed")
    func truncatedFile() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.file("node.key")
        let bytes = try KeyFile.encode(Ed25519PrivateKey(), passphrase: nil)
        try writeRaw(String(decoding: bytes.prefix(bytes.count / 2), as: UTF8.self), to: path)
        #expect(throws: KeyFileError.malformed(path: path, reason: "not valid JSON")) { try KeyFile.read(from: path) }
    }

    static func document(publicKey: String, seed: String, type: String = KeyFile.typeName, version: Int = 1) -> String {
        #"{"type":"\#(type)","version":\#(version),"publicKey":"\#(publicKey)","seed":"\#(seed)"}"#
    }

    @Test("a truncated seed is refused, naming the seed")
    func truncatedSeed() throws {
        let key = Ed25519PrivateKey()
        let text = Self.document(publicKey: key.publicKey.hex, seed: String(Hex.encode(key.seed).dropLast(2)))
        #expect(throws: KeyFileError.malformed(path: "k", reason: "seed must be 32 bytes, found 31")) {
            try KeyFile.decode(Array(text.utf8), path: "k", passphrase: nil)
        }
    }

    @Test("a seed that is not hexadecimal is refused")
    func nonHexSeed() throws {
        let key = Ed25519PrivateKey()
        let text = Self.document(publicKey: key.publicKey.hex, seed: "zz" + Hex.encode(key.seed).dropFirst(2))
        #expect(throws: KeyFileError.malformed(path: "k", reason: "seed is not hexadecimal")) {
            try KeyFile.decode(Array(text.utf8), path: "k", passphrase: nil)
        }
    }

    @Test("a public key the seed does not derive is refused")
    func mismatchedPublicKey() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.file("node.key")
        let key = Ed25519PrivateKey()
        let other = Ed25519PrivateKey().publicKey
        try writeRaw(Self.document(publicKey: other.hex, seed: Hex.encode(key.seed)), to: path)
        #expect(throws: KeyFileError.publicKeyMismatch(path: path, stored: other, derived: key.publicKey)) {
            try KeyFile.read(from: path)
        }
    }

    @Test("a wrong type or an unknown version is refused")
    func wrongTypeOrVersion() throws {
        let key = Ed25519PrivateKey()
        let wrongType = Self.document(publicKey: key.publicKey.hex, seed: Hex.encode(key.seed), type: "ssh-ed25519")
        let wrongVersion = Self.document(publicKey: key.publicKey.hex, seed: Hex.encode(key.seed), version: 2)
        for text in [wrongType, wrongVersion] {
            #expect(throws: KeyFileError.self) { try KeyFile.decode(Array(text.utf8), path: "k", passphrase: nil) }
        }
        #expect(throws: KeyFileError.malformed(path: "k", reason: "unsupported version 2 (this build reads 1)")) {
            try KeyFile.decode(Array(wrongVersion.utf8), path: "k", passphrase: nil)
        }
    }

    @Test("a stored key-derivation cost above libsodium's sensitive limit is refused before deriving")
    func hostileCost() throws {
        let key = Ed25519PrivateKey()
        let text = String(decoding: try KeyFile.encode(key, passphrase: "p", cost: .interactive), as: UTF8.self)
        let hostile = text.replacingOccurrences(of: "\"memLimit\" : 67108864", with: "\"memLimit\" : 1099511627776")
        #expect(hostile != text)
        #expect {
            try KeyFile.decode(Array(hostile.utf8), path: "k", passphrase: "p")
        } throws: { error in
            guard case .malformed(_, let reason)? = error as? KeyFileError else { return false }
            return reason.contains("memLimit")
        }
    }

    @Test("an existing file is not overwritten unless asked, and keeps its key")
    func noOverwrite() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.file("node.key")
        let first = Ed25519PrivateKey()
        try KeyFile.write(first, to: path)
        #expect(throws: KeyFileError.alreadyExists(path: path)) { try KeyFile.write(Ed25519PrivateKey(), to: path) }
        #expect(try KeyFile.read(from: path).publicKey == first.publicKey)

        let second = Ed25519PrivateKey()
        try KeyFile.write(second, to: path, overwrite: true)
        #expect(try KeyFile.read(from: path).publicKey == second.publicKey)
        #expect(try permissions(of: path) == 0o600)
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == ["node.key"])
    }

    @Test("a missing file, a directory and an unwritable place are reported by path")
    func missingAndIrregular() throws {
        let scratch = try ScratchDirectory()
        let missing = scratch.file("missing.key")
        #expect(throws: KeyFileError.notFound(path: missing)) { try KeyFile.read(from: missing) }
        #expect(throws: KeyFileError.notRegularFile(path: scratch.path)) { try KeyFile.read(from: scratch.path) }
        let nowhere = scratch.file("no/such/dir/node.key")
        #expect {
            try KeyFile.write(Ed25519PrivateKey(), to: nowhere)
        } throws: { error in
            guard case .io(let path, let operation, let code, let message)? = error as? KeyFileError else {
                return false
            }
            return path == nowhere && operation == "create" && code == ENOENT && !message.isEmpty
        }
    }

    @Test("no description or error shows the seed")
    func noSecretsInDescriptions() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.file("node.key")
        let key = Ed25519PrivateKey()
        try KeyFile.write(key, to: path)
        let loaded = try KeyFile.read(from: path)
        let seedHex = Hex.encode(key.seed)
        #expect(!loaded.description.contains(seedHex))
        #expect(!String(reflecting: loaded).contains(seedHex))
        let other = Ed25519PrivateKey().publicKey
        try writeRaw(Self.document(publicKey: other.hex, seed: seedHex), to: path)
        #expect {
            try KeyFile.read(from: path)
        } throws: { error in
            !String(describing: error).contains(seedHex) && !String(reflecting: error).contains(seedHex)
        }
    }
}
