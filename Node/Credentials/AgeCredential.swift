public import Crypto
import EnsureCrypto
import Foundation

/// The age credential profile of Ensure: an SD-JWT VC whose only user claims are selectively disclosable
/// `age_over_NN` booleans, padded with decoy digests to a fixed count, with day-rounded timestamps.
public enum AgeProfile {
    /// The thresholds every credential answers (ISO 18013-5 style `age_over_NN`).
    public static let thresholds = [12, 14, 16, 18, 21, 65]
    /// The number of `_sd` digests in every credential: one per threshold, the rest decoys.
    public static let digestCount = 8
    /// The longest validity an issuer may give, in days.
    public static let maxValidityDays = 90
    /// The default credential type.
    public static let defaultVCT = "urn:ensure:credential:age:1"
    /// The SD-JWT VC media type in the issuer JWT header.
    public static let credentialType = "dc+sd-jwt"
    /// The key-binding JWT media type.
    public static let keyBindingType = "kb+jwt"
    /// The default number of single-use credentials in a batch.
    public static let defaultBatchSize = 30

    /// `age_over_NN` for a threshold.
    public static func claimName(_ threshold: Int) -> String { "age_over_\(threshold)" }

    /// The threshold of an `age_over_NN` claim name, or nil for any other name.
    public static func threshold(ofClaim name: String) -> Int? {
        guard name.hasPrefix("age_over_") else { return nil }
        let digits = name.dropFirst("age_over_".count)
        guard !digits.isEmpty, digits.count <= 3, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber),
            digits.first != "0" || digits.count == 1
        else { return nil }
        return Int(digits)
    }

    /// Which claim answers "over `threshold`?" from the claims available (ISO 18013-5 nearest rule): the smallest
    /// `M ≥ threshold` that is true proves "over"; otherwise the largest `M ≤ threshold` that is false proves
    /// "not over". Nil when no claim answers.
    public static func nearestAnswer(for threshold: Int, among claims: [Int: Bool]) -> Int? {
        if let over = claims.filter({ $0.key >= threshold && $0.value }).keys.min() { return over }
        return claims.filter { $0.key <= threshold && !$0.value }.keys.max()
    }
}

/// Why issuance was refused.
public enum IssuanceError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The validity is not 1 to 90 days.
    case invalidValidity(days: Int)
    /// The birth date is after the issuance day.
    case birthDateInFuture(CivilDate)
    /// The batch size is not 1 to 1000.
    case invalidBatchSize(Int)
    /// The status list has too few unallocated entries left for the batch.
    case statusListFull(free: Int, needed: Int)
    /// A field (issuer URL, kid, vct, status URI) is empty or malformed.
    case field(CredentialFieldError)

    public var description: String {
        switch self {
        case .invalidValidity(let days): return "validity must be 1 to \(AgeProfile.maxValidityDays) days, not \(days)"
        case .birthDateInFuture(let date): return "birth date \(date) is in the future"
        case .invalidBatchSize(let count): return "batch size must be 1 to 1000, not \(count)"
        case .statusListFull(let free, let needed):
            return "the status list has \(free) free entries, the batch needs \(needed); start a new list"
        case .field(let error): return error.description
        }
    }
}

/// Bytes from a random number generator: the injection point that keeps issuance and presentation deterministic
/// in tests. Production passes `SystemRandomNumberGenerator` (the kernel's CSPRNG).
func randomBytes(_ count: Int, using generator: inout some RandomNumberGenerator) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(count + 8)
    while out.count < count {
        let word = generator.next()
        for shift in stride(from: 0, to: 64, by: 8) { out.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
    }
    return Array(out.prefix(count))
}

/// A fresh P-256 key from the generator (retrying the negligible chance of a scalar outside the group order).
public func makeP256Key(using generator: inout some RandomNumberGenerator) -> P256.Signing.PrivateKey {
    while true {
        if let key = try? P256.Signing.PrivateKey(rawRepresentation: randomBytes(32, using: &generator)) {
            return key
        }
    }
}

/// An issuer's status list with the record of which entries it has handed out, so that random indices never
/// repeat across batches.
public struct IssuerStatusList: Sendable, Equatable {
    /// The URI the list is published under (the `status.status_list.uri` of its credentials).
    public let uri: String
    /// The statuses.
    public var list: StatusList
    /// One bit per entry: 1 once the index was given to a credential.
    public private(set) var allocated: StatusList

    /// A new list of `count` entries of `bits` bits, all valid and unallocated.
    public init(uri: String, bits: Int = 1, count: Int = 1 << 17) throws(StatusListError) {
        self.uri = uri
        self.list = try StatusList(bits: bits, count: count)
        self.allocated = try StatusList(bits: 1, count: list.count)
    }

    /// Wraps stored parts; the allocation bitmap must cover the list.
    public init(uri: String, list: StatusList, allocated: StatusList) throws(StatusListError) {
        guard allocated.bits == 1, allocated.count >= list.count else {
            throw .field(CredentialFieldError(path: "allocated", problem: "must be a 1-bit list covering the list"))
        }
        self.uri = uri
        self.list = list
        self.allocated = allocated
    }

    /// How many entries are still free.
    public var freeCount: Int {
        var used = 0
        for byte in allocated.bytes { used += byte.nonzeroBitCount }
        return list.count - used
    }

    /// Picks `count` distinct random free indices and marks them allocated. Refuses when the list would be more
    /// than 90% allocated, because random indices need a large pool to hide among (and to be found quickly).
    public mutating func allocate(_ count: Int, using generator: inout some RandomNumberGenerator)
        throws(IssuanceError) -> [Int]
    {
        let free = freeCount
        guard free - count >= list.count / 10 else { throw .statusListFull(free: free, needed: count) }
        var picked: [Int] = []
        while picked.count < count {
            let index = Int(generator.next(upperBound: UInt64(list.count)))
            // `allocated` covers `list`, so the index is in range.
            if (try? allocated.status(at: index)) == 0 {
                try? allocated.setStatus(1, at: index)
                picked.append(index)
            }
        }
        return picked
    }

    /// The JSON form kept in the issuer's local file.
    public var json: JSONValue {
        .object([("uri", .string(uri)), ("status_list", list.json), ("allocated", allocated.json)])
    }

    /// Reads the JSON form.
    public static func decode(_ value: JSONValue) throws(StatusListError) -> IssuerStatusList {
        guard let uri = value["uri"]?.stringValue else {
            throw .field(CredentialFieldError(path: "uri", problem: "must be a string"))
        }
        guard let list = value["status_list"], let allocated = value["allocated"] else {
            throw .field(CredentialFieldError(path: "status_list", problem: "and allocated are required"))
        }
        return try IssuerStatusList(
            uri: uri, list: StatusList.decode(list), allocated: StatusList.decode(allocated, path: "allocated"))
    }
}

/// One credential of a batch, as the wallet keeps it: the SD-JWT with all its disclosures (ending in `~`) and
/// the holder's private key for the `cnf` key.
public struct IssuedCredential: Sendable {
    /// The SD-JWT as issued.
    public let sdJWT: String
    /// The holder key bound in `cnf`.
    public let holderKey: P256.Signing.PrivateKey
    /// The index in the issuer's status list (for the issuer's records; the wallet does not need it).
    public let statusIndex: Int
    /// The `exp` of the credential.
    public let expiresAt: Int64
}

/// Issues age credentials as SD-JWT VCs signed with an issuer key (ES256, or EdDSA for testing verifiers).
public struct AgeCredentialIssuer: Sendable {
    /// The `iss` URL.
    public let issuer: String
    /// The `kid` of the signing key, as registered.
    public let kid: String
    /// The signing key.
    public let signingKey: JWSSigningKey
    /// The `vct`.
    public let vct: String
    /// Days from `iat` to `exp`.
    public let validityDays: Int

    /// An issuer; refuses a validity outside 1 to 90 days and empty names.
    public init(
        issuer: String, kid: String, signingKey: JWSSigningKey, vct: String = AgeProfile.defaultVCT,
        validityDays: Int = 30
    ) throws(IssuanceError) {
        guard (1...AgeProfile.maxValidityDays).contains(validityDays) else {
            throw .invalidValidity(days: validityDays)
        }
        guard !issuer.isEmpty else { throw .field(CredentialFieldError(path: "iss", problem: "must not be empty")) }
        guard !kid.isEmpty else { throw .field(CredentialFieldError(path: "kid", problem: "must not be empty")) }
        guard !vct.isEmpty else { throw .field(CredentialFieldError(path: "vct", problem: "must not be empty")) }
        self.issuer = issuer
        self.kid = kid
        self.signingKey = signingKey
        self.vct = vct
        self.validityDays = validityDays
    }

    /// Issues `count` single-use credentials for one person: each with its own holder key, salts, decoys and a
    /// random free status index. The birth date only decides the booleans; it is not stored anywhere.
    public func issueBatch(
        birthDate: CivilDate, count: Int = AgeProfile.defaultBatchSize, now: Int64,
        statusList: inout IssuerStatusList, using generator: inout some RandomNumberGenerator
    ) throws(IssuanceError) -> [IssuedCredential] {
        guard (1...1000).contains(count) else { throw .invalidBatchSize(count) }
        let today = CivilDate(utcDayOf: now)
        guard birthDate <= today else { throw .birthDateInFuture(birthDate) }
        let indices = try statusList.allocate(count, using: &generator)
        return indices.map { index in
            let holderKey = makeP256Key(using: &generator)
            return issue(
                birthDate: birthDate, now: now, holderKey: holderKey.publicKey, statusIndex: index,
                statusURI: statusList.uri, using: &generator, holderPrivateKey: holderKey)
        }
    }

    /// Issues one credential bound to `holderKey`.
    public func issue(
        birthDate: CivilDate, now: Int64, holderKey: P256.Signing.PublicKey, statusIndex: Int, statusURI: String,
        using generator: inout some RandomNumberGenerator
    ) -> String {
        let (sdJWT, _) = build(
            birthDate: birthDate, now: now, holderKey: holderKey, statusIndex: statusIndex, statusURI: statusURI,
            using: &generator)
        return sdJWT
    }

    private func issue(
        birthDate: CivilDate, now: Int64, holderKey: P256.Signing.PublicKey, statusIndex: Int, statusURI: String,
        using generator: inout some RandomNumberGenerator, holderPrivateKey: P256.Signing.PrivateKey
    ) -> IssuedCredential {
        let (sdJWT, exp) = build(
            birthDate: birthDate, now: now, holderKey: holderKey, statusIndex: statusIndex, statusURI: statusURI,
            using: &generator)
        return IssuedCredential(sdJWT: sdJWT, holderKey: holderPrivateKey, statusIndex: statusIndex, expiresAt: exp)
    }

    private func build(
        birthDate: CivilDate, now: Int64, holderKey: P256.Signing.PublicKey, statusIndex: Int, statusURI: String,
        using generator: inout some RandomNumberGenerator
    ) -> (String, Int64) {
        let today = CivilDate(utcDayOf: now)
        let age = today.years(since: birthDate)
        let iat = today.unixSeconds
        let exp = iat + Int64(validityDays) * 86_400
        var disclosures: [Disclosure] = []
        for threshold in AgeProfile.thresholds {
            let salt = Base64.encodeURL(randomBytes(16, using: &generator))
            disclosures.append(
                Disclosure(salt: salt, claimName: AgeProfile.claimName(threshold), value: .bool(age >= threshold)))
        }
        var digests = disclosures.map(\.digest)
        while digests.count < AgeProfile.digestCount {
            digests.append(sha256Base64URL(Base64.encodeURL(randomBytes(16, using: &generator))))
        }
        digests.sort()
        let payload = JSONValue.object([
            ("iss", .string(issuer)),
            ("iat", .integer(iat)),
            ("exp", .integer(exp)),
            ("vct", .string(vct)),
            ("cnf", .object([("jwk", PublicJWK(key: .p256(holderKey)).json)])),
            (
                "status",
                .object([
                    ("status_list", .object([("idx", .integer(Int64(statusIndex))), ("uri", .string(statusURI))]))
                ])
            ),
            ("_sd", .array(digests.map { .string($0) })),
            ("_sd_alg", .string("sha-256")),
        ])
        let jwt = CompactJWS.sign(
            header: [("kid", .string(kid)), ("typ", .string(AgeProfile.credentialType))], payload: payload,
            with: signingKey)
        // The wallet receives the disclosures in threshold order; it never sends more than one of them.
        return (([jwt] + disclosures.map(\.encoded)).joined(separator: "~") + "~", exp)
    }
}
