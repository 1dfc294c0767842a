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
