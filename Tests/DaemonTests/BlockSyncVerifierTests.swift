import API
import Codec
import Consensus
import Daemon
import EnsureCrypto
import Ledger
import Testing

@Suite("Block sync verifier")
struct BlockSyncVerifierTests {
    let fixture = ChainFixture()

    @Test("consecutive rounds prove every block but the last one committed")
    func consecutiveRounds() throws {
        let chain = fixture.certifiedChain(rounds: [1, 2, 3, 4, 5])
        let accepted = try BlockSyncVerifier.committedPrefix(
            of: chain, after: fixture.genesisBlock.header, validators: fixture.validators)
        #expect(accepted == Array(chain.prefix(4)))
    }

    @Test("a round gap holds back the block before it until a later two-chain proves it")
    func roundGap() throws {
        // Rounds 1, 2, 4, 5: block 2 has no certified child in round 3, but block 4's child in round 5
        // proves block 4 and therefore everything below it.
        let withProof = fixture.certifiedChain(rounds: [1, 2, 4, 5])
        let accepted = try BlockSyncVerifier.committedPrefix(
            of: withProof, after: fixture.genesisBlock.header, validators: fixture.validators)
        #expect(accepted.count == 3)
        // Rounds 1, 3: block 1 is certified but nothing proves it final.
        let unproven = fixture.certifiedChain(rounds: [1, 3])
        let none = try BlockSyncVerifier.committedPrefix(
            of: unproven, after: fixture.genesisBlock.header, validators: fixture.validators)
        #expect(none.isEmpty)
    }

    @Test("a single certified block is never enough")
    func singleBlock() throws {
        let chain = fixture.certifiedChain(rounds: [1])
        #expect(
            try BlockSyncVerifier.committedPrefix(
                of: chain, after: fixture.genesisBlock.header, validators: fixture.validators
            ).isEmpty)
    }

    @Test("a certificate short of a quorum is refused")
    func insufficientSigners() {
        var chain = fixture.certifiedChain(rounds: [1, 2, 3])
        let weak = fixture.certificate(for: chain[1].block.header, signers: fixture.validators.quorum - 1)
        chain[1] = CertifiedBlock(block: chain[1].block, certificate: weak)
        #expect(throws: SyncError.self) {
            try BlockSyncVerifier.committedPrefix(
                of: chain, after: fixture.genesisBlock.header, validators: fixture.validators)
        }
    }

    @Test("a forged signature in a certificate is refused")
    func forgedSignature() {
        var chain = fixture.certifiedChain(rounds: [1, 2, 3])
        let honest = chain[2].certificate
        var signatures = honest.signatures
        signatures[0] = ValidatorSignature(
            signer: signatures[0].signer, signature: signatures[1].signature)
        chain[2] = CertifiedBlock(
            block: chain[2].block, certificate: QuorumCertificate(data: honest.data, signatures: signatures))
        let error = #expect(throws: SyncError.self) {
            try BlockSyncVerifier.committedPrefix(
                of: chain, after: fixture.genesisBlock.header, validators: fixture.validators)
        }
        #expect(error?.field == "syncResponse[2].certificate")
    }

    @Test("a certificate over another block is refused")
    func certificateForAnotherBlock() {
        var chain = fixture.certifiedChain(rounds: [1, 2, 3])
        chain[1] = CertifiedBlock(block: chain[1].block, certificate: chain[2].certificate)
        let error = #expect(throws: SyncError.self) {
            try BlockSyncVerifier.committedPrefix(
                of: chain, after: fixture.genesisBlock.header, validators: fixture.validators)
        }
        #expect(error?.field == "syncResponse[1].certificate")
    }

    @Test("blocks that do not extend the local tip are refused")
    func wrongPlacement() {
        let chain = fixture.certifiedChain(rounds: [1, 2, 3, 4])
        // Skips a height.
        #expect(throws: SyncError.self) {
            try BlockSyncVerifier.committedPrefix(
                of: [chain[0], chain[2], chain[3]], after: fixture.genesisBlock.header,
                validators: fixture.validators)
        }
        // Starts above the tip.
        let error = #expect(throws: SyncError.self) {
            try BlockSyncVerifier.committedPrefix(
                of: Array(chain.dropFirst()), after: fixture.genesisBlock.header, validators: fixture.validators)
        }
        #expect(error?.field == "syncResponse[0].block.header.height")
    }

    @Test("a block of a fork at the right height is refused")
    func forkedParent() {
        let chain = fixture.certifiedChain(rounds: [1, 2, 3])
        let other = ChainFixture()
        // Same keys and chain, but a sibling of block 1 (another round) stands where block 1 should be.
        let sibling = other.child(
            of: fixture.genesisBlock,
            parentCertificate: QuorumCertificate.genesis(chainID: fixture.chainID, blockID: fixture.genesisBlock.id),
            round: 7)
        let response = [
            CertifiedBlock(block: sibling, certificate: fixture.certificate(for: sibling.header)), chain[1], chain[2],
        ]
        let error = #expect(throws: SyncError.self) {
            try BlockSyncVerifier.committedPrefix(
                of: response, after: fixture.genesisBlock.header, validators: fixture.validators)
        }
        #expect(error?.field == "syncResponse[1].block.header.parentID")
    }

    @Test("a block certified by keys outside the validator set is refused")
    func outsiders() {
        let outsiders = ChainFixture(validatorCount: 7)
        // Seven keys whose first four equal ours: signatures by keys 5-7 are not validators' here.
        let chain = fixture.certifiedChain(rounds: [1, 2])
        let data = chain[0].certificate.data
        let signatures = outsiders.validatorKeys.suffix(3).map {
            ValidatorSignature(signer: $0.publicKey, signature: $0.signature(for: data.canonicalBytes, domain: .vote))
        }
        let forged = [
            CertifiedBlock(block: chain[0].block, certificate: QuorumCertificate(data: data, signatures: signatures)),
            chain[1],
        ]
        #expect(throws: SyncError.self) {
            try BlockSyncVerifier.committedPrefix(
                of: forged, after: fixture.genesisBlock.header, validators: fixture.validators)
        }
    }

    @Test("sync messages round-trip and malformed ones are refused with the field")
    func messageCodec() throws {
        let chain = fixture.certifiedChain(rounds: [1, 2])
        let messages: [NodeMessage] = [
            .syncStatus(height: 42), .syncRequest(height: 7, count: 64), .syncResponse(chain),
            .transactions([fixture.notarize(sequence: 1), fixture.notarize(admin: 1, sequence: 1)]),
        ]
        for message in messages {
            #expect(try NodeMessage.decode(canonical: message.canonicalBytes) == message)
        }
        #expect(throws: CanonicalDecodingError.self) { try NodeMessage.decode(canonical: [9]) }
        #expect(throws: CanonicalDecodingError.self) { try NodeMessage.decode(canonical: [4, 1, 65]) }
        var trailing = NodeMessage.syncStatus(height: 1).canonicalBytes
        trailing.append(0)
        #expect(throws: CanonicalDecodingError.self) { try NodeMessage.decode(canonical: trailing) }
    }

    @Test("an epoch change is followed only with the next set the ending block names, and its certificates")
    func epochChange() throws {
        let fixture = ChainFixture(validatorCount: 5, genesisValidators: 4)
        let next = ValidatorSet(fixture.validatorKeys.map(\.publicKey))!
        let genesisQC = QuorumCertificate.genesis(chainID: fixture.chainID, blockID: fixture.genesisBlock.id)
        func certify(_ header: BlockHeader, keys: [Ed25519PrivateKey]) -> QuorumCertificate {
            let data = VoteData(
                chainID: fixture.chainID, epoch: header.epoch, round: header.round, height: header.height,
                blockID: header.id)
            return QuorumCertificate(
                data: data,
                signatures: keys.map {
                    ValidatorSignature(
                        signer: $0.publicKey, signature: $0.signature(for: data.canonicalBytes, domain: .vote))
                })
        }
        // Block 1 ends epoch 0 naming `next`; block 2 is the first of epoch 1, certified by the five; block 3 proves it.
        var ending = fixture.child(of: fixture.genesisBlock, parentCertificate: genesisQC, round: 1)
        var header = ending.header
        header.nextValidatorSetHash = next.hash
        ending = Block(header: header, justify: genesisQC, transactions: [])
        let endingQC = certify(ending.header, keys: Array(fixture.validatorKeys.prefix(3)))
        func epochOneChild(of parent: Block, justify: QuorumCertificate, round: UInt64) -> Block {
            var header = fixture.child(of: parent, parentCertificate: justify, round: round).header
            header.epoch = 1
            header.validatorSetHash = next.hash
            return Block(header: header, justify: justify, transactions: [])
        }
        let first = epochOneChild(of: ending, justify: endingQC, round: 2)
        let firstQC = certify(first.header, keys: fixture.validatorKeys)
        let second = epochOneChild(of: first, justify: firstQC, round: 3)
        let secondQC = certify(second.header, keys: fixture.validatorKeys)
        let good = [
            CertifiedBlock(block: ending, certificate: endingQC, nextValidators: next),
            CertifiedBlock(block: first, certificate: firstQC), CertifiedBlock(block: second, certificate: secondQC),
        ]
        let accepted = try BlockSyncVerifier.committedPrefix(
            of: good, after: fixture.genesisBlock.header, validators: fixture.validators)
        #expect(accepted == Array(good.prefix(2)))

        // Without the next set, or with another one, the response is refused.
        for wrong in [nil, fixture.validators] {
            var bad = good
            bad[0] = CertifiedBlock(block: ending, certificate: endingQC, nextValidators: wrong)
            let error = #expect(throws: SyncError.self) {
                try BlockSyncVerifier.committedPrefix(
                    of: bad, after: fixture.genesisBlock.header, validators: fixture.validators)
            }
            #expect(error?.field == "syncResponse[0].nextValidators")
        }
        // A block of the new epoch certified by the old validators only is refused.
        var oldSigners = good
        oldSigners[1] = CertifiedBlock(
            block: first, certificate: certify(first.header, keys: Array(fixture.validatorKeys.prefix(3))))
        #expect(throws: SyncError.self) {
            try BlockSyncVerifier.committedPrefix(
                of: oldSigners, after: fixture.genesisBlock.header, validators: fixture.validators)
        }
        // A next set given for a block that does not end its epoch is refused.
        var extra = good
        extra[1] = CertifiedBlock(block: first, certificate: firstQC, nextValidators: next)
        #expect(throws: SyncError.self) {
            try BlockSyncVerifier.committedPrefix(
                of: extra, after: fixture.genesisBlock.header, validators: fixture.validators)
        }
    }
}
