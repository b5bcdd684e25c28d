/* ms_top_compute: the result `memsnap top` renders, checked without rendering it: live rows largest first
 * (size, then count), the rows after the limit summed as "other", rows with no live memory left out, the
 * filter flag, and heaptrack's most-temporary rows. The renderers print that result as the CLI did. */
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

static char top_dir[] = "/tmp/memsnap-top-XXXXXX";
static char top_path[128];

/* Five one-frame stacks in app, as (live bytes, live blocks, allocated bytes, allocations):
 *   0: 100 B / 1     1: 300 B / 3     2: 300 B / 2     3: none live, 50 B in 5 allocations     4: 20 B / 1
 * and temporary allocations: stack 1 has 2, stack 3 has 5. */
static void top_write(const char *path)
{
    struct snapgen *g = snapgen_new();
    snapgen_info(g, 1, MS_FMT_TRIGGER_API, "/nonexistent/app", "");
    snapgen_module(g, "/nonexistent/app", 0x400000, 0x1000, NULL, 0);
    static const uint64_t v[5][4] = {{100, 1, 100, 1}, {300, 3, 600, 6}, {300, 2, 300, 2}, {0, 0, 50, 5}, {20, 1, 20, 1}};
    for (uint32_t i = 0; i < 5; i++) {
        struct ms_fmt_frame f = {.module = 0, .offset = 0x100 + 0x10 * i};
        snapgen_stack(g, &f, 1, 0);
        snapgen_site(g, i, v[i][0], v[i][1], v[i][2], v[i][3]);
    }
    static const unsigned char temps[] = {2, 1, 2, 2, 5}; /* stack 1: 2; stack 3 (delta 2): 5 */
    snapgen_extra(g, MS_FMT_SEC_TEMPORARY, temps, sizeof temps);
    assert_int_equal(snapgen_write(g, path), 0);
    snapgen_free(g);
}

struct top_fixture {
    struct ms_snap *snap;
    struct ms_symbolizer *sym;
};

/* The snapshot read and computed with go and limit. */
static void top_open(struct top_fixture *fx, const struct ms_group_opts *go, long limit, struct ms_top *t)
{
    struct ms_error err = {""};
    struct ms_symbolize_opts so = {.quiet = true};
    top_write(top_path);
    assert_int_equal(ms_snapfile_read(top_path, &fx->snap, &err), MS_OK);
    assert_int_equal(ms_symbolize_new(&so, &fx->sym, &err), MS_OK);
    assert_int_equal(ms_top_compute(fx->sym, fx->snap, go, limit, t, &err), MS_OK);
}

static void top_close(struct top_fixture *fx)
{
    ms_symbolize_free(fx->sym);
    ms_snapfile_free(fx->snap);
    unlink(top_path);
}

static void compute_orders_live_rows_and_sums_the_others(void **state)
{
    (void)state;
    struct top_fixture fx;
    struct ms_group_opts go = {.by = MS_BY_STACK};
    struct ms_top t;
    top_open(&fx, &go, 2, &t);
    assert_false(t.filtered);
    assert_int_equal(t.count, 4); /* stack 3 has nothing live */
    assert_int_equal(t.shown, 2);
    /* 300 B in 3 blocks before 300 B in 2, then 100 B, then 20 B */
    static const uint64_t size[] = {300, 300, 100, 20}, count[] = {3, 2, 1, 1};
    for (size_t i = 0; i < t.count; i++) {
        assert_int_equal(t.rows[i]->size, size[i]);
        assert_int_equal(t.rows[i]->count, count[i]);
    }
    assert_int_equal(t.rows[0]->alloc_bytes, 600);
    assert_int_equal(t.other_size, 120);
    assert_int_equal(t.other_count, 2);
    assert_int_equal(t.g.size, 720);
    assert_int_equal(t.g.count_total, 7);
    /* most temporaries first: stack 3 (5 of 5) before stack 1 (2 of 6) */
    assert_int_equal(t.ntemps, 2);
    assert_int_equal(t.temps[0]->temp_count, 5);
    assert_int_equal(t.temps[0]->alloc_count, 5);
    assert_int_equal(t.temps[1]->temp_count, 2);
    assert_int_equal(t.g.temp_count, 7);
    ms_top_free(&t);

    /* no limit: every live row shown, nothing left for "other"; a filter is remembered for "Selected" */
    const char *const inc[] = {"*app*", NULL};
    go.include = inc;
    struct ms_error err = {""};
    assert_int_equal(ms_top_compute(fx.sym, fx.snap, &go, -1, &t, &err), MS_OK);
    assert_true(t.filtered);
    assert_int_equal(t.shown, 4);
    assert_int_equal(t.other_size, 0);
    assert_int_equal(t.other_count, 0);
    ms_top_free(&t);
    top_close(&fx);
}

/* The renderers print the computed result: the rows in its order, the "other" line, the totals. */
static void render_prints_the_computed_rows(void **state)
{
    (void)state;
    struct top_fixture fx;
    struct ms_group_opts go = {.by = MS_BY_STACK};
    struct ms_top t;
    top_open(&fx, &go, 2, &t);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    ms_top_render_text(out, &t, false, true);
    fclose(out);
    const char *first = strstr(text, "size=300 B, count=3"), *second = strstr(text, "size=300 B, count=2");
    if (!first || !second || second < first || !strstr(text, "2 other: size=120 B, count=2, average=60 B\n") ||
        !strstr(text, "Temporary: 7 of 15 allocations")) {
        fail_msg("unexpected text:\n%s", text);
    }
    free(text);
    json_t *doc = ms_top_render_json(&t, false);
    assert_non_null(doc);
    json_t *rows = json_object_get(doc, "rows");
    assert_int_equal(json_array_size(rows), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(rows, 1), "count")), 2);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(doc, "other"), "size")), 120);
    assert_int_equal(json_array_size(json_object_get(json_object_get(doc, "temporary"), "rows")), 2);
    json_decref(doc);
    ms_top_free(&t);
    top_close(&fx);
}

static int top_setup(void **state)
{
    (void)state;
    if (!mkdtemp(top_dir))
        return -1;
    snprintf(top_path, sizeof top_path, "%s/top.snap", top_dir);
    return 0;
}

static int top_teardown(void **state)
{
    (void)state;
    unlink(top_path); /* a failed check leaves it behind */
    return rmdir(top_dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(compute_orders_live_rows_and_sums_the_others),
        cmocka_unit_test(render_prints_the_computed_rows),
    };
    return cmocka_run_group_tests(tests, top_setup, top_teardown);
}
