/* The LEAKS section (format 1.1) through the reader: its records arrive intact and findable by stack; a
 * file without it reads as "reachability unknown"; hostile counts, stack ids out of range, duplicate
 * records, a short header and a second LEAKS section are rejected with one line naming the problem. The
 * same for LEAK_ROOTS (1.5), whose records are also rejected out of order; a file without it has none. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "analyze.h"
#include "snapgen.h"

/* A file with 3 stacks and sites; `leaks` (len bytes) as its LEAKS payload when not NULL, `roots` as its
 * LEAK_ROOTS payload (`roots_copies` times). */
static unsigned char *leaks_roots_file(const void *leaks, size_t len, int copies, const void *roots,
                                       size_t roots_len, int roots_copies, size_t *out_len)
{
    struct snapgen *g = snapgen_new();
    snapgen_flags(g, MS_FMT_FLAG_AT_EXIT);
    snapgen_info(g, 1, MS_FMT_TRIGGER_EXIT, "/nonexistent/app", "");
    snapgen_module(g, "/nonexistent/app", 0x400000, 0x1000, NULL, 0);
    for (uint32_t i = 0; i < 3; i++) {
        struct ms_fmt_frame f = {.module = 0, .offset = 0x100 + i};
        snapgen_stack(g, &f, 1, 0);
        snapgen_site(g, i, 100 * (i + 1), i + 1, 100 * (i + 1), i + 1);
    }
    for (int i = 0; i < copies; i++) {
        snapgen_extra(g, MS_FMT_SEC_LEAKS, leaks, len);
    }
    for (int i = 0; i < roots_copies; i++) {
        snapgen_extra(g, MS_FMT_SEC_LEAK_ROOTS, roots, roots_len);
    }
    unsigned char *b = snapgen_build(g, out_len);
    snapgen_free(g);
    return b;
}

static unsigned char *leaks_file(const void *leaks, size_t len, int copies, size_t *out_len)
{
    return leaks_roots_file(leaks, len, copies, NULL, 0, 0, out_len);
}

struct leaks_payload {
    struct ms_fmt_leaks h;
    struct ms_fmt_leak r[3];
};

static struct leaks_payload leaks_valid(void)
{
    struct leaks_payload p;
    memset(&p, 0, sizeof p);
    p.h.count = 2;
    p.h.scanned_blocks = 5;
    p.h.scan_ns = 1234;
    /* out of stack order on purpose: a writer need not sort */
    p.r[0] = (struct ms_fmt_leak){.stack = 2, .lost_bytes = 200, .lost_count = 2, .reachable_bytes = 100,
                                  .reachable_count = 1};
    p.r[1] = (struct ms_fmt_leak){.stack = 0, .indirect_bytes = 100, .indirect_count = 1};
    return p;
}

static void expect_file_rejected(unsigned char *b, size_t n, const char *fragment)
{
    struct ms_snap *s = NULL;
    struct ms_error err = {""};
    assert_int_equal(ms_snapfile_parse(b, n, "x.snap", 0, &s, &err), MS_INPUT);
    assert_null(s);
    if (!strstr(err.msg, fragment)) {
        fail_msg("message '%s' lacks '%s'", err.msg, fragment);
    }
    assert_null(strchr(err.msg, '\n'));
    free(b);
}

static void expect_rejected(const void *payload, size_t len, int copies, const char *fragment)
{
    size_t n;
    unsigned char *b = leaks_file(payload, len, copies, &n);
    expect_file_rejected(b, n, fragment);
}

struct roots_payload {
    struct ms_fmt_leak_roots h;
    struct ms_fmt_leak_root r[3];
};

static struct roots_payload roots_valid(void)
{
    struct roots_payload p;
    memset(&p, 0, sizeof p);
    p.h.count = 3;
    p.r[0] = (struct ms_fmt_leak_root){.stack = 0, .root = 1, .bytes = 60, .count = 1};
    p.r[1] = (struct ms_fmt_leak_root){.stack = 0, .root = 2, .bytes = 40, .count = 1};
    p.r[2] = (struct ms_fmt_leak_root){.stack = 1, .root = 2, .bytes = 10, .count = 1};
    return p;
}

/* LEAKS for roots_valid(): stacks 0 and 1 indirectly lost, stack 2 definitely lost. */
static struct leaks_payload roots_leaks(void)
{
    struct leaks_payload p;
    memset(&p, 0, sizeof p);
    p.h.count = 3;
    p.r[0] = (struct ms_fmt_leak){.stack = 0, .indirect_bytes = 100, .indirect_count = 2};
    p.r[1] = (struct ms_fmt_leak){.stack = 1, .indirect_bytes = 10, .indirect_count = 1};
    p.r[2] = (struct ms_fmt_leak){.stack = 2, .lost_bytes = 200, .lost_count = 2};
    return p;
}

static void expect_roots_rejected(const struct roots_payload *p, size_t len, int copies, const char *fragment)
{
    struct leaks_payload l = roots_leaks();
    size_t n;
    unsigned char *b = leaks_roots_file(&l, sizeof l, 1, p, len, copies, &n);
    expect_file_rejected(b, n, fragment);
}

static void leak_roots_are_read_by_stack(void **state)
{
    (void)state;
    struct leaks_payload l = roots_leaks();
    struct roots_payload p = roots_valid();
    size_t n;
    unsigned char *b = leaks_roots_file(&l, sizeof l, 1, &p, sizeof p, 1, &n);
    struct ms_snap *s;
    struct ms_error err = {""};
    assert_int_equal(ms_snapfile_parse(b, n, "ok.snap", 0, &s, &err), MS_OK);
    uint32_t k;
    const struct ms_leak_root *r = ms_snapfile_leak_roots(s, 0, &k);
    assert_int_equal(k, 2);
    assert_int_equal(r[0].root, 1);
    assert_int_equal(r[0].bytes, 60);
    assert_int_equal(r[1].root, 2);
    assert_int_equal(r[1].count, 1);
    r = ms_snapfile_leak_roots(s, 1, &k);
    assert_int_equal(k, 1);
    assert_int_equal(r[0].bytes, 10);
    assert_null(ms_snapfile_leak_roots(s, 2, &k));
    assert_int_equal(k, 0);
    ms_snapfile_free(s);
    free(b);
    /* a file before 1.4 has none */
    b = leaks_file(&l, sizeof l, 1, &n);
    assert_int_equal(ms_snapfile_parse(b, n, "old.snap", 0, &s, &err), MS_OK);
    assert_null(ms_snapfile_leak_roots(s, 0, &k));
    ms_snapfile_free(s);
    free(b);
}

static void bad_leak_roots_are_rejected(void **state)
{
    (void)state;
    struct roots_payload p = roots_valid();
    p.h.count = 0xffffffffu;
    expect_roots_rejected(&p, sizeof p, 1, "corrupt LEAK_ROOTS section: count 4294967295");
    p = roots_valid();
    p.r[2].root = 3;
    expect_roots_rejected(&p, sizeof p, 1, "corrupt LEAK_ROOTS section: record 2 names stacks 1 and 3 of 3");
    p = roots_valid();
    p.r[1].root = 1; /* the same pair twice */
    expect_roots_rejected(&p, sizeof p, 1, "corrupt LEAK_ROOTS section: record 1 out of order");
    p = roots_valid();
    p.r[2].stack = 0;
    p.r[2].root = 0;
    expect_roots_rejected(&p, sizeof p, 1, "record 2 out of order");
    p = roots_valid();
    p.r[2].bytes = 11; /* more than stack 1's indirectly lost bytes */
    expect_roots_rejected(&p, sizeof p, 1, "stack 1 has 11 B in 1 indirectly lost blocks under its roots, more than");
    p = roots_valid();
    p.r[1].count = 2;
    expect_roots_rejected(&p, sizeof p, 1, "stack 0 has 100 B in 3 indirectly lost blocks");
    p = roots_valid();
    p.r[2].root = 0; /* stack 2 has no indirectly lost block at all */
    p.r[2].stack = 2;
    expect_roots_rejected(&p, sizeof p, 1, "stack 2 has 10 B in 1");
    p = roots_valid();
    expect_roots_rejected(&p, sizeof p, 2, "a second LEAK_ROOTS section");
    expect_roots_rejected(&p, 4, 1, "corrupt LEAK_ROOTS section: header 0 needs 8 bytes, only 4 remain");
}

static void leaks_records_are_read_and_found_by_stack(void **state)
{
    (void)state;
    struct leaks_payload p = leaks_valid();
    size_t n;
    unsigned char *b = leaks_file(&p, sizeof p.h + 2 * sizeof p.r[0], 1, &n);
    struct ms_snap *s;
    struct ms_error err = {""};
    assert_int_equal(ms_snapfile_parse(b, n, "ok.snap", 0, &s, &err), MS_OK);
    assert_true(s->has_leaks);
    assert_int_equal(s->leak_count, 2);
    assert_int_equal(s->leak_scanned, 5);
    assert_int_equal(s->leak_scan_ns, 1234);
    const struct ms_leak *l = ms_snapfile_leak(s, 2);
    assert_non_null(l);
    assert_int_equal(l->lost_bytes, 200);
    assert_int_equal(l->lost_count, 2);
    assert_int_equal(l->reachable_bytes, 100);
    l = ms_snapfile_leak(s, 0);
    assert_non_null(l);
    assert_int_equal(l->indirect_bytes, 100);
    assert_null(ms_snapfile_leak(s, 1)); /* no scanned block of stack 1 */
    ms_snapfile_free(s);
    free(b);
}

static void a_file_without_leaks_has_unknown_reachability(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = leaks_file(NULL, 0, 0, &n);
    struct ms_snap *s;
    struct ms_error err = {""};
    assert_int_equal(ms_snapfile_parse(b, n, "old.snap", 0, &s, &err), MS_OK);
    assert_false(s->has_leaks);
    assert_null(ms_snapfile_leak(s, 0));
    ms_snapfile_free(s);
    free(b);
}

static void an_empty_leaks_section_is_a_scan_that_found_nothing(void **state)
{
    (void)state;
    struct ms_fmt_leaks h = {0};
    size_t n;
    unsigned char *b = leaks_file(&h, sizeof h, 1, &n);
    struct ms_snap *s;
    struct ms_error err = {""};
    assert_int_equal(ms_snapfile_parse(b, n, "empty.snap", 0, &s, &err), MS_OK);
    assert_true(s->has_leaks);
    assert_int_equal(s->leak_count, 0);
    ms_snapfile_free(s);
    free(b);
}

static void hostile_counts_are_rejected(void **state)
{
    (void)state;
    struct leaks_payload p = leaks_valid();
    p.h.count = 0xffffffffu;
    expect_rejected(&p, sizeof p.h + 2 * sizeof p.r[0], 1, "corrupt LEAKS section: count 4294967295");
    p.h.count = 3; /* only two records follow */
    expect_rejected(&p, sizeof p.h + 2 * sizeof p.r[0], 1, "corrupt LEAKS section: count 3");
    /* more records than there are stacks (each record takes room, so the bytes alone do not catch it) */
    struct {
        struct ms_fmt_leaks h;
        struct ms_fmt_leak r[4];
    } big;
    memset(&big, 0, sizeof big);
    big.h.count = 4;
    for (uint32_t i = 0; i < 4; i++) {
        big.r[i].stack = i % 3;
    }
    expect_rejected(&big, sizeof big, 1, "4 records for 3 stacks");
    /* a header cut short */
    expect_rejected(&p, 12, 1, "corrupt LEAKS section: header 0 needs 32 bytes, only 12 remain");
}

static void bad_stack_ids_and_duplicates_are_rejected(void **state)
{
    (void)state;
    struct leaks_payload p = leaks_valid();
    p.r[1].stack = 3;
    expect_rejected(&p, sizeof p.h + 2 * sizeof p.r[0], 1, "record 1 names stack 3 of 3");
    p.r[1].stack = 0xffffffffu;
    expect_rejected(&p, sizeof p.h + 2 * sizeof p.r[0], 1, "names stack 4294967295 of 3");
    p.r[1].stack = 2;
    expect_rejected(&p, sizeof p.h + 2 * sizeof p.r[0], 1, "two records for stack 2");
    p = leaks_valid();
    expect_rejected(&p, sizeof p.h + 2 * sizeof p.r[0], 2, "a second LEAKS section");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(leaks_records_are_read_and_found_by_stack),
        cmocka_unit_test(a_file_without_leaks_has_unknown_reachability),
        cmocka_unit_test(an_empty_leaks_section_is_a_scan_that_found_nothing),
        cmocka_unit_test(hostile_counts_are_rejected),
        cmocka_unit_test(bad_stack_ids_and_duplicates_are_rejected),
        cmocka_unit_test(leak_roots_are_read_by_stack),
        cmocka_unit_test(bad_leak_roots_are_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
