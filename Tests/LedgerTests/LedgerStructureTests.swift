import Codec
import EnsureCrypto
import Ledger
import Testing

/// Validator-set arithmetic and refusals, and what `Block.validateStructure` checks.
struct LedgerStructureTests {
    /// n, f = ⌊(n − 1) / 3⌋, quorum = ⌊2n / 3⌋ + 1, written out rather than computed.
    static let quorumTable: [(n: Int, f: Int, quorum: Int)] = [
        (1, 0, 1), (2, 0, 2), (3, 0, 3), (4, 1, 3), (5, 1, 4), (6, 1, 5), (7, 2, 5), (8, 2, 6), (9, 2, 7), (10, 3, 7),
    ]

    @Test("quorum and tolerated faults for n = 1…10", arguments: quorumTable)
    func quorumArithmetic(n: Int, f: Int, quorum: Int) throws {
        let set = try #require(ValidatorSet(LedgerFixtures.keys(n).map(\.publicKey)))
        #expect(set.count == n)
        #expect(set.maxFaulty == f)
        #expect(set.quorum == quorum)
        // Any two quorums share more than f validators, so at least one honest one; and the honest alone
        // (n − f) can always form a quorum.
        #expect(2 * set.quorum - n > set.maxFaulty)
        #expect(set.quorum <= n - set.maxFaulty)
    }

    @Test("validator sets refuse empty, duplicate and oversized member lists")
    func validatorSetRefusals() {
        let keys = LedgerFixtures.keys(3).map(\.publicKey)
        #expect(ValidatorSet([]) == nil)
        #expect(ValidatorSet(keys + [keys[1]]) == nil)
        let many = (0...LedgerLimits.certificateSigners).map { i in
            Ed25519PublicKey(bytes: [UInt8(i >> 8), UInt8(i & 0xff)] + [UInt8](repeating: 0, count: 30))!
        }
        #expect(ValidatorSet(many) == nil)
        #expect(ValidatorSet(Array(many.dropLast()))?.count == LedgerLimits.certificateSigners)
    }

    @Test("validator sets sort their members, find them, and hash their encoding")
    func validatorSetMembership() throws {
        let keys = LedgerFixtures.keys(7).map(\.publicKey)
        let set = try #require(ValidatorSet(keys.reversed()))
        #expect(set.members == keys.sorted())
        for key in keys { #expect(set.index(of: key) == set.members.firstIndex(of: key)) }
        #expect(!set.contains(LedgerFixtures.privateKey(20).publicKey))
        #expect(set.hash == SHA256.hash(tag: "ensure/validator-set/v1", set.canonicalBytes))
        #expect(set.hash != ValidatorSet(Array(keys.dropLast()))!.hash)
        #expect(try ValidatorSet.decode(canonical: set.canonicalBytes) == set)
    }

    static let proposer = LedgerFixtures.privateKey(0)
    static let parentID = LedgerFixtures.digest(0x11)

    static func transactions(_ count: Int, chainID: String = LedgerFixtures.chainID) -> [Transaction] {
        (0..<count).map {
            Transaction(
                chainID: chainID, sequence: UInt64($0 + 1), kind: .notarize, payload: [UInt8($0)], signedBy: proposer)
        }
    }

    /// A structurally valid block at height 5, round 8, over a parent certified at height 4, round 6.
    static func block(
        transactions: [Transaction] = transactions(3), count: UInt64? = nil, root: Digest? = nil, height: UInt64 = 5,
        round: UInt64 = 8, justify: QuorumCertificate? = nil, chainID: String = LedgerFixtures.chainID
    ) -> Block {
        let header = BlockHeader(
            chainID: chainID, epoch: 1, height: height, round: round, parentID: parentID, proposer: proposer.publicKey,
            timestamp: 1_700_000_000_000, transactionRoot: root ?? Block.transactionRoot(of: transactions),
            transactionCount: count ?? UInt64(transactions.count), incidentLogSize: 0, incidentLogRoot: Digest.zero,
            stateRoot: Digest.zero, validatorSetHash: Digest.zero)
        let qc =
            justify
            ?? LedgerFixtures.quorumCertificate(
                LedgerFixtures.voteData(round: 6, height: 4, block: parentID), signedBy: LedgerFixtures.keys(3))
        return Block(header: header, justify: qc, transactions: transactions)
    }

    @Test("a consistent block passes, with or without transactions, and survives a round trip")
    func validBlock() throws {
        for block in [Self.block(), Self.block(transactions: [])] {
            #expect(throws: Never.self) { try block.validateStructure() }
            let decoded = try Block.decode(canonical: block.canonicalBytes)
            #expect(decoded == block)
            #expect(decoded.id == block.header.id)
            #expect(block.id == SHA256.hash(tag: "ensure/block-header/v1", block.header.canonicalBytes))
        }
        #expect(Block.transactionRoot(of: []) == MerkleHash.emptyRoot)
    }

    @Test("a bad transaction inside a block is named by its position and field, and decoded bytes are the input")
    func transactionErrorsNameTheirPlace() throws {
        let block = Self.block()
        let bytes = block.canonicalBytes
        // The version byte of the second transaction.
        let second = block.transactions[1].canonicalBytes
        let at = try #require(
            (0...(bytes.count - second.count)).first { Array(bytes[$0..<($0 + second.count)]) == second })
        var broken = bytes
        broken[at] = 9
        #expect(throws: CanonicalDecodingError.unknownVersion(field: "block.transactions[1].version", version: 9)) {
            try Block.decode(canonical: broken, field: "block")
        }
        var truncated = block.transactions[0].canonicalBytes
        truncated.removeLast()
        #expect(throws: CanonicalDecodingError.truncated(field: "transaction.signature", needed: 64, remaining: 63)) {
            try Transaction.decode(canonical: truncated, field: "transaction")
        }
        for (decoded, original) in zip(try Block.decode(canonical: bytes).transactions, block.transactions) {
            #expect(decoded.canonicalBytes == original.canonicalBytes)
            #expect(decoded.id == original.id)
            #expect(decoded == original)
        }
    }

    static func invalid(_ field: String, _ reason: String) -> CanonicalDecodingError {
        .invalidValue(field: field, reason: reason)
    }

    @Test("blocks whose header disagrees with their transactions are refused")
    func rootAndCount() {
        let txs = Self.transactions(3)
        #expect(throws: Self.invalid("block.header.transactionCount", "does not match the transactions")) {
            try Self.block(transactions: txs, count: 2).validateStructure()
        }
        #expect(throws: Self.invalid("block.header.transactionRoot", "does not match the transactions")) {
            try Self.block(transactions: txs, root: Block.transactionRoot(of: Array(txs.reversed())))
                .validateStructure()
        }
        // Replacing a transaction keeps the count; the root catches it.
        #expect(throws: Self.invalid("block.header.transactionRoot", "does not match the transactions")) {
            try Self.block(transactions: Array(txs.dropLast()) + [txs[0]], root: Block.transactionRoot(of: txs))
                .validateStructure()
        }
    }

    @Test("blocks whose justify certificate is not for their parent, height or round are refused")
    func justifyRules() {
        let keys = LedgerFixtures.keys(3)
        let otherParent = LedgerFixtures.quorumCertificate(
            LedgerFixtures.voteData(round: 6, height: 4, block: LedgerFixtures.digest(0x22)), signedBy: keys)
        #expect(throws: Self.invalid("block.justify", "certifies a block other than the parent")) {
            try Self.block(justify: otherParent).validateStructure()
        }
        #expect(throws: Self.invalid("block.justify", "certified height is not the parent height")) {
            try Self.block(height: 6).validateStructure()
        }
        #expect(throws: Self.invalid("block.justify", "certified height is not the parent height")) {
            try Self.block(height: 0).validateStructure()
        }
        #expect(throws: Self.invalid("block.header.round", "round is not above the parent's")) {
            try Self.block(round: 6).validateStructure()
        }
        #expect(throws: Self.invalid("block.header.round", "round is not above the parent's")) {
            try Self.block(round: 2).validateStructure()
        }
    }

    @Test("blocks carrying another chain's transactions or certificate are refused")
    func chainIDs() {
        let mixed = Self.transactions(2) + Self.transactions(1, chainID: "ensure-other")
        #expect(throws: Self.invalid("block.transactions[2].chainID", "is not the block's chain")) {
            try Self.block(transactions: mixed).validateStructure()
        }
        let foreign = LedgerFixtures.quorumCertificate(
            VoteData(chainID: "ensure-other", epoch: 1, round: 6, height: 4, blockID: Self.parentID),
            signedBy: LedgerFixtures.keys(3))
        #expect(throws: Self.invalid("block.justify.data.chainID", "is not the block's chain")) {
            try Self.block(justify: foreign).validateStructure()
        }
    }
}
