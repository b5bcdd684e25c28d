/* libmemsnap.so internals: one header for the preload, grouped by source file.
 * Error convention: platform calls return 0 or -errno; hooks never fail on the profiler's account
 * (when tracking is impossible the allocation still happens, untracked, and is counted as such). */
#ifndef MS_PRELOAD_H
#define MS_PRELOAD_H

#include <stddef.h>
#include <stdint.h>

#define MS_HIDDEN __attribute__((visibility("hidden")))

/* ---- platform.c: every OS call of the preload goes through here --------------------------------- */

/* Bounds [*lo, *hi) of the calling thread's stack. Slow (may read /proc): call once per thread, under the
 * recursion guard. 0 or -errno. */
MS_HIDDEN int ms_platform_thread_stack(uintptr_t *lo, uintptr_t *hi);

/* ---- unwind.c: call stacks as return addresses ---------------------------------------------------- */

enum ms_unwind_mode {
    MS_UNWIND_DWARF = 0, /* CFI-correct: cached per return address, libunwind as fallback (default) */
    MS_UNWIND_FP = 1,    /* frame-pointer walk, every frame checked against the thread's stack bounds */
};

/* Deepest stack a capture returns (MEMSNAP_DEPTH is clamped to it); `skip` is clamped to 0..4. */
#define MS_UNWIND_MAX_DEPTH 256

/* Once, before the first capture (called under the recursion guard). */
MS_HIDDEN void ms_unwind_init(enum ms_unwind_mode mode);

/* Fill ips[0..max) with the return addresses of the calling thread's stack, innermost first, starting
 * `skip` frames above the caller of ms_unwind_capture. Returns the number of frames; sets *flags to
 * MS_FMT_STACK_TRUNCATED when max was hit, MS_FMT_STACK_BROKEN when the walk stopped on a bad frame.
 * Async-signal-safe, allocation-free after init, no system calls on the hot path. */
MS_HIDDEN int ms_unwind_capture(void **ips, int max, int skip, unsigned *flags);

/* Modules were loaded or unloaded (dlopen/dlclose): drop cached unwind rules for unmapped ranges. */
MS_HIDDEN void ms_unwind_invalidate(void);

#endif /* MS_PRELOAD_H */
