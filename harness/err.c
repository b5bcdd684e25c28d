/* The one-line error message that functions reading user input leave for their caller. */
#include "harness.h"

#include <stdarg.h>

int ms_err_set(struct ms_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}
