public import EnsureCrypto

/// Exactly why a presentation was refused. ``code`` is a stable machine-readable name for APIs and the CLI.
public enum PresentationRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    /// The presentation or the credential inside it is not well formed (the reason names what).
    case malformed(String)
    /// The issuer JWT or KB-JWT uses an algorithm other than ES256 or EdDSA.
    case unsupportedAlgorithm(String)
    /// The issuer's signature does not verify with the registered key.
    case badIssuerSignature
    /// `iss` is not in the issuer registry.
    case unknownIssuer(String)
    /// The issuer was delisted by governance.
    case delistedIssuer(String)
    /// The header `kid` names no key of this issuer.
    case issuerKeyUnknown(issuer: String, kid: String?)
    /// The key was not valid when the credential was issued, or is no longer valid now.
    case issuerKeyOutsideValidity(issuer: String, kid: String)
    /// The issuer retired the key (routine rotation) from `since` (Unix seconds), and the credential's `iat` is
    /// later.
    case issuerKeyRetired(issuer: String, kid: String, since: Int64)
    /// The issuer revoked the key (compromise): nothing it signed is accepted.
    case issuerKeyRevoked(issuer: String, kid: String)
    /// The issuer may not issue this `vct`.
    case vctNotAllowed(String)
    /// The credential's status is "invalid" (revoked), or a status this verifier does not know.
    case revoked(index: Int, status: UInt8)
    /// The credential's status is "suspended".
    case suspended(index: Int)
    /// No current status list is known for the credential's `uri`, or it does not cover the index.
    case statusListUnavailable(uri: String)
    /// `exp` has passed.
    case expired(exp: Int64)
    /// `iat` or `nbf` lies in the future.
    case notYetValid(Int64)
    /// The KB-JWT's nonce was never issued by this verifier (or was evicted).
    case nonceUnknown
    /// The nonce was already used by another presentation.
    case nonceReused
    /// The presentation request expired before the presentation arrived.
    case nonceExpired
    /// The KB-JWT's `aud` is not this verifier.
    case wrongAudience(expected: String, found: String)
    /// A disclosure's digest is not in the signed credential: it was altered or taken from another credential.
    case disclosureDigestMismatch(digest: String)
    /// The presentation carries no key-binding JWT.
    case keyBindingMissing
    /// The KB-JWT's signature does not verify with the credential's `cnf` key.
    case keyBindingSignatureInvalid
    /// The KB-JWT's `sd_hash` does not match the presented SD-JWT.
    case sdHashMismatch
    /// The KB-JWT's `iat` is older than the allowed window.
    case keyBindingTooOld(iat: Int64)
    /// The KB-JWT's `iat` lies in the future.
    case keyBindingFromFuture(iat: Int64)
    /// No disclosed `age_over_NN` claim answers the question asked.
    case predicateNotDisclosed(threshold: Int)

    /// A stable snake_case name of the case.
    public var code: String {
        switch self {
        case .malformed: return "malformed"
        case .unsupportedAlgorithm: return "unsupported_algorithm"
        case .badIssuerSignature: return "bad_issuer_signature"
        case .unknownIssuer: return "unknown_issuer"
        case .delistedIssuer: return "delisted_issuer"
        case .issuerKeyUnknown: return "issuer_key_unknown"
        case .issuerKeyOutsideValidity: return "issuer_key_outside_validity"
        case .issuerKeyRetired: return "issuer_key_retired"
        case .issuerKeyRevoked: return "issuer_key_revoked"
        case .vctNotAllowed: return "vct_not_allowed"
        case .revoked: return "revoked"
        case .suspended: return "suspended"
        case .statusListUnavailable: return "status_list_unavailable"
        case .expired: return "expired"
        case .notYetValid: return "not_yet_valid"
        case .nonceUnknown: return "nonce_unknown"
        case .nonceReused: return "nonce_reused"
        case .nonceExpired: return "nonce_expired"
        case .wrongAudience: return "wrong_audience"
        case .disclosureDigestMismatch: return "disclosure_digest_mismatch"
        case .keyBindingMissing: return "key_binding_missing"
        case .keyBindingSignatureInvalid: return "key_binding_signature_invalid"
        case .sdHashMismatch: return "sd_hash_mismatch"
        case .keyBindingTooOld: return "key_binding_too_old"
        case .keyBindingFromFuture: return "key_binding_from_future"
        case .predicateNotDisclosed: return "predicate_not_disclosed"
        }
    }

    public var description: String {
        switch self {
        case .malformed(let reason): return "malformed presentation: \(reason)"
        case .unsupportedAlgorithm(let alg): return "algorithm \(alg) is not accepted (ES256 or EdDSA)"
        case .badIssuerSignature: return "the issuer's signature does not verify"
        case .unknownIssuer(let iss): return "issuer \(iss) is not in the registry"
        case .delistedIssuer(let iss): return "issuer \(iss) has been delisted"
        case .issuerKeyUnknown(let iss, let kid): return "issuer \(iss) has no key \(kid ?? "(no kid in header)")"
        case .issuerKeyOutsideValidity(let iss, let kid): return "key \(kid) of \(iss) is outside its validity window"
        case .issuerKeyRetired(let iss, let kid, let since):
            return "key \(kid) of \(iss) was retired at \(since); the credential was issued after that"
        case .issuerKeyRevoked(let iss, let kid): return "key \(kid) of \(iss) was revoked"
        case .vctNotAllowed(let vct): return "the issuer may not issue credentials of type \(vct)"
        case .revoked(let index, let status): return "credential is revoked (status \(status) at index \(index))"
        case .suspended(let index): return "credential is suspended (index \(index))"
        case .statusListUnavailable(let uri): return "no current status list for \(uri)"
        case .expired(let exp): return "credential expired at \(exp)"
        case .notYetValid(let time): return "credential is not valid before \(time)"
        case .nonceUnknown: return "the nonce was not issued by this verifier"
        case .nonceReused: return "the nonce was already used"
        case .nonceExpired: return "the presentation request has expired"
        case .wrongAudience(let expected, let found): return "presentation is for \(found), not \(expected)"
        case .disclosureDigestMismatch(let digest): return "disclosure \(digest) is not part of the signed credential"
        case .keyBindingMissing: return "the presentation has no key-binding JWT"
        case .keyBindingSignatureInvalid: return "the key-binding JWT is not signed by the credential's holder key"
        case .sdHashMismatch: return "the key-binding JWT's sd_hash does not match the presentation"
        case .keyBindingTooOld(let iat): return "the key-binding JWT was made at \(iat), too long ago"
        case .keyBindingFromFuture(let iat): return "the key-binding JWT claims to be made in the future (\(iat))"
        case .predicateNotDisclosed(let threshold): return "no disclosed age claim answers \"over \(threshold)\""
        }
    }
}

/// A key an issuer is registered with: a JWK with `kid`, and when it may be used.
public struct IssuerKey: Sendable {
    /// The public key; its `kid` is what issuer JWT headers name.
    public let jwk: PublicJWK
    /// First second the key may sign (nil: no lower bound).
    public let notBefore: Int64?
    /// First second the key may no longer be relied on (nil: no upper bound).
    public let notAfter: Int64?
    /// The last second a credential signed with the key may have as `iat`: the issuer retired it then (nil: not
    /// retired). Credentials issued until then stay acceptable until their own `exp`.
    public let retiredFrom: Int64?
    /// Whether the issuer revoked the key: nothing it signed is accepted.
    public let revoked: Bool

    /// A registered key.
    public init(
        jwk: PublicJWK, notBefore: Int64? = nil, notAfter: Int64? = nil, retiredFrom: Int64? = nil,
        revoked: Bool = false
    ) {
        self.jwk = jwk
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.retiredFrom = retiredFrom
        self.revoked = revoked
    }

    /// Whether a credential issued at `issuedAt` is after the key's retirement.
    public func isRetired(forIssuedAt issuedAt: Int64) -> Bool {
        retiredFrom.map { issuedAt > $0 } ?? false
    }

    /// Whether a credential issued at `issuedAt` may be accepted at `now` under this key.
    public func isValid(issuedAt: Int64, now: Int64) -> Bool {
        if let notBefore, issuedAt < notBefore { return false }
        if let notAfter, issuedAt >= notAfter || now >= notAfter { return false }
        return true
    }
}

/// An issuer approved by governance.
public struct RegisteredIssuer: Sendable {
    /// The `iss` value.
    public let identifier: String
    /// Its keys, current and rotated out.
    public let keys: [IssuerKey]
    /// The `vct` values it may issue.
    public let allowedVCTs: Set<String>
    /// Whether governance delisted it.
    public let delisted: Bool

    /// An issuer record.
    public init(identifier: String, keys: [IssuerKey], allowedVCTs: Set<String>, delisted: Bool = false) {
        self.identifier = identifier
        self.keys = keys
        self.allowedVCTs = allowedVCTs
        self.delisted = delisted
    }
}

/// Where the verifier looks issuers up: the node implements it over its ledger state.
public protocol IssuerRegistry: Sendable {
    /// The issuer registered under `identifier`, or nil.
    func issuer(_ identifier: String) -> RegisteredIssuer?
}

/// Where the verifier finds the current status list of a `uri`: the node implements it over its ledger state,
/// so checking a credential never contacts the issuer.
public protocol StatusListSource: Sendable {
    /// The current list published under `uri`, or nil when none is known.
    func statusList(uri: String) -> StatusList?
}

/// An ``IssuerRegistry`` held in memory (tests, the CLI's `--issuers` file).
public struct InMemoryIssuerRegistry: IssuerRegistry {
    /// The issuers by identifier.
    public var issuers: [String: RegisteredIssuer]

    /// A registry of `issuers`.
    public init(_ issuers: [RegisteredIssuer] = []) {
        self.issuers = Dictionary(issuers.map { ($0.identifier, $0) }, uniquingKeysWith: { $1 })
    }

    public func issuer(_ identifier: String) -> RegisteredIssuer? { issuers[identifier] }

    /// Reads `{"issuers": [{"iss", "vct": [..], "delisted", "keys": [{"jwk", "not_before", "not_after",
    /// "retired_from", "revoked"}]}]}` (all times Unix seconds; the last four members optional).
    public init(json: JSONValue) throws(CredentialFieldError) {
        guard let list = json["issuers"]?.arrayValue else {
            throw CredentialFieldError(path: "issuers", problem: "must be an array")
        }
        var issuers: [RegisteredIssuer] = []
        for (index, item) in list.enumerated() {
            let path = "issuers[\(index)]"
            guard let iss = item["iss"]?.stringValue else {
                throw CredentialFieldError(path: path + ".iss", problem: "must be a string")
            }
            guard let vcts = item["vct"]?.arrayValue?.compactMap(\.stringValue) else {
                throw CredentialFieldError(path: path + ".vct", problem: "must be an array of strings")
            }
            guard let keyList = item["keys"]?.arrayValue else {
                throw CredentialFieldError(path: path + ".keys", problem: "must be an array")
            }
            var keys: [IssuerKey] = []
            for (keyIndex, keyItem) in keyList.enumerated() {
                let keyPath = path + ".keys[\(keyIndex)]"
                let jwk = try PublicJWK.parse(keyItem["jwk"] ?? .null, path: keyPath + ".jwk")
                guard jwk.kid != nil else {
                    throw CredentialFieldError(path: keyPath + ".jwk.kid", problem: "a registered key needs a kid")
                }
                var revoked = false
                if let value = keyItem["revoked"] {
                    guard let flag = value.boolValue else {
                        throw CredentialFieldError(path: keyPath + ".revoked", problem: "must be a boolean")
                    }
                    revoked = flag
                }
                var retiredFrom: Int64?
                if let value = keyItem["retired_from"] {
                    guard let seconds = value.integerValue else {
                        throw CredentialFieldError(path: keyPath + ".retired_from", problem: "must be an integer")
                    }
                    retiredFrom = seconds
                }
                keys.append(
                    IssuerKey(
                        jwk: jwk, notBefore: keyItem["not_before"]?.integerValue,
                        notAfter: keyItem["not_after"]?.integerValue,
                        retiredFrom: retiredFrom, revoked: revoked))
            }
            issuers.append(
                RegisteredIssuer(
                    identifier: iss, keys: keys, allowedVCTs: Set(vcts), delisted: item["delisted"]?.boolValue ?? false
                ))
        }
        self.init(issuers)
    }

    /// The JSON form read by ``init(json:)``.
    public var json: JSONValue {
        .object([
            (
                "issuers",
                .array(
                    issuers.values.sorted { $0.identifier < $1.identifier }.map { issuer in
                        .object([
                            ("iss", .string(issuer.identifier)),
                            ("vct", .array(issuer.allowedVCTs.sorted().map { .string($0) })),
                            ("delisted", .bool(issuer.delisted)),
                            (
                                "keys",
                                .array(
                                    issuer.keys.map { key in
                                        var members: [(String, JSONValue)] = [("jwk", key.jwk.json)]
                                        if let notBefore = key.notBefore {
                                            members.append(("not_before", .integer(notBefore)))
                                        }
                                        if let notAfter = key.notAfter {
                                            members.append(("not_after", .integer(notAfter)))
                                        }
                                        if let retiredFrom = key.retiredFrom {
                                            members.append(("retired_from", .integer(retiredFrom)))
                                        }
                                        if key.revoked { members.append(("revoked", .bool(true))) }
                                        return .object(members)
                                    })
                            ),
                        ])
                    })
            )
        ])
    }
}

/// A ``StatusListSource`` held in memory.
public struct InMemoryStatusListSource: StatusListSource {
    /// Lists by URI.
    public var lists: [String: StatusList]

    /// A source with `lists`.
    public init(_ lists: [String: StatusList] = [:]) { self.lists = lists }

    public func statusList(uri: String) -> StatusList? { lists[uri] }
}

/// What a shop asked for: a single-use nonce, the audience the presentation must name, the age threshold, and
/// when the request lapses.
public struct PresentationRequest: Sendable, Equatable {
    /// base64url of at least 16 random bytes.
    public let nonce: String
    /// The verifier's identifier, which the KB-JWT's `aud` must equal.
    public let audience: String
    /// The question: "over `threshold`?".
    public let threshold: Int
    /// When the request was made (Unix seconds).
    public let createdAt: Int64
    /// From this second on the request is expired.
    public let expiresAt: Int64

    /// A request; the nonce must encode at least 128 bits.
    public init(nonce: String, audience: String, threshold: Int, createdAt: Int64, expiresAt: Int64) {
        self.nonce = nonce
        self.audience = audience
        self.threshold = threshold
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }

    /// The JSON a verifier hands to the wallet.
    public var json: JSONValue {
        .object([
            ("nonce", .string(nonce)), ("aud", .string(audience)), ("over", .integer(Int64(threshold))),
            ("expires_at", .integer(expiresAt)),
        ])
    }
}

/// Presentation requests in memory, bounded, with an injected clock and random source: each nonce is consumed
/// at most once. Consumed nonces are remembered until their request would have expired, so a replay is named
/// as such; when full, expired entries go first, then the oldest.
public actor PresentationRequestStore {
    private struct Entry {
        let request: PresentationRequest
        var consumed: Bool
    }

    /// Bytes of randomness in a nonce (256 bits).
    public static let nonceBytes = 32

    private let capacity: Int
    private let lifetime: Int64
    private let clock: @Sendable () -> Int64
    private let random: @Sendable (Int) -> [UInt8]
    private var entries: [String: Entry] = [:]
    private var order: [String] = []

    /// A store holding at most `capacity` requests that live `lifetime` seconds. `clock` gives Unix seconds;
    /// `random` gives CSPRNG bytes (libsodium's `randombytes_buf` by default).
    public init(
        capacity: Int = 10_000, lifetime: Int64 = 300, clock: @escaping @Sendable () -> Int64,
        random: @escaping @Sendable (Int) -> [UInt8] = { SecureRandom.bytes($0) }
    ) {
        self.capacity = max(1, capacity)
        self.lifetime = lifetime
        self.clock = clock
        self.random = random
    }

    /// The store's current time.
    public func now() -> Int64 { clock() }

    /// How many requests (live or consumed) are held.
    public var count: Int { entries.count }

    /// Creates a request for "over `threshold`" addressed to `audience`.
    public func create(audience: String, threshold: Int) -> PresentationRequest {
        let now = clock()
        evict(now: now)
        var nonce = Base64.encodeURL(random(Self.nonceBytes))
        while entries[nonce] != nil { nonce = Base64.encodeURL(random(Self.nonceBytes)) }
        let request = PresentationRequest(
            nonce: nonce, audience: audience, threshold: threshold, createdAt: now, expiresAt: now + lifetime)
        entries[nonce] = Entry(request: request, consumed: false)
        order.append(nonce)
        return request
    }

    /// Takes the request of `nonce` for verification; a nonce works once.
    public func consume(nonce: String) throws(PresentationRefusal) -> PresentationRequest {
        guard var entry = entries[nonce] else { throw .nonceUnknown }
        guard !entry.consumed else { throw .nonceReused }
        guard clock() < entry.request.expiresAt else { throw .nonceExpired }
        entry.consumed = true
        entries[nonce] = entry
        return entry.request
    }

    private func evict(now: Int64) {
        if entries.count >= capacity {
            order.removeAll { nonce in
                guard let entry = entries[nonce], entry.request.expiresAt > now else {
                    entries[nonce] = nil
                    return true
                }
                return false
            }
        }
        while entries.count >= capacity, !order.isEmpty {
            entries[order.removeFirst()] = nil
        }
    }
}

/// A verified answer: which age predicates the presentation proves, and the answer to the question asked.
public struct AgeVerification: Sendable, Equatable {
    /// The issuer.
    public let issuer: String
    /// The credential type.
    public let vct: String
    /// The question: "over `threshold`?".
    public let threshold: Int
    /// The answer.
    public let holds: Bool
    /// The disclosed claim that answered (`age_over_<answeredBy>`).
    public let answeredBy: Int
    /// Every disclosed age claim.
    public let disclosed: [Int: Bool]

    /// The JSON answer the CLI and API print.
    public var json: JSONValue {
        .object([
            ("accepted", .bool(true)), ("over", .integer(Int64(threshold))), ("holds", .bool(holds)),
            ("answered_by", .string(AgeProfile.claimName(answeredBy))), ("iss", .string(issuer)),
            ("vct", .string(vct)),
        ])
    }
}

/// Verifies SD-JWT VC age presentations against an issuer registry and status lists. Pure: time comes in as an
/// argument, lookups through the two protocols.
public struct PresentationVerifier: Sendable {
    /// The issuer registry.
    public let registry: any IssuerRegistry
    /// The status lists.
    public let statusLists: any StatusListSource
    /// How old a KB-JWT may be, in seconds.
    public let keyBindingMaxAge: Int64
    /// Tolerated clock difference for times in the future, in seconds.
    public let clockSkew: Int64

    /// A verifier.
    public init(
        registry: any IssuerRegistry, statusLists: any StatusListSource, keyBindingMaxAge: Int64 = 300,
        clockSkew: Int64 = 60
    ) {
        self.registry = registry
        self.statusLists = statusLists
        self.keyBindingMaxAge = keyBindingMaxAge
        self.clockSkew = clockSkew
    }

    /// Consumes the nonce the presentation's KB-JWT names from `requests` (once only), then verifies against
    /// that request at the store's time.
    public func verify(_ presentation: String, requests: PresentationRequestStore) async throws(PresentationRefusal)
        -> AgeVerification
    {
        let sdJWT = try parse(presentation)
        guard let kb = sdJWT.keyBindingJWT else { throw .keyBindingMissing }
        guard let nonce = kb.payload["nonce"]?.stringValue else {
            throw .malformed("key-binding JWT: nonce must be a string")
        }
        let request = try await requests.consume(nonce: nonce)
        return try verify(sdJWT, request: request, now: await requests.now())
    }

    /// Verifies a presentation made for `request` at time `now`.
    public func verify(_ presentation: String, request: PresentationRequest, now: Int64) throws(PresentationRefusal)
        -> AgeVerification
    {
        try verify(try parse(presentation), request: request, now: now)
    }

    private func parse(_ presentation: String) throws(PresentationRefusal) -> SDJWT {
        do {
            return try SDJWT.parse(presentation.trimmingASCIIWhitespace())
        } catch .issuerJWT(.unsupportedAlgorithm(let alg)), .keyBindingJWT(.unsupportedAlgorithm(let alg)) {
            throw .unsupportedAlgorithm(alg)
        } catch {
            throw .malformed(error.description)
        }
    }

    private func verify(_ sdJWT: SDJWT, request: PresentationRequest, now: Int64) throws(PresentationRefusal)
        -> AgeVerification
    {
        let jwt = sdJWT.issuerJWT
        let claims = jwt.payload
        do {
            try jwt.requireType(AgeProfile.credentialType)
        } catch {
            throw .malformed("issuer-signed JWT: \(error)")
        }
        guard let iss = claims["iss"]?.stringValue else { throw .malformed("iss must be a string") }
        guard let issuer = registry.issuer(iss) else { throw .unknownIssuer(iss) }
        guard !issuer.delisted else { throw .delistedIssuer(iss) }
        let kid = jwt.header["kid"]?.stringValue
        guard let key = issuer.keys.first(where: { $0.jwk.kid == kid }) else {
            throw .issuerKeyUnknown(issuer: iss, kid: kid)
        }
        // A revoked key may be in anyone's hands: what it signed proves nothing, valid signature or not.
        guard !key.revoked else { throw .issuerKeyRevoked(issuer: iss, kid: kid ?? "") }
        guard jwt.isValidSignature(with: key.jwk) else { throw .badIssuerSignature }

        // From here on the payload is the issuer's.
        guard let iat = claims["iat"]?.integerValue else { throw .malformed("iat must be an integer") }
        guard let exp = claims["exp"]?.integerValue else { throw .malformed("exp must be an integer") }
        guard key.isValid(issuedAt: iat, now: now) else {
            throw .issuerKeyOutsideValidity(issuer: iss, kid: kid ?? "")
        }
        if let retiredFrom = key.retiredFrom, key.isRetired(forIssuedAt: iat) {
            throw .issuerKeyRetired(issuer: iss, kid: kid ?? "", since: retiredFrom)
        }
        guard let vct = claims["vct"]?.stringValue else { throw .malformed("vct must be a string") }
        guard issuer.allowedVCTs.contains(vct) else { throw .vctNotAllowed(vct) }
        guard now < exp else { throw .expired(exp: exp) }
        guard iat <= now + clockSkew else { throw .notYetValid(iat) }
        if let nbfValue = claims["nbf"] {
            guard let nbf = nbfValue.integerValue else { throw .malformed("nbf must be an integer") }
            guard nbf <= now + clockSkew else { throw .notYetValid(nbf) }
        }
        try checkStatus(claims)

        let processed: JSONValue
        do {
            processed = try sdJWT.processedPayload()
        } catch .disclosureNotReferenced(let digest) {
            throw .disclosureDigestMismatch(digest: digest)
        } catch {
            throw .malformed(error.description)
        }
        let holderKey: PublicJWK
        do {
            holderKey = try PublicJWK.parse(claims["cnf"]?["jwk"] ?? .null, path: "cnf.jwk")
        } catch {
            throw .malformed(error.description)
        }

        try checkKeyBinding(sdJWT, holderKey: holderKey, request: request, now: now)

        var disclosed: [Int: Bool] = [:]
        for (name, value) in processed.objectMembers ?? [] {
            guard let threshold = AgeProfile.threshold(ofClaim: name) else { continue }
            guard let answer = value.boolValue else { throw .malformed("\(name) must be a boolean") }
            disclosed[threshold] = answer
        }
        guard let answeredBy = AgeProfile.nearestAnswer(for: request.threshold, among: disclosed),
            let answer = disclosed[answeredBy]
        else { throw .predicateNotDisclosed(threshold: request.threshold) }
        return AgeVerification(
            issuer: iss, vct: vct, threshold: request.threshold, holds: answer, answeredBy: answeredBy,
            disclosed: disclosed)
    }

    private func checkStatus(_ claims: JSONValue) throws(PresentationRefusal) {
        guard let reference = claims["status"]?["status_list"] else {
            throw .malformed("status.status_list is required")
        }
        guard let idx = reference["idx"]?.integerValue, idx >= 0, idx <= Int64(Int32.max) else {
            throw .malformed("status.status_list.idx must be a non-negative integer")
        }
        guard let uri = reference["uri"]?.stringValue else {
            throw .malformed("status.status_list.uri must be a string")
        }
        guard let list = statusLists.statusList(uri: uri), let status = try? list.status(at: Int(idx)) else {
            throw .statusListUnavailable(uri: uri)
        }
        switch status {
        case CredentialStatus.valid.rawValue: return
        case CredentialStatus.suspended.rawValue: throw .suspended(index: Int(idx))
        default: throw .revoked(index: Int(idx), status: status)
        }
    }

    private func checkKeyBinding(_ sdJWT: SDJWT, holderKey: PublicJWK, request: PresentationRequest, now: Int64)
        throws(PresentationRefusal)
    {
        guard let kb = sdJWT.keyBindingJWT else { throw .keyBindingMissing }
        do {
            try kb.requireType(AgeProfile.keyBindingType)
        } catch {
            throw .malformed("key-binding JWT: \(error)")
        }
        guard kb.isValidSignature(with: holderKey) else { throw .keyBindingSignatureInvalid }
        let claims = kb.payload
        guard let sdHash = claims["sd_hash"]?.stringValue else { throw .malformed("sd_hash must be a string") }
        guard sdHash == sdJWT.sdHash else { throw .sdHashMismatch }
        guard let nonce = claims["nonce"]?.stringValue else { throw .malformed("nonce must be a string") }
        guard nonce == request.nonce else { throw .nonceUnknown }
        guard now < request.expiresAt else { throw .nonceExpired }
        guard let aud = claims["aud"]?.stringValue else { throw .malformed("aud must be a string") }
        guard aud == request.audience else { throw .wrongAudience(expected: request.audience, found: aud) }
        guard let iat = claims["iat"]?.integerValue else { throw .malformed("key-binding iat must be an integer") }
        guard iat <= now + clockSkew else { throw .keyBindingFromFuture(iat: iat) }
        guard now - iat <= keyBindingMaxAge else { throw .keyBindingTooOld(iat: iat) }
    }
}

extension String {
    /// The string without leading and trailing ASCII whitespace (a presentation read from a file ends in `\n`).
    func trimmingASCIIWhitespace() -> String {
        let bytes = Array(utf8)
        guard let first = bytes.firstIndex(where: { $0 > 0x20 }), let last = bytes.lastIndex(where: { $0 > 0x20 })
        else { return "" }
        return String(decoding: bytes[first...last], as: UTF8.self)
    }
}
