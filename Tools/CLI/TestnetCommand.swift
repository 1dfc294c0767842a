import ArgumentParser
import EnsureCrypto
import Foundation
import Ledger
import NodeConfig

/// `ensure testnet`: every home, key, config and the shared genesis of a local network.
struct TestnetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "testnet",
        abstract: "Generate a local network: one home per node, one organization per validator, one genesis.",
        discussion: """
            Node i (validators first, then observers) listens for peers on 127.0.0.1 at base-port + 2i and \
            serves its API at base-port + 2i + 1, and lists every other node as a peer. Layout: OUT/genesis.json, \
            OUT/orgs/org-i/admin.key, OUT/validator-i/ and OUT/observer-j/ (each a node home with its own copy of \
            genesis.json).
            """
    )

    @Option(name: .long, help: "Number of validators (1-64).")
    var validators: Int

    @Option(name: .long, help: "Number of observers (0-64).")
    var observers = 0

    @Option(name: .long, help: "The directory to create; it must be absent or empty.")
    var out: String

    @Option(name: .long, help: "The first port; each node takes two.")
    var basePort = 26_600

    @Option(name: .long, help: "The chain id.")
    var chainId = "ensure-testnet"

    @Flag(name: .long, help: "Print one JSON object instead of text.")
    var json = false

    func run() throws {
        guard (1...64).contains(validators) else { throw CommandFailure("--validators must be between 1 and 64") }
        guard (0...64).contains(observers) else { throw CommandFailure("--observers must be between 0 and 64") }
        let validatorKeys = (0..<validators).map { _ in Ed25519PrivateKey() }
        let adminKeys = (0..<validators).map { _ in Ed25519PrivateKey() }
        let observerKeys = (0..<observers).map { _ in Ed25519PrivateKey() }
        let plan: TestnetPlan
        do {
            plan = try TestnetPlan(
                chainID: chainId, genesisTime: UInt64(Date().timeIntervalSince1970 * 1000),
                validatorKeys: validatorKeys.map(\.publicKey), adminKeys: adminKeys.map(\.publicKey),
                observerKeys: observerKeys.map(\.publicKey), basePort: basePort)
        } catch {
            throw CommandFailure("cannot plan the test network: \(error)")
        }
        try NodeHome.prepare(out, force: false)
        let genesisBytes = Array(plan.genesis.jsonText().utf8)
        let genesisPath = (out as NSString).appendingPathComponent("genesis.json")
        try NodeHome.writeFile(genesisBytes, to: genesisPath)

        var organizations: [TestnetSummary.Organization] = []
        for organization in plan.genesis.organizations {
            let key = adminKeys.first { $0.publicKey == organization.adminKey }!
            let directory = (out as NSString).appendingPathComponent("orgs/\(organization.name)")
            try NodeHome.createDirectory(directory, mode: 0o700)
            let keyPath = (directory as NSString).appendingPathComponent("admin.key")
            try KeyFile.write(key, to: keyPath)
            organizations.append(.init(name: organization.name, adminKeyFile: keyPath, adminKey: key.publicKey.hex))
        }

        let privateKeys = validatorKeys + observerKeys
        var nodes: [TestnetSummary.Node] = []
        for member in plan.members {
            let home = (out as NSString).appendingPathComponent(member.name)
            try NodeHome.createDirectory(home)
            let key = privateKeys.first { $0.publicKey == member.nodeKey }!
            _ = try NodeHome.write(configuration: member.configuration, key: key, home: home, overwrite: false)
            try NodeHome.writeFile(genesisBytes, to: member.configuration.genesisFilePath(home: home))
            nodes.append(
                .init(
                    name: member.name, home: home, validator: member.isValidator, nodeKey: member.nodeKey.hex,
                    p2pAddress: member.configuration.p2p.listenAddress.description,
                    apiAddress: member.configuration.api.listenAddress.description))
        }
        let summary = TestnetSummary(
            directory: out, genesis: GenesisSummary(genesis: plan.genesis, file: genesisPath),
            organizations: organizations, nodes: nodes)
        print(summary.render(json: json))
    }
}

/// What `testnet` prints.
struct TestnetSummary: Encodable {
    /// An organization and its admin key file.
    struct Organization: Encodable {
        var name: String
        var adminKeyFile: String
        var adminKey: String
    }

    /// A node home.
    struct Node: Encodable {
        var name: String
        var home: String
        var validator: Bool
        var nodeKey: String
        var p2pAddress: String
        var apiAddress: String
    }

    var directory: String
    var genesis: GenesisSummary
    var organizations: [Organization]
    var nodes: [Node]

    /// One JSON object on one line, or a table of nodes.
    func render(json: Bool) -> String {
        if json { return OperatorJSON.line(self) }
        var lines = [
            "test network in \(directory)", "chain id:      \(genesis.chainID)",
            "genesis hash:  \(genesis.genesisHash)",
        ]
        for node in nodes {
            lines.append(
                "\(node.name): p2p \(node.p2pAddress), api \(node.apiAddress), key \(node.nodeKey), home \(node.home)")
        }
        return lines.joined(separator: "\n")
    }
}
