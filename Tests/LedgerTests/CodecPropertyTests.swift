import Codec
import EnsureCrypto
import Ledger
import Testing

/// Round trips and canonicality over thousands of seeded random values of every ledger type. A failure names
/// its seed; `ENSURE_CODEC_SEED=<base seed> swift test --filter LedgerTests.CodecPropertyTests` replays it.
struct CodecPropertyTests {
    static let roundTripCases = 2_000
    static let mutatedSamples = 300
    static let mutationsPerSample = 24

    @Test(
        "decode(encode(x)) == x, and the layout of docs/encoding.md covers the encoding exactly",
        arguments: CodecSubject.all)
    func roundTrip(subject: CodecSubject) {
        for index in 0..<Self.roundTripCases {
            let seed = codecBaseSeed &+ UInt64(index)
            var generator = LedgerValueGenerator(seed: seed)
            let sample = subject.sample(&generator)
            #expect(sample.decodesToItself, "\(subject.name) does not round-trip; seed \(seed)")
            #expect(sample.layout.size == sample.bytes.count, "\(subject.name) layout size differs; seed \(seed)")
            #expect(sample.bytes.count <= subject.maxEncodedSize, "\(subject.name) exceeds its limit; seed \(seed)")
            var expectedStart = 0
            for segment in sample.layout.segments {
                #expect(segment.range.lowerBound == expectedStart, "\(segment.field) not contiguous; seed \(seed)")
                expectedStart = segment.range.upperBound
            }
        }
    }

    @Test(
        "mutated and random bytes never crash a decoder, and whatever decodes re-encodes to the same bytes",
        arguments: CodecSubject.all)
    func mutationsAreRefusedOrCanonical(subject: CodecSubject) {
        var accepted = 0
        var refused = 0
        for index in 0..<Self.mutatedSamples {
            let seed = codecBaseSeed &+ 0x1_0000_0000 &+ UInt64(index)
            var generator = LedgerValueGenerator(seed: seed)
            let sample = subject.sample(&generator)
            for round in 0..<Self.mutationsPerSample {
                let mutated = Self.mutate(sample, round: round, generator: &generator)
                do {
                    let reencoded = try subject.reencode(mutated)
                    accepted += 1
                    #expect(
                        reencoded == mutated,
                        "\(subject.name) accepted a second encoding; seed \(seed), mutation \(round)")
                } catch {
                    refused += 1
                }
            }
        }
        // Bit flips inside keys, digests and signatures still decode; version bytes, truncations and
        // insertions do not. Both outcomes must occur, or the mutations are not reaching the decoder.
        #expect(accepted > 0)
        #expect(refused > 0)
    }

    /// One mutation of a valid encoding, cycling through the kinds of damage a peer or a disk can do.
    static func mutate(_ sample: CodecSubject.Sample, round: Int, generator: inout LedgerValueGenerator) -> [UInt8] {
        var bytes = sample.bytes
        let segments = sample.layout.segments.filter { !$0.range.isEmpty }
        switch round % 9 {
        case 0:  // flip one bit
            let position = generator.below(bytes.count)
            bytes[position] ^= 1 << UInt8(generator.below(8))
        case 1:  // truncate
            bytes.removeLast(1 + generator.below(bytes.count))
        case 2:  // insert random bytes
            let position = generator.below(bytes.count + 1)
            bytes.insert(contentsOf: generator.bytes(1 + generator.below(4)), at: position)
        case 3:  // delete a run
            let start = generator.below(bytes.count)
            bytes.removeSubrange(start..<min(bytes.count, start + 1 + generator.below(8)))
        case 4:  // duplicate one field in place
            let segment = segments[generator.below(segments.count)]
            bytes.insert(contentsOf: bytes[segment.range], at: segment.range.upperBound)
        case 5:  // overwrite one byte
            bytes[generator.below(bytes.count)] = UInt8(truncatingIfNeeded: generator.next())
        case 6:  // swap two fields of the same size (reorders signers, members, recipients)
            let first = segments[generator.below(segments.count)]
            let peers = segments.filter { $0.range.count == first.range.count && $0.range != first.range }
            if let second = peers.isEmpty ? nil : peers[generator.below(peers.count)] {
                let a = Array(bytes[first.range])
                bytes.replaceSubrange(first.range, with: bytes[second.range])
                bytes.replaceSubrange(second.range, with: a)
            } else {
                bytes.append(0)
            }
        case 7:  // noise of a plausible size
            bytes = generator.bytes(generator.below(min(bytes.count * 2, 4_096) + 1))
        default:  // noise after a valid version byte, the case most likely to get deep into a decoder
            bytes = [1] + generator.bytes(generator.below(min(bytes.count * 2, 4_096) + 1))
        }
        return bytes
    }
}
