import EnsureCrypto

/// Why an SD-JWT (RFC 9901) was refused. Every case names the disclosure, digest or JSON path at fault.
public enum SDJWTError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The compact serialization is not `<JWT>~<disclosure>~...~[<KB-JWT>]`.
    case malformedSerialization(String)
    /// The issuer-signed JWT is not a valid JWS.
    case issuerJWT(JWSError)
    /// The key-binding JWT is not a valid JWS.
    case keyBindingJWT(JWSError)
    /// A disclosure (by position, 0-based) is not base64url of a JSON array [salt, name, value] or [salt, value].
    case malformedDisclosure(index: Int, reason: String)
    /// The same disclosure (same digest) appears twice.
    case duplicateDisclosure(digest: String)
    /// A digest occurs more than once in the payload (in `_sd` arrays or `...` array elements).
    case digestReferencedTwice(digest: String)
    /// A disclosure's digest is not in the signed payload: it was altered or belongs to another credential.
    case disclosureNotReferenced(digest: String)
    /// A disclosed claim has the name of a claim already present in the same object.
    case claimNameClash(path: String)
    /// A disclosure discloses a reserved name (`_sd` or `...`).
    case reservedClaimName(path: String, name: String)
    /// `_sd` is not an array of strings, `_sd_alg` is misplaced, or `...` is used outside a one-member array element.
    case sdClaimMisuse(path: String, reason: String)
    /// An object-property disclosure is referenced from an array element, or an array-element disclosure from `_sd`.
    case disclosureShapeMismatch(digest: String, expected: String)
    /// `_sd_alg` names a digest algorithm other than `sha-256`.
    case unsupportedDigestAlgorithm(String)
    /// The JWT payload is not a JSON object.
    case payloadNotObject

    public var description: String {
        switch self {
        case .malformedSerialization(let reason): return "malformed SD-JWT serialization: \(reason)"
        case .issuerJWT(let error): return "issuer-signed JWT: \(error)"
        case .keyBindingJWT(let error): return "key-binding JWT: \(error)"
        case .malformedDisclosure(let index, let reason): return "disclosure \(index): \(reason)"
        case .duplicateDisclosure(let digest): return "disclosure \(digest) appears more than once"
        case .digestReferencedTwice(let digest): return "digest \(digest) appears more than once in the payload"
        case .disclosureNotReferenced(let digest):
            return "disclosure with digest \(digest) is not referenced by the signed payload"
        case .claimNameClash(let path): return "disclosed claim \(path) already exists"
        case .reservedClaimName(let path, let name): return "disclosure at \(path) uses the reserved name \"\(name)\""
        case .sdClaimMisuse(let path, let reason): return "\(path): \(reason)"
        case .disclosureShapeMismatch(let digest, let expected):
            return "disclosure \(digest) is referenced where \(expected) disclosure is required"
        case .unsupportedDigestAlgorithm(let alg): return "_sd_alg \"\(alg)\" is not supported (sha-256 only)"
        case .payloadNotObject: return "the JWT payload is not a JSON object"
        }
    }
}

/// One disclosure: a salt, the claim name (nil for an array element) and the value, with its base64url form and
/// its digest, SHA-256 over the ASCII of that base64url form (RFC 9901 §4.2.3).
public struct Disclosure: Sendable, Equatable {
    /// The base64url text as it travels.
    public let encoded: String
    /// The salt.
    public let salt: String
    /// The claim name; nil for an array-element disclosure.
    public let claimName: String?
    /// The claim value.
    public let value: JSONValue
    /// base64url(SHA-256(ASCII(encoded))).
    public let digest: String

    /// Builds a disclosure from its parts; the JSON array is written compactly.
    public init(salt: String, claimName: String?, value: JSONValue) {
        var elements: [JSONValue] = [.string(salt)]
        if let claimName { elements.append(.string(claimName)) }
        elements.append(value)
        self.salt = salt
        self.claimName = claimName
        self.value = value
        self.encoded = Base64.encodeURL(JSONValue.array(elements).serializedBytes)
        self.digest = sha256Base64URL(encoded)
    }

    /// Parses a disclosure received as base64url text; `index` is its position, for the error.
    public init(encoded: String, index: Int = 0) throws(SDJWTError) {
        guard let bytes = try? Base64.decodeURL(encoded) else {
            throw .malformedDisclosure(index: index, reason: "not unpadded base64url")
        }
        let parsed: JSONValue
        do {
            parsed = try JSONValue.parse(bytes)
        } catch {
            throw .malformedDisclosure(index: index, reason: error.description)
        }
        guard let elements = parsed.arrayValue else {
            throw .malformedDisclosure(index: index, reason: "not a JSON array")
        }
        guard let salt = elements.first?.stringValue else {
            throw .malformedDisclosure(index: index, reason: "the first element (salt) must be a string")
        }
        switch elements.count {
        case 3:
            guard let name = elements[1].stringValue else {
                throw .malformedDisclosure(index: index, reason: "the claim name must be a string")
            }
            self.claimName = name
            self.value = elements[2]
        case 2:
            self.claimName = nil
            self.value = elements[1]
        default:
            throw .malformedDisclosure(index: index, reason: "must have 2 or 3 elements, has \(elements.count)")
        }
        self.salt = salt
        self.encoded = encoded
        self.digest = sha256Base64URL(encoded)
    }
}

/// An SD-JWT or SD-JWT+KB in compact serialization: `<issuer JWT>~<disclosure>~...~<disclosure>~[<KB-JWT>]`.
public struct SDJWT: Sendable {
    /// The issuer-signed JWT.
    public let issuerJWT: CompactJWS
    /// The disclosures, in the order received.
    public let disclosures: [Disclosure]
    /// The key-binding JWT, if present.
    public let keyBindingJWT: CompactJWS?

    /// Everything up to and including the last `~`: the input of the KB-JWT's `sd_hash`.
    public let presentationPrefix: String

    /// base64url(SHA-256(``presentationPrefix``)): the `sd_hash` a key-binding JWT must carry.
    public var sdHash: String { sha256Base64URL(presentationPrefix) }

    /// The full compact serialization.
    public var serialized: String { presentationPrefix + (keyBindingJWT?.text ?? "") }

    /// Assembles an SD-JWT from parts already parsed or built.
    public init(issuerJWT: CompactJWS, disclosures: [Disclosure], keyBindingJWT: CompactJWS? = nil) {
        self.presentationPrefix = ([issuerJWT.text] + disclosures.map(\.encoded)).joined(separator: "~") + "~"
        self.issuerJWT = issuerJWT
        self.disclosures = disclosures
        self.keyBindingJWT = keyBindingJWT
    }

    private init(
        issuerJWT: CompactJWS, disclosures: [Disclosure], keyBindingJWT: CompactJWS?, presentationPrefix: String
    ) {
        self.issuerJWT = issuerJWT
        self.disclosures = disclosures
        self.keyBindingJWT = keyBindingJWT
        self.presentationPrefix = presentationPrefix
    }

    /// Parses the compact serialization strictly: no empty disclosure segments, no repeated disclosure,
    /// and at most `maxBytes` of input.
    public static func parse(_ text: String, maxBytes: Int = 64 * 1024) throws(SDJWTError) -> SDJWT {
        guard text.utf8.count <= maxBytes else {
            throw .malformedSerialization("longer than \(maxBytes) bytes")
        }
        let bytes = Array(text.utf8)
        guard bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
            throw .malformedSerialization("contains whitespace or non-ASCII characters")
        }
        let parts = bytes.split(separator: UInt8(ascii: "~"), omittingEmptySubsequences: false)
        guard parts.count >= 2 else { throw .malformedSerialization("no \"~\" after the issuer-signed JWT") }
        let issuerJWT: CompactJWS
        do {
            issuerJWT = try CompactJWS.parse(utf8: parts[0])
        } catch {
            throw .issuerJWT(error)
        }
        var disclosures: [Disclosure] = []
        var seen = Set<String>()
        for (offset, part) in parts[1..<(parts.count - 1)].enumerated() {
            guard !part.isEmpty else { throw .malformedSerialization("empty disclosure at position \(offset)") }
            let disclosure = try Disclosure(encoded: String(decoding: part, as: UTF8.self), index: offset)
            guard seen.insert(disclosure.digest).inserted else { throw .duplicateDisclosure(digest: disclosure.digest) }
            disclosures.append(disclosure)
        }
        var keyBinding: CompactJWS?
        if let last = parts.last, !last.isEmpty {
            do {
                keyBinding = try CompactJWS.parse(utf8: last)
            } catch {
                throw .keyBindingJWT(error)
            }
        }
        // The prefix as received: the same text the parts rebuild, since empty segments were refused.
        let prefixEnd = parts[parts.count - 1].startIndex
        return SDJWT(
            issuerJWT: issuerJWT, disclosures: disclosures, keyBindingJWT: keyBinding,
            presentationPrefix: String(decoding: bytes[..<prefixEnd], as: UTF8.self))
    }

    /// The payload with the disclosed claims put in place of their digests (RFC 9901 §7.1 steps 3-5):
    /// `_sd`, `_sd_alg` and undisclosed `...` elements removed. Refuses every structure the RFC says to refuse.
    public func processedPayload() throws(SDJWTError) -> JSONValue {
        try SDJWTPayloadProcessor.process(payload: issuerJWT.payload, disclosures: disclosures)
    }

    /// The same SD-JWT with only the disclosures for which `keep` is true, and no key-binding JWT.
    public func keeping(_ keep: (Disclosure) -> Bool) -> SDJWT {
        SDJWT(issuerJWT: issuerJWT, disclosures: disclosures.filter(keep))
    }
}

/// Replaces digests by disclosed claims, recursively, enforcing RFC 9901's refusal rules.
enum SDJWTPayloadProcessor {
    static let sdKey = "_sd"
    static let algorithmKey = "_sd_alg"
    static let ellipsis = "..."

    struct State {
        var byDigest: [String: Disclosure]
        var referenced = Set<String>()
        var used = Set<String>()
    }

    static func process(payload: JSONValue, disclosures: [Disclosure]) throws(SDJWTError) -> JSONValue {
        guard case .object(let members) = payload else { throw .payloadNotObject }
        if let alg = payload[algorithmKey] {
            guard alg.stringValue == "sha-256" else {
                throw .unsupportedDigestAlgorithm(alg.stringValue ?? alg.serialized)
            }
        }
        var byDigest: [String: Disclosure] = [:]
        for disclosure in disclosures {
            guard byDigest.updateValue(disclosure, forKey: disclosure.digest) == nil else {
                throw .duplicateDisclosure(digest: disclosure.digest)
            }
        }
        var state = State(byDigest: byDigest)
        let topLevel = JSONValue.object(members.filter { $0.0 != algorithmKey })
        let result = try processValue(topLevel, path: "$", state: &state)
        for disclosure in disclosures where !state.used.contains(disclosure.digest) {
            throw .disclosureNotReferenced(digest: disclosure.digest)
        }
        return result
    }

    static func processValue(_ value: JSONValue, path: String, state: inout State) throws(SDJWTError) -> JSONValue {
        switch value {
        case .object(let members): return try processObject(members, path: path, state: &state)
        case .array(let elements): return try processArray(elements, path: path, state: &state)
        default: return value
        }
    }

    static func processObject(_ members: [(String, JSONValue)], path: String, state: inout State)
        throws(SDJWTError) -> JSONValue
    {
        var output: [(String, JSONValue)] = []
        var names = Set<String>()
        var digests: [String] = []
        for (name, value) in members {
            switch name {
            case sdKey:
                guard let array = value.arrayValue else {
                    throw .sdClaimMisuse(path: path + "._sd", reason: "_sd must be an array")
                }
                for element in array {
                    guard let digest = element.stringValue else {
                        throw .sdClaimMisuse(path: path + "._sd", reason: "_sd must hold only strings")
                    }
                    digests.append(digest)
                }
            case algorithmKey:
                throw .sdClaimMisuse(path: path + "._sd_alg", reason: "_sd_alg is allowed only at the top level")
            case ellipsis:
                throw .sdClaimMisuse(
                    path: path + "[\"...\"]", reason: "\"...\" is allowed only as an array element's sole member")
            default:
                names.insert(name)
                output.append((name, try processValue(value, path: path + "." + name, state: &state)))
            }
        }
        for digest in digests {
            guard state.referenced.insert(digest).inserted else { throw .digestReferencedTwice(digest: digest) }
            guard let disclosure = state.byDigest[digest] else { continue }  // a decoy or an undisclosed claim
            guard let name = disclosure.claimName else {
                throw .disclosureShapeMismatch(digest: digest, expected: "an object-property")
            }
            guard name != sdKey, name != ellipsis else {
                throw .reservedClaimName(path: path, name: name)
            }
            guard names.insert(name).inserted else { throw .claimNameClash(path: path + "." + name) }
            state.used.insert(digest)
            output.append((name, try processValue(disclosure.value, path: path + "." + name, state: &state)))
        }
        return .object(output)
    }

    static func processArray(_ elements: [JSONValue], path: String, state: inout State) throws(SDJWTError)
        -> JSONValue
    {
        var output: [JSONValue] = []
        for (index, element) in elements.enumerated() {
            let elementPath = path + "[\(index)]"
            if case .object(let members) = element, members.contains(where: { $0.0 == ellipsis }) {
                guard members.count == 1, let digest = members[0].1.stringValue else {
                    throw .sdClaimMisuse(
                        path: elementPath, reason: "an array-element digest must be {\"...\": \"<digest>\"} alone")
                }
                guard state.referenced.insert(digest).inserted else { throw .digestReferencedTwice(digest: digest) }
                guard let disclosure = state.byDigest[digest] else { continue }
                guard disclosure.claimName == nil else {
                    throw .disclosureShapeMismatch(digest: digest, expected: "an array-element")
                }
                state.used.insert(digest)
                output.append(try processValue(disclosure.value, path: elementPath, state: &state))
            } else {
                output.append(try processValue(element, path: elementPath, state: &state))
            }
        }
        return .array(output)
    }
}
