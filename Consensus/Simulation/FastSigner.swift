public import Consensus
public import EnsureCrypto

/// A signer for long simulations: the "signature" is SHA-256 of the key and the domain-prefixed message,
/// twice over. It binds key, domain and message like a signature, but anyone can compute it, so it is only for
/// the simulator, whose Byzantine nodes misbehave through the protocol and never forge.
public struct FastSigner: ConsensusSigner {
    /// The identity; keys are still real Ed25519 public keys so validator sets look as in production.
    public let publicKey: Ed25519PublicKey

    /// Signs as `publicKey`.
    public init(publicKey: Ed25519PublicKey) { self.publicKey = publicKey }

    /// The keyed hash standing in for a signature.
    public func sign(_ message: [UInt8], domain: SigningDomain) -> Ed25519Signature {
        FastSigner.tag(publicKey, message, domain)
    }

    static func tag(_ key: Ed25519PublicKey, _ message: [UInt8], _ domain: SigningDomain) -> Ed25519Signature {
        let first = SHA256.hash(tag: "ensure/simulation-signature/v1", key.bytes + domain.prefixed(message))
        let second = SHA256.hash(first.bytes)
        return Ed25519Signature(bytes: first.bytes + second.bytes)!
    }
}

/// Checks ``FastSigner`` signatures.
public struct FastVerifier: SignatureVerifier {
    /// Creates the verifier.
    public init() {}

    /// Recomputes the keyed hash and compares.
    public func isValid(
        _ signature: Ed25519Signature, by signer: Ed25519PublicKey, for message: [UInt8], domain: SigningDomain
    ) -> Bool {
        FastSigner.tag(signer, message, domain) == signature
    }
}
