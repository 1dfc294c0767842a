import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A minimal HTTP/1.1 server on a loopback port, for testing the `ensure` binary's node commands without a node:
/// one connection at a time, `Connection: close`, JSON answers from a handler, every request recorded. It
/// answers `Expect: 100-continue` so that clients sending large bodies do not wait.
///
/// `@unchecked Sendable` is sound: `received` and `stopped` are only touched while holding `lock`; the socket and
/// handler are immutable. Call ``stop()`` when done: the serving thread holds the server until then.
final class FakeNodeServer: @unchecked Sendable {
    /// One request as received.
    struct Request: Sendable {
        let method: String
        let path: String
        let body: [UInt8]
    }

    /// What the handler answers: a status code and a JSON body.
    typealias Handler = @Sendable (Request) -> (status: Int, json: String)

    private let socketFD: Int32
    private let handler: Handler
    private let lock = NSLock()
    private var received: [Request] = []
    private var stopped = false
    /// The port the server listens on.
    let port: UInt16

    /// The base URL to pass as `--node`.
    var url: String { "http://127.0.0.1:\(port)" }

    /// Every request so far, in order.
    var requests: [Request] { lock.withLock { received } }

    /// Listens on 127.0.0.1 at a free port and serves on a background thread until ``stop()``.
    init(handler: @escaping Handler) throws {
        self.handler = handler
        #if canImport(Glibc)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
            let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw POSIXError(.EADDRINUSE)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        socketFD = fd
        port = UInt16(bigEndian: address.sin_port)
        Thread.detachNewThread { [self] in serve() }
    }

    /// Closes the listening socket (once); the serving thread ends at its next accept.
    func stop() {
        let first = lock.withLock {
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        shutdown(socketFD, Int32(SHUT_RDWR))
        close(socketFD)
    }

    private func serve() {
        while true {
            let client = accept(socketFD, nil, nil)
            guard client >= 0 else { return }
            handle(client)
            close(client)
        }
    }

    private func handle(_ client: Int32) {
        var buffer: [UInt8] = []
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        var headerEnd: Int?
        while headerEnd == nil {
            guard let chunk = readSome(client) else { return }
            buffer += chunk
            headerEnd = buffer.firstRange(of: separator)?.upperBound
        }
        let head = String(decoding: buffer[..<headerEnd!], as: UTF8.self)
        let lines = head.components(separatedBy: "\r\n")
        let requestLine = lines[0].split(separator: " ").map(String.init)
        guard requestLine.count >= 2 else { return }
        var contentLength = 0
        var expectsContinue = false
        for line in lines.dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            switch parts[0].lowercased() {
            case "content-length": contentLength = Int(parts[1]) ?? 0
            case "expect": expectsContinue = parts[1].lowercased() == "100-continue"
            default: break
            }
        }
        var body = Array(buffer[headerEnd!...])
        if expectsContinue && body.count < contentLength { write(client, Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)) }
        while body.count < contentLength {
            guard let chunk = readSome(client) else { return }
            body += chunk
        }
        let request = Request(method: requestLine[0], path: requestLine[1], body: body)
        lock.withLock { received.append(request) }
        let (status, json) = handler(request)
        let payload = Array(json.utf8)
        let contentType = status >= 400 ? "application/problem+json" : "application/json"
        let response =
            "HTTP/1.1 \(status) \(status < 400 ? "OK" : "Error")\r\nContent-Type: \(contentType)\r\n"
            + "Content-Length: \(payload.count)\r\nConnection: close\r\n\r\n"
        write(client, Array(response.utf8) + payload)
    }

    private func readSome(_ client: Int32) -> [UInt8]? {
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        let count = chunk.withUnsafeMutableBytes { read(client, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        return Array(chunk[0..<count])
    }

    private func write(_ client: Int32, _ bytes: [UInt8]) {
        #if canImport(Glibc)
            let flags = Int32(MSG_NOSIGNAL)
        #else
            let flags: Int32 = 0
        #endif
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { send(client, $0.baseAddress, $0.count, flags) }
            guard written > 0 else { return }
            offset += written
        }
    }
}
