import Codec
import EnsureCrypto
import Ledger
import Testing

/// An issuer registered on an ``ApplicationHarness``, with helpers to submit `issuer-keys` transactions.
private struct IssuerFixture {
    static let identifier = "https://issuer.bank-a.example"
    /// The harness's default block time.
    static let now: UInt64 = 1_700_000_100_000
    static let validUntil: UInt64 = 1_800_000_000_000

    var app: ApplicationHarness
    let ledgerKey = ApplicationHarness.key(70)

    /// Organizations `org-0`… (`sponsor` sponsors the issuer), and an issuer with key `k1`.
    init(organizations: Int = 1, sponsor: String = "org-0") throws {
        app = ApplicationHarness(organizations: organizations)
        try app.pass(
            .addIssuer(
                IssuerRecord(
                    identifier: Self.identifier, organization: sponsor, ledgerKey: ledgerKey.publicKey,
                    signingKeys: [Self.key("k1", seed: 1)], credentialTypes: ["urn:ensure:age:1"],
                    validFrom: 1_600_000_000_000, validUntil: Self.validUntil)))
    }

    /// A key whose coordinates are filled with `seed` (the ledger does not check the curve; the verifier does).
    static func key(
        _ kid: String, seed: UInt8, notBefore: UInt64 = 1_650_000_000_000, notAfter: UInt64 = 1_790_000_000_000
    ) -> IssuerSigningKey {
        IssuerSigningKey(
            keyID: kid, x: [UInt8](repeating: seed, count: 32), y: [UInt8](repeating: seed &+ 1, count: 32),
            notBefore: notBefore, notAfter: notAfter)
    }

    /// Runs `operations` signed by `signer` (the issuer's ledger key by default) in one block at `time`; returns
    /// the failure code or nil.
    mutating func run(
        _ operations: [IssuerKeyOperation], by signer: Ed25519PrivateKey? = nil, issuer: String = identifier,
        at time: UInt64 = now
    ) throws -> String? {
        let tx = app.tx(
            signer ?? ledgerKey, .issuerKeys, IssuerKeysPayload(issuer: issuer, operations: operations))
        return try app.block([tx], timestamp: time)[0]?.code
    }

    var record: IssuerRecord? {
        get throws {
            try LedgerApplication.decode(IssuerRecord.self, at: StateKeys.issuer(Self.identifier), in: app.state)
        }
    }

    var recordBytes: [UInt8]? {
        get throws { try app.state.value(forKey: StateKeys.issuer(Self.identifier)) }
    }
}

@Suite("Ledger application: issuer key rotation (issuer-keys)")
struct IssuerKeyRuleTests {
    @Test("the issuer adds a key, retires the old one from a time on, and revokes another; the record says so")
    func rotate() throws {
        var issuer = try IssuerFixture()
        let k2 = IssuerFixture.key("k2", seed: 3)
        #expect(try issuer.run([.add(k2), .retire(keyID: "k1", from: IssuerFixture.now - 5000)]) == nil)
        var record = try #require(try issuer.record)
        #expect(record.signingKeys.map(\.keyID) == ["k1", "k2"])
        #expect(record.signingKeys[0].retiredFrom == IssuerFixture.now - 5000)
        #expect(record.signingKeys[0].revokedAt == nil)
        #expect(record.signingKeys[1] == k2)

        #expect(try issuer.run([.add(IssuerFixture.key("k3", seed: 5))]) == nil)
        #expect(try issuer.run([.revoke(keyID: "k3")], at: IssuerFixture.now + 7) == nil)
        record = try #require(try issuer.record)
        #expect(record.signingKeys[2].revokedAt == IssuerFixture.now + 7)
        // Revoking a retired key (a compromise found after a rotation) is allowed.
        #expect(try issuer.run([.revoke(keyID: "k1")]) == nil)
        record = try #require(try issuer.record)
        #expect(record.signingKeys[0].revokedAt == IssuerFixture.now && record.signingKeys[0].retiredFrom != nil)
        #expect(record.signingKeys.map { $0.isUsable(at: IssuerFixture.now) } == [false, true, false])
    }

    @Test("the operations of one transaction apply together: the only key is replaced and revoked at once")
    func replaceCompromised() throws {
        var issuer = try IssuerFixture()
        // Alone, retiring the only key would leave the issuer without a usable key.
        let before = try issuer.recordBytes
        #expect(try issuer.run([.retire(keyID: "k1", from: IssuerFixture.now)]) == "invalid-transition")
        #expect(try issuer.recordBytes == before)
        #expect(try issuer.run([.add(IssuerFixture.key("k2", seed: 3)), .revoke(keyID: "k1")]) == nil)
        #expect(try issuer.record?.signingKeys.map { $0.isUsable(at: IssuerFixture.now) } == [false, true])
    }

    @Test("a revocation is never blocked: revoking the only usable key succeeds and leaves the issuer keyless")
    func revokeOnlyKey() throws {
        var issuer = try IssuerFixture()
        #expect(try issuer.run([.revoke(keyID: "k1")]) == nil)
        #expect(try issuer.record?.signingKeys.map(\.revokedAt) == [IssuerFixture.now])
        #expect(try issuer.record?.signingKeys.map { $0.isUsable(at: IssuerFixture.now) } == [false])
        // With no usable key left, only an addition brings it back; another revocation of it is a transition error.
        #expect(try issuer.run([.revoke(keyID: "k1")]) == "invalid-transition")
        #expect(try issuer.run([.add(IssuerFixture.key("k2", seed: 3))]) == nil)
    }

    @Test("a retirement in the future leaves the key usable until then")
    func futureRetirement() throws {
        var issuer = try IssuerFixture()
        #expect(try issuer.run([.retire(keyID: "k1", from: IssuerFixture.now + 86_400_000)]) == nil)
        let key = try #require(try issuer.record?.signingKeys.first)
        #expect(key.isUsable(at: IssuerFixture.now))
        #expect(!key.isUsable(at: IssuerFixture.now + 86_400_000))
    }

    @Test("wrong signers fail as unauthorized and change nothing: another issuer, a member admin, a plugin")
    func wrongSigners() throws {
        var issuer = try IssuerFixture(organizations: 1)
        let other = ApplicationHarness.key(71)
        try issuer.app.pass(
            .addIssuer(
                IssuerRecord(
                    identifier: "https://other.example", organization: "org-0", ledgerKey: other.publicKey,
                    signingKeys: [IssuerFixture.key("o1", seed: 9)], credentialTypes: ["urn:ensure:age:1"],
                    validFrom: 0, validUntil: IssuerFixture.validUntil)))
        let plugin = ApplicationHarness.key(72)
        try issuer.app.addPlugin(plugin)
        let before = try issuer.recordBytes
        let add = IssuerKeyOperation.add(IssuerFixture.key("k2", seed: 3))
        // Another issuer's ledger key naming this issuer, this issuer's key naming the other.
        #expect(try issuer.run([add], by: other) == "unauthorized")
        #expect(try issuer.run([add], issuer: "https://other.example") == "unauthorized")
        #expect(try issuer.run([add], by: issuer.app.admins[0]) == "unauthorized")
        #expect(try issuer.run([add], by: plugin) == "unauthorized")
        #expect(try issuer.run([add], by: ApplicationHarness.key(73)) == "unauthorized")
        #expect(try issuer.recordBytes == before)
        // And the right signer succeeds.
        #expect(try issuer.run([add]) == nil)
    }

    @Test("a delisted issuer cannot change keys; one whose sponsor was removed can only revoke them")
    func delistedAndRemoved() throws {
        var delisted = try IssuerFixture()
        try delisted.app.pass(.delistIssuer(identifier: IssuerFixture.identifier))
        #expect(try delisted.run([.add(IssuerFixture.key("k2", seed: 3))]) == "unauthorized")
        #expect(try delisted.run([.revoke(keyID: "k1")]) == "unauthorized")
        #expect(try delisted.record?.signingKeys.count == 1)

        var orphan = try IssuerFixture(organizations: 2, sponsor: "org-1")
        #expect(try orphan.run([.add(IssuerFixture.key("k2", seed: 3))]) == nil)
        try orphan.app.pass(.removeOrganization(name: "org-1"))
        let before = try orphan.recordBytes
        #expect(try orphan.run([.add(IssuerFixture.key("k3", seed: 5))]) == "unauthorized")
        #expect(
            try orphan.run([.add(IssuerFixture.key("k3", seed: 5)), .revoke(keyID: "k2")]) == "unauthorized")
        #expect(try orphan.recordBytes == before)
        // A leaked key of an orphaned issuer must still be stoppable.
        #expect(try orphan.run([.revoke(keyID: "k2")]) == nil)
        #expect(try orphan.record?.signingKeys.first { $0.keyID == "k2" }?.revokedAt == IssuerFixture.now)
    }

    @Test("each refusal has its stable code and leaves the record as it was")
    func refusals() throws {
        var issuer = try IssuerFixture()
        #expect(try issuer.run([.add(IssuerFixture.key("k2", seed: 3))]) == nil)
        let cases: [(String, [IssuerKeyOperation], String)] = [
            ("kid in use", [.add(IssuerFixture.key("k1", seed: 7))], "conflict"),
            ("point in use under another kid", [.add(IssuerFixture.key("k9", seed: 3))], "conflict"),
            (
                "the same kid twice in one transaction",
                [
                    .add(IssuerFixture.key("k4", seed: 11)), .add(IssuerFixture.key("k4", seed: 13)),
                ], "conflict"
            ),
            (
                "beyond the issuer's approval",
                [.add(IssuerFixture.key("k5", seed: 11, notAfter: IssuerFixture.validUntil + 1))],
                "invalid-payload"
            ),
            (
                "before the issuer's approval", [.add(IssuerFixture.key("k5", seed: 11, notBefore: 1_500_000_000_000))],
                "invalid-payload"
            ),
            (
                "already expired", [.add(IssuerFixture.key("k5", seed: 11, notAfter: IssuerFixture.now))],
                "invalid-payload"
            ),
            ("retire an unknown kid", [.retire(keyID: "nope", from: IssuerFixture.now)], "not-found"),
            ("revoke an unknown kid", [.revoke(keyID: "nope")], "not-found"),
            ("retire after the key's end", [.retire(keyID: "k1", from: 1_790_000_000_000)], "invalid-payload"),
            ("retire before the key's start", [.retire(keyID: "k1", from: 1_600_000_000_000)], "invalid-payload"),
            (
                "retire twice",
                [.retire(keyID: "k1", from: IssuerFixture.now), .retire(keyID: "k1", from: IssuerFixture.now)],
                "invalid-transition"
            ),
            ("revoke twice", [.revoke(keyID: "k1"), .revoke(keyID: "k1")], "invalid-transition"),
            (
                "retire a revoked key", [.revoke(keyID: "k1"), .retire(keyID: "k1", from: IssuerFixture.now)],
                "invalid-transition"
            ),
            (
                "no usable key left", [.revoke(keyID: "k1"), .retire(keyID: "k2", from: IssuerFixture.now)],
                "invalid-transition"
            ),
            // A valid first operation does not survive a failing second one.
            ("all or nothing", [.add(IssuerFixture.key("k6", seed: 15)), .revoke(keyID: "nope")], "not-found"),
        ]
        for (name, operations, code) in cases {
            let before = try issuer.recordBytes
            #expect(try issuer.run(operations) == code, "\(name)")
            #expect(try issuer.recordBytes == before, "\(name)")
        }
        #expect(try issuer.record?.signingKeys.map(\.keyID) == ["k1", "k2"])
    }

    @Test("at most 8 usable keys and 16 entries; expired entries are dropped and their kid and point never return")
    func capsAndPruning() throws {
        var issuer = try IssuerFixture()
        // k1 plus seven more: eight usable keys. A ninth is over the cap.
        for n in 2...8 {
            #expect(try issuer.run([.add(IssuerFixture.key("k\(n)", seed: UInt8(2 * n)))]) == nil)
        }
        #expect(try issuer.run([.add(IssuerFixture.key("k9", seed: 18))]) == "limit")
        // Retiring one makes room for one usable key, but every retired key still holds an entry.
        var next = 9
        for retired in 1...8 {
            #expect(
                try issuer.run([
                    .retire(keyID: "k\(retired)", from: IssuerFixture.now),
                    .add(IssuerFixture.key("k\(next)", seed: UInt8(2 * next))),
                ]) == nil)
            next += 1
        }
        #expect(try issuer.record?.signingKeys.count == 16)
        #expect(
            try issuer.run([
                .retire(keyID: "k9", from: IssuerFixture.now),
                .add(IssuerFixture.key("k\(next)", seed: UInt8(2 * next))),
            ]) == "limit")

        // k1…k8 expire at 1_790_000_000_000; a later key with a later end keeps the issuer going.
        issuer = try IssuerFixture()
        let long: UInt64 = 1_799_000_000_000
        for n in 2...8 {
            #expect(try issuer.run([.add(IssuerFixture.key("k\(n)", seed: UInt8(2 * n), notAfter: long))]) == nil)
        }
        let later: UInt64 = 1_790_000_000_000
        #expect(try issuer.run([.add(IssuerFixture.key("n1", seed: 40, notAfter: long))], at: later) == nil)
        #expect(try issuer.record?.signingKeys.map(\.keyID) == ["k2", "k3", "k4", "k5", "k6", "k7", "k8", "n1"])
        // k1 is gone from the record, but neither its kid nor its point can come back.
        #expect(try issuer.run([.add(IssuerFixture.key("k1", seed: 50, notAfter: long))], at: later) == "conflict")
        #expect(try issuer.run([.add(IssuerFixture.key("k1b", seed: 1, notAfter: long))], at: later) == "conflict")
        #expect(try issuer.app.state.value(forKey: StateKeys.issuerUsedKeyID(IssuerFixture.identifier, "k1")) == [])
        #expect(try issuer.app.state.value(forKey: StateKeys.issuerUsedKeyID(IssuerFixture.identifier, "k2")) == nil)
    }

    @Test("the same transactions give the same state root on two nodes")
    func deterministic() throws {
        let operations: [IssuerKeyOperation] = [
            .add(IssuerFixture.key("k2", seed: 3)), .retire(keyID: "k1", from: IssuerFixture.now - 1),
        ]
        var a = try IssuerFixture()
        var b = try IssuerFixture()
        #expect(try a.run(operations) == nil)
        #expect(try b.run(operations) == nil)
        #expect(a.app.stateRoot == b.app.stateRoot)
        #expect(try a.recordBytes == b.recordBytes)
    }

    @Test("a payload that does not decode is refused before it reaches a block")
    func stateless() throws {
        var app = ApplicationHarness(organizations: 1)
        let empty = app.tx(
            ApplicationHarness.key(71), .issuerKeys, IssuerKeysPayload(issuer: "https://i.example", operations: []))
        #expect(LedgerApplication.statelessFailure(of: empty)?.code == "invalid-payload")
        #expect(LedgerApplication.statelessFailure(of: empty)?.reason.contains("operations") == true)
        let good = IssuerKeysPayload(issuer: "https://i.example", operations: [.revoke(keyID: "k1")])
        var bytes = good.canonicalBytes
        bytes[bytes.count - 4] = 7  // the operation tag
        #expect(throws: CanonicalDecodingError.self) {
            try IssuerKeysPayload.decode(canonical: bytes, field: "payload")
        }
        let nine = IssuerKeysPayload(
            issuer: "https://i.example", operations: Array(repeating: .revoke(keyID: "k1"), count: 9))
        #expect(throws: CanonicalDecodingError.self) {
            try IssuerKeysPayload.decode(canonical: nine.canonicalBytes, field: "payload")
        }
        let round = IssuerKeysPayload(
            issuer: "https://i.example",
            operations: [
                .add(IssuerFixture.key("k2", seed: 3)), .retire(keyID: "k1", from: 42), .revoke(keyID: "k0"),
            ])
        #expect(try IssuerKeysPayload.decode(canonical: round.canonicalBytes, field: "payload") == round)
        #expect(LedgerApplication.may(.issuer(identifier: "x"), submit: .issuerKeys))
        #expect(!LedgerApplication.may(.organizationAdmin(organization: "org-0"), submit: .issuerKeys))
        #expect(!LedgerApplication.may(.plugin(organization: "org-0"), submit: .issuerKeys))
        #expect(!LedgerApplication.may(nil, submit: .issuerKeys))
        #expect(TransactionKind.issuerKeys.name == "issuer-keys")
    }
}

@Suite("Issuer record encoding with key lifecycle marks")
struct IssuerRecordEncodingTests {
    static func record(_ keys: [IssuerSigningKey], delisted: Bool = false) -> IssuerRecord {
        IssuerRecord(
            identifier: "https://i.example", organization: "org-0",
            ledgerKey: ApplicationHarness.key(5).publicKey, signingKeys: keys, credentialTypes: ["a"],
            validFrom: 1, validUntil: 2, delisted: delisted)
    }

    @Test("a record without marks encodes exactly as before: the last byte is the delisted flag")
    func unchanged() throws {
        let key = IssuerFixture.key("k1", seed: 1)
        for delisted in [false, true] {
            let bytes = Self.record([key], delisted: delisted).canonicalBytes
            var writer = CanonicalWriter()
            writer.writeString("https://i.example")
            writer.writeString("org-0")
            writer.write(ApplicationHarness.key(5).publicKey)
            writer.writeArray([key]) { w, key in
                w.writeString(key.keyID)
                w.writeFixedBytes(key.x)
                w.writeFixedBytes(key.y)
                w.writeVarUInt(key.notBefore)
                w.writeVarUInt(key.notAfter)
            }
            writer.writeArray(["a"]) { $0.writeString($1) }
            writer.writeVarUInt(1)
            writer.writeVarUInt(2)
            writer.writeBool(delisted)
            #expect(bytes == writer.bytes)
        }
    }

    @Test("marks round-trip; an empty lifecycle section and unknown flag bits are refused")
    func marks() throws {
        var retired = IssuerFixture.key("k1", seed: 1)
        retired.retiredFrom = 1_700_000_000_000
        var revoked = IssuerFixture.key("k2", seed: 3)
        revoked.revokedAt = 1_700_000_000_001
        revoked.retiredFrom = 5
        let plain = IssuerFixture.key("k3", seed: 5)
        let record = Self.record([retired, plain, revoked], delisted: true)
        let decoded = try IssuerRecord.decode(canonical: record.canonicalBytes, field: "issuer")
        #expect(decoded == record)
        #expect(decoded.delisted)

        // The flags byte of an unmarked record with bit 1 set and an all-zero section is not canonical.
        var bytes = Self.record([plain]).canonicalBytes
        bytes[bytes.count - 1] = 2
        bytes.append(0)
        #expect(throws: CanonicalDecodingError.self) { try IssuerRecord.decode(canonical: bytes, field: "issuer") }
        bytes = Self.record([plain]).canonicalBytes
        bytes[bytes.count - 1] = 4
        #expect(throws: CanonicalDecodingError.self) { try IssuerRecord.decode(canonical: bytes, field: "issuer") }
        // A key's lifecycle byte with an unknown bit.
        bytes = Self.record([retired]).canonicalBytes
        var time = CanonicalWriter()
        time.writeVarUInt(1_700_000_000_000)
        let flagsAt = bytes.count - time.bytes.count - 1
        #expect(bytes[flagsAt] == 1)
        bytes[flagsAt] = 5
        #expect(throws: CanonicalDecodingError.self) { try IssuerRecord.decode(canonical: bytes, field: "issuer") }
    }

    @Test("add-issuer refuses keys that are already retired or revoked, and more than 8 keys")
    func addIssuerDecode() throws {
        var retired = IssuerFixture.key("k1", seed: 1)
        retired.retiredFrom = 3
        var app = ApplicationHarness(organizations: 1)
        let marked = app.tx(
            app.admins[0], .governancePropose, ProposePayload(action: .addIssuer(Self.record([retired]))))
        #expect(LedgerApplication.statelessFailure(of: marked)?.code == "invalid-payload")
        let nine = (1...9).map { IssuerFixture.key("k\($0)", seed: UInt8(2 * $0)) }
        let many = app.tx(app.admins[0], .governancePropose, ProposePayload(action: .addIssuer(Self.record(nine))))
        #expect(LedgerApplication.statelessFailure(of: many)?.code == "invalid-payload")
        let eight = app.tx(
            app.admins[0], .governancePropose, ProposePayload(action: .addIssuer(Self.record(Array(nine.prefix(8))))))
        #expect(LedgerApplication.statelessFailure(of: eight) == nil)
    }
}
