/// 32 bytes held inline as four words of memory, for the fixed-size values a node keeps by the hundred thousand
/// (digests and public keys): making one costs no allocation, and hashing or comparing one chases no pointer.
struct InlineBytes32: Hashable, Sendable {
    private var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    /// 32 zero bytes.
    init() {}

    /// Copies exactly 32 bytes from `buffer`; returns nil for any other length.
    init?(_ buffer: UnsafeRawBufferPointer) {
        guard buffer.count == 32 else { return nil }
        Swift.withUnsafeMutableBytes(of: &words) { $0.copyMemory(from: buffer) }
    }

    /// Copies exactly 32 bytes; returns nil for any other length.
    init?(_ bytes: [UInt8]) {
        guard let value = bytes.withUnsafeBytes({ Self($0) }) else { return nil }
        self = value
    }

    /// The 32 bytes that `fill` writes (a hash function's output).
    init(filling fill: (UnsafeMutableRawBufferPointer) -> Void) {
        Swift.withUnsafeMutableBytes(of: &words) { fill($0) }
    }

    /// The 32 bytes as a new array.
    var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// Calls `body` with the 32 bytes, without copying them into an array.
    func withUnsafeBytes<Result, Failure: Error>(
        _ body: (UnsafeRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try Swift.withUnsafeBytes(of: words, body)
    }

    static func == (lhs: InlineBytes32, rhs: InlineBytes32) -> Bool {
        lhs.words.0 == rhs.words.0 && lhs.words.1 == rhs.words.1 && lhs.words.2 == rhs.words.2
            && lhs.words.3 == rhs.words.3
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }

    /// Byte-wise order, the 32 bytes read left to right: each word read big-endian compares as its 8 bytes do.
    static func < (lhs: InlineBytes32, rhs: InlineBytes32) -> Bool {
        if lhs.words.0 != rhs.words.0 { return UInt64(bigEndian: lhs.words.0) < UInt64(bigEndian: rhs.words.0) }
        if lhs.words.1 != rhs.words.1 { return UInt64(bigEndian: lhs.words.1) < UInt64(bigEndian: rhs.words.1) }
        if lhs.words.2 != rhs.words.2 { return UInt64(bigEndian: lhs.words.2) < UInt64(bigEndian: rhs.words.2) }
        return UInt64(bigEndian: lhs.words.3) < UInt64(bigEndian: rhs.words.3)
    }
}
