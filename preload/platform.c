/* The preload's only door to the operating system. Hooks call nothing else that may enter the kernel,
 * so the cost and the async-signal-safety of each OS call can be reviewed in one place. */
#include "preload.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h> /* rename */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

int ms_platform_thread_stack(uintptr_t *lo, uintptr_t *hi)
{
    pthread_attr_t attr;
    void *addr;
    size_t size;
    int rc = pthread_getattr_np(pthread_self(), &attr);
    if (rc != 0) {
        return -rc;
    }
    rc = pthread_attr_getstack(&attr, &addr, &size);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        return -rc;
    }
    *lo = (uintptr_t)addr;
    *hi = (uintptr_t)addr + size;
    return 0;
}

int ms_platform_map(size_t size, int reserve, void **out)
{
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | (reserve ? MAP_NORESERVE : 0);
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (p == MAP_FAILED) {
        return -errno;
    }
    *out = p;
    return 0;
}

int ms_platform_map_stack(size_t size, void **top)
{
    void *p = mmap(NULL, size + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                   -1, 0);
    if (p == MAP_FAILED) {
        return -errno;
    }
    if (mprotect(p, 4096, PROT_NONE) < 0) {
        int rc = -errno;
        munmap(p, size + 4096);
        return rc;
    }
    *top = (char *)p + size + 4096;
    return 0;
}

void ms_platform_prefault(void *p, size_t size)
{
    uintptr_t lo = (uintptr_t)p & ~(uintptr_t)4095;
    uintptr_t hi = ((uintptr_t)p + size + 4095) & ~(uintptr_t)4095;
    int saved = errno;
    (void)madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE); /* before Linux 5.14: EINVAL, faults as usual */
    errno = saved;
}

void ms_platform_unmap(void *p, size_t size)
{
    if (p) {
        munmap(p, size);
    }
}

int ms_platform_create(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    return fd < 0 ? -errno : fd;
}

int ms_platform_create_unnamed(const char *dir)
{
    int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
    return fd < 0 ? -errno : fd;
}

int ms_platform_link_fd(int fd, const char *to)
{
    char proc[40] = "/proc/self/fd/", digits[12];
    size_t at = strlen(proc), n = 0;
    unsigned v = (unsigned)fd;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) {
        proc[at++] = digits[--n];
    }
    proc[at] = '\0';
    return linkat(AT_FDCWD, proc, AT_FDCWD, to, AT_SYMLINK_FOLLOW) < 0 ? -errno : 0;
}

int ms_platform_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        if (n == 0) {
            return -EIO;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int ms_platform_close(int fd)
{
    return close(fd) < 0 && errno != EINTR ? -errno : 0;
}

int ms_platform_open_read(const char *path, int directory)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
    return fd < 0 ? -errno : fd;
}

long ms_platform_read(int fd, void *buf, size_t len)
{
    for (;;) {
        ssize_t got = read(fd, buf, len);
        if (got >= 0) {
            return (long)got;
        }
        if (errno != EINTR) {
            return -errno;
        }
    }
}

long ms_platform_copy_self(void *dst, uintptr_t src, size_t n)
{
    int saved = errno;
    struct iovec local = {dst, n}, remote = {(void *)src, n};
    long got = (long)syscall(SYS_process_vm_readv, (long)getpid(), &local, 1L, &remote, 1L, 0L);
    long rc = got < 0 ? -errno : got;
    errno = saved;
    return rc;
}

long ms_platform_read_small(const char *path, char *buf, size_t size)
{
    int fd = ms_platform_open_read(path, 0);
    if (fd < 0) {
        return fd;
    }
    size_t have = 0;
    while (have + 1 < size) {
        long got = ms_platform_read(fd, buf + have, size - 1 - have);
        if (got <= 0) {
            break;
        }
        have += (size_t)got;
    }
    ms_platform_close(fd);
    buf[have] = 0;
    return (long)have;
}

int ms_platform_futex_wait(uint32_t *word, uint32_t expected, int64_t timeout_ns)
{
    int saved = errno;
    struct timespec ts, *tp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = (time_t)(timeout_ns / 1000000000);
        ts.tv_nsec = (long)(timeout_ns % 1000000000);
        tp = &ts;
    }
    /* Private: the words live in this process only. A relative timeout: FUTEX_WAIT's is. */
    long rc = syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, tp, NULL, 0);
    int err = rc < 0 && errno != EAGAIN ? -errno : 0;
    errno = saved;
    return err;
}

void ms_platform_futex_wake(uint32_t *word)
{
    int saved = errno;
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
    errno = saved;
}

int ms_platform_signal_claim(int signo, void (*handler)(int, siginfo_t *, void *))
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&sa.sa_mask); /* none of the program's handlers runs on top of a parked thread */
    if (sigaction(signo, NULL, &old) < 0) {
        return -errno;
    }
    if ((old.sa_flags & SA_SIGINFO) && old.sa_sigaction == handler) {
        return 1;
    }
    if ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL) {
        return 0;
    }
    if (sigaction(signo, &sa, &old) < 0) {
        return -errno;
    }
    /* The program installed its own between the two calls: it keeps it. */
    if ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL) {
        sigaction(signo, &old, NULL);
        return 0;
    }
    return 1;
}

int ms_platform_signal_thread(pid_t tid, int signo)
{
    int saved = errno;
    int rc = syscall(SYS_tgkill, getpid(), tid, signo) < 0 ? -errno : 0;
    errno = saved;
    return rc;
}

int ms_platform_sigrtmax(void)
{
    return SIGRTMAX;
}

long ms_platform_dirents(int fd, void *buf, size_t len)
{
    long got = syscall(SYS_getdents64, fd, buf, len);
    return got < 0 ? -errno : got;
}

int ms_platform_rename(const char *from, const char *to, int noreplace)
{
    if (noreplace) {
        if (syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0) {
            return 0;
        }
        if (errno != ENOSYS && errno != EINVAL) {
            return -errno;
        }
        /* Filesystems without RENAME_NOREPLACE: link fails on an existing name, like it. */
        if (link(from, to) < 0) {
            return -errno;
        }
        unlink(from);
        return 0;
    }
    return rename(from, to) < 0 ? -errno : 0;
}

void ms_platform_unlink(const char *path)
{
    unlink(path);
}

pid_t ms_platform_pid(void)
{
    return getpid();
}

pid_t ms_platform_ppid(void)
{
    return getppid();
}

pid_t ms_platform_tid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

static uint64_t platform_clock(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t ms_platform_realtime_ns(void)
{
    return platform_clock(CLOCK_REALTIME);
}

uint64_t ms_platform_monotonic_ns(void)
{
    return platform_clock(CLOCK_MONOTONIC);
}

int ms_platform_exe_path(char *buf, size_t size)
{
    ssize_t n = readlink("/proc/self/exe", buf, size - 1);
    if (n < 0) {
        return -errno;
    }
    buf[n] = '\0';
    return (int)n;
}

int ms_platform_rss(uint64_t *bytes)
{
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) {
        return -EIO;
    }
    buf[n] = '\0';
    /* "size resident shared text lib data dt", in pages */
    const char *p = strchr(buf, ' ');
    if (!p || p[1] < '0' || p[1] > '9') {
        return -EIO;
    }
    uint64_t pages = 0;
    for (p++; *p >= '0' && *p <= '9'; p++) {
        pages = pages * 10 + (uint64_t)(*p - '0');
    }
    *bytes = pages * (uint64_t)sysconf(_SC_PAGESIZE);
    return 0;
}

int ms_platform_cwd(char *buf, size_t size)
{
    if (!getcwd(buf, size)) {
        return -errno;
    }
    return (int)strlen(buf);
}

void ms_platform_yield(void)
{
    sched_yield();
}

/* The helper's wake-up is a semaphore, not a pipe: an fd would be the program's to close, reuse or dup2
 * over, and a signal handler must never write into a file that is no longer ours. */
static sem_t platform_wake;

void ms_platform_wake_reset(void)
{
    sem_init(&platform_wake, 0, 0);
}

void ms_platform_wake_post(void)
{
    int saved = errno;
    sem_post(&platform_wake); /* async-signal-safe; EOVERFLOW means a wake-up is already pending */
    errno = saved;
}

int ms_platform_wake_wait(int64_t timeout_ms)
{
    struct timespec ts;
    int rc;
    if (timeout_ms < 0) {
        while ((rc = sem_wait(&platform_wake)) < 0 && errno == EINTR) {
        }
    } else {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += (time_t)(timeout_ms / 1000);
        ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        while ((rc = sem_clockwait(&platform_wake, CLOCK_MONOTONIC, &ts)) < 0 && errno == EINTR) {
        }
    }
    if (rc < 0) {
        return errno == ETIMEDOUT ? 0 : -errno;
    }
    while (sem_trywait(&platform_wake) == 0) { /* signals that came together make one snapshot */
    }
    return 1;
}

int ms_platform_on_signal(int signo, void (*handler)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    return sigaction(signo, &sa, NULL) < 0 ? -errno : 0;
}

int ms_platform_thread(void *(*fn)(void *), void *arg)
{
    sigset_t all, old;
    pthread_t t;
    pthread_attr_t attr;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    int rc = pthread_create(&t, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return -rc;
}

int ms_platform_cancel_off(void)
{
    int old = PTHREAD_CANCEL_ENABLE;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    return old;
}

void ms_platform_cancel_restore(int previous)
{
    int ignored;
    pthread_setcancelstate(previous, &ignored);
}

void ms_platform_write_signals_block(struct ms_platform_sigs *s)
{
    sigset_t quiet, pending;
    stack_t alt;
    if (sigaltstack(NULL, &alt) == 0 && (alt.ss_flags & SS_ONSTACK)) {
        sigfillset(&quiet);
    } else {
        sigemptyset(&quiet);
        sigaddset(&quiet, SIGXFSZ);
        sigaddset(&quiet, SIGPIPE);
    }
    pthread_sigmask(SIG_BLOCK, &quiet, &s->old);
    sigpending(&pending);
    s->had_xfsz = sigismember(&pending, SIGXFSZ) == 1;
    s->had_pipe = sigismember(&pending, SIGPIPE) == 1;
}

void ms_platform_write_signals_restore(const struct ms_platform_sigs *s)
{
    /* Our writes left these pending (EFBIG, EPIPE came back as errors): take them before unblocking,
     * unless the program had one pending already. */
    sigset_t ours;
    const struct timespec zero = {0, 0};
    sigemptyset(&ours);
    if (!s->had_xfsz) {
        sigaddset(&ours, SIGXFSZ);
    }
    if (!s->had_pipe) {
        sigaddset(&ours, SIGPIPE);
    }
    int saved = errno;
    while (sigtimedwait(&ours, NULL, &zero) > 0) {
    }
    errno = saved;
    pthread_sigmask(SIG_SETMASK, &s->old, NULL);
}

int ms_platform_random(void *buf, size_t len)
{
    long n = syscall(SYS_getrandom, buf, len, 0x0001 /* GRND_NONBLOCK */);
    if (n == (long)len) {
        return 0;
    }
    /* No entropy yet (early boot) or no getrandom: unpredictable enough for a name retried on EEXIST. */
    uint64_t x = ms_platform_monotonic_ns() ^ ((uint64_t)ms_platform_tid() << 32) ^ (uintptr_t)buf;
    unsigned char *p = buf;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (unsigned char)x;
    }
    return 0;
}

void ms_platform_stderr(const char *msg, size_t len)
{
    int saved = errno;
    (void)ms_platform_write_all(2, msg, len);
    errno = saved;
}

void ms_platform_exit_group(int status)
{
    for (;;) {
        syscall(SYS_exit_group, status);
    }
}

void ms_platform_abort(const char *msg)
{
    static const char prefix[] = "memsnap: fatal: ";
    ms_platform_stderr(prefix, sizeof prefix - 1);
    ms_platform_stderr(msg, strlen(msg));
    ms_platform_stderr("\n", 1);
    abort();
}
