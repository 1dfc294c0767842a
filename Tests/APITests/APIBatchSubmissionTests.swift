import Codec
import EnsureCrypto
import Foundation
import Hummingbird
import HummingbirdTesting
import Ledger
import Testing

@testable import API

/// `POST /v1/transactions/batch`: both body forms, the order and shape of the results, and bodies that never
/// reach the node.
@Suite("API batch submissions")
struct APIBatchSubmissionTests {
    let fixture = Fixture()

    /// Three different transaction encodings (the node is a fake: it answers without decoding them).
    var batch: [[UInt8]] { [fixture.transaction.canonicalBytes, [1, 2, 3], [UInt8](repeating: 9, count: 300)] }

    func octetStream(_ batch: [[UInt8]]) -> ByteBuffer {
        var writer = CanonicalWriter()
        writer.writeArray(batch) { $0.writeLengthPrefixedBytes($1) }
        return ByteBuffer(bytes: writer.bytes)
    }

    func json(_ batch: [[UInt8]]) -> ByteBuffer {
        ByteBuffer(bytes: try! JSONEncoder().encode(BatchSubmissionBody(transactions: batch.map(Base64.encode))))
    }

    func answer(_ response: TestResponse) throws -> BatchSubmissionAnswer {
        try JSONDecoder().decode(BatchSubmissionAnswer.self, from: Data(response.body.readableBytesView))
    }

    @Test("JSON-Base64 and octet-stream batches hand the node the same bytes in order, one result for each")
    func bothBodyForms() async throws {
        let node = FakeNode(fixture: fixture)
        let id = fixture.transaction.id.hex
        try await makeApplication(node).test(.router) { client in
            for (contentType, body) in [
                ("application/json", json(batch)), ("application/octet-stream", octetStream(batch)),
            ] {
                try await client.execute(
                    uri: "/v1/transactions/batch", method: .post, headers: headers(contentType: contentType), body: body
                ) { response in
                    #expect(response.status == .ok)
                    let results = try answer(response).results
                    #expect(results == Array(repeating: pendingResult(id), count: 3))
                }
            }
        }
        #expect(await node.submissions == batch + batch)
    }

    func pendingResult(_ id: String) -> BatchSubmissionAnswer.Result {
        BatchSubmissionAnswer.Result(.accepted(id: Digest(hex: id)!))
    }

    @Test("committed and refused transactions are answered in the batch, not as the request's status")
    func committedAndRefused() async throws {
        let id = fixture.transaction.id
        let node = FakeNode(fixture: fixture)
        let cases: [(SubmissionResult, String)] = [
            (
                .alreadyCommitted(id: id, height: 5),
                #"{"results":[{"height":5,"id":"\#(id.hex)","status":"committed"}]}"#
            ),
            (
                .rejected(SubmissionRejection(code: .staleSequence, detail: "sequence 1 used")),
                #"{"results":[{"code":"stale-sequence","detail":"sequence 1 used","status":"rejected"}]}"#
            ),
        ]
        try await makeApplication(node).test(.router) { client in
            for (result, expected) in cases {
                await node.setSubmitResult(result)
                try await client.execute(
                    uri: "/v1/transactions/batch", method: .post, headers: headers(contentType: "application/json"),
                    body: json([fixture.transaction.canonicalBytes])
                ) { response in
                    #expect(response.status == .ok)
                    #expect(String(buffer: response.body) == expected)
                }
            }
        }
    }

    @Test("512 transactions are one batch; 513, none, or a body that is not a batch are 400 and reach nothing")
    func limitsAndFraming() async throws {
        let node = FakeNode(fixture: fixture)
        let one = fixture.transaction.canonicalBytes
        let full = Array(repeating: one, count: BatchSubmission.maxTransactions)
        let over = Array(repeating: one, count: BatchSubmission.maxTransactions + 1)
        var trailing = Array(octetStream([one]).readableBytesView)
        trailing.append(0)
        let refused: [(String, ByteBuffer, String)] = [
            ("application/json", json(over), "513 transactions"),
            ("application/octet-stream", octetStream(over), "transactions"),
            ("application/json", json([]), "no transaction"),
            ("application/octet-stream", octetStream([]), "no transaction"),
            ("application/json", ByteBuffer(string: #"{"transactions":["AAEC","not base64!"]}"#), "transactions[1]"),
            ("application/json", ByteBuffer(string: #"{"transaction":"AAEC"}"#), "transactions"),
            ("application/json", ByteBuffer(string: "[]"), "transactions"),
            ("application/octet-stream", ByteBuffer(bytes: trailing), "transactions"),
            ("application/octet-stream", ByteBuffer(bytes: [2, 5, 1]), "transactions"),
        ]
        try await makeApplication(node).test(.router) { client in
            for (contentType, body, mention) in refused {
                try await client.execute(
                    uri: "/v1/transactions/batch", method: .post, headers: headers(contentType: contentType), body: body
                ) { response in
                    #expect(response.status == .badRequest, "\(contentType) \(mention)")
                    let problem = try ProblemJSON(response)
                    #expect(problem.type == "urn:ensure:problem:malformed")
                    #expect(problem.detail.contains(mention), "\(problem.detail)")
                }
            }
            #expect(await node.submissions.isEmpty)
            try await client.execute(
                uri: "/v1/transactions/batch", method: .post, headers: headers(contentType: "application/octet-stream"),
                body: octetStream(full)
            ) { response in
                #expect(response.status == .ok)
                let results = try answer(response).results
                #expect(results.count == BatchSubmission.maxTransactions)
            }
        }
        #expect(await node.submissions.count == BatchSubmission.maxTransactions)
    }

    @Test("the hand-written answer has the encoder's bytes, and answers with a refusal are the encoder's own")
    func answerBytes() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let id = fixture.transaction.id
        let refusal = SubmissionRejection(code: .badSignature, detail: #"a "quoted" \ detail"#)
        for results in [
            [SubmissionResult.accepted(id: id)],
            [.accepted(id: id), .alreadyCommitted(id: id, height: 0), .alreadyCommitted(id: id, height: .max)],
        ] {
            let answer = BatchSubmissionAnswer(results: results.map(BatchSubmissionAnswer.Result.init))
            #expect(answer.json == String(decoding: try encoder.encode(answer), as: UTF8.self))
        }
        let refused = BatchSubmissionAnswer(
            results: [.accepted(id: id), .rejected(refusal)].map(BatchSubmissionAnswer.Result.init))
        #expect(refused.json == nil)
    }

    @Test("another content type is 415 and a body over 1 MiB is 413, before the node sees anything")
    func mediaTypeAndSize() async throws {
        let node = FakeNode(fixture: fixture)
        try await makeApplication(node).test(.router) { client in
            try await client.execute(
                uri: "/v1/transactions/batch", method: .post, headers: headers(contentType: "text/plain"),
                body: json(batch)
            ) { response in
                #expect(response.status == .unsupportedMediaType)
            }
            try await client.execute(
                uri: "/v1/transactions/batch", method: .post, headers: headers(contentType: "application/json"),
                body: ByteBuffer(repeating: UInt8(ascii: "A"), count: APIRequestContext.maxBodyBytes + 1)
            ) { response in
                #expect(response.status == .contentTooLarge)
            }
        }
        #expect(await node.submissions.isEmpty)
    }
    @Test(
        "a Content-Type's media type is read without parameters, surrounding spaces or tabs, and case",
        arguments: [
            ("application/json", "application/json"),
            ("Application/JSON; charset=utf-8", "application/json"),
            (" \tapplication/octet-stream\t ;q=1", "application/octet-stream"),
            ("application/json;", "application/json"),
            ("", ""),
            (";charset=utf-8", ""),
            ("text/plain", "text/plain"),
            ("application/jsön", "application/jsön"),
            ("application /json", "application /json"),
        ])
    func mediaTypeParsing(contentType: String, expected: String) {
        #expect(Routes<FakeNode>.mediaType(contentType) == expected)
    }
}
