/// A value with exactly one canonical binary encoding.
public protocol CanonicalEncodable {
    /// Appends the canonical encoding.
    func encode(to writer: inout CanonicalWriter)
}

/// A value that can be read back from its canonical encoding, refusing every other form.
public protocol CanonicalDecodable {
    /// The largest encoding accepted by ``decode(canonical:field:)``; checked before decoding begins.
    static var maxEncodedSize: Int { get }

    /// Reads the value; `field` is the path used in error messages.
    init(from reader: inout CanonicalReader, field: String) throws(CanonicalDecodingError)
}

/// Both directions.
public typealias CanonicalCodable = CanonicalDecodable & CanonicalEncodable

extension CanonicalEncodable {
    /// The canonical encoding of this value.
    public var canonicalBytes: [UInt8] {
        var writer = CanonicalWriter()
        encode(to: &writer)
        return writer.bytes
    }
}

extension CanonicalDecodable {
    /// Decodes a complete value, its errors naming fields under the type's name (`KeyRole.kind`). The name is
    /// spelled only for an error: working it out for every value cost a loaded node's execution about 8 %.
    public static func decode(canonical bytes: [UInt8]) throws(CanonicalDecodingError) -> Self {
        do {
            return try decode(canonical: bytes, field: "")
        } catch {
            throw error.inField(String(describing: Self.self))
        }
    }

    /// Decodes a complete value whose errors name fields under `field`: refuses input larger than
    /// ``maxEncodedSize`` and trailing bytes.
    public static func decode(canonical bytes: [UInt8], field: String) throws(CanonicalDecodingError) -> Self {
        guard bytes.count <= maxEncodedSize else {
            throw .limitExceeded(field: field, limit: UInt64(maxEncodedSize), actual: UInt64(bytes.count))
        }
        var reader = CanonicalReader(bytes)
        let value = try Self(from: &reader, field: field)
        try reader.expectEnd(field: field)
        return value
    }
}

extension CanonicalDecodable where Self: CanonicalEncodable {
    /// Checks that this value's encoding is one its own decoder accepts (sizes, counts, ordering, non-empty
    /// fields), so whoever builds a value learns that it breaks a rule before signing, storing or sending it.
    public func validateCanonicalForm(field: String = String(describing: Self.self)) throws(CanonicalDecodingError) {
        _ = try Self.decode(canonical: canonicalBytes, field: field)
    }
}
