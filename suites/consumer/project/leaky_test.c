/* Passes on its own; leaks 512 bytes, so the memsnap gate fails it and names the line below. */
#include <stdlib.h>
#include <string.h>

static char *make_buffer(void)
{
    char *b = malloc(512); /* LEAK-LINE */
    if (b)
        memset(b, 'x', 512);
    return b;
}

int main(void)
{
    char *b = make_buffer();
    return b ? 0 : 1; /* b is dropped, never freed */
}
