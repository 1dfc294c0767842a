import EnsureCrypto
import Foundation
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// Builds a Prometheus text exposition (format 0.0.4): per metric family one `# HELP` and one `# TYPE` line, then
/// its samples, label values escaped as the format asks (backslash, double quote, line feed).
struct MetricsExposition {
    /// The content type of the format.
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// One sample's labels, in the order given.
    typealias Labels = [(name: String, value: String)]

    private(set) var text = ""

    /// A counter family of one unlabeled sample.
    mutating func counter(_ name: String, _ help: String, _ value: Double) {
        family(name, type: "counter", help: help, samples: [([], value)])
    }

    /// A gauge family of one unlabeled sample.
    mutating func gauge(_ name: String, _ help: String, _ value: Double) {
        family(name, type: "gauge", help: help, samples: [([], value)])
    }

    /// A family of `type` with `samples`, each under the family's name.
    mutating func family(_ name: String, type: String, help: String, samples: [(Labels, Double)]) {
        text += "# HELP \(name) \(Self.escapeHelp(help))\n# TYPE \(name) \(type)\n"
        for (labels, value) in samples { sample(name, labels, value) }
    }

    /// A histogram family of one unlabeled series.
    mutating func histogram(_ name: String, _ help: String, _ histogram: SecondsHistogram) {
        histograms(name, help, series: [([], histogram)])
    }

    /// A histogram family: per series, cumulative `_bucket` samples per upper bound and `+Inf`, then `_sum` and
    /// `_count`, each with the series' labels (and `le` on the buckets).
    mutating func histograms(_ name: String, _ help: String, series: [(Labels, SecondsHistogram)]) {
        text += "# HELP \(name) \(Self.escapeHelp(help))\n# TYPE \(name) histogram\n"
        for (labels, histogram) in series {
            var cumulative: UInt64 = 0
            for (bound, count) in zip(histogram.bounds, histogram.counts) {
                cumulative += count
                sample(name + "_bucket", labels + [("le", Self.number(bound))], Double(cumulative))
            }
            cumulative += histogram.overflow
            sample(name + "_bucket", labels + [("le", "+Inf")], Double(cumulative))
            sample(name + "_sum", labels, histogram.sum)
            sample(name + "_count", labels, Double(cumulative))
        }
    }

    private mutating func sample(_ name: String, _ labels: Labels, _ value: Double) {
        text += name
        if !labels.isEmpty {
            text += "{" + labels.map { "\($0.name)=\"\(Self.escapeLabel($0.value))\"" }.joined(separator: ",") + "}"
        }
        text += " " + Self.number(value) + "\n"
    }

    /// A sample value: integers without a fraction, `+Inf`, `-Inf` and `NaN` as the format spells them.
    static func number(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    /// A label value with `\`, `"` and line feeds escaped.
    static func escapeLabel(_ value: String) -> String {
        var escaped = ""
        for character in value {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    /// HELP text with `\` and line feeds escaped.
    static func escapeHelp(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }
}

/// What the API counts about itself: answered requests by route template, method and status. The label values
/// are bounded: routes are the router's templates (`/v1/blocks/{height}`, or `unmatched`), methods the standard
/// ones (else `other`), statuses three digits.
public final class APIMetrics: Sendable {
    struct Key: Hashable {
        var route: String
        var method: String
        var status: Int
    }

    struct Route: Hashable {
        var route: String
        var method: String
    }

    private struct State {
        var requests: [Key: UInt64] = [:]
        var durations: [Route: SecondsHistogram] = [:]
    }

    /// Upper bounds of the request-duration buckets, in seconds.
    static let durationBounds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

    private let state = NIOLockedValueBox(State())

    /// Creates empty counters.
    public init() {}

    /// Counts one answered request, and how long the router took to answer it (`seconds`, when measured).
    func record(route: String?, method: HTTPRequest.Method, status: HTTPResponse.Status, seconds: Double? = nil) {
        let methods: Set<String> = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
        let key = Key(
            // Hummingbird names a request no route matched "NotFound"; templates start with a slash.
            route: route.flatMap { $0.hasPrefix("/") ? $0 : nil } ?? "unmatched",
            method: methods.contains(method.rawValue) ? method.rawValue : "other", status: status.code)
        let route = Route(route: key.route, method: key.method)
        state.withLockedValue { state in
            state.requests[key, default: 0] += 1
            if let seconds {
                state.durations[route, default: SecondsHistogram(bounds: Self.durationBounds)].record(seconds)
            }
        }
    }

    /// Every request-duration histogram, sorted by route and method.
    func requestDurations() -> [(Route, SecondsHistogram)] {
        state.withLockedValue { $0.durations.map { ($0.key, $0.value) } }.sorted {
            ($0.0.route, $0.0.method) < ($1.0.route, $1.0.method)
        }
    }

    /// Every counter, sorted by route, method and status.
    func requestCounts() -> [(Key, UInt64)] {
        state.withLockedValue { $0.requests.map { ($0.key, $0.value) } }.sorted {
            ($0.0.route, $0.0.method, $0.0.status) < ($1.0.route, $1.0.method, $1.0.status)
        }
    }
}

/// Counts every answered request in ``APIMetrics``, with the time from the router handing it over to the answer
/// (for a streamed body, until its headers). It runs outside the problem middleware, so it sees the status a
/// refusal was sent with.
struct RequestMetricsMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext

    let metrics: APIMetrics

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let start = ContinuousClock.now
        func seconds() -> Double { (ContinuousClock.now - start).seconds }
        do {
            let response = try await next(request, context)
            metrics.record(
                route: context.endpointPath, method: request.method, status: response.status, seconds: seconds())
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status ?? .internalServerError
            metrics.record(route: context.endpointPath, method: request.method, status: status, seconds: seconds())
            throw error
        }
    }
}

/// Facts about this process from `/proc` (Linux); nil where unavailable.
enum ProcessFacts {
    /// Resident set size in bytes.
    static func residentMemoryBytes() -> Double? {
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = statm.split(separator: " ")
        guard fields.count > 1, let pages = Double(fields[1]) else { return nil }
        return pages * Double(pageSize)
    }

    /// User plus system CPU time in seconds.
    static func cpuSeconds() -> Double? {
        guard let fields = statFields(), fields.count > 14, let user = Double(fields[13]),
            let system = Double(fields[14])
        else { return nil }
        return (user + system) / clockTicks
    }

    /// When the process started, in seconds since 1970.
    static func startTimeSeconds() -> Double? {
        guard let fields = statFields(), fields.count > 21, let ticks = Double(fields[21]),
            let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = stat.split(separator: "\n").first(where: { $0.hasPrefix("btime ") }),
            let boot = Double(line.dropFirst("btime ".count).trimmingCharacters(in: .whitespaces))
        else { return nil }
        return boot + ticks / clockTicks
    }

    /// The fields of `/proc/self/stat`, numbered as in proc(5) minus one; the command name (which may hold
    /// spaces) is skipped by starting after its closing parenthesis.
    private static func statFields() -> [Substring]? {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let rest = stat[stat.index(after: close)...].split(separator: " ")
        // rest[0] is field 3 (state); pad so that index n is field n + 1.
        return ["pid", "comm"] + rest
    }

    private static var clockTicks: Double {
        #if canImport(Glibc)
            let ticks = sysconf(Int32(_SC_CLK_TCK))
            return ticks > 0 ? Double(ticks) : 100
        #else
            return 100
        #endif
    }

    private static var pageSize: Int {
        #if canImport(Glibc)
            let size = sysconf(Int32(_SC_PAGESIZE))
            return size > 0 ? size : 4096
        #else
            return 4096
        #endif
    }
}
