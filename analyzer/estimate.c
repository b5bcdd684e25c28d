/* Error bars for sampled snapshots. The preload records a block of size s with probability
 * p = 1 - exp(-s/rate) (a Poisson process over allocated bytes) and counts it as s/p bytes and 1/p blocks:
 * the sums are unbiased (Horvitz-Thompson). Their variance over the N blocks a site allocated is
 * N s^2 (1-p)/p for bytes and N (1-p)/p for blocks. A snapshot keeps each site's sums, not its block
 * sizes, so a site is taken as blocks of its mean size (exact when it allocates one size, the common
 * case) and N as its estimated count. Sites are independent: a row's variance is the sum of its sites'. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>

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

bool ms_estimate_sampled(const struct ms_snap *snap)
{
    return snap->flags & MS_FMT_FLAG_SAMPLED;
}

void ms_estimate_live_add(const struct ms_snap *snap, const struct ms_site *site, double *bytes_var, double *count_var)
{
    if (!ms_estimate_sampled(snap))
        return;
    double b, c;
    ms_estimate_site(snap->info.sample_rate, site->live_bytes, site->live_count, &b, &c);
    *bytes_var += b;
    *count_var += c;
}

void ms_estimate_row_add(struct ms_group_row *row, const struct ms_snap *snap, const struct ms_site *site)
{
    if (!ms_estimate_sampled(snap))
        return;
    double b, c;
    ms_estimate_live_add(snap, site, &row->size_var, &row->count_var);
    ms_estimate_site(snap->info.sample_rate, site->alloc_bytes, site->alloc_count, &b, &c);
    row->alloc_bytes_var += b;
    row->alloc_count_var += c;
}

double ms_estimate_total_var(const struct ms_snap *snap, bool allocated)
{
    struct ms_group_row all = {0};
    for (uint32_t i = 0; i < snap->site_count; i++)
        ms_estimate_row_add(&all, snap, &snap->sites[i]);
    return allocated ? all.alloc_bytes_var : all.size_var;
}

double ms_estimate_half95(double var)
{
    return MS_ESTIMATE_Z95 * sqrt(var);
}

void ms_estimate_interval(double value, double var, double *lo, double *hi)
{
    double half = ms_estimate_half95(var);
    *lo = value > half ? value - half : 0; /* an amount is never negative */
    *hi = value + half;
}

const char *ms_estimate_pm(char *buf, size_t len, double var, bool bytes, bool exact)
{
    double half = ms_estimate_half95(var);
    char v[64];
    if (bytes)
        snprintf(buf, len, " \u00b1%s", ms_size_format(v, sizeof v, half, false, exact));
    else
        snprintf(buf, len, " \u00b1%.0f", half);
    return buf;
}

void ms_estimate_rates_add(struct ms_estimate_rates *r, const struct ms_snap *snap)
{
    if (!ms_estimate_sampled(snap))
        return;
    uint64_t rate = snap->info.sample_rate;
    if (!r->sampled || rate < r->lo)
        r->lo = rate;
    if (!r->sampled || rate > r->hi)
        r->hi = rate;
    r->sampled++;
}

const char *ms_estimate_rate_phrase(char *buf, size_t len, const struct ms_estimate_rates *r, bool exact)
{
    char a[64], b[64];
    ms_size_format(a, sizeof a, (double)r->lo, false, exact);
    ms_size_format(b, sizeof b, (double)r->hi, false, exact);
    snprintf(buf, len, "estimated from %s (about one allocation recorded per %s%s%s allocated)",
             r->sampled == 1 ? "a sampled snapshot" : "sampled snapshots", a, r->lo == r->hi ? "" : " to ",
             r->lo == r->hi ? "" : b);
    return buf;
}

void ms_estimate_text_note(FILE *out, const struct ms_estimate_rates *r, bool exact)
{
    if (!r->sampled)
        return;
    char phrase[256];
    ms_estimate_rate_phrase(phrase, sizeof phrase, r, exact);
    phrase[0] = 'E';
    fprintf(out, "%s: sizes and counts are estimates, \u00b1 gives their 95%% interval\n", phrase);
}

void ms_estimate_json_row(struct json_t *o, const struct ms_snap *snap, const struct ms_group_row *row,
                          const char *live_bytes_se, const char *live_count_se)
{
    if (!o || !ms_estimate_sampled(snap))
        return;
    json_object_set_new(o, live_bytes_se, json_real(sqrt(row->size_var)));
    json_object_set_new(o, live_count_se, json_real(sqrt(row->count_var)));
    json_object_set_new(o, "alloc_bytes_se", json_real(sqrt(row->alloc_bytes_var)));
    json_object_set_new(o, "alloc_count_se", json_real(sqrt(row->alloc_count_var)));
}

void ms_estimate_json_se(struct json_t *o, const char *key, double var)
{
    if (o)
        json_object_set_new(o, key, json_real(sqrt(var)));
}

void ms_estimate_json_rate(struct json_t *doc, const struct ms_estimate_rates *r)
{
    if (doc && r->sampled)
        json_object_set_new(doc, "sample_rate", ms_output_json_u64(r->hi));
}
