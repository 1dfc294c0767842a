import Codec
public import EnsureCrypto
public import Ledger

/// A block header with its proposer's signature over the header's id: one half of proposal equivocation evidence.
public struct SignedProposalHeader: Hashable, Sendable {
    /// The proposed header.
    public let header: BlockHeader
    /// The proposer's signature over the header id (``SigningDomain/proposal``).
    public let signature: Ed25519Signature

    /// Pairs a header with its signature.
    public init(header: BlockHeader, signature: Ed25519Signature) {
        self.header = header
        self.signature = signature
    }
}

/// Why equivocation evidence does not hold.
public enum EvidenceError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The two messages are from different validators.
    case differentSigners
    /// The two messages are for different epochs or rounds.
    case differentRounds
    /// The two messages are for the same block: no conflict.
    case sameBlock
    /// A signature does not verify.
    case invalidSignature(signer: Ed25519PublicKey)
    /// The offender is not in the epoch's validator set.
    case notAValidator(Ed25519PublicKey)

    public var description: String {
        switch self {
        case .differentSigners: return "evidence messages are signed by different validators"
        case .differentRounds: return "evidence messages are for different epochs or rounds"
        case .sameBlock: return "evidence messages are for the same block"
        case .invalidSignature(let key): return "evidence signature by \(key.keyID) does not verify"
        case .notAValidator(let key): return "evidence offender \(key.keyID) is not a validator"
        }
    }
}

/// Two different signed votes, or two different signed proposals, from one validator for one round of one epoch:
/// self-contained proof of misbehaviour that any node holding the validator set can check.
public enum EquivocationEvidence: Hashable, Sendable {
    /// Two votes for different blocks in one round.
    case votes(Vote, Vote)
    /// Two proposals of different blocks in one round.
    case proposals(SignedProposalHeader, SignedProposalHeader)

    /// The validator that signed both.
    public var offender: Ed25519PublicKey {
        switch self {
        case .votes(let a, _): return a.voter
        case .proposals(let a, _): return a.header.proposer
        }
    }

    /// The round both messages are for.
    public var round: UInt64 {
        switch self {
        case .votes(let a, _): return a.data.round
        case .proposals(let a, _): return a.header.round
        }
    }

    /// Checks that both messages are signed by one member of `validators`, for one epoch and round, and differ.
    public func verify(against validators: ValidatorSet, verifier: any SignatureVerifier) throws(EvidenceError) {
        switch self {
        case .votes(let a, let b):
            guard a.voter == b.voter else { throw .differentSigners }
            guard a.data.chainID == b.data.chainID, a.data.epoch == b.data.epoch, a.data.round == b.data.round else {
                throw .differentRounds
            }
            guard a.data != b.data else { throw .sameBlock }
            guard validators.contains(a.voter) else { throw .notAValidator(a.voter) }
            for vote in [a, b]
            where !verifier.isValid(vote.signature, by: vote.voter, for: vote.data.canonicalBytes, domain: .vote) {
                throw .invalidSignature(signer: vote.voter)
            }
        case .proposals(let a, let b):
            guard a.header.proposer == b.header.proposer else { throw .differentSigners }
            guard a.header.chainID == b.header.chainID, a.header.epoch == b.header.epoch,
                a.header.round == b.header.round
            else { throw .differentRounds }
            guard a.header.id != b.header.id else { throw .sameBlock }
            guard validators.contains(a.header.proposer) else { throw .notAValidator(a.header.proposer) }
            for signed in [a, b] {
                let message = Proposal.signingBytes(blockID: signed.header.id)
                guard verifier.isValid(signed.signature, by: signed.header.proposer, for: message, domain: .proposal)
                else { throw .invalidSignature(signer: signed.header.proposer) }
            }
        }
    }
}
