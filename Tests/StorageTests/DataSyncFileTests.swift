import Foundation
import Storage
import Testing

@Suite("Data-synced plain file")
struct DataSyncFileTests {
    @Test("the bound file appends and syncs, and a bad path is an error naming it")
    func dataSyncFile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("probe")
        do {
            let file = try DataSyncFile(path: path)
            try file.append(bytes("hello "))
            try file.append(bytes("world"))
            try file.syncData()
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data("hello world".utf8))
        let missing = directory.path("no-such-dir/probe")
        let error = #expect(throws: DataSyncFileError.self) { try DataSyncFile(path: missing) }
        #expect(error?.path == missing)
        #expect(error?.operation == "open")
        #expect(error?.description.contains(missing) == true)
    }

    #if os(Linux)
        @Test("a write the device refuses is an error naming the operation, not a crash")
        func writeFailure() throws {
            let file = try DataSyncFile(path: "/dev/full")
            let error = #expect(throws: DataSyncFileError.self) { try file.append([UInt8](repeating: 1, count: 4_096)) }
            #expect(error?.operation == "write")
            #expect(error?.path == "/dev/full")
            #expect(error?.reason.isEmpty == false)
        }
    #endif
}
