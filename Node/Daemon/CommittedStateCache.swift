import Ledger

/// Values of committed state that block execution read, absent ones included, kept from one block to the next.
///
/// Every block reads the same few committed keys again: its signers' roles, organizations and sequence numbers, the
/// chain parameters, the epoch. Those keys were written long ago, so in LevelDB they sit in the deepest tables, and
/// a read of one consults a table of each level above it first. LevelDB charges such a read to the first table it
/// consulted, and compacts a table into the next level once its allowance (one read per 16 KiB of table) is spent.
/// At about ten reads per block, a table just flushed from memory was merged into the level below within seconds,
/// rewriting every table there that its keys overlap, which with digest-keyed state is all of them. This cache takes
/// those reads away.
///
/// It is coherent because the executor's commit is the only writer of committed state: ``apply(_:)`` takes every
/// committed block's writes, in the same turn as the commit. It keeps at most `capacity` keys and starts over when
/// full, so a flood of distinct signers costs reads, never memory. Notarization keys, one per digest and each read
/// once, do not belong here (``NotarizationFilter`` covers those).
///
/// Not `Sendable`: the executor owns it, and only its execution and commits use it.
final class CommittedStateCache {
    /// Most keys kept.
    let capacity: Int
    private var values: [StateKey: [UInt8]?] = [:]

    /// An empty cache of at most `capacity` keys (at least 1).
    init(capacity: Int = 4_096) {
        self.capacity = max(1, capacity)
    }

    /// Keys held now.
    var count: Int { values.count }

    /// The committed value of `key` if it is known here: `.some(nil)` for a key known to be absent, nil for a key
    /// that must be read.
    func value(forKey key: StateKey) -> [UInt8]?? { values[key] }

    /// Remembers the committed value of `key`, read from the store.
    func remember(_ value: [UInt8]?, forKey key: StateKey) {
        if values.count >= capacity { values.removeAll(keepingCapacity: true) }
        values[key] = .some(value)
    }

    /// Takes a committed block's writes: every key held here that the block wrote or deleted gets its new value.
    func apply(_ changes: StateChanges) {
        if values.count <= changes.writes.count {
            for key in Array(values.keys) {
                if let written = changes.writes[key] { values[key] = .some(written) }
            }
        } else {
            for (key, written) in changes.writes where values[key] != nil { values[key] = .some(written) }
        }
    }
}
