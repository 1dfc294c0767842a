#include <time.h>

/* Seconds of CPU used so far by the calling thread (CLOCK_THREAD_CPUTIME_ID) or the whole process
   (CLOCK_PROCESS_CPUTIME_ID); one system call each. In C because Swift resolves the members of `struct timespec` to
   whichever imported module declared it first, and a clean build of a module that also sees Dispatch refuses them. */
static inline double ensure_cpu_seconds(clockid_t clock) {
    struct timespec spec;
    if (clock_gettime(clock, &spec) != 0) return 0;
    return (double)spec.tv_sec + (double)spec.tv_nsec / 1e9;
}

static inline double ensure_thread_cpu_seconds(void) { return ensure_cpu_seconds(CLOCK_THREAD_CPUTIME_ID); }

static inline double ensure_process_cpu_seconds(void) { return ensure_cpu_seconds(CLOCK_PROCESS_CPUTIME_ID); }
