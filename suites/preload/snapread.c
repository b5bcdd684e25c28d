#include "snapread.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
