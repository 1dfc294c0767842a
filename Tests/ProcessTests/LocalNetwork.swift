import Codec
import EnsureCrypto
import Foundation
import Ledger

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The `ensure` and `ensure-node` executables built next to this test binary.
enum Executables {
    static func locate(_ name: String) throws -> URL {
        let start = Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
        var directory = start.resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<5 {
            let candidate = directory.appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        throw HarnessError("\(name) was not found next to \(start.path); build it with `swift build --product \(name)`")
    }
}

/// What `GET /v1/status` answers.
struct StatusView: Decodable {
    let chainID: String
    let nodeKey: String
    let role: String
    let height: UInt64
    let blockID: String
    let round: UInt64
    let peers: [String]
}

/// One node of a local network, as `ensure testnet --json` describes it.
final class LocalNode: @unchecked Sendable {
    // Mutated only by the test that owns the network, one step at a time.
    let name: String
    let home: String
    let apiURL: URL
    let isValidator: Bool
    private(set) var process: Process?
    private var logHandle: FileHandle?

    init(name: String, home: String, apiAddress: String, isValidator: Bool) {
        self.name = name
        self.home = home
        self.apiURL = URL(string: "http://\(apiAddress)")!
        self.isValidator = isValidator
    }

    var logPath: String { home + "/node.log" }

    func start() throws {
        guard process == nil else { return }
        if !FileManager.default.fileExists(atPath: logPath) {
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        handle.seekToEndOfFile()
        let process = Process()
        process.executableURL = try Executables.locate("ensure-node")
        process.arguments = ["--home", home]
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        self.process = process
        self.logHandle = handle
    }

    /// SIGKILL: the process gets no chance to flush or clean up.
    func kill9() {
        guard let process else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
        try? logHandle?.close()
    }

    /// SIGTERM and wait; returns the exit status.
    @discardableResult
    func terminate() -> Int32? {
        guard let process else { return nil }
        process.terminate()
        process.waitUntilExit()
        self.process = nil
        try? logHandle?.close()
        return process.terminationStatus
    }

    var isRunning: Bool { process?.isRunning ?? false }

    /// The nice value of each of the running process's threads, from `/proc/PID/task/*/stat`.
    func threadNiceValues() -> [Int32] {
        guard let pid = process?.processIdentifier else { return [] }
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.compactMap { task in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/stat", encoding: .utf8),
                let end = stat.lastIndex(of: ")")
            else { return nil }
            // After the name in parentheses: field 3 (state) onwards; the nice value is field 19.
            let fields = stat[stat.index(after: end)...].split(separator: " ")
            return fields.count > 16 ? Int32(fields[16]) : nil
        }
    }

    func logTail(_ lines: Int = 30) -> String {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    // MARK: HTTP

    func get(_ path: String) async throws -> (Int, Data) {
        var request = URLRequest(url: apiURL.appendingPathComponent(path))
        request.timeoutInterval = 5
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
    }

    func status() async throws -> StatusView {
        let (code, data) = try await get("v1/status")
        guard code == 200 else { throw HarnessError("\(name): /v1/status answered \(code)") }
        return try JSONDecoder().decode(StatusView.self, from: data)
    }

    func blockID(atHeight height: UInt64) async throws -> String? {
        let (code, data) = try await get("v1/blocks/\(height)")
        guard code == 200 else { return nil }
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        return object?["id"] as? String
    }

    func submit(_ transaction: Transaction) async throws -> Int {
        var request = URLRequest(url: apiURL.appendingPathComponent("v1/transactions"))
        request.httpMethod = "POST"
        request.timeoutInterval = 5
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        let body = ["transaction": Data(transaction.canonicalBytes).base64EncodedString()]
        request.httpBody = try JSONSerialization.data(withJSONObject: body)
        let (_, response) = try await URLSession.shared.data(for: request)
        return (response as? HTTPURLResponse)?.statusCode ?? 0
    }

    func transactionState(_ id: Digest) async throws -> String? {
        let (code, data) = try await get("v1/transactions/\(id.hex)")
        guard code == 200 else { return nil }
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        return object?["status"] as? String
    }
}

/// A network made by `ensure testnet` in a temporary directory, with real `ensure-node` processes.
final class LocalNetwork: @unchecked Sendable {
    // Mutated only by the test that owns it.
    let directory: String
    let chainID: String
    let nodes: [LocalNode]
    let adminKeys: [Ed25519PrivateKey]
    private var sequences: [Ed25519PublicKey: UInt64] = [:]

    init(validators: Int, observers: Int = 0) throws {
        directory =
            FileManager.default.temporaryDirectory.appendingPathComponent("ensure-net-\(UUID().uuidString)")
            .path
        let basePort = Self.nextBasePort()
        let ensure = try Executables.locate("ensure")
        let process = Process()
        process.executableURL = ensure
        process.arguments = [
            "testnet", "--validators", "\(validators)", "--observers", "\(observers)", "--out", directory,
            "--base-port", "\(basePort)", "--chain-id", "process-test", "--json",
        ]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = Pipe()
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw HarnessError("ensure testnet failed") }
        struct Summary: Decodable {
            struct Node: Decodable {
                let name: String
                let home: String
                let validator: Bool
                let apiAddress: String
            }
            struct Organization: Decodable {
                let adminKeyFile: String
            }
            let nodes: [Node]
            let organizations: [Organization]
        }
        let summary = try JSONDecoder().decode(Summary.self, from: data)
        chainID = "process-test"
        nodes = summary.nodes.map {
            LocalNode(name: $0.name, home: $0.home, apiAddress: $0.apiAddress, isValidator: $0.validator)
        }
        adminKeys = try summary.organizations.map { try KeyFile.read(from: $0.adminKeyFile).privateKey }
    }

    private static let portLock = NSLock()
    nonisolated(unsafe) private static var networksCreated = 0

    /// A block of 24 ports (12 nodes, two ports each) that no other network of this process uses at the same time:
    /// suites run in parallel, so two networks of one test process must never draw overlapping ports. Processes
    /// are spread by pid; a process cycles through 4 blocks.
    ///
    /// The blocks lie below the kernel's ephemeral range: a port inside it can be taken by any outgoing
    /// connection (another node's, or a client's) while its node is stopped, and the restart then fails with
    /// "address already in use".
    static func nextBasePort() -> Int {
        portLock.lock()
        defer { portLock.unlock() }
        networksCreated += 1
        let first = 10_000
        let slots = max(1, (ephemeralPortsStart() - first) / 96)
        return first + Int(getpid() % Int32(slots)) * 96 + ((networksCreated - 1) % 4) * 24
    }

    /// The first port of the kernel's ephemeral range (`ip_local_port_range`), or Linux's default 32768.
    static func ephemeralPortsStart() -> Int {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        let first = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first.flatMap { Int($0) }
        guard let first, first > 10_000 + 96 else { return 32_768 }
        return first
    }

    deinit {
        for node in nodes { node.kill9() }
        try? FileManager.default.removeItem(atPath: directory)
    }

    func startAll() throws {
        for node in nodes { try node.start() }
    }

    /// Stops every running node with SIGTERM and returns their exit statuses.
    func stopAll() -> [Int32] {
        nodes.compactMap { $0.terminate() }
    }

    /// A signed notarize transaction from organization `organization`, with its next sequence number.
    func notarize(organization: Int = 0, label: String) -> Transaction {
        let key = adminKeys[organization]
        let sequence = (sequences[key.publicKey] ?? 0) + 1
        sequences[key.publicKey] = sequence
        let payload = try! NotarizePayload(digest: SHA256.hash(Array(label.utf8)), label: label)
        return Transaction(
            chainID: chainID, sequence: sequence, kind: .notarize, payload: payload.canonicalBytes, signedBy: key)
    }

    /// Polls `condition` every 200 ms until it holds or `seconds` pass; the failure names what was awaited and
    /// shows the tail of every running node's log.
    func waitUntil(
        _ what: String, seconds: Double = 60, _ condition: () async throws -> Bool
    ) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if (try? await condition()) == true { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        var report = "timed out after \(Int(seconds)) s waiting until \(what)"
        for node in nodes {
            report += "\n--- \(node.name) (running: \(node.isRunning))\n\(node.logTail(15))"
        }
        throw HarnessError(report)
    }

    /// The committed height of every node in `subset` that answers.
    func heights(_ subset: [LocalNode]) async -> [String: UInt64] {
        var result: [String: UInt64] = [:]
        for node in subset {
            if let status = try? await node.status() { result[node.name] = status.height }
        }
        return result
    }

    /// Checks that every node in `subset` reports the same block id at every height from 1 through `height`,
    /// and returns the first height where two differ, or nil.
    func firstDivergence(_ subset: [LocalNode], through height: UInt64) async throws -> UInt64? {
        guard height >= 1 else { return nil }
        for h in 1...height {
            var ids = Set<String>()
            for node in subset {
                guard let id = try await node.blockID(atHeight: h) else {
                    throw HarnessError("\(node.name) has no block at height \(h)")
                }
                ids.insert(id)
            }
            if ids.count > 1 { return h }
        }
        return nil
    }
}
