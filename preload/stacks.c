/* Call stacks deduplicated into dense ids. Records live in an append-only arena that never moves, so a
 * lookup reads without a lock: the table holds (hash, id) words published with release stores, and a
 * new stack is added under one lock, which only the first allocation from each call path takes. */
#include "preload.h"

#include <errno.h>
#include <string.h>

#include "memsnap/format.h"

/* Stack records: up to 2 GiB (offsets / 8 fit the table's 32 bits), mapped 16 MiB at a time as stacks
 * come, so that a program under an address-space limit (ulimit -v) keeps what it did not use. A record
 * never spans two chunks; an offset finds its chunk through a small directory (in cache, unlike the
 * record). Chunks are never unmapped: lock-free readers may be in any of them. */
#define STACKS_CHUNK_BITS 24
#define STACKS_CHUNK (UINT64_C(1) << STACKS_CHUNK_BITS)
#define STACKS_CHUNKS 128
#define STACKS_TABLE_MIN 4096

struct stacks_record {
    uint32_t hash;
    uint16_t depth;
    uint16_t flags;
    uint32_t id;
    uint32_t reserved;
    void *ips[];
};

struct stacks_table {
    uint64_t mask;
    uint64_t used;
    uint64_t bytes;
    uint64_t slots[]; /* hash << 32 | (arena offset / 8 + 1): one load less than going through the id */
};

static unsigned char *stacks_chunk[STACKS_CHUNKS]; /* written before any offset into it is published */
static uint32_t stacks_chunks;
static uint64_t stacks_arena_used;
static uint64_t *stacks_offset; /* id -> arena offset */
static uint32_t stacks_n;       /* published count */
static struct stacks_table *stacks_table;
static uint64_t stacks_retired_bytes; /* old tables stay mapped: a lock-free reader may still be in one */
static int stacks_mutex;
static int stacks_truncated;

void ms_stacks_lock(void)
{
    while (__atomic_exchange_n(&stacks_mutex, 1, __ATOMIC_ACQUIRE)) {
        ms_platform_yield();
    }
}

void ms_stacks_unlock(void)
{
    __atomic_store_n(&stacks_mutex, 0, __ATOMIC_RELEASE);
}

/* Frames are combined without a multiply chain (each step independent of the last), then mixed once:
 * this is on every allocation's path. */
static inline uint64_t stacks_hash(void *const *ips, unsigned depth, unsigned flags)
{
    uint64_t h = (uint64_t)depth << 8 ^ flags;
    for (unsigned i = 0; i < depth; i++) {
        uint64_t v = (uint64_t)(uintptr_t)ips[i];
        unsigned r = (i * 7 + 1) & 63;
        h += (v << r | v >> (-r & 63)) ^ v;
    }
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 29;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ h >> 32;
}

static struct stacks_table *stacks_table_new(uint64_t slots)
{
    void *p;
    uint64_t bytes = sizeof(struct stacks_table) + slots * sizeof(uint64_t);
    if (ms_platform_map(bytes, 0, &p) < 0) {
        return NULL;
    }
    struct stacks_table *t = p;
    t->mask = slots - 1;
    t->bytes = bytes;
    return t;
}

static inline const struct stacks_record *stacks_at(uint64_t offset)
{
    return (const struct stacks_record *)(stacks_chunk[offset >> STACKS_CHUNK_BITS] + (offset & (STACKS_CHUNK - 1)));
}

static const struct stacks_record *stacks_record(uint32_t id)
{
    return stacks_at(stacks_offset[id]);
}

/* Word by word, not memcmp: the unwinder has just stored these frames 8 bytes at a time, and memcmp's wide
 * loads of fresh stores stall on store forwarding (it cost a fifth of the hot path). */
static inline int stacks_same(void *const *a, void *const *b, unsigned depth)
{
    for (unsigned i = 0; i < depth; i++) {
        if (a[i] != b[i]) {
            return 0;
        }
    }
    return 1;
}

static inline int stacks_equal(const struct stacks_record *r, uint32_t hash, void *const *ips, unsigned depth,
                               unsigned flags)
{
    return r->hash == hash && r->depth == depth && r->flags == flags && stacks_same(r->ips, ips, depth);
}

/* 1 + id, or 0 when absent. */
static inline uint32_t stacks_find(const struct stacks_table *t, uint64_t h, void *const *ips, unsigned depth,
                            unsigned flags)
{
    uint32_t h32 = (uint32_t)(h >> 32);
    for (uint64_t i = h & t->mask;; i = (i + 1) & t->mask) {
        uint64_t e = __atomic_load_n(&t->slots[i], __ATOMIC_ACQUIRE);
        if (e == 0) {
            return 0;
        }
        if ((uint32_t)(e >> 32) == h32) {
            const struct stacks_record *r = stacks_at(((uint64_t)(uint32_t)e - 1) * 8);
            if (stacks_equal(r, h32, ips, depth, flags)) {
                return r->id + 1;
            }
        }
    }
}

static void stacks_put(struct stacks_table *t, uint64_t h, uint32_t id)
{
    uint64_t i = h & t->mask;
    while (t->slots[i]) {
        i = (i + 1) & t->mask;
    }
    __atomic_store_n(&t->slots[i], (h >> 32) << 32 | (stacks_offset[id] / 8 + 1), __ATOMIC_RELEASE);
    t->used++;
}

/* Under the lock: the chunk that holds offset `last` mapped. 0, or -errno (none left, or no memory). */
static int stacks_chunk_for(uint64_t last)
{
    uint64_t c = last >> STACKS_CHUNK_BITS;
    if (c < stacks_chunks) {
        return 0;
    }
    void *p;
    int rc = c < STACKS_CHUNKS ? ms_platform_map(STACKS_CHUNK, 1, &p) : -ENOSPC;
    if (rc < 0) {
        return rc;
    }
    stacks_chunk[c] = p;
    stacks_chunks = (uint32_t)c + 1;
    return 0;
}

/* Under the lock: doubles the table when half full. */
static int stacks_grow(void)
{
    struct stacks_table *old = stacks_table;
    if ((old->used + 1) * 2 <= old->mask + 1) {
        return 0;
    }
    struct stacks_table *t = stacks_table_new((old->mask + 1) * 2);
    if (!t) {
        return -ENOMEM;
    }
    for (uint32_t id = 0; id < stacks_n; id++) {
        const struct stacks_record *r = stacks_record(id);
        stacks_put(t, stacks_hash(r->ips, r->depth, r->flags), id);
    }
    __atomic_store_n(&stacks_table, t, __ATOMIC_RELEASE);
    stacks_retired_bytes += old->bytes;
    return 0;
}

static uint32_t stacks_add_locked(uint64_t h, void *const *ips, unsigned depth, unsigned flags)
{
    ms_stacks_lock();
    uint32_t found = stacks_find(stacks_table, h, ips, depth, flags);
    if (found) {
        ms_stacks_unlock();
        return found - 1;
    }
    uint32_t id = stacks_n;
    uint64_t size = (sizeof(struct stacks_record) + depth * sizeof(void *) + 7) & ~(uint64_t)7;
    uint64_t at = stacks_arena_used;
    if ((at & (STACKS_CHUNK - 1)) + size > STACKS_CHUNK) {
        at = (at + STACKS_CHUNK - 1) & ~(STACKS_CHUNK - 1); /* the rest of this chunk stays unused */
    }
    if (id >= MS_STACKS_MAX || stacks_chunk_for(at + size - 1) < 0 || stacks_grow() < 0) {
        ms_stacks_unlock();
        return MS_STACK_OVERFLOW;
    }
    stacks_arena_used = at;
    struct stacks_record *r = (struct stacks_record *)(void *)stacks_at(at);
    r->hash = (uint32_t)(h >> 32);
    r->depth = (uint16_t)depth;
    r->flags = (uint16_t)flags;
    r->id = id;
    memcpy(r->ips, ips, depth * sizeof(void *));
    stacks_offset[id] = stacks_arena_used;
    stacks_arena_used += size;
    if (flags & MS_FMT_STACK_TRUNCATED) {
        __atomic_store_n(&stacks_truncated, 1, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&stacks_n, id + 1, __ATOMIC_RELEASE);
    stacks_put(stacks_table, h, id);
    ms_stacks_unlock();
    return id;
}

/* errno is kept: the hooks leave it to the real allocator, and growing the table maps memory. */
__attribute__((noinline)) static uint32_t stacks_add(uint64_t h, void *const *ips, unsigned depth,
                                                     unsigned flags)
{
    int e = errno;
    uint32_t id = stacks_add_locked(h, ips, depth, flags);
    errno = e;
    return id;
}

uint32_t ms_stacks_intern(void *const *ips, unsigned depth, unsigned flags)
{
    uint64_t h = stacks_hash(ips, depth, flags);
    uint32_t found = stacks_find(__atomic_load_n(&stacks_table, __ATOMIC_ACQUIRE), h, ips, depth, flags);
    return MS_LIKELY(found) ? found - 1 : stacks_add(h, ips, depth, flags);
}

int ms_stacks_init(void)
{
    void *offsets;
    int rc = stacks_chunk_for(0);
    if (rc < 0) {
        return rc;
    }
    rc = ms_platform_map((size_t)MS_STACKS_MAX * sizeof(uint64_t), 1, &offsets);
    if (rc < 0) {
        return rc;
    }
    stacks_offset = offsets;
    stacks_table = stacks_table_new(STACKS_TABLE_MIN);
    if (!stacks_table) {
        return -ENOMEM;
    }
    if (ms_stacks_intern(NULL, 0, 0) != MS_STACK_OVERFLOW) {
        return -EINVAL;
    }
    return 0;
}

uint32_t ms_stacks_count(void)
{
    return __atomic_load_n(&stacks_n, __ATOMIC_ACQUIRE);
}

void *const *ms_stacks_get(uint32_t id, unsigned *depth, unsigned *flags)
{
    const struct stacks_record *r = stacks_record(id);
    *depth = r->depth;
    *flags = r->flags;
    return r->ips;
}

int ms_stacks_any_truncated(void)
{
    return __atomic_load_n(&stacks_truncated, __ATOMIC_RELAXED);
}

uint64_t ms_stacks_overhead(void)
{
    return __atomic_load_n(&stacks_arena_used, __ATOMIC_RELAXED) +
           (uint64_t)ms_stacks_count() * sizeof(uint64_t) + stacks_table->bytes + stacks_retired_bytes;
}
