#include "snapread.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

__attribute__((format(printf, 3, 4))) static int sr_fail(char *err, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
    return -1;
}

struct sr_cur {
    const unsigned char *p;
    size_t left;
};

static int sr_take(struct sr_cur *c, void *out, size_t n)
{
    if (n > c->left) {
        return -1;
    }
    if (out) {
        memcpy(out, c->p, n);
    }
    c->p += n;
    c->left -= n;
    return 0;
}

static int sr_modules(struct sr_snap *s, struct sr_cur c, char *err, size_t errlen)
{
    if (sr_take(&c, &s->module_count, 4) || s->module_count > c.left / sizeof(struct ms_fmt_module)) {
        return sr_fail(err, errlen, "MODULES: bad count");
    }
    s->modules = calloc(s->module_count + 1, sizeof *s->modules);
    for (uint32_t i = 0; i < s->module_count; i++) {
        struct ms_fmt_module m;
        if (sr_take(&c, &m, sizeof m) || m.path_len > c.left || m.build_id_len > 64) {
            return sr_fail(err, errlen, "MODULES: record %u truncated", i);
        }
        s->modules[i].base = m.base;
        s->modules[i].size = m.size;
        s->modules[i].path = strndup((const char *)c.p, m.path_len);
        sr_take(&c, NULL, m.path_len);
        s->modules[i].build_id_len = m.build_id_len;
        if (sr_take(&c, s->modules[i].build_id, m.build_id_len)) {
            return sr_fail(err, errlen, "MODULES: build-id %u truncated", i);
        }
    }
    return c.left == 0 ? 0 : sr_fail(err, errlen, "MODULES: %zu trailing bytes", c.left);
}

static int sr_stacks(struct sr_snap *s, struct sr_cur c, char *err, size_t errlen)
{
    if (sr_take(&c, &s->stack_count, 4) || s->stack_count > c.left / sizeof(struct ms_fmt_stack)) {
        return sr_fail(err, errlen, "STACKS: bad count");
    }
    s->stacks = calloc(s->stack_count + 1, sizeof *s->stacks);
    for (uint32_t i = 0; i < s->stack_count; i++) {
        struct ms_fmt_stack st;
        if (sr_take(&c, &st, sizeof st) || st.depth > c.left / sizeof(struct ms_fmt_frame)) {
            return sr_fail(err, errlen, "STACKS: record %u truncated", i);
        }
        s->stacks[i].depth = st.depth;
        s->stacks[i].flags = st.flags;
        s->stacks[i].frames = (const struct ms_fmt_frame *)c.p;
        for (unsigned k = 0; k < st.depth; k++) {
            struct ms_fmt_frame f;
            sr_take(&c, &f, sizeof f);
            if (f.module != MS_FMT_MODULE_NONE && f.module >= s->module_count) {
                return sr_fail(err, errlen, "STACKS: stack %u frame %u: module %u out of range", i, k, f.module);
            }
        }
    }
    return c.left == 0 ? 0 : sr_fail(err, errlen, "STACKS: %zu trailing bytes", c.left);
}

static int sr_varint(struct sr_cur *c, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned shift = 0; shift < 64 && c->left; shift += 7) {
        uint8_t b = *c->p++;
        c->left--;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

/* STACK_TREE (format 1.2): nodes (parent delta, module + 1, offset), then stacks (node + 1, flags). */
static int sr_stack_tree(struct sr_snap *s, struct sr_cur c, char *err, size_t errlen)
{
    uint64_t nodes, count = 0;
    if (sr_varint(&c, &nodes) || nodes > c.left) {
        return sr_fail(err, errlen, "STACK_TREE: bad node count");
    }
    struct ms_fmt_frame *node = calloc(nodes + 1, sizeof *node);
    uint64_t *parent = calloc(nodes + 1, sizeof *parent);
    int rc = 0;
    for (uint64_t i = 0; i < nodes && rc == 0; i++) {
        uint64_t delta = 0, module = 0, offset = 0;
        if (sr_varint(&c, &delta) || sr_varint(&c, &module) || sr_varint(&c, &offset) || delta > i ||
            module > s->module_count) {
            rc = sr_fail(err, errlen, "STACK_TREE: node %llu bad", (unsigned long long)i);
            break;
        }
        parent[i] = delta ? i - delta : UINT64_MAX;
        node[i].module = module ? (uint32_t)(module - 1) : MS_FMT_MODULE_NONE;
        node[i].offset = offset;
    }
    if (rc == 0 && (sr_varint(&c, &count) || count > c.left)) {
        rc = sr_fail(err, errlen, "STACK_TREE: bad stack count");
    }
    uint64_t *leaf = rc == 0 ? calloc(count + 1, sizeof *leaf) : NULL;
    uint64_t total = 0;
    if (rc == 0) {
        s->stack_count = (uint32_t)count;
        s->stacks = calloc(count + 1, sizeof *s->stacks);
    }
    for (uint32_t i = 0; rc == 0 && i < s->stack_count; i++) {
        uint64_t flags;
        if (sr_varint(&c, &leaf[i]) || sr_varint(&c, &flags) || leaf[i] > nodes) {
            rc = sr_fail(err, errlen, "STACK_TREE: stack %u bad", i);
            break;
        }
        s->stacks[i].flags = (uint16_t)flags;
        for (uint64_t n = leaf[i] ? leaf[i] - 1 : UINT64_MAX; n != UINT64_MAX; n = parent[n]) {
            if (++s->stacks[i].depth > 256) {
                rc = sr_fail(err, errlen, "STACK_TREE: stack %u deeper than 256", i);
                break;
            }
        }
        total += s->stacks[i].depth;
    }
    s->tree_frames = rc == 0 ? malloc((total + 1) * sizeof *s->tree_frames) : NULL;
    size_t used = 0;
    for (uint32_t i = 0; rc == 0 && i < s->stack_count; i++) {
        s->stacks[i].frames = s->tree_frames + used;
        for (uint64_t n = leaf[i] ? leaf[i] - 1 : UINT64_MAX; n != UINT64_MAX; n = parent[n]) {
            s->tree_frames[used++] = node[n];
        }
    }
    free(leaf);
    free(node);
    free(parent);
    if (rc == 0 && c.left != 0) {
        rc = sr_fail(err, errlen, "STACK_TREE: %zu trailing bytes", c.left);
    }
    return rc;
}

/* SITES_PACKED (format 1.2): count, then the 7 fields of each site as varints. */
static int sr_sites_packed(struct sr_snap *s, struct sr_cur c, char *err, size_t errlen)
{
    uint64_t n;
    if (sr_varint(&c, &n) || n > c.left / 7) {
        return sr_fail(err, errlen, "SITES_PACKED: bad count");
    }
    s->site_count = (uint32_t)n;
    s->sites = calloc(n + 1, sizeof *s->sites);
    for (uint32_t i = 0; i < s->site_count; i++) {
        uint64_t v[7];
        for (int k = 0; k < 7; k++) {
            if (sr_varint(&c, &v[k])) {
                return sr_fail(err, errlen, "SITES_PACKED: site %u truncated", i);
            }
        }
        s->sites[i] = (struct ms_fmt_site){.stack = (uint32_t)v[0], .live_bytes = v[1], .live_count = v[2],
                                           .alloc_bytes = v[3], .alloc_count = v[4], .free_bytes = v[5],
                                           .free_count = v[6]};
    }
    return c.left == 0 ? 0 : sr_fail(err, errlen, "SITES_PACKED: %zu trailing bytes", c.left);
}

/* Format 1.2's compressed body: the file becomes header + decompressed bytes. */
static int sr_decompress(struct sr_snap *s, const char *path, char *err, size_t errlen)
{
    const unsigned char *body = s->data + sizeof s->header;
    size_t body_len = s->size - sizeof s->header;
    unsigned long long content = ZSTD_getFrameContentSize(body, body_len);
    if (content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN ||
        content + sizeof s->header != s->header.file_size) {
        return sr_fail(err, errlen, "%s: compressed body does not match the header", path);
    }
    unsigned char *image = malloc(s->header.file_size);
    memcpy(image, s->data, sizeof s->header);
    size_t got = ZSTD_decompress(image + sizeof s->header, content, body, body_len);
    free(s->data);
    s->data = image;
    s->size = (size_t)s->header.file_size;
    if (ZSTD_isError(got) || got != content) {
        return sr_fail(err, errlen, "%s: compressed body corrupt", path);
    }
    return 0;
}

static int sr_sites(struct sr_snap *s, struct sr_cur c, char *err, size_t errlen)
{
    if (sr_take(&c, &s->site_count, 4) || (uint64_t)s->site_count * sizeof(struct ms_fmt_site) != c.left) {
        return sr_fail(err, errlen, "SITES: count does not match the length");
    }
    s->sites = malloc((s->site_count + 1) * sizeof *s->sites);
    memcpy(s->sites, c.p, c.left);
    return 0;
}

int sr_load(const char *path, struct sr_snap *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    FILE *f = fopen(path, "rb");
    if (!f) {
        return sr_fail(err, errlen, "%s: %s", path, strerror(errno));
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    s->data = malloc(size > 0 ? (size_t)size : 1);
    s->size = fread(s->data, 1, (size_t)(size > 0 ? size : 0), f);
    fclose(f);
    if (s->size < sizeof s->header + 24) {
        return sr_fail(err, errlen, "%s: too short (%zu bytes)", path, s->size);
    }
    memcpy(&s->header, s->data, sizeof s->header);
    if (memcmp(s->header.magic, MS_FMT_MAGIC, MS_FMT_MAGIC_LEN)) {
        return sr_fail(err, errlen, "%s: bad magic", path);
    }
    if (s->header.version_major != MS_FMT_VERSION_MAJOR) {
        return sr_fail(err, errlen, "%s: version %u", path, s->header.version_major);
    }
    if ((s->header.flags & MS_FMT_FLAG_ZSTD) && sr_decompress(s, path, err, errlen)) {
        return -1;
    }
    if (s->header.file_size != s->size) {
        return sr_fail(err, errlen, "%s: header says %llu bytes, file has %zu", path,
                       (unsigned long long)s->header.file_size, s->size);
    }
    struct sr_cur c = {s->data + s->header.header_size, s->size - s->header.header_size};
    uint32_t sections = 0;
    for (;;) {
        struct ms_fmt_section sec;
        size_t at = s->size - c.left;
        if (sr_take(&c, &sec, sizeof sec) || sec.length > c.left) {
            return sr_fail(err, errlen, "%s: section at %zu truncated", path, at);
        }
        sections++;
        struct sr_cur body = {c.p, sec.length};
        size_t padded = (sec.length + 7) & ~(size_t)7;
        if (padded > c.left) {
            return sr_fail(err, errlen, "%s: section padding truncated", path);
        }
        if (sec.type == MS_FMT_SEC_END) {
            uint64_t want, got = ms_fmt_checksum(MS_FMT_CHECKSUM_SEED, s->data, at);
            if (sec.length != 8 || sr_take(&body, &want, 8) || want != got) {
                return sr_fail(err, errlen, "%s: checksum mismatch", path);
            }
            if (c.left != 8) {
                return sr_fail(err, errlen, "%s: bytes after END", path);
            }
            break;
        }
        int rc = 0;
        switch (sec.type) {
        case MS_FMT_SEC_INFO:
            if (sr_take(&body, &s->info, sizeof s->info) || s->info.exe_len >= sizeof s->exe ||
                s->info.label_len >= sizeof s->label ||
                (uint64_t)s->info.exe_len + s->info.label_len != body.left) {
                rc = sr_fail(err, errlen, "INFO: bad lengths");
                break;
            }
            sr_take(&body, s->exe, s->info.exe_len);
            sr_take(&body, s->label, s->info.label_len);
            break;
        case MS_FMT_SEC_TOTALS:
            if (sec.length != sizeof s->totals) {
                rc = sr_fail(err, errlen, "TOTALS: length %llu", (unsigned long long)sec.length);
                break;
            }
            sr_take(&body, &s->totals, sizeof s->totals);
            break;
        case MS_FMT_SEC_MODULES:
            rc = sr_modules(s, body, err, errlen);
            break;
        case MS_FMT_SEC_STACKS:
            rc = sr_stacks(s, body, err, errlen);
            break;
        case MS_FMT_SEC_STACK_TREE:
            rc = sr_stack_tree(s, body, err, errlen);
            break;
        case MS_FMT_SEC_SITES_PACKED:
            rc = sr_sites_packed(s, body, err, errlen);
            break;
        case MS_FMT_SEC_SITES:
            rc = sr_sites(s, body, err, errlen);
            break;
        case MS_FMT_SEC_LABELS:
            if (sr_take(&body, &s->label_count, 4)) {
                rc = sr_fail(err, errlen, "LABELS: truncated");
            }
            break;
        default:
            break;
        }
        if (rc) {
            return rc;
        }
        if (sec.type < 32) {
            s->seen |= 1 << sec.type;
        }
        sr_take(&c, NULL, padded);
    }
    if (sections != s->header.section_count) {
        return sr_fail(err, errlen, "%s: %u sections, header says %u", path, sections, s->header.section_count);
    }
    for (uint32_t i = 0; i < s->site_count; i++) {
        if (s->sites[i].stack >= s->stack_count) {
            return sr_fail(err, errlen, "%s: site %u names stack %u of %u", path, i, s->sites[i].stack,
                           s->stack_count);
        }
    }
    return 0;
}

void sr_free(struct sr_snap *s)
{
    for (uint32_t i = 0; s->modules && i < s->module_count; i++) {
        free(s->modules[i].path);
    }
    free(s->modules);
    free(s->stacks);
    free(s->sites);
    free(s->tree_frames);
    free(s->data);
    memset(s, 0, sizeof *s);
}

uintptr_t sr_frame_address(const struct sr_snap *s, const struct ms_fmt_frame *f)
{
    struct ms_fmt_frame fr;
    memcpy(&fr, f, sizeof fr); /* frames are not aligned in the file */
    if (fr.module == MS_FMT_MODULE_NONE) {
        return (uintptr_t)fr.offset;
    }
    return (uintptr_t)(s->modules[fr.module].base + fr.offset);
}

int sr_sum_path(const struct sr_snap *s, const void *const *fns, int nfns, struct ms_fmt_site *sum)
{
    int n = 0;
    memset(sum, 0, sizeof *sum);
    for (uint32_t i = 0; i < s->site_count; i++) {
        const struct sr_stack *st = &s->stacks[s->sites[i].stack];
        int k = 0;
        for (; k < nfns && k < st->depth; k++) {
            Dl_info info;
            /* A return address may sit just past the function's last byte (a call as its last instruction). */
            uintptr_t ra = sr_frame_address(s, &st->frames[k]) - 1;
            if (!dladdr((void *)ra, &info) || info.dli_saddr != fns[k]) {
                break;
            }
        }
        if (k < nfns) {
            continue;
        }
        n++;
        sum->live_bytes += s->sites[i].live_bytes;
        sum->live_count += s->sites[i].live_count;
        sum->alloc_bytes += s->sites[i].alloc_bytes;
        sum->alloc_count += s->sites[i].alloc_count;
        sum->free_bytes += s->sites[i].free_bytes;
        sum->free_count += s->sites[i].free_count;
    }
    return n;
}

int sr_sum_function(const struct sr_snap *s, const void *fn, struct ms_fmt_site *sum)
{
    return sr_sum_path(s, &fn, 1, sum);
}
