import API
import Daemon
import Foundation
import NIOCore
import NIOPosix
import Testing

@Suite("Event loop lag probe")
struct EventLoopLagProbeTests {
    @Test("a loop held busy shows as a late run; nothing is measured before start or after stop")
    func measuresABusyLoop() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let probe = EventLoopLagProbe(loop: loop, interval: .milliseconds(5))
        try await Task.sleep(for: .milliseconds(30))
        #expect(probe.histogram.count == 0)

        probe.start()
        try await Task.sleep(for: .milliseconds(50))
        // A job that holds the loop for 0.2 s: the probe's next run comes about that much late.
        try await loop.submit { Thread.sleep(forTimeInterval: 0.2) }.get()
        try await Task.sleep(for: .milliseconds(50))
        probe.stop()

        let measured = probe.histogram
        #expect(measured.count >= 2)
        let lateRuns = zip(measured.bounds, measured.counts).filter { $0.0 > 0.1 }.reduce(measured.overflow) {
            $0 + $1.1
        }
        #expect(lateRuns >= 1, "no run measured more than 0.1 s late: \(measured)")
        #expect(measured.sum >= 0.1)

        let count = measured.count
        try await Task.sleep(for: .milliseconds(30))
        #expect(probe.histogram.count == count)
        try await group.shutdownGracefully()
    }

    @Test("the histogram counts each observation in the first bucket whose bound holds it, and sums them")
    func histogramBuckets() {
        var histogram = SecondsHistogram(bounds: [0.01, 0.1])
        histogram.record(0.01)
        histogram.record(0.05)
        histogram.record(3)
        histogram.record(-1)
        #expect(histogram.counts == [2, 1])
        #expect(histogram.overflow == 1)
        #expect(histogram.count == 4)
        #expect(abs(histogram.sum - 3.06) < 1e-12)
    }
}
