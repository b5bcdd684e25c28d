/* `memsnap growth`: per site, the trend of live bytes over three or more snapshots. A leak or a cache
 * without a bound grows in (nearly) every interval and is still growing at the end; a bounded cache fills
 * and then holds. The rule is small on purpose, so that a user can predict the verdict from the series. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "analyze.h"

enum ms_growth_verdict ms_growth_classify(const uint64_t *series, size_t n)
{
    if (n < 2)
        return MS_GROWTH_STEADY;
    size_t k = n - 1, grew = 0, changed = 0;
    uint64_t max = series[0];
    for (size_t i = 1; i < n; i++) {
        grew += series[i] > series[i - 1];
        changed += series[i] != series[i - 1];
        if (series[i] > max)
            max = series[i];
    }
    if (!changed)
        return MS_GROWTH_STEADY;
    size_t need = (3 * k + 3) / 4;
    if (need < 2)
        need = 2;
    /* Net growth over the second half of the intervals: a cache that filled early has none. */
    size_t mid = k / 2;
    bool late = series[n - 1] > series[mid];
    if (grew >= need && series[n - 1] > series[0] && series[n - 1] == max && late)
        return MS_GROWTH_UNBOUNDED;
    return MS_GROWTH_BOUNDED;
}

const char *ms_growth_verdict_name(enum ms_growth_verdict v)
{
    static const char *const names[] = {"unbounded", "bounded", "steady"};
    return names[v];
}

struct ms_growth_site {
    uint32_t label;
    uint64_t *series;
    struct ms_groups *eg;               /* the latest snapshot that has the site */
    struct ms_group_row *example;       /* its row there */
    enum ms_growth_verdict verdict;
    size_t grew;
    double per_interval;
    uint64_t peak;
};

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

enum ms_status ms_growth_main(const struct ms_cli *cli, struct ms_error *err)
{
    struct ms_snap **snaps = NULL;
    struct ms_symbolizer *sym = NULL;
    struct ms_groups *g = NULL;
    struct ms_map *keys = NULL;
    struct ms_growth_site *sites = NULL;
    size_t nsites = 0, cap = 0;
    enum ms_status r;
    size_t n = (size_t)cli->input_count;
    if (n < 3)
        return ms_error_set(err, MS_USAGE, "growth needs at least three snapshots (two intervals)");
    struct ms_group_opts go = {cli->by_set ? cli->by : MS_BY_STACK, cli->cumulative, cli->include, cli->exclude,
                               cli->all_frames};
    g = calloc(n, sizeof *g);
    keys = ms_map_new();
    if (!g || !keys) {
        r = ms_error_set(err, MS_NOMEM, "out of memory");
        goto out;
    }
    if ((r = ms_output_load(cli, &snaps, err)) != MS_OK || (r = ms_symbolize_new(&cli->sym, &sym, err)) != MS_OK)
        goto out;
    ms_growth_order(snaps, n);
    for (size_t i = 0; i < n; i++) {
        if ((r = ms_group_snap(sym, snaps[i], &go, &g[i], err)) != MS_OK)
            goto out;
        for (size_t j = 0; j < ms_map_capacity(g[i].index); j++) {
            const void *key;
            size_t len;
            uint32_t v;
            bool created;
            if (!ms_map_at(g[i].index, j, &key, &len, &v))
                continue;
            uint32_t *slot = ms_map_slot(keys, key, len, &created);
            if (!slot) {
                r = ms_error_set(err, MS_NOMEM, "out of memory");
                goto out;
            }
            if (created) {
                if (nsites == cap) {
                    cap = cap ? cap * 2 : 256;
                    struct ms_growth_site *ns = realloc(sites, cap * sizeof *ns);
                    if (!ns) {
                        r = ms_error_set(err, MS_NOMEM, "out of memory");
                        goto out;
                    }
                    sites = ns;
                }
                memset(&sites[nsites], 0, sizeof sites[nsites]);
                if (!(sites[nsites].series = calloc(n, sizeof(uint64_t)))) {
                    r = ms_error_set(err, MS_NOMEM, "out of memory");
                    goto out;
                }
                *slot = (uint32_t)++nsites;
            }
            struct ms_growth_site *s = &sites[*slot - 1];
            s->series[i] = g[i].rows[v - 1].size;
            s->label = g[i].rows[v - 1].label;
            s->eg = &g[i];
            s->example = &g[i].rows[v - 1];
        }
    }
    size_t counts[3] = {0, 0, 0};
    double unbounded_rate = 0;
    for (size_t i = 0; i < nsites; i++) {
        struct ms_growth_site *s = &sites[i];
        s->verdict = ms_growth_classify(s->series, n);
        for (size_t j = 0; j < n; j++) {
            if (j && s->series[j] > s->series[j - 1])
                s->grew++;
            if (s->series[j] > s->peak)
                s->peak = s->series[j];
        }
        s->per_interval = ((double)s->series[n - 1] - (double)s->series[0]) / (double)(n - 1);
        counts[s->verdict]++;
        if (s->verdict == MS_GROWTH_UNBOUNDED)
            unbounded_rate += s->per_interval;
    }
    qsort(sites, nsites, sizeof *sites, ms_growth_cmp);
    struct ms_strtab *strs = ms_symbolize_strtab(sym);
    char a[64], b[64], c[64];
    size_t shown_limit = cli->limit < 0 ? SIZE_MAX : (size_t)cli->limit;
    if (cli->format == MS_OUT_JSON) {
        json_t *arr = json_array(), *paths = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(paths, json_string(snaps[i]->path));
        size_t shown = 0;
        for (size_t i = 0; i < nsites; i++) {
            struct ms_growth_site *s = &sites[i];
            if (s->verdict == MS_GROWTH_STEADY || shown >= shown_limit)
                continue;
            shown++;
            json_t *series = json_array();
            for (size_t j = 0; j < n; j++)
                json_array_append_new(series, json_integer((json_int_t)s->series[j]));
            uint32_t sn;
            const struct ms_sym_frame *const *st = ms_group_row_stack(s->eg, s->example, &sn);
            json_array_append_new(arr, json_pack("{s:s, s:s, s:f, s:I, s:I, s:I, s:o, s:o}", "key",
                                                 ms_strtab_get(strs, s->label), "verdict",
                                                 ms_growth_verdict_name(s->verdict), "per_interval",
                                                 s->per_interval, "grew_intervals", (json_int_t)s->grew,
                                                 "intervals", (json_int_t)(n - 1), "peak", (json_int_t)s->peak,
                                                 "series", series, "stack",
                                                 ms_output_json_stack(st, sn)));
        }
        json_t *doc = json_pack("{s:s, s:o, s:s, s:o, s:{s:I, s:I, s:I}}", "command", "growth", "snapshots",
                                paths, "by", ms_group_by_name(go.by), "sites", arr, "summary", "unbounded",
                                (json_int_t)counts[0], "bounded", (json_int_t)counts[1], "steady",
                                (json_int_t)counts[2]);
        if ((r = ms_output_json(cli, doc, err)) != MS_OK)
            goto out;
    } else {
        size_t shown = 0;
        for (size_t i = 0; i < nsites; i++) {
            struct ms_growth_site *s = &sites[i];
            if (s->verdict == MS_GROWTH_STEADY || shown >= shown_limit)
                continue;
            shown++;
            const char *label = ms_strtab_get(strs, s->label);
            if (s->verdict == MS_GROWTH_UNBOUNDED)
                fprintf(cli->out, "unbounded: %s: %s per interval, grew in %zu of %zu intervals: %s -> %s\n", label,
                        ms_size_format(a, sizeof a, s->per_interval, true, cli->bytes), s->grew, n - 1,
                        ms_size_format(b, sizeof b, (double)s->series[0], false, cli->bytes),
                        ms_size_format(c, sizeof c, (double)s->series[n - 1], false, cli->bytes));
            else
                fprintf(cli->out, "bounded: %s: grew in %zu of %zu intervals, peak %s, last %s\n", label, s->grew,
                        n - 1, ms_size_format(a, sizeof a, (double)s->peak, false, cli->bytes),
                        ms_size_format(b, sizeof b, (double)s->series[n - 1], false, cli->bytes));
            fprintf(cli->out, "    live:");
            for (size_t j = 0; j < n; j++)
                fprintf(cli->out, "%s %s", j ? "," : "", ms_size_format(a, sizeof a, (double)s->series[j], false,
                                                                       cli->bytes));
            fputc('\n', cli->out);
            if (s->verdict == MS_GROWTH_UNBOUNDED || cli->show_stack) {
                uint32_t sn;
                const struct ms_sym_frame *const *st = ms_group_row_stack(s->eg, s->example, &sn);
                ms_output_text_stack(cli->out, st, sn, "    ");
            }
        }
        fprintf(cli->out, "Growth over %zu snapshots (%zu intervals): %zu unbounded (%s per interval), %zu bounded, "
                "%zu steady\n", n, n - 1, counts[0], ms_size_format(a, sizeof a, unbounded_rate, true, cli->bytes),
                counts[1], counts[2]);
    }
    if (cli->fail && counts[0]) {
        fprintf(stderr, "memsnap: gate --fail crossed: %zu unbounded site%s, growing by %s per interval together\n",
                counts[0], counts[0] == 1 ? "" : "s", ms_size_format(a, sizeof a, unbounded_rate, false, cli->bytes));
        r = MS_GATE;
    }
out:
    for (size_t i = 0; i < nsites; i++)
        free(sites[i].series);
    free(sites);
    for (size_t i = 0; g && i < n; i++)
        ms_group_free(&g[i]);
    free(g);
    ms_map_free(keys);
    ms_symbolize_free(sym);
    ms_output_unload(cli, snaps);
    return r;
}
