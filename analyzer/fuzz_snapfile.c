/* libFuzzer target for the snapshot reader: any input must give MS_OK or a clean error, never a crash,
 * a hang or a huge allocation. The checksum is skipped so that mutations reach the section parsers. */
#include <stdint.h>
#include <stdlib.h>

#include "analyze.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t fuzz_snapfile_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ms_error err;
    struct ms_snap *s = NULL;
    for (unsigned flags = 0; flags < 2; flags++) {
        if (ms_snapfile_parse(data, size, "fuzz", flags ? MS_SNAPFILE_NO_CHECKSUM : 0, &s, &err) == MS_OK) {
            /* Walk everything the reader promised is in range. */
            for (uint32_t i = 0; i < s->site_count; i++) {
                const struct ms_stack *st = &s->stacks[s->sites[i].stack];
                for (uint32_t j = 0; j < st->depth; j++)
                    if (st->frames[j].module != MS_FMT_MODULE_NONE)
                        fuzz_snapfile_sink += s->modules[st->frames[j].module].base;
            }
            ms_snapfile_free(s);
        }
    }
    return 0;
}
