/* Python's repr(float) (float_repr_style 'short'): the shortest digit string that strtod() reads back as
 * the same double, nearest to it when several qualify; fixed notation for 1e-4 <= |x| < 1e16, else
 * exponent notation with at least two exponent digits. */
#include "processor.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The correctly rounded `prec` significant digits of |x| (prec <= 17) and their decimal exponent. */
static void repr_digits(double ax, int prec, char *dig, int *exp10)
{
    char tmp[40];
    snprintf(tmp, sizeof tmp, "%.*e", prec - 1, ax);
    /* tmp is "d.ddde+XX" or "de+XX" */
    const char *s = tmp;
    int n = 0;
    for (; *s && *s != 'e'; s++) {
        if (*s != '.')
            dig[n++] = *s;
    }
    dig[n] = '\0';
    *exp10 = atoi(s + 1);
}

static bool repr_roundtrips(double ax, const char *dig, int exp10)
{
    char tmp[48];
    snprintf(tmp, sizeof tmp, "%c.%se%d", dig[0], dig + 1, exp10);
    return strtod(tmp, NULL) == ax;
}

/* The next decimal up at the same precision; a carry out of the top digit moves the exponent. */
static void repr_increment(char *dig, int *exp10)
{
    size_t n = strlen(dig);
    for (size_t i = n; i-- > 0;) {
        if (dig[i] != '9') {
            dig[i]++;
            return;
        }
        dig[i] = '0';
    }
    dig[0] = '1';
    (*exp10)++;
}

/* At an exact power of two the gap below is half the gap above, so the nearest decimal may fall outside
 * the rounding interval while the one above it is inside: try that one too. */
static bool repr_find(double ax, int prec, char *dig, int *exp10)
{
    repr_digits(ax, prec, dig, exp10);
    if (repr_roundtrips(ax, dig, *exp10))
        return true;
    int e2;
    if (frexp(ax, &e2) != 0.5)
        return false;
    repr_increment(dig, exp10);
    return repr_roundtrips(ax, dig, *exp10);
}

size_t ms_repr_double(double x, char buf[MS_REPR_MAX])
{
    if (isnan(x))
        return (size_t)snprintf(buf, MS_REPR_MAX, "NaN");
    if (isinf(x))
        return (size_t)snprintf(buf, MS_REPR_MAX, "%s", x < 0 ? "-Infinity" : "Infinity");
    if (x == 0)
        return (size_t)snprintf(buf, MS_REPR_MAX, "%s", signbit(x) ? "-0.0" : "0.0");
    /* Below 2^53 every integer is a double, so its own digits are the shortest: the common case, fast. */
    if (fabs(x) < 9007199254740992.0 && x == trunc(x))
        return (size_t)snprintf(buf, MS_REPR_MAX, "%lld.0", (long long)x);

    double ax = fabs(x);
    char dig[24];
    int e;
    if (ax < DBL_MIN) {
        /* Subnormals carry fewer bits, so short strings can be ambiguous: search upwards. */
        for (int prec = 1; prec <= 17; prec++) {
            if (repr_find(ax, prec, dig, &e))
                break;
        }
    } else if (
        /* 15-digit decimals are spaced wider than a normal double's rounding interval, so at most one
         * fits; if one does, every shorter answer is it with zeros stripped. */
        !repr_find(ax, 15, dig, &e) && !repr_find(ax, 16, dig, &e)) {
        repr_digits(ax, 17, dig, &e);
    }
    size_t nd = strlen(dig);
    while (nd > 1 && dig[nd - 1] == '0')
        dig[--nd] = '\0';

    int decpt = e + 1; /* value = 0.DIGITS * 10^decpt */
    char *o = buf;
    if (signbit(x))
        *o++ = '-';
    if (decpt <= -4 || decpt > 16) {
        *o++ = dig[0];
        if (nd > 1) {
            *o++ = '.';
            memcpy(o, dig + 1, nd - 1);
            o += nd - 1;
        }
        o += snprintf(o, 8, "e%c%02d", e < 0 ? '-' : '+', abs(e));
    } else if (decpt <= 0) {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -decpt; i++)
            *o++ = '0';
        memcpy(o, dig, nd);
        o += nd;
    } else if ((size_t)decpt < nd) {
        memcpy(o, dig, (size_t)decpt);
        o += decpt;
        *o++ = '.';
        memcpy(o, dig + decpt, nd - (size_t)decpt);
        o += nd - (size_t)decpt;
    } else {
        memcpy(o, dig, nd);
        o += nd;
        for (size_t i = nd; i < (size_t)decpt; i++)
            *o++ = '0';
        *o++ = '.';
        *o++ = '0';
    }
    *o = '\0';
    return (size_t)(o - buf);
}
