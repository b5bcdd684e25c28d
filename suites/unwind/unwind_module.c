/* A module the unwinder tests load and unload: built twice (MODULE_VARIANT 1 and 2) with the same code but
 * different frame sizes, so that the second one, loaded where the first was, has its return addresses
 * where the first had them but other rules for them: the cache must have forgotten the first. */
#include "unwind_probe.h"

#include <string.h>

static volatile int module_sink;

__attribute__((noinline)) static int module_inner(int depth, void (*capture)(struct probe *), struct probe *p)
{
    volatile char pad[MODULE_VARIANT * 720];
    memset((char *)pad, depth, sizeof pad);
    module_sink += pad[depth % 16];
    if (depth > 0) {
        int r = module_inner(depth - 1, capture, p);
        module_sink += r;
        return r;
    }
    capture(p);
    return p->n;
}

__attribute__((visibility("default"))) int unwind_module_entry(int depth, void (*capture)(struct probe *),
                                                               struct probe *p);

int unwind_module_entry(int depth, void (*capture)(struct probe *), struct probe *p)
{
    int r = module_inner(depth, capture, p);
    module_sink += r;
    return r;
}
