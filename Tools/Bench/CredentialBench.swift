import ArgumentParser
import Credentials
import Crypto
import Foundation

/// `ensure-bench credentials`: age presentations verified per second on one core, against the machine's bound
/// measured in the same run: plain ES256 (P-256) signature verifications per second through swift-crypto.
struct CredentialBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "credentials",
        abstract: "SD-JWT VC age presentations verified per second, as a ratio to plain ES256 verifies per second.",
        discussion: """
            A presentation costs two ES256 verifications (the issuer's JWT and the holder's key-binding JWT) plus \
            parsing, SHA-256 of the disclosure and of the presentation, and a status list lookup, so the ideal \
            ratio is 0.5. Presentation and bound measurements alternate; each figure is the best of --rounds.
            """
    )

    @Option(help: "Approximate duration of one measurement, in seconds.")
    var seconds: Double = 1.0

    @Option(help: "Measurements per figure; the best is reported.")
    var rounds: Int = 5

    @Option(help: "Distinct presentations to cycle through.")
    var presentations: Int = 256

    func validate() throws {
        guard seconds > 0, rounds >= 1, presentations >= 1 else {
            throw ValidationError("--seconds, --rounds and --presentations must be positive")
        }
    }

    func run() throws {
        var generator = SystemRandomNumberGenerator()
        let now = Int64(Date().timeIntervalSince1970)
        let issuerKey = makeP256Key(using: &generator)
        let issuer = try AgeCredentialIssuer(
            issuer: "https://bench.example", kid: "bench-1", signingKey: .p256(issuerKey))
        var list = try IssuerStatusList(uri: "https://bench.example/status/1")
        var batch: [IssuedCredential] = []
        while batch.count < presentations {
            batch += try issuer.issueBatch(
                birthDate: CivilDate(iso: "1990-01-01")!, count: min(1000, presentations - batch.count), now: now,
                statusList: &list, using: &generator)
        }
        let request = PresentationRequest(
            nonce: "YmVuY2gtbm9uY2UtMTI4LWJpdHMtb3ItbW9yZQ", audience: "https://shop.example", threshold: 18,
            createdAt: now, expiresAt: now + 3600)
        let texts = try batch.map {
            try AgePresentation.present(
                credential: $0.sdJWT, holderKey: $0.holderKey, over: 18, nonce: request.nonce,
                audience: request.audience, now: now)
        }
        let verifier = PresentationVerifier(
            registry: InMemoryIssuerRegistry([
                RegisteredIssuer(
                    identifier: "https://bench.example",
                    keys: [IssuerKey(jwk: PublicJWK(key: .p256(issuerKey.publicKey), kid: "bench-1"))],
                    allowedVCTs: [AgeProfile.defaultVCT])
            ]),
            statusLists: InMemoryStatusListSource([list.uri: list.list]))
        // The bound's input: a signing input of the size of an issuer JWT.
        let signingInput = Array(texts[0].split(separator: ".")[0...1].joined(separator: ".").utf8)
        let signature = try issuerKey.signature(for: signingInput)
        let publicKey = issuerKey.publicKey

        print(
            "ensure-bench credentials: \(rounds) rounds of ~\(seconds) s, \(texts.count) presentations "
                + "(\(texts[0].utf8.count) bytes each), one core")
        var bestPresentations = 0.0
        var bestBound = 0.0
        var failures = 0
        for round in 0..<rounds {
            var rate = 0.0
            if round % 2 == 0 {
                rate = measurePresentations(texts, verifier: verifier, request: request, now: now, failures: &failures)
            }
            let bound = measure {
                publicKey.isValidSignature(signature, for: signingInput)
            }
            if round % 2 == 1 {
                rate = measurePresentations(texts, verifier: verifier, request: request, now: now, failures: &failures)
            }
            bestPresentations = max(bestPresentations, rate)
            bestBound = max(bestBound, bound.rate)
            failures += bound.failures
        }
        guard failures == 0 else { throw ValidationError("\(failures) valid presentations or signatures failed") }
        print("  presentations verified   \(format(bestPresentations)) /s")
        print("  ES256 verify bound       \(format(bestBound)) /s (P-256 through swift-crypto, same run)")
        print(
            "  ratio                    \(format(bestPresentations / bestBound, digits: 3)) "
                + "(ideal 0.5: two ES256 verifications per presentation)")
    }

    private func measurePresentations(
        _ texts: [String], verifier: PresentationVerifier, request: PresentationRequest, now: Int64, failures: inout Int
    ) -> Double {
        var index = 0
        let result = measure {
            defer { index = (index + 1) % texts.count }
            return (try? verifier.verify(texts[index], request: request, now: now))?.holds == true
        }
        failures += result.failures
        return result.rate
    }

    /// Runs `body` for about `seconds`, in batches, and returns calls per second and how many returned false.
    private func measure(_ body: () -> Bool) -> (rate: Double, failures: Int) {
        let clock = ContinuousClock()
        let start = clock.now
        var calls = 0
        var failures = 0
        let limit = Duration.milliseconds(Int(seconds * 1000))
        while clock.now - start < limit {
            for _ in 0..<16 {
                if !body() { failures += 1 }
            }
            calls += 16
        }
        let elapsed = clock.now - start
        let secondsElapsed = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return (Double(calls) / secondsElapsed, failures)
    }

    private func format(_ value: Double, digits: Int = 0) -> String {
        String(format: "%.\(digits)f", value)
    }
}
