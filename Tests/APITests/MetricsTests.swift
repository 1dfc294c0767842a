import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Ledger
import NIOCore
import Testing

@testable import API

/// A Prometheus text exposition parsed back strictly (format 0.0.4): HELP and TYPE once per family and before its
/// samples, every sample line `name{labels} value` with a known family and a number.
struct ParsedMetrics {
    struct Sample: Equatable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    var types: [String: String] = [:]
    var helps: Set<String> = []
    var samples: [Sample] = []

    init(_ text: String) throws {
        guard text.hasSuffix("\n") else { throw StreamFormatError("the exposition does not end with a line feed") }
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            if line.hasPrefix("# HELP ") {
                let name = String(line.dropFirst(7).prefix { $0 != " " })
                guard helps.insert(name).inserted, types[name] == nil else {
                    throw StreamFormatError("HELP of \(name) repeated or after its TYPE")
                }
            } else if line.hasPrefix("# TYPE ") {
                let parts = line.dropFirst(7).split(separator: " ")
                guard parts.count == 2, ["counter", "gauge", "histogram"].contains(parts[1]),
                    types[String(parts[0])] == nil
                else { throw StreamFormatError("bad TYPE line \(line)") }
                types[String(parts[0])] = String(parts[1])
            } else {
                samples.append(try Self.sample(String(line)))
                let name = samples.last!.name
                let family = ["_bucket", "_sum", "_count"].reduce(name) { name, suffix in
                    name.hasSuffix(suffix) && types[String(name.dropLast(suffix.count))] == "histogram"
                        ? String(name.dropLast(suffix.count)) : name
                }
                guard types[family] != nil else { throw StreamFormatError("sample \(name) before its TYPE") }
            }
        }
    }

    static func sample(_ line: String) throws -> Sample {
        var rest = Substring(line)
        let name = String(rest.prefix { $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" })
        guard !name.isEmpty, !(name.first!.isNumber) else { throw StreamFormatError("bad metric name in \(line)") }
        rest = rest.dropFirst(name.count)
        var labels: [String: String] = [:]
        if rest.first == "{" {
            rest = rest.dropFirst()
            while rest.first != "}" {
                let label = String(rest.prefix { $0 != "=" })
                rest = rest.dropFirst(label.count)
                guard rest.hasPrefix("=\"") else { throw StreamFormatError("bad label in \(line)") }
                rest = rest.dropFirst(2)
                var value = ""
                while let character = rest.first, character != "\"" {
                    rest = rest.dropFirst()
                    if character == "\\" {
                        guard let escaped = rest.first else { throw StreamFormatError("dangling escape in \(line)") }
                        rest = rest.dropFirst()
                        switch escaped {
                        case "\\": value += "\\"
                        case "\"": value += "\""
                        case "n": value += "\n"
                        default: throw StreamFormatError("bad escape in \(line)")
                        }
                    } else {
                        value.append(character)
                    }
                }
                guard rest.first == "\"" else { throw StreamFormatError("unterminated label value in \(line)") }
                rest = rest.dropFirst()
                labels[label] = value
                if rest.first == "," { rest = rest.dropFirst() }
            }
            rest = rest.dropFirst()
        }
        guard rest.first == " " else { throw StreamFormatError("no value in \(line)") }
        let text = rest.dropFirst()
        let value: Double
        switch text {
        case "+Inf": value = .infinity
        case "-Inf": value = -.infinity
        case "NaN": value = .nan
        default:
            guard let parsed = Double(text) else { throw StreamFormatError("bad value in \(line)") }
            value = parsed
        }
        return Sample(name: name, labels: labels, value: value)
    }

    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }
}

@Suite("/metrics")
struct MetricsTests {
    static let required = [
        "ensure_block_height", "ensure_blocks_committed_total", "ensure_transactions_committed_total",
        "ensure_transactions_failed_total", "ensure_mempool_transactions", "ensure_mempool_bytes",
        "ensure_peers_connected", "ensure_consensus_round", "ensure_consensus_timeouts_total",
        "ensure_signatures_verified_total", "ensure_signature_verifications_timed_total",
        "ensure_signature_verification_cpu_seconds_total",
        "ensure_block_commit_seconds", "ensure_api_requests_total", "ensure_api_request_duration_seconds",
        "ensure_incident_log_size", "ensure_is_validator",
        "process_resident_memory_bytes", "process_start_time_seconds",
    ]

    func scrape(_ client: some TestClientProtocol) async throws -> ParsedMetrics {
        try await client.execute(uri: "/metrics", method: .get) { response in
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "text/plain; version=0.0.4; charset=utf-8")
            return try ParsedMetrics(String(buffer: response.body))
        }
    }

    @Test("every line parses, every required family is there, and the values are the node's")
    func format() async throws {
        let fixture = Fixture()
        let node = FakeNode(fixture: fixture)
        var lag = SecondsHistogram(bounds: [0.01, 0.025])
        lag.record(0.02)
        lag.record(0.5)
        var signatures = SignatureStatistics()
        signatures.verified = 12
        signatures.timed = 10
        signatures.timedCPUSeconds = 0.5
        await node.setSample(NodeMetricsSample(consensusTimeouts: 4, eventLoopLag: lag, signatures: signatures))
        let app = APIServer(node: node, host: "127.0.0.1", port: 0, logger: quietLogger()).makeApplication()
        try await app.test(.router) { client in
            let metrics = try await scrape(client)
            for name in Self.required { #expect(metrics.types[name] != nil, "\(name) missing") }
            #expect(metrics.types["ensure_blocks_committed_total"] == "counter")
            #expect(metrics.types["ensure_block_height"] == "gauge")
            #expect(metrics.types["ensure_block_commit_seconds"] == "histogram")
            #expect(metrics.value("ensure_block_height") == 2)
            #expect(metrics.value("ensure_mempool_transactions") == 3)
            #expect(metrics.value("ensure_mempool_bytes") == 1234)
            #expect(metrics.value("ensure_peers_connected") == 3)
            #expect(metrics.value("ensure_consensus_round") == 6)
            #expect(metrics.value("ensure_consensus_timeouts_total") == 4)
            #expect(metrics.types["ensure_signatures_verified_total"] == "counter")
            #expect(metrics.value("ensure_signatures_verified_total") == 12)
            #expect(metrics.value("ensure_signature_verifications_timed_total") == 10)
            #expect(metrics.value("ensure_signature_verification_cpu_seconds_total") == 0.5)
            #expect(metrics.types["ensure_engine_loop_lag_seconds"] == "histogram")
            #expect(metrics.value("ensure_engine_loop_lag_seconds_bucket", ["le": "0.01"]) == 0)
            #expect(metrics.value("ensure_engine_loop_lag_seconds_bucket", ["le": "0.025"]) == 1)
            #expect(metrics.value("ensure_engine_loop_lag_seconds_bucket", ["le": "+Inf"]) == 2)
            #expect(metrics.value("ensure_engine_loop_lag_seconds_count") == 2)
            #expect(abs((metrics.value("ensure_engine_loop_lag_seconds_sum") ?? 0) - 0.52) < 1e-9)
            #expect(metrics.value("ensure_is_validator") == 1)
            #expect(metrics.value("ensure_blocks_committed_total") == 0)
            #expect(metrics.value("ensure_block_commit_seconds_bucket", ["le": "+Inf"]) == 0)
            #expect((metrics.value("process_resident_memory_bytes") ?? 0) > 0)
            let start = try #require(metrics.value("process_start_time_seconds"))
            #expect(start > 1_600_000_000 && start <= Date().timeIntervalSince1970 + 1)
        }
    }

    @Test("commit counters and the histogram grow with commits; request counters by route, method and status")
    func countersIncrease() async throws {
        let fixture = Fixture()
        let node = FakeNode(fixture: fixture)
        let app = APIServer(node: node, host: "127.0.0.1", port: 0, logger: quietLogger()).makeApplication()
        try await app.test(.router) { client in
            let before = try await scrape(client)
            node.commitFeed.publish(
                CommitNotice(header: fixture.blocks[1].block.header, failedTransactions: 1, commitSeconds: 0.3))
            node.commitFeed.publish(
                CommitNotice(
                    header: laterBlock(fixture, height: 3, incidentLogSize: 7).block.header,
                    failedTransactions: 0, commitSeconds: nil))
            try await client.execute(uri: "/v1/status", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v1/blocks/99", method: .get) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/v1/blocks/1", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/nowhere/x", method: .get) { #expect($0.status == .notFound) }
            let after = try await scrape(client)
            #expect(before.value("ensure_blocks_committed_total") == 0)
            #expect(after.value("ensure_blocks_committed_total") == 2)
            #expect(after.value("ensure_transactions_committed_total") == 1)
            #expect(after.value("ensure_transactions_failed_total") == 1)
            #expect(after.value("ensure_incident_log_size") == 7)
            // One observation (the synced block is not one), in the 0.5 bucket and every bucket above it.
            #expect(after.value("ensure_block_commit_seconds_bucket", ["le": "0.25"]) == 0)
            #expect(after.value("ensure_block_commit_seconds_bucket", ["le": "0.5"]) == 1)
            #expect(after.value("ensure_block_commit_seconds_bucket", ["le": "+Inf"]) == 1)
            #expect(after.value("ensure_block_commit_seconds_count") == 1)
            #expect(abs((after.value("ensure_block_commit_seconds_sum") ?? 0) - 0.3) < 1e-9)
            // A node without an engine loop to probe has no lag family at all, rather than an empty one.
            #expect(after.types["ensure_engine_loop_lag_seconds"] == nil)
            let requests = "ensure_api_requests_total"
            #expect(after.value(requests, ["route": "/v1/status", "method": "GET", "status": "200"]) == 1)
            #expect(after.value(requests, ["route": "/v1/blocks/{height}", "method": "GET", "status": "404"]) == 1)
            #expect(after.value(requests, ["route": "/v1/blocks/{height}", "method": "GET", "status": "200"]) == 1)
            #expect(after.value(requests, ["route": "/metrics", "method": "GET", "status": "200"]) == 1)
            #expect(after.value(requests, ["route": "unmatched", "method": "GET", "status": "404"]) == 1)
            // Each route's answers are timed: both /v1/blocks/{height} answers in one series, counted in +Inf and
            // summing to what they took, which here is well under the largest bound.
            let durations = "ensure_api_request_duration_seconds"
            let blocks = ["route": "/v1/blocks/{height}", "method": "GET"]
            #expect(after.types[durations] == "histogram")
            #expect(after.value(durations + "_count", blocks) == 2)
            #expect(after.value(durations + "_bucket", blocks.merging(["le": "+Inf"]) { $1 }) == 2)
            #expect(after.value(durations + "_bucket", blocks.merging(["le": "5"]) { $1 }) == 2)
            let sum = try #require(after.value(durations + "_sum", blocks))
            #expect(sum > 0 && sum < 5)
            #expect(after.value(durations + "_count", ["route": "unmatched", "method": "GET"]) == 1)
            // Raw paths never become label values.
            #expect(!after.samples.contains { $0.labels["route"]?.contains("nowhere") == true })
        }
    }

    @Test("label values and help text are escaped; numbers are spelled as the format asks")
    func escaping() throws {
        #expect(MetricsExposition.escapeLabel(#"a\b"c"# + "\n") == #"a\\b\"c\n"#)
        #expect(MetricsExposition.escapeHelp("a\\b\nc") == #"a\\b\nc"#)
        #expect(MetricsExposition.number(3) == "3")
        #expect(MetricsExposition.number(0.25) == "0.25")
        #expect(MetricsExposition.number(.infinity) == "+Inf")
        #expect(MetricsExposition.number(.nan) == "NaN")
        var page = MetricsExposition()
        page.family(
            "x_total", type: "counter", help: "odd \"labels\"",
            samples: [([("route", "/a\"b\\c\nd"), ("method", "GET")], 2)])
        let parsed = try ParsedMetrics(page.text)
        #expect(
            parsed.samples == [.init(name: "x_total", labels: ["route": "/a\"b\\c\nd", "method": "GET"], value: 2)])
        #expect(page.text.split(separator: "\n").count == 3)

        var histogram = SecondsHistogram(bounds: [0.1, 1])
        histogram.record(0.05)
        histogram.record(2)
        var timed = MetricsExposition()
        timed.histograms("d_seconds", "durations", series: [([("route", "/x")], histogram)])
        let series = try ParsedMetrics(timed.text)
        #expect(series.value("d_seconds_bucket", ["route": "/x", "le": "0.1"]) == 1)
        #expect(series.value("d_seconds_bucket", ["route": "/x", "le": "1"]) == 1)
        #expect(series.value("d_seconds_bucket", ["route": "/x", "le": "+Inf"]) == 2)
        #expect(series.value("d_seconds_count", ["route": "/x"]) == 2)
        #expect(series.value("d_seconds_sum", ["route": "/x"]) == 2.05)
    }
}
