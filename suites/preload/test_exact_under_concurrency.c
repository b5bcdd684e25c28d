/* The heap map and the counters stay exact while something else uses them at the same time: a snapshot
 * that walks the whole map every millisecond (MEMSNAP_INTERVAL=1, MEMSNAP_LEAK_SCAN=all), a second thread
 * that starts midway, a thread that only frees what another allocated, fork children that go on alone,
 * and signals that land inside the hooks and allocate. Each case runs this program again in a fresh output
 * directory; the child checks its counts against what it did, the parent reads back every snapshot. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/ucontext.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <memsnap.h>

#include "snapread.h"
#include "tap.h"

#define RING 4096

/* ---- the workloads (child side) ---------------------------------------------------------------- */

struct churn {
    void *ring[RING];
    size_t size[RING];
    uint64_t pairs;
};

/* Every allocation stays live for RING iterations, so the map holds thousands of blocks that keep moving:
 * its stripes grow and every removal shifts entries. Ends with everything freed. */
static void churn_run(struct churn *c, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        unsigned k = (unsigned)(i % RING);
        free(c->ring[k]);
        c->size[k] = 1 + (size_t)((i * 2654435761u) % 300);
        c->ring[k] = malloc(c->size[k]);
        if (!c->ring[k]) {
            abort();
        }
        ((volatile char *)c->ring[k])[0] = 1;
    }
    for (unsigned k = 0; k < RING; k++) {
        free(c->ring[k]);
        c->ring[k] = NULL;
    }
    c->pairs += n;
}

static int child_fail(const char *what, uint64_t got, uint64_t want)
{
    fprintf(stderr, "pid %d: %s: got %llu, expected %llu\n", (int)getpid(), what, (unsigned long long)got,
            (unsigned long long)want);
    return 1;
}

/* The counters moved by exactly `allocs` allocations and `frees` frees, and live bytes and blocks by
 * live_bytes and live_blocks (a free the heap map lost would leave its bytes live). */
static int child_check(const struct memsnap_stats *a, uint64_t allocs, uint64_t frees, int64_t live_bytes,
                       int64_t live_blocks)
{
    struct memsnap_stats b;
    if (memsnap_stats(&b) != 0) {
        return child_fail("memsnap_stats", 1, 0);
    }
    if (b.alloc_count - a->alloc_count != allocs) {
        return child_fail("allocations", b.alloc_count - a->alloc_count, allocs);
    }
    if (b.free_count - a->free_count != frees) {
        return child_fail("frees", b.free_count - a->free_count, frees);
    }
    if ((int64_t)(b.current_bytes - a->current_bytes) != live_bytes) {
        return child_fail("live bytes", b.current_bytes - a->current_bytes, (uint64_t)live_bytes);
    }
    if ((int64_t)(b.live_count - a->live_count) != live_blocks) {
        return child_fail("live blocks", b.live_count - a->live_count, (uint64_t)live_blocks);
    }
    return 0;
}

/* One thread, snapshots every millisecond from the profiler's own thread. */
static int mode_one_thread(void)
{
    static struct churn c;
    struct memsnap_stats a;
    memsnap_stats(&a);
    churn_run(&c, 2000000);
    return child_check(&a, c.pairs, c.pairs, 0, 0);
}

struct worker {
    pthread_t t;
    int go;
    void *(*fn)(void *);
    void *arg;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    while (!__atomic_load_n(&w->go, __ATOMIC_ACQUIRE)) {
        sched_yield();
    }
    return w->fn(w->arg);
}

/* pthread_create allocates for itself: a thread made before the counters are read, started after. */
static int worker_create(struct worker *w, void *(*fn)(void *), void *arg)
{
    w->go = 0;
    w->fn = fn;
    w->arg = arg;
    return pthread_create(&w->t, NULL, worker_main, w);
}

static void worker_go(struct worker *w)
{
    __atomic_store_n(&w->go, 1, __ATOMIC_RELEASE);
}

static void *thread_churn(void *arg)
{
    churn_run(arg, 1000000);
    return NULL;
}

/* The program is one thread for a while, then two. */
static int mode_second_thread(void)
{
    static struct churn c1, c2;
    struct memsnap_stats a;
    struct worker w;
    if (worker_create(&w, thread_churn, &c2) != 0) {
        return child_fail("pthread_create", 1, 0);
    }
    memsnap_stats(&a);
    churn_run(&c1, 500000);
    worker_go(&w);
    churn_run(&c1, 1000000); /* the two at once */
    pthread_join(w.t, NULL);
    return child_check(&a, c1.pairs + c2.pairs, c1.pairs + c2.pairs, 0, 0);
}

#define HANDOFF 200000

struct handoff {
    void **blocks;
};

static void *thread_free_only(void *arg)
{
    struct handoff *h = arg;
    for (int i = 0; i < HANDOFF; i++) {
        free(h->blocks[i]);
    }
    return NULL;
}

/* A thread whose only calls are frees of blocks another thread allocated, while that one churns on. */
static int mode_free_only(void)
{
    static struct churn c;
    struct memsnap_stats a;
    static void *blocks[HANDOFF];
    struct handoff h = {blocks};
    struct worker w;
    if (worker_create(&w, thread_free_only, &h) != 0) {
        return child_fail("pthread_create", 1, 0);
    }
    churn_run(&c, 200000);
    memsnap_stats(&a);
    for (int i = 0; i < HANDOFF; i++) {
        blocks[i] = malloc(48);
        if (!blocks[i]) {
            return child_fail("malloc", 0, 1);
        }
    }
    worker_go(&w);
    churn_run(&c, 300000);
    pthread_join(w.t, NULL);
    return child_check(&a, 300000 + HANDOFF, 300000 + HANDOFF, 0, 0);
}

/* Every block goes to another thread the moment it is allocated, so the thread that frees it finds it
 * still held by its allocating thread, which meanwhile allocates again (and moves it into the map). */
struct mailbox {
    void *slot;
    int done;
    uint64_t reallocs;
};

/* Frees what arrives; every third block is first moved by realloc (which must find it as free does). */
static void *thread_mailbox_free(void *arg)
{
    struct mailbox *m = arg;
    for (uint64_t i = 0;;) {
        void *p = __atomic_exchange_n(&m->slot, NULL, __ATOMIC_ACQ_REL);
        if (p) {
            if (i++ % 3 == 0) {
                void *q = realloc(p, 200);
                if (!q) {
                    abort();
                }
                p = q;
                m->reallocs++;
            }
            free(p);
        } else if (__atomic_load_n(&m->done, __ATOMIC_ACQUIRE) &&
                   !__atomic_load_n(&m->slot, __ATOMIC_ACQUIRE)) {
            return NULL;
        } else {
            sched_yield(); /* on a loaded machine a spinning wait starves the thread it waits for */
        }
    }
}

static int mode_handoff(void)
{
    static struct mailbox m;
    struct memsnap_stats a;
    struct worker w;
    if (worker_create(&w, thread_mailbox_free, &m) != 0) {
        return child_fail("pthread_create", 1, 0);
    }
    memsnap_stats(&a);
    worker_go(&w);
    uint64_t allocs = 0;
    for (int i = 0; i < 100000; i++) { /* each block a hand-off, under a snapshot every millisecond */
        void *p = malloc(16 + (size_t)(i % 64));
        void *expected = NULL;
        if (!p) {
            return child_fail("malloc", 0, 1);
        }
        allocs++;
        if (i % 3 == 0) {
            void *q = malloc(8); /* one of its own in between: the handed-off block moves to the map */
            free(q);
            allocs++;
        }
        while (!__atomic_compare_exchange_n(&m.slot, &expected, p, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
            expected = NULL;
            sched_yield();
        }
    }
    __atomic_store_n(&m.done, 1, __ATOMIC_RELEASE);
    pthread_join(w.t, NULL);
    /* Each realloc counts as one allocation and one free more (the new block, the old one). */
    return child_check(&a, allocs + m.reallocs, allocs + m.reallocs, 0, 0);
}

/* A thread's newest block is in its own slot when another thread forks: the child, where that thread
 * is gone, must still know the block. */
struct parked {
    void *block;
    int ready, leave;
};

static void *thread_park(void *arg)
{
    struct parked *k = arg;
    k->block = malloc(77);
    __atomic_store_n(&k->ready, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&k->leave, __ATOMIC_ACQUIRE)) {
        sched_yield();
    }
    free(k->block);
    return NULL;
}

static int mode_fork_held(void)
{
    static struct parked k;
    pthread_t t;
    if (pthread_create(&t, NULL, thread_park, &k) != 0) {
        return child_fail("pthread_create", 1, 0);
    }
    while (!__atomic_load_n(&k.ready, __ATOMIC_ACQUIRE)) {
        sched_yield();
    }
    pid_t pid = fork();
    if (pid < 0) {
        return child_fail("fork", 1, 0);
    }
    if (pid == 0) {
        struct memsnap_stats a;
        memsnap_stats(&a);
        free(k.block);
        exit(child_check(&a, 0, 1, -77, -1));
    }
    int status, rc = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        rc = child_fail("fork child status", (uint64_t)status, 0);
    }
    struct memsnap_stats a;
    memsnap_stats(&a);
    __atomic_store_n(&k.leave, 1, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
    return rc | child_check(&a, 0, 1, -77, -1);
}

/* A fork child goes on alone, snapshots included; waits for it and passes on its verdict. */
static int fork_and_churn(void)
{
    pid_t pid = fork();
    if (pid < 0) {
        return child_fail("fork", 1, 0);
    }
    if (pid == 0) {
        static struct churn c;
        struct memsnap_stats a;
        memsnap_stats(&a);
        churn_run(&c, 400000);
        exit(child_check(&a, c.pairs, c.pairs, 0, 0)); /* exit: the child's own snapshot at exit */
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        return child_fail("fork child status", (uint64_t)status, 0);
    }
    return 0;
}

/* fork while one thread uses the heap map, then while two do (the child has one again). */
static int mode_fork(void)
{
    static struct churn c1, c2;
    struct memsnap_stats a;
    struct worker w;
    if (worker_create(&w, thread_churn, &c2) != 0) {
        return child_fail("pthread_create", 1, 0);
    }
    memsnap_stats(&a);
    churn_run(&c1, 200000);
    int rc = fork_and_churn();
    churn_run(&c1, 200000);
    worker_go(&w);
    rc |= fork_and_churn();
    churn_run(&c1, 200000);
    pthread_join(w.t, NULL);
    /* Each fork child's allocations are its own: the parent's counters never saw them. */
    return rc | child_check(&a, c1.pairs + c2.pairs, c1.pairs + c2.pairs, 0, 0);
}

static volatile sig_atomic_t ticks, in_profiler;
static uintptr_t libc_lo, libc_hi, preload_lo, preload_hi;

/* The executable text of the first mapping whose path contains `name`. */
static void text_range(const char *name, uintptr_t *lo, uintptr_t *hi)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[1024];
    while (f && fgets(line, sizeof line, f)) {
        unsigned long a, b;
        char perm[8];
        if (sscanf(line, "%lx-%lx %7s", &a, &b, perm) == 3 && perm[2] == 'x' && strstr(line, name)) {
            *lo = a;
            *hi = b;
            break;
        }
    }
    if (f) {
        fclose(f);
    }
}

/* Lands anywhere, inside the hooks too, and allocates: except inside libc, whose malloc is not
 * reentrant with or without a profiler. Now and then asks for a snapshot. */
static void on_alarm(int signo, siginfo_t *info, void *ctx)
{
    (void)signo;
    (void)info;
    uintptr_t pc = (uintptr_t)((ucontext_t *)ctx)->uc_mcontext.gregs[REG_RIP];
    if (!(pc >= libc_lo && pc < libc_hi)) {
        in_profiler += pc >= preload_lo && pc < preload_hi;
        void *p = malloc(40);
        free(p);
    }
    if (++ticks % 64 == 0) {
        raise(SIGUSR2);
    }
}

static int mode_signals(void)
{
    static struct churn c;
    struct sigaction sa;
    text_range("libc.so", &libc_lo, &libc_hi);
    text_range("libmemsnap", &preload_lo, &preload_hi);
    if (!libc_hi || !preload_hi) {
        fprintf(stderr, "cannot find libc's and the preload's text in /proc/self/maps\n");
        return 77;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_alarm;
    sa.sa_flags = SA_RESTART | SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGALRM, &sa, NULL) != 0) {
        return child_fail("sigaction", 1, 0);
    }
    struct itimerval it = {{0, 200}, {0, 200}};
    struct memsnap_stats a;
    memsnap_stats(&a);
    setitimer(ITIMER_REAL, &it, NULL);
    churn_run(&c, 1500000);
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    struct memsnap_stats b;
    memsnap_stats(&b);
    /* The handler's own pairs are recorded or not depending on where it landed: counts are at least the
     * loop's, live bytes exact. */
    if (b.alloc_count - a.alloc_count < c.pairs || b.free_count - a.free_count < c.pairs) {
        return child_fail("allocations", b.alloc_count - a.alloc_count, c.pairs);
    }
    fprintf(stderr, "%d timer signals, %d inside the profiler\n", (int)ticks, (int)in_profiler);
    if (ticks < 10) {
        fprintf(stderr, "only %d timer signals arrived: cannot check this here\n", (int)ticks);
        return 77;
    }
    if (b.current_bytes != a.current_bytes) {
        return child_fail("live bytes after the loop", b.current_bytes, a.current_bytes);
    }
    if (b.live_count != a.live_count) {
        return child_fail("live blocks after the loop", b.live_count, a.live_count);
    }
    return 0;
}

static int child_main(const char *mode)
{
    static const struct {
        const char *name;
        int (*run)(void);
    } modes[] = {
        {"one-thread", mode_one_thread}, {"second-thread", mode_second_thread}, {"free-only", mode_free_only},
        {"fork", mode_fork},             {"handoff", mode_handoff},             {"fork-held", mode_fork_held},
        {"signals", mode_signals},
    };
    if (!memsnap_active()) {
        fprintf(stderr, "the preload is not active in the child\n");
        return 77;
    }
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        if (!strcmp(mode, modes[i].name)) {
            return modes[i].run();
        }
    }
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
}

/* ---- the checks (parent side) ------------------------------------------------------------------- */

static const char *self_exe;

struct outcome {
    int status;
    int snaps;        /* files that read back */
    int interval;     /* of which written by the interval */
    int signal;       /* of which written on the signal */
    int pids;         /* distinct writers (fork children write under their own pid) */
};

static void run_mode(const char *mode, struct outcome *o)
{
    memset(o, 0, sizeof *o);
    char dir[] = "/tmp/memsnap-conc-XXXXXX";
    assert_non_null(mkdtemp(dir));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char out[512];
        snprintf(out, sizeof out, "%s/snap.%%p.%%n.snap", dir);
        setenv("MEMSNAP_OUTPUT", out, 1);
        setenv("MEMSNAP_INTERVAL", "1", 1);
        setenv("MEMSNAP_LEAK_SCAN", "all", 1);
        setenv("MEMSNAP_AT_EXIT", "1", 1);
        unsetenv("MEMSNAP_SIGNAL");
        execl(self_exe, self_exe, "--child", mode, (char *)NULL);
        _exit(127);
    }
    assert_int_equal(waitpid(pid, &o->status, 0), pid);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int pids[64];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') {
            continue;
        }
        char path[1024], err[256];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct sr_snap s;
        if (sr_load(path, &s, err, sizeof err) != 0) {
            fail_msg("%s: %s", path, err);
        }
        o->snaps++;
        o->interval += s.info.trigger == MS_FMT_TRIGGER_INTERVAL;
        o->signal += s.info.trigger == MS_FMT_TRIGGER_SIGNAL;
        int known = 0;
        for (int i = 0; i < o->pids; i++) {
            known |= pids[i] == (int)s.info.pid;
        }
        if (!known && o->pids < 64) {
            pids[o->pids++] = (int)s.info.pid;
        }
        sr_free(&s);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
    if (WIFEXITED(o->status) && WEXITSTATUS(o->status) == 77) {
        ms_tap_skip("the child could not check this here (exit 77; its reason is on stderr)");
    }
    assert_true(WIFEXITED(o->status));
    assert_int_equal(WEXITSTATUS(o->status), 0);
}

static void one_thread_snapshotted_every_millisecond_stays_exact(void **state)
{
    (void)state;
    struct outcome o;
    run_mode("one-thread", &o);
    assert_true(o.interval >= 2);
    assert_int_equal(o.snaps, o.interval + 1); /* and the one at exit */
}

static void second_thread_midway_stays_exact(void **state)
{
    (void)state;
    struct outcome o;
    run_mode("second-thread", &o);
    assert_true(o.interval >= 1);
}

static void thread_that_only_frees_stays_exact(void **state)
{
    (void)state;
    struct outcome o;
    run_mode("free-only", &o);
    assert_true(o.interval >= 1);
}

static void fork_children_churn_and_snapshot_alone(void **state)
{
    (void)state;
    struct outcome o;
    run_mode("fork", &o);
    assert_int_equal(o.pids, 3); /* the parent and both children wrote */
}

static void blocks_freed_by_another_thread_as_soon_as_made_stay_exact(void **state)
{
    (void)state;
    struct outcome o;
    run_mode("handoff", &o);
    assert_true(o.snaps >= 1);
}

static void fork_child_frees_a_block_another_thread_just_made(void **state)
{
    (void)state;
    struct outcome o;
    run_mode("fork-held", &o);
    assert_int_equal(o.pids, 2);
}

static void signals_inside_the_hooks_keep_live_bytes_exact(void **state)
{
    (void)state;
    struct outcome o;
    run_mode("signals", &o);
    assert_true(o.signal >= 1);
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--child")) {
        return child_main(argv[2]);
    }
    static char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        return ms_tap_skip_all("cannot find this program (/proc/self/exe)");
    }
    self_exe = exe;
    if (!getenv("LD_PRELOAD")) {
        return ms_tap_skip_all("not run under the preload (LD_PRELOAD unset)");
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_thread_snapshotted_every_millisecond_stays_exact),
        cmocka_unit_test(second_thread_midway_stays_exact),
        cmocka_unit_test(thread_that_only_frees_stays_exact),
        cmocka_unit_test(fork_children_churn_and_snapshot_alone),
        cmocka_unit_test(blocks_freed_by_another_thread_as_soon_as_made_stay_exact),
        cmocka_unit_test(fork_child_frees_a_block_another_thread_just_made),
        cmocka_unit_test(signals_inside_the_hooks_keep_live_bytes_exact),
    };
    return ms_tap_run_group(tests, NULL, NULL);
}
