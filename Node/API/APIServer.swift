import Codec
import EnsureCrypto
import Foundation
public import Hummingbird
import Ledger
public import Logging
import NIOCore

/// The request context of every API route: Hummingbird's core storage with the API's body limit.
public struct APIRequestContext: RequestContext {
    /// The largest request body the API reads: 1 MiB. Larger bodies are refused with 413.
    public static let maxBodyBytes = 1 << 20

    /// Hummingbird's per-request storage.
    public var coreContext: CoreRequestContextStorage
    /// The key a members-and-regulators route admitted (set by the access middleware), so a long-lived answer
    /// such as an event stream can check again that the key still may read.
    var readerKey: Ed25519PublicKey?
    /// The request's connection, which an event stream closes when its client stops reading.
    let channel: any Channel

    /// Creates the context of one request.
    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// Bodies stop being read past ``maxBodyBytes``.
    public var maxUploadSize: Int { Self.maxBodyBytes }
}

/// The node's HTTP API (see docs/api.md): the routes over a ``NodeService``, served by a Hummingbird
/// `Application` that the daemon runs in its service group.
public struct APIServer<Node: NodeService>: Sendable {
    /// What the routes ask.
    public let node: Node
    /// The address to bind, for example `127.0.0.1`.
    public let host: String
    /// The port to bind; 0 lets the system choose one (learn it from `onServerRunning`).
    public let port: Int
    /// Where refused requests are logged (at debug) and server events go.
    public let logger: Logger
    /// Who may read the incident routes, and the stores of challenges, tokens and nonces.
    public let access: AccessControl
    /// Heartbeat, replay and lifetime limits of the event streams.
    public let events: EventStreamSettings
    /// The request counters `/metrics` reports.
    public let metrics: APIMetrics

    /// Creates a server; nothing is bound until the application runs.
    public init(
        node: Node, host: String, port: Int, logger: Logger, access: AccessControl = AccessControl(),
        events: EventStreamSettings = EventStreamSettings(), metrics: APIMetrics = APIMetrics()
    ) {
        self.node = node
        self.host = host
        self.port = port
        self.logger = logger
        self.access = access
        self.events = events
        self.metrics = metrics
    }

    /// The application to run (it is a `Service`); `onServerRunning` receives the bound port once it listens.
    public func makeApplication(
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> Application<RouterResponder<APIRequestContext>> {
        Application(
            router: makeRouter(),
            configuration: .init(address: .hostname(host, port: port), serverName: "ensure-node"),
            onServerRunning: { channel in
                await onServerRunning(channel.localAddress?.port ?? 0)
            },
            logger: logger
        )
    }

    /// Every route of the API behind the problem+json middleware.
    public func makeRouter() -> Router<APIRequestContext> {
        let router = Router(context: APIRequestContext.self)
        router.add(middleware: RequestMetricsMiddleware(metrics: metrics))
        router.add(middleware: ProblemMiddleware(logger: logger))
        let routes = Routes(node: node)
        router.get("/health") { _, _ in routes.health() }
        router.get("/openapi.json") { _, _ in OpenAPIDocument.response() }
        router.get("/v1/status") { _, _ in await routes.status() }
        router.post("/v1/transactions") { request, context in try await routes.submit(request, context: context) }
        router.post("/v1/transactions/batch") { request, context in
            try await routes.submitBatch(request, context: context)
        }
        router.get("/v1/transactions/{id}") { _, context in try await routes.transaction(context.parameters.get("id")) }
        router.get("/v1/blocks/{height}") { request, context in
            try await routes.block(
                context.parameters.get("height"), reader: accessMiddleware.optionalReader(request, context: context))
        }
        router.get("/v1/notarizations/{digest}") { _, context in
            try await routes.notarization(context.parameters.get("digest"))
        }
        router.get("/v1/accounts/{key}") { _, context in try await routes.account(context.parameters.get("key")) }
        addAuthRoutes(to: router)
        addLedgerRoutes(to: router)
        addCredentialRoutes(to: router)
        addEventRoutes(to: router)
        addMetricsRoute(to: router)
        return router
    }
}

/// The handlers: each turns a request into a response or throws the ``APIProblem`` that says what was wrong.
struct Routes<Node: NodeService>: Sendable {
    let node: Node

    func health() -> Response {
        JSONBody.response(HealthBody(status: "ok"))
    }

    func status() async -> Response {
        JSONBody.response(StatusBody(await node.status()))
    }

    func submit(_ request: Request, context: APIRequestContext) async throws(APIProblem) -> Response {
        let bytes = try await Self.transactionBytes(of: request, context: context)
        switch await node.submit(transaction: bytes) {
        case .accepted(let id):
            return SubmissionAnswer(id: id.hex, status: "pending").response(status: .accepted)
        case .alreadyCommitted(let id, let height):
            return SubmissionAnswer(id: id.hex, status: "committed", height: height).response(status: .ok)
        case .rejected(let rejection):
            throw .rejected(rejection)
        }
    }

    /// `POST /v1/transactions/batch`: up to ``BatchSubmission/maxTransactions`` transactions in one request, each
    /// answered at its position as `POST /v1/transactions` would answer it alone.
    func submitBatch(_ request: Request, context: APIRequestContext) async throws(APIProblem) -> Response {
        let batch = try await Self.transactionBatch(of: request, context: context)
        let results = await node.submit(transactions: batch)
        return BatchSubmissionAnswer(results: results.map(BatchSubmissionAnswer.Result.init)).response()
    }

    func transaction(_ parameter: String?) async throws(APIProblem) -> Response {
        let id = try Self.digest(parameter, name: "transaction id")
        let body: TransactionStatusBody
        switch await node.transactionStatus(id) {
        case .unknown:
            throw APIProblem(
                code: "unknown-transaction", status: .notFound, title: "Unknown transaction",
                detail: "this node knows no transaction \(id.hex)")
        case .pending:
            body = TransactionStatusBody(id: id.hex, status: "pending")
        case .committed(let height, let index, let blockID):
            body = TransactionStatusBody(
                id: id.hex, status: "committed", height: height, index: index, blockID: blockID.hex)
        case .failed(let height, let index, let blockID, let failure):
            body = TransactionStatusBody(
                id: id.hex, status: "failed", height: height, index: index, blockID: blockID.hex, code: failure.code,
                reason: failure.reason)
        case .dropped(let reason):
            body = TransactionStatusBody(id: id.hex, status: "dropped", reason: reason)
        }
        return JSONBody.response(body)
    }

    /// The certified header of a committed block; the canonical block too when `reader` proved a member's or
    /// regulator's key. Credentials that are presented but do not prove such a key are refused before anything.
    func block(_ parameter: String?, reader: ReaderAccess) async throws(APIProblem) -> Response {
        if case .refused(let response) = reader { return response }
        let height: UInt64
        if parameter == "latest" {
            height = await node.status().height
        } else {
            height = try Self.height(parameter)
        }
        guard let committed = await node.block(atHeight: height) else {
            throw APIProblem(
                code: "unknown-block", status: .notFound, title: "Unknown block",
                detail: "no committed block at height \(height)")
        }
        let isReader = if case .reader = reader { true } else { false }
        // The answer depends on who asks, and RFC 9421 signatures are not in `Authorization`: no shared cache may
        // keep a member's answer (with the block) and hand it to anyone else.
        var headers = HTTPFields()
        headers[.cacheControl] = isReader ? "private, no-store" : "no-cache"
        headers[.vary] = "Authorization, Signature, Signature-Input"
        return JSONBody.response(BlockBody(committed, includingBlock: isReader), headers: headers)
    }

    func notarization(_ parameter: String?) async throws(APIProblem) -> Response {
        let digest = try Self.digest(parameter, name: "digest")
        guard let record = await node.notarization(of: digest) else {
            throw APIProblem(
                code: "unknown-notarization", status: .notFound, title: "Unknown notarization",
                detail: "no committed notarization of \(digest.hex)")
        }
        return JSONBody.response(NotarizationBody(record))
    }

    func account(_ parameter: String?) async throws(APIProblem) -> Response {
        guard let parameter, parameter.utf8.count == 64, let bytes = Hex.decode(parameter),
            let key = Ed25519PublicKey(bytes: bytes)
        else {
            throw .invalidParameter("key", "must be 64 hexadecimal characters (an Ed25519 public key)")
        }
        return JSONBody.response(AccountBody(key: key.hex, nextSequence: await node.nextSequence(for: key)))
    }

    // MARK: - Parsing

    /// A 32-byte digest in hex; 64 characters of either case.
    static func digest(_ parameter: String?, name: String) throws(APIProblem) -> Digest {
        guard let parameter, parameter.utf8.count == 64, let digest = Digest(hex: parameter) else {
            throw .invalidParameter(name, "must be 64 hexadecimal characters (a SHA-256 digest)")
        }
        return digest
    }

    /// A block height: decimal digits only, at most UInt64.max.
    static func height(_ parameter: String?) throws(APIProblem) -> UInt64 {
        guard let parameter, !parameter.isEmpty, parameter.utf8.count <= 20,
            parameter.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        else {
            throw .invalidParameter("height", "must be a decimal block height or \"latest\"")
        }
        guard let height = UInt64(parameter) else {
            throw .invalidParameter("height", "is larger than \(UInt64.max)")
        }
        return height
    }

    /// The canonical transaction bytes of a submission: the raw body for `application/octet-stream`, the
    /// Base64 `transaction` member for `application/json`.
    /// The body of a submission, as JSON (`true`) or raw bytes (`false`), refused unless it is one of the two
    /// and within ``APIRequestContext/maxBodyBytes``.
    static func submissionBody(
        of request: Request, context: APIRequestContext
    ) async throws(APIProblem) -> (json: Bool, body: [UInt8]) {
        let contentType = request.headers[.contentType]
        let mediaType = contentType.map(Self.mediaType)
        guard mediaType == "application/json" || mediaType == "application/octet-stream" else {
            throw .unsupportedMediaType(contentType)
        }
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > APIRequestContext.maxBodyBytes {
            throw .bodyTooLarge
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: context.maxUploadSize)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            throw .bodyTooLarge
        } catch {
            throw .malformedBody("the request body could not be read")
        }
        return (mediaType == "application/json", Array(buffer.readableBytesView))
    }

    /// The transactions of a batch body: JSON `{"transactions": ["<Base64>", ...]}`, or as
    /// application/octet-stream the canonical list of byte strings (a varint count, then each transaction as a
    /// varint length and its bytes; docs/api.md).
    static func transactionBatch(
        of request: Request, context: APIRequestContext
    ) async throws(APIProblem) -> [[UInt8]] {
        let (json, body) = try await submissionBody(of: request, context: context)
        let batch: [[UInt8]]
        if json {
            let submission: BatchSubmissionBody
            do {
                submission = try JSONDecoder().decode(BatchSubmissionBody.self, from: Data(body))
            } catch {
                throw .malformedBody(#"the body must be a JSON object {"transactions": ["<Base64>", ...]}"#)
            }
            guard submission.transactions.count <= BatchSubmission.maxTransactions else {
                throw .malformedBody(BatchSubmission.tooMany(submission.transactions.count))
            }
            var decoded: [[UInt8]] = []
            decoded.reserveCapacity(submission.transactions.count)
            for (index, text) in submission.transactions.enumerated() {
                do {
                    decoded.append(try Base64.decode(text))
                } catch {
                    throw .malformedBody("transactions[\(index)] is not standard padded Base64: \(error)")
                }
            }
            batch = decoded
        } else {
            do throws(CanonicalDecodingError) {
                var reader = CanonicalReader(body)
                batch = try reader.readArray(field: "transactions", maxCount: BatchSubmission.maxTransactions) {
                    (r: inout CanonicalReader, i: Int) throws(CanonicalDecodingError) in
                    try r.readLengthPrefixedBytes(
                        field: "transactions[\(i)]", maxLength: BatchSubmission.maxTransactionBytes)
                }
                try reader.expectEnd(field: "transactions")
            } catch {
                throw .malformedBody("the body is not a canonical list of transactions: \(error)")
            }
        }
        guard !batch.isEmpty else { throw .malformedBody("the batch holds no transaction") }
        return batch
    }

    static func transactionBytes(
        of request: Request, context: APIRequestContext
    ) async throws(APIProblem) -> [UInt8] {
        let (json, body) = try await submissionBody(of: request, context: context)
        if !json {
            return body
        }
        let submission: SubmissionBody
        do {
            submission = try JSONDecoder().decode(SubmissionBody.self, from: Data(body))
        } catch {
            throw .malformedBody(#"the body must be a JSON object {"transaction": "<Base64>"}"#)
        }
        do {
            return try Base64.decode(submission.transaction)
        } catch {
            throw .malformedBody("transaction is not standard padded Base64: \(error)")
        }
    }

    /// The media type of a Content-Type value, lowercased and without parameters or the optional whitespace
    /// (space and tab, RFC 9110 section 5.6.3) around it. It runs on every submission, so it works on the UTF-8
    /// bytes: the Foundation calls it replaced cost more than decoding the transaction they announced.
    static func mediaType(_ contentType: String) -> String {
        let utf8 = contentType.utf8
        let end = utf8.firstIndex(of: UInt8(ascii: ";")) ?? utf8.endIndex
        var type = utf8[..<end]
        while let first = type.first, first == 0x20 || first == 0x09 { type = type.dropFirst() }
        while let last = type.last, last == 0x20 || last == 0x09 { type = type.dropLast() }
        // Media types are ASCII and case-insensitive (RFC 9110 section 8.3.1); other bytes stay as they are.
        return String(decoding: type.map { (0x41...0x5A).contains($0) ? $0 | 0x20 : $0 }, as: UTF8.self)
    }
}
