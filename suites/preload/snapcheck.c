/* snapcheck FILE...: validates snapshots with the tests' own reader (magic, version, sizes, checksum,
 * every count against the bytes present). Exit 0 when all are valid, 1 otherwise, 2 on usage. */
#include <stdio.h>

#include "snapread.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: snapcheck FILE...\n");
        return 2;
    }
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        struct sr_snap s;
        char err[512];
        if (sr_load(argv[i], &s, err, sizeof err) != 0) {
            fprintf(stderr, "snapcheck: %s\n", err);
            bad = 1;
        } else if (!(s.seen & (1 << MS_FMT_SEC_STACKS | 1 << MS_FMT_SEC_STACK_TREE)) || !(s.seen & (1 << MS_FMT_SEC_SITES | 1 << MS_FMT_SEC_SITES_PACKED))) {
            fprintf(stderr, "snapcheck: %s: no STACKS or SITES section\n", argv[i]);
            bad = 1;
        }
        sr_free(&s);
    }
    return bad;
}
