/* common: what the analyzer (libmemsnap-analyze) and the harness (libmemsnap-bench) share.
 *
 * ---- error.c: the error convention of both ----
 * A function that can fail returns `enum ms_status`: MS_OK (0) on success, MS_GATE (1) when a CI gate or
 * budget was crossed (a verdict, not an error), or a negative errno value naming the failure. MS_USAGE,
 * MS_INPUT, MS_NOMEM and MS_IO name the usual ones; any other -errno (-ENOENT, -ERANGE...) is a status too.
 * A function that reads user input also takes a `struct ms_error *` and leaves in it one line naming the
 * file, line, key or value that is wrong (no trailing newline). The CLIs map a status to an exit status
 * with ms_error_exit_status: 0 ok, 1 a gate, 2 anything else. Functions clean up through one `out:` label.
 */
#ifndef MS_COMMON_H
#define MS_COMMON_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>

enum ms_status {
    MS_OK = 0,
    MS_GATE = 1,          /* a CI gate was crossed (exit 1) */
    MS_USAGE = -EINVAL,   /* bad command line or argument */
    MS_INPUT = -EBADMSG,  /* bad or unreadable input file */
    MS_NOMEM = -ENOMEM,
    MS_IO = -EIO,         /* writing output failed */
};

struct ms_error {
    char msg[512];
};

/* Fill err->msg printf-style (err may be NULL) and return `r`: `return ms_error_set(err, MS_INPUT, ...)`. */
enum ms_status ms_error_set(struct ms_error *err, enum ms_status r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Exit status for a result (0, 1 or 2). */
int ms_error_exit_status(enum ms_status r);

/* ---- file.c: input files (both libraries open the files a user names alike) ------------------------ */

/* Opens path read-only when it is a regular file (a FIFO, device or directory is refused without
 * blocking); *size (may be NULL) gets its size. fd, or -errno: -ENODEV for not a regular file. */
int ms_file_open_regular(const char *path, uint64_t *size);
/* The same as a stdio stream; NULL with errno set. */
FILE *ms_file_fopen_regular(const char *path, uint64_t *size);
/* strerror, with ENODEV said as "not a regular file". */
const char *ms_file_strerror(int e);

#endif /* MS_COMMON_H */
