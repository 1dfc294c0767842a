import API
import Codec
import Consensus
import Daemon
import EnsureCrypto
import Ledger
import Storage
import Testing

/// A chain committed into a real LevelDB through the executor: governance that registers a plugin, then many
/// incidents from three reporters with scattered detection times, then updates.
final class IncidentChain {
    let fixture = ChainFixture()
    let directory = TemporaryDirectory()
    let executor: LedgerExecutor
    let queries: LedgerQueries
    let plugin = Ed25519PrivateKey(seed: [UInt8](repeating: 77, count: 32))!
    private var tip: Block
    private var tipQC: QuorumCertificate
    private var round: UInt64 = 0
    private var sequences: [Ed25519PublicKey: UInt64] = [:]
    /// Every reported incident's record and reporting organization, in report order.
    private(set) var reports: [(organization: String, reporter: Ed25519PublicKey, record: IncidentRecord)] = []
    /// Every incident's status after the updates.
    private(set) var statuses: [String: IncidentStatus] = [:]
    /// The proposals, in order: the add-plugin (passed), an add-regulator (open), an add-organization (rejected).
    private(set) var proposalIDs: [Digest] = []
    /// Committed headers by height.
    private(set) var headers: [UInt64: BlockHeader] = [:]

    static let categories = [
        "intrusion-attempts/exploit", "intrusion-attempts/brute-force", "malicious-code/c2-server",
        "availability/ddos", "fraud/phishing",
    ]
    static let severities: [IncidentSeverity] = [.low, .medium, .high, .critical, .informational]

    init(incidentCount: Int = 120) throws {
        let database = try LevelDB(path: directory.path + "/ledger")
        let store = try BlockStore(database: database)
        executor = try LedgerExecutor(genesis: fixture.genesis, genesisBlock: fixture.genesisBlock, store: store)
        queries = LedgerQueries(store: store)
        tip = fixture.genesisBlock
        tipQC = .genesis(chainID: fixture.chainID, blockID: fixture.genesisBlock.id)

        let admin0 = fixture.adminKeys[0]
        let admin1 = fixture.adminKeys[1]
        // Block 1: org-0 proposes a plugin, org-1 approves; org-0 proposes a regulator (stays open) and a third
        // organization (org-1 rejects it).
        let addPlugin = transaction(
            admin0, .governancePropose,
            ProposePayload(
                action: .addPlugin(PluginRecord(key: plugin.publicKey, organization: "org-0", name: "wazuh@web-1")),
                rationale: "detector on web-1"
            ).canonicalBytes)
        let addRegulator = transaction(
            admin0, .governancePropose,
            ProposePayload(
                action: .addRegulator(
                    RegulatorRecord(
                        key: Ed25519PrivateKey(seed: [UInt8](repeating: 88, count: 32))!.publicKey, name: "CERT",
                        incidentKey: nil))
            ).canonicalBytes)
        let removeOrg = transaction(
            admin0, .governancePropose,
            ProposePayload(
                action: .addOrganization(
                    name: "org-3", adminKey: Ed25519PrivateKey(seed: [UInt8](repeating: 99, count: 32))!.publicKey,
                    incidentKey: nil)
            ).canonicalBytes)
        proposalIDs = [addPlugin.id, addRegulator.id, removeOrg.id]
        try commit([addPlugin, addRegulator, removeOrg])
        try commit([
            transaction(admin1, .governanceVote, VotePayload(proposal: addPlugin.id, approve: true).canonicalBytes),
            transaction(admin1, .governanceVote, VotePayload(proposal: removeOrg.id, approve: false).canonicalBytes),
        ])

        // Blocks 3 and 4: incidents from org-0's admin, org-0's plugin and org-1's admin, detection times out of
        // order so that index order differs from report order.
        var batch: [Transaction] = []
        for i in 0..<incidentCount {
            let key = [admin0, plugin, admin1][i % 3]
            let organization = i % 3 == 2 ? "org-1" : "org-0"
            let record = IncidentRecord(
                id: "inc-\(i)", detectedAt: 1_699_000_000_000 + UInt64((i * 7919) % 1000) * 1000,
                category: Self.categories[i % Self.categories.count], severity: Self.severities[(i / 2) % 5],
                asset: "host-\(i % 4)", detector: "test", summary: "incident \(i)",
                evidenceDigest: SHA256.hash([UInt8(i % 256)]))
            reports.append((organization, key.publicKey, record))
            statuses["\(organization):inc-\(i)"] = .open
            batch.append(transaction(key, .incidentReport, record.canonicalBytes))
            if batch.count == incidentCount / 2 {
                try commit(batch)
                batch = []
            }
        }
        if !batch.isEmpty { try commit(batch) }

        // Block 5: org-0 acknowledges every 4th of its incidents and resolves every 5th; org-1 marks one false.
        var updates: [Transaction] = []
        for (i, report) in reports.enumerated() where report.organization == "org-0" {
            if i % 4 == 0 {
                updates.append(
                    transaction(
                        admin0, .incidentUpdate,
                        IncidentUpdatePayload(incidentID: report.record.id, status: .acknowledged, note: "seen")
                            .canonicalBytes))
                statuses["org-0:\(report.record.id)"] = .acknowledged
            } else if i % 5 == 0 {
                updates.append(
                    transaction(
                        admin0, .incidentUpdate,
                        IncidentUpdatePayload(
                            incidentID: report.record.id, status: .resolved, note: "patched", links: ["inc-0"]
                        ).canonicalBytes))
                statuses["org-0:\(report.record.id)"] = .resolved
            }
        }
        updates.append(
            transaction(
                admin1, .incidentUpdate,
                IncidentUpdatePayload(incidentID: "inc-2", status: .falsePositive, note: "test traffic").canonicalBytes)
        )
        statuses["org-1:inc-2"] = .falsePositive
        try commit(updates)
    }

    func transaction(_ key: Ed25519PrivateKey, _ kind: TransactionKind, _ payload: [UInt8]) -> Transaction {
        let sequence = sequences[key.publicKey, default: 1]
        sequences[key.publicKey] = sequence + 1
        return Transaction(chainID: fixture.chainID, sequence: sequence, kind: kind, payload: payload, signedBy: key)
    }

    func commit(_ transactions: [Transaction]) throws {
        round += 1
        let block = fixture.child(
            of: tip, parentCertificate: tipQC, round: round, transactions: transactions, executor: executor)
        try executor.execute(block)
        let qc = fixture.certificate(for: block.header)
        try executor.commit(block, certificate: qc)
        for id in block.transactions.map(\.id) {
            let location = try #require(executor.location(of: id))
            try #require(location.failure == nil, "transaction failed: \(location.failure!)")
        }
        headers[block.header.height] = block.header
        tip = block
        tipQC = qc
    }

    /// Every page of `query`, following cursors; fails past `maxPages`.
    func all(_ query: IncidentQuery, maxPages: Int = 10_000) throws -> (incidents: [IncidentSummary], pages: Int) {
        var query = query
        var out: [IncidentSummary] = []
        var pages = 0
        while true {
            let page = try queries.incidents(query)
            pages += 1
            #expect(page.incidents.count <= query.limit)
            out += page.incidents
            guard let cursor = page.nextCursor, pages < maxPages else { break }
            query.cursor = cursor
        }
        return (out, pages)
    }

    /// The expected incidents of a filter, in index order (detection time, then report leaf = report order).
    func expected(_ include: (Int, String, Ed25519PublicKey, IncidentRecord) -> Bool) -> [String] {
        reports.enumerated()
            .filter { include($0.offset, $0.element.organization, $0.element.reporter, $0.element.record) }
            .sorted { ($0.element.record.detectedAt, $0.offset) < ($1.element.record.detectedAt, $1.offset) }
            .map { "\($0.element.organization):\($0.element.record.id)" }
    }
}

private func names(_ incidents: [IncidentSummary]) -> [String] {
    incidents.map { "\($0.state.organization):\($0.state.id)" }
}

@Suite("Ledger queries over LevelDB")
struct LedgerQueriesTests {
    @Test("pages cover every incident exactly once, in detection-time order, for any page size")
    func paginationCoversEverything() throws {
        let chain = try IncidentChain()
        let expected = chain.expected { _, _, _, _ in true }
        #expect(expected.count == 120)
        for limit in [1, 7, 50, 500] {
            let (incidents, pages) = try chain.all(IncidentQuery(limit: limit))
            #expect(names(incidents) == expected, "limit \(limit)")
            #expect(pages == (120 + limit - 1) / limit, "limit \(limit): no empty trailing page")
        }
    }

    @Test("each filter returns exactly the incidents that match it, through every page")
    func filters() throws {
        let chain = try IncidentChain()
        let org0 = chain.fixture.adminKeys[0].publicKey
        let cases: [(IncidentQuery, (Int, String, Ed25519PublicKey, IncidentRecord) -> Bool)] = [
            (IncidentQuery(organization: "org-1", limit: 5), { _, o, _, _ in o == "org-1" }),
            (IncidentQuery(reporter: chain.plugin.publicKey, limit: 5), { _, _, r, _ in r == chain.plugin.publicKey }),
            (IncidentQuery(organization: "org-0", reporter: org0, limit: 5), { _, _, r, _ in r == org0 }),
            (
                IncidentQuery(rsitClass: "intrusion-attempts", limit: 5),
                { _, _, _, c in c.category.hasPrefix("intrusion-attempts/") }
            ),
            (
                IncidentQuery(category: "intrusion-attempts/exploit", limit: 5),
                { _, _, _, c in c.category == "intrusion-attempts/exploit" }
            ),
            (IncidentQuery(severity: .critical, limit: 5), { _, _, _, c in c.severity == .critical }),
            (
                IncidentQuery(status: .acknowledged, limit: 5),
                { _, o, _, c in chain.statuses["\(o):\(c.id)"] == .acknowledged }
            ),
            (
                IncidentQuery(status: .open, limit: 5),
                { _, o, _, c in chain.statuses["\(o):\(c.id)"] == .open }
            ),
            (
                IncidentQuery(organization: "org-0", severity: .high, status: .resolved, limit: 2),
                { _, o, _, c in o == "org-0" && c.severity == .high && chain.statuses["\(o):\(c.id)"] == .resolved }
            ),
            (
                IncidentQuery(from: 1_699_000_200_000, to: 1_699_000_600_000, limit: 9),
                { _, _, _, c in c.detectedAt >= 1_699_000_200_000 && c.detectedAt <= 1_699_000_600_000 }
            ),
            (
                IncidentQuery(rsitClass: "fraud", from: 1_699_000_500_000, limit: 3),
                { _, _, _, c in c.category.hasPrefix("fraud/") && c.detectedAt >= 1_699_000_500_000 }
            ),
            (IncidentQuery(organization: "org-9", limit: 5), { _, _, _, _ in false }),
        ]
        for (query, include) in cases {
            let expected = chain.expected(include)
            let (incidents, _) = try chain.all(query)
            #expect(names(incidents) == expected, "\(query)")
            // Both ways: the filter excludes something (except where nothing or everything matches by design).
            if !expected.isEmpty { #expect(expected.count < 120, "\(query) excludes nothing") }
        }
        #expect(try chain.all(IncidentQuery(status: .falsePositive)).incidents.map(\.state.id) == ["inc-2"])
    }

    @Test("a rare match stops after bounded work and hands back a cursor that continues the scan")
    func boundedScan() throws {
        let chain = try IncidentChain()
        // Severity critical among org-0 reports: the org index is scanned and most entries are filtered out.
        var query = IncidentQuery(organization: "org-0", severity: .critical, limit: 1)
        let page = try chain.queries.incidents(query)
        #expect(page.incidents.count <= 1)
        // 80 org-0 entries, at most 10 scanned per page: many pages, some of them empty but with a cursor.
        query.cursor = nil
        let (incidents, pages) = try chain.all(query)
        #expect(pages >= 8)
        #expect(
            names(incidents)
                == chain.expected { _, o, _, c in o == "org-0" && c.severity == .critical })
    }

    @Test("a cursor of another index, of the wrong length, or a bad limit is refused")
    func refusals() throws {
        let chain = try IncidentChain()
        let page = try chain.queries.incidents(IncidentQuery(organization: "org-0", limit: 3))
        let cursor = try #require(page.nextCursor)
        #expect(throws: LedgerQueryError.invalidCursor("does not belong to this query's filters")) {
            try chain.queries.incidents(IncidentQuery(status: .open, limit: 3, cursor: cursor))
        }
        #expect(throws: LedgerQueryError.self) {
            try chain.queries.incidents(IncidentQuery(organization: "org-0", limit: 3, cursor: cursor + [0]))
        }
        #expect(throws: LedgerQueryError.invalidParameter(name: "limit", reason: "must be between 1 and 500")) {
            try chain.queries.incidents(IncidentQuery(limit: 0))
        }
        // The same cursor with its own filters continues.
        let next = try chain.queries.incidents(IncidentQuery(organization: "org-0", limit: 3, cursor: cursor))
        #expect(next.incidents.count == 3)
        #expect(Set(names(next.incidents)).isDisjoint(with: names(page.incidents)))
    }

    @Test("an incident's detail carries its record, report leaf and updates; an unknown one is nil")
    func incidentDetail() throws {
        let chain = try IncidentChain()
        let detail = try #require(try chain.queries.incident(organization: "org-0", id: "inc-10").value)
        #expect(detail.record.summary == "incident 10")
        #expect(detail.state.status == .resolved)
        #expect(detail.updates.map(\.update.status) == [.resolved])
        #expect(detail.updates.first?.update.note == "patched")
        #expect(detail.state.links == [IncidentReference(organization: "org-0", id: "inc-0")])
        #expect(detail.report.transaction.signer == chain.plugin.publicKey)
        #expect(detail.updates.first?.entry.height == 5)
        #expect(try chain.queries.incident(organization: "org-0", id: "inc-2").value == nil)
        #expect(try chain.queries.incident(organization: "org-1", id: "inc-2").value?.state.status == .falsePositive)
    }

    @Test("registries, parameters and proposals read committed state; proposal status filters")
    func registriesAndProposals() throws {
        let chain = try IncidentChain(incidentCount: 6)
        #expect(try chain.queries.organizations().value.map(\.name) == ["org-0", "org-1"])
        #expect(try chain.queries.validators().value.count == 4)
        #expect(try chain.queries.plugins().value.map(\.name) == ["wazuh@web-1"])
        #expect(try chain.queries.regulators().value.isEmpty)
        #expect(try chain.queries.issuers().value.isEmpty)
        #expect(try chain.queries.issuer(identifier: "https://nobody.example").value == nil)
        #expect(try chain.queries.parameters().value == GenesisParameters())
        let all = try chain.queries.proposals(status: nil)
        #expect(all.height == 5)
        #expect(Set(all.value.map(\.id)) == Set(chain.proposalIDs))
        #expect(try chain.queries.proposals(status: .passed).value.map(\.id) == [chain.proposalIDs[0]])
        #expect(try chain.queries.proposals(status: .open).value.map(\.id) == [chain.proposalIDs[1]])
        #expect(try chain.queries.proposals(status: .rejected).value.map(\.id) == [chain.proposalIDs[2]])
        #expect(try chain.queries.proposals(status: .expired).value.isEmpty)
        let passed = try #require(try chain.queries.proposal(id: chain.proposalIDs[0]).value)
        #expect(passed.decidedHeight == 2)
        #expect(passed.votes.map(\.organization) == ["org-0", "org-1"])
        #expect(try chain.queries.proposal(id: SHA256.hash([1])).value == nil)
    }

    @Test("served inclusion and consistency proofs verify against the roots in committed certified headers")
    func proofs() throws {
        let chain = try IncidentChain(incidentCount: 30)
        let checkpoint = try chain.queries.incidentLogCheckpoint()
        let tipHeader = try #require(chain.headers[5])
        #expect(checkpoint.header == tipHeader)
        #expect(checkpoint.certificate.blockID == tipHeader.id)
        #expect(checkpoint.size == tipHeader.incidentLogSize)
        // 30 reports plus the updates.
        #expect(checkpoint.size > 30)
        for index in 0..<checkpoint.size {
            let leaf = try #require(try chain.queries.incidentLogLeaf(at: index).value)
            let proof = try chain.queries.incidentInclusionProof(leaf: index, treeSize: nil)
            #expect(proof.leafHash == MerkleHash.leaf(leaf.bytes))
            try MerkleProof.verifyInclusion(
                leafHash: MerkleHash.leaf(leaf.bytes), index: index, treeSize: tipHeader.incidentLogSize,
                proof: proof.proof, root: tipHeader.incidentLogRoot)
        }
        // An older certified header (block 3: the first half of the reports) and a proof at its size.
        let older = try #require(chain.headers[3])
        #expect(older.incidentLogSize == 15)
        let leaf = try #require(try chain.queries.incidentLogLeaf(at: 4).value)
        let proof = try chain.queries.incidentInclusionProof(leaf: 4, treeSize: older.incidentLogSize)
        try MerkleProof.verifyInclusion(
            leafHash: MerkleHash.leaf(leaf.bytes), index: 4, treeSize: older.incidentLogSize, proof: proof.proof,
            root: older.incidentLogRoot)
        var tampered = leaf.bytes
        tampered[tampered.count - 1] ^= 1
        #expect(throws: MerkleProofError.self) {
            try MerkleProof.verifyInclusion(
                leafHash: MerkleHash.leaf(tampered), index: 4, treeSize: older.incidentLogSize, proof: proof.proof,
                root: older.incidentLogRoot)
        }
        #expect(throws: MerkleProofError.self) {
            try MerkleProof.verifyInclusion(
                leafHash: MerkleHash.leaf(leaf.bytes), index: 4, treeSize: older.incidentLogSize,
                proof: proof.proof.reversed(), root: older.incidentLogRoot)
        }
        let consistency = try chain.queries.incidentConsistencyProof(oldSize: older.incidentLogSize, newSize: nil)
        #expect(consistency.oldRoot == older.incidentLogRoot)
        try MerkleProof.verifyConsistency(
            oldSize: older.incidentLogSize, newSize: tipHeader.incidentLogSize, oldRoot: older.incidentLogRoot,
            newRoot: tipHeader.incidentLogRoot, proof: consistency.proof)
        var forged = consistency.proof
        forged[0] = SHA256.hash([0])
        #expect(throws: MerkleProofError.self) {
            try MerkleProof.verifyConsistency(
                oldSize: older.incidentLogSize, newSize: tipHeader.incidentLogSize, oldRoot: older.incidentLogRoot,
                newRoot: tipHeader.incidentLogRoot, proof: forged)
        }
        // Out of range.
        let size = checkpoint.size
        #expect(throws: LedgerQueryError.self) { try chain.queries.incidentInclusionProof(leaf: size, treeSize: nil) }
        #expect(throws: LedgerQueryError.self) { try chain.queries.incidentInclusionProof(leaf: 0, treeSize: size + 1) }
        #expect(throws: LedgerQueryError.self) { try chain.queries.incidentConsistencyProof(oldSize: 0, newSize: nil) }
        #expect(throws: LedgerQueryError.self) {
            try chain.queries.incidentConsistencyProof(oldSize: 5, newSize: 4)
        }
        #expect(try chain.queries.incidentLogLeaf(at: size).value == nil)
    }
}
