import Credentials
import Crypto
import EnsureCrypto
import Foundation
import Testing

/// The statuses draft-ietf-oauth-status-list lists for its test vectors (section "Test vectors for Status List
/// encoding"); every index not listed is 0. The long lists have 2^20 entries.
enum StatusListVectors {
    static let longSize = 1 << 20

    static let oneBitLong: KeyValuePairs<Int, UInt8> = [
        0: 1, 1993: 1, 25460: 1, 159495: 1, 495669: 1, 554353: 1, 645645: 1, 723232: 1, 854545: 1, 934534: 1,
        1_000_345: 1,
    ]

    static let twoBitLong: KeyValuePairs<Int, UInt8> = [
        0: 1, 1993: 2, 25460: 1, 159495: 3, 495669: 1, 554353: 1, 645645: 2, 723232: 1, 854545: 1, 934534: 2,
        1_000_345: 3,
    ]

    static let fourBit: KeyValuePairs<Int, UInt8> = [
        0: 1, 1993: 2, 35460: 3, 459495: 4, 595669: 5, 754353: 6, 845645: 7, 923232: 8, 924445: 9, 934534: 10,
        1_004_534: 11, 1_000_345: 12, 1_030_203: 13, 1_030_204: 14, 1_030_205: 15,
    ]

    static let eightBit: KeyValuePairs<Int, UInt8> = [
        233478: 0, 52451: 1, 576778: 2, 513575: 3, 468106: 4, 292632: 5, 214947: 6, 182323: 7, 884834: 8, 66653: 9,
        62489: 10, 196493: 11, 458517: 12, 487925: 13, 55649: 14, 416992: 15, 879796: 16, 462297: 17, 942059: 18,
        583408: 19, 13628: 20, 334829: 21, 886286: 22, 713557: 23, 582738: 24, 326064: 25, 451545: 26, 705889: 27,
        214350: 28, 194502: 29, 796765: 30, 202828: 31, 752834: 32, 721327: 33, 554740: 34, 91122: 35, 963483: 36,
        261779: 37, 793844: 38, 165255: 39, 614839: 40, 758403: 41, 403258: 42, 145867: 43, 96100: 44, 477937: 45,
        606890: 46, 167335: 47, 488197: 48, 211815: 49, 797182: 50, 582952: 51, 950870: 52, 765108: 53, 341110: 54,
        776325: 55, 745056: 56, 439368: 57, 559893: 58, 149741: 59, 358903: 60, 513405: 61, 342679: 62, 969429: 63,
        795775: 64, 566121: 65, 460566: 66, 680070: 67, 117310: 68, 480348: 69, 67319: 70, 661552: 71, 841303: 72,
        561493: 73, 138807: 74, 442463: 75, 659927: 76, 445910: 77, 1_046_963: 78, 829700: 79, 962282: 80, 299623: 81,
        555493: 82, 292826: 83, 517215: 84, 551009: 85, 898490: 86, 837603: 87, 759161: 88, 459948: 89, 290102: 90,
        1_034_977: 91, 190650: 92, 98810: 93, 229950: 94, 320531: 95, 335506: 96, 885333: 97, 133227: 98, 806915: 99,
        800313: 100, 981571: 101, 527253: 102, 24077: 103, 240232: 104, 559572: 105, 713399: 106, 233941: 107,
        615514: 108, 911768: 109, 331680: 110, 951527: 111, 6805: 112, 552366: 113, 374660: 114, 223159: 115,
        625884: 116, 417146: 117, 320527: 118, 784154: 119, 338792: 120, 1199: 121, 679804: 122, 1_024_680: 123,
        40845: 124, 234603: 125, 761225: 126, 644903: 127, 502167: 128, 121477: 129, 505144: 130, 165165: 131,
        179628: 132, 1_019_195: 133, 145149: 134, 263738: 135, 269256: 136, 996739: 137, 346296: 138, 555864: 139,
        887384: 140, 444173: 141, 421844: 142, 653716: 143, 836747: 144, 783119: 145, 918762: 146, 946835: 147,
        253764: 148, 519895: 149, 471224: 150, 134272: 151, 709016: 152, 44112: 153, 482585: 154, 461829: 155,
        15080: 156, 148883: 157, 123467: 158, 480125: 159, 141348: 160, 65877: 161, 692958: 162, 148598: 163,
        499131: 164, 584009: 165, 1_017_987: 166, 449287: 167, 277478: 168, 991262: 169, 509602: 170, 991896: 171,
        853666: 172, 399318: 173, 197815: 174, 203278: 175, 903979: 176, 743015: 177, 888308: 178, 862143: 179,
        979421: 180, 113605: 181, 206397: 182, 127113: 183, 844358: 184, 711569: 185, 229153: 186, 521470: 187,
        401793: 188, 398896: 189, 940810: 190, 293983: 191, 884749: 192, 384802: 193, 584151: 194, 970201: 195,
        523882: 196, 158093: 197, 929312: 198, 205329: 199, 106091: 200, 30949: 201, 195586: 202, 495723: 203,
        348779: 204, 852312: 205, 1_018_463: 206, 1_009_481: 207, 448260: 208, 841042: 209, 122967: 210, 345269: 211,
        794764: 212, 4520: 213, 818773: 214, 556171: 215, 954221: 216, 598210: 217, 887110: 218, 1_020_623: 219,
        324632: 220, 398244: 221, 622241: 222, 456551: 223, 122648: 224, 127837: 225, 657676: 226, 119884: 227,
        105156: 228, 999897: 229, 330160: 230, 119285: 231, 168005: 232, 389703: 233, 143699: 234, 142524: 235,
        493258: 236, 846778: 237, 251420: 238, 516351: 239, 83344: 240, 171931: 241, 879178: 242, 663475: 243,
        546865: 244, 428362: 245, 658891: 246, 500560: 247, 557034: 248, 830023: 249, 274471: 250, 629139: 251,
        958869: 252, 663071: 253, 152133: 254, 19535: 255,
    ]

    /// Reads a vector file: the JSON object after any preamble, with the line wrapping removed.
    static func load(_ name: String) throws -> JSONValue {
        let url = repositoryRoot.appendingPathComponent("../shared/testvectors/status-list/\(name).md")
        let text = try String(contentsOf: url, encoding: .utf8)
        guard let start = text.firstIndex(of: "{") else { throw CredentialFieldError(path: name, problem: "no JSON") }
        return try JSONValue.parse(String(text[start...].filter { !$0.isWhitespace }))
    }

    /// The list a vector file describes, with its size and statuses.
    static func expectations(_ name: String) -> (bits: Int, count: Int, statuses: [(Int, UInt8)]) {
        switch name {
        case "status_list_encoding_json":
            return (1, 16, [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1].enumerated().map { ($0, UInt8($1)) })
        case "status_list_encoding2_json":
            return (2, 12, [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3].enumerated().map { ($0, UInt8($1)) })
        case "status_list_encoding1_long_json": return (1, longSize, oneBitLong.map { ($0, $1) })
        case "status_list_encoding2_long_json": return (2, longSize, twoBitLong.map { ($0, $1) })
        case "status_list_encoding4_json": return (4, longSize, fourBit.map { ($0, $1) })
        default: return (8, longSize, eightBit.map { ($0, $1) })
        }
    }
}

@Suite("Token Status List")
struct StatusListTests {
    static let files = [
        "status_list_encoding_json", "status_list_encoding2_json", "status_list_encoding1_long_json",
        "status_list_encoding2_long_json", "status_list_encoding4_json", "status_list_encoding8_json",
    ]

    @Test(
        "every draft vector decodes to the listed statuses, and re-encodes to a list that decodes the same",
        arguments: files)
    func vector(_ name: String) throws {
        let json = try StatusListVectors.load(name)
        let list = try StatusList.decode(json)
        let expected = StatusListVectors.expectations(name)
        #expect(list.bits == expected.bits)
        #expect(list.count == expected.count)
        var nonZero = 0
        for index in 0..<list.count where try list.status(at: index) != 0 { nonZero += 1 }
        let listed = Dictionary(expected.statuses.map { ($0.0, $0.1) }, uniquingKeysWith: { $1 })
        for (index, status) in listed { #expect(try list.status(at: index) == status, "index \(index)") }
        #expect(nonZero == listed.values.filter { $0 != 0 }.count)
        let again = try StatusList.decode(try JSONValue.parse(list.json.serialized))
        #expect(again == list)
    }

    @Test("the short vectors' byte arrays match the draft")
    func byteArrays() throws {
        #expect(try StatusList.decode(StatusListVectors.load("status_list_encoding_json")).bytes == [0xb9, 0xa3])
        #expect(
            try StatusList.decode(StatusListVectors.load("status_list_encoding2_json")).bytes == [0xc9, 0x44, 0xf9])
    }

    @Test("setting one entry changes exactly that entry, for every width", arguments: [1, 2, 4, 8])
    func setOne(_ bits: Int) throws {
        var list = try StatusList(bits: bits, count: 1000)
        let before = list
        try list.setStatus(1, at: 537)
        #expect(try list.status(at: 537) == 1)
        var changed = 0
        for index in 0..<list.count where try list.status(at: index) != before.status(at: index) { changed += 1 }
        #expect(changed == 1)
        let maxValue = UInt8((1 << bits) - 1)
        try list.setStatus(maxValue, at: 538)
        #expect(try list.status(at: 538) == maxValue)
        #expect(try list.status(at: 537) == 1)
    }

    @Test("refuses bits other than 1, 2, 4, 8; indices outside the list; values too wide")
    func refusals() throws {
        #expect(throws: StatusListError.unsupportedBits(3)) { try StatusList(bits: 3, count: 8) }
        var list = try StatusList(bits: 2, count: 8)
        #expect(throws: StatusListError.indexOutOfRange(index: 8, count: 8)) { try list.status(at: 8) }
        #expect(throws: StatusListError.indexOutOfRange(index: -1, count: 8)) { try list.setStatus(1, at: -1) }
        #expect(throws: StatusListError.valueTooLarge(value: 4, bits: 2)) { try list.setStatus(4, at: 0) }
        #expect(list == (try StatusList(bits: 2, count: 8)))
    }

    @Test("refuses lst that is not zlib, is truncated, has trailing bytes or inflates beyond the limit")
    func badCompression() throws {
        let good = Zlib.compress([UInt8](repeating: 0, count: 4096))
        for bad in [[0x01, 0x02, 0x03], Array(good.dropLast(3)), good + [0]] {
            let json = JSONValue.object([("bits", .integer(1)), ("lst", .string(Base64.encodeURL(bad)))])
            #expect(throws: StatusListError.self) { try StatusList.decode(json) }
        }
        let json = JSONValue.object([("bits", .integer(1)), ("lst", .string(Base64.encodeURL(good)))])
        #expect(throws: StatusListError.compression(.outputTooLarge(limit: 1024))) {
            try StatusList.decode(json, maxBytes: 1024)
        }
        #expect(throws: StatusListError.self) { try StatusList.decode(.object([("bits", .integer(1))])) }
    }

    @Test("the draft's status list token verifies with the draft's example key (kid 12)")
    func draftToken() throws {
        let url = repositoryRoot.appendingPathComponent("../shared/testvectors/status-list/status_list_jwt_raw.md")
        let token = try String(contentsOf: url, encoding: .utf8)
        let jwk = try PublicJWK.parse(
            try JSONValue.parse(
                #"{"kty":"EC","crv":"P-256","x":"I3HWm_0Ds1dPMI-IWmf4mBmH-YaeAVbPVu7vB27CxXo","#
                    + #""y":"6N_d5Elj9bs1htgV3okJKIdbHEpkgTmAluYKJemzn1M","kid":"12"}"#), path: "key")
        let list = try StatusListToken.verify(
            token, expectedURI: "https://example.com/statuslists/1", now: 1_686_920_170, key: { $0 == "12" ? jwk : nil }
        )
        #expect(list.bytes == [0xb9, 0xa3])
        #expect(
            throws: StatusListError.subjectMismatch(
                expected: "https://other", found: "https://example.com/statuslists/1")
        ) {
            try StatusListToken.verify(token, expectedURI: "https://other", now: 1_686_920_170, key: { _ in jwk })
        }
        #expect(throws: StatusListError.expired(exp: 2_291_720_170, now: 2_291_720_170)) {
            try StatusListToken.verify(token, expectedURI: nil, now: 2_291_720_170, key: { _ in jwk })
        }
    }

    @Test("a token we sign verifies; a wrong key, a wrong typ, a tampered payload are refused")
    func ownToken() throws {
        var generator = SeededGenerator(seed: 5)
        let key = makeP256Key(using: &generator)
        let other = makeP256Key(using: &generator)
        var list = try StatusList(bits: 1, count: 64)
        try list.setStatus(1, at: 9)
        let token = StatusListToken.sign(
            list, uri: "https://issuer.example/status/1", issuer: "https://issuer.example", issuedAt: 100,
            expiresAt: 200, ttl: 60, key: .p256(key), kid: "k1")
        let header = try decodeSegment(token.split(separator: ".")[0])
        #expect(header["typ"] == .string("statuslist+jwt"))
        #expect(header["alg"] == .string("ES256"))
        let jwk = JWSSigningKey.p256(key).publicJWK(kid: "k1")
        let lookup: (String?) -> PublicJWK? = { $0 == "k1" ? jwk : nil }
        #expect(
            try StatusListToken.verify(token, expectedURI: "https://issuer.example/status/1", now: 150, key: lookup)
                == list)
        #expect(throws: StatusListError.badSignature) {
            try StatusListToken.verify(
                token, expectedURI: nil, now: 150, key: { _ in JWSSigningKey.p256(other).publicJWK() })
        }
        #expect(throws: StatusListError.unknownKey(kid: "k1")) {
            try StatusListToken.verify(token, expectedURI: nil, now: 150, key: { _ in nil })
        }
        let parts = token.split(separator: ".")
        let tampered = [String(parts[0]), Base64.encodeURL(Array(#"{"sub":"x","iat":1}"#.utf8)), String(parts[2])]
            .joined(separator: ".")
        #expect(throws: StatusListError.badSignature) {
            try StatusListToken.verify(tampered, expectedURI: nil, now: 150, key: lookup)
        }
        let wrongType = CompactJWS.sign(header: [("typ", .string("JWT"))], payload: .object([]), with: .p256(key))
        #expect(throws: StatusListError.token(.wrongType(expected: "statuslist+jwt", found: "JWT"))) {
            try StatusListToken.verify(wrongType, expectedURI: nil, now: 150, key: lookup)
        }
    }

    @Test("an issuer's list hands out distinct random indices and refuses when nearly full")
    func allocation() throws {
        var generator = SeededGenerator(seed: 11)
        var issuerList = try IssuerStatusList(uri: "https://i/status", bits: 1, count: 200)
        let first = try issuerList.allocate(30, using: &generator)
        let second = try issuerList.allocate(30, using: &generator)
        #expect(Set(first + second).count == 60)
        #expect(issuerList.freeCount == 140)
        #expect(throws: IssuanceError.statusListFull(free: 140, needed: 121)) {
            try issuerList.allocate(121, using: &generator)
        }
        let decoded = try IssuerStatusList.decode(try JSONValue.parse(issuerList.json.serialized))
        #expect(decoded == issuerList)
    }
}
