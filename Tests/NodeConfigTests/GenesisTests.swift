import Codec
import EnsureCrypto
import Foundation
import Ledger
import Testing

/// A deterministic key from one byte, so failures reproduce.
func key(_ seed: UInt8) -> Ed25519PublicKey {
    Ed25519PrivateKey(seed: [UInt8](repeating: seed, count: 32))!.publicKey
}

/// A valid genesis with two organizations, three validators and one observer.
func sampleGenesis(parameters: GenesisParameters = GenesisParameters()) -> Genesis {
    Genesis(
        chainID: "ensure-test", genesisTime: 1_700_000_000_123,
        organizations: [
            GenesisOrganization(
                name: "shop-a", adminKey: key(1), incidentKey: X25519PublicKey(bytes: [UInt8](repeating: 7, count: 32))),
            GenesisOrganization(name: "bank-b", adminKey: key(2)),
        ],
        validators: [
            GenesisValidator(organization: "shop-a", nodeKey: key(10)),
            GenesisValidator(organization: "bank-b", nodeKey: key(11)),
            GenesisValidator(organization: "bank-b", nodeKey: key(12)),
        ],
        observers: [key(20)], parameters: parameters)
}

/// Replaces the first occurrence of `old` in `text`.
func replacing(_ text: String, _ old: String, _ new: String) -> [UInt8] {
    guard let range = text.range(of: old) else { return Array(text.utf8) }
    return Array(text.replacingCharacters(in: range, with: new).utf8)
}

@Suite("Genesis")
struct GenesisTests {
    @Test("JSON round trip: decode(json) gives the same value, and re-encoding gives the same bytes")
    func jsonRoundTrip() throws {
        let genesis = sampleGenesis()
        try genesis.validate()
        let text = genesis.jsonText()
        let decoded = try Genesis.decode(json: Array(text.utf8))
        #expect(decoded == genesis)
        #expect(decoded.jsonText() == text)
        #expect(text.contains("\"genesis_time\": \"2023-11-14T22:13:20.123Z\""))
        #expect(text.contains("\"incident_key\": \"" + String(repeating: "07", count: 32) + "\""))
        // Organizations are sorted by name, so bank-b comes first however they were listed.
        #expect(try #require(text.range(of: "bank-b")).lowerBound < #require(text.range(of: "shop-a")).lowerBound)
    }

    @Test("canonical round trip and the validator set of epoch 0")
    func canonicalRoundTrip() throws {
        let genesis = sampleGenesis()
        let bytes = genesis.canonicalBytes
        #expect(try Genesis.decodeValidated(canonical: bytes) == genesis)
        #expect(try Genesis.decode(canonical: bytes).canonicalBytes == bytes)
        let set = try genesis.validatorSet()
        #expect(set.members == [key(10), key(11), key(12)].sorted())
        #expect(genesis.hash == SHA256.hash(tag: "ensure/genesis/v1", bytes))
    }

    @Test("the canonical decoder refuses truncation, trailing bytes, another version and unsorted lists")
    func canonicalRefusals() throws {
        let bytes = sampleGenesis().canonicalBytes
        #expect(throws: GenesisError.self) { try Genesis.decodeValidated(canonical: Array(bytes.dropLast())) }
        #expect(throws: CanonicalDecodingError.trailingBytes(field: "Genesis", count: 1)) {
            try Genesis.decode(canonical: bytes + [0])
        }
        var versioned = bytes
        versioned[0] = 2
        #expect(throws: CanonicalDecodingError.unknownVersion(field: "Genesis.version", version: 2)) {
            try Genesis.decode(canonical: versioned)
        }
        // Swap the two organization entries: "shop-a" before "bank-b" is not ascending.
        var writer = CanonicalWriter()
        let genesis = sampleGenesis()
        writer.writeByte(1)
        writer.writeString(genesis.chainID)
        writer.writeVarUInt(genesis.genesisTime)
        writer.writeArray(genesis.organizations.reversed()) { w, o in
            w.writeString(o.name)
            w.write(o.adminKey)
            w.writeOptional(o.incidentKey) { $0.writeFixedBytes($1.bytes) }
        }
        let prefixLength = writer.bytes.count
        let rest = bytes[prefixLength...]
        #expect(throws: CanonicalDecodingError.notStrictlyAscending(field: "Genesis.organizations", index: 1)) {
            try Genesis.decode(canonical: writer.bytes + rest)
        }
    }

    @Test("the hash changes when any field changes")
    func hashCoversEveryField() {
        let base = sampleGenesis()
        var parameters = GenesisParameters()
        parameters.epochLengthBlocks += 1
        let variants: [Genesis] = [
            Genesis(
                chainID: "ensure-other", genesisTime: base.genesisTime, organizations: base.organizations,
                validators: base.validators, observers: base.observers),
            Genesis(
                chainID: base.chainID, genesisTime: base.genesisTime + 1, organizations: base.organizations,
                validators: base.validators, observers: base.observers),
            Genesis(
                chainID: base.chainID, genesisTime: base.genesisTime,
                organizations: base.organizations + [GenesisOrganization(name: "post-c", adminKey: key(3))],
                validators: base.validators, observers: base.observers),
            Genesis(
                chainID: base.chainID, genesisTime: base.genesisTime,
                organizations: base.organizations.map { GenesisOrganization(name: $0.name, adminKey: $0.adminKey) },
                validators: base.validators, observers: base.observers),
            Genesis(
                chainID: base.chainID, genesisTime: base.genesisTime, organizations: base.organizations,
                validators: base.validators.map { GenesisValidator(organization: "shop-a", nodeKey: $0.nodeKey) },
                observers: base.observers),
            Genesis(
                chainID: base.chainID, genesisTime: base.genesisTime, organizations: base.organizations,
                validators: base.validators, observers: []),
            sampleGenesis(parameters: parameters),
        ]
        var hashes = Set([base.hash])
        for variant in variants {
            #expect(hashes.insert(variant.hash).inserted)
        }
        #expect(hashes.count == variants.count + 1)
    }

    @Test("validate() refuses each broken rule and names the field")
    func validateRefusals() {
        let base = sampleGenesis()
        func make(
            chainID: String? = nil, organizations: [GenesisOrganization]? = nil, validators: [GenesisValidator]? = nil,
            observers: [Ed25519PublicKey]? = nil, parameters: GenesisParameters? = nil
        ) -> Genesis {
            Genesis(
                chainID: chainID ?? base.chainID, genesisTime: base.genesisTime,
                organizations: organizations ?? base.organizations, validators: validators ?? base.validators,
                observers: observers ?? base.observers, parameters: parameters ?? base.parameters)
        }
        var tinyBlock = GenesisParameters()
        tinyBlock.maxBlockBytes = 10
        var smallMempool = GenesisParameters()
        smallMempool.mempoolMaxTransactions = smallMempool.maxBlockTransactions - 1
        var backwardsTimeout = GenesisParameters()
        backwardsTimeout.maxRoundTimeoutMs = backwardsTimeout.baseRoundTimeoutMs - 1
        var zeroEpoch = GenesisParameters()
        zeroEpoch.epochLengthBlocks = 0
        let cases: [(Genesis, GenesisError)] = [
            (make(chainID: "Bad Chain"), .invalidChainID("Bad Chain")),
            (make(chainID: ""), .invalidChainID("")),
            (make(organizations: []), .empty(field: "organizations")),
            (make(validators: []), .empty(field: "validators")),
            (
                make(organizations: [GenesisOrganization(name: "Shop_A", adminKey: key(1))]),
                .invalidOrganizationName(field: "organizations[0].name", name: "Shop_A")
            ),
            (
                make(organizations: base.organizations + [GenesisOrganization(name: "shop-a", adminKey: key(5))]),
                .duplicateOrganization("shop-a")
            ),
            (
                make(validators: [GenesisValidator(organization: "ghost", nodeKey: key(10))]),
                .unknownOrganization(field: "validators[0].organization", name: "ghost")
            ),
            (
                make(validators: [
                    GenesisValidator(organization: "shop-a", nodeKey: key(10)),
                    GenesisValidator(organization: "bank-b", nodeKey: key(10)),
                ]),
                .duplicateNodeKey(field: "validators[1].node_key", key: key(10))
            ),
            (make(observers: [key(10)]), .duplicateNodeKey(field: "observers[0]", key: key(10))),
            (
                make(parameters: tinyBlock),
                .invalidParameter(field: "parameters.max_block_bytes", reason: "must be between 131328 and 16777216")
            ),
            (
                make(parameters: smallMempool),
                .invalidParameter(
                    field: "parameters.mempool_max_transactions",
                    reason: "must hold at least one full block (max_block_transactions)")
            ),
            (
                make(parameters: backwardsTimeout),
                .invalidParameter(
                    field: "parameters.max_round_timeout_ms",
                    reason: "must be between base_round_timeout_ms and 86400000")
            ),
            (
                make(parameters: zeroEpoch),
                .invalidParameter(field: "parameters.epoch_length_blocks", reason: "must be between 1 and 1000000000")
            ),
        ]
        for (genesis, expected) in cases {
            #expect(throws: expected) { try genesis.validate() }
            #expect(throws: expected) { try genesis.validatorSet() }
            // A file holding it is refused the same way.
            #expect(throws: expected) { try Genesis.decode(json: Array(genesis.jsonText().utf8)) }
        }
        let many = (0..<1025).map { GenesisOrganization(name: "o\($0)", adminKey: key(1)) }
        #expect(throws: GenesisError.tooMany(field: "organizations", limit: 1024, actual: 1025)) {
            try make(organizations: many).validate()
        }
    }

    @Test("JSON refusals: unknown, repeated and missing fields, bad hex, wrong types, a mismatched time, bad syntax")
    func jsonRefusals() {
        let text = sampleGenesis().jsonText()
        let adminHex = key(2).hex
        let lines = text.filter { $0 == "\n" }.count
        let cases: [([UInt8], GenesisError)] = [
            (replacing(text, "\"chain_id\"", "\"chain\": 1,\n  \"chain_id\""), .unknownField("chain")),
            (replacing(text, "\"max_block_bytes\"", "\"max_blok_bytes\""), .unknownField("parameters.max_blok_bytes")),
            (
                replacing(text, "\"name\": \"bank-b\"", "\"name\": \"bank-b\", \"nickname\": \"b\""),
                .unknownField("organizations[0].nickname")
            ),
            (replacing(text, "\"chain_id\"", "\"chain_id\": \"a\",\n  \"chain_id\""), .duplicateField("chain_id")),
            (
                replacing(
                    text, "\"admin_key\": \"\(adminHex)\"",
                    "\"admin_key\": \"\(adminHex)\", \"admin_key\": \"\(adminHex)\""),
                .duplicateField("organizations[0].admin_key")
            ),
            (
                replacing(text, "  \"observers\": [", "  \"observerz\": ["),
                .unknownField("observerz")
            ),
            (
                replacing(text, adminHex, String(adminHex.dropLast(2)) + "zz"),
                .invalidField(
                    field: "organizations[0].admin_key", reason: "must be 64 lower-case hexadecimal characters")
            ),
            (
                replacing(text, adminHex, adminHex.uppercased()),
                .invalidField(
                    field: "organizations[0].admin_key", reason: "must be 64 lower-case hexadecimal characters")
            ),
            (
                replacing(text, adminHex, String(adminHex.dropLast(2))),
                .invalidField(
                    field: "organizations[0].admin_key", reason: "must be 64 lower-case hexadecimal characters")
            ),
            (
                replacing(text, "\"genesis_time_ms\": 1700000000123", "\"genesis_time_ms\": -1"),
                .invalidField(field: "genesis_time_ms", reason: "must be an unsigned integer below 2^64")
            ),
            (
                replacing(text, "\"genesis_time_ms\": 1700000000123", "\"genesis_time_ms\": 1.5"),
                .invalidField(field: "genesis_time_ms", reason: "must be an unsigned integer below 2^64")
            ),
            (
                replacing(text, "\"chain_id\": \"ensure-test\"", "\"chain_id\": 5"),
                .invalidField(field: "chain_id", reason: "must be a string, found a number")
            ),
            (
                replacing(text, "2023-11-14T22:13:20.123Z", "2023-11-14T22:13:20.124Z"),
                .invalidField(
                    field: "genesis_time",
                    reason: "\"2023-11-14T22:13:20.124Z\" is not 2023-11-14T22:13:20.123Z, the RFC 3339 form of "
                        + "genesis_time_ms")
            ),
            (
                replacing(text, "  \"chain_id\": \"ensure-test\",\n", ""),
                .missingField("chain_id")
            ),
            (Array("[]".utf8), .invalidField(field: "genesis", reason: "must be an object, found an array")),
            (
                Array(text.utf8) + Array("{}".utf8),
                .malformedJSON(line: lines + 1, column: 1, reason: "unexpected text after the document")
            ),
            (
                replacing(text, "\"chain_id\":", "\"chain_id\" "),
                .malformedJSON(line: 2, column: 15, reason: "expected :")
            ),
            (
                replacing(text, "{\n  \"chain_id\"", "{\n  chain_id"),
                .malformedJSON(line: 2, column: 3, reason: "expected a field name")
            ),
            (
                Array(text.utf8.dropLast(3)),
                .malformedJSON(line: lines - 1, column: 4, reason: "unexpected end of input in an object")
            ),
        ]
        for (bytes, expected) in cases {
            #expect(throws: expected) { try Genesis.decode(json: bytes) }
        }
    }

    @Test("RFC 3339 rendering of known instants")
    func rfc3339() throws {
        for (milliseconds, shown) in [
            (UInt64(0), "1970-01-01T00:00:00.000Z"), (951_782_400_000, "2000-02-29T00:00:00.000Z"),
            (4_102_444_799_999, "2099-12-31T23:59:59.999Z"),
        ] {
            let genesis = Genesis(
                chainID: "c", genesisTime: milliseconds,
                organizations: [GenesisOrganization(name: "a", adminKey: key(1))],
                validators: [GenesisValidator(organization: "a", nodeKey: key(2))])
            #expect(genesis.jsonText().contains("\"genesis_time\": \"\(shown)\""))
            #expect(try Genesis.decode(json: Array(genesis.jsonText().utf8)) == genesis)
        }
    }
}
