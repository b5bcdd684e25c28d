/* Allocation cost against live heap size: keeps N blocks live, then times malloc/free pairs.
 *
 *     heap-churn LIVE PAIRS REPS    prints "LIVE ns_per_pair" (median of REPS timed runs)
 *
 * Run plain and under libmemsnap.so: the difference is the profiler's own cost per allocation, which the
 * scaling suite requires to stay flat as LIVE grows from 1e3 to 1e6. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void *volatile heap_churn_sink;

/* CPU time: plain and profiled runs are compared across processes, so time spent waiting for a core on a
 * shared machine must not count. */
static uint64_t heap_churn_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int heap_churn_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sizes vary so that the allocator's size classes are exercised as in a real program. */
static __attribute__((noinline)) double heap_churn_run(long pairs)
{
    uint64_t t0 = heap_churn_now_ns();
    for (long i = 0; i < pairs; i++) {
        void *p = malloc((size_t)(16 + (i & 127)));
        heap_churn_sink = p;
        free(p);
    }
    return (double)(heap_churn_now_ns() - t0) / (double)pairs;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: heap-churn LIVE PAIRS REPS\n");
        return 2;
    }
    long live = atol(argv[1]), pairs = atol(argv[2]), reps = atol(argv[3]);
    if (live < 0 || pairs < 1 || reps < 1 || reps > 99) {
        fprintf(stderr, "heap-churn: LIVE >= 0, PAIRS >= 1, 1 <= REPS <= 99\n");
        return 2;
    }
    void **blocks = malloc((size_t)live * sizeof *blocks + 1);
    if (!blocks) {
        fprintf(stderr, "heap-churn: out of memory for %ld blocks\n", live);
        return 1;
    }
    for (long i = 0; i < live; i++) {
        blocks[i] = malloc((size_t)(16 + (i & 63)));
        if (!blocks[i]) {
            fprintf(stderr, "heap-churn: out of memory at block %ld\n", i);
            return 1;
        }
    }
    double t[99];
    heap_churn_run(pairs / 10 + 1); /* warm up */
    for (long r = 0; r < reps; r++) {
        t[r] = heap_churn_run(pairs);
    }
    qsort(t, (size_t)reps, sizeof t[0], heap_churn_cmp);
    printf("%ld %.2f\n", live, t[reps / 2]);
    for (long i = 0; i < live; i++) {
        free(blocks[i]);
    }
    free(blocks);
    return 0;
}
