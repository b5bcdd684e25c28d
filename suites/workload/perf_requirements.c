/* The perf suite's requirement tests: each reads its budget by name from performance_budgets.yml and
 * fails with the figure and the budget ("Mean 0.31ms exceeds budget 0.10ms").
 *
 *     perf-requirements [--budgets FILE] [--memory]
 *
 * Without --memory: the timing requirements (perf suite). With --memory: the memory requirements, which
 * need LD_PRELOAD=libmemsnap.so (memory suite); without it the program exits 77. The budgets file is
 * loaded once for the group, as a scope="module" fixture. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "fixtures.h"
#include "harness.h"
#include "tap.h"

static const char *budgets_path;

static int budgets_setup(void **state)
{
    struct ms_budgets *b = NULL;
    struct perfcheck_report r;
    if (perfcheck_load(budgets_path, &b, &r) != PERFCHECK_PASS) {
        fprintf(stderr, "%s\n", r.msg);
        return -1;
    }
    *state = b;
    return 0;
}

static int budgets_teardown(void **state)
{
    ms_budgets_free(*state);
    return 0;
}

#define REQUIREMENT(name, check)                                                                           \
    static void name(void **state)                                                                        \
    {                                                                                                      \
        struct perfcheck_report r;                                                                         \
        enum perfcheck_status st = check(*state, &r);                                                      \
        perfcheck_assert(st, &r);                                                                          \
    }

REQUIREMENT(single_transaction_within_budget, perfcheck_single_transaction)
REQUIREMENT(batch_100_within_budget, perfcheck_batch_100)
REQUIREMENT(cache_speedup_meets_budget, perfcheck_cache_speedup)
REQUIREMENT(optimization_speedup_meets_budget, perfcheck_optimization_speedup)
REQUIREMENT(memory_single_within_budget, perfcheck_memory_single)
REQUIREMENT(memory_batch_100_within_budget, perfcheck_memory_batch_100)
REQUIREMENT(memory_cache_1000_within_budget, perfcheck_memory_cache_1000)
REQUIREMENT(memory_batch_1000_within_10mb, perfcheck_memory_batch_1000)

int main(int argc, char **argv)
{
    bool memory = false;
    for (int i = 1; i < argc; i++) {
        memory |= strcmp(argv[i], "--memory") == 0;
    }
    budgets_path = perfcheck_budgets_path(argc, argv);
    if (memory) {
        if (!memtrack_active()) {
            return ms_tap_skip_all("the memory requirements need LD_PRELOAD=libmemsnap.so");
        }
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(memory_single_within_budget),
            cmocka_unit_test(memory_batch_100_within_budget),
            cmocka_unit_test(memory_cache_1000_within_budget),
            cmocka_unit_test(memory_batch_1000_within_10mb),
        };
        return ms_tap_run("memory requirements", tests, sizeof tests / sizeof tests[0], budgets_setup,
                          budgets_teardown);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(single_transaction_within_budget),
        cmocka_unit_test(batch_100_within_budget),
        cmocka_unit_test(cache_speedup_meets_budget),
        cmocka_unit_test(optimization_speedup_meets_budget),
    };
    return ms_tap_run("performance requirements", tests, sizeof tests / sizeof tests[0], budgets_setup,
                      budgets_teardown);
}
