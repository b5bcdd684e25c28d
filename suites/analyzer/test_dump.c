/* `memsnap dump` shows the LEAKS section (format 1.1) as stored: the scan's prefix and every record, in text
 * and JSON; a file without the section says that reachability is unknown (text) or has "leaks": null. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "analyze.h"
#include "snapgen.h"

static char dump_dir[] = "/tmp/memsnap-dump-XXXXXX";

/* A file with 3 stacks; with a LEAKS section of two records (stacks 2 and 0, out of order) when `leaks`. */
static void dump_write(const char *path, int leaks)
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
    if (leaks) {
        struct {
            struct ms_fmt_leaks h;
            struct ms_fmt_leak r[2];
        } p;
        memset(&p, 0, sizeof p);
        p.h = (struct ms_fmt_leaks){.count = 2, .threads_unknown = 3, .scanned_blocks = 7, .skipped_blocks = 1,
                                    .scan_ns = 1234};
        p.r[0] = (struct ms_fmt_leak){.stack = 2, .lost_bytes = 200, .lost_count = 2, .reachable_bytes = 100,
                                      .reachable_count = 1};
        p.r[1] = (struct ms_fmt_leak){.stack = 0, .indirect_bytes = 90, .indirect_count = 1};
        snapgen_extra(g, MS_FMT_SEC_LEAKS, &p, sizeof p);
    }
    assert_int_equal(snapgen_write(g, path), 0);
    snapgen_free(g);
}

/* `memsnap dump PATH` through the CLI's entry point; returns the malloc'd output. */
static char *dump_run(const char *path, enum ms_output_format format)
{
    char *buf = NULL;
    size_t len = 0;
    char *inputs[] = {(char *)path, NULL};
    struct ms_cli cli = {.format = format, .limit = 10, .inputs = inputs, .input_count = 1};
    cli.out = open_memstream(&buf, &len);
    assert_non_null(cli.out);
    struct ms_error err = {""};
    enum ms_status r = ms_dump_main(&cli, &err);
    fclose(cli.out);
    if (r != MS_OK) {
        fail_msg("dump failed: %s", err.msg);
    }
    return buf;
}

static void text_dump_lists_the_scan_and_every_record(void **state)
{
    (void)state;
    char path[64];
    snprintf(path, sizeof path, "%s/leaks.snap", dump_dir);
    dump_write(path, 1);
    char *out = dump_run(path, MS_OUT_TEXT);
    const char *want[] = {
        "\nleaks 2 threads_unknown 3 scanned_blocks 7 skipped_blocks 1 scan_ns 1234\n",
        "\n  stack 0 lost 0 B in 0, indirect 90 B in 1, reachable 0 B in 0\n",
        "\n  stack 2 lost 200 B in 2, indirect 0 B in 0, reachable 100 B in 1\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (!strstr(out, want[i])) {
            fail_msg("dump lacks '%s':\n%s", want[i], out);
        }
    }
    free(out);
    unlink(path);
}

static void text_dump_says_when_there_is_no_leaks_section(void **state)
{
    (void)state;
    char path[64];
    snprintf(path, sizeof path, "%s/none.snap", dump_dir);
    dump_write(path, 0);
    char *out = dump_run(path, MS_OUT_TEXT);
    if (!strstr(out, "\nleaks none (no LEAKS section: reachability unknown)\n")) {
        fail_msg("dump does not say the section is absent:\n%s", out);
    }
    free(out);
    unlink(path);
}

static json_int_t dump_int(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v)) {
        fail_msg("'%s' is missing or not an integer", key);
    }
    return json_integer_value(v);
}

static void json_dump_carries_the_leaks_section(void **state)
{
    (void)state;
    char path[64];
    snprintf(path, sizeof path, "%s/leaks.snap", dump_dir);
    dump_write(path, 1);
    char *out = dump_run(path, MS_OUT_JSON);
    json_error_t je;
    json_t *root = json_loads(out, 0, &je);
    assert_non_null(root);
    json_t *l = json_object_get(root, "leaks");
    assert_true(json_is_object(l));
    assert_int_equal(dump_int(l, "threads_unknown"), 3);
    assert_int_equal(dump_int(l, "scanned_blocks"), 7);
    assert_int_equal(dump_int(l, "skipped_blocks"), 1);
    assert_int_equal(dump_int(l, "scan_ns"), 1234);
    json_t *recs = json_object_get(l, "records");
    assert_int_equal(json_array_size(recs), 2);
    json_t *r0 = json_array_get(recs, 0), *r1 = json_array_get(recs, 1);
    assert_int_equal(dump_int(r0, "stack"), 0);
    assert_int_equal(dump_int(r0, "indirect_bytes"), 90);
    assert_int_equal(dump_int(r0, "indirect_count"), 1);
    assert_int_equal(dump_int(r0, "lost_bytes"), 0);
    assert_int_equal(dump_int(r1, "stack"), 2);
    assert_int_equal(dump_int(r1, "lost_bytes"), 200);
    assert_int_equal(dump_int(r1, "lost_count"), 2);
    assert_int_equal(dump_int(r1, "reachable_bytes"), 100);
    assert_int_equal(dump_int(r1, "reachable_count"), 1);
    json_decref(root);
    free(out);

    snprintf(path, sizeof path, "%s/none.snap", dump_dir);
    dump_write(path, 0);
    out = dump_run(path, MS_OUT_JSON);
    root = json_loads(out, 0, &je);
    assert_non_null(root);
    l = json_object_get(root, "leaks");
    assert_non_null(l); /* present, and null */
    assert_true(json_is_null(l));
    json_decref(root);
    free(out);
}

static int dump_setup(void **state)
{
    (void)state;
    return mkdtemp(dump_dir) ? 0 : -1;
}

static int dump_teardown(void **state)
{
    (void)state;
    char path[64];
    snprintf(path, sizeof path, "%s/leaks.snap", dump_dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/none.snap", dump_dir);
    unlink(path);
    return rmdir(dump_dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(text_dump_lists_the_scan_and_every_record),
        cmocka_unit_test(text_dump_says_when_there_is_no_leaks_section),
        cmocka_unit_test(json_dump_carries_the_leaks_section),
    };
    return cmocka_run_group_tests(tests, dump_setup, dump_teardown);
}
