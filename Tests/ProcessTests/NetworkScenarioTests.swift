import Codec
import EnsureCrypto
import Foundation
import Ledger
import Testing

/// Real `ensure-node` processes on loopback: real TCP, real LevelDB files, real signatures, SIGKILL.
@Suite("Local network of real processes", .serialized)
struct NetworkScenarioTests {
    @Test(
        "four validators and an observer: commit, survive kill -9, catch up, halt without quorum, resume",
        .timeLimit(.minutes(8)))
    func crashRecoveryAndQuorum() async throws {
        let network = try LocalNetwork(validators: 4, observers: 1)
        try network.startAll()
        let validators = network.nodes.filter(\.isValidator)
        let observer = try #require(network.nodes.first { !$0.isValidator })

        try await network.waitUntil("every node commits past height 2") {
            let heights = await network.heights(network.nodes)
            return heights.count == network.nodes.count && heights.values.allSatisfy { $0 >= 2 }
        }
        let observerStatus = try await observer.status()
        #expect(observerStatus.role == "observer")
        #expect(try await validators[0].status().role == "validator")
        // LevelDB's background thread (flushes and compactions) yields the cores to the rest of the node.
        for node in network.nodes {
            let nice = node.threadNiceValues()
            #expect(nice.contains(10), "\(node.name) has no thread at nice 10: \(nice)")
            #expect(nice.contains(0), "\(node.name) runs every thread at a lowered priority: \(nice)")
        }

        // A stream of transactions through every validator commits everywhere.
        var submitted: [Transaction] = []
        for i in 0..<40 {
            let tx = network.notarize(organization: i % network.adminKeys.count, label: "batch-1 #\(i)")
            #expect(try await validators[i % 4].submit(tx) == 202)
            submitted.append(tx)
        }
        try await waitCommitted(submitted, on: network.nodes, in: network)
        try await validators[0].checkMetricsAndBlockStream()
        try await observer.checkMetricsAndBlockStream()

        // kill -9 one validator; the other three keep committing.
        let victim = validators[3]
        victim.kill9()
        var second: [Transaction] = []
        for i in 0..<20 {
            let tx = network.notarize(organization: i % network.adminKeys.count, label: "batch-2 #\(i)")
            #expect(try await validators[i % 3].submit(tx) == 202)
            second.append(tx)
        }
        try await waitCommitted(second, on: Array(validators.prefix(3)), in: network)
        let aheadOfVictim = try await validators[0].status().height

        // Restarted, it recovers its committed blocks from LevelDB, fetches the rest and rejoins.
        try victim.start()
        try await network.waitUntil("the restarted validator catches up to height \(aheadOfVictim)") {
            try await victim.status().height >= aheadOfVictim
        }
        try await waitCommitted(submitted + second, on: [victim], in: network)
        let common = try await commonHeight(network.nodes)
        #expect(try await network.firstDivergence(network.nodes, through: common) == nil)

        // Two of four stopped: no quorum, so nothing commits and nothing forks.
        #expect(validators[2].terminate() == 0)
        #expect(validators[3].terminate() == 0)
        let survivors = Array(validators.prefix(2))
        try await network.waitUntil("the chain stops advancing", seconds: 30) {
            let before = await network.heights(survivors)
            try await Task.sleep(for: .seconds(2))
            return await network.heights(survivors) == before
        }
        let haltedHeights = await network.heights(survivors)
        let stuck = network.notarize(organization: 0, label: "while halted")
        #expect(try await survivors[0].submit(stuck) == 202)
        try await Task.sleep(for: .seconds(3))
        #expect(await network.heights(survivors) == haltedHeights)
        #expect(try await survivors[0].transactionState(stuck.id) == "pending")

        // One comes back: a quorum again, the chain resumes and commits the waiting transaction.
        try validators[2].start()
        try await waitCommitted([stuck], on: Array(validators.prefix(3)) + [observer], in: network)
        let resumed = try await commonHeight(Array(validators.prefix(3)) + [observer])
        #expect(resumed > (haltedHeights.values.max() ?? 0))
        #expect(try await network.firstDivergence(Array(validators.prefix(3)) + [observer], through: resumed) == nil)

        // Every node killed at once and restarted: the proposals each accepted above its committed tip are
        // replayed from LevelDB, so the certificates their safety state depends on are not lost and the chain
        // goes on.
        for node in network.nodes { node.kill9() }
        try network.startAll()
        let afterOutage = network.notarize(organization: 1, label: "after every node restarted")
        try await network.waitUntil("a node answers after the full restart") {
            try await validators[0].status().height >= 0
        }
        #expect(try await validators[0].submit(afterOutage) == 202)
        try await waitCommitted([afterOutage], on: network.nodes, in: network)
        let final = try await commonHeight(network.nodes)
        #expect(try await network.firstDivergence(network.nodes, through: final) == nil)

        // SIGTERM stops every node cleanly, an open event stream included: the node ends it.
        let follower = try EventStreamFollower(
            observer.apiURL.appendingPathComponent("v1/events/blocks"), maxSeconds: 60)
        try await Task.sleep(for: .milliseconds(500))
        let statuses = network.stopAll()
        #expect(statuses.allSatisfy { $0 == 0 }, "exit statuses \(statuses)")
        let (followerStatus, output) = await follower.finish()
        #expect(followerStatus == 0, "curl exit status \(followerStatus): the stream ended cleanly")
        #expect(output.contains(": closed: reconnect with Last-Event-ID to resume"))
    }

    @Test("a node refuses to start on a home whose key genesis does not name, with a one-line reason")
    func refusesForeignKey() async throws {
        let network = try LocalNetwork(validators: 1)
        let other = try LocalNetwork(validators: 1)
        // Give node 0 of `network` the genesis of another network.
        let home = network.nodes[0].home
        try FileManager.default.removeItem(atPath: home + "/genesis.json")
        try FileManager.default.copyItem(atPath: other.nodes[0].home + "/genesis.json", toPath: home + "/genesis.json")
        try network.nodes[0].start()
        try await network.waitUntil("the node exits", seconds: 20) { !network.nodes[0].isRunning }
        #expect(network.nodes[0].process?.terminationStatus ?? 1 != 0)
        #expect(network.nodes[0].logTail().contains("neither as a validator nor as an observer"))
    }

    @Test("test networks take ports below the kernel's ephemeral range, so a restart finds its port free")
    func portsBelowEphemeralRange() {
        let start = LocalNetwork.ephemeralPortsStart()
        for _ in 0..<4 {
            let base = LocalNetwork.nextBasePort()
            #expect(base >= 10_000)
            #expect(base + 24 <= start, "ports \(base)-\(base + 23) reach the ephemeral range from \(start)")
        }
    }

    private func waitCommitted(_ transactions: [Transaction], on nodes: [LocalNode], in network: LocalNetwork)
        async throws
    {
        try await network.waitUntil("\(transactions.count) transactions commit on \(nodes.map(\.name))") {
            for node in nodes {
                for tx in transactions where try await node.transactionState(tx.id) != "committed" {
                    return false
                }
            }
            return true
        }
    }

    private func commonHeight(_ nodes: [LocalNode]) async throws -> UInt64 {
        var lowest = UInt64.max
        for node in nodes { lowest = min(lowest, try await node.status().height) }
        return lowest
    }
}
