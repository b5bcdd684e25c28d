/* Test-side snapshot writer: builds valid files and, section by section, hostile ones. Independent of the
 * preload's writer, so that the reader is checked against the format as documented. */
#ifndef MS_SNAPGEN_H
#define MS_SNAPGEN_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include <memsnap/format.h>

struct snapgen;

struct snapgen *snapgen_new(void);
void snapgen_free(struct snapgen *g);
void snapgen_flags(struct snapgen *g, uint32_t flags);
/* A sampled snapshot: MS_FMT_FLAG_SAMPLED and INFO.sample_rate (mean bytes between samples). */
void snapgen_sampled(struct snapgen *g, uint64_t rate);
/* Build as format 1.2 writes: STACK_TREE, SITES_PACKED, everything after the header zstd-compressed. */
void snapgen_compact(struct snapgen *g, int on);
void snapgen_info(struct snapgen *g, uint32_t pid, uint32_t trigger, const char *exe, const char *label);
void snapgen_totals(struct snapgen *g, const struct ms_fmt_totals *t);
/* INFO's clocks and sequence number (a series of snapshots of one process). */
void snapgen_time(struct snapgen *g, uint64_t time_ns, uint64_t uptime_ns, uint32_t sequence);
uint32_t snapgen_module(struct snapgen *g, const char *path, uint64_t base, uint64_t size,
                        const unsigned char *build_id, uint32_t build_id_len);
uint32_t snapgen_stack(struct snapgen *g, const struct ms_fmt_frame *frames, uint16_t depth, uint16_t flags);
void snapgen_site(struct snapgen *g, uint32_t stack, uint64_t live_bytes, uint64_t live_count, uint64_t alloc_bytes,
                  uint64_t alloc_count);
void snapgen_label(struct snapgen *g, const char *key, const char *value);
/* Replace a section's payload with raw bytes (for hostile files), or drop it (payload NULL, len 0). */
void snapgen_raw(struct snapgen *g, uint32_t type, const void *payload, size_t len);
/* An extra section of any type after the others (duplicates, unknown types). */
void snapgen_extra(struct snapgen *g, uint32_t type, const void *payload, size_t len);
/* The whole file (malloc'd), END and checksum included; totals are summed from the sites unless set. */
unsigned char *snapgen_build(struct snapgen *g, size_t *len);
/* The writers return 0, or -1 with errno saying why. */
int snapgen_write(struct snapgen *g, const char *path);
/* Recompute the checksum of a finished buffer after patching it. */
void snapgen_fix_checksum(unsigned char *buf, size_t len);
int snapgen_write_buf(const char *path, const void *buf, size_t len);

/* Named files shared by the tests, the fuzz corpus and the error-message checks. Returns a malloc'd buffer
 * or NULL for an unknown name; *expect gets a fragment of the reader's message (NULL: valid file). */
unsigned char *snapgen_named(const char *name, size_t *len, const char **expect);
extern const char *const snapgen_names[];

/* The running test program as a snapshot would record it: path, load base and build-id, so tests can make
 * frames that the symbolizer resolves into their own functions. 0, or -1 when it cannot be found. */
struct snapgen_self {
    char path[PATH_MAX];
    uintptr_t base;
    uintptr_t text_lo, text_hi; /* file addresses of the largest executable segment */
    unsigned char build_id[64];
    uint32_t build_id_len;
};
int snapgen_self(struct snapgen_self *out);

#endif
