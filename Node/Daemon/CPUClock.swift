import CThreadClock

/// CPU time used so far, in seconds (one system call each).
public enum CPUClock {
    /// The calling thread's (`CLOCK_THREAD_CPUTIME_ID`).
    public static func thread() -> Double { ensure_thread_cpu_seconds() }

    /// The whole process's, every thread included (`CLOCK_PROCESS_CPUTIME_ID`).
    public static func process() -> Double { ensure_process_cpu_seconds() }
}
