import Codec
import Consensus
import EnsureCrypto
import Ledger
import Testing

@Suite struct SafetyRulesTests {
    let f = Fixture()

    private func rules(_ persistence: InMemorySafetyStatePersistence = InMemorySafetyStatePersistence()) throws
        -> SafetyRules
    {
        try SafetyRules(signer: Ed25519ConsensusSigner(key: f.keys[0]), persistence: persistence)
    }

    private var b1: Block { f.block(parent: f.genesis.header, justify: f.genesisQC, round: 1) }

    @Test func votesOncePerRoundAndRepeatsTheSameVote() throws {
        let safety = try rules()
        let vote = try safety.signVote(for: b1, timeoutCertificate: nil)
        #expect(try safety.signVote(for: b1, timeoutCertificate: nil) == vote)
        let other = f.block(parent: f.genesis.header, justify: f.genesisQC, round: 1, timestamp: 3)
        #expect(throws: SafetyRulesError.alreadyVoted(round: 1, lastVotedRound: 1)) {
            try safety.signVote(for: other, timeoutCertificate: nil)
        }
    }

    @Test func refusesBlockThatSkipsARoundWithoutTimeoutCertificate() throws {
        let safety = try rules()
        let block = f.block(parent: f.genesis.header, justify: f.genesisQC, round: 2)
        #expect(
            throws: SafetyRulesError.unsafeToVote(
                round: 2, certificateRound: 0, reason: "not the previous round and no timeout certificate")
        ) { try safety.signVote(for: block, timeoutCertificate: nil) }
        #expect(safety.state.lastVotedRound == 0)
    }

    @Test func votesAfterTimeoutCertificateOnlyOnItsHighestCertificate() throws {
        let safety = try rules()
        let qc1 = f.qc(b1)
        let tc2 = f.tc(round: 2, highQC: qc1)
        let onHighest = f.block(parent: b1.header, justify: qc1, round: 3)
        let fork = f.block(parent: f.genesis.header, justify: f.genesisQC, round: 3)
        #expect(throws: SafetyRulesError.self) { try safety.signVote(for: fork, timeoutCertificate: tc2) }
        let vote = try safety.signVote(for: onHighest, timeoutCertificate: tc2)
        #expect(vote.data.round == 3)
        #expect(safety.state.preferredRound == 1)
    }

    /// Jolteon's safety argument needs "no vote in a round after timing out in it": then a timeout certificate
    /// for round r and a quorum certificate for round r share an honest signer who voted first, so the TC reports a
    /// high QC at least as high as the block that QC extends, and no later leader can fork below it.
    @Test func neverVotesInARoundItTimedOut() throws {
        let safety = try rules()
        let timeout = try safety.signTimeout(
            chainID: Fixture.chainID, epoch: 0, round: 1, highQC: f.genesisQC, lastTimeoutCertificate: nil)
        #expect(timeout.data.round == 1)
        #expect(safety.state.lastVotedRound == 1)
        #expect(throws: SafetyRulesError.alreadyVoted(round: 1, lastVotedRound: 1)) {
            try safety.signVote(for: b1, timeoutCertificate: nil)
        }
        // The rule holds across a restart from the persisted state.
        let persistence = InMemorySafetyStatePersistence(state: safety.state)
        let restarted = try rules(persistence)
        #expect(throws: SafetyRulesError.alreadyVoted(round: 1, lastVotedRound: 1)) {
            try restarted.signVote(for: b1, timeoutCertificate: nil)
        }
        // The next round is still open to a vote on a block that follows the round-1 timeout certificate.
        let b2 = f.block(parent: f.genesis.header, justify: f.genesisQC, round: 2)
        let vote = try restarted.signVote(for: b2, timeoutCertificate: f.tc(round: 1, highQC: f.genesisQC))
        #expect(vote.data.round == 2)
    }

    @Test func timeoutMustCarryCertificateAtLeastThePreferredRound() throws {
        let safety = try rules()
        let b2 = f.block(parent: b1.header, justify: f.qc(b1), round: 2)
        _ = try safety.signVote(for: b2, timeoutCertificate: nil)
        #expect(
            throws: SafetyRulesError.unsafeToTimeout(round: 2, highQCRound: 0, reason: "below the preferred round 1")
        ) {
            try safety.signTimeout(
                chainID: Fixture.chainID, epoch: 0, round: 2, highQC: f.genesisQC,
                lastTimeoutCertificate: f.tc(round: 1, highQC: f.genesisQC))
        }
        let timeout = try safety.signTimeout(
            chainID: Fixture.chainID, epoch: 0, round: 2, highQC: f.qc(b1), lastTimeoutCertificate: nil)
        #expect(timeout.hasValidSignature)
        #expect(
            try safety.signTimeout(
                chainID: Fixture.chainID, epoch: 0, round: 2, highQC: f.qc(b1), lastTimeoutCertificate: nil) == timeout)
        #expect(throws: SafetyRulesError.alreadyTimedOut(round: 1, lastTimeoutRound: 2)) {
            try safety.signTimeout(
                chainID: Fixture.chainID, epoch: 0, round: 1, highQC: f.genesisQC, lastTimeoutCertificate: nil)
        }
    }

    @Test func proposesOncePerRoundAndRefusesOlderEpochs() throws {
        let safety = try rules()
        _ = try safety.signProposal(b1)
        let other = f.block(parent: f.genesis.header, justify: f.genesisQC, round: 1, timestamp: 4)
        #expect(throws: SafetyRulesError.alreadyProposed(round: 1, lastProposedRound: 1)) {
            try safety.signProposal(other)
        }
        let later = f.block(parent: f.genesis.header, justify: f.genesisQC, round: 1, epoch: 2)
        _ = try safety.signProposal(later)
        #expect(safety.state.epoch == 2)
        #expect(throws: SafetyRulesError.staleEpoch(requested: 0, current: 2)) {
            try safety.signVote(for: b1, timeoutCertificate: nil)
        }
    }

    @Test func persistsBeforeReturningAndSignsNothingWhenTheWriteFails() throws {
        let persistence = InMemorySafetyStatePersistence()
        let safety = try rules(persistence)
        _ = try safety.signVote(for: b1, timeoutCertificate: nil)
        #expect(persistence.state == safety.state)
        #expect(persistence.state?.lastVotedRound == 1)
        persistence.failFromStore = persistence.storeCount + 1
        let b2 = f.block(parent: b1.header, justify: f.qc(b1), round: 2)
        #expect(throws: SafetyRulesError.persistence(SafetyPersistenceError("injected failure at store 2"))) {
            try safety.signVote(for: b2, timeoutCertificate: nil)
        }
        #expect(safety.state.lastVotedRound == 1)
        #expect(persistence.state?.lastVotedRound == 1)
    }

    /// Every prefix of a run of signing requests is cut by a crash (the store that would follow fails), the
    /// rules restart from what was persisted, and the run continues with conflicting requests for the same
    /// rounds. Across all signatures that ever left the rules, no round has two different votes, timeouts or
    /// proposals.
    @Test func restartAtAnyPointNeverSignsTwoConflictingMessages() throws {
        let qc1 = f.qc(b1)
        let b2 = f.block(parent: b1.header, justify: qc1, round: 2)
        let b2b = f.block(parent: b1.header, justify: qc1, round: 2, timestamp: 50)
        let b3 = f.block(parent: b2.header, justify: f.qc(b2), round: 3)
        let b3b = f.block(parent: b2b.header, justify: f.qc(b2b), round: 3)
        let tc3 = f.tc(round: 3, highQC: qc1)
        let b4 = f.block(parent: b1.header, justify: qc1, round: 4)
        typealias Request = (SafetyRules) throws -> Any
        let requests: [Request] = [
            { try $0.signProposal(self.b1) }, { try $0.signVote(for: self.b1, timeoutCertificate: nil) },
            { try $0.signVote(for: b2, timeoutCertificate: nil) },
            { try $0.signVote(for: b2b, timeoutCertificate: nil) },
            {
                try $0.signTimeout(
                    chainID: Fixture.chainID, epoch: 0, round: 2, highQC: qc1, lastTimeoutCertificate: nil)
            },
            { try $0.signVote(for: b3, timeoutCertificate: nil) },
            { try $0.signVote(for: b3b, timeoutCertificate: nil) },
            {
                try $0.signTimeout(
                    chainID: Fixture.chainID, epoch: 0, round: 3, highQC: f.qc(b2), lastTimeoutCertificate: nil)
            },
            { try $0.signVote(for: b4, timeoutCertificate: tc3) }, { try $0.signProposal(b4) },
            { try $0.signProposal(f.block(parent: b1.header, justify: qc1, round: 4, timestamp: 9)) },
        ]
        var crashesTested = 0
        for crashAt in 1...(requests.count + 1) {
            let persistence = InMemorySafetyStatePersistence()
            persistence.failFromStore = crashAt
            var signed: [Any] = []
            var safety = try rules(persistence)
            for request in requests {
                if let value = try? request(safety) { signed.append(value) }
            }
            // Restart: a fresh instance on what was persisted, asked everything again, twice.
            persistence.failFromStore = nil
            for _ in 0..<2 {
                safety = try rules(persistence)
                for request in requests.reversed() + requests {
                    if let value = try? request(safety) { signed.append(value) }
                }
            }
            var votes: [UInt64: VoteData] = [:]
            var timeouts: [UInt64: TimeoutData] = [:]
            for case let vote as Vote in signed {
                if let earlier = votes[vote.data.round] {
                    #expect(
                        earlier == vote.data, "two votes in round \(vote.data.round) with crash at store \(crashAt)")
                }
                votes[vote.data.round] = vote.data
            }
            for case let timeout as Timeout in signed {
                if let earlier = timeouts[timeout.data.round] {
                    #expect(earlier == timeout.data, "two timeouts in round \(timeout.data.round), crash at \(crashAt)")
                }
                timeouts[timeout.data.round] = timeout.data
            }
            // Proposal signatures: at most one per round (the block ids differ whenever the rounds match).
            let proposals = signed.compactMap { $0 as? Ed25519Signature }
            #expect(proposals.count <= 2, "one proposal in round 1 and one in round 4 at most, crash at \(crashAt)")
            #expect(!votes.isEmpty || crashAt <= 2)
            crashesTested += 1
        }
        #expect(crashesTested == requests.count + 1)
    }

    @Test func stateRoundTripsThroughItsCanonicalEncoding() throws {
        let safety = try rules()
        _ = try safety.signVote(for: b1, timeoutCertificate: nil)
        _ = try safety.signTimeout(
            chainID: Fixture.chainID, epoch: 0, round: 1, highQC: f.genesisQC, lastTimeoutCertificate: nil)
        let bytes = safety.state.canonicalBytes
        #expect(try SafetyState.decode(canonical: bytes) == safety.state)
        #expect(throws: CanonicalDecodingError.self) { try SafetyState.decode(canonical: bytes + [0]) }
        #expect(throws: CanonicalDecodingError.self) { try SafetyState.decode(canonical: Array(bytes.dropLast())) }
        var badVersion = bytes
        badVersion[0] = 9
        #expect(throws: CanonicalDecodingError.self) { try SafetyState.decode(canonical: badVersion) }
    }
}
