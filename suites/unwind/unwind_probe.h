/* Shared between the unwinder tests and the functions built with other flags (unwind_omitfp.c). */
#ifndef MS_UNWIND_PROBE_H
#define MS_UNWIND_PROBE_H

#include <stdint.h>

#define PROBE_MAX 128

struct probe {
    int max, skip;
    int n, ref_n;
    unsigned flags;
    unsigned long fallbacks; /* libunwind had to finish this capture */
    uintptr_t frame;         /* set by tests that need the capturing frame's address */
    void *ips[PROBE_MAX];
    void *ref[PROBE_MAX];
};

/* Captures with ms_unwind_capture and, from the same frame, with unw_backtrace (the reference). */
void probe_capture(struct probe *p);

/* Built with -O2 -fomit-frame-pointer: a recursion whose frames have no frame pointer. */
int omitfp_recurse(int depth, struct probe *p);
/* Built with -O2 -fomit-frame-pointer: spins until *stop, calling back into `tick` now and then. */
long omitfp_spin(int *stop, void (*tick)(void));
/* Built with -O2 -fomit-frame-pointer: frames with large locals and an alloca-style dynamic frame. */
int omitfp_bigframe(int n, struct probe *p);

#endif
