import Credentials
import Crypto
import EnsureCrypto
import Foundation
import Testing

@Suite("Civil dates")
struct CivilDateTests {
    @Test("days since the epoch and back agree, across leap years and centuries")
    func roundTrip() throws {
        for text in ["1970-01-01", "2000-02-29", "1900-03-01", "2024-12-31", "1969-12-31", "0001-01-01", "9999-12-31"] {
            let date = try #require(CivilDate(iso: text))
            #expect(CivilDate(utcDayOf: date.unixSeconds) == date, "\(text)")
            #expect(CivilDate(utcDayOf: date.unixSeconds + 86_399) == date, "\(text)")
            #expect(date.description == text)
        }
        #expect(CivilDate(iso: "1970-01-02")?.daysSinceEpoch == 1)
        #expect(CivilDate(utcDayOf: 1_749_988_800).description == "2025-06-15")
    }

    @Test(
        "invalid dates and formats are refused",
        arguments: ["2023-02-29", "2024-13-01", "2024-04-31", "24-01-01", "2024/01/01", "2024-01-1", "abcd-ef-gh", ""])
    func invalid(_ text: String) {
        #expect(CivilDate(iso: text) == nil)
    }

    @Test("age in whole years turns on the birthday; a 29 February birthday counts from 1 March in common years")
    func age() throws {
        let birth = try #require(CivilDate(iso: "2007-06-15"))
        #expect(try #require(CivilDate(iso: "2025-06-14")).years(since: birth) == 17)
        #expect(try #require(CivilDate(iso: "2025-06-15")).years(since: birth) == 18)
        let leap = try #require(CivilDate(iso: "2008-02-29"))
        #expect(try #require(CivilDate(iso: "2026-02-28")).years(since: leap) == 17)
        #expect(try #require(CivilDate(iso: "2026-03-01")).years(since: leap) == 18)
        #expect(try #require(CivilDate(iso: "2028-02-29")).years(since: leap) == 20)
    }
}

@Suite("Age credential profile and batch issuance")
struct AgeCredentialTests {
    @Test("the booleans follow the birth date on the day of issuance (18th birthday today: over 18 is true)")
    func booleans() throws {
        let birth = try #require(CivilDate(iso: "2007-06-15"))
        let fixture = try CredentialFixture(birthDate: birth, count: 1)
        let disclosures = try SDJWT.parse(fixture.batch[0].sdJWT).disclosures
        var claims: [String: Bool] = [:]
        for disclosure in disclosures { claims[disclosure.claimName ?? ""] = disclosure.value.boolValue }
        #expect(
            claims == [
                "age_over_12": true, "age_over_14": true, "age_over_16": true, "age_over_18": true,
                "age_over_21": false, "age_over_65": false,
            ])
    }

    @Test("the issuer JWT holds only iss, iat, exp, vct, cnf, status, _sd and _sd_alg; no name, birth date or sub")
    func payloadShape() throws {
        let fixture = try CredentialFixture(count: 1)
        let jwt = try SDJWT.parse(fixture.batch[0].sdJWT).issuerJWT
        let names = Set((jwt.payload.objectMembers ?? []).map(\.0))
        #expect(names == ["iss", "iat", "exp", "vct", "cnf", "status", "_sd", "_sd_alg"])
        #expect(jwt.header["typ"] == .string("dc+sd-jwt"))
        #expect(jwt.header["alg"] == .string("ES256"))
        #expect(jwt.header["kid"] == .string(CredentialFixture.kid))
        let text = jwt.payload.serialized
        for forbidden in ["2000-03-10", "birth", "name"] { #expect(!text.contains(forbidden), "\(forbidden)") }
        #expect(jwt.payload["sub"] == nil)
        #expect(jwt.payload["cnf"]?["jwk"]?["d"] == nil)
    }

    @Test(
        "every credential has exactly 8 digests, sorted, whatever the age",
        arguments: ["2020-01-01", "1990-01-01", "1940-01-01"])
    func digestCount(_ birth: String) throws {
        let fixture = try CredentialFixture(birthDate: try #require(CivilDate(iso: birth)), count: 2)
        for credential in fixture.batch {
            let digests = try SDJWT.parse(credential.sdJWT).issuerJWT.payload["_sd"]?.arrayValue?.compactMap(
                \.stringValue)
            #expect(digests?.count == AgeProfile.digestCount)
            #expect(digests == digests?.sorted())
        }
    }

    @Test("iat is the start of the UTC day, exp a whole number of days later, at most 90")
    func dayRounding() throws {
        let fixture = try CredentialFixture(count: 1)
        let payload = try SDJWT.parse(fixture.batch[0].sdJWT).issuerJWT.payload
        let iat = try #require(payload["iat"]?.integerValue)
        let exp = try #require(payload["exp"]?.integerValue)
        #expect(iat % 86_400 == 0 && exp % 86_400 == 0)
        #expect(iat <= CredentialFixture.now && CredentialFixture.now - iat < 86_400)
        #expect(exp - iat == 30 * 86_400)
        let key = P256.Signing.PrivateKey()
        #expect(throws: IssuanceError.invalidValidity(days: 91)) {
            try AgeCredentialIssuer(issuer: "https://i", kid: "k", signingKey: .p256(key), validityDays: 91)
        }
        #expect(throws: IssuanceError.invalidValidity(days: 0)) {
            try AgeCredentialIssuer(issuer: "https://i", kid: "k", signingKey: .p256(key), validityDays: 0)
        }
        let longest = try AgeCredentialIssuer(issuer: "https://i", kid: "k", signingKey: .p256(key), validityDays: 90)
        #expect(longest.validityDays == 90)
    }

    @Test("a birth date after the issuance day and absurd batch sizes are refused, and use no status entries")
    func issuanceRefusals() throws {
        var fixture = try CredentialFixture(count: 1)
        let free = fixture.statusList.freeCount
        let tomorrow = CivilDate(utcDayOf: CredentialFixture.now + 86_400)
        #expect(throws: IssuanceError.birthDateInFuture(tomorrow)) {
            try fixture.issuer.issueBatch(
                birthDate: tomorrow, now: CredentialFixture.now, statusList: &fixture.statusList,
                using: &fixture.generator)
        }
        #expect(throws: IssuanceError.invalidBatchSize(0)) {
            try fixture.issuer.issueBatch(
                birthDate: CredentialFixture.birthDate, count: 0, now: CredentialFixture.now,
                statusList: &fixture.statusList, using: &fixture.generator)
        }
        #expect(fixture.statusList.freeCount == free)
    }

    @Test("unlinkability: a default batch of 30 shares no salt, holder key, status index, digest or signature")
    func unlinkableBatch() throws {
        var generator = SeededGenerator(seed: 99)
        let issuer = try AgeCredentialIssuer(
            issuer: CredentialFixture.issuerURL, kid: CredentialFixture.kid,
            signingKey: .p256(makeP256Key(using: &generator)))
        var list = try IssuerStatusList(uri: CredentialFixture.statusURI)
        let batch = try issuer.issueBatch(
            birthDate: CredentialFixture.birthDate, now: CredentialFixture.now, statusList: &list, using: &generator)
        #expect(batch.count == 30)
        var salts = Set<String>()
        var digests = Set<String>()
        var holderKeys = Set<String>()
        var indices = Set<Int64>()
        var signatures = Set<String>()
        var timestamps = Set<String>()
        for credential in batch {
            let parsed = try SDJWT.parse(credential.sdJWT)
            for disclosure in parsed.disclosures { #expect(salts.insert(disclosure.salt).inserted) }
            for digest in (parsed.issuerJWT.payload["_sd"]?.arrayValue ?? []).compactMap(\.stringValue) {
                #expect(digests.insert(digest).inserted)
            }
            let holderX = parsed.issuerJWT.payload["cnf"]?["jwk"]?["x"]?.stringValue ?? ""
            let index = parsed.issuerJWT.payload["status"]?["status_list"]?["idx"]?.integerValue ?? -1
            #expect(holderKeys.insert(holderX).inserted)
            #expect(indices.insert(index).inserted)
            #expect(signatures.insert(Base64.encodeURL(parsed.issuerJWT.signature)).inserted)
            timestamps.insert(
                "\(parsed.issuerJWT.payload["iat"]?.serialized ?? "")/\(parsed.issuerJWT.payload["exp"]?.serialized ?? "")"
            )
        }
        // Everything that could link two credentials differs; what they share (issuer, day, vct) is shared by the
        // issuer's whole population of the day.
        #expect(timestamps.count == 1)
    }

    @Test(
        "privacy: two presentations of one batch share no salt, holder key, status index or digest, and reveal one claim"
    )
    func presentationsUnlinkable() throws {
        let fixture = try CredentialFixture(count: 2)
        let first = try fixture.present(0)
        let second = try fixture.present(1)
        func material(_ presentation: String) throws -> (
            salts: Set<String>, key: String, idx: Int64, digests: Set<String>, kb: JSONValue, payload: JSONValue
        ) {
            let parsed = try SDJWT.parse(presentation)
            let payload = parsed.issuerJWT.payload
            let digests = Set((payload["_sd"]?.arrayValue ?? []).compactMap(\.stringValue))
            return (
                Set(parsed.disclosures.map(\.salt)), payload["cnf"]?["jwk"]?.serialized ?? "",
                payload["status"]?["status_list"]?["idx"]?.integerValue ?? -1, digests,
                parsed.keyBindingJWT?.payload ?? .null, payload
            )
        }
        let a = try material(first)
        let b = try material(second)
        #expect(a.salts.isDisjoint(with: b.salts))
        #expect(a.key != b.key)
        #expect(a.idx != b.idx)
        #expect(a.digests.isDisjoint(with: b.digests))
        #expect(a.salts.count == 1)
        for value in [a.kb, a.payload, b.kb, b.payload] {
            let text = value.serialized
            #expect(!text.contains("2000-03-10") && !text.contains("birth") && !text.contains("name"))
            #expect(value["sub"] == nil)
        }
        #expect(Set((a.kb.objectMembers ?? []).map(\.0)) == ["iat", "aud", "nonce", "sd_hash"])
    }
}

@Suite("Wallet")
struct WalletTests {
    @Test("presents each credential once, warns when fewer than 5 remain, and says when it is empty")
    func singleUse() throws {
        let fixture = try CredentialFixture(count: 6)
        var wallet = Wallet()
        wallet.add(fixture.batch, issuer: CredentialFixture.issuerURL)
        #expect(!wallet.needsRefill(now: CredentialFixture.now))
        var issuerJWTs = Set<String>()
        for round in 0..<6 {
            let presentation = try wallet.present(
                over: 18, nonce: "n\(round)", audience: CredentialFixture.audience, now: CredentialFixture.now)
            #expect(issuerJWTs.insert(String(presentation.split(separator: "~")[0])).inserted)
            #expect(wallet.usableCount(now: CredentialFixture.now) == 5 - round)
        }
        #expect(wallet.needsRefill(now: CredentialFixture.now))
        #expect(throws: WalletError.empty) {
            try wallet.present(over: 18, nonce: "n", audience: CredentialFixture.audience, now: CredentialFixture.now)
        }
    }

    @Test("expired credentials are not presented")
    func expired() throws {
        let fixture = try CredentialFixture(count: 1)
        var wallet = Wallet()
        wallet.add(fixture.batch, issuer: CredentialFixture.issuerURL)
        let exp = fixture.batch[0].expiresAt
        #expect(wallet.usableCount(now: exp) == 0)
        #expect(throws: WalletError.empty) { try wallet.present(over: 18, nonce: "n", audience: "a", now: exp) }
    }

    @Test("a question no claim answers leaves the credential unused")
    func unanswerable() throws {
        let fixture = try CredentialFixture(count: 1)
        var wallet = Wallet()
        wallet.add(fixture.batch, issuer: CredentialFixture.issuerURL)
        #expect(throws: WalletError.cannotAnswer(threshold: 30)) {
            try wallet.present(over: 30, nonce: "n", audience: "a", now: CredentialFixture.now)
        }
        #expect(wallet.usableCount(now: CredentialFixture.now) == 1)
    }

    @Test("the wallet file round-trips, is written 0600, and a malformed file names the field")
    func file() throws {
        let fixture = try CredentialFixture(count: 2)
        var wallet = Wallet()
        wallet.add(fixture.batch, issuer: CredentialFixture.issuerURL)
        _ = try wallet.present(over: 18, nonce: "n", audience: "a", now: CredentialFixture.now)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wallet-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("wallet.json").path
        try PrivateFile.write(wallet.json.serializedBytes, to: path)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let loaded = try Wallet(json: JSONValue.parse(try PrivateFile.read(path)))
        #expect(loaded.entries.count == 2)
        #expect(loaded.entries.map(\.used) == [true, false])
        #expect(loaded.entries[1].holderKey.rawRepresentation == wallet.entries[1].holderKey.rawRepresentation)
        #expect(
            throws: WalletError.field(
                CredentialFieldError(path: "credentials[0].holder_key_d", problem: "must be a P-256 private key"))
        ) {
            try Wallet(
                json: JSONValue.parse(
                    #"{"type":"ensure-wallet","version":1,"credentials":[{"credential":"x","holder_key_d":"AA"}]}"#))
        }
    }
}
