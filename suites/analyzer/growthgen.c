/* growthgen SHAPES NAME OUTDIR: write the snapshot series of one growth shape (fixtures/growth_shapes.txt)
 * as OUTDIR/NAME.<i>.snap, one site per SITE line; prints the files in time order. Exit 2 on bad input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapgen.h"

#define GG_MAX_SITES 8
#define GG_MAX_SNAPS 64

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: growthgen SHAPES NAME OUTDIR\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "r");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    static unsigned long long live[GG_MAX_SITES][GG_MAX_SNAPS];
    int nsites = 0, nsnaps = -1, exit_at = -1;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        char *save, *tok = strtok_r(line, " \t\n", &save);
        if (!tok || *tok == '#' || strcmp(tok, argv[2]) != 0)
            continue;
        if (nsites == GG_MAX_SITES || !strtok_r(NULL, " \t\n", &save) || !strtok_r(NULL, " \t\n", &save)) {
            fprintf(stderr, "%s: shape %s: bad line\n", argv[1], argv[2]);
            return 2;
        }
        int n = 0;
        while ((tok = strtok_r(NULL, " \t\n", &save)) && n < GG_MAX_SNAPS) {
            if (*tok == '!') {
                exit_at = n;
                tok++;
            }
            live[nsites][n++] = strtoull(tok, NULL, 10) * 1024;
        }
        if (nsnaps >= 0 && n != nsnaps) {
            fprintf(stderr, "%s: shape %s: sites with different lengths\n", argv[1], argv[2]);
            return 2;
        }
        nsnaps = n;
        nsites++;
    }
    fclose(f);
    if (nsites == 0) {
        fprintf(stderr, "%s: no shape %s\n", argv[1], argv[2]);
        return 2;
    }
    for (int i = 0; i < nsnaps; i++) {
        struct snapgen *g = snapgen_new();
        snapgen_info(g, 4242, i == exit_at ? MS_FMT_TRIGGER_EXIT : MS_FMT_TRIGGER_INTERVAL, "/nonexistent/app", "");
        snapgen_time(g, 1700000000000000000ull + (uint64_t)i * 1000000000u, (uint64_t)i * 1000000000u, (uint32_t)i);
        snapgen_module(g, "/nonexistent/app", 0x400000, 0x10000, NULL, 0);
        for (int s = 0; s < nsites; s++) {
            struct ms_fmt_frame fr = {0, 0, 0x100 + 0x10 * (uint64_t)s};
            uint32_t st = snapgen_stack(g, &fr, 1, 0);
            uint64_t bytes = live[s][i];
            snapgen_site(g, st, bytes, bytes / 64, bytes + 64, bytes / 64 + 1);
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.%d.snap", argv[3], argv[2], i);
        if (snapgen_write(g, path) != 0) {
            perror(path);
            return 2;
        }
        snapgen_free(g);
        printf("%s\n", path);
    }
    return 0;
}
