public import Crypto
import EnsureCrypto
import Foundation

/// Why the holder could not make a presentation.
public enum WalletError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Every credential is used or expired: the wallet needs a new batch.
    case empty
    /// The stored credential cannot be parsed.
    case credential(SDJWTError)
    /// No claim of the credential answers "over N" either way (for example over 17 with 16 true and 18 false).
    case cannotAnswer(threshold: Int)
    /// The wallet file is malformed.
    case field(CredentialFieldError)

    public var description: String {
        switch self {
        case .empty: return "the wallet has no unused, unexpired credential left; ask the issuer for a new batch"
        case .credential(let error): return "stored credential: \(error)"
        case .cannotAnswer(let threshold): return "no age claim answers \"over \(threshold)\""
        case .field(let error): return "wallet \(error)"
        }
    }
}

/// What a holder does with a single credential: choose the one disclosure that answers the question and bind
/// the presentation to the verifier's nonce and audience with a key-binding JWT.
public enum AgePresentation {
    /// Builds an SD-JWT+KB from an issued SD-JWT: exactly one `age_over_NN` disclosure (the nearest that answers
    /// "over `threshold`"), then a KB-JWT (`typ: kb+jwt`, `iat`, `aud`, `nonce`, `sd_hash`) signed with the holder key.
    public static func present(
        credential: String, holderKey: P256.Signing.PrivateKey, over threshold: Int, nonce: String,
        audience: String, now: Int64
    ) throws(WalletError) -> String {
        let issued: SDJWT
        do {
            issued = try SDJWT.parse(credential)
        } catch {
            throw .credential(error)
        }
        var claims: [Int: Bool] = [:]
        var byThreshold: [Int: Disclosure] = [:]
        for disclosure in issued.disclosures {
            guard let name = disclosure.claimName, let value = disclosure.value.boolValue,
                let claimThreshold = AgeProfile.threshold(ofClaim: name)
            else { continue }
            claims[claimThreshold] = value
            byThreshold[claimThreshold] = disclosure
        }
        guard let chosen = AgeProfile.nearestAnswer(for: threshold, among: claims), let disclosure = byThreshold[chosen]
        else { throw .cannotAnswer(threshold: threshold) }
        let presented = issued.keeping { $0.digest == disclosure.digest }
        let kbPayload = JSONValue.object([
            ("iat", .integer(now)), ("aud", .string(audience)), ("nonce", .string(nonce)),
            ("sd_hash", .string(presented.sdHash)),
        ])
        let kb = CompactJWS.sign(
            header: [("typ", .string(AgeProfile.keyBindingType))], payload: kbPayload, with: .p256(holderKey))
        return presented.presentationPrefix + kb
    }
}

/// A holder's wallet: single-use credentials with their holder keys. It never presents a credential twice and
/// says when it runs low. Stored as JSON in a 0600 file by ``WalletFile``.
public struct Wallet: Sendable {
    /// One credential.
    public struct Entry: Sendable {
        /// The issued SD-JWT (all disclosures).
        public var credential: String
        /// The holder key bound in the credential's `cnf`.
        public var holderKey: P256.Signing.PrivateKey
        /// The credential's issuer.
        public var issuer: String
        /// The credential's `exp`.
        public var expiresAt: Int64
        /// Whether it has been presented (or set aside as used).
        public var used: Bool
    }

    /// Below this many usable credentials the wallet asks for a refill.
    public static let lowWaterMark = 5

    /// The credentials, oldest first.
    public private(set) var entries: [Entry]

    /// An empty wallet.
    public init() { entries = [] }

    /// Adds a batch from `issuer`.
    public mutating func add(_ batch: [IssuedCredential], issuer: String) {
        for credential in batch {
            entries.append(
                Entry(
                    credential: credential.sdJWT, holderKey: credential.holderKey, issuer: issuer,
                    expiresAt: credential.expiresAt, used: false))
        }
    }

    /// Credentials neither used nor expired at `now`.
    public func usableCount(now: Int64) -> Int { entries.filter { !$0.used && $0.expiresAt > now }.count }

    /// Whether the wallet should be refilled.
    public func needsRefill(now: Int64) -> Bool { usableCount(now: now) < Self.lowWaterMark }

    /// Presents the usable credential that expires first and marks it used: the caller must persist the wallet
    /// before it hands the presentation out, so that a crash can never lead to the same credential twice.
    public mutating func present(over threshold: Int, nonce: String, audience: String, now: Int64)
        throws(WalletError) -> String
    {
        let candidates = entries.indices.filter { !entries[$0].used && entries[$0].expiresAt > now }
        guard let index = candidates.min(by: { entries[$0].expiresAt < entries[$1].expiresAt }) else {
            throw .empty
        }
        let presentation = try AgePresentation.present(
            credential: entries[index].credential, holderKey: entries[index].holderKey, over: threshold,
            nonce: nonce, audience: audience, now: now)
        entries[index].used = true
        return presentation
    }

    /// The JSON form of the wallet file.
    public var json: JSONValue {
        .object([
            ("type", .string("ensure-wallet")), ("version", .integer(1)),
            (
                "credentials",
                .array(
                    entries.map { entry in
                        .object([
                            ("credential", .string(entry.credential)),
                            ("holder_key_d", .string(Base64.encodeURL(entry.holderKey.rawRepresentation))),
                            ("issuer", .string(entry.issuer)), ("exp", .integer(entry.expiresAt)),
                            ("used", .bool(entry.used)),
                        ])
                    })
            ),
        ])
    }

    /// Reads the JSON form; every field is checked and named when wrong.
    public init(json: JSONValue) throws(WalletError) {
        guard json["type"]?.stringValue == "ensure-wallet", json["version"]?.integerValue == 1 else {
            throw .field(CredentialFieldError(path: "type", problem: "not an ensure-wallet version 1 file"))
        }
        guard let credentials = json["credentials"]?.arrayValue else {
            throw .field(CredentialFieldError(path: "credentials", problem: "must be an array"))
        }
        var entries: [Entry] = []
        for (index, item) in credentials.enumerated() {
            let path = "credentials[\(index)]"
            guard let credential = item["credential"]?.stringValue else {
                throw .field(CredentialFieldError(path: path + ".credential", problem: "must be a string"))
            }
            guard let d = item["holder_key_d"]?.stringValue, let raw = try? Base64.decodeURL(d),
                let key = try? P256.Signing.PrivateKey(rawRepresentation: raw)
            else {
                throw .field(CredentialFieldError(path: path + ".holder_key_d", problem: "must be a P-256 private key"))
            }
            guard let issuer = item["issuer"]?.stringValue, let exp = item["exp"]?.integerValue,
                let used = item["used"]?.boolValue
            else {
                throw .field(CredentialFieldError(path: path, problem: "issuer, exp and used are required"))
            }
            entries.append(Entry(credential: credential, holderKey: key, issuer: issuer, expiresAt: exp, used: used))
        }
        self.entries = entries
    }
}
