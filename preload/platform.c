/* The preload's only door to the operating system. Hooks call nothing else that may enter the kernel,
 * so the cost and the async-signal-safety of each OS call can be reviewed in one place. */
#include "preload.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h> /* rename */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
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

int ms_platform_pipe(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
        return -errno;
    }
    return 0;
}

void ms_platform_poke(int fd)
{
    int saved = errno;
    char c = 1;
    ssize_t n = write(fd, &c, 1);
    (void)n; /* a full pipe already holds a wake-up */
    errno = saved;
}

int ms_platform_wait(int fd, int64_t timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int n = poll(&pfd, 1, timeout_ms > INT32_MAX ? INT32_MAX : (int)timeout_ms);
    if (n < 0) {
        return -errno;
    }
    if (n == 0) {
        return 0;
    }
    char buf[64];
    while (read(fd, buf, sizeof buf) > 0) {
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
