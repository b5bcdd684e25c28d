/* process_batch_parallel really runs on several threads and gives exactly the sequential results. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "processor.h"

#define N 300

static ms_transaction txns[N];
static char names[N][2][24];

static int make_batch(void **state)
{
    (void)state;
    for (int i = 0; i < N; i++) {
        snprintf(names[i][0], sizeof names[i][0], "Store %d", i);
        snprintf(names[i][1], sizeof names[i][1], "C%d", i);
        txns[i] = (ms_transaction){.amount = 100.0 + i, .merchant = names[i][0], .customer_id = names[i][1]};
    }
    return 0;
}

static ms_processor *new_processor(bool cache, size_t cache_max, unsigned iterations)
{
    ms_processor_config cfg;
    ms_processor_config_default(&cfg);
    cfg.cache_enabled = cache;
    cfg.cache_max = cache_max;
    cfg.iterations = iterations;
    ms_processor *p;
    assert_int_equal(ms_processor_new(&cfg, &p), MS_PROC_OK);
    return p;
}

static void parallel_results_equal_sequential(void **state)
{
    (void)state;
    ms_scored *seq = calloc(N, sizeof *seq), *par = calloc(N, sizeof *par);
    ms_processor *ref = new_processor(false, 0, 10);
    assert_int_equal(ms_batch_process(ref, txns, N, seq), MS_PROC_OK);
    ms_processor_free(ref);
    const size_t sizes[] = {0, 1, 2, 3, 17, N};
    const unsigned threads[] = {1, 2, 3, 4, 8};
    const struct { bool cache; size_t max; } caches[] = {{false, 0}, {true, 0}, {true, 5}};
    for (size_t c = 0; c < 3; c++) {
        for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
            for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
                ms_processor *p = new_processor(caches[c].cache, caches[c].max, 10);
                memset(par, 0, N * sizeof *par);
                assert_int_equal(ms_batch_process_parallel(p, txns, sizes[s], par, threads[t]), MS_PROC_OK);
                for (size_t i = 0; i < sizes[s]; i++) {
                    if (par[i].risk_score != seq[i].risk_score || par[i].txn.merchant != txns[i].merchant ||
                        par[i].txn.customer_id != txns[i].customer_id || par[i].txn.amount != txns[i].amount)
                        fail_msg("cache %zu, %u threads, %zu items: row %zu differs", c, threads[t], sizes[s], i);
                }
                ms_processor_free(p);
            }
        }
    }
    free(seq);
    free(par);
}

/* A score function that records which threads call it and waits briefly so that two workers overlap. */
typedef struct thread_probe {
    pthread_mutex_t lock;
    pthread_t seen[8];
    int nseen;
    atomic_int inside, max_inside;
} thread_probe;

static int probe_fn(void *user, ms_crypto_ctx *cx, const char *json, size_t len, unsigned iterations,
                    double *score)
{
    thread_probe *pr = user;
    int now = atomic_fetch_add(&pr->inside, 1) + 1;
    int prev = atomic_load(&pr->max_inside);
    while (now > prev && !atomic_compare_exchange_weak(&pr->max_inside, &prev, now))
        ;
    pthread_mutex_lock(&pr->lock);
    bool known = false;
    for (int i = 0; i < pr->nseen; i++)
        known |= pthread_equal(pr->seen[i], pthread_self());
    if (!known && pr->nseen < 8)
        pr->seen[pr->nseen++] = pthread_self();
    pthread_mutex_unlock(&pr->lock);
    usleep(2000);
    atomic_fetch_sub(&pr->inside, 1);
    return ms_score_risk(NULL, cx, json, len, iterations, score);
}

static void parallel_batch_runs_on_several_threads_at_once(void **state)
{
    (void)state;
    thread_probe pr = {.lock = PTHREAD_MUTEX_INITIALIZER};
    ms_processor_config cfg;
    ms_processor_config_default(&cfg);
    cfg.iterations = 1;
    cfg.score_fn = probe_fn;
    cfg.score_user = &pr;
    ms_processor *p;
    assert_int_equal(ms_processor_new(&cfg, &p), MS_PROC_OK);
    ms_scored out[128];
    assert_int_equal(ms_batch_process_parallel(p, txns, 128, out, 4), MS_PROC_OK);
    /* A loaded machine may start the last threads late, but two must have overlapped. */
    assert_true(pr.nseen >= 2);
    assert_true(atomic_load(&pr.max_inside) >= 2);
    ms_processor_free(p);
}

static void error_in_the_middle_of_a_batch_is_returned(void **state)
{
    (void)state;
    ms_transaction bad[N];
    memcpy(bad, txns, sizeof bad);
    bad[N / 2].merchant = "broken \xc3(";
    ms_scored *out = calloc(N, sizeof *out);
    for (unsigned threads = 1; threads <= 4; threads++) {
        ms_processor *p = new_processor(true, 0, 1);
        assert_int_equal(ms_batch_process_parallel(p, bad, N, out, threads), MS_PROC_EUTF8);
        ms_processor_free(p);
    }
    ms_processor *p = new_processor(true, 0, 1);
    assert_int_equal(ms_batch_process(p, bad, N, out), MS_PROC_EUTF8);
    assert_int_equal(ms_batch_process(NULL, txns, N, out), MS_PROC_ENULL);
    assert_int_equal(ms_batch_process(p, NULL, N, out), MS_PROC_ENULL);
    assert_int_equal(ms_batch_process(p, txns, N, NULL), MS_PROC_ENULL);
    assert_int_equal(ms_batch_process(p, NULL, 0, NULL), MS_PROC_OK);
    assert_int_equal(ms_batch_process_parallel(p, txns, N, out, 0), MS_PROC_EINVAL);
    ms_processor_free(p);
    free(out);
}

static void parallel_batch_fills_the_cache_once_per_transaction(void **state)
{
    (void)state;
    ms_processor *p = new_processor(true, 0, 1);
    ms_scored *out = calloc(N, sizeof *out);
    assert_int_equal(ms_batch_process_parallel(p, txns, N, out, 2), MS_PROC_OK);
    assert_int_equal(ms_batch_process_parallel(p, txns, N, out, 2), MS_PROC_OK);
    ms_cache_stats st;
    ms_processor_cache_stats(p, &st);
    assert_int_equal(st.entries, N);
    assert_int_equal(st.misses, N);
    assert_int_equal(st.hits, N);
    ms_processor_free(p);
    free(out);
}

/* Threads calling ms_processor_score on one processor at once (the contended path) get the same scores. */
typedef struct scorer {
    ms_processor *p;
    const ms_scored *want;
    int mismatches;
} scorer;

static void *scorer_thread(void *arg)
{
    scorer *s = arg;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 60; i++) {
            double v;
            if (ms_processor_score(s->p, &txns[i], &v) != MS_PROC_OK || v != s->want[i].risk_score)
                s->mismatches++;
        }
    }
    return NULL;
}

static void concurrent_single_scores_are_correct(void **state)
{
    (void)state;
    ms_scored want[60];
    ms_processor *ref = new_processor(false, 0, 5);
    assert_int_equal(ms_batch_process(ref, txns, 60, want), MS_PROC_OK);
    ms_processor_free(ref);
    for (int cache = 0; cache < 2; cache++) {
        ms_processor *p = new_processor(cache, 0, 5);
        pthread_t t[4];
        scorer s[4];
        for (int i = 0; i < 4; i++) {
            s[i] = (scorer){.p = p, .want = want};
            assert_int_equal(pthread_create(&t[i], NULL, scorer_thread, &s[i]), 0);
        }
        for (int i = 0; i < 4; i++) {
            pthread_join(t[i], NULL);
            assert_int_equal(s[i].mismatches, 0);
        }
        ms_processor_free(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parallel_results_equal_sequential),
        cmocka_unit_test(parallel_batch_runs_on_several_threads_at_once),
        cmocka_unit_test(error_in_the_middle_of_a_batch_is_returned),
        cmocka_unit_test(parallel_batch_fills_the_cache_once_per_transaction),
        cmocka_unit_test(concurrent_single_scores_are_correct),
    };
    return cmocka_run_group_tests_name("processor batch", tests, make_batch, NULL);
}
