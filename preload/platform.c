/* The preload's only door to the operating system. Hooks call nothing else that may enter the kernel,
 * so the cost and the async-signal-safety of each OS call can be reviewed in one place. */
#include "preload.h"

#include <errno.h>
#include <pthread.h>

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
