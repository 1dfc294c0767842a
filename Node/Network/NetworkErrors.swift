public import Codec
public import EnsureCrypto

/// Why a handshake was refused. Every case names what was wrong and, where it is known, which peer; none
/// carries key material other than public keys.
public enum HandshakeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The first bytes were not an Ensure hello (wrong protocol magic): not our protocol, or garbage.
    case badMagic(received: [UInt8])
    /// The hello's length prefix is outside the accepted range; checked before the body is read.
    case helloLengthOutOfRange(declared: Int, minimum: Int, maximum: Int)
    /// The hello did not decode (truncated, trailing bytes, bad field).
    case malformedHello(CanonicalDecodingError)
    /// The peer speaks a protocol version this build does not.
    case unsupportedVersion(received: UInt8, supported: UInt8)
    /// The peer is on another chain.
    case chainMismatch(expected: String, received: String)
    /// The peer's node key is not in the set the caller's ``PeerAuthorizer`` accepts.
    case unauthorizedPeer(Ed25519PublicKey)
    /// An outbound dial expected one key and reached another.
    case unexpectedPeer(expected: Ed25519PublicKey, received: Ed25519PublicKey)
    /// The peer presented this node's own key (a connection to ourselves, or a reflected hello).
    case selfConnection(Ed25519PublicKey)
    /// The peer's ephemeral key is a low-order point, so no secret could be agreed.
    case weakEphemeralKey(X25519PublicKey)
    /// The first encrypted frame has the wrong length for an authentication frame.
    case authenticationFrameLength(declared: Int, expected: Int)
    /// The authentication frame failed to decrypt: the peer does not hold the session keys.
    case authenticationFrameUndecryptable(peer: Ed25519PublicKey)
    /// The transcript signature does not verify under the peer's claimed node key.
    case invalidSignature(peer: Ed25519PublicKey)
    /// The handshake did not complete in time.
    case timedOut(after: Duration)
    /// The connection closed before the handshake completed.
    case closedDuringHandshake

    public var description: String {
        switch self {
        case .badMagic(let received):
            return "not an Ensure peer: hello starts with \(Hex.encode(received)), not the protocol magic"
        case .helloLengthOutOfRange(let declared, let minimum, let maximum):
            return "hello length \(declared) is outside \(minimum)...\(maximum)"
        case .malformedHello(let error):
            return "malformed hello: \(error)"
        case .unsupportedVersion(let received, let supported):
            return "peer speaks protocol version \(received); this node speaks \(supported)"
        case .chainMismatch(let expected, let received):
            return "peer is on chain '\(received)', this node is on '\(expected)'"
        case .unauthorizedPeer(let key):
            return "peer key \(key.hex) is not authorized on this network"
        case .unexpectedPeer(let expected, let received):
            return "dialed peer \(expected.hex) but the remote presented key \(received.hex)"
        case .selfConnection(let key):
            return "remote presented this node's own key \(key.hex)"
        case .weakEphemeralKey(let key):
            return "peer's ephemeral key \(key.hex) is a low-order point"
        case .authenticationFrameLength(let declared, let expected):
            return "authentication frame is \(declared) bytes, expected \(expected)"
        case .authenticationFrameUndecryptable(let peer):
            return "authentication frame from \(peer.hex) failed to decrypt"
        case .invalidSignature(let peer):
            return "handshake signature of \(peer.hex) does not verify over the transcript"
        case .timedOut(let after):
            return "handshake did not complete within \(after)"
        case .closedDuringHandshake:
            return "connection closed during the handshake"
        }
    }
}

/// Why an encrypted frame was refused; each closes the connection.
public enum FrameError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The length prefix exceeds the maximum; refused before any byte of the body is read or allocated.
    case frameTooLarge(declared: Int, maximum: Int)
    /// The length prefix is smaller than the authentication tag alone.
    case frameTooShort(declared: Int, minimum: Int)
    /// The frame's tag did not verify: tampered, reordered, replayed, or sealed under another key.
    case authenticationFailed(frameIndex: UInt64)
    /// The direction's frame counter reached its limit; the connection closes rather than reuse a nonce.
    case counterExhausted(limit: UInt64)
    /// A message to send is larger than the maximum frame allows.
    case messageTooLarge(byteCount: Int, maximum: Int)

    public var description: String {
        switch self {
        case .frameTooLarge(let declared, let maximum):
            return "frame length prefix \(declared) exceeds the maximum of \(maximum) bytes"
        case .frameTooShort(let declared, let minimum):
            return "frame length prefix \(declared) is below the minimum of \(minimum) bytes"
        case .authenticationFailed(let frameIndex):
            return "frame \(frameIndex) failed authentication"
        case .counterExhausted(let limit):
            return "frame counter reached its limit of \(limit); closing before a nonce could repeat"
        case .messageTooLarge(let byteCount, let maximum):
            return "message of \(byteCount) bytes exceeds the maximum of \(maximum)"
        }
    }
}
