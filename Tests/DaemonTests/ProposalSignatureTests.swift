import Codec
import Consensus
import Daemon
import EnsureCrypto
import Foundation
import Ledger
import NIOConcurrencyHelpers
import NIOCore
import Storage
import Testing

/// A proposal's signatures are checked as it arrives, and execution then trusts that check only for a proposal whose
/// every signature held: one forged transaction makes the block invalid, so the validator does not vote for it.
@Suite("Proposal signatures")
struct ProposalSignatureTests {
    /// The votes engine `index` of a fresh cluster sends after it receives, from round 1's leader, a proposal of
    /// the transactions `makeTransactions` gives, with a header is filled as if every one of them executed.
    ///
    /// Round 1 never times out here, so a loaded machine cannot move the engine past the proposal's round. The
    /// engine handles the proposal in one turn of its loop, so once a later call on the engine returns, the vote,
    /// if any, was sent; `wait` is how long a vote may still take after that.
    func votes(for makeTransactions: (ChainFixture) -> [Transaction], wait: Duration) async throws -> [Vote] {
        let cluster = try EngineCluster { $0.consensus.baseTimeoutMilliseconds = 600_000 }
        let fixture = cluster.fixture
        let transactions = makeTransactions(fixture)
        let leader = fixture.validators.members[1]
        let leaderKey = try #require(fixture.validatorKeys.first { $0.publicKey == leader })
        let index = try #require(fixture.validatorKeys.firstIndex { $0.publicKey != leader })
        let engine = cluster.engine(index)
        let me = fixture.validatorKeys[index].publicKey
        let sent = NIOLockedValueBox<[Vote]>([])
        await engine.setConnectedPeers(fixture.validatorKeys.map(\.publicKey).filter { $0 != me })
        await engine.send { message in
            let bytes: [UInt8]
            switch message {
            case .send(let payload, _): bytes = payload
            case .broadcast(let payload): bytes = payload
            }
            if case .consensus(.vote(let vote)) = try? NodeMessage.decode(canonical: bytes) {
                sent.withLockedValue { $0.append(vote) }
            }
        }
        await engine.start()

        // Another executor on the same genesis fills the header; it takes every signature as verified, so a
        // forged one gives the header a valid transaction would.
        let directory = TemporaryDirectory()
        let database = try LevelDB(path: directory.path + "/ledger")
        let previewer = try LedgerExecutor(
            genesis: fixture.genesis, genesisBlock: fixture.genesisBlock, store: try BlockStore(database: database))
        for transaction in transactions { previewer.markVerified(transaction.id) }
        let block = fixture.child(
            of: fixture.genesisBlock,
            parentCertificate: .genesis(chainID: fixture.chainID, blockID: fixture.genesisBlock.id), round: 1,
            transactions: transactions, executor: previewer)
        #expect(block.header.proposer == leader)
        let proposal = Proposal(
            block: block, timeoutCertificate: nil,
            signature: leaderKey.signature(for: Proposal.signingBytes(blockID: block.id), domain: .proposal))
        let bytes = NodeMessage.consensus(.proposal(proposal)).canonicalBytes
        engine.eventLoop.execute { engine.assumeIsolated { $0.receive(bytes, from: leader) } }

        _ = await engine.status()
        let deadline = ContinuousClock.now + wait
        while sent.withLockedValue({ $0.isEmpty }), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        await cluster.stopAll()
        return sent.withLockedValue { $0 }.filter { $0.data.round == 1 }
    }

    @Test("a proposal whose signatures all hold is executed and voted for")
    func validProposal() async throws {
        let votes = try await votes(for: { [$0.notarize(sequence: 1), $0.notarize(sequence: 2)] }, wait: .seconds(30))
        #expect(votes.count == 1)
    }

    @Test("one forged signature in a proposal makes its block invalid: no vote")
    func forgedProposal() async throws {
        let votes = try await votes(
            for: { [$0.notarize(sequence: 1), $0.forged($0.notarize(sequence: 2))] }, wait: .seconds(1))
        #expect(votes.isEmpty)
    }
}
