/* The default clock and its precision. */
#include "harness.h"

#include <time.h>

uint64_t ms_clock_monotonic(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
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
