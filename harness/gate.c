/* --benchmark-compare-fail: pytest-benchmark's threshold, failing only when Mann-Whitney also finds the
 * new samples slower at level alpha. */
#include "harness.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int ms_gate_parse(const char *expr, struct ms_gate *out, struct ms_err *err)
{
    static const char *fields[] = {"min", "max", "mean", "median", "stddev", "iqr"};
    const char *colon = strchr(expr, ':');
    memset(out, 0, sizeof *out);
    size_t flen = colon ? (size_t)(colon - expr) : 0;
    int known = 0;
    for (size_t i = 0; colon && i < sizeof fields / sizeof fields[0]; i++) {
        if (strlen(fields[i]) == flen && strncmp(fields[i], expr, flen) == 0) {
            known = 1;
        }
    }
    if (!known) {
        return ms_err_set(err, -EINVAL,
                          "could not parse compare-fail expression '%s': expected "
                          "(min|max|mean|median|stddev|iqr):(N%%|SECONDS)",
                          expr);
    }
    memcpy(out->field, expr, flen);
    const char *num = colon + 1;
    size_t len = strlen(num);
    out->percent = len > 0 && num[len - 1] == '%';
    if (out->percent) {
        len--;
    }
    /* Digits with an optional fraction and exponent, nothing else (no sign, no hex, no inf). */
    size_t i = 0, digits = 0;
    while (i < len && num[i] >= '0' && num[i] <= '9') {
        i++, digits++;
    }
    if (i < len && num[i] == '.') {
        i++;
        while (i < len && num[i] >= '0' && num[i] <= '9') {
            i++, digits++;
        }
    }
    if (digits && i < len && (num[i] == 'e' || num[i] == 'E') && !out->percent) {
        i++;
        if (i < len && (num[i] == '+' || num[i] == '-')) {
            i++;
        }
        size_t exp_start = i;
        while (i < len && num[i] >= '0' && num[i] <= '9') {
            i++;
        }
        if (i == exp_start) {
            digits = 0;
        }
    }
    if (!digits || i != len) {
        return ms_err_set(err, -EINVAL, "could not parse compare-fail expression '%s': '%s' is not %s", expr, num,
                          out->percent ? "a percentage" : "a number of seconds or N%");
    }
    out->threshold = strtod(num, NULL);
    return 0;
}

void ms_gate_check(const struct ms_gate *g, const struct ms_result *old, const struct ms_result *cur, double alpha,
                   struct ms_gate_verdict *out)
{
    double o = ms_result_field(&old->stats, g->field), c = ms_result_field(&cur->stats, g->field);
    memset(out, 0, sizeof *out);
    if (g->percent) {
        out->change = o != 0 ? c / o * 100.0 - 100.0 : INFINITY;
    } else {
        out->change = c - o;
    }
    out->exceeded = out->change > g->threshold;
    out->p = NAN;
    struct ms_mannwhitney mw;
    if (old->stats.rounds > 0 && cur->stats.rounds > 0 && old->data && cur->data &&
        ms_mannwhitney_test(old->data, old->stats.rounds, cur->data, cur->stats.rounds, &mw) == 0) {
        out->p = mw.p;
        /* z > 0: the old samples rank higher, so the new ones are faster. */
        out->significant = mw.p <= alpha && mw.z < 0;
    } else {
        /* Without samples (files saved without data) only the threshold can decide. */
        out->significant = 1;
    }
    out->failed = out->exceeded && out->significant;
}

void ms_gate_message(const struct ms_gate *g, const struct ms_gate_verdict *v, double alpha, char *buf, size_t len)
{
    char pv[64];
    if (isnan(v->p)) {
        snprintf(pv, sizeof pv, "no samples to test");
    } else {
        snprintf(pv, sizeof pv, "p=%.4g %s %g", v->p, v->significant ? "<=" : ">", alpha);
    }
    snprintf(buf, len, "Field '%s' has failed %s: %.2f > %.2f (%s)", g->field,
             g->percent ? "PercentageRegressionCheck" : "DifferenceRegressionCheck", v->change, g->threshold, pv);
}
