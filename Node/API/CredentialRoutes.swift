import Credentials
import EnsureCrypto
import Foundation
import Hummingbird
import Ledger
import NIOCore

extension APIServer {
    /// Adds the age-verification routes: presentation requests and their verification, the stored status lists,
    /// issuer metadata for verifiers outside the consortium, and the demo shop page.
    func addCredentialRoutes(to router: Router<APIRequestContext>) {
        let routes = CredentialRoutes(node: node)
        router.post("/v1/presentations/requests") { request, context in
            try await routes.createRequest(request, context: context)
        }
        router.post("/v1/presentations/verify") { request, context in
            try await routes.verify(request, context: context)
        }
        router.get("/v1/status-lists") { request, _ in try await routes.statusList(request) }
        router.get("/v1/issuers/{identifier}/metadata") { request, context in
            try await routes.metadata(
                request, identifier: context.parameters.get("identifier")?.removingPercentEncoding)
        }
        router.get("/.well-known/jwt-vc-issuer/**") { request, context in
            let path = context.parameters.getCatchAll().joined(separator: "/")
            return try await routes.metadata(request, identifier: "https://" + path)
        }
        router.get("/shop") { _, _ in ShopPage.response() }
    }
}

/// The stable problem a refused presentation is reported as: `urn:ensure:problem:presentation-<code>` (the
/// refusal's code with `-` for `_`), status 422, a title per code, and the refusal's sentence as the detail.
extension PresentationRefusal {
    /// The problem `code` (after the type prefix).
    var problemCode: String { "presentation-" + code.replacingOccurrences(of: "_", with: "-") }

    /// A short summary that depends only on the code.
    var problemTitle: String {
        switch self {
        case .malformed: "Malformed presentation"
        case .unsupportedAlgorithm: "Unsupported signature algorithm"
        case .badIssuerSignature: "Bad issuer signature"
        case .unknownIssuer: "Unknown issuer"
        case .delistedIssuer: "Delisted issuer"
        case .issuerKeyUnknown: "Unknown issuer key"
        case .issuerKeyOutsideValidity: "Issuer key outside its validity"
        case .issuerKeyRetired: "Issuer key retired"
        case .issuerKeyRevoked: "Issuer key revoked"
        case .vctNotAllowed: "Credential type not allowed for this issuer"
        case .revoked: "Credential revoked"
        case .suspended: "Credential suspended"
        case .statusListUnavailable: "Status list unavailable"
        case .expired: "Credential expired"
        case .notYetValid: "Credential not yet valid"
        case .nonceUnknown: "Unknown nonce"
        case .nonceReused: "Nonce already used"
        case .nonceExpired: "Presentation request expired"
        case .wrongAudience: "Wrong audience"
        case .disclosureDigestMismatch: "Disclosure digest mismatch"
        case .keyBindingMissing: "Key binding missing"
        case .keyBindingSignatureInvalid: "Key binding signature invalid"
        case .sdHashMismatch: "Key binding sd_hash mismatch"
        case .keyBindingTooOld: "Key binding too old"
        case .keyBindingFromFuture: "Key binding from the future"
        case .predicateNotDisclosed: "Age predicate not disclosed"
        }
    }
}

/// The refusal document: RFC 9457 members plus `refusal`, the library's snake_case code.
struct RefusalDocument: Encodable {
    var type: String
    var title: String
    var status: Int
    var detail: String
    var refusal: String
    var accepted = false
}

struct PresentationRequestBody: Decodable {
    var audience: String?
    var over: Int
}

struct PresentationRequestAnswer: Encodable {
    var nonce: String
    var audience: String
    var over: Int
    var expiresAt: Int64
    var command: String
}

struct VerifyBody: Decodable {
    var nonce: String
    var presentation: String
}

struct VerificationAnswer: Encodable {
    var accepted = true
    var over: Int
    var holds: Bool
    var answeredBy: String
    var disclosed: [String: Bool]
    var issuer: String
    var vct: String
}

struct StatusListAnswer: Encodable {
    var height: UInt64
    var uri: String
    var issuer: String
    var version: UInt64
    var token: String
    var publishedHeight: UInt64
    var publishedAt: UInt64
}

/// JWT VC Issuer Metadata (draft-ietf-oauth-sd-jwt-vc): the issuer and its public keys.
struct IssuerMetadata: Encodable {
    struct Key: Encodable {
        var kty = "EC"
        var crv = "P-256"
        var x: String
        var y: String
        var kid: String
        var alg = "ES256"
        var use = "sig"
    }
    struct KeySet: Encodable { var keys: [Key] }
    var issuer: String
    var jwks: KeySet
}

/// The handlers of the credential routes.
struct CredentialRoutes<Node: NodeService>: Sendable {
    let node: Node

    /// Longest audience a request may name.
    static var maxAudienceBytes: Int { 256 }
    /// Longest presentation accepted.
    static var maxPresentationBytes: Int { 64 * 1024 }

    func createRequest(_ request: Request, context: APIRequestContext) async throws(APIProblem) -> Response {
        _ = try QueryString(request, allowed: [])
        let body = try await Self.json(PresentationRequestBody.self, of: request, context: context)
        guard AgeProfile.thresholds.contains(body.over) else {
            throw .malformedBody(
                "over must be one of \(AgeProfile.thresholds.map(String.init).joined(separator: ", "))")
        }
        if let audience = body.audience {
            guard !audience.isEmpty, audience.utf8.count <= Self.maxAudienceBytes,
                audience.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F })
            else {
                throw .malformedBody(
                    "audience must be 1 to \(Self.maxAudienceBytes) printable ASCII characters without spaces")
            }
        }
        let created = await node.createPresentationRequest(audience: body.audience, over: body.over)
        return JSONBody.response(
            PresentationRequestAnswer(
                nonce: created.nonce, audience: created.audience, over: created.threshold,
                expiresAt: created.expiresAt,
                command:
                    "ensure wallet present --nonce \(created.nonce) --aud \(created.audience) --over \(created.threshold)"
            ), status: .created)
    }

    func verify(_ request: Request, context: APIRequestContext) async throws(APIProblem) -> Response {
        _ = try QueryString(request, allowed: [])
        let body = try await Self.json(VerifyBody.self, of: request, context: context)
        guard !body.nonce.isEmpty, body.nonce.utf8.count <= 128 else {
            throw .malformedBody("nonce must be 1 to 128 characters")
        }
        guard body.presentation.utf8.count <= Self.maxPresentationBytes else {
            throw .malformedBody("presentation is longer than \(Self.maxPresentationBytes) bytes")
        }
        do {
            let answer = try await node.verifyPresentation(nonce: body.nonce, presentation: body.presentation)
            return JSONBody.response(
                VerificationAnswer(
                    over: answer.threshold, holds: answer.holds, answeredBy: AgeProfile.claimName(answer.answeredBy),
                    disclosed: Dictionary(
                        uniqueKeysWithValues: answer.disclosed.map { (AgeProfile.claimName($0.key), $0.value) }),
                    issuer: answer.issuer, vct: answer.vct))
        } catch {
            return Self.refusal(error)
        }
    }

    /// The 422 problem+json response of a refusal.
    static func refusal(_ refusal: PresentationRefusal) -> Response {
        let document = RefusalDocument(
            type: APIProblem.typePrefix + refusal.problemCode, title: refusal.problemTitle, status: 422,
            detail: refusal.description, refusal: refusal.code)
        return JSONBody.response(document, status: .unprocessableContent, contentType: "application/problem+json")
    }

    func statusList(_ request: Request) async throws(APIProblem) -> Response {
        let query = try QueryString(request, allowed: ["uri"])
        guard let uri = query["uri"], !uri.isEmpty, uri.utf8.count <= StatusListPayload.maxURIBytes else {
            throw .invalidParameter("uri", "must be a status list URI of 1 to \(StatusListPayload.maxURIBytes) bytes")
        }
        let read: CommittedRead<StatusListEntry?>
        do {
            read = try await node.statusList(uri: uri)
        } catch {
            throw .query(error)
        }
        guard let entry = read.value else {
            throw .notFound("unknown-status-list", "Unknown status list", "no status list is published under \(uri)")
        }
        if let accept = request.headers[.accept], accept.contains("application/statuslist+jwt") {
            var headers = HTTPFields()
            headers[.contentType] = "application/statuslist+jwt"
            return Response(
                status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: entry.token)))
        }
        return JSONBody.response(
            StatusListAnswer(
                height: read.height, uri: entry.uri, issuer: entry.issuer, version: entry.listVersion,
                token: entry.token, publishedHeight: entry.height, publishedAt: entry.timestamp))
    }

    func metadata(_ request: Request, identifier: String?) async throws(APIProblem) -> Response {
        _ = try QueryString(request, allowed: [])
        guard let identifier, !identifier.isEmpty, identifier.utf8.count <= RegistryLimits.issuerIdentifierBytes
        else {
            throw .invalidParameter(
                "identifier",
                "must be a percent-encoded issuer identifier of 1 to \(RegistryLimits.issuerIdentifierBytes) bytes")
        }
        let read: CommittedRead<IssuerRecord?>
        do {
            read = try await node.issuer(identifier: identifier)
        } catch {
            throw .query(error)
        }
        guard let record = read.value else {
            throw .notFound("unknown-issuer", "Unknown issuer", "no issuer \(identifier) is registered")
        }
        guard !record.delisted else {
            throw APIProblem(
                code: "delisted-issuer", status: .gone, title: "Delisted issuer",
                detail: "issuer \(identifier) was delisted by governance")
        }
        // A revoked key is left out: a verifier outside the consortium trusts every key it is shown.
        let keys = record.signingKeys.filter { $0.revokedAt == nil }.map {
            IssuerMetadata.Key(x: Base64.encodeURL($0.x), y: Base64.encodeURL($0.y), kid: $0.keyID)
        }
        return JSONBody.response(IssuerMetadata(issuer: record.identifier, jwks: .init(keys: keys)))
    }

    /// Decodes a JSON body of `type`; the error names the member that was wrong.
    static func json<T: Decodable>(_ type: T.Type, of request: Request, context: APIRequestContext)
        async throws(APIProblem) -> T
    {
        guard let contentType = request.headers[.contentType], Routes<Node>.mediaType(contentType) == "application/json"
        else {
            throw .unsupportedMediaType(request.headers[.contentType])
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: context.maxUploadSize)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            throw .bodyTooLarge
        } catch {
            throw .malformedBody("the request body could not be read")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch DecodingError.keyNotFound(let key, let detail) {
            throw .malformedBody("\(Self.path(detail.codingPath + [key])) is missing")
        } catch DecodingError.typeMismatch(_, let detail), DecodingError.valueNotFound(_, let detail) {
            throw .malformedBody("\(Self.path(detail.codingPath)) has the wrong type")
        } catch {
            throw .malformedBody("the body is not a JSON object")
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.isEmpty ? "body" : keys.map(\.stringValue).joined(separator: ".")
    }
}

/// The demo shop: one self-contained page (inline CSS and JavaScript, nothing loaded from elsewhere) that asks
/// this node for a presentation request at checkout and has it verify the pasted presentation.
enum ShopPage {
    /// The page as a response.
    static func response() -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.contentSecurityPolicy] =
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }

    /// The HTML.
    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Ensure demo shop</title>
        <style>
        body { font-family: system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
        h1 { font-size: 1.5rem; }
        .items { display: grid; grid-template-columns: repeat(auto-fill, minmax(12rem, 1fr)); gap: .75rem; }
        .item { border: 1px solid #ccc; border-radius: .4rem; padding: .75rem; }
        .item .age { font-size: .8rem; color: #a33; }
        button { padding: .4rem .9rem; cursor: pointer; }
        pre, textarea { width: 100%; box-sizing: border-box; font-family: ui-monospace, monospace; font-size: .8rem; }
        pre { background: #f4f4f4; padding: .6rem; white-space: pre-wrap; word-break: break-all; }
        textarea { height: 8rem; }
        .ok { color: #161; font-weight: bold; }
        .refused { color: #a11; font-weight: bold; }
        section[hidden] { display: none; }
        </style>
        </head>
        <body>
        <h1>Ensure demo shop</h1>
        <p>Everything here is age-restricted. At checkout the shop asks for a proof that you are over 18 &mdash;
        and learns nothing else: not your name, not your birth date.</p>
        <div class="items">
          <div class="item"><b>Red wine</b><div class="age">18+</div><label><input type="checkbox" class="buy" data-over="18"> add</label></div>
          <div class="item"><b>Cigars</b><div class="age">18+</div><label><input type="checkbox" class="buy" data-over="18"> add</label></div>
          <div class="item"><b>Whisky</b><div class="age">18+</div><label><input type="checkbox" class="buy" data-over="18"> add</label></div>
        </div>
        <p><button id="checkout">Checkout</button></p>
        <section id="request" hidden>
          <h2>Prove your age</h2>
          <p>Nonce: <code id="nonce"></code><br>Audience: <code id="audience"></code><br>Expires: <span id="expires"></span></p>
          <p>Run this with your wallet and paste what it prints:</p>
          <pre id="command"></pre>
          <form id="verify-form">
            <textarea id="presentation" name="presentation" placeholder="eyJ...~...~eyJ..." required></textarea>
            <p><button type="submit">Verify</button></p>
          </form>
        </section>
        <section id="answer" hidden><h2>Answer</h2><p id="result"></p><pre id="details"></pre></section>
        <script>
        "use strict";
        const $ = (id) => document.getElementById(id);
        let nonce = null;
        async function post(path, body) {
          const response = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
          return { status: response.status, body: await response.json() };
        }
        $("checkout").addEventListener("click", async () => {
          $("answer").hidden = true;
          const over = Math.max(18, ...Array.from(document.querySelectorAll(".buy:checked")).map((b) => Number(b.dataset.over)));
          const { status, body } = await post("/v1/presentations/requests", { over });
          if (status !== 201) { show(false, body.detail || "the request could not be created", body); return; }
          nonce = body.nonce;
          $("nonce").textContent = body.nonce;
          $("audience").textContent = body.audience;
          $("expires").textContent = new Date(body.expiresAt * 1000).toLocaleTimeString();
          $("command").textContent = `ensure wallet present --nonce ${body.nonce} --aud ${body.audience} --over ${body.over}`;
          $("presentation").value = "";
          $("request").hidden = false;
        });
        $("verify-form").addEventListener("submit", async (event) => {
          event.preventDefault();
          const presentation = $("presentation").value.trim();
          const { status, body } = await post("/v1/presentations/verify", { nonce, presentation });
          if (status === 200 && body.accepted && body.holds) {
            show(true, `Accepted: over ${body.over} (answered by ${body.answeredBy}, issuer ${body.issuer}).`, body);
          } else if (status === 200) {
            show(false, `Refused: the proof says not over ${body.over}.`, body);
          } else {
            show(false, `Refused (${body.refusal || body.type}): ${body.detail}`, body);
          }
          $("request").hidden = true;
        });
        function show(ok, text, body) {
          $("result").className = ok ? "ok" : "refused";
          $("result").textContent = text;
          $("details").textContent = JSON.stringify(body, null, 2);
          $("answer").hidden = false;
        }
        </script>
        </body>
        </html>
        """#
}
