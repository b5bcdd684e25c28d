/* The allocator underneath the hooks, found with dlsym(RTLD_NEXT). dlsym itself may calloc (for its error
 * string) before any real function is known: those requests are served from a static pool whose blocks
 * are never handed to the real allocator. */
#include "preload.h"

#include <dlfcn.h>
#include <string.h>

struct ms_real ms_real;

#define REAL_POOL_SIZE (64 * 1024)
#define REAL_HEADER 16 /* block size kept in front, for realloc and malloc_usable_size */

static _Alignas(64) unsigned char real_pool[REAL_POOL_SIZE];
static size_t real_pool_used;
static int real_state; /* 0 unresolved, 1 resolving, 2 done */

void *ms_real_pool_alloc(size_t size, size_t align)
{
    if (align < REAL_HEADER) {
        align = REAL_HEADER;
    }
    if (size > REAL_POOL_SIZE || (align & (align - 1)) || align > 4096) {
        return NULL;
    }
    size_t used = __atomic_load_n(&real_pool_used, __ATOMIC_RELAXED);
    size_t start;
    do {
        start = (used + REAL_HEADER + align - 1) & ~(align - 1);
        if (start + size > REAL_POOL_SIZE) {
            return NULL;
        }
    } while (!__atomic_compare_exchange_n(&real_pool_used, &used, start + size, 0, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
    memcpy(real_pool + start - sizeof size, &size, sizeof size);
    /* Its free must reach the hook, which knows pool blocks: in sampled mode, free's fast path would hand
     * any address the filter does not know to the real allocator. Never lowered: never reused. */
    ms_heapmap_sampled_add(real_pool + start);
    return real_pool + start; /* zero: static storage, never reused */
}

int ms_real_from_pool(const void *p)
{
    return (uintptr_t)p - (uintptr_t)real_pool < REAL_POOL_SIZE; /* one compare: every free asks */
}

size_t ms_real_pool_size(const void *p)
{
    size_t size;
    memcpy(&size, (const unsigned char *)p - sizeof size, sizeof size);
    return size;
}

int ms_real_bootstrapping(void)
{
    return __atomic_load_n(&real_state, __ATOMIC_ACQUIRE) == 1;
}

static void *real_next(const char *name)
{
    return dlsym(RTLD_NEXT, name);
}

void ms_real_init(void)
{
    int expected = 0;
    if (!__atomic_compare_exchange_n(&real_state, &expected, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        return; /* resolved, or another thread is at it: the pool serves everyone meanwhile */
    }
    struct ms_real r;
    *(void **)&r.malloc = real_next("malloc");
    *(void **)&r.free = real_next("free");
    *(void **)&r.calloc = real_next("calloc");
    *(void **)&r.realloc = real_next("realloc");
    *(void **)&r.reallocarray = real_next("reallocarray");
    *(void **)&r.posix_memalign = real_next("posix_memalign");
    *(void **)&r.aligned_alloc = real_next("aligned_alloc");
    *(void **)&r.memalign = real_next("memalign");
    *(void **)&r.valloc = real_next("valloc");
    *(void **)&r.pvalloc = real_next("pvalloc");
    *(void **)&r.malloc_usable_size = real_next("malloc_usable_size");
    if (!r.malloc || !r.free || !r.calloc || !r.realloc || !r.posix_memalign) {
        ms_platform_abort("cannot find the real malloc/free/calloc/realloc/posix_memalign");
    }
    /* Publish malloc last: hooks take a non-NULL ms_real.malloc to mean every pointer is set. */
    void *(*m)(size_t) = r.malloc;
    r.malloc = NULL;
    ms_real = r;
    __atomic_store_n(&ms_real.malloc, m, __ATOMIC_RELEASE);
    __atomic_store_n(&real_state, 2, __ATOMIC_RELEASE);
}

static char real_shadow[MS_CONFIG_PATH_MAX + 160];
static uint32_t real_shadow_len;

void ms_real_check_first(void)
{
    /* The program's malloc is the first definition in the global scope; ours only when this library
     * comes before any other allocator in LD_PRELOAD. */
    Dl_info first, self;
    void *m = dlsym(RTLD_DEFAULT, "malloc");
    if (!m || !dladdr(m, &first) || !dladdr((void *)&ms_real_init, &self) || !first.dli_fname ||
        !self.dli_fname || !strcmp(first.dli_fname, self.dli_fname)) {
        return;
    }
    static const char tail[] = "'s, not libmemsnap's (it comes first in LD_PRELOAD): allocations are not "
                               "recorded; put libmemsnap.so first";
    static const char head[] = "the program's malloc is ";
    size_t n = strlen(first.dli_fname);
    if (n > MS_CONFIG_PATH_MAX) {
        n = MS_CONFIG_PATH_MAX;
    }
    memcpy(real_shadow, head, sizeof head - 1);
    memcpy(real_shadow + sizeof head - 1, first.dli_fname, n);
    memcpy(real_shadow + sizeof head - 1 + n, tail, sizeof tail);
    real_shadow_len = (uint32_t)(sizeof head - 1 + n + sizeof tail - 1);
    ms_text_warn(real_shadow, (const char *)0);
}

const char *ms_real_shadowed(uint32_t *len)
{
    *len = real_shadow_len;
    return real_shadow_len ? real_shadow : NULL;
}
