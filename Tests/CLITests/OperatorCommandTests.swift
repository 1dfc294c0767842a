import EnsureCrypto
import Foundation
import Ledger
import NodeConfig
import Testing

/// What `init --json` prints.
struct HomeSummaryJSON: Decodable {
    let home: String
    let configFile: String
    let keyFile: String
    let dataDir: String
    let publicKeyHex: String
}

/// What `testnet --json` prints (the parts the tests read).
struct TestnetSummaryJSON: Decodable {
    struct Node: Decodable {
        let name: String
        let home: String
        let validator: Bool
        let nodeKey: String
    }
    struct Organization: Decodable {
        let name: String
        let adminKeyFile: String
        let adminKey: String
    }
    let nodes: [Node]
    let organizations: [Organization]
}

/// A fresh node key's hex, from a seed byte.
func publicHex(_ seed: UInt8) -> String { Ed25519PrivateKey(seed: [UInt8](repeating: seed, count: 32))!.publicKey.hex }

@Suite("ensure init, genesis and testnet", .serialized)
struct OperatorCommandTests {
    @Test("init creates config.toml, a 0600 key whose public key it prints, and the data directory")
    func initCreatesHome() throws {
        let workspace = try Workspace()
        let home = workspace.file("node")
        let result = try EnsureBinary.run(["init", "--home", home, "--moniker", "shop-1", "--json"])
        #expect(result.status == 0, "\(result.standardError)")
        let summary = try JSONDecoder().decode(HomeSummaryJSON.self, from: Data(result.standardOutput.utf8))
        #expect(summary.keyFile == home + "/keys/node.key")
        let mode = try FileManager.default.attributesOfItem(atPath: summary.keyFile)[.posixPermissions] as? Int
        #expect(mode.map { $0 & 0o777 } == 0o600)
        #expect(try KeyFile.read(from: summary.keyFile).publicKey.hex == summary.publicKeyHex)
        var isDirectory: ObjCBool = false
        #expect(
            FileManager.default.fileExists(atPath: home + "/data", isDirectory: &isDirectory) && isDirectory.boolValue)
        let configuration = try NodeConfiguration.load(home: home)
        #expect(configuration.node.moniker == "shop-1")
        #expect(configuration.keyFilePath(home: home) == summary.keyFile)

        let text = try EnsureBinary.run(["init", "--home", workspace.file("other")])
        #expect(text.status == 0)
        #expect(textFields(text.standardOutput)["public key"]?.count == 64)
    }

    @Test("init refuses a non-empty home and leaves it alone; --force replaces the key")
    func initRefusesNonEmptyHome() throws {
        let workspace = try Workspace()
        let home = workspace.file("node")
        #expect(try EnsureBinary.run(["init", "--home", home]).status == 0)
        let before = try KeyFile.read(from: home + "/keys/node.key").publicKey
        let refused = try EnsureBinary.run(["init", "--home", home])
        #expect(refused.status != 0)
        #expect(refused.standardError.contains(home))
        #expect(refused.standardError.contains("not empty"))
        #expect(try KeyFile.read(from: home + "/keys/node.key").publicKey == before)

        let forced = try EnsureBinary.run(["init", "--home", home, "--force", "--json"])
        #expect(forced.status == 0, "\(forced.standardError)")
        let summary = try JSONDecoder().decode(HomeSummaryJSON.self, from: Data(forced.standardOutput.utf8))
        #expect(summary.publicKeyHex != before.hex)
    }

    @Test("init refuses a bad moniker and a home that is a file, writing nothing")
    func initRefusals() throws {
        let workspace = try Workspace()
        let bad = try EnsureBinary.run(["init", "--home", workspace.file("n"), "--moniker", "has space"])
        #expect(bad.status != 0)
        #expect(bad.standardError.contains("node.moniker"))
        #expect(!FileManager.default.fileExists(atPath: workspace.file("n")))
        try "x".write(toFile: workspace.file("file"), atomically: true, encoding: .utf8)
        let file = try EnsureBinary.run(["init", "--home", workspace.file("file")])
        #expect(file.status != 0)
        #expect(file.standardError.contains("not a directory"))
    }

    @Test("genesis builds a file that decodes, validates and carries the printed hash")
    func genesisBuilds() throws {
        let workspace = try Workspace()
        let out = workspace.file("genesis.json")
        let result = try EnsureBinary.run([
            "genesis", "--chain-id", "ensure-prod", "--org", "shop-a=\(publicHex(1))",
            "--org", "bank-b=\(publicHex(2)),\(String(repeating: "ab", count: 32))",
            "--validator", "shop-a=\(publicHex(10))", "--validator", "bank-b=\(publicHex(11))",
            "--observer", publicHex(20), "--genesis-time-ms", "1700000000000", "--out", out,
        ])
        #expect(result.status == 0, "\(result.standardError)")
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: out)))
        let genesis = try Genesis.decode(json: bytes)
        #expect(genesis.chainID == "ensure-prod")
        #expect(genesis.genesisTime == 1_700_000_000_000)
        #expect(genesis.organizations.map(\.name) == ["bank-b", "shop-a"])
        #expect(genesis.organizations[0].incidentKey?.hex == String(repeating: "ab", count: 32))
        #expect(try genesis.validatorSet().count == 2)
        #expect(genesis.observers.map(\.hex) == [publicHex(20)])
        #expect(textFields(result.standardOutput)["genesis hash"] == genesis.hash.hex)
    }

    @Test(
        "genesis refuses duplicates, unknown organizations, bad keys and an existing file",
        arguments: [
            (
                ["--org", "a=\(publicHex(1))", "--org", "a=\(publicHex(2))", "--validator", "a=\(publicHex(3))"],
                "listed twice"
            ),
            (
                ["--org", "a=\(publicHex(1))", "--validator", "a=\(publicHex(3))", "--validator", "a=\(publicHex(3))"],
                "listed twice"
            ),
            (
                ["--org", "a=\(publicHex(1))", "--validator", "a=\(publicHex(3))", "--observer", publicHex(3)],
                "listed twice"
            ),
            (
                ["--org", "a=\(publicHex(1))", "--validator", "b=\(publicHex(3))"],
                "\"b\" is not among the organizations"
            ),
            (["--org", "a=\(publicHex(1))"], "validators"),
            (["--org", "a=nothex", "--validator", "a=\(publicHex(3))"], "admin key"),
            (["--org", "a", "--validator", "a=\(publicHex(3))"], "NAME=ADMIN_KEY_HEX"),
            (["--org", "A=\(publicHex(1))", "--validator", "A=\(publicHex(3))"], "organization name"),
        ])
    func genesisRefusals(arguments: [String], message: String) throws {
        let workspace = try Workspace()
        let out = workspace.file("genesis.json")
        let result = try EnsureBinary.run(["genesis", "--chain-id", "c"] + arguments + ["--out", out])
        #expect(result.status != 0)
        #expect(result.standardError.contains(message), "\(result.standardError)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test("genesis does not overwrite an existing file without --force")
    func genesisExistingFile() throws {
        let workspace = try Workspace()
        let out = workspace.file("genesis.json")
        try "keep".write(toFile: out, atomically: true, encoding: .utf8)
        let arguments = [
            "genesis", "--chain-id", "c", "--org", "a=\(publicHex(1))", "--validator", "a=\(publicHex(2))", "--out",
            out,
        ]
        let refused = try EnsureBinary.run(arguments)
        #expect(refused.status != 0)
        #expect(refused.standardError.contains("already exists"))
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "keep")
        #expect(try EnsureBinary.run(arguments + ["--force"]).status == 0)
        #expect(try Genesis.decode(json: [UInt8](Data(contentsOf: URL(fileURLWithPath: out)))).chainID == "c")
    }

    @Test("testnet with 4 validators: identical genesis files, distinct ports, each node peers with the other three")
    func testnetFour() throws {
        let workspace = try Workspace()
        let out = workspace.file("net")
        let result = try EnsureBinary.run([
            "testnet", "--validators", "4", "--out", out, "--base-port", "31000", "--json",
        ])
        #expect(result.status == 0, "\(result.standardError)")
        let summary = try JSONDecoder().decode(TestnetSummaryJSON.self, from: Data(result.standardOutput.utf8))
        #expect(summary.nodes.count == 4)
        let shared = try Data(contentsOf: URL(fileURLWithPath: out + "/genesis.json"))
        let genesis = try Genesis.decode(json: [UInt8](shared))
        #expect(Set(try genesis.validatorSet().members.map(\.hex)) == Set(summary.nodes.map(\.nodeKey)))

        var ports: [Int] = []
        for node in summary.nodes {
            #expect(node.validator)
            let configuration = try NodeConfiguration.load(home: node.home)
            #expect(
                try Data(contentsOf: URL(fileURLWithPath: configuration.genesisFilePath(home: node.home))) == shared)
            #expect(try KeyFile.read(from: configuration.keyFilePath(home: node.home)).publicKey.hex == node.nodeKey)
            ports += [configuration.p2p.listenAddress.port, configuration.api.listenAddress.port]
            #expect(configuration.p2p.listenAddress.host == "127.0.0.1")
            let peers = configuration.p2p.peers
            #expect(peers.count == 3)
            #expect(Set(peers.map(\.key.hex)) == Set(summary.nodes.map(\.nodeKey)).subtracting([node.nodeKey]))
            for peer in peers {
                let target = try #require(summary.nodes.first { $0.nodeKey == peer.key.hex })
                #expect(try NodeConfiguration.load(home: target.home).p2p.listenAddress == peer.address)
            }
        }
        #expect(Set(ports).count == 8)
        #expect(summary.organizations.count == 4)
        for organization in summary.organizations {
            #expect(try KeyFile.read(from: organization.adminKeyFile).publicKey.hex == organization.adminKey)
            #expect(
                genesis.organizations.contains {
                    $0.name == organization.name && $0.adminKey.hex == organization.adminKey
                })
        }
    }

    @Test("testnet with observers lists them in the genesis and as peers; a non-empty or bad request is refused")
    func testnetObserversAndRefusals() throws {
        let workspace = try Workspace()
        let out = workspace.file("net")
        let result = try EnsureBinary.run(["testnet", "--validators", "1", "--observers", "2", "--out", out, "--json"])
        #expect(result.status == 0, "\(result.standardError)")
        let summary = try JSONDecoder().decode(TestnetSummaryJSON.self, from: Data(result.standardOutput.utf8))
        #expect(summary.nodes.filter { !$0.validator }.count == 2)
        let genesis = try Genesis.decode(json: [UInt8](Data(contentsOf: URL(fileURLWithPath: out + "/genesis.json"))))
        #expect(Set(genesis.observers.map(\.hex)) == Set(summary.nodes.filter { !$0.validator }.map(\.nodeKey)))

        let again = try EnsureBinary.run(["testnet", "--validators", "1", "--out", out])
        #expect(again.status != 0)
        #expect(again.standardError.contains("not empty"))
        let zero = try EnsureBinary.run(["testnet", "--validators", "0", "--out", workspace.file("z")])
        #expect(zero.status != 0)
        #expect(zero.standardError.contains("--validators"))
        let ports = try EnsureBinary.run([
            "testnet", "--validators", "4", "--base-port", "65530", "--out", workspace.file("p"),
        ])
        #expect(ports.status != 0)
        #expect(ports.standardError.contains("65530"))
        #expect(!FileManager.default.fileExists(atPath: workspace.file("p")))
        let chain = try EnsureBinary.run([
            "testnet", "--validators", "1", "--chain-id", "Bad", "--out", workspace.file("c"),
        ])
        #expect(chain.status != 0)
        #expect(chain.standardError.contains("chain_id"))
    }
}
