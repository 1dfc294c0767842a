import Codec
import EnsureCrypto
public import Ledger

/// Certificate checks through a ``SignatureVerifier``, so the simulator's fast signer works for certificates too.
/// Unlike the Ledger's Ed25519-only `verify(against:)`, these also refuse signer lists that are not strictly
/// ascending, whatever produced them.
extension SignatureVerifier {
    /// Checks that a quorum of distinct members of `validators` signed the certificate's data.
    public func verify(_ qc: QuorumCertificate, against validators: ValidatorSet) throws(CertificateError) {
        try checkSigners(qc.signatures.map(\.signer), against: validators)
        let message = qc.data.canonicalBytes
        for entry in qc.signatures where !isValid(entry.signature, by: entry.signer, for: message, domain: .vote) {
            throw .invalidSignature(signer: entry.signer)
        }
    }

    /// Checks a timeout certificate: a quorum of distinct members, each signature, each reported round below the
    /// timed-out round, and that the carried certificate is the highest reported. The carried certificate's own
    /// signatures are checked by the caller, which knows whether it is the epoch's root.
    public func verify(_ tc: TimeoutCertificate, against validators: ValidatorSet) throws(CertificateError) {
        try checkSigners(tc.signatures.map(\.signer), against: validators)
        for entry in tc.signatures {
            guard entry.highQCRound < tc.round else {
                throw .malformed("signer \(entry.signer.keyID) reports a high QC round not below the timeout round")
            }
            let data = TimeoutData(
                chainID: tc.chainID, epoch: tc.epoch, round: tc.round, highQCRound: entry.highQCRound)
            guard isValid(entry.signature, by: entry.signer, for: data.canonicalBytes, domain: .timeout) else {
                throw .invalidSignature(signer: entry.signer)
            }
        }
        guard tc.highQC.round == tc.maxHighQCRound else {
            throw .malformed("high QC round \(tc.highQC.round) is not the highest reported, \(tc.maxHighQCRound)")
        }
    }

    private func checkSigners(_ signers: [Ed25519PublicKey], against validators: ValidatorSet) throws(CertificateError)
    {
        for i in signers.indices.dropFirst() where !(signers[i - 1] < signers[i]) {
            throw .malformed("signer \(signers[i].keyID) is duplicated or out of order")
        }
        for signer in signers where !validators.contains(signer) {
            throw .unknownSigner(signer)
        }
        guard signers.count >= validators.quorum else {
            throw .insufficientSigners(have: signers.count, need: validators.quorum)
        }
    }
}
