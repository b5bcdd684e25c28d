/* ms_unwind_capture against libunwind's unw_backtrace, taken from the same frame: the CFI mode must give
 * the same return addresses (it caches what the CFI says, libunwind reads it each time), the frame-pointer
 * mode the same prefix as far as frame pointers go, and neither may fault on a bad chain. */
#include "unwind_probe.h"

#include "../../preload/preload.h"
#include <memsnap/format.h>

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

__attribute__((noinline)) void probe_capture(struct probe *p)
{
    unsigned long before = ms_unwind_fallbacks();
    p->n = ms_unwind_capture(p->ips, p->max, p->skip, &p->flags);
    p->fallbacks = ms_unwind_fallbacks() - before;
    p->ref_n = unw_backtrace(p->ref, PROBE_MAX);
    __asm__ volatile("" ::: "memory");
}

/* The reference by unw_step: libunwind's unw_backtrace keeps a per-thread cache by address that
 * unw_flush_cache does not reach, so after a module is replaced only stepping gives the truth. */
__attribute__((noinline)) static void probe_capture_stepped(struct probe *p)
{
    unsigned long before = ms_unwind_fallbacks();
    p->n = ms_unwind_capture(p->ips, p->max, p->skip, &p->flags);
    p->fallbacks = ms_unwind_fallbacks() - before;
    unw_context_t uc;
    unw_cursor_t cursor;
    p->ref_n = 0;
    if (unw_getcontext(&uc) == 0 && unw_init_local(&cursor, &uc) == 0) {
        do {
            unw_word_t ip;
            if (unw_get_reg(&cursor, UNW_REG_IP, &ip) < 0 || ip == 0) {
                break;
            }
            p->ref[p->ref_n++] = (void *)ip;
        } while (p->ref_n < PROBE_MAX && unw_step(&cursor) > 0);
    }
    __asm__ volatile("" ::: "memory");
}

static void probe_reset(struct probe *p, int max, int skip)
{
    memset(p, 0, sizeof *p);
    p->max = max;
    p->skip = skip;
}

/* Frame i of the capture is frame i + skip of the reference, except that with skip 0 the innermost frame
 * of each is its own call site inside probe_capture. Returns the first differing index or -1. */
static int probe_mismatch(const struct probe *p)
{
    int avail = p->ref_n - p->skip;
    int want = avail < p->max ? avail : p->max;
    if (p->ref_n >= PROBE_MAX || want < 1) {
        return 0; /* the reference itself was cut: the test is too deep */
    }
    if (p->n != want) {
        return p->n < want ? p->n : want;
    }
    unsigned want_flags = avail > p->max ? MS_FMT_STACK_TRUNCATED : 0;
    if (p->flags != want_flags) {
        return 0;
    }
    for (int i = 0; i < p->n; i++) {
        if (i == 0 && p->skip == 0) {
            uintptr_t d = (uintptr_t)p->ips[0] - (uintptr_t)(void *)probe_capture;
            uintptr_t d2 = (uintptr_t)p->ips[0] - (uintptr_t)(void *)probe_capture_stepped;
            if ((d == 0 || d > 256) && (d2 == 0 || d2 > 512)) {
                return 0;
            }
            if (p->ips[0] == p->ref[0]) {
                return 0;
            }
            continue;
        }
        if (p->ips[i] != p->ref[i + p->skip]) {
            return i;
        }
    }
    return -1;
}

static void probe_print(const struct probe *p)
{
    fprintf(stderr, "# capture n=%d flags=%u skip=%d max=%d; reference n=%d\n", p->n, p->flags, p->skip,
            p->max, p->ref_n);
    for (int i = 0; i < p->ref_n || i < p->n; i++) {
        fprintf(stderr, "#  %2d %18p %18p\n", i, i < p->n ? p->ips[i] : NULL,
                i < p->ref_n ? p->ref[i] : NULL);
    }
}

static void assert_matches_reference(const struct probe *p)
{
    int at = probe_mismatch(p);
    if (at != -1) {
        fprintf(stderr, "# first difference at frame %d\n", at);
        probe_print(p);
    }
    assert_int_equal(at, -1);
}

/* A capture taken by a helper with its own reference walk: frame 0 is a call site inside `fn` (within
 * `span` bytes), every other frame equals the reference, nothing flagged. */
static void assert_matches_reference_from(const struct probe *p, const void *fn, uintptr_t span, int round)
{
    uintptr_t d = (uintptr_t)p->ips[0] - (uintptr_t)fn;
    int at = p->n == p->ref_n ? -1 : 0;
    for (int f = 1; at == -1 && f < p->n; f++) {
        if (p->ips[f] != p->ref[f]) {
            at = f;
        }
    }
    if (at != -1) {
        fprintf(stderr, "# round %d: first difference at frame %d\n", round, at);
        probe_print(p);
    }
    assert_true(d > 0 && d < span);
    assert_int_equal(p->flags, 0);
    assert_int_equal(p->n, p->ref_n);
    assert_int_equal(at, -1);
}

static volatile int sink;

__attribute__((noinline)) static int recurse(int depth, struct probe *p)
{
    if (depth <= 0) {
        probe_capture(p);
        return p->n;
    }
    int r = recurse(depth - 1, p);
    sink = r;
    return r + sink - r;
}

static int dwarf_setup(void **state)
{
    (void)state;
    ms_unwind_init(MS_UNWIND_DWARF);
    return 0;
}

static int fp_setup(void **state)
{
    (void)state;
    ms_unwind_init(MS_UNWIND_FP);
    return 0;
}

/* ---- CFI mode ------------------------------------------------------------------------------------ */

static void dwarf_matches_libunwind_on_deep_recursion(void **state)
{
    (void)state;
    static struct probe p;
    for (int depth = 0; depth < 100; depth += 7) {
        for (int again = 0; again < 3; again++) { /* first walk fills the cache, the next ones use it */
            probe_reset(&p, PROBE_MAX, 0);
            recurse(depth, &p);
            assert_matches_reference(&p);
            assert_int_equal(p.fallbacks, 0);
        }
    }
}

static void dwarf_matches_libunwind_without_frame_pointers(void **state)
{
    (void)state;
    static struct probe p;
    for (int depth = 0; depth < 60; depth += 5) {
        for (int again = 0; again < 3; again++) {
            probe_reset(&p, PROBE_MAX, 0);
            omitfp_recurse(depth, &p);
            assert_matches_reference(&p);
            assert_int_equal(p.fallbacks, 0);
        }
    }
    for (int n = 1; n < 3000; n += 997) {
        probe_reset(&p, PROBE_MAX, 1);
        omitfp_bigframe(n, &p);
        assert_matches_reference(&p);
        assert_int_equal(p.fallbacks, 0);
    }
}

static struct probe cb_probe;
static int cb_probed;

static int probing_compare(const void *a, const void *b)
{
    if (!cb_probed) {
        cb_probed = 1;
        probe_capture(&cb_probe);
    }
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static void dwarf_matches_libunwind_through_libc_callbacks(void **state)
{
    (void)state;
    int v[300];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 300; i++) {
            v[i] = (i * 7919) % 300;
        }
        probe_reset(&cb_probe, PROBE_MAX, 0);
        cb_probed = 0;
        qsort(v, 300, sizeof v[0], probing_compare);
        assert_true(cb_probed);
        assert_matches_reference(&cb_probe);
        assert_int_equal(cb_probe.fallbacks, 0);

        /* Through a pointer so that the header's inline bsearch is not used. */
        void *(*volatile search)(const void *, const void *, size_t, size_t,
                                 int (*)(const void *, const void *)) = bsearch;
        int key = 123;
        probe_reset(&cb_probe, PROBE_MAX, 0);
        cb_probed = 0;
        assert_non_null(search(&key, v, 300, sizeof v[0], probing_compare));
        assert_true(cb_probed);
        assert_matches_reference(&cb_probe);
        assert_int_equal(cb_probe.fallbacks, 0);
    }
}

static struct probe sig_probe;
static int sig_hits;

static void probing_handler(int sig)
{
    (void)sig;
    int saved_errno = errno;
    if (__atomic_load_n(&sig_hits, __ATOMIC_RELAXED) == 0) {
        probe_capture(&sig_probe);
    }
    __atomic_add_fetch(&sig_hits, 1, __ATOMIC_RELAXED);
    errno = saved_errno;
}

__attribute__((noinline)) static int raise_at_depth(int depth)
{
    if (depth > 0) {
        int r = raise_at_depth(depth - 1);
        sink = r;
        return r;
    }
    return raise(SIGUSR1);
}

static int spin_stop;

/* A library call now and then: sanitizers hold signals back until the thread makes one. */
static void spin_tick(void)
{
    sink++;
    usleep(0);
}

static void *spinner(void *arg)
{
    (void)arg;
    /* A thread's first capture fetches its stack bounds, which is no work for a signal handler. */
    static __thread struct probe warm;
    probe_reset(&warm, 4, 0);
    probe_capture(&warm);
    omitfp_spin(&spin_stop, spin_tick);
    return NULL;
}

static void dwarf_matches_libunwind_across_signal_frames(void **state)
{
    (void)state;
    struct sigaction sa = {0}, old;
    sa.sa_handler = probing_handler;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);

    for (int round = 0; round < 3; round++) {
        /* Synchronous: the interrupted frame is inside raise. */
        probe_reset(&sig_probe, PROBE_MAX, 0);
        __atomic_store_n(&sig_hits, 0, __ATOMIC_RELAXED);
        assert_int_equal(raise_at_depth(5), 0);
        assert_int_equal(__atomic_load_n(&sig_hits, __ATOMIC_RELAXED), 1);
        assert_matches_reference(&sig_probe);

        /* Asynchronous: the interrupted pc is anywhere in a loop without frame pointers. */
        probe_reset(&sig_probe, PROBE_MAX, 0);
        __atomic_store_n(&sig_hits, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&spin_stop, 0, __ATOMIC_RELAXED);
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, spinner, NULL), 0);
        usleep(20000);
        assert_int_equal(pthread_kill(t, SIGUSR1), 0);
        for (int waited = 0; __atomic_load_n(&sig_hits, __ATOMIC_RELAXED) == 0 && waited < 5000; waited++) {
            usleep(1000);
        }
        if (__atomic_load_n(&sig_hits, __ATOMIC_RELAXED) == 0) {
            __atomic_store_n(&spin_stop, 1, __ATOMIC_RELAXED);
            pthread_join(t, NULL);
            fail_msg("the signal was not delivered within 5 s");
        }
        __atomic_store_n(&spin_stop, 1, __ATOMIC_RELAXED);
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_matches_reference(&sig_probe);
    }
    sigaction(SIGUSR1, &old, NULL);
}

struct worker {
    int seed;
    int mismatches;
    int walks;
    unsigned long fallbacks;
    struct probe p;
};

static void *dwarf_worker(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 400; i++) {
        int depth = (w->seed * 31 + i * 17) % 40;
        probe_reset(&w->p, PROBE_MAX, i % 3);
        if (i & 1) {
            omitfp_recurse(depth, &w->p);
        } else {
            recurse(depth, &w->p);
        }
        w->walks++;
        w->fallbacks += w->p.fallbacks;
        if (probe_mismatch(&w->p) != -1) {
            if (w->mismatches++ == 0) {
                probe_print(&w->p);
            }
        }
    }
    return NULL;
}

static void dwarf_matches_libunwind_in_concurrent_threads(void **state)
{
    (void)state;
    enum { THREADS = 6 };
    static struct worker w[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i].seed = i;
        w[i].mismatches = 0;
        w[i].walks = 0;
        w[i].fallbacks = 0;
        assert_int_equal(pthread_create(&t[i], NULL, dwarf_worker, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(w[i].walks, 400);
        assert_int_equal(w[i].mismatches, 0);
        assert_int_equal(w[i].fallbacks, 0);
    }
}

static pthread_barrier_t crowd_barrier;

static void *crowd_worker(void *arg)
{
    struct worker *w = arg;
    pthread_barrier_wait(&crowd_barrier); /* all alive at once: more threads than memos */
    for (int i = 0; i < 30; i++) {
        probe_reset(&w->p, PROBE_MAX, 0);
        omitfp_recurse((w->seed + i) % 5, &w->p);
        w->walks++;
        if (probe_mismatch(&w->p) != -1 && w->mismatches++ == 0) {
            probe_print(&w->p);
        }
    }
    return NULL;
}

static void dwarf_matches_libunwind_with_more_threads_than_memos(void **state)
{
    (void)state;
    enum { THREADS = 80 };
    static struct worker w[THREADS];
    pthread_t t[THREADS];
    for (int round = 0; round < 2; round++) { /* the second round reuses what the first gave back */
        assert_int_equal(pthread_barrier_init(&crowd_barrier, NULL, THREADS), 0);
        for (int i = 0; i < THREADS; i++) {
            w[i].seed = i;
            w[i].mismatches = 0;
            w[i].walks = 0;
            pthread_attr_t attr;
            pthread_attr_init(&attr);
            pthread_attr_setstacksize(&attr, 256 * 1024);
            assert_int_equal(pthread_create(&t[i], &attr, crowd_worker, &w[i]), 0);
            pthread_attr_destroy(&attr);
        }
        for (int i = 0; i < THREADS; i++) {
            assert_int_equal(pthread_join(t[i], NULL), 0);
            assert_int_equal(w[i].walks, 30);
            assert_int_equal(w[i].mismatches, 0);
        }
        pthread_barrier_destroy(&crowd_barrier);
    }
}

static void dwarf_marks_truncation_at_the_depth_limit(void **state)
{
    (void)state;
    static struct probe p;
    probe_reset(&p, PROBE_MAX, 0);
    recurse(30, &p);
    assert_matches_reference(&p);
    int total = p.n;
    assert_true(total > 30);
    assert_int_equal(p.flags, 0);

    /* Exactly the frames there are: not truncated. One fewer: truncated. */
    probe_reset(&p, total, 0);
    recurse(30, &p);
    assert_int_equal(p.n, total);
    assert_int_equal(p.flags, 0);
    assert_matches_reference(&p);

    for (int max = 1; max < total; max += 6) {
        probe_reset(&p, max, 0);
        recurse(30, &p);
        assert_int_equal(p.n, max);
        assert_int_equal(p.flags, MS_FMT_STACK_TRUNCATED);
        assert_matches_reference(&p);
    }
}

static void dwarf_skips_the_requested_frames(void **state)
{
    (void)state;
    static struct probe p;
    for (int skip = 0; skip <= 4; skip++) {
        for (int again = 0; again < 2; again++) {
            probe_reset(&p, PROBE_MAX, skip);
            omitfp_recurse(10, &p);
            assert_matches_reference(&p);
            probe_reset(&p, 8, skip);
            recurse(20, &p);
            assert_matches_reference(&p);
        }
        /* The same stack twice in a row, with the skipped frames among those it shares with the last. */
        for (int again = 0; again < 3; again++) {
            probe_reset(&p, 6, skip);
            probe_capture(&p);
            assert_matches_reference(&p);
        }
    }
}

/* The same stack again from the same frame (through the memo), each time with another limit and skip:
 * first a complete walk, then captures cut short by the limit, which must say so. */
static void dwarf_cuts_a_repeated_stack_at_the_limit_and_skip(void **state)
{
    (void)state;
    static struct probe p;
    int truncated = 0;
    for (int i = 0; i < 15; i++) {
        probe_reset(&p, i % 3 == 0 ? PROBE_MAX : 1 + i / 2, i % 5);
        recurse(8, &p);
        assert_matches_reference(&p);
        truncated += p.flags == MS_FMT_STACK_TRUNCATED;
    }
    assert_true(truncated >= 8);
}

/* Captures with the word where this frame saved its caller's rbp replaced by `fake` (0: left alone).
 * The caller's CFA is computed from that rbp, so the walk goes from the caller to what fake says, while
 * every return address stays where it was. */
__attribute__((noinline)) static void capture_with_saved_rbp(struct probe *p, uintptr_t fake)
{
    volatile uintptr_t *saved = __builtin_frame_address(0);
    uintptr_t real = *saved;
    if (fake != 0) {
        *saved = fake;
    }
    p->n = ms_unwind_capture(p->ips, p->max, p->skip, &p->flags);
    p->ref_n = unw_backtrace(p->ref, PROBE_MAX);
    *saved = real;
    __asm__ volatile("" ::: "memory");
}

/* skip_caller: the saved rbp becomes this frame's caller's, so stacks lose that caller. */
__attribute__((noinline)) static void rbp_site(struct probe *p, int skip_caller)
{
    uintptr_t fake = skip_caller ? *(const uintptr_t *)__builtin_frame_address(0) : 0;
    capture_with_saved_rbp(p, fake);
    sink++;
}

static void dwarf_notices_a_changed_saved_frame_pointer_under_the_same_frames(void **state)
{
    (void)state;
    static struct probe p;
    int n[2] = {0, 0};
    for (int i = 0; i < 8; i++) {
        probe_reset(&p, PROBE_MAX, 0);
        rbp_site(&p, i & 1);
        /* Frame 0 of each is its own call site in capture_with_saved_rbp; the rest must be the same. */
        assert_matches_reference_from(&p, (const void *)capture_with_saved_rbp, 512, i);
        n[i & 1] = p.n;
    }
    assert_int_equal(n[1], n[0] - 1);
}

/* Same frame size, different return addresses: the frame of `through` sits at the same address with the
 * same return address whichever of the two called it, only the word above it differs. */
__attribute__((noinline)) static void through(struct probe *p)
{
    probe_capture(p);
    sink++;
}

__attribute__((noinline)) static void caller_one(struct probe *p)
{
    through(p);
    sink += 1;
}

__attribute__((noinline)) static void caller_two(struct probe *p)
{
    through(p);
    sink += 2;
}

static void dwarf_notices_a_changed_caller_above_an_identical_frame(void **state)
{
    (void)state;
    static struct probe p;
    void *seen[2] = {NULL, NULL};
    for (int i = 0; i < 20; i++) {
        void (*volatile call)(struct probe *) = (i & 1) ? caller_two : caller_one;
        probe_reset(&p, PROBE_MAX, 0);
        call(&p);
        assert_matches_reference(&p);
        seen[i & 1] = p.ips[2];
        if (i > 2) {
            assert_int_equal(p.fallbacks, 0);
        }
    }
    assert_ptr_not_equal(seen[0], seen[1]);
}

static const char *module_paths[2];

typedef int module_entry_fn(int depth, void (*capture)(struct probe *), struct probe *p);

static void dwarf_matches_libunwind_after_a_module_is_replaced(void **state)
{
    (void)state;
    if (module_paths[0] == NULL || module_paths[1] == NULL) {
        fail_msg("usage: test-unwind MODULE_A.so MODULE_B.so");
    }
    static struct probe p;
    for (int round = 0; round < 4; round++) {
        void *h = dlopen(module_paths[round & 1], RTLD_NOW | RTLD_LOCAL);
        if (h == NULL) {
            fail_msg("%s", dlerror());
        }
        module_entry_fn *entry = (module_entry_fn *)(uintptr_t)dlsym(h, "unwind_module_entry");
        assert_non_null(entry);
        for (int again = 0; again < 3; again++) {
            probe_reset(&p, PROBE_MAX, 0);
            entry(6, probe_capture_stepped, &p);
            assert_matches_reference(&p);
            if (again > 0) {
                assert_int_equal(p.fallbacks, 0);
            }
        }
        assert_int_equal(dlclose(h), 0);
        ms_unwind_invalidate();
    }
}

/* A frame with an alloca, reached from two callers with different frame sizes: with the right alloca
 * sizes its call into probe_capture sits at the same address from both, with the same return address,
 * but rbp (its CFA) differs, and the first path's return addresses still lie in the dead stack below
 * the second caller's frame. */
__attribute__((noinline)) static void dyn_capture(struct probe *p)
{
    p->frame = (uintptr_t)__builtin_frame_address(0);
    probe_capture(p);
    sink++;
}

__attribute__((noinline)) static void dyn_frame(size_t n, struct probe *p)
{
    char *a = __builtin_alloca(n);
    memset(a, 1, n);
    dyn_capture(p);
    sink += a[0];
}

__attribute__((noinline)) static void dyn_caller_small(size_t n, struct probe *p)
{
    dyn_frame(n, p);
    sink++;
}

__attribute__((noinline)) static void dyn_caller_big(size_t n, struct probe *p)
{
    volatile char pad[256]; /* left as it is: what the small path left there stays */
    pad[0] = 2;
    dyn_frame(n, p);
    sink += pad[0];
}

/* Call fn(n, p) from a frame of 16 or 32 bytes: a shift that alloca sizes, which the address sanitizer
 * rounds to 32, cannot give. */
typedef void dyn_fn(size_t n, struct probe *p);
void call_from_16(dyn_fn *fn, size_t n, struct probe *p);
void call_from_32(dyn_fn *fn, size_t n, struct probe *p);
__asm__(".text\n"
        ".globl call_from_16\n"
        ".type call_from_16, @function\n"
        "call_from_16:\n"
        ".cfi_startproc\n"
        "  sub $8, %rsp\n"
        ".cfi_def_cfa_offset 16\n"
        "  mov %rdi, %rax\n"
        "  mov %rsi, %rdi\n"
        "  mov %rdx, %rsi\n"
        "  call *%rax\n"
        "  add $8, %rsp\n"
        ".cfi_def_cfa_offset 8\n"
        "  ret\n"
        ".cfi_endproc\n"
        ".size call_from_16, .-call_from_16\n"
        ".globl call_from_32\n"
        ".type call_from_32, @function\n"
        "call_from_32:\n"
        ".cfi_startproc\n"
        "  sub $24, %rsp\n"
        ".cfi_def_cfa_offset 32\n"
        "  mov %rdi, %rax\n"
        "  mov %rsi, %rdi\n"
        "  mov %rdx, %rsi\n"
        "  call *%rax\n"
        "  add $24, %rsp\n"
        ".cfi_def_cfa_offset 8\n"
        "  ret\n"
        ".cfi_endproc\n"
        ".size call_from_32, .-call_from_32\n");

/* No call between the two: nothing overwrites the small path's frames before the big one is walked. */
__attribute__((noinline)) static void dyn_both(int shift, size_t small_n, size_t big_n, struct probe *small,
                                               struct probe *big)
{
    (shift ? call_from_32 : call_from_16)(dyn_caller_small, small_n, small);
    dyn_caller_big(big_n, big);
    sink++;
}

/* Captures (skip 0) and takes the reference from one frame whose CFA is rbp + 16, as with frame pointers.
 * With skip_caller the frame runs with its caller's rbp instead of its own: both unwinders then go from it
 * to its caller's caller, while its ip and sp stay what they were. Returns the capture's frame count. */
int entry_rbp_capture(void **ips, int max, unsigned *flags, void **ref, long skip_caller, int *ref_n);
#define PROBE_STR(x) #x
#define PROBE_XSTR(x) PROBE_STR(x)
__asm__(".text\n"
        ".p2align 4\n"
        ".globl entry_rbp_capture\n"
        ".hidden entry_rbp_capture\n"
        ".type entry_rbp_capture, @function\n"
        "entry_rbp_capture:\n"
        ".cfi_startproc\n"
        "push %rbp\n"
        ".cfi_def_cfa_offset 16\n"
        ".cfi_offset %rbp, -16\n"
        "mov %rsp, %rbp\n"
        ".cfi_def_cfa_register %rbp\n"
        "push %rbx\n"
        "push %r12\n"
        "push %r13\n"
        "push %r14\n"
        "push %r15\n"
        "sub $8, %rsp\n"
        "mov %rcx, %r12\n" /* ref */
        "mov %r9, %r13\n"  /* ref_n */
        "mov %rdx, %rcx\n" /* flags: the 4th argument */
        "xor %edx, %edx\n" /* skip 0 */
        "test %r8, %r8\n"
        "jz 1f\n"
        "mov (%rbp), %rbp\n"
        "1:\n"
        "call ms_unwind_capture\n"
        "mov %eax, %r15d\n"
        "mov %r12, %rdi\n"
        "mov $" PROBE_XSTR(PROBE_MAX) ", %esi\n"
        "call unw_backtrace@PLT\n"
        "mov %eax, (%r13)\n"
        "lea 48(%rsp), %rbp\n"
        "mov %r15d, %eax\n"
        "add $8, %rsp\n"
        "pop %r15\n"
        "pop %r14\n"
        "pop %r13\n"
        "pop %r12\n"
        "pop %rbx\n"
        "pop %rbp\n"
        ".cfi_def_cfa %rsp, 8\n"
        "ret\n"
        ".cfi_endproc\n"
        ".size entry_rbp_capture, .-entry_rbp_capture\n");

__attribute__((noinline)) static void entry_site(struct probe *p, long skip_caller)
{
    p->n = entry_rbp_capture(p->ips, p->max, &p->flags, p->ref, skip_caller, &p->ref_n);
    sink++;
}

/* The first step of the walk uses the capturing frame's own rbp: the same frame (ip, sp) with another rbp
 * has other callers, which a capture repeating the last stack must not miss. */
static void dwarf_notices_another_rbp_in_the_same_first_frame(void **state)
{
    (void)state;
    static struct probe p;
    int n[2] = {0, 0};
    for (int i = 0; i < 8; i++) {
        probe_reset(&p, PROBE_MAX, 0);
        entry_site(&p, i & 1);
        assert_matches_reference_from(&p, (const void *)entry_rbp_capture, 256, i);
        n[i & 1] = p.n;
    }
    assert_int_equal(n[1], n[0] - 1);
}

static void dwarf_notices_another_frame_base_at_the_same_address(void **state)
{
    (void)state;
    static struct probe small, big;
    size_t small_n = 1024, big_n = 0;
    int shift = 0;
    for (int sh = 0; sh < 2 && big_n == 0; sh++) {
        for (size_t n = 8; n <= 1024 && big_n == 0; n += 8) {
            probe_reset(&small, PROBE_MAX, 0);
            probe_reset(&big, PROBE_MAX, 0);
            dyn_both(sh, small_n, n, &small, &big);
            if (small.frame == big.frame) {
                shift = sh;
                big_n = n;
            }
        }
    }
    if (big_n == 0) {
        fail_msg("no alloca size puts both paths' frames at one address");
    }
    for (int i = 0; i < 3; i++) {
        probe_reset(&small, PROBE_MAX, 0);
        probe_reset(&big, PROBE_MAX, 0);
        dyn_both(shift, small_n, big_n, &small, &big);
        assert_int_equal(small.frame, big.frame);
        assert_matches_reference(&small);
        assert_matches_reference(&big);
    }
}

static void dwarf_after_invalidate_still_matches(void **state)
{
    (void)state;
    static struct probe p;
    for (int i = 0; i < 4; i++) {
        ms_unwind_invalidate();
        probe_reset(&p, PROBE_MAX, 0);
        omitfp_recurse(12, &p);
        assert_matches_reference(&p);
    }
}

static struct probe alt_probe;

static void alt_stack_handler(int sig)
{
    (void)sig;
    probe_capture(&alt_probe);
}

static void dwarf_matches_libunwind_on_an_alternate_signal_stack(void **state)
{
    (void)state;
    static char alt[64 * 1024];
    stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt}, old_ss;
    assert_int_equal(sigaltstack(&ss, &old_ss), 0);
    struct sigaction sa = {0}, old;
    sa.sa_handler = alt_stack_handler;
    sa.sa_flags = SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGUSR2, &sa, &old), 0);
    for (int round = 0; round < 2; round++) {
        probe_reset(&alt_probe, PROBE_MAX, 0);
        assert_int_equal(raise(SIGUSR2), 0);
        assert_matches_reference(&alt_probe);
        assert_true(alt_probe.fallbacks > 0); /* outside the thread's stack: libunwind walks it */
    }
    sigaction(SIGUSR2, &old, NULL);
    sigaltstack(&old_ss, NULL);
}

/* Calls fn(arg) under CFI that puts the caller's frame 8 MiB above: beyond the top of the stack. */
void call_with_lying_cfi(void (*fn)(struct probe *), struct probe *arg);
__asm__(".text\n"
        ".globl call_with_lying_cfi\n"
        ".type call_with_lying_cfi, @function\n"
        "call_with_lying_cfi:\n"
        ".cfi_startproc\n"
        "  sub $8, %rsp\n"
        ".cfi_def_cfa_offset 0x7ffff0\n"
        "  mov %rdi, %rax\n"
        "  mov %rsi, %rdi\n"
        "  call *%rax\n"
        "  add $8, %rsp\n"
        ".cfi_def_cfa_offset 8\n"
        "  ret\n"
        ".cfi_endproc\n"
        ".size call_with_lying_cfi, .-call_with_lying_cfi\n");

__attribute__((noinline)) static void capture_only(struct probe *p)
{
    p->n = ms_unwind_capture(p->ips, p->max, p->skip, &p->flags);
    __asm__ volatile("" ::: "memory");
}

static void dwarf_stops_where_a_rule_leaves_the_stack(void **state)
{
    (void)state;
    static struct probe p;
    for (int again = 0; again < 3; again++) {
        probe_reset(&p, PROBE_MAX, 0);
        call_with_lying_cfi(capture_only, &p);
        /* capture_only's own frame and its return into call_with_lying_cfi, then nothing it can trust. */
        assert_int_equal(p.n, 2);
        assert_int_equal(p.flags, MS_FMT_STACK_BROKEN);
    }
}

/* Calls fn(arg) under CFI that gives the CFA as a DWARF expression (rsp + 16), as stack-realigning
 * functions do: outside what the cache models, so libunwind must walk on from there. */
void call_with_expression_cfi(void (*fn)(struct probe *), struct probe *arg);
__asm__(".text\n"
        ".globl call_with_expression_cfi\n"
        ".type call_with_expression_cfi, @function\n"
        "call_with_expression_cfi:\n"
        ".cfi_startproc\n"
        "  sub $8, %rsp\n"
        ".cfi_escape 0x0f, 0x02, 0x77, 0x10\n" /* DW_CFA_def_cfa_expression { DW_OP_breg7 16 } */
        "  mov %rdi, %rax\n"
        "  mov %rsi, %rdi\n"
        "  call *%rax\n"
        "  add $8, %rsp\n"
        ".cfi_def_cfa %rsp, 8\n"
        "  ret\n"
        ".cfi_endproc\n"
        ".size call_with_expression_cfi, .-call_with_expression_cfi\n");

__attribute__((noinline)) static void expression_then_recurse(struct probe *p)
{
    recurse(5, p);
    sink++;
}

static void dwarf_leaves_frames_with_dwarf_expressions_to_libunwind(void **state)
{
    (void)state;
    static struct probe p;
    for (int again = 0; again < 3; again++) {
        probe_reset(&p, PROBE_MAX, 0);
        call_with_expression_cfi(expression_then_recurse, &p);
        assert_matches_reference(&p);
        assert_int_equal(p.fallbacks, 1);
    }
}

static void libunwind_mode_gives_what_unw_backtrace_gives(void **state)
{
    (void)state;
    static struct probe p;
    for (int skip = 0; skip <= 2; skip++) {
        probe_reset(&p, PROBE_MAX, skip);
        omitfp_recurse(7, &p);
        assert_matches_reference(&p);
        probe_reset(&p, 5, skip);
        recurse(9, &p);
        assert_matches_reference(&p);
    }
}

static int libunwind_setup(void **state)
{
    (void)state;
    ms_unwind_init(MS_UNWIND_LIBUNWIND);
    return 0;
}

/* ---- frame-pointer mode ---------------------------------------------------------------------------- */

static void fp_follows_frame_pointers_like_libunwind(void **state)
{
    (void)state;
    static struct probe p;
    probe_reset(&p, PROBE_MAX, 0);
    recurse(40, &p);
    /* This file keeps frame pointers: the 40 recursion frames and probe_capture's caller chain agree. */
    assert_true(p.n >= 42);
    for (int i = 1; i < 42; i++) {
        assert_ptr_equal(p.ips[i], p.ref[i]);
    }
    assert_int_equal(p.flags & MS_FMT_STACK_TRUNCATED, 0);

    probe_reset(&p, 10, 2);
    recurse(40, &p);
    assert_int_equal(p.n, 10);
    assert_int_equal(p.flags, MS_FMT_STACK_TRUNCATED);
    for (int i = 0; i < 10; i++) {
        assert_ptr_equal(p.ips[i], p.ref[i + 2]);
    }
}

/* Calls fn(arg) with rbp set to `fake`, so that the frame-pointer chain above fn is garbage. */
long call_with_rbp(uintptr_t fake, void (*fn)(struct probe *), struct probe *arg);
__asm__(".text\n"
        ".globl call_with_rbp\n"
        ".type call_with_rbp, @function\n"
        "call_with_rbp:\n"
        ".cfi_startproc\n"
        "  push %rbp\n"
        ".cfi_def_cfa_offset 16\n"
        ".cfi_offset %rbp, -16\n"
        "  mov %rdi, %rbp\n"
        "  mov %rdx, %rdi\n"
        "  call *%rsi\n"
        "  pop %rbp\n"
        ".cfi_def_cfa_offset 8\n"
        "  ret\n"
        ".cfi_endproc\n"
        ".size call_with_rbp, .-call_with_rbp\n");

static void fp_stops_on_frames_outside_the_stack(void **state)
{
    (void)state;
    static struct probe p;
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    const uintptr_t fakes[] = {
        0x1000,               /* unmapped */
        here - 4096,          /* inside the stack but below the walk: not increasing */
        here + 3,             /* misaligned */
        ~(uintptr_t)0 - 15,   /* far outside */
        (uintptr_t)&p,        /* readable memory outside the stack */
    };
    for (size_t i = 0; i < sizeof fakes / sizeof fakes[0]; i++) {
        probe_reset(&p, PROBE_MAX, 0);
        call_with_rbp(fakes[i], probe_capture, &p);
        /* probe_capture's own frame and its return into call_with_rbp, then the bad frame. */
        assert_int_equal(p.n, 2);
        assert_ptr_equal(p.ips[1], p.ref[1]);
        assert_int_equal(p.flags, MS_FMT_STACK_BROKEN);
    }
    /* A zero frame pointer is the end of the chain, not an error. */
    probe_reset(&p, PROBE_MAX, 0);
    call_with_rbp(0, probe_capture, &p);
    assert_int_equal(p.n, 2);
    assert_int_equal(p.flags, 0);
}

static void dwarf_ignores_a_garbage_frame_pointer(void **state)
{
    (void)state;
    static struct probe p;
    for (int again = 0; again < 3; again++) {
        probe_reset(&p, PROBE_MAX, 0);
        call_with_rbp(0x1000, probe_capture, &p);
        assert_matches_reference(&p);
    }
}

/* ---- code without CFI (JIT compilers) ------------------------------------------------------------- */

/* Machine code in an anonymous executable mapping, as a JIT compiler makes it: no module, no CFI, frame
 * pointers kept (V8, the JVM and LuaJIT do). All three take (fn, arg) and call fn(arg):
 *  - call: push rbp; mov rbp, rsp; call fn; pop rbp; ret
 *  - nested: the same, calling `call` (a JIT frame calling a JIT frame)
 *  - bad: pushes a fake frame {its rbp, fake_ra} and points rbp at it before calling fn, as code without
 *    frame pointers leaves anything in rbp. */
struct jit {
    void (*call)(void (*)(struct probe *), struct probe *);
    void (*nested)(void (*)(struct probe *), struct probe *);
    void (*bad)(void (*)(struct probe *), struct probe *);
    void *map;
};

static size_t jit_put(unsigned char *at, const char *bytes, size_t n)
{
    memcpy(at, bytes, n);
    return n;
}

static void jit_make(struct jit *j, uintptr_t fake_ra)
{
    long page = sysconf(_SC_PAGESIZE);
    unsigned char *m = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        fail_msg("mmap: %s", strerror(errno)); /* also tells GCC m is a mapping (-Warray-bounds) */
    static const char prologue[] = "\x55\x48\x89\xe5";           /* push rbp; mov rbp, rsp */
    static const char args[] = "\x48\x89\xf8\x48\x89\xf7";       /* mov rax, rdi; mov rdi, rsi */
    static const char call_rax[] = "\xff\xd0";
    static const char epilogue[] = "\x5d\xc3";                   /* pop rbp; ret */
    size_t at = 0;
    unsigned char *call = m + at;
    at += jit_put(m + at, prologue, 4);
    at += jit_put(m + at, args, 6);
    at += jit_put(m + at, call_rax, 2);
    at += jit_put(m + at, epilogue, 2);
    at = (at + 15) & ~(size_t)15;
    unsigned char *nested = m + at;
    at += jit_put(m + at, prologue, 4);
    at += jit_put(m + at, "\x48\xb8", 2); /* movabs rax, call */
    uintptr_t target = (uintptr_t)call;
    memcpy(m + at, &target, 8);
    at += 8;
    at += jit_put(m + at, call_rax, 2);
    at += jit_put(m + at, epilogue, 2);
    at = (at + 15) & ~(size_t)15;
    unsigned char *bad = m + at;
    at += jit_put(m + at, prologue, 4);
    at += jit_put(m + at, "\x48\xb8", 2); /* movabs rax, fake_ra; push rax; push rbp; mov rbp, rsp */
    memcpy(m + at, &fake_ra, 8);
    at += 8;
    at += jit_put(m + at, "\x50\x55\x48\x89\xe5", 5);
    at += jit_put(m + at, args, 6);
    at += jit_put(m + at, call_rax, 2);
    at += jit_put(m + at, "\x48\x83\xc4\x10", 4); /* add rsp, 16 */
    at += jit_put(m + at, epilogue, 2);
    assert_int_equal(mprotect(m, (size_t)page, PROT_READ | PROT_EXEC), 0);
    *(void **)&j->call = call;
    *(void **)&j->nested = nested;
    *(void **)&j->bad = bad;
    j->map = m;
    /* What a dlopen does too: the unwinder looks at the mappings again on the next unknown address. */
    ms_unwind_invalidate();
}

static void jit_free(struct jit *j)
{
    munmap(j->map, (size_t)sysconf(_SC_PAGESIZE));
    ms_unwind_invalidate();
}

/* Whether frame f of the capture lies in the JIT mapping. */
static int jit_holds(const struct jit *j, const void *f)
{
    uintptr_t d = (uintptr_t)f - (uintptr_t)j->map;
    return d < (uintptr_t)sysconf(_SC_PAGESIZE);
}

static void dwarf_walks_jit_frames_by_frame_pointer_without_libunwind(void **state)
{
    (void)state;
    static struct probe p;
    struct jit j;
    jit_make(&j, 0);
    for (int again = 0; again < 3; again++) {
        probe_reset(&p, PROBE_MAX, 0);
        j.call(probe_capture, &p);
        assert_matches_reference(&p);
        assert_true(jit_holds(&j, p.ips[1]));
        assert_int_equal(p.fallbacks, 0);

        probe_reset(&p, PROBE_MAX, 0);
        j.nested(probe_capture, &p);
        assert_matches_reference(&p);
        assert_true(jit_holds(&j, p.ips[1]) && jit_holds(&j, p.ips[2]));
        assert_int_equal(p.fallbacks, 0);
    }
    jit_free(&j);
}

/* A frame-pointer step through code without CFI that reads a return address pointing at no code: the
 * stack ends at the last real frame, flagged, and the garbage is not recorded. Values: a small integer,
 * data inside this program, a heap address. */
static void stops_at_a_return_address_that_is_no_code(int max_frames)
{
    static struct probe p;
    static int data_word;
    void *heap = malloc(64);
    const uintptr_t fakes[] = {0x3, 0x100, (uintptr_t)&data_word, (uintptr_t)heap};
    for (size_t i = 0; i < sizeof fakes / sizeof fakes[0]; i++) {
        struct jit j;
        jit_make(&j, fakes[i]);
        for (int again = 0; again < 2; again++) {
            probe_reset(&p, PROBE_MAX, 0);
            j.bad(probe_capture, &p);
            if (p.n != max_frames || p.flags != MS_FMT_STACK_BROKEN) {
                fprintf(stderr, "# fake return address %#lx\n", (unsigned long)fakes[i]);
                probe_print(&p);
            }
            assert_int_equal(p.flags, MS_FMT_STACK_BROKEN);
            assert_int_equal(p.n, max_frames);
            assert_true(jit_holds(&j, p.ips[max_frames - 1]));
            assert_int_equal(p.fallbacks, 0);
        }
        jit_free(&j);
    }
    free(heap);
}

static void dwarf_stops_at_a_return_address_that_is_no_code(void **state)
{
    (void)state;
    stops_at_a_return_address_that_is_no_code(2);
}

static void fp_stops_at_a_return_address_that_is_no_code(void **state)
{
    (void)state;
    stops_at_a_return_address_that_is_no_code(2);
}

static void fp_walks_jit_frames(void **state)
{
    (void)state;
    static struct probe p;
    struct jit j;
    jit_make(&j, 0);
    probe_reset(&p, PROBE_MAX, 0);
    j.nested(probe_capture, &p);
    assert_true(jit_holds(&j, p.ips[1]) && jit_holds(&j, p.ips[2]));
    for (int i = 1; i < 4; i++) {
        assert_ptr_equal(p.ips[i], p.ref[i]);
    }
    jit_free(&j);
}

int main(int argc, char **argv)
{
    if (argc == 3) {
        module_paths[0] = argv[1];
        module_paths[1] = argv[2];
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(dwarf_matches_libunwind_on_deep_recursion, dwarf_setup),
        cmocka_unit_test_setup(dwarf_matches_libunwind_without_frame_pointers, dwarf_setup),
        cmocka_unit_test_setup(dwarf_matches_libunwind_through_libc_callbacks, dwarf_setup),
        cmocka_unit_test_setup(dwarf_matches_libunwind_across_signal_frames, dwarf_setup),
        cmocka_unit_test_setup(dwarf_matches_libunwind_in_concurrent_threads, dwarf_setup),
        cmocka_unit_test_setup(dwarf_matches_libunwind_with_more_threads_than_memos, dwarf_setup),
        cmocka_unit_test_setup(dwarf_marks_truncation_at_the_depth_limit, dwarf_setup),
        cmocka_unit_test_setup(dwarf_skips_the_requested_frames, dwarf_setup),
        cmocka_unit_test_setup(dwarf_cuts_a_repeated_stack_at_the_limit_and_skip, dwarf_setup),
        cmocka_unit_test_setup(dwarf_notices_a_changed_caller_above_an_identical_frame, dwarf_setup),
        cmocka_unit_test_setup(dwarf_notices_a_changed_saved_frame_pointer_under_the_same_frames, dwarf_setup),
        cmocka_unit_test_setup(dwarf_notices_another_frame_base_at_the_same_address, dwarf_setup),
        cmocka_unit_test_setup(dwarf_notices_another_rbp_in_the_same_first_frame, dwarf_setup),
        cmocka_unit_test_setup(dwarf_after_invalidate_still_matches, dwarf_setup),
        cmocka_unit_test_setup(dwarf_matches_libunwind_after_a_module_is_replaced, dwarf_setup),
        cmocka_unit_test_setup(dwarf_ignores_a_garbage_frame_pointer, dwarf_setup),
        cmocka_unit_test_setup(dwarf_matches_libunwind_on_an_alternate_signal_stack, dwarf_setup),
        cmocka_unit_test_setup(dwarf_stops_where_a_rule_leaves_the_stack, dwarf_setup),
        cmocka_unit_test_setup(dwarf_leaves_frames_with_dwarf_expressions_to_libunwind, dwarf_setup),
        cmocka_unit_test_setup(libunwind_mode_gives_what_unw_backtrace_gives, libunwind_setup),
        cmocka_unit_test_setup(fp_follows_frame_pointers_like_libunwind, fp_setup),
        cmocka_unit_test_setup(fp_stops_on_frames_outside_the_stack, fp_setup),
        cmocka_unit_test_setup(dwarf_walks_jit_frames_by_frame_pointer_without_libunwind, dwarf_setup),
        cmocka_unit_test_setup(dwarf_stops_at_a_return_address_that_is_no_code, dwarf_setup),
        cmocka_unit_test_setup(fp_stops_at_a_return_address_that_is_no_code, fp_setup),
        cmocka_unit_test_setup(fp_walks_jit_frames, fp_setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
