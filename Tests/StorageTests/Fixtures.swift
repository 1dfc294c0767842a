import EnsureCrypto
import Foundation
import Ledger
import Storage

/// A fresh directory under the system's temporary directory; call ``remove()`` when done (in a `defer`).
struct TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ensure-storage-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// The path of `name` inside the directory.
    func path(_ name: String) -> String {
        url.appendingPathComponent(name).path
    }

    func remove() {
        try? FileManager.default.removeItem(at: url)
    }
}

/// Builds blocks of one chain, each certified by a single validator.
struct ChainBuilder {
    let chainID: String
    let key: Ed25519PrivateKey
    let validators: ValidatorSet

    init(chainID: String = "storage-test", key: Ed25519PrivateKey = Ed25519PrivateKey()) {
        self.chainID = chainID
        self.key = key
        self.validators = ValidatorSet([key.publicKey])!
    }

    func header(height: UInt64, parentID: Digest, transactions: [Transaction]) -> BlockHeader {
        BlockHeader(
            chainID: chainID, epoch: 0, height: height, round: height, parentID: parentID, proposer: key.publicKey,
            timestamp: 1_700_000_000_000 + height, transactionRoot: Block.transactionRoot(of: transactions),
            transactionCount: UInt64(transactions.count), incidentLogSize: 0, incidentLogRoot: MerkleHash.emptyRoot,
            stateRoot: .zero, validatorSetHash: validators.hash)
    }

    /// The genesis block and its genesis certificate.
    func genesis() -> (block: Block, certificate: QuorumCertificate) {
        let block = Block(
            header: header(height: 0, parentID: .zero, transactions: []),
            justify: .genesis(chainID: chainID, blockID: .zero), transactions: [])
        return (block, .genesis(chainID: chainID, blockID: block.id))
    }

    /// A block on top of `parent` with `count` notarize transactions, and a certificate for it.
    func child(of parent: Block, parentCertificate: QuorumCertificate, transactions count: Int = 1)
        -> (block: Block, certificate: QuorumCertificate)
    {
        let height = parent.header.height + 1
        let transactions = (0..<count).map { index in
            Transaction(
                chainID: chainID, sequence: height * 100 + UInt64(index), kind: .notarize,
                payload: SecureRandom.bytes(48), signedBy: key)
        }
        let block = Block(
            header: header(height: height, parentID: parent.id, transactions: transactions),
            justify: parentCertificate, transactions: transactions)
        return (block, certificate(for: block))
    }

    /// A block built from `header` as given (for refusals), with a matching certificate.
    func block(with header: BlockHeader, justify: QuorumCertificate) -> (block: Block, certificate: QuorumCertificate) {
        let block = Block(header: header, justify: justify, transactions: [])
        return (block, certificate(for: block))
    }

    /// A certificate signed by the validator for `block`'s header.
    func certificate(for block: Block) -> QuorumCertificate {
        let vote = Vote(
            data: VoteData(
                chainID: block.header.chainID, epoch: block.header.epoch, round: block.header.round,
                height: block.header.height, blockID: block.id),
            signedBy: key)
        return QuorumCertificate(
            data: vote.data, signatures: [ValidatorSignature(signer: vote.voter, signature: vote.signature)])
    }

    /// Genesis and `count` more blocks, each with its certificate.
    func chain(blocks count: Int) -> [(block: Block, certificate: QuorumCertificate)] {
        var out = [genesis()]
        for _ in 0..<count {
            let last = out[out.count - 1]
            out.append(child(of: last.block, parentCertificate: last.certificate))
        }
        return out
    }
}

/// Every entry of the database, for checking that a refused operation changed nothing.
func allEntries(_ reader: some LevelDBReader) throws -> [LevelDBEntry] {
    try reader.entries(withPrefix: [])
}

/// The bytes of a string, for readable keys.
func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
