/* pprof's profile.proto (github.com/google/pprof/proto/profile.proto), written by hand: the encoding needs a
 * varint and a length prefix, not a protobuf library. Gzip-compressed, as Go writes heap profiles and as
 * profiling back ends (Pyroscope, Parca) expect on ingest. The layout is Go's heap profile: values
 * alloc_objects/count, alloc_space/bytes, inuse_objects/count, inuse_space/bytes; period_type space/bytes;
 * period = the sampling rate; default sample type inuse_space, so that every pprof reader shows it as Go's. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "analyze.h"

struct ms_export_pprof_buf {
    unsigned char *p;
    size_t len, cap;
    bool oom;
};

struct ms_export_pprof {
    struct ms_export_pprof_buf samples, locations, functions, mappings;
    struct ms_map *strings, *funcs, *locs;
    char **strv; /* string_table, owned copies */
    size_t nstr, strcap;
    uint32_t nfunc, nloc;
    bool *module_used;
};

static void ms_export_pprof_raw(struct ms_export_pprof_buf *b, const void *p, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n < n || !MS_GROW(b->p, b->cap, b->len + n, 256)) {
        b->oom = true;
        return;
    }
    if (n) /* p may be NULL for an empty field */
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void ms_export_pprof_varint(struct ms_export_pprof_buf *b, uint64_t v)
{
    unsigned char t[10];
    size_t n = 0;
    do {
        t[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    ms_export_pprof_raw(b, t, n);
}

/* A varint field; proto3 leaves zero values out. */
static void ms_export_pprof_int(struct ms_export_pprof_buf *b, uint32_t field, uint64_t v)
{
    if (!v)
        return;
    ms_export_pprof_varint(b, (uint64_t)field << 3);
    ms_export_pprof_varint(b, v);
}

static void ms_export_pprof_bytes(struct ms_export_pprof_buf *b, uint32_t field, const void *p, size_t n)
{
    ms_export_pprof_varint(b, (uint64_t)field << 3 | 2);
    ms_export_pprof_varint(b, n);
    ms_export_pprof_raw(b, p, n);
}

static void ms_export_pprof_msg(struct ms_export_pprof_buf *b, uint32_t field, struct ms_export_pprof_buf *m)
{
    ms_export_pprof_bytes(b, field, m->p, m->len);
    b->oom |= m->oom;
    m->len = 0;
}

/* Index in string_table; 0 ("") for NULL. UINT32_MAX on no memory. */
static uint32_t ms_export_pprof_str(struct ms_export_pprof *p, const char *s)
{
    if (!s || !*s)
        return 0;
    bool created;
    size_t len = strlen(s);
    uint32_t *slot = ms_map_slot(p->strings, s, len, &created);
    if (!slot)
        return UINT32_MAX;
    if (!created)
        return *slot;
    if (!MS_GROW(p->strv, p->strcap, p->nstr + 1, 64))
        return UINT32_MAX;
    if (!(p->strv[p->nstr] = strdup(s)))
        return UINT32_MAX;
    *slot = (uint32_t)p->nstr++;
    return *slot;
}

static bool ms_export_pprof_profiler_module(const char *path)
{
    const char *base = strrchr(path, '/');
    return strncmp(base ? base + 1 : path, "libmemsnap", 10) == 0;
}

/* Function id for a symbolized frame, by (name, file). 0 on no memory. */
static uint64_t ms_export_pprof_function(struct ms_export_pprof *p, struct ms_symbolizer *sym,
                                         const struct ms_sym_frame *f)
{
    uint32_t key[2] = {ms_export_pprof_str(p, ms_export_frame_name(sym, f)), ms_export_pprof_str(p, f->file)};
    if (key[0] == UINT32_MAX || key[1] == UINT32_MAX)
        return 0;
    bool created;
    uint32_t *slot = ms_map_slot(p->funcs, key, sizeof key, &created);
    if (!slot)
        return 0;
    if (!created)
        return *slot;
    *slot = ++p->nfunc;
    struct ms_export_pprof_buf m = {0};
    ms_export_pprof_int(&m, 1, *slot);
    ms_export_pprof_int(&m, 2, key[0]);
    ms_export_pprof_int(&m, 3, key[0]);
    ms_export_pprof_int(&m, 4, key[1]);
    ms_export_pprof_int(&m, 5, f->decl_line);
    ms_export_pprof_msg(&p->functions, 5, &m);
    free(m.p);
    return m.oom ? 0 : *slot;
}

/* Location id for a machine frame: one per (module, offset), its inlined chain as lines. 0 on no memory. */
static uint64_t ms_export_pprof_location(struct ms_export_pprof *p, struct ms_groups *g, const struct ms_frame *fr)
{
    struct {
        uint32_t module, pad;
        uint64_t offset;
    } key = {fr->module, 0, fr->offset};
    bool created;
    uint32_t *slot = ms_map_slot(p->locs, &key, sizeof key, &created);
    if (!slot)
        return 0;
    if (!created)
        return *slot;
    uint32_t id = ++p->nloc;
    *slot = id;
    const struct ms_snap *snap = g->snap;
    bool known = fr->module < snap->module_count;
    struct ms_export_pprof_buf m = {0}, line = {0};
    ms_export_pprof_int(&m, 1, id);
    if (known) {
        p->module_used[fr->module] = true;
        ms_export_pprof_int(&m, 2, fr->module + 1);
    }
    ms_export_pprof_int(&m, 3, (known ? snap->modules[fr->module].base : 0) + fr->offset);
    const struct ms_sym_frame *sf;
    size_t k = ms_symbolize_frame(g->sym, g->handles, snap, fr, &sf);
    /* Innermost first, as pprof wants: the last line is the function the others were inlined into. */
    for (size_t i = 0; i < k; i++) {
        uint64_t fid = ms_export_pprof_function(p, g->sym, &sf[i]);
        if (!fid)
            m.oom = true;
        ms_export_pprof_int(&line, 1, fid);
        ms_export_pprof_int(&line, 2, sf[i].file ? sf[i].line : 0);
        ms_export_pprof_msg(&m, 4, &line);
    }
    ms_export_pprof_msg(&p->locations, 4, &m);
    free(m.p);
    free(line.p);
    return m.oom || line.oom ? 0 : id;
}

static bool ms_export_pprof_sample(struct ms_export_pprof *p, struct ms_groups *g, const struct ms_group_row *row)
{
    const struct ms_stack *st = &g->snap->stacks[row->example];
    struct ms_export_pprof_buf ids = {0}, vals = {0}, m = {0};
    bool top = true;
    for (uint32_t i = 0; i < st->depth; i++) {
        const struct ms_frame *fr = &st->frames[i];
        /* As in grouping: profiler frames an unwinder left at the top are noise. */
        if (top && fr->module < g->snap->module_count &&
            ms_export_pprof_profiler_module(g->snap->modules[fr->module].path))
            continue;
        top = false;
        uint64_t id = ms_export_pprof_location(p, g, fr);
        if (!id)
            ids.oom = true;
        ms_export_pprof_varint(&ids, id);
    }
    uint64_t v[4] = {row->alloc_count, row->alloc_bytes, row->count, row->size};
    for (int i = 0; i < 4; i++)
        ms_export_pprof_varint(&vals, v[i]);
    ms_export_pprof_msg(&m, 1, &ids);
    ms_export_pprof_msg(&m, 2, &vals);
    ms_export_pprof_msg(&p->samples, 2, &m);
    bool ok = !ids.oom && !vals.oom && !m.oom;
    free(ids.p);
    free(vals.p);
    free(m.p);
    return ok;
}

static void ms_export_pprof_value_type(struct ms_export_pprof_buf *b, uint32_t field, uint32_t type, uint32_t unit)
{
    struct ms_export_pprof_buf m = {0};
    ms_export_pprof_int(&m, 1, type);
    ms_export_pprof_int(&m, 2, unit);
    ms_export_pprof_msg(b, field, &m);
    free(m.p);
}

/* The encoded profile as one gzip member, in bounded chunks (a profile may be larger than uInt). */
static enum ms_status ms_export_pprof_gzip(FILE *out, const unsigned char *p, size_t len)
{
    z_stream z = {0};
    /* 15 + 16: a gzip header and trailer around the deflate stream, not zlib's. */
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return MS_NOMEM;
    enum ms_status r = MS_OK;
    unsigned char chunk[1 << 16];
    int zr = Z_OK;
    while (r == MS_OK && zr != Z_STREAM_END) {
        if (z.avail_in == 0 && len) {
            size_t n = len < (1u << 30) ? len : (1u << 30);
            z.next_in = (unsigned char *)p;
            z.avail_in = (uInt)n;
            p += n;
            len -= n;
        }
        z.next_out = chunk;
        z.avail_out = sizeof chunk;
        zr = deflate(&z, len ? Z_NO_FLUSH : Z_FINISH);
        if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
            r = MS_NOMEM;
        size_t have = sizeof chunk - z.avail_out;
        if (r == MS_OK && have && fwrite(chunk, 1, have, out) != have)
            r = MS_IO;
    }
    deflateEnd(&z);
    return r;
}

enum ms_status ms_export_pprof_write(FILE *out, struct ms_groups *g, struct ms_error *err)
{
    static const char *const names[] = {"alloc_objects", "count", "alloc_space", "bytes", "inuse_objects",
                                        "inuse_space", "space"};
    const struct ms_snap *snap = g->snap;
    struct ms_export_pprof p = {0};
    struct ms_export_pprof_buf prof = {0}, m = {0};
    enum ms_status r = MS_NOMEM;
    uint32_t ids[7];
    p.strings = ms_map_new();
    p.funcs = ms_map_new();
    p.locs = ms_map_new();
    p.strcap = 64;
    p.strv = calloc(p.strcap, sizeof *p.strv);
    p.module_used = calloc(snap->module_count + 1, sizeof *p.module_used);
    if (!p.strings || !p.funcs || !p.locs || !p.strv || !p.module_used || !(p.strv[0] = strdup("")))
        goto out;
    p.nstr = 1;
    for (int i = 0; i < 7; i++)
        if ((ids[i] = ms_export_pprof_str(&p, names[i])) == UINT32_MAX)
            goto out;
    for (size_t i = 0; i < g->count; i++) {
        const struct ms_group_row *row = &g->rows[i];
        if ((row->alloc_count || row->alloc_bytes || row->count || row->size) && !ms_export_pprof_sample(&p, g, row))
            goto out;
    }
    for (uint32_t i = 0; i < snap->module_count; i++) {
        if (!p.module_used[i])
            continue;
        const struct ms_module *mod = &snap->modules[i];
        char bid[2 * 255 + 1] = "";
        for (uint32_t j = 0; j < mod->build_id_len && j < 255; j++)
            snprintf(bid + 2 * j, 3, "%02x", mod->build_id[j]);
        uint32_t file = ms_export_pprof_str(&p, mod->path), build = ms_export_pprof_str(&p, bid);
        if (file == UINT32_MAX || build == UINT32_MAX)
            goto out;
        ms_export_pprof_int(&m, 1, i + 1);
        ms_export_pprof_int(&m, 2, mod->base);
        ms_export_pprof_int(&m, 3, mod->base + mod->size);
        ms_export_pprof_int(&m, 5, file);
        ms_export_pprof_int(&m, 6, build);
        for (uint32_t f = 7; f <= 10; f++) /* functions, file names, line numbers, inline frames: all there */
            ms_export_pprof_int(&m, f, 1);
        ms_export_pprof_msg(&p.mappings, 3, &m);
    }
    static const int types[4][2] = {{0, 1}, {2, 3}, {4, 1}, {5, 3}}; /* (type, unit) in names[] */
    for (int i = 0; i < 4; i++)
        ms_export_pprof_value_type(&prof, 1, ids[types[i][0]], ids[types[i][1]]);
    ms_export_pprof_raw(&prof, p.samples.p, p.samples.len);
    ms_export_pprof_raw(&prof, p.mappings.p, p.mappings.len);
    ms_export_pprof_raw(&prof, p.locations.p, p.locations.len);
    ms_export_pprof_raw(&prof, p.functions.p, p.functions.len);
    for (size_t i = 0; i < p.nstr; i++)
        ms_export_pprof_bytes(&prof, 6, p.strv[i], strlen(p.strv[i]));
    ms_export_pprof_int(&prof, 9, snap->info.time_ns);
    ms_export_pprof_value_type(&prof, 11, ids[6], ids[3]);
    /* A sampled snapshot's counters are already scaled estimates; the period says how coarse they are. */
    ms_export_pprof_int(&prof, 12, snap->flags & MS_FMT_FLAG_SAMPLED ? snap->info.sample_rate : 1);
    ms_export_pprof_int(&prof, 14, ids[5]);
    if (prof.oom || p.samples.oom || p.mappings.oom || p.locations.oom || p.functions.oom || m.oom)
        goto out;
    r = ms_export_pprof_gzip(out, prof.p, prof.len);
out:
    if (r == MS_NOMEM)
        ms_error_set(err, r, "out of memory");
    else if (r == MS_IO)
        ms_error_set(err, r, "writing the profile failed");
    free(prof.p);
    free(m.p);
    free(p.samples.p);
    free(p.locations.p);
    free(p.functions.p);
    free(p.mappings.p);
    for (size_t i = 0; i < p.nstr; i++)
        free(p.strv[i]);
    free(p.strv);
    free(p.module_used);
    ms_map_free(p.strings);
    ms_map_free(p.funcs);
    ms_map_free(p.locs);
    return r;
}
