/* `memsnap leaks`: what an at-exit snapshot still holds, by stack, minus LeakSanitizer-style suppressions. */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "analyze.h"

/* One-time allocations of the C and C++ runtimes that live until exit by design. */
static const char *const ms_leaks_builtin[] = {
    "_IO_file_doallocate", /* stdio stream buffers */
    "^_nl_",               /* locale data (setlocale) */
    "^setlocale",
    "^__tzfile_read",      /* time zone data (tzset, localtime) */
    "^tzset_internal",
    "^_dl_",               /* the dynamic loader: link maps, TLS, dlopen/dlerror state */
    "^_dlerror_run",
    "^dlerror",
    "^__nss_",             /* name service modules (getpwnam, getaddrinfo) */
    "^nss_",
    "^__libc_dlopen_mode",
    "__cxa_thread_atexit", /* C++ thread_local destructors */
    "__gnu_cxx::__freeres",
    "textdomain",          /* gettext's domain names (textdomain, bindtextdomain) */
    "^__gconv",            /* iconv modules loaded by the C library */
};

struct ms_suppression {
    char *pattern;
    bool builtin;
};

struct ms_suppressions {
    struct ms_suppression *v;
    size_t n, cap;
    bool builtin;
};

bool ms_leaks_match(const char *templ, const char *str)
{
    /* A port of LeakSanitizer's TemplateMatch. */
    if (!str || !*str)
        return false;
    bool start = false, asterisk = false;
    if (*templ == '^') {
        start = true;
        templ++;
    }
    while (*templ) {
        if (*templ == '*') {
            templ++;
            start = false;
            asterisk = true;
            continue;
        }
        if (*templ == '$')
            return *str == 0 || asterisk;
        if (*str == 0)
            return false;
        size_t seg = strcspn(templ, "*$");
        char part[1024];
        if (seg >= sizeof part)
            seg = sizeof part - 1;
        memcpy(part, templ, seg);
        part[seg] = 0;
        const char *spos = strstr(str, part);
        if (!spos || (start && spos != str))
            return false;
        str = spos + seg;
        templ += strcspn(templ, "*$");
        start = false;
        asterisk = false;
    }
    return true;
}

static enum ms_status ms_leaks_add(struct ms_suppressions *s, const char *pat, size_t len, bool builtin)
{
    if (!MS_GROW(s->v, s->cap, s->n + 1, 32))
        return MS_NOMEM;
    char *p = strndup(pat, len);
    if (!p)
        return MS_NOMEM;
    s->v[s->n++] = (struct ms_suppression){.pattern = p, .builtin = builtin};
    return MS_OK;
}

enum ms_status ms_leaks_suppressions_load(const char *path, bool builtin, struct ms_suppressions **out,
                                          struct ms_error *err)
{
    enum ms_status r = MS_OK;
    FILE *f = NULL;
    char *line = NULL;
    size_t cap = 0;
    struct ms_suppressions *s = calloc(1, sizeof *s);
    *out = NULL;
    if (!s)
        return ms_error_set(err, MS_NOMEM, "out of memory");
    s->builtin = builtin;
    for (size_t i = 0; builtin && i < sizeof ms_leaks_builtin / sizeof *ms_leaks_builtin; i++)
        if (ms_leaks_add(s, ms_leaks_builtin[i], strlen(ms_leaks_builtin[i]), true) != MS_OK) {
            r = ms_error_set(err, MS_NOMEM, "out of memory");
            goto out;
        }
    if (path) {
        if (!(f = ms_file_fopen_regular(path, NULL))) {
            r = ms_error_set(err, MS_INPUT, "%s: cannot open suppressions: %s", path, ms_file_strerror(errno));
            goto out;
        }
        unsigned lineno = 0;
        ssize_t got;
        while ((got = getline(&line, &cap, f)) >= 0) {
            lineno++;
            char *p = line, *e = line + got;
            while (p < e && isspace((unsigned char)*p))
                p++;
            while (e > p && isspace((unsigned char)e[-1]))
                e--;
            if (p == e || *p == '#')
                continue;
            char *colon = memchr(p, ':', (size_t)(e - p));
            if (!colon || (size_t)(colon - p) != 4 || memcmp(p, "leak", 4) != 0) {
                r = ms_error_set(err, MS_INPUT, "%s:%u: not a suppression (expected leak:PATTERN): %.*s", path,
                                 lineno, (int)(e - p), p);
                goto out;
            }
            if (colon + 1 == e) {
                r = ms_error_set(err, MS_INPUT, "%s:%u: empty pattern after leak:", path, lineno);
                goto out;
            }
            if (ms_leaks_add(s, colon + 1, (size_t)(e - colon - 1), false) != MS_OK) {
                r = ms_error_set(err, MS_NOMEM, "out of memory");
                goto out;
            }
        }
        /* A directory opens, then fails to read: not an empty list. */
        if (ferror(f)) {
            r = ms_error_set(err, MS_INPUT, "%s: cannot read suppressions: %s", path, strerror(errno));
            goto out;
        }
    }
    *out = s;
    s = NULL;
out:
    free(line);
    if (f)
        fclose(f);
    ms_leaks_suppressions_free(s);
    return r;
}

void ms_leaks_suppressions_free(struct ms_suppressions *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].pattern);
    free(s->v);
    free(s);
}

static bool ms_leaks_frame_matches(const char *pat, const struct ms_sym_frame *f)
{
    const char *base = strrchr(f->module, '/');
    return ms_leaks_match(pat, f->function) || ms_leaks_match(pat, f->file) || ms_leaks_match(pat, f->module) ||
           (base && ms_leaks_match(pat, base + 1));
}

/* A stack made only of the runtime's frames was not the program's doing. */
static bool ms_leaks_runtime_only(const struct ms_sym_frame *const *frames, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (!frames[i]->runtime)
            return false;
    return n > 0;
}

/* Per frame (by its serial), the first suppression it matches + 1; 0: not matched yet. */
struct ms_leaks_memo {
    uint32_t *first;
    size_t cap;
};

/* The first suppression a frame matches (s->n: none), each distinct frame matched once. -1 on no memory. */
static int ms_leaks_frame_first(const struct ms_suppressions *s, struct ms_leaks_memo *memo,
                                const struct ms_sym_frame *f)
{
    uint32_t *v = NULL, k = 0;
    if (f->serial) {
        size_t old = memo->cap;
        if (!MS_GROW(memo->first, memo->cap, f->serial, 1024))
            return -1;
        if (memo->cap > old)
            memset(memo->first + old, 0, (memo->cap - old) * sizeof *memo->first);
        v = &memo->first[f->serial - 1];
        if (*v)
            return (int)*v - 1;
    }
    while (k < s->n && !ms_leaks_frame_matches(s->v[k].pattern, f))
        k++;
    if (v)
        *v = k + 1;
    return (int)k;
}

/* ms_leaks_suppressed through the memo; -2 on no memory. */
static int ms_leaks_suppressed_memo(const struct ms_suppressions *s, struct ms_leaks_memo *memo,
                                    const struct ms_sym_frame *const *frames, uint32_t n)
{
    int first = (int)s->n;
    for (uint32_t i = 0; i < n; i++) {
        int k = ms_leaks_frame_first(s, memo, frames[i]);
        if (k < 0)
            return -2;
        first = k < first ? k : first;
    }
    if (first < (int)s->n)
        return first;
    if (s->builtin && ms_leaks_runtime_only(frames, n))
        return (int)s->n;
    return -1;
}

int ms_leaks_suppressed(const struct ms_suppressions *s, const struct ms_sym_frame *const *frames, uint32_t n)
{
    for (size_t k = 0; k < s->n; k++)
        for (uint32_t i = 0; i < n; i++)
            if (ms_leaks_frame_matches(s->v[k].pattern, frames[i]))
                return (int)k;
    if (s->builtin && ms_leaks_runtime_only(frames, n))
        return (int)s->n; /* the built-in "runtime only" rule */
    return -1;
}

static int ms_leaks_cmp(const void *a, const void *b)
{
    const struct ms_leaks_entry *xe = a, *ye = b;
    const struct ms_group_row *x = xe->row, *y = ye->row;
    if (x->size != y->size)
        return x->size > y->size ? -1 : 1;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    /* Same size: a stable order for golden files, by the frames' text (ranked in ms_leaks_rank). */
    for (uint32_t i = 0; i < x->stack_len && i < y->stack_len; i++)
        if (x->stack[i]->id != y->stack[i]->id)
            return (xe->rank_[i] > ye->rank_[i]) - (xe->rank_[i] < ye->rank_[i]);
    return (int)x->stack_len - (int)y->stack_len;
}

static const char *const *ms_leaks_rank_texts; /* for qsort's comparator */

static int ms_leaks_text_cmp(const void *a, const void *b)
{
    return strcmp(ms_leaks_rank_texts[*(const uint32_t *)a], ms_leaks_rank_texts[*(const uint32_t *)b]);
}

/* Each entry's frames ranked by their text (ms_symbolize_describe), equal texts equal: the sort's tie-break
 * compares two integers where it formatted two frames. */
static enum ms_status ms_leaks_rank(struct ms_leaks *l, struct ms_error *err)
{
    enum ms_status r = MS_OK;
    size_t total = 0, nd = 0;
    uint32_t serials = 0;
    for (size_t i = 0; i < l->count; i++) {
        const struct ms_group_row *row = l->entries[i].row;
        total += row->stack_len;
        for (uint32_t j = 0; j < row->stack_len; j++)
            serials = row->stack[j]->serial > serials ? row->stack[j]->serial : serials;
    }
    /* Frame serial -> its index among the distinct frames + 1 (serial 0, a frame the symbolizer did not
     * number, is only ever its one placeholder for no memory). */
    uint32_t *index = calloc((size_t)serials + 1, sizeof *index);
    const struct ms_sym_frame **frames = malloc((total + 1) * sizeof *frames);
    char **texts = NULL;
    uint32_t *order = NULL, *rank = NULL;
    l->ranks_ = malloc((total + 1) * sizeof *l->ranks_);
    if (!index || !frames || !l->ranks_)
        goto nomem;
    uint32_t *dense = l->ranks_;
    for (size_t i = 0; i < l->count; i++) {
        const struct ms_group_row *row = l->entries[i].row;
        l->entries[i].rank_ = dense;
        for (uint32_t j = 0; j < row->stack_len; j++) {
            uint32_t *v = &index[row->stack[j]->serial];
            if (!*v) {
                frames[nd] = row->stack[j];
                *v = (uint32_t)++nd;
            }
            *dense++ = *v - 1;
        }
    }
    texts = calloc(nd + 1, sizeof *texts);
    order = malloc((nd + 1) * sizeof *order);
    rank = malloc((nd + 1) * sizeof *rank);
    if (!texts || !order || !rank)
        goto nomem;
    for (size_t i = 0; i < nd; i++) {
        char buf[4096];
        if (!(texts[i] = strdup(ms_symbolize_describe(frames[i], buf, sizeof buf))))
            goto nomem;
        order[i] = (uint32_t)i;
    }
    ms_leaks_rank_texts = (const char *const *)texts;
    qsort(order, nd, sizeof *order, ms_leaks_text_cmp);
    for (size_t i = 0; i < nd; i++)
        rank[order[i]] = i && strcmp(texts[order[i]], texts[order[i - 1]]) == 0 ? rank[order[i - 1]] : (uint32_t)i;
    for (size_t i = 0; i < total; i++)
        l->ranks_[i] = rank[l->ranks_[i]];
    goto out;
nomem:
    r = ms_error_set(err, MS_NOMEM, "out of memory");
out:
    for (size_t i = 0; texts && i < nd; i++)
        free(texts[i]);
    free(texts);
    free(order);
    free(rank);
    free(frames);
    free(index);
    return r;
}

static const char *const ms_leaks_kind_json[] = {"definitely_lost", "indirectly_lost", "still_reachable", "unknown"};
static const char *const ms_leaks_kind_text[] = {"definitely lost", "indirectly lost", "still reachable",
                                                 "still allocated"};

/* Stacks already counted, by their frames' ids: one stack has a row in each kind its blocks fall in, and
 * the figures that span kinds (the lost total, the suppressed ones) count it once. */
enum { MS_LEAKS_SEEN_LOST = 1, MS_LEAKS_SEEN_SUPPRESSED = 2 };

struct ms_leaks_seen {
    struct ms_map *map; /* ids -> MS_LEAKS_SEEN_* bits */
    uint32_t *key;
    size_t cap;
};

/* Marks the stack with `bit`; *first tells whether it was not marked so before. */
static enum ms_status ms_leaks_seen_mark(struct ms_leaks_seen *s, const struct ms_sym_frame *const *frames,
                                         uint32_t n, uint32_t bit, bool *first, struct ms_error *err)
{
    if (n + 1 > s->cap) { /* + 1: an empty stack still has a key buffer to point at */
        uint32_t *nk = realloc(s->key, (n + 1) * sizeof *nk);
        if (!nk)
            return ms_error_set(err, MS_NOMEM, "out of memory");
        s->key = nk;
        s->cap = n + 1;
    }
    for (uint32_t i = 0; i < n; i++)
        s->key[i] = frames[i]->id;
    bool created;
    uint32_t *v = ms_map_slot(s->map, s->key, n * sizeof *s->key, &created);
    if (!v)
        return ms_error_set(err, MS_NOMEM, "out of memory");
    *first = !(*v & bit);
    *v |= bit;
    return MS_OK;
}

/* Per stack, the indirectly lost bytes and blocks that hang from a suppressed block. */
struct ms_leaks_hidden {
    uint64_t bytes, blocks;
    int sup; /* 1 + the suppression of (the first of) their roots; 0: none */
};

/* LeakSanitizer's rule: what is reachable only from a suppressed block is not reported either. A snapshot's
 * LEAK_ROOTS (1.5) says which definitely lost block's stack each indirectly lost block hangs from: when that
 * stack is suppressed, the blocks are left out of the indirect kind (and counted as suppressed later).
 * hidden[stack_count + 1], calloc'd; *any: some block is hidden. */
static enum ms_status ms_leaks_hidden(struct ms_symbolizer *sym, const struct ms_snap *snap,
                                      const struct ms_suppressions *sup, struct ms_leaks_hidden **hidden,
                                      bool *any, struct ms_error *err)
{
    enum ms_status r = MS_OK;
    void **handles = NULL;
    const struct ms_sym_frame **st = NULL;
    int *verdict = NULL; /* per stack: -3 not looked at yet, else ms_leaks_suppressed's answer */
    *hidden = calloc(snap->stack_count + 1, sizeof **hidden);
    if (!*hidden)
        return ms_error_set(err, MS_NOMEM, "out of memory");
    if (!snap->leak_root_count)
        return MS_OK;
    if (!(verdict = malloc(snap->stack_count * sizeof *verdict))) {
        r = ms_error_set(err, MS_NOMEM, "out of memory");
        goto out;
    }
    for (uint32_t i = 0; i < snap->stack_count; i++)
        verdict[i] = -3;
    if ((r = ms_symbolize_attach(sym, snap, &handles, err)) != MS_OK)
        goto out;
    for (uint32_t i = 0; i < snap->leak_root_count; i++) {
        const struct ms_leak_root *lr = &snap->leak_roots[i];
        if (verdict[lr->root] == -3) {
            uint32_t n;
            free(st);
            st = NULL;
            if (ms_group_stack(sym, handles, snap, lr->root, &st, &n) != MS_OK) {
                r = ms_error_set(err, MS_NOMEM, "out of memory");
                goto out;
            }
            verdict[lr->root] = ms_leaks_suppressed(sup, st, n);
        }
        int s = verdict[lr->root];
        if (s < 0)
            continue;
        struct ms_leaks_hidden *h = &(*hidden)[lr->stack];
        h->bytes += lr->bytes;
        h->blocks += lr->count;
        h->sup = h->sup ? h->sup : s + 1;
        *any = true;
    }
out:
    free(st);
    free(verdict);
    free(handles);
    return r;
}

/* Without a scan there is one kind, grouped by stack: each row is a stack of its own, never seen before. */
static enum ms_status ms_leaks_seen(const struct ms_leaks *l, struct ms_leaks_seen *s,
                                    const struct ms_sym_frame *const *frames, uint32_t n, uint32_t bit, bool *first,
                                    struct ms_error *err)
{
    if (!l->scanned) {
        *first = true;
        return MS_OK;
    }
    return ms_leaks_seen_mark(s, frames, n, bit, first, err);
}

/* Adds a row to a sum; its stack counts when `stack`. */
static void ms_leaks_sum_add(struct ms_leaks_sum *sum, const struct ms_group_row *row, bool stack)
{
    sum->stacks += stack;
    sum->bytes += row->size;
    sum->blocks += row->count;
    sum->bytes_var += row->size_var;
    sum->blocks_var += row->count_var;
}

/* Counts a suppressed row against suppression s (sup->n: the runtime's), its stack once. */
static enum ms_status ms_leaks_charge(struct ms_leaks *l, struct ms_leaks_seen *seen, const struct ms_sym_frame *const *st,
                                      uint32_t sn, int s, const struct ms_group_row *row, struct ms_error *err)
{
    bool first;
    enum ms_status r = ms_leaks_seen(l, seen, st, sn, MS_LEAKS_SEEN_SUPPRESSED, &first, err);
    if (r != MS_OK)
        return r;
    ms_leaks_sum_add(&l->suppressed, row, first);
    ms_leaks_sum_add(&l->hits[s], row, first);
    return MS_OK;
}

/* A view of the snapshot whose live counters are one kind's (from LEAKS, less what `hidden` leaves out of
 * the indirect kind), so that grouping, filters and stacks work unchanged. MS_LEAKS_KINDS: what `hidden`
 * leaves out. */
static enum ms_status ms_leaks_view(const struct ms_snap *snap, enum ms_leaks_kind kind,
                                    const struct ms_leaks_hidden *hidden, struct ms_snap *view, struct ms_error *err)
{
    *view = *snap;
    view->sites = malloc((snap->site_count ? snap->site_count : 1) * sizeof *view->sites);
    if (!view->sites)
        return ms_error_set(err, MS_NOMEM, "out of memory");
    for (uint32_t i = 0; i < snap->site_count; i++) {
        struct ms_site st = snap->sites[i];
        const struct ms_leak *l = ms_snapfile_leak(snap, st.stack);
        switch (kind) {
        case MS_LEAKS_DEFINITE:
            st.live_bytes = l ? l->lost_bytes : 0;
            st.live_count = l ? l->lost_count : 0;
            break;
        case MS_LEAKS_INDIRECT: {
            const struct ms_leaks_hidden *h = &hidden[st.stack < snap->stack_count ? st.stack : snap->stack_count];
            st.live_bytes = l && l->indirect_bytes > h->bytes ? l->indirect_bytes - h->bytes : 0;
            st.live_count = l && l->indirect_count > h->blocks ? l->indirect_count - h->blocks : 0;
            break;
        }
        case MS_LEAKS_REACHABLE:
            st.live_bytes = l ? l->reachable_bytes : 0;
            st.live_count = l ? l->reachable_count : 0;
            break;
        case MS_LEAKS_KINDS: {
            const struct ms_leaks_hidden *h = &hidden[st.stack < snap->stack_count ? st.stack : snap->stack_count];
            st.live_bytes = h->bytes;
            st.live_count = h->blocks;
            break;
        }
        default:
            break;
        }
        view->sites[i] = st;
    }
    return MS_OK;
}

/* One kind's rows: suppressed ones counted against their suppression, the others summed and, when the kind
 * is listed, appended to l->entries. */
static enum ms_status ms_leaks_kind_rows(struct ms_leaks *l, enum ms_leaks_kind k, struct ms_leaks_seen *seen,
                                         struct ms_leaks_memo *memo, struct ms_error *err)
{
    struct ms_groups *g = &l->groups_[k];
    bool lost_kind = k != MS_LEAKS_REACHABLE;
    enum ms_status r;
    for (size_t i = 0; i < g->count; i++) {
        struct ms_group_row *row = &g->rows[i];
        if (!row->count)
            continue;
        uint32_t sn;
        const struct ms_sym_frame *const *st = ms_group_row_stack(g, row, &sn);
        if (!st)
            return ms_error_set(err, MS_NOMEM, "out of memory");
        int s = ms_leaks_suppressed_memo(l->sup, memo, st, sn);
        if (s == -2)
            return ms_error_set(err, MS_NOMEM, "out of memory");
        bool first;
        if (s >= 0) {
            if (!l->listed[k])
                continue;
            /* Suppression depends on the frames alone: a stack seen before matched this same entry. */
            if ((r = ms_leaks_charge(l, seen, st, sn, s, row, err)) != MS_OK)
                return r;
            continue;
        }
        ms_leaks_sum_add(&l->kinds[k], row, true);
        if (lost_kind) {
            if ((r = ms_leaks_seen(l, seen, st, sn, MS_LEAKS_SEEN_LOST, &first, err)) != MS_OK)
                return r;
            l->lost.stacks += first;
        }
        if (l->listed[k])
            l->entries[l->count++] = (struct ms_leaks_entry){.row = row, .kind = k};
    }
    return MS_OK;
}

enum ms_status ms_leaks_compute(struct ms_symbolizer *sym, const struct ms_snap *snap,
                                const struct ms_suppressions *sup, const struct ms_leaks_opts *o, struct ms_leaks *l,
                                struct ms_error *err)
{
    struct ms_leaks_seen seen = {0};
    struct ms_leaks_hidden *hidden = NULL;
    bool hidden_any = false;
    struct ms_snap hidden_view = {0};
    struct ms_groups hidden_groups = {0};
    struct ms_leaks_memo memo = {0};
    enum ms_status r = MS_OK;
    struct ms_group_opts go = {MS_BY_STACK, false, o->include, o->exclude, o->all_frames};
    *l = (struct ms_leaks){.snap = snap, .sup = sup};
    l->at_exit = snap->flags & MS_FMT_FLAG_AT_EXIT;
    ms_estimate_rates_add(&l->rates, snap);
    l->scanned = snap->has_leaks;
    /* The kinds listed: with a scan, still-reachable blocks only on request (counted for the summary even
     * when not listed). */
    l->listed[MS_LEAKS_DEFINITE] = l->listed[MS_LEAKS_INDIRECT] = l->scanned;
    l->listed[MS_LEAKS_REACHABLE] = l->scanned && o->show_reachable;
    l->listed[MS_LEAKS_UNKNOWN] = !l->scanned;
    if ((r = ms_leaks_hidden(sym, snap, sup, &hidden, &hidden_any, err)) != MS_OK)
        goto out;
    size_t total_rows = 0;
    for (int k = 0; k < MS_LEAKS_KINDS; k++) {
        if (!l->listed[k] && !(l->scanned && k == MS_LEAKS_REACHABLE))
            continue;
        const struct ms_snap *src = snap;
        if (k != MS_LEAKS_UNKNOWN) {
            if ((r = ms_leaks_view(snap, (enum ms_leaks_kind)k, hidden, &l->views_[k], err)) != MS_OK)
                goto out;
            src = &l->views_[k];
        }
        if ((r = ms_group_snap(sym, src, &go, &l->groups_[k], err)) != MS_OK)
            goto out;
        total_rows += l->groups_[k].count;
    }
    l->entries = malloc((total_rows + 1) * sizeof *l->entries);
    l->hits = calloc(sup->n + 1, sizeof *l->hits);
    seen.map = ms_map_new();
    if (!l->entries || !l->hits || !seen.map) {
        r = ms_error_set(err, MS_NOMEM, "out of memory");
        goto out;
    }
    size_t first[MS_LEAKS_KINDS + 1];
    for (int k = 0; k < MS_LEAKS_KINDS; k++) {
        first[k] = l->count;
        if ((r = ms_leaks_kind_rows(l, (enum ms_leaks_kind)k, &seen, &memo, err)) != MS_OK)
            goto out;
    }
    /* The blocks hanging from suppressed ones: suppressed as their own stack has it, else as their root. */
    if (hidden_any) {
        if ((r = ms_leaks_view(snap, MS_LEAKS_KINDS, hidden, &hidden_view, err)) != MS_OK ||
            (r = ms_group_snap(sym, &hidden_view, &go, &hidden_groups, err)) != MS_OK)
            goto out;
        for (size_t i = 0; i < hidden_groups.count; i++) {
            struct ms_group_row *row = &hidden_groups.rows[i];
            if (!row->count)
                continue;
            uint32_t sn;
            const struct ms_sym_frame *const *st = ms_group_row_stack(&hidden_groups, row, &sn);
            if (!st) {
                r = ms_error_set(err, MS_NOMEM, "out of memory");
                goto out;
            }
            int s = ms_leaks_suppressed(sup, st, sn);
            s = s >= 0 ? s : hidden[row->example].sup - 1;
            if ((r = ms_leaks_charge(l, &seen, st, sn, s, row, err)) != MS_OK)
                goto out;
        }
    }
    first[MS_LEAKS_KINDS] = l->count;
    if ((r = ms_leaks_rank(l, err)) != MS_OK)
        goto out;
    /* Largest first within a kind; a stable order for golden files. */
    for (int k = 0; k < MS_LEAKS_KINDS; k++)
        qsort(l->entries + first[k], first[k + 1] - first[k], sizeof *l->entries, ms_leaks_cmp);
    /* What --fail and "total" count: the lost kinds, or every live block when reachability is unknown. */
    uint64_t lost_stacks = l->lost.stacks;
    l->lost = l->kinds[MS_LEAKS_UNKNOWN];
    if (l->scanned) {
        l->lost.bytes = l->kinds[MS_LEAKS_DEFINITE].bytes + l->kinds[MS_LEAKS_INDIRECT].bytes;
        l->lost.blocks = l->kinds[MS_LEAKS_DEFINITE].blocks + l->kinds[MS_LEAKS_INDIRECT].blocks;
        l->lost.bytes_var = l->kinds[MS_LEAKS_DEFINITE].bytes_var + l->kinds[MS_LEAKS_INDIRECT].bytes_var;
        l->lost.blocks_var = l->kinds[MS_LEAKS_DEFINITE].blocks_var + l->kinds[MS_LEAKS_INDIRECT].blocks_var;
    }
    l->lost.stacks = lost_stacks;
out:
    free(hidden);
    ms_group_free(&hidden_groups);
    free(hidden_view.sites);
    free(memo.first);
    ms_map_free(seen.map);
    free(seen.key);
    return r;
}

void ms_leaks_free(struct ms_leaks *l)
{
    free(l->entries);
    free(l->ranks_);
    free(l->hits);
    for (int k = 0; k < MS_LEAKS_KINDS; k++) {
        ms_group_free(&l->groups_[k]);
        free(l->views_[k].sites);
    }
    *l = (struct ms_leaks){0};
}

static size_t ms_leaks_shown(const struct ms_leaks *l, long limit)
{
    return limit < 0 || (size_t)limit > l->count ? l->count : (size_t)limit;
}

/* A sampled snapshot's sum or row gets the standard errors of its size and count. */
static json_t *ms_leaks_json_se(const struct ms_leaks *l, json_t *o, double bytes_var, double blocks_var)
{
    if (l->rates.sampled) {
        ms_estimate_json_se(o, "size_se", bytes_var);
        ms_estimate_json_se(o, "count_se", blocks_var);
    }
    return o;
}

static json_t *ms_leaks_json_sum(const struct ms_leaks *l, const struct ms_leaks_sum *s)
{
    return ms_leaks_json_se(l, json_pack("{s:o, s:o, s:o}", "size", ms_output_json_u64(s->bytes), "count",
                                         ms_output_json_u64(s->blocks), "stacks", ms_output_json_u64(s->stacks)),
                            s->bytes_var, s->blocks_var);
}

static json_t *ms_leaks_json_hit(const struct ms_leaks *l, const char *pattern, bool builtin,
                                 const struct ms_leaks_sum *h)
{
    return ms_leaks_json_se(l, json_pack("{s:o, s:b, s:o, s:o, s:o}", "pattern", ms_output_json_str(pattern),
                                         "builtin", builtin, "stacks", ms_output_json_u64(h->stacks), "size",
                                         ms_output_json_u64(h->bytes), "count", ms_output_json_u64(h->blocks)),
                            h->bytes_var, h->blocks_var);
}

struct json_t *ms_leaks_render_json(const struct ms_leaks *l, long limit)
{
    const struct ms_snap *snap = l->snap;
    const struct ms_suppressions *sup = l->sup;
    size_t shown = ms_leaks_shown(l, limit);
    json_t *arr = json_array(), *sarr = json_array();
    for (size_t i = 0; i < shown; i++) {
        const struct ms_group_row *row = l->entries[i].row;
        json_array_append_new(
            arr, ms_leaks_json_se(l,
                                  json_pack("{s:s, s:o, s:o, s:o}", "kind", ms_leaks_kind_json[l->entries[i].kind],
                                            "size", ms_output_json_u64(row->size), "count",
                                            ms_output_json_u64(row->count), "stack",
                                            ms_output_json_stack(row->stack, row->stack_len)),
                                  row->size_var, row->count_var));
    }
    for (size_t k = 0; k < sup->n; k++)
        if (l->hits[k].stacks)
            json_array_append_new(sarr, ms_leaks_json_hit(l, sup->v[k].pattern, sup->v[k].builtin, &l->hits[k]));
    if (l->hits[sup->n].stacks)
        json_array_append_new(sarr, ms_leaks_json_hit(l, "<runtime-only stack>", true, &l->hits[sup->n]));
    json_t *kinds = json_null(), *scan = json_null();
    if (l->scanned) {
        scan = json_pack("{s:o, s:o, s:o, s:o}", "blocks", ms_output_json_u64(snap->leak_scanned), "skipped",
                         ms_output_json_u64(snap->leak_skipped), "ns", ms_output_json_u64(snap->leak_scan_ns), "threads_unknown",
                         ms_output_json_u64(snap->leak_threads_unknown));
        kinds = json_object();
        for (int k = 0; k < MS_LEAKS_UNKNOWN; k++)
            json_object_set_new(kinds, ms_leaks_kind_json[k], ms_leaks_json_sum(l, &l->kinds[k]));
    }
    json_t *doc = json_pack("{s:s, s:o, s:b, s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "command", "leaks", "snapshot",
                            ms_output_json_str(snap->path), "at_exit", l->at_exit, "reachability",
                            l->scanned ? "scanned" : "unknown", "scan", scan, "kinds", kinds, "leaks", arr, "total",
                            ms_leaks_json_sum(l, &l->lost), "suppressions", sarr, "suppressed",
                            ms_leaks_json_sum(l, &l->suppressed));
    ms_estimate_json_rate(doc, &l->rates);
    return doc;
}

/* "240 B in 5 blocks", each figure of a sampled snapshot followed by its 95% interval; `mid` between them. */
static void ms_leaks_text_amount(char *buf, size_t len, const struct ms_leaks *l, uint64_t bytes, double bytes_var,
                                 const char *mid, uint64_t blocks, double blocks_var, bool exact)
{
    char a[64], pa[80] = "", pb[80] = "";
    if (l->rates.sampled) {
        ms_estimate_pm(pa, sizeof pa, bytes_var, true, exact);
        ms_estimate_pm(pb, sizeof pb, blocks_var, false, exact);
    }
    snprintf(buf, len, "%s%s%s in %llu%s block%s", ms_size_format(a, sizeof a, (double)bytes, false, exact), pa, mid,
             (unsigned long long)blocks, pb, blocks == 1 ? "" : "s");
}

static void ms_leaks_text_sum(char *buf, size_t len, const struct ms_leaks *l, const char *what,
                              const char *mid, const struct ms_leaks_sum *s, bool exact)
{
    char a[256];
    ms_leaks_text_amount(a, sizeof a, l, s->bytes, s->bytes_var, mid, s->blocks, s->blocks_var, exact);
    snprintf(buf, len, "%s%s from %llu stack%s", what, a, (unsigned long long)s->stacks, s->stacks == 1 ? "" : "s");
}

void ms_leaks_render_text(FILE *out, const struct ms_leaks *l, long limit, bool exact, bool show_reachable)
{
    const struct ms_snap *snap = l->snap;
    size_t shown = ms_leaks_shown(l, limit);
    char a[256];
    ms_estimate_text_note(out, &l->rates, exact);
    for (size_t i = 0; i < shown; i++) {
        const struct ms_group_row *row = l->entries[i].row;
        ms_leaks_text_amount(a, sizeof a, l, row->size, row->size_var, "", row->count, row->count_var, exact);
        if (l->scanned)
            fprintf(out, "%s %s, allocated from:\n", a, ms_leaks_kind_text[l->entries[i].kind]);
        else
            fprintf(out, "%s allocated from:\n", a);
        ms_output_text_stack(out, row->stack, row->stack_len, "    ");
        if (row->stack_flags & MS_FMT_STACK_TRUNCATED)
            fprintf(out, "    ... (truncated at the depth limit)\n");
        fputc('\n', out);
    }
    if (shown < l->count)
        fprintf(out, "... and %zu more stacks\n\n", l->count - shown);
    char line[3][400], sup[400];
    ms_leaks_text_sum(sup, sizeof sup, l, "suppressed: ", "", &l->suppressed, exact);
    if (l->scanned && snap->leak_threads_unknown)
        fprintf(out, "note: %u other thread%s ran during the scan; what only %s stack%s held shows as lost\n",
                snap->leak_threads_unknown, snap->leak_threads_unknown == 1 ? "" : "s",
                snap->leak_threads_unknown == 1 ? "its" : "their", snap->leak_threads_unknown == 1 ? "" : "s");
    if (l->scanned) {
        char what[64];
        for (int k = 0; k < MS_LEAKS_UNKNOWN; k++) {
            snprintf(what, sizeof what, "%s: ", ms_leaks_kind_text[k]);
            ms_leaks_text_sum(line[k], sizeof line[k], l, what, "", &l->kinds[k], exact);
        }
        fprintf(out, "SUMMARY: %s; %s; %s%s; %s\n", line[0], line[1], line[2],
                show_reachable || !l->kinds[MS_LEAKS_REACHABLE].blocks ? "" : " (--show-reachable lists them)", sup);
    } else {
        fprintf(out, "note: reachability unknown (no scan in this snapshot): every block still allocated is listed\n");
        ms_leaks_text_sum(line[0], sizeof line[0], l, "", " leaked", &l->lost, exact);
        fprintf(out, "SUMMARY: %s; %s\n", line[0], sup);
    }
}

enum ms_status ms_leaks_gate(const struct ms_leaks *l, bool exact, FILE *report)
{
    if (!l->lost.blocks)
        return MS_OK;
    char d[400], e[400];
    if (l->scanned) {
        ms_leaks_text_sum(d, sizeof d, l, "definitely lost: ", "", &l->kinds[MS_LEAKS_DEFINITE], exact);
        ms_leaks_text_sum(e, sizeof e, l, "indirectly lost: ", "", &l->kinds[MS_LEAKS_INDIRECT], exact);
        fprintf(report, "memsnap: gate --fail crossed: %s; %s\n", d, e);
    } else {
        ms_leaks_text_sum(d, sizeof d, l, "", " leaked", &l->lost, exact);
        fprintf(report, "memsnap: gate --fail crossed: %s\n", d);
    }
    return MS_GATE;
}

enum ms_status ms_leaks_main(const struct ms_cli *cli, struct ms_error *err)
{
    struct ms_snap **snaps = NULL;
    struct ms_symbolizer *sym = NULL;
    struct ms_suppressions *sup = NULL;
    struct ms_leaks l = {0};
    enum ms_status r;
    if (cli->input_count != 1)
        return ms_error_set(err, MS_USAGE, "leaks takes one snapshot");
    if ((r = ms_leaks_suppressions_load(cli->suppressions, !cli->no_default_suppressions, &sup, err)) != MS_OK ||
        (r = ms_output_load(cli, &snaps, err)) != MS_OK || (r = ms_symbolize_new(&cli->sym, &sym, err)) != MS_OK)
        goto out;
    if (!(snaps[0]->flags & MS_FMT_FLAG_AT_EXIT))
        fprintf(stderr, "memsnap: warning: %s was not taken at exit: live blocks are not necessarily leaks\n",
                snaps[0]->path);
    struct ms_leaks_opts o = {cli->include, cli->exclude, cli->all_frames, cli->show_reachable};
    if ((r = ms_leaks_compute(sym, snaps[0], sup, &o, &l, err)) != MS_OK)
        goto out;
    if (cli->format == MS_OUT_JSON) {
        if ((r = ms_output_json(cli, ms_leaks_render_json(&l, cli->limit), err)) != MS_OK)
            goto out;
    } else {
        ms_leaks_render_text(cli->out, &l, cli->limit, cli->bytes, cli->show_reachable);
    }
    if (cli->fail)
        r = ms_leaks_gate(&l, cli->bytes, stderr);
out:
    ms_leaks_free(&l);
    ms_symbolize_free(sym);
    ms_output_unload(cli, snaps);
    ms_leaks_suppressions_free(sup);
    return r;
}
