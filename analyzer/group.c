/* Grouping sites by a key built from symbolized frames (never from addresses), so that two snapshots, or
 * two runs with different load addresses, land on the same rows. */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "analyze.h"

enum ms_by ms_group_by_parse(const char *s, bool *ok)
{
    static const char *const names[] = {"line", "function", "file", "stack"};
    *ok = true;
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return (enum ms_by)i;
    /* tracemalloc's names for the same keys */
    if (strcmp(s, "lineno") == 0)
        return MS_BY_LINE;
    if (strcmp(s, "filename") == 0)
        return MS_BY_FILE;
    if (strcmp(s, "traceback") == 0)
        return MS_BY_STACK;
    *ok = false;
    return MS_BY_LINE;
}

const char *ms_group_by_name(enum ms_by by)
{
    static const char *const names[] = {"line", "function", "file", "stack"};
    return names[by];
}

static bool ms_group_profiler_frame(const struct ms_sym_frame *f)
{
    const char *base = strrchr(f->module, '/');
    base = base ? base + 1 : f->module;
    return strncmp(base, "libmemsnap", 10) == 0;
}

/* The symbolized stack into a reusable buffer (*buf, *cap). */
static enum ms_status ms_group_stack_into(struct ms_symbolizer *sym, void *const *handles, const struct ms_snap *snap,
                                          uint32_t stack, const struct ms_sym_frame ***buf, size_t *cap, uint32_t *n)
{
    const struct ms_stack *st = &snap->stacks[stack];
    size_t len = 0;
    const struct ms_sym_frame **v = *buf;
    for (uint32_t i = 0; i < st->depth; i++) {
        const struct ms_sym_frame *fr;
        size_t k = ms_symbolize_frame(sym, handles, snap, &st->frames[i], &fr);
        /* The profiler's own frames are noise if the unwinder left them in. */
        if (len == 0 && ms_group_profiler_frame(fr))
            continue;
        if (!MS_GROW(*buf, *cap, len + k, 16))
            return MS_NOMEM;
        v = *buf;
        for (size_t j = 0; j < k; j++)
            v[len++] = &fr[j];
    }
    *n = (uint32_t)len;
    return MS_OK;
}

enum ms_status ms_group_stack(struct ms_symbolizer *sym, void *const *handles, const struct ms_snap *snap,
                              uint32_t stack, const struct ms_sym_frame ***out, uint32_t *n)
{
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    enum ms_status r = ms_group_stack_into(sym, handles, snap, stack, out, &cap, n);
    if (r == MS_OK && !*out)
        *out = malloc(sizeof **out); /* an empty stack: still a valid array */
    if (r != MS_OK || !*out) {
        free(*out);
        *out = NULL;
        return MS_NOMEM;
    }
    return MS_OK;
}

const struct ms_sym_frame *const *ms_group_row_stack(struct ms_groups *g, struct ms_group_row *r, uint32_t *n)
{
    if (!r->stack && ms_group_stack(g->sym, g->handles, g->snap, r->example, &r->stack, &r->stack_len) != MS_OK) {
        *n = 0;
        return NULL;
    }
    r->stack_flags = g->snap->stacks[r->example].flags;
    *n = r->stack_len;
    return r->stack;
}

static bool ms_group_frame_matches(const struct ms_sym_frame *f, const char *pat)
{
    const char *base;
    if (f->file) {
        base = strrchr(f->file, '/');
        if (fnmatch(pat, f->file, 0) == 0 || (base && fnmatch(pat, base + 1, 0) == 0))
            return true;
    }
    if (f->function && fnmatch(pat, f->function, 0) == 0)
        return true;
    base = strrchr(f->module, '/');
    return fnmatch(pat, f->module, 0) == 0 || (base && fnmatch(pat, base + 1, 0) == 0);
}

/* The innermost frame outside the runtime (0 when every frame is in it). */
static uint32_t ms_group_site_frame(const struct ms_sym_frame *const *v, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (!v[i]->runtime)
            return i;
    return 0;
}

static bool ms_group_any_matches(const struct ms_sym_frame *const *v, uint32_t n, bool all_frames,
                                 const char *pat)
{
    uint32_t first = all_frames ? 0 : ms_group_site_frame(v, n);
    for (uint32_t i = first; i < n && (all_frames || i == first); i++)
        if (ms_group_frame_matches(v[i], pat))
            return true;
    return false;
}

static bool ms_group_keep(const struct ms_group_opts *o, const struct ms_sym_frame *const *v, uint32_t n)
{
    if (o->include && o->include[0]) {
        bool any = false;
        for (const char *const *p = o->include; *p && !any; p++)
            any = ms_group_any_matches(v, n, o->all_frames, *p);
        if (!any)
            return false;
    }
    for (const char *const *p = o->exclude; p && *p; p++)
        if (ms_group_any_matches(v, n, o->all_frames, *p))
            return false;
    return true;
}

static uint32_t ms_group_frame_key(const struct ms_sym_frame *f, enum ms_by by)
{
    return by == MS_BY_FUNCTION ? f->function_key : by == MS_BY_FILE ? f->file_key : f->line_key;
}

static struct ms_group_row *ms_group_row(struct ms_groups *g, const void *key, size_t klen, uint32_t label)
{
    bool created;
    uint32_t *slot = ms_map_slot(g->index, key, klen, &created);
    if (!slot)
        return NULL;
    if (!created)
        return &g->rows[*slot - 1];
    if (!MS_GROW(g->rows, g->cap, g->count + 1, 256))
        return NULL;
    struct ms_group_row *r = &g->rows[g->count];
    memset(r, 0, sizeof *r);
    r->label = label;
    *slot = (uint32_t)++g->count;
    return r;
}

static void ms_group_add(struct ms_group_row *r, const struct ms_snap *snap, const struct ms_site *site)
{
    ms_estimate_row_add(r, snap, site);
    r->size += site->live_bytes;
    r->count += site->live_count;
    r->alloc_bytes += site->alloc_bytes;
    r->alloc_count += site->alloc_count;
    r->temp_count += site->temp_count;
    /* The heaviest site is the row's example. */
    uint64_t w = site->live_bytes ? site->live_bytes : site->alloc_bytes / 2;
    if (r->example_weight == 0 || w > r->example_weight) {
        r->example = site->stack;
        r->example_weight = w ? w : 1;
    }
}

enum ms_status ms_group_snap(struct ms_symbolizer *sym, const struct ms_snap *snap,
                             const struct ms_group_opts *opts, struct ms_groups *g, struct ms_error *err)
{
    static const struct ms_group_opts defaults = {.by = MS_BY_LINE};
    struct ms_strtab *strs = ms_symbolize_strtab(sym);
    const struct ms_sym_frame **v = NULL;
    size_t vcap = 0;
    uint32_t *keybuf = NULL;
    size_t keycap = 0;
    enum ms_status r;
    if (!opts)
        opts = &defaults;
    memset(g, 0, sizeof *g);
    if (!(g->index = ms_map_new()))
        return ms_error_set(err, MS_NOMEM, "out of memory");
    g->sym = sym;
    g->snap = snap;
    if ((r = ms_symbolize_attach(sym, snap, &g->handles, err)) != MS_OK)
        goto out;
    uint32_t nostack = ms_strtab_intern(strs, "<no stack>", 10);
    bool cumulative = opts->cumulative && opts->by != MS_BY_STACK;
    for (uint32_t i = 0; i < snap->site_count; i++) {
        const struct ms_site *site = &snap->sites[i];
        uint32_t n;
        if (ms_group_stack_into(sym, g->handles, snap, site->stack, &v, &vcap, &n) != MS_OK) {
            r = ms_error_set(err, MS_NOMEM, "out of memory");
            goto out;
        }
        if (!ms_group_keep(opts, v, n))
            continue;
        g->size += site->live_bytes;
        g->count_total += site->live_count;
        ms_estimate_live_add(snap, site, &g->size_var, &g->count_var);
        g->alloc_bytes += site->alloc_bytes;
        g->alloc_count += site->alloc_count;
        g->temp_count += site->temp_count;
        if (!MS_GROW(keybuf, keycap, (size_t)n + 1, 16)) {
            r = ms_error_set(err, MS_NOMEM, "out of memory");
            goto out;
        }
        size_t nkeys = 0;
        if (opts->by == MS_BY_STACK) {
            for (uint32_t j = 0; j < n; j++)
                keybuf[j] = v[j]->id;
            struct ms_group_row *row =
                ms_group_row(g, keybuf, n * sizeof *keybuf, n ? v[ms_group_site_frame(v, n)]->line_key : nostack);
            if (!row) {
                r = ms_error_set(err, MS_NOMEM, "out of memory");
                goto out;
            }
            ms_group_add(row, snap, site);
            continue;
        }
        if (n == 0)
            keybuf[nkeys++] = nostack;
        uint32_t site_frame = ms_group_site_frame(v, n);
        for (uint32_t j = cumulative ? 0 : site_frame; j < n && (cumulative || j == site_frame); j++) {
            uint32_t k = ms_group_frame_key(v[j], opts->by);
            bool dup = false;
            /* A recursive stack counts once per key. */
            for (size_t q = 0; q < nkeys && !dup; q++)
                dup = keybuf[q] == k;
            if (!dup)
                keybuf[nkeys++] = k;
        }
        for (size_t q = 0; q < nkeys; q++) {
            struct ms_group_row *row = ms_group_row(g, &keybuf[q], sizeof *keybuf, keybuf[q]);
            if (!row) {
                r = ms_error_set(err, MS_NOMEM, "out of memory");
                goto out;
            }
            ms_group_add(row, snap, site);
        }
    }
    r = MS_OK;
out:
    free(v);
    free(keybuf);
    if (r != MS_OK)
        ms_group_free(g);
    return r;
}

void ms_group_free(struct ms_groups *g)
{
    for (size_t i = 0; i < g->count; i++)
        free(g->rows[i].stack);
    free(g->rows);
    free(g->handles);
    ms_map_free(g->index);
    memset(g, 0, sizeof *g);
}
