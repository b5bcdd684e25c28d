/* The exported allocation functions but malloc and free (fastpath.S): each forwards to its tracker entry
 * point, nothing more. Built with -fno-optimize-sibling-calls so that every one of them keeps a frame of
 * its own, which the unwinder skips by count. */
#include "preload.h"

#include <stdlib.h>

#include "memsnap/format.h"

MS_EXPORT void cfree(void *p);
MS_EXPORT void cfree(void *p)
{
    ms_tracker_cfree(p);
}

MS_EXPORT void *calloc(size_t n, size_t size)
{
    return ms_tracker_calloc(n, size);
}

MS_EXPORT void *realloc(void *p, size_t size)
{
    return ms_tracker_realloc(p, size);
}

MS_EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
    return ms_tracker_reallocarray(p, n, size);
}

MS_EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
    return ms_tracker_posix_memalign(out, align, size);
}

MS_EXPORT void *aligned_alloc(size_t align, size_t size)
{
    return ms_tracker_aligned(MS_FMT_CALL_ALIGNED_ALLOC, align, size);
}

MS_EXPORT void *memalign(size_t align, size_t size);
MS_EXPORT void *memalign(size_t align, size_t size)
{
    return ms_tracker_aligned(MS_FMT_CALL_MEMALIGN, align, size);
}

MS_EXPORT void *valloc(size_t size)
{
    return ms_tracker_aligned(MS_FMT_CALL_VALLOC, 0, size);
}

MS_EXPORT void *pvalloc(size_t size);
MS_EXPORT void *pvalloc(size_t size)
{
    return ms_tracker_aligned(MS_FMT_CALL_PVALLOC, 0, size);
}

MS_EXPORT size_t malloc_usable_size(void *p);
MS_EXPORT size_t malloc_usable_size(void *p)
{
    return ms_tracker_usable_size(p);
}

/* A library unloaded now may have its addresses reused by the next one: the unwinder's cached rules for
 * them must go. Interposed because the dynamic linker offers no notification for it. */
MS_EXPORT int dlclose(void *handle);

MS_EXPORT int dlclose(void *handle)
{
    return ms_modules_dlclose(handle);
}

/* _exit skips destructors: caught here when the program calls it through the dynamic linker. */
MS_EXPORT _Noreturn void _exit(int status);
MS_EXPORT _Noreturn void _Exit(int status);

MS_EXPORT _Noreturn void _exit(int status)
{
    ms_trigger_exit_now(status);
}

MS_EXPORT _Noreturn void _Exit(int status)
{
    ms_trigger_exit_now(status);
}
