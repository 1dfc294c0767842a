import Codec
import EnsureCrypto
import Ledger
import Testing

/// Sets have one encoding: signers, validators and sealed-detail recipients must be strictly ascending, so
/// unsorted and duplicate entries are refused with the index of the first offender.
struct CodecOrderingTests {
    /// A key whose 32 bytes are all `n`, so keys sort by `n`.
    static func key(_ n: UInt8) -> Ed25519PublicKey { Ed25519PublicKey(bytes: [UInt8](repeating: n, count: 32))! }
    static func signature(_ n: UInt8) -> Ed25519Signature { Ed25519Signature(bytes: [UInt8](repeating: n, count: 64))! }
    static let data = VoteData(
        chainID: "ensure-test", epoch: 1, round: 5, height: 4, blockID: Digest(bytes: [UInt8](repeating: 7, count: 32))!
    )

    /// Signer orders that must be refused, with the index the error names.
    static let badOrders: [([UInt8], Int)] = [
        ([2, 1], 1), ([1, 1], 1), ([1, 2, 2], 2), ([1, 3, 2], 2), ([5, 5, 5], 1),
    ]

    static func quorumCertificateBytes(_ signers: [UInt8]) -> [UInt8] {
        var writer = CanonicalWriter()
        writer.writeByte(QuorumCertificate.version)
        writer.write(data)
        writer.writeVarUInt(UInt64(signers.count))
        for n in signers {
            writer.write(key(n))
            writer.write(signature(n))
        }
        return writer.bytes
    }

    static func timeoutCertificateBytes(_ signers: [UInt8]) -> [UInt8] {
        var writer = CanonicalWriter()
        writer.writeByte(TimeoutCertificate.version)
        writer.writeString("ensure-test")
        writer.writeVarUInt(1)
        writer.writeVarUInt(9)
        writer.writeVarUInt(UInt64(signers.count))
        for n in signers {
            writer.write(key(n))
            writer.writeVarUInt(5)
            writer.write(signature(n))
        }
        writer.write(QuorumCertificate(data: data, signatures: []))
        return writer.bytes
    }

    static func validatorSetBytes(_ members: [UInt8]) -> [UInt8] {
        var writer = CanonicalWriter()
        writer.writeByte(ValidatorSet.version)
        writer.writeArray(members) { $0.write(key($1)) }
        return writer.bytes
    }

    @Test("quorum certificates refuse unsorted and duplicate signers", arguments: badOrders)
    func quorumCertificateOrder(signers: [UInt8], index: Int) throws {
        #expect(
            throws: CanonicalDecodingError.notStrictlyAscending(field: "QuorumCertificate.signatures", index: index)
        ) {
            try QuorumCertificate.decode(canonical: Self.quorumCertificateBytes(signers))
        }
        let sorted = try QuorumCertificate.decode(canonical: Self.quorumCertificateBytes(Array(Set(signers)).sorted()))
        #expect(sorted.signatures.map(\.signer) == Array(Set(signers)).sorted().map(Self.key))
    }

    @Test("timeout certificates refuse unsorted and duplicate signers", arguments: badOrders)
    func timeoutCertificateOrder(signers: [UInt8], index: Int) throws {
        #expect(
            throws: CanonicalDecodingError.notStrictlyAscending(field: "TimeoutCertificate.signatures", index: index)
        ) {
            try TimeoutCertificate.decode(canonical: Self.timeoutCertificateBytes(signers))
        }
        let sorted = Array(Set(signers)).sorted()
        #expect(
            try TimeoutCertificate.decode(canonical: Self.timeoutCertificateBytes(sorted)).signatures.count
                == sorted.count)
    }

    @Test("validator sets refuse unsorted, duplicate and missing members", arguments: badOrders)
    func validatorSetOrder(members: [UInt8], index: Int) throws {
        #expect(throws: CanonicalDecodingError.notStrictlyAscending(field: "ValidatorSet.members", index: index)) {
            try ValidatorSet.decode(canonical: Self.validatorSetBytes(members))
        }
        #expect(
            throws: CanonicalDecodingError.invalidValue(
                field: "ValidatorSet.members", reason: "a validator set is never empty")
        ) {
            try ValidatorSet.decode(canonical: Self.validatorSetBytes([]))
        }
        let sorted = Array(Set(members)).sorted()
        #expect(try ValidatorSet.decode(canonical: Self.validatorSetBytes(sorted)).members == sorted.map(Self.key))
    }

    @Test("an unsorted certificate nested in a timeout or a block is refused with its full path")
    func nestedOrder() throws {
        let badQC = Self.quorumCertificateBytes([3, 2])
        var timeout = CanonicalWriter()
        timeout.writeByte(Timeout.version)
        timeout.write(TimeoutData(chainID: "ensure-test", epoch: 1, round: 9, highQCRound: 5))
        timeout.write(Self.key(1))
        timeout.write(Self.signature(1))
        timeout.writeFixedBytes(badQC)
        #expect(throws: CanonicalDecodingError.notStrictlyAscending(field: "Timeout.highQC.signatures", index: 1)) {
            try Timeout.decode(canonical: timeout.bytes)
        }
        var block = CanonicalWriter()
        block.writeByte(Block.version)
        block.write(
            BlockHeader(
                chainID: "ensure-test", epoch: 1, height: 5, round: 6, parentID: Self.data.blockID,
                proposer: Self.key(1),
                timestamp: 0, transactionRoot: Block.transactionRoot(of: []), transactionCount: 0, incidentLogSize: 0,
                incidentLogRoot: Digest.zero, stateRoot: Digest.zero, validatorSetHash: Digest.zero))
        block.writeFixedBytes(badQC)
        block.writeVarUInt(0)
        #expect(throws: CanonicalDecodingError.notStrictlyAscending(field: "Block.justify.signatures", index: 1)) {
            try Block.decode(canonical: block.bytes)
        }
    }

    @Test("building a certificate sorts its signers and drops duplicates, so it always decodes")
    func certificateInitializersNormalize() throws {
        let entries = [3, 1, 2, 1].map { ValidatorSignature(signer: Self.key($0), signature: Self.signature($0)) }
        let qc = QuorumCertificate(data: Self.data, signatures: entries)
        #expect(qc.signatures.map(\.signer) == [1, 2, 3].map(Self.key))
        #expect(try QuorumCertificate.decode(canonical: qc.canonicalBytes) == qc)
        let tc = TimeoutCertificate(
            chainID: "ensure-test", epoch: 1, round: 9,
            signatures: [2, 2, 1].map {
                TimeoutSignature(signer: Self.key($0), highQCRound: 5, signature: Self.signature($0))
            },
            highQC: qc)
        #expect(tc.signatures.map(\.signer) == [1, 2].map(Self.key))
        #expect(try TimeoutCertificate.decode(canonical: tc.canonicalBytes) == tc)
    }

    static func record(details: [SealedDetail], id: String = "incident-1") -> IncidentRecord {
        IncidentRecord(
            id: id, detectedAt: 1_700_000_000_000, category: "intrusion-attempts/exploit-known-vulnerability",
            severity: .high, asset: "shop-frontend", detector: "waf", summary: "SQL injection blocked",
            evidenceDigest: Digest.zero, evidenceURIs: ["https://evidence.example/1"], sealedDetails: details,
            links: ["incident-0"])
    }

    static func detail(_ n: UInt8) -> SealedDetail {
        SealedDetail(recipient: [UInt8](repeating: n, count: 32), ciphertext: [n, n])
    }

    @Test("incident records refuse unsorted and duplicate sealed-detail recipients", arguments: badOrders)
    func sealedDetailOrder(recipients: [UInt8], index: Int) throws {
        // The initializer sorts, so write the bytes in the bad order by hand.
        let sorted = Self.record(details: [])
        var bytes = Array(sorted.canonicalBytes)
        let emptyDetailsAndLinks = CanonicalWriter.encoded { w in
            w.writeVarUInt(0)
            w.writeArray(sorted.links) { $0.writeString($1) }
        }
        bytes.removeLast(emptyDetailsAndLinks.count)
        bytes += CanonicalWriter.encoded { w in
            w.writeArray(recipients.map(Self.detail)) { w, d in
                w.writeFixedBytes(d.recipient)
                w.writeLengthPrefixedBytes(d.ciphertext)
            }
            w.writeArray(sorted.links) { $0.writeString($1) }
        }
        #expect(
            throws: CanonicalDecodingError.notStrictlyAscending(field: "IncidentRecord.sealedDetails", index: index)
        ) {
            try IncidentRecord.decode(canonical: bytes)
        }
        // The same record built through the initializer is sorted; with duplicates it still fails validation.
        let built = Self.record(details: recipients.map(Self.detail))
        if Set(recipients).count == recipients.count {
            #expect(throws: Never.self) { try built.validateCanonicalForm() }
        } else {
            #expect(throws: CanonicalDecodingError.self) { try built.validateCanonicalForm() }
        }
    }

    @Test("validateCanonicalForm reports records the decoder would refuse")
    func validateCanonicalForm() {
        #expect(throws: Never.self) {
            try Self.record(details: [Self.detail(1), Self.detail(2)]).validateCanonicalForm()
        }
        #expect(throws: CanonicalDecodingError.invalidValue(field: "IncidentRecord.id", reason: "must not be empty")) {
            try Self.record(details: [], id: "").validateCanonicalForm()
        }
        var reordered = Self.record(details: [Self.detail(1), Self.detail(2)])
        reordered.sealedDetails.reverse()
        #expect(throws: CanonicalDecodingError.notStrictlyAscending(field: "IncidentRecord.sealedDetails", index: 1)) {
            try reordered.validateCanonicalForm()
        }
        var long = Self.record(details: [])
        long.summary = String(repeating: "x", count: IncidentRecord.Limits.summaryBytes + 1)
        #expect(
            throws: CanonicalDecodingError.limitExceeded(
                field: "IncidentRecord.summary", limit: UInt64(IncidentRecord.Limits.summaryBytes),
                actual: UInt64(IncidentRecord.Limits.summaryBytes + 1))
        ) { try long.validateCanonicalForm() }
    }

    @Test("incident records are equal only when their bytes are, not when their text is canonically equivalent")
    func incidentEqualityIsByteEquality() throws {
        var composed = Self.record(details: [])
        composed.summary = "caf\u{e9}"
        var decomposed = composed
        decomposed.summary = "cafe\u{301}"
        #expect(composed.summary == decomposed.summary)  // Swift String equality
        #expect(composed.canonicalBytes != decomposed.canonicalBytes)
        #expect(composed != decomposed)
        #expect(Set([composed, decomposed]).count == 2)
        #expect(try IncidentRecord.decode(canonical: decomposed.canonicalBytes) == decomposed)
        #expect(try IncidentRecord.decode(canonical: decomposed.canonicalBytes) != composed)
    }
}

extension CanonicalWriter {
    /// The bytes `body` writes, for building hand-made encodings in tests.
    static func encoded(_ body: (inout CanonicalWriter) -> Void) -> [UInt8] {
        var writer = CanonicalWriter()
        body(&writer)
        return writer.bytes
    }
}
