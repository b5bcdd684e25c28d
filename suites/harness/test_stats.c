/* Statistics against values computed independently with Python's statistics module (statistics.mean,
 * stdev, median, quantiles(method='inclusive') for p95/p99) and the quartile rule of pytest-benchmark
 * written out by hand. Odd sizes with n%4 == 1 and 3, even sizes, n = 1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>

#include <cmocka.h>

#include "harness.h"

struct case_ {
    const char *name;
    size_t n;
    double data[16];
    /* min max mean stddev median q1 q3 iqr ld15iqr hd15iqr p95 p99 total ops */
    double want[14];
    size_t stddev_outliers, iqr_outliers;
};

static const struct case_ cases[] = {
    {"n1", 1, {0.5},
     {0.5, 0.5, 0.5, 0.0, 0.5, 0.5, 0.5, 0.0, 0.5, 0.5, 0.5, 0.5, 0.5, 2.0}, 0, 0},
    {"n5", 5, {3.0, 1.0, 4.0, 1.5, 9.0},
     {1.0, 9.0, 3.7, 3.1937438845342623, 3.0, 1.375, 5.25, 3.875, 1.0, 9.0, 8.0, 8.8, 18.5, 0.2702702702702703}, 1, 0},
    {"n7", 7, {2.0, 7.0, 1.0, 8.0, 2.5, 8.5, 30.0},
     {1.0, 30.0, 8.428571428571429, 9.993450235981946, 7.0, 2.125, 8.375, 6.25, 1.0, 8.5, 23.55, 28.71, 59.0, 0.11864406779661017}, 1, 1},
    {"n8", 8, {5.0, 1.0, 3.0, 2.0, 4.0, 100.0, 6.0, 7.0},
     {1.0, 100.0, 16.0, 34.0, 4.5, 2.5, 6.5, 4.0, 1.0, 7.0, 67.45, 93.49, 128.0, 0.0625}, 1, 1},
    {"n6", 6, {1e-06, 1.2e-06, 9e-07, 1.1e-06, 5e-06, 1.05e-06},
     {9e-07, 5e-06, 1.7083333333333334e-06, 1.6156783920900432e-06, 1.0749999999999999e-06, 1e-06, 1.2e-06, 2e-07, 9e-07, 1.2e-06, 4.05e-06, 4.8100000000000005e-06, 1.025e-05, 585365.8536585366}, 1, 1},
    {"n13", 13, {10.0, 11.0, 12.0, 10.0, 11.0, 13.0, 50.0, 9.0, 10.0, 11.0, 12.0, 1.0, 10.0},
     {1.0, 50.0, 13.076923076923077, 11.470698456367995, 11.0, 10.0, 12.0, 2.0, 9.0, 13.0, 27.8, 45.56, 170.0, 0.07647058823529412}, 2, 2},
};

static void near(double got, double want, const char *what, const char *set)
{
    double tol = 1e-12 * fmax(1.0, fabs(want));
    if (fabs(got - want) > tol) {
        fail_msg("%s %s: got %.17g, want %.17g", set, what, got, want);
    }
}

static void stats_match_python_statistics(void **state)
{
    (void)state;
    static const char *names[] = {"min", "max", "mean", "stddev", "median", "q1", "q3",
                                  "iqr", "ld15iqr", "hd15iqr", "p95", "p99", "total", "ops"};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct memsnap_bench_stats s;
        assert_int_equal(ms_stats_compute(cases[c].data, cases[c].n, 3, &s), 0);
        double got[14] = {s.min, s.max, s.mean, s.stddev, s.median, s.q1, s.q3,
                          s.iqr, s.ld15iqr, s.hd15iqr, s.p95, s.p99, s.total, s.ops};
        for (int i = 0; i < 14; i++) {
            near(got[i], cases[c].want[i], names[i], cases[c].name);
        }
        assert_int_equal(s.stddev_outliers, cases[c].stddev_outliers);
        assert_int_equal(s.iqr_outliers, cases[c].iqr_outliers);
        assert_int_equal(s.rounds, cases[c].n);
        assert_int_equal(s.iterations, 3);
        assert_ptr_equal(s.data, cases[c].data);
    }
}

/* pytest-benchmark returns the first datum above the upper fence (30.0 here); the highest datum inside it
 * is 8.5. */
static void stats_hd15iqr_is_inside_the_fence(void **state)
{
    (void)state;
    const double d[] = {2.0, 7.0, 1.0, 8.0, 2.5, 8.5, 30.0};
    struct memsnap_bench_stats s;
    assert_int_equal(ms_stats_compute(d, 7, 1, &s), 0);
    assert_true(s.hd15iqr == 8.5);
    assert_true(s.hd15iqr <= s.q3 + 1.5 * s.iqr);
}

/* 100 rounds of 1.0 and 5 preempted ones of 50.0: the 5 hold 250 / 350 of the time. */
static void stats_slow_outliers_and_their_share(void **state)
{
    (void)state;
    double d[105];
    for (int i = 0; i < 105; i++) {
        d[i] = i % 21 == 20 ? 50.0 : 1.0 + 0.001 * (i % 7);
    }
    size_t count;
    double share;
    assert_int_equal(ms_stats_slow_outliers(d, 105, &count, &share), 0);
    assert_int_equal(count, 5);
    double total = 0;
    for (int i = 0; i < 105; i++) {
        total += d[i];
    }
    assert_true(fabs(share - 250.0 / total) < 1e-12);
    /* a round 50% slow is not preempted: under twice the median */
    for (int i = 0; i < 105; i++) {
        d[i] = i % 21 == 20 ? 1.5 : 1.0;
    }
    assert_int_equal(ms_stats_slow_outliers(d, 105, &count, &share), 0);
    assert_int_equal(count, 0);
    assert_true(share == 0);
}

static void stats_empty_is_an_error(void **state)
{
    (void)state;
    struct memsnap_bench_stats s;
    assert_int_equal(ms_stats_compute(NULL, 0, 1, &s), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stats_match_python_statistics),
        cmocka_unit_test(stats_hd15iqr_is_inside_the_fence),
        cmocka_unit_test(stats_slow_outliers_and_their_share),
        cmocka_unit_test(stats_empty_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
