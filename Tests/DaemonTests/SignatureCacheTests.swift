import API
import EnsureCrypto
import Ledger
import Testing

@testable import Daemon

@Suite("Signature cache")
struct SignatureCacheTests {
    let fixture = ChainFixture()

    @Test("a good signature is remembered after one check; a bad one is refused every time and never remembered")
    func remembersOnlyGoodSignatures() {
        let cache = SignatureCache()
        let good = fixture.notarize(admin: 0, sequence: 1, label: "good")
        let forged = fixture.forged(good)
        #expect(!cache.contains(good.id))
        #expect(cache.verify(good))
        #expect(cache.contains(good.id))
        #expect(!cache.verify(forged))
        #expect(!cache.contains(forged.id))
        #expect(!cache.verify(forged))
    }

    @Test("a cached id is believed without a check, so only ids that verified may be inserted")
    func hitsSkipTheCheck() {
        let cache = SignatureCache()
        let good = fixture.notarize(admin: 0, sequence: 1, label: "good")
        let forged = fixture.forged(good)
        cache.insert(forged.id)
        #expect(cache.verify(forged))
    }

    @Test("verifications are counted, answers from the cache are not; single checks are not timed")
    func countsVerifications() {
        let cache = SignatureCache()
        let good = fixture.notarize(admin: 0, sequence: 1, label: "good")
        let forged = fixture.forged(good)
        #expect(cache.statistics == SignatureStatistics())
        #expect(cache.verify(good))
        #expect(cache.verify(good))
        #expect(!cache.verify(forged))
        #expect(!cache.verify(forged))
        let statistics = cache.statistics
        #expect(statistics.verified == 3)
        #expect(statistics.timed == 0)
        #expect(statistics.timedCPUSeconds == 0)
    }

    @Test("a batch checks eligibility first, verifies only misses, and times what it verified")
    func batches() {
        let cache = SignatureCache()
        let transactions = (1...4).map { fixture.notarize(admin: 0, sequence: UInt64($0), label: "t\($0)") }
        let forged = fixture.forged(transactions[3])
        #expect(cache.verify(transactions[0]))
        let batch = [transactions[0], transactions[1], transactions[2], forged]
        let results = cache.verify(batch) { $0.id != transactions[2].id }
        #expect(results == [true, true, false, false])
        #expect(!cache.contains(transactions[2].id))
        #expect(!cache.contains(forged.id))
        var statistics = cache.statistics
        // The single check of transactions[0], then transactions[1] and the forgery in the batch.
        #expect(statistics.verified == 3)
        #expect(statistics.timed == 2)
        #expect(statistics.timedCPUSeconds > 0)
        #expect(statistics.timedCPUSeconds < 10)

        // A batch answered from the cache changes nothing.
        #expect(cache.verify([transactions[0], transactions[1]]) { _ in true } == [true, true])
        #expect(cache.statistics == statistics)
        statistics = cache.statistics
        #expect(cache.verify([transactions[2]]) { _ in true } == [true])
        #expect(cache.statistics.timed == statistics.timed + 1)
        #expect(cache.statistics.timedCPUSeconds > statistics.timedCPUSeconds)
    }

    @Test("it holds at most its capacity: the older generation is forgotten as a new one fills")
    func bounded() {
        let cache = SignatureCache(capacity: 8)
        let ids = (0..<12).map { SHA256.hash([UInt8($0)]) }
        for id in ids { cache.insert(id) }
        let remembered = ids.filter(cache.contains)
        #expect(remembered.count <= 8)
        #expect(remembered.count >= 4)
        // The newest are kept, the oldest go first.
        #expect(cache.contains(ids[11]))
        #expect(!cache.contains(ids[0]))
    }
}
