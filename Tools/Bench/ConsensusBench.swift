import ArgumentParser
import Consensus
import ConsensusSimulation
import Dispatch

/// `ensure-bench simulate`: runs the consensus simulator over a range of seeds, prints the seed ranges covered
/// and every violation with the command that replays it.
struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run the deterministic consensus simulator over many seeds and check safety and liveness.")

    @Option(help: "Validators per epoch.") var validators = 4
    @Option(help: "First seed.") var seed: UInt64 = 0
    @Option(help: "Number of seeds to run from --seed.") var seeds: UInt64 = 1
    @Option(help: "Signature scheme: ed25519 or fast.") var signer = "ed25519"
    @Option(help: "Validator keys that run twice (Twins).") var twins = 0
    @Option(help: "Byzantine fork leaders.") var forkers = 0
    @Option(help: "Heights per epoch (0: no validator-set change).") var epochLength: UInt64 = 0
    @Flag(help: "Run without network faults, crashes and skew.") var noFaults = false
    @Option(help: "Heights one honest node stays down before it restarts from its store (0: none).")
    var lag: UInt64 = 0
    @Option(help: "A deliberately broken rule, to see the checker catch it.") var mutation: String?
    @Flag(help: "Vary the profile with the seed: 4, 7 or 10 validators, with or without Twins, fork leaders, epochs.")
    var mixed = false
    @Flag(help: "Print every event of the run (use with one seed).") var trace = false
    @Option(help: "Print a progress line every this many seeds.") var progressEvery: UInt64 = 10_000

    mutating func run() throws {
        guard let scheme = SimulationSigner(rawValue: signer) else {
            throw ValidationError("unknown --signer \(signer); use ed25519 or fast")
        }
        var mutant: ConsensusMutation?
        if let mutation {
            guard let parsed = ConsensusMutation(rawValue: mutation) else {
                throw ValidationError(
                    "unknown --mutation \(mutation); use \(ConsensusMutation.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            mutant = parsed
        }
        var failures = 0
        var rangeStart = seed
        var commits = 0
        let started = DispatchTime.now().uptimeNanoseconds
        for current in seed..<(seed + seeds) {
            var base = SimulationOptions(
                validators: validators, seed: current, signer: scheme, twins: twins, forkers: forkers,
                epochLength: epochLength, faults: !noFaults)
            if mixed {
                base.validators = [4, 7, 10][Int(current % 3)]
                base.twins = (current / 3) % 2 == 1 ? (base.validators - 1) / 3 : 0
                base.forkers = (current / 6) % 2 == 1 ? 1 : 0
                base.epochLength = (current / 12) % 2 == 1 ? 5 : 0
            }
            var options = SimulationOptions(base, mutation: mutant)
            options.trace = trace
            options.lag = lag
            let report = Simulation.run(options)
            commits += report.commits
            if !report.passed {
                failures += 1
                print("seed \(current) FAILED (height \(report.committedHeight), round \(report.rounds)):")
                for violation in report.violations { print("  \(violation)") }
                print("  replay: \(report.options.replayCommand)")
            } else if seeds == 1 {
                print(
                    "seed \(current) passed: height \(report.committedHeight), round \(report.rounds), epoch \(report.epochs), \(report.messages) messages, \(report.simulatedMilliseconds) ms simulated, \(report.evidence) evidence"
                )
            }
            if (current + 1 - seed) % progressEvery == 0 || current + 1 == seed + seeds {
                print("seeds \(rangeStart)...\(current): done, \(failures) failing so far, \(commits) commits")
                rangeStart = current + 1
            }
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        print("\(seeds) seeds from \(seed) in \(fixed(seconds, 1)) s: \(failures) failing")
        if failures > 0 { throw ExitCode(1) }
    }
}

/// `ensure-bench consensus`: simulated commits per second of the core with the fast signer, no faults.
struct ConsensusThroughputCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consensus",
        abstract: "Simulated commits per second of the consensus core (fast signer, no faults).")

    @Option(help: "Validator counts to measure, comma separated.") var validators = "4,10"
    @Option(help: "Seeds per validator count.") var seeds: UInt64 = 3
    @Option(help: "Blocks each run commits.") var blocks: UInt64 = 2_000

    mutating func run() throws {
        for text in validators.split(separator: ",") {
            guard let n = Int(text), n >= 1 else { throw ValidationError("bad validator count \(text)") }
            var commits = 0
            var heights: UInt64 = 0
            let started = DispatchTime.now().uptimeNanoseconds
            for seed in 0..<seeds {
                var options = SimulationOptions(validators: n, seed: seed, signer: .fast, faults: false)
                options.targetHeight = blocks
                let report = Simulation.run(options)
                guard report.passed else {
                    print("seed \(seed) failed: \(report.violations)")
                    throw ExitCode(1)
                }
                commits += report.commits
                heights += report.committedHeight
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            print(
                "n=\(n): \(heights) blocks committed (\(commits) node commits) in \(fixed(seconds, 2)) s: \(fixed(Double(heights) / seconds, 0)) blocks/s, \(fixed(Double(commits) / seconds, 0)) node commits/s"
            )
        }
    }
}

/// `value` with `digits` decimals, without Foundation.
private func fixed(_ value: Double, _ digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = Int((value * scale).rounded())
    guard digits > 0 else { return "\(scaled)" }
    let whole = scaled / Int(scale)
    let fraction = String(abs(scaled) % Int(scale))
    return "\(whole).\(String(repeating: "0", count: digits - fraction.count))\(fraction)"
}
