/* Snapshots that the program does not ask for: at exit (also through _exit), on a signal, on an interval;
 * and what fork and exec do to them. Each case runs fixture.c under the preload with MEMSNAP_OUTPUT in a
 * fresh directory and reads back what appeared there. */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "snapread.h"
#include "tap.h"

static const char *preload_lib;
static const char *fixture;
static const char *plugin;
static const char *bigalloc;
static long run_address_limit_kb; /* > 0: the fixture runs under this RLIMIT_AS (ulimit -v) */

struct run {
    char dir[256];
    int status;
    pid_t pid;
    char out[4096];
    int nfiles;
    char (*files)[512]; /* every file the run left, however many (an interval writes hundreds) */
};

/* Runs fixture ARGS with the preload and the extra environment `env` (NULL-terminated "K=V" list). An
 * argument starting with @DIR starts with the run's directory instead. */
static void run_fixture(struct run *r, const char *const *env, const char *const *args)
{
    memset(r, 0, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "/tmp/memsnap-trig-XXXXXX");
    assert_non_null(mkdtemp(r->dir));
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char buf[600];
        dup2(pipefd[1], 1);
        dup2(pipefd[1], 2);
        close(pipefd[0]);
        setenv("LD_PRELOAD", preload_lib, 1);
        snprintf(buf, sizeof buf, "%s/snap.%%e.%%p.%%n.snap", r->dir);
        setenv("MEMSNAP_OUTPUT", buf, 1);
        unsetenv("MEMSNAP_AT_EXIT");
        unsetenv("MEMSNAP_INTERVAL");
        for (int i = 0; env && env[i]; i++) {
            putenv((char *)env[i]);
        }
        char *argv[16];
        char expanded[16][600];
        int n = 0;
        argv[n++] = (char *)fixture;
        for (int i = 0; args[i] && n < 15; i++) {
            argv[n] = (char *)args[i];
            if (!strncmp(args[i], "@DIR", 4)) {
                snprintf(expanded[n], sizeof expanded[n], "%s%s", r->dir, args[i] + 4);
                argv[n] = expanded[n];
            }
            n++;
        }
        argv[n] = NULL;
        struct rlimit as = {(rlim_t)run_address_limit_kb * 1024, (rlim_t)run_address_limit_kb * 1024};
        if (run_address_limit_kb > 0 && setrlimit(RLIMIT_AS, &as) != 0) {
            _exit(126);
        }
        execv(fixture, argv);
        _exit(127);
    }
    close(pipefd[1]);
    size_t got = 0;
    ssize_t k;
    while ((k = read(pipefd[0], r->out + got, sizeof r->out - 1 - got)) > 0) {
        got += (size_t)k;
    }
    close(pipefd[0]);
    waitpid(pid, &r->status, 0);
    r->pid = pid;
    char dir[256];
    memcpy(dir, r->dir, sizeof dir);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int cap = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] != '.') {
            if (r->nfiles == cap) {
                cap = cap ? 2 * cap : 16;
                r->files = realloc(r->files, (size_t)cap * sizeof *r->files);
                assert_non_null(r->files);
            }
            snprintf(r->files[r->nfiles++], 512, "%s/%s", dir, e->d_name);
        }
    }
    closedir(d);
}

static void run_cleanup(struct run *r)
{
    for (int i = 0; i < r->nfiles; i++) {
        unlink(r->files[i]);
    }
    free(r->files);
    r->files = NULL;
    rmdir(r->dir);
}

static void load(const char *path, struct sr_snap *s)
{
    char err[256];
    if (sr_load(path, s, err, sizeof err) != 0) {
        fail_msg("%s", err);
    }
}

/* Live blocks of one size, over all sites. */
static uint64_t live_of_size(const struct sr_snap *s, uint64_t size)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < s->site_count; i++) {
        if (s->sites[i].live_count && s->sites[i].live_bytes == s->sites[i].live_count * size) {
            n += s->sites[i].live_count;
        }
    }
    return n;
}

static void exit_snapshot_reports_the_leaks(void **state)
{
    (void)state;
    struct run r;
    struct sr_snap s;
    run_fixture(&r, NULL, (const char *[]){"leak", NULL});
    assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
    assert_int_equal(r.nfiles, 1);
    char want[64];
    snprintf(want, sizeof want, "snap.test-fixture.%d.0.snap", (int)r.pid); /* %e %p %n */
    assert_non_null(strstr(r.files[0], want));
    load(r.files[0], &s);
    assert_int_equal(s.info.trigger, MS_FMT_TRIGGER_EXIT);
    assert_true(s.header.flags & MS_FMT_FLAG_AT_EXIT);
    assert_int_equal(s.info.pid, (uint32_t)r.pid);
    assert_int_equal(live_of_size(&s, 777), 3);
    sr_free(&s);
    run_cleanup(&r);
}

static void exit_snapshot_is_written_on_underscore_exit(void **state)
{
    (void)state;
    struct run r;
    struct sr_snap s;
    run_fixture(&r, NULL, (const char *[]){"_exit", "7", NULL});
    assert_true(WIFEXITED(r.status));
    assert_int_equal(WEXITSTATUS(r.status), 7);
    assert_int_equal(r.nfiles, 1);
    load(r.files[0], &s);
    assert_int_equal(s.info.trigger, MS_FMT_TRIGGER_EXIT);
    assert_int_equal(live_of_size(&s, 777), 3);
    sr_free(&s);
    run_cleanup(&r);
}

static void exit_snapshot_can_be_turned_off(void **state)
{
    (void)state;
    struct run r;
    run_fixture(&r, (const char *[]){"MEMSNAP_AT_EXIT=0", NULL}, (const char *[]){"leak", NULL});
    assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
    assert_int_equal(r.nfiles, 0);
    run_cleanup(&r);
}

static void signal_wakes_the_helper_thread_to_snapshot(void **state)
{
    (void)state;
    struct run r;
    struct sr_snap s;
    char expect[600], dir[256];
    /* The fixture waits for its own snapshot file: the name is predictable once the pid is known, so it
     * is given through a fixed pattern without %p. */
    snprintf(dir, sizeof dir, "/tmp/memsnap-sig-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(expect, sizeof expect, "%s/sig.0.snap", dir);
    char out_env[700];
    snprintf(out_env, sizeof out_env, "MEMSNAP_OUTPUT=%s/sig.%%n.snap", dir);
    run_fixture(&r, (const char *[]){"MEMSNAP_AT_EXIT=0", out_env, NULL}, (const char *[]){"signal", expect, NULL});
    assert_true(WIFEXITED(r.status));
    assert_int_equal(WEXITSTATUS(r.status), 0);
    load(expect, &s);
    assert_int_equal(s.info.trigger, MS_FMT_TRIGGER_SIGNAL);
    assert_int_equal(live_of_size(&s, 777), 3);
    sr_free(&s);
    unlink(expect);
    rmdir(dir);
    run_cleanup(&r);
}

/* sample: a MEMSNAP_SAMPLE setting, or NULL. Sampled, the child's allocations take the fast path before
 * the hook, which must still start the child's helper. */
static void fork_child_signal_run(const char *sample)
{
    struct run r;
    char dir[256], out_env[700];
    snprintf(dir, sizeof dir, "/tmp/memsnap-forksig-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(out_env, sizeof out_env, "MEMSNAP_OUTPUT=%s/sig.%%p.%%n.snap", dir);
    run_fixture(&r, (const char *[]){"MEMSNAP_AT_EXIT=0", out_env, sample, NULL}, (const char *[]){"forksignal", dir, NULL});
    assert_true(WIFEXITED(r.status));
    assert_int_equal(WEXITSTATUS(r.status), 0);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    run_cleanup(&r);
}

static void fork_child_answers_the_signal_with_its_own_helper(void **state)
{
    (void)state;
    fork_child_signal_run(NULL);
}

static void fork_child_answers_the_signal_with_its_own_helper_when_sampled(void **state)
{
    (void)state;
    fork_child_signal_run("MEMSNAP_SAMPLE=512k");
}

static void interval_writes_numbered_snapshots(void **state)
{
    (void)state;
    struct run r;
    run_fixture(&r, (const char *[]){"MEMSNAP_AT_EXIT=0", "MEMSNAP_INTERVAL=100", NULL},
                (const char *[]){"sleep", "650", NULL});
    assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
    assert_true(r.nfiles >= 3);
    int seen[16] = {0};
    for (int i = 0; i < r.nfiles; i++) {
        struct sr_snap s;
        load(r.files[i], &s);
        assert_int_equal(s.info.trigger, MS_FMT_TRIGGER_INTERVAL);
        assert_true(s.info.sequence < 16);
        seen[s.info.sequence] = 1;
        assert_true(s.info.uptime_ns >= (uint64_t)(s.info.sequence + 1) * 90000000u);
        sr_free(&s);
    }
    for (int i = 0; i < r.nfiles; i++) {
        assert_true(seen[i]); /* 0, 1, 2 ... without gaps */
    }
    run_cleanup(&r);
}

/* MEMSNAP_KEEP=3: of some twenty interval snapshots the newest three remain, numbered without a gap up to
 * the at-exit snapshot, which does not rotate. */
static void keep_leaves_the_newest_interval_snapshots(void **state)
{
    (void)state;
    struct run r;
    run_fixture(&r, (const char *[]){"MEMSNAP_INTERVAL=30", "MEMSNAP_KEEP=3", NULL},
                (const char *[]){"sleep", "600", NULL});
    assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
    uint32_t interval[16], at_exit = 0;
    int n = 0, exits = 0;
    for (int i = 0; i < r.nfiles; i++) {
        struct sr_snap s;
        load(r.files[i], &s);
        if (s.info.trigger == MS_FMT_TRIGGER_EXIT) {
            at_exit = s.info.sequence;
            exits++;
        } else {
            assert_int_equal(s.info.trigger, MS_FMT_TRIGGER_INTERVAL);
            assert_true(n < 16);
            interval[n++] = s.info.sequence;
        }
        sr_free(&s);
    }
    assert_int_equal(exits, 1);
    assert_int_equal(n, 3);
    assert_true(at_exit >= 4); /* more than three were written: some were deleted */
    for (int i = 0; i < n; i++)
        assert_in_range(interval[i], at_exit - 3, at_exit - 1);
    run_cleanup(&r);
}

/* MEMSNAP_KEEP_AGE=1: after 1.8 s of snapshots every 50 ms, the first ones are gone and those left were
 * taken within the last second (plus the time one write takes, here given 300 ms). */
static void keep_age_deletes_older_interval_snapshots(void **state)
{
    (void)state;
    struct run r;
    run_fixture(&r, (const char *[]){"MEMSNAP_AT_EXIT=0", "MEMSNAP_INTERVAL=50", "MEMSNAP_KEEP_AGE=1", NULL},
                (const char *[]){"sleep", "1800", NULL});
    assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
    assert_true(r.nfiles >= 1);
    uint64_t newest = 0, oldest = UINT64_MAX;
    uint32_t lowest = UINT32_MAX;
    for (int i = 0; i < r.nfiles; i++) {
        struct sr_snap s;
        load(r.files[i], &s);
        assert_int_equal(s.info.trigger, MS_FMT_TRIGGER_INTERVAL);
        newest = s.info.uptime_ns > newest ? s.info.uptime_ns : newest;
        oldest = s.info.uptime_ns < oldest ? s.info.uptime_ns : oldest;
        lowest = s.info.sequence < lowest ? s.info.sequence : lowest;
        sr_free(&s);
    }
    assert_true(lowest > 0);
    assert_true(newest - oldest <= 1300000000u);
    run_cleanup(&r);
}

/* MEMSNAP_PEAK=10%: a snapshot at every new peak 10% above the last one, each replacing the one before, so
 * the run (a plateau at 4 MiB, then the peak at 16 MiB) leaves one peak file, numbered after the ones
 * written at the plateau and removed, and it holds at least 1/1.1 of the process peak the exit snapshot
 * reports. */
static void peak_trigger_keeps_one_snapshot_within_the_fraction(void **state)
{
    (void)state;
    struct run r;
    run_fixture(&r, (const char *[]){"MEMSNAP_PEAK=10%", NULL}, (const char *[]){"peak", "@DIR", "16", NULL});
    assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
    int peaks = 0, exits = 0;
    struct sr_snap peak = {0}, last = {0};
    for (int i = 0; i < r.nfiles; i++) {
        struct sr_snap s;
        load(r.files[i], &s);
        if (s.info.trigger == MS_FMT_TRIGGER_PEAK) {
            peaks++;
            peak = s;
        } else {
            assert_int_equal(s.info.trigger, MS_FMT_TRIGGER_EXIT);
            exits++;
            last = s;
        }
    }
    assert_int_equal(peaks, 1);
    assert_int_equal(exits, 1);
    uint64_t true_peak = last.totals.peak_bytes;
    assert_true(true_peak >= 16u << 20);
    if (peak.totals.current_bytes * 110 < true_peak * 100) {
        fail_msg("peak snapshot holds %llu bytes, the process peak was %llu",
                 (unsigned long long)peak.totals.current_bytes, (unsigned long long)true_peak);
    }
    if (peak.info.sequence < 1) {
        fail_msg("peak snapshot number %u: too few peak snapshots were written", peak.info.sequence);
    }
    sr_free(&peak);
    sr_free(&last);
    run_cleanup(&r);
}

/* A bad MEMSNAP_PEAK warns and writes no peak snapshot. */
static void bad_peak_setting_warns_and_is_off(void **state)
{
    (void)state;
    struct run r;
    run_fixture(&r, (const char *[]){"MEMSNAP_PEAK=ten", "MEMSNAP_AT_EXIT=0", NULL},
                (const char *[]){"peak", "@DIR", "2", NULL});
    assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
    assert_non_null(strstr(r.out, "MEMSNAP_PEAK=ten: expected a percentage"));
    assert_int_equal(r.nfiles, 0);
    run_cleanup(&r);
}

static void fork_child_keeps_tracking_under_its_own_pid(void **state)
{
    (void)state;
    struct run r;
    run_fixture(&r, NULL, (const char *[]){"fork", NULL});
    assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
    assert_int_equal(r.nfiles, 2);
    int parent = 0, child = 0;
    for (int i = 0; i < 2; i++) {
        struct sr_snap s;
        load(r.files[i], &s);
        char pid[32];
        snprintf(pid, sizeof pid, ".%u.0.snap", s.info.pid);
        assert_non_null(strstr(r.files[i], pid)); /* the name carries the writer's pid */
        assert_int_equal(live_of_size(&s, 777), 3);
        if (s.info.pid == (uint32_t)r.pid) {
            parent++;
            assert_int_equal(live_of_size(&s, 555), 0);
        } else {
            child++;
            assert_int_equal(s.info.ppid, (uint32_t)r.pid);
            assert_int_equal(live_of_size(&s, 555), 2);
        }
        sr_free(&s);
    }
    assert_int_equal(parent, 1);
    assert_int_equal(child, 1);
    run_cleanup(&r);
}

static void exec_follows_children_by_default(void **state)
{
    (void)state;
    struct run r;
    run_fixture(&r, NULL, (const char *[]){"spawn", fixture, "leak", NULL});
    assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
    assert_int_equal(r.nfiles, 2); /* the parent's and the exec'd child's */
    run_cleanup(&r);
    run_fixture(&r, NULL, (const char *[]){"spawn", fixture, "env", NULL});
    assert_non_null(strstr(r.out, "libmemsnap"));
    run_cleanup(&r);
}

static void follow_off_leaves_children_unprofiled(void **state)
{
    (void)state;
    struct run r;
    run_fixture(&r, (const char *[]){"MEMSNAP_FOLLOW=0", NULL}, (const char *[]){"spawn", fixture, "leak", NULL});
    assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
    assert_int_equal(r.nfiles, 1);
    struct sr_snap s;
    load(r.files[0], &s);
    assert_int_equal(s.info.pid, (uint32_t)r.pid);
    sr_free(&s);
    run_cleanup(&r);
    run_fixture(&r, (const char *[]){"MEMSNAP_FOLLOW=0", NULL}, (const char *[]){"spawn", fixture, "env", NULL});
    assert_null(strstr(r.out, "libmemsnap"));
    assert_non_null(strstr(r.out, "LD_PRELOAD="));
    run_cleanup(&r);
}

static void sampling_estimates_within_tolerance_and_flags_the_file(void **state)
{
    (void)state;
    struct run r;
    struct sr_snap s;
    run_fixture(&r, (const char *[]){"MEMSNAP_SAMPLE=64k", NULL}, (const char *[]){"many", "200000", "100", NULL});
    assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
    assert_int_equal(r.nfiles, 1);
    load(r.files[0], &s);
    assert_true(s.header.flags & MS_FMT_FLAG_SAMPLED);
    assert_int_equal(s.info.sample_rate, 65536);
    /* 20 MB in 100-byte blocks, about 305 samples: the estimate is within 25% (4 standard deviations) */
    uint64_t best = 0;
    for (uint32_t i = 0; i < s.site_count; i++) {
        best = s.sites[i].live_bytes > best ? s.sites[i].live_bytes : best;
    }
    assert_true(best > 15000000 && best < 25000000);
    assert_true(s.totals.calls[MS_FMT_CALL_MALLOC] >= 200004); /* call counters stay exact */
    sr_free(&s);
    run_cleanup(&r);
}

static void depth_limit_truncates_and_marks_stacks(void **state)
{
    (void)state;
    struct run r;
    struct sr_snap s;
    run_fixture(&r, (const char *[]){"MEMSNAP_DEPTH=2", NULL}, (const char *[]){"leak", NULL});
    assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
    load(r.files[0], &s);
    assert_int_equal(s.info.depth_limit, 2);
    assert_true(s.header.flags & MS_FMT_FLAG_TRUNCATED);
    int truncated = 0;
    for (uint32_t i = 0; i < s.stack_count; i++) {
        assert_true(s.stacks[i].depth <= 2);
        truncated += (s.stacks[i].flags & MS_FMT_STACK_TRUNCATED) != 0;
    }
    assert_true(truncated > 0);
    sr_free(&s);
    run_cleanup(&r);
}

static void bad_settings_warn_once_and_fall_back(void **state)
{
    (void)state;
    struct run r;
    run_fixture(&r, (const char *[]){"MEMSNAP_DEPTH=abc", "MEMSNAP_UNWIND=magic", "MEMSNAP_SIGNAL=NOPE", NULL},
                (const char *[]){"leak", NULL});
    assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
    assert_non_null(strstr(r.out, "memsnap: MEMSNAP_DEPTH=abc"));
    assert_non_null(strstr(r.out, "memsnap: MEMSNAP_UNWIND=magic"));
    assert_non_null(strstr(r.out, "memsnap: MEMSNAP_SIGNAL=NOPE"));
    assert_int_equal(r.nfiles, 1); /* and it still profiles, with the defaults */
    struct sr_snap s;
    load(r.files[0], &s);
    assert_int_equal(s.info.depth_limit, 64);
    sr_free(&s);
    run_cleanup(&r);
}

static void unwritable_output_warns_and_keeps_the_exit_status(void **state)
{
    (void)state;
    struct run r;
    run_fixture(&r, (const char *[]){"MEMSNAP_OUTPUT=/nonexistent-dir/x.%p.snap", NULL},
                (const char *[]){"_exit", "5", NULL});
    assert_true(WIFEXITED(r.status));
    assert_int_equal(WEXITSTATUS(r.status), 5);
    assert_non_null(strstr(r.out, "memsnap: cannot write /nonexistent-dir/x."));
    run_cleanup(&r);
}

static void threads_forks_signals_and_interval_together_do_not_deadlock(void **state)
{
    (void)state;
    struct run r;
    struct sr_snap s;
    run_fixture(&r, (const char *[]){"MEMSNAP_INTERVAL=7", NULL}, (const char *[]){"stress", NULL});
    assert_true(WIFEXITED(r.status));
    assert_int_equal(WEXITSTATUS(r.status), 0);
    assert_true(r.nfiles >= 21); /* 20 children at exit, the parent's signal, interval and exit ones */
    int parent_exit = 0;
    for (int i = 0; i < r.nfiles; i++) {
        load(r.files[i], &s);
        if (s.info.pid == (uint32_t)r.pid && s.info.trigger == MS_FMT_TRIGGER_EXIT) {
            parent_exit = 1;
            /* every thread joined and every slot freed: only the fixture's own 3 blocks of 777 and
             * stdio's buffers can remain */
            assert_int_equal(live_of_size(&s, 777), 3);
            assert_true(s.totals.live_count < 20);
        }
        sr_free(&s);
    }
    assert_true(parent_exit);
    run_cleanup(&r);
}

static void blocks_from_an_unloaded_library_keep_raw_frames(void **state)
{
    (void)state;
    struct run r;
    struct sr_snap s;
    run_fixture(&r, NULL, (const char *[]){"dlopen", plugin, NULL});
    assert_true(WIFEXITED(r.status));
    assert_int_equal(WEXITSTATUS(r.status), 0);
    assert_int_equal(r.nfiles, 1);
    load(r.files[0], &s);
    assert_int_equal(live_of_size(&s, 999), 3);
    for (uint32_t i = 0; i < s.site_count; i++) {
        if (s.sites[i].live_bytes == 3 * 999) {
            const struct sr_stack *st = &s.stacks[s.sites[i].stack];
            struct ms_fmt_frame f;
            assert_true(st->depth > 0);
            memcpy(&f, &st->frames[0], sizeof f);
            assert_int_equal(f.module, MS_FMT_MODULE_NONE); /* the plugin is gone from the module map */
        }
    }
    for (uint32_t i = 0; i < s.module_count; i++) {
        assert_null(strstr(s.modules[i].path, "plugin"));
    }
    sr_free(&s);
    run_cleanup(&r);
}

/* The fixture exited with `code`; otherwise fails with what it printed. */
static void assert_exited(const struct run *r, int code)
{
    if (!WIFEXITED(r->status) || WEXITSTATUS(r->status) != code) {
        fail_msg("fixture: status %#x, expected exit %d: %s", r->status, code, r->out);
    }
}

/* Files of the run whose name holds `part`. */
static int count_named(const struct run *r, const char *part)
{
    int n = 0;
    for (int i = 0; i < r->nfiles; i++) {
        n += strstr(r->files[i], part) != NULL;
    }
    return n;
}

static void fault_signal_is_refused_and_a_crash_stays_a_crash(void **state)
{
    (void)state;
    struct run r;
    run_fixture(&r, (const char *[]){"MEMSNAP_SIGNAL=11", NULL}, (const char *[]){"crash", NULL});
    /* with a handler for SIGSEGV the faulting write ran again and again, until alarm(5) */
    assert_true(WIFSIGNALED(r.status));
    assert_int_equal(WTERMSIG(r.status), SIGSEGV);
    assert_non_null(strstr(r.out, "memsnap: MEMSNAP_SIGNAL=11: a fault signal"));
    assert_int_equal(r.nfiles, 0);
    run_cleanup(&r);
}

static void program_closing_its_fds_keeps_them_and_gets_no_snapshot_flood(void **state)
{
    (void)state;
    struct run r;
    run_fixture(&r, (const char *[]){"MEMSNAP_INTERVAL=50", NULL}, (const char *[]){"closefds", "@DIR/own.log", NULL});
    assert_exited(&r, 0);
    /* ~6 interval snapshots in 300 ms, the signal's and the exit one; a profiler polling the program's
     * fd 3 wrote one after another */
    int snaps = count_named(&r, ".snap");
    if (snaps < 2 || snaps > 30) {
        fail_msg("%d snapshots", snaps);
    }
    run_cleanup(&r);
}

static void file_size_limit_fails_the_snapshot_not_the_program(void **state)
{
    (void)state;
    struct run r;
    run_fixture(&r, NULL, (const char *[]){"fsize", "512", "7", NULL});
    assert_exited(&r, 7);
    assert_non_null(strstr(r.out, "buffered output of the program"));
    assert_non_null(strstr(r.out, "memsnap: cannot write"));
    assert_int_equal(count_named(&r, ".tmp."), 0);
    assert_int_equal(r.nfiles, 0);
    run_cleanup(&r);
}

static void cancelled_snapshot_thread_leaves_the_profiler_usable(void **state)
{
    (void)state;
    struct run r;
    run_fixture(&r, (const char *[]){"MEMSNAP_AT_EXIT=0", NULL}, (const char *[]){"cancel", "40", NULL});
    /* a thread cancelled inside memsnap_snapshot kept its lock: the next one waited until alarm(20) */
    assert_exited(&r, 0);
    assert_int_equal(count_named(&r, ".tmp."), 0);
    run_cleanup(&r);
}

static void precreated_temporary_names_do_not_block_a_snapshot(void **state)
{
    (void)state;
    struct run r;
    run_fixture(&r, (const char *[]){"MEMSNAP_AT_EXIT=0", NULL}, (const char *[]){"tmpnames", "@DIR/x.snap", NULL});
    assert_exited(&r, 0);
    assert_int_equal(count_named(&r, "/x.snap.tmp."), 64); /* the fixture's own, untouched */
    int found = 0;
    for (int i = 0; i < r.nfiles; i++) {
        found += strlen(r.files[i]) > 7 && !strcmp(r.files[i] + strlen(r.files[i]) - 7, "/x.snap");
    }
    assert_int_equal(found, 1);
    run_cleanup(&r);
}

static void block_over_a_tebibyte_adds_and_subtracts_the_same_bytes(void **state)
{
    (void)state;
    struct run r;
    char env[1200];
    snprintf(env, sizeof env, "LD_PRELOAD=%s:%s", preload_lib, bigalloc);
    run_fixture(&r, (const char *[]){env, "MEMSNAP_AT_EXIT=0", NULL}, (const char *[]){"huge", NULL});
    assert_exited(&r, 0);
    run_cleanup(&r);
}

/* The run wrote one snapshot, at exit, with the fixture's 3 blocks of 777 bytes live. */
static void assert_one_exit_snapshot(const struct run *r)
{
    struct sr_snap s;
    if (r->nfiles != 1) {
        fail_msg("%d files: %s", r->nfiles, r->out);
    }
    load(r->files[0], &s);
    assert_int_equal(s.info.trigger, MS_FMT_TRIGGER_EXIT);
    assert_int_equal(live_of_size(&s, 777), 3);
    sr_free(&s);
}

static void exit_from_a_minimum_stack_thread_writes_the_snapshot(void **state)
{
    (void)state;
    static const char *const how[] = {"exit", "_exit"};
    for (size_t i = 0; i < 2; i++) {
        struct run r;
        run_fixture(&r, NULL, (const char *[]){"smallstack", how[i], "3", NULL});
        /* the writer's ~22 KB of buffers overran the 16 KiB stack: SIGSEGV */
        assert_exited(&r, 3);
        assert_one_exit_snapshot(&r);
        run_cleanup(&r);
    }
}

static void crash_handler_on_an_alternate_stack_exits_with_its_status(void **state)
{
    (void)state;
    struct run r;
    run_fixture(&r, NULL, (const char *[]){"altcrash", NULL});
    /* _exit(2) from a handler on a SIGSTKSZ stack: the exit snapshot overran it (139) */
    assert_exited(&r, 2);
    assert_one_exit_snapshot(&r);
    run_cleanup(&r);
}

static const struct sr_snap *compare_snap;

static int compare_frames(const void *pa, const void *pb)
{
    const struct sr_stack *a = *(const struct sr_stack *const *)pa, *b = *(const struct sr_stack *const *)pb;
    if (a->depth != b->depth) {
        return a->depth < b->depth ? -1 : 1;
    }
    for (unsigned i = 0; i < a->depth; i++) {
        uintptr_t x = sr_frame_address(compare_snap, &a->frames[i]);
        uintptr_t y = sr_frame_address(compare_snap, &b->frames[i]);
        if (x != y) {
            return x < y ? -1 : 1;
        }
    }
    return 0;
}

/* `fixture fanout depth`: 2^depth paths x 50 call sites, each stack allocated one block of 10000 + k
 * bytes from call site k. Every such stack must come back whole and different from the others. */
static void assert_fanout_stacks(int depth)
{
    struct run r;
    struct sr_snap s;
    char arg[16];
    snprintf(arg, sizeof arg, "%d", depth);
    run_fixture(&r, NULL, (const char *[]){"fanout", arg, NULL});
    assert_exited(&r, 0);
    assert_int_equal(r.nfiles, 1);
    load(r.files[0], &s);
    int want = 50 << depth, n = 0;
    const struct sr_stack **fan = calloc((size_t)want, sizeof *fan);
    uintptr_t caller_of_size[50] = {0};
    assert_non_null(fan);
    for (uint32_t i = 0; i < s.site_count; i++) {
        const struct ms_fmt_site *site = &s.sites[i];
        if (site->alloc_count != 1 || site->alloc_bytes < 10000 || site->alloc_bytes >= 10050) {
            continue;
        }
        assert_true(site->stack < s.stack_count && n < want);
        const struct sr_stack *st = &s.stacks[site->stack];
        assert_true(st->depth > (unsigned)depth + 2);
        fan[n++] = st;
        /* each size is allocated from one call site: its return address is the same on every path */
        uint32_t k = (uint32_t)(site->alloc_bytes - 10000);
        uintptr_t ret = sr_frame_address(&s, &st->frames[1]);
        assert_true(caller_of_size[k] == 0 || caller_of_size[k] == ret);
        caller_of_size[k] = ret;
    }
    assert_int_equal(n, want);
    compare_snap = &s;
    qsort(fan, (size_t)n, sizeof *fan, compare_frames);
    for (int i = 1; i < n; i++) {
        if (compare_frames(&fan[i - 1], &fan[i]) == 0) {
            fail_msg("two of the %d stacks have the same frames", n);
        }
    }
    free(fan);
    sr_free(&s);
    run_cleanup(&r);
}

static void stack_tree_keeps_every_stack_of_a_node_with_many_callees(void **state)
{
    (void)state;
    /* 400 stacks: a node's first children are found through a list, the rest through a hash table */
    assert_fanout_stacks(3);
}

static void stacks_past_the_first_arena_chunk_read_back_whole(void **state)
{
    (void)state;
    /* 204,800 stacks of ~20 frames: ~36 MB of records, the arena's first nine levels (128 KiB to 32 MiB) */
    assert_fanout_stacks(12);
}

static void address_space_reserved_at_start_stays_small(void **state)
{
    (void)state;
    struct run r;
    run_fixture(&r, (const char *[]){"MEMSNAP_AT_EXIT=0", NULL}, (const char *[]){"vmsize", NULL});
    assert_exited(&r, 0);
    const char *v = strstr(r.out, "VmSize:");
    assert_non_null(v);
    long kb = atol(v + 7);
    /* the stack arena was reserved whole, 2 GiB: VmSize 2.2 GB; then the site rows, 160 MiB: 232 MB; then
     * the stack offsets (32 MiB), the thread slots (24 MB) and the arena's first 16 MiB: 84 MB */
    if (kb <= 0 || kb > 32 * 1024) {
        fail_msg("VmSize %ld kB", kb);
    }
    run_cleanup(&r);
}

/* The preload's own address space on top of the program's (its code and libraries, tables, thread slots,
 * helper and snapshot stacks): a program that fits under ulimit -v with this much to spare fits as well
 * under the preload, and is profiled. */
#define PRELOAD_ADDRESS_MARGIN_KB (8 * 1024)

static long status_kb(const struct run *r, const char *key)
{
    const char *v = strstr(r->out, key);
    return v ? atol(v + strlen(key)) : -1;
}

static void program_under_an_address_space_limit_allocates_as_much_with_the_preload(void **state)
{
    (void)state;
    struct run r;
    struct sr_snap s;
    const char *const plain[] = {"LD_PRELOAD=", NULL};
    const char *const args[] = {"vmpeak", "64", "1048576", NULL}; /* 64 MiB in blocks of 1 MiB */
    run_fixture(&r, plain, args);
    assert_exited(&r, 0);
    long need = status_kb(&r, "VmPeak:");
    assert_true(need > 64 * 1024);
    run_cleanup(&r);
    run_address_limit_kb = need + PRELOAD_ADDRESS_MARGIN_KB;
    run_fixture(&r, plain, args);
    assert_exited(&r, 0); /* the limit itself lets the program run */
    run_cleanup(&r);
    run_fixture(&r, NULL, args);
    run_address_limit_kb = 0;
    /* before: 75 MiB reserved at start (the stack offsets, the thread slots, the first 16 MiB of the
     * arena): the library could not be loaded, or could not reserve its tables and recorded nothing */
    assert_exited(&r, 0);
    assert_int_equal(r.nfiles, 1);
    load(r.files[0], &s);
    assert_int_equal(live_of_size(&s, 1048576), 64);
    sr_free(&s);
    run_cleanup(&r);
}

static void setuid_program_ignores_the_settings_and_writes_nothing(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        ms_tap_skip("making a setuid program of another user needs root");
    }
    char dir[] = "/tmp/memsnap-suid-XXXXXX", copy[300], out[400], cmd[2048];
    assert_non_null(mkdtemp(dir));
    assert_int_equal(chmod(dir, 0777), 0); /* writable by the program's effective user, nobody */
    snprintf(copy, sizeof copy, "%s/fixture", dir);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s' && chown nobody '%s' && chmod 4755 '%s'", fixture, copy, copy, copy);
    assert_int_equal(system(cmd), 0);
    snprintf(out, sizeof out, "MEMSNAP_OUTPUT=%s/suid.%%p.snap", dir);
    const char *saved = fixture;
    fixture = copy;
    struct run r;
    run_fixture(&r, (const char *[]){out, NULL}, (const char *[]){"secure", preload_lib, NULL});
    fixture = saved;
    assert_exited(&r, 0);
    assert_non_null(strstr(r.out, "memsnap: setuid/setgid program (secure-execution mode)"));
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -c snap", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    assert_non_null(p);
    assert_int_equal(fscanf(p, "%d", &n), 1);
    pclose(p);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(n, 0); /* before: the caller's MEMSNAP_OUTPUT chose where the program wrote */
    run_cleanup(&r);
}

int main(void)
{
    preload_lib = getenv("MEMSNAP_PRELOAD_LIB");
    fixture = getenv("MEMSNAP_FIXTURE");
    plugin = getenv("MEMSNAP_PLUGIN");
    bigalloc = getenv("MEMSNAP_BIGALLOC");
    if (!preload_lib || access(preload_lib, R_OK) != 0 || !fixture || !plugin || !bigalloc) {
        return ms_tap_skip_all("MEMSNAP_PRELOAD_LIB / MEMSNAP_FIXTURE / MEMSNAP_PLUGIN not set: preload not built");
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exit_snapshot_reports_the_leaks),
        cmocka_unit_test(exit_snapshot_is_written_on_underscore_exit),
        cmocka_unit_test(exit_snapshot_can_be_turned_off),
        cmocka_unit_test(signal_wakes_the_helper_thread_to_snapshot),
        cmocka_unit_test(interval_writes_numbered_snapshots),
        cmocka_unit_test(keep_leaves_the_newest_interval_snapshots),
        cmocka_unit_test(keep_age_deletes_older_interval_snapshots),
        cmocka_unit_test(peak_trigger_keeps_one_snapshot_within_the_fraction),
        cmocka_unit_test(bad_peak_setting_warns_and_is_off),
        cmocka_unit_test(fork_child_answers_the_signal_with_its_own_helper),
        cmocka_unit_test(fork_child_answers_the_signal_with_its_own_helper_when_sampled),
        cmocka_unit_test(fork_child_keeps_tracking_under_its_own_pid),
        cmocka_unit_test(exec_follows_children_by_default),
        cmocka_unit_test(follow_off_leaves_children_unprofiled),
        cmocka_unit_test(sampling_estimates_within_tolerance_and_flags_the_file),
        cmocka_unit_test(depth_limit_truncates_and_marks_stacks),
        cmocka_unit_test(bad_settings_warn_once_and_fall_back),
        cmocka_unit_test(unwritable_output_warns_and_keeps_the_exit_status),
        cmocka_unit_test(threads_forks_signals_and_interval_together_do_not_deadlock),
        cmocka_unit_test(blocks_from_an_unloaded_library_keep_raw_frames),
        cmocka_unit_test(fault_signal_is_refused_and_a_crash_stays_a_crash),
        cmocka_unit_test(program_closing_its_fds_keeps_them_and_gets_no_snapshot_flood),
        cmocka_unit_test(file_size_limit_fails_the_snapshot_not_the_program),
        cmocka_unit_test(cancelled_snapshot_thread_leaves_the_profiler_usable),
        cmocka_unit_test(precreated_temporary_names_do_not_block_a_snapshot),
        cmocka_unit_test(block_over_a_tebibyte_adds_and_subtracts_the_same_bytes),
        cmocka_unit_test(setuid_program_ignores_the_settings_and_writes_nothing),
        cmocka_unit_test(exit_from_a_minimum_stack_thread_writes_the_snapshot),
        cmocka_unit_test(crash_handler_on_an_alternate_stack_exits_with_its_status),
        cmocka_unit_test(stack_tree_keeps_every_stack_of_a_node_with_many_callees),
        cmocka_unit_test(stacks_past_the_first_arena_chunk_read_back_whole),
        cmocka_unit_test(address_space_reserved_at_start_stays_small),
        cmocka_unit_test(program_under_an_address_space_limit_allocates_as_much_with_the_preload),
    };
    return ms_tap_run_group(tests, NULL, NULL);
}
