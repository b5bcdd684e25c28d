/* A program with known allocations, run under the preload by the trigger tests.
 *   fixture leak                  3 blocks of 777 bytes never freed, then return from main
 *   fixture _exit CODE            the same, then _exit(CODE)
 *   fixture signal FILE           the same, raise(SIGUSR2), wait (10 s at most) until FILE exists
 *   fixture sleep MS              the same, then sleep
 *   fixture fork                  the same; a child adds 2 blocks of 555 and exits; the parent waits
 *   fixture spawn PROG ARGS...    the same; runs PROG in a child (fork + exec) and waits for it
 *   fixture env                   prints LD_PRELOAD as the program sees it
 *   fixture many N SIZE           the 3 blocks, then N blocks of SIZE bytes never freed
 *   fixture forksignal DIR        a fork child allocates, raises SIGUSR2 and waits (10 s at most) for
 *                                 DIR/sig.<its pid>.0.snap; exits 3 when it does not come
 *   fixture dlopen LIB            the 3 blocks; loads LIB, leaks 3 blocks of 999 from its plugin_leak,
 *                                 unloads it, loads and unloads it again
 *   fixture stress                4 threads churn (with frees of each other's blocks) while the main
 *                                 thread forks 20 children that allocate and exit and raises SIGUSR2
 *   fixture crash                 the 3 blocks, then a null pointer write (alarm(5) ends a hang)
 *   fixture closefds FILE         closes every fd from 3 up, opens FILE (must get fd 3), raises SIGUSR2,
 *                                 waits 300 ms, writes "hello" into it; exits 5 on a wrong fd or content
 *   fixture fsize BYTES CODE      prints a line (buffered), limits files to BYTES, exit(CODE)
 *   fixture cancel N              N times: a thread loops memsnap_snapshot(NULL) and is cancelled;
 *                                 then the main thread snapshots (alarm(20) ends a deadlock)
 *   fixture huge                  malloc(2 TiB) and free it (under an allocator that grants it): exits 0
 *                                 when the live bytes went up by 1 TiB - 1 and back to where they were
 *   fixture secure LIB            dlopens LIB (the preload: a setuid program's loader ignores LD_PRELOAD)
 *   fixture tmpnames PATH         pre-creates PATH.tmp.<pid>.0..63, then memsnap_snapshot(PATH); exits 0
 *                                 when it was written
 *   fixture smallstack exit|_exit CODE
 *                                 the 3 blocks, then a thread on a PTHREAD_STACK_MIN stack calls exit or
 *                                 _exit(CODE) (alarm(20) ends a hang)
 *   fixture altcrash              the 3 blocks, then a null pointer write; the SIGSEGV handler runs on a
 *                                 SIGSTKSZ alternate stack and calls _exit(2)
 *   fixture fanout DEPTH          the 3 blocks; then through each of 2^DEPTH call paths, one function
 *                                 calls malloc from 50 call sites, site k allocating (and freeing) one
 *                                 block of 10000 + k bytes
 *   fixture vmsize                the 3 blocks; prints the VmSize line of /proc/self/status
 *   fixture vmpeak N SIZE         the 3 blocks, then N blocks of SIZE bytes never freed (exits 4 when one
 *                                 is refused); prints the VmPeak line of /proc/self/status */
#include <dirent.h>
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <memsnap.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KEEP(p) __asm__ volatile("" : : "r"(p) : "memory")

static void *leaked[8];

/* A null pointer the compiler cannot see through. */
__attribute__((noinline)) static uintptr_t fixture_null(void)
{
    uintptr_t p = 0;
    __asm__ volatile("" : "+r"(p));
    return p;
}

__attribute__((noinline)) static void fixture_leak(int n, size_t size, int at)
{
    for (int i = 0; i < n; i++) {
        leaked[at + i] = malloc(size);
        KEEP(leaked[at + i]);
    }
}

#define STRESS_SLOTS 1024
static void *stress_slots[STRESS_SLOTS];
static int stress_stop;

/* Swaps blocks through a shared array, so blocks are freed by threads that did not allocate them. */
static void *fixture_stress_thread(void *arg)
{
    unsigned x = (unsigned)(uintptr_t)arg * 2654435761u + 1;
    while (!__atomic_load_n(&stress_stop, __ATOMIC_RELAXED)) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        void *p = (x & 7) == 0 ? calloc(1 + x % 64, 8) : malloc(1 + x % 4096);
        if ((x & 15) == 1) {
            p = realloc(p, 1 + (x >> 8) % 8192);
        }
        void *old = __atomic_exchange_n(&stress_slots[x % STRESS_SLOTS], p, __ATOMIC_ACQ_REL);
        free(old);
    }
    return NULL;
}

static void fixture_sleep_ms(long ms);

static int fixture_stress(void)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        pthread_create(&t[i], NULL, fixture_stress_thread, (void *)(uintptr_t)(i + 1));
    }
    int bad = 0;
    for (int i = 0; i < 20; i++) {
        raise(SIGUSR2);
        pid_t pid = fork();
        if (pid == 0) {
            for (int k = 0; k < 1000; k++) {
                free(malloc((size_t)k + 1));
            }
            exit(0);
        }
        int status;
        waitpid(pid, &status, 0);
        bad |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
        fixture_sleep_ms(20);
    }
    __atomic_store_n(&stress_stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
    }
    for (int i = 0; i < STRESS_SLOTS; i++) {
        free(stress_slots[i]);
    }
    return bad ? 5 : 0;
}

static void fixture_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static int fixture_closefds(const char *file)
{
    for (int fd = 3; fd < 1024; fd++) { /* close_range(3, ~0U, 0), without needing its wrapper */
        close(fd);
    }
    int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd != 3) {
        fprintf(stderr, "fixture: got fd %d, expected 3\n", fd);
        return 5;
    }
    raise(SIGUSR2);
    fixture_sleep_ms(300);
    if (write(fd, "hello", 5) != 5 || lseek(fd, 0, SEEK_SET) != 0) {
        return 5;
    }
    char buf[16] = {0};
    ssize_t n = read(fd, buf, sizeof buf);
    if (n != 5 || memcmp(buf, "hello", 5) != 0) {
        fprintf(stderr, "fixture: read back %zd bytes\n", n);
        return 5;
    }
    return close(fd) == 0 ? 0 : 5;
}

static void *fixture_snapshot_loop(void *arg)
{
    (void)arg;
    for (;;) {
        memsnap_snapshot(NULL);
        pthread_testcancel();
    }
    return NULL;
}

static int fixture_cancel(int n)
{
    alarm(20);
    for (int i = 0; i < n; i++) {
        pthread_t t;
        pthread_create(&t, NULL, fixture_snapshot_loop, NULL);
        fixture_sleep_ms(1 + i % 7);
        pthread_cancel(t);
        pthread_join(t, NULL);
    }
    return memsnap_snapshot(NULL) == 0 ? 0 : 5;
}

static int fixture_huge(void)
{
    struct memsnap_stats before, during, after;
    if (memsnap_stats(&before) != 0) {
        return 6;
    }
    void *p = malloc((UINT64_C(1) << 41) + 12345);
    if (!p) {
        return 6;
    }
    memsnap_stats(&during);
    free(p);
    memsnap_stats(&after);
    if (during.current_bytes - before.current_bytes != (UINT64_C(1) << 40) - 1 ||
        after.current_bytes != before.current_bytes) {
        fprintf(stderr, "fixture: live bytes %llu, %llu, %llu\n", (unsigned long long)before.current_bytes,
                (unsigned long long)during.current_bytes, (unsigned long long)after.current_bytes);
        return 5;
    }
    return 0;
}

/* Names in dir, summed as a fingerprint: it changes when a file comes or goes. */
static unsigned long fixture_dir_print(const char *dir)
{
    unsigned long h = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        for (const char *c = e->d_name; *c; c++) {
            h = h * 31 + (unsigned char)*c;
        }
        h += 0x9e3779b9ul;
    }
    if (d) {
        closedir(d);
    }
    return h;
}

/* Until no snapshot has come or gone in dir for half a second (at most 20 s). */
static void fixture_wait_quiet(const char *dir)
{
    unsigned long was = fixture_dir_print(dir);
    for (int quiet = 0, waited = 0; quiet < 50 && waited < 2000; waited++) {
        fixture_sleep_ms(10);
        unsigned long now = fixture_dir_print(dir);
        quiet = now == was ? quiet + 1 : 0;
        was = now;
    }
}

/* Grows the heap in 64 KiB blocks to a quarter of mib MiB, then to mib MiB, each time staying there until
 * the snapshots settle, then frees it all and ends with a smaller heap. */
static int fixture_peak(const char *dir, long mib)
{
    enum { BLOCK = 64 * 1024 };
    long n = mib * 16;
    void **blocks = calloc((size_t)n, sizeof *blocks);
    if (!blocks) {
        return 2;
    }
    for (long i = 0; i < n; i++) {
        blocks[i] = malloc(BLOCK);
        KEEP(blocks[i]);
        if (i + 1 == n / 4 || i + 1 == n) {
            fixture_wait_quiet(dir);
        }
    }
    for (long i = 0; i < n; i++) {
        free(blocks[i]);
    }
    free(blocks);
    void *rest = malloc(BLOCK);
    KEEP(rest);
    free(rest);
    return 0;
}

/* Temporary allocations (freed before the thread's next allocation), heaptrack's definition: 100 at the
 * first line; of each pair below only the second block is one (the first sees an allocation before its
 * free): 50 more at its line. */
static void fixture_temps(void)
{
    for (int i = 0; i < 100; i++) {
        char *p = malloc(32); /* temporary */
        KEEP(p);
        free(p);
    }
    for (int i = 0; i < 50; i++) {
        char *a = malloc(16); /* not temporary */
        char *b = malloc(24); /* temporary */
        KEEP(a);
        KEEP(b);
        free(b);
        free(a);
    }
}

static int fixture_tmpnames(const char *path)
{
    char name[4096];
    for (int i = 0; i < 64; i++) {
        snprintf(name, sizeof name, "%s.tmp.%d.%d", path, (int)getpid(), i);
        close(open(name, O_WRONLY | O_CREAT | O_EXCL, 0600));
    }
    int rc = memsnap_snapshot(path);
    if (rc != 0) {
        fprintf(stderr, "fixture: memsnap_snapshot: %d\n", rc);
    }
    return rc == 0 ? 0 : 5;
}

__attribute__((noinline)) static void fixture_fan_leaf(size_t size)
{
    void *p = malloc(size);
    KEEP(p);
    free(p);
}

#define FIXTURE_FAN10(k)                                                                                   \
    fixture_fan_leaf(k), fixture_fan_leaf(k + 1), fixture_fan_leaf(k + 2), fixture_fan_leaf(k + 3),         \
        fixture_fan_leaf(k + 4), fixture_fan_leaf(k + 5), fixture_fan_leaf(k + 6), fixture_fan_leaf(k + 7), \
        fixture_fan_leaf(k + 8), fixture_fan_leaf(k + 9)

/* One node of the stack tree with 50 children. */
__attribute__((noinline)) static void fixture_fan(void)
{
    FIXTURE_FAN10(10000);
    FIXTURE_FAN10(10010);
    FIXTURE_FAN10(10020);
    FIXTURE_FAN10(10030);
    FIXTURE_FAN10(10040);
}

__attribute__((noinline)) static void fixture_fan_paths(int depth)
{
    if (depth == 0) {
        fixture_fan();
    } else {
        fixture_fan_paths(depth - 1);
        fixture_fan_paths(depth - 1);
    }
    KEEP(depth);
}

static int fixture_exit_code;
static int fixture_exit_underscore;

static void *fixture_exit_thread(void *arg)
{
    (void)arg;
    if (fixture_exit_underscore) {
        _exit(fixture_exit_code);
    }
    exit(fixture_exit_code);
}

static int fixture_smallstack(const char *how, int code)
{
    alarm(20);
    fixture_exit_code = code;
    fixture_exit_underscore = !strcmp(how, "_exit");
    pthread_attr_t attr;
    pthread_t t;
    pthread_attr_init(&attr);
    if (pthread_attr_setstacksize(&attr, PTHREAD_STACK_MIN) != 0 ||
        pthread_create(&t, &attr, fixture_exit_thread, NULL) != 0) {
        return 6;
    }
    pthread_join(t, NULL);
    return 6; /* never: the thread exits the process */
}

static void fixture_on_segv(int sig)
{
    (void)sig;
    _exit(2);
}

static int fixture_altcrash(void)
{
    alarm(5);
    stack_t ss = {.ss_sp = malloc(SIGSTKSZ), .ss_size = SIGSTKSZ, .ss_flags = 0};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fixture_on_segv;
    sa.sa_flags = SA_ONSTACK;
    if (!ss.ss_sp || sigaltstack(&ss, NULL) != 0 || sigaction(SIGSEGV, &sa, NULL) != 0) {
        return 6;
    }
    *(volatile int *)(uintptr_t)fixture_null() = 1;
    return 6;
}

/* Prints the line of /proc/self/status that starts with `key`. */
static int fixture_status_line(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        if (!strncmp(line, key, strlen(key))) {
            fputs(line, stdout);
        }
    }
    return f && fclose(f) == 0 ? 0 : 6;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: fixture MODE [ARGS]\n");
        return 2;
    }
    const char *mode = argv[1];
    if (!strcmp(mode, "env")) {
        const char *p = getenv("LD_PRELOAD");
        printf("LD_PRELOAD=%s\n", p ? p : "");
        return 0;
    }
    fixture_leak(3, 777, 0);
    void *tmp = malloc(4000);
    KEEP(tmp);
    free(tmp);
    if (!strcmp(mode, "leak")) {
        return 0;
    }
    if (!strcmp(mode, "forksignal") && argc > 2) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            char path[4096];
            struct stat st;
            fixture_leak(2, 555, 3);
            snprintf(path, sizeof path, "%s/sig.%d.0.snap", argv[2], (int)getpid());
            raise(SIGUSR2);
            for (int i = 0; i < 1000 && stat(path, &st) != 0; i++) {
                fixture_sleep_ms(10);
            }
            _exit(stat(path, &st) == 0 ? 0 : 3);
        }
        int status;
        waitpid(pid, &status, 0);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 4;
    }
    if (!strcmp(mode, "dlopen") && argc > 2) {
        for (int round = 0; round < 2; round++) {
            void *h = dlopen(argv[2], RTLD_NOW);
            if (!h) {
                fprintf(stderr, "fixture: %s\n", dlerror());
                return 6;
            }
            void *(*leak)(int);
            *(void **)&leak = dlsym(h, "plugin_leak");
            for (int i = 0; round == 0 && i < 3; i++) {
                KEEP(leak(i));
            }
            if (dlclose(h) != 0) {
                return 7;
            }
        }
        return 0;
    }
    if (!strcmp(mode, "stress")) {
        return fixture_stress();
    }
    if (!strcmp(mode, "crash")) {
        alarm(5);
        *(volatile int *)(uintptr_t)fixture_null() = 1;
        return 0;
    }
    if (!strcmp(mode, "closefds") && argc > 2) {
        return fixture_closefds(argv[2]);
    }
    if (!strcmp(mode, "fsize") && argc > 3) {
        struct rlimit rl = {(rlim_t)atol(argv[2]), (rlim_t)atol(argv[2])};
        printf("buffered output of the program\n");
        setrlimit(RLIMIT_FSIZE, &rl);
        exit(atoi(argv[3]));
    }
    if (!strcmp(mode, "cancel") && argc > 2) {
        return fixture_cancel(atoi(argv[2]));
    }
    if (!strcmp(mode, "secure") && argc > 2) {
        if (!dlopen(argv[2], RTLD_NOW)) {
            fprintf(stderr, "fixture: %s\n", dlerror());
            return 6;
        }
        return 0;
    }
    if (!strcmp(mode, "huge")) {
        return fixture_huge();
    }
    if (!strcmp(mode, "smallstack") && argc > 3) {
        return fixture_smallstack(argv[2], atoi(argv[3]));
    }
    if (!strcmp(mode, "fanout") && argc > 2) {
        fixture_fan_paths(atoi(argv[2]));
        return 0;
    }
    if (!strcmp(mode, "vmsize")) {
        return fixture_status_line("VmSize:");
    }
    if (!strcmp(mode, "vmpeak") && argc > 3) {
        long n = atol(argv[2]);
        size_t size = (size_t)atol(argv[3]);
        for (long i = 0; i < n; i++) {
            void *p = malloc(size);
            if (!p) {
                return 4;
            }
            KEEP(p);
        }
        return fixture_status_line("VmPeak:");
    }
    if (!strcmp(mode, "altcrash")) {
        return fixture_altcrash();
    }
    if (!strcmp(mode, "tmpnames") && argc > 2) {
        return fixture_tmpnames(argv[2]);
    }
    if (!strcmp(mode, "many") && argc > 3) {
        long n = atol(argv[2]);
        size_t size = (size_t)atol(argv[3]);
        for (long i = 0; i < n; i++) {
            void *p = malloc(size);
            KEEP(p);
        }
        return 0;
    }
    if (!strcmp(mode, "_exit") && argc > 2) {
        _exit(atoi(argv[2]));
    }
    if (!strcmp(mode, "signal") && argc > 2) {
        struct stat st;
        raise(SIGUSR2);
        for (int i = 0; i < 1000 && stat(argv[2], &st) != 0; i++) {
            fixture_sleep_ms(10);
        }
        return stat(argv[2], &st) == 0 ? 0 : 3;
    }
    if (!strcmp(mode, "temps")) {
        fixture_temps();
        return 0;
    }
    if (!strcmp(mode, "peak") && argc > 3) {
        return fixture_peak(argv[2], atol(argv[3]));
    }
    if (!strcmp(mode, "sleep") && argc > 2) {
        fixture_sleep_ms(atol(argv[2]));
        return 0;
    }
    if (!strcmp(mode, "fork")) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            fixture_leak(2, 555, 3);
            exit(0);
        }
        int status;
        waitpid(pid, &status, 0);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 4;
    }
    if (!strcmp(mode, "spawn") && argc > 2) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            execv(argv[2], argv + 2);
            _exit(127);
        }
        int status;
        waitpid(pid, &status, 0);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 4;
    }
    fprintf(stderr, "fixture: unknown mode %s\n", mode);
    return 2;
}
