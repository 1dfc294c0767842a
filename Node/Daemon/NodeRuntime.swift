import API
import Consensus
public import EnsureCrypto
import Foundation
public import Ledger
public import Logging
import Mempool
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
public import NodeConfig
import PeerNetwork
import ServiceLifecycle
import Storage
import UnixSignals

/// Everything a node needs, read and checked from its home directory before anything starts.
public struct NodeSetup: Sendable {
    /// The home directory.
    public let home: String
    /// `config.toml`.
    public let configuration: NodeConfiguration
    /// The genesis file.
    public let genesis: Genesis
    /// The node key.
    public let key: Ed25519PrivateKey

    /// Reads and checks config, genesis and key from `home`; nothing is created or changed. A key that genesis names neither as a validator nor as an observer is
    /// refused unless `joining` says it joins by governance.
    public static func load(home: String, passphrase: String? = nil, joining: Bool = false) throws(NodeStartError)
        -> NodeSetup
    {
        let configuration: NodeConfiguration
        do {
            configuration = try NodeConfiguration.load(home: home)
        } catch {
            throw .configuration("\(error)")
        }
        let genesisPath = configuration.genesisFilePath(home: home)
        guard let genesisBytes = FileManager.default.contents(atPath: genesisPath) else {
            throw .genesis("cannot read \(genesisPath)")
        }
        let genesis: Genesis
        do {
            genesis = try Genesis.decode(json: Array(genesisBytes))
            try genesis.validate()
        } catch {
            throw .genesis("\(genesisPath): \(error)")
        }
        let keyPath = configuration.keyFilePath(home: home)
        let key: Ed25519PrivateKey
        do {
            key = try KeyFile.read(from: keyPath, passphrase: passphrase).privateKey
        } catch {
            throw .key("\(error)")
        }
        let members = Set(genesis.validators.map(\.nodeKey)).union(genesis.observers)
        guard joining || members.contains(key.publicKey) else {
            throw .key(
                "\(keyPath) holds \(key.publicKey.keyID), which genesis names neither as a validator nor as an observer "
                    + "(start with --join if the members add it by governance)"
            )
        }
        return NodeSetup(home: home, configuration: configuration, genesis: genesis, key: key)
    }

    /// The log level from the configuration.
    public var logLevel: Logger.Level {
        Logger.Level(rawValue: configuration.node.logLevel.rawValue) ?? .info
    }
}

/// One running node: the engine, the peer transport and the HTTP API in one `ServiceGroup`, which stops them
/// in reverse order on SIGTERM or SIGINT.
public struct NodeRuntime: Sendable {
    /// The checked setup.
    public let setup: NodeSetup
    private let logger: Logger

    /// Creates a runtime for `setup`, logging to `logger`.
    public init(setup: NodeSetup, logger: Logger) {
        self.setup = setup
        self.logger = logger
    }

    /// Opens the data directory, starts every service and runs until a shutdown signal, then stops cleanly.
    /// Throws when the node cannot start or when a service fails.
    public func run() async throws {
        let configuration = setup.configuration
        let dataPath = configuration.dataDirectoryPath(home: setup.home)
        do {
            try FileManager.default.createDirectory(
                atPath: dataPath, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw NodeStartError.state("cannot create \(dataPath): \(error.localizedDescription)")
        }
        let database: LevelDB
        let store: BlockStore
        do {
            database = try LevelDB(
                path: (dataPath as NSString).appendingPathComponent("ledger"), options: Self.ledgerDatabaseOptions())
            store = try BlockStore(database: database)
        } catch {
            throw NodeStartError.state("\(dataPath): \(error)")
        }

        let genesis = setup.genesis
        let mempoolConfiguration: MempoolConfiguration
        do {
            mempoolConfiguration = try MempoolConfiguration(
                chainID: genesis.chainID, maxTransactions: configuration.mempool.maxTransactions,
                maxBytes: configuration.mempool.maxBytes, maxPerSigner: configuration.mempool.maxPerSigner,
                sequenceWindow: UInt64(configuration.mempool.sequenceWindow))
        } catch {
            throw NodeStartError.configuration("\(error)")
        }
        let consensus = ConsensusConfiguration(
            chainID: genesis.chainID, baseTimeoutMilliseconds: UInt64(configuration.consensus.baseTimeoutMs),
            maxBackoffExponent: Self.backoffExponent(
                base: configuration.consensus.baseTimeoutMs, max: configuration.consensus.maxTimeoutMs),
            maxResponseBytes: configuration.p2p.maxFrameBytes / 2)
        var taggedLogger = logger
        taggedLogger[metadataKey: "node"] = "\(setup.key.publicKey.keyID)"
        let nodeLogger = taggedLogger
        var settings = EngineSettings(consensus: consensus, mempool: mempoolConfiguration)
        settings.maxMessageBytes = configuration.p2p.maxFrameBytes
        settings.minimumBlockInterval = .milliseconds(configuration.consensus.blockIntervalMs)
        settings.gossipInterval = .milliseconds(configuration.mempool.gossipIntervalMs)
        // One thread for the engine and its peer connections (see ``NodeEngine/eventLoop``); the API keeps NIO's
        // shared loops.
        let engineGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { engineGroup.shutdownGracefully { _ in } }
        let engineLoop = engineGroup.next()
        let engine = try NodeEngine(
            genesis: genesis, key: setup.key, store: store, settings: settings, logger: nodeLogger,
            eventLoop: engineLoop)

        // Who may connect follows governance: the engine announces the set at start and whenever it changes.
        let members = PeerKeySet(Set(genesis.validators.map(\.nodeKey)).union(genesis.observers))
        await engine.observePeerKeys { keys in members.replace(with: keys) }
        let transportConfiguration: PeerTransportConfiguration
        do {
            transportConfiguration = try PeerTransportConfiguration(
                identity: setup.key, chainID: genesis.chainID, listenHost: configuration.p2p.listenAddress.host,
                listenPort: configuration.p2p.listenAddress.port,
                peers: configuration.p2p.peers.filter { $0.key != setup.key.publicKey }.map {
                    PeerAddress(key: $0.key, host: $0.address.host, port: $0.address.port)
                },
                authorizer: PeerAuthorizer { members.contains($0) },
                limits: TransportLimits(
                    maximumMessageByteCount: configuration.p2p.maxFrameBytes,
                    outboundQueueMessageCount: configuration.p2p.outboundQueueMessages,
                    outboundQueueByteCount: configuration.p2p.outboundQueueBytes,
                    inboundBufferMessageCount: configuration.p2p.inboundBufferMessages,
                    inboundBufferByteCount: configuration.p2p.inboundBufferBytes))
        } catch {
            throw NodeStartError.configuration("p2p: \(error)")
        }
        let transport = PeerTransport(
            configuration: transportConfiguration, eventLoopGroup: engineLoop, logger: nodeLogger)
        let api = APIServer(
            node: engine, host: configuration.api.listenAddress.host, port: configuration.api.listenAddress.port,
            logger: nodeLogger
        ).makeApplication { port in
            nodeLogger.info("API listening", metadata: ["port": "\(port)"])
        }
        let engineService = EngineService(
            engine: engine, transport: transport, gossipInterval: settings.gossipInterval, logger: nodeLogger)
        var groupConfiguration = ServiceGroupConfiguration(
            services: [
                .init(service: engineService, successTerminationBehavior: .gracefullyShutdownGroup),
                .init(service: api, successTerminationBehavior: .gracefullyShutdownGroup),
                // Last, so shut down first: open event streams end before the API waits for its requests.
                .init(
                    service: EventStreamCloser(feed: engine.commitFeed),
                    successTerminationBehavior: .gracefullyShutdownGroup),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: nodeLogger)
        // A client that stops reading can hold a request (an event stream's write) open for ever; after 30 s the
        // shutdown cancels what is left instead of waiting. Committed blocks are already synced, so nothing is lost.
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(30)
        let group = ServiceGroup(configuration: groupConfiguration)
        try await group.run()
        nodeLogger.info("node stopped")
    }

    /// How the node opens its ledger database.
    ///
    /// - The in-memory table is 4 MiB plus a random part of up to 2 MiB, drawn at each start. Nodes apply the same
    ///   blocks at the same moments, so with one size they fill their tables, write them out and compact in step;
    ///   where several share a host (the local testnet puts four on one machine) those compactions, about a second
    ///   of one core each, came at once and held up every node's consensus together.
    /// - LevelDB's background thread (writing tables out and compacting) runs at nice 10: it takes the cores when
    ///   the node's consensus, network and API threads leave them idle.
    static func ledgerDatabaseOptions() -> LevelDBOptions {
        LevelDBOptions(writeBufferBytes: (4 << 20) + Int.random(in: 0..<(2 << 20)), backgroundThreadNice: 10)
    }

    static func backoffExponent(base: Int, max: Int) -> UInt64 {
        var exponent: UInt64 = 0
        while exponent < 16, base << (exponent + 1) <= max { exponent += 1 }
        return exponent
    }
}

/// Ends the API's event streams when the node begins to stop: they would otherwise keep the HTTP server's
/// graceful shutdown waiting for requests that never finish.
struct EventStreamCloser: Service {
    let feed: CommitFeed

    func run() async throws {
        try? await gracefulShutdown()
        feed.close()
    }
}

/// The node keys the transport accepts, replaced as governance changes the validator set.
final class PeerKeySet: Sendable {
    private let keys: NIOLockedValueBox<Set<Ed25519PublicKey>>

    init(_ initial: Set<Ed25519PublicKey>) { keys = NIOLockedValueBox(initial) }

    func contains(_ key: Ed25519PublicKey) -> Bool { keys.withLockedValue { $0.contains(key) } }

    func replace(with new: Set<Ed25519PublicKey>) { keys.withLockedValue { $0 = new } }
}

/// Runs the engine over the transport: peer messages in and out on the engine's event loop, the status tick and
/// the gossip flush. On graceful shutdown it stops the engine, then the transport.
struct EngineService: Service {
    let engine: NodeEngine
    let transport: PeerTransport
    /// How often buffered transaction gossip is flushed (``EngineSettings/gossipInterval``).
    let gossipInterval: Duration
    let logger: Logger

    func run() async throws {
        let engine = self.engine
        let transport = self.transport
        let logger = self.logger
        // Before the transport starts, so that no message goes to its stream instead.
        // The transport's connections run on the engine's loop (``NodeRuntime/run()``), so the receiver is on it.
        transport.deliver { message in
            engine.assumeIsolated { $0.receive(message.bytes, from: message.peer) }
        }
        await engine.send { message in Self.write(message, to: transport, logger: logger) }
        let port: Int
        do {
            port = try await transport.start()
        } catch {
            throw NodeStartError.network("cannot listen for peers: \(error)")
        }
        logger.info("peer transport listening", metadata: ["port": "\(port)"])
        await engine.start()
        let flush = engine.eventLoop.scheduleRepeatedTask(
            initialDelay: TimeAmount(gossipInterval), delay: TimeAmount(gossipInterval)
        ) { _ in
            engine.assumeIsolated { $0.flushGossip() }
        }
        let failed = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    await engine.setConnectedPeers(await transport.connectedPeers())
                    await engine.tick()
                    if await engine.failure != nil { return true }
                }
                return false
            }
            group.addTask {
                try? await gracefulShutdown()
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            flush.cancel()
            await engine.stop()
            await transport.shutdown()
            return first
        }
        if failed, let failure = await engine.failure {
            throw NodeStartError.state("\(failure)")
        }
        logger.info("engine stopped")
    }

    /// Hands one of the engine's messages to the transport.
    private static func write(_ message: OutgoingMessage, to transport: PeerTransport, logger: Logger) {
        do throws(PeerTransportError) {
            switch message {
            case .send(let bytes, let peer): try transport.send(bytes, to: peer)
            case .broadcast(let bytes): _ = try transport.broadcast(bytes)
            }
        } catch .messageTooLarge(let count, let maximum) {
            logger.warning(
                "dropped an outgoing message larger than the frame limit",
                metadata: ["bytes": "\(count)", "limit": "\(maximum)"])
        } catch {
            // A peer that is not connected now gets what it missed through sync and block requests.
            logger.trace("outgoing message not sent", metadata: ["reason": "\(error)"])
        }
    }
}
