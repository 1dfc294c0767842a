public import Codec
public import EnsureCrypto
public import Ledger

/// What a validator must remember to never sign two conflicting messages: written durably before any signature
/// leaves ``SafetyRules``.
public struct SafetyState: Hashable, Sendable {
    /// The only version this build writes and reads.
    public static let version: UInt8 = 1
    /// The epoch the rounds below belong to; a later epoch starts from zero.
    public var epoch: UInt64
    /// The highest round this key voted in, or timed out in: after a timeout it never votes in that round.
    public var lastVotedRound: UInt64
    /// The preferred round: the highest certificate round among the blocks this key voted for or timed out with.
    /// A timeout must carry a certificate at least this high.
    public var preferredRound: UInt64
    /// The highest round this key signed a timeout for.
    public var lastTimeoutRound: UInt64
    /// The highest round this key signed a proposal for.
    public var lastProposedRound: UInt64
    /// The last vote signed, re-sent unchanged if asked again for the same block.
    public var lastVote: Vote?
    /// The last timeout signed, re-sent unchanged if asked again for the same round.
    public var lastTimeout: Timeout?

    /// The state of a key that never signed anything in `epoch`.
    public static func initial(epoch: UInt64) -> SafetyState {
        SafetyState(
            epoch: epoch, lastVotedRound: 0, preferredRound: 0, lastTimeoutRound: 0, lastProposedRound: 0,
            lastVote: nil, lastTimeout: nil)
    }
}

extension SafetyState: CanonicalCodable {
    public static var maxEncodedSize: Int { 64 + Vote.maxEncodedSize + Timeout.maxEncodedSize }

    public func encode(to writer: inout CanonicalWriter) {
        writer.writeByte(Self.version)
        writer.writeVarUInt(epoch)
        writer.writeVarUInt(lastVotedRound)
        writer.writeVarUInt(preferredRound)
        writer.writeVarUInt(lastTimeoutRound)
        writer.writeVarUInt(lastProposedRound)
        writer.writeOptional(lastVote) { $0.write($1) }
        writer.writeOptional(lastTimeout) { $0.write($1) }
    }

    public init(from reader: inout CanonicalReader, field: String) throws(CanonicalDecodingError) {
        _ = try reader.readVersion(field: "\(field).version", supported: Self.version...Self.version)
        epoch = try reader.readVarUInt(field: "\(field).epoch")
        lastVotedRound = try reader.readVarUInt(field: "\(field).lastVotedRound")
        preferredRound = try reader.readVarUInt(field: "\(field).preferredRound")
        lastTimeoutRound = try reader.readVarUInt(field: "\(field).lastTimeoutRound")
        lastProposedRound = try reader.readVarUInt(field: "\(field).lastProposedRound")
        lastVote = try reader.readOptional(field: "\(field).lastVote") {
            (r: inout CanonicalReader) throws(CanonicalDecodingError) in
            try r.read(Vote.self, field: "\(field).lastVote")
        }
        lastTimeout = try reader.readOptional(field: "\(field).lastTimeout") {
            (r: inout CanonicalReader) throws(CanonicalDecodingError) in
            try r.read(Timeout.self, field: "\(field).lastTimeout")
        }
    }
}

/// Why the safety state could not be read or written.
public struct SafetyPersistenceError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What went wrong, naming the store (file, key) involved.
    public let reason: String

    /// Creates an error.
    public init(_ reason: String) { self.reason = reason }

    public var description: String { "safety state persistence: \(reason)" }
}

/// Durable storage of one validator's ``SafetyState``. ``store(_:)`` returns only once the state would survive a
/// crash (a synced write on a node).
public protocol SafetyStatePersistence: AnyObject {
    /// The stored state, or nil when nothing was ever stored.
    func load() throws(SafetyPersistenceError) -> SafetyState?
    /// Stores the state durably.
    func store(_ state: SafetyState) throws(SafetyPersistenceError)
}

/// A ``SafetyStatePersistence`` in memory: for tests and for the simulator, which keeps it across simulated crashes.
public final class InMemorySafetyStatePersistence: SafetyStatePersistence {
    /// The stored state.
    public private(set) var state: SafetyState?
    /// How many times the state was stored.
    public private(set) var storeCount = 0
    /// When set, the store with this number (counting from 1) fails and every later store fails too: the
    /// process "dies" before the write lands.
    public var failFromStore: Int?

    /// Starts empty, or with `state`.
    public init(state: SafetyState? = nil) { self.state = state }

    /// Returns the stored state.
    public func load() throws(SafetyPersistenceError) -> SafetyState? { state }

    /// Stores the state unless a failure was injected.
    public func store(_ newState: SafetyState) throws(SafetyPersistenceError) {
        if let failFromStore, storeCount + 1 >= failFromStore {
            throw SafetyPersistenceError("injected failure at store \(storeCount + 1)")
        }
        storeCount += 1
        state = newState
    }
}

/// Why ``SafetyRules`` refused to sign.
public enum SafetyRulesError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The request is for an epoch older than the one the key already signed in.
    case staleEpoch(requested: UInt64, current: UInt64)
    /// The key already voted in this round or a later one.
    case alreadyVoted(round: UInt64, lastVotedRound: UInt64)
    /// The key already proposed in this round or a later one.
    case alreadyProposed(round: UInt64, lastProposedRound: UInt64)
    /// The key already signed a timeout for a later round.
    case alreadyTimedOut(round: UInt64, lastTimeoutRound: UInt64)
    /// The block does not extend a certificate of the previous round, nor a timeout certificate of the previous
    /// round with a certificate at least as high as any its signers reported.
    case unsafeToVote(round: UInt64, certificateRound: UInt64, reason: String)
    /// The timeout's certificate is below the preferred round, or the round does not follow a certificate.
    case unsafeToTimeout(round: UInt64, highQCRound: UInt64, reason: String)
    /// The state could not be read or written; nothing was signed.
    case persistence(SafetyPersistenceError)
    /// The block a core was asked to resume from does not match its certificate, chain, epoch or validators;
    /// `field` names what was wrong.
    case invalidRoot(field: String, reason: String)

    public var description: String {
        switch self {
        case .staleEpoch(let requested, let current): return "refused to sign for epoch \(requested) after \(current)"
        case .alreadyVoted(let round, let last): return "refused to vote in round \(round): already voted in \(last)"
        case .alreadyProposed(let round, let last):
            return "refused to propose in round \(round): already proposed in \(last)"
        case .alreadyTimedOut(let round, let last):
            return "refused to time out round \(round): already timed out in \(last)"
        case .unsafeToVote(let round, let qcRound, let reason):
            return "refused to vote in round \(round) on a certificate of round \(qcRound): \(reason)"
        case .unsafeToTimeout(let round, let hqc, let reason):
            return "refused to time out round \(round) with a certificate of round \(hqc): \(reason)"
        case .persistence(let error): return "refused to sign: \(error)"
        case .invalidRoot(let field, let reason):
            return "refused to resume from the committed root: \(field): \(reason)"
        }
    }
}

/// A deliberately broken rule, compiled into the package only so that tests can prove the simulator's checks
/// catch real bugs. Never set outside tests and the checker benchmark.
package enum ConsensusMutation: String, Sendable, CaseIterable {
    /// The voter skips the extension rule: it votes for any block in a higher round, whatever certificate the
    /// block extends, ignoring the preferred round that timeouts carry.
    case votesIgnoringExtensionRule = "votes-ignoring-extension-rule"
    /// A block is committed as soon as it is certified (a one-chain), instead of when its child in the next
    /// round is certified.
    case commitsOnOneChain = "commits-on-one-chain"
    /// Signing a timeout for a round does not stop the key from voting in that round afterwards, so a timeout
    /// certificate's high QC may no longer cover a quorum certificate of the same round.
    case votesAfterTimeout = "votes-after-timeout"
}

/// The only component that signs consensus messages. Each signature is checked against the rules of two-chain
/// HotStuff and the updated ``SafetyState`` is stored through ``SafetyStatePersistence`` before it is returned,
/// so a validator that restarts at any point never signs two conflicting messages.
public final class SafetyRules {
    private let signer: any ConsensusSigner
    private let persistence: any SafetyStatePersistence
    /// The state as last stored.
    public private(set) var state: SafetyState
    package var mutation: ConsensusMutation?

    /// Loads the state (or starts from epoch 0) and signs with `signer`.
    public init(signer: any ConsensusSigner, persistence: any SafetyStatePersistence) throws(SafetyRulesError) {
        self.signer = signer
        self.persistence = persistence
        do {
            self.state = try persistence.load() ?? .initial(epoch: 0)
        } catch {
            throw .persistence(error)
        }
    }

    /// The key whose signatures these rules guard.
    public var publicKey: Ed25519PublicKey { signer.publicKey }

    /// The state to build on for `epoch`: a later epoch starts afresh, an earlier one is refused.
    private func state(for epoch: UInt64) throws(SafetyRulesError) -> SafetyState {
        if epoch < state.epoch { throw .staleEpoch(requested: epoch, current: state.epoch) }
        return epoch > state.epoch ? .initial(epoch: epoch) : state
    }

    private func commit(_ next: SafetyState) throws(SafetyRulesError) {
        do {
            try persistence.store(next)
        } catch {
            throw .persistence(error)
        }
        state = next
    }

    /// Signs a proposal of `block`: at most one per round.
    public func signProposal(_ block: Block) throws(SafetyRulesError) -> Ed25519Signature {
        var next = try state(for: block.header.epoch)
        guard block.header.round > next.lastProposedRound else {
            throw .alreadyProposed(round: block.header.round, lastProposedRound: next.lastProposedRound)
        }
        next.lastProposedRound = block.header.round
        try commit(next)
        return signer.sign(Proposal.signingBytes(blockID: block.id), domain: .proposal)
    }

    /// Signs a vote for `block` if the voting rule allows: the round is above the last voted round, and the block
    /// extends a certificate of the previous round, or a timeout certificate of the previous round with a
    /// certificate at least as high as any its signers reported.
    public func signVote(for block: Block, timeoutCertificate: TimeoutCertificate?) throws(SafetyRulesError) -> Vote {
        let header = block.header
        let data = VoteData(
            chainID: header.chainID, epoch: header.epoch, round: header.round, height: header.height, blockID: block.id)
        var next = try state(for: header.epoch)
        if let last = next.lastVote, last.data == data { return last }
        guard header.round > next.lastVotedRound else {
            throw .alreadyVoted(round: header.round, lastVotedRound: next.lastVotedRound)
        }
        let qcRound = block.justify.round
        if mutation != .votesIgnoringExtensionRule {
            let extendsCertificate = follows(header.round, qcRound)
            var extendsTimeout = false
            if let tc = timeoutCertificate {
                guard follows(header.round, tc.round) else {
                    throw .unsafeToVote(
                        round: header.round, certificateRound: qcRound,
                        reason: "timeout certificate is for round \(tc.round), not the previous round")
                }
                extendsTimeout = qcRound >= tc.maxHighQCRound
            }
            guard extendsCertificate || extendsTimeout else {
                throw .unsafeToVote(
                    round: header.round, certificateRound: qcRound,
                    reason: timeoutCertificate == nil
                        ? "not the previous round and no timeout certificate"
                        : "certificate is below the highest one the timeout certificate reports")
            }
        }
        next.lastVotedRound = header.round
        next.preferredRound = max(next.preferredRound, qcRound)
        let vote = Vote(data: data, voter: signer.publicKey, signature: signer.sign(data.canonicalBytes, domain: .vote))
        next.lastVote = vote
        try commit(next)
        return vote
    }

    /// Signs a timeout for `round` carrying `highQC` if the rules allow: the certificate is at least the preferred
    /// round, the round follows that certificate or `lastTimeoutCertificate`, and no later timeout was signed. Asked
    /// again for the round it last timed out, it returns that same timeout.
    public func signTimeout(
        chainID: String, epoch: UInt64, round: UInt64, highQC: QuorumCertificate,
        lastTimeoutCertificate: TimeoutCertificate?
    ) throws(SafetyRulesError) -> Timeout {
        var next = try state(for: epoch)
        if let last = next.lastTimeout, last.data.round == round, last.data.epoch == epoch { return last }
        guard round > next.lastTimeoutRound else {
            throw .alreadyTimedOut(round: round, lastTimeoutRound: next.lastTimeoutRound)
        }
        guard highQC.round >= next.preferredRound else {
            throw .unsafeToTimeout(
                round: round, highQCRound: highQC.round, reason: "below the preferred round \(next.preferredRound)")
        }
        guard round >= next.lastVotedRound, round > highQC.round else {
            throw .unsafeToTimeout(round: round, highQCRound: highQC.round, reason: "round already passed")
        }
        let followsQC = follows(round, highQC.round)
        let followsTC = lastTimeoutCertificate.map { follows(round, $0.round) } ?? false
        guard followsQC || followsTC else {
            throw .unsafeToTimeout(
                round: round, highQCRound: highQC.round, reason: "round follows neither the certificate nor a timeout")
        }
        let data = TimeoutData(chainID: chainID, epoch: epoch, round: round, highQCRound: highQC.round)
        let timeout = Timeout(
            data: data, signer: signer.publicKey, signature: signer.sign(data.canonicalBytes, domain: .timeout),
            highQC: highQC)
        next.lastTimeoutRound = round
        // Having timed out `round`, never vote in it: a timeout certificate and a quorum certificate for one round
        // then share an honest signer that voted before it timed out, so the TC's high QC covers what the QC extends.
        if mutation != .votesAfterTimeout { next.lastVotedRound = max(next.lastVotedRound, round) }
        next.preferredRound = max(next.preferredRound, highQC.round)
        next.lastTimeout = timeout
        try commit(next)
        return timeout
    }
}
