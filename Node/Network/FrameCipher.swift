public import EnsureCrypto

/// The frame counter of one direction of a session: each value is used for exactly one nonce, and the
/// counter refuses to go past its limit, so the connection closes before a nonce could repeat.
public struct FrameCounter: Sendable, Equatable {
    /// The default limit: every 64-bit value but the last may be used.
    public static let defaultLimit = UInt64.max

    /// The counter value the next frame will use.
    public private(set) var next: UInt64
    /// The first value that may not be used.
    public let limit: UInt64

    /// A counter starting at 0 that stops before `limit`.
    public init(limit: UInt64 = FrameCounter.defaultLimit) {
        self.next = 0
        self.limit = limit
    }

    /// Takes the next counter value, or throws ``FrameError/counterExhausted(limit:)`` once it reaches the limit.
    public mutating func take() throws(FrameError) -> UInt64 {
        guard next < limit else { throw .counterExhausted(limit: limit) }
        defer { next += 1 }
        return next
    }
}

/// Seals outgoing frames of one direction: 4-byte big-endian length ‖ ChaCha20-Poly1305 ciphertext, with the
/// direction's counter as the nonce and the length prefix as associated data.
public struct FrameSealer: Sendable {
    private let key: ChaCha20Poly1305.Key
    private var counter: FrameCounter
    /// The largest plaintext one frame may carry.
    public let maximumPlaintextByteCount: Int

    /// A sealer for the transmit key of a session.
    public init(key: ChaCha20Poly1305.Key, maximumPlaintextByteCount: Int, counter: FrameCounter = FrameCounter()) {
        self.key = key
        self.counter = counter
        self.maximumPlaintextByteCount = maximumPlaintextByteCount
    }

    /// The counter value the next frame will use.
    public var nextFrameIndex: UInt64 { counter.next }

    /// The complete wire frame for `plaintext`.
    public mutating func seal(_ plaintext: [UInt8]) throws(FrameError) -> [UInt8] {
        guard plaintext.count <= maximumPlaintextByteCount else {
            throw .messageTooLarge(byteCount: plaintext.count, maximum: maximumPlaintextByteCount)
        }
        let index = try counter.take()
        let prefix = FrameLength.encode(plaintext.count + ChaCha20Poly1305.tagByteCount)
        let ciphertext = ChaCha20Poly1305.seal(
            plaintext, key: key, nonce: ChaCha20Poly1305.Nonce(counter: index), associatedData: prefix)
        return prefix + ciphertext
    }
}

/// Opens incoming frames of one direction, in order; any failure is final for the connection.
public struct FrameOpener: Sendable {
    private let key: ChaCha20Poly1305.Key
    private var counter: FrameCounter
    /// The largest ciphertext (plaintext and tag) a length prefix may announce.
    public let maximumCiphertextByteCount: Int

    /// An opener for the receive key of a session.
    public init(key: ChaCha20Poly1305.Key, maximumPlaintextByteCount: Int, counter: FrameCounter = FrameCounter()) {
        self.key = key
        self.counter = counter
        self.maximumCiphertextByteCount = maximumPlaintextByteCount + ChaCha20Poly1305.tagByteCount
    }

    /// The counter value the next frame must have been sealed with.
    public var nextFrameIndex: UInt64 { counter.next }

    /// The ciphertext length a 4-byte prefix announces, refused if it is above the maximum or below the tag
    /// size: called on the prefix alone, before any of the body is buffered.
    public func ciphertextByteCount(prefix: some Collection<UInt8>) throws(FrameError) -> Int {
        let length = FrameLength.decode(prefix)
        guard length <= maximumCiphertextByteCount else {
            throw .frameTooLarge(declared: length, maximum: maximumCiphertextByteCount)
        }
        guard length >= ChaCha20Poly1305.tagByteCount else {
            throw .frameTooShort(declared: length, minimum: ChaCha20Poly1305.tagByteCount)
        }
        return length
    }

    /// Authenticates and decrypts the next frame's ciphertext (the bytes after its prefix).
    public mutating func open(ciphertext: [UInt8]) throws(FrameError) -> [UInt8] {
        let prefix = FrameLength.encode(ciphertext.count)
        _ = try ciphertextByteCount(prefix: prefix)
        let index = try counter.take()
        do {
            return try ChaCha20Poly1305.open(
                ciphertext, key: key, nonce: ChaCha20Poly1305.Nonce(counter: index), associatedData: prefix)
        } catch {
            throw .authenticationFailed(frameIndex: index)
        }
    }
}

/// The 4-byte big-endian length prefix of a frame.
public enum FrameLength {
    /// The number of bytes in a prefix.
    public static let byteCount = 4

    /// The prefix for a ciphertext of `length` bytes (which must fit 32 bits).
    public static func encode(_ length: Int) -> [UInt8] {
        let value = UInt32(length)
        return [
            UInt8(truncatingIfNeeded: value >> 24), UInt8(truncatingIfNeeded: value >> 16),
            UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value),
        ]
    }

    /// The length in the first four bytes of `prefix` (which must have at least four).
    public static func decode(_ prefix: some Collection<UInt8>) -> Int {
        prefix.prefix(byteCount).reduce(0) { $0 << 8 | Int($1) }
    }
}
