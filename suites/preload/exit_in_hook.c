/* A signal handler that calls _exit while the program is inside malloc or free: the exit must not hang
 * (the interrupted hook may hold a lock the exit snapshot needs). Exits 3 from the handler. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static void on_alarm(int sig)
{
    (void)sig;
    _exit(3);
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 0}, {0, 2000 + (getpid() % 50) * 37}};
    setitimer(ITIMER_REAL, &it, NULL);
    static void *keep[4096];
    for (unsigned long i = 0;; i++) {
        free(keep[i % 4096]);
        keep[i % 4096] = malloc(16 + i % 200);
    }
}
