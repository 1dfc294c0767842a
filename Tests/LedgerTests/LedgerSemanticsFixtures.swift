import Codec
import EnsureCrypto
import Ledger

/// Deterministic validators and certificates for the semantic tests: validator `i` has the seed whose 32 bytes
/// are all `i + 1`.
enum LedgerFixtures {
    static let chainID = "ensure-test"

    static func privateKey(_ index: Int) -> Ed25519PrivateKey {
        Ed25519PrivateKey(seed: [UInt8](repeating: UInt8(index + 1), count: 32))!
    }

    static func keys(_ count: Int) -> [Ed25519PrivateKey] { (0..<count).map(privateKey) }

    static func validatorSet(_ keys: [Ed25519PrivateKey]) -> ValidatorSet { ValidatorSet(keys.map(\.publicKey))! }

    static func digest(_ n: UInt8) -> Digest { Digest(bytes: [UInt8](repeating: n, count: 32))! }

    static func voteData(round: UInt64, height: UInt64, block: Digest, epoch: UInt64 = 1) -> VoteData {
        VoteData(chainID: chainID, epoch: epoch, round: round, height: height, blockID: block)
    }

    /// A certificate of `data` signed by `signers`.
    static func quorumCertificate(_ data: VoteData, signedBy signers: [Ed25519PrivateKey]) -> QuorumCertificate {
        QuorumCertificate(
            data: data,
            signatures: signers.map {
                ValidatorSignature(signer: $0.publicKey, signature: Vote(data: data, signedBy: $0).signature)
            })
    }

    /// A timeout certificate for `round` whose signers report `highQCRounds` (one per signer).
    static func timeoutCertificate(
        round: UInt64, signers: [Ed25519PrivateKey], highQCRounds: [UInt64], highQC: QuorumCertificate
    ) -> TimeoutCertificate {
        let entries = zip(signers, highQCRounds).map { key, high in
            let data = TimeoutData(chainID: chainID, epoch: 1, round: round, highQCRound: high)
            return TimeoutSignature(
                signer: key.publicKey, highQCRound: high,
                signature: Timeout(data: data, highQC: highQC, signedBy: key).signature)
        }
        return TimeoutCertificate(chainID: chainID, epoch: 1, round: round, signatures: entries, highQC: highQC)
    }
}
