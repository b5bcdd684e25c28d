/* Reading snapshot files. Nothing in a file is trusted: every count and length is checked against the
 * bytes that remain before anything is allocated, so memory use is bounded by a small multiple of the
 * file size whatever the file claims. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include "analyze.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the reader assumes a little-endian host");

#define MS_SNAPFILE_MAX_SIZE (1ull << 36) /* 64 GiB: larger is certainly not a snapshot */
/* A compressed file claiming more than this many times its size is refused before anything is allocated
 * (real snapshots compress 10 to 40 times). */
#define MS_SNAPFILE_MAX_RATIO 1024
/* A STACK_TREE section expands to at most this many frames per byte of the (decompressed) file: real ones
 * need a few (a stack that shares all but its innermost frame costs a node and a record, 6 to 10 bytes). */
#define MS_SNAPFILE_MAX_FRAMES_PER_BYTE 64

struct ms_snapfile_mem {
    char *strings;
    size_t strings_len, strings_cap;
    struct ms_frame *frames;
};

struct ms_snapfile_cursor {
    const unsigned char *p;
    size_t left;
    const char *name; /* file */
    const char *what; /* section */
    struct ms_error *err;
};

static const char *ms_snapfile_section_name(uint32_t type)
{
    switch (type) {
    case MS_FMT_SEC_INFO: return "INFO";
    case MS_FMT_SEC_TOTALS: return "TOTALS";
    case MS_FMT_SEC_MODULES: return "MODULES";
    case MS_FMT_SEC_STACKS: return "STACKS";
    case MS_FMT_SEC_SITES: return "SITES";
    case MS_FMT_SEC_LABELS: return "LABELS";
    case MS_FMT_SEC_LEAKS: return "LEAKS";
    case MS_FMT_SEC_STACK_TREE: return "STACK_TREE";
    case MS_FMT_SEC_SITES_PACKED: return "SITES_PACKED";
    case MS_FMT_SEC_MEMORY: return "MEMORY";
    case MS_FMT_SEC_TEMPORARY: return "TEMPORARY";
    case MS_FMT_SEC_LEAK_ROOTS: return "LEAK_ROOTS";
    case MS_FMT_SEC_END: return "END";
    default: return "unknown";
    }
}

const char *ms_snapfile_trigger_name(uint32_t trigger)
{
    switch (trigger) {
    case MS_FMT_TRIGGER_API: return "api";
    case MS_FMT_TRIGGER_SIGNAL: return "signal";
    case MS_FMT_TRIGGER_INTERVAL: return "interval";
    case MS_FMT_TRIGGER_EXIT: return "exit";
    case MS_FMT_TRIGGER_PEAK: return "peak";
    default: return "unknown";
    }
}

const char *ms_snapfile_unwinder_name(uint32_t unwinder)
{
    switch (unwinder) {
    case MS_FMT_UNWINDER_DWARF: return "dwarf";
    case MS_FMT_UNWINDER_FP: return "fp";
    case MS_FMT_UNWINDER_LIBUNWIND: return "libunwind";
    default: return "unknown";
    }
}

static enum ms_status ms_snapfile_take(struct ms_snapfile_cursor *c, void *dst, size_t n, const char *item,
                                       uint64_t index)
{
    if (n > c->left)
        return ms_error_set(c->err, MS_INPUT,
                            "%s: corrupt %s section: %s %llu needs %zu bytes, only %zu remain", c->name,
                            c->what, item, (unsigned long long)index, n, c->left);
    if (dst)
        memcpy(dst, c->p, n);
    c->p += n;
    c->left -= n;
    return MS_OK;
}

/* A count followed by records of at least `min_record` bytes each: reject counts the bytes cannot hold. */
static enum ms_status ms_snapfile_count(struct ms_snapfile_cursor *c, size_t min_record, uint32_t *count)
{
    enum ms_status r = ms_snapfile_take(c, count, 4, "count", 0);
    if (r != MS_OK)
        return r;
    if ((uint64_t)*count * min_record > c->left)
        return ms_error_set(c->err, MS_INPUT,
                            "%s: corrupt %s section: count %u needs at least %llu bytes, only %zu remain",
                            c->name, c->what, *count, (unsigned long long)*count * min_record, c->left);
    return MS_OK;
}

static const char *ms_snapfile_string(struct ms_snapfile_mem *m, const unsigned char *p, size_t n)
{
    /* The buffer was sized from the file length up front, so this never reallocates. */
    char *s = m->strings + m->strings_len;
    memcpy(s, p, n);
    s[n] = 0;
    m->strings_len += n + 1;
    return s;
}

static enum ms_status ms_snapfile_strbytes(struct ms_snapfile_cursor *c, struct ms_snapfile_mem *m, size_t n,
                                           const char *item, uint64_t index, const char **out)
{
    const unsigned char *p = c->p;
    enum ms_status r = ms_snapfile_take(c, NULL, n, item, index);
    if (r != MS_OK)
        return r;
    *out = ms_snapfile_string(m, p, n);
    return MS_OK;
}

static enum ms_status ms_snapfile_info(struct ms_snapfile_cursor *c, struct ms_snap *s, struct ms_snapfile_mem *m)
{
    enum ms_status r = ms_snapfile_take(c, &s->info, sizeof s->info, "record", 0);
    if (r == MS_OK)
        r = ms_snapfile_strbytes(c, m, s->info.exe_len, "executable path of length", s->info.exe_len, &s->exe);
    if (r == MS_OK)
        r = ms_snapfile_strbytes(c, m, s->info.label_len, "label of length", s->info.label_len, &s->label);
    s->has_info = r == MS_OK;
    return r;
}

static enum ms_status ms_snapfile_modules(struct ms_snapfile_cursor *c, struct ms_snap *s, struct ms_snapfile_mem *m)
{
    enum ms_status r = ms_snapfile_count(c, sizeof(struct ms_fmt_module), &s->module_count);
    if (r != MS_OK)
        return r;
    s->modules = calloc(s->module_count ? s->module_count : 1, sizeof *s->modules);
    if (!s->modules)
        return ms_error_set(c->err, MS_NOMEM, "%s: out of memory", c->name);
    for (uint32_t i = 0; i < s->module_count; i++) {
        struct ms_fmt_module fm;
        const char *bid;
        if ((r = ms_snapfile_take(c, &fm, sizeof fm, "module", i)) != MS_OK ||
            (r = ms_snapfile_strbytes(c, m, fm.path_len, "module", i, &s->modules[i].path)) != MS_OK ||
            (r = ms_snapfile_strbytes(c, m, fm.build_id_len, "module", i, &bid)) != MS_OK)
            return r;
        s->modules[i].base = fm.base;
        s->modules[i].size = fm.size;
        s->modules[i].build_id = (const unsigned char *)bid;
        s->modules[i].build_id_len = fm.build_id_len;
    }
    return MS_OK;
}

static enum ms_status ms_snapfile_stacks(struct ms_snapfile_cursor *c, struct ms_snap *s, struct ms_snapfile_mem *m)
{
    enum ms_status r = ms_snapfile_count(c, sizeof(struct ms_fmt_stack), &s->stack_count);
    if (r != MS_OK)
        return r;
    /* Every frame takes 16 bytes of the payload: this bounds the frame array by the file size. */
    size_t max_frames = c->left / sizeof(struct ms_fmt_frame);
    s->stacks = calloc(s->stack_count ? s->stack_count : 1, sizeof *s->stacks);
    m->frames = malloc((max_frames ? max_frames : 1) * sizeof *m->frames);
    if (!s->stacks || !m->frames)
        return ms_error_set(c->err, MS_NOMEM, "%s: out of memory", c->name);
    size_t used = 0;
    for (uint32_t i = 0; i < s->stack_count; i++) {
        struct ms_fmt_stack fs;
        if ((r = ms_snapfile_take(c, &fs, sizeof fs, "stack", i)) != MS_OK)
            return r;
        if ((size_t)fs.depth * sizeof(struct ms_fmt_frame) > c->left)
            return ms_error_set(c->err, MS_INPUT,
                                "%s: corrupt STACKS section: stack %u claims %u frames, only %zu bytes remain",
                                c->name, i, fs.depth, c->left);
        s->stacks[i].depth = fs.depth;
        s->stacks[i].flags = fs.flags;
        s->stacks[i].frames = m->frames + used;
        for (uint32_t j = 0; j < fs.depth; j++) {
            struct ms_fmt_frame ff;
            ms_snapfile_take(c, &ff, sizeof ff, "frame", j);
            if (ff.module != MS_FMT_MODULE_NONE && ff.module >= s->module_count)
                return ms_error_set(c->err, MS_INPUT,
                                    "%s: corrupt STACKS section: stack %u frame %u names module %u of %u",
                                    c->name, i, j, ff.module, s->module_count);
            m->frames[used].module = ff.module;
            m->frames[used].offset = ff.offset;
            used++;
        }
    }
    return MS_OK;
}

static enum ms_status ms_snapfile_varint(struct ms_snapfile_cursor *c, uint64_t *v, const char *item,
                                         uint64_t index)
{
    uint64_t x = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (c->left == 0)
            break;
        uint8_t b = *c->p++;
        c->left--;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return MS_OK;
        }
    }
    return ms_error_set(c->err, MS_INPUT, "%s: corrupt %s section: %s %llu: bad or truncated varint", c->name,
                        c->what, item, (unsigned long long)index);
}

/* STACK_TREE: nodes (parent, module, offset), then stacks as innermost nodes; each stack's frames are laid
 * out innermost first, as STACKS has them. file_len bounds the frames (MS_SNAPFILE_MAX_FRAMES_PER_BYTE). */
static enum ms_status ms_snapfile_stack_tree(struct ms_snapfile_cursor *c, struct ms_snap *s,
                                             struct ms_snapfile_mem *m, size_t file_len)
{
    uint64_t nodes, v;
    enum ms_status r = ms_snapfile_varint(c, &nodes, "node count", 0);
    if (r != MS_OK)
        return r;
    if (nodes > c->left / 3)
        return ms_error_set(c->err, MS_INPUT, "%s: corrupt STACK_TREE section: %llu nodes cannot fit in %zu bytes",
                            c->name, (unsigned long long)nodes, c->left);
    uint32_t *parent = malloc((nodes ? nodes : 1) * sizeof *parent);
    uint32_t *depth = malloc((nodes ? nodes : 1) * sizeof *depth);
    struct ms_frame *frame = malloc((nodes ? nodes : 1) * sizeof *frame);
    if (!parent || !depth || !frame) {
        r = ms_error_set(c->err, MS_NOMEM, "%s: out of memory", c->name);
        goto out;
    }
    for (uint64_t i = 0; i < nodes; i++) {
        uint64_t delta, module, offset;
        if ((r = ms_snapfile_varint(c, &delta, "node", i)) != MS_OK ||
            (r = ms_snapfile_varint(c, &module, "node", i)) != MS_OK ||
            (r = ms_snapfile_varint(c, &offset, "node", i)) != MS_OK)
            goto out;
        if (delta > i || (module != 0 && module > s->module_count)) {
            r = ms_error_set(c->err, MS_INPUT, "%s: corrupt STACK_TREE section: node %llu names %s %llu", c->name,
                             (unsigned long long)i, delta > i ? "parent" : "module",
                             (unsigned long long)(delta > i ? delta : module - 1));
            goto out;
        }
        parent[i] = delta ? (uint32_t)(i - delta) : UINT32_MAX;
        depth[i] = delta ? depth[parent[i]] + 1 : 1;
        if (depth[i] > UINT16_MAX) {
            r = ms_error_set(c->err, MS_INPUT, "%s: corrupt STACK_TREE section: node %llu is %u frames deep",
                             c->name, (unsigned long long)i, depth[i]);
            goto out;
        }
        frame[i].module = module ? (uint32_t)(module - 1) : MS_FMT_MODULE_NONE;
        frame[i].offset = offset;
    }
    if ((r = ms_snapfile_varint(c, &v, "stack count", 0)) != MS_OK)
        goto out;
    if (v > c->left / 2) {
        r = ms_error_set(c->err, MS_INPUT, "%s: corrupt STACK_TREE section: %llu stacks cannot fit in %zu bytes",
                         c->name, (unsigned long long)v, c->left);
        goto out;
    }
    s->stack_count = (uint32_t)v;
    s->stacks = calloc(v ? v : 1, sizeof *s->stacks);
    if (!s->stacks) {
        r = ms_error_set(c->err, MS_NOMEM, "%s: out of memory", c->name);
        goto out;
    }
    /* First the records, to size the frames. */
    uint64_t total = 0, limit = (uint64_t)file_len * MS_SNAPFILE_MAX_FRAMES_PER_BYTE;
    for (uint32_t i = 0; i < s->stack_count; i++) {
        uint64_t leaf, flags;
        if ((r = ms_snapfile_varint(c, &leaf, "stack", i)) != MS_OK ||
            (r = ms_snapfile_varint(c, &flags, "stack", i)) != MS_OK)
            goto out;
        if (leaf > nodes || flags > UINT16_MAX) {
            r = ms_error_set(c->err, MS_INPUT, "%s: corrupt STACK_TREE section: stack %u has node %llu (of %llu), "
                             "flags %llu", c->name, i, (unsigned long long)leaf - 1, (unsigned long long)nodes,
                             (unsigned long long)flags);
            goto out;
        }
        s->stacks[i].depth = leaf ? depth[leaf - 1] : 0;
        s->stacks[i].flags = (uint32_t)flags;
        s->stacks[i].frames = (const struct ms_frame *)(uintptr_t)leaf; /* the node until laid out */
        total += s->stacks[i].depth;
        if (total > limit) {
            r = ms_error_set(c->err, MS_INPUT, "%s: corrupt STACK_TREE section: more than %llu frames in a %zu-byte file",
                             c->name, (unsigned long long)limit, file_len);
            goto out;
        }
    }
    m->frames = malloc((total ? total : 1) * sizeof *m->frames);
    if (!m->frames) {
        r = ms_error_set(c->err, MS_NOMEM, "%s: out of memory for %llu frames", c->name, (unsigned long long)total);
        goto out;
    }
    size_t used = 0;
    for (uint32_t i = 0; i < s->stack_count; i++) {
        uint32_t node = (uint32_t)(uintptr_t)s->stacks[i].frames;
        s->stacks[i].frames = m->frames + used;
        for (uint32_t n = node ? node - 1 : UINT32_MAX; n != UINT32_MAX; n = parent[n])
            m->frames[used++] = frame[n];
    }
out:
    free(parent);
    free(depth);
    free(frame);
    return r;
}

static enum ms_status ms_snapfile_sites(struct ms_snapfile_cursor *c, struct ms_snap *s)
{
    enum ms_status r = ms_snapfile_count(c, sizeof(struct ms_fmt_site), &s->site_count);
    if (r != MS_OK)
        return r;
    s->sites = calloc(s->site_count ? s->site_count : 1, sizeof *s->sites);
    if (!s->sites)
        return ms_error_set(c->err, MS_NOMEM, "%s: out of memory", c->name);
    for (uint32_t i = 0; i < s->site_count; i++) {
        struct ms_fmt_site fs;
        if ((r = ms_snapfile_take(c, &fs, sizeof fs, "site", i)) != MS_OK)
            return r;
        if (fs.stack >= s->stack_count)
            return ms_error_set(c->err, MS_INPUT,
                                "%s: corrupt SITES section: site %u names stack %u of %u", c->name, i,
                                fs.stack, s->stack_count);
        s->sites[i] = (struct ms_site){fs.stack, fs.live_bytes, fs.live_count, fs.alloc_bytes, fs.alloc_count,
                                       fs.free_bytes, fs.free_count, 0};
    }
    return MS_OK;
}

static enum ms_status ms_snapfile_sites_packed(struct ms_snapfile_cursor *c, struct ms_snap *s)
{
    uint64_t n, v[7];
    enum ms_status r = ms_snapfile_varint(c, &n, "count", 0);
    if (r != MS_OK)
        return r;
    if (n > c->left / 7)
        return ms_error_set(c->err, MS_INPUT, "%s: corrupt SITES_PACKED section: %llu sites cannot fit in %zu bytes",
                            c->name, (unsigned long long)n, c->left);
    s->site_count = (uint32_t)n;
    s->sites = calloc(n ? n : 1, sizeof *s->sites);
    if (!s->sites)
        return ms_error_set(c->err, MS_NOMEM, "%s: out of memory", c->name);
    for (uint32_t i = 0; i < s->site_count; i++) {
        for (int k = 0; k < 7; k++)
            if ((r = ms_snapfile_varint(c, &v[k], "site", i)) != MS_OK)
                return r;
        if (v[0] >= s->stack_count)
            return ms_error_set(c->err, MS_INPUT,
                                "%s: corrupt SITES_PACKED section: site %u names stack %llu of %u", c->name, i,
                                (unsigned long long)v[0], s->stack_count);
        s->sites[i] = (struct ms_site){(uint32_t)v[0], v[1], v[2], v[3], v[4], v[5], v[6], 0};
    }
    return MS_OK;
}

/* After SITES: each record's count goes to the site of its stack. */
static enum ms_status ms_snapfile_temporary(struct ms_snapfile_cursor *c, struct ms_snap *s)
{
    uint64_t n, id = 0, delta, temps;
    enum ms_status r = ms_snapfile_varint(c, &n, "count", 0);
    if (r != MS_OK)
        return r;
    if (n > c->left / 2)
        return ms_error_set(c->err, MS_INPUT, "%s: corrupt TEMPORARY section: %llu records cannot fit in %zu bytes",
                            c->name, (unsigned long long)n, c->left);
    uint32_t *site_of = calloc(s->stack_count ? s->stack_count : 1, sizeof *site_of); /* site index + 1 */
    if (!site_of)
        return ms_error_set(c->err, MS_NOMEM, "%s: out of memory", c->name);
    for (uint32_t i = 0; i < s->site_count; i++)
        site_of[s->sites[i].stack] = i + 1;
    for (uint64_t i = 0; i < n && r == MS_OK; i++) {
        if ((r = ms_snapfile_varint(c, &delta, "record", (uint32_t)i)) != MS_OK ||
            (r = ms_snapfile_varint(c, &temps, "record", (uint32_t)i)) != MS_OK)
            break;
        if ((i && delta == 0) || delta >= s->stack_count - id || !site_of[id + delta] || temps == 0) {
            r = ms_error_set(c->err, MS_INPUT, "%s: corrupt TEMPORARY section: record %llu names %s", c->name,
                             (unsigned long long)i, temps == 0 ? "no allocation" : "a stack out of order or "
                             "without a site");
            break;
        }
        id += delta;
        s->sites[site_of[id] - 1].temp_count = temps;
    }
    free(site_of);
    s->has_temporary = r == MS_OK;
    return r;
}

static enum ms_status ms_snapfile_labels(struct ms_snapfile_cursor *c, struct ms_snap *s, struct ms_snapfile_mem *m)
{
    enum ms_status r = ms_snapfile_count(c, 8, &s->label_count);
    if (r != MS_OK)
        return r;
    s->labels = calloc(s->label_count ? s->label_count : 1, sizeof *s->labels);
    if (!s->labels)
        return ms_error_set(c->err, MS_NOMEM, "%s: out of memory", c->name);
    for (uint32_t i = 0; i < s->label_count; i++) {
        uint32_t kv[2];
        if ((r = ms_snapfile_take(c, kv, 8, "label", i)) != MS_OK ||
            (r = ms_snapfile_strbytes(c, m, kv[0], "label", i, &s->labels[i].key)) != MS_OK ||
            (r = ms_snapfile_strbytes(c, m, kv[1], "label", i, &s->labels[i].value)) != MS_OK)
            return r;
    }
    return MS_OK;
}

static int ms_snapfile_leak_cmp(const void *a, const void *b)
{
    uint32_t x = ((const struct ms_leak *)a)->stack, y = ((const struct ms_leak *)b)->stack;
    return x < y ? -1 : x > y;
}

static enum ms_status ms_snapfile_leaks(struct ms_snapfile_cursor *c, struct ms_snap *s)
{
    struct ms_fmt_leaks h;
    enum ms_status r = ms_snapfile_take(c, &h, sizeof h, "header", 0);
    if (r != MS_OK)
        return r;
    if ((uint64_t)h.count * sizeof(struct ms_fmt_leak) > c->left)
        return ms_error_set(c->err, MS_INPUT,
                            "%s: corrupt LEAKS section: count %u needs %llu bytes, only %zu remain", c->name,
                            h.count, (unsigned long long)h.count * sizeof(struct ms_fmt_leak), c->left);
    if (h.count > s->stack_count)
        return ms_error_set(c->err, MS_INPUT, "%s: corrupt LEAKS section: %u records for %u stacks", c->name,
                            h.count, s->stack_count);
    s->leaks = calloc(h.count ? h.count : 1, sizeof *s->leaks);
    if (!s->leaks)
        return ms_error_set(c->err, MS_NOMEM, "%s: out of memory", c->name);
    for (uint32_t i = 0; i < h.count; i++) {
        struct ms_fmt_leak fl;
        ms_snapfile_take(c, &fl, sizeof fl, "record", i);
        if (fl.stack >= s->stack_count)
            return ms_error_set(c->err, MS_INPUT, "%s: corrupt LEAKS section: record %u names stack %u of %u",
                                c->name, i, fl.stack, s->stack_count);
        s->leaks[i] = (struct ms_leak){fl.stack, fl.lost_bytes, fl.lost_count, fl.indirect_bytes,
                                       fl.indirect_count, fl.reachable_bytes, fl.reachable_count};
    }
    qsort(s->leaks, h.count, sizeof *s->leaks, ms_snapfile_leak_cmp);
    for (uint32_t i = 1; i < h.count; i++)
        if (s->leaks[i].stack == s->leaks[i - 1].stack)
            return ms_error_set(c->err, MS_INPUT, "%s: corrupt LEAKS section: two records for stack %u", c->name,
                                s->leaks[i].stack);
    s->leak_count = h.count;
    s->leak_scanned = h.scanned_blocks;
    s->leak_skipped = h.skipped_blocks;
    s->leak_scan_ns = h.scan_ns;
    s->leak_threads_unknown = h.threads_unknown;
    s->has_leaks = true;
    return MS_OK;
}

static enum ms_status ms_snapfile_leak_roots_section(struct ms_snapfile_cursor *c, struct ms_snap *s)
{
    struct ms_fmt_leak_roots h;
    enum ms_status r = ms_snapfile_take(c, &h, sizeof h, "header", 0);
    if (r != MS_OK)
        return r;
    if ((uint64_t)h.count * sizeof(struct ms_fmt_leak_root) > c->left)
        return ms_error_set(c->err, MS_INPUT,
                            "%s: corrupt LEAK_ROOTS section: count %u needs %llu bytes, only %zu remain", c->name,
                            h.count, (unsigned long long)h.count * sizeof(struct ms_fmt_leak_root), c->left);
    s->leak_roots = calloc(h.count ? h.count : 1, sizeof *s->leak_roots);
    if (!s->leak_roots)
        return ms_error_set(c->err, MS_NOMEM, "%s: out of memory", c->name);
    for (uint32_t i = 0; i < h.count; i++) {
        struct ms_fmt_leak_root fr;
        ms_snapfile_take(c, &fr, sizeof fr, "record", i);
        if (fr.stack >= s->stack_count || fr.root >= s->stack_count)
            return ms_error_set(c->err, MS_INPUT,
                                "%s: corrupt LEAK_ROOTS section: record %u names stacks %u and %u of %u", c->name, i,
                                fr.stack, fr.root, s->stack_count);
        const struct ms_leak_root *prev = i ? &s->leak_roots[i - 1] : NULL;
        if (prev && (prev->stack > fr.stack || (prev->stack == fr.stack && prev->root >= fr.root)))
            return ms_error_set(c->err, MS_INPUT, "%s: corrupt LEAK_ROOTS section: record %u out of order", c->name,
                                i);
        s->leak_roots[i] = (struct ms_leak_root){fr.stack, fr.root, fr.bytes, fr.count};
    }
    s->leak_root_count = h.count;
    /* LEAKS is read first: a stack's indirectly lost blocks are what its records share out. */
    for (uint32_t i = 0; i < h.count;) {
        uint32_t stack = s->leak_roots[i].stack;
        uint64_t bytes = 0, count = 0;
        for (; i < h.count && s->leak_roots[i].stack == stack; i++) {
            bytes += s->leak_roots[i].bytes;
            count += s->leak_roots[i].count;
        }
        const struct ms_leak *l = ms_snapfile_leak(s, stack);
        if (!l || bytes > l->indirect_bytes || count > l->indirect_count)
            return ms_error_set(c->err, MS_INPUT,
                                "%s: corrupt LEAK_ROOTS section: stack %u has %llu B in %llu indirectly lost blocks "
                                "under its roots, more than LEAKS says",
                                c->name, stack, (unsigned long long)bytes, (unsigned long long)count);
    }
    return MS_OK;
}

const struct ms_leak_root *ms_snapfile_leak_roots(const struct ms_snap *s, uint32_t stack, uint32_t *n)
{
    size_t lo = 0, hi = s->leak_root_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->leak_roots[mid].stack < stack)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = lo;
    while (end < s->leak_root_count && s->leak_roots[end].stack == stack)
        end++;
    *n = (uint32_t)(end - lo);
    return end > lo ? &s->leak_roots[lo] : NULL;
}

const struct ms_leak *ms_snapfile_leak(const struct ms_snap *s, uint32_t stack)
{
    size_t lo = 0, hi = s->leak_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->leaks[mid].stack < stack)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->leak_count && s->leaks[lo].stack == stack ? &s->leaks[lo] : NULL;
}

struct ms_snapfile_sec {
    uint32_t type;
    size_t off, len; /* payload */
};

static enum ms_status ms_snapfile_parse_image(const void *data, size_t len, const char *name, unsigned flags,
                                              struct ms_snap **out, struct ms_error *err)
{
    const unsigned char *d = data;
    struct ms_fmt_header h;
    struct ms_snap *s = NULL;
    struct ms_snapfile_mem *m = NULL;
    struct ms_snapfile_sec *secs = NULL;
    enum ms_status r = MS_OK;
    *out = NULL;

    if (len == 0)
        return ms_error_set(err, MS_INPUT, "%s: empty file, not a memsnap snapshot", name);
    if (memcmp(d, MS_FMT_MAGIC, len < MS_FMT_MAGIC_LEN ? len : MS_FMT_MAGIC_LEN) != 0)
        return ms_error_set(err, MS_INPUT, "%s: not a memsnap snapshot (wrong magic)", name);
    if (len < sizeof h)
        return ms_error_set(err, MS_INPUT, "%s: truncated: %zu bytes, shorter than the %zu-byte header", name,
                            len, sizeof h);
    memcpy(&h, d, sizeof h);
    if (h.version_major > MS_FMT_VERSION_MAJOR)
        return ms_error_set(err, MS_INPUT,
                            "%s: snapshot format version %u.%u is newer than this memsnap reads (%u.x); "
                            "upgrade memsnap", name, h.version_major, h.version_minor, MS_FMT_VERSION_MAJOR);
    if (h.version_major < 1)
        return ms_error_set(err, MS_INPUT, "%s: unsupported snapshot format version %u.%u", name,
                            h.version_major, h.version_minor);
    if (h.flags & MS_FMT_FLAGS_REQUIRED & ~(uint32_t)MS_FMT_FLAG_ZSTD)
        return ms_error_set(err, MS_INPUT,
                            "%s: snapshot format version %u.%u uses features this memsnap does not read (flags "
                            "%#x; it reads %u.%u); upgrade memsnap", name, h.version_major, h.version_minor,
                            h.flags, MS_FMT_VERSION_MAJOR, MS_FMT_VERSION_MINOR);
    if (h.file_size > len)
        return ms_error_set(err, MS_INPUT, "%s: truncated: the header says %llu bytes, the file has %zu", name,
                            (unsigned long long)h.file_size, len);
    if (h.file_size < len)
        return ms_error_set(err, MS_INPUT, "%s: %zu bytes of trailing garbage after the %llu the header says",
                            name, len - (size_t)h.file_size, (unsigned long long)h.file_size);
    if (h.header_size < sizeof h || h.header_size > len || h.header_size % 8)
        return ms_error_set(err, MS_INPUT, "%s: corrupt header: header size %u", name, h.header_size);
    /* Every section takes at least 16 bytes, so the number of sections is bounded by the length. */
    if (h.section_count == 0 || h.section_count > (len - h.header_size) / sizeof(struct ms_fmt_section))
        return ms_error_set(err, MS_INPUT, "%s: corrupt header: %u sections cannot fit in %zu bytes", name,
                            h.section_count, len - h.header_size);

    /* Pass 1: the section table and the checksum, before any payload is believed. */
    secs = calloc(h.section_count, sizeof *secs);
    if (!secs) {
        r = ms_error_set(err, MS_NOMEM, "%s: out of memory", name);
        goto out;
    }
    size_t off = h.header_size, nsec = 0;
    bool ended = false;
    unsigned seen = 0;
    while (!ended) {
        struct ms_fmt_section sh;
        if (len - off < sizeof sh) {
            r = ms_error_set(err, MS_INPUT, "%s: truncated: no END section (file ends at byte %zu)", name, len);
            goto out;
        }
        if (nsec == h.section_count) {
            r = ms_error_set(err, MS_INPUT, "%s: corrupt header: more than the %u sections it declares", name,
                             h.section_count);
            goto out;
        }
        memcpy(&sh, d + off, sizeof sh);
        size_t payload = off + sizeof sh;
        if (sh.length > len - payload) {
            r = ms_error_set(err, MS_INPUT,
                             "%s: truncated %s section at byte %zu: length %llu, only %zu bytes remain", name,
                             ms_snapfile_section_name(sh.type), off, (unsigned long long)sh.length,
                             len - payload);
            goto out;
        }
        if (sh.type == MS_FMT_SEC_END) {
            uint64_t stored;
            if (sh.length != 8 || sh.reserved != 0) { /* END's own header is outside the checksum */
                r = ms_error_set(err, MS_INPUT, "%s: corrupt END section header (length %llu, reserved %u)", name,
                                 (unsigned long long)sh.length, sh.reserved);
                goto out;
            }
            memcpy(&stored, d + payload, 8);
            uint64_t sum = ms_fmt_checksum(MS_FMT_CHECKSUM_SEED, d, off);
            if (!(flags & MS_SNAPFILE_NO_CHECKSUM) && sum != stored) {
                r = ms_error_set(err, MS_INPUT,
                                 "%s: checksum mismatch (stored %016llx, computed %016llx): the file is corrupt",
                                 name, (unsigned long long)stored, (unsigned long long)sum);
                goto out;
            }
            ended = true;
        } else if (sh.type >= MS_FMT_SEC_INFO && sh.type <= MS_FMT_SEC_LEAK_ROOTS) {
            if (seen & (1u << sh.type)) {
                r = ms_error_set(err, MS_INPUT, "%s: corrupt file: a second %s section at byte %zu", name,
                                 ms_snapfile_section_name(sh.type), off);
                goto out;
            }
            seen |= 1u << sh.type;
        }
        secs[nsec++] = (struct ms_snapfile_sec){sh.type, payload, (size_t)sh.length};
        size_t padded = ((size_t)sh.length + 7) & ~(size_t)7;
        off = padded > len - payload ? len : payload + padded;
    }
    if (nsec != h.section_count || off != len) {
        r = ms_error_set(err, MS_INPUT, "%s: corrupt file: %zu sections and %zu bytes after END; the header says %u",
                         name, nsec, len - off, h.section_count);
        goto out;
    }
    /* 1.2's packed forms stand for the plain ones; a file has one of each pair. */
    static const uint32_t packed[][2] = {{MS_FMT_SEC_STACKS, MS_FMT_SEC_STACK_TREE},
                                         {MS_FMT_SEC_SITES, MS_FMT_SEC_SITES_PACKED}};
    for (size_t i = 0; i < sizeof packed / sizeof *packed; i++) {
        if ((seen & (1u << packed[i][0])) && (seen & (1u << packed[i][1]))) {
            r = ms_error_set(err, MS_INPUT, "%s: corrupt file: both a %s and a %s section", name,
                             ms_snapfile_section_name(packed[i][0]), ms_snapfile_section_name(packed[i][1]));
            goto out;
        }
        if (seen & (1u << packed[i][1]))
            seen |= 1u << packed[i][0];
    }
    static const uint32_t required[] = {MS_FMT_SEC_TOTALS, MS_FMT_SEC_MODULES, MS_FMT_SEC_STACKS,
                                        MS_FMT_SEC_SITES};
    for (size_t i = 0; i < sizeof required / sizeof *required; i++)
        if (!(seen & (1u << required[i]))) {
            r = ms_error_set(err, MS_INPUT, "%s: incomplete snapshot: no %s section", name,
                             ms_snapfile_section_name(required[i]));
            goto out;
        }

    /* Pass 2: payloads, in dependency order (modules before stacks before sites). */
    s = calloc(1, sizeof *s);
    m = calloc(1, sizeof *m);
    if (s)
        s->mem_ = m;
    /* Strings are copied with a NUL each: the file bounds their bytes, and as every record that holds two
     * strings takes at least 8 bytes, their number is at most len / 4 (+ the INFO pair and the name). */
    size_t name_len = strlen(name);
    if (!s || !m || !(m->strings = malloc(len + len / 4 + name_len + 16))) {
        r = ms_error_set(err, MS_NOMEM, "%s: out of memory", name);
        goto out;
    }
    s->path = ms_snapfile_string(m, (const unsigned char *)name, name_len);
    s->exe = s->label = "";
    s->version_major = h.version_major;
    s->version_minor = h.version_minor;
    s->flags = h.flags;
    static const uint32_t order[] = {MS_FMT_SEC_INFO,   MS_FMT_SEC_TOTALS, MS_FMT_SEC_MODULES,
                                     MS_FMT_SEC_STACKS, MS_FMT_SEC_STACK_TREE, MS_FMT_SEC_SITES,
                                     MS_FMT_SEC_SITES_PACKED, MS_FMT_SEC_LABELS, MS_FMT_SEC_LEAKS, MS_FMT_SEC_MEMORY,
                                     MS_FMT_SEC_TEMPORARY,
                                     MS_FMT_SEC_LEAK_ROOTS};
    for (size_t k = 0; k < sizeof order / sizeof *order; k++) {
        for (size_t i = 0; i < nsec; i++) {
            if (secs[i].type != order[k])
                continue;
            struct ms_snapfile_cursor c = {d + secs[i].off, secs[i].len, name,
                                           ms_snapfile_section_name(secs[i].type), err};
            switch (secs[i].type) {
            case MS_FMT_SEC_INFO:
                r = ms_snapfile_info(&c, s, m);
                break;
            case MS_FMT_SEC_TOTALS:
                r = ms_snapfile_take(&c, &s->totals, sizeof s->totals, "record", 0);
                s->has_totals = r == MS_OK;
                break;
            case MS_FMT_SEC_MODULES:
                r = ms_snapfile_modules(&c, s, m);
                break;
            case MS_FMT_SEC_STACKS:
                r = ms_snapfile_stacks(&c, s, m);
                break;
            case MS_FMT_SEC_STACK_TREE:
                r = ms_snapfile_stack_tree(&c, s, m, len);
                break;
            case MS_FMT_SEC_SITES:
                r = ms_snapfile_sites(&c, s);
                break;
            case MS_FMT_SEC_SITES_PACKED:
                r = ms_snapfile_sites_packed(&c, s);
                break;
            case MS_FMT_SEC_LABELS:
                r = ms_snapfile_labels(&c, s, m);
                break;
            case MS_FMT_SEC_LEAKS:
                r = ms_snapfile_leaks(&c, s);
                break;
            case MS_FMT_SEC_LEAK_ROOTS:
                r = ms_snapfile_leak_roots_section(&c, s);
                break;
            case MS_FMT_SEC_MEMORY: /* a longer payload is a later minor version's: its prefix is ours */
                r = ms_snapfile_take(&c, &s->memory, sizeof s->memory, "record", 0);
                s->has_memory = r == MS_OK;
                break;
            case MS_FMT_SEC_TEMPORARY:
                r = ms_snapfile_temporary(&c, s);
                break;
            }
            if (r != MS_OK)
                goto out;
        }
    }
    *out = s;
    s = NULL;
out:
    free(secs);
    if (s)
        ms_snapfile_free(s);
    else if (!*out && m)
        free(m);
    return r;
}

/* A compressed file (MS_FMT_FLAG_ZSTD): header + decompressed body is the image; its size is the header's
 * file_size, checked against the frame's own before anything is decompressed. */
enum ms_status ms_snapfile_parse(const void *data, size_t len, const char *name, unsigned flags,
                                 struct ms_snap **out, struct ms_error *err)
{
    struct ms_fmt_header h;
    *out = NULL;
    if (len < sizeof h || memcmp(data, MS_FMT_MAGIC, MS_FMT_MAGIC_LEN) != 0)
        return ms_snapfile_parse_image(data, len, name, flags, out, err);
    memcpy(&h, data, sizeof h);
    if (h.version_major != MS_FMT_VERSION_MAJOR || !(h.flags & MS_FMT_FLAG_ZSTD) ||
        (h.flags & MS_FMT_FLAGS_REQUIRED & ~(uint32_t)MS_FMT_FLAG_ZSTD))
        return ms_snapfile_parse_image(data, len, name, flags, out, err);
    if (h.header_size != sizeof h)
        return ms_error_set(err, MS_INPUT, "%s: corrupt header: header size %u", name, h.header_size);
    const unsigned char *body = (const unsigned char *)data + sizeof h;
    size_t body_len = len - sizeof h;
    unsigned long long content = ZSTD_getFrameContentSize(body, body_len);
    if (content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN)
        return ms_error_set(err, MS_INPUT, "%s: corrupt compressed body: no zstd frame with its size", name);
    if (h.file_size < sizeof h || content != h.file_size - sizeof h)
        return ms_error_set(err, MS_INPUT, "%s: corrupt compressed body: it holds %llu bytes, the header says %llu",
                            name, content, (unsigned long long)h.file_size);
    if (h.file_size > MS_SNAPFILE_MAX_SIZE || h.file_size / MS_SNAPFILE_MAX_RATIO > len)
        return ms_error_set(err, MS_INPUT, "%s: corrupt compressed body: %llu bytes from %zu is not a snapshot",
                            name, (unsigned long long)h.file_size, len);
    unsigned char *image = malloc((size_t)h.file_size);
    if (!image)
        return ms_error_set(err, MS_NOMEM, "%s: out of memory for %llu bytes", name,
                            (unsigned long long)h.file_size);
    memcpy(image, data, sizeof h);
    size_t got = ZSTD_decompress(image + sizeof h, (size_t)content, body, body_len);
    enum ms_status r;
    if (ZSTD_isError(got) || got != content)
        r = ms_error_set(err, MS_INPUT, "%s: corrupt compressed body: %s", name,
                         ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short");
    else
        r = ms_snapfile_parse_image(image, (size_t)h.file_size, name, flags, out, err);
    free(image);
    return r;
}

void ms_snapfile_free(struct ms_snap *s)
{
    if (!s)
        return;
    struct ms_snapfile_mem *m = s->mem_;
    if (m) {
        free(m->strings);
        free(m->frames);
        free(m);
    }
    free(s->modules);
    free(s->stacks);
    free(s->sites);
    free(s->labels);
    free(s->leaks);
    free(s->leak_roots);
    free(s);
}

enum ms_status ms_snapfile_read(const char *path, struct ms_snap **out, struct ms_error *err)
{
    enum ms_status r = MS_OK;
    unsigned char *buf = NULL;
    uint64_t fsize = 0;
    *out = NULL;
    int fd = ms_file_open_regular(path, &fsize);
    if (fd < 0)
        return ms_error_set(err, MS_INPUT, "%s: cannot open: %s", path, ms_file_strerror(-fd));
    if (fsize > MS_SNAPFILE_MAX_SIZE) {
        r = ms_error_set(err, MS_INPUT, "%s: %llu bytes: too large to be a snapshot", path, (unsigned long long)fsize);
        goto out;
    }
    size_t size = (size_t)fsize, got = 0;
    buf = malloc(size ? size : 1);
    if (!buf) {
        r = ms_error_set(err, MS_NOMEM, "%s: out of memory reading %zu bytes", path, size);
        goto out;
    }
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = ms_error_set(err, MS_INPUT, "%s: read error: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break; /* shrank while reading: parse what is there, the checks will say what is wrong */
        got += (size_t)n;
    }
    r = ms_snapfile_parse(buf, got, path, 0, out, err);
out:
    free(buf);
    close(fd);
    return r;
}
