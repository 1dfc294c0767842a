import Consensus
import ConsensusSimulation
import Testing

/// Restarts from a node's own committed store, catching up from an old root, and memory that stays bounded.
@Suite struct SimulationRestartTests {
    private func describe(_ report: SimulationReport) -> String {
        "\(report.violations.map(\.description).joined(separator: "; "))\n  replay: \(report.options.replayCommand)"
    }

    @Test func crashedNodesResumeFromTheirLastCommittedBlock() {
        var resumes = 0
        for seed in UInt64(50_000)..<50_300 {
            let report = Simulation.run(SimulationOptions(validators: 4, seed: seed, signer: .fast))
            resumes += report.resumes
            #expect(report.passed, "seed \(seed): \(describe(report))")
        }
        #expect(resumes > 20, "crashes happened after commits, so restarts read a root above genesis back")
    }

    @Test(arguments: [(4, false), (4, true), (7, true)])
    func aNodeRestartingFromAnOldRootCatchesUp(validators: Int, faults: Bool) throws {
        for seed in UInt64(60_000)..<60_012 {
            var options = SimulationOptions(validators: validators, seed: seed, signer: .fast, faults: faults)
            options.lag = 40
            let report = Simulation.run(options)
            #expect(report.passed, "seed \(seed): \(describe(report))")
            let laggard = try #require(report.laggard, "seed \(seed): the laggard never restarted")
            #expect(laggard.rootHeight >= 1, "seed \(seed): it restarts from a committed block, not genesis")
            #expect(laggard.othersHeightAtRestart >= laggard.rootHeight + 40, "seed \(seed): the others were ahead")
            #expect(laggard.finalHeight > laggard.othersHeightAtRestart, "seed \(seed): it caught up and went on")
        }
    }

    /// The core keeps only a window of committed blocks, so a node further behind than the window cannot catch up
    /// through consensus messages alone (the node's block sync serves it from the store): a liveness failure of that
    /// node, never a safety one.
    @Test func aNodeBehindMoreThanTheRetainedWindowNeedsBlockSync() {
        var options = SimulationOptions(validators: 4, seed: 70_000, signer: .fast, faults: false)
        options.lag = ConsensusLimits.retainedCommittedBlocks + 64
        let report = Simulation.run(options)
        #expect(!report.violations.isEmpty)
        #expect(report.violations.allSatisfy { $0.kind == .liveness }, "\(describe(report))")
        let laggard = report.laggard
        #expect(laggard.map { $0.finalHeight == $0.rootHeight } == true, "it committed nothing after its root")
        #expect(report.options.replayCommand.hasSuffix("--no-faults --lag 320"))
    }

    @Test func memoryStaysBoundedOnALongRun() {
        var options = SimulationOptions(validators: 4, seed: 80_000, signer: .fast, faults: false)
        options.targetHeight = 800
        let report = Simulation.run(options)
        #expect(report.passed, "\(describe(report))")
        #expect(report.committedHeight >= 800)
        let bound = Int(ConsensusLimits.retainedCommittedBlocks) + 32 + 16
        #expect(report.maxRetainedBlocks > Int(ConsensusLimits.retainedCommittedBlocks), "the window filled up")
        #expect(report.maxRetainedBlocks <= bound, "blocks: \(report.maxRetainedBlocks)")
        for (table, count) in report.maxRetainedEntries {
            #expect(count <= bound, "\(table) grew to \(count)")
        }
        #expect(report.maxRetainedEntries["committedIDs", default: 0] > 200)
    }
}
