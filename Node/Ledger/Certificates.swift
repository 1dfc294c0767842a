public import Codec
public import EnsureCrypto

/// What a vote is about: one block, identified by id, at its round and height in one epoch of one chain.
public struct VoteData: Hashable, Sendable {
    /// The chain.
    public let chainID: String
    /// The epoch whose validator set votes.
    public let epoch: UInt64
    /// The round of the block voted for.
    public let round: UInt64
    /// The height of the block voted for.
    public let height: UInt64
    /// The id of the block voted for.
    public let blockID: Digest

    /// Creates vote data.
    public init(chainID: String, epoch: UInt64, round: UInt64, height: UInt64, blockID: Digest) {
        self.chainID = chainID
        self.epoch = epoch
        self.round = round
        self.height = height
        self.blockID = blockID
    }
}

extension VoteData: CanonicalCodable {
    public static var maxEncodedSize: Int { 128 }

    public func encode(to writer: inout CanonicalWriter) {
        writer.writeString(chainID)
        writer.writeVarUInt(epoch)
        writer.writeVarUInt(round)
        writer.writeVarUInt(height)
        writer.write(blockID)
    }

    public init(from reader: inout CanonicalReader, field: String) throws(CanonicalDecodingError) {
        chainID = try reader.readChainID(field: "\(field).chainID")
        epoch = try reader.readVarUInt(field: "\(field).epoch")
        round = try reader.readVarUInt(field: "\(field).round")
        height = try reader.readVarUInt(field: "\(field).height")
        blockID = try reader.readDigest(field: "\(field).blockID")
    }
}

/// One validator's signed vote for a block (``SigningDomain/vote`` over the canonical ``VoteData``).
public struct Vote: Hashable, Sendable {
    /// The only version this build writes and reads.
    public static let version: UInt8 = 1
    /// What is voted for.
    public let data: VoteData
    /// The voting validator.
    public let voter: Ed25519PublicKey
    /// Ed25519 over the vote data.
    public let signature: Ed25519Signature

    /// Signs a vote.
    public init(data: VoteData, signedBy key: Ed25519PrivateKey) {
        self.data = data
        self.voter = key.publicKey
        self.signature = key.signature(for: data.canonicalBytes, domain: .vote)
    }

    /// Assembles a vote from its parts without signing.
    public init(data: VoteData, voter: Ed25519PublicKey, signature: Ed25519Signature) {
        self.data = data
        self.voter = voter
        self.signature = signature
    }

    /// Whether the signature is the voter's over the data.
    public var hasValidSignature: Bool {
        voter.isValidSignature(signature, for: data.canonicalBytes, domain: .vote)
    }
}

extension Vote: CanonicalCodable {
    public static var maxEncodedSize: Int { 256 }

    public func encode(to writer: inout CanonicalWriter) {
        writer.writeByte(Self.version)
        writer.write(data)
        writer.write(voter)
        writer.write(signature)
    }

    public init(from reader: inout CanonicalReader, field: String) throws(CanonicalDecodingError) {
        _ = try reader.readVersion(field: "\(field).version", supported: Self.version...Self.version)
        data = try reader.read(VoteData.self, field: "\(field).data")
        voter = try reader.readPublicKey(field: "\(field).voter")
        signature = try reader.readSignature(field: "\(field).signature")
    }
}

/// A signature by one validator inside a certificate.
public struct ValidatorSignature: Hashable, Sendable {
    /// The signing validator.
    public let signer: Ed25519PublicKey
    /// Its signature.
    public let signature: Ed25519Signature

    /// Pairs a signer with its signature.
    public init(signer: Ed25519PublicKey, signature: Ed25519Signature) {
        self.signer = signer
        self.signature = signature
    }
}

/// Why a certificate does not hold against a validator set.
public enum CertificateError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A signer is not in the validator set.
    case unknownSigner(Ed25519PublicKey)
    /// A signature does not verify.
    case invalidSignature(signer: Ed25519PublicKey)
    /// Fewer distinct signers than a quorum.
    case insufficientSigners(have: Int, need: Int)
    /// The certificate is internally inconsistent.
    case malformed(String)

    public var description: String {
        switch self {
        case .unknownSigner(let key): return "certificate signer \(key.keyID) is not in the validator set"
        case .invalidSignature(let key): return "certificate signature by \(key.keyID) does not verify"
        case .insufficientSigners(let have, let need): return "certificate has \(have) signers, needs \(need)"
        case .malformed(let reason): return "malformed certificate: \(reason)"
        }
    }
}

/// Votes of a quorum of validators for one block: the proof that the block is certified. Signers are in
/// strictly ascending key order, so a certificate has one encoding and no duplicate signer.
public struct QuorumCertificate: Hashable, Sendable {
    /// The only version this build writes and reads.
    public static let version: UInt8 = 1
    /// The certified block.
    public let data: VoteData
    /// The votes' signatures, strictly ascending by signer.
    public let signatures: [ValidatorSignature]

    /// Builds a certificate from votes for the same data; signatures are sorted and duplicates dropped.
    public init(data: VoteData, signatures: [ValidatorSignature]) {
        var seen = Set<Ed25519PublicKey>()
        self.data = data
        self.signatures = signatures.sorted { $0.signer < $1.signer }.filter { seen.insert($0.signer).inserted }
    }

    /// The certificate of the genesis block, which carries no signatures: genesis is certified by the
    /// genesis file every node starts from.
    public static func genesis(chainID: String, blockID: Digest) -> QuorumCertificate {
        QuorumCertificate(
            data: VoteData(chainID: chainID, epoch: 0, round: 0, height: 0, blockID: blockID), signatures: [])
    }

    /// The round of the certified block.
    public var round: UInt64 { data.round }
    /// The id of the certified block.
    public var blockID: Digest { data.blockID }

    /// Checks that a quorum of `validators` signed ``data``.
    public func verify(against validators: ValidatorSet) throws(CertificateError) {
        guard signatures.count >= validators.quorum else {
            throw .insufficientSigners(have: signatures.count, need: validators.quorum)
        }
        let message = data.canonicalBytes
        for entry in signatures {
            guard validators.contains(entry.signer) else { throw .unknownSigner(entry.signer) }
            guard entry.signer.isValidSignature(entry.signature, for: message, domain: .vote) else {
                throw .invalidSignature(signer: entry.signer)
            }
        }
    }
}

extension QuorumCertificate: CanonicalCodable {
    public static var maxEncodedSize: Int { 256 + LedgerLimits.certificateSigners * 96 }

    public func encode(to writer: inout CanonicalWriter) {
        writer.writeByte(Self.version)
        writer.write(data)
        writer.writeArray(signatures) { w, s in
            w.write(s.signer)
            w.write(s.signature)
        }
    }

    public init(from reader: inout CanonicalReader, field: String) throws(CanonicalDecodingError) {
        _ = try reader.readVersion(field: "\(field).version", supported: Self.version...Self.version)
        data = try reader.read(VoteData.self, field: "\(field).data")
        signatures = try readSignerList(&reader, field: "\(field).signatures") { r, f throws(CanonicalDecodingError) in
            ValidatorSignature(
                signer: try r.readPublicKey(field: "\(f).signer"),
                signature: try r.readSignature(field: "\(f).signature"))
        } signer: {
            $0.signer
        }
    }
}

/// What a timeout message signs: the validator gives up on `round` and reports the round of its highest QC.
public struct TimeoutData: Hashable, Sendable {
    /// The chain.
    public let chainID: String
    /// The epoch.
    public let epoch: UInt64
    /// The round that timed out.
    public let round: UInt64
    /// The round of the highest quorum certificate the signer knows.
    public let highQCRound: UInt64

    /// Creates timeout data.
    public init(chainID: String, epoch: UInt64, round: UInt64, highQCRound: UInt64) {
        self.chainID = chainID
        self.epoch = epoch
        self.round = round
        self.highQCRound = highQCRound
    }
}

extension TimeoutData: CanonicalCodable {
    public static var maxEncodedSize: Int { 128 }

    public func encode(to writer: inout CanonicalWriter) {
        writer.writeString(chainID)
        writer.writeVarUInt(epoch)
        writer.writeVarUInt(round)
        writer.writeVarUInt(highQCRound)
    }

    public init(from reader: inout CanonicalReader, field: String) throws(CanonicalDecodingError) {
        chainID = try reader.readChainID(field: "\(field).chainID")
        epoch = try reader.readVarUInt(field: "\(field).epoch")
        round = try reader.readVarUInt(field: "\(field).round")
        highQCRound = try reader.readVarUInt(field: "\(field).highQCRound")
    }
}

/// One validator's signed timeout, carrying its highest quorum certificate so others can catch up.
public struct Timeout: Hashable, Sendable {
    /// The only version this build writes and reads.
    public static let version: UInt8 = 1
    /// What is signed.
    public let data: TimeoutData
    /// The signing validator.
    public let signer: Ed25519PublicKey
    /// Ed25519 over the data (``SigningDomain/timeout``).
    public let signature: Ed25519Signature
    /// The signer's highest certificate; its round must equal ``TimeoutData/highQCRound``.
    public let highQC: QuorumCertificate

    /// Signs a timeout.
    public init(data: TimeoutData, highQC: QuorumCertificate, signedBy key: Ed25519PrivateKey) {
        self.data = data
        self.signer = key.publicKey
        self.signature = key.signature(for: data.canonicalBytes, domain: .timeout)
        self.highQC = highQC
    }

    /// Assembles a timeout from its parts without signing.
    public init(data: TimeoutData, signer: Ed25519PublicKey, signature: Ed25519Signature, highQC: QuorumCertificate) {
        self.data = data
        self.signer = signer
        self.signature = signature
        self.highQC = highQC
    }

    /// Whether the signature is the signer's over the data.
    public var hasValidSignature: Bool {
        signer.isValidSignature(signature, for: data.canonicalBytes, domain: .timeout)
    }
}

extension Timeout: CanonicalCodable {
    public static var maxEncodedSize: Int { 256 + QuorumCertificate.maxEncodedSize }

    public func encode(to writer: inout CanonicalWriter) {
        writer.writeByte(Self.version)
        writer.write(data)
        writer.write(signer)
        writer.write(signature)
        writer.write(highQC)
    }

    public init(from reader: inout CanonicalReader, field: String) throws(CanonicalDecodingError) {
        _ = try reader.readVersion(field: "\(field).version", supported: Self.version...Self.version)
        data = try reader.read(TimeoutData.self, field: "\(field).data")
        signer = try reader.readPublicKey(field: "\(field).signer")
        signature = try reader.readSignature(field: "\(field).signature")
        highQC = try reader.read(QuorumCertificate.self, field: "\(field).highQC")
    }
}

/// One signer's entry in a timeout certificate.
public struct TimeoutSignature: Hashable, Sendable {
    /// The signing validator.
    public let signer: Ed25519PublicKey
    /// The round of its highest QC, as it signed.
    public let highQCRound: UInt64
    /// Its signature over ``TimeoutData``.
    public let signature: Ed25519Signature

    /// Creates an entry.
    public init(signer: Ed25519PublicKey, highQCRound: UInt64, signature: Ed25519Signature) {
        self.signer = signer
        self.highQCRound = highQCRound
        self.signature = signature
    }
}

/// Timeouts of a quorum for one round: lets the next leader propose without a QC for the previous round.
/// It carries the highest QC among the signers', whose round equals the largest signed `highQCRound`.
public struct TimeoutCertificate: Hashable, Sendable {
    /// The only version this build writes and reads.
    public static let version: UInt8 = 1
    /// The chain.
    public let chainID: String
    /// The epoch.
    public let epoch: UInt64
    /// The round that timed out.
    public let round: UInt64
    /// The signers' entries, strictly ascending by signer.
    public let signatures: [TimeoutSignature]
    /// The highest QC reported by the signers.
    public let highQC: QuorumCertificate

    /// Builds a certificate; entries are sorted and duplicate signers dropped.
    public init(
        chainID: String, epoch: UInt64, round: UInt64, signatures: [TimeoutSignature], highQC: QuorumCertificate
    ) {
        var seen = Set<Ed25519PublicKey>()
        self.chainID = chainID
        self.epoch = epoch
        self.round = round
        self.signatures = signatures.sorted { $0.signer < $1.signer }.filter { seen.insert($0.signer).inserted }
        self.highQC = highQC
    }

    /// The largest `highQCRound` any signer reported.
    public var maxHighQCRound: UInt64 { signatures.map(\.highQCRound).max() ?? 0 }

    /// Checks the quorum, each signature, and that ``highQC`` is the highest reported (its own signatures are
    /// checked too, except for the genesis certificate).
    public func verify(against validators: ValidatorSet) throws(CertificateError) {
        guard signatures.count >= validators.quorum else {
            throw .insufficientSigners(have: signatures.count, need: validators.quorum)
        }
        for entry in signatures {
            guard validators.contains(entry.signer) else { throw .unknownSigner(entry.signer) }
            guard entry.highQCRound < round else {
                throw .malformed("signer \(entry.signer.keyID) reports a high QC round not below the timeout round")
            }
            let data = TimeoutData(chainID: chainID, epoch: epoch, round: round, highQCRound: entry.highQCRound)
            guard entry.signer.isValidSignature(entry.signature, for: data.canonicalBytes, domain: .timeout) else {
                throw .invalidSignature(signer: entry.signer)
            }
        }
        guard highQC.round == maxHighQCRound else {
            throw .malformed("high QC round \(highQC.round) is not the highest reported, \(maxHighQCRound)")
        }
        guard highQC.data.chainID == chainID else {
            throw .malformed("high QC is for chain \(highQC.data.chainID), not \(chainID)")
        }
        if highQC.round > 0 {
            try highQC.verify(against: validators)
        } else if !highQC.signatures.isEmpty || highQC.data.height != 0 {
            // Only the genesis certificate has round 0, and it carries no signatures.
            throw .malformed("a round-0 high QC must be the genesis certificate")
        }
    }
}

extension TimeoutCertificate: CanonicalCodable {
    public static var maxEncodedSize: Int {
        256 + LedgerLimits.certificateSigners * 110 + QuorumCertificate.maxEncodedSize
    }

    public func encode(to writer: inout CanonicalWriter) {
        writer.writeByte(Self.version)
        writer.writeString(chainID)
        writer.writeVarUInt(epoch)
        writer.writeVarUInt(round)
        writer.writeArray(signatures) { w, s in
            w.write(s.signer)
            w.writeVarUInt(s.highQCRound)
            w.write(s.signature)
        }
        writer.write(highQC)
    }

    public init(from reader: inout CanonicalReader, field: String) throws(CanonicalDecodingError) {
        _ = try reader.readVersion(field: "\(field).version", supported: Self.version...Self.version)
        chainID = try reader.readChainID(field: "\(field).chainID")
        epoch = try reader.readVarUInt(field: "\(field).epoch")
        round = try reader.readVarUInt(field: "\(field).round")
        signatures = try readSignerList(&reader, field: "\(field).signatures") { r, f throws(CanonicalDecodingError) in
            TimeoutSignature(
                signer: try r.readPublicKey(field: "\(f).signer"),
                highQCRound: try r.readVarUInt(field: "\(f).highQCRound"),
                signature: try r.readSignature(field: "\(f).signature"))
        } signer: {
            $0.signer
        }
        highQC = try reader.read(QuorumCertificate.self, field: "\(field).highQC")
    }
}

/// Reads a list of signer entries and checks the signers are strictly ascending (canonical, no duplicates).
private func readSignerList<T>(
    _ reader: inout CanonicalReader, field: String,
    element: (inout CanonicalReader, String) throws(CanonicalDecodingError) -> T,
    signer: (T) -> Ed25519PublicKey
) throws(CanonicalDecodingError) -> [T] {
    let list = try reader.readArray(field: field, maxCount: LedgerLimits.certificateSigners) {
        (r: inout CanonicalReader, i: Int) throws(CanonicalDecodingError) in
        try element(&r, "\(field)[\(i)]")
    }
    for i in list.indices.dropFirst() where !(signer(list[i - 1]) < signer(list[i])) {
        throw .notStrictlyAscending(field: field, index: i)
    }
    return list
}
