public import Codec
public import Consensus
public import Ledger

/// A committed block and the certificate stored with it, as block sync sends them.
public struct CertifiedBlock: Hashable, Sendable {
    /// The block.
    public let block: Block
    /// The quorum certificate over the block's id.
    public let certificate: QuorumCertificate
    /// For a block that ends its epoch: the next epoch's validator set, whose hash the header names, so a node
    /// catching up can check the next epoch's certificates.
    public let nextValidators: ValidatorSet?

    /// Creates a value.
    public init(block: Block, certificate: QuorumCertificate, nextValidators: ValidatorSet? = nil) {
        self.block = block
        self.certificate = certificate
        self.nextValidators = nextValidators
    }
}

/// Everything one node sends another over the peer transport: consensus messages, transaction gossip and
/// block sync. One canonical encoding with a leading tag, so a peer's bytes either decode to exactly one
/// message or are refused with a typed error naming the field.
public enum NodeMessage: Hashable, Sendable {
    /// A consensus protocol message.
    case consensus(ConsensusMessage)
    /// Transactions admitted by the sender's mempool.
    case transactions([Transaction])
    /// The sender's committed height, sent periodically so peers that are behind know whom to ask.
    case syncStatus(height: UInt64)
    /// Asks for up to `count` committed blocks starting at `height`.
    case syncRequest(height: UInt64, count: UInt64)
    /// Committed blocks with their certificates, in height order.
    case syncResponse([CertifiedBlock])

    /// Most transactions in one gossip message.
    public static let maxGossipTransactions = 512
    /// Most blocks in one sync response.
    public static let maxSyncBlocks = 64
}

extension NodeMessage: CanonicalCodable {
    public static var maxEncodedSize: Int { ConsensusMessage.maxEncodedSize }

    public func encode(to writer: inout CanonicalWriter) {
        switch self {
        case .consensus(let message):
            writer.writeByte(1)
            writer.write(message)
        case .transactions(let transactions):
            writer.writeByte(2)
            writer.writeArray(transactions)
        case .syncStatus(let height):
            writer.writeByte(3)
            writer.writeVarUInt(height)
        case .syncRequest(let height, let count):
            writer.writeByte(4)
            writer.writeVarUInt(height)
            writer.writeVarUInt(count)
        case .syncResponse(let blocks):
            writer.writeByte(5)
            writer.writeArray(blocks) { w, item in
                w.write(item.block)
                w.write(item.certificate)
                w.writeOptional(item.nextValidators) { $0.write($1) }
            }
        }
    }

    public init(from reader: inout CanonicalReader, field: String) throws(CanonicalDecodingError) {
        let tag = try reader.readByte(field: "\(field).tag")
        switch tag {
        case 1:
            self = .consensus(try reader.read(ConsensusMessage.self, field: "\(field).consensus"))
        case 2:
            let transactions = try reader.readArray(
                field: "\(field).transactions", maxCount: Self.maxGossipTransactions
            ) { (r: inout CanonicalReader, i: Int) throws(CanonicalDecodingError) in
                do throws(CanonicalDecodingError) {
                    return try r.read(Transaction.self, field: "")
                } catch {
                    throw error.inField("\(field).transactions[\(i)]")
                }
            }
            self = .transactions(transactions)
        case 3:
            self = .syncStatus(height: try reader.readVarUInt(field: "\(field).syncStatus.height"))
        case 4:
            let height = try reader.readVarUInt(field: "\(field).syncRequest.height")
            let count = try reader.readVarUInt(field: "\(field).syncRequest.count", max: UInt64(Self.maxSyncBlocks))
            self = .syncRequest(height: height, count: count)
        case 5:
            let blocks = try reader.readArray(
                field: "\(field).syncResponse", maxCount: Self.maxSyncBlocks
            ) { (r: inout CanonicalReader, i: Int) throws(CanonicalDecodingError) in
                let block = try r.read(Block.self, field: "\(field).syncResponse[\(i)].block")
                let certificate = try r.read(QuorumCertificate.self, field: "\(field).syncResponse[\(i)].certificate")
                let next = try r.readOptional(field: "\(field).syncResponse[\(i)].nextValidators") {
                    (r: inout CanonicalReader) throws(CanonicalDecodingError) in
                    try r.read(ValidatorSet.self, field: "\(field).syncResponse[\(i)].nextValidators")
                }
                return CertifiedBlock(block: block, certificate: certificate, nextValidators: next)
            }
            self = .syncResponse(blocks)
        default:
            throw .invalidTag(field: "\(field).tag", tag: UInt64(tag))
        }
    }
}
