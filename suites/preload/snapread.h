/* A small, strict reader of .snap files for the preload's tests: independent of the analyzer's reader so
 * that the writer is checked against the format header, not against itself. */
#ifndef SNAPREAD_H
#define SNAPREAD_H

#include <stddef.h>
#include <stdint.h>

#include "memsnap/format.h"

struct sr_module {
    uint64_t base, size;
    char *path;
    uint32_t build_id_len;
    unsigned char build_id[64];
};

struct sr_stack {
    uint16_t depth, flags;
    const struct ms_fmt_frame *frames;
};

struct sr_snap {
    unsigned char *data;
    size_t size;
    struct ms_fmt_header header;
    struct ms_fmt_info info;
    char exe[4096];
    char label[4096];
    struct ms_fmt_totals totals;
    uint32_t module_count, stack_count, site_count, label_count;
    struct sr_module *modules;
    struct sr_stack *stacks;
    struct ms_fmt_site *sites;
    struct ms_fmt_frame *tree_frames; /* STACK_TREE files: the stacks' frames, laid out */
    int seen; /* bit per section type */
};

/* 0, or -1 with a message naming the problem in err. */
int sr_load(const char *path, struct sr_snap *out, char *err, size_t errlen);
void sr_free(struct sr_snap *s);

/* Runtime address of a frame (valid in the process that wrote the snapshot). */
uintptr_t sr_frame_address(const struct sr_snap *s, const struct ms_fmt_frame *f);

/* Sums the sites whose innermost frame lies in the function `fn` of this process (found with dladdr, so
 * the test binary is linked with -rdynamic). Returns the number of such stacks. */
int sr_sum_function(const struct sr_snap *s, const void *fn, struct ms_fmt_site *sum);

/* The same for the sites whose innermost nfns frames lie in fns[0], fns[1], ... in that order. */
int sr_sum_path(const struct sr_snap *s, const void *const *fns, int nfns, struct ms_fmt_site *sum);

#endif
