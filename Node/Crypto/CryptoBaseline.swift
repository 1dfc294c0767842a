internal import CSodium
internal import Dispatch
internal import Foundation

/// Raw libsodium loops that `ensure-bench crypto` compares this module's wrappers against. They take the same
/// inputs as the wrappers but call libsodium directly on buffers prepared once, so the ratio of the two shows
/// what the wrappers cost. They live here because C interop stays inside the `Crypto` target.
public enum CryptoBaseline {
    /// Signs `message` `iterations` times with `crypto_sign_detached` and `key`'s libsodium secret key into one
    /// preallocated buffer; returns the elapsed time and the last signature (so the work cannot be optimised away).
    public static func signRaw(
        key: Ed25519PrivateKey, message: [UInt8], iterations: Int
    ) -> (elapsed: Duration, lastSignature: [UInt8]) {
        Sodium.ensureInitialized()
        let secretKey = key.secretKey
        var signature = [UInt8](repeating: 0, count: Ed25519Signature.byteCount)
        let clock = ContinuousClock()
        let start = clock.now
        signature.withUnsafeMutableBufferPointer { sig in
            message.withUnsafeBufferPointer { m in
                secretKey.withUnsafeBufferPointer { sk in
                    for _ in 0..<iterations {
                        crypto_sign_detached(sig.baseAddress!, nil, m.baseAddress, UInt64(m.count), sk.baseAddress!)
                    }
                }
            }
        }
        return (clock.now - start, signature)
    }

    /// Verifies one signature `iterations` times with `crypto_sign_verify_detached`; returns the elapsed time
    /// and how many verifications succeeded.
    public static func verifyRaw(
        publicKey: Ed25519PublicKey, signature: Ed25519Signature, message: [UInt8], iterations: Int
    ) -> (elapsed: Duration, validCount: Int) {
        Sodium.ensureInitialized()
        var valid = 0
        let clock = ContinuousClock()
        let start = clock.now
        signature.bytes.withUnsafeBufferPointer { sig in
            message.withUnsafeBufferPointer { m in
                publicKey.bytes.withUnsafeBufferPointer { pk in
                    for _ in 0..<iterations
                    where crypto_sign_verify_detached(sig.baseAddress!, m.baseAddress, UInt64(m.count), pk.baseAddress!)
                        == 0
                    {
                        valid += 1
                    }
                }
            }
        }
        return (clock.now - start, valid)
    }

    /// Hashes `buffer` `iterations` times with libsodium's `crypto_hash_sha256` (the comparison for our
    /// OpenSSL-backed ``SHA256``); returns the elapsed time and the last digest.
    public static func sodiumSHA256(_ buffer: [UInt8], iterations: Int) -> (elapsed: Duration, lastDigest: Digest) {
        Sodium.ensureInitialized()
        var out = [UInt8](repeating: 0, count: Digest.byteCount)
        let clock = ContinuousClock()
        let start = clock.now
        out.withUnsafeMutableBufferPointer { o in
            buffer.withUnsafeBufferPointer { b in
                for _ in 0..<iterations {
                    crypto_hash_sha256(o.baseAddress!, b.baseAddress, UInt64(b.count))
                }
            }
        }
        return (clock.now - start, Digest(bytes: out)!)
    }
}

/// How many Ed25519 verifications per second this machine can do: the ceiling for anything that checks
/// signatures (transaction admission, quorum certificates, block sync). Other benchmarks print their figures as
/// a ratio to this bound, measured in the same run.
public struct Ed25519VerificationBound: Sendable, CustomStringConvertible {
    /// Verifications per second on one core.
    public let perCore: Double
    /// Verifications per second with one thread per core, all at once.
    public let allCores: Double
    /// The number of cores used for ``allCores``.
    public let cores: Int

    /// Measures both figures with raw libsodium verification of valid signatures over 64 distinct 128-byte
    /// messages, each for about `duration`.
    public static func measure(duration: Duration = .seconds(1)) -> Ed25519VerificationBound {
        let workload = Workload()
        let single = workload.run(for: duration)
        let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
        let tally = Tally()
        let clock = ContinuousClock()
        let start = clock.now
        DispatchQueue.concurrentPerform(iterations: cores) { _ in
            let result = workload.run(for: duration)
            tally.add(result.count)
        }
        let elapsed = clock.now - start
        return Ed25519VerificationBound(
            perCore: Double(single.count) / single.elapsed.seconds,
            allCores: Double(tally.total) / elapsed.seconds,
            cores: cores)
    }

    public var description: String {
        "Ed25519 verification bound: \(Int(perCore))/s on one core, \(Int(allCores))/s on \(cores) cores"
    }

    /// The mean of this bound and `other`, measured at another moment of the same run: on a shared machine either
    /// alone can be off by a quarter.
    public func averaged(with other: Ed25519VerificationBound) -> Ed25519VerificationBound {
        Ed25519VerificationBound(
            perCore: (perCore + other.perCore) / 2, allCores: (allCores + other.allCores) / 2,
            cores: max(cores, other.cores))
    }

    /// Signed messages prepared once and shared read-only by every thread.
    private struct Workload: Sendable {
        let items: [(publicKey: [UInt8], message: [UInt8], signature: [UInt8])]

        init() {
            var items: [(publicKey: [UInt8], message: [UInt8], signature: [UInt8])] = []
            for _ in 0..<64 {
                let key = Ed25519PrivateKey()
                let message = SecureRandom.bytes(128)
                items.append((key.publicKey.bytes, message, key.signature(forRaw: message).bytes))
            }
            self.items = items
        }

        /// Verifies in rounds of 64 until `duration` has passed; traps if a valid signature fails, since the
        /// figure would then not be a verification rate.
        func run(for duration: Duration) -> (count: Int, elapsed: Duration) {
            Sodium.ensureInitialized()
            let clock = ContinuousClock()
            let start = clock.now
            var count = 0
            repeat {
                for item in items {
                    let status = item.signature.withUnsafeBufferPointer { sig in
                        item.message.withUnsafeBufferPointer { m in
                            item.publicKey.withUnsafeBufferPointer { pk in
                                crypto_sign_verify_detached(
                                    sig.baseAddress!, m.baseAddress, UInt64(m.count), pk.baseAddress!)
                            }
                        }
                    }
                    precondition(status == 0, "a valid benchmark signature failed to verify")
                    count += 1
                }
            } while clock.now - start < duration
            return (count, clock.now - start)
        }
    }

    /// A sum shared by the measuring threads.
    // @unchecked Sendable is safe: `count` is only read or written while `lock` is held.
    private final class Tally: @unchecked Sendable {
        private let lock = NSLock()
        private var count = 0

        func add(_ value: Int) {
            lock.lock()
            count += value
            lock.unlock()
        }

        var total: Int {
            lock.lock()
            defer { lock.unlock() }
            return count
        }
    }
}

extension Duration {
    /// The duration in seconds, as a floating-point number.
    public var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) / 1e18
    }
}
