public import API
import Codec
public import Consensus
public import EnsureCrypto
import Foundation
public import Ledger
public import Logging
public import Mempool
import NIOConcurrencyHelpers
public import NIOCore
import NIOPosix
public import Storage

/// A message the engine hands to the transport: to one peer, or to every connected peer.
public enum OutgoingMessage: Sendable {
    /// To one peer.
    case send([UInt8], to: Ed25519PublicKey)
    /// To every connected peer.
    case broadcast([UInt8])
}

/// Settings of a ``NodeEngine`` that do not come from genesis.
public struct EngineSettings: Sendable {
    /// The consensus timeouts.
    public var consensus: ConsensusConfiguration
    /// The mempool limits.
    public var mempool: MempoolConfiguration
    /// How often the node tells peers its committed height and checks whether it is behind.
    public var statusInterval: Duration = .seconds(1)
    /// How far behind the best peer the node must be before it fetches committed blocks from the store.
    public var syncLag: UInt64 = 8
    /// How long without a new commit before a node that is behind at all starts fetching.
    public var stallTimeout: Duration = .seconds(3)
    /// How often the runtime flushes buffered transaction gossip (``NodeEngine/flushGossip()``).
    public var gossipInterval: Duration = .milliseconds(50)
    /// How long a leader with nothing to propose and nothing in flight waits for a transaction before it
    /// proposes an empty block; at most a third of the round timeout. On an idle chain two leaders in a row wait,
    /// and the first leaves its round only when the second's proposal brings the certificate: at half the timeout
    /// each, every leader timed out its own round.
    public var idleProposalDelay: Duration = .milliseconds(300)
    /// How long a leader that was waiting for transactions gathers more after the first one arrives before it
    /// proposes. Without it every admission became its own block (and its own synced writes), which held a
    /// one-validator chain to a few hundred transactions per second. A full block's worth proposes at once.
    public var proposalBatchDelay: Duration = .milliseconds(10)
    /// The shortest time between a block and its child that a leader with transactions (but less than a full block)
    /// keeps; at most a quarter of the round timeout. Every block costs each node synced writes, signatures and
    /// messages whatever it carries; without a floor, a moderately loaded network makes many small blocks and spends
    /// its CPU on them.
    public var minimumBlockInterval: Duration = .milliseconds(100)
    /// How far ahead of this node's clock a block's time may be for the node to execute (and so vote for) it.
    /// Nothing else bounds a header's time from above, and a time far in the future would stick: children may not
    /// be earlier than their parent.
    public var maxClockSkewMilliseconds: UInt64 = 30_000
    /// The largest message the transport carries; sync responses stay under half of it.
    public var maxMessageBytes = 4 << 20

    /// Creates settings.
    public init(consensus: ConsensusConfiguration, mempool: MempoolConfiguration) {
        self.consensus = consensus
        self.mempool = mempool
    }
}

/// The node's single point of serialization: the consensus core, the mempool and the executor live here, and
/// every input (peer message, timer, client submission, tick) is one call on this actor. Outputs leave through
/// ``outgoing``, or the sink given to ``send(through:)``, so no transport call is awaited while protocol state is
/// half updated.
public actor NodeEngine: NodeService {
    /// The event loop every job of this actor runs on. The runtime gives the peer transport the same loop, so a
    /// peer's message reaches the engine, and the engine's answer reaches the socket, without a thread hand-off;
    /// the engine's timers are the loop's scheduled tasks.
    public nonisolated let eventLoop: any EventLoop

    public nonisolated var unownedExecutor: UnownedSerialExecutor { eventLoop.executor.asUnownedSerialExecutor() }

    /// How late ``eventLoop`` runs, measured from ``start()`` to ``stop()`` (`/metrics`).
    public nonisolated let loopLag: EventLoopLagProbe

    /// Messages for the transport, in order.
    public nonisolated let outgoing: AsyncStream<OutgoingMessage>
    private let outgoingContinuation: AsyncStream<OutgoingMessage>.Continuation
    /// Where messages go instead of ``outgoing``, once set (``send(through:)``).
    private var sink: (@Sendable (OutgoingMessage) -> Void)?

    private let genesis: Genesis
    private let genesisBlock: Block
    /// The validators of the epoch consensus is in.
    private var validators: ValidatorSet
    private let genesisValidators: ValidatorSet
    private var peerKeysObserver: (@Sendable (Set<Ed25519PublicKey>) -> Void)?
    private var announcedPeerKeys: Set<Ed25519PublicKey> = []
    private let key: Ed25519PrivateKey
    private let me: Ed25519PublicKey
    private let settings: EngineSettings
    let executor: LedgerExecutor
    /// Reads of committed state and blocks, from LevelDB snapshots off the actor: API reads never queue behind
    /// consensus.
    nonisolated let queries: LedgerQueries
    /// The age-credential verifier over committed state (presentation requests live in memory).
    nonisolated let credentials: NodeCredentials
    /// Roles read for ``preverified(_:)``, emptied at every commit.
    private nonisolated let preverifyRoles = PreverifyRoleCache()
    /// Ids whose signatures verified, on every path (shared with the executor).
    nonisolated let signatures: SignatureCache
    private let journal: ProposalJournal
    /// Blocks consensus committed in the current step, written when its messages are out (``run(_:)``).
    private var deferredCommits: [(Block, QuorumCertificate)] = []
    /// Proposals whose every signature the pre-check verified as they arrived, by block id: executing one asks the
    /// signature cache nothing more. Emptied when it passes 64 (a proposal that never executes leaves its id here).
    private var checkedProposals: Set<Digest> = []
    private var core: ConsensusCore
    private var mempool: Mempool
    private let logger: Logger
    private let clock = ContinuousClock()
    private let startInstant: ContinuousClock.Instant

    private var timer: Scheduled<Void>?
    private var deferredPayload: PayloadRequest?
    /// The deferred payload that waits for ``EngineSettings/minimumBlockInterval`` (not for transactions).
    private var pacedPayload: PayloadRequest?
    /// The deferred payload a batch timer is armed for (``EngineSettings/proposalBatchDelay``).
    private var proposalBatchArmed: PayloadRequest?
    private var proposalHeld = false
    private var gossipBuffer: [Transaction] = []
    private var peerHeights: [Ed25519PublicKey: UInt64] = [:]
    private var connectedPeers: [Ed25519PublicKey] = []
    private var lastCommitInstant: ContinuousClock.Instant
    private var syncRequest: (peer: Ed25519PublicKey, height: UInt64, sent: ContinuousClock.Instant)?
    /// Peers whose last sync answer timed out or proved nothing, and when; they are skipped for a while, so one
    /// peer that claims a height it cannot prove does not stop a node from catching up from the others.
    private var syncPenalties: [Ed25519PublicKey: ContinuousClock.Instant] = [:]
    private var timerGeneration: UInt64 = 0
    /// Each peer's sync-answer budget (validators and observers only, so bounded).
    private var syncBuckets: [Ed25519PublicKey: (tokens: Double, at: ContinuousClock.Instant)] = [:]
    private var dropped: [Digest: String] = [:]
    private var droppedOrder: [Digest] = []
    private(set) var failure: ApplicationStateError?
    private var stopped = false

    /// Counters for logs, status and benchmarks.
    public private(set) var committedTransactions: UInt64 = 0
    /// Round timers that fired, for `/metrics`.
    private var consensusTimeouts: UInt64 = 0
    /// Where each durably committed block is announced (event streams and metrics follow it).
    public nonisolated let commitFeed: CommitFeed

    /// Creates the engine over an opened block store; the core resumes from the store's committed tip. The proposal
    /// journal beside the store keeps this validator's safety state (``ProposalJournal``).
    public init(
        genesis: Genesis, key: Ed25519PrivateKey, store: BlockStore, settings: EngineSettings, logger: Logger,
        eventLoop: (any EventLoop)? = nil
    ) throws(NodeStartError) {
        self.eventLoop = eventLoop ?? MultiThreadedEventLoopGroup.singleton.next()
        self.loopLag = EventLoopLagProbe(loop: self.eventLoop)
        let validators: ValidatorSet
        do {
            validators = try genesis.validatorSet()
        } catch {
            throw .genesis("\(error)")
        }
        let genesisBlock = ConsensusCore.genesisBlock(
            chainID: genesis.chainID, validators: validators, timestamp: genesis.genesisTime)
        let executor: LedgerExecutor
        let signatures = SignatureCache()
        do {
            executor = try LedgerExecutor(
                genesis: genesis, genesisBlock: genesisBlock, store: store, signatures: signatures)
        } catch {
            throw .state("\(error)")
        }
        self.genesis = genesis
        self.genesisBlock = genesisBlock
        self.validators = validators
        self.genesisValidators = validators
        self.key = key
        self.me = key.publicKey
        self.settings = settings
        self.executor = executor
        self.signatures = signatures
        let journal: ProposalJournal
        do {
            journal = try ProposalJournal(database: store.database)
        } catch {
            throw .state("\(error)")
        }
        if journal.truncatedBytes > 0 {
            logger.warning(
                "cut a torn or corrupt tail off the proposal journal",
                metadata: ["path": "\(journal.path)", "bytes": "\(journal.truncatedBytes)"])
        }
        self.journal = journal
        self.queries = LedgerQueries(store: store)
        self.credentials = NodeCredentials(
            queries: queries, audience: "urn:ensure:verifier:" + key.publicKey.hex, logger: logger)
        self.logger = logger
        self.mempool = Mempool(configuration: settings.mempool)
        (self.core, self.validators) = try Self.makeCore(
            executor: executor, genesis: genesis, genesisBlock: genesisBlock, validators: validators, key: key,
            settings: settings, safety: journal)
        self.core.restoreEpochChangeProofs(journal.epochChanges())
        (outgoing, outgoingContinuation) = AsyncStream.makeStream(of: OutgoingMessage.self)
        commitFeed = CommitFeed(tip: executor.committedHeader)
        startInstant = clock.now
        lastCommitInstant = clock.now
    }

    /// A core resuming from the committed tip, in the epoch and with the validators committed state names.
    private static func makeCore(
        executor: LedgerExecutor, genesis: Genesis, genesisBlock: Block, validators genesisValidators: ValidatorSet,
        key: Ed25519PrivateKey, settings: EngineSettings, safety: any SafetyStatePersistence
    ) throws(NodeStartError) -> (ConsensusCore, ValidatorSet) {
        let tip = executor.committedHeader
        do {
            if tip.height == 0 {
                let core = try ConsensusCore(
                    configuration: settings.consensus, genesis: genesisBlock, genesisValidators: genesisValidators,
                    signer: Ed25519ConsensusSigner(key: key), verifier: Ed25519SignatureVerifier(),
                    persistence: safety)
                return (core, genesisValidators)
            }
            guard let root = try executor.store.block(atHeight: tip.height),
                let certificate = try executor.store.certificate(atHeight: tip.height)
            else { throw NodeStartError.state("the committed tip at height \(tip.height) is missing") }
            let (epoch, validators) = try executor.committedEpoch()
            let core = try ConsensusCore(
                configuration: settings.consensus, root: root, rootCertificate: certificate, epoch: epoch,
                validators: validators, signer: Ed25519ConsensusSigner(key: key),
                verifier: Ed25519SignatureVerifier(), persistence: safety)
            return (core, validators)
        } catch let error as NodeStartError {
            throw error
        } catch {
            throw .state("cannot start consensus: \(error)")
        }
    }

    private var isValidator: Bool { validators.contains(me) }

    /// Calls `observer` now and whenever the set of node keys that may connect changes: the genesis observers,
    /// the active validators, and the validators governance decided for the next epoch.
    public func observePeerKeys(_ observer: @escaping @Sendable (Set<Ed25519PublicKey>) -> Void) {
        peerKeysObserver = observer
        announcedPeerKeys = []
        announcePeerKeys()
    }

    private func announcePeerKeys() {
        guard let peerKeysObserver else { return }
        let keys = Set(genesis.observers).union(validators.members).union(executor.committedValidatorKeys())
        guard keys != announcedPeerKeys else { return }
        announcedPeerKeys = keys
        peerKeysObserver(keys)
    }

    // MARK: Inputs

    /// Starts consensus: arms the first timer and, if this node leads, proposes.
    public func start() {
        loopLag.start()
        logger.info(
            "node starting",
            metadata: [
                "height": "\(executor.committedHeader.height)",
                "block": "\(executor.committedHeader.id.hex.prefix(16))",
                "role": "\(isValidator ? "validator" : "observer")", "validators": "\(validators.count)",
            ])
        run(.start)
        replayJournal()
    }

    /// Feeds the proposals accepted above the committed tip before a restart back into the core, so it regains
    /// the newest certificates its safety state already depends on.
    private func replayJournal() {
        let proposals = journal.proposals(above: executor.committedHeader.round)
        guard !proposals.isEmpty else { return }
        logger.info("replaying proposals accepted before the restart", metadata: ["count": "\(proposals.count)"])
        for proposal in proposals {
            run(.message(.proposal(proposal), from: proposal.block.header.proposer))
        }
    }

    /// Stops timers and output; later inputs are ignored, and the event streams end.
    public func stop() {
        stopped = true
        loopLag.stop()
        commitFeed.close()
        timer?.cancel()
        timer = nil
        outgoingContinuation.finish()
    }

    /// Handles one message from an authenticated peer. The runtime calls it on the engine's event loop as the
    /// transport reads the message, so gossip and proposals are checked here, in the order they arrived: gossiped
    /// transactions before admission, a proposal's transactions before the core sees it (those gossip brought are
    /// found in the cache), so executing the block verifies nothing. A node that falls behind reads its peers'
    /// sockets later; what their bounded outbound queues cannot hold meanwhile is dropped there.
    public func receive(_ bytes: [UInt8], from peer: Ed25519PublicKey) {
        let message: NodeMessage
        do {
            message = try NodeMessage.decode(canonical: bytes, field: "message")
        } catch {
            logger.warning("refused a peer message", metadata: ["peer": "\(peer.keyID)", "reason": "\(error)"])
            return
        }
        switch message {
        case .transactions(let transactions):
            handle(message, from: peer, verified: preverified(transactions))
        case .consensus(.proposal(let proposal)) where proposal.block.header.proposer == peer:
            // Only the proposer's own proposal: a peer relaying others' blocks cannot make this node verify them.
            let checks = signatures.verify(proposal.block.transactions) { $0.chainID == genesis.chainID }
            if !checks.isEmpty, !checks.contains(false) {
                if checkedProposals.count >= 64 { checkedProposals.removeAll() }
                checkedProposals.insert(proposal.block.id)
            }
            handle(message, from: peer, verified: [])
        default:
            handle(message, from: peer, verified: [])
        }
    }

    /// Hands every later message to `sink`, called on this engine's executor, instead of to ``outgoing``: a
    /// transport whose connections share the engine's event loop writes it with no thread hand-off.
    public func send(through sink: @escaping @Sendable (OutgoingMessage) -> Void) { self.sink = sink }

    /// For each of `transactions`, whether its signer may submit its kind in committed state (a snapshot read per
    /// signer) and its signature holds; admission then takes the signature as checked, with no lookup of its id.
    /// Checking authorization first keeps transactions of keys nobody authorized from costing a verification; the
    /// rest go through admission's own checks as before.
    ///
    /// Roles come from ``PreverifyRoleCache``, which a commit empties: one snapshot read per signer and block, not
    /// per submission. A role that changed in the block just committed can be answered once from before the
    /// change; that only moves a verification, never a decision, because admission checks the role again.
    nonisolated func preverified(_ transactions: [Transaction]) -> [Bool] {
        signatures.verify(transactions) { transaction in
            guard transaction.chainID == genesis.chainID else { return false }
            let role = preverifyRoles.role(of: transaction.signer) { (try? queries.role(of: $0)) ?? nil }
            return LedgerApplication.may(role, submit: transaction.kind)
        }
    }

    /// `verified[i]` says the signature of the i-th gossiped transaction was checked before the actor.
    private func handle(_ message: NodeMessage, from peer: Ed25519PublicKey, verified: [Bool]) {
        guard !stopped else { return }
        switch message {
        case .consensus(let message):
            run(.message(message, from: peer))
        case .transactions(let transactions):
            admitBatch(transactions, from: .peer(peer), verified: verified)
        case .syncStatus(let height):
            peerHeights[peer] = height
        case .syncRequest(let height, let count):
            serveSync(from: height, count: count, to: peer)
        case .syncResponse(let blocks):
            applySync(blocks, from: peer)
        }
    }

    /// A periodic tick: tell peers our height, flush gossip, expire old transactions, decide whether to sync.
    public func tick() {
        guard !stopped else { return }
        let height = executor.committedHeader.height
        send(.broadcast(encode(.syncStatus(height: height))))
        mempool.removeExpired(now: clock.now - startInstant)
        maybeRequestSync()
    }

    /// Sends buffered transaction gossip.
    public func flushGossip() {
        guard !stopped, !gossipBuffer.isEmpty else { return }
        let batch = gossipBuffer
        gossipBuffer = []
        var start = 0
        while start < batch.count {
            let end = min(batch.count, start + NodeMessage.maxGossipTransactions)
            send(.broadcast(encode(.transactions(Array(batch[start..<end])))))
            start = end
        }
    }

    /// Records which peers are connected, for status.
    public func setConnectedPeers(_ peers: [Ed25519PublicKey]) {
        let previous = Set(connectedPeers)
        connectedPeers = peers.sorted()
        // A peer that (re)connected missed the gossip of what this node's clients submitted meanwhile.
        let pending = mempool.pendingTransactions(from: .local, limit: 4 * NodeMessage.maxGossipTransactions)
        guard !pending.isEmpty else { return }
        for peer in connectedPeers where !previous.contains(peer) {
            var start = 0
            while start < pending.count {
                let end = min(pending.count, start + NodeMessage.maxGossipTransactions)
                send(.send(encode(.transactions(Array(pending[start..<end]))), to: peer))
                start = end
            }
        }
    }

    private func timerFired(epoch: UInt64, round: UInt64, generation: UInt64) {
        // A later setTimer replaced this one, even if it was for the same round.
        guard !stopped, generation == timerGeneration else { return }
        consensusTimeouts += 1
        // Rare on a healthy chain; each one costs a round and doubles the next timeout, so an operator sees why.
        logger.notice(
            "round timed out",
            metadata: [
                "epoch": "\(epoch)", "round": "\(round)", "leader": "\(core.leader(of: round).keyID)",
                "height": "\(executor.committedHeader.height)",
            ])
        run(.timerFired(epoch: epoch, round: round))
    }

    // MARK: Consensus

    private func run(_ first: ConsensusEvent) {
        var queue: [ConsensusEvent] = [first]
        var index = 0
        while index < queue.count, failure == nil {
            let event = queue[index]
            index += 1
            let step = core.handle(event)
            if let rejection = step.rejection {
                logger.debug("consensus refused an event", metadata: ["reason": "\(rejection)"])
            } else if case .message(.proposal(let proposal), _) = event {
                // Written now, durable with the safety state that the vote for it stores: see ProposalJournal.
                // Should the core ever sign in the same step, the sync here keeps the record ahead of that signature.
                do throws(ProposalJournalError) {
                    try journal.record(proposal)
                    if step.actions.contains(where: \.sendsMessage) { try journal.sync() }
                } catch {
                    failure = .storage("cannot record a proposal: \(error)")
                    logger.critical("cannot record a proposal; stopping", metadata: ["reason": "\(error)"])
                    return
                }
            }
            for action in step.actions { perform(action, &queue) }
        }
        writeDeferredCommits()
        stopIfJournalFailed()
    }

    /// A journal whose write or sync failed refuses every later one (``ProposalJournal/failure``), so consensus
    /// could not sign again: the node stops and says why rather than stay up without voting.
    private func stopIfJournalFailed() {
        guard failure == nil, let error = journal.failure else { return }
        failure = .storage("the proposal journal failed: \(error)")
        logger.critical("the proposal journal failed; stopping", metadata: ["reason": "\(error)"])
    }

    /// Writes the blocks consensus committed during this step, in order. They wait until its votes and timeouts
    /// are sent, or until a proposal is to be built: a vote does not depend on the block store, and each commit is
    /// a synced LevelDB write that would otherwise delay every vote by one more data sync (docs/performance.md).
    private func writeDeferredCommits() {
        while !deferredCommits.isEmpty {
            let (block, certificate) = deferredCommits.removeFirst()
            commit(block, certificate: certificate)
        }
    }

    private func perform(_ action: ConsensusAction, _ queue: inout [ConsensusEvent]) {
        switch action {
        case .send(let message, let peer):
            if peer == me {
                queue.append(.message(message, from: me))
            } else {
                send(.send(encode(.consensus(message)), to: peer))
            }
        case .broadcast(let message):
            if case .epochChange(let proof) = message {
                do throws(LevelDBError) {
                    try journal.record(epochChange: proof)
                } catch {
                    logger.error("cannot store an epoch-change proof", metadata: ["reason": "\(error)"])
                }
            }
            send(.broadcast(encode(.consensus(message))))
            // This node's own proposal comes back to it as a duplicate, so it is journaled here, after it left; the
            // vote for it stores the safety state, which makes it durable. A failure stops the node after this step.
            if case .proposal(let proposal) = message {
                try? journal.record(proposal)
            }
            queue.append(.message(message, from: me))
        case .setTimer(let epoch, let round, let milliseconds):
            logger.debug(
                "entered round",
                metadata: ["epoch": "\(epoch)", "round": "\(round)", "timeoutMs": "\(milliseconds)"])
            timer?.cancel()
            timerGeneration += 1
            let generation = timerGeneration
            timer = after(.milliseconds(milliseconds)) {
                $0.timerFired(epoch: epoch, round: round, generation: generation)
            }
        case .requestPayload(let request):
            // The block is built on committed state and the mempool as they are after the commits of this step;
            // a lone validator would otherwise propose, certify and commit in this step for ever.
            writeDeferredCommits()
            if shouldWaitForTransactions(request) {
                logger.debug("proposal waits for transactions", metadata: ["round": "\(request.round)"])
                deferPayload(request)
            } else if let wait = pacingDelay(request) {
                logger.debug("proposal paced", metadata: ["round": "\(request.round)", "wait": "\(wait)"])
                pacePayload(request, for: wait)
            } else {
                queue.append(.payloadReady(buildBlock(request)))
            }
        case .execute(let block):
            let now = UInt64(Date().timeIntervalSince1970 * 1000)
            if block.header.timestamp > now + settings.maxClockSkewMilliseconds {
                logger.warning(
                    "block time is ahead of this node's clock; not executing it",
                    metadata: [
                        "height": "\(block.header.height)", "block": "\(block.id.hex.prefix(16))",
                        "aheadMs": "\(block.header.timestamp - now)",
                    ])
                queue.append(
                    .executed(
                        blockID: block.id,
                        .invalid(
                            reason:
                                "block.header.timestamp is \(block.header.timestamp - now) ms ahead of this node's clock"
                        )))
                return
            }
            do throws(ExecutionError) {
                let next = try executor.execute(
                    block, signaturesChecked: checkedProposals.remove(block.id) != nil)
                queue.append(.executed(blockID: block.id, .valid(nextValidators: next)))
            } catch {
                logger.warning(
                    "block does not execute",
                    metadata: [
                        "height": "\(block.header.height)", "block": "\(block.id.hex.prefix(16))",
                        "reason": "\(error)",
                    ])
                queue.append(.executed(blockID: block.id, .invalid(reason: error.description)))
            }
        case .commit(let block, let certificate):
            deferredCommits.append((block, certificate))
        case .enterEpoch(let epoch, let validators):
            // Who may connect is read from committed state, so the epoch's last block is written first.
            writeDeferredCommits()
            self.validators = validators
            logger.notice(
                "entered epoch",
                metadata: [
                    "epoch": "\(epoch)", "validators": "\(validators.count)",
                    "role": "\(isValidator ? "validator" : "observer")",
                ])
            announcePeerKeys()
        case .reportEvidence(let evidence):
            logger.error("validator equivocated", metadata: ["evidence": "\(evidence)"])
        }
    }

    /// An idle chain would otherwise make empty blocks as fast as the network allows.
    private func shouldWaitForTransactions(_ request: PayloadRequest) -> Bool {
        guard !request.mustBeEmpty else { return false }
        // The certificate this proposal carries is what tells the others that a block with transactions
        // committed; hold it back and their clients wait too.
        let committed = executor.committedHeader
        if committed.transactionCount > 0, committed.height + 1 >= request.parent.height { return false }
        let inFlight = executor.uncommittedTransactionIDs(through: request.parent.id)
        guard inFlight.isEmpty else { return false }
        // Transactions that cannot be proposed yet (a gap in a signer's sequence) do not count.
        return mempool.reap(maxCount: 1, maxBytes: Int.max, excluding: inFlight).isEmpty
    }

    private func deferPayload(_ request: PayloadRequest) {
        deferredPayload = request
        // Two of these in a row stay inside the round timeout, whatever the configuration says.
        let thirdOfTimeout = Duration.milliseconds(Int64(settings.consensus.baseTimeoutMilliseconds / 3))
        let delay = min(settings.idleProposalDelay, thirdOfTimeout)
        after(delay) { $0.idleDelayPassed(request) }
    }

    /// The wait for a first transaction is over: propose, unless transactions came meanwhile and armed their own
    /// batch timer, which proposes no sooner than ``EngineSettings/minimumBlockInterval`` after the parent.
    private func idleDelayPassed(_ request: PayloadRequest) {
        guard proposalBatchArmed != request else { return }
        proposeDeferred(request)
    }

    /// How long a proposal with transactions to carry waits so that blocks come at most every
    /// ``EngineSettings/minimumBlockInterval`` after their parent; nil when it need not wait (the interval passed,
    /// or a full block is pending).
    private func pacingDelay(_ request: PayloadRequest) -> Duration? {
        guard !request.mustBeEmpty, settings.minimumBlockInterval > .zero else { return nil }
        let now = UInt64(Date().timeIntervalSince1970 * 1000)
        let due =
            request.parent.timestamp + UInt64(settings.minimumBlockInterval.components.seconds * 1000)
            + UInt64(settings.minimumBlockInterval.components.attoseconds / 1_000_000_000_000_000)
        guard due > now else { return nil }
        guard mempool.count < fullBlock else { return nil }
        // Well inside the round timeout, whatever the configuration says.
        let quarterTimeout = Int64(settings.consensus.baseTimeoutMilliseconds / 4)
        return .milliseconds(min(Int64(due - now), quarterTimeout))
    }

    private func pacePayload(_ request: PayloadRequest, for wait: Duration) {
        deferredPayload = request
        pacedPayload = request
        after(wait) { $0.proposeDeferred(request) }
    }

    /// Transactions reached the mempool while a proposal waits for some: propose once a block's worth is pending,
    /// or after ``EngineSettings/proposalBatchDelay`` gathered what else arrives (and no sooner than
    /// ``EngineSettings/minimumBlockInterval`` after the parent).
    private func transactionsArrived() {
        guard let pending = deferredPayload else { return }
        if mempool.count >= fullBlock {
            proposeDeferred()
            return
        }
        // A paced proposal waits out its interval; only a full block ends it early.
        if pacedPayload == pending { return }
        guard proposalBatchArmed != pending else { return }
        // Gather for the batch delay, and keep the minimum interval after the parent.
        let delay = max(settings.proposalBatchDelay, pacingDelay(pending) ?? .zero)
        if delay <= .zero {
            proposeDeferred()
            return
        }
        proposalBatchArmed = pending
        after(delay) { $0.batchDelayPassed(pending) }
    }

    private func batchDelayPassed(_ request: PayloadRequest) {
        if proposalBatchArmed == request { proposalBatchArmed = nil }
        proposeDeferred(request)
    }

    private func proposeDeferred(_ request: PayloadRequest? = nil) {
        guard !stopped, let pending = deferredPayload, request == nil || request == pending else { return }
        deferredPayload = nil
        pacedPayload = nil
        run(.payloadReady(buildBlock(pending)))
    }

    private var parameters: GenesisParameters { executor.parameters }

    /// The most transactions one block may carry in committed state.
    private var fullBlock: Int { Int(min(parameters.maxBlockTransactions, UInt64(LedgerLimits.blockTransactions))) }

    private func buildBlock(_ request: PayloadRequest) -> Block {
        let started = ContinuousClock.now
        defer {
            logger.debug(
                "built a proposal",
                metadata: [
                    "round": "\(request.round)", "height": "\(request.parent.height + 1)",
                    "elapsed": "\(ContinuousClock.now - started)",
                ])
        }
        let parentID = request.parent.id
        var transactions: [Transaction] = []
        if !request.mustBeEmpty {
            transactions = executor.transactionsToPropose(
                from: mempool, parentID: parentID, maxMessageBytes: settings.maxMessageBytes)
        }
        let now = UInt64(Date().timeIntervalSince1970 * 1000)
        let template = BlockHeader(
            chainID: genesis.chainID, epoch: request.epoch, height: request.parent.height + 1, round: request.round,
            parentID: parentID, proposer: me, timestamp: max(now, request.parent.timestamp),
            transactionRoot: Block.transactionRoot(of: transactions), transactionCount: UInt64(transactions.count),
            incidentLogSize: 0, incidentLogRoot: MerkleHash.emptyRoot, stateRoot: .zero,
            validatorSetHash: request.validatorSetHash)
        // transactionsToPropose picked only transactions whose signature verified.
        if let header = executor.prepare(transactions, header: template, signaturesChecked: true) {
            return Block(header: header, justify: request.justify, transactions: transactions)
        }
        // Should not happen (selection checked what execution checks); an empty block keeps the chain live.
        logger.error("a proposal did not execute; proposing an empty block", metadata: ["height": "\(template.height)"])
        var empty = template
        empty.transactionRoot = Block.transactionRoot(of: [])
        empty.transactionCount = 0
        let header = executor.prepare([], header: empty) ?? empty
        return Block(header: header, justify: request.justify, transactions: [])
    }

    private func commit(_ block: Block, certificate: QuorumCertificate) {
        guard failure == nil else { return }
        do throws(ApplicationStateError) {
            try executor.commit(block, certificate: certificate)
        } catch {
            failure = error
            logger.critical(
                "cannot write a committed block; stopping",
                metadata: ["height": "\(block.header.height)", "reason": "\(error)"])
            return
        }
        afterCommit(block)
    }

    private func afterCommit(_ block: Block, synced: Bool = false) {
        // The block and its state are durable now: event streams and metrics may read them.
        let now = UInt64(Date().timeIntervalSince1970 * 1000)
        commitFeed.publish(
            CommitNotice(
                header: block.header, failedTransactions: executor.lastCommitFailures,
                commitSeconds: synced ? nil : Double(Int64(now) - Int64(block.header.timestamp)) / 1000))
        lastCommitInstant = clock.now
        if block.transactions.contains(where: { $0.kind == .governancePropose || $0.kind == .governanceVote }) {
            announcePeerKeys()
        }
        if executor.lastCommitChangedRoles { preverifyRoles.removeAll() }
        journal.prune(throughRound: block.header.round)
        committedTransactions += UInt64(block.transactions.count)
        let removals = mempool.update(
            committed: block.transactions, policy: CommittedPolicy(executor: executor), now: clock.now - startInstant)
        for id in removals.stale {
            remember(dropped: id, reason: "its sequence number was used by another transaction")
        }
        for id in removals.unauthorized { remember(dropped: id, reason: "its signer is no longer authorized") }
        for id in removals.expired { remember(dropped: id, reason: "a lower sequence number never arrived") }
        logger.info(
            "committed block",
            metadata: [
                "height": "\(block.header.height)", "round": "\(block.header.round)",
                "block": "\(block.id.hex.prefix(16))", "txs": "\(block.transactions.count)",
                "mempool": "\(mempool.count)",
            ])
    }

    private func remember(dropped id: Digest, reason: String) {
        dropped[id] = reason
        droppedOrder.append(id)
        if droppedOrder.count > 10_000 {
            for old in droppedOrder.prefix(5_000) { dropped.removeValue(forKey: old) }
            droppedOrder.removeFirst(5_000)
        }
    }

    // MARK: Block sync

    private func serveSync(from height: UInt64, count: UInt64, to peer: Ed25519PublicKey) {
        // Reading and encoding up to 64 blocks runs on the engine: each peer has a bucket of 4 answers that
        // refills at 10 per second, so a peer flooding requests cannot crowd out consensus while one catching
        // up (one request at a time) is never slowed.
        let now = clock.now
        var bucket = syncBuckets[peer] ?? (tokens: 4, at: now)
        let elapsed = now - bucket.at
        let refill = Double(elapsed.components.seconds) * 10 + Double(elapsed.components.attoseconds) / 1e17
        bucket = (tokens: min(4, bucket.tokens + refill), at: now)
        guard bucket.tokens >= 1 else {
            syncBuckets[peer] = bucket
            return
        }
        syncBuckets[peer] = (tokens: bucket.tokens - 1, at: now)
        var blocks: [CertifiedBlock] = []
        var bytes = 0
        let limit = settings.maxMessageBytes / 2
        var cursor = height
        while UInt64(blocks.count) < min(count, UInt64(NodeMessage.maxSyncBlocks)) {
            guard let block = try? executor.store.block(atHeight: cursor),
                let certificate = try? executor.store.certificate(atHeight: cursor)
            else { break }
            bytes += block.canonicalBytes.count
            if !blocks.isEmpty, bytes > limit { break }
            let next = block.header.nextValidatorSetHash.flatMap { _ in
                executor.validators(ofEpoch: block.header.epoch + 1)
            }
            blocks.append(CertifiedBlock(block: block, certificate: certificate, nextValidators: next))
            cursor += 1
        }
        guard !blocks.isEmpty else { return }
        send(.send(encode(.syncResponse(blocks)), to: peer))
    }

    private func maybeRequestSync() {
        let height = executor.committedHeader.height
        if let pending = syncRequest {
            if clock.now - pending.sent < .seconds(5) { return }
            syncPenalties[pending.peer] = clock.now
        }
        syncRequest = nil
        syncPenalties = syncPenalties.filter { clock.now - $0.value < .seconds(30) }
        let connected = Set(connectedPeers)
        let ahead = peerHeights.filter { connected.contains($0.key) && $0.value > height }
        let trusted = ahead.filter { syncPenalties[$0.key] == nil }
        guard let (peer, claimed) = (trusted.isEmpty ? ahead : trusted).randomElement() else { return }
        let best = ahead.values.max() ?? claimed
        let stalled = clock.now - lastCommitInstant > settings.stallTimeout
        guard best - height >= settings.syncLag || stalled else { return }
        syncRequest = (peer, height + 1, clock.now)
        logger.info(
            "fetching committed blocks",
            metadata: ["from": "\(height + 1)", "peer": "\(peer.keyID)", "best": "\(best)"])
        send(.send(encode(.syncRequest(height: height + 1, count: UInt64(NodeMessage.maxSyncBlocks))), to: peer))
    }

    private func applySync(_ blocks: [CertifiedBlock], from peer: Ed25519PublicKey) {
        guard let pending = syncRequest, pending.peer == peer else { return }
        syncRequest = nil
        // Cleared again below once the answer proves at least one block.
        syncPenalties[peer] = clock.now
        let accepted: [CertifiedBlock]
        do throws(SyncError) {
            accepted = try BlockSyncVerifier.committedPrefix(
                of: blocks.filter { $0.block.header.height > executor.committedHeader.height },
                after: executor.committedHeader, epoch: core.epoch, validators: validators)
        } catch {
            logger.warning("refused a sync response", metadata: ["peer": "\(peer.keyID)", "reason": "\(error)"])
            return
        }
        guard !accepted.isEmpty else { return }
        syncPenalties[peer] = nil
        executor.resetSpeculation()
        for item in accepted {
            do throws(ApplicationStateError) {
                try executor.applyCommitted(item.block, certificate: item.certificate)
            } catch {
                failure = error
                logger.critical("cannot apply a synced block; stopping", metadata: ["reason": "\(error)"])
                return
            }
            afterCommit(item.block, synced: true)
        }
        do throws(NodeStartError) {
            (core, validators) = try Self.makeCore(
                executor: executor, genesis: genesis, genesisBlock: genesisBlock, validators: genesisValidators,
                key: key,
                settings: settings, safety: journal)
            core.restoreEpochChangeProofs(journal.epochChanges())
            announcePeerKeys()
        } catch {
            failure = .storage("cannot restart consensus after sync: \(error)")
            logger.critical("cannot restart consensus after sync; stopping", metadata: ["reason": "\(error)"])
            return
        }
        logger.info(
            "caught up from peer",
            metadata: ["height": "\(executor.committedHeader.height)", "peer": "\(peer.keyID)"])
        run(.start)
        replayJournal()
        maybeRequestSync()
    }

    // MARK: Transactions

    @discardableResult
    private func admit(
        _ transaction: Transaction, from origin: TransactionOrigin, signatureChecked: Bool
    ) -> SubmissionResult {
        // Cheapest first: a peer gossiping transactions of keys nobody authorized costs no disk read and no
        // signature check.
        guard executor.isAuthorized(signer: transaction.signer, kind: transaction.kind) else {
            return .rejected(
                .init(
                    code: .unauthorized,
                    detail: "\(transaction.signer.keyID) may not submit \(transaction.kind)"))
        }
        let id = transaction.id
        // A committed transaction is refused below (its sequence is behind the signer's), so the receipt is read
        // only on a refusal, to answer "committed" instead: not once per gossiped transaction.
        func committedOr(_ rejection: SubmissionRejection) -> SubmissionResult {
            guard let location = executor.location(of: id) else { return .rejected(rejection) }
            return .alreadyCommitted(id: id, height: location.height)
        }
        if let failure = LedgerApplication.statelessFailure(of: transaction) {
            return committedOr(.init(code: .invalidPayload, detail: failure.reason))
        }
        do throws(MempoolRejection) {
            let checked = mempool.signatureVerifications
            let outcome = try mempool.admit(
                transaction, from: origin, policy: CommittedPolicy(executor: executor), now: clock.now - startInstant,
                signatureChecked: signatureChecked)
            if case .added = outcome {
                // A pre-check already put the id in the shared cache; only a signature the mempool checked itself
                // needs adding (the insert was as dear as the admission).
                if mempool.signatureVerifications != checked { executor.markVerified(id) }
                dropped.removeValue(forKey: id)
                if origin == .local { gossipBuffer.append(transaction) }
                if deferredPayload != nil, !proposalHeld { transactionsArrived() }
            }
            return .accepted(id: id)
        } catch {
            return committedOr(Self.rejection(error))
        }
    }

    static func rejection(_ error: MempoolRejection) -> SubmissionRejection {
        let code: SubmissionRejection.Code
        switch error {
        case .malformed: code = .malformed
        case .wrongChain: code = .wrongChain
        case .oversize: code = .oversize
        case .badSignature: code = .badSignature
        case .unauthorized: code = .unauthorized
        case .staleSequence: code = .staleSequence
        case .sequenceTooFarAhead: code = .sequenceTooFarAhead
        case .conflictingSequence: code = .conflictingSequence
        case .signerLimit: code = .signerLimit
        case .mempoolFull: code = .mempoolFull
        }
        return SubmissionRejection(code: code, detail: error.description)
    }

    // MARK: NodeService

    /// Decodes the transaction and checks its signature off the actor (in the request's task, in parallel with
    /// other requests), then admits it on the actor.
    public nonisolated func submit(transaction bytes: [UInt8]) async -> SubmissionResult {
        let transaction: Transaction
        do {
            transaction = try Transaction.decode(canonical: bytes, field: "transaction")
        } catch {
            return .rejected(.init(code: .malformed, detail: "\(error)"))
        }
        return await admitSubmitted([transaction], verified: preverified([transaction]))[0]
    }

    /// Decodes and pre-checks the whole batch off the actor, then admits it in one turn of the actor, which
    /// proposes (when it waits for transactions) after the batch rather than after its first transaction.
    public nonisolated func submit(transactions batch: [[UInt8]]) async -> [SubmissionResult] {
        var results = [SubmissionResult?](repeating: nil, count: batch.count)
        var positions: [Int] = []
        var transactions: [Transaction] = []
        positions.reserveCapacity(batch.count)
        transactions.reserveCapacity(batch.count)
        for (index, bytes) in batch.enumerated() {
            do {
                transactions.append(try Transaction.decode(canonical: bytes, field: "transaction"))
                positions.append(index)
            } catch {
                results[index] = .rejected(.init(code: .malformed, detail: "\(error)"))
            }
        }
        if !transactions.isEmpty {
            let admitted = await admitSubmitted(transactions, verified: preverified(transactions))
            for (position, result) in zip(positions, admitted) { results[position] = result }
        }
        return results.map { $0! }
    }

    private func admitSubmitted(_ transactions: [Transaction], verified: [Bool]) -> [SubmissionResult] {
        guard !stopped, failure == nil else {
            return transactions.map { _ in .rejected(.init(code: .unavailable, detail: "the node is stopping")) }
        }
        return admitBatch(transactions, from: .local, verified: verified)
    }

    /// Admits a batch of gossip or submissions, `verified[i]` saying whether the pre-check verified the i-th
    /// signature, and proposes (when the leader waits for transactions) once after the whole batch, not on its
    /// first transaction.
    @discardableResult
    private func admitBatch(
        _ transactions: [Transaction], from origin: TransactionOrigin, verified: [Bool]
    ) -> [SubmissionResult] {
        proposalHeld = true
        let results = transactions.indices.map { index in
            admit(transactions[index], from: origin, signatureChecked: index < verified.count && verified[index])
        }
        proposalHeld = false
        if deferredPayload != nil, mempool.count > 0 { transactionsArrived() }
        return results
    }

    public func transactionStatus(_ id: Digest) async -> TransactionStatus {
        if let location = executor.location(of: id) {
            let blockID = (try? executor.store.block(atHeight: location.height))?.id ?? .zero
            if let failure = location.failure {
                return .failed(height: location.height, index: location.index, blockID: blockID, failure: failure)
            }
            return .committed(height: location.height, index: location.index, blockID: blockID)
        }
        if mempool.contains(id) { return .pending }
        if let reason = dropped[id] { return .dropped(reason: reason) }
        return .unknown
    }

    /// Read from the store off the actor (committed blocks never change), so anonymous block reads never queue in
    /// front of votes.
    public nonisolated func block(atHeight height: UInt64) async -> CommittedBlock? {
        let store = queries.store
        guard let block = try? store.block(atHeight: height),
            let certificate = try? store.certificate(atHeight: height)
        else { return nil }
        return CommittedBlock(block: block, certificate: certificate)
    }

    public func notarization(of digest: Digest) async -> NotarizationRecord? {
        executor.notarization(of: digest)
    }

    public func nextSequence(for signer: Ed25519PublicKey) async -> UInt64 {
        mempool.nextFreeSequence(of: signer, committedNext: executor.committedNextSequence(of: signer))
    }

    public func metricsSample() async -> NodeMetricsSample {
        NodeMetricsSample(
            consensusTimeouts: consensusTimeouts, eventLoopLag: loopLag.histogram, signatures: signatures.statistics)
    }

    public func status() async -> NodeStatus {
        let tip = executor.committedHeader
        return NodeStatus(
            chainID: genesis.chainID, nodeKey: me, role: isValidator ? .validator : .observer, height: tip.height,
            blockID: tip.id, round: core.currentRound, epoch: core.epoch, peers: connectedPeers,
            mempoolTransactions: mempool.count, mempoolBytes: mempool.totalBytes, syncing: syncRequest != nil)
    }

    // MARK: Helpers

    /// Runs `body` on this engine after `delay`, as a scheduled task of its event loop.
    @discardableResult
    private func after(_ delay: Duration, _ body: @escaping @Sendable (isolated NodeEngine) -> Void) -> Scheduled<Void>
    {
        eventLoop.scheduleTask(in: TimeAmount(delay)) { [weak self] in
            guard let self else { return }
            self.assumeIsolated { body($0) }
        }
    }

    private func send(_ message: OutgoingMessage) {
        guard !stopped else { return }
        if let sink {
            sink(message)
            return
        }
        outgoingContinuation.yield(message)
    }

    private func encode(_ message: NodeMessage) -> [UInt8] { message.canonicalBytes }
}

/// Committed state as the mempool sees it.
public struct CommittedPolicy: AdmissionPolicy {
    let executor: LedgerExecutor

    /// The policy of `executor`'s committed state.
    public init(executor: LedgerExecutor) { self.executor = executor }

    public func isAuthorized(signer: Ed25519PublicKey, kind: TransactionKind) -> Bool {
        executor.isAuthorized(signer: signer, kind: kind)
    }

    public func nextExpectedSequence(of signer: Ed25519PublicKey) -> UInt64 {
        executor.committedNextSequence(of: signer)
    }
}

/// Why a node cannot start.
public enum NodeStartError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The configuration is wrong.
    case configuration(String)
    /// The genesis file is wrong.
    case genesis(String)
    /// The node key cannot be read.
    case key(String)
    /// The data directory cannot be opened or holds another chain.
    case state(String)
    /// A listening socket cannot be opened.
    case network(String)

    public var description: String {
        switch self {
        case .configuration(let reason): return "configuration: \(reason)"
        case .genesis(let reason): return "genesis: \(reason)"
        case .key(let reason): return "node key: \(reason)"
        case .state(let reason): return "data directory: \(reason)"
        case .network(let reason): return "network: \(reason)"
        }
    }
}

/// Committed roles for the signature pre-check that runs off the engine's actor (HTTP request tasks and peer
/// loops at once), so each signer costs one snapshot read until a committed block changes roles, instead of one per
/// submission. Bounded: a flood of distinct signers empties it rather than growing it.
///
/// A read that was under way when ``removeAll()`` ran may have read the state from before the change, so its answer
/// is returned but not kept: each ``removeAll()`` starts a new generation, and only a read begun in the current one
/// is remembered.
final class PreverifyRoleCache: Sendable {
    private static let capacity = 4_096
    private struct Entries {
        var roles: [Ed25519PublicKey: KeyRole?] = [:]
        var generation: UInt64 = 0
    }
    private let entries = NIOLockedValueBox(Entries())

    /// The cached role of `signer`, or `read(signer)`, remembered unless roles changed while it read.
    func role(of signer: Ed25519PublicKey, read: (Ed25519PublicKey) -> KeyRole?) -> KeyRole? {
        let (cached, generation) = entries.withLockedValue { ($0.roles[signer], $0.generation) }
        if let cached { return cached }
        let role = read(signer)
        entries.withLockedValue { entries in
            guard entries.generation == generation else { return }
            if entries.roles.count >= Self.capacity { entries.roles.removeAll(keepingCapacity: true) }
            entries.roles[signer] = .some(role)
        }
        return role
    }

    /// Forgets every role (a committed block changed some).
    func removeAll() {
        entries.withLockedValue { entries in
            entries.roles.removeAll(keepingCapacity: true)
            entries.generation &+= 1
        }
    }
}

extension ConsensusAction {
    /// The action hands a message to peers (or to this node).
    fileprivate var sendsMessage: Bool {
        switch self {
        case .send, .broadcast: true
        default: false
        }
    }
}
