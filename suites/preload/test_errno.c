/* The profiler never changes errno behind the program's back: a successful allocation or free leaves it
 * as it was, also on the profiler's slow paths (a thread's first allocation, heap-map and stack-table
 * growth, a new stack, a fork child's first allocation), where it makes system calls of its own. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <memsnap.h>

#define SENTINEL 4711

static int skip_unless_active(void **state)
{
    (void)state;
    if (!memsnap_active()) {
        fprintf(stderr, "libmemsnap.so is not preloaded: nothing to check\n");
        exit(77);
    }
    return 0;
}

/* Distinct call sites make distinct stacks: recursion depth picks the stack. */
static __attribute__((noinline)) void *alloc_at_depth(int depth, size_t size)
{
    if (depth == 0) {
        return malloc(size);
    }
    void *p = alloc_at_depth(depth - 1, size);
    __asm__ volatile("" ::: "memory"); /* keep the frame: no tail call */
    return p;
}

static void *first_allocation_of_a_thread(void *arg)
{
    (void)arg;
    errno = SENTINEL;
    void *p = malloc(24);
    intptr_t ok = p != NULL && errno == SENTINEL;
    free(p);
    ok = ok && errno == SENTINEL;
    return (void *)ok;
}

static void errno_survives_a_threads_first_allocation(void **state)
{
    (void)state;
    for (int i = 0; i < 8; i++) {
        pthread_t t;
        void *ok;
        assert_int_equal(pthread_create(&t, NULL, first_allocation_of_a_thread, NULL), 0);
        assert_int_equal(pthread_join(t, &ok), 0);
        assert_true((intptr_t)ok);
    }
}

static void errno_survives_heap_map_growth(void **state)
{
    (void)state;
    enum { N = 300000 };
    void **v = calloc(N, sizeof *v);
    assert_non_null(v);
    errno = SENTINEL;
    for (int i = 0; i < N; i++) {
        v[i] = malloc(16 + (size_t)(i % 7));
        assert_non_null(v[i]);
        if (errno != SENTINEL) {
            fail_msg("errno changed to %d by allocation %d", errno, i);
        }
    }
    for (int i = 0; i < N; i++) {
        free(v[i]);
    }
    assert_int_equal(errno, SENTINEL);
    free(v);
}

static void errno_survives_new_stacks(void **state)
{
    (void)state;
    errno = SENTINEL;
    for (int d = 0; d < 200; d++) {
        void *p = alloc_at_depth(d, 32);
        assert_non_null(p);
        free(p);
        if (errno != SENTINEL) {
            fail_msg("errno changed to %d by a new stack of depth %d", errno, d);
        }
    }
}

static void errno_survives_a_fork_childs_first_allocation(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        errno = SENTINEL;
        void *p = malloc(40);
        int ok = p != NULL && errno == SENTINEL;
        free(p);
        _exit(ok && errno == SENTINEL ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(errno_survives_a_threads_first_allocation),
        cmocka_unit_test(errno_survives_heap_map_growth),
        cmocka_unit_test(errno_survives_new_stacks),
        cmocka_unit_test(errno_survives_a_fork_childs_first_allocation),
    };
    return cmocka_run_group_tests(tests, skip_unless_active, NULL);
}
