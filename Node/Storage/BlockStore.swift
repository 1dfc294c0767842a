internal import Codec
public import EnsureCrypto
internal import Foundation
public import Ledger

/// Why the ``BlockStore`` refused an append or could not read a record. A refused append wrote nothing.
public enum BlockStoreError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The block's height is not the latest height + 1 (or 0 for the first block).
    case unexpectedHeight(expected: UInt64, actual: UInt64, blockID: Digest)
    /// The block's parent id is not the id of the block stored at the height below (or zero for genesis).
    case wrongParent(height: UInt64, expected: Digest, actual: Digest)
    /// A block with this id is already stored.
    case duplicateBlock(id: Digest, storedHeight: UInt64)
    /// The block belongs to another chain than the stored genesis.
    case wrongChain(height: UInt64, expected: String, actual: String)
    /// The certificate handed in does not certify this block.
    case certificateMismatch(height: UInt64, reason: String)
    /// An extra write of the append targets a key the block store owns.
    case reservedKey(key: String)
    /// A stored record does not decode or contradicts its key: the database was damaged or written by
    /// something else.
    case corruptRecord(key: String, reason: String)
    /// LevelDB failed.
    case storage(LevelDBError)

    public var description: String {
        switch self {
        case .unexpectedHeight(let expected, let actual, let blockID):
            return "block \(blockID) has height \(actual), but the next height in the store is \(expected)"
        case .wrongParent(let height, let expected, let actual):
            return "block at height \(height) names parent \(actual), but the stored parent is \(expected)"
        case .duplicateBlock(let id, let storedHeight):
            return "block \(id) is already stored at height \(storedHeight)"
        case .wrongChain(let height, let expected, let actual):
            return "block at height \(height) is for chain '\(actual)', but this store holds chain '\(expected)'"
        case .certificateMismatch(let height, let reason):
            return "the certificate given with the block at height \(height) \(reason)"
        case .reservedKey(let key):
            return "an extra write targets \(key), which only the block store may write"
        case .corruptRecord(let key, let reason):
            return "stored record \(key) is corrupt: \(reason); the database is damaged, restore it from a backup "
                + "or resynchronise from peers"
        case .storage(let error):
            return error.description
        }
    }
}

/// The latest block of a store: its height and id, and the chain the store holds.
public struct ChainTip: Hashable, Sendable {
    /// Height of the latest block.
    public let height: UInt64
    /// Id of the latest block.
    public let blockID: Digest
    /// The chain id fixed by genesis.
    public let chainID: String

    /// Creates a tip.
    public init(height: UInt64, blockID: Digest, chainID: String) {
        self.height = height
        self.blockID = blockID
        self.chainID = chainID
    }
}

/// The chain of committed blocks, each stored with the quorum certificate that certifies it, in LevelDB.
///
/// An append writes the block, its certificate, the id index, the new tip and the caller's extra writes (state
/// changes, Merkle log nodes) in one synced batch, so after a crash the store holds either all of them or
/// none. It checks the chain linkage (height, parent, chain id, certificate naming the block); verifying
/// signatures and executing transactions is the caller's work. The store starts empty: the first block
/// appended is genesis, at height 0, with ``QuorumCertificate/genesis(chainID:blockID:)``.
///
/// Use one `BlockStore` per database: appends are serialised by a lock inside this object.
public final class BlockStore: Sendable {
    /// The database the blocks live in.
    public let database: LevelDB
    private let tipState: TipState

    /// Opens the block store kept in `database`, reading its tip.
    public init(database: LevelDB) throws(BlockStoreError) {
        self.database = database
        self.tipState = TipState(try Self.readTip(database))
    }

    /// The latest block's height, id and chain, or nil while the store is empty.
    public var tip: ChainTip? { tipState.withLock { $0 } }

    /// The latest block's height, or nil while the store is empty.
    public var latestHeight: UInt64? { tip?.height }

    /// Appends `block`, certified by `certificate`, together with `extraWrites`, in one synced batch.
    /// Nothing is written when any check fails.
    public func append(_ block: Block, certificate: QuorumCertificate, extraWrites: WriteBatch = WriteBatch())
        throws(BlockStoreError)
    {
        let header = block.header
        let id = block.id
        for operation in extraWrites.operations {
            if StorageKeyspace.blockStoreNamespaces.contains(where: { operation.key.starts(with: $0) }) {
                throw .reservedKey(key: StorageKeyspace.describe(operation.key))
            }
        }
        try Self.checkCertificate(certificate, certifies: block, id: id)
        try tipState.withLock { (tip: inout ChainTip?) throws(BlockStoreError) in
            let expectedHeight = tip.map { $0.height + 1 } ?? 0
            guard header.height == expectedHeight else {
                // A stored block has a height at or below the tip, so only a block of the wrong height can be one;
                // the lookup (a read of a key that is almost never there) is left to this path.
                if let stored = try storedHeight(of: id) {
                    throw .duplicateBlock(id: id, storedHeight: stored)
                }
                throw .unexpectedHeight(expected: expectedHeight, actual: header.height, blockID: id)
            }
            let expectedParent = tip?.blockID ?? .zero
            guard header.parentID == expectedParent else {
                throw .wrongParent(height: header.height, expected: expectedParent, actual: header.parentID)
            }
            if let chainID = tip?.chainID, header.chainID != chainID {
                throw .wrongChain(height: header.height, expected: chainID, actual: header.chainID)
            }

            var batch = WriteBatch()
            batch.put(key: StorageKeyspace.blockKey(height: header.height), value: block.canonicalBytes)
            batch.put(key: StorageKeyspace.certificateKey(height: header.height), value: certificate.canonicalBytes)
            batch.put(key: StorageKeyspace.blockIDKey(id), value: StorageKeyspace.bigEndian(header.height))
            batch.put(key: StorageKeyspace.chainTipKey, value: StorageKeyspace.bigEndian(header.height) + id.bytes)
            if tip == nil {
                batch.put(key: StorageKeyspace.chainIDKey, value: Array(header.chainID.utf8))
            }
            batch.append(contentsOf: extraWrites)
            do throws(LevelDBError) {
                try database.write(batch, sync: true)
            } catch {
                throw .storage(error)
            }
            tip = ChainTip(height: header.height, blockID: id, chainID: header.chainID)
        }
    }

    /// The block at `height`, or nil when the store does not reach that height.
    public func block(atHeight height: UInt64) throws(BlockStoreError) -> Block? {
        let key = StorageKeyspace.blockKey(height: height)
        guard let bytes = try read(key) else { return nil }
        let block: Block
        do {
            block = try Block.decode(canonical: bytes, field: "block")
        } catch {
            throw .corruptRecord(key: StorageKeyspace.describe(key), reason: error.description)
        }
        guard block.header.height == height else {
            throw .corruptRecord(
                key: StorageKeyspace.describe(key), reason: "holds a block of height \(block.header.height)")
        }
        return block
    }

    /// The block with id `id`, or nil when it is not stored.
    public func block(withID id: Digest) throws(BlockStoreError) -> Block? {
        guard let height = try storedHeight(of: id) else { return nil }
        guard let block = try block(atHeight: height) else {
            throw .corruptRecord(
                key: StorageKeyspace.describe(StorageKeyspace.blockIDKey(id)),
                reason: "points at height \(height), where no block is stored")
        }
        guard block.id == id else {
            throw .corruptRecord(
                key: StorageKeyspace.describe(StorageKeyspace.blockIDKey(id)),
                reason: "points at height \(height), which holds block \(block.id)")
        }
        return block
    }

    /// The height of block `id`, or nil when it is not stored.
    public func height(ofBlock id: Digest) throws(BlockStoreError) -> UInt64? {
        try storedHeight(of: id)
    }

    /// The certificate stored with the block at `height`, or nil when the store does not reach that height.
    public func certificate(atHeight height: UInt64) throws(BlockStoreError) -> QuorumCertificate? {
        let key = StorageKeyspace.certificateKey(height: height)
        guard let bytes = try read(key) else { return nil }
        let certificate: QuorumCertificate
        do {
            certificate = try QuorumCertificate.decode(canonical: bytes, field: "certificate")
        } catch {
            throw .corruptRecord(key: StorageKeyspace.describe(key), reason: error.description)
        }
        guard certificate.data.height == height else {
            throw .corruptRecord(
                key: StorageKeyspace.describe(key), reason: "certifies height \(certificate.data.height)")
        }
        return certificate
    }

    private func read(_ key: [UInt8]) throws(BlockStoreError) -> [UInt8]? {
        do {
            return try database.get(key)
        } catch {
            throw .storage(error)
        }
    }

    private func storedHeight(of id: Digest) throws(BlockStoreError) -> UInt64? {
        let key = StorageKeyspace.blockIDKey(id)
        guard let bytes = try read(key) else { return nil }
        guard let height = UInt64(bigEndianBytes: bytes) else {
            throw .corruptRecord(key: StorageKeyspace.describe(key), reason: "holds \(bytes.count) bytes, not 8")
        }
        return height
    }

    /// Checks that `certificate` names `block`: the genesis certificate for genesis, otherwise a signed
    /// certificate whose vote data matches the header.
    private static func checkCertificate(_ certificate: QuorumCertificate, certifies block: Block, id: Digest)
        throws(BlockStoreError)
    {
        let header = block.header
        if header.height == 0 {
            guard certificate == .genesis(chainID: header.chainID, blockID: id) else {
                throw .certificateMismatch(height: 0, reason: "is not the genesis certificate of this block")
            }
            return
        }
        let data = certificate.data
        let mismatches = [
            data.blockID != id ? "names block \(data.blockID), not \(id)" : nil,
            data.height != header.height ? "is for height \(data.height)" : nil,
            data.round != header.round ? "is for round \(data.round), the block's is \(header.round)" : nil,
            data.epoch != header.epoch ? "is for epoch \(data.epoch), the block's is \(header.epoch)" : nil,
            data.chainID != header.chainID ? "is for chain '\(data.chainID)'" : nil,
            certificate.signatures.isEmpty ? "carries no signatures" : nil,
        ].compactMap { $0 }
        if let first = mismatches.first {
            throw .certificateMismatch(height: header.height, reason: first)
        }
    }

    private static func readTip(_ database: LevelDB) throws(BlockStoreError) -> ChainTip? {
        let tipKey = StorageKeyspace.chainTipKey
        let tipBytes: [UInt8]?
        let chainBytes: [UInt8]?
        do {
            tipBytes = try database.get(tipKey)
            chainBytes = try database.get(StorageKeyspace.chainIDKey)
        } catch {
            throw .storage(error)
        }
        guard let tipBytes else {
            if chainBytes != nil {
                throw .corruptRecord(
                    key: StorageKeyspace.describe(StorageKeyspace.chainIDKey), reason: "is present without a tip")
            }
            return nil
        }
        guard tipBytes.count == 8 + Digest.byteCount, let height = UInt64(bigEndianBytes: tipBytes.prefix(8)),
            let id = Digest(bytes: Array(tipBytes.dropFirst(8)))
        else {
            throw .corruptRecord(key: StorageKeyspace.describe(tipKey), reason: "holds \(tipBytes.count) bytes, not 40")
        }
        guard let chainBytes, let chainID = String(validating: chainBytes, as: UTF8.self), ChainID.isValid(chainID)
        else {
            throw .corruptRecord(
                key: StorageKeyspace.describe(StorageKeyspace.chainIDKey), reason: "is missing or not a chain id")
        }
        let indexKey = StorageKeyspace.blockIDKey(id)
        let indexed: [UInt8]?
        do {
            indexed = try database.get(indexKey)
        } catch {
            throw .storage(error)
        }
        guard indexed == StorageKeyspace.bigEndian(height) else {
            throw .corruptRecord(
                key: StorageKeyspace.describe(tipKey), reason: "names block \(id) at height \(height), not indexed so")
        }
        return ChainTip(height: height, blockID: id, chainID: chainID)
    }
}

/// The chain tip behind a lock, so that two appends can never both pass the height check.
///
/// `@unchecked Sendable` is safe: the only mutable state, `value`, is private and read or written only inside
/// ``withLock(_:)`` while `lock` is held, and `NSLock` itself is thread-safe.
private final class TipState: @unchecked Sendable {
    private let lock = NSLock()
    private var value: ChainTip?

    init(_ value: ChainTip?) {
        self.value = value
    }

    func withLock<R, E: Error>(_ body: (inout ChainTip?) throws(E) -> R) throws(E) -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
