/* The one-line error message that functions reading user input leave for their caller. */
#include "harness.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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
    /* O_NONBLOCK: a FIFO must not block open() before it can be refused; cleared for the reads. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        return ms_err_set(err, -e, "%s: cannot open: %s", path, strerror(e));
    }
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0)
        rc = ms_err_set(err, -errno, "%s: cannot stat: %s", path, strerror(errno));
    else if (S_ISDIR(st.st_mode))
        rc = ms_err_set(err, -EISDIR, "%s: is a directory, not a %s", path, what);
    else if (!S_ISREG(st.st_mode))
        rc = ms_err_set(err, -ENODEV, "%s: not a regular file, not a %s", path, what);
    else if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0 || !(*out = fdopen(fd, "rb")))
        rc = ms_err_set(err, -errno, "%s: cannot open: %s", path, strerror(errno));
    if (rc < 0)
        close(fd);
    return rc;
}
