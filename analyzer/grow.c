/* The growable array every table of the analyzer uses: capacity doubles, so appends cost O(1) amortized. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analyze.h"

bool ms_grow(void *array, size_t *cap, size_t need, size_t size, size_t min)
{
    if (need <= *cap)
        return true;
    size_t ncap = *cap ? *cap : (min ? min : 1);
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return false;
        ncap *= 2;
    }
    if (ncap > SIZE_MAX / size)
        return false;
    /* `array` points at a T *: copied through memcpy, so that any T works without type punning. */
    void *p;
    memcpy(&p, array, sizeof p);
    void *np = realloc(p, ncap * size);
    if (!np)
        return false;
    memcpy(array, &np, sizeof np);
    *cap = ncap;
    return true;
}
