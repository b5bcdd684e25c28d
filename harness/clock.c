/* The default clock and its precision. */
#include "harness.h"

#include <errno.h>
#include <string.h>
#include <time.h>

uint64_t ms_clock_monotonic(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t ms_clock_thread_cpu(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t ms_clock_process_cpu(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

enum ms_status ms_clock_by_name(const char *name, memsnap_bench_clock *clock, const char **canonical)
{
    static const struct {
        const char *names[4];
        memsnap_bench_clock clock;
    } clocks[] = {
        {{"perf_counter", "time.perf_counter", "monotonic", "time.monotonic"}, ms_clock_monotonic},
        {{"thread_time", "time.thread_time", "thread", NULL}, ms_clock_thread_cpu},
        {{"process_time", "time.process_time", "process", NULL}, ms_clock_process_cpu},
    };
    for (size_t i = 0; i < sizeof clocks / sizeof clocks[0]; i++) {
        for (size_t j = 0; j < 4 && clocks[i].names[j]; j++) {
            if (strcmp(name, clocks[i].names[j]) == 0) {
                *clock = clocks[i].clock;
                *canonical = clocks[i].names[1];
                return 0;
            }
        }
    }
    return -EINVAL;
}

double ms_clock_precision(memsnap_bench_clock clock, void *ctx)
{
    /* pytest-benchmark probes for a whole second; the minimum settles within a few hundred reads. */
    uint64_t best = 0;
    for (int points = 0, tries = 0; points < 200 && tries < 100000; tries++) {
        uint64_t t1 = clock(ctx);
        uint64_t t2 = clock(ctx);
        if (t2 > t1) {
            uint64_t dt = t2 - t1;
            best = best && best < dt ? best : dt;
            points++;
        }
    }
    return best ? (double)best * 1e-9 : 1e-9;
}
