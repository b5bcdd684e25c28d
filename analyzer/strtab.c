/* Interned strings: the same text gets the same small id, so rows compare as integers. */
#include <stdlib.h>
#include <string.h>

#include "analyze.h"

struct ms_strtab {
    struct ms_map *map; /* text -> id */
    char **strs;        /* id -> NUL-terminated copy (stable pointers) */
    size_t count, cap;
};

struct ms_strtab *ms_strtab_new(void)
{
    struct ms_strtab *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->map = ms_map_new();
    if (!t->map || ms_strtab_intern(t, "", 0) != 0) {
        ms_strtab_free(t);
        return NULL;
    }
    return t;
}

void ms_strtab_free(struct ms_strtab *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->count; i++)
        free(t->strs[i]);
    free(t->strs);
    ms_map_free(t->map);
    free(t);
}

uint32_t ms_strtab_intern(struct ms_strtab *t, const char *s, size_t len)
{
    const uint32_t *found = ms_map_find(t->map, s, len);
    if (found)
        return *found;
    /* Everything that can fail happens before the map learns the key. */
    if (!MS_GROW(t->strs, t->cap, t->count + 1, 256))
        return UINT32_MAX;
    char *copy = malloc(len + 1);
    bool created;
    uint32_t *slot = copy ? ms_map_slot(t->map, s, len, &created) : NULL;
    if (!slot) {
        free(copy);
        return UINT32_MAX;
    }
    memcpy(copy, s, len);
    copy[len] = 0;
    t->strs[t->count] = copy;
    *slot = (uint32_t)t->count;
    return (uint32_t)t->count++;
}

const char *ms_strtab_get(const struct ms_strtab *t, uint32_t id)
{
    return id < t->count ? t->strs[id] : "";
}
