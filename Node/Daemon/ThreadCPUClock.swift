import CThreadClock

/// The CPU time of the calling thread.
enum ThreadCPUClock {
    /// Seconds of CPU the calling thread used so far (`CLOCK_THREAD_CPUTIME_ID`, one system call).
    static func seconds() -> Double { ensure_thread_cpu_seconds() }
}
