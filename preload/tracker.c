/* What every hook does: pass through while the calling thread is already inside the profiler, otherwise
 * call the real function and record the outcome (stack id, live block, counters). The real function's
 * result and errno reach the caller untouched. */
#include "preload.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "memsnap/format.h"

/* Frames skipped: the exported function in interpose.c (captures start from the entry point's frame). */
#define TRACKER_SKIP 1

/* DEFERRED: recording, and the next hook outside the guard first runs ms_trigger_run_deferred (the state is
 * tested on every call anyway, so asking costs the hot path nothing). */
enum { TRACKER_OFF = 0, TRACKER_ON = 1, TRACKER_DISABLED = 2, TRACKER_DEFERRED = 3, TRACKER_STARTING = 4 };

static int tracker_state;
static uint64_t tracker_unknown_frees;
static uint64_t tracker_failed;
static uint64_t tracker_untracked;
static uint64_t tracker_start;
static pid_t tracker_pid_now;

int ms_tracker_enter(void)
{
    struct ms_thread *t = ms_thread_self();
    int was = t->guard;
    t->guard = 1;
    return was;
}

void ms_tracker_leave(int previous)
{
    ms_thread_self()->guard = previous;
}

int ms_tracker_active(void)
{
    int state = __atomic_load_n(&tracker_state, __ATOMIC_ACQUIRE);
    return state == TRACKER_ON || state == TRACKER_DEFERRED;
}

/* ms_thread.hooked for thread t (the caller): 0 when its calls may take the sampled fast path. */
static int tracker_hooked(const struct ms_thread *t)
{
    return !(ms_config.sample && (uintptr_t)t->slot > (uintptr_t)MS_THREAD_NO_SLOT &&
             __atomic_load_n(&tracker_state, __ATOMIC_ACQUIRE) == TRACKER_ON);
}

void ms_tracker_defer_work(void)
{
    int on = TRACKER_ON;
    __atomic_compare_exchange_n(&tracker_state, &on, TRACKER_DEFERRED, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
    ms_thread_self()->hooked = 1;
}

__attribute__((noinline, cold)) static int tracker_run_deferred(void)
{
    int deferred = TRACKER_DEFERRED;
    if (__atomic_compare_exchange_n(&tracker_state, &deferred, TRACKER_ON, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_RELAXED)) {
        struct ms_thread *t = ms_thread_self();
        t->hooked = tracker_hooked(t);
        int e = errno;
        int g = ms_tracker_enter();
        ms_trigger_run_deferred();
        ms_tracker_leave(g);
        errno = e;
    }
    return __atomic_load_n(&tracker_state, __ATOMIC_RELAXED) == TRACKER_ON;
}

uint64_t ms_tracker_start_ns(void)
{
    return tracker_start;
}

pid_t ms_tracker_pid(void)
{
    return __atomic_load_n(&tracker_pid_now, __ATOMIC_RELAXED);
}

void ms_tracker_after_fork_child(void)
{
    __atomic_store_n(&tracker_pid_now, ms_platform_pid(), __ATOMIC_RELAXED);
}

static inline void tracker_count(struct ms_thread *t, int kind)
{
    ms_sites_call(t, kind);
}

/* A call of `kind` that the real allocator failed. */
__attribute__((noinline, cold)) static void tracker_fail(struct ms_thread *t, int kind)
{
    ms_sites_call(t, kind);
    __atomic_fetch_add(&tracker_failed, 1, __ATOMIC_RELAXED);
}

void *ms_tracker_fast_failed(void)
{
    __atomic_fetch_add(&tracker_failed, 1, __ATOMIC_RELAXED);
    return NULL;
}

/* fastpath.S reads the thread's state at these offsets. */
_Static_assert(offsetof(struct ms_thread, blocked) == 0, "fastpath.S: THREAD_BLOCKED");
_Static_assert(offsetof(struct ms_thread, sample_left) == 8, "fastpath.S: THREAD_SAMPLE_LEFT");
_Static_assert(offsetof(struct ms_thread, slot) == 48, "fastpath.S: THREAD_SLOT");
_Static_assert(offsetof(struct ms_thread_slot, counts.calls[MS_FMT_CALL_MALLOC]) == 88, "fastpath.S: SLOT_CALLS_MALLOC");
_Static_assert(offsetof(struct ms_thread_slot, counts.calls[MS_FMT_CALL_FREE]) == 120, "fastpath.S: SLOT_CALLS_FREE");
_Static_assert(offsetof(struct ms_real, free) == 8, "fastpath.S: REAL_FREE");

/* ---- sampling: a Poisson process over allocated bytes, as in tcmalloc -------------------------- */

static uint64_t tracker_random(struct ms_thread *t)
{
    if (MS_UNLIKELY(t->rng == 0)) {
        t->rng = ((uint64_t)(uintptr_t)&t->rng ^ ms_platform_monotonic_ns()) | 1;
    }
    t->rng ^= t->rng >> 12;
    t->rng ^= t->rng << 25;
    t->rng ^= t->rng >> 27;
    return t->rng * 0x2545f4914f6cdd1dull;
}

__attribute__((noinline)) static int64_t tracker_next_gap(struct ms_thread *t)
{
    int e = errno; /* libm may set it */
    double u = ((double)(tracker_random(t) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    double gap = -log(u) * (double)ms_config.sample;
    errno = e;
    return gap < 1.0 ? 1 : (int64_t)gap;
}

static int tracker_sampled(struct ms_thread *t, size_t size)
{
    if (MS_UNLIKELY(t->rng == 0)) {
        t->sample_left = tracker_next_gap(t);
    }
    t->sample_left -= (int64_t)(size > INT64_MAX ? INT64_MAX : size);
    if (MS_LIKELY(t->sample_left > 0)) {
        return 0;
    }
    while (t->sample_left <= 0) {
        t->sample_left += tracker_next_gap(t);
    }
    t->hooked = tracker_hooked(t); /* and again at each sample: whatever kept it on has passed */
    return 1;
}

/* Unbiased estimates for one sampled block: it stands for 1/p blocks, p = 1 - exp(-size/rate). The same
 * function of the size is subtracted at free, so live estimates return exactly to zero. */
__attribute__((noinline)) static void tracker_weight_sampled(uint64_t size, uint64_t *bytes,
                                                           uint64_t *count)
{
    int e = errno;
    double p = -expm1(-(double)size / (double)ms_config.sample);
    if (p <= 0.0) {
        p = 1.0 / (double)ms_config.sample;
    }
    *count = (uint64_t)(1.0 / p + 0.5);
    *bytes = (uint64_t)((double)size / p + 0.5);
    errno = e;
}

/* Sampled blocks count with their weight; out of line, so that the common path adds constants. */
__attribute__((noinline)) static void tracker_forget_sampled(struct ms_thread *t, int kind, const void *p,
                                                           uint64_t size, uint32_t stack)
{
    ms_heapmap_sampled_drop(p); /* after the block left the map */
    uint64_t bytes, count;
    tracker_weight_sampled(size, &bytes, &count);
    ms_sites_free(t, kind, stack, bytes, count); /* no temporaries: the slot holds the newest sampled block */
}

__attribute__((noinline)) static void tracker_add_sampled(struct ms_thread *t, int kind, uint64_t size, uint32_t stack)
{
    uint64_t bytes, count;
    tracker_weight_sampled(size, &bytes, &count);
    ms_sites_alloc(t, kind, stack, bytes, count);
}

/* ---- recording ------------------------------------------------------------------------------------ */

/* A recorded block goes (kept: it was not its thread's newest block, so not a temporary allocation); the
 * call of `kind` (-1: counted elsewhere) is counted with it. */
static inline void tracker_forget(struct ms_thread *t, int kind, const void *p, uint64_t size, uint32_t stack,
                                  int kept)
{
    if (MS_UNLIKELY(ms_config.sample)) {
        tracker_forget_sampled(t, kind, p, size, stack);
        return;
    }
    if (kept) {
        ms_sites_free_kept(t, kind, stack, size);
        return;
    }
    ms_sites_free(t, kind, stack, size, 1);
}

/* The stack id of the hook whose frame is `frame`, its frames captured into ips (MS_CONFIG_DEPTH_MAX). */
static inline __attribute__((always_inline)) uint32_t tracker_stack(struct ms_thread *t, void *frame, void **ips)
{
    unsigned flags = 0;
    uint32_t stack;
    int depth = ms_unwind_capture_from(t, frame, ips, (int)ms_config.depth, TRACKER_SKIP, &flags, &stack);
    if (stack == MS_STACK_UNKNOWN) {
        stack = ms_stacks_intern(ips, depth > 0 ? (unsigned)depth : 0, flags);
        ms_unwind_remember(t, stack);
    }
    return stack;
}

/* A thread without a slot yet (its first capture claims one) or at all (more threads than the pool
 * has): its frames on its own stack, 2 KB. */
__attribute__((noinline)) static uint32_t tracker_stack_no_slot(struct ms_thread *t, void *frame)
{
    void *ips[MS_CONFIG_DEPTH_MAX];
    return tracker_stack(t, frame, ips);
}

/* Records the block from one call of `kind` (counted here). Inlined into each entry point, so the
 * unwinder sees the same frames above it from every hook. */
static inline __attribute__((always_inline)) void tracker_record(struct ms_thread *t, int kind, void *p, size_t size)
{
    if (MS_UNLIKELY(size > MS_HEAPMAP_SIZE_MAX)) {
        size = MS_HEAPMAP_SIZE_MAX; /* what the heap map keeps, so that its free subtracts what is added here */
    }
    if (ms_config.sample) {
        if (!tracker_sampled(t, size)) {
            tracker_count(t, kind); /* claims the thread's slot on its first call */
            if (MS_UNLIKELY(t->hooked)) {
                t->hooked = tracker_hooked(t); /* from now on, its calls can skip the hook */
            }
            return;
        }
        ms_heapmap_sampled_add(p); /* before the block enters the map */
    }
    struct ms_thread_slot *slot = t->slot; /* claimed by the thread's first capture */
    uint32_t stack = MS_LIKELY((uintptr_t)slot > (uintptr_t)MS_THREAD_NO_SLOT)
                         ? tracker_stack(t, __builtin_frame_address(0), slot->ips)
                         : tracker_stack_no_slot(t, __builtin_frame_address(0));
    size_t old_size;
    uint32_t old_stack;
    int rc = ms_heapmap_insert(t, p, size, stack, &old_size, &old_stack);
    if (MS_UNLIKELY(rc != 0)) {
        if (rc < 0) {
            __atomic_fetch_add(&tracker_untracked, 1, __ATOMIC_RELAXED);
            tracker_count(t, kind);
            return;
        }
        tracker_forget(t, -1, p, old_size, old_stack, 1); /* its free went unseen */
    }
    if (MS_UNLIKELY(ms_config.sample)) {
        tracker_add_sampled(t, kind, size, stack);
        return;
    }
    ms_sites_alloc(t, kind, stack, size, 1);
}

/* The block at p is going away: free (the call of `kind` is counted here; filtered as for
 * ms_heapmap_remove). 0 when p is bootstrap memory, never reused (asked only here, off the path of a
 * recorded block's free). */
static inline int tracker_release(struct ms_thread *t, int kind, void *p, int filtered)
{
    size_t size;
    uint32_t stack;
    int known = ms_heapmap_remove(t, p, filtered, &size, &stack);
    if (known) {
        tracker_forget(t, kind, p, size, stack, known == 1); /* 2: the thread's newest block, a temporary */
        return 1;
    }
    if (MS_UNLIKELY(ms_real_from_pool(p))) {
        return 0;
    }
    tracker_count(t, kind);
    if (!ms_config.sample) {
        __atomic_fetch_add(&tracker_unknown_frees, 1, __ATOMIC_RELAXED);
    }
    return 1;
}

/* ---- init ------------------------------------------------------------------------------------------ */

static void tracker_init(void)
{
    int g = ms_tracker_enter();
    ms_real_init();
    ms_config_load();
    ms_real_check_first();
    tracker_start = ms_platform_monotonic_ns();
    tracker_pid_now = ms_platform_pid();
    if (ms_stacks_init() < 0 || ms_sites_init() < 0 || ms_heapmap_init() < 0) {
        ms_text_warn("cannot reserve memory for the tables; not recording", (const char *)0);
        __atomic_store_n(&tracker_state, TRACKER_DISABLED, __ATOMIC_RELEASE);
        ms_tracker_leave(g);
        return;
    }
    ms_unwind_init((enum ms_unwind_mode)ms_config.unwind);
    __atomic_store_n(&tracker_state, ms_config.enabled ? TRACKER_ON : TRACKER_DISABLED, __ATOMIC_RELEASE);
    ms_trigger_init();
    ms_tracker_leave(g);
}

__attribute__((constructor(101))) static void tracker_constructor(void)
{
    int off = TRACKER_OFF;
    if (__atomic_compare_exchange_n(&tracker_state, &off, TRACKER_STARTING, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
        tracker_init();
    }
}

/* The first allocation of the process that comes before the constructor (another library's constructor:
 * libstdc++'s emergency exception pool) starts recording, so that it is counted as memcheck counts it.
 * Not while dlsym is being asked for the real functions (its own calloc is served from the pool). */
__attribute__((noinline, cold)) static int tracker_first_call(void)
{
    if (ms_real_bootstrapping()) {
        return 0;
    }
    int off = TRACKER_OFF;
    if (__atomic_compare_exchange_n(&tracker_state, &off, TRACKER_STARTING, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
        int e = errno;
        tracker_init();
        errno = e;
    }
    return __atomic_load_n(&tracker_state, __ATOMIC_ACQUIRE) == TRACKER_ON;
}

/* Before the constructor: the real functions, found on first use. 0 when the pool must serve. */
static inline int tracker_have_real(void)
{
    if (MS_LIKELY(__atomic_load_n(&ms_real.malloc, __ATOMIC_ACQUIRE) != NULL)) {
        return 1;
    }
    if (ms_real_bootstrapping()) {
        return 0;
    }
    int g = ms_tracker_enter();
    ms_real_init();
    ms_tracker_leave(g);
    return __atomic_load_n(&ms_real.malloc, __ATOMIC_ACQUIRE) != NULL;
}

/* 1 when this call must be recorded; then the guard is set and the caller must clear it. */
static inline int tracker_begin(struct ms_thread *t)
{
    if (MS_UNLIKELY(t->guard)) {
        return 0;
    }
    /* Acquire: ON is stored after the real functions (tracker_init). */
    int state = __atomic_load_n(&tracker_state, __ATOMIC_ACQUIRE);
    if (MS_UNLIKELY(state != TRACKER_ON) &&
        (state == TRACKER_DEFERRED ? !tracker_run_deferred() : state != TRACKER_OFF || !tracker_first_call())) {
        return 0;
    }
    t->guard = 1;
    return 1;
}

/* errno is the real function's: nothing on the recording path changes it (slow paths that make system
 * calls keep it themselves), so there is nothing to restore. */
static inline void tracker_end(struct ms_thread *t)
{
    t->guard = 0;
}

/* ---- entry points ------------------------------------------------------------------------------------ */

/* malloc and free, the hottest hooks, test for recording first: it is only on once the real functions
 * are known (tracker_init), so the tests for the bootstrap pool move off their path. */
__attribute__((noinline)) static void *tracker_malloc_untracked(size_t size)
{
    if (MS_UNLIKELY(!tracker_have_real())) {
        return ms_real_pool_alloc(size, 16);
    }
    return ms_real.malloc(size);
}

__attribute__((noinline, flatten)) void *ms_tracker_malloc(size_t size)
{
    struct ms_thread *t = ms_thread_self();
    if (MS_UNLIKELY(!tracker_begin(t))) {
        return tracker_malloc_untracked(size);
    }
    void *p = ms_real.malloc(size);
    if (MS_LIKELY(p != NULL)) {
        tracker_record(t, MS_FMT_CALL_MALLOC, p, size);
    } else {
        tracker_fail(t, MS_FMT_CALL_MALLOC);
    }
    tracker_end(t);
    return p;
}

__attribute__((noinline)) static void tracker_free_untracked(void *p, int kind)
{
    struct ms_thread *t = ms_thread_self();
    if (MS_UNLIKELY(ms_real_from_pool(p))) {
        return; /* bootstrap memory is never reused */
    }
    if (p == NULL) {
        if (tracker_begin(t)) {
            tracker_count(t, kind);
            tracker_end(t);
        }
        return;
    }
    if (MS_UNLIKELY(!tracker_have_real())) {
        return; /* nothing real can have been allocated yet */
    }
    ms_real.free(p);
}

/* kind and filtered (as for ms_heapmap_remove): constants in each entry point. */
static inline __attribute__((always_inline)) void tracker_free(void *p, int kind, int filtered)
{
    struct ms_thread *t = ms_thread_self();
    if (MS_UNLIKELY(p == NULL) || !tracker_begin(t)) {
        tracker_free_untracked(p, kind);
        return;
    }
    /* Forget the block before the allocator can hand the address to another thread. The real free
     * calls no hook, so the guard can go first: nothing of the hook needs to outlive the call. */
    int real = tracker_release(t, kind, p, filtered);
    tracker_end(t);
    if (MS_LIKELY(real)) {
        ms_real.free(p);
    }
}

__attribute__((noinline, flatten)) void ms_tracker_free(void *p)
{
    tracker_free(p, MS_FMT_CALL_FREE, 0);
}

__attribute__((noinline, flatten)) void ms_tracker_free_filtered(void *p)
{
    tracker_free(p, MS_FMT_CALL_FREE, 1);
}

__attribute__((noinline, flatten)) void ms_tracker_cfree(void *p)
{
    tracker_free(p, MS_FMT_CALL_CFREE, 0);
}

__attribute__((noinline)) void *ms_tracker_calloc(size_t n, size_t size)
{
    struct ms_thread *t = ms_thread_self();
    if (MS_UNLIKELY(!tracker_have_real())) {
        size_t total;
        if (__builtin_mul_overflow(n, size, &total)) {
            errno = ENOMEM;
            return NULL;
        }
        return ms_real_pool_alloc(total, 16);
    }
    if (!tracker_begin(t)) {
        return ms_real.calloc(n, size);
    }
    void *p = ms_real.calloc(n, size);
    if (MS_LIKELY(p != NULL)) {
        tracker_record(t, MS_FMT_CALL_CALLOC, p, n * size); /* no overflow: the allocator succeeded */
    } else {
        tracker_fail(t, MS_FMT_CALL_CALLOC);
    }
    tracker_end(t);
    return p;
}

static void *tracker_pool_realloc(void *p, size_t size)
{
    void *q = ms_tracker_malloc(size);
    if (q) {
        size_t old = ms_real_pool_size(p);
        memcpy(q, p, old < size ? old : size);
    }
    return q;
}

/* After the real realloc or reallocarray: the tracked old block moved to q, was freed (`freed`: a size of
 * 0), or stays where it was because the call failed. Inlined, so the stack is captured from the same
 * frame as for malloc. */
static inline __attribute__((always_inline)) void tracker_record_realloc(struct ms_thread *t, int kind, void *p, void *q, size_t size, int freed,
                                                                 int known, size_t old_size, uint32_t old_stack)
{
    if (q) {
        if (known) {
            tracker_forget(t, -1, p, old_size, old_stack, 1); /* a realloc's old block is no temporary */
        } else if (p && !ms_config.sample) {
            __atomic_fetch_add(&tracker_unknown_frees, 1, __ATOMIC_RELAXED);
        }
        tracker_record(t, kind, q, size);
    } else if (freed) {
        if (known) {
            tracker_forget(t, kind, p, old_size, old_stack, 1);
        } else {
            tracker_count(t, kind);
        }
    } else {
        tracker_fail(t, kind);
        if (known) {
            size_t s2;
            uint32_t st2;
            ms_heapmap_insert(t, p, old_size, old_stack, &s2, &st2);
        }
    }
}

/* realloc and reallocarray forget the old block before the call (its address may go to another thread
 * the moment it is released) and restore it when the call fails. */
__attribute__((noinline)) void *ms_tracker_realloc(void *p, size_t size)
{
    struct ms_thread *t = ms_thread_self();
    if (MS_UNLIKELY(!tracker_have_real())) {
        if (p) {
            void *q = ms_real_pool_alloc(size, 16);
            if (q) {
                size_t old = ms_real_pool_size(p);
                memcpy(q, p, old < size ? old : size);
            }
            return q;
        }
        return ms_real_pool_alloc(size, 16);
    }
    if (MS_UNLIKELY(p && ms_real_from_pool(p))) {
        return tracker_pool_realloc(p, size);
    }
    if (!tracker_begin(t)) {
        return ms_real.realloc(p, size);
    }
    size_t old_size = 0;
    uint32_t old_stack = 0;
    int known = p ? ms_heapmap_remove(t, p, 0, &old_size, &old_stack) : 0;
    void *q = ms_real.realloc(p, size);
    /* glibc: realloc(p, 0) frees p and returns NULL. */
    tracker_record_realloc(t, MS_FMT_CALL_REALLOC, p, q, size, p && size == 0, known, old_size, old_stack);
    tracker_end(t);
    return q;
}

__attribute__((noinline)) void *ms_tracker_reallocarray(void *p, size_t n, size_t size)
{
    struct ms_thread *t = ms_thread_self();
    size_t total;
    if (MS_UNLIKELY(!tracker_have_real() || !ms_real.reallocarray || (p && ms_real_from_pool(p)))) {
        if (__builtin_mul_overflow(n, size, &total)) {
            errno = ENOMEM;
            return NULL;
        }
        return ms_tracker_realloc(p, total);
    }
    if (!tracker_begin(t)) {
        return ms_real.reallocarray(p, n, size);
    }
    size_t old_size = 0;
    uint32_t old_stack = 0;
    int overflow = __builtin_mul_overflow(n, size, &total);
    int known = p && !overflow ? ms_heapmap_remove(t, p, 0, &old_size, &old_stack) : 0;
    void *q = ms_real.reallocarray(p, n, size);
    tracker_record_realloc(t, MS_FMT_CALL_REALLOCARRAY, p, q, total, p && total == 0 && !overflow, known, old_size, old_stack);
    tracker_end(t);
    return q;
}

__attribute__((noinline)) int ms_tracker_posix_memalign(void **out, size_t align, size_t size)
{
    struct ms_thread *t = ms_thread_self();
    if (MS_UNLIKELY(!tracker_have_real())) {
        if (align < sizeof(void *) || (align & (align - 1))) {
            return EINVAL;
        }
        void *p = ms_real_pool_alloc(size, align);
        if (!p) {
            return ENOMEM;
        }
        *out = p;
        return 0;
    }
    if (!tracker_begin(t)) {
        return ms_real.posix_memalign(out, align, size);
    }
    int rc = ms_real.posix_memalign(out, align, size);
    if (rc == 0) {
        tracker_record(t, MS_FMT_CALL_POSIX_MEMALIGN, *out, size);
    } else {
        tracker_fail(t, MS_FMT_CALL_POSIX_MEMALIGN);
    }
    tracker_end(t);
    return rc;
}

static void *tracker_call_aligned(int kind, size_t align, size_t size)
{
    switch (kind) {
    case MS_FMT_CALL_ALIGNED_ALLOC:
        return ms_real.aligned_alloc(align, size);
    case MS_FMT_CALL_MEMALIGN:
        return ms_real.memalign(align, size);
    case MS_FMT_CALL_VALLOC:
        return ms_real.valloc(size);
    default:
        return ms_real.pvalloc(size);
    }
}

__attribute__((noinline)) void *ms_tracker_aligned(int kind, size_t align, size_t size)
{
    struct ms_thread *t = ms_thread_self();
    if (MS_UNLIKELY(!tracker_have_real())) {
        return ms_real_pool_alloc(size, align ? align : 4096);
    }
    void *fn = kind == MS_FMT_CALL_ALIGNED_ALLOC ? (void *)ms_real.aligned_alloc
               : kind == MS_FMT_CALL_MEMALIGN    ? (void *)ms_real.memalign
               : kind == MS_FMT_CALL_VALLOC      ? (void *)ms_real.valloc
                                                 : (void *)ms_real.pvalloc;
    if (MS_UNLIKELY(!fn)) {
        errno = ENOMEM;
        return NULL;
    }
    if (!tracker_begin(t)) {
        return tracker_call_aligned(kind, align, size);
    }
    void *p = tracker_call_aligned(kind, align, size);
    if (p) {
        tracker_record(t, kind, p, size);
    } else {
        tracker_fail(t, kind);
    }
    tracker_end(t);
    return p;
}

size_t ms_tracker_usable_size(void *p)
{
    if (!p) {
        return 0;
    }
    if (ms_real_from_pool(p)) {
        return ms_real_pool_size(p);
    }
    if (!tracker_have_real() || !ms_real.malloc_usable_size) {
        return 0;
    }
    return ms_real.malloc_usable_size(p);
}

/* ---- totals -------------------------------------------------------------------------------------------- */

void ms_tracker_totals(struct ms_tracker_totals *out, const struct ms_site_counts *sites, uint32_t n)
{
    memset(out, 0, sizeof *out);
    for (uint32_t id = 0; id < n; id++) {
        out->alloc_bytes += sites[id].alloc_bytes;
        out->alloc_count += sites[id].alloc_count;
        out->free_bytes += sites[id].free_bytes;
        out->free_count += sites[id].free_count;
    }
    out->live_count = out->alloc_count - out->free_count;
    ms_sites_current(&out->current_bytes, &out->peak_bytes);
    ms_sites_calls(out->calls);
    out->unknown_frees = __atomic_load_n(&tracker_unknown_frees, __ATOMIC_RELAXED);
    out->failed_allocs = __atomic_load_n(&tracker_failed, __ATOMIC_RELAXED);
    out->untracked = __atomic_load_n(&tracker_untracked, __ATOMIC_RELAXED);
    if (n) {
        out->overhead_bytes = ms_stacks_overhead() + ms_sites_overhead() + ms_heapmap_overhead() + ms_thread_overhead();
    }
}

void ms_tracker_reset_peak(void)
{
    ms_sites_reset_peak();
}
