/* Preloaded into real programs by unwind_real_programs.sh: on every malloc, captures the stack with
 * ms_unwind_capture (MS_UNWIND_DWARF), with unw_backtrace from the same frame, and as the preload's hooks
 * do (ms_unwind_capture_from: a kept walk's id, or frames interned into one and remembered), and counts
 * the captures that differ. At exit appends "captures N mismatches M fallbacks F kept K" to
 * $UNWIND_COMPARE_REPORT (K: captures a kept walk answered). */
#include "../../preload/preload.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

extern void *__libc_malloc(size_t size);
void *malloc(size_t size);

static __thread int compare_busy __attribute__((tls_model("initial-exec")));
static unsigned long compare_captures, compare_mismatches, compare_fallbacks, compare_kept;
static int compare_ready; /* 1 while the first call sets up, 2 once done */

/* As the hooks capture, from a frame of its own: frame 0 is its return address in compare_one, the
 * frames after it those of ref[]. Whether they match. */
__attribute__((noinline)) static int compare_kept_path(void *const *ref, int ref_n)
{
    struct ms_thread *t = ms_thread_self();
    void *buf[64];
    void *const *ips = buf;
    unsigned flags, depth;
    uint32_t stack;
    int n = ms_unwind_capture_from(t, __builtin_frame_address(0), buf, 64, 0, &flags, &stack);
    if (stack == MS_STACK_UNKNOWN) {
        ms_unwind_remember(t, ms_stacks_intern(buf, n > 0 ? (unsigned)n : 0, flags));
    } else {
        __atomic_add_fetch(&compare_kept, 1, __ATOMIC_RELAXED);
        ips = ms_stacks_get(stack, &depth, &flags);
        n = (int)depth;
    }
    int want = ref_n > 64 ? 64 : ref_n;
    int differ = n != want || (ref_n > 64) != ((flags & MS_FMT_STACK_TRUNCATED) != 0);
    for (int i = 1; !differ && i < n; i++) {
        differ = ips[i] != ref[i];
    }
    return !differ;
}

__attribute__((noinline)) static void compare_one(void)
{
    void *ips[64], *ref[66];
    unsigned flags;
    unsigned long before = ms_unwind_fallbacks();
    int n = ms_unwind_capture(ips, 64, 0, &flags);
    int ref_n = unw_backtrace(ref, 66);
    __asm__ volatile("" ::: "memory");
    /* Frame 0 is each call's own return address in this function. */
    int want = ref_n > 64 ? 64 : ref_n;
    int differ = n != want || (ref_n > 64) != ((flags & 1u) != 0);
    for (int i = 1; !differ && i < n; i++) {
        differ = ips[i] != ref[i];
    }
    differ |= !compare_kept_path(ref, ref_n);
    __atomic_add_fetch(&compare_captures, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&compare_fallbacks, ms_unwind_fallbacks() - before, __ATOMIC_RELAXED);
    if (differ) {
        __atomic_add_fetch(&compare_mismatches, 1, __ATOMIC_RELAXED);
    }
}

void *malloc(size_t size)
{
    if (!compare_busy) {
        compare_busy = 1; /* libunwind and the loader allocate too */
        int state = 0;
        if (__atomic_compare_exchange_n(&compare_ready, &state, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE)) {
            ms_unwind_init(MS_UNWIND_DWARF);
            if (ms_stacks_init() < 0) {
                abort();
            }
            __atomic_store_n(&compare_ready, state = 2, __ATOMIC_RELEASE);
        }
        if (state == 2) { /* another thread's first call may still be setting up */
            compare_one();
        }
        compare_busy = 0;
    }
    return __libc_malloc(size);
}

__attribute__((destructor)) static void compare_report(void)
{
    const char *path = getenv("UNWIND_COMPARE_REPORT");
    if (path == NULL) {
        return;
    }
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        return;
    }
    char line[200];
    int len = snprintf(line, sizeof line, "captures %lu mismatches %lu fallbacks %lu kept %lu\n",
                       __atomic_load_n(&compare_captures, __ATOMIC_RELAXED),
                       __atomic_load_n(&compare_mismatches, __ATOMIC_RELAXED),
                       __atomic_load_n(&compare_fallbacks, __ATOMIC_RELAXED),
                       __atomic_load_n(&compare_kept, __ATOMIC_RELAXED));
    if (len > 0 && write(fd, line, (size_t)len) < 0) {
        /* nothing to do: the script sees the line missing */
    }
    close(fd);
}
