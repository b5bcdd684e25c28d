/* The whole snapshot symbolized, as one JSON document: for scripts that want every site, not a report. */
#include <jansson.h>
#include <stdlib.h>

#include "analyze.h"

static int ms_export_json_cmp(const void *a, const void *b)
{
    const struct ms_group_row *x = *(struct ms_group_row *const *)a, *y = *(struct ms_group_row *const *)b;
    if (x->size != y->size)
        return x->size > y->size ? -1 : 1;
    if (x->alloc_bytes != y->alloc_bytes)
        return x->alloc_bytes > y->alloc_bytes ? -1 : 1;
    return x->example < y->example ? -1 : x->example > y->example;
}

enum ms_status ms_export_json_write(FILE *out, struct ms_groups *g, struct ms_error *err)
{
    const struct ms_snap *s = g->snap;
    struct ms_group_row **rows = malloc((g->count + 1) * sizeof *rows);
    if (!rows)
        return ms_error_set(err, MS_NOMEM, "out of memory");
    for (size_t i = 0; i < g->count; i++)
        rows[i] = &g->rows[i];
    /* Largest live first, then by allocations: the order a reader scans in. */
    qsort(rows, g->count, sizeof *rows, ms_export_json_cmp);
    json_t *sites = json_array();
    for (size_t i = 0; sites && i < g->count; i++) {
        const struct ms_group_row *r = rows[i];
        json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "live_bytes", (json_int_t)r->size,
                              "live_count", (json_int_t)r->count, "alloc_bytes", (json_int_t)r->alloc_bytes,
                              "alloc_count", (json_int_t)r->alloc_count, "free_bytes",
                              (json_int_t)(r->alloc_bytes - r->size), "free_count",
                              (json_int_t)(r->alloc_count - r->count), "stack",
                              ms_output_json_stack(r->stack, r->stack_len));
        if (!o || json_array_append_new(sites, o) != 0) {
            json_decref(sites);
            sites = NULL;
        }
    }
    free(rows);
    json_t *info = json_pack("{s:i, s:i, s:s, s:s, s:s, s:I, s:I, s:i, s:b, s:I}", "pid", (int)s->info.pid,
                             "sequence", (int)s->info.sequence, "exe", s->exe ? s->exe : "", "label",
                             s->label ? s->label : "", "trigger", ms_snapfile_trigger_name(s->info.trigger),
                             "time_ns", (json_int_t)s->info.time_ns, "uptime_ns", (json_int_t)s->info.uptime_ns,
                             "depth_limit", (int)s->info.depth_limit, "at_exit",
                             (s->flags & MS_FMT_FLAG_AT_EXIT) != 0, "sample_rate",
                             (json_int_t)s->info.sample_rate);
    if (!sites || !info) {
        json_decref(sites);
        json_decref(info);
        return ms_error_set(err, MS_NOMEM, "out of memory building JSON");
    }
    /* json_pack takes the "o" references even when it fails. */
    json_t *doc = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "command", "export", "format", "json", "snapshot",
                            s->path, "info", info, "totals", ms_output_json_totals(s), "sites", sites);
    if (!doc)
        return ms_error_set(err, MS_NOMEM, "out of memory building JSON");
    int rc = json_dumpf(doc, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (rc != 0 || fputc('\n', out) == EOF)
        return ms_error_set(err, MS_IO, "writing JSON output failed");
    return MS_OK;
}
