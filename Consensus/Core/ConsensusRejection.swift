public import Codec
public import EnsureCrypto
public import Ledger

/// Why the core refused an input. Nothing in the core's state changes when an input is refused.
public enum ConsensusRejection: Error, Equatable, Sendable, CustomStringConvertible {
    /// The message is for another chain.
    case wrongChain(field: String, chainID: String)
    /// The message is for an epoch this node has left.
    case staleEpoch(received: UInt64, current: UInt64)
    /// The message is for an epoch this node has not reached yet (it asked the sender for the epoch change).
    case futureEpoch(received: UInt64, current: UInt64)
    /// The message's contents are malformed.
    case malformed(CanonicalDecodingError)
    /// The signer is not a validator of the epoch.
    case notAValidator(field: String, key: Ed25519PublicKey)
    /// The proposal is not from the round's leader.
    case wrongLeader(round: UInt64, expected: Ed25519PublicKey, received: Ed25519PublicKey)
    /// A signature does not verify.
    case invalidSignature(field: String, signer: Ed25519PublicKey)
    /// A certificate does not hold.
    case invalidCertificate(field: String, CertificateError)
    /// The message is for a round this node has passed.
    case staleRound(received: UInt64, current: UInt64)
    /// The message is for a round too far ahead of this node's to be kept (see ``ConsensusLimits/roundsAhead``).
    case tooFarAhead(received: UInt64, current: UInt64)
    /// The proposal's round does not follow its certificates.
    case unjustifiedRound(round: UInt64, reason: String)
    /// This node would not sign for it (see ``SafetyRulesError``).
    case unsafe(SafetyRulesError)
    /// The vote is for a round this node does not lead the next of.
    case notNextLeader(round: UInt64)
    /// The same vote or timeout arrived again.
    case duplicate(field: String, signer: Ed25519PublicKey, round: UInt64)
    /// The signer sent a different message for a round it already signed one for (evidence was reported when
    /// it was a vote or a proposal).
    case equivocation(field: String, signer: Ed25519PublicKey, round: UInt64)
    /// The block does not fit its parent or its epoch.
    case invalidBlock(field: String, reason: String)
    /// The built block is not what was asked for.
    case unexpectedPayload(reason: String)
    /// The epoch change proof does not hold.
    case invalidEpochChange(reason: String)
    /// Blocks that nobody asked for.
    case unrequestedBlocks
    /// An execution result for a block the core does not know.
    case unknownBlock(Digest)

    public var description: String {
        switch self {
        case .wrongChain(let field, let chain): return "\(field): chain \(chain) is not this chain"
        case .staleEpoch(let r, let c): return "message for epoch \(r), already in epoch \(c)"
        case .futureEpoch(let r, let c): return "message for epoch \(r), still in epoch \(c)"
        case .malformed(let error): return "malformed: \(error)"
        case .notAValidator(let field, let key): return "\(field): \(key.keyID) is not a validator of the epoch"
        case .wrongLeader(let round, let expected, let received):
            return "round \(round) is led by \(expected.keyID), not \(received.keyID)"
        case .invalidSignature(let field, let signer): return "\(field): signature by \(signer.keyID) does not verify"
        case .invalidCertificate(let field, let error): return "\(field): \(error)"
        case .staleRound(let r, let c): return "message for round \(r), already in round \(c)"
        case .tooFarAhead(let r, let c): return "message for round \(r), too far ahead of round \(c)"
        case .unjustifiedRound(let round, let reason): return "round \(round) is not justified: \(reason)"
        case .unsafe(let error): return "\(error)"
        case .notNextLeader(let round):
            return "vote for round \(round) sent to a validator not leading round \(round + 1)"
        case .duplicate(let field, let signer, let round):
            return "\(field): duplicate from \(signer.keyID) for round \(round)"
        case .equivocation(let field, let signer, let round):
            return "\(field): \(signer.keyID) signed two different messages for round \(round)"
        case .invalidBlock(let field, let reason): return "\(field): \(reason)"
        case .unexpectedPayload(let reason): return "built block refused: \(reason)"
        case .invalidEpochChange(let reason): return "epoch change refused: \(reason)"
        case .unrequestedBlocks: return "blocks received that were not requested"
        case .unknownBlock(let id): return "execution result for unknown block \(id.hex.prefix(16))"
        }
    }
}
