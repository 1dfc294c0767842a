import EnsureCrypto
import Testing

/// RFC 8037 Appendix A: the Ed25519 JWK, its thumbprint and a JWS, checked with the raw signing functions and
/// ``Base64``'s URL-safe alphabet.
@Suite("RFC 8037 Appendix A")
struct RFC8037Tests {
    static let d = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
    static let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    static let thumbprint = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    static let thumbprintHex = "90facafea9b1556698540f70c0117a22ea37bd5cf3ed3c47093c1707282b4b89"
    static let protectedHeader = "eyJhbGciOiJFZERTQSJ9"
    static let payload = "RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
    static let signature = "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"

    static func privateKey() throws -> Ed25519PrivateKey {
        try #require(Ed25519PrivateKey(seed: try Base64.decodeURL(d)))
    }

    static func publicKey() throws -> Ed25519PublicKey {
        try #require(Ed25519PublicKey(bytes: try Base64.decodeURL(x)))
    }

    @Test("A.1: the private key's d derives the x of the JWK (and is RFC 8032 TEST 1)")
    func privateKeyJWK() throws {
        let key = try Self.privateKey()
        #expect(Base64.encodeURL(key.publicKey.bytes) == Self.x)
        #expect(Hex.encode(key.seed) == "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
        #expect(Base64.encodeURL(key.seed) == Self.d)
    }

    @Test("A.2: the public key JWK decodes to a 32-byte key")
    func publicKeyJWK() throws {
        let key = try Self.publicKey()
        #expect(key.hex == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    }

    @Test("A.3: JWK thumbprint of the public key")
    func thumbprintOfKey() throws {
        let key = try Self.publicKey()
        let canonical = #"{"crv":"Ed25519","kty":"OKP","x":""# + Base64.encodeURL(key.bytes) + #""}"#
        let digest = SHA256.hash(Array(canonical.utf8))
        #expect(digest.hex == Self.thumbprintHex)
        #expect(Base64.encodeURL(digest.bytes) == Self.thumbprint)
    }

    @Test("A.4: signing the JWS gives the RFC's compact serialization")
    func signing() throws {
        let header = Base64.encodeURL(Array(#"{"alg":"EdDSA"}"#.utf8))
        let payload = Base64.encodeURL(Array("Example of Ed25519 signing".utf8))
        #expect(header == Self.protectedHeader)
        #expect(payload == Self.payload)
        let signingInput = header + "." + payload
        let signature = try Self.privateKey().signature(forRaw: Array(signingInput.utf8))
        #expect(Base64.encodeURL(signature.bytes) == Self.signature)
        #expect(signingInput + "." + Base64.encodeURL(signature.bytes) == Self.compact)
    }

    static var compact: String { protectedHeader + "." + payload + "." + signature }

    /// Splits a compact JWS and verifies it with `key`; false for anything malformed.
    static func verifyCompact(_ jws: String, key: Ed25519PublicKey) -> Bool {
        let parts = jws.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let bytes = try? Base64.decodeURL(String(parts[2])),
            let signature = Ed25519Signature(bytes: bytes)
        else { return false }
        return key.isValidSignature(signature, forRaw: Array("\(parts[0]).\(parts[1])".utf8))
    }

    @Test("A.5: the RFC's JWS verifies")
    func validation() throws {
        #expect(Self.verifyCompact(Self.compact, key: try Self.publicKey()))
    }

    @Test("A.5 negative: a changed payload does not verify")
    func tamperedPayload() throws {
        let other = Base64.encodeURL(Array("Example of Ed25519 signinG".utf8))
        let jws = Self.protectedHeader + "." + other + "." + Self.signature
        #expect(!Self.verifyCompact(jws, key: try Self.publicKey()))
    }

    @Test("A.5 negative: a changed header does not verify")
    func tamperedHeader() throws {
        let header = Base64.encodeURL(Array(#"{"alg":"none"}"#.utf8))
        #expect(!Self.verifyCompact(header + "." + Self.payload + "." + Self.signature, key: try Self.publicKey()))
    }

    @Test("A.5 negative: a changed signature character does not verify")
    func tamperedSignature() throws {
        var characters = Array(Self.signature)
        characters[10] = characters[10] == "A" ? "B" : "A"
        let jws = Self.protectedHeader + "." + Self.payload + "." + String(characters)
        #expect(!Self.verifyCompact(jws, key: try Self.publicKey()))
    }

    @Test("A.5 negative: another key does not verify the RFC's JWS")
    func otherKey() {
        #expect(!Self.verifyCompact(Self.compact, key: Ed25519PrivateKey().publicKey))
    }

    @Test("A.5 negative: a signature in the padded standard alphabet is refused by base64url")
    func paddedSignature() throws {
        let padded = Base64.encode(try Base64.decodeURL(Self.signature))
        #expect(throws: Base64DecodingError.self) { try Base64.decodeURL(padded) }
        #expect(
            !Self.verifyCompact(Self.protectedHeader + "." + Self.payload + "." + padded, key: try Self.publicKey()))
    }
}
