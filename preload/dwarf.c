/* The CFI walk (MS_UNWIND_DWARF): follows the CFI like libunwind does, with each return address's rule
 * from rulecache.c (CFA = rsp+k or rbp+k, return address at CFA-8, rbp saved or not), so a known frame
 * costs a hash probe and two loads; frames the thread's previous walk already went through cost one load
 * (the memo below). Frames outside that subset go to libunwind for the rest of the stack. Every stack read
 * is checked against the thread's stack bounds, so a wrong rule ends the walk (MS_FMT_STACK_BROKEN)
 * instead of faulting. docs/unwinding.md has it all. */
#include "preload.h"

#include <errno.h>
#include <string.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

/* Frames go to out[] until end; the first `skip` frames are dropped. Returns false when the stack must
 * be cut at this frame (it is one too many). */
static inline int dwarf_emit(void ***out, void **end, int *skip, uintptr_t ip, unsigned *flags)
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
static void **dwarf_libunwind_steps(uintptr_t ip, uintptr_t sp, uintptr_t bp, void **out, void **end,
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
        if (pc == 0 || !dwarf_emit(&out, end, &skip, pc, flags)) {
            return out;
        }
    }
}

__attribute__((noinline, cold)) static void **dwarf_libunwind_from(struct ms_thread *t, uintptr_t ip,
                                                                    uintptr_t sp, uintptr_t bp, void **out,
                                                                    void **end, int skip, unsigned *flags)
{
    t->unwind_fallbacks++;
    int saved_errno = errno; /* libunwind probes memory with system calls that may fail */
    out = dwarf_libunwind_steps(ip, sp, bp, out, end, skip, flags);
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
 * out with one memcpy. The memo is part of the thread's slot (thread.c); a thread without one walks
 * without. */
#define MEMO_FRAMES MS_UNWIND_MEMO_FRAMES
#define MEMO_SPAN (2 * MEMO_FRAMES) /* slots per column */
#define DW_CHECKS MS_UNWIND_DW_CHECKS

/* Columns of a frame x in a buffer b: b[x + COL_IP] and so on. COL_LINK holds where the walk read bp
 * from (0: carried over from the frame below; 8-aligned), | 1 when the step to this frame computed the
 * CFA from the frame below's bp. */
enum { COL_IP = 0, COL_SP = MEMO_SPAN, COL_BP = 2 * MEMO_SPAN, COL_LINK = 3 * MEMO_SPAN, COLS = 4 };


/* The thread's memo when it has one, for the captures that only read it. */
static inline struct ms_dwarf_memo *dwarf_memo_of(const struct ms_thread *t)
{
    struct ms_thread_slot *slot = t->slot;
    return (uintptr_t)slot > (uintptr_t)MS_THREAD_NO_SLOT ? &slot->memo : NULL;
}

/* The same, claimed on first use: for the walks that write it. */
static inline struct ms_dwarf_memo *dwarf_memo_claim(struct ms_thread *t)
{
    struct ms_thread_slot *slot = ms_thread_slot(t);
    return slot != MS_THREAD_NO_SLOT ? &slot->memo : NULL;
}

void ms_dwarf_memo_start(struct ms_dwarf_memo *m)
{
    m->count = 0;
    m->complete = 0;
    m->complete_gen = UINT64_MAX;
    m->seq = 0;
    m->pending = 0;
}

/* A few words without a call: walks that differ from the last one by a few inner frames are the rule. */
static inline void dwarf_copy_words(uintptr_t *dst, const uintptr_t *src, int n)
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
static int dwarf_memo_join(struct ms_dwarf_memo *m, int k, int from, int n)
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
        dwarf_copy_words(ring, scratch, k);
    }
    m->base = start < 0 ? (MEMO_SPAN - (k + n)) / 2 : start;
    return k + n;
}

/* A list of n (address, value) pairs to verify, in address order, arranged for speed into out: `*narrow`
 * pairs as they are, then `*wide` entries {address, 0, value at address, value at address + 8} for pairs
 * of adjacent words (a frame's saved rbp and return address), each compared with one 16-byte load. The
 * first NARROW_FIRST pairs stay narrow: they are the innermost frames, pushed moments before a capture,
 * and a wide load of two stores still on their way to the cache waits for them. adjacent: about how many
 * pairs of adjacent words the list has (a wide list does not pay for fewer than WIDE_MIN). in and out
 * must not overlap. */
#define NARROW_FIRST 4
#define WIDE_MIN 4

static void dwarf_checks_arrange(const uintptr_t *in, int n, int adjacent, uintptr_t *out, int *narrow, int *wide)
{
    int keep = n < NARROW_FIRST ? n : NARROW_FIRST;
    int nn = 0, nw = 0;
    for (int i = keep; adjacent >= WIDE_MIN && i + 1 < n; i++) {
        if (in[2 * (i + 1)] == in[2 * i] + 8) {
            nw++;
            i++;
        }
    }
    if (nw < WIDE_MIN) {
        memcpy(out, in, (size_t)n * 2 * sizeof *out);
        *narrow = n;
        *wide = 0;
        return;
    }
    nn = n - 2 * nw;
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

/* The pairs a kept walk of the memo's walk checks (kept.c): every return address at its place, and the bp a
 * step computed its CFA from, where it was read (or, from frame 0, the entry's rbp). Other saved rbp
 * values do not matter: code without frame pointers keeps anything in rbp, a loop counter say.
 * Listed from the outermost frame in, so that the list comes out in address order without a sort (a
 * sort cost more than the rest of a kept walk: g++ keeps a walk on most of its captures): frame x's
 * return address lies at sp_x - 8, the bp it read at its link, in [sp_{x-1}, sp_x - 8), and a frame's bp
 * is checked when a step further out computed its CFA from it before another frame read a new one. */
__attribute__((noinline)) static void dwarf_memo_checks(struct ms_dwarf_memo *m)
{
    const uintptr_t *f = &m->ring[m->base];
    uintptr_t *end = m->scratch + COLS * MEMO_SPAN, *c = end; /* free once a walk is done */
    int used = 0, adjacent = 0; /* used: a step further out computed its CFA from the bp this frame has */
    for (int x = m->count - 1; x > 0; x--) {
        uintptr_t link = f[x + COL_LINK], at = f[x + COL_SP] - 8;
        c -= 2;
        c[0] = at;
        c[1] = f[x + COL_IP];
        if (link > 1) { /* this frame read its bp at link & ~1 */
            if (used) {
                c -= 2;
                c[0] = link & ~(uintptr_t)1;
                c[1] = f[x + COL_BP];
                adjacent += c[0] + 8 == at; /* pushed by the function's first instruction */
            }
            used = 0;
        }
        used |= (int)(link & 1);
    }
    m->entry_bp = used;
    dwarf_checks_arrange(c, (int)(end - c) / 2, adjacent, m->check, &m->narrow_checks, &m->wide_checks);
}

/* The memo now holds the walk the current capture made (with this max and skip): ms_unwind_remember may
 * keep it with the id the tracker interns for it. */
static inline void dwarf_memo_pending(struct ms_dwarf_memo *m, int max, int skip)
{
    m->pending = 1;
    m->pending_limits = ms_unwind_limits(max, skip);
}

/* The CFI walk from the caller of ms_unwind_capture: ip its return address, sp and bp its registers.
 * Each step is a chain of dependent loads (return address -> cache slot -> next return address), so the
 * loop keeps everything in registers. */
MS_RAW_READ __attribute__((noinline)) void **ms_dwarf_walk(struct ms_thread *t, uintptr_t ip, uintptr_t sp, uintptr_t bp,
                                                          void **out, void **end, int skip, unsigned *flags)
{
    uintptr_t lo, hi;
    int max0 = (int)(end - out), skip0 = skip;
    if (!dwarf_emit(&out, end, &skip, ip, flags)) {
        return out;
    }
    if (!ms_thread_stack(t, &lo, &hi) || sp < lo || sp >= hi) {
        /* An alternate signal stack or a coroutine: bounds unknown, so no fast walk. */
        return dwarf_libunwind_from(t, ip, sp, bp, out, end, skip, flags);
    }

    struct ms_dwarf_memo *memo = dwarf_memo_claim(t);
    unsigned gen = ms_rulecache_generation();
    const uintptr_t *old = NULL;
    uintptr_t *rec = NULL; /* where this walk's frames are recorded (by column); NULL: not recorded */
    int old_n = 0, j = 0, k = 0, rec_cap = 0, old_complete = 0, complete = 0;
    if (memo != NULL && (memo->seq & 1) == 0) {
        memo->seq++;
        /* Only this thread's signal handlers race with it: keep the compiler from reordering. */
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        memo->pending = 0;
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
            k = dwarf_memo_join(memo, inner, memo->base + j + 1, shared);
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

        uint64_t word = ms_rulecache_get(ip);
        uintptr_t cfa = MS_RULE_CFA(word);
        unsigned kind = MS_RULE_KIND(word);
        if (__builtin_expect(kind == MS_CFI_RSP, 1)) {
            cfa += sp;
        } else if (kind == MS_CFI_RBP) {
            cfa += bp;
        } else if (kind == MS_CFI_OUTERMOST) {
            complete = 1;
            goto done;
        } else if (MS_RULE_CFA(word) == MS_RULE_NOT_CODE_CFA) {
            /* A return address read from the stack that points at no code: the frame it came from had
             * no frame pointer after all. Dropped (when it went out) and the stack flagged. */
            if (out > end - max0 && out[-1] == (void *)ip) {
                out--;
            }
            *flags |= MS_FMT_STACK_BROKEN;
            goto done;
        } else {
            out = dwarf_libunwind_from(t, ip, sp, bp, out, end, skip, flags);
            goto done;
        }
        if (cfa < sp + 8 || cfa > hi || (cfa & 7) != 0) {
            *flags |= MS_FMT_STACK_BROKEN;
            goto done;
        }
        uintptr_t rbp_offset = MS_RULE_RBP(word);
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
            k = dwarf_memo_join(memo, k, MEMO_SPAN / 2 + k / 2, 0); /* centred */
        }
        memo->count = k;
        memo->complete = complete && rec_cap != 0;
        memo->generation = gen;
        memo->complete_gen = memo->complete ? gen : UINT64_MAX;
        memo->narrow_checks = -1; /* listed when the walk is kept */
        if (memo->complete) {
            dwarf_memo_pending(memo, max0, skip0);
        }
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        memo->seq++;
    }
    return out;
}

int ms_dwarf_memo_kept(struct ms_dwarf_memo *m, unsigned gen, uintptr_t *ip, uintptr_t *sp, int *count,
                       struct ms_dwarf_check *c)
{
    if (m->complete_gen != gen || m->count <= 0) {
        return -1;
    }
    if (m->narrow_checks < 0) {
        m->seq++;
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        dwarf_memo_checks(m);
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        m->seq++;
    }
    if (m->narrow_checks + 2 * m->wide_checks > DW_CHECKS) {
        return -1;
    }
    const uintptr_t *f = &m->ring[m->base];
    *ip = f[COL_IP];
    *sp = f[COL_SP];
    *count = m->count;
    if (c) {
        c->bp = f[COL_BP];
        c->entry_bp = m->entry_bp;
        c->narrow = m->narrow_checks;
        c->wide = m->wide_checks;
        memcpy(c->pairs, m->check, (size_t)(m->narrow_checks + 2 * m->wide_checks) * 2 * sizeof *c->pairs);
    }
    return 0;
}
