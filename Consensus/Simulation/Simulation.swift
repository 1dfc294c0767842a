package import Consensus
import EnsureCrypto
import Ledger

/// Which signature scheme simulated validators use.
public enum SimulationSigner: String, Sendable, CaseIterable {
    /// Real Ed25519 through libsodium (the default).
    case ed25519
    /// ``FastSigner``: keyed hashes, for long runs.
    case fast
}

/// Everything that determines one simulated run. The same options give the same run, event for event.
public struct SimulationOptions: Hashable, Sendable {
    /// Validators per epoch (4, 7, 10, ...).
    public var validators: Int
    /// The seed of every random choice: keys, delays, drops, partitions, crashes.
    public var seed: UInt64
    /// The signature scheme.
    public var signer: SimulationSigner
    /// How many validator keys run twice, as two instances each seeing one side of a partition.
    public var twins: Int
    /// How many validators are Byzantine leaders that, after a timeout certificate, propose a fork below the
    /// committed chain.
    public var forkers: Int
    /// Heights per epoch; 0 keeps one validator set.
    public var epochLength: UInt64
    /// Whether network faults (drops, duplicates, partitions), crashes and clock skew are injected.
    public var faults: Bool
    /// A deliberately broken rule for the checker's own tests (see ``ConsensusMutation``).
    package var mutation: ConsensusMutation?
    /// Prints every event and rejection, for debugging one seed.
    package var trace = false
    /// Keeps a run going until an honest node committed this height (for throughput measurements).
    package var targetHeight: UInt64 = 0
    /// When not zero, one honest node (the laggard, picked by the seed) crashes after committing height 3 and
    /// restarts from its last committed block only once the others committed this many heights more; the
    /// liveness window starts when it restarts.
    package var lag: UInt64 = 0

    /// Creates options.
    public init(
        validators: Int, seed: UInt64, signer: SimulationSigner = .ed25519, twins: Int = 0, forkers: Int = 0,
        epochLength: UInt64 = 0, faults: Bool = true
    ) {
        self.validators = validators
        self.seed = seed
        self.signer = signer
        self.twins = twins
        self.forkers = forkers
        self.epochLength = epochLength
        self.faults = faults
    }

    /// Options for a mutant run.
    package init(_ options: SimulationOptions, mutation: ConsensusMutation?) {
        self = options
        self.mutation = mutation
    }

    /// The one command that replays this run.
    public var replayCommand: String {
        var command =
            "swift run -c release ensure-bench simulate --validators \(validators) --seed \(seed) --signer \(signer.rawValue)"
        if twins > 0 { command += " --twins \(twins)" }
        if forkers > 0 { command += " --forkers \(forkers)" }
        if epochLength > 0 { command += " --epoch-length \(epochLength)" }
        if !faults { command += " --no-faults" }
        if lag > 0 { command += " --lag \(lag)" }
        if let mutation { command += " --mutation \(mutation.rawValue)" }
        return command
    }
}

/// A property the run broke.
public struct SimulationViolation: Hashable, Sendable, CustomStringConvertible {
    /// Which property.
    public enum Kind: String, Hashable, Sendable {
        /// Two honest nodes committed different blocks at one height, or a node's chain was not a prefix.
        case safety
        /// After the network healed, an honest node did not commit a new block within the round bound.
        case liveness
    }

    /// Which property.
    public let kind: Kind
    /// What happened, naming nodes, heights and blocks.
    public let detail: String

    public var description: String { "\(kind.rawValue) violation: \(detail)" }
}

/// What one run did and whether it held.
public struct SimulationReport: Sendable {
    /// The options of the run.
    public let options: SimulationOptions
    /// Broken properties; empty when the run held.
    public let violations: [SimulationViolation]
    /// The highest height any honest node committed.
    public let committedHeight: UInt64
    /// Commit actions over all honest nodes.
    public let commits: Int
    /// The highest round an honest node reached.
    public let rounds: UInt64
    /// Messages delivered.
    public let messages: Int
    /// Simulated milliseconds.
    public let simulatedMilliseconds: UInt64
    /// The highest epoch an honest node reached.
    public let epochs: UInt64
    /// Equivocation evidence reported by honest nodes (all of it verified).
    public let evidence: Int
    /// Restarts of a node from a committed block above genesis read back from its store.
    public let resumes: Int
    /// The most blocks any honest core held in memory at once.
    public let maxRetainedBlocks: Int
    /// The largest size each of the core's tables reached on any honest node (see `retainedEntryCounts`).
    package let maxRetainedEntries: [String: Int]
    /// What the laggard did, when ``SimulationOptions/lag`` was set and it restarted.
    public let laggard: LaggardReport?

    /// Whether no property was broken.
    public var passed: Bool { violations.isEmpty }
}

/// How the laggard of a run with ``SimulationOptions/lag`` restarted and caught up.
public struct LaggardReport: Hashable, Sendable {
    /// The node's index.
    public let node: Int
    /// The height of the committed block it restarted from.
    public let rootHeight: UInt64
    /// The highest height an honest node had committed when it restarted.
    public let othersHeightAtRestart: UInt64
    /// The last height it committed.
    public let finalHeight: UInt64
}

/// A deterministic, seeded simulation of n real ``ConsensusCore`` instances over a network with delays, drops,
/// duplication, reordering, partitions that heal, crashes and restarts (keeping the persisted safety state),
/// clock skew, Twins and Byzantine fork leaders. It checks safety all along and liveness after the heal.
public struct Simulation {
    /// Rounds after the heal within which every honest node must commit a block of a later round.
    public static let livenessRoundBound: UInt64 = 24
    static let chainID = "sim"
    static let baseTimeout: UInt64 = 300

    /// Runs one simulation.
    public static func run(_ options: SimulationOptions) -> SimulationReport {
        var world = World(options: options)
        return world.run()
    }
}

private enum Event {
    case deliver(ConsensusMessage, from: Ed25519PublicKey, to: Int)
    case timer(Int, epoch: UInt64, round: UInt64, token: UInt64)
    case local(Int, ConsensusEvent, incarnation: Int)
    case crash(Int)
    case restart(Int)
    case rejoin(Int)
    case heal
}

/// One key's signature slot: an epoch and round.
private struct SignedRound: Hashable {
    let key: Int
    let epoch: UInt64
    let round: UInt64
}

/// Where the laggard of a ``SimulationOptions/lag`` run is.
private enum LaggardPhase {
    case running
    case down(rootHeight: UInt64)
    case restarted(rootHeight: UInt64, othersHeight: UInt64)
}

private struct Partition {
    let start: UInt64
    let end: UInt64
    let group: [Int]  // instance -> side
}

private struct Instance {
    let key: Int
    let isTwin: Bool
    let isForker: Bool
    let persistence = InMemorySafetyStatePersistence()
    var core: ConsensusCore?
    var app: SimulatedApplication
    var headers: [Digest: BlockHeader] = [:]
    var incarnation = 0
    var up = true
    var timerToken: UInt64 = 0
    var skewPercent: Int = 0
    var committed: [UInt64: Digest] = [:]
    var lastCommitHeight: UInt64 = 0
    /// The node's block store: every committed block with its certificate, kept across crashes.
    var store: [UInt64: (Block, QuorumCertificate)] = [:]
    var liveAfterHeal = false
    var honest: Bool { !isTwin && !isForker }

    init(key: Int, isTwin: Bool, isForker: Bool, app: SimulatedApplication) {
        self.key = key
        self.isTwin = isTwin
        self.isForker = isForker
        self.app = app
    }
}

private struct World {
    let options: SimulationOptions
    var random: SimulationRandom
    let privateKeys: [Ed25519PrivateKey]
    let publicKeys: [Ed25519PublicKey]
    let schedule: EpochSchedule
    let genesis: Block
    let verifier: any SignatureVerifier
    var instances: [Instance] = []
    var queue = EventQueue<Event>()
    var now: UInt64 = 0
    var partitions: [Partition] = []
    var faultEnd: UInt64 = 0
    var healed = false
    var roundsExceeded = false
    var roundAtHeal: UInt64 = 0
    var canonical: [UInt64: (Digest, Int)] = [:]
    var violations: [SimulationViolation] = []
    var commits = 0
    var messages = 0
    var evidence = 0
    var dropRate = 0.0
    var duplicateRate = 0.0
    var maxDelay: UInt64 = 60
    var deadline: UInt64 = 0
    var laggard: Int?
    var laggardPhase = LaggardPhase.running
    var healPending = false
    var maxRetainedBlocks = 0
    var votesSent: Set<SignedRound> = []
    var timeoutsSent: Set<SignedRound> = []
    var resumes = 0
    var maxRetainedEntries: [String: Int] = [:]

    init(options: SimulationOptions) {
        self.options = options
        var random = SimulationRandom(seed: options.seed)
        let poolSize = options.validators + (options.epochLength > 0 ? 1 : 0)
        var keys: [Ed25519PrivateKey] = []
        for _ in 0..<poolSize {
            var seed: [UInt8] = []
            for _ in 0..<4 {
                let word = random.next()
                seed.append(contentsOf: (0..<8).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) })
            }
            keys.append(Ed25519PrivateKey(seed: seed)!)
        }
        self.random = random
        privateKeys = keys
        publicKeys = keys.map(\.publicKey)
        schedule = EpochSchedule(pool: publicKeys, size: options.validators, epochLength: options.epochLength)
        genesis = ConsensusCore.genesisBlock(chainID: Simulation.chainID, validators: schedule.validators(epoch: 0))
        verifier = options.signer == .fast ? FastVerifier() : Ed25519SignatureVerifier()
    }

    private func signer(_ key: Int) -> any ConsensusSigner {
        options.signer == .fast
            ? FastSigner(publicKey: publicKeys[key]) : Ed25519ConsensusSigner(key: privateKeys[key])
    }

    mutating func run() -> SimulationReport {
        setUp()
        deadline = deadline(after: faultEnd)
        while let (time, event) = queue.pop() {
            now = time
            if now > deadline { break }
            dispatch(event)
            if healed, liveDone() { break }
            // Past the round bound nothing can satisfy liveness any more: stop and report.
            if healed, roundsExceeded, options.targetHeight == 0 { break }
            if !violations.isEmpty, violations.contains(where: { $0.kind == .safety }) { break }
        }
        if violations.isEmpty || !violations.contains(where: { $0.kind == .safety }) {
            for (index, instance) in instances.enumerated()
            where instance.honest && instance.up && !instance.liveAfterHeal {
                let round = instance.core.map(\.currentRound) ?? 0
                violations.append(
                    SimulationViolation(
                        kind: .liveness,
                        detail:
                            "node \(index) committed no block of a round in \(roundAtHeal + 1)...\(roundAtHeal + Simulation.livenessRoundBound) after the heal (it is in round \(round), height \(instance.lastCommitHeight))"
                    ))
            }
        }
        let honest = instances.filter(\.honest)
        var laggardReport: LaggardReport?
        if let laggard, case .restarted(let rootHeight, let othersHeight) = laggardPhase {
            laggardReport = LaggardReport(
                node: laggard, rootHeight: rootHeight, othersHeightAtRestart: othersHeight,
                finalHeight: instances[laggard].lastCommitHeight)
        }
        return SimulationReport(
            options: options, violations: violations,
            committedHeight: honest.map(\.lastCommitHeight).max() ?? 0, commits: commits,
            rounds: honest.compactMap { $0.core?.currentRound }.max() ?? 0, messages: messages,
            simulatedMilliseconds: now, epochs: honest.compactMap { $0.core?.epoch }.max() ?? 0, evidence: evidence,
            resumes: resumes, maxRetainedBlocks: maxRetainedBlocks, maxRetainedEntries: maxRetainedEntries,
            laggard: laggardReport)
    }

    /// When a run whose faults end (or whose laggard rejoins) at `heal` gives up on liveness.
    private func deadline(after heal: UInt64) -> UInt64 {
        heal + Simulation.baseTimeout * 64 * 6 + Simulation.livenessRoundBound * 4_000 + options.targetHeight * 1_000
    }

    private func liveDone() -> Bool {
        if options.targetHeight > 0,
            !instances.contains(where: { $0.honest && $0.lastCommitHeight >= options.targetHeight })
        {
            return false
        }
        return instances.allSatisfy { !$0.honest || !$0.up || $0.liveAfterHeal }
    }

    // MARK: Set-up

    private mutating func setUp() {
        let n = options.validators
        let keyCount = schedule.pool.count
        var byzantine = Array(0..<n)
        // Byzantine keys are picked by the seed; twins first, then fork leaders, at most f in all.
        for i in stride(from: byzantine.count - 1, to: 0, by: -1) {
            byzantine.swapAt(i, Int(random.next() % UInt64(i + 1)))
        }
        let f = (n - 1) / 3
        let twinKeys = Set(byzantine.prefix(min(options.twins, f)))
        let forkerKeys = Set(
            byzantine.dropFirst(twinKeys.count).prefix(max(0, min(options.forkers, f - twinKeys.count))))
        for key in 0..<keyCount {
            let app = SimulatedApplication(schedule: schedule, genesis: genesis)
            instances.append(
                Instance(key: key, isTwin: twinKeys.contains(key), isForker: forkerKeys.contains(key), app: app))
            if twinKeys.contains(key) {
                instances.append(Instance(key: key, isTwin: true, isForker: false, app: app))
            }
        }
        for index in instances.indices {
            instances[index].headers[genesis.id] = genesis.header
            if options.faults { instances[index].skewPercent = Int(random.next() % 21) - 10 }
        }
        let faultPhase: UInt64 = options.faults ? 2_000 + random.next() % 4_000 : 500
        faultEnd = faultPhase
        if options.faults {
            dropRate = Double(random.next() % 20) / 100
            duplicateRate = Double(random.next() % 10) / 100
            maxDelay = 20 + random.next() % 200
            var cursor = random.next() % 1_500
            while cursor < faultPhase {
                let length = 300 + random.next() % 2_500
                var group = instances.map { _ in Int(random.next() % 2) }
                // Twins always sit on opposite sides, so each side sees one of them.
                for key in twinKeys {
                    let pair = instances.indices.filter { instances[$0].key == key }
                    group[pair[0]] = 0
                    group[pair[1]] = 1
                }
                partitions.append(Partition(start: cursor, end: min(cursor + length, faultPhase), group: group))
                cursor += length + random.next() % 2_000
            }
            let crashes = Int(random.next() % UInt64(options.lag > 0 ? f : f + 1))
            for _ in 0..<crashes {
                let victim = Int(random.next() % UInt64(instances.count))
                let at = random.next() % faultPhase
                let back = min(at + 200 + random.next() % 3_000, faultPhase)
                queue.push(.crash(victim), at: at)
                queue.push(.restart(victim), at: back)
            }
        } else {
            maxDelay = 20 + random.next() % 40
        }
        queue.push(.heal, at: faultEnd)
        if options.lag > 0 {
            let honest = instances.indices.filter { instances[$0].honest }
            laggard = honest[Int(random.next() % UInt64(honest.count))]
        }
        for index in instances.indices { boot(index) }
    }

    /// Starts (or restarts) a node from the last block in its store, as a node reads it back from LevelDB, with
    /// the safety state it persisted.
    private mutating func boot(_ index: Int) {
        let instance = instances[index]
        let (root, certificate) =
            instance.store.keys.max().flatMap { instance.store[$0] }
            ?? (genesis, QuorumCertificate.genesis(chainID: Simulation.chainID, blockID: genesis.id))
        // A root that ends its epoch puts the node in the next one, as the node's application state says.
        let epoch = root.header.epoch + (root.header.nextValidatorSetHash == nil ? 0 : 1)
        let core: ConsensusCore
        do {
            core = try ConsensusCore(
                configuration: ConsensusConfiguration(
                    chainID: Simulation.chainID, baseTimeoutMilliseconds: Simulation.baseTimeout),
                root: root, rootCertificate: certificate, epoch: epoch, validators: schedule.validators(epoch: epoch),
                signer: signer(instance.key), verifier: verifier, persistence: instance.persistence)
        } catch {
            violations.append(
                SimulationViolation(
                    kind: .safety, detail: "node \(index) could not start from height \(root.header.height): \(error)"))
            return
        }
        if instance.honest { core.mutation = options.mutation }
        if root.header.height > 0 { resumes += 1 }
        instances[index].core = core
        instances[index].incarnation += 1
        instances[index].up = true
        instances[index].app = SimulatedApplication(schedule: schedule, root: root)
        instances[index].headers = [root.id: root.header]
        instances[index].lastCommitHeight = root.header.height
        feed(index, .start)
    }

    /// A crash may lose the last few commits the node had not yet written to its store: it restarts from an
    /// older root than the one it reached.
    private mutating func crash(_ index: Int) {
        instances[index].up = false
        instances[index].core = nil
        let lost = options.faults ? random.next() % 3 : 0
        for height in instances[index].store.keys.sorted().suffix(Int(lost)) where height > 0 {
            instances[index].store.removeValue(forKey: height)
        }
    }

    // MARK: Events

    private mutating func dispatch(_ event: Event) {
        switch event {
        case .deliver(let message, let sender, let index):
            guard instances[index].up else { return }
            messages += 1
            feed(index, .message(message, from: sender))
        case .timer(let index, let epoch, let round, let token):
            guard instances[index].up, instances[index].timerToken == token else { return }
            feed(index, .timerFired(epoch: epoch, round: round))
        case .local(let index, let event, let incarnation):
            guard instances[index].up, instances[index].incarnation == incarnation else { return }
            feed(index, event)
        case .crash(let index):
            guard instances[index].up else { return }
            crash(index)
        case .restart(let index):
            guard !instances[index].up, !isWaitingLaggard(index) else { return }
            boot(index)
        case .rejoin(let index):
            guard case .down(let rootHeight) = laggardPhase else { return }
            laggardPhase = .restarted(rootHeight: rootHeight, othersHeight: highestHonestHeight)
            boot(index)
            if healPending { heal() }
        case .heal:
            dropRate = 0
            duplicateRate = 0
            for index in instances.indices where !instances[index].up && !isWaitingLaggard(index) { boot(index) }
            // Liveness is measured from when every node is back, the laggard included.
            if laggardPending { healPending = true } else { heal() }
        }
    }

    /// Whether `index` is the laggard, down and waiting for the others to get ahead.
    private func isWaitingLaggard(_ index: Int) -> Bool {
        guard index == laggard, case .down = laggardPhase else { return false }
        return true
    }

    /// Whether the run has a laggard that has not restarted yet.
    private var laggardPending: Bool {
        guard laggard != nil else { return false }
        if case .restarted = laggardPhase { return false }
        return true
    }

    private var highestHonestHeight: UInt64 { instances.filter(\.honest).map(\.lastCommitHeight).max() ?? 0 }

    private mutating func heal() {
        healPending = false
        healed = true
        deadline = deadline(after: now)
        roundAtHeal = instances.filter(\.honest).compactMap { $0.core?.currentRound }.max() ?? 0
    }

    private mutating func feed(_ index: Int, _ event: ConsensusEvent) {
        guard let core = instances[index].core else { return }
        let step = core.handle(event)
        let actions = step.actions
        if instances[index].honest {
            maxRetainedBlocks = max(maxRetainedBlocks, core.retainedBlockCount)
            if options.targetHeight > 0 {
                maxRetainedEntries.merge(core.retainedEntryCounts, uniquingKeysWith: max)
            }
        }
        if healed, instances[index].honest, core.currentRound > roundAtHeal + Simulation.livenessRoundBound + 1 {
            roundsExceeded = true
        }
        if options.trace, let error = step.rejection {
            print("\(now) node \(index) r\(core.currentRound) e\(core.epoch) refused \(describe(event)): \(error)")
        }
        if options.trace, step.rejection == nil {
            print(
                "\(now) node \(index) r\(core.currentRound) e\(core.epoch) hqc\(core.highQC.round) \(describe(event)) -> \(actions.map(describe).joined(separator: ", "))"
            )
        }
        for action in actions { perform(action, at: index) }
    }

    private func describe(_ event: ConsensusEvent) -> String {
        switch event {
        case .start: return "start"
        case .message(let m, let from): return "\(describe(m)) from \(publicKeys.firstIndex(of: from) ?? -1)"
        case .timerFired(let e, let r): return "timer e\(e) r\(r)"
        case .payloadReady(let b): return "payload h\(b.header.height) r\(b.header.round)"
        case .executed(let id, let outcome): return "executed \(id.hex.prefix(6)) \(outcome)"
        }
    }

    private func describe(_ message: ConsensusMessage) -> String {
        switch message {
        case .proposal(let p):
            return
                "proposal h\(p.block.header.height) r\(p.block.header.round) e\(p.block.header.epoch) qc\(p.block.justify.round) tc\(p.timeoutCertificate.map { "\($0.round)" } ?? "-") \(p.block.id.hex.prefix(6))"
        case .vote(let v): return "vote r\(v.data.round) \(v.data.blockID.hex.prefix(6))"
        case .timeout(let t):
            return
                "timeout r\(t.timeout.data.round) hqc\(t.timeout.data.highQCRound) tc\(t.lastTimeoutCertificate.map { "\($0.round)" } ?? "-")"
        case .blockRequest(let r): return "blockRequest \(r.blockID.hex.prefix(6))"
        case .blockResponse(let b): return "blockResponse \(b.count)"
        case .epochChange(let p): return "epochChange e\(p.endingEpoch)"
        case .epochChangeRequest(let e): return "epochChangeRequest e\(e)"
        }
    }

    private func describe(_ action: ConsensusAction) -> String {
        switch action {
        case .send(let m, let to): return "send \(describe(m)) to \(publicKeys.firstIndex(of: to) ?? -1)"
        case .broadcast(let m): return "broadcast \(describe(m))"
        case .setTimer(_, let r, let ms): return "timer r\(r) \(ms)ms"
        case .requestPayload(let r): return "requestPayload r\(r.round)"
        case .execute(let b): return "execute h\(b.header.height) \(b.id.hex.prefix(6))"
        case .commit(let b, _): return "COMMIT h\(b.header.height) \(b.id.hex.prefix(6))"
        case .enterEpoch(let e, _): return "enterEpoch \(e)"
        case .reportEvidence: return "evidence"
        }
    }

    private func side(of index: Int) -> Int? {
        partitions.first { $0.start <= now && now < $0.end }?.group[index]
    }

    private mutating func send(_ message: ConsensusMessage, from index: Int, toKey key: Int) {
        let senderSide = side(of: index)
        let sender = publicKeys[instances[index].key]
        for target in instances.indices where instances[target].key == key && target != index {
            if let senderSide, side(of: target) != senderSide { continue }
            if random.chance(dropRate) { continue }
            let copies = random.chance(duplicateRate) ? 2 : 1
            for _ in 0..<copies {
                queue.push(.deliver(message, from: sender, to: target), at: now + 1 + random.next() % maxDelay)
            }
        }
    }

    private mutating func perform(_ action: ConsensusAction, at index: Int) {
        let incarnation = instances[index].incarnation
        switch action {
        case .send(let message, let key):
            guard let target = publicKeys.firstIndex(of: key) else { return }
            checkSigned(message, by: index)
            send(message, from: index, toKey: target)
        case .broadcast(let message):
            checkSigned(message, by: index)
            for key in publicKeys.indices { send(message, from: index, toKey: key) }
        case .setTimer(let epoch, let round, let milliseconds):
            instances[index].timerToken += 1
            let skewed = Int(milliseconds) * (100 + instances[index].skewPercent) / 100
            queue.push(
                .timer(index, epoch: epoch, round: round, token: instances[index].timerToken),
                at: now + UInt64(max(1, skewed)))
        case .requestPayload(let request):
            // Each node's wall clock is off by up to ±100 ms from simulated time.
            let clock = UInt64(1_000_000 + Int64(now) + Int64(instances[index].skewPercent) * 10)
            if instances[index].isForker, let fork = forkProposal(request, at: index, clock: clock) {
                for key in publicKeys.indices { send(.proposal(fork), from: index, toKey: key) }
                return
            }
            guard let block = instances[index].app.build(request, now: clock) else { return }
            queue.push(.local(index, .payloadReady(block), incarnation: incarnation), at: now + 1)
        case .execute(let block):
            let parent = instances[index].headers[block.header.parentID]
            let outcome = instances[index].app.execute(block, parent: parent)
            instances[index].headers[block.id] = block.header
            queue.push(.local(index, .executed(blockID: block.id, outcome), incarnation: incarnation), at: now + 1)
        case .commit(let block, let certificate):
            recordCommit(block, certificate: certificate, at: index)
        case .enterEpoch:
            break
        case .reportEvidence(let proof):
            guard instances[index].honest, let core = instances[index].core else { return }
            do {
                try proof.verify(against: core.validators, verifier: verifier)
                evidence += 1
            } catch {
                violations.append(
                    SimulationViolation(kind: .safety, detail: "node \(index) reported evidence that fails: \(error)"))
            }
        }
    }

    /// A Byzantine leader with a timeout certificate proposes on the certificate of the block below its last
    /// committed one: a fork that a correct voter refuses because the certificate is older than the timeout
    /// certificate reports.
    private func forkProposal(_ request: PayloadRequest, at index: Int, clock: UInt64) -> Proposal? {
        guard request.timeoutCertificate != nil else { return nil }
        let instance = instances[index]
        guard instance.lastCommitHeight >= 1,
            let (parent, certificate) = instance.store[instance.lastCommitHeight - 1],
            parent.header.epoch == request.epoch, certificate.data.epoch == request.epoch, !request.mustBeEmpty
        else { return nil }
        let forged = PayloadRequest(
            epoch: request.epoch, round: request.round, parent: parent.header, justify: certificate,
            timeoutCertificate: request.timeoutCertificate, proposer: request.proposer,
            validatorSetHash: request.validatorSetHash, mustBeEmpty: false)
        var app = instance.app
        _ = app.execute(parent, parent: instance.headers[parent.header.parentID])
        guard let block = app.build(forged, now: max(clock, parent.header.timestamp)) else { return nil }
        let signature = signer(instance.key).sign(Proposal.signingBytes(blockID: block.id), domain: .proposal)
        return Proposal(block: block, timeoutCertificate: request.timeoutCertificate, signature: signature)
    }

    // MARK: Checks

    /// An honest key's vote in a round it already signed a timeout for is evidence of a broken safety rule: the
    /// timeout certificate of that round might then miss a quorum certificate of it. A vote re-sent unchanged
    /// (after a restart) is not new.
    private mutating func checkSigned(_ message: ConsensusMessage, by index: Int) {
        guard instances[index].honest else { return }
        let key = instances[index].key
        switch message {
        case .vote(let vote):
            let signed = SignedRound(key: key, epoch: vote.data.epoch, round: vote.data.round)
            guard votesSent.insert(signed).inserted, timeoutsSent.contains(signed) else { return }
            violations.append(
                SimulationViolation(
                    kind: .safety,
                    detail:
                        "node \(index) voted in epoch \(signed.epoch) round \(signed.round) after signing a timeout for it"
                ))
        case .timeout(let message):
            let data = message.timeout.data
            timeoutsSent.insert(SignedRound(key: key, epoch: data.epoch, round: data.round))
        default:
            break
        }
    }

    private mutating func recordCommit(_ block: Block, certificate: QuorumCertificate, at index: Int) {
        let height = block.header.height
        guard certificate.blockID == block.id, certificate.data.height == height else {
            violations.append(
                SimulationViolation(
                    kind: .safety,
                    detail: "node \(index) committed height \(height) with a certificate of another block"))
            return
        }
        instances[index].store[height] = (block, certificate)
        guard instances[index].honest else {
            instances[index].lastCommitHeight = height
            return
        }
        commits += 1
        if height != instances[index].lastCommitHeight + 1 {
            violations.append(
                SimulationViolation(
                    kind: .safety,
                    detail: "node \(index) committed height \(height) after \(instances[index].lastCommitHeight)"))
        }
        instances[index].lastCommitHeight = height
        if let (id, first) = canonical[height], id != block.id {
            violations.append(
                SimulationViolation(
                    kind: .safety,
                    detail:
                        "height \(height): node \(first) committed \(id.hex.prefix(16)), node \(index) committed \(block.id.hex.prefix(16))"
                ))
        } else if canonical[height] == nil {
            canonical[height] = (block.id, index)
        }
        if let earlier = instances[index].committed[height], earlier != block.id {
            violations.append(
                SimulationViolation(kind: .safety, detail: "node \(index) re-committed height \(height) differently"))
        }
        instances[index].committed[height] = block.id
        if healed, block.header.round > roundAtHeal, block.header.round <= roundAtHeal + Simulation.livenessRoundBound {
            instances[index].liveAfterHeal = true
        }
        checkLaggard(committedBy: index, height: height)
    }

    /// Crashes the laggard once it committed height 3, and brings it back once the others are `lag` ahead.
    private mutating func checkLaggard(committedBy index: Int, height: UInt64) {
        guard let laggard else { return }
        switch laggardPhase {
        case .running where index == laggard && height >= 3:
            crash(laggard)
            laggardPhase = .down(rootHeight: instances[laggard].store.keys.max() ?? 0)
        case .down(let rootHeight) where highestHonestHeight >= rootHeight + options.lag:
            queue.push(.rejoin(laggard), at: now + 1)
        default:
            break
        }
    }
}
