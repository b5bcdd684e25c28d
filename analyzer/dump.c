/* `memsnap dump`: a snapshot as stored, unsymbolized, for debugging the writer and the reader as a pair. */
#include <jansson.h>
#include <stdlib.h>

#include "analyze.h"

static const char *const ms_dump_calls[MS_FMT_CALL_COUNT] = {
    "malloc", "calloc", "realloc", "reallocarray", "free", "posix_memalign",
    "aligned_alloc", "memalign", "valloc", "pvalloc", "cfree", "other",
};

static void ms_dump_hex(char *buf, const unsigned char *p, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        snprintf(buf + 2 * i, 3, "%02x", p[i]);
    buf[2 * n] = 0;
}

/* The LEAKS section (format 1.1) or null when the file has none (reachability unknown). */
static json_t *ms_dump_json_leaks(const struct ms_snap *s)
{
    if (!s->has_leaks)
        return json_null();
    json_t *recs = json_array();
    for (uint32_t i = 0; i < s->leak_count; i++) {
        const struct ms_leak *l = &s->leaks[i];
        json_array_append_new(recs, json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "stack", ms_output_json_u64(l->stack),
                                              "lost_bytes", ms_output_json_u64(l->lost_bytes), "lost_count",
                                              ms_output_json_u64(l->lost_count), "indirect_bytes",
                                              ms_output_json_u64(l->indirect_bytes), "indirect_count",
                                              ms_output_json_u64(l->indirect_count), "reachable_bytes",
                                              ms_output_json_u64(l->reachable_bytes), "reachable_count",
                                              ms_output_json_u64(l->reachable_count)));
    }
    return json_pack("{s:o, s:o, s:o, s:o, s:o}", "threads_unknown", ms_output_json_u64(s->leak_threads_unknown),
                     "scanned_blocks", ms_output_json_u64(s->leak_scanned), "skipped_blocks", ms_output_json_u64(s->leak_skipped),
                     "scan_ns", ms_output_json_u64(s->leak_scan_ns), "records", recs);
}

static void ms_dump_text_leaks(FILE *o, const struct ms_snap *s)
{
    if (!s->has_leaks) {
        fprintf(o, "leaks none (no LEAKS section: reachability unknown)\n");
        return;
    }
    fprintf(o, "leaks %u threads_unknown %u scanned_blocks %llu skipped_blocks %llu scan_ns %llu\n", s->leak_count,
            s->leak_threads_unknown, (unsigned long long)s->leak_scanned, (unsigned long long)s->leak_skipped,
            (unsigned long long)s->leak_scan_ns);
    for (uint32_t i = 0; i < s->leak_count; i++) {
        const struct ms_leak *l = &s->leaks[i];
        fprintf(o, "  stack %u lost %llu B in %llu, indirect %llu B in %llu, reachable %llu B in %llu\n", l->stack,
                (unsigned long long)l->lost_bytes, (unsigned long long)l->lost_count,
                (unsigned long long)l->indirect_bytes, (unsigned long long)l->indirect_count,
                (unsigned long long)l->reachable_bytes, (unsigned long long)l->reachable_count);
    }
}

/* MEMORY: {"rss_bytes": N, "size_classes": [{"min": 0, "max": 0, "count": N, "bytes": N}, ...]} (the
 * non-empty classes; max is inclusive), or null. */
static json_t *ms_dump_json_memory(const struct ms_snap *s)
{
    if (!s->has_memory)
        return json_null();
    json_t *classes = json_array();
    for (unsigned k = 0; k < MS_FMT_SIZE_CLASSES; k++) {
        if (!s->memory.class_count[k])
            continue;
        uint64_t lo = k ? UINT64_C(1) << (k - 1) : 0, hi = k == MS_FMT_SIZE_CLASSES - 1 ? UINT64_MAX : k ? 2 * lo - 1 : 0;
        json_array_append_new(classes, json_pack("{s:o, s:o, s:o, s:o}", "min", ms_output_json_u64(lo), "max",
                                                 hi == UINT64_MAX ? json_null() : ms_output_json_u64(hi),
                                                 "count", ms_output_json_u64(s->memory.class_count[k]), "bytes",
                                                 ms_output_json_u64(s->memory.class_bytes[k])));
    }
    return json_pack("{s:o, s:o}", "rss_bytes", ms_output_json_u64(s->memory.rss_bytes), "size_classes", classes);
}

struct json_t *ms_dump_render_json(const struct ms_snap *s)
{
    const struct ms_fmt_totals *t = &s->totals;
    json_t *calls = json_object(), *mods = json_array(), *stacks = json_array(), *sites = json_array(),
           *labels = json_object();
    for (int i = 0; i < MS_FMT_CALL_COUNT; i++)
        json_object_set_new(calls, ms_dump_calls[i], ms_output_json_u64(t->calls[i]));
    for (uint32_t i = 0; i < s->module_count; i++) {
        char *hex = malloc(2 * (size_t)s->modules[i].build_id_len + 1);
        if (hex)
            ms_dump_hex(hex, s->modules[i].build_id, s->modules[i].build_id_len);
        json_array_append_new(mods, json_pack("{s:o, s:o, s:o, s:s}", "path", ms_output_json_str(s->modules[i].path), "base",
                                              ms_output_json_u64(s->modules[i].base), "size", ms_output_json_u64(s->modules[i].size),
                                              "build_id", hex ? hex : ""));
        free(hex);
    }
    for (uint32_t i = 0; i < s->stack_count; i++) {
        json_t *fr = json_array();
        for (uint32_t j = 0; j < s->stacks[i].depth; j++) {
            const struct ms_frame *f = &s->stacks[i].frames[j];
            json_array_append_new(fr, json_pack("{s:o, s:o}", "module",
                                                f->module == MS_FMT_MODULE_NONE ? json_null() : json_integer(f->module),
                                                "offset", ms_output_json_u64(f->offset)));
        }
        json_array_append_new(stacks, json_pack("{s:o, s:o}", "flags", ms_output_json_u64(s->stacks[i].flags), "frames", fr));
    }
    for (uint32_t i = 0; i < s->site_count; i++) {
        const struct ms_site *x = &s->sites[i];
        json_array_append_new(sites, json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "stack",
                                               ms_output_json_u64(x->stack), "live_bytes", ms_output_json_u64(x->live_bytes),
                                               "live_count", ms_output_json_u64(x->live_count), "alloc_bytes",
                                               ms_output_json_u64(x->alloc_bytes), "alloc_count", ms_output_json_u64(x->alloc_count),
                                               "free_bytes", ms_output_json_u64(x->free_bytes), "free_count",
                                               ms_output_json_u64(x->free_count), "temporary", s->has_temporary ?
                                               ms_output_json_u64(x->temp_count) : json_null()));
    }
    for (uint32_t i = 0; i < s->label_count; i++) {
        json_t *k = ms_output_json_str(s->labels[i].key);
        if (k)
            json_object_set_new(labels, json_string_value(k), ms_output_json_str(s->labels[i].value));
        json_decref(k);
    }
    json_t *info = json_pack("{s:o, s:o, s:o, s:o, s:o, s:s, s:o, s:o, s:s, s:o, s:o}", "pid", ms_output_json_u64(s->info.pid),
                             "ppid", ms_output_json_u64(s->info.ppid), "time_ns", ms_output_json_u64(s->info.time_ns), "uptime_ns",
                             ms_output_json_u64(s->info.uptime_ns), "sequence", ms_output_json_u64(s->info.sequence), "trigger",
                             ms_snapfile_trigger_name(s->info.trigger), "sample_rate",
                             ms_output_json_u64(s->info.sample_rate), "depth_limit", ms_output_json_u64(s->info.depth_limit),
                             "unwinder", ms_snapfile_unwinder_name(s->info.unwinder), "exe", ms_output_json_str(s->exe ? s->exe : ""), "label",
                             ms_output_json_str(s->label ? s->label : ""));
    if (!s->has_info) { /* built from zeros, not written: a file without INFO has null there */
        json_decref(info);
        info = json_null();
    }
    json_t *totals = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "current_bytes",
                               ms_output_json_u64(t->current_bytes), "peak_bytes", ms_output_json_u64(t->peak_bytes), "live_count",
                               ms_output_json_u64(t->live_count), "alloc_bytes", ms_output_json_u64(t->alloc_bytes), "alloc_count",
                               ms_output_json_u64(t->alloc_count), "free_count", ms_output_json_u64(t->free_count), "calls", calls,
                               "unknown_frees", ms_output_json_u64(t->unknown_frees), "failed_allocs",
                               ms_output_json_u64(t->failed_allocs), "stack_count", ms_output_json_u64(t->stack_count),
                               "overhead_bytes", ms_output_json_u64(t->overhead_bytes));
    return json_pack("{s:s, s:o, s:{s:o, s:o}, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "command", "dump",
                     "snapshot", ms_output_json_str(s->path), "version", "major", ms_output_json_u64(s->version_major),
                     "minor", ms_output_json_u64(s->version_minor), "flags", ms_output_json_u64(s->flags), "info", info, "totals",
                     totals, "modules", mods, "stacks", stacks, "sites", sites, "labels", labels, "leaks",
                     ms_dump_json_leaks(s), "memory", ms_dump_json_memory(s));
}

void ms_dump_render_text(FILE *o, const struct ms_snap *s)
{
    const struct ms_fmt_totals *t = &s->totals;
    fprintf(o, "snapshot %s\nformat %u.%u flags 0x%x%s%s%s\n", s->path, s->version_major, s->version_minor, s->flags,
            s->flags & MS_FMT_FLAG_SAMPLED ? " sampled" : "", s->flags & MS_FMT_FLAG_TRUNCATED ? " truncated" : "",
            s->flags & MS_FMT_FLAG_AT_EXIT ? " at-exit" : "");
    if (s->has_info)
        fprintf(o, "pid %u ppid %u sequence %u trigger %s time_ns %llu uptime_ns %llu\n"
                   "exe %s\nlabel %s\nsample_rate %llu depth_limit %u unwinder %s\n",
                s->info.pid, s->info.ppid, s->info.sequence, ms_snapfile_trigger_name(s->info.trigger),
                (unsigned long long)s->info.time_ns, (unsigned long long)s->info.uptime_ns, s->exe, s->label,
                (unsigned long long)s->info.sample_rate, s->info.depth_limit, ms_snapfile_unwinder_name(s->info.unwinder));
    fprintf(o, "totals current_bytes %llu peak_bytes %llu live_count %llu alloc_bytes %llu alloc_count %llu "
               "free_count %llu unknown_frees %llu failed_allocs %llu stack_count %llu overhead_bytes %llu\n",
            (unsigned long long)t->current_bytes, (unsigned long long)t->peak_bytes, (unsigned long long)t->live_count,
            (unsigned long long)t->alloc_bytes, (unsigned long long)t->alloc_count, (unsigned long long)t->free_count,
            (unsigned long long)t->unknown_frees, (unsigned long long)t->failed_allocs,
            (unsigned long long)t->stack_count, (unsigned long long)t->overhead_bytes);
    fprintf(o, "calls");
    for (int i = 0; i < MS_FMT_CALL_COUNT; i++)
        fprintf(o, " %s %llu", ms_dump_calls[i], (unsigned long long)t->calls[i]);
    fprintf(o, "\nmodules %u\n", s->module_count);
    for (uint32_t i = 0; i < s->module_count; i++) {
        char hex[2 * 255 + 1] = "";
        if (s->modules[i].build_id_len <= 255)
            ms_dump_hex(hex, s->modules[i].build_id, s->modules[i].build_id_len);
        fprintf(o, "  [%u] base 0x%llx size 0x%llx build-id %s %s\n", i, (unsigned long long)s->modules[i].base,
                (unsigned long long)s->modules[i].size, hex[0] ? hex : "-", s->modules[i].path);
    }
    fprintf(o, "stacks %u\n", s->stack_count);
    for (uint32_t i = 0; i < s->stack_count; i++) {
        fprintf(o, "  [%u] depth %u%s%s:", i, s->stacks[i].depth,
                s->stacks[i].flags & MS_FMT_STACK_TRUNCATED ? " truncated" : "",
                s->stacks[i].flags & MS_FMT_STACK_BROKEN ? " broken" : "");
        for (uint32_t j = 0; j < s->stacks[i].depth; j++) {
            const struct ms_frame *f = &s->stacks[i].frames[j];
            if (f->module == MS_FMT_MODULE_NONE)
                fprintf(o, " ?+0x%llx", (unsigned long long)f->offset);
            else
                fprintf(o, " %u+0x%llx", f->module, (unsigned long long)f->offset);
        }
        fputc('\n', o);
    }
    fprintf(o, "sites %u\n", s->site_count);
    for (uint32_t i = 0; i < s->site_count; i++) {
        const struct ms_site *x = &s->sites[i];
        fprintf(o, "  stack %u live %llu B in %llu, allocated %llu B in %llu, freed %llu B in %llu", x->stack,
                (unsigned long long)x->live_bytes, (unsigned long long)x->live_count,
                (unsigned long long)x->alloc_bytes, (unsigned long long)x->alloc_count,
                (unsigned long long)x->free_bytes, (unsigned long long)x->free_count);
        if (s->has_temporary) /* TEMPORARY section (1.4) */
            fprintf(o, ", %llu temporary", (unsigned long long)x->temp_count);
        fputc('\n', o);
    }
    fprintf(o, "labels %u\n", s->label_count);
    for (uint32_t i = 0; i < s->label_count; i++)
        fprintf(o, "  %s = %s\n", s->labels[i].key, s->labels[i].value);
    ms_dump_text_leaks(o, s);
    if (s->has_memory) {
        fprintf(o, "memory rss_bytes %llu\nsize classes (live blocks of min..max bytes):\n",
                (unsigned long long)s->memory.rss_bytes);
        for (unsigned k = 0; k < MS_FMT_SIZE_CLASSES; k++) {
            if (!s->memory.class_count[k])
                continue;
            uint64_t lo = k ? UINT64_C(1) << (k - 1) : 0;
            if (k == MS_FMT_SIZE_CLASSES - 1)
                fprintf(o, "  %llu.. ", (unsigned long long)lo);
            else
                fprintf(o, "  %llu..%llu ", (unsigned long long)lo, (unsigned long long)(k ? 2 * lo - 1 : 0));
            fprintf(o, "count %llu bytes %llu\n", (unsigned long long)s->memory.class_count[k],
                    (unsigned long long)s->memory.class_bytes[k]);
        }
    }
}

enum ms_status ms_dump_main(const struct ms_cli *cli, struct ms_error *err)
{
    struct ms_snap **snaps = NULL;
    enum ms_status r;
    if (cli->input_count != 1)
        return ms_error_set(err, MS_USAGE, "dump takes one snapshot");
    if ((r = ms_output_load(cli, &snaps, err)) != MS_OK)
        return r;
    if (cli->format == MS_OUT_JSON)
        r = ms_output_json(cli, ms_dump_render_json(snaps[0]), err);
    else
        ms_dump_render_text(cli->out, snaps[0]);
    ms_output_unload(cli, snaps);
    return r;
}
