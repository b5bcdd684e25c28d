/* Offline symbolization with elfutils: a snapshot stores (module, offset) pairs; this turns them into
 * functions, files and lines, inlined frames included. Every module is opened once (keyed by path and
 * build-id) and every (module, offset) resolved once, so large snapshots cost one lookup per distinct
 * frame. A binary whose build-id differs from the snapshot's is never used: a wrong name is worse than none. */
#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analyze.h"

#define MS_SYM_MAX_INLINE 64
#define MS_SYM_CHUNK 8192

enum ms_symmod_state { MS_SYMMOD_NEW, MS_SYMMOD_OK, MS_SYMMOD_MISSING, MS_SYMMOD_CHANGED };

struct ms_symsym {
    GElf_Addr addr, size; /* dwfl addresses */
    const char *name;     /* in the ELF string table */
};

struct ms_symfn {
    Dwarf_Addr lo, hi; /* DWARF addresses */
    Dwarf_Off off;     /* the DW_TAG_subprogram */
};

struct ms_symmod {
    uint32_t index; /* in the symbolizer's module list */
    char *path;
    const char *base;  /* basename of path */
    unsigned char *build_id;
    uint32_t build_id_len;
    enum ms_symmod_state state;
    Dwfl *dwfl;
    Dwfl_Module *mod;
    Dwarf_Addr bias; /* dwfl address = file vaddr + bias */
    /* Functions by address, built on first use: dwarf_getscopes() walks a whole CU per lookup, which
     * costs milliseconds per frame in large CUs; this makes a lookup a binary search plus a walk
     * down one function's DIEs. */
    bool indexed;
    struct ms_symfn *fns;
    size_t nfns, fns_cap;
    Dwarf *dw;
    Dwarf_Addr dwbias;
    /* The ELF symbol table sorted by address: dwfl_module_addrinfo() scans every symbol per call. */
    bool syms_ready;
    struct ms_symsym *syms;
    size_t nsyms;
};

struct ms_sym_slot {
    uint64_t offset;
    uint32_t mod;
    uint32_t n;
    const struct ms_sym_frame *frames; /* NULL: empty slot */
};

struct ms_symbolizer {
    struct ms_symbolize_opts opts;
    char *debuginfo_path;
    Dwfl_Callbacks callbacks;
    struct ms_strtab *strs;
    struct ms_map *mod_index; /* path NUL build-id -> module index + 1 */
    struct ms_symmod **mods;
    size_t mod_count, mod_cap;
    struct ms_symmod none;
    /* (module, offset) -> frames, open addressing with the result inline: one cache line per lookup. */
    struct ms_sym_slot *cache;
    size_t cache_cap, cache_used;
    struct ms_sym_frame **chunks;
    size_t chunk_count, chunk_used;
    uint32_t frames; /* serials handed out */
};

static char *(*ms_symbolize_cxa)(const char *, char *, size_t *, int *);
static bool ms_symbolize_cxa_looked;

char *ms_symbolize_demangle(const char *name)
{
    if (!name || name[0] != '_' || name[1] != 'Z')
        return NULL;
    /* libstdc++ is loaded on demand: a C-only user need not have it, and the analyzer stays a C program. */
    if (!ms_symbolize_cxa_looked) {
        ms_symbolize_cxa_looked = true;
        void *h = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_LOCAL);
        if (h)
            *(void **)&ms_symbolize_cxa = dlsym(h, "__cxa_demangle");
    }
    if (!ms_symbolize_cxa)
        return NULL;
    int status = 0;
    char *out = ms_symbolize_cxa(name, NULL, NULL, &status);
    if (status != 0) {
        free(out);
        return NULL;
    }
    return out;
}

enum ms_status ms_symbolize_new(const struct ms_symbolize_opts *opts, struct ms_symbolizer **out,
                                struct ms_error *err)
{
    struct ms_symbolizer *s = calloc(1, sizeof *s);
    *out = NULL;
    if (!s)
        return ms_error_set(err, MS_NOMEM, "out of memory");
    if (opts)
        s->opts = *opts;
    /* "-" disables the CRC check of .gnu_debuglink files (build-ids are checked instead). */
    size_t len = 64;
    for (const char *const *d = s->opts.debug_dirs; d && *d; d++)
        len += strlen(*d) + 1;
    s->debuginfo_path = malloc(len);
    s->strs = ms_strtab_new();
    s->mod_index = ms_map_new();
    s->cache_cap = 1024;
    s->cache = calloc(s->cache_cap, sizeof *s->cache);
    if (!s->debuginfo_path || !s->strs || !s->mod_index || !s->cache) {
        ms_symbolize_free(s);
        return ms_error_set(err, MS_NOMEM, "out of memory");
    }
    strcpy(s->debuginfo_path, "-:.debug");
    for (const char *const *d = s->opts.debug_dirs; d && *d; d++) {
        strcat(s->debuginfo_path, ":");
        strcat(s->debuginfo_path, *d);
    }
    strcat(s->debuginfo_path, ":/usr/lib/debug");
    s->callbacks.find_elf = dwfl_build_id_find_elf;
    s->callbacks.find_debuginfo = dwfl_standard_find_debuginfo;
    s->callbacks.section_address = dwfl_offline_section_address;
    s->callbacks.debuginfo_path = &s->debuginfo_path;
    s->none.path = (char *)"?";
    s->none.base = "?";
    s->none.state = MS_SYMMOD_MISSING;
    s->none.index = UINT32_MAX;
    *out = s;
    return MS_OK;
}

void ms_symbolize_free(struct ms_symbolizer *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->mod_count; i++) {
        if (s->mods[i]->dwfl)
            dwfl_end(s->mods[i]->dwfl);
        free(s->mods[i]->fns);
        free(s->mods[i]->syms);
        free(s->mods[i]->path);
        free(s->mods[i]->build_id);
        free(s->mods[i]);
    }
    free(s->mods);
    for (size_t i = 0; i < s->chunk_count; i++)
        free(s->chunks[i]);
    free(s->chunks);
    free(s->cache);
    ms_map_free(s->mod_index);
    ms_strtab_free(s->strs);
    free(s->debuginfo_path);
    free(s);
}

struct ms_strtab *ms_symbolize_strtab(struct ms_symbolizer *s)
{
    return s->strs;
}

static struct ms_symmod *ms_symbolize_module(struct ms_symbolizer *s, const struct ms_module *m)
{
    size_t plen = strlen(m->path);
    size_t klen = plen + 1 + m->build_id_len;
    char *key = malloc(klen);
    if (!key)
        return NULL;
    memcpy(key, m->path, plen + 1);
    memcpy(key + plen + 1, m->build_id, m->build_id_len);
    bool created;
    uint32_t *slot = ms_map_slot(s->mod_index, key, klen, &created);
    free(key);
    if (!slot)
        return NULL;
    if (!created)
        return s->mods[*slot - 1];
    if (!MS_GROW(s->mods, s->mod_cap, s->mod_count + 1, 16))
        return NULL;
    struct ms_symmod *mod = calloc(1, sizeof *mod);
    if (!mod)
        return NULL;
    mod->path = strdup(m->path);
    mod->build_id = malloc(m->build_id_len ? m->build_id_len : 1);
    if (!mod->path || !mod->build_id) {
        free(mod->path);
        free(mod->build_id);
        free(mod);
        return NULL;
    }
    memcpy(mod->build_id, m->build_id, m->build_id_len);
    mod->build_id_len = m->build_id_len;
    const char *slash = strrchr(mod->path, '/');
    mod->base = slash ? slash + 1 : mod->path;
    if (!*mod->base)
        mod->base = mod->path;
    mod->index = (uint32_t)s->mod_count;
    s->mods[s->mod_count++] = mod;
    *slot = (uint32_t)s->mod_count;
    return mod;
}

enum ms_status ms_symbolize_attach(struct ms_symbolizer *s, const struct ms_snap *snap, void ***handles,
                                   struct ms_error *err)
{
    void **h = calloc(snap->module_count ? snap->module_count : 1, sizeof *h);
    if (!h)
        return ms_error_set(err, MS_NOMEM, "out of memory");
    for (uint32_t i = 0; i < snap->module_count; i++) {
        h[i] = ms_symbolize_module(s, &snap->modules[i]);
        if (!h[i]) {
            free(h);
            return ms_error_set(err, MS_NOMEM, "out of memory");
        }
    }
    *handles = h;
    return MS_OK;
}

static bool ms_symbolize_try(struct ms_symbolizer *s, struct ms_symmod *mod, const char *file, bool *changed)
{
    /* Only a regular file: a module path in a snapshot may name a FIFO or a device. */
    int fd = ms_file_open_regular(file, NULL);
    if (fd < 0)
        return false;
    Dwfl *dwfl = dwfl_begin(&s->callbacks);
    if (!dwfl) {
        close(fd);
        return false;
    }
    Dwfl_Module *dm = dwfl_report_offline(dwfl, mod->base, file, fd); /* dwfl owns fd from here */
    if (!dm || dwfl_report_end(dwfl, NULL, NULL) != 0) {
        dwfl_end(dwfl);
        return false;
    }
    const unsigned char *bits;
    GElf_Addr vaddr;
    int n = dwfl_module_build_id(dm, &bits, &vaddr);
    if (mod->build_id_len && (n != (int)mod->build_id_len || memcmp(bits, mod->build_id, (size_t)n) != 0)) {
        *changed = true;
        dwfl_end(dwfl);
        return false;
    }
    Dwarf_Addr bias = 0;
    if (!dwfl_module_getelf(dm, &bias)) {
        dwfl_end(dwfl);
        return false;
    }
    mod->dwfl = dwfl;
    mod->mod = dm;
    mod->bias = bias;
    return true;
}

static void ms_symbolize_hexid(const struct ms_symmod *mod, char *buf, size_t len, size_t from)
{
    size_t o = 0;
    buf[0] = 0;
    for (size_t i = from; i < mod->build_id_len && o + 3 < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%02x", mod->build_id[i]);
}

static void ms_symbolize_open(struct ms_symbolizer *s, struct ms_symmod *mod)
{
    char cand[4096];
    bool changed = false;
    const char *sysroot = s->opts.sysroot ? s->opts.sysroot : "";
    mod->state = MS_SYMMOD_MISSING;
    if (mod->path[0] == '/' || *sysroot) {
        snprintf(cand, sizeof cand, "%s%s", sysroot, mod->path);
        if (ms_symbolize_try(s, mod, cand, &changed))
            goto ok;
    }
    for (const char *const *d = s->opts.debug_dirs; d && *d; d++) {
        snprintf(cand, sizeof cand, "%s/%s", *d, mod->base);
        if (ms_symbolize_try(s, mod, cand, &changed))
            goto ok;
        if (mod->build_id_len >= 2) {
            char hex[256];
            ms_symbolize_hexid(mod, hex, sizeof hex, 1);
            snprintf(cand, sizeof cand, "%s/.build-id/%02x/%s", *d, mod->build_id[0], hex);
            if (ms_symbolize_try(s, mod, cand, &changed))
                goto ok;
            snprintf(cand, sizeof cand, "%s/.build-id/%02x/%s.debug", *d, mod->build_id[0], hex);
            if (ms_symbolize_try(s, mod, cand, &changed))
                goto ok;
        }
    }
    if (changed)
        mod->state = MS_SYMMOD_CHANGED;
    /* Pseudo-modules such as linux-vdso.so.1 have no file: nothing to warn about. */
    bool pseudo = mod->path[0] != '/' && !s->opts.sysroot;
    if (!s->opts.quiet && !(pseudo && !changed)) {
        if (changed)
            fprintf(stderr,
                    "memsnap: warning: %s: build-id differs from the snapshot's (the binary changed since the "
                    "run); showing module+offset\n", mod->path);
        else
            fprintf(stderr, "memsnap: warning: %s: not found (see --sysroot, --debug-dir); showing "
                    "module+offset\n", mod->path);
    }
    return;
ok:
    mod->state = MS_SYMMOD_OK;
}

/* "a/b/../c/./d" -> "a/c/d": DWARF joins the compilation directory and a relative name verbatim. */
static size_t ms_symbolize_normpath(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    const char *p = in;
    if (cap == 0)
        return 0;
    while (*p) {
        const char *seg = p;
        while (*p && *p != '/')
            p++;
        size_t n = (size_t)(p - seg);
        if (n == 1 && seg[0] == '.') {
        } else if (n == 2 && seg[0] == '.' && seg[1] == '.' && o > 0 &&
                   !(o >= 2 && out[o - 1] == '.' && out[o - 2] == '.' && (o == 2 || out[o - 3] == '/'))) {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 1)
                o--; /* drop the slash too, unless it is the root */
            else if (o == 1 && out[0] != '/')
                o = 0;
        } else if (n > 0 || seg == in) {
            if (o > 0 && out[o - 1] != '/' && o + 1 < cap)
                out[o++] = '/';
            if (n == 0 && seg == in && o + 1 < cap)
                out[o++] = '/';
            for (size_t i = 0; i < n && o + 1 < cap; i++)
                out[o++] = seg[i];
        }
        if (*p == '/')
            p++;
    }
    out[o] = 0;
    return o;
}

/* A DWARF file name may be relative to the compilation directory. A relative compilation directory
 * (-fdebug-prefix-map, as distributions build) says nothing useful: the name is kept as recorded. */
static void ms_symbolize_joinpath(const char *dir, const char *name, char *out, size_t cap)
{
    char buf[8192];
    if (name[0] != '/' && dir && dir[0] == '/') {
        snprintf(buf, sizeof buf, "%s/%s", dir, name);
        name = buf;
    }
    ms_symbolize_normpath(name, out, cap);
}

static const char *ms_symbolize_die_name(Dwarf_Die *die, char **owned)
{
    Dwarf_Attribute attr;
    *owned = NULL;
    const char *link = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &attr));
    if (!link)
        link = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr));
    if (link && (*owned = ms_symbolize_demangle(link)))
        return *owned;
    const char *name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &attr));
    return name ? name : link;
}

static const char *ms_symbolize_intern(struct ms_symbolizer *s, const char *str)
{
    if (!str)
        return NULL;
    uint32_t id = ms_strtab_intern(s->strs, str, strlen(str));
    return id == UINT32_MAX ? NULL : ms_strtab_get(s->strs, id);
}

static struct ms_sym_frame *ms_symbolize_alloc(struct ms_symbolizer *s, size_t n)
{
    if (s->chunk_count == 0 || s->chunk_used + n > MS_SYM_CHUNK) {
        struct ms_sym_frame **nc = realloc(s->chunks, (s->chunk_count + 1) * sizeof *nc);
        if (!nc)
            return NULL;
        s->chunks = nc;
        if (!(nc[s->chunk_count] = calloc(MS_SYM_CHUNK, sizeof **nc)))
            return NULL;
        s->chunk_count++;
        s->chunk_used = 0;
    }
    struct ms_sym_frame *f = s->chunks[s->chunk_count - 1] + s->chunk_used;
    s->chunk_used += n;
    return f;
}

static void ms_symbolize_keys(struct ms_symbolizer *s, struct ms_sym_frame *f, const struct ms_symmod *mod)
{
    char buf[8192];
    int n;
    if (f->file)
        n = snprintf(buf, sizeof buf, "%s:%u", f->file, f->line);
    else if (f->function)
        n = snprintf(buf, sizeof buf, "%s (%s)", f->function, mod->base);
    else
        n = snprintf(buf, sizeof buf, "%s+0x%llx", mod->base, (unsigned long long)f->offset);
    f->line_key = ms_strtab_intern(s->strs, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
    if (f->function)
        n = snprintf(buf, sizeof buf, "%s", f->function);
    else
        n = snprintf(buf, sizeof buf, "%s+0x%llx", mod->base, (unsigned long long)f->offset);
    f->function_key = ms_strtab_intern(s->strs, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
    n = snprintf(buf, sizeof buf, "%s", f->file ? f->file : mod->base);
    f->file_key = ms_strtab_intern(s->strs, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
    /* The identity of a frame across runs: source position when known, else module and offset. */
    if (f->file)
        n = snprintf(buf, sizeof buf, "%s\x1f%s\x1f%u\x1f%d", f->function ? f->function : "", f->file, f->line,
                     f->inlined);
    else
        n = snprintf(buf, sizeof buf, "%s\x1f%s\x1f%llx", f->function ? f->function : "", mod->path,
                     (unsigned long long)f->offset);
    f->id = ms_strtab_intern(s->strs, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

static int ms_symbolize_sym_cmp(const void *a, const void *b)
{
    const struct ms_symsym *x = a, *y = b;
    if (x->addr != y->addr)
        return x->addr < y->addr ? -1 : 1;
    /* Sized symbols before zero-sized aliases at the same address. */
    return (x->size == 0) - (y->size == 0);
}

static const char *ms_symbolize_symbol(struct ms_symmod *mod, GElf_Addr addr)
{
    if (!mod->syms_ready) {
        mod->syms_ready = true;
        int n = dwfl_module_getsymtab(mod->mod);
        if (n > 0 && (mod->syms = malloc((size_t)n * sizeof *mod->syms))) {
            for (int i = 1; i < n; i++) {
                GElf_Sym sym;
                GElf_Addr a;
                GElf_Word shndx;
                const char *name = dwfl_module_getsym_info(mod->mod, i, &sym, &a, &shndx, NULL, NULL);
                int type = GELF_ST_TYPE(sym.st_info);
                if (name && *name && sym.st_shndx != SHN_UNDEF && (type == STT_FUNC || type == STT_GNU_IFUNC))
                    mod->syms[mod->nsyms++] = (struct ms_symsym){a, sym.st_size, name};
            }
            qsort(mod->syms, mod->nsyms, sizeof *mod->syms, ms_symbolize_sym_cmp);
        }
    }
    size_t lo = 0, hi = mod->nsyms;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (mod->syms[mid].addr <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* The nearest symbol at or below addr that covers it (a zero size covers up to the next symbol). */
    for (size_t i = lo, steps = 0; i-- > 0 && steps < 16; steps++) {
        const struct ms_symsym *y = &mod->syms[i];
        if (y->size == 0 ? i + 1 == lo : addr < y->addr + y->size)
            return y->name;
    }
    return NULL;
}

static void ms_symbolize_index_die(struct ms_symmod *mod, Dwarf_Die *parent, int depth)
{
    Dwarf_Die child;
    if (dwarf_child(parent, &child) != 0)
        return;
    do {
        int tag = dwarf_tag(&child);
        if (tag == DW_TAG_subprogram) {
            Dwarf_Addr base, lo, hi;
            ptrdiff_t o = 0;
            while ((o = dwarf_ranges(&child, o, &base, &lo, &hi)) > 0) {
                if (!MS_GROW(mod->fns, mod->fns_cap, mod->nfns + 1, 1024))
                    return;
                mod->fns[mod->nfns++] = (struct ms_symfn){lo, hi, dwarf_dieoffset(&child)};
            }
        } else if ((tag == DW_TAG_namespace || tag == DW_TAG_class_type || tag == DW_TAG_structure_type ||
                    tag == DW_TAG_module) && depth < 16) {
            ms_symbolize_index_die(mod, &child, depth + 1);
        }
    } while (dwarf_siblingof(&child, &child) == 0);
}

static int ms_symbolize_fn_cmp(const void *a, const void *b)
{
    const struct ms_symfn *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static void ms_symbolize_index(struct ms_symmod *mod)
{
    mod->indexed = true;
    mod->dw = dwfl_module_getdwarf(mod->mod, &mod->dwbias);
    if (!mod->dw)
        return;
    Dwarf_Die *cu = NULL;
    Dwarf_Addr b;
    while ((cu = dwfl_module_nextcu(mod->mod, cu, &b)) != NULL)
        ms_symbolize_index_die(mod, cu, 0);
    if (mod->nfns) /* fns is NULL for a module without functions */
        qsort(mod->fns, mod->nfns, sizeof *mod->fns, ms_symbolize_fn_cmp);
}

/* The function containing addr and the inlined bodies inside it that contain addr, outermost first. */
static size_t ms_symbolize_scopes(struct ms_symmod *mod, Dwarf_Addr addr, Dwarf_Die *chain, size_t cap)
{
    if (!mod->indexed)
        ms_symbolize_index(mod);
    if (!mod->nfns || cap == 0)
        return 0;
    Dwarf_Addr pc = addr - mod->dwbias;
    size_t lo = 0, hi = mod->nfns;
    while (lo < hi) { /* first entry with lo > pc */
        size_t mid = lo + (hi - lo) / 2;
        if (mod->fns[mid].lo <= pc)
            lo = mid + 1;
        else
            hi = mid;
    }
    const struct ms_symfn *f = NULL;
    for (size_t i = lo, steps = 0; i-- > 0 && steps < 64; steps++)
        if (mod->fns[i].hi > pc) {
            f = &mod->fns[i];
            break;
        }
    if (!f || !dwarf_offdie(mod->dw, f->off, &chain[0]))
        return 0;
    size_t n = 1;
    Dwarf_Die cur = chain[0];
    for (;;) {
        Dwarf_Die c;
        bool found = false;
        if (dwarf_child(&cur, &c) == 0) {
            do {
                int tag = dwarf_tag(&c);
                if ((tag == DW_TAG_inlined_subroutine || tag == DW_TAG_lexical_block) && dwarf_haspc(&c, pc) == 1) {
                    if (tag == DW_TAG_inlined_subroutine && n < cap)
                        chain[n++] = c;
                    cur = c;
                    found = true;
                    break;
                }
            } while (dwarf_siblingof(&c, &c) == 0);
        }
        if (!found)
            return n;
    }
}

static bool ms_symbolize_runtime_module(const char *path)
{
    static const char *const runtime[] = {
        "ld-linux", "libc.so", "libstdc++.so", "libgcc_s.so", "libm.so", "libpthread.so", "libdl.so", "libmemsnap",
    };
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    for (size_t i = 0; i < sizeof runtime / sizeof *runtime; i++)
        if (strncmp(base, runtime[i], strlen(runtime[i])) == 0)
            return true;
    return false;
}

/* A frame of the C++ standard library's templates (containers, allocators, strings), instantiated into the
 * program's own module: its headers' directory (libstdc++ and libc++ both install under include/c++/), or,
 * without line information, its namespaces. */
static bool ms_symbolize_stdlib_frame(const struct ms_sym_frame *f)
{
    if (f->file)
        return strstr(f->file, "/include/c++/") != NULL;
    return f->function && (strncmp(f->function, "std::", 5) == 0 || strncmp(f->function, "__gnu_cxx::", 11) == 0);
}

/* "operator" followed by one of the operators spelled with < or >, at s: its length, else 0. */
static size_t ms_symbolize_angle_operator(const char *s)
{
    static const char *const ops[] = {"<=>", "<<=", ">>=", "->*", "<<", ">>", "<=", ">=", "->", "<", ">"};
    if (strncmp(s, "operator", 8) != 0)
        return 0;
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
        if (strncmp(s + 8, ops[i], strlen(ops[i])) == 0)
            return 8 + strlen(ops[i]);
    return 0;
}

const char *ms_symbolize_shorten(const char *text, char *buf, size_t len)
{
    size_t o = 0;
    int depth = 0;
    if (!strchr(text, '<') || text[0] == '<' || len == 0)
        return text;
    for (const char *p = text; *p && o + 3 < len; p++) {
        size_t op = depth == 0 ? ms_symbolize_angle_operator(p) : 0;
        if (op) {
            size_t room = len - 1 - o < op ? len - 1 - o : op;
            memcpy(buf + o, p, room);
            o += room;
            p += op - 1;
        } else if (*p == '<') {
            if (depth++ == 0) {
                buf[o++] = '<';
                buf[o++] = '>';
            }
        } else if (*p == '>' && depth > 0) {
            depth--;
        } else if (depth == 0) {
            buf[o++] = *p;
        }
    }
    buf[o] = 0;
    return buf;
}

/* Expand one address into source frames; returns how many were written to out (>= 1). */
static size_t ms_symbolize_resolve(struct ms_symbolizer *s, struct ms_symmod *mod, uint64_t offset,
                                   struct ms_sym_frame *out, size_t cap)
{
    char path[4096];
    size_t n = 1;
    memset(&out[0], 0, sizeof out[0]);
    out[0].module = mod->path;
    out[0].offset = offset;
    if (mod->state == MS_SYMMOD_NEW)
        ms_symbolize_open(s, mod);
    if (mod->state != MS_SYMMOD_OK || offset == 0)
        return 1;
    Dwarf_Addr addr = offset - 1 + mod->bias; /* a return address points after the call */
    const char *symname = ms_symbolize_symbol(mod, addr);
    char *dem = ms_symbolize_demangle(symname);
    out[0].function = ms_symbolize_intern(s, dem ? dem : symname);
    free(dem);
    Dwfl_Line *line = dwfl_module_getsrc(mod->mod, addr);
    if (line) {
        int lineno = 0;
        const char *src = dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);
        if (src) {
            ms_symbolize_joinpath(dwfl_line_comp_dir(line), src, path, sizeof path);
            out[0].file = ms_symbolize_intern(s, path);
            out[0].line = lineno > 0 ? (uint32_t)lineno : 0;
        }
    }
    /* The chain of inlined bodies at this address, innermost first, then the containing function. */
    Dwarf_Die chain[MS_SYM_MAX_INLINE], cudie_mem, *cudie = NULL;
    Dwarf_Die *fn[MS_SYM_MAX_INLINE];
    size_t nchain = ms_symbolize_scopes(mod, addr, chain, MS_SYM_MAX_INLINE < cap ? MS_SYM_MAX_INLINE : cap);
    size_t nfn = 0;
    for (size_t i = nchain; i-- > 0;)
        fn[nfn++] = &chain[i];
    if (nfn && dwarf_diecu(fn[0], &cudie_mem, NULL, NULL))
        cudie = &cudie_mem;
    Dwarf_Files *files = NULL;
    if (nfn > 1 && (!cudie || dwarf_getsrcfiles(cudie, &files, NULL) != 0))
        files = NULL;
    for (size_t i = 0; i < nfn; i++) {
        char *owned;
        const char *name = ms_symbolize_die_name(fn[i], &owned);
        if (name)
            out[i].function = ms_symbolize_intern(s, name);
        free(owned);
        int decl = 0;
        if (dwarf_decl_line(fn[i], &decl) == 0 && decl > 0)
            out[i].decl_line = (uint32_t)decl;
        if (i + 1 < nfn && dwarf_tag(fn[i]) == DW_TAG_inlined_subroutine) {
            /* The caller's frame: where this inlined body was called from. */
            Dwarf_Attribute attr;
            Dwarf_Word val;
            memset(&out[i + 1], 0, sizeof out[i + 1]);
            out[i + 1].module = mod->path;
            out[i + 1].offset = offset;
            out[i].inlined = true;
            if (files && dwarf_formudata(dwarf_attr(fn[i], DW_AT_call_file, &attr), &val) == 0) {
                const char *f = dwarf_filesrc(files, val, NULL, NULL);
                if (f) {
                    Dwarf_Attribute cd;
                    ms_symbolize_joinpath(cudie ? dwarf_formstring(dwarf_attr(cudie, DW_AT_comp_dir, &cd)) : NULL, f, path,
                                          sizeof path);
                    out[i + 1].file = ms_symbolize_intern(s, path);
                }
            }
            if (dwarf_formudata(dwarf_attr(fn[i], DW_AT_call_line, &attr), &val) == 0)
                out[i + 1].line = (uint32_t)val;
            n = i + 2;
        }
    }
    return n;
}

size_t ms_symbolize_frame(struct ms_symbolizer *s, void *const *handles, const struct ms_snap *snap,
                          const struct ms_frame *f, const struct ms_sym_frame **out)
{
    static const struct ms_sym_frame oom = {.module = "?"};
    struct ms_symmod *mod = f->module == MS_FMT_MODULE_NONE || f->module >= snap->module_count
                                ? &s->none
                                : handles[f->module];
    uint64_t h = (f->offset ^ ((uint64_t)mod->index << 48)) * 0x9e3779b97f4a7c15ull;
    h ^= h >> 29;
    size_t mask = s->cache_cap - 1, i = h & mask;
    for (; s->cache[i].frames; i = (i + 1) & mask)
        if (s->cache[i].offset == f->offset && s->cache[i].mod == mod->index) {
            *out = s->cache[i].frames;
            return s->cache[i].n;
        }
    struct ms_sym_frame tmp[MS_SYM_MAX_INLINE];
    size_t n = ms_symbolize_resolve(s, mod, f->offset, tmp, MS_SYM_MAX_INLINE);
    struct ms_sym_frame *dst = ms_symbolize_alloc(s, n);
    if (dst && (s->cache_used + 1) * 2 > s->cache_cap) {
        size_t ncap = s->cache_cap * 2;
        struct ms_sym_slot *nc = calloc(ncap, sizeof *nc);
        if (!nc) {
            dst = NULL;
        } else {
            for (size_t j = 0; j < s->cache_cap; j++) {
                if (!s->cache[j].frames)
                    continue;
                uint64_t hj = (s->cache[j].offset ^ ((uint64_t)s->cache[j].mod << 48)) * 0x9e3779b97f4a7c15ull;
                hj ^= hj >> 29;
                size_t k = hj & (ncap - 1);
                while (nc[k].frames)
                    k = (k + 1) & (ncap - 1);
                nc[k] = s->cache[j];
            }
            free(s->cache);
            s->cache = nc;
            s->cache_cap = ncap;
            mask = ncap - 1;
            for (i = h & mask; s->cache[i].frames; i = (i + 1) & mask)
                ;
        }
    }
    if (!dst) {
        *out = &oom;
        return 1;
    }
    bool runtime = ms_symbolize_runtime_module(mod->path);
    for (size_t j = 0; j < n; j++) {
        dst[j] = tmp[j];
        dst[j].runtime = runtime || ms_symbolize_stdlib_frame(&dst[j]);
        dst[j].serial = ++s->frames;
        ms_symbolize_keys(s, &dst[j], mod);
    }
    s->cache[i] = (struct ms_sym_slot){f->offset, mod->index, (uint32_t)n, dst};
    s->cache_used++;
    *out = dst;
    return n;
}

const char *ms_symbolize_describe(const struct ms_sym_frame *f, char *buf, size_t len)
{
    const char *base = strrchr(f->module, '/');
    base = base ? base + 1 : f->module;
    if (f->function && f->file)
        snprintf(buf, len, "%s at %s:%u", f->function, f->file, f->line);
    else if (f->file)
        snprintf(buf, len, "%s+0x%llx at %s:%u", base, (unsigned long long)f->offset, f->file, f->line);
    else if (f->function)
        snprintf(buf, len, "%s (%s+0x%llx)", f->function, base, (unsigned long long)f->offset);
    else
        snprintf(buf, len, "%s+0x%llx", base, (unsigned long long)f->offset);
    return buf;
}
