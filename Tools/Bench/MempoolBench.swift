import ArgumentParser
import EnsureCrypto
import Ledger
import Mempool

/// `ensure-bench mempool`: admissions per second with signature verification, as a ratio to the Ed25519
/// verification bound measured in the same run, and reap throughput with a full pool of pending transactions.
struct MempoolBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mempool",
        abstract: "Mempool: admission (with signature verification) and reap throughput.",
        discussion: """
            Every admission of a new transaction verifies one Ed25519 signature, so admissions per second on one \
            core cannot beat the one-core verification bound; the ratio shows what the pool's own checks cost. \
            Reap builds one block's batch from the pending transactions without removing them.
            """
    )

    @Option(help: "Signers whose transactions are admitted.")
    var signers = 100

    @Option(help: "Transactions per signer (sequences 1...n).")
    var perSigner = 100

    @Option(help: "Most transactions per reaped batch.")
    var batch = 10_000

    @Option(help: "Times each measurement is repeated; the fastest counts, since other load only slows a run.")
    var repeats = 3

    func validate() throws {
        guard signers >= 1 else { throw ValidationError("--signers must be at least 1") }
        guard (1...1_000).contains(perSigner) else { throw ValidationError("--per-signer must be 1...1000") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1") }
    }

    /// Committed state in which every signer is authorized and has committed nothing.
    private struct OpenPolicy: AdmissionPolicy {
        func isAuthorized(signer: Ed25519PublicKey, kind: TransactionKind) -> Bool { true }
        func nextExpectedSequence(of signer: Ed25519PublicKey) -> UInt64 { 1 }
    }

    func run() throws {
        let bound = Ed25519VerificationBound.measure()
        print(bound)

        let keys = (0..<signers).map { _ in Ed25519PrivateKey() }
        // Arrival order interleaves signers, as gossip from many clients would.
        var transactions: [Transaction] = []
        transactions.reserveCapacity(signers * perSigner)
        for sequence in 1...perSigner {
            for key in keys {
                let payload = SecureRandom.bytes(128)
                transactions.append(
                    Transaction(
                        chainID: "bench", sequence: UInt64(sequence), kind: .notarize, payload: payload,
                        signedBy: key))
            }
        }
        let configuration = try MempoolConfiguration(
            chainID: "bench", maxTransactions: transactions.count, maxBytes: 1 << 30, maxPerSigner: perSigner,
            sequenceWindow: UInt64(perSigner))
        let policy = OpenPolicy()
        let clock = ContinuousClock()

        var filled = Mempool(configuration: configuration)
        var best = Duration.seconds(Int64.max)
        for _ in 0..<repeats {
            var pool = Mempool(configuration: configuration)
            let elapsed = try clock.measure {
                for transaction in transactions {
                    try pool.admit(transaction, policy: policy, now: .zero)
                }
            }
            precondition(pool.count == transactions.count && pool.signatureVerifications == transactions.count)
            best = min(best, elapsed)
            filled = pool
        }
        let admissionRate = Double(transactions.count) / Self.seconds(best)
        print(
            "admitted \(transactions.count) transactions (\(signers) signers x \(perSigner)): "
                + "\(Self.format(admissionRate)) admissions/s, ratio to one-core bound "
                + "\(Self.format(admissionRate / bound.perCore))")

        var reaped = 0
        var reapBest = Duration.seconds(Int64.max)
        for _ in 0..<repeats {
            let elapsed = clock.measure {
                reaped = filled.reap(maxCount: batch, maxBytes: LedgerLimits.blockBytes).count
            }
            reapBest = min(reapBest, elapsed)
        }
        print(
            "reap of \(reaped) from \(filled.count) pending: \(Self.format(Self.seconds(reapBest) * 1000)) ms, "
                + "\(Self.format(Double(reaped) / Self.seconds(reapBest))) transactions/s")
    }

    private static func seconds(_ duration: Duration) -> Double {
        let (whole, attoseconds) = duration.components
        return Double(whole) + Double(attoseconds) / 1e18
    }

    private static func format(_ value: Double) -> String {
        if value >= 100 { return String(Int(value.rounded())) }
        return "\((value * 1000).rounded() / 1000)"
    }
}
