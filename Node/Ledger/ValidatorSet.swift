public import Codec
public import EnsureCrypto

/// The validators of one epoch: distinct Ed25519 keys in ascending byte order, each with one vote.
/// A quorum is more than two thirds of them, which for n = 3f + 1 is the 2f + 1 of the BFT literature.
public struct ValidatorSet: Hashable, Sendable {
    /// The only version this build writes and reads.
    public static let version: UInt8 = 1

    /// The keys, strictly ascending.
    public let members: [Ed25519PublicKey]

    /// Sorts `members`; nil when the list is empty, holds the same key twice, or is larger than
    /// ``LedgerLimits/certificateSigners``.
    public init?(_ members: [Ed25519PublicKey]) {
        let sorted = Array(Set(members)).sorted()
        guard !sorted.isEmpty, sorted.count <= LedgerLimits.certificateSigners, sorted.count == members.count else {
            return nil
        }
        self.members = sorted
    }

    /// The number of validators.
    public var count: Int { members.count }

    /// The most faulty validators tolerated: ⌊(n − 1) / 3⌋.
    public var maxFaulty: Int { (members.count - 1) / 3 }

    /// Signatures needed for a certificate: ⌊2n / 3⌋ + 1.
    public var quorum: Int { members.count * 2 / 3 + 1 }

    /// Whether `key` is a member.
    public func contains(_ key: Ed25519PublicKey) -> Bool { index(of: key) != nil }

    /// The member's position in ascending key order, by binary search.
    public func index(of key: Ed25519PublicKey) -> Int? {
        var low = 0
        var high = members.count
        while low < high {
            let mid = (low + high) / 2
            if members[mid] == key { return mid }
            if members[mid] < key { low = mid + 1 } else { high = mid }
        }
        return nil
    }

    /// SHA-256 (tag `ensure/validator-set/v1`) of the canonical encoding: what block headers commit to.
    public var hash: Digest { SHA256.hash(tag: "ensure/validator-set/v1", canonicalBytes) }
}

extension ValidatorSet: CanonicalCodable {
    public static var maxEncodedSize: Int { 8 + LedgerLimits.certificateSigners * Ed25519PublicKey.byteCount }

    public func encode(to writer: inout CanonicalWriter) {
        writer.writeByte(Self.version)
        writer.writeArray(members) { $0.write($1) }
    }

    public init(from reader: inout CanonicalReader, field: String) throws(CanonicalDecodingError) {
        _ = try reader.readVersion(field: "\(field).version", supported: Self.version...Self.version)
        let keys = try reader.readArray(field: "\(field).members", maxCount: LedgerLimits.certificateSigners) {
            (r: inout CanonicalReader, i: Int) throws(CanonicalDecodingError) in
            try r.readPublicKey(field: "\(field).members[\(i)]")
        }
        guard !keys.isEmpty else {
            throw .invalidValue(field: "\(field).members", reason: "a validator set is never empty")
        }
        for i in 1..<keys.count where !(keys[i - 1] < keys[i]) {
            throw .notStrictlyAscending(field: "\(field).members", index: i)
        }
        self.members = keys
    }
}
