/* --benchmark-timer=instructions: the program runs again under valgrind's callgrind, which collects only
 * inside the measured calls (client requests toggle it) and dumps one profile per benchmark; the counts are
 * read back from that dump. Instruction counts do not depend on the machine's load. */
#include "harness.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef MS_HAVE_CALLGRIND
#include <valgrind/callgrind.h>
#else
/* Built without valgrind's headers: never under callgrind, and the rerun refuses. */
#define RUNNING_ON_VALGRIND 0
#define CALLGRIND_ZERO_STATS
#define CALLGRIND_TOGGLE_COLLECT
#define CALLGRIND_DUMP_STATS_AT(name) (void)(name)
#endif

/* Where the child's dumps go: set by the parent, read under valgrind. */
#define MS_CALLGRIND_ENV "MEMSNAP_BENCH_CALLGRIND_OUT"

int ms_callgrind_running(void)
{
    return RUNNING_ON_VALGRIND ? 1 : 0;
}

static int ms_callgrind_executable(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

static int ms_callgrind_find_valgrind(char *path, size_t len)
{
#ifndef MS_HAVE_CALLGRIND
    (void)path, (void)len;
    return -ENOENT;
#endif
    const char *env = getenv("MEMSNAP_VALGRIND");
    if (env && *env) {
        snprintf(path, len, "%s", env);
        return ms_callgrind_executable(path) ? 0 : -ENOENT;
    }
    const char *p = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof dirs, "%s", p ? p : "/usr/bin:/bin");
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(path, len, "%s/valgrind", *d ? d : ".");
        if (ms_callgrind_executable(path)) {
            return 0;
        }
    }
    return -ENOENT;
}

static void ms_callgrind_remove_dir(const char *dir)
{
    static const char *names[] = {"cg", "valgrind.log"};
    char path[4200];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    /* dumps the child did not read (it stopped early) */
    for (int part = 1; part < 100000; part++) {
        snprintf(path, sizeof path, "%s/cg.%d", dir, part);
        if (unlink(path) != 0) {
            break;
        }
    }
    rmdir(dir);
}

#if defined(__SANITIZE_ADDRESS__)
#define MS_CALLGRIND_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MS_CALLGRIND_ASAN 1
#endif
#endif

enum ms_status ms_callgrind_rerun(int argc, char **argv, struct ms_error *err)
{
#ifdef MS_CALLGRIND_ASAN
    /* valgrind cannot run a program whose AddressSanitizer runtime reserves the shadow memory */
    (void)argc, (void)argv;
    return ms_error_set(err, -ENOTSUP, "--benchmark-timer=instructions: valgrind cannot run a program built with "
                                     "AddressSanitizer; use a build without -Db_sanitize");
#endif
    char valgrind[4096], self[4096], dir[] = "/tmp/memsnap-callgrind.XXXXXX";
    if (ms_callgrind_find_valgrind(valgrind, sizeof valgrind) != 0) {
        return ms_error_set(err, -ENOENT,
                          "--benchmark-timer=instructions needs valgrind (callgrind), and there is none in PATH "
                          "(Debian: apt-get install valgrind)");
    }
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        return ms_error_set(err, -errno, "--benchmark-timer=instructions: cannot find this program: %s",
                          strerror(errno));
    }
    self[n] = 0;
    if (!mkdtemp(dir)) {
        return ms_error_set(err, -errno, "%s: cannot create: %s", dir, strerror(errno));
    }
    char out_file[64], log_file[64], out_opt[96], log_opt[96];
    snprintf(out_file, sizeof out_file, "%s/cg", dir);
    snprintf(log_file, sizeof log_file, "%s/valgrind.log", dir);
    snprintf(out_opt, sizeof out_opt, "--callgrind-out-file=%s", out_file);
    snprintf(log_opt, sizeof log_opt, "--log-file=%s", log_file);
    /* Fixed cache geometry, so that the estimated cycles are the same on every machine. */
    char *pre[] = {valgrind, "--tool=callgrind", "--collect-atstart=no", "--cache-sim=yes", "--I1=32768,8,64",
                   "--D1=32768,8,64", "--LL=8388608,16,64", out_opt, log_opt, self};
    size_t npre = sizeof pre / sizeof pre[0];
    char **args = calloc(npre + (size_t)argc + 1, sizeof *args);
    if (!args) {
        rmdir(dir);
        return ms_error_set(err, -ENOMEM, "out of memory");
    }
    memcpy(args, pre, sizeof pre);
    for (int i = 1; i < argc; i++) {
        args[npre + (size_t)i - 1] = argv[i];
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        setenv(MS_CALLGRIND_ENV, out_file, 1);
        execv(valgrind, args);
        fprintf(stderr, "%s: cannot run: %s\n", valgrind, strerror(errno));
        _exit(2);
    }
    free(args);
    int status = 0, rc;
    if (pid < 0) {
        rc = ms_error_set(err, -errno, "cannot start valgrind: %s", strerror(errno));
    } else {
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        if (WIFEXITED(status)) {
            rc = WEXITSTATUS(status);
        } else {
            /* valgrind's own report says why */
            FILE *log = fopen(log_file, "r");
            char line[512];
            while (log && fgets(line, sizeof line, log)) {
                fputs(line, stderr);
            }
            if (log) {
                fclose(log);
            }
            rc = ms_error_set(err, -ECHILD, "the run under callgrind ended by signal %d", WTERMSIG(status));
        }
    }
    ms_callgrind_remove_dir(dir);
    return rc;
}

int ms_callgrind_child(void)
{
    const char *out = getenv(MS_CALLGRIND_ENV);
    return RUNNING_ON_VALGRIND && out && *out;
}

void ms_callgrind_zero(void)
{
    CALLGRIND_ZERO_STATS;
}

void ms_callgrind_toggle(void)
{
    CALLGRIND_TOGGLE_COLLECT;
}

/* One "events:"/"summary:" pair of a dump: the counts in event order, missing trailing ones zero. */
static int ms_callgrind_parse(FILE *f, const char *path, const char *name, struct ms_callgrind_counts *out,
                              struct ms_error *err)
{
    static const char *want[] = {"Ir", "Dr", "Dw", "I1mr", "D1mr", "D1mw", "ILmr", "DLmr", "DLmw"};
    uint64_t *slots[] = {&out->ir, &out->dr, &out->dw, &out->i1mr, &out->d1mr, &out->d1mw, &out->ilmr, &out->dlmr,
                         &out->dlmw};
    int index[16], nevents = 0, trigger = 0;
    char line[1024];
    memset(out, 0, sizeof *out);
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (strncmp(line, "desc: Trigger: Client Request: ", 31) == 0) {
            trigger = strcmp(line + 31, name) == 0;
        } else if (strncmp(line, "events:", 7) == 0) {
            nevents = 0;
            for (char *save = NULL, *e = strtok_r(line + 7, " ", &save); e && nevents < 16;
                 e = strtok_r(NULL, " ", &save)) {
                index[nevents] = -1;
                for (int k = 0; k < 9; k++) {
                    if (strcmp(e, want[k]) == 0) {
                        index[nevents] = k;
                    }
                }
                nevents++;
            }
        } else if (strncmp(line, "summary:", 8) == 0) {
            if (!trigger) {
                return ms_error_set(err, -EINVAL, "%s: not the dump for '%s'", path, name);
            }
            char *p = line + 8;
            for (int i = 0; i < nevents; i++) {
                char *end;
                unsigned long long v = strtoull(p, &end, 10);
                if (end == p) {
                    break;
                }
                if (index[i] >= 0) {
                    *slots[index[i]] = v;
                }
                p = end;
            }
            return 0;
        }
    }
    return ms_error_set(err, -EINVAL, "%s: no summary line (not a callgrind dump?)", path);
}

enum ms_status ms_callgrind_dump(const char *name, struct ms_callgrind_counts *out, struct ms_error *err)
{
    static int part; /* callgrind numbers a run's dumps 1, 2, ... */
    const char *base = getenv(MS_CALLGRIND_ENV);
    if (!base) {
        return ms_error_set(err, -EINVAL, "not running under memsnap's callgrind");
    }
    CALLGRIND_DUMP_STATS_AT(name);
    char path[4200];
    snprintf(path, sizeof path, "%s.%d", base, ++part);
    FILE *f;
    int rc = ms_input_open(path, "callgrind dump", &f, err);
    if (rc) {
        return rc;
    }
    rc = ms_callgrind_parse(f, path, name, out, err);
    fclose(f);
    unlink(path);
    return rc;
}

void ms_callgrind_subtract(struct ms_callgrind_counts *c, const struct ms_callgrind_counts *overhead, uint64_t times)
{
    uint64_t *a = &c->ir;
    const uint64_t *b = &overhead->ir;
    for (size_t i = 0; i < sizeof *c / sizeof c->ir; i++) {
        uint64_t o = b[i] * times;
        a[i] = a[i] > o ? a[i] - o : 0;
    }
}

void ms_callgrind_estimate(const struct ms_callgrind_counts *c, double calls, struct ms_callgrind_estimate *out)
{
    /* iai-callgrind's model: an L1 hit costs 1 cycle, an LL hit 5, a RAM access 35. */
    double accesses = (double)(c->ir + c->dr + c->dw);
    double l1_miss = (double)(c->i1mr + c->d1mr + c->d1mw);
    double ll_miss = (double)(c->ilmr + c->dlmr + c->dlmw);
    out->instructions = (double)c->ir / calls;
    out->l1_hits = (accesses - l1_miss) / calls;
    out->ll_hits = (l1_miss - ll_miss) / calls;
    out->ram_hits = ll_miss / calls;
    out->cycles = out->l1_hits + 5 * out->ll_hits + 35 * out->ram_hits;
}
