/* ns per stack capture: unw_backtrace, the cached CFI walk (MS_UNWIND_DWARF) and the frame-pointer walk,
 * at two depths, measured side by side: rounds interleave the methods, medians are printed.
 * "same site": every capture from one call site (a churn loop). "4 sites": captures rotate over four
 * call paths of 1 to 4 extra frames below the common part, so consecutive stacks differ at the bottom.
 *   bench-unwind [rounds] [captures-per-round]
 * Built with frame pointers so that the fp walk sees the whole recursion (libc frames stay without). */
#include "../../preload/preload.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

enum { METHODS = 3, MAX_ROUNDS = 101, MAX_FRAMES = 128 };

static const char *const method_names[METHODS] = {"unw_backtrace", "dwarf-cached", "fp"};

struct job {
    int method, captures, frames, sites;
    double ns;
};

static volatile int sink;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

__attribute__((noinline)) static int capture(int method)
{
    void *ips[MAX_FRAMES];
    unsigned flags;
    int n;
    if (method == 0) {
        n = unw_backtrace(ips, MAX_FRAMES);
    } else {
        n = ms_unwind_capture(ips, MAX_FRAMES, 0, &flags);
    }
    __asm__ volatile("" ::: "memory");
    return n;
}

/* Call paths of different lengths and frame sizes down to the capture. */
__attribute__((noinline)) static int site(int extra, int method)
{
    volatile char pad[48];
    pad[0] = (char)extra;
    if (extra > 1) {
        int n = site(extra - 1, method);
        sink += pad[0];
        return n;
    }
    int n = capture(method);
    sink += pad[0];
    return n;
}

__attribute__((noinline)) static void measure(struct job *j)
{
    int n = 0;
    if (j->method != 0) {
        ms_unwind_init(j->method == 1 ? MS_UNWIND_DWARF : MS_UNWIND_FP);
    }
    uint64_t t0 = now_ns();
    if (j->sites == 1) {
        for (int i = 0; i < j->captures; i++) {
            n = site(1, j->method);
        }
    } else {
        for (int i = 0; i < j->captures; i++) {
            n = site(1 + (i & 3), j->method);
        }
    }
    j->ns = (double)(now_ns() - t0) / j->captures;
    j->frames = n;
}

__attribute__((noinline)) static void recurse(int depth, struct job *j)
{
    if (depth <= 1) {
        measure(j);
        return;
    }
    recurse(depth - 1, j);
    sink++;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 21;
    int captures = argc > 2 ? atoi(argv[2]) : 20000;
    if (rounds < 1 || rounds > MAX_ROUNDS || captures < 1) {
        fprintf(stderr, "bench-unwind: rounds must be 1..%d and captures positive\n", MAX_ROUNDS);
        return 2;
    }
    const int depths[] = {8, 40};
    printf("%-6s %-9s %-14s %8s %12s %10s\n", "depth", "sites", "method", "frames", "median ns", "vs unw_bt");
    for (int sites = 1; sites <= 4; sites += 3) {
        for (size_t d = 0; d < sizeof depths / sizeof depths[0]; d++) {
            static double ns[METHODS][MAX_ROUNDS];
            int frames[METHODS] = {0};
            for (int warm = 0; warm < METHODS; warm++) {
                struct job j = {warm, 100, 0, sites, 0};
                recurse(depths[d], &j);
            }
            for (int r = 0; r < rounds; r++) {
                for (int m = 0; m < METHODS; m++) {
                    int method = (m + r) % METHODS; /* rotate the order too */
                    struct job j = {method, captures, 0, sites, 0};
                    recurse(depths[d], &j);
                    ns[method][r] = j.ns;
                    frames[method] = j.frames;
                }
            }
            double base = 0;
            for (int m = 0; m < METHODS; m++) {
                qsort(ns[m], (size_t)rounds, sizeof ns[m][0], compare_double);
                double med = ns[m][rounds / 2];
                if (m == 0) {
                    base = med;
                }
                printf("%-6d %-9s %-14s %8d %12.1f %9.2fx\n", depths[d], sites == 1 ? "same" : "4 sites",
                       method_names[m], frames[m], med, med / base);
            }
        }
    }
    /* A capture right after ms_unwind_invalidate: every return address read from the CFI again. */
    {
        static double cold[MAX_ROUNDS], warm[MAX_ROUNDS];
        int frames = 0;
        for (int r = 0; r < rounds; r++) {
            ms_unwind_invalidate();
            struct job j = {1, 1, 0, 1, 0};
            recurse(depths[0], &j);
            cold[r] = j.ns;
            frames = j.frames;
            j.ns = 0;
            recurse(depths[0], &j);
            warm[r] = j.ns;
        }
        qsort(cold, (size_t)rounds, sizeof cold[0], compare_double);
        qsort(warm, (size_t)rounds, sizeof warm[0], compare_double);
        printf("%-6d %-9s %-14s %8d %12.1f  (the next one: %.1f ns)\n", depths[0], "cold", "dwarf-cached",
               frames, cold[rounds / 2], warm[rounds / 2]);
    }
    return 0;
}
