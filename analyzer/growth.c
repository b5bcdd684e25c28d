/* `memsnap growth`: per site, the trend of live bytes over three or more snapshots.
 *
 * The verdict combines two known pieces (docs/cli.md, "The rule"): the Mann-Kendall trend test on the
 * series (is it rising, beyond what chance ordering gives?) with Sen's slope as the rate, and the record
 * highs of the series (is it still reaching new highs, or has a plateau been seen?). A sawtooth whose floor
 * rises has a significant trend and keeps making records; a cache that filled and holds, or a sawtooth that
 * converges, stops making them. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analyze.h"

/* One-sided 5% point of the standard normal distribution. */
#define MS_GROWTH_Z_CRIT 1.6448536269514722

static int ms_growth_double_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int ms_growth_u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Mann-Kendall's S, its variance with the correction for tied values, and Z with the continuity
 * correction (the test as in Hipel & McLeod, "Time Series Modelling of Water Resources", 1994). */
static void ms_growth_mann_kendall(const uint64_t *x, size_t n, struct ms_growth_trend *t)
{
    long long s = 0;
    for (size_t i = 0; i + 1 < n; i++)
        for (size_t j = i + 1; j < n; j++)
            s += (x[j] > x[i]) - (x[j] < x[i]);
    uint64_t *sorted = malloc(n * sizeof *sorted);
    double nn = (double)n, var = nn * (nn - 1) * (2 * nn + 5);
    if (sorted) {
        memcpy(sorted, x, n * sizeof *sorted);
        qsort(sorted, n, sizeof *sorted, ms_growth_u64_cmp);
        for (size_t i = 0, j; i < n; i = j) {
            for (j = i + 1; j < n && sorted[j] == sorted[i]; j++)
                ;
            double tg = (double)(j - i);
            var -= tg * (tg - 1) * (2 * tg + 5);
        }
        free(sorted);
    }
    var /= 18;
    t->mk_s = s;
    t->mk_z = var <= 0 ? 0 : s > 0 ? ((double)s - 1) / sqrt(var) : s < 0 ? ((double)s + 1) / sqrt(var) : 0;
}

/* Sen's slope: the median of the slopes between every pair of snapshots (robust to a few outliers). */
static double ms_growth_sen_slope(const uint64_t *x, size_t n)
{
    size_t m = n * (n - 1) / 2, k = 0;
    double *sl = malloc((m ? m : 1) * sizeof *sl);
    if (!sl)
        return ((double)x[n - 1] - (double)x[0]) / (double)(n - 1);
    for (size_t i = 0; i + 1 < n; i++)
        for (size_t j = i + 1; j < n; j++)
            sl[k++] = ((double)x[j] - (double)x[i]) / (double)(j - i);
    qsort(sl, m, sizeof *sl, ms_growth_double_cmp);
    double med = m % 2 ? sl[m / 2] : (sl[m / 2 - 1] + sl[m / 2]) / 2;
    free(sl);
    return med;
}

void ms_growth_trend(const uint64_t *series, size_t n, struct ms_growth_trend *t)
{
    memset(t, 0, sizeof *t);
    if (n < 2)
        return;
    uint64_t lo = series[0], hi = series[0];
    for (size_t i = 1; i < n; i++) {
        t->grew += series[i] > series[i - 1];
        lo = series[i] < lo ? series[i] : lo;
        hi = series[i] > hi ? series[i] : hi;
    }
    t->changed = lo != hi;
    ms_growth_mann_kendall(series, n, t);
    t->sen_slope = ms_growth_sen_slope(series, n);
    /* Records: a value above the last record by more than 1/16 of the series' range (noise on a plateau
     * makes none). The series' first value is the first record. */
    uint64_t tol = (hi - lo) / 16, level = series[0];
    size_t last = 0;
    for (size_t i = 1; i < n; i++)
        if (series[i] > level + tol) {
            if (i - last > t->record_gap)
                t->record_gap = i - last;
            last = i;
            level = series[i];
        }
    t->since_record = n - 1 - last;
    t->plateau = t->since_record >= 3 && t->since_record > 2 * t->record_gap;
    /* With three snapshots no ordering is significant at 5% (the best has p = 1/6): there, growth in both
     * intervals is the trend. */
    t->rising = n == 3 ? t->grew == 2 : t->mk_z > MS_GROWTH_Z_CRIT;
}

enum ms_growth_verdict ms_growth_classify(const uint64_t *series, size_t n)
{
    struct ms_growth_trend t;
    ms_growth_trend(series, n, &t);
    if (!t.changed)
        return MS_GROWTH_STEADY;
    return t.rising && t.sen_slope > 0 && !t.plateau ? MS_GROWTH_UNBOUNDED : MS_GROWTH_BOUNDED;
}

const char *ms_growth_verdict_name(enum ms_growth_verdict v)
{
    static const char *const names[] = {"unbounded", "bounded", "steady"};
    return names[v];
}

static int ms_growth_time_cmp(const void *a, const void *b)
{
    const struct ms_snap *x = *(struct ms_snap *const *)a, *y = *(struct ms_snap *const *)b;
    if (x->info.uptime_ns != y->info.uptime_ns)
        return x->info.uptime_ns < y->info.uptime_ns ? -1 : 1;
    return x->info.sequence < y->info.sequence ? -1 : x->info.sequence > y->info.sequence;
}

/* Snapshots of one process go in time order whatever the shell's glob order (memsnap.x.10.snap sorts before
 * memsnap.x.2.snap); snapshots of different processes stay in the order given. */
static void ms_growth_order(struct ms_snap **snaps, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!snaps[i]->has_info || snaps[i]->info.pid != snaps[0]->info.pid)
            return;
    qsort(snaps, n, sizeof *snaps, ms_growth_time_cmp);
}

static bool ms_growth_left_out(bool include_exit, const struct ms_snap *s)
{
    return !include_exit && s->has_info && s->info.trigger == MS_FMT_TRIGGER_EXIT;
}

static int ms_growth_cmp(const void *a, const void *b)
{
    const struct ms_growth_site *x = a, *y = b;
    if (x->verdict != y->verdict)
        return x->verdict < y->verdict ? -1 : 1;
    if (x->per_interval != y->per_interval)
        return x->per_interval > y->per_interval ? -1 : 1;
    if (x->peak != y->peak)
        return x->peak > y->peak ? -1 : 1;
    return x->label < y->label ? -1 : x->label > y->label;
}

/* Each site's series: the key maps the sites of every snapshot onto one. */
static enum ms_status ms_growth_series(struct ms_growth *gr, struct ms_symbolizer *sym, const struct ms_group_opts *go,
                                       struct ms_map *keys, struct ms_error *err)
{
    enum ms_status r;
    size_t n = gr->n, cap = 0;
    for (size_t i = 0; i < n; i++) {
        struct ms_groups *g = &gr->groups_[i];
        if ((r = ms_group_snap(sym, gr->snaps[i], go, g, err)) != MS_OK)
            return r;
        for (size_t j = 0; j < ms_map_capacity(g->index); j++) {
            const void *key;
            size_t len;
            uint32_t v;
            bool created;
            if (!ms_map_at(g->index, j, &key, &len, &v))
                continue;
            uint32_t *slot = ms_map_slot(keys, key, len, &created);
            if (!slot)
                return ms_error_set(err, MS_NOMEM, "out of memory");
            if (created) {
                if (!MS_GROW(gr->sites, cap, gr->nsites + 1, 256))
                    return ms_error_set(err, MS_NOMEM, "out of memory");
                memset(&gr->sites[gr->nsites], 0, sizeof gr->sites[gr->nsites]);
                struct ms_growth_site *ns = &gr->sites[gr->nsites];
                ns->series = calloc(n, sizeof(uint64_t));
                ns->series_var = calloc(n, sizeof(double));
                if (!ns->series || !ns->series_var) {
                    free(ns->series);
                    free(ns->series_var);
                    return ms_error_set(err, MS_NOMEM, "out of memory");
                }
                *slot = (uint32_t)++gr->nsites;
            }
            struct ms_growth_site *s = &gr->sites[*slot - 1];
            s->series[i] = g->rows[v - 1].size;
            s->series_var[i] = g->rows[v - 1].size_var;
            s->label = g->rows[v - 1].label;
            s->eg = g;
            s->example = &g->rows[v - 1];
        }
    }
    return MS_OK;
}

enum ms_status ms_growth_compute(struct ms_symbolizer *sym, struct ms_snap *const *all, size_t nall,
                                 const struct ms_group_opts *go, bool include_exit, struct ms_growth *gr,
                                 struct ms_error *err)
{
    struct ms_map *keys = NULL;
    enum ms_status r = MS_OK;
    *gr = (struct ms_growth){.by = go->by, .strs = ms_symbolize_strtab(sym)};
    if (nall < 3)
        return ms_error_set(err, MS_USAGE, "growth needs at least three snapshots (two intervals)");
    gr->groups_ = calloc(nall, sizeof *gr->groups_);
    gr->snaps = calloc(nall, sizeof *gr->snaps);
    gr->left_out = calloc(nall, sizeof *gr->left_out);
    keys = ms_map_new();
    if (!gr->groups_ || !gr->snaps || !gr->left_out || !keys) {
        r = ms_error_set(err, MS_NOMEM, "out of memory");
        goto out;
    }
    /* An at-exit snapshot is taken after static destructors freed caches: as a point of the series it
     * would read as the cache shrinking. */
    for (size_t i = 0; i < nall; i++) {
        if (ms_growth_left_out(include_exit, all[i]))
            gr->left_out[gr->nleft++] = all[i];
        else
            gr->snaps[gr->n++] = all[i];
    }
    if (gr->n < 3) {
        r = ms_error_set(err, MS_USAGE, "growth needs at least three snapshots (two intervals) besides the %zu "
                         "at-exit one%s left out (--include-exit keeps them)", gr->nleft, gr->nleft == 1 ? "" : "s");
        goto out;
    }
    ms_growth_order(gr->snaps, gr->n);
    for (size_t i = 0; i < gr->n; i++)
        ms_estimate_rates_add(&gr->rates, gr->snaps[i]);
    if ((r = ms_growth_series(gr, sym, go, keys, err)) != MS_OK)
        goto out;
    for (size_t i = 0; i < gr->nsites; i++) {
        struct ms_growth_site *s = &gr->sites[i];
        s->verdict = ms_growth_classify(s->series, gr->n);
        ms_growth_trend(s->series, gr->n, &s->trend);
        for (size_t j = 0; j < gr->n; j++)
            if (s->series[j] > s->peak)
                s->peak = s->series[j];
        s->per_interval = s->trend.sen_slope;
        gr->counts[s->verdict]++;
        if (s->verdict == MS_GROWTH_UNBOUNDED)
            gr->unbounded_rate += s->per_interval;
    }
    if (gr->nsites) /* sites is NULL when there are none */
        qsort(gr->sites, gr->nsites, sizeof *gr->sites, ms_growth_cmp);
out:
    ms_map_free(keys);
    return r;
}

void ms_growth_free(struct ms_growth *gr)
{
    for (size_t i = 0; i < gr->nsites; i++) {
        free(gr->sites[i].series);
        free(gr->sites[i].series_var);
    }
    free(gr->sites);
    for (size_t i = 0; gr->groups_ && i < gr->n; i++)
        ms_group_free(&gr->groups_[i]);
    free(gr->groups_);
    free(gr->snaps);
    free(gr->left_out);
    *gr = (struct ms_growth){0};
}

struct json_t *ms_growth_render_json(struct ms_growth *gr, long limit)
{
    size_t n = gr->n, shown_limit = limit < 0 ? SIZE_MAX : (size_t)limit, shown = 0;
    json_t *arr = json_array(), *paths = json_array(), *outs = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(paths, ms_output_json_str(gr->snaps[i]->path));
    for (size_t i = 0; i < gr->nleft; i++)
        json_array_append_new(outs, ms_output_json_str(gr->left_out[i]->path));
    for (size_t i = 0; i < gr->nsites; i++) {
        struct ms_growth_site *s = &gr->sites[i];
        if (s->verdict == MS_GROWTH_STEADY || shown >= shown_limit)
            continue;
        shown++;
        json_t *series = json_array(), *series_se = json_array();
        for (size_t j = 0; j < n; j++) {
            json_array_append_new(series, ms_output_json_u64(s->series[j]));
            json_array_append_new(series_se, json_real(sqrt(s->series_var[j])));
        }
        uint32_t sn;
        const struct ms_sym_frame *const *st = ms_group_row_stack(s->eg, s->example, &sn);
        json_t *trend = json_pack("{s:I, s:f, s:b, s:o, s:o, s:b}", "mann_kendall_s", (json_int_t)s->trend.mk_s,
                                  "mann_kendall_z", s->trend.mk_z, "rising", s->trend.rising, "record_gap",
                                  ms_output_json_u64(s->trend.record_gap), "since_record", ms_output_json_u64(s->trend.since_record),
                                  "plateau", s->trend.plateau);
        json_t *o = json_pack("{s:o, s:s, s:f, s:o, s:o, s:o, s:o, s:o, s:o}", "key",
                              ms_output_json_str(ms_strtab_get(gr->strs, s->label)), "verdict",
                              ms_growth_verdict_name(s->verdict), "per_interval", s->per_interval, "grew_intervals",
                              ms_output_json_u64(s->trend.grew), "intervals", ms_output_json_u64((n - 1)), "peak",
                              ms_output_json_u64(s->peak), "series", series, "trend", trend, "stack",
                              ms_output_json_stack(st, sn));
        if (o && gr->rates.sampled) /* sampled: each point's standard error */
            json_object_set_new(o, "series_se", series_se);
        else
            json_decref(series_se);
        json_array_append_new(arr, o);
    }
    json_t *doc = json_pack("{s:s, s:o, s:o, s:s, s:o, s:{s:o, s:o, s:o}}", "command", "growth", "snapshots", paths,
                            "left_out_at_exit", outs, "by", ms_group_by_name(gr->by), "sites", arr, "summary",
                            "unbounded", ms_output_json_u64(gr->counts[0]), "bounded", ms_output_json_u64(gr->counts[1]),
                            "steady", ms_output_json_u64(gr->counts[2]));
    ms_estimate_json_rate(doc, &gr->rates);
    return doc;
}

void ms_growth_render_text(FILE *out, struct ms_growth *gr, long limit, bool exact, bool show_stack)
{
    size_t n = gr->n, shown_limit = limit < 0 ? SIZE_MAX : (size_t)limit, shown = 0;
    char a[64], b[64], c[64], pm[80] = "";
    ms_estimate_text_note(out, &gr->rates, exact);
    for (size_t i = 0; i < gr->nsites; i++) {
        struct ms_growth_site *s = &gr->sites[i];
        if (s->verdict == MS_GROWTH_STEADY || shown >= shown_limit)
            continue;
        shown++;
        char name[8192];
        const char *label = ms_output_name(ms_strtab_get(gr->strs, s->label), name, sizeof name);
        if (s->verdict == MS_GROWTH_UNBOUNDED)
            fprintf(out, "unbounded: %s: %s per interval, grew in %zu of %zu intervals: %s -> %s\n", label,
                    ms_size_format(a, sizeof a, s->per_interval, true, exact), s->trend.grew, n - 1,
                    ms_size_format(b, sizeof b, (double)s->series[0], false, exact),
                    ms_size_format(c, sizeof c, (double)s->series[n - 1], false, exact));
        else
            fprintf(out, "bounded: %s: grew in %zu of %zu intervals, peak %s, last %s\n", label, s->trend.grew, n - 1,
                    ms_size_format(a, sizeof a, (double)s->peak, false, exact),
                    ms_size_format(b, sizeof b, (double)s->series[n - 1], false, exact));
        fprintf(out, "    live:");
        for (size_t j = 0; j < n; j++) {
            if (gr->rates.sampled)
                ms_estimate_pm(pm, sizeof pm, s->series_var[j], true, exact);
            fprintf(out, "%s %s%s", j ? "," : "", ms_size_format(a, sizeof a, (double)s->series[j], false, exact), pm);
        }
        fputc('\n', out);
        if (s->verdict == MS_GROWTH_UNBOUNDED || show_stack) {
            uint32_t sn;
            const struct ms_sym_frame *const *st = ms_group_row_stack(s->eg, s->example, &sn);
            ms_output_text_stack(out, st, sn, "    ");
        }
    }
    for (size_t i = 0; i < gr->nleft; i++)
        fprintf(out, "Left out the at-exit snapshot %s (taken after destructors ran; --include-exit keeps it)\n",
                gr->left_out[i]->path);
    fprintf(out, "Growth over %zu snapshots (%zu intervals): %zu unbounded (%s per interval), %zu bounded, %zu steady\n",
            n, n - 1, gr->counts[0], ms_size_format(a, sizeof a, gr->unbounded_rate, true, exact), gr->counts[1],
            gr->counts[2]);
}

enum ms_status ms_growth_gate(const struct ms_growth *gr, bool exact, FILE *report)
{
    char a[64];
    size_t u = gr->counts[MS_GROWTH_UNBOUNDED];
    if (!u)
        return MS_OK;
    fprintf(report, "memsnap: gate --fail crossed: %zu unbounded site%s, growing by %s per interval together\n", u,
            u == 1 ? "" : "s", ms_size_format(a, sizeof a, gr->unbounded_rate, false, exact));
    return MS_GATE;
}

enum ms_status ms_growth_main(const struct ms_cli *cli, struct ms_error *err)
{
    struct ms_snap **all = NULL;
    struct ms_symbolizer *sym = NULL;
    struct ms_growth gr = {0};
    enum ms_status r;
    if (cli->input_count < 3)
        return ms_error_set(err, MS_USAGE, "growth needs at least three snapshots (two intervals)");
    struct ms_group_opts go = {cli->by_set ? cli->by : MS_BY_STACK, cli->cumulative, cli->include, cli->exclude,
                               cli->all_frames};
    if ((r = ms_output_load(cli, &all, err)) != MS_OK || (r = ms_symbolize_new(&cli->sym, &sym, err)) != MS_OK ||
        (r = ms_growth_compute(sym, all, (size_t)cli->input_count, &go, cli->include_exit, &gr, err)) != MS_OK)
        goto out;
    if (cli->format == MS_OUT_JSON) {
        if ((r = ms_output_json(cli, ms_growth_render_json(&gr, cli->limit), err)) != MS_OK)
            goto out;
    } else {
        ms_growth_render_text(cli->out, &gr, cli->limit, cli->bytes, cli->show_stack);
    }
    if (cli->fail)
        r = ms_growth_gate(&gr, cli->bytes, stderr);
out:
    ms_growth_free(&gr);
    ms_symbolize_free(sym);
    ms_output_unload(cli, all);
    return r;
}
