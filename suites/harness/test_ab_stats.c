/* The statistics of `memsnap bench ab`: Wilcoxon signed-rank against hand-computed values, the
 * order-statistic interval of a median, and the A/B gate on per-round ratios. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

static void wilcoxon_matches_hand_computation(void **state)
{
    (void)state;
    struct ms_wilcoxon w;
    /* all five positive, no ties: W+ = 15, only 1 of 2^5 sign patterns as extreme */
    const double up[] = {1, 2, 3, 4, 5};
    assert_int_equal(ms_wilcoxon_test(up, 5, &w), 0);
    assert_true(w.w_plus == 15 && w.n == 5);
    assert_true(fabs(w.p_greater - 1.0 / 32) < 1e-12);
    /* one negative (rank 2): W+ = 13; sums >= 13 are the complements of sums <= 2: {}, {1}, {2} */
    const double mixed[] = {1, -2, 3, 4, 5};
    assert_int_equal(ms_wilcoxon_test(mixed, 5, &w), 0);
    assert_true(w.w_plus == 13);
    assert_true(fabs(w.p_greater - 3.0 / 32) < 1e-12);
    /* zeros are dropped */
    const double zeros[] = {0, 1, 2, 0, 3, 4, 5};
    assert_int_equal(ms_wilcoxon_test(zeros, 7, &w), 0);
    assert_true(w.n == 5 && fabs(w.p_greater - 1.0 / 32) < 1e-12);
    /* ten tied positives: normal approximation, var = 10*11*21/24 - (1000-10)/48, z = (55-27.5-0.5)/sd */
    const double tied[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    assert_int_equal(ms_wilcoxon_test(tied, 10, &w), 0);
    assert_true(fabs(w.p_greater - 0.0009520975215021951) < 1e-12);
    /* nothing but zeros: no evidence */
    const double none[] = {0, 0, 0};
    assert_int_equal(ms_wilcoxon_test(none, 3, &w), 0);
    assert_true(w.p_greater == 1.0);
    /* all negative: p = 1 */
    const double down[] = {-1, -2, -3};
    assert_int_equal(ms_wilcoxon_test(down, 3, &w), 0);
    assert_true(w.p_greater == 1.0);
}

static void median_interval_from_order_statistics(void **state)
{
    (void)state;
    double v[10], lo, hi, cov;
    for (int i = 0; i < 10; i++) {
        v[i] = i + 1;
    }
    /* n = 10: [x(2), x(9)], coverage 1 - 2 P(B <= 1) = 1 - 22/1024 */
    ms_wilcoxon_median_ci(v, 10, &lo, &hi, &cov);
    assert_true(lo == 2 && hi == 9);
    assert_true(fabs(cov - (1 - 22.0 / 1024)) < 1e-12);
    /* n = 5: even the whole range covers only 1 - 2/32 */
    ms_wilcoxon_median_ci(v, 5, &lo, &hi, &cov);
    assert_true(lo == 1 && hi == 5);
    assert_true(fabs(cov - (1 - 2.0 / 32)) < 1e-12);
}

static void ab_gate_on_paired_ratios(void **state)
{
    (void)state;
    struct ms_gate g;
    struct ms_error err;
    struct ms_ab_verdict v;
    assert_int_equal(ms_gate_parse("median:5%", &g, &err), 0);
    /* +25% in every round, with round-to-round noise: fails, p = 2^-10 */
    double slower[10], same[10], slight[10];
    for (int i = 0; i < 10; i++) {
        slower[i] = 1.25 + 0.003 * ((i * 7) % 10) - 0.015; /* ten distinct values: the exact p */
        same[i] = 1 + 0.01 * ((i * 3) % 7 - 3);
        slight[i] = 1.06 + 0.01 * ((i * 3) % 7 - 3); /* median above 1.05, rounds on both sides */
    }
    ms_ab_gate(&g, slower, 10, 0.01, &v);
    assert_true(v.exceeded && v.failed);
    assert_true(fabs(v.p - 1.0 / 1024) < 1e-12);
    assert_true(fabs(v.limit - 1.05) < 1e-12);
    ms_ab_gate(&g, same, 10, 0.01, &v);
    assert_false(v.exceeded);
    assert_false(v.failed);
    ms_ab_gate(&g, slight, 10, 0.01, &v);
    assert_true(v.exceeded);
    assert_false(v.failed); /* beyond 5% by the median, not significantly */
    ms_ab_gate(&g, slower, 0, 0.01, &v);
    assert_true(v.unavailable && !v.failed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wilcoxon_matches_hand_computation),
        cmocka_unit_test(median_interval_from_order_statistics),
        cmocka_unit_test(ab_gate_on_paired_ratios),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
