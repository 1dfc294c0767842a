import Consensus
import EnsureCrypto
import Ledger
import Testing

/// A core resumed from a committed block and its stored certificate: it rejoins, commits on top of the root,
/// keeps its persisted safety state, and refuses a root its certificate does not certify.
@Suite struct ResumeTests {
    let f = Fixture()

    private var b1: Block { f.block(parent: f.genesis.header, justify: f.genesisQC, round: 1) }
    private var b2: Block { f.block(parent: b1.header, justify: f.qc(b1), round: 2) }

    private func resumed(
        _ index: Int, root: Block, certificate: QuorumCertificate, epoch: UInt64 = 0,
        validators: ValidatorSet? = nil, persistence: InMemorySafetyStatePersistence = InMemorySafetyStatePersistence()
    ) throws(SafetyRulesError) -> ConsensusCore {
        try ConsensusCore(
            configuration: ConsensusConfiguration(chainID: Fixture.chainID), root: root, rootCertificate: certificate,
            epoch: epoch, validators: validators ?? f.validators, signer: Ed25519ConsensusSigner(key: f.keys[index]),
            verifier: f.verifier, persistence: persistence)
    }

    /// The error a resume throws, or nil when it starts.
    private func refusal(
        root: Block, certificate: QuorumCertificate, epoch: UInt64 = 0, validators: ValidatorSet? = nil,
        chainID: String = Fixture.chainID
    ) -> SafetyRulesError? {
        do {
            _ = try ConsensusCore(
                configuration: ConsensusConfiguration(chainID: chainID), root: root, rootCertificate: certificate,
                epoch: epoch, validators: validators ?? f.validators, signer: Ed25519ConsensusSigner(key: f.keys[0]),
                verifier: f.verifier, persistence: InMemorySafetyStatePersistence())
            return nil
        } catch {
            return error
        }
    }

    private func field(_ error: SafetyRulesError?) -> String? {
        if case .invalidRoot(let field, _) = error { return field }
        return nil
    }

    private func vote(in step: ConsensusStep) -> (Vote, Ed25519PublicKey?)? {
        for (message, to) in step.sentMessages { if case .vote(let vote) = message { return (vote, to) } }
        return nil
    }

    @Test func resumedCoreStartsInTheRoundAfterTheRootAndCommitsOnTopOfIt() throws {
        let core = try resumed(0, root: b2, certificate: f.qc(b2))
        #expect(core.lastCommitted == b2)
        #expect(core.highQC == f.qc(b2))
        let start = core.handle(.start)
        #expect(core.currentRound == 3)
        #expect(start.actions.contains(.setTimer(epoch: 0, round: 3, milliseconds: 1000)))
        let b3 = f.block(parent: b2.header, justify: f.qc(b2), round: 3)
        let b4 = f.block(parent: b3.header, justify: f.qc(b3), round: 4)
        let b5 = f.block(parent: b4.header, justify: f.qc(b4), round: 5)
        var commits: [ConsensusAction] = []
        for block in [b3, b4, b5] {
            let step = core.handle(.message(.proposal(f.proposal(block)), from: block.header.proposer))
            #expect(step.rejection == nil)
            #expect(step.executedBlocks == [block])
            let executed = core.handle(.executed(blockID: block.id, .valid(nextValidators: nil)))
            commits += (step.actions + executed.actions).filter { if case .commit = $0 { true } else { false } }
        }
        #expect(commits == [.commit(b3, certificate: f.qc(b3))], "b3 commits with its own certificate, above the root")
        #expect(core.lastCommitted == b3)
    }

    @Test func resumedCoreFetchesMissingBlocksFromTheProposer() throws {
        let core = try resumed(0, root: b1, certificate: f.qc(b1))
        _ = core.handle(.start)
        let b3 = f.block(parent: b2.header, justify: f.qc(b2), round: 3)
        let step = core.handle(.message(.proposal(f.proposal(b3)), from: f.keys[3].publicKey))
        #expect(step.rejection == nil)
        let request = step.sentMessages.first { if case .blockRequest = $0.0 { true } else { false } }
        #expect(request?.0 == .blockRequest(BlockRequest(blockID: b2.id, count: 1)), "b2 alone is above the root")
        #expect(request?.1 == f.keys[3].publicKey)
        let response = core.handle(.message(.blockResponse([b2]), from: f.keys[3].publicKey))
        #expect(response.rejection == nil)
        #expect(response.executedBlocks == [b2, b3], "the fetched parent, then the held proposal, on top of the root")
    }

    @Test func refusesBlocksBelowTheRootThatItNoLongerHolds() throws {
        let core = try resumed(0, root: b2, certificate: f.qc(b2))
        _ = core.handle(.start)
        // A proposal on an unknown parent makes b5's parent wanted; a response reaching below the root stops there.
        let b3 = f.block(parent: b2.header, justify: f.qc(b2), round: 3)
        let b4 = f.block(parent: b3.header, justify: f.qc(b3), round: 4)
        let b5 = f.block(parent: b4.header, justify: f.qc(b4), round: 5)
        _ = core.handle(.message(.proposal(f.proposal(b5)), from: f.keys[1].publicKey))
        let response = core.handle(.message(.blockResponse([b4, b3, b2, b1]), from: f.keys[1].publicKey))
        #expect(response.rejection == nil)
        #expect(response.executedBlocks.map(\.header.height) == [3, 4, 5])
    }

    @Test func refusesAChainThatForksBelowTheRoot() throws {
        let core = try resumed(0, root: b2, certificate: f.qc(b2))
        _ = core.handle(.start)
        let fork2 = f.block(parent: b1.header, justify: f.qc(b1), round: 2, timestamp: 77)
        let fork3 = f.block(parent: fork2.header, justify: f.qc(fork2), round: 3)
        let fork4 = f.block(parent: fork3.header, justify: f.qc(fork3), round: 4)
        let fork5 = f.block(parent: fork4.header, justify: f.qc(fork4), round: 5)
        _ = core.handle(.message(.proposal(f.proposal(fork5)), from: f.keys[1].publicKey))
        let response = core.handle(.message(.blockResponse([fork4, fork3, fork2, b1]), from: f.keys[1].publicKey))
        #expect(
            response.rejection
                == .invalidBlock(field: "blockResponse", reason: "does not extend the last committed block"))
        #expect(response.executedBlocks.isEmpty)
        #expect(!response.sentMessages.contains { if case .blockRequest = $0.0 { true } else { false } })
        #expect(core.lastCommitted == b2)
    }

    @Test func genesisInitIsResumeFromGenesis() throws {
        let core = try f.core(for: 1)
        #expect(core.lastCommitted == f.genesis)
        #expect(core.highQC == f.genesisQC)
        _ = core.handle(.start)
        #expect(core.currentRound == 1)
        #expect(try resumed(1, root: f.genesis, certificate: f.genesisQC).lastCommitted == f.genesis)
    }

    @Test func restartedValidatorNeverVotesTwiceInARound() throws {
        let persistence = InMemorySafetyStatePersistence()
        let before = try resumed(1, root: b2, certificate: f.qc(b2), persistence: persistence)
        _ = before.handle(.start)
        let b3 = f.block(parent: b2.header, justify: f.qc(b2), round: 3)
        _ = before.handle(.message(.proposal(f.proposal(b3)), from: f.keys[3].publicKey))
        let first = try #require(vote(in: before.handle(.executed(blockID: b3.id, .valid(nextValidators: nil)))))
        #expect(first.0.data.blockID == b3.id)

        // Restart from the same root: the leader equivocates with another block for round 3.
        let after = try resumed(1, root: b2, certificate: f.qc(b2), persistence: persistence)
        #expect(after.safetyState.lastVotedRound == 3)
        _ = after.handle(.start)
        let other = f.block(parent: b2.header, justify: f.qc(b2), round: 3, timestamp: 99)
        #expect(other.id != b3.id)
        _ = after.handle(.message(.proposal(f.proposal(other)), from: f.keys[3].publicKey))
        let refused = after.handle(.executed(blockID: other.id, .valid(nextValidators: nil)))
        #expect(vote(in: refused) == nil, "no second vote in round 3 after the restart")
        #expect(after.safetyState.lastVote == first.0)
    }

    @Test func refusesACertificateOfAnotherBlock() {
        #expect(field(refusal(root: b2, certificate: f.qc(b1))) == "rootCertificate.blockID")
        #expect(field(refusal(root: b2, certificate: f.genesisQC)) == "rootCertificate.blockID")
    }

    @Test func refusesACertificateWhoseDataDoesNotMatchTheRoot() {
        var data = f.voteData(b2)
        data = VoteData(chainID: data.chainID, epoch: data.epoch, round: 7, height: data.height, blockID: data.blockID)
        let forged = QuorumCertificate(data: data, signatures: f.qc(b2).signatures)
        #expect(field(refusal(root: b2, certificate: forged)) == "rootCertificate.data")
    }

    @Test func refusesAnotherChain() {
        #expect(field(refusal(root: b2, certificate: f.qc(b2), chainID: "other")) == "root.header.chainID")
        let foreign = QuorumCertificate(
            data: VoteData(chainID: "other", epoch: 0, round: 2, height: 2, blockID: b2.id), signatures: [])
        #expect(field(refusal(root: b2, certificate: foreign)) == "rootCertificate.chainID")
    }

    @Test func refusesAnEpochOrValidatorSetTheRootDoesNotName() {
        #expect(field(refusal(root: b2, certificate: f.qc(b2), epoch: 1)) == "epoch")
        let others = Fixture(seedByte: 90).validators
        #expect(field(refusal(root: b2, certificate: f.qc(b2), validators: others)) == "validators")
        #expect(refusal(root: b2, certificate: f.qc(b2)) == nil)
    }

    @Test func aRootThatEndsItsEpochResumesInTheNextWithTheNamedSet() throws {
        let next = Fixture(seedByte: 90).validators
        let header = b2.header
        let ending = Block(
            header: BlockHeader(
                chainID: header.chainID, epoch: 0, height: header.height, round: header.round,
                parentID: header.parentID, proposer: header.proposer, timestamp: header.timestamp,
                transactionRoot: header.transactionRoot, transactionCount: 0, incidentLogSize: 0,
                incidentLogRoot: header.incidentLogRoot, stateRoot: header.stateRoot,
                validatorSetHash: header.validatorSetHash, nextValidatorSetHash: next.hash),
            justify: b2.justify, transactions: [])
        let qc = f.qc(ending)
        #expect(field(refusal(root: ending, certificate: qc, epoch: 0)) == "epoch")
        #expect(field(refusal(root: ending, certificate: qc, epoch: 1)) == "validators")
        #expect(field(refusal(root: ending, certificate: qc, epoch: 2, validators: next)) == "epoch")
        let core = try resumed(0, root: ending, certificate: qc, epoch: 1, validators: next)
        #expect(core.epoch == 1)
        #expect(core.validators == next)
        #expect(core.lastCommitted == ending)
    }
}
