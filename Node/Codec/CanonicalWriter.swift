/// Appends values in Ensure's canonical binary form (docs/encoding.md): unsigned LEB128 varints in their
/// shortest form for integers, lengths and counts; fixed-size byte strings as they are; booleans and
/// optional markers as one byte, 0 or 1; strings as a varint length and UTF-8.
public struct CanonicalWriter: Sendable {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8]

    /// An empty writer.
    public init(reservingCapacity capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Writes one raw byte (version bytes, fixed tags).
    public mutating func writeByte(_ value: UInt8) {
        bytes.append(value)
    }

    /// Writes an unsigned integer as a shortest-form LEB128 varint (1 to 10 bytes).
    public mutating func writeVarUInt(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// Writes a boolean as 0x00 or 0x01.
    public mutating func writeBool(_ value: Bool) {
        bytes.append(value ? 1 : 0)
    }

    /// Writes bytes whose length the format fixes (keys, digests, signatures): no length prefix.
    public mutating func writeFixedBytes(_ value: [UInt8]) {
        bytes.append(contentsOf: value)
    }

    /// Writes fixed-length bytes from a buffer (a value that holds its bytes inline).
    public mutating func writeFixedBytes(_ buffer: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: buffer)
    }

    /// Writes a varint length followed by the bytes.
    public mutating func writeLengthPrefixedBytes(_ value: [UInt8]) {
        writeVarUInt(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    /// Writes a varint byte length followed by the string's UTF-8.
    public mutating func writeString(_ value: String) {
        writeLengthPrefixedBytes(Array(value.utf8))
    }

    /// Writes an optional: 0x00 for nil, or 0x01 followed by the value.
    public mutating func writeOptional<T>(_ value: T?, _ writeValue: (inout CanonicalWriter, T) -> Void) {
        if let value {
            bytes.append(1)
            writeValue(&self, value)
        } else {
            bytes.append(0)
        }
    }

    /// Writes a varint count followed by each element.
    public mutating func writeArray<T>(_ values: [T], _ writeElement: (inout CanonicalWriter, T) -> Void) {
        writeVarUInt(UInt64(values.count))
        for value in values {
            writeElement(&self, value)
        }
    }

    /// Writes a value that knows its own canonical form.
    public mutating func write(_ value: some CanonicalEncodable) {
        value.encode(to: &self)
    }

    /// Writes a varint count followed by each encodable element.
    public mutating func writeArray(_ values: [some CanonicalEncodable]) {
        writeVarUInt(UInt64(values.count))
        for value in values {
            value.encode(to: &self)
        }
    }
}
