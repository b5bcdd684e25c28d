/* A library that the dlopen fixture loads, allocates from and unloads. */
#include <stdlib.h>

void *plugin_leak(int i);

void *plugin_leak(int i)
{
    void *p = malloc(999);
    __asm__ volatile("" : : "r"(p) : "memory"); /* no tail call: the frame must stay */
    return i >= 0 ? p : NULL;
}
