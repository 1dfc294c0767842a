/// A 32-byte SHA-256 digest: block ids, transaction ids, Merkle nodes, state roots.
///
/// The bytes are held inline (``InlineBytes32``), not in an array: a loaded node keeps hundreds of thousands of
/// ids in its mempool, signature cache and indexes.
public struct Digest: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The number of bytes in a digest.
    public static let byteCount = 32

    private let storage: InlineBytes32

    /// The all-zero digest, used where a field has no value yet (for example the parent of genesis).
    public static let zero = Digest(storage: InlineBytes32())

    private init(storage: InlineBytes32) {
        self.storage = storage
    }

    /// Wraps exactly 32 bytes; returns nil for any other length.
    public init?(bytes: [UInt8]) {
        guard let storage = InlineBytes32(bytes) else { return nil }
        self.storage = storage
    }

    /// Copies exactly 32 bytes from a buffer; returns nil for any other length.
    public init?(_ buffer: UnsafeRawBufferPointer) {
        guard let storage = InlineBytes32(buffer) else { return nil }
        self.storage = storage
    }

    /// A digest whose 32 bytes `fill` writes (a hash function's output).
    init(filling fill: (UnsafeMutableRawBufferPointer) -> Void) {
        self.storage = InlineBytes32(filling: fill)
    }

    /// Parses 64 hexadecimal characters.
    public init?(hex: String) {
        guard let bytes = Hex.decode(hex) else { return nil }
        self.init(bytes: bytes)
    }

    /// The digest's 32 bytes, as a new array.
    public var bytes: [UInt8] { storage.bytes }

    /// Calls `body` with the 32 bytes, without copying them into an array.
    public func withUnsafeBytes<Result, Failure: Error>(
        _ body: (UnsafeRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try storage.withUnsafeBytes(body)
    }

    /// Lower-case hexadecimal.
    public var hex: String { Hex.encode(bytes) }

    public var description: String { hex }

    /// Byte-wise order of the 32 bytes.
    public static func < (lhs: Digest, rhs: Digest) -> Bool { lhs.storage < rhs.storage }
}
