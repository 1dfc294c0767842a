import HTTPTypes
import Hummingbird
import Ledger
import NIOCore

extension APIServer {
    /// Adds `GET /metrics`: the node's metrics in the Prometheus text format (docs/node.md, "Metrics").
    func addMetricsRoute(to router: Router<APIRequestContext>) {
        let node = self.node
        let metrics = self.metrics
        router.get("/metrics") { _, _ in await MetricsPage.response(node: node, metrics: metrics) }
    }
}

/// The `/metrics` page.
enum MetricsPage {
    static func response(node: some NodeService, metrics: APIMetrics) async -> Response {
        var headers = HTTPFields()
        headers[.contentType] = MetricsExposition.contentType
        headers[.cacheControl] = "no-store"
        let text = await render(node: node, metrics: metrics)
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    /// Every family, read now.
    static func render(node: some NodeService, metrics: APIMetrics) async -> String {
        let status = await node.status()
        let sample = await node.metricsSample()
        let feed = node.commitFeed
        let counters = feed.counters
        var page = MetricsExposition()
        page.gauge("ensure_block_height", "Height of the last committed block.", Double(status.height))
        page.counter(
            "ensure_blocks_committed_total", "Blocks this process committed (by consensus or by catching up).",
            Double(counters.blocks))
        page.counter(
            "ensure_transactions_committed_total",
            "Transactions in the blocks this process committed, failed included.",
            Double(counters.transactions))
        page.counter(
            "ensure_transactions_failed_total",
            "Committed transactions whose receipt records a failure (only their signer's sequence changed).",
            Double(counters.failedTransactions))
        page.gauge(
            "ensure_mempool_transactions", "Transactions pending in the mempool.", Double(status.mempoolTransactions))
        page.gauge("ensure_mempool_bytes", "Canonical bytes of the pending transactions.", Double(status.mempoolBytes))
        page.gauge("ensure_peers_connected", "Peers connected now.", Double(status.peers.count))
        page.gauge("ensure_consensus_round", "The consensus round this node is in.", Double(status.round))
        page.gauge("ensure_consensus_epoch", "The consensus epoch this node is in.", Double(status.epoch))
        page.counter(
            "ensure_consensus_timeouts_total", "Consensus rounds this process left because its round timer fired.",
            Double(sample.consensusTimeouts))
        if let lag = sample.eventLoopLag {
            page.histogram(
                "ensure_engine_loop_lag_seconds",
                "How late the engine's event loop ran a task scheduled every 10 ms: while consensus, admission and the peer sockets wait behind other work.",
                lag)
        }
        page.counter(
            "ensure_signatures_verified_total",
            "Transaction signatures this process verified (ids not in its cache of verified ones), valid or not.",
            Double(sample.signatures.verified))
        page.counter(
            "ensure_signature_verifications_timed_total",
            "Of those, the ones verified in batches (submissions, gossip, proposals), whose thread CPU time is measured.",
            Double(sample.signatures.timed))
        page.counter(
            "ensure_signature_verification_cpu_seconds_total",
            "Thread CPU time of the timed verifications; divided by their count, the cost of one in this process.",
            sample.signatures.timedCPUSeconds)
        page.histogram(
            "ensure_block_commit_seconds",
            "Seconds from a block's proposal (its header time) to its commit on this node; blocks fetched while catching up are not observed.",
            counters.commitSeconds)
        page.gauge(
            "ensure_incident_log_size", "Leaves in the incident log at the committed tip.",
            Double(feed.tip?.incidentLogSize ?? 0))
        page.gauge(
            "ensure_is_validator", "1 when this node is a validator of the current epoch, 0 for an observer.",
            status.role == .validator ? 1 : 0)
        page.gauge("ensure_syncing", "1 while the node fetches committed blocks from peers.", status.syncing ? 1 : 0)
        page.gauge("ensure_event_streams", "Open server-sent event streams.", Double(feed.subscriberCount))
        page.family(
            "ensure_api_requests_total", type: "counter",
            help: "HTTP API requests answered, by route template, method and status.",
            samples: metrics.requestCounts().map { key, count in
                ([("route", key.route), ("method", key.method), ("status", String(key.status))], Double(count))
            })
        page.histograms(
            "ensure_api_request_duration_seconds",
            "Seconds from the router taking an HTTP API request to its answer (for an event stream, to its headers), by route template and method.",
            series: metrics.requestDurations().map { key, histogram in
                ([("route", key.route), ("method", key.method)], histogram)
            })
        if let resident = ProcessFacts.residentMemoryBytes() {
            page.gauge("process_resident_memory_bytes", "Resident memory size in bytes.", resident)
        }
        if let cpu = ProcessFacts.cpuSeconds() {
            page.counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", cpu)
        }
        if let start = ProcessFacts.startTimeSeconds() {
            page.gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", start)
        }
        return page.text
    }
}
