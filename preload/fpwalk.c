/* The frame-pointer walk (MS_UNWIND_FP): every frame checked against the thread's stack bounds, so a
 * garbage frame pointer ends the walk (MS_FMT_STACK_BROKEN) instead of faulting. */
#include "preload.h"

/* fp chain: frame[0] = caller's rbp, frame[1] = return address. `frame` is the frame of
 * ms_unwind_capture itself, so its return address is frame 0 of the result. A zero rbp or return address
 * ends the chain normally (_start clears rbp); anything else outside the rules is a broken stack.
 * rec: where the frames visited (skipped ones too) are recorded (struct ms_fp_check says how), up to
 * MS_UNWIND_MEMO_FRAMES of them; rec->visited says how many there were. */
MS_RAW_READ void **ms_fpwalk(struct ms_thread *t, const uintptr_t *frame, void **out, void **end, int skip,
                             unsigned *flags, struct ms_fp_check *rec)
{
    uintptr_t lo, hi;
    int v = 0, cap = rec ? MS_UNWIND_MEMO_FRAMES : 0;
    uintptr_t *fps = rec ? rec->fps : NULL, *pairs = rec ? rec->pairs : NULL;
    if (rec) {
        rec->visited = 0;
    }
    if (!ms_thread_stack(t, &lo, &hi)) {
        *flags |= MS_FMT_STACK_BROKEN;
        return out;
    }
    uintptr_t fp = (uintptr_t)frame, top = hi - 16;
    if (fp < lo || fp > top || (fp & 7) != 0) {
        *flags |= MS_FMT_STACK_BROKEN;
        return out;
    }
    /* fp only grows, so lo needs checking once; a zero next (the end) fails the test too. */
    for (;; v++) {
        /* Word by word (atomic loads are never merged into a wide one): a 16-byte load of a frame pushed
         * moments ago waits until both of its stores reach the cache. */
        const uintptr_t *f = (const uintptr_t *)fp;
        uintptr_t ip = __atomic_load_n(&f[1], __ATOMIC_RELAXED), next = __atomic_load_n(&f[0], __ATOMIC_RELAXED);
        if (v < cap) {
            fps[v] = fp;
            pairs[2 * v] = next;
            pairs[2 * v + 1] = ip;
        }
        if (__builtin_expect(ip == 0, 0)) {
            break;
        }
        if (__builtin_expect(!ms_codemap_contains(ip), 0)) {
            *flags |= MS_FMT_STACK_BROKEN; /* rbp was no frame pointer: what it points at is no frame */
            break;
        }
        if (skip > 0) {
            skip--;
        } else if (__builtin_expect(out == end, 0)) {
            *flags |= MS_FMT_STACK_TRUNCATED;
            break;
        } else {
            *out++ = (void *)ip;
        }
        if (__builtin_expect(next <= fp || next > top || (next & 7) != 0, 0)) {
            if (next != 0) {
                *flags |= MS_FMT_STACK_BROKEN;
            }
            break;
        }
        fp = next;
    }
    if (rec) {
        rec->visited = v + 1;
    }
    return out;
}
