/* Which live blocks can the program still reach? LeakSanitizer's question, answered at exit the same way:
 * conservatively, every aligned word of the roots (writable segments of every loaded module, the calling
 * thread's registers, stack and TLS) that points to the start or the interior of a live block marks it, and
 * marked blocks are scanned in turn. What stays unmarked is lost; among the lost, blocks pointed to by
 * another lost block are "indirectly lost" (valgrind's notion: the first unmarked block of a lost structure,
 * in address order, is its leader and stays definitely lost, even in a cycle).
 *
 * Only memory known to be readable is read: /proc/self/maps is taken before the scan, and every root range
 * and block is clipped to its readable mappings. All working memory is mapped anonymous memory, so the scan
 * depends on no allocator. The heap map is locked for the scan: no block in its table can be freed (or
 * unmapped) under it. Threads that are not stopped still run, so what they can take away (a stack they
 * unmap, a block held in their slot, which they free without a lock) is read through a copy that cannot
 * fault (process_vm_readv): the roots and the held blocks. Other threads (stop.c): a running thread is stopped, and its registers and its stack from where it
 * was interrupted up are roots; a thread blocked in a system call shows its stack pointer in
 * /proc/self/task/TID/syscall, and its stack from there up is a root (its registers are out of reach); a
 * thread neither stopped nor blocked is unknown, and counted. /proc/self/maps is read with plain system
 * calls. */
#include "preload.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "memsnap/format.h"

#define REACH_ROOTS_MAX 8192
#define REACH_REGIONS_MAX 65536
#define REACH_SIZE_BITS 40 /* MS_HEAPMAP_SIZE_MAX fits */
#define REACH_SAMPLE 64
#define REACH_PTHREAD_SPAN 2304 /* glibc's struct pthread (x86_64): pthread_setspecific's first keys live in it */

enum { REACH_NEW = 0, REACH_REACHABLE = 1, REACH_INDIRECT = 2, REACH_LEADER = 3 };

struct reach_range {
    uintptr_t lo, hi;
};

struct reach_block {
    uint64_t addr;
    uint64_t meta; /* size (low REACH_SIZE_BITS) | stack id << REACH_SIZE_BITS */
};

/* Everything the scan uses, in mapped memory or here (one scan at a time: the snapshot lock). */
static struct reach_range reach_roots[REACH_ROOTS_MAX];
static uint32_t reach_nroots;
static int reach_roots_error; /* -errno: the roots are incomplete, so would the verdicts be */
static uint32_t reach_threads_unknown;
static long reach_helper_tid; /* the profiler's own thread: nothing of the program's on its stack */
static uint32_t reach_helper_pending; /* started, not yet known by its tid (a futex) */
static int reach_on = 1; /* 0 off, 1 at exit, 2 every snapshot */
static uintptr_t reach_entry_sp;
static pthread_t reach_entry_thread;
static uintptr_t reach_entry_regs[6];
static int reach_entry_in_exit; /* the entry is inside exit(): its frames below exit's are dead */
static uintptr_t reach_exit_lo, reach_exit_hi; /* exit()'s code */
static uintptr_t reach_main_tp; /* the main thread's thread pointer (its TCB) */
static pid_t reach_main_pid;    /* ... in this process (not in a child forked from another thread) */
static uintptr_t reach_tls_below; /* how far below a thread pointer the static TLS blocks reach */

struct reach_work {
    struct reach_range *regions; /* readable mappings, sorted */
    size_t nregions;
    struct reach_block *blocks;  /* sorted by address */
    uint64_t *addrs;             /* their addresses alone, for the search: 8 per cache line */
    uint64_t *samples;           /* every REACH_SAMPLE-th address: a first search that stays in cache */
    size_t nsamples;
    unsigned char *state;        /* REACH_* per block */
    unsigned char *readable;     /* REACH_READ_* per block */
    uint32_t *stack;             /* the mark stack: each block is pushed at most once */
    uint32_t *owner;             /* an indirectly lost block's leader: the lost block whose drain reached it */
    size_t n, cap, top;
    uint64_t lo, hi;             /* lowest block start, highest block end */
    int copy_refused;            /* the kernel refused a copy (seccomp): it refuses all, read in place */
};

/* Blocks in threads' slots, which a thread that is not stopped may free meanwhile. */
static uint64_t reach_held[MS_THREAD_SLOTS];
static size_t reach_nheld;

/* How a block's bytes are read. Threads that were not stopped (asleep when the scan began, started since,
 * or exiting) keep running: they can unmap a thread stack they free, or free a block held in their slot
 * (no lock) and have its memory trimmed away. Roots and held blocks are read through a copy that cannot
 * fault; table blocks cannot be freed while the map is locked and are read in place. */
enum { REACH_READ_NOT = 0, REACH_READ_DIRECT = 1, REACH_READ_COPY = 2 };

void ms_reach_init(void)
{
    /* The main thread's TLS and descriptor are not on its stack: known here for an exit from another. */
    if (ms_platform_tid() == ms_platform_pid()) {
        reach_main_tp = (uintptr_t)pthread_self();
        reach_main_pid = ms_platform_pid();
    }
    void *ex = dlsym(RTLD_DEFAULT, "exit");
    Dl_info info;
    const ElfW(Sym) *sym = NULL;
    if (ex && dladdr1(ex, &info, (void **)&sym, RTLD_DL_SYMENT) && sym && sym->st_size) {
        reach_exit_lo = (uintptr_t)ex;
        reach_exit_hi = reach_exit_lo + sym->st_size;
    }
    const char *v = getenv("MEMSNAP_LEAK_SCAN");
    if (v && *v) {
        if (strcmp(v, "0") == 0) {
            reach_on = 0;
        } else if (strcmp(v, "all") == 0) {
            reach_on = 2;
        } else if (strcmp(v, "1") != 0) {
            ms_text_warn("MEMSNAP_LEAK_SCAN=", v, ": expected 0, 1 or all; using 1", (const char *)0);
        }
    }
}

void ms_reach_helper_starting(int starting)
{
    __atomic_store_n(&reach_helper_pending, (uint32_t)starting, __ATOMIC_RELEASE);
}

void ms_reach_helper_wait(void)
{
    uint64_t until = ms_platform_monotonic_ns() + 1000000000u;
    uint64_t now;
    while (__atomic_load_n(&reach_helper_pending, __ATOMIC_ACQUIRE) && (now = ms_platform_monotonic_ns()) < until) {
        (void)ms_platform_futex_wait(&reach_helper_pending, 1, (int64_t)(until - now));
    }
}

void ms_reach_not_a_root(void)
{
    __atomic_store_n(&reach_helper_tid, ms_platform_tid(), __ATOMIC_RELAXED);
    __atomic_store_n(&reach_helper_pending, 0, __ATOMIC_RELEASE);
    ms_platform_futex_wake(&reach_helper_pending);
}

void ms_reach_in_exit(void)
{
    reach_entry_in_exit = 1;
}

void ms_reach_entry(uintptr_t sp, const uintptr_t regs[6])
{
    memcpy(reach_entry_regs, regs, sizeof reach_entry_regs);
    reach_entry_thread = pthread_self();
    reach_entry_sp = sp;
}

int ms_reach_enabled(uint32_t trigger)
{
    return (reach_on == 2 || (reach_on == 1 && trigger == MS_FMT_TRIGGER_EXIT)) && ms_config.sample == 0; /* sampled maps miss most blocks: every pointer path breaks */
}

static inline uint64_t reach_size(const struct reach_block *b)
{
    return b->meta & ((UINT64_C(1) << REACH_SIZE_BITS) - 1);
}

static inline uint32_t reach_stack_id(const struct reach_block *b)
{
    return (uint32_t)(b->meta >> REACH_SIZE_BITS);
}

/* ---- readable memory --------------------------------------------------------------------------------- */

static int reach_hex(const char **p, uintptr_t *out)
{
    uintptr_t v = 0;
    int digits = 0;
    for (;; (*p)++, digits++) {
        char c = **p;
        unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0') : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10) : 16;
        if (d == 16) {
            break;
        }
        v = v << 4 | d;
    }
    *out = v;
    return digits > 0;
}

/* A maps line from the permissions on: readable, and safe to read whole. Kernel pages ([vvar] and the
 * like can fault even when readable), devices and shared file mappings (SIGBUS past a truncated end) are
 * left out: malloc never hands them out, and loaded modules map their data privately. */
static int reach_safe(const char *p)
{
    if (p[0] != 'r') {
        return 0;
    }
    int shared = p[3] == 's';
    for (int field = 0; field < 4 && *p; field++) { /* perms, offset, device, inode */
        while (*p && *p != ' ') {
            p++;
        }
        while (*p == ' ') {
            p++;
        }
    }
    if (*p == 0) {
        return 1; /* anonymous */
    }
    if (*p == '[') {
        return strncmp(p, "[heap]", 6) == 0 || strncmp(p, "[stack]", 7) == 0 || strncmp(p, "[anon:", 6) == 0;
    }
    return !shared && strncmp(p, "/dev/", 5) != 0;
}

/* /proc/self/maps, readable mappings only. Read with plain system calls: no stdio, no allocation. */
static int reach_regions(struct reach_work *w)
{
    int fd = ms_platform_open_read("/proc/self/maps", 0);
    if (fd < 0) {
        return fd;
    }
    char buf[8192];
    size_t have = 0;
    int rc = 0;
    for (;;) {
        long got = ms_platform_read(fd, buf + have, sizeof buf - have);
        if (got < 0) {
            rc = (int)got;
            break;
        }
        have += (size_t)got;
        size_t start = 0;
        for (size_t i = 0; i < have; i++) {
            if (buf[i] != '\n') {
                continue;
            }
            const char *p = buf + start;
            uintptr_t lo, hi;
            start = i + 1;
            buf[i] = 0;
            if (!reach_hex(&p, &lo) || *p++ != '-' || !reach_hex(&p, &hi) || *p++ != ' ' || !reach_safe(p)) {
                continue;
            }
            /* Mappings stay apart even when adjacent: a thread's stack is one mapping, and its end is where
             * the scan of that stack stops. */
            if (w->nregions < REACH_REGIONS_MAX) {
                w->regions[w->nregions++] = (struct reach_range){lo, hi};
            } else {
                rc = -E2BIG;
            }
        }
        memmove(buf, buf + start, have - start);
        have -= start;
        if (got == 0 || rc < 0 || have == sizeof buf) {
            break;
        }
    }
    ms_platform_close(fd);
    return rc;
}

/* The readable region holding addr, or NULL. */
static const struct reach_range *reach_region_of(const struct reach_work *w, uintptr_t addr)
{
    size_t lo = 0, hi = w->nregions;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (w->regions[mid].hi <= addr) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < w->nregions && w->regions[lo].lo <= addr ? &w->regions[lo] : NULL;
}

/* ---- roots --------------------------------------------------------------------------------------------- */

static void reach_add_root(uintptr_t lo, uintptr_t hi)
{
    if (hi <= lo) {
        return;
    }
    if (reach_nroots == REACH_ROOTS_MAX) {
        reach_roots_error = -E2BIG;
        return;
    }
    reach_roots[reach_nroots++] = (struct reach_range){lo, hi};
}

static int reach_module(struct dl_phdr_info *info, size_t size, void *ctx)
{
    (void)size;
    (void)ctx;
    uintptr_t self = (uintptr_t)&reach_roots;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && self >= lo && self < lo + ph->p_memsz) {
            return 0; /* the profiler's own tables are not the program's roots */
        }
    }
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_W)) {
            uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
            reach_add_root(lo, lo + ph->p_memsz);
        } else if (ph->p_type == PT_TLS && info->dlpi_tls_data) {
            /* This thread's copy of the module's thread-local variables. */
            uintptr_t tls = (uintptr_t)info->dlpi_tls_data, tp = (uintptr_t)pthread_self();
            reach_add_root(tls, tls + ph->p_memsz);
            /* Static TLS sits at the same offset below every thread's pointer (x86_64, variant II). */
            if (tls < tp && tp - tls < ((uintptr_t)1 << 26) && tp - tls > reach_tls_below) {
                reach_tls_below = tp - tls;
            }
        }
    }
    return 0;
}

/* Above sp, within [sp, hi): where the return address into exit() is, plus 8 (exit's own frame and its
 * caller's are live; the frames exit() ran below it, atexit handlers and destructors, are dead), or sp. */
static uintptr_t reach_exit_frame(uintptr_t sp, uintptr_t hi)
{
    if (!reach_exit_lo) {
        return sp;
    }
    for (const uintptr_t *p = (const uintptr_t *)((sp + 7) & ~(uintptr_t)7); (uintptr_t)(p + 1) <= hi; p++) {
        if (*p > reach_exit_lo && *p <= reach_exit_hi) {
            return (uintptr_t)(p + 1);
        }
    }
    return sp;
}

/* A thread's thread-local storage seen from its thread pointer: the static TLS blocks below it, its
 * descriptor above (pthread_setspecific's first keys), and the dynamic TLS vector of its dlopen'ed
 * modules (glibc: tcbhead_t.dtv, entries of 16 bytes, the count in the one before the first). */
static void reach_thread_tls(const struct reach_work *w, uintptr_t tp)
{
    reach_add_root(tp - reach_tls_below, tp + REACH_PTHREAD_SPAN);
    if (!reach_region_of(w, tp + 8) || !reach_region_of(w, tp + 15)) {
        return;
    }
    uintptr_t dtv = ((const uintptr_t *)tp)[1];
    const struct reach_range *r = dtv >= 16 ? reach_region_of(w, dtv - 16) : NULL;
    if (!r || dtv + 16 > r->hi) {
        return;
    }
    uintptr_t count = *(const uintptr_t *)(dtv - 16);
    uintptr_t end = count < 65536 ? dtv + 16 * (count + 1) : r->hi;
    reach_add_root(dtv - 16, end < r->hi ? end : r->hi);
}

/* sp: the scanning function's stack pointer. Its frame (with the registers it spilled) and its callers'
 * are roots; the frames below it, where the scan itself runs, are not. */
static void reach_collect_roots(const struct reach_work *w, uintptr_t sp)
{
    reach_nroots = 0;
    reach_roots_error = 0;
    dl_iterate_phdr(reach_module, NULL);
    uintptr_t lo, hi;
    if (reach_entry_sp && pthread_equal(reach_entry_thread, pthread_self()) && reach_entry_sp > sp) {
        sp = reach_entry_sp;
        reach_entry_sp = 0; /* one exit's: a later scan (MEMSNAP_LEAK_SCAN=all) starts where it runs */
        reach_add_root((uintptr_t)reach_entry_regs, (uintptr_t)(reach_entry_regs + 6));
    }
    int in_exit = reach_entry_in_exit;
    reach_entry_in_exit = 0;
    int known = ms_platform_thread_stack(&lo, &hi) == 0;
    if (known && sp >= lo && sp < hi) {
        reach_add_root(in_exit ? reach_exit_frame(sp, hi) : sp, hi);
    } else {
        /* exit() from a handler on an alternate signal stack: that stack from sp up, and the whole thread
         * stack, whose live part is unknown (more stale words, never a missed root). */
        const struct reach_range *r = reach_region_of(w, sp);
        if (!r || !known) {
            reach_roots_error = -EFAULT;
            return;
        }
        reach_add_root(in_exit ? reach_exit_frame(sp, r->hi) : sp, r->hi);
        reach_add_root(lo, hi);
    }
    uintptr_t tp = (uintptr_t)pthread_self();
    reach_thread_tls(w, tp);
    if (reach_main_tp && reach_main_tp != tp && ms_platform_pid() == reach_main_pid) {
        reach_thread_tls(w, reach_main_tp);
    }
}

/* Before the heap map is locked: a process that exits at once may not have let the helper run yet (its
 * creator waits for it, but only so long): give it a moment more to say who it is. */
static void reach_wait_helper(void)
{
    uint64_t until = ms_platform_monotonic_ns() + 100000000u;
    while (__atomic_load_n(&reach_helper_pending, __ATOMIC_ACQUIRE) && ms_platform_monotonic_ns() < until) {
        ms_platform_yield();
    }
}

/* Other threads, stopped (ms_stop_world) or blocked: each one's stack from where it is up to the end of its
 * mapping (with glibc, the thread's descriptor and static TLS sit there too); a stopped thread's registers
 * and TLS too. */
static void reach_other_threads(const struct reach_work *w)
{
    const struct ms_stop_thread *list;
    uint32_t over;
    uint32_t n = ms_stop_world((pid_t)__atomic_load_n(&reach_helper_tid, __ATOMIC_RELAXED), &list, &over);
    reach_threads_unknown = over;
    for (uint32_t i = 0; i < n; i++) {
        const struct ms_stop_thread *t = &list[i];
        const struct reach_range *r = t->how == MS_STOP_UNKNOWN ? NULL : reach_region_of(w, t->sp);
        if (!r) {
            reach_threads_unknown++;
            continue;
        }
        uintptr_t lo = t->sp;
        if (t->how == MS_STOP_STOPPED) {
            /* The 128 bytes below the stack pointer are the interrupted function's red zone. */
            lo = lo - r->lo > 128 ? lo - 128 : r->lo;
            reach_add_root((uintptr_t)t->regs, (uintptr_t)(t->regs + MS_STOP_REGS));
            reach_thread_tls(w, t->tp);
        }
        reach_add_root(lo, r->hi);
    }
}

/* ---- the block table ----------------------------------------------------------------------------------- */

static void reach_gather(void *ctx, uintptr_t addr, uint64_t size, uint32_t stack, int held)
{
    struct reach_work *w = ctx;
    if (held && reach_nheld < MS_THREAD_SLOTS) {
        reach_held[reach_nheld++] = addr;
    }
    if (w->n < w->cap) {
        w->blocks[w->n++] = (struct reach_block){addr, size | (uint64_t)stack << REACH_SIZE_BITS};
    }
}

/* LSD radix sort by address, skipping the bytes every address shares. */
static void reach_sort(struct reach_block *a, struct reach_block *tmp, size_t n)
{
    static size_t count[8][256];
    memset(count, 0, sizeof count);
    for (size_t i = 0; i < n; i++) {
        for (int d = 0; d < 8; d++) {
            count[d][(a[i].addr >> (8 * d)) & 0xff]++;
        }
    }
    for (int d = 0; d < 8; d++) {
        if (n == 0 || count[d][(a[0].addr >> (8 * d)) & 0xff] == n) {
            continue;
        }
        size_t pos = 0;
        for (int b = 0; b < 256; b++) {
            size_t c = count[d][b];
            count[d][b] = pos;
            pos += c;
        }
        for (size_t i = 0; i < n; i++) {
            tmp[count[d][(a[i].addr >> (8 * d)) & 0xff]++] = a[i];
        }
        memcpy(a, tmp, n * sizeof *a);
    }
}

/* The block whose bytes hold v (a zero-size block: v == its address), or -1. */
static inline ptrdiff_t reach_find(const struct reach_work *w, uint64_t v)
{
    if (v < w->lo || v >= w->hi) {
        return -1;
    }
    /* Last sample <= v (samples[0] is the lowest address, <= v), then last address <= v after it. */
    size_t lo = 0, hi = w->nsamples;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (w->samples[mid] <= v) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo *= REACH_SAMPLE;
    hi = lo + REACH_SAMPLE < w->n ? lo + REACH_SAMPLE : w->n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (w->addrs[mid] <= v) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    const struct reach_block *b = &w->blocks[lo];
    uint64_t size = reach_size(b);
    if (v >= b->addr && (v < b->addr + size || (size == 0 && v == b->addr))) {
        return (ptrdiff_t)lo;
    }
    return -1;
}

/* ---- marking ------------------------------------------------------------------------------------------- */

/* What pointing at block j from a scanned word does, for `mark` REACH_REACHABLE (from a root or a reachable
 * block) or REACH_INDIRECT (inside the lost structure led by `leader`). */
static inline void reach_hit(struct reach_work *w, size_t j, unsigned char mark, size_t leader)
{
    unsigned char s = w->state[j];
    if (s == REACH_NEW) {
        w->state[j] = mark;
        w->owner[j] = (uint32_t)leader;
        w->stack[w->top++] = (uint32_t)j;
    } else if (mark == REACH_INDIRECT && s == REACH_LEADER && j != leader) {
        w->state[j] = REACH_INDIRECT; /* an earlier leader is part of this structure; its own are already marked */
        w->owner[j] = (uint32_t)leader;
    }
}

static void reach_scan_range(struct reach_work *w, uintptr_t lo, uintptr_t hi, unsigned char mark, size_t leader)
{
    const uint64_t *p = (const uint64_t *)((lo + 7) & ~(uintptr_t)7);
    const uint64_t *e = (const uint64_t *)(hi & ~(uintptr_t)7);
    for (; p < e; p++) {
        uint64_t v = *p;
        if (v < w->lo || v >= w->hi) {
            continue;
        }
        ptrdiff_t j = reach_find(w, v);
        if (j >= 0) {
            reach_hit(w, (size_t)j, mark, leader);
        }
    }
}

/* A 64 KiB window for reads that must not fault (one scan at a time). */
static uint64_t reach_copy[8192];

/* reach_scan_range over a copy: what is no longer mapped is skipped (nothing there keeps a block alive).
 * Where the kernel refuses the copy (a seccomp filter), the range is read in place, as before, and so is
 * every later one of the scan without asking again. */
static void reach_scan_copied(struct reach_work *w, uintptr_t lo, uintptr_t hi, unsigned char mark, size_t leader)
{
    lo = (lo + 7) & ~(uintptr_t)7;
    hi &= ~(uintptr_t)7;
    while (lo < hi) {
        size_t n = hi - lo < sizeof reach_copy ? hi - lo : sizeof reach_copy;
        long got = w->copy_refused ? -ENOSYS : ms_platform_copy_self(reach_copy, lo, n);
        if (got == -ENOSYS || got == -EPERM) {
            w->copy_refused = 1;
            reach_scan_range(w, lo, hi, mark, leader);
            return;
        }
        if (got > 0) {
            reach_scan_range(w, (uintptr_t)reach_copy, (uintptr_t)reach_copy + ((size_t)got & ~(size_t)7), mark,
                             leader);
        }
        /* A hole (got short of n): go on at the next page. */
        uintptr_t next = got == (long)n ? lo + n : ((lo + (got > 0 ? (uintptr_t)got : 0)) | 4095) + 1;
        lo = next;
    }
}

/* Scans a root range in its readable parts only. */
static void reach_scan_root(struct reach_work *w, uintptr_t lo, uintptr_t hi)
{
    while (lo < hi) {
        const struct reach_range *r = reach_region_of(w, lo);
        if (!r) {
            size_t i = 0; /* skip to the next readable region */
            while (i < w->nregions && w->regions[i].lo <= lo) {
                i++;
            }
            if (i == w->nregions) {
                return;
            }
            lo = w->regions[i].lo;
            continue;
        }
        uintptr_t end = r->hi < hi ? r->hi : hi;
        reach_scan_copied(w, lo, end, REACH_REACHABLE, 0);
        lo = end;
    }
}

static void reach_drain(struct reach_work *w, unsigned char mark, size_t leader)
{
    while (w->top) {
        size_t i = w->stack[--w->top];
        const struct reach_block *b = &w->blocks[i];
        if (w->readable[i] == REACH_READ_DIRECT) {
            reach_scan_range(w, (uintptr_t)b->addr, (uintptr_t)(b->addr + reach_size(b)), mark, leader);
        } else if (w->readable[i] == REACH_READ_COPY) {
            reach_scan_copied(w, (uintptr_t)b->addr, (uintptr_t)(b->addr + reach_size(b)), mark, leader);
        }
    }
}

static void reach_mark(struct reach_work *w)
{
    for (uint32_t r = 0; r < reach_nroots; r++) {
        reach_scan_root(w, reach_roots[r].lo, reach_roots[r].hi);
        reach_drain(w, REACH_REACHABLE, 0);
    }
    for (size_t i = 0; i < w->n; i++) {
        if (w->state[i] == REACH_NEW) {
            w->state[i] = REACH_LEADER;
            w->stack[w->top++] = (uint32_t)i;
            reach_drain(w, REACH_INDIRECT, i);
        }
    }
}

/* 1 when [addr, addr + size) lies in one readable region (a block never spans two mappings usefully). */
static int reach_readable(const struct reach_work *w, uint64_t addr, uint64_t size)
{
    const struct reach_range *r = reach_region_of(w, (uintptr_t)addr);
    return r && addr + size <= r->hi;
}

static size_t reach_page(size_t n)
{
    return (n + 4095) & ~(size_t)4095;
}

/* ---- the lost blocks' roots ----------------------------------------------------------------------------- */

/* The definitely lost block that leads the structure an indirectly lost block hangs from: its leader, or
 * the leader of the structure that reached that leader in turn (leaders reach only earlier leaders, so
 * the chain ends). The path is shortened as it is walked. */
static uint32_t reach_root(struct reach_work *w, uint32_t i)
{
    uint32_t r = i;
    while (w->state[r] == REACH_INDIRECT) {
        r = w->owner[r];
    }
    while (w->state[i] == REACH_INDIRECT && w->owner[i] != r) {
        uint32_t next = w->owner[i];
        w->owner[i] = r;
        i = next;
    }
    return r;
}

/* out->roots: for each (indirectly lost block's stack, its root's stack), bytes and blocks; sorted. */
static void reach_roots_of_indirect(struct reach_work *w, struct ms_reach *out)
{
    size_t n = 0;
    for (size_t i = 0; i < w->n; i++) {
        n += w->state[i] == REACH_INDIRECT;
    }
    if (n == 0) {
        return;
    }
    size_t pairs_len = reach_page(2 * n * sizeof(struct reach_block));
    struct reach_block *pairs = NULL;
    if (ms_platform_map(pairs_len, 1, (void **)&pairs) < 0) {
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < w->n; i++) {
        if (w->state[i] != REACH_INDIRECT) {
            continue;
        }
        uint32_t id = reach_stack_id(&w->blocks[i]), root = reach_stack_id(&w->blocks[reach_root(w, (uint32_t)i)]);
        if (id < out->nstacks && root < out->nstacks) {
            pairs[k++] = (struct reach_block){(uint64_t)id << 32 | root, reach_size(&w->blocks[i])};
        }
    }
    reach_sort(pairs, pairs + n, k);
    size_t distinct = 0;
    for (size_t i = 0; i < k; i++) {
        distinct += i == 0 || pairs[i].addr != pairs[i - 1].addr;
    }
    size_t roots_len = reach_page((distinct ? distinct : 1) * sizeof *out->roots);
    if (ms_platform_map(roots_len, 1, (void **)&out->roots) == 0) {
        out->roots_len = roots_len;
        for (size_t i = 0; i < k; i++) {
            if (i == 0 || pairs[i].addr != pairs[i - 1].addr) {
                out->roots[out->nroots++] = (struct ms_reach_root){(uint32_t)(pairs[i].addr >> 32), (uint32_t)pairs[i].addr, 0, 0};
            }
            out->roots[out->nroots - 1].bytes += pairs[i].meta;
            out->roots[out->nroots - 1].count++;
        }
    }
    ms_platform_unmap(pairs, pairs_len);
}

/* ---- the scan ------------------------------------------------------------------------------------------ */

int ms_reach_scan(uint32_t nstacks, uintptr_t caller_sp, struct ms_reach *out)
{
    uint64_t t0 = ms_platform_monotonic_ns();
    memset(out, 0, sizeof *out);
    __builtin_unwind_init(); /* callee-saved registers onto this frame, which the stack root covers */
    uintptr_t sp;
    __asm__ volatile("mov %%rsp, %0" : "=r"(sp));
    if (caller_sp) {
        sp = caller_sp; /* on the profiler's own stack: the thread's frames start there */
    }
    struct reach_work w;
    memset(&w, 0, sizeof w);
    size_t regions_len = reach_page(REACH_REGIONS_MAX * sizeof *w.regions);
    int rc = ms_platform_map(regions_len, 1, (void **)&w.regions);
    if (rc < 0) {
        return rc;
    }
    size_t sites_len = reach_page((size_t)(nstacks ? nstacks : 1) * sizeof *out->sites);
    void *sites = NULL;
    if ((rc = reach_regions(&w)) < 0 || (rc = ms_platform_map(sites_len, 1, &sites)) < 0) {
        ms_platform_unmap(w.regions, regions_len);
        return rc;
    }
    /* Roots before the heap map is locked: dl_iterate_phdr takes the loader's lock, which a thread waiting
     * for a heap map stripe (allocating inside dlopen) may hold. */
    reach_collect_roots(&w, sp);
    if (reach_roots_error < 0) {
        ms_platform_unmap(w.regions, regions_len);
        ms_platform_unmap(sites, sites_len);
        return reach_roots_error;
    }
    reach_wait_helper();

    /* Other threads are stopped with the heap map locked, so that none is stopped holding a stripe. */
    ms_heapmap_lock_all();
    reach_other_threads(&w);
    w.cap = (size_t)ms_heapmap_count();
    size_t per = 2 * sizeof(struct reach_block) + 2 + 2 * sizeof(uint32_t);
    size_t work_len = reach_page((w.cap ? w.cap : 1) * per);
    unsigned char *mem = NULL;
    rc = ms_platform_map(work_len, 1, (void **)&mem);
    if (rc == 0) {
        w.blocks = (struct reach_block *)mem;
        struct reach_block *tmp = w.blocks + w.cap;
        w.stack = (uint32_t *)(tmp + w.cap);
        w.owner = w.stack + w.cap;
        w.state = (unsigned char *)(w.owner + w.cap);
        w.readable = w.state + w.cap;
        reach_nheld = 0;
        ms_heapmap_each(reach_gather, &w);
        reach_sort(w.blocks, tmp, w.n);
        /* tmp (16 bytes per block) is free again: addresses (8) and samples (1/8) fit in it. */
        w.addrs = (uint64_t *)tmp;
        w.samples = w.addrs + w.cap;
        for (size_t i = 0; i < w.n; i++) {
            w.addrs[i] = w.blocks[i].addr;
            if (i % REACH_SAMPLE == 0) {
                w.samples[w.nsamples++] = w.blocks[i].addr;
            }
        }
        if (w.n) {
            w.lo = w.blocks[0].addr;
        }
        for (size_t i = 0; i < w.n; i++) {
            uint64_t size = reach_size(&w.blocks[i]);
            uint64_t end = w.blocks[i].addr + (size ? size : 1);
            w.hi = end > w.hi ? end : w.hi;
            w.readable[i] = reach_readable(&w, w.blocks[i].addr, size) ? REACH_READ_DIRECT : REACH_READ_NOT;
        }
        for (size_t h = 0; h < reach_nheld; h++) {
            ptrdiff_t j = reach_find(&w, reach_held[h]);
            if (j >= 0 && w.blocks[j].addr == reach_held[h] && w.readable[j]) {
                w.readable[j] = REACH_READ_COPY;
            }
        }
        if (reach_roots_error == 0) {
            reach_mark(&w);
        }
    }
    ms_stop_release();
    ms_heapmap_unlock_all();
    if (rc == 0 && reach_roots_error < 0) {
        ms_platform_unmap(mem, work_len);
        rc = reach_roots_error;
    }
    if (rc < 0) {
        ms_platform_unmap(w.regions, regions_len);
        ms_platform_unmap(sites, sites_len);
        return rc;
    }

    out->sites = sites;
    out->nstacks = nstacks;
    out->threads_unknown = reach_threads_unknown;
    out->map_len = sites_len;
    for (size_t i = 0; i < w.n; i++) {
        uint32_t id = reach_stack_id(&w.blocks[i]);
        uint64_t size = reach_size(&w.blocks[i]);
        if (id >= nstacks) {
            out->skipped++; /* allocated after the snapshot counted its stacks */
            continue;
        }
        struct ms_reach_site *s = &out->sites[id];
        out->blocks++;
        switch (w.state[i]) {
        case REACH_REACHABLE:
            s->reachable_bytes += size;
            s->reachable_count++;
            break;
        case REACH_INDIRECT:
            s->indirect_bytes += size;
            s->indirect_count++;
            break;
        default:
            s->lost_bytes += size;
            s->lost_count++;
            break;
        }
    }
    reach_roots_of_indirect(&w, out); /* without them (no memory), suppressions hide fewer blocks */
    ms_platform_unmap(mem, work_len);
    ms_platform_unmap(w.regions, regions_len);
    out->scan_ns = ms_platform_monotonic_ns() - t0;
    return 0;
}

void ms_reach_release(struct ms_reach *r)
{
    ms_platform_unmap(r->sites, r->map_len);
    ms_platform_unmap(r->roots, r->roots_len);
    memset(r, 0, sizeof *r);
}
