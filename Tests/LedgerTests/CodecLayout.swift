import Codec
import EnsureCrypto
import Ledger
import Testing

/// The byte layout of one encoded value, field by field, built independently of the encoders from the rules of
/// docs/encoding.md. Tests check that it covers the encoding exactly, then use it to predict the exact error for
/// a truncation at any offset and to aim mutations at one field.
struct EncodingLayout: Sendable {
    /// How a run of bytes is read.
    enum Kind: Equatable, Sendable {
        /// A one-byte version.
        case version
        /// Bytes whose length the format fixes: keys, digests, signatures, recipients.
        case fixed
        /// A varint value, at most `max`.
        case integer(max: UInt64)
        /// The varint length in front of a string or byte string, at most `max`.
        case lengthPrefix(max: Int)
        /// UTF-8 text after its length.
        case text
        /// A chain id's characters after its length.
        case chainID
        /// Opaque bytes after their length.
        case opaque
        /// An optional's presence byte.
        case optionalMarker
        /// The incident severity byte.
        case severity
        /// The varint element count of an array, at most `max`.
        case count(max: Int)
    }

    /// A run of bytes that one read covers.
    struct Segment: Sendable {
        let field: String
        let kind: Kind
        let range: Range<Int>
    }

    /// What the reader does, in order: read a segment, or check that an array's count fits what is left.
    private enum Step: Sendable {
        case read(Segment)
        case countCheck(field: String, at: Int, count: Int)
    }

    private var steps: [Step] = []
    /// The total encoded size.
    private(set) var size = 0

    /// Every segment, in order.
    var segments: [Segment] {
        steps.compactMap { if case .read(let segment) = $0 { segment } else { nil } }
    }

    static func varintSize(_ value: UInt64) -> Int {
        var size = 1
        var rest = value >> 7
        while rest != 0 {
            size += 1
            rest >>= 7
        }
        return size
    }

    mutating func add(_ field: String, _ kind: Kind, length: Int) {
        steps.append(.read(Segment(field: field, kind: kind, range: size..<size + length)))
        size += length
    }

    mutating func version(_ field: String) { add("\(field).version", .version, length: 1) }

    mutating func integer(_ field: String, _ value: UInt64, max: UInt64 = .max) {
        add(field, .integer(max: max), length: Self.varintSize(value))
    }

    mutating func fixed(_ field: String, _ length: Int) { add(field, .fixed, length: length) }

    mutating func string(_ field: String, _ value: String, max: Int, kind: Kind = .text) {
        let count = value.utf8.count
        add(field, .lengthPrefix(max: max), length: Self.varintSize(UInt64(count)))
        add(field, kind, length: count)
    }

    mutating func opaque(_ field: String, _ value: [UInt8], max: Int) {
        add(field, .lengthPrefix(max: max), length: Self.varintSize(UInt64(value.count)))
        add(field, .opaque, length: value.count)
    }

    mutating func array<T>(_ field: String, _ values: [T], max: Int, element: (inout EncodingLayout, String, T) -> Void)
    {
        add(field, .count(max: max), length: Self.varintSize(UInt64(values.count)))
        steps.append(.countCheck(field: field, at: size, count: values.count))
        for (index, value) in values.enumerated() {
            element(&self, "\(field)[\(index)]", value)
        }
    }

    /// The error a decoder must give for the first `cut` bytes of the encoding (`cut < size`).
    func truncationError(at cut: Int) -> CanonicalDecodingError? {
        for step in steps {
            switch step {
            case .read(let segment):
                guard segment.range.upperBound > cut else { continue }
                switch segment.kind {
                case .fixed, .text, .chainID, .opaque:
                    return .truncated(
                        field: segment.field, needed: segment.range.count, remaining: cut - segment.range.lowerBound)
                case .version, .integer, .lengthPrefix, .optionalMarker, .severity, .count:
                    return .truncated(field: segment.field, needed: 1, remaining: 0)
                }
            case .countCheck(let field, let at, let count):
                if cut - at < count { return .truncated(field: field, needed: count, remaining: cut - at) }
            }
        }
        return nil
    }
}

extension EncodingLayout {
    init(_ body: (inout EncodingLayout) -> Void) {
        self.init()
        body(&self)
    }

    mutating func chainID(_ field: String, _ value: String) {
        string(field, value, max: ChainID.maxBytes, kind: .chainID)
    }

    mutating func describe(_ tx: Transaction, _ field: String) {
        version(field)
        chainID("\(field).chainID", tx.chainID)
        fixed("\(field).signer", 32)
        integer("\(field).sequence", tx.sequence)
        integer("\(field).kind", UInt64(tx.kind.rawValue), max: UInt64(UInt16.max))
        opaque("\(field).payload", tx.payload, max: LedgerLimits.transactionPayloadBytes)
        fixed("\(field).signature", 64)
    }

    mutating func describe(_ header: BlockHeader, _ field: String) {
        version(field)
        chainID("\(field).chainID", header.chainID)
        integer("\(field).epoch", header.epoch)
        integer("\(field).height", header.height)
        integer("\(field).round", header.round)
        fixed("\(field).parentID", 32)
        fixed("\(field).proposer", 32)
        integer("\(field).timestamp", header.timestamp)
        fixed("\(field).transactionRoot", 32)
        integer(
            "\(field).transactionCount", header.transactionCount, max: UInt64(LedgerLimits.blockTransactions))
        integer("\(field).incidentLogSize", header.incidentLogSize)
        fixed("\(field).incidentLogRoot", 32)
        fixed("\(field).stateRoot", 32)
        fixed("\(field).validatorSetHash", 32)
        add("\(field).nextValidatorSetHash", .optionalMarker, length: 1)
        if header.nextValidatorSetHash != nil { fixed("\(field).nextValidatorSetHash", 32) }
    }

    mutating func describe(_ block: Block, _ field: String) {
        version(field)
        describe(block.header, "\(field).header")
        describe(block.justify, "\(field).justify")
        array("\(field).transactions", block.transactions, max: LedgerLimits.blockTransactions) {
            $0.describe($2, $1)
        }
    }

    mutating func describe(_ data: VoteData, _ field: String) {
        chainID("\(field).chainID", data.chainID)
        integer("\(field).epoch", data.epoch)
        integer("\(field).round", data.round)
        integer("\(field).height", data.height)
        fixed("\(field).blockID", 32)
    }

    mutating func describe(_ vote: Vote, _ field: String) {
        version(field)
        describe(vote.data, "\(field).data")
        fixed("\(field).voter", 32)
        fixed("\(field).signature", 64)
    }

    mutating func describe(_ qc: QuorumCertificate, _ field: String) {
        version(field)
        describe(qc.data, "\(field).data")
        array("\(field).signatures", qc.signatures, max: LedgerLimits.certificateSigners) { layout, path, _ in
            layout.fixed("\(path).signer", 32)
            layout.fixed("\(path).signature", 64)
        }
    }

    mutating func describe(_ data: TimeoutData, _ field: String) {
        chainID("\(field).chainID", data.chainID)
        integer("\(field).epoch", data.epoch)
        integer("\(field).round", data.round)
        integer("\(field).highQCRound", data.highQCRound)
    }

    mutating func describe(_ timeout: Timeout, _ field: String) {
        version(field)
        describe(timeout.data, "\(field).data")
        fixed("\(field).signer", 32)
        fixed("\(field).signature", 64)
        describe(timeout.highQC, "\(field).highQC")
    }

    mutating func describe(_ tc: TimeoutCertificate, _ field: String) {
        version(field)
        chainID("\(field).chainID", tc.chainID)
        integer("\(field).epoch", tc.epoch)
        integer("\(field).round", tc.round)
        array("\(field).signatures", tc.signatures, max: LedgerLimits.certificateSigners) { layout, path, entry in
            layout.fixed("\(path).signer", 32)
            layout.integer("\(path).highQCRound", entry.highQCRound)
            layout.fixed("\(path).signature", 64)
        }
        describe(tc.highQC, "\(field).highQC")
    }

    mutating func describe(_ set: ValidatorSet, _ field: String) {
        version(field)
        array("\(field).members", set.members, max: LedgerLimits.certificateSigners) { layout, path, _ in
            layout.fixed(path, 32)
        }
    }

    mutating func describe(_ record: IncidentRecord, _ field: String) {
        typealias Limits = IncidentRecord.Limits
        version(field)
        string("\(field).id", record.id, max: Limits.identifierBytes)
        integer("\(field).detectedAt", record.detectedAt)
        string("\(field).category", record.category, max: Limits.identifierBytes)
        add("\(field).severity", .severity, length: 1)
        string("\(field).asset", record.asset, max: Limits.identifierBytes)
        string("\(field).detector", record.detector, max: Limits.identifierBytes)
        string("\(field).summary", record.summary, max: Limits.summaryBytes)
        fixed("\(field).evidenceDigest", 32)
        array("\(field).evidenceURIs", record.evidenceURIs, max: Limits.evidenceURIs) {
            $0.string($1, $2, max: Limits.uriBytes)
        }
        array("\(field).sealedDetails", record.sealedDetails, max: Limits.sealedDetails) { layout, path, detail in
            layout.fixed("\(path).recipient", 32)
            layout.opaque("\(path).ciphertext", detail.ciphertext, max: Limits.sealedDetailBytes)
        }
        array("\(field).links", record.links, max: Limits.links) { $0.string($1, $2, max: Limits.identifierBytes) }
    }
}

/// One ledger type under test, with its value generator, decoder and layout behind closures so that a single
/// parameterized test covers all of them.
struct CodecSubject: Sendable, CustomTestStringConvertible {
    /// One generated value.
    struct Sample: Sendable {
        /// Its canonical encoding.
        let bytes: [UInt8]
        /// Its layout per ``EncodingLayout``.
        let layout: EncodingLayout
        /// Whether decoding the encoding gives back a value equal to the original.
        let decodesToItself: Bool
    }

    let name: String
    let maxEncodedSize: Int
    let sample: @Sendable (inout LedgerValueGenerator) -> Sample
    /// Decodes complete input and re-encodes the value.
    let reencode: @Sendable ([UInt8]) throws(CanonicalDecodingError) -> [UInt8]

    var testDescription: String { name }

    static func make<T: CanonicalCodable & Equatable & Sendable>(
        _ type: T.Type,
        generate: @escaping @Sendable (inout LedgerValueGenerator) -> T,
        describe: @escaping @Sendable (inout EncodingLayout, T, String) -> Void
    ) -> CodecSubject {
        let name = String(describing: T.self)
        return CodecSubject(
            name: name, maxEncodedSize: T.maxEncodedSize,
            sample: { generator in
                let value = generate(&generator)
                let bytes = value.canonicalBytes
                let decoded = try? T.decode(canonical: bytes)
                return Sample(
                    bytes: bytes, layout: EncodingLayout { describe(&$0, value, name) },
                    decodesToItself: decoded == value)
            },
            reencode: { (bytes: [UInt8]) throws(CanonicalDecodingError) -> [UInt8] in
                try T.decode(canonical: bytes).canonicalBytes
            })
    }

    /// Every ledger type with a canonical encoding.
    static let all: [CodecSubject] = [
        make(Transaction.self, generate: { $0.transaction() }, describe: { $0.describe($1, $2) }),
        make(BlockHeader.self, generate: { $0.blockHeader() }, describe: { $0.describe($1, $2) }),
        make(Block.self, generate: { $0.block() }, describe: { $0.describe($1, $2) }),
        make(VoteData.self, generate: { $0.voteData() }, describe: { $0.describe($1, $2) }),
        make(Vote.self, generate: { $0.vote() }, describe: { $0.describe($1, $2) }),
        make(QuorumCertificate.self, generate: { $0.quorumCertificate() }, describe: { $0.describe($1, $2) }),
        make(TimeoutData.self, generate: { $0.timeoutData() }, describe: { $0.describe($1, $2) }),
        make(Timeout.self, generate: { $0.timeout() }, describe: { $0.describe($1, $2) }),
        make(TimeoutCertificate.self, generate: { $0.timeoutCertificate() }, describe: { $0.describe($1, $2) }),
        make(ValidatorSet.self, generate: { $0.validatorSet() }, describe: { $0.describe($1, $2) }),
        make(IncidentRecord.self, generate: { $0.incidentRecord() }, describe: { $0.describe($1, $2) }),
    ]
}

/// A varint in its shortest form.
func varint(_ value: UInt64) -> [UInt8] {
    var writer = CanonicalWriter()
    writer.writeVarUInt(value)
    return writer.bytes
}

/// `bytes` with `range` replaced by `replacement`.
func splice(_ bytes: [UInt8], _ range: Range<Int>, with replacement: [UInt8]) -> [UInt8] {
    var out = bytes
    out.replaceSubrange(range, with: replacement)
    return out
}

/// Decodes the bytes of a varint segment back to its value.
func varintValue(_ bytes: ArraySlice<UInt8>) -> UInt64 {
    var reader = CanonicalReader(Array(bytes))
    return (try? reader.readVarUInt(field: "")) ?? 0
}
