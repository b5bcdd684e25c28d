/* pytest-benchmark's JSON file (--benchmark-json, saved runs), written and read with jansson. */
#include "harness.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int ms_json_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The compact form of the samples: evenly spaced order statistics, enough for the gate's rank test. */
static json_t *ms_json_quantiles(const double *data, size_t n)
{
    json_t *q = json_array();
    double *sorted = malloc(n * sizeof *sorted);
    if (!q || !sorted) {
        free(sorted);
        return q;
    }
    memcpy(sorted, data, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, ms_json_cmp);
    size_t k = n < MS_JSON_QUANTILES ? n : MS_JSON_QUANTILES;
    for (size_t i = 0; i < k; i++) {
        double v = k == n ? sorted[i] : ms_stats_percentile_sorted(sorted, n, (double)i / (double)(k - 1));
        json_array_append_new(q, json_real(v));
    }
    free(sorted);
    return q;
}

static json_t *ms_json_stats(const struct ms_result *r, int include_data)
{
    const struct memsnap_bench_stats *s = &r->stats;
    char outliers[64];
    snprintf(outliers, sizeof outliers, "%zu;%zu", s->stddev_outliers, s->iqr_outliers);
    json_t *o = json_object();
    json_object_set_new(o, "min", json_real(s->min));
    json_object_set_new(o, "max", json_real(s->max));
    json_object_set_new(o, "mean", json_real(s->mean));
    json_object_set_new(o, "stddev", json_real(s->stddev));
    json_object_set_new(o, "rounds", json_integer((json_int_t)s->rounds));
    json_object_set_new(o, "median", json_real(s->median));
    json_object_set_new(o, "iqr", json_real(s->iqr));
    json_object_set_new(o, "q1", json_real(s->q1));
    json_object_set_new(o, "q3", json_real(s->q3));
    json_object_set_new(o, "iqr_outliers", json_integer((json_int_t)s->iqr_outliers));
    json_object_set_new(o, "stddev_outliers", json_integer((json_int_t)s->stddev_outliers));
    json_object_set_new(o, "outliers", json_string(outliers));
    json_object_set_new(o, "ld15iqr", json_real(s->ld15iqr));
    json_object_set_new(o, "hd15iqr", json_real(s->hd15iqr));
    json_object_set_new(o, "ops", json_real(s->ops));
    json_object_set_new(o, "total", json_real(s->total));
    json_object_set_new(o, "p95", json_real(s->p95));
    json_object_set_new(o, "p99", json_real(s->p99));
    if (include_data && r->data && r->ndata == s->rounds) {
        json_t *d = json_array();
        for (size_t i = 0; i < r->ndata; i++) {
            json_array_append_new(d, json_real(r->data[i]));
        }
        json_object_set_new(o, "data", d);
    } else if (r->data && r->ndata) {
        json_object_set_new(o, "quantiles", ms_json_quantiles(r->data, r->ndata));
    }
    json_object_set_new(o, "iterations", json_integer((json_int_t)s->iterations));
    return o;
}

static json_t *ms_json_string_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *ms_json_from_run(const struct ms_run *run, int include_data)
{
    json_t *top = json_object();
    json_object_set_new(top, "machine_info", run->machine_info ? json_incref(run->machine_info) : json_object());
    json_object_set_new(top, "commit_info", run->commit_info ? json_incref(run->commit_info) : json_object());
    json_t *list = json_array();
    for (size_t i = 0; i < run->count; i++) {
        const struct ms_result *r = &run->results[i];
        json_t *b = json_object();
        json_object_set_new(b, "group", ms_json_string_or_null(r->group));
        json_object_set_new(b, "name", json_string(r->name));
        json_object_set_new(b, "fullname", json_string(r->fullname ? r->fullname : r->name));
        json_object_set_new(b, "params", r->params ? json_incref(r->params) : json_null());
        json_object_set_new(b, "param", ms_json_string_or_null(r->param));
        json_t *extra = r->extra_info ? json_deep_copy(r->extra_info) : json_object();
        if (r->stats.has_allocs) {
            json_object_set_new(extra, "allocs_per_op", json_real(r->stats.allocs_per_op));
            json_object_set_new(extra, "alloc_bytes_per_op", json_real(r->stats.alloc_bytes_per_op));
        }
        if (r->stats.has_counters) {
            json_object_set_new(extra, "instructions_per_op", json_real(r->stats.instructions_per_op));
            json_object_set_new(extra, "cycles_per_op", json_real(r->stats.cycles_per_op));
        }
        json_object_set_new(b, "extra_info", extra);
        json_object_set_new(b, "options", r->options ? json_incref(r->options) : json_object());
        json_object_set_new(b, "stats", ms_json_stats(r, include_data));
        json_array_append_new(list, b);
    }
    json_object_set_new(top, "benchmarks", list);
    json_object_set_new(top, "datetime", json_string(run->datetime ? run->datetime : ""));
    json_object_set_new(top, "version", json_string(run->version ? run->version : "memsnap-bench 0.1.0"));
    return top;
}

enum ms_status ms_json_write(const struct ms_run *run, const char *path, int include_data, struct ms_error *err)
{
    json_t *top = ms_json_from_run(run, include_data);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int rc = json_dump_file(top, tmp, JSON_INDENT(4) | JSON_REAL_PRECISION(17) | JSON_PRESERVE_ORDER);
    json_decref(top);
    if (rc != 0 || rename(tmp, path) != 0) {
        int e = errno ? errno : EIO;
        remove(tmp);
        return ms_error_set(err, -e, "%s: cannot write: %s", path, strerror(e));
    }
    return 0;
}

static int ms_json_number(json_t *stats, const char *key, double *out)
{
    json_t *v = json_object_get(stats, key);
    if (!json_is_number(v)) {
        return -1;
    }
    *out = json_number_value(v);
    return 0;
}

static char *ms_json_dup_string(json_t *v)
{
    return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

static int ms_json_read_benchmark(const char *path, size_t index, json_t *b, struct ms_result *r, struct ms_error *err)
{
    if (!json_is_object(b) || !json_is_string(json_object_get(b, "name"))) {
        return ms_error_set(err, -EINVAL, "%s: benchmarks[%zu]: not an object with a string \"name\"", path, index);
    }
    r->name = ms_json_dup_string(json_object_get(b, "name"));
    r->fullname = ms_json_dup_string(json_object_get(b, "fullname"));
    if (!r->fullname) {
        r->fullname = strdup(r->name);
    }
    r->group = ms_json_dup_string(json_object_get(b, "group"));
    r->param = ms_json_dup_string(json_object_get(b, "param"));
    json_t *params = json_object_get(b, "params");
    r->params = json_is_object(params) ? json_incref(params) : NULL;
    json_t *extra = json_object_get(b, "extra_info");
    r->extra_info = json_is_object(extra) ? json_incref(extra) : json_object();
    json_t *options = json_object_get(b, "options");
    r->options = json_is_object(options) ? json_incref(options) : json_object();
    if (!r->name || !r->fullname) {
        return ms_error_set(err, -ENOMEM, "%s: out of memory", path);
    }
    json_t *stats = json_object_get(b, "stats");
    if (!json_is_object(stats)) {
        return ms_error_set(err, -EINVAL, "%s: benchmark '%s': no \"stats\" object", path, r->name);
    }
    struct memsnap_bench_stats *s = &r->stats;
    static const char *required[] = {"min", "max", "mean", "stddev", "median", "iqr"};
    double *slots[] = {&s->min, &s->max, &s->mean, &s->stddev, &s->median, &s->iqr};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        if (ms_json_number(stats, required[i], slots[i])) {
            return ms_error_set(err, -EINVAL, "%s: benchmark '%s': stats.%s is missing or not a number", path,
                              r->name, required[i]);
        }
    }
    json_t *rounds = json_object_get(stats, "rounds");
    json_t *iterations = json_object_get(stats, "iterations");
    if (!json_is_integer(rounds) || json_integer_value(rounds) < 0 || !json_is_integer(iterations) ||
        json_integer_value(iterations) < 1) {
        return ms_error_set(err, -EINVAL, "%s: benchmark '%s': stats.rounds and stats.iterations must be counts",
                          path, r->name);
    }
    s->rounds = (size_t)json_integer_value(rounds);
    s->iterations = (uint64_t)json_integer_value(iterations);
    double v;
    s->q1 = ms_json_number(stats, "q1", &v) ? s->median - s->iqr / 2 : v;
    s->q3 = ms_json_number(stats, "q3", &v) ? s->median + s->iqr / 2 : v;
    s->ld15iqr = ms_json_number(stats, "ld15iqr", &v) ? s->min : v;
    s->hd15iqr = ms_json_number(stats, "hd15iqr", &v) ? s->max : v;
    s->ops = ms_json_number(stats, "ops", &v) ? (s->mean > 0 ? 1 / s->mean : 0) : v;
    s->total = ms_json_number(stats, "total", &v) ? s->mean * (double)s->rounds : v;
    s->p95 = ms_json_number(stats, "p95", &v) ? NAN : v;
    s->p99 = ms_json_number(stats, "p99", &v) ? NAN : v;
    const char *outl = json_string_value(json_object_get(stats, "outliers"));
    size_t a = 0, c = 0;
    if (outl && sscanf(outl, "%zu;%zu", &a, &c) == 2) {
        s->stddev_outliers = a;
        s->iqr_outliers = c;
    }
    if (!ms_json_number(extra, "allocs_per_op", &s->allocs_per_op) &&
        !ms_json_number(extra, "alloc_bytes_per_op", &s->alloc_bytes_per_op)) {
        s->has_allocs = 1;
    }
    if (!ms_json_number(extra, "instructions_per_op", &s->instructions_per_op) &&
        !ms_json_number(extra, "cycles_per_op", &s->cycles_per_op)) {
        s->has_counters = 1;
    }
    json_t *data = json_object_get(stats, "data");
    int compact = !(json_is_array(data) && json_array_size(data) > 0);
    if (compact) {
        data = json_object_get(stats, "quantiles");
    }
    if (json_is_array(data) && json_array_size(data) > 0) {
        size_t n = json_array_size(data);
        r->data = malloc(n * sizeof *r->data);
        if (!r->data) {
            return ms_error_set(err, -ENOMEM, "%s: out of memory", path);
        }
        for (size_t i = 0; i < n; i++) {
            json_t *x = json_array_get(data, i);
            if (!json_is_number(x)) {
                return ms_error_set(err, -EINVAL, "%s: benchmark '%s': stats.%s[%zu] is not a number", path,
                                  r->name, compact ? "quantiles" : "data", i);
            }
            r->data[i] = json_number_value(x);
        }
        s->data = r->data;
        r->ndata = n;
        if (!compact) {
            s->rounds = n;
        }
        if (isnan(s->p95) || isnan(s->p99)) {
            struct memsnap_bench_stats full;
            if (ms_stats_compute(r->data, n, s->iterations, &full) == 0) {
                s->p95 = full.p95;
                s->p99 = full.p99;
            }
        }
    }
    if (isnan(s->p95)) {
        s->p95 = s->max;
    }
    if (isnan(s->p99)) {
        s->p99 = s->max;
    }
    return 0;
}

enum ms_status ms_json_read(const char *path, struct ms_run **out, struct ms_error *err)
{
    *out = NULL;
    FILE *f;
    int rc = ms_input_open(path, "benchmark file", &f, err);
    if (rc) {
        return rc;
    }
    json_error_t je;
    json_t *top = json_loadf(f, 0, &je);
    fclose(f);
    if (!top) {
        return ms_error_set(err, -EINVAL, "%s:%d:%d: invalid JSON: %s", path, je.line, je.column, je.text);
    }
    json_t *list = json_object_get(top, "benchmarks");
    if (!json_is_object(top) || !json_is_array(list)) {
        json_decref(top);
        return ms_error_set(err, -EINVAL, "%s: not a benchmark file: no \"benchmarks\" list", path);
    }
    struct ms_run *run = ms_result_run_new();
    rc = run ? 0 : ms_error_set(err, -ENOMEM, "%s: out of memory", path);
    if (!rc) {
        run->path = strdup(path);
        json_t *mi = json_object_get(top, "machine_info");
        json_t *ci = json_object_get(top, "commit_info");
        run->machine_info = json_is_object(mi) ? json_incref(mi) : json_object();
        run->commit_info = json_is_object(ci) ? json_incref(ci) : json_object();
        run->datetime = ms_json_dup_string(json_object_get(top, "datetime"));
        run->version = ms_json_dup_string(json_object_get(top, "version"));
    }
    for (size_t i = 0; !rc && i < json_array_size(list); i++) {
        struct ms_result *r = ms_result_add(run);
        rc = r ? ms_json_read_benchmark(path, i, json_array_get(list, i), r, err)
               : ms_error_set(err, -ENOMEM, "%s: out of memory", path);
    }
    json_decref(top);
    if (rc) {
        ms_result_run_free(run);
        return rc;
    }
    *out = run;
    return 0;
}
