import Codec
import EnsureCrypto
import Ledger
import Testing

/// `QuorumCertificate.verify` and `TimeoutCertificate.verify`, accepting and refusing.
struct LedgerCertificateTests {
    static let keys = LedgerFixtures.keys(4)  // n = 4, f = 1, quorum 3
    static let validators = LedgerFixtures.validatorSet(keys)
    static let data = LedgerFixtures.voteData(round: 5, height: 4, block: LedgerFixtures.digest(5))

    @Test("a certificate with a quorum, or more, of valid signatures verifies")
    func quorumMet() throws {
        #expect(Self.validators.quorum == 3)
        for signers in [Array(Self.keys[0..<3]), Array(Self.keys[1..<4]), Self.keys] {
            let qc = LedgerFixtures.quorumCertificate(Self.data, signedBy: signers)
            #expect(throws: Never.self) { try qc.verify(against: Self.validators) }
            #expect(throws: Never.self) {
                try QuorumCertificate.decode(canonical: qc.canonicalBytes).verify(against: Self.validators)
            }
        }
    }

    @Test("fewer signers than a quorum are refused, counting a repeated signer once")
    func quorumNotMet() {
        let two = LedgerFixtures.quorumCertificate(Self.data, signedBy: Array(Self.keys[0..<2]))
        #expect(throws: CertificateError.insufficientSigners(have: 2, need: 3)) {
            try two.verify(against: Self.validators)
        }
        let repeated = LedgerFixtures.quorumCertificate(
            Self.data, signedBy: [Self.keys[0], Self.keys[1], Self.keys[0]])
        #expect(throws: CertificateError.insufficientSigners(have: 2, need: 3)) {
            try repeated.verify(against: Self.validators)
        }
        let genesis = QuorumCertificate.genesis(chainID: LedgerFixtures.chainID, blockID: LedgerFixtures.digest(1))
        #expect(throws: CertificateError.insufficientSigners(have: 0, need: 3)) {
            try genesis.verify(against: Self.validators)
        }
    }

    @Test("a signer outside the validator set is refused even when the others make a quorum")
    func unknownSigner() {
        let outsider = LedgerFixtures.privateKey(9)
        let qc = LedgerFixtures.quorumCertificate(Self.data, signedBy: Array(Self.keys[0..<3]) + [outsider])
        #expect(throws: CertificateError.unknownSigner(outsider.publicKey)) { try qc.verify(against: Self.validators) }
        let short = LedgerFixtures.quorumCertificate(Self.data, signedBy: Array(Self.keys[0..<2]) + [outsider])
        #expect(throws: CertificateError.unknownSigner(outsider.publicKey)) {
            try short.verify(against: Self.validators)
        }
    }

    @Test("a forged signature, or one over other data, is refused and names the signer")
    func forgedSignature() {
        let good = LedgerFixtures.quorumCertificate(Self.data, signedBy: Array(Self.keys[0..<3]))
        let victim = good.signatures[1]
        var bytes = victim.signature.bytes
        bytes[10] ^= 0x40
        let forged = QuorumCertificate(
            data: Self.data,
            signatures: good.signatures.map {
                $0.signer == victim.signer
                    ? ValidatorSignature(signer: $0.signer, signature: Ed25519Signature(bytes: bytes)!) : $0
            })
        #expect(throws: CertificateError.invalidSignature(signer: victim.signer)) {
            try forged.verify(against: Self.validators)
        }

        let otherData = LedgerFixtures.voteData(round: 6, height: 4, block: LedgerFixtures.digest(5))
        let moved = QuorumCertificate(data: otherData, signatures: good.signatures)
        #expect(throws: CertificateError.invalidSignature(signer: good.signatures[0].signer)) {
            try moved.verify(against: Self.validators)
        }
        // A signature by one validator presented as another's.
        let swapped = QuorumCertificate(
            data: Self.data,
            signatures: [
                good.signatures[0], good.signatures[1],
                ValidatorSignature(signer: Self.keys[3].publicKey, signature: good.signatures[2].signature),
            ])
        #expect(throws: CertificateError.invalidSignature(signer: Self.keys[3].publicKey)) {
            try swapped.verify(against: Self.validators)
        }
        // Timeout-domain signatures over the vote bytes are not votes.
        let wrongDomain = QuorumCertificate(
            data: Self.data,
            signatures: Self.keys[0..<3].map {
                ValidatorSignature(
                    signer: $0.publicKey, signature: $0.signature(for: Self.data.canonicalBytes, domain: .timeout))
            })
        #expect(throws: CertificateError.self) { try wrongDomain.verify(against: Self.validators) }
    }

    static let highQC = LedgerFixtures.quorumCertificate(
        LedgerFixtures.voteData(round: 7, height: 6, block: LedgerFixtures.digest(7)), signedBy: Array(keys[0..<3]))

    @Test("a timeout certificate with a quorum and the highest reported QC verifies")
    func timeoutCertificateValid() throws {
        let tc = LedgerFixtures.timeoutCertificate(
            round: 9, signers: Array(Self.keys[0..<3]), highQCRounds: [7, 5, 6], highQC: Self.highQC)
        #expect(tc.maxHighQCRound == 7)
        #expect(throws: Never.self) { try tc.verify(against: Self.validators) }
        #expect(throws: Never.self) {
            try TimeoutCertificate.decode(canonical: tc.canonicalBytes).verify(against: Self.validators)
        }
        // Everyone still on genesis: the genesis certificate carries no signatures and is accepted.
        let genesis = QuorumCertificate.genesis(chainID: LedgerFixtures.chainID, blockID: LedgerFixtures.digest(1))
        let early = LedgerFixtures.timeoutCertificate(
            round: 1, signers: Self.keys, highQCRounds: [0, 0, 0, 0], highQC: genesis)
        #expect(throws: Never.self) { try early.verify(against: Self.validators) }
    }

    @Test("timeout certificates refuse a missing quorum, unknown signers and forged or moved signatures")
    func timeoutCertificateSigners() {
        let two = LedgerFixtures.timeoutCertificate(
            round: 9, signers: Array(Self.keys[0..<2]), highQCRounds: [7, 7], highQC: Self.highQC)
        #expect(throws: CertificateError.insufficientSigners(have: 2, need: 3)) {
            try two.verify(against: Self.validators)
        }

        let outsider = LedgerFixtures.privateKey(9)
        let withOutsider = LedgerFixtures.timeoutCertificate(
            round: 9, signers: Array(Self.keys[0..<2]) + [outsider], highQCRounds: [7, 7, 7], highQC: Self.highQC)
        #expect(throws: CertificateError.unknownSigner(outsider.publicKey)) {
            try withOutsider.verify(against: Self.validators)
        }

        let good = LedgerFixtures.timeoutCertificate(
            round: 9, signers: Array(Self.keys[0..<3]), highQCRounds: [7, 7, 7], highQC: Self.highQC)
        // Claim a different high-QC round than the one signed.
        let lied = TimeoutCertificate(
            chainID: good.chainID, epoch: good.epoch, round: good.round,
            signatures: good.signatures.enumerated().map { index, entry in
                index == 0
                    ? TimeoutSignature(signer: entry.signer, highQCRound: 6, signature: entry.signature) : entry
            },
            highQC: Self.highQC)
        #expect(throws: CertificateError.invalidSignature(signer: good.signatures[0].signer)) {
            try lied.verify(against: Self.validators)
        }
        // The same signatures presented for another round.
        let otherRound = TimeoutCertificate(
            chainID: good.chainID, epoch: good.epoch, round: 10, signatures: good.signatures, highQC: Self.highQC)
        #expect(throws: CertificateError.invalidSignature(signer: good.signatures[0].signer)) {
            try otherRound.verify(against: Self.validators)
        }
        let otherChain = TimeoutCertificate(
            chainID: "ensure-other", epoch: good.epoch, round: good.round, signatures: good.signatures,
            highQC: Self.highQC)
        #expect(throws: CertificateError.invalidSignature(signer: good.signatures[0].signer)) {
            try otherChain.verify(against: Self.validators)
        }
    }

    @Test("timeout certificates enforce the high-QC rules")
    func timeoutCertificateHighQC() {
        let signers = Array(Self.keys[0..<3])
        // The carried QC is not the highest reported.
        let lower = LedgerFixtures.quorumCertificate(
            LedgerFixtures.voteData(round: 6, height: 5, block: LedgerFixtures.digest(6)), signedBy: signers)
        let notHighest = LedgerFixtures.timeoutCertificate(
            round: 9, signers: signers, highQCRounds: [7, 6, 6], highQC: lower)
        #expect(throws: CertificateError.malformed("high QC round 6 is not the highest reported, 7")) {
            try notHighest.verify(against: Self.validators)
        }
        // A reported high QC at or above the timed-out round.
        let tooHigh = LedgerFixtures.timeoutCertificate(
            round: 7, signers: signers, highQCRounds: [7, 7, 7], highQC: Self.highQC)
        #expect(throws: CertificateError.self) { try tooHigh.verify(against: Self.validators) }
        // The carried QC itself lacks a quorum or is forged.
        let weak = LedgerFixtures.quorumCertificate(Self.highQC.data, signedBy: Array(Self.keys[0..<2]))
        let weakTC = LedgerFixtures.timeoutCertificate(
            round: 9, signers: signers, highQCRounds: [7, 7, 7], highQC: weak)
        #expect(throws: CertificateError.insufficientSigners(have: 2, need: 3)) {
            try weakTC.verify(against: Self.validators)
        }
        let forgedQC = QuorumCertificate(
            data: LedgerFixtures.voteData(round: 7, height: 6, block: LedgerFixtures.digest(8)),
            signatures: Self.highQC.signatures)
        let forgedTC = LedgerFixtures.timeoutCertificate(
            round: 9, signers: signers, highQCRounds: [7, 7, 7], highQC: forgedQC)
        #expect(throws: CertificateError.invalidSignature(signer: Self.highQC.signatures[0].signer)) {
            try forgedTC.verify(against: Self.validators)
        }
        // A round-0 high QC must be the unsigned genesis certificate of this chain, not any round-0 data.
        let fakeGenesis = QuorumCertificate(
            data: LedgerFixtures.voteData(round: 0, height: 3, block: LedgerFixtures.digest(3)), signatures: [])
        let fakeGenesisTC = LedgerFixtures.timeoutCertificate(
            round: 9, signers: signers, highQCRounds: [0, 0, 0], highQC: fakeGenesis)
        #expect(throws: CertificateError.malformed("a round-0 high QC must be the genesis certificate")) {
            try fakeGenesisTC.verify(against: Self.validators)
        }
        let otherChainGenesis = QuorumCertificate.genesis(chainID: "other-chain", blockID: LedgerFixtures.digest(1))
        let otherChainTC = LedgerFixtures.timeoutCertificate(
            round: 9, signers: signers, highQCRounds: [0, 0, 0], highQC: otherChainGenesis)
        #expect(throws: CertificateError.malformed("high QC is for chain other-chain, not \(LedgerFixtures.chainID)")) {
            try otherChainTC.verify(against: Self.validators)
        }
    }

    @Test("certificate errors say which signer and what was wrong")
    func errorDescriptions() {
        let key = Self.keys[0].publicKey
        #expect(CertificateError.unknownSigner(key).description.contains(key.keyID))
        #expect(CertificateError.invalidSignature(signer: key).description.contains(key.keyID))
        #expect(
            CertificateError.insufficientSigners(have: 2, need: 3).description == "certificate has 2 signers, needs 3")
    }
}
