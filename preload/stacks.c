/* Call stacks deduplicated into dense ids. Records live in an append-only arena that never moves, so a
 * lookup reads without a lock: the table holds (hash, id) words published with release stores, and a
 * new stack is added under one lock, which only the first allocation from each call path takes. */
#include "preload.h"

#include <errno.h>
#include <string.h>

#include "memsnap/format.h"

/* The stack records (up to 2 GiB) and the id -> record offset table (up to MS_STACKS_MAX ids) are mapped
 * in levels that double as they fill (a record never spans two levels), so that a program under an
 * address-space limit (ulimit -v) keeps what it did not use: 64 KiB of records and 1,024 offsets at start.
 * Indexes start at 2^b (arena offsets count from there; an id is biased by it), so that level l holds
 * indexes [2^(b+l), 2^(b+l+1)), found with one bit scan; a level's base is kept less its first index, so
 * that base + index is the element. A level is mapped under the lock before any index into it is
 * published, and never unmapped: lock-free readers (other threads, signal handlers) may be in any. */
#define STACKS_ARENA_BITS 16 /* level 0: 64 KiB */
#define STACKS_ARENA_END (UINT64_C(1) << 31)
#define STACKS_OFFSET_BITS 10 /* level 0: 1,024 ids, 8 KiB */
#define STACKS_ID_BIAS (UINT64_C(1) << STACKS_OFFSET_BITS)
#define STACKS_LEVELS 16
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

static uintptr_t stacks_arena[STACKS_LEVELS];  /* level's base less its first offset */
static uintptr_t stacks_offset[STACKS_LEVELS]; /* id -> arena offset: level's base less 8 x its first id */
static uint64_t stacks_arena_used = UINT64_C(1) << STACKS_ARENA_BITS; /* the next record's offset */
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

/* index >= 2^bits. Level l starts at 2^(bits+l) and holds as many. */
static inline unsigned stacks_level(uint64_t index, unsigned bits)
{
    return 63u - (unsigned)__builtin_clzll(index >> bits);
}

static inline uint64_t stacks_level_first(unsigned level, unsigned bits)
{
    return UINT64_C(1) << (bits + level);
}

static inline const struct stacks_record *stacks_at(uint64_t offset)
{
    return (const struct stacks_record *)(stacks_arena[stacks_level(offset, STACKS_ARENA_BITS)] + offset);
}

static inline uint64_t *stacks_offset_of(uint32_t id)
{
    uint64_t i = id + STACKS_ID_BIAS;
    return (uint64_t *)(stacks_offset[stacks_level(i, STACKS_OFFSET_BITS)] + (uintptr_t)i * sizeof(uint64_t));
}

static const struct stacks_record *stacks_record(uint32_t id)
{
    return stacks_at(*stacks_offset_of(id));
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
    __atomic_store_n(&t->slots[i], (h >> 32) << 32 | (*stacks_offset_of(id) / 8 + 1), __ATOMIC_RELEASE);
    t->used++;
}

/* Under the lock: the level of `dir` that holds `index` mapped (elements of `size` bytes). 0 or -errno. */
static int stacks_level_map(uintptr_t *dir, uint64_t index, unsigned bits, size_t size)
{
    unsigned l = stacks_level(index, bits);
    if (dir[l]) {
        return 0;
    }
    void *p;
    int rc = l < STACKS_LEVELS ? ms_platform_map(stacks_level_first(l, bits) * size, 1, &p) : -ENOSPC;
    if (rc < 0) {
        return rc;
    }
    dir[l] = (uintptr_t)p - stacks_level_first(l, bits) * size;
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
    unsigned l = stacks_level(at, STACKS_ARENA_BITS);
    if (at + size > stacks_level_first(l + 1, STACKS_ARENA_BITS)) {
        at = stacks_level_first(l + 1, STACKS_ARENA_BITS); /* the rest of this level stays unused */
    }
    if (id >= MS_STACKS_MAX || at + size > STACKS_ARENA_END ||
        stacks_level_map(stacks_arena, at, STACKS_ARENA_BITS, 1) < 0 ||
        stacks_level_map(stacks_offset, id + STACKS_ID_BIAS, STACKS_OFFSET_BITS, sizeof(uint64_t)) < 0 ||
        stacks_grow() < 0) {
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
    *stacks_offset_of(id) = stacks_arena_used;
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
    int rc = stacks_level_map(stacks_arena, stacks_arena_used, STACKS_ARENA_BITS, 1);
    if (rc < 0 ||
        (rc = stacks_level_map(stacks_offset, STACKS_ID_BIAS, STACKS_OFFSET_BITS, sizeof(uint64_t))) < 0) {
        return rc;
    }
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
    return __atomic_load_n(&stacks_arena_used, __ATOMIC_RELAXED) - (UINT64_C(1) << STACKS_ARENA_BITS) +
           (uint64_t)ms_stacks_count() * sizeof(uint64_t) + stacks_table->bytes + stacks_retired_bytes;
}
