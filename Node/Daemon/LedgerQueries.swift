public import API
import Codec
public import EnsureCrypto
public import Ledger
public import Storage

/// Reads of committed application state for the API. Every call takes one LevelDB snapshot, so an answer (a
/// page, a proof and its root, a checkpoint) is consistent with one committed block even while blocks commit.
/// The block store writes a block, its certificate, the chain tip and the block's state changes in one batch, so
/// the tip read through the snapshot is the height the state belongs to.
///
/// It holds only the (Sendable) block store, so the API calls it off the engine's actor: queries never wait for
/// consensus and consensus never waits for queries.
public struct LedgerQueries: Sendable {
    /// Index entries one incident query scans at most, per incident asked for: bounded work per request.
    public static let scanFactor = 10
    /// Most proposals one list answers.
    public static let maxProposals = 10_000
    /// Most entries a registry list answers.
    public static let maxRegistryEntries = 100_000

    /// The store whose database holds committed state.
    public let store: BlockStore

    /// Reads `store`'s committed state.
    public init(store: BlockStore) { self.store = store }

    /// One snapshot of committed state and the tip it belongs to.
    struct View {
        let snapshot: LevelDBSnapshot
        let height: UInt64

        func get(_ key: [UInt8]) throws(LedgerQueryError) -> [UInt8]? {
            do { return try snapshot.get(key) } catch { throw .unavailable("\(error)") }
        }

        func entries(_ prefix: [UInt8], from start: [UInt8]? = nil, limit: Int) throws(LedgerQueryError)
            -> [LevelDBEntry]
        {
            do {
                return try snapshot.entries(withPrefix: prefix, from: start, limit: limit)
            } catch {
                throw .unavailable("\(error)")
            }
        }

        func decode<T: CanonicalDecodable>(_ type: T.Type, _ bytes: [UInt8], key: String) throws(LedgerQueryError)
            -> T
        {
            do {
                return try T.decode(canonical: bytes)
            } catch {
                throw .unavailable("\(key) is corrupt: \(error)")
            }
        }

        func load<T: CanonicalDecodable>(_ type: T.Type, _ key: [UInt8]) throws(LedgerQueryError) -> T? {
            guard let bytes = try get(key) else { return nil }
            return try decode(type, bytes, key: Self.describe(key))
        }

        func list<T: CanonicalDecodable>(_ type: T.Type, prefix: [UInt8]) throws(LedgerQueryError) -> [T] {
            var out: [T] = []
            for entry in try entries(prefix, limit: LedgerQueries.maxRegistryEntries) {
                out.append(try decode(type, entry.value, key: Self.describe(entry.key)))
            }
            return out
        }

        /// The incident-log size in this state.
        func logSize() throws(LedgerQueryError) -> UInt64 {
            guard let bytes = try get(StateKeys.incidentLogSize) else { return 0 }
            guard let size = StateKeys.uint64(bytes) else { throw .unavailable("app/ilog/size is not 8 bytes") }
            return size
        }

        func log() throws(LedgerQueryError) -> MerkleLog<LevelDBMerkleNodeStore> {
            MerkleLog(source: LevelDBMerkleNodeStore(snapshot: snapshot), size: try logSize())
        }

        func leaf(_ index: UInt64) throws(LedgerQueryError) -> ([UInt8], IncidentLogEntry)? {
            guard let bytes = try get(StateKeys.incidentLeaf(index)) else { return nil }
            return (bytes, try decode(IncidentLogEntry.self, bytes, key: "app/ilog/leaf/\(index)"))
        }

        static func describe(_ key: [UInt8]) -> String {
            let printable = key.prefix { $0 >= 0x20 && $0 < 0x7f }
            return String(decoding: printable, as: UTF8.self) + (printable.count < key.count ? "…" : "")
        }
    }

    func view() throws(LedgerQueryError) -> View {
        let snapshot = store.database.snapshot()
        let tip: [UInt8]?
        do { tip = try snapshot.get(StorageKeyspace.chainTipKey) } catch { throw .unavailable("\(error)") }
        guard let tip, tip.count == 40, let height = UInt64(bigEndianBytes: tip.prefix(8)) else {
            throw .unavailable("the chain tip is missing or corrupt")
        }
        return View(snapshot: snapshot, height: height)
    }

    // MARK: Registries

    /// The member organizations, ascending by name.
    public func organizations() throws(LedgerQueryError) -> CommittedRead<[OrganizationRecord]> {
        let view = try view()
        return CommittedRead(
            height: view.height, value: try view.list(OrganizationRecord.self, prefix: StateKeys.organizationPrefix))
    }

    /// The validators, ascending by node key.
    public func validators() throws(LedgerQueryError) -> CommittedRead<[ValidatorRecord]> {
        let view = try view()
        return CommittedRead(
            height: view.height, value: try view.list(ValidatorRecord.self, prefix: StateKeys.validatorPrefix))
    }

    /// The plugins, ascending by key.
    public func plugins() throws(LedgerQueryError) -> CommittedRead<[PluginRecord]> {
        let view = try view()
        return CommittedRead(
            height: view.height, value: try view.list(PluginRecord.self, prefix: StateKeys.pluginPrefix))
    }

    /// Every issuer, ascending by identifier.
    public func issuers() throws(LedgerQueryError) -> CommittedRead<[IssuerRecord]> {
        let view = try view()
        return CommittedRead(
            height: view.height, value: try view.list(IssuerRecord.self, prefix: StateKeys.issuerPrefix))
    }

    /// The issuer `identifier`, if any.
    public func issuer(identifier: String) throws(LedgerQueryError) -> CommittedRead<IssuerRecord?> {
        let view = try view()
        return CommittedRead(height: view.height, value: try view.load(IssuerRecord.self, StateKeys.issuer(identifier)))
    }

    /// The regulators, ascending by key.
    public func regulators() throws(LedgerQueryError) -> CommittedRead<[RegulatorRecord]> {
        let view = try view()
        return CommittedRead(
            height: view.height, value: try view.list(RegulatorRecord.self, prefix: StateKeys.regulatorPrefix))
    }

    /// The parameters in force.
    public func parameters() throws(LedgerQueryError) -> CommittedRead<GenesisParameters> {
        let view = try view()
        guard let parameters = try view.load(GenesisParameters.self, StateKeys.parameters) else {
            throw .unavailable("app/params is missing")
        }
        return CommittedRead(height: view.height, value: parameters)
    }

    // MARK: Proposals

    /// Proposals whose status at the committed height is `status` (all when nil), newest first, at most
    /// ``maxProposals``.
    public func proposals(status: ProposalStatusName?) throws(LedgerQueryError) -> CommittedRead<[ProposalRecord]> {
        let view = try view()
        var out: [ProposalRecord] = []
        for entry in try view.entries(StateKeys.proposalPrefix, limit: .max) {
            let record = try explained(
                view.decode(ProposalRecord.self, entry.value, key: View.describe(entry.key)), in: view)
            // As the next block would see it: a proposal is expired once no later vote can count.
            if let status, record.status(at: view.height + 1).name != status.rawValue { continue }
            out.append(record)
        }
        out.sort {
            $0.createdHeight != $1.createdHeight
                ? $0.createdHeight > $1.createdHeight : $0.id.bytes.lexicographicallyPrecedes($1.id.bytes)
        }
        return CommittedRead(height: view.height, value: Array(out.prefix(Self.maxProposals)))
    }

    /// The proposal `id`, if any.
    public func proposal(id: Digest) throws(LedgerQueryError) -> CommittedRead<ProposalRecord?> {
        let view = try view()
        let record = try view.load(ProposalRecord.self, StateKeys.proposal(id))
        return CommittedRead(
            height: view.height,
            value: try record.map { record throws(LedgerQueryError) in try explained(record, in: view) })
    }

    /// A failed proposal carries its stable code in state and its sentence in a note; the answer shows the sentence.
    private func explained(_ record: ProposalRecord, in view: View) throws(LedgerQueryError) -> ProposalRecord {
        guard case .failed(let code) = record.storedStatus,
            let note = try view.get(StateKeys.proposalNote(record.id))
        else { return record }
        var explained = record
        explained.storedStatus = .failed(reason: "\(code): \(String(decoding: note, as: UTF8.self))")
        return explained
    }

    // MARK: Incidents

    /// The index a query scans: the most selective one among its filters.
    static func indexPrefix(for query: IncidentQuery) -> [UInt8] {
        if let reporter = query.reporter { return StateKeys.IncidentIndex.reporter(reporter) }
        if let organization = query.organization { return StateKeys.IncidentIndex.organization(organization) }
        if let status = query.status { return StateKeys.IncidentIndex.status(status) }
        if let severity = query.severity { return StateKeys.IncidentIndex.severity(severity) }
        if let category = query.category {
            return StateKeys.IncidentIndex.category(String(category.prefix { $0 != "/" }))
        }
        if let rsitClass = query.rsitClass { return StateKeys.IncidentIndex.category(rsitClass) }
        return StateKeys.IncidentIndex.all
    }

    /// One page of incidents matching `query`, ascending by detection time. The scan walks the most selective
    /// index from `from` (or just past the cursor), stops past `to`, filters by the other criteria, and stops
    /// after ``scanFactor`` × limit entries, handing back a cursor so that the client continues.
    public func incidents(_ query: IncidentQuery) throws(LedgerQueryError) -> IncidentPage {
        guard query.limit >= 1, query.limit <= IncidentQuery.maxLimit else {
            throw .invalidParameter(name: "limit", reason: "must be between 1 and \(IncidentQuery.maxLimit)")
        }
        if let from = query.from, let to = query.to, from > to {
            throw .invalidParameter(name: "from", reason: "is later than to")
        }
        let view = try view()
        let prefix = Self.indexPrefix(for: query)
        let entryLength = prefix.count + 16
        var start: [UInt8]
        if let cursor = query.cursor {
            guard cursor.count == entryLength, cursor.starts(with: prefix) else {
                throw .invalidCursor("does not belong to this query's filters")
            }
            start = cursor + [0]
        } else {
            start = prefix + StateKeys.bigEndian(query.from ?? 0)
        }
        let budget = query.limit * Self.scanFactor
        var scanned = 0
        var found: [IncidentSummary] = []
        var lastKey: [UInt8]?
        var exhausted = false
        scan: while found.count < query.limit, scanned < budget {
            let batch = try view.entries(prefix, from: start, limit: min(budget - scanned, 256))
            if batch.isEmpty {
                exhausted = true
                break
            }
            for entry in batch {
                guard entry.key.count == entryLength,
                    let detectedAt = UInt64(bigEndianBytes: entry.key[prefix.count..<prefix.count + 8])
                else {
                    throw .unavailable("incident index entry \(View.describe(entry.key)) is malformed")
                }
                if let to = query.to, detectedAt > to {
                    exhausted = true
                    break scan
                }
                scanned += 1
                lastKey = entry.key
                if let summary = try summary(of: entry, matching: query, in: view) {
                    found.append(summary)
                    if found.count == query.limit { break scan }
                }
                if scanned == budget { break scan }
            }
            start = batch.last!.key + [0]
        }
        var next: [UInt8]?
        if !exhausted, let lastKey {
            // Look one entry ahead so that the last page does not send the client on an empty trip.
            let ahead = try view.entries(prefix, from: lastKey + [0], limit: 1).first
            if let ahead, let detectedAt = UInt64(bigEndianBytes: ahead.key.dropFirst(prefix.count).prefix(8)),
                query.to.map({ detectedAt <= $0 }) ?? true
            {
                next = lastKey
            }
        }
        return IncidentPage(height: view.height, incidents: found, nextCursor: next)
    }

    /// The incident an index entry names, if it matches `query`. The filters its state answers (organization,
    /// reporter, status) are checked before its report leaf is read, which halves the reads of entries they reject.
    private func summary(of entry: LevelDBEntry, matching query: IncidentQuery, in view: View)
        throws(LedgerQueryError) -> IncidentSummary?
    {
        guard let state = try view.load(IncidentState.self, StateKeys.incidentPrefix + entry.value) else {
            throw .unavailable("incident index entry \(View.describe(entry.key)) names a missing incident")
        }
        guard Self.matches(state, query) else { return nil }
        let summary = IncidentSummary(state: state, record: try record(of: state, in: view).1)
        return Self.matches(summary, query) ? summary : nil
    }

    /// The filters an incident's state answers on its own.
    static func matches(_ state: IncidentState, _ query: IncidentQuery) -> Bool {
        if let organization = query.organization, state.organization != organization { return false }
        if let reporter = query.reporter, state.reporter != reporter { return false }
        if let status = query.status, state.status != status { return false }
        return true
    }

    private func record(of state: IncidentState, in view: View) throws(LedgerQueryError) -> (
        IncidentLogEntry, IncidentRecord
    ) {
        guard let (_, entry) = try view.leaf(state.reportLeaf) else {
            throw .unavailable("incident leaf \(state.reportLeaf) is missing")
        }
        return (entry, try view.decode(IncidentRecord.self, entry.transaction.payload, key: "incident record"))
    }

    static func matches(_ summary: IncidentSummary, _ query: IncidentQuery) -> Bool {
        guard matches(summary.state, query) else { return false }
        if let severity = query.severity, summary.record.severity != severity { return false }
        if let category = query.category, summary.record.category != category { return false }
        if let rsitClass = query.rsitClass, summary.record.category.prefix(while: { $0 != "/" }) != rsitClass {
            return false
        }
        if let from = query.from, summary.record.detectedAt < from { return false }
        if let to = query.to, summary.record.detectedAt > to { return false }
        return true
    }

    /// The incident `id` of `organization`, with its record and updates.
    public func incident(organization: String, id: String) throws(LedgerQueryError) -> CommittedRead<IncidentDetail?> {
        let view = try view()
        guard let state = try view.load(IncidentState.self, StateKeys.incident(organization: organization, id: id))
        else { return CommittedRead(height: view.height, value: nil) }
        let (report, record) = try record(of: state, in: view)
        var updates: [IncidentUpdateEntry] = []
        for leaf in state.updateLeaves {
            guard let (_, entry) = try view.leaf(leaf) else { throw .unavailable("incident leaf \(leaf) is missing") }
            let update = try view.decode(IncidentUpdatePayload.self, entry.transaction.payload, key: "incident update")
            updates.append(IncidentUpdateEntry(leaf: leaf, entry: entry, update: update))
        }
        return CommittedRead(
            height: view.height, value: IncidentDetail(state: state, record: record, report: report, updates: updates))
    }

    // MARK: Incident log

    /// The log's size and root at the committed tip, with the tip's header and certificate (which commit to them).
    public func incidentLogCheckpoint() throws(LedgerQueryError) -> IncidentLogCheckpoint {
        let view = try view()
        let block: Block?
        let certificate: QuorumCertificate?
        do {
            block = try store.block(atHeight: view.height)
            certificate = try store.certificate(atHeight: view.height)
        } catch {
            throw .unavailable("\(error)")
        }
        guard let block, let certificate else { throw .unavailable("the tip block \(view.height) is missing") }
        let size = try view.logSize()
        let root: Digest
        do { root = try view.log().root() } catch { throw .unavailable("incident log: \(error)") }
        guard block.header.incidentLogSize == size, block.header.incidentLogRoot == root else {
            throw .unavailable("the incident log does not match the tip header at height \(view.height)")
        }
        return IncidentLogCheckpoint(size: size, root: root, header: block.header, certificate: certificate)
    }

    /// The leaf at `index`, or nil beyond the log.
    public func incidentLogLeaf(at index: UInt64) throws(LedgerQueryError) -> CommittedRead<IncidentLogLeaf?> {
        let view = try view()
        guard index < (try view.logSize()), let (bytes, entry) = try view.leaf(index) else {
            return CommittedRead(height: view.height, value: nil)
        }
        return CommittedRead(height: view.height, value: IncidentLogLeaf(index: index, bytes: bytes, entry: entry))
    }

    /// The inclusion proof of `leaf` in the tree of `treeSize` leaves (the current size when nil).
    public func incidentInclusionProof(leaf: UInt64, treeSize: UInt64?) throws(LedgerQueryError)
        -> InclusionProofAnswer
    {
        let view = try view()
        let log = try view.log()
        let size = treeSize ?? log.size
        guard size <= log.size else {
            throw .proofOutOfRange("size \(size) is larger than the log's \(log.size) leaves")
        }
        guard leaf < size else { throw .proofOutOfRange("leaf \(leaf) is not below size \(size)") }
        guard let (bytes, _) = try view.leaf(leaf) else { throw .unavailable("incident leaf \(leaf) is missing") }
        do {
            return InclusionProofAnswer(
                height: view.height, leafIndex: leaf, treeSize: size, leafHash: MerkleHash.leaf(bytes),
                root: try log.root(atSize: size), proof: try log.inclusionProof(leafIndex: leaf, treeSize: size))
        } catch {
            throw .unavailable("incident log: \(error)")
        }
    }

    /// The consistency proof from `oldSize` leaves to `newSize` (the current size when nil).
    public func incidentConsistencyProof(oldSize: UInt64, newSize: UInt64?) throws(LedgerQueryError)
        -> ConsistencyProofAnswer
    {
        let view = try view()
        let log = try view.log()
        let size = newSize ?? log.size
        guard size <= log.size else {
            throw .proofOutOfRange("to \(size) is larger than the log's \(log.size) leaves")
        }
        guard oldSize >= 1, oldSize <= size else {
            throw .proofOutOfRange("from \(oldSize) must be between 1 and to (\(size))")
        }
        do {
            return ConsistencyProofAnswer(
                height: view.height, oldSize: oldSize, newSize: size, oldRoot: try log.root(atSize: oldSize),
                newRoot: try log.root(atSize: size), proof: try log.consistencyProof(oldSize: oldSize, newSize: size))
        } catch {
            throw .unavailable("incident log: \(error)")
        }
    }
}
