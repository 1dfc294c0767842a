import Codec
import ConsensusSimulation
import EnsureCrypto
import Foundation
import Ledger

/// The base seed of the property tests. Case `i` of a test uses seed `base + i`, which every failure message
/// prints; `ENSURE_CODEC_SEED=<base> swift test --filter LedgerTests.Codec` replays a run.
let codecBaseSeed: UInt64 = {
    if let text = ProcessInfo.processInfo.environment["ENSURE_CODEC_SEED"], let seed = UInt64(text) { return seed }
    return 0xe5_5eed_c0de
}()

/// Random ledger values that their own decoders accept: every field is drawn across its whole range, with
/// extra weight on the boundaries where varint lengths change and on the limits.
struct LedgerValueGenerator {
    private var rng: SimulationRandom

    init(seed: UInt64) { rng = SimulationRandom(seed: seed) }

    mutating func next() -> UInt64 { rng.next() }

    /// Uniform in `0..<bound`.
    mutating func below(_ bound: Int) -> Int { Int(rng.next() % UInt64(bound)) }

    /// True with the given probability in percent.
    mutating func chance(_ percent: Int) -> Bool { below(100) < percent }

    mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }

    /// A length biased towards short values, sometimes exactly `max`.
    mutating func length(max: Int, typical: Int) -> Int {
        switch below(20) {
        case 0: return max
        case 1: return 0
        case 2: return below(max + 1)
        default: return below(Swift.min(typical, max) + 1)
        }
    }

    /// An integer drawn around the varint length boundaries as often as uniformly.
    mutating func integer(max: UInt64 = .max) -> UInt64 {
        let value: UInt64
        switch below(4) {
        case 0: value = UInt64(below(300))
        case 1:
            let bits = UInt64(7 * (1 + below(9)))
            let boundary: UInt64 = bits >= 64 ? .max : (1 << bits)
            value = boundary &+ UInt64(below(3)) &- 1
        case 2: value = [0, 1, 127, 128, 16_383, 16_384, UInt64.max, UInt64.max - 1, 1 << 63][below(9)]
        default: value = next() >> UInt64(below(64))
        }
        return max == .max ? value : value % (max + 1)
    }

    mutating func digest() -> Digest { Digest(bytes: bytes(32))! }
    mutating func publicKey() -> Ed25519PublicKey { Ed25519PublicKey(bytes: bytes(32))! }
    mutating func signature() -> Ed25519Signature { Ed25519Signature(bytes: bytes(64))! }

    private static let chainAlphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789._-".utf8)

    mutating func chainID() -> String {
        let count = 1 + length(max: ChainID.maxBytes - 1, typical: 16)
        return String(
            decoding: (0..<count).map { _ in Self.chainAlphabet[below(Self.chainAlphabet.count)] }, as: UTF8.self)
    }

    /// Scalar ranges of one to four UTF-8 bytes, with control characters and combining marks.
    private static let scalarRanges: [ClosedRange<UInt32>] = [
        0x20...0x7e, 0x00...0x1f, 0xa0...0x24f, 0x300...0x36f, 0x4e00...0x9fff, 0xe000...0xf8ff, 0x1_f300...0x1_faff,
        0x1_0000...0x10_ffff,
    ]

    /// Text of at most `maxBytes` UTF-8 bytes; `nonEmpty` asks for at least one scalar.
    mutating func text(maxBytes: Int, typical: Int = 24, nonEmpty: Bool = false) -> String {
        let target = Swift.max(length(max: maxBytes, typical: typical), nonEmpty ? 1 : 0)
        var scalars = String.UnicodeScalarView()
        var used = 0
        while used < target {
            let range = Self.scalarRanges[below(Self.scalarRanges.count)]
            let value =
                range.lowerBound + UInt32(truncatingIfNeeded: next()) % (range.upperBound - range.lowerBound + 1)
            guard let scalar = Unicode.Scalar(value) else { continue }
            let size = String(scalar).utf8.count
            if used + size > maxBytes {
                if used == 0 { continue }
                break
            }
            scalars.append(scalar)
            used += size
        }
        return String(scalars)
    }

    mutating func transaction(chainID fixedChain: String? = nil) -> Transaction {
        let payloadCount =
            chance(1)
            ? LedgerLimits.transactionPayloadBytes : length(max: LedgerLimits.transactionPayloadBytes, typical: 200)
        return Transaction(
            chainID: fixedChain ?? chainID(), signer: publicKey(), sequence: integer(),
            kind: TransactionKind(rawValue: UInt16(integer(max: UInt64(UInt16.max)))), payload: bytes(payloadCount),
            signature: signature())
    }

    mutating func blockHeader() -> BlockHeader {
        BlockHeader(
            chainID: chainID(), epoch: integer(), height: integer(), round: integer(), parentID: digest(),
            proposer: publicKey(), timestamp: integer(), transactionRoot: digest(),
            transactionCount: integer(max: UInt64(LedgerLimits.blockTransactions)), incidentLogSize: integer(),
            incidentLogRoot: digest(), stateRoot: digest(), validatorSetHash: digest(),
            nextValidatorSetHash: chance(50) ? digest() : nil)
    }

    mutating func voteData() -> VoteData {
        VoteData(chainID: chainID(), epoch: integer(), round: integer(), height: integer(), blockID: digest())
    }

    mutating func vote() -> Vote { Vote(data: voteData(), voter: publicKey(), signature: signature()) }

    mutating func quorumCertificate() -> QuorumCertificate {
        let count = chance(2) ? 64 : below(9)
        return QuorumCertificate(
            data: voteData(),
            signatures: (0..<count).map { _ in ValidatorSignature(signer: publicKey(), signature: signature()) })
    }

    mutating func timeoutData() -> TimeoutData {
        TimeoutData(chainID: chainID(), epoch: integer(), round: integer(), highQCRound: integer())
    }

    mutating func timeout() -> Timeout {
        Timeout(data: timeoutData(), signer: publicKey(), signature: signature(), highQC: quorumCertificate())
    }

    mutating func timeoutCertificate() -> TimeoutCertificate {
        let count = below(9)
        return TimeoutCertificate(
            chainID: chainID(), epoch: integer(), round: integer(),
            signatures: (0..<count).map { _ in
                TimeoutSignature(signer: publicKey(), highQCRound: integer(), signature: signature())
            },
            highQC: quorumCertificate())
    }

    mutating func validatorSet() -> ValidatorSet {
        let count = chance(2) ? LedgerLimits.certificateSigners : 1 + below(20)
        return ValidatorSet((0..<count).map { _ in publicKey() })!
    }

    mutating func block() -> Block {
        let chain = chainID()
        var header = blockHeader()
        header.chainID = chain
        let transactions = (0..<below(5)).map { _ in transaction(chainID: chain) }
        return Block(header: header, justify: quorumCertificate(), transactions: transactions)
    }

    mutating func incidentRecord() -> IncidentRecord {
        typealias Limits = IncidentRecord.Limits
        let uris = (0..<length(max: Limits.evidenceURIs, typical: 3)).map { _ in
            text(maxBytes: Limits.uriBytes, typical: 64)
        }
        let details = (0..<length(max: Limits.sealedDetails, typical: 3)).map { _ in
            SealedDetail(recipient: bytes(32), ciphertext: bytes(length(max: 1024, typical: 96)))
        }
        let links = (0..<length(max: Limits.links, typical: 3)).map { _ in
            text(maxBytes: Limits.identifierBytes, typical: 16)
        }
        return IncidentRecord(
            id: text(maxBytes: Limits.identifierBytes, nonEmpty: true), detectedAt: integer(),
            category: text(maxBytes: Limits.identifierBytes),
            severity: IncidentSeverity.allCases.randomElement(using: &rng)!,
            asset: text(maxBytes: Limits.identifierBytes), detector: text(maxBytes: Limits.identifierBytes),
            summary: text(maxBytes: Limits.summaryBytes, typical: 200), evidenceDigest: digest(), evidenceURIs: uris,
            sealedDetails: details, links: links)
    }
}
