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
};

struct ms_sym_entry {
    const struct ms_sym_frame *frames;
    uint32_t n;
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
    struct ms_map *cache; /* module index, offset -> entry index + 1 */
    struct ms_sym_entry *entries;
    size_t entry_count, entry_cap;
    struct ms_sym_frame **chunks;
    size_t chunk_count, chunk_used;
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
    s->cache = ms_map_new();
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
        free(s->mods[i]->path);
        free(s->mods[i]->build_id);
        free(s->mods[i]);
    }
    free(s->mods);
    for (size_t i = 0; i < s->chunk_count; i++)
        free(s->chunks[i]);
    free(s->chunks);
    free(s->entries);
    ms_map_free(s->cache);
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
    if (s->mod_count == s->mod_cap) {
        size_t ncap = s->mod_cap ? s->mod_cap * 2 : 16;
        struct ms_symmod **nm = realloc(s->mods, ncap * sizeof *nm);
        if (!nm)
            return NULL;
        s->mods = nm;
        s->mod_cap = ncap;
    }
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
    if (access(file, R_OK) != 0)
        return false;
    Dwfl *dwfl = dwfl_begin(&s->callbacks);
    if (!dwfl)
        return false;
    Dwfl_Module *dm = dwfl_report_offline(dwfl, mod->base, file, -1);
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
    if (!s->opts.quiet) {
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

/* A DWARF file name may be relative to the compilation directory. */
static void ms_symbolize_joinpath(const char *dir, const char *name, char *out, size_t cap)
{
    char buf[8192];
    if (name[0] != '/' && dir && *dir) {
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
    GElf_Sym sym;
    GElf_Off symoff;
    const char *symname = dwfl_module_addrinfo(mod->mod, addr, &symoff, &sym, NULL, NULL, NULL);
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
    Dwarf_Addr cubias = 0;
    Dwarf_Die *cudie = dwfl_module_addrdie(mod->mod, addr, &cubias);
    Dwarf_Die *scopes = NULL;
    int nscopes = cudie ? dwarf_getscopes(cudie, addr - cubias, &scopes) : 0;
    if (nscopes > 0) {
        /* dwarf_getscopes() skips from an inlined instance to the CU; the full chain of containing
         * DIEs (the caller subprogram included) comes from the innermost DIE itself, as eu-addr2line -i does. */
        Dwarf_Die inner;
        Dwarf_Addr dbias;
        Dwarf *dw = dwfl_module_getdwarf(mod->mod, &dbias);
        if (dw && dwarf_offdie(dw, dwarf_dieoffset(&scopes[0]), &inner)) {
            free(scopes);
            scopes = NULL;
            nscopes = dwarf_getscopes_die(&inner, &scopes);
        }
    }
    Dwarf_Die *fn[MS_SYM_MAX_INLINE];
    size_t nfn = 0;
    for (int i = 0; i < nscopes && nfn < MS_SYM_MAX_INLINE && nfn < cap; i++) {
        int tag = dwarf_tag(&scopes[i]);
        if (tag == DW_TAG_inlined_subroutine || tag == DW_TAG_subprogram) {
            fn[nfn++] = &scopes[i];
            if (tag == DW_TAG_subprogram)
                break;
        }
    }
    Dwarf_Files *files = NULL;
    if (nfn > 1 && dwarf_getsrcfiles(cudie, &files, NULL) != 0)
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
                    ms_symbolize_joinpath(dwarf_formstring(dwarf_attr(cudie, DW_AT_comp_dir, &cd)), f, path,
                                          sizeof path);
                    out[i + 1].file = ms_symbolize_intern(s, path);
                }
            }
            if (dwarf_formudata(dwarf_attr(fn[i], DW_AT_call_line, &attr), &val) == 0)
                out[i + 1].line = (uint32_t)val;
            n = i + 2;
        }
    }
    free(scopes);
    return n;
}

size_t ms_symbolize_frame(struct ms_symbolizer *s, void *const *handles, const struct ms_snap *snap,
                          const struct ms_frame *f, const struct ms_sym_frame **out)
{
    static const struct ms_sym_frame oom = {.module = "?"};
    struct ms_symmod *mod = f->module == MS_FMT_MODULE_NONE || f->module >= snap->module_count
                                ? &s->none
                                : handles[f->module];
    struct {
        uint32_t mod;
        uint32_t pad;
        uint64_t off;
    } key = {mod->index, 0, f->offset};
    const uint32_t *hit = ms_map_find(s->cache, &key, sizeof key);
    if (hit) {
        *out = s->entries[*hit - 1].frames;
        return s->entries[*hit - 1].n;
    }
    struct ms_sym_frame tmp[MS_SYM_MAX_INLINE];
    size_t n = ms_symbolize_resolve(s, mod, f->offset, tmp, MS_SYM_MAX_INLINE);
    struct ms_sym_frame *dst = ms_symbolize_alloc(s, n);
    if (dst && s->entry_count == s->entry_cap) {
        size_t ncap = s->entry_cap ? s->entry_cap * 2 : 4096;
        struct ms_sym_entry *ne = realloc(s->entries, ncap * sizeof *ne);
        if (ne) {
            s->entries = ne;
            s->entry_cap = ncap;
        }
    }
    bool created;
    uint32_t *slot = dst && s->entry_count < s->entry_cap ? ms_map_slot(s->cache, &key, sizeof key, &created)
                                                          : NULL;
    if (!slot) {
        *out = &oom;
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        dst[i] = tmp[i];
        ms_symbolize_keys(s, &dst[i], mod);
    }
    s->entries[s->entry_count] = (struct ms_sym_entry){dst, (uint32_t)n};
    *slot = (uint32_t)++s->entry_count;
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
