/* MEMSNAP_* environment variables, read once at start: hooks never call getenv (it is not safe against a
 * concurrent setenv, and the answer must not change under a running profile). */
#include "preload.h"

#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

struct ms_config ms_config;

static const char config_default_output[] = "memsnap.%e.%p.%n.snap";

static uint64_t config_number(const char *name, uint64_t dflt, uint64_t lo, uint64_t hi)
{
    const char *s = getenv(name);
    uint64_t v;
    if (!s || !*s) {
        return dflt;
    }
    if (ms_text_parse_u64(s, &v) < 0 || v < lo || v > hi) {
        ms_text_warn(name, "=", s, ": not a number in range; using the default", (const char *)0);
        return dflt;
    }
    return v;
}

/* MEMSNAP_PEAK=10% (the % is optional): 1 to 1000 percent; anything else warns and turns it off. */
static uint32_t config_percent(const char *name)
{
    const char *s = getenv(name);
    char digits[24];
    uint64_t v;
    if (!s || !*s) {
        return 0;
    }
    size_t n = strlen(s);
    n -= n && s[n - 1] == '%';
    if (n == 0 || n >= sizeof digits) {
        v = 0;
    } else {
        memcpy(digits, s, n);
        digits[n] = '\0';
        if (ms_text_parse_u64(digits, &v) < 0) {
            v = 0;
        }
    }
    if (v < 1 || v > 1000) {
        ms_text_warn(name, "=", s, ": expected a percentage from 1% to 1000%; no peak snapshots", (const char *)0);
        return 0;
    }
    return (uint32_t)v;
}

static int config_flag(const char *name, int dflt)
{
    const char *s = getenv(name);
    if (!s || !*s) {
        return dflt;
    }
    if (!strcmp(s, "1") || !strcmp(s, "yes") || !strcmp(s, "on") || !strcmp(s, "true")) {
        return 1;
    }
    if (!strcmp(s, "0") || !strcmp(s, "no") || !strcmp(s, "off") || !strcmp(s, "false")) {
        return 0;
    }
    ms_text_warn(name, "=", s, ": expected 0 or 1; using the default", (const char *)0);
    return dflt;
}

/* Signals the kernel sends for a faulting instruction (or abort's): a handler that returns re-runs the
 * instruction, so a crash would become an endless loop of snapshots. */
static int config_is_fault_signal(int signo)
{
    static const int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS};
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) {
        if (signo == faults[i]) {
            return 1;
        }
    }
    return 0;
}

static int config_signal(void)
{
    static const struct {
        const char *name;
        int signo;
    } names[] = {{"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"HUP", SIGHUP}, {"PROF", SIGPROF},
                 {"URG", SIGURG},   {"WINCH", SIGWINCH}};
    const char *s = getenv("MEMSNAP_SIGNAL");
    uint64_t v;
    if (!s || !*s) {
        return SIGUSR2;
    }
    if (!strcmp(s, "off") || !strcmp(s, "none")) {
        return 0;
    }
    if (ms_text_parse_u64(s, &v) == 0 && (v == 0 || (v < (uint64_t)NSIG && v != SIGKILL && v != SIGSTOP))) {
        if (config_is_fault_signal((int)v)) {
            ms_text_warn("MEMSNAP_SIGNAL=", s, ": a fault signal (the program's crash) cannot ask for snapshots; using SIGUSR2",
                         (const char *)0);
            return SIGUSR2;
        }
        return (int)v;
    }
    const char *n = strncmp(s, "SIG", 3) == 0 ? s + 3 : s;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!strcmp(n, names[i].name)) {
            return names[i].signo;
        }
    }
    ms_text_warn("MEMSNAP_SIGNAL=", s, ": unknown signal; using SIGUSR2", (const char *)0);
    return SIGUSR2;
}

/* MEMSNAP_STOP_SIGNAL: the realtime signal that stops running threads for the leak scan (stop.c). */
static int config_stop_signal(void)
{
    int dflt = SIGRTMAX - 2;
    const char *s = getenv("MEMSNAP_STOP_SIGNAL");
    uint64_t v;
    if (!s || !*s) {
        return dflt;
    }
    if (!strcmp(s, "off")) {
        return 0;
    }
    if (ms_text_parse_u64(s, &v) < 0 || (v != 0 && (v < (uint64_t)SIGRTMIN || v > (uint64_t)SIGRTMAX))) {
        ms_text_warn("MEMSNAP_STOP_SIGNAL=", s, ": expected a realtime signal number (SIGRTMIN..SIGRTMAX) or 0; using the default",
                     (const char *)0);
        return dflt;
    }
    return (int)v;
}

static void config_output(void)
{
    const char *s = getenv("MEMSNAP_OUTPUT");
    char *out = ms_config.output;
    size_t at = 0;
    if (!s || !*s) {
        s = config_default_output;
    }
    if (s[0] != '/') {
        /* Relative to where the program started, not to wherever it chdir'd before exiting. */
        int n = ms_platform_cwd(out, sizeof ms_config.output - 1);
        if (n > 0) {
            at = (size_t)n;
            if (out[at - 1] != '/') {
                out[at++] = '/';
            }
        }
    }
    size_t len = strlen(s);
    if (at + len >= sizeof ms_config.output) {
        ms_text_warn("MEMSNAP_OUTPUT: too long; using ", config_default_output, (const char *)0);
        s = config_default_output;
        len = strlen(s);
        at = 0;
    }
    memcpy(out + at, s, len + 1);
}

/* Removes this library's entries from LD_PRELOAD, so children run unprofiled. */
static void config_unfollow(void)
{
    Dl_info info;
    const char *list = getenv("LD_PRELOAD");
    if (!list || !dladdr((void *)&ms_config_load, &info) || !info.dli_fname) {
        return;
    }
    const char *self = strrchr(info.dli_fname, '/');
    self = self ? self + 1 : info.dli_fname;
    char kept[MS_CONFIG_PATH_MAX];
    size_t at = 0;
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ": ");
        const char *base = p;
        for (size_t i = 0; i < len; i++) {
            if (p[i] == '/') {
                base = p + i + 1;
            }
        }
        size_t blen = len - (size_t)(base - p);
        int mine = len && blen == strlen(self) && !memcmp(base, self, blen);
        if (len && !mine && at + len + 1 < sizeof kept) {
            if (at) {
                kept[at++] = ':';
            }
            memcpy(kept + at, p, len);
            at += len;
        }
        p += len;
        if (*p) {
            p++;
        }
    }
    kept[at] = '\0';
    if (at) {
        setenv("LD_PRELOAD", kept, 1);
    } else {
        unsetenv("LD_PRELOAD");
    }
}

/* A setuid or setgid program runs with privileges its caller does not have: a setting from the caller's
 * environment must not choose where that program writes (it could create files in directories only the
 * privileged user may write). In secure-execution mode every MEMSNAP_* setting is ignored and no snapshot
 * is written (the library still passes every call through). */
static int config_secure(void)
{
    if (!getauxval(AT_SECURE)) {
        return 0;
    }
    ms_text_warn("setuid/setgid program (secure-execution mode): MEMSNAP_* settings are ignored and no "
                 "snapshot is written", (const char *)0);
    ms_config.secure = 1;
    ms_config.depth = 64;
    ms_config.unwind = MS_UNWIND_DWARF;
    ms_config.follow = 1;
    ms_config.enabled = 1;
    return 1;
}

void ms_config_load(void)
{
    if (config_secure()) {
        return;
    }
    config_output();
    ms_config.depth = (uint32_t)config_number("MEMSNAP_DEPTH", 64, 1, MS_CONFIG_DEPTH_MAX);
    ms_config.sample = config_number("MEMSNAP_SAMPLE", 0, 0, UINT64_C(1) << 40);
    ms_config.interval_ms = config_number("MEMSNAP_INTERVAL", 0, 0, UINT64_C(1) << 40);
    ms_config.keep = config_number("MEMSNAP_KEEP", 0, 0, 16384);
    ms_config.keep_age_s = config_number("MEMSNAP_KEEP_AGE", 0, 0, UINT64_C(1) << 32);
    ms_config.signo = config_signal();
    ms_config.stop_signo = config_stop_signal();
    ms_config.peak_pct = config_percent("MEMSNAP_PEAK");
    ms_config.follow = config_flag("MEMSNAP_FOLLOW", 1);
    ms_config.at_exit = config_flag("MEMSNAP_AT_EXIT", 1);
    ms_config.leak_exitcode = (int)config_number("MEMSNAP_LEAK_EXITCODE", 0, 0, 255);
    ms_config.enabled = !config_flag("MEMSNAP_DISABLE", 0);
    const char *u = getenv("MEMSNAP_UNWIND");
    ms_config.unwind = MS_UNWIND_DWARF;
    if (u && !strcmp(u, "fp")) {
        ms_config.unwind = MS_UNWIND_FP;
    } else if (u && !strcmp(u, "libunwind")) {
        ms_config.unwind = MS_UNWIND_LIBUNWIND;
    } else if (u && *u && strcmp(u, "dwarf")) {
        ms_text_warn("MEMSNAP_UNWIND=", u, ": expected dwarf, fp or libunwind; using dwarf", (const char *)0);
    }
    if (!ms_config.follow) {
        config_unfollow();
    }
}
