/* Allocation failure anywhere in libprocessor comes back as MS_PROC_ENOMEM, never a crash or a leak:
 * every allocation made by the library (wrapped with -Wl,--wrap) is failed in turn. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "processor.h"

static atomic_long alloc_count, live;
static long fail_at = -1; /* the index of the allocation to fail; -1 never */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);

static bool should_fail(void)
{
    return atomic_fetch_add(&alloc_count, 1) == fail_at;
}

void *__wrap_malloc(size_t n)
{
    void *p = should_fail() ? NULL : __real_malloc(n);
    if (p)
        atomic_fetch_add(&live, 1);
    return p;
}

void *__wrap_calloc(size_t n, size_t m)
{
    void *p = should_fail() ? NULL : __real_calloc(n, m);
    if (p)
        atomic_fetch_add(&live, 1);
    return p;
}

void *__wrap_realloc(void *old, size_t n)
{
    void *p = should_fail() ? NULL : __real_realloc(old, n);
    if (p && !old)
        atomic_fetch_add(&live, 1);
    return p;
}

void __wrap_free(void *p)
{
    if (p)
        atomic_fetch_sub(&live, 1);
    __real_free(p);
}

/* One workload touching every allocating path: processor, cache growth, long JSON, parallel batch. */
static int workload(void)
{
    static char long_name[1500];
    memset(long_name, 'y', sizeof long_name - 1);
    ms_transaction txns[40];
    char names[40][16];
    for (int i = 0; i < 40; i++) {
        snprintf(names[i], sizeof names[i], "Store %d", i);
        txns[i] = (ms_transaction){.amount = i, .merchant = names[i], .customer_id = "C"};
    }
    txns[7].merchant = long_name;
    ms_processor_config cfg;
    ms_processor_config_default(&cfg);
    cfg.iterations = 2;
    ms_processor *p;
    int rc = ms_processor_new(&cfg, &p);
    if (rc != MS_PROC_OK)
        return rc;
    ms_scored *out = malloc(sizeof *out * 40);
    if (!out) {
        ms_processor_free(p);
        return MS_PROC_ENOMEM;
    }
    rc = ms_batch_process_parallel(p, txns, 40, out, 3);
    if (rc == MS_PROC_OK)
        rc = ms_batch_process(p, txns, 40, out);
    char key[MS_MD5_HEX_LEN];
    if (rc == MS_PROC_OK)
        rc = ms_processor_cache_key(p, &txns[7], key);
    free(out);
    ms_processor_free(p);
    return rc;
}

static void every_allocation_failure_is_reported(void **state)
{
    (void)state;
    fail_at = -1;
    atomic_store(&alloc_count, 0);
    assert_int_equal(workload(), MS_PROC_OK);
    long total = atomic_load(&alloc_count);
    assert_true(total > 10);
    assert_int_equal(atomic_load(&live), 0);
    /* Thread scheduling varies the order, so allocation i is not always the same one; every run must
     * still end in OK or ENOMEM with nothing left allocated. */
    long failures = 0;
    for (long i = 0; i < total + 5; i++) {
        fail_at = i;
        atomic_store(&alloc_count, 0);
        int rc = workload();
        if (rc != MS_PROC_OK && rc != MS_PROC_ENOMEM)
            fail_msg("failing allocation %ld: %s", i, ms_processor_strerror(rc));
        failures += rc == MS_PROC_ENOMEM;
        if (atomic_load(&live) != 0)
            fail_msg("failing allocation %ld: %ld blocks leaked", i, (long)atomic_load(&live));
    }
    assert_true(failures > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_allocation_failure_is_reported),
    };
    return cmocka_run_group_tests_name("processor allocation failure", tests, NULL, NULL);
}
