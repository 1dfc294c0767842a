import Codec
import EnsureCrypto
import Ledger
import Testing

/// Damage aimed at one field of every ledger type, each asserting the exact ``CanonicalDecodingError`` and the
/// field it names. The field positions come from ``EncodingLayout``, so every field of every type is hit.
struct CodecFieldErrorTests {
    static let samplesPerType = 12
    static let chainIDReason = "chain id must be 1-64 characters of [a-z0-9._-]"

    /// Small samples (the per-offset test is quadratic in the size), each from its own printed seed.
    static func samples(_ subject: CodecSubject, salt: UInt64) -> [(seed: UInt64, sample: CodecSubject.Sample)] {
        var out: [(UInt64, CodecSubject.Sample)] = []
        var index: UInt64 = 0
        while out.count < samplesPerType {
            let seed = codecBaseSeed &+ salt &+ index
            index += 1
            var generator = LedgerValueGenerator(seed: seed)
            let sample = subject.sample(&generator)
            if sample.bytes.count <= 4_096 { out.append((seed, sample)) }
        }
        return out
    }

    /// The error decoding must give: the whole-object limit comes first, then the field's own rule.
    static func expected(
        _ subject: CodecSubject, _ bytes: [UInt8], _ fieldError: CanonicalDecodingError
    ) -> CanonicalDecodingError {
        if bytes.count > subject.maxEncodedSize {
            return .limitExceeded(
                field: subject.name, limit: UInt64(subject.maxEncodedSize), actual: UInt64(bytes.count))
        }
        return fieldError
    }

    static func check(
        _ subject: CodecSubject, _ bytes: [UInt8], _ fieldError: CanonicalDecodingError, seed: UInt64,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let want = expected(subject, bytes, fieldError)
        do {
            let reencoded = try subject.reencode(bytes)
            Issue.record(
                "decoded \(reencoded.count) bytes, wanted \(want); seed \(seed)", sourceLocation: sourceLocation)
        } catch {
            #expect(error == want, "seed \(seed)", sourceLocation: sourceLocation)
        }
    }

    @Test("truncation at every offset gives .truncated naming the field being read", arguments: CodecSubject.all)
    func truncationAtEveryOffset(subject: CodecSubject) throws {
        for (seed, sample) in Self.samples(subject, salt: 0x2_0000_0000) {
            for cut in 0..<sample.bytes.count {
                let want = try #require(sample.layout.truncationError(at: cut), "seed \(seed) cut \(cut)")
                Self.check(subject, Array(sample.bytes[..<cut]), want, seed: seed)
            }
        }
    }

    @Test("trailing bytes after a complete value are refused with their count", arguments: CodecSubject.all)
    func trailingBytes(subject: CodecSubject) {
        for (seed, sample) in Self.samples(subject, salt: 0x3_0000_0000) {
            for extra in [[0], [1], [0xff, 0x00, 0x01]] as [[UInt8]] {
                Self.check(
                    subject, sample.bytes + extra, .trailingBytes(field: subject.name, count: extra.count), seed: seed)
            }
        }
    }

    @Test("input over the whole-object limit is refused before decoding", arguments: CodecSubject.all)
    func wholeObjectLimit(subject: CodecSubject) {
        let bytes = [UInt8](repeating: 1, count: subject.maxEncodedSize + 1)
        Self.check(
            subject, bytes,
            .limitExceeded(
                field: subject.name, limit: UInt64(subject.maxEncodedSize), actual: UInt64(subject.maxEncodedSize + 1)),
            seed: 0)
    }

    @Test("unknown versions are refused with the version read", arguments: CodecSubject.all)
    func unknownVersions(subject: CodecSubject) {
        var applied = 0
        for (seed, sample) in Self.samples(subject, salt: 0x4_0000_0000) {
            for segment in sample.layout.segments where segment.kind == .version {
                for version: UInt8 in [0, 2, 0xff] {
                    applied += 1
                    Self.check(
                        subject, splice(sample.bytes, segment.range, with: [version]),
                        .unknownVersion(field: segment.field, version: version), seed: seed)
                }
            }
        }
        // VoteData and TimeoutData travel only inside versioned objects and have no version of their own.
        #expect(applied > 0 || ["VoteData", "TimeoutData"].contains(subject.name))
    }

    @Test(
        "varints that are not shortest or exceed 64 bits are refused in every integer, length and count",
        arguments: CodecSubject.all)
    func nonCanonicalVarints(subject: CodecSubject) {
        var applied = 0
        for (seed, sample) in Self.samples(subject, salt: 0x5_0000_0000) {
            for segment in sample.layout.segments {
                switch segment.kind {
                case .integer, .lengthPrefix, .count: break
                default: continue
                }
                var padded = Array(sample.bytes[segment.range])
                padded[padded.count - 1] |= 0x80
                padded.append(0x00)
                let replacements: [[UInt8]] = [
                    padded,  // one zero group too many, as 0x80 0x00 for zero
                    [UInt8](repeating: 0xff, count: 9) + [0x02],  // 65 bits
                    [UInt8](repeating: 0x80, count: 10) + [0x01],  // 11 bytes
                ]
                for replacement in replacements {
                    applied += 1
                    Self.check(
                        subject, splice(sample.bytes, segment.range, with: replacement),
                        .nonCanonicalInteger(field: segment.field), seed: seed)
                }
            }
        }
        #expect(applied > 0)
    }

    @Test("integers, lengths and counts over their limits are refused with the limit", arguments: CodecSubject.all)
    func overLimitFields(subject: CodecSubject) {
        var applied = 0
        for (seed, sample) in Self.samples(subject, salt: 0x6_0000_0000) {
            for segment in sample.layout.segments {
                let limit: UInt64
                switch segment.kind {
                case .integer(let max) where max != .max: limit = max
                case .lengthPrefix(let max), .count(let max): limit = UInt64(max)
                default: continue
                }
                for actual in [limit + 1, limit * 2 + 7, UInt64.max] {
                    applied += 1
                    Self.check(
                        subject, splice(sample.bytes, segment.range, with: varint(actual)),
                        .limitExceeded(field: segment.field, limit: limit, actual: actual), seed: seed)
                }
            }
        }
        #expect(applied > 0)
    }

    @Test(
        "length prefixes and counts that promise more bytes than remain are refused as truncated",
        arguments: CodecSubject.all)
    func overlongPrefixes(subject: CodecSubject) {
        var applied = 0
        for (seed, sample) in Self.samples(subject, salt: 0x7_0000_0000) {
            for segment in sample.layout.segments {
                let limit: Int
                switch segment.kind {
                case .lengthPrefix(let max), .count(let max): limit = max
                default: continue
                }
                let remaining = sample.bytes.count - segment.range.upperBound
                let promised = remaining + 1
                let want: CanonicalDecodingError =
                    promised > limit
                    ? .limitExceeded(field: segment.field, limit: UInt64(limit), actual: UInt64(promised))
                    : .truncated(field: segment.field, needed: promised, remaining: remaining)
                applied += 1
                Self.check(
                    subject, splice(sample.bytes, segment.range, with: varint(UInt64(promised))), want, seed: seed)
            }
        }
        #expect(applied > 0)
    }

    @Test("strings that are not UTF-8 are refused, in every text field and chain id", arguments: CodecSubject.all)
    func invalidUTF8(subject: CodecSubject) {
        // A lone continuation byte, a byte that never occurs, an overlong NUL, a surrogate, a scalar over
        // U+10FFFF, and a three-byte sequence cut short by an ASCII letter.
        let invalid: [[UInt8]] = [
            [0x80], [0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82, 0x41],
        ]
        var applied = 0
        for (seed, sample) in Self.samples(subject, salt: 0x8_0000_0000) {
            for segment in sample.layout.segments where segment.kind == .text || segment.kind == .chainID {
                for sequence in invalid where sequence.count <= segment.range.count {
                    applied += 1
                    let range = segment.range.lowerBound..<segment.range.lowerBound + sequence.count
                    Self.check(
                        subject, splice(sample.bytes, range, with: sequence), .invalidUTF8(field: segment.field),
                        seed: seed)
                }
            }
        }
        #expect(applied > 0 || subject.name == "ValidatorSet")
    }

    @Test("chain ids outside [a-z0-9._-]{1,64} are refused in every chain id field", arguments: CodecSubject.all)
    func badChainIDs(subject: CodecSubject) {
        var applied = 0
        for (seed, sample) in Self.samples(subject, salt: 0x9_0000_0000) {
            let segments = sample.layout.segments
            for (index, body) in segments.enumerated() where body.kind == .chainID {
                let prefix = segments[index - 1]
                let whole = prefix.range.lowerBound..<body.range.upperBound
                let bad: [(String, CanonicalDecodingError)] = [
                    ("", .invalidValue(field: body.field, reason: Self.chainIDReason)),
                    ("Ensure", .invalidValue(field: body.field, reason: Self.chainIDReason)),
                    ("ensure net", .invalidValue(field: body.field, reason: Self.chainIDReason)),
                    ("ensure/net", .invalidValue(field: body.field, reason: Self.chainIDReason)),
                    ("caf\u{e9}", .invalidValue(field: body.field, reason: Self.chainIDReason)),
                    (String(repeating: "a", count: 65), .limitExceeded(field: body.field, limit: 64, actual: 65)),
                ]
                for (chain, want) in bad {
                    applied += 1
                    let encoded = varint(UInt64(chain.utf8.count)) + Array(chain.utf8)
                    Self.check(subject, splice(sample.bytes, whole, with: encoded), want, seed: seed)
                }
            }
        }
        #expect(applied > 0 || ["ValidatorSet", "IncidentRecord"].contains(subject.name))
    }

    @Test("optional markers and severities outside their values are refused with the tag", arguments: CodecSubject.all)
    func invalidTags(subject: CodecSubject) {
        var applied = 0
        for (seed, sample) in Self.samples(subject, salt: 0xa_0000_0000) {
            for segment in sample.layout.segments {
                let tags: [UInt8]
                switch segment.kind {
                case .optionalMarker: tags = [2, 0x80, 0xff]
                case .severity: tags = [7, 8, 98, 100, 0xff]
                default: continue
                }
                for tag in tags {
                    applied += 1
                    Self.check(
                        subject, splice(sample.bytes, segment.range, with: [tag]),
                        .invalidTag(field: segment.field, tag: UInt64(tag)), seed: seed)
                }
            }
        }
        #expect(applied > 0 || !["BlockHeader", "Block", "IncidentRecord"].contains(subject.name))
    }
}
