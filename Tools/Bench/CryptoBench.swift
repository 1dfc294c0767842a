import ArgumentParser
import EnsureCrypto
import Foundation

/// `ensure-bench crypto`: Ed25519 and SHA-256 through this project's wrappers, each against a raw library
/// baseline measured in the same run on the same inputs, plus the machine's Ed25519 verification bound.
struct CryptoBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crypto",
        abstract: "Ed25519 sign/verify and SHA-256 throughput: wrappers against raw libsodium in one run.",
        discussion: """
            Each figure is the best of --rounds measurements of about --seconds each; wrapper and raw \
            measurements alternate so that noise on a shared machine hits both alike. A wrapper/raw ratio of \
            at least 0.95 is the target.
            """
    )

    @Option(help: "Approximate duration of one measurement, in seconds.")
    var seconds: Double = 0.25

    @Option(help: "Measurements per figure; the best is reported.")
    var rounds: Int = 8

    @Option(help: "Size of the signed message in bytes.")
    var messageBytes: Int = 256

    @Option(help: "Duration of each half of the verification-bound measurement, in seconds.")
    var boundSeconds: Double = 1.0

    func validate() throws {
        guard seconds > 0, boundSeconds > 0, rounds >= 1, messageBytes >= 0 else {
            throw ValidationError("--seconds, --bound-seconds and --rounds must be positive")
        }
    }

    func run() throws {
        let key = Ed25519PrivateKey()
        let message = SecureRandom.bytes(messageBytes)
        let signature = key.signature(forRaw: message)
        print("ensure-bench crypto: \(rounds) rounds of ~\(seconds) s, \(messageBytes)-byte messages")
        print("")

        let signIterations = calibrate { key.signature(forRaw: message) }
        var wrapperSign = Duration.zero
        var rawSign = Duration.zero
        var verifyFailures = 0
        var sink: UInt8 = 0
        for round in 0..<rounds {
            // Alternate which side runs first, so a burst of load from elsewhere does not favour one side.
            var wrapper = Duration.zero
            if round % 2 == 0 {
                wrapper = timeSigning(key: key, message: message, iterations: signIterations, sink: &sink)
            }
            let raw = CryptoBaseline.signRaw(key: key, message: message, iterations: signIterations)
            if round % 2 == 1 {
                wrapper = timeSigning(key: key, message: message, iterations: signIterations, sink: &sink)
            }
            guard raw.lastSignature == signature.bytes else {
                throw ValidationError("raw and wrapper signatures differ; the baseline is not comparable")
            }
            wrapperSign = round == 0 ? wrapper : min(wrapperSign, wrapper)
            rawSign = round == 0 ? raw.elapsed : min(rawSign, raw.elapsed)
        }
        report("Ed25519 sign", unit: "sign/s", iterations: signIterations, wrapper: wrapperSign, raw: rawSign)

        let verifyIterations = calibrate { key.publicKey.isValidSignature(signature, forRaw: message) }
        var wrapperVerify = Duration.zero
        var rawVerify = Duration.zero
        for round in 0..<rounds {
            var (wrapper, valid) = (Duration.zero, 0)
            if round % 2 == 0 {
                (wrapper, valid) = timeVerification(
                    key: key.publicKey, signature: signature, message: message, iterations: verifyIterations)
            }
            let raw = CryptoBaseline.verifyRaw(
                publicKey: key.publicKey, signature: signature, message: message, iterations: verifyIterations)
            if round % 2 == 1 {
                (wrapper, valid) = timeVerification(
                    key: key.publicKey, signature: signature, message: message, iterations: verifyIterations)
            }
            verifyFailures += (verifyIterations - valid) + (verifyIterations - raw.validCount)
            wrapperVerify = round == 0 ? wrapper : min(wrapperVerify, wrapper)
            rawVerify = round == 0 ? raw.elapsed : min(rawVerify, raw.elapsed)
        }
        guard verifyFailures == 0 else {
            throw ValidationError("\(verifyFailures) valid signatures failed to verify during the benchmark")
        }
        report("Ed25519 verify", unit: "verify/s", iterations: verifyIterations, wrapper: wrapperVerify, raw: rawVerify)

        for size in [1024, 1024 * 1024] {
            let buffer = SecureRandom.bytes(size)
            let iterations = calibrate { SHA256.hash(buffer) }
            var ours = Duration.zero
            var sodium = Duration.zero
            for round in 0..<rounds {
                var wrapper = Duration.zero
                if round % 2 == 0 { wrapper = timeHashing(buffer, iterations: iterations, sink: &sink) }
                let baseline = CryptoBaseline.sodiumSHA256(buffer, iterations: iterations)
                if round % 2 == 1 { wrapper = timeHashing(buffer, iterations: iterations, sink: &sink) }
                guard baseline.lastDigest == SHA256.hash(buffer) else {
                    throw ValidationError("libsodium and OpenSSL SHA-256 disagree")
                }
                ours = round == 0 ? wrapper : min(ours, wrapper)
                sodium = round == 0 ? baseline.elapsed : min(sodium, baseline.elapsed)
            }
            let label = size == 1024 ? "1 KiB" : "1 MiB"
            let oursRate = Double(size * iterations) / 1e6 / ours.seconds
            let sodiumRate = Double(size * iterations) / 1e6 / sodium.seconds
            print(
                "\(pad("SHA-256 \(label) buffers")) wrapper (OpenSSL) \(format(oursRate)) MB/s   "
                    + "libsodium crypto_hash_sha256 \(format(sodiumRate)) MB/s   "
                    + "wrapper/libsodium \(format(oursRate / sodiumRate, digits: 2))")
        }

        print("")
        let bound = Ed25519VerificationBound.measure(duration: .milliseconds(Int(boundSeconds * 1000)))
        print(
            "\(pad("Ed25519 verification bound")) one core \(format(bound.perCore)) verify/s   "
                + "all \(bound.cores) cores \(format(bound.allCores)) verify/s")
        // Keep the results of the timed loops observable, so the optimiser cannot remove them.
        if sink == 0x5a && messageBytes < 0 { print(sink) }
    }

    /// Iterations of `body` that take about ``seconds``, from a short trial run.
    private func calibrate<Result>(_ body: () -> Result) -> Int {
        let clock = ContinuousClock()
        var iterations = 16
        while true {
            let start = clock.now
            for _ in 0..<iterations { _ = body() }
            let elapsed = (clock.now - start).seconds
            if elapsed >= 0.05 {
                return max(1, Int(Double(iterations) * seconds / elapsed))
            }
            iterations *= 4
        }
    }

    private func timeSigning(key: Ed25519PrivateKey, message: [UInt8], iterations: Int, sink: inout UInt8) -> Duration {
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<iterations {
            sink ^= key.signature(forRaw: message).bytes[63]
        }
        return clock.now - start
    }

    private func timeVerification(
        key: Ed25519PublicKey, signature: Ed25519Signature, message: [UInt8], iterations: Int
    ) -> (Duration, Int) {
        let clock = ContinuousClock()
        var valid = 0
        let start = clock.now
        for _ in 0..<iterations where key.isValidSignature(signature, forRaw: message) {
            valid += 1
        }
        return (clock.now - start, valid)
    }

    private func timeHashing(_ buffer: [UInt8], iterations: Int, sink: inout UInt8) -> Duration {
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<iterations {
            sink ^= SHA256.hash(buffer).bytes[0]
        }
        return clock.now - start
    }

    private func report(_ name: String, unit: String, iterations: Int, wrapper: Duration, raw: Duration) {
        let wrapperRate = Double(iterations) / wrapper.seconds
        let rawRate = Double(iterations) / raw.seconds
        let ratio = wrapperRate / rawRate
        print(
            "\(pad(name)) wrapper \(format(wrapperRate)) \(unit)   "
                + "raw libsodium \(format(rawRate)) \(unit)   wrapper/raw \(format(ratio, digits: 3))"
                + (ratio >= 0.95 ? "" : "   (below the 0.95 target)"))
    }

    private func pad(_ label: String) -> String {
        label.padding(toLength: 27, withPad: " ", startingAt: 0)
    }

    private func format(_ value: Double, digits: Int = 0) -> String {
        String(format: "%.\(digits)f", value)
    }
}
