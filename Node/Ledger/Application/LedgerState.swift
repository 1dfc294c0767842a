public import EnsureCrypto

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Why application state could not be read: the store failed, or a stored value does not decode.
public enum LedgerStateError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The underlying store failed.
    case storage(String)
    /// A stored value does not decode; the data directory is damaged.
    case corrupt(key: String, reason: String)

    public var description: String {
        switch self {
        case .storage(let reason): return "state store: \(reason)"
        case .corrupt(let key, let reason): return "state \(key) is corrupt: \(reason)"
        }
    }
}

/// Read access to application state at one point of the chain: the committed state, or the committed state
/// seen through the changes of executed, uncommitted blocks.
public protocol LedgerStateReader {
    /// The value stored under `key`, or nil when there is none.
    func value(forKey key: [UInt8]) throws(LedgerStateError) -> [UInt8]?
}

/// Application state held in a dictionary: the twin of the LevelDB state for tests and the simulator.
public struct InMemoryLedgerState: LedgerStateReader, Sendable {
    /// Every key and value.
    public private(set) var values: [[UInt8]: [UInt8]] = [:]

    /// An empty state.
    public init() {}

    public func value(forKey key: [UInt8]) throws(LedgerStateError) -> [UInt8]? { values[key] }

    /// Applies `changes` as a commit would.
    public mutating func apply(_ changes: StateChanges) {
        for (key, value) in changes.writes {
            if let value { values[key.bytes] = value } else { values.removeValue(forKey: key.bytes) }
        }
        for (key, value) in changes.notes { values[key] = value }
    }
}

/// A state key as a dictionary key. Its bytes are hashed in one call: a `[UInt8]` key hashes them one at a time,
/// which was 3 % of executing a block (every write, pending lookup and per-block read cache is keyed by these).
public struct StateKey: Hashable, Sendable {
    /// The key's bytes.
    public let bytes: [UInt8]

    /// Wraps `bytes`.
    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public func hash(into hasher: inout Hasher) { bytes.withUnsafeBytes { hasher.combine(bytes: $0) } }

    public static func == (lhs: StateKey, rhs: StateKey) -> Bool {
        lhs.bytes.withUnsafeBytes { left in
            rhs.bytes.withUnsafeBytes { right in
                left.count == right.count
                    && (left.isEmpty || memcmp(left.baseAddress!, right.baseAddress!, left.count) == 0)
            }
        }
    }

    /// Byte order, as LevelDB sorts keys, compared with one `memcmp` (the generic element-wise comparison was most
    /// of sorting a block's writes for its digest).
    public static func precedes(_ lhs: StateKey, _ rhs: StateKey) -> Bool {
        lhs.bytes.withUnsafeBytes { left in
            rhs.bytes.withUnsafeBytes { right in
                let common = min(left.count, right.count)
                let order = common == 0 ? 0 : memcmp(left.baseAddress!, right.baseAddress!, common)
                return order < 0 || (order == 0 && left.count < right.count)
            }
        }
    }
}

/// The writes of one block (or of genesis): a value per key, nil for a deletion.
public struct StateChanges: Sendable, Equatable {
    /// The pending value of every key written, nil when it was deleted.
    public internal(set) var writes: [StateKey: [UInt8]?] = [:]
    /// Explanations written beside the state (`note/…`: the sentence of a failure), committed in the same batch
    /// but outside ``digest``, so rewording a message never changes a state root.
    public internal(set) var notes: [[UInt8]: [UInt8]] = [:]

    /// No writes.
    public init() {}

    /// Whether any key starting with `prefix` was written.
    public func touches(prefix: [UInt8]) -> Bool { writes.keys.contains { $0.bytes.starts(with: prefix) } }

    /// The pending value of `key`: nil when it was not written, `.some(nil)` when it was deleted.
    public func write(forKey key: [UInt8]) -> [UInt8]?? { writes[StateKey(key)] }

    /// A digest of the writes in key order: what the state root commits to for this block.
    public var digest: Digest {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(writes.count * 96)
        for (key, value) in writes.sorted(by: { StateKey.precedes($0.key, $1.key) }) {
            appendLength(key.bytes.count, to: &bytes)
            bytes += key.bytes
            if let value {
                bytes.append(1)
                appendLength(value.count, to: &bytes)
                bytes += value
            } else {
                bytes.append(0)
            }
        }
        return SHA256.hash(tag: "ensure/state-writes/v1", bytes)
    }

    private func appendLength(_ count: Int, to bytes: inout [UInt8]) {
        let value = UInt32(count)
        bytes.append(UInt8(value >> 24))
        bytes.append(UInt8(value >> 16 & 0xff))
        bytes.append(UInt8(value >> 8 & 0xff))
        bytes.append(UInt8(value & 0xff))
    }
}

/// State as a block sees it while it executes: a base reader plus the block's own writes so far, with
/// checkpoints so that a failing transaction leaves nothing behind.
public struct StateOverlay<Base: LedgerStateReader>: LedgerStateReader {
    /// The state the block executes on.
    public let base: Base
    /// The block's writes so far.
    public private(set) var changes = StateChanges()
    private var undo: [(key: StateKey, previous: [UInt8]??)] = []

    /// Starts a block on `base`.
    public init(base: Base) { self.base = base }

    public func value(forKey key: [UInt8]) throws(LedgerStateError) -> [UInt8]? {
        if let pending = changes.writes[StateKey(key)] { return pending }
        return try base.value(forKey: key)
    }

    /// Sets `key` to `value`.
    public mutating func set(_ key: [UInt8], _ value: [UInt8]) { record(key, value) }

    /// Writes an explanation outside the hashed state (see ``StateChanges/notes``); never rolled back.
    public mutating func note(_ key: [UInt8], _ text: String) { changes.notes[key] = Array(text.utf8) }

    /// Deletes `key`.
    public mutating func delete(_ key: [UInt8]) { record(key, nil) }

    /// A point to roll back to.
    public var checkpoint: Int { undo.count }

    /// Undoes every write made after `checkpoint`.
    public mutating func rollback(to checkpoint: Int) {
        while undo.count > checkpoint {
            let last = undo.removeLast()
            if let previous = last.previous {
                changes.writes[last.key] = previous
            } else {
                changes.writes.removeValue(forKey: last.key)
            }
        }
    }

    /// Forgets the undo history (once a transaction succeeded there is nothing to roll back to).
    public mutating func discardUndo() { undo.removeAll(keepingCapacity: true) }

    private mutating func record(_ key: [UInt8], _ value: [UInt8]?) {
        let key = StateKey(key)
        undo.append((key, changes.writes[key]))
        changes.writes[key] = .some(value)
    }
}
