import Codec
public import EnsureCrypto
public import Ledger

/// Settings of one ``ConsensusCore``.
public struct ConsensusConfiguration: Hashable, Sendable {
    /// The chain every message must name.
    public var chainID: String
    /// The round timeout when the chain makes progress, in milliseconds.
    public var baseTimeoutMilliseconds: UInt64
    /// The timeout doubles for every round without a certificate, up to 2 to this power times the base.
    public var maxBackoffExponent: UInt64
    /// About the most bytes of blocks one answer to a block request carries; the first block always goes. A node
    /// sets it below its transport's frame limit, which drops larger messages whole.
    public var maxResponseBytes: Int
    /// About the most bytes of committed blocks kept in memory below the last committed one, besides the
    /// ``ConsensusLimits/retainedCommittedBlocks`` count; the last committed block always stays. They only answer
    /// block requests of peers slightly behind; a node serves older blocks from its store. Counted with
    /// ``approximateEncodedSize(of:)``; in memory a block takes about twice that.
    public var retainedCommittedBytes: Int

    /// Creates a configuration.
    public init(
        chainID: String, baseTimeoutMilliseconds: UInt64 = 1000, maxBackoffExponent: UInt64 = 6,
        maxResponseBytes: Int = 2 << 20, retainedCommittedBytes: Int = 8 << 20
    ) {
        self.chainID = chainID
        self.baseTimeoutMilliseconds = baseTimeoutMilliseconds
        self.maxBackoffExponent = maxBackoffExponent
        self.maxResponseBytes = maxResponseBytes
        self.retainedCommittedBytes = retainedCommittedBytes
    }
}

/// Two-chain HotStuff (Jolteon / DiemBFT v4) as a pure state machine: ``handle(_:)`` takes one
/// ``ConsensusEvent`` and returns the ``ConsensusAction``s it causes. It has no I/O, clock or randomness; every
/// signature goes through ``SafetyRules``. Inputs that do not hold are refused with a ``ConsensusRejection``
/// before any state changes.
public final class ConsensusCore {
    /// The configuration.
    public let configuration: ConsensusConfiguration
    private let safety: SafetyRules
    private let verifier: any SignatureVerifier
    private let me: Ed25519PublicKey

    /// The current epoch.
    public private(set) var epoch: UInt64 = 0
    /// The current epoch's validators.
    public private(set) var validators: ValidatorSet {
        didSet { validatorSetHash = validators.hash }
    }
    private var validatorSetHash: Digest
    /// The current round.
    public private(set) var currentRound: UInt64 = 0
    /// The highest quorum certificate known.
    public private(set) var highQC: QuorumCertificate
    /// The last committed block (genesis, or the block that ended the previous epoch, at first).
    public private(set) var lastCommitted: Block
    private var rootQC: QuorumCertificate
    private var lastTC: TimeoutCertificate?

    private var blocks: [Digest: Block] = [:]
    private var executed: [Digest: ExecutionOutcome] = [:]
    private var certificates: [Digest: QuorumCertificate] = [:]
    private var verifiedCertificates: Set<QuorumCertificate> = []
    private var committedIDs: Set<Digest> = []
    /// Blocks, outcomes and certificates below this height were dropped (see ``ConsensusLimits/retainedCommittedBlocks``).
    private var prunedBelowHeight: UInt64 = 0
    /// The approximate size of each committed block still held, oldest first, and their sum: see
    /// ``ConsensusConfiguration/retainedCommittedBytes``.
    private var committedSizes: [(height: UInt64, bytes: Int)] = []
    private var committedSizesStart = 0
    private var committedBytes = 0
    private var pendingProposals: [Digest: Proposal] = [:]
    /// Blocks this node asked for or waits for, with the round it was in then (old entries are dropped).
    private var wantedBlocks: [Digest: UInt64] = [:]
    private var orphanSegments: [Digest: [Block]] = [:]
    private var votableProposal: Proposal?
    private var pendingPayload: PayloadRequest?
    private var proposeWhenParentArrives = false
    private var pendingCommit: QuorumCertificate?
    private var pendingEpochChange: EpochChangeProof?
    private var epochProofs: [UInt64: EpochChangeProof] = [:]
    private var votes: [UInt64: [Ed25519PublicKey: Vote]] = [:]
    private var timeouts: [UInt64: [Ed25519PublicKey: Timeout]] = [:]
    private var proposalsSeen: [UInt64: [Ed25519PublicKey: SignedProposalHeader]] = [:]
    package var mutation: ConsensusMutation? {
        didSet { safety.mutation = mutation }
    }

    /// Creates a core that starts from `genesis` (height 0, round 0, epoch 0) with `genesisValidators`, signing
    /// through ``SafetyRules`` on `signer` and `persistence` and checking others' signatures with `verifier`.
    public convenience init(
        configuration: ConsensusConfiguration, genesis: Block, genesisValidators: ValidatorSet,
        signer: any ConsensusSigner, verifier: any SignatureVerifier, persistence: any SafetyStatePersistence
    ) throws(SafetyRulesError) {
        try self.init(
            configuration: configuration, root: genesis,
            rootCertificate: .genesis(chainID: configuration.chainID, blockID: genesis.id), epoch: 0,
            validators: genesisValidators, signer: signer, verifier: verifier, persistence: persistence)
    }

    /// Creates a core that resumes from `root`, a block this node already committed, with `rootCertificate`, the
    /// quorum certificate stored with it (over its id; ``QuorumCertificate/genesis(chainID:blockID:)`` for
    /// genesis). `epoch` and `validators` are the root's epoch and set, or the next ones when the root ended its
    /// epoch. The root and its certificate come from the node's own store and are trusted; newer blocks are
    /// learned from peers and committed on top of it. ``SafetyRules`` loads its persisted state from
    /// `persistence`, so a restarted validator never signs against what it signed before.
    public init(
        configuration: ConsensusConfiguration, root: Block, rootCertificate: QuorumCertificate, epoch: UInt64,
        validators: ValidatorSet, signer: any ConsensusSigner, verifier: any SignatureVerifier,
        persistence: any SafetyStatePersistence
    ) throws(SafetyRulesError) {
        try Self.checkRoot(
            root, certificate: rootCertificate, epoch: epoch, validators: validators, chainID: configuration.chainID)
        self.configuration = configuration
        self.safety = try SafetyRules(signer: signer, persistence: persistence)
        self.verifier = verifier
        self.me = signer.publicKey
        self.epoch = epoch
        self.validators = validators
        self.validatorSetHash = validators.hash
        self.rootQC = rootCertificate
        self.highQC = rootCertificate
        self.lastCommitted = root
        self.currentRound = rootCertificate.round
        blocks[root.id] = root
        executed[root.id] = .valid(nextValidators: nil)
        certificates[root.id] = rootCertificate
        committedIDs.insert(root.id)
        prunedBelowHeight = root.header.height
    }

    /// Refuses a root that its certificate does not certify, or that does not belong to `epoch` and `validators`.
    private static func checkRoot(
        _ root: Block, certificate: QuorumCertificate, epoch: UInt64, validators: ValidatorSet, chainID: String
    ) throws(SafetyRulesError) {
        let header = root.header
        guard header.chainID == chainID else {
            throw .invalidRoot(field: "root.header.chainID", reason: "chain \(header.chainID) is not \(chainID)")
        }
        let data = certificate.data
        guard data.chainID == chainID else {
            throw .invalidRoot(field: "rootCertificate.chainID", reason: "chain \(data.chainID) is not \(chainID)")
        }
        guard data.blockID == root.id else {
            throw .invalidRoot(
                field: "rootCertificate.blockID",
                reason: "certifies block \(data.blockID.hex.prefix(16)), not the root \(root.id.hex.prefix(16))")
        }
        guard data.height == header.height, data.round == header.round, data.epoch == header.epoch else {
            throw .invalidRoot(
                field: "rootCertificate.data",
                reason:
                    "height \(data.height), round \(data.round), epoch \(data.epoch) do not match the root's "
                    + "\(header.height), \(header.round), \(header.epoch)")
        }
        if let next = header.nextValidatorSetHash {
            // The root ended its epoch: the node continues in the next one, with the set the root names.
            guard epoch == header.epoch.successor else {
                throw .invalidRoot(
                    field: "epoch",
                    reason: "the root ends epoch \(header.epoch), so the node is in the next, not \(epoch)")
            }
            guard validators.hash == next else {
                throw .invalidRoot(field: "validators", reason: "not the next validator set the root names")
            }
        } else {
            guard epoch == header.epoch else {
                throw .invalidRoot(field: "epoch", reason: "\(epoch) is not the root's epoch \(header.epoch)")
            }
            guard validators.hash == header.validatorSetHash else {
                throw .invalidRoot(field: "validators", reason: "not the validator set the root names")
            }
        }
    }

    /// The genesis block every node of a chain starts from: height 0, round 0, epoch 0, no transactions.
    public static func genesisBlock(chainID: String, validators: ValidatorSet, timestamp: UInt64 = 0) -> Block {
        let header = BlockHeader(
            chainID: chainID, epoch: 0, height: 0, round: 0, parentID: .zero,
            proposer: validators.members[0], timestamp: timestamp, transactionRoot: MerkleHash.emptyRoot,
            transactionCount: 0, incidentLogSize: 0, incidentLogRoot: MerkleHash.emptyRoot,
            stateRoot: .zero, validatorSetHash: validators.hash)
        return Block(header: header, justify: .genesis(chainID: chainID, blockID: header.id), transactions: [])
    }

    /// The leader of `round` in the current epoch: round-robin over the validators in key order.
    public func leader(of round: UInt64) -> Ed25519PublicKey {
        validators.members[Int(round % UInt64(validators.count))]
    }

    /// The safety state as last stored.
    public var safetyState: SafetyState { safety.state }

    private var isValidator: Bool { validators.contains(me) }

    // MARK: Events

    /// Handles one event and returns what to do. A refused event changes no protocol state; its step may still
    /// carry replies (an epoch change proof for a peer that is behind, equivocation evidence).
    public func handle(_ event: ConsensusEvent) -> ConsensusStep {
        var out: [ConsensusAction] = []
        do {
            try handle(event, &out)
            return ConsensusStep(actions: out, rejection: nil)
        } catch {
            return ConsensusStep(actions: out, rejection: error)
        }
    }

    private func handle(_ event: ConsensusEvent, _ out: inout [ConsensusAction]) throws(ConsensusRejection) {
        switch event {
        case .start:
            if currentRound <= highQC.round {
                advanceRound(to: highQC.round.successor, via: nil, &out)
            } else {
                out.append(timer())
            }
        case .message(let message, let sender):
            try handle(message, from: sender, &out)
        case .timerFired(let timerEpoch, let round):
            guard timerEpoch == epoch, round == currentRound, currentRound > 0 else { return }
            localTimeout(&out)
        case .payloadReady(let block):
            try payloadReady(block, &out)
        case .executed(let id, let outcome):
            guard blocks[id] != nil else { throw .unknownBlock(id) }
            guard executed[id] == nil else { return }
            executed[id] = outcome
            voteIfReady(&out)
            retryPending(&out)
        }
    }

    private func handle(_ message: ConsensusMessage, from sender: Ed25519PublicKey, _ out: inout [ConsensusAction])
        throws(ConsensusRejection)
    {
        if let messageEpoch = message.epoch, messageEpoch != epoch {
            if messageEpoch < epoch {
                if let proof = epochProofs[messageEpoch] { out.append(.send(.epochChange(proof), to: sender)) }
                throw .staleEpoch(received: messageEpoch, current: epoch)
            }
            out.append(.send(.epochChangeRequest(epoch: epoch), to: sender))
            throw .futureEpoch(received: messageEpoch, current: epoch)
        }
        switch message {
        case .proposal(let proposal): try handleProposal(proposal, from: sender, &out)
        case .vote(let vote): try handleVote(vote, &out)
        case .timeout(let timeout): try handleTimeout(timeout, &out)
        case .blockRequest(let request): answer(request, from: sender, &out)
        case .blockResponse(let response): try handleBlocks(response, from: sender, &out)
        case .epochChange(let proof): try handleEpochChange(proof, from: sender, &out)
        case .epochChangeRequest(let requested):
            if let proof = epochProofs[requested] { out.append(.send(.epochChange(proof), to: sender)) }
        }
    }

    // MARK: Verification

    private func checkChain(_ chainID: String, field: String) throws(ConsensusRejection) {
        guard chainID == configuration.chainID else { throw .wrongChain(field: field, chainID: chainID) }
    }

    /// Verifies a quorum certificate of the current epoch, or accepts the epoch's root certificate.
    private func verify(_ qc: QuorumCertificate, field: String) throws(ConsensusRejection) {
        // The root certificate certifies committed data; another quorum over the same data is as good.
        if qc.data == rootQC.data || verifiedCertificates.contains(qc) { return }
        try checkChain(qc.data.chainID, field: "\(field).chainID")
        guard qc.data.epoch == epoch else {
            throw .invalidCertificate(field: field, .malformed("epoch \(qc.data.epoch) is not the current \(epoch)"))
        }
        do {
            try verifier.verify(qc, against: validators)
        } catch {
            throw .invalidCertificate(field: field, error)
        }
        verifiedCertificates.insert(qc)
    }

    private func verify(_ tc: TimeoutCertificate, field: String) throws(ConsensusRejection) {
        try checkChain(tc.chainID, field: "\(field).chainID")
        guard tc.epoch == epoch else {
            throw .invalidCertificate(field: field, .malformed("epoch \(tc.epoch) is not the current \(epoch)"))
        }
        do {
            try verifier.verify(tc, against: validators)
        } catch {
            throw .invalidCertificate(field: field, error)
        }
        try verify(tc.highQC, field: "\(field).highQC")
    }

    /// Checks what a block says of itself and its certificate, independent of its parent being known.
    private func verifyBlock(_ block: Block, field: String) throws(ConsensusRejection) {
        let header = block.header
        try checkChain(header.chainID, field: "\(field).header.chainID")
        guard header.epoch == epoch else {
            throw .invalidBlock(field: "\(field).header.epoch", reason: "epoch \(header.epoch), expected \(epoch)")
        }
        do {
            try block.validateStructure()
        } catch {
            throw .malformed(error)
        }
        guard header.validatorSetHash == validatorSetHash else {
            throw .invalidBlock(field: "\(field).header.validatorSetHash", reason: "not the epoch's validator set")
        }
        guard validators.contains(header.proposer) else {
            throw .notAValidator(field: "\(field).header.proposer", key: header.proposer)
        }
        try verify(block.justify, field: "\(field).justify")
    }

    /// Checks a block against its known parent: certificate round, timestamp, and the empty suffix of an epoch.
    private func verifyAgainstParent(_ block: Block, parent: Block, field: String) throws(ConsensusRejection) {
        guard parent.header.round == block.justify.round, follows(block.header.height, parent.header.height) else {
            throw .invalidBlock(field: "\(field).justify", reason: "does not match the parent's round and height")
        }
        guard block.header.timestamp >= parent.header.timestamp else {
            throw .invalidBlock(field: "\(field).header.timestamp", reason: "earlier than the parent's")
        }
        if endsEpoch(parent.id) {
            guard block.transactions.isEmpty, block.header.nextValidatorSetHash == nil else {
                throw .invalidBlock(field: field, reason: "blocks after the end of an epoch must be empty")
            }
        }
    }

    /// Whether the block, or an uncommitted ancestor in the current epoch, ends the epoch.
    private func endsEpoch(_ id: Digest) -> Bool {
        var cursor = blocks[id]
        while let block = cursor, block.header.epoch == epoch, !committedIDs.contains(block.id) {
            if block.header.nextValidatorSetHash != nil { return true }
            cursor = blocks[block.header.parentID]
        }
        return false
    }

    // MARK: Proposals

    private func handleProposal(_ proposal: Proposal, from sender: Ed25519PublicKey, _ out: inout [ConsensusAction])
        throws(ConsensusRejection)
    {
        let block = proposal.block
        let header = block.header
        try verifyBlock(block, field: "proposal.block")
        guard header.proposer == leader(of: header.round) else {
            throw .wrongLeader(round: header.round, expected: leader(of: header.round), received: header.proposer)
        }
        guard
            verifier.isValid(
                proposal.signature, by: header.proposer, for: Proposal.signingBytes(blockID: block.id),
                domain: .proposal)
        else { throw .invalidSignature(field: "proposal.signature", signer: header.proposer) }
        if let tc = proposal.timeoutCertificate {
            guard follows(header.round, tc.round) else {
                throw .unjustifiedRound(round: header.round, reason: "timeout certificate is for round \(tc.round)")
            }
            try verify(tc, field: "proposal.timeoutCertificate")
        } else {
            guard follows(header.round, block.justify.round) else {
                throw .unjustifiedRound(
                    round: header.round,
                    reason: "certificate is for round \(block.justify.round), no timeout certificate")
            }
        }
        // A proposal for a round this node has left is still kept when its block is wanted: a certificate for it
        // (or for a child) came first, as happens when a busy node reads the votes or the next proposal before
        // this one. Dropping it would leave the next leader without a parent to build on until the round timed out.
        let isLate = header.round < currentRound
        guard !isLate || wantedBlocks[block.id] != nil else {
            throw .staleRound(received: header.round, current: currentRound)
        }
        let signed = SignedProposalHeader(header: header, signature: proposal.signature)
        if let earlier = proposalsSeen[header.round]?[header.proposer] {
            if earlier.header.id == block.id {
                if blocks[block.id] != nil {
                    throw .duplicate(field: "proposal", signer: header.proposer, round: header.round)
                }
            } else {
                out.append(.reportEvidence(.proposals(earlier, signed)))
                throw .equivocation(field: "proposal", signer: header.proposer, round: header.round)
            }
        }
        if let parent = blocks[header.parentID] {
            try verifyAgainstParent(block, parent: parent, field: "proposal.block")
        }
        // Everything checked: apply.
        proposalsSeen[header.round, default: [:]][header.proposer] = signed
        process(block.justify, &out)
        if let tc = proposal.timeoutCertificate { process(tc, &out) }
        guard isLate || header.round == currentRound, header.epoch == epoch else { return }
        guard blocks[header.parentID] != nil else {
            pendingProposals[header.parentID] = proposal
            request(header.parentID, height: header.height - 1, from: sender, &out)
            return
        }
        if isLate {
            // Kept for the chain, never voted for: its round is over.
            insert(block, &out)
            retryPending(&out)
            return
        }
        votableProposal = proposal
        insert(block, &out)
        voteIfReady(&out)
    }

    private func payloadReady(_ block: Block, _ out: inout [ConsensusAction]) throws(ConsensusRejection) {
        guard let request = pendingPayload else { throw .unexpectedPayload(reason: "no payload was requested") }
        let header = block.header
        guard request.round == currentRound, request.epoch == epoch else {
            pendingPayload = nil
            throw .unexpectedPayload(reason: "round \(request.round) is over")
        }
        guard header.round == request.round, header.epoch == request.epoch, header.proposer == me,
            header.parentID == request.parent.id, block.justify == request.justify,
            header.validatorSetHash == request.validatorSetHash
        else { throw .unexpectedPayload(reason: "header does not match the request") }
        if request.mustBeEmpty, !block.transactions.isEmpty || header.nextValidatorSetHash != nil {
            throw .unexpectedPayload(reason: "blocks after the end of an epoch must be empty")
        }
        do {
            try block.validateStructure()
        } catch {
            throw .malformed(error)
        }
        guard header.timestamp >= request.parent.timestamp else {
            throw .unexpectedPayload(reason: "timestamp earlier than the parent's")
        }
        let signature: Ed25519Signature
        do {
            signature = try safety.signProposal(block)
        } catch {
            throw .unsafe(error)
        }
        pendingPayload = nil
        let proposal = Proposal(block: block, timeoutCertificate: request.timeoutCertificate, signature: signature)
        proposalsSeen[header.round, default: [:]][me] = SignedProposalHeader(header: header, signature: signature)
        out.append(.broadcast(.proposal(proposal)))
        votableProposal = proposal
        insert(block, &out)
        voteIfReady(&out)
    }

    private func requestPayloadIfLeader(_ out: inout [ConsensusAction]) {
        guard isValidator, leader(of: currentRound) == me, safety.state.epoch <= epoch else { return }
        guard safety.state.epoch < epoch || safety.state.lastProposedRound < currentRound else { return }
        guard let parent = blocks[highQC.blockID] else {
            proposeWhenParentArrives = true
            return
        }
        proposeWhenParentArrives = false
        let tc = follows(currentRound, highQC.round) ? nil : lastTC
        guard follows(currentRound, highQC.round) || tc.map({ follows(currentRound, $0.round) }) == true else { return }
        let request = PayloadRequest(
            epoch: epoch, round: currentRound, parent: parent.header, justify: highQC, timeoutCertificate: tc,
            proposer: me, validatorSetHash: validatorSetHash, mustBeEmpty: endsEpoch(parent.id))
        pendingPayload = request
        out.append(.requestPayload(request))
    }

    // MARK: Votes

    private func voteIfReady(_ out: inout [ConsensusAction]) {
        guard let proposal = votableProposal else { return }
        let block = proposal.block
        guard block.header.round == currentRound, block.header.epoch == epoch else {
            votableProposal = nil
            return
        }
        guard isValidator, case .valid = executed[block.id] else { return }
        votableProposal = nil
        guard let vote = try? safety.signVote(for: block, timeoutCertificate: proposal.timeoutCertificate) else {
            return
        }
        let next = leader(of: block.header.round.successor)
        if next == me {
            _ = try? handleVote(vote, &out)
        } else {
            out.append(.send(.vote(vote), to: next))
        }
    }

    private func handleVote(_ vote: Vote, _ out: inout [ConsensusAction]) throws(ConsensusRejection) {
        let data = vote.data
        try checkChain(data.chainID, field: "vote.data.chainID")
        guard validators.contains(vote.voter) else { throw .notAValidator(field: "vote.voter", key: vote.voter) }
        guard leader(of: data.round.successor) == me else { throw .notNextLeader(round: data.round) }
        guard data.round.successor >= currentRound, data.round > highQC.round else {
            throw .staleRound(received: data.round, current: currentRound)
        }
        guard data.round <= currentRound || data.round - currentRound <= ConsensusLimits.roundsAhead else {
            throw .tooFarAhead(received: data.round, current: currentRound)
        }
        guard verifier.isValid(vote.signature, by: vote.voter, for: data.canonicalBytes, domain: .vote) else {
            throw .invalidSignature(field: "vote.signature", signer: vote.voter)
        }
        if let earlier = votes[data.round]?[vote.voter] {
            if earlier.data == data { throw .duplicate(field: "vote", signer: vote.voter, round: data.round) }
            out.append(.reportEvidence(.votes(earlier, vote)))
            throw .equivocation(field: "vote", signer: vote.voter, round: data.round)
        }
        votes[data.round, default: [:]][vote.voter] = vote
        let agreeing = votes[data.round, default: [:]].values.filter { $0.data == data }
        guard agreeing.count >= validators.quorum else { return }
        let qc = QuorumCertificate(
            data: data, signatures: agreeing.map { ValidatorSignature(signer: $0.voter, signature: $0.signature) })
        verifiedCertificates.insert(qc)
        process(qc, &out)
    }

    // MARK: Timeouts

    private func localTimeout(_ out: inout [ConsensusAction]) {
        out.append(timer())
        guard isValidator else { return }
        let tc = lastTC.map { follows(currentRound, $0.round) } == true ? lastTC : nil
        guard
            let timeout = try? safety.signTimeout(
                chainID: configuration.chainID, epoch: epoch, round: currentRound, highQC: highQC,
                lastTimeoutCertificate: tc)
        else { return }
        out.append(.broadcast(.timeout(TimeoutMessage(timeout: timeout, lastTimeoutCertificate: tc))))
        if timeouts[currentRound]?[me] == nil { collect(timeout, &out) }
    }

    private func handleTimeout(_ message: TimeoutMessage, _ out: inout [ConsensusAction]) throws(ConsensusRejection) {
        let timeout = message.timeout
        let data = timeout.data
        try checkChain(data.chainID, field: "timeout.data.chainID")
        guard validators.contains(timeout.signer) else {
            throw .notAValidator(field: "timeout.signer", key: timeout.signer)
        }
        guard timeout.highQC.round == data.highQCRound, data.highQCRound < data.round else {
            throw .invalidBlock(field: "timeout.highQC", reason: "round does not match the signed high QC round")
        }
        guard verifier.isValid(timeout.signature, by: timeout.signer, for: data.canonicalBytes, domain: .timeout) else {
            throw .invalidSignature(field: "timeout.signature", signer: timeout.signer)
        }
        if let earlier = timeouts[data.round]?[timeout.signer] {
            if earlier == timeout { throw .duplicate(field: "timeout", signer: timeout.signer, round: data.round) }
            throw .equivocation(field: "timeout", signer: timeout.signer, round: data.round)
        }
        try verify(timeout.highQC, field: "timeout.highQC")
        if let tc = message.lastTimeoutCertificate {
            guard follows(data.round, tc.round) else {
                throw .unjustifiedRound(round: data.round, reason: "timeout certificate is for round \(tc.round)")
            }
            try verify(tc, field: "timeout.lastTimeoutCertificate")
        }
        process(timeout.highQC, &out)
        if let tc = message.lastTimeoutCertificate { process(tc, &out) }
        guard data.epoch == epoch else { return }
        // A timeout for a round already passed still brought its certificates; one too far ahead is not kept.
        guard data.round >= currentRound, data.round - currentRound <= ConsensusLimits.roundsAhead else { return }
        collect(timeout, &out)
    }

    private func collect(_ timeout: Timeout, _ out: inout [ConsensusAction]) {
        let round = timeout.data.round
        timeouts[round, default: [:]][timeout.signer] = timeout
        let all = timeouts[round, default: [:]]
        // f + 1 timeouts mean at least one honest validator gave up on the round: join it.
        if round == currentRound, all.count > validators.maxFaulty, all[me] == nil, isValidator {
            localTimeout(&out)
            return
        }
        guard all.count >= validators.quorum, round >= currentRound else { return }
        let highest = all.values.max { $0.highQC.round < $1.highQC.round }!.highQC
        let tc = TimeoutCertificate(
            chainID: configuration.chainID, epoch: epoch, round: round,
            signatures: all.values.map {
                TimeoutSignature(signer: $0.signer, highQCRound: $0.data.highQCRound, signature: $0.signature)
            }, highQC: highest)
        process(tc, &out)
    }

    // MARK: Certificates, rounds and commits

    private func process(_ qc: QuorumCertificate, _ out: inout [ConsensusAction]) {
        guard qc.data.epoch == epoch || qc.data == rootQC.data else { return }
        if certificates[qc.blockID] == nil { certificates[qc.blockID] = qc }
        if qc.round > highQC.round { highQC = qc }
        if blocks[qc.blockID] == nil { wantedBlocks[qc.blockID] = currentRound }
        let epochBefore = epoch
        tryCommit(qc, &out)
        // Committing the end of the epoch started the next one, whose rounds follow the root certificate.
        guard epoch == epochBefore else { return }
        advanceRound(to: qc.round.successor, via: nil, &out)
    }

    private func process(_ tc: TimeoutCertificate, _ out: inout [ConsensusAction]) {
        guard tc.epoch == epoch else { return }
        process(tc.highQC, &out)
        guard tc.epoch == epoch else { return }
        advanceRound(to: tc.round.successor, via: tc, &out)
    }

    private func advanceRound(to round: UInt64, via tc: TimeoutCertificate?, _ out: inout [ConsensusAction]) {
        guard round > currentRound else { return }
        currentRound = round
        lastTC = tc
        pendingPayload = nil
        if let proposal = votableProposal, proposal.block.header.round < round { votableProposal = nil }
        votes = votes.filter { $0.key.successor >= round }
        timeouts = timeouts.filter { $0.key >= round }
        proposalsSeen = proposalsSeen.filter { $0.key >= round - min(round, 8) }
        out.append(timer())
        requestPayloadIfLeader(&out)
    }

    private func timer() -> ConsensusAction {
        let sinceCertificate = currentRound > highQC.round.successor ? currentRound - highQC.round.successor : 0
        let exponent = min(sinceCertificate, configuration.maxBackoffExponent)
        return .setTimer(
            epoch: epoch, round: currentRound, milliseconds: configuration.baseTimeoutMilliseconds << exponent)
    }

    /// Commits by the two-chain rule: a certified block whose parent is in the previous round commits the parent.
    private func tryCommit(_ qc: QuorumCertificate, _ out: inout [ConsensusAction]) {
        guard let certified = blocks[qc.blockID] else { return }
        let target: Block
        if mutation == .commitsOnOneChain {
            target = certified
        } else {
            guard let parent = blocks[certified.header.parentID], follows(certified.header.round, parent.header.round)
            else { return }
            target = parent
        }
        guard target.header.height > lastCommitted.header.height else { return }
        commitChain(upTo: target, certifiedBy: qc, &out)
    }

    private func commitChain(upTo target: Block, certifiedBy qc: QuorumCertificate, _ out: inout [ConsensusAction]) {
        var chain: [Block] = []
        var cursor: Block? = target
        while let block = cursor, block.header.height > lastCommitted.header.height {
            chain.append(block)
            cursor = blocks[block.header.parentID]
        }
        guard let base = cursor else {
            // An ancestor is missing: fetch it and try again when it arrives.
            pendingCommit = qc
            if let missing = chain.last?.header.parentID { wantedBlocks[missing] = currentRound }
            return
        }
        // A chain that does not extend the last committed block would rewrite history: never commit it.
        guard base.id == lastCommitted.id else { return }
        guard chain.allSatisfy({ executed[$0.id] != nil }) else {
            pendingCommit = qc
            return
        }
        if pendingCommit == qc { pendingCommit = nil }
        defer { pruneIfDue() }
        for block in chain.reversed() {
            guard case .valid(let next) = executed[block.id] else { return }
            let certificate = certificates[block.id] ?? qc
            lastCommitted = block
            committedIDs.insert(block.id)
            let size = Self.approximateEncodedSize(of: block)
            committedSizes.append((block.header.height, size))
            committedBytes += size
            verifiedCertificates = verifiedCertificates.filter { $0.round >= block.header.round }
            out.append(.commit(block, certificate: certificate))
            if block.header.epoch == epoch, let hash = block.header.nextValidatorSetHash, let next, next.hash == hash {
                enterNextEpoch(after: block, validators: next, certifiedBy: qc, &out)
                return
            }
        }
    }

    private func enterNextEpoch(
        after last: Block, validators next: ValidatorSet, certifiedBy qc: QuorumCertificate,
        _ out: inout [ConsensusAction]
    ) {
        var descendants: [Block] = []
        var cursor = blocks[qc.blockID]
        while let block = cursor, block.id != last.id {
            descendants.append(block)
            cursor = blocks[block.header.parentID]
        }
        if cursor != nil, let rootCertificate = descendants.last?.justify {
            epochProofs[epoch] = EpochChangeProof(
                lastBlock: last, descendants: descendants.reversed(), certificate: qc, nextValidators: next)
            rootQC = rootCertificate
        } else if let proof = pendingEpochChange, proof.lastBlock.id == last.id {
            epochProofs[epoch] = proof
            rootQC = proof.descendants[0].justify
        } else {
            return
        }
        let proof = epochProofs[epoch]!
        epoch += 1
        validators = next
        highQC = rootQC
        lastTC = nil
        pendingEpochChange = nil
        pendingCommit = nil
        pendingPayload = nil
        votableProposal = nil
        pendingProposals = [:]
        votes = [:]
        timeouts = [:]
        proposalsSeen = [:]
        certificates = [last.id: rootQC]
        verifiedCertificates = []
        currentRound = rootQC.round
        out.append(.enterEpoch(epoch, validators: next))
        out.append(.broadcast(.epochChange(proof)))
        advanceRound(to: rootQC.round.successor, via: nil, &out)
    }

    // MARK: Memory

    /// Gives back epoch-change proofs a node stored before it restarted, so it can still bring peers left in an
    /// earlier epoch across. Proofs of epochs not below the current one are ignored.
    public func restoreEpochChangeProofs(_ proofs: [EpochChangeProof]) {
        for proof in proofs where proof.endingEpoch < epoch && proof.lastBlock.header.nextValidatorSetHash != nil {
            epochProofs[proof.endingEpoch] = proof
        }
    }

    /// How many blocks the core holds in memory: at most ``ConsensusLimits/retainedCommittedBlocks`` (plus one
    /// pruning batch) below the last committed block, and the uncommitted blocks above it.
    public var retainedBlockCount: Int { blocks.count }

    /// The size of every per-block or per-request table, for tests that check memory stays bounded.
    package var retainedEntryCounts: [String: Int] {
        [
            "blocks": blocks.count, "executed": executed.count, "certificates": certificates.count,
            "verifiedCertificates": verifiedCertificates.count, "committedIDs": committedIDs.count,
            "pendingProposals": pendingProposals.count, "wantedBlocks": wantedBlocks.count,
            "committedSizes": committedSizes.count - committedSizesStart,
            "orphanSegments": orphanSegments.count, "epochProofs": epochProofs.count, "votes": votes.count,
            "timeouts": timeouts.count, "proposalsSeen": proposalsSeen.count,
        ]
    }

    /// Heights committed between two pruning passes, so a pass (a scan of the tables) runs once per batch.
    private static let pruneBatch: UInt64 = 32

    /// Drops blocks more than ``ConsensusLimits/retainedCommittedBlocks`` below the last committed one, or older
    /// than the newest ``ConsensusConfiguration/retainedCommittedBytes`` of committed blocks, with their outcomes
    /// and certificates, and requests and proofs that can no longer be used.
    private func pruneIfDue() {
        let height = lastCommitted.header.height
        let retained = ConsensusLimits.retainedCommittedBlocks
        var floor = height > retained ? height - retained : 0
        // Past the byte budget by a quarter (so a pass does not run on every commit), drop down to the budget.
        let budget = configuration.retainedCommittedBytes
        var overBudget = false
        if committedBytes > budget + budget / 4 {
            overBudget = true
            var bytes = committedBytes
            var index = committedSizesStart
            while bytes > budget, index < committedSizes.count - 1 {
                bytes -= committedSizes[index].bytes
                index += 1
            }
            floor = max(floor, committedSizes[index].height)
        }
        guard floor > prunedBelowHeight, overBudget || floor >= prunedBelowHeight + Self.pruneBatch else { return }
        prunedBelowHeight = floor
        while committedSizesStart < committedSizes.count, committedSizes[committedSizesStart].height < floor {
            committedBytes -= committedSizes[committedSizesStart].bytes
            committedSizesStart += 1
        }
        if committedSizesStart > 64, committedSizesStart * 2 > committedSizes.count {
            committedSizes.removeFirst(committedSizesStart)
            committedSizesStart = 0
        }
        for (id, block) in blocks where block.header.height < floor {
            blocks.removeValue(forKey: id)
            executed.removeValue(forKey: id)
            committedIDs.remove(id)
        }
        certificates = certificates.filter { $0.value.data.height >= floor }
        pendingProposals = pendingProposals.filter {
            $0.value.block.header.round >= currentRound && $0.value.block.header.height > floor
        }
        orphanSegments = orphanSegments.filter { ($0.value.first?.header.height ?? 0) > floor }
        let oldestWanted = currentRound - min(currentRound, ConsensusLimits.roundsAhead)
        wantedBlocks = wantedBlocks.filter { $0.value >= oldestWanted }
        // The latest proof stays, for peers still in the previous epoch; older ones once their blocks are gone.
        let latestProof = epochProofs.keys.max()
        epochProofs = epochProofs.filter { $0.key == latestProof || $0.value.lastBlock.header.height >= floor }
    }

    // MARK: Block and epoch sync

    private func insert(_ block: Block, _ out: inout [ConsensusAction]) {
        guard blocks[block.id] == nil else { return }
        blocks[block.id] = block
        wantedBlocks.removeValue(forKey: block.id)
        out.append(.execute(block))
        if let qc = certificates[block.id] { tryCommit(qc, &out) }
        if let child = pendingProposals.removeValue(forKey: block.id) {
            _ = try? handleProposal(child, from: block.header.proposer, &out)
        }
    }

    /// Asks `peer` for block `id` and its ancestors: down to the committed height when the block's `height` is
    /// known (blocks below it are never used), else as many as one response holds.
    private func request(
        _ id: Digest, height: UInt64? = nil, from peer: Ed25519PublicKey, _ out: inout [ConsensusAction]
    ) {
        wantedBlocks[id] = currentRound
        guard peer != me else { return }
        var count = UInt64(ConsensusLimits.blocksPerResponse)
        if let height, height > lastCommitted.header.height {
            count = min(count, height - lastCommitted.header.height)
        }
        out.append(.send(.blockRequest(BlockRequest(blockID: id, count: count)), to: peer))
    }

    private func answer(_ request: BlockRequest, from peer: Ed25519PublicKey, _ out: inout [ConsensusAction]) {
        var chain: [Block] = []
        var bytes = 0
        var cursor = blocks[request.blockID]
        let limit = Int(min(request.count, UInt64(ConsensusLimits.blocksPerResponse)))
        while let block = cursor, chain.count < limit {
            // A response over the frame limit would be dropped whole, and the asking node would get nothing.
            bytes += Self.approximateEncodedSize(of: block)
            if !chain.isEmpty, bytes > configuration.maxResponseBytes { break }
            chain.append(block)
            cursor = block.header.height == 0 ? nil : blocks[block.header.parentID]
        }
        if !chain.isEmpty { out.append(.send(.blockResponse(chain), to: peer)) }
    }

    /// An upper estimate of `block`'s canonical size, without encoding it: its transactions' bytes, with room for
    /// their length prefixes, the header and the certificate.
    package static func approximateEncodedSize(of block: Block) -> Int {
        block.transactions.reduce(1024 + 128 * block.justify.signatures.count) { $0 + $1.canonicalBytes.count + 8 }
    }

    private func handleBlocks(_ chain: [Block], from peer: Ed25519PublicKey, _ out: inout [ConsensusAction])
        throws(ConsensusRejection)
    {
        guard let newest = chain.first, wantedBlocks[newest.id] != nil else { throw .unrequestedBlocks }
        for i in chain.indices.dropFirst() where chain[i - 1].header.parentID != chain[i].id {
            throw .invalidBlock(field: "blockResponse[\(i)]", reason: "is not the parent of the block before it")
        }
        // Keep the part of the chain this epoch can check; older blocks are already committed here.
        var usable: [Block] = []
        for (i, block) in chain.enumerated() {
            if blocks[block.id] != nil { break }
            // Unknown blocks at or below the committed height are pruned ones or conflicting forks: never useful.
            if block.header.epoch != epoch || block.header.height <= lastCommitted.header.height { break }
            try verifyBlock(block, field: "blockResponse[\(i)]")
            usable.append(block)
        }
        guard let oldest = usable.last else { return }
        guard let parent = blocks[oldest.header.parentID] else {
            guard oldest.header.height > lastCommitted.header.height.successor else {
                throw .invalidBlock(field: "blockResponse", reason: "does not extend the last committed block")
            }
            // Keep the verified segment until its ancestors arrive, so a far-behind node gains a whole
            // response per round trip.
            if orphanSegments.count >= ConsensusLimits.orphanSegments { orphanSegments.removeAll() }
            orphanSegments[oldest.header.parentID] = usable.reversed()
            request(oldest.header.parentID, height: oldest.header.height - 1, from: peer, &out)
            return
        }
        var segment: [Block] = usable.reversed()
        var previous = parent
        while true {
            for block in segment {
                try verifyAgainstParent(block, parent: previous, field: "blockResponse")
                previous = block
            }
            for block in segment where block.header.epoch == epoch {
                process(block.justify, &out)
                insert(block, &out)
            }
            guard let next = orphanSegments.removeValue(forKey: previous.id), blocks[previous.id] != nil else { break }
            segment = next
        }
        retryPending(&out)
    }

    private func handleEpochChange(
        _ proof: EpochChangeProof, from peer: Ed25519PublicKey, _ out: inout [ConsensusAction]
    )
        throws(ConsensusRejection)
    {
        guard proof.endingEpoch == epoch else {
            if proof.endingEpoch > epoch { out.append(.send(.epochChangeRequest(epoch: epoch), to: peer)) }
            return
        }
        let last = proof.lastBlock
        guard let hash = last.header.nextValidatorSetHash, hash == proof.nextValidators.hash else {
            throw .invalidEpochChange(reason: "the last block does not name the next validator set")
        }
        guard let first = proof.descendants.first, let certified = proof.descendants.last,
            proof.descendants.count <= ConsensusLimits.blocksPerResponse
        else { throw .invalidEpochChange(reason: "no descendants") }
        try verifyBlock(last, field: "epochChange.lastBlock")
        var previous = last
        for (i, block) in proof.descendants.enumerated() {
            try verifyBlock(block, field: "epochChange.descendants[\(i)]")
            guard block.header.parentID == previous.id else {
                throw .invalidEpochChange(reason: "descendant \(i) does not extend the block before it")
            }
            previous = block
        }
        let committedParent = proof.descendants.count >= 2 ? proof.descendants[proof.descendants.count - 2] : last
        guard proof.certificate.blockID == certified.id, proof.certificate.data.height == certified.header.height,
            proof.certificate.round == certified.header.round,
            follows(certified.header.round, committedParent.header.round), first.justify.blockID == last.id
        else { throw .invalidEpochChange(reason: "the certificate does not commit the last block") }
        try verify(proof.certificate, field: "epochChange.certificate")
        pendingEpochChange = proof
        if blocks[last.id] == nil, blocks[last.header.parentID] == nil {
            request(last.header.parentID, from: peer, &out)
        }
        retryPending(&out)
    }

    private func retryPending(_ out: inout [ConsensusAction]) {
        if let proof = pendingEpochChange {
            if blocks[proof.lastBlock.id] == nil, let parent = blocks[proof.lastBlock.header.parentID],
                (try? verifyAgainstParent(proof.lastBlock, parent: parent, field: "epochChange.lastBlock")) != nil
            {
                process(proof.lastBlock.justify, &out)
                insert(proof.lastBlock, &out)
            }
            if blocks[proof.lastBlock.id] != nil, executed[proof.lastBlock.id] != nil {
                certificates[proof.lastBlock.id] = proof.descendants[0].justify
                if case .valid = executed[proof.lastBlock.id] {
                    executed[proof.lastBlock.id] = .valid(nextValidators: proof.nextValidators)
                }
                commitChain(upTo: proof.lastBlock, certifiedBy: proof.certificate, &out)
            }
        }
        if let qc = pendingCommit { tryCommit(qc, &out) }
        if proposeWhenParentArrives, blocks[highQC.blockID] != nil { requestPayloadIfLeader(&out) }
    }
}

/// Whether `later` is the round (or height) right after `earlier`, without overflowing on hostile values.
func follows(_ later: UInt64, _ earlier: UInt64) -> Bool { later > earlier && later - earlier == 1 }

extension UInt64 {
    /// The next value, saturating at the maximum so hostile rounds never trap.
    var successor: UInt64 { self == .max ? .max : self + 1 }
}
