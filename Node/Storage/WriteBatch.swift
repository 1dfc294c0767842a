/// Writes that LevelDB applies all together or not at all (``LevelDB/write(_:sync:)``). A value type, so a
/// caller can build it anywhere and hand it to the ``BlockStore`` together with the block it belongs to.
public struct WriteBatch: Sendable, Hashable {
    /// One write of a batch.
    public enum Operation: Sendable, Hashable {
        /// Sets `key` to `value`.
        case put(key: [UInt8], value: [UInt8])
        /// Removes `key` (a no-op when it is absent).
        case delete(key: [UInt8])

        /// The key written or removed.
        public var key: [UInt8] {
            switch self {
            case .put(let key, _), .delete(let key): return key
            }
        }
    }

    /// The writes in the order they are applied; a later write to the same key wins.
    public private(set) var operations: [Operation]

    /// An empty batch.
    public init() {
        operations = []
    }

    /// The number of writes.
    public var count: Int { operations.count }

    /// Whether the batch holds no write.
    public var isEmpty: Bool { operations.isEmpty }

    /// Adds a write of `value` under `key`.
    public mutating func put(key: [UInt8], value: [UInt8]) {
        operations.append(.put(key: key, value: value))
    }

    /// Adds a removal of `key`.
    public mutating func delete(key: [UInt8]) {
        operations.append(.delete(key: key))
    }

    /// Adds every write of `other`, after the ones already here.
    public mutating func append(contentsOf other: WriteBatch) {
        operations.append(contentsOf: other.operations)
    }
}
