import EnsureCrypto
import Foundation
import Hummingbird
import Ledger
import NIOCore

extension APIServer {
    /// Adds the token routes: `POST /v1/auth/challenge` and `POST /v1/auth/token` (docs/api.md, "Access").
    func addAuthRoutes(to router: Router<APIRequestContext>) {
        let routes = AuthRoutes(node: node, access: access)
        router.post("/v1/auth/challenge") { _, _ in try await routes.challenge() }
        router.post("/v1/auth/token") { request, context in try await routes.token(request, context: context) }
    }

    /// The middleware that guards the incident routes.
    var accessMiddleware: AccessMiddleware<Node> { AccessMiddleware(node: node, access: access, logger: logger) }
}

/// `POST /v1/auth/challenge` answer.
struct ChallengeBody: Codable, Equatable {
    var challenge: String
    var expiresAt: UInt64
}

/// `POST /v1/auth/token` request.
struct TokenRequestBody: Codable, Equatable {
    var publicKey: String
    var challenge: String
    var signature: String
}

/// `POST /v1/auth/token` answer.
struct TokenBody: Codable, Equatable {
    var token: String
    var expiresAt: UInt64
    var role: String
    var organization: String?
    var key: String
}

/// The handlers of the token routes.
struct AuthRoutes<Node: NodeService>: Sendable {
    let node: Node
    let access: AccessControl

    /// A fresh single-use challenge of 32 random bytes, valid for a minute.
    func challenge() async throws(APIProblem) -> Response {
        let now = access.clock()
        let bytes = access.random(32)
        let expiresAt = now + access.challengeLifetimeMilliseconds
        guard await access.store.addChallenge(bytes, expiresAt: expiresAt, now: now) else {
            throw .accessBusy("login challenges")
        }
        return JSONBody.response(ChallengeBody(challenge: Base64.encodeURL(bytes), expiresAt: expiresAt))
    }

    /// Exchanges a signed challenge for a bearer token bound to the key and its committed role.
    func token(_ request: Request, context: APIRequestContext) async throws(APIProblem) -> Response {
        guard request.headers[.contentType].map(Routes<Node>.mediaType) == "application/json" else {
            throw .unsupportedMediaType(request.headers[.contentType])
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: 4096)
        } catch {
            throw .malformedBody("the body must be a JSON object of at most 4096 bytes")
        }
        let body: TokenRequestBody
        do {
            body = try JSONDecoder().decode(TokenRequestBody.self, from: Data(buffer.readableBytesView))
        } catch {
            throw .malformedBody(
                #"the body must be {"publicKey":"<hex>","challenge":"<base64url>","signature":"<Base64>"}"#)
        }
        guard body.publicKey.utf8.count == 64, let key = Ed25519PublicKey(hex: body.publicKey) else {
            throw .malformedBody("publicKey must be 64 hexadecimal characters (an Ed25519 public key)")
        }
        guard let challenge = try? Base64.decodeURL(body.challenge), challenge.count == 32 else {
            throw .malformedBody("challenge must be the 32-byte base64url challenge the node handed out")
        }
        guard let signatureBytes = try? Base64.decode(body.signature),
            let signature = Ed25519Signature(bytes: signatureBytes)
        else {
            throw .malformedBody("signature must be a 64-byte Ed25519 signature in padded standard Base64")
        }
        let now = access.clock()
        // A challenge is used once, whatever the outcome.
        guard await access.store.consumeChallenge(challenge, now: now) else {
            return AuthFailure(.unknownChallenge, "the challenge is unknown, expired or already used").response()
        }
        let chainID = await node.status().chainID
        let message = AccessControl.tokenMessage(chainID: chainID, challenge: challenge)
        guard key.isValidSignature(signature, for: message, domain: .apiRequest) else {
            return AuthFailure(.badSignature, "the signature over the challenge does not verify with publicKey")
                .response()
        }
        let committed = await node.role(of: key)
        guard let committed, let role = AccessRole(committed) else {
            throw .forbidden("key \(key.hex) is not an organization admin, plugin or regulator key of this ledger")
        }
        let tokenBytes = access.random(32)
        let expiresAt = now + access.tokenLifetimeMilliseconds
        guard
            await access.store.addToken(
                SHA256.hash(tokenBytes), grant: TokenGrant(key: key, role: committed, expiresAt: expiresAt), now: now)
        else {
            throw .accessBusy("tokens")
        }
        return JSONBody.response(
            TokenBody(
                token: Base64.encodeURL(tokenBytes), expiresAt: expiresAt, role: role.rawValue,
                organization: committed.organization, key: key.hex))
    }
}
