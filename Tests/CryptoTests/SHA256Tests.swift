import EnsureCrypto
import Testing

@Suite("SHA-256")
struct SHA256Tests {
    @Test("known answers: empty, abc, the 448-bit NIST message")
    func knownAnswers() {
        #expect(SHA256.hash([]).hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(
            SHA256.hash(Array("abc".utf8)).hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let nist = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
        #expect(SHA256.hash(Array(nist.utf8)).hex == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test("known answer: one million 'a', one-shot and in 1000-byte pieces")
    func millionA() {
        let expected = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        #expect(SHA256.hash([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)).hex == expected)
        var hasher = SHA256.Hasher()
        let piece = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { hasher.update(piece) }
        #expect(hasher.finalize().hex == expected)
    }

    @Test("incremental hashing equals one-shot for every split point", arguments: [0, 1, 55, 56, 63, 64, 65, 200])
    func incrementalEqualsOneShot(split: Int) {
        let message = (0..<200).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        var hasher = SHA256.Hasher()
        hasher.update(Array(message[..<split]))
        message[split...].withUnsafeBytes { hasher.update($0) }
        #expect(hasher.finalize() == SHA256.hash(message))
    }

    @Test("a changed byte changes the digest")
    func changedByte() {
        let message = Array("abc".utf8)
        #expect(SHA256.hash(message) != SHA256.hash(Array("abd".utf8)))
        #expect(SHA256.hash(message) != SHA256.hash(message + [0]))
    }

    @Test("tagged hashes differ by tag and from the untagged hash")
    func taggedHashes() {
        let data = Array("payload".utf8)
        let block = SHA256.hash(tag: "ensure/block-header/v1", data)
        let transaction = SHA256.hash(tag: "ensure/transaction/v1", data)
        #expect(block != transaction)
        #expect(block != SHA256.hash(data))
    }

    @Test("a tagged hash is SHA-256(len(tag) ‖ tag ‖ data), so tag and data cannot trade bytes")
    func taggedHashDefinition() {
        let tag = "ensure/test"
        let data: [UInt8] = [1, 2, 3]
        #expect(SHA256.hash(tag: tag, data) == SHA256.hash([UInt8(tag.utf8.count)] + Array(tag.utf8) + data))
        #expect(SHA256.hash(tag: "ab", Array("c".utf8)) != SHA256.hash(tag: "a", Array("bc".utf8)))
    }

    @Test("digests of the wrong length or malformed hex are refused", arguments: [0, 31, 33, 64])
    func wrongLengthDigests(count: Int) {
        #expect(Digest(bytes: [UInt8](repeating: 1, count: count)) == nil)
        #expect(Digest(hex: String(repeating: "a", count: count * 2)) == nil)
    }

    @Test("a digest round-trips through hex")
    func digestHex() throws {
        let digest = SHA256.hash(Array("abc".utf8))
        #expect(try #require(Digest(hex: digest.hex)) == digest)
        #expect(Digest(hex: "g" + digest.hex.dropFirst()) == nil)
    }
}
