/* memsnap export, flamegraph and plot on synthesized snapshots. Frames point into a binary that is not
 * there (labels are module+offset, exact) or into this test binary (real function names), so every expected
 * value comes from the snapshot written here, not from the code under test. The pprof output is read back
 * with zlib and a protobuf decoder written for this test. */
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "analyze.h"
#include "snapgen.h"
#include "tap.h"

static volatile int sink;

__attribute__((noinline, used)) static int f_outer(int x)
{
    sink += x;
    return sink * 3 + x;
}

__attribute__((noinline, used)) static int f_mid(int x)
{
    sink += x * 2;
    return sink * 5 + x;
}

__attribute__((noinline, used)) static int f_leaf_a(int x)
{
    sink += x * 3;
    return sink * 7 + x;
}

__attribute__((noinline, used)) static int f_leaf_b(int x)
{
    sink += x * 4;
    return sink * 11 + x;
}

static struct snapgen_self me;
static char dir[] = "/tmp/memsnap-export-XXXXXX";

static int setup(void **state)
{
    (void)state;
    return snapgen_self(&me) == 0 && mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A return address "into" fn: the symbolizer looks up offset - 1, the function's first byte (+ k). */
static uint64_t off_in(int (*fn)(int), unsigned k)
{
    return (uint64_t)((uintptr_t)fn - me.base) + 1 + k;
}

static struct ms_snap *parse(struct snapgen *g)
{
    size_t len;
    unsigned char *b = snapgen_build(g, &len);
    struct ms_snap *s = NULL;
    struct ms_error err;
    if (ms_snapfile_parse(b, len, "test.snap", 0, &s, &err) != MS_OK)
        fail_msg("%s", err.msg);
    free(b);
    snapgen_free(g);
    return s;
}

/* Three stacks in a missing binary "app": a;b;c live 240 B in 5 blocks, a;d only allocated (1000 B, 1). */
static struct ms_snap *snap_missing(void)
{
    struct snapgen *g = snapgen_new();
    snapgen_module(g, "/nonexistent/app", 0x400000, 0x10000, NULL, 0);
    struct ms_fmt_frame abc[3] = {{0, 0, 0x300}, {0, 0, 0x200}, {0, 0, 0x100}}, ad[2] = {{0, 0, 0x400}, {0, 0, 0x100}};
    snapgen_site(g, snapgen_stack(g, abc, 3, 0), 240, 5, 480, 10);
    snapgen_site(g, snapgen_stack(g, ad, 2, 0), 0, 0, 1000, 1);
    return parse(g);
}

/* This binary: outer;mid;leaf_a from two return addresses (100 B + 200 B live), outer;mid;leaf_b 50 B live. */
enum { SELF_A1 = 100, SELF_A2 = 200, SELF_B = 50 };
static struct ms_snap *snap_self(void)
{
    struct snapgen *g = snapgen_new();
    snapgen_module(g, me.path, me.base, 0x1000000, me.build_id, me.build_id_len);
    uint64_t o = off_in(f_outer, 0), m = off_in(f_mid, 0);
    struct ms_fmt_frame a1[3] = {{0, 0, off_in(f_leaf_a, 0)}, {0, 0, m}, {0, 0, o}};
    struct ms_fmt_frame a2[3] = {{0, 0, off_in(f_leaf_a, 3)}, {0, 0, m}, {0, 0, o}};
    struct ms_fmt_frame b[3] = {{0, 0, off_in(f_leaf_b, 0)}, {0, 0, m}, {0, 0, o}};
    snapgen_site(g, snapgen_stack(g, a1, 3, 0), SELF_A1, 1, SELF_A1 * 2, 2);
    snapgen_site(g, snapgen_stack(g, a2, 3, 0), SELF_A2, 2, SELF_A2, 2);
    snapgen_site(g, snapgen_stack(g, b, 3, 0), SELF_B, 5, SELF_B * 3, 7);
    return parse(g);
}

struct fixture {
    struct ms_snap *snap;
    struct ms_symbolizer *sym;
    struct ms_groups g;
};

static void open_fixture(struct fixture *f, struct ms_snap *snap)
{
    static const struct ms_symbolize_opts quiet = {.quiet = true};
    struct ms_cli cli = {.sym = quiet};
    struct ms_error err;
    f->snap = snap;
    assert_int_equal(ms_symbolize_new(&quiet, &f->sym, &err), MS_OK);
    if (ms_export_group(f->sym, snap, &cli, &f->g, &err) != MS_OK)
        fail_msg("%s", err.msg);
}

static void close_fixture(struct fixture *f)
{
    ms_group_free(&f->g);
    ms_symbolize_free(f->sym);
    ms_snapfile_free(f->snap);
}

static char *collapsed(struct fixture *f, bool allocated, bool count)
{
    struct ms_export_opts o = {.format = MS_EXPORT_COLLAPSED, .allocated = allocated, .count = count};
    char *buf = NULL;
    size_t len = 0;
    struct ms_error err;
    FILE *out = open_memstream(&buf, &len);
    assert_int_equal(ms_export_collapsed_write(out, &f->g, &o, &err), MS_OK);
    fclose(out);
    return buf;
}

static void collapsed_folds_outermost_first_weighted_by_the_chosen_counter(void **state)
{
    (void)state;
    struct fixture f;
    open_fixture(&f, snap_missing());
    char *t = collapsed(&f, false, false);
    assert_string_equal(t, "app+0x100;app+0x200;app+0x300 240\n"); /* a;d holds nothing: no line */
    free(t);
    t = collapsed(&f, false, true);
    assert_string_equal(t, "app+0x100;app+0x200;app+0x300 5\n");
    free(t);
    t = collapsed(&f, true, false);
    assert_string_equal(t, "app+0x100;app+0x200;app+0x300 480\napp+0x100;app+0x400 1000\n");
    free(t);
    t = collapsed(&f, true, true);
    assert_string_equal(t, "app+0x100;app+0x200;app+0x300 10\napp+0x100;app+0x400 1\n");
    free(t);
    close_fixture(&f);
}

static void collapsed_names_functions_and_merges_stacks_that_differ_only_in_addresses(void **state)
{
    (void)state;
    struct fixture f;
    open_fixture(&f, snap_self());
    char *t = collapsed(&f, false, false), want[256];
    snprintf(want, sizeof want, "f_outer;f_mid;f_leaf_a %d\nf_outer;f_mid;f_leaf_b %d\n", SELF_A1 + SELF_A2, SELF_B);
    assert_string_equal(t, want);
    free(t);
    close_fixture(&f);
}

/* ---- a minimal protobuf reader for profile.proto --------------------------------------------------- */

struct pb {
    const unsigned char *p, *end;
};

static uint64_t pb_varint(struct pb *b)
{
    uint64_t v = 0;
    for (int shift = 0; b->p < b->end && shift < 64; shift += 7) {
        unsigned char c = *b->p++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return v;
    }
    fail_msg("bad varint");
    return 0;
}

/* The next field: number, and either a varint value or a sub-buffer (length-delimited). */
static bool pb_next(struct pb *b, uint32_t *field, uint64_t *v, struct pb *sub)
{
    if (b->p >= b->end)
        return false;
    uint64_t key = pb_varint(b);
    *field = (uint32_t)(key >> 3);
    switch (key & 7) {
    case 0: *v = pb_varint(b); sub->p = sub->end = NULL; return true;
    case 2: {
        uint64_t n = pb_varint(b);
        assert_true(n <= (uint64_t)(b->end - b->p));
        sub->p = b->p;
        sub->end = b->p + n;
        b->p += n;
        *v = n;
        return true;
    }
    default: fail_msg("unexpected wire type %d", (int)(key & 7)); return false;
    }
}

/* A repeated integer field, packed or not. */
static size_t pb_ints(uint64_t v, struct pb *sub, uint64_t *out, size_t n, size_t max)
{
    if (!sub->p) {
        assert_true(n < max);
        out[n++] = v;
        return n;
    }
    while (sub->p < sub->end) {
        assert_true(n < max);
        out[n++] = pb_varint(sub);
    }
    return n;
}

struct prof {
    char *strings[256];
    size_t nstr;
    uint64_t types[8][2];
    size_t ntypes;
    struct { uint64_t loc[16], val[8]; size_t nloc, nval; } samples[16];
    size_t nsamples;
    struct { uint64_t id, mapping, address, func[4]; size_t nline; } locs[32];
    size_t nlocs;
    struct { uint64_t id, name; } funcs[32];
    size_t nfuncs;
    struct { uint64_t id, file, build_id, start, limit; } maps[4];
    size_t nmaps;
    uint64_t default_type, period;
    uint64_t period_type[2];
};

static unsigned char *gunzip(const unsigned char *in, size_t len, size_t *outlen)
{
    z_stream z = {0};
    assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
    size_t cap = 1 << 16;
    unsigned char *out = malloc(cap);
    assert_non_null(out);
    z.next_in = (unsigned char *)in;
    z.avail_in = (uInt)len;
    int r;
    do {
        if (z.total_out == cap) {
            cap *= 2;
            out = realloc(out, cap);
            assert_non_null(out);
        }
        z.next_out = out + z.total_out;
        z.avail_out = (uInt)(cap - z.total_out);
        r = inflate(&z, Z_NO_FLUSH);
        assert_true(r == Z_OK || r == Z_STREAM_END);
    } while (r != Z_STREAM_END);
    assert_int_equal(z.avail_in, 0); /* one member, nothing after it */
    *outlen = z.total_out;
    inflateEnd(&z);
    return out;
}

static void pb_decode(const unsigned char *buf, size_t len, struct prof *p)
{
    struct pb b = {buf, buf + len}, sub, s2, s3;
    uint32_t f, f2, f3;
    uint64_t v, v2, v3;
    memset(p, 0, sizeof *p);
    while (pb_next(&b, &f, &v, &sub)) {
        switch (f) {
        case 1:
            assert_true(p->ntypes < 8);
            while (pb_next(&sub, &f2, &v2, &s2))
                p->types[p->ntypes][f2 - 1] = v2;
            p->ntypes++;
            break;
        case 2:
            assert_true(p->nsamples < 16);
            while (pb_next(&sub, &f2, &v2, &s2)) {
                if (f2 == 1)
                    p->samples[p->nsamples].nloc = pb_ints(v2, &s2, p->samples[p->nsamples].loc,
                                                           p->samples[p->nsamples].nloc, 16);
                else if (f2 == 2)
                    p->samples[p->nsamples].nval = pb_ints(v2, &s2, p->samples[p->nsamples].val,
                                                           p->samples[p->nsamples].nval, 8);
            }
            p->nsamples++;
            break;
        case 3:
            assert_true(p->nmaps < 4);
            while (pb_next(&sub, &f2, &v2, &s2)) {
                if (f2 == 1) p->maps[p->nmaps].id = v2;
                if (f2 == 2) p->maps[p->nmaps].start = v2;
                if (f2 == 3) p->maps[p->nmaps].limit = v2;
                if (f2 == 5) p->maps[p->nmaps].file = v2;
                if (f2 == 6) p->maps[p->nmaps].build_id = v2;
            }
            p->nmaps++;
            break;
        case 4:
            assert_true(p->nlocs < 32);
            while (pb_next(&sub, &f2, &v2, &s2)) {
                if (f2 == 1) p->locs[p->nlocs].id = v2;
                if (f2 == 2) p->locs[p->nlocs].mapping = v2;
                if (f2 == 3) p->locs[p->nlocs].address = v2;
                if (f2 == 4) {
                    assert_true(p->locs[p->nlocs].nline < 4);
                    while (pb_next(&s2, &f3, &v3, &s3))
                        if (f3 == 1)
                            p->locs[p->nlocs].func[p->locs[p->nlocs].nline] = v3;
                    p->locs[p->nlocs].nline++;
                }
            }
            p->nlocs++;
            break;
        case 5:
            assert_true(p->nfuncs < 32);
            while (pb_next(&sub, &f2, &v2, &s2)) {
                if (f2 == 1) p->funcs[p->nfuncs].id = v2;
                if (f2 == 2) p->funcs[p->nfuncs].name = v2;
            }
            p->nfuncs++;
            break;
        case 6:
            assert_true(p->nstr < 256);
            p->strings[p->nstr] = strndup((const char *)sub.p, (size_t)v);
            p->nstr++;
            break;
        case 11:
            while (pb_next(&sub, &f2, &v2, &s2))
                p->period_type[f2 - 1] = v2;
            break;
        case 12: p->period = v; break;
        case 14: p->default_type = v; break;
        default: break;
        }
    }
}

static const char *pb_str(const struct prof *p, uint64_t i)
{
    assert_true(i < p->nstr);
    return p->strings[i];
}

static const char *pb_leaf_function(const struct prof *p, uint64_t loc_id)
{
    for (size_t i = 0; i < p->nlocs; i++) {
        if (p->locs[i].id != loc_id)
            continue;
        assert_true(p->locs[i].nline >= 1);
        uint64_t fid = p->locs[i].func[p->locs[i].nline - 1];
        for (size_t j = 0; j < p->nfuncs; j++)
            if (p->funcs[j].id == fid)
                return pb_str(p, p->funcs[j].name);
    }
    fail_msg("location %llu not found", (unsigned long long)loc_id);
    return NULL;
}

static void pprof_decodes_to_the_snapshot_totals_functions_and_build_id(void **state)
{
    (void)state;
    if (me.build_id_len == 0)
        ms_tap_skip("this test program was linked without --build-id");
    struct fixture f;
    open_fixture(&f, snap_self());
    char *buf = NULL;
    size_t len = 0;
    struct ms_error err;
    FILE *out = open_memstream(&buf, &len);
    assert_int_equal(ms_export_pprof_write(out, &f.g, &err), MS_OK);
    fclose(out);
    struct prof p;
    /* A gzip member (magic 1f 8b), as pprof readers expect; inflated here by zlib on its own. */
    assert_true(len > 18 && (unsigned char)buf[0] == 0x1f && (unsigned char)buf[1] == 0x8b);
    size_t rawlen = 0;
    unsigned char *raw = gunzip((const unsigned char *)buf, len, &rawlen);
    pb_decode(raw, rawlen, &p);
    assert_true(p.nstr > 0);
    assert_string_equal(p.strings[0], "");
    static const char *const want[4][2] = {
        {"alloc_objects", "count"}, {"alloc_space", "bytes"}, {"inuse_objects", "count"}, {"inuse_space", "bytes"}};
    assert_int_equal(p.ntypes, 4);
    for (int i = 0; i < 4; i++) {
        assert_string_equal(pb_str(&p, p.types[i][0]), want[i][0]);
        assert_string_equal(pb_str(&p, p.types[i][1]), want[i][1]);
    }
    assert_string_equal(pb_str(&p, p.default_type), "inuse_space");
    assert_string_equal(pb_str(&p, p.period_type[0]), "space");
    assert_string_equal(pb_str(&p, p.period_type[1]), "bytes");
    assert_int_equal(p.period, 1); /* exact: every allocation recorded */
    /* The two leaf_a stacks are one sample when their return addresses map to one source line, else two;
     * either way the values sum to the snapshot's counters. */
    assert_in_range(p.nsamples, 2, 3);
    uint64_t sum[4] = {0}, leaf_a_live = 0, leaf_b_live = 0;
    for (size_t i = 0; i < p.nsamples; i++) {
        assert_int_equal(p.samples[i].nval, 4);
        assert_int_equal(p.samples[i].nloc, 3);
        for (int k = 0; k < 4; k++)
            sum[k] += p.samples[i].val[k];
        const char *leaf = pb_leaf_function(&p, p.samples[i].loc[0]);
        assert_string_equal(pb_leaf_function(&p, p.samples[i].loc[1]), "f_mid");
        assert_string_equal(pb_leaf_function(&p, p.samples[i].loc[2]), "f_outer");
        if (strcmp(leaf, "f_leaf_a") == 0)
            leaf_a_live += p.samples[i].val[3];
        else if (strcmp(leaf, "f_leaf_b") == 0)
            leaf_b_live += p.samples[i].val[3];
        else
            fail_msg("unexpected leaf %s", leaf);
    }
    assert_int_equal(sum[0], 2 + 2 + 7);
    assert_int_equal(sum[1], SELF_A1 * 2 + SELF_A2 + SELF_B * 3);
    assert_int_equal(sum[2], 1 + 2 + 5);
    assert_int_equal(sum[3], SELF_A1 + SELF_A2 + SELF_B);
    assert_int_equal(leaf_a_live, SELF_A1 + SELF_A2);
    assert_int_equal(leaf_b_live, SELF_B);
    /* Locations are runtime addresses in the one mapping, which names this binary and its build-id. */
    assert_int_equal(p.nmaps, 1);
    assert_string_equal(pb_str(&p, p.maps[0].file), me.path);
    char hex[129] = "";
    for (uint32_t i = 0; i < me.build_id_len; i++)
        snprintf(hex + 2 * i, 3, "%02x", me.build_id[i]);
    assert_string_equal(pb_str(&p, p.maps[0].build_id), hex);
    assert_int_equal(p.nlocs, p.nsamples + 2); /* one per leaf address, mid and outer shared */
    bool found_outer = false;
    for (size_t i = 0; i < p.nlocs; i++) {
        assert_int_equal(p.locs[i].mapping, p.maps[0].id);
        if (p.locs[i].address == me.base + off_in(f_outer, 0))
            found_outer = true;
    }
    assert_true(found_outer);
    for (size_t i = 0; i < p.nstr; i++)
        free(p.strings[i]);
    free(raw);
    free(buf);
    close_fixture(&f);
}

static void json_lists_every_stack_with_counters_and_symbolized_frames(void **state)
{
    (void)state;
    struct fixture f;
    open_fixture(&f, snap_missing());
    char *buf = NULL;
    size_t len = 0;
    struct ms_error err;
    FILE *out = open_memstream(&buf, &len);
    assert_int_equal(ms_export_json_write(out, &f.g, &err), MS_OK);
    fclose(out);
    json_error_t jerr;
    json_t *doc = json_loads(buf, 0, &jerr);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "command")), "export");
    json_t *sites = json_object_get(doc, "sites");
    assert_int_equal(json_array_size(sites), 2);
    json_t *s0 = json_array_get(sites, 0), *s1 = json_array_get(sites, 1);
    assert_int_equal(json_integer_value(json_object_get(s0, "live_bytes")), 240);
    assert_int_equal(json_integer_value(json_object_get(s0, "alloc_count")), 10);
    assert_int_equal(json_integer_value(json_object_get(s0, "free_bytes")), 240);
    assert_int_equal(json_integer_value(json_object_get(s1, "alloc_bytes")), 1000);
    json_t *st = json_object_get(s0, "stack");
    assert_int_equal(json_array_size(st), 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(st, 0), "offset")), 0x300);
    assert_string_equal(json_string_value(json_object_get(json_array_get(st, 2), "module")), "/nonexistent/app");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(doc, "totals"), "current_bytes")), 240);
    json_decref(doc);
    free(buf);
    close_fixture(&f);
}

/* ---- SVG checks ---------------------------------------------------------------------------------------- */

/* Well-formed XML, by Python's parser where there is one (else the check is skipped, and says so). */
static void assert_well_formed(const char *path)
{
    if (access("/usr/bin/python3", X_OK) != 0) {
        fprintf(stderr, "# /usr/bin/python3 missing: XML well-formedness not checked\n");
        return;
    }
    char cmd[PATH_MAX + 128];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' '%s'",
             path);
    assert_int_equal(system(cmd), 0);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, n, m);
    fclose(f);
    fclose(m);
    return buf;
}

/* The width of the frame named `name` (the first one). */
static double frame_width(const char *svg, const char *name)
{
    char key[128];
    snprintf(key, sizeof key, "data-n=\"%s\"", name);
    const char *p = strstr(svg, key);
    if (!p)
        fail_msg("no frame %s", name);
    p = strstr(p, "width=\"");
    assert_non_null(p);
    return strtod(p + 7, NULL);
}

static void flamegraph_widths_follow_bytes_and_the_file_is_well_formed(void **state)
{
    (void)state;
    struct fixture f;
    open_fixture(&f, snap_self());
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/fg.svg", dir);
    struct ms_export_opts o = {.output = path, .title = "a <title> & more"};
    struct ms_export_out out;
    struct ms_error err;
    assert_int_equal(ms_export_open(&o, &out, &err), MS_OK);
    assert_int_equal(ms_export_close(&out, ms_flamegraph_write(out.f, &f.g, &o, true, NULL, &err), &err), MS_OK);
    assert_well_formed(path);
    char *svg = slurp(path);
    assert_non_null(strstr(svg, "a &lt;title&gt; &amp; more"));
    double all = frame_width(svg, "all"), a = frame_width(svg, "f_leaf_a"), b = frame_width(svg, "f_leaf_b");
    double total = SELF_A1 + SELF_A2 + SELF_B;
    assert_true(all > 1000);
    assert_float_equal(frame_width(svg, "f_outer"), all, 0.01);
    assert_float_equal(frame_width(svg, "f_mid"), all, 0.01);
    assert_float_equal(a / all, (SELF_A1 + SELF_A2) / total, 0.001);
    assert_float_equal(b / all, SELF_B / total, 0.001);
    assert_non_null(strstr(svg, "<title>f_leaf_a (300 B, 85.71%)</title>"));
    /* Self-contained: the SVG namespace is the only URL, nothing is linked. */
    const char *url = strstr(svg, "http");
    assert_ptr_equal(url, strstr(svg, "http://www.w3.org/2000/svg"));
    assert_null(strstr(url + 1, "http"));
    assert_null(strstr(svg, "href"));
    free(svg);
    close_fixture(&f);
}

/* Four snapshots of one process at 1, 2, 3, 5 s, written out of order: site app+0x100 grows, app+0x200 holds. */
static void plot_puts_snapshots_in_time_order_with_proportional_axes(void **state)
{
    (void)state;
    static const uint64_t up[4] = {3000000000u, 1000000000u, 5000000000u, 2000000000u};
    static const uint64_t grow[4] = {3000, 1000, 5000, 2000}, hold = 500, extra = 100;
    char paths[4][PATH_MAX], out_path[PATH_MAX];
    char *inputs[4];
    for (int i = 0; i < 4; i++) {
        struct snapgen *g = snapgen_new();
        snapgen_time(g, 1700000000000000000ull + up[i], up[i], (uint32_t)i);
        snapgen_module(g, "/nonexistent/app", 0x400000, 0x10000, NULL, 0);
        struct ms_fmt_frame a = {0, 0, 0x100}, b = {0, 0, 0x200};
        snapgen_site(g, snapgen_stack(g, &a, 1, 0), grow[i], grow[i] / 100, grow[i], grow[i] / 100);
        snapgen_site(g, snapgen_stack(g, &b, 1, 0), hold, 1, hold, 1);
        struct ms_fmt_totals t = {.current_bytes = grow[i] + hold + extra, .live_count = 3};
        snapgen_totals(g, &t);
        snprintf(paths[i], sizeof paths[i], "%s/s%d.snap", dir, i);
        assert_int_equal(snapgen_write(g, paths[i]), 0);
        snapgen_free(g);
        inputs[i] = paths[i];
    }
    snprintf(out_path, sizeof out_path, "%s/plot.svg", dir);
    struct ms_cli cli = {.by = MS_BY_LINE, .limit = -1, .sym = {.quiet = true}, .inputs = inputs, .input_count = 4};
    struct ms_export_opts o = {.output = out_path};
    struct ms_error err;
    if (ms_plot_main(&cli, &o, &err) != MS_OK)
        fail_msg("%s", err.msg);
    assert_well_formed(out_path);
    char *svg = slurp(out_path);
    assert_non_null(strstr(svg, "app+0x100 (peak 5000 B)"));
    assert_non_null(strstr(svg, "app+0x200 (peak 500 B)"));
    /* The total line, in time order: x affine in uptime, y affine in bytes. */
    const char *p = strstr(svg, "id=\"total\"");
    assert_non_null(p);
    p = strstr(p, "points=\"");
    assert_non_null(p);
    p += 8;
    double x[4], y[4];
    for (int i = 0; i < 4; i++) {
        char *end;
        x[i] = strtod(p, &end);
        assert_true(*end == ',');
        y[i] = strtod(end + 1, &end);
        p = end;
    }
    static const double t[4] = {1, 2, 3, 5}, bytes[4] = {1600, 2600, 3600, 5600};
    for (int i = 2; i < 4; i++) {
        assert_float_equal((x[i] - x[0]) / (x[1] - x[0]), (t[i] - t[0]) / (t[1] - t[0]), 1e-3);
        assert_float_equal((y[i] - y[0]) / (y[1] - y[0]), (bytes[i] - bytes[0]) / (bytes[1] - bytes[0]), 1e-3);
    }
    assert_true(y[3] < y[0]); /* more bytes, higher up */
    free(svg);
}

/* The n y coordinates of the points="x,y ..." of the `nth` element (0 = first) whose text starts with `tag`. */
static void svg_points_y(const char *svg, const char *tag, int nth, double *y, int n)
{
    const char *p = svg;
    for (int k = 0; k <= nth; k++) {
        p = strstr(p, tag);
        assert_non_null(p);
        p += strlen(tag);
    }
    p = strstr(p, "points=\"");
    assert_non_null(p);
    p += 8;
    for (int i = 0; i < n; i++) {
        char *end;
        strtod(p, &end);
        assert_true(*end == ',');
        y[i] = strtod(end + 1, &end);
        p = end;
    }
}

/* The y of `bytes` on the plot's axis, read from its first and last tick ("N B" with --bytes). */
static double svg_y_of(const char *svg, double bytes)
{
    double v[2] = {0, 0}, y[2] = {0, 0};
    int k = 0;
    for (const char *p = strstr(svg, "class=\"ytick\""); p; p = strstr(p + 1, "class=\"ytick\""), k = 1) {
        const char *q = strstr(p, "y=\"");
        assert_non_null(q);
        y[k] = strtod(q + 3, NULL) - 4; /* the label sits 4 px under its line */
        q = strchr(q, '>');
        assert_non_null(q);
        v[k] = strtod(q + 1, NULL);
    }
    assert_true(v[0] == 0 && v[1] > 0);
    return y[0] + (y[1] - y[0]) * bytes / v[1];
}

/* Two sampled snapshots (one allocation per 64 KiB) of one process: app+0x100 keeps 100, then 200 blocks of
 * 4 KiB, app+0x200 10 blocks of 1000 B, and the process peaked at 10 MB between them. Each series' band is
 * its estimate +- 1.96 standard errors, the variance of N blocks of s bytes being N s^2 (1-p)/p with
 * p = 1 - exp(-s/rate) (docs/cli.md), the total's the two sites' summed; the labels give the same half
 * widths. The same snapshots unsampled are drawn without a band or a mark. */
static void plot_draws_sampled_series_with_their_95_percent_bands(void **state)
{
    (void)state;
    static const uint64_t n_a[2] = {100, 200}, s_a = 4096, n_b = 10, s_b = 1000, rate = 65536;
    for (int sampled = 1; sampled >= 0; sampled--) {
        char paths[2][PATH_MAX], out_path[PATH_MAX];
        char *inputs[2] = {paths[0], paths[1]};
        for (int i = 0; i < 2; i++) {
            struct snapgen *g = snapgen_new();
            if (sampled)
                snapgen_sampled(g, rate);
            snapgen_time(g, 1700000000000000000ull + (i + 1) * 1000000000ull, (i + 1) * 1000000000ull, (uint32_t)i);
            snapgen_module(g, "/nonexistent/app", 0x400000, 0x10000, NULL, 0);
            struct ms_fmt_frame a = {0, 0, 0x100}, b = {0, 0, 0x200};
            snapgen_site(g, snapgen_stack(g, &a, 1, 0), n_a[i] * s_a, n_a[i], n_a[i] * s_a, n_a[i]);
            snapgen_site(g, snapgen_stack(g, &b, 1, 0), n_b * s_b, n_b, n_b * s_b, n_b);
            struct ms_fmt_totals t = {.current_bytes = n_a[i] * s_a + n_b * s_b, .peak_bytes = 10000000,
                                      .live_count = n_a[i] + n_b, .alloc_bytes = n_a[i] * s_a + n_b * s_b,
                                      .alloc_count = n_a[i] + n_b};
            snapgen_totals(g, &t);
            snprintf(paths[i], sizeof paths[i], "%s/band%d-%d.snap", dir, sampled, i);
            assert_int_equal(snapgen_write(g, paths[i]), 0);
            snapgen_free(g);
        }
        snprintf(out_path, sizeof out_path, "%s/band%d.svg", dir, sampled);
        struct ms_cli cli = {.by = MS_BY_LINE, .limit = -1, .bytes = true, .sym = {.quiet = true}, .inputs = inputs,
                             .input_count = 2};
        struct ms_export_opts o = {.output = out_path};
        struct ms_error err;
        if (ms_plot_main(&cli, &o, &err) != MS_OK)
            fail_msg("%s", err.msg);
        assert_well_formed(out_path);
        char *svg = slurp(out_path), want[160];
        if (!sampled) {
            assert_null(strstr(svg, "class=\"band\""));
            assert_null(strstr(svg, "\u00b1"));
            assert_null(strstr(svg, "95% interval"));
            assert_non_null(strstr(svg, ">process peak 10000000 B (between snapshots)<"));
            assert_non_null(strstr(svg, "app+0x100 (peak 819200 B)"));
            free(svg);
            continue;
        }
        double p_a = -expm1(-(double)s_a / rate), p_b = -expm1(-(double)s_b / rate);
        double var_b = (double)n_b * s_b * s_b * (1 - p_b) / p_b, half[3][2];
        for (int i = 0; i < 2; i++) {
            double var_a = (double)n_a[i] * s_a * s_a * (1 - p_a) / p_a;
            half[0][i] = 1.959963984540054 * sqrt(var_a);
            half[1][i] = 1.959963984540054 * sqrt(var_b);
            half[2][i] = 1.959963984540054 * sqrt(var_a + var_b);
        }
        /* Bands in drawing order: the sites', largest first, then the total's; upper edge, then lower back. */
        const double value[3][2] = {{(double)(n_a[0] * s_a), (double)(n_a[1] * s_a)},
                                    {(double)(n_b * s_b), (double)(n_b * s_b)},
                                    {(double)(n_a[0] * s_a + n_b * s_b), (double)(n_a[1] * s_a + n_b * s_b)}};
        for (int k = 0; k < 3; k++) {
            double y[4], base = k == 1 ? value[0][0] : 0, base1 = k == 1 ? value[0][1] : 0;
            svg_points_y(svg, "<polygon class=\"band\"", k, y, 4);
            double lo0 = value[k][0] > half[k][0] ? value[k][0] - half[k][0] : 0;
            double lo1 = value[k][1] > half[k][1] ? value[k][1] - half[k][1] : 0;
            assert_float_equal(y[0], svg_y_of(svg, base + value[k][0] + half[k][0]), 0.006);
            assert_float_equal(y[1], svg_y_of(svg, base1 + value[k][1] + half[k][1]), 0.006);
            assert_float_equal(y[2], svg_y_of(svg, base1 + lo1), 0.006);
            assert_float_equal(y[3], svg_y_of(svg, base + lo0), 0.006);
        }
        assert_null(strstr(strstr(svg, "<polygon class=\"band\"") + 1, "<polygon class=\"site\""));
        snprintf(want, sizeof want, ">estimated peak %llu B \u00b1%.0f B<", (unsigned long long)value[2][1], half[2][1]);
        assert_non_null(strstr(svg, want));
        snprintf(want, sizeof want, ">process total (estimated peak %llu B \u00b1%.0f B)<",
                 (unsigned long long)value[2][1], half[2][1]);
        assert_non_null(strstr(svg, want));
        snprintf(want, sizeof want, "app+0x100 (estimated peak 819200 B \u00b1%.0f B)<", half[0][1]);
        assert_non_null(strstr(svg, want));
        assert_non_null(strstr(svg, ">95% interval (estimate \u00b1 1.96 standard errors"));
        assert_non_null(strstr(svg, ">estimated process peak 10000000 B (between snapshots)<"));
        free(svg);
    }
}

/* Two snapshots of one process given newest first: massif's file lists them in time order, folds the 1-byte
 * branch (under 1% of 101 B) into an "in 1 place" line, and marks the larger one as the peak. */
static void massif_lists_snapshots_in_time_order_with_trees_and_folded_small_branches(void **state)
{
    (void)state;
    char p0[PATH_MAX], p1[PATH_MAX], out_path[PATH_MAX];
    char *inputs[2] = {p0, p1};
    snprintf(p0, sizeof p0, "%s/m0.snap", dir);
    snprintf(p1, sizeof p1, "%s/m1.snap", dir);
    snprintf(out_path, sizeof out_path, "%s/massif.out", dir);
    struct ms_fmt_frame abc[3] = {{0, 0, 0x300}, {0, 0, 0x200}, {0, 0, 0x100}}, d = {0, 0, 0x400};
    struct snapgen *g = snapgen_new();
    snapgen_time(g, 0, 3000000000u, 1);
    snapgen_module(g, "/nonexistent/app", 0x400000, 0x10000, NULL, 0);
    snapgen_site(g, snapgen_stack(g, abc, 3, 0), 240, 2, 240, 2);
    assert_int_equal(snapgen_write(g, p0), 0);
    snapgen_free(g);
    g = snapgen_new();
    snapgen_time(g, 0, 1000000000u, 0);
    snapgen_module(g, "/nonexistent/app", 0x400000, 0x10000, NULL, 0);
    snapgen_site(g, snapgen_stack(g, abc, 3, 0), 100, 1, 100, 1);
    snapgen_site(g, snapgen_stack(g, &d, 1, 0), 1, 1, 1, 1);
    assert_int_equal(snapgen_write(g, p1), 0);
    snapgen_free(g);
    struct ms_cli cli = {.sym = {.quiet = true}, .inputs = inputs, .input_count = 2};
    struct ms_export_opts o = {.format = MS_EXPORT_MASSIF, .output = out_path};
    struct ms_error err;
    if (ms_export_main(&cli, &o, &err) != MS_OK)
        fail_msg("%s", err.msg);
    char *text = slurp(out_path);
    assert_string_equal(text,
                        "desc: memsnap export --format massif\n"
                        "cmd: /usr/bin/fixture\n"
                        "time_unit: ms\n"
                        "#-----------\nsnapshot=0\n#-----------\n"
                        "time=1000\nmem_heap_B=101\nmem_heap_extra_B=0\nmem_stacks_B=0\nheap_tree=detailed\n"
                        "n2: 101 (heap allocation functions) malloc/new/new[], --alloc-fns, etc.\n"
                        " n1: 100 0x300: ??? (in /nonexistent/app)\n"
                        "  n1: 100 0x200: ??? (in /nonexistent/app)\n"
                        "   n0: 100 0x100: ??? (in /nonexistent/app)\n"
                        " n0: 1 in 1 place, below massif's threshold (1.00%)\n"
                        "#-----------\nsnapshot=1\n#-----------\n"
                        "time=3000\nmem_heap_B=240\nmem_heap_extra_B=0\nmem_stacks_B=0\nheap_tree=peak\n"
                        "n1: 240 (heap allocation functions) malloc/new/new[], --alloc-fns, etc.\n"
                        " n1: 240 0x300: ??? (in /nonexistent/app)\n"
                        "  n1: 240 0x200: ??? (in /nonexistent/app)\n"
                        "   n0: 240 0x100: ??? (in /nonexistent/app)\n");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(collapsed_folds_outermost_first_weighted_by_the_chosen_counter),
        cmocka_unit_test(collapsed_names_functions_and_merges_stacks_that_differ_only_in_addresses),
        cmocka_unit_test(pprof_decodes_to_the_snapshot_totals_functions_and_build_id),
        cmocka_unit_test(json_lists_every_stack_with_counters_and_symbolized_frames),
        cmocka_unit_test(flamegraph_widths_follow_bytes_and_the_file_is_well_formed),
        cmocka_unit_test(plot_puts_snapshots_in_time_order_with_proportional_axes),
        cmocka_unit_test(plot_draws_sampled_series_with_their_95_percent_bands),
        cmocka_unit_test(massif_lists_snapshots_in_time_order_with_trees_and_folded_small_branches),
    };
    return ms_tap_run_group(tests, setup, teardown);
}
