import Codec
import EnsureCrypto
import Foundation
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
        settings.maxReplay = 1
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
        let node = FakeNode(fixture: fixture, feed: CommitFeed(tip: fixture.blocks[1].block.header, subscriberLimit: 1))
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
        let node = FakeNode(fixture: fixture, feed: CommitFeed(tip: fixture.blocks[1].block.header, subscriberLimit: 1))
        let routes = EventRoutes(node: node, settings: EventStreamSettings())
        let request = Request(
            head: HTTPRequest(method: .get, scheme: "http", authority: "127.0.0.1", path: "/v1/events/blocks"),
            body: RequestBody(buffer: ByteBuffer()))
        for _ in 0..<3 { _ = try await routes.blocks(request) }
        #expect(node.commitFeed.subscriberCount == 0)
        #expect(node.commitFeed.hasRoom)
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
            var stream = BlockStream(node: node, next: 3)
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
        // It sends what its buffer held and stops; the client resumes after 4.
        let parsed = try ParsedStream(slowWriter.text)
        #expect(parsed.events.map(\.id) == [3, 4])
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

    func write(_ buffer: ByteBuffer) async throws {
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
                    if released { return true }
                    waiting.append(continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
        lock.withLock { self.buffer += String(buffer: buffer) }
    }

    func finish(_ trailingHeaders: HTTPFields?) async throws {
        lock.withLock { didFinish = true }
    }
}
