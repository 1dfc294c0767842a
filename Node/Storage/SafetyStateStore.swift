internal import Codec
public import Consensus

/// The validator's ``SafetyState`` in the node's LevelDB database, under ``StorageKeyspace/safetyStateKey``.
///
/// ``store(_:)`` is a synced write: it returns only once the state is on disk, so ``SafetyRules`` never lets a
/// signature leave before the state that allows it survives a crash. ``load()`` refuses a record that does not
/// decode, naming the key: a node must not start (and sign) from a state it cannot trust.
public final class LevelDBSafetyStateStore: SafetyStatePersistence, Sendable {
    /// The database the state lives in (the node's data directory).
    public let database: LevelDB

    /// Keeps the state in `database`; nothing is read until ``load()``.
    public init(database: LevelDB) {
        self.database = database
    }

    private var keyDescription: String {
        "\(StorageKeyspace.describe(StorageKeyspace.safetyStateKey)) in the database at \(database.path)"
    }

    /// The stored state, or nil when none was ever stored. A record that does not decode is an error.
    public func load() throws(SafetyPersistenceError) -> SafetyState? {
        let bytes: [UInt8]?
        do {
            bytes = try database.get(StorageKeyspace.safetyStateKey)
        } catch {
            throw SafetyPersistenceError("reading \(keyDescription) failed: \(error)")
        }
        guard let bytes else { return nil }
        do {
            return try SafetyState.decode(canonical: bytes, field: "safetyState")
        } catch {
            throw SafetyPersistenceError(
                "\(keyDescription) is corrupt (\(error)); refusing to sign from it: restore the data directory from "
                    + "a backup taken after this validator last signed, never start it from an older or empty state")
        }
    }

    /// Stores `state` with a synced write; on failure the previously stored state is still the one on disk.
    public func store(_ state: SafetyState) throws(SafetyPersistenceError) {
        do {
            try database.put(key: StorageKeyspace.safetyStateKey, value: state.canonicalBytes, sync: true)
        } catch {
            throw SafetyPersistenceError("writing \(keyDescription) failed: \(error)")
        }
    }
}
