/* The gate works: the same checks as the perf suite, run against budgets nobody can meet, must fail with
 * the seed's kind of message; and a missing or malformed budgets file is one clear error naming the file
 * and the key or line.
 *
 *     perf-gate IMPOSSIBLE.yml [--memory]    (--memory: the memory checks, under libmemsnap; else exit 77) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixtures.h"
#include "harness.h"
#include "tap.h"

static const char *impossible_path;

typedef enum perfcheck_status (*check_fn)(const struct ms_budgets *, struct perfcheck_report *);

static void expect_fail(const char *path, check_fn check, const char *phrase)
{
    struct ms_budgets *b = NULL;
    struct perfcheck_report r;
    if (perfcheck_load(path, &b, &r) != PERFCHECK_PASS) {
        fail_msg("loading %s: %s", path, r.msg);
    }
    enum perfcheck_status st = check(b, &r);
    ms_budgets_free(b);
    printf("# gate message: %s\n", r.msg);
    assert_int_equal(st, PERFCHECK_FAIL);
    if (!strstr(r.msg, phrase)) {
        fail_msg("message '%s' does not contain '%s'", r.msg, phrase);
    }
}

static void impossible_single_transaction_fails(void **state)
{
    (void)state;
    expect_fail(impossible_path, perfcheck_single_transaction, "exceeds budget 1e-06ms");
}

static void impossible_batch_100_fails(void **state)
{
    (void)state;
    expect_fail(impossible_path, perfcheck_batch_100, "exceeds budget");
}

static void impossible_cache_speedup_fails(void **state)
{
    (void)state;
    expect_fail(impossible_path, perfcheck_cache_speedup, "Cache speedup");
}

static void impossible_optimization_speedup_fails(void **state)
{
    (void)state;
    expect_fail(impossible_path, perfcheck_optimization_speedup, "below budget 1e+12x");
}

static void impossible_memory_single_fails(void **state)
{
    (void)state;
    expect_fail(impossible_path, perfcheck_memory_single, "KB exceeds budget 0 KB");
}

static void impossible_memory_batch_100_fails(void **state)
{
    (void)state;
    expect_fail(impossible_path, perfcheck_memory_batch_100, "KB exceeds budget 0 KB");
}

static void impossible_memory_cache_1000_fails(void **state)
{
    (void)state;
    expect_fail(impossible_path, perfcheck_memory_cache_1000, "KB exceeds budget 0 KB");
}

static void impossible_memory_batch_1000_fails(void **state)
{
    (void)state;
    expect_fail(impossible_path, perfcheck_memory_batch_1000, "KB exceeds budget 0 KB");
}

/* ---- budgets files written by the tests ---- */

static char *write_temp(const char *text)
{
    char *path = strdup("/tmp/memsnap-budgets-XXXXXX.yml");
    assert_non_null(path);
    int fd = mkstemps(path, 4);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

/* Each budget is checked on its own: a generous mean with an impossible stddev still fails, on the stddev. */
static void stddev_budget_is_checked_on_its_own(void **state)
{
    (void)state;
    char *path = write_temp("budgets:\n  single_transaction:\n    max_mean: 1000\n    max_stddev: 0.000001\n");
    expect_fail(path, perfcheck_single_transaction, "StdDev");
    unlink(path);
    free(path);
}

static void throughput_budget_is_checked_on_its_own(void **state)
{
    (void)state;
    char *path = write_temp("budgets:\n  batch_100:\n    max_mean: 100000\n    min_throughput: 1e15\n");
    expect_fail(path, perfcheck_batch_100, "tx/s below budget");
    unlink(path);
    free(path);
}

static void missing_budgets_file_is_a_clear_error(void **state)
{
    (void)state;
    struct ms_budgets *b = NULL;
    struct perfcheck_report r;
    assert_int_equal(perfcheck_load("/nonexistent/performance_budgets.yml", &b, &r), PERFCHECK_ERROR);
    printf("# error: %s\n", r.msg);
    assert_non_null(strstr(r.msg, "/nonexistent/performance_budgets.yml"));
}

static void missing_key_is_named(void **state)
{
    (void)state;
    char *path = write_temp("budgets:\n  single_transaction:\n    max_mean: 0.25\n");
    struct ms_budgets *b = NULL;
    struct perfcheck_report r;
    assert_int_equal(perfcheck_load(path, &b, &r), PERFCHECK_PASS);
    assert_int_equal(perfcheck_single_transaction(b, &r), PERFCHECK_ERROR);
    printf("# error: %s\n", r.msg);
    assert_non_null(strstr(r.msg, "max_stddev"));
    assert_non_null(strstr(r.msg, path));
    assert_int_equal(perfcheck_cache_speedup(b, &r), PERFCHECK_ERROR);
    assert_non_null(strstr(r.msg, "cache_speedup"));
    ms_budgets_free(b);
    unlink(path);
    free(path);
}

static void malformed_yaml_names_the_line(void **state)
{
    (void)state;
    char *path = write_temp("budgets:\n  single_transaction:\n    max_mean: [0.25\n    max_stddev: 1\n");
    struct ms_budgets *b = NULL;
    struct perfcheck_report r;
    assert_int_equal(perfcheck_load(path, &b, &r), PERFCHECK_ERROR);
    printf("# error: %s\n", r.msg);
    char where[4200];
    snprintf(where, sizeof where, "%s:", path);
    assert_non_null(strstr(r.msg, where)); /* "FILE:LINE:COL: malformed YAML: ..." */
    unlink(path);
    free(path);
}

static void non_number_budget_is_named(void **state)
{
    (void)state;
    char *path = write_temp("budgets:\n  single_transaction:\n    max_mean: fast\n    max_stddev: 1\n");
    struct ms_budgets *b = NULL;
    struct perfcheck_report r;
    assert_int_equal(perfcheck_load(path, &b, &r), PERFCHECK_PASS);
    assert_int_equal(perfcheck_single_transaction(b, &r), PERFCHECK_ERROR);
    printf("# error: %s\n", r.msg);
    assert_non_null(strstr(r.msg, "max_mean"));
    assert_non_null(strstr(r.msg, "fast"));
    ms_budgets_free(b);
    unlink(path);
    free(path);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: perf-gate IMPOSSIBLE_BUDGETS.yml [--memory]\n");
        return 2;
    }
    impossible_path = argv[1];
    if (argc > 2 && strcmp(argv[2], "--memory") == 0) {
        if (!memtrack_active()) {
            return ms_tap_skip_all("the memory gate needs LD_PRELOAD=libmemsnap.so");
        }
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(impossible_memory_single_fails),
            cmocka_unit_test(impossible_memory_batch_100_fails),
            cmocka_unit_test(impossible_memory_cache_1000_fails),
            cmocka_unit_test(impossible_memory_batch_1000_fails),
        };
        return cmocka_run_group_tests_name("memory gate", tests, NULL, NULL);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(impossible_single_transaction_fails),
        cmocka_unit_test(impossible_batch_100_fails),
        cmocka_unit_test(impossible_cache_speedup_fails),
        cmocka_unit_test(impossible_optimization_speedup_fails),
        cmocka_unit_test(stddev_budget_is_checked_on_its_own),
        cmocka_unit_test(throughput_budget_is_checked_on_its_own),
        cmocka_unit_test(missing_budgets_file_is_a_clear_error),
        cmocka_unit_test(missing_key_is_named),
        cmocka_unit_test(malformed_yaml_names_the_line),
        cmocka_unit_test(non_number_budget_is_named),
    };
    return cmocka_run_group_tests_name("perf gate", tests, NULL, NULL);
}
