/* Old run versus new run: change per statistic, the Mann-Whitney p-value, and the compare-fail verdicts. */
#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { MS_COMPARE_COLS = 10, MS_COMPARE_CELL = 192 };

static void ms_compare_dashes(FILE *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        fputc('-', out);
    }
}

static void ms_compare_cell(const struct ms_result *old, const struct ms_result *cur, const char *field, double scale,
                            char *out, size_t len)
{
    double o = ms_result_field(&old->stats, field), c = ms_result_field(&cur->stats, field);
    if (o != 0) {
        snprintf(out, len, "%.4f -> %.4f (%+.1f%%)", o * scale, c * scale, (c / o - 1) * 100);
    } else {
        snprintf(out, len, "%.4f -> %.4f", o * scale, c * scale);
    }
}

static const char *ms_compare_label(const struct ms_result *r)
{
    return r->name;
}

size_t ms_compare_print(FILE *out, const struct ms_run *old, const struct ms_run *cur, const struct ms_gate *gates,
                        size_t ngates, double alpha)
{
    size_t n = cur->count;
    char(*cells)[MS_COMPARE_COLS][MS_COMPARE_CELL] = calloc(n ? n : 1, sizeof *cells);
    const struct ms_result **olds = calloc(n ? n : 1, sizeof *olds);
    char *messages = calloc(n * (ngates ? ngates : 1) + 1, 512);
    size_t failures = 0, nmsg = 0;
    int show_instr = 0;
    if (!cells || !olds || !messages) {
        free(cells);
        free(olds);
        free(messages);
        return 0;
    }
    static const char *headers[MS_COMPARE_COLS] = {"Name", "Unit", "Min", "Mean", "Median", "StdDev", "IQR",
                                                   "Instr/op", "p-value", "Gate"};
    size_t widths[MS_COMPARE_COLS];
    for (size_t c = 0; c < MS_COMPARE_COLS; c++) {
        widths[c] = strlen(headers[c]);
    }
    for (size_t i = 0; i < n; i++) {
        const struct ms_result *r = &cur->results[i];
        const struct ms_result *o = ms_result_find(old, r->fullname);
        olds[i] = o;
        snprintf(cells[i][0], MS_COMPARE_CELL, "%s", ms_compare_label(r));
        if (!o) {
            snprintf(cells[i][1], MS_COMPARE_CELL, "-");
            for (size_t c = 2; c < MS_COMPARE_COLS; c++) {
                snprintf(cells[i][c], MS_COMPARE_CELL, c == 2 ? "(new: not in the old run)" : "");
            }
        } else {
            double scale;
            const char *unit = ms_table_time_unit(fmin(o->stats.min, r->stats.min), &scale);
            snprintf(cells[i][1], MS_COMPARE_CELL, "%ss", unit);
            ms_compare_cell(o, r, "min", scale, cells[i][2], MS_COMPARE_CELL);
            ms_compare_cell(o, r, "mean", scale, cells[i][3], MS_COMPARE_CELL);
            ms_compare_cell(o, r, "median", scale, cells[i][4], MS_COMPARE_CELL);
            ms_compare_cell(o, r, "stddev", scale, cells[i][5], MS_COMPARE_CELL);
            ms_compare_cell(o, r, "iqr", scale, cells[i][6], MS_COMPARE_CELL);
            if (o->stats.has_counters && r->stats.has_counters) {
                /* instructions per call (callgrind or hardware counters): what a timing cannot show on a
                 * busy machine */
                ms_compare_cell(o, r, "instructions", 1.0, cells[i][7], MS_COMPARE_CELL);
                show_instr = 1;
            }
            struct ms_mannwhitney mw;
            if (o->data && r->data && ms_mannwhitney_test(o->data, o->ndata, r->data, r->ndata, &mw) == 0) {
                snprintf(cells[i][8], MS_COMPARE_CELL, "%.4f", mw.p);
            } else {
                snprintf(cells[i][8], MS_COMPARE_CELL, "n/a");
            }
            char verdict[MS_COMPARE_CELL] = "";
            for (size_t g = 0; g < ngates; g++) {
                struct ms_gate_verdict v;
                ms_gate_check(&gates[g], o, r, alpha, &v);
                char expr[48];
                snprintf(expr, sizeof expr, "%s:%g%s", gates[g].field, gates[g].threshold, gates[g].percent ? "%" : "");
                const char *word = v.unavailable ? "n/a" : (v.failed ? "FAIL" : (v.exceeded ? "noise" : "ok"));
                size_t used = strlen(verdict);
                char pv[96] = "";
                if (v.crossed) {
                    /* which statistic crossed, with its change: the mean's may well be under the threshold */
                    snprintf(pv, sizeof pv, " (%s %+.1f%s)", v.crossed, v.crossed_change, gates[g].percent ? "%" : " s");
                }
                if (v.exceeded && !isnan(v.p)) {
                    size_t pl = strlen(pv);
                    if (v.z_slower) {
                        if (v.p < 1e-16) {
                            snprintf(pv + pl, sizeof pv - pl, " p<1e-16");
                        } else {
                            snprintf(pv + pl, sizeof pv - pl, " p=%.2g", v.p);
                        }
                    } else {
                        snprintf(pv + pl, sizeof pv - pl, " (not slower beyond %g%s)", gates[g].threshold,
                                 gates[g].percent ? "%" : " s");
                    }
                }
                snprintf(verdict + used, sizeof verdict - used, "%s%s %s%s", used ? ", " : "", word, expr, pv);
                if (v.failed) {
                    failures++;
                    char msg[400];
                    ms_gate_message(&gates[g], &v, alpha, msg, sizeof msg);
                    snprintf(messages + 512 * nmsg++, 512, "\t%s (%s) - %s", r->name, o->source ? o->source : "old",
                             msg);
                }
            }
            snprintf(cells[i][9], MS_COMPARE_CELL, "%s", ngates ? verdict : "-");
        }
        for (size_t c = 0; c < MS_COMPARE_COLS; c++) {
            widths[c] = strlen(cells[i][c]) > widths[c] ? strlen(cells[i][c]) : widths[c];
        }
    }
    size_t line = 0;
    for (size_t c = 0; c < MS_COMPARE_COLS; c++) {
        line += c == 7 && !show_instr ? 0 : widths[c] + (c ? 2 : 0);
    }
    char title[512];
    snprintf(title, sizeof title, " comparison: %s -> %s ", old->path ? old->path : "old", cur->path ? cur->path : "NOW");
    size_t tlen = strlen(title), pad = line > tlen ? line - tlen : 0;
    size_t left = pad / 2 + (pad & line & 1);
    ms_compare_dashes(out, left);
    fputs(title, out);
    ms_compare_dashes(out, pad - left);
    fputc('\n', out);
    for (size_t c = 0; c < MS_COMPARE_COLS; c++) {
        if (c != 7 || show_instr) {
            fprintf(out, c == 0 ? "%-*s" : "  %*s", (int)widths[c], headers[c]);
        }
    }
    fputc('\n', out);
    ms_compare_dashes(out, line);
    fputc('\n', out);
    for (size_t i = 0; i < n; i++) {
        for (size_t c = 0; c < MS_COMPARE_COLS; c++) {
            if (c != 7 || show_instr) {
                fprintf(out, c == 0 ? "%-*s" : (c == 9 ? "  %-*s" : "  %*s"), (int)widths[c], cells[i][c]);
            }
        }
        fputc('\n', out);
    }
    /* Google Benchmark's overall row: the geometric mean of new/old over the matched benchmarks. */
    double log_sum = 0;
    size_t matched = 0;
    for (size_t i = 0; i < n; i++) {
        if (olds[i] && olds[i]->stats.mean > 0 && cur->results[i].stats.mean > 0) {
            log_sum += log(cur->results[i].stats.mean / olds[i]->stats.mean);
            matched++;
        }
    }
    if (matched > 1) {
        double g = exp(log_sum / (double)matched);
        fprintf(out, "%-*s  geometric mean of new/old mean over %zu benchmarks: %.4f (%+.1f%%)\n", (int)widths[0],
                "OVERALL_GEOMEAN", matched, g, (g - 1) * 100);
    }
    for (size_t i = 0; i < old->count; i++) {
        if (!ms_result_find(cur, old->results[i].fullname)) {
            fprintf(out, "%s  (gone: only in the old run)\n", old->results[i].name);
        }
    }
    ms_compare_dashes(out, line);
    fputc('\n', out);
    fprintf(out, "Change: new / old - 1. p-value: Mann-Whitney U, two-sided, old against new round samples.\n");
    if (ngates) {
        if (alpha >= 1.0) {
            fprintf(out, "Gates: plain thresholds (alpha 1).\n");
        } else {
            fprintf(out, "Gates fail when the threshold is exceeded AND the new samples are slower than the old ones "
                         "moved by the threshold (Mann-Whitney U, two-sided p <= %g; p= shows it). \"noise\": "
                         "exceeded, not significant.\n",
                    alpha);
        }
    }
    if (nmsg) {
        fprintf(out, "Performance has regressed:\n");
        for (size_t i = 0; i < nmsg; i++) {
            fprintf(out, "%s\n", messages + 512 * i);
        }
    }
    free(cells);
    free(olds);
    free(messages);
    return failures;
}
