public import EnsureCrypto

/// RFC 9162 (Certificate Transparency 2.0) Merkle tree hashing: leaf = SHA-256(0x00 ‖ data),
/// node = SHA-256(0x01 ‖ left ‖ right), and the empty tree hashes to SHA-256 of nothing.
public enum MerkleHash {
    /// The root of the empty tree: SHA-256("").
    public static let emptyRoot = SHA256.hash([])

    /// The hash of one leaf's data.
    public static func leaf(_ data: [UInt8]) -> Digest {
        var input = [UInt8]()
        input.reserveCapacity(data.count + 1)
        input.append(0)
        input.append(contentsOf: data)
        return SHA256.hash(input)
    }

    /// The hash of a leaf whose data is a digest (a transaction id).
    public static func leaf(_ digest: Digest) -> Digest {
        var input = [UInt8]()
        input.reserveCapacity(1 + Digest.byteCount)
        input.append(0)
        digest.withUnsafeBytes { input.append(contentsOf: $0) }
        return SHA256.hash(input)
    }

    /// The hash of an interior node.
    public static func node(_ left: Digest, _ right: Digest) -> Digest {
        var input = [UInt8]()
        input.reserveCapacity(1 + 2 * Digest.byteCount)
        input.append(1)
        left.withUnsafeBytes { input.append(contentsOf: $0) }
        right.withUnsafeBytes { input.append(contentsOf: $0) }
        return SHA256.hash(input)
    }

    /// The Merkle tree hash (RFC 9162 §2.1.1) of a list of leaf hashes, in O(n) time and O(log n) space.
    public static func root(leafHashes: [Digest]) -> Digest {
        guard !leafHashes.isEmpty else { return emptyRoot }
        // A stack of (subtree hash, subtree size) for perfect subtrees, merged as in a binary counter;
        // the final fold right-to-left gives RFC 9162's split at the largest power of two.
        var stack: [(hash: Digest, size: Int)] = []
        for leaf in leafHashes {
            var current = (hash: leaf, size: 1)
            while let last = stack.last, last.size == current.size {
                stack.removeLast()
                current = (node(last.hash, current.hash), last.size * 2)
            }
            stack.append(current)
        }
        var hash = stack.removeLast().hash
        while let last = stack.popLast() {
            hash = node(last.hash, hash)
        }
        return hash
    }
}
