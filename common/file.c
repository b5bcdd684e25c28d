/* Opening input files named by arguments or by snapshots: only regular files. A FIFO would block open()
 * before any check could run, and a device or /proc file has no size to trust. */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

int ms_file_open_regular(const char *path, uint64_t *size)
{
    /* O_NONBLOCK: open() on a FIFO returns at once; it is cleared again for the reads. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    struct stat st;
    int e = 0;
    if (fstat(fd, &st) != 0)
        e = errno;
    else if (S_ISDIR(st.st_mode))
        e = EISDIR;
    else if (!S_ISREG(st.st_mode))
        e = ENODEV;
    else if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0)
        e = errno;
    if (e) {
        close(fd);
        return -e;
    }
    if (size)
        *size = (uint64_t)st.st_size;
    return fd;
}

FILE *ms_file_fopen_regular(const char *path, uint64_t *size)
{
    int fd = ms_file_open_regular(path, size);
    if (fd < 0) {
        errno = -fd;
        return NULL;
    }
    FILE *f = fdopen(fd, "r");
    if (!f) {
        int e = errno;
        close(fd);
        errno = e;
    }
    return f;
}

const char *ms_file_strerror(int e)
{
    return e == ENODEV ? "not a regular file" : strerror(e);
}
