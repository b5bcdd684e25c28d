/* `memsnap leaks` counts stacks, not rows: a stack whose blocks fall in two kinds (a lost structure's head
 * and its children, allocated from one line) is one stack in the lost total and one in the suppressed
 * figures, in JSON and in the text SUMMARY, while each kind still counts it among its own stacks. The
 * computed result (ms_leaks_compute) holds the same figures before any rendering. */
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

static char report_dir[] = "/tmp/memsnap-leaks-report-XXXXXX";

/* Four stacks, each with one frame: stack 0 in libsupp.so (for the suppression case), the others in app.
 *   stack 0: 100 B in 1 definitely lost, 200 B in 2 indirectly lost
 *   stack 1:                              50 B in 1 indirectly lost, 70 B in 1 still reachable
 *   stack 2:  30 B in 1 definitely lost
 *   stack 3:                                                         40 B in 1 still reachable */
static void report_write(const char *path)
{
    struct snapgen *g = snapgen_new();
    snapgen_flags(g, MS_FMT_FLAG_AT_EXIT);
    snapgen_info(g, 1, MS_FMT_TRIGGER_EXIT, "/nonexistent/app", "");
    snapgen_module(g, "/nonexistent/app", 0x400000, 0x1000, NULL, 0);
    snapgen_module(g, "/nonexistent/libsupp.so", 0x7f0000000000ull, 0x1000, NULL, 0);
    static const uint64_t live[4][2] = {{300, 3}, {120, 2}, {30, 1}, {40, 1}};
    for (uint32_t i = 0; i < 4; i++) {
        struct ms_fmt_frame f = {.module = i == 0, .offset = 0x100 + i};
        snapgen_stack(g, &f, 1, 0);
        snapgen_site(g, i, live[i][0], live[i][1], live[i][0], live[i][1]);
    }
    struct {
        struct ms_fmt_leaks h;
        struct ms_fmt_leak r[4];
    } p;
    memset(&p, 0, sizeof p);
    p.h = (struct ms_fmt_leaks){.count = 4, .scanned_blocks = 8, .scan_ns = 1000};
    p.r[0] = (struct ms_fmt_leak){.stack = 0, .lost_bytes = 100, .lost_count = 1, .indirect_bytes = 200,
                                  .indirect_count = 2};
    p.r[1] = (struct ms_fmt_leak){.stack = 1, .indirect_bytes = 50, .indirect_count = 1, .reachable_bytes = 70,
                                  .reachable_count = 1};
    p.r[2] = (struct ms_fmt_leak){.stack = 2, .lost_bytes = 30, .lost_count = 1};
    p.r[3] = (struct ms_fmt_leak){.stack = 3, .reachable_bytes = 40, .reachable_count = 1};
    snapgen_extra(g, MS_FMT_SEC_LEAKS, &p, sizeof p);
    assert_int_equal(snapgen_write(g, path), 0);
    snapgen_free(g);
}

/* `memsnap leaks` through the CLI's entry point; returns the malloc'd output. */
static char *report_run(const char *path, enum ms_output_format format, const char *suppressions,
                        bool show_reachable)
{
    char *buf = NULL;
    size_t len = 0;
    char *inputs[] = {(char *)path, NULL};
    struct ms_cli cli = {.format = format, .bytes = true, .limit = -1, .inputs = inputs, .input_count = 1,
                         .suppressions = suppressions, .no_default_suppressions = true,
                         .show_reachable = show_reachable, .sym = {.quiet = true}};
    cli.out = open_memstream(&buf, &len);
    assert_non_null(cli.out);
    struct ms_error err = {""};
    enum ms_status r = ms_leaks_main(&cli, &err);
    fclose(cli.out);
    if (r != MS_OK) {
        fail_msg("leaks failed (%d): %s", (int)r, err.msg);
    }
    return buf;
}

static json_t *report_json(const char *text)
{
    json_error_t je;
    json_t *root = json_loads(text, 0, &je);
    if (!root) {
        fail_msg("not JSON (%s):\n%s", je.text, text);
    }
    return root;
}

/* obj (a path of keys below root) must equal {"size": size, "count": count, "stacks": stacks}. */
static void report_expect_sum(json_t *obj, const char *where, json_int_t size, json_int_t count, json_int_t stacks)
{
    json_t *want = json_pack("{s:I, s:I, s:I}", "size", size, "count", count, "stacks", stacks);
    if (!json_equal(obj, want)) {
        char *got = obj ? json_dumps(obj, JSON_SORT_KEYS) : NULL;
        fail_msg("%s: got %s, want size %lld count %lld stacks %lld", where, got ? got : "(missing)",
                 (long long)size, (long long)count, (long long)stacks);
    }
    json_decref(want);
}

static void report_expect_text(const char *out, const char *want)
{
    if (!strstr(out, want)) {
        fail_msg("output lacks '%s':\n%s", want, out);
    }
}

static void json_total_counts_a_stack_lost_in_two_kinds_once(void **state)
{
    (void)state;
    char path[96];
    snprintf(path, sizeof path, "%s/kinds.snap", report_dir);
    report_write(path);
    for (int show = 0; show < 2; show++) {
        char *out = report_run(path, MS_OUT_JSON, NULL, show);
        json_t *root = report_json(out);
        json_t *kinds = json_object_get(root, "kinds");
        report_expect_sum(json_object_get(kinds, "definitely_lost"), "kinds.definitely_lost", 130, 2, 2);
        report_expect_sum(json_object_get(kinds, "indirectly_lost"), "kinds.indirectly_lost", 250, 3, 2);
        report_expect_sum(json_object_get(kinds, "still_reachable"), "kinds.still_reachable", 110, 2, 2);
        /* stacks 0, 1 and 2 hold lost blocks: three stacks, though four rows list them */
        report_expect_sum(json_object_get(root, "total"), "total", 380, 5, 3);
        json_decref(root);
        free(out);
    }
    unlink(path);
}

static void a_suppressed_stack_in_two_kinds_counts_once(void **state)
{
    (void)state;
    char path[96], supp[96];
    snprintf(path, sizeof path, "%s/supp.snap", report_dir);
    snprintf(supp, sizeof supp, "%s/supp.txt", report_dir);
    report_write(path);
    FILE *f = fopen(supp, "w");
    assert_non_null(f);
    fputs("leak:libsupp.so\n", f);
    assert_int_equal(fclose(f), 0);

    char *out = report_run(path, MS_OUT_JSON, supp, false);
    json_t *root = report_json(out);
    report_expect_sum(json_object_get(root, "suppressed"), "suppressed", 300, 3, 1);
    json_t *s0 = json_array_get(json_object_get(root, "suppressions"), 0);
    assert_non_null(s0);
    assert_string_equal(json_string_value(json_object_get(s0, "pattern")), "libsupp.so");
    assert_int_equal(json_integer_value(json_object_get(s0, "stacks")), 1);
    report_expect_sum(json_object_get(root, "total"), "total (stack 0 suppressed)", 80, 2, 2);
    json_decref(root);
    free(out);

    out = report_run(path, MS_OUT_TEXT, supp, false);
    report_expect_text(out, "SUMMARY: definitely lost: 30 B in 1 block from 1 stack; indirectly lost: 50 B in 1 "
                            "block from 1 stack; still reachable: 110 B in 2 blocks from 2 stacks (--show-reachable "
                            "lists them); suppressed: 300 B in 3 blocks from 1 stack\n");
    free(out);
    unlink(supp);
    unlink(path);
}

static void text_summary_counts_each_kind_own_stacks(void **state)
{
    (void)state;
    char path[96];
    snprintf(path, sizeof path, "%s/text.snap", report_dir);
    report_write(path);
    char *out = report_run(path, MS_OUT_TEXT, NULL, true);
    report_expect_text(out, "SUMMARY: definitely lost: 130 B in 2 blocks from 2 stacks; indirectly lost: 250 B in 3 "
                            "blocks from 2 stacks; still reachable: 110 B in 2 blocks from 2 stacks; suppressed: 0 B "
                            "in 0 blocks from 0 stacks\n");
    free(out);
    unlink(path);
}

static void compute_sums_kinds_and_orders_entries_without_rendering(void **state)
{
    (void)state;
    char path[96];
    snprintf(path, sizeof path, "%s/compute.snap", report_dir);
    report_write(path);
    struct ms_snap *snap = NULL;
    struct ms_symbolizer *sym = NULL;
    struct ms_suppressions *sup = NULL;
    struct ms_error err = {""};
    struct ms_symbolize_opts so = {.quiet = true};
    assert_int_equal(ms_snapfile_read(path, &snap, &err), MS_OK);
    assert_int_equal(ms_symbolize_new(&so, &sym, &err), MS_OK);
    assert_int_equal(ms_leaks_suppressions_load(NULL, false, &sup, &err), MS_OK);
    struct ms_leaks l;
    struct ms_leaks_opts o = {.show_reachable = false};
    assert_int_equal(ms_leaks_compute(sym, snap, sup, &o, &l, &err), MS_OK);
    assert_true(l.scanned);
    assert_int_equal(l.kinds[MS_LEAKS_DEFINITE].bytes, 130);
    assert_int_equal(l.kinds[MS_LEAKS_INDIRECT].blocks, 3);
    assert_int_equal(l.kinds[MS_LEAKS_REACHABLE].stacks, 2); /* counted, not listed */
    assert_int_equal(l.lost.bytes, 380);
    assert_int_equal(l.lost.stacks, 3);
    /* Listed: the lost kinds only, each largest first: definite 100, 30; indirect 200, 50. */
    assert_int_equal(l.count, 4);
    static const uint64_t sizes[] = {100, 30, 200, 50};
    static const enum ms_leaks_kind kinds[] = {MS_LEAKS_DEFINITE, MS_LEAKS_DEFINITE, MS_LEAKS_INDIRECT,
                                               MS_LEAKS_INDIRECT};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(l.entries[i].row->size, sizes[i]);
        assert_int_equal(l.entries[i].kind, kinds[i]);
    }
    char *gate = NULL;
    size_t gate_len = 0;
    FILE *report = open_memstream(&gate, &gate_len);
    assert_non_null(report);
    assert_int_equal(ms_leaks_gate(&l, true, report), MS_GATE);
    fclose(report);
    report_expect_text(gate, "gate --fail crossed: definitely lost: 130 B in 2 blocks from 2 stacks");
    free(gate);
    ms_leaks_free(&l);
    ms_leaks_suppressions_free(sup);
    ms_symbolize_free(sym);
    ms_snapfile_free(snap);
    unlink(path);
}

static int report_setup(void **state)
{
    (void)state;
    return mkdtemp(report_dir) ? 0 : -1;
}

static int report_teardown(void **state)
{
    (void)state;
    /* A failed check leaves its files behind. */
    static const char *const names[] = {"kinds.snap", "supp.snap", "supp.txt", "text.snap", "compute.snap"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[96];
        snprintf(path, sizeof path, "%s/%s", report_dir, names[i]);
        unlink(path);
    }
    return rmdir(report_dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_total_counts_a_stack_lost_in_two_kinds_once),
        cmocka_unit_test(a_suppressed_stack_in_two_kinds_counts_once),
        cmocka_unit_test(text_summary_counts_each_kind_own_stacks),
        cmocka_unit_test(compute_sums_kinds_and_orders_entries_without_rendering),
    };
    return cmocka_run_group_tests(tests, report_setup, report_teardown);
}
