import EnsureCrypto

/// The part of RFC 8941 (Structured Field Values for HTTP) that HTTP Message Signatures need: dictionaries whose
/// members are items or inner lists, parameters, and the bare item types integer, string, token, byte sequence
/// and boolean. Parsing is strict: anything outside this subset (decimals, duplicate keys, non-canonical Base64,
/// trailing commas) is refused with a ``StructuredFieldError`` that says where, rather than guessed at.
public enum StructuredField {
    /// A bare item (RFC 8941 §3.3), without decimals.
    public enum BareItem: Sendable, Equatable {
        /// An integer of at most 15 digits.
        case integer(Int64)
        /// A string of printable ASCII.
        case string(String)
        /// A token.
        case token(String)
        /// A byte sequence.
        case bytes([UInt8])
        /// A boolean.
        case boolean(Bool)
    }

    /// An item with its parameters.
    public struct Item: Sendable, Equatable {
        /// The value.
        public var value: BareItem
        /// Its parameters, in order.
        public var parameters: [Parameter]

        /// Creates an item.
        public init(_ value: BareItem, parameters: [Parameter] = []) {
            self.value = value
            self.parameters = parameters
        }
    }

    /// One parameter.
    public struct Parameter: Sendable, Equatable {
        /// Its key (`[a-z*][a-z0-9_\-.*]*`).
        public var key: String
        /// Its value.
        public var value: BareItem

        /// Creates a parameter.
        public init(_ key: String, _ value: BareItem) {
            self.key = key
            self.value = value
        }
    }

    /// An inner list: items in parentheses, with parameters of the whole list.
    public struct InnerList: Sendable, Equatable {
        /// The items, in order.
        public var items: [Item]
        /// The list's parameters, in order.
        public var parameters: [Parameter]

        /// Creates an inner list.
        public init(_ items: [Item], parameters: [Parameter] = []) {
            self.items = items
            self.parameters = parameters
        }

        /// The value of the parameter `key`, if present.
        public func parameter(_ key: String) -> BareItem? { parameters.first { $0.key == key }?.value }
    }

    /// A dictionary member's value.
    public enum Member: Sendable, Equatable {
        /// A single item.
        case item(Item)
        /// An inner list.
        case innerList(InnerList)
    }

    /// Most bytes of a field value this parser reads.
    public static let maxFieldBytes = 8192
    /// Most members, list items or parameters at one level.
    public static let maxEntries = 64

    // MARK: Parsing

    /// Parses a dictionary field value (RFC 8941 §4.2.2), members in order; keys must be unique.
    public static func parseDictionary(_ text: String, field: String) throws(StructuredFieldError)
        -> [(key: String, member: Member)]
    {
        guard text.utf8.count <= maxFieldBytes else {
            throw StructuredFieldError(field: field, offset: 0, reason: "is longer than \(maxFieldBytes) bytes")
        }
        var parser = Parser(bytes: Array(text.utf8), field: field)
        parser.skipSpaces()
        var members: [(key: String, member: Member)] = []
        while !parser.atEnd {
            let key = try parser.key()
            guard !members.contains(where: { $0.key == key }) else { throw parser.error("repeats the key \(key)") }
            guard members.count < maxEntries else { throw parser.error("has more than \(maxEntries) members") }
            let member: Member
            if parser.peek == UInt8(ascii: "=") {
                parser.advance()
                if parser.peek == UInt8(ascii: "(") {
                    member = .innerList(try parser.innerList())
                } else {
                    member = .item(try parser.item())
                }
            } else {
                member = .item(Item(.boolean(true), parameters: try parser.parameters()))
            }
            members.append((key, member))
            parser.skipOptionalWhitespace()
            if parser.atEnd { break }
            guard parser.peek == UInt8(ascii: ",") else { throw parser.error("expects a comma between members") }
            parser.advance()
            parser.skipOptionalWhitespace()
            guard !parser.atEnd else { throw parser.error("ends with a comma") }
        }
        return members
    }

    // MARK: Serializing

    /// The RFC 8941 §4.1.1.1 serialization of an inner list with its parameters.
    public static func serialize(_ list: InnerList) -> String {
        "(" + list.items.map(serialize).joined(separator: " ") + ")" + serialize(list.parameters)
    }

    /// The serialization of an item with its parameters.
    public static func serialize(_ item: Item) -> String {
        serialize(item.value) + serialize(item.parameters)
    }

    /// The serialization of parameters (`;key` for true, `;key=value` otherwise).
    public static func serialize(_ parameters: [Parameter]) -> String {
        parameters.map { parameter in
            parameter.value == .boolean(true) ? ";\(parameter.key)" : ";\(parameter.key)=\(serialize(parameter.value))"
        }.joined()
    }

    /// The serialization of a bare item.
    public static func serialize(_ value: BareItem) -> String {
        switch value {
        case .integer(let number): return String(number)
        case .string(let text):
            var out = "\""
            for character in text.unicodeScalars {
                if character == "\"" || character == "\\" { out.append("\\") }
                out.unicodeScalars.append(character)
            }
            return out + "\""
        case .token(let token): return token
        case .bytes(let bytes): return ":" + Base64.encode(bytes) + ":"
        case .boolean(let flag): return flag ? "?1" : "?0"
        }
    }

    // MARK: The parser

    private struct Parser {
        let bytes: [UInt8]
        let field: String
        var index = 0

        var atEnd: Bool { index >= bytes.count }
        var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func advance() { index += 1 }

        func error(_ reason: String) -> StructuredFieldError {
            StructuredFieldError(field: field, offset: index, reason: reason)
        }

        mutating func skipSpaces() {
            while peek == 0x20 { advance() }
        }

        mutating func skipOptionalWhitespace() {
            while peek == 0x20 || peek == 0x09 { advance() }
        }

        static func isLowerAlpha(_ byte: UInt8) -> Bool { byte >= 0x61 && byte <= 0x7a }
        static func isAlpha(_ byte: UInt8) -> Bool { isLowerAlpha(byte) || (byte >= 0x41 && byte <= 0x5a) }
        static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
        /// RFC 9110 tchar.
        static func isTokenCharacter(_ byte: UInt8) -> Bool {
            isAlpha(byte) || isDigit(byte) || Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
        }

        mutating func key() throws(StructuredFieldError) -> String {
            guard let first = peek, Self.isLowerAlpha(first) || first == UInt8(ascii: "*") else {
                throw error("expects a key starting with a lower-case letter or *")
            }
            let start = index
            while let byte = peek,
                Self.isLowerAlpha(byte) || Self.isDigit(byte) || Array("_-.*".utf8).contains(byte)
            {
                advance()
            }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        }

        mutating func innerList() throws(StructuredFieldError) -> InnerList {
            guard peek == UInt8(ascii: "(") else { throw error("expects an inner list") }
            advance()
            var items: [Item] = []
            while true {
                skipSpaces()
                guard let byte = peek else { throw error("ends inside an inner list") }
                if byte == UInt8(ascii: ")") {
                    advance()
                    return InnerList(items, parameters: try parameters())
                }
                guard items.count < StructuredField.maxEntries else {
                    throw error("has more than \(StructuredField.maxEntries) items in an inner list")
                }
                items.append(try item())
                guard peek == 0x20 || peek == UInt8(ascii: ")") else {
                    throw error("expects a space or ) after an inner-list item")
                }
            }
        }

        mutating func item() throws(StructuredFieldError) -> Item {
            Item(try bareItem(), parameters: try parameters())
        }

        mutating func parameters() throws(StructuredFieldError) -> [Parameter] {
            var out: [Parameter] = []
            while peek == UInt8(ascii: ";") {
                advance()
                skipSpaces()
                let name = try key()
                guard !out.contains(where: { $0.key == name }) else { throw error("repeats the parameter \(name)") }
                guard out.count < StructuredField.maxEntries else {
                    throw error("has more than \(StructuredField.maxEntries) parameters")
                }
                var value = BareItem.boolean(true)
                if peek == UInt8(ascii: "=") {
                    advance()
                    value = try bareItem()
                }
                out.append(Parameter(name, value))
            }
            return out
        }

        mutating func bareItem() throws(StructuredFieldError) -> BareItem {
            guard let byte = peek else { throw error("ends where an item was expected") }
            switch byte {
            case UInt8(ascii: "-"), 0x30...0x39: return try integer()
            case UInt8(ascii: "\""): return try string()
            case UInt8(ascii: ":"): return try byteSequence()
            case UInt8(ascii: "?"): return try boolean()
            default:
                guard byte == UInt8(ascii: "*") || Self.isAlpha(byte) else {
                    throw error("has an item of an unknown type")
                }
                return token()
            }
        }

        mutating func integer() throws(StructuredFieldError) -> BareItem {
            var negative = false
            if peek == UInt8(ascii: "-") {
                negative = true
                advance()
            }
            let start = index
            while let byte = peek, Self.isDigit(byte) { advance() }
            let digits = index - start
            guard digits >= 1 else { throw error("expects a digit") }
            guard digits <= 15 else { throw error("has an integer of more than 15 digits") }
            guard peek != UInt8(ascii: ".") else { throw error("has a decimal, which this API does not accept") }
            let magnitude = Int64(String(decoding: bytes[start..<index], as: UTF8.self)) ?? 0
            return .integer(negative ? -magnitude : magnitude)
        }

        mutating func string() throws(StructuredFieldError) -> BareItem {
            advance()
            var out: [UInt8] = []
            while let byte = peek {
                advance()
                switch byte {
                case UInt8(ascii: "\\"):
                    guard let next = peek, next == UInt8(ascii: "\"") || next == UInt8(ascii: "\\") else {
                        throw error("has a backslash that escapes neither \" nor \\")
                    }
                    out.append(next)
                    advance()
                case UInt8(ascii: "\""):
                    return .string(String(decoding: out, as: UTF8.self))
                case 0x20...0x7e:
                    out.append(byte)
                default:
                    throw error("has a string with a character outside printable ASCII")
                }
            }
            throw error("ends inside a string")
        }

        mutating func token() -> BareItem {
            let start = index
            advance()
            while let byte = peek, Self.isTokenCharacter(byte) || byte == UInt8(ascii: ":") || byte == UInt8(ascii: "/")
            {
                advance()
            }
            return .token(String(decoding: bytes[start..<index], as: UTF8.self))
        }

        mutating func byteSequence() throws(StructuredFieldError) -> BareItem {
            advance()
            let start = index
            while let byte = peek, byte != UInt8(ascii: ":") { advance() }
            guard peek == UInt8(ascii: ":") else { throw error("ends inside a byte sequence") }
            let text = String(decoding: bytes[start..<index], as: UTF8.self)
            advance()
            do {
                return .bytes(try Base64.decode(text))
            } catch {
                throw StructuredFieldError(
                    field: field, offset: start, reason: "has a byte sequence that is not padded standard Base64")
            }
        }

        mutating func boolean() throws(StructuredFieldError) -> BareItem {
            advance()
            switch peek {
            case UInt8(ascii: "0"):
                advance()
                return .boolean(false)
            case UInt8(ascii: "1"):
                advance()
                return .boolean(true)
            default: throw error("has a boolean that is neither ?0 nor ?1")
            }
        }
    }
}

/// A structured field value that does not parse: which header, the byte offset, and what was wrong.
public struct StructuredFieldError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The header field's name.
    public let field: String
    /// The byte offset in the value where parsing stopped.
    public let offset: Int
    /// What was wrong.
    public let reason: String

    /// Creates an error.
    public init(field: String, offset: Int, reason: String) {
        self.field = field
        self.offset = offset
        self.reason = reason
    }

    public var description: String { "\(field) \(reason) (at byte \(offset))" }
}
