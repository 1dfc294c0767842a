public import Crypto
public import EnsureCrypto
import Foundation

/// The JWS algorithms the credential formats accept. `none`, HMAC and RSA are never accepted (RFC 8725 §3.1).
public enum JWSAlgorithm: String, Sendable, Equatable, CaseIterable {
    /// ECDSA over P-256 with SHA-256; signatures are the 64-byte r‖s of RFC 7518 §3.4.
    case es256 = "ES256"
    /// Ed25519 (RFC 8037).
    case edDSA = "EdDSA"
}

/// Why a JWS in compact serialization was refused. `part` names the segment (`header`, `payload`, `signature`).
public enum JWSError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The text is not three dot-separated segments.
    case notCompactSerialization(segments: Int)
    /// A segment is not canonical unpadded base64url.
    case invalidBase64(part: String)
    /// A segment does not hold a JSON object.
    case invalidJSON(part: String, reason: String)
    /// The header has no `alg` string.
    case missingAlgorithm
    /// The header names an algorithm this implementation refuses.
    case unsupportedAlgorithm(String)
    /// The header `typ` is not the one the format requires.
    case wrongType(expected: String, found: String?)
    /// The signature has the wrong length for its algorithm.
    case invalidSignatureLength(Int)

    public var description: String {
        switch self {
        case .notCompactSerialization(let segments):
            return "a JWS must have 3 dot-separated segments, found \(segments)"
        case .invalidBase64(let part): return "JWS \(part) is not unpadded base64url"
        case .invalidJSON(let part, let reason): return "JWS \(part) is not a JSON object: \(reason)"
        case .missingAlgorithm: return "JWS header has no \"alg\""
        case .unsupportedAlgorithm(let alg): return "JWS algorithm \"\(alg)\" is not accepted (ES256 or EdDSA)"
        case .wrongType(let expected, let found):
            return "JWS header typ must be \"\(expected)\", found \(found.map { "\"\($0)\"" } ?? "none")"
        case .invalidSignatureLength(let length): return "JWS signature has \(length) bytes, expected 64"
        }
    }
}

/// A public key in JWK form (RFC 7517): a P-256 key (`kty: EC`) or an Ed25519 key (`kty: OKP`), with its `kid`.
public struct PublicJWK: Sendable, Equatable {
    /// The key material.
    public enum Key: Sendable, Equatable {
        /// A P-256 key for ES256.
        case p256(P256.Signing.PublicKey)
        /// An Ed25519 key for EdDSA.
        case ed25519(Ed25519PublicKey)

        public static func == (lhs: Key, rhs: Key) -> Bool {
            switch (lhs, rhs) {
            case (.p256(let a), .p256(let b)): return a.rawRepresentation == b.rawRepresentation
            case (.ed25519(let a), .ed25519(let b)): return a == b
            default: return false
            }
        }
    }

    /// The key.
    public let key: Key
    /// The key id, if the JWK has one.
    public let kid: String?

    /// Wraps a key and an optional key id.
    public init(key: Key, kid: String? = nil) {
        self.key = key
        self.kid = kid
    }

    /// The algorithm this key verifies.
    public var algorithm: JWSAlgorithm {
        switch key {
        case .p256: return .es256
        case .ed25519: return .edDSA
        }
    }

    /// The JWK as a JSON object, members in the order of RFC 7638 (plus `kid` last when present).
    public var json: JSONValue {
        var members: [(String, JSONValue)]
        switch key {
        case .p256(let publicKey):
            let raw = Array(publicKey.rawRepresentation)
            members = [
                ("crv", .string("P-256")), ("kty", .string("EC")),
                ("x", .string(Base64.encodeURL(raw[0..<32]))), ("y", .string(Base64.encodeURL(raw[32..<64]))),
            ]
        case .ed25519(let publicKey):
            members = [
                ("crv", .string("Ed25519")), ("kty", .string("OKP")), ("x", .string(Base64.encodeURL(publicKey.bytes))),
            ]
        }
        if let kid { members.append(("kid", .string(kid))) }
        return .object(members)
    }

    /// The RFC 7638 thumbprint (SHA-256 over the required members in lexicographic order), base64url.
    public var thumbprint: String {
        let required = JSONValue.object((json.objectMembers ?? []).filter { $0.0 != "kid" })
        return Base64.encodeURL(EnsureCrypto.SHA256.hash(required.serializedBytes).bytes)
    }

    /// Parses a public JWK; `path` names where it was found, for the error. Private members (`d`) are refused
    /// so that a private key is never accepted where a public one is expected.
    public static func parse(_ value: JSONValue, path: String) throws(CredentialFieldError) -> PublicJWK {
        guard case .object = value else { throw CredentialFieldError(path: path, problem: "must be a JWK object") }
        guard value["d"] == nil else {
            throw CredentialFieldError(path: path + ".d", problem: "a public JWK must not carry a private key")
        }
        let kid = value["kid"]?.stringValue
        if value["kid"] != nil, kid == nil {
            throw CredentialFieldError(path: path + ".kid", problem: "must be a string")
        }
        switch (value["kty"]?.stringValue, value["crv"]?.stringValue) {
        case ("EC", "P-256"):
            let x = try coordinate(value, "x", path: path)
            let y = try coordinate(value, "y", path: path)
            guard let key = try? P256.Signing.PublicKey(rawRepresentation: x + y) else {
                throw CredentialFieldError(path: path, problem: "x and y are not a point on P-256")
            }
            return PublicJWK(key: .p256(key), kid: kid)
        case ("OKP", "Ed25519"):
            let x = try coordinate(value, "x", path: path)
            guard let key = Ed25519PublicKey(bytes: x) else {
                throw CredentialFieldError(path: path + ".x", problem: "must be 32 bytes")
            }
            return PublicJWK(key: .ed25519(key), kid: kid)
        default:
            throw CredentialFieldError(
                path: path, problem: "only kty EC with crv P-256, or kty OKP with crv Ed25519, is accepted")
        }
    }

    private static func coordinate(_ value: JSONValue, _ name: String, path: String) throws(CredentialFieldError)
        -> [UInt8]
    {
        guard let text = value[name]?.stringValue, let bytes = try? Base64.decodeURL(text), bytes.count == 32 else {
            throw CredentialFieldError(path: path + "." + name, problem: "must be 32 bytes of base64url")
        }
        return bytes
    }

    /// Verifies a JWS signature over `signingInput` with this key.
    public func isValidSignature(_ signature: [UInt8], for signingInput: [UInt8]) -> Bool {
        switch key {
        case .p256(let publicKey):
            guard signature.count == 64,
                let ecdsa = try? P256.Signing.ECDSASignature(rawRepresentation: signature)
            else { return false }
            return publicKey.isValidSignature(ecdsa, for: signingInput)
        case .ed25519(let publicKey):
            guard let ed = Ed25519Signature(bytes: signature) else { return false }
            return publicKey.isValidSignature(ed, forRaw: signingInput)
        }
    }
}

/// A field of a credential, key or file that is missing or wrong: the JSON path and what is wrong with it.
public struct CredentialFieldError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Where, as a dotted path such as `cnf.jwk.x`.
    public let path: String
    /// What is wrong.
    public let problem: String

    /// Names a field and its problem.
    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }

    public var description: String { "\(path): \(problem)" }
}

/// A private key that signs JWS: P-256 (ES256) or Ed25519 (EdDSA).
public enum JWSSigningKey: Sendable {
    /// ES256.
    case p256(P256.Signing.PrivateKey)
    /// EdDSA.
    case ed25519(Ed25519PrivateKey)

    /// The algorithm this key signs with.
    public var algorithm: JWSAlgorithm {
        switch self {
        case .p256: return .es256
        case .ed25519: return .edDSA
        }
    }

    /// The public JWK of this key.
    public func publicJWK(kid: String? = nil) -> PublicJWK {
        switch self {
        case .p256(let key): return PublicJWK(key: .p256(key.publicKey), kid: kid)
        case .ed25519(let key): return PublicJWK(key: .ed25519(key.publicKey), kid: kid)
        }
    }

    /// Signs `input`; ES256 signatures come out as the raw 64-byte r‖s JWS requires.
    public func sign(_ input: [UInt8]) -> [UInt8] {
        switch self {
        case .p256(let key):
            // BoringSSL's ECDSA only fails on an invalid key, which a constructed key never is.
            guard let signature = try? key.signature(for: input) else {
                preconditionFailure("P-256 signing failed with a valid key")
            }
            return Array(signature.rawRepresentation)
        case .ed25519(let key):
            return key.signature(forRaw: input).bytes
        }
    }
}

/// A JWS in compact serialization (RFC 7515 §7.1) whose header and payload are JSON objects.
public struct CompactJWS: Sendable {
    /// The text as received.
    public let text: String
    /// The protected header.
    public let header: JSONValue
    /// The payload.
    public let payload: JSONValue
    /// `BASE64URL(header) || '.' || BASE64URL(payload)` as ASCII: what the signature covers.
    public let signingInput: [UInt8]
    /// The signature bytes.
    public let signature: [UInt8]

    /// The header's `alg`, if it is one this implementation accepts.
    public var algorithm: JWSAlgorithm? { header["alg"]?.stringValue.flatMap(JWSAlgorithm.init(rawValue:)) }

    /// Parses the compact serialization; refuses anything but unpadded base64url segments that hold JSON
    /// objects, and algorithms other than ES256 and EdDSA.
    public static func parse(_ text: some StringProtocol) throws(JWSError) -> CompactJWS {
        try parse(utf8: Array(text.utf8)[...])
    }

    /// Parses the compact serialization from its ASCII bytes (splitting bytes, not Characters, which is what
    /// keeps parsing cheap next to the signature checks).
    static func parse(utf8 bytes: ArraySlice<UInt8>) throws(JWSError) -> CompactJWS {
        let segments = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard segments.count == 3 else { throw .notCompactSerialization(segments: segments.count) }
        let header = try decodeObject(segments[0], part: "header")
        let payload = try decodeObject(segments[1], part: "payload")
        guard let signature = try? Base64.decodeURL(String(decoding: segments[2], as: UTF8.self)) else {
            throw .invalidBase64(part: "signature")
        }
        guard let alg = header["alg"]?.stringValue else { throw .missingAlgorithm }
        guard JWSAlgorithm(rawValue: alg) != nil else { throw .unsupportedAlgorithm(alg) }
        guard signature.count == 64 else { throw .invalidSignatureLength(signature.count) }
        return CompactJWS(
            text: String(decoding: bytes, as: UTF8.self), header: header, payload: payload,
            signingInput: Array(bytes[segments[0].startIndex..<segments[1].endIndex]), signature: signature)
    }

    private static func decodeObject(_ segment: ArraySlice<UInt8>, part: String) throws(JWSError) -> JSONValue {
        guard let bytes = try? Base64.decodeURL(String(decoding: segment, as: UTF8.self)) else {
            throw .invalidBase64(part: part)
        }
        let value: JSONValue
        do {
            value = try JSONValue.parse(bytes)
        } catch {
            throw .invalidJSON(part: part, reason: error.description)
        }
        guard case .object = value else { throw .invalidJSON(part: part, reason: "not an object") }
        return value
    }

    /// Checks the header `typ`.
    public func requireType(_ expected: String) throws(JWSError) {
        let found = header["typ"]?.stringValue
        guard found == expected else { throw .wrongType(expected: expected, found: found) }
    }

    /// Verifies the signature with `key`; the header's `alg` must be the key's algorithm.
    public func isValidSignature(with key: PublicJWK) -> Bool {
        guard algorithm == key.algorithm else { return false }
        return key.isValidSignature(signature, for: signingInput)
    }

    /// Signs a header and payload: `alg` is put first in the header, then the given members.
    public static func sign(header: [(String, JSONValue)], payload: JSONValue, with key: JWSSigningKey) -> String {
        let fullHeader = JSONValue.object(
            [("alg", .string(key.algorithm.rawValue))] + header.filter { $0.0 != "alg" })
        let input = Base64.encodeURL(fullHeader.serializedBytes) + "." + Base64.encodeURL(payload.serializedBytes)
        return input + "." + Base64.encodeURL(key.sign(Array(input.utf8)))
    }
}

/// base64url(SHA-256(ASCII(text))): the digest SD-JWT uses for disclosures and `sd_hash`.
func sha256Base64URL(_ text: String) -> String {
    Base64.encodeURL(EnsureCrypto.SHA256.hash(Array(text.utf8)).bytes)
}

/// A P-256 private key in JWK form (`kty: EC`, `crv: P-256`, `x`, `y`, `d`, optional `kid`): the issuer key file.
public enum P256PrivateJWK {
    /// The JWK of `key`.
    public static func json(_ key: P256.Signing.PrivateKey, kid: String?) -> JSONValue {
        var members = PublicJWK(key: .p256(key.publicKey), kid: kid).json.objectMembers ?? []
        members.insert(("d", .string(Base64.encodeURL(Array(key.rawRepresentation)))), at: 0)
        return .object(members)
    }

    /// Reads the JWK; `d` must be 32 bytes and derive the stated `x` and `y`.
    public static func parse(_ value: JSONValue) throws(CredentialFieldError) -> (
        key: P256.Signing.PrivateKey, kid: String?
    ) {
        guard value["kty"]?.stringValue == "EC", value["crv"]?.stringValue == "P-256" else {
            throw CredentialFieldError(path: "kty", problem: "must be EC with crv P-256")
        }
        guard let d = value["d"]?.stringValue, let raw = try? Base64.decodeURL(d), raw.count == 32,
            let key = try? P256.Signing.PrivateKey(rawRepresentation: raw)
        else { throw CredentialFieldError(path: "d", problem: "must be a 32-byte P-256 private scalar in base64url") }
        let members = (value.objectMembers ?? []).filter { $0.0 != "d" }
        let stated = try PublicJWK.parse(.object(members), path: "jwk")
        guard stated.key == .p256(key.publicKey) else {
            throw CredentialFieldError(path: "x", problem: "x and y do not belong to d")
        }
        return (key, stated.kid)
    }
}
