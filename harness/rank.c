/* Mid-ranks with ties: the part the Mann-Whitney and Wilcoxon tests share. */
#include "harness.h"

#include <stdlib.h>

static int ms_rank_cmp(const void *a, const void *b)
{
    double x = ((const struct ms_rank_item *)a)->v, y = ((const struct ms_rank_item *)b)->v;
    return (x > y) - (x < y);
}

double ms_rank_sum(struct ms_rank_item *it, size_t n, double *tie_term)
{
    if (n > 1) {
        qsort(it, n, sizeof *it, ms_rank_cmp);
    }
    double sum = 0, ties = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && it[j + 1].v == it[i].v) {
            j++;
        }
        double t = (double)(j - i + 1), rank = ((double)i + (double)j) / 2.0 + 1.0; /* 1-based */
        for (size_t k = i; k <= j; k++) {
            sum += it[k].marked ? rank : 0;
        }
        ties += t * t * t - t;
        i = j + 1;
    }
    *tie_term = ties;
    return sum;
}
