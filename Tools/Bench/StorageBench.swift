import ArgumentParser
import Foundation
import Storage

/// `ensure-bench leveldb`: how many synced LevelDB batch commits per second this disk sustains, the same
/// without sync for comparison, and the bound measured in the same run: appending a record of the same size to
/// a plain file and calling fdatasync, in the same directory. The synced and bound measurements alternate in
/// rounds so that noise from other work on the machine falls on both alike.
struct LevelDBBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "leveldb",
        abstract: "Synced and unsynced LevelDB batch commits per second, against the fdatasync bound of the disk."
    )

    @Option(help: "Seconds spent on each measurement in each round.")
    var seconds: Double = 1

    @Option(help: "Rounds of alternating measurements.")
    var rounds: Int = 3

    @Option(help: "Values per batch.")
    var batchKeys: Int = 10

    @Option(help: "Bytes per value.")
    var valueBytes: Int = 256

    @Option(
        help:
            "Directory for the scratch database and file (default: a new directory under the system's temporary directory)."
    )
    var directory: String?

    func validate() throws {
        guard seconds > 0, seconds <= 600 else { throw ValidationError("--seconds must be in (0, 600]") }
        guard (1...100).contains(rounds) else { throw ValidationError("--rounds must be between 1 and 100") }
        guard (1...10_000).contains(batchKeys) else { throw ValidationError("--batch-keys must be 1 to 10000") }
        guard (0...1 << 20).contains(valueBytes) else { throw ValidationError("--value-bytes must be 0 to 1 MiB") }
    }

    func run() throws {
        let root = URL(fileURLWithPath: directory ?? NSTemporaryDirectory())
            .appendingPathComponent("ensure-bench-leveldb-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }

        let database = try LevelDB(path: root.appendingPathComponent("db").path)
        let boundFile = try DataSyncFile(path: root.appendingPathComponent("bound.dat").path)
        var generator = SystemRandomNumberGenerator()
        // A pool of random values, so the payload does not compress and the loop does not wait on the generator.
        let values = (0..<64).map { _ in (0..<valueBytes).map { _ in UInt8.random(in: 0...255, using: &generator) } }
        var sequence: UInt64 = 0
        func nextBatch() -> WriteBatch {
            var batch = WriteBatch()
            for key in 0..<batchKeys {
                sequence += 1
                batch.put(
                    key: Array("bench/".utf8) + withBigEndianBytes(sequence) + [UInt8(truncatingIfNeeded: key)],
                    value: values[Int(sequence % UInt64(values.count))])
            }
            return batch
        }
        let recordBytes = batchKeys * (valueBytes + 15)
        let record = (0..<recordBytes).map { _ in UInt8.random(in: 0...255, using: &generator) }

        var synced = Rate()
        var unsynced = Rate()
        var bound = Rate()
        for _ in 0..<rounds {
            try bound.measure(for: seconds) {
                try boundFile.append(record)
                try boundFile.syncData()
            }
            try synced.measure(for: seconds) { try database.write(nextBatch(), sync: true) }
        }
        // Unsynced writes last: they leave megabytes of dirty pages whose writeback would slow the syncs above.
        try unsynced.measure(for: seconds * Double(rounds)) { try database.write(nextBatch(), sync: false) }

        print("leveldb: batches of \(batchKeys) × \(valueBytes)-byte values, \(rounds) rounds of \(seconds) s each")
        report("synced batch commits", synced.formatted + " /s")
        report("unsynced batch commits", unsynced.formatted + " /s")
        report("bound: append \(recordBytes) B + fdatasync", bound.formatted + " /s")
        report("synced / bound", String(format: "%10.2f", synced.perSecond / bound.perSecond))
        report("unsynced / synced", String(format: "%10.1f", unsynced.perSecond / synced.perSecond))
    }
}

/// Prints one result line with the label padded to a column.
private func report(_ label: String, _ value: String) {
    print("  " + label + String(repeating: " ", count: max(1, 36 - label.count)) + value)
}

/// Operations counted over measured time.
private struct Rate {
    var operations = 0
    var elapsed = Duration.zero

    var perSecond: Double {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return seconds > 0 ? Double(operations) / seconds : 0
    }

    var formatted: String { String(format: "%10.1f", perSecond) }

    /// Repeats `operation` for about `seconds`, adding the count and the exact time taken.
    mutating func measure(for seconds: Double, _ operation: () throws -> Void) throws {
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start + .milliseconds(Int64(seconds * 1_000))
        var count = 0
        var now = start
        while now < deadline {
            try operation()
            count += 1
            now = clock.now
        }
        operations += count
        elapsed += now - start
    }
}

private func withBigEndianBytes(_ value: UInt64) -> [UInt8] {
    (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * UInt64($0))) }
}
