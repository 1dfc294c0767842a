import Codec
import EnsureCrypto

extension LedgerApplication {
    // MARK: Proposals and votes

    static func propose<Base>(
        _ payload: ProposePayload, id: Digest, organization: String, context: Context, state: inout StateOverlay<Base>
    ) throws(TransactionFailure) {
        try check(payload.action, in: state)
        var record = ProposalRecord(
            id: id, proposer: organization, action: payload.action, rationale: payload.rationale,
            createdHeight: context.height,
            expiresHeight: context.height.addingReportingOverflow(context.parameters.proposalExpiryBlocks).overflow
                ? .max : context.height + context.parameters.proposalExpiryBlocks,
            votes: [(organization, true)], storedStatus: .open, decidedHeight: nil)
        try tally(&record, context: context, state: &state)
    }

    static func vote<Base>(
        _ payload: VotePayload, organization: String, context: Context, state: inout StateOverlay<Base>
    ) throws(TransactionFailure) {
        guard var record = try load(ProposalRecord.self, StateKeys.proposal(payload.proposal), in: state) else {
            throw .notFound("proposal \(payload.proposal.hex) does not exist")
        }
        switch record.status(at: context.height) {
        case .open: break
        case .expired:
            throw .init("expired", "proposal \(payload.proposal.hex) expired at height \(record.expiresHeight)")
        case let status:
            throw .init("decided", "proposal \(payload.proposal.hex) is already \(status.name)")
        }
        if let earlier = record.votes.first(where: { $0.organization == organization }) {
            // The same vote again counts the votes anew: membership may have changed since (a member removed can
            // make the votes already cast enough). Anything else is a second vote.
            let before = record.storedStatus
            if earlier.approve == payload.approve {
                try tally(&record, context: context, state: &state)
                if record.storedStatus != before { return }
            }
            throw .init("already-voted", "\(organization) already voted on proposal \(payload.proposal.hex)")
        }
        record.votes.append((organization, payload.approve))
        record.votes.sort { $0.organization < $1.organization }
        try tally(&record, context: context, state: &state)
    }

    /// Counts the votes of current members; applies the action once more than two thirds approve, rejects the
    /// proposal once that can no longer happen, and stores it.
    static func tally<Base>(_ record: inout ProposalRecord, context: Context, state: inout StateOverlay<Base>)
        throws(TransactionFailure)
    {
        let members = try count(StateKeys.memberCount, in: state)
        var approvals: UInt64 = 0
        var refusals: UInt64 = 0
        for vote in record.votes where try exists(StateKeys.organization(vote.organization), in: state) {
            if vote.approve { approvals += 1 } else { refusals += 1 }
        }
        if approvals * 3 > members * 2 {
            let checkpoint = state.checkpoint
            do throws(TransactionFailure) {
                try check(record.action, in: state)
                try execute(record.action, height: context.height, state: &state)
                record.storedStatus = .passed
            } catch {
                guard error.code != stateFailureCode else { throw error }
                state.rollback(to: checkpoint)
                // The code is state; the sentence is a note beside it, outside the state root.
                record.storedStatus = .failed(reason: error.code)
                state.note(StateKeys.proposalNote(record.id), error.reason)
            }
            record.decidedHeight = context.height
        } else if (members - min(refusals, members)) * 3 <= members * 2 {
            record.storedStatus = .rejected
            record.decidedHeight = context.height
        }
        state.set(StateKeys.proposal(record.id), record.canonicalBytes)
    }

    // MARK: Actions

    /// Whether `action` could be applied to `state` now; throws why not.
    static func check(_ action: GovernanceAction, in state: some LedgerStateReader) throws(TransactionFailure) {
        func invalid(_ reason: String) -> TransactionFailure { .init("invalid-action", reason) }
        func requireMember(_ name: String) throws(TransactionFailure) {
            guard try exists(StateKeys.organization(name), in: state) else {
                throw invalid("organization \(name) is not a member")
            }
        }
        func requireUnusedKey(_ key: Ed25519PublicKey) throws(TransactionFailure) {
            guard try !exists(StateKeys.role(key), in: state), try !exists(StateKeys.validator(key), in: state) else {
                throw invalid("key \(key.keyID) is already registered")
            }
        }
        func requireUnusedSealKey(_ key: X25519PublicKey?) throws(TransactionFailure) {
            if let key, try exists(StateKeys.sealKey(key), in: state) {
                throw invalid("incident key \(key.hex.prefix(16)) is already registered")
            }
        }
        switch action {
        case .addOrganization(let name, let adminKey, let incidentKey):
            guard try !exists(StateKeys.organization(name), in: state) else {
                throw invalid("organization \(name) is already a member")
            }
            guard try !exists(StateKeys.organizationName(name), in: state) else {
                throw invalid("the name \(name) belonged to a former member; names are never reused")
            }
            guard try count(StateKeys.memberCount, in: state) < UInt64(Genesis.maxMembers) else {
                throw invalid("the consortium has \(Genesis.maxMembers) members, the most a vote can count")
            }
            try requireUnusedKey(adminKey)
            try requireUnusedSealKey(incidentKey)
        case .removeOrganization(let name):
            try requireMember(name)
            guard try count(StateKeys.memberCount, in: state) > 1 else {
                throw invalid("organization \(name) is the last member")
            }
            guard try count(organizationValidatorsKey(name), in: state) == 0 else {
                throw invalid("organization \(name) still runs validators; remove them first")
            }
        case .addValidator(let record):
            try requireMember(record.organization)
            try requireUnusedKey(record.nodeKey)
        case .removeValidator(let key):
            guard let record = try load(ValidatorRecord.self, StateKeys.validator(key), in: state) else {
                throw invalid("\(key.keyID) is not a validator")
            }
            _ = record
            guard try validatorCount(in: state) > 1 else { throw invalid("\(key.keyID) is the last validator") }
        case .addPlugin(let record):
            try requireMember(record.organization)
            try requireUnusedKey(record.key)
            guard !record.name.isEmpty else { throw invalid("a plugin needs a name") }
        case .removePlugin(let key):
            guard try exists(StateKeys.plugin(key), in: state) else { throw invalid("\(key.keyID) is not a plugin") }
        case .addIssuer(let record):
            try requireMember(record.organization)
            guard try !exists(StateKeys.issuer(record.identifier), in: state) else {
                throw invalid("issuer \(record.identifier) is already registered")
            }
            try requireUnusedKey(record.ledgerKey)
        case .delistIssuer(let identifier):
            guard let record = try load(IssuerRecord.self, StateKeys.issuer(identifier), in: state) else {
                throw invalid("issuer \(identifier) is not registered")
            }
            guard !record.delisted else { throw invalid("issuer \(identifier) is already delisted") }
        case .addRegulator(let record):
            try requireUnusedKey(record.key)
            try requireUnusedSealKey(record.incidentKey)
        case .removeRegulator(let key):
            guard try exists(StateKeys.regulator(key), in: state) else {
                throw invalid("\(key.keyID) is not a regulator")
            }
        case .setParameters(let parameters):
            do {
                try parameters.validate()
            } catch {
                throw invalid("\(error)")
            }
        }
    }

    /// Applies a checked action.
    static func execute<Base>(_ action: GovernanceAction, height: UInt64, state: inout StateOverlay<Base>)
        throws(TransactionFailure)
    {
        switch action {
        case .addOrganization(let name, let adminKey, let incidentKey):
            let record = OrganizationRecord(
                name: name, adminKey: adminKey, incidentKey: incidentKey, joinedHeight: height)
            state.set(StateKeys.organization(name), record.canonicalBytes)
            state.set(StateKeys.organizationName(name), [])
            state.set(StateKeys.role(adminKey), KeyRole.organizationAdmin(organization: name).canonicalBytes)
            if let incidentKey { state.set(StateKeys.sealKey(incidentKey), Array("org:\(name)".utf8)) }
            try add(1, to: StateKeys.memberCount, state: &state)
        case .removeOrganization(let name):
            guard let record = try load(OrganizationRecord.self, StateKeys.organization(name), in: state) else {
                return
            }
            state.delete(StateKeys.organization(name))
            state.delete(StateKeys.role(record.adminKey))
            if let key = record.incidentKey { state.delete(StateKeys.sealKey(key)) }
            try add(-1, to: StateKeys.memberCount, state: &state)
        case .addValidator(let record):
            state.set(StateKeys.validator(record.nodeKey), record.canonicalBytes)
            try changeValidatorSet(adding: record.nodeKey, state: &state)
            try add(1, to: organizationValidatorsKey(record.organization), state: &state)
            try add(1, to: validatorCountKey, state: &state)
        case .removeValidator(let key):
            guard let record = try load(ValidatorRecord.self, StateKeys.validator(key), in: state) else { return }
            state.delete(StateKeys.validator(key))
            try changeValidatorSet(removing: key, state: &state)
            try add(-1, to: organizationValidatorsKey(record.organization), state: &state)
            try add(-1, to: validatorCountKey, state: &state)
        case .addPlugin(let record):
            state.set(StateKeys.plugin(record.key), record.canonicalBytes)
            state.set(StateKeys.role(record.key), KeyRole.plugin(organization: record.organization).canonicalBytes)
        case .removePlugin(let key):
            state.delete(StateKeys.plugin(key))
            state.delete(StateKeys.role(key))
        case .addIssuer(let record):
            state.set(StateKeys.issuer(record.identifier), record.canonicalBytes)
            state.set(StateKeys.role(record.ledgerKey), KeyRole.issuer(identifier: record.identifier).canonicalBytes)
        case .delistIssuer(let identifier):
            guard var record = try load(IssuerRecord.self, StateKeys.issuer(identifier), in: state) else { return }
            record.delisted = true
            state.set(StateKeys.issuer(identifier), record.canonicalBytes)
            state.delete(StateKeys.role(record.ledgerKey))
        case .addRegulator(let record):
            state.set(StateKeys.regulator(record.key), record.canonicalBytes)
            state.set(StateKeys.role(record.key), KeyRole.regulator.canonicalBytes)
            if let key = record.incidentKey {
                state.set(StateKeys.sealKey(key), Array("regulator:\(record.key.hex)".utf8))
            }
        case .removeRegulator(let key):
            guard let record = try load(RegulatorRecord.self, StateKeys.regulator(key), in: state) else { return }
            state.delete(StateKeys.regulator(key))
            state.delete(StateKeys.role(key))
            if let sealKey = record.incidentKey { state.delete(StateKeys.sealKey(sealKey)) }
        case .setParameters(let parameters):
            state.set(StateKeys.parameters, parameters.canonicalBytes)
        }
    }

    /// Updates the decided validator set (`app/validatorset`), which the next epoch boundary activates.
    static func changeValidatorSet<Base>(
        adding added: Ed25519PublicKey? = nil, removing removed: Ed25519PublicKey? = nil,
        state: inout StateOverlay<Base>
    ) throws(TransactionFailure) {
        guard let current = try load(ValidatorSet.self, StateKeys.validatorSet, in: state) else {
            throw TransactionFailure(stateFailureCode, "app/validatorset is missing")
        }
        var members = current.members.filter { $0 != removed }
        if let added, !members.contains(added) { members.append(added) }
        guard let next = ValidatorSet(members) else {
            throw TransactionFailure("invalid-action", "the validator set would be empty or too large")
        }
        state.set(StateKeys.validatorSet, next.canonicalBytes)
    }

    /// `app/orgvalidators/` ‖ organization → how many validators it runs.
    static func organizationValidatorsKey(_ name: String) -> [UInt8] { Array("app/orgvalidators/\(name)".utf8) }
    /// `app/validators` → how many validators governance decided (genesis validators included).
    static let validatorCountKey = Array("app/validators".utf8)

    static func validatorCount(in state: some LedgerStateReader) throws(TransactionFailure) -> UInt64 {
        try count(validatorCountKey, in: state)
    }

    static func add<Base>(_ delta: Int64, to key: [UInt8], state: inout StateOverlay<Base>) throws(TransactionFailure) {
        let value = try count(key, in: state)
        state.set(key, StateKeys.bigEndian(UInt64(max(0, Int64(value) + delta))))
    }
}
