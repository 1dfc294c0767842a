import Codec
import Consensus
import EnsureCrypto
import Ledger
import Testing

@Suite struct ConsensusCoreTests {
    let f = Fixture()

    /// A started core for validator `index`, already shown the first proposal when `withFirstBlock` is set.
    private func started(_ index: Int) throws -> ConsensusCore {
        let core = try f.core(for: index)
        _ = core.handle(.start)
        return core
    }

    private var b1: Block { f.block(parent: f.genesis.header, justify: f.genesisQC, round: 1) }

    @Test func votesForValidProposalAfterExecutionAndSendsToNextLeader() throws {
        let core = try started(0)
        #expect(core.currentRound == 1)
        let step = core.handle(.message(.proposal(f.proposal(b1)), from: f.keys[1].publicKey))
        #expect(step.rejection == nil)
        #expect(step.executedBlocks == [b1])
        #expect(step.sentMessages.isEmpty, "no vote before the application says the block is valid")
        let executed = core.handle(.executed(blockID: b1.id, .valid(nextValidators: nil)))
        let sent = try #require(executed.sentMessages.first)
        guard case .vote(let vote) = sent.0 else {
            Issue.record("expected a vote, got \(sent.0)")
            return
        }
        #expect(sent.1 == f.keys[2].publicKey)
        #expect(vote.data.blockID == b1.id)
        #expect(
            f.verifier.isValid(vote.signature, by: f.keys[0].publicKey, for: vote.data.canonicalBytes, domain: .vote))
        #expect(core.safetyState.lastVotedRound == 1)
    }

    @Test func doesNotVoteForBlockTheApplicationRejects() throws {
        let core = try started(0)
        _ = core.handle(.message(.proposal(f.proposal(b1)), from: f.keys[1].publicKey))
        let step = core.handle(.executed(blockID: b1.id, .invalid(reason: "state root")))
        #expect(step.sentMessages.isEmpty)
        #expect(core.safetyState.lastVotedRound == 0)
    }

    @Test func commitsParentWhenChildInNextRoundIsCertified() throws {
        let core = try started(0)
        let b2 = f.block(parent: b1.header, justify: f.qc(b1), round: 2)
        let b3 = f.block(parent: b2.header, justify: f.qc(b2), round: 3)
        var commits: [Block] = []
        for block in [b1, b2, b3] {
            let step = core.handle(.message(.proposal(f.proposal(block)), from: block.header.proposer))
            #expect(step.rejection == nil)
            commits += step.commits
            commits += core.handle(.executed(blockID: block.id, .valid(nextValidators: nil))).commits
        }
        #expect(commits == [b1])
        #expect(core.lastCommitted == b1)
        #expect(core.currentRound == 3)
    }

    @Test func doesNotCommitOnOneChainOrAcrossARoundGap() throws {
        let core = try started(0)
        // b2 certified, but b2 is in round 3 after a timeout of round 2: b1 is not committed by b2's certificate.
        let tc2 = f.tc(round: 2, highQC: f.qc(b1))
        let b2 = f.block(parent: b1.header, justify: f.qc(b1), round: 3)
        let b3 = f.block(parent: b2.header, justify: f.qc(b2), round: 4)
        var commits: [Block] = []
        commits += core.handle(.message(.proposal(f.proposal(b1)), from: f.keys[1].publicKey)).commits
        commits += core.handle(.message(.proposal(f.proposal(b2, tc: tc2)), from: f.keys[3].publicKey)).commits
        commits += core.handle(.message(.proposal(f.proposal(b3)), from: f.keys[0].publicKey)).commits
        #expect(commits.isEmpty)
        #expect(core.lastCommitted == f.genesis)
    }

    @Test func rejectsProposalFromWrongLeader() throws {
        let core = try started(0)
        let block = f.block(parent: f.genesis.header, justify: f.genesisQC, round: 1, proposer: f.keys[3].publicKey)
        let step = core.handle(.message(.proposal(f.proposal(block, signer: f.keys[3])), from: f.keys[3].publicKey))
        #expect(step.rejection == .wrongLeader(round: 1, expected: f.keys[1].publicKey, received: f.keys[3].publicKey))
        #expect(step.actions.isEmpty)
    }

    @Test func rejectsProposalWithForgedSignature() throws {
        let core = try started(0)
        let step = core.handle(.message(.proposal(f.proposal(b1, signer: f.keys[3])), from: f.keys[1].publicKey))
        #expect(step.rejection == .invalidSignature(field: "proposal.signature", signer: f.keys[1].publicKey))
        #expect(core.safetyState.lastVotedRound == 0)
    }

    @Test func rejectsProposalForAnotherChain() throws {
        let core = try started(0)
        let block = f.block(parent: f.genesis.header, justify: f.genesisQC, round: 1, chainID: "other")
        let step = core.handle(.message(.proposal(f.proposal(block)), from: f.keys[1].publicKey))
        #expect(step.rejection == .wrongChain(field: "proposal.block.header.chainID", chainID: "other"))
    }

    @Test func rejectsFutureEpochAndAsksForTheEpochChange() throws {
        let core = try started(0)
        let block = f.block(parent: f.genesis.header, justify: f.genesisQC, round: 1, epoch: 3)
        let step = core.handle(.message(.proposal(f.proposal(block)), from: f.keys[1].publicKey))
        #expect(step.rejection == .futureEpoch(received: 3, current: 0))
        #expect(step.actions == [.send(.epochChangeRequest(epoch: 0), to: f.keys[1].publicKey)])
    }

    @Test func rejectsCertificateWithUnknownSigner() throws {
        let core = try started(0)
        let outsider = Ed25519PrivateKey(seed: [UInt8](repeating: 99, count: 32))!
        let vote = Vote(data: f.voteData(b1), signedBy: outsider)
        var signatures = f.qc(b1, signers: [0, 1]).signatures
        signatures.append(ValidatorSignature(signer: vote.voter, signature: vote.signature))
        let forged = QuorumCertificate(data: f.voteData(b1), signatures: signatures)
        let b2 = f.block(parent: b1.header, justify: forged, round: 2)
        let step = core.handle(.message(.proposal(f.proposal(b2)), from: f.keys[2].publicKey))
        #expect(
            step.rejection == .invalidCertificate(field: "proposal.block.justify", .unknownSigner(outsider.publicKey)))
        #expect(core.highQC == f.genesisQC)
    }

    @Test func rejectsCertificateWithoutQuorum() throws {
        let core = try started(0)
        let b2 = f.block(parent: b1.header, justify: f.qc(b1, signers: [0, 1]), round: 2)
        let step = core.handle(.message(.proposal(f.proposal(b2)), from: f.keys[2].publicKey))
        #expect(
            step.rejection
                == .invalidCertificate(field: "proposal.block.justify", .insufficientSigners(have: 2, need: 3)))
        #expect(core.currentRound == 1)
    }

    @Test func rejectsCertificateWithForgedSignature() throws {
        let core = try started(0)
        let good = f.qc(b1)
        var signatures = good.signatures
        signatures[1] = ValidatorSignature(signer: signatures[1].signer, signature: signatures[0].signature)
        let b2 = f.block(
            parent: b1.header, justify: QuorumCertificate(data: good.data, signatures: signatures), round: 2)
        let step = core.handle(.message(.proposal(f.proposal(b2)), from: f.keys[2].publicKey))
        #expect(
            step.rejection
                == .invalidCertificate(field: "proposal.block.justify", .invalidSignature(signer: signatures[1].signer))
        )
    }

    @Test func rejectsRoundNotJustifiedByItsCertificates() throws {
        let core = try started(0)
        let block = f.block(parent: f.genesis.header, justify: f.genesisQC, round: 3)
        let step = core.handle(.message(.proposal(f.proposal(block)), from: block.header.proposer))
        #expect(
            step.rejection == .unjustifiedRound(round: 3, reason: "certificate is for round 0, no timeout certificate"))
    }

    @Test func refusesToVoteForForkBelowTheTimeoutCertificatesHighestCertificate() throws {
        let core = try started(0)
        // Round 2 timed out with b1 certified; the round-3 leader proposes on genesis instead: a fork.
        let tc2 = f.tc(round: 2, highQC: f.qc(b1))
        let fork = f.block(parent: f.genesis.header, justify: f.genesisQC, round: 3)
        _ = core.handle(.message(.proposal(f.proposal(b1)), from: f.keys[1].publicKey))
        _ = core.handle(.executed(blockID: b1.id, .valid(nextValidators: nil)))
        let step = core.handle(.message(.proposal(f.proposal(fork, tc: tc2)), from: fork.header.proposer))
        #expect(step.rejection == nil)
        let afterExecution = core.handle(.executed(blockID: fork.id, .valid(nextValidators: nil)))
        #expect(afterExecution.sentMessages.isEmpty, "a correct voter never votes for the fork")
        #expect(core.safetyState.lastVotedRound == 1)
    }

    @Test func rejectsStaleRoundProposalNothingNeeds() throws {
        let core = try started(0)
        // Rounds 1 and 2 timed out; the round-3 leader extends genesis. Nothing certifies or builds on b1.
        let b3 = f.block(parent: f.genesis.header, justify: f.genesisQC, round: 3)
        let proposal = f.proposal(b3, tc: f.tc(round: 2, highQC: f.genesisQC))
        #expect(core.handle(.message(.proposal(proposal), from: b3.header.proposer)).rejection == nil)
        #expect(core.currentRound == 3)
        let step = core.handle(.message(.proposal(f.proposal(b1)), from: f.keys[1].publicKey))
        #expect(step.rejection == .staleRound(received: 1, current: 3))
        #expect(step.executedBlocks.isEmpty)
    }

    @Test func leaderThatCertifiedABlockBeforeItsProposalArrivedProposesOnIt() throws {
        let core = try started(2)  // leader of round 2
        for voter in [0, 1, 3] {
            let step = core.handle(.message(.vote(f.vote(b1, by: voter)), from: f.keys[voter].publicKey))
            #expect(step.rejection == nil)
            #expect(step.payloadRequests.isEmpty, "b1 is certified but unknown: nothing to build on yet")
        }
        #expect(core.currentRound == 2)
        // The proposal of round 1 comes after the round: its block is kept, executed and built on, not voted for.
        let late = core.handle(.message(.proposal(f.proposal(b1)), from: f.keys[1].publicKey))
        #expect(late.rejection == nil)
        #expect(late.executedBlocks == [b1])
        #expect(late.payloadRequests.map(\.parent) == [b1.header])
        #expect(late.payloadRequests.map(\.round) == [2])
        let executed = core.handle(.executed(blockID: b1.id, .valid(nextValidators: nil)))
        #expect(executed.sentMessages.isEmpty)
        #expect(core.safetyState.lastVotedRound == 0)
    }

    @Test func proposalOvertakenByItsChildJoinsTheChainWhenItsParentArrives() throws {
        let core = try started(0)
        let b2 = f.block(parent: b1.header, justify: f.qc(b1), round: 2)
        let b3 = f.block(parent: b2.header, justify: f.qc(b2), round: 3)
        // b2 waits for b1; b3, read before b1 came back, certifies b2 and moves this node to round 3.
        _ = core.handle(.message(.proposal(f.proposal(b2)), from: b2.header.proposer))
        _ = core.handle(.message(.proposal(f.proposal(b3)), from: b3.header.proposer))
        #expect(core.currentRound == 3)
        let response = core.handle(.message(.blockResponse([b1]), from: b2.header.proposer))
        #expect(response.rejection == nil)
        #expect(response.executedBlocks == [b1, b2, b3], "no second request for b2")
        for block in [b1, b2] { _ = core.handle(.executed(blockID: block.id, .valid(nextValidators: nil))) }
        // Validator 0 leads round 4, so it keeps its vote for b3 itself.
        #expect(core.handle(.executed(blockID: b3.id, .valid(nextValidators: nil))).rejection == nil)
        #expect(core.safetyState.lastVotedRound == 3)
        #expect(core.lastCommitted == b1)
    }

    @Test func equivocatingProposalsProduceVerifiableEvidence() throws {
        let core = try started(0)
        let other = f.block(parent: f.genesis.header, justify: f.genesisQC, round: 1, timestamp: 99)
        _ = core.handle(.message(.proposal(f.proposal(b1)), from: f.keys[1].publicKey))
        let step = core.handle(.message(.proposal(f.proposal(other)), from: f.keys[1].publicKey))
        #expect(step.rejection == .equivocation(field: "proposal", signer: f.keys[1].publicKey, round: 1))
        let evidence = try #require(step.evidence.first)
        #expect(evidence.offender == f.keys[1].publicKey)
        try evidence.verify(against: f.validators, verifier: f.verifier)
    }

    @Test func formsCertificateFromQuorumOfVotesAndLeadsNextRound() throws {
        let core = try started(2)  // leader of round 2
        _ = core.handle(.message(.proposal(f.proposal(b1)), from: f.keys[1].publicKey))
        _ = core.handle(.executed(blockID: b1.id, .valid(nextValidators: nil)))  // its own vote
        #expect(core.currentRound == 1)
        #expect(core.handle(.message(.vote(f.vote(b1, by: 0)), from: f.keys[0].publicKey)).rejection == nil)
        #expect(core.currentRound == 1)
        let step = core.handle(.message(.vote(f.vote(b1, by: 3)), from: f.keys[3].publicKey))
        #expect(step.rejection == nil)
        #expect(core.currentRound == 2)
        #expect(core.highQC.blockID == b1.id)
        let request = step.actions.compactMap { action -> PayloadRequest? in
            if case .requestPayload(let r) = action { return r }
            return nil
        }
        #expect(request.first?.parent == b1.header)
        #expect(request.first?.round == 2)
    }

    @Test func rejectsDuplicateAndEquivocatingVotes() throws {
        let core = try started(2)
        let other = f.block(parent: f.genesis.header, justify: f.genesisQC, round: 1, timestamp: 77)
        #expect(core.handle(.message(.vote(f.vote(b1, by: 0)), from: f.keys[0].publicKey)).rejection == nil)
        let duplicate = core.handle(.message(.vote(f.vote(b1, by: 0)), from: f.keys[0].publicKey))
        #expect(duplicate.rejection == .duplicate(field: "vote", signer: f.keys[0].publicKey, round: 1))
        let conflicting = core.handle(.message(.vote(f.vote(other, by: 0)), from: f.keys[0].publicKey))
        #expect(conflicting.rejection == .equivocation(field: "vote", signer: f.keys[0].publicKey, round: 1))
        let evidence = try #require(conflicting.evidence.first)
        try evidence.verify(against: f.validators, verifier: f.verifier)
    }

    @Test func rejectsVotesFromNonMembersForgedOrSentToTheWrongLeader() throws {
        let leader = try started(2)
        let outsider = Ed25519PrivateKey(seed: [UInt8](repeating: 200, count: 32))!
        let foreign = Vote(data: f.voteData(b1), signedBy: outsider)
        #expect(
            leader.handle(.message(.vote(foreign), from: outsider.publicKey)).rejection
                == .notAValidator(field: "vote.voter", key: outsider.publicKey))
        let genuine = f.vote(b1, by: 1)
        let forged = Vote(data: genuine.data, voter: genuine.voter, signature: f.vote(b1, by: 3).signature)
        #expect(
            leader.handle(.message(.vote(forged), from: genuine.voter)).rejection
                == .invalidSignature(field: "vote.signature", signer: genuine.voter))
        let notLeader = try started(0)
        #expect(notLeader.handle(.message(.vote(genuine), from: genuine.voter)).rejection == .notNextLeader(round: 1))
    }

    @Test func quorumOfTimeoutsFormsTimeoutCertificateAndAdvancesRound() throws {
        let core = try started(0)
        let first = core.handle(
            .message(
                .timeout(
                    TimeoutMessage(
                        timeout: f.timeout(round: 1, highQC: f.genesisQC, by: 1), lastTimeoutCertificate: nil)),
                from: f.keys[1].publicKey))
        #expect(first.rejection == nil)
        #expect(core.currentRound == 1)
        // A second timeout is f + 1: this validator joins, which makes the quorum with its own.
        let second = core.handle(
            .message(
                .timeout(
                    TimeoutMessage(
                        timeout: f.timeout(round: 1, highQC: f.genesisQC, by: 2), lastTimeoutCertificate: nil)),
                from: f.keys[2].publicKey))
        #expect(second.rejection == nil)
        let own = second.sentMessages.contains { message, _ in
            if case .timeout(let t) = message { return t.timeout.signer == f.keys[0].publicKey }
            return false
        }
        #expect(own)
        #expect(core.currentRound == 2)
        #expect(core.safetyState.lastTimeoutRound == 1)
    }

    @Test func rejectsForgedMalformedAndForeignTimeouts() throws {
        let core = try started(0)
        let genuine = f.timeout(round: 1, highQC: f.genesisQC, by: 1)
        let forged = Timeout(
            data: genuine.data, signer: genuine.signer,
            signature: f.timeout(round: 1, highQC: f.genesisQC, by: 2).signature, highQC: f.genesisQC)
        #expect(
            core.handle(
                .message(.timeout(TimeoutMessage(timeout: forged, lastTimeoutCertificate: nil)), from: genuine.signer)
            ).rejection
                == .invalidSignature(field: "timeout.signature", signer: genuine.signer))
        let lying = Timeout(
            data: TimeoutData(chainID: Fixture.chainID, epoch: 0, round: 3, highQCRound: 2), highQC: f.genesisQC,
            signedBy: f.keys[1])
        #expect(
            core.handle(
                .message(.timeout(TimeoutMessage(timeout: lying, lastTimeoutCertificate: nil)), from: genuine.signer)
            ).rejection
                == .invalidBlock(field: "timeout.highQC", reason: "round does not match the signed high QC round"))
        let outsider = Ed25519PrivateKey(seed: [UInt8](repeating: 201, count: 32))!
        let foreign = Timeout(data: genuine.data, highQC: f.genesisQC, signedBy: outsider)
        #expect(
            core.handle(
                .message(
                    .timeout(TimeoutMessage(timeout: foreign, lastTimeoutCertificate: nil)), from: outsider.publicKey)
            ).rejection
                == .notAValidator(field: "timeout.signer", key: outsider.publicKey))
        #expect(core.currentRound == 1)
    }

    @Test func timerSignsOneTimeoutPerRoundAndResendsIt() throws {
        let core = try started(0)
        let first = core.handle(.timerFired(epoch: 0, round: 1)).sentMessages
        let second = core.handle(.timerFired(epoch: 0, round: 1)).sentMessages
        #expect(first.count == 1)
        #expect(first.map(\.0) == second.map(\.0))
        #expect(core.handle(.timerFired(epoch: 0, round: 7)).actions.isEmpty, "a stale timer does nothing")
    }

    @Test func leaderSignsTheBuiltBlockAndRefusesAnyOther() throws {
        let core = try started(1)  // leader of round 1
        let wrong = f.block(parent: f.genesis.header, justify: f.genesisQC, round: 2, proposer: f.keys[1].publicKey)
        #expect(
            core.handle(.payloadReady(wrong)).rejection
                == .unexpectedPayload(reason: "header does not match the request"))
        let step = core.handle(.payloadReady(b1))
        #expect(step.rejection == nil)
        let broadcast = step.sentMessages.first { if case .proposal = $0.0 { return true } else { return false } }
        guard case .proposal(let proposal)? = broadcast?.0 else {
            Issue.record("the leader broadcast no proposal")
            return
        }
        #expect(proposal.block == b1)
        #expect(
            f.verifier.isValid(
                proposal.signature, by: f.keys[1].publicKey, for: Proposal.signingBytes(blockID: b1.id),
                domain: .proposal))
        #expect(core.handle(.payloadReady(b1)).rejection == .unexpectedPayload(reason: "no payload was requested"))
    }

    @Test func refusesExecutionResultForUnknownBlock() throws {
        let core = try started(0)
        #expect(core.handle(.executed(blockID: b1.id, .valid(nextValidators: nil))).rejection == .unknownBlock(b1.id))
    }

    @Test func fetchesMissingParentThenVotes() throws {
        let core = try started(0)
        let b2 = f.block(parent: b1.header, justify: f.qc(b1), round: 2)
        let step = core.handle(.message(.proposal(f.proposal(b2)), from: f.keys[2].publicKey))
        // Only b1 lies between the committed genesis and b2: one block is asked for, not a full response.
        #expect(
            step.actions.contains(
                .send(.blockRequest(BlockRequest(blockID: b1.id, count: 1)), to: f.keys[2].publicKey)))
        let unasked = f.block(parent: f.genesis.header, justify: f.genesisQC, round: 1, timestamp: 5)
        #expect(
            core.handle(.message(.blockResponse([unasked]), from: f.keys[2].publicKey)).rejection == .unrequestedBlocks)
        let response = core.handle(.message(.blockResponse([b1]), from: f.keys[2].publicKey))
        #expect(response.rejection == nil)
        #expect(response.executedBlocks == [b1, b2])
    }

    @Test(
        "an answer to a block request stops before its blocks pass the response byte limit, but always carries one",
        arguments: [(2 << 20, 3), (3_000, 2), (100, 1)])
    func blockResponsesStayWithinTheByteLimit(limit: Int, blocks: Int) throws {
        var configuration = ConsensusConfiguration(chainID: Fixture.chainID)
        configuration.maxResponseBytes = limit
        let core = try f.core(for: 0, configuration: configuration)
        _ = core.handle(.start)
        let b2 = f.block(parent: b1.header, justify: f.qc(b1), round: 2)
        _ = core.handle(.message(.proposal(f.proposal(b2)), from: f.keys[2].publicKey))
        #expect(core.handle(.message(.blockResponse([b1]), from: f.keys[2].publicKey)).rejection == nil)
        // Estimated sizes: b2 (a certificate of 3 signatures) 1,408 bytes, b1 and genesis 1,024 each.
        #expect(ConsensusCore.approximateEncodedSize(of: b2) >= b2.canonicalBytes.count)
        let response = core.handle(
            .message(.blockRequest(BlockRequest(blockID: b2.id, count: 64)), from: f.keys[1].publicKey))
        let expected = Array([b2, b1, f.genesis].prefix(blocks))
        #expect(response.actions == [.send(.blockResponse(expected), to: f.keys[1].publicKey)])
    }

    @Test func committedBlocksPastTheByteBudgetLeaveMemory() throws {
        // Blocks of this fixture carry no transactions: about 1.4 kB each by the core's estimate.
        var small = ConsensusConfiguration(chainID: Fixture.chainID)
        small.retainedCommittedBytes = 5_000
        var cores = [try f.core(for: 0, configuration: small), try f.core(for: 0)]
        var chain = [b1]
        for round in UInt64(2)...20 {
            chain.append(
                f.block(parent: chain[chain.count - 1].header, justify: f.qc(chain[chain.count - 1]), round: round))
        }
        for core in cores {
            _ = core.handle(.start)
            for block in chain {
                _ = core.handle(.message(.proposal(f.proposal(block)), from: block.header.proposer))
                _ = core.handle(.executed(blockID: block.id, .valid(nextValidators: nil)))
            }
            #expect(core.lastCommitted == chain[17])
        }
        let (budgeted, unbudgeted) = (cores.removeFirst(), cores.removeFirst())
        #expect(unbudgeted.retainedBlockCount == 21, "genesis and all 20 blocks, under the count limit")
        // Committed blocks within the budget and its quarter of slack (4 of them), and the two uncommitted ones.
        #expect(budgeted.retainedBlockCount <= 6)
        #expect(budgeted.retainedEntryCounts["committedSizes"] == budgeted.retainedBlockCount - 2)
        func answer(_ core: ConsensusCore, for block: Block) -> [Block]? {
            let step = core.handle(
                .message(.blockRequest(BlockRequest(blockID: block.id, count: 64)), from: f.keys[1].publicKey))
            for (message, _) in step.sentMessages {
                if case .blockResponse(let blocks) = message { return blocks }
            }
            return nil
        }
        // The newest committed block is still served, down to the oldest one kept; an old one no longer is.
        let served = try #require(answer(budgeted, for: chain[17]))
        #expect(served.first == chain[17])
        #expect(served.count == budgeted.retainedBlockCount - 2)
        #expect(answer(budgeted, for: chain[3]) == nil)
        #expect(answer(unbudgeted, for: chain[3])?.count == 5, "blocks 4 to 1 and genesis")
    }

    @Test func hostileRoundsAndCountsNeverTrap() throws {
        let core = try f.core(for: 0)
        #expect(core.handle(.timerFired(epoch: 0, round: 0)).actions.isEmpty, "a timer before start does nothing")
        _ = core.handle(.start)
        let farData = VoteData(chainID: Fixture.chainID, epoch: 0, round: .max, height: .max, blockID: b1.id)
        let far = Vote(data: farData, signedBy: f.keys[1])
        #expect(core.handle(.message(.vote(far), from: f.keys[1].publicKey)).rejection != nil)
        let aheadData = VoteData(chainID: Fixture.chainID, epoch: 0, round: 4 * 100 + 3, height: 9, blockID: b1.id)
        let leaderOfNext = try f.core(for: Int((aheadData.round + 1) % 4))
        _ = leaderOfNext.handle(.start)
        #expect(
            leaderOfNext.handle(.message(.vote(Vote(data: aheadData, signedBy: f.keys[1])), from: f.keys[1].publicKey))
                .rejection == .tooFarAhead(received: aheadData.round, current: 1))
        let maxTimeout = Timeout(
            data: TimeoutData(chainID: Fixture.chainID, epoch: 0, round: .max, highQCRound: 0), highQC: f.genesisQC,
            signedBy: f.keys[1])
        let tcAtMax = f.tc(round: .max, highQC: f.genesisQC)
        let step = core.handle(
            .message(
                .timeout(TimeoutMessage(timeout: maxTimeout, lastTimeoutCertificate: tcAtMax)),
                from: f.keys[1].publicKey))
        #expect(
            step.rejection == .unjustifiedRound(round: .max, reason: "timeout certificate is for round \(UInt64.max)"))
        let response = core.handle(
            .message(.blockRequest(BlockRequest(blockID: f.genesis.id, count: .max)), from: f.keys[1].publicKey))
        #expect(response.actions == [.send(.blockResponse([f.genesis]), to: f.keys[1].publicKey)])
        #expect(core.currentRound == 1)
    }
}
