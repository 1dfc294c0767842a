import Codec
public import EnsureCrypto
public import Ledger

/// The pending transactions of one node: admission with a typed refusal for every rule, gap-free and fair
/// proposals, removal on commit, expiry of transactions stuck behind a missing predecessor, and the ids that
/// gossip still has to send.
///
/// A `Mempool` is a plain value with no I/O, clock or randomness: the caller passes the application's view of
/// committed state (an ``AdmissionPolicy``) and the current time (a `Duration` since any origin the caller keeps
/// fixed) into each call. The node owns one inside an actor and calls it serially.
public struct Mempool: Sendable {
    /// The limits this pool enforces.
    public let configuration: MempoolConfiguration

    /// Every pending transaction by id.
    private var entries: [Digest: Entry] = [:]
    /// Each signer's pending transactions by sequence, and the next sequence committed state expects.
    private var signers: [Ed25519PublicKey: SignerQueue] = [:]
    /// Admissions in arrival order, with stale positions left behind by removals (see ``compactArrivals()``).
    private var arrivals: [(arrival: UInt64, id: Digest)] = []
    private var nextArrival: UInt64 = 0
    private var verified: VerifiedIDCache

    /// The canonical bytes of all pending transactions together.
    public private(set) var totalBytes = 0
    /// How many signatures this pool has verified since it was created; the verified-id cache keeps it below
    /// the number of admissions.
    public private(set) var signatureVerifications = 0

    /// An empty pool with these limits.
    public init(configuration: MempoolConfiguration) {
        self.configuration = configuration
        self.verified = VerifiedIDCache(capacity: configuration.verifiedCacheCapacity)
    }

    /// The number of pending transactions.
    public var count: Int { entries.count }

    /// Whether a transaction with this id is pending.
    public func contains(_ id: Digest) -> Bool { entries[id] != nil }

    /// The pending transaction with this id, if any.
    public func transaction(_ id: Digest) -> Transaction? { entries[id]?.transaction }

    /// Up to `limit` pending transactions that came from `origin`, in arrival order: what a node sends a peer
    /// that connects after their first gossip missed it.
    public func pendingTransactions(from origin: TransactionOrigin, limit: Int) -> [Transaction] {
        var result: [Transaction] = []
        for (arrival, id) in arrivals where result.count < limit {
            guard let entry = entries[id], entry.arrival == arrival, entry.origin == origin else { continue }
            result.append(entry.transaction)
        }
        return result
    }

    /// The first sequence number after `committedNext` that no pending transaction of `signer` holds: what a
    /// client should sign next so its transaction follows the ones already waiting.
    public func nextFreeSequence(of signer: Ed25519PublicKey, committedNext: UInt64) -> UInt64 {
        guard let queue = signers[signer] else { return committedNext }
        var sequence = max(committedNext, queue.nextExpected)
        while queue.bySequence[sequence] != nil { sequence += 1 }
        return sequence
    }

    // MARK: Admission

    /// Decodes gossiped or submitted bytes and admits the transaction through the same checks as
    /// ``admit(_:from:policy:now:)``; bytes that are not one canonical transaction are refused as
    /// ``MempoolRejection/malformed(_:)``.
    @discardableResult
    public mutating func admit(
        encoded bytes: [UInt8], from origin: TransactionOrigin, policy: some AdmissionPolicy, now: Duration
    ) throws(MempoolRejection) -> AdmissionOutcome {
        let transaction: Transaction
        do {
            transaction = try Transaction.decode(canonical: bytes, field: "transaction")
        } catch {
            throw .malformed(error)
        }
        return try admit(transaction, from: origin, policy: policy, now: now)
    }

    /// Admits `transaction` or says why not. The checks run cheapest first: chain, size, duplicate (a no-op
    /// that returns ``AdmissionOutcome/alreadyPending(id:)``), sequence against committed state and the window,
    /// authorization, signature (once per id), a different pending transaction at the same sequence, the
    /// signer's limit, then the pool's limits. A refusal leaves the pool unchanged (apart from the
    /// verified-id cache and ``signatureVerifications``).
    ///
    /// `signatureChecked` says the caller has just verified this very transaction's signature (the node checks
    /// gossip and submissions before its actor): admission then neither verifies it nor remembers its id.
    @discardableResult
    public mutating func admit(
        _ transaction: Transaction, from origin: TransactionOrigin = .local, policy: some AdmissionPolicy,
        now: Duration, signatureChecked: Bool = false
    ) throws(MempoolRejection) -> AdmissionOutcome {
        guard transaction.chainID == configuration.chainID else {
            throw .wrongChain(expected: configuration.chainID, found: transaction.chainID)
        }
        let bytes = transaction.canonicalBytes
        guard bytes.count <= configuration.maxTransactionBytes else {
            throw .oversize(bytes: bytes.count, limit: configuration.maxTransactionBytes)
        }
        let id = transaction.id
        if entries[id] != nil { return .alreadyPending(id: id) }

        let signer = transaction.signer
        let sequence = transaction.sequence
        let next = policy.nextExpectedSequence(of: signer)
        guard sequence >= next else {
            throw .staleSequence(signer: signer, sequence: sequence, nextExpected: next)
        }
        guard sequence - next < configuration.sequenceWindow else {
            throw .sequenceTooFarAhead(
                signer: signer, sequence: sequence, nextExpected: next, window: configuration.sequenceWindow)
        }
        // Authorization is a lookup and the signature an Ed25519 verification: a flood of transactions by
        // keys nobody authorized must not cost one each.
        guard policy.isAuthorized(signer: signer, kind: transaction.kind) else {
            throw .unauthorized(signer: signer, kind: transaction.kind)
        }
        if !signatureChecked, !verified.contains(id) {
            signatureVerifications += 1
            guard transaction.hasValidSignature else { throw .badSignature(signer: signer, id: id) }
            verified.insert(id)
        }
        let queue = signers[signer]
        if let pending = queue?.bySequence[sequence] {
            throw .conflictingSequence(signer: signer, sequence: sequence, pending: pending)
        }
        guard (queue?.bySequence.count ?? 0) < configuration.maxPerSigner else {
            throw .signerLimit(signer: signer, limit: configuration.maxPerSigner)
        }
        guard entries.count < configuration.maxTransactions, totalBytes + bytes.count <= configuration.maxBytes
        else {
            throw .mempoolFull(
                transactions: entries.count, bytes: totalBytes, maxTransactions: configuration.maxTransactions,
                maxBytes: configuration.maxBytes)
        }

        let arrival = nextArrival
        nextArrival += 1
        entries[id] = Entry(
            transaction: transaction, id: id, size: bytes.count, arrival: arrival, admittedAt: now, origin: origin)
        signers[signer, default: SignerQueue(nextExpected: next)].insert(id, at: sequence, kind: transaction.kind)
        // Committed state is the policy's latest answer; an update that has not run yet will catch up.
        signers[signer]!.nextExpected = max(signers[signer]!.nextExpected, next)
        arrivals.append((arrival, id))
        totalBytes += bytes.count
        return .added(id: id)
    }

    // MARK: Proposals

    /// Transactions for a block, at most `maxCount` of them and `maxBytes` canonical bytes together, without
    /// removing them from the pool.
    ///
    /// Only each signer's proposable run is considered: its next expected sequence and the consecutive pending
    /// sequences after it, so no batch ever holds sequence n+1 of a signer without n being committed or earlier
    /// in the batch. Signers take turns, one transaction each per turn, in the order their first proposable
    /// transaction arrived; a signer whose next transaction does not fit the remaining bytes leaves the turns.
    ///
    /// `excluding` names transactions already in proposed but uncommitted ancestor blocks: they are not
    /// proposed again, and their successors may follow them.
    public func reap(maxCount: Int, maxBytes: Int, excluding: Set<Digest> = []) -> [Transaction] {
        guard maxCount > 0, maxBytes > 0 else { return [] }
        var lanes: [[Entry]] = []
        for queue in signers.values {
            var lane: [Entry] = []
            var sequence = queue.nextExpected
            while let id = queue.bySequence[sequence], let entry = entries[id] {
                if !excluding.contains(id) { lane.append(entry) }
                sequence += 1
            }
            if !lane.isEmpty { lanes.append(lane) }
        }
        lanes.sort { $0[0].arrival < $1[0].arrival }

        var batch: [Transaction] = []
        var bytes = 0
        var positions = [Int](repeating: 0, count: lanes.count)
        var turn = Array(lanes.indices)
        while !turn.isEmpty && batch.count < maxCount {
            var nextTurn: [Int] = []
            nextTurn.reserveCapacity(turn.count)
            for lane in turn {
                guard batch.count < maxCount else { break }
                let entry = lanes[lane][positions[lane]]
                guard bytes + entry.size <= maxBytes else { continue }
                batch.append(entry.transaction)
                bytes += entry.size
                positions[lane] += 1
                if positions[lane] < lanes[lane].count { nextTurn.append(lane) }
            }
            turn = nextTurn
        }
        return batch
    }

    // MARK: Commit and expiry

    /// Applies a committed block: removes its transactions, then asks `policy` (the state after the block) for
    /// each remaining signer's next expected sequence and whether it may still sign each kind it has pending,
    /// removing what is stale or no longer authorized, and finally expires what waited too long behind a gap.
    ///
    /// The node calls it at every commit, so its cost follows the block and the number of signers, not the
    /// pool: it asks the policy once per signer and kind, and visits a signer's transactions only when some of
    /// them leave.
    @discardableResult
    public mutating func update(
        committed: [Transaction], policy: some AdmissionPolicy, now: Duration
    ) -> MempoolRemovals {
        var committedRemoved: [Entry] = []
        for transaction in committed {
            if let entry = remove(transaction.id) { committedRemoved.append(entry) }
        }
        var staleIDs: [Digest] = []
        var unauthorizedIDs: [Digest] = []
        var refusedKinds: [TransactionKind] = []
        // Walked by index so that updating a queue in place does not copy the table being iterated.
        var index = signers.startIndex
        while index != signers.endIndex {
            let (signer, queue) = signers[index]
            let next = policy.nextExpectedSequence(of: signer)
            staleIDs.append(contentsOf: queue.ids(below: next))
            signers.values[index].advance(to: next)
            refusedKinds.removeAll(keepingCapacity: true)
            for kind in queue.kinds.keys where !policy.isAuthorized(signer: signer, kind: kind) {
                refusedKinds.append(kind)
            }
            if !refusedKinds.isEmpty {
                for (sequence, id) in queue.bySequence where sequence >= next {
                    if let kind = entries[id]?.transaction.kind, refusedKinds.contains(kind) {
                        unauthorizedIDs.append(id)
                    }
                }
            }
            index = signers.index(after: index)
        }
        let stale = staleIDs.compactMap { remove($0) }
        let unauthorized = unauthorizedIDs.compactMap { remove($0) }

        var removals = removeExpired(now: now)
        removals.committed = Self.inArrivalOrder(committedRemoved)
        removals.stale = Self.inArrivalOrder(stale)
        removals.unauthorized = Self.inArrivalOrder(unauthorized)
        return removals
    }

    /// Removes every transaction that is not proposable (a predecessor is missing) and was admitted more than
    /// ``MempoolConfiguration/maxGapAge`` before `now`. The node calls it on a timer when no block commits.
    @discardableResult
    public mutating func removeExpired(now: Duration) -> MempoolRemovals {
        var expired: [Entry] = []
        var index = signers.startIndex
        while index != signers.endIndex {
            defer { index = signers.index(after: index) }
            let queue = signers.values[index]
            guard !queue.isGapFree else { continue }
            var proposable = queue.nextExpected
            while queue.bySequence[proposable] != nil { proposable += 1 }
            for (sequence, id) in queue.bySequence where sequence < queue.nextExpected || sequence > proposable {
                guard let entry = entries[id] else { continue }
                if now - entry.admittedAt > configuration.maxGapAge { expired.append(entry) }
            }
            signers.values[index].tightenBounds()
        }
        for entry in expired { remove(entry.id) }
        var removals = MempoolRemovals()
        removals.expired = Self.inArrivalOrder(expired)
        return removals
    }

    // MARK: Gossip

    /// Ids of pending transactions to send to `peer`, in arrival order: those not in `alreadySent` (the node's
    /// record of what it sent that peer or received from it) and not received from `peer` itself, at most
    /// `limit` of them.
    public func idsToGossip(to peer: Ed25519PublicKey, alreadySent: Set<Digest>, limit: Int) -> [Digest] {
        var ids: [Digest] = []
        for (arrival, id) in arrivals where ids.count < limit {
            guard let entry = entries[id], entry.arrival == arrival, entry.origin != .peer(peer),
                !alreadySent.contains(id)
            else { continue }
            ids.append(id)
        }
        return ids
    }

    // MARK: Bookkeeping

    /// Removes one transaction and returns it, keeping the signer index, the totals and the arrival log right.
    @discardableResult
    private mutating func remove(_ id: Digest) -> Entry? {
        guard let entry = entries.removeValue(forKey: id) else { return nil }
        let signer = entry.transaction.signer
        signers[signer]?.remove(at: entry.transaction.sequence, kind: entry.transaction.kind)
        if signers[signer]?.bySequence.isEmpty == true { signers.removeValue(forKey: signer) }
        totalBytes -= entry.size
        compactArrivals()
        return entry
    }

    /// Drops removed transactions from the arrival log once they are more than half of it, so the log stays
    /// within about twice the pool and each removal costs amortized constant time.
    private mutating func compactArrivals() {
        guard arrivals.count > 64 && arrivals.count > 2 * entries.count else { return }
        arrivals.removeAll { entries[$0.id]?.arrival != $0.arrival }
    }

    private static func inArrivalOrder(_ removed: [Entry]) -> [Digest] {
        removed.sorted { $0.arrival < $1.arrival }.map(\.id)
    }
}

/// One pending transaction and what the pool knows of it.
private struct Entry: Sendable {
    let transaction: Transaction
    let id: Digest
    /// Canonical bytes.
    let size: Int
    /// Admission order, unique within the pool's life.
    let arrival: UInt64
    let admittedAt: Duration
    let origin: TransactionOrigin
}

/// One signer's pending transactions.
private struct SignerQueue: Sendable {
    /// The sequence committed state expects next, as the policy last said.
    var nextExpected: UInt64
    private(set) var bySequence: [UInt64: Digest] = [:]
    /// How many pending transactions there are of each kind: what the authorization check at a commit asks
    /// about, without visiting the transactions.
    private(set) var kinds: [TransactionKind: Int] = [:]
    /// At most the smallest pending sequence and at least the largest: insertions keep them exact, removals
    /// leave them loose until ``tightenBounds()``.
    private var lowest = UInt64.max
    private var highest = UInt64.min

    init(nextExpected: UInt64) {
        self.nextExpected = nextExpected
    }

    mutating func insert(_ id: Digest, at sequence: UInt64, kind: TransactionKind) {
        bySequence[sequence] = id
        kinds[kind, default: 0] += 1
        lowest = min(lowest, sequence)
        highest = max(highest, sequence)
    }

    mutating func remove(at sequence: UInt64, kind: TransactionKind) {
        guard bySequence.removeValue(forKey: sequence) != nil else { return }
        if kinds[kind] == 1 { kinds.removeValue(forKey: kind) } else { kinds[kind]? -= 1 }
    }

    /// Records committed state's next expected sequence. The caller removes ``ids(below:)`` for it, so the
    /// transactions that stay are all at or above it.
    mutating func advance(to next: UInt64) {
        nextExpected = next
        lowest = max(lowest, next)
    }

    /// Whether every pending transaction is proposable: the sequences run from ``nextExpected`` without a gap.
    /// Bounds that removals left loose can only make this false, never wrongly true: `count` distinct
    /// sequences at or above `nextExpected` fill `nextExpected...highest` only if `highest` is exact.
    var isGapFree: Bool {
        bySequence.isEmpty
            || (lowest >= nextExpected && highest - nextExpected == UInt64(bySequence.count - 1))
    }

    /// The ids of pending transactions below `sequence`, which committed state has passed: it looks up each
    /// sequence from ``lowest`` when that is fewer steps than visiting every transaction.
    func ids(below sequence: UInt64) -> [Digest] {
        guard !bySequence.isEmpty, lowest < sequence else { return [] }
        if sequence - lowest <= UInt64(bySequence.count) {
            return (lowest..<sequence).compactMap { bySequence[$0] }
        }
        return bySequence.compactMap { $0.key < sequence ? $0.value : nil }
    }

    /// Makes ``lowest`` and ``highest`` exact again.
    mutating func tightenBounds() {
        lowest = bySequence.keys.min() ?? .max
        highest = bySequence.keys.max() ?? .min
    }
}
