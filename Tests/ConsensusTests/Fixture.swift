import Codec
import Consensus
import EnsureCrypto
import Ledger

/// Four validators with real Ed25519 keys, a genesis block, and helpers that build correctly signed (or
/// deliberately broken) blocks, certificates and messages.
struct Fixture {
    static let chainID = "test"
    let keys: [Ed25519PrivateKey]
    let validators: ValidatorSet
    let genesis: Block
    let verifier = Ed25519SignatureVerifier()

    init(count: Int = 4, seedByte: UInt8 = 1) {
        let unsorted = (0..<count).map { i in
            Ed25519PrivateKey(seed: [UInt8](repeating: seedByte &+ UInt8(i), count: 32))!
        }
        keys = unsorted.sorted { $0.publicKey < $1.publicKey }
        validators = ValidatorSet(keys.map(\.publicKey))!
        genesis = ConsensusCore.genesisBlock(chainID: Self.chainID, validators: validators)
    }

    var genesisQC: QuorumCertificate { .genesis(chainID: Self.chainID, blockID: genesis.id) }

    /// The private key of the leader of `round` (round-robin over sorted keys).
    func leaderKey(of round: UInt64) -> Ed25519PrivateKey { keys[Int(round % UInt64(keys.count))] }

    func core(
        for index: Int, persistence: InMemorySafetyStatePersistence = InMemorySafetyStatePersistence(),
        configuration: ConsensusConfiguration = ConsensusConfiguration(chainID: Fixture.chainID)
    ) throws -> ConsensusCore {
        try ConsensusCore(
            configuration: configuration, genesis: genesis,
            genesisValidators: validators, signer: Ed25519ConsensusSigner(key: keys[index]), verifier: verifier,
            persistence: persistence)
    }

    func block(
        parent: BlockHeader, justify: QuorumCertificate, round: UInt64, proposer: Ed25519PublicKey? = nil,
        epoch: UInt64 = 0, chainID: String = Fixture.chainID, timestamp: UInt64 = 10
    ) -> Block {
        let header = BlockHeader(
            chainID: chainID, epoch: epoch, height: parent.height + 1, round: round, parentID: parent.id,
            proposer: proposer ?? leaderKey(of: round).publicKey, timestamp: parent.timestamp + timestamp,
            transactionRoot: MerkleHash.emptyRoot, transactionCount: 0, incidentLogSize: 0,
            incidentLogRoot: MerkleHash.emptyRoot, stateRoot: .zero, validatorSetHash: validators.hash)
        return Block(header: header, justify: justify, transactions: [])
    }

    func proposal(_ block: Block, signer: Ed25519PrivateKey? = nil, tc: TimeoutCertificate? = nil) -> Proposal {
        let key = signer ?? leaderKey(of: block.header.round)
        return Proposal(
            block: block, timeoutCertificate: tc,
            signature: key.signature(for: Proposal.signingBytes(blockID: block.id), domain: .proposal))
    }

    func voteData(_ block: Block) -> VoteData {
        VoteData(
            chainID: block.header.chainID, epoch: block.header.epoch, round: block.header.round,
            height: block.header.height, blockID: block.id)
    }

    func vote(_ block: Block, by index: Int) -> Vote { Vote(data: voteData(block), signedBy: keys[index]) }

    /// A certificate for `block` signed by the validators at `signers`.
    func qc(_ block: Block, signers: [Int] = [0, 1, 2]) -> QuorumCertificate {
        QuorumCertificate(
            data: voteData(block),
            signatures: signers.map {
                let vote = self.vote(block, by: $0)
                return ValidatorSignature(signer: vote.voter, signature: vote.signature)
            })
    }

    func timeout(round: UInt64, highQC: QuorumCertificate, by index: Int) -> Timeout {
        Timeout(
            data: TimeoutData(chainID: Self.chainID, epoch: 0, round: round, highQCRound: highQC.round),
            highQC: highQC, signedBy: keys[index])
    }

    func tc(round: UInt64, highQC: QuorumCertificate, signers: [Int] = [0, 1, 2]) -> TimeoutCertificate {
        let entries = signers.map { i in
            let t = timeout(round: round, highQC: highQC, by: i)
            return TimeoutSignature(signer: t.signer, highQCRound: t.data.highQCRound, signature: t.signature)
        }
        return TimeoutCertificate(chainID: Self.chainID, epoch: 0, round: round, signatures: entries, highQC: highQC)
    }
}

extension ConsensusStep {
    var sentMessages: [(ConsensusMessage, Ed25519PublicKey?)] {
        actions.compactMap {
            switch $0 {
            case .send(let m, let to): return (m, to)
            case .broadcast(let m): return (m, nil)
            default: return nil
            }
        }
    }

    var executedBlocks: [Block] {
        actions.compactMap {
            if case .execute(let b) = $0 { return b }
            return nil
        }
    }

    var commits: [Block] {
        actions.compactMap {
            if case .commit(let b, _) = $0 { return b }
            return nil
        }
    }

    var payloadRequests: [PayloadRequest] {
        actions.compactMap {
            if case .requestPayload(let r) = $0 { return r }
            return nil
        }
    }

    var evidence: [EquivocationEvidence] {
        actions.compactMap {
            if case .reportEvidence(let e) = $0 { return e }
            return nil
        }
    }
}
