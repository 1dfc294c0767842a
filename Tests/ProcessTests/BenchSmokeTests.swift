import Foundation
import Testing

/// `ensure-bench api` and `ensure-bench incidents` with tiny counts: the reports are well formed and their counts
/// add up. Nothing here asserts a speed; the figures are docs/performance.md's business.
@Suite("ensure-bench smoke runs", .serialized)
struct BenchSmokeTests {
    /// Runs `ensure-bench` with `arguments` and decodes the JSON object it prints last.
    private func run<T: Decodable>(_ type: T.Type, _ arguments: [String]) async throws -> T {
        let finished = try await runToEnd(try Executables.locate("ensure-bench"), arguments)
        let text = String(decoding: finished.output, as: UTF8.self)
        let errorText = String(decoding: finished.errors, as: UTF8.self)
        try #require(
            finished.status == 0, "ensure-bench \(arguments.joined(separator: " ")) failed: \(errorText)")
        let line = try #require(text.split(separator: "\n").last, "no output")
        return try JSONDecoder().decode(T.self, from: Data(line.utf8))
    }

    struct Latency: Decodable {
        var count: Int
        var p50: Double
        var p99: Double
        var max: Double
    }

    struct APIDocument: Decodable {
        var requests: Int
        var admitted: Int
        var alreadyCommitted: Int
        var refusals: [String: Int]
        var retries: Int
        var abandoned: Int
        var admittedPerSecond: Double
        var ratioToOneCore: Double
        var latency: Latency?
        var drainSeconds: Double?
        var pendingAfterDrain: Int?
        var signers: Int
    }

    @Test(
        "api: every transaction is admitted once and each request has a latency; a validator drains its mempool",
        .timeLimit(.minutes(3)))
    func api() async throws {
        let report = try await run(
            APIDocument.self, ["api", "--transactions", "300", "--signers", "6", "--connections", "3", "--json"])
        #expect(report.signers == 6)
        #expect(report.admitted + report.alreadyCommitted + report.abandoned == 300)
        #expect(report.requests == report.admitted + report.alreadyCommitted + report.refusals.values.reduce(0, +))
        #expect(report.latency?.count == report.requests)
        if let latency = report.latency { #expect(latency.p50 <= latency.p99 && latency.p99 <= latency.max) }
        #expect(report.admittedPerSecond > 0 && report.ratioToOneCore > 0)
        // An observer never commits: the bench does not wait for a drain that cannot happen.
        #expect(report.drainSeconds == nil && report.pendingAfterDrain == nil)

        let validator = try await run(
            APIDocument.self,
            ["api", "--validator", "--transactions", "60", "--signers", "4", "--connections", "2", "--json"])
        #expect(validator.admitted + validator.alreadyCommitted + validator.abandoned == 60)
        #expect(validator.pendingAfterDrain == 0 && validator.drainSeconds != nil)
    }

    struct IncidentDocument: Decodable {
        struct Census: Decodable {
            var incidents: UInt64
            var byStatus: [String: UInt64]
            var logSize: UInt64
        }
        struct Build: Decodable {
            var transactions: Int
            var blocks: Int
        }
        struct Kind: Decodable {
            var kind: String
            var latency: Latency?
            var meanResults: Double
        }
        struct Results: Decodable { var kinds: [Kind] }
        var reused: Bool
        var build: Build
        var census: Census
        var storeBytes: UInt64
        var limit: Int
        var direct: Results
        var http: Results?
    }

    @Test(
        "incidents: the store holds exactly the planned incidents, every query kind is sampled, reruns reuse it",
        .timeLimit(.minutes(4)))
    func incidents() async throws {
        let directory = NSTemporaryDirectory() + "ensure-bench-smoke-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let arguments = [
            "incidents", "--count", "300", "--organizations", "3", "--plugins", "4", "--block-transactions", "64",
            "--samples", "5", "--http-samples", "3", "--limit", "20", "--data", directory, "--json",
        ]
        let first = try await run(IncidentDocument.self, arguments)
        #expect(!first.reused)
        #expect(first.census.incidents == 300)
        #expect(first.census.byStatus.values.reduce(0, +) == 300)
        let moved = 300 - (first.census.byStatus["open"] ?? 0)
        // One leaf per report and per update.
        #expect(first.census.logSize == 300 + moved)
        // 4 plugin proposals, each approved by 2 more of the 3 organizations; then reports and updates.
        #expect(first.build.transactions == 4 + 8 + 300 + Int(moved))
        #expect(first.storeBytes > 0)
        #expect(first.direct.kinds.count == 12)
        for kind in first.direct.kinds {
            #expect(kind.latency?.count == 5, "\(kind.kind)")
            #expect(kind.meanResults <= Double(first.limit), "\(kind.kind)")
        }
        #expect(first.direct.kinds.first { $0.kind == "incident detail by id" }?.meanResults == 1)
        #expect((first.direct.kinds.first { $0.kind == "unfiltered, first page" }?.meanResults ?? 0) == 20)
        let http = try #require(first.http)
        #expect(http.kinds.count == 5)
        for kind in http.kinds { #expect(kind.latency?.count == 3, "\(kind.kind)") }

        let second = try await run(IncidentDocument.self, arguments)
        #expect(second.reused)
        #expect(second.census.incidents == 300)
        #expect(second.census.logSize == first.census.logSize)
        #expect(second.build.transactions == first.build.transactions)
    }

    struct PipelineDocument: Decodable {
        struct Stage: Decodable {
            var role: String
            var stage: String
            var cpuMicros: Double
            var wallMicros: Double
        }
        var blocks: Int
        var transactions: Int
        var verificationMicros: Double
        var stages: [Stage]
        var leaderMicros: Double
        var followerMicros: Double
        var backgroundMicros: Double
        var nodeMicros: Double
        var ceiling: Double
    }

    @Test(
        "pipeline: every block commits on both nodes, each stage is timed and the roles add up",
        .timeLimit(.minutes(3)))
    func pipeline() async throws {
        let report = try await run(
            PipelineDocument.self, ["pipeline", "--blocks", "3", "--block-transactions", "40", "--json"])
        #expect(report.blocks == 3 && report.transactions == 120)
        #expect(report.stages.count == 12)
        #expect(Set(report.stages.map(\.role)) == ["leader", "follower"])
        for stage in report.stages {
            #expect(stage.wallMicros > 0 && stage.cpuMicros >= 0, "\(stage.role) \(stage.stage)")
        }
        let leader = report.stages.filter { $0.role == "leader" }.reduce(0) { $0 + $1.cpuMicros }
        #expect(abs(leader - report.leaderMicros) < 1e-6 * max(1, leader))
        let node = (report.leaderMicros + 3 * report.followerMicros) / 4 + report.backgroundMicros
        #expect(abs(report.nodeMicros - node) < 1e-6 * max(1, node))
        #expect(
            abs(report.ceiling - report.verificationMicros / (report.verificationMicros + report.nodeMicros)) < 1e-9)
        #expect(report.ceiling > 0 && report.ceiling < 1)
    }
}
