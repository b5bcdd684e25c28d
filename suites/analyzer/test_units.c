/* Small rules with exact expected values: tracemalloc's size format, size arguments, the growth rule,
 * LeakSanitizer's pattern match, suppression files, diff rows, error bars of sampled estimates. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "analyze.h"

static void unwinder_values_have_names_and_others_are_unknown(void **state)
{
    (void)state;
    assert_string_equal(ms_snapfile_unwinder_name(MS_FMT_UNWINDER_DWARF), "dwarf");
    assert_string_equal(ms_snapfile_unwinder_name(MS_FMT_UNWINDER_FP), "fp");
    assert_string_equal(ms_snapfile_unwinder_name(MS_FMT_UNWINDER_LIBUNWIND), "libunwind");
    assert_string_equal(ms_snapfile_unwinder_name(7), "unknown");
}

static void size_format_matches_tracemalloc_examples(void **state)
{
    (void)state;
    char b[64];
    /* The anchors' examples (reference/snapshot-diff-anchors.md). */
    assert_string_equal(ms_size_format(b, sizeof b, 10239, false, false), "10239 B");
    assert_string_equal(ms_size_format(b, sizeof b, 10240, false, false), "10.0 KiB");
    assert_string_equal(ms_size_format(b, sizeof b, 101888, false, false), "99.5 KiB");
    assert_string_equal(ms_size_format(b, sizeof b, 102400, false, false), "100 KiB");
    assert_string_equal(ms_size_format(b, sizeof b, 10485760, false, false), "10.0 MiB");
    assert_string_equal(ms_size_format(b, sizeof b, 0, false, false), "0 B");
    assert_string_equal(ms_size_format(b, sizeof b, 99, false, false), "99 B");
    /* Python's "%.0f" rounds half to even, on the binary value. */
    assert_string_equal(ms_size_format(b, sizeof b, 2.5, false, false), "2 B");
    assert_string_equal(ms_size_format(b, sizeof b, 1024.0 * 1024 * 1024 * 1024 * 20000, false, false),
                        "20000 TiB");
}

static void size_format_signed_variant_prints_the_sign(void **state)
{
    (void)state;
    char b[64];
    assert_string_equal(ms_size_format(b, sizeof b, 241664, true, false), "+236 KiB");
    assert_string_equal(ms_size_format(b, sizeof b, -8266, true, false), "-8266 B");
    assert_string_equal(ms_size_format(b, sizeof b, 0, true, false), "+0 B");
    assert_string_equal(ms_size_format(b, sizeof b, -10240, true, false), "-10.0 KiB");
    assert_string_equal(ms_size_format(b, sizeof b, 241664, true, true), "+241664 B");
    assert_string_equal(ms_size_format(b, sizeof b, 241664, false, true), "241664 B");
}

static void size_arguments_parse_with_binary_units(void **state)
{
    (void)state;
    long long v;
    assert_true(ms_size_parse("100", &v));
    assert_int_equal(v, 100);
    assert_true(ms_size_parse("64KiB", &v));
    assert_int_equal(v, 65536);
    assert_true(ms_size_parse("1.5M", &v));
    assert_int_equal(v, 1572864);
    assert_true(ms_size_parse("2 GiB", &v));
    assert_int_equal(v, 2147483648ll);
    assert_true(ms_size_parse("10kb", &v));
    assert_int_equal(v, 10240);
    assert_false(ms_size_parse("", &v));
    assert_false(ms_size_parse("-5", &v));
    assert_false(ms_size_parse("12 apples", &v));
    assert_false(ms_size_parse("1e30", &v));
}

static void growth_rule_separates_unbounded_from_bounded(void **state)
{
    (void)state;
    const uint64_t leak3[] = {0, 100, 200};
    const uint64_t leak7[] = {0, 100, 200, 300, 400, 500, 600};
    const uint64_t noisy_leak[] = {0, 100, 200, 190, 300, 400, 500, 600, 700}; /* one dip in 8 intervals */
    const uint64_t plateau[] = {0, 100, 200, 300, 300, 300, 300};
    const uint64_t lru[] = {0, 150, 150, 150, 150, 150};
    const uint64_t filled_late_stop[] = {0, 100, 200, 300, 400, 400};
    const uint64_t steady[] = {5, 5, 5, 5};
    const uint64_t once_then_flat3[] = {0, 100, 100};
    /* One fall at the end does not undo a significant rising trend (a sawtooth's last phase). */
    const uint64_t drop_at_end[] = {0, 100, 200, 300, 250};
    const uint64_t churn[] = {100, 50, 120, 60, 130, 40};
    /* Dips in 5 of 11 intervals, but the floor rises with the peaks. */
    const uint64_t sawtooth[] = {141, 75, 216, 150, 291, 225, 366, 300, 441, 375, 516, 450};
    /* Peaks fall and floors rise: it converges. */
    const uint64_t converging[] = {100, 20, 90, 40, 80, 55, 75, 60, 72, 65, 70, 67};
    /* Keeps doubling: the flat run since the last step is no longer than the one before it, twice. */
    const uint64_t doubling[] = {2, 4, 8, 8, 8, 16, 16, 16, 16, 16, 32, 32};
    const uint64_t doubled_long_ago[] = {2, 4, 8, 8, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16};
    assert_int_equal(ms_growth_classify(leak3, 3), MS_GROWTH_UNBOUNDED);
    assert_int_equal(ms_growth_classify(leak7, 7), MS_GROWTH_UNBOUNDED);
    assert_int_equal(ms_growth_classify(noisy_leak, 9), MS_GROWTH_UNBOUNDED);
    assert_int_equal(ms_growth_classify(plateau, 7), MS_GROWTH_BOUNDED);
    assert_int_equal(ms_growth_classify(lru, 6), MS_GROWTH_BOUNDED);
    assert_int_equal(ms_growth_classify(filled_late_stop, 6), MS_GROWTH_UNBOUNDED);
    assert_int_equal(ms_growth_classify(steady, 4), MS_GROWTH_STEADY);
    assert_int_equal(ms_growth_classify(once_then_flat3, 3), MS_GROWTH_BOUNDED);
    assert_int_equal(ms_growth_classify(drop_at_end, 5), MS_GROWTH_UNBOUNDED);
    assert_int_equal(ms_growth_classify(churn, 6), MS_GROWTH_BOUNDED);
    assert_int_equal(ms_growth_classify(sawtooth, 12), MS_GROWTH_UNBOUNDED);
    assert_int_equal(ms_growth_classify(converging, 12), MS_GROWTH_BOUNDED);
    assert_int_equal(ms_growth_classify(doubling, 12), MS_GROWTH_UNBOUNDED);
    assert_int_equal(ms_growth_classify(doubled_long_ago, 14), MS_GROWTH_BOUNDED);
    struct ms_growth_trend t;
    ms_growth_trend(leak7, 7, &t);
    /* S = 21 (every pair rises), Var(S) = 7*6*19/18 = 44.33, Z = 20/sqrt(44.33); Sen's slope 100. */
    assert_int_equal(t.mk_s, 21);
    assert_true(t.mk_z > 3.003 && t.mk_z < 3.004);
    assert_true(t.sen_slope == 100.0);
    assert_int_equal(t.since_record, 0);
    ms_growth_trend(plateau, 7, &t);
    assert_int_equal(t.record_gap, 1);
    assert_int_equal(t.since_record, 3);
    assert_true(t.plateau);
}

static void template_arguments_are_shortened_for_display(void **state)
{
    (void)state;
    char b[256];
    const char *plain = "make_node at /src/a.c:12";
    assert_ptr_equal(ms_symbolize_shorten(plain, b, sizeof b), plain);
    assert_string_equal(ms_symbolize_shorten("std::vector<int, std::allocator<int> >::push_back(int const&)", b,
                                             sizeof b),
                        "std::vector<>::push_back(int const&)");
    assert_string_equal(ms_symbolize_shorten("std::map<int, std::__cxx11::basic_string<char> >::operator[](int&&)",
                                             b, sizeof b),
                        "std::map<>::operator[](int&&)");
    /* Operators spelled with angle brackets are not template arguments. */
    assert_string_equal(ms_symbolize_shorten("bool operator< <Key>(Key const&, Key const&)", b, sizeof b),
                        "bool operator< <>(Key const&, Key const&)");
    assert_string_equal(ms_symbolize_shorten("std::ostream::operator<<(int)", b, sizeof b),
                        "std::ostream::operator<<(int)");
    assert_string_equal(ms_symbolize_shorten("Ptr<T>::operator->() const", b, sizeof b), "Ptr<>::operator->() const");
    assert_string_equal(ms_symbolize_shorten("<no stack>", b, sizeof b), "<no stack>");
    /* A small buffer truncates, never overflows. */
    assert_string_equal(ms_symbolize_shorten("std::vector<int>::push_back", b, 8), "std::");
}

static void leak_patterns_follow_leaksanitizer_matching(void **state)
{
    (void)state;
    assert_true(ms_leaks_match("foo", "xfoox"));
    assert_false(ms_leaks_match("^foo", "xfoo"));
    assert_true(ms_leaks_match("^foo", "foobar"));
    assert_true(ms_leaks_match("foo$", "afoo"));
    assert_false(ms_leaks_match("foo$", "foob"));
    assert_true(ms_leaks_match("a*c", "xxabbbcyy"));
    assert_false(ms_leaks_match("a*c", "cba"));
    assert_true(ms_leaks_match("^_nl_", "_nl_find_locale"));
    assert_true(ms_leaks_match("libfoo.so", "/usr/lib/libfoo.so.1"));
    assert_false(ms_leaks_match("x", ""));
    assert_false(ms_leaks_match("x", NULL));
}

static void suppression_files_name_the_bad_line(void **state)
{
    (void)state;
    char path[] = "/tmp/memsnap-supp-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char text[] = "# comment\n\nleak:make_node\nrace:foo\n";
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    struct ms_suppressions *s = NULL;
    struct ms_error err = {""};
    assert_int_equal(ms_leaks_suppressions_load(path, false, &s, &err), MS_INPUT);
    char want[256];
    snprintf(want, sizeof want, "%s:4: not a suppression (expected leak:PATTERN): race:foo", path);
    assert_string_equal(err.msg, want);
    unlink(path);
}

static void suppressions_match_any_frame_of_a_stack(void **state)
{
    (void)state;
    char path[] = "/tmp/memsnap-supp-XXXXXX";
    int fd = mkstemp(path);
    const char text[] = "leak:^make_*$\n";
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    struct ms_suppressions *s = NULL;
    struct ms_error err = {""};
    assert_int_equal(ms_leaks_suppressions_load(path, false, &s, &err), MS_OK);
    struct ms_sym_frame a = {.function = "xmalloc", .module = "/usr/bin/app"};
    struct ms_sym_frame b = {.function = "make_node", .file = "/src/a.c", .line = 3, .module = "/usr/bin/app"};
    struct ms_sym_frame c = {.function = "main", .module = "/usr/bin/app"};
    const struct ms_sym_frame *hit[] = {&a, &b, &c}, *miss[] = {&a, &c};
    assert_int_equal(ms_leaks_suppressed(s, hit, 3), 0);
    assert_int_equal(ms_leaks_suppressed(s, miss, 2), -1);
    ms_leaks_suppressions_free(s);
    unlink(path);
}

static void builtin_suppressions_cover_runtime_only_stacks(void **state)
{
    (void)state;
    struct ms_suppressions *s = NULL;
    struct ms_error err = {""};
    assert_int_equal(ms_leaks_suppressions_load(NULL, true, &s, &err), MS_OK);
    struct ms_sym_frame ld = {.function = "_dl_new_object", .module = "/lib64/ld-linux-x86-64.so.2", .runtime = true};
    struct ms_sym_frame pool = {.function = "something", .module = "/lib/x86_64-linux-gnu/libstdc++.so.6",
                                .runtime = true};
    struct ms_sym_frame app = {.function = "main", .module = "/usr/bin/app"};
    struct ms_sym_frame buf = {.function = "_IO_file_doallocate", .module = "/lib/x86_64-linux-gnu/libc.so.6",
                               .runtime = true};
    const struct ms_sym_frame *runtime[] = {&pool, &ld}, *user[] = {&pool, &app}, *stdio[] = {&buf, &app};
    assert_true(ms_leaks_suppressed(s, runtime, 2) >= 0);
    assert_int_equal(ms_leaks_suppressed(s, user, 2), -1);
    assert_true(ms_leaks_suppressed(s, stdio, 2) >= 0);
    ms_leaks_suppressions_free(s);
}

static void diff_rows_render_the_tracemalloc_way(void **state)
{
    (void)state;
    char b[256];
    struct ms_diff_row grew = {.label = "processor.c:88", .size = 241800, .size_diff = 241800, .count = 1001,
                               .count_diff = 1001};
    assert_string_equal(ms_diff_format_row(&grew, false, b, sizeof b),
                        "processor.c:88: size=236 KiB (+236 KiB), count=1001 (+1001), average=242 B");
    struct ms_diff_row freed = {.label = "a.c:5", .size = 0, .size_diff = -8266, .count = 0, .count_diff = -101};
    assert_string_equal(ms_diff_format_row(&freed, false, b, sizeof b), "a.c:5: size=0 B (-8266 B), count=0 (-101)");
    assert_string_equal(ms_diff_format_row(&grew, true, b, sizeof b),
                        "processor.c:88: size=241800 B (+241800 B), count=1001 (+1001), average=242 B");
}

/* The preload's sampling, simulated: each of N blocks of size s is recorded with p = 1 - exp(-s/rate) and
 * weighted as tracker.c does (rounded s/p bytes, 1/p blocks). Over 2000 runs per case the estimates average
 * to the truth, and estimate +- 1.96 standard errors (ms_estimate_site) covers it about 95% of the time. */
static uint64_t sim_rng = 88172645463325252ull;

static double sim_uniform(void)
{
    sim_rng ^= sim_rng << 13;
    sim_rng ^= sim_rng >> 7;
    sim_rng ^= sim_rng << 17;
    return (double)(sim_rng >> 11) / 9007199254740992.0;
}

static void sampled_estimates_are_unbiased_and_their_intervals_cover(void **state)
{
    (void)state;
    static const struct {
        uint64_t size, blocks;
    } cases[] = {{16, 200000}, {512, 20000}, {4096, 3000}, {40000, 400}, {65536, 300}, {300000, 60}, {1 << 20, 20}};
    const uint64_t rate = 65536;
    const int runs = 2000;
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        double s = (double)cases[c].size, p = -expm1(-s / (double)rate);
        uint64_t wb = (uint64_t)(s / p + 0.5), wc = (uint64_t)(1.0 / p + 0.5);
        double truth = s * (double)cases[c].blocks, sum = 0, sum2 = 0;
        int covered = 0;
        for (int run = 0; run < runs; run++) {
            /* Blocks recorded: the gaps between them are geometric. */
            uint64_t n = 0;
            double lq = log1p(-p);
            for (double k = 0;; n++) {
                k += lq < 0 ? floor(log1p(-sim_uniform()) / lq) + 1 : 1;
                if (k > (double)cases[c].blocks)
                    break;
            }
            double bv, cv;
            ms_estimate_site(rate, n * wb, n * wc, &bv, &cv);
            double est = (double)(n * wb);
            sum += est;
            sum2 += est * est;
            covered += fabs(est - truth) <= 1.96 * sqrt(bv);
        }
        double mean = sum / runs, sd = sqrt(sum2 / runs - mean * mean);
        /* Unbiased: the mean of 2000 runs is within 4 of its standard errors (and 1% for rounding). */
        if (fabs(mean - truth) > 4 * sd / sqrt(runs) + 0.01 * truth)
            fail_msg("size %llu: mean estimate %.0f, truth %.0f", (unsigned long long)cases[c].size, mean, truth);
        /* Not much more either (intervals too wide say little), unless nearly every block is sampled. */
        if (covered < runs * 88 / 100 || (covered > runs * 99 / 100 && p < 0.9))
            fail_msg("size %llu: the 95%% interval covered the truth in %d of %d runs",
                     (unsigned long long)cases[c].size, covered, runs);
    }
    /* Exact snapshots have no error. */
    double bv = 1, cv = 1;
    ms_estimate_site(0, 1000, 10, &bv, &cv);
    assert_true(bv == 0 && cv == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(size_format_matches_tracemalloc_examples),
        cmocka_unit_test(sampled_estimates_are_unbiased_and_their_intervals_cover),
        cmocka_unit_test(size_format_signed_variant_prints_the_sign),
        cmocka_unit_test(size_arguments_parse_with_binary_units),
        cmocka_unit_test(growth_rule_separates_unbounded_from_bounded),
        cmocka_unit_test(template_arguments_are_shortened_for_display),
        cmocka_unit_test(leak_patterns_follow_leaksanitizer_matching),
        cmocka_unit_test(suppression_files_name_the_bad_line),
        cmocka_unit_test(suppressions_match_any_frame_of_a_stack),
        cmocka_unit_test(builtin_suppressions_cover_runtime_only_stacks),
        cmocka_unit_test(diff_rows_render_the_tracemalloc_way),
        cmocka_unit_test(unwinder_values_have_names_and_others_are_unknown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
