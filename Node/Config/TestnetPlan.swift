public import EnsureCrypto
public import Ledger

/// A local test network on 127.0.0.1: one organization per validator, each node with its own p2p and API port,
/// every node dialing all the others, and one genesis shared by all. Pure: the caller makes the keys and writes
/// the files.
public struct TestnetPlan: Sendable {
    /// One node of the network.
    public struct Member: Sendable {
        /// `validator-0`, `observer-1`, …: the moniker and the name of the node's home directory.
        public let name: String
        /// Whether the node votes.
        public let isValidator: Bool
        /// The node's key.
        public let nodeKey: Ed25519PublicKey
        /// The node's configuration.
        public let configuration: NodeConfiguration
    }

    /// The nodes, validators first.
    public let members: [Member]
    /// The shared genesis.
    public let genesis: Genesis

    /// Plans a network; `validatorKeys` and `adminKeys` pair up (organization `org-i` runs validator i).
    /// Node i listens for peers on `basePort + 2i` and serves its API on `basePort + 2i + 1`.
    public init(
        chainID: String, genesisTime: UInt64, validatorKeys: [Ed25519PublicKey], adminKeys: [Ed25519PublicKey],
        observerKeys: [Ed25519PublicKey], basePort: Int
    ) throws(TestnetPlanError) {
        guard !validatorKeys.isEmpty else { throw .noValidators }
        guard adminKeys.count == validatorKeys.count else {
            throw .adminKeyCount(expected: validatorKeys.count, actual: adminKeys.count)
        }
        let nodeCount = validatorKeys.count + observerKeys.count
        let lastPort = basePort + 2 * nodeCount - 1
        guard basePort >= 1024, lastPort <= 65_535 else {
            throw .portsOutOfRange(basePort: basePort, nodeCount: nodeCount)
        }
        let organizations = adminKeys.enumerated().map { GenesisOrganization(name: "org-\($0)", adminKey: $1) }
        let validators = validatorKeys.enumerated().map { GenesisValidator(organization: "org-\($0)", nodeKey: $1) }
        let genesis = Genesis(
            chainID: chainID, genesisTime: genesisTime, organizations: organizations, validators: validators,
            observers: observerKeys)
        do {
            try genesis.validate()
        } catch {
            throw .genesis(error)
        }
        let nodes =
            validatorKeys.enumerated().map { ("validator-\($0)", true, $1) }
            + observerKeys.enumerated().map { ("observer-\($0)", false, $1) }
        let p2pAddresses = nodes.indices.map { NetworkAddress(host: "127.0.0.1", port: basePort + 2 * $0)! }
        members = nodes.enumerated().map { index, node in
            var configuration = NodeConfiguration()
            configuration.node.moniker = node.0
            configuration.p2p.listenAddress = p2pAddresses[index]
            configuration.p2p.peers = nodes.indices.filter { $0 != index }.map {
                PeerEntry(key: nodes[$0].2, address: p2pAddresses[$0])
            }
            configuration.api.listenAddress = NetworkAddress(host: "127.0.0.1", port: basePort + 2 * index + 1)!
            return Member(name: node.0, isValidator: node.1, nodeKey: node.2, configuration: configuration)
        }
        self.genesis = genesis
    }
}

/// Why a test network could not be planned.
public enum TestnetPlanError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No validator was asked for.
    case noValidators
    /// There is not one admin key per validator.
    case adminKeyCount(expected: Int, actual: Int)
    /// The ports would fall outside 1024–65535.
    case portsOutOfRange(basePort: Int, nodeCount: Int)
    /// The genesis was refused.
    case genesis(GenesisError)

    public var description: String {
        switch self {
        case .noValidators: return "a test network needs at least one validator"
        case .adminKeyCount(let expected, let actual): return "expected \(expected) admin keys, got \(actual)"
        case .portsOutOfRange(let basePort, let nodeCount):
            return
                "base port \(basePort) with \(nodeCount) nodes needs ports \(basePort)-\(basePort + 2 * nodeCount - 1)"
                + ", outside 1024-65535"
        case .genesis(let error): return "genesis refused: \(error)"
        }
    }
}
