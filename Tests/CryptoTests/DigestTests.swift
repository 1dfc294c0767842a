import EnsureCrypto
import Testing

/// The inline digest behaves as the 32 bytes it holds: round trips, equality, hashing and byte-wise order.
@Suite("Digest")
struct DigestTests {
    /// 32 bytes that differ in every position, with `change` added to byte `at`.
    static func bytes(changing at: Int = 0, by change: UInt8 = 0) -> [UInt8] {
        var bytes = (0..<32).map { UInt8($0 &* 7 &+ 3) }
        bytes[at] &+= change
        return bytes
    }

    @Test("bytes, hex and a raw buffer give back exactly the 32 bytes; other lengths are refused")
    func roundTrips() throws {
        let bytes = Self.bytes()
        let digest = try #require(Digest(bytes: bytes))
        #expect(digest.bytes == bytes)
        #expect(Digest(hex: digest.hex) == digest)
        #expect(bytes.withUnsafeBytes { Digest($0) } == digest)
        #expect(digest.withUnsafeBytes { Array($0) } == bytes)
        #expect(Digest(bytes: Array(bytes.dropLast())) == nil)
        #expect(Digest(bytes: bytes + [0]) == nil)
        #expect(Array(bytes.dropLast()).withUnsafeBytes { Digest($0) } == nil)
        #expect(Digest.zero.bytes == [UInt8](repeating: 0, count: 32))
    }

    @Test("a change in any one byte makes a different digest and, in a set, a different member", arguments: 0..<32)
    func everyByteCounts(position: Int) throws {
        let base = try #require(Digest(bytes: Self.bytes()))
        let changed = try #require(Digest(bytes: Self.bytes(changing: position, by: 1)))
        #expect(base != changed)
        #expect(Set([base, changed, base]).count == 2)
        #expect(try #require(Digest(bytes: Self.bytes())) == base)
    }

    @Test("order is the byte-wise order of the 32 bytes, first byte first")
    func byteWiseOrder() throws {
        var generator = SystemRandomNumberGenerator()
        let digests = try (0..<300).map { index in
            // Shared prefixes of every length, so that each word decides some comparisons.
            var bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
            for position in 0..<(index % 33) where position < 32 { bytes[position] = 0x80 }
            return try #require(Digest(bytes: bytes))
        }
        let sorted = digests.sorted()
        let byBytes = digests.sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) }
        #expect(sorted == byBytes)
        let low = try #require(Digest(bytes: [0x01] + [UInt8](repeating: 0xFF, count: 31)))
        let high = try #require(Digest(bytes: [0x02] + [UInt8](repeating: 0x00, count: 31)))
        #expect(low < high && !(high < low) && !(low < low))
    }
}

/// Public keys hold their bytes inline too: the same round trips, equality and order as their 32 bytes.
@Suite("Ed25519 public key bytes")
struct PublicKeyBytesTests {
    @Test("bytes and a raw buffer round-trip, other lengths are refused, and order is byte-wise")
    func roundTripAndOrder() throws {
        let keys = (0..<50).map { _ in Ed25519PrivateKey().publicKey }
        for key in keys {
            #expect(Ed25519PublicKey(bytes: key.bytes) == key)
            #expect(key.bytes.withUnsafeBytes { Ed25519PublicKey($0) } == key)
            #expect(key.withUnsafeBytes { Array($0) } == key.bytes)
            #expect(Ed25519PublicKey(hex: key.hex) == key)
        }
        #expect(Ed25519PublicKey(bytes: [UInt8](repeating: 1, count: 31)) == nil)
        #expect([UInt8](repeating: 1, count: 33).withUnsafeBytes { Ed25519PublicKey($0) } == nil)
        #expect(keys.sorted() == keys.sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) })
        #expect(Set(keys + keys).count == keys.count)
    }

    @Test("a key still verifies its own signatures and refuses another key's")
    func verifies() {
        let key = Ed25519PrivateKey()
        let other = Ed25519PrivateKey()
        let message = Array("inline".utf8)
        let signature = key.signature(for: message, domain: .transaction)
        #expect(key.publicKey.isValidSignature(signature, for: message, domain: .transaction))
        #expect(!other.publicKey.isValidSignature(signature, for: message, domain: .transaction))
    }
}

/// Signatures hold their 64 bytes inline: both halves round-trip and count.
@Suite("Ed25519 signature bytes")
struct SignatureBytesTests {
    @Test("64 bytes round-trip through an array and a buffer; other lengths are refused")
    func roundTrip() throws {
        let bytes = (0..<64).map { UInt8(truncatingIfNeeded: $0 &* 5 &+ 1) }
        let signature = try #require(Ed25519Signature(bytes: bytes))
        #expect(signature.bytes == bytes)
        #expect(bytes.withUnsafeBytes { Ed25519Signature($0) } == signature)
        #expect(signature.withUnsafeBytes { Array($0) } == bytes)
        #expect(Ed25519Signature(bytes: Array(bytes.dropLast())) == nil)
        #expect((bytes + [0]).withUnsafeBytes { Ed25519Signature($0) } == nil)
    }

    @Test("a change in any byte, in R or in S, is a different signature", arguments: [0, 31, 32, 63])
    func everyHalfCounts(position: Int) throws {
        var bytes = (0..<64).map { UInt8($0) }
        let original = try #require(Ed25519Signature(bytes: bytes))
        bytes[position] ^= 0x01
        let changed = try #require(Ed25519Signature(bytes: bytes))
        #expect(original != changed)
        #expect(Set([original, changed]).count == 2)
    }

    @Test("a signature with a flipped bit in S no longer verifies")
    func tamperedSignatureFails() throws {
        let key = Ed25519PrivateKey()
        let message = Array("inline signature".utf8)
        var bytes = key.signature(for: message, domain: .transaction).bytes
        let intact = try #require(Ed25519Signature(bytes: bytes))
        #expect(key.publicKey.isValidSignature(intact, for: message, domain: .transaction))
        bytes[40] ^= 0x04
        let tampered = try #require(Ed25519Signature(bytes: bytes))
        #expect(!key.publicKey.isValidSignature(tampered, for: message, domain: .transaction))
    }
}
