/* The snapshot reader against valid and hostile files from the test-side writer (snapgen). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "analyze.h"
#include "snapgen.h"

static void reader_reads_every_field_of_a_valid_file(void **state)
{
    (void)state;
    size_t len;
    const char *expect;
    unsigned char *b = snapgen_named("valid", &len, &expect);
    struct ms_snap *s;
    struct ms_error err = {""};
    assert_int_equal(ms_snapfile_parse(b, len, "valid.snap", 0, &s, &err), MS_OK);
    assert_string_equal(s->path, "valid.snap");
    assert_true(s->flags & MS_FMT_FLAG_AT_EXIT);
    assert_int_equal(s->info.pid, 1234);
    assert_string_equal(s->exe, "/nonexistent/app");
    assert_string_equal(s->label, "sample");
    assert_int_equal(s->module_count, 2);
    assert_string_equal(s->modules[0].path, "/nonexistent/app");
    assert_int_equal(s->modules[0].base, 0x555500000000ull);
    assert_int_equal(s->modules[0].build_id_len, 20);
    assert_int_equal(s->modules[0].build_id[0], 0xde);
    assert_int_equal(s->modules[1].build_id_len, 0);
    assert_int_equal(s->stack_count, 3);
    assert_int_equal(s->stacks[0].depth, 3);
    assert_int_equal(s->stacks[0].frames[2].module, 1);
    assert_int_equal(s->stacks[0].frames[2].offset, 0x2724);
    assert_int_equal(s->stacks[1].flags, MS_FMT_STACK_TRUNCATED);
    assert_int_equal(s->stacks[2].frames[0].module, MS_FMT_MODULE_NONE);
    assert_int_equal(s->site_count, 4);
    assert_int_equal(s->sites[2].live_bytes, 4096);
    assert_int_equal(s->sites[1].alloc_count, 6);
    assert_int_equal(s->totals.current_bytes, 1000 + 4096 + 24);
    assert_int_equal(s->label_count, 1);
    assert_string_equal(s->labels[0].key, "test");
    ms_snapfile_free(s);
    free(b);
}

static void reader_rejects_every_truncation_with_one_line(void **state)
{
    (void)state;
    size_t len;
    const char *expect;
    unsigned char *b = snapgen_named("valid", &len, &expect);
    for (size_t n = 0; n < len; n++) {
        /* A copy of exactly n bytes, so that ASan sees any read past the end. */
        unsigned char *c = malloc(n ? n : 1);
        memcpy(c, b, n);
        struct ms_snap *s = (struct ms_snap *)1;
        struct ms_error err = {""};
        assert_int_equal(ms_snapfile_parse(c, n, "cut.snap", 0, &s, &err), MS_INPUT);
        assert_null(s);
        assert_true(strncmp(err.msg, "cut.snap: ", 10) == 0);
        assert_null(strchr(err.msg, '\n'));
        assert_true(strstr(err.msg, n ? "truncated" : "empty file") != NULL);
        free(c);
    }
    free(b);
}

static void reader_names_the_problem_of_each_hostile_file(void **state)
{
    (void)state;
    for (const char *const *name = snapgen_names; *name; name++) {
        size_t len;
        const char *expect;
        unsigned char *b = snapgen_named(*name, &len, &expect);
        unsigned char *c = malloc(len ? len : 1);
        memcpy(c, b, len);
        struct ms_snap *s = NULL;
        struct ms_error err = {""};
        enum ms_status r = ms_snapfile_parse(c, len, *name, 0, &s, &err);
        if (!expect) {
            assert_int_equal(r, MS_OK);
            ms_snapfile_free(s);
        } else {
            if (r != MS_INPUT || !strstr(err.msg, expect))
                fail_msg("%s: got %d '%s', expected '%s'", *name, r, err.msg, expect);
            assert_null(s);
        }
        free(c);
        free(b);
    }
}

static void reader_survives_every_single_byte_corruption(void **state)
{
    (void)state;
    size_t len;
    const char *expect;
    unsigned char *b = snapgen_named("valid", &len, &expect);
    for (size_t i = 0; i < len; i++) {
        for (unsigned flags = 0; flags < 2; flags++) {
            unsigned char *c = malloc(len);
            memcpy(c, b, len);
            c[i] ^= 0xff;
            struct ms_snap *s = NULL;
            struct ms_error err = {""};
            enum ms_status r = ms_snapfile_parse(c, len, "flip", flags ? MS_SNAPFILE_NO_CHECKSUM : 0, &s, &err);
            if (!flags) /* the checksum is a chain of bijections: any one changed byte changes it */
                assert_int_equal(r, MS_INPUT);
            if (r == MS_OK)
                ms_snapfile_free(s);
            else
                assert_true(err.msg[0] != 0);
            free(c);
        }
    }
    free(b);
}

/* The same snapshot in format 1.1's form and in 1.2's (stack tree, compressed) reads the same. */
static void reader_reads_the_compact_format_as_the_plain_one(void **state)
{
    (void)state;
    size_t len[2];
    const char *expect;
    unsigned char *b[2] = {snapgen_named("valid", &len[0], &expect), snapgen_named("compact-valid", &len[1], &expect)};
    struct ms_snap *s[2];
    struct ms_error err = {""};
    for (int i = 0; i < 2; i++)
        assert_int_equal(ms_snapfile_parse(b[i], len[i], "x.snap", 0, &s[i], &err), MS_OK);
    assert_true(s[1]->flags & MS_FMT_FLAG_ZSTD);
    assert_int_equal(s[0]->stack_count, s[1]->stack_count);
    for (uint32_t i = 0; i < s[0]->stack_count; i++) {
        assert_int_equal(s[0]->stacks[i].depth, s[1]->stacks[i].depth);
        assert_int_equal(s[0]->stacks[i].flags, s[1]->stacks[i].flags);
        for (uint32_t k = 0; k < s[0]->stacks[i].depth; k++) {
            assert_int_equal(s[0]->stacks[i].frames[k].module, s[1]->stacks[i].frames[k].module);
            assert_int_equal(s[0]->stacks[i].frames[k].offset, s[1]->stacks[i].frames[k].offset);
        }
    }
    assert_int_equal(s[0]->site_count, s[1]->site_count);
    assert_memory_equal(s[0]->sites, s[1]->sites, s[0]->site_count * sizeof *s[0]->sites);
    assert_memory_equal(&s[0]->totals, &s[1]->totals, sizeof s[0]->totals);
    assert_string_equal(s[0]->modules[1].path, s[1]->modules[1].path);
    for (int i = 0; i < 2; i++) {
        ms_snapfile_free(s[i]);
        free(b[i]);
    }
}

/* Every byte of a compressed file flipped: an error naming the file, never a crash. */
static void reader_survives_every_corruption_of_a_compressed_file(void **state)
{
    (void)state;
    size_t len;
    const char *expect;
    unsigned char *b = snapgen_named("compact-valid", &len, &expect);
    for (size_t i = 0; i < len; i++) {
        unsigned char *c = malloc(len);
        memcpy(c, b, len);
        c[i] ^= 0xff;
        struct ms_snap *s = NULL;
        struct ms_error err = {""};
        if (ms_snapfile_parse(c, len, "flip", MS_SNAPFILE_NO_CHECKSUM, &s, &err) == MS_OK)
            ms_snapfile_free(s);
        else
            assert_true(strncmp(err.msg, "flip: ", 6) == 0);
        free(c);
    }
    free(b);
}

static void reader_skips_sections_it_does_not_know(void **state)
{
    (void)state;
    struct snapgen *g = snapgen_new();
    snapgen_module(g, "/bin/x", 0, 0, NULL, 0);
    struct ms_fmt_frame f = {0, 0, 0x10};
    snapgen_stack(g, &f, 1, 0);
    snapgen_site(g, 0, 8, 1, 8, 1);
    snapgen_extra(g, 77, "future", 6);
    size_t len;
    unsigned char *b = snapgen_build(g, &len);
    struct ms_snap *s;
    struct ms_error err = {""};
    assert_int_equal(ms_snapfile_parse(b, len, "future.snap", 0, &s, &err), MS_OK);
    assert_int_equal(s->site_count, 1);
    ms_snapfile_free(s);
    free(b);
    snapgen_free(g);
}

/* A MEMORY payload (1.3) of `len` bytes, `extra` of them past the struct; NULL to leave the section out. */
static enum ms_status memory_parse(const struct ms_fmt_memory *m, size_t len, int twice, struct ms_snap **s,
                                   struct ms_error *err)
{
    struct snapgen *g = snapgen_new();
    snapgen_module(g, "/bin/x", 0, 0, NULL, 0);
    struct ms_fmt_frame f = {0, 0, 0x10};
    snapgen_stack(g, &f, 1, 0);
    snapgen_site(g, 0, 8, 1, 8, 1);
    unsigned char payload[sizeof *m + 16] = {0};
    if (m) {
        memcpy(payload, m, sizeof *m);
        for (int i = 0; i <= twice; i++)
            snapgen_extra(g, MS_FMT_SEC_MEMORY, payload, len);
    }
    size_t n;
    unsigned char *b = snapgen_build(g, &n);
    enum ms_status r = ms_snapfile_parse(b, n, "mem.snap", 0, s, err);
    free(b);
    snapgen_free(g);
    return r;
}

/* RSS and size classes: read when present (a longer payload's prefix too), absent in older files, and a
 * short or second section is a corrupt file. */
static void reader_reads_the_memory_section_and_files_without_it(void **state)
{
    (void)state;
    struct ms_fmt_memory m = {.rss_bytes = 3 << 20};
    m.class_count[4] = 7;  /* 8..15 bytes */
    m.class_bytes[4] = 70;
    m.class_count[MS_FMT_SIZE_CLASSES - 1] = 1;
    struct ms_snap *s;
    struct ms_error err = {""};
    for (size_t extra = 0; extra <= 16; extra += 16) {
        assert_int_equal(memory_parse(&m, sizeof m + extra, 0, &s, &err), MS_OK);
        assert_true(s->has_memory);
        assert_int_equal(s->memory.rss_bytes, 3 << 20);
        assert_int_equal(s->memory.class_count[4], 7);
        assert_int_equal(s->memory.class_bytes[4], 70);
        assert_int_equal(s->memory.class_count[MS_FMT_SIZE_CLASSES - 1], 1);
        ms_snapfile_free(s);
    }
    assert_int_equal(memory_parse(NULL, 0, 0, &s, &err), MS_OK);
    assert_false(s->has_memory);
    ms_snapfile_free(s);
    assert_int_equal(memory_parse(&m, sizeof m - 8, 0, &s, &err), MS_INPUT);
    assert_non_null(strstr(err.msg, "mem.snap: corrupt MEMORY section"));
    assert_int_equal(memory_parse(&m, sizeof m, 1, &s, &err), MS_INPUT);
    assert_non_null(strstr(err.msg, "a second MEMORY section"));
}

/* Three stacks with sites (0, 1, 2) and a TEMPORARY payload of n bytes (NULL: no section). */
static enum ms_status temporary_parse(const unsigned char *payload, size_t n, struct ms_snap **s, struct ms_error *err)
{
    struct snapgen *g = snapgen_new();
    snapgen_module(g, "/bin/x", 0, 0, NULL, 0);
    for (uint64_t k = 0; k < 3; k++) {
        struct ms_fmt_frame f = {0, 0, 0x10 + k};
        snapgen_site(g, snapgen_stack(g, &f, 1, 0), 8, 1, 800, 100);
    }
    if (payload)
        snapgen_extra(g, MS_FMT_SEC_TEMPORARY, payload, n);
    size_t len;
    unsigned char *b = snapgen_build(g, &len);
    enum ms_status r = ms_snapfile_parse(b, len, "temp.snap", 0, s, err);
    free(b);
    snapgen_free(g);
    return r;
}

/* Temporary allocations per stack (1.4): read onto the sites, absent in older files; a record out of
 * order, of no allocation, or past the stacks is a corrupt file. */
static void reader_reads_the_temporary_section_and_files_without_it(void **state)
{
    (void)state;
    struct ms_snap *s;
    struct ms_error err = {""};
    /* 2 records: stack 0 has 5, stack 2 (delta 2) has 300 (varint 0xac 0x02) */
    static const unsigned char ok[] = {2, 0, 5, 2, 0xac, 0x02};
    assert_int_equal(temporary_parse(ok, sizeof ok, &s, &err), MS_OK);
    assert_true(s->has_temporary);
    uint64_t got[3] = {0};
    for (uint32_t i = 0; i < s->site_count; i++)
        got[s->sites[i].stack] = s->sites[i].temp_count;
    assert_int_equal(got[0], 5);
    assert_int_equal(got[1], 0);
    assert_int_equal(got[2], 300);
    ms_snapfile_free(s);
    assert_int_equal(temporary_parse(NULL, 0, &s, &err), MS_OK);
    assert_false(s->has_temporary);
    ms_snapfile_free(s);
    static const struct {
        unsigned char p[8];
        size_t n;
        const char *why;
    } bad[] = {
        {{2, 1, 5, 0, 5}, 5, "out of order"},  /* the same stack twice */
        {{1, 1, 0}, 3, "no allocation"},       /* a zero count */
        {{1, 3, 5}, 3, "out of order"},        /* stack 3 of 3 */
        {{2, 0, 5}, 3, "cannot fit"},          /* a record missing */
        {{1, 0, 0x80}, 3, "truncated"},        /* a varint cut short */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(temporary_parse(bad[i].p, bad[i].n, &s, &err), MS_INPUT);
        if (!strstr(err.msg, "temp.snap: corrupt TEMPORARY section") || !strstr(err.msg, bad[i].why))
            fail_msg("case %zu: %s", i, err.msg);
    }
}

static void reader_reports_a_missing_file_by_name(void **state)
{
    (void)state;
    struct ms_snap *s;
    struct ms_error err = {""};
    assert_int_equal(ms_snapfile_read("/nonexistent/dir/x.snap", &s, &err), MS_INPUT);
    assert_string_equal(err.msg, "/nonexistent/dir/x.snap: cannot open: No such file or directory");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reader_reads_every_field_of_a_valid_file),
        cmocka_unit_test(reader_rejects_every_truncation_with_one_line),
        cmocka_unit_test(reader_names_the_problem_of_each_hostile_file),
        cmocka_unit_test(reader_survives_every_single_byte_corruption),
        cmocka_unit_test(reader_skips_sections_it_does_not_know),
        cmocka_unit_test(reader_reads_the_compact_format_as_the_plain_one),
        cmocka_unit_test(reader_survives_every_corruption_of_a_compressed_file),
        cmocka_unit_test(reader_reports_a_missing_file_by_name),
        cmocka_unit_test(reader_reads_the_memory_section_and_files_without_it),
        cmocka_unit_test(reader_reads_the_temporary_section_and_files_without_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
