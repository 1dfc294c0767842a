/// Why LevelDB refused an operation, phrased for the operator who has to act on it. Every case names the
/// database directory; `detail` keeps LevelDB's own message for diagnosis.
public enum LevelDBError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Another open handle holds the database's `LOCK` file: a second process (most likely a running
    /// `ensure-node`) or a second open in this process.
    case locked(path: String, detail: String)
    /// A file of the database failed a checksum or could not be parsed.
    case corruption(path: String, detail: String)
    /// There is no database at the path and ``LevelDBOptions/createIfMissing`` was off.
    case missing(path: String)
    /// A database already exists at the path and ``LevelDBOptions/errorIfExists`` was on.
    case alreadyExists(path: String)
    /// The file system failed: disk full, permissions, a file that vanished.
    case io(path: String, detail: String)
    /// An option is outside the range this wrapper accepts; nothing was opened.
    case invalidOption(name: String, value: Int, reason: String)
    /// Any other status LevelDB reported (invalid argument, not supported).
    case other(path: String, detail: String)

    /// Classifies a LevelDB status message (`"IO error: lock …"`, `"Corruption: …"`, …) for `path`.
    static func classify(_ message: String, path: String) -> LevelDBError {
        if message.hasPrefix("IO error: lock ") || message.contains("/LOCK: already held") {
            return .locked(path: path, detail: message)
        }
        if message.hasPrefix("Corruption: ") {
            return .corruption(path: path, detail: message)
        }
        if message.hasPrefix("Invalid argument: ") && message.contains("does not exist (create_if_missing is false)") {
            return .missing(path: path)
        }
        if message.hasPrefix("Invalid argument: ") && message.contains("exists (error_if_exists is true)") {
            return .alreadyExists(path: path)
        }
        if message.hasPrefix("IO error: ") {
            return .io(path: path, detail: message)
        }
        return .other(path: path, detail: message)
    }

    public var description: String {
        switch self {
        case .locked(let path, let detail) where detail.hasSuffix("already held by process"):
            return "the database at \(path) is already open in this process; open it once and share the handle "
                + "(LevelDB: \(detail))"
        case .locked(let path, let detail):
            return "the database at \(path) is already open in another process, probably a running ensure-node "
                + "using this data directory; stop that process or choose another data directory "
                + "(LevelDB: \(detail))"
        case .corruption(let path, let detail):
            return "the database at \(path) is corrupted (LevelDB: \(detail)); do not start a node on it: keep a "
                + "copy for diagnosis, then restore the data directory from a backup or remove it and let the "
                + "node resynchronise from its peers"
        case .missing(let path):
            return "there is no database at \(path) and creating one was not requested; check the data directory "
                + "path, or initialise the node's data directory first"
        case .alreadyExists(let path):
            return "a database already exists at \(path) and opening was asked to refuse an existing one; choose "
                + "an empty directory or move the old one away"
        case .io(let path, let detail):
            return "I/O error on the database at \(path): \(detail); check free disk space, permissions and the "
                + "file system"
        case .invalidOption(let name, let value, let reason):
            return "LevelDB option \(name) = \(value) is not accepted: \(reason)"
        case .other(let path, let detail):
            return "LevelDB refused an operation on \(path): \(detail)"
        }
    }
}
