public import Ledger
import NIOConcurrencyHelpers

/// What the node tells the API about one block it has durably committed.
public struct CommitNotice: Sendable, Equatable {
    /// The committed block's header.
    public let header: BlockHeader
    /// How many of its transactions committed with a failure receipt (they changed only their signer's sequence).
    public let failedTransactions: Int
    /// Seconds from the block's proposal (its header time) to its commit on this node; nil for a block fetched
    /// from peers while catching up, whose age says nothing about consensus.
    public let commitSeconds: Double?

    /// Creates a notice.
    public init(header: BlockHeader, failedTransactions: Int, commitSeconds: Double?) {
        self.header = header
        self.failedTransactions = failedTransactions
        self.commitSeconds = commitSeconds
    }
}

/// What a subscriber of a ``CommitFeed`` receives.
public enum CommitSignal: Sendable, Equatable {
    /// A block was committed; everything up to its height is in the store.
    case committed(BlockHeader)
    /// Nothing to say: time for a keep-alive line.
    case heartbeat
}

/// Observations in seconds counted into fixed buckets: a Prometheus histogram's state.
public struct SecondsHistogram: Sendable, Equatable {
    /// Upper bounds of the buckets, ascending; +Inf is implied.
    public let bounds: [Double]
    /// Per bucket, how many observations were at most its bound and above the one before (not cumulative).
    public private(set) var counts: [UInt64]
    /// Observations above the largest bound.
    public private(set) var overflow: UInt64 = 0
    /// Sum of every observation.
    public private(set) var sum: Double = 0

    /// An empty histogram over `bounds`.
    public init(bounds: [Double]) {
        self.bounds = bounds
        counts = Array(repeating: 0, count: bounds.count)
    }

    /// Every observation.
    public var count: UInt64 { counts.reduce(overflow, +) }

    /// Counts `seconds` (a negative value counts as 0).
    public mutating func record(_ seconds: Double) {
        let value = max(0, seconds)
        sum += value
        if let bucket = bounds.firstIndex(where: { value <= $0 }) {
            counts[bucket] += 1
        } else {
            overflow += 1
        }
    }
}

/// Counts of everything the feed was told since the process started, for `/metrics`.
public struct CommitCounters: Sendable, Equatable {
    /// Upper bounds (seconds) of the commit-latency histogram's buckets; +Inf is implied.
    public static let commitSecondsBuckets: [Double] = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

    /// Blocks committed.
    public var blocks: UInt64 = 0
    /// Transactions in those blocks, failed ones included.
    public var transactions: UInt64 = 0
    /// Transactions that committed with a failure receipt.
    public var failedTransactions: UInt64 = 0
    /// Seconds from each block's proposal (its header time) to its commit here.
    public private(set) var commitSeconds = SecondsHistogram(bounds: CommitCounters.commitSecondsBuckets)
    /// Per bucket of ``commitSecondsBuckets``, how many observations were at most its bound (not cumulative).
    public var commitSecondsCounts: [UInt64] { commitSeconds.counts }
    /// Observations above the largest bound.
    public var commitSecondsOverflow: UInt64 { commitSeconds.overflow }
    /// Sum of every observation.
    public var commitSecondsSum: Double { commitSeconds.sum }

    /// Creates zero counters.
    public init() {}

    mutating func record(_ notice: CommitNotice) {
        blocks += 1
        transactions += notice.header.transactionCount
        failedTransactions += UInt64(max(0, notice.failedTransactions))
        guard let seconds = notice.commitSeconds else { return }
        commitSeconds.record(seconds)
    }
}

/// The fan-out of commit notifications from the engine to the API's event streams.
///
/// The engine calls ``publish(_:)`` after each block is durably committed; it never waits. Each subscriber has a
/// bounded buffer of signals: one that falls ``bufferCapacity`` signals behind is closed (its stream finishes and
/// ``CommitSubscription/end()`` reports it lagged), so a slow client costs at most that much memory and resumes
/// by event id. At most ``subscriberLimit`` subscribers exist at once, and at most ``anonymousLimit`` of them
/// for anonymous clients, so anonymous streams can never take the slots of members' and regulators' streams.
public final class CommitFeed: Sendable {
    /// The default most concurrent subscribers.
    public static let defaultSubscriberLimit = 256
    /// The default signals a subscriber may have waiting.
    public static let defaultBufferCapacity = 256

    /// Who a subscription serves, which decides the slots it may take.
    public enum Pool: Sendable, Equatable {
        /// A stream anyone may open (the block stream): at most ``anonymousLimit`` of them.
        case anonymous
        /// A stream behind access control (the incident stream): any free slot.
        case authenticated
    }

    /// The most concurrent subscribers; ``subscribe(_:)`` refuses more.
    public let subscriberLimit: Int
    /// The most concurrent ``Pool/anonymous`` subscribers: half of ``subscriberLimit`` unless told otherwise.
    public let anonymousLimit: Int
    /// The signals one subscriber may have waiting before it is closed.
    public let bufferCapacity: Int

    private struct State {
        var tip: BlockHeader?
        var counters = CommitCounters()
        var nextID: UInt64 = 0
        var subscribers: [UInt64: AsyncStream<CommitSignal>.Continuation] = [:]
        var anonymous: Set<UInt64> = []
        var lagged: Set<UInt64> = []
        var closed = false

        mutating func drop(_ id: UInt64) -> AsyncStream<CommitSignal>.Continuation? {
            anonymous.remove(id)
            return subscribers.removeValue(forKey: id)
        }

        func hasRoom(_ pool: Pool, total: Int, anonymousLimit: Int) -> Bool {
            guard !closed, subscribers.count < total else { return false }
            return pool == .authenticated || anonymous.count < anonymousLimit
        }
    }

    private let state: NIOLockedValueBox<State>

    /// Creates a feed whose tip is `tip` (the committed header when the node starts).
    public init(
        tip: BlockHeader? = nil, subscriberLimit: Int = CommitFeed.defaultSubscriberLimit,
        anonymousLimit: Int? = nil, bufferCapacity: Int = CommitFeed.defaultBufferCapacity
    ) {
        self.subscriberLimit = max(0, subscriberLimit)
        self.anonymousLimit = min(self.subscriberLimit, max(0, anonymousLimit ?? subscriberLimit / 2))
        self.bufferCapacity = max(1, bufferCapacity)
        state = NIOLockedValueBox(State(tip: tip))
    }

    /// The header of the newest committed block the feed was told of.
    public var tip: BlockHeader? { state.withLockedValue { $0.tip } }

    /// The commit counters since the feed was created.
    public var counters: CommitCounters { state.withLockedValue { $0.counters } }

    /// How many subscribers are open.
    public var subscriberCount: Int { state.withLockedValue { $0.subscribers.count } }

    /// How many ``Pool/anonymous`` subscribers are open.
    public var anonymousSubscriberCount: Int { state.withLockedValue { $0.anonymous.count } }

    /// Records a committed block and signals every subscriber; a subscriber whose buffer is full is closed.
    public func publish(_ notice: CommitNotice) {
        // Finishing a stream runs its termination handler, which takes the lock again: finish outside it.
        let behind = state.withLockedValue { state in
            state.tip = notice.header
            state.counters.record(notice)
            var behind: [AsyncStream<CommitSignal>.Continuation] = []
            for (id, continuation) in state.subscribers {
                if case .dropped = continuation.yield(.committed(notice.header)) {
                    _ = state.drop(id)
                    state.lagged.insert(id)
                    behind.append(continuation)
                }
            }
            return behind
        }
        for continuation in behind { continuation.finish() }
    }

    /// Whether a ``subscribe(_:)`` in `pool` now would find a free slot (it may still not, if others subscribe
    /// meanwhile).
    public func hasRoom(_ pool: Pool = .authenticated) -> Bool {
        state.withLockedValue { $0.hasRoom(pool, total: subscriberLimit, anonymousLimit: anonymousLimit) }
    }

    /// Opens a subscription in `pool`, or answers nil when the feed is closed, ``subscriberLimit`` subscribers are
    /// open, or (for an anonymous one) ``anonymousLimit`` anonymous subscribers are.
    public func subscribe(_ pool: Pool = .authenticated) -> CommitSubscription? {
        let (stream, continuation) = AsyncStream.makeStream(
            of: CommitSignal.self, bufferingPolicy: .bufferingOldest(bufferCapacity))
        let id: UInt64? = state.withLockedValue { state in
            guard state.hasRoom(pool, total: subscriberLimit, anonymousLimit: anonymousLimit) else { return nil }
            state.nextID += 1
            state.subscribers[state.nextID] = continuation
            if pool == .anonymous { state.anonymous.insert(state.nextID) }
            return state.nextID
        }
        guard let id else {
            continuation.finish()
            return nil
        }
        continuation.onTermination = { [weak self] _ in self?.forget(id) }
        return CommitSubscription(id: id, signals: stream, feed: self)
    }

    /// Adds a heartbeat to subscriber `id`'s buffer (closing it when the buffer is full, like a commit).
    func heartbeat(_ id: UInt64) {
        let behind = state.withLockedValue { state -> AsyncStream<CommitSignal>.Continuation? in
            guard let continuation = state.subscribers[id],
                case .dropped = continuation.yield(.heartbeat)
            else { return nil }
            _ = state.drop(id)
            state.lagged.insert(id)
            return continuation
        }
        behind?.finish()
    }

    /// Ends every subscription and refuses new ones (the node is stopping).
    public func close() {
        let continuations = state.withLockedValue { state in
            state.closed = true
            let all = Array(state.subscribers.values)
            state.subscribers = [:]
            state.anonymous = []
            return all
        }
        for continuation in continuations { continuation.finish() }
    }

    /// Forgets subscriber `id` (its stream terminated).
    private func forget(_ id: UInt64) {
        _ = state.withLockedValue { $0.drop(id) }
    }

    /// Whether subscriber `id` was closed for falling behind (and has not ended yet).
    func fellBehind(_ id: UInt64) -> Bool { state.withLockedValue { $0.lagged.contains(id) } }

    /// Ends subscriber `id`; answers whether it had been closed for falling behind.
    @discardableResult
    func remove(_ id: UInt64) -> Bool {
        let (continuation, lagged) = state.withLockedValue { state in
            (state.drop(id), state.lagged.remove(id) != nil)
        }
        continuation?.finish()
        return lagged
    }
}

/// One subscriber of a ``CommitFeed``: its signals, and the way to leave.
public struct CommitSubscription: Sendable {
    /// The subscriber's id within its feed.
    public let id: UInt64
    /// Commit and heartbeat signals, in order; finishes when the subscriber lags, ends, or the feed closes.
    public let signals: AsyncStream<CommitSignal>
    let feed: CommitFeed

    /// Asks the feed for a heartbeat signal in this subscriber's buffer.
    public func heartbeat() { feed.heartbeat(id) }

    /// Whether the feed closed this subscriber for falling behind. Its slot is free then, so a stream that sends
    /// many events (a replay) checks this and stops: a stream without a slot must not go on working.
    public var fellBehind: Bool { feed.fellBehind(id) }

    /// Leaves the feed; answers whether the feed had closed this subscriber for falling behind.
    @discardableResult
    public func end() -> Bool { feed.remove(id) }
}
