public import EnsureCrypto

/// Makes the signatures a validator emits. The core never touches key material directly, so the simulator can
/// swap in a cheaper scheme for long runs and a node can keep its key in a separate process.
public protocol ConsensusSigner: Sendable {
    /// The validator's public key: the identity every signature is checked against.
    var publicKey: Ed25519PublicKey { get }
    /// Signs `message` for `domain`.
    func sign(_ message: [UInt8], domain: SigningDomain) -> Ed25519Signature
}

/// Checks signatures made by a ``ConsensusSigner`` of the same scheme.
public protocol SignatureVerifier: Sendable {
    /// Whether `signature` is `signer`'s over `message` in `domain`.
    func isValid(
        _ signature: Ed25519Signature, by signer: Ed25519PublicKey, for message: [UInt8], domain: SigningDomain
    )
        -> Bool
}

/// The production signer: Ed25519 through libsodium.
public struct Ed25519ConsensusSigner: ConsensusSigner {
    private let key: Ed25519PrivateKey

    /// Signs with `key`.
    public init(key: Ed25519PrivateKey) { self.key = key }

    /// The key's public half.
    public var publicKey: Ed25519PublicKey { key.publicKey }

    /// An Ed25519 signature over the domain-prefixed message.
    public func sign(_ message: [UInt8], domain: SigningDomain) -> Ed25519Signature {
        key.signature(for: message, domain: domain)
    }
}

/// The production verifier: Ed25519 through libsodium.
public struct Ed25519SignatureVerifier: SignatureVerifier {
    /// Creates the verifier.
    public init() {}

    /// Verifies an Ed25519 signature over the domain-prefixed message.
    public func isValid(
        _ signature: Ed25519Signature, by signer: Ed25519PublicKey, for message: [UInt8], domain: SigningDomain
    ) -> Bool {
        signer.isValidSignature(signature, for: message, domain: domain)
    }
}
