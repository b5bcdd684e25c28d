/* The stacks the thread saw, with their ids: the one place the capture asks "is this a stack I walked
 * before?". Consecutive captures of a loop over a few call sites come from a few entry frames; for each
 * of them the last walk is kept (MS_UNWIND_KEPT_WAYS for fp, MS_UNWIND_KEPT_DW_WAYS for dwarf, reused in
 * turn) with the data its walker needs to tell that the stack is still the same (struct ms_fp_check,
 * struct ms_dwarf_check): a batch of independent loads instead of a walk, and, once the tracker interned
 * the walk, its id instead of a lookup. The ways are part of the thread's slot (thread.c). Sixteen ways
 * for each walker: sqlite3's statement loop allocates from more entries than four, and with four ways
 * reused in turn each kept walk was gone before its entry came back (fp on twelve call paths in turn:
 * 2,354 instructions per malloc/free pair with four ways, 576 with sixteen). */
#include "preload.h"

#include <string.h>

#define WAYS MS_UNWIND_KEPT_WAYS
#define DW_WAYS MS_UNWIND_KEPT_DW_WAYS

static inline struct ms_kept *kept_of(const struct ms_thread *t)
{
    struct ms_thread_slot *slot = t->slot;
    return (uintptr_t)slot > (uintptr_t)MS_THREAD_NO_SLOT ? &slot->kept : NULL;
}

/* Only the keys: a way is found by its key first, so the ways themselves (a page or more apart) are left
 * untouched until used. */
void ms_kept_start(struct ms_kept *k)
{
    k->seq = 0;
    k->fp_pending = 0;
    memset(k->fp_entry, 0, sizeof k->fp_entry);
    memset(k->dw_sp, 0, sizeof k->dw_sp);
    memset(k->dw_hint, 0, sizeof k->dw_hint);
    memset(k->dw_seen, 0, sizeof k->dw_seen);
    k->dw_clock = 0;
    k->dw_asked_sp = 0;
}

/* ---- MS_UNWIND_FP ----------------------------------------------------------------------------------- */

MS_RAW_READ __attribute__((noinline)) int ms_kept_fp_walk(struct ms_thread *t, const uintptr_t *frame, void **out,
                                                          int max, int skip, unsigned *flags)
{
    struct ms_thread_slot *slot = ms_thread_slot(t);
    struct ms_kept *k = slot != MS_THREAD_NO_SLOT ? &slot->kept : NULL;
    if (k == NULL || (k->seq & 1) != 0) {
        return (int)(ms_fpwalk(t, frame, out, out + max, skip, flags, NULL) - out);
    }
    k->seq++;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    k->fp_pending = 0;
    unsigned w = 0;
    while (w < WAYS && k->fp_entry[w] != (uintptr_t)frame) {
        w++;
    }
    if (w == WAYS) {
        w = k->fp_victim++ % WAYS;
    }
    struct ms_kept_fp *way = &k->fp[w];
    int n = (int)(ms_fpwalk(t, frame, out, out + max, skip, flags, &way->check) - out);
    if (way->check.visited <= MS_UNWIND_MEMO_FRAMES) {
        k->fp_entry[w] = (uintptr_t)frame;
        way->n = n;
        way->flags = *flags;
        way->limits = ms_unwind_limits(max, skip);
        way->stack = MS_STACK_UNKNOWN;
        k->fp_pending = 1 + (int)w;
    } else {
        k->fp_entry[w] = 0;
    }
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    k->seq++;
    return n;
}

MS_RAW_READ int ms_kept_fp_find(struct ms_thread *t, const uintptr_t *frame, void **out, int max, int skip,
                                unsigned *flags, uint32_t *known)
{
    struct ms_kept *k = kept_of(t);
    if (MS_UNLIKELY(k == NULL)) {
        return -1;
    }
    unsigned seq = k->seq;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    unsigned w = 0;
    while (k->fp_entry[w] != (uintptr_t)frame) {
        if (++w == WAYS) {
            return -1;
        }
    }
    int n = -1;
    const struct ms_kept_fp *way = &k->fp[w];
    if (MS_LIKELY((seq & 1) == 0 && way->limits == ms_unwind_limits(max, skip)) &&
        MS_LIKELY(ms_fp_check_holds(&way->check))) {
        n = way->n;
        *flags = way->flags;
        if (known && way->stack != MS_STACK_UNKNOWN) {
            *known = way->stack;
        } else {
            for (int i = 0; i < n; i++) {
                out[i] = (void *)way->check.pairs[2 * (skip + i) + 1];
            }
            k->fp_pending = 1 + (int)w;
        }
    }
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    return k->seq == seq ? n : -1;
}

/* ---- MS_UNWIND_DWARF -------------------------------------------------------------------------------- */

/* Where the way that last held an entry is noted: by its sp (the entry ip is the exported function's, one
 * of a few), 16-byte aligned at a call. A hint only, checked against the way's entry. */
static inline unsigned kept_dwarf_hint(uintptr_t sp)
{
    return (unsigned)(sp >> 4) & 63;
}

/* The way of the entry (ip, sp): the hinted one, else a scan of the ways' entry sp. DW_WAYS: none. */
static inline unsigned kept_dwarf_way(const struct ms_kept *k, uintptr_t ip, uintptr_t sp)
{
    unsigned w = k->dw_hint[kept_dwarf_hint(sp)];
    if (MS_LIKELY(k->dw_sp[w] == sp && k->dw[w].ip == ip)) {
        return w;
    }
    for (w = 0; w < DW_WAYS; w++) {
        if (k->dw_sp[w] == sp && k->dw[w].ip == ip) {
            break;
        }
    }
    return w;
}

/* An entry whose kept walk failed its check this many times in a row is kept again only one time in
 * KEEP_EVERY: where the path under an entry changes on every capture (g++'s recursive descent) keeping
 * costs more than the rare find saves; a walk that holds again resets the count. */
#define KEEP_FAILS 1
#define KEEP_EVERY 16

/* Whether the entry (ip, sp) was walked within the last SEEN_WITHIN walks of entries without a way; notes
 * it. Hash tags, each with the clock (those walks, counted) when last seen, in sets of SEEN_SET: a new one
 * replaces the set's oldest; a collision costs one keep more or less (in a direct-mapped table two entries
 * of a loop that met in one place were never kept, and where that happened depended on the stack's
 * address). Most of g++'s entries are walked once, or again only much later: keeping those walks cost
 * more than the few finds saved; sqlite3's statement loop comes back to its entries within a few walks. */
#define SEEN_WITHIN 16
#define SEEN_SET 4
#define SEEN_CLOCK 0xfffu
static inline int kept_dwarf_seen(struct ms_kept *k, uintptr_t ip, uintptr_t sp)
{
    uint64_t h = (ip ^ sp * 0x9e3779b97f4a7c15u) * 0xff51afd7ed558ccdu;
    uint32_t *set = k->dw_seen + (unsigned)(h >> 56) % (MS_UNWIND_KEPT_DW_SEEN / SEEN_SET) * SEEN_SET;
    uint32_t tag = ((uint32_t)h | (SEEN_CLOCK + 1)) & ~SEEN_CLOCK, now = ++k->dw_clock;
    unsigned oldest = 0, age = 0;
    for (unsigned i = 0; i < SEEN_SET; i++) {
        unsigned a = (now - set[i]) & SEEN_CLOCK;
        if ((set[i] & ~SEEN_CLOCK) == tag) {
            set[i] = tag | (now & SEEN_CLOCK);
            return a <= SEEN_WITHIN;
        }
        if (set[i] == 0 || a > age) {
            oldest = i;
            age = set[i] == 0 ? SEEN_CLOCK + 1 : a;
        }
    }
    set[oldest] = tag | (now & SEEN_CLOCK);
    return 0;
}

/* The memo's complete walk, whose id the tracker just interned, into a way (the one of its entry, or the
 * next in turn): a capture from there finds the id again while other walks pass through the memo. An
 * entry with no way is kept only on a walk soon after another (kept_dwarf_seen). */
__attribute__((noinline)) static void kept_dwarf_keep(struct ms_kept *k, struct ms_dwarf_memo *m, uint32_t stack)
{
    unsigned gen = ms_rulecache_generation();
    uintptr_t ip, sp;
    int count;
    m->seq++; /* a signal handler's walk meanwhile leaves the memo (and the list in it) alone */
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (ms_dwarf_memo_entry(m, gen, &ip, &sp) == 0) {
        unsigned w = k->dw_asked_sp == sp && k->dw_asked_ip == ip ? DW_WAYS : kept_dwarf_way(k, ip, sp);
        if (w == DW_WAYS) {
            if (!kept_dwarf_seen(k, ip, sp) || ms_dwarf_memo_kept(m, &count) != 0) {
                goto out;
            }
            w = k->dw_victim++ % DW_WAYS;
            k->dw[w].fails = 0; /* a new entry: the old one's failed checks are not its own */
        } else {
            uint32_t fails = k->dw[w].fails;
            if ((fails >= KEEP_FAILS && fails % KEEP_EVERY != 0) || ms_dwarf_memo_kept(m, &count) != 0) {
                goto out;
            }
        }
        struct ms_kept_dwarf *way = &k->dw[w];
        way->gen = UINT64_MAX; /* a signal handler's capture meanwhile sees no half-written way */
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        way->ip = ip;
        way->sp = sp;
        way->count = count;
        ms_dwarf_memo_checks(m, &way->check);
        k->dw_sp[w] = sp;
        k->dw_hint[kept_dwarf_hint(sp)] = (unsigned char)w;
        way->limits = m->pending_limits;
        way->stack = stack;
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        way->gen = gen;
    }
out:
    k->dw_asked_sp = 0;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    m->seq++;
}

MS_RAW_READ int ms_kept_dwarf_find(struct ms_thread *t, uintptr_t ip, uintptr_t sp, uintptr_t bp, int max, int skip,
                                   unsigned *flags, uint32_t *known)
{
    struct ms_kept *k = kept_of(t);
    if (k == NULL) {
        return -1;
    }
    unsigned w = kept_dwarf_way(k, ip, sp); /* one way per entry */
    if (w == DW_WAYS) {
        /* The keep after this walk need not look again (a scan of sixteen ways on most of g++'s captures).
         * A keep clears it: a signal handler's capture in between leaves it cleared or not matching. */
        k->dw_asked_ip = ip;
        k->dw_asked_sp = sp;
        return -1;
    }
    struct ms_kept_dwarf *way = &k->dw[w];
    if (way->gen != ms_rulecache_generation() || way->limits != ms_unwind_limits(max, skip)) {
        return -1;
    }
    const struct ms_dwarf_check *c = &way->check;
    if (!ms_dwarf_checks_hold(c->pairs, c->narrow, c->wide, c->entry_bp ? c->bp ^ bp : 0)) {
        way->fails++;
        return -1;
    }
    way->fails = 0;
    int n = way->count - skip;
    if (n < 0) {
        n = 0;
    } else if (n > max) {
        n = max;
        *flags |= MS_FMT_STACK_TRUNCATED;
    }
    *known = way->stack;
    return n;
}

void ms_kept_remember(struct ms_thread *t, enum ms_unwind_mode mode, uint32_t stack)
{
    struct ms_thread_slot *slot = t->slot;
    if ((uintptr_t)slot <= (uintptr_t)MS_THREAD_NO_SLOT) {
        return;
    }
    if (mode == MS_UNWIND_FP) {
        struct ms_kept *k = &slot->kept;
        if (k->fp_pending && (k->seq & 1) == 0) {
            k->fp[k->fp_pending - 1].stack = stack;
            k->fp_pending = 0;
        }
    } else if (mode == MS_UNWIND_DWARF) {
        struct ms_dwarf_memo *m = &slot->memo;
        if (m->pending && (m->seq & 1) == 0) {
            kept_dwarf_keep(&slot->kept, m, stack);
            m->pending = 0;
        }
    }
}
