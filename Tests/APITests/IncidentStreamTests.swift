import Codec
import EnsureCrypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Ledger
import Testing

@testable import API

/// The fixture's incident log plus one update of `inc-0` (leaf 5, acknowledged), with the detail that says so.
func nodeWithUpdate() async -> (FakeNode, LedgerFixture) {
    let node = FakeNode()
    let ledger = node.ledger
    let update = IncidentUpdatePayload(incidentID: "inc-0", status: .acknowledged, note: "seen")
    let transaction = Transaction(
        chainID: "ensure-test", sequence: 9, kind: .incidentUpdate, payload: update.canonicalBytes,
        signedBy: ledger.admin)
    let entry = IncidentLogEntry(
        height: 13, timestamp: 1_700_000_003_000, organization: "shop-a", transaction: transaction)
    await node.append(leaf: entry)
    var state = ledger.detail.state
    state.status = .acknowledged
    state.updateLeaves = [5]
    await node.setDetail(
        IncidentDetail(
            state: state, record: ledger.detail.record, report: ledger.entries[0],
            updates: [IncidentUpdateEntry(leaf: 5, entry: entry, update: update)]))
    return (node, ledger)
}

/// Bearer-token headers for `key` with `role`, registered in `access`, valid for an hour (a loaded CI machine can
/// stall a test for more than a minute between issuing the token and using it).
func bearer(_ key: Ed25519PublicKey, role: KeyRole, access: AccessControl, seed: UInt8) async -> HTTPFields {
    let token = [UInt8](repeating: seed, count: 32)
    _ = await access.store.addToken(
        SHA256.hash(token), grant: TokenGrant(key: key, role: role, expiresAt: access.clock() + 3_600_000),
        now: access.clock())
    var headers = HTTPFields()
    headers[.authorization] = "Bearer " + Base64.encodeURL(token)
    return headers
}

@Suite("Incident event stream")
struct IncidentStreamTests {
    @Test("replays reports and updates from ?from as list items, each update with the status it set")
    func replayAndUpdates() async throws {
        let (node, ledger) = await nodeWithUpdate()
        let (status, _, body) = try await stream("/v1/events/incidents?from=0", node: node) {
            node.commitFeed.close()
        }
        #expect(status == .ok)
        let parsed = try ParsedStream(body)
        #expect(parsed.events.map(\.id) == [0, 1, 2, 3, 4, 5])
        #expect(parsed.events.allSatisfy { $0.event == "incident" })
        let incidents = try parsed.decode(IncidentBody.self)
        #expect(incidents.map(\.id) == ["inc-0", "inc-1", "inc-2", "inc-3", "inc-4", "inc-0"])
        #expect(incidents[0].status == "open")
        #expect(incidents[0].updates == 0)
        #expect(incidents[5].status == "acknowledged")
        #expect(incidents[5].updates == 1)
        #expect(incidents[5].reportLeaf == 0)
        #expect(incidents[5].reporter == ledger.pluginKey.publicKey.hex)
        // The same shape as one item of GET /v1/incidents.
        let listItem =
            try JSONSerialization.jsonObject(
                with: try JSONEncoder().encode(IncidentBody(ledger.incident))) as? [String: Any]
        let event = try JSONSerialization.jsonObject(with: Data(parsed.events[5].data.utf8)) as? [String: Any]
        #expect(Set(try #require(event).keys) == Set(try #require(listItem).keys))
    }

    @Test("filters use the list's parser: matching events pass, others are skipped")
    func filters() async throws {
        let ledger = LedgerFixture()
        let plugin = ledger.pluginKey.publicKey.hex
        let cases: [(String, [UInt64])] = [
            ("status=acknowledged", [5]),
            ("status=open&severity=high", [0, 1, 2, 3, 4]),
            ("severity=low", []),
            ("organization=shop-a&class=intrusion-attempts&plugin=\(plugin)", [0, 1, 2, 3, 4, 5]),
            ("type=intrusion-attempts/exploit&reporter=\(ledger.admin.publicKey.hex)", []),
            ("organization=shop-b", []),
            ("class=malicious-code", []),
        ]
        for (filter, expected) in cases {
            // The replay runs before the stream looks at its signals, so closing the feed once it subscribed
            // still lets the whole replay out.
            let (node, _) = await nodeWithUpdate()
            let (status, _, body) = try await stream("/v1/events/incidents?from=0&\(filter)", node: node) {
                node.commitFeed.close()
            }
            #expect(status == .ok, "\(filter)")
            #expect(try ParsedStream(body).events.map(\.id) == expected, "\(filter)")
        }
    }

    @Test("bad filters, a bad resume point and too long a replay are refused with the parameter named")
    func refusals() async throws {
        var settings = EventStreamSettings()
        settings.maxReplay = 3
        let node = FakeNode()
        let ledger = node.ledger
        for (query, code, name) in [
            ("severity=bogus", "invalid-filter", "severity"), ("plugin=zz", "invalid-filter", "plugin"),
            ("class=nope", "invalid-filter", "class"), ("status=closed", "invalid-filter", "status"),
            ("limit=5", "invalid-filter", "limit"), ("from=-1", "invalid-filter", "from"),
            ("from=0", "replay-too-long", "from"),
            (
                "reporter=\(ledger.admin.publicKey.hex)&plugin=\(ledger.pluginKey.publicKey.hex)",
                "invalid-filter", "plugin"
            ),
        ] {
            let (status, _, body) = try await stream("/v1/events/incidents?\(query)", node: node, settings: settings)
            #expect(status == .badRequest, "\(query)")
            let problem = try JSONDecoder().decode(ProblemJSON.self, from: Data(body.utf8))
            #expect(problem.type == "urn:ensure:problem:\(code)", "\(query)")
            #expect(problem.detail.hasPrefix(name), "\(query): \(problem.detail)")
        }
        #expect(node.commitFeed.subscriberCount == 0)
    }

    @Test("Last-Event-ID resumes after that leaf; without a resume point the stream is live")
    func resumeAndLive() async throws {
        let (node, _) = await nodeWithUpdate()
        var headers = HTTPFields()
        headers[HTTPField.Name("Last-Event-ID")!] = "3"
        let (_, _, resumed) = try await stream("/v1/events/incidents?from=0", node: node, headers: headers) {
            node.commitFeed.close()
        }
        #expect(try ParsedStream(resumed).events.map(\.id) == [4, 5])

        // Live: the fixture's five leaves exist when the stream opens; a sixth commits after.
        let live = FakeNode()
        let (updated, _) = await nodeWithUpdate()
        let fixture = Fixture()
        let (_, _, body) = try await stream("/v1/events/incidents", node: live) {
            await live.append(leaf: await updated.laterLeaves[0])
            await live.setDetail(try #require(try await updated.incident(organization: "shop-a", id: "inc-0").value))
            live.commitFeed.publish(notice(laterBlock(fixture, height: 13, incidentLogSize: 6)))
            live.commitFeed.close()
        }
        let parsed = try ParsedStream(body)
        #expect(parsed.events.map(\.id) == [5])
        #expect(try parsed.decode(IncidentBody.self).first?.status == "acknowledged")
    }

    @Test("a key removed while its stream is open loses the stream at the next commit; a kept key does not")
    func accessRevokedMidStream() async throws {
        let (updated, _) = await nodeWithUpdate()
        let fixture = Fixture()
        for removed in [false, true] {
            let live = FakeNode()
            let admin = live.ledger.admin.publicKey
            let (_, _, body) = try await stream("/v1/events/incidents", node: live) {
                if removed { await live.setRole(nil, of: admin) }
                await live.append(leaf: await updated.laterLeaves[0])
                await live.setDetail(
                    try #require(try await updated.incident(organization: "shop-a", id: "inc-0").value))
                live.commitFeed.publish(notice(laterBlock(fixture, height: 13, incidentLogSize: 6)))
                live.commitFeed.close()
            }
            let parsed = try ParsedStream(body)
            #expect(parsed.events.map(\.id) == (removed ? [] : [5]), "removed: \(removed)")
            #expect(body.contains("may no longer read incidents") == removed, "removed: \(removed)")
        }
    }

    @Test("members and regulators may follow incidents; strangers get 401, other roles 403")
    func access() async throws {
        let ledger = LedgerFixture()
        let access = AccessControl()
        let allowed: [(Ed25519PublicKey, KeyRole)] = [
            (ledger.admin.publicKey, .organizationAdmin(organization: "shop-a")),
            (ledger.pluginKey.publicKey, .plugin(organization: "shop-a")),
            (ledger.validatorKeys[0].publicKey, .regulator),
        ]
        for (seed, (key, role)) in allowed.enumerated() {
            let headers = await bearer(key, role: role, access: access, seed: UInt8(seed + 1))
            let node = FakeNode()
            let (status, _, body) = try await stream(
                "/v1/events/incidents?from=4", node: node, headers: headers, guardedBy: access
            ) { node.commitFeed.close() }
            #expect(status == .ok, "\(role)")
            #expect(try ParsedStream(body).events.map(\.id) == [4], "\(role)")
        }
        let node = FakeNode()
        let (anonymous, anonymousHeaders, anonymousBody) = try await stream(
            "/v1/events/incidents", node: node, guardedBy: access)
        #expect(anonymous == .unauthorized)
        #expect(anonymousHeaders[.wwwAuthenticate] == #"Bearer realm="ensure""#)
        #expect(anonymousBody.contains("urn:ensure:problem:unauthenticated"))
        let issuer = await bearer(
            Fixture.issuerKey.publicKey, role: .issuer(identifier: "https://issuer.example/age"), access: access,
            seed: 9)
        let (forbidden, _, forbiddenBody) = try await stream(
            "/v1/events/incidents", node: node, headers: issuer, guardedBy: access)
        #expect(forbidden == .forbidden)
        #expect(forbiddenBody.contains("urn:ensure:problem:forbidden"))
        // The block stream is public.
        let (open, _, _) = try await stream("/v1/events/blocks", node: node, guardedBy: access) {
            node.commitFeed.close()
        }
        #expect(open == .ok)
        #expect(node.commitFeed.subscriberCount == 0)
    }
}
