/* The seed's correctness tests written with the fixtures: fresh processors per test, a module-scope group,
 * the proof that fresh fixtures keep tests independent, and the mocked batch that counts score calls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fixtures.h"

static void risk_score_is_between_0_and_1(void **state)
{
    struct fixtures_env *env = *state;
    double score = -1;
    assert_int_equal(ms_processor_score(env->processor, &env->txn, &score), MS_PROC_OK);
    assert_true(score >= 0.0 && score <= 1.0);
}

static void batch_processing_preserves_data(void **state)
{
    struct fixtures_env *env = *state;
    struct fixtures_batch *b = &env->batch;
    assert_int_equal(b->count, 100);
    assert_int_equal(ms_batch_process(env->processor, b->txns, b->count, b->out), MS_PROC_OK);
    for (size_t i = 0; i < b->count; i++) {
        assert_true(b->out[i].txn.amount == b->txns[i].amount);
        assert_string_equal(b->out[i].txn.merchant, b->txns[i].merchant);
        assert_string_equal(b->out[i].txn.customer_id, b->txns[i].customer_id);
        assert_true(b->out[i].risk_score >= 0.0 && b->out[i].risk_score <= 1.0);
    }
}

static void cache_returns_consistent_scores(void **state)
{
    struct fixtures_env *env = *state;
    double first, second;
    assert_int_equal(ms_processor_score(env->processor, &env->txn, &first), MS_PROC_OK);
    assert_int_equal(ms_processor_score(env->processor, &env->txn, &second), MS_PROC_OK);
    assert_true(first == second);
    ms_cache_stats st;
    ms_processor_cache_stats(env->processor, &st);
    assert_int_equal(st.hits, 1);
}

static void uncached_processor_never_caches(void **state)
{
    struct fixtures_env *env = *state;
    double first, second;
    assert_int_equal(ms_processor_score(env->processor, &env->txn, &first), MS_PROC_OK);
    assert_int_equal(ms_processor_score(env->processor, &env->txn, &second), MS_PROC_OK);
    assert_true(first == second);
    ms_cache_stats st;
    ms_processor_cache_stats(env->processor, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.hits, 0);
}

/* processor_with_cache: the fixture primed the cache, so the test's own call is a hit. */
static void primed_fixture_serves_a_cache_hit(void **state)
{
    struct fixtures_env *env = *state;
    ms_cache_stats before, after;
    ms_processor_cache_stats(env->processor, &before);
    assert_int_equal(before.entries, 1);
    double score;
    assert_int_equal(ms_processor_score(env->processor, &env->txn, &score), MS_PROC_OK);
    ms_processor_cache_stats(env->processor, &after);
    assert_int_equal(after.hits, before.hits + 1);
    assert_int_equal(after.misses, before.misses);
}

/* Fresh fixtures: whatever the previous test cached, this one starts from an empty cache. It runs right
 * after tests that scored the same transaction, so it fails if the processor were shared. */
static void fresh_fixture_starts_with_empty_cache(void **state)
{
    struct fixtures_env *env = *state;
    ms_cache_stats st;
    ms_processor_cache_stats(env->processor, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.hits + st.misses, 0);
}

/* ---- scope="module": one processor for the group ---- */

static void module_scope_first_test_scores(void **state)
{
    struct fixtures_env *env = *state;
    assert_true(env->module_scope);
    double score;
    assert_int_equal(ms_processor_score(env->processor, &env->txn, &score), MS_PROC_OK);
}

/* The seed's "Observation": with a module-scope processor the next test sees the previous test's cache.
 * This is the interdependency that the fresh fixtures above remove. */
static void module_scope_leaks_state_between_tests(void **state)
{
    struct fixtures_env *env = *state;
    assert_true(env->module_scope);
    ms_cache_stats st;
    ms_processor_cache_stats(env->processor, &st);
    assert_int_equal(st.entries, 1);
    double score;
    assert_int_equal(ms_processor_score(env->processor, &env->txn, &score), MS_PROC_OK);
    ms_processor_cache_stats(env->processor, &st);
    assert_int_equal(st.hits, 1); /* fast only because an earlier test paid for it */
}

/* ---- the mocked batch: the expensive score replaced, its calls counted ---- */

struct mock_score {
    unsigned calls;
    double value;
};

static int mock_score_fn(void *user, ms_crypto_ctx *cx, const char *json, size_t len, unsigned iterations,
                         double *score)
{
    (void)cx;
    (void)json;
    (void)len;
    (void)iterations;
    struct mock_score *m = user;
    m->calls++;
    *score = m->value;
    return MS_PROC_OK;
}

static ms_processor *mocked_processor(struct mock_score *m, bool cache_enabled)
{
    ms_processor_config cfg;
    ms_processor_config_default(&cfg);
    cfg.cache_enabled = cache_enabled;
    cfg.score_fn = mock_score_fn;
    cfg.score_user = m;
    ms_processor *p = NULL;
    assert_int_equal(ms_processor_new(&cfg, &p), MS_PROC_OK);
    return p;
}

static void mocked_batch_calls_score_once_per_transaction(void **state)
{
    struct fixtures_env *env = *state;
    struct mock_score m = {.calls = 0, .value = 0.5};
    ms_processor *p = mocked_processor(&m, true);
    struct fixtures_batch *b = &env->batch;
    assert_int_equal(ms_batch_process(p, b->txns, b->count, b->out), MS_PROC_OK);
    for (size_t i = 0; i < b->count; i++) {
        assert_true(b->out[i].risk_score == 0.5);
        assert_string_equal(b->out[i].txn.merchant, b->txns[i].merchant);
    }
    assert_int_equal(m.calls, 100);
    ms_processor_free(p);
}

static void mocked_score_is_skipped_on_cache_hits(void **state)
{
    struct fixtures_env *env = *state;
    struct mock_score m = {.calls = 0, .value = 0.25};
    ms_processor *p = mocked_processor(&m, true);
    ms_transaction same[10];
    ms_scored out[10];
    for (size_t i = 0; i < 10; i++) {
        same[i] = env->txn;
    }
    assert_int_equal(ms_batch_process(p, same, 10, out), MS_PROC_OK);
    assert_int_equal(m.calls, 1);
    assert_true(out[9].risk_score == 0.25);
    ms_processor_free(p);
}

int main(void)
{
    /* One group (one TAP plan): the group setup is the scope="module" fixture, which the tests without a
     * setup of their own share; every other test gets a fresh env from its setup. The module tests run
     * first, so the fresh-fixture test below runs after the same transaction was cached by others. */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(module_scope_first_test_scores),
        cmocka_unit_test(module_scope_leaks_state_between_tests),
        cmocka_unit_test_setup_teardown(risk_score_is_between_0_and_1, fixtures_processor_setup,
                                        fixtures_teardown),
        cmocka_unit_test_setup_teardown(batch_processing_preserves_data, fixtures_processor_setup,
                                        fixtures_teardown),
        cmocka_unit_test_setup_teardown(cache_returns_consistent_scores, fixtures_cached_setup,
                                        fixtures_teardown),
        cmocka_unit_test_setup_teardown(uncached_processor_never_caches, fixtures_uncached_setup,
                                        fixtures_teardown),
        cmocka_unit_test_setup_teardown(primed_fixture_serves_a_cache_hit, fixtures_primed_setup,
                                        fixtures_teardown),
        cmocka_unit_test_setup_teardown(fresh_fixture_starts_with_empty_cache, fixtures_processor_setup,
                                        fixtures_teardown),
        cmocka_unit_test_setup_teardown(mocked_batch_calls_score_once_per_transaction,
                                        fixtures_processor_setup, fixtures_teardown),
        cmocka_unit_test_setup_teardown(mocked_score_is_skipped_on_cache_hits, fixtures_processor_setup,
                                        fixtures_teardown),
    };
    return cmocka_run_group_tests_name("workload fixtures", tests, fixtures_module_setup,
                                       fixtures_module_teardown);
}
