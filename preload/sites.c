/* Counters per stack id. The global rows are an array reserved once for every possible id (an update
 * needs no lookup and no lock); in front of them each thread keeps a small direct-mapped cache of
 * not-yet-folded deltas, so the common update is four plain adds instead of four locked ones. A snapshot
 * adds the caches of all threads to the rows. Caches are folded back when a slot is reused and when the
 * thread exits; they are part of the threads' slots (thread.c), recycled for new threads, never freed. */
#include "preload.h"

#include <errno.h>
#include <string.h>

#include "memsnap/format.h"

#define SITES_SLOTS MS_SITES_CACHE_SLOTS

struct sites_row {
    uint64_t alloc_bytes, alloc_count, free_bytes, free_count, kept_frees;
};

/* The rows, mapped a chunk of ids at a time as stacks come (up to MS_STACKS_MAX ids, 160 MiB of rows):
 * a process with few stacks reserves little address space. A chunk is only needed when a thread's deltas
 * are folded (or counted with no thread cache), never on the common update. */
#define SITES_CHUNK_BITS 12 /* 160 KiB of rows */
#define SITES_CHUNKS (MS_STACKS_MAX >> SITES_CHUNK_BITS)
#define SITES_CHUNK_BYTES (((size_t)1 << SITES_CHUNK_BITS) * sizeof(struct sites_row))
static struct sites_row *sites_chunks[SITES_CHUNKS];
static int sites_mutex;
static uint64_t sites_calls_global[MS_FMT_CALL_COUNT];
static int sites_threads;          /* caches in use: threads that allocate */
static uint64_t sites_retired_current; /* batched live bytes of exited threads */
static uint64_t sites_live;            /* process live bytes, less what threads hold back */
static uint64_t sites_peak;
static uint64_t sites_peak_mark = UINT64_MAX; /* MEMSNAP_PEAK: a new peak this high asks for a snapshot */
static int sites_peak_asked;

void ms_sites_lock(void)
{
    while (__atomic_exchange_n(&sites_mutex, 1, __ATOMIC_ACQUIRE)) {
        ms_platform_yield();
    }
}

void ms_sites_unlock(void)
{
    __atomic_store_n(&sites_mutex, 0, __ATOMIC_RELEASE);
}

static inline uint64_t sites_get(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void sites_bump(uint64_t *p, uint64_t v)
{
    __atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}

/* The chunk of ids from `first`, mapped now if it was not (two threads may race: one mapping stays). When
 * no memory is left, its ids count in the row of MS_STACK_OVERFLOW (in chunk 0, mapped at init), as
 * every stack does once the stack table is full. */
__attribute__((noinline, cold)) static struct sites_row *sites_chunk_map(uint32_t id)
{
    struct sites_row **slot = &sites_chunks[id >> SITES_CHUNK_BITS];
    void *p;
    int e = errno;
    int rc = ms_platform_map(SITES_CHUNK_BYTES, 1, &p);
    errno = e;
    if (rc < 0) {
        return &sites_chunks[0][MS_STACK_OVERFLOW];
    }
    struct sites_row *none = NULL;
    if (!__atomic_compare_exchange_n(slot, &none, (struct sites_row *)p, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        ms_platform_unmap(p, SITES_CHUNK_BYTES);
        p = none;
    }
    return &((struct sites_row *)p)[id & ((1u << SITES_CHUNK_BITS) - 1)];
}

static inline struct sites_row *sites_row_at(uint32_t id)
{
    struct sites_row *c = __atomic_load_n(&sites_chunks[id >> SITES_CHUNK_BITS], __ATOMIC_ACQUIRE);
    if (MS_UNLIKELY(c == NULL)) {
        return sites_chunk_map(id);
    }
    return &c[id & ((1u << SITES_CHUNK_BITS) - 1)];
}

int ms_sites_init(void)
{
    void *p;
    int rc = ms_platform_map(SITES_CHUNK_BYTES, 1, &p);
    if (rc < 0) {
        return rc;
    }
    __atomic_store_n(&sites_chunks[0], (struct sites_row *)p, __ATOMIC_RELEASE);
    return 0;
}

static void sites_fold(struct ms_sites_cache_slot *s)
{
    if (s->id) {
        struct sites_row *r = sites_row_at((uint32_t)(s->id - 1));
        __atomic_fetch_add(&r->alloc_bytes, s->d.alloc_bytes, __ATOMIC_RELAXED);
        __atomic_fetch_add(&r->alloc_count, s->d.alloc_count, __ATOMIC_RELAXED);
        __atomic_fetch_add(&r->free_bytes, s->d.free_bytes, __ATOMIC_RELAXED);
        __atomic_fetch_add(&r->free_count, s->d.free_count, __ATOMIC_RELAXED);
        __atomic_fetch_add(&r->kept_frees, s->d.kept_frees, __ATOMIC_RELAXED);
    }
}

static void sites_seq(struct ms_sites_cache *l)
{
    __atomic_store_n(&l->seq, l->seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* The slot changes hands: its deltas go to the rows first. */
__attribute__((noinline)) static void sites_evict(struct ms_sites_cache *l, struct ms_sites_cache_slot *s, uint32_t id)
{
    sites_seq(l);
    sites_fold(s);
    __atomic_store_n(&s->id, (uint64_t)id + 1, __ATOMIC_RELAXED);
    __atomic_store_n(&s->d.alloc_bytes, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&s->d.alloc_count, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&s->d.free_bytes, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&s->d.free_count, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&s->d.kept_frees, 0, __ATOMIC_RELAXED);
    sites_seq(l);
}

void ms_sites_cache_start(struct ms_sites_cache *c)
{
    (void)c; /* left as its last owner gave it back: zero but for calls and folded-later deltas */
    __atomic_fetch_add(&sites_threads, 1, __ATOMIC_RELAXED);
}

void ms_sites_cache_release(struct ms_sites_cache *c, int exiting)
{
    if (!exiting) {
        /* The fork child: the cache keeps what it counted, hands its batch of live bytes to the total. */
        sites_retired_current += (uint64_t)c->current;
        c->current = 0;
        c->seq &= ~1u; /* a slot it was moving stays as it was left */
        __atomic_fetch_sub(&sites_threads, 1, __ATOMIC_RELAXED);
        return;
    }
    sites_seq(c);
    for (int i = 0; i < SITES_SLOTS; i++) {
        sites_fold(&c->slot[i]);
        memset(&c->slot[i], 0, sizeof c->slot[i]);
    }
    sites_seq(c);
    ms_sites_lock();
    __atomic_fetch_add(&sites_retired_current, (uint64_t)__atomic_exchange_n(&c->current, 0, __ATOMIC_RELAXED),
                       __ATOMIC_RELAXED);
    __atomic_fetch_sub(&sites_threads, 1, __ATOMIC_RELAXED);
    ms_sites_unlock();
}


/* Batches of up to this many live bytes stay with their thread: the process total is then a sum over
 * threads, and the peak, exact while one thread allocates, may be missed by at most this much per other
 * thread while several do. */
#define SITES_CURRENT_BATCH (256 * 1024)

__attribute__((noinline)) static void sites_raise_peak(uint64_t now)
{
    uint64_t peak = __atomic_load_n(&sites_peak, __ATOMIC_RELAXED);
    while (now > peak &&
           !__atomic_compare_exchange_n(&sites_peak, &peak, now, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
    /* Only a new peak gets here, so MEMSNAP_PEAK costs nothing else; the exchange lets one thread post
     * (inside a hook: the helper thread writes the snapshot). */
    if (MS_UNLIKELY(now >= __atomic_load_n(&sites_peak_mark, __ATOMIC_RELAXED)) &&
        __atomic_exchange_n(&sites_peak_mark, UINT64_MAX, __ATOMIC_RELAXED) != UINT64_MAX) {
        __atomic_store_n(&sites_peak_asked, 1, __ATOMIC_RELEASE);
        ms_platform_wake_post();
    }
}

int ms_sites_peak_take(void)
{
    return __atomic_exchange_n(&sites_peak_asked, 0, __ATOMIC_ACQ_REL);
}

void ms_sites_peak_arm(uint64_t bytes)
{
    __atomic_store_n(&sites_peak_mark, bytes, __ATOMIC_RELAXED);
}

/* The batch is full: into the process total. */
__attribute__((noinline)) static void sites_publish(struct ms_sites_cache *l, int64_t v)
{
    __atomic_store_n(&l->current, 0, __ATOMIC_RELAXED);
    if (__atomic_load_n(&sites_retired_current, __ATOMIC_RELAXED) != 0) {
        v += (int64_t)__atomic_exchange_n(&sites_retired_current, 0, __ATOMIC_RELAXED); /* exited threads' */
    }
    uint64_t now = __atomic_add_fetch(&sites_live, (uint64_t)v, __ATOMIC_RELAXED);
    if (v > 0 && now > __atomic_load_n(&sites_peak, __ATOMIC_RELAXED)) {
        sites_raise_peak(now);
    }
}

/* Live bytes change by delta on this thread: plain stores to its own block. While it is the only thread
 * that allocates, the process total is the published sum plus its batch, so the peak stays exact without
 * a locked instruction (one only when a new peak is reached). */
static inline void sites_live_add(struct ms_sites_cache *l, int64_t delta)
{
    int64_t v = __atomic_load_n(&l->current, __ATOMIC_RELAXED) + delta;
    if (MS_UNLIKELY((uint64_t)(v + SITES_CURRENT_BATCH - 1) >= 2 * SITES_CURRENT_BATCH - 1)) {
        sites_publish(l, v);
        return;
    }
    __atomic_store_n(&l->current, v, __ATOMIC_RELAXED);
    if (delta > 0 && __atomic_load_n(&sites_threads, __ATOMIC_RELAXED) == 1) {
        uint64_t now = __atomic_load_n(&sites_live, __ATOMIC_RELAXED) +
                       __atomic_load_n(&sites_retired_current, __ATOMIC_RELAXED) + (uint64_t)v;
        if (MS_UNLIKELY(now > __atomic_load_n(&sites_peak, __ATOMIC_RELAXED))) {
            sites_raise_peak(now);
        }
    }
}

/* No block for this thread (none could be made): straight to the shared rows and totals. */
__attribute__((noinline)) static void sites_unattached(uint32_t stack, int64_t bytes, uint64_t count)
{
    struct sites_row *r = sites_row_at(stack);
    if (bytes >= 0) {
        __atomic_fetch_add(&r->alloc_bytes, (uint64_t)bytes, __ATOMIC_RELAXED);
        __atomic_fetch_add(&r->alloc_count, count, __ATOMIC_RELAXED);
        sites_raise_peak(__atomic_add_fetch(&sites_live, (uint64_t)bytes, __ATOMIC_RELAXED));
    } else {
        __atomic_fetch_add(&r->free_bytes, (uint64_t)-bytes, __ATOMIC_RELAXED);
        __atomic_fetch_add(&r->free_count, count, __ATOMIC_RELAXED);
        __atomic_add_fetch(&sites_live, (uint64_t)bytes, __ATOMIC_RELAXED);
    }
}

/* The thread's cache, NULL when it has none. */
static inline struct ms_sites_cache *sites_local(struct ms_thread *t)
{
    struct ms_thread_slot *slot = t->slot;
    if (MS_UNLIKELY((uintptr_t)slot <= (uintptr_t)MS_THREAD_NO_SLOT)) {
        slot = ms_thread_slot(t);
        if (slot == MS_THREAD_NO_SLOT) {
            return NULL;
        }
    }
    return &slot->counts;
}

static inline struct ms_sites_cache_slot *sites_slot(struct ms_sites_cache *l, uint32_t id)
{
    struct ms_sites_cache_slot *s = &l->slot[id & (SITES_SLOTS - 1)];
    if (MS_UNLIKELY(s->id != (uint64_t)id + 1)) {
        sites_evict(l, s, id);
    }
    return s;
}

void ms_sites_alloc(struct ms_thread *t, int kind, uint32_t stack, uint64_t bytes, uint64_t count)
{
    struct ms_sites_cache *l = sites_local(t);
    if (MS_UNLIKELY(!l)) {
        __atomic_fetch_add(&sites_calls_global[kind], 1, __ATOMIC_RELAXED);
        sites_unattached(stack, (int64_t)bytes, count);
        return;
    }
    sites_bump(&l->calls[kind], 1);
    struct ms_sites_cache_slot *s = sites_slot(l, stack);
    sites_bump(&s->d.alloc_bytes, bytes);
    sites_bump(&s->d.alloc_count, count);
    sites_live_add(l, (int64_t)bytes);
}

/* kept: a constant in each caller, so the common free carries no test for it. */
static inline __attribute__((always_inline)) void sites_free(struct ms_thread *t, int kind, uint32_t stack,
                                                             uint64_t bytes, uint64_t count, int kept)
{
    struct ms_sites_cache *l = sites_local(t);
    if (MS_UNLIKELY(!l)) {
        if (kind >= 0) {
            __atomic_fetch_add(&sites_calls_global[kind], 1, __ATOMIC_RELAXED);
        }
        sites_unattached(stack, -(int64_t)bytes, count);
        if (kept) {
            __atomic_fetch_add(&sites_row_at(stack)->kept_frees, 1, __ATOMIC_RELAXED);
        }
        return;
    }
    if (kind >= 0) {
        sites_bump(&l->calls[kind], 1);
    }
    struct ms_sites_cache_slot *s = sites_slot(l, stack);
    sites_bump(&s->d.free_bytes, bytes);
    sites_bump(&s->d.free_count, count);
    if (kept) {
        sites_bump(&s->d.kept_frees, 1);
    }
    sites_live_add(l, -(int64_t)bytes);
}

void ms_sites_free(struct ms_thread *t, int kind, uint32_t stack, uint64_t bytes, uint64_t count)
{
    sites_free(t, kind, stack, bytes, count, 0);
}

void ms_sites_free_kept(struct ms_thread *t, int kind, uint32_t stack, uint64_t bytes)
{
    sites_free(t, kind, stack, bytes, 1, 1);
}

void ms_sites_call(struct ms_thread *t, int kind)
{
    struct ms_sites_cache *l = sites_local(t);
    if (MS_UNLIKELY(!l)) {
        __atomic_fetch_add(&sites_calls_global[kind], 1, __ATOMIC_RELAXED);
        return;
    }
    sites_bump(&l->calls[kind], 1);
}

void ms_sites_current(uint64_t *current, uint64_t *peak)
{
    int64_t sum = (int64_t)__atomic_load_n(&sites_retired_current, __ATOMIC_RELAXED);
    for (int i = 0, used = ms_thread_slots_used(); i < used; i++) {
        sum += __atomic_load_n(&ms_thread_slot_at(i)->counts.current, __ATOMIC_RELAXED);
    }
    *current = __atomic_load_n(&sites_live, __ATOMIC_RELAXED) + (uint64_t)sum;
    *peak = __atomic_load_n(&sites_peak, __ATOMIC_RELAXED);
    if (*peak < *current) {
        *peak = *current;
    }
}

void ms_sites_reset_peak(void)
{
    uint64_t current, peak;
    ms_sites_current(&current, &peak);
    __atomic_store_n(&sites_peak, current, __ATOMIC_RELAXED);
}

void ms_sites_calls(uint64_t out[MS_FMT_CALL_COUNT])
{
    for (int k = 0; k < MS_FMT_CALL_COUNT; k++) {
        out[k] = sites_get(&sites_calls_global[k]);
    }
    for (int i = 0, used = ms_thread_slots_used(); i < used; i++) {
        const struct ms_sites_cache *l = &ms_thread_slot_at(i)->counts;
        for (int k = 0; k < MS_FMT_CALL_COUNT; k++) {
            out[k] += sites_get(&l->calls[k]);
        }
    }
}

/* One thread's cache, copied consistently (a slot may change owner meanwhile: then copy again). */
static void sites_copy(struct ms_sites_cache *l, struct ms_sites_cache_slot *copy)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        unsigned before = __atomic_load_n(&l->seq, __ATOMIC_ACQUIRE);
        if (before & 1) {
            ms_platform_yield();
            continue;
        }
        for (int i = 0; i < SITES_SLOTS; i++) {
            copy[i].id = sites_get(&l->slot[i].id);
            copy[i].d.alloc_bytes = sites_get(&l->slot[i].d.alloc_bytes);
            copy[i].d.alloc_count = sites_get(&l->slot[i].d.alloc_count);
            copy[i].d.free_bytes = sites_get(&l->slot[i].d.free_bytes);
            copy[i].d.free_count = sites_get(&l->slot[i].d.free_count);
            copy[i].d.kept_frees = sites_get(&l->slot[i].d.kept_frees);
        }
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&l->seq, __ATOMIC_RELAXED) == before) {
            return;
        }
    }
}

void ms_sites_collect(uint32_t n, struct ms_site_counts *out)
{
    for (uint32_t id = 0; id < n; id++) {
        /* A chunk not mapped yet holds no counts: read as zeros, never mapped here. */
        const struct sites_row *c = __atomic_load_n(&sites_chunks[id >> SITES_CHUNK_BITS], __ATOMIC_ACQUIRE);
        if (c == NULL) {
            memset(&out[id], 0, sizeof out[id]);
            continue;
        }
        const struct sites_row *r = &c[id & ((1u << SITES_CHUNK_BITS) - 1)];
        out[id].alloc_bytes = sites_get(&r->alloc_bytes);
        out[id].alloc_count = sites_get(&r->alloc_count);
        out[id].free_bytes = sites_get(&r->free_bytes);
        out[id].free_count = sites_get(&r->free_count);
        out[id].kept_frees = sites_get(&r->kept_frees);
    }
    static struct ms_sites_cache_slot copy[SITES_SLOTS]; /* callers are serialized by ms_snapshot_lock */
    for (int t = 0, used = ms_thread_slots_used(); t < used; t++) {
        memset(copy, 0, sizeof copy);
        sites_copy(&ms_thread_slot_at(t)->counts, copy);
        for (int i = 0; i < SITES_SLOTS; i++) {
            if (copy[i].id && copy[i].id <= n) {
                struct ms_site_counts *c = &out[copy[i].id - 1];
                c->alloc_bytes += copy[i].d.alloc_bytes;
                c->alloc_count += copy[i].d.alloc_count;
                c->free_bytes += copy[i].d.free_bytes;
                c->free_count += copy[i].d.free_count;
                c->kept_frees += copy[i].d.kept_frees;
            }
        }
    }
    /* Counted while threads run, a block's free may be seen without its allocation. */
    for (uint32_t id = 0; id < n; id++) {
        if (out[id].alloc_bytes < out[id].free_bytes) {
            out[id].alloc_bytes = out[id].free_bytes;
        }
        if (out[id].alloc_count < out[id].free_count) {
            out[id].alloc_count = out[id].free_count;
        }
    }
}

uint64_t ms_sites_overhead(void)
{
    return (uint64_t)ms_stacks_count() * sizeof(struct sites_row);
}
