public import Codec
public import EnsureCrypto

/// A block header: everything a quorum certifies about a block. With its certificate it is a checkpoint of
/// the incident log and the application state that anyone holding the validator set can check.
public struct BlockHeader: Hashable, Sendable {
    /// The only version this build writes and reads.
    public static let version: UInt8 = 1

    /// The chain.
    public var chainID: String
    /// The epoch whose validator set certifies this block.
    public var epoch: UInt64
    /// Height: genesis is 0, each block adds 1.
    public var height: UInt64
    /// The consensus round it was proposed in; strictly greater than its parent's.
    public var round: UInt64
    /// The parent block's id (``Digest/zero`` for genesis).
    public var parentID: Digest
    /// The proposing validator.
    public var proposer: Ed25519PublicKey
    /// Proposer's time, milliseconds since 1970-01-01 UTC; never less than the parent's.
    public var timestamp: UInt64
    /// RFC 9162 Merkle root over the transaction ids, in block order.
    public var transactionRoot: Digest
    /// Number of transactions.
    public var transactionCount: UInt64
    /// Incident-log size after this block.
    public var incidentLogSize: UInt64
    /// Incident-log root after this block.
    public var incidentLogRoot: Digest
    /// Application-state root after this block.
    public var stateRoot: Digest
    /// Hash of ``ValidatorSet`` of ``epoch``.
    public var validatorSetHash: Digest
    /// Set on the last block of an epoch: the hash of the next epoch's validator set.
    public var nextValidatorSetHash: Digest?

    /// Creates a header.
    public init(
        chainID: String, epoch: UInt64, height: UInt64, round: UInt64, parentID: Digest, proposer: Ed25519PublicKey,
        timestamp: UInt64, transactionRoot: Digest, transactionCount: UInt64, incidentLogSize: UInt64,
        incidentLogRoot: Digest, stateRoot: Digest, validatorSetHash: Digest, nextValidatorSetHash: Digest? = nil
    ) {
        self.chainID = chainID
        self.epoch = epoch
        self.height = height
        self.round = round
        self.parentID = parentID
        self.proposer = proposer
        self.timestamp = timestamp
        self.transactionRoot = transactionRoot
        self.transactionCount = transactionCount
        self.incidentLogSize = incidentLogSize
        self.incidentLogRoot = incidentLogRoot
        self.stateRoot = stateRoot
        self.validatorSetHash = validatorSetHash
        self.nextValidatorSetHash = nextValidatorSetHash
    }

    /// The block id: SHA-256 (tag `ensure/block-header/v1`) of the canonical header.
    public var id: Digest { SHA256.hash(tag: "ensure/block-header/v1", canonicalBytes) }
}

extension BlockHeader: CanonicalCodable {
    public static var maxEncodedSize: Int { 512 }

    public func encode(to writer: inout CanonicalWriter) {
        writer.writeByte(Self.version)
        writer.writeString(chainID)
        writer.writeVarUInt(epoch)
        writer.writeVarUInt(height)
        writer.writeVarUInt(round)
        writer.write(parentID)
        writer.write(proposer)
        writer.writeVarUInt(timestamp)
        writer.write(transactionRoot)
        writer.writeVarUInt(transactionCount)
        writer.writeVarUInt(incidentLogSize)
        writer.write(incidentLogRoot)
        writer.write(stateRoot)
        writer.write(validatorSetHash)
        writer.writeOptional(nextValidatorSetHash) { $0.write($1) }
    }

    public init(from reader: inout CanonicalReader, field: String) throws(CanonicalDecodingError) {
        _ = try reader.readVersion(field: "\(field).version", supported: Self.version...Self.version)
        chainID = try reader.readChainID(field: "\(field).chainID")
        epoch = try reader.readVarUInt(field: "\(field).epoch")
        height = try reader.readVarUInt(field: "\(field).height")
        round = try reader.readVarUInt(field: "\(field).round")
        parentID = try reader.readDigest(field: "\(field).parentID")
        proposer = try reader.readPublicKey(field: "\(field).proposer")
        timestamp = try reader.readVarUInt(field: "\(field).timestamp")
        transactionRoot = try reader.readDigest(field: "\(field).transactionRoot")
        transactionCount = try reader.readVarUInt(
            field: "\(field).transactionCount", max: UInt64(LedgerLimits.blockTransactions))
        incidentLogSize = try reader.readVarUInt(field: "\(field).incidentLogSize")
        incidentLogRoot = try reader.readDigest(field: "\(field).incidentLogRoot")
        stateRoot = try reader.readDigest(field: "\(field).stateRoot")
        validatorSetHash = try reader.readDigest(field: "\(field).validatorSetHash")
        nextValidatorSetHash = try reader.readOptional(field: "\(field).nextValidatorSetHash") {
            (r: inout CanonicalReader) throws(CanonicalDecodingError) in
            try r.readDigest(field: "\(field).nextValidatorSetHash")
        }
    }
}

/// A block: its header, the certificate of its parent that justifies proposing it, and its transactions.
public struct Block: Hashable, Sendable {
    /// The only version this build writes and reads.
    public static let version: UInt8 = 1
    /// The header.
    public let header: BlockHeader
    /// The quorum certificate of the parent block (``QuorumCertificate/genesis(chainID:blockID:)`` on top of genesis).
    public let justify: QuorumCertificate
    /// The transactions, in execution order.
    public let transactions: [Transaction]

    /// Creates a block.
    public init(header: BlockHeader, justify: QuorumCertificate, transactions: [Transaction]) {
        self.header = header
        self.justify = justify
        self.transactions = transactions
    }

    /// The block id, which is the header's.
    public var id: Digest { header.id }

    /// The RFC 9162 root over `transactions`' ids, as ``BlockHeader/transactionRoot`` must be.
    public static func transactionRoot(of transactions: [Transaction]) -> Digest {
        MerkleHash.root(leafHashes: transactions.map { MerkleHash.leaf($0.id) })
    }

    /// Checks what the block says of itself: the transaction root and count, that the justifying certificate
    /// is for the parent, on the same chain, at the height below and an earlier round, and that every
    /// transaction is for the block's chain. Signatures, consensus and execution rules come on top.
    public func validateStructure() throws(CanonicalDecodingError) {
        guard header.transactionCount == UInt64(transactions.count) else {
            throw .invalidValue(field: "block.header.transactionCount", reason: "does not match the transactions")
        }
        guard header.transactionRoot == Self.transactionRoot(of: transactions) else {
            throw .invalidValue(field: "block.header.transactionRoot", reason: "does not match the transactions")
        }
        guard justify.data.chainID == header.chainID else {
            throw .invalidValue(field: "block.justify.data.chainID", reason: "is not the block's chain")
        }
        guard justify.blockID == header.parentID else {
            throw .invalidValue(field: "block.justify", reason: "certifies a block other than the parent")
        }
        guard header.height >= 1, justify.data.height == header.height - 1 else {
            throw .invalidValue(field: "block.justify", reason: "certified height is not the parent height")
        }
        guard justify.round < header.round else {
            throw .invalidValue(field: "block.header.round", reason: "round is not above the parent's")
        }
        for (index, tx) in transactions.enumerated() where tx.chainID != header.chainID {
            throw .invalidValue(field: "block.transactions[\(index)].chainID", reason: "is not the block's chain")
        }
    }
}

extension Block: CanonicalCodable {
    public static var maxEncodedSize: Int { LedgerLimits.blockBytes }

    public func encode(to writer: inout CanonicalWriter) {
        writer.writeByte(Self.version)
        writer.write(header)
        writer.write(justify)
        writer.writeArray(transactions)
    }

    public init(from reader: inout CanonicalReader, field: String) throws(CanonicalDecodingError) {
        _ = try reader.readVersion(field: "\(field).version", supported: Self.version...Self.version)
        header = try reader.read(BlockHeader.self, field: "\(field).header")
        justify = try reader.read(QuorumCertificate.self, field: "\(field).justify")
        transactions = try reader.readArray(field: "\(field).transactions", maxCount: LedgerLimits.blockTransactions) {
            (r: inout CanonicalReader, i: Int) throws(CanonicalDecodingError) in
            do throws(CanonicalDecodingError) {
                return try r.read(Transaction.self, field: "")
            } catch {
                throw error.inField("\(field).transactions[\(i)]")
            }
        }
    }
}
