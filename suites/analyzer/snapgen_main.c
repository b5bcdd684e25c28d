/* snapgen NAME OUT: write one of the named test snapshots (valid or hostile) to OUT; snapgen --list. */
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
