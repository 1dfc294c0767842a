/// A JSON value as the credential formats use it: objects keep their members in the order they were read or
/// built (so a payload re-serializes the way it was written), integers stay exact, and duplicate member names
/// are refused when parsing, because two readers that keep different duplicates would see different claims.
public enum JSONValue: Sendable, Equatable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A number without fraction or exponent that fits in 64 bits.
    case integer(Int64)
    /// Any other number.
    case number(Double)
    /// A string.
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object: members in order, names unique.
    case object([(String, JSONValue)])

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.integer(let a), .integer(let b)): return a == b
        case (.number(let a), .number(let b)): return a == b
        case (.string(let a), .string(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// The member `name` of an object, or nil (also for non-objects).
    public subscript(name: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == name }?.1
    }

    /// The members of an object, or nil.
    public var objectMembers: [(String, JSONValue)]? {
        if case .object(let members) = self { return members }
        return nil
    }

    /// The string, or nil.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The integer, or nil (also for numbers with a fraction).
    public var integerValue: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }

    /// The Boolean, or nil.
    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The elements of an array, or nil.
    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// Compact JSON text (no insignificant whitespace), object members in their stored order.
    public var serialized: String {
        var out = ""
        write(to: &out)
        return out
    }

    /// Compact JSON text as UTF-8 bytes.
    public var serializedBytes: [UInt8] { Array(serialized.utf8) }

    private func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .integer(let value): out += String(value)
        case .number(let value):
            if value.isFinite, value == value.rounded(), abs(value) < 1e15 {
                out += String(Int64(value))
            } else if value.isFinite {
                out += "\(value)"
            } else {
                out += "null"
            }
        case .string(let value): JSONValue.writeString(value, to: &out)
        case .array(let elements):
            out += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { out += "," }
                element.write(to: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (index, (name, value)) in members.enumerated() {
                if index > 0 { out += "," }
                JSONValue.writeString(name, to: &out)
                out += ":"
                value.write(to: &out)
            }
            out += "}"
        }
    }

    private static func writeString(_ value: String, to out: inout String) {
        out += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}

/// Why a JSON text was refused by ``JSONValue/parse(_:maxDepth:)``; offsets are byte offsets into the UTF-8 text.
public enum JSONParsingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The text is not valid UTF-8.
    case invalidUTF8
    /// A character that cannot start or continue a value here.
    case unexpectedCharacter(offset: Int)
    /// The text ended inside a value.
    case unexpectedEnd
    /// Something other than whitespace follows the value.
    case trailingCharacters(offset: Int)
    /// Two members of one object have the same name.
    case duplicateMember(String)
    /// Arrays and objects nest deeper than allowed.
    case tooDeep
    /// A number that is not a valid JSON number or does not fit a Double.
    case invalidNumber(offset: Int)
    /// A bad escape or an unpaired surrogate in a string.
    case invalidString(offset: Int)

    public var description: String {
        switch self {
        case .invalidUTF8: return "JSON text is not valid UTF-8"
        case .unexpectedCharacter(let offset): return "unexpected character at byte \(offset)"
        case .unexpectedEnd: return "JSON text ends inside a value"
        case .trailingCharacters(let offset): return "unexpected text after the JSON value at byte \(offset)"
        case .duplicateMember(let name): return "duplicate member \"\(name)\" in a JSON object"
        case .tooDeep: return "JSON nests too deeply"
        case .invalidNumber(let offset): return "invalid number at byte \(offset)"
        case .invalidString(let offset): return "invalid string escape at byte \(offset)"
        }
    }
}

extension JSONValue {
    /// Parses JSON text (RFC 8259) strictly: one value, optional surrounding whitespace, no duplicate member names,
    /// nesting at most `maxDepth` deep.
    public static func parse(_ bytes: [UInt8], maxDepth: Int = 32) throws(JSONParsingError) -> JSONValue {
        guard isValidUTF8(bytes) else { throw .invalidUTF8 }
        var parser = JSONParser(bytes: bytes, maxDepth: maxDepth)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.offset == bytes.count else { throw .trailingCharacters(offset: parser.offset) }
        return value
    }

    /// Whether `bytes` is well-formed UTF-8 (no overlong forms, surrogates or truncated sequences).
    static func isValidUTF8(_ bytes: [UInt8]) -> Bool {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }

    /// Parses JSON text given as a string.
    public static func parse(_ text: String, maxDepth: Int = 32) throws(JSONParsingError) -> JSONValue {
        try parse(Array(text.utf8), maxDepth: maxDepth)
    }
}

private struct JSONParser {
    let bytes: [UInt8]
    let maxDepth: Int
    var offset = 0

    init(bytes: [UInt8], maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    mutating func skipWhitespace() {
        while offset < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[offset]) { offset += 1 }
    }

    func peek() throws(JSONParsingError) -> UInt8 {
        guard offset < bytes.count else { throw .unexpectedEnd }
        return bytes[offset]
    }

    mutating func expectLiteral(_ literal: String, value: JSONValue) throws(JSONParsingError) -> JSONValue {
        let literalBytes = Array(literal.utf8)
        guard offset + literalBytes.count <= bytes.count else { throw .unexpectedEnd }
        guard Array(bytes[offset..<(offset + literalBytes.count)]) == literalBytes else {
            throw .unexpectedCharacter(offset: offset)
        }
        offset += literalBytes.count
        return value
    }

    mutating func parseValue(depth: Int) throws(JSONParsingError) -> JSONValue {
        switch try peek() {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): return try expectLiteral("true", value: .bool(true))
        case UInt8(ascii: "f"): return try expectLiteral("false", value: .bool(false))
        case UInt8(ascii: "n"): return try expectLiteral("null", value: .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw .unexpectedCharacter(offset: offset)
        }
    }

    mutating func parseObject(depth: Int) throws(JSONParsingError) -> JSONValue {
        guard depth <= maxDepth else { throw .tooDeep }
        offset += 1
        var members: [(String, JSONValue)] = []
        var names = Set<String>()
        skipWhitespace()
        if try peek() == UInt8(ascii: "}") {
            offset += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard try peek() == UInt8(ascii: "\"") else { throw .unexpectedCharacter(offset: offset) }
            let name = try parseString()
            guard names.insert(name).inserted else { throw .duplicateMember(name) }
            skipWhitespace()
            guard try peek() == UInt8(ascii: ":") else { throw .unexpectedCharacter(offset: offset) }
            offset += 1
            skipWhitespace()
            members.append((name, try parseValue(depth: depth)))
            skipWhitespace()
            let next = try peek()
            offset += 1
            if next == UInt8(ascii: "}") { return .object(members) }
            guard next == UInt8(ascii: ",") else { throw .unexpectedCharacter(offset: offset - 1) }
        }
    }

    mutating func parseArray(depth: Int) throws(JSONParsingError) -> JSONValue {
        guard depth <= maxDepth else { throw .tooDeep }
        offset += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if try peek() == UInt8(ascii: "]") {
            offset += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            let next = try peek()
            offset += 1
            if next == UInt8(ascii: "]") { return .array(elements) }
            guard next == UInt8(ascii: ",") else { throw .unexpectedCharacter(offset: offset - 1) }
        }
    }

    mutating func parseHex4() throws(JSONParsingError) -> UInt32 {
        guard offset + 4 <= bytes.count else { throw .unexpectedEnd }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[offset]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw .invalidString(offset: offset)
            }
            value = value << 4 | digit
            offset += 1
        }
        return value
    }

    mutating func parseString() throws(JSONParsingError) -> String {
        offset += 1
        var out = [UInt8]()
        while true {
            guard offset < bytes.count else { throw .unexpectedEnd }
            let byte = bytes[offset]
            if byte == UInt8(ascii: "\"") {
                offset += 1
                return String(decoding: out, as: UTF8.self)
            }
            if byte < 0x20 { throw .invalidString(offset: offset) }
            if byte != UInt8(ascii: "\\") {
                out.append(byte)
                offset += 1
                continue
            }
            let escapeOffset = offset
            offset += 1
            guard offset < bytes.count else { throw .unexpectedEnd }
            let escape = bytes[offset]
            offset += 1
            switch escape {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalarValue = try parseHex4()
                if (0xD800...0xDBFF).contains(scalarValue) {
                    guard offset + 2 <= bytes.count, bytes[offset] == UInt8(ascii: "\\"),
                        bytes[offset + 1] == UInt8(ascii: "u")
                    else { throw .invalidString(offset: escapeOffset) }
                    offset += 2
                    let low = try parseHex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw .invalidString(offset: escapeOffset) }
                    scalarValue = 0x10000 + ((scalarValue - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let scalar = Unicode.Scalar(scalarValue) else { throw .invalidString(offset: escapeOffset) }
                out.append(contentsOf: Array(String(Character(scalar)).utf8))
            default:
                throw .invalidString(offset: escapeOffset)
            }
        }
    }

    mutating func parseNumber() throws(JSONParsingError) -> JSONValue {
        let start = offset
        if bytes[offset] == UInt8(ascii: "-") { offset += 1 }
        func isDigit(_ index: Int) -> Bool {
            index < bytes.count && bytes[index] >= UInt8(ascii: "0") && bytes[index] <= UInt8(ascii: "9")
        }
        guard isDigit(offset) else { throw .invalidNumber(offset: start) }
        if bytes[offset] == UInt8(ascii: "0") {
            offset += 1
            if isDigit(offset) { throw .invalidNumber(offset: start) }
        } else {
            while isDigit(offset) { offset += 1 }
        }
        var isInteger = true
        if offset < bytes.count, bytes[offset] == UInt8(ascii: ".") {
            isInteger = false
            offset += 1
            guard isDigit(offset) else { throw .invalidNumber(offset: start) }
            while isDigit(offset) { offset += 1 }
        }
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "e") || bytes[offset] == UInt8(ascii: "E") {
            isInteger = false
            offset += 1
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "+") || bytes[offset] == UInt8(ascii: "-") {
                offset += 1
            }
            guard isDigit(offset) else { throw .invalidNumber(offset: start) }
            while isDigit(offset) { offset += 1 }
        }
        let text = String(decoding: bytes[start..<offset], as: UTF8.self)
        if isInteger, let value = Int64(text) { return .integer(value) }
        guard let value = Double(text), value.isFinite else { throw .invalidNumber(offset: start) }
        return .number(value)
    }
}
