/* Live blocks: address -> {requested size, stack id}. 256 independently locked stripes of open addressing
 * with linear probing and backward-shift deletion (no tombstones to pile up under churn). An entry is 16
 * bytes and a stripe grows at 3/4 full, so a live block costs 21-43 bytes of table.
 *
 * In front of the table, each thread holds its newest block in a slot of its own: a block freed before
 * the thread's next allocation (most temporaries) never reaches the table, and its two hooks take no
 * lock. The next allocation moves the held block into the table. Another thread that frees a held block
 * finds it by scanning the slots when the table misses. A slot's key is 0, a block's address, or that
 * address | 1 while the owner moves it into the table; an address leaves a slot only through a
 * compare-and-swap, so the owner's move and another thread's free cannot both take it. */
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

/* ---- sampled mode: which addresses may be in the map -------------------------------------------------
 * Under MEMSNAP_SAMPLE the map holds the sampled blocks only, and most frees are of blocks it never saw.
 * A counting filter over the addresses in the table or a slot (64 KiB, one byte per 16 bytes of address
 * modulo 1 MiB; only read on an unsampled free, so no cache line bounces between threads) answers
 * "certainly not here" without a lock or a probe. A count is raised before its block goes in and
 * lowered after it came out, so it is never below the number of entries with that byte: a fork between
 * the two, an insert that failed or replaced an entry leave it too high, which costs a probe, never a
 * lost block. A count that reached 255 stays there. */
uint8_t ms_heapmap_filter[1u << MS_HEAPMAP_FILTER_BITS];

void ms_heapmap_sampled_add(const void *p)
{
    uint8_t *c = ms_heapmap_filter_of(p);
    uint8_t v = __atomic_load_n(c, __ATOMIC_RELAXED);
    while (v != 255 && !__atomic_compare_exchange_n(c, &v, (uint8_t)(v + 1), 1, __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
    }
}

void ms_heapmap_sampled_drop(const void *p)
{
    uint8_t *c = ms_heapmap_filter_of(p);
    uint8_t v = __atomic_load_n(c, __ATOMIC_RELAXED);
    while (v != 255 && v != 0 &&
           !__atomic_compare_exchange_n(c, &v, (uint8_t)(v - 1), 1, __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
    }
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

static inline uint64_t heapmap_val(size_t size, uint32_t stack)
{
    return (size > MS_HEAPMAP_SIZE_MAX ? MS_HEAPMAP_SIZE_MAX : (uint64_t)size) << HEAPMAP_STACK_BITS | stack;
}

static inline void heapmap_unpack(uint64_t val, size_t *size, uint32_t *stack)
{
    *size = (size_t)(val >> HEAPMAP_STACK_BITS);
    *stack = (uint32_t)(val & ((1u << HEAPMAP_STACK_BITS) - 1));
}

/* The pointer is hashed once: its top byte picks the stripe, the middle bits the slot. */
static int heapmap_table_insert(uint64_t key, uint64_t val, size_t *old_size, uint32_t *old_stack)
{
    uint64_t h = heapmap_hash(key);
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
            heapmap_unpack(tab[i].val, old_size, old_stack);
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

static int heapmap_table_remove(uint64_t key, size_t *size, uint32_t *stack)
{
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
    heapmap_unpack(val, size, stack);
    return 1;
}

/* Under the caller's ms_heapmap_lock_all(). */
static int heapmap_table_has(uint64_t key)
{
    uint64_t h = heapmap_hash(key);
    const struct heapmap_stripe *s = heapmap_stripe_of(h);
    for (uint64_t i = (h >> 24) & s->mask;; i = (i + 1) & s->mask) {
        uint64_t k = s->tab[i].key;
        if (k == key) {
            return 1;
        }
        if (k == 0) {
            return 0;
        }
    }
}

/* ---- the threads' slots ---------------------------------------------------------------------------- */

/* The held block goes into the table (its owner allocates again, or exits). 0, 1 with the record of a
 * stale entry it replaced (as ms_heapmap_insert), or -ENOMEM: the block stays held. */
static int heapmap_hold_flush(struct ms_heapmap_hold *h, size_t *old_size, uint32_t *old_stack)
{
    uint64_t k = __atomic_load_n(&h->key, __ATOMIC_ACQUIRE);
    if (k == 0 || (k & 1) != 0 ||
        !__atomic_compare_exchange_n(&h->key, &k, k | 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        return 0; /* empty, or another thread freed it meanwhile */
    }
    int rc = heapmap_table_insert(k, h->val, old_size, old_stack);
    __atomic_store_n(&h->key, rc < 0 ? k : 0, __ATOMIC_RELEASE);
    return rc;
}

int ms_heapmap_hold_release(struct ms_heapmap_hold *h, int exited)
{
    size_t size;
    uint32_t stack;
    if (!exited) {
        return heapmap_hold_flush(h, &size, &stack) < 0 ? -ENOMEM : 0;
    }
    /* The fork child: a move that fork cut short included. */
    uint64_t k = h->key & ~(uint64_t)1;
    if (k != 0 && !heapmap_table_has(k) && heapmap_table_insert(k, h->val, &size, &stack) < 0) {
        h->key = k;
        return -ENOMEM;
    }
    h->key = 0;
    return 0;
}

/* Another thread may hold p: take it from its slot. 1 with its record, 0 when no slot has it. A slot
 * whose owner is moving p into the table is waited for, and then the table has it. */
__attribute__((noinline)) static int heapmap_hold_take(uint64_t key, size_t *size, uint32_t *stack)
{
    int used = ms_thread_slots_used();
    for (int i = 0; i < used; i++) {
        struct ms_heapmap_hold *h = &ms_thread_slot_at(i)->hold;
        uint64_t k = __atomic_load_n(&h->key, __ATOMIC_ACQUIRE);
        while (k == (key | 1)) {
            ms_platform_yield();
            k = __atomic_load_n(&h->key, __ATOMIC_ACQUIRE);
        }
        if (k == key) {
            uint64_t val = __atomic_load_n(&h->val, __ATOMIC_RELAXED);
            if (__atomic_compare_exchange_n(&h->key, &k, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
                heapmap_unpack(val, size, stack);
                return 1;
            }
            /* Its owner began moving it: the table will have it. */
            while (__atomic_load_n(&h->key, __ATOMIC_ACQUIRE) == (key | 1)) {
                ms_platform_yield();
            }
            return 0;
        }
    }
    return 0;
}

/* Every case of an insert but the common one (the slot is empty): out of line, so that the hooks stay
 * small. */
__attribute__((noinline)) static int heapmap_insert_slow(struct ms_thread *t, uint64_t key, uint64_t val,
                                                         size_t *old_size, uint32_t *old_stack)
{
    struct ms_thread_slot *slot = ms_thread_slot(t);
    if (slot == MS_THREAD_NO_SLOT) {
        return heapmap_table_insert(key, val, old_size, old_stack);
    }
    struct ms_heapmap_hold *h = &slot->hold;
    uint64_t held = h->key; /* only this thread sets the low bit of its own slot */
    if (held == key) {
        /* The held block was freed unseen (a signal handler inside a hook) and its address came back. */
        heapmap_unpack(h->val, old_size, old_stack);
        __atomic_store_n(&h->val, val, __ATOMIC_RELAXED);
        return 1;
    }
    /* A table entry it replaces was freed unseen: the held block is the newer of the two. */
    int rc = heapmap_hold_flush(h, old_size, old_stack);
    if (rc < 0) {
        return heapmap_table_insert(key, val, old_size, old_stack);
    }
    h->val = val;
    __atomic_store_n(&h->key, key, __ATOMIC_RELEASE);
    return rc;
}

int ms_heapmap_insert(struct ms_thread *t, const void *p, size_t size, uint32_t stack, size_t *old_size,
                      uint32_t *old_stack)
{
    uint64_t key = (uint64_t)(uintptr_t)p;
    uint64_t val = heapmap_val(size, stack);
    struct ms_thread_slot *slot = t->slot;
    if (MS_UNLIKELY((uintptr_t)slot <= (uintptr_t)MS_THREAD_NO_SLOT) || MS_UNLIKELY(slot->hold.key != 0)) {
        return heapmap_insert_slow(t, key, val, old_size, old_stack);
    }
    struct ms_heapmap_hold *h = &slot->hold;
    h->val = val;
    __atomic_store_n(&h->key, key, __ATOMIC_RELEASE);
    return 0;
}

/* What heapmap_remove_slow found, returned in registers (no caller's variable goes through memory). */
struct heapmap_found {
    uint64_t known;
    uint64_t val;
};

/* Not the calling thread's held block: the table, or another thread's slot. */
__attribute__((noinline)) static struct heapmap_found heapmap_remove_slow(uint64_t key)
{
    size_t size;
    uint32_t stack;
    struct heapmap_found f = {0, 0};
    /* Held by another thread, or moved into the table between the two looks. */
    if (heapmap_table_remove(key, &size, &stack) || heapmap_hold_take(key, &size, &stack) ||
        heapmap_table_remove(key, &size, &stack)) {
        f.known = 1;
        f.val = heapmap_val(size, stack);
    }
    return f;
}

int ms_heapmap_remove(struct ms_thread *t, const void *p, int filtered, size_t *size, uint32_t *stack)
{
    uint64_t key = (uint64_t)(uintptr_t)p;
    struct ms_thread_slot *slot = t->slot;
    if (MS_LIKELY((uintptr_t)slot > (uintptr_t)MS_THREAD_NO_SLOT) && slot->hold.key == key) {
        struct ms_heapmap_hold *h = &slot->hold;
        /* Only a double free could race with this: another thread takes a slot's block only to free it. */
        heapmap_unpack(h->val, size, stack);
        __atomic_store_n(&h->key, 0, __ATOMIC_RELAXED);
        return 2; /* the thread's newest block: no allocation since (a temporary, in heaptrack's words) */
    }
    /* Sampled: the count was raised before the block went in, by a thread whose malloc happened before
     * this free. */
    if (!filtered && ms_config.sample && MS_LIKELY(!ms_heapmap_maybe_sampled(p))) {
        return 0;
    }
    struct heapmap_found f = heapmap_remove_slow(key);
    heapmap_unpack(f.val, size, stack);
    return (int)f.known;
}

uint64_t ms_heapmap_count(void)
{
    uint64_t n = 0;
    for (int i = 0; i < HEAPMAP_STRIPES; i++) {
        n += __atomic_load_n(&heapmap_stripes[i].count, __ATOMIC_RELAXED);
    }
    int used = ms_thread_slots_used();
    for (int i = 0; i < used; i++) {
        n += __atomic_load_n(&ms_thread_slot_at(i)->hold.key, __ATOMIC_RELAXED) != 0;
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

void ms_heapmap_each(void (*fn)(void *ctx, uintptr_t addr, uint64_t size, uint32_t stack, int held), void *ctx)
{
    for (int i = 0; i < HEAPMAP_STRIPES; i++) {
        const struct heapmap_stripe *s = &heapmap_stripes[i];
        for (uint64_t j = 0; s->tab && s->tab != heapmap_empty && j <= s->mask; j++) {
            if (s->tab[j].key) {
                size_t size;
                uint32_t stack;
                heapmap_unpack(s->tab[j].val, &size, &stack);
                fn(ctx, (uintptr_t)s->tab[j].key, size, stack, 0);
            }
        }
    }
    /* Held blocks: other threads may change their slots meanwhile (they take no stripe lock for it), so
     * a (key, val) pair counts when the key is the same before and after reading val. A block being moved
     * is in the table already or about to be (its owner waits for a stripe lock): listed once either way. */
    int used = ms_thread_slots_used();
    for (int i = 0; i < used; i++) {
        const struct ms_heapmap_hold *h = &ms_thread_slot_at(i)->hold;
        uint64_t k, val;
        do {
            k = __atomic_load_n(&h->key, __ATOMIC_ACQUIRE);
            val = __atomic_load_n(&h->val, __ATOMIC_RELAXED);
            __atomic_thread_fence(__ATOMIC_ACQUIRE);
        } while (__atomic_load_n(&h->key, __ATOMIC_RELAXED) != k);
        if (k == 0 || ((k & 1) && heapmap_table_has(k & ~(uint64_t)1))) {
            continue;
        }
        size_t size;
        uint32_t stack;
        heapmap_unpack(val, &size, &stack);
        fn(ctx, (uintptr_t)(k & ~(uint64_t)1), size, stack, 1);
    }
}
