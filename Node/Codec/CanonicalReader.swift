/// Reads Ensure's canonical binary form, refusing every non-canonical or over-limit input with a
/// ``CanonicalDecodingError`` that names the field. Limits are checked before anything is allocated, so a
/// hostile length prefix cannot make the reader reserve memory.
public struct CanonicalReader: Sendable {
    private let bytes: [UInt8]
    private var offset: Int

    /// A reader positioned at the start of `bytes`.
    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
        self.offset = 0
    }

    /// The number of bytes not yet read.
    public var remaining: Int { bytes.count - offset }

    /// True once every byte has been read.
    public var isAtEnd: Bool { offset == bytes.count }

    /// How many bytes have been read.
    public var position: Int { offset }

    /// The bytes read from `start` (an earlier ``position``) up to here: the exact input of what was read since.
    public func bytesRead(since start: Int) -> [UInt8] {
        precondition(start >= 0 && start <= offset, "start must be an earlier position")
        return Array(bytes[start..<offset])
    }

    /// Throws ``CanonicalDecodingError/trailingBytes(field:count:)`` unless every byte was consumed.
    public func expectEnd(field: String) throws(CanonicalDecodingError) {
        if remaining != 0 {
            throw .trailingBytes(field: field, count: remaining)
        }
    }

    /// Reads one raw byte.
    public mutating func readByte(field: String) throws(CanonicalDecodingError) -> UInt8 {
        guard remaining >= 1 else { throw .truncated(field: field, needed: 1, remaining: remaining) }
        defer { offset += 1 }
        return bytes[offset]
    }

    /// Reads a version byte and checks it is one of `supported`.
    public mutating func readVersion(field: String, supported: ClosedRange<UInt8>) throws(CanonicalDecodingError)
        -> UInt8
    {
        let version = try readByte(field: field)
        guard supported.contains(version) else { throw .unknownVersion(field: field, version: version) }
        return version
    }

    /// Reads a shortest-form LEB128 varint of at most 64 bits, no larger than `max`.
    public mutating func readVarUInt(field: String, max: UInt64 = .max) throws(CanonicalDecodingError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        var index = 0
        while true {
            guard offset < bytes.count else {
                throw .truncated(field: field, needed: 1, remaining: 0)
            }
            let byte = bytes[offset]
            offset += 1
            let payload = UInt64(byte & 0x7f)
            // The tenth byte may carry only the top bit of a 64-bit value.
            if index == 9 && byte > 1 {
                throw .nonCanonicalInteger(field: field)
            }
            result |= payload << shift
            if byte & 0x80 == 0 {
                // A final zero byte after other bytes means a longer-than-necessary encoding.
                if byte == 0 && index > 0 {
                    throw .nonCanonicalInteger(field: field)
                }
                break
            }
            shift += 7
            index += 1
        }
        guard result <= max else { throw .limitExceeded(field: field, limit: max, actual: result) }
        return result
    }

    /// Reads a varint that must fit an `Int` and be at most `max`: lengths and counts.
    public mutating func readCount(field: String, max: Int) throws(CanonicalDecodingError) -> Int {
        Int(try readVarUInt(field: field, max: UInt64(max)))
    }

    /// Reads a boolean, which must be exactly 0x00 or 0x01.
    public mutating func readBool(field: String) throws(CanonicalDecodingError) -> Bool {
        let byte = try readByte(field: field)
        switch byte {
        case 0: return false
        case 1: return true
        default: throw .invalidTag(field: field, tag: UInt64(byte))
        }
    }

    /// Reads exactly `count` bytes.
    public mutating func readFixedBytes(count: Int, field: String) throws(CanonicalDecodingError) -> [UInt8] {
        guard remaining >= count else { throw .truncated(field: field, needed: count, remaining: remaining) }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    /// Reads `count` bytes whose length the format fixes and hands them to `body` without copying them into an
    /// array (a value that holds its bytes inline).
    public mutating func readFixedBytes<Result>(
        count: Int, field: String, _ body: (UnsafeRawBufferPointer) -> Result
    ) throws(CanonicalDecodingError) -> Result {
        guard remaining >= count else { throw .truncated(field: field, needed: count, remaining: remaining) }
        defer { offset += count }
        return bytes.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[offset..<offset + count])) }
    }

    /// Reads a varint length (at most `maxLength`) and that many bytes.
    public mutating func readLengthPrefixedBytes(field: String, maxLength: Int) throws(CanonicalDecodingError)
        -> [UInt8]
    {
        let length = try readCount(field: field, max: maxLength)
        return try readFixedBytes(count: length, field: field)
    }

    /// Reads a length-prefixed UTF-8 string of at most `maxBytes` bytes.
    public mutating func readString(field: String, maxBytes: Int) throws(CanonicalDecodingError) -> String {
        let length = try readCount(field: field, max: maxBytes)
        // Validated from the input itself: every transaction carries a chain id, and copying it into an array
        // first cost more than the check.
        let string = try readFixedBytes(count: length, field: field) { raw in
            String(validating: raw.assumingMemoryBound(to: UInt8.self), as: UTF8.self)
        }
        guard let string else { throw .invalidUTF8(field: field) }
        return string
    }

    /// Reads an optional marker (0x00 or 0x01) and, when present, the value.
    public mutating func readOptional<T>(
        field: String,
        _ readValue: (inout CanonicalReader) throws(CanonicalDecodingError) -> T
    ) throws(CanonicalDecodingError) -> T? {
        let marker = try readByte(field: field)
        switch marker {
        case 0: return nil
        case 1: return try readValue(&self)
        default: throw .invalidTag(field: field, tag: UInt64(marker))
        }
    }

    /// Reads a varint count (at most `maxCount`) and that many elements; the closure receives each index.
    public mutating func readArray<T>(
        field: String,
        maxCount: Int,
        _ readElement: (inout CanonicalReader, Int) throws(CanonicalDecodingError) -> T
    ) throws(CanonicalDecodingError) -> [T] {
        let count = try readCount(field: field, max: maxCount)
        // Every element takes at least one byte, so a count larger than what is left is truncated input;
        // checking first keeps a hostile count from reserving memory.
        guard count <= remaining else { throw .truncated(field: field, needed: count, remaining: remaining) }
        var out = [T]()
        out.reserveCapacity(count)
        for index in 0..<count {
            out.append(try readElement(&self, index))
        }
        return out
    }

    /// Reads a value that knows its own canonical form.
    public mutating func read<T: CanonicalDecodable>(_ type: T.Type, field: String) throws(CanonicalDecodingError)
        -> T
    {
        try T(from: &self, field: field)
    }
}
