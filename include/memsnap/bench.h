/* memsnap timing harness: pytest-benchmark for C.
 *
 * Register benchmarks in a session, then run them with the command-line flags of pytest-benchmark
 * (--benchmark-min-time, --benchmark-json=FILE, --benchmark-compare-fail=mean:10% ...; see docs/harness.md).
 * Each benchmark is calibrated, warmed up and timed in rounds; the statistics, the table and the JSON file
 * are those of pytest-benchmark, so its own `compare` tool reads our files.
 *
 *     static double score(void *arg) { return calculate_risk_score(arg); }
 *
 *     int main(int argc, char **argv) {
 *         memsnap_bench_session *s = memsnap_bench_session_new();
 *         memsnap_bench *b = memsnap_bench_add(s, "single-transaction", "risk_score", score, &txn);
 *         int status = memsnap_bench_run(s, argc, argv);      // prints the table, writes files
 *         if (status == 0 && memsnap_bench_result(b) > 1.0)    // the body's last return value
 *             status = 1;
 *         memsnap_bench_session_free(s);
 *         return status;
 *     }
 *
 * Error convention: functions returning int give 0 or a negative errno value (the library's own results,
 * passed through as plain int), except memsnap_bench_run, which returns a process exit status (0 ok, 1 a
 * compare-fail gate failed, 2 bad flags or files).
 * Nothing here is thread-safe: one session per thread.
 */
#ifndef MEMSNAP_BENCH_H
#define MEMSNAP_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct memsnap_bench_session memsnap_bench_session;
typedef struct memsnap_bench memsnap_bench;

/* The benchmarked call. Its return value (a score, a count...) from the last call is kept. */
typedef double (*memsnap_bench_fn)(void *arg);
/* Per-round setup/teardown in pedantic mode; not timed. */
typedef void (*memsnap_bench_hook)(void *arg);
/* A monotonic clock in nanoseconds, for tests that need time under control. */
typedef uint64_t (*memsnap_bench_clock)(void *ctx);

/* All times in seconds, per call (a round's time divided by its iterations), as pytest-benchmark. */
struct memsnap_bench_stats {
    double min, max, mean, stddev, median;
    double q1, q3, iqr, ld15iqr, hd15iqr;
    double p95, p99; /* linear interpolation between closest ranks (numpy's default) */
    double ops;      /* rounds / total */
    double total;
    size_t rounds;
    uint64_t iterations;
    size_t stddev_outliers; /* outside mean +/- stddev */
    size_t iqr_outliers;    /* outside [q1 - 1.5 iqr, q3 + 1.5 iqr] */
    const double *data;     /* the samples, in the order measured */
    /* Under LD_PRELOAD=libmemsnap.so: allocations per call during the timed rounds. */
    int has_allocs;
    double allocs_per_op, alloc_bytes_per_op;
    /* Where perf_event_open is permitted: hardware counters per call. */
    int has_counters;
    double instructions_per_op, cycles_per_op;
};

/* Pedantic mode, as benchmark.pedantic(): no calibration. rounds >= 1, iterations >= 1,
 * warmup_rounds >= 0, and iterations must be 1 when setup is given (-EINVAL otherwise). */
struct memsnap_bench_pedantic {
    int rounds;
    int iterations;
    int warmup_rounds;
    memsnap_bench_hook setup;
    memsnap_bench_hook teardown;
};

memsnap_bench_session *memsnap_bench_session_new(void);
void memsnap_bench_session_free(memsnap_bench_session *s);

/* Register a benchmark. group may be NULL (the default group). Names are copied. NULL on bad arguments. */
memsnap_bench *memsnap_bench_add(memsnap_bench_session *s, const char *group, const char *name,
                                 memsnap_bench_fn fn, void *arg);
/* A parameter, shown as name[value] like a parametrized pytest test; usable by --benchmark-group-by=param. */
int memsnap_bench_param(memsnap_bench *b, const char *key, const char *value);
/* A number stored under extra_info in the JSON file. */
int memsnap_bench_extra_info(memsnap_bench *b, const char *key, double value);
int memsnap_bench_set_pedantic(memsnap_bench *b, const struct memsnap_bench_pedantic *p);

/* Parse flags (argv[0] is the program), run the selected benchmarks, print the table to the session's
 * output, write JSON/saved files and run compare gates. Unknown flags are an error (status 2). */
int memsnap_bench_run(memsnap_bench_session *s, int argc, char **argv);

/* After a run: NULL if the benchmark was not timed (skipped, filtered, --benchmark-disable). */
const struct memsnap_bench_stats *memsnap_bench_get_stats(const memsnap_bench *b);
/* The body's return value from its last call (also set under --benchmark-disable); 0 before any call. */
double memsnap_bench_result(const memsnap_bench *b);
/* 1 if the body was called at all during the run. */
int memsnap_bench_was_called(const memsnap_bench *b);
const char *memsnap_bench_name(const memsnap_bench *b);
const char *memsnap_bench_fullname(const memsnap_bench *b);

/* Where the table and messages go (default stdout). */
void memsnap_bench_set_output(memsnap_bench_session *s, FILE *out);
/* Replace the clock (default CLOCK_MONOTONIC), e.g. by a fake one that advances per call. */
void memsnap_bench_set_clock(memsnap_bench_session *s, memsnap_bench_clock clock, void *ctx);

#ifdef __cplusplus
}
#endif

#endif /* MEMSNAP_BENCH_H */
