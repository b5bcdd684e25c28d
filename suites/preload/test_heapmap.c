/* preload/heapmap.c on its own (the preload's objects, no interposition): live blocks come back with
 * the size and stack they were recorded with, through the thread's held block, the table, another
 * thread's held block and a thread's exit. */
#include "../../preload/preload.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define ADDR(i) ((const void *)(uintptr_t)(0x10000 + 16 * (uintptr_t)(i)))

static int setup(void **state)
{
    (void)state;
    ms_thread_init();
    assert_int_equal(ms_heapmap_init(), 0);
    return 0;
}

static void remove_expect(const void *p, size_t size, uint32_t stack)
{
    size_t s = 0;
    uint32_t st = 0;
    /* 2: it was this thread's newest block (a temporary allocation). */
    assert_in_range(ms_heapmap_remove(ms_thread_self(), p, 0, &s, &st), 1, 2);
    assert_int_equal(s, size);
    assert_int_equal(st, stack);
}

static void insert(const void *p, size_t size, uint32_t stack)
{
    size_t s;
    uint32_t st;
    assert_int_equal(ms_heapmap_insert(ms_thread_self(), p, size, stack, &s, &st), 0);
}

static void insert_then_remove_gives_the_record_back_once(void **state)
{
    (void)state;
    uint64_t before = ms_heapmap_count();
    insert(ADDR(1), 24, 7);
    assert_int_equal(ms_heapmap_count(), before + 1);
    size_t s;
    uint32_t st;
    assert_int_equal(ms_heapmap_remove(ms_thread_self(), ADDR(1), 0, &s, &st), 2); /* held: a temporary */
    assert_int_equal(s, 24);
    assert_int_equal(st, 7);
    assert_int_equal(ms_heapmap_remove(ms_thread_self(), ADDR(1), 0, &s, &st), 0);
    assert_int_equal(ms_heapmap_count(), before);
}

static void held_and_table_blocks_both_come_back(void **state)
{
    (void)state;
    /* The first goes to the table when the second is held. */
    insert(ADDR(2), 100, 3);
    insert(ADDR(3), 200, 4);
    remove_expect(ADDR(2), 100, 3);
    remove_expect(ADDR(3), 200, 4);
}

static void an_address_recorded_twice_reports_the_unseen_free_once(void **state)
{
    (void)state;
    insert(ADDR(4), 10, 1);
    insert(ADDR(5), 20, 2); /* ADDR(4) now in the table */
    insert(ADDR(4), 30, 5); /* held: the table is not looked at */
    /* The insert that moves it into the table finds the stale record there. */
    size_t s = 0;
    uint32_t st = 0;
    assert_int_equal(ms_heapmap_insert(ms_thread_self(), ADDR(6), 40, 3, &s, &st), 1);
    assert_int_equal(s, 10);
    assert_int_equal(st, 1);
    remove_expect(ADDR(4), 30, 5);
    remove_expect(ADDR(5), 20, 2);
    remove_expect(ADDR(6), 40, 3);
    assert_int_equal(ms_heapmap_remove(ms_thread_self(), ADDR(4), 0, &s, &st), 0);
}

static void sizes_past_the_limit_are_recorded_as_the_limit(void **state)
{
    (void)state;
    insert(ADDR(6), (size_t)MS_HEAPMAP_SIZE_MAX + 1000, 9);
    remove_expect(ADDR(6), (size_t)MS_HEAPMAP_SIZE_MAX, 9);
}

struct listing {
    uint64_t n, bytes;
};

static void count_block(void *ctx, uintptr_t addr, uint64_t size, uint32_t stack, int held)
{
    (void)addr;
    (void)stack;
    (void)held;
    struct listing *l = ctx;
    l->n++;
    l->bytes += size;
}

static void each_lists_every_live_block_once(void **state)
{
    (void)state;
    enum { N = 5000 }; /* several growths of the stripes */
    for (int i = 0; i < N; i++) {
        insert(ADDR(1000 + i), (size_t)i + 1, (uint32_t)i);
    }
    struct listing l = {0, 0};
    ms_heapmap_lock_all();
    ms_heapmap_each(count_block, &l);
    ms_heapmap_unlock_all();
    assert_int_equal(l.n, N);
    assert_int_equal(l.bytes, (uint64_t)N * (N + 1) / 2);
    for (int i = 0; i < N; i++) {
        remove_expect(ADDR(1000 + i), (size_t)i + 1, (uint32_t)i);
    }
    assert_int_equal(ms_heapmap_count(), 0);
}

struct other {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int inserted, done;
};

static void *other_thread(void *arg)
{
    struct other *o = arg;
    insert(ADDR(50), 77, 11); /* held by this thread */
    pthread_mutex_lock(&o->mu);
    o->inserted = 1;
    pthread_cond_broadcast(&o->cv);
    while (!o->done) {
        pthread_cond_wait(&o->cv, &o->mu);
    }
    pthread_mutex_unlock(&o->mu);
    insert(ADDR(51), 88, 12); /* held at exit: the slot's release puts it in the table */
    return NULL;
}

static void blocks_held_by_other_threads_and_exited_ones_come_back(void **state)
{
    (void)state;
    struct other o = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, other_thread, &o), 0);
    pthread_mutex_lock(&o.mu);
    while (!o.inserted) {
        pthread_cond_wait(&o.cv, &o.mu);
    }
    pthread_mutex_unlock(&o.mu);
    remove_expect(ADDR(50), 77, 11); /* taken from the other thread's slot */
    pthread_mutex_lock(&o.mu);
    o.done = 1;
    pthread_cond_broadcast(&o.cv);
    pthread_mutex_unlock(&o.mu);
    assert_int_equal(pthread_join(t, NULL), 0);
    remove_expect(ADDR(51), 88, 12);
    assert_int_equal(ms_heapmap_count(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(insert_then_remove_gives_the_record_back_once),
        cmocka_unit_test(held_and_table_blocks_both_come_back),
        cmocka_unit_test(an_address_recorded_twice_reports_the_unseen_free_once),
        cmocka_unit_test(sizes_past_the_limit_are_recorded_as_the_limit),
        cmocka_unit_test(each_lists_every_live_block_once),
        cmocka_unit_test(blocks_held_by_other_threads_and_exited_ones_come_back),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
