import Codec
import EnsureCrypto

extension LedgerApplication {
    /// How far in the future of the block time a detection time may be (clocks of detectors drift).
    static let detectionClockSkewMilliseconds: UInt64 = 5 * 60 * 1000

    static func report<Base>(
        _ record: IncidentRecord, tx: Transaction, organization: String, context: Context, logSize: UInt64,
        state: inout StateOverlay<Base>
    ) throws(TransactionFailure) -> IncidentLogEntry? {
        let key = StateKeys.incident(organization: organization, id: record.id)
        let digest = SHA256.hash(record.canonicalBytes)
        if let existing = try load(IncidentState.self, key, in: state) {
            // Resubmitting the same record (a plugin retrying after a lost answer) is not an error.
            guard existing.recordDigest == digest else {
                throw .conflict("incident \(organization):\(record.id) was reported with different content")
            }
            return nil
        }
        guard SecurityIncidentTaxonomy.isValid(record.category) else {
            throw .init(
                "invalid-category", "category \"\(record.category)\" is not an ENISA RSIT class/type")
        }
        // Saturating: a block time near the top of UInt64 must not trap (nothing bounds a header's time from above).
        let latest = context.timestamp.addingReportingOverflow(detectionClockSkewMilliseconds)
        guard latest.overflow || record.detectedAt <= latest.partialValue else {
            throw .invalidPayload("detectedAt \(record.detectedAt) is later than the block time \(context.timestamp)")
        }
        for (i, detail) in record.sealedDetails.enumerated() {
            guard let recipient = X25519PublicKey(bytes: detail.recipient),
                try exists(StateKeys.sealKey(recipient), in: state)
            else {
                throw .init(
                    "unknown-recipient",
                    "sealedDetails[\(i)] is sealed to a key no organization or regulator registered")
            }
        }
        let links = try resolve(record.links, of: organization, selfID: record.id, state: state)
        let entry = IncidentLogEntry(
            height: context.height, timestamp: context.timestamp, organization: organization, transaction: tx)
        let incident = IncidentState(
            organization: organization, id: record.id, reporter: tx.signer, recordDigest: digest, reportLeaf: logSize,
            reportedHeight: context.height, reportedAt: context.timestamp, status: .open, updateLeaves: [],
            links: links)
        state.set(key, incident.canonicalBytes)
        let suffix = StateKeys.IncidentIndex.suffix(detectedAt: record.detectedAt, leaf: logSize)
        let target = Array(key.dropFirst(StateKeys.incidentPrefix.count))
        let rsitClass = String(record.category.prefix { $0 != "/" })
        for prefix in [
            StateKeys.IncidentIndex.all, StateKeys.IncidentIndex.organization(organization),
            StateKeys.IncidentIndex.reporter(tx.signer), StateKeys.IncidentIndex.category(rsitClass),
            StateKeys.IncidentIndex.severity(record.severity), StateKeys.IncidentIndex.status(.open),
        ] {
            state.set(prefix + suffix, target)
        }
        return entry
    }

    static func update<Base>(
        _ update: IncidentUpdatePayload, tx: Transaction, organization: String, context: Context, logSize: UInt64,
        state: inout StateOverlay<Base>
    ) throws(TransactionFailure) -> IncidentLogEntry? {
        let key = StateKeys.incident(organization: organization, id: update.incidentID)
        guard var incident = try load(IncidentState.self, key, in: state) else {
            throw .notFound("incident \(organization):\(update.incidentID) does not exist")
        }
        let existing = Set(incident.links)
        let newLinks = try resolve(update.links, of: organization, selfID: update.incidentID, state: state)
            .filter { !existing.contains($0) }
        guard update.status != incident.status || !newLinks.isEmpty else {
            throw .init(
                "invalid-transition", "incident \(organization):\(update.incidentID) is already \(incident.status.name)"
            )
        }
        guard isAllowed(from: incident.status, to: update.status) else {
            throw .init(
                "invalid-transition",
                "incident \(organization):\(update.incidentID) cannot go from \(incident.status.name) to \(update.status.name)"
            )
        }
        guard incident.updateLeaves.count < IncidentState.maxUpdates else {
            throw .init(
                "limit", "incident \(organization):\(update.incidentID) has \(IncidentState.maxUpdates) updates")
        }
        let links = Set(incident.links).union(newLinks)
        guard links.count <= IncidentState.maxLinks else {
            throw .init(
                "limit",
                "incident \(organization):\(update.incidentID) would have more than \(IncidentState.maxLinks) links")
        }
        if incident.status != update.status {
            // The status index moves with the status; the detection time is the record's, kept in the all index.
            let target = Array(key.dropFirst(StateKeys.incidentPrefix.count))
            let suffix = try statusIndexSuffix(of: incident, target: target, state: state)
            state.delete(StateKeys.IncidentIndex.status(incident.status) + suffix)
            state.set(StateKeys.IncidentIndex.status(update.status) + suffix, target)
        }
        incident.status = update.status
        incident.updateLeaves.append(logSize)
        incident.links = links.sorted(by: IncidentReference.precedes)
        state.set(key, incident.canonicalBytes)
        return IncidentLogEntry(
            height: context.height, timestamp: context.timestamp, organization: organization, transaction: tx)
    }

    /// The index suffix of `incident`: its record's detection time (read from its report leaf) and leaf index.
    static func statusIndexSuffix(of incident: IncidentState, target: [UInt8], state: some LedgerStateReader)
        throws(TransactionFailure) -> [UInt8]
    {
        guard let entry = try load(IncidentLogEntry.self, StateKeys.incidentLeaf(incident.reportLeaf), in: state),
            let record = try? IncidentRecord.decode(canonical: entry.transaction.payload, field: "record")
        else {
            throw TransactionFailure(stateFailureCode, "incident leaf \(incident.reportLeaf) is missing or corrupt")
        }
        return StateKeys.IncidentIndex.suffix(detectedAt: record.detectedAt, leaf: incident.reportLeaf)
    }

    /// The lifecycle: open → acknowledged → mitigating → resolved or false positive, skipping steps allowed;
    /// a closed incident may be reopened. A status may be kept (an update that only adds links).
    static func isAllowed(from old: IncidentStatus, to new: IncidentStatus) -> Bool {
        if old == new { return true }
        switch old {
        case .open: return true
        case .acknowledged: return new == .mitigating || new == .resolved || new == .falsePositive
        case .mitigating: return new == .resolved || new == .falsePositive
        case .resolved, .falsePositive: return new == .open
        }
    }

    /// Parses links and checks each names an incident that exists (other than the incident itself).
    static func resolve(_ links: [String], of organization: String, selfID: String, state: some LedgerStateReader)
        throws(TransactionFailure) -> [IncidentReference]
    {
        var references: [IncidentReference] = []
        for (i, link) in links.enumerated() {
            guard let reference = IncidentReference(link: link, defaultOrganization: organization) else {
                throw .init("invalid-link", "links[\(i)] \"\(link)\" names no incident")
            }
            guard reference != IncidentReference(organization: organization, id: selfID) else {
                throw .init("invalid-link", "links[\(i)] links the incident to itself")
            }
            guard try exists(StateKeys.incident(organization: reference.organization, id: reference.id), in: state)
            else {
                throw .init("invalid-link", "links[\(i)] names \(reference), which does not exist")
            }
            references.append(reference)
        }
        return Set(references).sorted(by: IncidentReference.precedes)
    }
}
