public import Consensus
public import EnsureCrypto
public import Ledger

/// The validator sets of a simulated chain: a pool of keys, of which each epoch leaves one out, so every epoch
/// change really swaps a member.
public struct EpochSchedule: Sendable {
    /// All keys that ever validate.
    public let pool: [Ed25519PublicKey]
    /// How many validators each epoch has.
    public let size: Int
    /// Every block at a height that is a multiple of this ends its epoch; 0 means one epoch forever.
    public let epochLength: UInt64

    /// Creates a schedule; `pool` must hold `size` keys, or `size + 1` when `epochLength` is not zero.
    public init(pool: [Ed25519PublicKey], size: Int, epochLength: UInt64) {
        self.pool = pool
        self.size = size
        self.epochLength = epochLength
    }

    /// The validators of `epoch`.
    public func validators(epoch: UInt64) -> ValidatorSet {
        if epochLength == 0 || pool.count == size { return ValidatorSet(Array(pool.prefix(size)))! }
        let left = (size + Int(epoch % UInt64(pool.count))) % pool.count
        return ValidatorSet(pool.enumerated().filter { $0.offset != left }.map(\.element))!
    }
}

/// A small deterministic application: blocks carry no transactions, the state root chains the parent's state
/// root with the height, and the last block of an epoch names the next validator set. It builds blocks for the
/// leader and checks every block before the core votes for it.
public struct SimulatedApplication: Sendable {
    private let schedule: EpochSchedule
    private var stateRoots: [Digest: Digest] = [:]
    private var endsEpoch: [Digest: Bool] = [:]

    /// Starts with `genesis` executed.
    public init(schedule: EpochSchedule, genesis: Block) {
        self.init(schedule: schedule, root: genesis)
    }

    /// Starts with `root`, a committed block, executed: the state a restarted node reads back from its store.
    public init(schedule: EpochSchedule, root: Block) {
        self.schedule = schedule
        stateRoots[root.id] = root.header.stateRoot
        endsEpoch[root.id] = root.header.nextValidatorSetHash != nil
    }

    private static func stateRoot(parent: Digest, height: UInt64) -> Digest {
        var bytes = parent.bytes
        bytes.append(contentsOf: (0..<8).map { UInt8(truncatingIfNeeded: height >> (56 - 8 * $0)) })
        return SHA256.hash(tag: "ensure/simulation-state/v1", bytes)
    }

    private func nextValidatorSetHash(epoch: UInt64, height: UInt64, parentEndsEpoch: Bool) -> Digest? {
        guard schedule.epochLength > 0, !parentEndsEpoch, height % schedule.epochLength == 0 else { return nil }
        return schedule.validators(epoch: epoch + 1).hash
    }

    private func parentEnds(_ parent: BlockHeader, epoch: UInt64) -> Bool {
        parent.epoch == epoch && (endsEpoch[parent.id] ?? false)
    }

    /// Builds the block a leader asked for, at time `now`.
    public func build(_ request: PayloadRequest, now: UInt64) -> Block? {
        guard let parentState = stateRoots[request.parent.id] else { return nil }
        let height = request.parent.height + 1
        let header = BlockHeader(
            chainID: request.justify.data.chainID, epoch: request.epoch, height: height, round: request.round,
            parentID: request.parent.id, proposer: request.proposer, timestamp: max(now, request.parent.timestamp),
            transactionRoot: MerkleHash.emptyRoot, transactionCount: 0, incidentLogSize: 0,
            incidentLogRoot: MerkleHash.emptyRoot, stateRoot: Self.stateRoot(parent: parentState, height: height),
            validatorSetHash: request.validatorSetHash,
            nextValidatorSetHash: request.mustBeEmpty
                ? nil
                : nextValidatorSetHash(
                    epoch: request.epoch, height: height,
                    parentEndsEpoch: parentEnds(request.parent, epoch: request.epoch)))
        return Block(header: header, justify: request.justify, transactions: [])
    }

    /// Executes a block whose parent was executed before, checking its state root and epoch boundary.
    public mutating func execute(_ block: Block, parent: BlockHeader?) -> ExecutionOutcome {
        let header = block.header
        guard let parent, let parentState = stateRoots[parent.id] else {
            return .invalid(reason: "parent not executed")
        }
        guard header.stateRoot == Self.stateRoot(parent: parentState, height: header.height) else {
            return .invalid(reason: "state root does not match execution")
        }
        let parentEndsEpoch = parentEnds(parent, epoch: header.epoch)
        let expected = nextValidatorSetHash(
            epoch: header.epoch, height: header.height, parentEndsEpoch: parentEndsEpoch)
        guard header.nextValidatorSetHash == expected else {
            return .invalid(reason: "next validator set does not match the schedule")
        }
        stateRoots[block.id] = header.stateRoot
        endsEpoch[block.id] = parentEndsEpoch || expected != nil
        return .valid(nextValidators: expected == nil ? nil : schedule.validators(epoch: header.epoch + 1))
    }
}
