/* libmemsnap.so internals: one header for the preload, grouped by source file.
 * Error convention: platform calls return 0 or -errno; hooks never fail on the profiler's account
 * (when tracking is impossible the allocation still happens, untracked, and is counted as such). */
#ifndef MS_PRELOAD_H
#define MS_PRELOAD_H

#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "memsnap/format.h"

#define MS_HIDDEN __attribute__((visibility("hidden")))
#define MS_EXPORT __attribute__((visibility("default")))
#define MS_LIKELY(x) __builtin_expect(!!(x), 1)
#define MS_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- platform.c: every OS call of the preload goes through here --------------------------------- */

/* Bounds [*lo, *hi) of the calling thread's stack. Slow (may read /proc): call once per thread, under the
 * recursion guard. 0 or -errno. */
MS_HIDDEN int ms_platform_thread_stack(uintptr_t *lo, uintptr_t *hi);

/* Anonymous private memory, zero-filled. `reserve` maps without committing swap (pages cost only once
 * touched): for the append-only tables that must never move. 0 or -errno. */
MS_HIDDEN int ms_platform_map(size_t size, int reserve, void **out);
/* A stack of size bytes with a guard page below it (an overrun faults, it writes over nothing); *top is
 * its end. Never unmapped. 0 or -errno. */
MS_HIDDEN int ms_platform_map_stack(size_t size, void **top);
MS_HIDDEN void ms_platform_unmap(void *p, size_t size);
/* Maps in the pages of [p, p + size) of such memory in one system call, instead of a page fault each
 * (the pages a caller is about to write). Best effort. */
MS_HIDDEN void ms_platform_prefault(void *p, size_t size);

/* Creates path for writing; fails with -EEXIST rather than follow a symlink or clobber a file. fd or -errno. */
MS_HIDDEN int ms_platform_create(const char *path);
/* A file without a name in directory dir (O_TMPFILE), for ms_platform_link_fd to name once complete: a
 * process killed meanwhile leaves nothing. fd or -errno (-EOPNOTSUPP and others where unsupported). */
MS_HIDDEN int ms_platform_create_unnamed(const char *dir);
/* Gives the open file fd the name `to` (never replacing one: -EEXIST). 0 or -errno. */
MS_HIDDEN int ms_platform_link_fd(int fd, const char *to);
MS_HIDDEN int ms_platform_write_all(int fd, const void *buf, size_t len);
MS_HIDDEN int ms_platform_close(int fd);
/* Opens path read-only (a directory when `directory`), close-on-exec. fd or -errno. */
MS_HIDDEN int ms_platform_open_read(const char *path, int directory);
/* Reads up to len bytes, retrying on EINTR. Bytes read (0 at the end) or -errno. */
MS_HIDDEN long ms_platform_read(int fd, void *buf, size_t len);
/* Directory entries (struct linux_dirent64 records) into buf. Bytes (0 at the end) or -errno. */
MS_HIDDEN long ms_platform_dirents(int fd, void *buf, size_t len);
/* The whole of a small file (/proc) into buf, NUL-terminated, with plain system calls: length or -errno. */
MS_HIDDEN long ms_platform_read_small(const char *path, char *buf, size_t size);
/* Copies n bytes of this process's memory at src without faulting (process_vm_readv): the bytes copied,
 * fewer where src + that count is not mapped (any more), or -errno (-ENOSYS, -EPERM under a seccomp
 * filter that refuses it). */
MS_HIDDEN long ms_platform_copy_self(void *dst, uintptr_t src, size_t n);
/* A futex on a word of this process: wait while *word == expected, up to timeout_ns (-1: no limit); 0
 * (woken, or the word had changed), -ETIMEDOUT or -EINTR. wake: every waiter. Async-signal-safe, errno
 * kept. */
MS_HIDDEN int ms_platform_futex_wait(uint32_t *word, uint32_t expected, int64_t timeout_ns);
MS_HIDDEN void ms_platform_futex_wake(uint32_t *word);
/* Makes handler signo's handler (SA_SIGINFO, every signal blocked while it runs) unless the program has a
 * disposition of its own for it: 1 handler is installed, 0 the program's (a handler or SIG_IGN) is kept,
 * -errno. */
MS_HIDDEN int ms_platform_signal_claim(int signo, void (*handler)(int, siginfo_t *, void *));
/* tgkill to a thread of this process (signo 0: is it still there?). 0 or -errno (-ESRCH: gone). */
MS_HIDDEN int ms_platform_signal_thread(pid_t tid, int signo);
MS_HIDDEN int ms_platform_sigrtmax(void);
/* Moves from over to; with noreplace, -EEXIST when `to` exists. 0 or -errno. */
MS_HIDDEN int ms_platform_rename(const char *from, const char *to, int noreplace);
MS_HIDDEN void ms_platform_unlink(const char *path);

MS_HIDDEN pid_t ms_platform_pid(void);
MS_HIDDEN pid_t ms_platform_ppid(void);
MS_HIDDEN pid_t ms_platform_tid(void);
MS_HIDDEN uint64_t ms_platform_realtime_ns(void);
MS_HIDDEN uint64_t ms_platform_monotonic_ns(void);
/* NUL-terminated into buf; length or -errno. */
MS_HIDDEN int ms_platform_exe_path(char *buf, size_t size);
/* Resident set size in bytes (/proc/self/statm), or -errno. */
MS_HIDDEN int ms_platform_rss(uint64_t *bytes);
MS_HIDDEN int ms_platform_cwd(char *buf, size_t size);
MS_HIDDEN void ms_platform_yield(void);

/* The helper thread's wake-up, without a file descriptor (the program may close or reuse any fd).
 * reset: nothing pending (at init, and in a fork child). post: async-signal-safe, errno kept. wait: up to
 * timeout_ms (-1: forever); 1 woken (every pending post consumed), 0 timeout, -errno. */
MS_HIDDEN void ms_platform_wake_reset(void);
MS_HIDDEN void ms_platform_wake_post(void);
MS_HIDDEN int ms_platform_wake_wait(int64_t timeout_ms);
MS_HIDDEN int ms_platform_on_signal(int signo, void (*handler)(int));
/* A detached thread with every signal blocked, so it never takes the program's signals. 0 or -errno. */
MS_HIDDEN int ms_platform_thread(void *(*fn)(void *), void *arg);
/* Cancellation off while the profiler holds a lock (a cancelled thread would keep it); returns the state
 * to restore. */
MS_HIDDEN int ms_platform_cancel_off(void);
MS_HIDDEN void ms_platform_cancel_restore(int previous);
/* Around writing a file: SIGXFSZ (ulimit -f) and SIGPIPE blocked, so that writes fail with EFBIG/EPIPE
 * instead of killing the program; restore consumes the ones the writes raised. */
struct ms_platform_sigs {
    sigset_t old;
    int had_xfsz, had_pipe;
};
/* Also every signal while on an alternate signal stack: the writer leaves it for its own stack, and a
 * signal delivered meanwhile would be put at its top, over the running handler's frames. */
MS_HIDDEN void ms_platform_write_signals_block(struct ms_platform_sigs *s);
MS_HIDDEN void ms_platform_write_signals_restore(const struct ms_platform_sigs *s);
/* len unpredictable bytes (getrandom; a clock-based mix when it has none). 0. */
MS_HIDDEN int ms_platform_random(void *buf, size_t len);
MS_HIDDEN void ms_platform_stderr(const char *msg, size_t len);
MS_HIDDEN _Noreturn void ms_platform_exit_group(int status);
/* The message on stderr, then abort(): no stdio, no allocation. */
MS_HIDDEN _Noreturn void ms_platform_abort(const char *msg);

/* ---- text.c: formatting without stdio or allocation ----------------------------------------------- */

/* Decimal digits of v into buf (at least 21 bytes), NUL-terminated; returns the length. */
MS_HIDDEN size_t ms_text_u64(char *buf, uint64_t v);
/* Expands %p (pid), %n (sequence), %e (program name), %% into out. Length or -ENAMETOOLONG. */
MS_HIDDEN int ms_text_expand(const char *pattern, uint64_t pid, uint64_t seq, const char *exe, char *out,
                             size_t size);
/* "memsnap: " + the NULL-terminated list of parts + newline on stderr. */
MS_HIDDEN void ms_text_warn(const char *first, ...) __attribute__((sentinel));
/* Strict unsigned decimal with optional k/m/g suffix (x1024^n). 0 or -EINVAL. */
MS_HIDDEN int ms_text_parse_u64(const char *s, uint64_t *out);

/* ---- config.c: the environment, read once at start --------------------------------------------- */

#define MS_CONFIG_PATH_MAX 4096
#define MS_CONFIG_DEPTH_MAX 256

struct ms_config {
    char output[MS_CONFIG_PATH_MAX]; /* MEMSNAP_OUTPUT, made absolute against the start directory */
    uint32_t depth;                  /* MEMSNAP_DEPTH, 1..MS_CONFIG_DEPTH_MAX */
    uint32_t unwind;                 /* enum ms_unwind_mode (MEMSNAP_UNWIND) */
    uint64_t sample;                 /* MEMSNAP_SAMPLE mean bytes between samples; 0 = all */
    uint64_t interval_ms;            /* MEMSNAP_INTERVAL; 0 = off */
    uint64_t keep;                   /* MEMSNAP_KEEP: interval snapshots kept; 0 = all */
    uint64_t keep_age_s;             /* MEMSNAP_KEEP_AGE: seconds an interval snapshot is kept; 0 = always */
    int signo;                       /* MEMSNAP_SIGNAL; 0 = off */
    int stop_signo;                  /* MEMSNAP_STOP_SIGNAL; 0 = running threads are not stopped */
    uint32_t peak_pct;               /* MEMSNAP_PEAK: snapshot a process peak this % above the last; 0 = off */
    int follow;                      /* MEMSNAP_FOLLOW: children inherit the preload */
    int at_exit;                     /* MEMSNAP_AT_EXIT: leak snapshot when the process exits */
    int leak_exitcode;               /* MEMSNAP_LEAK_EXITCODE: exit status on lost memory at exit; 0 = off */
    int enabled;                     /* MEMSNAP_DISABLE unset: record allocations */
    int secure;                      /* setuid/setgid (AT_SECURE): settings ignored, nothing written */
};

MS_HIDDEN extern struct ms_config ms_config;

/* Reads MEMSNAP_* (warning on stderr about bad values, which fall back to defaults) and, with
 * MEMSNAP_FOLLOW=0, removes the preload from LD_PRELOAD for children. Call once, under the guard. */
MS_HIDDEN void ms_config_load(void);

/* ---- real.c: the allocator underneath ---------------------------------------------------------- */

struct ms_real {
    void *(*malloc)(size_t);
    void (*free)(void *);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void *(*reallocarray)(void *, size_t, size_t);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*memalign)(size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
    size_t (*malloc_usable_size)(void *);
};

MS_HIDDEN extern struct ms_real ms_real;

/* Resolves the next definitions with dlsym(RTLD_NEXT). Allocations made meanwhile (dlsym's own calloc)
 * come from a static pool. Idempotent; aborts when malloc/free cannot be found. */
MS_HIDDEN void ms_real_init(void);
/* 1 while ms_real_init runs on some thread: allocations must come from the pool. */
MS_HIDDEN int ms_real_bootstrapping(void);
/* Zeroed, 16-byte aligned bootstrap memory; NULL when the pool is exhausted. */
MS_HIDDEN void *ms_real_pool_alloc(size_t size, size_t align);
/* 1 when p came from the pool: never hand it to the real allocator. */
MS_HIDDEN int ms_real_from_pool(const void *p);
MS_HIDDEN size_t ms_real_pool_size(const void *p);
/* Whether the program's malloc is this library's: when another allocator comes first in LD_PRELOAD,
 * nothing is recorded; says so once on stderr. Call once at init, under the guard. */
MS_HIDDEN void ms_real_check_first(void);
/* That warning (for the snapshot's labels), or NULL when the program's malloc is ours. */
MS_HIDDEN const char *ms_real_shadowed(uint32_t *len);

/* ---- stacks.c: call stacks deduplicated into dense ids ----------------------------------------- */

#define MS_STACKS_MAX (1u << 22) /* ids must fit the heap map's 24-bit field */
#define MS_STACK_OVERFLOW 0u     /* id 0: the empty stack, and every stack once the table is full */
#define MS_STACK_UNKNOWN UINT32_MAX /* no id yet (unwind.c's memo) */

MS_HIDDEN int ms_stacks_init(void);
/* The id of this stack (flags: MS_FMT_STACK_*), adding it when new. Lock-free when the stack is known. */
MS_HIDDEN uint32_t ms_stacks_intern(void *const *ips, unsigned depth, unsigned flags);
/* Ids 0..count-1 are complete and readable. */
MS_HIDDEN uint32_t ms_stacks_count(void);
MS_HIDDEN void *const *ms_stacks_get(uint32_t id, unsigned *depth, unsigned *flags);
/* 1 when some stack was cut by the depth limit. */
MS_HIDDEN int ms_stacks_any_truncated(void);
MS_HIDDEN uint64_t ms_stacks_overhead(void);
/* Around fork(): no insert may be half done when the child starts. */
MS_HIDDEN void ms_stacks_lock(void);
MS_HIDDEN void ms_stacks_unlock(void);

/* ---- heapmap.c: live blocks, address -> {size, stack id} -------------------------------------- */

#define MS_HEAPMAP_SIZE_MAX ((UINT64_C(1) << 40) - 1) /* larger sizes are recorded as this */

struct ms_thread;

/* A thread's newest block, held out of the table until its next allocation (part of struct ms_thread_slot;
 * heapmap.c says how other threads take it). */
struct ms_heapmap_hold {
    uint64_t key; /* 0, a block's address, or address | 1 while it moves into the table */
    uint64_t val; /* as in the table; written by the owner only while key is 0 */
} __attribute__((aligned(64)));

MS_HIDDEN int ms_heapmap_init(void);
/* Both under the recursion guard of thread t (the caller). 0; 1 when p was already recorded (its free
 * went unseen: *old_size, *old_stack say what it was); -ENOMEM when the table cannot grow (the block then
 * stays untracked). */
MS_HIDDEN int ms_heapmap_insert(struct ms_thread *t, const void *p, size_t size, uint32_t stack,
                                size_t *old_size, uint32_t *old_stack);
/* 1 and the block's record when p was live (it is then forgotten), 2 when it was also the calling
 * thread's newest block (a temporary allocation), 0 when unknown. filtered: the caller found p's byte in
 * the filter of sampled addresses raised already (else, when sampling, it is asked here). */
MS_HIDDEN int ms_heapmap_remove(struct ms_thread *t, const void *p, int filtered, size_t *size, uint32_t *stack);
/* MEMSNAP_SAMPLE: p's count in the filter of sampled addresses, raised before p is inserted and lowered
 * after it was removed (from then on, frees of addresses never raised skip the table). */
MS_HIDDEN void ms_heapmap_sampled_add(const void *p);
MS_HIDDEN void ms_heapmap_sampled_drop(const void *p);
#define MS_HEAPMAP_FILTER_BITS 16
MS_HIDDEN extern uint8_t ms_heapmap_filter[1u << MS_HEAPMAP_FILTER_BITS];
static inline uint8_t *ms_heapmap_filter_of(const void *p)
{
    /* The address bits above the allocator's 16-byte alignment, unhashed: blocks near each other get
     * bytes of their own, and a large block's page-aligned neighbours that share one cost a probe. */
    return &ms_heapmap_filter[(uint16_t)((uintptr_t)p >> 4)];
}
/* 1 when p may be a sampled block (or a bootstrap pool block: ms_real_pool_alloc raises their counts),
 * 0 when it certainly is not. Meaningful under MEMSNAP_SAMPLE only. */
static inline int ms_heapmap_maybe_sampled(const void *p)
{
    return __atomic_load_n(ms_heapmap_filter_of(p), __ATOMIC_RELAXED) != 0;
}
/* The held block of a thread that exits (exited: the fork child's lost threads, which may have been
 * moving it) into the table. 0, or -ENOMEM: it stays held, and the slot must never be reused. */
MS_HIDDEN int ms_heapmap_hold_release(struct ms_heapmap_hold *h, int exited);
MS_HIDDEN uint64_t ms_heapmap_count(void);
MS_HIDDEN uint64_t ms_heapmap_overhead(void);
MS_HIDDEN void ms_heapmap_lock_all(void);
MS_HIDDEN void ms_heapmap_unlock_all(void);
/* Every live block, in no particular order. The caller holds ms_heapmap_lock_all(); fn must not allocate
 * through the hooks (run it under the recursion guard). */
/* held: the block sits in its thread's slot, and that thread may free it without any lock meanwhile. */
MS_HIDDEN void ms_heapmap_each(void (*fn)(void *ctx, uintptr_t addr, uint64_t size, uint32_t stack, int held),
                               void *ctx);

/* ---- sites.c: counters per stack id ------------------------------------------------------------ */

struct ms_site_counts {
    uint64_t alloc_bytes, alloc_count, free_bytes, free_count;
    /* Frees of blocks that were not their thread's newest: free_count less these is heaptrack's temporary
     * allocations (freed before the thread allocated again). Counted apart, the temporaries, the common
     * case, cost nothing on the free path. */
    uint64_t kept_frees;
};

#define MS_SITES_CACHE_SLOTS 256 /* per thread; a power of two */

/* A thread's not-yet-folded deltas, direct-mapped by stack id (part of struct ms_thread_slot). */
struct ms_sites_cache {
    unsigned seq;    /* odd while a slot changes owner: readers retry */
    int64_t current; /* live bytes not yet added to the process total */
    uint64_t calls[MS_FMT_CALL_COUNT];
    struct ms_sites_cache_slot {
        uint64_t id; /* stack id + 1; 0 = empty */
        struct ms_site_counts d;
    } slot[MS_SITES_CACHE_SLOTS];
};

MS_HIDDEN int ms_sites_init(void);
/* Hot path, under the recursion guard: a block of `stack` comes or goes, from one call of `kind`
 * (MS_FMT_CALL_*, counted with it; for a free -1 counts no call). No locked instruction while the
 * thread's cache holds the id and no new peak is reached. Live bytes and the peak follow. errno is kept. */
MS_HIDDEN void ms_sites_alloc(struct ms_thread *t, int kind, uint32_t stack, uint64_t bytes, uint64_t count);
MS_HIDDEN void ms_sites_free(struct ms_thread *t, int kind, uint32_t stack, uint64_t bytes, uint64_t count);
/* The same for one block that was not its thread's newest (see ms_site_counts.kept_frees). */
MS_HIDDEN void ms_sites_free_kept(struct ms_thread *t, int kind, uint32_t stack, uint64_t bytes);
/* One call of an allocation function (MS_FMT_CALL_*) that recorded no block, counted per thread. */
MS_HIDDEN void ms_sites_call(struct ms_thread *t, int kind);
MS_HIDDEN void ms_sites_calls(uint64_t out[12]);
/* Process live bytes (every thread's batch included) and peak: alloc/free above keep them. */
MS_HIDDEN void ms_sites_current(uint64_t *current, uint64_t *peak);
/* Peak := current, like tracemalloc.reset_peak(). */
MS_HIDDEN void ms_sites_reset_peak(void);
/* A thread takes a cache (zeroed but for calls), or gives it back: exiting, its deltas are folded into
 * the rows; lost (the fork child's other threads), they stay for the cache's next owner to fold. */
MS_HIDDEN void ms_sites_cache_start(struct ms_sites_cache *c);
MS_HIDDEN void ms_sites_cache_release(struct ms_sites_cache *c, int exiting);
/* MEMSNAP_PEAK: the first new peak at or above `bytes` (UINT64_MAX: never) marks a peak snapshot as asked
 * for and wakes the helper thread (ms_platform_wake_post), once; ms_sites_peak_take() says whether one was
 * asked for since the last call. */
MS_HIDDEN void ms_sites_peak_arm(uint64_t bytes);
MS_HIDDEN int ms_sites_peak_take(void);
/* Counters of ids 0..n-1 into out[0..n), every thread's cache included. Exact when no other thread
 * allocates meanwhile. Serialized by ms_snapshot_lock. */
MS_HIDDEN void ms_sites_collect(uint32_t n, struct ms_site_counts *out);
MS_HIDDEN uint64_t ms_sites_overhead(void);
/* Around fork(): the registry of thread caches. */
MS_HIDDEN void ms_sites_lock(void);
MS_HIDDEN void ms_sites_unlock(void);

/* ---- tracker.c: what every hook does ------------------------------------------------------------ */

/* The process-wide counters of TOTALS and memsnap_stats, summed from the tables. */
struct ms_tracker_totals {
    uint64_t current_bytes, peak_bytes, live_count, alloc_bytes, alloc_count, free_bytes, free_count;
    uint64_t calls[12]; /* MS_FMT_CALL_* */
    uint64_t unknown_frees, failed_allocs, untracked, overhead_bytes;
};

/* Entry points for interpose.c and fastpath.S, one per allocation function: they keep the real function's
 * semantics. ms_tracker_free_filtered: free(p) when p's byte in the filter of sampled addresses is known
 * to be raised (the fast path looked). */
MS_HIDDEN void *ms_tracker_malloc(size_t size);
MS_HIDDEN void ms_tracker_free(void *p);
MS_HIDDEN void ms_tracker_free_filtered(void *p);
MS_HIDDEN void ms_tracker_cfree(void *p);
MS_HIDDEN void *ms_tracker_calloc(size_t n, size_t size);
MS_HIDDEN void *ms_tracker_realloc(void *p, size_t size);
MS_HIDDEN void *ms_tracker_reallocarray(void *p, size_t n, size_t size);
MS_HIDDEN int ms_tracker_posix_memalign(void **out, size_t align, size_t size);
MS_HIDDEN void *ms_tracker_aligned(int kind, size_t align, size_t size);
MS_HIDDEN size_t ms_tracker_usable_size(void *p);

/* 1 once init finished and recording is on. */
MS_HIDDEN int ms_tracker_active(void);
/* Sums sites[0..n) (from ms_sites_collect) with the process-wide counters. */
MS_HIDDEN void ms_tracker_totals(struct ms_tracker_totals *out, const struct ms_site_counts *sites, uint32_t n);
MS_HIDDEN void ms_tracker_reset_peak(void);
/* Recursion guard of the calling thread (struct ms_thread): while entered, allocations pass straight
 * through. Returns the previous state for ms_tracker_leave. */
MS_HIDDEN int ms_tracker_enter(void);
MS_HIDDEN void ms_tracker_leave(int previous);
/* Monotonic time at init, for INFO.uptime_ns. */
MS_HIDDEN uint64_t ms_tracker_start_ns(void);
/* The pid the tracker belongs to (updated in fork children). */
MS_HIDDEN pid_t ms_tracker_pid(void);
MS_HIDDEN void ms_tracker_after_fork_child(void);
/* Have the next allocation call (outside the guard) run ms_trigger_run_deferred first. For a fork child:
 * the sampled fast path of the calling thread only is turned off until then. */
MS_HIDDEN void ms_tracker_defer_work(void);
/* A malloc of the sampled fast path (fastpath.S) whose real allocation failed (the call itself is
 * counted there): counted as failed; returns NULL, malloc's result. */
MS_HIDDEN void *ms_tracker_fast_failed(void);

/* ---- modules.c: the loaded objects, for offsets that survive the process ------------------------ */

/* One loaded object as the process sees it (the analyzer reads it back as its own struct ms_module). */
struct ms_modules_entry {
    uintptr_t base, lo, hi; /* load bias; [lo, hi) spans the PT_LOAD segments */
    char *path;
    uint32_t path_len;
    uint32_t build_id_len;
    unsigned char build_id[64];
};

struct ms_modules {
    struct ms_modules_entry *items; /* items[0] is the main executable; sorted copy for lookups in `order` */
    uint32_t count;
    uint32_t *order;
};

/* Snapshot of the loaded objects (memory from the real allocator: call under the guard). 0 or -errno. */
MS_HIDDEN int ms_modules_collect(struct ms_modules *out);
/* Module index holding addr, or MS_FMT_MODULE_NONE. */
MS_HIDDEN uint32_t ms_modules_find(const struct ms_modules *m, uintptr_t addr);
MS_HIDDEN void ms_modules_release(struct ms_modules *m);
/* dlclose (interpose.c), then the unwinder's rules for the code that went are forgotten. */
MS_HIDDEN int ms_modules_dlclose(void *handle);

/* ---- snapshot.c: the .snap writer ------------------------------------------------------------------ */

/* Writes a snapshot (path NULL: the next MEMSNAP_OUTPUT name) with trigger MS_FMT_TRIGGER_*. Serialized;
 * call under the guard, never from a signal handler. 0 or -errno. */
MS_HIDDEN int ms_snapshot_write(const char *path, const char *label, uint32_t trigger);
MS_HIDDEN void ms_snapshot_lock(void);
MS_HIDDEN void ms_snapshot_unlock(void);
MS_HIDDEN void ms_snapshot_after_fork_child(void);
/* The MEMSNAP_OUTPUT name of the snapshot numbered seq (%n). Length or -errno. */
MS_HIDDEN int ms_snapshot_name(char *out, size_t size, uint32_t seq);

/* ---- rotate.c: MEMSNAP_KEEP / MEMSNAP_KEEP_AGE, under the snapshot lock --------------------------- */

/* Interval snapshot seq was written at now_ns (monotonic): deletes the ones beyond the bounds. */
MS_HIDDEN void ms_rotate_written(uint32_t seq, uint64_t now_ns);
MS_HIDDEN void ms_rotate_after_fork_child(void);

/* ---- ownstack.S: calls on a stack of the profiler's own ------------------------------------------- */

/* fn(arg, caller_sp) on the stack ending at top; caller_sp: the caller's stack pointer, its callee-saved
 * registers stored at it. */
MS_HIDDEN void ms_ownstack_call(void (*fn)(void *arg, uintptr_t caller_sp), void *arg, void *top);

/* ---- reach.c: which live blocks are still reachable (a LeakSanitizer-style scan at exit) ----------- */

/* Per stack id; a live block is in exactly one kind (blocks the scan could not place are in none). */
struct ms_reach_site {
    uint64_t lost_bytes, lost_count;         /* no pointer reaches it from a root or another block */
    uint64_t indirect_bytes, indirect_count; /* reached only from lost blocks */
    uint64_t reachable_bytes, reachable_count;
};

/* Which definitely lost structure indirectly lost blocks hang from: per (block's stack, stack of the lost
 * block that leads the structure the scan reached it from first). */
struct ms_reach_root {
    uint32_t stack, root;
    uint64_t bytes, count;
};

struct ms_reach {
    struct ms_reach_site *sites; /* [nstacks], mapped */
    struct ms_reach_root *roots; /* [nroots], sorted by (stack, root), mapped; NULL when no block is indirect */
    uint32_t nroots;
    size_t roots_len;
    uint32_t nstacks;
    uint64_t blocks;  /* live blocks scanned */
    uint64_t skipped; /* live blocks of stack ids newer than nstacks: in no kind */
    uint32_t threads_unknown; /* other threads running at the scan: their stacks were not roots */
    uint64_t scan_ns;
    size_t map_len;
};

/* Reads MEMSNAP_LEAK_SCAN (1, the default: at exit; 0 off; all: every snapshot). Once at init, under
 * the guard. */
MS_HIDDEN void ms_reach_init(void);
/* 1 when a snapshot made by trigger (MS_FMT_TRIGGER_*) carries a scan (never when sampling). */
MS_HIDDEN int ms_reach_enabled(uint32_t trigger);

/* ---- stop.c: the program's running threads stopped for the leak scan ---------------------------------- */

#define MS_STOP_REGS 16
enum { MS_STOP_STOPPED, MS_STOP_BLOCKED, MS_STOP_UNKNOWN };
struct ms_stop_thread {
    int how;  /* MS_STOP_*: stopped by the signal, blocked in a system call, or neither (not a root) */
    pid_t tid;
    uintptr_t sp; /* STOPPED: where the signal interrupted it; BLOCKED: where it is blocked */
    uintptr_t tp; /* STOPPED: its thread pointer */
    uintptr_t regs[MS_STOP_REGS]; /* STOPPED: its general registers */
};
/* Stops every other thread of the process that is running (MEMSNAP_STOP_SIGNAL), but skip (the profiler's
 * own), and lists every other live thread with how its stack can be read; *over: threads past the list's
 * capacity. Waits for the stopped at most 2 s. Call with the heap map locked (a stopped thread never holds
 * a stripe) and without allocating until ms_stop_release, which must follow, always. */
MS_HIDDEN uint32_t ms_stop_world(pid_t skip, const struct ms_stop_thread **list, uint32_t *over);
MS_HIDDEN void ms_stop_release(void);

/* ---- leakexit.c: MEMSNAP_LEAK_EXITCODE --------------------------------------------------------------- */

/* The exit scan's totals (called by the snapshot writer after each successful scan). */
MS_HIDDEN void ms_leakexit_note(const struct ms_reach *r);
/* After the exit snapshot: with MEMSNAP_LEAK_EXITCODE set and memory lost, one line on stderr and exit with
 * that status (flush_stdio: from the destructor, where exit() has not flushed stdio yet). */
MS_HIDDEN void ms_leakexit_finish(int flush_stdio);
/* Marks the live blocks reachable from the roots (writable segments of loaded modules, the calling
 * thread's registers, stack and TLS (static and dynamic), the main thread's TLS when another thread
 * exits, other threads' stacks where they are blocked, running threads' registers, stacks and TLS while
 * ms_stop_world holds them), transitively. Memory
 * comes from ms_platform_map, never from an allocator. Call under the guard and the snapshot lock, not
 * from a signal handler. caller_sp: when the scan runs on the profiler's own stack, the stack pointer
 * of the thread's own frames (their callee-saved registers pushed at it); 0 otherwise. 0 or -errno. */
MS_HIDDEN int ms_reach_scan(uint32_t nstacks, uintptr_t caller_sp, struct ms_reach *out);
MS_HIDDEN void ms_reach_release(struct ms_reach *r);
/* Where the program entered the profiler on its way out: its stack pointer and callee-saved registers
 * (rbx, rbp, r12-r15). With it the scan's stack root starts at the program's frames, not at the
 * profiler's (whose buffers hold stale words of frames long gone). For this thread only. */
MS_HIDDEN void ms_reach_entry(uintptr_t sp, const uintptr_t regs[6]);
/* The coming exit snapshot runs inside exit() (static destructors): the exiting thread's stack root starts
 * at exit()'s frame, as LeakSanitizer's does; what atexit handlers and destructors left below it is dead. */
MS_HIDDEN void ms_reach_in_exit(void);
/* The profiler's helper thread: its creator says it is coming (1) or did not come (0); the thread itself
 * then says who it is. Its stack is not a root, nor is it stopped or counted as a thread the scan missed. */
MS_HIDDEN void ms_reach_helper_starting(int starting);
/* The creator: waits (up to 1 s) until the helper has said who it is, so that no scan mistakes it for one
 * of the program's threads. */
MS_HIDDEN void ms_reach_helper_wait(void);
MS_HIDDEN void ms_reach_not_a_root(void);
/* Records the calling function's entry for the scan; must be the first statement of that function. */
static inline __attribute__((always_inline)) void ms_reach_capture_entry(void)
{
    uintptr_t regs[6];
    __asm__ volatile("mov %%rbx, 0(%0)\n\tmov %%rbp, 8(%0)\n\tmov %%r12, 16(%0)\n\t"
                     "mov %%r13, 24(%0)\n\tmov %%r14, 32(%0)\n\tmov %%r15, 40(%0)"
                     :
                     : "r"(regs)
                     : "memory");
    /* Above the saved frame pointer and the return address: the caller's stack pointer. */
    ms_reach_entry((uintptr_t)__builtin_frame_address(0) + 16, regs);
}

/* ---- trigger.c: when snapshots happen besides the API ----------------------------------------------- */

/* Signal handler, interval thread, fork handlers, exit snapshot. Call once at init, under the guard. */
MS_HIDDEN void ms_trigger_init(void);
/* The at-exit snapshot, at most once per process. */
MS_HIDDEN void ms_trigger_exit(void);
/* _exit and _Exit (interpose.c): the exit snapshot, MEMSNAP_LEAK_EXITCODE on a zero status, then exit. */
MS_HIDDEN _Noreturn void ms_trigger_exit_now(int status);
/* Work put off to an ordinary moment (see ms_tracker_defer_work): a fork child's helper thread. */
MS_HIDDEN void ms_trigger_run_deferred(void);
/* After a peak snapshot holding `current` live bytes (or after a failed one, current = the process peak):
 * arms the next mark MEMSNAP_PEAK percent above it. */
MS_HIDDEN void ms_trigger_peak_rearm(uint64_t current);

/* ---- unwind.c: call stacks as return addresses ----------------------------------------------------
 * The entry point, over three walkers: dwarf.c (CFI rules from rulecache.c), fpwalk.c, and libunwind;
 * kept.c knows which stacks the thread saw, with their ids. */

/* The walkers read saved registers from other functions' frames on purpose. */
#define MS_RAW_READ __attribute__((no_sanitize_address))

/* The frames a walk keeps for later checks, and the kept walks per walker. */
#define MS_UNWIND_MEMO_FRAMES 96
#define MS_UNWIND_KEPT_WAYS 16
#define MS_UNWIND_KEPT_DW_WAYS 16
#define MS_UNWIND_KEPT_DW_SEEN 256
#define MS_UNWIND_DW_CHECKS 96

/* A capture's max and skip as one word: a kept walk serves only captures made with the same. */
static inline uint64_t ms_unwind_limits(int max, int skip)
{
    return (uint64_t)(unsigned)max << 32 | (unsigned)skip;
}

enum ms_unwind_mode {
    MS_UNWIND_DWARF = 0, /* CFI-correct: cached per return address, libunwind as fallback (default) */
    MS_UNWIND_FP = 1,    /* frame-pointer walk, every frame checked against the thread's stack bounds */
    MS_UNWIND_LIBUNWIND = 2, /* unw_backtrace on every capture: the reference, for comparisons */
};

/* Once, before the first capture (called under the recursion guard). Calls ms_thread_init. */
MS_HIDDEN void ms_unwind_init(enum ms_unwind_mode mode);

/* Fill ips[0..max) with the return addresses of the calling thread's stack, innermost first, starting
 * `skip` frames above the caller of ms_unwind_capture. Returns the number of frames; sets *flags to
 * MS_FMT_STACK_TRUNCATED when max was hit, MS_FMT_STACK_BROKEN when the walk stopped on a bad frame.
 * max is clamped to 256, skip to 0..4. errno is left as it was. No allocation, lock or system call once
 * the thread has made its first capture (which fetches its stack bounds) and the return addresses were
 * seen before (a new one is looked up in the CFI under the loader's lock: dl_iterate_phdr). */
MS_HIDDEN int ms_unwind_capture(void **ips, int max, int skip, unsigned *flags);

/* The tracker's capture: as ms_unwind_capture, from `frame` (__builtin_frame_address(0) of a function
 * with a frame pointer, whose return address is frame 0 before skipping). When the stack is the one
 * this thread's last walk found and the id of that walk is known (ms_unwind_remember), *stack is that id
 * and ips[] is left unwritten; otherwise *stack is MS_STACK_UNKNOWN and ips[] holds the frames. */
MS_HIDDEN int ms_unwind_capture_from(struct ms_thread *t, const void *frame, void **ips, int max, int skip,
                                     unsigned *flags, uint32_t *stack);

/* The id of the frames the calling thread's last ms_unwind_capture_from returned (after interning
 * them): later captures of the same walk give it back without a lookup. */
MS_HIDDEN void ms_unwind_remember(struct ms_thread *t, uint32_t stack);

/* Modules were unloaded (dlclose): forget every cached rule, and libunwind's cache, so that code mapped
 * later at the same addresses is read afresh. Not for signal handlers. */
MS_HIDDEN void ms_unwind_invalidate(void);

/* How many of the calling thread's captures needed libunwind for some frame (MS_UNWIND_DWARF). */
MS_HIDDEN unsigned long ms_unwind_fallbacks(void);

/* ---- rulecache.c: the CFI rule of each return address, cached ------------------------------------- */

/* A rule word: cfa offset:32 | rbp offset:16 | kind:2 (enum ms_cfi_kind) | check:14. */
#define MS_RULE_CFA(w) ((uint32_t)(w))
#define MS_RULE_RBP(w) ((uint32_t)((w) >> 32 & 0xffff))
#define MS_RULE_KIND(w) ((unsigned)((w) >> 48 & 3))
/* Kind MS_CFI_OTHER with this CFA offset, which no rule has: the address is no code. */
#define MS_RULE_NOT_CODE_CFA 1u

/* The rule word of return address ip (its CFI at ip - 1), looked up (ms_cfi_lookup) on a miss. Lock-free;
 * errno is kept. */
MS_HIDDEN uint64_t ms_rulecache_get(uintptr_t ip);
/* Changes whenever cached rules are dropped: a walk remembered under another generation is stale. */
MS_HIDDEN unsigned ms_rulecache_generation(void);
/* Drops every rule (modules were unloaded). */
MS_HIDDEN void ms_rulecache_clear(void);

/* ---- dwarf.c: the CFI walk, with the memo of the thread's last walk -------------------------------- */

/* What a kept dwarf walk must find again (kept.c): (address, value) pairs, `narrow` of them as they are,
 * then `wide` entries {address, 0, value, value at address + 8}; with entry_bp, the entry's rbp too. */
struct ms_dwarf_check {
    uintptr_t bp;
    int entry_bp, narrow, wide;
    uintptr_t pairs[2 * MS_UNWIND_DW_CHECKS] __attribute__((aligned(16)));
};

/* The thread's last walk (part of struct ms_thread_slot); dwarf.c says how it is used. */
struct ms_dwarf_memo {
    /* The last walk's frames, and the record of the next walk (columns ip, sp, bp, link). */
    uintptr_t frames[2][4 * MS_UNWIND_MEMO_FRAMES];
    int last, count; /* frames[last] holds the last walk, count frames */
    int complete; /* the last walk ended at a frame whose CFI says outermost, and all its frames are here */
    unsigned generation;
    /* Odd while a walk changes the memo: a signal handler's capture must not use the memo of the walk
     * it interrupted. */
    unsigned seq;
    uint64_t complete_gen; /* generation when complete, else a value no generation has: one test for both */
    int narrow, wide, entry_bp; /* the words ms_dwarf_memo_kept listed (struct ms_dwarf_check) */
    /* pending: the last capture was the walk held here, made with pending_limits, waiting for
     * ms_unwind_remember to keep it (kept.c) with the id the tracker interns for it. */
    int pending;
    uint64_t pending_limits;
};

/* A thread takes a memo: empty. */
MS_HIDDEN void ms_dwarf_memo_start(struct ms_dwarf_memo *m);
/* The walk from the caller's frame (ip its return address, sp and bp its registers) into out[0, end),
 * the first `skip` frames dropped; recorded in the thread's memo. Returns the end of the frames. */
MS_HIDDEN void **ms_dwarf_walk(struct ms_thread *t, uintptr_t ip, uintptr_t sp, uintptr_t bp, void **out,
                               void **end, int skip, unsigned *flags);
/* The entry (ip, sp) of the memo's walk when it is complete under generation gen: 0, else -1. */
MS_HIDDEN int ms_dwarf_memo_entry(const struct ms_dwarf_memo *m, unsigned gen, uintptr_t *ip, uintptr_t *sp);
/* That walk (ms_dwarf_memo_entry said 0), pending: its frame count for a kept walk, and the words it must
 * find again listed for ms_dwarf_memo_checks, which must follow before the thread's next walk. 0, or -1
 * when it has too many words to check. */
MS_HIDDEN int ms_dwarf_memo_kept(struct ms_dwarf_memo *m, int *count);
/* Those words, arranged for ms_dwarf_checks_hold, into c. */
MS_HIDDEN void ms_dwarf_memo_checks(const struct ms_dwarf_memo *m, struct ms_dwarf_check *c);

/* Whether every word of c still holds (and, with entry_bp, bp is the entry's). Independent loads; no early
 * exit, a stack that passed the first frame's test rarely differs further out. */
MS_RAW_READ static inline int ms_dwarf_checks_hold(const uintptr_t *c, int narrow, int wide, uintptr_t diff)
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

/* ---- fpwalk.c: the frame-pointer walk ------------------------------------------------------------- */

/* What a kept fp walk must find again (kept.c): it visited `visited` frames, skipped ones included; frame
 * i's address is fps[i], and pairs[2i], pairs[2i + 1] the saved rbp and return address read there (a
 * pair, as on the stack). The same entry and the same words make the same walk. */
struct ms_fp_check {
    int visited;
    uintptr_t fps[MS_UNWIND_MEMO_FRAMES];
    uintptr_t pairs[2 * MS_UNWIND_MEMO_FRAMES] __attribute__((aligned(16)));
};

/* The fp chain from `frame` (the entry point's own frame: frame[1] is frame 0) into out[0, end), the first
 * `skip` frames dropped; recorded in rec unless NULL (rec->visited past MS_UNWIND_MEMO_FRAMES: too deep
 * to keep). Returns the end of the frames. */
MS_HIDDEN void **ms_fpwalk(struct ms_thread *t, const uintptr_t *frame, void **out, void **end, int skip,
                           unsigned *flags, struct ms_fp_check *rec);

/* Whether the words at the recorded frames still hold what the walk read there: independent loads, the
 * (saved rbp, return address) pair of a frame as one 16-byte load. The two innermost frames (the hook's
 * and the interposer's, just pushed) are read a word at a time: a wide load of words still in the store
 * buffer waits for them to reach the cache. */
MS_RAW_READ static inline int ms_fp_check_holds(const struct ms_fp_check *c)
{
    typedef uint64_t v2 __attribute__((vector_size(16)));
    typedef uint64_t v2_unaligned __attribute__((vector_size(16), aligned(8)));
    const uintptr_t *fps = c->fps, *pairs = c->pairs;
    int visited = c->visited;
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

/* ---- kept.c: the stacks the thread saw, with their ids --------------------------------------------- */

/* One kept walk per entry: MS_UNWIND_FP keyed by the entry frame, MS_UNWIND_DWARF by the entry (ip, sp)
 * and the rule cache's generation. A capture from the same entry with the same limits whose check data
 * still holds is that walk again: its id (or, not interned yet, its frames), no walk. */
struct ms_kept_fp {
    uint64_t limits;
    int n;
    unsigned flags;
    uint32_t stack; /* the id the tracker interned for it, or MS_STACK_UNKNOWN */
    struct ms_fp_check check;
};

struct ms_kept_dwarf {
    uintptr_t ip, sp;
    uint64_t gen; /* UINT64_MAX: empty */
    uint64_t limits;
    int count; /* frames from frame 0 */
    uint32_t stack;
    uint32_t fails; /* finds in a row whose words did not hold */
    struct ms_dwarf_check check;
};

struct ms_kept {
    /* Odd while an fp walk writes a way: a signal handler's capture leaves the ways alone. */
    unsigned seq;
    int fp_pending; /* 1 + the way of the last capture, waiting for its id (ms_unwind_remember); 0: none */
    unsigned fp_victim, dw_victim;
    /* The entry frame of each fp way and the entry sp of each dwarf way (0: empty), side by side: a
     * capture scans them, not the ways (2.3 and 1.6 KB apart, a page each). */
    uintptr_t fp_entry[MS_UNWIND_KEPT_WAYS];
    uintptr_t dw_sp[MS_UNWIND_KEPT_DW_WAYS];
    unsigned char dw_hint[64]; /* kept.c: the way an entry went to last, by its sp */
    uintptr_t dw_asked_ip, dw_asked_sp; /* kept.c: the last find's entry, which had no way (sp 0: none) */
    uint32_t dw_clock;                        /* kept.c: walks of dwarf entries without a way */
    uint32_t dw_seen[MS_UNWIND_KEPT_DW_SEEN]; /* kept.c: those entries, by a hash, with the clock */
    struct ms_kept_fp fp[MS_UNWIND_KEPT_WAYS];
    struct ms_kept_dwarf dw[MS_UNWIND_KEPT_DW_WAYS];
};

/* A thread takes the ways: empty. */
MS_HIDDEN void ms_kept_start(struct ms_kept *k);
/* MS_UNWIND_FP: the kept walk from frame, when its words hold: *known its id, or (not interned yet) its
 * frames in out. The number of frames, or -1: walk (ms_kept_fp_walk). */
MS_HIDDEN int ms_kept_fp_find(struct ms_thread *t, const uintptr_t *frame, void **out, int max, int skip,
                              unsigned *flags, uint32_t *known);
/* The fp walk, recorded in the way of its entry frame, or else in the next way in turn. */
MS_HIDDEN int ms_kept_fp_walk(struct ms_thread *t, const uintptr_t *frame, void **out, int max, int skip,
                              unsigned *flags);
/* MS_UNWIND_DWARF: the kept walk from (ip, sp), when its words hold: its frame count and *known its id.
 * Otherwise -1. */
MS_HIDDEN int ms_kept_dwarf_find(struct ms_thread *t, uintptr_t ip, uintptr_t sp, uintptr_t bp, int max, int skip,
                                 unsigned *flags, uint32_t *known);
/* The last capture's walk is kept with the id the tracker interned for it. */
MS_HIDDEN void ms_kept_remember(struct ms_thread *t, enum ms_unwind_mode mode, uint32_t stack);

/* ---- codemap.c: which addresses are code ---------------------------------------------------------- */

/* Whether addr lies in an executable mapping. Lock-free and without a system call when it does as of the
 * last reading of the maps; an address found nowhere rereads them, at most as often as a back-off allows
 * (errno is left as it was). */
MS_HIDDEN int ms_codemap_contains(uintptr_t addr);

/* Mappings changed (a module was loaded or unloaded): the next miss rereads the maps at once. */
MS_HIDDEN void ms_codemap_forget(void);

/* ---- cfi.c: what the call frame information says about one code address ------------------------- */

enum ms_cfi_kind {
    MS_CFI_OTHER = 0,     /* a rule outside the subset below: only libunwind can step here */
    MS_CFI_RSP = 1,       /* CFA = rsp + cfa_offset */
    MS_CFI_RBP = 2,       /* CFA = rbp + cfa_offset */
    MS_CFI_OUTERMOST = 3, /* the return address is undefined: the outermost frame (_start, clone) */
    MS_CFI_NOT_CODE = 4,  /* pc lies in no executable mapping: not a return address */
};

#define MS_CFI_MAX_CFA_OFFSET (1u << 23)
#define MS_CFI_MAX_RBP_OFFSET (1u << 13)

/* For MS_CFI_RSP/RBP the return address is at CFA - 8 and the caller's rsp is the CFA. */
struct ms_cfi_rule {
    uint32_t kind;       /* enum ms_cfi_kind */
    uint32_t cfa_offset; /* multiple of 8, below MS_CFI_MAX_CFA_OFFSET */
    uint32_t rbp_offset; /* caller's rbp saved at CFA - rbp_offset; 0: rbp unchanged */
};

/* The rule in effect at pc (a return address minus 1). Slow: finds the module with dl_iterate_phdr.
 * Code no CFI describes (JIT code, a module's code without an FDE) gets the frame-pointer rule, CFA =
 * rbp + 16 with rbp saved at CFA - 16, as libunwind assumes there. */
MS_HIDDEN struct ms_cfi_rule ms_cfi_lookup(uintptr_t pc);

/* ---- thread.c: the calling thread's state -----------------------------------------------------------
 * Two parts. struct ms_thread is small and in TLS: it exists before anything is claimed (its recursion
 * guard protects the claim itself) and after the thread gave its slot back (destructors that run later
 * still allocate). struct ms_thread_slot holds the large per-thread state: it comes from one pool, each
 * slot mapped when first taken (not TLS: thread stacks of PTHREAD_STACK_MIN must stay usable, and other
 * threads read the slots), is claimed on the thread's first recorded call, given back by one pthread key
 * destructor at thread exit, and made free again in a fork child for every thread that did not survive
 * the fork. A thread that finds the pool empty (or no memory for its slot) records without one (slower
 * paths, same results). */

#define MS_THREAD_SLOTS 256

struct ms_thread_slot {
    struct ms_heapmap_hold hold; /* first: other threads scan it on a free the table misses */
    int taken;                   /* thread.c: free, owned, or kept for a held block the table had no room for */
    struct ms_sites_cache counts;
    struct ms_dwarf_memo memo;
    struct ms_kept kept;
    void *ips[MS_CONFIG_DEPTH_MAX]; /* a hook's capture: here, not in the hook's frame (small stacks) */
};

/* No slot: the pool was empty, or the thread is exiting. */
#define MS_THREAD_NO_SLOT ((struct ms_thread_slot *)1)

struct ms_thread {
    union {
        struct {
            int guard;    /* inside the profiler: allocations pass straight through */
            int hooked;   /* 1: all calls go to the hook (exact mode, no slot yet or any more, work deferred) */
        };
        uint64_t blocked; /* both in one word: 0 lets the sampled fast path (fastpath.S) serve the thread */
    };
    int64_t sample_left;  /* MEMSNAP_SAMPLE: bytes until the next sampled block */
    uint64_t rng;         /* xorshift state of the sampler; 0 until its first use */
    uintptr_t stack_lo, stack_hi; /* the thread's stack; hi 0: not fetched yet, 1: unknown */
    unsigned long unwind_fallbacks; /* captures that libunwind had to finish */
    struct ms_thread_slot *slot;    /* NULL until claimed; MS_THREAD_NO_SLOT: none */
};

/* Initial-exec TLS, reached without a call; use ms_thread_self(). */
MS_HIDDEN extern __thread struct ms_thread ms_thread_tls __attribute__((tls_model("initial-exec")));

static inline struct ms_thread *ms_thread_self(void)
{
    return &ms_thread_tls;
}

/* The pthread key of the slots. Once, before the first claim (ms_unwind_init calls it). Idempotent. */
MS_HIDDEN void ms_thread_init(void);
/* The calling thread's slot, claimed on first use (under the recursion guard: pthread_setspecific may
 * allocate). MS_THREAD_NO_SLOT when there is none. errno is kept. */
MS_HIDDEN struct ms_thread_slot *ms_thread_claim(struct ms_thread *t);
static inline struct ms_thread_slot *ms_thread_slot(struct ms_thread *t)
{
    struct ms_thread_slot *s = t->slot;
    return MS_LIKELY(s != NULL) ? s : ms_thread_claim(t);
}
/* Slots [0, used) were ever claimed: whoever sums over threads reads these (never freed, so never gone). */
MS_HIDDEN int ms_thread_slots_used(void);
MS_HIDDEN struct ms_thread_slot *ms_thread_slot_at(int i);
MS_HIDDEN uint64_t ms_thread_overhead(void);
/* Bounds [*lo, *hi) of the thread's stack, fetched on its first use: 0 when unknown. */
MS_HIDDEN void ms_thread_fetch_stack(struct ms_thread *t);
static inline int ms_thread_stack(struct ms_thread *t, uintptr_t *lo, uintptr_t *hi)
{
    if (MS_UNLIKELY(t->stack_hi == 0)) {
        ms_thread_fetch_stack(t);
    }
    *lo = t->stack_lo;
    *hi = t->stack_hi;
    return t->stack_hi > 1;
}
/* In the child of fork, the table locks released: only the calling thread goes on, the others' slots are
 * free again (their held blocks and counts stay recorded). */
MS_HIDDEN void ms_thread_after_fork_child(void);

#endif /* MS_PRELOAD_H */
