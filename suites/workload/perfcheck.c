/* Performance requirements: measure with the timing harness or the memory tracker, compare with the budget
 * read by name from performance_budgets.yml, and say what failed the way the seed does. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <memsnap/bench.h>

#include "fixtures.h"
#include "harness.h"
#include "tap.h"

/* Enough rounds for a stable mean, short enough that the whole perf suite stays well under a minute. */
#define PERFCHECK_MAX_TIME "--benchmark-max-time=0.3"
/* CPU time of the measuring thread, not wall time: on a shared machine the time spent waiting for a core
 * is not the code's cost, and counting it made the budgets either flaky or toothless (with two busy loops
 * on the 2 cores the wall-clock mean of a 100-batch went from 1.07 ms to 7.7 ms; its CPU time stayed at
 * 1.15 ms). The benchmarks keep wall time. */
#define PERFCHECK_TIMER "--benchmark-timer=thread_time"
#define PERFCHECK_BATCH_ROUNDS 15

const char *perfcheck_budgets_path(int argc, char **argv)
{
    static char buf[4096];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--budgets") == 0 && i + 1 < argc) {
            return argv[i + 1];
        }
        if (strncmp(argv[i], "--budgets=", 10) == 0) {
            return argv[i] + 10;
        }
    }
    const char *root = getenv("MEMSNAP_SOURCE_ROOT");
    if (root && *root) {
        snprintf(buf, sizeof buf, "%s/performance_budgets.yml", root);
        return buf;
    }
    return "performance_budgets.yml";
}

enum perfcheck_status perfcheck_load(const char *path, struct ms_budgets **out, struct perfcheck_report *r)
{
    struct ms_error err = {{0}};
    *r = (struct perfcheck_report){{0}, 0};
    if (ms_budgets_load(path, out, &err) != 0) {
        snprintf(r->msg, sizeof r->msg, "%s", err.msg);
        return PERFCHECK_ERROR;
    }
    return PERFCHECK_PASS;
}

/* Reads section.key or leaves the error (file, line, key) in the report. */
static int perfcheck_budget(const struct ms_budgets *b, const char *section, const char *key, double *v,
                            struct perfcheck_report *r)
{
    struct ms_error err = {{0}};
    if (ms_budgets_get(b, section, key, v, &err) != 0) {
        snprintf(r->msg, sizeof r->msg, "%s", err.msg);
        return -1;
    }
    return 0;
}

/* ---- measuring ---- */

struct perfcheck_work {
    ms_processor *processor;
    ms_transaction txn;
    struct fixtures_batch batch;
    int status; /* first failure of the processor, MS_PROC_OK otherwise */
};

static double perfcheck_score_once(void *arg)
{
    struct perfcheck_work *w = arg;
    double score = NAN;
    int rc = ms_processor_score(w->processor, &w->txn, &score);
    if (rc != MS_PROC_OK && w->status == MS_PROC_OK) {
        w->status = rc;
    }
    return score;
}

static double perfcheck_batch_once(void *arg)
{
    struct perfcheck_work *w = arg;
    int rc = ms_batch_process(w->processor, w->batch.txns, w->batch.count, w->batch.out);
    if (rc != MS_PROC_OK && w->status == MS_PROC_OK) {
        w->status = rc;
    }
    return (double)w->batch.count;
}

static void perfcheck_clear_cache(void *arg)
{
    ms_processor_cache_clear(((struct perfcheck_work *)arg)->processor);
}

/* One harness run of one benchmark; the table goes to stderr (the test log), stats into *out. */
static int perfcheck_measure(const char *name, memsnap_bench_fn fn, struct perfcheck_work *w, bool cold,
                             struct memsnap_bench_stats *out, struct perfcheck_report *r)
{
    memsnap_bench_session *s = memsnap_bench_session_new();
    if (!s) {
        snprintf(r->msg, sizeof r->msg, "%s: out of memory", name);
        return -1;
    }
    memsnap_bench_set_output(s, stderr);
    memsnap_bench *b = memsnap_bench_add(s, "perf-requirements", name, fn, w);
    if (cold) {
        /* Every round starts from an empty cache: the batch is measured cold, as on first sight. */
        struct memsnap_bench_pedantic p = {.rounds = PERFCHECK_BATCH_ROUNDS, .iterations = 1,
                                           .warmup_rounds = 1, .setup = perfcheck_clear_cache};
        memsnap_bench_set_pedantic(b, &p);
    }
    char *argv[] = {(char *)"perf-requirements", (char *)PERFCHECK_MAX_TIME, (char *)PERFCHECK_TIMER, NULL};
    int st = memsnap_bench_run(s, 3, argv);
    const struct memsnap_bench_stats *stats = memsnap_bench_get_stats(b);
    int rc = 0;
    if (st != 0 || !stats) {
        snprintf(r->msg, sizeof r->msg, "%s: the harness run failed (status %d)", name, st);
        rc = -1;
    } else if (w->status != MS_PROC_OK) {
        snprintf(r->msg, sizeof r->msg, "%s: %s", name, ms_processor_strerror(w->status));
        rc = -1;
    } else {
        *out = *stats;
        out->data = NULL; /* owned by the session */
    }
    memsnap_bench_session_free(s);
    return rc;
}

static int perfcheck_work_init(struct perfcheck_work *w, bool cache, unsigned iterations, size_t batch)
{
    *w = (struct perfcheck_work){.txn = fixtures_transaction(), .status = MS_PROC_OK};
    w->processor = fixtures_processor_new(cache, iterations, 0);
    return batch ? fixtures_batch_make(&w->batch, 0, batch) : 0;
}

static void perfcheck_work_fini(struct perfcheck_work *w)
{
    fixtures_batch_free(&w->batch);
    ms_processor_free(w->processor);
}

/* ---- the checks ---- */

enum perfcheck_status perfcheck_single_transaction(const struct ms_budgets *b, struct perfcheck_report *r)
{
    double max_mean, max_stddev;
    *r = (struct perfcheck_report){{0}, 0};
    if (perfcheck_budget(b, "single_transaction", "max_mean", &max_mean, r) != 0 ||
        perfcheck_budget(b, "single_transaction", "max_stddev", &max_stddev, r) != 0) {
        return PERFCHECK_ERROR;
    }
    struct perfcheck_work w;
    struct memsnap_bench_stats st;
    perfcheck_work_init(&w, false, 100, 0);
    int rc = perfcheck_measure("risk_score_uncached", perfcheck_score_once, &w, false, &st, r);
    perfcheck_work_fini(&w);
    if (rc != 0) {
        return PERFCHECK_ERROR;
    }
    double mean_ms = st.mean * 1e3, stddev_ms = st.stddev * 1e3;
    r->measured = mean_ms;
    if (mean_ms >= max_mean) {
        snprintf(r->msg, sizeof r->msg, "Mean %.4fms exceeds budget %gms", mean_ms, max_mean);
        return PERFCHECK_FAIL;
    }
    r->measured = stddev_ms;
    if (stddev_ms >= max_stddev) {
        snprintf(r->msg, sizeof r->msg, "StdDev %.4fms exceeds budget %gms", stddev_ms, max_stddev);
        return PERFCHECK_FAIL;
    }
    snprintf(r->msg, sizeof r->msg, "single_transaction: mean %.4fms (budget %gms), stddev %.4fms (budget %gms)",
             mean_ms, max_mean, stddev_ms, max_stddev);
    return PERFCHECK_PASS;
}

enum perfcheck_status perfcheck_batch_100(const struct ms_budgets *b, struct perfcheck_report *r)
{
    double max_mean, min_throughput;
    *r = (struct perfcheck_report){{0}, 0};
    if (perfcheck_budget(b, "batch_100", "max_mean", &max_mean, r) != 0 ||
        perfcheck_budget(b, "batch_100", "min_throughput", &min_throughput, r) != 0) {
        return PERFCHECK_ERROR;
    }
    struct perfcheck_work w;
    struct memsnap_bench_stats st;
    if (perfcheck_work_init(&w, true, 100, 100) != 0) {
        perfcheck_work_fini(&w);
        snprintf(r->msg, sizeof r->msg, "batch_100: out of memory");
        return PERFCHECK_ERROR;
    }
    int rc = perfcheck_measure("process_batch_100", perfcheck_batch_once, &w, true, &st, r);
    perfcheck_work_fini(&w);
    if (rc != 0) {
        return PERFCHECK_ERROR;
    }
    double mean_ms = st.mean * 1e3, throughput = 100.0 / st.mean;
    r->measured = mean_ms;
    if (mean_ms >= max_mean) {
        snprintf(r->msg, sizeof r->msg, "Mean %.4fms exceeds budget %gms", mean_ms, max_mean);
        return PERFCHECK_FAIL;
    }
    r->measured = throughput;
    if (throughput < min_throughput) {
        snprintf(r->msg, sizeof r->msg, "Throughput %.2f tx/s below budget %g tx/s", throughput, min_throughput);
        return PERFCHECK_FAIL;
    }
    snprintf(r->msg, sizeof r->msg, "batch_100: mean %.4fms (budget %gms), %.0f tx/s (budget %g tx/s)", mean_ms,
             max_mean, throughput, min_throughput);
    return PERFCHECK_PASS;
}

/* Ratio of two medians measured by one session each, slow first. */
static enum perfcheck_status perfcheck_ratio(const char *section, const char *what, double slow_s,
                                             double fast_s, const struct ms_budgets *b,
                                             struct perfcheck_report *r)
{
    double min_ratio;
    if (perfcheck_budget(b, section, "min_ratio", &min_ratio, r) != 0) {
        return PERFCHECK_ERROR;
    }
    double ratio = slow_s / fast_s;
    r->measured = ratio;
    if (!(ratio >= min_ratio)) {
        snprintf(r->msg, sizeof r->msg, "%s %.2fx below budget %gx", what, ratio, min_ratio);
        return PERFCHECK_FAIL;
    }
    snprintf(r->msg, sizeof r->msg, "%s: %.1fx (budget %gx)", section, ratio, min_ratio);
    return PERFCHECK_PASS;
}

enum perfcheck_status perfcheck_cache_speedup(const struct ms_budgets *b, struct perfcheck_report *r)
{
    *r = (struct perfcheck_report){{0}, 0};
    double min_ratio;
    if (perfcheck_budget(b, "cache_speedup", "min_ratio", &min_ratio, r) != 0) {
        return PERFCHECK_ERROR;
    }
    struct perfcheck_work uncached, cached;
    struct memsnap_bench_stats slow, fast;
    perfcheck_work_init(&uncached, false, 100, 0);
    perfcheck_work_init(&cached, true, 100, 0);
    perfcheck_score_once(&cached); /* prime */
    int rc = perfcheck_measure("risk_score_uncached", perfcheck_score_once, &uncached, false, &slow, r);
    if (rc == 0) {
        rc = perfcheck_measure("risk_score_cached", perfcheck_score_once, &cached, false, &fast, r);
    }
    perfcheck_work_fini(&uncached);
    perfcheck_work_fini(&cached);
    if (rc != 0) {
        return PERFCHECK_ERROR;
    }
    return perfcheck_ratio("cache_speedup", "Cache speedup", slow.median, fast.median, b, r);
}

enum perfcheck_status perfcheck_optimization_speedup(const struct ms_budgets *b, struct perfcheck_report *r)
{
    *r = (struct perfcheck_report){{0}, 0};
    double min_ratio;
    if (perfcheck_budget(b, "optimization_speedup", "min_ratio", &min_ratio, r) != 0) {
        return PERFCHECK_ERROR;
    }
    struct perfcheck_work original, optimized;
    struct memsnap_bench_stats slow, fast;
    int rc = perfcheck_work_init(&original, true, 100, 100);
    rc |= perfcheck_work_init(&optimized, true, 10, 100);
    if (rc == 0) {
        rc = perfcheck_measure("process_batch_100_iterations_100", perfcheck_batch_once, &original, true, &slow, r);
    } else {
        snprintf(r->msg, sizeof r->msg, "optimization_speedup: out of memory");
    }
    if (rc == 0) {
        rc = perfcheck_measure("process_batch_100_iterations_10", perfcheck_batch_once, &optimized, true, &fast, r);
    }
    perfcheck_work_fini(&original);
    perfcheck_work_fini(&optimized);
    if (rc != 0) {
        return PERFCHECK_ERROR;
    }
    return perfcheck_ratio("optimization_speedup", "Optimization speedup", slow.median, fast.median, b, r);
}

/* ---- memory ---- */

enum perfcheck_memory_kind { PERFCHECK_MEM_SINGLE, PERFCHECK_MEM_BATCH, PERFCHECK_MEM_CACHE };

static enum perfcheck_status perfcheck_memory(const char *section, enum perfcheck_memory_kind kind,
                                              size_t count, int top, const struct ms_budgets *b,
                                              struct perfcheck_report *r)
{
    *r = (struct perfcheck_report){{0}, 0};
    double max_kb;
    if (perfcheck_budget(b, section, "max_kb", &max_kb, r) != 0) {
        return PERFCHECK_ERROR;
    }
    if (!memtrack_active()) {
        snprintf(r->msg, sizeof r->msg, "%s: needs LD_PRELOAD=libmemsnap.so (memory suite)", section);
        return PERFCHECK_SKIP;
    }
    struct perfcheck_work w;
    if (perfcheck_work_init(&w, true, 100, kind == PERFCHECK_MEM_SINGLE ? 0 : count) != 0) {
        perfcheck_work_fini(&w);
        snprintf(r->msg, sizeof r->msg, "%s: out of memory", section);
        return PERFCHECK_ERROR;
    }
    /* Named after the program too: the requirement and gate programs run side by side in one directory. */
    char name[256];
    snprintf(name, sizeof name, "%s-%s", program_invocation_short_name, section);
    struct fixtures_tracker *t = memtrack_new(NULL, name);
    ms_scored *results = NULL;
    int rc = t ? memtrack_start(t) : -ENOMEM;
    if (rc == 0) {
        switch (kind) {
        case PERFCHECK_MEM_SINGLE:
            perfcheck_score_once(&w);
            break;
        case PERFCHECK_MEM_BATCH:
            /* The results are part of what a batch costs, as the seed's list of dicts is. */
            results = malloc(count * sizeof *results);
            if (!results || ms_batch_process(w.processor, w.batch.txns, count, results) != MS_PROC_OK) {
                w.status = results ? MS_PROC_EINVAL : MS_PROC_ENOMEM;
            }
            break;
        case PERFCHECK_MEM_CACHE:
            for (size_t i = 0; i < count && w.status == MS_PROC_OK; i++) {
                w.txn = w.batch.txns[i];
                perfcheck_score_once(&w);
            }
            break;
        }
    }
    struct memtrack_result res = {0, 0};
    if (rc == 0) {
        rc = memtrack_stop(t, top, stdout, &res);
    }
    int status = w.status;
    free(results);
    memtrack_free(t);
    perfcheck_work_fini(&w);
    if (rc != 0) {
        snprintf(r->msg, sizeof r->msg, "%s: taking or diffing snapshots failed (%s)", section, strerror(-rc));
        return PERFCHECK_ERROR;
    }
    if (status != MS_PROC_OK) {
        snprintf(r->msg, sizeof r->msg, "%s: %s", section, ms_processor_strerror(status));
        return PERFCHECK_ERROR;
    }
    double kb = (double)res.size_diff / 1024.0;
    r->measured = kb;
    if (kb > max_kb) {
        snprintf(r->msg, sizeof r->msg, "Memory %.2f KB exceeds budget %g KB", kb, max_kb);
        return PERFCHECK_FAIL;
    }
    snprintf(r->msg, sizeof r->msg, "%s: %.2f KB (budget %g KB)", section, kb, max_kb);
    return PERFCHECK_PASS;
}

enum perfcheck_status perfcheck_memory_single(const struct ms_budgets *b, struct perfcheck_report *r)
{
    return perfcheck_memory("memory_single", PERFCHECK_MEM_SINGLE, 1, 5, b, r);
}

enum perfcheck_status perfcheck_memory_batch_100(const struct ms_budgets *b, struct perfcheck_report *r)
{
    return perfcheck_memory("memory_batch_100", PERFCHECK_MEM_BATCH, 100, 5, b, r);
}

enum perfcheck_status perfcheck_memory_cache_1000(const struct ms_budgets *b, struct perfcheck_report *r)
{
    return perfcheck_memory("memory_cache_1000", PERFCHECK_MEM_CACHE, 1000, 5, b, r);
}

enum perfcheck_status perfcheck_memory_batch_1000(const struct ms_budgets *b, struct perfcheck_report *r)
{
    return perfcheck_memory("memory_batch_1000", PERFCHECK_MEM_BATCH, 1000, 5, b, r);
}

void perfcheck_assert(enum perfcheck_status st, const struct perfcheck_report *r)
{
    switch (st) {
    case PERFCHECK_PASS:
        printf("# %s\n", r->msg);
        return;
    case PERFCHECK_SKIP:
        ms_tap_skip("%s", r->msg);
        return;
    case PERFCHECK_FAIL:
    case PERFCHECK_ERROR:
        fail_msg("%s", r->msg);
        return;
    }
}
