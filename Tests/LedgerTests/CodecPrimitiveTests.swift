import Codec
import EnsureCrypto
import Testing

/// The primitives every object is built from, against fixed vectors: LEB128 varints in shortest form,
/// booleans, optionals, strings, fixed bytes and arrays.
struct CodecPrimitiveTests {
    static let varintVectors: [(UInt64, String)] = [
        (0, "00"), (1, "01"), (127, "7f"), (128, "8001"), (300, "ac02"), (16_383, "ff7f"), (16_384, "808001"),
        (2_097_151, "ffff7f"), (1 << 63, "80808080808080808001"), (UInt64.max, "ffffffffffffffffff01"),
    ]

    @Test("varints are written in shortest LEB128 form and read back", arguments: varintVectors)
    func varintVector(value: UInt64, hex: String) throws {
        var writer = CanonicalWriter()
        writer.writeVarUInt(value)
        #expect(Hex.encode(writer.bytes) == hex)
        var reader = CanonicalReader(try #require(Hex.decode(hex)))
        #expect(try reader.readVarUInt(field: "v") == value)
        #expect(reader.isAtEnd)
    }

    static let badVarints: [(String, CanonicalDecodingError)] = [
        ("8000", .nonCanonicalInteger(field: "v")),  // zero in two bytes
        ("ff00", .nonCanonicalInteger(field: "v")),  // 127 in two bytes
        ("808000", .nonCanonicalInteger(field: "v")),
        ("ac8200", .nonCanonicalInteger(field: "v")),  // 300 in three bytes
        ("ffffffffffffffffff02", .nonCanonicalInteger(field: "v")),  // 65 bits
        ("ffffffffffffffffff7f", .nonCanonicalInteger(field: "v")),
        ("8080808080808080808001", .nonCanonicalInteger(field: "v")),  // 11 bytes
        ("", .truncated(field: "v", needed: 1, remaining: 0)),
        ("80", .truncated(field: "v", needed: 1, remaining: 0)),
        ("ffffffffffffffffff", .truncated(field: "v", needed: 1, remaining: 0)),
    ]

    @Test("non-shortest, over-64-bit and unfinished varints are refused", arguments: badVarints)
    func badVarint(hex: String, error: CanonicalDecodingError) throws {
        var reader = CanonicalReader(try #require(Hex.decode(hex)))
        #expect(throws: error) { try reader.readVarUInt(field: "v") }
    }

    @Test("a varint above the field's maximum names the limit")
    func varintOverMaximum() throws {
        var reader = CanonicalReader([0x8b, 0x01])  // 139
        #expect(throws: CanonicalDecodingError.limitExceeded(field: "n", limit: 138, actual: 139)) {
            try reader.readVarUInt(field: "n", max: 138)
        }
        var exact = CanonicalReader([0x8a, 0x01])
        #expect(try exact.readVarUInt(field: "n", max: 138) == 138)
    }

    @Test("booleans are exactly 0x00 or 0x01")
    func booleans() throws {
        var writer = CanonicalWriter()
        writer.writeBool(false)
        writer.writeBool(true)
        #expect(writer.bytes == [0, 1])
        var reader = CanonicalReader([0, 1, 2])
        #expect(try reader.readBool(field: "b") == false)
        #expect(try reader.readBool(field: "b") == true)
        #expect(throws: CanonicalDecodingError.invalidTag(field: "b", tag: 2)) { try reader.readBool(field: "b") }
        var high = CanonicalReader([0xff])
        #expect(throws: CanonicalDecodingError.invalidTag(field: "b", tag: 255)) { try high.readBool(field: "b") }
    }

    @Test("optionals are a 0x00 marker, or 0x01 and the value")
    func optionals() throws {
        var writer = CanonicalWriter()
        writer.writeOptional(UInt64?.none) { $0.writeVarUInt($1) }
        writer.writeOptional(UInt64?.some(300)) { $0.writeVarUInt($1) }
        #expect(writer.bytes == [0x00, 0x01, 0xac, 0x02])
        var reader = CanonicalReader(writer.bytes + [0x02, 0x00])
        let read = { (r: inout CanonicalReader) throws(CanonicalDecodingError) -> UInt64 in
            try r.readVarUInt(field: "o")
        }
        #expect(try reader.readOptional(field: "o", read) == nil)
        #expect(try reader.readOptional(field: "o", read) == 300)
        #expect(throws: CanonicalDecodingError.invalidTag(field: "o", tag: 2)) {
            try reader.readOptional(field: "o", read)
        }
    }

    @Test("strings are a varint byte length and UTF-8, kept byte for byte")
    func strings() throws {
        // "é" precomposed and decomposed: equal as Swift strings, different bytes, both kept as written.
        for text in ["", "a", "caf\u{e9}", "cafe\u{301}", "\u{1f510} ledger", "\u{0}"] {
            var writer = CanonicalWriter()
            writer.writeString(text)
            #expect(writer.bytes == varintBytes(text.utf8.count) + Array(text.utf8))
            var reader = CanonicalReader(writer.bytes)
            let back = try reader.readString(field: "s", maxBytes: 64)
            #expect(Array(back.utf8) == Array(text.utf8))
        }
        var long = CanonicalReader([0x05] + Array("hello".utf8))
        #expect(throws: CanonicalDecodingError.limitExceeded(field: "s", limit: 4, actual: 5)) {
            try long.readString(field: "s", maxBytes: 4)
        }
        var short = CanonicalReader([0x05] + Array("hell".utf8))
        #expect(throws: CanonicalDecodingError.truncated(field: "s", needed: 5, remaining: 4)) {
            try short.readString(field: "s", maxBytes: 16)
        }
    }

    @Test(
        "strings that are not UTF-8 are refused",
        arguments: ["80", "ff", "c080", "c1bf", "eda080", "edbfbf", "f4908080", "f880808080", "e282", "e28241"])
    func invalidUTF8(hex: String) throws {
        let body = try #require(Hex.decode(hex))
        var reader = CanonicalReader(varintBytes(body.count) + body)
        #expect(throws: CanonicalDecodingError.invalidUTF8(field: "s")) {
            try reader.readString(field: "s", maxBytes: 16)
        }
    }

    @Test("fixed bytes and arrays refuse input that ends early or counts too high")
    func fixedBytesAndArrays() throws {
        var fixed = CanonicalReader([1, 2, 3])
        #expect(throws: CanonicalDecodingError.truncated(field: "k", needed: 4, remaining: 3)) {
            try fixed.readFixedBytes(count: 4, field: "k")
        }
        let element = { (r: inout CanonicalReader, _: Int) throws(CanonicalDecodingError) -> UInt8 in
            try r.readByte(field: "a[]")
        }
        var good = CanonicalReader([0x02, 7, 9])
        #expect(try good.readArray(field: "a", maxCount: 2, element) == [7, 9])
        var tooMany = CanonicalReader([0x03, 7, 9, 11])
        #expect(throws: CanonicalDecodingError.limitExceeded(field: "a", limit: 2, actual: 3)) {
            try tooMany.readArray(field: "a", maxCount: 2, element)
        }
        // A count of a million with three bytes left is refused before anything is reserved.
        var hostile = CanonicalReader(varintBytes(1_000_000) + [1, 2, 3])
        #expect(throws: CanonicalDecodingError.truncated(field: "a", needed: 1_000_000, remaining: 3)) {
            try hostile.readArray(field: "a", maxCount: 2_000_000, element)
        }
    }

    @Test("expectEnd names how many bytes were left over")
    func trailing() throws {
        var reader = CanonicalReader([0x01, 0x02, 0x03])
        _ = try reader.readByte(field: "x")
        #expect(reader.remaining == 2)
        #expect(throws: CanonicalDecodingError.trailingBytes(field: "x", count: 2)) { try reader.expectEnd(field: "x") }
        _ = try reader.readFixedBytes(count: 2, field: "x")
        #expect(throws: Never.self) { try reader.expectEnd(field: "x") }
    }

    @Test("every decoding error names its field in its description")
    func errorDescriptions() {
        let errors: [CanonicalDecodingError] = [
            .truncated(field: "f.a", needed: 2, remaining: 1), .trailingBytes(field: "f.a", count: 1),
            .nonCanonicalInteger(field: "f.a"), .limitExceeded(field: "f.a", limit: 1, actual: 2),
            .unknownVersion(field: "f.a", version: 9), .invalidTag(field: "f.a", tag: 3), .invalidUTF8(field: "f.a"),
            .notStrictlyAscending(field: "f.a", index: 1), .invalidValue(field: "f.a", reason: "why"),
        ]
        for error in errors {
            #expect(error.field == "f.a")
            #expect(error.description.hasPrefix("f.a: "))
        }
    }
}

/// A varint in its shortest form, for building test input.
func varintBytes(_ value: Int) -> [UInt8] { varint(UInt64(value)) }
