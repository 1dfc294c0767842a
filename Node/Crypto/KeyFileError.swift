/// Why a key file could not be read or written. Every case names the file; none carries key material, so the
/// error can be logged or shown as it is.
public enum KeyFileError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No file at the path.
    case notFound(path: String)
    /// The path names something other than a regular file (a directory, a device, a socket).
    case notRegularFile(path: String)
    /// The file grants permissions to its group or to others; `mode` holds its permission bits.
    case insecurePermissions(path: String, mode: UInt32)
    /// The file is not a valid Ensure key file; `reason` says which field or which rule.
    case malformed(path: String, reason: String)
    /// The file is encrypted and no passphrase was given.
    case passphraseRequired(path: String)
    /// The passphrase did not decrypt the seed (or the encrypted seed was altered).
    case wrongPassphrase(path: String)
    /// The passphrase key derivation could not run (libsodium refused the limits or ran out of memory).
    case keyDerivationFailed(path: String)
    /// The seed derives a public key other than the one the file states.
    case publicKeyMismatch(path: String, stored: Ed25519PublicKey, derived: Ed25519PublicKey)
    /// A file already exists at the path and overwriting was not asked for.
    case alreadyExists(path: String)
    /// A system call failed; `operation` names it and `message` is the text of `errno`.
    case io(path: String, operation: String, errno: Int32, message: String)

    /// The file the error is about.
    public var path: String {
        switch self {
        case .notFound(let path), .notRegularFile(let path), .insecurePermissions(let path, _),
            .malformed(let path, _), .passphraseRequired(let path), .wrongPassphrase(let path),
            .keyDerivationFailed(let path), .publicKeyMismatch(let path, _, _), .alreadyExists(let path),
            .io(let path, _, _, _):
            return path
        }
    }

    public var description: String {
        switch self {
        case .notFound(let path):
            return "key file \(path) does not exist"
        case .notRegularFile(let path):
            return "key file \(path) is not a regular file"
        case .insecurePermissions(let path, let mode):
            let octal = String(mode & 0o7777, radix: 8)
            let padded = String(repeating: "0", count: max(0, 4 - octal.count)) + octal
            return "key file \(path) has mode \(padded) and is accessible by group or others; "
                + "restrict it with: chmod 600 \(path)"
        case .malformed(let path, let reason):
            return "key file \(path) is malformed: \(reason)"
        case .passphraseRequired(let path):
            return "key file \(path) is encrypted and no passphrase was given"
        case .wrongPassphrase(let path):
            return "wrong passphrase for key file \(path) (or its encrypted seed was altered)"
        case .keyDerivationFailed(let path):
            return "key file \(path): the passphrase key derivation failed (out of memory?)"
        case .publicKeyMismatch(let path, let stored, let derived):
            return "key file \(path) states public key \(stored.hex) but its seed derives \(derived.hex)"
        case .alreadyExists(let path):
            return "key file \(path) already exists; refusing to overwrite it"
        case .io(let path, let operation, let errno, let message):
            return "key file \(path): \(operation) failed: \(message) (errno \(errno))"
        }
    }
}
