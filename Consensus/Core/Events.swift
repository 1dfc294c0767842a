public import EnsureCrypto
public import Ledger

/// What the application says about a block it executed.
public enum ExecutionOutcome: Hashable, Sendable {
    /// The block's header matches its execution. `nextValidators` is the next epoch's set when the block ends an
    /// epoch (its hash must be the header's ``BlockHeader/nextValidatorSetHash``).
    case valid(nextValidators: ValidatorSet?)
    /// The block does not match its execution; the core will not vote for it.
    case invalid(reason: String)
}

/// What the leader asks the application to build: a block on `parent`, justified by `justify`.
public struct PayloadRequest: Hashable, Sendable {
    /// The epoch of the block.
    public let epoch: UInt64
    /// The round of the block.
    public let round: UInt64
    /// The parent's header (the block `justify` certifies).
    public let parent: BlockHeader
    /// The certificate the block carries.
    public let justify: QuorumCertificate
    /// The timeout certificate of the previous round, when `justify` is not for it.
    public let timeoutCertificate: TimeoutCertificate?
    /// The proposer (this validator).
    public let proposer: Ed25519PublicKey
    /// The hash of the epoch's validator set, for ``BlockHeader/validatorSetHash``.
    public let validatorSetHash: Digest
    /// True after the block that ends the epoch: the block must carry no transactions and no next validator set.
    public let mustBeEmpty: Bool

    /// Creates a request.
    public init(
        epoch: UInt64, round: UInt64, parent: BlockHeader, justify: QuorumCertificate,
        timeoutCertificate: TimeoutCertificate?, proposer: Ed25519PublicKey, validatorSetHash: Digest, mustBeEmpty: Bool
    ) {
        self.epoch = epoch
        self.round = round
        self.parent = parent
        self.justify = justify
        self.timeoutCertificate = timeoutCertificate
        self.proposer = proposer
        self.validatorSetHash = validatorSetHash
        self.mustBeEmpty = mustBeEmpty
    }
}

/// An input to ``ConsensusCore``.
public enum ConsensusEvent: Hashable, Sendable {
    /// The node started (or restarted): the core arms its first timer and, if it leads, asks for a payload.
    case start
    /// A message arrived from an authenticated peer.
    case message(ConsensusMessage, from: Ed25519PublicKey)
    /// A timer set by ``ConsensusAction/setTimer(epoch:round:milliseconds:)`` fired.
    case timerFired(epoch: UInt64, round: UInt64)
    /// The application built the block asked for by ``ConsensusAction/requestPayload(_:)``.
    case payloadReady(Block)
    /// The application executed a block asked for by ``ConsensusAction/execute(_:)``.
    case executed(blockID: Digest, ExecutionOutcome)
}

/// An output of ``ConsensusCore``: what the node must do.
public enum ConsensusAction: Hashable, Sendable {
    /// Send a message to one validator.
    case send(ConsensusMessage, to: Ed25519PublicKey)
    /// Send a message to every peer.
    case broadcast(ConsensusMessage)
    /// Fire ``ConsensusEvent/timerFired(epoch:round:)`` after `milliseconds`; a later timer replaces it.
    case setTimer(epoch: UInt64, round: UInt64, milliseconds: UInt64)
    /// Build a block for this leader's round.
    case requestPayload(PayloadRequest)
    /// Execute a block (after its parent) and report ``ConsensusEvent/executed(blockID:_:)``.
    case execute(Block)
    /// The block is final; `certificate` certifies it. Commits come in height order.
    case commit(Block, certificate: QuorumCertificate)
    /// The node moved into `epoch`, whose validators are `validators`.
    case enterEpoch(UInt64, validators: ValidatorSet)
    /// A validator equivocated; the evidence verifies on its own.
    case reportEvidence(EquivocationEvidence)
}

/// The result of one ``ConsensusCore/handle(_:)``: the actions to perform, in order, and why the event was
/// refused, if it was.
public struct ConsensusStep: Equatable, Sendable {
    /// What the node must do.
    public var actions: [ConsensusAction]
    /// Why the event was refused; nil when it was accepted.
    public var rejection: ConsensusRejection?

    /// Creates a step.
    public init(actions: [ConsensusAction], rejection: ConsensusRejection?) {
        self.actions = actions
        self.rejection = rejection
    }
}
