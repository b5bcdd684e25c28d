/* Call stacks as return addresses. One entry point over three walkers: MS_UNWIND_DWARF (dwarf.c, the CFI
 * with rules cached per return address, libunwind for frames outside its subset), MS_UNWIND_FP (fpwalk.c)
 * and MS_UNWIND_LIBUNWIND (unw_backtrace on every capture, the reference). Before walking, the tracker's
 * captures ask kept.c whether the stack is one the thread walked before. */
#include "preload.h"

#include <errno.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

/* Deepest stack returned (MS_CONFIG_DEPTH_MAX); a larger max is clamped to it. */
#define UNWIND_MAX_DEPTH 256

static enum ms_unwind_mode unwind_mode;

void ms_unwind_init(enum ms_unwind_mode mode)
{
    unwind_mode = mode;
    ms_thread_init();
}

void ms_unwind_invalidate(void)
{
    ms_codemap_forget();
    /* libunwind keeps its own per-address cache: the fallback and MS_UNWIND_LIBUNWIND need it flushed. */
    unw_flush_cache(unw_local_addr_space, 0, 0);
    ms_rulecache_clear();
}

unsigned long ms_unwind_fallbacks(void)
{
    return ms_thread_self()->unwind_fallbacks;
}

/* unw_backtrace's first entries lie in this function and in its callers up to the function whose frame
 * the capture starts from: they are dropped up to that frame's return address, frame 0 (two or three
 * of them, depending on what the compiler inlined). Not inlined, so that its buffer does not weigh on
 * the other walkers' frame. */
__attribute__((noinline)) static int unwind_libunwind(const uintptr_t *frame, void **ips, int max, int skip,
                                                      unsigned *flags)
{
    enum { LEAD_MAX = 4 };
    void *buf[UNWIND_MAX_DEPTH + LEAD_MAX + 4];
    int want = max + skip + LEAD_MAX + 1;
    if (want > (int)(sizeof buf / sizeof buf[0])) {
        want = (int)(sizeof buf / sizeof buf[0]);
    }
    int saved_errno = errno;
    int got = unw_backtrace(buf, want);
    errno = saved_errno;
    int lead = 2;
    for (int i = 0; i < got && i <= LEAD_MAX; i++) {
        if ((uintptr_t)buf[i] == frame[1]) {
            lead = i;
            break;
        }
    }
    int n = 0;
    for (int i = lead + skip; i < got; i++) {
        if (n == max) {
            *flags |= MS_FMT_STACK_TRUNCATED;
            break;
        }
        ips[n++] = buf[i];
    }
    /* Keeps unw_backtrace from being a tail call. */
    __asm__ volatile("" ::: "memory");
    return n;
}

/* frame: the entry point's own frame (frame[0] its caller's rbp, frame[1] the return address, frame + 2
 * the caller's rsp). known: NULL, or where a remembered stack id goes. */
MS_RAW_READ static inline __attribute__((always_inline)) int unwind_capture(struct ms_thread *t,
                                                                            const uintptr_t *frame, void **ips,
                                                                            int max, int skip, unsigned *flags,
                                                                            uint32_t *known)
{
    *flags = 0;
    if (known) {
        *known = MS_STACK_UNKNOWN;
    }
    if (max <= 0) {
        return 0;
    }
    if (max > UNWIND_MAX_DEPTH) {
        max = UNWIND_MAX_DEPTH;
    }
    if (skip < 0) {
        skip = 0;
    } else if (skip > 4) {
        skip = 4;
    }
    int n;
    switch (unwind_mode) {
    case MS_UNWIND_FP:
        n = ms_kept_fp_find(t, frame, ips, max, skip, flags, known);
        if (n < 0) {
            if (known) {
                *known = MS_STACK_UNKNOWN;
            }
            *flags = 0;
            n = ms_kept_fp_walk(t, frame, ips, max, skip, flags);
        }
        break;
    case MS_UNWIND_LIBUNWIND: n = unwind_libunwind(frame, ips, max, skip, flags); break;
    default:
        /* A kept walk gives its id (kept.c: the one place that knows which stacks were seen); else walk. */
        n = known ? ms_kept_dwarf_find(t, frame[1], (uintptr_t)(frame + 2), frame[0], max, skip, flags, known) : -1;
        if (n < 0) {
            *flags = 0;
            n = (int)(ms_dwarf_walk(t, frame[1], (uintptr_t)(frame + 2), frame[0], ips, ips + max, skip, flags) -
                      ips);
        }
        break;
    }
    return n;
}

/* Taking the frame address gives these functions a frame pointer. The empty asm keeps the walkers from
 * being tail calls, whose frame would not be this one. */
MS_RAW_READ __attribute__((noinline)) int ms_unwind_capture(void **ips, int max, int skip, unsigned *flags)
{
    int n = unwind_capture(ms_thread_self(), __builtin_frame_address(0), ips, max, skip, flags, NULL);
    __asm__ volatile("" ::: "memory");
    return n;
}

/* Not noinline: the tracker's hooks take it inline, from their own frame. */
MS_RAW_READ int ms_unwind_capture_from(struct ms_thread *t, const void *frame, void **ips, int max, int skip,
                                       unsigned *flags, uint32_t *stack)
{
    return unwind_capture(t, frame, ips, max, skip, flags, stack);
}

void ms_unwind_remember(struct ms_thread *t, uint32_t stack)
{
    ms_kept_remember(t, unwind_mode, stack);
}
