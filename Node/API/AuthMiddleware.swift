import EnsureCrypto
import Foundation
import HTTPTypes
import Hummingbird
import Ledger
import Logging
import NIOCore

/// Guards the incident routes: the request must carry an RFC 9421 signature or a bearer token of a key whose
/// committed role is a member's organization admin or plugin, or a regulator. Refusals are problem+json: 401
/// `unauthenticated` (the detail starts with an ``AuthFailure/Reason``), 403 `forbidden`. One debug line per
/// decision names the key and the outcome, never a token or a signature.
struct AccessMiddleware<Node: NodeService>: RouterMiddleware {
    typealias Context = APIRequestContext

    let node: Node
    let access: AccessControl
    let logger: Logger

    static var signatureInputField: HTTPField.Name { HTTPField.Name("Signature-Input")! }
    static var signatureField: HTTPField.Name { HTTPField.Name("Signature")! }
    static var contentDigestField: HTTPField.Name { HTTPField.Name("Content-Digest")! }

    /// Why a request is refused.
    enum Refusal: Error {
        case unauthenticated(AuthFailure, key: Ed25519PublicKey?)
        case forbidden(String, key: Ed25519PublicKey)
        case problem(APIProblem, key: Ed25519PublicKey?)
    }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let admitted: (request: Request, key: Ed25519PublicKey, role: AccessRole)
        do {
            admitted = try await admit(request, context: context)
        } catch {
            return refuse(error, request: request)
        }
        logger.debug(
            "API access granted",
            metadata: [
                "path": "\(request.uri.path.prefix(200))", "keyid": "\(admitted.key.hex)",
                "role": "\(admitted.role.rawValue)",
            ])
        var context = context
        context.readerKey = admitted.key
        return try await next(admitted.request, context)
    }

    /// Authenticates a request to a public route that shows members and regulators more (a block's bytes):
    /// without credentials it is anonymous; with credentials they must prove a key that may read, exactly as on
    /// the protected routes, or the request is refused (401, 403, 503) rather than silently answered as anonymous.
    func optionalReader(_ request: Request, context: Context) async -> ReaderAccess {
        let presented =
            request.headers[.authorization] != nil || request.headers[Self.signatureInputField] != nil
            || request.headers[Self.signatureField] != nil
        guard presented else { return .anonymous }
        do {
            let admitted = try await admit(request, context: context)
            logger.debug(
                "API access granted",
                metadata: [
                    "path": "\(request.uri.path.prefix(200))", "keyid": "\(admitted.key.hex)",
                    "role": "\(admitted.role.rawValue)",
                ])
            return .reader(admitted.key, admitted.role)
        } catch {
            return .refused(refuse(error, request: request))
        }
    }

    private func refuse(_ refusal: Refusal, request: Request) -> Response {
        let problem: APIProblem
        let key: Ed25519PublicKey?
        switch refusal {
        case .unauthenticated(let failure, let who):
            problem = failure.problem
            key = who
        case .forbidden(let detail, let who):
            problem = .forbidden(detail)
            key = who
        case .problem(let given, let who):
            problem = given
            key = who
        }
        logger.debug(
            "API access refused",
            metadata: [
                "path": "\(request.uri.path.prefix(200))", "keyid": "\(key?.hex ?? "-")",
                "status": "\(problem.status.code)", "detail": "\(problem.detail.prefix(200))",
            ])
        return problem.status == .unauthorized ? AuthFailure.withChallenge(problem.response()) : problem.response()
    }

    /// Authenticates and authorizes `request`; answers the request to pass on (its body buffered when a
    /// content digest was checked), the key and its role.
    func admit(_ request: Request, context: Context) async throws(Refusal) -> (
        request: Request, key: Ed25519PublicKey, role: AccessRole
    ) {
        let authorization = request.headers[.authorization]
        let signed = request.headers[Self.signatureInputField] != nil || request.headers[Self.signatureField] != nil
        switch (authorization, signed) {
        case (nil, false):
            throw .unauthenticated(
                AuthFailure(
                    .missingCredentials,
                    "this route is for members and regulators: sign the request (RFC 9421) or send a bearer token"),
                key: nil)
        case (.some, true):
            throw .unauthenticated(
                AuthFailure(.ambiguousCredentials, "send either a signature or a bearer token, not both"), key: nil)
        case (.some(let value), false):
            let (key, role) = try await bearer(value)
            return (request, key, role)
        case (nil, true):
            return try await signature(request, context: context)
        }
    }

    // MARK: Bearer tokens

    private func bearer(_ value: String) async throws(Refusal) -> (Ed25519PublicKey, AccessRole) {
        let parts = value.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw .unauthenticated(AuthFailure(.unknownToken, "Authorization must be \"Bearer <token>\""), key: nil)
        }
        guard let bytes = try? Base64.decodeURL(String(parts[1]).trimmingSpaces()), bytes.count == 32 else {
            throw .unauthenticated(AuthFailure(.unknownToken, "the token is not 32 bytes of base64url"), key: nil)
        }
        let hash = SHA256.hash(bytes)
        guard let grant = await access.store.token(hash) else {
            throw .unauthenticated(AuthFailure(.unknownToken, "this node issued no such token"), key: nil)
        }
        let now = access.clock()
        guard now < grant.expiresAt else {
            await access.store.revokeToken(hash)
            throw .unauthenticated(
                AuthFailure(.expiredToken, "the token expired at \(grant.expiresAt); ask for a new one"), key: grant.key
            )
        }
        // The committed role is checked on every use: a key removed by governance loses access at once.
        let current = await node.role(of: grant.key)
        guard let role = AccessRole(current) else {
            await access.store.revokeToken(hash)
            throw .forbidden(
                "key \(grant.key.hex) is no longer an organization admin, plugin or regulator key", key: grant.key)
        }
        guard current == grant.role else {
            await access.store.revokeToken(hash)
            throw .unauthenticated(
                AuthFailure(.roleChanged, "the key's role changed since the token was issued; ask for a new one"),
                key: grant.key)
        }
        return (grant.key, role)
    }

    // MARK: Signatures

    private func signature(_ request: Request, context: Context) async throws(Refusal) -> (
        request: Request, key: Ed25519PublicKey, role: AccessRole
    ) {
        guard let input = request.headers[Self.signatureInputField], let value = request.headers[Self.signatureField]
        else {
            throw .unauthenticated(
                AuthFailure(.malformedSignature, "a signed request carries both Signature-Input and Signature"),
                key: nil)
        }
        let signature: MessageSignature
        do { signature = try MessageSignature.parse(signatureInput: input, signature: value) } catch {
            throw .unauthenticated(error, key: nil)
        }
        var request = request
        let hasBody =
            request.headers[.transferEncoding] != nil
            || (request.headers[.contentLength].map { $0.trimmingSpaces() != "0" } ?? false)
        if hasBody {
            request = try await checkContentDigest(request, context: context)
        }
        let parts = SignedRequestParts(
            method: request.method.rawValue, scheme: request.head.scheme ?? "http",
            authority: request.head.authority ?? "", target: request.head.path ?? "/",
            fields: request.headers.map { ($0.name.canonicalName, $0.value) })
        let nowSeconds = Int64(access.clock() / 1000)
        let accepted: RequestSignatureProfile.Accepted
        do {
            accepted = try access.profile.check(signature, request: parts, hasBody: hasBody, now: nowSeconds)
        } catch {
            throw .unauthenticated(error, key: nil)
        }
        guard let role = AccessRole(await node.role(of: accepted.key)) else {
            throw .forbidden(
                "key \(accepted.key.hex) is not an organization admin, plugin or regulator key of this ledger",
                key: accepted.key)
        }
        // Only keys that may read reach the nonce store, so strangers cannot fill it.
        switch await access.store.recordNonce(
            accepted.nonce, key: accepted.key, until: accepted.acceptableUntil, now: nowSeconds)
        {
        case .fresh: return (request, accepted.key, role)
        case .replayed:
            throw .unauthenticated(
                AuthFailure(.replayedNonce, "this key already used this nonce; sign each request with a new one"),
                key: accepted.key)
        case .full: throw .problem(.accessBusy("request nonces"), key: accepted.key)
        }
    }

    /// Reads the body (up to the API's limit), checks its `sha-256` against `Content-Digest` (RFC 9530), and
    /// answers the request with the body buffered for the handler.
    private func checkContentDigest(_ request: Request, context: Context) async throws(Refusal) -> Request {
        guard let header = request.headers[Self.contentDigestField] else {
            throw .unauthenticated(
                AuthFailure(.badContentDigest, "a request with a body carries Content-Digest: sha-256=:<Base64>:"),
                key: nil)
        }
        let digest: [UInt8]
        do {
            let members = try StructuredField.parseDictionary(header, field: "Content-Digest")
            guard case .item(let item)? = members.first(where: { $0.key == "sha-256" })?.member,
                case .bytes(let bytes) = item.value, bytes.count == 32
            else {
                throw AuthFailure(.badContentDigest, "Content-Digest has no 32-byte sha-256 member")
            }
            digest = bytes
        } catch let error as StructuredFieldError {
            throw .unauthenticated(AuthFailure(.badContentDigest, error.description), key: nil)
        } catch let error as AuthFailure {
            throw .unauthenticated(error, key: nil)
        } catch {
            throw .unauthenticated(AuthFailure(.badContentDigest, "Content-Digest does not parse"), key: nil)
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: context.maxUploadSize)
        } catch {
            throw .problem(.bodyTooLarge, key: nil)
        }
        guard SHA256.hash(Array(buffer.readableBytesView)).bytes == digest else {
            throw .unauthenticated(
                AuthFailure(.badContentDigest, "the body's SHA-256 differs from Content-Digest"), key: nil)
        }
        var request = request
        request.body = RequestBody(buffer: buffer)
        return request
    }
}

/// Who asked, on a route that answers everyone but shows members and regulators more.
enum ReaderAccess {
    /// No credentials were presented.
    case anonymous
    /// The credentials proved a key that may read, with its role.
    case reader(Ed25519PublicKey, AccessRole)
    /// The credentials did not prove such a key: the refusal to answer with.
    case refused(Response)
}

extension AuthFailure {
    /// The 401 problem response, with the `WWW-Authenticate` challenge RFC 9110 asks of every 401.
    func response() -> Response { Self.withChallenge(problem.response()) }

    static func withChallenge(_ response: Response) -> Response {
        var response = response
        response.headers[.wwwAuthenticate] = #"Bearer realm="ensure""#
        return response
    }
}
