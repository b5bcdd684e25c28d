/* `memsnap diff`: Snapshot.compare_to() for C. Rows are matched by their symbolized key, never by address. */
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "analyze.h"

static long long ms_diff_abs(long long v)
{
    return v < 0 ? -v : v;
}

/* new - old of two u64 figures, saturated to +-LLONG_MAX: a crafted snapshot can hold values whose
 * difference no long long holds, and a signed overflow would be undefined. */
static long long ms_diff_sub(uint64_t new_v, uint64_t old_v)
{
    uint64_t d = new_v >= old_v ? new_v - old_v : old_v - new_v;
    long long m = d > (uint64_t)LLONG_MAX ? LLONG_MAX : (long long)d;
    return new_v >= old_v ? m : -m;
}

/* tracemalloc's order: (|size_diff|, size, |count_diff|, count, key), largest first. */
static int ms_diff_cmp(const void *a, const void *b)
{
    const struct ms_diff_row *x = a, *y = b;
    long long k[4][2] = {{ms_diff_abs(x->size_diff), ms_diff_abs(y->size_diff)},
                         {x->size, y->size},
                         {ms_diff_abs(x->count_diff), ms_diff_abs(y->count_diff)},
                         {x->count, y->count}};
    for (int i = 0; i < 4; i++)
        if (k[i][0] != k[i][1])
            return k[i][0] > k[i][1] ? -1 : 1;
    return -strcmp(x->label, y->label);
}

enum ms_status ms_diff_compute(struct ms_symbolizer *sym, const struct ms_snap *old_snap,
                               const struct ms_snap *new_snap, const struct ms_group_opts *opts,
                               struct ms_diff **out, struct ms_error *err)
{
    enum ms_status r;
    struct ms_diff *d = calloc(1, sizeof *d);
    *out = NULL;
    if (!d)
        return ms_error_set(err, MS_NOMEM, "out of memory");
    struct ms_groups *o = &d->groups_[0], *n = &d->groups_[1];
    d->old_path = old_snap->path;
    d->new_path = new_snap->path;
    d->by = opts ? opts->by : MS_BY_LINE;
    d->cumulative = opts && opts->cumulative;
    ms_estimate_rates_add(&d->rates, old_snap);
    ms_estimate_rates_add(&d->rates, new_snap);
    bool est = d->rates.sampled;
    if ((r = ms_group_snap(sym, old_snap, opts, o, err)) != MS_OK ||
        (r = ms_group_snap(sym, new_snap, opts, n, err)) != MS_OK)
        goto out;
    d->rows = calloc(o->count + n->count + 1, sizeof *d->rows);
    if (!d->rows) {
        r = ms_error_set(err, MS_NOMEM, "out of memory");
        goto out;
    }
    struct ms_strtab *strs = ms_symbolize_strtab(sym);
    /* Keys of the new snapshot diff against the old (or zero); keys only in the old one diff against zero. */
    for (int side = 1; side >= 0; side--) {
        struct ms_groups *g = &d->groups_[side], *other = &d->groups_[!side];
        for (size_t i = 0; i < ms_map_capacity(g->index); i++) {
            const void *key;
            size_t len;
            uint32_t v;
            if (!ms_map_at(g->index, i, &key, &len, &v))
                continue;
            const struct ms_group_row *gr = &g->rows[v - 1];
            const uint32_t *ov = ms_map_find(other->index, key, len);
            if (side == 0 && ov)
                continue; /* already paired */
            const struct ms_group_row *orow = ov ? &other->rows[*ov - 1] : NULL;
            struct ms_diff_row *dr = &d->rows[d->count++];
            dr->label = ms_strtab_get(strs, gr->label);
            dr->g_ = g;
            dr->row_ = (struct ms_group_row *)gr;
            dr->estimated = est;
            dr->size_diff_var = gr->size_var + (orow ? orow->size_var : 0);
            dr->count_diff_var = gr->count_var + (orow ? orow->count_var : 0);
            if (side == 1) {
                dr->size = (long long)gr->size;
                dr->count = (long long)gr->count;
                dr->size_diff = ms_diff_sub(gr->size, orow ? orow->size : 0);
                dr->count_diff = ms_diff_sub(gr->count, orow ? orow->count : 0);
                dr->size_var = gr->size_var;
                dr->count_var = gr->count_var;
            } else {
                dr->size_diff = ms_diff_sub(0, gr->size);
                dr->count_diff = ms_diff_sub(0, gr->count);
            }
            if (dr->size == 0 && dr->size_diff == 0 && dr->count == 0 && dr->count_diff == 0)
                d->count--; /* freed before either snapshot: nothing to say */
        }
    }
    qsort(d->rows, d->count, sizeof *d->rows, ms_diff_cmp);
    d->total.label = "Total";
    d->total.size = (long long)n->size;
    d->total.count = (long long)n->count_total;
    d->total.size_diff = ms_diff_sub(n->size, o->size);
    d->total.count_diff = ms_diff_sub(n->count_total, o->count_total);
    d->total.estimated = est;
    d->total.size_var = n->size_var;
    d->total.count_var = n->count_var;
    d->total.size_diff_var = n->size_var + o->size_var;
    d->total.count_diff_var = n->count_var + o->count_var;
    *out = d;
    d = NULL;
out:
    if (d)
        ms_diff_free(d);
    return r;
}

const struct ms_diff_row *ms_diff_total(const struct ms_diff *d)
{
    return &d->total;
}

const struct ms_sym_frame *const *ms_diff_row_stack(const struct ms_diff_row *r, uint32_t *n)
{
    if (!r->g_) {
        *n = 0;
        return NULL;
    }
    return ms_group_row_stack(r->g_, r->row_, n);
}

const char *ms_diff_format_row(const struct ms_diff_row *r, bool exact, char *buf, size_t len)
{
    char a[64], b[64], c[64], name[8192], pm[4][80] = {"", "", "", ""};
    if (r->estimated) {
        ms_estimate_pm(pm[0], sizeof pm[0], r->size_var, true, exact);
        ms_estimate_pm(pm[1], sizeof pm[1], r->size_diff_var, true, exact);
        ms_estimate_pm(pm[2], sizeof pm[2], r->count_var, false, exact);
        ms_estimate_pm(pm[3], sizeof pm[3], r->count_diff_var, false, exact);
    }
    int n = snprintf(buf, len, "%s: size=%s%s (%s%s), count=%lld%s (%+lld%s)", ms_output_name(r->label, name, sizeof name),
                     ms_size_format(a, sizeof a, (double)r->size, false, exact), pm[0],
                     ms_size_format(b, sizeof b, (double)r->size_diff, true, exact), pm[1], r->count, pm[2],
                     r->count_diff, pm[3]);
    if (r->count && n >= 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, ", average=%s",
                 ms_size_format(c, sizeof c, (double)r->size / (double)r->count, false, exact));
    return buf;
}

void ms_diff_print(const struct ms_diff *d, FILE *out, long limit, unsigned flags)
{
    char buf[16384];
    bool exact = flags & MS_DIFF_PRINT_BYTES;
    ms_estimate_text_note(out, &d->rates, exact);
    for (size_t i = 0; i < d->count && (limit < 0 || i < (size_t)limit); i++) {
        fprintf(out, "%s\n", ms_diff_format_row(&d->rows[i], exact, buf, sizeof buf));
        if (flags & MS_DIFF_PRINT_STACK) {
            uint32_t n;
            const struct ms_sym_frame *const *st = ms_diff_row_stack(&d->rows[i], &n);
            ms_output_text_stack(out, st, n, "    ");
        }
    }
    fprintf(out, "%s\n", ms_diff_format_row(&d->total, exact, buf, sizeof buf));
}

void ms_diff_free(struct ms_diff *d)
{
    if (!d)
        return;
    ms_group_free(&d->groups_[0]);
    ms_group_free(&d->groups_[1]);
    free(d->rows);
    ms_snapfile_free(d->snaps_[0]);
    ms_snapfile_free(d->snaps_[1]);
    ms_symbolize_free(d->sym_);
    free(d);
}

enum ms_status ms_diff_files(const char *old_path, const char *new_path, const struct ms_group_opts *opts,
                             struct ms_diff **out, struct ms_error *err)
{
    struct ms_snap *a = NULL, *b = NULL;
    struct ms_symbolizer *sym = NULL;
    enum ms_status r;
    *out = NULL;
    if ((r = ms_snapfile_read(old_path, &a, err)) != MS_OK || (r = ms_snapfile_read(new_path, &b, err)) != MS_OK ||
        (r = ms_symbolize_new(NULL, &sym, err)) != MS_OK || (r = ms_diff_compute(sym, a, b, opts, out, err)) != MS_OK)
        goto out;
    (*out)->snaps_[0] = a;
    (*out)->snaps_[1] = b;
    (*out)->sym_ = sym;
    return MS_OK;
out:
    ms_snapfile_free(a);
    ms_snapfile_free(b);
    ms_symbolize_free(sym);
    return r;
}

static json_t *ms_diff_json_row(const struct ms_diff_row *r, bool stack)
{
    json_t *o = json_pack("{s:o, s:o, s:I, s:o, s:I}", "key", ms_output_json_str(r->label), "size",
                          ms_output_json_u64((uint64_t)r->size), "size_diff", (json_int_t)r->size_diff, "count",
                          ms_output_json_u64((uint64_t)r->count), "count_diff",
                          (json_int_t)r->count_diff);
    if (o)
        json_object_set_new(o, "average", r->count ? json_real((double)r->size / (double)r->count) : json_null());
    if (r->estimated) {
        ms_estimate_json_se(o, "size_se", r->size_var);
        ms_estimate_json_se(o, "size_diff_se", r->size_diff_var);
        ms_estimate_json_se(o, "count_se", r->count_var);
        ms_estimate_json_se(o, "count_diff_se", r->count_diff_var);
    }
    if (o && stack) {
        uint32_t n;
        const struct ms_sym_frame *const *st = ms_diff_row_stack(r, &n);
        json_object_set_new(o, "stack", ms_output_json_stack(st, n));
    }
    return o;
}

void ms_diff_gate(const struct ms_diff *d, const struct ms_diff_gate_opts *o, struct ms_diff_gates *g)
{
    *g = (struct ms_diff_gates){.opts = *o};
    g->total_crossed = o->has_fail_over && d->total.size_diff > o->fail_over;
    if (!o->has_fail_site_over)
        return;
    for (size_t i = 0; i < d->count; i++)
        if (d->rows[i].size_diff > o->fail_site_over) {
            g->sites_over++;
            if (!g->worst || d->rows[i].size_diff > g->worst->size_diff)
                g->worst = &d->rows[i];
        }
}

enum ms_status ms_diff_gate_report(const struct ms_diff *d, const struct ms_diff_gates *g, bool exact, FILE *report)
{
    char lim[64], val[64], over[64];
    const struct ms_diff_gate_opts *o = &g->opts;
    /* Total growth, then the worst single site. */
    if (g->total_crossed)
        fprintf(report, "memsnap: gate --fail-over %s crossed: the total grew by %s, %s over\n",
                ms_size_format(lim, sizeof lim, (double)o->fail_over, false, exact),
                ms_size_format(val, sizeof val, (double)d->total.size_diff, false, exact),
                ms_size_format(over, sizeof over, (double)(d->total.size_diff - o->fail_over), false, exact));
    if (g->worst)
        fprintf(report, "memsnap: gate --fail-site-over %s crossed by %zu site%s; the largest, %s, grew by %s, %s over\n",
                ms_size_format(lim, sizeof lim, (double)o->fail_site_over, false, exact), g->sites_over,
                g->sites_over == 1 ? "" : "s", g->worst->label,
                ms_size_format(val, sizeof val, (double)g->worst->size_diff, false, exact),
                ms_size_format(over, sizeof over, (double)(g->worst->size_diff - o->fail_site_over), false, exact));
    return g->total_crossed || g->worst ? MS_GATE : MS_OK;
}

struct json_t *ms_diff_render_json(const struct ms_diff *d, const struct ms_diff_gates *g, long limit, bool stack)
{
    json_t *rows = json_array(), *gates = json_array();
    for (size_t i = 0; i < d->count && (limit < 0 || i < (size_t)limit); i++)
        json_array_append_new(rows, ms_diff_json_row(&d->rows[i], stack));
    if (g->opts.has_fail_over)
        json_array_append_new(gates, json_pack("{s:s, s:I, s:I, s:b}", "gate", "fail-over", "limit",
                                               (json_int_t)g->opts.fail_over, "value", (json_int_t)d->total.size_diff,
                                               "crossed", g->total_crossed));
    if (g->opts.has_fail_site_over)
        json_array_append_new(gates, json_pack("{s:s, s:I, s:I, s:b, s:I}", "gate", "fail-site-over", "limit",
                                               (json_int_t)g->opts.fail_site_over, "value",
                                               (json_int_t)(g->worst ? g->worst->size_diff : 0), "crossed",
                                               g->worst != NULL, "sites", (json_int_t)g->sites_over));
    json_t *doc = json_pack("{s:s, s:o, s:o, s:s, s:b, s:o, s:I, s:o, s:o}", "command", "diff", "old",
                            ms_output_json_str(d->old_path), "new", ms_output_json_str(d->new_path), "by",
                            ms_group_by_name(d->by), "cumulative", d->cumulative, "rows", rows, "other_rows",
                            (json_int_t)(limit < 0 || (size_t)limit >= d->count ? 0 : d->count - (size_t)limit),
                            "total", ms_diff_json_row(&d->total, false), "gates", gates);
    ms_estimate_json_rate(doc, &d->rates);
    return doc;
}

enum ms_status ms_diff_main(const struct ms_cli *cli, struct ms_error *err)
{
    struct ms_snap **snaps = NULL;
    struct ms_symbolizer *sym = NULL;
    struct ms_diff *d = NULL;
    enum ms_status r;
    if (cli->input_count != 2)
        return ms_error_set(err, MS_USAGE, "diff takes two snapshots: OLD NEW");
    struct ms_group_opts go = {cli->by, cli->cumulative, cli->include, cli->exclude, cli->all_frames};
    if ((r = ms_output_load(cli, &snaps, err)) != MS_OK || (r = ms_symbolize_new(&cli->sym, &sym, err)) != MS_OK ||
        (r = ms_diff_compute(sym, snaps[0], snaps[1], &go, &d, err)) != MS_OK)
        goto out;
    struct ms_diff_gate_opts gopts = {cli->has_fail_over, cli->fail_over, cli->has_fail_site_over,
                                      cli->fail_site_over};
    struct ms_diff_gates gates;
    ms_diff_gate(d, &gopts, &gates);
    if (cli->format == MS_OUT_JSON) {
        bool stack = cli->show_stack || cli->by == MS_BY_STACK;
        if ((r = ms_output_json(cli, ms_diff_render_json(d, &gates, cli->limit, stack), err)) != MS_OK)
            goto out;
    } else {
        ms_diff_print(d, cli->out, cli->limit,
                      (cli->bytes ? MS_DIFF_PRINT_BYTES : 0) | (cli->show_stack ? MS_DIFF_PRINT_STACK : 0));
    }
    r = ms_diff_gate_report(d, &gates, cli->bytes, stderr);
out:
    ms_diff_free(d);
    ms_symbolize_free(sym);
    ms_output_unload(cli, snaps);
    return r;
}
