import EnsureCrypto
public import Ledger

/// Why a sync response was refused. The node drops the whole response and asks another peer.
public struct SyncError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The item or field that is wrong (`syncResponse[3].certificate`).
    public let field: String
    /// What is wrong with it.
    public let reason: String

    /// Creates an error.
    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { "sync response: \(field) \(reason)" }
}

/// Checks committed blocks fetched from a peer before the node applies them. A peer may lie, so nothing is
/// taken on its word: the blocks must extend the local tip one height at a time, each must be certified by a
/// quorum of its epoch's validators, and a block is accepted only once the two-chain commit rule proves it final
/// (a certified child in the very next round), which a certificate alone does not.
///
/// A block that ends its epoch must come with the next epoch's validator set, whose hash it names; the blocks
/// after it are checked against that set. Its certified child in the next round is then the first block of the
/// next epoch, certified by validators who began that epoch only after the block committed.
public enum BlockSyncVerifier {
    /// The longest prefix of `response` that is proven committed on top of `tip`, whose successors belong to
    /// `epoch` with `validators`; throws when any block of the response is malformed, misplaced or falsely
    /// certified.
    public static func committedPrefix(
        of response: [CertifiedBlock], after tip: BlockHeader, epoch startEpoch: UInt64? = nil,
        validators startValidators: ValidatorSet
    ) throws(SyncError) -> [CertifiedBlock] {
        var previous = tip
        var previousID = tip.id
        var epoch = startEpoch ?? tip.epoch
        var validators = startValidators
        for (index, item) in response.enumerated() {
            let field = "syncResponse[\(index)]"
            let header = item.block.header
            guard header.chainID == tip.chainID else {
                throw SyncError(field: "\(field).block.header.chainID", reason: "is not \(tip.chainID)")
            }
            guard header.height == previous.height + 1 else {
                throw SyncError(
                    field: "\(field).block.header.height",
                    reason: "is \(header.height), expected \(previous.height + 1)")
            }
            guard header.parentID == previousID else {
                throw SyncError(field: "\(field).block.header.parentID", reason: "does not name the block before it")
            }
            guard header.round > previous.round else {
                throw SyncError(field: "\(field).block.header.round", reason: "is not above the parent's round")
            }
            guard header.epoch == epoch, header.validatorSetHash == validators.hash else {
                throw SyncError(
                    field: "\(field).block.header.validatorSetHash",
                    reason: "is not the validator set of epoch \(epoch)")
            }
            do {
                try item.block.validateStructure()
            } catch {
                throw SyncError(field: "\(field).block", reason: "\(error)")
            }
            let id = item.block.id
            guard item.certificate.blockID == id, item.certificate.data.height == header.height,
                item.certificate.round == header.round
            else {
                throw SyncError(field: "\(field).certificate", reason: "does not certify this block")
            }
            do {
                try item.certificate.verify(against: validators)
            } catch {
                throw SyncError(field: "\(field).certificate", reason: "\(error)")
            }
            if let next = header.nextValidatorSetHash {
                guard let set = item.nextValidators, set.hash == next else {
                    throw SyncError(
                        field: "\(field).nextValidators",
                        reason: "must be the next epoch's validator set the block names")
                }
                epoch += 1
                validators = set
            } else if item.nextValidators != nil {
                throw SyncError(
                    field: "\(field).nextValidators", reason: "is given for a block that does not end its epoch")
            }
            previous = header
            previousID = id
        }
        // Block i is final when block i+1 is its certified child in the next round; everything below a final
        // block is final too.
        var committedCount = 0
        for index in response.indices.dropLast() {
            let parent = response[index].block.header
            let child = response[index + 1].block.header
            if child.round == parent.round + 1 { committedCount = index + 1 }
        }
        return Array(response.prefix(committedCount))
    }
}
