/* Compiled with -O2 -fomit-frame-pointer: frames whose CFA is rsp-relative, the Debian default. */
#include "unwind_probe.h"

#include <string.h>

static volatile int sink;

__attribute__((noinline)) int omitfp_recurse(int depth, struct probe *p)
{
    if (depth <= 0) {
        probe_capture(p);
        return p->n;
    }
    int r = omitfp_recurse(depth - 1, p);
    sink = r + depth; /* not a tail call */
    return sink - depth;
}

__attribute__((noinline)) long omitfp_spin(int *stop, void (*tick)(void))
{
    long i = 0;
    while (!__atomic_load_n(stop, __ATOMIC_RELAXED)) {
        i++;
        if ((i & 0xfffff) == 0) {
            tick();
        }
    }
    return i;
}

__attribute__((noinline)) int omitfp_bigframe(int n, struct probe *p)
{
    char big[5000];
    memset(big, n, sizeof big);
    /* A variable-length frame: gcc switches the CFA to rbp here even without frame pointers. */
    char *dyn = __builtin_alloca((unsigned)n + 16);
    memset(dyn, 1, (unsigned)n + 16);
    probe_capture(p);
    sink = big[n] + dyn[n];
    return p->n + sink;
}
