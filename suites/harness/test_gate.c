/* Compare-fail expressions, Mann-Whitney U against hand-computed values, and the rule that a gate fails
 * only when the threshold is exceeded AND the change is significant. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

static void gate_parses_pytest_benchmark_grammar(void **state)
{
    (void)state;
    struct ms_gate g;
    struct ms_error err = {{0}};
    assert_int_equal(ms_gate_parse("mean:10%", &g, &err), 0);
    assert_string_equal(g.field, "mean");
    assert_true(g.percent && g.threshold == 10);
    assert_int_equal(ms_gate_parse("min:0.001", &g, &err), 0);
    assert_true(!g.percent && g.threshold == 0.001);
    assert_int_equal(ms_gate_parse("median:1e-3", &g, &err), 0);
    assert_true(!g.percent && g.threshold == 1e-3);
    assert_int_equal(ms_gate_parse("iqr:.5", &g, &err), 0);
    assert_true(g.threshold == 0.5);
    assert_int_equal(ms_gate_parse("stddev:150%", &g, &err), 0);
    assert_true(g.percent && g.threshold == 150);
    static const char *bad[] = {"mean", "mean:", "avg:10%", "mean:10%%", "mean:-5%", "mean:abc", "mean:1e3%",
                                "MEAN:5%", "mean:5 %", ":5%", "mean:inf", "p95:5%"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = 0;
        if (ms_gate_parse(bad[i], &g, &err) != -EINVAL) {
            fail_msg("'%s' was accepted", bad[i]);
        }
        assert_non_null(strstr(err.msg, bad[i]));
    }
}

/* Values computed by hand (ranks averaged over ties, sigma^2 = n1 n2 / 12 ((n+1) - sum(t^3-t)/(n(n-1))),
 * z = (|U - n1 n2 / 2| - 0.5) / sigma, p = 2 (1 - Phi(z))) for samples with ties or n1 + n2 > 40, and by
 * enumerating every rank subset (Python's itertools.combinations) for the exact small-sample p. */
static void mannwhitney_matches_hand_computation(void **state)
{
    (void)state;
    struct ms_mannwhitney mw;
    /* exact: 2 of C(10,5) = 252 subsets are as extreme -> 2/252 (the approximation would say 0.0122) */
    const double a1[] = {1, 2, 3, 4, 5}, b1[] = {6, 7, 8, 9, 10};
    assert_int_equal(ms_mannwhitney_test(a1, 5, b1, 5, &mw), 0);
    assert_true(mw.u == 0.0);
    assert_true(mw.z < 0); /* the first sample ranks lower */
    assert_true(fabs(mw.p - 0.007936507936507936) < 1e-12);

    /* ties: normal approximation */
    const double a2[] = {1, 2, 2, 3, 3, 3}, b2[] = {2, 3, 3, 4, 4, 5, 5};
    assert_int_equal(ms_mannwhitney_test(a2, 6, b2, 7, &mw), 0);
    assert_true(mw.u == 7.0);
    assert_true(fabs(mw.p - 0.045352191432809) < 1e-12);

    const double a3[] = {10, 11, 12, 13, 14, 15, 16, 17}, b3[] = {10.5, 11.5, 12.5, 13.5, 14.5, 15.5, 16.5, 17.5};
    assert_int_equal(ms_mannwhitney_test(a3, 8, b3, 8, &mw), 0);
    assert_true(mw.u == 28.0);
    assert_true(fabs(mw.p - 0.7209013209013209) < 1e-12);

    const double a4[] = {1, 3, 5}, b4[] = {2, 4, 6, 8};
    assert_int_equal(ms_mannwhitney_test(a4, 3, b4, 4, &mw), 0);
    assert_true(mw.u == 3.0);
    assert_true(fabs(mw.p - 0.4) < 1e-12);

    /* 20 against 20 without ties is still exact; 25 against 25 uses the approximation: both separated */
    double lo[25], hi[25];
    for (int i = 0; i < 25; i++) {
        lo[i] = i;
        hi[i] = 100 + i;
    }
    assert_int_equal(ms_mannwhitney_test(lo, 20, hi, 20, &mw), 0);
    assert_true(fabs(mw.p - 2.0 / 137846528820.0) < 1e-20); /* 2 / C(40, 20) */
    assert_int_equal(ms_mannwhitney_test(lo, 25, hi, 25, &mw), 0);
    /* by hand: U = 0, sigma^2 = 625 * 51 / 12, z = (312.5 - 0.5) / sigma = 6.0537, p = erfc(z / sqrt 2) */
    assert_true(fabs(mw.z + 6.053689200906871) < 1e-9);
    assert_true(fabs(mw.p - 1.4156562248495634e-09) / 1.4156562248495634e-09 < 1e-6);

    const double same[] = {5, 5, 5};
    assert_int_equal(ms_mannwhitney_test(same, 3, same, 3, &mw), 0);
    assert_true(mw.p == 1.0);
    /* symmetric: swapping the samples flips the sign only */
    assert_int_equal(ms_mannwhitney_test(b1, 5, a1, 5, &mw), 0);
    assert_true(mw.z > 0 && fabs(mw.p - 0.007936507936507936) < 1e-12);
    assert_int_equal(ms_mannwhitney_test(a1, 0, b1, 5, &mw), -EINVAL);
}

static void fill(struct ms_result *r, const double *d, size_t n)
{
    memset(r, 0, sizeof *r);
    assert_int_equal(ms_result_set_samples(r, d, n, 1), 0);
}

/* 30 samples each: new = old + 20% for every sample (beyond the 10% margin, significantly) -> fails; new =
 * old except one huge outlier (mean +50%, ranks unchanged) -> exceeded but not significant -> passes. */
static void gate_needs_threshold_and_significance(void **state)
{
    (void)state;
    double old[30], slower[30], outlier[30], faster[30];
    for (int i = 0; i < 30; i++) {
        old[i] = 1.0 + 0.01 * ((i * 7) % 30);
        slower[i] = old[i] * 1.2;
        outlier[i] = old[i];
        faster[i] = old[i] * 0.5;
    }
    outlier[3] = 16.0;
    struct ms_result ro, rs, rx, rf;
    fill(&ro, old, 30);
    fill(&rs, slower, 30);
    fill(&rx, outlier, 30);
    fill(&rf, faster, 30);
    struct ms_gate g;
    struct ms_error err;
    assert_int_equal(ms_gate_parse("mean:10%", &g, &err), 0);
    struct ms_gate_verdict v;

    ms_gate_check(&g, &ro, &rs, 0.01, &v);
    assert_true(fabs(v.change - 20.0) < 1e-9);
    assert_true(v.exceeded && v.significant && v.failed);
    /* by hand: U = 200.5 of old*1.1 against old*1.2, z = 3.6814, p = 0.000231981 */
    assert_true(fabs(v.p - 0.00023198126729639945) < 1e-9);
    char msg[300];
    ms_gate_message(&g, &v, 0.01, msg, sizeof msg);
    assert_non_null(strstr(msg, "Field 'mean' has failed PercentageRegressionCheck: 20.00 > 10.00 (Mann-Whitney p=0.000232 <= alpha 0.01)"));
    assert_string_equal(v.crossed, "mean");

    ms_gate_check(&g, &ro, &rx, 0.01, &v);
    assert_true(v.change > 40);
    assert_true(v.exceeded);
    assert_false(v.significant);
    assert_false(v.failed);

    /* +12% in every sample: the mean exceeds 10%, but 30 samples cannot show a shift beyond 10% */
    double a_bit[30];
    for (int i = 0; i < 30; i++) {
        a_bit[i] = old[i] * 1.12;
    }
    struct ms_result rb;
    fill(&rb, a_bit, 30);
    ms_gate_check(&g, &ro, &rb, 0.01, &v);
    assert_true(v.exceeded);
    assert_false(v.failed);
    assert_true(fabs(v.p - 0.36712992459399674) < 1e-9); /* U = 388.5 */
    free(rb.data);

    /* alpha 1: the plain threshold of pytest-benchmark */
    ms_gate_check(&g, &ro, &rx, 1.0, &v);
    assert_true(v.failed);

    /* faster is never a regression, however significant */
    ms_gate_check(&g, &ro, &rf, 1.0, &v);
    assert_false(v.exceeded);
    assert_false(v.failed);

    /* seconds: +0.2 s on the mean of ~1.145 s */
    assert_int_equal(ms_gate_parse("mean:0.1", &g, &err), 0);
    ms_gate_check(&g, &ro, &rs, 0.01, &v);
    assert_true(v.exceeded && v.failed);
    ms_gate_message(&g, &v, 0.01, msg, sizeof msg);
    assert_non_null(strstr(msg, "DifferenceRegressionCheck"));

    /* without samples (a file saved without data) only the threshold decides */
    free(rs.data);
    rs.data = NULL;
    assert_int_equal(ms_gate_parse("mean:10%", &g, &err), 0);
    ms_gate_check(&g, &ro, &rs, 0.01, &v);
    assert_true(isnan(v.p) && v.failed);
    free(ro.data);
    free(rx.data);
    free(rf.data);
}

/* A wall-clock run whose old side had preempted rounds: the mean fell although every typical round got 25%
 * slower. The median's change stands for the threshold and the rank test confirms the shift, so the gate
 * fails; an A/A pair with the same outliers does not. */
static void gate_sees_a_shift_behind_a_mean_dragged_by_outliers(void **state)
{
    (void)state;
    double old[40], same[40], slower[40];
    for (int i = 0; i < 40; i++) {
        old[i] = 1.0 + 0.01 * ((i * 7) % 40);
        same[i] = 1.0 + 0.01 * ((i * 11) % 40);
        slower[i] = old[i] * 1.25;
    }
    old[5] = old[17] = old[29] = 40.0; /* three preempted rounds: mean ~3.9 instead of ~1.2 */
    same[2] = same[21] = same[33] = 40.0;
    struct ms_result ro, ra, rs;
    fill(&ro, old, 40);
    fill(&ra, same, 40);
    fill(&rs, slower, 40);
    struct ms_gate g;
    struct ms_error err;
    assert_int_equal(ms_gate_parse("mean:10%", &g, &err), 0);
    struct ms_gate_verdict v;

    ms_gate_check(&g, &ro, &rs, 0.01, &v);
    assert_true(v.change < 0);                 /* the mean says faster */
    assert_true(v.median_change > 20.0);       /* the median says +25% */
    assert_true(v.exceeded && v.significant && v.failed);
    char msg[300];
    ms_gate_message(&g, &v, 0.01, msg, sizeof msg);
    /* The median crossed, the mean did not: the message names the median's figure and never the mean's. */
    assert_string_equal(v.crossed, "median");
    char mean_fig[32], median_fig[64];
    snprintf(mean_fig, sizeof mean_fig, "%.2f", v.change);
    snprintf(median_fig, sizeof median_fig, "PercentageRegressionCheck: median %.2f > 10.00 (Mann-Whitney p=",
             v.median_change);
    assert_non_null(strstr(msg, median_fig));
    assert_null(strstr(msg, mean_fig));

    ms_gate_check(&g, &ro, &ra, 0.01, &v);
    assert_false(v.failed);

    /* the plain threshold (alpha 1) keeps pytest-benchmark's rule: the mean alone */
    ms_gate_check(&g, &ro, &rs, 1.0, &v);
    assert_false(v.failed);
    free(ro.data);
    free(ra.data);
    free(rs.data);
}

/* allocs/bytes/instructions/cycles per call: deterministic counts, judged by the threshold alone, and only
 * when both runs measured them. */
static void gate_on_counts_per_call(void **state)
{
    (void)state;
    const double d[] = {1.0, 1.1, 0.9, 1.0, 1.05};
    struct ms_result old, cur;
    fill(&old, d, 5);
    fill(&cur, d, 5);
    struct ms_gate g;
    struct ms_error err;
    struct ms_gate_verdict v;
    assert_int_equal(ms_gate_parse("allocs:0%", &g, &err), 0);
    ms_gate_check(&g, &old, &cur, 0.01, &v);
    assert_true(v.unavailable);
    assert_false(v.failed);

    old.stats.has_allocs = cur.stats.has_allocs = 1;
    old.stats.allocs_per_op = 0;
    cur.stats.allocs_per_op = 0;
    ms_gate_check(&g, &old, &cur, 0.01, &v);
    assert_false(v.unavailable);
    assert_false(v.exceeded); /* 0 -> 0 is no change */

    cur.stats.allocs_per_op = 1;
    ms_gate_check(&g, &old, &cur, 0.01, &v);
    assert_true(v.exceeded && v.failed); /* identical timings: the count alone decides */

    old.stats.allocs_per_op = 2;
    cur.stats.allocs_per_op = 3;
    ms_gate_check(&g, &old, &cur, 0.01, &v);
    assert_true(fabs(v.change - 50.0) < 1e-9 && v.failed);

    assert_int_equal(ms_gate_parse("bytes:64", &g, &err), 0);
    old.stats.alloc_bytes_per_op = 100;
    cur.stats.alloc_bytes_per_op = 160;
    ms_gate_check(&g, &old, &cur, 0.01, &v);
    assert_false(v.failed); /* +60 bytes <= 64 */
    cur.stats.alloc_bytes_per_op = 165;
    ms_gate_check(&g, &old, &cur, 0.01, &v);
    assert_true(v.failed);
    char msg[300];
    ms_gate_message(&g, &v, 0.01, msg, sizeof msg);
    assert_non_null(strstr(msg, "Field 'bytes' has failed DifferenceRegressionCheck: 65.00 > 64.00"));

    assert_int_equal(ms_gate_parse("instructions:1%", &g, &err), 0);
    ms_gate_check(&g, &old, &cur, 0.01, &v);
    assert_true(v.unavailable && !v.failed); /* no counters in either run */
    free(old.data);
    free(cur.data);
}

static void filter_matches_like_pytest_k(void **state)
{
    (void)state;
    struct ms_error err;
    assert_int_equal(ms_filter_match("fnv", "fnv1a[4]", "hashing", "p::fnv1a[4]", &err), 1);
    assert_int_equal(ms_filter_match("FNV", "fnv1a[4]", "hashing", "p::fnv1a[4]", &err), 1);
    assert_int_equal(ms_filter_match("sort", "fnv1a[4]", "hashing", "p::fnv1a[4]", &err), 0);
    assert_int_equal(ms_filter_match("hashing and not 16", "fnv1a[4]", "hashing", "p::fnv1a[4]", &err), 1);
    assert_int_equal(ms_filter_match("hashing and not 16", "fnv1a[16]", "hashing", "p::fnv1a[16]", &err), 0);
    assert_int_equal(ms_filter_match("qsort or (fnv and 16)", "fnv1a[16]", "hashing", "p::fnv1a[16]", &err), 1);
    assert_int_equal(ms_filter_match("qsort or (fnv and 16)", "fnv1a[4]", "hashing", "p::fnv1a[4]", &err), 0);
    assert_int_equal(ms_filter_match("not not fnv", "fnv1a[4]", NULL, "p::fnv1a[4]", &err), 1);
    assert_int_equal(ms_filter_match("fnv and", "fnv1a[4]", NULL, "x", &err), -EINVAL);
    assert_int_equal(ms_filter_match("(fnv", "fnv1a[4]", NULL, "x", &err), -EINVAL);
    assert_non_null(strstr(err.msg, "-k"));
}

static void options_parse_pytest_benchmark_flags(void **state)
{
    (void)state;
    struct ms_options o;
    struct ms_error err = {{0}};
    FILE *null = fopen("/dev/null", "w");
    ms_options_defaults(&o);
    char *argv[] = {"p", "--benchmark-min-time=0.001", "--benchmark-max-time", "2", "--benchmark-min-rounds=9",
                    "--benchmark-sort=mean", "--benchmark-group-by=param:kib,group", "--benchmark-columns=min,p95,ops",
                    "--benchmark-json=x.json", "--benchmark-compare=0003", "--benchmark-compare-fail", "mean:5%",
                    "min:0.001", "--benchmark-storage=file://./store", "-k", "fnv", "--benchmark-warmup", NULL};
    assert_int_equal(ms_options_parse(&o, 17, argv, null, &err), 0);
    assert_true(o.min_time == 0.001 && o.max_time == 2 && o.min_rounds == 9);
    assert_string_equal(o.sort, "mean");
    assert_string_equal(o.group_by, "param:kib,group");
    assert_int_equal(o.ncolumns, 3);
    assert_string_equal(o.columns[1], "p95");
    assert_string_equal(o.json_path, "x.json");
    assert_true(o.compare);
    assert_string_equal(o.compare_spec, "0003");
    assert_int_equal(o.ngates, 2);
    assert_string_equal(o.gates[1].field, "min");
    assert_string_equal(o.storage, "./store");
    assert_string_equal(o.keyword, "fnv");
    assert_true(o.warmup);

    static const char *bad[][3] = {
        {"--benchmark-sort=fast", "--benchmark-sort", NULL},
        {"--benchmark-min-rounds=0", "--benchmark-min-rounds", NULL},
        {"--benchmark-columns=min,speed", "speed", NULL},
        {"--benchmark-group-by=color", "color", NULL},
        {"--benchmark-compare-fail=mean:5%", "requires valid --benchmark-compare", NULL},
        {"--benchmark-frobnicate", "unknown option", NULL},
        {"--benchmark-max-time=abc", "'abc' is not a number", NULL},
        {"--benchmark-only=1", "takes no value", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ms_options_defaults(&o);
        char *av[] = {"p", (char *)bad[i][0], NULL};
        err.msg[0] = 0;
        if (ms_options_parse(&o, 2, av, null, &err) != -EINVAL || !strstr(err.msg, bad[i][1])) {
            fail_msg("%s: got '%s'", bad[i][0], err.msg);
        }
    }
    fclose(null);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gate_parses_pytest_benchmark_grammar),
        cmocka_unit_test(mannwhitney_matches_hand_computation),
        cmocka_unit_test(gate_needs_threshold_and_significance),
        cmocka_unit_test(gate_sees_a_shift_behind_a_mean_dragged_by_outliers),
        cmocka_unit_test(gate_on_counts_per_call),
        cmocka_unit_test(filter_matches_like_pytest_k),
        cmocka_unit_test(options_parse_pytest_benchmark_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
