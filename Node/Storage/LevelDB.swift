internal import CLevelDB
import Foundation

/// How to open a ``LevelDB`` database. The defaults suit a node's data directory.
public struct LevelDBOptions: Sendable, Hashable {
    /// Create the database when the directory holds none (otherwise ``LevelDBError/missing(path:)``).
    public var createIfMissing: Bool
    /// Refuse to open a database that already exists (``LevelDBError/alreadyExists(path:)``).
    public var errorIfExists: Bool
    /// Check every file aggressively and verify block checksums on every read, so that damage surfaces as
    /// ``LevelDBError/corruption(path:detail:)`` instead of silently wrong data.
    public var paranoidChecks: Bool
    /// Size of the LRU cache of uncompressed blocks; 0 keeps LevelDB's built-in 8 MiB cache.
    public var blockCacheBytes: Int
    /// Size of the in-memory table before it is written to a sorted file (64 KiB to 1 GiB).
    public var writeBufferBytes: Int
    /// Bits per key of the Bloom filter that lets point reads skip files; 0 disables the filter.
    public var bloomFilterBitsPerKey: Int
    /// Snappy-compress table blocks. Off by default: a node's values are mostly digests, keys and signatures,
    /// which do not compress, and compressing every block on each flush and compaction cost about 3 % of a loaded
    /// node's CPU (docs/performance.md). Databases written either way read back either way.
    public var compress: Bool
    /// The nice value (0-19) of the thread on which LevelDB writes the in-memory table out and compacts files;
    /// 0 leaves it as it comes. Above 0, that work waits while the process's other threads want the cores, so a
    /// compaction (about a second of one core, every few seconds under load) delays no consensus message. LevelDB
    /// runs that work for every database of the process on one thread, started when some database first needs it:
    /// a database opened with this option starts it then, from a thread of this nice value, which it inherits. When
    /// an earlier database started it, it stays as it was.
    public var backgroundThreadNice: Int32

    /// Options with the given values; see each property.
    public init(
        createIfMissing: Bool = true, errorIfExists: Bool = false, paranoidChecks: Bool = true,
        blockCacheBytes: Int = 8 << 20, writeBufferBytes: Int = 4 << 20, bloomFilterBitsPerKey: Int = 10,
        compress: Bool = false, backgroundThreadNice: Int32 = 0
    ) {
        self.backgroundThreadNice = backgroundThreadNice
        self.compress = compress
        self.createIfMissing = createIfMissing
        self.errorIfExists = errorIfExists
        self.paranoidChecks = paranoidChecks
        self.blockCacheBytes = blockCacheBytes
        self.writeBufferBytes = writeBufferBytes
        self.bloomFilterBitsPerKey = bloomFilterBitsPerKey
    }

    /// Refuses values LevelDB would silently clip or misread.
    func validate() throws(LevelDBError) {
        guard blockCacheBytes >= 0 else {
            throw .invalidOption(name: "blockCacheBytes", value: blockCacheBytes, reason: "must not be negative")
        }
        guard (64 << 10)...(1 << 30) ~= writeBufferBytes else {
            throw .invalidOption(
                name: "writeBufferBytes", value: writeBufferBytes, reason: "must be between 64 KiB and 1 GiB")
        }
        guard 0...64 ~= bloomFilterBitsPerKey else {
            throw .invalidOption(
                name: "bloomFilterBitsPerKey", value: bloomFilterBitsPerKey, reason: "must be between 0 and 64")
        }
        guard 0...19 ~= backgroundThreadNice else {
            throw .invalidOption(
                name: "backgroundThreadNice", value: Int(backgroundThreadNice), reason: "must be between 0 and 19")
        }
    }
}

/// One key and its value, as returned by prefix iteration.
public struct LevelDBEntry: Sendable, Hashable {
    /// The key.
    public let key: [UInt8]
    /// The value.
    public let value: [UInt8]

    /// Pairs a key with its value.
    public init(key: [UInt8], value: [UInt8]) {
        self.key = key
        self.value = value
    }
}

/// Read access shared by a live ``LevelDB`` and a frozen ``LevelDBSnapshot``.
public protocol LevelDBReader: Sendable {
    /// The value stored under `key`, or nil when there is none.
    func get(_ key: [UInt8]) throws(LevelDBError) -> [UInt8]?

    /// The entries whose key starts with `prefix`, in ascending key order, beginning at the first key not below
    /// `start` (when given) and stopping after `limit` entries. A `limit` of 0 or less returns nothing.
    func entries(withPrefix prefix: [UInt8], from start: [UInt8]?, limit: Int) throws(LevelDBError) -> [LevelDBEntry]
}

extension LevelDBReader {
    /// Every entry whose key starts with `prefix`, in ascending key order.
    public func entries(withPrefix prefix: [UInt8]) throws(LevelDBError) -> [LevelDBEntry] {
        try entries(withPrefix: prefix, from: nil, limit: .max)
    }
}

/// A LevelDB database, opened through LevelDB's C API and closed when the last reference goes away.
///
/// Thread safety: LevelDB documents a database handle as safe for concurrent reads and writes from many
/// threads without outside locking, and it serialises writers internally. This class adds only immutable
/// state (the handle, the option objects, the path), so it is `Sendable`. The handle is closed in `deinit`,
/// which runs only once no reference (and so no ``LevelDBSnapshot``, which holds one) remains, so no call can
/// race with the close.
public final class LevelDB: LevelDBReader, @unchecked Sendable {
    /// The database directory, as given.
    public let path: String
    /// The options it was opened with.
    public let options: LevelDBOptions

    // All of these are created before the handle, never mutated, and destroyed after it in `deinit`.
    let handle: OpaquePointer
    private let openOptions: OpaquePointer
    private let cache: OpaquePointer?
    private let filterPolicy: OpaquePointer?
    let readOptions: OpaquePointer
    private let syncedWriteOptions: OpaquePointer
    private let unsyncedWriteOptions: OpaquePointer

    /// Opens (and with ``LevelDBOptions/createIfMissing`` creates) the database in directory `path`.
    public init(path: String, options: LevelDBOptions = LevelDBOptions()) throws(LevelDBError) {
        try options.validate()
        let openOptions = leveldb_options_create()!
        leveldb_options_set_create_if_missing(openOptions, options.createIfMissing ? 1 : 0)
        leveldb_options_set_error_if_exists(openOptions, options.errorIfExists ? 1 : 0)
        leveldb_options_set_paranoid_checks(openOptions, options.paranoidChecks ? 1 : 0)
        leveldb_options_set_write_buffer_size(openOptions, options.writeBufferBytes)
        leveldb_options_set_compression(
            openOptions, Int32(options.compress ? leveldb_snappy_compression : leveldb_no_compression))
        var cache: OpaquePointer? = nil
        if options.blockCacheBytes > 0 {
            cache = leveldb_cache_create_lru(options.blockCacheBytes)
            leveldb_options_set_cache(openOptions, cache)
        }
        var filterPolicy: OpaquePointer? = nil
        if options.bloomFilterBitsPerKey > 0 {
            filterPolicy = leveldb_filterpolicy_create_bloom(Int32(options.bloomFilterBitsPerKey))
            leveldb_options_set_filter_policy(openOptions, filterPolicy)
        }
        let (handle, error) = Self.open(openOptions, path: path, backgroundThreadNice: options.backgroundThreadNice)
        if let message = takeMessage(error) {
            if let handle { leveldb_close(handle) }
            leveldb_options_destroy(openOptions)
            if let cache { leveldb_cache_destroy(cache) }
            if let filterPolicy { leveldb_filterpolicy_destroy(filterPolicy) }
            throw LevelDBError.classify(message, path: path)
        }
        self.path = path
        self.options = options
        self.handle = handle!
        self.openOptions = openOptions
        self.cache = cache
        self.filterPolicy = filterPolicy
        self.readOptions = leveldb_readoptions_create()!
        leveldb_readoptions_set_verify_checksums(readOptions, options.paranoidChecks ? 1 : 0)
        self.syncedWriteOptions = leveldb_writeoptions_create()!
        leveldb_writeoptions_set_sync(syncedWriteOptions, 1)
        self.unsyncedWriteOptions = leveldb_writeoptions_create()!
        leveldb_writeoptions_set_sync(unsyncedWriteOptions, 0)
    }

    /// Opens the database; with a `backgroundThreadNice` above 0, from a new thread of that nice value, which
    /// then makes LevelDB start its background thread (see ``LevelDBOptions/backgroundThreadNice``).
    private static func open(_ options: OpaquePointer, path: String, backgroundThreadNice nice: Int32) -> (
        OpaquePointer?, UnsafeMutablePointer<CChar>?
    ) {
        final class Opening: @unchecked Sendable {
            // Written by the opening thread before it signals, read by the caller after the wait.
            var handle: OpaquePointer? = nil
            var error: UnsafeMutablePointer<CChar>? = nil
            let options: OpaquePointer
            let done = DispatchSemaphore(value: 0)
            init(_ options: OpaquePointer) { self.options = options }
        }
        guard nice > 0 else {
            var error: UnsafeMutablePointer<CChar>? = nil
            let handle = leveldb_open(options, path, &error)
            return (handle, error)
        }
        let opening = Opening(options)
        let thread = Thread {
            // On Linux the nice value belongs to the thread (`who` 0 is the calling one), and new threads inherit it.
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, nice)
            opening.handle = leveldb_open(opening.options, path, &opening.error)
            if let handle = opening.handle, opening.error == nil {
                // Writing the (near-empty) in-memory table out over a key range that holds no file makes LevelDB
                // schedule background work, and start its thread now, from this one, if it has none yet.
                let none: [CChar] = [CChar](repeating: -1, count: 16)
                leveldb_compact_range(handle, none, none.count, none, none.count)
            }
            opening.done.signal()
        }
        thread.start()
        opening.done.wait()
        return (opening.handle, opening.error)
    }

    deinit {
        leveldb_close(handle)
        leveldb_readoptions_destroy(readOptions)
        leveldb_writeoptions_destroy(syncedWriteOptions)
        leveldb_writeoptions_destroy(unsyncedWriteOptions)
        leveldb_options_destroy(openOptions)
        if let cache { leveldb_cache_destroy(cache) }
        if let filterPolicy { leveldb_filterpolicy_destroy(filterPolicy) }
    }

    public func get(_ key: [UInt8]) throws(LevelDBError) -> [UInt8]? {
        try readValue(handle: handle, options: readOptions, key: key, path: path)
    }

    public func entries(withPrefix prefix: [UInt8], from start: [UInt8]?, limit: Int) throws(LevelDBError)
        -> [LevelDBEntry]
    {
        try readEntries(handle: handle, options: readOptions, prefix: prefix, start: start, limit: limit, path: path)
    }

    /// Stores `value` under `key`; with `sync` the call returns only once the write is on disk.
    public func put(key: [UInt8], value: [UInt8], sync: Bool = true) throws(LevelDBError) {
        var batch = WriteBatch()
        batch.put(key: key, value: value)
        try write(batch, sync: sync)
    }

    /// Removes `key`; with `sync` the call returns only once the removal is on disk.
    public func delete(key: [UInt8], sync: Bool = true) throws(LevelDBError) {
        var batch = WriteBatch()
        batch.delete(key: key)
        try write(batch, sync: sync)
    }

    /// Applies every write of `batch` atomically: after a crash, either all of them are present or none.
    /// With `sync` (the default) the call returns only once the batch is on disk (fdatasync of the log).
    public func write(_ batch: WriteBatch, sync: Bool = true) throws(LevelDBError) {
        let native = leveldb_writebatch_create()!
        defer { leveldb_writebatch_destroy(native) }
        for operation in batch.operations {
            switch operation {
            case .put(let key, let value):
                withCBytes(key) { keyPointer, keyCount in
                    withCBytes(value) { valuePointer, valueCount in
                        leveldb_writebatch_put(native, keyPointer, keyCount, valuePointer, valueCount)
                    }
                }
            case .delete(let key):
                withCBytes(key) { leveldb_writebatch_delete(native, $0, $1) }
            }
        }
        var error: UnsafeMutablePointer<CChar>? = nil
        leveldb_write(handle, sync ? syncedWriteOptions : unsyncedWriteOptions, native, &error)
        if let message = takeMessage(error) {
            throw LevelDBError.classify(message, path: path)
        }
    }

    /// A consistent, read-only view of the database as it is now; later writes are invisible through it.
    public func snapshot() -> LevelDBSnapshot {
        LevelDBSnapshot(database: self)
    }
}

/// A frozen view of a ``LevelDB`` database: reads through it see exactly the writes made before it was taken.
///
/// Thread safety: a LevelDB snapshot is immutable and may be read from many threads; this class holds only
/// immutable references (the database, the snapshot, read options that point at it) and releases the snapshot
/// in `deinit`, when no reader is left. It keeps the database open for as long as it lives.
public final class LevelDBSnapshot: LevelDBReader, @unchecked Sendable {
    /// The database the snapshot was taken of.
    public let database: LevelDB
    private let snapshot: OpaquePointer
    private let readOptions: OpaquePointer

    init(database: LevelDB) {
        self.database = database
        self.snapshot = leveldb_create_snapshot(database.handle)!
        self.readOptions = leveldb_readoptions_create()!
        leveldb_readoptions_set_verify_checksums(readOptions, database.options.paranoidChecks ? 1 : 0)
        leveldb_readoptions_set_snapshot(readOptions, snapshot)
    }

    deinit {
        leveldb_readoptions_destroy(readOptions)
        leveldb_release_snapshot(database.handle, snapshot)
    }

    public func get(_ key: [UInt8]) throws(LevelDBError) -> [UInt8]? {
        try readValue(handle: database.handle, options: readOptions, key: key, path: database.path)
    }

    public func entries(withPrefix prefix: [UInt8], from start: [UInt8]?, limit: Int) throws(LevelDBError)
        -> [LevelDBEntry]
    {
        try readEntries(
            handle: database.handle, options: readOptions, prefix: prefix, start: start, limit: limit,
            path: database.path)
    }
}

/// Converts and frees a LevelDB error string; nil when there was no error.
private func takeMessage(_ error: UnsafeMutablePointer<CChar>?) -> String? {
    guard let error else { return nil }
    defer { leveldb_free(error) }
    return String(cString: error)
}

/// Calls `body` with `bytes` as the `const char*` and length LevelDB expects.
private func withCBytes<R>(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>?, Int) -> R) -> R {
    bytes.withUnsafeBufferPointer { buffer in
        buffer.withMemoryRebound(to: CChar.self) { body($0.baseAddress, $0.count) }
    }
}

/// Copies `count` bytes that LevelDB owns into a Swift array.
private func copyBytes(_ pointer: UnsafePointer<CChar>?, count: Int) -> [UInt8] {
    guard let pointer, count > 0 else { return [] }
    return Array(UnsafeRawBufferPointer(start: pointer, count: count))
}

private func readValue(handle: OpaquePointer, options: OpaquePointer, key: [UInt8], path: String)
    throws(LevelDBError) -> [UInt8]?
{
    var error: UnsafeMutablePointer<CChar>? = nil
    var length = 0
    let value = withCBytes(key) { leveldb_get(handle, options, $0, $1, &length, &error) }
    if let message = takeMessage(error) {
        if let value { leveldb_free(value) }
        throw LevelDBError.classify(message, path: path)
    }
    guard let value else { return nil }
    defer { leveldb_free(value) }
    return copyBytes(value, count: length)
}

private func readEntries(
    handle: OpaquePointer, options: OpaquePointer, prefix: [UInt8], start: [UInt8]?, limit: Int, path: String
) throws(LevelDBError) -> [LevelDBEntry] {
    guard limit > 0 else { return [] }
    let iterator = leveldb_create_iterator(handle, options)!
    defer { leveldb_iter_destroy(iterator) }
    var seekKey = prefix
    if let start, prefix.lexicographicallyPrecedes(start) {
        seekKey = start
    }
    withCBytes(seekKey) { leveldb_iter_seek(iterator, $0, $1) }
    var out = [LevelDBEntry]()
    while out.count < limit, leveldb_iter_valid(iterator) != 0 {
        var keyLength = 0
        let key = copyBytes(leveldb_iter_key(iterator, &keyLength), count: keyLength)
        guard key.starts(with: prefix) else { break }
        var valueLength = 0
        let value = copyBytes(leveldb_iter_value(iterator, &valueLength), count: valueLength)
        out.append(LevelDBEntry(key: key, value: value))
        leveldb_iter_next(iterator)
    }
    var error: UnsafeMutablePointer<CChar>? = nil
    leveldb_iter_get_error(iterator, &error)
    if let message = takeMessage(error) {
        throw LevelDBError.classify(message, path: path)
    }
    return out
}
