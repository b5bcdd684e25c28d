/* The score cache: hits and misses, an exact LRU eviction order under a bound, unbounded growth, and
 * consistent contents when threads hammer it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "processor.h"

/* Distinct keys with different stripes and buckets. */
static void make_key(unsigned i, unsigned char key[MS_MD5_LEN])
{
    memset(key, 0, MS_MD5_LEN);
    for (int b = 0; b < 4; b++) {
        key[b] = (unsigned char)(i >> (8 * b));
        key[8 + b] = (unsigned char)(i >> (8 * b));
    }
}

static bool has(ms_cache *c, unsigned i)
{
    unsigned char k[MS_MD5_LEN];
    make_key(i, k);
    return ms_cache_peek(c, k, NULL);
}

static void put(ms_cache *c, unsigned i, double v)
{
    unsigned char k[MS_MD5_LEN];
    make_key(i, k);
    assert_int_equal(ms_cache_put(c, k, v), MS_PROC_OK);
}

static bool get(ms_cache *c, unsigned i, double *v)
{
    unsigned char k[MS_MD5_LEN];
    make_key(i, k);
    return ms_cache_get(c, k, v);
}

static void hits_and_misses_are_counted(void **state)
{
    (void)state;
    ms_cache *c;
    assert_int_equal(ms_cache_new(0, &c), MS_PROC_OK);
    double v = 0;
    assert_false(get(c, 1, &v));
    put(c, 1, 0.25);
    assert_true(get(c, 1, &v));
    assert_true(v == 0.25);
    assert_true(get(c, 1, &v));
    put(c, 1, 0.5); /* an update, not a second entry */
    assert_true(get(c, 1, &v));
    assert_true(v == 0.5);
    ms_cache_stats st;
    ms_cache_stats_get(c, &st);
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.hits, 3);
    assert_int_equal(st.misses, 1);
    assert_int_equal(st.evictions, 0);
    ms_cache_clear(c);
    ms_cache_stats_get(c, &st);
    assert_int_equal(st.entries + st.hits + st.misses, 0);
    assert_false(has(c, 1));
    ms_cache_free(c);
}

static void lru_evicts_least_recently_used_first(void **state)
{
    (void)state;
    ms_cache *c;
    assert_int_equal(ms_cache_new(3, &c), MS_PROC_OK);
    put(c, 1, 1.0);
    put(c, 2, 2.0);
    put(c, 3, 3.0);
    double v;
    assert_true(get(c, 1, &v)); /* order, oldest first: 2 3 1 */
    put(c, 4, 4.0);             /* evicts 2 */
    assert_false(has(c, 2));
    assert_true(has(c, 1) && has(c, 3) && has(c, 4));
    put(c, 3, 3.5);             /* an update refreshes too: 1 4 3 */
    put(c, 5, 5.0);             /* evicts 1 */
    assert_false(has(c, 1));
    put(c, 6, 6.0);             /* evicts 4 */
    assert_false(has(c, 4));
    assert_true(has(c, 3) && has(c, 5) && has(c, 6));
    assert_true(ms_cache_peek(c, (unsigned char[MS_MD5_LEN]){0}, NULL) == false);
    ms_cache_stats st;
    ms_cache_stats_get(c, &st);
    assert_int_equal(st.entries, 3);
    assert_int_equal(st.evictions, 3);
    ms_cache_free(c);
}

static void peek_does_not_refresh(void **state)
{
    (void)state;
    ms_cache *c;
    assert_int_equal(ms_cache_new(2, &c), MS_PROC_OK);
    put(c, 1, 1.0);
    put(c, 2, 2.0);
    assert_true(has(c, 1)); /* peek: 1 stays the oldest */
    put(c, 3, 3.0);
    assert_false(has(c, 1));
    assert_true(has(c, 2) && has(c, 3));
    ms_cache_free(c);
}

static void unbounded_cache_keeps_everything(void **state)
{
    (void)state;
    ms_cache *c;
    assert_int_equal(ms_cache_new(0, &c), MS_PROC_OK);
    for (unsigned i = 0; i < 20000; i++)
        put(c, i, (double)i);
    for (unsigned i = 0; i < 20000; i++) {
        double v;
        assert_true(get(c, i, &v));
        assert_true(v == (double)i);
    }
    ms_cache_stats st;
    ms_cache_stats_get(c, &st);
    assert_int_equal(st.entries, 20000);
    assert_int_equal(st.evictions, 0);
    ms_cache_free(c);
}

typedef struct hammer {
    ms_cache *cache;
    unsigned seed;
} hammer;

static void *hammer_thread(void *arg)
{
    hammer *h = arg;
    for (unsigned round = 0; round < 20000; round++) {
        /* No cmocka asserts off the main thread: failures come back as the thread's result. */
        unsigned i = (round * 7919u + h->seed) % 500;
        unsigned char k[MS_MD5_LEN];
        make_key(i, k);
        double v;
        if (!ms_cache_get(h->cache, k, &v)) {
            if (ms_cache_put(h->cache, k, (double)i * 0.5) != MS_PROC_OK)
                return (void *)1;
        } else if (v != (double)i * 0.5) {
            return (void *)1;
        }
    }
    return NULL;
}

static void threads_share_one_consistent_cache(void **state)
{
    (void)state;
    size_t bounds[2] = {0, 100};
    for (int b = 0; b < 2; b++) {
        ms_cache *c;
        assert_int_equal(ms_cache_new(bounds[b], &c), MS_PROC_OK);
        pthread_t t[4];
        hammer h[4];
        for (unsigned i = 0; i < 4; i++) {
            h[i] = (hammer){.cache = c, .seed = i * 131};
            assert_int_equal(pthread_create(&t[i], NULL, hammer_thread, &h[i]), 0);
        }
        for (int i = 0; i < 4; i++) {
            void *bad;
            pthread_join(t[i], &bad);
            assert_null(bad);
        }
        ms_cache_stats st;
        ms_cache_stats_get(c, &st);
        assert_int_equal(st.hits + st.misses, 4 * 20000);
        assert_true(st.entries <= (bounds[b] ? bounds[b] : 500));
        if (!bounds[b])
            assert_int_equal(st.entries, 500);
        ms_cache_free(c);
    }
}

static void null_arguments_are_safe(void **state)
{
    (void)state;
    unsigned char k[MS_MD5_LEN] = {0};
    assert_int_equal(ms_cache_new(0, NULL), MS_PROC_ENULL);
    assert_int_equal(ms_cache_put(NULL, k, 1.0), MS_PROC_ENULL);
    assert_false(ms_cache_get(NULL, k, NULL));
    ms_cache_stats st;
    ms_cache_stats_get(NULL, &st);
    assert_int_equal(st.entries, 0);
    ms_cache_free(NULL);
    ms_cache_clear(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hits_and_misses_are_counted),
        cmocka_unit_test(lru_evicts_least_recently_used_first),
        cmocka_unit_test(peek_does_not_refresh),
        cmocka_unit_test(unbounded_cache_keeps_everything),
        cmocka_unit_test(threads_share_one_consistent_cache),
        cmocka_unit_test(null_arguments_are_safe),
    };
    return cmocka_run_group_tests_name("processor cache", tests, NULL, NULL);
}
