/* Call stacks as return addresses. One entry point, three walkers:
 *  - MS_UNWIND_DWARF: follows the CFI like libunwind does, but from a cache that maps each return address
 *    to its rule (CFA = rsp+k or rbp+k, return address at CFA-8, rbp saved or not), so a known frame costs
 *    a hash probe and two loads; frames the thread's previous walk already went through cost one load.
 *    Frames outside that subset go to libunwind for the rest of the stack. docs/unwinding.md has it all.
 *  - MS_UNWIND_FP: frame-pointer chain.
 *  - MS_UNWIND_LIBUNWIND: unw_backtrace on every capture.
 * Every stack read of the first two is checked against the thread's stack bounds, so a wrong rule or a
 * garbage frame pointer ends the walk (MS_FMT_STACK_BROKEN) instead of faulting. */
#include "preload.h"

#include <memsnap/format.h>

#include <errno.h>
#include <string.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

/* The walkers read saved registers from other functions' frames on purpose. */
#define MS_RAW_READ __attribute__((no_sanitize_address))

/* Deepest stack returned (MS_CONFIG_DEPTH_MAX); a larger max is clamped to it. */
#define UNWIND_MAX_DEPTH 256

static enum ms_unwind_mode unwind_mode;


/* ---- rule cache ------------------------------------------------------------------------------------
 * Sets of 4 slots, one cache line each, indexed by the return address itself (no multiply: the walk is a
 * chain of dependent loads, every cycle between them counts). A slot is {ip, word} with
 * word = cfa offset:32 | rbp offset:16 | kind:2 | check:14, check being a hash of ip. Readers never lock:
 * a slot torn by a concurrent writer fails the check and counts as a miss. Rules for OTHER frames are
 * cached too, so a frame that needs libunwind costs no CFI parsing the next time. */
#define CACHE_SETS_LOG2 12
#define CACHE_WAYS 4

struct unwind_slot {
    uintptr_t ip;
    uint64_t word;
};

static struct unwind_slot unwind_cache[CACHE_WAYS << CACHE_SETS_LOG2] __attribute__((aligned(64)));
static unsigned unwind_generation;

_Static_assert(MS_CFI_MAX_RBP_OFFSET <= 1u << 16, "rule word layout");

/* Bits 4..15 of the address choose the set: two instructions, and return addresses closer than 16 bytes
 * (at most three calls) share a set of four. */
static inline struct unwind_slot *unwind_set(uintptr_t ip)
{
    _Static_assert(sizeof(struct unwind_slot) * CACHE_WAYS == 64, "one set per cache line");
    return (struct unwind_slot *)(void *)((char *)unwind_cache +
                                          ((ip << 2) & (((uintptr_t)1 << CACHE_SETS_LOG2) - 1) << 6));
}

static inline uint64_t unwind_check(uintptr_t ip)
{
    return ((uint64_t)ip * 0x9e3779b97f4a7c15ull) >> 50 | 1;
}

#define WORD_CFA(w) ((uint32_t)(w))
#define WORD_RBP(w) ((uint32_t)((w) >> 32 & 0xffff))
#define WORD_KIND(w) ((unsigned)((w) >> 48 & 3))
#define WORD_CHECK(w) ((w) >> 50)
/* Kind MS_CFI_OTHER with a CFA offset no rule has: the address is no code, the walk ends before it. */
#define WORD_NOT_CODE ((uint64_t)MS_CFI_OTHER << 48 | 1)

__attribute__((noinline, cold)) static uint64_t unwind_fill(uintptr_t ip, struct unwind_slot *set)
{
    unsigned gen = __atomic_load_n(&unwind_generation, __ATOMIC_ACQUIRE);
    int saved_errno = errno; /* the allocation a capture serves leaves errno alone */
    struct ms_cfi_rule rule = ms_cfi_lookup(ip - 1);
    errno = saved_errno;
    uint64_t check = unwind_check(ip);
    if (rule.kind == MS_CFI_NOT_CODE) {
        /* Not kept: JIT code may be mapped there later. */
        return check << 50 | WORD_NOT_CODE;
    }
    uint64_t word = check << 50 | (uint64_t)(rule.kind & 3) << 48 | (uint64_t)rule.rbp_offset << 32 |
                    rule.cfa_offset;
    /* A module unloaded meanwhile may have been the one read: use the rule once, do not keep it. */
    if (gen != __atomic_load_n(&unwind_generation, __ATOMIC_ACQUIRE)) {
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

static inline uint64_t unwind_rule(uintptr_t ip)
{
    struct unwind_slot *set = unwind_set(ip);
    for (unsigned w = 0; w < CACHE_WAYS; w++) {
        if (__atomic_load_n(&set[w].ip, __ATOMIC_ACQUIRE) == ip) {
            uint64_t word = __atomic_load_n(&set[w].word, __ATOMIC_ACQUIRE);
            if (WORD_CHECK(word) == unwind_check(ip)) {
                return word;
            }
        }
    }
    return unwind_fill(ip, set);
}

void ms_unwind_invalidate(void)
{
    ms_codemap_forget();
    /* libunwind keeps its own per-address cache: the fallback and MS_UNWIND_LIBUNWIND need it flushed. */
    unw_flush_cache(unw_local_addr_space, 0, 0);
    __atomic_add_fetch(&unwind_generation, 1, __ATOMIC_ACQ_REL);
    for (size_t i = 0; i < sizeof unwind_cache / sizeof unwind_cache[0]; i++) {
        __atomic_store_n(&unwind_cache[i].ip, 0, __ATOMIC_RELAXED);
    }
}

unsigned long ms_unwind_fallbacks(void)
{
    return ms_thread_self()->unwind_fallbacks;
}

/* The thread's stack bounds, fetched on its first capture. */
__attribute__((noinline, cold)) static void unwind_fetch_bounds(struct ms_thread *t)
{
    uintptr_t l, h;
    int saved_errno = errno;
    int rc = ms_platform_thread_stack(&l, &h);
    errno = saved_errno;
    if (rc == 0 && l < h) {
        t->stack_lo = l;
        t->stack_hi = h;
    } else {
        t->stack_lo = 0;
        t->stack_hi = 1;
    }
}

static inline int unwind_bounds(struct ms_thread *t, uintptr_t *lo, uintptr_t *hi)
{
    if (__builtin_expect(t->stack_hi == 0, 0)) {
        unwind_fetch_bounds(t);
    }
    *lo = t->stack_lo;
    *hi = t->stack_hi;
    return t->stack_hi > 1;
}

/* ---- walkers --------------------------------------------------------------------------------------- */

/* Frames go to out[] until end; the first `skip` frames are dropped. Returns false when the stack must
 * be cut at this frame (it is one too many). */
static inline int unwind_emit(void ***out, void **end, int *skip, uintptr_t ip, unsigned *flags)
{
    if (*skip > 0) {
        --*skip;
        return 1;
    }
    if (*out == end) {
        *flags |= MS_FMT_STACK_TRUNCATED;
        return 0;
    }
    *(*out)++ = (void *)ip;
    return 1;
}

/* libunwind from the frame (ip, sp, bp) whose own ip is already emitted. Registers other than these three
 * are this function's, which only matters to CFI that computes a CFA from them (none seen on x86_64). */
static void **unwind_libunwind_steps(uintptr_t ip, uintptr_t sp, uintptr_t bp, void **out, void **end,
                                     int skip, unsigned *flags)
{
    unw_context_t uc;
    unw_cursor_t cursor;
    if (unw_getcontext(&uc) != 0) {
        *flags |= MS_FMT_STACK_BROKEN;
        return out;
    }
    uc.uc_mcontext.gregs[REG_RIP] = (greg_t)ip;
    uc.uc_mcontext.gregs[REG_RSP] = (greg_t)sp;
    uc.uc_mcontext.gregs[REG_RBP] = (greg_t)bp;
    if (unw_init_local(&cursor, &uc) < 0) {
        *flags |= MS_FMT_STACK_BROKEN;
        return out;
    }
    for (;;) {
        int rc = unw_step(&cursor);
        unw_word_t pc;
        if (rc <= 0 || unw_get_reg(&cursor, UNW_REG_IP, &pc) < 0) {
            if (rc < 0) {
                *flags |= MS_FMT_STACK_BROKEN;
            }
            return out;
        }
        if (pc == 0 || !unwind_emit(&out, end, &skip, pc, flags)) {
            return out;
        }
    }
}

__attribute__((noinline, cold)) static void **unwind_libunwind_from(struct ms_thread *t, uintptr_t ip,
                                                                    uintptr_t sp, uintptr_t bp, void **out,
                                                                    void **end, int skip, unsigned *flags)
{
    t->unwind_fallbacks++;
    int saved_errno = errno; /* libunwind probes memory with system calls that may fail */
    out = unwind_libunwind_steps(ip, sp, bp, out, end, skip, flags);
    errno = saved_errno;
    return out;
}

/* ---- memo of the previous walk ----------------------------------------------------------------------
 * Consecutive captures of a thread mostly share their outer frames (the same main loop calling into the
 * same code). A frame found again at the same (ip, sp) leads to the same callers as long as the stack
 * words the walk read above it still hold what they held, and as long as no step that computed its CFA
 * from rbp sees another rbp now: re-reading them is a batch of independent loads instead of a chain of
 * dependent ones, so the shared part of a stack costs about a ns per frame. (rbp itself may differ:
 * code without frame pointers keeps anything in it, a loop counter say.)
 * The last walk lies in ring[base, base + count), innermost first, with room on both sides: a walk that
 * meets it writes only its own new inner frames in front of the shared part, whatever the depth.
 * Frames are stored by column (all ips, then all sps, ...): the shared frames' return addresses then go
 * out with one memcpy. Memos come from a static pool (not TLS: thread stacks of PTHREAD_STACK_MIN must
 * stay usable); a thread that finds none walks without. */
#define MEMO_FRAMES MS_UNWIND_MEMO_FRAMES
#define MEMO_SPAN (2 * MEMO_FRAMES) /* slots per column */

/* Columns of a frame x in a buffer b: b[x + COL_IP] and so on. COL_LINK holds where the walk read bp
 * from (0: carried over from the frame below; 8-aligned), | 1 when the step to this frame computed the
 * CFA from the frame below's bp. */
enum { COL_IP = 0, COL_SP = MEMO_SPAN, COL_BP = 2 * MEMO_SPAN, COL_LINK = 3 * MEMO_SPAN, COLS = MS_UNWIND_MEMO_COLS };

#define FP_WAYS MS_UNWIND_FP_WAYS
#define FP_WAY_FRAMES MEMO_FRAMES /* a way's pairs fill a quarter of scratch */
#define DW_WAYS MS_UNWIND_DW_WAYS
#define DW_CHECKS MS_UNWIND_DW_CHECKS

static inline uint64_t unwind_limits(int max, int skip)
{
    return (uint64_t)(unsigned)max << 32 | (unsigned)skip;
}


/* The thread's memo when it has one, for the captures that only read it. */
static inline struct ms_unwind_memo *unwind_memo_of(const struct ms_thread *t)
{
    struct ms_thread_slot *slot = t->slot;
    return (uintptr_t)slot > (uintptr_t)MS_THREAD_NO_SLOT ? &slot->memo : NULL;
}

/* The same, claimed on first use: for the walks that write it. */
static inline struct ms_unwind_memo *unwind_memo_claim(struct ms_thread *t)
{
    struct ms_thread_slot *slot = ms_thread_slot(t);
    return slot != MS_THREAD_NO_SLOT ? &slot->memo : NULL;
}

_Static_assert(FP_WAYS <= COLS && 2 * FP_WAY_FRAMES * FP_WAYS <= COLS * MEMO_SPAN, "fp ways fit the memo");

static inline uintptr_t *fp_way_fps(struct ms_unwind_memo *m, unsigned w)
{
    return m->ring + w * MEMO_SPAN;
}

static inline uintptr_t *fp_way_pairs(struct ms_unwind_memo *m, unsigned w)
{
    return m->scratch + w * 2 * FP_WAY_FRAMES;
}

static inline void fp_ways_clear(struct ms_unwind_memo *m)
{
    for (unsigned w = 0; w < FP_WAYS; w++) {
        m->fp[w].entry = 0;
    }
}

static void dw_ways_clear(struct ms_unwind_memo *m)
{
    for (unsigned w = 0; w < DW_WAYS; w++) {
        m->dw[w].gen = UINT64_MAX;
    }
}

void ms_unwind_memo_start(struct ms_unwind_memo *m)
{
    m->count = 0;
    m->complete = 0;
    m->reuse_gen = UINT64_MAX;
    m->seq = 0;
    m->pending = 0;
    fp_ways_clear(m);
    dw_ways_clear(m);
}

void ms_unwind_init(enum ms_unwind_mode mode)
{
    unwind_mode = mode;
    ms_thread_init();
}

/* A few words without a call: walks that differ from the last one by a few inner frames are the rule. */
static inline void unwind_copy_words(uintptr_t *dst, const uintptr_t *src, int n)
{
    if (n > 4) {
        memcpy(dst, src, (size_t)n * sizeof *dst);
        return;
    }
    if (n > 0) {
        dst[0] = src[0];
    }
    if (n > 1) {
        dst[1] = src[1];
    }
    if (n > 2) {
        dst[2] = src[2];
    }
    if (n > 3) {
        dst[3] = src[3];
    }
}

/* Puts this walk's first k frames (in scratch) in front of the last walk's frames [from, from + n) of the
 * ring, so that the memo becomes scratch[0, k) + those. Returns the new count. */
static int unwind_memo_join(struct ms_unwind_memo *m, int k, int from, int n)
{
    if (k + n > MEMO_FRAMES) {
        n = MEMO_FRAMES - k;
    }
    int start = from - k;
    for (int c = 0; c < COLS * MEMO_SPAN; c += MEMO_SPAN) {
        uintptr_t *ring = m->ring + c;
        const uintptr_t *scratch = m->scratch + c;
        if (start < 0) {
            int centred = (MEMO_SPAN - (k + n)) / 2;
            memmove(ring + centred + k, ring + from, (size_t)n * sizeof *ring);
            ring += centred;
        } else {
            ring += start;
        }
        unwind_copy_words(ring, scratch, k);
    }
    m->base = start < 0 ? (MEMO_SPAN - (k + n)) / 2 : start;
    return k + n;
}

/* A list of (address, value) pairs to verify, arranged for speed into out: `*narrow` pairs as they are,
 * then `*wide` entries {address, 0, value at address, value at address + 8} for pairs of adjacent words
 * (a frame's saved rbp and return address), each compared with one 16-byte load. The first NARROW_FIRST
 * pairs stay narrow: they are the innermost frames, pushed moments before a capture, and a wide load of
 * two stores still on their way to the cache waits for them. in and out must not overlap. */
#define NARROW_FIRST 4
#define WIDE_MIN 4

static void unwind_checks_arrange(uintptr_t *in, int n, uintptr_t *out, int *narrow, int *wide)
{
    int keep = n < NARROW_FIRST ? n : NARROW_FIRST;
    /* Insertion sort of the rest by address: a few dozen pairs, once per walk. */
    for (int i = keep + 1; i < n; i++) {
        uintptr_t a = in[2 * i], v = in[2 * i + 1];
        int j = i;
        for (; j > keep && in[2 * (j - 1)] > a; j--) {
            in[2 * j] = in[2 * (j - 1)];
            in[2 * j + 1] = in[2 * (j - 1) + 1];
        }
        in[2 * j] = a;
        in[2 * j + 1] = v;
    }
    int nn = 0, nw = 0;
    for (int i = 0; i < n; i++) {
        if (i >= keep && i + 1 < n && in[2 * (i + 1)] == in[2 * i] + 8) {
            nw++;
            i++;
        } else {
            nn++;
        }
    }
    if (nw < WIDE_MIN) {
        keep = n; /* a second loop does not pay for a few */
        nn = n;
        nw = 0;
    }
    uintptr_t *o_narrow = out, *o_wide = out + 2 * nn;
    for (int i = 0; i < n; i++) {
        if (i >= keep && i + 1 < n && in[2 * (i + 1)] == in[2 * i] + 8) {
            o_wide[0] = in[2 * i];
            o_wide[1] = 0;
            o_wide[2] = in[2 * i + 1];
            o_wide[3] = in[2 * i + 3];
            o_wide += 4;
            i++;
        } else {
            o_narrow[0] = in[2 * i];
            o_narrow[1] = in[2 * i + 1];
            o_narrow += 2;
        }
    }
    *narrow = nn;
    *wide = nw;
}

/* Whether every listed word still holds its value (the layout of unwind_checks_arrange). Independent
 * loads; no early exit, a stack that passed the first frame's test rarely differs further out. */
MS_RAW_READ static inline int unwind_checks_hold(const uintptr_t *c, int narrow, int wide, uintptr_t diff)
{
    typedef uint64_t v2 __attribute__((vector_size(16)));
    typedef uint64_t v2_unaligned __attribute__((vector_size(16), aligned(8)));
    for (const uintptr_t *end = c + 2 * narrow; c < end; c += 2) {
        diff |= *(const uintptr_t *)c[0] ^ c[1];
    }
    if (wide == 0) {
        return diff == 0; /* short stacks: nothing to merge */
    }
    v2 acc = {diff, 0};
    for (const uintptr_t *end = c + 4 * wide; c < end; c += 4) {
        acc |= *(const v2_unaligned *)c[0] ^ *(const v2 *)&c[2];
    }
    return (acc[0] | acc[1]) == 0;
}

/* The pairs of unwind_memo_reuse for the memo's walk: every return address at its place, and the bp a step
 * computed its CFA from, where it was read (or, from frame 0, the entry's rbp). Other saved rbp values
 * do not matter: code without frame pointers keeps anything in rbp, a loop counter say. */
__attribute__((noinline)) static void unwind_memo_checks(struct ms_unwind_memo *m)
{
    const uintptr_t *f = &m->ring[m->base];
    uintptr_t *c = m->scratch; /* free once a walk is done; the list is arranged from there */
    int src = 0, src_checked = 0; /* the frame whose bp the walk carries (0: the entry's) */
    m->entry_bp = 0;
    for (int i = 1; i < m->count; i++) {
        uintptr_t link = f[i + COL_LINK];
        if ((link & 1) && !src_checked) {
            if (src == 0) {
                m->entry_bp = 1;
            } else {
                *c++ = f[src + COL_LINK] & ~(uintptr_t)1;
                *c++ = f[src + COL_BP];
            }
            src_checked = 1;
        }
        *c++ = f[i + COL_SP] - 8;
        *c++ = f[i + COL_IP];
        if ((link & ~(uintptr_t)1) != 0) {
            src = i;
            src_checked = 0;
        }
    }
    unwind_checks_arrange(m->scratch, (int)(c - m->scratch) / 2, m->check, &m->narrow_checks, &m->wide_checks);
}

/* The memo now holds the walk the current capture made (with this max and skip): ms_unwind_remember may
 * keep it with the id the tracker interns for it. */
static inline void unwind_memo_pending(struct ms_unwind_memo *m, int max, int skip)
{
    m->pending = 1;
    m->pending_limits = unwind_limits(max, skip);
}

/* The CFI walk from the caller of ms_unwind_capture: ip its return address, sp and bp its registers.
 * Each step is a chain of dependent loads (return address -> cache slot -> next return address), so the
 * loop keeps everything in registers. */
MS_RAW_READ __attribute__((noinline)) static void **unwind_cfi(struct ms_thread *t, uintptr_t ip, uintptr_t sp,
                                                               uintptr_t bp, void **out, void **end, int skip,
                                                               unsigned *flags)
{
    uintptr_t lo, hi;
    int max0 = (int)(end - out), skip0 = skip;
    if (!unwind_emit(&out, end, &skip, ip, flags)) {
        return out;
    }
    if (!unwind_bounds(t, &lo, &hi) || sp < lo || sp >= hi) {
        /* An alternate signal stack or a coroutine: bounds unknown, so no fast walk. */
        return unwind_libunwind_from(t, ip, sp, bp, out, end, skip, flags);
    }

    struct ms_unwind_memo *memo = unwind_memo_claim(t);
    unsigned gen = __atomic_load_n(&unwind_generation, __ATOMIC_ACQUIRE);
    const uintptr_t *old = NULL;
    uintptr_t *rec = NULL; /* where this walk's frames are recorded (by column); NULL: not recorded */
    int old_n = 0, j = 0, k = 0, rec_cap = 0, old_complete = 0, complete = 0;
    if (memo != NULL && (memo->seq & 1) == 0) {
        memo->seq++;
        /* Only this thread's signal handlers race with it: keep the compiler from reordering. */
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        memo->pending = 0;
        fp_ways_clear(memo);
        if (memo->generation == gen) {
            old = &memo->ring[memo->base];
            old_n = memo->count;
            old_complete = memo->complete;
        }
        rec = memo->scratch;
        rec_cap = MEMO_FRAMES;
    }
    uintptr_t link = 0;

    for (;;) {
        /* (ip, sp, bp) is the current frame, already emitted. */
        if (k < rec_cap) {
            rec[k + COL_IP] = ip;
            rec[k + COL_SP] = sp;
            rec[k + COL_BP] = bp;
            rec[k + COL_LINK] = link;
            k++;
        } else {
            rec_cap = 0; /* the memo must stay one unbroken walk */
            old_n = 0;
        }
        while (j < old_n && old[j + COL_SP] < sp) {
            j++;
        }
        if (j < old_n && old[j + COL_SP] == sp && old[j + COL_IP] == ip) {
            /* Loads only, no store in between: a store to out[] whose address equals a memo address
             * modulo 4096 would stall the loads behind it (how often depends on where the stack is). */
            uintptr_t bp_j = bp;
            int i = j + 1, truncated = 0, bp_same = old[j + COL_BP] == bp;
            for (; i < old_n; i++) {
                uintptr_t link_i = old[i + COL_LINK];
                const uintptr_t *ra_at = (const uintptr_t *)(old[i + COL_SP] - 8);
                if (((link_i & 1) && !bp_same) || *ra_at != old[i + COL_IP]) {
                    break;
                }
                /* bp_same: this frame's bp is the one the recorded walk had (and used, if it did). */
                uintptr_t at = link_i & ~(uintptr_t)1;
                if (at != 0) {
                    bp = *(const uintptr_t *)at;
                    bp_same = bp == old[i + COL_BP];
                }
            }
            int from = j + 1, count = i - from;
            int skipped = skip < count ? skip : count;
            skip -= skipped;
            from += skipped;
            count -= skipped;
            if (count > end - out) {
                count = (int)(end - out);
                *flags |= MS_FMT_STACK_TRUNCATED;
                truncated = 1;
            }
            memcpy(out, old + from + COL_IP, (size_t)count * sizeof *out);
            out += count;
            /* Go on from the last frame still known, as if the walk had just reached it (bp is its). */
            ip = old[i - 1 + COL_IP];
            sp = old[i - 1 + COL_SP];
            int inner = k, shared = i - j - 1;
            k = unwind_memo_join(memo, inner, memo->base + j + 1, shared);
            rec = &memo->ring[memo->base];
            /* The frames recorded after the shared ones are computed from this walk's rbp: when it is not
             * the recorded one (bp_same is about the last shared frame), the shared frames take this
             * walk's values, so that a later walk is compared with what this one used. */
            for (int x = inner; !bp_same && x < k; x++) {
                uintptr_t at = rec[x + COL_LINK] & ~(uintptr_t)1;
                if (at != 0) {
                    bp_j = *(const uintptr_t *)at;
                }
                rec[x + COL_BP] = bp_j;
            }
            rec_cap = MEMO_SPAN - memo->base;
            if (rec_cap > MEMO_FRAMES) {
                rec_cap = MEMO_FRAMES;
            }
            if (k < inner + shared) {
                rec_cap = 0; /* shared frames were cut: what follows would not join them */
            }
            if (truncated) {
                goto done;
            }
            if (i == old_n && old_complete && rec_cap != 0) {
                complete = 1; /* the last walk ended right there: this one does too */
                goto done;
            }
            old_n = 0;
        }

        uint64_t word = unwind_rule(ip);
        uintptr_t cfa = WORD_CFA(word);
        unsigned kind = WORD_KIND(word);
        if (__builtin_expect(kind == MS_CFI_RSP, 1)) {
            cfa += sp;
        } else if (kind == MS_CFI_RBP) {
            cfa += bp;
        } else if (kind == MS_CFI_OUTERMOST) {
            complete = 1;
            goto done;
        } else if (WORD_CFA(word) == WORD_CFA(WORD_NOT_CODE)) {
            /* A return address read from the stack that points at no code: the frame it came from had
             * no frame pointer after all. Dropped (when it went out) and the stack flagged. */
            if (out > end - max0 && out[-1] == (void *)ip) {
                out--;
            }
            *flags |= MS_FMT_STACK_BROKEN;
            goto done;
        } else {
            out = unwind_libunwind_from(t, ip, sp, bp, out, end, skip, flags);
            goto done;
        }
        if (cfa < sp + 8 || cfa > hi || (cfa & 7) != 0) {
            *flags |= MS_FMT_STACK_BROKEN;
            goto done;
        }
        uintptr_t rbp_offset = WORD_RBP(word);
        link = kind == MS_CFI_RBP;
        if (rbp_offset != 0) {
            uintptr_t bp_at = cfa - rbp_offset;
            if (bp_at < sp) {
                *flags |= MS_FMT_STACK_BROKEN;
                goto done;
            }
            bp = *(const uintptr_t *)bp_at;
            link |= bp_at;
        }
        ip = *(const uintptr_t *)(cfa - 8);
        sp = cfa;
        if (ip == 0) {
            goto done; /* not complete: that zero is stack memory, which the memo does not check */
        }
        if (skip > 0) {
            skip--;
        } else if (out == end) {
            *flags |= MS_FMT_STACK_TRUNCATED;
            goto done;
        } else {
            *out++ = (void *)ip;
        }
    }
done:
    if (rec != NULL) {
        if (rec == memo->scratch) {
            k = unwind_memo_join(memo, k, MEMO_SPAN / 2 + k / 2, 0); /* centred */
        }
        memo->count = k;
        memo->complete = complete && rec_cap != 0;
        memo->generation = gen;
        memo->reuse_gen = memo->complete ? gen : UINT64_MAX;
        memo->narrow_checks = -1; /* listed by the first unwind_memo_reuse that needs them */
        if (memo->complete) {
            unwind_memo_pending(memo, max0, skip0);
        }
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        memo->seq++;
    }
    return out;
}

/* The common case of a churn loop: the stack is the one the thread's last complete walk found, from the
 * same first frame (ip, sp). Then only the words listed by unwind_memo_checks are loaded again
 * (independent loads, no rule, no bounds: the walk checked those addresses against this thread's stack)
 * and, where they all hold what they held, the frames go out without touching the memo (it stays one real
 * walk).
 * Returns the number of frames, or -1: not that stack, or no memo to compare with (walk it). */
MS_RAW_READ static inline int unwind_memo_reuse(struct ms_thread *t, uintptr_t ip, uintptr_t sp, uintptr_t bp, void **out, int max,
                                           int skip, unsigned *flags)
{
    struct ms_unwind_memo *m = unwind_memo_of(t);
    if (__builtin_expect(m == NULL, 0)) {
        return -1;
    }
retry:;
    unsigned seq = m->seq;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    const uintptr_t *old = &m->ring[m->base];
    int count = m->count, n = -1;
    if (__builtin_expect(old[COL_IP] == ip && old[COL_SP] == sp && (seq & 1) == 0, 1) &&
        m->reuse_gen == __atomic_load_n(&unwind_generation, __ATOMIC_ACQUIRE)) {
        if (__builtin_expect(m->narrow_checks < 0, 0)) {
            m->seq++; /* odd: the memo is being written */
            __atomic_signal_fence(__ATOMIC_SEQ_CST);
            unwind_memo_checks(m);
            __atomic_signal_fence(__ATOMIC_SEQ_CST);
            m->seq++;
            goto retry;
        }
        if (__builtin_expect(unwind_checks_hold(m->check, m->narrow_checks, m->wide_checks,
                                                m->entry_bp ? old[COL_BP] ^ bp : 0), 1)) {
            n = count - skip;
            if (n < 0) {
                n = 0;
            } else if (n > max) {
                n = max;
                *flags |= MS_FMT_STACK_TRUNCATED;
            }
            memcpy(out, old + skip + COL_IP, (size_t)n * sizeof *out);
            unwind_memo_pending(m, max, skip);
        }
    }
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    return m->seq == seq ? n : -1;
}

/* fp chain: frame[0] = caller's rbp, frame[1] = return address. `frame` is the frame of
 * ms_unwind_capture itself, so its return address is frame 0 of the result. A zero rbp or return address
 * ends the chain normally (_start clears rbp); anything else outside the rules is a broken stack.
 * fps, pairs: where the frames visited (skipped ones too) are recorded (struct ms_unwind_fp_way says how),
 * up to FP_WAY_FRAMES of them; *visited says how many there were. */
MS_RAW_READ static void **unwind_fp(struct ms_thread *t, const uintptr_t *frame, void **out, void **end, int skip, unsigned *flags,
                                    uintptr_t *fps, uintptr_t *pairs, int *visited)
{
    uintptr_t lo, hi;
    int v = 0, cap = fps ? FP_WAY_FRAMES : 0;
    *visited = 0;
    if (!unwind_bounds(t, &lo, &hi)) {
        *flags |= MS_FMT_STACK_BROKEN;
        return out;
    }
    uintptr_t fp = (uintptr_t)frame, top = hi - 16;
    if (fp < lo || fp > top || (fp & 7) != 0) {
        *flags |= MS_FMT_STACK_BROKEN;
        return out;
    }
    /* fp only grows, so lo needs checking once; a zero next (the end) fails the test too. */
    for (;; v++) {
        /* Word by word (atomic loads are never merged into a wide one): a 16-byte load of a frame pushed
         * moments ago waits until both of its stores reach the cache. */
        const uintptr_t *f = (const uintptr_t *)fp;
        uintptr_t ip = __atomic_load_n(&f[1], __ATOMIC_RELAXED), next = __atomic_load_n(&f[0], __ATOMIC_RELAXED);
        if (v < cap) {
            fps[v] = fp;
            pairs[2 * v] = next;
            pairs[2 * v + 1] = ip;
        }
        if (__builtin_expect(ip == 0, 0)) {
            break;
        }
        if (__builtin_expect(!ms_codemap_contains(ip), 0)) {
            *flags |= MS_FMT_STACK_BROKEN; /* rbp was no frame pointer: what it points at is no frame */
            break;
        }
        if (skip > 0) {
            skip--;
        } else if (__builtin_expect(out == end, 0)) {
            *flags |= MS_FMT_STACK_TRUNCATED;
            break;
        } else {
            *out++ = (void *)ip;
        }
        if (__builtin_expect(next <= fp || next > top || (next & 7) != 0, 0)) {
            if (next != 0) {
                *flags |= MS_FMT_STACK_BROKEN;
            }
            break;
        }
        fp = next;
    }
    *visited = v + 1;
    return out;
}

/* The fp walk, recorded in the thread's memo when there is one to write: in the way of its entry
 * frame, or else in the next of them in turn. */
MS_RAW_READ __attribute__((noinline)) static int unwind_fp_walk(struct ms_thread *t, const uintptr_t *frame, void **out, int max,
                                                                int skip, unsigned *flags)
{
    struct ms_unwind_memo *m = unwind_memo_claim(t);
    int visited;
    if (m == NULL || (m->seq & 1) != 0) {
        return (int)(unwind_fp(t, frame, out, out + max, skip, flags, NULL, NULL, &visited) - out);
    }
    m->seq++;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    /* The buffers are the CFI walk's too (tests switch modes): that memo is gone now. */
    m->count = 0;
    m->complete = 0;
    m->reuse_gen = UINT64_MAX;
    m->pending = 0;
    dw_ways_clear(m);
    unsigned w = 0;
    while (w < FP_WAYS && m->fp[w].entry != (uintptr_t)frame) {
        w++;
    }
    if (w == FP_WAYS) {
        w = m->fp_victim++ % FP_WAYS;
    }
    struct ms_unwind_fp_way *way = &m->fp[w];
    int n = (int)(unwind_fp(t, frame, out, out + max, skip, flags, fp_way_fps(m, w), fp_way_pairs(m, w), &visited) -
                  out);
    if (visited <= FP_WAY_FRAMES) {
        way->entry = (uintptr_t)frame;
        way->visited = visited;
        way->n = n;
        way->flags = *flags;
        way->limits = unwind_limits(max, skip);
        way->stack = MS_STACK_UNKNOWN;
        m->pending = 1 + (int)w;
    } else {
        way->entry = 0;
    }
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    m->seq++;
    return n;
}

/* Whether the words at the recorded frames still hold what the walk read there: independent loads, the
 * (saved rbp, return address) pair of a frame as one 16-byte load, compared with the recorded pair. The
 * two innermost frames (the hook's and the interposer's, just pushed) are read a word at a time: a wide
 * load of words still in the store buffer waits for them to reach the cache. */
MS_RAW_READ static inline int unwind_fp_same(const uintptr_t *fps, const uintptr_t *pairs, int visited)
{
    typedef uint64_t v2 __attribute__((vector_size(16)));
    typedef uint64_t v2_unaligned __attribute__((vector_size(16), aligned(8)));
    uintptr_t diff = 0;
    int i = 0;
    for (; i < visited && i < 2; i++) {
        const uintptr_t *f = (const uintptr_t *)fps[i];
        diff |= (f[0] ^ pairs[2 * i]) | (f[1] ^ pairs[2 * i + 1]);
    }
    if (diff != 0) {
        return 0; /* another caller: most misses show here */
    }
    v2 acc = {0, 0};
    for (; i < visited; i++) {
        acc |= *(const v2_unaligned *)fps[i] ^ *(const v2 *)&pairs[2 * i];
    }
    return (acc[0] | acc[1]) == 0;
}

/* The walk of the memo again when it starts from the same frame and every word it read still holds what
 * it held: independent loads (the walk checked these addresses against this thread's stack) instead of a
 * chain of dependent ones. Returns the number of frames, or -1: walk it. */
MS_RAW_READ static inline int unwind_fp_kept(struct ms_thread *t, const uintptr_t *frame, void **out, int max, int skip,
                                              unsigned *flags, uint32_t *known)
{
    struct ms_unwind_memo *m = unwind_memo_of(t);
    if (__builtin_expect(m == NULL, 0)) {
        return -1;
    }
    unsigned seq = m->seq;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    unsigned w = 0;
    while (m->fp[w].entry != (uintptr_t)frame) {
        if (++w == FP_WAYS) {
            return -1;
        }
    }
    int n = -1;
    const struct ms_unwind_fp_way *way = &m->fp[w];
    if (__builtin_expect((seq & 1) == 0 && way->limits == unwind_limits(max, skip), 1)) {
        const uintptr_t *pairs = fp_way_pairs(m, w);
        if (__builtin_expect(unwind_fp_same(fp_way_fps(m, w), pairs, way->visited), 1)) {
            n = way->n;
            *flags = way->flags;
            if (known && way->stack != MS_STACK_UNKNOWN) {
                *known = way->stack;
            } else {
                for (int i = 0; i < n; i++) {
                    out[i] = (void *)pairs[2 * (skip + i) + 1];
                }
                m->pending = 1 + (int)w;
            }
        }
    }
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    return m->seq == seq ? n : -1;
}

/* The memo's complete walk, whose id the tracker just interned, into a way (the one of its entry, or the
 * next in turn): a capture from there finds the id again while other walks pass through the memo. */
__attribute__((noinline)) static void unwind_dw_keep(struct ms_unwind_memo *m, uint32_t stack)
{
    uint64_t gen = __atomic_load_n(&unwind_generation, __ATOMIC_ACQUIRE);
    if (m->reuse_gen != gen || m->count <= 0) {
        return;
    }
    if (m->narrow_checks < 0) {
        m->seq++;
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        unwind_memo_checks(m);
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        m->seq++;
    }
    if (m->narrow_checks + 2 * m->wide_checks > DW_CHECKS) {
        return;
    }
    const uintptr_t *f = &m->ring[m->base];
    unsigned w = 0;
    while (w < DW_WAYS && !(m->dw[w].gen == gen && m->dw[w].ip == f[COL_IP] && m->dw[w].sp == f[COL_SP])) {
        w++;
    }
    if (w == DW_WAYS) {
        w = m->dw_victim++ % DW_WAYS;
    }
    struct ms_unwind_dw_way *way = &m->dw[w];
    way->gen = UINT64_MAX; /* a signal handler's capture meanwhile sees no half-written way */
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    way->ip = f[COL_IP];
    way->sp = f[COL_SP];
    way->bp = f[COL_BP];
    way->entry_bp = m->entry_bp;
    way->narrow_checks = m->narrow_checks;
    way->wide_checks = m->wide_checks;
    way->count = m->count;
    way->limits = m->pending_limits;
    way->stack = stack;
    memcpy(way->check, m->check, (size_t)(m->narrow_checks + 2 * m->wide_checks) * 2 * sizeof *way->check);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    way->gen = gen;
}

/* A capture from the entry of a kept walk whose words all hold: its frame count and id, no walk. Returns
 * the number of frames, or -1. */
MS_RAW_READ static inline int unwind_dw_kept(struct ms_thread *t, uintptr_t ip, uintptr_t sp, uintptr_t bp, int max, int skip,
                                              unsigned *flags, uint32_t *known)
{
    struct ms_unwind_memo *m = unwind_memo_of(t);
    if (m == NULL) {
        return -1;
    }
    uint64_t gen = __atomic_load_n(&unwind_generation, __ATOMIC_ACQUIRE);
    uint64_t limits = unwind_limits(max, skip);
    for (unsigned w = 0; w < DW_WAYS; w++) {
        const struct ms_unwind_dw_way *way = &m->dw[w];
        if (way->ip != ip || way->sp != sp || way->gen != gen || way->limits != limits) {
            continue;
        }
        if (!unwind_checks_hold(way->check, way->narrow_checks, way->wide_checks, way->entry_bp ? way->bp ^ bp : 0)) {
            return -1; /* one way per entry */
        }
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
    return -1;
}

/* unw_backtrace's first entries lie in this function and in its callers up to the function whose frame
 * the capture starts from: they are dropped up to that frame's return address, frame 0 (two or three
 * of them, depending on what the compiler inlined). Not inlined, so that its buffer does not weigh on
 * the other walkers' frame. */
__attribute__((noinline)) static int unwind_libunwind(const uintptr_t *frame, void **ips, int max, int skip,
                                                      unsigned *flags)
{
    enum { LEAD_MAX = 4 };
    void *buf[UNWIND_MAX_DEPTH + LEAD_MAX + 4];
    int want = max + skip + LEAD_MAX + 1;
    if (want > (int)(sizeof buf / sizeof buf[0])) {
        want = (int)(sizeof buf / sizeof buf[0]);
    }
    int saved_errno = errno;
    int got = unw_backtrace(buf, want);
    errno = saved_errno;
    int lead = 2;
    for (int i = 0; i < got && i <= LEAD_MAX; i++) {
        if ((uintptr_t)buf[i] == frame[1]) {
            lead = i;
            break;
        }
    }
    int n = 0;
    for (int i = lead + skip; i < got; i++) {
        if (n == max) {
            *flags |= MS_FMT_STACK_TRUNCATED;
            break;
        }
        ips[n++] = buf[i];
    }
    /* Keeps unw_backtrace from being a tail call. */
    __asm__ volatile("" ::: "memory");
    return n;
}

/* frame: the entry point's own frame (frame[0] its caller's rbp, frame[1] the return address, frame + 2
 * the caller's rsp). known: NULL, or where a remembered stack id goes. */
MS_RAW_READ static inline __attribute__((always_inline)) int unwind_capture(struct ms_thread *t,
                                                                            const uintptr_t *frame, void **ips,
                                                                            int max, int skip, unsigned *flags,
                                                                            uint32_t *known)
{
    *flags = 0;
    if (known) {
        *known = MS_STACK_UNKNOWN;
    }
    if (max <= 0) {
        return 0;
    }
    if (max > UNWIND_MAX_DEPTH) {
        max = UNWIND_MAX_DEPTH;
    }
    if (skip < 0) {
        skip = 0;
    } else if (skip > 4) {
        skip = 4;
    }
    int n;
    switch (unwind_mode) {
    case MS_UNWIND_FP:
        n = unwind_fp_kept(t, frame, ips, max, skip, flags, known);
        if (n < 0) {
            if (known) {
                *known = MS_STACK_UNKNOWN;
            }
            *flags = 0;
            n = unwind_fp_walk(t, frame, ips, max, skip, flags);
        }
        break;
    case MS_UNWIND_LIBUNWIND: n = unwind_libunwind(frame, ips, max, skip, flags); break;
    default:
        /* A kept walk gives its id; else the memo's walk its frames; else walk. */
        n = known ? unwind_dw_kept(t, frame[1], (uintptr_t)(frame + 2), frame[0], max, skip, flags, known) : -1;
        if (n < 0) {
            *flags = 0;
            n = unwind_memo_reuse(t, frame[1], (uintptr_t)(frame + 2), frame[0], ips, max, skip, flags);
        }
        if (n < 0) {
            *flags = 0;
            n = (int)(unwind_cfi(t, frame[1], (uintptr_t)(frame + 2), frame[0], ips, ips + max, skip, flags) -
                      ips);
        }
        break;
    }
    return n;
}

/* Taking the frame address gives these functions a frame pointer. The empty asm keeps the walkers from
 * being tail calls, whose frame would not be this one. */
MS_RAW_READ __attribute__((noinline)) int ms_unwind_capture(void **ips, int max, int skip, unsigned *flags)
{
    int n = unwind_capture(ms_thread_self(), __builtin_frame_address(0), ips, max, skip, flags, NULL);
    __asm__ volatile("" ::: "memory");
    return n;
}

/* Not noinline: the tracker's hooks take it inline, from their own frame. */
MS_RAW_READ int ms_unwind_capture_from(struct ms_thread *t, const void *frame, void **ips, int max, int skip,
                                       unsigned *flags, uint32_t *stack)
{
    return unwind_capture(t, frame, ips, max, skip, flags, stack);
}

void ms_unwind_remember(struct ms_thread *t, uint32_t stack)
{
    struct ms_unwind_memo *m = unwind_memo_of(t);
    if (m == NULL || !m->pending || (m->seq & 1) != 0) {
        return;
    }
    if (unwind_mode == MS_UNWIND_FP) {
        m->fp[m->pending - 1].stack = stack;
    } else if (unwind_mode == MS_UNWIND_DWARF) {
        unwind_dw_keep(m, stack);
    }
    m->pending = 0;
}
