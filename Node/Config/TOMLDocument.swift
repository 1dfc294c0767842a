/// A value of the TOML subset Ensure reads.
public enum TOMLValue: Hashable, Sendable {
    /// A basic string (`"..."`).
    case string(String)
    /// A decimal integer.
    case integer(Int64)
    /// `true` or `false`.
    case boolean(Bool)
    /// An array whose elements are all basic strings.
    case stringArray([String])

    /// The kind of value, as error messages name it.
    public var typeName: String {
        switch self {
        case .string: return "a string"
        case .integer: return "an integer"
        case .boolean: return "a boolean"
        case .stringArray: return "an array of strings"
        }
    }
}

/// One `key = value` line, with where it was written.
public struct TOMLEntry: Hashable, Sendable {
    /// The bare key.
    public let key: String
    /// The value.
    public let value: TOMLValue
    /// 1-based line of the key.
    public let line: Int
    /// 1-based column of the key.
    public let column: Int
}

/// A `[section]` and its entries in file order; the entries before any header form the table named "".
public struct TOMLTable: Hashable, Sendable {
    /// The section name, or "" for the top of the file.
    public let name: String
    /// 1-based line of the header (0 for the top-level table).
    public let line: Int
    /// The entries, in file order.
    public internal(set) var entries: [TOMLEntry]
}

/// Why TOML text was refused: what, and the 1-based line and column where.
public struct TOMLError: Error, Hashable, Sendable, CustomStringConvertible {
    /// 1-based line.
    public let line: Int
    /// 1-based column (in Unicode scalars).
    public let column: Int
    /// What was wrong.
    public let reason: String

    /// An error at `line`, `column`.
    public init(line: Int, column: Int, reason: String) {
        self.line = line
        self.column = column
        self.reason = reason
    }

    public var description: String { "line \(line), column \(column): \(reason)" }
}

/// A strict reader of the TOML subset a node's `config.toml` uses: `[section]` headers, `key = value` with bare
/// keys, basic strings, decimal integers, booleans and arrays of basic strings (which may span lines), and `#`
/// comments. Everything else TOML allows (literal and multi-line strings, floats, dates, inline tables, dotted
/// keys, arrays of tables) is refused with its line and column, as are repeated sections and keys.
public struct TOMLDocument: Hashable, Sendable {
    /// The largest text accepted, in bytes.
    public static let maxBytes = 1 << 20

    /// The tables in file order; the first is always the top-level table "".
    public let tables: [TOMLTable]

    /// Parses `text`.
    public init(parsing text: String) throws(TOMLError) {
        guard text.utf8.count <= Self.maxBytes else {
            throw TOMLError(line: 1, column: 1, reason: "the file is larger than \(Self.maxBytes) bytes")
        }
        var parser = TOMLParser(text)
        tables = try parser.parse()
    }

    /// The table named `name`, if the file has it.
    public func table(_ name: String) -> TOMLTable? { tables.first { $0.name == name } }
}

/// The parser behind ``TOMLDocument``: a cursor over Unicode scalars that tracks line and column.
private struct TOMLParser {
    let scalars: [Unicode.Scalar]
    var index = 0
    var line = 1
    var column = 1

    init(_ text: String) { scalars = Array(text.unicodeScalars) }

    var current: Unicode.Scalar? { index < scalars.count ? scalars[index] : nil }

    func error(_ reason: String, line: Int? = nil, column: Int? = nil) -> TOMLError {
        TOMLError(line: line ?? self.line, column: column ?? self.column, reason: reason)
    }

    mutating func advance() {
        if scalars[index] == "\n" {
            line += 1
            column = 1
        } else {
            column += 1
        }
        index += 1
    }

    static func isBareKey(_ c: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c) || c == "_" || c == "-"
    }

    mutating func skipSpaces() {
        while let c = current, c == " " || c == "\t" { advance() }
    }

    /// Skips spaces and a comment, then requires the end of the line (or file).
    mutating func endLine() throws(TOMLError) {
        skipSpaces()
        try skipComment()
        if current == "\r" {
            advance()
            guard current == "\n" else { throw error("a carriage return must be followed by a newline") }
        }
        guard let c = current else { return }
        guard c == "\n" else {
            throw error("unexpected \"\(c.escaped(asASCII: true))\" after a value; expected end of line")
        }
        advance()
    }

    mutating func skipComment() throws(TOMLError) {
        guard current == "#" else { return }
        while let c = current, c != "\n" {
            if c != "\t" && c != "\r" && (c.value < 0x20 || c.value == 0x7F) {
                throw error("control character U+\(String(c.value, radix: 16, uppercase: true)) in a comment")
            }
            if c == "\r" { break }
            advance()
        }
    }

    mutating func parse() throws(TOMLError) -> [TOMLTable] {
        var tables = [TOMLTable(name: "", line: 0, entries: [])]
        var keys: [Set<String>] = [[]]
        while current != nil {
            skipSpaces()
            guard let c = current else { break }
            if c == "\n" || c == "#" || c == "\r" {
                try endLine()
                continue
            }
            if c == "[" {
                let headerLine = line
                let headerColumn = column
                advance()
                if current == "[" { throw error("arrays of tables ([[...]]) are not supported") }
                skipSpaces()
                let name = try bareKey(what: "section name")
                skipSpaces()
                if current == "." { throw error("dotted section names are not supported") }
                guard current == "]" else { throw error("expected ] to close the section header") }
                advance()
                if tables.contains(where: { $0.name == name }) {
                    throw error("section [\(name)] is defined twice", line: headerLine, column: headerColumn)
                }
                tables.append(TOMLTable(name: name, line: headerLine, entries: []))
                keys.append([])
                try endLine()
                continue
            }
            let keyLine = line
            let keyColumn = column
            if c == "\"" || c == "'" { throw error("quoted keys are not supported; use a bare key") }
            let key = try bareKey(what: "key")
            skipSpaces()
            if current == "." { throw error("dotted keys are not supported") }
            guard current == "=" else { throw error("expected = after the key \"\(key)\"") }
            advance()
            skipSpaces()
            let value = try parseValue()
            guard keys[keys.count - 1].insert(key).inserted else {
                let section = tables[tables.count - 1].name
                throw error(
                    "key \"\(key)\" is defined twice" + (section.isEmpty ? "" : " in [\(section)]"), line: keyLine,
                    column: keyColumn)
            }
            tables[tables.count - 1].entries.append(TOMLEntry(key: key, value: value, line: keyLine, column: keyColumn))
            try endLine()
        }
        return tables
    }

    mutating func bareKey(what: String) throws(TOMLError) -> String {
        var key = String.UnicodeScalarView()
        while let c = current, Self.isBareKey(c) {
            key.append(c)
            advance()
        }
        guard !key.isEmpty else {
            if let c = current, c != "\n" {
                throw error("expected a \(what) of letters, digits, _ or -, found \"\(c.escaped(asASCII: true))\"")
            }
            throw error("expected a \(what)")
        }
        return String(key)
    }

    mutating func parseValue() throws(TOMLError) -> TOMLValue {
        guard let c = current, c != "\n", c != "#" else { throw error("expected a value") }
        switch c {
        case "\"": return .string(try basicString())
        case "'": throw error("literal strings ('...') are not supported; use \"...\"")
        case "[": return .stringArray(try stringArray())
        case "{": throw error("inline tables are not supported")
        case "t", "f":
            var word = ""
            while let c = current, Self.isBareKey(c) {
                word.unicodeScalars.append(c)
                advance()
            }
            if word == "true" { return .boolean(true) }
            if word == "false" { return .boolean(false) }
            throw error("unknown value \"\(word)\"; strings need double quotes")
        case "+", "-", "0"..."9": return .integer(try integer())
        default: throw error("unsupported value starting with \"\(c.escaped(asASCII: true))\"")
        }
    }

    mutating func integer() throws(TOMLError) -> Int64 {
        let startColumn = column
        var text = ""
        while let c = current, Self.isBareKey(c) || c == "+" || c == "." || c == ":" {
            text.unicodeScalars.append(c)
            advance()
        }
        var body = Substring(text)
        var negative = false
        if let sign = body.first, sign == "+" || sign == "-" {
            negative = sign == "-"
            body = body.dropFirst()
        }
        let invalid = error(
            "\"\(text)\" is not a decimal integer (floats, dates, hex and octal are not supported)",
            column: startColumn)
        guard let first = body.first, first.isASCII, first.isNumber, let last = body.last, last.isNumber else {
            throw invalid
        }
        if first == "0" && body.count > 1 { throw error("\"\(text)\" has a leading zero", column: startColumn) }
        var digits = ""
        var previousUnderscore = false
        for character in body {
            if character == "_" {
                guard !previousUnderscore else { throw invalid }
                previousUnderscore = true
                continue
            }
            guard character.isASCII, character.isNumber else { throw invalid }
            previousUnderscore = false
            digits.append(character)
        }
        guard let value = Int64((negative ? "-" : "") + digits) else {
            throw error("\"\(text)\" does not fit a 64-bit integer", column: startColumn)
        }
        return value
    }

    mutating func basicString() throws(TOMLError) -> String {
        let startLine = line
        let startColumn = column
        advance()
        if current == "\"" && index + 1 < scalars.count && scalars[index + 1] == "\"" {
            throw error("multi-line strings are not supported", column: startColumn)
        }
        var value = String.UnicodeScalarView()
        while true {
            guard let c = current, c != "\n" else {
                throw error("unterminated string", line: startLine, column: startColumn)
            }
            advance()
            switch c {
            case "\"": return String(value)
            case "\\":
                guard let escape = current else {
                    throw error("unterminated string", line: startLine, column: startColumn)
                }
                let escapeColumn = column - 1
                advance()
                switch escape {
                case "\"": value.append("\"")
                case "\\": value.append("\\")
                case "b": value.append("\u{08}")
                case "t": value.append("\t")
                case "n": value.append("\n")
                case "f": value.append("\u{0C}")
                case "r": value.append("\r")
                case "u", "U":
                    let count = escape == "u" ? 4 : 8
                    var hex = ""
                    for _ in 0..<count {
                        guard let h = current, h.properties.isASCIIHexDigit else {
                            throw error("\\\(escape) needs \(count) hexadecimal digits", column: escapeColumn)
                        }
                        hex.unicodeScalars.append(h)
                        advance()
                    }
                    guard let scalar = UInt32(hex, radix: 16).flatMap(Unicode.Scalar.init) else {
                        throw error("\\\(escape)\(hex) is not a Unicode scalar value", column: escapeColumn)
                    }
                    value.append(scalar)
                default:
                    throw error("unknown escape \\\(escape.escaped(asASCII: true))", column: escapeColumn)
                }
            default:
                if c != "\t" && (c.value < 0x20 || c.value == 0x7F) {
                    throw error(
                        "control character U+\(String(c.value, radix: 16, uppercase: true)) in a string",
                        column: column - 1)
                }
                value.append(c)
            }
        }
    }

    /// Skips whitespace, newlines and comments inside an array.
    mutating func skipArraySpace() throws(TOMLError) {
        while let c = current {
            if c == " " || c == "\t" || c == "\n" {
                advance()
            } else if c == "\r" {
                advance()
                guard current == "\n" else { throw error("a carriage return must be followed by a newline") }
            } else if c == "#" {
                try skipComment()
            } else {
                return
            }
        }
    }

    mutating func stringArray() throws(TOMLError) -> [String] {
        let startLine = line
        let startColumn = column
        advance()
        var elements: [String] = []
        while true {
            try skipArraySpace()
            guard let c = current else { throw error("unterminated array", line: startLine, column: startColumn) }
            if c == "]" {
                advance()
                return elements
            }
            guard c == "\"" else {
                throw error("arrays may hold only basic strings (\"...\"), found \"\(c.escaped(asASCII: true))\"")
            }
            elements.append(try basicString())
            try skipArraySpace()
            guard let next = current else { throw error("unterminated array", line: startLine, column: startColumn) }
            if next == "," {
                advance()
            } else if next != "]" {
                throw error("expected , or ] in an array, found \"\(next.escaped(asASCII: true))\"")
            }
        }
    }
}
