/* --benchmark-histogram: one SVG box plot per group (whiskers at ld15iqr/hd15iqr, box q1..q3, median line,
 * mean dot), no plotting library needed. */
#include "harness.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void ms_histogram_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* A round step (1, 2 or 5 times a power of ten) for about five intervals over range. */
static double ms_histogram_step(double range)
{
    double raw = range / 5, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

/* v rounded to the step's precision, so that a label reads 0.3 and not 0.30000000000000004. */
static double ms_histogram_round(double v, double step)
{
    double unit = pow(10, floor(log10(step)) - 1);
    return round(v / unit) * unit;
}

static int ms_histogram_group(const char *prefix, const char *key, struct ms_result *const *rows, size_t n,
                              FILE *log, struct ms_error *err)
{
    char safe[256], path[4096];
    snprintf(safe, sizeof safe, "%s", key ? key : "default");
    for (char *p = safe; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == '_' || *p == '.')) {
            *p = '_';
        }
    }
    snprintf(path, sizeof path, "%s-%s.svg", prefix, safe);
    FILE *f = fopen(path, "w");
    if (!f) {
        int e = errno;
        return ms_error_set(err, -e, "%s: cannot write: %s", path, strerror(e));
    }
    /* The axis spans the whiskers and every mean (a mean dragged by outliers can lie past the upper
     * whisker), widened to round tick values. */
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        lo = fmin(lo, fmin(rows[i]->stats.ld15iqr, rows[i]->stats.mean));
        hi = fmax(hi, fmax(rows[i]->stats.hd15iqr, rows[i]->stats.mean));
    }
    if (!(hi > lo)) {
        hi = lo + (lo > 0 ? lo * 0.1 : 1e-9);
    }
    double scale;
    const char *unit = ms_table_time_unit(lo > 0 ? lo : hi, &scale);
    double step = ms_histogram_step((hi - lo) * scale) / scale;
    lo = floor(lo / step + 1e-9) * step;
    hi = ceil(hi / step - 1e-9) * step;
    const int left = 260, plot_w = 600, row_h = 36, top = 40;
    int bottom = top + (int)n * row_h;
    int height = bottom + 70;
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
            "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
            "<text x=\"10\" y=\"22\" font-size=\"15\">",
            left + plot_w + 40, height);
    ms_histogram_escape(f, key ? key : "benchmarks");
    fprintf(f, " (time in %ss)</text>\n", unit);
#define MS_X(v) (left + fmin(fmax(((v) - lo) / (hi - lo), 0.0), 1.0) * plot_w)
    for (int t = 0; lo + step * t <= hi + step * 1e-6; t++) {
        double v = lo + step * t;
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>\n"
                "<text class=\"tick\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.10g</text>\n",
                MS_X(v), top - 5, MS_X(v), bottom, MS_X(v), bottom + 18, ms_histogram_round(v * scale, step * scale));
    }
    for (size_t i = 0; i < n; i++) {
        const struct memsnap_bench_stats *s = &rows[i]->stats;
        int y = top + (int)i * row_h + row_h / 2;
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", left - 10, y + 4);
        ms_histogram_escape(f, rows[i]->name);
        if (rows[i]->source) {
            fputs(" (", f);
            ms_histogram_escape(f, rows[i]->source);
            fputs(")", f);
        }
        fprintf(f, "</text>\n");
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"black\"/>\n", MS_X(s->ld15iqr), y,
                MS_X(s->hd15iqr), y);
        fprintf(f, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"#9cc3e6\" stroke=\"black\"/>\n",
                MS_X(s->q1), y - row_h / 3, fmax(1.0, MS_X(s->q3) - MS_X(s->q1)), 2 * (row_h / 3));
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"black\" stroke-width=\"2\"/>\n",
                MS_X(s->median), y - row_h / 3, MS_X(s->median), y + row_h / 3);
        fprintf(f, "<circle class=\"mean\" cx=\"%.1f\" cy=\"%d\" r=\"3\" fill=\"#c0392b\"/>\n", MS_X(s->mean), y);
    }
    /* legend */
    int ly = bottom + 45;
    fprintf(f,
            "<g class=\"legend\">\n"
            "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>"
            "<text x=\"%d\" y=\"%d\">whiskers: 1.5 IQR</text>\n"
            "<rect x=\"%d\" y=\"%d\" width=\"20\" height=\"12\" fill=\"#9cc3e6\" stroke=\"black\"/>"
            "<text x=\"%d\" y=\"%d\">Q1..Q3</text>\n"
            "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\" stroke-width=\"2\"/>"
            "<text x=\"%d\" y=\"%d\">median</text>\n"
            "<circle cx=\"%d\" cy=\"%d\" r=\"3\" fill=\"#c0392b\"/><text x=\"%d\" y=\"%d\">mean</text>\n</g>\n",
            left, ly, left + 20, ly, left + 26, ly + 4, left + 150, ly - 6, left + 176, ly + 4, left + 260, ly - 7,
            left + 260, ly + 7, left + 268, ly + 4, left + 350, ly, left + 358, ly + 4);
#undef MS_X
    fprintf(f, "</svg>\n");
    if (fclose(f) != 0) {
        int e = errno;
        return ms_error_set(err, -e, "%s: cannot write: %s", path, strerror(e));
    }
    if (log) {
        fprintf(log, "Generated histogram: %s\n", path);
    }
    return 0;
}

enum ms_status ms_histogram_write(const char *prefix, struct ms_result *const *rows, size_t n, const char *group_by, FILE *log,
                       struct ms_error *err)
{
    char **keys = calloc(n ? n : 1, sizeof *keys);
    struct ms_result **members = calloc(n ? n : 1, sizeof *members);
    char *done = calloc(n ? n : 1, 1);
    int rc = keys && members && done ? 0 : ms_error_set(err, -ENOMEM, "histogram: out of memory");
    for (size_t i = 0; !rc && i < n; i++) {
        keys[i] = ms_table_group_key(rows[i], group_by);
    }
    for (size_t i = 0; !rc && i < n; i++) {
        if (done[i]) {
            continue;
        }
        size_t m = 0;
        for (size_t j = i; j < n; j++) {
            if (!done[j] && strcmp(keys[i] ? keys[i] : "", keys[j] ? keys[j] : "") == 0) {
                members[m++] = rows[j];
                done[j] = 1;
            }
        }
        rc = ms_histogram_group(prefix, keys[i], members, m, log, err);
    }
    for (size_t i = 0; keys && i < n; i++) {
        free(keys[i]);
    }
    free(keys);
    free(members);
    free(done);
    return rc;
}
