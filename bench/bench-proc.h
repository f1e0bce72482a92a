/* What the benchmarks share: starting the emulator and the helper as child
 * processes, waiting for their sockets, stopping them, a monotonic clock.
 * Failures end the benchmark with a message. Main thread only. */
#pragma once

#include <sys/types.h>

/* fork + exec @argv with stdout/stderr to @log (NULL: /dev/null); the child
 * dies with the benchmark */
pid_t bench_spawn(char *const argv[], const char *log);
/* wait (20 s at most) until @path is a socket, while @pid lives */
void bench_wait_socket(const char *path, pid_t pid);
/* SIGTERM, then SIGKILL after 5 s; reaped */
void bench_stop(pid_t pid);
long long bench_now_ns(void);
/* user + system CPU time of @pid so far, in seconds (/proc/PID/stat) */
double bench_cpu_seconds(pid_t pid);
/* qsort comparison of long longs, ascending */
int bench_cmp_ll(const void *a, const void *b);
