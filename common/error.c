/* The error convention of the analyzer and the harness: a status plus one line of text (common.h). */
#include <stdarg.h>
#include <stdio.h>

#include "common.h"

enum ms_status ms_error_set(struct ms_error *err, enum ms_status r, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return r;
}

int ms_error_exit_status(enum ms_status r)
{
    switch (r) {
    case MS_OK:
        return 0;
    case MS_GATE:
        return 1;
    default:
        return 2;
    }
}
