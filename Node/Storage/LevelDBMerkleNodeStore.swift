public import EnsureCrypto
public import Ledger

/// Why a stored Merkle log node could not be read.
public enum MerkleNodeStoreError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The stored value is not a 32-byte digest.
    case malformedNode(position: MerkleNodePosition, byteCount: Int)
    /// LevelDB failed.
    case storage(LevelDBError)

    public var description: String {
        switch self {
        case .malformedNode(let position, let byteCount):
            return "stored Merkle node at level \(position.level), index \(position.index) holds \(byteCount) "
                + "bytes, not a 32-byte hash; the database is damaged"
        case .storage(let error):
            return error.description
        }
    }
}

/// The incident log's perfect-subtree hashes, read from LevelDB under `merkle/` (``StorageKeyspace``),
/// either live or through a ``LevelDBSnapshot`` so that a proof is built from one consistent state.
/// Writes are added to the block's ``WriteBatch`` with ``addNodes(_:to:)``, so the log and the chain are
/// always committed together.
public struct LevelDBMerkleNodeStore: MerkleNodeSource, Sendable {
    private let reader: any LevelDBReader

    /// Reads the live database.
    public init(database: LevelDB) {
        reader = database
    }

    /// Reads the database as it was when `snapshot` was taken.
    public init(snapshot: LevelDBSnapshot) {
        reader = snapshot
    }

    public func node(at position: MerkleNodePosition) throws -> Digest? {
        try storedNode(at: position)
    }

    /// The hash at `position`, or nil when none is stored; the typed form of ``node(at:)``.
    public func storedNode(at position: MerkleNodePosition) throws(MerkleNodeStoreError) -> Digest? {
        let bytes: [UInt8]?
        do {
            bytes = try reader.get(StorageKeyspace.merkleNodeKey(position))
        } catch {
            throw .storage(error)
        }
        guard let bytes else { return nil }
        guard let digest = Digest(bytes: bytes) else {
            throw .malformedNode(position: position, byteCount: bytes.count)
        }
        return digest
    }

    /// Adds the node writes an append to the log returned to `batch`.
    public static func addNodes(_ nodes: [(MerkleNodePosition, Digest)], to batch: inout WriteBatch) {
        for (position, digest) in nodes {
            batch.put(key: StorageKeyspace.merkleNodeKey(position), value: digest.bytes)
        }
    }
}
