import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `curl -sN` following one of a node's event streams in the background (server-sent events need a client that
/// reads as the bytes arrive; curl is what docs/api.md shows).
final class EventStreamFollower: @unchecked Sendable {
    // Set up once in init; the output file is read after the process ends.
    private let process = Process()
    private let outputPath: String

    init(_ url: URL, lastEventID: UInt64? = nil, maxSeconds: Int) throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/curl") else {
            throw HarnessError("the event-stream checks need /usr/bin/curl")
        }
        outputPath = NSTemporaryDirectory() + "ensure-events-\(UUID().uuidString).txt"
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        var arguments = ["-sN", "--max-time", String(maxSeconds)]
        if let lastEventID { arguments += ["-H", "Last-Event-ID: \(lastEventID)"] }
        process.arguments = arguments + [url.absoluteString]
        process.standardOutput = FileHandle(forWritingAtPath: outputPath)
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// Waits for curl to exit; answers its status (0: the server ended the stream; 28: curl's time limit) and
    /// what it received.
    func finish() async -> (status: Int32, output: String) {
        while process.isRunning { try? await Task.sleep(for: .milliseconds(100)) }
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: outputPath)
        return (process.terminationStatus, output)
    }

    /// The ids of the `event: block` events received.
    static func blockIDs(_ text: String) -> [UInt64] {
        text.components(separatedBy: "\n\n").compactMap { event in
            let lines = event.split(separator: "\n")
            guard lines.contains("event: block"), let id = lines.first(where: { $0.hasPrefix("id: ") }) else {
                return nil
            }
            return UInt64(id.dropFirst(4))
        }
    }
}

extension LocalNode {
    /// `/metrics` as name (with labels) → value, after checking the content type.
    func metrics() async throws -> [String: Double] {
        var request = URLRequest(url: apiURL.appendingPathComponent("metrics"))
        request.timeoutInterval = 5
        let (data, response) = try await URLSession.shared.data(for: request)
        let contentType = (response as? HTTPURLResponse)?.value(forHTTPHeaderField: "Content-Type")
        guard contentType?.hasPrefix("text/plain; version=0.0.4") == true else {
            throw HarnessError("\(name): /metrics answered with content type \(contentType ?? "none")")
        }
        var values: [String: Double] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                throw HarnessError("\(name): /metrics line does not parse: \(line)")
            }
            values[String(line[..<space])] = value
        }
        return values
    }

    /// Checks a running node's `/metrics` and block stream against its status: the counters agree with the
    /// chain, and the stream replays committed blocks in order from a resume point.
    func checkMetricsAndBlockStream() async throws {
        let height = try await status().height
        let metrics = try await metrics()
        #expect((metrics["ensure_block_height"] ?? 0) >= Double(height), "\(name) ensure_block_height")
        #expect((metrics["ensure_blocks_committed_total"] ?? 0) >= 1, "\(name) ensure_blocks_committed_total")
        #expect((metrics["ensure_transactions_committed_total"] ?? 0) >= 1, "\(name) transactions")
        #expect(metrics["ensure_is_validator"] == (isValidator ? 1 : 0), "\(name) ensure_is_validator")
        #expect((metrics["process_resident_memory_bytes"] ?? 0) > 0, "\(name) process_resident_memory_bytes")
        #expect(
            metrics.keys.contains { $0.hasPrefix("ensure_api_requests_total{route=\"/v1/status\"") },
            "\(name) counts API requests")

        let start = max(1, height - 2)
        let follower = try EventStreamFollower(
            apiURL.appendingPathComponent("v1/events/blocks"), lastEventID: start - 1, maxSeconds: 3)
        let (status, output) = await follower.finish()
        #expect(status == 28, "\(name): the stream stays open until curl gives up")
        let ids = EventStreamFollower.blockIDs(output)
        #expect(ids.first == start, "\(name): the stream resumes after Last-Event-ID")
        #expect(ids == Array(start..<(start + UInt64(ids.count))), "\(name): blocks in height order")
        #expect(ids.count >= 3, "\(name): the replay reaches the tip")
    }
}
