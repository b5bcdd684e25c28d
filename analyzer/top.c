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

static void ms_top_row_text(FILE *out, const char *label, uint64_t size, uint64_t count, bool exact)
{
    char a[64], b[64], name[8192];
    fprintf(out, "%s: size=%s, count=%llu", ms_output_name(label, name, sizeof name), ms_size_format(a, sizeof a, (double)size, false, exact),
            (unsigned long long)count);
    if (count)
        fprintf(out, ", average=%s", ms_size_format(b, sizeof b, (double)size / (double)count, false, exact));
    fputc('\n', out);
}

/* heaptrack's "most temporary allocations": at most this many rows, most temporaries first. */
#define MS_TOP_TEMPS 5

static int ms_top_temp_cmp(const void *a, const void *b)
{
    const struct ms_group_row *x = *(struct ms_group_row *const *)a;
    const struct ms_group_row *y = *(struct ms_group_row *const *)b;
    if (x->temp_count != y->temp_count)
        return x->temp_count > y->temp_count ? -1 : 1;
    return strcmp(ms_strtab_get(ms_top_strs, x->label), ms_strtab_get(ms_top_strs, y->label));
}

/* The rows with temporary allocations, most first, into rows (room for g->count); how many. */
static size_t ms_top_temps(const struct ms_groups *g, struct ms_group_row **rows)
{
    size_t n = 0;
    for (size_t i = 0; i < g->count; i++)
        if (g->rows[i].temp_count)
            rows[n++] = &g->rows[i];
    qsort(rows, n, sizeof *rows, ms_top_temp_cmp);
    return n < MS_TOP_TEMPS ? n : MS_TOP_TEMPS;
}

static json_t *ms_top_json_temps(const struct ms_snap *s, const struct ms_groups *g, struct ms_group_row **rows)
{
    if (!s->has_temporary)
        return json_null();
    size_t n = ms_top_temps(g, rows);
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:o, s:I, s:I}", "key",
                                           ms_output_json_str(ms_strtab_get(ms_top_strs, rows[i]->label)),
                                           "temporary", (json_int_t)rows[i]->temp_count, "alloc_count",
                                           (json_int_t)rows[i]->alloc_count));
    return json_pack("{s:I, s:I, s:o}", "count", (json_int_t)g->temp_count, "alloc_count",
                     (json_int_t)g->alloc_count, "rows", a);
}

static void ms_top_text_temps(FILE *out, const struct ms_snap *s, const struct ms_groups *g,
                              struct ms_group_row **rows)
{
    if (!s->has_temporary)
        return;
    fprintf(out, "Temporary: %llu of %llu allocations (%.1f%%) freed before their thread's next allocation\n",
            (unsigned long long)g->temp_count, (unsigned long long)g->alloc_count,
            g->alloc_count ? 100.0 * (double)g->temp_count / (double)g->alloc_count : 0.0);
    size_t n = ms_top_temps(g, rows);
    char name[8192];
    for (size_t i = 0; i < n; i++)
        fprintf(out, "  %s: temporary=%llu of %llu allocations\n",
                ms_output_name(ms_strtab_get(ms_top_strs, rows[i]->label), name, sizeof name),
                (unsigned long long)rows[i]->temp_count, (unsigned long long)rows[i]->alloc_count);
}

enum ms_status ms_top_main(const struct ms_cli *cli, struct ms_error *err)
{
    struct ms_snap **snaps = NULL;
    struct ms_symbolizer *sym = NULL;
    struct ms_groups g = {0};
    struct ms_group_row **rows = NULL;
    enum ms_status r;
    if (cli->input_count != 1)
        return ms_error_set(err, MS_USAGE, "top takes one snapshot");
    struct ms_group_opts go = {cli->by, cli->cumulative, cli->include, cli->exclude, cli->all_frames};
    if ((r = ms_output_load(cli, &snaps, err)) != MS_OK || (r = ms_symbolize_new(&cli->sym, &sym, err)) != MS_OK ||
        (r = ms_group_snap(sym, snaps[0], &go, &g, err)) != MS_OK)
        goto out;
    rows = malloc((g.count + 1) * sizeof *rows);
    if (!rows) {
        r = ms_error_set(err, MS_NOMEM, "out of memory");
        goto out;
    }
    size_t n = 0;
    for (size_t i = 0; i < g.count; i++)
        if (g.rows[i].size || g.rows[i].count) /* statistics() covers live memory only */
            rows[n++] = &g.rows[i];
    ms_top_strs = ms_symbolize_strtab(sym);
    qsort(rows, n, sizeof *rows, ms_top_cmp);
    size_t shown = cli->limit < 0 || (size_t)cli->limit > n ? n : (size_t)cli->limit;
    uint64_t other_size = 0, other_count = 0;
    for (size_t i = shown; i < n; i++) {
        other_size += rows[i]->size;
        other_count += rows[i]->count;
    }
    const struct ms_fmt_totals *t = &snaps[0]->totals;
    bool stack = cli->show_stack || cli->by == MS_BY_STACK;
    if (cli->format == MS_OUT_JSON) {
        json_t *a = json_array();
        for (size_t i = 0; i < shown; i++) {
            const struct ms_group_row *gr = rows[i];
            json_t *o = json_pack("{s:o, s:I, s:I, s:o, s:I, s:I}", "key",
                                  ms_output_json_str(ms_strtab_get(ms_top_strs, gr->label)),
                                  "size", (json_int_t)gr->size, "count", (json_int_t)gr->count, "average",
                                  gr->count ? json_real((double)gr->size / (double)gr->count) : json_null(),
                                  "alloc_bytes", (json_int_t)gr->alloc_bytes, "alloc_count",
                                  (json_int_t)gr->alloc_count);
            if (o && stack) {
                uint32_t sn;
                const struct ms_sym_frame *const *st = ms_group_row_stack(&g, rows[i], &sn);
                json_object_set_new(o, "stack", ms_output_json_stack(st, sn));
            }
            json_array_append_new(a, o);
        }
        json_t *doc = json_pack("{s:s, s:o, s:s, s:b, s:o, s:{s:I, s:I, s:I}, s:{s:I, s:I}, s:o, s:o}", "command",
                                "top", "snapshot", ms_output_json_str(snaps[0]->path), "by", ms_group_by_name(cli->by), "cumulative",
                                cli->cumulative, "rows", a, "other", "rows", (json_int_t)(n - shown), "size",
                                (json_int_t)other_size, "count", (json_int_t)other_count, "selected", "size",
                                (json_int_t)g.size, "count", (json_int_t)g.count_total, "totals",
                                ms_output_json_totals(snaps[0]), "temporary", ms_top_json_temps(snaps[0], &g, rows));
        r = ms_output_json(cli, doc, err);
        goto out;
    }
    FILE *out = cli->out;
    char a[64], b[64], c[64];
    for (size_t i = 0; i < shown; i++) {
        ms_top_row_text(out, ms_strtab_get(ms_top_strs, rows[i]->label), rows[i]->size, rows[i]->count, cli->bytes);
        if (stack) {
            uint32_t sn;
            const struct ms_sym_frame *const *st = ms_group_row_stack(&g, rows[i], &sn);
            ms_output_text_stack(out, st, sn, "    ");
        }
    }
    if (shown < n) {
        char label[64];
        snprintf(label, sizeof label, "%zu other", n - shown);
        ms_top_row_text(out, label, other_size, other_count, cli->bytes);
    }
    if ((cli->include && cli->include[0]) || (cli->exclude && cli->exclude[0]))
        ms_top_row_text(out, "Selected", g.size, g.count_total, cli->bytes);
    fprintf(out, "Total: current=%s, peak=%s, allocated=%s in %llu allocations, %llu frees",
            ms_size_format(a, sizeof a, (double)t->current_bytes, false, cli->bytes),
            ms_size_format(b, sizeof b, (double)t->peak_bytes, false, cli->bytes),
            ms_size_format(c, sizeof c, (double)t->alloc_bytes, false, cli->bytes),
            (unsigned long long)t->alloc_count, (unsigned long long)t->free_count);
    if (snaps[0]->has_memory && snaps[0]->memory.rss_bytes) /* the gap to current: allocator and the rest */
        fprintf(out, ", rss=%s", ms_size_format(a, sizeof a, (double)snaps[0]->memory.rss_bytes, false, cli->bytes));
    fputc('\n', out);
    if (snaps[0]->has_info && snaps[0]->info.trigger == MS_FMT_TRIGGER_PEAK)
        fputs("Peak snapshot: written at a new process peak (MEMSNAP_PEAK); the rows are what was live then\n", out);
    ms_top_text_temps(out, snaps[0], &g, rows);
out:
    free(rows);
    ms_group_free(&g);
    ms_symbolize_free(sym);
    ms_output_unload(cli, snaps);
    return r;
}
