/* Offline symbolization of this very test binary: the frames are return addresses captured here, so the
 * expected function names and lines are known from the source (__LINE__), not from the code under test. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "analyze.h"
#include "snapgen.h"
#include "tap.h"

static uintptr_t captured;
static volatile int sink;
static int outer_line, inl_line, inl_call_line;

__attribute__((noinline)) static void capture(void)
{
    captured = (uintptr_t)__builtin_return_address(0);
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static int outer_function(void)
{
    outer_line = __LINE__; capture();
    return sink + 1;
}

static inline __attribute__((always_inline)) void inlined_helper(void)
{
    inl_line = __LINE__; capture();
    sink++;
}

__attribute__((noinline)) static void calls_inlined(void)
{
    inl_call_line = __LINE__; inlined_helper();
    sink++;
}


static struct snapgen_self me;

static int setup(void **state)
{
    (void)state;
    return snapgen_self(&me) == 0 && me.build_id_len ? 0 : -1;
}

/* A snapshot with one module (path and build-id given) and one stack holding `ra`. */
static struct ms_snap *snap_of(const char *path, const unsigned char *bid, uint32_t bidlen, uint64_t base,
                               uintptr_t ra, uint64_t live)
{
    struct snapgen *g = snapgen_new();
    snapgen_module(g, path, base, 0x100000, bid, bidlen);
    struct ms_fmt_frame f = {0, 0, ra - me.base};
    snapgen_stack(g, &f, 1, 0);
    snapgen_site(g, 0, live, live / 8, live, live / 8);
    size_t len;
    unsigned char *b = snapgen_build(g, &len);
    struct ms_snap *s = NULL;
    struct ms_error err;
    if (ms_snapfile_parse(b, len, "self.snap", 0, &s, &err) != MS_OK)
        fail_msg("%s", err.msg);
    free(b);
    snapgen_free(g);
    return s;
}

static size_t resolve(struct ms_symbolizer *sym, struct ms_snap *s, const struct ms_sym_frame **out)
{
    void **h;
    struct ms_error err;
    assert_int_equal(ms_symbolize_attach(sym, s, &h, &err), MS_OK);
    size_t n = ms_symbolize_frame(sym, h, s, &s->stacks[0].frames[0], out);
    free(h);
    return n;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void symbolizer_finds_function_file_and_line(void **state)
{
    (void)state;
    outer_function();
    struct ms_snap *s = snap_of(me.path, me.build_id, me.build_id_len, me.base, captured, 64);
    struct ms_symbolizer *sym;
    struct ms_error err;
    assert_int_equal(ms_symbolize_new(NULL, &sym, &err), MS_OK);
    const struct ms_sym_frame *f;
    size_t n = resolve(sym, s, &f);
    assert_int_equal(n, 1);
    assert_string_equal(f[0].function, "outer_function");
    assert_non_null(f[0].file);
    assert_true(ends_with(f[0].file, "suites/analyzer/test_symbolize.c"));
    assert_int_equal(f[0].line, outer_line);
    assert_false(f[0].inlined);
    ms_symbolize_free(sym);
    ms_snapfile_free(s);
}

static void symbolizer_expands_inlined_frames(void **state)
{
    (void)state;
    calls_inlined();
    struct ms_snap *s = snap_of(me.path, me.build_id, me.build_id_len, me.base, captured, 64);
    struct ms_symbolizer *sym;
    struct ms_error err;
    assert_int_equal(ms_symbolize_new(NULL, &sym, &err), MS_OK);
    const struct ms_sym_frame *f;
    size_t n = resolve(sym, s, &f);
    assert_int_equal(n, 2);
    assert_string_equal(f[0].function, "inlined_helper");
    assert_int_equal(f[0].line, inl_line);
    assert_true(f[0].inlined);
    assert_string_equal(f[1].function, "calls_inlined");
    assert_int_equal(f[1].line, inl_call_line);
    assert_true(ends_with(f[1].file, "test_symbolize.c"));
    ms_symbolize_free(sym);
    ms_snapfile_free(s);
}

static void symbolizer_refuses_a_binary_whose_build_id_changed(void **state)
{
    (void)state;
    outer_function();
    unsigned char other[20] = {1, 2, 3};
    struct ms_snap *s = snap_of(me.path, other, sizeof other, me.base, captured, 64);
    struct ms_symbolize_opts o = {.quiet = true};
    struct ms_symbolizer *sym;
    struct ms_error err;
    assert_int_equal(ms_symbolize_new(&o, &sym, &err), MS_OK);
    const struct ms_sym_frame *f;
    assert_int_equal(resolve(sym, s, &f), 1);
    assert_null(f[0].function);
    assert_null(f[0].file);
    assert_int_equal(f[0].offset, captured - me.base);
    char buf[512], want[512];
    const char *base = strrchr(me.path, '/') + 1;
    snprintf(want, sizeof want, "%s+0x%llx", base, (unsigned long long)(captured - me.base));
    assert_string_equal(ms_symbolize_describe(&f[0], buf, sizeof buf), want);
    ms_symbolize_free(sym);
    ms_snapfile_free(s);
}

static void symbolizer_shows_module_offset_for_a_missing_binary(void **state)
{
    (void)state;
    outer_function();
    struct ms_snap *s = snap_of("/nonexistent/dir/app", me.build_id, me.build_id_len, me.base, captured, 64);
    struct ms_symbolize_opts o = {.quiet = true};
    struct ms_symbolizer *sym;
    struct ms_error err;
    assert_int_equal(ms_symbolize_new(&o, &sym, &err), MS_OK);
    const struct ms_sym_frame *f;
    assert_int_equal(resolve(sym, s, &f), 1);
    assert_null(f[0].function);
    ms_symbolize_free(sym);
    ms_snapfile_free(s);
}

static void symbolizer_finds_a_moved_binary_in_a_debug_dir(void **state)
{
    (void)state;
    outer_function();
    char moved[PATH_MAX + 32], dir[PATH_MAX];
    strcpy(dir, me.path);
    *strrchr(dir, '/') = 0;
    snprintf(moved, sizeof moved, "/elsewhere/bin/%s", strrchr(me.path, '/') + 1);
    struct ms_snap *s = snap_of(moved, me.build_id, me.build_id_len, me.base, captured, 64);
    const char *dirs[] = {dir, NULL};
    struct ms_symbolize_opts o = {.debug_dirs = dirs, .quiet = true};
    struct ms_symbolizer *sym;
    struct ms_error err;
    assert_int_equal(ms_symbolize_new(&o, &sym, &err), MS_OK);
    const struct ms_sym_frame *f;
    resolve(sym, s, &f);
    assert_non_null(f[0].function);
    assert_string_equal(f[0].function, "outer_function");
    assert_int_equal(f[0].line, outer_line);
    ms_symbolize_free(sym);
    ms_snapfile_free(s);
}

static void symbolizer_prefixes_module_paths_with_the_sysroot(void **state)
{
    (void)state;
    outer_function();
    char dir[PATH_MAX], recorded[PATH_MAX];
    strcpy(dir, me.path);
    *strrchr(dir, '/') = 0;
    snprintf(recorded, sizeof recorded, "/%s", strrchr(me.path, '/') + 1); /* as the target saw it */
    struct ms_snap *s = snap_of(recorded, me.build_id, me.build_id_len, me.base, captured, 64);
    struct ms_symbolize_opts o = {.sysroot = dir, .quiet = true};
    struct ms_symbolizer *sym;
    struct ms_error err;
    assert_int_equal(ms_symbolize_new(&o, &sym, &err), MS_OK);
    const struct ms_sym_frame *f;
    resolve(sym, s, &f);
    assert_non_null(f[0].function);
    assert_string_equal(f[0].function, "outer_function");
    assert_string_equal(f[0].module, recorded); /* shown as recorded, not as found */
    ms_symbolize_free(sym);
    ms_snapfile_free(s);
}

static void diff_matches_rows_across_different_load_addresses(void **state)
{
    (void)state;
    outer_function();
    /* Two "runs": the same binary at two load addresses, the same site grew from 800 to 2400 bytes. */
    struct ms_snap *a = snap_of(me.path, me.build_id, me.build_id_len, 0x555500000000ull, captured, 800);
    struct ms_snap *b = snap_of(me.path, me.build_id, me.build_id_len, 0x5612abcd0000ull, captured, 2400);
    struct ms_symbolizer *sym;
    struct ms_error err;
    struct ms_diff *d;
    assert_int_equal(ms_symbolize_new(NULL, &sym, &err), MS_OK);
    assert_int_equal(ms_diff_compute(sym, a, b, NULL, &d, &err), MS_OK);
    assert_int_equal(d->count, 1);
    assert_int_equal(d->rows[0].size, 2400);
    assert_int_equal(d->rows[0].size_diff, 1600);
    assert_int_equal(d->rows[0].count_diff, 200);
    char want[64];
    snprintf(want, sizeof want, "test_symbolize.c:%d", outer_line);
    assert_true(ends_with(d->rows[0].label, want));
    assert_int_equal(ms_diff_total(d)->size_diff, 1600);
    ms_diff_free(d);
    ms_symbolize_free(sym);
    ms_snapfile_free(a);
    ms_snapfile_free(b);
}

static void demangler_turns_cxx_names_readable(void **state)
{
    (void)state;
    char *s = ms_symbolize_demangle("_ZN3foo3barEi");
    if (!s)
        ms_tap_skip("no libstdc++ to borrow __cxa_demangle from");
    assert_string_equal(s, "foo::bar(int)");
    free(s);
    assert_null(ms_symbolize_demangle("main"));
    assert_null(ms_symbolize_demangle("_Znot a name"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(symbolizer_finds_function_file_and_line),
        cmocka_unit_test(symbolizer_expands_inlined_frames),
        cmocka_unit_test(symbolizer_refuses_a_binary_whose_build_id_changed),
        cmocka_unit_test(symbolizer_shows_module_offset_for_a_missing_binary),
        cmocka_unit_test(symbolizer_finds_a_moved_binary_in_a_debug_dir),
        cmocka_unit_test(symbolizer_prefixes_module_paths_with_the_sysroot),
        cmocka_unit_test(diff_matches_rows_across_different_load_addresses),
        cmocka_unit_test(demangler_turns_cxx_names_readable),
    };
    return ms_tap_run_group(tests, setup, NULL);
}
