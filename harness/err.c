/* The one-line error message that functions reading user input leave for their caller. */
#include "harness.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

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

int ms_err_open(const char *path, const char *what, FILE **out, struct ms_err *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        return ms_err_set(err, -e, "%s: cannot open: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        return ms_err_set(err, -EISDIR, "%s: is a directory, not a %s", path, what);
    }
    *out = f;
    return 0;
}
