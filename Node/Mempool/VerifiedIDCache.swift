import EnsureCrypto

/// Ids of transactions whose signature verified, so that a transaction seen again (gossip from several peers,
/// a resubmission after a full pool refused it) is not verified twice. An id covers the signature, so a hit
/// means the very same bytes. Holds at most `capacity` ids and forgets the oldest first.
struct VerifiedIDCache: Sendable {
    let capacity: Int
    private var members: Set<Digest> = []
    private var order: [Digest] = []
    private var head = 0

    init(capacity: Int) {
        self.capacity = capacity
    }

    func contains(_ id: Digest) -> Bool { members.contains(id) }

    var count: Int { members.count }

    mutating func insert(_ id: Digest) {
        guard capacity > 0, members.insert(id).inserted else { return }
        order.append(id)
        if members.count > capacity {
            members.remove(order[head])
            head += 1
            // Drop the forgotten prefix once it is the larger part, so the array stays within twice the capacity.
            if head > order.count / 2 {
                order.removeFirst(head)
                head = 0
            }
        }
    }
}
