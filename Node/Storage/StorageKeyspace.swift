public import EnsureCrypto
public import Ledger

/// The key layout of a node's LevelDB database (docs/storage.md). Every store owns namespaces: ASCII
/// prefixes ending in `/`, none a prefix of another, followed by fixed-width big-endian numbers or raw
/// digests, so that LevelDB's byte order is numeric order and prefix iteration walks one namespace.
public enum StorageKeyspace {
    /// `block/` ‖ height (8 bytes, big-endian) → canonical ``Block``.
    public static let blockPrefix = Array("block/".utf8)
    /// `qc/` ‖ height (8 bytes, big-endian) → canonical ``QuorumCertificate`` that certifies the block.
    public static let certificatePrefix = Array("qc/".utf8)
    /// `block-id/` ‖ block id (32 bytes) → height (8 bytes, big-endian).
    public static let blockIDPrefix = Array("block-id/".utf8)
    /// `chain/` namespace: the chain tip and chain id.
    public static let chainPrefix = Array("chain/".utf8)
    /// `chain/tip` → height (8 bytes, big-endian) ‖ block id (32 bytes) of the latest block.
    public static let chainTipKey = chainPrefix + Array("tip".utf8)
    /// `chain/id` → the chain id (UTF-8) fixed by the genesis block.
    public static let chainIDKey = chainPrefix + Array("id".utf8)
    /// `merkle/` ‖ level (1 byte) ‖ index (8 bytes, big-endian) → 32-byte perfect-subtree hash of the incident log.
    public static let merkleNodePrefix = StateKeys.merkleNodePrefix
    /// `safety/` namespace: the validator's consensus safety state.
    public static let safetyPrefix = Array("safety/".utf8)
    /// `safety/state` → canonical `SafetyState` (Consensus), written synced before any signature leaves the node.
    public static let safetyStateKey = safetyPrefix + Array("state".utf8)
    /// `safety/in-journal` → the name of the file that keeps the safety state instead (UTF-8). Written once, after
    /// the state first reached that file: from then on a node refuses to start when the file holds no state.
    public static let safetyInJournalKey = safetyPrefix + Array("in-journal".utf8)

    /// The namespaces the ``BlockStore`` alone writes; extra writes in an append may not touch them.
    public static let blockStoreNamespaces = [blockPrefix, certificatePrefix, blockIDPrefix, chainPrefix]

    /// The key of the block at `height`.
    public static func blockKey(height: UInt64) -> [UInt8] { blockPrefix + bigEndian(height) }

    /// The key of the certificate of the block at `height`.
    public static func certificateKey(height: UInt64) -> [UInt8] { certificatePrefix + bigEndian(height) }

    /// The key of the id-to-height index entry of block `id`.
    public static func blockIDKey(_ id: Digest) -> [UInt8] { blockIDPrefix + id.bytes }

    /// The key of the Merkle log node at `position`.
    public static func merkleNodeKey(_ position: MerkleNodePosition) -> [UInt8] {
        StateKeys.merkleNode(position)
    }

    /// A key as an operator reads it in an error: the namespace, then the height or the bytes in hex.
    public static func describe(_ key: [UInt8]) -> String {
        for prefix in [blockPrefix, certificatePrefix] where key.starts(with: prefix) {
            let rest = Array(key.dropFirst(prefix.count))
            if let height = UInt64(bigEndianBytes: rest) {
                return String(decoding: prefix, as: UTF8.self) + String(height)
            }
        }
        for prefix in [blockIDPrefix, chainPrefix, merkleNodePrefix, safetyPrefix] where key.starts(with: prefix) {
            let rest = key.dropFirst(prefix.count)
            let readable = prefix == chainPrefix || prefix == safetyPrefix
            let text = readable ? String(decoding: rest, as: UTF8.self) : Hex.encode(rest)
            return String(decoding: prefix, as: UTF8.self) + text
        }
        return "0x" + Hex.encode(key)
    }

    /// The 8 big-endian bytes of `value`, so keys sort in numeric order.
    public static func bigEndian(_ value: UInt64) -> [UInt8] { StateKeys.bigEndian(value) }
}

extension UInt64 {
    /// Reads exactly 8 big-endian bytes, as ``StorageKeyspace/bigEndian(_:)`` writes them; nil for any other length.
    public init?(bigEndianBytes bytes: some Collection<UInt8>) {
        guard bytes.count == 8 else { return nil }
        self = bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }
}
