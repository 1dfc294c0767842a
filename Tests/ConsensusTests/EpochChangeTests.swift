import Consensus
import EnsureCrypto
import Ledger
import Testing

@Suite struct EpochChangeTests {
    let f = Fixture()
    let next = Fixture(seedByte: 60).validators

    /// Block 1 ends epoch 0 and names `next`.
    private var last: Block {
        let plain = f.block(parent: f.genesis.header, justify: f.genesisQC, round: 1)
        var header = plain.header
        header.nextValidatorSetHash = next.hash
        return Block(header: header, justify: f.genesisQC, transactions: [])
    }

    private func proof(childRound: UInt64 = 2, signers: [Int] = [0, 1, 2], validators: ValidatorSet? = nil)
        -> EpochChangeProof
    {
        let child = f.block(parent: last.header, justify: f.qc(last), round: childRound)
        return EpochChangeProof(
            lastBlock: last, descendants: [child], certificate: f.qc(child, signers: signers),
            nextValidators: validators ?? next)
    }

    @Test func verifiedProofCommitsTheLastBlockAndEntersTheNextEpoch() throws {
        let core = try f.core(for: 0)
        _ = core.handle(.start)
        let step = core.handle(.message(.epochChange(proof()), from: f.keys[1].publicKey))
        #expect(step.rejection == nil)
        #expect(step.executedBlocks == [last])
        let executed = core.handle(.executed(blockID: last.id, .valid(nextValidators: next)))
        #expect(executed.commits == [last])
        #expect(executed.actions.contains(.enterEpoch(1, validators: next)))
        #expect(core.epoch == 1)
        #expect(core.validators == next)
        #expect(core.currentRound == 2)
        // Messages of the ended epoch are now answered with the proof.
        let stale = core.handle(.message(.vote(f.vote(last, by: 1)), from: f.keys[1].publicKey))
        #expect(stale.rejection == .staleEpoch(received: 0, current: 1))
        #expect(stale.sentMessages.count == 1)
    }

    @Test func refusesProofNamingAnotherValidatorSet() throws {
        let core = try f.core(for: 0)
        let step = core.handle(.message(.epochChange(proof(validators: f.validators)), from: f.keys[1].publicKey))
        #expect(step.rejection == .invalidEpochChange(reason: "the last block does not name the next validator set"))
        #expect(core.epoch == 0)
    }

    @Test func refusesProofWhoseCertificateDoesNotCommit() throws {
        let core = try f.core(for: 0)
        let step = core.handle(.message(.epochChange(proof(childRound: 3)), from: f.keys[1].publicKey))
        #expect(step.rejection == .invalidEpochChange(reason: "the certificate does not commit the last block"))
        #expect(step.actions.isEmpty)
    }

    @Test func refusesProofWithoutQuorum() throws {
        let core = try f.core(for: 0)
        let step = core.handle(.message(.epochChange(proof(signers: [0, 1])), from: f.keys[1].publicKey))
        #expect(
            step.rejection
                == .invalidCertificate(field: "epochChange.certificate", .insufficientSigners(have: 2, need: 3)))
        #expect(core.epoch == 0)
    }

    @Test func restoredProofIsHandedToPeersLeftInTheEndedEpoch() throws {
        // A node restarted at the epoch's last block (root `last`, now in epoch 1) has no proof in memory.
        let nextFixture = Fixture(seedByte: 60)
        let resume = {
            try ConsensusCore(
                configuration: ConsensusConfiguration(chainID: Fixture.chainID), root: last,
                rootCertificate: f.qc(last), epoch: 1, validators: next,
                signer: Ed25519ConsensusSigner(key: nextFixture.keys[0]), verifier: f.verifier,
                persistence: InMemorySafetyStatePersistence())
        }
        let stale = ConsensusMessage.vote(f.vote(last, by: 1))
        let forgetful = try resume()
        #expect(forgetful.handle(.message(stale, from: f.keys[1].publicKey)).sentMessages.isEmpty)
        // With the proof stored before the restart, it brings the peer across; a proof of a later epoch is ignored.
        let restored = try resume()
        restored.restoreEpochChangeProofs([proof()])
        let answer = restored.handle(.message(stale, from: f.keys[1].publicKey))
        #expect(answer.sentMessages.count == 1)
        if case .send(.epochChange(let sent), _)? = answer.actions.first(where: {
            if case .send(.epochChange, _) = $0 { return true }
            return false
        }) {
            #expect(sent == proof())
        } else {
            Issue.record("no epoch-change proof was sent")
        }
    }
}
