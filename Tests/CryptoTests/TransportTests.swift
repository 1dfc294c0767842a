import EnsureCrypto
import Testing

extension X25519PrivateKey {
    /// A key from 64 hexadecimal characters, failing the test otherwise.
    static func fromHex(_ hex: String) throws -> X25519PrivateKey {
        let bytes = try #require(Hex.decode(hex))
        return try #require(X25519PrivateKey(rawRepresentation: bytes))
    }
}

extension Ed25519PrivateKey {
    /// A key from a 64-character hexadecimal seed, failing the test otherwise.
    static func fromHex(_ hex: String) throws -> Ed25519PrivateKey {
        let bytes = try #require(Hex.decode(hex))
        return try #require(Ed25519PrivateKey(seed: bytes))
    }
}

@Suite("X25519 and crypto_kx")
struct X25519Tests {
    @Test("RFC 7748 section 6.1: public keys and the shared secret")
    func rfc7748() throws {
        let alice = try X25519PrivateKey.fromHex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
        let bob = try X25519PrivateKey.fromHex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
        #expect(alice.publicKey.hex == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
        #expect(bob.publicKey.hex == "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
        let shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
        #expect(Hex.encode(try alice.sharedSecret(with: bob.publicKey)) == shared)
        #expect(Hex.encode(try bob.sharedSecret(with: alice.publicKey)) == shared)
    }

    @Test("both sides agree; a third key gets a different secret")
    func agreement() throws {
        let a = X25519PrivateKey()
        let b = X25519PrivateKey()
        let c = X25519PrivateKey()
        #expect(try a.sharedSecret(with: b.publicKey) == b.sharedSecret(with: a.publicKey))
        #expect(try a.sharedSecret(with: b.publicKey) != c.sharedSecret(with: b.publicKey))
    }

    @Test(
        "low-order public keys are refused",
        arguments: [
            "0000000000000000000000000000000000000000000000000000000000000000",
            "0100000000000000000000000000000000000000000000000000000000000000",
        ])
    func lowOrder(hex: String) throws {
        let bytes = try #require(Hex.decode(hex))
        let bad = try #require(X25519PublicKey(bytes: bytes))
        let key = X25519PrivateKey()
        #expect(throws: KeyAgreementError.lowOrderPublicKey(bad)) { try key.sharedSecret(with: bad) }
        #expect(throws: KeyAgreementError.lowOrderPublicKey(bad)) { try key.clientSessionKeys(serverPublicKey: bad) }
        #expect(throws: KeyAgreementError.lowOrderPublicKey(bad)) { try key.serverSessionKeys(clientPublicKey: bad) }
    }

    @Test("session keys pair up: client transmit is server receive and the other way round")
    func sessionKeys() throws {
        let client = X25519PrivateKey()
        let server = X25519PrivateKey()
        let c = try client.clientSessionKeys(serverPublicKey: server.publicKey)
        let s = try server.serverSessionKeys(clientPublicKey: client.publicKey)
        #expect(c.transmit.rawRepresentation == s.receive.rawRepresentation)
        #expect(c.receive.rawRepresentation == s.transmit.rawRepresentation)
        #expect(c.transmit.rawRepresentation != c.receive.rawRepresentation)
    }

    @Test("an impostor server derives keys the client does not share")
    func impostorServer() throws {
        let client = X25519PrivateKey()
        let server = X25519PrivateKey()
        let impostor = X25519PrivateKey()
        let c = try client.clientSessionKeys(serverPublicKey: server.publicKey)
        let i = try impostor.serverSessionKeys(clientPublicKey: client.publicKey)
        #expect(c.transmit.rawRepresentation != i.receive.rawRepresentation)
    }

    @Test("keys of the wrong length are refused", arguments: [0, 31, 33])
    func wrongLengths(count: Int) {
        let bytes = [UInt8](repeating: 9, count: count)
        #expect(X25519PublicKey(bytes: bytes) == nil)
        #expect(X25519PrivateKey(rawRepresentation: bytes) == nil)
        #expect(ChaCha20Poly1305.Key(bytes: bytes) == nil)
        #expect(ChaCha20Poly1305.Nonce(bytes: bytes) == nil)
    }

    @Test("private key descriptions show no key material")
    func descriptions() {
        let key = X25519PrivateKey()
        #expect(!key.description.contains(Hex.encode(key.rawRepresentation)))
        let aead = ChaCha20Poly1305.Key()
        #expect(!aead.description.contains(Hex.encode(aead.rawRepresentation)))
    }
}

@Suite("Ed25519 to X25519")
struct ConversionTests {
    @Test("the converted private key matches the converted public key")
    func keysMatch() throws {
        let key = Ed25519PrivateKey()
        #expect(key.x25519PrivateKey().publicKey == (try key.publicKey.x25519PublicKey()))
    }

    @Test("RFC 8032 TEST 1's key converts deterministically and agrees with another converted key")
    func agreementBetweenConvertedKeys() throws {
        let a = try Ed25519PrivateKey.fromHex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
        let b = Ed25519PrivateKey()
        #expect(a.x25519PrivateKey().rawRepresentation == a.x25519PrivateKey().rawRepresentation)
        let ab = try a.x25519PrivateKey().sharedSecret(with: b.publicKey.x25519PublicKey())
        let ba = try b.x25519PrivateKey().sharedSecret(with: a.publicKey.x25519PublicKey())
        #expect(ab == ba)
    }

    @Test("a sealed box to a node's converted identity key opens with its converted private key only")
    func sealedBoxToIdentity() throws {
        let node = Ed25519PrivateKey()
        let box = SealedBox.seal(Array("join".utf8), to: try node.publicKey.x25519PublicKey())
        #expect(try SealedBox.open(box, recipient: node.x25519PrivateKey()) == Array("join".utf8))
        #expect(throws: AuthenticatedDecryptionError.authenticationFailed) {
            try SealedBox.open(box, recipient: Ed25519PrivateKey().x25519PrivateKey())
        }
    }

    @Test(
        "Ed25519 public keys that are not valid or are of small order are refused",
        arguments: [
            "0100000000000000000000000000000000000000000000000000000000000000",
            "0000000000000000000000000000000000000000000000000000000000000000",
            "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        ])
    func invalidEd25519Key(hex: String) throws {
        let key = try #require(Ed25519PublicKey(hex: hex))
        #expect(throws: KeyAgreementError.invalidEd25519PublicKey(key)) { try key.x25519PublicKey() }
    }
}

@Suite("ChaCha20-Poly1305")
struct ChaCha20Poly1305Tests {
    let key = ChaCha20Poly1305.Key()
    let nonce = ChaCha20Poly1305.Nonce()
    let plaintext = Array("frame 42: vote for block 7".utf8)
    let associatedData = Array("peer a -> peer b".utf8)

    @Test("seal then open returns the plaintext; the ciphertext hides it and carries a 16-byte tag")
    func roundTrip() throws {
        let sealed = ChaCha20Poly1305.seal(plaintext, key: key, nonce: nonce, associatedData: associatedData)
        #expect(sealed.count == plaintext.count + ChaCha20Poly1305.tagByteCount)
        #expect(Array(sealed.prefix(plaintext.count)) != plaintext)
        #expect(try ChaCha20Poly1305.open(sealed, key: key, nonce: nonce, associatedData: associatedData) == plaintext)
    }

    @Test("an empty plaintext round-trips")
    func empty() throws {
        let sealed = ChaCha20Poly1305.seal([], key: key, nonce: nonce)
        #expect(sealed.count == ChaCha20Poly1305.tagByteCount)
        #expect(try ChaCha20Poly1305.open(sealed, key: key, nonce: nonce) == [])
    }

    @Test("any flipped bit in ciphertext or tag is refused", arguments: [0, 5, 25, 26, 41])
    func tampered(index: Int) {
        let sealed = ChaCha20Poly1305.seal(plaintext, key: key, nonce: nonce, associatedData: associatedData)
        #expect(throws: AuthenticatedDecryptionError.authenticationFailed) {
            try ChaCha20Poly1305.open(
                flippingBit(sealed, at: index), key: key, nonce: nonce, associatedData: associatedData)
        }
    }

    @Test("the wrong key, nonce or associated data is refused")
    func wrongInputs() {
        let sealed = ChaCha20Poly1305.seal(plaintext, key: key, nonce: nonce, associatedData: associatedData)
        #expect(throws: AuthenticatedDecryptionError.authenticationFailed) {
            try ChaCha20Poly1305.open(sealed, key: ChaCha20Poly1305.Key(), nonce: nonce, associatedData: associatedData)
        }
        #expect(throws: AuthenticatedDecryptionError.authenticationFailed) {
            try ChaCha20Poly1305.open(sealed, key: key, nonce: ChaCha20Poly1305.Nonce(), associatedData: associatedData)
        }
        #expect(throws: AuthenticatedDecryptionError.authenticationFailed) {
            try ChaCha20Poly1305.open(sealed, key: key, nonce: nonce, associatedData: [])
        }
    }

    @Test("input shorter than the tag is refused", arguments: [0, 1, 15])
    func tooShort(count: Int) {
        #expect(throws: AuthenticatedDecryptionError.ciphertextTooShort(byteCount: count, minimum: 16)) {
            try ChaCha20Poly1305.open([UInt8](repeating: 0, count: count), key: key, nonce: nonce)
        }
    }

    @Test("counter nonces are 4 zero bytes then the counter, little-endian, and differ per counter")
    func counterNonce() {
        let nonce = ChaCha20Poly1305.Nonce(counter: 0x0102_0304_0506_0708)
        #expect(nonce.bytes == [0, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1])
        #expect(ChaCha20Poly1305.Nonce(counter: 1) != ChaCha20Poly1305.Nonce(counter: 2))
    }
}

@Suite("Sealed boxes")
struct SealedBoxTests {
    @Test("a sealed box opens with the recipient's key and adds 48 bytes")
    func roundTrip() throws {
        let recipient = X25519PrivateKey()
        let message = Array("incident evidence".utf8)
        let box = SealedBox.seal(message, to: recipient.publicKey)
        #expect(box.count == message.count + SealedBox.overheadByteCount)
        #expect(try SealedBox.open(box, recipient: recipient) == message)
        #expect(try SealedBox.open(SealedBox.seal([], to: recipient.publicKey), recipient: recipient) == [])
    }

    @Test("sealing twice gives different boxes (fresh ephemeral key)")
    func randomized() {
        let recipient = X25519PrivateKey()
        #expect(
            SealedBox.seal([1, 2, 3], to: recipient.publicKey) != SealedBox.seal([1, 2, 3], to: recipient.publicKey))
    }

    @Test("another key cannot open the box")
    func wrongRecipient() {
        let box = SealedBox.seal([1, 2, 3], to: X25519PrivateKey().publicKey)
        #expect(throws: AuthenticatedDecryptionError.authenticationFailed) {
            try SealedBox.open(box, recipient: X25519PrivateKey())
        }
    }

    @Test("a flipped bit anywhere in the box is refused", arguments: [0, 31, 32, 47, 48, 50])
    func tampered(index: Int) {
        let recipient = X25519PrivateKey()
        let box = SealedBox.seal([1, 2, 3], to: recipient.publicKey)
        #expect(throws: AuthenticatedDecryptionError.authenticationFailed) {
            try SealedBox.open(flippingBit(box, at: index), recipient: recipient)
        }
    }

    @Test("a box shorter than the overhead is refused", arguments: [0, 47])
    func tooShort(count: Int) {
        #expect(throws: AuthenticatedDecryptionError.ciphertextTooShort(byteCount: count, minimum: 48)) {
            try SealedBox.open([UInt8](repeating: 1, count: count), recipient: X25519PrivateKey())
        }
    }
}
