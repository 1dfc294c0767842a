import EnsureCrypto
import Testing

/// The benchmark baselines must compute what the wrappers compute, or their ratio would mean nothing.
@Suite("Benchmark baselines")
struct CryptoBaselineTests {
    @Test("raw signing produces the wrapper's signature")
    func rawSigning() {
        let key = Ed25519PrivateKey()
        let message = Array("baseline".utf8)
        let raw = CryptoBaseline.signRaw(key: key, message: message, iterations: 3)
        #expect(raw.lastSignature == key.signature(forRaw: message).bytes)
    }

    @Test("raw verification counts valid signatures and rejects a forged one")
    func rawVerification() throws {
        let key = Ed25519PrivateKey()
        let message = Array("baseline".utf8)
        let signature = key.signature(forRaw: message)
        #expect(
            CryptoBaseline.verifyRaw(publicKey: key.publicKey, signature: signature, message: message, iterations: 4)
                .validCount == 4)
        let forged = try #require(Ed25519Signature(bytes: flippingBit(signature.bytes, at: 40)))
        #expect(
            CryptoBaseline.verifyRaw(publicKey: key.publicKey, signature: forged, message: message, iterations: 4)
                .validCount == 0)
    }

    @Test("libsodium's SHA-256 agrees with the OpenSSL wrapper", arguments: [0, 1, 1024])
    func sodiumSHA256(size: Int) {
        let buffer = (0..<size).map { UInt8(truncatingIfNeeded: $0) }
        #expect(CryptoBaseline.sodiumSHA256(buffer, iterations: 2).lastDigest == SHA256.hash(buffer))
    }

    @Test("the verification bound reports the cores it used")
    func bound() {
        let bound = Ed25519VerificationBound.measure(duration: .milliseconds(20))
        #expect(bound.cores >= 1)
        #expect(bound.perCore.isFinite && bound.allCores.isFinite)
        #expect(bound.description.contains("\(bound.cores) cores"))
    }
}
