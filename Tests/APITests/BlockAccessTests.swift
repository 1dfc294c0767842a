import Codec
import EnsureCrypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Ledger
import NIOCore
import Testing

@testable import API

/// `GET /v1/blocks/{height}`: everyone gets the certified header, only members and regulators the block's bytes
/// (which hold every incident report's metadata). Presented credentials must be valid: a bad one is 401, a valid
/// one of a key that may not read incidents is 403 (never a silent downgrade to the anonymous answer).
@Suite("Block answers by caller")
struct BlockAccessTests {
    let fixture = Fixture()

    /// Sends `GET uri` with `headers` to a guarded application and answers the response.
    private func block(
        _ uri: String = "/v1/blocks/2", headers: HTTPFields = [:], node: FakeNode = FakeNode(),
        access: AccessControl
    ) async throws -> (status: HTTPResponse.Status, headers: HTTPFields, body: [UInt8]) {
        let capture = ResponseCapture()
        try await makeGuardedApplication(node, access: access).test(.router) { client in
            let response = try await client.execute(uri: uri, method: .get, headers: headers)
            capture.status = response.status
            capture.headers = response.headers
            capture.bytes = Array(response.body.readableBytesView)
        }
        return (capture.status, capture.headers, capture.bytes)
    }

    @Test("anonymous: the certified header, ids and certificate, and no block bytes")
    func anonymousGetsTheHeader() async throws {
        let node = FakeNode(fixture: fixture)
        let answer = try await block(node: node, access: ManualSource().access())
        #expect(answer.status == .ok)
        let body = try JSONDecoder().decode(BlockBody.self, from: Data(answer.body))
        let committed = fixture.blocks[1]
        #expect(body.block == nil)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any])
        #expect(object["block"] == nil)
        #expect(body.transactions == [fixture.transaction.id.hex])
        #expect(body.chainID == Fixture.chainID)
        #expect(body.id == committed.block.id.hex)
        #expect(
            try QuorumCertificate.decode(canonical: try Base64.decode(body.certificateBytes)) == committed.certificate)
        #expect(await node.roleQueries.isEmpty)
        #expect(answer.headers[.cacheControl] == "no-cache")
        #expect(answer.headers[.vary]?.contains("Signature") == true)
    }

    @Test("the block id is recomputable from the header bytes, and the certificate is over that id")
    func headerBytesCarryTheID() async throws {
        let answer = try await block(node: FakeNode(fixture: fixture), access: ManualSource().access())
        let body = try JSONDecoder().decode(BlockBody.self, from: Data(answer.body))
        let headerBytes = try Base64.decode(body.headerBytes)
        let header = try BlockHeader.decode(canonical: headerBytes)
        #expect(header == fixture.blocks[1].block.header)
        #expect(SHA256.hash(tag: "ensure/block-header/v1", headerBytes).hex == body.id)
        #expect(header.id.hex == body.id)
        let certificate = try QuorumCertificate.decode(canonical: try Base64.decode(body.certificateBytes))
        #expect(certificate.blockID.hex == body.id)
        #expect(body.certificate.blockID == body.id)
        // The members match the decoded header, so the JSON is only a view of the signed bytes.
        #expect(body.height == header.height && body.round == header.round && body.epoch == header.epoch)
        #expect(body.stateRoot == header.stateRoot.hex && body.incidentLogRoot == header.incidentLogRoot.hex)
        #expect(body.parentID == header.parentID.hex && body.proposer == header.proposer.hex)
        // A header with one byte changed has another id: the certificate would not cover it.
        var tampered = headerBytes
        tampered[tampered.count - 1] ^= 1
        #expect(SHA256.hash(tag: "ensure/block-header/v1", tampered).hex != body.id)
    }

    @Test(
        "a member's or regulator's signed request gets the block bytes", arguments: [Signer.admin, .plugin, .regulator])
    func signedReaderGetsTheBlock(_ signer: Signer) async throws {
        let clock = ManualSource()
        let plan = SigningPlan(key: signer.key, created: clock.seconds)
        let answer = try await block(
            headers: plan.headers(target: "/v1/blocks/2"), node: FakeNode(fixture: fixture), access: clock.access())
        #expect(answer.status == .ok)
        let body = try JSONDecoder().decode(BlockBody.self, from: Data(answer.body))
        let bytes = try Base64.decode(try #require(body.block))
        #expect(try Block.decode(canonical: bytes) == fixture.blocks[1].block)
        // A member's answer must never be served from a shared cache to someone else.
        #expect(answer.headers[.cacheControl] == "private, no-store")
    }

    @Test("a member's bearer token gets the block bytes on /v1/blocks/latest too")
    func tokenReaderGetsTheBlock() async throws {
        try await makeApplication(FakeNode(fixture: fixture)).test(.router) { client in
            let response = try await client.execute(uri: "/v1/blocks/latest", method: .get)
            #expect(response.status == .ok)
            let body = try JSONDecoder().decode(BlockBody.self, from: Data(response.body.readableBytesView))
            #expect(try Block.decode(canonical: try Base64.decode(try #require(body.block))) == fixture.blocks[1].block)
        }
    }

    @Test("a bad signature, an unknown token or a replayed nonce is 401 and shows nothing")
    func badCredentialsAreRefused() async throws {
        let clock = ManualSource()
        var plan = SigningPlan(key: Signer.admin.key, created: clock.seconds)
        plan.signedTarget = "/v1/blocks/1"  // signed for another block
        var token = HTTPFields()
        token[.authorization] = "Bearer " + Base64.encodeURL([UInt8](repeating: 3, count: 32))
        for headers in [plan.headers(target: "/v1/blocks/2"), token] {
            let answer = try await block(headers: headers, access: clock.access())
            #expect(answer.status == .unauthorized)
            #expect(answer.headers[.wwwAuthenticate] == #"Bearer realm="ensure""#)
            let problem = try JSONDecoder().decode(ProblemDocument.self, from: Data(answer.body))
            #expect(problem.type == "urn:ensure:problem:unauthenticated")
            #expect(!String(decoding: answer.body, as: UTF8.self).contains("headerBytes"))
        }
        // One nonce, twice, against one store: the second is a replay.
        let access = clock.access()
        let good = SigningPlan(key: Signer.admin.key, created: clock.seconds).headers(target: "/v1/blocks/2")
        #expect(try await block(headers: good, access: access).status == .ok)
        let replay = try await block(headers: good, access: access)
        #expect(replay.status == .unauthorized)
        let problem = try JSONDecoder().decode(ProblemDocument.self, from: Data(replay.body))
        #expect(problem.detail.hasPrefix(AuthFailure.Reason.replayedNonce.rawValue))
    }

    @Test(
        "a valid signature of a key that may not read incidents is 403, not a silent header-only answer",
        arguments: [Signer.issuer, .stranger])
    func nonReaderIsForbidden(_ signer: Signer) async throws {
        let clock = ManualSource()
        let plan = SigningPlan(key: signer.key, created: clock.seconds)
        let answer = try await block(headers: plan.headers(target: "/v1/blocks/2"), access: clock.access())
        #expect(answer.status == .forbidden)
        let problem = try JSONDecoder().decode(ProblemDocument.self, from: Data(answer.body))
        #expect(problem.type == "urn:ensure:problem:forbidden")
    }

    @Test("a bad height is still 400 for a reader, and credentials are checked before the height")
    func orderOfChecks() async throws {
        let clock = ManualSource()
        let plan = SigningPlan(key: Signer.admin.key, created: clock.seconds)
        let reader = try await block(
            "/v1/blocks/abc", headers: plan.headers(target: "/v1/blocks/abc"), access: clock.access())
        #expect(reader.status == .badRequest)
        var token = HTTPFields()
        token[.authorization] = "Bearer nope"
        let refused = try await block("/v1/blocks/abc", headers: token, access: clock.access())
        #expect(refused.status == .unauthorized)
    }
}

/// Carries a response out of the test client's closure.
final class ResponseCapture: @unchecked Sendable {
    // Written once inside the closure, read after it returned: no concurrent access.
    var status: HTTPResponse.Status = .internalServerError
    var headers = HTTPFields()
    var bytes: [UInt8] = []
}
