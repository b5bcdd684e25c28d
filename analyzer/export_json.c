/* The whole snapshot symbolized, as one JSON document: for scripts that want every site, not a report. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

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

/* One site per line, written as it is built: a DOM of every frame of 100,000 stacks would take a gigabyte. */
static bool ms_export_json_site(FILE *out, const struct ms_snap *snap, const struct ms_group_row *r, bool last)
{
    json_t *o = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "live_bytes", ms_output_json_u64(r->size), "live_count",
                          ms_output_json_u64(r->count), "alloc_bytes", ms_output_json_u64(r->alloc_bytes), "alloc_count",
                          ms_output_json_u64(r->alloc_count), "free_bytes", ms_output_json_u64(r->alloc_bytes - r->size),
                          "free_count", ms_output_json_u64(r->alloc_count - r->count), "stack",
                          ms_output_json_stack(r->stack, r->stack_len));
    if (!o)
        return false;
    ms_estimate_json_row(o, snap, r, "live_bytes_se", "live_count_se"); /* sampled: standard errors */
    char *text = ms_output_json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT);
    json_decref(o);
    if (!text)
        return false;
    fprintf(out, "    %s%s", text, last ? "\n" : ",\n");
    free(text);
    return true;
}

enum ms_status ms_export_json_write(FILE *out, struct ms_groups *g, struct ms_error *err)
{
    const struct ms_snap *s = g->snap;
    json_t *info = json_pack("{s:o, s:o, s:o, s:o, s:s, s:o, s:o, s:o, s:b, s:o}", "pid", ms_output_json_u64(s->info.pid),
                             "sequence", ms_output_json_u64(s->info.sequence), "exe", ms_output_json_str(s->exe ? s->exe : ""),
                             "label", ms_output_json_str(s->label ? s->label : ""), "trigger", ms_snapfile_trigger_name(s->info.trigger),
                             "time_ns", ms_output_json_u64(s->info.time_ns), "uptime_ns", ms_output_json_u64(s->info.uptime_ns),
                             "depth_limit", ms_output_json_u64(s->info.depth_limit), "at_exit",
                             (s->flags & MS_FMT_FLAG_AT_EXIT) != 0, "sample_rate",
                             ms_output_json_u64(s->info.sample_rate));
    json_t *head = info ? json_pack("{s:s, s:s, s:o, s:o, s:o}", "command", "export", "format", "json", "snapshot",
                                    ms_output_json_str(s->path), "info", info, "totals", ms_output_json_totals(s))
                        : NULL;
    char *text = head ? ms_output_json_dumps(head, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(head);
    struct ms_group_row **rows = malloc((g->count + 1) * sizeof *rows);
    enum ms_status r = MS_OK;
    size_t len = text ? strlen(text) : 0;
    if (!rows || len < 2) {
        r = ms_error_set(err, MS_NOMEM, "out of memory building JSON");
        goto out;
    }
    size_t n = 0;
    for (size_t i = 0; i < g->count; i++)
        if (g->rows[i].alloc_count || g->rows[i].alloc_bytes || g->rows[i].count || g->rows[i].size)
            rows[n++] = &g->rows[i];
    /* Largest live first, then by allocations: the order a reader scans in. */
    qsort(rows, n, sizeof *rows, ms_export_json_cmp);
    /* The head object without its closing brace, then the sites as its last member. */
    fprintf(out, "%.*s,\n  \"sites\": [%s", (int)(len - 2), text, n ? "\n" : "");
    for (size_t i = 0; i < n; i++)
        if (!ms_export_json_site(out, s, rows[i], i + 1 == n)) {
            r = ms_error_set(err, MS_NOMEM, "out of memory building JSON");
            goto out;
        }
    fputs(n ? "  ]\n}\n" : "]\n}\n", out);
out:
    free(rows);
    free(text);
    return r;
}
