internal import COpenSSL

/// SHA-256 through OpenSSL's libcrypto, which is several times faster than libsodium's on x86-64.
public enum SHA256 {
    /// OpenSSL's SHA-256 implementation, fetched once. OpenSSL 3's one-shot `SHA256()` and `EVP_sha256()` look
    /// the algorithm up in the provider registry on every call (a lock and a reference count per hash);
    /// fetching it once keeps that off the hot path of Merkle hashing.
    /// `nonisolated(unsafe)` is sound: an `EVP_MD` is immutable once fetched, and OpenSSL documents fetched
    /// algorithm objects as safe to use from many threads at once; this reference is never freed or replaced.
    nonisolated(unsafe) static let sha256Algorithm: OpaquePointer = {
        guard let algorithm = EVP_MD_fetch(nil, "SHA256", nil) else {
            fatalError("OpenSSL provides no SHA-256 implementation")
        }
        return algorithm
    }()

    /// Hashes a byte buffer.
    public static func hash(_ bytes: [UInt8]) -> Digest {
        bytes.withUnsafeBufferPointer { input in
            Digest { output in
                _ = EVP_Digest(
                    input.baseAddress, input.count, output.baseAddress?.assumingMemoryBound(to: UInt8.self), nil,
                    sha256Algorithm, nil)
            }
        }
    }

    /// Hashes `tag` and `bytes` so that digests made for one purpose can never equal digests made for
    /// another: SHA-256(len(tag) as one byte ‖ tag ‖ bytes). Tags are short ASCII names such as
    /// `ensure/block-header/v1`.
    public static func hash(tag: String, _ bytes: [UInt8]) -> Digest {
        var hasher = Hasher()
        var tag = tag
        // Tags are literals, whose UTF-8 is already contiguous: no array for the tag or its length on this path,
        // which hashes every transaction id.
        tag.withUTF8 { tagBytes in
            precondition(tagBytes.count < 256, "hash tag too long")
            withUnsafeBytes(of: UInt8(tagBytes.count)) { hasher.update($0) }
            hasher.update(UnsafeRawBufferPointer(tagBytes))
        }
        hasher.update(bytes)
        return hasher.finalize()
    }

    /// An incremental SHA-256 computation (OpenSSL EVP).
    public struct Hasher: ~Copyable {
        private let context: OpaquePointer

        /// Starts a new computation.
        public init() {
            guard let context = EVP_MD_CTX_new(), EVP_DigestInit_ex(context, SHA256.sha256Algorithm, nil) == 1 else {
                fatalError("OpenSSL could not start a SHA-256 computation")
            }
            self.context = context
        }

        deinit {
            EVP_MD_CTX_free(context)
        }

        /// Feeds more bytes.
        public mutating func update(_ bytes: [UInt8]) {
            bytes.withUnsafeBufferPointer { input in
                _ = EVP_DigestUpdate(context, input.baseAddress, input.count)
            }
        }

        /// Feeds more bytes from a raw buffer.
        public mutating func update(_ buffer: UnsafeRawBufferPointer) {
            _ = EVP_DigestUpdate(context, buffer.baseAddress, buffer.count)
        }

        /// Ends the computation and returns the digest.
        public consuming func finalize() -> Digest {
            var length: UInt32 = 0
            return Digest { output in
                _ = EVP_DigestFinal_ex(context, output.baseAddress?.assumingMemoryBound(to: UInt8.self), &length)
            }
        }
    }
}
