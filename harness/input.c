/* Opening a file the user named: refused with one line unless it is a regular file. */
#include "harness.h"

#include <errno.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

enum ms_status ms_input_open(const char *path, const char *what, FILE **out, struct ms_error *err)
{
    *out = NULL;
    /* O_NONBLOCK: a FIFO must not block open() before it can be refused; cleared for the reads. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        return ms_error_set(err, -e, "%s: cannot open: %s", path, strerror(e));
    }
    struct stat st;
    enum ms_status rc = MS_OK;
    if (fstat(fd, &st) != 0)
        rc = ms_error_set(err, -errno, "%s: cannot stat: %s", path, strerror(errno));
    else if (S_ISDIR(st.st_mode))
        rc = ms_error_set(err, -EISDIR, "%s: is a directory, not a %s", path, what);
    else if (!S_ISREG(st.st_mode))
        rc = ms_error_set(err, -ENODEV, "%s: not a regular file, not a %s", path, what);
    else if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0 || !(*out = fdopen(fd, "rb")))
        rc = ms_error_set(err, -errno, "%s: cannot open: %s", path, strerror(errno));
    if (rc < 0)
        close(fd);
    return rc;
}
