import Codec
import EnsureCrypto
import Foundation
import Hummingbird
import HummingbirdTesting
import Ledger
import Testing

@testable import API

/// Registries, a proposal, and an incident log of five real signed reports held in memory, with a certified
/// header over the log's root, for the fake node to serve.
struct LedgerFixture: Sendable {
    let height: UInt64 = 12
    let admin = Ed25519PrivateKey(seed: [UInt8](repeating: 1, count: 32))!
    let pluginKey = Ed25519PrivateKey(seed: [UInt8](repeating: 7, count: 32))!
    let validatorKeys = (2...5).map { Ed25519PrivateKey(seed: [UInt8](repeating: UInt8($0), count: 32))! }
    let organizations: [OrganizationRecord]
    let validators: [ValidatorRecord]
    let plugins: [PluginRecord]
    let issuer: IssuerRecord
    let regulators: [RegulatorRecord]
    let proposals: [ProposalRecord]
    let entries: [IncidentLogEntry]
    let nodes: InMemoryMerkleNodeStore
    let incident: IncidentSummary
    let detail: IncidentDetail
    let checkpoint: IncidentLogCheckpoint

    init() {
        let incidentKey = X25519PublicKey(bytes: [UInt8](repeating: 9, count: 32))!
        organizations = [
            OrganizationRecord(name: "shop-a", adminKey: admin.publicKey, incidentKey: incidentKey, joinedHeight: 0)
        ]
        validators = validatorKeys.map { ValidatorRecord(nodeKey: $0.publicKey, organization: "shop-a") }
        plugins = [PluginRecord(key: pluginKey.publicKey, organization: "shop-a", name: "wazuh@web-1")]
        issuer = IssuerRecord(
            identifier: "https://issuer.example/age", organization: "shop-a", ledgerKey: pluginKey.publicKey,
            signingKeys: [
                IssuerSigningKey(
                    keyID: "k1", x: [UInt8](repeating: 0xfb, count: 32), y: [UInt8](repeating: 2, count: 32),
                    notBefore: 1, notAfter: 2)
            ], credentialTypes: ["age-over-18"], validFrom: 1, validUntil: 3)
        regulators = [RegulatorRecord(key: validatorKeys[0].publicKey, name: "CERT", incidentKey: nil)]
        proposals = [
            ProposalRecord(
                id: SHA256.hash(Array("p1".utf8)), proposer: "shop-a",
                action: .addOrganization(name: "shop-b", adminKey: pluginKey.publicKey, incidentKey: nil),
                rationale: "new member", createdHeight: 3, expiresHeight: 10, votes: [("shop-a", true)],
                storedStatus: .open, decidedHeight: nil),
            ProposalRecord(
                id: SHA256.hash(Array("p2".utf8)), proposer: "shop-a", action: .removePlugin(key: pluginKey.publicKey),
                rationale: "", createdHeight: 5, expiresHeight: 100, votes: [("shop-a", true)],
                storedStatus: .failed(reason: "plugin is not registered"), decidedHeight: 5),
        ]
        var entries: [IncidentLogEntry] = []
        var records: [IncidentRecord] = []
        for i in 0..<5 {
            let record = IncidentRecord(
                id: "inc-\(i)", detectedAt: 1_700_000_000_000 + UInt64(i), category: "intrusion-attempts/exploit",
                severity: .high, asset: "web-1", detector: "wazuh", summary: "exploit attempt \(i)",
                evidenceDigest: SHA256.hash([UInt8(i)]), evidenceURIs: ["https://evidence.example/\(i)"],
                sealedDetails: [SealedDetail(recipient: incidentKey.bytes, ciphertext: [1, 2, 3])])
            records.append(record)
            let tx = Transaction(
                chainID: "ensure-test", sequence: UInt64(i + 1), kind: .incidentReport, payload: record.canonicalBytes,
                signedBy: pluginKey)
            entries.append(
                IncidentLogEntry(height: 3, timestamp: 1_700_000_001_000, organization: "shop-a", transaction: tx))
        }
        self.entries = entries
        var nodes = InMemoryMerkleNodeStore()
        let append = try! MerkleLog(source: nodes, size: 0).appending(entries.map(\.leafHash))
        nodes.store(append.writes)
        self.nodes = nodes
        let root = try! MerkleLog(source: nodes, size: 5).root()
        let state = IncidentState(
            organization: "shop-a", id: "inc-0", reporter: pluginKey.publicKey,
            recordDigest: SHA256.hash(records[0].canonicalBytes), reportLeaf: 0, reportedHeight: 3,
            reportedAt: 1_700_000_001_000, status: .acknowledged, updateLeaves: [],
            links: [IncidentReference(organization: "shop-a", id: "inc-1")])
        incident = IncidentSummary(state: state, record: records[0])
        detail = IncidentDetail(state: state, record: records[0], report: entries[0], updates: [])
        let header = BlockHeader(
            chainID: "ensure-test", epoch: 0, height: height, round: 20, parentID: SHA256.hash([1]),
            proposer: validatorKeys[0].publicKey, timestamp: 1_700_000_002_000, transactionRoot: SHA256.hash([2]),
            transactionCount: 0, incidentLogSize: 5, incidentLogRoot: root, stateRoot: SHA256.hash([3]),
            validatorSetHash: SHA256.hash([4]))
        let data = VoteData(chainID: "ensure-test", epoch: 0, round: 20, height: height, blockID: header.id)
        let certificate = QuorumCertificate(
            data: data,
            signatures: validatorKeys.prefix(3).map {
                ValidatorSignature(signer: $0.publicKey, signature: Vote(data: data, signedBy: $0).signature)
            })
        checkpoint = IncidentLogCheckpoint(size: 5, root: root, header: header, certificate: certificate)
    }

    func leaf(at index: UInt64) -> IncidentLogLeaf? {
        guard index < UInt64(entries.count) else { return nil }
        let entry = entries[Int(index)]
        return IncidentLogLeaf(index: index, bytes: entry.canonicalBytes, entry: entry)
    }

    func inclusion(leaf: UInt64, size: UInt64?) throws(LedgerQueryError) -> InclusionProofAnswer {
        let size = size ?? 5
        guard size <= 5, leaf < size else { throw .proofOutOfRange("leaf \(leaf) is not below size \(size)") }
        let log = MerkleLog(source: nodes, size: 5)
        return InclusionProofAnswer(
            height: height, leafIndex: leaf, treeSize: size, leafHash: entries[Int(leaf)].leafHash,
            root: try! log.root(atSize: size), proof: try! log.inclusionProof(leafIndex: leaf, treeSize: size))
    }

    func consistency(from: UInt64, to: UInt64?) throws(LedgerQueryError) -> ConsistencyProofAnswer {
        let to = to ?? 5
        guard to <= 5, from >= 1, from <= to else { throw .proofOutOfRange("from \(from) must be between 1 and \(to)") }
        let log = MerkleLog(source: nodes, size: 5)
        return ConsistencyProofAnswer(
            height: height, oldSize: from, newSize: to, oldRoot: try! log.root(atSize: from),
            newRoot: try! log.root(atSize: to), proof: try! log.consistencyProof(oldSize: from, newSize: to))
    }
}

/// Runs `uri` against a fake node and hands the response to `check`.
private func get(
    _ uri: String, node: FakeNode = FakeNode(), _ check: @escaping @Sendable (TestResponse) async throws -> Void
) async throws {
    try await makeApplication(node).test(.router) { client in
        try await client.execute(uri: uri, method: .get) { response in try await check(response) }
    }
}

/// Expects `uri` to be refused with `status` and `code`, and the detail to mention `mentioning`.
private func expectProblem(
    _ uri: String, status: HTTPResponse.Status, code: String, mentioning: String? = nil, node: FakeNode = FakeNode(),
    sourceLocation: SourceLocation = #_sourceLocation
) async throws {
    try await get(uri, node: node) { response in
        #expect(response.status == status, "\(uri)", sourceLocation: sourceLocation)
        #expect(response.headers[.contentType] == "application/problem+json", sourceLocation: sourceLocation)
        let problem = try ProblemJSON(response)
        #expect(
            problem.type == "urn:ensure:problem:\(code)", "\(uri): \(problem.detail)", sourceLocation: sourceLocation)
        if let mentioning {
            #expect(problem.detail.contains(mentioning), "\(problem.detail)", sourceLocation: sourceLocation)
        }
    }
}

private func body<T: Decodable>(_ type: T.Type, _ response: TestResponse) throws -> T {
    try JSONDecoder().decode(type, from: Data(response.body.readableBytesView))
}

@Suite("API ledger routes")
struct LedgerRouteTests {
    let ledger = LedgerFixture()

    @Test("registries answer their records with the committed height")
    func registries() async throws {
        try await get("/v1/organizations") { response in
            #expect(response.status == .ok)
            let answer = try body(OrganizationsBody.self, response)
            #expect(answer.height == 12)
            #expect(answer.organizations.map(\.name) == ["shop-a"])
            #expect(answer.organizations[0].adminKey == LedgerFixture().admin.publicKey.hex)
            #expect(answer.organizations[0].incidentKey == String(repeating: "09", count: 32))
        }
        try await get("/v1/validators") { response in
            let decoded = try body(ValidatorsBody.self, response)
            #expect(decoded.validators.count == 4)
        }
        try await get("/v1/plugins") { response in
            let decoded = try body(PluginsBody.self, response)
            #expect(decoded.plugins.map(\.name) == ["wazuh@web-1"])
        }
        try await get("/v1/regulators") { response in
            let answer = try body(RegulatorsBody.self, response)
            #expect(answer.regulators.map(\.name) == ["CERT"])
            #expect(answer.regulators[0].incidentKey == nil)
        }
        try await get("/v1/parameters") { response in
            let answer = try body(ParametersBody.self, response)
            #expect(answer.parameters["max_block_transactions"] == 5_000)
            #expect(answer.parameters.count == 8)
        }
        try await get("/v1/issuers") { response in
            let answer = try body(IssuersBody.self, response)
            #expect(answer.issuers.map(\.identifier) == ["https://issuer.example/age"])
            #expect(answer.issuers[0].signingKeys[0].x == Base64.encodeURL([UInt8](repeating: 0xfb, count: 32)))
            #expect(answer.issuers[0].signingKeys[0].crv == "P-256")
        }
    }

    @Test("an issuer's keys show their retirement and revocation; unmarked keys carry neither")
    func issuerKeyMarks() async throws {
        var record = LedgerFixture().issuer
        let base = record.signingKeys[0]
        record.signingKeys = [
            IssuerSigningKey(
                keyID: "old", x: base.x, y: base.y, notBefore: base.notBefore, notAfter: base.notAfter,
                retiredFrom: 1_700_000_000_000),
            IssuerSigningKey(
                keyID: "lost", x: base.y, y: base.x, notBefore: base.notBefore, notAfter: base.notAfter,
                revokedAt: 1_700_000_100_000),
            IssuerSigningKey(keyID: "new", x: base.x, y: base.x, notBefore: base.notBefore, notAfter: base.notAfter),
        ]
        let node = FakeNode()
        await node.setIssuerRecord(record)
        try await get("/v1/issuers/https%3A%2F%2Fissuer.example%2Fage", node: node) { response in
            let keys = try body(IssuerAnswer.self, response).issuer.signingKeys
            #expect(keys.map(\.kid) == ["old", "lost", "new"])
            #expect(keys.map(\.retiredFrom) == [1_700_000_000_000, nil, nil])
            #expect(keys.map(\.revokedAt) == [nil, 1_700_000_100_000, nil])
        }
    }

    @Test("an issuer is found by its percent-encoded identifier, and an unknown one is 404")
    func issuer() async throws {
        try await get("/v1/issuers/https%3A%2F%2Fissuer.example%2Fage") { response in
            #expect(response.status == .ok)
            let decoded = try body(IssuerAnswer.self, response)
            #expect(decoded.issuer.credentialTypes == ["age-over-18"])
        }
        try await expectProblem(
            "/v1/issuers/https%3A%2F%2Fother.example", status: .notFound, code: "unknown-issuer",
            mentioning: "https://other.example")
        try await expectProblem(
            "/v1/issuers/" + String(repeating: "a", count: 300), status: .badRequest, code: "invalid-parameter",
            mentioning: "identifier")
        try await expectProblem("/v1/issuers/%ZZ", status: .badRequest, code: "invalid-parameter")
    }

    @Test("proposals list with their status at the committed height, filtered by status")
    func proposals() async throws {
        try await get("/v1/proposals") { response in
            let answer = try body(ProposalsBody.self, response)
            #expect(answer.proposals.count == 2)
            // Created at 3, expiring at 10, read at height 12: expired although stored open.
            #expect(answer.proposals[0].status == "expired")
            #expect(answer.proposals[0].action.type == "add-organization")
            #expect(answer.proposals[0].action.name == "shop-b")
            #expect(answer.proposals[1].status == "failed")
            #expect(answer.proposals[1].failureReason == "plugin is not registered")
            #expect(answer.proposals[1].action.key == LedgerFixture().pluginKey.publicKey.hex)
        }
        try await get("/v1/proposals?status=expired") { response in
            let decoded = try body(ProposalsBody.self, response)
            #expect(decoded.proposals.count == 1)
        }
        try await get("/v1/proposals?status=open") { response in
            let decoded = try body(ProposalsBody.self, response)
            #expect(decoded.proposals.isEmpty)
        }
        try await expectProblem(
            "/v1/proposals?status=pending", status: .badRequest, code: "invalid-filter", mentioning: "status")
        try await expectProblem(
            "/v1/proposals?state=open", status: .badRequest, code: "invalid-filter", mentioning: "state")
        try await expectProblem(
            "/v1/proposals?status=open&status=passed", status: .badRequest, code: "invalid-filter",
            mentioning: "more than once")
    }

    @Test("one proposal by id; unknown is 404 unknown-proposal; a malformed id is 400")
    func proposal() async throws {
        let id = ledger.proposals[1].id
        try await get("/v1/proposals/\(id.hex)") { response in
            let answer = try body(ProposalAnswer.self, response)
            #expect(answer.proposal.id == id.hex)
            #expect(answer.proposal.decidedHeight == 5)
            #expect(answer.proposal.votes == [.init(organization: "shop-a", approve: true)])
        }
        try await expectProblem(
            "/v1/proposals/\(SHA256.hash([9]).hex)", status: .notFound, code: "unknown-proposal")
        try await expectProblem("/v1/proposals/xyz", status: .badRequest, code: "invalid-parameter")
    }

    @Test("incident filters parse into the query the node receives")
    func incidentFilters() async throws {
        let node = FakeNode()
        let reporter = ledger.pluginKey.publicKey.hex
        let uri =
            "/v1/incidents?organization=shop-a&reporter=\(reporter)&class=intrusion-attempts"
            + "&type=intrusion-attempts/exploit&severity=high&status=false-positive&from=1700000000000"
            + "&to=2023-11-14T22:13:20.500Z&limit=7&cursor=AQID"
        try await get(uri, node: node) { response in
            #expect(response.status == .ok)
            let answer = try body(IncidentsBody.self, response)
            #expect(answer.incidents.map(\.id) == ["inc-0"])
            #expect(answer.incidents[0].status == "acknowledged")
            #expect(answer.incidents[0].severityName == "high")
            #expect(answer.incidents[0].sealedTo == [String(repeating: "09", count: 32)])
            #expect(answer.incidents[0].links == ["shop-a:inc-1"])
            #expect(answer.nextCursor == "-_8B")
        }
        let query = try #require(await node.incidentQueries.first)
        #expect(query.organization == "shop-a")
        #expect(query.reporter?.hex == reporter)
        #expect(query.rsitClass == "intrusion-attempts")
        #expect(query.category == "intrusion-attempts/exploit")
        #expect(query.severity == .high)
        #expect(query.status == .falsePositive)
        #expect(query.from == 1_700_000_000_000)
        #expect(query.to == 1_700_000_000_500)
        #expect(query.limit == 7)
        #expect(query.cursor == [1, 2, 3])

        try await get("/v1/incidents?severity=4", node: node) { _ in }
        #expect(await node.incidentQueries.last?.severity == .high)
        #expect(await node.incidentQueries.last?.limit == IncidentQuery.defaultLimit)
    }

    @Test("every bad incident filter is 400 naming it, and the node is never asked")
    func incidentFilterRefusals() async throws {
        let node = FakeNode()
        let cases: [(String, String, String)] = [
            ("organization=Shop_A", "invalid-filter", "organization"),
            ("reporter=abc", "invalid-filter", "reporter"),
            ("class=intrusion", "invalid-filter", "class"),
            ("type=intrusion-attempts/nothing", "invalid-filter", "type"),
            ("class=fraud&type=intrusion-attempts/exploit", "invalid-filter", "type"),
            ("severity=7", "invalid-filter", "severity"),
            ("severity=severe", "invalid-filter", "severity"),
            ("status=closed", "invalid-filter", "status"),
            ("from=yesterday", "invalid-filter", "from"),
            ("to=-5", "invalid-filter", "to"),
            ("from=20&to=10", "invalid-filter", "from"),
            ("limit=0", "invalid-filter", "limit"),
            ("limit=501", "invalid-filter", "limit"),
            ("limit=99999999999999999999999", "invalid-filter", "limit"),
            ("cursor=***", "invalid-cursor", "cursor"),
            ("colour=red", "invalid-filter", "colour"),
            ("status=open&status=resolved", "invalid-filter", "status"),
        ]
        for (query, code, name) in cases {
            try await expectProblem(
                "/v1/incidents?\(query)", status: .badRequest, code: code, mentioning: name, node: node)
        }
        #expect(await node.incidentQueries.isEmpty)
        // A cursor that decodes but that the node does not recognise.
        try await expectProblem("/v1/incidents?cursor=CQkJ", status: .badRequest, code: "invalid-cursor", node: node)
    }

    @Test("one incident with its record, updates and transaction; unknown is 404; bad path is 400")
    func incident() async throws {
        try await get("/v1/incidents/shop-a/inc-0") { response in
            #expect(response.status == .ok)
            let answer = try body(IncidentDetailBody.self, response)
            #expect(answer.incident.summary == "exploit attempt 0")
            #expect(answer.incident.evidenceURIs == ["https://evidence.example/0"])
            #expect(answer.transactionID == LedgerFixture().entries[0].transaction.id.hex)
            #expect(answer.updates.isEmpty)
        }
        try await expectProblem("/v1/incidents/shop-a/inc-9", status: .notFound, code: "unknown-incident")
        try await expectProblem(
            "/v1/incidents/Shop!/inc-0", status: .badRequest, code: "invalid-parameter", mentioning: "organization")
    }

    @Test("a store failure is 503 state-unavailable without internals")
    func unavailable() async throws {
        let node = FakeNode()
        await node.setQueryFailure(.unavailable("app/org/x is corrupt"))
        for uri in ["/v1/organizations", "/v1/incidents", "/v1/incident-log", "/v1/incident-log/inclusion?leaf=0"] {
            try await get(uri, node: node) { response in
                #expect(response.status == .serviceUnavailable)
                let problem = try ProblemJSON(response)
                #expect(problem.type == "urn:ensure:problem:state-unavailable")
                #expect(!problem.detail.contains("app/org"))
            }
        }
    }

    @Test("the checkpoint, a leaf, and served proofs verify against the root in the certified header")
    func proofsVerify() async throws {
        let checkpointBox = Box<CheckpointBody>()
        try await get("/v1/incident-log") { response in checkpointBox.value = try body(CheckpointBody.self, response) }
        let checkpoint = try #require(checkpointBox.value)
        // The header travels as canonical bytes: decode it, check the certificate is over its id, and take the
        // root from it rather than from the answer's convenience members.
        let header = try BlockHeader.decode(canonical: try Base64.decode(checkpoint.headerBytes))
        let certificate = try QuorumCertificate.decode(canonical: try Base64.decode(checkpoint.certificateBytes))
        #expect(certificate.blockID == header.id)
        #expect(checkpoint.blockID == header.id.hex)
        #expect(checkpoint.root == header.incidentLogRoot.hex)
        #expect(checkpoint.size == header.incidentLogSize)
        for signature in certificate.signatures {
            #expect(
                signature.signer.isValidSignature(
                    signature.signature, for: certificate.data.canonicalBytes, domain: .vote))
        }

        let leafBox = Box<LeafBody>()
        try await get("/v1/incident-log/leaves/3") { response in leafBox.value = try body(LeafBody.self, response) }
        let leaf = try #require(leafBox.value)
        let leafBytes = try Base64.decode(leaf.bytes)
        #expect(leaf.incidentID == "inc-3")
        #expect(leaf.kind == "incident-report")

        let proofBox = Box<InclusionBody>()
        try await get("/v1/incident-log/inclusion?leaf=3") { response in
            proofBox.value = try body(InclusionBody.self, response)
        }
        let proof = try #require(proofBox.value)
        let path = proof.proof.map { Hex.decode($0)! }
        try MerkleProof.verifyInclusion(
            leafHash: MerkleHash.leaf(leafBytes).bytes, index: 3, treeSize: header.incidentLogSize, proof: path,
            root: header.incidentLogRoot.bytes)
        // A tampered leaf fails, and so does a tampered path.
        var tampered = leafBytes
        tampered[tampered.count / 2] ^= 1
        #expect(throws: MerkleProofError.self) {
            try MerkleProof.verifyInclusion(
                leafHash: MerkleHash.leaf(tampered).bytes, index: 3, treeSize: header.incidentLogSize, proof: path,
                root: header.incidentLogRoot.bytes)
        }
        var badPath = path
        badPath[0][0] ^= 1
        #expect(throws: MerkleProofError.self) {
            try MerkleProof.verifyInclusion(
                leafHash: MerkleHash.leaf(leafBytes).bytes, index: 3, treeSize: header.incidentLogSize, proof: badPath,
                root: header.incidentLogRoot.bytes)
        }

        let consistencyBox = Box<ConsistencyBody>()
        try await get("/v1/incident-log/consistency?from=2") { response in
            consistencyBox.value = try body(ConsistencyBody.self, response)
        }
        let consistency = try #require(consistencyBox.value)
        let consistencyPath = consistency.proof.map { Hex.decode($0)! }
        try MerkleProof.verifyConsistency(
            oldSize: 2, newSize: header.incidentLogSize, oldRoot: Hex.decode(consistency.oldRoot)!,
            newRoot: header.incidentLogRoot.bytes, proof: consistencyPath)
        #expect(throws: MerkleProofError.self) {
            try MerkleProof.verifyConsistency(
                oldSize: 2, newSize: header.incidentLogSize, oldRoot: SHA256.hash([0]).bytes,
                newRoot: header.incidentLogRoot.bytes, proof: consistencyPath)
        }
    }

    @Test("log routes refuse bad and out-of-range parameters")
    func logRefusals() async throws {
        try await expectProblem("/v1/incident-log/leaves/5", status: .notFound, code: "unknown-leaf")
        try await expectProblem(
            "/v1/incident-log/leaves/-1", status: .badRequest, code: "invalid-parameter", mentioning: "index")
        try await expectProblem(
            "/v1/incident-log/inclusion", status: .badRequest, code: "invalid-filter", mentioning: "leaf")
        try await expectProblem(
            "/v1/incident-log/inclusion?leaf=x", status: .badRequest, code: "invalid-filter", mentioning: "leaf")
        try await expectProblem(
            "/v1/incident-log/inclusion?leaf=5", status: .badRequest, code: "proof-out-of-range")
        try await expectProblem(
            "/v1/incident-log/inclusion?leaf=1&size=9", status: .badRequest, code: "proof-out-of-range")
        try await expectProblem(
            "/v1/incident-log/consistency?from=0", status: .badRequest, code: "proof-out-of-range")
        try await expectProblem(
            "/v1/incident-log/consistency?from=4&to=3", status: .badRequest, code: "proof-out-of-range")
        try await expectProblem(
            "/v1/incident-log/consistency?to=3", status: .badRequest, code: "invalid-filter", mentioning: "from")
        try await expectProblem(
            "/v1/incident-log?size=3", status: .badRequest, code: "invalid-filter", mentioning: "size")
    }
}

/// A box the test closures write a decoded answer into.
final class Box<T>: @unchecked Sendable {
    var value: T?
}
