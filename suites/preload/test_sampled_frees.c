/* Sampled mode (MEMSNAP_SAMPLE=1k here) decides most frees with its filter of sampled addresses, without
 * the heap map: a sampled block must never be missed. Blocks go through malloc, realloc (grown and shrunk,
 * so sampled and unsampled blocks replace each other), are freed by another thread, and in a fork child;
 * when all are freed, the snapshot shows none of them live, though many were sampled. */
#include <memsnap.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "snapread.h"
#include "tap.h"

#define BLOCKS 20000

static void *blocks[BLOCKS];
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static size_t next_size(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return 16 + rng % 4096;
}

/* Exported (dladdr names the frames of the snapshot through -rdynamic). */
void *alloc_block(size_t n);
void *grow_block(void *p, size_t n);

__attribute__((noinline)) void *alloc_block(size_t n)
{
    return malloc(n);
}

__attribute__((noinline)) void *grow_block(void *p, size_t n)
{
    return realloc(p, n);
}

static void *free_all(void *arg)
{
    (void)arg;
    for (int i = 0; i < BLOCKS; i++)
        free(blocks[i]);
    return NULL;
}

static void fill(void)
{
    for (int i = 0; i < BLOCKS; i++) {
        char *p = alloc_block(next_size());
        assert_non_null(p);
        p = grow_block(p, next_size() * 2);
        assert_non_null(p);
        p = grow_block(p, next_size() / 2 + 1);
        assert_non_null(p);
        p[0] = 1;
        blocks[i] = p;
    }
}

/* Live and allocated sums of the two sites, from a snapshot written now. */
static void measure(const char *path, struct ms_fmt_site *a, struct ms_fmt_site *g)
{
    assert_int_equal(memsnap_snapshot(path), 0);
    struct sr_snap s;
    char err[256];
    if (sr_load(path, &s, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_true(s.header.flags & MS_FMT_FLAG_SAMPLED);
    memset(a, 0, sizeof *a);
    memset(g, 0, sizeof *g);
    sr_sum_function(&s, (const void *)alloc_block, a);
    sr_sum_function(&s, (const void *)grow_block, g);
    sr_free(&s);
    unlink(path);
}

static void blocks_freed_by_another_thread_leave_no_sampled_block_live(void **state)
{
    (void)state;
    fill();
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, free_all, NULL), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    struct ms_fmt_site a, g;
    measure("sampled-frees-thread.snap", &a, &g);
    assert_true(a.alloc_count > 0 && g.alloc_count > 0); /* sampled: 60000 blocks of ~2 KiB, one per KiB */
    assert_int_equal(a.live_count, 0);
    assert_int_equal(g.live_count, 0);
    assert_int_equal(g.live_bytes, 0);
}

static void blocks_freed_in_a_fork_child_leave_none_live_there(void **state)
{
    (void)state;
    fill();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        free_all(NULL);
        struct ms_fmt_site a, g;
        measure("sampled-frees-child.snap", &a, &g);
        _exit(g.alloc_count > 0 && g.live_count == 0 && a.live_count == 0 ? 0 : 3);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    struct ms_fmt_site a, g;
    measure("sampled-frees-parent.snap", &a, &g);
    assert_true(g.live_count > 0); /* the parent still holds its blocks */
    free_all(NULL);
    measure("sampled-frees-parent.snap", &a, &g);
    assert_int_equal(g.live_count, 0);
}

/* Calls of malloc and free counted in the snapshot at path (then removed); failed allocations too. */
static void calls_and_failures_in(const char *path, uint64_t *mallocs, uint64_t *frees, uint64_t *failed)
{
    struct sr_snap s;
    char err[256];
    if (sr_load(path, &s, err, sizeof err) != 0)
        fail_msg("%s", err);
    *mallocs = s.totals.calls[MS_FMT_CALL_MALLOC];
    *frees = s.totals.calls[MS_FMT_CALL_FREE];
    *failed = s.totals.failed_allocs;
    sr_free(&s);
    unlink(path);
}

static void calls_in(const char *path, uint64_t *mallocs, uint64_t *frees)
{
    uint64_t failed;
    calls_and_failures_in(path, mallocs, frees, &failed);
}

/* Most of these calls take the fast path before the hook (not sampled), the others the hook: each is
 * counted once, and the profiler's own allocations while it writes a snapshot are not. */
static void unsampled_calls_are_counted_exactly(void **state)
{
    (void)state;
    enum { PAIRS = 30000 };
    assert_int_equal(memsnap_snapshot("sampled-calls-before.snap"), 0);
    for (int i = 0; i < PAIRS; i++) {
        void *p = alloc_block(next_size());
        if (!p)
            break;
        free(p);
    }
    assert_int_equal(memsnap_snapshot("sampled-calls-after.snap"), 0);
    uint64_t m0, f0, m1, f1;
    calls_in("sampled-calls-before.snap", &m0, &f0);
    calls_in("sampled-calls-after.snap", &m1, &f1);
    assert_int_equal(m1 - m0, PAIRS);
    assert_int_equal(f1 - f0, PAIRS);
}

/* Small blocks until the address space runs out (RLIMIT_AS a few MiB above what is mapped): most of the
 * refused calls take the fast path (not sampled), the others the hook; each is counted as a call and as a
 * failed allocation once. */
static void *held[1 << 18];

static void unsampled_failed_mallocs_are_counted(void **state)
{
    (void)state;
    enum { SIZE = 256, TRIES = 4000 };
    struct rlimit was;
    assert_int_equal(getrlimit(RLIMIT_AS, &was), 0);
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%lu", &pages), 1);
    fclose(f);
    assert_int_equal(memsnap_snapshot("sampled-failed-before.snap"), 0);
    struct rlimit low = was;
    low.rlim_cur = pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)8 << 20);
    assert_int_equal(setrlimit(RLIMIT_AS, &low), 0);
    size_t n = 0;
    uint64_t refused = 0, calls = 0;
    while (n < sizeof held / sizeof held[0] && refused < TRIES) {
        void *p = alloc_block(SIZE);
        calls++;
        if (p)
            held[n++] = p;
        else
            refused++;
    }
    assert_int_equal(setrlimit(RLIMIT_AS, &was), 0);
    for (size_t i = 0; i < n; i++)
        free(held[i]);
    if (refused < TRIES)
        fail_msg("%zu blocks of %d bytes within 8 MiB more address space", n, SIZE);
    assert_int_equal(memsnap_snapshot("sampled-failed-after.snap"), 0);
    uint64_t m0, f0, x0, m1, f1, x1;
    calls_and_failures_in("sampled-failed-before.snap", &m0, &f0, &x0);
    calls_and_failures_in("sampled-failed-after.snap", &m1, &f1, &x1);
    assert_int_equal(m1 - m0, calls);
    assert_int_equal(f1 - f0, n);
    assert_int_equal(x1 - x0, refused);
}

int main(void)
{
    if (!memsnap_active()) {
        return ms_tap_skip_all("not running under libmemsnap.so");
    }
    const struct CMUnitTest tests[] = {
        /* first: the heap has no free blocks of earlier tests to hand out yet */
        cmocka_unit_test(unsampled_failed_mallocs_are_counted),
        cmocka_unit_test(blocks_freed_by_another_thread_leave_no_sampled_block_live),
        cmocka_unit_test(blocks_freed_in_a_fork_child_leave_none_live_there),
        cmocka_unit_test(unsampled_calls_are_counted_exactly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
