/* The workload suites' fixtures: the seed's conftest.py in cmocka.
 *
 *   pytest (conftest.py)                       here
 *   processor            (fresh per test)      fixtures_processor_setup        -> env->processor
 *   processor_cached / processor_uncached      fixtures_cached_setup / fixtures_uncached_setup
 *   processor_with_cache (primed)              fixtures_primed_setup
 *   single_transaction                         env->txn (fixtures_transaction())
 *   batch_transactions   (100)                 env->batch (every setup above builds it)
 *   memory_tracker                             fixtures_tracked_setup / fixtures_tracked_teardown
 *   scope="module" processor + transactions    fixtures_module_setup / _teardown (cmocka group setup)
 *
 * A per-test setup allocates a fresh `struct fixtures_env` in *state; fixtures_teardown frees it. Under a
 * group whose setup is fixtures_module_setup, tests without their own setup get the module's env, shared by
 * every test of the group (and so, like scope="module", not independent of each other).
 *
 * Error convention: setups and teardowns return 0 or -1 (cmocka's); other int functions 0 or a negative
 * errno; the perfcheck_* checks return an enum perfcheck_status with the message in their report.
 * Grouped by source file: fixtures.c, memtrack.c, perfcheck.c.
 */
#ifndef WORKLOAD_FIXTURES_H
#define WORKLOAD_FIXTURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "processor.h"

/* ---- fixtures.c --------------------------------------------------------------------------------- */

/* Generated transactions as the seed writes them: amount 100.0+i, merchant "Store i", customer_id "Ci",
 * for i in first..first+count-1. Owns its strings. */
struct fixtures_batch {
    ms_transaction *txns;
    ms_scored *out; /* room for the results, count rows */
    size_t count;
    char *strings_;
};

struct fixtures_tracker;

struct fixtures_env {
    ms_processor *processor;
    ms_transaction txn;           /* the standard transaction: 100.0, "Test Store", "C123" */
    struct fixtures_batch batch;  /* 100 generated transactions */
    struct fixtures_tracker *tracker; /* set by fixtures_tracked_setup */
    bool module_scope;            /* shared by a group (fixtures_module_setup) */
};

/* The standard transaction of the seed's single_transaction fixture. */
ms_transaction fixtures_transaction(void);

int fixtures_batch_make(struct fixtures_batch *b, size_t first, size_t count);
void fixtures_batch_free(struct fixtures_batch *b);

/* A processor with the defaults, changed by the arguments; aborts the test on failure. */
ms_processor *fixtures_processor_new(bool cache_enabled, unsigned iterations, size_t cache_max);

int fixtures_processor_setup(void **state);  /* fresh default processor (cache on, 100 iterations) */
int fixtures_cached_setup(void **state);     /* cache explicitly on */
int fixtures_uncached_setup(void **state);   /* cache off */
int fixtures_primed_setup(void **state);     /* cache on, the standard transaction already scored */
int fixtures_teardown(void **state);

/* scope="module": one processor and one batch for the whole group. */
int fixtures_module_setup(void **state);
int fixtures_module_teardown(void **state);

/* A fresh processor whose memory is tracked from before the test body to after it: the teardown takes the
 * second snapshot, diffs in process and prints the total and the top 5 sites (tracemalloc style). Under a
 * process without libmemsnap the tracker reports itself inactive and the teardown prints nothing. */

/* ---- memtrack.c: snapshots before/after through <memsnap.h>, diffed with libmemsnap-analyze -------- */

int fixtures_tracked_setup(void **state);
int fixtures_tracked_teardown(void **state);

struct memtrack_result {
    long long size_diff;  /* total change of live bytes between the snapshots */
    long long count_diff; /* total change of live blocks */
};

/* Snapshot files go to `dir` (NULL: the working directory) named <name>-before.snap / -after.snap.
 * NULL when out of memory. */
struct fixtures_tracker *memtrack_new(const char *dir, const char *name);
void memtrack_free(struct fixtures_tracker *t);
/* 1 when the process runs under libmemsnap, else 0 (then start/stop do nothing and return -ENOSYS). */
int memtrack_active(void);
/* The "before" snapshot. 0 or -errno. */
int memtrack_start(struct fixtures_tracker *t);
/* The "after" snapshot, then the diff; prints "Memory used: X KB" and the top `top` rows (0: none) with
 * the total line to `out` (NULL: stdout). 0, -ENOSYS when inactive, -EIO when a snapshot or the diff
 * failed (the reason printed to stderr). Idempotent: a second stop returns the first result. */
int memtrack_stop(struct fixtures_tracker *t, int top, FILE *out, struct memtrack_result *res);
/* Whether memtrack_stop has run. */
bool memtrack_stopped(const struct fixtures_tracker *t);
/* Path of the "before" (which = 0) or "after" (1) snapshot. */
const char *memtrack_path(const struct fixtures_tracker *t, int which);

/* ---- perfcheck.c: requirements against performance_budgets.yml --------------------------------------
 * Each check measures with the timing harness (or memtrack for memory), reads its budget by name and
 * compares. Results: PERFCHECK_PASS, PERFCHECK_FAIL (msg says which figure and by how much, e.g.
 * "Mean 0.31ms exceeds budget 0.10ms"), PERFCHECK_SKIP (memory checks without libmemsnap), or
 * PERFCHECK_ERROR (msg names the budgets file and the key or line that is wrong, or what failed). */

struct ms_budgets;

enum perfcheck_status { PERFCHECK_PASS = 0, PERFCHECK_FAIL = 1, PERFCHECK_SKIP = 2, PERFCHECK_ERROR = 3 };

struct perfcheck_report {
    char msg[512];  /* why it failed, skipped or errored; the measured figures when it passed */
    double measured; /* the figure that was compared last */
};

/* The budgets file: argv's --budgets FILE, else $MEMSNAP_SOURCE_ROOT/performance_budgets.yml, else
 * ./performance_budgets.yml. */
const char *perfcheck_budgets_path(int argc, char **argv);
/* Load it; on failure the report says why (file and line). */
enum perfcheck_status perfcheck_load(const char *path, struct ms_budgets **out, struct perfcheck_report *r);

/* single_transaction: uncached score of the standard transaction; max_mean, max_stddev (ms). */
enum perfcheck_status perfcheck_single_transaction(const struct ms_budgets *b, struct perfcheck_report *r);
/* batch_100: process_batch over 100 distinct transactions, cache cleared before each round;
 * max_mean (ms), min_throughput (transactions/s). */
enum perfcheck_status perfcheck_batch_100(const struct ms_budgets *b, struct perfcheck_report *r);
/* cache_speedup: median uncached time / median cached-hit time; min_ratio. */
enum perfcheck_status perfcheck_cache_speedup(const struct ms_budgets *b, struct perfcheck_report *r);
/* optimization_speedup: a batch with 100 iterations vs 10; min_ratio. */
enum perfcheck_status perfcheck_optimization_speedup(const struct ms_budgets *b, struct perfcheck_report *r);
/* memory_single: live bytes kept by one cached score; max_kb. */
enum perfcheck_status perfcheck_memory_single(const struct ms_budgets *b, struct perfcheck_report *r);
/* memory_batch_100: live bytes kept by a batch of 100 with its results; max_kb. */
enum perfcheck_status perfcheck_memory_batch_100(const struct ms_budgets *b, struct perfcheck_report *r);
/* memory_cache_1000: 1000 distinct cached transactions; max_kb; prints the top sites. */
enum perfcheck_status perfcheck_memory_cache_1000(const struct ms_budgets *b, struct perfcheck_report *r);
/* memory_batch_1000: a batch of 1000 with its results; max_kb (the seed's 10 MB limit). */
enum perfcheck_status perfcheck_memory_batch_1000(const struct ms_budgets *b, struct perfcheck_report *r);

/* cmocka glue: fail the test with the report's message on FAIL/ERROR, skip on SKIP. */
void perfcheck_assert(enum perfcheck_status st, const struct perfcheck_report *r);

#endif /* WORKLOAD_FIXTURES_H */
