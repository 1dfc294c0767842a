import Consensus
import ConsensusSimulation
import Testing

/// Runs `count` seeds from `first`; every failure is recorded with the command that replays it.
private func checkSeeds(_ count: UInt64, from first: UInt64 = 0, _ make: (UInt64) -> SimulationOptions) -> (
    passed: Int, commits: Int, evidence: Int
) {
    var passed = 0
    var commits = 0
    var evidence = 0
    for seed in first..<(first + count) {
        let report = Simulation.run(make(seed))
        commits += report.commits
        evidence += report.evidence
        if report.passed {
            passed += 1
        } else {
            Issue.record(
                "seed \(seed): \(report.violations.map(\.description).joined(separator: "; "))\n  replay: \(report.options.replayCommand)"
            )
        }
    }
    return (passed, commits, evidence)
}

/// Runs seeds of a mutant until the checker flags one; returns the first caught seed and its report.
private func firstCaught(_ mutation: ConsensusMutation, within count: UInt64, _ make: (UInt64) -> SimulationOptions)
    -> SimulationReport?
{
    for seed in 0..<count {
        let report = Simulation.run(SimulationOptions(make(seed), mutation: mutation))
        if report.violations.contains(where: { $0.kind == .safety }) { return report }
    }
    return nil
}

@Suite struct SimulationTests {
    @Test(arguments: [(4, UInt64(1_000)), (7, UInt64(300)), (10, UInt64(80))])
    func safeAndLiveUnderNetworkFaultsCrashesAndSkew(validators: Int, seeds: UInt64) {
        let result = checkSeeds(seeds) { SimulationOptions(validators: validators, seed: $0, signer: .fast) }
        #expect(result.passed == Int(seeds))
        #expect(
            result.commits > Int(seeds) * validators, "the runs commit blocks, so the checks had something to check")
    }

    @Test func safeAndLiveWithRealEd25519() {
        let result = checkSeeds(12, from: 10_000) { SimulationOptions(validators: 4, seed: $0, signer: .ed25519) }
        #expect(result.passed == 12)
    }

    @Test(arguments: [(4, 1, UInt64(400)), (7, 2, UInt64(150)), (10, 3, UInt64(40))])
    func twinsNeverBreakSafety(validators: Int, twins: Int, seeds: UInt64) {
        let result = checkSeeds(seeds, from: 20_000) {
            SimulationOptions(validators: validators, seed: $0, signer: .fast, twins: twins)
        }
        #expect(result.passed == Int(seeds))
        #expect(result.evidence > 0, "twins equivocate, and honest nodes report evidence that verifies")
    }

    @Test func forkLeadersAreRefusedAndChainStaysLive() {
        let result = checkSeeds(400, from: 30_000) {
            SimulationOptions(validators: 4, seed: $0, signer: .fast, forkers: 1)
        }
        #expect(result.passed == 400)
    }

    @Test(arguments: [4, 7])
    func epochsChangeTheValidatorSetAtCommittedBoundaries(validators: Int) {
        var epochs: UInt64 = 0
        let seeds: UInt64 = validators == 4 ? 300 : 120
        let result = checkSeeds(seeds, from: 40_000) { seed in
            SimulationOptions(validators: validators, seed: seed, signer: .fast, twins: 1, epochLength: 4)
        }
        for seed in 0..<UInt64(5) {
            epochs +=
                Simulation.run(
                    SimulationOptions(validators: validators, seed: seed, signer: .fast, epochLength: 3, faults: false)
                ).epochs
        }
        #expect(result.passed == Int(seeds))
        #expect(epochs >= 5, "fault-free runs with 3-height epochs reach later epochs")
    }

    @Test func sameSeedSameRun() {
        let options = SimulationOptions(validators: 4, seed: 4242, signer: .fast, twins: 1, epochLength: 5)
        let a = Simulation.run(options)
        let b = Simulation.run(options)
        #expect(a.messages == b.messages)
        #expect(a.commits == b.commits)
        #expect(a.simulatedMilliseconds == b.simulatedMilliseconds)
        let other = Simulation.run(
            SimulationOptions(validators: 4, seed: 4243, signer: .fast, twins: 1, epochLength: 5))
        #expect(other.messages != a.messages || other.simulatedMilliseconds != a.simulatedMilliseconds)
    }

    @Test func replayCommandNamesEveryOption() {
        var options = SimulationOptions(validators: 7, seed: 99, signer: .fast, twins: 2, forkers: 0, epochLength: 6)
        options = SimulationOptions(options, mutation: .commitsOnOneChain)
        #expect(
            options.replayCommand
                == "swift run -c release ensure-bench simulate --validators 7 --seed 99 --signer fast --twins 2 --epoch-length 6 --mutation commits-on-one-chain"
        )
    }

    /// Mutant 1: a voter that ignores the extension rule (and so the preferred round that the timeout
    /// certificate carries) votes for a Byzantine leader's fork and two honest nodes commit different blocks.
    @Test func catchesVoterIgnoringExtensionRule() throws {
        let report = try #require(
            firstCaught(.votesIgnoringExtensionRule, within: 200) {
                SimulationOptions(validators: 4, seed: $0, signer: .fast, forkers: 1)
            }, "the simulator must catch the mutant")
        #expect(report.violations.contains { $0.kind == .safety })
        #expect(report.options.replayCommand.contains("--mutation votes-ignoring-extension-rule"))
        // The same seeds with the correct rule hold.
        #expect(Simulation.run(SimulationOptions(report.options, mutation: nil)).passed)
    }

    /// Mutant 2: committing on a one-chain (a certified block, without its certified child) commits blocks
    /// that a later timeout certificate legitimately abandons.
    @Test func catchesOneChainCommitRule() throws {
        let report = try #require(
            firstCaught(.commitsOnOneChain, within: 200) {
                SimulationOptions(validators: 4, seed: $0, signer: .fast)
            }, "the simulator must catch the mutant")
        #expect(report.violations.contains { $0.kind == .safety })
        #expect(Simulation.run(SimulationOptions(report.options, mutation: nil)).passed)
    }

    @Test func oneChainMutantIsCaughtWithTwinsToo() throws {
        let report = firstCaught(.commitsOnOneChain, within: 200) {
            SimulationOptions(validators: 7, seed: $0, signer: .fast, twins: 2)
        }
        #expect(report != nil)
    }
}
