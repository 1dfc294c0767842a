import Codec
import EnsureCrypto
import Ledger
import Mempool
import Testing

@Suite struct AdmissionTests {
    let alice = MempoolFixtures.key(0)
    let bob = MempoolFixtures.key(1)
    let policy = TestPolicy()

    @Test func validTransactionIsAdded() throws {
        var pool = MempoolFixtures.pool()
        let transaction = MempoolFixtures.transaction(alice, 1)
        let outcome = try pool.admit(transaction, policy: policy, now: .zero)
        #expect(outcome == .added(id: transaction.id))
        #expect(pool.count == 1)
        #expect(pool.contains(transaction.id))
        #expect(pool.transaction(transaction.id) == transaction)
        #expect(pool.totalBytes == MempoolFixtures.size(transaction))
    }

    @Test func wrongChainIsRefused() {
        var pool = MempoolFixtures.pool()
        let transaction = MempoolFixtures.transaction(alice, 1, chainID: "other-chain")
        #expect(throws: MempoolRejection.wrongChain(expected: MempoolFixtures.chainID, found: "other-chain")) {
            try pool.admit(transaction, policy: policy, now: .zero)
        }
        #expect(pool.count == 0)
        #expect(pool.totalBytes == 0)
    }

    @Test func tamperedPayloadIsRefusedAsBadSignature() {
        var pool = MempoolFixtures.pool()
        let signed = MempoolFixtures.transaction(alice, 1)
        let tampered = Transaction(
            chainID: signed.chainID, signer: signed.signer, sequence: signed.sequence, kind: signed.kind,
            payload: [9, 9, 9], signature: signed.signature)
        #expect(throws: MempoolRejection.badSignature(signer: alice.publicKey, id: tampered.id)) {
            try pool.admit(tampered, policy: policy, now: .zero)
        }
        #expect(pool.count == 0)
    }

    @Test func signatureOfAnotherKeyIsRefused() {
        var pool = MempoolFixtures.pool()
        let byBob = MempoolFixtures.transaction(bob, 1)
        let forged = Transaction(
            chainID: byBob.chainID, signer: alice.publicKey, sequence: 1, kind: byBob.kind, payload: byBob.payload,
            signature: byBob.signature)
        #expect(throws: MempoolRejection.badSignature(signer: alice.publicKey, id: forged.id)) {
            try pool.admit(forged, policy: policy, now: .zero)
        }
        #expect(pool.count == 0)
    }

    @Test func transactionAtSizeLimitIsAdmittedAndOneByteMoreIsRefused() throws {
        let atLimit = MempoolFixtures.transaction(alice, 1, payload: [UInt8](repeating: 7, count: 40))
        let overLimit = MempoolFixtures.transaction(bob, 1, payload: [UInt8](repeating: 7, count: 41))
        let limit = MempoolFixtures.size(atLimit)
        #expect(MempoolFixtures.size(overLimit) == limit + 1)
        var pool = MempoolFixtures.pool(MempoolFixtures.configuration(maxTransactionBytes: limit))
        #expect(try pool.admit(atLimit, policy: policy, now: .zero) == .added(id: atLimit.id))
        #expect(throws: MempoolRejection.oversize(bytes: limit + 1, limit: limit)) {
            try pool.admit(overLimit, policy: policy, now: .zero)
        }
        #expect(pool.count == 1)
    }

    @Test func unauthorizedSignerIsRefusedForThatKindOnly() throws {
        var pool = MempoolFixtures.pool()
        var policy = TestPolicy()
        policy.revoke(alice, .incidentReport)
        #expect(throws: MempoolRejection.unauthorized(signer: alice.publicKey, kind: .incidentReport)) {
            try pool.admit(MempoolFixtures.transaction(alice, 1, kind: .incidentReport), policy: policy, now: .zero)
        }
        #expect(pool.count == 0)
        let notarize = MempoolFixtures.transaction(alice, 1, kind: .notarize)
        #expect(try pool.admit(notarize, policy: policy, now: .zero) == .added(id: notarize.id))
    }

    @Test func unauthorizedSignerCostsNoSignatureVerification() throws {
        var pool = MempoolFixtures.pool()
        var policy = TestPolicy()
        policy.revoke(alice, .notarize)
        let signed = MempoolFixtures.transaction(alice, 1, kind: .notarize)
        let forged = Transaction(
            chainID: signed.chainID, signer: signed.signer, sequence: signed.sequence, kind: signed.kind,
            payload: signed.payload + [0], signature: signed.signature)
        #expect(throws: MempoolRejection.unauthorized(signer: alice.publicKey, kind: .notarize)) {
            try pool.admit(forged, policy: policy, now: .zero)
        }
        #expect(pool.signatureVerifications == 0)
        // Authorized, the same forgery is caught by its signature.
        #expect(throws: MempoolRejection.badSignature(signer: alice.publicKey, id: forged.id)) {
            try pool.admit(forged, policy: TestPolicy(), now: .zero)
        }
        #expect(pool.signatureVerifications == 1)
        #expect(pool.count == 0)
    }

    @Test func pendingTransactionsByOriginInArrivalOrder() throws {
        var pool = MempoolFixtures.pool()
        let policy = TestPolicy()
        let first = MempoolFixtures.transaction(alice, 1, kind: .notarize)
        let gossiped = MempoolFixtures.transaction(alice, 2, kind: .notarize)
        let second = MempoolFixtures.transaction(alice, 3, kind: .notarize)
        try pool.admit(first, policy: policy, now: .zero)
        try pool.admit(gossiped, from: .peer(bob.publicKey), policy: policy, now: .zero)
        try pool.admit(second, policy: policy, now: .zero)
        #expect(pool.pendingTransactions(from: .local, limit: 10) == [first, second])
        #expect(pool.pendingTransactions(from: .local, limit: 1) == [first])
        #expect(pool.pendingTransactions(from: .peer(bob.publicKey), limit: 10) == [gossiped])
        #expect(pool.pendingTransactions(from: .peer(alice.publicKey), limit: 10).isEmpty)
    }

    @Test func committedSequenceIsStaleAndTheNextIsAdmitted() throws {
        var pool = MempoolFixtures.pool()
        let policy = TestPolicy(next: [alice.publicKey: 5])
        #expect(throws: MempoolRejection.staleSequence(signer: alice.publicKey, sequence: 4, nextExpected: 5)) {
            try pool.admit(MempoolFixtures.transaction(alice, 4), policy: policy, now: .zero)
        }
        #expect(throws: MempoolRejection.staleSequence(signer: alice.publicKey, sequence: 0, nextExpected: 5)) {
            try pool.admit(MempoolFixtures.transaction(alice, 0), policy: policy, now: .zero)
        }
        #expect(pool.count == 0)
        let fifth = MempoolFixtures.transaction(alice, 5)
        #expect(try pool.admit(fifth, policy: policy, now: .zero) == .added(id: fifth.id))
    }

    @Test func sequenceWindowAdmitsItsLastSlotAndRefusesTheNext() throws {
        var pool = MempoolFixtures.pool(MempoolFixtures.configuration(sequenceWindow: 3))
        let policy = TestPolicy(next: [alice.publicKey: 10])
        let last = MempoolFixtures.transaction(alice, 12)
        #expect(try pool.admit(last, policy: policy, now: .zero) == .added(id: last.id))
        #expect(
            throws: MempoolRejection.sequenceTooFarAhead(
                signer: alice.publicKey, sequence: 13, nextExpected: 10, window: 3)
        ) {
            try pool.admit(MempoolFixtures.transaction(alice, 13), policy: policy, now: .zero)
        }
        #expect(pool.count == 1)
    }

    @Test func duplicateIsANoOpThatReportsAlreadyPending() throws {
        var pool = MempoolFixtures.pool()
        let transaction = MempoolFixtures.transaction(alice, 1)
        try pool.admit(transaction, policy: policy, now: .zero)
        let bytes = pool.totalBytes
        let outcome = try pool.admit(transaction, from: .peer(bob.publicKey), policy: policy, now: .seconds(5))
        #expect(outcome == .alreadyPending(id: transaction.id))
        #expect(pool.count == 1)
        #expect(pool.totalBytes == bytes)
        #expect(pool.signatureVerifications == 1)
        // The first origin is kept: gossip still offers it to bob.
        #expect(pool.idsToGossip(to: bob.publicKey, alreadySent: [], limit: 10) == [transaction.id])
    }

    @Test func differentTransactionAtAPendingSequenceIsRefused() throws {
        var pool = MempoolFixtures.pool()
        let first = MempoolFixtures.transaction(alice, 1, payload: [1])
        let rival = MempoolFixtures.transaction(alice, 1, payload: [2])
        try pool.admit(first, policy: policy, now: .zero)
        #expect(throws: MempoolRejection.conflictingSequence(signer: alice.publicKey, sequence: 1, pending: first.id)) {
            try pool.admit(rival, policy: policy, now: .zero)
        }
        #expect(pool.count == 1)
        #expect(pool.contains(first.id))
        #expect(!pool.contains(rival.id))
    }

    @Test func signerLimitAdmitsExactlyTheLimitAndLeavesOthersAlone() throws {
        var pool = MempoolFixtures.pool(MempoolFixtures.configuration(maxPerSigner: 3))
        for sequence in UInt64(1)...3 {
            try pool.admit(MempoolFixtures.transaction(alice, sequence), policy: policy, now: .zero)
        }
        #expect(pool.count == 3)
        #expect(throws: MempoolRejection.signerLimit(signer: alice.publicKey, limit: 3)) {
            try pool.admit(MempoolFixtures.transaction(alice, 4), policy: policy, now: .zero)
        }
        let other = MempoolFixtures.transaction(bob, 1)
        #expect(try pool.admit(other, policy: policy, now: .zero) == .added(id: other.id))
        #expect(pool.count == 4)
    }

    @Test func countLimitFillsExactlyAndNeverEvicts() throws {
        var pool = MempoolFixtures.pool(MempoolFixtures.configuration(maxTransactions: 3))
        let admitted = [
            MempoolFixtures.transaction(alice, 1), MempoolFixtures.transaction(alice, 2),
            MempoolFixtures.transaction(bob, 1),
        ]
        for transaction in admitted { try pool.admit(transaction, policy: policy, now: .zero) }
        let carol = MempoolFixtures.key(2)
        let size = MempoolFixtures.size(admitted[0])
        #expect(
            throws: MempoolRejection.mempoolFull(
                transactions: 3, bytes: 3 * size, maxTransactions: 3, maxBytes: 1 << 24)
        ) {
            try pool.admit(MempoolFixtures.transaction(carol, 1), policy: policy, now: .zero)
        }
        #expect(pool.count == 3)
        for transaction in admitted { #expect(pool.contains(transaction.id)) }
    }

    @Test func byteLimitFillsExactlyAndNeverEvicts() throws {
        let first = MempoolFixtures.transaction(alice, 1)
        let size = MempoolFixtures.size(first)
        var pool = MempoolFixtures.pool(
            MempoolFixtures.configuration(maxBytes: 2 * size, maxTransactionBytes: size))
        try pool.admit(first, policy: policy, now: .zero)
        try pool.admit(MempoolFixtures.transaction(bob, 1), policy: policy, now: .zero)
        #expect(pool.totalBytes == 2 * size)
        #expect(
            throws: MempoolRejection.mempoolFull(
                transactions: 2, bytes: 2 * size, maxTransactions: 1_000, maxBytes: 2 * size)
        ) {
            try pool.admit(MempoolFixtures.transaction(alice, 2), policy: policy, now: .zero)
        }
        #expect(pool.count == 2)
        #expect(pool.contains(first.id))
    }

    @Test func gossipedBytesGoThroughTheSameChecks() throws {
        var pool = MempoolFixtures.pool()
        let transaction = MempoolFixtures.transaction(alice, 1)
        let outcome = try pool.admit(
            encoded: transaction.canonicalBytes, from: .peer(bob.publicKey), policy: policy, now: .zero)
        #expect(outcome == .added(id: transaction.id))
        let stale = MempoolFixtures.transaction(alice, 1, payload: [4])
        let committed = TestPolicy(next: [alice.publicKey: 2])
        #expect(throws: MempoolRejection.staleSequence(signer: alice.publicKey, sequence: 1, nextExpected: 2)) {
            try pool.admit(encoded: stale.canonicalBytes, from: .peer(bob.publicKey), policy: committed, now: .zero)
        }
    }

    @Test func malformedGossipIsRefusedByField() {
        var pool = MempoolFixtures.pool()
        var bytes = MempoolFixtures.transaction(alice, 1).canonicalBytes
        bytes.append(0)
        #expect(throws: MempoolRejection.malformed(.trailingBytes(field: "transaction", count: 1))) {
            try pool.admit(encoded: bytes, from: .peer(bob.publicKey), policy: policy, now: .zero)
        }
        #expect(throws: MempoolRejection.self) {
            try pool.admit(encoded: Array(bytes.prefix(20)), from: .peer(bob.publicKey), policy: policy, now: .zero)
        }
        #expect(pool.count == 0)
    }

    @Test func configurationNamesTheFieldOutOfRange() {
        func field(_ build: () throws -> MempoolConfiguration) -> String? {
            do {
                _ = try build()
                return nil
            } catch {
                return (error as? MempoolConfigurationError)?.field ?? "not a configuration error"
            }
        }
        #expect(field { try MempoolConfiguration(chainID: "Bad Chain") } == "chainID")
        #expect(field { try MempoolConfiguration(chainID: "c", maxTransactions: 0) } == "maxTransactions")
        #expect(field { try MempoolConfiguration(chainID: "c", maxBytes: 10) } == "maxBytes")
        #expect(field { try MempoolConfiguration(chainID: "c", maxTransactionBytes: 0) } == "maxTransactionBytes")
        #expect(field { try MempoolConfiguration(chainID: "c", maxTransactionBytes: 1 << 30) } == "maxTransactionBytes")
        #expect(field { try MempoolConfiguration(chainID: "c", maxPerSigner: 0) } == "maxPerSigner")
        #expect(field { try MempoolConfiguration(chainID: "c", sequenceWindow: 0) } == "sequenceWindow")
        #expect(field { try MempoolConfiguration(chainID: "c", maxGapAge: .zero) } == "maxGapAge")
        #expect(field { try MempoolConfiguration(chainID: "c", verifiedCacheCapacity: -1) } == "verifiedCacheCapacity")
        #expect(field { try MempoolConfiguration(chainID: "c") } == nil)
    }
}

@Suite struct SignatureCacheTests {
    let alice = MempoolFixtures.key(0)
    let bob = MempoolFixtures.key(1)
    let policy = TestPolicy()

    @Test func aRefusedThenResubmittedTransactionIsVerifiedOnce() throws {
        var pool = MempoolFixtures.pool(MempoolFixtures.configuration(maxTransactions: 1))
        try pool.admit(MempoolFixtures.transaction(alice, 1), policy: policy, now: .zero)
        let waiting = MempoolFixtures.transaction(bob, 1)
        for _ in 0..<3 {
            #expect(throws: MempoolRejection.self) { try pool.admit(waiting, policy: policy, now: .zero) }
        }
        #expect(pool.signatureVerifications == 2)
        var committed = policy
        committed.commit([MempoolFixtures.transaction(alice, 1)])
        pool.update(committed: [MempoolFixtures.transaction(alice, 1)], policy: committed, now: .zero)
        #expect(try pool.admit(waiting, policy: committed, now: .zero) == .added(id: waiting.id))
        #expect(pool.signatureVerifications == 2)
    }

    @Test func withoutTheCacheEveryResubmissionIsVerifiedAgain() throws {
        var pool = MempoolFixtures.pool(MempoolFixtures.configuration(maxTransactions: 1, verifiedCacheCapacity: 0))
        try pool.admit(MempoolFixtures.transaction(alice, 1), policy: policy, now: .zero)
        let waiting = MempoolFixtures.transaction(bob, 1)
        for _ in 0..<3 {
            #expect(throws: MempoolRejection.self) { try pool.admit(waiting, policy: policy, now: .zero) }
        }
        #expect(pool.signatureVerifications == 4)
    }

    @Test func badSignaturesAreNotCachedAsVerified() {
        var pool = MempoolFixtures.pool()
        let signed = MempoolFixtures.transaction(alice, 1)
        let tampered = Transaction(
            chainID: signed.chainID, signer: signed.signer, sequence: 1, kind: signed.kind, payload: [0],
            signature: signed.signature)
        for _ in 0..<2 {
            #expect(throws: MempoolRejection.badSignature(signer: alice.publicKey, id: tampered.id)) {
                try pool.admit(tampered, policy: policy, now: .zero)
            }
        }
        #expect(pool.signatureVerifications == 2)
        #expect(pool.count == 0)
    }

    @Test func aSignatureTheCallerCheckedIsNotVerifiedOrRemembered() throws {
        var pool = MempoolFixtures.pool(MempoolFixtures.configuration(maxTransactions: 1))
        try pool.admit(MempoolFixtures.transaction(alice, 1), policy: policy, now: .zero, signatureChecked: true)
        #expect(pool.signatureVerifications == 0)
        #expect(pool.count == 1)
        // Refused by the full pool after the signature step: checked by the caller, it is neither verified here
        // nor cached, so the same bytes without the caller's check are verified once.
        let waiting = MempoolFixtures.transaction(bob, 1)
        #expect(throws: MempoolRejection.self) {
            try pool.admit(waiting, policy: policy, now: .zero, signatureChecked: true)
        }
        #expect(pool.signatureVerifications == 0)
        #expect(throws: MempoolRejection.self) { try pool.admit(waiting, policy: policy, now: .zero) }
        #expect(pool.signatureVerifications == 1)
    }

    @Test func aForgedSignatureIsRefusedUnlessTheCallerVouchedForIt() throws {
        var pool = MempoolFixtures.pool()
        let signed = MempoolFixtures.transaction(alice, 1)
        let tampered = Transaction(
            chainID: signed.chainID, signer: signed.signer, sequence: 1, kind: signed.kind, payload: [0],
            signature: signed.signature)
        #expect(throws: MempoolRejection.badSignature(signer: alice.publicKey, id: tampered.id)) {
            try pool.admit(tampered, policy: policy, now: .zero, signatureChecked: false)
        }
        #expect(pool.count == 0)
        // The flag is the caller's word: the engine passes it only for the very transaction its check passed.
        #expect(try pool.admit(tampered, policy: policy, now: .zero, signatureChecked: true) == .added(id: tampered.id))
    }

    @Test func cacheForgetsTheOldestBeyondItsCapacity() throws {
        var pool = MempoolFixtures.pool(MempoolFixtures.configuration(maxTransactions: 1, verifiedCacheCapacity: 1))
        let keys = (2..<4).map(MempoolFixtures.key)
        try pool.admit(MempoolFixtures.transaction(alice, 1), policy: policy, now: .zero)
        let first = MempoolFixtures.transaction(keys[0], 1)
        let second = MempoolFixtures.transaction(keys[1], 1)
        #expect(throws: MempoolRejection.self) { try pool.admit(first, policy: policy, now: .zero) }
        #expect(throws: MempoolRejection.self) { try pool.admit(second, policy: policy, now: .zero) }
        #expect(pool.signatureVerifications == 3)
        #expect(throws: MempoolRejection.self) { try pool.admit(second, policy: policy, now: .zero) }
        #expect(pool.signatureVerifications == 3)
        #expect(throws: MempoolRejection.self) { try pool.admit(first, policy: policy, now: .zero) }
        #expect(pool.signatureVerifications == 4)
    }
}
