/* Results of a run, measured or loaded: the shared in-memory shape of a pytest-benchmark JSON file. */
#include "harness.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct ms_run *ms_result_run_new(void)
{
    return calloc(1, sizeof(struct ms_run));
}

void ms_result_run_free(struct ms_run *run)
{
    if (!run) {
        return;
    }
    for (size_t i = 0; i < run->count; i++) {
        struct ms_result *r = &run->results[i];
        free(r->group);
        free(r->name);
        free(r->fullname);
        free(r->param);
        free(r->data);
        free(r->source);
        json_decref(r->params);
        json_decref(r->extra_info);
        json_decref(r->options);
    }
    free(run->results);
    json_decref(run->machine_info);
    json_decref(run->commit_info);
    free(run->datetime);
    free(run->version);
    free(run->path);
    free(run);
}

struct ms_result *ms_result_add(struct ms_run *run)
{
    struct ms_result *grown = realloc(run->results, (run->count + 1) * sizeof *grown);
    if (!grown) {
        return NULL;
    }
    run->results = grown;
    struct ms_result *r = &run->results[run->count++];
    memset(r, 0, sizeof *r);
    return r;
}

const struct ms_result *ms_result_find(const struct ms_run *run, const char *fullname)
{
    for (size_t i = 0; i < run->count; i++) {
        if (run->results[i].fullname && strcmp(run->results[i].fullname, fullname) == 0) {
            return &run->results[i];
        }
    }
    return NULL;
}

enum ms_status ms_result_set_samples(struct ms_result *r, const double *data, size_t n, uint64_t iterations)
{
    double *copy = malloc((n ? n : 1) * sizeof *copy);
    if (!copy) {
        return -ENOMEM;
    }
    if (n) {
        memcpy(copy, data, n * sizeof *copy);
    }
    struct memsnap_bench_stats keep = r->stats;
    int rc = ms_stats_compute(copy, n, iterations, &r->stats);
    if (rc) {
        free(copy);
        r->stats = keep;
        return rc;
    }
    r->stats.has_allocs = keep.has_allocs;
    r->stats.allocs_per_op = keep.allocs_per_op;
    r->stats.alloc_bytes_per_op = keep.alloc_bytes_per_op;
    r->stats.has_counters = keep.has_counters;
    r->stats.instructions_per_op = keep.instructions_per_op;
    r->stats.cycles_per_op = keep.cycles_per_op;
    free(r->data);
    r->data = copy;
    r->ndata = n;
    return 0;
}

double ms_result_field(const struct memsnap_bench_stats *s, const char *field)
{
    static const struct {
        const char *name;
        size_t offset;
    } fields[] = {
#define MS_FIELD(f) {#f, offsetof(struct memsnap_bench_stats, f)}
        MS_FIELD(min), MS_FIELD(max),     MS_FIELD(mean),    MS_FIELD(stddev),  MS_FIELD(median),
        MS_FIELD(q1),  MS_FIELD(q3),      MS_FIELD(iqr),     MS_FIELD(ld15iqr), MS_FIELD(hd15iqr),
        MS_FIELD(p95), MS_FIELD(p99),     MS_FIELD(ops),     MS_FIELD(total),
#undef MS_FIELD
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (strcmp(fields[i].name, field) == 0) {
            return *(const double *)((const char *)s + fields[i].offset);
        }
    }
    if (strcmp(field, "allocs") == 0) {
        return s->has_allocs ? s->allocs_per_op : NAN;
    }
    if (strcmp(field, "bytes") == 0) {
        return s->has_allocs ? s->alloc_bytes_per_op : NAN;
    }
    if (strcmp(field, "instructions") == 0) {
        return s->has_counters ? s->instructions_per_op : NAN;
    }
    if (strcmp(field, "cycles") == 0) {
        return s->has_counters ? s->cycles_per_op : NAN;
    }
    return NAN;
}

enum ms_status ms_result_set_source(struct ms_run *run, const char *path)
{
    /* pytest-benchmark's short name: the file name without its extension, 12 characters at most */
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    const char *dot = strrchr(base, '.');
    int stem = dot ? (int)(dot - base) : (int)strlen(base);
    char shortname[16];
    snprintf(shortname, sizeof shortname, "%.*s", stem < 12 ? stem : 12, base);
    for (size_t i = 0; i < run->count; i++) {
        free(run->results[i].source);
        run->results[i].source = strdup(shortname);
        if (!run->results[i].source) {
            return -ENOMEM;
        }
    }
    return 0;
}
