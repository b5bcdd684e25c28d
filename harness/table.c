/* The result table, laid out as pytest-benchmark's TableResults prints it. */
#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { MS_TABLE_CELL = 64 };

const char *ms_table_time_unit(double seconds, double *scale)
{
    if (seconds < 1e-6) {
        *scale = 1e9;
        return "n";
    }
    if (seconds < 1e-3) {
        *scale = 1e6;
        return "u";
    }
    if (seconds < 1) {
        *scale = 1e3;
        return "m";
    }
    *scale = 1;
    return "";
}

static const char *ms_table_ops_unit(double ops, double *scale)
{
    if (ops > 1e6) {
        *scale = 1e-6;
        return "M";
    }
    if (ops > 1e3) {
        *scale = 1e-3;
        return "K";
    }
    *scale = 1;
    return "";
}

/* Python's '{:,.Nf}'. */
static void ms_table_number(double v, int decimals, char *out, size_t len)
{
    if (isnan(v) || isinf(v)) {
        snprintf(out, len, "%s", isnan(v) ? "nan" : (v < 0 ? "-inf" : "inf"));
        return;
    }
    char raw[MS_TABLE_CELL];
    snprintf(raw, sizeof raw, "%.*f", decimals, fabs(v));
    const char *dot = strchr(raw, '.');
    size_t intlen = dot ? (size_t)(dot - raw) : strlen(raw);
    size_t o = 0;
    if (v < 0 && o + 1 < len) {
        out[o++] = '-';
    }
    for (size_t i = 0; i < intlen && o + 1 < len; i++) {
        if (i && (intlen - i) % 3 == 0 && o + 1 < len) {
            out[o++] = ',';
        }
        out[o++] = raw[i];
    }
    for (const char *p = raw + intlen; *p && o + 1 < len; p++) {
        out[o++] = *p;
    }
    out[o] = 0;
}

static void ms_table_ratio(double best, double value, int width, char *out, size_t len)
{
    char s[MS_TABLE_CELL];
    if (!width) {
        out[0] = 0;
        return;
    }
    if (value == best) {
        snprintf(s, sizeof s, " (1.0)");
    } else {
        double scale = best != 0 ? fabs(value / best) : INFINITY;
        if (isinf(scale)) {
            snprintf(s, sizeof s, " (inf)");
        } else if (scale > 1000) {
            snprintf(s, sizeof s, " (>1000.0)");
        } else {
            snprintf(s, sizeof s, " (%.2f)", scale);
        }
    }
    snprintf(out, len, "%-*s", width, s);
}

char *ms_table_group_key(const struct ms_result *r, const char *group_by)
{
    char key[1024] = "", list[256];
    snprintf(list, sizeof list, "%s", group_by);
    for (char *save = NULL, *g = strtok_r(list, ",", &save); g; g = strtok_r(NULL, ",", &save)) {
        char part[512] = "";
        if (strcmp(g, "group") == 0) {
            snprintf(part, sizeof part, "%s", r->group ? r->group : "");
        } else if (strcmp(g, "name") == 0 || strcmp(g, "func") == 0) {
            snprintf(part, sizeof part, "%s", r->name);
        } else if (strcmp(g, "fullname") == 0 || strcmp(g, "fullfunc") == 0) {
            snprintf(part, sizeof part, "%s", r->fullname);
        } else if (strcmp(g, "param") == 0) {
            snprintf(part, sizeof part, "%s", r->param ? r->param : "");
        } else if (strncmp(g, "param:", 6) == 0) {
            json_t *v = r->params ? json_object_get(r->params, g + 6) : NULL;
            char *text = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;
            if (text && json_is_string(v)) {
                snprintf(part, sizeof part, "%s=%s", g + 6, json_string_value(v));
            } else {
                snprintf(part, sizeof part, "%s=%s", g + 6, text ? text : "None");
            }
            free(text);
        }
        if (strcmp(g, "func") == 0 || strcmp(g, "fullfunc") == 0) {
            part[strcspn(part, "[")] = 0;
        }
        if (part[0]) {
            size_t used = strlen(key);
            snprintf(key + used, sizeof key - used, "%s%s", used ? " " : "", part);
        }
    }
    return key[0] ? strdup(key) : NULL;
}

struct ms_table_row {
    const struct ms_result *r;
    char *key;
    char label[512];
    size_t order;
};

static const char *ms_table_sort_by;

static double ms_table_sort_value(const struct ms_result *r)
{
    return ms_result_field(&r->stats, ms_table_sort_by);
}

static int ms_table_cmp(const void *a, const void *b)
{
    const struct ms_table_row *x = a, *y = b;
    int c = strcmp(x->key ? x->key : "", y->key ? y->key : "");
    if (c) {
        return c;
    }
    if (strcmp(ms_table_sort_by, "name") == 0 || strcmp(ms_table_sort_by, "fullname") == 0) {
        c = strcmp(strcmp(ms_table_sort_by, "name") == 0 ? x->r->name : x->r->fullname,
                   strcmp(ms_table_sort_by, "name") == 0 ? y->r->name : y->r->fullname);
    } else {
        double vx = ms_table_sort_value(x->r), vy = ms_table_sort_value(y->r);
        c = (vx > vy) - (vx < vy);
    }
    return c ? c : (x->order > y->order) - (x->order < y->order);
}

static int ms_table_name_cmp(const void *a, const void *b)
{
    const struct ms_table_row *x = a, *y = b;
    int c = strcmp(x->r->name, y->r->name);
    if (c) {
        return c;
    }
    return (x->order > y->order) - (x->order < y->order);
}

enum ms_table_kind { MS_COL_TIME, MS_COL_OPS, MS_COL_TEXT, MS_COL_COUNT };

struct ms_table_col {
    const char *key;
    const char *label;
    enum ms_table_kind kind;
};

static const struct ms_table_col ms_table_cols[] = {
    {"min", "Min", MS_COL_TIME},
    {"max", "Max", MS_COL_TIME},
    {"mean", "Mean", MS_COL_TIME},
    {"stddev", "StdDev", MS_COL_TIME},
    {"median", "Median", MS_COL_TIME},
    {"iqr", "IQR", MS_COL_TIME},
    {"p95", "P95", MS_COL_TIME},
    {"p99", "P99", MS_COL_TIME},
    {"outliers", "Outliers", MS_COL_TEXT},
    {"ops", "OPS", MS_COL_OPS},
    {"rounds", "Rounds", MS_COL_TEXT},
    {"iterations", "Iterations", MS_COL_TEXT},
    {"allocs", "Allocs/op", MS_COL_COUNT},
    {"bytes", "Bytes/op", MS_COL_COUNT},
    {"instructions", "Instr/op", MS_COL_COUNT},
    {"cycles", "Cycles/op", MS_COL_COUNT},
};

static const struct ms_table_col *ms_table_col(const char *key)
{
    for (size_t i = 0; i < sizeof ms_table_cols / sizeof ms_table_cols[0]; i++) {
        if (strcmp(ms_table_cols[i].key, key) == 0) {
            return &ms_table_cols[i];
        }
    }
    return NULL;
}

static void ms_table_text(const struct ms_result *r, const char *key, char *out, size_t len)
{
    const struct memsnap_bench_stats *s = &r->stats;
    if (strcmp(key, "outliers") == 0) {
        snprintf(out, len, "%zu;%zu", s->stddev_outliers, s->iqr_outliers);
    } else if (strcmp(key, "rounds") == 0) {
        snprintf(out, len, "%zu", s->rounds);
    } else if (strcmp(key, "iterations") == 0) {
        snprintf(out, len, "%llu", (unsigned long long)s->iterations);
    } else {
        double v = NAN;
        if (strcmp(key, "allocs") == 0 && s->has_allocs) {
            v = s->allocs_per_op;
        } else if (strcmp(key, "bytes") == 0 && s->has_allocs) {
            v = s->alloc_bytes_per_op;
        } else if (strcmp(key, "instructions") == 0 && s->has_counters) {
            v = s->instructions_per_op;
        } else if (strcmp(key, "cycles") == 0 && s->has_counters) {
            v = s->cycles_per_op;
        }
        if (isnan(v)) {
            snprintf(out, len, "-");
        } else {
            ms_table_number(v, 1, out, len);
        }
    }
}

static void ms_table_rule(FILE *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        fputc('-', out);
    }
    fputc('\n', out);
}

static void ms_table_group(FILE *out, const char *key, struct ms_table_row *rows, size_t n,
                           const struct ms_options *o)
{
    const char *cols[MS_OPTIONS_MAX_COLUMNS + 4];
    size_t ncols = 0;
    if (o->ncolumns) {
        for (size_t i = 0; i < o->ncolumns; i++) {
            cols[ncols++] = o->columns[i];
        }
    } else {
        static const char *defaults[] = {"min",      "max", "mean",   "stddev",    "median",
                                         "iqr",      "outliers", "ops", "rounds", "iterations"};
        for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
            cols[ncols++] = defaults[i];
        }
        int allocs = 0, counters = 0;
        for (size_t i = 0; i < n; i++) {
            allocs |= rows[i].r->stats.has_allocs;
            counters |= rows[i].r->stats.has_counters;
        }
        if (allocs) {
            cols[ncols++] = "allocs";
            cols[ncols++] = "bytes";
        }
        if (counters) {
            cols[ncols++] = "instructions";
            cols[ncols++] = "cycles";
        }
    }
    int solo = n == 1;
    /* best/worst per time column and ops */
    double best[MS_OPTIONS_MAX_COLUMNS + 4], worst[MS_OPTIONS_MAX_COLUMNS + 4];
    for (size_t c = 0; c < ncols; c++) {
        const struct ms_table_col *col = ms_table_col(cols[c]);
        for (size_t i = 0; i < n; i++) {
            double v = ms_result_field(&rows[i].r->stats, col->key);
            if (i == 0 || (col->kind == MS_COL_OPS ? v > best[c] : v < best[c])) {
                best[c] = v;
            }
            if (i == 0 || (col->kind == MS_COL_OPS ? v < worst[c] : v > worst[c])) {
                worst[c] = v;
            }
        }
    }
    const char *unit_key = strcmp(o->sort, "name") == 0 || strcmp(o->sort, "fullname") == 0 ? NULL : o->sort;
    double unit_base = unit_key ? ms_result_field(&rows[0].r->stats, unit_key) : rows[0].r->stats.min;
    for (size_t i = 0; unit_key && i < n; i++) {
        unit_base = fmin(unit_base, ms_result_field(&rows[i].r->stats, unit_key));
    }
    double scale, ops_scale, min_ops = rows[0].r->stats.ops;
    const char *unit = ms_table_time_unit(unit_base, &scale);
    for (size_t i = 0; i < n; i++) {
        min_ops = fmin(min_ops, rows[i].r->stats.ops);
    }
    const char *ops_unit = ms_table_ops_unit(min_ops, &ops_scale);

    char name_label[64], ops_label[64];
    snprintf(name_label, sizeof name_label, "Name (time in %ss)", unit);
    if (*ops_unit) {
        snprintf(ops_label, sizeof ops_label, "OPS (%sops/s)", ops_unit);
    } else {
        snprintf(ops_label, sizeof ops_label, "OPS");
    }
    size_t name_w = strlen(name_label);
    for (size_t i = 0; i < n; i++) {
        name_w = strlen(rows[i].label) > name_w ? strlen(rows[i].label) : name_w;
    }
    name_w += 3;
    int rpad = solo ? 0 : 10;
    size_t widths[MS_OPTIONS_MAX_COLUMNS + 4];
    size_t line_len = name_w;
    char cell[MS_TABLE_CELL];
    for (size_t c = 0; c < ncols; c++) {
        const struct ms_table_col *col = ms_table_col(cols[c]);
        const char *label = col->kind == MS_COL_OPS ? ops_label : col->label;
        size_t w = strlen(label);
        for (size_t i = 0; i < n; i++) {
            if (col->kind == MS_COL_TIME) {
                ms_table_number(ms_result_field(&rows[i].r->stats, col->key) * scale, 4, cell, sizeof cell);
            } else if (col->kind == MS_COL_OPS) {
                ms_table_number(best[c] * ops_scale, 4, cell, sizeof cell);
            } else {
                ms_table_text(rows[i].r, col->key, cell, sizeof cell);
            }
            w = strlen(cell) > w ? strlen(cell) : w;
        }
        widths[c] = w + 2;
        line_len += widths[c] + (col->kind == MS_COL_TIME || col->kind == MS_COL_OPS ? (size_t)rpad : 0);
    }

    char title[600];
    if (key) {
        snprintf(title, sizeof title, " benchmark '%s': %zu tests ", key, n);
    } else {
        snprintf(title, sizeof title, " benchmark: %zu tests ", n);
    }
    /* Python's str.center puts the odd dash on the left when the total width is odd. */
    size_t tlen = strlen(title);
    size_t total_pad = line_len > tlen ? line_len - tlen : 0;
    size_t left = total_pad / 2 + (total_pad & line_len & 1);
    for (size_t i = 0; i < left; i++) {
        fputc('-', out);
    }
    fputs(title, out);
    for (size_t i = left; i < total_pad; i++) {
        fputc('-', out);
    }
    fputc('\n', out);
    fprintf(out, "%-*s", (int)name_w, name_label);
    for (size_t c = 0; c < ncols; c++) {
        const struct ms_table_col *col = ms_table_col(cols[c]);
        const char *label = col->kind == MS_COL_OPS ? ops_label : col->label;
        int padded = col->kind == MS_COL_TIME || col->kind == MS_COL_OPS;
        fprintf(out, "%*s%*s", (int)widths[c], label, padded ? rpad : 0, "");
    }
    fputc('\n', out);
    ms_table_rule(out, line_len);
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "%-*s", (int)name_w, rows[i].label);
        for (size_t c = 0; c < ncols; c++) {
            const struct ms_table_col *col = ms_table_col(cols[c]);
            char ratio[MS_TABLE_CELL];
            if (col->kind == MS_COL_TIME || col->kind == MS_COL_OPS) {
                double v = ms_result_field(&rows[i].r->stats, col->key);
                ms_table_number(v * (col->kind == MS_COL_TIME ? scale : ops_scale), 4, cell, sizeof cell);
                ms_table_ratio(best[c], v, rpad, ratio, sizeof ratio);
                fprintf(out, "%*s%s", (int)widths[c], cell, ratio);
            } else {
                ms_table_text(rows[i].r, col->key, cell, sizeof cell);
                fprintf(out, "%*s", (int)widths[c], cell);
            }
        }
        fputc('\n', out);
    }
    ms_table_rule(out, line_len);
    fputc('\n', out);
    (void)worst;
}

void ms_table_print(FILE *out, struct ms_result *const *results, size_t n, const struct ms_options *o)
{
    if (n == 0) {
        return;
    }
    struct ms_table_row *rows = calloc(n, sizeof *rows);
    if (!rows) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        rows[i].r = results[i];
        rows[i].key = ms_table_group_key(results[i], o->group_by);
        if (results[i]->source) {
            snprintf(rows[i].label, sizeof rows[i].label, "%s (%s)", results[i]->name, results[i]->source);
        } else {
            snprintf(rows[i].label, sizeof rows[i].label, "%s", results[i]->name);
        }
        rows[i].order = i;
    }
    /* pytest-benchmark sorts each group by name, then (stably) by the sort column. */
    qsort(rows, n, sizeof *rows, ms_table_name_cmp);
    for (size_t i = 0; i < n; i++) {
        rows[i].order = i;
    }
    ms_table_sort_by = o->sort;
    qsort(rows, n, sizeof *rows, ms_table_cmp);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && strcmp(rows[j].key ? rows[j].key : "", rows[i].key ? rows[i].key : "") == 0) {
            j++;
        }
        ms_table_group(out, rows[i].key, rows + i, j - i, o);
        i = j;
    }
    fputs("Legend:\n"
          "  Outliers: 1 Standard Deviation from Mean; 1.5 IQR (InterQuartile Range) from 1st Quartile and 3rd "
          "Quartile.\n"
          "  OPS: Operations Per Second, computed as 1 / Mean\n",
          out);
    for (size_t i = 0; i < n; i++) {
        free(rows[i].key);
    }
    free(rows);
}
