/* preload/stacks.c on its own: a call stack gets one dense id, the same every time and from every
 * thread, and the id gives the frames back. */
#include "../../preload/preload.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

static int setup(void **state)
{
    (void)state;
    assert_int_equal(ms_stacks_init(), 0);
    return 0;
}

static void frames(void **ips, unsigned n, uintptr_t seed)
{
    for (unsigned i = 0; i < n; i++) {
        ips[i] = (void *)(seed * 0x1000 + i * 8 + 1);
    }
}

static void the_empty_stack_is_id_0(void **state)
{
    (void)state;
    assert_int_equal(ms_stacks_intern(NULL, 0, 0), MS_STACK_OVERFLOW);
    assert_true(ms_stacks_count() >= 1);
}

static void the_same_stack_gets_the_same_id_and_its_frames_back(void **state)
{
    (void)state;
    void *ips[40];
    frames(ips, 40, 1);
    uint32_t before = ms_stacks_count();
    uint32_t id = ms_stacks_intern(ips, 40, 0);
    assert_int_equal(id, before); /* dense: the next id */
    assert_int_equal(ms_stacks_intern(ips, 40, 0), id);
    assert_int_equal(ms_stacks_count(), before + 1);
    unsigned depth = 0, flags = 1;
    void *const *got = ms_stacks_get(id, &depth, &flags);
    assert_int_equal(depth, 40);
    assert_int_equal(flags, 0);
    assert_memory_equal(got, ips, sizeof ips);
}

static void a_frame_more_or_another_flag_is_another_stack(void **state)
{
    (void)state;
    void *ips[8];
    frames(ips, 8, 2);
    uint32_t a = ms_stacks_intern(ips, 7, 0);
    uint32_t b = ms_stacks_intern(ips, 8, 0);
    uint32_t c = ms_stacks_intern(ips, 8, MS_FMT_STACK_TRUNCATED);
    assert_int_not_equal(a, b);
    assert_int_not_equal(b, c);
    assert_int_not_equal(a, c);
    unsigned depth, flags;
    (void)ms_stacks_get(c, &depth, &flags);
    assert_int_equal(flags, MS_FMT_STACK_TRUNCATED);
    assert_true(ms_stacks_any_truncated());
}

enum { SHARED = 2000 };
static uint32_t shared_ids[2][SHARED];

static void *intern_all(void *arg)
{
    uint32_t *out = arg;
    for (unsigned i = 0; i < SHARED; i++) {
        void *ips[5];
        frames(ips, 5, 100 + i);
        out[i] = ms_stacks_intern(ips, 5, 0);
    }
    return NULL;
}

static void threads_interning_the_same_stacks_agree_on_their_ids(void **state)
{
    (void)state;
    uint32_t before = ms_stacks_count();
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, intern_all, shared_ids[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
    }
    assert_memory_equal(shared_ids[0], shared_ids[1], sizeof shared_ids[0]);
    assert_int_equal(ms_stacks_count(), before + SHARED); /* the table grew, nothing was added twice */
    for (unsigned i = 0; i < SHARED; i++) {
        void *ips[5];
        frames(ips, 5, 100 + i);
        unsigned depth, flags;
        assert_memory_equal(ms_stacks_get(shared_ids[0][i], &depth, &flags), ips, sizeof ips);
    }
}

/* One thread adds stacks while another reads every published one back, by id and by lookup: the records
 * and the id table grow level by level under the readers (100,000 stacks of 40 frames: 34 MB of records). */
enum { GROWN = 100000, GROWN_DEPTH = 40 };
static uint32_t grown_first;
static int grown_done;

static void *read_while_growing(void *arg)
{
    unsigned long *checked = arg;
    while (!__atomic_load_n(&grown_done, __ATOMIC_ACQUIRE)) {
        uint32_t n = ms_stacks_count();
        for (uint32_t id = n > 64 ? n - 64 : 0; id < n; id++) {
            if (id < grown_first) {
                continue;
            }
            void *ips[GROWN_DEPTH];
            unsigned depth, flags;
            frames(ips, GROWN_DEPTH, 10000 + id - grown_first);
            void *const *got = ms_stacks_get(id, &depth, &flags);
            if (depth != GROWN_DEPTH || memcmp(got, ips, sizeof ips) != 0 ||
                ms_stacks_intern(ips, GROWN_DEPTH, 0) != id) {
                return (void *)(uintptr_t)(id + 1);
            }
            ++*checked;
        }
    }
    return NULL;
}

static void readers_get_whole_stacks_while_the_tables_grow(void **state)
{
    (void)state;
    grown_first = ms_stacks_count();
    unsigned long checked = 0;
    pthread_t reader;
    assert_int_equal(pthread_create(&reader, NULL, read_while_growing, &checked), 0);
    for (uint32_t i = 0; i < GROWN; i++) {
        void *ips[GROWN_DEPTH];
        frames(ips, GROWN_DEPTH, 10000 + i);
        assert_int_equal(ms_stacks_intern(ips, GROWN_DEPTH, 0), grown_first + i);
    }
    __atomic_store_n(&grown_done, 1, __ATOMIC_RELEASE);
    void *bad;
    assert_int_equal(pthread_join(reader, &bad), 0);
    assert_null(bad);
    assert_true(checked > 0);
    for (uint32_t i = 0; i < GROWN; i++) {
        void *ips[GROWN_DEPTH];
        unsigned depth, flags;
        frames(ips, GROWN_DEPTH, 10000 + i);
        assert_memory_equal(ms_stacks_get(grown_first + i, &depth, &flags), ips, sizeof ips);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_empty_stack_is_id_0),
        cmocka_unit_test(the_same_stack_gets_the_same_id_and_its_frames_back),
        cmocka_unit_test(a_frame_more_or_another_flag_is_another_stack),
        cmocka_unit_test(threads_interning_the_same_stacks_agree_on_their_ids),
        cmocka_unit_test(readers_get_whole_stacks_while_the_tables_grow),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
