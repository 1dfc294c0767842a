import API
import Codec
import EnsureCrypto
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

/// Remembers the port the server reports once it listens.
actor PortRecorder {
    private(set) var port: Int?

    func record(_ port: Int) {
        self.port = port
    }
}

/// The API over real TCP on a port the system chooses.
@Suite("API over TCP")
struct APILiveTests {
    @Test("bound to port 0, the server reports its real port and answers over TCP, limits included")
    func liveServer() async throws {
        let fixture = Fixture()
        let node = FakeNode(fixture: fixture)
        let recorder = PortRecorder()
        var logger = Logger(label: "api-live-test")
        logger.logLevel = .critical
        let application = APIServer(node: node, host: "127.0.0.1", port: 0, logger: logger)
            .makeApplication { port in await recorder.record(port) }
        try await application.test(.live) { client in
            let reported = await recorder.port
            #expect(reported != nil && reported != 0)
            #expect(reported == client.port)
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
                let document = try JSONDocument(response)
                #expect(document.string("status") == "ok")
            }
            try await client.execute(
                uri: "/v1/transactions", method: .post, headers: headers(contentType: "application/json"),
                body: jsonSubmission(fixture.transaction.canonicalBytes)
            ) { response in
                #expect(response.status == .accepted)
            }
            try await client.execute(
                uri: "/v1/transactions", method: .post, headers: headers(contentType: "application/octet-stream"),
                body: ByteBuffer(repeating: 0, count: APIRequestContext.maxBodyBytes + 1)
            ) { response in
                #expect(response.status == .contentTooLarge)
                let problem = try ProblemJSON(response)
                #expect(problem.type == "urn:ensure:problem:oversize")
            }
            try await client.execute(uri: "/v1/blocks/99", method: .get) { response in
                #expect(response.status == .notFound)
                let problem = try ProblemJSON(response)
                #expect(problem.type == "urn:ensure:problem:unknown-block")
            }
        }
        #expect(await node.submissions == [fixture.transaction.canonicalBytes])
    }
}
