import Credentials
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting

@testable import API

/// The router path Hummingbird reports for a documented template that OpenAPI cannot spell (a recursive
/// wildcard), and back.
let routerPathOfTemplate = ["/.well-known/jwt-vc-issuer/{issuerPath}": "/.well-known/jwt-vc-issuer/**"]

/// The repository's root directory, from this file's place in it.
let apiTestsRepositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()

/// The OpenAPI document as served, with the look-ups the tests need.
struct OpenAPISpec {
    let root: JSONValue
    var validator: JSONSchemaValidator { JSONSchemaValidator(root: root) }

    init(_ root: JSONValue) { self.root = root }

    /// Fetches `/openapi.json` from a fresh application over a fake node.
    static func served() async throws -> OpenAPISpec {
        let box = ResponseCapture()
        try await makeApplication(FakeNode()).test(.router) { client in
            let response = try await client.execute(uri: "/openapi.json", method: .get)
            box.bytes = Array(response.body.readableBytesView)
            box.status = response.status
            box.headers = response.headers
        }
        let contentType = box.headers[.contentType]
        guard box.status == .ok, contentType == "application/json" else {
            throw SpecError("GET /openapi.json answered \(box.status.code) \(contentType ?? "-")")
        }
        return OpenAPISpec(try JSONValue.parse(box.bytes, maxDepth: 64))
    }

    /// `(method, path)` of every operation, the method upper-cased (`GET /v1/status`), with the operation.
    var operations: [(key: String, method: String, path: String, operation: JSONValue)] {
        var out: [(String, String, String, JSONValue)] = []
        for (path, item) in root["paths"]?.objectMembers ?? [] {
            for (method, operation) in item.objectMembers ?? [] {
                out.append(("\(method.uppercased()) \(path)", method.uppercased(), path, operation))
            }
        }
        return out.map { (key: $0.0, method: $0.1, path: $0.2, operation: $0.3) }
    }

    /// The documented path template that `path` (a request path, without the query) falls under: the one with
    /// the most literal segments among those that match.
    func template(for path: String) -> String? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        var best: (template: String, literals: Int)?
        for (template, _) in root["paths"]?.objectMembers ?? [] {
            let parts = template.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
            let spansRest = routerPathOfTemplate[template] != nil
            guard spansRest ? segments.count >= parts.count : segments.count == parts.count else { continue }
            var literals = 0
            var matches = true
            for (part, segment) in zip(parts, segments) {
                if part.hasPrefix("{") && part.hasSuffix("}") {
                    if segment.isEmpty { matches = false }
                } else if part == segment {
                    literals += 1
                } else {
                    matches = false
                }
            }
            if matches, literals > (best?.literals ?? -1) { best = (template, literals) }
        }
        return best?.template
    }
}

/// A failed expectation about the document itself.
struct SpecError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Every `$ref` value in `value`, with where it sits.
func references(in value: JSONValue, at path: String = "#") -> [(path: String, reference: String)] {
    switch value {
    case .object(let members):
        return members.flatMap { name, member -> [(path: String, reference: String)] in
            if name == "$ref", let reference = member.stringValue { return [(path, reference)] }
            return references(in: member, at: "\(path)/\(name)")
        }
    case .array(let elements):
        return elements.enumerated().flatMap { references(in: $1, at: "\(path)/\($0)") }
    default:
        return []
    }
}
