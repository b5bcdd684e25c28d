/* A program with one planted leak and one allocation it frees: `memsnap leaks` on its at-exit snapshot
 * must report the planted line (marked below) and nothing from the freed one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Escapes to memory the compiler cannot see through, so no allocation is optimized away. */
static char *volatile leak_fixture_sink;

static __attribute__((noinline)) void leak_fixture_forget(const char *text)
{
    char *copy = malloc(strlen(text) + 1); /* PLANTED-LEAK */
    if (copy) {
        strcpy(copy, text);
    }
    leak_fixture_sink = copy; /* overwritten by the next call: the block is lost */
}

static __attribute__((noinline)) void leak_fixture_tidy(const char *text)
{
    char *copy = strdup(text);
    leak_fixture_sink = copy;
    free(copy);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 10;
    for (int i = 0; i < rounds; i++) {
        leak_fixture_forget("a transaction that nobody frees");
        leak_fixture_tidy("a transaction that is freed");
    }
    leak_fixture_sink = NULL;
    printf("leaked %d blocks\n", rounds);
    return 0;
}
