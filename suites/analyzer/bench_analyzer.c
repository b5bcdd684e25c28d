/* Analyzer speed: symbolize N distinct frames of this (large, generated) binary with a fresh symbolizer,
 * and diff two snapshots of N stacks each (different load addresses, as from two runs), cold and warm.
 *     bench-analyzer [N] [OUTDIR]    (default N = 100000; with OUTDIR the two snapshots are written there
 *                                     for timing the CLI: memsnap diff OUTDIR/old.snap OUTDIR/new.snap) */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analyze.h"
#include "snapgen.h"

unsigned long bigcode_run(int i);

static double bench_clock(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wall time, and CPU time beside it: the build machine is shared, and CPU time shows what the code costs
 * when another job takes the other core. */
static double bench_now(void)
{
    return bench_clock(CLOCK_MONOTONIC);
}

static double bench_cpu(void)
{
    return bench_clock(CLOCK_PROCESS_CPUTIME_ID);
}

static struct snapgen_self me;

/* Stack i: a distinct innermost frame, then 7 callers drawn from the pool. */
static struct ms_snap *bench_snap(size_t n, const uint64_t *pool, uint64_t base, int variant, const char *out)
{
    struct snapgen *g = snapgen_new();
    snapgen_module(g, me.path, base, me.text_hi, me.build_id, me.build_id_len);
    struct ms_fmt_frame fr[8];
    for (size_t i = 0; i < n; i++) {
        fr[0] = (struct ms_fmt_frame){0, 0, pool[i]};
        for (int j = 1; j < 8; j++)
            fr[j] = (struct ms_fmt_frame){0, 0, pool[(i * 31 + (size_t)j * 977) % n]};
        uint32_t st = snapgen_stack(g, fr, 8, 0);
        uint64_t live = 64 + (i % 7) * 16 + (variant && i % 3 == 0 ? 48 : 0);
        snapgen_site(g, st, live, 1 + i % 3, live * 2, 2 + i % 3);
    }
    size_t len;
    unsigned char *b = snapgen_build(g, &len);
    /* A run whose files are missing would time the CLI on stale ones: an unwritable OUTDIR is a usage error. */
    if (out && snapgen_write_buf(out, b, len) != 0) {
        fprintf(stderr, "bench-analyzer: %s: cannot write: %s\n", out, strerror(errno));
        exit(2);
    }
    struct ms_snap *s;
    struct ms_error err;
    if (ms_snapfile_parse(b, len, "bench.snap", 0, &s, &err) != MS_OK) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    free(b);
    snapgen_free(g);
    return s;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
    const char *outdir = argc > 2 ? argv[2] : NULL;
    if (snapgen_self(&me) != 0)
        return 1;
    (void)bigcode_run(-1);
    size_t span = me.text_hi - me.text_lo;
    if (span < n) {
        fprintf(stderr, "bench-analyzer: text is %zu bytes, fewer than %zu frames\n", span, n);
        return 1;
    }
    uint64_t *pool = malloc(n * sizeof *pool);
    if (!pool)
        return 1;
    for (size_t i = 0; i < n; i++)
        pool[i] = me.text_lo + 1 + (span - 1) * i / n; /* distinct return addresses across the text */

    /* 1. Symbolize every distinct frame once, from a cold symbolizer (module opening included). */
    struct ms_snap *a = bench_snap(n, pool, 0x555500000000ull, 0, NULL);
    struct ms_symbolizer *sym;
    struct ms_error err;
    void **h;
    size_t with_line = 0;
    double t0 = bench_now(), c0 = bench_cpu();
    ms_symbolize_new(NULL, &sym, &err);
    ms_symbolize_attach(sym, a, &h, &err);
    for (size_t i = 0; i < n; i++) {
        const struct ms_sym_frame *f;
        struct ms_frame fr = {0, pool[i]};
        ms_symbolize_frame(sym, h, a, &fr, &f);
        with_line += f->file != NULL;
    }
    double t_sym = bench_now() - t0, c_sym = bench_cpu() - c0;
    free(h);
    ms_symbolize_free(sym);

    /* 2. Diff two snapshots of n stacks each, loaded at different addresses. */
    char pa[PATH_MAX], pb[PATH_MAX];
    if (outdir) {
        snprintf(pa, sizeof pa, "%s/old.snap", outdir);
        snprintf(pb, sizeof pb, "%s/new.snap", outdir);
    }
    ms_snapfile_free(a);
    a = bench_snap(n, pool, 0x555500000000ull, 0, outdir ? pa : NULL);
    struct ms_snap *b = bench_snap(n, pool, 0x5612abcd0000ull, 1, outdir ? pb : NULL);
    double t_diff[2][2], c_diff[2][2];
    size_t rows[2];
    for (int by = 0; by < 2; by++) {
        struct ms_group_opts go = {.by = by ? MS_BY_STACK : MS_BY_LINE};
        struct ms_diff *d;
        ms_symbolize_new(NULL, &sym, &err);
        t0 = bench_now();
        c0 = bench_cpu();
        ms_diff_compute(sym, a, b, &go, &d, &err); /* cold: symbolizes as it goes */
        t_diff[by][0] = bench_now() - t0;
        c_diff[by][0] = bench_cpu() - c0;
        ms_diff_free(d);
        t0 = bench_now();
        c0 = bench_cpu();
        ms_diff_compute(sym, a, b, &go, &d, &err); /* warm: frames cached */
        t_diff[by][1] = bench_now() - t0;
        c_diff[by][1] = bench_cpu() - c0;
        rows[by] = d->count;
        ms_diff_free(d);
        ms_symbolize_free(sym);
    }
    printf("symbolize %zu distinct frames (cold, %zu with file:line): %.3f s wall, %.3f s cpu  [target < 2 s]\n", n,
           with_line, t_sym, c_sym);
    for (int by = 0; by < 2; by++)
        printf("diff %zu vs %zu stacks by %-5s: cold %.3f s wall, %.3f s cpu; warm %.3f s wall, %.3f s cpu; %zu rows"
               "  [target < 1 s]\n", n, n, by ? "stack" : "line", t_diff[by][0], c_diff[by][0], t_diff[by][1],
               c_diff[by][1], rows[by]);
    ms_snapfile_free(a);
    ms_snapfile_free(b);
    free(pool);
    return 0;
}
