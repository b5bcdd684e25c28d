/* Call stacks as return addresses. Two walkers share one entry point:
 *  - MS_UNWIND_DWARF: CFI-correct (libunwind's unw_backtrace);
 *  - MS_UNWIND_FP: frame-pointer chain, each frame checked against the thread's stack bounds so that a
 *    function that uses rbp as a general register ends the walk instead of faulting. */
#include "preload.h"

#include <memsnap/format.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#define MS_TLS __attribute__((tls_model("initial-exec")))

static enum ms_unwind_mode unwind_mode;

/* Stack bounds of this thread, fetched on its first capture; hi == 1 marks "unknown". */
static __thread uintptr_t unwind_lo MS_TLS;
static __thread uintptr_t unwind_hi MS_TLS;

void ms_unwind_init(enum ms_unwind_mode mode)
{
    unwind_mode = mode;
}

void ms_unwind_invalidate(void)
{
}

static int unwind_bounds(uintptr_t *lo, uintptr_t *hi)
{
    if (__builtin_expect(unwind_hi == 0, 0)) {
        uintptr_t l, h;
        if (ms_platform_thread_stack(&l, &h) == 0 && l < h) {
            unwind_lo = l;
            unwind_hi = h;
        } else {
            unwind_lo = 0;
            unwind_hi = 1;
        }
    }
    *lo = unwind_lo;
    *hi = unwind_hi;
    return unwind_hi > 1;
}

/* The walkers read saved registers from other functions' frames on purpose. */
#define MS_RAW_READ __attribute__((no_sanitize_address))

/* fp chain: frame[0] = caller's rbp, frame[1] = return address. `frame` is the frame of
 * ms_unwind_capture itself, so its return address is frame 0 of the result. */
MS_RAW_READ static int unwind_fp(const uintptr_t *frame, void **ips, int max, int skip, unsigned *flags)
{
    uintptr_t lo, hi;
    int n = 0;
    if (!unwind_bounds(&lo, &hi)) {
        *flags |= MS_FMT_STACK_BROKEN;
        return 0;
    }
    uintptr_t fp = (uintptr_t)frame;
    for (int depth = 0;; depth++) {
        if (fp < lo || fp > hi - 16 || (fp & 7) != 0) {
            if (fp != 0) {
                *flags |= MS_FMT_STACK_BROKEN;
            }
            return n;
        }
        const uintptr_t *f = (const uintptr_t *)fp;
        uintptr_t ip = f[1];
        if (ip == 0) {
            return n;
        }
        if (depth >= skip) {
            if (n == max) {
                *flags |= MS_FMT_STACK_TRUNCATED;
                return n;
            }
            ips[n++] = (void *)ip;
        }
        uintptr_t next = f[0];
        if (next != 0 && next <= fp) {
            *flags |= MS_FMT_STACK_BROKEN;
            return n;
        }
        fp = next;
    }
}

/* Inlined so that unw_backtrace's first entry lies inside ms_unwind_capture: one more frame to drop. */
__attribute__((always_inline)) static inline int unwind_libunwind(void **ips, int max, int skip, unsigned *flags)
{
    void *buf[MS_UNWIND_MAX_DEPTH + 8];
    int want = max + skip + 2;
    if (want > (int)(sizeof buf / sizeof buf[0])) {
        want = (int)(sizeof buf / sizeof buf[0]);
    }
    int got = unw_backtrace(buf, want);
    int n = 0;
    for (int i = skip + 1; i < got; i++) {
        if (n == max) {
            *flags |= MS_FMT_STACK_TRUNCATED;
            break;
        }
        ips[n++] = buf[i];
    }
    return n;
}

__attribute__((noinline)) int ms_unwind_capture(void **ips, int max, int skip, unsigned *flags)
{
    *flags = 0;
    if (max <= 0) {
        return 0;
    }
    if (max > MS_UNWIND_MAX_DEPTH) {
        max = MS_UNWIND_MAX_DEPTH;
    }
    if (skip < 0) {
        skip = 0;
    } else if (skip > 4) {
        skip = 4;
    }
    int n;
    if (unwind_mode == MS_UNWIND_FP) {
        n = unwind_fp(__builtin_frame_address(0), ips, max, skip, flags);
    } else {
        n = unwind_libunwind(ips, max, skip, flags);
    }
    /* Keeps the walkers from being tail calls, whose frame would not be this one. */
    __asm__ volatile("" ::: "memory");
    return n;
}
