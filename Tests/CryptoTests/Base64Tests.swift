import EnsureCrypto
import Testing

@Suite("Base64")
struct Base64Tests {
    /// RFC 4648 section 10.
    static let rfc4648: [(String, String)] = [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ]

    @Test("RFC 4648 section 10 vectors, standard alphabet with padding")
    func standardVectors() throws {
        for (plain, encoded) in Self.rfc4648 {
            #expect(Base64.encode(Array(plain.utf8)) == encoded)
            #expect(try Base64.decode(encoded) == Array(plain.utf8))
        }
    }

    @Test("RFC 4648 section 10 vectors, URL-safe alphabet without padding")
    func urlVectors() throws {
        for (plain, encoded) in Self.rfc4648 {
            let unpadded = encoded.filter { $0 != "=" }
            #expect(Base64.encodeURL(Array(plain.utf8)) == unpadded)
            #expect(try Base64.decodeURL(unpadded) == Array(plain.utf8))
        }
    }

    @Test("the two alphabets differ only in the last two characters")
    func alphabets() throws {
        let bytes: [UInt8] = [0xfb, 0xff, 0xbf]
        #expect(Base64.encode(bytes) == "+/+/")
        #expect(Base64.encodeURL(bytes) == "-_-_")
        #expect(try Base64.decode("+/+/") == bytes)
        #expect(try Base64.decodeURL("-_-_") == bytes)
    }

    @Test("every length from 0 to 66 round-trips in both variants")
    func roundTrips() throws {
        for count in 0...66 {
            let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 97 &+ count) }
            #expect(try Base64.decode(Base64.encode(bytes)) == bytes)
            #expect(try Base64.decodeURL(Base64.encodeURL(bytes)) == bytes)
        }
    }

    @Test(
        "standard decoding refuses characters outside its alphabet",
        arguments: [("Zm9v!A==", 4), ("Zm9v Zg=", 4), ("Zm9vYg==\n", 8), ("-_-_", 0), ("Zm\u{e9}", 2)])
    func standardBadCharacters(text: String, offset: Int) {
        #expect {
            try Base64.decode(text)
        } throws: { error in
            guard case .invalidCharacter(let at, _)? = error as? Base64DecodingError else {
                return (error as? Base64DecodingError) == .invalidLength(text.utf8.count)
            }
            return at == offset
        }
    }

    @Test("URL decoding refuses the standard alphabet's characters and padding", arguments: ["+/+/", "Zg==", "Zm9v/w"])
    func urlBadCharacters(text: String) {
        #expect(throws: Base64DecodingError.self) { try Base64.decodeURL(text) }
    }

    @Test("bad padding or length is refused")
    func badPadding() {
        #expect(throws: Base64DecodingError.invalidLength(3)) { try Base64.decode("Zg=") }
        #expect(throws: Base64DecodingError.invalidLength(2)) { try Base64.decode("Zg") }
        #expect(throws: Base64DecodingError.invalidPadding) { try Base64.decode("Z===") }
        #expect(throws: Base64DecodingError.invalidPadding) { try Base64.decode("====") }
        #expect(throws: Base64DecodingError.invalidPadding) { try Base64.decode("Zg=aZm9v") }
        #expect(throws: Base64DecodingError.invalidLength(1)) { try Base64.decodeURL("Z") }
        #expect(throws: Base64DecodingError.invalidLength(5)) { try Base64.decodeURL("Zm9vY") }
    }

    @Test("non-zero trailing bits are refused, so each value has one encoding")
    func trailingBits() {
        #expect(throws: Base64DecodingError.nonZeroTrailingBits) { try Base64.decode("Zh==") }
        #expect(throws: Base64DecodingError.nonZeroTrailingBits) { try Base64.decode("Zm9=") }
        #expect(throws: Base64DecodingError.nonZeroTrailingBits) { try Base64.decodeURL("Zh") }
        #expect(throws: Base64DecodingError.nonZeroTrailingBits) { try Base64.decodeURL("Zm9") }
    }
}
