/* A tree of call-stack frames, callers above callees, each node weighted by what was allocated below it:
 * the flame graph and massif's heap tree draw the same one. Nodes are visited without recursion (a stack
 * may be thousands of frames deep). */
#include <stdlib.h>
#include <string.h>

#include "analyze.h"

struct ms_tree *ms_tree_child(struct ms_tree *n, uint32_t key, const void *data)
{
    for (size_t i = 0; i < n->nkids; i++)
        if (n->kids[i].key == key)
            return &n->kids[i];
    if (!MS_GROW(n->kids, n->cap, n->nkids + 1, 4))
        return NULL;
    struct ms_tree *k = &n->kids[n->nkids++];
    *k = (struct ms_tree){.key = key, .data = data};
    return k;
}

struct ms_tree **ms_tree_nodes(struct ms_tree *root, int (*cmp)(const void *, const void *), size_t *count)
{
    size_t n = 1, cap = 0;
    struct ms_tree **v = NULL;
    if (!MS_GROW(v, cap, 1, 64))
        return NULL;
    v[0] = root;
    for (size_t i = 0; i < n; i++) {
        struct ms_tree *p = v[i];
        if (cmp && p->nkids)
            qsort(p->kids, p->nkids, sizeof *p->kids, cmp);
        if (!MS_GROW(v, cap, n + p->nkids, 64)) {
            free(v);
            return NULL;
        }
        for (size_t k = 0; k < p->nkids; k++)
            v[n++] = &p->kids[k];
    }
    *count = n;
    return v;
}

void ms_tree_free(struct ms_tree *root)
{
    size_t n;
    struct ms_tree **v = ms_tree_nodes(root, NULL, &n);
    if (!v)
        return; /* out of memory: the tree leaks, the process is about to report it and exit */
    for (size_t i = n; i-- > 0;) /* children's arrays before the parent's array that holds them */
        free(v[i]->kids);
    free(v);
    root->kids = NULL;
    root->nkids = root->cap = 0;
}
