/* The DataProcessor benchmarks, grouped as in the seed:
 *   single-transaction  risk_score_cached, risk_score_uncached
 *   batch-processing    process_batch_100, process_batch_parallel_100, process_batch_1000,
 *                       process_batch_parallel_1000 (2 threads)
 *   optimization        optimization_iterations_100 (the original) vs optimization_iterations_10
 * Batches are measured cold: the cache is cleared before every round (not timed), so a round costs what a
 * batch of new transactions costs. Every flag of the harness applies (docs/harness.md), e.g.
 *
 *     bench-dataprocessor --benchmark-json=out.json       the timed run (meson test --benchmark)
 *     bench-dataprocessor --benchmark-disable -k batch    each body once, as a test (the smoke run)
 *
 * After the run each body's result is checked (scores in [0, 1], every row scored): exit 1 if wrong. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memsnap/bench.h>

#include "fixtures.h"

/* Rounds for the pedantic (cold-cache) batch benchmarks: a 1000-batch takes about 20 ms. */
enum { BENCH_ROUNDS_100 = 30, BENCH_ROUNDS_1000 = 10, BENCH_THREADS = 2 };

struct bench_case {
    ms_processor *processor;
    ms_transaction txn;
    struct fixtures_batch batch;
    unsigned threads; /* 0: ms_batch_process, else ms_batch_process_parallel */
    bool failed;
};

static double bench_score(void *arg)
{
    struct bench_case *c = arg;
    double score = -1.0;
    if (ms_processor_score(c->processor, &c->txn, &score) != MS_PROC_OK) {
        c->failed = true;
    }
    return score;
}

/* Returns the number of rows that got a score in [0, 1]: the whole batch when all is well. */
static double bench_batch(void *arg)
{
    struct bench_case *c = arg;
    int rc = c->threads ? ms_batch_process_parallel(c->processor, c->batch.txns, c->batch.count, c->batch.out,
                                                    c->threads)
                        : ms_batch_process(c->processor, c->batch.txns, c->batch.count, c->batch.out);
    if (rc != MS_PROC_OK) {
        c->failed = true;
        return 0;
    }
    size_t good = 0;
    for (size_t i = 0; i < c->batch.count; i++) {
        good += c->batch.out[i].risk_score >= 0.0 && c->batch.out[i].risk_score <= 1.0;
    }
    return (double)good;
}

static void bench_clear_cache(void *arg)
{
    ms_processor_cache_clear(((struct bench_case *)arg)->processor);
}

static int bench_case_init(struct bench_case *c, bool cache, unsigned iterations, size_t batch, unsigned threads)
{
    *c = (struct bench_case){.txn = fixtures_transaction(), .threads = threads};
    ms_processor_config cfg;
    ms_processor_config_default(&cfg);
    cfg.cache_enabled = cache;
    cfg.iterations = iterations;
    if (ms_processor_new(&cfg, &c->processor) != MS_PROC_OK) {
        return -1;
    }
    return batch ? fixtures_batch_make(&c->batch, 0, batch) : 0;
}

static void bench_case_fini(struct bench_case *c)
{
    fixtures_batch_free(&c->batch);
    ms_processor_free(c->processor);
}

static memsnap_bench *bench_add_batch(memsnap_bench_session *s, const char *group, const char *name,
                                      struct bench_case *c, int rounds)
{
    memsnap_bench *b = memsnap_bench_add(s, group, name, bench_batch, c);
    struct memsnap_bench_pedantic p = {
        .rounds = rounds, .iterations = 1, .warmup_rounds = 1, .setup = bench_clear_cache};
    if (b) {
        memsnap_bench_set_pedantic(b, &p);
        memsnap_bench_extra_info(b, "batch_size", (double)c->batch.count);
        memsnap_bench_extra_info(b, "threads", c->threads ? c->threads : 1);
    }
    return b;
}

enum { CASE_CACHED, CASE_UNCACHED, CASE_B100, CASE_P100, CASE_B1000, CASE_P1000, CASE_OPT100, CASE_OPT10, CASES };

int main(int argc, char **argv)
{
    struct bench_case c[CASES];
    int init = bench_case_init(&c[CASE_CACHED], true, 100, 0, 0);
    init |= bench_case_init(&c[CASE_UNCACHED], false, 100, 0, 0);
    init |= bench_case_init(&c[CASE_B100], true, 100, 100, 0);
    init |= bench_case_init(&c[CASE_P100], true, 100, 100, BENCH_THREADS);
    init |= bench_case_init(&c[CASE_B1000], true, 100, 1000, 0);
    init |= bench_case_init(&c[CASE_P1000], true, 100, 1000, BENCH_THREADS);
    init |= bench_case_init(&c[CASE_OPT100], true, 100, 100, 0);
    init |= bench_case_init(&c[CASE_OPT10], true, 10, 100, 0);
    memsnap_bench_session *s = memsnap_bench_session_new();
    if (init != 0 || !s) {
        fprintf(stderr, "bench-dataprocessor: cannot set up the processors (out of memory?)\n");
        return 2;
    }
    bench_score(&c[CASE_CACHED]); /* prime: the cached benchmark measures hits */

    memsnap_bench *b[CASES] = {
        [CASE_CACHED] = memsnap_bench_add(s, "single-transaction", "risk_score_cached", bench_score, &c[CASE_CACHED]),
        [CASE_UNCACHED] =
            memsnap_bench_add(s, "single-transaction", "risk_score_uncached", bench_score, &c[CASE_UNCACHED]),
        [CASE_B100] = bench_add_batch(s, "batch-processing", "process_batch_100", &c[CASE_B100], BENCH_ROUNDS_100),
        [CASE_P100] = bench_add_batch(s, "batch-processing", "process_batch_parallel_100", &c[CASE_P100],
                                      BENCH_ROUNDS_100),
        [CASE_B1000] =
            bench_add_batch(s, "batch-processing", "process_batch_1000", &c[CASE_B1000], BENCH_ROUNDS_1000),
        [CASE_P1000] = bench_add_batch(s, "batch-processing", "process_batch_parallel_1000", &c[CASE_P1000],
                                       BENCH_ROUNDS_1000),
        [CASE_OPT100] = bench_add_batch(s, "optimization", "optimization_iterations_100", &c[CASE_OPT100],
                                        BENCH_ROUNDS_100),
        [CASE_OPT10] = bench_add_batch(s, "optimization", "optimization_iterations_10", &c[CASE_OPT10],
                                       BENCH_ROUNDS_100),
    };
    for (int i = 0; i < CASES; i++) {
        if (!b[i]) {
            fprintf(stderr, "bench-dataprocessor: cannot register benchmark %d\n", i);
            return 2;
        }
    }

    int status = memsnap_bench_run(s, argc, argv);

    /* The seed asserts on what the benchmarked call returned; so do we, for every body that ran. */
    int called = 0;
    for (int i = 0; i < CASES; i++) {
        if (!memsnap_bench_was_called(b[i])) {
            continue;
        }
        called++;
        double r = memsnap_bench_result(b[i]);
        bool ok = !c[i].failed &&
                  (c[i].batch.count ? r == (double)c[i].batch.count : (r >= 0.0 && r <= 1.0));
        if (!ok) {
            fprintf(stderr, "%s: wrong result %g%s\n", memsnap_bench_name(b[i]), r,
                    c[i].failed ? " (the processor reported an error)" : "");
            status = status ? status : 1;
        }
    }
    /* A smoke run whose -k matched nothing would otherwise pass without running anything. */
    bool skip_all = false;
    for (int i = 1; i < argc; i++) {
        skip_all |= strcmp(argv[i], "--benchmark-skip") == 0;
    }
    if (status == 0 && called == 0 && !skip_all) {
        fprintf(stderr, "bench-dataprocessor: no benchmark ran (does -k match any name?)\n");
        status = 1;
    }
    memsnap_bench_session_free(s);
    for (int i = 0; i < CASES; i++) {
        bench_case_fini(&c[i]);
    }
    return status;
}
