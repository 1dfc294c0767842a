import Glibc

/// The CPU time of the calling thread.
enum ThreadCPUClock {
    /// Seconds of CPU the calling thread used so far (`CLOCK_THREAD_CPUTIME_ID`, one system call).
    static func seconds() -> Double {
        var spec = Glibc.timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }
}
