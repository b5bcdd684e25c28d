/* The in-process diff API a memory test uses: two files in, tracemalloc-style rows and a total out. */
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

static char dir[] = "/tmp/memsnap-diffapi-XXXXXX";
static char old_path[64], new_path[64];

/* Frames in a binary that is not there: labels fall back to module+offset, which is exact. */
static void write_snap(const char *path, const uint64_t *offsets, const uint64_t *live, const uint64_t *count, int n)
{
    struct snapgen *g = snapgen_new();
    snapgen_module(g, "/nonexistent/app", 0x400000, 0x10000, NULL, 0);
    for (int i = 0; i < n; i++) {
        struct ms_fmt_frame f = {0, 0, offsets[i]};
        uint32_t st = snapgen_stack(g, &f, 1, 0);
        snapgen_site(g, st, live[i], count[i], live[i] + 64, count[i] + 1);
    }
    assert_int_equal(snapgen_write(g, path), 0);
    snapgen_free(g);
}

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(dir))
        return -1;
    snprintf(old_path, sizeof old_path, "%s/old.snap", dir);
    snprintf(new_path, sizeof new_path, "%s/new.snap", dir);
    const uint64_t off_a[] = {0x100, 0x200, 0x300}, live_a[] = {1000, 500, 0}, cnt_a[] = {10, 5, 0};
    const uint64_t off_b[] = {0x100, 0x200, 0x400}, live_b[] = {3000, 0, 100}, cnt_b[] = {30, 0, 1};
    write_snap(old_path, off_a, live_a, cnt_a, 3);
    write_snap(new_path, off_b, live_b, cnt_b, 3);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(old_path);
    unlink(new_path);
    rmdir(dir);
    return 0;
}

static char *print_to_string(const struct ms_diff *d, long limit, unsigned flags)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ms_diff_print(d, f, limit, flags);
    fclose(f);
    return buf;
}

static void diff_files_prints_rows_by_size_change_then_the_total(void **state)
{
    (void)state;
    struct ms_diff *d;
    struct ms_error err;
    assert_int_equal(ms_diff_files(old_path, new_path, NULL, &d, &err), MS_OK);
    char *text = print_to_string(d, -1, 0);
    assert_string_equal(text, "app+0x100: size=3000 B (+2000 B), count=30 (+20), average=100 B\n"
                              "app+0x200: size=0 B (-500 B), count=0 (-5)\n"
                              "app+0x400: size=100 B (+100 B), count=1 (+1), average=100 B\n"
                              "Total: size=3100 B (+1600 B), count=31 (+16), average=100 B\n");
    free(text);
    text = print_to_string(d, 1, MS_DIFF_PRINT_BYTES);
    assert_string_equal(text, "app+0x100: size=3000 B (+2000 B), count=30 (+20), average=100 B\n"
                              "Total: size=3100 B (+1600 B), count=31 (+16), average=100 B\n");
    free(text);
    assert_int_equal(ms_diff_total(d)->size_diff, 1600);
    assert_int_equal(d->count, 3);
    ms_diff_free(d);
}

static void diff_files_filters_by_pattern(void **state)
{
    (void)state;
    const char *exclude[] = {"app", NULL};
    struct ms_group_opts o = {.by = MS_BY_LINE, .exclude = exclude};
    struct ms_diff *d;
    struct ms_error err;
    assert_int_equal(ms_diff_files(old_path, new_path, &o, &d, &err), MS_OK);
    assert_int_equal(d->count, 0);
    assert_int_equal(ms_diff_total(d)->size_diff, 0);
    ms_diff_free(d);
}

static void diff_files_names_the_unreadable_file(void **state)
{
    (void)state;
    struct ms_diff *d;
    struct ms_error err;
    assert_int_equal(ms_diff_files(old_path, "/nonexistent/new.snap", NULL, &d, &err), MS_INPUT);
    assert_string_equal(err.msg, "/nonexistent/new.snap: cannot open: No such file or directory");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(diff_files_prints_rows_by_size_change_then_the_total),
        cmocka_unit_test(diff_files_filters_by_pattern),
        cmocka_unit_test(diff_files_names_the_unreadable_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
