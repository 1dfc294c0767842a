import EnsureCrypto
import Foundation
import Ledger
import Storage
import Testing

/// Kills `ensure-crash-writer` with SIGKILL at random moments and checks that every write it reported as
/// committed survived, and that no batch is torn. Key layout: see Tests/Support/CrashWriter/main.swift.
@Suite("Crash safety under kill -9", .serialized)
struct CrashSafetyTests {
    private static let batchPrefix = bytes("crash/batch/")
    private static let commitPrefix = bytes("crash/commit/")
    private static let stateHeightKey = bytes("crash/state/height")
    private static let keysPerBatch = 10
    private static let rounds = 8

    @Test("synced batches: after each kill the batches present are exactly 1…m, m ≥ the last reported, none torn")
    func batchesSurviveKill() throws {
        let writer = try CrashWriterBinary.locate()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("db")
        var previous: UInt64 = 0
        for round in 1...Self.rounds {
            let run = try CrashWriterRun(executable: writer, arguments: ["batches", path, "100000"])
            let reached = run.waitForCommits(Int.random(in: 3...25))
            try #require(reached, "round \(round): the writer stopped before committing: \(run.standardError())")
            if round == 1 {
                try expectLockedByOtherProcess(path)
            }
            let lastReported = try #require(run.killAtRandomMoment(), "round \(round): no commit was reported")
            #expect(run.wasKilled, "round \(round): the writer was not ended by SIGKILL")
            #expect(lastReported > previous)

            let database = try LevelDB(path: path, options: LevelDBOptions(createIfMissing: false))
            let markers = try database.entries(withPrefix: Self.commitPrefix)
            let numbers = markers.compactMap { number(after: Self.commitPrefix, in: $0.key) }
            let present = UInt64(numbers.count)
            #expect(numbers == (0..<present).map { $0 + 1 }, "round \(round): the markers are not 1…m")
            #expect(markers.allSatisfy { $0.value == Array($0.key.suffix(8)) })
            #expect(present >= lastReported, "round \(round): reported \(lastReported) but only \(present) survived")

            var keysByBatch = [UInt64: [UInt8]]()
            for entry in try database.entries(withPrefix: Self.batchPrefix) {
                let suffix = Array(entry.key.dropFirst(Self.batchPrefix.count))
                try #require(suffix.count == 9, "malformed batch key \(Hex.encode(entry.key))")
                let batch = try #require(UInt64(bigEndianBytes: suffix.prefix(8)))
                keysByBatch[batch, default: []].append(suffix[8])
                #expect(Array(entry.value.prefix(8)) == Array(suffix.prefix(8)), "value does not carry its batch")
                #expect(entry.value.dropFirst(8).allSatisfy { $0 == UInt8(batch % 251) }, "filler damaged")
            }
            let withoutMarker = Set(keysByBatch.keys).subtracting(numbers).sorted()
            let withoutKeys = Set(numbers).subtracting(keysByBatch.keys).sorted()
            #expect(withoutMarker.isEmpty, "round \(round): batches \(withoutMarker) have keys but no commit marker")
            #expect(withoutKeys.isEmpty, "round \(round): batches \(withoutKeys) have a marker but no keys")
            for (batch, keys) in keysByBatch {
                #expect(keys == (0..<UInt8(Self.keysPerBatch)).map { $0 }, "batch \(batch) is torn")
            }
            previous = present
        }
    }

    @Test("block store: after each kill heights 0…latest are all present, linked and certified")
    func blocksSurviveKill() throws {
        let writer = try CrashWriterBinary.locate()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("chain")
        let key = Ed25519PrivateKey()
        let validators = try #require(ValidatorSet([key.publicKey]))
        var previous: UInt64? = nil
        for round in 1...Self.rounds {
            let run = try CrashWriterRun(
                executable: writer, arguments: ["blocks", path, Hex.encode(key.seed), "100000"])
            let reached = run.waitForCommits(Int.random(in: 3...20))
            try #require(reached, "round \(round): the writer stopped before committing: \(run.standardError())")
            let lastReported = try #require(run.killAtRandomMoment(), "round \(round): no commit was reported")
            #expect(run.wasKilled, "round \(round): the writer was not ended by SIGKILL")

            let store = try BlockStore(
                database: LevelDB(path: path, options: LevelDBOptions(createIfMissing: false)))
            let tip = try #require(store.tip, "round \(round): the store is empty after the kill")
            #expect(tip.height >= lastReported, "round \(round): reported \(lastReported), tip is \(tip.height)")
            if let previous {
                #expect(tip.height > previous)
            }
            let nodes = LevelDBMerkleNodeStore(database: store.database)
            var parentID = Digest.zero
            var parentCertificate: QuorumCertificate? = nil
            for height in 0...tip.height {
                let block = try #require(try store.block(atHeight: height), "round \(round): height \(height) lost")
                let certificate = try #require(
                    try store.certificate(atHeight: height), "round \(round): certificate \(height) lost")
                #expect(block.header.height == height)
                #expect(block.header.parentID == parentID, "height \(height) does not link to its parent")
                #expect(try store.block(withID: block.id) == block)
                #expect(certificate.blockID == block.id)
                if height == 0 {
                    #expect(certificate == .genesis(chainID: block.header.chainID, blockID: block.id))
                } else {
                    #expect(throws: Never.self) { try certificate.verify(against: validators) }
                    #expect(block.justify == parentCertificate, "height \(height) is not justified by its parent")
                }
                #expect(
                    try nodes.node(at: MerkleNodePosition(level: 0, index: height)) == MerkleHash.leaf(block.id.bytes))
                parentID = block.id
                parentCertificate = certificate
            }
            #expect(tip.blockID == parentID)
            #expect(try store.block(atHeight: tip.height + 1) == nil)
            #expect(try store.certificate(atHeight: tip.height + 1) == nil)
            #expect(try nodes.node(at: MerkleNodePosition(level: 0, index: tip.height + 1)) == nil)
            #expect(try store.database.get(Self.stateHeightKey).flatMap(UInt64.init(bigEndianBytes:)) == tip.height)
            previous = tip.height
        }
    }

    @Test("the writer fails with a clear message on bad arguments")
    func writerRefusesBadArguments() throws {
        let writer = try CrashWriterBinary.locate()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        for arguments in [["nonsense", directory.path("db")], ["blocks", directory.path("db"), "zz"], []] {
            let run = try CrashWriterRun(executable: writer, arguments: arguments)
            #expect(!run.waitForCommits(1))
            run.process.waitUntilExit()
            #expect(run.process.terminationStatus == 1)
            #expect(run.standardError().contains("usage"))
        }
    }

    /// A second process holding the database must be reported as a lock, naming the path.
    private func expectLockedByOtherProcess(_ path: String) throws {
        let error = #expect(throws: LevelDBError.self) { try LevelDB(path: path) }
        guard case .locked(let errorPath, _)? = error else {
            Issue.record("expected a lock error while the writer runs, got \(String(describing: error))")
            return
        }
        #expect(errorPath == path)
    }

    private func number(after prefix: [UInt8], in key: [UInt8]) -> UInt64? {
        UInt64(bigEndianBytes: key.dropFirst(prefix.count))
    }
}

extension UInt64 {
    /// Reads exactly 8 big-endian bytes.
    fileprivate init?(bigEndianBytes bytes: some Collection<UInt8>) {
        guard bytes.count == 8 else { return nil }
        self = bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }
}

/// Where the `ensure-crash-writer` executable is: in the build products directory, beside the test binary.
enum CrashWriterBinary {
    static let name = "ensure-crash-writer"

    static func locate() throws -> URL {
        var directories = [URL]()
        if let executable = Bundle.main.executableURL {
            directories.append(executable.deletingLastPathComponent())
        }
        for bundle in Bundle.allBundles where bundle.bundleURL.pathExtension == "xctest" {
            directories.append(bundle.bundleURL.deletingLastPathComponent())
        }
        let found = directories.map { $0.appendingPathComponent(name) }.first {
            FileManager.default.isExecutableFile(atPath: $0.path)
        }
        return try #require(
            found,
            """
            \(name) was not found beside the test binary (looked in \(directories.map(\.path))); \
            build it with `swift build --product \(name)` and run the tests from the same build directory
            """)
    }
}

/// One run of the crash writer as a child process, reading its `committed N` lines as they arrive.
final class CrashWriterRun {
    let process = Process()
    private let output = Pipe()
    private let errors = Pipe()
    private var pending = ""
    private(set) var lastCommitted: UInt64?
    private(set) var wasKilled = false

    init(executable: URL, arguments: [String]) throws {
        process.executableURL = executable
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = errors
        try process.run()
    }

    /// Reads until `count` more commits were reported; false if the writer ended first.
    func waitForCommits(_ count: Int) -> Bool {
        var seen = 0
        while seen < count {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { return false }
            seen += consume(chunk)
        }
        return true
    }

    /// Waits a random moment (0–15 ms), sends SIGKILL, reads what the writer printed before dying and
    /// returns the last number it reported committed.
    func killAtRandomMoment() -> UInt64? {
        Thread.sleep(forTimeInterval: Double.random(in: 0...0.015))
        kill(process.processIdentifier, SIGKILL)
        _ = consume(output.fileHandleForReading.readDataToEndOfFile())
        process.waitUntilExit()
        wasKilled = process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL
        return lastCommitted
    }

    /// What the writer wrote to standard error (read to the end: call after it exited or was killed).
    func standardError() -> String {
        String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }

    /// Parses complete lines; returns how many commits they reported.
    private func consume(_ data: Data) -> Int {
        pending += String(decoding: data, as: UTF8.self)
        var lines = pending.split(separator: "\n", omittingEmptySubsequences: false)
        pending = String(lines.removeLast())
        var count = 0
        for line in lines {
            guard line.hasPrefix("committed "), let number = UInt64(line.dropFirst("committed ".count)) else {
                Issue.record("unexpected output from the crash writer: \(line)")
                continue
            }
            if let lastCommitted {
                #expect(number == lastCommitted + 1, "the writer skipped from \(lastCommitted) to \(number)")
            }
            lastCommitted = number
            count += 1
        }
        return count
    }
}
