/* Stopping the program's running threads for the leak scan, the way Boehm GC stops the world: each running
 * thread gets MEMSNAP_STOP_SIGNAL (a realtime signal, SIGRTMAX-2 by default); its handler saves the
 * registers and the stack pointer the signal interrupted into the thread's slot, says so on a futex, and
 * waits until the scan releases it. Only running threads are signalled: one asleep in a system call is
 * left alone (a handler would make its sleep, poll or sem_wait return early with EINTR) and is listed with
 * the stack pointer /proc shows for it. A thread that blocks the signal, exits, or does not answer within
 * STOP_TIMEOUT_NS (once it has had the CPU to) is listed as unknown, as is every running thread when the
 * signal is not ours.
 *
 * The handler is installed by the first stop, and only while the signal's disposition is the default: a
 * program with its own handler for it (or ignoring it) keeps it, and its running threads stay unknown. Once
 * installed it stays: a signal that arrives late (a thread that blocked it until after the scan) finds no
 * stop under way and returns at once; so does one another process sends. */
#include "preload.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <ucontext.h>

#define STOP_MAX 1024
#define STOP_TIMEOUT_NS 2000000000u
#define STOP_SLICE_NS 5000000
#define STOP_WATCH_NS 10000000 /* run this long without sleeping: signalled (a host may hold a virtual CPU for ms) */
#define STOP_NAP_NS 200000
#define STOP_INSIDE_NS 500000000u
#define STOP_BUSY_NS 100000000u    /* run this long in a scan without being caught asleep: busy */
#define STOP_BUSY_WALL_NS 500000000u /* ... when its run time cannot be read */
#define STOP_GIVEUP_NS 10000000000u

enum { STOP_UNDECIDED = MS_STOP_UNKNOWN + 1, STOP_ASKED, STOP_GONE };

/* What a handler writes, for the generation in `acked`. The scanner writes tid before the signal. */
struct stop_slot {
    pid_t tid;
    uint32_t acked;
    uintptr_t sp, tp;
    uintptr_t regs[MS_STOP_REGS];
};

/* Static: a handler running late must still find its slot (mapped memory could be gone by then). */
static struct stop_slot stop_slots[STOP_MAX];
static struct ms_stop_thread stop_list[STOP_MAX];
/* How the scan watches a thread. Run times are from schedstat, UINT64_MAX all through when there is none. */
struct stop_watch {
    uint64_t switches;  /* voluntary context switches, last seen */
    uint64_t since;     /* the clock when they were last seen to change */
    uint64_t ran0;      /* its run time when the scan began */
    uint64_t ran_since; /* ... when its switches were last seen to change */
    uint64_t ran_asked; /* ... when it was signalled */
};
static struct stop_watch stop_watches[STOP_MAX];
static uint32_t stop_nslots;   /* slots whose tid is written, this generation */
static uint32_t stop_gen;      /* odd while a stop is under way */
static uint32_t stop_released; /* the last generation released (futex) */
static uint32_t stop_acks;     /* bumped by each handler that saved its registers (futex) */
static uint32_t stop_inside;   /* handlers not yet returned: their threads still block the signal */

static void stop_handler(int signo, siginfo_t *si, void *ctx)
{
    (void)signo;
    uint32_t g = __atomic_load_n(&stop_gen, __ATOMIC_ACQUIRE);
    if (!(g & 1) || si->si_code != SI_TKILL || si->si_pid != ms_platform_pid()) {
        return;
    }
    pid_t tid = ms_platform_tid();
    uint32_t n = __atomic_load_n(&stop_nslots, __ATOMIC_ACQUIRE);
    for (uint32_t i = 0; i < n; i++) {
        struct stop_slot *s = &stop_slots[i];
        if (s->tid != tid || __atomic_load_n(&s->acked, __ATOMIC_RELAXED) == g) {
            continue;
        }
        __atomic_add_fetch(&stop_inside, 1, __ATOMIC_ACQ_REL);
        const ucontext_t *uc = ctx;
        for (int r = 0; r < MS_STOP_REGS; r++) { /* gregs starts with the 16 general registers, rsp last */
            s->regs[r] = (uintptr_t)uc->uc_mcontext.gregs[r];
        }
        s->sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
        s->tp = (uintptr_t)pthread_self();
        __atomic_store_n(&s->acked, g, __ATOMIC_RELEASE);
        __atomic_add_fetch(&stop_acks, 1, __ATOMIC_RELEASE);
        ms_platform_futex_wake(&stop_acks);
        for (;;) {
            uint32_t r = __atomic_load_n(&stop_released, __ATOMIC_ACQUIRE);
            if ((int32_t)(r - g) >= 0) {
                break;
            }
            (void)ms_platform_futex_wait(&stop_released, r, -1);
        }
        __atomic_sub_fetch(&stop_inside, 1, __ATOMIC_RELEASE);
        return;
    }
}

struct stop_seen {
    char state;        /* R, S, D, T, t, Z, X */
    uint64_t blocked;  /* SigBlk */
    uint64_t switches; /* voluntary_ctxt_switches: how often it went to sleep */
};

static uint64_t stop_field(const char *text, const char *name, unsigned base)
{
    const char *p = strstr(text, name);
    uint64_t v = 0;
    for (p = p ? p + strlen(name) : ""; *p == '\t' || *p == ' '; p++) {
    }
    for (;; p++) {
        unsigned d = *p >= '0' && *p <= '9' ? (unsigned)(*p - '0') : *p >= 'a' && *p <= 'f' ? (unsigned)(*p - 'a' + 10) : 99;
        if (d >= base) {
            return v;
        }
        v = v * base + d;
    }
}

/* From /proc/self/task/TID/status: 0, or -errno when the thread is gone. */
static int stop_status(pid_t tid, struct stop_seen *seen)
{
    char path[64] = "/proc/self/task/", text[4096];
    size_t nl = ms_text_u64(path + 16, (uint64_t)tid);
    memcpy(path + 16 + nl, "/status", 8);
    long len = ms_platform_read_small(path, text, sizeof text);
    const char *st = len > 0 ? strstr(text, "\nState:\t") : NULL;
    if (!st) {
        return len < 0 ? (int)len : -ESRCH;
    }
    seen->state = st[8];
    seen->blocked = stop_field(text, "\nSigBlk:", 16);
    seen->switches = stop_field(text, "\nvoluntary_ctxt_switches:", 10);
    return 0;
}

/* The CPU time the thread has run, in ns, from /proc/self/task/TID/schedstat; UINT64_MAX when there is none
 * (a kernel without scheduler statistics). */
static uint64_t stop_runtime(pid_t tid)
{
    char path[64] = "/proc/self/task/", text[128];
    size_t nl = ms_text_u64(path + 16, (uint64_t)tid);
    memcpy(path + 16 + nl, "/schedstat", 11);
    if (ms_platform_read_small(path, text, sizeof text) <= 0 || text[0] < '0' || text[0] > '9') {
        return UINT64_MAX;
    }
    return stop_field(text, "", 10);
}

static int stop_gone(pid_t tid, struct stop_seen *seen)
{
    /* a zombie (a main thread that called pthread_exit) has no stack left */
    return stop_status(tid, seen) < 0 || seen->state == 'Z' || seen->state == 'X';
}

/* The stack pointer of a thread blocked in a system call, from /proc/self/task/TID/syscall:
 * "NR ARG1..ARG6 SP PC", or "-1 SP PC" when blocked outside one; "running" and anything else: 0. */
static uintptr_t stop_syscall_sp(pid_t tid)
{
    char path[64] = "/proc/self/task/", text[256];
    size_t nl = ms_text_u64(path + 16, (uint64_t)tid);
    memcpy(path + 16 + nl, "/syscall", 9);
    if (ms_platform_read_small(path, text, sizeof text) <= 0) {
        return 0;
    }
    const char *tok[9];
    int n = 0;
    for (const char *p = text; *p && n < 9;) {
        while (*p == ' ' || *p == '\n') {
            p++;
        }
        if (!*p) {
            break;
        }
        tok[n++] = p;
        while (*p && *p != ' ' && *p != '\n') {
            p++;
        }
    }
    int at = n == 9 ? 7 : n == 3 && tok[0][0] == '-' ? 1 : -1;
    if (at < 0 || tok[at][0] != '0' || tok[at][1] != 'x') {
        return 0;
    }
    uintptr_t sp = 0;
    for (const char *h = tok[at] + 2; (*h >= '0' && *h <= '9') || (*h >= 'a' && *h <= 'f'); h++) {
        sp = sp << 4 | (uintptr_t)(*h <= '9' ? *h - '0' : *h - 'a' + 10);
    }
    return sp;
}

static void stop_blocked_or_unknown(struct ms_stop_thread *t)
{
    t->sp = stop_syscall_sp(t->tid);
    t->how = t->sp ? MS_STOP_BLOCKED : MS_STOP_UNKNOWN;
}

/* Asked threads that are gone, or zombies, or that blocked the signal meanwhile are not waited for (0); 2 for
 * one that has not run STOP_WATCH_NS since it was asked (no CPU yet, on a busy machine: worth waiting for
 * past STOP_TIMEOUT_NS), 1 for the others. */
static int stop_still_coming(uint32_t i, int signo)
{
    struct ms_stop_thread *t = &stop_list[i];
    struct stop_seen seen;
    if (stop_gone(t->tid, &seen)) {
        t->how = STOP_GONE;
        return 0;
    }
    if (seen.blocked >> (signo - 1) & 1) {
        return 0;
    }
    uint64_t asked = stop_watches[i].ran_asked;
    uint64_t ran = asked == UINT64_MAX ? UINT64_MAX : stop_runtime(t->tid);
    return ran != UINT64_MAX && ran - asked < STOP_WATCH_NS ? 2 : 1;
}

static void stop_nap(int64_t ns)
{
    uint32_t word = 0;
    (void)ms_platform_futex_wait(&word, 0, ns);
}

/* Whether a running thread that is not to be signalled has run long enough without being caught asleep to
 * be judged busy (unknown). Counted in its own run time since the scan began, not the clock's: on a busy
 * machine a thread on its way to a sleep (a main thread about to wait in pthread_join) can wait for a CPU
 * for a long time, and must not be judged by how long others ran meanwhile. */
static int stop_busy(const struct stop_watch *w, uint64_t ran, uint64_t now, uint64_t start)
{
    return ran == UINT64_MAX ? now - start >= STOP_BUSY_WALL_NS : ran - w->ran0 >= STOP_BUSY_NS;
}

/* Whether a running thread has run STOP_WATCH_NS of its own time since it was last seen to go to sleep: then
 * it is busy in its own code, and the signal stops it there. A thread that is runnable but gets no CPU is
 * not: it may be waiting inside a system call on its way to a sleep, where a signal would cut the sleep
 * short (EINTR). Without a run time, the clock's STOP_WATCH_NS. */
static int stop_ran_on(const struct stop_watch *w, uint64_t ran, uint64_t now)
{
    return ran == UINT64_MAX ? now - w->since >= STOP_WATCH_NS : ran - w->ran_since >= STOP_WATCH_NS;
}

/* How each listed thread's stack is read. One that went to sleep within the last STOP_WATCH_NS is never
 * signalled: the signal could land as it enters its next sleep, and a handler cuts nanosleep, poll or
 * sem_wait short with EINTR. It is caught asleep instead, its stack read from where it is blocked. A thread
 * that ran that long without sleeping (its own run time: stop_ran_on) gets the signal. One that cannot get
 * it (no stop signal, or blocked), or that keeps going to sleep for moments, is watched until it has run
 * STOP_BUSY_NS of its own time since the scan began: caught asleep before that, its stack is read after
 * all. Undecided after STOP_GIVEUP_NS (a thread that gets no CPU at all): unknown. */
static uint32_t stop_classify(uint32_t n, int signo)
{
    uint64_t start = ms_platform_monotonic_ns(), now = start, until = start + STOP_GIVEUP_NS;
    for (uint32_t i = 0; i < n; i++) {
        stop_list[i].how = STOP_UNDECIDED;
        struct stop_watch *w = &stop_watches[i];
        w->since = now;
        w->ran0 = w->ran_since = stop_runtime(stop_list[i].tid);
    }
    uint32_t asked = 0, undecided = n;
    while (undecided && now < until) {
        undecided = 0;
        for (uint32_t i = 0; i < n; i++) {
            struct ms_stop_thread *t = &stop_list[i];
            struct stop_watch *w = &stop_watches[i];
            struct stop_seen seen;
            if (t->how != STOP_UNDECIDED) {
                continue;
            }
            if (stop_gone(t->tid, &seen)) {
                t->how = STOP_GONE;
                continue;
            }
            if (seen.state != 'R') {
                stop_blocked_or_unknown(t);
                t->how = t->how == MS_STOP_BLOCKED ? MS_STOP_BLOCKED : STOP_UNDECIDED;
                undecided += t->how == STOP_UNDECIDED;
                continue;
            }
            int can_signal = signo && !(seen.blocked >> (signo - 1) & 1);
            uint64_t ran = w->ran0 == UINT64_MAX ? UINT64_MAX : stop_runtime(t->tid);
            if (seen.switches != w->switches) {
                w->switches = seen.switches;
                w->since = now;
                w->ran_since = ran;
            } else if (can_signal && stop_ran_on(w, ran, now)) {
                w->ran_asked = ran;
                t->how = ms_platform_signal_thread(t->tid, signo) == 0 ? STOP_ASKED : STOP_GONE;
                asked += t->how == STOP_ASKED;
            }
            if (t->how == STOP_UNDECIDED && stop_busy(w, ran, now, start)) {
                t->how = MS_STOP_UNKNOWN;
            }
            undecided += t->how == STOP_UNDECIDED;
        }
        if (undecided) {
            stop_nap(STOP_NAP_NS);
            now = ms_platform_monotonic_ns();
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        if (stop_list[i].how == STOP_UNDECIDED) {
            stop_list[i].how = MS_STOP_UNKNOWN;
        }
    }
    return asked;
}

uint32_t ms_stop_world(pid_t skip, const struct ms_stop_thread **list, uint32_t *over)
{
    *list = stop_list;
    *over = 0;
    int signo = ms_config.stop_signo;
    if (signo && ms_platform_signal_claim(signo, stop_handler) != 1) {
        signo = 0;
    }
    /* The last stop's threads on their way out of the handler block the signal until they are out. */
    uint64_t until = ms_platform_monotonic_ns() + STOP_INSIDE_NS;
    while (__atomic_load_n(&stop_inside, __ATOMIC_ACQUIRE) && ms_platform_monotonic_ns() < until) {
        stop_nap(STOP_NAP_NS);
    }
    __atomic_store_n(&stop_nslots, 0, __ATOMIC_RELAXED);
    uint32_t g = __atomic_add_fetch(&stop_gen, 1, __ATOMIC_ACQ_REL);
    int dfd = ms_platform_open_read("/proc/self/task", 1);
    if (dfd < 0) {
        return 0;
    }
    pid_t self = ms_platform_tid();
    uint32_t n = 0, asked = 0;
    char ents[4096] __attribute__((aligned(8)));
    long got;
    while ((got = ms_platform_dirents(dfd, ents, sizeof ents)) > 0) {
        for (long off = 0; off < got;) {
            /* struct linux_dirent64: u64 ino, s64 off, u16 reclen, u8 type, name */
            unsigned short reclen;
            memcpy(&reclen, ents + off + 16, sizeof reclen);
            const char *name = ents + off + 19;
            off += reclen;
            pid_t tid = 0;
            for (const char *p = name; *p >= '0' && *p <= '9'; p++) {
                tid = tid * 10 + (*p - '0');
            }
            if (tid <= 0 || tid == self || tid == skip) {
                continue;
            }
            if (n == STOP_MAX) {
                (*over)++;
                continue;
            }
            struct stop_seen seen;
            if (!stop_gone(tid, &seen)) {
                stop_list[n].tid = tid;
                stop_slots[n].tid = tid;
                stop_watches[n++].switches = seen.switches;
            }
        }
    }
    ms_platform_close(dfd);
    __atomic_store_n(&stop_nslots, n, __ATOMIC_RELEASE);
    asked = stop_classify(n, signo);

    uint64_t deadline = ms_platform_monotonic_ns() + STOP_TIMEOUT_NS, giveup = deadline + STOP_GIVEUP_NS;
    while (asked) {
        uint32_t seen = __atomic_load_n(&stop_acks, __ATOMIC_ACQUIRE);
        uint32_t waiting = 0, starved = 0;
        for (uint32_t i = 0; i < n; i++) {
            if (stop_list[i].how == STOP_ASKED && __atomic_load_n(&stop_slots[i].acked, __ATOMIC_ACQUIRE) != g) {
                int coming = stop_still_coming(i, signo);
                waiting += coming != 0;
                starved += coming == 2;
            }
        }
        uint64_t now = ms_platform_monotonic_ns();
        if (!waiting || (now >= deadline && !starved) || now >= giveup) {
            break;
        }
        uint64_t left = (now < deadline ? deadline : giveup) - now;
        (void)ms_platform_futex_wait(&stop_acks, seen, (int64_t)(left < STOP_SLICE_NS ? left : STOP_SLICE_NS));
    }

    uint32_t kept = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct ms_stop_thread *t = &stop_list[i];
        if (t->how == STOP_ASKED) {
            const struct stop_slot *s = &stop_slots[i];
            if (__atomic_load_n(&s->acked, __ATOMIC_ACQUIRE) == g) {
                t->how = MS_STOP_STOPPED;
                t->sp = s->sp;
                t->tp = s->tp;
                memcpy(t->regs, s->regs, sizeof t->regs);
            } else {
                stop_blocked_or_unknown(t); /* no answer: maybe asleep by now */
            }
        }
        if (t->how != STOP_GONE) {
            stop_list[kept++] = *t;
        }
    }
    return kept;
}

void ms_stop_release(void)
{
    uint32_t g = __atomic_load_n(&stop_gen, __ATOMIC_RELAXED);
    if (!(g & 1)) {
        return;
    }
    __atomic_store_n(&stop_released, g, __ATOMIC_RELEASE);
    __atomic_store_n(&stop_gen, g + 1, __ATOMIC_RELEASE);
    ms_platform_futex_wake(&stop_released);
}
