/* `memsnap plot`: the heap over time from a series of snapshots (massif's graph, as SVG): the process's live
 * bytes as a line, and under it the largest sites as stacked areas, so a growing site shows as a widening band. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analyze.h"

enum { MS_PLOT_W = 960, MS_PLOT_H = 420, MS_PLOT_LEFT = 90, MS_PLOT_RIGHT = 30, MS_PLOT_TOP = 56, MS_PLOT_LEG = 18 };

static int ms_plot_time_cmp(const void *a, const void *b)
{
    const struct ms_snap *x = *(struct ms_snap *const *)a, *y = *(struct ms_snap *const *)b;
    if (x->info.uptime_ns != y->info.uptime_ns)
        return x->info.uptime_ns < y->info.uptime_ns ? -1 : 1;
    return x->info.sequence < y->info.sequence ? -1 : x->info.sequence > y->info.sequence;
}

static int ms_plot_wall_cmp(const void *a, const void *b)
{
    const struct ms_snap *x = *(struct ms_snap *const *)a, *y = *(struct ms_snap *const *)b;
    return x->info.time_ns < y->info.time_ns ? -1 : x->info.time_ns > y->info.time_ns;
}

static bool ms_plot_one_process(struct ms_snap *const *snaps, size_t n)
{
    bool one = true;
    for (size_t i = 0; i < n; i++)
        one &= snaps[i]->info.pid == snaps[0]->info.pid;
    return one;
}

void ms_plot_order(struct ms_snap **snaps, size_t n)
{
    if (n)
        qsort(snaps, n, sizeof *snaps, ms_plot_one_process(snaps, n) ? ms_plot_time_cmp : ms_plot_wall_cmp);
}

/* One process: its uptime is the clock (monotonic). Several: wall-clock time since the first snapshot. */
static void ms_plot_times(struct ms_plot *p)
{
    bool one = ms_plot_one_process(p->snaps, p->n);
    ms_plot_order(p->snaps, p->n);
    uint64_t t0 = p->snaps[0]->info.time_ns;
    for (size_t i = 0; i < p->n; i++) {
        const struct ms_fmt_info *in = &p->snaps[i]->info;
        p->x[i] = one ? (double)in->uptime_ns / 1e9 : (double)(in->time_ns - t0) / 1e9;
    }
    /* Snapshots without clocks (or all at one instant): one step per snapshot, in the order given. */
    if (p->x[p->n - 1] <= p->x[0]) {
        p->by_index = true;
        for (size_t i = 0; i < p->n; i++)
            p->x[i] = (double)i;
    }
}

static enum ms_status ms_plot_add(struct ms_plot *p, size_t snap, uint32_t label, uint64_t v, double var,
                                  struct ms_error *err)
{
    bool created;
    uint32_t *slot = ms_map_slot(p->index, &label, sizeof label, &created);
    if (!slot)
        return ms_error_set(err, MS_NOMEM, "out of memory");
    if (created) {
        if (!MS_GROW(p->series, p->cap, p->nseries + 1, 64))
            return ms_error_set(err, MS_NOMEM, "out of memory");
        struct ms_plot_series *s = &p->series[p->nseries];
        s->v = calloc(p->n, sizeof *s->v);
        s->var = calloc(p->n, sizeof *s->var);
        if (!s->v || !s->var) {
            free(s->v);
            free(s->var);
            return ms_error_set(err, MS_NOMEM, "out of memory");
        }
        s->label = label;
        s->peak = 0;
        s->peak_at = 0;
        *slot = (uint32_t)++p->nseries;
    }
    struct ms_plot_series *s = &p->series[*slot - 1];
    s->v[snap] += v;
    s->var[snap] += var;
    if (s->v[snap] > s->peak) {
        s->peak = s->v[snap];
        s->peak_at = snap;
    }
    return MS_OK;
}

static const struct ms_strtab *ms_plot_sort_strs; /* for qsort's comparator */

static int ms_plot_series_cmp(const void *a, const void *b)
{
    const struct ms_plot_series *x = a, *y = b;
    if (x->peak != y->peak)
        return x->peak > y->peak ? -1 : 1;
    return strcmp(ms_strtab_get(ms_plot_sort_strs, x->label), ms_strtab_get(ms_plot_sort_strs, y->label));
}

/* A tick step of 1, 2 or 5 times a power of `base` (10 for seconds, 1024 then 10 for bytes). */
static double ms_plot_step(double max, int ticks, bool binary)
{
    double raw = max / ticks, unit = 1;
    if (raw <= 0)
        return 1;
    if (binary)
        while (unit * 1024 <= raw)
            unit *= 1024;
    double m = raw / unit, p = pow(10, floor(log10(m)));
    double f = m / p, nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    return nice * p * unit;
}

/* Bytes and seconds to the drawing's coordinates. */
struct ms_plot_axes {
    double xlo, xhi, pw, bottom, ytop, ph;
};

static double ms_plot_axes_x(const struct ms_plot_axes *a, double t)
{
    return MS_PLOT_LEFT + (t - a->xlo) / (a->xhi - a->xlo) * a->pw;
}

static double ms_plot_axes_y(const struct ms_plot_axes *a, double b)
{
    return a->bottom - b / a->ytop * a->ph;
}

/* A sampled series' 95% band: its values (on top of base, when given) +- their intervals, as a polygon, the
 * upper edge in time order, then the lower edge back. Light and behind the points, so that the line and the
 * snapshots' tooltips stay in front. */
static void ms_plot_band(FILE *out, const struct ms_plot *p, const struct ms_plot_axes *a, const uint64_t *base,
                         const uint64_t *v, const double *var, const char *style)
{
    double lo, hi;
    fprintf(out, "<polygon class=\"band\" %s pointer-events=\"none\" points=\"", style);
    for (size_t i = 0; i < p->n; i++) {
        ms_estimate_interval((double)v[i], var[i], &lo, &hi);
        fprintf(out, "%.2f,%.2f ", ms_plot_axes_x(a, p->x[i]), ms_plot_axes_y(a, (double)(base ? base[i] : 0) + hi));
    }
    for (size_t i = p->n; i-- > 0;) {
        ms_estimate_interval((double)v[i], var[i], &lo, &hi);
        fprintf(out, "%.2f,%.2f ", ms_plot_axes_x(a, p->x[i]), ms_plot_axes_y(a, (double)(base ? base[i] : 0) + lo));
    }
    fputs("\"/>\n", out);
}

void ms_plot_svg(FILE *out, const struct ms_plot *p, size_t shown, const struct ms_export_opts *o, bool exact, bool embed)
{
    static const char *const palette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                          "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
    const double pw = MS_PLOT_W - MS_PLOT_LEFT - MS_PLOT_RIGHT, ph = MS_PLOT_H - MS_PLOT_TOP - 50;
    const double bottom = MS_PLOT_TOP + ph;
    /* Sampled snapshots: the title, subtitle, legend and tooltips say the amounts are estimates, and each
     * series has its 95% band (a legend line more). */
    bool est = p->rates.sampled;
    const char *peak_word = est ? "estimated peak" : "peak";
    char phrase[256] = "", pm[80] = "";
    int height = MS_PLOT_H + (int)(shown + 1 + p->has_rss + est) * MS_PLOT_LEG + 10;
    double xmin = p->x[0], xmax = p->x[p->n - 1], ymax = 0, lo, hi;
    for (size_t i = 0; i < p->n; i++) {
        uint64_t stack = 0;
        for (size_t k = 0; k < shown; k++) {
            if (est) {
                ms_estimate_interval((double)p->series[k].v[i], p->series[k].var[i], &lo, &hi);
                ymax = fmax(ymax, (double)stack + hi);
            }
            stack += p->series[k].v[i];
        }
        ymax = fmax(ymax, fmax((double)stack, fmax((double)p->total[i], (double)p->rss[i])));
        if (est) {
            ms_estimate_interval((double)p->total[i], p->total_var[i], &lo, &hi);
            ymax = fmax(ymax, hi);
        }
    }
    /* The process peak between snapshots, when above every snapshot's total (live bytes only). */
    uint64_t ppeak = 0;
    size_t peak = ms_plot_peak(p);
    for (size_t i = 0; !o->allocated && i < p->n; i++)
        ppeak = p->snaps[i]->totals.peak_bytes > ppeak ? p->snaps[i]->totals.peak_bytes : ppeak;
    if (ppeak <= p->total[peak])
        ppeak = 0;
    ymax = fmax(ymax, (double)ppeak);
    double ystep = ms_plot_step(ymax, 5, true), xstep = ms_plot_step(xmax - xmin, 8, false);
    if (p->by_index && xstep < 1)
        xstep = 1;
    double ytop = ystep * ceil(ymax / ystep);
    if (ytop <= 0)
        ytop = ystep;
    double xlo = xstep * floor(xmin / xstep), xhi = xstep * ceil(xmax / xstep);
    if (xhi <= xlo)
        xhi = xlo + xstep;
    const struct ms_plot_axes axes = {xlo, xhi, pw, bottom, ytop, ph};
#define MS_PLOT_X(t) ms_plot_axes_x(&axes, (t))
#define MS_PLOT_Y(b) ms_plot_axes_y(&axes, (double)(b))
    if (embed) {
        fprintf(out, "<svg class=\"plot\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                "xmlns=\"http://www.w3.org/2000/svg\">\n", MS_PLOT_W, height, MS_PLOT_W, height);
    } else {
        fprintf(out,
                "<?xml version=\"1.0\" standalone=\"no\"?>\n"
                "<svg version=\"1.1\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                "xmlns=\"http://www.w3.org/2000/svg\">\n"
                "<style type=\"text/css\">text{font-family:Verdana,sans-serif;font-size:12px;fill:#222}"
                "#title{font-size:17px}.grid{stroke:#ddd;stroke-width:1}.axis{stroke:#444;stroke-width:1}</style>\n"
                "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n"
                "<text id=\"title\" x=\"%d\" y=\"24\" text-anchor=\"middle\">",
                MS_PLOT_W, height, MS_PLOT_W, height, MS_PLOT_W, height, MS_PLOT_W / 2);
        const char *title = o->allocated ? est ? "Allocated bytes over time (estimated)" : "Allocated bytes over time"
                                         : est ? "Live heap over time (estimated)" : "Live heap over time";
        ms_output_xml(out, o->title ? o->title : title);
        const char *exe = p->snaps[0]->exe && *p->snaps[0]->exe ? p->snaps[0]->exe : p->snaps[0]->path;
        if (est)
            ms_estimate_rate_phrase(phrase, sizeof phrase, &p->rates, exact);
        fprintf(out, "</text>\n<text id=\"subtitle\" x=\"%d\" y=\"42\" text-anchor=\"middle\"", MS_PLOT_W / 2);
        /* The rate makes the line longer than the picture is wide: squeezed to fit (about 7 px a character). */
        int chars = snprintf(NULL, 0, "%zu snapshots of %s: the process total and the %zu largest sites, %s", p->n,
                             exe, shown, phrase);
        if (est && chars * 7 > MS_PLOT_W - 20)
            fprintf(out, " textLength=\"%d\" lengthAdjust=\"spacingAndGlyphs\"", MS_PLOT_W - 20);
        fprintf(out, ">%zu snapshots of ", p->n);
        ms_output_xml(out, exe);
        fprintf(out, ": the process total and the %zu largest sites%s%s</text>\n", shown, est ? ", " : "",
                est ? phrase : "");
    }
    char buf[64];
    for (int i = 0; i * ystep <= ytop * (1 + 1e-9); i++) {
        double y = MS_PLOT_Y(i * ystep);
        fprintf(out, "<line class=\"grid\" x1=\"%d\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>"
                "<text class=\"ytick\" x=\"%d\" y=\"%.2f\" text-anchor=\"end\">%s</text>\n",
                MS_PLOT_LEFT, y, MS_PLOT_LEFT + pw, y, MS_PLOT_LEFT - 6, y + 4,
                ms_size_format(buf, sizeof buf, i * ystep, false, exact));
    }
    for (int i = 0; xlo + i * xstep <= xhi * (1 + 1e-9) + 1e-12; i++) {
        double t = xlo + i * xstep, x = MS_PLOT_X(t);
        fprintf(out, "<line class=\"grid\" x1=\"%.2f\" y1=\"%d\" x2=\"%.2f\" y2=\"%.2f\"/>"
                "<text class=\"xtick\" x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">%g</text>\n",
                x, MS_PLOT_TOP, x, bottom, x, bottom + 16, t);
    }
    fprintf(out, "<line class=\"axis\" x1=\"%d\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>"
            "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%.2f\"/>\n",
            MS_PLOT_LEFT, bottom, MS_PLOT_LEFT + pw, bottom, MS_PLOT_LEFT, MS_PLOT_TOP, MS_PLOT_LEFT, bottom);
    fprintf(out, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">%s</text>\n"
            "<text x=\"16\" y=\"%.2f\" text-anchor=\"middle\" transform=\"rotate(-90 16 %.2f)\">%s</text>\n",
            MS_PLOT_LEFT + pw / 2, bottom + 36, p->by_index ? "snapshot" : "time (s)", MS_PLOT_TOP + ph / 2,
            MS_PLOT_TOP + ph / 2, o->allocated ? "allocated" : "live");
    /* Stacked areas, largest site at the bottom. */
    uint64_t *base = calloc(p->n, sizeof *base);
    for (size_t k = 0; base && k < shown; k++) {
        const struct ms_plot_series *s = &p->series[k];
        fprintf(out, "<polygon class=\"site\" fill=\"%s\" fill-opacity=\"0.85\" points=\"", palette[k % 10]);
        for (size_t i = 0; i < p->n; i++)
            fprintf(out, "%.2f,%.2f ", MS_PLOT_X(p->x[i]), MS_PLOT_Y(base[i] + s->v[i]));
        for (size_t i = p->n; i-- > 0;)
            fprintf(out, "%.2f,%.2f ", MS_PLOT_X(p->x[i]), MS_PLOT_Y(base[i]));
        fputs("\"><title>", out);
        ms_output_xml(out, ms_strtab_get(p->strs, s->label));
        fprintf(out, " (%s %s%s)</title></polygon>\n", peak_word,
                ms_size_format(buf, sizeof buf, (double)s->peak, false, exact),
                est ? ms_estimate_pm(pm, sizeof pm, s->var[s->peak_at], true, exact) : "");
        for (size_t i = 0; i < p->n; i++)
            base[i] += s->v[i];
    }
    /* The sites' bands over all the areas, each on its area's upper edge: an area's thickness is the estimate. */
    if (base && est)
        memset(base, 0, p->n * sizeof *base);
    for (size_t k = 0; base && est && k < shown; k++) {
        char style[128]; /* a lighter stripe over the areas, edged in the site's colour */
        snprintf(style, sizeof style, "fill=\"#fff\" fill-opacity=\"0.4\" stroke=\"%s\" stroke-width=\"1\"",
                 palette[k % 10]);
        ms_plot_band(out, p, &axes, base, p->series[k].v, p->series[k].var, style);
        for (size_t i = 0; i < p->n; i++)
            base[i] += p->series[k].v[i];
    }
    free(base);
    if (p->has_rss) { /* the gap between RSS and the heap: allocator overhead, fragmentation, stacks, code */
        fputs("<polyline class=\"rss\" fill=\"none\" stroke=\"#7f7f7f\" stroke-width=\"2\" stroke-dasharray=\"6 3\" "
              "points=\"", out);
        for (size_t i = 0; i < p->n; i++)
            if (p->rss[i])
                fprintf(out, "%.2f,%.2f ", MS_PLOT_X(p->x[i]), MS_PLOT_Y(p->rss[i]));
        fputs("\"/>\n", out);
    }
    if (est)
        ms_plot_band(out, p, &axes, NULL, p->total, p->total_var, "fill=\"#111\" fill-opacity=\"0.15\"");
    fputs("<polyline id=\"total\" fill=\"none\" stroke=\"#111\" stroke-width=\"2\" points=\"", out);
    for (size_t i = 0; i < p->n; i++)
        fprintf(out, "%.2f,%.2f ", MS_PLOT_X(p->x[i]), MS_PLOT_Y(p->total[i]));
    fputs("\"/>\n", out);
    if (ppeak) {
        fprintf(out, "<line class=\"ppeak\" x1=\"%d\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#d62728\" "
                "stroke-dasharray=\"4 3\"/><text class=\"ppeak\" x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\" "
                "fill=\"#d62728\">%sprocess peak %s (between snapshots)</text>\n",
                MS_PLOT_LEFT, MS_PLOT_Y(ppeak), MS_PLOT_LEFT + pw, MS_PLOT_Y(ppeak), MS_PLOT_LEFT + pw - 4,
                MS_PLOT_Y(ppeak) - 4, est ? "estimated " : "", ms_size_format(buf, sizeof buf, (double)ppeak, false, exact));
    }
    /* The snapshots ("moments": the report opens one on a click) and the largest of them, marked. */
    for (size_t i = 0; i < p->n; i++)
        fprintf(out, "<circle class=\"moment\" data-i=\"%zu\" cx=\"%.2f\" cy=\"%.2f\" r=\"%d\" fill=\"#111\">"
                "<title>%s%g%s: %s%s</title></circle>\n", i, MS_PLOT_X(p->x[i]), MS_PLOT_Y(p->total[i]),
                embed ? 5 : 3, p->by_index ? "#" : "", p->x[i], p->by_index ? "" : " s",
                ms_size_format(buf, sizeof buf, (double)p->total[i], false, exact),
                est ? ms_estimate_pm(pm, sizeof pm, p->total_var[i], true, exact) : "");
    char peak_label[256];
    int at = snprintf(peak_label, sizeof peak_label, "%s %s%s", peak_word,
                      ms_size_format(buf, sizeof buf, (double)p->total[peak], false, exact),
                      est ? ms_estimate_pm(pm, sizeof pm, p->total_var[peak], true, exact) : "");
    if (peak == p->peak_snap && p->process_peak && at > 0 && (size_t)at < sizeof peak_label) /* MEMSNAP_PEAK's */
        snprintf(peak_label + at, sizeof peak_label - (size_t)at, " (peak snapshot, %.1f%% of the process peak)",
                 100.0 * (double)p->total[peak] / (double)p->process_peak);
    /* A sampled peak's longer label, centred on a peak near the right edge, would be cut: it ends there. */
    double lx = MS_PLOT_X(p->x[peak]);
    bool right = est && lx + 3.5 * (double)strlen(peak_label) > MS_PLOT_W - 4;
    fprintf(out, "<circle class=\"peak\" cx=\"%.2f\" cy=\"%.2f\" r=\"8\" fill=\"none\" stroke=\"#d62728\" "
            "stroke-width=\"2\" pointer-events=\"none\"/><text class=\"peak\" x=\"%.2f\" y=\"%.2f\" "
            "text-anchor=\"%s\" fill=\"#d62728\">%s</text>\n",
            lx, MS_PLOT_Y(p->total[peak]), right ? MS_PLOT_W - 4.0 : lx, MS_PLOT_Y(p->total[peak]) - 12,
            right ? "end" : "middle", peak_label);
    /* The legend: total first (and the bands), then the sites; labels lose their directories (the full key
     * is the title). */
    double ly = MS_PLOT_H + 4;
    fprintf(out, "<g class=\"legend\"><line x1=\"%d\" y1=\"%.2f\" x2=\"%d\" y2=\"%.2f\" stroke=\"#111\" "
            "stroke-width=\"2\"/><text x=\"%d\" y=\"%.2f\">process total (%s %s%s)</text></g>\n",
            MS_PLOT_LEFT, ly - 4, MS_PLOT_LEFT + 14, ly - 4, MS_PLOT_LEFT + 20, ly, peak_word,
            ms_size_format(buf, sizeof buf, (double)p->total[peak], false, exact),
            est ? ms_estimate_pm(pm, sizeof pm, p->total_var[peak], true, exact) : "");
    if (est) {
        ly += MS_PLOT_LEG;
        fprintf(out, "<g class=\"legend\"><rect x=\"%d\" y=\"%.2f\" width=\"14\" height=\"10\" fill=\"#111\" "
                "fill-opacity=\"0.15\"/><text x=\"%d\" y=\"%.2f\">95%% interval (estimate \u00b1 1.96 standard errors; "
                "each site's: a light stripe edged in its colour at its area's top)</text></g>\n",
                MS_PLOT_LEFT, ly - 10, MS_PLOT_LEFT + 20, ly);
    }
    if (p->has_rss) {
        uint64_t rpeak = 0;
        for (size_t i = 0; i < p->n; i++)
            rpeak = p->rss[i] > rpeak ? p->rss[i] : rpeak;
        ly += MS_PLOT_LEG;
        fprintf(out, "<g class=\"legend\"><line x1=\"%d\" y1=\"%.2f\" x2=\"%d\" y2=\"%.2f\" stroke=\"#7f7f7f\" "
                "stroke-width=\"2\" stroke-dasharray=\"6 3\"/><text x=\"%d\" y=\"%.2f\">resident set, RSS (peak %s; "
                "above the heap: allocator overhead, fragmentation, stacks, code)</text></g>\n",
                MS_PLOT_LEFT, ly - 4, MS_PLOT_LEFT + 14, ly - 4, MS_PLOT_LEFT + 20, ly,
                ms_size_format(buf, sizeof buf, (double)rpeak, false, exact));
    }
    for (size_t k = 0; k < shown; k++) {
        const char *label = ms_strtab_get(p->strs, p->series[k].label), *slash = strrchr(label, '/');
        ly += MS_PLOT_LEG;
        fprintf(out, "<g class=\"legend\"><title>");
        ms_output_xml(out, label);
        fprintf(out, "</title><rect x=\"%d\" y=\"%.2f\" width=\"14\" height=\"10\" fill=\"%s\"/><text x=\"%d\" "
                "y=\"%.2f\">", MS_PLOT_LEFT, ly - 10, palette[k % 10], MS_PLOT_LEFT + 20, ly);
        ms_output_xml(out, slash ? slash + 1 : label);
        fprintf(out, " (%s %s%s)</text></g>\n", peak_word,
                ms_size_format(buf, sizeof buf, (double)p->series[k].peak, false, exact),
                est ? ms_estimate_pm(pm, sizeof pm, p->series[k].var[p->series[k].peak_at], true, exact) : "");
    }
    fputs("</svg>\n", out);
#undef MS_PLOT_X
#undef MS_PLOT_Y
}

size_t ms_plot_peak(const struct ms_plot *p)
{
    size_t peak = 0;
    for (size_t i = 1; i < p->n; i++)
        if (p->total[i] > p->total[peak])
            peak = i;
    return peak;
}

void ms_plot_sparkline(FILE *out, const uint64_t *v, size_t n, int w, int h)
{
    uint64_t max = 0;
    for (size_t i = 0; i < n; i++)
        max = v[i] > max ? v[i] : max;
    fprintf(out, "<svg class=\"spark\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            "xmlns=\"http://www.w3.org/2000/svg\"><polyline fill=\"none\" stroke=\"#4e79a7\" stroke-width=\"1.5\" "
            "points=\"", w, h, w, h);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%.1f,%.1f ", n > 1 ? 1 + (double)i * (w - 2) / (double)(n - 1) : w / 2.0,
                h - 1 - (max ? (double)v[i] / (double)max * (h - 2) : 0));
    fputs("\"/></svg>", out);
}

void ms_plot_size_classes(FILE *out, const struct ms_snap *s, bool exact)
{
    if (!s->has_memory)
        return;
    unsigned lo = MS_FMT_SIZE_CLASSES, hi = 0;
    uint64_t max = 0;
    for (unsigned k = 0; k < MS_FMT_SIZE_CLASSES; k++)
        if (s->memory.class_count[k]) {
            lo = k < lo ? k : lo;
            hi = k;
            max = s->memory.class_count[k] > max ? s->memory.class_count[k] : max;
        }
    if (!max)
        return;
    const int bw = 44, h = 120, top = 14, left = 10;
    int w = left * 2 + (int)(hi - lo + 1) * bw;
    char a[64], b[64], c[64];
    fprintf(out, "<svg class=\"sizes\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            "xmlns=\"http://www.w3.org/2000/svg\">\n", w, h + top + 34, w, h + top + 34);
    for (unsigned k = lo; k <= hi; k++) {
        uint64_t n = s->memory.class_count[k], min = k ? UINT64_C(1) << (k - 1) : 0;
        double bh = (double)n / (double)max * h, x = left + (double)(k - lo) * bw;
        char range[140];
        ms_size_format(a, sizeof a, (double)min, false, true);
        if (k == MS_FMT_SIZE_CLASSES - 1)
            snprintf(range, sizeof range, "%s and more", a);
        else
            snprintf(range, sizeof range, "%s to %s", a,
                     ms_size_format(c, sizeof c, (double)(k ? 2 * min - 1 : 0), false, true));
        fprintf(out, "<g><title>%s: %llu live blocks, %s</title><rect x=\"%.1f\" y=\"%.1f\" width=\"%d\" "
                "height=\"%.1f\" fill=\"#4e79a7\"/>", range, (unsigned long long)n,
                ms_size_format(b, sizeof b, (double)s->memory.class_bytes[k], false, exact), x + 2, top + h - bh,
                bw - 4, bh);
        fprintf(out, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" font-size=\"10\">%llu</text>"
                "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" font-size=\"10\">%s</text></g>\n",
                x + bw / 2.0, top + h - (int)bh - 3, (unsigned long long)n, x + bw / 2.0, top + h + 14,
                ms_size_format(c, sizeof c, (double)min, false, exact));
    }
    fputs("</svg>\n", out);
}

enum ms_status ms_plot_build(struct ms_symbolizer *sym, struct ms_snap **snaps, size_t n, const struct ms_cli *cli,
                             bool allocated, struct ms_plot *p, struct ms_error *err)
{
    enum ms_status r = MS_OK;
    memset(p, 0, sizeof *p);
    p->snaps = snaps;
    p->n = n;
    p->peak_snap = n;
    p->x = calloc(p->n, sizeof *p->x);
    p->total = calloc(p->n, sizeof *p->total);
    p->total_var = calloc(p->n, sizeof *p->total_var);
    p->rss = calloc(p->n, sizeof *p->rss);
    p->index = ms_map_new();
    if (!p->x || !p->total || !p->total_var || !p->rss || !p->index)
        return ms_error_set(err, MS_NOMEM, "out of memory");
    p->strs = ms_symbolize_strtab(sym);
    ms_plot_times(p);
    struct ms_group_opts go = {cli->by, false, cli->include, cli->exclude, cli->all_frames};
    for (size_t i = 0; i < p->n; i++) {
        struct ms_groups g;
        p->total[i] = allocated ? p->snaps[i]->totals.alloc_bytes : p->snaps[i]->totals.current_bytes;
        p->total_var[i] = ms_estimate_total_var(p->snaps[i], allocated);
        p->rss[i] = p->snaps[i]->has_memory && !allocated ? p->snaps[i]->memory.rss_bytes : 0;
        p->has_rss |= p->rss[i] != 0;
        if (p->snaps[i]->has_info && p->snaps[i]->info.trigger == MS_FMT_TRIGGER_PEAK)
            p->peak_snap = i;
        ms_estimate_rates_add(&p->rates, p->snaps[i]);
        if (p->snaps[i]->totals.peak_bytes > p->process_peak)
            p->process_peak = p->snaps[i]->totals.peak_bytes;
        if ((r = ms_group_snap(sym, p->snaps[i], &go, &g, err)) != MS_OK)
            return r;
        for (size_t j = 0; j < g.count && r == MS_OK; j++) {
            const struct ms_group_row *row = &g.rows[j];
            uint64_t v = allocated ? row->alloc_bytes : row->size;
            if (v)
                r = ms_plot_add(p, i, row->label, v, allocated ? row->alloc_bytes_var : row->size_var, err);
        }
        ms_group_free(&g);
        if (r != MS_OK)
            return r;
    }
    ms_plot_sort_strs = p->strs;
    if (p->nseries)
        qsort(p->series, p->nseries, sizeof *p->series, ms_plot_series_cmp);
    return MS_OK;
}

void ms_plot_free(struct ms_plot *p)
{
    for (size_t i = 0; i < p->nseries; i++) {
        free(p->series[i].v);
        free(p->series[i].var);
    }
    free(p->series);
    free(p->x);
    free(p->total);
    free(p->total_var);
    free(p->rss);
    ms_map_free(p->index);
}

enum ms_status ms_plot_main(const struct ms_cli *cli, const struct ms_export_opts *o, struct ms_error *err)
{
    struct ms_plot p = {0};
    struct ms_snap **snaps = NULL;
    struct ms_symbolizer *sym = NULL;
    struct ms_export_out out = {0};
    enum ms_status r;
    if (cli->input_count < 2)
        return ms_error_set(err, MS_USAGE, "plot takes two or more snapshots (a series, e.g. from MEMSNAP_INTERVAL)");
    if (o->count)
        return ms_error_set(err, MS_USAGE, "plot draws bytes; --count does not apply");
    if (cli->by == MS_BY_STACK)
        return ms_error_set(err, MS_USAGE, "plot takes --by line, function or file");
    if ((r = ms_export_open(o, &out, err)) != MS_OK || (r = ms_output_load(cli, &snaps, err)) != MS_OK ||
        (r = ms_symbolize_new(&cli->sym, &sym, err)) != MS_OK ||
        (r = ms_plot_build(sym, snaps, (size_t)cli->input_count, cli, o->allocated, &p, err)) != MS_OK)
        goto out;
    size_t shown = cli->limit < 0 || (size_t)cli->limit > p.nseries ? p.nseries : (size_t)cli->limit;
    ms_plot_svg(out.f, &p, shown, o, cli->bytes, false);
out:
    r = ms_export_close(&out, r, err);
    ms_plot_free(&p);
    ms_symbolize_free(sym);
    if (snaps)
        ms_output_unload(cli, snaps);
    return r;
}
