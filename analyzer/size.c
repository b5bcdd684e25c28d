/* Sizes the way tracemalloc prints them (Lib/tracemalloc.py _format_size), and size arguments. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "analyze.h"

const char *ms_size_format(char *buf, size_t len, double size, bool sign, bool exact)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    if (exact) {
        snprintf(buf, len, sign ? "%+.0f B" : "%.0f B", size);
        return buf;
    }
    double v = size;
    for (size_t i = 0; i < 5; i++) {
        if (fabs(v) < 100 && i != 0) {
            snprintf(buf, len, sign ? "%+.1f %s" : "%.1f %s", v, units[i]);
            return buf;
        }
        if (fabs(v) < 10 * 1024 || i == 4) {
            snprintf(buf, len, sign ? "%+.0f %s" : "%.0f %s", v, units[i]);
            return buf;
        }
        v /= 1024;
    }
    return buf;
}

bool ms_size_parse(const char *s, long long *out)
{
    char *end;
    while (isspace((unsigned char)*s))
        s++;
    if (!*s || *s == '-')
        return false;
    double v = strtod(s, &end);
    if (end == s || !isfinite(v) || v < 0)
        return false;
    while (isspace((unsigned char)*end))
        end++;
    double mult = 1;
    if (*end) {
        static const char units[] = "bkmgt";
        const char *u = strchr(units, tolower((unsigned char)*end));
        if (!u)
            return false;
        mult = ldexp(1, 10 * (int)(u - units));
        end++;
        if (u != units && (*end == 'i' || *end == 'I'))
            end++;
        if (u != units && (*end == 'b' || *end == 'B'))
            end++;
        if (*end)
            return false;
    }
    v *= mult;
    if (v > 9.2e18)
        return false;
    *out = (long long)llround(v);
    return true;
}
