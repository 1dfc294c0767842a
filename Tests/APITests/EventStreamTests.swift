import Codec
import EnsureCrypto
import Foundation
import Glibc
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Ledger
import Logging
import NIOCore
import Testing

@testable import API

/// A text/event-stream body parsed back: events (with their fields) and comment lines, in order.
struct ParsedStream {
    struct Event: Equatable {
        var event: String
        var id: UInt64
        var data: String
    }

    var events: [Event] = []
    var comments: [String] = []

    /// Parses `text` strictly: every block ends with a blank line, every line is a comment or `field: value`
    /// with a known field, and every event has exactly one event, id and data line.
    init(_ text: String) throws {
        guard text.isEmpty || text.hasSuffix("\n\n") else { throw StreamFormatError("the stream ends mid-event") }
        for block in text.components(separatedBy: "\n\n").dropLast() {
            var fields: [String: String] = [:]
            for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix(": ") {
                    comments.append(String(line.dropFirst(2)))
                    continue
                }
                guard let colon = line.firstIndex(of: ":"), line[line.index(after: colon)...].hasPrefix(" ") else {
                    throw StreamFormatError("line \"\(line)\" is neither a comment nor a field")
                }
                let name = String(line[..<colon])
                guard ["event", "id", "data"].contains(name), fields[name] == nil else {
                    throw StreamFormatError("unexpected or repeated field \(name)")
                }
                fields[name] = String(line[line.index(colon, offsetBy: 2)...])
            }
            if fields.isEmpty { continue }
            guard let event = fields["event"], let idText = fields["id"], let id = UInt64(idText),
                let data = fields["data"]
            else { throw StreamFormatError("an event lacks event, id or data: \(fields)") }
            events.append(Event(event: event, id: id, data: data))
        }
    }

    /// The data of every event decoded as `T`.
    func decode<T: Decodable>(_ type: T.Type) throws -> [T] {
        try events.map { try JSONDecoder().decode(T.self, from: Data($0.data.utf8)) }
    }
}

struct StreamFormatError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Polls `condition` until it holds (the stream's subscription exists, a write arrived); fails after many tries.
func eventually(_ what: String, _ condition: () async -> Bool) async throws {
    for _ in 0..<2_000 {
        if await condition() { return }
        try await Task.sleep(for: .milliseconds(5))
    }
    Issue.record("never happened: \(what)")
    throw CancellationError()
}

/// A block at `height` on top of the fixture's chain, with `incidentLogSize`.
func laterBlock(_ fixture: Fixture, height: UInt64, incidentLogSize: UInt64 = 0) -> CommittedBlock {
    let parent = fixture.blocks.last!
    let header = BlockHeader(
        chainID: Fixture.chainID, epoch: 0, height: height, round: height + 3, parentID: parent.block.id,
        proposer: fixture.validators[0].publicKey, timestamp: 1_700_000_000_000 + height,
        transactionRoot: Block.transactionRoot(of: []), transactionCount: 0, incidentLogSize: incidentLogSize,
        incidentLogRoot: SHA256.hash([]), stateRoot: SHA256.hash([UInt8(truncatingIfNeeded: height)]),
        validatorSetHash: SHA256.hash(Array("validators".utf8)))
    let block = Block(header: header, justify: parent.certificate, transactions: [])
    return CommittedBlock(block: block, certificate: parent.certificate)
}

func notice(_ committed: CommittedBlock) -> CommitNotice {
    CommitNotice(header: committed.block.header, failedTransactions: 0, commitSeconds: 0.2)
}

/// Runs one streaming GET through the router in a child task; `whileOpen` runs once the stream subscribed, and
/// must end the stream (close the feed) for the response to complete. Answers the status, headers and body.
func stream(
    _ uri: String, node: FakeNode, headers: HTTPFields = [:], settings: EventStreamSettings = EventStreamSettings(),
    guardedBy guard: AccessControl? = nil, whileOpen: @escaping @Sendable () async throws -> Void = {}
) async throws -> (HTTPResponse.Status, HTTPFields, String) {
    let access = `guard` ?? AccessControl()
    let server = APIServer(
        node: node, host: "127.0.0.1", port: 0, logger: quietLogger(), access: access, events: settings)
    let responder: any HTTPResponder<APIRequestContext> =
        `guard` == nil
        ? MemberCredentials(inner: server.makeRouter().buildResponder(), access: access)
        : server.makeRouter().buildResponder()
    let app = Application(
        responder: AnyResponder(inner: responder), configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        logger: quietLogger())
    let feed = node.commitFeed
    let before = feed.subscriberCount
    let result = ResultBox()
    try await app.test(.router) { client in
        async let response: Void = client.execute(uri: uri, method: .get, headers: headers) { response in
            await result.set(response.status, response.headers, String(buffer: response.body))
        }
        try await eventually("the stream subscribes") {
            if feed.subscriberCount > before { return true }
            return await result.done
        }
        if !(await result.done) { try await whileOpen() }
        try await response
    }
    return try await result.get()
}

/// Type erasure for the two responders ``stream(_:node:headers:settings:guardedBy:whileOpen:)`` uses.
struct AnyResponder: HTTPResponder {
    typealias Context = APIRequestContext
    let inner: any HTTPResponder<APIRequestContext>

    func respond(to request: Request, context: Context) async throws -> Response {
        try await inner.respond(to: request, context: context)
    }
}

actor ResultBox {
    private var value: (HTTPResponse.Status, HTTPFields, String)?
    var done: Bool { value != nil }
    func set(_ status: HTTPResponse.Status, _ headers: HTTPFields, _ body: String) { value = (status, headers, body) }
    func get() throws -> (HTTPResponse.Status, HTTPFields, String) {
        guard let value else { throw StreamFormatError("no response") }
        return value
    }
}

@Suite("Server-sent event streams")
struct EventStreamTests {
    @Test("the block stream replays from ?from, follows commits in height order, and parses back")
    func blockStreamReplayAndLive() async throws {
        let fixture = Fixture()
        let node = FakeNode(fixture: fixture)
        let third = laterBlock(fixture, height: 3)
        let (status, headers, body) = try await stream("/v1/events/blocks?from=1", node: node) {
            await node.append(third)
            node.commitFeed.publish(notice(third))
            node.commitFeed.close()
        }
        #expect(status == .ok)
        #expect(headers[.contentType] == "text/event-stream")
        let parsed = try ParsedStream(body)
        #expect(parsed.events.map(\.id) == [1, 2, 3])
        #expect(parsed.events.allSatisfy { $0.event == "block" })
        let blocks = try parsed.decode(BlockEventBody.self)
        let expected = (fixture.blocks + [third]).map(\.block)
        #expect(blocks == expected.map(BlockEventBody.init))
        #expect(blocks[2].parentID == fixture.blocks[1].block.id.hex)
        #expect(blocks[1].transactionCount == 1)
        // Every data line is a JSON object with the block answer's names.
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(parsed.events[0].data.utf8)) as? [String: Any])
        #expect(
            Set(object.keys).isSuperset(of: [
                "height", "id", "parentID", "timestamp", "transactionCount", "stateRoot", "incidentLogSize",
                "incidentLogRoot",
            ]))
        #expect(parsed.comments.first == "ensure event stream")
        #expect(parsed.comments.last?.hasPrefix("closed:") == true)
    }

    @Test("Last-Event-ID resumes after that height and wins over ?from; no resume point means live only")
    func blockStreamResume() async throws {
        let fixture = Fixture()
        var headers = HTTPFields()
        headers[HTTPField.Name("Last-Event-ID")!] = "1"
        let node = FakeNode(fixture: fixture)
        let (_, _, resumed) = try await stream("/v1/events/blocks?from=1", node: node, headers: headers) {
            node.commitFeed.close()
        }
        #expect(try ParsedStream(resumed).events.map(\.id) == [2])

        let live = FakeNode(fixture: fixture)
        let third = laterBlock(fixture, height: 3)
        let (_, _, body) = try await stream("/v1/events/blocks", node: live) {
            await live.append(third)
            live.commitFeed.publish(notice(third))
            live.commitFeed.close()
        }
        #expect(try ParsedStream(body).events.map(\.id) == [3])
    }

    @Test("bad resume points, unknown parameters and too long a replay are refused before streaming")
    func blockStreamRefusals() async throws {
        var settings = EventStreamSettings()
        settings.maxBlockReplay = 1
        let node = FakeNode()
        let access = AccessControl()
        let app = APIServer(
            node: node, host: "127.0.0.1", port: 0, logger: quietLogger(), access: access, events: settings
        ).makeApplication()
        try await app.test(.router) { client in
            for (uri, code) in [
                ("/v1/events/blocks?from=1", "replay-too-long"), ("/v1/events/blocks?from=x", "invalid-filter"),
                ("/v1/events/blocks?height=1", "invalid-filter"), ("/v1/events/blocks?from=1&from=2", "invalid-filter"),
            ] {
                try await client.execute(uri: uri, method: .get) { response in
                    #expect(response.status == .badRequest, "\(uri)")
                    let problem = try ProblemJSON(response)
                    #expect(problem.type == "urn:ensure:problem:\(code)", "\(uri)")
                }
            }
            var headers = HTTPFields()
            headers[HTTPField.Name("Last-Event-ID")!] = "two"
            try await client.execute(uri: "/v1/events/blocks", method: .get, headers: headers) { response in
                #expect(response.status == .badRequest)
                let problem = try ProblemJSON(response)
                #expect(problem.type == "urn:ensure:problem:invalid-parameter")
                #expect(problem.detail.hasPrefix("Last-Event-ID"))
            }
        }
        #expect(node.commitFeed.subscriberCount == 0)
        // Within the bound the same stream opens: from=2 is one block behind.
        let (status, _, body) = try await stream("/v1/events/blocks?from=2", node: node, settings: settings) {
            node.commitFeed.close()
        }
        #expect(status == .ok)
        #expect(try ParsedStream(body).events.map(\.id) == [2])
    }

    @Test("beyond the subscriber limit a stream is refused with 503 and Retry-After; a closed feed refuses too")
    func subscriberLimit() async throws {
        let fixture = Fixture()
        let node = FakeNode(
            fixture: fixture,
            feed: CommitFeed(tip: fixture.blocks[1].block.header, subscriberLimit: 1, anonymousLimit: 1))
        let (status, _, _) = try await stream("/v1/events/blocks", node: node) {
            let app = APIServer(node: node, host: "127.0.0.1", port: 0, logger: quietLogger()).makeApplication()
            try await app.test(.router) { client in
                try await client.execute(uri: "/v1/events/blocks", method: .get) { response in
                    #expect(response.status == .serviceUnavailable)
                    #expect(response.headers[.retryAfter] == "5")
                    let problem = try ProblemJSON(response)
                    #expect(problem.type == "urn:ensure:problem:too-many-streams")
                }
            }
            node.commitFeed.close()
        }
        #expect(status == .ok)
        let app = APIServer(node: node, host: "127.0.0.1", port: 0, logger: quietLogger()).makeApplication()
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/events/blocks", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
            }
        }
    }

    @Test("a stream takes its slot only when its body runs: answers never sent (the client left) hold none")
    func slotOnlyWhileBodyRuns() async throws {
        let fixture = Fixture()
        let node = FakeNode(
            fixture: fixture,
            feed: CommitFeed(tip: fixture.blocks[1].block.header, subscriberLimit: 1, anonymousLimit: 1))
        let routes = EventRoutes(node: node, settings: EventStreamSettings())
        let request = Request(
            head: HTTPRequest(method: .get, scheme: "http", authority: "127.0.0.1", path: "/v1/events/blocks"),
            body: RequestBody(buffer: ByteBuffer()))
        for _ in 0..<3 { _ = try await routes.blocks(request) }
        #expect(node.commitFeed.subscriberCount == 0)
        #expect(node.commitFeed.hasRoom(.anonymous))
    }

    @Test("an idle stream sends keep-alive comments")
    func heartbeat() async throws {
        var settings = EventStreamSettings()
        settings.heartbeatInterval = .milliseconds(10)
        let node = FakeNode()
        let writer = RecordingWriter()
        let subscription = try #require(node.commitFeed.subscribe())
        let task = Task {
            var body: any ResponseBodyWriter = writer
            var stream = BlockStream(node: node, next: 3)
            try await EventRoutes<FakeNode>.run(subscription, settings: settings, lifetime: nil, writer: &body) {
                (writer, tip) async throws(StreamEnd) in try await stream.send(through: tip?.height, to: &writer)
            }
        }
        try await eventually("two keep-alive comments") {
            writer.text.components(separatedBy: ": keep-alive\n\n").count > 2
        }
        node.commitFeed.close()
        try await task.value
        let parsed = try ParsedStream(writer.text)
        #expect(parsed.events.isEmpty)
        #expect(parsed.comments.filter { $0 == "keep-alive" }.count >= 2)
        #expect(writer.finished)
    }

    @Test("an incident stream ends after its lifetime so that the client authenticates again")
    func incidentStreamLifetime() async throws {
        var settings = EventStreamSettings()
        settings.heartbeatInterval = .milliseconds(5)
        settings.incidentStreamLifetime = .milliseconds(20)
        let node = FakeNode()
        let writer = RecordingWriter()
        let subscription = try #require(node.commitFeed.subscribe())
        var body: any ResponseBodyWriter = writer
        var stream = IncidentStream(node: node, filter: IncidentQuery(), next: 4)
        try await EventRoutes<FakeNode>.run(
            subscription, settings: settings, lifetime: settings.incidentStreamLifetime, writer: &body
        ) { (writer, tip) async throws(StreamEnd) in try await stream.send(below: tip?.incidentLogSize, to: &writer) }
        let parsed = try ParsedStream(writer.text)
        #expect(parsed.events.map(\.id) == [4])
        #expect(parsed.comments.last == "closed: reconnect with Last-Event-ID to resume")
        #expect(node.commitFeed.subscriberCount == 0)
    }

    @Test("a subscriber that falls behind is closed, told so, and the others keep receiving")
    func slowSubscriberIsClosed() async throws {
        let fixture = Fixture()
        let node = FakeNode(fixture: fixture, feed: CommitFeed(tip: fixture.blocks[1].block.header, bufferCapacity: 2))
        let slowWriter = RecordingWriter(blockAfter: 0)
        let slow = try #require(node.commitFeed.subscribe())
        let fast = try #require(node.commitFeed.subscribe())
        let task = Task {
            var body: any ResponseBodyWriter = slowWriter
            var stream = BlockStream(node: node, subscription: slow, next: 3)
            try await EventRoutes<FakeNode>.run(slow, settings: EventStreamSettings(), lifetime: nil, writer: &body) {
                (writer, tip) async throws(StreamEnd) in try await stream.send(through: tip?.height, to: &writer)
            }
        }
        // The slow client's first write (the opening comment) hangs.
        try await eventually("the slow writer blocks") { slowWriter.isBlocked }
        var fastSignals = fast.signals.makeAsyncIterator()
        for height in UInt64(3)...5 {
            let block = laterBlock(fixture, height: height)
            await node.append(block)
            node.commitFeed.publish(notice(block))
            #expect(await fastSignals.next() == .committed(block.block.header))
        }
        // Two signals fit in the slow subscriber's buffer; the third closed it.
        #expect(node.commitFeed.subscriberCount == 1)
        slowWriter.release()
        try await task.value
        // Its slot is gone, so it sends nothing more (not even what its buffer held) and stops; the client resumes
        // after the last event it got.
        let parsed = try ParsedStream(slowWriter.text)
        #expect(parsed.events.isEmpty)
        #expect(parsed.comments.last == "closed: this client fell behind; reconnect with Last-Event-ID to resume")
        #expect(fast.end() == false)
        #expect(node.commitFeed.subscriberCount == 0)
    }

    @Test("the feed keeps commit counters and refuses subscribers beyond its limit")
    func feedCounters() async throws {
        let fixture = Fixture()
        let feed = CommitFeed(subscriberLimit: 2, bufferCapacity: 4)
        #expect(feed.tip == nil)
        let first = try #require(feed.subscribe())
        let second = try #require(feed.subscribe())
        #expect(feed.subscribe() == nil)
        first.end()
        #expect(feed.subscriberCount == 1)
        let third = try #require(feed.subscribe())
        #expect(feed.subscriberCount == 2)
        feed.publish(CommitNotice(header: fixture.blocks[1].block.header, failedTransactions: 1, commitSeconds: 0.3))
        feed.publish(CommitNotice(header: fixture.blocks[0].block.header, failedTransactions: 0, commitSeconds: 100))
        feed.publish(CommitNotice(header: fixture.blocks[0].block.header, failedTransactions: 0, commitSeconds: nil))
        let counters = feed.counters
        #expect(counters.blocks == 3)
        #expect(counters.transactions == 1)
        #expect(counters.failedTransactions == 1)
        #expect(counters.commitSecondsCounts[CommitCounters.commitSecondsBuckets.firstIndex(of: 0.5)!] == 1)
        #expect(counters.commitSecondsCounts.reduce(0, +) == 1)
        #expect(counters.commitSecondsOverflow == 1)
        #expect(abs(counters.commitSecondsSum - 100.3) < 1e-9)
        #expect(feed.tip == fixture.blocks[0].block.header)
        feed.close()
        #expect(feed.subscriberCount == 0)
        #expect(feed.subscribe() == nil)
        // Both saw the three commits, then their streams ended.
        for subscription in [second, third] {
            var heights: [UInt64] = []
            for await case .committed(let header) in subscription.signals { heights.append(header.height) }
            #expect(heights == [2, 1, 1])
        }
    }

    @Test("a subscription dropped without end() frees its slot")
    func droppedSubscription() throws {
        let feed = CommitFeed(subscriberLimit: 1)
        _ = try #require(feed.subscribe())
        #expect(feed.subscriberCount == 0)
        #expect(feed.subscribe() != nil)
    }

    @Test("anonymous block streams take at most their share of the slots; incident streams still open")
    func anonymousPool() async throws {
        let feed = CommitFeed(subscriberLimit: 4)
        #expect(feed.anonymousLimit == 2)
        let first = try #require(feed.subscribe(.anonymous))
        let second = try #require(feed.subscribe(.anonymous))
        #expect(feed.subscribe(.anonymous) == nil)
        #expect(!feed.hasRoom(.anonymous))
        #expect(feed.hasRoom(.authenticated))
        let members = [try #require(feed.subscribe()), try #require(feed.subscribe(.authenticated))]
        #expect(feed.subscribe(.authenticated) == nil)
        #expect(feed.anonymousSubscriberCount == 2)
        first.end()
        #expect(feed.anonymousSubscriberCount == 1)
        #expect(feed.hasRoom(.anonymous))
        let third = try #require(feed.subscribe(.anonymous))
        #expect(feed.anonymousSubscriberCount == 2)
        for subscription in members + [second, third] { subscription.end() }
        feed.close()
        #expect(feed.anonymousSubscriberCount == 0)

        // Through the routes: with the anonymous share taken, a block stream is 503 and an incident stream opens.
        let fixture = Fixture()
        let node = FakeNode(
            fixture: fixture, feed: CommitFeed(tip: fixture.blocks[1].block.header, subscriberLimit: 2))
        let (status, _, _) = try await stream("/v1/events/blocks", node: node) {
            let app = APIServer(node: node, host: "127.0.0.1", port: 0, logger: quietLogger()).makeApplication()
            try await app.test(.router) { client in
                try await client.execute(uri: "/v1/events/blocks", method: .get) { response in
                    #expect(response.status == .serviceUnavailable)
                }
            }
            let (incidents, _, _) = try await stream("/v1/events/incidents", node: node) { node.commitFeed.close() }
            #expect(incidents == .ok)
        }
        #expect(status == .ok)
    }

    @Test("a block stream replays from the store without asking the node's status, and refuses past 1,000 blocks")
    func blockReplayBound() async throws {
        #expect(EventStreamSettings().maxBlockReplay == 1_000)
        #expect(EventStreamSettings().maxReplay == 10_000)
        let fixture = Fixture()
        let node = FakeNode(fixture: fixture)
        var settings = EventStreamSettings()
        settings.maxBlockReplay = 2
        let app = APIServer(node: node, host: "127.0.0.1", port: 0, logger: quietLogger(), events: settings)
            .makeApplication()
        for height in UInt64(3)...4 {
            let block = laterBlock(fixture, height: height)
            await node.append(block)
            node.commitFeed.publish(notice(block))
        }
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/events/blocks?from=2", method: .get) { response in
                #expect(response.status == .badRequest)
                let problem = try ProblemJSON(response)
                #expect(problem.type == "urn:ensure:problem:replay-too-long")
                #expect(problem.detail.contains("at most 2"))
            }
        }
        let (status, _, body) = try await stream("/v1/events/blocks?from=3", node: node, settings: settings) {
            node.commitFeed.close()
        }
        #expect(status == .ok)
        #expect(try ParsedStream(body).events.map(\.id) == [3, 4])
        // The fixture's status still says height 2: the stream followed the feed's tip, not the status.
        #expect(await node.status().height == 2)
    }

    @Test("a write that waits past the write timeout closes the connection and frees the stream")
    func writeTimeout() async throws {
        var settings = EventStreamSettings()
        settings.writeTimeout = .milliseconds(100)
        let node = FakeNode()
        let writer = RecordingWriter(blockAfter: 1)
        let closed = ClosedFlag()
        let subscription = try #require(node.commitFeed.subscribe())
        var body: any ResponseBodyWriter = writer
        var stream = BlockStream(node: node, subscription: subscription, next: 1)
        let close: @Sendable () -> Void = {
            closed.set()
            writer.fail()
        }
        await #expect(throws: ChannelError.self) {
            try await EventRoutes<FakeNode>.run(
                subscription, settings: settings, lifetime: nil, writer: &body, closeConnection: close
            ) { (writer, tip) async throws(StreamEnd) in try await stream.send(through: tip?.height, to: &writer) }
        }
        #expect(closed.isSet)
        #expect(writer.hasFailed)
        #expect(node.commitFeed.subscriberCount == 0)
        // The opening comment went out; the first event's write is the one that waited.
        #expect(try ParsedStream(writer.text).events.isEmpty)
    }

    @Test("a client that keeps reading is never closed by the write timeout, however long the stream lasts")
    func writeTimeoutSparesReaders() async throws {
        var settings = EventStreamSettings()
        settings.writeTimeout = .milliseconds(40)
        settings.heartbeatInterval = .milliseconds(5)
        let node = FakeNode()
        let writer = RecordingWriter()
        let closed = ClosedFlag()
        let subscription = try #require(node.commitFeed.subscribe())
        let task = Task {
            var body: any ResponseBodyWriter = writer
            var stream = BlockStream(node: node, subscription: subscription, next: 1)
            try await EventRoutes<FakeNode>.run(
                subscription, settings: settings, lifetime: nil, writer: &body, closeConnection: { closed.set() }
            ) { (writer, tip) async throws(StreamEnd) in try await stream.send(through: tip?.height, to: &writer) }
        }
        // Many check intervals pass while writes keep completing.
        try await eventually("forty keep-alive comments") {
            writer.text.components(separatedBy: ": keep-alive\n\n").count > 40
        }
        node.commitFeed.close()
        try await task.value
        #expect(!closed.isSet)
        #expect(try ParsedStream(writer.text).events.map(\.id) == [1, 2])
    }

    @Test("over TCP, a client that stops reading is disconnected after the write timeout and its slot is freed")
    func stalledClientOverTCP() async throws {
        let fixture = Fixture()
        let node = FakeNode(fixture: fixture)
        // Enough events to fill the socket buffers of both ends many times over (about 8 MB).
        for height in UInt64(3)...10_002 {
            await node.append(laterBlock(fixture, height: height))
        }
        node.commitFeed.publish(notice(laterBlock(fixture, height: 10_002)))
        var settings = EventStreamSettings()
        settings.maxBlockReplay = 20_000
        settings.writeTimeout = .milliseconds(500)
        let recorder = PortRecorder()
        let app = APIServer(node: node, host: "127.0.0.1", port: 0, logger: quietLogger(), events: settings)
            .makeApplication { port in await recorder.record(port) }
        try await app.test(.live) { _ in
            let port = try #require(await recorder.port)
            let socket = try StalledClient(port: port)
            defer { socket.close() }
            try socket.send("GET /v1/events/blocks?from=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            try await eventually("the stream subscribes") { node.commitFeed.subscriberCount == 1 }
            // Not reading: the server's writes wait, the watchdog closes the connection, the slot is freed.
            try await eventually("the stalled stream is closed") { node.commitFeed.subscriberCount == 0 }
            // What the client can still read ends well before the last event: the server hung up mid-stream.
            let received = socket.drain()
            #expect(received.count > 0)
            #expect(!received.contains("id: 10002\n"))
        }
    }
}

/// A response body writer that keeps what is written; with `blockAfter`, every write after that many waits until
/// ``release()``.
final class RecordingWriter: ResponseBodyWriter, @unchecked Sendable {
    // Every member is read and written under `lock`.
    private let lock = NSLock()
    private var buffer = ""
    private var writes = 0
    private var blocked = false
    private var released = false
    private var waiting: [CheckedContinuation<Void, Never>] = []
    private var didFinish = false
    private var failed = false
    private let blockAfter: Int?

    init(blockAfter: Int? = nil) { self.blockAfter = blockAfter }

    var text: String { lock.withLock { buffer } }
    var isBlocked: Bool { lock.withLock { blocked } }
    var finished: Bool { lock.withLock { didFinish } }

    func release() {
        let continuations = lock.withLock {
            released = true
            blocked = false
            let all = waiting
            waiting = []
            return all
        }
        for continuation in continuations { continuation.resume() }
    }

    /// Fails the waiting writes and every later one, as a closed connection does.
    func fail() {
        let continuations = lock.withLock {
            failed = true
            let all = waiting
            waiting = []
            return all
        }
        for continuation in continuations { continuation.resume() }
    }

    var hasFailed: Bool { lock.withLock { failed } }

    func write(_ buffer: ByteBuffer) async throws {
        if lock.withLock({ failed }) { throw ChannelError.ioOnClosedChannel }
        let mustWait = lock.withLock {
            writes += 1
            if let blockAfter, writes > blockAfter, !released {
                blocked = true
                return true
            }
            return false
        }
        if mustWait {
            await withCheckedContinuation { continuation in
                let resumeNow = lock.withLock {
                    if released || failed { return true }
                    waiting.append(continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
        if lock.withLock({ failed }) { throw ChannelError.ioOnClosedChannel }
        lock.withLock { self.buffer += String(buffer: buffer) }
    }

    func finish(_ trailingHeaders: HTTPFields?) async throws {
        lock.withLock { didFinish = true }
    }
}

/// A flag a `closeConnection` closure sets.
final class ClosedFlag: @unchecked Sendable {
    // Read and written under `lock`.
    private let lock = NSLock()
    private var flag = false
    func set() { lock.withLock { flag = true } }
    var isSet: Bool { lock.withLock { flag } }
}

/// A TCP client with a tiny receive buffer that sends a request and then does not read.
final class StalledClient: @unchecked Sendable {
    private let descriptor: Int32

    init(port: Int) throws {
        descriptor = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw StreamFormatError("socket() failed") }
        var size: Int32 = 4096
        _ = setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            Glibc.close(descriptor)
            throw StreamFormatError("connect() failed")
        }
    }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        guard Glibc.send(descriptor, bytes, bytes.count, 0) == bytes.count else { throw StreamFormatError("send()") }
    }

    /// Everything readable until the server's close (or an error), as text.
    func drain() -> String {
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        _ = setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = Glibc.recv(descriptor, &chunk, chunk.count, 0)
            guard count > 0 else { break }
            received += chunk[0..<count]
        }
        return String(decoding: received, as: UTF8.self)
    }

    func close() { Glibc.close(descriptor) }
}
