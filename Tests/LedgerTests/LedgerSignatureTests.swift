import Codec
import EnsureCrypto
import Ledger
import Testing

/// Transactions, votes and timeouts verify only with the signer's key, over exactly the signed fields, in
/// their own signing domain.
struct LedgerSignatureTests {
    static let key = LedgerFixtures.privateKey(0)
    static let other = LedgerFixtures.privateKey(1)

    static func transaction(chainID: String = LedgerFixtures.chainID) -> Transaction {
        Transaction(chainID: chainID, sequence: 7, kind: .notarize, payload: [1, 2, 3, 4], signedBy: key)
    }

    @Test("a signed transaction verifies, and still verifies after a round trip")
    func validTransaction() throws {
        let tx = Self.transaction()
        #expect(tx.hasValidSignature)
        #expect(tx.signer == Self.key.publicKey)
        #expect(try Transaction.decode(canonical: tx.canonicalBytes).hasValidSignature)
    }

    /// Each field changed on its own, keeping the original signature.
    static let tamperings: [(String, @Sendable (Transaction) -> Transaction)] = [
        ("chainID", { rebuild($0, chainID: "ensure-other") }),
        ("signer", { rebuild($0, signer: other.publicKey) }),
        ("sequence", { rebuild($0, sequence: $0.sequence + 1) }),
        ("kind", { rebuild($0, kind: .incidentReport) }),
        ("payload", { rebuild($0, payload: [1, 2, 3, 5]) }),
        ("payload extended", { rebuild($0, payload: $0.payload + [0]) }),
        ("signature", { rebuild($0, signature: flipped($0.signature)) }),
    ]

    @Test("changing any signed field invalidates the signature", arguments: tamperings.map(\.0))
    func tamperedTransaction(field: String) throws {
        let tamper = try #require(Self.tamperings.first { $0.0 == field }?.1)
        let tampered = tamper(Self.transaction())
        #expect(tampered != Self.transaction())
        #expect(!tampered.hasValidSignature)
        #expect(try !Transaction.decode(canonical: tampered.canonicalBytes).hasValidSignature)
    }

    @Test("a signature made for one chain id is invalid on another")
    func otherChain() {
        let elsewhere = Self.transaction(chainID: "ensure-other")
        let replayed = Self.rebuild(Self.transaction(), signature: elsewhere.signature)
        #expect(elsewhere.hasValidSignature)
        #expect(!replayed.hasValidSignature)
        #expect(elsewhere.id != Self.transaction().id)
    }

    @Test("a transaction signature is bound to the transaction domain")
    func domainSeparation() {
        let tx = Self.transaction()
        #expect(Self.key.publicKey.isValidSignature(tx.signature, for: tx.signingBytes, domain: .transaction))
        #expect(!Self.key.publicKey.isValidSignature(tx.signature, for: tx.signingBytes, domain: .vote))
        #expect(!Self.key.publicKey.isValidSignature(tx.signature, forRaw: tx.signingBytes))
        // A signature over the same bytes in another domain is not a transaction signature.
        let voteDomain = Self.key.signature(for: tx.signingBytes, domain: .vote)
        #expect(!Self.rebuild(tx, signature: voteDomain).hasValidSignature)
        let raw = Self.key.signature(forRaw: tx.signingBytes)
        #expect(!Self.rebuild(tx, signature: raw).hasValidSignature)
    }

    @Test("the signed bytes are the encoding without the signature, and the id hashes the whole encoding")
    func signedBytesAndID() {
        let tx = Self.transaction()
        #expect(tx.canonicalBytes == tx.signingBytes + tx.signature.bytes)
        #expect(tx.id == SHA256.hash(tag: "ensure/transaction/v1", tx.canonicalBytes))
        #expect(Self.rebuild(tx, signature: Self.flipped(tx.signature)).id != tx.id)
    }

    @Test("votes and timeouts verify for their signer and data only, each in its own domain")
    func votesAndTimeouts() {
        let data = LedgerFixtures.voteData(round: 3, height: 2, block: LedgerFixtures.digest(9))
        let vote = Vote(data: data, signedBy: Self.key)
        #expect(vote.hasValidSignature)
        #expect(!Vote(data: data, voter: Self.other.publicKey, signature: vote.signature).hasValidSignature)
        let otherData = LedgerFixtures.voteData(round: 4, height: 2, block: LedgerFixtures.digest(9))
        #expect(!Vote(data: otherData, voter: vote.voter, signature: vote.signature).hasValidSignature)
        let wrongDomain = Self.key.signature(for: data.canonicalBytes, domain: .timeout)
        #expect(!Vote(data: data, voter: vote.voter, signature: wrongDomain).hasValidSignature)

        let timeoutData = TimeoutData(chainID: LedgerFixtures.chainID, epoch: 1, round: 4, highQCRound: 3)
        let highQC = QuorumCertificate.genesis(chainID: LedgerFixtures.chainID, blockID: LedgerFixtures.digest(1))
        let timeout = Timeout(data: timeoutData, highQC: highQC, signedBy: Self.key)
        #expect(timeout.hasValidSignature)
        let moved = TimeoutData(chainID: LedgerFixtures.chainID, epoch: 1, round: 4, highQCRound: 2)
        #expect(
            !Timeout(data: moved, signer: timeout.signer, signature: timeout.signature, highQC: highQC)
                .hasValidSignature)
        let asVote = Self.key.signature(for: timeoutData.canonicalBytes, domain: .vote)
        #expect(
            !Timeout(data: timeoutData, signer: timeout.signer, signature: asVote, highQC: highQC).hasValidSignature)
    }

    static func rebuild(
        _ tx: Transaction, chainID: String? = nil, signer: Ed25519PublicKey? = nil, sequence: UInt64? = nil,
        kind: TransactionKind? = nil, payload: [UInt8]? = nil, signature: Ed25519Signature? = nil
    ) -> Transaction {
        Transaction(
            chainID: chainID ?? tx.chainID, signer: signer ?? tx.signer, sequence: sequence ?? tx.sequence,
            kind: kind ?? tx.kind, payload: payload ?? tx.payload, signature: signature ?? tx.signature)
    }

    static func flipped(_ signature: Ed25519Signature) -> Ed25519Signature {
        var bytes = signature.bytes
        bytes[0] ^= 1
        return Ed25519Signature(bytes: bytes)!
    }
}
