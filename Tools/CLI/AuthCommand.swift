import ArgumentParser
import EnsureCrypto
import Foundation

/// `ensure auth token`: exchange a signed challenge for a bearer token of the incident routes.
struct AuthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "auth",
        abstract: "Obtain a bearer token for the members-and-regulators routes of a node.",
        subcommands: [Token.self]
    )

    /// `ensure auth token --key FILE --node URL`.
    struct Token: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign a login challenge and print a token valid for 15 minutes.",
            discussion: """
                Asks the node for a challenge, signs ensure/auth-token/v1 ‖ chain id ‖ challenge with the key \
                (an organization admin, plugin or regulator key), and prints the token. Give it to `ensure \
                incident list|show --token`, or send it as `Authorization: Bearer <token>`.
                """
        )

        @Option(name: .long, help: "The key file (organization admin, plugin or regulator).") var key: String
        @OptionGroup var passphrase: PassphraseSource
        @Option(name: .long, help: "The node's API URL.") var node: String
        @Flag(name: .long, help: "Print one JSON object instead of the token alone.") var json = false

        func run() throws {
            let client = try NodeClient(url: node)
            let signer = try CredentialOptions.readKey(key, passphrase: passphrase)
            let status: NodeAPI.StatusAnswer = try client.get("/v1/status")
            let challenge: ChallengeAnswer = try client.post("/v1/auth/challenge", json: EmptyBody())
            guard let bytes = try? Base64.decodeURL(challenge.challenge), bytes.count == 32 else {
                throw CommandFailure("node \(client.base) answered a challenge that is not 32 bytes of base64url")
            }
            let message =
                Array("ensure/auth-token/v1".utf8) + Array(status.chainID.utf8) + bytes
            let answer: TokenAnswer = try client.post(
                "/v1/auth/token",
                json: TokenRequest(
                    publicKey: signer.publicKey.hex, challenge: challenge.challenge,
                    signature: Base64.encode(signer.signature(for: message, domain: .apiRequest).bytes)))
            print(json ? NodeAPI.JSONLine.render(answer) : answer.token)
        }
    }

    struct EmptyBody: Encodable {}

    struct ChallengeAnswer: Decodable {
        var challenge: String
        var expiresAt: UInt64
    }

    struct TokenRequest: Encodable {
        var publicKey: String
        var challenge: String
        var signature: String
    }

    struct TokenAnswer: Codable {
        var token: String
        var expiresAt: UInt64
        var role: String
        var organization: String?
        var key: String
    }
}

/// How a read command proves who it is to the incident routes: `--key` signs every request (RFC 9421), or
/// `--token` sends a bearer token from `ensure auth token`.
struct CredentialOptions: ParsableArguments {
    @Option(name: .long, help: "Sign requests with this key file (organization admin, plugin or regulator).")
    var key: String?

    @OptionGroup var passphrase: PassphraseSource

    @Option(name: .long, help: "A bearer token from `ensure auth token`.")
    var token: String?

    /// The credential, or nil when neither option is given (public routes need none).
    func credential() throws -> NodeCredential? {
        switch (key, token) {
        case (.some, .some): throw CommandFailure("give --key or --token, not both")
        case (.some(let path), nil): return .key(try Self.readKey(path, passphrase: passphrase))
        case (nil, .some(let token)):
            guard let bytes = try? Base64.decodeURL(token), bytes.count == 32 else {
                throw CommandFailure("--token must be the 43-character token `ensure auth token` printed")
            }
            return .token(token)
        case (nil, nil): return nil
        }
    }

    /// Reads a key file, asking for the passphrase source when it is encrypted.
    static func readKey(_ path: String, passphrase: PassphraseSource) throws -> Ed25519PrivateKey {
        let secret = try passphrase.read()
        do {
            return try KeyFile.read(from: path, passphrase: secret).privateKey
        } catch .passphraseRequired(let path) {
            throw CommandFailure(
                "key file \(path) is encrypted; give its passphrase with --passphrase-file FILE or the "
                    + "\(PassphraseSource.environmentVariable) environment variable")
        } catch {
            throw CommandFailure("\(error)")
        }
    }
}

/// A credential the client sends with every request.
enum NodeCredential {
    /// Sign each request with this key (RFC 9421).
    case key(Ed25519PrivateKey)
    /// Send this bearer token.
    case token(String)
}

/// Signs requests the way the node's API checks them (docs/api.md, "Access"): RFC 9421 with Ed25519 over
/// `@method`, `@authority`, `@path`, `@query` (and `content-digest` with a body), with `created`, `keyid` (the
/// public key in hex), a random `nonce` and `alg="ed25519"`, under the label `ensure`.
struct RequestSigner {
    let key: Ed25519PrivateKey

    /// The `Signature-Input`, `Signature` (and `Content-Digest`) headers for a request.
    func headers(method: String, url: URL, body: Data?, created: Int64, nonce: String) -> [String: String] {
        var components = ["@method", "@authority", "@path", "@query"]
        var headers: [String: String] = [:]
        var values = [method, Self.authority(of: url), Self.path(of: url), Self.query(of: url)]
        if let body {
            let digest = "sha-256=:" + Base64.encode(SHA256.hash(Array(body)).bytes) + ":"
            headers["Content-Digest"] = digest
            components.append("content-digest")
            values.append(digest)
        }
        let parameters =
            "(" + components.map { "\"\($0)\"" }.joined(separator: " ") + ")"
            + ";created=\(created);keyid=\"\(key.publicKey.hex)\";nonce=\"\(nonce)\";alg=\"ed25519\""
        var lines = zip(components, values).map { "\"\($0)\": \($1)" }
        lines.append("\"@signature-params\": \(parameters)")
        let signature = key.signature(forRaw: Array(lines.joined(separator: "\n").utf8))
        headers["Signature-Input"] = "ensure=" + parameters
        headers["Signature"] = "ensure=:" + Base64.encode(signature.bytes) + ":"
        return headers
    }

    /// `@authority`: the host in lower case, with the port unless it is the scheme's default.
    static func authority(of url: URL) -> String {
        let host = (url.host ?? "").lowercased()
        let bracketed = host.contains(":") ? "[\(host)]" : host
        guard let port = url.port else { return bracketed }
        let scheme = url.scheme?.lowercased()
        if (scheme == "http" && port == 80) || (scheme == "https" && port == 443) { return bracketed }
        return "\(bracketed):\(port)"
    }

    /// `@path`: the percent-encoded path, `/` when empty.
    static func path(of url: URL) -> String {
        let path = URLComponents(url: url, resolvingAgainstBaseURL: false)?.percentEncodedPath ?? ""
        return path.isEmpty ? "/" : path
    }

    /// `@query`: `?` and the percent-encoded query, `?` alone when there is none.
    static func query(of url: URL) -> String {
        "?" + (URLComponents(url: url, resolvingAgainstBaseURL: false)?.percentEncodedQuery ?? "")
    }
}
