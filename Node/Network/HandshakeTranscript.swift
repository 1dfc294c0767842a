public import EnsureCrypto

/// Which end of a connection a node is: the one that dialed, or the one that accepted.
public enum HandshakeRole: UInt8, Sendable, CustomStringConvertible {
    /// The side that opened the TCP connection (the `crypto_kx` client).
    case initiator = 1
    /// The side that accepted it (the `crypto_kx` server).
    case responder = 2

    /// The other end's role.
    public var peer: HandshakeRole { self == .initiator ? .responder : .initiator }

    public var description: String { self == .initiator ? "initiator" : "responder" }
}

/// The hash of both hellos of one connection, which each side signs to prove its identity.
///
/// The digest is SHA-256 tagged `ensure/network/transcript/v1` over the initiator's hello wire bytes and the
/// responder's, each preceded by its length as a canonical varint, so no two different hello pairs hash the
/// same input. What is signed is the digest followed by the signer's role byte, under
/// ``SigningDomain/handshake``: the role keeps one side's signature from being reflected back as the other's.
public struct HandshakeTranscript: Hashable, Sendable {
    /// The hash tag of the transcript digest.
    public static let hashTag = "ensure/network/transcript/v1"

    /// The transcript digest.
    public let digest: Digest

    /// The transcript of a connection whose initiator sent `initiatorHello` and responder `responderHello`
    /// (both in their exact wire form).
    public init(initiatorHello: [UInt8], responderHello: [UInt8]) {
        var input: [UInt8] = []
        input.reserveCapacity(initiatorHello.count + responderHello.count + 4)
        Self.appendVarUInt(UInt64(initiatorHello.count), to: &input)
        input.append(contentsOf: initiatorHello)
        Self.appendVarUInt(UInt64(responderHello.count), to: &input)
        input.append(contentsOf: responderHello)
        digest = SHA256.hash(tag: Self.hashTag, input)
    }

    /// The bytes a side with `role` signs: the digest followed by the role byte.
    public func signedMessage(role: HandshakeRole) -> [UInt8] {
        digest.bytes + [role.rawValue]
    }

    /// The signature of the side with `role`, made with its node identity key.
    public func signature(role: HandshakeRole, identity: Ed25519PrivateKey) -> Ed25519Signature {
        identity.signature(for: signedMessage(role: role), domain: .handshake)
    }

    /// Whether `signature` is `key`'s signature over this transcript as the side with `role`.
    public func isValidSignature(_ signature: Ed25519Signature, role: HandshakeRole, key: Ed25519PublicKey) -> Bool {
        key.isValidSignature(signature, for: signedMessage(role: role), domain: .handshake)
    }

    private static func appendVarUInt(_ value: UInt64, to out: inout [UInt8]) {
        var remaining = value
        while remaining >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: remaining) | 0x80)
            remaining >>= 7
        }
        out.append(UInt8(remaining))
    }
}
