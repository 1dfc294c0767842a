import Codec
import Credentials
import EnsureCrypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Ledger
import Logging

@testable import API

/// A ``NodeService`` with canned answers that records every submission it receives.
actor FakeNode: NodeService {
    /// What ``submit(transaction:)`` answers.
    var submitResult: SubmissionResult
    /// Every byte string handed to ``submit(transaction:)``, in order.
    private(set) var submissions: [[UInt8]] = []
    /// Every key asked about in ``nextSequence(for:)``.
    private(set) var sequenceQueries: [Ed25519PublicKey] = []

    let fixture: Fixture
    /// Registries, a proposal, incidents and an incident log for the ledger query routes.
    let ledger = LedgerFixture()
    /// Every incident query the routes passed on, in order.
    private(set) var incidentQueries: [IncidentQuery] = []
    /// When set, every ledger query fails with it.
    var queryFailure: LedgerQueryError?

    /// The commit feed the event streams follow; tests publish to it as the engine would.
    nonisolated let commitFeed: CommitFeed
    /// Blocks committed after the fixture's, as a test appends them.
    private(set) var laterBlocks: [CommittedBlock] = []
    /// Leaves appended to the incident log after the fixture's five.
    private(set) var laterLeaves: [IncidentLogEntry] = []
    /// Incidents whose detail a test replaced (by organization and id).
    private(set) var details: [String: IncidentDetail] = [:]
    /// What ``metricsSample()`` answers.
    var sample = NodeMetricsSample(consensusTimeouts: 0)

    init(fixture: Fixture = Fixture(), submitResult: SubmissionResult? = nil, feed: CommitFeed? = nil) {
        self.fixture = fixture
        self.submitResult = submitResult ?? .accepted(id: fixture.transaction.id)
        commitFeed = feed ?? CommitFeed(tip: fixture.blocks.last?.block.header)
    }

    /// Stores `block` as committed (the test then publishes it to the feed).
    func append(_ block: CommittedBlock) { laterBlocks.append(block) }

    /// Appends `entry` to the incident log.
    func append(leaf entry: IncidentLogEntry) { laterLeaves.append(entry) }

    /// Replaces what ``incident(organization:id:)`` answers for `detail`'s incident.
    func setDetail(_ detail: IncidentDetail) { details["\(detail.state.organization):\(detail.state.id)"] = detail }

    func setSample(_ sample: NodeMetricsSample) { self.sample = sample }

    func metricsSample() async -> NodeMetricsSample { sample }

    func setSubmitResult(_ result: SubmissionResult) {
        submitResult = result
    }

    func submit(transaction bytes: [UInt8]) async -> SubmissionResult {
        submissions.append(bytes)
        return submitResult
    }

    func transactionStatus(_ id: Digest) async -> TransactionStatus {
        fixture.statuses[id] ?? .unknown
    }

    func block(atHeight height: UInt64) async -> CommittedBlock? {
        if let block = fixture.blocks.first(where: { $0.block.header.height == height }) { return block }
        // Later blocks have consecutive heights: index them, so a test may append thousands.
        guard let first = laterBlocks.first?.block.header.height, height >= first, height - first < laterBlocks.count
        else { return nil }
        return laterBlocks[Int(height - first)]
    }

    func notarization(of digest: Digest) async -> NotarizationRecord? {
        digest == fixture.notarization.digest ? fixture.notarization : nil
    }

    func nextSequence(for signer: Ed25519PublicKey) async -> UInt64 {
        sequenceQueries.append(signer)
        return signer == fixture.admin.publicKey ? 8 : 1
    }

    func status() async -> NodeStatus {
        fixture.status
    }

    /// Committed roles: the ledger fixture's admin, plugin and regulator, an issuer ledger key, and whatever a
    /// test sets.
    private(set) var roles: [Ed25519PublicKey: KeyRole] = [:]
    private var rolesInitialized = false
    /// Every key asked about in ``role(of:)``.
    private(set) var roleQueries: [Ed25519PublicKey] = []

    private func initializeRoles() {
        guard !rolesInitialized else { return }
        rolesInitialized = true
        roles[ledger.admin.publicKey] = .organizationAdmin(organization: "shop-a")
        roles[ledger.pluginKey.publicKey] = .plugin(organization: "shop-a")
        roles[ledger.validatorKeys[0].publicKey] = .regulator
        roles[Fixture.issuerKey.publicKey] = .issuer(identifier: "https://issuer.example/age")
    }

    /// Sets (or with nil removes) the committed role of `key`, as governance would.
    func setRole(_ role: KeyRole?, of key: Ed25519PublicKey) {
        initializeRoles()
        roles[key] = role
    }

    func role(of key: Ed25519PublicKey) async -> KeyRole? {
        initializeRoles()
        roleQueries.append(key)
        return roles[key]
    }

    func setQueryFailure(_ failure: LedgerQueryError?) {
        queryFailure = failure
    }

    private func read<T>(_ value: T) throws(LedgerQueryError) -> CommittedRead<T> {
        if let queryFailure { throw queryFailure }
        return CommittedRead(height: ledger.height, value: value)
    }

    func organizations() async throws(LedgerQueryError) -> CommittedRead<[OrganizationRecord]> {
        try read(ledger.organizations)
    }

    func validators() async throws(LedgerQueryError) -> CommittedRead<[ValidatorRecord]> {
        try read(ledger.validators)
    }

    func plugins() async throws(LedgerQueryError) -> CommittedRead<[PluginRecord]> { try read(ledger.plugins) }

    /// When set, the issuer the node holds instead of the ledger fixture's.
    var issuerRecord: IssuerRecord?

    func setIssuerRecord(_ record: IssuerRecord?) { issuerRecord = record }

    func issuers() async throws(LedgerQueryError) -> CommittedRead<[IssuerRecord]> {
        try read([issuerRecord ?? ledger.issuer])
    }

    func issuer(identifier: String) async throws(LedgerQueryError) -> CommittedRead<IssuerRecord?> {
        let record = issuerRecord ?? ledger.issuer
        return try read(identifier == record.identifier ? record : nil)
    }

    func regulators() async throws(LedgerQueryError) -> CommittedRead<[RegulatorRecord]> {
        try read(ledger.regulators)
    }

    func parameters() async throws(LedgerQueryError) -> CommittedRead<GenesisParameters> {
        try read(GenesisParameters())
    }

    func proposals(status: ProposalStatusName?) async throws(LedgerQueryError) -> CommittedRead<[ProposalRecord]> {
        try read(ledger.proposals.filter { status == nil || $0.status(at: ledger.height).name == status?.rawValue })
    }

    func proposal(id: Digest) async throws(LedgerQueryError) -> CommittedRead<ProposalRecord?> {
        try read(ledger.proposals.first { $0.id == id })
    }

    func incidents(_ query: IncidentQuery) async throws(LedgerQueryError) -> IncidentPage {
        incidentQueries.append(query)
        if let queryFailure { throw queryFailure }
        if query.cursor == [9, 9, 9] { throw .invalidCursor("does not belong to this query's filters") }
        return IncidentPage(height: ledger.height, incidents: [ledger.incident], nextCursor: [0xfb, 0xff, 0x01])
    }

    func incident(organization: String, id: String) async throws(LedgerQueryError) -> CommittedRead<IncidentDetail?> {
        if let detail = details["\(organization):\(id)"] { return try read(detail) }
        if organization == ledger.detail.state.organization, id != ledger.detail.state.id,
            let index = ledger.entries.firstIndex(where: {
                (try? IncidentRecord.decode(canonical: $0.transaction.payload))?.id == id
            })
        {
            // The fixture's other reports, as reported and never updated.
            let record = try! IncidentRecord.decode(canonical: ledger.entries[index].transaction.payload)
            var state = ledger.detail.state
            state.id = id
            state.reportLeaf = UInt64(index)
            state.status = .open
            state.links = []
            return try read(IncidentDetail(state: state, record: record, report: ledger.entries[index], updates: []))
        }
        return try read(
            organization == ledger.detail.state.organization && id == ledger.detail.state.id ? ledger.detail : nil)
    }

    func incidentLogCheckpoint() async throws(LedgerQueryError) -> IncidentLogCheckpoint {
        if let queryFailure { throw queryFailure }
        guard !laterLeaves.isEmpty else { return ledger.checkpoint }
        let old = ledger.checkpoint
        return IncidentLogCheckpoint(
            size: old.size + UInt64(laterLeaves.count), root: old.root, header: old.header, certificate: old.certificate
        )
    }

    func incidentLogLeaf(at index: UInt64) async throws(LedgerQueryError) -> CommittedRead<IncidentLogLeaf?> {
        if index >= UInt64(ledger.entries.count), index - UInt64(ledger.entries.count) < UInt64(laterLeaves.count) {
            let entry = laterLeaves[Int(index) - ledger.entries.count]
            return try read(IncidentLogLeaf(index: index, bytes: entry.canonicalBytes, entry: entry))
        }
        return try read(ledger.leaf(at: index))
    }

    func incidentInclusionProof(leaf: UInt64, treeSize: UInt64?) async throws(LedgerQueryError) -> InclusionProofAnswer
    {
        if let queryFailure { throw queryFailure }
        return try ledger.inclusion(leaf: leaf, size: treeSize)
    }

    func incidentConsistencyProof(oldSize: UInt64, newSize: UInt64?) async throws(LedgerQueryError)
        -> ConsistencyProofAnswer
    {
        if let queryFailure { throw queryFailure }
        return try ledger.consistency(from: oldSize, to: newSize)
    }

    // MARK: Age verification

    /// The nonce every request gets.
    static let nonce = "bm9uY2Utb2YtMTI4LWJpdHMtYXQtbGVhc3Q"
    /// The status list the node holds.
    static let statusEntry = StatusListEntry(
        issuer: "https://issuer.example/age", uri: "https://issuer.example/age/status/1", listVersion: 3,
        token: "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", height: 9, timestamp: 1_700_000_000_009)
    /// What ``verifyPresentation(nonce:presentation:)`` answers.
    var verifyResult: Result<AgeVerification, PresentationRefusal> = .failure(.nonceUnknown)
    /// Every verification asked for, in order.
    private(set) var verifications: [(nonce: String, presentation: String)] = []

    func setVerifyResult(_ result: Result<AgeVerification, PresentationRefusal>) { verifyResult = result }

    /// When set, requests and verifications go to this real store and verifier instead of the canned answers.
    var credentials: (requests: PresentationRequestStore, verifier: PresentationVerifier)?

    func setCredentials(requests: PresentationRequestStore, verifier: PresentationVerifier) {
        credentials = (requests, verifier)
    }

    func createPresentationRequest(audience: String?, over threshold: Int) async -> PresentationRequest {
        if let credentials {
            return await credentials.requests.create(
                audience: audience ?? "urn:ensure:verifier:test", threshold: threshold)
        }
        return PresentationRequest(
            nonce: Self.nonce, audience: audience ?? "urn:ensure:verifier:test", threshold: threshold,
            createdAt: 1_750_000_000, expiresAt: 1_750_000_300)
    }

    func verifyPresentation(nonce: String, presentation: String) async throws(PresentationRefusal) -> AgeVerification {
        verifications.append((nonce, presentation))
        if let credentials {
            let request = try await credentials.requests.consume(nonce: nonce)
            return try credentials.verifier.verify(
                presentation, request: request, now: await credentials.requests.now())
        }
        return try verifyResult.get()
    }

    func statusList(uri: String) async throws(LedgerQueryError) -> CommittedRead<StatusListEntry?> {
        try read(uri == Self.statusEntry.uri ? Self.statusEntry : nil)
    }
}

/// Real keys, a real signed transaction and two certified blocks (heights 1 and 2) for the fake node to serve.
struct Fixture: Sendable {
    static let chainID = "ensure-test"
    /// An issuer's ledger key: registered, but not a member or regulator.
    static let issuerKey = Ed25519PrivateKey(seed: [UInt8](repeating: 11, count: 32))!

    let admin = Ed25519PrivateKey(seed: [UInt8](repeating: 1, count: 32))!
    let validators = (2...5).map { Ed25519PrivateKey(seed: [UInt8](repeating: UInt8($0), count: 32))! }
    let transaction: Transaction
    let pendingID = SHA256.hash(Array("pending".utf8))
    let droppedID = SHA256.hash(Array("dropped".utf8))
    let blocks: [CommittedBlock]
    let notarization: NotarizationRecord
    let status: NodeStatus
    let statuses: [Digest: TransactionStatus]

    init() {
        let payload = try! NotarizePayload(digest: SHA256.hash(Array("orders".utf8)), label: "orders 2025-01-01")
        transaction = Transaction(
            chainID: Self.chainID, sequence: 7, kind: .notarize, payload: payload.canonicalBytes, signedBy: admin)
        var blocks: [CommittedBlock] = []
        var parent = Digest.zero
        var justify = QuorumCertificate.genesis(chainID: Self.chainID, blockID: .zero)
        for height in UInt64(1)...2 {
            let transactions = height == 2 ? [transaction] : []
            let header = BlockHeader(
                chainID: Self.chainID, epoch: 0, height: height, round: height + 3, parentID: parent,
                proposer: validators[Int(height) % validators.count].publicKey, timestamp: 1_700_000_000_000 + height,
                transactionRoot: Block.transactionRoot(of: transactions), transactionCount: UInt64(transactions.count),
                incidentLogSize: 0, incidentLogRoot: SHA256.hash([]), stateRoot: SHA256.hash([UInt8(height)]),
                validatorSetHash: SHA256.hash(Array("validators".utf8)))
            let block = Block(header: header, justify: justify, transactions: transactions)
            let data = VoteData(
                chainID: Self.chainID, epoch: 0, round: header.round, height: height, blockID: block.id)
            let certificate = QuorumCertificate(
                data: data,
                signatures: validators.prefix(3).map {
                    ValidatorSignature(signer: $0.publicKey, signature: Vote(data: data, signedBy: $0).signature)
                })
            blocks.append(CommittedBlock(block: block, certificate: certificate))
            parent = block.id
            justify = certificate
        }
        self.blocks = blocks
        notarization = NotarizationRecord(
            digest: payload.digest, label: payload.label, signer: admin.publicKey, transactionID: transaction.id,
            height: 2, timestamp: 1_700_000_000_002)
        status = NodeStatus(
            chainID: Self.chainID, nodeKey: validators[0].publicKey, role: .validator, height: 2,
            blockID: blocks[1].block.id, round: 6, epoch: 0, peers: validators.dropFirst().map(\.publicKey),
            mempoolTransactions: 3, mempoolBytes: 1234, syncing: false)
        statuses = [
            transaction.id: .committed(height: 2, index: 0, blockID: blocks[1].block.id),
            pendingID: .pending,
            droppedID: .dropped(reason: "expired"),
        ]
    }
}

/// The application under test, around `node`. Requests that carry no credentials get the bearer token of the
/// fixture's organization admin, so the route tests read the protected routes as a member; AuthTests builds its
/// applications with ``makeGuardedApplication(_:access:)`` and tests access itself.
func makeApplication(_ node: FakeNode) -> Application<MemberCredentials> {
    let access = AccessControl()
    let server = APIServer(node: node, host: "127.0.0.1", port: 0, logger: quietLogger(), access: access)
    return Application(
        responder: MemberCredentials(inner: server.makeRouter().buildResponder(), access: access),
        configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "ensure-node"),
        logger: quietLogger())
}

/// The application under test with nothing added to requests.
func makeGuardedApplication(_ node: FakeNode, access: AccessControl) -> Application<RouterResponder<APIRequestContext>>
{
    APIServer(node: node, host: "127.0.0.1", port: 0, logger: quietLogger(), access: access).makeApplication()
}

func quietLogger() -> Logger {
    var logger = Logger(label: "api-test")
    logger.logLevel = .critical
    return logger
}

/// Adds the fixture admin's bearer token to requests that carry no credentials.
struct MemberCredentials: HTTPResponder {
    typealias Context = APIRequestContext
    static let tokenBytes = [UInt8](repeating: 0x5a, count: 32)

    let inner: RouterResponder<APIRequestContext>
    let access: AccessControl

    func respond(to request: Request, context: Context) async throws -> Response {
        guard request.headers[.authorization] == nil, request.headers[HTTPField.Name("Signature")!] == nil else {
            return try await inner.respond(to: request, context: context)
        }
        let admin = LedgerFixture().admin.publicKey
        _ = await access.store.addToken(
            SHA256.hash(Self.tokenBytes),
            grant: TokenGrant(
                key: admin, role: .organizationAdmin(organization: "shop-a"), expiresAt: access.clock() + 60_000),
            now: access.clock())
        var head = request.head
        head.headerFields[.authorization] = "Bearer " + Base64.encodeURL(Self.tokenBytes)
        return try await inner.respond(to: Request(head: head, body: request.body), context: context)
    }
}

/// A response body's JSON object and its member names.
struct JSONDocument {
    let object: [String: Any]
    var keys: Set<String> { Set(object.keys) }

    init(_ response: TestResponse) throws {
        try self.init(bytes: Array(response.body.readableBytesView))
    }

    init(bytes: [UInt8]) throws {
        let data = Data(bytes)
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw UnexpectedBody(text: String(decoding: data, as: UTF8.self))
        }
        self.object = object
    }

    subscript(key: String) -> Any? { object[key] }
    func string(_ key: String) -> String? { object[key] as? String }
    func integer(_ key: String) -> Int? { (object[key] as? NSNumber)?.intValue }
}

/// A body that is not a JSON object.
struct UnexpectedBody: Error, CustomStringConvertible {
    let text: String
    var description: String { "the body is not a JSON object: \(text.prefix(200))" }
}

/// The problem document of a refused request, decoded strictly.
struct ProblemJSON: Decodable, Equatable {
    let type: String
    let title: String
    let status: Int
    let detail: String

    init(_ response: TestResponse) throws {
        self = try JSONDecoder().decode(ProblemJSON.self, from: Data(response.body.readableBytesView))
    }
}

/// Headers for a body of `contentType`.
func headers(contentType: String) -> HTTPFields {
    var fields = HTTPFields()
    fields[.contentType] = contentType
    return fields
}

/// The JSON submission body for `bytes`.
func jsonSubmission(_ bytes: [UInt8]) -> ByteBuffer {
    ByteBuffer(string: #"{"transaction":""# + Base64.encode(bytes) + #""}"#)
}
