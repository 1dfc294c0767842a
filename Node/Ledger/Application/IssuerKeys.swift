public import Codec
import EnsureCrypto

/// One change to an issuer's signing keys, inside an ``IssuerKeysPayload``.
public enum IssuerKeyOperation: Hashable, Sendable {
    /// Add a P-256 key (kid, x, y, notBefore, notAfter). Its kid and its point must be new to the issuer (ever), and
    /// its `notAfter` must lie after the block time and within the issuer's approval.
    case add(IssuerSigningKey)
    /// Retire a key from `from` (milliseconds since 1970) on: credentials it signed with a later `iat` are refused;
    /// those issued before stay acceptable until their own `exp`.
    case retire(keyID: String, from: UInt64)
    /// Revoke a key (compromise): from this block on, everything it signed is refused.
    case revoke(keyID: String)

    /// The key id the operation names.
    public var keyID: String {
        switch self {
        case .add(let key): return key.keyID
        case .retire(let keyID, _), .revoke(let keyID): return keyID
        }
    }
}

/// The payload of a ``TransactionKind/issuerKeys`` transaction: a credential issuer, through its ledger key, adds,
/// retires or revokes signing keys. The operations apply in order and all together, or the transaction fails and
/// changes nothing.
public struct IssuerKeysPayload: Hashable, Sendable {
    /// The only version this build writes and reads.
    public static let version: UInt8 = 1
    /// Most operations in one transaction.
    public static let maxOperations = 8

    /// The issuer's identifier; it must be the one the signing ledger key belongs to.
    public var issuer: String
    /// What to change, in order (1 to ``maxOperations``).
    public var operations: [IssuerKeyOperation]

    /// Creates a payload.
    public init(issuer: String, operations: [IssuerKeyOperation]) {
        self.issuer = issuer
        self.operations = operations
    }
}

extension IssuerKeysPayload: CanonicalCodable {
    public static var maxEncodedSize: Int {
        1 + 2 + RegistryLimits.issuerIdentifierBytes + 1 + maxOperations * (1 + 1 + RegistryLimits.keyIDBytes + 64 + 20)
    }

    /// Version, issuer, then the operations: tag 0 add (kid, x, y, notBefore, notAfter), 1 retire (kid, from), 2
    /// revoke (kid).
    public func encode(to writer: inout CanonicalWriter) {
        writer.writeByte(Self.version)
        writer.writeString(issuer)
        writer.writeArray(operations) { w, operation in
            switch operation {
            case .add(let key):
                w.writeByte(0)
                key.encodeBase(to: &w)
            case .retire(let keyID, let from):
                w.writeByte(1)
                w.writeString(keyID)
                w.writeVarUInt(from)
            case .revoke(let keyID):
                w.writeByte(2)
                w.writeString(keyID)
            }
        }
    }

    public init(from reader: inout CanonicalReader, field: String) throws(CanonicalDecodingError) {
        _ = try reader.readVersion(field: "\(field).version", supported: Self.version...Self.version)
        issuer = try reader.readString(field: "\(field).issuer", maxBytes: RegistryLimits.issuerIdentifierBytes)
        guard !issuer.isEmpty else { throw .invalidValue(field: "\(field).issuer", reason: "must not be empty") }
        operations = try reader.readArray(field: "\(field).operations", maxCount: Self.maxOperations) {
            (r: inout CanonicalReader, i: Int) throws(CanonicalDecodingError) in
            let path = "\(field).operations[\(i)]"
            let tag = try r.readByte(field: "\(path).tag")
            func keyID() throws(CanonicalDecodingError) -> String {
                let keyID = try r.readString(field: "\(path).keyID", maxBytes: RegistryLimits.keyIDBytes)
                guard !keyID.isEmpty else { throw .invalidValue(field: "\(path).keyID", reason: "must not be empty") }
                return keyID
            }
            switch tag {
            case 0: return .add(try IssuerSigningKey.decodeBase(from: &r, field: "\(path).key"))
            case 1: return .retire(keyID: try keyID(), from: try r.readVarUInt(field: "\(path).from"))
            case 2: return .revoke(keyID: try keyID())
            default: throw .invalidTag(field: "\(path).tag", tag: UInt64(tag))
            }
        }
        guard !operations.isEmpty else {
            throw .invalidValue(field: "\(field).operations", reason: "at least one operation is required")
        }
    }
}

extension LedgerApplication {
    /// Applies an `issuer-keys` transaction of the issuer `identifier` (the signer's role). Checks, in order: the
    /// payload names that issuer, which is registered, not delisted and sponsored by a member; then each operation
    /// against the record as the previous ones left it; then that the issuer keeps a usable key and the caps hold.
    /// Entries past their `notAfter` are dropped first, their kid and point remembered as used.
    static func updateIssuerKeys<Base>(
        _ payload: IssuerKeysPayload, issuer identifier: String, context: Context, state: inout StateOverlay<Base>
    ) throws(TransactionFailure) {
        guard payload.issuer.utf8.elementsEqual(identifier.utf8) else {
            throw .unauthorized("the signing key is the ledger key of issuer \(identifier), not of \(payload.issuer)")
        }
        guard var record = try load(IssuerRecord.self, StateKeys.issuer(identifier), in: state), !record.delisted
        else {
            throw .unauthorized("issuer \(identifier) is not registered or was delisted")
        }
        // A revocation is never blocked: not by a sponsor that left (its credentials must still be stoppable), not
        // by leaving no usable key, not by the caps (revoking only marks entries).
        let revokesOnly = payload.operations.allSatisfy {
            if case .revoke = $0 { return true } else { return false }
        }
        let sponsored = try exists(StateKeys.organization(record.organization), in: state)
        guard sponsored || revokesOnly else {
            throw .unauthorized(
                "issuer \(identifier)'s sponsoring organization \(record.organization) is no longer a member")
        }
        let now = context.timestamp
        let usableBefore = record.signingKeys.filter { $0.isUsable(at: now) }.count

        // Keys that can no longer verify anything leave the record; their kid and point stay used forever.
        for key in record.signingKeys where key.notAfter <= now {
            state.set(StateKeys.issuerUsedKeyID(identifier, key.keyID), [])
            state.set(StateKeys.issuerUsedPoint(identifier, x: key.x, y: key.y), [])
        }
        record.signingKeys.removeAll { $0.notAfter <= now }

        for (index, operation) in payload.operations.enumerated() {
            let field = "payload.operations[\(index)]"
            let position = record.signingKeys.firstIndex { $0.keyID.utf8.elementsEqual(operation.keyID.utf8) }
            switch operation {
            case .add(let key):
                guard position == nil, try !exists(StateKeys.issuerUsedKeyID(identifier, key.keyID), in: state)
                else {
                    throw .conflict(
                        "\(field): issuer \(identifier) already used key id \(key.keyID); a kid is never reused")
                }
                guard !record.signingKeys.contains(where: { $0.x == key.x && $0.y == key.y }),
                    try !exists(StateKeys.issuerUsedPoint(identifier, x: key.x, y: key.y), in: state)
                else {
                    throw .conflict("\(field): issuer \(identifier) already used this P-256 key under another kid")
                }
                guard key.notAfter > now else {
                    throw .invalidPayload("\(field).key.notAfter \(key.notAfter) is not after the block time \(now)")
                }
                guard key.notBefore >= record.validFrom, key.notAfter <= record.validUntil else {
                    throw .invalidPayload(
                        "\(field).key: its window \(key.notBefore)...\(key.notAfter) is not within the issuer's "
                            + "approval \(record.validFrom)...\(record.validUntil)")
                }
                record.signingKeys.append(
                    IssuerSigningKey(
                        keyID: key.keyID, x: key.x, y: key.y, notBefore: key.notBefore, notAfter: key.notAfter))
            case .retire(let keyID, let from):
                guard let position else { throw .notFound("\(field): issuer \(identifier) has no key \(keyID)") }
                let key = record.signingKeys[position]
                guard key.revokedAt == nil else {
                    throw TransactionFailure("invalid-transition", "\(field): key \(keyID) is revoked")
                }
                guard key.retiredFrom == nil else {
                    throw TransactionFailure(
                        "invalid-transition", "\(field): key \(keyID) is already retired from \(key.retiredFrom!)")
                }
                guard from >= key.notBefore, from < key.notAfter else {
                    throw .invalidPayload(
                        "\(field).from \(from) is not within key \(keyID)'s window \(key.notBefore)..<\(key.notAfter)")
                }
                record.signingKeys[position].retiredFrom = from
            case .revoke(let keyID):
                guard let position else { throw .notFound("\(field): issuer \(identifier) has no key \(keyID)") }
                guard record.signingKeys[position].revokedAt == nil else {
                    throw TransactionFailure("invalid-transition", "\(field): key \(keyID) is already revoked")
                }
                record.signingKeys[position].revokedAt = now
            }
        }

        guard !record.signingKeys.isEmpty else {
            throw TransactionFailure("invalid-transition", "issuer \(identifier) would hold no signing key")
        }
        let usable = record.signingKeys.filter { $0.isUsable(at: now) }.count
        guard usable > 0 || usableBefore == 0 || revokesOnly else {
            throw TransactionFailure(
                "invalid-transition",
                "issuer \(identifier) would have no usable signing key; add one in the same transaction")
        }
        guard usable <= RegistryLimits.issuerKeys else {
            throw TransactionFailure(
                "limit", "issuer \(identifier) would have \(usable) usable keys, more than \(RegistryLimits.issuerKeys)"
            )
        }
        guard record.signingKeys.count <= RegistryLimits.issuerKeyEntries else {
            throw TransactionFailure(
                "limit",
                "issuer \(identifier) would hold \(record.signingKeys.count) keys (usable, retired and revoked), "
                    + "more than \(RegistryLimits.issuerKeyEntries)")
        }
        state.set(StateKeys.issuer(identifier), record.canonicalBytes)
    }
}
