import ArgumentParser

/// `ensure-bench`: benchmarks and long-running checks. Build in release mode:
/// `swift run -c release ensure-bench <subcommand>`. Figures that have a bound on this machine are printed
/// as a ratio to that bound, measured in the same run, because shared machines are noisy.
@main
struct EnsureBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ensure-bench",
        abstract: "Benchmarks and long-running checks for Ensure (build with -c release).",
        subcommands: [
            // Each benchmark is a subcommand defined in its own file in this folder.
            CryptoBench.self,
            LevelDBBench.self,
            MerkleBench.self,
            MempoolBench.self,
            PipelineBench.self,
            LoadBench.self,
            ConsensusThroughputCommand.self,
            SimulateCommand.self,
            CredentialBench.self,
            APIBench.self,
            IncidentBench.self,
        ]
    )
}
