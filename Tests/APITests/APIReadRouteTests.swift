import API
import Codec
import EnsureCrypto
import Foundation
import Hummingbird
import HummingbirdTesting
import Ledger
import Testing

/// The read-only routes against a fake node: each found, not found and given a malformed parameter.
@Suite("API read routes")
struct APIReadRouteTests {
    let fixture = Fixture()

    @Test("GET /health answers ok as JSON")
    func health() async throws {
        try await makeApplication(FakeNode()).test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json")
                let document = try JSONDocument(response)
                #expect(document.keys == ["status"])
                #expect(document.string("status") == "ok")
            }
        }
    }

    @Test("GET /v1/status carries every field of the node status, keys in lowercase hex")
    func status() async throws {
        let status = fixture.status
        try await makeApplication(FakeNode(fixture: fixture)).test(.router) { client in
            try await client.execute(uri: "/v1/status", method: .get) { response in
                #expect(response.status == .ok)
                let document = try JSONDocument(response)
                #expect(
                    document.keys == [
                        "chainID", "nodeKey", "role", "height", "blockID", "round", "epoch", "peers", "mempool",
                        "syncing",
                    ])
                #expect(document.string("chainID") == status.chainID)
                #expect(document.string("nodeKey") == status.nodeKey.hex)
                #expect(document.string("role") == "validator")
                #expect(document.integer("height") == 2)
                #expect(document.string("blockID") == status.blockID.hex)
                #expect(document.integer("round") == 6)
                #expect(document.integer("epoch") == 0)
                #expect(document["peers"] as? [String] == status.peers.map(\.hex))
                let mempool = try #require(document["mempool"] as? [String: Any])
                #expect(Set(mempool.keys) == ["transactions", "bytes"])
                #expect((mempool["transactions"] as? NSNumber)?.intValue == 3)
                #expect((mempool["bytes"] as? NSNumber)?.intValue == 1234)
                #expect(document["syncing"] as? Bool == false)
            }
        }
    }

    @Test("GET /v1/blocks/{height} describes the block and, for a member, carries its canonical bytes and certificate")
    func blockAtHeight() async throws {
        let committed = fixture.blocks[1]
        try await makeApplication(FakeNode(fixture: fixture)).test(.router) { client in
            try await client.execute(uri: "/v1/blocks/2", method: .get) { response in
                #expect(response.status == .ok)
                let document = try JSONDocument(response)
                #expect(
                    document.keys == [
                        "chainID", "height", "id", "epoch", "round", "parentID", "proposer", "timestamp",
                        "transactionRoot", "transactionCount", "incidentLogSize", "incidentLogRoot", "stateRoot",
                        "validatorSetHash", "transactions", "certificate", "headerBytes", "block", "certificateBytes",
                    ])
                let header = committed.block.header
                #expect(document.integer("height") == 2)
                #expect(document.string("id") == committed.block.id.hex)
                #expect(document.integer("round") == Int(header.round))
                #expect(document.string("parentID") == fixture.blocks[0].block.id.hex)
                #expect(document.string("proposer") == header.proposer.hex)
                #expect(document.integer("timestamp") == Int(header.timestamp))
                #expect(document.string("transactionRoot") == header.transactionRoot.hex)
                #expect(document.integer("transactionCount") == 1)
                #expect(document.string("stateRoot") == header.stateRoot.hex)
                #expect(document.string("validatorSetHash") == header.validatorSetHash.hex)
                #expect(document["transactions"] as? [String] == [fixture.transaction.id.hex])
                let certificate = try #require(document["certificate"] as? [String: Any])
                #expect(Set(certificate.keys) == ["round", "blockID", "signers"])
                #expect(certificate["blockID"] as? String == committed.block.id.hex)
                #expect(certificate["signers"] as? [String] == committed.certificate.signatures.map(\.signer.hex))

                let blockBytes = try Base64.decode(try #require(document.string("block")))
                #expect(try Block.decode(canonical: blockBytes) == committed.block)
                let certificateBytes = try Base64.decode(try #require(document.string("certificateBytes")))
                #expect(try QuorumCertificate.decode(canonical: certificateBytes) == committed.certificate)
            }
        }
    }

    @Test("GET /v1/blocks/latest answers the block at the node's height")
    func latestBlock() async throws {
        try await makeApplication(FakeNode(fixture: fixture)).test(.router) { client in
            try await client.execute(uri: "/v1/blocks/latest", method: .get) { response in
                #expect(response.status == .ok)
                let document = try JSONDocument(response)
                #expect(document.integer("height") == Int(fixture.status.height))
                #expect(document.string("id") == fixture.status.blockID.hex)
            }
        }
    }

    @Test("a height above the tip is 404 unknown-block", arguments: ["3", "18446744073709551615"])
    func blockAboveTip(height: String) async throws {
        try await makeApplication(FakeNode(fixture: fixture)).test(.router) { client in
            try await client.execute(uri: "/v1/blocks/\(height)", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType] == "application/problem+json")
                let problem = try ProblemJSON(response)
                #expect(problem.type == "urn:ensure:problem:unknown-block")
                #expect(problem.status == 404)
                #expect(problem.detail.contains(height))
            }
        }
    }

    @Test(
        "a height that is not a decimal UInt64 is 400 invalid-parameter",
        arguments: ["abc", "-1", "+1", "1.5", "0x10", "18446744073709551616", "99999999999999999999999", "%20"])
    func malformedHeight(height: String) async throws {
        try await makeApplication(FakeNode(fixture: fixture)).test(.router) { client in
            try await client.execute(uri: "/v1/blocks/\(height)", method: .get) { response in
                #expect(response.status == .badRequest)
                let problem = try ProblemJSON(response)
                #expect(problem.type == "urn:ensure:problem:invalid-parameter")
                #expect(problem.detail.hasPrefix("height"))
            }
        }
    }

    @Test("GET /v1/transactions/{id}: committed, pending and dropped each carry their own fields")
    func transactionStatuses() async throws {
        let fixture = fixture
        try await makeApplication(FakeNode(fixture: fixture)).test(.router) { client in
            try await client.execute(uri: "/v1/transactions/\(fixture.transaction.id.hex)", method: .get) { response in
                #expect(response.status == .ok)
                let document = try JSONDocument(response)
                #expect(document.keys == ["id", "status", "height", "index", "blockID"])
                #expect(document.string("id") == fixture.transaction.id.hex)
                #expect(document.string("status") == "committed")
                #expect(document.integer("height") == 2)
                #expect(document.integer("index") == 0)
                #expect(document.string("blockID") == fixture.blocks[1].block.id.hex)
            }
            try await client.execute(uri: "/v1/transactions/\(fixture.pendingID.hex)", method: .get) { response in
                #expect(response.status == .ok)
                let document = try JSONDocument(response)
                #expect(document.keys == ["id", "status"])
                #expect(document.string("status") == "pending")
            }
            // Upper-case hex names the same transaction; the answer is lowercase.
            let upper = fixture.droppedID.hex.uppercased()
            try await client.execute(uri: "/v1/transactions/\(upper)", method: .get) { response in
                #expect(response.status == .ok)
                let document = try JSONDocument(response)
                #expect(document.keys == ["id", "status", "reason"])
                #expect(document.string("id") == fixture.droppedID.hex)
                #expect(document.string("status") == "dropped")
                #expect(document.string("reason") == "expired")
            }
        }
    }

    @Test("an unknown transaction is 404 unknown-transaction")
    func unknownTransaction() async throws {
        let id = SHA256.hash(Array("never submitted".utf8))
        try await makeApplication(FakeNode(fixture: fixture)).test(.router) { client in
            try await client.execute(uri: "/v1/transactions/\(id.hex)", method: .get) { response in
                #expect(response.status == .notFound)
                let problem = try ProblemJSON(response)
                #expect(problem.type == "urn:ensure:problem:unknown-transaction")
                #expect(problem.detail.contains(id.hex))
            }
        }
    }

    @Test(
        "a transaction id that is not 64 hex characters is 400 invalid-parameter",
        arguments: [
            String(repeating: "a", count: 63), String(repeating: "a", count: 66), "zz", "",
            String(repeating: "g", count: 64),
        ])
    func malformedTransactionID(id: String) async throws {
        try await makeApplication(FakeNode(fixture: fixture)).test(.router) { client in
            try await client.execute(uri: "/v1/transactions/\(id)", method: .get) { response in
                // An empty id leaves no path parameter: that path has no route.
                let expected = id.isEmpty ? "not-found" : "invalid-parameter"
                let problem = try ProblemJSON(response)
                #expect(problem.type == "urn:ensure:problem:\(expected)")
                #expect(response.status == (id.isEmpty ? .notFound : .badRequest))
            }
        }
    }

    @Test("GET /v1/notarizations/{digest} answers the record")
    func notarization() async throws {
        let record = fixture.notarization
        try await makeApplication(FakeNode(fixture: fixture)).test(.router) { client in
            try await client.execute(uri: "/v1/notarizations/\(record.digest.hex)", method: .get) { response in
                #expect(response.status == .ok)
                let document = try JSONDocument(response)
                #expect(document.keys == ["digest", "label", "signer", "transactionID", "height", "timestamp"])
                #expect(document.string("digest") == record.digest.hex)
                #expect(document.string("label") == record.label)
                #expect(document.string("signer") == record.signer.hex)
                #expect(document.string("transactionID") == record.transactionID.hex)
                #expect(document.integer("height") == 2)
                #expect(document.integer("timestamp") == Int(record.timestamp))
            }
        }
    }

    @Test("an unknown digest is 404 unknown-notarization; a malformed one is 400 invalid-parameter")
    func notarizationRefusals() async throws {
        let unknown = SHA256.hash(Array("not notarized".utf8))
        try await makeApplication(FakeNode(fixture: fixture)).test(.router) { client in
            try await client.execute(uri: "/v1/notarizations/\(unknown.hex)", method: .get) { response in
                #expect(response.status == .notFound)
                let problem = try ProblemJSON(response)
                #expect(problem.type == "urn:ensure:problem:unknown-notarization")
            }
            try await client.execute(uri: "/v1/notarizations/\(unknown.hex.dropLast())x", method: .get) { response in
                #expect(response.status == .badRequest)
                let problem = try ProblemJSON(response)
                #expect(problem.type == "urn:ensure:problem:invalid-parameter")
            }
        }
    }

    @Test("GET /v1/accounts/{key} answers the signer's next sequence number")
    func account() async throws {
        let fixture = fixture
        let node = FakeNode(fixture: fixture)
        try await makeApplication(node).test(.router) { client in
            try await client.execute(uri: "/v1/accounts/\(fixture.admin.publicKey.hex)", method: .get) { response in
                #expect(response.status == .ok)
                let document = try JSONDocument(response)
                #expect(document.keys == ["key", "nextSequence"])
                #expect(document.string("key") == fixture.admin.publicKey.hex)
                #expect(document.integer("nextSequence") == 8)
            }
        }
        #expect(await node.sequenceQueries == [fixture.admin.publicKey])
    }

    @Test(
        "an account key that is not 64 hex characters is 400 invalid-parameter and never reaches the node",
        arguments: ["abcd", String(repeating: "0", count: 65), String(repeating: "q", count: 64)])
    func malformedAccountKey(key: String) async throws {
        let node = FakeNode(fixture: fixture)
        try await makeApplication(node).test(.router) { client in
            try await client.execute(uri: "/v1/accounts/\(key)", method: .get) { response in
                #expect(response.status == .badRequest)
                let problem = try ProblemJSON(response)
                #expect(problem.type == "urn:ensure:problem:invalid-parameter")
                #expect(problem.detail.hasPrefix("key"))
            }
        }
        #expect(await node.sequenceQueries.isEmpty)
    }

    @Test(
        "a path or method without a route is a 404 problem document",
        arguments: [("/v2/status", "GET"), ("/v1/status", "DELETE"), ("/v1/blocks", "GET"), ("/", "GET")])
    func noRoute(path: String, method: String) async throws {
        try await makeApplication(FakeNode(fixture: fixture)).test(.router) { client in
            try await client.execute(uri: path, method: HTTPRequest.Method(method)!) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType] == "application/problem+json")
                let problem = try ProblemJSON(response)
                #expect(problem.type == "urn:ensure:problem:not-found")
                #expect(problem.status == 404)
            }
        }
    }
}
