public import EnsureCrypto
import HTTPTypes

/// Why a request could not be authenticated. Every case is answered with 401 `unauthenticated`; the problem's
/// detail starts with ``reason`` (a stable, machine-readable word) followed by what exactly was wrong.
public struct AuthFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// The stable reasons.
    public enum Reason: String, Sendable, CaseIterable {
        /// The request carries neither a signature nor a bearer token.
        case missingCredentials = "missing-credentials"
        /// The request carries both a signature and a bearer token.
        case ambiguousCredentials = "ambiguous-credentials"
        /// `Signature-Input` or `Signature` is missing, does not parse, or does not describe one signature.
        case malformedSignature = "malformed-signature"
        /// The `alg` parameter names an algorithm other than `ed25519`.
        case unsupportedAlgorithm = "unsupported-algorithm"
        /// A required signature parameter (`created`, `keyid`, `nonce`) is missing or malformed.
        case missingParameter = "missing-parameter"
        /// A required component (`@method`, `@authority`, `@path`, `@query`, `content-digest`) is not covered.
        case missingComponent = "missing-component"
        /// `created` is more than the allowed skew in the future.
        case createdInFuture = "created-in-future"
        /// `created` is older than the maximum age.
        case tooOld = "too-old"
        /// `expires` has passed.
        case expired = "expired"
        /// The signature does not verify over the rebuilt signature base.
        case badSignature = "bad-signature"
        /// The nonce was already used by this key within the validity window.
        case replayedNonce = "replayed-nonce"
        /// `Content-Digest` is missing, malformed or does not match the body.
        case badContentDigest = "bad-content-digest"
        /// The bearer token is malformed or unknown to this node.
        case unknownToken = "unknown-token"
        /// The bearer token has expired.
        case expiredToken = "expired-token"
        /// The key's committed role changed since the token was issued.
        case roleChanged = "role-changed"
        /// The login challenge is unknown, expired or already used.
        case unknownChallenge = "unknown-challenge"
    }

    /// Which kind of failure.
    public let reason: Reason
    /// What exactly was wrong, for people.
    public let detail: String

    /// Creates a failure.
    public init(_ reason: Reason, _ detail: String) {
        self.reason = reason
        self.detail = detail
    }

    public var description: String { "\(reason.rawValue): \(detail)" }

    /// The problem document it is answered with.
    var problem: APIProblem {
        APIProblem(code: "unauthenticated", status: .unauthorized, title: "Unauthenticated", detail: description)
    }
}

/// The parts of an HTTP request that RFC 9421 components are derived from, independent of any server framework.
public struct SignedRequestParts: Sendable, Equatable {
    /// The method (`GET`).
    public var method: String
    /// The scheme (`http`), used only by `@scheme` and `@target-uri`.
    public var scheme: String
    /// The authority (`Host`), as received.
    public var authority: String
    /// The request target as received: the percent-encoded path and the query (`/v1/incidents?limit=5`).
    public var target: String
    /// Header fields: names lower-case, in order received.
    public var fields: [(name: String, value: String)]

    /// Creates the parts of a request.
    public init(
        method: String, scheme: String, authority: String, target: String, fields: [(name: String, value: String)]
    ) {
        self.method = method
        self.scheme = scheme
        self.authority = authority
        self.target = target
        self.fields = fields.map { ($0.name.lowercased(), $0.value) }
    }

    public static func == (lhs: SignedRequestParts, rhs: SignedRequestParts) -> Bool {
        lhs.method == rhs.method && lhs.scheme == rhs.scheme && lhs.authority == rhs.authority
            && lhs.target == rhs.target && lhs.fields.elementsEqual(rhs.fields, by: { $0 == $1 })
    }

    /// `@path`: the target up to `?`, `/` when empty.
    public var path: String {
        let path = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return path.isEmpty ? "/" : String(path)
    }

    /// `@query`: `?` and the query, or `?` alone when there is none (RFC 9421 §2.2.7).
    public var query: String {
        guard let mark = target.firstIndex(of: "?") else { return "?" }
        return String(target[mark...])
    }

    /// `@authority` normalized (RFC 9421 §2.2.3): lower case, without the default port of `http` or `https`.
    public var normalizedAuthority: String {
        var value = authority.lowercased()
        for port in [":80", ":443"] where value.hasSuffix(port) { value.removeLast(port.count) }
        return value
    }
}

/// One HTTP message signature (RFC 9421) taken from a request's `Signature-Input` and `Signature` fields.
public struct MessageSignature: Sendable, Equatable {
    /// The label the signature is given under (`sig1`).
    public let label: String
    /// The covered component identifiers, in order.
    public let components: [String]
    /// The signature parameters (the inner list, whose parameters are `created`, `keyid`, ...).
    public let parameters: StructuredField.InnerList
    /// The signature bytes.
    public let signature: [UInt8]

    /// The label this API prefers when a request carries several signatures.
    public static let preferredLabel = "ensure"

    /// Derived components this verifier can compute.
    public static let derivedComponents: Set<String> = [
        "@method", "@target-uri", "@authority", "@scheme", "@request-target", "@path", "@query",
    ]

    /// Creates a signature from parsed values.
    public init(label: String, components: [String], parameters: StructuredField.InnerList, signature: [UInt8]) {
        self.label = label
        self.components = components
        self.parameters = parameters
        self.signature = signature
    }

    /// Parses the two header values. When they hold several signatures, the one labelled ``preferredLabel`` is
    /// taken; with several and none of them so labelled, the request is refused.
    public static func parse(signatureInput: String, signature: String) throws(AuthFailure) -> MessageSignature {
        let inputs: [(key: String, member: StructuredField.Member)]
        let signatures: [(key: String, member: StructuredField.Member)]
        do {
            inputs = try StructuredField.parseDictionary(signatureInput, field: "Signature-Input")
            signatures = try StructuredField.parseDictionary(signature, field: "Signature")
        } catch {
            throw AuthFailure(.malformedSignature, error.description)
        }
        let label: String
        if inputs.contains(where: { $0.key == preferredLabel }) {
            label = preferredLabel
        } else if inputs.count == 1 {
            label = inputs[0].key
        } else {
            throw AuthFailure(
                .malformedSignature,
                inputs.isEmpty
                    ? "Signature-Input is empty"
                    : "Signature-Input holds several signatures and none is labelled \(preferredLabel)")
        }
        guard case .innerList(let list)? = inputs.first(where: { $0.key == label })?.member else {
            throw AuthFailure(.malformedSignature, "Signature-Input member \(label) is not an inner list")
        }
        guard case .item(let item)? = signatures.first(where: { $0.key == label })?.member else {
            throw AuthFailure(.malformedSignature, "Signature has no member \(label)")
        }
        guard case .bytes(let bytes) = item.value, item.parameters.isEmpty else {
            throw AuthFailure(.malformedSignature, "Signature member \(label) is not a byte sequence")
        }
        var components: [String] = []
        for component in list.items {
            guard case .string(let name) = component.value else {
                throw AuthFailure(.malformedSignature, "Signature-Input \(label): component identifiers are strings")
            }
            guard component.parameters.isEmpty else {
                throw AuthFailure(
                    .malformedSignature,
                    "Signature-Input \(label): component parameters (\(name);...) are not supported")
            }
            guard !components.contains(name) else {
                throw AuthFailure(.malformedSignature, "Signature-Input \(label) covers \(name) twice")
            }
            components.append(name)
        }
        return MessageSignature(label: label, components: components, parameters: list, signature: bytes)
    }

    /// The signature base (RFC 9421 §2.5) of `request` for this signature: one line `"<id>": <value>` per covered
    /// component, then the `@signature-params` line, joined by LF with no trailing LF.
    public func signatureBase(for request: SignedRequestParts) throws(AuthFailure) -> [UInt8] {
        var lines: [String] = []
        for name in components {
            let value = try Self.componentValue(name, of: request)
            guard !value.utf8.contains(where: { $0 == 0x0a || $0 == 0x0d }) else {
                throw AuthFailure(.malformedSignature, "component \(name) holds a line break")
            }
            lines.append("\"\(name)\": \(value)")
        }
        lines.append("\"@signature-params\": \(StructuredField.serialize(parameters))")
        return Array(lines.joined(separator: "\n").utf8)
    }

    /// The value of one component of `request`.
    static func componentValue(_ name: String, of request: SignedRequestParts) throws(AuthFailure) -> String {
        switch name {
        case "@method": return request.method
        case "@scheme": return request.scheme.lowercased()
        case "@authority": return request.normalizedAuthority
        case "@target-uri": return "\(request.scheme.lowercased())://\(request.normalizedAuthority)\(request.target)"
        case "@request-target": return request.target
        case "@path": return request.path
        case "@query": return request.query
        default:
            guard !name.hasPrefix("@") else {
                throw AuthFailure(.malformedSignature, "the derived component \(name) is not supported")
            }
            guard !name.isEmpty, name == name.lowercased() else {
                throw AuthFailure(.malformedSignature, "field component \(name) must be a lower-case field name")
            }
            let values = request.fields.filter { $0.name == name }.map {
                $0.value.trimmingSpaces()
            }
            guard !values.isEmpty else {
                throw AuthFailure(.missingComponent, "the covered field \(name) is not in the request")
            }
            return values.joined(separator: ", ")
        }
    }

    /// Whether the signature verifies with `key` over the signature base of `request` (RFC 9421 §3.3.6: Ed25519
    /// over the base itself, no prehash).
    public func verifies(with key: Ed25519PublicKey, for request: SignedRequestParts) throws(AuthFailure) -> Bool {
        guard let signature = Ed25519Signature(bytes: signature) else { return false }
        return key.isValidSignature(signature, forRaw: try signatureBase(for: request))
    }
}

/// What this API asks of a request signature beyond RFC 9421 itself (docs/api.md, "Access").
public struct RequestSignatureProfile: Sendable {
    /// The components every signature covers. The API identifies the target by `@authority`, `@path` and
    /// `@query` (not `@target-uri`), so a TLS-terminating proxy in front of the node does not change what was
    /// signed.
    public static let requiredComponents = ["@method", "@authority", "@path", "@query"]
    /// Parameters this API knows; any other is refused.
    public static let knownParameters: Set<String> = ["created", "expires", "nonce", "alg", "keyid", "tag"]

    /// The oldest `created` accepted, in seconds before now.
    public var maxAgeSeconds: Int64 = 300
    /// How far in the future `created` may be, in seconds (clock skew).
    public var maxSkewSeconds: Int64 = 30

    /// Creates the default profile (300 s maximum age, 30 s skew).
    public init() {}

    /// A signature that passed the profile: who signed, the nonce, and until when (Unix seconds) the signature
    /// could be accepted, which is how long its nonce must be remembered.
    public struct Accepted: Sendable, Equatable {
        /// The signing key (`keyid`).
        public let key: Ed25519PublicKey
        /// The nonce.
        public let nonce: String
        /// The last second at which the signature would still be accepted.
        public let acceptableUntil: Int64
    }

    /// Checks `signature` against the profile at `now` (Unix seconds) and verifies it over `request`.
    /// `hasBody` requires `content-digest` to be covered. The nonce is not checked here; the caller remembers it.
    public func check(
        _ signature: MessageSignature, request: SignedRequestParts, hasBody: Bool, now: Int64
    ) throws(AuthFailure) -> Accepted {
        let list = signature.parameters
        for parameter in list.parameters where !Self.knownParameters.contains(parameter.key) {
            throw AuthFailure(.malformedSignature, "the signature parameter \(parameter.key) is not known")
        }
        if let alg = list.parameter("alg") {
            guard case .string(let name) = alg else {
                throw AuthFailure(.malformedSignature, "alg must be a string")
            }
            guard name == "ed25519" else {
                throw AuthFailure(.unsupportedAlgorithm, "alg \(name.prefix(40)) is not supported; use ed25519")
            }
        } else {
            throw AuthFailure(.unsupportedAlgorithm, "alg is missing; this API takes alg=\"ed25519\" only")
        }
        guard case .string(let keyID)? = list.parameter("keyid") else {
            throw AuthFailure(.missingParameter, "keyid is missing or not a string")
        }
        guard keyID.utf8.count == 64, keyID == keyID.lowercased(), let key = Ed25519PublicKey(hex: keyID) else {
            throw AuthFailure(
                .missingParameter, "keyid must be the Ed25519 public key in 64 lower-case hexadecimal characters")
        }
        guard case .integer(let created)? = list.parameter("created") else {
            throw AuthFailure(.missingParameter, "created is missing or not an integer")
        }
        guard case .string(let nonce)? = list.parameter("nonce") else {
            throw AuthFailure(.missingParameter, "nonce is missing or not a string")
        }
        guard (16...128).contains(nonce.utf8.count) else {
            throw AuthFailure(.missingParameter, "nonce must be 16 to 128 characters")
        }
        var acceptableUntil = created + maxAgeSeconds
        if let expiresItem = list.parameter("expires") {
            guard case .integer(let expires) = expiresItem, expires > created else {
                throw AuthFailure(.malformedSignature, "expires must be an integer later than created")
            }
            acceptableUntil = min(acceptableUntil, expires)
        }
        guard created <= now + maxSkewSeconds else {
            throw AuthFailure(
                .createdInFuture, "created \(created) is more than \(maxSkewSeconds) s after now (\(now))")
        }
        if let expiresItem = list.parameter("expires"), case .integer(let expires) = expiresItem, now >= expires {
            throw AuthFailure(.expired, "the signature expired at \(expires); now is \(now)")
        }
        guard now - created <= maxAgeSeconds else {
            throw AuthFailure(.tooOld, "created \(created) is more than \(maxAgeSeconds) s before now (\(now))")
        }
        var required = Self.requiredComponents
        if hasBody { required.append("content-digest") }
        for name in required where !signature.components.contains(name) {
            throw AuthFailure(.missingComponent, "the signature does not cover \(name)")
        }
        guard try signature.verifies(with: key, for: request) else {
            throw AuthFailure(.badSignature, "the signature does not verify with keyid \(keyID)")
        }
        return Accepted(key: key, nonce: nonce, acceptableUntil: max(acceptableUntil, now))
    }
}

extension String {
    /// Without leading and trailing spaces and horizontal tabs (RFC 9110 OWS).
    func trimmingSpaces() -> String {
        let bytes = Array(utf8)
        var start = 0
        var end = bytes.count
        while start < end, bytes[start] == 0x20 || bytes[start] == 0x09 { start += 1 }
        while end > start, bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09 { end -= 1 }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }
}
