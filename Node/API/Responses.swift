import Codec
import EnsureCrypto
import Hummingbird
import Ledger
import NIOCore

// The JSON bodies of the API, one struct per document. Field names are the contract (see docs/api.md); hex is
// lowercase and binary blobs are standard Base64. They are Codable so that tests decode exactly what the
// server encodes.

/// `GET /health`.
struct HealthBody: Codable, Equatable {
    var status: String
}

/// `GET /v1/status`.
struct StatusBody: Codable, Equatable {
    struct Mempool: Codable, Equatable {
        var transactions: Int
        var bytes: Int
    }

    var chainID: String
    var nodeKey: String
    var role: String
    var height: UInt64
    var blockID: String
    var round: UInt64
    var epoch: UInt64
    var peers: [String]
    var mempool: Mempool
    var syncing: Bool

    init(_ status: NodeStatus) {
        chainID = status.chainID
        nodeKey = status.nodeKey.hex
        role = status.role.rawValue
        height = status.height
        blockID = status.blockID.hex
        round = status.round
        epoch = status.epoch
        peers = status.peers.map(\.hex)
        mempool = Mempool(transactions: status.mempoolTransactions, bytes: status.mempoolBytes)
        syncing = status.syncing
    }
}

/// `POST /v1/transactions` request body in JSON form.
struct SubmissionBody: Codable, Equatable {
    var transaction: String
}

/// `POST /v1/transactions` answer.
struct SubmissionAnswer: Codable, Equatable {
    var id: String
    var status: String
    var height: UInt64?

    /// The same bytes `JSONBody` writes (sorted keys), built without a `JSONEncoder`: every submission answers
    /// with one, and the encoder showed in the node's profile under load. `id` is hexadecimal and `status` a
    /// fixed word, so nothing needs escaping; a test compares the two encodings.
    var json: String {
        let height = height.map { #""height":\#($0),"# } ?? ""
        return #"{\#(height)"id":"\#(id)","status":"\#(status)"}"#
    }

    /// The answer as a response with `status`.
    func response(status: HTTPResponse.Status) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: json)))
    }
}

/// The limits of `POST /v1/transactions/batch`.
enum BatchSubmission {
    /// Most transactions in one request (as many as one gossip message between nodes carries).
    static let maxTransactions = 512
    /// Most bytes of one transaction in the octet-stream form; a longer one is refused by the node anyway.
    static let maxTransactionBytes = LedgerLimits.transactionBytes + 1

    static func tooMany(_ count: Int) -> String {
        "the batch holds \(count) transactions; at most \(maxTransactions) fit one request"
    }
}

/// `POST /v1/transactions/batch` request body in JSON form.
struct BatchSubmissionBody: Codable, Equatable {
    var transactions: [String]
}

/// `POST /v1/transactions/batch` answer: one result per submitted transaction, in order.
struct BatchSubmissionAnswer: Codable, Equatable {
    /// What `POST /v1/transactions` would have answered for one transaction: `pending` or `committed` (with the
    /// id, and the height for committed), or `rejected` with the refusal's code and detail.
    struct Result: Codable, Equatable {
        var id: String?
        var status: String
        var height: UInt64?
        var code: String?
        var detail: String?

        init(_ result: SubmissionResult) {
            switch result {
            case .accepted(let id):
                self.id = id.hex
                status = "pending"
            case .alreadyCommitted(let id, let height):
                self.id = id.hex
                status = "committed"
                self.height = height
            case .rejected(let rejection):
                status = "rejected"
                code = rejection.code.rawValue
                detail = rejection.detail
            }
        }
    }

    var results: [Result]

    /// The answer as `JSONBody` writes it (sorted keys), built by hand while every result is pending or committed
    /// (hexadecimal ids and fixed words: nothing to escape); nil with a refusal, whose detail is free text and
    /// goes through the encoder. A test compares the two.
    var json: String? {
        guard results.allSatisfy({ $0.code == nil && $0.detail == nil }) else { return nil }
        var text = #"{"results":["#
        text.reserveCapacity(16 + results.count * 100)
        for (index, result) in results.enumerated() {
            if index > 0 { text += "," }
            text += "{"
            if let height = result.height { text += #""height":\#(height),"# }
            if let id = result.id { text += #""id":"\#(id)","# }
            text += #""status":"\#(result.status)"}"#
        }
        return text + "]}"
    }

    /// The answer as a 200 response.
    func response() -> Response {
        guard let json else { return JSONBody.response(self) }
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: json)))
    }
}

/// `GET /v1/transactions/{id}`.
struct TransactionStatusBody: Codable, Equatable {
    var id: String
    var status: String
    var height: UInt64?
    var index: Int?
    var blockID: String?
    var code: String?
    var reason: String?
}

/// `GET /v1/blocks/...`: the certified header of a committed block for everyone, and the whole canonical block
/// (which holds every incident report's metadata) only for members and regulators (docs/api.md, "Access").
struct BlockBody: Codable, Equatable {
    struct Certificate: Codable, Equatable {
        var round: UInt64
        var blockID: String
        var signers: [String]
    }

    var chainID: String
    var height: UInt64
    var id: String
    var epoch: UInt64
    var round: UInt64
    var parentID: String
    var proposer: String
    var timestamp: UInt64
    var transactionRoot: String
    var transactionCount: UInt64
    var incidentLogSize: UInt64
    var incidentLogRoot: String
    var stateRoot: String
    var validatorSetHash: String
    var nextValidatorSetHash: String?
    var transactions: [String]
    var certificate: Certificate
    /// Base64 of the canonical header: its tagged SHA-256 is `id`, which the certificate signs.
    var headerBytes: String
    var certificateBytes: String
    /// Base64 of the canonical block; absent unless the request proved a member's or regulator's key.
    var block: String?

    /// The answer for `committed`; `includingBlock` adds the canonical block bytes.
    init(_ committed: CommittedBlock, includingBlock: Bool) {
        let header = committed.block.header
        chainID = header.chainID
        height = header.height
        id = committed.block.id.hex
        epoch = header.epoch
        round = header.round
        parentID = header.parentID.hex
        proposer = header.proposer.hex
        timestamp = header.timestamp
        transactionRoot = header.transactionRoot.hex
        transactionCount = header.transactionCount
        incidentLogSize = header.incidentLogSize
        incidentLogRoot = header.incidentLogRoot.hex
        stateRoot = header.stateRoot.hex
        validatorSetHash = header.validatorSetHash.hex
        nextValidatorSetHash = header.nextValidatorSetHash?.hex
        transactions = committed.block.transactions.map(\.id.hex)
        certificate = Certificate(
            round: committed.certificate.round, blockID: committed.certificate.blockID.hex,
            signers: committed.certificate.signatures.map(\.signer.hex))
        headerBytes = Base64.encode(header.canonicalBytes)
        certificateBytes = Base64.encode(committed.certificate.canonicalBytes)
        block = includingBlock ? Base64.encode(committed.block.canonicalBytes) : nil
    }
}

/// `GET /v1/notarizations/{digest}`.
struct NotarizationBody: Codable, Equatable {
    var digest: String
    var label: String
    var signer: String
    var transactionID: String
    var height: UInt64
    var timestamp: UInt64

    init(_ record: NotarizationRecord) {
        digest = record.digest.hex
        label = record.label
        signer = record.signer.hex
        transactionID = record.transactionID.hex
        height = record.height
        timestamp = record.timestamp
    }
}

/// `GET /v1/accounts/{key}`.
struct AccountBody: Codable, Equatable {
    var key: String
    var nextSequence: UInt64
}
