/* The seed's conftest.py fixtures as cmocka setups and teardowns (see fixtures.h). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixtures.h"

ms_transaction fixtures_transaction(void)
{
    return (ms_transaction){.amount = 100.0, .merchant = "Test Store", .customer_id = "C123"};
}

int fixtures_batch_make(struct fixtures_batch *b, size_t first, size_t count)
{
    /* "Store " + 20 digits + NUL and "C" + 20 digits + NUL per row. */
    enum { MERCHANT_MAX = 28, CUSTOMER_MAX = 24 };
    *b = (struct fixtures_batch){0};
    b->txns = calloc(count ? count : 1, sizeof *b->txns);
    b->out = calloc(count ? count : 1, sizeof *b->out);
    b->strings_ = malloc((count ? count : 1) * (MERCHANT_MAX + CUSTOMER_MAX));
    if (!b->txns || !b->out || !b->strings_) {
        fixtures_batch_free(b);
        return -ENOMEM;
    }
    for (size_t i = 0; i < count; i++) {
        char *merchant = b->strings_ + i * (MERCHANT_MAX + CUSTOMER_MAX);
        char *customer = merchant + MERCHANT_MAX;
        snprintf(merchant, MERCHANT_MAX, "Store %zu", first + i);
        snprintf(customer, CUSTOMER_MAX, "C%zu", first + i);
        b->txns[i] = (ms_transaction){
            .amount = 100.0 + (double)(first + i), .merchant = merchant, .customer_id = customer};
    }
    b->count = count;
    return 0;
}

void fixtures_batch_free(struct fixtures_batch *b)
{
    free(b->txns);
    free(b->out);
    free(b->strings_);
    *b = (struct fixtures_batch){0};
}

ms_processor *fixtures_processor_new(bool cache_enabled, unsigned iterations, size_t cache_max)
{
    ms_processor_config cfg;
    ms_processor_config_default(&cfg);
    cfg.cache_enabled = cache_enabled;
    cfg.iterations = iterations;
    cfg.cache_max = cache_max;
    ms_processor *p = NULL;
    int rc = ms_processor_new(&cfg, &p);
    if (rc != MS_PROC_OK) {
        fail_msg("ms_processor_new: %s", ms_processor_strerror(rc));
    }
    return p;
}

static int fixtures_env_setup(void **state, bool cache_enabled)
{
    struct fixtures_env *env = calloc(1, sizeof *env);
    if (!env) {
        return -1;
    }
    env->txn = fixtures_transaction();
    env->processor = fixtures_processor_new(cache_enabled, 100, 0);
    if (fixtures_batch_make(&env->batch, 0, 100) != 0) {
        ms_processor_free(env->processor);
        free(env);
        return -1;
    }
    *state = env;
    return 0;
}

int fixtures_processor_setup(void **state)
{
    return fixtures_env_setup(state, true);
}

int fixtures_cached_setup(void **state)
{
    return fixtures_env_setup(state, true);
}

int fixtures_uncached_setup(void **state)
{
    return fixtures_env_setup(state, false);
}

int fixtures_primed_setup(void **state)
{
    if (fixtures_env_setup(state, true) != 0) {
        return -1;
    }
    struct fixtures_env *env = *state;
    double score;
    return ms_processor_score(env->processor, &env->txn, &score) == MS_PROC_OK ? 0 : -1;
}

int fixtures_teardown(void **state)
{
    struct fixtures_env *env = *state;
    if (env) {
        fixtures_batch_free(&env->batch);
        ms_processor_free(env->processor);
        free(env);
    }
    *state = NULL;
    return 0;
}

int fixtures_module_setup(void **state)
{
    if (fixtures_env_setup(state, true) != 0) {
        return -1;
    }
    ((struct fixtures_env *)*state)->module_scope = true;
    return 0;
}

int fixtures_module_teardown(void **state)
{
    return fixtures_teardown(state);
}
