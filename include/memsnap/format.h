/* memsnap snapshot file format, version 1.5 (1.1 added the LEAKS section; 1.2 the compressed body and the
 * STACK_TREE and SITES_PACKED sections; 1.3 the MEMORY section; 1.4 the TEMPORARY section; 1.5 the LEAK_ROOTS
 * section).
 *
 * Shared by the writer (preload/snapshot.c) and the reader (analyzer/snapfile.c); the prose version with
 * examples is docs/snapshot-format.md. Everything is little-endian. A file is:
 *
 *     struct ms_fmt_header                         64 bytes
 *     section*                                     each: struct ms_fmt_section + payload, padded to 8
 *     END section                                  payload: u64 checksum of every byte before it
 *
 * Sections may come in any order; a reader skips section types it does not know (minor versions add
 * sections, never change existing ones). A reader rejects a major version newer than its own by name.
 * Every count and length in a file is untrusted: readers check each against the bytes that remain.
 *
 * Variable-length records below are byte streams with no padding between records; the structs describe
 * their fixed-size prefixes, which are laid out without implicit padding (checked by static_assert).
 */
#ifndef MEMSNAP_FORMAT_H
#define MEMSNAP_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define MS_FMT_MAGIC "MEMSNAP\0"     /* 8 bytes, includes the NUL */
#define MS_FMT_MAGIC_LEN 8
#define MS_FMT_VERSION_MAJOR 1
#define MS_FMT_VERSION_MINOR 5

/* ms_fmt_header.flags */
enum {
    MS_FMT_FLAG_SAMPLED = 1u << 0,   /* counters are Poisson-sampled estimates (see INFO.sample_rate) */
    MS_FMT_FLAG_TRUNCATED = 1u << 1, /* at least one stack hit the depth limit */
    MS_FMT_FLAG_AT_EXIT = 1u << 2,   /* taken at process exit: live blocks are leaks */
    /* Since 1.2: everything after the header is one zstd frame. Decompressed, header + those bytes are the
     * file as described here (file_size and the END checksum are about that image). */
    MS_FMT_FLAG_ZSTD = 1u << 3,
};

/* Flags a reader must understand to read the file at all: a reader refuses, by version, a file with one it
 * does not know (flags outside this mask are hints it may ignore). */
#define MS_FMT_FLAGS_REQUIRED (0xffffu << 3)

struct ms_fmt_header {
    char magic[8];          /* MS_FMT_MAGIC */
    uint16_t version_major; /* MS_FMT_VERSION_MAJOR */
    uint16_t version_minor;
    uint32_t flags;
    uint32_t header_size;   /* sizeof(struct ms_fmt_header); readers skip what they do not know */
    uint32_t section_count; /* including END */
    uint64_t file_size;     /* total bytes, END included */
    uint8_t reserved[32];   /* zero */
};

/* Section types. */
enum {
    MS_FMT_SEC_INFO = 1,
    MS_FMT_SEC_TOTALS = 2,
    MS_FMT_SEC_MODULES = 3,
    MS_FMT_SEC_STACKS = 4,
    MS_FMT_SEC_SITES = 5,
    MS_FMT_SEC_LABELS = 6,
    MS_FMT_SEC_LEAKS = 7, /* since 1.1 */
    MS_FMT_SEC_STACK_TREE = 8, /* since 1.2: the stacks as a prefix tree (replaces STACKS) */
    MS_FMT_SEC_SITES_PACKED = 9, /* since 1.2: SITES in varints (replaces SITES) */
    MS_FMT_SEC_MEMORY = 10, /* since 1.3: resident set and live blocks by size class */
    MS_FMT_SEC_TEMPORARY = 11, /* since 1.4: temporary allocations per stack */
    MS_FMT_SEC_LEAK_ROOTS = 12, /* since 1.5: which lost structure indirectly lost blocks hang from */
    MS_FMT_SEC_END = 0xffff,
};

struct ms_fmt_section {
    uint32_t type;
    uint32_t reserved; /* zero */
    uint64_t length;   /* payload bytes, excluding this header and the padding to 8 */
};

/* What made the snapshot (INFO.trigger). */
enum {
    MS_FMT_TRIGGER_API = 1,      /* memsnap_snapshot() */
    MS_FMT_TRIGGER_SIGNAL = 2,   /* MEMSNAP_SIGNAL */
    MS_FMT_TRIGGER_INTERVAL = 3, /* MEMSNAP_INTERVAL */
    MS_FMT_TRIGGER_EXIT = 4,     /* exit(), return from main, _exit where caught */
    MS_FMT_TRIGGER_PEAK = 5,     /* since 1.3: MEMSNAP_PEAK, a new process peak (older readers: unknown) */
};

/* INFO.unwinder: how the stacks were walked (MEMSNAP_UNWIND). Readers name other values "unknown". */
enum {
    MS_FMT_UNWINDER_DWARF = 0,     /* CFI rules cached per return address, libunwind as fallback */
    MS_FMT_UNWINDER_FP = 1,        /* frame pointers */
    MS_FMT_UNWINDER_LIBUNWIND = 2, /* unw_backtrace on every allocation */
};

/* INFO payload: this prefix, then exe path (exe_len bytes) and label (label_len bytes), no NULs. */
struct ms_fmt_info {
    uint32_t pid;
    uint32_t ppid;
    uint64_t time_ns;      /* CLOCK_REALTIME at the snapshot */
    uint64_t uptime_ns;    /* CLOCK_MONOTONIC since the preload started: orders interval snapshots */
    uint32_t sequence;     /* %n: 0, 1, 2 ... per process */
    uint32_t trigger;      /* MS_FMT_TRIGGER_* */
    uint64_t sample_rate;  /* mean bytes between samples; 0 = every allocation recorded */
    uint32_t depth_limit;  /* MEMSNAP_DEPTH in force */
    uint32_t unwinder;     /* MS_FMT_UNWINDER_* */
    uint32_t exe_len;
    uint32_t label_len;
};

/* TOTALS payload: process-wide counters. With MS_FMT_FLAG_SAMPLED the byte and count fields of live and
 * allocated memory are estimates; the call counters are always exact. */
struct ms_fmt_totals {
    uint64_t current_bytes; /* live requested bytes */
    uint64_t peak_bytes;    /* highest current_bytes since start or the last memsnap_reset_peak() */
    uint64_t live_count;    /* live blocks */
    uint64_t alloc_bytes;   /* requested bytes over the process lifetime */
    uint64_t alloc_count;   /* successful allocations (a realloc counts as one, and its old block as a free) */
    uint64_t free_count;    /* frees of tracked blocks */
    uint64_t calls[12];     /* indexed by MS_FMT_CALL_* */
    uint64_t unknown_frees; /* frees of pointers never seen (allocated before the preload loaded) */
    uint64_t failed_allocs; /* allocations the real allocator refused */
    uint64_t stack_count;   /* distinct stacks recorded (== STACKS count) */
    uint64_t overhead_bytes;/* memory the profiler itself holds (tables, arenas) */
};

enum {
    MS_FMT_CALL_MALLOC = 0,
    MS_FMT_CALL_CALLOC,
    MS_FMT_CALL_REALLOC,
    MS_FMT_CALL_REALLOCARRAY,
    MS_FMT_CALL_FREE,
    MS_FMT_CALL_POSIX_MEMALIGN,
    MS_FMT_CALL_ALIGNED_ALLOC,
    MS_FMT_CALL_MEMALIGN,
    MS_FMT_CALL_VALLOC,
    MS_FMT_CALL_PVALLOC,
    MS_FMT_CALL_CFREE,
    MS_FMT_CALL_OTHER,
    MS_FMT_CALL_COUNT
};

/* MODULES payload: u32 count, then count records of this prefix + path (path_len bytes) + build-id
 * (build_id_len bytes, raw). Module 0 is the main executable. */
struct ms_fmt_module {
    uint64_t base;        /* load bias: runtime address = base + file virtual address */
    uint64_t size;        /* span of its PT_LOAD segments in memory */
    uint32_t path_len;
    uint32_t build_id_len; /* 0 when the module has no NT_GNU_BUILD_ID */
};

#define MS_FMT_MODULE_NONE 0xffffffffu /* frame not inside any known module: offset is the raw address */

/* STACKS payload: u32 count, then count records of this prefix + depth frames. Stack ids are the record
 * indices 0..count-1. Frame 0 is the innermost: the return address into the caller of the allocation
 * function. Offsets are return addresses minus the module's base (so a symbolizer looks up offset - 1). */
struct ms_fmt_stack {
    uint16_t depth;
    uint16_t flags; /* MS_FMT_STACK_* */
};

enum {
    MS_FMT_STACK_TRUNCATED = 1u << 0, /* the depth limit cut it */
    MS_FMT_STACK_BROKEN = 1u << 1,    /* the unwinder stopped on a bad frame */
};

struct ms_fmt_frame {
    uint32_t module; /* index into MODULES, or MS_FMT_MODULE_NONE */
    uint32_t reserved;
    uint64_t offset;
};

/* STACK_TREE payload (since 1.2; a file has STACKS or STACK_TREE): unsigned LEB128 varints throughout.
 *   node_count, then node_count nodes: parent_delta, module + 1, offset
 *   stack_count, then stack_count stacks: node + 1, flags
 * Node i is one frame (module 0 in the varint means MS_FMT_MODULE_NONE) called from node i - parent_delta
 * (parent_delta 0: an outermost frame), so stacks that share their callers share those nodes. A stack is
 * its innermost node followed up the parents (node + 1 = 0: no frames): frame 0 first, as in STACKS. Stack
 * ids are the record indices, as in STACKS. */

/* SITES_PACKED payload (since 1.2; a file has SITES or SITES_PACKED): varint count, then per site the
 * fields of struct ms_fmt_site as varints: stack, live_bytes, live_count, alloc_bytes, alloc_count,
 * free_bytes, free_count. */

/* SITES payload: u32 count, then count records. One per stack that ever allocated. */
struct ms_fmt_site {
    uint32_t stack;   /* index into STACKS */
    uint32_t reserved;
    uint64_t live_bytes;
    uint64_t live_count;
    uint64_t alloc_bytes; /* allocated over the lifetime of the process */
    uint64_t alloc_count;
    uint64_t free_bytes;
    uint64_t free_count;
};

/* LABELS payload: u32 count, then count records of u32 key_len, u32 value_len, key, value. Free-form
 * annotations (e.g. a test name passed by memsnap_snapshot_labeled). */

/* LEAKS payload (since 1.1; at most one, usually only in at-exit snapshots): this prefix, then count
 * records of struct ms_fmt_leak, at most one per stack. The result of a reachability scan of the live
 * heap: every scanned live block is in exactly one kind. A file without LEAKS has unknown reachability.
 * Stacks with no scanned block have no record; blocks not scanned (allocated while the scan ran) are in
 * no record, so a stack's kinds may sum to less than its live counters. */
struct ms_fmt_leaks {
    uint32_t count;
    uint32_t threads_unknown; /* other threads whose stacks were not roots (running at the scan) */
    uint64_t scanned_blocks; /* live blocks classified */
    uint64_t skipped_blocks; /* live blocks the scan saw but could not attribute to a recorded stack */
    uint64_t scan_ns;        /* time the scan took */
};

struct ms_fmt_leak {
    uint32_t stack; /* index into STACKS */
    uint32_t reserved;
    uint64_t lost_bytes;      /* definitely lost: no pointer reaches the block from a root or another block */
    uint64_t lost_count;
    uint64_t indirect_bytes;  /* indirectly lost: reached only from lost blocks */
    uint64_t indirect_count;
    uint64_t reachable_bytes; /* still reachable from a root (globals, the exiting thread's stack, TLS) */
    uint64_t reachable_count;
};

/* LEAK_ROOTS payload (since 1.5; at most one, beside LEAKS): u32 count, u32 reserved, then count records
 * of struct ms_fmt_leak_root, sorted by (stack, root), each pair once. Every indirectly lost block counts
 * once, under the stack of the definitely lost block that leads the structure the scan reached it from
 * first; so a stack's records sum to at most its LEAKS indirect figures (less only for blocks the scan
 * could not attribute). For LeakSanitizer's suppression rule: what hangs from a suppressed block is not
 * reported either. */
struct ms_fmt_leak_roots {
    uint32_t count;
    uint32_t reserved;
};

struct ms_fmt_leak_root {
    uint32_t stack; /* an indirectly lost block's stack (index into STACKS) */
    uint32_t root;  /* the stack of the definitely lost block its structure hangs from */
    uint64_t bytes;
    uint64_t count;
};

/* MEMORY payload (since 1.3; optional, at most one): the process's resident set and the live blocks by
 * size. Class 0 holds blocks of 0 bytes, class k >= 1 blocks of 2^(k-1) to 2^k - 1 bytes (the last class
 * also everything larger). With MS_FMT_FLAG_SAMPLED the classes count the sampled blocks only. Readers
 * accept a longer payload (later fields) and use this prefix. */
#define MS_FMT_SIZE_CLASSES 48
struct ms_fmt_memory {
    uint64_t rss_bytes; /* resident set size at the snapshot (/proc/self/statm); 0 when unknown */
    uint64_t reserved;  /* zero */
    uint64_t class_count[MS_FMT_SIZE_CLASSES]; /* live blocks per size class */
    uint64_t class_bytes[MS_FMT_SIZE_CLASSES]; /* their requested bytes */
};

/* TEMPORARY payload (since 1.4; optional, at most one): the allocations freed before their thread's next
 * allocation (heaptrack's "temporary"), per stack. Unsigned LEB128 varints: count, then count records of
 * (stack id minus the previous record's, the first minus 0; ids strictly increasing, each a stack with a
 * site) and (temporary allocations, >= 1). Stacks not listed had none. With MS_FMT_FLAG_SAMPLED the
 * counts are of the sampled blocks only. */

/* END payload: u64 checksum = ms_fmt_checksum over every byte of the file before the END section header. */

_Static_assert(sizeof(struct ms_fmt_header) == 64, "header layout");
_Static_assert(sizeof(struct ms_fmt_section) == 16, "section layout");
_Static_assert(sizeof(struct ms_fmt_info) == 56, "info layout");
_Static_assert(sizeof(struct ms_fmt_totals) == 8 * 22, "totals layout");
_Static_assert(sizeof(struct ms_fmt_module) == 24, "module layout");
_Static_assert(sizeof(struct ms_fmt_stack) == 4, "stack layout");
_Static_assert(sizeof(struct ms_fmt_frame) == 16, "frame layout");
_Static_assert(sizeof(struct ms_fmt_site) == 56, "site layout");
_Static_assert(sizeof(struct ms_fmt_leaks) == 32, "leaks layout");
_Static_assert(sizeof(struct ms_fmt_leak) == 56, "leak layout");
_Static_assert(sizeof(struct ms_fmt_leak_roots) == 8, "leak roots layout");
_Static_assert(sizeof(struct ms_fmt_leak_root) == 24, "leak root layout");
_Static_assert(sizeof(struct ms_fmt_memory) == 16 + 16 * MS_FMT_SIZE_CLASSES, "memory layout");

#define MS_FMT_CHECKSUM_SEED 0x6d656d736e617073ull /* "memsnaps" */

/* A streaming 64-bit checksum (FNV-1a over 8-byte words, then the tail): cheap enough to compute while
 * writing with no allocation, and a single implementation for writer and reader. Feed the whole byte stream
 * in chunks that are multiples of 8 except the last. */
static inline uint64_t ms_fmt_checksum(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = (const unsigned char *)data;
    while (len >= 8) {
        uint64_t w = (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
                     (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
                     (uint64_t)p[7] << 56;
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 29;
        p += 8;
        len -= 8;
    }
    while (len--) {
        h = (h ^ *p++) * 0x100000001b3ull;
    }
    return h;
}

#endif /* MEMSNAP_FORMAT_H */
