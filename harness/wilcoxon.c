/* Wilcoxon signed-rank test, one-sided (are the differences shifted above zero?), and the distribution-free
 * confidence interval of a median from order statistics: the statistics of paired A/B rounds. */
#include "harness.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

/* P(W+ >= w) for n untied ranks: count the subsets of 1..n by rank sum. */
static int ms_wilcoxon_exact(size_t n, double w, double *p)
{
    size_t max_sum = n * (n + 1) / 2;
    double *ways = calloc(max_sum + 1, sizeof *ways);
    if (!ways) {
        return -ENOMEM;
    }
    ways[0] = 1;
    for (size_t r = 1; r <= n; r++) {
        for (size_t s = max_sum; s >= r; s--) {
            ways[s] += ways[s - r];
        }
    }
    double total = 0, ge = 0;
    for (size_t s = 0; s <= max_sum; s++) {
        total += ways[s];
        ge += (double)s >= w - 1e-9 ? ways[s] : 0;
    }
    free(ways);
    *p = ge / total;
    return 0;
}

enum ms_status ms_wilcoxon_test(const double *d, size_t n, struct ms_wilcoxon *out)
{
    struct ms_rank_item *it = malloc((n ? n : 1) * sizeof *it);
    if (!it) {
        return -ENOMEM;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (d[i] != 0) { /* zero differences carry no sign: dropped, as Wilcoxon did */
            it[m++] = (struct ms_rank_item){fabs(d[i]), d[i] > 0};
        }
    }
    double tie_term;
    double w = ms_rank_sum(it, m, &tie_term); /* W+: the ranks of the positive differences */
    free(it);
    out->n = m;
    out->w_plus = w;
    if (m == 0) {
        out->p_greater = 1.0;
        return 0;
    }
    if (tie_term == 0 && m <= MS_WILCOXON_EXACT_MAX) {
        return ms_wilcoxon_exact(m, w, &out->p_greater);
    }
    double nn = (double)m, mu = nn * (nn + 1) / 4;
    double var = nn * (nn + 1) * (2 * nn + 1) / 24 - tie_term / 48;
    if (var <= 0) {
        out->p_greater = w > mu ? 0.0 : 1.0;
        return 0;
    }
    double z = (w - mu - 0.5) / sqrt(var);
    out->p_greater = 0.5 * erfc(z / sqrt(2.0));
    return 0;
}

void ms_wilcoxon_median_ci(const double *sorted, size_t n, double *lo, double *hi, double *coverage)
{
    /* The k-th smallest and k-th largest bound the median with probability 1 - 2 P(Binom(n, 1/2) < k):
     * the largest k that keeps that at or above 95%. Too few values: the whole range. */
    if (n == 0) {
        *lo = *hi = NAN;
        *coverage = 0;
        return;
    }
    double cdf = 0, term = pow(0.5, (double)n); /* P(B = 0) */
    size_t idx = 0;
    double cov = 1 - 2 * term; /* the whole range's, when no interval reaches 95% */
    for (size_t j = 0; j < (n + 1) / 2; j++) {
        cdf += term; /* P(B <= j): [x(j+1), x(n-j)] misses the median with probability 2 P(B <= j) */
        if (1 - 2 * cdf < 0.95) {
            break;
        }
        idx = j;
        cov = 1 - 2 * cdf;
        term = term * (double)(n - j) / (double)(j + 1);
    }
    *lo = sorted[idx];
    *hi = sorted[n - 1 - idx];
    *coverage = cov;
}
