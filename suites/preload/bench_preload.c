/* Workloads for scripts/bench-preload: allocation-heavy loops timed from inside the program, so that a
 * profiler's start-up and post-processing do not count. Prints one line: `<workload> <seconds> <extra>`.
 *   churn N        N malloc/free pairs through a shallow stack
 *   deep N         N pairs, each made 40 calls deep
 *   sites N        N pairs, rotating over four call paths of 1 to 4 frames (consecutive stacks differ)
 *   sites12 N      the same over twelve call paths of 1 to 12 frames (more than a few kept walks)
 *   recurse N      N pairs at the bottom of a 32-deep recursion whose path changes at one level from one
 *                  pair to the next (a compiler's recursive descent: one entry, many stacks)
 *   threads N      2 threads, N/2 pairs each
 *   live N         N live 32-byte blocks; extra = resident bytes added (VmRSS)
 *   stacks N PATH  N distinct call stacks with one live block each, then one snapshot to PATH;
 *                  seconds = the snapshot alone, extra = its CPU time in microseconds */
#include <memsnap.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEEP(p) __asm__ volatile("" : : "r"(p) : "memory")
#define NOINLINE __attribute__((noinline))

static double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

NOINLINE static void bench_churn(long n)
{
    for (long i = 0; i < n; i++) {
        void *p = malloc(16 + (size_t)(i & 127));
        KEEP(p);
        free(p);
    }
}

/* One pair at the end of `extra` frames, each with a frame of its own. */
NOINLINE static void bench_site(int extra, long i)
{
    volatile char pad[32];
    pad[0] = (char)extra;
    if (extra > 1) {
        bench_site(extra - 1, i);
        KEEP(pad[0]);
        return;
    }
    void *p = malloc(16 + (size_t)(i & 127));
    KEEP(p);
    free(p);
    KEEP(pad[0]);
}

NOINLINE static void bench_sites(long n)
{
    for (long i = 0; i < n; i++) {
        bench_site(1 + (int)(i & 3), i);
    }
}

/* Twelve entries in turn: more than an unwinder that keeps a few walks in turn can hold. */
NOINLINE static void bench_sites12(long n)
{
    for (long i = 0; i < n; i++) {
        bench_site(1 + (int)(i % 12), i);
    }
}

/* Level `level` calls the next one from one of two places (bit `level` of path): the stacks of
 * consecutive pairs share the frames below and above the level where their paths differ. */
NOINLINE static void bench_descend(int level, unsigned path, long i)
{
    volatile char pad[16];
    pad[0] = (char)level;
    if (level == 0) {
        void *p = malloc(16 + (size_t)(i & 127));
        KEEP(p);
        free(p);
    } else if (path >> level & 1) {
        bench_descend(level - 1, path, i);
        __asm__ volatile("# one" ::: "memory"); /* two call sites, not merged into one */
    } else {
        bench_descend(level - 1, path, i);
        __asm__ volatile("# other" ::: "memory");
    }
    KEEP(pad[0]);
}

/* Paths in Gray code order over eight of the levels (256 stacks): each pair's path differs from the
 * previous one's at one level, most often the lowest. */
NOINLINE static void bench_recurse(long n)
{
    for (long i = 0; i < n; i++) {
        unsigned gray = (unsigned)(i ^ (i >> 1)) & 255, path = 0;
        for (int b = 0; b < 8; b++) {
            path |= (gray >> b & 1) << (4 * b + 2);
        }
        bench_descend(32, path, i);
    }
}

NOINLINE static void bench_deep(int depth, long n)
{
    if (depth > 0) {
        bench_deep(depth - 1, n);
        KEEP(depth);
        return;
    }
    bench_churn(n);
}

static void *bench_thread(void *arg)
{
    bench_churn((long)(intptr_t)arg);
    return NULL;
}

static long bench_cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (long)ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

static long bench_rss(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (!strncmp(line, "VmRSS:", 6)) {
            kb = atol(line + 6);
        }
    }
    if (f) {
        fclose(f);
    }
    return kb * 1024;
}

/* Two call sites per level: every path through `levels` levels is a distinct stack. */
NOINLINE static void bench_tree(int levels, long *budget, void **out);
NOINLINE static void bench_tree_b(int levels, long *budget, void **out)
{
    bench_tree(levels, budget, out);
    KEEP(out);
}

NOINLINE static void bench_tree(int levels, long *budget, void **out)
{
    if (*budget <= 0) {
        return;
    }
    if (levels == 0) {
        out[--*budget] = malloc(8);
        return;
    }
    bench_tree(levels - 1, budget, out);
    bench_tree_b(levels - 1, budget, out);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_preload churn|deep|sites|sites12|recurse|threads|live|stacks N [PATH]\n");
        return 2;
    }
    const char *what = argv[1];
    long n = atol(argv[2]);
    double t0 = bench_now(), t1;
    long cpu0 = bench_cpu_us();
    long extra = -1;
    if (!strcmp(what, "churn")) {
        bench_churn(n);
    } else if (!strcmp(what, "deep")) {
        bench_deep(40, n);
    } else if (!strcmp(what, "sites")) {
        bench_sites(n);
    } else if (!strcmp(what, "sites12")) {
        bench_sites12(n);
    } else if (!strcmp(what, "recurse")) {
        bench_recurse(n);
    } else if (!strcmp(what, "threads")) {
        pthread_t t[2];
        for (int i = 0; i < 2; i++) {
            pthread_create(&t[i], NULL, bench_thread, (void *)(intptr_t)(n / 2));
        }
        for (int i = 0; i < 2; i++) {
            pthread_join(t[i], NULL);
        }
    } else if (!strcmp(what, "live")) {
        void **blocks = malloc((size_t)n * sizeof *blocks);
        memset(blocks, 0, (size_t)n * sizeof *blocks);
        long before = bench_rss();
        for (long i = 0; i < n; i++) {
            blocks[i] = malloc(32);
        }
        extra = bench_rss() - before;
    } else if (!strcmp(what, "stacks") && argc > 3) {
        void **blocks = calloc((size_t)n, sizeof *blocks);
        int levels = 0;
        while ((1L << levels) < n) {
            levels++;
        }
        long budget = n;
        bench_tree(levels, &budget, blocks);
        struct timespec c0, c1;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
        t0 = bench_now();
        int rc = memsnap_snapshot(argv[3]);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
        extra = (long)((c1.tv_sec - c0.tv_sec) * 1000000L + (c1.tv_nsec - c0.tv_nsec) / 1000);
        if (rc < 0) {
            fprintf(stderr, "bench_preload: snapshot failed: %d\n", rc);
            return 1;
        }
    } else {
        fprintf(stderr, "bench_preload: unknown workload %s\n", what);
        return 2;
    }
    t1 = bench_now();
    if (extra < 0) {
        extra = bench_cpu_us() - cpu0;
    }
    printf("%s %.6f %ld\n", what, t1 - t0, extra);
    return 0;
}
