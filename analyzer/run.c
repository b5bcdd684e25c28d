/* `memsnap run`: the program under LD_PRELOAD=libmemsnap.so, its exit status passed through. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <glob.h>
#include <libelf.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "analyze.h"

#ifndef MS_LIBDIR
#define MS_LIBDIR "lib"
#endif

static bool ms_run_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

char *ms_run_find_preload(const char *exe)
{
    const char *env = getenv("MEMSNAP_PRELOAD_LIB");
    if (env && *env && ms_run_exists(env))
        return realpath(env, NULL);
    char *real = exe ? realpath(exe, NULL) : NULL;
    if (!real)
        return NULL;
    char *slash = strrchr(real, '/');
    if (slash)
        *slash = 0;
    /* Build tree first (build/analyzer/memsnap -> build/preload/), then the installed prefix. */
    const char *const rel[] = {"../preload/libmemsnap.so", MS_LIBDIR "/libmemsnap.so", "../" MS_LIBDIR "/libmemsnap.so",
                               "../lib64/libmemsnap.so", "../lib/libmemsnap.so"};
    char buf[PATH_MAX + 64];
    for (size_t i = 0; i < sizeof rel / sizeof *rel; i++) {
        /* An absolute libdir (meson --libdir=/opt/lib) is used as it is; relative ones from the prefix. */
        if (i == 1 && rel[i][0] != '/')
            continue;
        if (rel[i][0] == '/')
            snprintf(buf, sizeof buf, "%s", rel[i]);
        else
            snprintf(buf, sizeof buf, "%s/%s", real, rel[i]);
        if (ms_run_exists(buf)) {
            free(real);
            return realpath(buf, NULL);
        }
    }
    free(real);
    return NULL;
}

/* Where execvp would find `name`; NULL if nowhere. */
static char *ms_run_which(const char *name)
{
    if (strchr(name, '/'))
        return access(name, F_OK) == 0 ? strdup(name) : NULL;
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    char buf[PATH_MAX];
    while (*path) {
        size_t n = strcspn(path, ":");
        snprintf(buf, sizeof buf, "%.*s/%s", (int)n, n ? path : ".", name);
        if (access(buf, X_OK) == 0 && ms_run_exists(buf))
            return strdup(buf);
        path += n;
        if (*path == ':')
            path++;
    }
    return NULL;
}

/* 1 when `path` is an ELF executable with no program interpreter (LD_PRELOAD cannot reach it). */
static int ms_run_is_static(const char *path)
{
    int fd = ms_file_open_regular(path, NULL); /* a FIFO must not hang `memsnap run` */
    if (fd < 0)
        return 0;
    int result = 0;
    elf_version(EV_CURRENT);
    Elf *e = elf_begin(fd, ELF_C_READ, NULL);
    size_t n;
    if (e && elf_kind(e) == ELF_K_ELF && elf_getphdrnum(e, &n) == 0) {
        bool interp = false;
        for (size_t i = 0; i < n; i++) {
            GElf_Phdr ph;
            if (gelf_getphdr(e, (int)i, &ph))
                interp |= ph.p_type == PT_INTERP;
        }
        GElf_Ehdr eh;
        /* No interpreter means no dynamic loader, hence no LD_PRELOAD (static and static-pie alike). */
        if (gelf_getehdr(e, &eh) && !interp && (eh.e_type == ET_EXEC || eh.e_type == ET_DYN))
            result = 1;
    }
    if (e)
        elf_end(e);
    close(fd);
    return result;
}

static pid_t ms_run_child;

static void ms_run_forward(int sig)
{
    if (ms_run_child > 0)
        kill(ms_run_child, sig);
}

/* The files matching the output pattern before the run, with what identifies a rewrite. Comparing with
 * them, not with the start time, keeps out the files of an earlier run in the same clock tick. */
struct ms_run_seen {
    char **paths;
    struct stat *st;
    size_t count;
};

static void ms_run_glob_pattern(const char *pattern, char *glob_pat, size_t cap)
{
    size_t o = 0;
    for (const char *p = pattern; *p && o + 2 < cap; p++) {
        if (p[0] == '%' && p[1] && strchr("pne", p[1])) {
            glob_pat[o++] = '*';
            p++;
        } else if (p[0] == '%' && p[1] == '%') {
            glob_pat[o++] = '%';
            p++;
        } else {
            glob_pat[o++] = *p;
        }
    }
    glob_pat[o] = 0;
}

static void ms_run_seen_free(struct ms_run_seen *seen)
{
    for (size_t i = 0; i < seen->count; i++)
        free(seen->paths[i]);
    free(seen->paths);
    free(seen->st);
    *seen = (struct ms_run_seen){0};
}

/* Out of memory leaves the list short: at worst an old file is listed again. */
static void ms_run_seen_take(const char *pattern, struct ms_run_seen *seen)
{
    char glob_pat[PATH_MAX];
    glob_t g;
    ms_run_glob_pattern(pattern, glob_pat, sizeof glob_pat);
    if (glob(glob_pat, 0, NULL, &g) != 0)
        return;
    seen->paths = calloc(g.gl_pathc, sizeof *seen->paths);
    seen->st = calloc(g.gl_pathc, sizeof *seen->st);
    for (size_t i = 0; seen->paths && seen->st && i < g.gl_pathc; i++)
        if (stat(g.gl_pathv[i], &seen->st[seen->count]) == 0 &&
            (seen->paths[seen->count] = strdup(g.gl_pathv[i])) != NULL)
            seen->count++;
    globfree(&g);
}

static bool ms_run_seen_has(const struct ms_run_seen *seen, const char *path, const struct stat *st)
{
    for (size_t i = 0; i < seen->count; i++)
        if (strcmp(seen->paths[i], path) == 0)
            return seen->st[i].st_ino == st->st_ino && seen->st[i].st_dev == st->st_dev &&
                   seen->st[i].st_mtim.tv_sec == st->st_mtim.tv_sec &&
                   seen->st[i].st_mtim.tv_nsec == st->st_mtim.tv_nsec && seen->st[i].st_size == st->st_size;
    return false;
}

/* The files matching the pattern that the run wrote (not in `seen`), malloc'd; NULL-terminated. */
static char **ms_run_written(const char *pattern, const struct ms_run_seen *seen, size_t *count)
{
    char glob_pat[PATH_MAX];
    glob_t g;
    char **out = NULL;
    *count = 0;
    ms_run_glob_pattern(pattern, glob_pat, sizeof glob_pat);
    if (glob(glob_pat, 0, NULL, &g) != 0)
        return calloc(1, sizeof *out);
    out = calloc(g.gl_pathc + 1, sizeof *out);
    for (size_t i = 0; out && i < g.gl_pathc; i++) {
        struct stat st;
        if (stat(g.gl_pathv[i], &st) != 0 || ms_run_seen_has(seen, g.gl_pathv[i], &st))
            continue;
        if ((out[*count] = strdup(g.gl_pathv[i])) != NULL)
            ++*count;
    }
    globfree(&g);
    return out;
}

static void ms_run_free_list(char **list)
{
    for (size_t i = 0; list && list[i]; i++)
        free(list[i]);
    free(list);
}

static void ms_run_report(const char *pattern, char *const *written, size_t count)
{
    if (!count) {
        char glob_pat[PATH_MAX];
        ms_run_glob_pattern(pattern, glob_pat, sizeof glob_pat);
        fprintf(stderr, "memsnap: no snapshot was written (looked for %s)\n", glob_pat);
        return;
    }
    fprintf(stderr, "memsnap: snapshots written:\n");
    for (size_t i = 0; i < count; i++)
        fprintf(stderr, "  %s\n", written[i]);
}

/* A gate without --output keeps its snapshots in a private directory, removed after the verdict: as a test
 * wrapper, it must not litter the test's directory. */
static void ms_run_remove_dir(const char *dir, char *const *written, size_t count)
{
    for (size_t i = 0; i < count; i++)
        unlink(written[i]);
    if (rmdir(dir) != 0)
        fprintf(stderr, "memsnap run: cannot remove %s: %s\n", dir, strerror(errno));
}

static bool ms_run_number(const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    return *s && !*end && errno == 0 && v >= lo && v <= hi;
}

int ms_run_main(const struct ms_run_opts *o, const struct ms_cli *cli)
{
    (void)cli;
    if (!o->argv || !o->argv[0]) {
        fprintf(stderr, "memsnap run: no program given (memsnap run [options] -- PROGRAM ARGS...)\n");
        return 2;
    }
    /* The preload would only warn and fall back to its default: refuse here, where exit 2 reaches the user. */
    if (o->interval && !ms_run_number(o->interval, 0, 1L << 40)) {
        fprintf(stderr, "memsnap run: --interval takes milliseconds (0 = off), not '%s'\n", o->interval);
        return 2;
    }
    if (o->depth && !ms_run_number(o->depth, 1, 256)) {
        fprintf(stderr, "memsnap run: --depth takes a frame count from 1 to 256, not '%s'\n", o->depth);
        return 2;
    }
    if (o->unwind && strcmp(o->unwind, "dwarf") != 0 && strcmp(o->unwind, "fp") != 0 &&
        strcmp(o->unwind, "libunwind") != 0) {
        fprintf(stderr, "memsnap run: --unwind takes dwarf, fp or libunwind, not '%s'\n", o->unwind);
        return 2;
    }
    char *prog = ms_run_which(o->argv[0]);
    if (!prog) {
        fprintf(stderr, "memsnap run: %s: command not found\n", o->argv[0]);
        return 127;
    }
    if (ms_run_is_static(prog)) {
        fprintf(stderr, "memsnap run: %s is statically linked: LD_PRELOAD cannot reach it; link it dynamically "
                        "to profile it\n", prog);
        free(prog);
        return 2;
    }
    struct stat pst;
    /* The loader ignores LD_PRELOAD for it (and the library would write nothing): say why up front. */
    bool privileged = stat(prog, &pst) == 0 && (pst.st_mode & (S_ISUID | S_ISGID)) &&
                      (pst.st_uid != geteuid() || pst.st_gid != getegid());
    if (privileged)
        fprintf(stderr, "memsnap run: %s is setuid/setgid: it runs in secure-execution mode, where the loader "
                        "ignores LD_PRELOAD and libmemsnap writes nothing; run a copy without the bit to "
                        "profile it\n", prog);
    free(prog);
    char *lib = ms_run_find_preload("/proc/self/exe");
    if (!lib) {
        fprintf(stderr, "memsnap run: libmemsnap.so not found next to this memsnap (../preload/ or the "
                        "installed lib directory); set MEMSNAP_PRELOAD_LIB\n");
        return 2;
    }
    const char *old = getenv("LD_PRELOAD");
    size_t len = strlen(lib) + (old ? strlen(old) : 0) + 2;
    char *preload = malloc(len);
    if (!preload) {
        free(lib);
        return 2;
    }
    /* libmemsnap first: an allocator preloaded before it would take every call, and the profile would be
     * empty. After it, that allocator is the one libmemsnap forwards to. */
    snprintf(preload, len, "%s%s%s", lib, old && *old ? ":" : "", old && *old ? old : "");
    free(lib);
    const char *output = o->output && *o->output ? o->output : NULL; /* '' is the default, as for the library */
    if (setenv("LD_PRELOAD", preload, 1) != 0 || (output && setenv("MEMSNAP_OUTPUT", output, 1) != 0) ||
        (o->interval && setenv("MEMSNAP_INTERVAL", o->interval, 1) != 0) ||
        (o->depth && setenv("MEMSNAP_DEPTH", o->depth, 1) != 0) ||
        (o->unwind && setenv("MEMSNAP_UNWIND", o->unwind, 1) != 0) ||
        (o->no_follow && setenv("MEMSNAP_FOLLOW", "0", 1) != 0)) {
        free(preload);
        fprintf(stderr, "memsnap run: cannot set the environment: %s\n", strerror(errno));
        return 2;
    }
    free(preload);
    bool gating = ms_memgate_wanted(&o->gate);
    char tmpdir[PATH_MAX] = "", tmppattern[PATH_MAX];
    if (gating && !output) {
        const char *t = getenv("TMPDIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/memsnap-run.XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(tmpdir)) {
            fprintf(stderr, "memsnap run: cannot create a directory for the snapshots (%s): %s\n", tmpdir,
                    strerror(errno));
            return 2;
        }
        snprintf(tmppattern, sizeof tmppattern, "%s/memsnap.%%e.%%p.%%n.snap", tmpdir);
        if (setenv("MEMSNAP_OUTPUT", tmppattern, 1) != 0) {
            fprintf(stderr, "memsnap run: cannot set the environment: %s\n", strerror(errno));
            rmdir(tmpdir);
            return 2;
        }
    }
    const char *pattern = *tmpdir ? tmppattern : output ? output : "memsnap.%e.%p.%n.snap";
    struct ms_run_seen seen = {0};
    ms_run_seen_take(pattern, &seen);
    /* Closed by a successful exec; a byte in it means the program never started (no snapshots to list). */
    int exec_pipe[2];
    if (pipe2(exec_pipe, O_CLOEXEC) != 0) {
        fprintf(stderr, "memsnap run: pipe: %s\n", strerror(errno));
        ms_run_seen_free(&seen);
        if (*tmpdir)
            rmdir(tmpdir);
        return 2;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "memsnap run: fork: %s\n", strerror(errno));
        close(exec_pipe[0]);
        close(exec_pipe[1]);
        ms_run_seen_free(&seen);
        if (*tmpdir)
            rmdir(tmpdir);
        return 2;
    }
    if (pid == 0) {
        close(exec_pipe[0]);
        execvp(o->argv[0], o->argv);
        int e = errno;
        fprintf(stderr, "memsnap run: %s: %s\n", o->argv[0], strerror(e));
        if (write(exec_pipe[1], "x", 1) < 0)
            _exit(126);
        _exit(e == ENOENT ? 127 : 126);
    }
    /* Like a shell: the terminal's ^C goes to the program; signals sent to us are passed on
     * (kill -USR2 on memsnap takes a snapshot in the program). */
    ms_run_child = pid;
    struct sigaction ign = {.sa_handler = SIG_IGN}, fwd = {.sa_handler = ms_run_forward};
    sigaction(SIGINT, &ign, NULL);
    sigaction(SIGQUIT, &ign, NULL);
    const int forwarded[] = {SIGTERM, SIGHUP, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++)
        sigaction(forwarded[i], &fwd, NULL);
    close(exec_pipe[1]);
    char exec_failed;
    ssize_t got;
    while ((got = read(exec_pipe[0], &exec_failed, 1)) < 0 && errno == EINTR)
        ;
    close(exec_pipe[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "memsnap run: waitpid: %s\n", strerror(errno));
            ms_run_seen_free(&seen);
            return 2;
        }
    }
    size_t count = 0;
    char **written = got != 1 ? ms_run_written(pattern, &seen, &count) : NULL;
    ms_run_seen_free(&seen);
    if (written && !*tmpdir)
        ms_run_report(pattern, written, count);
    int result = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 2;
    /* The program's own failure is the verdict; the gates judge only a run that succeeded. */
    if (gating && result == 0) {
        struct ms_error err = {""};
        enum ms_status r = written ? ms_memgate_check(&o->gate, written, count, (uint32_t)pid, stderr, &err)
                                   : ms_error_set(&err, MS_NOMEM, "out of memory");
        if (r == MS_GATE) {
            fprintf(stderr, "memsnap run: %s: a memory gate failed (exit %d)%s\n", o->argv[0], o->fail_exitcode,
                    *tmpdir ? "; --output PATTERN keeps the snapshots" : "");
            result = o->fail_exitcode;
        } else if (r != MS_OK) {
            fprintf(stderr, "memsnap run: %s\n", err.msg);
            result = 2;
        }
    }
    if (*tmpdir)
        ms_run_remove_dir(tmpdir, written, count);
    ms_run_free_list(written);
    return result;
}
