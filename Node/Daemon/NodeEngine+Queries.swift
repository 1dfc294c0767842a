public import API
public import EnsureCrypto
public import Ledger

/// The ledger queries of ``NodeService``. Each one borrows the block store from the actor for a moment and then
/// reads a LevelDB snapshot off the actor, so a slow query never holds up consensus.
extension NodeEngine {
    private func ledgerQueries() -> LedgerQueries { LedgerQueries(store: executor.store) }

    public nonisolated func organizations() async throws(LedgerQueryError) -> CommittedRead<[OrganizationRecord]> {
        try await ledgerQueries().organizations()
    }

    public nonisolated func validators() async throws(LedgerQueryError) -> CommittedRead<[ValidatorRecord]> {
        try await ledgerQueries().validators()
    }

    public nonisolated func plugins() async throws(LedgerQueryError) -> CommittedRead<[PluginRecord]> {
        try await ledgerQueries().plugins()
    }

    public nonisolated func issuers() async throws(LedgerQueryError) -> CommittedRead<[IssuerRecord]> {
        try await ledgerQueries().issuers()
    }

    public nonisolated func issuer(identifier: String) async throws(LedgerQueryError) -> CommittedRead<IssuerRecord?> {
        try await ledgerQueries().issuer(identifier: identifier)
    }

    public nonisolated func regulators() async throws(LedgerQueryError) -> CommittedRead<[RegulatorRecord]> {
        try await ledgerQueries().regulators()
    }

    public nonisolated func parameters() async throws(LedgerQueryError) -> CommittedRead<GenesisParameters> {
        try await ledgerQueries().parameters()
    }

    public nonisolated func proposals(status: ProposalStatusName?) async throws(LedgerQueryError)
        -> CommittedRead<[ProposalRecord]>
    {
        try await ledgerQueries().proposals(status: status)
    }

    public nonisolated func proposal(id: Digest) async throws(LedgerQueryError) -> CommittedRead<ProposalRecord?> {
        try await ledgerQueries().proposal(id: id)
    }

    public nonisolated func incidents(_ query: IncidentQuery) async throws(LedgerQueryError) -> IncidentPage {
        try await ledgerQueries().incidents(query)
    }

    public nonisolated func incident(organization: String, id: String) async throws(LedgerQueryError)
        -> CommittedRead<IncidentDetail?>
    {
        try await ledgerQueries().incident(organization: organization, id: id)
    }

    public nonisolated func incidentLogCheckpoint() async throws(LedgerQueryError) -> IncidentLogCheckpoint {
        try await ledgerQueries().incidentLogCheckpoint()
    }

    public nonisolated func incidentLogLeaf(at index: UInt64) async throws(LedgerQueryError)
        -> CommittedRead<IncidentLogLeaf?>
    {
        try await ledgerQueries().incidentLogLeaf(at: index)
    }

    public nonisolated func incidentInclusionProof(leaf: UInt64, treeSize: UInt64?) async throws(LedgerQueryError)
        -> InclusionProofAnswer
    {
        try await ledgerQueries().incidentInclusionProof(leaf: leaf, treeSize: treeSize)
    }

    public nonisolated func incidentConsistencyProof(oldSize: UInt64, newSize: UInt64?) async throws(LedgerQueryError)
        -> ConsistencyProofAnswer
    {
        try await ledgerQueries().incidentConsistencyProof(oldSize: oldSize, newSize: newSize)
    }
}

extension NodeEngine {
    /// The committed role of `key`, read from one snapshot off the actor (``LedgerQueries/role(of:)``); nil also
    /// when state cannot be read, so access control then refuses.
    public nonisolated func role(of key: Ed25519PublicKey) async -> KeyRole? {
        try? await ledgerQueries().role(of: key)
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
