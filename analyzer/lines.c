/* `memsnap lines`: memory_profiler's line-by-line table, with exact bytes per source line. A line is
 * charged for everything allocated while it was on the stack (its own calls and its callees'), once per
 * stack, which is what memory_profiler's "Increment" approximates with RSS. */
#include <fnmatch.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "analyze.h"

static bool ms_lines_file_matches(const char *path, const char *want)
{
    size_t pl = strlen(path), wl = strlen(want);
    const char *base = strrchr(path, '/');
    if (strcmp(path, want) == 0 || (base && strcmp(base + 1, want) == 0))
        return true;
    if (pl > wl && path[pl - wl - 1] == '/' && strcmp(path + pl - wl, want) == 0)
        return true;
    return fnmatch(want, path, 0) == 0 || (base && fnmatch(want, base + 1, 0) == 0);
}

static bool ms_lines_frame_matches(const struct ms_lines_opts *o, const struct ms_sym_frame *f)
{
    if (!f->file || !f->line)
        return false;
    if (o->file)
        return ms_lines_file_matches(f->file, o->file);
    return f->function && (strcmp(f->function, o->function) == 0 || fnmatch(o->function, f->function, 0) == 0);
}

static int ms_lines_cmp(const void *a, const void *b)
{
    const struct ms_lines_entry *x = a, *y = b;
    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

/* Source files are named by the binary's DWARF, i.e. by whoever built it: only regular files of a sane
 * size are read, and never more than their stated size (a /proc file states 0). */
#define MS_LINES_SOURCE_MAX (16u << 20)

static FILE *ms_lines_open_regular(const char *path, uint64_t *size)
{
    FILE *f = ms_file_fopen_regular(path, size);
    if (f && (*size == 0 || *size > MS_LINES_SOURCE_MAX)) {
        fclose(f);
        return NULL;
    }
    return f;
}

/* 1 when the resolved `path` lies inside the resolved directory `root`. */
static int ms_lines_inside(const char *root, const char *path)
{
    char *rp = realpath(path, NULL);
    size_t n = strlen(root);
    int inside = rp && strncmp(rp, root, n) == 0 && (rp[n] == '/' || (n == 1 && root[0] == '/'));
    free(rp);
    return inside;
}

/* The source text. With --source-dir, only files under it: "/build/x/src/a.c" finds DIR/src/a.c
 * (leading components stripped until DIR/rest exists). NULL when not found. */
static FILE *ms_lines_open_source(const char *path, const char *dir, uint64_t *size)
{
    if (!dir)
        return ms_lines_open_regular(path, size);
    char *root = realpath(dir, NULL);
    FILE *f = NULL;
    char buf[8192];
    for (const char *p = path; root && p && !f; p = strchr(p + 1, '/')) {
        const char *rest = *p == '/' ? p + 1 : p;
        snprintf(buf, sizeof buf, "%s/%s", root, rest);
        if (ms_lines_inside(root, buf))
            f = ms_lines_open_regular(buf, size);
    }
    free(root);
    return f;
}

static char **ms_lines_read_source(const char *path, const char *dir, size_t *nlines)
{
    uint64_t size = 0, total = 0;
    FILE *f = ms_lines_open_source(path, dir, &size);
    char **v = NULL, *line = NULL;
    size_t n = 0, cap = 0, lcap = 0;
    ssize_t got;
    *nlines = 0;
    if (!f)
        return NULL;
    while ((got = getline(&line, &lcap, f)) >= 0 && (total += (uint64_t)got) <= size) {
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
            line[--got] = 0;
        if (!MS_GROW(v, cap, n + 1, 256))
            break;
        if (!(v[n] = strdup(line)))
            break;
        n++;
    }
    free(line);
    fclose(f);
    *nlines = n;
    return v;
}

static void ms_lines_free_source(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* One site's stack: every matching source line charged once. */
static enum ms_status ms_lines_site(struct ms_lines *l, const struct ms_lines_opts *o, struct ms_strtab *strs,
                                    struct ms_map *index, const struct ms_site *site,
                                    const struct ms_sym_frame *const *st, uint32_t n, uint64_t *seen,
                                    size_t *cap, struct ms_error *err)
{
    size_t nseen = 0;
    double var[4] = {0}; /* live bytes, live blocks, allocated bytes, allocations */
    if (l->rates.sampled) {
        ms_estimate_site(l->snap->info.sample_rate, site->live_bytes, site->live_count, &var[0], &var[1]);
        ms_estimate_site(l->snap->info.sample_rate, site->alloc_bytes, site->alloc_count, &var[2], &var[3]);
    }
    for (uint32_t j = 0; j < n; j++) {
        const struct ms_sym_frame *f = st[j];
        if (!ms_lines_frame_matches(o, f))
            continue;
        uint32_t key[2] = {ms_strtab_intern(strs, f->file, strlen(f->file)), f->line};
        uint64_t k64 = (uint64_t)key[0] << 32 | key[1];
        bool dup = false;
        for (size_t q = 0; q < nseen && !dup; q++)
            dup = seen[q] == k64; /* recursion: once per stack */
        if (dup)
            continue;
        seen[nseen++] = k64;
        bool created;
        uint32_t *slot = ms_map_slot(index, key, sizeof key, &created);
        if (!slot)
            return ms_error_set(err, MS_NOMEM, "out of memory");
        if (created) {
            if (!MS_GROW(l->ent, *cap, l->nent + 1, 256))
                return ms_error_set(err, MS_NOMEM, "out of memory");
            l->ent[l->nent] = (struct ms_lines_entry){.file = key[0], .line = key[1]};
            *slot = (uint32_t)++l->nent;
            /* The file list, with the function's first line when known. */
            size_t fi = 0;
            while (fi < l->nfiles && l->files[fi].file != key[0])
                fi++;
            if (fi == l->nfiles) {
                struct ms_lines_file *nf = realloc(l->files, (l->nfiles + 1) * sizeof *nf);
                if (!nf)
                    return ms_error_set(err, MS_NOMEM, "out of memory");
                l->files = nf;
                l->files[l->nfiles++] = (struct ms_lines_file){.file = key[0], .first = key[1], .last = key[1]};
            }
            if (key[1] < l->files[fi].first)
                l->files[fi].first = key[1];
            if (key[1] > l->files[fi].last)
                l->files[fi].last = key[1];
            if (o->function && f->decl_line && f->decl_line < l->files[fi].first)
                l->files[fi].first = f->decl_line;
        }
        struct ms_lines_entry *e = &l->ent[*slot - 1];
        e->alloc_bytes += site->alloc_bytes;
        e->live_bytes += site->live_bytes;
        e->alloc_count += site->alloc_count;
        e->live_bytes_var += var[0];
        e->alloc_bytes_var += var[2];
        e->alloc_count_var += var[3];
    }
    return MS_OK;
}

enum ms_status ms_lines_compute(struct ms_symbolizer *sym, const struct ms_snap *snap, const struct ms_lines_opts *o,
                                struct ms_lines *l, struct ms_error *err)
{
    struct ms_map *index = NULL;
    void **handles = NULL;
    const struct ms_sym_frame **st = NULL;
    uint64_t *seen = NULL;
    size_t cap = 0;
    enum ms_status r;
    *l = (struct ms_lines){.snap = snap, .opts = *o};
    ms_estimate_rates_add(&l->rates, snap);
    if (!o->file == !o->function)
        return ms_error_set(err, MS_USAGE, "lines needs exactly one of --file F or --function F");
    if (!(index = ms_map_new()))
        return ms_error_set(err, MS_NOMEM, "out of memory");
    if ((r = ms_symbolize_attach(sym, snap, &handles, err)) != MS_OK)
        goto out;
    struct ms_strtab *strs = ms_symbolize_strtab(sym);
    for (uint32_t i = 0; i < snap->site_count; i++) {
        uint32_t n;
        free(st);
        st = NULL;
        if (ms_group_stack(sym, handles, snap, snap->sites[i].stack, &st, &n) != MS_OK) {
            r = ms_error_set(err, MS_NOMEM, "out of memory");
            goto out;
        }
        free(seen);
        if (!(seen = malloc((n + 1) * sizeof *seen))) {
            r = ms_error_set(err, MS_NOMEM, "out of memory");
            goto out;
        }
        if ((r = ms_lines_site(l, o, strs, index, &snap->sites[i], st, n, seen, &cap, err)) != MS_OK)
            goto out;
    }
    if (l->nfiles == 0) {
        r = ms_error_set(err, MS_INPUT, "%s: no allocation has a frame in %s %s", snap->path,
                         o->file ? "file" : "function", o->file ? o->file : o->function);
        goto out;
    }
    if (l->nent) /* ent is NULL when there are none */
        qsort(l->ent, l->nent, sizeof *l->ent, ms_lines_cmp);
    for (size_t i = 1; i < l->nfiles; i++) /* files in name order, for stable output */
        for (size_t j = i; j > 0 && l->files[j].file < l->files[j - 1].file; j--) {
            struct ms_lines_file t = l->files[j];
            l->files[j] = l->files[j - 1];
            l->files[j - 1] = t;
        }
    /* Each file's source and the lines shown: a whole file, or a function to its closing brace. */
    for (size_t fi = 0; fi < l->nfiles; fi++) {
        struct ms_lines_file *f = &l->files[fi];
        f->path = ms_strtab_get(strs, f->file);
        f->src = ms_lines_read_source(f->path, o->source_dir, &f->nsrc);
        if (o->file)
            f->first = 1;
        if (o->file && f->nsrc > f->last)
            f->last = (uint32_t)f->nsrc;
        if (o->function && f->src)
            while (f->last < f->nsrc && f->src[f->last - 1][0] != '}')
                f->last++;
    }
out:
    free(seen);
    free(st);
    free(handles);
    ms_map_free(index);
    return r;
}

void ms_lines_free(struct ms_lines *l)
{
    for (size_t i = 0; i < l->nfiles; i++)
        ms_lines_free_source(l->files[i].src, l->files[i].nsrc);
    free(l->files);
    free(l->ent);
    *l = (struct ms_lines){0};
}

/* Calls fn for each shown line of file fi with its entry (NULL: nothing allocated there) and its text. */
static void ms_lines_each(const struct ms_lines *l, size_t fi,
                          void (*fn)(void *ctx, uint32_t ln, const struct ms_lines_entry *en, const char *text),
                          void *ctx)
{
    const struct ms_lines_file *f = &l->files[fi];
    size_t e = 0;
    while (e < l->nent && l->ent[e].file != f->file)
        e++;
    for (uint32_t ln = f->first; ln <= f->last; ln++) {
        const char *text = f->src && ln >= 1 && ln <= f->nsrc ? f->src[ln - 1] : "";
        const struct ms_lines_entry *en =
            e < l->nent && l->ent[e].file == f->file && l->ent[e].line == ln ? &l->ent[e++] : NULL;
        fn(ctx, ln, en, text);
    }
}

struct ms_lines_json {
    json_t *lines;
    bool sampled;
};

static void ms_lines_json_line(void *ctx, uint32_t ln, const struct ms_lines_entry *en, const char *text)
{
    const struct ms_lines_json *j = ctx;
    if (!en)
        return;
    json_t *o = json_pack("{s:o, s:o, s:o, s:o, s:o}", "line", ms_output_json_u64(ln), "allocated",
                          ms_output_json_u64(en->alloc_bytes), "live", ms_output_json_u64(en->live_bytes), "count",
                          ms_output_json_u64(en->alloc_count), "text", ms_output_json_str(text));
    if (j->sampled) {
        ms_estimate_json_se(o, "allocated_se", en->alloc_bytes_var);
        ms_estimate_json_se(o, "live_se", en->live_bytes_var);
        ms_estimate_json_se(o, "count_se", en->alloc_count_var);
    }
    json_array_append_new(j->lines, o);
}

struct json_t *ms_lines_render_json(const struct ms_lines *l)
{
    json_t *jfiles = json_array();
    for (size_t fi = 0; fi < l->nfiles; fi++) {
        json_t *jl = json_array();
        struct ms_lines_json ctx = {jl, l->rates.sampled};
        ms_lines_each(l, fi, ms_lines_json_line, &ctx);
        json_array_append_new(jfiles, json_pack("{s:o, s:b, s:o}", "file", ms_output_json_str(l->files[fi].path),
                                                "source_found", l->files[fi].src != NULL, "lines", jl));
    }
    json_t *doc = json_pack("{s:s, s:o, s:s, s:o, s:o}", "command", "lines", "snapshot",
                            ms_output_json_str(l->snap->path), "select", l->opts.file ? "file" : "function", "pattern",
                            ms_output_json_str(l->opts.file ? l->opts.file : l->opts.function), "files", jfiles);
    ms_estimate_json_rate(doc, &l->rates);
    return doc;
}

struct ms_lines_text {
    FILE *out;
    bool exact;
};

/* Sampled: the estimates with their 95% intervals in columns of their own. */
#define MS_LINES_PM95 " \u00b195%"
static void ms_lines_text_estimate(void *ctx, uint32_t ln, const struct ms_lines_entry *en, const char *text)
{
    const struct ms_lines_text *t = ctx;
    if (en) {
        char a[64], b[64], pa[80], pb[80], pc[80];
        fprintf(t->out, "%6u %12s %11s %12s %11s  %10llu %7s   %s\n", ln,
                ms_size_format(a, sizeof a, (double)en->alloc_bytes, false, t->exact),
                ms_estimate_pm(pa, sizeof pa, en->alloc_bytes_var, true, t->exact),
                ms_size_format(b, sizeof b, (double)en->live_bytes, false, t->exact),
                ms_estimate_pm(pb, sizeof pb, en->live_bytes_var, true, t->exact), (unsigned long long)en->alloc_count,
                ms_estimate_pm(pc, sizeof pc, en->alloc_count_var, false, t->exact), text);
    } else {
        fprintf(t->out, "%6u %12s %11s %12s %11s  %10s %7s   %s\n", ln, "", "", "", "", "", "", text);
    }
}

static void ms_lines_text_line(void *ctx, uint32_t ln, const struct ms_lines_entry *en, const char *text)
{
    const struct ms_lines_text *t = ctx;
    if (en) {
        char a[64], b[64];
        fprintf(t->out, "%6u %12s %12s  %10llu   %s\n", ln,
                ms_size_format(a, sizeof a, (double)en->alloc_bytes, false, t->exact),
                ms_size_format(b, sizeof b, (double)en->live_bytes, false, t->exact),
                (unsigned long long)en->alloc_count, text);
    } else {
        fprintf(t->out, "%6u %12s %12s  %10s   %s\n", ln, "", "", "", text);
    }
}

void ms_lines_render_text(FILE *out, const struct ms_lines *l, bool exact)
{
    struct ms_lines_text t = {out, exact};
    bool est = l->rates.sampled;
    ms_estimate_text_note(out, &l->rates, exact);
    for (size_t fi = 0; fi < l->nfiles; fi++) {
        fprintf(out, "Filename: %s%s\n\n", l->files[fi].path,
                l->files[fi].src ? "" : " (source not found; see --source-dir)");
        char hdr[160] = "Line #    Allocated     Live now  Allocations   Line Contents";
        size_t width = strlen(hdr);
        if (est) { /* the columns of ms_lines_text_estimate; each "±" is two bytes, one column */
            snprintf(hdr, sizeof hdr, "%6s %12s %11s %12s %11s  %10s %7s   %s", "Line #", "Allocated", MS_LINES_PM95,
                     "Live now", MS_LINES_PM95, "Allocations", MS_LINES_PM95, "Line Contents");
            width = strlen(hdr) - 3;
        }
        fprintf(out, "%s\n", hdr);
        for (size_t i = 0; i < width; i++)
            fputc('=', out);
        fputc('\n', out);
        ms_lines_each(l, fi, est ? ms_lines_text_estimate : ms_lines_text_line, &t);
        fputc('\n', out);
    }
}

enum ms_status ms_lines_main(const struct ms_cli *cli, struct ms_error *err)
{
    struct ms_snap **snaps = NULL;
    struct ms_symbolizer *sym = NULL;
    struct ms_lines l = {0};
    enum ms_status r;
    if (cli->input_count != 1)
        return ms_error_set(err, MS_USAGE, "lines takes one snapshot");
    if (!cli->file == !cli->function)
        return ms_error_set(err, MS_USAGE, "lines needs exactly one of --file F or --function F");
    struct ms_lines_opts o = {cli->file, cli->function, cli->source_dir};
    if ((r = ms_output_load(cli, &snaps, err)) != MS_OK || (r = ms_symbolize_new(&cli->sym, &sym, err)) != MS_OK ||
        (r = ms_lines_compute(sym, snaps[0], &o, &l, err)) != MS_OK)
        goto out;
    if (cli->format == MS_OUT_JSON)
        r = ms_output_json(cli, ms_lines_render_json(&l), err);
    else
        ms_lines_render_text(cli->out, &l, cli->bytes);
out:
    ms_lines_free(&l);
    ms_symbolize_free(sym);
    ms_output_unload(cli, snaps);
    return r;
}
