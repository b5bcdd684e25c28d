/* A byte-key hash map to small integer values: grouping keys must compare equal across snapshots and
 * runs, so they are reduced to bytes early and looked up here. */
#include <stdlib.h>
#include <string.h>

#include "analyze.h"

struct ms_map_entry {
    uint64_t hash;
    uint32_t key_off, key_len; /* into keys; key_len == UINT32_MAX marks an empty slot */
    uint32_t value;
};

struct ms_map {
    struct ms_map_entry *slots;
    size_t cap, used;
    char *keys;
    size_t keys_len, keys_cap;
};

uint64_t ms_map_hash(const void *key, size_t len)
{
    /* Word at a time with a multiply-xorshift mix: keys are ids and offsets, mostly 4 to 64 bytes. */
    const unsigned char *p = key;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ len;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
        p += 8;
        len -= 8;
    }
    uint64_t t = 0;
    memcpy(&t, p, len);
    h = (h ^ t) * 0x94d049bb133111ebull;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return h;
}

struct ms_map *ms_map_new(void)
{
    struct ms_map *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->cap = 64;
    m->slots = malloc(m->cap * sizeof *m->slots);
    if (!m->slots) {
        free(m);
        return NULL;
    }
    for (size_t i = 0; i < m->cap; i++)
        m->slots[i].key_len = UINT32_MAX;
    return m;
}

void ms_map_free(struct ms_map *m)
{
    if (!m)
        return;
    free(m->slots);
    free(m->keys);
    free(m);
}

static struct ms_map_entry *ms_map_lookup(const struct ms_map *m, const void *key, size_t len, uint64_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct ms_map_entry *e = &m->slots[i];
        if (e->key_len == UINT32_MAX)
            return e;
        /* an empty key may be stored before any key bytes exist (keys still NULL) */
        if (e->hash == h && e->key_len == len && (len == 0 || memcmp(m->keys + e->key_off, key, len) == 0))
            return e;
    }
}

static bool ms_map_grow(struct ms_map *m)
{
    size_t ncap = m->cap * 2;
    struct ms_map_entry *ns = malloc(ncap * sizeof *ns);
    if (!ns)
        return false;
    for (size_t i = 0; i < ncap; i++)
        ns[i].key_len = UINT32_MAX;
    for (size_t i = 0; i < m->cap; i++) {
        struct ms_map_entry *e = &m->slots[i];
        if (e->key_len == UINT32_MAX)
            continue;
        size_t j = e->hash & (ncap - 1);
        while (ns[j].key_len != UINT32_MAX)
            j = (j + 1) & (ncap - 1);
        ns[j] = *e;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return true;
}

uint32_t *ms_map_slot(struct ms_map *m, const void *key, size_t len, bool *created)
{
    if (len >= UINT32_MAX)
        return NULL;
    uint64_t h = ms_map_hash(key, len);
    struct ms_map_entry *e = ms_map_lookup(m, key, len, h);
    if (e->key_len != UINT32_MAX) {
        *created = false;
        return &e->value;
    }
    if ((m->used + 1) * 2 > m->cap) { /* at most half full: short probe runs */
        if (!ms_map_grow(m))
            return NULL;
        e = ms_map_lookup(m, key, len, h);
    }
    /* Key offsets are 32-bit. */
    if (m->keys_len + len > UINT32_MAX || !MS_GROW(m->keys, m->keys_cap, m->keys_len + len, 4096))
        return NULL;
    if (len)
        memcpy(m->keys + m->keys_len, key, len);
    e->hash = h;
    e->key_off = (uint32_t)m->keys_len;
    e->key_len = (uint32_t)len;
    e->value = 0;
    m->keys_len += len;
    m->used++;
    *created = true;
    return &e->value;
}

const uint32_t *ms_map_find(const struct ms_map *m, const void *key, size_t len)
{
    const struct ms_map_entry *e = ms_map_lookup(m, key, len, ms_map_hash(key, len));
    return e->key_len == UINT32_MAX ? NULL : &e->value;
}

size_t ms_map_capacity(const struct ms_map *m)
{
    return m->cap;
}

bool ms_map_at(const struct ms_map *m, size_t i, const void **key, size_t *len, uint32_t *value)
{
    const struct ms_map_entry *e = &m->slots[i];
    if (e->key_len == UINT32_MAX)
        return false;
    *key = m->keys + e->key_off;
    *len = e->key_len;
    *value = e->value;
    return true;
}
