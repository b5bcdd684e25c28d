/* Opening a file the user named: refused with one line unless it is a regular file (common/file.c). */
#include "harness.h"

#include <errno.h>
#include <string.h>

enum ms_status ms_input_open(const char *path, const char *what, FILE **out, struct ms_error *err)
{
    *out = ms_file_fopen_regular(path, NULL);
    if (*out)
        return MS_OK;
    int e = errno;
    if (e == EISDIR)
        return ms_error_set(err, -e, "%s: is a directory, not a %s", path, what);
    if (e == ENODEV)
        return ms_error_set(err, -e, "%s: not a regular file, not a %s", path, what);
    return ms_error_set(err, -e, "%s: cannot open: %s", path, strerror(e));
}
