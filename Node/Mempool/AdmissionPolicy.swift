public import EnsureCrypto
public import Ledger

/// What the mempool asks the application about committed state. The application implements it over its
/// registries; the mempool never reads state any other way, so it stays a pure value with no storage.
///
/// Both answers must describe the same committed height, and the mempool asks them again on every
/// ``Mempool/update(committed:policy:now:)``, so a revoked plugin or a changed parameter takes effect there.
public protocol AdmissionPolicy {
    /// Whether `signer` may submit transactions of `kind` at the committed height.
    func isAuthorized(signer: Ed25519PublicKey, kind: TransactionKind) -> Bool

    /// The sequence number the next committed transaction of `signer` must carry: 1 for a key that never
    /// committed one, otherwise one more than its last committed sequence.
    func nextExpectedSequence(of signer: Ed25519PublicKey) -> UInt64
}
