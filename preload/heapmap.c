/* Live blocks: address -> {requested size, stack id}. 256 independently locked stripes of open addressing
 * with linear probing and backward-shift deletion (no tombstones to pile up under churn). An entry is 16
 * bytes and a stripe grows at 3/4 full, so a live block costs 21-43 bytes of table. */
#include "preload.h"

#include <errno.h>

#define HEAPMAP_STRIPES 256
#define HEAPMAP_MIN 256 /* entries: one page */
#define HEAPMAP_STACK_BITS 24

struct heapmap_entry {
    uint64_t key; /* address; 0 = empty */
    uint64_t val; /* size << 24 | stack id */
};

struct heapmap_stripe {
    int lock;
    uint64_t mask;
    uint64_t count;
    uint64_t limit; /* count that makes it grow: 3/4 of capacity, 0 before the first table */
    struct heapmap_entry *tab;
} __attribute__((aligned(64)));

static struct heapmap_stripe heapmap_stripes[HEAPMAP_STRIPES];

static inline uint64_t heapmap_hash(uint64_t key)
{
    return (key >> 4) * 0x9e3779b97f4a7c15ull;
}

static inline struct heapmap_stripe *heapmap_stripe_of(uint64_t h)
{
    return &heapmap_stripes[h >> 56];
}

/* Contended: spin a little, then yield. Out of line, so the hooks stay small. */
__attribute__((noinline, cold)) static void heapmap_lock_wait(struct heapmap_stripe *s)
{
    do {
        for (int i = 0; i < 64 && __atomic_load_n(&s->lock, __ATOMIC_RELAXED); i++) {
            __builtin_ia32_pause();
        }
        if (__atomic_load_n(&s->lock, __ATOMIC_RELAXED)) {
            ms_platform_yield();
        }
    } while (__atomic_exchange_n(&s->lock, 1, __ATOMIC_ACQUIRE));
}

static inline void heapmap_lock(struct heapmap_stripe *s)
{
    if (MS_UNLIKELY(__atomic_exchange_n(&s->lock, 1, __ATOMIC_ACQUIRE))) {
        heapmap_lock_wait(s);
    }
}

static inline void heapmap_unlock(struct heapmap_stripe *s)
{
    __atomic_store_n(&s->lock, 0, __ATOMIC_RELEASE);
}

/* Before the first block of a stripe: a one-entry empty table, so lookups need no NULL test. */
static struct heapmap_entry heapmap_empty[1];

int ms_heapmap_init(void)
{
    for (int i = 0; i < HEAPMAP_STRIPES; i++) {
        heapmap_stripes[i].tab = heapmap_empty; /* mask 0, limit 0: the first insert grows it */
    }
    return 0;
}

static void heapmap_place(struct heapmap_entry *tab, uint64_t mask, uint64_t key, uint64_t val)
{
    uint64_t i = (heapmap_hash(key) >> 24) & mask;
    while (tab[i].key) {
        i = (i + 1) & mask;
    }
    tab[i].key = key;
    tab[i].val = val;
}

/* Under the stripe lock. errno is kept: the hooks leave it to the real allocator. */
__attribute__((noinline, cold)) static int heapmap_grow(struct heapmap_stripe *s)
{
    struct heapmap_entry *old = s->tab;
    uint64_t old_cap = old != heapmap_empty ? s->mask + 1 : 0;
    uint64_t cap = old_cap ? old_cap * 2 : HEAPMAP_MIN;
    void *mem;
    int e = errno;
    int rc = ms_platform_map(cap * sizeof(struct heapmap_entry), 0, &mem);
    if (rc < 0) {
        errno = e;
        return -ENOMEM;
    }
    struct heapmap_entry *tab = mem;
    for (uint64_t i = 0; i < old_cap; i++) {
        if (old[i].key) {
            heapmap_place(tab, cap - 1, old[i].key, old[i].val);
        }
    }
    s->tab = tab;
    s->mask = cap - 1;
    s->limit = cap / 4 * 3;
    if (old_cap) {
        ms_platform_unmap(old, old_cap * sizeof(struct heapmap_entry));
    }
    errno = e;
    return 0;
}

/* The pointer is hashed once: its top byte picks the stripe, the middle bits the slot. */
int ms_heapmap_insert(const void *p, size_t size, uint32_t stack, size_t *old_size, uint32_t *old_stack)
{
    uint64_t key = (uint64_t)(uintptr_t)p;
    uint64_t h = heapmap_hash(key);
    uint64_t val = (size > MS_HEAPMAP_SIZE_MAX ? MS_HEAPMAP_SIZE_MAX : (uint64_t)size) << HEAPMAP_STACK_BITS |
                   stack;
    struct heapmap_stripe *s = heapmap_stripe_of(h);
    heapmap_lock(s);
    if (MS_UNLIKELY(s->count >= s->limit) && heapmap_grow(s) < 0) {
        heapmap_unlock(s);
        return -ENOMEM;
    }
    struct heapmap_entry *tab = s->tab;
    uint64_t mask = s->mask;
    uint64_t i = (h >> 24) & mask;
    uint64_t k;
    while ((k = tab[i].key) != 0) {
        if (MS_UNLIKELY(k == key)) {
            *old_size = (size_t)(tab[i].val >> HEAPMAP_STACK_BITS);
            *old_stack = (uint32_t)(tab[i].val & ((1u << HEAPMAP_STACK_BITS) - 1));
            tab[i].val = val;
            heapmap_unlock(s);
            return 1;
        }
        i = (i + 1) & mask;
    }
    tab[i].key = key;
    tab[i].val = val;
    s->count++;
    heapmap_unlock(s);
    return 0;
}

int ms_heapmap_remove(const void *p, size_t *size, uint32_t *stack)
{
    uint64_t key = (uint64_t)(uintptr_t)p;
    uint64_t h = heapmap_hash(key);
    struct heapmap_stripe *s = heapmap_stripe_of(h);
    heapmap_lock(s);
    struct heapmap_entry *tab = s->tab;
    uint64_t mask = s->mask;
    uint64_t i = (h >> 24) & mask;
    uint64_t k;
    while ((k = tab[i].key) != key) {
        if (k == 0) {
            heapmap_unlock(s);
            return 0;
        }
        i = (i + 1) & mask;
    }
    uint64_t val = tab[i].val;
    /* Backward shift: pull later entries of the probe run into the hole unless that would move them
     * before their home slot. */
    for (uint64_t j = (i + 1) & mask; (k = tab[j].key) != 0; j = (j + 1) & mask) {
        uint64_t home = (heapmap_hash(k) >> 24) & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            tab[i] = tab[j];
            i = j;
        }
    }
    tab[i].key = 0;
    s->count--;
    heapmap_unlock(s);
    *size = (size_t)(val >> HEAPMAP_STACK_BITS);
    *stack = (uint32_t)(val & ((1u << HEAPMAP_STACK_BITS) - 1));
    return 1;
}

uint64_t ms_heapmap_count(void)
{
    uint64_t n = 0;
    for (int i = 0; i < HEAPMAP_STRIPES; i++) {
        n += __atomic_load_n(&heapmap_stripes[i].count, __ATOMIC_RELAXED);
    }
    return n;
}

uint64_t ms_heapmap_overhead(void)
{
    uint64_t n = sizeof heapmap_stripes;
    for (int i = 0; i < HEAPMAP_STRIPES; i++) {
        if (__atomic_load_n(&heapmap_stripes[i].tab, __ATOMIC_RELAXED) != heapmap_empty) {
            n += (__atomic_load_n(&heapmap_stripes[i].mask, __ATOMIC_RELAXED) + 1) *
                 sizeof(struct heapmap_entry);
        }
    }
    return n;
}

void ms_heapmap_lock_all(void)
{
    for (int i = 0; i < HEAPMAP_STRIPES; i++) {
        heapmap_lock(&heapmap_stripes[i]);
    }
}

void ms_heapmap_unlock_all(void)
{
    for (int i = HEAPMAP_STRIPES - 1; i >= 0; i--) {
        heapmap_unlock(&heapmap_stripes[i]);
    }
}

void ms_heapmap_each(void (*fn)(void *ctx, uintptr_t addr, uint64_t size, uint32_t stack), void *ctx)
{
    for (int i = 0; i < HEAPMAP_STRIPES; i++) {
        const struct heapmap_stripe *s = &heapmap_stripes[i];
        for (uint64_t j = 0; s->tab && s->tab != heapmap_empty && j <= s->mask; j++) {
            if (s->tab[j].key) {
                fn(ctx, (uintptr_t)s->tab[j].key, s->tab[j].val >> HEAPMAP_STACK_BITS,
                   (uint32_t)(s->tab[j].val & ((1u << HEAPMAP_STACK_BITS) - 1)));
            }
        }
    }
}
