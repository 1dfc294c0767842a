import Foundation

/// What a finished child process left.
struct FinishedProcess: Sendable {
    var status: Int32
    var output: Data
    var errors: Data
}

/// Runs `executable` to its end on a Dispatch worker thread, not on one of Swift's cooperative threads. The tests
/// share two cooperative threads on a 2-core machine; a test that waited for a child process on one of them
/// (a benchmark run, a documentation script) held it for as long as the child ran, and two such tests at once
/// stalled every other test's engines and servers for minutes. With `mergeErrors`, standard error goes to the
/// same pipe as standard output.
func runToEnd(
    _ executable: URL, _ arguments: [String], directory: URL? = nil, environment: [String: String]? = nil,
    mergeErrors: Bool = false
) async throws -> FinishedProcess {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            let process = Process()
            process.executableURL = executable
            process.arguments = arguments
            if let directory { process.currentDirectoryURL = directory }
            if let environment { process.environment = environment }
            let output = Pipe()
            let errors = Pipe()
            process.standardOutput = output
            process.standardError = mergeErrors ? output : errors
            do {
                try process.run()
            } catch {
                continuation.resume(throwing: error)
                return
            }
            // Standard error is read on its own thread, so a child that fills that pipe first cannot stall.
            let errorText = LockedData()
            let group = DispatchGroup()
            if !mergeErrors {
                DispatchQueue.global().async(group: group) {
                    errorText.set(errors.fileHandleForReading.readDataToEndOfFile())
                }
            }
            let data = output.fileHandleForReading.readDataToEndOfFile()
            group.wait()
            process.waitUntilExit()
            continuation.resume(
                returning: FinishedProcess(status: process.terminationStatus, output: data, errors: errorText.get()))
        }
    }
}

/// Bytes handed from one Dispatch work item to another.
private final class LockedData: @unchecked Sendable {
    private var data = Data()
    private let lock = NSLock()

    func set(_ value: Data) { lock.withLock { data = value } }
    func get() -> Data { lock.withLock { data } }
}
