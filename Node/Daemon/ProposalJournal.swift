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
    /// What was being done: `open`, `read`, `write`, `fdatasync`, `truncate`, `rename` or `migrate`.
    public let operation: String
    /// The system's explanation, or what was wrong with the file.
    public let reason: String

    public var description: String { "\(operation) of \(path) failed: \(reason)" }
}

/// The proposals this node accepted above its committed tip, kept on disk so a restart does not forget the newest
/// quorum certificates.
///
/// Only committed blocks live in the block store, and the certificates that make a validator's safety state
/// (its preferred round) travel inside uncommitted proposals. If every validator restarted with only its
/// committed tip, none could sign a vote or timeout that respects its preferred round, and the chain would halt
/// for good. Each accepted proposal is written with a data sync before any vote for it leaves the node, and
/// replayed into the consensus core after a restart; commits prune it.
///
/// The proposals go to an append-only file beside the LevelDB directory (`ledger-proposals.journal` next to
/// `ledger/`), not into LevelDB: each carries a whole block, and in LevelDB those bytes were written to its log,
/// flushed to a table and compacted again before their deletion was, which cost a loaded node more than the
/// journal write itself (docs/performance.md). The file starts with an 8-byte magic; each record is the payload's
/// length (u32 big-endian), its SHA-256 and the canonical proposal message. A record cut short by a crash fails its
/// length or digest and is cut off at the next open; anything before it is intact, because each record was synced
/// before the next was written. Pruning forgets records in memory and, once the file passes ``rewriteBytes`` (8 MiB by default),
/// rewrites it with the live records only (a temporary file, synced, renamed over the old one).
///
/// Epoch-change proofs are rare and small, and stay in LevelDB.
public final class ProposalJournal: Sendable {
    /// Where journals before the file format kept proposals; moved into the file when a journal opens.
    static let prefix = Array("consensus/proposal/".utf8)
    /// Most proposals kept; older rounds are dropped first (the chain commits long before this fills).
    static let capacity = 512
    /// The file's first bytes.
    static let magic = Array("ENSJRNL1".utf8)
    /// A record's length and digest.
    static let headerBytes = 4 + Digest.byteCount
    /// The file size past which a prune rewrites it with the live records only, unless the journal is opened
    /// with another.
    public static let defaultRewriteBytes = 8 << 20

    /// One live record of the file.
    struct Entry: Sendable {
        var round: UInt64
        var blockID: Digest
        /// Where the payload starts in the file.
        var offset: Int
        var length: Int
    }

    struct State: Sendable {
        var descriptor: Int32
        var size: Int
        /// Live records in (round, block id) order.
        var entries: [Entry]
    }

    private let database: LevelDB
    /// The journal file.
    public let path: String
    /// The file size past which a prune rewrites it.
    public let rewriteBytes: Int
    private let state: NIOLockedValueBox<State>

    /// The journal beside `database` (its directory's path with `-proposals.journal` appended), created when missing.
    /// A torn last record is cut off; proposals an older node kept in LevelDB are moved into the file.
    public init(database: LevelDB, rewriteBytes: Int = defaultRewriteBytes) throws(ProposalJournalError) {
        var base = database.path
        while base.count > 1, base.hasSuffix("/") { base.removeLast() }
        let path = base + "-proposals.journal"
        self.database = database
        self.path = path
        self.rewriteBytes = rewriteBytes
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw Self.failure(path, "open") }
        do {
            let (entries, size) = try Self.scan(descriptor, path: path)
            state = NIOLockedValueBox(State(descriptor: descriptor, size: size, entries: entries))
        } catch {
            close(descriptor)
            throw error
        }
        try migrateFromLevelDB()
    }

    deinit {
        _ = state.withLockedValue { close($0.descriptor) }
    }

    /// Stores `proposal` durably: returns once it is on stable storage. Storing the same proposal again changes
    /// nothing.
    public func record(_ proposal: Proposal) throws(ProposalJournalError) {
        let round = proposal.block.header.round
        let blockID = proposal.block.id
        let payload = ConsensusMessage.proposal(proposal).canonicalBytes
        let failure = state.withLockedValue { state -> ProposalJournalError? in
            if state.entries.contains(where: { $0.round == round && $0.blockID == blockID }) { return nil }
            do throws(ProposalJournalError) {
                try append(payload, round: round, blockID: blockID, to: &state)
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
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
    /// passes ``rewriteBytes``. A failed rewrite leaves the old file, which still reads correctly.
    public func prune(throughRound round: UInt64) {
        state.withLockedValue { state in
            state.entries.removeAll { $0.round <= round }
            if state.entries.count > Self.capacity { state.entries.removeFirst(state.entries.count - Self.capacity) }
            guard state.size >= rewriteBytes else { return }
            try? rewrite(&state)
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

    /// The live records of the file open as `descriptor`, and its valid length. A new file gets its magic; a torn
    /// or corrupt tail is truncated away (and the truncation synced).
    private static func scan(_ descriptor: Int32, path: String) throws(ProposalJournalError) -> ([Entry], Int) {
        let bytes = try readAll(descriptor, path: path)
        // New, or created by a node that crashed before its magic was whole.
        if bytes.count < magic.count, magic.starts(with: bytes) {
            try writeAll(descriptor, magic, at: 0, path: path)
            try sync(descriptor, path: path)
            syncDirectory(of: path)
            return ([], magic.count)
        }
        guard bytes.count >= magic.count, Array(bytes[0..<magic.count]) == magic else {
            throw ProposalJournalError(
                path: path, operation: "open", reason: "is not a proposal journal (its first bytes are not ENSJRNL1)")
        }
        var entries: [Entry] = []
        var offset = magic.count
        while offset + headerBytes <= bytes.count {
            let length = bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
            let start = offset + headerBytes
            guard length > 0, length <= bytes.count - start else { break }
            let payload = Array(bytes[start..<start + length])
            guard SHA256.hash(payload).bytes == Array(bytes[offset + 4..<start]),
                case .proposal(let proposal)? = try? ConsensusMessage.decode(canonical: payload)
            else { break }
            entries.append(
                Entry(round: proposal.block.header.round, blockID: proposal.block.id, offset: start, length: length))
            offset = start + length
        }
        if offset < bytes.count {
            guard ftruncate(descriptor, off_t(offset)) == 0 else { throw failure(path, "truncate") }
            try sync(descriptor, path: path)
        }
        return (sorted(entries), offset)
    }

    private static func sorted(_ entries: [Entry]) -> [Entry] {
        var latest: [Digest: Entry] = [:]
        for entry in entries { latest[entry.blockID] = entry }
        return latest.values.sorted {
            $0.round != $1.round ? $0.round < $1.round : $0.blockID < $1.blockID
        }
    }

    private func append(_ payload: [UInt8], round: UInt64, blockID: Digest, to state: inout State)
        throws(ProposalJournalError)
    {
        let length = UInt32(payload.count)
        var record: [UInt8] = []
        record.reserveCapacity(Self.headerBytes + payload.count)
        record += [UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)]
        record += SHA256.hash(payload).bytes
        record += payload
        try Self.writeAll(state.descriptor, record, at: state.size, path: path)
        try Self.sync(state.descriptor, path: path)
        let entry = Entry(round: round, blockID: blockID, offset: state.size + Self.headerBytes, length: payload.count)
        state.size += record.count
        let index =
            state.entries.firstIndex {
                $0.round > round || ($0.round == round && blockID < $0.blockID)
            } ?? state.entries.endIndex
        state.entries.insert(entry, at: index)
        if state.entries.count > Self.capacity { state.entries.removeFirst(state.entries.count - Self.capacity) }
    }

    /// Writes the live records to a new file, syncs it and renames it over the journal.
    private func rewrite(_ state: inout State) throws(ProposalJournalError) {
        let temporary = path + ".new"
        let descriptor = open(temporary, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw Self.failure(temporary, "open") }
        var entries: [Entry] = []
        var size = Self.magic.count
        do throws(ProposalJournalError) {
            try Self.writeAll(descriptor, Self.magic, at: 0, path: temporary)
            for entry in state.entries {
                // The record as it is: its header (length and digest) and payload.
                var whole = entry
                whole.offset -= Self.headerBytes
                whole.length += Self.headerBytes
                try Self.writeAll(
                    descriptor, try Self.read(whole, from: state.descriptor, path: path), at: size, path: temporary)
                entries.append(
                    Entry(
                        round: entry.round, blockID: entry.blockID, offset: size + Self.headerBytes,
                        length: entry.length))
                size += Self.headerBytes + entry.length
            }
            try Self.sync(descriptor, path: temporary)
            guard rename(temporary, path) == 0 else { throw Self.failure(path, "rename") }
        } catch {
            close(descriptor)
            unlink(temporary)
            throw error
        }
        Self.syncDirectory(of: path)
        close(state.descriptor)
        state = State(descriptor: descriptor, size: size, entries: entries)
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

    /// Makes a rename in `path`'s directory durable; a failure only risks the old file coming back, which is valid.
    private static func syncDirectory(of path: String) {
        let directory = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let descriptor = open(directory.isEmpty ? "." : directory, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        _ = fsync(descriptor)
        close(descriptor)
    }

    private static func failure(_ path: String, _ operation: String) -> ProposalJournalError {
        ProposalJournalError(path: path, operation: operation, reason: String(cString: strerror(errno)))
    }
}
