public import API
public import EnsureCrypto
public import Ledger

/// The ledger queries of ``NodeService``. Each one reads a LevelDB snapshot off the actor, so a slow query never
/// holds up consensus and never waits for it.
extension NodeEngine {
    public nonisolated func organizations() async throws(LedgerQueryError) -> CommittedRead<[OrganizationRecord]> {
        try queries.organizations()
    }

    public nonisolated func validators() async throws(LedgerQueryError) -> CommittedRead<[ValidatorRecord]> {
        try queries.validators()
    }

    public nonisolated func plugins() async throws(LedgerQueryError) -> CommittedRead<[PluginRecord]> {
        try queries.plugins()
    }

    public nonisolated func issuers() async throws(LedgerQueryError) -> CommittedRead<[IssuerRecord]> {
        try queries.issuers()
    }

    public nonisolated func issuer(identifier: String) async throws(LedgerQueryError) -> CommittedRead<IssuerRecord?> {
        try queries.issuer(identifier: identifier)
    }

    public nonisolated func regulators() async throws(LedgerQueryError) -> CommittedRead<[RegulatorRecord]> {
        try queries.regulators()
    }

    public nonisolated func parameters() async throws(LedgerQueryError) -> CommittedRead<GenesisParameters> {
        try queries.parameters()
    }

    public nonisolated func proposals(status: ProposalStatusName?) async throws(LedgerQueryError)
        -> CommittedRead<[ProposalRecord]>
    {
        try queries.proposals(status: status)
    }

    public nonisolated func proposal(id: Digest) async throws(LedgerQueryError) -> CommittedRead<ProposalRecord?> {
        try queries.proposal(id: id)
    }

    public nonisolated func incidents(_ query: IncidentQuery) async throws(LedgerQueryError) -> IncidentPage {
        try queries.incidents(query)
    }

    public nonisolated func incident(organization: String, id: String) async throws(LedgerQueryError)
        -> CommittedRead<IncidentDetail?>
    {
        try queries.incident(organization: organization, id: id)
    }

    public nonisolated func incidentLogCheckpoint() async throws(LedgerQueryError) -> IncidentLogCheckpoint {
        try queries.incidentLogCheckpoint()
    }

    public nonisolated func incidentLogLeaf(at index: UInt64) async throws(LedgerQueryError)
        -> CommittedRead<IncidentLogLeaf?>
    {
        try queries.incidentLogLeaf(at: index)
    }

    public nonisolated func incidentInclusionProof(leaf: UInt64, treeSize: UInt64?) async throws(LedgerQueryError)
        -> InclusionProofAnswer
    {
        try queries.incidentInclusionProof(leaf: leaf, treeSize: treeSize)
    }

    public nonisolated func incidentConsistencyProof(oldSize: UInt64, newSize: UInt64?) async throws(LedgerQueryError)
        -> ConsistencyProofAnswer
    {
        try queries.incidentConsistencyProof(oldSize: oldSize, newSize: newSize)
    }
}

extension NodeEngine {
    /// The committed role of `key`, read from one snapshot off the actor (``LedgerQueries/role(of:)``); nil also
    /// when state cannot be read, so access control then refuses.
    public nonisolated func role(of key: Ed25519PublicKey) async -> KeyRole? {
        try? queries.role(of: key)
    }
}

extension LedgerQueries {
    /// What `key` is in committed state, read from one snapshot. An organization admin or plugin key counts only
    /// while its organization is a member: removing an organization leaves its plugins' roles in state.
    public func role(of key: Ed25519PublicKey) throws(LedgerQueryError) -> KeyRole? {
        let view = try view()
        guard let role = try view.load(KeyRole.self, StateKeys.role(key)) else { return nil }
        if let organization = role.organization, try view.get(StateKeys.organization(organization)) == nil {
            return nil
        }
        return role
    }
}
