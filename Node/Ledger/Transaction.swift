public import Codec
public import EnsureCrypto

/// What a transaction asks the ledger to do. The envelope carries the kind as a number so that an old
/// decoder still reads a block that holds kinds it does not execute; the application refuses unknown kinds.
public struct TransactionKind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The wire value.
    public let rawValue: UInt16

    /// Wraps a wire value.
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// Anchor the SHA-256 of an external data set.
    public static let notarize = TransactionKind(rawValue: 1)
    /// Report an incident record.
    public static let incidentReport = TransactionKind(rawValue: 2)
    /// Move a reported incident to another status, or link it to others.
    public static let incidentUpdate = TransactionKind(rawValue: 3)
    /// Propose a governance action.
    public static let governancePropose = TransactionKind(rawValue: 4)
    /// Vote on a governance proposal.
    public static let governanceVote = TransactionKind(rawValue: 5)
    /// Publish a new version of a credential issuer's status list.
    public static let statusListPublish = TransactionKind(rawValue: 6)
    /// Add, retire or revoke a credential issuer's signing keys.
    public static let issuerKeys = TransactionKind(rawValue: 7)

    /// The name the API and logs use (`notarize`, `incident-report`), or `kind(N)` for a kind this build does not know.
    public var name: String {
        switch self {
        case .notarize: return "notarize"
        case .incidentReport: return "incident-report"
        case .incidentUpdate: return "incident-update"
        case .governancePropose: return "governance-propose"
        case .governanceVote: return "governance-vote"
        case .statusListPublish: return "status-list-publish"
        case .issuerKeys: return "issuer-keys"
        default: return "kind(\(rawValue))"
        }
    }

    public var description: String { name }
}

/// A signed ledger transaction. The signer's sequence number makes every transaction unique and replay-proof;
/// the signature covers every other field under ``SigningDomain/transaction``.
public struct Transaction: Hashable, Sendable {
    /// Two transactions are equal when their canonical encodings are, which their ids stand for.
    public static func == (lhs: Transaction, rhs: Transaction) -> Bool {
        lhs.storage === rhs.storage || (lhs.id == rhs.id && lhs.canonicalBytes == rhs.canonicalBytes)
    }

    /// Hashes the id only: it already depends on every field.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(id)
    }

    /// The only version this build writes and reads.
    public static let version: UInt8 = 1

    /// The chain this transaction is for; a transaction for another chain is never valid here.
    public var chainID: String { storage.chainID }
    /// The key that signed it.
    public var signer: Ed25519PublicKey { storage.signer }
    /// The signer's sequence number: the first transaction of a key has sequence 1, each next one adds 1.
    public var sequence: UInt64 { storage.sequence }
    /// What it does.
    public var kind: TransactionKind { storage.kind }
    /// Kind-specific canonical bytes.
    public var payload: [UInt8] { storage.payload }
    /// Ed25519 over ``signingBytes``.
    public var signature: Ed25519Signature { storage.signature }
    /// The full canonical encoding (``signingBytes`` followed by the signature), built once: the node reads it for
    /// the id, sizes, gossip, blocks and storage of every transaction, often several times.
    public var canonicalBytes: [UInt8] { storage.canonicalBytes }
    /// The transaction id: SHA-256 (tag `ensure/transaction/v1`) of ``canonicalBytes``, computed once.
    public var id: Digest { storage.id }

    /// The fields, immutable and shared by every copy: a node copies each transaction into its mempool, gossip,
    /// blocks and indexes, and a copy of one reference costs one retain where the fields' own buffers cost six.
    private let storage: Storage

    private final class Storage: Sendable {
        let chainID: String
        let signer: Ed25519PublicKey
        let sequence: UInt64
        let kind: TransactionKind
        let payload: [UInt8]
        let signature: Ed25519Signature
        let canonicalBytes: [UInt8]
        let id: Digest

        init(
            chainID: String, signer: Ed25519PublicKey, sequence: UInt64, kind: TransactionKind, payload: [UInt8],
            signature: Ed25519Signature, canonicalBytes: [UInt8]
        ) {
            self.chainID = chainID
            self.signer = signer
            self.sequence = sequence
            self.kind = kind
            self.payload = payload
            self.signature = signature
            self.canonicalBytes = canonicalBytes
            self.id = SHA256.hash(tag: "ensure/transaction/v1", canonicalBytes)
        }
    }

    /// Builds and signs a transaction.
    public init(
        chainID: String, sequence: UInt64, kind: TransactionKind, payload: [UInt8], signedBy key: Ed25519PrivateKey
    ) {
        precondition(ChainID.isValid(chainID), "invalid chain id")
        precondition(payload.count <= LedgerLimits.transactionPayloadBytes, "payload too large")
        let signing = Self.signingBytes(
            chainID: chainID, signer: key.publicKey, sequence: sequence, kind: kind, payload: payload)
        let signature = key.signature(for: signing, domain: .transaction)
        self.init(
            chainID: chainID, signer: key.publicKey, sequence: sequence, kind: kind, payload: payload,
            signature: signature, canonicalBytes: signing + signature.bytes)
    }

    /// A transaction whose canonical encoding is `canonicalBytes`: built from the fields by the other initializers,
    /// or the reader's input when decoding (which is canonical or refused).
    private init(
        chainID: String, signer: Ed25519PublicKey, sequence: UInt64, kind: TransactionKind, payload: [UInt8],
        signature: Ed25519Signature, canonicalBytes: [UInt8]
    ) {
        self.storage = Storage(
            chainID: chainID, signer: signer, sequence: sequence, kind: kind, payload: payload, signature: signature,
            canonicalBytes: canonicalBytes)
    }

    /// Assembles a transaction from its parts without signing (decoding, tests of forged input).
    public init(
        chainID: String, signer: Ed25519PublicKey, sequence: UInt64, kind: TransactionKind, payload: [UInt8],
        signature: Ed25519Signature
    ) {
        self.init(
            chainID: chainID, signer: signer, sequence: sequence, kind: kind, payload: payload, signature: signature,
            canonicalBytes: Self.signingBytes(
                chainID: chainID, signer: signer, sequence: sequence, kind: kind, payload: payload)
                + signature.bytes)
    }

    /// The bytes the signature covers: the canonical encoding of every field but the signature.
    public var signingBytes: [UInt8] {
        Array(canonicalBytes.dropLast(Ed25519Signature.byteCount))
    }

    private static func signingBytes(
        chainID: String, signer: Ed25519PublicKey, sequence: UInt64, kind: TransactionKind, payload: [UInt8]
    ) -> [UInt8] {
        var writer = CanonicalWriter(reservingCapacity: payload.count + 128)
        writer.writeByte(version)
        writer.writeString(chainID)
        writer.write(signer)
        writer.writeVarUInt(sequence)
        writer.writeVarUInt(UInt64(kind.rawValue))
        writer.writeLengthPrefixedBytes(payload)
        return writer.bytes
    }

    /// Whether the signature is valid for the signer key (it says nothing of whether the key is authorized).
    public var hasValidSignature: Bool {
        signer.isValidSignature(
            signature, for: canonicalBytes.dropLast(Ed25519Signature.byteCount), domain: .transaction)
    }
}

extension Transaction: CanonicalCodable {
    public static var maxEncodedSize: Int { LedgerLimits.transactionBytes }

    public func encode(to writer: inout CanonicalWriter) {
        writer.writeFixedBytes(canonicalBytes)
    }

    /// Decodes one transaction. Blocks and gossip carry thousands: the field names are fixed strings, and
    /// `field` is put in front of them only when something is wrong. The canonical bytes are the input itself
    /// (the reader refuses any other encoding), not an encoding of the decoded fields.
    public init(from reader: inout CanonicalReader, field: String) throws(CanonicalDecodingError) {
        do throws(CanonicalDecodingError) {
            let start = reader.position
            _ = try reader.readVersion(field: "version", supported: Self.version...Self.version)
            let chainID = try reader.readChainID(field: "chainID")
            let signer = try reader.readPublicKey(field: "signer")
            let sequence = try reader.readVarUInt(field: "sequence")
            let kind = try reader.readVarUInt(field: "kind", max: UInt64(UInt16.max))
            let payload = try reader.readLengthPrefixedBytes(
                field: "payload", maxLength: LedgerLimits.transactionPayloadBytes)
            let signature = try reader.readSignature(field: "signature")
            self.init(
                chainID: chainID, signer: signer, sequence: sequence, kind: TransactionKind(rawValue: UInt16(kind)),
                payload: payload, signature: signature, canonicalBytes: reader.bytesRead(since: start))
        } catch {
            throw error.inField(field + ".")
        }
    }
}
