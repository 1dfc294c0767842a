import Credentials
import Crypto
import EnsureCrypto
import Foundation
import Testing

@Suite("RFC 9901 disclosures and digests")
struct DisclosureVectorTests {
    @Test("§4.2.1/§4.2.3: the family_name disclosure decodes to its parts and hashes to the RFC's digest")
    func objectPropertyVector() throws {
        let encoded = "WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsICJmYW1pbHlfbmFtZSIsICJNw7ZiaXVzIl0"
        let disclosure = try Disclosure(encoded: encoded)
        #expect(disclosure.salt == "_26bc4LT-ac6q2KI6cBW5es")
        #expect(disclosure.claimName == "family_name")
        #expect(disclosure.value == .string("Möbius"))
        #expect(disclosure.digest == "X9yH0Ajrdm1Oij4tWso9UzzKJvPoDxwmuEcO3XAdRC0")
    }

    @Test("§4.2.2: the array element disclosure [salt, \"FR\"] hashes to the RFC's digest")
    func arrayElementVector() throws {
        let disclosure = try Disclosure(encoded: "WyJsa2x4RjVqTVlsR1RQVW92TU5JdkNBIiwgIkZSIl0")
        #expect(disclosure.salt == "lklxF5jMYlGTPUovMNIvCA")
        #expect(disclosure.claimName == nil)
        #expect(disclosure.value == .string("FR"))
        #expect(disclosure.digest == "w0I8EKcdCtUPkGCNUrfwVp2xEgNjtoIDlOxc9-PlOhs")
    }

    @Test("§4.2.1: other encodings of the same content are accepted, and their digest is over the text received")
    func alternativeEncodings() throws {
        let compact = try Disclosure(encoded: "WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsImZhbWlseV9uYW1lIiwiTcO2Yml1cyJd")
        let escaped = try Disclosure(
            encoded: "WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsICJmYW1pbHlfbmFtZSIsICJNXHUwMGY2Yml1cyJd")
        for disclosure in [compact, escaped] {
            #expect(disclosure.claimName == "family_name")
            #expect(disclosure.value == .string("Möbius"))
            #expect(disclosure.digest != "X9yH0Ajrdm1Oij4tWso9UzzKJvPoDxwmuEcO3XAdRC0")
        }
        #expect(compact.digest != escaped.digest)
    }

    @Test("a disclosure we build is the compact JSON array, and parses back to the same parts and digest")
    func buildAndParse() throws {
        let built = Disclosure(salt: "c2FsdA", claimName: "age_over_18", value: .bool(true))
        #expect(try Base64.decodeURL(built.encoded) == Array(#"["c2FsdA","age_over_18",true]"#.utf8))
        let parsed = try Disclosure(encoded: built.encoded)
        #expect(parsed == built)
    }

    @Test(
        "malformed disclosures are refused with the reason",
        arguments: [
            ("not base64url", "WyJh+IiwiYiJd"),
            ("not an array", Base64.encodeURL(Array(#"{"a":1}"#.utf8))),
            ("one element", Base64.encodeURL(Array(#"["salt"]"#.utf8))),
            ("four elements", Base64.encodeURL(Array(#"["salt","a",1,2]"#.utf8))),
            ("salt not a string", Base64.encodeURL(Array(#"[1,"a",true]"#.utf8))),
            ("name not a string", Base64.encodeURL(Array(#"["salt",1,true]"#.utf8))),
            ("invalid JSON", Base64.encodeURL(Array(#"["salt","a",tru]"#.utf8))),
        ])
    func malformed(_ label: String, _ encoded: String) {
        #expect(throws: SDJWTError.self, "\(label)") { try Disclosure(encoded: encoded, index: 3) }
        do {
            _ = try Disclosure(encoded: encoded, index: 3)
        } catch {
            guard case .malformedDisclosure(let index, _) = error else {
                Issue.record("expected malformedDisclosure for \(label), got \(error)")
                return
            }
            #expect(index == 3)
        }
    }
}

/// Builds SD-JWTs with chosen payloads and disclosures, signed by one key.
struct SDJWTBuilder {
    let key: P256.Signing.PrivateKey

    init() {
        var generator = SeededGenerator(seed: 7)
        key = makeP256Key(using: &generator)
    }

    func make(_ payload: JSONValue, _ disclosures: [Disclosure], header: [(String, JSONValue)] = []) -> String {
        let jwt = signJWT(header: header, payload: payload, key: key)
        return ([jwt] + disclosures.map(\.encoded)).joined(separator: "~") + "~"
    }

    func process(_ payload: JSONValue, _ disclosures: [Disclosure]) throws(SDJWTError) -> JSONValue {
        try SDJWT.parse(make(payload, disclosures)).processedPayload()
    }
}

@Suite("SD-JWT parsing and processing")
struct SDJWTProcessingTests {
    let builder = SDJWTBuilder()
    let given = Disclosure(salt: "s1", claimName: "given_name", value: .string("Erika"))
    let family = Disclosure(salt: "s2", claimName: "family_name", value: .string("Mustermann"))
    let fr = Disclosure(salt: "s3", claimName: nil, value: .string("FR"))

    @Test("disclosed claims replace their digests; undisclosed ones and decoys vanish; _sd_alg is removed")
    func process() throws {
        let payload = JSONValue.object([
            ("iss", .string("https://issuer.example")),
            ("_sd", .array([.string(given.digest), .string(family.digest), .string("decoy-digest")])),
            ("nationalities", .array([.object([("...", .string(fr.digest))]), .object([("...", .string("other"))])])),
            ("_sd_alg", .string("sha-256")),
        ])
        let result = try builder.process(payload, [given, fr])
        #expect(result["given_name"] == .string("Erika"))
        #expect(result["family_name"] == nil)
        #expect(result["nationalities"] == .array([.string("FR")]))
        #expect(result["_sd"] == nil)
        #expect(result["_sd_alg"] == nil)
        #expect(result["iss"] == .string("https://issuer.example"))
    }

    @Test("recursive disclosure: a disclosed object may hold its own _sd")
    func recursive() throws {
        let inner = Disclosure(salt: "s4", claimName: "locality", value: .string("Berlin"))
        let address = Disclosure(
            salt: "s5", claimName: "address", value: .object([("_sd", .array([.string(inner.digest)]))]))
        let payload = JSONValue.object([("_sd", .array([.string(address.digest)]))])
        let result = try builder.process(payload, [address, inner])
        #expect(result["address"]?["locality"] == .string("Berlin"))
    }

    @Test("the serialization round-trips, and sd_hash covers everything up to the last ~")
    func serialization() throws {
        let text = builder.make(.object([("_sd", .array([.string(given.digest)]))]), [given])
        let parsed = try SDJWT.parse(text)
        #expect(parsed.serialized == text)
        #expect(parsed.presentationPrefix == text)
        #expect(parsed.keyBindingJWT == nil)
        let expected = Base64.encodeURL(EnsureCrypto.SHA256.hash(Array(text.utf8)).bytes)
        #expect(parsed.sdHash == expected)
    }

    @Test("a disclosure given twice is refused")
    func duplicateDisclosure() {
        let text = builder.make(.object([("_sd", .array([.string(given.digest)]))]), [given, given])
        #expect(throws: SDJWTError.duplicateDisclosure(digest: given.digest)) { try SDJWT.parse(text) }
    }

    @Test("a digest that occurs twice in the payload is refused, even for a decoy")
    func digestTwice() {
        let twice = JSONValue.object([
            ("_sd", .array([.string(given.digest)])), ("nested", .object([("_sd", .array([.string(given.digest)]))])),
        ])
        #expect(throws: SDJWTError.digestReferencedTwice(digest: given.digest)) {
            try builder.process(twice, [given])
        }
        let decoyTwice = JSONValue.object([("_sd", .array([.string("decoy"), .string("decoy")]))])
        #expect(throws: SDJWTError.digestReferencedTwice(digest: "decoy")) { try builder.process(decoyTwice, []) }
    }

    @Test("a disclosure whose digest is not in the payload is refused")
    func notReferenced() {
        let payload = JSONValue.object([("_sd", .array([.string(given.digest)]))])
        #expect(throws: SDJWTError.disclosureNotReferenced(digest: family.digest)) {
            try builder.process(payload, [given, family])
        }
    }

    @Test("a disclosed claim that clashes with a plain claim of the same object is refused")
    func nameClash() {
        let payload = JSONValue.object([("given_name", .string("Max")), ("_sd", .array([.string(given.digest)]))])
        #expect(throws: SDJWTError.claimNameClash(path: "$.given_name")) { try builder.process(payload, [given]) }
    }

    @Test("disclosures of the reserved names _sd and ... are refused")
    func reservedNames() {
        for name in ["_sd", "..."] {
            let bad = Disclosure(salt: "s9", claimName: name, value: .array([]))
            let payload = JSONValue.object([("_sd", .array([.string(bad.digest)]))])
            #expect(throws: SDJWTError.reservedClaimName(path: "$", name: name)) { try builder.process(payload, [bad]) }
        }
    }

    @Test(
        "misuse of _sd, _sd_alg and ... is refused",
        arguments: [
            JSONValue.object([("_sd", .string("not-an-array"))]),
            JSONValue.object([("_sd", .array([.integer(1)]))]),
            JSONValue.object([("nested", .object([("_sd_alg", .string("sha-256"))]))]),
            JSONValue.object([("...", .string("x"))]),
            JSONValue.object([("list", .array([.object([("...", .string("x")), ("extra", .integer(1))])]))]),
            JSONValue.object([("list", .array([.object([("...", .integer(1))])]))]),
        ])
    func misuse(_ payload: JSONValue) {
        do {
            _ = try builder.process(payload, [])
            Issue.record("accepted \(payload.serialized)")
        } catch {
            guard case .sdClaimMisuse = error else {
                Issue.record("expected sdClaimMisuse, got \(error)")
                return
            }
        }
    }

    @Test("an array-element disclosure referenced from _sd, or a property disclosure from ..., is refused")
    func shapeMismatch() {
        let fromSD = JSONValue.object([("_sd", .array([.string(fr.digest)]))])
        #expect(throws: SDJWTError.disclosureShapeMismatch(digest: fr.digest, expected: "an object-property")) {
            try builder.process(fromSD, [fr])
        }
        let fromArray = JSONValue.object([("list", .array([.object([("...", .string(given.digest))])]))])
        #expect(throws: SDJWTError.disclosureShapeMismatch(digest: given.digest, expected: "an array-element")) {
            try builder.process(fromArray, [given])
        }
    }

    @Test("an _sd_alg other than sha-256 is refused")
    func unsupportedDigest() {
        let payload = JSONValue.object([("_sd_alg", .string("sha-512"))])
        #expect(throws: SDJWTError.unsupportedDigestAlgorithm("sha-512")) { try builder.process(payload, []) }
    }

    @Test(
        "malformed serializations are refused",
        arguments: ["no tilde", "empty disclosure", "whitespace", "bad JWT"])
    func malformedSerialization(_ label: String) {
        let good = builder.make(.object([("_sd", .array([.string(given.digest)]))]), [given])
        let texts = [
            "no tilde": String(good.dropLast()).components(separatedBy: "~")[0],
            "empty disclosure": good + "~",
            "whitespace": good.replacingOccurrences(of: "~", with: " ~"),
            "bad JWT": "abc.def~" + given.encoded + "~",
        ]
        #expect(throws: SDJWTError.self, "\(label)") { try SDJWT.parse(texts[label]!) }
    }

    @Test("algorithms none and HS256 are refused by name")
    func unsupportedAlgorithms() {
        for alg in ["none", "HS256", "RS256"] {
            let header = Base64.encodeURL(Array(#"{"alg":"\#(alg)"}"#.utf8))
            let payload = Base64.encodeURL(Array("{}".utf8))
            let signature = Base64.encodeURL([UInt8](repeating: 1, count: 64))
            #expect(throws: SDJWTError.issuerJWT(.unsupportedAlgorithm(alg))) {
                try SDJWT.parse("\(header).\(payload).\(signature)~")
            }
        }
    }
}

@Suite("JSON")
struct JSONValueTests {
    @Test("parses and re-serializes compactly, keeping member order and exact integers")
    func roundTrip() throws {
        let text = #"{ "b": 1, "a": [true, false, null, -0.5, "x\u00e9\n"], "big": 9007199254740993 }"#
        let value = try JSONValue.parse(text)
        #expect(value.serialized == #"{"b":1,"a":[true,false,null,-0.5,"xé\n"],"big":9007199254740993}"#)
        #expect(value["big"]?.integerValue == 9_007_199_254_740_993)
    }

    @Test(
        "refuses duplicate members, trailing text, bad numbers, bad escapes, lone surrogates and deep nesting",
        arguments: [
            #"{"a":1,"a":2}"#, #"{"a":1} x"#, "01", "1.", "-", #""\x""#, #""\ud800""#, "[1,]", #"{"a" 1}"#,
            String(repeating: "[", count: 40) + String(repeating: "]", count: 40), "",
        ])
    func refuses(_ text: String) {
        #expect(throws: JSONParsingError.self) { try JSONValue.parse(text) }
    }

    @Test("refuses invalid UTF-8")
    func invalidUTF8() {
        #expect(throws: JSONParsingError.invalidUTF8) { try JSONValue.parse([0x22, 0xC3, 0x28, 0x22]) }
    }
}
