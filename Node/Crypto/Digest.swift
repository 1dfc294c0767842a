/// A 32-byte SHA-256 digest: block ids, transaction ids, Merkle nodes, state roots.
public struct Digest: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The number of bytes in a digest.
    public static let byteCount = 32

    /// The digest's 32 bytes.
    public let bytes: [UInt8]

    /// The all-zero digest, used where a field has no value yet (for example the parent of genesis).
    public static let zero = Digest(uncheckedBytes: [UInt8](repeating: 0, count: 32))

    /// Wraps exactly 32 bytes; returns nil for any other length.
    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.byteCount else { return nil }
        self.bytes = bytes
    }

    /// Wraps bytes the caller has already checked to be 32 long.
    init(uncheckedBytes: [UInt8]) {
        precondition(uncheckedBytes.count == Self.byteCount)
        self.bytes = uncheckedBytes
    }

    /// Parses 64 hexadecimal characters.
    public init?(hex: String) {
        guard let bytes = Hex.decode(hex), bytes.count == Self.byteCount else { return nil }
        self.bytes = bytes
    }

    /// Lower-case hexadecimal.
    public var hex: String { Hex.encode(bytes) }

    public var description: String { hex }

    /// Hashes the 32 bytes in one call; the synthesized version combined them one at a time, which showed in
    /// the node's profile (every mempool, index and vote table is keyed by these).
    public func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    public static func < (lhs: Digest, rhs: Digest) -> Bool {
        lhs.bytes.lexicographicallyPrecedes(rhs.bytes)
    }
}
