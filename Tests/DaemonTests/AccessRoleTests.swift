import API
import Codec
import Daemon
import EnsureCrypto
import Ledger
import Testing

/// The committed role access control asks for, over a real LevelDB chain: admins and plugins of members have
/// theirs, strangers none, and a plugin removed by governance loses its role with the block that removes it.
@Suite("Access roles from committed state")
struct AccessRoleTests {
    @Test("admins and a registered plugin have their roles; a removed plugin and a stranger have none")
    func roles() throws {
        let chain = try IncidentChain(incidentCount: 6)
        let admin0 = chain.fixture.adminKeys[0]
        let admin1 = chain.fixture.adminKeys[1]
        #expect(try chain.queries.role(of: admin0.publicKey) == .organizationAdmin(organization: "org-0"))
        #expect(try chain.queries.role(of: admin1.publicKey) == .organizationAdmin(organization: "org-1"))
        #expect(try chain.queries.role(of: chain.plugin.publicKey) == .plugin(organization: "org-0"))
        let stranger = Ed25519PrivateKey(seed: [UInt8](repeating: 55, count: 32))!
        #expect(try chain.queries.role(of: stranger.publicKey) == nil)
        // Validator node keys are not members for access.
        #expect(try chain.queries.role(of: chain.fixture.validatorKeys[0].publicKey) == nil)

        let removal = chain.transaction(
            admin0, .governancePropose,
            ProposePayload(action: .removePlugin(key: chain.plugin.publicKey), rationale: "retired").canonicalBytes)
        try chain.commit([removal])
        #expect(try chain.queries.role(of: chain.plugin.publicKey) == .plugin(organization: "org-0"))
        try chain.commit([
            chain.transaction(admin1, .governanceVote, VotePayload(proposal: removal.id, approve: true).canonicalBytes)
        ])
        #expect(try chain.queries.role(of: chain.plugin.publicKey) == nil)
        #expect(try chain.queries.role(of: admin0.publicKey) == .organizationAdmin(organization: "org-0"))
    }
}
