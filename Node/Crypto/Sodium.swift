internal import CSodium

/// One-time libsodium initialisation. `sodium_init` is thread-safe and idempotent; every entry point of this
/// module that calls libsodium goes through ``ensureInitialized()`` first.
enum Sodium {
    private static let initialized: Bool = {
        sodium_init() >= 0
    }()

    static func ensureInitialized() {
        precondition(initialized, "libsodium failed to initialise")
    }
}

/// Cryptographically secure random bytes from libsodium (the kernel's CSPRNG).
public enum SecureRandom {
    /// Returns `count` random bytes.
    public static func bytes(_ count: Int) -> [UInt8] {
        guard count > 0 else { return [] }
        Sodium.ensureInitialized()
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, $0.count) }
        return out
    }

    /// Returns a uniformly random 64-bit integer.
    public static func uint64() -> UInt64 {
        bytes(8).reduce(0) { $0 << 8 | UInt64($1) }
    }
}
