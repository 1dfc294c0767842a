public import Codec
public import EnsureCrypto

/// Why a committed transaction changed nothing but its signer's sequence: a stable code and a sentence.
public struct TransactionFailure: Error, Hashable, Sendable, CustomStringConvertible {
    /// A stable, machine-readable code (`unauthorized`, `conflict`, `expired`, ...).
    public let code: String
    /// What was wrong, naming the field or object.
    public let reason: String

    /// Creates a failure.
    public init(_ code: String, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { "\(code): \(reason)" }

    static func unauthorized(_ reason: String) -> Self { .init("unauthorized", reason) }
    static func invalidPayload(_ reason: String) -> Self { .init("invalid-payload", reason) }
    static func notFound(_ reason: String) -> Self { .init("not-found", reason) }
    static func conflict(_ reason: String) -> Self { .init("conflict", reason) }
}

/// What became of a committed transaction: where it is, and whether it applied.
public struct TransactionReceipt: Hashable, Sendable {
    /// The block height.
    public var height: UInt64
    /// The position in the block.
    public var index: UInt32
    /// Why it did not apply, if it did not.
    public var failure: TransactionFailure?

    /// Creates a receipt.
    public init(height: UInt64, index: UInt32, failure: TransactionFailure? = nil) {
        self.height = height
        self.index = index
        self.failure = failure
    }
}

extension TransactionReceipt: CanonicalCodable {
    public static var maxEncodedSize: Int { 12 + 1 + 2 + 64 + 3 + 1024 }

    /// Height (8 bytes, big-endian), index (4 bytes, big-endian), then, for a failure only, code and reason.
    public func encode(to writer: inout CanonicalWriter) {
        writer.writeFixedBytes(StateKeys.bigEndian(height))
        writer.writeFixedBytes(Array(StateKeys.bigEndian(UInt64(index)).suffix(4)))
        if let failure {
            writer.writeByte(1)
            writer.writeString(failure.code)
            writer.writeString(failure.reason)
        }
    }

    public init(from reader: inout CanonicalReader, field: String) throws(CanonicalDecodingError) {
        height = StateKeys.uint64(try reader.readFixedBytes(count: 8, field: "\(field).height"))!
        index = try reader.readFixedBytes(count: 4, field: "\(field).index").reduce(0) { $0 << 8 | UInt32($1) }
        if reader.isAtEnd {
            failure = nil
        } else {
            _ = try reader.readVersion(field: "\(field).failure", supported: 1...1)
            failure = TransactionFailure(
                try reader.readString(field: "\(field).failure.code", maxBytes: 64),
                try reader.readString(field: "\(field).failure.reason", maxBytes: 1024))
        }
    }
}

/// Why a block cannot execute at all (as opposed to a transaction that fails inside it).
public enum BlockExecutionError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The block breaks a rule every block must keep: the field and the reason.
    case invalid(field: String, reason: String)
    /// State could not be read.
    case state(LedgerStateError)

    public var description: String {
        switch self {
        case .invalid(let field, let reason): return "\(field) \(reason)"
        case .state(let error): return "\(error)"
        }
    }
}

/// The outcome of executing one block on a state.
public struct BlockExecution: Sendable {
    /// Every state write the block makes (sequences, receipts, registries, incidents, log nodes).
    public var changes: StateChanges
    /// One receipt per transaction, in block order.
    public var receipts: [TransactionReceipt]
    /// The transaction ids, in block order.
    public var transactionIDs: [Digest]
    /// The incident-log size after the block.
    public var incidentLogSize: UInt64
    /// The incident-log root after the block.
    public var incidentLogRoot: Digest
    /// The state root after the block.
    public var stateRoot: Digest
    /// Set when the block ends its epoch: the validator set of the next one (the header names its hash).
    public var nextValidators: ValidatorSet?
}

/// The ledger's application: a deterministic state machine over ``LedgerStateReader`` state. Every honest node
/// executing the same blocks on the same state makes byte-identical writes and roots.
///
/// A block is invalid (and no validator votes for it) when a transaction is for another chain, out of sequence
/// or badly signed. Any other rule a transaction breaks makes it *fail*: it stays in the block, uses its sequence
/// number, changes nothing else, and its receipt says why.
public enum LedgerApplication {
    /// The state a chain starts from: genesis organizations, validators and parameters.
    public static func genesisChanges(_ genesis: Genesis) -> StateChanges {
        var overlay = StateOverlay(base: InMemoryLedgerState())
        for organization in genesis.organizations {
            let record = OrganizationRecord(
                name: organization.name, adminKey: organization.adminKey, incidentKey: organization.incidentKey,
                joinedHeight: 0)
            overlay.set(StateKeys.organization(record.name), record.canonicalBytes)
            overlay.set(StateKeys.organizationName(record.name), [])
            overlay.set(
                StateKeys.role(record.adminKey), KeyRole.organizationAdmin(organization: record.name).canonicalBytes)
            if let key = record.incidentKey {
                overlay.set(StateKeys.sealKey(key), Array("org:\(record.name)".utf8))
            }
        }
        var perOrganization: [String: UInt64] = [:]
        for validator in genesis.validators {
            overlay.set(
                StateKeys.validator(validator.nodeKey),
                ValidatorRecord(nodeKey: validator.nodeKey, organization: validator.organization).canonicalBytes)
            perOrganization[validator.organization, default: 0] += 1
        }
        for (organization, count) in perOrganization {
            overlay.set(organizationValidatorsKey(organization), StateKeys.bigEndian(count))
        }
        overlay.set(validatorCountKey, StateKeys.bigEndian(UInt64(genesis.validators.count)))
        if let set = ValidatorSet(genesis.validators.map(\.nodeKey)) {
            overlay.set(StateKeys.validatorSet, set.canonicalBytes)
            overlay.set(StateKeys.epochValidators(0), set.canonicalBytes)
        }
        overlay.set(StateKeys.epoch, StateKeys.bigEndian(0))
        overlay.set(StateKeys.memberCount, StateKeys.bigEndian(UInt64(genesis.organizations.count)))
        overlay.set(StateKeys.parameters, genesis.parameters.canonicalBytes)
        overlay.set(StateKeys.incidentLogSize, StateKeys.bigEndian(0))
        return overlay.changes
    }

    // MARK: Reading state

    /// What `key` is on the ledger, if anything.
    public static func role(of key: Ed25519PublicKey, in state: some LedgerStateReader) throws(LedgerStateError)
        -> KeyRole?
    {
        try decode(KeyRole.self, at: StateKeys.role(key), in: state)
    }

    /// Whether a key with `role` may submit transactions of `kind` at all (the organization it acts for must
    /// also still be a member when the transaction executes).
    public static func may(_ role: KeyRole?, submit kind: TransactionKind) -> Bool {
        switch (role, kind) {
        case (.organizationAdmin?, .notarize), (.plugin?, .notarize): return true
        case (.organizationAdmin?, .incidentReport), (.plugin?, .incidentReport): return true
        case (.organizationAdmin?, .incidentUpdate): return true
        case (.organizationAdmin?, .governancePropose), (.organizationAdmin?, .governanceVote): return true
        case (.issuer?, .statusListPublish), (.issuer?, .issuerKeys): return true
        default: return false
        }
    }

    /// The chain parameters in force.
    public static func parameters(in state: some LedgerStateReader) throws(LedgerStateError) -> GenesisParameters {
        guard let parameters = try decode(GenesisParameters.self, at: StateKeys.parameters, in: state) else {
            throw .corrupt(key: "app/params", reason: "missing")
        }
        return parameters
    }

    /// Decodes the value at `key`, or nil when there is none.
    public static func decode<T: CanonicalDecodable>(_ type: T.Type, at key: [UInt8], in state: some LedgerStateReader)
        throws(LedgerStateError) -> T?
    {
        guard let bytes = try state.value(forKey: key) else { return nil }
        do {
            return try T.decode(canonical: bytes)
        } catch {
            throw .corrupt(key: String(decoding: key.prefix(16), as: UTF8.self), reason: "\(error)")
        }
    }

    static func counter(_ key: [UInt8], in state: some LedgerStateReader) throws(LedgerStateError) -> UInt64 {
        guard let bytes = try state.value(forKey: key) else { return 0 }
        guard let value = StateKeys.uint64(bytes) else {
            throw .corrupt(key: String(decoding: key, as: UTF8.self), reason: "not 8 bytes")
        }
        return value
    }

    // MARK: Blocks

    /// Executes `transactions` as the block at `height` with time `timestamp` on `base`, the state after its
    /// parent. `isSignatureValid` checks a transaction's signature (the node caches what it verified already).
    public static func executeBlock<Base: LedgerStateReader>(
        _ transactions: [Transaction], chainID: String, height: UInt64, timestamp: UInt64, parentStateRoot: Digest,
        on base: Base, isSignatureValid: (Transaction, Digest) -> Bool
    ) throws(BlockExecutionError) -> BlockExecution {
        var state = StateOverlay(base: base)
        var receipts: [TransactionReceipt] = []
        var ids: [Digest] = []
        var sequences: [Ed25519PublicKey: UInt64] = [:]
        var leaves: [Digest] = []
        receipts.reserveCapacity(transactions.count)
        ids.reserveCapacity(transactions.count)
        func reading<T>(_ body: () throws(LedgerStateError) -> T) throws(BlockExecutionError) -> T {
            do { return try body() } catch { throw .state(error) }
        }
        do {
            let parameters = try reading { () throws(LedgerStateError) in try Self.parameters(in: state) }
            guard UInt64(transactions.count) <= parameters.maxBlockTransactions else {
                throw BlockExecutionError.invalid(
                    field: "block.transactions",
                    reason: "holds \(transactions.count) transactions, more than \(parameters.maxBlockTransactions)")
            }
            var logSize = try reading { () throws(LedgerStateError) in
                try counter(StateKeys.incidentLogSize, in: state)
            }
            var context = Context(height: height, timestamp: timestamp, parameters: parameters)
            // Signers whose role was read, and whose organization was a member, since the last transaction that
            // could change either: only notarizations leave roles and organizations alone.
            var standing: [Ed25519PublicKey: KeyRole?] = [:]
            for (index, tx) in transactions.enumerated() {
                context.index = UInt32(index)
                func field(_ name: String) -> String { "block.transactions[\(index)].\(name)" }
                guard tx.chainID == chainID else {
                    throw BlockExecutionError.invalid(field: field("chainID"), reason: "is not \(chainID)")
                }
                let expected: UInt64
                if let next = sequences[tx.signer] {
                    expected = next
                } else {
                    expected = max(
                        1,
                        try reading { () throws(LedgerStateError) in
                            try counter(StateKeys.sequence(tx.signer), in: state)
                        })
                }
                guard tx.sequence == expected else {
                    throw BlockExecutionError.invalid(
                        field: field("sequence"), reason: "is \(tx.sequence), expected \(expected)")
                }
                let id = tx.id
                guard isSignatureValid(tx, id) else {
                    throw BlockExecutionError.invalid(field: field("signature"), reason: "does not verify")
                }
                sequences[tx.signer] = expected + 1
                state.set(StateKeys.sequence(tx.signer), StateKeys.bigEndian(expected + 1))
                state.discardUndo()
                let checkpoint = state.checkpoint
                var failure: TransactionFailure?
                var leaf: IncidentLogEntry?
                do throws(TransactionFailure) {
                    leaf = try apply(
                        tx, id: id, context: context, logSize: logSize, standing: &standing, state: &state)
                } catch {
                    guard error.code != stateFailureCode else {
                        throw BlockExecutionError.state(.storage(error.reason))
                    }
                    failure = error
                    state.rollback(to: checkpoint)
                }
                if let leaf {
                    let bytes = leaf.canonicalBytes
                    state.set(StateKeys.incidentLeaf(logSize), bytes)
                    leaves.append(MerkleHash.leaf(bytes))
                    logSize += 1
                }
                // The state keeps the stable code; the sentence goes beside it, outside the state root.
                let stored = TransactionReceipt(
                    height: height, index: UInt32(index), failure: failure.map { TransactionFailure($0.code, "") })
                state.set(StateKeys.receipt(id), stored.canonicalBytes)
                if let failure { state.note(StateKeys.receiptNote(id), failure.reason) }
                receipts.append(TransactionReceipt(height: height, index: UInt32(index), failure: failure))
                ids.append(id)
                if tx.kind != .notarize { standing.removeAll() }
            }
            let root = try reading { () throws(LedgerStateError) in
                try appendLeaves(leaves, newSize: logSize, state: &state)
            }
            let next = try reading { () throws(LedgerStateError) in
                try endEpochIfDue(height: height, parameters: parameters, state: &state)
            }
            if !leaves.isEmpty { state.set(StateKeys.incidentLogSize, StateKeys.bigEndian(logSize)) }
            let changes = state.changes
            return BlockExecution(
                changes: changes, receipts: receipts, transactionIDs: ids, incidentLogSize: logSize,
                incidentLogRoot: root,
                stateRoot: stateRoot(parent: parentStateRoot, height: height, changes: changes),
                nextValidators: next)
        }
    }

    /// At heights that are multiples of `epoch_length_blocks`, a validator set that governance changed becomes the
    /// next epoch's: the block ends its epoch and names the new set. Returns that set, or nil.
    private static func endEpochIfDue<Base>(
        height: UInt64, parameters: GenesisParameters, state: inout StateOverlay<Base>
    ) throws(LedgerStateError) -> ValidatorSet? {
        guard height % parameters.epochLengthBlocks == 0 else { return nil }
        let (epoch, active) = try activeValidators(in: state)
        guard let decided = try decode(ValidatorSet.self, at: StateKeys.validatorSet, in: state) else {
            throw .corrupt(key: "app/validatorset", reason: "missing")
        }
        guard decided != active else { return nil }
        state.set(StateKeys.epoch, StateKeys.bigEndian(epoch + 1))
        state.set(StateKeys.epochValidators(epoch + 1), decided.canonicalBytes)
        return decided
    }

    /// The epoch whose validators are active after the state's last block, and that set.
    public static func activeValidators(in state: some LedgerStateReader) throws(LedgerStateError)
        -> (epoch: UInt64, validators: ValidatorSet)
    {
        let epoch = try counter(StateKeys.epoch, in: state)
        guard let set = try decode(ValidatorSet.self, at: StateKeys.epochValidators(epoch), in: state) else {
            throw .corrupt(key: "app/epochs/\(epoch)", reason: "missing")
        }
        return (epoch, set)
    }

    /// The state root after a block: a hash chain over the parent's root, the height and the digest of the block's
    /// writes, so equal roots mean equal histories of state.
    public static func stateRoot(parent: Digest, height: UInt64, changes: StateChanges) -> Digest {
        var writer = CanonicalWriter()
        writer.write(parent)
        writer.writeVarUInt(height)
        writer.write(changes.digest)
        return SHA256.hash(tag: "ensure/state/v1", writer.bytes)
    }

    private static func appendLeaves<Base>(_ leaves: [Digest], newSize: UInt64, state: inout StateOverlay<Base>)
        throws(LedgerStateError) -> Digest
    {
        do {
            let oldSize = newSize - UInt64(leaves.count)
            if !leaves.isEmpty {
                let append = try MerkleLog(source: StateMerkleSource(reader: state), size: oldSize).appending(leaves)
                for (position, digest) in append.writes { state.set(StateKeys.merkleNode(position), digest.bytes) }
            }
            return try MerkleLog(source: StateMerkleSource(reader: state), size: newSize).root()
        } catch let error as LedgerStateError {
            throw error
        } catch {
            throw .corrupt(key: "merkle/", reason: "\(error)")
        }
    }

    // MARK: Transactions

    struct Context {
        let height: UInt64
        let timestamp: UInt64
        let parameters: GenesisParameters
        /// The position of the transaction being applied in its block.
        var index: UInt32 = 0
    }

    /// Applies one transaction's effects, or throws why it fails; returns the incident-log entry it adds, if any.
    /// `standing` remembers signers whose role was read and whose organization, if any, is a member, in the state
    /// as it is now; the caller empties it when a transaction may have changed roles or organizations.
    static func apply<Base>(
        _ tx: Transaction, id: Digest, context: Context, logSize: UInt64,
        standing: inout [Ed25519PublicKey: KeyRole?], state: inout StateOverlay<Base>
    ) throws(TransactionFailure) -> IncidentLogEntry? {
        let known = standing[tx.signer]
        let role: KeyRole?
        if let known {
            role = known
        } else {
            role = try read { () throws(LedgerStateError) in try Self.role(of: tx.signer, in: state) }
        }
        guard may(role, submit: tx.kind) else {
            throw .unauthorized("\(tx.signer.keyID) may not submit \(tx.kind)")
        }
        if known == nil {
            if let organization = role?.organization {
                guard try exists(StateKeys.organization(organization), in: state) else {
                    throw .unauthorized("organization \(organization) is no longer a member")
                }
            }
            standing[tx.signer] = .some(role)
        }
        switch tx.kind {
        case .notarize:
            let payload = try decodePayload(NotarizePayload.self, tx)
            try notarize(payload, tx: tx, id: id, context: context, state: &state)
            return nil
        case .incidentReport:
            let record = try decodePayload(IncidentRecord.self, tx)
            return try report(
                record, tx: tx, organization: role!.organization!, context: context, logSize: logSize, state: &state)
        case .incidentUpdate:
            let update = try decodePayload(IncidentUpdatePayload.self, tx)
            return try self.update(
                update, tx: tx, organization: role!.organization!, context: context, logSize: logSize, state: &state)
        case .governancePropose:
            let payload = try decodePayload(ProposePayload.self, tx)
            try propose(payload, id: id, organization: role!.organization!, context: context, state: &state)
            return nil
        case .governanceVote:
            let payload = try decodePayload(VotePayload.self, tx)
            try vote(payload, organization: role!.organization!, context: context, state: &state)
            return nil
        case .statusListPublish:
            let payload = try decodePayload(StatusListPayload.self, tx)
            guard case .issuer(let identifier) = role else { throw .unauthorized("only issuers publish status lists") }
            try publish(payload, issuer: identifier, context: context, state: &state)
            return nil
        case .issuerKeys:
            let payload = try decodePayload(IssuerKeysPayload.self, tx)
            guard case .issuer(let identifier) = role else { throw .unauthorized("only issuers change issuer keys") }
            try updateIssuerKeys(payload, issuer: identifier, context: context, state: &state)
            return nil
        default:
            throw .init("unknown-kind", "\(tx.kind) is not a transaction kind this ledger executes")
        }
    }

    /// What can be known wrong with `tx` without state: a payload that does not decode for its kind, an unknown
    /// kind, an incident category outside the taxonomy. The mempool refuses such a transaction at once.
    public static func statelessFailure(of tx: Transaction) -> TransactionFailure? {
        do throws(TransactionFailure) {
            switch tx.kind {
            case .notarize: _ = try decodePayload(NotarizePayload.self, tx)
            case .incidentReport:
                let record = try decodePayload(IncidentRecord.self, tx)
                guard SecurityIncidentTaxonomy.isValid(record.category) else {
                    throw TransactionFailure(
                        "invalid-category", "category \"\(record.category)\" is not an ENISA RSIT class/type")
                }
            case .incidentUpdate: _ = try decodePayload(IncidentUpdatePayload.self, tx)
            case .governancePropose: _ = try decodePayload(ProposePayload.self, tx)
            case .governanceVote: _ = try decodePayload(VotePayload.self, tx)
            case .statusListPublish: _ = try decodePayload(StatusListPayload.self, tx)
            case .issuerKeys: _ = try decodePayload(IssuerKeysPayload.self, tx)
            default:
                throw TransactionFailure("unknown-kind", "\(tx.kind) is not a transaction kind this ledger executes")
            }
            return nil
        } catch {
            return error
        }
    }

    static func decodePayload<T: CanonicalDecodable>(_ type: T.Type, _ tx: Transaction) throws(TransactionFailure) -> T
    {
        do {
            return try T.decode(canonical: tx.payload, field: "payload")
        } catch {
            throw .invalidPayload("\(error)")
        }
    }

    /// Runs a state read; a storage failure is not the transaction's fault, so it is raised past the transaction
    /// as a trap value the block executor turns back into a state error.
    static func read<T>(_ body: () throws(LedgerStateError) -> T) throws(TransactionFailure) -> T {
        do {
            return try body()
        } catch {
            throw TransactionFailure(stateFailureCode, "\(error)")
        }
    }

    /// The code of a failure that is really a storage error (never stored: the block aborts).
    static let stateFailureCode = "state-error"

    static func exists(_ key: [UInt8], in state: some LedgerStateReader) throws(TransactionFailure) -> Bool {
        try read { () throws(LedgerStateError) in try state.value(forKey: key) != nil }
    }

    static func load<T: CanonicalDecodable>(_ type: T.Type, _ key: [UInt8], in state: some LedgerStateReader)
        throws(TransactionFailure) -> T?
    {
        try read { () throws(LedgerStateError) in try decode(type, at: key, in: state) }
    }

    static func count(_ key: [UInt8], in state: some LedgerStateReader) throws(TransactionFailure) -> UInt64 {
        try read { () throws(LedgerStateError) in try counter(key, in: state) }
    }

    // MARK: Notarization

    static func notarize<Base>(
        _ payload: NotarizePayload, tx: Transaction, id: Digest, context: Context, state: inout StateOverlay<Base>
    ) throws(TransactionFailure) {
        let key = StateKeys.notarization(payload.digest)
        // The first notarization of a digest is the one that proves when it existed; later ones change nothing.
        guard try !exists(key, in: state) else { return }
        state.set(key, NotarizationEntry(height: context.height, index: context.index).canonicalBytes)
    }
}

/// A committed notarization as stored: where the transaction that made it sits, its block's height and its position
/// in the block. The label, signer, transaction id and time are that transaction's and that block's, read from the
/// block store when asked for, so every notarization costs the state a few bytes instead of a second copy of them.
public struct NotarizationEntry: Hashable, Sendable, CanonicalCodable {
    /// The height of the block holding the transaction.
    public let height: UInt64
    /// The transaction's position in that block.
    public let index: UInt32

    public static var maxEncodedSize: Int { 10 + 5 }

    /// Creates an entry.
    public init(height: UInt64, index: UInt32) {
        self.height = height
        self.index = index
    }

    public func encode(to writer: inout CanonicalWriter) {
        writer.writeVarUInt(height)
        writer.writeVarUInt(UInt64(index))
    }

    public init(from reader: inout CanonicalReader, field: String) throws(CanonicalDecodingError) {
        height = try reader.readVarUInt(field: "\(field).height")
        let index = try reader.readVarUInt(field: "\(field).index")
        guard let position = UInt32(exactly: index) else {
            throw .invalidValue(field: "\(field).index", reason: "\(index) does not fit 32 bits")
        }
        self.index = position
    }
}

/// Reads the incident log's nodes through application state.
struct StateMerkleSource<Reader: LedgerStateReader>: MerkleNodeSource {
    let reader: Reader

    func node(at position: MerkleNodePosition) throws -> Digest? {
        guard let bytes = try reader.value(forKey: StateKeys.merkleNode(position)) else { return nil }
        guard let digest = Digest(bytes: bytes) else {
            throw LedgerStateError.corrupt(key: "merkle/\(position.level)/\(position.index)", reason: "not 32 bytes")
        }
        return digest
    }
}
