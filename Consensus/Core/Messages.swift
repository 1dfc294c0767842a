public import Codec
public import EnsureCrypto
public import Ledger

/// A leader's proposal: a block, the timeout certificate of the previous round when the block's own
/// certificate is not for that round, and the proposer's signature over the block id (``SigningDomain/proposal``).
public struct Proposal: Hashable, Sendable {
    /// The proposed block.
    public let block: Block
    /// The certificate that let the leader enter this round without a quorum certificate for the previous one.
    public let timeoutCertificate: TimeoutCertificate?
    /// The proposer's signature over the block id.
    public let signature: Ed25519Signature

    /// Assembles a proposal.
    public init(block: Block, timeoutCertificate: TimeoutCertificate?, signature: Ed25519Signature) {
        self.block = block
        self.timeoutCertificate = timeoutCertificate
        self.signature = signature
    }

    /// The bytes the proposer signs: the block id.
    public static func signingBytes(blockID: Digest) -> [UInt8] { blockID.bytes }
}

/// A timeout as it travels: the signed timeout plus the timeout certificate through which the sender entered
/// the round, so that a peer still in an earlier round can catch up and join.
public struct TimeoutMessage: Hashable, Sendable {
    /// The signed timeout.
    public let timeout: Timeout
    /// The certificate of the round before `timeout.data.round`, if the sender entered the round by one.
    public let lastTimeoutCertificate: TimeoutCertificate?

    /// Assembles a timeout message.
    public init(timeout: Timeout, lastTimeoutCertificate: TimeoutCertificate?) {
        self.timeout = timeout
        self.lastTimeoutCertificate = lastTimeoutCertificate
    }
}

/// Asks a peer for a chain of blocks ending at `blockID`, newest first, at most `count` long.
public struct BlockRequest: Hashable, Sendable {
    /// The newest block wanted.
    public let blockID: Digest
    /// How many ancestors, including the block itself, at most.
    public let count: UInt64

    /// Creates a request.
    public init(blockID: Digest, count: UInt64) {
        self.blockID = blockID
        self.count = count
    }
}

/// Proof that the last block of an epoch was committed, with the validator set of the next epoch: a node still
/// in that epoch checks it against the validators it already trusts and moves on.
public struct EpochChangeProof: Hashable, Sendable {
    /// The committed block that ends the epoch (it carries ``BlockHeader/nextValidatorSetHash``).
    public let lastBlock: Block
    /// The chain of blocks after `lastBlock`, oldest first, ending in the block whose certificate commits
    /// `lastBlock` by the two-chain rule (the last two are at consecutive rounds).
    public let descendants: [Block]
    /// The certificate of the last descendant, signed by the ending epoch's validators.
    public let certificate: QuorumCertificate
    /// The next epoch's validators; their hash is `lastBlock.header.nextValidatorSetHash`.
    public let nextValidators: ValidatorSet

    /// Assembles a proof.
    public init(lastBlock: Block, descendants: [Block], certificate: QuorumCertificate, nextValidators: ValidatorSet) {
        self.lastBlock = lastBlock
        self.descendants = descendants
        self.certificate = certificate
        self.nextValidators = nextValidators
    }

    /// The epoch that the proof ends.
    public var endingEpoch: UInt64 { lastBlock.header.epoch }
}

/// Every message validators exchange. The canonical encoding starts with a one-byte tag.
public enum ConsensusMessage: Hashable, Sendable {
    /// A leader's block proposal (tag 1).
    case proposal(Proposal)
    /// A vote, sent to the next round's leader (tag 2).
    case vote(Vote)
    /// A timeout, broadcast (tag 3).
    case timeout(TimeoutMessage)
    /// A request for missing blocks (tag 4).
    case blockRequest(BlockRequest)
    /// Blocks answering a request, newest first (tag 5).
    case blockResponse([Block])
    /// The proof that moves a peer into the next epoch (tag 6).
    case epochChange(EpochChangeProof)
    /// A request for the proof that ends the given epoch (tag 7).
    case epochChangeRequest(epoch: UInt64)

    /// The epoch the message belongs to, when it has one.
    public var epoch: UInt64? {
        switch self {
        case .proposal(let p): return p.block.header.epoch
        case .vote(let v): return v.data.epoch
        case .timeout(let t): return t.timeout.data.epoch
        case .blockRequest, .blockResponse, .epochChange, .epochChangeRequest: return nil
        }
    }
}

/// Limits of consensus messages.
public enum ConsensusLimits {
    /// Most blocks in one response.
    public static let blocksPerResponse = 64
    /// How far ahead of the current round a vote or timeout may be and still be kept.
    public static let roundsAhead: UInt64 = 64
    /// How many fetched chain segments waiting for their ancestors a node keeps.
    public static let orphanSegments = 8
    /// How many committed blocks below the last committed one the core keeps in memory (to answer block requests
    /// of peers slightly behind); older blocks, their outcomes and certificates are dropped. A node serves older
    /// blocks from its block store.
    public static let retainedCommittedBlocks: UInt64 = 256
}

extension ConsensusMessage: CanonicalCodable {
    public static var maxEncodedSize: Int { LedgerLimits.blockBytes * 2 }

    public func encode(to writer: inout CanonicalWriter) {
        switch self {
        case .proposal(let p):
            writer.writeByte(1)
            writer.write(p.block)
            writer.writeOptional(p.timeoutCertificate) { $0.write($1) }
            writer.write(p.signature)
        case .vote(let v):
            writer.writeByte(2)
            writer.write(v)
        case .timeout(let t):
            writer.writeByte(3)
            writer.write(t.timeout)
            writer.writeOptional(t.lastTimeoutCertificate) { $0.write($1) }
        case .blockRequest(let r):
            writer.writeByte(4)
            writer.write(r.blockID)
            writer.writeVarUInt(r.count)
        case .blockResponse(let blocks):
            writer.writeByte(5)
            writer.writeArray(blocks)
        case .epochChange(let proof):
            writer.writeByte(6)
            writer.write(proof.lastBlock)
            writer.writeArray(proof.descendants)
            writer.write(proof.certificate)
            writer.write(proof.nextValidators)
        case .epochChangeRequest(let epoch):
            writer.writeByte(7)
            writer.writeVarUInt(epoch)
        }
    }

    public init(from reader: inout CanonicalReader, field: String) throws(CanonicalDecodingError) {
        let tag = try reader.readByte(field: "\(field).tag")
        switch tag {
        case 1:
            let block = try reader.read(Block.self, field: "\(field).proposal.block")
            let tc = try reader.readOptional(field: "\(field).proposal.timeoutCertificate") {
                (r: inout CanonicalReader) throws(CanonicalDecodingError) in
                try r.read(TimeoutCertificate.self, field: "\(field).proposal.timeoutCertificate")
            }
            let signature = try reader.readSignature(field: "\(field).proposal.signature")
            self = .proposal(Proposal(block: block, timeoutCertificate: tc, signature: signature))
        case 2:
            self = .vote(try reader.read(Vote.self, field: "\(field).vote"))
        case 3:
            let timeout = try reader.read(Timeout.self, field: "\(field).timeout.timeout")
            let tc = try reader.readOptional(field: "\(field).timeout.lastTimeoutCertificate") {
                (r: inout CanonicalReader) throws(CanonicalDecodingError) in
                try r.read(TimeoutCertificate.self, field: "\(field).timeout.lastTimeoutCertificate")
            }
            self = .timeout(TimeoutMessage(timeout: timeout, lastTimeoutCertificate: tc))
        case 4:
            let id = try reader.readDigest(field: "\(field).blockRequest.blockID")
            let count = try reader.readVarUInt(
                field: "\(field).blockRequest.count", max: UInt64(ConsensusLimits.blocksPerResponse))
            self = .blockRequest(BlockRequest(blockID: id, count: count))
        case 5:
            let blocks = try reader.readArray(
                field: "\(field).blockResponse", maxCount: ConsensusLimits.blocksPerResponse
            ) { (r: inout CanonicalReader, i: Int) throws(CanonicalDecodingError) in
                try r.read(Block.self, field: "\(field).blockResponse[\(i)]")
            }
            self = .blockResponse(blocks)
        case 6:
            let lastBlock = try reader.read(Block.self, field: "\(field).epochChange.lastBlock")
            let descendants = try reader.readArray(
                field: "\(field).epochChange.descendants", maxCount: ConsensusLimits.blocksPerResponse
            ) { (r: inout CanonicalReader, i: Int) throws(CanonicalDecodingError) in
                try r.read(Block.self, field: "\(field).epochChange.descendants[\(i)]")
            }
            let qc = try reader.read(QuorumCertificate.self, field: "\(field).epochChange.certificate")
            let next = try reader.read(ValidatorSet.self, field: "\(field).epochChange.nextValidators")
            self = .epochChange(
                EpochChangeProof(lastBlock: lastBlock, descendants: descendants, certificate: qc, nextValidators: next))
        case 7:
            self = .epochChangeRequest(epoch: try reader.readVarUInt(field: "\(field).epochChangeRequest.epoch"))
        default:
            throw .invalidTag(field: "\(field).tag", tag: UInt64(tag))
        }
    }
}
