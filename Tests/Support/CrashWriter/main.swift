// ensure-crash-writer: writes synced LevelDB batches in a loop until it is killed, printing `committed N`
// after each one returns, so that a test can kill it with SIGKILL at any moment and check what survived.
//
//   ensure-crash-writer batches <directory> [max-commits]
//       Batch N puts keys-per-batch values under `crash/batch/` ‖ N (8 bytes, big-endian) ‖ k (1 byte), each
//       value being N (8 bytes, big-endian) followed by a filler of random length made of the byte N % 251,
//       and the commit marker `crash/commit/` ‖ N → N. Numbering resumes after the last marker present.
//   ensure-crash-writer blocks <directory> <validator-seed-hex> [max-commits]
//       Appends chained blocks through BlockStore, genesis first, each certified by the one validator whose
//       Ed25519 seed is given; the same batch sets `crash/state/height` and stores Merkle node (0, height) =
//       leaf hash of the block id. Resumes from the stored tip.

import EnsureCrypto
import Foundation
import Ledger
import Storage

/// Key layout shared with the crash tests (Tests/StorageTests/CrashSafetyTests.swift).
enum CrashLayout {
    static let batchPrefix = Array("crash/batch/".utf8)
    static let commitPrefix = Array("crash/commit/".utf8)
    static let stateHeightKey = Array("crash/state/height".utf8)
    static let keysPerBatch = 10
    static let chainID = "crash-test"
}

func bigEndian(_ value: UInt64) -> [UInt8] {
    (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * UInt64($0))) }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("ensure-crash-writer: \(message)\n".utf8))
    exit(1)
}

func report(_ number: UInt64) {
    FileHandle.standardOutput.write(Data("committed \(number)\n".utf8))
}

func runBatches(database: LevelDB, maxCommits: UInt64) throws {
    let markers = try database.entries(withPrefix: CrashLayout.commitPrefix)
    var number = UInt64(markers.count) + 1
    var generator = SystemRandomNumberGenerator()
    for _ in 0..<maxCommits {
        var batch = WriteBatch()
        let filler = UInt8(number % 251)
        for k in 0..<CrashLayout.keysPerBatch {
            let length = Int.random(in: 0...6_000, using: &generator)
            batch.put(
                key: CrashLayout.batchPrefix + bigEndian(number) + [UInt8(k)],
                value: bigEndian(number) + [UInt8](repeating: filler, count: length))
        }
        batch.put(key: CrashLayout.commitPrefix + bigEndian(number), value: bigEndian(number))
        try database.write(batch, sync: true)
        report(number)
        number += 1
    }
}

func runBlocks(database: LevelDB, key: Ed25519PrivateKey, maxCommits: UInt64) throws {
    let store = try BlockStore(database: database)
    let validators = ValidatorSet([key.publicKey])!
    let chainID = CrashLayout.chainID

    func extraWrites(height: UInt64, blockID: Digest) -> WriteBatch {
        var extra = WriteBatch()
        extra.put(key: CrashLayout.stateHeightKey, value: bigEndian(height))
        LevelDBMerkleNodeStore.addNodes(
            [(MerkleNodePosition(level: 0, index: height), MerkleHash.leaf(blockID.bytes))], to: &extra)
        return extra
    }

    func header(height: UInt64, parentID: Digest, transactions: [Transaction]) -> BlockHeader {
        BlockHeader(
            chainID: chainID, epoch: 0, height: height, round: height, parentID: parentID, proposer: key.publicKey,
            timestamp: 1_700_000_000_000 + height * 1_000, transactionRoot: Block.transactionRoot(of: transactions),
            transactionCount: UInt64(transactions.count), incidentLogSize: 0, incidentLogRoot: MerkleHash.emptyRoot,
            stateRoot: .zero, validatorSetHash: validators.hash)
    }

    if store.tip == nil {
        let genesis = Block(
            header: header(height: 0, parentID: .zero, transactions: []),
            justify: .genesis(chainID: chainID, blockID: .zero), transactions: [])
        try store.append(
            genesis, certificate: .genesis(chainID: chainID, blockID: genesis.id),
            extraWrites: extraWrites(height: 0, blockID: genesis.id))
        report(0)
    }
    for _ in 0..<maxCommits {
        guard let tip = store.tip, let justify = try store.certificate(atHeight: tip.height) else {
            fail("the block store lost its tip")
        }
        let height = tip.height + 1
        let transactions = (0..<UInt64.random(in: 1...3)).map { index in
            Transaction(
                chainID: chainID, sequence: height * 4 + index, kind: .notarize,
                payload: SecureRandom.bytes(Int.random(in: 32...2_000)), signedBy: key)
        }
        let block = Block(
            header: header(height: height, parentID: tip.blockID, transactions: transactions), justify: justify,
            transactions: transactions)
        let vote = Vote(
            data: VoteData(chainID: chainID, epoch: 0, round: height, height: height, blockID: block.id),
            signedBy: key)
        let certificate = QuorumCertificate(
            data: vote.data, signatures: [ValidatorSignature(signer: vote.voter, signature: vote.signature)])
        try store.append(block, certificate: certificate, extraWrites: extraWrites(height: height, blockID: block.id))
        report(height)
    }
}

let arguments = CommandLine.arguments
let usage =
    "usage: ensure-crash-writer batches <directory> [max-commits] | "
    + "ensure-crash-writer blocks <directory> <validator-seed-hex> [max-commits]"
guard arguments.count >= 3 else { fail(usage) }
let mode = arguments[1]
let directory = arguments[2]
let countArgumentIndex = mode == "blocks" ? 4 : 3
var maxCommits: UInt64 = 1_000_000
if arguments.count > countArgumentIndex {
    guard let parsed = UInt64(arguments[countArgumentIndex]) else { fail("max-commits must be a number\n\(usage)") }
    maxCommits = parsed
}

do {
    let database = try LevelDB(path: directory)
    switch mode {
    case "batches":
        try runBatches(database: database, maxCommits: maxCommits)
    case "blocks":
        guard arguments.count >= 4, let seed = Hex.decode(arguments[3]), let key = Ed25519PrivateKey(seed: seed) else {
            fail("blocks mode needs a 32-byte validator seed in hex\n\(usage)")
        }
        try runBlocks(database: database, key: key, maxCommits: maxCommits)
    default:
        fail("unknown mode '\(mode)'\n\(usage)")
    }
} catch {
    fail("\(error)")
}
