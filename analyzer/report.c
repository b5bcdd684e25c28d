/* `memsnap report`: one self-contained HTML page for a run: the heap over time with the peak marked, the
 * flame graph of any moment (a click on the timeline), the largest sites, growth verdicts, the leak summary
 * and the run's facts. The SVG comes from plot.c and flamegraph.c; the script and style are report.js and
 * report.css, compiled in (nothing is fetched: the page opens from a file on an offline machine). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analyze.h"
#include "report_assets.h"

enum { MS_REPORT_SITES = 50, MS_REPORT_GROWTH = 30, MS_REPORT_SERIES = 5 };
/* Callees narrower than this (of the 1180 px a flame graph spans) are merged into one "other" frame: they
 * cannot be read anyway, and a heap of 100k stacks stays a page of a few megabytes. */
#define MS_REPORT_MIN_PX 0.5

struct ms_report {
    FILE *out;
    const struct ms_cli *cli;
    struct ms_symbolizer *sym;
    struct ms_plot plot;
    struct ms_snap **snaps;
    size_t n;
    size_t merged_frames, frames;
};

static void ms_report_text(FILE *out, const char *s)
{
    ms_output_xml(out, s ? s : "");
}

/* A name shortened for display, the full name as its title when they differ. */
static void ms_report_name(FILE *out, const char *full)
{
    char buf[1024];
    const char *s = ms_symbolize_shorten(full, buf, sizeof buf);
    if (strcmp(s, full) != 0) {
        fputs("<span title=\"", out);
        ms_report_text(out, full);
        fputs("\">", out);
        ms_report_text(out, s);
        fputs("</span>", out);
    } else {
        ms_report_text(out, full);
    }
}

static const char *ms_report_size(const struct ms_report *rp, char *buf, size_t len, double v)
{
    return ms_size_format(buf, len, v, false, rp->cli->bytes);
}

static void ms_report_when(char *buf, size_t len, uint64_t ns)
{
    time_t t = (time_t)(ns / 1000000000u);
    struct tm tm;
    if (!ns || !gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm))
        snprintf(buf, len, "unknown");
}

static void ms_report_fact(FILE *out, const char *key, const char *value)
{
    fputs("<tr><th>", out);
    ms_report_text(out, key);
    fputs("</th><td>", out);
    ms_report_text(out, value);
    fputs("</td></tr>\n", out);
}

static void ms_report_facts(struct ms_report *rp)
{
    FILE *out = rp->out;
    const struct ms_snap *first = rp->snaps[0], *last = rp->snaps[rp->n - 1];
    char buf[512], a[64], b[64], c[64];
    fputs("<section id=\"facts\"><h2>Run</h2><table class=\"facts\">\n", out);
    ms_report_fact(out, "Program", first->exe && *first->exe ? first->exe : "unknown");
    snprintf(buf, sizeof buf, "%u (parent %u)", first->info.pid, first->info.ppid);
    ms_report_fact(out, "Process", buf);
    size_t triggers[8] = {0};
    for (size_t i = 0; i < rp->n; i++)
        triggers[rp->snaps[i]->info.trigger < 8 ? rp->snaps[i]->info.trigger : 0]++;
    int o = snprintf(buf, sizeof buf, "%zu", rp->n);
    const char *sep = ": ";
    for (uint32_t t = 0; t < 8; t++)
        if (triggers[t] && (size_t)o < sizeof buf) {
            o += snprintf(buf + o, sizeof buf - (size_t)o, "%s%zu %s", sep, triggers[t], ms_snapfile_trigger_name(t));
            sep = ", ";
        }
    ms_report_fact(out, "Snapshots", buf);
    ms_report_when(a, sizeof a, first->info.time_ns);
    ms_report_when(b, sizeof b, last->info.time_ns);
    snprintf(buf, sizeof buf, "%s to %s (%.3f s of the process's life)", a, b,
             (double)(last->info.uptime_ns - first->info.uptime_ns) / 1e9);
    ms_report_fact(out, "Taken", buf);
    snprintf(buf, sizeof buf, "%s, stacks of up to %u frames%s", first->info.unwinder ? "frame pointers (fp)" :
             "DWARF call frame information (dwarf)", first->info.depth_limit,
             first->flags & MS_FMT_FLAG_TRUNCATED ? " (some cut at that depth)" : "");
    ms_report_fact(out, "Unwinder", buf);
    if (first->info.sample_rate)
        snprintf(buf, sizeof buf, "one allocation per %llu bytes on average: sizes and counts are estimates (\u00b1: "
                 "their 95%% intervals)",
                 (unsigned long long)first->info.sample_rate);
    else
        snprintf(buf, sizeof buf, "every allocation recorded");
    ms_report_fact(out, "Sampling", buf);
    const struct ms_fmt_totals *t = &last->totals;
    snprintf(buf, sizeof buf, "%s live in %llu blocks; peak %s; %s allocated in %llu allocations, %llu frees",
             ms_report_size(rp, a, sizeof a, (double)t->current_bytes), (unsigned long long)t->live_count,
             ms_report_size(rp, b, sizeof b, (double)t->peak_bytes),
             ms_report_size(rp, c, sizeof c, (double)t->alloc_bytes), (unsigned long long)t->alloc_count,
             (unsigned long long)t->free_count);
    if (last->has_memory && last->memory.rss_bytes)
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "; resident set (RSS) %s",
                 ms_report_size(rp, a, sizeof a, (double)last->memory.rss_bytes));
    ms_report_fact(out, "At the last snapshot", buf);
    if (rp->plot.peak_snap < rp->n) {
        const struct ms_snap *pk = rp->snaps[rp->plot.peak_snap];
        snprintf(buf, sizeof buf, "%s: %s live, %.1f%% of the process peak %s (MEMSNAP_PEAK: written at a new "
                 "peak, the earlier ones removed)", pk->path, ms_report_size(rp, a, sizeof a,
                 (double)pk->totals.current_bytes), rp->plot.process_peak ? 100.0 * (double)pk->totals.current_bytes /
                 (double)rp->plot.process_peak : 100.0, ms_report_size(rp, b, sizeof b, (double)rp->plot.process_peak));
        ms_report_fact(out, "Peak snapshot", buf);
    }
    snprintf(buf, sizeof buf, "%s (tables and arenas of the profiler itself), %llu distinct stacks",
             ms_report_size(rp, a, sizeof a, (double)t->overhead_bytes), (unsigned long long)t->stack_count);
    ms_report_fact(out, "Profiler", buf);
    for (size_t i = 0; i < rp->n; i++)
        for (uint32_t k = 0; k < rp->snaps[i]->label_count; k++) {
            snprintf(buf, sizeof buf, "label %s", rp->snaps[i]->labels[k].key);
            ms_report_fact(out, buf, rp->snaps[i]->labels[k].value);
        }
    snprintf(buf, sizeof buf, "%s%s", first->path, rp->n > 1 ? " ... " : "");
    if (rp->n > 1)
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s", last->path);
    ms_report_fact(out, "Files", buf);
    fputs("</table></section>\n", out);
}

static void ms_report_timeline(struct ms_report *rp)
{
    FILE *out = rp->out;
    struct ms_export_opts xo = {0};
    size_t shown = rp->plot.nseries < MS_REPORT_SERIES ? rp->plot.nseries : MS_REPORT_SERIES;
    fprintf(out, "<section id=\"timeline\"><h2>Heap over time</h2>\n<p class=\"hint\">The process's live heap (line) "
            "and its largest sites (areas)%s. Click a moment to see its flame graph and its sites below.</p>\n",
            rp->plot.rates.sampled ? ", estimated: the shaded bands are their 95% intervals" : "");
    ms_plot_svg(out, &rp->plot, shown, &xo, rp->cli->bytes, true);
    fputs("</section>\n", out);
}

/* The largest sites of one snapshot (by line), as a sortable table. */
static enum ms_status ms_report_sites(struct ms_report *rp, const struct ms_snap *snap, struct ms_error *err)
{
    FILE *out = rp->out;
    struct ms_groups g;
    struct ms_group_opts go = {MS_BY_LINE, false, rp->cli->include, rp->cli->exclude, rp->cli->all_frames};
    enum ms_status r = ms_group_snap(rp->sym, snap, &go, &g, err);
    if (r != MS_OK)
        return r;
    /* The largest MS_REPORT_SITES by live bytes, then by allocated bytes: a partial selection. */
    size_t n = 0;
    struct ms_group_row **rows = malloc((g.count + 1) * sizeof *rows);
    if (!rows) {
        ms_group_free(&g);
        return ms_error_set(err, MS_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < g.count; i++)
        if (g.rows[i].size || g.rows[i].count || g.rows[i].alloc_count)
            rows[n++] = &g.rows[i];
    for (size_t i = 0; i < n && i < MS_REPORT_SITES; i++) {
        size_t best = i;
        for (size_t j = i + 1; j < n; j++)
            if (rows[j]->size > rows[best]->size ||
                (rows[j]->size == rows[best]->size && rows[j]->alloc_bytes > rows[best]->alloc_bytes))
                best = j;
        struct ms_group_row *tmp = rows[i];
        rows[i] = rows[best];
        rows[best] = tmp;
    }
    char a[64], b[64], c[64];
    fputs("<table class=\"sites sortable\"><thead><tr><th>Site</th><th class=\"num\">Live</th>"
          "<th class=\"num\">Live blocks</th><th class=\"num\">Average</th><th class=\"num\">Allocated</th>"
          "<th class=\"num\">Allocations</th>", out);
    if (snap->has_temporary) /* heaptrack's temporaries: freed before the thread's next allocation */
        fputs("<th class=\"num\" title=\"freed before their thread's next allocation\">Temporary</th>", out);
    fputs("</tr></thead><tbody>\n", out);
    size_t shown = n < MS_REPORT_SITES ? n : MS_REPORT_SITES;
    for (size_t i = 0; i < shown; i++) {
        const struct ms_group_row *gr = rows[i];
        fputs("<tr><td class=\"site\">", out);
        ms_report_name(out, ms_strtab_get(ms_symbolize_strtab(rp->sym), gr->label));
        char pa[80] = "", pc[80] = ""; /* sampled: the 95% intervals */
        if (ms_estimate_sampled(snap)) {
            ms_estimate_pm(pa, sizeof pa, gr->size_var, true, rp->cli->bytes);
            ms_estimate_pm(pc, sizeof pc, gr->alloc_bytes_var, true, rp->cli->bytes);
        }
        fprintf(out, "</td><td class=\"num\" data-v=\"%llu\">%s%s</td><td class=\"num\">%llu</td>"
                "<td class=\"num\" data-v=\"%.1f\">%s</td><td class=\"num\" data-v=\"%llu\">%s%s</td>"
                "<td class=\"num\">%llu</td>", (unsigned long long)gr->size,
                ms_report_size(rp, a, sizeof a, (double)gr->size), pa, (unsigned long long)gr->count,
                gr->count ? (double)gr->size / (double)gr->count : 0.0,
                gr->count ? ms_report_size(rp, b, sizeof b, (double)gr->size / (double)gr->count) : "",
                (unsigned long long)gr->alloc_bytes, ms_report_size(rp, c, sizeof c, (double)gr->alloc_bytes), pc,
                (unsigned long long)gr->alloc_count);
        if (snap->has_temporary)
            fprintf(out, "<td class=\"num\">%llu</td>", (unsigned long long)gr->temp_count);
        fputs("</tr>\n", out);
    }
    fputs("</tbody></table>\n", out);
    if (snap->has_temporary)
        fprintf(out, "<p class=\"note\">Temporary allocations (freed before their thread's next allocation): %llu of "
                "%llu (%.1f%%).</p>\n", (unsigned long long)g.temp_count, (unsigned long long)g.alloc_count,
                g.alloc_count ? 100.0 * (double)g.temp_count / (double)g.alloc_count : 0.0);
    if (shown < n)
        fprintf(out, "<p class=\"note\">%zu more sites not listed (the %d largest by live bytes are).</p>\n",
                n - shown, MS_REPORT_SITES);
    free(rows);
    ms_group_free(&g);
    return MS_OK;
}

/* One moment: its three flame graphs (live bytes, allocated bytes, live blocks) and its sites, in a template
 * the script copies into the page when the moment is chosen. */
static enum ms_status ms_report_moment(struct ms_report *rp, size_t i, struct ms_error *err)
{
    FILE *out = rp->out;
    const struct ms_snap *s = rp->snaps[i];
    static const struct {
        const char *mode;
        bool allocated, count;
    } modes[] = {{"live", false, false}, {"alloc", true, false}, {"count", false, true}};
    char a[64], title[1024];
    snprintf(title, sizeof title, "Snapshot %zu of %zu (%s, %s%g%s): %s live", i + 1, rp->n,
             ms_snapfile_trigger_name(s->info.trigger), rp->plot.by_index ? "#" : "t = ", rp->plot.x[i],
             rp->plot.by_index ? "" : " s", ms_report_size(rp, a, sizeof a, (double)s->totals.current_bytes));
    fprintf(out, "<template id=\"moment-%zu\" data-title=\"", i);
    ms_report_text(out, title);
    fputs("\" data-path=\"", out);
    ms_report_text(out, s->path);
    fputs("\">\n", out);
    struct ms_groups g;
    enum ms_status r = ms_export_group(rp->sym, s, rp->cli, &g, err);
    if (r != MS_OK)
        return r;
    for (size_t m = 0; m < sizeof modes / sizeof *modes && r == MS_OK; m++) {
        struct ms_export_opts xo = {.allocated = modes[m].allocated, .count = modes[m].count};
        struct ms_flamegraph_embed em = {.min_width = MS_REPORT_MIN_PX};
        fprintf(out, "<div class=\"fg\" data-mode=\"%s\">", modes[m].mode);
        r = ms_flamegraph_write(out, &g, &xo, rp->cli->bytes, &em, err);
        fputs("</div>\n", out);
        rp->frames += em.frames;
        rp->merged_frames += em.merged_frames;
    }
    ms_group_free(&g);
    if (r == MS_OK)
        r = ms_report_sites(rp, s, err);
    if (s->has_memory) {
        char b[64];
        fputs("<div class=\"memory\"><p>", out);
        if (s->memory.rss_bytes)
            fprintf(out, "Resident set (RSS): <b>%s</b>, for %s of live heap. ",
                    ms_report_size(rp, a, sizeof a, (double)s->memory.rss_bytes),
                    ms_report_size(rp, b, sizeof b, (double)s->totals.current_bytes));
        fputs("Live blocks by size (power-of-two classes, labelled by their smallest size; hover for the bytes):"
              "</p>\n", out);
        ms_plot_size_classes(out, s, rp->cli->bytes);
        fputs("</div>\n", out);
    }
    fputs("</template>\n", out);
    return r;
}

static int ms_report_growth_cmp(const void *a, const void *b)
{
    const double *x = a, *y = b; /* {verdict, growth per interval, index} */
    if (x[0] != y[0])
        return x[0] < y[0] ? -1 : 1;
    if (x[1] != y[1])
        return x[1] > y[1] ? -1 : 1;
    return x[2] < y[2] ? -1 : x[2] > y[2];
}

/* growth's verdict per site (by line), with the series as a sparkline. The at-exit snapshot is left out: a
 * program that frees everything before it exits would look bounded. */
static enum ms_status ms_report_growth(struct ms_report *rp, struct ms_error *err)
{
    FILE *out = rp->out;
    const struct ms_plot *p = &rp->plot;
    size_t *at = calloc(p->n, sizeof *at), n = 0;
    uint64_t *series = calloc(p->n, sizeof *series);
    double (*v)[3] = calloc(p->nseries + 1, sizeof *v);
    if (!at || !series || !v) {
        free(at);
        free(series);
        free(v);
        return ms_error_set(err, MS_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < p->n; i++)
        if (!(p->snaps[i]->flags & MS_FMT_FLAG_AT_EXIT))
            at[n++] = i;
    fputs("<section id=\"growth\"><h2>Growth</h2>\n", out);
    if (n < 3)
        fprintf(out, "<p class=\"note\">Growth verdicts need three or more snapshots taken while the program ran (two "
                "intervals); this report has %zu.</p>\n", n);
    size_t nv = 0, counts[3] = {0, 0, 0};
    for (size_t i = 0; n >= 3 && i < p->nseries; i++) {
        for (size_t k = 0; k < n; k++)
            series[k] = p->series[i].v[at[k]];
        enum ms_growth_verdict g = ms_growth_classify(series, n);
        counts[g]++;
        if (g == MS_GROWTH_STEADY)
            continue;
        v[nv][0] = g;
        v[nv][1] = ((double)series[n - 1] - (double)series[0]) / (double)(n - 1);
        v[nv++][2] = (double)i;
    }
    qsort(v, nv, sizeof *v, ms_report_growth_cmp);
    char a[64], b[64], c[64], d[64];
    if (n >= 3)
        fprintf(out, "<p>Over %zu snapshots (%zu intervals%s), by line: <b class=\"unbounded\">%zu unbounded</b> "
                "(grew in nearly every interval and still growing at the end), %zu bounded, %zu steady. "
                "The rule is <code>memsnap growth</code>'s.</p>\n", n, n - 1,
                n < p->n ? "; the at-exit snapshot left out" : "", counts[0], counts[1], counts[2]);
    if (nv) {
        fputs("<table class=\"growth sortable\"><thead><tr><th>Verdict</th><th>Site</th><th>Live over time</th>"
              "<th class=\"num\">First</th><th class=\"num\">Last</th><th class=\"num\">Peak</th>"
              "<th class=\"num\">Per interval</th></tr></thead><tbody>\n", out);
        for (size_t k = 0; k < nv && k < MS_REPORT_GROWTH; k++) {
            const struct ms_plot_series *s = &p->series[(size_t)v[k][2]];
            const char *name = ms_growth_verdict_name((enum ms_growth_verdict)v[k][0]);
            uint64_t peak = 0;
            for (size_t j = 0; j < n; j++) {
                series[j] = s->v[at[j]];
                peak = series[j] > peak ? series[j] : peak;
            }
            fprintf(out, "<tr class=\"%s\"><td>%s</td><td class=\"site\">", name, name);
            ms_report_name(out, ms_strtab_get(p->strs, s->label));
            fputs("</td><td>", out);
            ms_plot_sparkline(out, series, n, 120, 24);
            fprintf(out, "</td><td class=\"num\" data-v=\"%llu\">%s</td><td class=\"num\" data-v=\"%llu\">%s</td>"
                    "<td class=\"num\" data-v=\"%llu\">%s</td><td class=\"num\" data-v=\"%.1f\">%s</td></tr>\n",
                    (unsigned long long)series[0], ms_report_size(rp, a, sizeof a, (double)series[0]),
                    (unsigned long long)series[n - 1], ms_report_size(rp, b, sizeof b, (double)series[n - 1]),
                    (unsigned long long)peak, ms_report_size(rp, c, sizeof c, (double)peak), v[k][1],
                    ms_size_format(d, sizeof d, v[k][1], true, rp->cli->bytes));
        }
        fputs("</tbody></table>\n", out);
    }
    fputs("</section>\n", out);
    free(at);
    free(series);
    free(v);
    return MS_OK;
}

/* `memsnap leaks` on the last at-exit snapshot, its text as it prints it. */
static enum ms_status ms_report_leaks(struct ms_report *rp, struct ms_error *err)
{
    FILE *out = rp->out;
    const struct ms_snap *at_exit = NULL;
    for (size_t i = 0; i < rp->n; i++)
        if (rp->snaps[i]->flags & MS_FMT_FLAG_AT_EXIT)
            at_exit = rp->snaps[i];
    fputs("<section id=\"leaks\"><h2>Leaks at exit</h2>\n", out);
    if (!at_exit) {
        fputs("<p class=\"note\">None of these snapshots was taken at exit (<code>memsnap run</code> writes one): no "
              "leak summary.</p></section>\n", out);
        return MS_OK;
    }
    char *text = NULL;
    size_t len = 0;
    struct ms_suppressions *sup = NULL;
    struct ms_leaks l = {0};
    struct ms_leaks_opts lo = {rp->cli->include, rp->cli->exclude, rp->cli->all_frames, false};
    FILE *mem = NULL;
    enum ms_status r;
    if ((r = ms_leaks_suppressions_load(NULL, true, &sup, err)) != MS_OK ||
        (r = ms_leaks_compute(rp->sym, at_exit, sup, &lo, &l, err)) != MS_OK)
        goto out;
    if (!(mem = open_memstream(&text, &len))) {
        r = ms_error_set(err, MS_NOMEM, "out of memory");
        goto out;
    }
    ms_leaks_render_text(mem, &l, 5, rp->cli->bytes, false);
    if (fclose(mem) != 0) {
        r = ms_error_set(err, MS_NOMEM, "out of memory");
        goto out;
    }
    fputs("<p><code>memsnap leaks ", out);
    ms_report_text(out, at_exit->path);
    fputs(" -n 5</code>:</p><pre class=\"leaks\">", out);
    ms_report_text(out, text);
    fputs("</pre></section>\n", out);
out:
    ms_leaks_free(&l);
    ms_leaks_suppressions_free(sup);
    free(text);
    return r;
}

enum ms_status ms_report_main(const struct ms_cli *cli, const struct ms_export_opts *o, struct ms_error *err)
{
    struct ms_report rp = {.cli = cli, .n = (size_t)cli->input_count};
    struct ms_export_out xout = {0};
    enum ms_status r;
    if (cli->input_count < 1)
        return ms_error_set(err, MS_USAGE, "report takes one or more snapshots of one run");
    if (!o->output)
        return ms_error_set(err, MS_USAGE, "report writes a file: -o report.html");
    if (o->allocated || o->count)
        return ms_error_set(err, MS_USAGE, "report shows live bytes, allocated bytes and blocks (a toggle in the "
                            "page); --allocated and --count do not apply");
    struct ms_cli pc = *cli;
    pc.by = MS_BY_LINE;
    if ((r = ms_export_open(o, &xout, err)) != MS_OK || (r = ms_output_load(cli, &rp.snaps, err)) != MS_OK ||
        (r = ms_symbolize_new(&cli->sym, &rp.sym, err)) != MS_OK ||
        (r = ms_plot_build(rp.sym, rp.snaps, rp.n, &pc, false, &rp.plot, err)) != MS_OK)
        goto out;
    rp.out = xout.f;
    FILE *out = rp.out;
    const struct ms_snap *first = rp.snaps[0];
    const char *exe = first->exe && *first->exe ? first->exe : first->path;
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>memsnap report: ", out);
    ms_report_text(out, o->title ? o->title : exe);
    fprintf(out, "</title>\n<style>\n%s</style>\n</head>\n<body data-peak=\"%zu\">\n<header><h1>", ms_report_css,
            ms_plot_peak(&rp.plot));
    ms_report_text(out, o->title ? o->title : "memsnap report");
    fputs("</h1><p class=\"sub\">", out);
    ms_report_text(out, exe);
    fprintf(out, ": %zu snapshot%s</p></header>\n", rp.n, rp.n == 1 ? "" : "s");
    ms_report_timeline(&rp);
    fputs("<section id=\"moment\"><h2 id=\"moment-title\">Flame graph</h2>\n"
          "<div class=\"controls\"><span class=\"modes\">"
          "<button type=\"button\" data-mode=\"live\" class=\"on\">live bytes</button>"
          "<button type=\"button\" data-mode=\"alloc\">allocated bytes</button>"
          "<button type=\"button\" data-mode=\"count\">live blocks</button></span>\n"
          "<input id=\"search\" type=\"search\" placeholder=\"search functions (regular expression)\">"
          "<button type=\"button\" id=\"reset\">Reset zoom</button><span id=\"matched\"></span></div>\n"
          "<p class=\"hint\">Callers below, callees above; width is the share of the heap. Click a frame to zoom; "
          "hover for the full name.</p>\n<div id=\"view\"></div>\n<div id=\"details\">&#160;</div>\n", out);
    for (size_t i = 0; i < rp.n; i++)
        if ((r = ms_report_moment(&rp, i, err)) != MS_OK)
            goto out;
    if (rp.merged_frames)
        fprintf(out, "<p class=\"note\" id=\"pruned\">To keep the page small, callees narrower than %.1f px of the "
                "graph's width are merged into one \"other\" frame per caller (%zu frames over the %zu moment%s and "
                "three views); <code>memsnap flamegraph</code> draws them all.</p>\n", MS_REPORT_MIN_PX,
                rp.merged_frames, rp.n, rp.n == 1 ? "" : "s");
    fputs("</section>\n<section id=\"sites\"><h2>Largest sites at this moment</h2><p class=\"hint\">By source line "
          "(<code>memsnap top</code>); click a heading to sort.</p><div id=\"sites-view\"></div>"
          "<div id=\"memory-view\"></div></section>\n", out);
    if ((r = ms_report_growth(&rp, err)) != MS_OK || (r = ms_report_leaks(&rp, err)) != MS_OK)
        goto out;
    ms_report_facts(&rp);
    fprintf(out, "<footer>Written by <code>memsnap report</code>; self-contained, nothing is fetched.</footer>\n"
            "<script>\n%s</script>\n</body></html>\n", ms_report_js);
out:
    r = ms_export_close(&xout, r, err);
    ms_plot_free(&rp.plot);
    ms_symbolize_free(rp.sym);
    if (rp.snaps)
        ms_output_unload(cli, rp.snaps);
    return r;
}
