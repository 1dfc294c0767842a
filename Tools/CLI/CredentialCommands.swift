import ArgumentParser
import Credentials
import Crypto
import EnsureCrypto
import Foundation

/// `ensure credential`: an issuer's and a verifier's age-credential commands (offline: files, no node).
struct CredentialCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "credential",
        abstract: "Issue, verify and revoke SD-JWT VC age credentials (offline, with local files).",
        subcommands: [
            IssuerKey.self, IssuerEntry.self, Issue.self, Verify.self, Revoke.self, PublishStatus.self, RotateKey.self,
        ]
    )

    /// `ensure credential issuer-key`: a new P-256 issuer key as a private JWK (mode 0600).
    struct IssuerKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "issuer-key", abstract: "Create a P-256 (ES256) issuer key as a private JWK file (mode 0600).")

        @Option(help: "The key file to create.")
        var out: String

        @Option(help: "The key id (kid) to record in the JWK.")
        var kid: String?

        @Flag(help: "Replace an existing file at --out.")
        var force = false

        func run() throws {
            guard force || !FileManager.default.fileExists(atPath: out) else {
                throw CommandFailure("\(out) exists; pass --force to replace it")
            }
            let key = P256.Signing.PrivateKey()
            try PrivateFile.write(P256PrivateJWK.json(key, kid: kid).serializedBytes + [0x0A], to: out)
            let thumbprint = PublicJWK(key: .p256(key.publicKey)).thumbprint
            print("issuer key written to \(out) (mode 0600); JWK thumbprint \(thumbprint)")
        }
    }

    /// `ensure credential issuer-entry`: the registry entry of an issuer key, as `--issuers` files hold it.
    struct IssuerEntry: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "issuer-entry",
            abstract: "Print (or write) an issuer registry file with the public key of an issuer key file.")

        @Option(help: "The issuer's private JWK file.")
        var issuerKey: String

        @Option(help: "The issuer identifier (iss).")
        var issuer: String

        @Option(help: "The key id (kid); defaults to the kid in the key file.")
        var kid: String?

        @Option(help: "An allowed vct (repeatable); defaults to the Ensure age credential type.")
        var vct: [String] = []

        @Option(help: "Write the registry JSON to this file instead of standard output.")
        var out: String?

        func run() throws {
            let (key, fileKid) = try readIssuerKey(issuerKey)
            guard let kid = kid ?? fileKid else { throw CommandFailure("the key file has no kid; pass --kid") }
            let registry = InMemoryIssuerRegistry([
                RegisteredIssuer(
                    identifier: issuer,
                    keys: [Credentials.IssuerKey(jwk: PublicJWK(key: .p256(key.publicKey), kid: kid))],
                    allowedVCTs: Set(vct.isEmpty ? [AgeProfile.defaultVCT] : vct))
            ])
            let text = registry.json.serialized
            if let out {
                try Data((text + "\n").utf8).write(to: URL(fileURLWithPath: out))
            } else {
                print(text)
            }
        }
    }

    /// `ensure credential issue`: a batch of single-use credentials for one person into a wallet file.
    struct Issue: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue a batch of single-use age credentials into a wallet file.",
            discussion: """
                The birth date only decides the age_over_NN booleans; it is stored nowhere. The issuer's status \
                list file is created when missing and records which indices were handed out.
                """)

        @Option(help: "The issuer's private JWK file.")
        var issuerKey: String

        @Option(help: "The issuer identifier (iss), an https URL.")
        var issuer: String

        @Option(help: "The key id (kid) of the issuer key; defaults to the kid in the key file.")
        var kid: String?

        @Option(help: "The holder's birth date, YYYY-MM-DD.")
        var birthDate: String

        @Option(help: "How many single-use credentials to issue.")
        var count: Int = AgeProfile.defaultBatchSize

        @Option(help: "Days of validity (1 to 90).")
        var validityDays: Int = 30

        @Option(help: "The issuer's local status list file (created when missing).")
        var statusList: String

        @Option(help: "The URI the status list is published under.")
        var statusUri: String

        @Option(help: "The wallet file to append the batch to (created when missing, mode 0600).")
        var wallet: String

        func run() throws {
            let (key, fileKid) = try readIssuerKey(issuerKey)
            guard let kid = kid ?? fileKid else { throw CommandFailure("the key file has no kid; pass --kid") }
            guard let birth = CivilDate(iso: birthDate) else {
                throw CommandFailure("--birth-date \(birthDate) is not a date in the form YYYY-MM-DD")
            }
            let issuerState = try AgeCredentialIssuer(
                issuer: issuer, kid: kid, signingKey: .p256(key), validityDays: validityDays)
            var list: IssuerStatusList
            if FileManager.default.fileExists(atPath: statusList) {
                list = try IssuerStatusList.decode(try readJSON(statusList))
                guard list.uri == statusUri else {
                    throw CommandFailure("\(statusList) is the list of \(list.uri), not \(statusUri)")
                }
            } else {
                list = try IssuerStatusList(uri: statusUri)
            }
            var holderWallet =
                FileManager.default.fileExists(atPath: wallet) ? try Wallet(json: try readJSON(wallet)) : Wallet()
            var generator = SystemRandomNumberGenerator()
            let now = Int64(Date().timeIntervalSince1970)
            let batch = try issuerState.issueBatch(
                birthDate: birth, count: count, now: now, statusList: &list, using: &generator)
            // The status list first: an index recorded as allocated but never used is harmless; the reverse is not.
            try PrivateFile.write(list.json.serializedBytes + [0x0A], to: statusList)
            holderWallet.add(batch, issuer: issuer)
            try PrivateFile.write(holderWallet.json.serializedBytes + [0x0A], to: wallet)
            let indices = batch.map { String($0.statusIndex) }.joined(separator: ",")
            print(
                "issued \(batch.count) credentials into \(wallet) (\(holderWallet.usableCount(now: now)) usable); "
                    + "status indices \(indices)")
        }
    }

    /// `ensure credential verify`: offline verification of a presentation.
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify an age presentation offline; prints a JSON answer, exits 1 with the reason if refused.")

        @Option(help: "The presentation file, or - for standard input.")
        var presentation: String

        @Option(help: "The nonce of the presentation request.")
        var nonce: String

        @Option(help: "The verifier's audience (the KB-JWT aud).")
        var aud: String

        @Option(help: "The age threshold asked for.")
        var over: Int = 18

        @Option(help: "The issuer registry JSON file.")
        var issuers: String

        @Option(help: "A status list file: an issuer's local list, or a statuslist+jwt token (repeatable).")
        var statusList: [String] = []

        func run() throws {
            let registry: InMemoryIssuerRegistry
            do {
                registry = try InMemoryIssuerRegistry(json: try readJSON(issuers))
            } catch let error as CredentialFieldError {
                throw CommandFailure("\(issuers): \(error)")
            }
            let now = Int64(Date().timeIntervalSince1970)
            var lists: [String: StatusList] = [:]
            for file in statusList {
                let text = String(decoding: try PrivateFile.read(file), as: UTF8.self)
                if text.hasPrefix("ey") {
                    let keys = registry.issuers.values.flatMap(\.keys).map(\.jwk)
                    let list = try StatusListToken.verify(text, expectedURI: nil, now: now) { kid in
                        keys.first { $0.kid == kid }
                    }
                    let sub = try JSONValue.parse(try Base64.decodeURL(String(text.split(separator: ".")[1])))["sub"]
                    lists[sub?.stringValue ?? ""] = list
                } else {
                    let issuerList = try IssuerStatusList.decode(try JSONValue.parse(text))
                    lists[issuerList.uri] = issuerList.list
                }
            }
            let input: [UInt8]
            if presentation == "-" {
                input = Array(FileHandle.standardInput.readDataToEndOfFile())
            } else {
                input = try PrivateFile.read(presentation, maxBytes: 64 * 1024)
            }
            let verifier = PresentationVerifier(registry: registry, statusLists: InMemoryStatusListSource(lists))
            let request = PresentationRequest(
                nonce: nonce, audience: aud, threshold: over, createdAt: now, expiresAt: now + 300)
            do {
                let answer = try verifier.verify(String(decoding: input, as: UTF8.self), request: request, now: now)
                print(answer.json.serialized)
            } catch {
                let refusal = JSONValue.object([
                    ("accepted", .bool(false)), ("reason", .string(error.code)), ("detail", .string(error.description)),
                ])
                print(refusal.serialized)
                FileHandle.standardError.write(Data("refused: \(error.code): \(error.description)\n".utf8))
                throw ExitCode(1)
            }
        }
    }

    /// `ensure credential revoke`: flips one entry of the issuer's local status list.
    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke (or suspend, or reinstate) one credential in the issuer's local status list file.")

        @Option(help: "The issuer's local status list file.")
        var statusList: String

        @Option(help: "The status index of the credential.")
        var index: Int

        @Flag(help: "Suspend (status 2) instead of revoking (status 1).")
        var suspend = false

        @Flag(help: "Set the entry back to valid (status 0).")
        var reinstate = false

        func run() throws {
            var list = try IssuerStatusList.decode(try readJSON(statusList))
            let status: CredentialStatus = reinstate ? .valid : suspend ? .suspended : .invalid
            try list.list.setStatus(status.rawValue, at: index)
            try PrivateFile.write(list.json.serializedBytes + [0x0A], to: statusList)
            print("status of index \(index) in \(list.uri) is now \(status.rawValue) (\(status))")
        }
    }
}

/// `ensure wallet`: the holder's side.
struct WalletCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wallet",
        abstract: "Present single-use age credentials from a wallet file.",
        subcommands: [Present.self, Status.self]
    )

    /// `ensure wallet present`: one presentation, with the credential marked used on disk before it is printed.
    struct Present: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a presentation proving \"over N\" for a verifier's nonce and audience.")

        @Option(help: "The wallet file.")
        var wallet: String

        @Option(help: "The verifier's nonce.")
        var nonce: String

        @Option(help: "The verifier's audience.")
        var aud: String

        @Option(help: "The age threshold to answer.")
        var over: Int = 18

        func run() throws {
            var holderWallet = try Wallet(json: try readJSON(wallet))
            let now = Int64(Date().timeIntervalSince1970)
            let presentation = try holderWallet.present(over: over, nonce: nonce, audience: aud, now: now)
            // Persist first: if this write fails, nothing is printed and the credential is not spent twice.
            try PrivateFile.write(holderWallet.json.serializedBytes + [0x0A], to: wallet)
            print(presentation)
            let left = holderWallet.usableCount(now: now)
            if left == 0 {
                FileHandle.standardError.write(Data("wallet: that was the last credential; ask for a new batch\n".utf8))
            } else if holderWallet.needsRefill(now: now) {
                FileHandle.standardError.write(Data("wallet: only \(left) credentials left; ask for a refill\n".utf8))
            }
        }
    }

    /// `ensure wallet status`: how many credentials are left.
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show how many unused credentials the wallet holds.")

        @Option(help: "The wallet file.")
        var wallet: String

        @Flag(help: "Print one JSON object instead of text.")
        var json = false

        func run() throws {
            let holderWallet = try Wallet(json: try readJSON(wallet))
            let now = Int64(Date().timeIntervalSince1970)
            let usable = holderWallet.usableCount(now: now)
            let used = holderWallet.entries.filter(\.used).count
            let expired = holderWallet.entries.filter { !$0.used && $0.expiresAt <= now }.count
            if json {
                let value = JSONValue.object([
                    ("usable", .integer(Int64(usable))), ("used", .integer(Int64(used))),
                    ("expired", .integer(Int64(expired))), ("needs_refill", .bool(holderWallet.needsRefill(now: now))),
                ])
                print(value.serialized)
            } else {
                print("\(usable) usable, \(used) used, \(expired) expired")
                if usable == 0 {
                    print("the wallet is empty: ask the issuer for a new batch")
                } else if holderWallet.needsRefill(now: now) {
                    print("fewer than \(Wallet.lowWaterMark) left: ask the issuer for a refill")
                }
            }
        }
    }
}

/// Reads a JSON file (at most 64 MiB), naming the file in the error.
private func readJSON(_ path: String) throws -> JSONValue {
    let bytes = try PrivateFile.read(path)
    do {
        return try JSONValue.parse(bytes)
    } catch {
        throw CommandFailure("\(path): \(error)")
    }
}

/// Reads an issuer private JWK file.
private func readIssuerKey(_ path: String) throws -> (P256.Signing.PrivateKey, String?) {
    do {
        let parsed = try P256PrivateJWK.parse(try readJSON(path))
        return (parsed.key, parsed.kid)
    } catch let error as CredentialFieldError {
        throw CommandFailure("issuer key \(path): \(error)")
    }
}
