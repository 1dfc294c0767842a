import Codec
public import Consensus
import EnsureCrypto
import Ledger
public import Storage

/// The proposals this node accepted above its committed tip, kept in LevelDB so a restart does not forget the
/// newest quorum certificates.
///
/// Only committed blocks live in the block store, and the certificates that make a validator's safety state
/// (its preferred round) travel inside uncommitted proposals. If every validator restarted with only its
/// committed tip, none could sign a vote or timeout that respects its preferred round, and the chain would halt
/// for good. Each accepted proposal is written with sync before any vote for it leaves the node, and replayed
/// into the consensus core after a restart; commits prune it.
public final class ProposalJournal: Sendable {
    static let prefix = Array("consensus/proposal/".utf8)
    /// Most proposals kept; older rounds are dropped first (the chain commits long before this fills).
    static let capacity = 512

    private let database: LevelDB

    /// A journal in `database`, beside the block store.
    public init(database: LevelDB) {
        self.database = database
    }

    /// Stores `proposal` durably.
    public func record(_ proposal: Proposal) throws(LevelDBError) {
        let key = Self.prefix + StorageKeyspace.bigEndian(proposal.block.header.round) + proposal.block.id.bytes
        try database.put(key: key, value: ConsensusMessage.proposal(proposal).canonicalBytes, sync: true)
    }

    /// The stored proposals above `round`, oldest first; entries that do not decode are skipped.
    public func proposals(above round: UInt64) -> [Proposal] {
        guard let entries = try? database.entries(withPrefix: Self.prefix) else { return [] }
        var result: [Proposal] = []
        for entry in entries {
            guard case .proposal(let proposal)? = try? ConsensusMessage.decode(canonical: entry.value),
                proposal.block.header.round > round
            else { continue }
            result.append(proposal)
        }
        return result
    }

    static let epochProofPrefix = Array("consensus/epoch-proof/".utf8)

    /// Stores the proof that an epoch ended, durably. Its certificate (on the ending block's certified child) is
    /// nowhere else: without it, a node restarted in the new epoch could not bring a peer still in the old one
    /// across, and a crash of all validators at the wrong moment would split them between epochs for good.
    public func record(epochChange proof: EpochChangeProof) throws(LevelDBError) {
        let key = Self.epochProofPrefix + StorageKeyspace.bigEndian(proof.endingEpoch)
        try database.put(key: key, value: ConsensusMessage.epochChange(proof).canonicalBytes, sync: true)
    }

    /// The stored epoch-change proofs, oldest first; entries that do not decode are skipped.
    public func epochChanges() -> [EpochChangeProof] {
        guard let entries = try? database.entries(withPrefix: Self.epochProofPrefix) else { return [] }
        return entries.compactMap { entry in
            guard case .epochChange(let proof)? = try? ConsensusMessage.decode(canonical: entry.value) else {
                return nil
            }
            return proof
        }
    }

    /// Deletes the proposals at or below `round`, and the oldest beyond ``capacity``.
    public func prune(throughRound round: UInt64) {
        guard let entries = try? database.entries(withPrefix: Self.prefix) else { return }
        var batch = WriteBatch()
        let excess = max(0, entries.count - Self.capacity)
        for (index, entry) in entries.enumerated() {
            let roundBytes = entry.key.dropFirst(Self.prefix.count).prefix(8)
            let stored = UInt64(bigEndianBytes: roundBytes) ?? 0
            if stored <= round || index < excess { batch.delete(key: entry.key) }
        }
        guard !batch.operations.isEmpty else { return }
        try? database.write(batch, sync: false)
    }
}
