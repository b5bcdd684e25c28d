/* performance_budgets.yml reader: values, the seed's layout, and one clear line for each kind of bad file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static char tmpdir[256];

static const char *write_file(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void budgets_read_seed_layout(void **state)
{
    (void)state;
    const char *p = write_file("seed.yml",
                               "# performance_budgets.yml\n"
                               "budgets:\n"
                               "  single_transaction:\n"
                               "    benchmark: risk_score_uncached\n"
                               "    max_mean: 100  # milliseconds\n"
                               "    max_stddev: 10\n"
                               "    description: \"Single transaction processing\"\n"
                               "  cache_speedup:\n"
                               "    min_ratio: 1.5e1\n");
    struct ms_budgets *b;
    struct ms_error err = {{0}};
    assert_int_equal(ms_budgets_load(p, &b, &err), 0);
    double v = 0;
    assert_int_equal(ms_budgets_get(b, "single_transaction", "max_mean", &v, &err), 0);
    assert_true(v == 100.0);
    assert_int_equal(ms_budgets_get(b, "single_transaction", "max_stddev", &v, &err), 0);
    assert_true(v == 10.0);
    assert_int_equal(ms_budgets_get(b, "cache_speedup", "min_ratio", &v, &err), 0);
    assert_true(v == 15.0);
    assert_string_equal(ms_budgets_get_string(b, "single_transaction", "benchmark"), "risk_score_uncached");
    assert_string_equal(ms_budgets_get_string(b, "single_transaction", "description"),
                        "Single transaction processing");
    assert_int_equal(ms_budgets_section_count(b), 2);
    assert_string_equal(ms_budgets_section_name(b, 1), "cache_speedup");
    assert_int_equal(ms_budgets_key_count(b, 0), 4);
    assert_string_equal(ms_budgets_key_name(b, 0, 1), "max_mean");
    assert_true(ms_budgets_has(b, "cache_speedup", "min_ratio"));
    assert_false(ms_budgets_has(b, "cache_speedup", "max_mean"));
    ms_budgets_free(b);
}

static void budgets_read_flat_layout(void **state)
{
    (void)state;
    const char *p = write_file("flat.yml", "version: 1\nbatch_100:\n  max_mean: 250.5\n  min_throughput: 400\n");
    struct ms_budgets *b;
    struct ms_error err = {{0}};
    assert_int_equal(ms_budgets_load(p, &b, &err), 0);
    double v = 0;
    assert_int_equal(ms_budgets_get(b, "batch_100", "max_mean", &v, &err), 0);
    assert_true(v == 250.5);
    assert_int_equal(ms_budgets_section_count(b), 1);
    ms_budgets_free(b);
}

static void budgets_missing_file_names_the_file(void **state)
{
    (void)state;
    struct ms_budgets *b = (struct ms_budgets *)1;
    struct ms_error err = {{0}};
    assert_int_equal(ms_budgets_load("/nonexistent/budgets.yml", &b, &err), -ENOENT);
    assert_null(b);
    assert_non_null(strstr(err.msg, "/nonexistent/budgets.yml: cannot open"));
}

static void budgets_malformed_yaml_names_the_line(void **state)
{
    (void)state;
    const char *p = write_file("bad.yml", "budgets:\n  a:\n    max_mean: 1\n  b: [1, 2\n  c: 3\n");
    struct ms_budgets *b;
    struct ms_error err = {{0}};
    assert_int_equal(ms_budgets_load(p, &b, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "bad.yml:"));
    assert_non_null(strstr(err.msg, "malformed YAML"));
    /* libyaml reports the problem where the flow sequence runs into the next key: line 5 */
    assert_non_null(strstr(err.msg, "bad.yml:5:"));
}

static void budgets_missing_key_names_section_and_key(void **state)
{
    (void)state;
    const char *p = write_file("keys.yml", "budgets:\n  single:\n    max_mean: 1\n");
    struct ms_budgets *b;
    struct ms_error err = {{0}};
    assert_int_equal(ms_budgets_load(p, &b, &err), 0);
    double v;
    assert_int_equal(ms_budgets_get(b, "single", "max_stddev", &v, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "keys.yml:3: section 'single' has no key 'max_stddev'"));
    assert_int_equal(ms_budgets_get(b, "batch", "max_mean", &v, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "no section 'batch'"));
    ms_budgets_free(b);
}

static void budgets_non_numeric_value_is_an_error_with_line(void **state)
{
    (void)state;
    const char *p = write_file("nan.yml", "single:\n  max_mean: 1\n  max_stddev: ten\n  max_kb: \"5\"\n");
    struct ms_budgets *b;
    struct ms_error err = {{0}};
    assert_int_equal(ms_budgets_load(p, &b, &err), 0);
    double v;
    assert_int_equal(ms_budgets_get(b, "single", "max_stddev", &v, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "nan.yml:3: single.max_stddev: 'ten' is not a number"));
    assert_int_equal(ms_budgets_get(b, "single", "max_kb", &v, &err), -EINVAL);
    ms_budgets_free(b);
}

static void budgets_nested_value_is_rejected_at_load(void **state)
{
    (void)state;
    const char *p = write_file("nested.yml", "single:\n  max_mean:\n    - 1\n");
    struct ms_budgets *b;
    struct ms_error err = {{0}};
    assert_int_equal(ms_budgets_load(p, &b, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "nested.yml:2: single.max_mean: value must be a number or a string"));
    p = write_file("list.yml", "- 1\n- 2\n");
    assert_int_equal(ms_budgets_load(p, &b, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "list.yml:1: expected a mapping"));
    p = write_file("empty.yml", "");
    assert_int_equal(ms_budgets_load(p, &b, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "empty file"));
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ms-budgets-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(budgets_read_seed_layout),
        cmocka_unit_test(budgets_read_flat_layout),
        cmocka_unit_test(budgets_missing_file_names_the_file),
        cmocka_unit_test(budgets_malformed_yaml_names_the_line),
        cmocka_unit_test(budgets_missing_key_names_section_and_key),
        cmocka_unit_test(budgets_non_numeric_value_is_an_error_with_line),
        cmocka_unit_test(budgets_nested_value_is_rejected_at_load),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", tmpdir);
    }
    return rc;
}
