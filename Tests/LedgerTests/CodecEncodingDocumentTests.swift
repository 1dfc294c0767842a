import Codec
import EnsureCrypto
import Foundation
import Ledger
import Testing

/// The worked example of docs/encoding.md, rebuilt from its fixed seed: the bytes, the signed bytes, the
/// signature and the id must be what the document shows, so the document cannot drift from the code.
struct CodecEncodingDocumentTests {
    /// Seed bytes 0x00, 0x01, … 0x1f.
    static let key = Ed25519PrivateKey(seed: (0..<32).map { UInt8($0) })!
    static let example = Transaction(
        chainID: "ensure-demo", sequence: 300, kind: .notarize, payload: Array("hello".utf8), signedBy: key)

    /// The example's fields in order, as the document's table shows them.
    static let fields: [(name: String, hex: String)] = [
        ("version", "01"),
        ("chainID", "0b656e737572652d64656d6f"),
        ("signer", "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"),
        ("sequence", "ac02"),
        ("kind", "01"),
        ("payload", "0568656c6c6f"),
        (
            "signature",
            "1386a2c4da23e26539a43fbe1b545b6092b298bbab19344bd3b2a54f2cfe52a5"
                + "2705b3061fab9d00b1695813686011c2b0262e78a1e735d6597c7328fb22ac0e"
        ),
    ]

    @Test("the worked transaction encodes to the bytes the document shows, field by field")
    func workedExample() {
        let hex = Hex.encode(Self.example.canonicalBytes)
        #expect(hex == Self.fields.map(\.hex).joined())
        #expect(Hex.encode(Self.example.signingBytes) == Self.fields.dropLast().map(\.hex).joined())
        #expect(Self.example.hasValidSignature)
        #expect(Self.example.id.hex == Self.id)
        #expect(Hex.encode(SigningDomain.transaction.prefixed([])) == Self.domainPrefix)
    }

    static let id = "ac2995b96c0b73c72d5437765589961e3d4914b77c27a47f5541f69110b1a428"
    static let domainPrefix = "656e737572652d7369672d7631000b7472616e73616374696f6e"

    /// docs/encoding.md, found from this file's path.
    static func document() throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return try String(contentsOf: root.appendingPathComponent("docs/encoding.md"), encoding: .utf8)
    }

    @Test("docs/encoding.md shows the same bytes, fields, signed-message prefix and id")
    func documentMatches() throws {
        let text = try Self.document()
        let lines = Set(text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) })
        #expect(lines.contains(Hex.encode(Self.example.canonicalBytes)), "full hex line missing")
        for field in Self.fields {
            #expect(text.contains("| `\(field.name)` | `\(field.hex)` |"), "row for \(field.name) missing")
        }
        #expect(text.contains("`\(Self.id)`"), "id missing")
        #expect(text.contains("`\(Self.domainPrefix)`"), "signing prefix missing")
    }
}
