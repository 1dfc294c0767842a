import ArgumentParser
import Codec
import Credentials
import Crypto
import EnsureCrypto
import Foundation
import Ledger

extension CredentialCommand {
    /// `ensure credential rotate-key`: add, retire and revoke the issuer's P-256 signing keys on the ledger.
    struct RotateKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-key",
            abstract: "Add, retire or revoke the issuer's signing keys on the ledger (issuer-keys).",
            discussion: """
                Submits one issuer-keys transaction signed by the issuer's Ed25519 ledger key (--key): adds the \
                P-256 key of --new-key (a private JWK from `ensure credential issuer-key`, or its public JWK), \
                retires each --retire KID from --retire-from on (credentials issued until then stay valid until \
                their exp), and revokes each --revoke KID (everything it signed is refused). The operations apply \
                together or not at all; the issuer must keep at least one usable key. The new key is valid from \
                --not-before (default: the start of the current UTC day, when today's credentials are dated) to \
                --not-after (default: the end of the issuer's approval, read from the node).
                """)

        @OptionGroup var signing: SigningOptions

        @Option(help: "The issuer identifier (its iss), registered by governance.")
        var issuer: String

        @Option(help: "The new signing key: a P-256 JWK file (private or public) with a kid.")
        var newKey: String?

        @Option(help: "The new key's kid; defaults to the kid in the key file.")
        var kid: String?

        @Option(help: "The new key is valid from (ms since 1970 or RFC 3339; default: start of today, UTC).")
        var notBefore: String?

        @Option(help: "The new key is valid until (ms since 1970 or RFC 3339; default: the issuer's approval end).")
        var notAfter: String?

        @Option(help: "Retire this key id (repeatable): credentials issued after --retire-from are refused.")
        var retire: [String] = []

        @Option(help: "Retirement time (ms since 1970 or RFC 3339; default: now).")
        var retireFrom: String?

        @Option(help: "Revoke this key id (repeatable): everything it signed is refused.")
        var revoke: [String] = []

        func run() throws {
            let now = UInt64(Date().timeIntervalSince1970 * 1000)
            let request = try parse(now: now)
            try signing.validateWait()
            var window = (request.notBefore, request.notAfter)
            if request.newKey != nil, window.0 == nil || window.1 == nil {
                let client = try NodeClient(url: signing.node)
                let answer: IssuerAnswer = try client.get("/v1/issuers/\(OptionParsing.segment(issuer))")
                window.0 = window.0 ?? max(answer.issuer.validFrom, Self.startOfDay(now))
                window.1 = window.1 ?? answer.issuer.validUntil
            }
            let payload = try request.payload(notBefore: window.0 ?? 0, notAfter: window.1 ?? 0)
            print(try signing.submit(kind: .issuerKeys, payload: payload.canonicalBytes).render(json: signing.json))
        }

        /// What the options ask for, checked before any key is read or node asked; every refusal names the option.
        func parse(now: UInt64) throws -> Request {
            guard !issuer.isEmpty, issuer.utf8.count <= RegistryLimits.issuerIdentifierBytes else {
                throw CommandFailure("--issuer must be 1 to \(RegistryLimits.issuerIdentifierBytes) bytes")
            }
            guard newKey != nil || !retire.isEmpty || !revoke.isEmpty else {
                throw CommandFailure("nothing to do: give --new-key, --retire KID or --revoke KID")
            }
            for (option, kids) in [("--retire", retire), ("--revoke", revoke)] {
                for kid in kids where kid.isEmpty || kid.utf8.count > RegistryLimits.keyIDBytes {
                    throw CommandFailure("\(option) must name a kid of 1 to \(RegistryLimits.keyIDBytes) bytes")
                }
                guard Set(kids).count == kids.count else { throw CommandFailure("\(option) names a kid twice") }
            }
            if let both = Set(retire).intersection(revoke).first {
                throw CommandFailure("--retire and --revoke both name \(both); revoking is enough")
            }
            let operations = (newKey == nil ? 0 : 1) + retire.count + revoke.count
            guard operations <= IssuerKeysPayload.maxOperations else {
                throw CommandFailure(
                    "\(operations) operations; one transaction holds at most \(IssuerKeysPayload.maxOperations)")
            }
            guard newKey != nil || (kid == nil && notBefore == nil && notAfter == nil) else {
                throw CommandFailure("--kid, --not-before and --not-after describe --new-key, which is missing")
            }
            guard !retire.isEmpty || retireFrom == nil else {
                throw CommandFailure("--retire-from needs --retire KID")
            }
            let from = try retireFrom.map { try OptionParsing.time($0, option: "--retire-from") } ?? now
            let start = try notBefore.map { try OptionParsing.time($0, option: "--not-before") }
            let end = try notAfter.map { try OptionParsing.time($0, option: "--not-after") }
            if let start, let end, start > end { throw CommandFailure("--not-after is before --not-before") }
            let key = try newKey.map { try Self.readKey($0, kid: kid) }
            if let key, retire.contains(key.kid) || revoke.contains(key.kid) {
                throw CommandFailure("--new-key's kid \(key.kid) is also retired or revoked")
            }
            return Request(
                issuer: issuer, newKey: key, notBefore: start, notAfter: end, retire: retire, retireFrom: from,
                revoke: revoke)
        }

        /// The options, checked.
        struct Request {
            var issuer: String
            var newKey: (kid: String, x: [UInt8], y: [UInt8])?
            var notBefore: UInt64?
            var notAfter: UInt64?
            var retire: [String]
            var retireFrom: UInt64
            var revoke: [String]

            /// The payload: the new key first, then the retirements, then the revocations.
            func payload(notBefore: UInt64, notAfter: UInt64) throws -> IssuerKeysPayload {
                var operations: [IssuerKeyOperation] = []
                if let newKey {
                    guard notBefore <= notAfter else {
                        throw CommandFailure(
                            "the new key's window is empty: not before \(notBefore), not after \(notAfter) (ms)")
                    }
                    operations.append(
                        .add(
                            IssuerSigningKey(
                                keyID: newKey.kid, x: newKey.x, y: newKey.y, notBefore: notBefore, notAfter: notAfter)))
                }
                operations += retire.map { .retire(keyID: $0, from: retireFrom) }
                operations += revoke.map { .revoke(keyID: $0) }
                return IssuerKeysPayload(issuer: issuer, operations: operations)
            }
        }

        /// The kid and public coordinates of a P-256 JWK file: a private key (its `d` must match `x` and `y`) or a
        /// public one.
        static func readKey(_ path: String, kid override: String?) throws -> (kid: String, x: [UInt8], y: [UInt8]) {
            let json: JSONValue
            do {
                json = try JSONValue.parse(try PrivateFile.read(path, maxBytes: 64 * 1024))
            } catch {
                throw CommandFailure("--new-key \(path): \(error)")
            }
            let jwk: PublicJWK
            do {
                if json["d"] != nil {
                    let parsed = try P256PrivateJWK.parse(json)
                    jwk = PublicJWK(key: .p256(parsed.key.publicKey), kid: parsed.kid)
                } else {
                    jwk = try PublicJWK.parse(json, path: "jwk")
                }
            } catch {
                throw CommandFailure("--new-key \(path): \(error)")
            }
            guard case .p256(let publicKey) = jwk.key else {
                throw CommandFailure("--new-key \(path) is not a P-256 key")
            }
            guard let kid = override ?? jwk.kid, !kid.isEmpty, kid.utf8.count <= RegistryLimits.keyIDBytes else {
                throw CommandFailure(
                    "--new-key \(path) names no kid of 1 to \(RegistryLimits.keyIDBytes) bytes; pass --kid")
            }
            let raw = Array(publicKey.rawRepresentation)
            return (kid, Array(raw[0..<32]), Array(raw[32..<64]))
        }

        /// The start of the UTC day of `time` (milliseconds), when credentials issued that day are dated.
        static func startOfDay(_ time: UInt64) -> UInt64 { time - time % 86_400_000 }
    }
}

/// `GET /v1/issuers/{identifier}`: the parts of the issuer rotate-key needs.
private struct IssuerAnswer: Decodable {
    struct Issuer: Decodable {
        var validFrom: UInt64
        var validUntil: UInt64
    }

    var issuer: Issuer
}
