import Credentials
import Foundation

/// A JSON Schema (2020-12) validator for the keywords the OpenAPI document uses: `$ref` (local JSON pointers),
/// `type`, `enum`, `const`, `properties`, `required`, `additionalProperties`, `propertyNames`, `items`,
/// `pattern`, `minimum`, `maximum`, `minLength`, `oneOf`, `anyOf` and `allOf`. A keyword it does not know is an
/// error rather than ignored, so a schema can never be more permissive here than it reads.
struct JSONSchemaValidator {
    /// Keywords that only annotate.
    static let annotations: Set<String> = ["description", "title", "contentMediaType", "format", "examples"]

    /// The document `$ref`s point into.
    let root: JSONValue

    /// A schema the validator cannot apply.
    struct UnsupportedSchema: Error, CustomStringConvertible {
        let description: String
    }

    /// Every way `instance` fails `schema`, each naming where (`$.incidents[0].status`); empty when it is valid.
    func errors(_ instance: JSONValue, against schema: JSONValue, at path: String = "$") throws -> [String] {
        if case .bool(let allowed) = schema { return allowed ? [] : ["\(path): no value is allowed here"] }
        guard let keywords = schema.objectMembers else {
            throw UnsupportedSchema(description: "\(path): a schema must be an object or a Boolean")
        }
        var errors: [String] = []
        for (keyword, value) in keywords {
            errors += try check(keyword, value, in: schema, instance: instance, at: path)
        }
        return errors
    }

    /// Resolves a local reference (`#/components/schemas/Block`).
    func resolve(_ reference: String) throws -> JSONValue {
        guard reference.hasPrefix("#/") else {
            throw UnsupportedSchema(description: "\(reference): only local references are supported")
        }
        var node = root
        for token in reference.dropFirst(2).split(separator: "/", omittingEmptySubsequences: false) {
            let name = token.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            guard let next = node[name] else { throw UnsupportedSchema(description: "\(reference) does not resolve") }
            node = next
        }
        return node
    }

    private func check(
        _ keyword: String, _ value: JSONValue, in schema: JSONValue, instance: JSONValue, at path: String
    ) throws -> [String] {
        switch keyword {
        case "$ref":
            guard let reference = value.stringValue else { throw UnsupportedSchema(description: "\(path): $ref") }
            return try errors(instance, against: try resolve(reference), at: path)
        case "type":
            let types = value.stringValue.map { [$0] } ?? value.arrayValue?.compactMap(\.stringValue) ?? []
            guard !types.isEmpty else { throw UnsupportedSchema(description: "\(path): type must name a type") }
            return types.contains(where: { Self.has(instance, type: $0) })
                ? [] : ["\(path): \(Self.kind(of: instance)) is not of type \(types.joined(separator: " or "))"]
        case "enum":
            guard let values = value.arrayValue else { throw UnsupportedSchema(description: "\(path): enum") }
            return values.contains(instance) ? [] : ["\(path): \(instance.serialized.prefix(80)) is not in the enum"]
        case "const":
            return value == instance ? [] : ["\(path): \(instance.serialized.prefix(80)) is not \(value.serialized)"]
        case "properties":
            guard let members = instance.objectMembers else { return [] }
            guard let properties = value.objectMembers else { throw UnsupportedSchema(description: "\(path): props") }
            var errors: [String] = []
            for (name, propertySchema) in properties {
                if let member = members.first(where: { $0.0 == name }) {
                    errors += try self.errors(member.1, against: propertySchema, at: "\(path).\(name)")
                }
            }
            return errors
        case "required":
            guard let members = instance.objectMembers else { return [] }
            let names = value.arrayValue?.compactMap(\.stringValue) ?? []
            return names.filter { name in !members.contains { $0.0 == name } }.map { "\(path).\($0) is missing" }
        case "additionalProperties":
            guard let members = instance.objectMembers else { return [] }
            let declared = Set(schema["properties"]?.objectMembers?.map(\.0) ?? [])
            var errors: [String] = []
            for (name, member) in members where !declared.contains(name) {
                if case .bool(false) = value {
                    errors.append("\(path).\(name) is not a documented member")
                } else {
                    errors += try self.errors(member, against: value, at: "\(path).\(name)")
                }
            }
            return errors
        case "propertyNames":
            guard let members = instance.objectMembers else { return [] }
            var errors: [String] = []
            for (name, _) in members {
                errors += try self.errors(.string(name), against: value, at: "\(path) member name \(name)")
            }
            return errors
        case "items":
            guard let elements = instance.arrayValue else { return [] }
            var errors: [String] = []
            for (index, element) in elements.enumerated() {
                errors += try self.errors(element, against: value, at: "\(path)[\(index)]")
            }
            return errors
        case "pattern":
            guard let text = instance.stringValue else { return [] }
            guard let pattern = value.stringValue, let expression = try? NSRegularExpression(pattern: pattern) else {
                throw UnsupportedSchema(description: "\(path): pattern does not compile")
            }
            let range = NSRange(text.startIndex..., in: text)
            return expression.firstMatch(in: text, range: range) == nil
                ? ["\(path): \(text.prefix(80)) does not match \(pattern)"] : []
        case "minLength", "maxLength":
            guard let text = instance.stringValue else { return [] }
            guard let bound = value.integerValue else { throw UnsupportedSchema(description: "\(path): \(keyword)") }
            let length = Int64(text.unicodeScalars.count)
            let holds = keyword == "minLength" ? length >= bound : length <= bound
            return holds ? [] : ["\(path): length \(length) breaks \(keyword) \(bound)"]
        case "minimum", "maximum":
            guard let number = Self.number(instance) else { return [] }
            guard let bound = Self.number(value) else { throw UnsupportedSchema(description: "\(path): \(keyword)") }
            let holds = keyword == "minimum" ? number >= bound : number <= bound
            return holds ? [] : ["\(path): \(number) breaks \(keyword) \(bound)"]
        case "allOf", "anyOf", "oneOf":
            guard let subschemas = value.arrayValue, !subschemas.isEmpty else {
                throw UnsupportedSchema(description: "\(path): \(keyword) needs subschemas")
            }
            let outcomes = try subschemas.map { try errors(instance, against: $0, at: path) }
            let passing = outcomes.filter(\.isEmpty).count
            switch keyword {
            case "allOf": return outcomes.flatMap { $0 }
            case "anyOf":
                return passing > 0 ? [] : ["\(path): matches none of anyOf: \(outcomes.map(\.description))"]
            default:
                if passing == 1 { return [] }
                return passing == 0
                    ? ["\(path): matches none of oneOf: \(outcomes.map { $0.first ?? "" })"]
                    : ["\(path): matches \(passing) of oneOf, not exactly one"]
            }
        default:
            if Self.annotations.contains(keyword) || keyword.hasPrefix("x-") { return [] }
            throw UnsupportedSchema(description: "\(path): keyword \(keyword) is not supported by this validator")
        }
    }

    static func has(_ instance: JSONValue, type: String) -> Bool {
        switch (type, instance) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object):
            return true
        case ("integer", .integer), ("number", .integer), ("number", .number): return true
        case ("integer", .number(let value)): return value.rounded() == value
        default: return false
        }
    }

    static func kind(of instance: JSONValue) -> String {
        switch instance {
        case .null: "null"
        case .bool: "boolean"
        case .integer: "integer"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    static func number(_ value: JSONValue) -> Double? {
        switch value {
        case .integer(let integer): Double(integer)
        case .number(let number): number
        default: nil
        }
    }
}
