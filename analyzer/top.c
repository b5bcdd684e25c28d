/* `memsnap top`: Snapshot.statistics() for C: the largest live sites first, then the process totals. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "analyze.h"


static const struct ms_strtab *ms_top_strs; /* for qsort's comparator */

/* tracemalloc's statistics order: (size, count, key), largest first. */
static int ms_top_cmp(const void *a, const void *b)
{
    const struct ms_group_row *x = *(struct ms_group_row *const *)a;
    const struct ms_group_row *y = *(struct ms_group_row *const *)b;
    if (x->size != y->size)
        return x->size > y->size ? -1 : 1;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return -strcmp(ms_strtab_get(ms_top_strs, x->label), ms_strtab_get(ms_top_strs, y->label));
}

/* heaptrack's "most temporary allocations": most temporaries first. */
static int ms_top_temp_cmp(const void *a, const void *b)
{
    const struct ms_group_row *x = *(struct ms_group_row *const *)a;
    const struct ms_group_row *y = *(struct ms_group_row *const *)b;
    if (x->temp_count != y->temp_count)
        return x->temp_count > y->temp_count ? -1 : 1;
    return strcmp(ms_strtab_get(ms_top_strs, x->label), ms_strtab_get(ms_top_strs, y->label));
}

enum ms_status ms_top_compute(struct ms_symbolizer *sym, const struct ms_snap *snap, const struct ms_group_opts *go,
                              long limit, struct ms_top *t, struct ms_error *err)
{
    enum ms_status r;
    *t = (struct ms_top){.snap = snap, .by = go->by, .cumulative = go->cumulative};
    ms_estimate_rates_add(&t->rates, snap);
    t->filtered = (go->include && go->include[0]) || (go->exclude && go->exclude[0]);
    if ((r = ms_group_snap(sym, snap, go, &t->g, err)) != MS_OK)
        return r;
    t->strs = ms_symbolize_strtab(sym);
    t->rows = malloc((t->g.count + 1) * sizeof *t->rows);
    t->temps = malloc((t->g.count + 1) * sizeof *t->temps);
    if (!t->rows || !t->temps)
        return ms_error_set(err, MS_NOMEM, "out of memory");
    for (size_t i = 0; i < t->g.count; i++) {
        if (t->g.rows[i].size || t->g.rows[i].count) /* statistics() covers live memory only */
            t->rows[t->count++] = &t->g.rows[i];
        if (snap->has_temporary && t->g.rows[i].temp_count)
            t->temps[t->ntemps++] = &t->g.rows[i];
    }
    ms_top_strs = t->strs;
    qsort(t->rows, t->count, sizeof *t->rows, ms_top_cmp);
    qsort(t->temps, t->ntemps, sizeof *t->temps, ms_top_temp_cmp);
    if (t->ntemps > MS_TOP_TEMPS)
        t->ntemps = MS_TOP_TEMPS;
    t->shown = limit < 0 || (size_t)limit > t->count ? t->count : (size_t)limit;
    for (size_t i = t->shown; i < t->count; i++) {
        t->other_size += t->rows[i]->size;
        t->other_count += t->rows[i]->count;
        t->other_size_var += t->rows[i]->size_var;
        t->other_count_var += t->rows[i]->count_var;
    }
    return MS_OK;
}

void ms_top_free(struct ms_top *t)
{
    free(t->rows);
    free(t->temps);
    ms_group_free(&t->g);
    *t = (struct ms_top){0};
}

static json_t *ms_top_json_temps(const struct ms_top *t)
{
    if (!t->snap->has_temporary)
        return json_null();
    json_t *a = json_array();
    for (size_t i = 0; i < t->ntemps; i++)
        json_array_append_new(a, json_pack("{s:o, s:o, s:o}", "key",
                                           ms_output_json_str(ms_strtab_get(t->strs, t->temps[i]->label)),
                                           "temporary", ms_output_json_u64(t->temps[i]->temp_count), "alloc_count",
                                           ms_output_json_u64(t->temps[i]->alloc_count)));
    return json_pack("{s:o, s:o, s:o}", "count", ms_output_json_u64(t->g.temp_count), "alloc_count",
                     ms_output_json_u64(t->g.alloc_count), "rows", a);
}

struct json_t *ms_top_render_json(struct ms_top *t, bool stack)
{
    json_t *a = json_array();
    for (size_t i = 0; i < t->shown; i++) {
        const struct ms_group_row *gr = t->rows[i];
        json_t *o = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "key",
                              ms_output_json_str(ms_strtab_get(t->strs, gr->label)), "size", ms_output_json_u64(gr->size),
                              "count", ms_output_json_u64(gr->count), "average",
                              gr->count ? json_real((double)gr->size / (double)gr->count) : json_null(),
                              "alloc_bytes", ms_output_json_u64(gr->alloc_bytes), "alloc_count", ms_output_json_u64(gr->alloc_count));
        ms_estimate_json_row(o, t->snap, gr, "size_se", "count_se"); /* sampled: standard errors */
        if (o && stack) {
            uint32_t sn;
            const struct ms_sym_frame *const *st = ms_group_row_stack(&t->g, t->rows[i], &sn);
            json_object_set_new(o, "stack", ms_output_json_stack(st, sn));
        }
        json_array_append_new(a, o);
    }
    json_t *other = json_pack("{s:o, s:o, s:o}", "rows", ms_output_json_u64(t->count - t->shown), "size",
                              ms_output_json_u64(t->other_size), "count", ms_output_json_u64(t->other_count));
    json_t *selected = json_pack("{s:o, s:o}", "size", ms_output_json_u64(t->g.size), "count",
                                 ms_output_json_u64(t->g.count_total));
    if (t->rates.sampled) {
        ms_estimate_json_se(other, "size_se", t->other_size_var);
        ms_estimate_json_se(other, "count_se", t->other_count_var);
        ms_estimate_json_se(selected, "size_se", t->g.size_var);
        ms_estimate_json_se(selected, "count_se", t->g.count_var);
    }
    json_t *doc = json_pack("{s:s, s:o, s:s, s:b, s:o, s:o, s:o, s:o, s:o}", "command", "top", "snapshot",
                            ms_output_json_str(t->snap->path), "by", ms_group_by_name(t->by), "cumulative",
                            t->cumulative, "rows", a, "other", other, "selected", selected, "totals",
                            ms_output_json_totals(t->snap), "temporary", ms_top_json_temps(t));
    ms_estimate_json_rate(doc, &t->rates);
    return doc;
}

/* Sampled: each figure followed by its 95% interval (size_var, count_var); average is their ratio. */
static void ms_top_row_text(FILE *out, const char *label, uint64_t size, uint64_t count, bool sampled,
                            double size_var, double count_var, bool exact)
{
    char a[64], b[64], pa[80] = "", pb[80] = "", name[8192];
    if (sampled) {
        ms_estimate_pm(pa, sizeof pa, size_var, true, exact);
        ms_estimate_pm(pb, sizeof pb, count_var, false, exact);
    }
    fprintf(out, "%s: size=%s%s, count=%llu%s", ms_output_name(label, name, sizeof name),
            ms_size_format(a, sizeof a, (double)size, false, exact), pa, (unsigned long long)count, pb);
    if (count)
        fprintf(out, ", average=%s", ms_size_format(b, sizeof b, (double)size / (double)count, false, exact));
    fputc('\n', out);
}

static void ms_top_text_temps(FILE *out, const struct ms_top *t)
{
    const struct ms_groups *g = &t->g;
    if (!t->snap->has_temporary)
        return;
    fprintf(out, "Temporary: %llu of %llu allocations (%.1f%%) freed before their thread's next allocation\n",
            (unsigned long long)g->temp_count, (unsigned long long)g->alloc_count,
            g->alloc_count ? 100.0 * (double)g->temp_count / (double)g->alloc_count : 0.0);
    char name[8192];
    for (size_t i = 0; i < t->ntemps; i++)
        fprintf(out, "  %s: temporary=%llu of %llu allocations\n",
                ms_output_name(ms_strtab_get(t->strs, t->temps[i]->label), name, sizeof name),
                (unsigned long long)t->temps[i]->temp_count, (unsigned long long)t->temps[i]->alloc_count);
}

void ms_top_render_text(FILE *out, struct ms_top *t, bool stack, bool exact)
{
    char a[64], b[64], c[64];
    bool est = t->rates.sampled;
    ms_estimate_text_note(out, &t->rates, exact);
    for (size_t i = 0; i < t->shown; i++) {
        const struct ms_group_row *gr = t->rows[i];
        ms_top_row_text(out, ms_strtab_get(t->strs, gr->label), gr->size, gr->count, est, gr->size_var, gr->count_var,
                        exact);
        if (stack) {
            uint32_t sn;
            const struct ms_sym_frame *const *st = ms_group_row_stack(&t->g, t->rows[i], &sn);
            ms_output_text_stack(out, st, sn, "    ");
        }
    }
    if (t->shown < t->count) {
        char label[64];
        snprintf(label, sizeof label, "%zu other", t->count - t->shown);
        ms_top_row_text(out, label, t->other_size, t->other_count, est, t->other_size_var, t->other_count_var, exact);
    }
    if (t->filtered)
        ms_top_row_text(out, "Selected", t->g.size, t->g.count_total, est, t->g.size_var, t->g.count_var, exact);
    const struct ms_snap *s = t->snap;
    const struct ms_fmt_totals *tt = &s->totals;
    fprintf(out, "Total: current=%s, peak=%s, allocated=%s in %llu allocations, %llu frees",
            ms_size_format(a, sizeof a, (double)tt->current_bytes, false, exact),
            ms_size_format(b, sizeof b, (double)tt->peak_bytes, false, exact),
            ms_size_format(c, sizeof c, (double)tt->alloc_bytes, false, exact),
            (unsigned long long)tt->alloc_count, (unsigned long long)tt->free_count);
    if (s->has_memory && s->memory.rss_bytes) /* the gap to current: allocator and the rest */
        fprintf(out, ", rss=%s", ms_size_format(a, sizeof a, (double)s->memory.rss_bytes, false, exact));
    fputc('\n', out);
    if (s->has_info && s->info.trigger == MS_FMT_TRIGGER_PEAK)
        fputs("Peak snapshot: written at a new process peak (MEMSNAP_PEAK); the rows are what was live then\n", out);
    ms_top_text_temps(out, t);
}

enum ms_status ms_top_main(const struct ms_cli *cli, struct ms_error *err)
{
    struct ms_snap **snaps = NULL;
    struct ms_symbolizer *sym = NULL;
    struct ms_top t = {0};
    enum ms_status r;
    if (cli->input_count != 1)
        return ms_error_set(err, MS_USAGE, "top takes one snapshot");
    struct ms_group_opts go = {cli->by, cli->cumulative, cli->include, cli->exclude, cli->all_frames};
    if ((r = ms_output_load(cli, &snaps, err)) != MS_OK || (r = ms_symbolize_new(&cli->sym, &sym, err)) != MS_OK ||
        (r = ms_top_compute(sym, snaps[0], &go, cli->limit, &t, err)) != MS_OK)
        goto out;
    bool stack = cli->show_stack || cli->by == MS_BY_STACK;
    if (cli->format == MS_OUT_JSON)
        r = ms_output_json(cli, ms_top_render_json(&t, stack), err);
    else
        ms_top_render_text(cli->out, &t, stack, cli->bytes);
out:
    ms_top_free(&t);
    ms_symbolize_free(sym);
    ms_output_unload(cli, snaps);
    return r;
}
