import Credentials

/// A JSON value written as a Swift literal, so that the OpenAPI document (``OpenAPIDocument``) reads close to
/// the JSON it serves. Objects keep the order they are written in; the document is serialized through
/// ``JSONValue`` once.
indirect enum OpenAPIValue: Sendable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    case string(String)
    case integer(Int64)
    case bool(Bool)
    case array([OpenAPIValue])
    case object([(String, OpenAPIValue)])

    init(stringLiteral value: String) { self = .string(value) }
    init(integerLiteral value: Int64) { self = .integer(value) }
    init(booleanLiteral value: Bool) { self = .bool(value) }
    init(arrayLiteral elements: OpenAPIValue...) { self = .array(elements) }
    init(dictionaryLiteral elements: (String, OpenAPIValue)...) { self = .object(elements) }

    /// The value as the credential formats' ordered JSON value, ready to serialize.
    var json: JSONValue {
        switch self {
        case .string(let value): .string(value)
        case .integer(let value): .integer(value)
        case .bool(let value): .bool(value)
        case .array(let elements): .array(elements.map(\.json))
        case .object(let members): .object(members.map { ($0.0, $0.1.json) })
        }
    }

    /// An object with `members` appended (a member of the same name is replaced).
    func adding(_ members: [(String, OpenAPIValue)]) -> OpenAPIValue {
        guard case .object(var existing) = self else { return self }
        for (name, value) in members {
            if let index = existing.firstIndex(where: { $0.0 == name }) {
                existing[index].1 = value
            } else {
                existing.append((name, value))
            }
        }
        return .object(existing)
    }
}

/// JSON Schema (2020-12) builders for the document. Every object schema of an answer is strict: all members
/// the server always sends are `required`, and `additionalProperties` is false, so a body that gains, loses or
/// renames a member no longer validates (Tests/APITests/OpenAPITests.swift checks real answers against them).
enum Schema {
    /// A reference to `#/components/schemas/<name>`.
    static func ref(_ name: String) -> OpenAPIValue { ["$ref": .string("#/components/schemas/" + name)] }

    /// A strict object: `required` members always present, `optional` ones present only sometimes.
    static func object(
        _ required: KeyValuePairs<String, OpenAPIValue>, optional: KeyValuePairs<String, OpenAPIValue> = [:],
        description: String? = nil
    ) -> OpenAPIValue {
        var members: [(String, OpenAPIValue)] = [("type", "object")]
        if let description { members.append(("description", .string(description))) }
        let properties = required.map { ($0.key, $0.value) } + optional.map { ($0.key, $0.value) }
        members.append(("properties", .object(properties)))
        members.append(("required", .array(required.map { .string($0.key) })))
        members.append(("additionalProperties", false))
        return .object(members)
    }

    /// A request body object: unknown members are ignored by the server, so they are allowed here.
    static func requestObject(
        _ required: KeyValuePairs<String, OpenAPIValue>, optional: KeyValuePairs<String, OpenAPIValue> = [:]
    ) -> OpenAPIValue {
        let properties = required.map { ($0.key, $0.value) } + optional.map { ($0.key, $0.value) }
        return [
            "type": "object", "properties": .object(properties), "required": .array(required.map { .string($0.key) }),
        ]
    }

    /// A string, with a description.
    static func string(_ description: String) -> OpenAPIValue {
        ["type": "string", "description": .string(description)]
    }

    /// A string matching `pattern` (ECMA-262, anchored by the pattern itself).
    static func string(pattern: String, _ description: String) -> OpenAPIValue {
        ["type": "string", "pattern": .string(pattern), "description": .string(description)]
    }

    /// One of `values`.
    static func enumeration(_ values: [String], _ description: String) -> OpenAPIValue {
        ["type": "string", "enum": .array(values.map { .string($0) }), "description": .string(description)]
    }

    /// Exactly `value`.
    static func constant(_ value: String) -> OpenAPIValue { ["type": "string", "const": .string(value)] }

    /// An unsigned 64-bit integer (JSON numbers: heights, rounds, sizes, milliseconds).
    static func uint64(_ description: String) -> OpenAPIValue {
        ["type": "integer", "minimum": 0, "description": .string(description)]
    }

    /// An integer.
    static func integer(_ description: String) -> OpenAPIValue {
        ["type": "integer", "description": .string(description)]
    }

    /// A Boolean.
    static func boolean(_ description: String) -> OpenAPIValue {
        ["type": "boolean", "description": .string(description)]
    }

    /// An array of `items`.
    static func array(_ items: OpenAPIValue, _ description: String? = nil) -> OpenAPIValue {
        var members: [(String, OpenAPIValue)] = [("type", "array"), ("items", items)]
        if let description { members.append(("description", .string(description))) }
        return .object(members)
    }

    /// 32 bytes in lowercase hex: an Ed25519 key, an X25519 key or a SHA-256 digest.
    static func hex32(_ description: String) -> OpenAPIValue {
        string(pattern: "^[0-9a-f]{64}$", description)
    }

    /// Standard padded Base64 (RFC 4648 §4).
    static func base64(_ description: String) -> OpenAPIValue {
        string(pattern: "^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$", description)
    }

    /// Unpadded base64url (RFC 4648 §5).
    static func base64url(_ description: String) -> OpenAPIValue {
        string(pattern: "^[A-Za-z0-9_-]*$", description)
    }
}
