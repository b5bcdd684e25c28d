/* Snapshots besides the API: a signal (the handler only posts a semaphore; a helper thread does the
 * work), an interval, a new process peak (MEMSNAP_PEAK: the hook that reached it posts the same way), and
 * process exit. fork() handlers keep the tables consistent for the child, which
 * goes on recording and writes under its own pid. */
#include "preload.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "memsnap/format.h"

static int trigger_exit_done;
static int trigger_closing; /* the process is exiting: the helper writes no more */
static int trigger_helper_pid; /* pid whose helper thread runs; 0 = none */
static int trigger_signal_pending; /* the helper was woken by the signal (a new peak: ms_sites_peak_take) */

/* MEMSNAP_PEAK below this asks for nothing: smaller heaps are not worth a file each 10% (and a thread's
 * batch of live bytes, up to this much, may be missing from the peak while other threads allocate). */
#define TRIGGER_PEAK_FLOOR (256u * 1024u)

static void trigger_handler(int signo)
{
    (void)signo;
    __atomic_store_n(&trigger_signal_pending, 1, __ATOMIC_RELEASE);
    ms_platform_wake_post();
}

void ms_trigger_peak_rearm(uint64_t current)
{
    if (!ms_config.peak_pct) {
        return;
    }
    uint64_t up = current / 100 * ms_config.peak_pct + current % 100 * ms_config.peak_pct / 100;
    uint64_t mark = current + (up ? up : 1);
    ms_sites_peak_arm(mark > TRIGGER_PEAK_FLOOR ? mark : TRIGGER_PEAK_FLOOR);
}

static void *trigger_helper(void *arg)
{
    (void)arg;
    (void)ms_tracker_enter(); /* for good: nothing this thread allocates is the program's */
    ms_reach_not_a_root();
    int64_t period = (int64_t)ms_config.interval_ms;
    uint64_t next = period ? ms_platform_monotonic_ns() + (uint64_t)period * 1000000u : 0;
    for (;;) {
        int64_t wait = -1;
        if (period) {
            uint64_t now = ms_platform_monotonic_ns();
            wait = next > now ? (int64_t)((next - now) / 1000000u) : 0;
        }
        int rc = ms_platform_wake_wait(wait);
        if (__atomic_load_n(&trigger_closing, __ATOMIC_ACQUIRE)) {
            continue;
        }
        if (rc == 1) {
            /* one wake-up may stand for both causes; a flag found clear was served by an earlier one */
            if (ms_sites_peak_take()) {
                (void)ms_snapshot_write(NULL, NULL, MS_FMT_TRIGGER_PEAK);
            }
            if (__atomic_exchange_n(&trigger_signal_pending, 0, __ATOMIC_ACQ_REL)) {
                (void)ms_snapshot_write(NULL, NULL, MS_FMT_TRIGGER_SIGNAL);
            }
        } else if (rc == 0 && period && ms_platform_monotonic_ns() >= next) {
            (void)ms_snapshot_write(NULL, NULL, MS_FMT_TRIGGER_INTERVAL);
            next += (uint64_t)period * 1000000u;
            uint64_t now = ms_platform_monotonic_ns();
            if (next < now) { /* a slow snapshot: skip the missed ticks rather than burst */
                next = now + (uint64_t)period * 1000000u;
            }
        }
    }
    return NULL;
}

static void trigger_start_helper(void)
{
    if (!ms_config.signo && !ms_config.interval_ms && !ms_config.peak_pct) {
        return;
    }
    int pid = (int)ms_tracker_pid();
    if (__atomic_exchange_n(&trigger_helper_pid, pid, __ATOMIC_ACQ_REL) == pid) {
        return;
    }
    ms_reach_helper_starting(1);
    if (ms_platform_thread(trigger_helper, NULL) < 0) {
        ms_reach_helper_starting(0);
        ms_sites_peak_arm(UINT64_MAX);
        ms_text_warn("cannot start the snapshot thread; MEMSNAP_SIGNAL, MEMSNAP_INTERVAL and MEMSNAP_PEAK are off",
                     (const char *)0);
        return;
    }
    ms_reach_helper_wait();
}

static void trigger_prepare(void)
{
    ms_snapshot_lock();
    ms_sites_lock();
    ms_stacks_lock();
    ms_heapmap_lock_all();
}

static void trigger_parent(void)
{
    ms_heapmap_unlock_all();
    ms_stacks_unlock();
    ms_sites_unlock();
    ms_snapshot_unlock();
}

static void trigger_child(void)
{
    ms_heapmap_unlock_all();
    ms_stacks_unlock();
    ms_thread_after_fork_child(); /* the slots of the threads that did not survive the fork */
    ms_sites_unlock();
    ms_tracker_after_fork_child();
    ms_snapshot_after_fork_child();
    ms_snapshot_unlock();
    /* The parent's pending wake-ups are not the child's. The child's helper thread starts at its first
     * allocation, not here: most children exec at once, and a thread made in a fork handler is best
     * avoided. A signal before then stays posted. */
    ms_platform_wake_reset();
    __atomic_store_n(&trigger_helper_pid, 0, __ATOMIC_RELEASE);
    ms_reach_helper_starting(0); /* the parent's helper, if it was on its way, is not the child's */
    __atomic_store_n(&trigger_signal_pending, 0, __ATOMIC_RELAXED);
    if (ms_sites_peak_take()) {
        ms_trigger_peak_rearm(0); /* the parent's request, lost with its helper: the child asks anew */
    }
    if (ms_config.interval_ms || ms_config.signo || ms_config.peak_pct) {
        ms_tracker_defer_work();
    }
}

void ms_trigger_run_deferred(void)
{
    trigger_start_helper();
}

void ms_trigger_init(void)
{
    ms_reach_init();
    pthread_atfork(trigger_prepare, trigger_parent, trigger_child);
    ms_platform_wake_reset();
    if (ms_config.signo && ms_platform_on_signal(ms_config.signo, trigger_handler) < 0) {
        ms_text_warn("cannot install the MEMSNAP_SIGNAL handler", (const char *)0);
    }
    ms_trigger_peak_rearm(0);
    trigger_start_helper();
}

void ms_trigger_exit(void)
{
    ms_reach_capture_entry();
    if (!ms_config.at_exit || !ms_tracker_active()) {
        return;
    }
    /* A vfork child shares the parent's memory and pid bookkeeping: it must not write. */
    if (ms_platform_pid() != ms_tracker_pid()) {
        return;
    }
    int g = ms_tracker_enter();
    if (g) {
        /* Exit from inside the profiler (a signal handler that interrupted a hook): this thread may hold a
         * table lock the snapshot needs, so writing could hang the exit. */
        ms_tracker_leave(g);
        static const char msg[] = "memsnap: exit from inside an allocation call (a signal handler?): no exit snapshot\n";
        ms_platform_stderr(msg, sizeof msg - 1);
        return;
    }
    if (!__atomic_exchange_n(&trigger_exit_done, 1, __ATOMIC_ACQ_REL)) {
        (void)ms_snapshot_write(NULL, NULL, MS_FMT_TRIGGER_EXIT);
    }
    ms_tracker_leave(g);
}

__attribute__((destructor)) static void trigger_destructor(void)
{
    __atomic_store_n(&trigger_closing, 1, __ATOMIC_RELEASE);
    ms_reach_in_exit();
    ms_trigger_exit();
    ms_leakexit_finish(1);
}

void ms_trigger_exit_now(int status)
{
    ms_trigger_exit();
    if (status == 0) {
        ms_leakexit_finish(0); /* a failing program keeps its own status */
    }
    ms_platform_exit_group(status);
}
