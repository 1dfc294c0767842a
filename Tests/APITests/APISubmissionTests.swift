import Codec
import EnsureCrypto
import Foundation
import Hummingbird
import HummingbirdTesting
import Ledger
import Testing

@testable import API

/// `POST /v1/transactions`: both body forms, every refusal code, and bodies that never reach the node.
@Suite("API submissions")
struct APISubmissionTests {
    let fixture = Fixture()

    @Test("JSON-Base64 and raw octet-stream submissions hand the node the same bytes and answer 202 pending")
    func bothBodyFormsReachSubmit() async throws {
        let bytes = fixture.transaction.canonicalBytes
        let id = fixture.transaction.id
        let node = FakeNode(fixture: fixture)
        try await makeApplication(node).test(.router) { client in
            try await client.execute(
                uri: "/v1/transactions", method: .post, headers: headers(contentType: "application/json"),
                body: jsonSubmission(bytes)
            ) { response in
                #expect(response.status == .accepted)
                let document = try JSONDocument(response)
                #expect(document.keys == ["id", "status"])
                #expect(document.string("id") == id.hex)
                #expect(document.string("status") == "pending")
            }
            try await client.execute(
                uri: "/v1/transactions", method: .post, headers: headers(contentType: "application/octet-stream"),
                body: ByteBuffer(bytes: bytes)
            ) { response in
                #expect(response.status == .accepted)
                let document = try JSONDocument(response)
                #expect(document.string("id") == id.hex)
            }
        }
        #expect(await node.submissions == [bytes, bytes])
    }

    @Test("media type parameters and case do not matter")
    func contentTypeParameters() async throws {
        let bytes = fixture.transaction.canonicalBytes
        let node = FakeNode(fixture: fixture)
        try await makeApplication(node).test(.router) { client in
            try await client.execute(
                uri: "/v1/transactions", method: .post,
                headers: headers(contentType: "Application/JSON; charset=utf-8"), body: jsonSubmission(bytes)
            ) { response in
                #expect(response.status == .accepted)
            }
        }
        #expect(await node.submissions == [bytes])
    }

    @Test("a transaction committed earlier answers 200 committed with its height")
    func alreadyCommitted() async throws {
        let id = fixture.transaction.id
        let node = FakeNode(fixture: fixture, submitResult: .alreadyCommitted(id: id, height: 2))
        try await makeApplication(node).test(.router) { client in
            try await client.execute(
                uri: "/v1/transactions", method: .post, headers: headers(contentType: "application/octet-stream"),
                body: ByteBuffer(bytes: fixture.transaction.canonicalBytes)
            ) { response in
                #expect(response.status == .ok)
                let document = try JSONDocument(response)
                #expect(document.keys == ["id", "status", "height"])
                #expect(document.string("id") == id.hex)
                #expect(document.string("status") == "committed")
                #expect(document.integer("height") == 2)
            }
        }
    }

    @Test("the submission answer is written by hand as the same bytes the JSON encoder writes")
    func submissionAnswerBytes() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let id = fixture.transaction.id.hex
        for answer in [
            SubmissionAnswer(id: id, status: "pending"), SubmissionAnswer(id: id, status: "committed", height: 0),
            SubmissionAnswer(id: id, status: "committed", height: UInt64.max),
        ] {
            let expected = String(decoding: try encoder.encode(answer), as: UTF8.self)
            #expect(answer.json == expected)
        }
    }

    /// The status the contract gives each refusal code.
    static let rejectionStatuses: [SubmissionRejection.Code: Int] = [
        .malformed: 400, .invalidPayload: 400, .wrongChain: 400, .badSignature: 400, .oversize: 413,
        .unauthorized: 403, .staleSequence: 409, .conflictingSequence: 409, .sequenceTooFarAhead: 409,
        .signerLimit: 429, .mempoolFull: 503, .unavailable: 503,
    ]

    @Test("the contract table names every refusal code")
    func everyCodeHasAStatus() {
        #expect(Set(Self.rejectionStatuses.keys) == Set(SubmissionRejection.Code.allCases))
    }

    @Test(
        "each refusal is a problem document with its code, status and detail",
        arguments: SubmissionRejection.Code.allCases)
    func rejection(code: SubmissionRejection.Code) async throws {
        let detail = "sequence 7 of \(fixture.admin.publicKey.hex.prefix(8)) refused"
        let node = FakeNode(fixture: fixture, submitResult: .rejected(SubmissionRejection(code: code, detail: detail)))
        try await makeApplication(node).test(.router) { client in
            try await client.execute(
                uri: "/v1/transactions", method: .post, headers: headers(contentType: "application/octet-stream"),
                body: ByteBuffer(bytes: fixture.transaction.canonicalBytes)
            ) { response in
                let expected = try #require(Self.rejectionStatuses[code])
                #expect(Int(response.status.code) == expected)
                #expect(response.headers[.contentType] == "application/problem+json")
                let problem = try ProblemJSON(response)
                #expect(problem.type == "urn:ensure:problem:\(code.rawValue)")
                #expect(problem.status == expected)
                #expect(problem.detail == detail)
                #expect(!problem.title.isEmpty)
                #expect(response.headers[.retryAfter] == (code == .mempoolFull ? "1" : nil))
            }
        }
    }

    @Test(
        "a body over 1 MiB is 413 and never reaches the node",
        arguments: ["application/octet-stream", "application/json"])
    func bodyOverLimit(contentType: String) async throws {
        let node = FakeNode(fixture: fixture)
        let body = ByteBuffer(repeating: UInt8(ascii: "A"), count: APIRequestContext.maxBodyBytes + 1)
        try await makeApplication(node).test(.router) { client in
            try await client.execute(
                uri: "/v1/transactions", method: .post, headers: headers(contentType: contentType), body: body
            ) { response in
                #expect(response.status == .contentTooLarge)
                let problem = try ProblemJSON(response)
                #expect(problem.type == "urn:ensure:problem:oversize")
                #expect(problem.status == 413)
            }
        }
        #expect(await node.submissions.isEmpty)
    }

    @Test("a body of exactly 1 MiB is read and handed on")
    func bodyAtLimit() async throws {
        let node = FakeNode(fixture: fixture)
        let bytes = [UInt8](repeating: 7, count: APIRequestContext.maxBodyBytes)
        try await makeApplication(node).test(.router) { client in
            try await client.execute(
                uri: "/v1/transactions", method: .post, headers: headers(contentType: "application/octet-stream"),
                body: ByteBuffer(bytes: bytes)
            ) { response in
                #expect(response.status == .accepted)
            }
        }
        #expect(await node.submissions == [bytes])
    }

    @Test(
        "a JSON body that is not {\"transaction\": Base64} is 400 malformed and never reaches the node",
        arguments: [
            "", "{", "[]", #"{"tx":"AAAA"}"#, #"{"transaction":12}"#, #"{"transaction":"not base64!"}"#,
            #"{"transaction":"AAA"}"#, #"{"transaction":"AB=="}"#, #"{"transaction":"AA AA"}"#,
        ])
    func malformedJSON(body: String) async throws {
        let node = FakeNode(fixture: fixture)
        try await makeApplication(node).test(.router) { client in
            try await client.execute(
                uri: "/v1/transactions", method: .post, headers: headers(contentType: "application/json"),
                body: ByteBuffer(string: body)
            ) { response in
                #expect(response.status == .badRequest)
                let problem = try ProblemJSON(response)
                #expect(problem.type == "urn:ensure:problem:malformed")
            }
        }
        #expect(await node.submissions.isEmpty)
    }

    @Test(
        "any other content type, or none, is 415 unsupported-media-type",
        arguments: [nil, "text/plain", "application/x-www-form-urlencoded", "application/jsonx", "multipart/form-data"])
    func unsupportedContentType(contentType: String?) async throws {
        let node = FakeNode(fixture: fixture)
        try await makeApplication(node).test(.router) { client in
            try await client.execute(
                uri: "/v1/transactions", method: .post,
                headers: contentType.map { headers(contentType: $0) } ?? [:],
                body: jsonSubmission(fixture.transaction.canonicalBytes)
            ) { response in
                #expect(response.status == .unsupportedMediaType)
                let problem = try ProblemJSON(response)
                #expect(problem.type == "urn:ensure:problem:unsupported-media-type")
                #expect(problem.detail.contains("application/octet-stream"))
            }
        }
        #expect(await node.submissions.isEmpty)
    }
}
