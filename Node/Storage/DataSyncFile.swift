#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// Why a ``DataSyncFile`` operation failed; names the file and the system's reason.
public struct DataSyncFileError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file.
    public let path: String
    /// What was being done: `open`, `write` or `fdatasync`.
    public let operation: String
    /// The system's explanation (strerror of errno).
    public let reason: String

    public var description: String { "\(operation) of \(path) failed: \(reason)" }
}

/// A plain file that is only appended to, with a data sync after each record if asked: the cheapest durable
/// write this disk offers. The storage benchmark measures it beside LevelDB's synced batches, as their bound.
///
/// Not `Sendable`: one owner appends, and the descriptor is closed in `deinit`.
public final class DataSyncFile {
    /// The file's path.
    public let path: String
    private let descriptor: Int32

    /// Creates (or truncates) the file at `path` for appending.
    public init(path: String) throws(DataSyncFileError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0o644)
        guard descriptor >= 0 else { throw Self.failure(path, "open") }
        self.path = path
        self.descriptor = descriptor
    }

    deinit {
        close(descriptor)
    }

    /// Appends `bytes` (to the page cache; call ``syncData()`` to make them durable).
    public func append(_ bytes: [UInt8]) throws(DataSyncFileError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in
                write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw Self.failure(path, "write")
            }
            offset += written
        }
    }

    /// Returns once every appended byte is on stable storage (fdatasync; fsync where that does not exist).
    public func syncData() throws(DataSyncFileError) {
        #if canImport(Glibc)
            let result = fdatasync(descriptor)
        #else
            let result = fsync(descriptor)
        #endif
        guard result == 0 else { throw Self.failure(path, "fdatasync") }
    }

    private static func failure(_ path: String, _ operation: String) -> DataSyncFileError {
        DataSyncFileError(path: path, operation: operation, reason: String(cString: strerror(errno)))
    }
}
