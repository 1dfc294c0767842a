public import API
import Codec
public import EnsureCrypto
public import Ledger
public import Storage

/// Why a block does not execute: the first transaction or header field that does not hold.
public struct ExecutionError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The field that is wrong, as a dotted path (`block.transactions[3].sequence`, `block.header.stateRoot`).
    public let field: String
    /// What is wrong with it.
    public let reason: String

    /// Creates an error.
    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { "\(field) \(reason)" }
}

/// Why committed application state could not be read or written.
public enum ApplicationStateError: Error, Equatable, Sendable, CustomStringConvertible {
    /// LevelDB failed.
    case storage(String)
    /// A stored value does not decode; the data directory is damaged.
    case corrupt(key: String, reason: String)
    /// The block to commit was never executed here, or its parent is not the committed tip.
    case notExecuted(height: UInt64, blockID: Digest)
    /// The block store refused the block.
    case blockStore(BlockStoreError)

    public var description: String {
        switch self {
        case .storage(let reason): return "application state: LevelDB: \(reason)"
        case .corrupt(let key, let reason): return "application state: \(key) is corrupt: \(reason)"
        case .notExecuted(let height, let id):
            return "application state: block \(id.hex.prefix(16)) at height \(height) was not executed on the tip"
        case .blockStore(let error): return "application state: \(error)"
        }
    }
}

/// The state changes of one executed block, kept until it commits or is abandoned.
struct ExecutedBlock {
    let header: BlockHeader
    let parentID: Digest
    /// The next expected sequence of every signer the block touched.
    let sequences: [Ed25519PublicKey: UInt64]
    /// The notarizations the block makes (first one wins across the chain).
    let notarizations: [Digest: NotarizationRecordValue]
    let transactionIDs: [Digest]
}

/// A committed notarization as stored: the label, signer, transaction, height and block time.
struct NotarizationRecordValue: Hashable, CanonicalCodable {
    let label: String
    let signer: Ed25519PublicKey
    let transactionID: Digest
    let height: UInt64
    let timestamp: UInt64

    static var maxEncodedSize: Int { NotarizePayload.maxLabelBytes + 3 + 32 + 32 + 20 }

    func encode(to writer: inout CanonicalWriter) {
        writer.writeString(label)
        writer.write(signer)
        writer.write(transactionID)
        writer.writeVarUInt(height)
        writer.writeVarUInt(timestamp)
    }

    init(label: String, signer: Ed25519PublicKey, transactionID: Digest, height: UInt64, timestamp: UInt64) {
        self.label = label
        self.signer = signer
        self.transactionID = transactionID
        self.height = height
        self.timestamp = timestamp
    }

    init(from reader: inout CanonicalReader, field: String) throws(CanonicalDecodingError) {
        label = try reader.readString(field: "\(field).label", maxBytes: NotarizePayload.maxLabelBytes)
        signer = try reader.readPublicKey(field: "\(field).signer")
        transactionID = try reader.readDigest(field: "\(field).transactionID")
        height = try reader.readVarUInt(field: "\(field).height")
        timestamp = try reader.readVarUInt(field: "\(field).timestamp")
    }
}

/// Where a committed transaction is: its block height and position.
public struct TransactionLocation: Hashable, Sendable {
    /// The block height.
    public let height: UInt64
    /// The position in the block.
    public let index: Int

    /// Creates a location.
    public init(height: UInt64, index: Int) {
        self.height = height
        self.index = index
    }
}

/// The node's application: validates and executes blocks over committed state in LevelDB, and writes a
/// committed block, its certificate and its state changes in one synced batch.
///
/// Until the ledger application's registries land, the state is the per-signer sequence numbers, the
/// transaction index and the notarizations. Organization admin keys from genesis may notarize; every other
/// signer and kind is refused. The header's state root is a hash chain over the blocks' transaction roots:
/// a deterministic commitment to the ordered history, and so to the state it produces.
public final class LedgerExecutor {
    /// Keys under which the application keeps its committed state, beside the block store's namespaces.
    enum Keys {
        static let sequencePrefix = Array("app/seq/".utf8)
        static let transactionPrefix = Array("app/tx/".utf8)
        static let notarizationPrefix = Array("app/notary/".utf8)

        static func sequence(_ signer: Ed25519PublicKey) -> [UInt8] { sequencePrefix + signer.bytes }
        static func transaction(_ id: Digest) -> [UInt8] { transactionPrefix + id.bytes }
        static func notarization(_ digest: Digest) -> [UInt8] { notarizationPrefix + digest.bytes }
    }

    /// The chain this executor runs.
    public let genesis: Genesis
    /// The block store the executor commits into.
    public let store: BlockStore
    private let database: LevelDB
    private let authorizedSigners: Set<Ed25519PublicKey>
    private var executed: [Digest: ExecutedBlock] = [:]
    private var sequenceCache: [Ed25519PublicKey: UInt64] = [:]
    /// Transaction ids whose signatures were checked (by the mempool or an earlier execution).
    private var verifiedIDs: Set<Digest> = []
    private var verifiedOrder: [Digest] = []
    private static let verifiedCapacity = 200_000

    /// The committed tip's header.
    public private(set) var committedHeader: BlockHeader

    /// Opens the executor over `store`, whose tip (written by earlier runs, or genesis written now) is the
    /// committed state.
    public init(genesis: Genesis, genesisBlock: Block, store: BlockStore) throws(ApplicationStateError) {
        self.genesis = genesis
        self.store = store
        self.database = store.database
        self.authorizedSigners = Set(genesis.organizations.map(\.adminKey))
        if store.tip == nil {
            do {
                try store.append(
                    genesisBlock, certificate: .genesis(chainID: genesis.chainID, blockID: genesisBlock.id))
            } catch {
                throw .blockStore(error)
            }
        }
        guard let tip = store.tip else { throw .corrupt(key: "chain/tip", reason: "missing after writing genesis") }
        do {
            guard let header = try store.block(atHeight: tip.height)?.header else {
                throw ApplicationStateError.corrupt(key: "block/\(tip.height)", reason: "the tip block is missing")
            }
            if tip.height == 0, header.id != genesisBlock.id {
                throw ApplicationStateError.corrupt(
                    key: "block/0", reason: "is not this genesis file's block; the data directory is another chain's")
            }
            self.committedHeader = header
        } catch let error as ApplicationStateError {
            throw error
        } catch {
            throw .storage("\(error)")
        }
        executed[committedHeader.id] = ExecutedBlock(
            header: committedHeader, parentID: committedHeader.parentID, sequences: [:], notarizations: [:],
            transactionIDs: [])
    }

    // MARK: Committed state

    /// The next sequence `signer` must use in committed state.
    public func committedNextSequence(of signer: Ed25519PublicKey) -> UInt64 {
        if let cached = sequenceCache[signer] { return cached }
        let value: UInt64
        if let bytes = try? database.get(Keys.sequence(signer)), let decoded = UInt64(bigEndianBytes: bytes) {
            value = decoded
        } else {
            // Not cached: any key may be asked about, and only keys that committed something are worth keeping.
            return 1
        }
        if sequenceCache.count >= 100_000 { sequenceCache.removeAll(keepingCapacity: true) }
        sequenceCache[signer] = value
        return value
    }

    /// Whether `signer` may submit `kind`.
    public func isAuthorized(signer: Ed25519PublicKey, kind: TransactionKind) -> Bool {
        kind == .notarize && authorizedSigners.contains(signer)
    }

    /// Where the committed transaction `id` is, if it is committed.
    public func location(of id: Digest) -> TransactionLocation? {
        guard let bytes = try? database.get(Keys.transaction(id)), bytes.count == 12,
            let height = UInt64(bigEndianBytes: bytes[0..<8])
        else { return nil }
        let index = bytes[8..<12].reduce(0) { $0 << 8 | Int($1) }
        return TransactionLocation(height: height, index: index)
    }

    /// The committed notarization of `digest`, if any.
    public func notarization(of digest: Digest) -> NotarizationRecord? {
        guard let bytes = try? database.get(Keys.notarization(digest)),
            let value = try? NotarizationRecordValue.decode(canonical: bytes, field: "notarization")
        else { return nil }
        return NotarizationRecord(
            digest: digest, label: value.label, signer: value.signer, transactionID: value.transactionID,
            height: value.height, timestamp: value.timestamp)
    }

    /// Records that `id`'s signature verified, so executing it later does not verify it again.
    public func markVerified(_ id: Digest) {
        guard verifiedIDs.insert(id).inserted else { return }
        verifiedOrder.append(id)
        if verifiedOrder.count > Self.verifiedCapacity {
            let drop = verifiedOrder.count - Self.verifiedCapacity / 2
            for old in verifiedOrder[0..<drop] { verifiedIDs.remove(old) }
            verifiedOrder.removeFirst(drop)
        }
    }

    // MARK: Execution

    /// Whether `blockID` was executed here (and not yet dropped).
    public func hasExecuted(_ blockID: Digest) -> Bool { executed[blockID] != nil }

    /// Checks `block` against its executed parent and remembers its state changes. The parent must have been
    /// executed (consensus executes blocks in order).
    public func execute(_ block: Block) throws(ExecutionError) {
        let header = block.header
        guard executed[block.id] == nil else { return }
        guard let parent = executed[header.parentID] else {
            throw ExecutionError(field: "block.header.parentID", reason: "names a block that was not executed here")
        }
        guard header.timestamp >= parent.header.timestamp else {
            throw ExecutionError(field: "block.header.timestamp", reason: "is earlier than the parent's")
        }
        guard header.incidentLogSize == 0, header.incidentLogRoot == MerkleHash.emptyRoot else {
            throw ExecutionError(field: "block.header.incidentLogSize", reason: "must be 0: no incident is committed")
        }
        let maxBytes = min(genesis.parameters.maxBlockBytes, UInt64(LedgerLimits.blockBytes))
        guard UInt64(block.canonicalBytes.count) <= maxBytes else {
            throw ExecutionError(field: "block", reason: "is larger than the genesis limit of \(maxBytes) bytes")
        }
        guard header.nextValidatorSetHash == nil else {
            throw ExecutionError(field: "block.header.nextValidatorSetHash", reason: "must be absent")
        }
        let changes = try apply(block.transactions, after: parent, height: header.height, timestamp: header.timestamp)
        let root = Self.stateRoot(parent: parent.header.stateRoot, header: header)
        guard header.stateRoot == root else {
            throw ExecutionError(field: "block.header.stateRoot", reason: "does not match the executed state")
        }
        executed[block.id] = ExecutedBlock(
            header: header, parentID: header.parentID, sequences: changes.sequences,
            notarizations: changes.notarizations, transactionIDs: block.transactions.map(\.id))
    }

    /// Picks, from `candidates` in order, the transactions that execute on top of `parentID` (skipping the
    /// rest of a signer's run after one that does not), within the genesis block limits.
    public func selectExecutable(_ candidates: [Transaction], parentID: Digest, maxBytes byteLimit: Int? = nil)
        -> [Transaction]
    {
        guard let parent = executed[parentID] else { return [] }
        var sequences: [Ed25519PublicKey: UInt64] = [:]
        var blocked: Set<Ed25519PublicKey> = []
        var chosen: [Transaction] = []
        var bytes = 0
        let maxCount = Int(min(genesis.parameters.maxBlockTransactions, UInt64(LedgerLimits.blockTransactions)))
        let genesisBytes = Int(min(genesis.parameters.maxBlockBytes, UInt64(LedgerLimits.blockBytes))) - 64 * 1024
        let maxBytes = min(genesisBytes, byteLimit ?? genesisBytes)
        for tx in candidates where !blocked.contains(tx.signer) {
            let expected = sequences[tx.signer] ?? nextSequence(of: tx.signer, after: parent)
            let size = tx.canonicalBytes.count
            guard chosen.count < maxCount, bytes + size <= maxBytes else { break }
            // Already in an ancestor: not proposed again, and not a reason to stop the signer's run.
            if tx.sequence < expected { continue }
            guard tx.sequence == expected, (try? check(tx, field: "candidate")) != nil else {
                blocked.insert(tx.signer)
                continue
            }
            sequences[tx.signer] = expected + 1
            chosen.append(tx)
            bytes += size
        }
        return chosen
    }

    /// Builds the header fields that depend on execution for a block of `transactions` on `parentID`.
    public func stateRoot(forChildOf parentID: Digest, header: BlockHeader) -> Digest? {
        guard let parent = executed[parentID] else { return nil }
        return Self.stateRoot(parent: parent.header.stateRoot, header: header)
    }

    /// The ids of transactions in executed, uncommitted blocks from `blockID` back to the committed tip.
    public func uncommittedTransactionIDs(through blockID: Digest) -> Set<Digest> {
        var ids: Set<Digest> = []
        var cursor = executed[blockID]
        while let block = cursor, block.header.height > committedHeader.height {
            ids.formUnion(block.transactionIDs)
            cursor = executed[block.parentID]
        }
        return ids
    }

    /// The timestamp of the executed block `blockID`.
    public func timestamp(of blockID: Digest) -> UInt64? { executed[blockID]?.header.timestamp }

    // MARK: Commit

    /// Writes `block` (executed here, child of the committed tip) with `certificate` and its state changes in
    /// one synced batch, then forgets executed blocks that can no longer commit.
    public func commit(_ block: Block, certificate: QuorumCertificate) throws(ApplicationStateError) {
        let id = block.id
        guard let result = executed[id], block.header.parentID == committedHeader.id else {
            throw .notExecuted(height: block.header.height, blockID: id)
        }
        var batch = WriteBatch()
        for (signer, next) in result.sequences {
            batch.put(key: Keys.sequence(signer), value: StorageKeyspace.bigEndian(next))
        }
        for (index, txID) in result.transactionIDs.enumerated() {
            batch.put(
                key: Keys.transaction(txID),
                value: StorageKeyspace.bigEndian(block.header.height)
                    + StorageKeyspace.bigEndian(UInt64(index)).suffix(4))
        }
        for (digest, record) in result.notarizations {
            batch.put(key: Keys.notarization(digest), value: record.canonicalBytes)
        }
        do {
            try store.append(block, certificate: certificate, extraWrites: batch)
        } catch {
            throw .blockStore(error)
        }
        for (signer, next) in result.sequences { sequenceCache[signer] = next }
        if sequenceCache.count > 100_000 { sequenceCache.removeAll() }
        executed.removeValue(forKey: committedHeader.id)
        committedHeader = block.header
        executed[id] = ExecutedBlock(
            header: block.header, parentID: block.header.parentID, sequences: [:], notarizations: [:],
            transactionIDs: [])
        let height = block.header.height
        executed = executed.filter { $0.value.header.height > height || $0.key == id }
    }

    /// Executes and commits a block fetched from a peer whose commitment was proven by certificates.
    public func applyCommitted(_ block: Block, certificate: QuorumCertificate) throws(ApplicationStateError) {
        do throws(ExecutionError) {
            try execute(block)
        } catch {
            throw .corrupt(key: "block/\(block.header.height)", reason: "a certified block does not execute: \(error)")
        }
        try commit(block, certificate: certificate)
    }

    /// Forgets every executed, uncommitted block (after the consensus core restarts from the committed tip).
    public func resetSpeculation() {
        executed = [committedHeader.id: executed[committedHeader.id]!]
    }

    // MARK: Rules

    private struct Changes {
        var sequences: [Ed25519PublicKey: UInt64] = [:]
        var notarizations: [Digest: NotarizationRecordValue] = [:]
    }

    private func apply(_ transactions: [Transaction], after parent: ExecutedBlock, height: UInt64, timestamp: UInt64)
        throws(ExecutionError) -> Changes
    {
        var changes = Changes()
        guard UInt64(transactions.count) <= genesis.parameters.maxBlockTransactions else {
            throw ExecutionError(
                field: "block.transactions",
                reason: "holds more than \(genesis.parameters.maxBlockTransactions) transactions")
        }
        for (index, tx) in transactions.enumerated() {
            let field = "block.transactions[\(index)]"
            let expected = changes.sequences[tx.signer] ?? nextSequence(of: tx.signer, after: parent)
            guard tx.sequence == expected else {
                throw ExecutionError(field: "\(field).sequence", reason: "is \(tx.sequence), expected \(expected)")
            }
            let payload = try check(tx, field: field)
            changes.sequences[tx.signer] = expected + 1
            if changes.notarizations[payload.digest] == nil, notarizedBefore(payload.digest, after: parent) == false {
                changes.notarizations[payload.digest] = NotarizationRecordValue(
                    label: payload.label, signer: tx.signer, transactionID: tx.id, height: height,
                    timestamp: timestamp)
            }
        }
        return changes
    }

    private func check(_ tx: Transaction, field: String) throws(ExecutionError) -> NotarizePayload {
        guard tx.chainID == genesis.chainID else {
            throw ExecutionError(field: "\(field).chainID", reason: "is not \(genesis.chainID)")
        }
        guard isAuthorized(signer: tx.signer, kind: tx.kind) else {
            throw ExecutionError(field: "\(field).signer", reason: "may not submit \(tx.kind)")
        }
        let payload: NotarizePayload
        do {
            payload = try NotarizePayload.decode(canonical: tx.payload, field: "\(field).payload")
        } catch {
            throw ExecutionError(field: "\(field).payload", reason: "\(error)")
        }
        let id = tx.id
        if !verifiedIDs.contains(id) {
            guard tx.hasValidSignature else {
                throw ExecutionError(field: "\(field).signature", reason: "does not verify")
            }
            markVerified(id)
        }
        return payload
    }

    private func nextSequence(of signer: Ed25519PublicKey, after block: ExecutedBlock) -> UInt64 {
        var cursor: ExecutedBlock? = block
        while let current = cursor, current.header.height > committedHeader.height {
            if let value = current.sequences[signer] { return value }
            cursor = executed[current.parentID]
        }
        return committedNextSequence(of: signer)
    }

    private func notarizedBefore(_ digest: Digest, after block: ExecutedBlock) -> Bool {
        var cursor: ExecutedBlock? = block
        while let current = cursor, current.header.height > committedHeader.height {
            if current.notarizations[digest] != nil { return true }
            cursor = executed[current.parentID]
        }
        return (try? database.get(Keys.notarization(digest))) != nil
    }

    /// The state root of a block with `header` whose parent's state root is `parent`.
    static func stateRoot(parent: Digest, header: BlockHeader) -> Digest {
        var writer = CanonicalWriter()
        writer.write(parent)
        writer.writeVarUInt(header.height)
        writer.write(header.transactionRoot)
        writer.writeVarUInt(header.transactionCount)
        return SHA256.hash(tag: "ensure/state-chain/v1", writer.bytes)
    }
}
