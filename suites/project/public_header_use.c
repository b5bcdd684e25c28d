/* <memsnap.h> as a program sees it, compiled by public_header_modes.sh in every language mode.
 * Without MEMSNAP_TEST_OLD_TABLE: no preload, every call reports -ENOSYS (or 0 for memsnap_active).
 * With it: the program exports an older, shorter API table itself; fields past its size are not used. */
#ifndef __cplusplus
#define _POSIX_C_SOURCE 200809L /* the XSI strerror_r, unless the header turned on _GNU_SOURCE */
#endif
#include <memsnap.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if !defined(__cplusplus) && defined(_GNU_SOURCE)
#error "<memsnap.h> defined _GNU_SOURCE"
#endif

#ifdef MEMSNAP_TEST_OLD_TABLE
static int old_stats(struct memsnap_stats *out)
{
    out->alloc_count = 42;
    return 0;
}
static int old_snapshot(const char *path, const char *label)
{
    (void)path;
    (void)label;
    return 0;
}
static void never_called(void)
{
    abort();
}
static int never_active(void)
{
    abort();
}
/* A table from a preload that knew only snapshot and stats: the header must not read further. */
static struct memsnap_api old_table;
#ifdef __cplusplus
extern "C"
#endif
    const struct memsnap_api *
    memsnap_api_v1(void);
const struct memsnap_api *memsnap_api_v1(void)
{
    old_table.version = 1;
    old_table.size = (uint32_t)offsetof(struct memsnap_api, reset_peak);
    old_table.snapshot = old_snapshot;
    old_table.stats = old_stats;
    old_table.reset_peak = never_called;
    old_table.active = never_active;
    return &old_table;
}
#endif

int main(void)
{
    char buf[64];
#ifndef __cplusplus
    int xsi = strerror_r(ENOSYS, buf, sizeof buf); /* an int: the XSI one */
    if (xsi != 0)
        return 1;
#else
    buf[0] = 0;
    (void)buf;
#endif
    struct memsnap_stats st;
    int r = memsnap_stats(&st);
    memsnap_reset_peak();
#ifdef MEMSNAP_TEST_OLD_TABLE
    if (r != 0 || st.alloc_count != 42 || memsnap_active() != 0 || memsnap_snapshot("x.snap") != 0) {
        fprintf(stderr, "old table: stats %d (%llu), active %d\n", r, (unsigned long long)st.alloc_count,
                memsnap_active());
        return 1;
    }
#else
    if (r != -ENOSYS || st.current_bytes != 0 || memsnap_active() != 0 || memsnap_snapshot("x.snap") != -ENOSYS ||
        memsnap_snapshot_labeled("x.snap", "l") != -ENOSYS) {
        fprintf(stderr, "without the preload: stats %d, active %d\n", r, memsnap_active());
        return 1;
    }
#endif
    puts("ok");
    return 0;
}
