/* The calling thread's state: struct ms_thread in TLS, and a slot of one static pool for the large part
 * (held block, counter cache, unwind memo). One claim, one release (pthread key destructor), one fork
 * story: see preload.h. */
#include "preload.h"

#include <errno.h>
#include <pthread.h>

__thread struct ms_thread ms_thread_tls __attribute__((tls_model("initial-exec"))) = {.hooked = 1};

/* Each slot is mapped when a claim first reaches it (the pool whole is 24 MB of address space, which a
 * program under ulimit -v should keep) and never unmapped: a thread summing over the slots never reads
 * memory that went away with a thread. A claim maps every slot it passes, so slots [0, used) are mapped. */
static struct ms_thread_slot *thread_slots[MS_THREAD_SLOTS];
static int thread_slots_used; /* slots ever claimed: sums over threads stop there */
static pthread_key_t thread_key;
static int thread_keyed;

/* ms_thread_slot.taken */
enum { THREAD_FREE = 0, THREAD_OWNED = 1, THREAD_HOLDING = 2 /* no owner, a held block the table had no room for */ };

int ms_thread_slots_used(void)
{
    return __atomic_load_n(&thread_slots_used, __ATOMIC_ACQUIRE);
}

struct ms_thread_slot *ms_thread_slot_at(int i)
{
    return __atomic_load_n(&thread_slots[i], __ATOMIC_ACQUIRE);
}

/* Slot i, mapped now if no claim reached it yet (two threads may race: one mapping stays). NULL when no
 * memory is left. */
static struct ms_thread_slot *thread_slot_map(int i)
{
    struct ms_thread_slot *s = __atomic_load_n(&thread_slots[i], __ATOMIC_ACQUIRE);
    void *p;
    if (s || ms_platform_map(sizeof *s, 1, &p) < 0) {
        return s;
    }
    if (!__atomic_compare_exchange_n(&thread_slots[i], &s, (struct ms_thread_slot *)p, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        ms_platform_unmap(p, sizeof *s);
        return s;
    }
    return p;
}

uint64_t ms_thread_overhead(void)
{
    return (uint64_t)ms_thread_slots_used() * sizeof(struct ms_thread_slot);
}

/* Thread exit: the held block into the table, the counts into the rows, the slot back to the pool.
 * Captures and allocations of destructors that run later go on without a slot. */
static void thread_release(void *arg)
{
    struct ms_thread_slot *s = arg;
    struct ms_thread *t = ms_thread_self();
    int g = t->guard;
    t->guard = 1;
    t->slot = MS_THREAD_NO_SLOT;
    t->hooked = 1;
    ms_sites_cache_release(&s->counts, 1);
    /* No room in the table: the block stays listed in the slot, which is then never reused. */
    __atomic_store_n(&s->taken, ms_heapmap_hold_release(&s->hold, 0) == 0 ? THREAD_FREE : THREAD_HOLDING,
                     __ATOMIC_RELEASE);
    t->guard = g;
}

__attribute__((noinline, cold)) void ms_thread_fetch_stack(struct ms_thread *t)
{
    uintptr_t lo, hi;
    int saved_errno = errno;
    int rc = ms_platform_thread_stack(&lo, &hi);
    errno = saved_errno;
    if (rc == 0 && lo < hi) {
        t->stack_lo = lo;
        t->stack_hi = hi;
    } else {
        t->stack_lo = 0;
        t->stack_hi = 1;
    }
}

void ms_thread_init(void)
{
    if (!__atomic_load_n(&thread_keyed, __ATOMIC_ACQUIRE) && pthread_key_create(&thread_key, thread_release) == 0) {
        __atomic_store_n(&thread_keyed, 1, __ATOMIC_RELEASE);
    }
}

__attribute__((noinline, cold)) struct ms_thread_slot *ms_thread_claim(struct ms_thread *t)
{
    if (!__atomic_load_n(&thread_keyed, __ATOMIC_ACQUIRE)) {
        return MS_THREAD_NO_SLOT; /* before init: no way yet to give it back at thread exit */
    }
    t->slot = MS_THREAD_NO_SLOT;
    int e = errno;
    for (int i = 0; i < MS_THREAD_SLOTS; i++) {
        int expected = THREAD_FREE;
        struct ms_thread_slot *s = thread_slot_map(i);
        if (!s) {
            break;
        }
        if (__atomic_compare_exchange_n(&s->taken, &expected, THREAD_OWNED, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
            if (pthread_setspecific(thread_key, s) != 0) {
                __atomic_store_n(&s->taken, THREAD_FREE, __ATOMIC_RELEASE);
                break;
            }
            int used = __atomic_load_n(&thread_slots_used, __ATOMIC_RELAXED);
            while (used < i + 1 && !__atomic_compare_exchange_n(&thread_slots_used, &used, i + 1, 1,
                                                                __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
            }
            ms_sites_cache_start(&s->counts);
            ms_dwarf_memo_start(&s->memo);
            ms_kept_start(&s->kept);
            t->slot = s;
            break;
        }
    }
    errno = e;
    return t->slot;
}

void ms_thread_after_fork_child(void)
{
    const struct ms_thread_slot *mine = ms_thread_self()->slot;
    int used = ms_thread_slots_used();
    for (int i = 0; i < used; i++) {
        struct ms_thread_slot *s = thread_slots[i];
        if (s == mine || s->taken == THREAD_FREE) {
            continue;
        }
        if (s->taken == THREAD_OWNED) {
            ms_sites_cache_release(&s->counts, 0);
        }
        s->taken = ms_heapmap_hold_release(&s->hold, 1) == 0 ? THREAD_FREE : THREAD_HOLDING;
    }
}
