import ArgumentParser
import ConsensusSimulation
import EnsureCrypto
import Ledger

/// `ensure-bench merkle`: builds an in-memory incident log, then measures how fast inclusion and consistency
/// proofs are generated and verified, each as a ratio to the SHA-256 bound measured in the same run.
struct MerkleBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merkle",
        abstract: "Merkle log: append, and generate and verify inclusion and consistency proofs.",
        discussion: """
            The bound is how many SHA-256 hashes of a 65-byte input (two compression blocks, the size of an
            interior node's input) this machine computes per second through the Crypto target. Each rate is
            printed with its ratio to that bound: a verification of k hashes cannot beat bound / k per second.
            """
    )

    @Option(help: "Leaves in the log.")
    var leaves = 1_000_000

    @Option(help: "Proofs of each kind generated, then verified.")
    var proofs = 50_000

    @Option(help: "Leaves per append, as one block would carry them.")
    var batch = 1_000

    @Option(help: "Seed of the indices and sizes the proofs are asked for.")
    var seed: UInt64 = 1

    @Option(help: "Times each measurement is repeated; the fastest counts, since other load only slows a run.")
    var repeats = 3

    func validate() throws {
        guard leaves >= 2 else { throw ValidationError("--leaves must be at least 2") }
        guard proofs >= 1 else { throw ValidationError("--proofs must be at least 1") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1") }
    }

    func run() throws {
        let clock = ContinuousClock()
        let bound = Self.hashBound(clock: clock, repeats: repeats)
        print("SHA-256 two-block bound: \(Self.format(bound)) hashes/s (65-byte input)")

        // The log, grown in block-sized appends.
        var store = InMemoryMerkleNodeStore()
        var size: UInt64 = 0
        let buildTime = try clock.measure {
            var next = 0
            while next < leaves {
                let count = min(batch, leaves - next)
                let hashes = (next..<next + count).map { MerkleHash.leaf(Self.bytes(of: UInt64($0))) }
                let result = try MerkleLog(source: store, size: size).appending(hashes)
                store.store(result.writes)
                size = result.size
                next += count
            }
        }
        let log = MerkleLog(source: store, size: size)
        let root = try log.root()
        let appendRate = Double(leaves) / buildTime.seconds
        print(
            "appended \(leaves) leaves in \(Self.format(buildTime.seconds)) s: \(Self.format(appendRate)) leaves/s, "
                + "\(store.nodes.count) stored nodes, root \(root)"
        )

        var random = SimulationRandom(seed: seed)
        let treeSize = size

        // Inclusion proofs at the full size, for random leaves.
        let indices = (0..<proofs).map { _ in random.next() % treeSize }
        var inclusionProofs: [[Digest]] = []
        inclusionProofs.reserveCapacity(proofs)
        let inclusionGeneration = try fastest(clock) {
            inclusionProofs.removeAll(keepingCapacity: true)
            for index in indices {
                inclusionProofs.append(try log.inclusionProof(leafIndex: index, treeSize: treeSize))
            }
        }
        let leafHashes = indices.map { MerkleHash.leaf(Self.bytes(of: $0)) }
        let inclusionVerification = try fastest(clock) {
            for position in indices.indices {
                try MerkleProof.verifyInclusion(
                    leafHash: leafHashes[position], index: indices[position], treeSize: treeSize,
                    proof: inclusionProofs[position], root: root)
            }
        }
        let inclusionHashes = inclusionProofs.reduce(0) { $0 + $1.count }
        report("inclusion generated", count: proofs, time: inclusionGeneration, bound: bound)
        report(
            "inclusion verified", count: proofs, time: inclusionVerification, bound: bound,
            hashes: inclusionHashes)

        // Consistency proofs from a random older size to the full size.
        let oldSizes = (0..<proofs).map { _ in 1 + random.next() % (treeSize - 1) }
        var oldRoots: [Digest] = []
        oldRoots.reserveCapacity(proofs)
        for oldSize in oldSizes {
            oldRoots.append(try log.root(atSize: oldSize))
        }
        var consistencyProofs: [[Digest]] = []
        consistencyProofs.reserveCapacity(proofs)
        let consistencyGeneration = try fastest(clock) {
            consistencyProofs.removeAll(keepingCapacity: true)
            for oldSize in oldSizes {
                consistencyProofs.append(try log.consistencyProof(oldSize: oldSize, newSize: treeSize))
            }
        }
        let consistencyVerification = try fastest(clock) {
            for position in oldSizes.indices {
                try MerkleProof.verifyConsistency(
                    oldSize: oldSizes[position], newSize: treeSize, oldRoot: oldRoots[position], newRoot: root,
                    proof: consistencyProofs[position])
            }
        }
        let consistencyHashes = zip(oldSizes, consistencyProofs).reduce(0) {
            $0 + Self.consistencyHashCount(oldSize: $1.0, newSize: treeSize, proofLength: $1.1.count)
        }
        report("consistency generated", count: proofs, time: consistencyGeneration, bound: bound)
        report(
            "consistency verified", count: proofs, time: consistencyVerification, bound: bound,
            hashes: consistencyHashes)
    }

    /// Prints a rate and its ratio to the hash bound; with `hashes`, also the share of the bound that the
    /// hashing itself reached.
    private func report(_ name: String, count: Int, time: Duration, bound: Double, hashes: Int? = nil) {
        let rate = Double(count) / time.seconds
        var line = "\(name): \(Self.format(rate)) proofs/s, ratio to bound \(Self.format(rate / bound))"
        if let hashes {
            let perProof = Double(hashes) / Double(count)
            line += ", \(Self.format(perProof)) hashes per proof, hashing at "
            line += "\(Self.format(100 * rate * perProof / bound))% of bound"
        }
        print(line)
    }

    /// The shortest of ``repeats`` runs of `body`.
    private func fastest(_ clock: ContinuousClock, _ body: () throws -> Void) rethrows -> Duration {
        var best = Duration.seconds(Int64.max)
        for _ in 0..<repeats {
            best = min(best, try clock.measure(body))
        }
        return best
    }

    /// SHA-256 of a 65-byte input through ``SHA256/hash(_:)``, each input depending on the last digest so no
    /// hash can be skipped: the fastest rate of `repeats` runs of 200,000 hashes.
    private static func hashBound(clock: ContinuousClock, repeats: Int) -> Double {
        var input = [UInt8](repeating: 0x5a, count: 65)
        let count = 200_000
        var best = Duration.seconds(Int64.max)
        for _ in 0..<repeats {
            best = min(
                best,
                clock.measure {
                    for _ in 0..<count {
                        let digest = SHA256.hash(input)
                        input[1] = digest.bytes[0]
                    }
                })
        }
        return Double(count) / best.seconds
    }

    /// The node hashes RFC 9162 §2.1.4.2 computes for a consistency proof: two for each hash that joins the
    /// old tree's path, one for each that only joins the new tree's.
    private static func consistencyHashCount(oldSize: UInt64, newSize: UInt64, proofLength: Int) -> Int {
        var fn = oldSize - 1
        var sn = newSize - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        let steps = oldSize & (oldSize - 1) == 0 ? proofLength : proofLength - 1
        var hashes = 0
        for _ in 0..<steps {
            if fn & 1 == 1 || fn == sn {
                hashes += 2
                while fn & 1 == 0 && fn != 0 {
                    fn >>= 1
                    sn >>= 1
                }
            } else {
                hashes += 1
            }
            fn >>= 1
            sn >>= 1
        }
        return hashes
    }

    private static func bytes(of value: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) }
    }

    private static func format(_ value: Double) -> String {
        if value >= 100 { return String(Int(value.rounded())) }
        let hundredths = (value * 1000).rounded() / 1000
        return "\(hundredths)"
    }
}
