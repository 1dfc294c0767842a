#include <time.h>

/* Seconds of CPU the calling thread used so far (CLOCK_THREAD_CPUTIME_ID; one system call). In C because Swift
   resolves the members of `struct timespec` to whichever imported module declared it first, and a clean build of
   a module that also sees Dispatch refuses them. */
static inline double ensure_thread_cpu_seconds(void) {
    struct timespec spec;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec) != 0) return 0;
    return (double)spec.tv_sec + (double)spec.tv_nsec / 1e9;
}
