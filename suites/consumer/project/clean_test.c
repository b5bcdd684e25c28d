/* Frees what it allocates; under the profiler, <memsnap.h> sees the allocation come and go. */
#include <memsnap.h>

#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    struct memsnap_stats before, after;
    int profiled = memsnap_stats(&before) == 0;
    char *p = malloc(4096);
    if (!p)
        return 1;
    p[0] = 1;
    free(p);
    if (profiled) {
        if (memsnap_stats(&after) != 0 || after.alloc_count < before.alloc_count + 1) {
            fprintf(stderr, "clean: the allocation was not counted\n");
            return 1;
        }
        printf("clean: profiled, %llu allocations so far\n", (unsigned long long)after.alloc_count);
    } else {
        printf("clean: not profiled (memsnap_active() = %d)\n", memsnap_active());
    }
    return 0;
}
