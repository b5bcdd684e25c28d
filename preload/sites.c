/* Counters per stack id, in an array reserved once for every possible id so that an update is a plain
 * indexed atomic add: no lookup, no lock. Live figures are allocated minus freed. */
#include "preload.h"

struct sites_row {
    uint64_t alloc_bytes, alloc_count, free_bytes, free_count;
};

static struct sites_row *sites_rows;

int ms_sites_init(void)
{
    void *p;
    int rc = ms_platform_map((size_t)MS_STACKS_MAX * sizeof(struct sites_row), 1, &p);
    if (rc < 0) {
        return rc;
    }
    sites_rows = p;
    return 0;
}

void ms_sites_alloc(uint32_t stack, uint64_t bytes, uint64_t count)
{
    struct sites_row *r = &sites_rows[stack];
    __atomic_fetch_add(&r->alloc_bytes, bytes, __ATOMIC_RELAXED);
    __atomic_fetch_add(&r->alloc_count, count, __ATOMIC_RELAXED);
}

void ms_sites_free(uint32_t stack, uint64_t bytes, uint64_t count)
{
    struct sites_row *r = &sites_rows[stack];
    __atomic_fetch_add(&r->free_bytes, bytes, __ATOMIC_RELAXED);
    __atomic_fetch_add(&r->free_count, count, __ATOMIC_RELAXED);
}

void ms_sites_get(uint32_t stack, struct ms_site_counts *out)
{
    const struct sites_row *r = &sites_rows[stack];
    /* Frees first: read while others allocate, live figures never come out negative. */
    out->free_bytes = __atomic_load_n(&r->free_bytes, __ATOMIC_RELAXED);
    out->free_count = __atomic_load_n(&r->free_count, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    out->alloc_bytes = __atomic_load_n(&r->alloc_bytes, __ATOMIC_RELAXED);
    out->alloc_count = __atomic_load_n(&r->alloc_count, __ATOMIC_RELAXED);
    if (out->alloc_bytes < out->free_bytes) {
        out->alloc_bytes = out->free_bytes;
    }
    if (out->alloc_count < out->free_count) {
        out->alloc_count = out->free_count;
    }
}

uint64_t ms_sites_overhead(void)
{
    return (uint64_t)ms_stacks_count() * sizeof(struct sites_row);
}
