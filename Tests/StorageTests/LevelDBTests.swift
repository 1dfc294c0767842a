import Foundation
import Testing

@testable import Storage

@Suite("LevelDB wrapper")
struct LevelDBTests {
    @Test("put, get and delete round-trip, including empty keys and values")
    func putGetDelete() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let database = try LevelDB(path: directory.path("db"))
        try database.put(key: bytes("alpha"), value: bytes("one"))
        try database.put(key: [], value: [0, 1, 2])
        try database.put(key: bytes("empty"), value: [], sync: false)
        #expect(try database.get(bytes("alpha")) == bytes("one"))
        #expect(try database.get([]) == [0, 1, 2])
        #expect(try database.get(bytes("empty")) == [])
        #expect(try database.get(bytes("absent")) == nil)
        try database.delete(key: bytes("alpha"))
        #expect(try database.get(bytes("alpha")) == nil)
        try database.delete(key: bytes("never-written"))
        #expect(try database.get(bytes("never-written")) == nil)
    }

    @Test("values written survive closing and reopening")
    func reopenPersistence() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("db")
        do {
            let database = try LevelDB(path: path)
            var batch = WriteBatch()
            for index in 0..<100 {
                batch.put(key: bytes("key-\(index)"), value: bytes("value-\(index)"))
            }
            try database.write(batch)
            try database.delete(key: bytes("key-7"))
        }
        let reopened = try LevelDB(path: path, options: LevelDBOptions(createIfMissing: false))
        #expect(try reopened.get(bytes("key-0")) == bytes("value-0"))
        #expect(try reopened.get(bytes("key-99")) == bytes("value-99"))
        #expect(try reopened.get(bytes("key-7")) == nil)
        #expect(try allEntries(reopened).count == 99)
    }

    @Test("a batch applies its puts and deletes together, in order")
    func batchAppliesInOrder() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let database = try LevelDB(path: directory.path("db"))
        try database.put(key: bytes("old"), value: bytes("x"))
        var batch = WriteBatch()
        batch.put(key: bytes("a"), value: bytes("1"))
        batch.put(key: bytes("b"), value: bytes("2"))
        batch.delete(key: bytes("old"))
        batch.put(key: bytes("a"), value: bytes("3"))
        batch.delete(key: bytes("b"))
        #expect(batch.count == 5)
        // Nothing is visible before the batch is written.
        #expect(try database.get(bytes("a")) == nil)
        #expect(try database.get(bytes("old")) == bytes("x"))
        try database.write(batch, sync: true)
        #expect(try database.get(bytes("a")) == bytes("3"))
        #expect(try database.get(bytes("b")) == nil)
        #expect(try database.get(bytes("old")) == nil)
        try database.write(WriteBatch())
        #expect(try allEntries(database) == [LevelDBEntry(key: bytes("a"), value: bytes("3"))])
    }

    @Test("a concurrent reader never sees half of a batch")
    func batchesAreAtomicForConcurrentReaders() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let database = try LevelDB(path: directory.path("db"))
        try await withThrowingTaskGroup(of: Int.self) { group in
            group.addTask {
                for round in 0..<300 {
                    var batch = WriteBatch()
                    for part in 0..<4 {
                        batch.put(key: bytes("pair/\(part)"), value: bytes("\(round)"))
                    }
                    try database.write(batch, sync: false)
                }
                return 0
            }
            group.addTask {
                var torn = 0
                for _ in 0..<300 {
                    let values = try database.snapshot().entries(withPrefix: bytes("pair/")).map(\.value)
                    if Set(values).count > 1 || (values.count != 0 && values.count != 4) {
                        torn += 1
                    }
                }
                return torn
            }
            var tornTotal = 0
            for try await torn in group {
                tornTotal += torn
            }
            #expect(tornTotal == 0)
        }
        #expect(try database.get(bytes("pair/3")) == bytes("299"))
    }

    @Test("a snapshot keeps the values of the moment it was taken")
    func snapshotIsolation() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let database = try LevelDB(path: directory.path("db"))
        try database.put(key: bytes("k/a"), value: bytes("1"))
        try database.put(key: bytes("k/c"), value: bytes("3"))
        let snapshot = database.snapshot()
        try database.put(key: bytes("k/a"), value: bytes("changed"))
        try database.put(key: bytes("k/b"), value: bytes("2"))
        try database.delete(key: bytes("k/c"))
        #expect(try snapshot.get(bytes("k/a")) == bytes("1"))
        #expect(try snapshot.get(bytes("k/b")) == nil)
        #expect(try snapshot.get(bytes("k/c")) == bytes("3"))
        #expect(try snapshot.entries(withPrefix: bytes("k/")).map(\.key) == [bytes("k/a"), bytes("k/c")])
        #expect(try database.get(bytes("k/a")) == bytes("changed"))
        #expect(try database.entries(withPrefix: bytes("k/")).map(\.key) == [bytes("k/a"), bytes("k/b")])
        #expect(snapshot.database === database)
    }

    @Test("prefix iteration stays inside the prefix, honours the start key and the limit")
    func prefixIterationBounds() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let database = try LevelDB(path: directory.path("db"))
        let keys: [[UInt8]] = [
            bytes("a"), bytes("a/1"), bytes("a/2"), bytes("a/3"), bytes("a0"), bytes("b/1"), bytes("A/1"),
            [0x01, 0xFF], [0x01, 0xFF, 0x00], [0x01, 0xFF, 0xFF], [0x02], [0x01],
        ]
        var batch = WriteBatch()
        for key in keys.shuffled() {
            batch.put(key: key, value: key + [0xAA])
        }
        try database.write(batch)

        let inPrefix = try database.entries(withPrefix: bytes("a/"))
        #expect(inPrefix.map(\.key) == [bytes("a/1"), bytes("a/2"), bytes("a/3")])
        #expect(inPrefix.allSatisfy { $0.value == $0.key + [0xAA] })
        #expect(
            try database.entries(withPrefix: bytes("a/"), from: bytes("a/2"), limit: .max).map(\.key) == [
                bytes("a/2"), bytes("a/3"),
            ])
        #expect(
            try database.entries(withPrefix: bytes("a/"), from: bytes("a/25"), limit: .max).map(\.key) == [
                bytes("a/3")
            ])
        #expect(
            try database.entries(withPrefix: bytes("a/"), from: nil, limit: 2).map(\.key) == [
                bytes("a/1"), bytes("a/2"),
            ])
        // A start below the prefix starts at the prefix; one above it yields nothing.
        #expect(try database.entries(withPrefix: bytes("a/"), from: bytes("A"), limit: .max).count == 3)
        #expect(try database.entries(withPrefix: bytes("a/"), from: bytes("b"), limit: .max).isEmpty)
        #expect(try database.entries(withPrefix: bytes("a/"), from: nil, limit: 0).isEmpty)
        #expect(try database.entries(withPrefix: bytes("a/"), from: nil, limit: -5).isEmpty)
        #expect(try database.entries(withPrefix: bytes("zz")).isEmpty)
        // 0xFF bytes at the end of a prefix do not end the range early or leak into the next one.
        #expect(
            try database.entries(withPrefix: [0x01, 0xFF]).map(\.key) == [
                [0x01, 0xFF], [0x01, 0xFF, 0x00], [0x01, 0xFF, 0xFF],
            ])
        // The empty prefix walks every key in byte order.
        let everything = try database.entries(withPrefix: [])
        #expect(everything.map(\.key) == keys.sorted { $0.lexicographicallyPrecedes($1) })
    }

    @Test("concurrent writers from many tasks all land")
    func concurrentWriters() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let database = try LevelDB(path: directory.path("db"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<4 {
                group.addTask {
                    for index in 0..<50 {
                        try database.put(key: bytes("w\(writer)/\(index)"), value: [UInt8(writer)], sync: false)
                    }
                }
            }
            try await group.waitForAll()
        }
        for writer in 0..<4 {
            let entries = try database.entries(withPrefix: bytes("w\(writer)/"))
            #expect(entries.count == 50)
            #expect(entries.allSatisfy { $0.value == [UInt8(writer)] })
        }
    }

    @Test("a second open of the same directory in this process reports the held lock and names the path")
    func lockHeldInProcess() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("db")
        do {
            let first = try LevelDB(path: path)
            try first.put(key: bytes("held"), value: bytes("yes"))
            let error = #expect(throws: LevelDBError.self) { try LevelDB(path: path) }
            guard case .locked(let errorPath, let detail)? = error else {
                Issue.record("expected a lock error, got \(String(describing: error))")
                return
            }
            #expect(errorPath == path)
            #expect(detail.contains("LOCK"))
            #expect(error!.description.contains(path))
            #expect(error!.description.contains("already open in this process"))
            #expect(try first.get(bytes("held")) == bytes("yes"))
        }
        // Once the first handle is gone the lock is free again.
        let second = try LevelDB(path: path)
        #expect(try second.get(bytes("held")) == bytes("yes"))
    }

    @Test("opening a missing database without create-if-missing fails and creates nothing")
    func missingDatabase() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("absent")
        let error = #expect(throws: LevelDBError.self) {
            try LevelDB(path: path, options: LevelDBOptions(createIfMissing: false))
        }
        #expect(error == .missing(path: path))
        #expect(error?.description.contains(path) == true)
        #expect(!FileManager.default.fileExists(atPath: path + "/CURRENT"))
    }

    @Test("error-if-exists refuses an existing database and leaves its contents alone")
    func alreadyExists() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("db")
        do {
            let database = try LevelDB(path: path)
            try database.put(key: bytes("kept"), value: bytes("1"))
        }
        let error = #expect(throws: LevelDBError.self) {
            try LevelDB(path: path, options: LevelDBOptions(errorIfExists: true))
        }
        #expect(error == .alreadyExists(path: path))
        let reopened = try LevelDB(path: path)
        #expect(try reopened.get(bytes("kept")) == bytes("1"))
    }

    @Test(
        "out-of-range options are refused before anything is created",
        arguments: [
            LevelDBOptions(blockCacheBytes: -1),
            LevelDBOptions(writeBufferBytes: 1_024),
            LevelDBOptions(writeBufferBytes: 2 << 30),
            LevelDBOptions(bloomFilterBitsPerKey: -1),
            LevelDBOptions(bloomFilterBitsPerKey: 65),
            LevelDBOptions(backgroundThreadNice: -1),
            LevelDBOptions(backgroundThreadNice: 20),
        ])
    func invalidOptions(options: LevelDBOptions) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("db")
        let error = #expect(throws: LevelDBError.self) { try LevelDB(path: path, options: options) }
        guard case .invalidOption(let name, _, _)? = error else {
            Issue.record("expected an option error, got \(String(describing: error))")
            return
        }
        #expect(
            ["blockCacheBytes", "writeBufferBytes", "bloomFilterBitsPerKey", "backgroundThreadNice"].contains(name))
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test("non-default options open a working database")
    func customOptions() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let options = LevelDBOptions(
            paranoidChecks: false, blockCacheBytes: 0, writeBufferBytes: 64 << 10, bloomFilterBitsPerKey: 0)
        let database = try LevelDB(path: directory.path("db"), options: options)
        for index in 0..<2_000 {
            try database.put(key: bytes("k\(index)"), value: [UInt8](repeating: 7, count: 100), sync: false)
        }
        #expect(database.options == options)
        #expect(try database.get(bytes("k1999"))?.count == 100)
    }

    @Test("opened from a thread of lowered priority, a database works and a failed open still names its path")
    func backgroundThreadNice() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let options = LevelDBOptions(writeBufferBytes: 64 << 10, backgroundThreadNice: 5)
        do {
            let database = try LevelDB(path: directory.path("db"), options: options)
            // Enough to fill the in-memory table many times over, so the background thread writes tables out.
            for index in 0..<2_000 {
                try database.put(key: bytes("k\(index)"), value: [UInt8](repeating: 7, count: 100), sync: false)
            }
            #expect(try database.get(bytes("k0"))?.count == 100)
        }
        let reopened = try LevelDB(path: directory.path("db"), options: options)
        #expect(try reopened.get(bytes("k1999"))?.count == 100)

        let file = directory.path("plain-file")
        try Data("not a directory".utf8).write(to: URL(fileURLWithPath: file))
        let error = #expect(throws: LevelDBError.self) { try LevelDB(path: file + "/db", options: options) }
        guard case .io(let errorPath, _)? = error else {
            Issue.record("expected an I/O error, got \(String(describing: error))")
            return
        }
        #expect(errorPath == file + "/db")
    }

    @Test("a path whose parent is a regular file is an I/O error naming the path")
    func ioError() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let file = directory.path("plain-file")
        try Data("not a directory".utf8).write(to: URL(fileURLWithPath: file))
        let path = file + "/db"
        let error = #expect(throws: LevelDBError.self) { try LevelDB(path: path) }
        guard case .io(let errorPath, _)? = error else {
            Issue.record("expected an I/O error, got \(String(describing: error))")
            return
        }
        #expect(errorPath == path)
        #expect(error!.description.contains("disk space"))
    }

    @Test("a damaged table file reads as a corruption error, not a crash or wrong data")
    func corruptedTableFile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("db")
        var generator = SystemRandomNumberGenerator()
        do {
            let database = try LevelDB(path: path)
            var batch = WriteBatch()
            for index in 0..<2_000 {
                let value = (0..<100).map { _ in UInt8.random(in: 0...255, using: &generator) }
                batch.put(key: bytes("row/\(String(index, radix: 10).leftPadded(to: 5))"), value: value)
            }
            try database.write(batch)
        }
        // Reopening turns the write-ahead log into a sorted table file.
        do { _ = try LevelDB(path: path) }
        let tables = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".ldb") }
        let table = try #require(tables.first, "expected a table file after reopening, found none")
        let tableURL = URL(fileURLWithPath: path).appendingPathComponent(table)
        var contents = try Data(contentsOf: tableURL)
        let middle = contents.count / 3
        for offset in middle..<(middle + 256) {
            contents[offset] ^= 0x5A
        }
        try contents.write(to: tableURL)

        let database = try LevelDB(path: path)
        let error = #expect(throws: LevelDBError.self) { try database.entries(withPrefix: bytes("row/")) }
        guard case .corruption(let errorPath, let detail)? = error else {
            Issue.record("expected a corruption error, got \(String(describing: error))")
            return
        }
        #expect(errorPath == path)
        #expect(!detail.isEmpty)
        #expect(error!.description.contains("backup"))
    }

    @Test("a damaged CURRENT file makes opening fail with a corruption error")
    func corruptedCurrentFile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("db")
        do {
            let database = try LevelDB(path: path)
            try database.put(key: bytes("a"), value: bytes("b"))
        }
        try Data("garbage-without-newline".utf8).write(to: URL(fileURLWithPath: path + "/CURRENT"))
        let error = #expect(throws: LevelDBError.self) { try LevelDB(path: path) }
        guard case .corruption(let errorPath, _)? = error else {
            Issue.record("expected a corruption error, got \(String(describing: error))")
            return
        }
        #expect(errorPath == path)
    }

    @Test("status messages map to the operator-facing cases")
    func errorDescriptionsNameThePath() {
        let path = "/data/ensure/db"
        let locked = LevelDBError.locked(
            path: path, detail: "IO error: lock /data/ensure/db/LOCK: Resource temporarily unavailable")
        #expect(locked.description.contains(path))
        #expect(locked.description.contains("another process, probably a running ensure-node"))
        #expect(
            LevelDBError.classify("IO error: lock /d/LOCK: already held by process", path: "/d")
                == .locked(
                    path: "/d", detail: "IO error: lock /d/LOCK: already held by process"))
        #expect(
            LevelDBError.classify("Corruption: bad block", path: "/d")
                == .corruption(
                    path: "/d", detail: "Corruption: bad block"))
        #expect(
            LevelDBError.classify("IO error: /d/000001.log: No space left", path: "/d")
                == .io(
                    path: "/d", detail: "IO error: /d/000001.log: No space left"))
        #expect(
            LevelDBError.classify("Not implemented: x", path: "/d")
                == .other(
                    path: "/d", detail: "Not implemented: x"))
        #expect(LevelDBError.missing(path: path).description.contains(path))
        #expect(LevelDBError.corruption(path: path, detail: "Corruption: x").description.contains("do not start"))
        #expect(LevelDBError.io(path: path, detail: "IO error: disk full").description.contains("disk full"))
        #expect(LevelDBError.other(path: path, detail: "Not implemented: x").description.contains(path))
        #expect(
            LevelDBError.invalidOption(name: "writeBufferBytes", value: 3, reason: "too small").description.contains(
                "writeBufferBytes"))
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}
