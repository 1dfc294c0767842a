import API
import Daemon
import EnsureCrypto
import Ledger
import Testing

@Suite("Proposal batching")
struct ProposalBatchingTests {
    @Test("a leader waiting for transactions gathers those submitted together into one block, not one block each")
    func oneValidatorBatches() async throws {
        let cluster = try EngineCluster(count: 1)
        let engine = cluster.engine(0)
        await cluster.start(0)
        // Let the chain go idle, so the leader waits for transactions.
        try await cluster.waitUntil("the first empty block commits") { await engine.status().height >= 1 }
        let start = await engine.status().height
        var ids: [Digest] = []
        for sequence in UInt64(1)...40 {
            let tx = cluster.fixture.notarize(admin: 0, sequence: sequence, label: "batch \(sequence)")
            #expect(await engine.submit(transaction: tx.canonicalBytes) == .accepted(id: tx.id))
            ids.append(tx.id)
        }
        try await cluster.waitUntil("every transaction commits") {
            for id in ids {
                guard case .committed = await engine.transactionStatus(id) else { return false }
            }
            return true
        }
        await cluster.stopAll()
        var carrying = 0
        var committed = 0
        var height = start + 1
        while let block = await engine.block(atHeight: height) {
            if !block.block.transactions.isEmpty { carrying += 1 }
            committed += block.block.transactions.count
            height += 1
        }
        #expect(committed == 40)
        // Each admission used to propose at once: 40 blocks of one transaction, each with its own synced writes.
        // The leader now gathers for 10 ms, and 40 submissions take a few; a stalled machine may split them.
        #expect(carrying <= 8, "40 transactions went into \(carrying) blocks")
    }
}
