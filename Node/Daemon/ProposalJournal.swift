import Codec
public import Consensus
import EnsureCrypto
import Ledger
import NIOConcurrencyHelpers
public import Storage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Why the proposal journal cannot be opened or written; names the file and the system's or the format's reason.
public struct ProposalJournalError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The journal file.
    public let path: String
    /// What was being done: `open`, `read`, `write`, `fdatasync`, `fsync` (of the directory), `truncate`, `rename`
    /// or `migrate`.
    public let operation: String
    /// The system's explanation, or what was wrong with the file.
    public let reason: String

    public var description: String { "\(operation) of \(path) failed: \(reason)" }
}

/// The proposals this node accepted above its committed tip, and the validator's safety state, kept on disk so a
/// restart neither forgets the newest quorum certificates nor signs twice.
///
/// Only committed blocks live in the block store, and the certificates that make a validator's safety state
/// (its preferred round) travel inside uncommitted proposals. If every validator restarted with only its
/// committed tip, none could sign a vote or timeout that respects its preferred round, and the chain would halt
/// for good. So each accepted proposal is written here before any signature that could depend on it leaves the
/// node, and replayed into the consensus core after a restart; commits prune it.
///
/// Both live in one append-only file beside the LevelDB directory (`ledger-proposals.journal` next to `ledger/`),
/// so one data sync makes both durable. ``record(_:)`` appends a proposal without syncing; ``store(_:)``
/// (``SafetyStatePersistence``, called by ``SafetyRules`` before every signature it returns) appends the state
/// and syncs, which makes every proposal written before it durable too. A vote therefore costs one sync where a
/// separate proposal file and a LevelDB key cost two in sequence (docs/performance.md).
///
/// Proposals are not in LevelDB: each carries a whole block, and in LevelDB those bytes were written to its log,
/// flushed to a table and compacted again before their deletion was, which cost a loaded node more than the
/// journal write itself. The file starts with an 8-byte magic; each record is the payload's length (u32
/// big-endian), its SHA-256 and the payload: a type byte (1 a proposal, 2 the safety state) and the canonical
/// bytes. A record cut short by a crash fails its length or digest and is cut off at the next open, with the
/// records after it: all of them came after the last sync, so no signature depended on them. The last safety
/// record is the state. Pruning forgets proposals in memory and, once the file passes ``rewriteBytes`` (8 MiB by
/// default), rewrites it with the state and the live proposals only (a temporary file, synced, renamed over the
/// old one).
///
/// Once the state is in the file, LevelDB's `safety/in-journal` says so, and a journal that then holds no state
/// is refused: a validator must not sign again from an empty state because its file was deleted. Epoch-change
/// proofs are rare and small, and stay in LevelDB.
public final class ProposalJournal: SafetyStatePersistence, Sendable {
    /// Where journals before the file format kept proposals; moved into the file when a journal opens.
    static let prefix = Array("consensus/proposal/".utf8)
    /// Most proposals kept; older rounds are dropped first (the chain commits long before this fills).
    static let capacity = 512
    /// The file's first bytes.
    static let magic = Array("ENSJRNL2".utf8)
    /// The first bytes of the format before the safety state moved in: every record a bare proposal. Such a
    /// file is rewritten in the current format when it opens.
    static let proposalsOnlyMagic = Array("ENSJRNL1".utf8)
    /// A record's length and digest.
    static let headerBytes = 4 + Digest.byteCount

    /// What a record holds: its payload's first byte.
    enum RecordType: UInt8 {
        case proposal = 1
        case safetyState = 2
    }

    /// One live proposal of the file.
    struct Entry: Sendable {
        var round: UInt64
        var blockID: Digest
        /// Where the canonical proposal message starts in the file.
        var offset: Int
        var length: Int
    }

    struct State: Sendable {
        var descriptor: Int32
        var size: Int
        /// Live proposals in (round, block id) order.
        var entries: [Entry]
        /// The last safety state written, if any.
        var safety: SafetyState?
        /// Records were written since the last data sync.
        var unsynced = false
        /// LevelDB's `safety/in-journal` is written.
        var safetyMarked = false
        /// Data syncs of the journal file since it opened.
        var syncs = 0
        /// The write or sync that failed: the kernel may have dropped the pages it held, so nothing written after
        /// it may be trusted to reach the disk and every later write is refused with this error.
        var failed: ProposalJournalError?
        /// The next append fails as a write would (tests of the failure path).
        var failNextAppend = false
    }

    /// What a scan of the file found.
    struct Scan {
        var entries: [Entry]
        var safety: SafetyState?
        /// The valid length.
        var size: Int
        /// The file is in the format before ``magic`` and must be rewritten.
        var proposalsOnly: Bool
        var truncatedBytes: Int
        /// A whole safety record found past the cut: newer than ``safety``, so it is written again.
        var stateAfterCut: SafetyState?
    }

    private let database: LevelDB
    /// The journal file.
    public let path: String
    /// The file size past which a prune rewrites it.
    public let rewriteBytes: Int
    /// How many bytes of a torn or corrupt tail the open cut off (0 when the file was whole).
    public let truncatedBytes: Int
    private let state: NIOLockedValueBox<State>

    /// The journal beside `database` (its directory's path with `-proposals.journal` appended), created when missing.
    /// A torn last record is cut off; a file in the earlier format is rewritten; proposals and a safety state an
    /// older node kept in LevelDB are moved into the file.
    public init(database: LevelDB, rewriteBytes: Int = defaultRewriteBytes) throws(ProposalJournalError) {
        var base = database.path
        while base.count > 1, base.hasSuffix("/") { base.removeLast() }
        let path = base + "-proposals.journal"
        self.database = database
        self.path = path
        self.rewriteBytes = rewriteBytes
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw Self.failure(path, "open") }
        let scan: Scan
        do {
            scan = try Self.scan(descriptor, path: path)
        } catch {
            close(descriptor)
            throw error
        }
        truncatedBytes = scan.truncatedBytes
        state = NIOLockedValueBox(
            State(descriptor: descriptor, size: scan.size, entries: scan.entries, safety: scan.safety))
        if scan.proposalsOnly {
            try locked { state throws(ProposalJournalError) in try rewrite(&state) }
        }
        if let later = scan.stateAfterCut {
            // A safety state is never older than one written before it, so the later one is the safe one to keep.
            try locked { state throws(ProposalJournalError) in try appendState(later, to: &state) }
        }
        try migrateFromLevelDB()
        try migrateSafetyState()
    }

    /// The file size past which a prune rewrites it with the live records only, unless the journal is opened
    /// with another.
    public static let defaultRewriteBytes = 8 << 20

    deinit {
        _ = state.withLockedValue { close($0.descriptor) }
    }

    /// Appends `proposal` to the file; the next ``store(_:)`` or ``sync()`` makes it durable, and ``SafetyRules``
    /// stores before it returns any signature. Recording the same proposal again changes nothing.
    public func record(_ proposal: Proposal) throws(ProposalJournalError) {
        let round = proposal.block.header.round
        let blockID = proposal.block.id
        let body = ConsensusMessage.proposal(proposal).canonicalBytes
        try locked { state throws(ProposalJournalError) in
            if state.entries.contains(where: { $0.round == round && $0.blockID == blockID }) { return }
            let offset = try append(.proposal, body, to: &state)
            let entry = Entry(round: round, blockID: blockID, offset: offset, length: body.count)
            let index =
                state.entries.firstIndex {
                    $0.round > round || ($0.round == round && blockID < $0.blockID)
                } ?? state.entries.endIndex
            state.entries.insert(entry, at: index)
            if state.entries.count > Self.capacity {
                state.entries.removeFirst(state.entries.count - Self.capacity)
            }
        }
    }

    /// Makes every record written so far durable; does nothing when nothing is pending.
    public func sync() throws(ProposalJournalError) {
        try locked { state throws(ProposalJournalError) in
            guard state.unsynced else { return }
            try syncFile(&state)
        }
    }

    /// The write or sync that failed, after which the journal refuses every write; nil while none has.
    public var failure: ProposalJournalError? { state.withLockedValue { $0.failed } }

    /// Data syncs of the file since it opened (for tests and benchmarks).
    package var dataSyncs: Int { state.withLockedValue { $0.syncs } }

    /// Makes the next append fail as a failed write would, to test what follows one.
    package func failNextAppend() {
        state.withLockedValue { $0.failNextAppend = true }
    }

    private func syncFile(_ state: inout State) throws(ProposalJournalError) {
        try Self.sync(state.descriptor, path: path)
        state.unsynced = false
        state.syncs += 1
    }

    /// The stored proposals above `round`, in round order; records that do not read or decode are skipped.
    public func proposals(above round: UInt64) -> [Proposal] {
        state.withLockedValue { state in
            state.entries.compactMap { entry -> Proposal? in
                guard entry.round > round, let payload = try? Self.read(entry, from: state.descriptor, path: path),
                    case .proposal(let proposal)? = try? ConsensusMessage.decode(canonical: payload)
                else { return nil }
                return proposal
            }
        }
    }

    /// Forgets the proposals at or below `round`, and the oldest beyond ``capacity``; rewrites the file once it
    /// passes ``rewriteBytes``. A rewrite that fails before its rename leaves the old file, which still reads
    /// correctly; one whose rename may not be durable sets ``failure``.
    public func prune(throughRound round: UInt64) {
        state.withLockedValue { state in
            state.entries.removeAll { $0.round <= round }
            if state.entries.count > Self.capacity { state.entries.removeFirst(state.entries.count - Self.capacity) }
            guard state.failed == nil, state.size >= rewriteBytes else { return }
            try? rewrite(&state)
        }
    }

    /// Runs `body` on the state under the lock, keeping its error's type. Refused once a write failed; an error
    /// `body` throws is kept as that failure.
    private func locked<T>(_ body: (inout State) throws(ProposalJournalError) -> T) throws(ProposalJournalError) -> T {
        let result = state.withLockedValue { state -> Result<T, ProposalJournalError> in
            if let failed = state.failed { return .failure(failed) }
            do throws(ProposalJournalError) {
                return .success(try body(&state))
            } catch {
                state.failed = state.failed ?? error
                return .failure(error)
            }
        }
        return try result.get()
    }

    // MARK: Safety state

    /// The last safety state stored, or nil when this validator never signed. Refused when LevelDB records that
    /// the state moved into this file and the file holds none (it was deleted or replaced).
    public func load() throws(SafetyPersistenceError) -> SafetyState? {
        let (safety, marked) = state.withLockedValue { ($0.safety, $0.safetyMarked) }
        if safety == nil, marked {
            throw SafetyPersistenceError(
                "\(path) holds no safety state, but \(StorageKeyspace.describe(StorageKeyspace.safetyInJournalKey)) "
                    + "in the database at \(database.path) says it was stored there; refusing to sign from an empty "
                    + "state: restore the data directory from a backup taken after this validator last signed")
        }
        return safety
    }

    /// Appends `next` and syncs the file, so it and every proposal before it survive a crash; the first time, also
    /// records in LevelDB that the state lives here. On failure the previous state is the one a restart reads.
    public func store(_ next: SafetyState) throws(SafetyPersistenceError) {
        let marked: Bool
        do throws(ProposalJournalError) {
            marked = try locked { state throws(ProposalJournalError) -> Bool in
                try appendState(next, to: &state)
                // A chain stuck in timeouts commits nothing, so no prune would ever rewrite the file.
                if state.size >= rewriteBytes { try? rewrite(&state) }
                return state.safetyMarked
            }
        } catch {
            throw SafetyPersistenceError("\(error)")
        }
        guard !marked else { return }
        do throws(LevelDBError) {
            try markSafetyInJournal()
        } catch {
            throw SafetyPersistenceError(
                "writing \(StorageKeyspace.describe(StorageKeyspace.safetyInJournalKey)) in the database at "
                    + "\(database.path) failed: \(error)")
        }
    }

    /// Appends `next`, syncs, and makes it the state.
    private func appendState(_ next: SafetyState, to state: inout State) throws(ProposalJournalError) {
        _ = try append(.safetyState, next.canonicalBytes, to: &state)
        try syncFile(&state)
        state.safety = next
    }

    /// What `safety/state` holds once the state moved into the file: bytes no ``SafetyState`` decodes (an unknown
    /// version), so a node from before the move refuses to start instead of signing from an empty state.
    package static let movedStateTombstone = [0xff] + Array("moved to the proposal journal".utf8)

    /// Writes `safety/in-journal` and the tombstone over `safety/state` in one synced batch.
    private func markSafetyInJournal() throws(LevelDBError) {
        var batch = WriteBatch()
        batch.put(key: StorageKeyspace.safetyInJournalKey, value: Array(Self.fileName(path).utf8))
        batch.put(key: StorageKeyspace.safetyStateKey, value: Self.movedStateTombstone)
        try database.write(batch, sync: true)
        state.withLockedValue { $0.safetyMarked = true }
    }

    /// Moves the safety state an older node kept in LevelDB (`safety/state`) into the file, or finishes a move a
    /// crash interrupted; notes whether `safety/in-journal` is written. Once it is, `safety/state` is not read.
    private func migrateSafetyState() throws(ProposalJournalError) {
        func failure(_ reason: String) -> ProposalJournalError {
            ProposalJournalError(path: path, operation: "migrate", reason: reason)
        }
        let marked: Bool
        do {
            marked = try database.get(StorageKeyspace.safetyInJournalKey) != nil
        } catch {
            throw failure("\(error)")
        }
        state.withLockedValue { $0.safetyMarked = marked }
        guard !marked else { return }
        let legacy: SafetyState?
        do {
            legacy = try LevelDBSafetyStateStore(database: database).load()
        } catch {
            throw failure("\(error)")
        }
        // After a crash between the file's sync and LevelDB's batch, the file already holds this state or a later
        // one: the file's wins.
        if let legacy, state.withLockedValue({ $0.safety == nil }) {
            try locked { state throws(ProposalJournalError) in try appendState(legacy, to: &state) }
        }
        guard state.withLockedValue({ $0.safety != nil }) else { return }
        do throws(LevelDBError) {
            try markSafetyInJournal()
        } catch {
            throw failure("\(error)")
        }
    }

    // MARK: Epoch-change proofs

    static let epochProofPrefix = Array("consensus/epoch-proof/".utf8)

    /// Stores the proof that an epoch ended, durably. Its certificate (on the ending block's certified child) is
    /// nowhere else: without it, a node restarted in the new epoch could not bring a peer still in the old one
    /// across, and a crash of all validators at the wrong moment would split them between epochs for good.
    public func record(epochChange proof: EpochChangeProof) throws(LevelDBError) {
        let key = Self.epochProofPrefix + StorageKeyspace.bigEndian(proof.endingEpoch)
        try database.put(key: key, value: ConsensusMessage.epochChange(proof).canonicalBytes, sync: true)
    }

    /// The stored epoch-change proofs, oldest first; entries that do not decode are skipped.
    public func epochChanges() -> [EpochChangeProof] {
        guard let entries = try? database.entries(withPrefix: Self.epochProofPrefix) else { return [] }
        return entries.compactMap { entry in
            guard case .epochChange(let proof)? = try? ConsensusMessage.decode(canonical: entry.value) else {
                return nil
            }
            return proof
        }
    }

    // MARK: File

    /// The records of the file open as `descriptor`. A new file gets its magic; a torn or corrupt tail is
    /// truncated away (and the truncation synced). A record whose digest holds but whose payload this build cannot
    /// read is refused: it was written whole, so cutting it off would lose what a newer node wrote.
    private static func scan(_ descriptor: Int32, path: String) throws(ProposalJournalError) -> Scan {
        let bytes = try readAll(descriptor, path: path)
        // New, or created by a node that crashed before its magic was whole.
        if bytes.count < magic.count, magic.starts(with: bytes) || proposalsOnlyMagic.starts(with: bytes) {
            guard ftruncate(descriptor, 0) == 0 else { throw failure(path, "truncate") }
            try writeAll(descriptor, magic, at: 0, path: path)
            try sync(descriptor, path: path)
            try syncDirectory(of: path)
            return Scan(entries: [], safety: nil, size: magic.count, proposalsOnly: false, truncatedBytes: 0)
        }
        let prefix = bytes.count >= magic.count ? Array(bytes[0..<magic.count]) : []
        guard prefix == magic || prefix == proposalsOnlyMagic else {
            throw ProposalJournalError(
                path: path, operation: "open",
                reason: "is not a proposal journal (its first bytes are neither ENSJRNL2 nor ENSJRNL1)")
        }
        let proposalsOnly = prefix == proposalsOnlyMagic
        var entries: [Entry] = []
        var safety: SafetyState?
        var offset = magic.count
        records: while offset + headerBytes <= bytes.count {
            guard let length = wholeRecordLength(in: bytes, at: offset) else { break }
            let start = offset + headerBytes
            var bodyStart = start
            var type = RecordType.proposal
            if !proposalsOnly {
                guard let known = RecordType(rawValue: bytes[start]) else {
                    throw ProposalJournalError(
                        path: path, operation: "open",
                        reason:
                            "the record at offset \(offset) has type \(bytes[start]), which this build does not know")
                }
                type = known
                bodyStart += 1
            }
            let body = Array(bytes[bodyStart..<start + length])
            switch type {
            case .proposal:
                guard case .proposal(let proposal)? = try? ConsensusMessage.decode(canonical: body) else {
                    // The format before the type byte cut such a record off; keep doing so for its files.
                    if proposalsOnly { break records }
                    throw ProposalJournalError(
                        path: path, operation: "open",
                        reason: "the proposal record at offset \(offset) is whole but does not decode")
                }
                entries.append(
                    Entry(
                        round: proposal.block.header.round, blockID: proposal.block.id, offset: bodyStart,
                        length: body.count))
            case .safetyState:
                do {
                    safety = try SafetyState.decode(canonical: body, field: "safetyState")
                } catch {
                    throw ProposalJournalError(
                        path: path, operation: "open",
                        reason: "the safety state record at offset \(offset) is whole but does not decode (\(error))")
                }
            }
            offset = start + length
        }
        var truncated = 0
        var stateAfterCut: SafetyState?
        if offset < bytes.count {
            truncated = bytes.count - offset
            if !proposalsOnly { stateAfterCut = lastSafetyState(in: bytes, after: offset) }
            guard ftruncate(descriptor, off_t(offset)) == 0 else { throw failure(path, "truncate") }
            try sync(descriptor, path: path)
        }
        return Scan(
            entries: sorted(entries), safety: safety, size: offset, proposalsOnly: proposalsOnly,
            truncatedBytes: truncated, stateAfterCut: stateAfterCut)
    }

    /// The payload length of the record at `offset` when it is whole: its length fits the bytes and its digest
    /// holds.
    private static func wholeRecordLength(in bytes: [UInt8], at offset: Int) -> Int? {
        guard offset + headerBytes <= bytes.count else { return nil }
        let length = bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
        let start = offset + headerBytes
        guard length > 0, length <= bytes.count - start,
            digest(of: bytes[start..<start + length]) == bytes[offset + 4..<start].withUnsafeBytes({ Digest($0) })
        else { return nil }
        return length
    }

    /// The last whole safety-state record after the bad record at `offset`, if any. A crash tears only what came
    /// after the last sync, which holds no state a signature relied on; but a damaged disk can spoil an older
    /// record and leave newer, synced states behind it. Those are found by trying every offset as a record start
    /// whose type byte is the safety state's.
    private static func lastSafetyState(in bytes: [UInt8], after offset: Int) -> SafetyState? {
        var found: SafetyState?
        var candidate = offset + 1
        // Only lengths a safety record can have are hashed, so the search stays linear in the file's size.
        let longest = 1 + SafetyState.maxEncodedSize
        while candidate + headerBytes < bytes.count {
            let length = bytes[candidate..<candidate + 4].reduce(0) { $0 << 8 | Int($1) }
            if bytes[candidate + headerBytes] == RecordType.safetyState.rawValue, length <= longest,
                let length = wholeRecordLength(in: bytes, at: candidate),
                let state = try? SafetyState.decode(
                    canonical: Array(bytes[candidate + headerBytes + 1..<candidate + headerBytes + length]),
                    field: "safetyState")
            {
                found = state
                candidate += headerBytes + length
            } else {
                candidate += 1
            }
        }
        return found
    }

    private static func sorted(_ entries: [Entry]) -> [Entry] {
        var latest: [Digest: Entry] = [:]
        for entry in entries { latest[entry.blockID] = entry }
        return latest.values.sorted {
            $0.round != $1.round ? $0.round < $1.round : $0.blockID < $1.blockID
        }
    }

    /// A whole record: length, digest, type byte and `body`.
    private static func encodeRecord(_ type: RecordType, _ body: [UInt8]) -> [UInt8] {
        let length = UInt32(1 + body.count)
        var record = [UInt8](repeating: 0, count: headerBytes)
        record.reserveCapacity(headerBytes + 1 + body.count)
        record[0] = UInt8(length >> 24)
        record[1] = UInt8(length >> 16 & 0xff)
        record[2] = UInt8(length >> 8 & 0xff)
        record[3] = UInt8(length & 0xff)
        record.append(type.rawValue)
        record += body
        let digest = digest(of: record[headerBytes...])
        digest.withUnsafeBytes { record.replaceSubrange(4..<headerBytes, with: $0) }
        return record
    }

    private static func digest(of bytes: ArraySlice<UInt8>) -> Digest {
        var hasher = SHA256.Hasher()
        bytes.withUnsafeBytes { hasher.update($0) }
        return hasher.finalize()
    }

    /// Writes a record at the end of the file, unsynced, and returns where its body starts.
    private func append(_ type: RecordType, _ body: [UInt8], to state: inout State) throws(ProposalJournalError)
        -> Int
    {
        let record = Self.encodeRecord(type, body)
        if state.failNextAppend {
            state.failNextAppend = false
            throw ProposalJournalError(path: path, operation: "write", reason: "injected failure")
        }
        try Self.writeAll(state.descriptor, record, at: state.size, path: path)
        let bodyOffset = state.size + Self.headerBytes + 1
        state.size += record.count
        state.unsynced = true
        return bodyOffset
    }

    /// Writes the safety state and the live proposals to a new file in the current format, syncs it and renames
    /// it over the journal.
    private func rewrite(_ state: inout State) throws(ProposalJournalError) {
        let temporary = path + ".new"
        let descriptor = open(temporary, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw Self.failure(temporary, "open") }
        var entries: [Entry] = []
        var size = Self.magic.count
        do throws(ProposalJournalError) {
            try Self.writeAll(descriptor, Self.magic, at: 0, path: temporary)
            if let safety = state.safety {
                let record = Self.encodeRecord(.safetyState, safety.canonicalBytes)
                try Self.writeAll(descriptor, record, at: size, path: temporary)
                size += record.count
            }
            for entry in state.entries {
                let body = try Self.read(entry, from: state.descriptor, path: path)
                let record = Self.encodeRecord(.proposal, body)
                try Self.writeAll(descriptor, record, at: size, path: temporary)
                entries.append(
                    Entry(
                        round: entry.round, blockID: entry.blockID, offset: size + Self.headerBytes + 1,
                        length: body.count))
                size += record.count
            }
            try Self.sync(descriptor, path: temporary)
            guard rename(temporary, path) == 0 else { throw Self.failure(path, "rename") }
        } catch {
            close(descriptor)
            unlink(temporary)
            throw error
        }
        close(state.descriptor)
        state.descriptor = descriptor
        state.size = size
        state.entries = entries
        state.unsynced = false
        // Until the rename is durable a crash may bring the old file back, with an older safety state: nothing more
        // may be signed on top of the new one.
        do throws(ProposalJournalError) {
            try Self.syncDirectory(of: path)
        } catch {
            state.failed = state.failed ?? error
            throw error
        }
    }

    /// The last component of `path`.
    private static func fileName(_ path: String) -> String {
        String(path.split(separator: "/").last ?? Substring(path))
    }

    /// Moves proposals an older node kept in LevelDB into the file, then deletes them there.
    private func migrateFromLevelDB() throws(ProposalJournalError) {
        let entries: [LevelDBEntry]
        do {
            entries = try database.entries(withPrefix: Self.prefix)
        } catch {
            throw ProposalJournalError(path: path, operation: "migrate", reason: "\(error)")
        }
        guard !entries.isEmpty else { return }
        var batch = WriteBatch()
        for entry in entries {
            if case .proposal(let proposal)? = try? ConsensusMessage.decode(canonical: entry.value) {
                try record(proposal)
            }
            batch.delete(key: entry.key)
        }
        // On disk before their only other copy goes.
        try sync()
        do {
            try database.write(batch, sync: true)
        } catch {
            throw ProposalJournalError(path: path, operation: "migrate", reason: "\(error)")
        }
    }

    private static func read(_ entry: Entry, from descriptor: Int32, path: String) throws(ProposalJournalError)
        -> [UInt8]
    {
        var bytes = [UInt8](repeating: 0, count: entry.length)
        var done = 0
        while done < entry.length {
            let count = bytes.withUnsafeMutableBytes { buffer in
                pread(descriptor, buffer.baseAddress! + done, entry.length - done, off_t(entry.offset + done))
            }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else {
                throw count == 0
                    ? ProposalJournalError(path: path, operation: "read", reason: "the file ends inside a record")
                    : failure(path, "read")
            }
            done += count
        }
        return bytes
    }

    private static func readAll(_ descriptor: Int32, path: String) throws(ProposalJournalError) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = chunk.withUnsafeMutableBytes {
                pread(descriptor, $0.baseAddress!, $0.count, off_t(bytes.count))
            }
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { throw failure(path, "read") }
            if count == 0 { return bytes }
            bytes += chunk[0..<count]
        }
    }

    private static func writeAll(_ descriptor: Int32, _ bytes: [UInt8], at offset: Int, path: String)
        throws(ProposalJournalError)
    {
        var done = 0
        while done < bytes.count {
            let count = bytes.withUnsafeBytes { buffer in
                pwrite(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { throw failure(path, "write") }
            done += count
        }
    }

    private static func sync(_ descriptor: Int32, path: String) throws(ProposalJournalError) {
        #if canImport(Glibc)
            let result = fdatasync(descriptor)
        #else
            let result = fsync(descriptor)
        #endif
        guard result == 0 else { throw failure(path, "fdatasync") }
    }

    /// Makes a creation or rename in `path`'s directory durable.
    private static func syncDirectory(of path: String) throws(ProposalJournalError) {
        let directory = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let name = directory.isEmpty ? "." : directory
        let descriptor = open(name, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw failure(name, "open") }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw failure(name, "fsync") }
    }

    private static func failure(_ path: String, _ operation: String) -> ProposalJournalError {
        ProposalJournalError(path: path, operation: operation, reason: String(cString: strerror(errno)))
    }
}
