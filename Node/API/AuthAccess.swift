import EnsureCrypto
import Foundation
import HTTPTypes
public import Ledger

/// The roles that may read incidents: a member's organization admin or plugin key, or a regulator's key
/// (docs/api.md, "Access"). Issuer ledger keys and unknown keys are not among them.
public enum AccessRole: String, Sendable, Equatable {
    /// The admin key of a member organization.
    case organizationAdmin = "organization-admin"
    /// A detection plugin of a member organization.
    case plugin = "plugin"
    /// A regulator.
    case regulator = "regulator"

    /// The access role of a committed key role; nil for roles that may not read incidents.
    public init?(_ role: KeyRole?) {
        switch role {
        case .organizationAdmin?: self = .organizationAdmin
        case .plugin?: self = .plugin
        case .regulator?: self = .regulator
        case .issuer?, nil: return nil
        }
    }
}

/// Access control of the protected routes: how long things live, how many are remembered, the clock and the
/// randomness (both injectable for tests), and the in-memory stores of challenges, tokens and nonces. Copies
/// share one store.
public struct AccessControl: Sendable {
    /// Bounds of the in-memory stores.
    public struct Limits: Sendable {
        /// Outstanding login challenges.
        public var challenges = 10_000
        /// Live bearer tokens.
        public var tokens = 10_000
        /// Request-signature nonces remembered for their validity window.
        public var nonces = 100_000

        /// The default bounds.
        public init() {}
    }

    /// The domain-separation prefix of a login signature.
    public static let tokenContext = "ensure/auth-token/v1"
    /// How long a challenge may be answered, in milliseconds.
    public var challengeLifetimeMilliseconds: UInt64 = 60_000
    /// How long a token is valid, in milliseconds.
    public var tokenLifetimeMilliseconds: UInt64 = 15 * 60_000
    /// What request signatures must satisfy.
    public var profile = RequestSignatureProfile()
    /// Milliseconds since 1970.
    public let clock: @Sendable () -> UInt64
    /// `count` random bytes.
    public let random: @Sendable (Int) -> [UInt8]
    /// The stores.
    let store: AccessStore

    /// Creates access control with the system clock and libsodium's randomness unless told otherwise.
    public init(
        limits: Limits = Limits(), clock: (@Sendable () -> UInt64)? = nil, random: (@Sendable (Int) -> [UInt8])? = nil
    ) {
        self.clock = clock ?? { UInt64(max(0, Date().timeIntervalSince1970 * 1000)) }
        self.random = random ?? { SecureRandom.bytes($0) }
        self.store = AccessStore(limits: limits)
    }

    /// The bytes a key signs (in ``SigningDomain/apiRequest``) to answer a login challenge:
    /// `ensure/auth-token/v1` ‖ chain id ‖ the 32 challenge bytes. The challenge has a fixed length, so the
    /// concatenation is unambiguous.
    public static func tokenMessage(chainID: String, challenge: [UInt8]) -> [UInt8] {
        Array(tokenContext.utf8) + Array(chainID.utf8) + challenge
    }

    /// How many challenges, tokens and nonces the stores hold now (for tests and metrics).
    public func storeCounts() async -> (challenges: Int, tokens: Int, nonces: Int) {
        await store.counts()
    }
}

/// What a bearer token stands for: the key it was issued to and the role the key had then.
struct TokenGrant: Sendable, Equatable {
    let key: Ed25519PublicKey
    let role: KeyRole
    let expiresAt: UInt64
}

/// The in-memory stores of access control, each bounded; expired entries are purged when a store fills up and
/// when they are looked up. Tokens are kept by their SHA-256, never in clear.
actor AccessStore {
    private let limits: AccessControl.Limits
    private var challenges: [[UInt8]: UInt64] = [:]
    private var tokens: [Digest: TokenGrant] = [:]
    private var nonces: [String: Int64] = [:]

    init(limits: AccessControl.Limits) {
        self.limits = limits
    }

    func counts() -> (challenges: Int, tokens: Int, nonces: Int) {
        (challenges.count, tokens.count, nonces.count)
    }

    /// Remembers a challenge until `expiresAt`; false when the store is full of live challenges.
    func addChallenge(_ challenge: [UInt8], expiresAt: UInt64, now: UInt64) -> Bool {
        if challenges.count >= limits.challenges { challenges = challenges.filter { $0.value > now } }
        guard challenges.count < limits.challenges else { return false }
        challenges[challenge] = expiresAt
        return true
    }

    /// Removes the challenge; true when it was there and still live.
    func consumeChallenge(_ challenge: [UInt8], now: UInt64) -> Bool {
        guard let expiresAt = challenges.removeValue(forKey: challenge) else { return false }
        return expiresAt > now
    }

    /// Remembers a token; false when the store is full of live tokens.
    func addToken(_ hash: Digest, grant: TokenGrant, now: UInt64) -> Bool {
        if tokens.count >= limits.tokens { tokens = tokens.filter { $0.value.expiresAt > now } }
        guard tokens.count < limits.tokens else { return false }
        tokens[hash] = grant
        return true
    }

    /// The grant of a token, expired ones included (the caller tells the two apart and revokes).
    func token(_ hash: Digest) -> TokenGrant? { tokens[hash] }

    /// Forgets a token.
    func revokeToken(_ hash: Digest) { tokens[hash] = nil }

    /// The outcome of remembering a nonce.
    enum NonceResult: Equatable { case fresh, replayed, full }

    /// Remembers `nonce` of `key` until `until` (Unix seconds).
    func recordNonce(_ nonce: String, key: Ed25519PublicKey, until: Int64, now: Int64) -> NonceResult {
        let entry = key.hex + " " + nonce
        if let remembered = nonces[entry], remembered >= now { return .replayed }
        if nonces.count >= limits.nonces { nonces = nonces.filter { $0.value >= now } }
        guard nonces.count < limits.nonces else { return .full }
        nonces[entry] = until
        return .fresh
    }
}

extension APIProblem {
    /// A valid credential of a key that may not read incidents.
    static func forbidden(_ detail: String) -> APIProblem {
        APIProblem(code: "forbidden", status: .forbidden, title: "Forbidden", detail: detail)
    }

    /// An access store is full of live entries.
    static func accessBusy(_ what: String) -> APIProblem {
        APIProblem(
            code: "access-busy", status: .serviceUnavailable, title: "Access control busy",
            detail: "the node holds too many live \(what); retry shortly", retryAfterSeconds: 5)
    }
}
