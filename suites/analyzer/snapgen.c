#include "snapgen.h"

#include <elf.h>
#include <errno.h>
#include <link.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

struct snapgen_buf {
    unsigned char *p;
    size_t len, cap;
};

struct snapgen_sec {
    uint32_t type;
    struct snapgen_buf b;
    int raw; /* 1: payload given verbatim; -1: dropped */
};

struct snapgen {
    uint32_t flags;
    int compact; /* format 1.2's form: STACK_TREE, body compressed */
    struct ms_fmt_info info;
    char *exe, *label;
    int have_totals;
    struct ms_fmt_totals totals;
    struct snapgen_buf modules, stacks, sites, labels;
    uint32_t nmod, nstack, nsite, nlabel;
    struct snapgen_sec raw[8];
    int nraw;
    struct snapgen_sec extra[8];
    int nextra;
};

static void sg_put(struct snapgen_buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p)
            abort();
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

struct snapgen *snapgen_new(void)
{
    struct snapgen *g = calloc(1, sizeof *g);
    g->info.pid = 4242;
    g->info.trigger = MS_FMT_TRIGGER_API;
    g->info.depth_limit = 64;
    g->exe = strdup("/usr/bin/fixture");
    g->label = strdup("");
    return g;
}

void snapgen_free(struct snapgen *g)
{
    if (!g)
        return;
    free(g->modules.p);
    free(g->stacks.p);
    free(g->sites.p);
    free(g->labels.p);
    for (int i = 0; i < g->nraw; i++)
        free(g->raw[i].b.p);
    for (int i = 0; i < g->nextra; i++)
        free(g->extra[i].b.p);
    free(g->exe);
    free(g->label);
    free(g);
}

void snapgen_flags(struct snapgen *g, uint32_t flags)
{
    g->flags = flags;
}

void snapgen_compact(struct snapgen *g, int on)
{
    g->compact = on;
}

static void sg_varint(struct snapgen_buf *b, uint64_t v)
{
    while (v >= 0x80) {
        unsigned char c = (unsigned char)(v | 0x80);
        sg_put(b, &c, 1);
        v >>= 7;
    }
    unsigned char c = (unsigned char)v;
    sg_put(b, &c, 1);
}

/* The stacks recorded so far as a STACK_TREE payload: nodes found by a plain search (test-sized). */
static void sg_tree(const struct snapgen *g, struct snapgen_buf *out)
{
    size_t cap = g->stacks.len / sizeof(struct ms_fmt_frame) + 1, n = 0;
    struct ms_fmt_frame *frame = calloc(cap, sizeof *frame);
    size_t *parent = calloc(cap, sizeof *parent);
    size_t *leaf = calloc(g->nstack + 1, sizeof *leaf);
    uint16_t *flags = calloc(g->nstack + 1, sizeof *flags);
    const unsigned char *p = g->stacks.p;
    for (uint32_t i = 0; i < g->nstack; i++) {
        struct ms_fmt_stack st;
        memcpy(&st, p, sizeof st);
        p += sizeof st;
        size_t at = 0; /* node + 1 */
        for (int k = st.depth - 1; k >= 0; k--) {
            struct ms_fmt_frame f;
            memcpy(&f, p + (size_t)k * sizeof f, sizeof f);
            size_t j = 0;
            while (j < n && !(parent[j] == at && frame[j].module == f.module && frame[j].offset == f.offset))
                j++;
            if (j == n) {
                frame[n] = f;
                parent[n++] = at;
            }
            at = j + 1;
        }
        p += (size_t)st.depth * sizeof(struct ms_fmt_frame);
        leaf[i] = at;
        flags[i] = st.flags;
    }
    sg_varint(out, n);
    for (size_t j = 0; j < n; j++) {
        sg_varint(out, parent[j] ? j + 1 - parent[j] : 0);
        sg_varint(out, frame[j].module == MS_FMT_MODULE_NONE ? 0 : (uint64_t)frame[j].module + 1);
        sg_varint(out, frame[j].offset);
    }
    sg_varint(out, g->nstack);
    for (uint32_t i = 0; i < g->nstack; i++) {
        sg_varint(out, leaf[i]);
        sg_varint(out, flags[i]);
    }
    free(frame);
    free(parent);
    free(leaf);
    free(flags);
}

/* The image as format 1.2 stores it: the header, then everything else as one zstd frame. */
static void sg_compress(struct snapgen_buf *out)
{
    size_t body = out->len - sizeof(struct ms_fmt_header);
    size_t bound = ZSTD_compressBound(body);
    unsigned char *z = malloc(sizeof(struct ms_fmt_header) + bound);
    memcpy(z, out->p, sizeof(struct ms_fmt_header));
    size_t n = ZSTD_compress(z + sizeof(struct ms_fmt_header), bound, out->p + sizeof(struct ms_fmt_header), body, 1);
    if (ZSTD_isError(n))
        abort();
    free(out->p);
    out->p = z;
    out->len = out->cap = sizeof(struct ms_fmt_header) + n;
}

void snapgen_sampled(struct snapgen *g, uint64_t rate)
{
    g->flags |= MS_FMT_FLAG_SAMPLED;
    g->info.sample_rate = rate;
}

void snapgen_info(struct snapgen *g, uint32_t pid, uint32_t trigger, const char *exe, const char *label)
{
    g->info.pid = pid;
    g->info.trigger = trigger;
    free(g->exe);
    free(g->label);
    g->exe = strdup(exe);
    g->label = strdup(label);
}

void snapgen_time(struct snapgen *g, uint64_t time_ns, uint64_t uptime_ns, uint32_t sequence)
{
    g->info.time_ns = time_ns;
    g->info.uptime_ns = uptime_ns;
    g->info.sequence = sequence;
}

void snapgen_totals(struct snapgen *g, const struct ms_fmt_totals *t)
{
    g->totals = *t;
    g->have_totals = 1;
}

uint32_t snapgen_module(struct snapgen *g, const char *path, uint64_t base, uint64_t size,
                        const unsigned char *build_id, uint32_t build_id_len)
{
    struct ms_fmt_module m = {base, size, (uint32_t)strlen(path), build_id_len};
    sg_put(&g->modules, &m, sizeof m);
    sg_put(&g->modules, path, m.path_len);
    sg_put(&g->modules, build_id, build_id_len);
    return g->nmod++;
}

uint32_t snapgen_stack(struct snapgen *g, const struct ms_fmt_frame *frames, uint16_t depth, uint16_t flags)
{
    struct ms_fmt_stack s = {depth, flags};
    sg_put(&g->stacks, &s, sizeof s);
    sg_put(&g->stacks, frames, (size_t)depth * sizeof *frames);
    return g->nstack++;
}

void snapgen_site(struct snapgen *g, uint32_t stack, uint64_t live_bytes, uint64_t live_count, uint64_t alloc_bytes,
                  uint64_t alloc_count)
{
    struct ms_fmt_site s = {stack, 0, live_bytes, live_count, alloc_bytes, alloc_count, alloc_bytes - live_bytes,
                            alloc_count - live_count};
    sg_put(&g->sites, &s, sizeof s);
    g->nsite++;
    if (!g->have_totals) {
        g->totals.current_bytes += live_bytes;
        g->totals.live_count += live_count;
        g->totals.alloc_bytes += alloc_bytes;
        g->totals.alloc_count += alloc_count;
        g->totals.free_count += alloc_count - live_count;
        if (g->totals.current_bytes > g->totals.peak_bytes)
            g->totals.peak_bytes = g->totals.current_bytes;
    }
}

void snapgen_label(struct snapgen *g, const char *key, const char *value)
{
    uint32_t kv[2] = {(uint32_t)strlen(key), (uint32_t)strlen(value)};
    sg_put(&g->labels, kv, sizeof kv);
    sg_put(&g->labels, key, kv[0]);
    sg_put(&g->labels, value, kv[1]);
    g->nlabel++;
}

void snapgen_raw(struct snapgen *g, uint32_t type, const void *payload, size_t len)
{
    struct snapgen_sec *s = &g->raw[g->nraw++];
    memset(s, 0, sizeof *s);
    s->type = type;
    s->raw = payload ? 1 : -1;
    sg_put(&s->b, payload, len);
}

void snapgen_extra(struct snapgen *g, uint32_t type, const void *payload, size_t len)
{
    struct snapgen_sec *s = &g->extra[g->nextra++];
    memset(s, 0, sizeof *s);
    s->type = type;
    s->raw = 1;
    sg_put(&s->b, payload, len);
}

static void sg_section(struct snapgen_buf *out, uint32_t type, const void *p, size_t len, uint32_t *count)
{
    struct ms_fmt_section sh = {type, 0, len};
    static const unsigned char zero[8];
    sg_put(out, &sh, sizeof sh);
    sg_put(out, p, len);
    sg_put(out, zero, (8 - len % 8) % 8);
    (*count)++;
}

static void sg_counted(struct snapgen *g, struct snapgen_buf *out, uint32_t type, uint32_t n,
                       const struct snapgen_buf *b, uint32_t *count)
{
    for (int i = 0; i < g->nraw; i++)
        if (g->raw[i].type == type) {
            if (g->raw[i].raw > 0)
                sg_section(out, type, g->raw[i].b.p, g->raw[i].b.len, count);
            return;
        }
    struct snapgen_buf tmp = {0};
    sg_put(&tmp, &n, 4);
    sg_put(&tmp, b->p, b->len);
    sg_section(out, type, tmp.p, tmp.len, count);
    free(tmp.p);
}

unsigned char *snapgen_build(struct snapgen *g, size_t *len)
{
    struct snapgen_buf out = {0};
    struct ms_fmt_header h = {.version_major = MS_FMT_VERSION_MAJOR, .version_minor = MS_FMT_VERSION_MINOR,
                              .flags = g->flags | (g->compact ? MS_FMT_FLAG_ZSTD : 0), .header_size = sizeof h};
    memcpy(h.magic, MS_FMT_MAGIC, MS_FMT_MAGIC_LEN);
    sg_put(&out, &h, sizeof h);
    uint32_t count = 0;
    int info_raw = 0, totals_raw = 0;
    for (int i = 0; i < g->nraw; i++) {
        if (g->raw[i].type == MS_FMT_SEC_INFO) {
            info_raw = 1;
            if (g->raw[i].raw > 0)
                sg_section(&out, MS_FMT_SEC_INFO, g->raw[i].b.p, g->raw[i].b.len, &count);
        }
    }
    if (!info_raw) {
        struct snapgen_buf tmp = {0};
        struct ms_fmt_info info = g->info;
        info.exe_len = (uint32_t)strlen(g->exe);
        info.label_len = (uint32_t)strlen(g->label);
        sg_put(&tmp, &info, sizeof info);
        sg_put(&tmp, g->exe, info.exe_len);
        sg_put(&tmp, g->label, info.label_len);
        sg_section(&out, MS_FMT_SEC_INFO, tmp.p, tmp.len, &count);
        free(tmp.p);
    }
    for (int i = 0; i < g->nraw; i++)
        if (g->raw[i].type == MS_FMT_SEC_TOTALS) {
            totals_raw = 1;
            if (g->raw[i].raw > 0)
                sg_section(&out, MS_FMT_SEC_TOTALS, g->raw[i].b.p, g->raw[i].b.len, &count);
        }
    if (!totals_raw) {
        struct ms_fmt_totals t = g->totals;
        t.stack_count = g->nstack;
        t.calls[MS_FMT_CALL_MALLOC] = t.alloc_count;
        t.calls[MS_FMT_CALL_FREE] = t.free_count;
        sg_section(&out, MS_FMT_SEC_TOTALS, &t, sizeof t, &count);
    }
    sg_counted(g, &out, MS_FMT_SEC_MODULES, g->nmod, &g->modules, &count);
    if (g->compact) {
        struct snapgen_buf tree = {0};
        sg_tree(g, &tree);
        sg_section(&out, MS_FMT_SEC_STACK_TREE, tree.p, tree.len, &count);
        free(tree.p);
    } else {
        sg_counted(g, &out, MS_FMT_SEC_STACKS, g->nstack, &g->stacks, &count);
    }
    if (g->compact) {
        struct snapgen_buf packed = {0};
        sg_varint(&packed, g->nsite);
        for (uint32_t i = 0; i < g->nsite; i++) {
            struct ms_fmt_site st;
            memcpy(&st, g->sites.p + (size_t)i * sizeof st, sizeof st);
            uint64_t v[7] = {st.stack, st.live_bytes, st.live_count, st.alloc_bytes, st.alloc_count, st.free_bytes,
                             st.free_count};
            for (int k = 0; k < 7; k++)
                sg_varint(&packed, v[k]);
        }
        sg_section(&out, MS_FMT_SEC_SITES_PACKED, packed.p, packed.len, &count);
        free(packed.p);
    } else {
        sg_counted(g, &out, MS_FMT_SEC_SITES, g->nsite, &g->sites, &count);
    }
    if (g->nlabel)
        sg_counted(g, &out, MS_FMT_SEC_LABELS, g->nlabel, &g->labels, &count);
    for (int i = 0; i < g->nextra; i++)
        sg_section(&out, g->extra[i].type, g->extra[i].b.p, g->extra[i].b.len, &count);
    size_t end_off = out.len;
    uint64_t zero = 0;
    sg_section(&out, MS_FMT_SEC_END, &zero, 8, &count);
    struct ms_fmt_header *hp = (struct ms_fmt_header *)out.p;
    hp->section_count = count;
    hp->file_size = out.len;
    uint64_t sum = ms_fmt_checksum(MS_FMT_CHECKSUM_SEED, out.p, end_off);
    memcpy(out.p + end_off + sizeof(struct ms_fmt_section), &sum, 8);
    if (g->compact)
        sg_compress(&out);
    *len = out.len;
    return out.p;
}

void snapgen_fix_checksum(unsigned char *buf, size_t len)
{
    /* END is always last: its header starts 24 bytes before the end. */
    size_t end_off = len - 24;
    uint64_t sum = ms_fmt_checksum(MS_FMT_CHECKSUM_SEED, buf, end_off);
    memcpy(buf + end_off + sizeof(struct ms_fmt_section), &sum, 8);
}

int snapgen_write_buf(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = fwrite(buf, 1, len, f) == len;
    int write_errno = errno; /* fclose must not hide why the write failed */
    if (fclose(f) != 0)
        return -1;
    if (!ok) {
        errno = write_errno;
        return -1;
    }
    return 0;
}

int snapgen_write(struct snapgen *g, const char *path)
{
    size_t len;
    unsigned char *b = snapgen_build(g, &len);
    int rc = snapgen_write_buf(path, b, len);
    free(b);
    return rc;
}

/* A small valid snapshot: two modules, three stacks (one truncated), four sites. */
static struct snapgen *sg_sample(void)
{
    static const unsigned char bid[20] = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    struct snapgen *g = snapgen_new();
    snapgen_flags(g, MS_FMT_FLAG_AT_EXIT);
    snapgen_info(g, 1234, MS_FMT_TRIGGER_EXIT, "/nonexistent/app", "sample");
    snapgen_module(g, "/nonexistent/app", 0x555500000000ull, 0x4000, bid, sizeof bid);
    snapgen_module(g, "/nonexistent/libx.so", 0x7f0000000000ull, 0x10000, NULL, 0);
    struct ms_fmt_frame f1[] = {{0, 0, 0x1181}, {0, 0, 0x119e}, {1, 0, 0x2724}};
    struct ms_fmt_frame f2[] = {{1, 0, 0x9e9a}, {0, 0, 0x11c2}};
    struct ms_fmt_frame f3[] = {{MS_FMT_MODULE_NONE, 0, 0xdeadbeef}};
    snapgen_stack(g, f1, 3, 0);
    snapgen_stack(g, f2, 2, MS_FMT_STACK_TRUNCATED);
    snapgen_stack(g, f3, 1, 0);
    snapgen_site(g, 0, 1000, 10, 1000, 10);
    snapgen_site(g, 1, 0, 0, 600, 6);
    snapgen_site(g, 2, 4096, 1, 4096, 1);
    snapgen_site(g, 0, 24, 1, 48, 2);
    snapgen_label(g, "test", "sample");
    return g;
}

const char *const snapgen_names[] = {
    "valid", "empty", "wrong-magic", "short-header", "newer-version", "version-zero", "bad-checksum",
    "truncated-half", "trailing-garbage", "huge-module-count", "huge-stack-count", "huge-site-count",
    "huge-depth", "section-past-end", "path-past-end", "site-stack-out-of-range", "frame-module-out-of-range",
    "duplicate-section", "missing-stacks", "huge-section-count", "no-end", "compact-valid",
    "compact-newer-feature", "compact-body-corrupt", "compact-size-lie", "tree-parent-out-of-range",
    "tree-and-stacks", NULL,
};

unsigned char *snapgen_named(const char *name, size_t *len, const char **expect)
{
    struct snapgen *g = sg_sample();
    unsigned char *b = NULL;
    *expect = NULL;
    uint32_t huge = 0xfffffff0u;
    if (strcmp(name, "valid") == 0) {
        b = snapgen_build(g, len);
    } else if (strcmp(name, "compact-valid") == 0) {
        snapgen_compact(g, 1);
        b = snapgen_build(g, len);
    } else if (strcmp(name, "compact-newer-feature") == 0) {
        /* A flag for something a later minor version adds: refused by version, not misread. */
        snapgen_compact(g, 1);
        snapgen_flags(g, MS_FMT_FLAG_AT_EXIT | 1u << 4);
        b = snapgen_build(g, len);
        *expect = "uses features this memsnap does not read";
    } else if (strcmp(name, "compact-body-corrupt") == 0) {
        snapgen_compact(g, 1);
        b = snapgen_build(g, len);
        b[*len - 5] ^= 0x55;
        *expect = "corrupt compressed body";
    } else if (strcmp(name, "compact-size-lie") == 0) {
        snapgen_compact(g, 1);
        b = snapgen_build(g, len);
        ((struct ms_fmt_header *)b)->file_size += 4096;
        *expect = "the header says";
    } else if (strcmp(name, "tree-parent-out-of-range") == 0) {
        /* one node whose parent would be node -1 */
        static const unsigned char p[] = {1, 1, 1, 0x10, 1, 1, 0};
        snapgen_raw(g, MS_FMT_SEC_STACKS, NULL, 0);
        snapgen_extra(g, MS_FMT_SEC_STACK_TREE, p, sizeof p);
        b = snapgen_build(g, len);
        *expect = "corrupt STACK_TREE section: node 0 names parent 1";
    } else if (strcmp(name, "tree-and-stacks") == 0) {
        static const unsigned char p[] = {0, 0};
        snapgen_extra(g, MS_FMT_SEC_STACK_TREE, p, sizeof p);
        b = snapgen_build(g, len);
        *expect = "both a STACKS and a STACK_TREE section";
    } else if (strcmp(name, "empty") == 0) {
        b = malloc(1);
        *len = 0;
        *expect = "empty file";
    } else if (strcmp(name, "wrong-magic") == 0) {
        b = snapgen_build(g, len);
        memcpy(b, "ELF\x7f\0\0\0\0", 8);
        *expect = "wrong magic";
    } else if (strcmp(name, "short-header") == 0) {
        b = snapgen_build(g, len);
        *len = 40;
        *expect = "shorter than the 64-byte header";
    } else if (strcmp(name, "newer-version") == 0) {
        b = snapgen_build(g, len);
        ((struct ms_fmt_header *)b)->version_major = MS_FMT_VERSION_MAJOR + 1;
        snapgen_fix_checksum(b, *len);
        *expect = "is newer than this memsnap reads";
    } else if (strcmp(name, "version-zero") == 0) {
        b = snapgen_build(g, len);
        ((struct ms_fmt_header *)b)->version_major = 0;
        *expect = "unsupported snapshot format version 0";
    } else if (strcmp(name, "bad-checksum") == 0) {
        b = snapgen_build(g, len);
        b[*len / 2] ^= 0x40;
        *expect = "checksum mismatch";
    } else if (strcmp(name, "truncated-half") == 0) {
        b = snapgen_build(g, len);
        *len /= 2;
        *expect = "truncated";
    } else if (strcmp(name, "trailing-garbage") == 0) {
        size_t n;
        unsigned char *v = snapgen_build(g, &n);
        b = calloc(1, n + 16);
        memcpy(b, v, n);
        free(v);
        *len = n + 16;
        *expect = "trailing garbage";
    } else if (strcmp(name, "huge-module-count") == 0) {
        snapgen_raw(g, MS_FMT_SEC_MODULES, &huge, 4);
        b = snapgen_build(g, len);
        *expect = "corrupt MODULES section: count 4294967280";
    } else if (strcmp(name, "huge-stack-count") == 0) {
        unsigned char p[8] = {0};
        memcpy(p, &huge, 4);
        snapgen_raw(g, MS_FMT_SEC_STACKS, p, sizeof p);
        b = snapgen_build(g, len);
        *expect = "corrupt STACKS section: count 4294967280";
    } else if (strcmp(name, "huge-site-count") == 0) {
        unsigned char p[60] = {0};
        memcpy(p, &huge, 4);
        snapgen_raw(g, MS_FMT_SEC_SITES, p, sizeof p);
        b = snapgen_build(g, len);
        *expect = "corrupt SITES section: count 4294967280";
    } else if (strcmp(name, "huge-depth") == 0) {
        unsigned char p[4 + 4 + 16] = {0};
        uint32_t one = 1;
        struct ms_fmt_stack st = {0xffff, 0};
        memcpy(p, &one, 4);
        memcpy(p + 4, &st, 4);
        snapgen_raw(g, MS_FMT_SEC_STACKS, p, sizeof p);
        b = snapgen_build(g, len);
        *expect = "claims 65535 frames";
    } else if (strcmp(name, "section-past-end") == 0) {
        b = snapgen_build(g, len);
        struct ms_fmt_section *sh = (struct ms_fmt_section *)(b + sizeof(struct ms_fmt_header));
        sh->length = 1ull << 40;
        snapgen_fix_checksum(b, *len);
        *expect = "truncated INFO section";
    } else if (strcmp(name, "path-past-end") == 0) {
        unsigned char p[4 + sizeof(struct ms_fmt_module) + 4] = {0};
        uint32_t one = 1;
        struct ms_fmt_module m = {0x1000, 0x1000, 0x7fffffff, 0};
        memcpy(p, &one, 4);
        memcpy(p + 4, &m, sizeof m);
        memcpy(p + 4 + sizeof m, "/bin", 4);
        snapgen_raw(g, MS_FMT_SEC_MODULES, p, sizeof p);
        b = snapgen_build(g, len);
        *expect = "corrupt MODULES section: module 0 needs 2147483647 bytes";
    } else if (strcmp(name, "site-stack-out-of-range") == 0) {
        snapgen_site(g, 99, 1, 1, 1, 1);
        b = snapgen_build(g, len);
        *expect = "site 4 names stack 99 of 3";
    } else if (strcmp(name, "frame-module-out-of-range") == 0) {
        struct ms_fmt_frame f[] = {{7, 0, 0x10}};
        snapgen_stack(g, f, 1, 0);
        b = snapgen_build(g, len);
        *expect = "stack 3 frame 0 names module 7 of 2";
    } else if (strcmp(name, "duplicate-section") == 0) {
        uint32_t zero = 0;
        snapgen_extra(g, MS_FMT_SEC_SITES, &zero, 4);
        b = snapgen_build(g, len);
        *expect = "a second SITES section";
    } else if (strcmp(name, "missing-stacks") == 0) {
        snapgen_raw(g, MS_FMT_SEC_STACKS, NULL, 0);
        snapgen_raw(g, MS_FMT_SEC_SITES, NULL, 0);
        b = snapgen_build(g, len);
        *expect = "no STACKS section";
    } else if (strcmp(name, "huge-section-count") == 0) {
        b = snapgen_build(g, len);
        ((struct ms_fmt_header *)b)->section_count = 0xffffffffu;
        snapgen_fix_checksum(b, *len);
        *expect = "sections cannot fit";
    } else if (strcmp(name, "no-end") == 0) {
        size_t n;
        b = snapgen_build(g, &n);
        *len = n - 24;
        ((struct ms_fmt_header *)b)->file_size = *len;
        *expect = "no END section";
    }
    snapgen_free(g);
    return b;
}

static int snapgen_self_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct snapgen_self *s = data;
    s->base = info->dlpi_addr;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && ph->p_memsz > s->text_hi - s->text_lo) {
            s->text_lo = ph->p_vaddr;
            s->text_hi = ph->p_vaddr + ph->p_memsz;
        }
        if (ph->p_type != PT_NOTE)
            continue;
        const unsigned char *p = (const unsigned char *)(info->dlpi_addr + ph->p_vaddr), *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *n = (const ElfW(Nhdr) *)p;
            const unsigned char *name = p + sizeof *n, *desc = name + ((n->n_namesz + 3) & ~3u);
            if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && memcmp(name, "GNU", 4) == 0 &&
                n->n_descsz <= sizeof s->build_id) {
                memcpy(s->build_id, desc, n->n_descsz);
                s->build_id_len = n->n_descsz;
            }
            p = desc + ((n->n_descsz + 3) & ~3u);
        }
    }
    return 1; /* the first entry is the main program */
}

int snapgen_self(struct snapgen_self *out)
{
    memset(out, 0, sizeof *out);
    if (!realpath("/proc/self/exe", out->path))
        return -1;
    dl_iterate_phdr(snapgen_self_cb, out);
    return 0;
}
