import Codec
import EnsureCrypto
import Foundation
import HTTPTypes
import Hummingbird
import Ledger
import NIOConcurrencyHelpers
import NIOCore

/// Limits and timing of the server-sent event streams (docs/api.md, "Event streams").
public struct EventStreamSettings: Sendable {
    /// How often an idle stream sends a `: keep-alive` comment line.
    public var heartbeatInterval: Duration = .seconds(15)
    /// The most incident-log leaves an incident stream (members and regulators) replays before it goes live; a
    /// client further behind is refused with 400 and pages `/v1/incidents` or `/v1/incident-log/leaves` instead.
    public var maxReplay: UInt64 = 10_000
    /// The most blocks the public block stream replays before it goes live: anyone may open it, so it is a tenth
    /// of ``maxReplay``; a client further behind pages `/v1/blocks/{height}`.
    public var maxBlockReplay: UInt64 = 1_000
    /// How long one write of a stream may wait for the client to read. A client that stops reading fills its
    /// socket's buffers and then every write waits; past this, the node closes the connection and frees the
    /// stream's task, its slot and its buffers.
    public var writeTimeout: Duration = .seconds(30)
    /// How long an incident stream stays open: its credentials were checked when it opened, so it closes when a
    /// bearer token would have expired and the client reconnects (with `Last-Event-ID`) under fresh credentials.
    public var incidentStreamLifetime: Duration = .seconds(15 * 60)

    /// The defaults: 15-second heartbeats, 10,000 incident-log leaves and 1,000 blocks of replay, 30-second write
    /// timeout, 15-minute incident streams.
    public init() {}
}

extension APIServer {
    /// Adds `GET /v1/events/blocks` (public) and `GET /v1/events/incidents` (members and regulators, behind the
    /// same access middleware as `/v1/incidents`).
    func addEventRoutes(to router: Router<APIRequestContext>) {
        let routes = EventRoutes(node: node, settings: events)
        router.get("/v1/events/blocks") { request, context in
            let channel = context.channel
            return try await routes.blocks(request) { channel.close(promise: nil) }
        }
        router.group("/v1/events/incidents").add(middleware: accessMiddleware).get { request, context in
            let channel = context.channel
            return try await routes.incidents(request, reader: context.readerKey) { channel.close(promise: nil) }
        }
    }
}

extension APIProblem {
    /// A resume point too far behind the tip for a stream to replay.
    static func replayTooLong(_ name: String, behind: UInt64, limit: UInt64, page: String) -> APIProblem {
        APIProblem(
            code: "replay-too-long", status: .badRequest, title: "Replay too long",
            detail: "\(name) is \(behind) events behind the tip; a stream replays at most \(limit): page \(page) first")
    }

    /// Every event-stream slot (of the stream's pool) is taken, or the node is stopping.
    static let streamsBusy = APIProblem(
        code: "too-many-streams", status: .serviceUnavailable, title: "Too many event streams",
        detail: "this node serves no more event streams now; retry later", retryAfterSeconds: 5)
}

/// One server-sent event (the WHATWG HTML "server-sent events" format): `event`, `id` and a one-line `data`.
struct ServerSentEvent: Equatable {
    var event: String
    var id: UInt64
    var data: String

    /// The event's lines, ending with the blank line that dispatches it.
    var text: String { "event: \(event)\nid: \(id)\ndata: \(data)\n\n" }

    /// A comment line (ignored by clients; keeps proxies from timing the connection out).
    static func comment(_ text: String) -> String { ": \(text)\n\n" }

    /// `value` as one line of JSON (JSON escapes every line break inside strings).
    static func json(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}

/// The `data` of a `block` event: the header fields of a block answer, under the same names.
struct BlockEventBody: Codable, Equatable {
    var height: UInt64
    var id: String
    var epoch: UInt64
    var round: UInt64
    var parentID: String
    var proposer: String
    var timestamp: UInt64
    var transactionRoot: String
    var transactionCount: UInt64
    var incidentLogSize: UInt64
    var incidentLogRoot: String
    var stateRoot: String
    var validatorSetHash: String

    init(_ block: Block) {
        let header = block.header
        height = header.height
        id = block.id.hex
        epoch = header.epoch
        round = header.round
        parentID = header.parentID.hex
        proposer = header.proposer.hex
        timestamp = header.timestamp
        transactionRoot = header.transactionRoot.hex
        transactionCount = header.transactionCount
        incidentLogSize = header.incidentLogSize
        incidentLogRoot = header.incidentLogRoot.hex
        stateRoot = header.stateRoot.hex
        validatorSetHash = header.validatorSetHash.hex
    }
}

/// The handlers of the event streams. Both follow one pattern: subscribe to the node's ``CommitFeed`` first, then
/// replay from the store up to the tip, then on every commit signal read and send what is new; the store is the
/// source of every event, the feed only says when to look.
struct EventRoutes<Node: NodeService>: Sendable {
    let node: Node
    let settings: EventStreamSettings

    static var lastEventIDField: HTTPField.Name { HTTPField.Name("Last-Event-ID")! }

    static var streamHeaders: HTTPFields {
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-store"
        // Asks reverse proxies (nginx) not to buffer the stream.
        headers[HTTPField.Name("X-Accel-Buffering")!] = "no"
        return headers
    }

    // MARK: Blocks

    /// The public block stream. Nothing here waits for the engine: the tip is the commit feed's, and blocks are
    /// read from the store. `closeConnection` ends the client's connection (a write that waits too long).
    func blocks(_ request: Request, closeConnection: @escaping @Sendable () -> Void = {}) async throws(APIProblem)
        -> Response
    {
        let query = try QueryString(request, allowed: ["from"])
        let tip = node.commitFeed.tip?.height ?? 0
        // Height 0 is genesis, which no certificate commits: streams start at 1.
        let start = max(1, try Self.resumePoint(request, query: query, unit: "block height") ?? tip + 1)
        if start <= tip, tip - start + 1 > settings.maxBlockReplay {
            throw .replayTooLong(
                "from", behind: tip - start + 1, limit: settings.maxBlockReplay, page: "GET /v1/blocks/{height}")
        }
        guard node.commitFeed.hasRoom(.anonymous) else { throw .streamsBusy }
        let node = self.node
        let settings = self.settings
        return Response(
            status: .ok, headers: Self.streamHeaders,
            body: ResponseBody { writer in
                // Subscribed only once the body runs: a client that leaves before then holds no slot.
                guard let subscription = node.commitFeed.subscribe(.anonymous) else {
                    return try await Self.refuse(&writer)
                }
                var stream = BlockStream(node: node, subscription: subscription, next: start)
                try await Self.run(
                    subscription, settings: settings, lifetime: nil, writer: &writer, closeConnection: closeConnection
                ) { (writer, tip) async throws(StreamEnd) in try await stream.send(through: tip?.height, to: &writer) }
            })
    }

    // MARK: Incidents

    /// `reader` is the key the access middleware admitted; it is checked again at every commit, so a key that
    /// governance removes loses the stream with the block that removes it.
    func incidents(
        _ request: Request, reader: Ed25519PublicKey?, closeConnection: @escaping @Sendable () -> Void = {}
    ) async throws(APIProblem) -> Response {
        let query = try QueryString(
            request, allowed: ["organization", "reporter", "plugin", "class", "type", "severity", "status", "from"])
        let filter = try LedgerRoutes<Node>.incidentFilters(query)
        let size: UInt64
        do throws(LedgerQueryError) {
            size = try await node.incidentLogCheckpoint().size
        } catch {
            throw .query(error)
        }
        let start = try Self.resumePoint(request, query: query, unit: "incident-log leaf index") ?? size
        if start < size, size - start > settings.maxReplay {
            throw .replayTooLong(
                "from", behind: size - start, limit: settings.maxReplay,
                page: "GET /v1/incidents or /v1/incident-log/leaves/{index}")
        }
        guard node.commitFeed.hasRoom(.authenticated) else { throw .streamsBusy }
        let node = self.node
        let settings = self.settings
        return Response(
            status: .ok, headers: Self.streamHeaders,
            body: ResponseBody { writer in
                guard let subscription = node.commitFeed.subscribe(.authenticated) else {
                    return try await Self.refuse(&writer)
                }
                var stream = IncidentStream(node: node, subscription: subscription, filter: filter, next: start)
                try await Self.run(
                    subscription, settings: settings, lifetime: settings.incidentStreamLifetime, writer: &writer,
                    closeConnection: closeConnection
                ) { (writer, tip) async throws(StreamEnd) in
                    if tip != nil, let reader, AccessRole(await node.role(of: reader)) == nil {
                        throw .accessRevoked
                    }
                    try await stream.send(below: tip?.incidentLogSize, to: &writer)
                }
            })
    }

    // MARK: The loop

    /// Ends a stream that lost the race for the last slot (or met the node stopping) between the handler's check
    /// and its body: one comment saying so.
    static func refuse(_ writer: inout any ResponseBodyWriter) async throws {
        try await writer.write(
            ByteBuffer(string: ServerSentEvent.comment("closed: no event-stream slot is free now; retry later")))
        try await writer.finish(nil)
    }

    /// Sends what is already committed, then follows `subscription` until the client leaves, the feed closes the
    /// subscription (the client fell behind or the node is stopping), or `lifetime` passes. `send` writes the
    /// events up to a committed header: first with nil (up to the tip it reads itself, after subscribing, so no
    /// commit falls between), then on every commit signal.
    ///
    /// Every write goes through a ``StreamWriteWatchdog``: one that waits longer than the settings' write timeout
    /// (the client stopped reading) calls `closeConnection`, which makes the waiting write fail and the stream end.
    static func run(
        _ subscription: CommitSubscription, settings: EventStreamSettings, lifetime: Duration?,
        writer original: inout any ResponseBodyWriter, closeConnection: @escaping @Sendable () -> Void = {},
        send: (inout any ResponseBodyWriter, BlockHeader?) async throws(StreamEnd) -> Void
    ) async throws {
        let watchdog = StreamWriteWatchdog(timeout: settings.writeTimeout, closeConnection: closeConnection)
        var writer: any ResponseBodyWriter = WatchedBodyWriter(inner: original, watchdog: watchdog)
        let watching = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: watchdog.checkInterval)
                if watchdog.check() { break }
            }
        }
        let heartbeats = Task {
            let clock = ContinuousClock()
            let deadline = lifetime.map { clock.now + $0 }
            while !Task.isCancelled {
                try? await Task.sleep(for: settings.heartbeatInterval)
                if let deadline, clock.now >= deadline { break }
                subscription.heartbeat()
            }
            // Past the lifetime: end the subscription, which finishes its signals.
            if !Task.isCancelled { subscription.end() }
        }
        defer {
            heartbeats.cancel()
            watching.cancel()
            subscription.end()
        }
        var reason = "closed: reconnect with Last-Event-ID to resume"
        do throws(StreamEnd) {
            // A comment first, so that clients and proxies see the stream open before the first event.
            try await StreamEnd.writing(ServerSentEvent.comment("ensure event stream"), to: &writer)
            try await send(&writer, nil)
            for await signal in subscription.signals {
                switch signal {
                case .heartbeat: try await StreamEnd.writing(ServerSentEvent.comment("keep-alive"), to: &writer)
                case .committed(let header): try await send(&writer, header)
                }
            }
            if subscription.end() {
                reason = "closed: this client fell behind; reconnect with Last-Event-ID to resume"
            }
        } catch .clientGone(let error) {
            throw error
        } catch .unavailable {
            reason = "closed: the node could not read its committed state; reconnect with Last-Event-ID to resume"
        } catch .accessRevoked {
            reason = "closed: the key this stream was opened with may no longer read incidents"
        }
        try await writer.write(ByteBuffer(string: ServerSentEvent.comment(reason)))
        try await writer.finish(nil)
    }

    // MARK: Parsing

    /// Where a stream starts: one past `Last-Event-ID` (what a reconnecting EventSource sends), else `from`
    /// (inclusive), else nil (live only). Both are decimal.
    static func resumePoint(_ request: Request, query: QueryString, unit: String) throws(APIProblem) -> UInt64? {
        if let header = request.headers[lastEventIDField] {
            guard let last = QueryString.decimal(header.trimmingCharacters(in: .whitespaces)), last < UInt64.max
            else {
                throw .invalidParameter("Last-Event-ID", "must be the decimal id of an event (a \(unit))")
            }
            return last + 1
        }
        guard let from = query["from"] else { return nil }
        guard let value = QueryString.decimal(from) else {
            throw .invalidFilter("from", "must be a decimal \(unit)")
        }
        return value
    }
}

/// Why a stream stops early: the client went away (a write failed), or committed state could not be read (the
/// client resumes from its last event id).
enum StreamEnd: Error {
    case clientGone(any Error)
    case unavailable(LedgerQueryError)
    /// The key the stream was opened with lost its right to read (governance removed it).
    case accessRevoked

    /// Writes `text`, turning a failed write into ``clientGone(_:)``.
    static func writing(_ text: String, to writer: inout any ResponseBodyWriter) async throws(StreamEnd) {
        do { try await writer.write(ByteBuffer(string: text)) } catch { throw .clientGone(error) }
    }
}

/// The `block` events of one stream: every committed height from `next` on, in order.
struct BlockStream<Node: NodeService>: Sendable {
    let node: Node
    /// The subscription the stream follows: a replay stops once the feed closed it for falling behind.
    let subscription: CommitSubscription?
    /// The next height to send.
    var next: UInt64

    init(node: Node, subscription: CommitSubscription? = nil, next: UInt64) {
        self.node = node
        self.subscription = subscription
        self.next = next
    }

    mutating func send(through tip: UInt64?, to writer: inout any ResponseBodyWriter) async throws(StreamEnd) {
        // The feed's tip, not the engine's: a stream never waits in the engine's queue.
        guard let height = tip ?? node.commitFeed.tip?.height else { return }
        while next <= height {
            // The loop that called us tells the client why it stops.
            if Task.isCancelled || subscription?.fellBehind == true { return }
            // Not yet readable (never expected: the feed signals after the store has it): the next signal retries.
            guard let committed = await node.block(atHeight: next) else { return }
            let event = ServerSentEvent(
                event: "block", id: next, data: ServerSentEvent.json(BlockEventBody(committed.block)))
            try await StreamEnd.writing(event.text, to: &writer)
            next += 1
        }
    }
}

/// The `incident` events of one stream: every incident-log leaf from `next` on, as the incident it reports or
/// updates, when it matches the filter.
struct IncidentStream<Node: NodeService>: Sendable {
    let node: Node
    /// The subscription the stream follows: a replay stops once the feed closed it for falling behind.
    let subscription: CommitSubscription?
    let filter: IncidentQuery
    /// The next leaf index to look at.
    var next: UInt64

    init(node: Node, subscription: CommitSubscription? = nil, filter: IncidentQuery, next: UInt64) {
        self.node = node
        self.subscription = subscription
        self.filter = filter
        self.next = next
    }

    mutating func send(below tip: UInt64?, to writer: inout any ResponseBodyWriter) async throws(StreamEnd) {
        let size: UInt64
        do {
            if let tip {
                size = tip
            } else {
                size = try await node.incidentLogCheckpoint().size
            }
            while next < size {
                if Task.isCancelled || subscription?.fellBehind == true { return }
                let index = next
                guard let leaf = try await node.incidentLogLeaf(at: index).value else { return }
                let summary = try await Self.incident(at: leaf, node: node)
                next += 1
                guard let summary, filter.matches(summary) else { continue }
                let event = ServerSentEvent(
                    event: "incident", id: index, data: ServerSentEvent.json(IncidentBody(summary)))
                try await StreamEnd.writing(event.text, to: &writer)
            }
        } catch let error as LedgerQueryError {
            throw .unavailable(error)
        } catch let end as StreamEnd {
            throw end
        } catch {
            throw .clientGone(error)
        }
    }

    /// The incident that leaf reports or updates, as it stood right after that leaf: a report is `open` with no
    /// updates, an update carries its new status and counts the updates up to it. Links are the incident's current
    /// ones. Nil for a leaf that is neither (never written by this ledger).
    static func incident(at leaf: IncidentLogLeaf, node: Node) async throws(LedgerQueryError) -> IncidentSummary? {
        let transaction = leaf.entry.transaction
        let incidentID: String
        var status: IncidentStatus
        switch transaction.kind {
        case .incidentReport:
            guard let record = try? IncidentRecord.decode(canonical: transaction.payload) else { return nil }
            incidentID = record.id
            status = .open
        case .incidentUpdate:
            guard let update = try? IncidentUpdatePayload.decode(canonical: transaction.payload) else { return nil }
            incidentID = update.incidentID
            status = update.status
        default:
            return nil
        }
        guard let detail = try await node.incident(organization: leaf.entry.organization, id: incidentID).value
        else { return nil }
        var state = detail.state
        if leaf.index == state.reportLeaf { status = .open }
        state.status = status
        state.updateLeaves = state.updateLeaves.filter { $0 <= leaf.index }
        return IncidentSummary(state: state, record: detail.record)
    }
}

extension IncidentQuery {
    /// Whether `summary` passes the query's filters (organization, reporter, class, type, severity, status; the
    /// detection-time range and the page do not apply to streams).
    func matches(_ summary: IncidentSummary) -> Bool {
        if let organization, summary.state.organization != organization { return false }
        if let reporter, summary.state.reporter != reporter { return false }
        if let status, summary.state.status != status { return false }
        if let severity, summary.record.severity != severity { return false }
        if let category, summary.record.category != category { return false }
        if let rsitClass, summary.record.category.prefix(while: { $0 != "/" }) != rsitClass { return false }
        return true
    }
}

/// Watches a stream's writes: one that has waited longer than `timeout` means the client stopped reading (its
/// socket buffers are full), and the watchdog closes the connection, which fails that write.
final class StreamWriteWatchdog: Sendable {
    private struct State {
        var writeStarted: ContinuousClock.Instant?
        var fired = false
    }

    let timeout: Duration
    private let closeConnection: @Sendable () -> Void
    private let state = NIOLockedValueBox(State())
    private let clock = ContinuousClock()

    init(timeout: Duration, closeConnection: @escaping @Sendable () -> Void) {
        self.timeout = timeout
        self.closeConnection = closeConnection
    }

    /// How often ``check()`` should run: a quarter of the timeout, so a stuck write is closed within 1.25 of it.
    var checkInterval: Duration { timeout / 4 }

    /// Whether the watchdog closed the connection.
    var fired: Bool { state.withLockedValue { $0.fired } }

    func willWrite() { state.withLockedValue { $0.writeStarted = clock.now } }

    func didWrite() { state.withLockedValue { $0.writeStarted = nil } }

    /// Closes the connection if a write has waited longer than the timeout; answers whether it has (now or
    /// before).
    func check() -> Bool {
        let now = clock.now
        let fire = state.withLockedValue { state -> Bool in
            guard !state.fired, let started = state.writeStarted, now - started > timeout else { return false }
            state.fired = true
            return true
        }
        if fire { closeConnection() }
        return fire || fired
    }
}

/// A response body writer that tells a ``StreamWriteWatchdog`` when each write starts and ends.
struct WatchedBodyWriter: ResponseBodyWriter {
    var inner: any ResponseBodyWriter
    let watchdog: StreamWriteWatchdog

    mutating func write(_ buffer: ByteBuffer) async throws {
        watchdog.willWrite()
        defer { watchdog.didWrite() }
        try await inner.write(buffer)
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
        watchdog.willWrite()
        defer { watchdog.didWrite() }
        try await inner.finish(trailingHeaders)
    }
}
