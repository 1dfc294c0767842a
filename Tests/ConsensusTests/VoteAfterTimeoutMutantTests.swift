import Consensus
import ConsensusSimulation
import Ledger
import Testing

/// Mutant 3: SafetyRules that still vote in a round after signing a timeout for it. The simulator flags an honest
/// key whose vote for a round follows its timeout for that round; the real rules never give it one.
@Suite struct VoteAfterTimeoutMutantTests {
    let f = Fixture()

    @Test func mutantRulesVoteAfterTimingOutAndRealRulesRefuse() throws {
        let b1 = f.block(parent: f.genesis.header, justify: f.genesisQC, round: 1)
        for mutation in [nil, ConsensusMutation.votesAfterTimeout] {
            let safety = try SafetyRules(
                signer: Ed25519ConsensusSigner(key: f.keys[0]), persistence: InMemorySafetyStatePersistence())
            safety.mutation = mutation
            _ = try safety.signTimeout(
                chainID: Fixture.chainID, epoch: 0, round: 1, highQC: f.genesisQC, lastTimeoutCertificate: nil)
            let vote = try? safety.signVote(for: b1, timeoutCertificate: nil)
            #expect((vote != nil) == (mutation != nil), "mutation \(String(describing: mutation))")
        }
    }

    @Test func simulatorCatchesTheMutant() throws {
        var caught: SimulationReport?
        for seed in UInt64(0)..<200 {
            let report = Simulation.run(
                SimulationOptions(
                    SimulationOptions(validators: 4, seed: seed, signer: .fast), mutation: .votesAfterTimeout))
            if report.violations.contains(where: { $0.kind == .safety }) {
                caught = report
                break
            }
        }
        let report = try #require(caught, "the simulator must catch the mutant within 200 seeds")
        #expect(report.violations.contains { $0.detail.contains("after signing a timeout") })
        #expect(report.options.replayCommand.contains("--mutation votes-after-timeout"))
        let real = Simulation.run(SimulationOptions(report.options, mutation: nil))
        #expect(real.passed, "the same seed with the real rules: \(real.violations)")
    }

    @Test func realRulesNeverVoteAfterATimeoutAcrossManySeeds() {
        var failures: [String] = []
        for seed in UInt64(90_000)..<90_300 {
            let report = Simulation.run(SimulationOptions(validators: 4, seed: seed, signer: .fast, twins: 1))
            if !report.passed { failures.append("seed \(seed): \(report.violations); \(report.options.replayCommand)") }
        }
        #expect(failures.isEmpty, "\(failures)")
    }
}
