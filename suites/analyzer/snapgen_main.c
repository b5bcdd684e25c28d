/* snapgen NAME OUT: write one of the named test snapshots (valid or hostile) to OUT; snapgen --list.
 * snapgen deep DEPTH N OUT: a valid snapshot of N distinct stacks of DEPTH frames each (raw addresses).
 * snapgen badutf8 OUT: a valid snapshot whose module paths are not UTF-8, six sites in them.
 * snapgen bigu64 OUT: a valid snapshot whose module base, frame offset, sizes and counts are above INT64_MAX,
 * and whose module path is U+FDD0 then "42". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapgen.h"

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (const char *const *n = snapgen_names; *n; n++) {
            size_t len;
            const char *expect;
            unsigned char *b = snapgen_named(*n, &len, &expect);
            printf("%s\t%s\n", *n, expect ? expect : "");
            free(b);
        }
        return 0;
    }
    if (argc == 5 && strcmp(argv[1], "deep") == 0) {
        struct snapgen *g = snapgen_new();
        unsigned depth = (unsigned)atoi(argv[2]), n = (unsigned)atoi(argv[3]);
        struct ms_fmt_frame *fr = calloc(depth ? depth : 1, sizeof *fr);
        snapgen_info(g, 1, MS_FMT_TRIGGER_API, "/nonexistent/deep", "deep");
        for (unsigned i = 0; fr && i < n; i++) {
            for (unsigned j = 0; j < depth; j++)
                fr[j] = (struct ms_fmt_frame){MS_FMT_MODULE_NONE, 0, 0x100000u + (uint64_t)i * depth + j};
            snapgen_site(g, snapgen_stack(g, fr, (uint16_t)depth, 0), 1000 + i, 1, 1000 + i, 1);
        }
        int rc = fr ? snapgen_write(g, argv[4]) : -1;
        free(fr);
        snapgen_free(g);
        return rc == 0 ? 0 : 1;
    }
    if (argc == 3 && strcmp(argv[1], "badutf8") == 0) {
        struct snapgen *g = snapgen_new();
        snapgen_info(g, 1, MS_FMT_TRIGGER_API, "/nonexistent/caf\xe9", "latin-1");
        snapgen_module(g, "/nonexistent/caf\xe9/app", 0x555500000000ull, 0x4000, NULL, 0);
        snapgen_module(g, "/nonexistent/lib\xff\xfe.so", 0x7f0000000000ull, 0x10000, NULL, 0);
        for (uint32_t i = 0; i < 6; i++) {
            struct ms_fmt_frame f = {i % 2, 0, 0x1000 + 0x40 * i};
            snapgen_site(g, snapgen_stack(g, &f, 1, 0), 100 + i, 1, 100 + i, 1);
        }
        int rc = snapgen_write(g, argv[2]);
        snapgen_free(g);
        return rc == 0 ? 0 : 1;
    }
    if (argc == 3 && strcmp(argv[1], "bigu64") == 0) {
        struct snapgen *g = snapgen_new();
        snapgen_info(g, 1, MS_FMT_TRIGGER_API, "/nonexistent/big", "big");
        snapgen_module(g, "\xef\xb7\x90" "42", 0xfffffffffff00000ull, 0x10000, NULL, 0);
        struct ms_fmt_frame f = {MS_FMT_MODULE_NONE, 0, 0xffffffffffffff00ull};
        snapgen_site(g, snapgen_stack(g, &f, 1, 0), 0x8000000000000001ull, 0x8000000000000000ull,
                     0xfffffffffffffffeull, 0xffffffffffffffffull);
        int rc = snapgen_write(g, argv[2]);
        snapgen_free(g);
        return rc == 0 ? 0 : 1;
    }
    if (argc != 3) {
        fprintf(stderr, "usage: snapgen NAME OUT | snapgen --list\n");
        return 2;
    }
    size_t len;
    const char *expect;
    unsigned char *b = snapgen_named(argv[1], &len, &expect);
    if (!b) {
        fprintf(stderr, "snapgen: unknown name %s\n", argv[1]);
        return 2;
    }
    int rc = snapgen_write_buf(argv[2], b, len);
    free(b);
    return rc == 0 ? 0 : 1;
}
