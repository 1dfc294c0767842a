/// Why canonical bytes were refused. Every case names the field (a dotted path such as
/// `block.transactions[3].payload`) so that an operator or a peer's log says exactly what was wrong.
public enum CanonicalDecodingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The input ended before the field was complete.
    case truncated(field: String, needed: Int, remaining: Int)
    /// Bytes were left over after a complete value.
    case trailingBytes(field: String, count: Int)
    /// A variable-length integer was not in its shortest form, or did not fit 64 bits.
    case nonCanonicalInteger(field: String)
    /// A length, count or value exceeded the limit for its field.
    case limitExceeded(field: String, limit: UInt64, actual: UInt64)
    /// The object's version byte is not one this build understands.
    case unknownVersion(field: String, version: UInt8)
    /// An enumeration tag (including optional and boolean markers) has no meaning.
    case invalidTag(field: String, tag: UInt64)
    /// A string field is not valid UTF-8.
    case invalidUTF8(field: String)
    /// A set or map is not in strictly ascending order (so it has duplicates or two encodings).
    case notStrictlyAscending(field: String, index: Int)
    /// A value is well-formed but not allowed (for example an empty identifier).
    case invalidValue(field: String, reason: String)

    /// The same error about `prefix` followed by its field: decoders of hot paths name their fields relative to
    /// their value and add the value's own name only when something was wrong, not for every value they read.
    public func inField(_ prefix: String) -> CanonicalDecodingError {
        switch self {
        case .truncated(let field, let needed, let remaining):
            .truncated(field: prefix + field, needed: needed, remaining: remaining)
        case .trailingBytes(let field, let count): .trailingBytes(field: prefix + field, count: count)
        case .nonCanonicalInteger(let field): .nonCanonicalInteger(field: prefix + field)
        case .limitExceeded(let field, let limit, let actual):
            .limitExceeded(field: prefix + field, limit: limit, actual: actual)
        case .unknownVersion(let field, let version): .unknownVersion(field: prefix + field, version: version)
        case .invalidTag(let field, let tag): .invalidTag(field: prefix + field, tag: tag)
        case .invalidUTF8(let field): .invalidUTF8(field: prefix + field)
        case .notStrictlyAscending(let field, let index): .notStrictlyAscending(field: prefix + field, index: index)
        case .invalidValue(let field, let reason): .invalidValue(field: prefix + field, reason: reason)
        }
    }

    /// The field the error is about.
    public var field: String {
        switch self {
        case .truncated(let field, _, _), .trailingBytes(let field, _), .nonCanonicalInteger(let field),
            .limitExceeded(let field, _, _), .unknownVersion(let field, _), .invalidTag(let field, _),
            .invalidUTF8(let field), .notStrictlyAscending(let field, _), .invalidValue(let field, _):
            return field
        }
    }

    public var description: String {
        switch self {
        case .truncated(let field, let needed, let remaining):
            return "\(field): truncated, needs \(needed) more bytes but only \(remaining) remain"
        case .trailingBytes(let field, let count):
            return "\(field): \(count) trailing bytes after a complete value"
        case .nonCanonicalInteger(let field):
            return "\(field): integer is not in its shortest varint form or overflows 64 bits"
        case .limitExceeded(let field, let limit, let actual):
            return "\(field): \(actual) exceeds the limit of \(limit)"
        case .unknownVersion(let field, let version):
            return "\(field): unknown version \(version)"
        case .invalidTag(let field, let tag):
            return "\(field): invalid tag \(tag)"
        case .invalidUTF8(let field):
            return "\(field): string is not valid UTF-8"
        case .notStrictlyAscending(let field, let index):
            return "\(field): element \(index) is not strictly greater than the one before it"
        case .invalidValue(let field, let reason):
            return "\(field): \(reason)"
        }
    }
}
