/* The CFI rule of each return address, cached for the dwarf walk (dwarf.c). Sets of 4 slots, one cache
 * line each, indexed by the return address itself (no multiply: the walk is a chain of dependent loads,
 * every cycle between them counts). A slot is {ip, word} with
 * word = cfa offset:32 | rbp offset:16 | kind:2 | check:14, check being a hash of ip. Readers never lock:
 * a slot torn by a concurrent writer fails the check and counts as a miss. Rules for OTHER frames are
 * cached too, so a frame that needs libunwind costs no CFI parsing the next time. */
#include "preload.h"

#include <errno.h>

#define CACHE_SETS_LOG2 12
#define CACHE_WAYS 4

struct rulecache_slot {
    uintptr_t ip;
    uint64_t word;
};

static struct rulecache_slot rulecache_slots[CACHE_WAYS << CACHE_SETS_LOG2] __attribute__((aligned(64)));
static unsigned rulecache_gen;

_Static_assert(MS_CFI_MAX_RBP_OFFSET <= 1u << 16, "rule word layout");

/* Bits 4..15 of the address choose the set: two instructions, and return addresses closer than 16 bytes
 * (at most three calls) share a set of four. */
static inline struct rulecache_slot *rulecache_set(uintptr_t ip)
{
    _Static_assert(sizeof(struct rulecache_slot) * CACHE_WAYS == 64, "one set per cache line");
    return (struct rulecache_slot *)(void *)((char *)rulecache_slots +
                                          ((ip << 2) & (((uintptr_t)1 << CACHE_SETS_LOG2) - 1) << 6));
}

static inline uint64_t rulecache_check(uintptr_t ip)
{
    return ((uint64_t)ip * 0x9e3779b97f4a7c15ull) >> 50 | 1;
}

#define WORD_CHECK(w) ((w) >> 50)
#define WORD_NOT_CODE ((uint64_t)MS_CFI_OTHER << 48 | MS_RULE_NOT_CODE_CFA)

__attribute__((noinline, cold)) static uint64_t rulecache_fill(uintptr_t ip, struct rulecache_slot *set)
{
    unsigned gen = __atomic_load_n(&rulecache_gen, __ATOMIC_ACQUIRE);
    int saved_errno = errno; /* the allocation a capture serves leaves errno alone */
    struct ms_cfi_rule rule = ms_cfi_lookup(ip - 1);
    errno = saved_errno;
    uint64_t check = rulecache_check(ip);
    if (rule.kind == MS_CFI_NOT_CODE) {
        /* Not kept: JIT code may be mapped there later. */
        return check << 50 | WORD_NOT_CODE;
    }
    uint64_t word = check << 50 | (uint64_t)(rule.kind & 3) << 48 | (uint64_t)rule.rbp_offset << 32 |
                    rule.cfa_offset;
    /* A module unloaded meanwhile may have been the one read: use the rule once, do not keep it. */
    if (gen != __atomic_load_n(&rulecache_gen, __ATOMIC_ACQUIRE)) {
        return word;
    }
    unsigned way = (unsigned)check >> 1 & (CACHE_WAYS - 1);
    for (unsigned w = 0; w < CACHE_WAYS; w++) {
        if (__atomic_load_n(&set[w].ip, __ATOMIC_RELAXED) == 0) {
            way = w;
            break;
        }
    }
    __atomic_store_n(&set[way].ip, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&set[way].word, word, __ATOMIC_RELEASE);
    __atomic_store_n(&set[way].ip, ip, __ATOMIC_RELEASE);
    return word;
}

uint64_t ms_rulecache_get(uintptr_t ip)
{
    struct rulecache_slot *set = rulecache_set(ip);
    for (unsigned w = 0; w < CACHE_WAYS; w++) {
        if (__atomic_load_n(&set[w].ip, __ATOMIC_ACQUIRE) == ip) {
            uint64_t word = __atomic_load_n(&set[w].word, __ATOMIC_ACQUIRE);
            if (WORD_CHECK(word) == rulecache_check(ip)) {
                return word;
            }
        }
    }
    return rulecache_fill(ip, set);
}

unsigned ms_rulecache_generation(void)
{
    return __atomic_load_n(&rulecache_gen, __ATOMIC_ACQUIRE);
}

void ms_rulecache_clear(void)
{
    __atomic_add_fetch(&rulecache_gen, 1, __ATOMIC_ACQ_REL);
    for (size_t i = 0; i < sizeof rulecache_slots / sizeof rulecache_slots[0]; i++) {
        __atomic_store_n(&rulecache_slots[i].ip, 0, __ATOMIC_RELAXED);
    }
}
