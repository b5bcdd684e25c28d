/* `memsnap export`: a snapshot in the formats other tools read. Every format starts from the same rows:
 * sites merged by symbolized stack (the by-stack grouping, so filters and keys mean what they mean in top). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analyze.h"

enum ms_status ms_export_group(struct ms_symbolizer *sym, const struct ms_snap *snap, const struct ms_cli *cli,
                               struct ms_groups *g, struct ms_error *err)
{
    struct ms_group_opts go = {MS_BY_STACK, false, cli->include, cli->exclude, cli->all_frames};
    enum ms_status r = ms_group_snap(sym, snap, &go, g, err);
    if (r != MS_OK)
        return r;
    for (size_t i = 0; i < g->count; i++) {
        uint32_t n;
        if (!ms_group_row_stack(g, &g->rows[i], &n)) {
            ms_group_free(g);
            return ms_error_set(err, MS_NOMEM, "out of memory");
        }
    }
    return MS_OK;
}

uint64_t ms_export_weight(const struct ms_group_row *r, const struct ms_export_opts *o)
{
    if (o->allocated)
        return o->count ? r->alloc_count : r->alloc_bytes;
    return o->count ? r->count : r->size;
}

const char *ms_export_frame_name(struct ms_symbolizer *sym, const struct ms_sym_frame *f)
{
    return ms_strtab_get(ms_symbolize_strtab(sym), f->function_key);
}

enum ms_status ms_export_open(const struct ms_export_opts *o, struct ms_export_out *out, struct ms_error *err)
{
    memset(out, 0, sizeof *out);
    if (!o->output || strcmp(o->output, "-") == 0) {
        out->f = stdout;
        return MS_OK;
    }
    out->path = o->output;
    if (!(out->tmp = malloc(strlen(o->output) + 8)))
        return ms_error_set(err, MS_NOMEM, "out of memory");
    sprintf(out->tmp, "%s.XXXXXX", o->output);
    int fd = mkstemp(out->tmp);
    if (fd < 0) {
        enum ms_status r = ms_error_set(err, MS_IO, "%s: cannot write: %s", o->output, strerror(errno));
        free(out->tmp);
        out->tmp = NULL;
        return r;
    }
    /* mkstemp makes 0600; the file gets the mode a plain create would give. */
    mode_t mask = umask(0);
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) != 0 || !(out->f = fdopen(fd, "w"))) {
        enum ms_status r = ms_error_set(err, MS_IO, "%s: cannot write: %s", o->output, strerror(errno));
        close(fd);
        unlink(out->tmp);
        free(out->tmp);
        out->tmp = NULL;
        return r;
    }
    return MS_OK;
}

enum ms_status ms_export_close(struct ms_export_out *out, enum ms_status r, struct ms_error *err)
{
    if (!out->f)
        return r;
    const char *name = out->path ? out->path : "stdout";
    bool failed = ferror(out->f) != 0;
    failed |= out->tmp ? fclose(out->f) != 0 : fflush(out->f) != 0;
    if (failed && r == MS_OK)
        r = ms_error_set(err, MS_IO, "%s: writing failed: %s", name, strerror(errno));
    if (out->tmp) {
        if (r == MS_OK && rename(out->tmp, out->path) != 0)
            r = ms_error_set(err, MS_IO, "%s: cannot write: %s", name, strerror(errno));
        if (r != MS_OK)
            unlink(out->tmp);
        free(out->tmp);
    }
    memset(out, 0, sizeof *out);
    return r;
}

enum ms_status ms_export_begin(const struct ms_cli *cli, const struct ms_export_opts *o, bool group,
                               struct ms_export_run *run, struct ms_error *err)
{
    enum ms_status r;
    memset(run, 0, sizeof *run);
    if ((r = ms_export_open(o, &run->out, err)) != MS_OK || (r = ms_output_load(cli, &run->snaps, err)) != MS_OK ||
        (r = ms_symbolize_new(&cli->sym, &run->sym, err)) != MS_OK)
        return r;
    return group ? ms_export_group(run->sym, run->snaps[0], cli, &run->g, err) : MS_OK;
}

enum ms_status ms_export_end(const struct ms_cli *cli, struct ms_export_run *run, enum ms_status r,
                             struct ms_error *err)
{
    r = ms_export_close(&run->out, r, err);
    ms_group_free(&run->g);
    ms_symbolize_free(run->sym);
    ms_output_unload(cli, run->snaps);
    return r;
}

enum ms_status ms_export_main(const struct ms_cli *cli, const struct ms_export_opts *o, struct ms_error *err)
{
    struct ms_export_run run;
    enum ms_status r;
    if (o->format == MS_EXPORT_MASSIF ? cli->input_count < 1 : cli->input_count != 1)
        return ms_error_set(err, MS_USAGE, o->format == MS_EXPORT_MASSIF ? "export --format massif takes snapshots"
                                                                          : "export takes one snapshot (a series "
                                                                            "only with --format massif)");
    /* pprof and json carry every counter, massif live bytes only: a weight option there would be ignored. */
    if (o->format != MS_EXPORT_COLLAPSED && (o->allocated || o->count))
        return ms_error_set(err, MS_USAGE, "--allocated and --count weigh collapsed stacks; %s",
                            o->format == MS_EXPORT_MASSIF ? "massif shows live bytes"
                                                          : "pprof and json carry every counter");
    if (o->format == MS_EXPORT_PPROF && (!o->output || strcmp(o->output, "-") == 0) && isatty(STDOUT_FILENO))
        return ms_error_set(err, MS_USAGE, "pprof output is binary: give -o FILE (or redirect stdout)");
    if ((r = ms_export_begin(cli, o, o->format != MS_EXPORT_MASSIF, &run, err)) == MS_OK) {
        switch (o->format) {
        case MS_EXPORT_COLLAPSED: r = ms_export_collapsed_write(run.out.f, &run.g, o, err); break;
        case MS_EXPORT_PPROF: r = ms_export_pprof_write(run.out.f, &run.g, err); break;
        case MS_EXPORT_JSON: r = ms_export_json_write(run.out.f, &run.g, err); break;
        case MS_EXPORT_MASSIF:
            r = ms_export_massif_write(run.out.f, run.sym, run.snaps, (size_t)cli->input_count, cli, err);
            break;
        }
    }
    return ms_export_end(cli, &run, r, err);
}
