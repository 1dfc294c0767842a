import API
import Codec
import Consensus
import Daemon
import EnsureCrypto
import Foundation
import Ledger
import Storage

/// A small chain with real keys: four validators, two organizations, and helpers that build certified blocks
/// the way consensus would.
struct ChainFixture {
    let chainID = "daemon-test"
    let validatorKeys: [Ed25519PrivateKey]
    let adminKeys: [Ed25519PrivateKey]
    let genesis: Genesis
    let validators: ValidatorSet
    let genesisBlock: Block

    /// `validatorCount` node keys, of which genesis names the first `genesisValidators` (all by default); the
    /// others can join by governance.
    init(validatorCount: Int = 4, genesisValidators: Int? = nil, parameters: GenesisParameters = GenesisParameters()) {
        validatorKeys = (0..<validatorCount).map { i in
            Ed25519PrivateKey(seed: [UInt8](repeating: UInt8(i + 1), count: 32))!
        }
        let named = validatorKeys.prefix(genesisValidators ?? validatorCount)
        adminKeys = (0..<2).map { i in Ed25519PrivateKey(seed: [UInt8](repeating: UInt8(100 + i), count: 32))! }
        genesis = Genesis(
            chainID: chainID, genesisTime: 1_700_000_000_000,
            organizations: adminKeys.enumerated().map {
                GenesisOrganization(name: "org-\($0.offset)", adminKey: $0.element.publicKey)
            },
            validators: named.enumerated().map {
                GenesisValidator(organization: "org-\($0.offset % 2)", nodeKey: $0.element.publicKey)
            },
            parameters: parameters)
        validators = try! genesis.validatorSet()
        genesisBlock = ConsensusCore.genesisBlock(
            chainID: chainID, validators: validators, timestamp: genesis.genesisTime)
    }

    /// A notarize transaction by admin `admin` with `sequence`.
    func notarize(admin: Int = 0, sequence: UInt64, label: String = "") -> Transaction {
        let digest = SHA256.hash(Array("data \(admin) \(sequence) \(label)".utf8))
        let payload = try! NotarizePayload(digest: digest, label: label)
        return Transaction(
            chainID: chainID, sequence: sequence, kind: .notarize, payload: payload.canonicalBytes,
            signedBy: adminKeys[admin])
    }

    /// `transaction`'s signer, kind and payload at `sequence` (its own by default), with the first byte of its
    /// signature flipped: a signature that does not verify.
    func forged(_ transaction: Transaction, sequence: UInt64? = nil) -> Transaction {
        var bytes = transaction.signature.bytes
        bytes[0] ^= 1
        return Transaction(
            chainID: transaction.chainID, signer: transaction.signer, sequence: sequence ?? transaction.sequence,
            kind: transaction.kind, payload: transaction.payload, signature: Ed25519Signature(bytes: bytes)!)
    }

    /// A quorum certificate over `header` signed by the first `signers` validators.
    func certificate(for header: BlockHeader, signers: Int? = nil) -> QuorumCertificate {
        let data = VoteData(
            chainID: chainID, epoch: header.epoch, round: header.round, height: header.height, blockID: header.id)
        let count = signers ?? validators.quorum
        let signatures = validatorKeys.prefix(count).map {
            ValidatorSignature(signer: $0.publicKey, signature: $0.signature(for: data.canonicalBytes, domain: .vote))
        }
        return QuorumCertificate(data: data, signatures: signatures)
    }

    /// A child of `parent` in `round` with `transactions`, whose roots are the executor's (when it executes).
    func child(
        of parent: Block, parentCertificate: QuorumCertificate, round: UInt64, transactions: [Transaction] = [],
        executor: LedgerExecutor? = nil
    ) -> Block {
        var header = BlockHeader(
            chainID: chainID, epoch: 0, height: parent.header.height + 1, round: round, parentID: parent.id,
            proposer: validators.members[Int(round % UInt64(validators.count))],
            timestamp: parent.header.timestamp + 1, transactionRoot: Block.transactionRoot(of: transactions),
            transactionCount: UInt64(transactions.count), incidentLogSize: 0, incidentLogRoot: MerkleHash.emptyRoot,
            stateRoot: .zero, validatorSetHash: validators.hash)
        if let executor, let executed = executor.preview(transactions, header: header) {
            header = executed
        }
        return Block(header: header, justify: parentCertificate, transactions: transactions)
    }

    /// `count` certified blocks on genesis in the given rounds (consecutive from 1 by default).
    func certifiedChain(rounds: [UInt64]) -> [CertifiedBlock] {
        var parent = genesisBlock
        var parentQC = QuorumCertificate.genesis(chainID: chainID, blockID: genesisBlock.id)
        var chain: [CertifiedBlock] = []
        for round in rounds {
            let block = child(of: parent, parentCertificate: parentQC, round: round)
            let qc = certificate(for: block.header)
            chain.append(CertifiedBlock(block: block, certificate: qc))
            parent = block
            parentQC = qc
        }
        return chain
    }
}

/// A fresh LevelDB directory removed when the value is released.
final class TemporaryDirectory {
    let path: String

    init() {
        path = NSTemporaryDirectory() + "ensure-daemon-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
