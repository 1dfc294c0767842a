/// The purpose a signature is made for. Every signed message is prefixed with
/// `"ensure-sig-v1" ‖ 0x00 ‖ len(tag) ‖ tag`, so a signature over a vote can never be replayed as a
/// transaction, a timeout or a handshake, even when the signed bytes happen to be equal.
public struct SigningDomain: Hashable, Sendable, CustomStringConvertible {
    /// The domain's ASCII tag.
    public let tag: String

    /// A domain with the given tag (at most 64 ASCII bytes).
    public init(_ tag: String) {
        precondition(tag.utf8.count <= 64 && tag.utf8.allSatisfy { $0 >= 0x21 && $0 < 0x7f }, "invalid domain tag")
        self.tag = tag
    }

    /// Ledger transactions.
    public static let transaction = SigningDomain("transaction")
    /// Consensus block proposals.
    public static let proposal = SigningDomain("consensus/proposal")
    /// Consensus votes on a block.
    public static let vote = SigningDomain("consensus/vote")
    /// Consensus timeout messages.
    public static let timeout = SigningDomain("consensus/timeout")
    /// The peer transport handshake transcript.
    public static let handshake = SigningDomain("network/handshake")
    /// Signed HTTP API requests and login challenges.
    public static let apiRequest = SigningDomain("api/request")

    private static let magic = Array("ensure-sig-v1".utf8) + [0]

    /// The bytes actually signed for `message` in this domain, built in one allocation (a transaction's
    /// signing bytes are a slice of its canonical encoding).
    public func prefixed(_ message: some Collection<UInt8>) -> [UInt8] {
        let tagBytes = tag.utf8
        var out: [UInt8] = []
        out.reserveCapacity(Self.magic.count + 1 + tagBytes.count + message.count)
        out.append(contentsOf: Self.magic)
        out.append(UInt8(tagBytes.count))
        out.append(contentsOf: tagBytes)
        out.append(contentsOf: message)
        return out
    }

    public var description: String { tag }
}
