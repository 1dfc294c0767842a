import API
import Codec
import Daemon
import EnsureCrypto
import Foundation
import Ledger
import Testing

/// Collects the commit signals of one subscription.
actor SignalLog {
    private(set) var headers: [BlockHeader] = []
    func append(_ header: BlockHeader) { headers.append(header) }
}

@Suite("The engine's commit feed", .serialized)
struct CommitFeedEngineTests {
    @Test("each committed block is announced once, in height order, after it is readable; stop closes the feed")
    func engineAnnouncesCommits() async throws {
        let cluster = try EngineCluster()
        let feed = cluster.engine(0).commitFeed
        #expect(feed.tip?.height == 0)
        let subscription = try #require(feed.subscribe())
        let engine = cluster.engine(0)
        let log = SignalLog()
        let reader = Task {
            var readable = true
            for await signal in subscription.signals {
                guard case .committed(let header) = signal else { continue }
                // Durable before the announcement: the store already serves it.
                if await engine.block(atHeight: header.height)?.block.header != header { readable = false }
                await log.append(header)
            }
            return readable
        }
        for index in 0..<4 { await cluster.start(index) }
        var ids: [Digest] = []
        for sequence in UInt64(1)...6 {
            let tx = cluster.fixture.notarize(admin: 0, sequence: sequence, label: "feed \(sequence)")
            #expect(await engine.submit(transaction: tx.canonicalBytes) == .accepted(id: tx.id))
            ids.append(tx.id)
        }
        try await cluster.waitUntil("the notarizations commit on engine 0") {
            for id in ids {
                guard case .committed = await engine.transactionStatus(id) else { return false }
            }
            return true
        }
        let height = await engine.status().height
        try await cluster.waitUntil("the reader saw height \(height)") {
            await log.headers.last.map { $0.height >= height } ?? false
        }
        await cluster.stopAll()
        // Stopping closes the feed: the reader's stream ends and no one may subscribe again.
        #expect(await reader.value)
        #expect(feed.subscribe() == nil)
        let headers = await log.headers
        #expect(headers.map(\.height) == Array(1...UInt64(headers.count)))
        let counters = feed.counters
        #expect(counters.blocks == UInt64(headers.count))
        #expect(counters.transactions == headers.reduce(0) { $0 + $1.transactionCount })
        #expect(counters.transactions == 6)
        #expect(counters.failedTransactions == 0)
        #expect(counters.commitSecondsCounts.reduce(0, +) + counters.commitSecondsOverflow == counters.blocks)
        #expect(feed.tip == headers.last)
    }
}
