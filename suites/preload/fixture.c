/* A program with known allocations, run under the preload by the trigger tests.
 *   fixture leak                  3 blocks of 777 bytes never freed, then return from main
 *   fixture _exit CODE            the same, then _exit(CODE)
 *   fixture signal FILE           the same, raise(SIGUSR2), wait (10 s at most) until FILE exists
 *   fixture sleep MS              the same, then sleep
 *   fixture fork                  the same; a child adds 2 blocks of 555 and exits; the parent waits
 *   fixture spawn PROG ARGS...    the same; runs PROG in a child (fork + exec) and waits for it
 *   fixture env                   prints LD_PRELOAD as the program sees it
 *   fixture many N SIZE           the 3 blocks, then N blocks of SIZE bytes never freed */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KEEP(p) __asm__ volatile("" : : "r"(p) : "memory")

static void *leaked[8];

__attribute__((noinline)) static void fixture_leak(int n, size_t size, int at)
{
    for (int i = 0; i < n; i++) {
        leaked[at + i] = malloc(size);
        KEEP(leaked[at + i]);
    }
}

static void fixture_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
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
