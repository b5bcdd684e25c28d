/* A whole run as a user drives it, on a fake clock: save, compare, compare-fail exit statuses, disable,
 * skip, -k, histogram; then `memsnap bench compare|report` on the files (exit 0/1/2, messages). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static char dir[256];
static char captured[1 << 16];

static uint64_t now_ns; /* the fake clock both bodies advance */

struct fake {
    uint64_t cost; /* ns per call, varied +/-5% by a fixed sequence */
    double factor;
    unsigned k, calls;
};

static uint64_t fake_clock(void *ctx)
{
    (void)ctx;
    return now_ns++;
}

static double fake_body(void *arg)
{
    struct fake *f = arg;
    f->k++;
    f->calls++;
    double wobble = 1.0 + 0.01 * (double)((f->k * 7919u) % 11u) - 0.05;
    now_ns += (uint64_t)((double)f->cost * f->factor * wobble);
    return (double)f->cost;
}

static const char *path_in(const char *name)
{
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

/* Runs a session of two benchmarks with the given slowdown; stdout (table, messages) goes to captured. */
static int run_session(double factor, int argc, char **argv, struct fake *f1, struct fake *f2)
{
    memsnap_bench_session *s = memsnap_bench_session_new();
    FILE *out = fopen(path_in("out.txt"), "w+");
    assert_non_null(out);
    memsnap_bench_set_output(s, out);
    *f1 = (struct fake){.cost = 1000, .factor = factor};
    *f2 = (struct fake){.cost = 5000, .factor = 1.0};
    memsnap_bench_set_clock(s, fake_clock, NULL);
    memsnap_bench *a = memsnap_bench_add(s, "g", "fast", fake_body, f1);
    memsnap_bench *b = memsnap_bench_add(s, "g", "slow", fake_body, f2);
    assert_non_null(a);
    assert_non_null(b);
    int status = memsnap_bench_run(s, argc, argv);
    fflush(out);
    rewind(out);
    size_t n = fread(captured, 1, sizeof captured - 1, out);
    captured[n] = 0;
    fclose(out);
    memsnap_bench_session_free(s);
    return status;
}

static void session_save_compare_and_fail(void **state)
{
    (void)state;
    struct fake f1, f2;
    char storage[600];
    snprintf(storage, sizeof storage, "--benchmark-storage=%s", path_in("store"));
    char *save[] = {"prog", storage, "--benchmark-save=base", "--benchmark-max-time=0.002", NULL};
    assert_int_equal(run_session(1.0, 4, save, &f1, &f2), 0);
    assert_non_null(strstr(captured, "benchmark 'g': 2 tests"));
    assert_non_null(strstr(captured, "Saved benchmark data in: "));
    assert_non_null(strstr(captured, "0001_base.json"));

    /* same code: the gate passes */
    char *same[] = {"prog", storage, "--benchmark-compare", "--benchmark-compare-fail=mean:5%",
                    "--benchmark-max-time=0.002", NULL};
    assert_int_equal(run_session(1.0, 5, same, &f1, &f2), 0);
    assert_non_null(strstr(captured, "fast (0001_base)"));
    assert_non_null(strstr(captured, "fast (NOW)"));
    assert_non_null(strstr(captured, "comparison:"));
    assert_null(strstr(captured, "Performance has regressed"));

    /* 30% slower: exit 1 with pytest-benchmark's message */
    assert_int_equal(run_session(1.3, 5, same, &f1, &f2), 1);
    assert_non_null(strstr(captured, "Performance has regressed:"));
    assert_non_null(strstr(captured, "fast (0001_base) - Field 'mean' has failed PercentageRegressionCheck: 29.9"));
    assert_null(strstr(captured, "slow (0001_base) - Field"));

    /* compare by number and by name */
    char *bynum[] = {"prog", storage, "--benchmark-compare=0001", "--benchmark-compare-fail", "mean:50%", "min:40%",
                     "--benchmark-max-time=0.002", NULL};
    assert_int_equal(run_session(1.3, 7, bynum, &f1, &f2), 0);
    char *missing[] = {"prog", storage, "--benchmark-compare=0009", "--benchmark-compare-fail=mean:5%", NULL};
    assert_int_equal(run_session(1.0, 4, missing, &f1, &f2), 2);
}

static void session_disable_skip_and_k(void **state)
{
    (void)state;
    struct fake f1, f2;
    char *dis[] = {"prog", "--benchmark-disable", NULL};
    assert_int_equal(run_session(1.0, 2, dis, &f1, &f2), 0);
    assert_int_equal(f1.calls, 1);
    assert_int_equal(f2.calls, 1);
    assert_null(strstr(captured, "benchmark 'g'"));

    char *skip[] = {"prog", "--benchmark-skip", NULL};
    assert_int_equal(run_session(1.0, 2, skip, &f1, &f2), 0);
    assert_int_equal(f1.calls + f2.calls, 0);

    char *k[] = {"prog", "-k", "not slow", "--benchmark-max-time=0.001", NULL};
    assert_int_equal(run_session(1.0, 4, k, &f1, &f2), 0);
    assert_true(f1.calls > 0);
    assert_int_equal(f2.calls, 0);
    assert_non_null(strstr(captured, "benchmark 'g': 1 tests"));

    char *bad[] = {"prog", "--benchmark-frobnicate", NULL};
    assert_int_equal(run_session(1.0, 2, bad, &f1, &f2), 2);
    char *badk[] = {"prog", "-k", "fast and", NULL};
    assert_int_equal(run_session(1.0, 3, badk, &f1, &f2), 2);
    char *help[] = {"prog", "--help", NULL};
    assert_int_equal(run_session(1.0, 2, help, &f1, &f2), 0);
    assert_non_null(strstr(captured, "--benchmark-compare-fail"));
}

static void session_histogram_writes_svg_per_group(void **state)
{
    (void)state;
    struct fake f1, f2;
    char hist[600];
    snprintf(hist, sizeof hist, "--benchmark-histogram=%s", path_in("hist"));
    char *argv[] = {"prog", hist, "--benchmark-max-time=0.001", NULL};
    assert_int_equal(run_session(1.0, 3, argv, &f1, &f2), 0);
    FILE *f = fopen(path_in("hist-g.svg"), "r");
    assert_non_null(f);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    assert_non_null(strstr(buf, "<svg"));
    assert_non_null(strstr(buf, ">fast</text>"));
    assert_non_null(strstr(buf, ">slow</text>"));
    assert_non_null(strstr(buf, "</svg>"));
}

/* stdout of ms_bench_cli into captured */
static int cli(int argc, char **argv)
{
    fflush(stdout);
    int saved = dup(1);
    int fd = open(path_in("cli.txt"), O_CREAT | O_TRUNC | O_RDWR, 0644);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 1);
    int status = ms_bench_cli(argc, argv);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, captured, sizeof captured - 1);
    captured[n > 0 ? n : 0] = 0;
    close(fd);
    return status;
}

static void cli_compare_exit_statuses(void **state)
{
    (void)state;
    struct fake f1, f2;
    char a[600], b[600], c[600];
    snprintf(a, sizeof a, "--benchmark-json=%s", path_in("a.json"));
    snprintf(b, sizeof b, "--benchmark-json=%s", path_in("b.json"));
    snprintf(c, sizeof c, "--benchmark-json=%s", path_in("c.json"));
    char *ra[] = {"prog", a, "--benchmark-max-time=0.002", NULL};
    char *rb[] = {"prog", b, "--benchmark-max-time=0.002", NULL};
    char *rc[] = {"prog", c, "--benchmark-max-time=0.002", NULL};
    assert_int_equal(run_session(1.0, 3, ra, &f1, &f2), 0);
    assert_int_equal(run_session(1.0, 3, rb, &f1, &f2), 0);
    assert_int_equal(run_session(1.25, 3, rc, &f1, &f2), 0);
    char *pa = strdup(path_in("a.json")), *pb = strdup(path_in("b.json")), *pc = strdup(path_in("c.json"));

    char *same[] = {"compare", pa, pb, "--fail", "mean:10%", NULL};
    assert_int_equal(cli(5, same), 0);
    assert_non_null(strstr(captured, "ok mean:10%"));
    assert_non_null(strstr(captured, "(+0.0%)"));

    char *slower[] = {"compare", pa, pc, "--fail", "mean:10%", "median:10%", NULL};
    assert_int_equal(cli(6, slower), 1);
    assert_non_null(strstr(captured, "FAIL mean:10%"));
    assert_non_null(strstr(captured, "fast (a) - Field 'mean' has failed PercentageRegressionCheck: 24.9"));
    assert_non_null(strstr(captured, "(+25.0%)"));

    char *nogate[] = {"compare", pa, pc, NULL};
    assert_int_equal(cli(3, nogate), 0);

    char *nofile[] = {"compare", pa, "/nonexistent/x.json", NULL};
    assert_int_equal(cli(3, nofile), 2);
    char *badexpr[] = {"compare", pa, pb, "--fail", "mean:ten%", NULL};
    assert_int_equal(cli(5, badexpr), 2);
    char *one[] = {"compare", pa, NULL};
    assert_int_equal(cli(2, one), 2);
    char *unknown[] = {"frobnicate", NULL};
    assert_int_equal(cli(1, unknown), 2);

    /* report: PASS/FAIL against budgets, exit 1 when a budget fails */
    FILE *y = fopen(path_in("budgets.yml"), "w");
    fputs("budgets:\n"
          "  fast_call:\n"
          "    benchmark: fast\n"
          "    max_mean: 0.002   # ms: 2 us, the body takes ~1 us\n"
          "    description: \"fast path\"\n"
          "  slow_call:\n"
          "    benchmark: slow\n"
          "    max_mean: 0.001   # ms: 1 us, the body takes ~5 us\n"
          "  speedup:\n"
          "    min_ratio: 4\n"
          "    slow: slow\n"
          "    fast: fast\n",
          y);
    fclose(y);
    char *pr = strdup(path_in("report.md")), *py = strdup(path_in("budgets.yml"));
    char *rep[] = {"report", pa, "--budgets", py, "-o", pr, NULL};
    assert_int_equal(cli(6, rep), 1);
    FILE *md = fopen(pr, "r");
    assert_non_null(md);
    size_t n = fread(captured, 1, sizeof captured - 1, md);
    captured[n] = 0;
    fclose(md);
    assert_non_null(strstr(captured, "# Performance Test Report"));
    assert_non_null(strstr(captured, "Machine: "));
    assert_non_null(strstr(captured, "Date: "));
    assert_non_null(strstr(captured, "| Test | Mean | Min | Max | StdDev |"));
    assert_non_null(strstr(captured, "| fast | "));
    assert_non_null(strstr(captured, "✅ PASS fast_call"));
    assert_non_null(strstr(captured, "❌ FAIL slow_call"));
    assert_non_null(strstr(captured, "✅ PASS speedup"));
    assert_non_null(strstr(captured, "2 of 3 checks passed"));

    y = fopen(py, "w");
    fputs("budgets:\n  fast_call:\n    benchmark: fast\n    max_mean: [1\n", y);
    fclose(y);
    assert_int_equal(cli(6, rep), 2);
    char *nobudget[] = {"report", pa, NULL};
    assert_int_equal(cli(2, nobudget), 0);
    assert_non_null(strstr(captured, "No budgets given"));
    free(pa);
    free(pb);
    free(pc);
    free(pr);
    free(py);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/ms-session-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(session_save_compare_and_fail),
        cmocka_unit_test(session_disable_skip_and_k),
        cmocka_unit_test(session_histogram_writes_svg_per_group),
        cmocka_unit_test(cli_compare_exit_statuses),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", dir);
    }
    return rc;
}
