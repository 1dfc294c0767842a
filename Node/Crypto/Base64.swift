/// Why a Base64 text was refused by ``Base64/decode(_:)`` or ``Base64/decodeURL(_:)``.
public enum Base64DecodingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A character outside the alphabet (or a padding character where padding is not allowed), at a byte offset.
    case invalidCharacter(offset: Int, byte: UInt8)
    /// A length no Base64 text can have (padded text must be a multiple of 4; unpadded text never leaves 1 spare).
    case invalidLength(Int)
    /// Padding in the wrong place or of the wrong amount.
    case invalidPadding
    /// The last character carries bits beyond the encoded bytes that are not zero, so the text is not canonical.
    case nonZeroTrailingBits

    public var description: String {
        switch self {
        case .invalidCharacter(let offset, let byte):
            return "invalid Base64 character 0x\(Hex.encode([byte])) at offset \(offset)"
        case .invalidLength(let length):
            return "invalid Base64 length \(length)"
        case .invalidPadding:
            return "invalid Base64 padding"
        case .nonZeroTrailingBits:
            return "non-canonical Base64: trailing bits are not zero"
        }
    }
}

/// Base64 of RFC 4648: the standard alphabet with `=` padding (§4), and the URL-safe alphabet without padding
/// (§5, as JOSE uses it). Decoding is strict: only the exact canonical encoding of some byte string is accepted,
/// so one value has exactly one text form (no whitespace, no stray padding, no non-zero trailing bits).
public enum Base64 {
    private static let standardAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let urlAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    private static let padding = UInt8(ascii: "=")
    private static let invalid: UInt8 = 0xff

    private static let standardTable = decodingTable(for: standardAlphabet)
    private static let urlTable = decodingTable(for: urlAlphabet)

    private static func decodingTable(for alphabet: [UInt8]) -> [UInt8] {
        var table = [UInt8](repeating: invalid, count: 256)
        for (value, character) in alphabet.enumerated() {
            table[Int(character)] = UInt8(value)
        }
        return table
    }

    /// Encodes bytes with the standard alphabet and `=` padding.
    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        encode(Array(bytes), alphabet: standardAlphabet, padded: true)
    }

    /// Encodes bytes with the URL-safe alphabet (`-`, `_`) and no padding ("base64url" of JOSE).
    public static func encodeURL(_ bytes: some Collection<UInt8>) -> String {
        encode(Array(bytes), alphabet: urlAlphabet, padded: false)
    }

    /// Decodes standard, padded Base64; throws on any character outside the alphabet, missing or misplaced
    /// padding, or non-zero trailing bits.
    public static func decode(_ text: String) throws(Base64DecodingError) -> [UInt8] {
        let characters = Array(text.utf8)
        guard characters.count % 4 == 0 else { throw .invalidLength(characters.count) }
        var paddingCount = 0
        while paddingCount < 2, paddingCount < characters.count,
            characters[characters.count - 1 - paddingCount] == padding
        {
            paddingCount += 1
        }
        let body = characters[0..<(characters.count - paddingCount)]
        // A third `=`, or one in the middle of the text.
        guard !body.contains(padding) else { throw .invalidPadding }
        return try decodeBody(body, table: standardTable)
    }

    /// Decodes URL-safe Base64 without padding; throws on `=`, characters of the standard alphabet (`+`, `/`),
    /// an impossible length, or non-zero trailing bits.
    public static func decodeURL(_ text: String) throws(Base64DecodingError) -> [UInt8] {
        let characters = Array(text.utf8)
        return try decodeBody(characters[...], table: urlTable)
    }

    private static func encode(_ bytes: [UInt8], alphabet: [UInt8], padded: Bool) -> String {
        var out = [UInt8]()
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index + 3 <= bytes.count {
            let chunk = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            out.append(alphabet[Int(chunk >> 18 & 0x3f)])
            out.append(alphabet[Int(chunk >> 12 & 0x3f)])
            out.append(alphabet[Int(chunk >> 6 & 0x3f)])
            out.append(alphabet[Int(chunk & 0x3f)])
            index += 3
        }
        switch bytes.count - index {
        case 1:
            let chunk = UInt32(bytes[index]) << 16
            out.append(alphabet[Int(chunk >> 18 & 0x3f)])
            out.append(alphabet[Int(chunk >> 12 & 0x3f)])
            if padded { out.append(contentsOf: [padding, padding]) }
        case 2:
            let chunk = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
            out.append(alphabet[Int(chunk >> 18 & 0x3f)])
            out.append(alphabet[Int(chunk >> 12 & 0x3f)])
            out.append(alphabet[Int(chunk >> 6 & 0x3f)])
            if padded { out.append(padding) }
        default:
            break
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes unpadded characters; `body` is a slice whose indices are offsets into the original text.
    private static func decodeBody(_ body: ArraySlice<UInt8>, table: [UInt8]) throws(Base64DecodingError) -> [UInt8] {
        guard body.count % 4 != 1 else { throw .invalidLength(body.count) }
        var values = [UInt8]()
        values.reserveCapacity(body.count)
        for offset in body.indices {
            let value = table[Int(body[offset])]
            guard value != invalid else { throw .invalidCharacter(offset: offset, byte: body[offset]) }
            values.append(value)
        }
        var out = [UInt8]()
        out.reserveCapacity(values.count / 4 * 3 + 2)
        var index = 0
        while index + 4 <= values.count {
            let chunk =
                UInt32(values[index]) << 18 | UInt32(values[index + 1]) << 12 | UInt32(values[index + 2]) << 6
                | UInt32(values[index + 3])
            out.append(UInt8(truncatingIfNeeded: chunk >> 16))
            out.append(UInt8(truncatingIfNeeded: chunk >> 8))
            out.append(UInt8(truncatingIfNeeded: chunk))
            index += 4
        }
        switch values.count - index {
        case 2:
            guard values[index + 1] & 0x0f == 0 else { throw .nonZeroTrailingBits }
            out.append(values[index] << 2 | values[index + 1] >> 4)
        case 3:
            guard values[index + 2] & 0x03 == 0 else { throw .nonZeroTrailingBits }
            out.append(values[index] << 2 | values[index + 1] >> 4)
            out.append(values[index + 1] << 4 | values[index + 2] >> 2)
        default:
            break
        }
        return out
    }
}
