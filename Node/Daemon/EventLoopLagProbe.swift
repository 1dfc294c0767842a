public import API
import NIOConcurrencyHelpers
public import NIOCore

/// Measures how late an event loop runs a task it was given to run at a fixed interval.
///
/// The engine's loop runs consensus, admission of submissions and the peer sockets one job at a time. A long job
/// (a big block executed, a synced write, a batch of signatures) or a thread waiting for a core delays everything
/// queued behind it, and the probe sees that delay as its own lateness. `/metrics` reports the histogram as
/// `ensure_engine_loop_lag_seconds`.
public final class EventLoopLagProbe: Sendable {
    /// Upper bounds of the histogram's buckets, in seconds.
    public static let buckets: [Double] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]

    private struct State {
        var histogram = SecondsHistogram(bounds: EventLoopLagProbe.buckets)
        var due: NIODeadline?
        var task: RepeatedTask?
    }
    private let state = NIOLockedValueBox(State())
    private let loop: any EventLoop
    private let interval: TimeAmount

    /// A probe of `loop` that runs every `interval` once started.
    public init(loop: any EventLoop, interval: TimeAmount = .milliseconds(10)) {
        self.loop = loop
        self.interval = interval
    }

    /// Starts probing; a probe already started keeps its task.
    public func start() {
        let interval = self.interval
        state.withLockedValue { state in
            guard state.task == nil else { return }
            state.due = .now() + interval
            state.task = loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [self] _ in
                let now = NIODeadline.now()
                self.state.withLockedValue { state in
                    if let due = state.due {
                        state.histogram.record(Double((now - due).nanoseconds) / 1e9)
                    }
                    // A repeated task's delay runs from the end of its last run.
                    state.due = now + interval
                }
            }
        }
    }

    /// Stops probing; what was measured stays.
    public func stop() {
        state.withLockedValue { state in
            state.task?.cancel()
            state.task = nil
            state.due = nil
        }
    }

    /// Every lateness measured so far.
    public var histogram: SecondsHistogram { state.withLockedValue { $0.histogram } }
}
