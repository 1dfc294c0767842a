#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Why a wallet, key or status list file could not be read or written.
public struct CredentialFileError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file.
    public let path: String
    /// What went wrong.
    public let reason: String

    /// Names the file and the problem.
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(path): \(reason)" }
}

/// Files that hold private material (wallets with holder keys, issuer keys): written with mode 0600 from the
/// moment they exist, replaced atomically (write a temporary file, fsync, rename), never logged.
public enum PrivateFile {
    /// Writes `bytes` to `path` with mode 0600, replacing any existing file atomically.
    public static func write(_ bytes: [UInt8], to path: String) throws(CredentialFileError) {
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode_t(0o600))
        guard fd >= 0 else { throw CredentialFileError(path: path, reason: "cannot create: \(errnoText())") }
        var ok = fchmod(fd, mode_t(0o600)) == 0
        var offset = 0
        while ok, offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { posixWrite(fd, $0.baseAddress, $0.count) }
            if written <= 0 { ok = false } else { offset += written }
        }
        ok = ok && fsync(fd) == 0
        close(fd)
        guard ok, rename(temporary, path) == 0 else {
            let reason = errnoText()
            unlink(temporary)
            throw CredentialFileError(path: path, reason: "cannot write: \(reason)")
        }
    }

    /// Reads a whole file of at most `maxBytes`.
    public static func read(_ path: String, maxBytes: Int = 64 << 20) throws(CredentialFileError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CredentialFileError(path: path, reason: "cannot open: \(errnoText())") }
        defer { close(fd) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { posixRead(fd, $0.baseAddress, $0.count) }
            if count < 0 { throw CredentialFileError(path: path, reason: "cannot read: \(errnoText())") }
            if count == 0 { return out }
            out.append(contentsOf: buffer[0..<count])
            if out.count > maxBytes { throw CredentialFileError(path: path, reason: "larger than \(maxBytes) bytes") }
        }
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }
}

/// `write(2)`, named apart from ``PrivateFile/write(_:to:)``.
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int { write(fd, buffer, count) }

/// `read(2)`, named apart from ``PrivateFile/read(_:maxBytes:)``.
private func posixRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int { read(fd, buffer, count) }
