internal import CSodium
internal import Foundation

#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// How much work and memory the passphrase key derivation (Argon2id) costs. The cost is stored in the file,
/// so a file written with one cost is read with the same.
public enum PassphraseCost: Sendable {
    /// libsodium's interactive limits (2 passes, 64 MiB): for tests and throwaway keys.
    case interactive
    /// libsodium's moderate limits (3 passes, 256 MiB): the default for operator keys.
    case moderate

    var operations: UInt64 {
        switch self {
        case .interactive: return UInt64(crypto_pwhash_argon2id_opslimit_interactive())
        case .moderate: return UInt64(crypto_pwhash_argon2id_opslimit_moderate())
        }
    }

    var memory: UInt64 {
        switch self {
        case .interactive: return UInt64(crypto_pwhash_argon2id_memlimit_interactive())
        case .moderate: return UInt64(crypto_pwhash_argon2id_memlimit_moderate())
        }
    }
}

/// An Ed25519 private key stored in a file: a small JSON document with a type, a version, the public key and
/// the seed, either in clear (hex) or encrypted under a passphrase (Argon2id, then XSalsa20-Poly1305
/// `crypto_secretbox` with a random nonce).
///
/// Files are created with mode 0600 from the first moment (`O_CREAT | O_EXCL`), never replace an existing file
/// unless asked to, and are refused on reading when their group or others have any permission. On reading, the
/// seed must derive the stated public key.
public struct KeyFile: Sendable, CustomStringConvertible {
    /// The value of the `type` field.
    public static let typeName = "ensure-ed25519-private-key"
    /// The format version this build writes and reads.
    public static let version = 1
    /// Files larger than this are refused before parsing.
    public static let maximumByteCount = 64 * 1024

    static let kdfName = "argon2id13"
    static let cipherName = "xsalsa20poly1305"
    static let saltByteCount = Int(crypto_pwhash_argon2id_saltbytes())
    static let nonceByteCount = Int(crypto_secretbox_noncebytes())
    static let macByteCount = Int(crypto_secretbox_macbytes())

    /// Where the key was read from.
    public let path: String
    /// The private key.
    public let privateKey: Ed25519PrivateKey
    /// Whether the seed was stored encrypted under a passphrase.
    public let isEncrypted: Bool

    /// The public key of ``privateKey``.
    public var publicKey: Ed25519PublicKey { privateKey.publicKey }

    public var description: String {
        "KeyFile(\(path), public: \(publicKey.hex), encrypted: \(isEncrypted))"
    }

    // MARK: - Reading

    /// Reads and checks the key file at `path`. `passphrase` is needed only if the file is encrypted.
    public static func read(from path: String, passphrase: String? = nil) throws(KeyFileError) -> KeyFile {
        let bytes = try readSecureFile(path)
        return try decode(bytes, path: path, passphrase: passphrase)
    }

    /// Parses and checks the bytes of a key file; `path` is only used to name the file in errors.
    public static func decode(_ bytes: [UInt8], path: String, passphrase: String?) throws(KeyFileError) -> KeyFile {
        guard bytes.count <= maximumByteCount else {
            throw .malformed(path: path, reason: "larger than \(maximumByteCount) bytes")
        }
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw .malformed(path: path, reason: describe(error))
        } catch {
            throw .malformed(path: path, reason: "not valid JSON")
        }
        guard document.type == typeName else {
            throw .malformed(path: path, reason: "type is \"\(document.type)\", expected \"\(typeName)\"")
        }
        guard document.version == version else {
            throw .malformed(
                path: path, reason: "unsupported version \(document.version) (this build reads \(version))")
        }
        guard let storedBytes = Hex.decode(document.publicKey), let stored = Ed25519PublicKey(bytes: storedBytes)
        else {
            throw .malformed(path: path, reason: "publicKey must be 64 hexadecimal characters")
        }

        let seed: [UInt8]
        switch (document.seed, document.encryption) {
        case (let seedHex?, nil):
            seed = try decodeHexField(seedHex, name: "seed", count: Ed25519PrivateKey.seedByteCount, path: path)
        case (nil, let encryption?):
            guard let passphrase else { throw .passphraseRequired(path: path) }
            seed = try decrypt(encryption, passphrase: passphrase, path: path)
        case (.some, .some):
            throw .malformed(path: path, reason: "has both a clear seed and an encrypted one")
        case (nil, nil):
            throw .malformed(path: path, reason: "has neither seed nor encryption")
        }

        guard let key = Ed25519PrivateKey(seed: seed) else {
            throw .malformed(path: path, reason: "seed must be \(Ed25519PrivateKey.seedByteCount) bytes")
        }
        guard key.publicKey == stored else {
            throw .publicKeyMismatch(path: path, stored: stored, derived: key.publicKey)
        }
        return KeyFile(path: path, privateKey: key, isEncrypted: document.encryption != nil)
    }

    // MARK: - Writing

    /// Writes `key` to a new file at `path` with mode 0600, encrypted if `passphrase` is given. Refuses an
    /// existing file unless `overwrite` is true, in which case the new file atomically replaces it.
    public static func write(
        _ key: Ed25519PrivateKey, to path: String, passphrase: String? = nil, cost: PassphraseCost = .moderate,
        overwrite: Bool = false
    ) throws(KeyFileError) {
        let bytes = try encode(key, passphrase: passphrase, cost: cost, path: path)
        if overwrite {
            let temporary = path + ".tmp-" + Hex.encode(SecureRandom.bytes(6))
            try createExclusively(temporary, reportedPath: path, contents: bytes)
            guard rename(temporary, path) == 0 else {
                let error = systemError(path: path, operation: "rename")
                unlink(temporary)
                throw error
            }
            syncDirectory(of: path)
        } else {
            try createExclusively(path, reportedPath: path, contents: bytes)
            syncDirectory(of: path)
        }
    }

    /// The bytes of a key file for `key`; `path` is only used to name the file in errors.
    public static func encode(
        _ key: Ed25519PrivateKey, passphrase: String?, cost: PassphraseCost = .moderate, path: String = "<memory>"
    ) throws(KeyFileError) -> [UInt8] {
        var document = Document(type: typeName, version: version, publicKey: key.publicKey.hex)
        if let passphrase {
            document.encryption = try encrypt(key.seed, passphrase: passphrase, cost: cost, path: path)
        } else {
            document.seed = Hex.encode(key.seed)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        guard let data = try? encoder.encode(document) else {
            // Encoding strings and integers cannot fail; report it rather than trap if it ever does.
            throw .malformed(path: path, reason: "could not be encoded")
        }
        return Array(data) + [UInt8(ascii: "\n")]
    }

    // MARK: - Format

    struct Document: Codable {
        var type: String
        var version: Int
        var publicKey: String
        var seed: String?
        var encryption: Encryption?
    }

    struct Encryption: Codable {
        var kdf: String
        var opsLimit: UInt64
        var memLimit: UInt64
        var salt: String
        var cipher: String
        var nonce: String
        var ciphertext: String
    }

    private static func describe(_ error: DecodingError) -> String {
        func field(_ path: [any CodingKey], _ key: (any CodingKey)? = nil) -> String {
            let names = path.map(\.stringValue) + (key.map { [$0.stringValue] } ?? [])
            return names.isEmpty ? "the document" : "field \"" + names.joined(separator: ".") + "\""
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "missing \(field(context.codingPath, key))"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "\(field(context.codingPath)) has the wrong type"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "not valid JSON" : "\(field(context.codingPath)) is invalid"
        @unknown default:
            return "not a valid key file document"
        }
    }

    private static func decodeHexField(
        _ text: String, name: String, count: Int, path: String
    ) throws(KeyFileError) -> [UInt8] {
        guard let bytes = Hex.decode(text) else {
            throw .malformed(path: path, reason: "\(name) is not hexadecimal")
        }
        guard bytes.count == count else {
            throw .malformed(path: path, reason: "\(name) must be \(count) bytes, found \(bytes.count)")
        }
        return bytes
    }

    // MARK: - Passphrase encryption

    private static func encrypt(
        _ seed: [UInt8], passphrase: String, cost: PassphraseCost, path: String
    ) throws(KeyFileError) -> Encryption {
        let salt = SecureRandom.bytes(saltByteCount)
        let nonce = SecureRandom.bytes(nonceByteCount)
        let key = try deriveKey(
            passphrase: passphrase, salt: salt, operations: cost.operations, memory: cost.memory, path: path)
        var ciphertext = [UInt8](repeating: 0, count: seed.count + macByteCount)
        _ = ciphertext.withUnsafeMutableBufferPointer { c in
            seed.withUnsafeBufferPointer { m in
                nonce.withUnsafeBufferPointer { n in
                    key.withUnsafeBufferPointer { k in
                        crypto_secretbox_easy(
                            c.baseAddress!, m.baseAddress!, UInt64(m.count), n.baseAddress!, k.baseAddress!)
                    }
                }
            }
        }
        return Encryption(
            kdf: kdfName, opsLimit: cost.operations, memLimit: cost.memory, salt: Hex.encode(salt),
            cipher: cipherName, nonce: Hex.encode(nonce), ciphertext: Hex.encode(ciphertext))
    }

    private static func decrypt(
        _ encryption: Encryption, passphrase: String, path: String
    ) throws(KeyFileError) -> [UInt8] {
        guard encryption.kdf == kdfName else {
            throw .malformed(path: path, reason: "encryption.kdf is \"\(encryption.kdf)\", expected \"\(kdfName)\"")
        }
        guard encryption.cipher == cipherName else {
            throw .malformed(
                path: path, reason: "encryption.cipher is \"\(encryption.cipher)\", expected \"\(cipherName)\"")
        }
        // Bound the stored cost, so a crafted file cannot make the reader spend unbounded time or memory.
        let opsRange =
            UInt64(crypto_pwhash_argon2id_opslimit_min())...UInt64(crypto_pwhash_argon2id_opslimit_sensitive())
        let memRange =
            UInt64(crypto_pwhash_argon2id_memlimit_min())...UInt64(crypto_pwhash_argon2id_memlimit_sensitive())
        guard opsRange.contains(encryption.opsLimit) else {
            throw .malformed(path: path, reason: "encryption.opsLimit \(encryption.opsLimit) is outside \(opsRange)")
        }
        guard memRange.contains(encryption.memLimit) else {
            throw .malformed(path: path, reason: "encryption.memLimit \(encryption.memLimit) is outside \(memRange)")
        }
        let salt = try decodeHexField(encryption.salt, name: "encryption.salt", count: saltByteCount, path: path)
        let nonce = try decodeHexField(encryption.nonce, name: "encryption.nonce", count: nonceByteCount, path: path)
        let ciphertext = try decodeHexField(
            encryption.ciphertext, name: "encryption.ciphertext",
            count: Ed25519PrivateKey.seedByteCount + macByteCount, path: path)
        let key = try deriveKey(
            passphrase: passphrase, salt: salt, operations: encryption.opsLimit, memory: encryption.memLimit,
            path: path)
        var seed = [UInt8](repeating: 0, count: Ed25519PrivateKey.seedByteCount)
        let status = seed.withUnsafeMutableBufferPointer { m in
            ciphertext.withUnsafeBufferPointer { c in
                nonce.withUnsafeBufferPointer { n in
                    key.withUnsafeBufferPointer { k in
                        crypto_secretbox_open_easy(
                            m.baseAddress!, c.baseAddress!, UInt64(c.count), n.baseAddress!, k.baseAddress!)
                    }
                }
            }
        }
        guard status == 0 else { throw .wrongPassphrase(path: path) }
        return seed
    }

    private static func deriveKey(
        passphrase: String, salt: [UInt8], operations: UInt64, memory: UInt64, path: String
    ) throws(KeyFileError) -> [UInt8] {
        Sodium.ensureInitialized()
        var key = [UInt8](repeating: 0, count: Int(crypto_secretbox_keybytes()))
        let passwordLength = passphrase.utf8.count
        let status = key.withUnsafeMutableBufferPointer { k in
            salt.withUnsafeBufferPointer { s in
                passphrase.withCString { p in
                    crypto_pwhash(
                        k.baseAddress!, UInt64(k.count), p, UInt64(passwordLength), s.baseAddress!, operations,
                        Int(memory), crypto_pwhash_alg_argon2id13())
                }
            }
        }
        guard status == 0 else { throw .keyDerivationFailed(path: path) }
        return key
    }

    // MARK: - Files

    /// Opens, checks (regular file, no group or other permissions, bounded size) and reads the file. The checks
    /// use `fstat` on the open descriptor, so the file checked is the file read.
    private static func readSecureFile(_ path: String) throws(KeyFileError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { throw .notFound(path: path) }
            throw systemError(path: path, operation: "open")
        }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw systemError(path: path, operation: "fstat") }
        guard status.st_mode & S_IFMT == S_IFREG else { throw .notRegularFile(path: path) }
        let permissions = UInt32(status.st_mode) & 0o7777
        guard permissions & 0o077 == 0 else { throw .insecurePermissions(path: path, mode: permissions) }
        guard status.st_size <= maximumByteCount else {
            throw .malformed(path: path, reason: "larger than \(maximumByteCount) bytes")
        }

        var bytes = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress!, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw systemError(path: path, operation: "read")
            }
            if count == 0 { break }
            bytes.append(contentsOf: buffer[0..<count])
            guard bytes.count <= maximumByteCount else {
                throw .malformed(path: path, reason: "larger than \(maximumByteCount) bytes")
            }
        }
        return bytes
    }

    /// Creates `path` with `O_CREAT | O_EXCL` and mode 0600, writes `contents` and syncs it; removes the file
    /// again if anything fails after it was created.
    private static func createExclusively(
        _ path: String, reportedPath: String, contents: [UInt8]
    ) throws(KeyFileError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode_t(0o600))
        guard fd >= 0 else {
            if errno == EEXIST { throw .alreadyExists(path: reportedPath) }
            throw systemError(path: reportedPath, operation: "create")
        }
        var failure: KeyFileError?
        // The umask can only clear bits; fchmod makes the mode exactly 0600 whatever it was.
        if fchmod(fd, mode_t(0o600)) != 0 {
            failure = systemError(path: reportedPath, operation: "fchmod")
        }
        var offset = 0
        while failure == nil, offset < contents.count {
            let written = contents.withUnsafeBytes { raw in
                Foundation.write(fd, raw.baseAddress! + offset, raw.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                failure = systemError(path: reportedPath, operation: "write")
            } else {
                offset += written
            }
        }
        if failure == nil, fsync(fd) != 0 {
            failure = systemError(path: reportedPath, operation: "fsync")
        }
        if close(fd) != 0, failure == nil {
            failure = systemError(path: reportedPath, operation: "close")
        }
        if let failure {
            unlink(path)
            throw failure
        }
    }

    /// Makes the new directory entry durable; best effort, because the key is already written and synced.
    private static func syncDirectory(of path: String) {
        let directory = (path as NSString).deletingLastPathComponent
        let fd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    private static func systemError(path: String, operation: String) -> KeyFileError {
        let code = errno
        return .io(path: path, operation: operation, errno: code, message: String(cString: strerror(code)))
    }
}
