/* How well sampled growth finds a leak (docs/cli.md, "What sampling keeps"). A site leaking N bytes per
 * interval in blocks of size s, sampled at rate R, has each block recorded with probability
 * p = 1 - exp(-s/R), so its estimate rises in an interval with probability q = 1 - (1-p)^(N/s) =
 * 1 - exp(-N/R) whatever s; growth calls it unbounded when the rises pass its rule, which a simulation of
 * the recorded blocks through ms_growth_classify gives. This test runs fx_detect under the preload (128
 * sites, half in 1 KiB blocks, half in 16 KiB blocks, N = R/2) and checks both figures against what the
 * sites show: the fraction of intervals with a rise, and the fraction of sites found unbounded.
 *
 * `memsnap leaks` on a sampled at-exit snapshot is checked the same way (sampled_leaks_are_listed_...).
 *
 * `test-... --table` prints the table of detection probabilities in the docs instead. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "analyze.h"
#include "tap.h"

#define RATE 65536.0
#define LEAK 32768       /* bytes per round and site: N = R/2 */
#define ROUNDS 6         /* snapshots: 5 intervals */
#define RUNS 8           /* processes; 64 sites of each block size in each */
#define DRAWS 100000     /* simulated sites per expected figure */

static uint64_t detect_rng = 0x9e3779b97f4a7c15ull;

static double detect_uniform(void)
{
    detect_rng ^= detect_rng >> 12;
    detect_rng ^= detect_rng << 25;
    detect_rng ^= detect_rng >> 27;
    return (double)((detect_rng * 0x2545f4914f6cdd1dull) >> 11) / 9007199254740992.0;
}

/* Blocks recorded in one interval: Binomial(blocks, p), or Poisson(mean) when blocks is 0. */
static uint64_t detect_draw(uint64_t blocks, double p, double mean)
{
    uint64_t k = 0;
    if (blocks) {
        for (uint64_t i = 0; i < blocks; i++)
            k += detect_uniform() < p;
        return k;
    }
    for (double prod = detect_uniform(), lim = exp(-mean); prod > lim; prod *= detect_uniform())
        k++;
    return k;
}

/* The probability that growth calls a leak unbounded over n snapshots (n - 1 intervals), by simulating
 * the blocks each interval records (cumulative: a leaked block stays) through the verdict. */
static double detect_probability(size_t n, uint64_t blocks, double p, double mean)
{
    uint64_t series[64];
    size_t found = 0;
    for (size_t d = 0; d < DRAWS; d++) {
        uint64_t total = 0;
        for (size_t i = 0; i < n; i++)
            series[i] = (total += detect_draw(blocks, p, mean)) << 16;
        found += ms_growth_classify(series, n) == MS_GROWTH_UNBOUNDED;
    }
    return (double)found / DRAWS;
}

static void detect_table(void)
{
    static const double ratios[] = {0.25, 0.5, 1, 2, 4};
    static const size_t snaps[] = {4, 6, 10, 20};
    printf("| N/R | q = 1-exp(-N/R) |");
    for (size_t j = 0; j < sizeof snaps / sizeof *snaps; j++)
        printf(" %zu snapshots |", snaps[j]);
    printf("\n|---|---|");
    for (size_t j = 0; j < sizeof snaps / sizeof *snaps; j++)
        printf("---|");
    printf("\n");
    for (size_t i = 0; i < sizeof ratios / sizeof *ratios; i++) {
        printf("| %g | %.2f |", ratios[i], -expm1(-ratios[i]));
        for (size_t j = 0; j < sizeof snaps / sizeof *snaps; j++)
            printf(" %.3f |", detect_probability(snaps[j], 0, 0, ratios[i]));
        printf("\n");
    }
}

struct detect_count {
    size_t sites, unbounded, intervals, rises;
};


/* fx_detect DIR rounds LEAK under the preload at 64k; with at_exit its at-exit snapshot is DIR/exit.snap. */
static void detect_spawn(const char *dir, int rounds, bool at_exit)
{
    const char *lib = getenv("MEMSNAP_PRELOAD_LIB"), *fixtures = getenv("MEMSNAP_FIXTURES");
    char exe[4096], leak[32], nrounds[16], out[4200];
    snprintf(exe, sizeof exe, "%s/fx_detect", fixtures);
    snprintf(leak, sizeof leak, "%d", LEAK);
    snprintf(nrounds, sizeof nrounds, "%d", rounds);
    snprintf(out, sizeof out, "%s/exit.snap", dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("MEMSNAP_SAMPLE", "64k", 1);
        setenv("MEMSNAP_AT_EXIT", at_exit ? "1" : "0", 1);
        setenv("MEMSNAP_OUTPUT", out, 1);
        setenv("LD_PRELOAD", lib, 1);
        execl(exe, exe, dir, nrounds, leak, (char *)NULL);
        _exit(127);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* The counts of the site whose stack st is: fx_detect's small or large leaks, or NULL for anything else. */
static struct detect_count *detect_which(const struct ms_sym_frame *const *st, uint32_t sn, struct detect_count *small,
                                         struct detect_count *large)
{
    for (uint32_t j = 0; j < sn; j++)
        if (st[j]->function && !strcmp(st[j]->function, "leak_small"))
            return small;
        else if (st[j]->function && !strcmp(st[j]->function, "leak_large"))
            return large;
    return NULL;
}

/* One run of fx_detect; its sites' verdicts and rises added to small/large. */
static void detect_run(struct ms_symbolizer *sym, struct detect_count *small, struct detect_count *large)
{
    char dir[] = "/tmp/memsnap-detect-XXXXXX";
    assert_non_null(mkdtemp(dir));
    detect_spawn(dir, ROUNDS, false);
    struct ms_snap *snaps[ROUNDS];
    char path[4200];
    struct ms_error err = {""};
    for (int r = 0; r < ROUNDS; r++) {
        snprintf(path, sizeof path, "%s/round-%02d.snap", dir, r);
        if (ms_snapfile_read(path, &snaps[r], &err) != MS_OK) {
            fail_msg("%s", err.msg);
        }
        assert_true(snaps[r]->flags & MS_FMT_FLAG_SAMPLED);
        unlink(path);
    }
    rmdir(dir);
    struct ms_group_opts go = {.by = MS_BY_STACK};
    struct ms_growth gr;
    assert_int_equal(ms_growth_compute(sym, snaps, ROUNDS, &go, false, &gr, &err), MS_OK);
    for (size_t i = 0; i < gr.nsites; i++) {
        const struct ms_growth_site *s = &gr.sites[i];
        uint32_t sn;
        const struct ms_sym_frame *const *st = ms_group_row_stack(s->eg, s->example, &sn);
        struct detect_count *c = detect_which(st, sn, small, large);
        if (!c)
            continue;
        c->sites++;
        c->unbounded += s->verdict == MS_GROWTH_UNBOUNDED;
        for (size_t j = 1; j < gr.n; j++)
            c->rises += s->series[j] > s->series[j - 1];
    }
    ms_growth_free(&gr);
    for (int r = 0; r < ROUNDS; r++)
        ms_snapfile_free(snaps[r]);
}

/* observed successes of trials against the probability expected: within 4.5 binomial standard errors. */
static void detect_check(const char *what, size_t observed, size_t trials, double expected)
{
    double got = (double)observed / (double)trials, se = sqrt(expected * (1 - expected) / (double)trials);
    printf("# %s: %.3f observed (%zu of %zu), %.3f expected, standard error %.3f\n", what, got, observed, trials,
           expected, se);
    if (fabs(got - expected) > 4.5 * se) {
        fail_msg("%s: %.3f observed, %.3f expected (standard error %.3f)", what, got, expected, se);
    }
}

static void sampled_leaks_are_found_as_often_as_the_formula_says(void **state)
{
    (void)state;
    struct ms_symbolizer *sym;
    struct ms_error err = {""};
    struct ms_symbolize_opts so = {.quiet = true};
    assert_int_equal(ms_symbolize_new(&so, &sym, &err), MS_OK);
    struct detect_count small = {0}, large = {0};
    for (int run = 0; run < RUNS; run++)
        detect_run(sym, &small, &large);
    ms_symbolize_free(sym);
    /* A site none of whose blocks was ever recorded has no row: it counts as a site not found. */
    size_t sites = 64 * RUNS, intervals = sites * (ROUNDS - 1);
    assert_true(small.sites <= sites && large.sites <= sites);
    double q = -expm1(-LEAK / RATE);
    detect_check("1 KiB blocks: intervals with a rise", small.rises, intervals, q);
    detect_check("16 KiB blocks: intervals with a rise", large.rises, intervals, q);
    double ps = -expm1(-1024 / RATE), pl = -expm1(-16384 / RATE);
    detect_check("1 KiB blocks: found unbounded", small.unbounded, sites,
                 detect_probability(ROUNDS, LEAK / 1024, ps, 0));
    detect_check("16 KiB blocks: found unbounded", large.unbounded, sites,
                 detect_probability(ROUNDS, LEAK / 16384, pl, 0));
}

/* `memsnap leaks` on a sampled at-exit snapshot (no reachability scan: every recorded block still allocated
 * is listed) lists a site that leaked N bytes in all with probability 1 - exp(-N/R): one round of fx_detect,
 * N = R/2, 128 sites in each of 4 runs. */
static void sampled_leaks_are_listed_as_often_as_the_formula_says(void **state)
{
    (void)state;
    struct ms_symbolizer *sym;
    struct ms_suppressions *sup;
    struct ms_error err = {""};
    struct ms_symbolize_opts so = {.quiet = true};
    assert_int_equal(ms_symbolize_new(&so, &sym, &err), MS_OK);
    assert_int_equal(ms_leaks_suppressions_load(NULL, false, &sup, &err), MS_OK);
    struct detect_count small = {0}, large = {0};
    for (int run = 0; run < RUNS / 2; run++) {
        char dir[] = "/tmp/memsnap-detect-XXXXXX", path[64];
        assert_non_null(mkdtemp(dir));
        detect_spawn(dir, 1, true);
        struct ms_snap *snap;
        snprintf(path, sizeof path, "%s/exit.snap", dir);
        if (ms_snapfile_read(path, &snap, &err) != MS_OK) {
            fail_msg("%s", err.msg);
        }
        unlink(path);
        snprintf(path, sizeof path, "%s/round-00.snap", dir);
        unlink(path);
        rmdir(dir);
        assert_true((snap->flags & MS_FMT_FLAG_SAMPLED) && (snap->flags & MS_FMT_FLAG_AT_EXIT));
        struct ms_leaks l;
        struct ms_leaks_opts lo = {.show_reachable = false};
        assert_int_equal(ms_leaks_compute(sym, snap, sup, &lo, &l, &err), MS_OK);
        assert_false(l.scanned);
        for (size_t i = 0; i < l.count; i++) {
            struct detect_count *c = detect_which(l.entries[i].row->stack, l.entries[i].row->stack_len, &small, &large);
            if (c)
                c->sites++;
        }
        ms_leaks_free(&l);
        ms_snapfile_free(snap);
    }
    ms_leaks_suppressions_free(sup);
    ms_symbolize_free(sym);
    double p = -expm1(-LEAK / RATE);
    detect_check("1 KiB blocks: listed by leaks", small.sites, 64 * RUNS / 2, p);
    detect_check("16 KiB blocks: listed by leaks", large.sites, 64 * RUNS / 2, p);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--table")) {
        detect_table();
        return 0;
    }
    const char *lib = getenv("MEMSNAP_PRELOAD_LIB");
    if (!lib || access(lib, R_OK) != 0 || !getenv("MEMSNAP_FIXTURES")) {
        return ms_tap_skip_all("no libmemsnap.so to run the fixture under (a build with -Dpreload=false)");
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sampled_leaks_are_found_as_often_as_the_formula_says),
        cmocka_unit_test(sampled_leaks_are_listed_as_often_as_the_formula_says),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
