/* preload/sites.c on its own: counters per stack id, through the thread's cache (evictions included),
 * after a thread's exit, and the process's live bytes and peak. */
#include "../../preload/preload.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

enum { IDS = 1024 };
static struct ms_site_counts counts[IDS];

static int setup(void **state)
{
    (void)state;
    ms_thread_init();
    assert_int_equal(ms_stacks_init(), 0);
    assert_int_equal(ms_sites_init(), 0);
    return 0;
}

static const struct ms_site_counts *collect(uint32_t id)
{
    memset(counts, 0, sizeof counts);
    ms_sites_collect(IDS, counts);
    return &counts[id];
}

static void a_site_counts_its_blocks_and_bytes(void **state)
{
    (void)state;
    struct ms_thread *t = ms_thread_self();
    ms_sites_alloc(t, MS_FMT_CALL_MALLOC, 5, 100, 1);
    ms_sites_alloc(t, MS_FMT_CALL_CALLOC, 5, 50, 1);
    ms_sites_free(t, MS_FMT_CALL_FREE, 5, 100, 1);
    const struct ms_site_counts *c = collect(5);
    assert_int_equal(c->alloc_bytes, 150);
    assert_int_equal(c->alloc_count, 2);
    assert_int_equal(c->free_bytes, 100);
    assert_int_equal(c->free_count, 1);
    ms_sites_free(t, MS_FMT_CALL_FREE, 5, 50, 1);
}

static void ids_that_share_a_cache_slot_keep_their_own_counts(void **state)
{
    (void)state;
    struct ms_thread *t = ms_thread_self();
    /* 7, 7 + slots, 7 + 2 * slots: one cache slot, evicted in turn. */
    for (int round = 0; round < 3; round++) {
        for (uint32_t k = 0; k < 3; k++) {
            ms_sites_alloc(t, MS_FMT_CALL_MALLOC, 7 + k * MS_SITES_CACHE_SLOTS, 10 * (k + 1), 1);
        }
    }
    for (uint32_t k = 0; k < 3; k++) {
        const struct ms_site_counts *c = collect(7 + k * MS_SITES_CACHE_SLOTS);
        assert_int_equal(c->alloc_count, 3);
        assert_int_equal(c->alloc_bytes, 30 * (k + 1));
    }
    for (uint32_t k = 0; k < 3; k++) {
        ms_sites_free(t, MS_FMT_CALL_FREE, 7 + k * MS_SITES_CACHE_SLOTS, 30 * (k + 1), 3);
    }
}

static void calls_are_counted_per_function(void **state)
{
    (void)state;
    uint64_t before[MS_FMT_CALL_COUNT], after[MS_FMT_CALL_COUNT];
    ms_sites_calls(before);
    struct ms_thread *t = ms_thread_self();
    ms_sites_call(t, MS_FMT_CALL_REALLOC);
    ms_sites_call(t, MS_FMT_CALL_REALLOC);
    ms_sites_alloc(t, MS_FMT_CALL_MALLOC, 9, 1, 1);
    ms_sites_free(t, -1, 9, 1, 1); /* -1: no call */
    ms_sites_calls(after);
    assert_int_equal(after[MS_FMT_CALL_REALLOC] - before[MS_FMT_CALL_REALLOC], 2);
    assert_int_equal(after[MS_FMT_CALL_MALLOC] - before[MS_FMT_CALL_MALLOC], 1);
    assert_int_equal(after[MS_FMT_CALL_FREE] - before[MS_FMT_CALL_FREE], 0);
}

static void live_bytes_and_the_peak_follow_one_thread_exactly(void **state)
{
    (void)state;
    struct ms_thread *t = ms_thread_self();
    uint64_t cur0, peak0;
    ms_sites_reset_peak();
    ms_sites_current(&cur0, &peak0);
    assert_int_equal(peak0, cur0);
    ms_sites_alloc(t, MS_FMT_CALL_MALLOC, 11, 1000, 1);
    ms_sites_alloc(t, MS_FMT_CALL_MALLOC, 11, 3000, 1);
    ms_sites_free(t, MS_FMT_CALL_FREE, 11, 3000, 1);
    uint64_t cur, peak;
    ms_sites_current(&cur, &peak);
    assert_int_equal(cur, cur0 + 1000);
    assert_int_equal(peak, cur0 + 4000);
    /* Past the per-thread batch: published to the process total. */
    ms_sites_alloc(t, MS_FMT_CALL_MALLOC, 11, 1 << 20, 1);
    ms_sites_current(&cur, &peak);
    assert_int_equal(cur, cur0 + 1000 + (1 << 20));
    assert_int_equal(peak, cur);
    ms_sites_free(t, MS_FMT_CALL_FREE, 11, 1000 + (1 << 20), 2);
    ms_sites_reset_peak();
    ms_sites_current(&cur, &peak);
    assert_int_equal(cur, cur0);
    assert_int_equal(peak, cur0);
}

static void *thread_counts(void *arg)
{
    (void)arg;
    struct ms_thread *t = ms_thread_self();
    for (int i = 0; i < 100; i++) {
        ms_sites_alloc(t, MS_FMT_CALL_MALLOC, 13, 8, 1);
    }
    ms_sites_free(t, MS_FMT_CALL_FREE, 13, 8 * 40, 40);
    return NULL; /* exits with 480 live bytes in its cache */
}

static void an_exited_threads_counts_and_live_bytes_stay(void **state)
{
    (void)state;
    uint64_t cur0, peak0;
    ms_sites_current(&cur0, &peak0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, thread_counts, NULL), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    const struct ms_site_counts *c = collect(13);
    assert_int_equal(c->alloc_count, 100);
    assert_int_equal(c->alloc_bytes, 800);
    assert_int_equal(c->free_count, 40);
    assert_int_equal(c->free_bytes, 320);
    uint64_t cur, peak;
    ms_sites_current(&cur, &peak);
    assert_int_equal(cur, cur0 + 480);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_site_counts_its_blocks_and_bytes),
        cmocka_unit_test(ids_that_share_a_cache_slot_keep_their_own_counts),
        cmocka_unit_test(calls_are_counted_per_function),
        cmocka_unit_test(live_bytes_and_the_peak_follow_one_thread_exactly),
        cmocka_unit_test(an_exited_threads_counts_and_live_bytes_stay),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
