public import API
import Codec
public import EnsureCrypto
public import Ledger
public import Mempool
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
    /// The state root after the block (for genesis, the root of the genesis state).
    let stateRoot: Digest
    /// Every state write the block makes.
    let changes: StateChanges
    let transactionIDs: [Digest]
    /// The next epoch's validators, when the block ends its epoch.
    var nextValidators: ValidatorSet? = nil
}

/// Committed state seen through the writes of executed, uncommitted ancestors (newest first).
struct ChainStateReader: LedgerStateReader {
    let database: LevelDB
    let pending: [StateChanges]
    /// Answers already read, for a reader that lives as long as one block's execution (nothing writes the
    /// database or the pending changes meanwhile). A block's transactions read their signer's role and
    /// organization each; with the cache that is one LevelDB read per signer and block.
    var cache: ReadCache? = nil
    /// Committed notarization keys, for a reader used by the executor's own turn: a key the filter has never
    /// seen is absent without a LevelDB read.
    var notarizations: NotarizationFilter? = nil
    /// Committed values read by earlier blocks, for a reader used by the executor's own turn; notarization keys
    /// are not kept there.
    var committed: CommittedStateCache? = nil

    /// Values a ``ChainStateReader`` read, absent ones included.
    final class ReadCache {
        var values: [StateKey: [UInt8]?] = [:]
    }

    func value(forKey key: [UInt8]) throws(LedgerStateError) -> [UInt8]? {
        guard let cache else { return try uncachedValue(forKey: key) }
        let cacheKey = StateKey(key)
        if let known = cache.values[cacheKey] { return known }
        let value = try uncachedValue(forKey: key)
        cache.values[cacheKey] = .some(value)
        return value
    }

    private func uncachedValue(forKey key: [UInt8]) throws(LedgerStateError) -> [UInt8]? {
        for changes in pending {
            if let value = changes.write(forKey: key) { return value }
        }
        let notarizationKey = NotarizationFilter.covers(key)
        if let notarizations, notarizationKey, !notarizations.mayContain(key: key) { return nil }
        guard let committed, !notarizationKey else { return try stored(key) }
        let stateKey = StateKey(key)
        if let known = committed.value(forKey: stateKey) { return known }
        let value = try stored(key)
        committed.remember(value, forKey: stateKey)
        return value
    }

    private func stored(_ key: [UInt8]) throws(LedgerStateError) -> [UInt8]? {
        do {
            return try database.get(key)
        } catch {
            throw .storage("\(error)")
        }
    }
}

/// Where a committed transaction is: its block height and position.
public struct TransactionLocation: Hashable, Sendable {
    /// The block height.
    public let height: UInt64
    /// The position in the block.
    public let index: Int
    /// Why it changed nothing but its signer's sequence, if it failed.
    public let failure: TransactionFailure?

    /// Creates a location.
    public init(height: UInt64, index: Int, failure: TransactionFailure? = nil) {
        self.height = height
        self.index = index
        self.failure = failure
    }
}

/// The node's application host: executes blocks with ``LedgerApplication`` over committed state in LevelDB seen
/// through the writes of uncommitted ancestors, and writes a committed block, its certificate and its state
/// changes in one synced batch.
public final class LedgerExecutor {
    /// The chain this executor runs.
    public let genesis: Genesis
    /// The block store the executor commits into.
    public let store: BlockStore
    private let database: LevelDB
    private var executed: [Digest: ExecutedBlock] = [:]
    private var sequenceCache: [Ed25519PublicKey: UInt64] = [:]
    private var roleCache: [Ed25519PublicKey: KeyRole?] = [:]
    /// Transaction ids whose signatures were checked, shared with the node's pre-checks off the actor.
    public let signatures: SignatureCache
    /// Every committed notarization key, so that a new digest's execution skips its LevelDB read.
    private let notarizations: NotarizationFilter
    /// Committed values that execution read, so that the next blocks do not read them from LevelDB again.
    private let committedReads = CommittedStateCache()
    /// Whether the last committed block wrote a role or an organization (which the node's pre-checks cache).
    public private(set) var lastCommitChangedRoles = false

    /// The committed tip's header.
    public private(set) var committedHeader: BlockHeader
    /// The chain parameters in committed state.
    public private(set) var parameters: GenesisParameters

    /// Opens the executor over `store`, whose tip (written by earlier runs, or genesis written now) is the
    /// committed state.
    public init(
        genesis: Genesis, genesisBlock: Block, store: BlockStore, signatures: SignatureCache = SignatureCache()
    ) throws(ApplicationStateError) {
        self.genesis = genesis
        self.signatures = signatures
        self.store = store
        self.database = store.database
        let genesisChanges = LedgerApplication.genesisChanges(genesis)
        if store.tip == nil {
            var batch = WriteBatch()
            Self.add(genesisChanges, to: &batch)
            do {
                try store.append(
                    genesisBlock, certificate: .genesis(chainID: genesis.chainID, blockID: genesisBlock.id),
                    extraWrites: batch)
            } catch {
                throw .blockStore(error)
            }
        }
        guard let tip = store.tip else { throw .corrupt(key: "chain/tip", reason: "missing after writing genesis") }
        do {
            notarizations = try NotarizationFilter.load(from: database)
        } catch {
            throw .storage("cannot read the notarizations: \(error)")
        }
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
        let committed = ChainStateReader(database: database, pending: [])
        do {
            parameters = try LedgerApplication.parameters(in: committed)
        } catch {
            throw .corrupt(
                key: "app/params",
                reason: "\(error); the data directory predates the ledger application: remove it and resync")
        }
        let genesisRoot = LedgerApplication.stateRoot(parent: .zero, height: 0, changes: genesisChanges)
        executed[committedHeader.id] = ExecutedBlock(
            header: committedHeader, parentID: committedHeader.parentID,
            stateRoot: committedHeader.height == 0 ? genesisRoot : committedHeader.stateRoot, changes: StateChanges(),
            transactionIDs: [])
    }

    private static func add(_ changes: StateChanges, to batch: inout WriteBatch) {
        for (key, value) in changes.writes {
            if let value { batch.put(key: key.bytes, value: value) } else { batch.delete(key: key.bytes) }
        }
        for (key, value) in changes.notes { batch.put(key: key, value: value) }
    }

    // MARK: Committed state

    /// Committed state, for reads.
    public var committedState: some LedgerStateReader {
        ChainStateReader(database: database, pending: [], committed: committedReads)
    }

    /// The next sequence `signer` must use in committed state.
    public func committedNextSequence(of signer: Ed25519PublicKey) -> UInt64 {
        if let cached = sequenceCache[signer] { return cached }
        guard let bytes = try? database.get(StateKeys.sequence(signer)), let value = StateKeys.uint64(bytes) else {
            // Not cached: any key may be asked about, and only keys that committed something are worth keeping.
            return 1
        }
        if sequenceCache.count >= 100_000 { sequenceCache.removeAll(keepingCapacity: true) }
        sequenceCache[signer] = value
        return value
    }

    /// What `signer` is in committed state.
    public func role(of signer: Ed25519PublicKey) -> KeyRole? {
        if let cached = roleCache[signer] { return cached }
        let role = try? LedgerApplication.role(of: signer, in: committedState)
        if roleCache.count >= 100_000 { roleCache.removeAll(keepingCapacity: true) }
        roleCache[signer] = .some(role)
        return role
    }

    /// The epoch consensus is in after the committed tip, and its validator set.
    public func committedEpoch() throws(ApplicationStateError) -> (epoch: UInt64, validators: ValidatorSet) {
        do {
            return try LedgerApplication.activeValidators(in: committedState)
        } catch {
            throw .corrupt(key: "app/epoch", reason: "\(error)")
        }
    }

    /// The validator set of `epoch`, if the committed state reached it.
    public func validators(ofEpoch epoch: UInt64) -> ValidatorSet? {
        try? LedgerApplication.decode(ValidatorSet.self, at: StateKeys.epochValidators(epoch), in: committedState)
    }

    /// Every node key that may connect: the active validators and those governance decided for the next epoch
    /// (so they can catch up before it starts).
    public func committedValidatorKeys() -> Set<Ed25519PublicKey> {
        var keys = Set((try? committedEpoch())?.validators.members ?? [])
        if let decided = try? LedgerApplication.decode(
            ValidatorSet.self, at: StateKeys.validatorSet, in: committedState)
        {
            keys.formUnion(decided.members)
        }
        return keys
    }

    /// Whether `signer` may submit `kind`, in committed state.
    public func isAuthorized(signer: Ed25519PublicKey, kind: TransactionKind) -> Bool {
        LedgerApplication.may(role(of: signer), submit: kind)
    }

    /// Where the committed transaction `id` is, and whether it applied, if it is committed.
    public func location(of id: Digest) -> TransactionLocation? {
        guard let bytes = try? database.get(StateKeys.receipt(id)),
            let receipt = try? TransactionReceipt.decode(canonical: bytes, field: "receipt")
        else { return nil }
        let failure = receipt.failure.map { stored in
            let note = (try? database.get(StateKeys.receiptNote(id))).flatMap { $0 }
            return TransactionFailure(stored.code, note.map { String(decoding: $0, as: UTF8.self) } ?? stored.reason)
        }
        return TransactionLocation(height: receipt.height, index: Int(receipt.index), failure: failure)
    }

    /// The committed notarization of `digest`, if any: the entry says where the transaction sits, and the label,
    /// signer and time come from that block. An entry that does not lead to a notarization of `digest` is not one.
    public func notarization(of digest: Digest) -> NotarizationRecord? {
        guard let bytes = try? database.get(StateKeys.notarization(digest)),
            let entry = try? NotarizationEntry.decode(canonical: bytes, field: "notarization"),
            let block = try? store.block(atHeight: entry.height),
            Int(entry.index) < block.transactions.count
        else { return nil }
        let tx = block.transactions[Int(entry.index)]
        guard tx.kind == .notarize,
            let payload = try? NotarizePayload.decode(canonical: tx.payload, field: "payload"),
            payload.digest == digest
        else { return nil }
        return NotarizationRecord(
            digest: digest, label: payload.label, signer: tx.signer, transactionID: tx.id, height: entry.height,
            timestamp: block.header.timestamp)
    }

    /// Records that `id`'s signature verified, so executing it later does not verify it again.
    public func markVerified(_ id: Digest) { signatures.insert(id) }

    // MARK: Execution

    /// Whether `blockID` was executed here (and not yet dropped).
    public func hasExecuted(_ blockID: Digest) -> Bool { executed[blockID] != nil }

    /// State after the executed block `block`: committed state seen through it and its uncommitted ancestors.
    private func state(after block: ExecutedBlock) -> ChainStateReader? {
        var pending: [StateChanges] = []
        var cursor: ExecutedBlock? = block
        while let current = cursor, current.header.height > committedHeader.height {
            pending.append(current.changes)
            cursor = executed[current.parentID]
        }
        // A block on a fork that lost its link to the committed tip cannot execute: its state is unknowable here.
        guard cursor?.header.id == committedHeader.id else { return nil }
        return ChainStateReader(database: database, pending: pending, committed: committedReads)
    }

    /// `signaturesChecked`: every signature of `transactions` verified just before, so execution asks nothing of
    /// the signature cache.
    private func run(
        _ transactions: [Transaction], header: BlockHeader, parent: ExecutedBlock, signaturesChecked: Bool = false
    ) throws(ExecutionError) -> BlockExecution {
        guard var reader = state(after: parent) else {
            throw ExecutionError(field: "block.header.parentID", reason: "does not descend from the committed tip")
        }
        reader.cache = ChainStateReader.ReadCache()
        reader.notarizations = notarizations
        do {
            return try LedgerApplication.executeBlock(
                transactions, chainID: genesis.chainID, height: header.height, timestamp: header.timestamp,
                parentStateRoot: parent.stateRoot, on: reader
            ) { tx, _ in signaturesChecked || signatures.verify(tx) }
        } catch {
            switch error {
            case .invalid(let field, let reason): throw ExecutionError(field: field, reason: reason)
            case .state(let error): throw ExecutionError(field: "state", reason: "\(error)")
            }
        }
    }

    private func checkHeader(_ block: Block, parent: ExecutedBlock) throws(ExecutionError) {
        let header = block.header
        guard header.timestamp >= parent.header.timestamp else {
            throw ExecutionError(field: "block.header.timestamp", reason: "is earlier than the parent's")
        }
        let limits = state(after: parent).flatMap { try? LedgerApplication.parameters(in: $0) } ?? parameters
        let maxBytes = min(limits.maxBlockBytes, UInt64(LedgerLimits.blockBytes))
        guard UInt64(block.canonicalBytes.count) <= maxBytes else {
            throw ExecutionError(field: "block", reason: "is larger than the limit of \(maxBytes) bytes")
        }
    }

    /// Checks `block` against its executed parent and remembers its state changes; returns the next epoch's
    /// validator set when the block ends its epoch. The parent must have been executed (consensus executes blocks
    /// in order).
    ///
    /// `signaturesChecked` says the caller verified every transaction's signature in this very block (the engine's
    /// pre-check of a proposal), so the signature cache is not asked again.
    @discardableResult
    public func execute(_ block: Block, signaturesChecked: Bool = false) throws(ExecutionError) -> ValidatorSet? {
        let header = block.header
        if let done = executed[block.id] { return done.nextValidators }
        guard let parent = executed[header.parentID] else {
            throw ExecutionError(field: "block.header.parentID", reason: "names a block that was not executed here")
        }
        try checkHeader(block, parent: parent)
        let result = try run(
            block.transactions, header: header, parent: parent, signaturesChecked: signaturesChecked)
        guard header.incidentLogSize == result.incidentLogSize else {
            throw ExecutionError(
                field: "block.header.incidentLogSize",
                reason: "is \(header.incidentLogSize), executed \(result.incidentLogSize)")
        }
        guard header.incidentLogRoot == result.incidentLogRoot else {
            throw ExecutionError(field: "block.header.incidentLogRoot", reason: "does not match the executed log")
        }
        guard header.stateRoot == result.stateRoot else {
            throw ExecutionError(field: "block.header.stateRoot", reason: "does not match the executed state")
        }
        guard header.nextValidatorSetHash == result.nextValidators?.hash else {
            throw ExecutionError(
                field: "block.header.nextValidatorSetHash",
                reason: result.nextValidators == nil
                    ? "must be absent: the block does not end its epoch"
                    : "must name the validator set governance decided, which this block activates")
        }
        executed[block.id] = ExecutedBlock(
            header: header, parentID: header.parentID, stateRoot: result.stateRoot, changes: result.changes,
            transactionIDs: result.transactionIDs, nextValidators: result.nextValidators)
        return result.nextValidators
    }

    /// Executes a block this node proposes: fills the header's incident-log and state fields from the execution
    /// and remembers the result under the final block id. Nil when the parent was not executed here or a
    /// transaction does not execute (the proposal is then built without transactions).
    ///
    /// `signaturesChecked` as for ``execute(_:signaturesChecked:)``: the transactions came from
    /// ``transactionsToPropose(from:parentID:maxMessageBytes:)``, which verified them.
    public func prepare(_ transactions: [Transaction], header template: BlockHeader, signaturesChecked: Bool = false)
        -> BlockHeader?
    {
        guard
            let (header, result) = executeTemplate(transactions, header: template, signaturesChecked: signaturesChecked)
        else { return nil }
        executed[header.id] = ExecutedBlock(
            header: header, parentID: header.parentID, stateRoot: result.stateRoot, changes: result.changes,
            transactionIDs: result.transactionIDs, nextValidators: result.nextValidators)
        return header
    }

    /// The header `template` with the incident-log and state fields that executing `transactions` on its parent
    /// gives, without remembering the execution; nil when it does not execute.
    public func preview(_ transactions: [Transaction], header template: BlockHeader) -> BlockHeader? {
        executeTemplate(transactions, header: template)?.0
    }

    private func executeTemplate(
        _ transactions: [Transaction], header template: BlockHeader, signaturesChecked: Bool = false
    ) -> (BlockHeader, BlockExecution)? {
        guard let parent = executed[template.parentID],
            let result = try? run(transactions, header: template, parent: parent, signaturesChecked: signaturesChecked)
        else { return nil }
        var header = template
        header.incidentLogSize = result.incidentLogSize
        header.incidentLogRoot = result.incidentLogRoot
        header.stateRoot = result.stateRoot
        header.nextValidatorSetHash = result.nextValidators?.hash
        return (header, result)
    }

    /// The block limits in force for a child of `parentID` (committed parameters when the parent is unknown).
    public func limits(forChildOf parentID: Digest) -> GenesisParameters {
        guard let parent = executed[parentID] else { return parameters }
        return state(after: parent).flatMap { try? LedgerApplication.parameters(in: $0) } ?? parameters
    }

    /// Picks, from `candidates` in order, the transactions that can go into a block on `parentID`: the next in
    /// their signer's sequence and validly signed (skipping the rest of a signer's run after one that is not),
    /// within the block limits. A transaction that will fail under the application rules is still picked: it
    /// commits with a receipt that says why.
    public func selectExecutable(_ candidates: [Transaction], parentID: Digest, maxBytes byteLimit: Int? = nil)
        -> [Transaction]
    {
        guard let parent = executed[parentID] else { return [] }
        guard let reader = state(after: parent) else { return [] }
        let limits = self.limits(forChildOf: parentID)
        var sequences: [Ed25519PublicKey: UInt64] = [:]
        var blocked: Set<Ed25519PublicKey> = []
        var chosen: [Transaction] = []
        var bytes = 0
        let maxCount = Int(min(limits.maxBlockTransactions, UInt64(LedgerLimits.blockTransactions)))
        let limitBytes = Int(min(limits.maxBlockBytes, UInt64(LedgerLimits.blockBytes))) - 64 * 1024
        let maxBytes = min(limitBytes, byteLimit ?? limitBytes)
        for tx in candidates where !blocked.contains(tx.signer) {
            let expected: UInt64
            if let next = sequences[tx.signer] {
                expected = next
            } else {
                let stored = (try? reader.value(forKey: StateKeys.sequence(tx.signer))).flatMap { $0 }
                expected = stored.flatMap(StateKeys.uint64) ?? 1
            }
            let size = tx.canonicalBytes.count
            guard chosen.count < maxCount, bytes + size <= maxBytes else { break }
            // Already in an ancestor: not proposed again, and not a reason to stop the signer's run.
            if tx.sequence < expected { continue }
            guard tx.sequence == expected, tx.chainID == genesis.chainID, signatures.verify(tx) else {
                blocked.insert(tx.signer)
                continue
            }
            sequences[tx.signer] = expected + 1
            chosen.append(tx)
            bytes += size
        }
        return chosen
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

    /// How many transactions of the last committed block committed with a failure receipt (for metrics).
    public private(set) var lastCommitFailures = 0

    /// Writes `block` (executed here, child of the committed tip) with `certificate` and its state changes in
    /// one synced batch, then forgets executed blocks that can no longer commit.
    public func commit(_ block: Block, certificate: QuorumCertificate) throws(ApplicationStateError) {
        let id = block.id
        guard let result = executed[id], block.header.parentID == committedHeader.id else {
            throw .notExecuted(height: block.header.height, blockID: id)
        }
        var batch = WriteBatch()
        Self.add(result.changes, to: &batch)
        do {
            try store.append(block, certificate: certificate, extraWrites: batch)
        } catch {
            throw .blockStore(error)
        }
        for key in result.changes.writes.keys { notarizations.insert(key: key.bytes) }
        committedReads.apply(result.changes)
        for (key, value) in result.changes.writes where key.bytes.starts(with: StateKeys.sequencePrefix) {
            guard let signer = Ed25519PublicKey(bytes: Array(key.bytes.dropFirst(StateKeys.sequencePrefix.count))),
                let next = value.flatMap(StateKeys.uint64)
            else { continue }
            sequenceCache[signer] = next
        }
        if sequenceCache.count > 100_000 { sequenceCache.removeAll() }
        lastCommitChangedRoles =
            result.changes.touches(prefix: StateKeys.rolePrefix)
            || result.changes.touches(prefix: StateKeys.organizationPrefix)
        if lastCommitChangedRoles { roleCache.removeAll() }
        if result.changes.write(forKey: StateKeys.parameters) != nil,
            let updated = try? LedgerApplication.parameters(in: committedState)
        {
            parameters = updated
        }
        lastCommitFailures = result.changes.notes.keys.count(where: { $0.starts(with: StateKeys.receiptNotePrefix) })
        executed.removeValue(forKey: committedHeader.id)
        committedHeader = block.header
        executed[id] = ExecutedBlock(
            header: block.header, parentID: block.header.parentID, stateRoot: result.stateRoot,
            changes: StateChanges(), transactionIDs: [])
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

    /// What a proposal on `parentID` carries: the mempool's transactions in proposal order, minus those already in
    /// uncommitted ancestors, within the block limits of the parent's state and one transport frame of
    /// `maxMessageBytes` (less 64 KiB for the rest of the message), and only those that execute there.
    public func transactionsToPropose(from mempool: Mempool, parentID: Digest, maxMessageBytes: Int) -> [Transaction] {
        let limits = limits(forChildOf: parentID)
        // A block must also fit one transport frame, or peers would never receive it.
        let maxBytes = min(Int(min(limits.maxBlockBytes, UInt64(LedgerLimits.blockBytes))), maxMessageBytes) - 64 * 1024
        let candidates = mempool.reap(
            maxCount: Int(limits.maxBlockTransactions), maxBytes: maxBytes,
            excluding: uncommittedTransactionIDs(through: parentID))
        return selectExecutable(candidates, parentID: parentID, maxBytes: maxBytes)
    }

    /// Forgets every executed, uncommitted block (after the consensus core restarts from the committed tip).
    public func resetSpeculation() {
        executed = [committedHeader.id: executed[committedHeader.id]!]
    }
}
