/* Two-sided Mann-Whitney U test, the test Google Benchmark's compare tool applies to repetitions: the exact
 * distribution of U for small samples without ties, else the normal approximation with tie and continuity
 * corrections. */
#include "harness.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

/* P(U <= u) and P(U >= u) under H0, by counting the rank subsets of size n1 per rank sum. */
static int ms_mannwhitney_exact(size_t n1, size_t n, double u, double *p)
{
    size_t max_sum = n * (n + 1) / 2;
    double *ways = calloc((n1 + 1) * (max_sum + 1), sizeof *ways);
    if (!ways) {
        return -ENOMEM;
    }
#define MS_WAYS(k, s) ways[(k) * (max_sum + 1) + (s)]
    MS_WAYS(0, 0) = 1;
    for (size_t r = 1; r <= n; r++) {
        for (size_t k = r < n1 ? r : n1; k >= 1; k--) {
            for (size_t sum = max_sum; sum >= r; sum--) {
                MS_WAYS(k, sum) += MS_WAYS(k - 1, sum - r);
            }
        }
    }
    double total = 0, le = 0, ge = 0, offset = (double)(n1 * (n1 + 1) / 2);
    for (size_t sum = 0; sum <= max_sum; sum++) {
        double w = MS_WAYS(n1, sum), us = (double)sum - offset;
        total += w;
        le += us <= u + 1e-9 ? w : 0;
        ge += us >= u - 1e-9 ? w : 0;
    }
#undef MS_WAYS
    free(ways);
    *p = fmin(1.0, 2.0 * fmin(le, ge) / total);
    return 0;
}

enum ms_status ms_mannwhitney_test(const double *a, size_t na, const double *b, size_t nb, struct ms_mannwhitney *out)
{
    if (na == 0 || nb == 0) {
        return -EINVAL;
    }
    size_t n = na + nb;
    struct ms_rank_item *it = malloc(n * sizeof *it);
    if (!it) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < na; i++) {
        it[i] = (struct ms_rank_item){a[i], 1};
    }
    for (size_t i = 0; i < nb; i++) {
        it[na + i] = (struct ms_rank_item){b[i], 0};
    }
    double tie_term;
    double rank_sum_a = ms_rank_sum(it, n, &tie_term); /* the first sample is the marked one */
    free(it);
    double n1 = (double)na, n2 = (double)nb, nn = (double)n;
    double u = rank_sum_a - n1 * (n1 + 1) / 2.0;
    double mu = n1 * n2 / 2.0;
    double var = n1 * n2 / 12.0 * ((nn + 1) - (n > 1 ? tie_term / (nn * (nn - 1)) : 0));
    out->u = u;
    if (tie_term == 0 && n <= MS_MANNWHITNEY_EXACT_MAX) {
        out->z = var > 0 ? (u - mu) / sqrt(var) : 0.0;
        out->z = u < mu ? -fabs(out->z) : fabs(out->z);
        return ms_mannwhitney_exact(na, n, u, &out->p);
    }
    if (var <= 0) {
        out->z = 0;
        out->p = 1.0;
        return 0;
    }
    double dev = fabs(u - mu) - 0.5;
    out->z = dev > 0 ? dev / sqrt(var) : 0.0;
    if (u < mu) {
        out->z = -out->z;
    }
    out->p = erfc(fabs(out->z) / sqrt(2.0));
    if (out->p > 1.0) {
        out->p = 1.0;
    }
    return 0;
}
