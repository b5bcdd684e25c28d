/* MEMSNAP_LEAK_EXITCODE: LeakSanitizer's `exitcode` for plain LD_PRELOAD users. When the at-exit scan finds
 * memory definitely or indirectly lost, one line on stderr and the process exits with that status. */
#include "preload.h"

#include <dlfcn.h>
#include <stdio.h>

static struct {
    int known; /* the exit scan ran */
    uint64_t lost_bytes, lost_count, indirect_bytes, indirect_count;
} leakexit;

void ms_leakexit_note(const struct ms_reach *r)
{
    leakexit.known = 1;
    leakexit.lost_bytes = leakexit.lost_count = leakexit.indirect_bytes = leakexit.indirect_count = 0;
    for (uint32_t id = 0; id < r->nstacks; id++) {
        leakexit.lost_bytes += r->sites[id].lost_bytes;
        leakexit.lost_count += r->sites[id].lost_count;
        leakexit.indirect_bytes += r->sites[id].indirect_bytes;
        leakexit.indirect_count += r->sites[id].indirect_count;
    }
}

void ms_leakexit_finish(int flush_stdio)
{
    if (!ms_config.leak_exitcode || !leakexit.known || !(leakexit.lost_count | leakexit.indirect_count)) {
        return;
    }
    char lb[24], lc[24], ib[24], ic[24], code[24];
    ms_text_u64(lb, leakexit.lost_bytes);
    ms_text_u64(lc, leakexit.lost_count);
    ms_text_u64(ib, leakexit.indirect_bytes);
    ms_text_u64(ic, leakexit.indirect_count);
    ms_text_u64(code, (uint64_t)ms_config.leak_exitcode);
    if (flush_stdio) {
        /* From the destructor, exit() has not flushed stdio yet: the program's output comes first. Not a
         * hook, so looking stdio up here is safe; the preload itself imports none. */
        int (*flush)(FILE *) = (int (*)(FILE *))dlsym(RTLD_DEFAULT, "fflush");
        if (flush) {
            flush(NULL);
        }
    }
    ms_text_warn("leaks at exit: ", lb, " B in ", lc, " blocks definitely lost, ", ib, " B in ", ic,
                 " blocks indirectly lost (`memsnap leaks` on the exit snapshot shows their stacks); exit status ",
                 code, " (MEMSNAP_LEAK_EXITCODE)", (const char *)0);
    ms_platform_exit_group(ms_config.leak_exitcode);
}
