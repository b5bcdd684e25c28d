/* memsnap in-process API.
 *
 * Header-only: a program includes this and links nothing. When the program runs under
 * LD_PRELOAD=libmemsnap.so the calls reach the profiler; otherwise they report -ENOSYS and
 * memsnap_active() returns 0, so the same test binary runs with and without profiling.
 *
 * Error convention: functions returning int give 0 on success or a negative errno value.
 * Clean as C99/C11/C17 and C++11/17 under -Wall -Wextra -pedantic; defines no feature macro for the program
 * (with -ldl before glibc 2.34: `pkg-config --libs memsnap`).
 *
 *     #include <memsnap.h>
 *     memsnap_snapshot("before.snap");
 *     run_the_code_under_test();
 *     memsnap_snapshot("after.snap");      // then: memsnap diff before.snap after.snap
 */
#ifndef MEMSNAP_H
#define MEMSNAP_H

#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Like tracemalloc.get_traced_memory(), plus call counts. Bytes are requested sizes. */
struct memsnap_stats {
    uint64_t current_bytes; /* live bytes now */
    uint64_t peak_bytes;    /* highest current_bytes since start or memsnap_reset_peak() */
    uint64_t live_count;    /* live blocks now */
    uint64_t alloc_bytes;   /* bytes allocated since start */
    uint64_t alloc_count;   /* allocations since start */
    uint64_t free_count;    /* frees since start */
};

/* The table the preload exports under the one symbol "memsnap_api_v1". Append only: a field is used only
 * when the preload's table is large enough to hold it (an older preload has a shorter one). */
struct memsnap_api {
    uint32_t version; /* 1 */
    uint32_t size;    /* sizeof(struct memsnap_api) in the preload */
    int (*snapshot)(const char *path, const char *label);
    int (*stats)(struct memsnap_stats *out);
    void (*reset_peak)(void);
    int (*active)(void);
};

/* RTLD_DEFAULT is glibc's (void *)0, declared only under _GNU_SOURCE, which this header leaves to the
 * program. */
#ifdef RTLD_DEFAULT
#define MEMSNAP_RTLD_DEFAULT_ RTLD_DEFAULT
#else
#define MEMSNAP_RTLD_DEFAULT_ ((void *)0)
#endif

/* The table's `field`, or a null pointer when there is no preload or its table ends before the field. */
#define MEMSNAP_API_FIELD_(a, field)                                                                        \
    ((a) && (a)->version >= 1 && (a)->size >= offsetof(struct memsnap_api, field) + sizeof((a)->field)      \
         ? (a)->field                                                                                       \
         : 0)

static inline const struct memsnap_api *memsnap_api_(void)
{
    static const struct memsnap_api *api;
    static int looked;
    if (!__atomic_load_n(&looked, __ATOMIC_ACQUIRE)) {
        union {
            void *object;
            const struct memsnap_api *(*get)(void);
        } sym;
        sym.object = dlsym(MEMSNAP_RTLD_DEFAULT_, "memsnap_api_v1");
        __atomic_store_n(&api, sym.object ? sym.get() : (const struct memsnap_api *)0, __ATOMIC_RELAXED);
        __atomic_store_n(&looked, 1, __ATOMIC_RELEASE);
    }
    return __atomic_load_n(&api, __ATOMIC_RELAXED);
}

/* 1 when the profiler is loaded and recording, else 0. */
static inline int memsnap_active(void)
{
    const struct memsnap_api *a = memsnap_api_();
    int (*active)(void) = MEMSNAP_API_FIELD_(a, active);
    return active ? active() : 0;
}

/* Write a snapshot of the live heap to path (NULL: the next name from MEMSNAP_OUTPUT). The file appears
 * atomically (written to a temporary name, then renamed). 0 or -errno; -ENOSYS when not profiling.
 * Not async-signal-safe: for snapshots on a signal, use MEMSNAP_SIGNAL. */
static inline int memsnap_snapshot(const char *path)
{
    const struct memsnap_api *a = memsnap_api_();
    int (*snapshot)(const char *, const char *) = MEMSNAP_API_FIELD_(a, snapshot);
    return snapshot ? snapshot(path, (const char *)0) : -ENOSYS;
}

/* The same, with a free-form label stored in the file (shown by memsnap dump and in JSON output). */
static inline int memsnap_snapshot_labeled(const char *path, const char *label)
{
    const struct memsnap_api *a = memsnap_api_();
    int (*snapshot)(const char *, const char *) = MEMSNAP_API_FIELD_(a, snapshot);
    return snapshot ? snapshot(path, label) : -ENOSYS;
}

/* Process-wide counters. 0 or -ENOSYS (then *out is zeroed). */
static inline int memsnap_stats(struct memsnap_stats *out)
{
    const struct memsnap_api *a = memsnap_api_();
    int (*stats)(struct memsnap_stats *) = MEMSNAP_API_FIELD_(a, stats);
    if (!stats) {
        static const struct memsnap_stats zero = {0, 0, 0, 0, 0, 0};
        *out = zero;
        return -ENOSYS;
    }
    return stats(out);
}

/* Set the peak to the current live bytes, like tracemalloc.reset_peak(). */
static inline void memsnap_reset_peak(void)
{
    const struct memsnap_api *a = memsnap_api_();
    void (*reset_peak)(void) = MEMSNAP_API_FIELD_(a, reset_peak);
    if (reset_peak) {
        reset_peak();
    }
}

#ifdef __cplusplus
}
#endif

#endif /* MEMSNAP_H */
