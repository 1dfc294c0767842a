public import EnsureCrypto

/// Where the application keeps its state in the key-value store, beside the block store's namespaces. Every
/// key starts with `app/` or `merkle/`; docs/storage.md lists them.
public enum StateKeys {
    /// `app/seq/` ‖ signer → the signer's next sequence (8 bytes, big-endian).
    public static let sequencePrefix = Array("app/seq/".utf8)
    /// `app/tx/` ‖ transaction id → ``TransactionReceipt``.
    public static let receiptPrefix = Array("app/tx/".utf8)
    /// `app/notary/` ‖ SHA-256 → the first notarization of that digest.
    public static let notarizationPrefix = Array("app/notary/".utf8)
    /// `app/org/` ‖ name → ``OrganizationRecord``.
    public static let organizationPrefix = Array("app/org/".utf8)
    /// `app/orgname/` ‖ name → empty: the name was used by a member once; names are never reused, so a removed
    /// organization's votes, plugins and incidents can never be mistaken for a newcomer's.
    public static let organizationNamePrefix = Array("app/orgname/".utf8)
    /// `app/role/` ‖ Ed25519 key → ``KeyRole``: what a signing key is on this ledger.
    public static let rolePrefix = Array("app/role/".utf8)
    /// `app/sealkey/` ‖ X25519 key → the organization or regulator that may receive sealed details under it.
    public static let sealKeyPrefix = Array("app/sealkey/".utf8)
    /// `app/validator/` ‖ node key → ``ValidatorRecord`` (the validator set governance decided).
    public static let validatorPrefix = Array("app/validator/".utf8)
    /// `app/validatorset` → the ``ValidatorSet`` governance decided (it takes effect at the next epoch boundary).
    public static let validatorSet = Array("app/validatorset".utf8)
    /// `app/epoch` → the epoch whose validator set is active (8 bytes, big-endian).
    public static let epoch = Array("app/epoch".utf8)
    /// `app/epochs/` ‖ epoch (8 bytes, big-endian) → that epoch's ``ValidatorSet`` (kept for sync and audit).
    public static let epochValidatorsPrefix = Array("app/epochs/".utf8)
    /// `app/plugin/` ‖ key → ``PluginRecord``.
    public static let pluginPrefix = Array("app/plugin/".utf8)
    /// `app/issuer/` ‖ identifier → ``IssuerRecord``.
    public static let issuerPrefix = Array("app/issuer/".utf8)
    /// `app/issuerused/` ‖ identifier length (2 bytes, big-endian) ‖ identifier ‖ 0x01 ‖ kid, or ‖ 0x02 ‖ x ‖ y →
    /// empty: a key id or P-256 key an issuer's record once held and dropped when it expired. Neither is ever
    /// added again, so a retired kid is never reused and a revoked key never comes back under a new kid.
    public static let issuerUsedPrefix = Array("app/issuerused/".utf8)
    /// `app/regulator/` ‖ key → ``RegulatorRecord``.
    public static let regulatorPrefix = Array("app/regulator/".utf8)
    /// `app/statuslist/` ‖ status list URI → ``StatusListEntry``: the latest version an issuer published.
    public static let statusListPrefix = Array("app/statuslist/".utf8)
    /// `app/params` → ``GenesisParameters`` in force.
    public static let parameters = Array("app/params".utf8)
    /// `app/members` → number of member organizations (8 bytes, big-endian).
    public static let memberCount = Array("app/members".utf8)
    /// `app/proposal/` ‖ proposal id → ``ProposalRecord``.
    public static let proposalPrefix = Array("app/proposal/".utf8)
    /// `app/incident/` ‖ organization ‖ 0x00 ‖ incident id → ``IncidentState``.
    public static let incidentPrefix = Array("app/incident/".utf8)
    /// `app/ilog/size` → incident-log size (8 bytes, big-endian).
    public static let incidentLogSize = Array("app/ilog/size".utf8)
    /// `app/ilog/leaf/` ‖ index (8 bytes, big-endian) → the leaf's ``IncidentLogEntry`` bytes.
    public static let incidentLeafPrefix = Array("app/ilog/leaf/".utf8)
    /// Incident indexes, each ending in detection time (8 bytes, big-endian) ‖ report leaf (8 bytes, big-endian)
    /// and holding the incident's key suffix (organization ‖ 0x00 ‖ id): `idx/incident/all/`,
    /// `idx/incident/org/` ‖ organization ‖ 0x00, `idx/incident/reporter/` ‖ key, `idx/incident/class/` ‖ RSIT
    /// class ‖ 0x00, `idx/incident/severity/` ‖ OCSF id (1 byte), `idx/incident/status/` ‖ status (1 byte).
    public enum IncidentIndex {
        /// Every incident.
        public static let all = Array("idx/incident/all/".utf8)
        /// By organization.
        public static func organization(_ name: String) -> [UInt8] {
            Array("idx/incident/org/".utf8) + Array(name.utf8) + [0]
        }
        /// By reporting key (a plugin or an admin).
        public static func reporter(_ key: Ed25519PublicKey) -> [UInt8] {
            Array("idx/incident/reporter/".utf8) + key.bytes
        }
        /// By RSIT class (the part of the category before `/`).
        public static func category(_ rsitClass: String) -> [UInt8] {
            Array("idx/incident/class/".utf8) + Array(rsitClass.utf8) + [0]
        }
        /// By severity.
        public static func severity(_ severity: IncidentSeverity) -> [UInt8] {
            Array("idx/incident/severity/".utf8) + [severity.rawValue]
        }
        /// By status.
        public static func status(_ status: IncidentStatus) -> [UInt8] {
            Array("idx/incident/status/".utf8) + [status.rawValue]
        }
        /// The suffix every index entry of an incident ends with.
        public static func suffix(detectedAt: UInt64, leaf: UInt64) -> [UInt8] {
            bigEndian(detectedAt) + bigEndian(leaf)
        }
    }

    /// `note/tx/` ‖ transaction id → the sentence explaining a failed transaction (outside the state root).
    public static let receiptNotePrefix = Array("note/tx/".utf8)
    /// `note/proposal/` ‖ proposal id → why a passed proposal's action failed (outside the state root).
    public static let proposalNotePrefix = Array("note/proposal/".utf8)

    /// The key of a failed transaction's explanation.
    public static func receiptNote(_ id: Digest) -> [UInt8] { joined(receiptNotePrefix, id) }
    /// The key of a failed proposal's explanation.
    public static func proposalNote(_ id: Digest) -> [UInt8] { joined(proposalNotePrefix, id) }

    /// `merkle/` ‖ level (1 byte) ‖ index (8 bytes, big-endian) → a perfect-subtree hash of the incident log.
    public static let merkleNodePrefix = Array("merkle/".utf8)

    /// `prefix` ‖ the digest's 32 bytes, copied from the inline value in one allocation.
    private static func joined(_ prefix: [UInt8], _ digest: Digest) -> [UInt8] {
        var key = prefix
        key.reserveCapacity(prefix.count + Digest.byteCount)
        digest.withUnsafeBytes { key.append(contentsOf: $0) }
        return key
    }

    /// `prefix` ‖ the key's 32 bytes, copied from the inline value in one allocation.
    private static func joined(_ prefix: [UInt8], _ signer: Ed25519PublicKey) -> [UInt8] {
        var key = prefix
        key.reserveCapacity(prefix.count + Ed25519PublicKey.byteCount)
        signer.withUnsafeBytes { key.append(contentsOf: $0) }
        return key
    }

    /// The key of a signer's next sequence.
    public static func sequence(_ signer: Ed25519PublicKey) -> [UInt8] { joined(sequencePrefix, signer) }
    /// The key of a transaction's receipt.
    public static func receipt(_ id: Digest) -> [UInt8] { joined(receiptPrefix, id) }
    /// The key of a digest's notarization.
    public static func notarization(_ digest: Digest) -> [UInt8] { joined(notarizationPrefix, digest) }
    /// The key of an organization.
    public static func organization(_ name: String) -> [UInt8] { organizationPrefix + Array(name.utf8) }
    /// The key marking an organization name as used.
    public static func organizationName(_ name: String) -> [UInt8] { organizationNamePrefix + Array(name.utf8) }
    /// The key of a signing key's role.
    public static func role(_ key: Ed25519PublicKey) -> [UInt8] { joined(rolePrefix, key) }
    /// The key of a sealed-detail recipient key.
    public static func sealKey(_ key: X25519PublicKey) -> [UInt8] { sealKeyPrefix + key.bytes }
    /// The key of a validator.
    public static func validator(_ key: Ed25519PublicKey) -> [UInt8] { joined(validatorPrefix, key) }
    /// The key of an epoch's validator set.
    public static func epochValidators(_ epoch: UInt64) -> [UInt8] { epochValidatorsPrefix + bigEndian(epoch) }
    /// The key of a plugin.
    public static func plugin(_ key: Ed25519PublicKey) -> [UInt8] { joined(pluginPrefix, key) }
    /// The key of an issuer.
    public static func issuer(_ identifier: String) -> [UInt8] { issuerPrefix + Array(identifier.utf8) }
    /// The marker of a key id `issuer` used once.
    public static func issuerUsedKeyID(_ issuer: String, _ keyID: String) -> [UInt8] {
        issuerUsed(issuer) + [1] + Array(keyID.utf8)
    }
    /// The marker of a P-256 key `issuer` used once.
    public static func issuerUsedPoint(_ issuer: String, x: [UInt8], y: [UInt8]) -> [UInt8] {
        issuerUsed(issuer) + [2] + x + y
    }
    private static func issuerUsed(_ issuer: String) -> [UInt8] {
        let identifier = Array(issuer.utf8)
        return issuerUsedPrefix + [
            UInt8(truncatingIfNeeded: identifier.count >> 8), UInt8(truncatingIfNeeded: identifier.count),
        ]
            + identifier
    }
    /// The key of a status list.
    public static func statusList(_ uri: String) -> [UInt8] { statusListPrefix + Array(uri.utf8) }
    /// The key of a regulator.
    public static func regulator(_ key: Ed25519PublicKey) -> [UInt8] { joined(regulatorPrefix, key) }
    /// The key of a proposal.
    public static func proposal(_ id: Digest) -> [UInt8] { joined(proposalPrefix, id) }
    /// The key of an incident.
    public static func incident(organization: String, id: String) -> [UInt8] {
        incidentPrefix + Array(organization.utf8) + [0] + Array(id.utf8)
    }
    /// The key of an incident-log leaf.
    public static func incidentLeaf(_ index: UInt64) -> [UInt8] { incidentLeafPrefix + bigEndian(index) }
    /// The key of an incident-log node.
    public static func merkleNode(_ position: MerkleNodePosition) -> [UInt8] {
        merkleNodePrefix + [position.level] + bigEndian(position.index)
    }

    /// `value` as 8 big-endian bytes, so that keys sort by number.
    public static func bigEndian(_ value: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) }
    }

    /// Reads 8 big-endian bytes.
    public static func uint64(_ bytes: [UInt8]) -> UInt64? {
        guard bytes.count == 8 else { return nil }
        return bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }
}
