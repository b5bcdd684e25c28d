/* The Python DataProcessor's correctness tests, in C, with fixtures and a mocked score. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "processor.h"

static int fresh_processor(void **state)
{
    ms_processor *p;
    if (ms_processor_new(NULL, &p) != MS_PROC_OK)
        return -1;
    *state = p;
    return 0;
}

static int free_processor(void **state)
{
    ms_processor_free(*state);
    return 0;
}

static void risk_score_is_between_0_and_1(void **state)
{
    ms_processor *p = *state;
    ms_transaction t = {.amount = 100.0, .merchant = "Test Store", .customer_id = "C123"};
    double score = -1;
    assert_int_equal(ms_processor_score(p, &t, &score), MS_PROC_OK);
    assert_true(score >= 0.0 && score <= 1.0);
}

static void batch_processing_preserves_data(void **state)
{
    ms_processor *p = *state;
    const ms_transaction in[] = {
        {.amount = 50.0, .merchant = "Store A", .customer_id = "C1"},
        {.amount = 150.0, .merchant = "Store B", .customer_id = "C2"},
    };
    ms_scored out[2];
    memset(out, 0, sizeof out);
    assert_int_equal(ms_batch_process(p, in, 2, out), MS_PROC_OK);
    for (size_t i = 0; i < 2; i++) {
        assert_true(out[i].txn.amount == in[i].amount);
        assert_string_equal(out[i].txn.merchant, in[i].merchant);
        assert_string_equal(out[i].txn.customer_id, in[i].customer_id);
        assert_true(out[i].risk_score > 0.0 && out[i].risk_score <= 1.0);
    }
}

static void cache_returns_consistent_scores(void **state)
{
    ms_processor *p = *state;
    ms_transaction t = {.amount = 100.0, .merchant = "Test", .customer_id = "C1"};
    double s1, s2;
    assert_int_equal(ms_processor_score(p, &t, &s1), MS_PROC_OK);
    assert_int_equal(ms_processor_score(p, &t, &s2), MS_PROC_OK);
    assert_true(s1 == s2);
    ms_cache_stats st;
    ms_processor_cache_stats(p, &st);
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.misses, 1);
    assert_int_equal(st.hits, 1);
}

/* The Python original's mocked batch: the expensive computation replaced by a counting stub. */
typedef struct mock_score {
    atomic_uint calls;
    double value;
} mock_score;

static int mock_score_fn(void *user, ms_crypto_ctx *cx, const char *json, size_t len, unsigned iterations,
                         double *score)
{
    (void)cx;
    mock_score *m = user;
    assert_non_null(json);
    assert_true(len > 0);
    assert_int_equal(iterations, 100);
    atomic_fetch_add(&m->calls, 1);
    *score = m->value;
    return MS_PROC_OK;
}

static void mocked_batch_calls_score_once_per_transaction(void **state)
{
    (void)state;
    mock_score m = {.value = 0.5};
    ms_processor_config cfg;
    ms_processor_config_default(&cfg);
    cfg.score_fn = mock_score_fn;
    cfg.score_user = &m;
    ms_processor *p;
    assert_int_equal(ms_processor_new(&cfg, &p), MS_PROC_OK);
    ms_transaction in[100];
    char names[100][2][16];
    for (int i = 0; i < 100; i++) {
        snprintf(names[i][0], 16, "Store %d", i);
        snprintf(names[i][1], 16, "C%d", i);
        in[i] = (ms_transaction){.amount = 100.0 + i, .merchant = names[i][0], .customer_id = names[i][1]};
    }
    ms_scored out[100];
    assert_int_equal(ms_batch_process(p, in, 100, out), MS_PROC_OK);
    assert_int_equal(atomic_load(&m.calls), 100);
    for (int i = 0; i < 100; i++)
        assert_true(out[i].risk_score == 0.5);
    /* Cached now: a second batch computes nothing. */
    assert_int_equal(ms_batch_process(p, in, 100, out), MS_PROC_OK);
    assert_int_equal(atomic_load(&m.calls), 100);
    ms_processor_free(p);
}

static int mock_fail_fn(void *user, ms_crypto_ctx *cx, const char *json, size_t len, unsigned iterations,
                        double *score)
{
    (void)user, (void)cx, (void)json, (void)len, (void)iterations, (void)score;
    return -42;
}

static void failing_score_function_is_reported_and_not_cached(void **state)
{
    (void)state;
    ms_processor_config cfg;
    ms_processor_config_default(&cfg);
    cfg.score_fn = mock_fail_fn;
    ms_processor *p;
    assert_int_equal(ms_processor_new(&cfg, &p), MS_PROC_OK);
    ms_transaction t = {.amount = 1.0, .merchant = "m", .customer_id = "c"};
    double s = 7.0;
    assert_int_equal(ms_processor_score(p, &t, &s), MS_PROC_ESCORE);
    assert_true(s == 7.0);
    ms_cache_stats st;
    ms_processor_cache_stats(p, &st);
    assert_int_equal(st.entries, 0);
    ms_processor_free(p);
}

static void uncached_processor_recomputes_every_time(void **state)
{
    (void)state;
    mock_score m = {.value = 0.25};
    ms_processor_config cfg;
    ms_processor_config_default(&cfg);
    cfg.cache_enabled = false;
    cfg.score_fn = mock_score_fn;
    cfg.score_user = &m;
    ms_processor *p;
    assert_int_equal(ms_processor_new(&cfg, &p), MS_PROC_OK);
    ms_transaction t = {.amount = 100.0, .merchant = "Test", .customer_id = "C1"};
    double s;
    for (int i = 0; i < 3; i++)
        assert_int_equal(ms_processor_score(p, &t, &s), MS_PROC_OK);
    assert_int_equal(atomic_load(&m.calls), 3);
    ms_cache_stats st;
    ms_processor_cache_stats(p, &st);
    assert_int_equal(st.entries + st.hits + st.misses, 0);
    ms_processor_free(p);
}

static void bad_arguments_are_codes_not_crashes(void **state)
{
    ms_processor *p = *state;
    ms_transaction t = {.amount = 1.0, .merchant = "m", .customer_id = "c"};
    ms_transaction no_merchant = {.amount = 1.0, .merchant = NULL, .customer_id = "c"};
    ms_transaction bad_utf8 = {.amount = 1.0, .merchant = "caf\xc3", .customer_id = "c"};
    double s;
    char key[MS_MD5_HEX_LEN];
    assert_int_equal(ms_processor_new(NULL, NULL), MS_PROC_ENULL);
    assert_int_equal(ms_processor_score(NULL, &t, &s), MS_PROC_ENULL);
    assert_int_equal(ms_processor_score(p, NULL, &s), MS_PROC_ENULL);
    assert_int_equal(ms_processor_score(p, &t, NULL), MS_PROC_ENULL);
    assert_int_equal(ms_processor_score(p, &no_merchant, &s), MS_PROC_ENULL);
    assert_int_equal(ms_processor_score(p, &bad_utf8, &s), MS_PROC_EUTF8);
    assert_int_equal(ms_processor_cache_key(p, &bad_utf8, key), MS_PROC_EUTF8);
    ms_processor_config cfg;
    ms_processor_config_default(&cfg);
    cfg.iterations = 0;
    ms_processor *q = NULL;
    assert_int_equal(ms_processor_new(&cfg, &q), MS_PROC_EINVAL);
    assert_null(q);
    ms_processor_free(NULL);
    assert_string_equal(ms_processor_strerror(MS_PROC_EUTF8), "string is not valid UTF-8");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(risk_score_is_between_0_and_1, fresh_processor, free_processor),
        cmocka_unit_test_setup_teardown(batch_processing_preserves_data, fresh_processor, free_processor),
        cmocka_unit_test_setup_teardown(cache_returns_consistent_scores, fresh_processor, free_processor),
        cmocka_unit_test(mocked_batch_calls_score_once_per_transaction),
        cmocka_unit_test(failing_score_function_is_reported_and_not_cached),
        cmocka_unit_test(uncached_processor_recomputes_every_time),
        cmocka_unit_test_setup_teardown(bad_arguments_are_codes_not_crashes, fresh_processor, free_processor),
    };
    return cmocka_run_group_tests_name("processor: the Python original's tests", tests, NULL, NULL);
}
