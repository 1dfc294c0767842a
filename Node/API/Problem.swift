import Foundation
public import Hummingbird
import Logging
import NIOCore

/// A refused request as the API reports it: an RFC 9457 problem document whose `type` is
/// `urn:ensure:problem:<code>`, with the HTTP status and any extra headers (`Retry-After`) to send with it.
public struct APIProblem: Error, Sendable, Equatable, CustomStringConvertible {
    /// The prefix of every problem type URI.
    public static let typePrefix = "urn:ensure:problem:"

    /// The stable machine-readable code: a ``SubmissionRejection/Code`` raw value or one of the API's own.
    public let code: String
    /// The HTTP status sent with it.
    public let status: HTTPResponse.Status
    /// A short summary that depends only on the code.
    public let title: String
    /// What exactly was wrong with this request.
    public let detail: String
    /// Seconds after which the client may retry, sent as `Retry-After`.
    public let retryAfterSeconds: Int?

    /// Creates a problem.
    public init(code: String, status: HTTPResponse.Status, title: String, detail: String, retryAfterSeconds: Int? = nil)
    {
        self.code = code
        self.status = status
        self.title = title
        self.detail = detail
        self.retryAfterSeconds = retryAfterSeconds
    }

    /// The `type` member of the problem document.
    public var type: String { Self.typePrefix + code }

    public var description: String { "\(status.code) \(code): \(detail)" }

    /// A path parameter or query value that does not parse.
    static func invalidParameter(_ name: String, _ detail: String) -> APIProblem {
        APIProblem(
            code: "invalid-parameter", status: .badRequest, title: "Invalid parameter", detail: "\(name) \(detail)")
    }

    /// The body cannot be read as a submission (bad JSON, bad Base64, unreadable stream).
    static func malformedBody(_ detail: String) -> APIProblem {
        APIProblem(code: "malformed", status: .badRequest, title: "Malformed request body", detail: detail)
    }

    /// The body is larger than ``APIRequestContext/maxBodyBytes``.
    static let bodyTooLarge = APIProblem(
        code: "oversize", status: .contentTooLarge, title: "Request body too large",
        detail: "the request body is larger than \(APIRequestContext.maxBodyBytes) bytes")

    /// The body's content type is neither JSON nor octet-stream.
    static func unsupportedMediaType(_ contentType: String?) -> APIProblem {
        let given = contentType.map { "content type \($0) is not supported" } ?? "the request has no content type"
        return APIProblem(
            code: "unsupported-media-type", status: .unsupportedMediaType, title: "Unsupported media type",
            detail: "\(given); send application/json or application/octet-stream")
    }

    /// No route matches the method and path.
    static func notFound(method: String, path: String) -> APIProblem {
        APIProblem(
            code: "not-found", status: .notFound, title: "Not found", detail: "no resource at \(method) \(path)")
    }

    /// Hummingbird refused the request itself (for example a malformed request line) with `status`.
    static func http(_ status: HTTPResponse.Status) -> APIProblem {
        APIProblem(
            code: "http-\(status.code)", status: status, title: status.reasonPhrase,
            detail: "the request was refused with status \(status.code)")
    }

    /// Anything else: the detail never echoes internals.
    static let internalError = APIProblem(
        code: "internal", status: .internalServerError, title: "Internal error",
        detail: "the node could not answer this request")

    /// The node refused a submitted transaction.
    static func rejected(_ rejection: SubmissionRejection) -> APIProblem {
        APIProblem(
            code: rejection.code.rawValue, status: rejection.code.httpStatus, title: rejection.code.title,
            detail: rejection.detail, retryAfterSeconds: rejection.code == .mempoolFull ? 1 : nil)
    }

    /// The problem+json response.
    func response() -> Response {
        var headers = HTTPFields()
        if let retryAfterSeconds { headers[.retryAfter] = String(retryAfterSeconds) }
        let document = ProblemDocument(type: type, title: title, status: Int(status.code), detail: detail)
        return JSONBody.response(document, status: status, contentType: "application/problem+json", headers: headers)
    }
}

/// The RFC 9457 document.
struct ProblemDocument: Codable, Equatable {
    var type: String
    var title: String
    var status: Int
    var detail: String
}

extension SubmissionRejection.Code {
    /// The HTTP status a refusal with this code is sent with.
    public var httpStatus: HTTPResponse.Status {
        switch self {
        case .malformed, .invalidPayload, .wrongChain, .badSignature: .badRequest
        case .oversize: .contentTooLarge
        case .unauthorized: .forbidden
        case .staleSequence, .conflictingSequence, .sequenceTooFarAhead: .conflict
        case .signerLimit: .tooManyRequests
        case .mempoolFull, .unavailable: .serviceUnavailable
        }
    }

    /// A short summary of the refusal for the problem document's `title`.
    var title: String {
        switch self {
        case .malformed: "Malformed transaction"
        case .invalidPayload: "Invalid transaction payload"
        case .wrongChain: "Transaction for another chain"
        case .badSignature: "Bad signature"
        case .oversize: "Transaction too large"
        case .unauthorized: "Signer not authorized"
        case .staleSequence: "Stale sequence number"
        case .conflictingSequence: "Conflicting sequence number"
        case .sequenceTooFarAhead: "Sequence number too far ahead"
        case .signerLimit: "Too many pending transactions for this signer"
        case .mempoolFull: "Mempool full"
        case .unavailable: "Node unavailable"
        }
    }
}

/// JSON response bodies: one encoder configuration for every route.
enum JSONBody {
    /// Encodes `value` as the body of a response with `status`.
    static func response(
        _ value: some Encodable, status: HTTPResponse.Status = .ok, contentType: String = "application/json",
        headers: HTTPFields = [:]
    ) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var headers = headers
        headers[.contentType] = contentType
        do {
            let data = try encoder.encode(value)
            return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
        } catch {
            // The bodies are plain structs of strings and integers; this is unreachable in practice, and it
            // still answers with a well-formed problem rather than crashing.
            headers[.contentType] = "application/problem+json"
            let text =
                #"{"detail":"the response could not be encoded","status":500,"#
                + #""title":"Internal error","type":"urn:ensure:problem:internal"}"#
            return Response(
                status: .internalServerError, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text))
            )
        }
    }
}

/// Turns every error a route or the router throws into a problem+json response, and logs one debug line per
/// refused request (method, path, status, code; never the body).
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let problem: APIProblem
        do {
            let response = try await next(request, context)
            if response.status.code >= 400 {
                logRefusal(request, status: response.status, code: nil)
            }
            return response
        } catch let error as APIProblem {
            problem = error
        } catch let error as HTTPError where error.status == .notFound {
            problem = .notFound(method: request.method.rawValue, path: request.uri.path)
        } catch let error as any HTTPResponseError {
            problem = error.status == .contentTooLarge ? .bodyTooLarge : .http(error.status)
        } catch {
            problem = .internalError
            logger.error(
                "API request failed",
                metadata: ["method": "\(request.method)", "error": "\(String(describing: error))"])
        }
        logRefusal(request, status: problem.status, code: problem.code)
        return problem.response()
    }

    private func logRefusal(_ request: Request, status: HTTPResponse.Status, code: String?) {
        logger.debug(
            "API request refused",
            metadata: [
                "method": "\(request.method)", "path": "\(request.uri.path.prefix(200))", "status": "\(status.code)",
                "problem": "\(code ?? "-")",
            ])
    }
}
