/* libmemsnap-analyze: reading, symbolizing, grouping and reporting snapshots; the `memsnap` CLI sits on top.
 *
 * Error convention: the one of common/common.h, shared with the harness: functions that can fail return
 * `enum ms_status` (MS_OK, MS_GATE, or a negative errno such as MS_INPUT) and leave one line in a
 * `struct ms_error` naming the file and the problem (no trailing newline). The CLI maps results to exit
 * statuses: MS_OK -> 0, MS_GATE -> 1, everything else -> 2. Functions clean up through one `out:` label.
 *
 * In-process use (e.g. a memory test comparing two snapshots):
 *
 *     struct ms_error err;
 *     struct ms_diff *d;
 *     if (ms_diff_files("before.snap", "after.snap", NULL, &d, &err) != MS_OK) { puts(err.msg); ... }
 *     ms_diff_print(d, stdout, 10, 0);          // top 10 rows, tracemalloc style, then the total
 *     long long grew = ms_diff_total(d)->size_diff;
 *     ms_diff_free(d);
 */
#ifndef MS_ANALYZE_H
#define MS_ANALYZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <memsnap/format.h>

#include "common.h"

/* ---- grow.c: the growable array ------------------------------------------------------------------- */

/* Room for `need` elements of `size` bytes in the array *array (a T **, capacity *cap elements), doubling
 * from `min`. false, the array unchanged, when out of memory. */
bool ms_grow(void *array, size_t *cap, size_t need, size_t size, size_t min);
/* T *v; size_t cap; if (!MS_GROW(v, cap, n + 1, 16)) ... */
#define MS_GROW(v, cap, need, min) ms_grow(&(v), &(cap), (need), sizeof *(v), (min))

/* ---- map.c: byte-key hash map --------------------------------------------------------------------- */

/* Map from byte strings to uint32 values (open addressing, keys copied). */
struct ms_map;
struct ms_map *ms_map_new(void);
void ms_map_free(struct ms_map *m);
/* The slot for key: *created tells whether it was just added (value 0). NULL on no memory. */
uint32_t *ms_map_slot(struct ms_map *m, const void *key, size_t len, bool *created);
const uint32_t *ms_map_find(const struct ms_map *m, const void *key, size_t len);
uint64_t ms_map_hash(const void *key, size_t len);
/* Iteration: slots 0 .. ms_map_capacity() - 1; ms_map_at() is false for an empty slot. */
size_t ms_map_capacity(const struct ms_map *m);
bool ms_map_at(const struct ms_map *m, size_t i, const void **key, size_t *len, uint32_t *value);

/* ---- strtab.c: interned strings ------------------------------------------------------------------ */

/* Interned strings: equal strings get the same id and the same stable pointer. Id 0 is "". */
struct ms_strtab;
struct ms_strtab *ms_strtab_new(void);
void ms_strtab_free(struct ms_strtab *t);
uint32_t ms_strtab_intern(struct ms_strtab *t, const char *s, size_t len); /* UINT32_MAX on no memory */
const char *ms_strtab_get(const struct ms_strtab *t, uint32_t id);

/* ---- snapfile.c: read and validate a snapshot file ---------------------------------------------- */

struct ms_module {
    const char *path;
    uint64_t base, size;
    const unsigned char *build_id;
    uint32_t build_id_len;
};

struct ms_frame {
    uint32_t module; /* index into modules, or MS_FMT_MODULE_NONE */
    uint64_t offset;
};

struct ms_stack {
    uint32_t depth;
    uint32_t flags; /* MS_FMT_STACK_* */
    const struct ms_frame *frames; /* innermost first */
};

struct ms_site {
    uint32_t stack;
    uint64_t live_bytes, live_count, alloc_bytes, alloc_count, free_bytes, free_count;
    uint64_t temp_count; /* allocations freed before their thread's next one (TEMPORARY section; else 0) */
};

struct ms_label {
    const char *key, *value;
};

/* A LEAKS record: the at-exit reachability scan's verdict on one stack's live blocks. */
struct ms_leak {
    uint32_t stack;
    uint64_t lost_bytes, lost_count, indirect_bytes, indirect_count, reachable_bytes, reachable_count;
};

/* A LEAK_ROOTS record: indirectly lost blocks of `stack` hanging from a definitely lost block of `root`. */
struct ms_leak_root {
    uint32_t stack, root;
    uint64_t bytes, count;
};

struct ms_snap {
    const char *path; /* as given to the reader */
    uint16_t version_major, version_minor;
    uint32_t flags; /* MS_FMT_FLAG_* */
    bool has_info, has_totals;
    struct ms_fmt_info info;
    const char *exe, *label;
    struct ms_fmt_totals totals;
    struct ms_module *modules;
    uint32_t module_count;
    struct ms_stack *stacks;
    uint32_t stack_count;
    struct ms_site *sites;
    uint32_t site_count;
    struct ms_label *labels;
    uint32_t label_count;
    bool has_leaks;          /* a LEAKS section: reachability known */
    struct ms_leak *leaks;   /* sorted by stack, one per stack at most */
    uint32_t leak_count;
    uint64_t leak_scanned, leak_skipped, leak_scan_ns;
    uint32_t leak_threads_unknown; /* threads whose stacks the scan could not use */
    struct ms_leak_root *leak_roots; /* LEAK_ROOTS (since 1.5): sorted by (stack, root); NULL before */
    uint32_t leak_root_count;
    bool has_memory;               /* a MEMORY section (since 1.3): RSS and live blocks by size class */
    struct ms_fmt_memory memory;
    bool has_temporary;            /* a TEMPORARY section (since 1.4): ms_site.temp_count is known */
    void *mem_; /* owned storage */
};

enum {
    MS_SNAPFILE_NO_CHECKSUM = 1u << 0, /* skip the checksum (lets the fuzzer reach the section parsers) */
};

/* Parse a snapshot from memory; `name` is used in error messages. */
enum ms_status ms_snapfile_parse(const void *data, size_t len, const char *name, unsigned flags,
                                 struct ms_snap **out, struct ms_error *err);
/* Read and parse a file. Errors look like "FILE: truncated: ...". */
enum ms_status ms_snapfile_read(const char *path, struct ms_snap **out, struct ms_error *err);
void ms_snapfile_free(struct ms_snap *s);
const char *ms_snapfile_trigger_name(uint32_t trigger);
/* "dwarf", "fp", "libunwind" or "unknown" for INFO.unwinder. */
const char *ms_snapfile_unwinder_name(uint32_t unwinder);
/* The LEAKS record of a stack, or NULL (no scanned block, or no LEAKS section: see has_leaks). */
const struct ms_leak *ms_snapfile_leak(const struct ms_snap *s, uint32_t stack);
/* The LEAK_ROOTS records of a stack's indirectly lost blocks: *n of them from the returned one (NULL, 0:
 * none, or a file before 1.5). */
const struct ms_leak_root *ms_snapfile_leak_roots(const struct ms_snap *s, uint32_t stack, uint32_t *n);

/* ---- symbolize.c: module + offset -> function, file:line, inlined frames (offline, libdwfl) -------- */

struct ms_symbolize_opts {
    const char *sysroot;           /* prefix for module paths (NULL: none) */
    const char *const *debug_dirs; /* extra places for binaries and separate debug files, NULL-terminated */
    bool quiet;                    /* no warnings about missing or changed binaries */
};

/* One source-level frame. A machine frame expands to one or more of these, innermost (inlined) first. */
struct ms_sym_frame {
    const char *function; /* demangled; NULL when unknown */
    const char *file;     /* NULL when there is no line information */
    uint32_t line;
    uint32_t decl_line;   /* line of the function's declaration, 0 if unknown */
    const char *module;   /* module path as recorded in the snapshot ("?" for none) */
    uint64_t offset;      /* module offset of the return address */
    bool inlined;         /* this frame was inlined into the next one */
    bool runtime;         /* in the C/C++ runtime (libc, libstdc++, libgcc_s, libm, ld.so), the profiler, or
                           * the C++ standard library's templates instantiated in the program */
    /* Interned ids (in the symbolizer's strtab) for grouping: the same text gives the same id whatever
     * the load address or the snapshot. */
    uint32_t id;          /* the whole frame */
    uint32_t line_key;    /* "file:line" or the function/module fallback */
    uint32_t function_key;
    uint32_t file_key;
    uint32_t serial;      /* 1, 2, ...: this frame's number in its symbolizer, for tables per frame (0: none) */
};

struct ms_symbolizer;
enum ms_status ms_symbolize_new(const struct ms_symbolize_opts *opts, struct ms_symbolizer **out,
                                struct ms_error *err);
void ms_symbolize_free(struct ms_symbolizer *s);
struct ms_strtab *ms_symbolize_strtab(struct ms_symbolizer *s);
/* Frames resolved so far: the largest serial handed out. */
uint32_t ms_symbolize_frame_count(const struct ms_symbolizer *s);
/* Per snapshot: map its module table to cached modules (call once per snapshot before resolving). */
enum ms_status ms_symbolize_attach(struct ms_symbolizer *s, const struct ms_snap *snap, void ***handles,
                                   struct ms_error *err);
/* Resolve one frame; *out points at n >= 1 frames owned by the symbolizer (stable until it is freed). */
size_t ms_symbolize_frame(struct ms_symbolizer *s, void *const *handles, const struct ms_snap *snap,
                          const struct ms_frame *f, const struct ms_sym_frame **out);
/* "function at file:line", "function (module+0xoff)" or "module+0xoff", written into buf. */
const char *ms_symbolize_describe(const struct ms_sym_frame *f, char *buf, size_t len);
/* text with C++ template arguments left out for display (heaptrack's -t): "std::vector<int, std::allocator<int> >
 * ::push_back(int const&)" -> "std::vector<>::push_back(int const&)". Returns text itself when it has none
 * or starts with '<' (a placeholder such as "<no stack>"), else buf. */
const char *ms_symbolize_shorten(const char *text, char *buf, size_t len);
/* Demangle a C++ name; returns a malloc'd string or NULL when `name` is not mangled. */
char *ms_symbolize_demangle(const char *name);

/* ---- group.c: key sites by line | function | file | stack, with filters --------------------------- */

/* line, function and file keys (and filters without all_frames) use the innermost frame outside the
 * runtime, so that malloc wrappers such as operator new, strdup or std::string do not absorb every site. */
enum ms_by { MS_BY_LINE, MS_BY_FUNCTION, MS_BY_FILE, MS_BY_STACK };

struct ms_group_opts {
    enum ms_by by;
    bool cumulative;             /* every frame of a stack counts (line/function/file only) */
    const char *const *include;  /* fnmatch patterns on file, function or module; NULL-terminated */
    const char *const *exclude;
    bool all_frames;             /* filters look at every frame, not only the innermost */
};

struct ms_group_row {
    uint32_t label;              /* strtab id of the row's text */
    uint64_t size, count;        /* live bytes and blocks */
    uint64_t alloc_bytes, alloc_count;
    uint64_t temp_count;         /* allocations freed before their thread's next one (ms_site.temp_count) */
    /* Sampled snapshots: variances of the four estimates above (estimate.c); 0 when exact. */
    double size_var, count_var, alloc_bytes_var, alloc_count_var;
    uint32_t example;            /* the heaviest site's stack (index in the snapshot) */
    uint64_t example_weight;
    /* The example symbolized, filled on demand by ms_group_row_stack(). */
    const struct ms_sym_frame **stack;
    uint32_t stack_len;
    uint32_t stack_flags;
};

struct ms_groups {
    struct ms_group_row *rows;
    size_t count, cap;
    struct ms_map *index;        /* key bytes -> row index + 1 */
    uint64_t size, count_total;  /* sums over the sites that passed the filters (not cumulative) */
    double size_var, count_var;  /* sampled: their variances (estimate.c); 0 when exact */
    uint64_t alloc_bytes, alloc_count, temp_count;
    struct ms_symbolizer *sym;   /* borrowed */
    const struct ms_snap *snap;  /* borrowed */
    void **handles;
};

enum ms_by ms_group_by_parse(const char *s, bool *ok);
const char *ms_group_by_name(enum ms_by by);
enum ms_status ms_group_snap(struct ms_symbolizer *sym, const struct ms_snap *snap,
                             const struct ms_group_opts *opts, struct ms_groups *out, struct ms_error *err);
void ms_group_free(struct ms_groups *g);
/* A row's example stack, symbolized on first use (only displayed rows pay for it). NULL when out of memory. */
const struct ms_sym_frame *const *ms_group_row_stack(struct ms_groups *g, struct ms_group_row *r, uint32_t *n);
/* The symbolized stack of one site (inline-expanded, innermost first); *n frames, malloc'd array. */
enum ms_status ms_group_stack(struct ms_symbolizer *sym, void *const *handles, const struct ms_snap *snap,
                              uint32_t stack, const struct ms_sym_frame ***out, uint32_t *n);

/* ---- estimate.c: error bars of sampled estimates ------------------------------------------------- */

/* Variance of a sampled site's byte and block estimates (bytes, count as the snapshot has them) at the
 * snapshot's rate; 0 for rate 0 (exact). The standard error is the square root. */
void ms_estimate_site(uint64_t rate, uint64_t bytes, uint64_t count, double *bytes_var, double *count_var);
/* MS_FMT_FLAG_SAMPLED: the snapshot's sizes and counts are estimates. */
bool ms_estimate_sampled(const struct ms_snap *snap);
/* Adds a site's variances to a row (nothing for an exact snapshot). */
void ms_estimate_row_add(struct ms_group_row *row, const struct ms_snap *snap, const struct ms_site *site);
/* The same for the site's live bytes and blocks alone, into two sums. */
void ms_estimate_live_add(const struct ms_snap *snap, const struct ms_site *site, double *bytes_var, double *count_var);
/* The variance of a snapshot's process total (TOTALS.current_bytes, or alloc_bytes with `allocated`): the
 * totals are the sums of every site's estimates, so the sum of their variances; 0 when exact. */
double ms_estimate_total_var(const struct ms_snap *snap, bool allocated);
/* Text marks. Each estimated figure is followed by the half width of its 95% interval (1.96 standard
 * errors): " +-1.2 MiB" (bytes, formatted as the size beside it) or " +-300" (a count); the first line of
 * the output says which figures are estimates and at what rate. */
#define MS_ESTIMATE_Z95 1.959963984540054
const char *ms_estimate_pm(char *buf, size_t len, double var, bool bytes, bool exact);
/* The half width of that interval, and the interval itself (its low end kept at 0 or above). */
double ms_estimate_half95(double var);
void ms_estimate_interval(double value, double var, double *lo, double *hi);
/* The sampling rates of a command's snapshots (start from {0}; an exact snapshot adds nothing). */
struct ms_estimate_rates {
    uint64_t lo, hi;
    size_t sampled; /* how many are sampled */
};
void ms_estimate_rates_add(struct ms_estimate_rates *r, const struct ms_snap *snap);
/* "estimated from a sampled snapshot (about one allocation recorded per 64.0 KiB allocated)" (r->sampled > 0). */
const char *ms_estimate_rate_phrase(char *buf, size_t len, const struct ms_estimate_rates *r, bool exact);
/* That phrase as a first line; nothing when no snapshot is sampled. */
void ms_estimate_text_note(FILE *out, const struct ms_estimate_rates *r, bool exact);
/* A sampled snapshot's row in JSON gets the standard errors of its estimates: of its live bytes and
 * blocks under the names given, alloc_bytes_se, alloc_count_se (a 95% interval is the value +- 1.96 of
 * them). Nothing when exact. */
struct json_t;
void ms_estimate_json_row(struct json_t *o, const struct ms_snap *snap, const struct ms_group_row *row,
                          const char *live_bytes_se, const char *live_count_se);
/* o[key] = the standard error for a variance. */
void ms_estimate_json_se(struct json_t *o, const char *key, double var);
/* doc["sample_rate"] = the largest rate when some snapshot is sampled; nothing otherwise. */
void ms_estimate_json_rate(struct json_t *doc, const struct ms_estimate_rates *r);

/* ---- size.c: tracemalloc's size rendering -------------------------------------------------------- */

/* format_size(): "10239 B", "10.0 KiB", "99.5 KiB", "100 KiB"; `sign` adds "+"/"-" (the signed variant).
 * With `exact`, the integer and " B". A double, as in Python, so that averages round alike. Returns buf. */
const char *ms_size_format(char *buf, size_t len, double size, bool sign, bool exact);
/* "100", "10k", "1.5MiB", "64 KiB", "2M" -> bytes. false on garbage. */
bool ms_size_parse(const char *s, long long *out);

/* ---- output.c: the options every command shares, JSON helpers ------------------------------------- */

enum ms_output_format { MS_OUT_TEXT, MS_OUT_JSON };

struct ms_cli {
    enum ms_output_format format;
    bool bytes;
    enum ms_by by;
    bool by_set;
    long limit; /* -n; < 0: all */
    bool cumulative, show_stack, all_frames;
    const char **include, **exclude; /* NULL-terminated */
    const char *suppressions;
    bool no_default_suppressions;
    bool show_reachable; /* leaks: also the still-reachable blocks */
    bool fail;
    bool include_exit; /* growth: keep at-exit snapshots in the series */
    bool has_fail_over, has_fail_site_over;
    long long fail_over, fail_site_over;
    const char *file, *function, *source_dir;
    struct ms_symbolize_opts sym;
    char **inputs;
    int input_count;
    FILE *out;
};

/* Write a jansson value (consumed) to cli->out. */
struct json_t;
enum ms_status ms_output_json(const struct ms_cli *cli, struct json_t *v, struct ms_error *err);
/* An unsigned value as JSON: an integer up to INT64_MAX, above it a stand-in (jansson's integers are
 * signed) that ms_output_json_dumps writes as the exact number. */
struct json_t *ms_output_json_u64(uint64_t v);
/* json_dumps, with each u64 stand-in written as its number; malloc'd, NULL when out of memory. */
char *ms_output_json_dumps(const struct json_t *v, size_t flags);
/* A JSON string for s; bytes that are not UTF-8 become U+FFFD (the row stays; docs/cli.md). */
struct json_t *ms_output_json_str(const char *s);
struct json_t *ms_output_json_stack(const struct ms_sym_frame *const *frames, uint32_t n);
struct json_t *ms_output_json_totals(const struct ms_snap *s);
void ms_output_text_stack(FILE *out, const struct ms_sym_frame *const *frames, uint32_t n, const char *indent);
/* Names in text output: template arguments left out (ms_symbolize_shorten) unless set to full. */
void ms_output_set_full_names(bool full);
const char *ms_output_name(const char *text, char *buf, size_t len);
/* s as XML text or attribute value (SVG output). */
void ms_output_xml(FILE *out, const char *s);
/* Read all snapshots named on the command line; on failure frees what it read. */
enum ms_status ms_output_load(const struct ms_cli *cli, struct ms_snap ***snaps, struct ms_error *err);
void ms_output_unload(const struct ms_cli *cli, struct ms_snap **snaps);

/* ---- top.c: `memsnap top` (Snapshot.statistics) -------------------------------------------------- */
/* top has no gate: it reports, it does not judge. */
#define MS_TOP_TEMPS 5 /* rows of heaptrack's "most temporary allocations" */
struct ms_top {
    const struct ms_snap *snap;       /* borrowed */
    enum ms_by by;
    bool cumulative, filtered;        /* filtered: include/exclude patterns given (a "Selected" line) */
    struct ms_groups g;               /* every row, and the sums over the selected sites */
    const struct ms_strtab *strs;     /* row labels */
    struct ms_group_row **rows;       /* the rows with live memory, largest first */
    size_t count, shown;              /* shown: the first `limit` */
    uint64_t other_size, other_count; /* the rows after the shown ones */
    struct ms_group_row **temps;      /* TEMPORARY section: the rows with the most, at most MS_TOP_TEMPS */
    size_t ntemps;
    struct ms_estimate_rates rates;   /* a sampled snapshot: its rate (the rows' variances are in g) */
    double other_size_var, other_count_var;
};
/* limit < 0: all rows shown. On failure the caller still calls ms_top_free. */
enum ms_status ms_top_compute(struct ms_symbolizer *sym, const struct ms_snap *snap, const struct ms_group_opts *go,
                              long limit, struct ms_top *t, struct ms_error *err);
void ms_top_free(struct ms_top *t);
/* stack: each row's example stack under it (symbolized on first use, hence not const). */
void ms_top_render_text(FILE *out, struct ms_top *t, bool stack, bool exact);
struct json_t *ms_top_render_json(struct ms_top *t, bool stack);
enum ms_status ms_top_main(const struct ms_cli *cli, struct ms_error *err);

/* ---- diff.c: `memsnap diff` (Snapshot.compare_to) and the in-process diff API -------------------- */

struct ms_diff_row {
    const char *label;
    long long size, size_diff, count, count_diff;
    /* A sampled snapshot on either side: the variances of the four estimates. The change's is the sum of
     * both sides' (independent samples; an upper bound when both come from one process, whose blocks live
     * in both count in both). */
    bool estimated;
    double size_var, size_diff_var, count_var, count_diff_var;
    struct ms_groups *g_;        /* where the row came from, for its example stack */
    struct ms_group_row *row_;
};

struct ms_diff {
    struct ms_diff_row *rows;
    size_t count;
    struct ms_diff_row total; /* label "Total" */
    const char *old_path, *new_path; /* the snapshots' */
    enum ms_by by;
    bool cumulative;
    struct ms_estimate_rates rates; /* of the sampled snapshots among the two */
    struct ms_symbolizer *sym_; /* owns the strings */
    struct ms_snap *snaps_[2];
    struct ms_groups groups_[2];
};

/* opts NULL: by line, not cumulative, no filters. */
enum ms_status ms_diff_files(const char *old_path, const char *new_path, const struct ms_group_opts *opts,
                             struct ms_diff **out, struct ms_error *err);
enum ms_status ms_diff_compute(struct ms_symbolizer *sym, const struct ms_snap *old_snap,
                               const struct ms_snap *new_snap, const struct ms_group_opts *opts,
                               struct ms_diff **out, struct ms_error *err);
const struct ms_diff_row *ms_diff_total(const struct ms_diff *d);
/* A row's example stack (symbolized on first use); *n frames. */
const struct ms_sym_frame *const *ms_diff_row_stack(const struct ms_diff_row *r, uint32_t *n);
/* One row the tracemalloc way: "f.c:25: size=236 KiB (+236 KiB), count=1001 (+1001), average=242 B"; an
 * estimated row has each figure followed by its 95% interval: "size=236 KiB ±31 KiB (+236 KiB ±40 KiB)". */
const char *ms_diff_format_row(const struct ms_diff_row *r, bool exact, char *buf, size_t len);
enum { MS_DIFF_PRINT_BYTES = 1, MS_DIFF_PRINT_STACK = 2 };
/* The first `limit` rows (< 0: all), then the total line; estimates say so on a first line. */
void ms_diff_print(const struct ms_diff *d, FILE *out, long limit, unsigned flags);
void ms_diff_free(struct ms_diff *d);
/* The CI gates: growth of the total, and of any one row. */
struct ms_diff_gate_opts {
    bool has_fail_over;
    long long fail_over;
    bool has_fail_site_over;
    long long fail_site_over;
};
struct ms_diff_gates {
    struct ms_diff_gate_opts opts;
    bool total_crossed;
    size_t sites_over;              /* rows that grew by more than fail_site_over */
    const struct ms_diff_row *worst; /* the one that grew most of them, or NULL */
};
void ms_diff_gate(const struct ms_diff *d, const struct ms_diff_gate_opts *o, struct ms_diff_gates *g);
/* One line per crossed gate on `report`; MS_GATE when any was crossed. */
enum ms_status ms_diff_gate_report(const struct ms_diff *d, const struct ms_diff_gates *g, bool exact, FILE *report);
/* stack: each row's example stack. */
struct json_t *ms_diff_render_json(const struct ms_diff *d, const struct ms_diff_gates *g, long limit, bool stack);
enum ms_status ms_diff_main(const struct ms_cli *cli, struct ms_error *err);

/* ---- leaks.c: `memsnap leaks` and LeakSanitizer-style suppressions ------------------------------- */

struct ms_suppressions;
enum ms_status ms_leaks_suppressions_load(const char *path, bool builtin, struct ms_suppressions **out,
                                          struct ms_error *err);
void ms_leaks_suppressions_free(struct ms_suppressions *s);
/* LeakSanitizer's template match: '*' any run, '^' / '$' anchors, otherwise a substring. */
bool ms_leaks_match(const char *pattern, const char *text);
/* Index of the suppression matching the stack, or -1. */
int ms_leaks_suppressed(const struct ms_suppressions *s, const struct ms_sym_frame *const *frames, uint32_t n);

/* Report kinds, in report order. Without a LEAKS section there is one: every live block. */
enum ms_leaks_kind { MS_LEAKS_DEFINITE, MS_LEAKS_INDIRECT, MS_LEAKS_REACHABLE, MS_LEAKS_UNKNOWN, MS_LEAKS_KINDS };
struct ms_leaks_sum {
    uint64_t bytes, blocks, stacks;
    double bytes_var, blocks_var; /* sampled: the variances of bytes and blocks (estimate.c); 0 when exact */
};
struct ms_leaks_entry {
    const struct ms_group_row *row; /* its stack symbolized */
    enum ms_leaks_kind kind;
    const uint32_t *rank_;          /* its frames' order by text, for sorting */
};
struct ms_leaks_opts {
    const char *const *include, *const *exclude; /* as in struct ms_group_opts */
    bool all_frames;
    bool show_reachable; /* list the still-reachable stacks too */
};
/* What `memsnap leaks` reports on one snapshot. */
struct ms_leaks {
    const struct ms_snap *snap;        /* borrowed */
    const struct ms_suppressions *sup; /* borrowed */
    bool at_exit, scanned;             /* scanned: a LEAKS section, reachability known */
    bool listed[MS_LEAKS_KINDS];
    struct ms_leaks_entry *entries;    /* the listed stacks: by kind, largest first */
    size_t count;
    struct ms_leaks_sum kinds[MS_LEAKS_KINDS]; /* what no suppression matched */
    struct ms_leaks_sum lost;          /* what --fail counts: the lost kinds, or every live block unscanned */
    struct ms_leaks_sum suppressed;
    struct ms_leaks_sum *hits;         /* per suppression, then the built-in runtime-only rule */
    struct ms_estimate_rates rates;    /* a sampled snapshot: its rate (the rows' variances are in groups_) */
    uint32_t *ranks_;
    struct ms_groups groups_[MS_LEAKS_KINDS];
    struct ms_snap views_[MS_LEAKS_KINDS];
};
enum ms_status ms_leaks_compute(struct ms_symbolizer *sym, const struct ms_snap *snap,
                                const struct ms_suppressions *sup, const struct ms_leaks_opts *o, struct ms_leaks *l,
                                struct ms_error *err);
void ms_leaks_free(struct ms_leaks *l);
/* The first `limit` entries (< 0: all), then the summary. */
void ms_leaks_render_text(FILE *out, const struct ms_leaks *l, long limit, bool exact, bool show_reachable);
struct json_t *ms_leaks_render_json(const struct ms_leaks *l, long limit);
/* --fail: MS_GATE with one line on `report` when a lost block is left, else MS_OK. */
enum ms_status ms_leaks_gate(const struct ms_leaks *l, bool exact, FILE *report);
enum ms_status ms_leaks_main(const struct ms_cli *cli, struct ms_error *err);

/* ---- growth.c: the trend of live bytes per site across >= 3 snapshots ---------------------------- */

enum ms_growth_verdict { MS_GROWTH_UNBOUNDED, MS_GROWTH_BOUNDED, MS_GROWTH_STEADY };
/* The statistics behind a verdict (docs/cli.md, "The rule"). */
struct ms_growth_trend {
    bool changed;          /* not every value equal */
    size_t grew;           /* intervals that grew */
    long long mk_s;        /* Mann-Kendall S */
    double mk_z;           /* its normal score (ties and continuity corrected) */
    double sen_slope;      /* Sen's slope: bytes per interval */
    size_t record_gap;     /* longest run of intervals between two record highs */
    size_t since_record;   /* intervals since the last record high */
    bool rising;           /* Mann-Kendall: rising at one-sided 5% (n = 3: grew in both intervals) */
    bool plateau;          /* no record for >= 3 intervals and for more than twice record_gap */
};
void ms_growth_trend(const uint64_t *series, size_t n, struct ms_growth_trend *t);
/* Unbounded: rising, Sen's slope above 0, and no plateau seen; steady: never changed; otherwise bounded. */
enum ms_growth_verdict ms_growth_classify(const uint64_t *series, size_t n);
const char *ms_growth_verdict_name(enum ms_growth_verdict v);

struct ms_growth_site {
    uint32_t label;                /* strtab id */
    uint64_t *series;              /* live bytes per snapshot, in time order */
    double *series_var;            /* sampled snapshots: the variance of each (0 where exact) */
    struct ms_groups *eg;          /* the latest snapshot that has the site */
    struct ms_group_row *example;  /* its row there */
    enum ms_growth_verdict verdict;
    struct ms_growth_trend trend;
    double per_interval;
    uint64_t peak;
};
struct ms_growth {
    struct ms_snap **snaps;        /* the series, in time order (borrowed) */
    size_t n;
    struct ms_snap **left_out;     /* at-exit snapshots left out, as given */
    size_t nleft;
    enum ms_by by;
    const struct ms_strtab *strs;  /* site labels */
    struct ms_growth_site *sites;  /* unbounded first, then by rate, peak */
    size_t nsites;
    size_t counts[3];              /* per verdict */
    double unbounded_rate;         /* bytes per interval, the unbounded sites together */
    struct ms_estimate_rates rates; /* of the sampled snapshots in the series */
    struct ms_groups *groups_;
};
/* At-exit snapshots are left out of the series unless include_exit. */
enum ms_status ms_growth_compute(struct ms_symbolizer *sym, struct ms_snap *const *all, size_t nall,
                                 const struct ms_group_opts *go, bool include_exit, struct ms_growth *gr,
                                 struct ms_error *err);
void ms_growth_free(struct ms_growth *gr);
/* The first `limit` sites that changed (< 0: all); unbounded ones with their stack, the others with show_stack. */
void ms_growth_render_text(FILE *out, struct ms_growth *gr, long limit, bool exact, bool show_stack);
struct json_t *ms_growth_render_json(struct ms_growth *gr, long limit);
/* --fail: MS_GATE with one line on `report` when a site is unbounded. */
enum ms_status ms_growth_gate(const struct ms_growth *gr, bool exact, FILE *report);
enum ms_status ms_growth_main(const struct ms_cli *cli, struct ms_error *err);

/* ---- lines.c: per-source-line totals beside the source (memory_profiler's table) ------------------ */

struct ms_lines_opts {
    const char *file, *function; /* exactly one: a file (path, suffix, base name, fnmatch) or a function */
    const char *source_dir;      /* where the sources are now (NULL: as the DWARF names them) */
};
struct ms_lines_entry {
    uint32_t file; /* strtab id */
    uint32_t line;
    uint64_t alloc_bytes, live_bytes, alloc_count;
    double alloc_bytes_var, live_bytes_var, alloc_count_var; /* sampled: their variances (estimate.c) */
};
struct ms_lines_file {
    uint32_t file;        /* strtab id */
    const char *path;
    uint32_t first, last; /* line range shown */
    char **src;           /* its text, one string a line; NULL when not found */
    size_t nsrc;
};
struct ms_lines {
    const struct ms_snap *snap; /* borrowed */
    struct ms_estimate_rates rates; /* a sampled snapshot: its rate */
    struct ms_lines_opts opts;
    struct ms_lines_entry *ent; /* by file, then line */
    size_t nent;
    struct ms_lines_file *files; /* in name (id) order */
    size_t nfiles;
};
/* MS_INPUT when no allocation has a frame in the file or function. */
enum ms_status ms_lines_compute(struct ms_symbolizer *sym, const struct ms_snap *snap, const struct ms_lines_opts *o,
                                struct ms_lines *l, struct ms_error *err);
void ms_lines_free(struct ms_lines *l);
void ms_lines_render_text(FILE *out, const struct ms_lines *l, bool exact);
struct json_t *ms_lines_render_json(const struct ms_lines *l);
enum ms_status ms_lines_main(const struct ms_cli *cli, struct ms_error *err);

/* ---- dump.c: the raw, unsymbolized contents of a snapshot --------------------------------------- */
/* Nothing to compute: the snapshot as read is the result. */
void ms_dump_render_text(FILE *out, const struct ms_snap *s);
struct json_t *ms_dump_render_json(const struct ms_snap *s);
enum ms_status ms_dump_main(const struct ms_cli *cli, struct ms_error *err);

/* ---- export.c: `memsnap export`, and the weighted stacks every export format and the flame graph draw -- */

enum ms_export_format { MS_EXPORT_COLLAPSED, MS_EXPORT_PPROF, MS_EXPORT_JSON, MS_EXPORT_MASSIF };

/* Options of export, flamegraph and plot (parsed by main.c beside struct ms_cli). */
struct ms_export_opts {
    enum ms_export_format format;
    bool allocated;     /* weigh by what was allocated over the lifetime, not what is live */
    bool count;         /* weigh by blocks, not bytes */
    const char *output; /* -o FILE; NULL: stdout */
    const char *title;  /* flamegraph, plot */
};

/* One row per distinct symbolized stack (ms_group_snap by stack, with the command line's filters), each
 * row's stack symbolized; rows with a zero weight are kept (the caller skips them). */
enum ms_status ms_export_group(struct ms_symbolizer *sym, const struct ms_snap *snap, const struct ms_cli *cli,
                               struct ms_groups *g, struct ms_error *err);
uint64_t ms_export_weight(const struct ms_group_row *r, const struct ms_export_opts *o);
/* A frame's name in flat formats: the function, else "module+0xoffset" (the by-function key). */
const char *ms_export_frame_name(struct ms_symbolizer *sym, const struct ms_sym_frame *f);
/* -o FILE or stdout. A file is written beside FILE under a temporary name and renamed over it by a
 * successful close, so a failed run leaves neither a partial file nor a clobbered old one. Open it before
 * the work, so that an unwritable place is reported first; close returns `r` or the write's failure. */
struct ms_export_out {
    FILE *f;
    const char *path; /* NULL: stdout */
    char *tmp;
};
enum ms_status ms_export_open(const struct ms_export_opts *o, struct ms_export_out *out, struct ms_error *err);
enum ms_status ms_export_close(struct ms_export_out *out, enum ms_status r, struct ms_error *err);
/* What every exporting command holds: the output, the loaded snapshots, the symbolizer and, when grouped,
 * the first snapshot's rows. Begin opens and loads (and groups when `group`); end closes the output with `r`
 * and frees the rest, whatever begin got to. */
struct ms_export_run {
    struct ms_export_out out;
    struct ms_snap **snaps;
    struct ms_symbolizer *sym;
    struct ms_groups g;
};
enum ms_status ms_export_begin(const struct ms_cli *cli, const struct ms_export_opts *o, bool group,
                               struct ms_export_run *run, struct ms_error *err);
enum ms_status ms_export_end(const struct ms_cli *cli, struct ms_export_run *run, enum ms_status r,
                             struct ms_error *err);
enum ms_status ms_export_main(const struct ms_cli *cli, const struct ms_export_opts *o, struct ms_error *err);

/* ---- export_collapsed.c: Brendan Gregg's folded stacks ("main;run;make_node 240") ------------------- */
/* One line per distinct folded stack, outermost frame first, sorted; zero weights left out. */
enum ms_status ms_export_collapsed_write(FILE *out, struct ms_groups *g, const struct ms_export_opts *o,
                                         struct ms_error *err);

/* ---- export_pprof.c: pprof's profile.proto, encoded by hand, gzip-compressed (Go heap profile) ------ */
/* Sample types alloc_objects/count, alloc_space/bytes, inuse_objects/count, inuse_space/bytes; one location
 * per distinct return address, with its inlined chain as lines; one mapping per module, with its build-id. */
enum ms_status ms_export_pprof_write(FILE *out, struct ms_groups *g, struct ms_error *err);

/* ---- export_json.c: every site with its symbolized stack and counters ------------------------------- */
enum ms_status ms_export_json_write(FILE *out, struct ms_groups *g, struct ms_error *err);

/* ---- export_massif.c: massif's output file (what ms_print reads) from a series of snapshots ----------- */
/* Puts the snapshots in time order (ms_plot_order); one detailed tree each, the largest marked as the peak. */
enum ms_status ms_export_massif_write(FILE *out, struct ms_symbolizer *sym, struct ms_snap **snaps, size_t n,
                                      const struct ms_cli *cli, struct ms_error *err);

/* ---- tree.c: a tree of frames, callers first (flame graph, massif) --------------------------------- */

struct ms_tree {
    uint32_t key;          /* tells siblings apart (a strtab id, a frame id) */
    const void *data;      /* the caller's, e.g. the frame */
    uint64_t weight;       /* everything below this node */
    struct ms_tree *kids;
    size_t nkids, cap;
};
/* The child of n with `key`, added with weight 0 and `data` when missing; NULL when out of memory. */
struct ms_tree *ms_tree_child(struct ms_tree *n, uint32_t key, const void *data);
/* Every node, parents before their children; with cmp, each node's children are sorted first (qsort on
 * struct ms_tree). A malloc'd array of *count, or NULL when out of memory. */
struct ms_tree **ms_tree_nodes(struct ms_tree *root, int (*cmp)(const void *, const void *), size_t *count);
/* Frees every node below root (root itself is the caller's). */
void ms_tree_free(struct ms_tree *root);

/* ---- flamegraph.c: `memsnap flamegraph`: a self-contained SVG ------------------------------------- */
/* The flame graph inside a page (memsnap report): no XML prolog, script, style or heading of its own; labels
 * with short names (ms_symbolize_shorten), the full name in each frame's title; per frame, the callees narrower
 * than min_width px merged into one "other" frame. */
struct ms_flamegraph_embed {
    double min_width;     /* in */
    size_t frames;        /* out: frames drawn */
    size_t merged_frames; /* out: callees merged into "other" frames */
    uint64_t total;       /* out: the weight of the whole graph */
};
/* embed NULL: a standalone SVG with its own zoom and search script. */
enum ms_status ms_flamegraph_write(FILE *out, struct ms_groups *g, const struct ms_export_opts *o, bool exact,
                                   struct ms_flamegraph_embed *embed, struct ms_error *err);
enum ms_status ms_flamegraph_main(const struct ms_cli *cli, const struct ms_export_opts *o, struct ms_error *err);

/* ---- plot.c: `memsnap plot`: live heap over time from a series of snapshots, as SVG ---------------- */
/* Time order: by uptime when all are of one process, else by wall clock. */
void ms_plot_order(struct ms_snap **snaps, size_t n);

struct ms_plot_series {
    uint32_t label;  /* strtab id */
    uint64_t peak;
    size_t peak_at;  /* the snapshot of the peak */
    uint64_t *v;     /* one value per snapshot */
    double *var;     /* sampled: each value's variance (estimate.c); 0 when exact */
};

struct ms_plot {
    struct ms_snap **snaps; /* borrowed; put in time order by ms_plot_build */
    size_t n;
    double *x;       /* seconds, or the snapshot's index with by_index */
    bool by_index;
    uint64_t *total; /* process live (or allocated) bytes per snapshot */
    double *total_var; /* sampled: each total's variance (estimate.c); 0 when exact */
    uint64_t *rss;   /* resident set per snapshot (MEMORY section), 0 when unknown */
    bool has_rss;    /* some snapshot has one (live bytes only: RSS is not cumulative) */
    size_t peak_snap;      /* the last MEMSNAP_PEAK snapshot, or n when there is none */
    uint64_t process_peak; /* the highest TOTALS.peak_bytes of the snapshots */
    struct ms_plot_series *series; /* every site (cli->by, filters), largest peak first */
    size_t nseries, cap;
    struct ms_map *index; /* label id -> series index + 1 */
    const struct ms_strtab *strs;
    struct ms_estimate_rates rates; /* of the sampled snapshots: their amounts are estimates */
};

/* One or more snapshots; on failure the caller still calls ms_plot_free. */
enum ms_status ms_plot_build(struct ms_symbolizer *sym, struct ms_snap **snaps, size_t n, const struct ms_cli *cli,
                             bool allocated, struct ms_plot *p, struct ms_error *err);
void ms_plot_free(struct ms_plot *p);
/* The snapshot with the largest total. */
size_t ms_plot_peak(const struct ms_plot *p);
/* The process total as a line, the first `shown` series as stacked areas, the peak marked, each snapshot a
 * circle of class "moment" (data-i = its index). Sampled: a polygon of class "band" around the total and
 * each area's upper edge, the 95% interval of that series. embed: inside a page (no prolog, style or heading). */
void ms_plot_svg(FILE *out, const struct ms_plot *p, size_t shown, const struct ms_export_opts *o, bool exact,
                 bool embed);
/* A w x h polyline of v (a table cell's series). */
void ms_plot_sparkline(FILE *out, const uint64_t *v, size_t n, int w, int h);
/* The snapshot's live blocks by power-of-two size class (MEMORY section) as a bar chart; nothing without. */
void ms_plot_size_classes(FILE *out, const struct ms_snap *s, bool exact);
enum ms_status ms_plot_main(const struct ms_cli *cli, const struct ms_export_opts *o, struct ms_error *err);

/* ---- memgate.c: `memsnap run --fail-on ...`: verdicts on the snapshots one run wrote ----------------- */

enum { MS_MEMGATE_LEAKS = 1u << 0, MS_MEMGATE_GROWTH = 1u << 1 };
#define MS_MEMGATE_EXITCODE 23 /* a crossed gate, unless --fail-exitcode says otherwise (LeakSanitizer's too) */

struct ms_memgate_opts {
    unsigned fail_on;             /* MS_MEMGATE_* */
    long long max_live, max_peak; /* bytes; < 0: no budget */
    const char *suppressions;     /* for leaks (LeakSanitizer syntax), or NULL */
};
/* "leaks", "growth", "leaks,growth" -> MS_MEMGATE_* bits; false on anything else. */
bool ms_memgate_parse(const char *list, unsigned *out);
bool ms_memgate_wanted(const struct ms_memgate_opts *o);
/* The snapshots a run wrote (its main process is `pid`): budgets on every one, leaks on those with an
 * at-exit scan, growth over the main process's snapshots before exit. The reports of crossed gates go to
 * `report`. MS_OK, MS_GATE when a gate was crossed, or an error in err (nothing could be checked). */
enum ms_status ms_memgate_check(const struct ms_memgate_opts *o, char *const *paths, size_t n, uint32_t pid,
                             FILE *report, struct ms_error *err);

/* ---- report.c: `memsnap report`: one self-contained HTML page for one or more snapshots of a run ------ */
enum ms_status ms_report_main(const struct ms_cli *cli, const struct ms_export_opts *o, struct ms_error *err);

/* ---- run.c: `memsnap run`: the program under LD_PRELOAD=libmemsnap.so ---------------------------- */

struct ms_run_opts {
    const char *output, *interval, *depth, *unwind;
    bool no_follow;
    struct ms_memgate_opts gate;
    int fail_exitcode;       /* the exit status for a crossed gate (MS_MEMGATE_EXITCODE) */
    char **argv; /* PROGRAM ARGS..., NULL-terminated */
};
/* Returns the exit status to use (the program's, 128+n for signal n, 127 not found, 2 usage). */
int ms_run_main(const struct ms_run_opts *opts, const struct ms_cli *cli);
/* Path of libmemsnap.so next to `exe` (build tree or installed prefix), or NULL. malloc'd. */
char *ms_run_find_preload(const char *exe);

#endif /* MS_ANALYZE_H */
