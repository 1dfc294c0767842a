import EnsureCrypto
import Testing

/// One test vector of RFC 8032 section 7.1 (Ed25519), in the RFC's hexadecimal.
struct RFC8032Vector: Sendable, CustomTestStringConvertible {
    let name: String
    let secretKey: String
    let publicKey: String
    let message: String
    let signature: String

    var testDescription: String { name }

    static let all: [RFC8032Vector] = [
        RFC8032Vector(
            name: "TEST 1",
            secretKey: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            publicKey: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            message: "",
            signature:
                "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46b"
                + "d25bf5f0595bbe24655141438e7a100b"),
        RFC8032Vector(
            name: "TEST 2",
            secretKey: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            publicKey: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            message: "72",
            signature:
                "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c"
                + "387b2eaeb4302aeeb00d291612bb0c00"),
        RFC8032Vector(
            name: "TEST 3",
            secretKey: "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
            publicKey: "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            message: "af82",
            signature:
                "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc659"
                + "4a7c15e9716ed28dc027beceea1ec40a"),
        RFC8032Vector(
            name: "TEST 1024",
            secretKey: "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
            publicKey: "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
            message: rfc8032Test1024Message,
            signature:
                "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350aa5371b1508f9f4528ecea23c436d94b"
                + "5e8fcd4f681e30a6ac00a9704a188a03"),
        RFC8032Vector(
            name: "TEST SHA(abc)",
            secretKey: "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
            publicKey: "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
            message: "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
                + "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
            signature:
                "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e030"
                + "3dca179c138ac17ad9bef1177331a704"),
    ]

    /// The vector decoded, failing the test if any field is not well-formed hexadecimal of the right length.
    func decoded() throws -> (
        key: Ed25519PrivateKey, publicKey: Ed25519PublicKey, message: [UInt8], signature: Ed25519Signature
    ) {
        let seed = try #require(Hex.decode(secretKey))
        let key = try #require(Ed25519PrivateKey(seed: seed))
        let publicKey = try #require(Ed25519PublicKey(hex: self.publicKey))
        let message = try #require(Hex.decode(message))
        let signatureBytes = try #require(Hex.decode(signature))
        let signature = try #require(Ed25519Signature(bytes: signatureBytes))
        return (key, publicKey, message, signature)
    }
}

/// Flips one bit of `bytes` at `index`.
func flippingBit(_ bytes: [UInt8], at index: Int, mask: UInt8 = 0x01) -> [UInt8] {
    var copy = bytes
    copy[index] ^= mask
    return copy
}

@Suite("Ed25519: RFC 8032 section 7.1 vectors")
struct RFC8032Tests {
    @Test("public key derives from the seed", arguments: RFC8032Vector.all)
    func publicKeyFromSeed(vector: RFC8032Vector) throws {
        let v = try vector.decoded()
        #expect(v.key.publicKey == v.publicKey)
        #expect(v.key.publicKey.hex == vector.publicKey)
    }

    @Test("signature is byte-exact", arguments: RFC8032Vector.all)
    func exactSignature(vector: RFC8032Vector) throws {
        let v = try vector.decoded()
        #expect(v.key.signature(forRaw: v.message).hex == vector.signature)
    }

    @Test("signature verifies", arguments: RFC8032Vector.all)
    func verifies(vector: RFC8032Vector) throws {
        let v = try vector.decoded()
        #expect(v.publicKey.isValidSignature(v.signature, forRaw: v.message))
    }

    @Test("TEST 1024's message is 1023 bytes, as the RFC states")
    func test1024Length() throws {
        #expect(try #require(Hex.decode(rfc8032Test1024Message)).count == 1023)
    }

    @Test("a tampered message is rejected", arguments: RFC8032Vector.all)
    func tamperedMessage(vector: RFC8032Vector) throws {
        let v = try vector.decoded()
        let tampered = v.message.isEmpty ? [0x00] : flippingBit(v.message, at: v.message.count - 1)
        #expect(!v.publicKey.isValidSignature(v.signature, forRaw: tampered))
    }

    @Test("a tampered signature is rejected (R half and S half)", arguments: RFC8032Vector.all)
    func tamperedSignature(vector: RFC8032Vector) throws {
        let v = try vector.decoded()
        for index in [0, 31, 32, 63] {
            let tampered = try #require(Ed25519Signature(bytes: flippingBit(v.signature.bytes, at: index)))
            #expect(!v.publicKey.isValidSignature(tampered, forRaw: v.message), "bit flipped in byte \(index)")
        }
    }

    @Test("a tampered public key is rejected", arguments: RFC8032Vector.all)
    func tamperedKey(vector: RFC8032Vector) throws {
        let v = try vector.decoded()
        let tampered = try #require(Ed25519PublicKey(bytes: flippingBit(v.publicKey.bytes, at: 0)))
        #expect(!tampered.isValidSignature(v.signature, forRaw: v.message))
    }

    @Test("a malleated signature (S + L) is rejected", arguments: RFC8032Vector.all)
    func malleatedSignature(vector: RFC8032Vector) throws {
        let v = try vector.decoded()
        // L, the order of the base point, little-endian.
        let order = try #require(Hex.decode("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010"))
        var bytes = v.signature.bytes
        var carry = 0
        for index in 0..<32 {
            let sum = Int(bytes[32 + index]) + Int(order[index]) + carry
            bytes[32 + index] = UInt8(sum & 0xff)
            carry = sum >> 8
        }
        #expect(carry == 0)
        let malleated = try #require(Ed25519Signature(bytes: bytes))
        #expect(!v.publicKey.isValidSignature(malleated, forRaw: v.message))
    }

    @Test("another vector's key does not verify this vector's signature", arguments: RFC8032Vector.all)
    func wrongKey(vector: RFC8032Vector) throws {
        let v = try vector.decoded()
        let other = try RFC8032Vector.all.first { $0.name != vector.name }.map { try $0.decoded().publicKey }
        #expect(!(try #require(other)).isValidSignature(v.signature, forRaw: v.message))
    }
}

@Suite("Ed25519: domains and input lengths")
struct Ed25519DomainTests {
    static let domains: [SigningDomain] = [.transaction, .proposal, .vote, .timeout, .handshake, .apiRequest]

    @Test("a signature verifies in the domain it was made for", arguments: domains)
    func sameDomain(domain: SigningDomain) {
        let key = Ed25519PrivateKey()
        let message = Array("block 7".utf8)
        let signature = key.signature(for: message, domain: domain)
        #expect(key.publicKey.isValidSignature(signature, for: message, domain: domain))
    }

    @Test("a signature made in one domain never verifies in another", arguments: domains)
    func otherDomains(domain: SigningDomain) {
        let key = Ed25519PrivateKey()
        let message = Array("block 7".utf8)
        let signature = key.signature(for: message, domain: domain)
        for other in Self.domains where other != domain {
            #expect(!key.publicKey.isValidSignature(signature, for: message, domain: other), "\(domain) → \(other)")
        }
        #expect(!key.publicKey.isValidSignature(signature, forRaw: message), "\(domain) → raw")
    }

    @Test("a raw signature does not verify in any domain")
    func rawIntoDomain() {
        let key = Ed25519PrivateKey()
        let message = Array("vote".utf8)
        let signature = key.signature(forRaw: message)
        for domain in Self.domains {
            #expect(!key.publicKey.isValidSignature(signature, for: message, domain: domain))
        }
    }

    @Test("domain prefixes cannot collide by moving bytes between tag and message")
    func prefixIsUnambiguous() {
        let a = SigningDomain("ab").prefixed(Array("c".utf8))
        let b = SigningDomain("a").prefixed(Array("bc".utf8))
        #expect(a != b)
    }

    @Test("the prefix is the magic, a zero byte, the tag's length and the tag, from an array or a slice")
    func prefixLayout() {
        let expected = Array("ensure-sig-v1".utf8) + [0, 11] + Array("transaction".utf8) + [1, 2, 3]
        #expect(SigningDomain.transaction.prefixed([1, 2, 3]) == expected)
        #expect(SigningDomain.transaction.prefixed([9, 1, 2, 3, 9][1..<4]) == expected)
        #expect(
            SigningDomain.vote.prefixed([UInt8]()) == Array("ensure-sig-v1".utf8) + [0, 14]
                + Array("consensus/vote".utf8))
    }

    @Test("keys, seeds and signatures of the wrong length are refused", arguments: [0, 31, 33, 63, 65])
    func wrongLengths(count: Int) {
        let bytes = [UInt8](repeating: 7, count: count)
        #expect(Ed25519PublicKey(bytes: bytes) == nil)
        #expect(Ed25519PrivateKey(seed: bytes) == nil)
        #expect(Ed25519Signature(bytes: bytes) == nil)
        #expect(Ed25519PublicKey(hex: Hex.encode(bytes)) == nil)
    }

    @Test("malformed hexadecimal keys are refused")
    func malformedHex() {
        let valid = String(repeating: "ab", count: 32)
        #expect(Ed25519PublicKey(hex: valid) != nil)
        #expect(Ed25519PublicKey(hex: String(valid.dropLast())) == nil)
        #expect(Ed25519PublicKey(hex: "zz" + valid.dropFirst(2)) == nil)
    }

    @Test("the private key's description shows no key material")
    func descriptionHidesSeed() throws {
        let key = try #require(Ed25519PrivateKey(seed: Array(repeating: 0x5a, count: 32)))
        #expect(!key.description.contains(Hex.encode(key.seed)))
        #expect(!String(reflecting: key).contains(Hex.encode(key.seed)))
        #expect(key.description.contains(key.publicKey.hex))
    }

    @Test("the key id is the first 8 bytes of SHA-256 of the public key")
    func keyID() {
        let key = Ed25519PrivateKey()
        #expect(key.publicKey.keyID == Hex.encode(SHA256.hash(key.publicKey.bytes).bytes.prefix(8)))
        #expect(key.publicKey.keyID.count == 16)
    }
}
