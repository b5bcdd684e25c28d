/* The .snap writer (format: include/memsnap/format.h, docs/snapshot-format.md). Section sizes are known
 * before the first byte, so the file is produced in one pass through a fixed buffer with the checksum
 * computed on the way, compressed on its way out (zstd, after the header), and appears under its final
 * name only once complete. Stacks go out as a prefix tree: the callers stacks share are written once. */
#include "preload.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <zstd.h>

#include "memsnap/format.h"

#define SNAPSHOT_BUF (256 * 1024)
#define SNAPSHOT_ZBUF (128 * 1024)
/* Level 1: the fastest; the tree already took out what repeats most. */
#define SNAPSHOT_ZSTD_LEVEL 1

struct snapshot_out {
    int fd;
    int err;
    size_t used;
    uint64_t sum;
    ZSTD_CCtx *zc; /* NULL: written as is (the header) */
    uint64_t current; /* TOTALS.current_bytes of the file being written */
    struct ms_fmt_memory mem; /* the MEMORY section's payload, here rather than on the writer's stack */
    unsigned char buf[SNAPSHOT_BUF];
    unsigned char zbuf[SNAPSHOT_ZBUF];
};

static struct snapshot_out snapshot_out; /* under snapshot_mutex */
static int snapshot_mutex;
static pthread_t snapshot_owner; /* valid while snapshot_mutex is held */
static uint32_t snapshot_seq;
static char snapshot_peak_file[MS_CONFIG_PATH_MAX]; /* the last peak snapshot, removed by the next one */
#define SNAPSHOT_STACK (256 * 1024)
static void *snapshot_stack_top; /* the profiler's own stack, under snapshot_mutex */
static uintptr_t snapshot_caller_sp; /* the writer's caller's stack pointer when on it, else 0 */

void ms_snapshot_lock(void)
{
    while (__atomic_exchange_n(&snapshot_mutex, 1, __ATOMIC_ACQUIRE)) {
        ms_platform_yield();
    }
    snapshot_owner = pthread_self();
}

void ms_snapshot_unlock(void)
{
    snapshot_owner = (pthread_t)0;
    __atomic_store_n(&snapshot_mutex, 0, __ATOMIC_RELEASE);
}

/* A signal handler that calls exit() while its thread is writing a snapshot would wait for itself. */
static int snapshot_held_by_me(void)
{
    return __atomic_load_n(&snapshot_mutex, __ATOMIC_ACQUIRE) && pthread_equal(snapshot_owner, pthread_self());
}

void ms_snapshot_after_fork_child(void)
{
    snapshot_seq = 0; /* the child's files carry its own pid: its numbering starts afresh */
    ms_rotate_after_fork_child();
    snapshot_peak_file[0] = '\0'; /* the parent's, not the child's to remove */
}

/* Compresses n bytes (n == 0 with ZSTD_e_end: finishes the frame) and writes what comes out. */
static int snapshot_compress(struct snapshot_out *o, const void *data, size_t n, ZSTD_EndDirective mode)
{
    ZSTD_inBuffer in = {data, n, 0};
    for (;;) {
        ZSTD_outBuffer out = {o->zbuf, sizeof o->zbuf, 0};
        size_t left = ZSTD_compressStream2(o->zc, &out, &in, mode);
        if (ZSTD_isError(left)) {
            return -EIO;
        }
        int rc = out.pos ? ms_platform_write_all(o->fd, o->zbuf, out.pos) : 0;
        if (rc < 0) {
            return rc;
        }
        if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size) {
            return 0;
        }
    }
}

/* Writes out the buffer; with `whole` false only a multiple of 8 bytes, keeping the tail, so the
 * checksum is always fed whole words. */
static void snapshot_drain(struct snapshot_out *o, int whole)
{
    size_t n = whole ? o->used : o->used & ~(size_t)7;
    if (n && o->err == 0) {
        o->sum = ms_fmt_checksum(o->sum, o->buf, n);
        o->err = o->zc ? snapshot_compress(o, o->buf, n, ZSTD_e_continue) : ms_platform_write_all(o->fd, o->buf, n);
    }
    memmove(o->buf, o->buf + n, o->used - n);
    o->used -= n;
}

static void snapshot_flush(struct snapshot_out *o)
{
    snapshot_drain(o, 1);
}

/* Room for n more bytes (n well below the buffer size), written by the caller. */
static inline unsigned char *snapshot_reserve(struct snapshot_out *o, size_t n)
{
    if (MS_UNLIKELY(SNAPSHOT_BUF - o->used < n)) {
        snapshot_drain(o, 0);
    }
    return o->buf + o->used;
}

static void snapshot_put(struct snapshot_out *o, const void *data, size_t len)
{
    const unsigned char *p = data;
    while (len) {
        size_t n = SNAPSHOT_BUF - o->used < len ? SNAPSHOT_BUF - o->used : len;
        memcpy(o->buf + o->used, p, n);
        o->used += n;
        p += n;
        len -= n;
        if (o->used == SNAPSHOT_BUF) {
            snapshot_flush(o);
        }
    }
}

static size_t snapshot_pad(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

static void snapshot_section(struct snapshot_out *o, uint32_t type, uint64_t length)
{
    struct ms_fmt_section s = {.type = type, .length = length};
    snapshot_put(o, &s, sizeof s);
}

static void snapshot_end_section(struct snapshot_out *o, uint64_t length)
{
    static const unsigned char zero[8];
    snapshot_put(o, zero, snapshot_pad(length) - length);
}

static void snapshot_u32(struct snapshot_out *o, uint32_t v)
{
    snapshot_put(o, &v, sizeof v);
}

/* Program name for %e: the executable's base name. */
static const char *snapshot_exe(char *buf, size_t size, uint32_t *len)
{
    int n = ms_platform_exe_path(buf, size);
    if (n <= 0) {
        memcpy(buf, "unknown", 8);
        *len = 0;
        return buf;
    }
    *len = (uint32_t)n;
    const char *slash = strrchr(buf, '/');
    return slash ? slash + 1 : buf;
}


/* ---- the stack tree (STACK_TREE) ---------------------------------------------------------------------
 * Node = (caller node, return address); a stack = its innermost node. Built before writing so that the
 * section's length is known: consecutive stacks mostly share their outer frames, so each stack first
 * follows the previous one's nodes as long as the frames agree, and only the rest is looked up among
 * the parent's children: a list while they are few (the list's nodes were made or visited lately, so
 * they are in cache, where a hash table costs a cache miss per node), a hash table of (parent, address)
 * for the children of a node that has many. Arrays come from ms_platform_map: sized by the total
 * number of frames, they can be large for a moment and are given back whole. */
#define TREE_NONE UINT32_MAX
#define TREE_LIST_MAX 8 /* children past this many: hashed */

struct snapshot_node {
    uintptr_t ip;
    uint32_t parent;
    uint32_t module;
    uint32_t first; /* first child + 1, 0 = none (children kept in a list) */
    uint32_t next; /* next sibling + 1 */
    uint32_t kids; /* children, counted up to TREE_LIST_MAX + 1: then they are in the hash table */
    uint32_t pad;
};

struct snapshot_tree {
    struct snapshot_node root; /* the outermost frames' parent (TREE_NONE) */
    uint32_t nodes;
    uint32_t faulted; /* nodes whose pages are mapped in (see snapshot_tree_add) */
    uint32_t cap;
    struct snapshot_node *node;
    uint32_t *leaf; /* per stack: innermost node + 1, 0 when it has no frames */
    uint32_t *slots; /* node + 1; its own mapping, grown as nodes come */
    uint64_t mask;
    uint32_t hashed; /* nodes in the table */
    void *map;
    size_t map_size;
    uint64_t len; /* the payload's bytes */
};

static unsigned snapshot_varint_len(uint64_t v)
{
    unsigned n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static unsigned char *snapshot_varint(unsigned char *w, uint64_t v)
{
    while (v >= 0x80) {
        *w++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *w++ = (unsigned char)v;
    return w;
}

static inline uint64_t snapshot_tree_hash(uint32_t parent, uintptr_t ip)
{
    return ((uint64_t)parent * 0x9e3779b97f4a7c15ull ^ ip) * 0xff51afd7ed558ccdull >> 17;
}

static inline struct snapshot_node *snapshot_tree_at(struct snapshot_tree *t, uint32_t n)
{
    return n == TREE_NONE ? &t->root : &t->node[n];
}

/* Whether the children of node n are in the hash table. */
static inline int snapshot_tree_hashed(struct snapshot_tree *t, uint32_t n)
{
    return snapshot_tree_at(t, n)->kids > TREE_LIST_MAX;
}

/* Doubles the hash table: it starts small (a table sized for every frame would touch tens of MB, one
 * page fault per page, for stacks that mostly share their nodes). */
static int snapshot_tree_grow(struct snapshot_tree *t)
{
    uint64_t slots = 2 * (t->mask + 1);
    void *map;
    int rc = ms_platform_map((size_t)slots * sizeof(uint32_t), 1, &map);
    if (rc < 0) {
        return rc;
    }
    ms_platform_prefault(map, (size_t)slots * sizeof(uint32_t));
    uint32_t *table = map;
    for (uint32_t n = 0; n < t->nodes; n++) {
        if (!snapshot_tree_hashed(t, t->node[n].parent)) {
            continue;
        }
        uint64_t i = snapshot_tree_hash(t->node[n].parent, t->node[n].ip);
        while (table[i & (slots - 1)] != 0) {
            i++;
        }
        table[i & (slots - 1)] = n + 1;
    }
    ms_platform_unmap(t->slots, (size_t)(t->mask + 1) * sizeof(uint32_t));
    t->slots = table;
    t->mask = slots - 1;
    return 0;
}

/* Nodes' pages are mapped in ahead, a batch at a time: one system call instead of a page fault per page
 * (faults are most of the cost of a large tree, more so in a virtual machine). */
#define TREE_PREFAULT_NODES 8192

static uint32_t snapshot_tree_add(struct snapshot_tree *t, const struct ms_modules *mods, uint32_t *last,
                                  uint32_t parent, uintptr_t ip)
{
    uint32_t n = t->nodes++;
    if (MS_UNLIKELY(n == t->faulted)) {
        uint32_t k = t->cap - n < TREE_PREFAULT_NODES ? t->cap - n : TREE_PREFAULT_NODES;
        ms_platform_prefault(&t->node[n], (size_t)k * sizeof *t->node);
        t->faulted += k;
    }
    struct snapshot_node *d = &t->node[n];
    d->parent = parent;
    d->ip = ip;
    const struct ms_modules_entry *lm = *last != MS_FMT_MODULE_NONE ? &mods->items[*last] : NULL;
    if (!lm || ip < lm->lo || ip >= lm->hi) { /* frames cluster: try the previous module first */
        *last = ms_modules_find(mods, ip);
    }
    d->module = *last;
    uint64_t offset = *last == MS_FMT_MODULE_NONE ? ip : ip - mods->items[*last].base;
    t->len += snapshot_varint_len(parent == TREE_NONE ? 0 : n - parent) +
              snapshot_varint_len(*last == MS_FMT_MODULE_NONE ? 0 : (uint64_t)*last + 1) +
              snapshot_varint_len(offset);
    return n;
}

/* Room in the hash table for k more nodes (it is kept at most half full). 0 or -errno. */
static int snapshot_tree_room(struct snapshot_tree *t, uint32_t k)
{
    while (2 * ((uint64_t)t->hashed + k) > t->mask) {
        int rc = snapshot_tree_grow(t);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

static void snapshot_tree_insert(struct snapshot_tree *t, uint32_t n)
{
    uint64_t i = snapshot_tree_hash(t->node[n].parent, t->node[n].ip);
    while (t->slots[i & t->mask] != 0) {
        i++;
    }
    t->slots[i & t->mask] = n + 1;
    t->hashed++;
}

/* The node of (parent, ip), made when new. When the table cannot grow, a parent's children stay in its
 * list (slower, the same file). */
static uint32_t snapshot_tree_node(struct snapshot_tree *t, const struct ms_modules *mods, uint32_t *last,
                                   uint32_t parent, uintptr_t ip)
{
    struct snapshot_node *p = snapshot_tree_at(t, parent);
    if (p->kids <= TREE_LIST_MAX) {
        for (uint32_t c = p->first; c; c = t->node[c - 1].next) {
            if (t->node[c - 1].ip == ip) {
                return c - 1;
            }
        }
        uint32_t n = snapshot_tree_add(t, mods, last, parent, ip);
        t->node[n].next = p->first;
        p->first = n + 1;
        if (p->kids < TREE_LIST_MAX) {
            p->kids++;
        } else if (snapshot_tree_room(t, TREE_LIST_MAX + 1) == 0) { /* many: from now on hashed */
            p->kids++;
            for (uint32_t c = p->first; c; c = t->node[c - 1].next) {
                snapshot_tree_insert(t, c - 1);
            }
        }
        return n;
    }
    for (uint64_t i = snapshot_tree_hash(parent, ip);; i++) {
        uint32_t slot = t->slots[i & t->mask];
        if (slot == 0) {
            break;
        }
        if (t->node[slot - 1].parent == parent && t->node[slot - 1].ip == ip) {
            return slot - 1;
        }
    }
    uint32_t n = snapshot_tree_add(t, mods, last, parent, ip);
    if (snapshot_tree_room(t, 1) == 0) {
        snapshot_tree_insert(t, n);
    } /* else never found again: later stacks repeat its frames (a larger file, the same stacks) */
    return n;
}

static void snapshot_tree_release(struct snapshot_tree *t)
{
    if (t->slots) {
        ms_platform_unmap(t->slots, (size_t)(t->mask + 1) * sizeof(uint32_t));
    }
    ms_platform_unmap(t->map, t->map_size);
    memset(t, 0, sizeof *t);
}

static int snapshot_tree_build(struct snapshot_tree *t, uint32_t n, const struct ms_modules *mods)
{
    memset(t, 0, sizeof *t);
    uint64_t frames = 0;
    for (uint32_t id = 0; id < n; id++) {
        unsigned depth, flags;
        (void)ms_stacks_get(id, &depth, &flags);
        frames += depth;
    }
    if (frames >= TREE_NONE) {
        return -EOVERFLOW;
    }
    /* Only the children of nodes with many are hashed: the table starts small and grows. */
    size_t cap = (size_t)frames + 1, slots = 4096;
    size_t leaf_size = ((size_t)n * sizeof(uint32_t) + 63) & ~(size_t)63;
    t->map_size = leaf_size + cap * sizeof(struct snapshot_node);
    void *table;
    int rc = ms_platform_map(t->map_size, 1, &t->map);
    if (rc == 0 && (rc = ms_platform_map(slots * sizeof(uint32_t), 1, &table)) < 0) {
        ms_platform_unmap(t->map, t->map_size);
    }
    if (rc < 0) {
        memset(t, 0, sizeof *t);
        return rc;
    }
    /* Every leaf is written. */
    ms_platform_prefault(t->map, leaf_size);
    t->slots = table;
    t->leaf = t->map;
    t->node = (struct snapshot_node *)(void *)((char *)t->map + leaf_size);
    t->cap = (uint32_t)cap;
    t->mask = slots - 1;

    /* The previous stack from its outermost frame: prev_ip[k] and the node it became. */
    uintptr_t prev_ip[MS_CONFIG_DEPTH_MAX];
    uint32_t prev_node[MS_CONFIG_DEPTH_MAX];
    unsigned prev_depth = 0;
    uint32_t last = MS_FMT_MODULE_NONE;
    for (uint32_t id = 0; id < n; id++) {
        unsigned depth, flags;
        void *const *ips = ms_stacks_get(id, &depth, &flags);
        if (depth > MS_CONFIG_DEPTH_MAX) {
            depth = MS_CONFIG_DEPTH_MAX; /* never: the unwinder's limit */
        }
        uint32_t parent = TREE_NONE;
        unsigned k = 0;
        for (; k < depth && k < prev_depth && prev_ip[k] == (uintptr_t)ips[depth - 1 - k]; k++) {
            parent = prev_node[k];
        }
        for (; k < depth; k++) {
            uintptr_t ip = (uintptr_t)ips[depth - 1 - k];
            parent = snapshot_tree_node(t, mods, &last, parent, ip);
            prev_ip[k] = ip;
            prev_node[k] = parent;
        }
        prev_depth = depth;
        t->leaf[id] = depth ? parent + 1 : 0;
        t->len += snapshot_varint_len(t->leaf[id]) + snapshot_varint_len(flags);
    }
    t->len += snapshot_varint_len(t->nodes) + snapshot_varint_len(n);
    return 0;
}

static void snapshot_write_tree(struct snapshot_out *o, const struct snapshot_tree *t, uint32_t n,
                                const struct ms_modules *mods)
{
    unsigned char *w = snapshot_reserve(o, 10);
    o->used = (size_t)(snapshot_varint(w, t->nodes) - o->buf);
    for (uint32_t i = 0; i < t->nodes; i++) {
        const struct snapshot_node *d = &t->node[i];
        int none = d->module == MS_FMT_MODULE_NONE;
        w = snapshot_reserve(o, 30);
        w = snapshot_varint(w, d->parent == TREE_NONE ? 0 : i - d->parent);
        w = snapshot_varint(w, none ? 0 : (uint64_t)d->module + 1);
        w = snapshot_varint(w, none ? d->ip : d->ip - mods->items[d->module].base);
        o->used = (size_t)(w - o->buf);
    }
    w = snapshot_reserve(o, 10);
    o->used = (size_t)(snapshot_varint(w, n) - o->buf);
    for (uint32_t id = 0; id < n; id++) {
        unsigned depth, flags;
        (void)ms_stacks_get(id, &depth, &flags);
        w = snapshot_reserve(o, 20);
        w = snapshot_varint(w, t->leaf[id]);
        w = snapshot_varint(w, flags);
        o->used = (size_t)(w - o->buf);
    }
}

struct snapshot_plan {
    struct ms_modules mods;
    struct snapshot_tree tree;
    uint32_t stacks;
    uint64_t stacks_len, modules_len, info_len, labels_len, sites_len, leaks_len, roots_len;
    uint64_t temps_len; /* 0: no TEMPORARY section (sampled counts) */
    uint32_t label_count;
    struct ms_reach reach; /* reach.sites NULL: no scan, no LEAKS section */
    uint32_t leak_records;
};

static void snapshot_site_fields(const struct ms_site_counts *c, uint32_t id, uint64_t v[7])
{
    v[0] = id;
    v[1] = c->alloc_bytes - c->free_bytes;
    v[2] = c->alloc_count - c->free_count;
    v[3] = c->alloc_bytes;
    v[4] = c->alloc_count;
    v[5] = c->free_bytes;
    v[6] = c->free_count;
}

static uint64_t snapshot_sites_len(const struct ms_site_counts *sites, uint32_t n)
{
    uint64_t len = snapshot_varint_len(n), v[7];
    for (uint32_t id = 0; id < n; id++) {
        snapshot_site_fields(&sites[id], id, v);
        for (int k = 0; k < 7; k++) {
            len += snapshot_varint_len(v[k]);
        }
    }
    return len;
}

/* SITES_PACKED: most counters are small, and a stack that freed nothing has zeros. */
static void snapshot_write_sites(struct snapshot_out *o, const struct ms_site_counts *sites, uint32_t n)
{
    unsigned char *w = snapshot_reserve(o, 10);
    o->used = (size_t)(snapshot_varint(w, n) - o->buf);
    for (uint32_t id = 0; id < n; id++) {
        uint64_t v[7];
        snapshot_site_fields(&sites[id], id, v);
        w = snapshot_reserve(o, 7 * 10);
        for (int k = 0; k < 7; k++) {
            w = snapshot_varint(w, v[k]);
        }
        o->used = (size_t)(w - o->buf);
    }
}

/* TEMPORARY: the stacks with temporary allocations as (id delta, count) varints. With o NULL, only the
 * payload's length. */
static uint64_t snapshot_temp_count(const struct ms_site_counts *c)
{
    return c->free_count > c->kept_frees ? c->free_count - c->kept_frees : 0;
}

static uint64_t snapshot_temps(struct snapshot_out *o, const struct ms_site_counts *sites, uint32_t n)
{
    uint32_t count = 0, prev = 0;
    for (uint32_t id = 0; id < n; id++) {
        count += snapshot_temp_count(&sites[id]) != 0;
    }
    uint64_t len = snapshot_varint_len(count);
    if (o) {
        o->used = (size_t)(snapshot_varint(snapshot_reserve(o, 10), count) - o->buf);
    }
    for (uint32_t id = 0; id < n; id++) {
        uint64_t temps = snapshot_temp_count(&sites[id]);
        if (!temps) {
            continue;
        }
        len += snapshot_varint_len(id - prev) + snapshot_varint_len(temps);
        if (o) {
            unsigned char *w = snapshot_varint(snapshot_reserve(o, 20), id - prev);
            o->used = (size_t)(snapshot_varint(w, temps) - o->buf);
        }
        prev = id;
    }
    return len;
}

static int snapshot_leak_nonzero(const struct ms_reach_site *r)
{
    return r->lost_count | r->indirect_count | r->reachable_count;
}

/* The at-exit scan; a failure costs only the LEAKS section. */
static void snapshot_scan(struct snapshot_plan *pl)
{
    int rc = ms_reach_scan(pl->stacks, snapshot_caller_sp, &pl->reach);
    if (rc < 0) {
        const char *why = rc == -EFAULT ? "the exiting thread's stack is unknown"
                                        : strerrordesc_np(-rc);
        ms_text_warn("leak scan skipped: ", why ? why : "error", (const char *)0);
        return;
    }
    ms_leakexit_note(&pl->reach);
    for (uint32_t id = 0; id < pl->reach.nstacks; id++) {
        pl->leak_records += snapshot_leak_nonzero(&pl->reach.sites[id]) ? 1 : 0;
    }
    pl->leaks_len = sizeof(struct ms_fmt_leaks) + (uint64_t)pl->leak_records * sizeof(struct ms_fmt_leak);
    pl->roots_len = sizeof(struct ms_fmt_leak_roots) + (uint64_t)pl->reach.nroots * sizeof(struct ms_fmt_leak_root);
}

static void snapshot_write_leak_roots(struct snapshot_out *o, const struct ms_reach *r)
{
    struct ms_fmt_leak_roots h = {.count = r->nroots};
    snapshot_put(o, &h, sizeof h);
    for (uint32_t i = 0; i < r->nroots; i++) {
        struct ms_fmt_leak_root l = {r->roots[i].stack, r->roots[i].root, r->roots[i].bytes, r->roots[i].count};
        snapshot_put(o, &l, sizeof l);
    }
}

static void snapshot_write_leaks(struct snapshot_out *o, const struct snapshot_plan *pl)
{
    struct ms_fmt_leaks h = {
        .count = pl->leak_records,
        .threads_unknown = pl->reach.threads_unknown,
        .scanned_blocks = pl->reach.blocks,
        .skipped_blocks = pl->reach.skipped,
        .scan_ns = pl->reach.scan_ns,
    };
    snapshot_put(o, &h, sizeof h);
    for (uint32_t id = 0; id < pl->reach.nstacks; id++) {
        const struct ms_reach_site *r = &pl->reach.sites[id];
        if (!snapshot_leak_nonzero(r)) {
            continue;
        }
        struct ms_fmt_leak l = {
            .stack = id,
            .lost_bytes = r->lost_bytes,
            .lost_count = r->lost_count,
            .indirect_bytes = r->indirect_bytes,
            .indirect_count = r->indirect_count,
            .reachable_bytes = r->reachable_bytes,
            .reachable_count = r->reachable_count,
        };
        snapshot_put(o, &l, sizeof l);
    }
}

static void snapshot_size_class(void *ctx, uintptr_t addr, uint64_t size, uint32_t stack, int held)
{
    struct ms_fmt_memory *m = ctx;
    (void)addr;
    (void)held;
    (void)stack;
    unsigned k = size ? 64u - (unsigned)__builtin_clzll(size) : 0;
    k = k < MS_FMT_SIZE_CLASSES ? k : MS_FMT_SIZE_CLASSES - 1;
    m->class_count[k]++;
    m->class_bytes[k] += size;
}

/* The MEMORY section: RSS, and the live blocks by size class (every stripe locked while they are counted:
 * allocating threads wait that long, about a nanosecond per live block). */
static void snapshot_memory(struct ms_fmt_memory *m)
{
    memset(m, 0, sizeof *m);
    uint64_t rss;
    if (ms_platform_rss(&rss) == 0) {
        m->rss_bytes = rss;
    }
    ms_heapmap_lock_all();
    ms_heapmap_each(snapshot_size_class, m);
    ms_heapmap_unlock_all();
}

static void snapshot_write_modules(struct snapshot_out *o, const struct ms_modules *m)
{
    snapshot_u32(o, m->count);
    for (uint32_t i = 0; i < m->count; i++) {
        const struct ms_modules_entry *mod = &m->items[i];
        struct ms_fmt_module r = {
            .base = mod->base,
            .size = mod->hi - mod->lo,
            .path_len = mod->path_len,
            .build_id_len = mod->build_id_len,
        };
        snapshot_put(o, &r, sizeof r);
        snapshot_put(o, mod->path, mod->path_len);
        snapshot_put(o, mod->build_id, mod->build_id_len);
    }
}

static void snapshot_label(struct snapshot_out *o, const char *key, const char *value, uint32_t vlen)
{
    uint32_t klen = (uint32_t)strlen(key);
    snapshot_u32(o, klen);
    snapshot_u32(o, vlen);
    snapshot_put(o, key, klen);
    snapshot_put(o, value, vlen);
}

/* From here on the bytes go out compressed: one frame whose size is known (readers size their buffer from
 * the header and check the frame against it). The context is kept from one snapshot to the next. */
static int snapshot_zstd_begin(struct snapshot_out *o, uint64_t body)
{
    static ZSTD_CCtx *cctx;
    if (!cctx && !(cctx = ZSTD_createCCtx())) {
        return -ENOMEM;
    }
    if (ZSTD_isError(ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, SNAPSHOT_ZSTD_LEVEL)) ||
        ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(cctx, body))) {
        return -EIO;
    }
    o->zc = cctx;
    return 0;
}

static int snapshot_body(struct snapshot_out *o, const char *label, uint32_t trigger, uint32_t seq)
{
    struct snapshot_plan pl;
    memset(&pl, 0, sizeof pl);
    int rc = ms_modules_collect(&pl.mods);
    if (rc < 0) {
        return rc;
    }
    char exe_buf[MS_CONFIG_PATH_MAX];
    uint32_t exe_len;
    (void)snapshot_exe(exe_buf, sizeof exe_buf, &exe_len);
    uint32_t label_len = label ? (uint32_t)strnlen(label, 65536) : 0;

    pl.stacks = ms_stacks_count();
    struct ms_site_counts *sites;
    size_t sites_size = (pl.stacks ? pl.stacks : 1) * sizeof *sites;
    rc = ms_platform_map(sites_size, 1, (void **)&sites);
    if (rc < 0) {
        ms_modules_release(&pl.mods);
        return rc;
    }
    ms_platform_prefault(sites, sites_size);
    ms_sites_collect(pl.stacks, sites);
    if (ms_reach_enabled(trigger)) {
        snapshot_scan(&pl);
    }
    rc = snapshot_tree_build(&pl.tree, pl.stacks, &pl.mods);
    if (rc < 0) {
        ms_modules_release(&pl.mods);
        ms_reach_release(&pl.reach);
        ms_platform_unmap(sites, sites_size);
        return rc;
    }
    pl.stacks_len = pl.tree.len;
    pl.sites_len = snapshot_sites_len(sites, pl.stacks);
    pl.temps_len = ms_config.sample ? 0 : snapshot_temps(NULL, sites, pl.stacks);
    pl.modules_len = 4;
    for (uint32_t i = 0; i < pl.mods.count; i++) {
        pl.modules_len += sizeof(struct ms_fmt_module) + pl.mods.items[i].path_len + pl.mods.items[i].build_id_len;
    }
    pl.info_len = sizeof(struct ms_fmt_info) + exe_len + label_len;
    pl.labels_len = 4;
    if (label_len) {
        pl.label_count = 1;
        pl.labels_len += 8 + 5 + label_len;
    }
    uint32_t shadow_len;
    const char *shadow = ms_real_shadowed(&shadow_len); /* another allocator first: this file is empty */
    if (shadow) {
        pl.label_count++;
        pl.labels_len += 8 + 7 + shadow_len;
    }
    uint64_t lengths[] = {pl.info_len, sizeof(struct ms_fmt_totals), pl.modules_len, pl.stacks_len,
                          pl.sites_len, sizeof(struct ms_fmt_memory), pl.labels_len, 8};
    uint64_t file_size = sizeof(struct ms_fmt_header);
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        file_size += sizeof(struct ms_fmt_section) + snapshot_pad(lengths[i]);
    }
    if (pl.reach.sites) {
        file_size += sizeof(struct ms_fmt_section) + snapshot_pad(pl.leaks_len);
        file_size += sizeof(struct ms_fmt_section) + snapshot_pad(pl.roots_len);
    }
    if (pl.temps_len) {
        file_size += sizeof(struct ms_fmt_section) + snapshot_pad(pl.temps_len);
    }

    struct ms_tracker_totals t;
    ms_tracker_totals(&t, sites, pl.stacks);
    uint32_t flags = 0;
    flags |= ms_config.sample ? MS_FMT_FLAG_SAMPLED : 0;
    flags |= ms_stacks_any_truncated() ? MS_FMT_FLAG_TRUNCATED : 0;
    flags |= trigger == MS_FMT_TRIGGER_EXIT ? MS_FMT_FLAG_AT_EXIT : 0;
    flags |= MS_FMT_FLAG_ZSTD;
    struct ms_fmt_header h = {
        .version_major = MS_FMT_VERSION_MAJOR,
        .version_minor = MS_FMT_VERSION_MINOR,
        .flags = flags,
        .header_size = sizeof h,
        .section_count = 8 + 2 * (pl.reach.sites != NULL) + (pl.temps_len != 0),
        .file_size = file_size,
    };
    memcpy(h.magic, MS_FMT_MAGIC, MS_FMT_MAGIC_LEN);
    snapshot_put(o, &h, sizeof h);
    snapshot_flush(o);
    if (snapshot_zstd_begin(o, file_size - sizeof h) < 0 && o->err == 0) {
        o->err = -ENOMEM;
    }

    struct ms_fmt_info info = {
        .pid = (uint32_t)ms_tracker_pid(),
        .ppid = (uint32_t)ms_platform_ppid(),
        .time_ns = ms_platform_realtime_ns(),
        .uptime_ns = ms_platform_monotonic_ns() - ms_tracker_start_ns(),
        .sequence = seq,
        .trigger = trigger,
        .sample_rate = ms_config.sample,
        .depth_limit = ms_config.depth,
        .unwinder = ms_config.unwind,
        .exe_len = exe_len,
        .label_len = label_len,
    };
    snapshot_section(o, MS_FMT_SEC_INFO, pl.info_len);
    snapshot_put(o, &info, sizeof info);
    snapshot_put(o, exe_buf, exe_len);
    snapshot_put(o, label, label_len);
    snapshot_end_section(o, pl.info_len);

    struct ms_fmt_totals tt = {
        .current_bytes = t.current_bytes,
        .peak_bytes = t.peak_bytes,
        .live_count = t.live_count,
        .alloc_bytes = t.alloc_bytes,
        .alloc_count = t.alloc_count,
        .free_count = t.free_count,
        .unknown_frees = t.unknown_frees,
        .failed_allocs = t.failed_allocs,
        .stack_count = pl.stacks,
        .overhead_bytes = t.overhead_bytes,
    };
    memcpy(tt.calls, t.calls, sizeof tt.calls);
    o->current = t.current_bytes;
    snapshot_section(o, MS_FMT_SEC_TOTALS, sizeof tt);
    snapshot_put(o, &tt, sizeof tt);

    snapshot_section(o, MS_FMT_SEC_MODULES, pl.modules_len);
    snapshot_write_modules(o, &pl.mods);
    snapshot_end_section(o, pl.modules_len);

    snapshot_section(o, MS_FMT_SEC_STACK_TREE, pl.stacks_len);
    snapshot_write_tree(o, &pl.tree, pl.stacks, &pl.mods);
    snapshot_end_section(o, pl.stacks_len);

    snapshot_section(o, MS_FMT_SEC_SITES_PACKED, pl.sites_len);
    snapshot_write_sites(o, sites, pl.stacks);
    snapshot_end_section(o, pl.sites_len);

    snapshot_memory(&o->mem);
    snapshot_section(o, MS_FMT_SEC_MEMORY, sizeof o->mem);
    snapshot_put(o, &o->mem, sizeof o->mem);

    if (pl.temps_len) {
        snapshot_section(o, MS_FMT_SEC_TEMPORARY, pl.temps_len);
        snapshot_temps(o, sites, pl.stacks);
        snapshot_end_section(o, pl.temps_len);
    }

    if (pl.reach.sites) {
        snapshot_section(o, MS_FMT_SEC_LEAKS, pl.leaks_len);
        snapshot_write_leaks(o, &pl);
        snapshot_end_section(o, pl.leaks_len);
        snapshot_section(o, MS_FMT_SEC_LEAK_ROOTS, pl.roots_len);
        snapshot_write_leak_roots(o, &pl.reach);
        snapshot_end_section(o, pl.roots_len);
    }

    snapshot_section(o, MS_FMT_SEC_LABELS, pl.labels_len);
    snapshot_u32(o, pl.label_count);
    if (label_len) {
        snapshot_label(o, "label", label, label_len);
    }
    if (shadow) {
        snapshot_label(o, "warning", shadow, shadow_len);
    }
    snapshot_end_section(o, pl.labels_len);

    snapshot_flush(o);
    uint64_t sum = o->sum;
    snapshot_section(o, MS_FMT_SEC_END, 8);
    snapshot_put(o, &sum, sizeof sum);
    snapshot_flush(o);
    if (o->zc && o->err == 0) {
        o->err = snapshot_compress(o, NULL, 0, ZSTD_e_end);
    }
    o->zc = NULL;
    snapshot_tree_release(&pl.tree);
    ms_modules_release(&pl.mods);
    ms_reach_release(&pl.reach);
    ms_platform_unmap(sites, sites_size);
    return o->err;
}

/* Final name for an automatic snapshot. */
int ms_snapshot_name(char *out, size_t size, uint32_t seq)
{
    char exe_buf[MS_CONFIG_PATH_MAX];
    uint32_t len;
    const char *exe = snapshot_exe(exe_buf, sizeof exe_buf, &len);
    return ms_text_expand(ms_config.output, (uint64_t)ms_tracker_pid(), seq, exe, out, size);
}

/* Automatic snapshots (exit, signal, interval) have no caller to return an error to: say it on stderr,
 * once per process so that a failing interval does not flood it. */
static void snapshot_warn(const char *name, int rc)
{
    static int warned;
    if (__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED)) {
        return;
    }
    const char *why = strerrordesc_np(-rc);
    ms_text_warn("cannot write ", name, ": ", why ? why : "error", (const char *)0);
}

/* Creates FINAL.tmp.XXXXXXXXXXXX next to final, with an unpredictable suffix: a name another process
 * could guess could also be made to exist first. With fd >= 0, gives that (unnamed) file the name instead
 * of creating one. fd (or 0) or -errno. */
static int snapshot_create_temp(const char *final, char *tmp, size_t size, int fd)
{
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    size_t at = strlen(final);
    if (at + 5 + 12 + 1 > size) {
        return -ENAMETOOLONG;
    }
    memcpy(tmp, final, at);
    memcpy(tmp + at, ".tmp.", 5);
    at += 5;
    int rc = -EEXIST;
    for (int tries = 0; rc == -EEXIST && tries < 100; tries++) {
        unsigned char r[12];
        ms_platform_random(r, sizeof r);
        for (size_t i = 0; i < sizeof r; i++) {
            tmp[at + i] = digits[r[i] % (sizeof digits - 1)];
        }
        tmp[at + sizeof r] = '\0';
        rc = fd >= 0 ? ms_platform_link_fd(fd, tmp) : ms_platform_create(tmp);
    }
    return rc;
}

/* A file with no name yet in final's directory; -errno where the filesystem (or a missing /proc, found
 * at the first link) cannot. */
static int snapshot_no_unnamed;

static int snapshot_create_unnamed(const char *final)
{
    if (__atomic_load_n(&snapshot_no_unnamed, __ATOMIC_RELAXED)) {
        return -EOPNOTSUPP;
    }
    char dir[MS_CONFIG_PATH_MAX];
    const char *slash = strrchr(final, '/');
    size_t n = slash ? (size_t)(slash - final) : 0;
    if (slash && n == 0) {
        n = 1; /* the root */
    }
    if (n) {
        memcpy(dir, final, n);
        dir[n] = '\0';
    } else {
        memcpy(dir, ".", 2);
    }
    return ms_platform_create_unnamed(dir);
}

/* Names a complete unnamed file: an automatic name never replaces another file (the next number is
 * taken), an explicit path is replaced through a temporary name. 0 or -errno. */
static int snapshot_name_unnamed(int fd, const char *path, char *final, size_t size, char *tmp, size_t tmp_size,
                                 uint32_t *seq)
{
    if (path) {
        int rc = snapshot_create_temp(final, tmp, tmp_size, fd);
        if (rc == 0 && (rc = ms_platform_rename(tmp, final, 0)) < 0) {
            ms_platform_unlink(tmp);
        }
        return rc;
    }
    int rc = ms_platform_link_fd(fd, final);
    for (int tries = 0; rc == -EEXIST && tries < 1000; tries++) {
        if (ms_snapshot_name(final, size, *seq = snapshot_seq++) < 0) {
            break;
        }
        rc = ms_platform_link_fd(fd, final);
    }
    return rc;
}

/* MEMSNAP_PEAK keeps one file: the newest peak snapshot replaces the one before. A failed write re-arms
 * above the process peak, so that a full disk does not ask again at every new peak. */
static void snapshot_peak_keep(const char *final, uint64_t current)
{
    if (!final) {
        uint64_t peak;
        ms_sites_current(&current, &peak);
        ms_trigger_peak_rearm(peak);
        return;
    }
    if (snapshot_peak_file[0]) {
        ms_platform_unlink(snapshot_peak_file);
    }
    memcpy(snapshot_peak_file, final, strlen(final) + 1);
    ms_trigger_peak_rearm(current);
}

/* One snapshot, under snapshot_mutex, on the profiler's own stack when it has one (see ms_snapshot_write). */
struct snapshot_call {
    const char *path, *label;
    uint32_t trigger;
    int rc;
};

static void snapshot_write_locked(void *arg, uintptr_t caller_sp)
{
    struct snapshot_call *c = arg;
    const char *path = c->path;
    struct snapshot_out *o = &snapshot_out;
    snapshot_caller_sp = caller_sp;
    /* %n counts the files named by the pattern; an explicit path takes no number. */
    uint32_t seq = path ? snapshot_seq : snapshot_seq++;
    char final[MS_CONFIG_PATH_MAX], tmp[MS_CONFIG_PATH_MAX + 48];
    int fd = -1;
    int rc = 0;
    if (path) {
        size_t len = strlen(path);
        if (len == 0 || len >= sizeof final) {
            rc = len ? -ENAMETOOLONG : -ENOENT;
        } else {
            memcpy(final, path, len + 1);
        }
    } else {
        rc = ms_snapshot_name(final, sizeof final, seq);
    }
    if (rc < 0) {
        memcpy(final, ms_config.output, strlen(ms_config.output) + 1);
        goto out;
    }
again:;
    /* Unnamed until complete (O_TMPFILE): a process killed while writing, a pool worker terminated at
     * exit say, leaves no empty or partial file behind. Else under a temporary name, renamed. */
    int unnamed = 1;
    fd = snapshot_create_unnamed(final);
    if (fd < 0) {
        unnamed = 0;
        fd = snapshot_create_temp(final, tmp, sizeof tmp, -1);
    }
    if (fd < 0) {
        rc = fd;
        goto out;
    }
    o->fd = fd;
    o->zc = NULL;
    o->err = 0;
    o->used = 0;
    o->sum = MS_FMT_CHECKSUM_SEED;
    rc = snapshot_body(o, c->label, c->trigger, seq);
    if (unnamed) {
        if (rc == 0) {
            rc = snapshot_name_unnamed(fd, path, final, sizeof final, tmp, sizeof tmp, &seq);
        }
        ms_platform_close(fd);
        if (rc == -ENOENT) { /* no /proc/self/fd to link from: write it the other way */
            __atomic_store_n(&snapshot_no_unnamed, 1, __ATOMIC_RELAXED);
            goto again;
        }
        goto out;
    }
    int rc2 = ms_platform_close(fd);
    if (rc == 0) {
        rc = rc2;
    }
    if (rc == 0) {
        /* An automatic name never replaces another file; an explicit path is the caller's to reuse. */
        rc = ms_platform_rename(tmp, final, path == NULL);
        /* A name left by an earlier process with the same pid: take the next number. */
        for (int tries = 0; rc == -EEXIST && !path && tries < 1000; tries++) {
            if (ms_snapshot_name(final, sizeof final, seq = snapshot_seq++) < 0) {
                break;
            }
            rc = ms_platform_rename(tmp, final, 1);
        }
    }
    if (rc < 0) {
        ms_platform_unlink(tmp);
    }
out:
    if (rc == 0 && c->trigger == MS_FMT_TRIGGER_INTERVAL && !path) {
        ms_rotate_written(seq, ms_platform_monotonic_ns());
    }
    if (c->trigger == MS_FMT_TRIGGER_PEAK) {
        snapshot_peak_keep(rc == 0 ? final : NULL, o->current);
    }
    if (rc < 0 && !path) {
        snapshot_warn(final, rc);
    }
    c->rc = rc;
}

int ms_snapshot_write(const char *path, const char *label, uint32_t trigger)
{
    if (!ms_tracker_active()) {
        return -ENOSYS;
    }
    if (snapshot_held_by_me()) {
        return -EDEADLK;
    }
    if (ms_config.secure) {
        return -EPERM; /* see config_secure */
    }
    int cancel = ms_platform_cancel_off(); /* a thread cancelled here would keep the lock */
    ms_snapshot_lock();
    struct ms_platform_sigs sigs;
    ms_platform_write_signals_block(&sigs);
    struct snapshot_call c = {path, label, trigger, 0};
    /* The writer's buffers (paths, the tree's last stack, the scan's) take tens of KB: more than a
     * PTHREAD_STACK_MIN thread or a SIGSTKSZ signal stack that calls exit() has left. They go on a stack of
     * the profiler's own, mapped at the first snapshot and kept (one writer at a time: the lock). */
    if (!snapshot_stack_top && ms_platform_map_stack(SNAPSHOT_STACK, &snapshot_stack_top) < 0) {
        snapshot_stack_top = NULL;
    }
    if (snapshot_stack_top) {
        ms_ownstack_call(snapshot_write_locked, &c, snapshot_stack_top);
    } else {
        snapshot_write_locked(&c, 0); /* no memory for it: on the caller's stack */
    }
    ms_platform_write_signals_restore(&sigs);
    ms_snapshot_unlock();
    ms_platform_cancel_restore(cancel);
    return c.rc;
}
