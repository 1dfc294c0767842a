import ArgumentParser

/// `ensure`: the operator, plugin, wallet, issuer and auditor command line.
@main
struct Ensure: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ensure",
        abstract: "Operate an Ensure node and use the ledger from the command line.",
        subcommands: [
            KeysCommand.self,
            InitCommand.self,
            GenesisCommand.self,
            TestnetCommand.self,
            NotarizeCommand.self, TransactionCommand.self, NotarizationCommand.self,
            GovernanceCommand.self, IncidentCommand.self, AuthCommand.self,
            CredentialCommand.self, WalletCommand.self,
        ]
    )
}
