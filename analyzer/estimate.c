/* Error bars for sampled snapshots. The preload records a block of size s with probability
 * p = 1 - exp(-s/rate) (a Poisson process over allocated bytes) and counts it as s/p bytes and 1/p blocks:
 * the sums are unbiased (Horvitz-Thompson). Their variance over the N blocks a site allocated is
 * N s^2 (1-p)/p for bytes and N (1-p)/p for blocks. A snapshot keeps each site's sums, not its block
 * sizes, so a site is taken as blocks of its mean size (exact when it allocates one size, the common
 * case) and N as its estimated count. Sites are independent: a row's variance is the sum of its sites'. */
#include <jansson.h>
#include <math.h>

#include "analyze.h"

void ms_estimate_site(uint64_t rate, uint64_t bytes, uint64_t count, double *bytes_var, double *count_var)
{
    *bytes_var = *count_var = 0;
    if (!rate || !count || !bytes)
        return;
    double r = (double)rate, n = (double)count, s = (double)bytes / n;
    /* A block above 1.1 rates stands for one block (its count weight 1/p rounds to 1) and s/p bytes: the
     * mean is then s/p >= 1.65 rates, not s. s = mean * p(s) has one solution there, found by iterating
     * (a contraction). Below, the rounded count weight leaves the mean within 25% of s. */
    if (s > 1.65 * r) {
        double mean = s;
        for (int i = 0; i < 30; i++)
            s = mean * -expm1(-s / r);
    }
    double p = -expm1(-s / r);
    if (p <= 0)
        return;
    double q = (1 - p) / p;
    *bytes_var = n * s * s * q;
    *count_var = n * q;
}

void ms_estimate_row_add(struct ms_group_row *row, const struct ms_snap *snap, const struct ms_site *site)
{
    if (!(snap->flags & MS_FMT_FLAG_SAMPLED))
        return;
    double b, c;
    ms_estimate_site(snap->info.sample_rate, site->live_bytes, site->live_count, &b, &c);
    row->size_var += b;
    row->count_var += c;
    ms_estimate_site(snap->info.sample_rate, site->alloc_bytes, site->alloc_count, &b, &c);
    row->alloc_bytes_var += b;
    row->alloc_count_var += c;
}

void ms_estimate_json_row(struct json_t *o, const struct ms_snap *snap, const struct ms_group_row *row,
                          const char *live_bytes_se, const char *live_count_se)
{
    if (!o || !(snap->flags & MS_FMT_FLAG_SAMPLED))
        return;
    json_object_set_new(o, live_bytes_se, json_real(sqrt(row->size_var)));
    json_object_set_new(o, live_count_se, json_real(sqrt(row->count_var)));
    json_object_set_new(o, "alloc_bytes_se", json_real(sqrt(row->alloc_bytes_var)));
    json_object_set_new(o, "alloc_count_se", json_real(sqrt(row->alloc_count_var)));
}
