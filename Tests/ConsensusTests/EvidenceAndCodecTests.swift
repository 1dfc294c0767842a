import Codec
import Consensus
import EnsureCrypto
import Ledger
import Testing

@Suite struct EvidenceTests {
    let f = Fixture()

    private var b1: Block { f.block(parent: f.genesis.header, justify: f.genesisQC, round: 1) }
    private var b1b: Block { f.block(parent: f.genesis.header, justify: f.genesisQC, round: 1, timestamp: 33) }

    private func signed(_ block: Block, by key: Ed25519PrivateKey) -> SignedProposalHeader {
        SignedProposalHeader(
            header: block.header,
            signature: key.signature(for: Proposal.signingBytes(blockID: block.id), domain: .proposal))
    }

    @Test func conflictingVotesVerify() throws {
        let evidence = EquivocationEvidence.votes(f.vote(b1, by: 2), f.vote(b1b, by: 2))
        try evidence.verify(against: f.validators, verifier: f.verifier)
        #expect(evidence.offender == f.keys[2].publicKey)
        #expect(evidence.round == 1)
    }

    @Test func conflictingProposalsVerify() throws {
        let leader = f.leaderKey(of: 1)
        try EquivocationEvidence.proposals(signed(b1, by: leader), signed(b1b, by: leader))
            .verify(against: f.validators, verifier: f.verifier)
    }

    @Test func refusesSameBlockDifferentSignersAndDifferentRounds() {
        let b2 = f.block(parent: b1.header, justify: f.qc(b1), round: 2)
        #expect(throws: EvidenceError.sameBlock) {
            try EquivocationEvidence.votes(f.vote(b1, by: 1), f.vote(b1, by: 1)).verify(
                against: f.validators, verifier: f.verifier)
        }
        #expect(throws: EvidenceError.differentSigners) {
            try EquivocationEvidence.votes(f.vote(b1, by: 1), f.vote(b1b, by: 2)).verify(
                against: f.validators, verifier: f.verifier)
        }
        #expect(throws: EvidenceError.differentRounds) {
            try EquivocationEvidence.votes(f.vote(b1, by: 1), f.vote(b2, by: 1)).verify(
                against: f.validators, verifier: f.verifier)
        }
    }

    @Test func refusesForgedSignatureAndNonMember() {
        let genuine = f.vote(b1b, by: 1)
        let forged = Vote(data: genuine.data, voter: genuine.voter, signature: f.vote(b1b, by: 3).signature)
        #expect(throws: EvidenceError.invalidSignature(signer: genuine.voter)) {
            try EquivocationEvidence.votes(f.vote(b1, by: 1), forged).verify(
                against: f.validators, verifier: f.verifier)
        }
        let outsider = Ed25519PrivateKey(seed: [UInt8](repeating: 77, count: 32))!
        #expect(throws: EvidenceError.notAValidator(outsider.publicKey)) {
            let a = f.block(parent: f.genesis.header, justify: f.genesisQC, round: 1, proposer: outsider.publicKey)
            let b = f.block(
                parent: f.genesis.header, justify: f.genesisQC, round: 1, proposer: outsider.publicKey, timestamp: 8)
            try EquivocationEvidence.proposals(signed(a, by: outsider), signed(b, by: outsider))
                .verify(against: f.validators, verifier: f.verifier)
        }
    }
}

@Suite struct MessageCodecTests {
    let f = Fixture()

    private var b1: Block { f.block(parent: f.genesis.header, justify: f.genesisQC, round: 1) }

    private var samples: [ConsensusMessage] {
        let qc1 = f.qc(b1)
        let b2 = f.block(parent: b1.header, justify: qc1, round: 2)
        return [
            .proposal(f.proposal(b1)),
            .proposal(f.proposal(f.block(parent: b1.header, justify: qc1, round: 3), tc: f.tc(round: 2, highQC: qc1))),
            .vote(f.vote(b1, by: 1)),
            .timeout(
                TimeoutMessage(
                    timeout: f.timeout(round: 2, highQC: qc1, by: 3),
                    lastTimeoutCertificate: f.tc(round: 1, highQC: f.genesisQC))),
            .blockRequest(BlockRequest(blockID: b1.id, count: 10)),
            .blockResponse([b2, b1]),
            .epochChange(
                EpochChangeProof(lastBlock: b1, descendants: [b2], certificate: f.qc(b2), nextValidators: f.validators)),
            .epochChangeRequest(epoch: 5),
        ]
    }

    @Test func everyMessageRoundTrips() throws {
        for message in samples {
            #expect(try ConsensusMessage.decode(canonical: message.canonicalBytes) == message)
        }
    }

    @Test func refusesUnknownTagTruncationAndTrailingBytes() {
        for message in samples {
            let bytes = message.canonicalBytes
            #expect(throws: CanonicalDecodingError.self) { try ConsensusMessage.decode(canonical: bytes + [0]) }
            #expect(throws: CanonicalDecodingError.self) {
                try ConsensusMessage.decode(canonical: Array(bytes.dropLast()))
            }
        }
        #expect(throws: CanonicalDecodingError.invalidTag(field: "ConsensusMessage.tag", tag: 9)) {
            try ConsensusMessage.decode(canonical: [9])
        }
    }

    @Test func refusesCertificateWithDuplicateSigner() throws {
        let vote = f.vote(b1, by: 1)
        var writer = CanonicalWriter()
        writer.writeByte(2)
        writer.writeByte(QuorumCertificate.version)
        writer.write(vote.data)
        writer.writeArray([vote, vote]) { w, v in
            w.write(v.voter)
            w.write(v.signature)
        }
        var reader = CanonicalReader(writer.bytes)
        _ = try reader.readByte(field: "tag")
        #expect(throws: CanonicalDecodingError.notStrictlyAscending(field: "qc.signatures", index: 1)) {
            _ = try QuorumCertificate(from: &reader, field: "qc")
        }
    }

    @Test func refusesOversizeBlockRequest() {
        var writer = CanonicalWriter()
        writer.writeByte(4)
        writer.write(b1.id)
        writer.writeVarUInt(1_000)
        #expect(throws: CanonicalDecodingError.self) { try ConsensusMessage.decode(canonical: writer.bytes) }
    }
}
