/* The statistics of pytest-benchmark's Stats class (same quartile method), plus p95/p99. */
#include "harness.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int ms_stats_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double ms_stats_median_sorted(const double *d, size_t n)
{
    return n % 2 ? d[n / 2] : (d[n / 2 - 1] + d[n / 2]) / 2.0;
}

/* Wikipedia's "method 3" for odd n, "method 2" (medians of the halves) for even n, as pytest-benchmark. */
static void ms_stats_quartiles(const double *d, size_t n, double *q1, double *q3)
{
    if (n == 1) {
        *q1 = *q3 = d[0];
    } else if (n % 2) {
        size_t k = n / 4, r = n % 4;
        if (r == 1) {
            *q1 = 0.25 * d[k - 1] + 0.75 * d[k];
            *q3 = 0.75 * d[3 * k] + 0.25 * d[3 * k + 1];
        } else {
            *q1 = 0.75 * d[k] + 0.25 * d[k + 1];
            *q3 = 0.25 * d[3 * k + 1] + 0.75 * d[3 * k + 2];
        }
    } else {
        *q1 = ms_stats_median_sorted(d, n / 2);
        *q3 = ms_stats_median_sorted(d + n / 2, n / 2);
    }
}

double ms_stats_percentile_sorted(const double *d, size_t n, double p)
{
    if (n == 0) {
        return 0;
    }
    double pos = p * (double)(n - 1);
    size_t lo = (size_t)floor(pos);
    if (lo + 1 >= n) {
        return d[n - 1];
    }
    double frac = pos - (double)lo;
    return d[lo] + (d[lo + 1] - d[lo]) * frac;
}

enum ms_status ms_stats_compute(const double *data, size_t n, uint64_t iterations, struct memsnap_bench_stats *out)
{
    memset(out, 0, sizeof *out);
    if (n == 0) {
        return -EINVAL;
    }
    double *d = malloc(n * sizeof *d);
    if (!d) {
        return -ENOMEM;
    }
    memcpy(d, data, n * sizeof *d);
    qsort(d, n, sizeof *d, ms_stats_cmp);

    long double sum = 0;
    for (size_t i = 0; i < n; i++) {
        sum += data[i];
    }
    double mean = (double)(sum / (long double)n);
    long double ss = 0;
    for (size_t i = 0; i < n; i++) {
        long double dev = (long double)data[i] - mean;
        ss += dev * dev;
    }
    out->data = data;
    out->rounds = n;
    out->iterations = iterations;
    out->total = (double)sum;
    out->min = d[0];
    out->max = d[n - 1];
    out->mean = mean;
    out->stddev = n > 1 ? (double)sqrtl(ss / (long double)(n - 1)) : 0.0;
    out->median = ms_stats_median_sorted(d, n);
    ms_stats_quartiles(d, n, &out->q1, &out->q3);
    out->iqr = out->q3 - out->q1;
    out->p95 = ms_stats_percentile_sorted(d, n, 0.95);
    out->p99 = ms_stats_percentile_sorted(d, n, 0.99);
    out->ops = out->total > 0 ? (double)n / out->total : 0.0;

    double lo_sd = out->mean - out->stddev, hi_sd = out->mean + out->stddev;
    double lo_fence = out->q1 - 1.5 * out->iqr, hi_fence = out->q3 + 1.5 * out->iqr;
    for (size_t i = 0; i < n; i++) {
        out->stddev_outliers += data[i] < lo_sd || data[i] > hi_sd;
        out->iqr_outliers += data[i] < lo_fence || data[i] > hi_fence;
    }
    /* Lowest datum at or above the lower fence; highest at or below the upper fence (pytest-benchmark
     * returns the first datum above it instead). */
    out->ld15iqr = d[n - 1];
    for (size_t i = 0; i < n; i++) {
        if (d[i] >= lo_fence) {
            out->ld15iqr = d[i];
            break;
        }
    }
    out->hd15iqr = d[0];
    for (size_t i = n; i-- > 0;) {
        if (d[i] <= hi_fence) {
            out->hd15iqr = d[i];
            break;
        }
    }
    free(d);
    return 0;
}

enum ms_status ms_stats_slow_outliers(const double *data, size_t n, size_t *count, double *share)
{
    *count = 0;
    *share = 0;
    if (n < 3) {
        return 0;
    }
    double *d = malloc(n * sizeof *d);
    if (!d) {
        return -ENOMEM;
    }
    memcpy(d, data, n * sizeof *d);
    qsort(d, n, sizeof *d, ms_stats_cmp);
    double median = ms_stats_median_sorted(d, n);
    for (size_t i = 0; i < n; i++) {
        d[i] = fabs(data[i] - median);
    }
    qsort(d, n, sizeof *d, ms_stats_cmp);
    double mad = ms_stats_median_sorted(d, n);
    free(d);
    /* hyperfine's rule, a modified z-score (x - median) / MAD above 14.826, and at least twice the median:
     * a tight distribution has a tiny MAD, and a round 5% slow is not a preempted one. */
    double limit = median + fmax(14.826 * mad, median);
    long double total = 0, above = 0;
    for (size_t i = 0; i < n; i++) {
        total += data[i];
        if (data[i] > limit) {
            above += data[i];
            (*count)++;
        }
    }
    *share = total > 0 ? (double)(above / total) : 0;
    return 0;
}
