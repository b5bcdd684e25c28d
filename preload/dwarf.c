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
 * Where the shared frames end (another caller at the same depth), the walk goes on by the rules and
 * meets the last walk again further out: a recursive descent (a compiler's parser and template
 * instantiation) calls the same function at the same depth from different places, and the frames
 * between that call and main are the same again (g++: a third of its walks left the last walk's frames
 * and met them again, 17 frames on). So a walk records its frames into a buffer of its own, copying the
 * shared runs from the last walk's, and the two buffers swap at the end: the last walk stays intact
 * while the walk reads it.
 * Frames are stored by column (all ips, then all sps, ...): the shared frames' return addresses then go
 * out with one memcpy. The memo is part of the thread's slot (thread.c); a thread without one walks
 * without. */
#define MEMO_FRAMES MS_UNWIND_MEMO_FRAMES
#define DW_CHECKS MS_UNWIND_DW_CHECKS

/* Columns of a frame x in a buffer b: b[x + COL_IP] and so on. COL_LINK holds where the walk read bp
 * from (0: carried over from the frame below; 8-aligned), | 1 when the step to this frame computed the
 * CFA from the frame below's bp. */
enum { COL_IP = 0, COL_SP = MEMO_FRAMES, COL_BP = 2 * MEMO_FRAMES, COL_LINK = 3 * MEMO_FRAMES, COLS = 4 };

/* The thread's memo, claimed on first use. */
static inline struct ms_dwarf_memo *dwarf_memo_claim(struct ms_thread *t)
{
    struct ms_thread_slot *slot = ms_thread_slot(t);
    return slot != MS_THREAD_NO_SLOT ? &slot->memo : NULL;
}

void ms_dwarf_memo_start(struct ms_dwarf_memo *m)
{
    m->last = 0;
    m->count = 0;
    m->complete = 0;
    m->complete_gen = UINT64_MAX;
    m->seq = 0;
    m->pending = 0;
}

/* A few words without a call: most shared runs are short. */
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

/* n frames from src[x] on to dst[y] on, every column. */
static inline void dwarf_copy_frames(uintptr_t *dst, int y, const uintptr_t *src, int x, int n)
{
    for (int c = 0; c < COLS * MEMO_FRAMES; c += MEMO_FRAMES) {
        dwarf_copy_words(dst + c + y, src + c + x, n);
    }
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
    const uintptr_t *old = NULL; /* the last walk's frames (by column) */
    uintptr_t *rec = NULL;       /* where this walk's frames are recorded; NULL: not recorded */
    int old_n = 0, j = 0, k = 0, rec_cap = 0, old_complete = 0, complete = 0;
    if (memo != NULL && (memo->seq & 1) == 0) {
        memo->seq++;
        /* Only this thread's signal handlers race with it: keep the compiler from reordering. */
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        memo->pending = 0;
        if (memo->generation == gen) {
            old = memo->frames[memo->last];
            old_n = memo->count;
            old_complete = memo->complete;
        }
        rec = memo->frames[memo->last ^ 1];
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
            /* The shared frames join this walk's record. */
            int shared = i - j - 1, first = k;
            if (shared > rec_cap - k) {
                shared = rec_cap - k;
                rec_cap = 0; /* cut: what follows would not join them */
            }
            dwarf_copy_frames(rec, k, old, j + 1, shared);
            k += shared;
            /* The frames recorded after the shared ones are computed from this walk's rbp: when it is not
             * the recorded one (bp_same is about the last shared frame), the shared frames take this
             * walk's values, so that a later walk is compared with what this one used. */
            for (int x = first; !bp_same && x < k; x++) {
                uintptr_t at = rec[x + COL_LINK] & ~(uintptr_t)1;
                if (at != 0) {
                    bp_j = *(const uintptr_t *)at;
                }
                rec[x + COL_BP] = bp_j;
            }
            if (truncated) {
                goto done;
            }
            if (i == old_n) {
                if (old_complete && rec_cap != 0) {
                    complete = 1; /* the last walk ended right there: this one does too */
                    goto done;
                }
                old_n = 0; /* walked on from where the last walk stopped */
            }
            /* Go on from the last frame still shared, as if the walk had just reached it (bp is its), and
             * look for the last walk's frames again further out. */
            ip = old[i - 1 + COL_IP];
            sp = old[i - 1 + COL_SP];
            j = i;
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
        memo->last ^= 1;
        memo->count = k;
        memo->complete = complete && rec_cap != 0;
        memo->generation = gen;
        memo->complete_gen = memo->complete ? gen : UINT64_MAX;
        if (memo->complete) {
            dwarf_memo_pending(memo, max0, skip0);
        }
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        memo->seq++;
    }
    return out;
}

int ms_dwarf_memo_entry(const struct ms_dwarf_memo *m, unsigned gen, uintptr_t *ip, uintptr_t *sp)
{
    if (m->complete_gen != gen || m->count <= 0) {
        return -1;
    }
    *ip = m->frames[m->last][COL_IP];
    *sp = m->frames[m->last][COL_SP];
    return 0;
}

/* The words a kept walk of the memo's walk checks (kept.c): every return address at its place, and the bp a
 * step computed its CFA from, where it was read (or, from frame 0, the entry's rbp). Other saved rbp
 * values do not matter: code without frame pointers keeps anything in rbp, a loop counter say.
 * One pass from the outermost frame in (a frame's bp is checked when a step further out computed its CFA
 * from it before another frame read a new one), into the buffer the next walk records into, free until
 * then: (address, value) pairs down from its end, and, where a frame's saved rbp lies just below its
 * return address (pushed by its first instruction), one entry {address, 0, rbp, return address} for
 * both, compared with one 16-byte load, up from its start. Except in the two innermost frames, pushed
 * moments before a capture: a wide load of two stores still on their way to the cache waits for them. */
int ms_dwarf_memo_kept(struct ms_dwarf_memo *m, int *count)
{
    const uintptr_t *f = m->frames[m->last];
    uintptr_t *buf = m->frames[m->last ^ 1], *end = buf + COLS * MEMO_FRAMES, *c = end, *w = buf;
    int used = 0; /* a step further out computed its CFA from the bp this frame has */
    for (int x = m->count - 1; x > 0; x--) {
        uintptr_t link = f[x + COL_LINK], at = f[x + COL_SP] - 8;
        if (link > 1 && used) { /* this frame read its bp at link & ~1, and it was used */
            uintptr_t bp_at = link & ~(uintptr_t)1;
            if (bp_at + 8 == at && x > 2) {
                w[0] = bp_at;
                w[1] = 0;
                w[2] = f[x + COL_BP];
                w[3] = f[x + COL_IP];
                w += 4;
            } else {
                c -= 4;
                c[0] = bp_at;
                c[1] = f[x + COL_BP];
                c[2] = at;
                c[3] = f[x + COL_IP];
            }
        } else {
            c -= 2;
            c[0] = at;
            c[1] = f[x + COL_IP];
        }
        used = link > 1 ? (int)(link & 1) : used | (int)(link & 1);
    }
    m->entry_bp = used;
    m->narrow = (int)(end - c) / 2;
    m->wide = (int)(w - buf) / 4;
    if (m->narrow + 2 * m->wide > DW_CHECKS) {
        return -1;
    }
    *count = m->count;
    return 0;
}

/* Wide entries pay for their second loop from this many on. */
#define WIDE_MIN 4

void ms_dwarf_memo_checks(const struct ms_dwarf_memo *m, struct ms_dwarf_check *c)
{
    const uintptr_t *buf = m->frames[m->last ^ 1], *list = buf + COLS * MEMO_FRAMES - 2 * m->narrow;
    c->bp = m->frames[m->last][COL_BP];
    c->entry_bp = m->entry_bp;
    memcpy(c->pairs, list, (size_t)m->narrow * 2 * sizeof *list);
    if (m->wide >= WIDE_MIN) {
        memcpy(c->pairs + 2 * m->narrow, buf, (size_t)m->wide * 4 * sizeof *buf);
        c->narrow = m->narrow;
        c->wide = m->wide;
        return;
    }
    uintptr_t *p = c->pairs + 2 * m->narrow;
    for (int i = 0; i < m->wide; i++, buf += 4, p += 4) {
        p[0] = buf[0];
        p[1] = buf[2];
        p[2] = buf[0] + 8;
        p[3] = buf[3];
    }
    c->narrow = m->narrow + 2 * m->wide;
    c->wide = 0;
}
