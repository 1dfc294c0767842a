import EnsureCrypto

/// Why a status list, an index into one, or a status list token was refused.
public enum StatusListError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `bits` is not 1, 2, 4 or 8.
    case unsupportedBits(Int)
    /// An index outside the list.
    case indexOutOfRange(index: Int, count: Int)
    /// A status value that does not fit in `bits` bits.
    case valueTooLarge(value: Int, bits: Int)
    /// A field of the JSON form or of the token is missing or wrong.
    case field(CredentialFieldError)
    /// `lst` is not valid zlib data.
    case compression(ZlibError)
    /// The token is not a valid JWS or has the wrong `typ`.
    case token(JWSError)
    /// The token's `kid` names no key the caller trusts.
    case unknownKey(kid: String?)
    /// The token's signature does not verify.
    case badSignature
    /// The token's `sub` is not the list URI the caller asked for.
    case subjectMismatch(expected: String, found: String)
    /// The token has expired.
    case expired(exp: Int64, now: Int64)

    public var description: String {
        switch self {
        case .unsupportedBits(let bits): return "status list bits must be 1, 2, 4 or 8, not \(bits)"
        case .indexOutOfRange(let index, let count): return "status index \(index) is outside the list (0..<\(count))"
        case .valueTooLarge(let value, let bits): return "status \(value) does not fit in \(bits) bits"
        case .field(let error): return "status list \(error)"
        case .compression(let error): return "status list lst: \(error)"
        case .token(let error): return "status list token: \(error)"
        case .unknownKey(let kid): return "status list token key \(kid ?? "(no kid)") is not trusted"
        case .badSignature: return "status list token signature does not verify"
        case .subjectMismatch(let expected, let found):
            return "status list token is for \(found), expected \(expected)"
        case .expired(let exp, let now): return "status list token expired at \(exp) (now \(now))"
        }
    }
}

/// The status values of draft-ietf-oauth-status-list §7.1 this project gives meaning to.
public enum CredentialStatus: UInt8, Sendable {
    /// 0x00: the credential is valid.
    case valid = 0
    /// 0x01: revoked for good.
    case invalid = 1
    /// 0x02: temporarily suspended.
    case suspended = 2
}

/// A Token Status List (draft-ietf-oauth-status-list §4): `bits` bits per credential, entry `i` at bit offset
/// `i * bits` counted from the least significant bit of byte 0.
public struct StatusList: Sendable, Equatable {
    /// Bits per entry: 1, 2, 4 or 8.
    public let bits: Int
    /// The uncompressed byte array.
    public private(set) var bytes: [UInt8]

    /// The number of entries.
    public var count: Int { bytes.count * 8 / bits }

    /// A list of at least `count` entries, all 0 (valid); the byte array is rounded up to whole bytes.
    public init(bits: Int, count: Int) throws(StatusListError) {
        guard [1, 2, 4, 8].contains(bits) else { throw .unsupportedBits(bits) }
        guard count >= 0 else { throw .indexOutOfRange(index: count, count: 0) }
        self.bits = bits
        self.bytes = [UInt8](repeating: 0, count: (count * bits + 7) / 8)
    }

    /// A list over an existing byte array.
    public init(bits: Int, bytes: [UInt8]) throws(StatusListError) {
        guard [1, 2, 4, 8].contains(bits) else { throw .unsupportedBits(bits) }
        self.bits = bits
        self.bytes = bytes
    }

    /// The status at `index`.
    public func status(at index: Int) throws(StatusListError) -> UInt8 {
        guard index >= 0, index < count else { throw .indexOutOfRange(index: index, count: count) }
        let bitOffset = index * bits
        let mask = UInt8(truncatingIfNeeded: (1 << bits) - 1)
        return (bytes[bitOffset / 8] >> UInt8(bitOffset % 8)) & mask
    }

    /// Sets the status at `index`; one entry changes, nothing else.
    public mutating func setStatus(_ value: UInt8, at index: Int) throws(StatusListError) {
        guard index >= 0, index < count else { throw .indexOutOfRange(index: index, count: count) }
        guard Int(value) < 1 << bits else { throw .valueTooLarge(value: Int(value), bits: bits) }
        let bitOffset = index * bits
        let shift = UInt8(bitOffset % 8)
        let mask = UInt8(truncatingIfNeeded: (1 << bits) - 1) << shift
        bytes[bitOffset / 8] = (bytes[bitOffset / 8] & ~mask) | (value << shift)
    }

    /// The JSON form `{"bits": .., "lst": base64url(zlib(bytes))}` (§4.2).
    public var json: JSONValue {
        .object([("bits", .integer(Int64(bits))), ("lst", .string(Base64.encodeURL(Zlib.compress(bytes))))])
    }

    /// Decodes the JSON form; refuses lists that inflate beyond `maxBytes` (default 16 MiB, 128 Mi one-bit entries).
    public static func decode(_ value: JSONValue, path: String = "status_list", maxBytes: Int = 16 << 20)
        throws(StatusListError) -> StatusList
    {
        guard case .object = value else {
            throw .field(CredentialFieldError(path: path, problem: "must be an object"))
        }
        guard let bits = value["bits"]?.integerValue else {
            throw .field(CredentialFieldError(path: path + ".bits", problem: "must be an integer"))
        }
        guard let lst = value["lst"]?.stringValue else {
            throw .field(CredentialFieldError(path: path + ".lst", problem: "must be a string"))
        }
        guard let compressed = try? Base64.decodeURL(lst) else {
            throw .field(CredentialFieldError(path: path + ".lst", problem: "must be unpadded base64url"))
        }
        let bytes: [UInt8]
        do {
            bytes = try Zlib.decompress(compressed, maxOutputBytes: maxBytes)
        } catch {
            throw .compression(error)
        }
        return try StatusList(bits: Int(bits), bytes: bytes)
    }
}

/// A Status List Token in JWT form (draft-ietf-oauth-status-list §5.1): `typ: statuslist+jwt`, `sub` the list
/// URI, `iat`, `exp`, `ttl` and the `status_list`.
public enum StatusListToken {
    /// The media type in the header.
    public static let type = "statuslist+jwt"

    /// Signs a token for `list` published at `uri`.
    public static func sign(
        _ list: StatusList, uri: String, issuer: String?, issuedAt: Int64, expiresAt: Int64?, ttl: Int64?,
        key: JWSSigningKey, kid: String
    ) -> String {
        var claims: [(String, JSONValue)] = [("sub", .string(uri)), ("iat", .integer(issuedAt))]
        if let issuer { claims.append(("iss", .string(issuer))) }
        if let expiresAt { claims.append(("exp", .integer(expiresAt))) }
        if let ttl { claims.append(("ttl", .integer(ttl))) }
        claims.append(("status_list", list.json))
        return CompactJWS.sign(
            header: [("kid", .string(kid)), ("typ", .string(type))], payload: .object(claims), with: key)
    }

    /// Verifies a token and returns its list: the header `typ`, a key found by `kid`, the signature, the `sub`
    /// (when `expectedURI` is given), `iat` present and `exp` (when present) after `now`.
    public static func verify(
        _ text: String, expectedURI: String?, now: Int64, key lookup: (String?) -> PublicJWK?
    ) throws(StatusListError) -> StatusList {
        let jws: CompactJWS
        do {
            jws = try CompactJWS.parse(text.filter { !$0.isWhitespace })
            try jws.requireType(type)
        } catch {
            throw .token(error)
        }
        let kid = jws.header["kid"]?.stringValue
        guard let key = lookup(kid) else { throw .unknownKey(kid: kid) }
        guard jws.isValidSignature(with: key) else { throw .badSignature }
        let claims = jws.payload
        guard let sub = claims["sub"]?.stringValue else {
            throw .field(CredentialFieldError(path: "sub", problem: "must be a string"))
        }
        if let expectedURI, sub != expectedURI { throw .subjectMismatch(expected: expectedURI, found: sub) }
        guard claims["iat"]?.integerValue != nil else {
            throw .field(CredentialFieldError(path: "iat", problem: "must be an integer"))
        }
        if let expValue = claims["exp"] {
            guard let exp = expValue.integerValue else {
                throw .field(CredentialFieldError(path: "exp", problem: "must be an integer"))
            }
            guard exp > now else { throw .expired(exp: exp, now: now) }
        }
        guard let list = claims["status_list"] else {
            throw .field(CredentialFieldError(path: "status_list", problem: "is missing"))
        }
        return try StatusList.decode(list)
    }
}
