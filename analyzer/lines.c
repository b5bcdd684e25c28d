/* `memsnap lines`: memory_profiler's line-by-line table, with exact bytes per source line. A line is
 * charged for everything allocated while it was on the stack (its own calls and its callees'), once per
 * stack, which is what memory_profiler's "Increment" approximates with RSS. */
#include <fnmatch.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "analyze.h"

struct ms_lines_entry {
    uint32_t file; /* strtab id */
    uint32_t line;
    uint64_t alloc_bytes, live_bytes, alloc_count;
};

struct ms_lines_file {
    uint32_t file;
    uint32_t first, last; /* line range to show */
};

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

static bool ms_lines_frame_matches(const struct ms_cli *cli, const struct ms_sym_frame *f)
{
    if (!f->file || !f->line)
        return false;
    if (cli->file)
        return ms_lines_file_matches(f->file, cli->file);
    return f->function && (strcmp(f->function, cli->function) == 0 || fnmatch(cli->function, f->function, 0) == 0);
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
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            char **nv = realloc(v, cap * sizeof *nv);
            if (!nv)
                break;
            v = nv;
        }
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

enum ms_status ms_lines_main(const struct ms_cli *cli, struct ms_error *err)
{
    struct ms_snap **snaps = NULL;
    struct ms_symbolizer *sym = NULL;
    struct ms_map *index = NULL;
    struct ms_lines_entry *ent = NULL;
    struct ms_lines_file *files = NULL;
    void **handles = NULL;
    const struct ms_sym_frame **st = NULL;
    uint64_t *seen = NULL;
    size_t nent = 0, cap = 0, nfiles = 0;
    enum ms_status r;
    if (cli->input_count != 1)
        return ms_error_set(err, MS_USAGE, "lines takes one snapshot");
    if (!cli->file == !cli->function)
        return ms_error_set(err, MS_USAGE, "lines needs exactly one of --file F or --function F");
    if (!(index = ms_map_new()))
        return ms_error_set(err, MS_NOMEM, "out of memory");
    if ((r = ms_output_load(cli, &snaps, err)) != MS_OK || (r = ms_symbolize_new(&cli->sym, &sym, err)) != MS_OK ||
        (r = ms_symbolize_attach(sym, snaps[0], &handles, err)) != MS_OK)
        goto out;
    const struct ms_snap *snap = snaps[0];
    struct ms_strtab *strs = ms_symbolize_strtab(sym);
    for (uint32_t i = 0; i < snap->site_count; i++) {
        const struct ms_site *site = &snap->sites[i];
        uint32_t n;
        free(st);
        st = NULL;
        if (ms_group_stack(sym, handles, snap, site->stack, &st, &n) != MS_OK) {
            r = ms_error_set(err, MS_NOMEM, "out of memory");
            goto out;
        }
        free(seen);
        if (!(seen = malloc((n + 1) * sizeof *seen))) {
            r = ms_error_set(err, MS_NOMEM, "out of memory");
            goto out;
        }
        size_t nseen = 0;
        for (uint32_t j = 0; j < n; j++) {
            const struct ms_sym_frame *f = st[j];
            if (!ms_lines_frame_matches(cli, f))
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
            if (!slot) {
                r = ms_error_set(err, MS_NOMEM, "out of memory");
                goto out;
            }
            if (created) {
                if (nent == cap) {
                    cap = cap ? cap * 2 : 256;
                    struct ms_lines_entry *ne = realloc(ent, cap * sizeof *ne);
                    if (!ne) {
                        r = ms_error_set(err, MS_NOMEM, "out of memory");
                        goto out;
                    }
                    ent = ne;
                }
                ent[nent] = (struct ms_lines_entry){.file = key[0], .line = key[1]};
                *slot = (uint32_t)++nent;
                /* The file list, with the function's first line when known. */
                size_t fi = 0;
                while (fi < nfiles && files[fi].file != key[0])
                    fi++;
                if (fi == nfiles) {
                    struct ms_lines_file *nf = realloc(files, (nfiles + 1) * sizeof *nf);
                    if (!nf) {
                        r = ms_error_set(err, MS_NOMEM, "out of memory");
                        goto out;
                    }
                    files = nf;
                    files[nfiles++] = (struct ms_lines_file){key[0], key[1], key[1]};
                }
                if (key[1] < files[fi].first)
                    files[fi].first = key[1];
                if (key[1] > files[fi].last)
                    files[fi].last = key[1];
                if (cli->function && f->decl_line && f->decl_line < files[fi].first)
                    files[fi].first = f->decl_line;
            }
            struct ms_lines_entry *e = &ent[*slot - 1];
            e->alloc_bytes += site->alloc_bytes;
            e->live_bytes += site->live_bytes;
            e->alloc_count += site->alloc_count;
        }
    }
    if (nfiles == 0) {
        r = ms_error_set(err, MS_INPUT, "%s: no allocation has a frame in %s %s", snap->path,
                         cli->file ? "file" : "function", cli->file ? cli->file : cli->function);
        goto out;
    }
    qsort(ent, nent, sizeof *ent, ms_lines_cmp);
    for (size_t i = 1; i < nfiles; i++) /* files in name order, for stable output */
        for (size_t j = i; j > 0 && files[j].file < files[j - 1].file; j--) {
            struct ms_lines_file t = files[j];
            files[j] = files[j - 1];
            files[j - 1] = t;
        }
    json_t *jfiles = cli->format == MS_OUT_JSON ? json_array() : NULL;
    size_t e = 0;
    for (size_t fi = 0; fi < nfiles; fi++) {
        const char *path = ms_strtab_get(strs, files[fi].file);
        size_t nsrc;
        char **src = ms_lines_read_source(path, cli->source_dir, &nsrc);
        uint32_t first = cli->file ? 1 : files[fi].first, last = files[fi].last;
        if (cli->file && nsrc > last)
            last = (uint32_t)nsrc;
        if (cli->function && src) /* extend to the closing brace of the function */
            while (last < nsrc && src[last - 1][0] != '}')
                last++;
        json_t *jl = jfiles ? json_array() : NULL;
        if (!jfiles) {
            fprintf(cli->out, "Filename: %s%s\n\n", path, src ? "" : " (source not found; see --source-dir)");
            const char *hdr = "Line #    Allocated     Live now  Allocations   Line Contents";
            fprintf(cli->out, "%s\n", hdr);
            for (size_t i = 0; i < strlen(hdr); i++)
                fputc('=', cli->out);
            fputc('\n', cli->out);
        }
        while (e < nent && ent[e].file != files[fi].file)
            e++;
        for (uint32_t ln = first; ln <= last; ln++) {
            const char *text = src && ln >= 1 && ln <= nsrc ? src[ln - 1] : "";
            const struct ms_lines_entry *en = e < nent && ent[e].file == files[fi].file && ent[e].line == ln
                                                  ? &ent[e++] : NULL;
            if (jl) {
                if (en)
                    json_array_append_new(jl, json_pack("{s:I, s:I, s:I, s:I, s:o}", "line", (json_int_t)ln,
                                                        "allocated", (json_int_t)en->alloc_bytes, "live",
                                                        (json_int_t)en->live_bytes, "count",
                                                        (json_int_t)en->alloc_count, "text", ms_output_json_str(text)));
                continue;
            }
            if (en) {
                char a[64], b[64];
                fprintf(cli->out, "%6u %12s %12s  %10llu   %s\n", ln,
                        ms_size_format(a, sizeof a, (double)en->alloc_bytes, false, cli->bytes),
                        ms_size_format(b, sizeof b, (double)en->live_bytes, false, cli->bytes),
                        (unsigned long long)en->alloc_count, text);
            } else {
                fprintf(cli->out, "%6u %12s %12s  %10s   %s\n", ln, "", "", "", text);
            }
        }
        if (!jl)
            fputc('\n', cli->out);
        if (jl)
            json_array_append_new(jfiles, json_pack("{s:o, s:b, s:o}", "file", ms_output_json_str(path), "source_found", src != NULL,
                                                    "lines", jl));
        ms_lines_free_source(src, nsrc);
    }
    if (jfiles)
        r = ms_output_json(cli, json_pack("{s:s, s:o, s:s, s:o, s:o}", "command", "lines", "snapshot",
                                          ms_output_json_str(snap->path), "select", cli->file ? "file" : "function",
                                          "pattern", ms_output_json_str(cli->file ? cli->file : cli->function),
                                          "files", jfiles),
                           err);
out:
    free(seen);
    free(st);
    free(handles);
    free(ent);
    free(files);
    ms_map_free(index);
    ms_symbolize_free(sym);
    ms_output_unload(cli, snaps);
    return r;
}
