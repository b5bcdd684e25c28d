/* What every command shares: loading the inputs, JSON output, stack rendering. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "analyze.h"

/* jansson's integers are signed (json_int_t): a u64 above INT64_MAX travels through the tree as a string,
 * this mark (U+FDD0, a noncharacter) and its digits, and ms_output_json_dumps writes the digits as a bare
 * number. Strings from input have the mark replaced (ms_output_json_str), so none is taken for a number. */
#define MS_OUTPUT_U64_MARK "\xef\xb7\x90"

json_t *ms_output_json_u64(uint64_t v)
{
    if (v <= INT64_MAX)
        return json_integer((json_int_t)v);
    char buf[32];
    snprintf(buf, sizeof buf, MS_OUTPUT_U64_MARK "%llu", (unsigned long long)v);
    return json_string(buf);
}

char *ms_output_json_dumps(const json_t *v, size_t flags)
{
    char *text = json_dumps(v, flags);
    if (!text)
        return NULL;
    /* In place: a marked string is longer than its number. Inside a string every '"' is escaped, so a '"'
     * after anything but a backslash and before the mark opens a string that starts with it. */
    const size_t ml = sizeof MS_OUTPUT_U64_MARK - 1;
    char *w = text, prev = 0;
    for (const char *p = text; *p;) {
        if (*p == '"' && prev != '\\' && strncmp(p + 1, MS_OUTPUT_U64_MARK, ml) == 0) {
            const char *d = p + 1 + ml;
            size_t nd = strspn(d, "0123456789");
            if (nd && d[nd] == '"') {
                memmove(w, d, nd);
                w += nd;
                p = d + nd + 1;
                prev = '0';
                continue;
            }
        }
        prev = *p;
        *w++ = *p++;
    }
    *w = 0;
    return text;
}

enum ms_status ms_output_json(const struct ms_cli *cli, json_t *v, struct ms_error *err)
{
    if (!v)
        return ms_error_set(err, MS_NOMEM, "out of memory building JSON");
    char *text = ms_output_json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(v);
    if (!text)
        return ms_error_set(err, MS_NOMEM, "out of memory building JSON");
    int rc = fputs(text, cli->out);
    free(text);
    if (rc == EOF || fputc('\n', cli->out) == EOF)
        return ms_error_set(err, MS_IO, "writing JSON output failed");
    return MS_OK;
}

/* Length of the valid UTF-8 sequence at p (as jansson accepts: no overlong forms, surrogates or code
 * points above U+10FFFF), 0 when it is not one. */
static size_t ms_output_utf8_len(const unsigned char *p)
{
    unsigned char c = p[0];
    unsigned char lo = 0x80, hi = 0xbf;
    size_t n;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        lo = c == 0xe0 ? 0xa0 : 0x80;
        hi = c == 0xed ? 0x9f : 0xbf;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;
    } else
        return 0;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

json_t *ms_output_json_str(const char *s)
{
    json_t *v = s && !strstr(s, MS_OUTPUT_U64_MARK) ? json_string(s) : NULL;
    if (v || !s)
        return v;
    /* Not UTF-8 (a path is bytes): each invalid byte becomes U+FFFD, so the row is kept, not dropped. The
     * u64 mark becomes U+FFFD too. */
    size_t n = strlen(s), o = 0;
    char *b = malloc(3 * n + 1);
    if (!b)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        bool mark = strncmp((const char *)p, MS_OUTPUT_U64_MARK, 3) == 0;
        size_t len = mark ? 0 : ms_output_utf8_len(p);
        if (mark) /* all three bytes go */
            p += 2;
        memcpy(b + o, len ? (const char *)p : "\xef\xbf\xbd", len ? len : 3);
        o += len ? len : 3;
        p += len ? len : 1;
    }
    b[o] = 0;
    v = json_string(b);
    free(b);
    return v;
}

json_t *ms_output_json_stack(const struct ms_sym_frame *const *frames, uint32_t n)
{
    json_t *a = json_array();
    for (uint32_t i = 0; a && i < n; i++) {
        const struct ms_sym_frame *f = frames[i];
        json_t *o = json_object();
        json_object_set_new(o, "function", f->function ? ms_output_json_str(f->function) : json_null());
        json_object_set_new(o, "file", f->file ? ms_output_json_str(f->file) : json_null());
        json_object_set_new(o, "line", f->file ? json_integer(f->line) : json_null());
        json_object_set_new(o, "module", ms_output_json_str(f->module));
        json_object_set_new(o, "offset", ms_output_json_u64(f->offset));
        json_object_set_new(o, "inlined", json_boolean(f->inlined));
        json_array_append_new(a, o);
    }
    return a;
}

json_t *ms_output_json_totals(const struct ms_snap *s)
{
    const struct ms_fmt_totals *t = &s->totals;
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "snapshot", ms_output_json_str(s->path), "current_bytes",
                     ms_output_json_u64(t->current_bytes), "peak_bytes", ms_output_json_u64(t->peak_bytes), "live_count",
                     ms_output_json_u64(t->live_count), "alloc_bytes", ms_output_json_u64(t->alloc_bytes), "alloc_count",
                     ms_output_json_u64(t->alloc_count), "free_count", ms_output_json_u64(t->free_count), "rss_bytes",
                     s->has_memory && s->memory.rss_bytes ? ms_output_json_u64(s->memory.rss_bytes) : json_null());
}

/* Text output shows C++ names without template arguments unless asked (--full-names); JSON always has them. */
static bool ms_output_full;

void ms_output_set_full_names(bool full)
{
    ms_output_full = full;
}

const char *ms_output_name(const char *text, char *buf, size_t len)
{
    return ms_output_full ? text : ms_symbolize_shorten(text, buf, len);
}

void ms_output_text_stack(FILE *out, const struct ms_sym_frame *const *frames, uint32_t n, const char *indent)
{
    char buf[8192], s[8192];
    for (uint32_t i = 0; i < n; i++)
        fprintf(out, "%s#%u %s%s\n", indent, i, ms_output_name(ms_symbolize_describe(frames[i], buf, sizeof buf), s,
                                                              sizeof s),
                frames[i]->inlined ? " (inlined)" : "");
}

/* Why the snapshot recorded nothing (the preload saw another allocator take the calls), or NULL. A
 * snapshot with no allocation is not enough: a "before" snapshot may well be taken before any. */
static const char *ms_output_empty_profile(const struct ms_snap *s)
{
    for (uint32_t i = 0; i < s->label_count; i++)
        if (!strcmp(s->labels[i].key, "warning") && strstr(s->labels[i].value, "not recorded"))
            return s->labels[i].value;
    return NULL;
}

enum ms_status ms_output_load(const struct ms_cli *cli, struct ms_snap ***snaps, struct ms_error *err)
{
    struct ms_snap **v = calloc((size_t)cli->input_count + 1, sizeof *v);
    if (!v)
        return ms_error_set(err, MS_NOMEM, "out of memory");
    for (int i = 0; i < cli->input_count; i++) {
        enum ms_status r = ms_snapfile_read(cli->inputs[i], &v[i], err);
        if (r != MS_OK) {
            ms_output_unload(cli, v);
            return r;
        }
        const char *why = ms_output_empty_profile(v[i]);
        if (why && (cli->fail || cli->has_fail_over || cli->has_fail_site_over)) {
            /* A gate that passes on a profile that recorded nothing would pass every leak. */
            r = ms_error_set(err, MS_INPUT, "%s: %s: a gate cannot pass on it", v[i]->path, why);
            ms_output_unload(cli, v);
            return r;
        }
        if (why)
            fprintf(stderr, "memsnap: warning: %s: %s\n", v[i]->path, why);
        if (v[i]->flags & MS_FMT_FLAG_SAMPLED)
            fprintf(stderr, "memsnap: note: %s is sampled (one allocation per %llu bytes on average): sizes and "
                    "counts are estimates\n", v[i]->path, (unsigned long long)v[i]->info.sample_rate);
    }
    *snaps = v;
    return MS_OK;
}

void ms_output_unload(const struct ms_cli *cli, struct ms_snap **snaps)
{
    if (!snaps)
        return;
    for (int i = 0; i < cli->input_count; i++)
        ms_snapfile_free(snaps[i]);
    free(snaps);
}

void ms_output_xml(FILE *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        default:
            /* Control characters are not allowed in XML 1.0 text; a tab is. */
            if ((unsigned char)*s >= 0x20 || *s == '\t')
                fputc(*s, out);
        }
    }
}
