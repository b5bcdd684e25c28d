/* The score cache: MD5 of the canonical JSON -> score. Chained hash tables behind striped locks so that
 * parallel workers rarely meet; with a bound, one stripe holds one exact LRU list (a lock hold of tens of
 * nanoseconds is nothing beside an 18 us miss, and an exact order is what the bound promises). */
#include "processor.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_STRIPES 16 /* unbounded caches; a power of two */
#define CACHE_INITIAL_BUCKETS 16

typedef struct cache_entry {
    unsigned char key[MS_MD5_LEN];
    double score;
    struct cache_entry *hnext;              /* bucket chain */
    struct cache_entry *newer, *older;      /* LRU list */
} cache_entry;

typedef struct cache_stripe {
    pthread_mutex_t lock;
    cache_entry **buckets;
    size_t nbuckets;
    size_t count;
    cache_entry lru; /* sentinel: lru.older is the most recent entry, lru.newer the least recent */
    uint64_t hits, misses, evictions;
    char pad[64]; /* keeps neighbouring stripes' locks off one cache line */
} cache_stripe;

struct ms_cache {
    size_t max;
    unsigned nstripes;
    cache_stripe *stripes;
};

static uint64_t cache_hash(const unsigned char *key)
{
    uint64_t h;
    memcpy(&h, key, sizeof h); /* MD5 output is already uniform */
    return h;
}

static cache_stripe *cache_stripe_of(ms_cache *c, uint64_t h)
{
    return &c->stripes[h & (c->nstripes - 1)];
}

static size_t cache_bucket(const cache_stripe *s, uint64_t h)
{
    return (size_t)(h >> 8) & (s->nbuckets - 1);
}

static void cache_lru_unlink(cache_entry *e)
{
    e->newer->older = e->older;
    e->older->newer = e->newer;
}

static void cache_lru_push_front(cache_stripe *s, cache_entry *e)
{
    e->older = s->lru.older;
    e->newer = &s->lru;
    s->lru.older->newer = e;
    s->lru.older = e;
}

int ms_cache_new(size_t max_entries, ms_cache **out)
{
    if (!out)
        return MS_PROC_ENULL;
    ms_cache *c = calloc(1, sizeof *c);
    if (!c)
        return MS_PROC_ENOMEM;
    c->max = max_entries;
    c->nstripes = max_entries ? 1 : CACHE_STRIPES;
    c->stripes = calloc(c->nstripes, sizeof *c->stripes);
    if (!c->stripes) {
        free(c);
        return MS_PROC_ENOMEM;
    }
    unsigned made = 0;
    int rc = MS_PROC_OK;
    for (; made < c->nstripes; made++) {
        cache_stripe *s = &c->stripes[made];
        s->nbuckets = CACHE_INITIAL_BUCKETS;
        s->buckets = calloc(s->nbuckets, sizeof *s->buckets);
        if (!s->buckets) {
            rc = MS_PROC_ENOMEM;
            break;
        }
        if (pthread_mutex_init(&s->lock, NULL) != 0) {
            free(s->buckets);
            rc = MS_PROC_ENOMEM;
            break;
        }
        s->lru.older = s->lru.newer = &s->lru;
    }
    if (rc != MS_PROC_OK) {
        c->nstripes = made;
        ms_cache_free(c);
        return rc;
    }
    *out = c;
    return MS_PROC_OK;
}

static void cache_stripe_drop(cache_stripe *s)
{
    for (cache_entry *e = s->lru.older, *next; e != &s->lru; e = next) {
        next = e->older;
        free(e);
    }
    memset(s->buckets, 0, s->nbuckets * sizeof *s->buckets);
    s->lru.older = s->lru.newer = &s->lru;
    s->count = 0;
}

void ms_cache_free(ms_cache *c)
{
    if (!c)
        return;
    for (unsigned i = 0; i < c->nstripes; i++) {
        cache_stripe_drop(&c->stripes[i]);
        free(c->stripes[i].buckets);
        pthread_mutex_destroy(&c->stripes[i].lock);
    }
    free(c->stripes);
    free(c);
}

static cache_entry *cache_find(cache_stripe *s, uint64_t h, const unsigned char *key)
{
    for (cache_entry *e = s->buckets[cache_bucket(s, h)]; e; e = e->hnext) {
        if (memcmp(e->key, key, MS_MD5_LEN) == 0)
            return e;
    }
    return NULL;
}

static bool cache_lookup(ms_cache *c, const unsigned char *key, double *score, bool touch)
{
    if (!c || !key)
        return false;
    uint64_t h = cache_hash(key);
    cache_stripe *s = cache_stripe_of(c, h);
    pthread_mutex_lock(&s->lock);
    cache_entry *e = cache_find(s, h, key);
    if (e && score)
        *score = e->score;
    if (touch) {
        if (e) {
            s->hits++;
            cache_lru_unlink(e);
            cache_lru_push_front(s, e);
        } else {
            s->misses++;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return e != NULL;
}

bool ms_cache_get(ms_cache *c, const unsigned char key[MS_MD5_LEN], double *score)
{
    return cache_lookup(c, key, score, true);
}

bool ms_cache_peek(ms_cache *c, const unsigned char key[MS_MD5_LEN], double *score)
{
    return cache_lookup(c, key, score, false);
}

/* Doubling keeps chains short; if the bigger table cannot be had, longer chains still work. */
static void cache_grow(cache_stripe *s)
{
    size_t nb = s->nbuckets * 2;
    cache_entry **b = calloc(nb, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < s->nbuckets; i++) {
        for (cache_entry *e = s->buckets[i], *next; e; e = next) {
            next = e->hnext;
            size_t j = (size_t)(cache_hash(e->key) >> 8) & (nb - 1);
            e->hnext = b[j];
            b[j] = e;
        }
    }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = nb;
}

static void cache_unchain(cache_stripe *s, cache_entry *e)
{
    cache_entry **pp = &s->buckets[cache_bucket(s, cache_hash(e->key))];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
}

int ms_cache_put(ms_cache *c, const unsigned char key[MS_MD5_LEN], double score)
{
    if (!c || !key)
        return MS_PROC_ENULL;
    uint64_t h = cache_hash(key);
    cache_stripe *s = cache_stripe_of(c, h);
    int rc = MS_PROC_OK;
    pthread_mutex_lock(&s->lock);
    cache_entry *e = cache_find(s, h, key);
    if (e) {
        /* Another thread computed the same key meanwhile. */
        e->score = score;
        cache_lru_unlink(e);
    } else {
        if (c->max && s->count >= c->max) {
            e = s->lru.newer; /* reuse the evicted entry's memory */
            cache_lru_unlink(e);
            cache_unchain(s, e);
            s->count--;
            s->evictions++;
        } else {
            e = malloc(sizeof *e);
            if (!e) {
                rc = MS_PROC_ENOMEM;
                goto out;
            }
        }
        memcpy(e->key, key, MS_MD5_LEN);
        e->score = score;
        if (s->count >= s->nbuckets)
            cache_grow(s);
        size_t b = cache_bucket(s, h);
        e->hnext = s->buckets[b];
        s->buckets[b] = e;
        s->count++;
    }
    cache_lru_push_front(s, e);
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void ms_cache_clear(ms_cache *c)
{
    if (!c)
        return;
    for (unsigned i = 0; i < c->nstripes; i++) {
        cache_stripe *s = &c->stripes[i];
        pthread_mutex_lock(&s->lock);
        cache_stripe_drop(s);
        s->hits = s->misses = s->evictions = 0;
        pthread_mutex_unlock(&s->lock);
    }
}

void ms_cache_stats_get(ms_cache *c, ms_cache_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!c)
        return;
    for (unsigned i = 0; i < c->nstripes; i++) {
        cache_stripe *s = &c->stripes[i];
        pthread_mutex_lock(&s->lock);
        out->entries += s->count;
        out->hits += s->hits;
        out->misses += s->misses;
        out->evictions += s->evictions;
        pthread_mutex_unlock(&s->lock);
    }
}
