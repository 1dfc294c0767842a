import ArgumentParser
import Codec
import Credentials
import EnsureCrypto
import Foundation
import Ledger

extension CredentialCommand {
    /// `ensure credential publish-status`: sign the issuer's status list as a token and publish it on the ledger.
    struct PublishStatus: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "publish-status",
            abstract: "Publish a version of the issuer's status list on the ledger (status-list-publish).",
            discussion: """
                Signs the local status list as a statuslist+jwt token with the issuer's P-256 key (--issuer-key, \
                --kid), then submits it as a status-list-publish transaction signed by the issuer's Ed25519 \
                ledger key. Each publication of a URI needs a higher --version than the last.
                """)

        @Option(help: "The issuer's Ed25519 ledger key file.")
        var ledgerKey: String

        @OptionGroup var passphrase: PassphraseSource

        @Option(help: "The node's API URL, for example http://127.0.0.1:26601.")
        var node: String

        @Option(help: "The issuer's local status list file.")
        var statusList: String

        @Option(help: "The URI the list is published under (the token's sub); defaults to the file's uri.")
        var uri: String?

        @Option(help: "The issuer's private JWK file (P-256).")
        var issuerKey: String

        @Option(help: "The key id (kid) of the issuer key; defaults to the kid in the key file.")
        var kid: String?

        @Option(help: "The list's version, higher than the last one published.")
        var version: UInt64

        @Option(help: "Hours the token is valid (its exp); 0 for no exp.")
        var validHours: Int64 = 24 * 7

        @Option(help: "Wait up to this many seconds for the transaction to be committed.")
        var wait: Double?

        @Flag(help: "Print one JSON object instead of text.")
        var json = false

        func run() throws {
            let payload = try buildPayload(now: Int64(Date().timeIntervalSince1970))
            var arguments = ["--key", ledgerKey, "--node", node]
            if let file = passphrase.passphraseFile { arguments += ["--passphrase-file", file] }
            if let wait { arguments += ["--wait", String(wait)] }
            let signing = try SigningOptions.parse(arguments)
            print(try signing.submit(kind: .statusListPublish, payload: payload.canonicalBytes).render(json: json))
        }

        /// The signed token in its ledger payload; every refusal names the option.
        func buildPayload(now: Int64) throws -> StatusListPayload {
            let list: IssuerStatusList
            do {
                list = try IssuerStatusList.decode(try JSONValue.parse(try PrivateFile.read(statusList)))
            } catch {
                throw CommandFailure("--status-list \(statusList): \(error)")
            }
            let key: P256PrivateJWKParsed
            do {
                let parsed = try P256PrivateJWK.parse(try JSONValue.parse(try PrivateFile.read(issuerKey)))
                key = P256PrivateJWKParsed(key: .p256(parsed.key), kid: parsed.kid)
            } catch {
                throw CommandFailure("--issuer-key \(issuerKey): \(error)")
            }
            guard let kid = kid ?? key.kid, !kid.isEmpty else {
                throw CommandFailure("--kid is required: the key file names no kid")
            }
            let uri = uri ?? list.uri
            guard !uri.isEmpty, uri.utf8.count <= StatusListPayload.maxURIBytes else {
                throw CommandFailure("--uri must be 1 to \(StatusListPayload.maxURIBytes) bytes")
            }
            guard version > 0 else { throw CommandFailure("--version must be at least 1") }
            guard (0...24 * 366).contains(validHours) else {
                throw CommandFailure("--valid-hours must be between 0 and \(24 * 366)")
            }
            let token = StatusListToken.sign(
                list.list, uri: uri, issuer: nil, issuedAt: now,
                expiresAt: validHours == 0 ? nil : now + validHours * 3600, ttl: nil, key: key.key, kid: kid)
            guard token.utf8.count <= StatusListPayload.maxTokenBytes else {
                throw CommandFailure(
                    "--status-list: the signed token is \(token.utf8.count) bytes, more than the ledger's "
                        + "\(StatusListPayload.maxTokenBytes)")
            }
            return StatusListPayload(uri: uri, listVersion: version, token: token)
        }
    }
}

/// An issuer signing key read from its file, with the kid the file names.
private struct P256PrivateJWKParsed {
    let key: JWSSigningKey
    let kid: String?
}
