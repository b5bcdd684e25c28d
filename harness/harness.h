/* harness: internal interface of libmemsnap-bench (the public side is <memsnap/bench.h>).
 *
 * Error convention: the one of common/common.h, shared with the analyzer: functions that can fail return
 * `enum ms_status`: MS_OK (0), MS_GATE (1: a gate failed or a budget was exceeded) or a negative errno
 * value (-EINVAL, -ENOENT, -ENOMEM...). Functions that read user input (files, expressions, flags) also
 * take a `struct ms_error *` and leave in it one line that names the file, line, key or value that is
 * wrong (no trailing newline). The `memsnap bench` CLI maps results to exit statuses: 0 ok, 1 a gate failed
 * or a budget was exceeded, 2 bad input or usage. The public <memsnap/bench.h> returns the same values as
 * plain int (0 or -errno).
 */
#ifndef MEMSNAP_HARNESS_H
#define MEMSNAP_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>
#include <memsnap/bench.h>

#include "common.h"

/* ---- input.c ---- */
/* Opens a file the user named, for reading; a missing file, a directory or a FIFO is one line in err. */
enum ms_status ms_input_open(const char *path, const char *what, FILE **out, struct ms_error *err);

/* ---- budgets.c: performance_budgets.yml (libyaml) ----
 * A mapping of sections, each a mapping of keys to numbers or strings; an optional top-level `budgets:`
 * wrapper holds the sections (the seed's layout). Schema: docs/harness.md. */
struct ms_budgets;

enum ms_status ms_budgets_load(const char *path, struct ms_budgets **out, struct ms_error *err);
void ms_budgets_free(struct ms_budgets *b);
/* The number at section.key; -ENOENT (section or key absent) or -EINVAL (not a number), with err set. */
enum ms_status ms_budgets_get(const struct ms_budgets *b, const char *section, const char *key, double *out,
                   struct ms_error *err);
/* 1 if section.key exists, else 0. */
int ms_budgets_has(const struct ms_budgets *b, const char *section, const char *key);
/* The string at section.key (numbers as written), or NULL. */
const char *ms_budgets_get_string(const struct ms_budgets *b, const char *section, const char *key);
size_t ms_budgets_section_count(const struct ms_budgets *b);
const char *ms_budgets_section_name(const struct ms_budgets *b, size_t i);
size_t ms_budgets_key_count(const struct ms_budgets *b, size_t section);
const char *ms_budgets_key_name(const struct ms_budgets *b, size_t section, size_t i);
const char *ms_budgets_path(const struct ms_budgets *b);

/* ---- stats.c: pytest-benchmark's statistics over per-call samples (seconds) ----
 * out->data points at `data` (not copied). -EINVAL for n == 0. */
enum ms_status ms_stats_compute(const double *data, size_t n, uint64_t iterations, struct memsnap_bench_stats *out);
/* Samples far above the median (modified z-score (x - median) / MAD > 14.826, hyperfine's rule, and over
 * twice the median): how many, and their share of the total time. Preempted rounds look like this. */
enum ms_status ms_stats_slow_outliers(const double *data, size_t n, size_t *count, double *share);
/* p in [0,1] over sorted data, linear between closest ranks. */
double ms_stats_percentile_sorted(const double *sorted, size_t n, double p);

/* ---- clock.c ---- */
uint64_t ms_clock_monotonic(void *ctx);
/* CPU time of the calling thread / process: time spent preempted by other processes is not counted. */
uint64_t ms_clock_thread_cpu(void *ctx);
uint64_t ms_clock_process_cpu(void *ctx);
/* --benchmark-timer names (pytest-benchmark's time.perf_counter, time.thread_time, time.process_time, with or
 * without "time."); canonical gets the "time.*" name. -EINVAL for others. */
enum ms_status ms_clock_by_name(const char *name, memsnap_bench_clock *clock, const char **canonical);
/* Seconds: the smallest positive gap between two back-to-back reads (as pytest-benchmark, but bounded to
 * a few milliseconds of probing). */
double ms_clock_precision(memsnap_bench_clock clock, void *ctx);

/* ---- calibrate.c: how many calls per round ---- */
struct ms_calibrate_opts {
    double min_time;           /* seconds, already max(option, precision * calibration_precision) */
    int calibration_precision; /* 10 */
};
/* Runs one round of `loops` calls and returns its duration in seconds. */
typedef double (*ms_calibrate_round_fn)(void *ctx, uint64_t loops);
struct ms_calibration {
    uint64_t iterations; /* calls per round */
    double duration;     /* seconds for one round of that many calls */
    unsigned measurements;
};
enum ms_status ms_calibrate(ms_calibrate_round_fn round, void *ctx, const struct ms_calibrate_opts *o,
                 struct ms_calibration *out);

/* ---- result.c: one benchmark's outcome, measured here or read from a JSON file ---- */
struct ms_result {
    char *group;    /* NULL: no group */
    char *name;     /* with [param] when parametrized */
    char *fullname; /* what compare matches on */
    char *param;    /* NULL when not parametrized */
    json_t *params;     /* object or NULL */
    json_t *extra_info; /* object */
    json_t *options;    /* object */
    struct memsnap_bench_stats stats;
    double *data; /* owned; stats.data points here: the samples, or a saved file's compact quantiles */
    size_t ndata; /* values in data (stats.rounds may be more when they are quantiles) */
    char *source; /* in comparisons: the short file name, or "NOW" */
};
struct ms_run {
    char *path; /* file it was read from, or NULL */
    json_t *machine_info, *commit_info;
    char *datetime, *version;
    struct ms_result *results;
    size_t count;
};
struct ms_run *ms_result_run_new(void);
void ms_result_run_free(struct ms_run *run);
/* Appends a zeroed result (strings to be set by the caller); NULL on ENOMEM. */
struct ms_result *ms_result_add(struct ms_run *run);
const struct ms_result *ms_result_find(const struct ms_run *run, const char *fullname);
/* Label every result with the file's short name, as pytest-benchmark labels compared rows. */
enum ms_status ms_result_set_source(struct ms_run *run, const char *path);
/* Copy samples into r->data and compute r->stats. */
enum ms_status ms_result_set_samples(struct ms_result *r, const double *data, size_t n, uint64_t iterations);
/* A statistic by the names of the JSON file and the compare-fail grammar (min, mean, p95, ..., and the
 * per-call counts allocs, bytes, instructions, cycles); NAN if unknown or not measured. */
double ms_result_field(const struct memsnap_bench_stats *s, const char *field);

/* ---- json.c: pytest-benchmark's file schema (jansson) ----
 * include_data: every sample in stats.data (--benchmark-save-data), else the compact form: stats.quantiles,
 * at most MS_JSON_QUANTILES evenly spaced order statistics of the samples (all of them, sorted, when there
 * are fewer), which the reader takes as the samples the gate ranks. */
#define MS_JSON_QUANTILES 1000
json_t *ms_json_from_run(const struct ms_run *run, int include_data);
enum ms_status ms_json_write(const struct ms_run *run, const char *path, int include_data, struct ms_error *err);
/* Reads any file pytest-benchmark itself can compare; -EINVAL with "PATH: what is wrong" otherwise. */
enum ms_status ms_json_read(const char *path, struct ms_run **out, struct ms_error *err);

/* ---- machine.c: machine_info, commit_info, the storage machine id ---- */
json_t *ms_machine_info(void);
json_t *ms_machine_commit_info(void);
/* "Linux-C-x86_64-64bit": the directory under the storage. */
void ms_machine_id(char *buf, size_t len);

/* ---- storage.c: .benchmarks/<machine-id>/NNNN_<name>.json ---- */
/* Writes run into the next NNNN under storage/<machine id>; the path written goes into saved (if not NULL). */
enum ms_status ms_storage_save(const char *storage, const struct ms_run *run, const char *name, int include_data, char *saved,
                    size_t saved_len, struct ms_error *err);
/* The file to compare against: spec NULL/"" = newest, digits = that NNNN prefix, else a path or a name
 * suffix. -ENOENT with err set when there is none. */
enum ms_status ms_storage_find(const char *storage, const char *spec, char *path, size_t len, struct ms_error *err);
/* "<commit>_<UTC %Y%m%d_%H%M%S>[_uncommitted-changes]" */
void ms_storage_autosave_name(const json_t *commit_info, char *buf, size_t len);

/* ---- mannwhitney.c: two-sided Mann-Whitney U test: exact for small samples without ties, else the normal
 * approximation with tie and continuity corrections ---- */
#define MS_MANNWHITNEY_EXACT_MAX 40 /* n1 + n2 up to which the exact distribution is used */
struct ms_mannwhitney {
    double u;      /* U of the first sample */
    double z;      /* standardized (continuity-corrected for the approximation); < 0: first sample lower */
    double p;      /* two-sided */
};
enum ms_status ms_mannwhitney_test(const double *a, size_t na, const double *b, size_t nb, struct ms_mannwhitney *out);

/* ---- rank.c: mid-ranks with ties (shared by the rank tests) ---- */
struct ms_rank_item {
    double v;
    int marked;
};
/* Sorts it[] by v; returns the sum of the 1-based mid-ranks of the marked items and sets *tie_term to the
 * sum of t^3 - t over each group of t equal values (both tests' variance correction). */
double ms_rank_sum(struct ms_rank_item *it, size_t n, double *tie_term);

/* ---- wilcoxon.c: paired samples: Wilcoxon signed-rank (one-sided) and a median's interval ---- */
#define MS_WILCOXON_EXACT_MAX 50 /* nonzero differences up to which the exact distribution is used */
struct ms_wilcoxon {
    size_t n;         /* nonzero differences (zeros are dropped) */
    double w_plus;    /* sum of the ranks of the positive differences (ties: average ranks) */
    double p_greater; /* P(W+ >= w_plus) under H0 (symmetric about 0): exact without ties, else normal */
};
enum ms_status ms_wilcoxon_test(const double *d, size_t n, struct ms_wilcoxon *out);
/* The distribution-free interval [x(k), x(n+1-k)] of the median of sorted[0..n): the narrowest with coverage
 * >= 95% (the whole range, with its lower coverage, when n < 6). */
void ms_wilcoxon_median_ci(const double *sorted, size_t n, double *lo, double *hi, double *coverage);

/* ---- gate.c: --benchmark-compare-fail expressions and the statistical gate ---- */
struct ms_gate {
    char field[16]; /* min max mean median stddev iqr (timings); allocs bytes instructions cycles (per call) */
    int percent;   /* threshold is a percentage (else seconds) */
    double threshold;
};
#define MS_GATE_ALPHA_DEFAULT 0.01
enum ms_status ms_gate_parse(const char *expr, struct ms_gate *out, struct ms_error *err);
struct ms_gate_verdict {
    double change;   /* percent or seconds, as the threshold */
    int exceeded;    /* change > threshold (statistical gate on a time: or the median's change is) */
    double median_change; /* the median's change, same unit; NAN when not used */
    double p;        /* two-sided Mann-Whitney p, new samples against old ones moved by the threshold;
                        NAN without samples or with alpha 1 */
    int z_slower;    /* the test's direction: new samples rank above the moved old ones */
    int significant; /* p <= alpha and the new samples are the slower ones (no samples or alpha 1: 1) */
    int failed;      /* exceeded && significant */
    int unavailable; /* a per-call count not measured in one of the runs: not judged */
    /* The statistic whose change crossed the threshold (the field itself, or "median" standing for a
     * location field), and that change; NULL when nothing crossed. The message names only this one. */
    const char *crossed;
    double crossed_change;
};
void ms_gate_check(const struct ms_gate *g, const struct ms_result *old, const struct ms_result *cur, double alpha,
                   struct ms_gate_verdict *out);
/* "Field 'mean' has failed PercentageRegressionCheck: 93.42 > 5.00 (Mann-Whitney p=0.0001 <= alpha 0.01)",
 * or, when the median crossed and the mean did not, "...: median 73.10 > 10.00 (...)": never a figure that
 * stays under the threshold. */
void ms_gate_message(const struct ms_gate *g, const struct ms_gate_verdict *v, double alpha, char *buf, size_t len);

/* ---- ab.c: `memsnap bench ab`: interleaved rounds of two programs, gated on paired ratios ---- */
struct ms_ab_opts {
    const char *old_prog, *new_prog;
    char **bench_args; /* given to both programs every round */
    int nbench_args;
    int rounds;
    const struct ms_gate *gates; /* percentages only */
    size_t ngates;
    double alpha;
};
struct ms_ab_verdict {
    double median; /* of the per-round ratios new/old */
    double limit;  /* 1 + threshold/100 */
    double p;      /* Wilcoxon signed-rank, one-sided, log ratios against log(limit) */
    int exceeded, failed, unavailable;
};
void ms_ab_gate(const struct ms_gate *g, const double *ratios, size_t n, double alpha, struct ms_ab_verdict *v);
/* Prints the table; MS_GATE when a gate failed, or -errno with err set (a program failed, ...). */
enum ms_status ms_ab_run(const struct ms_ab_opts *o, FILE *out, struct ms_error *err);

/* ---- filter.c: -k expressions: words matched as substrings, and/or/not, parentheses ---- */
/* 1 match, 0 no match, -EINVAL bad expression (err set). */
int ms_filter_match(const char *expr, const char *name, const char *group, const char *fullname,
                    struct ms_error *err);

/* ---- options.c: the --benchmark-* flags ---- */
#define MS_OPTIONS_MAX_GATES 16
#define MS_OPTIONS_MAX_COLUMNS 20
struct ms_options {
    int only, skip, disable, verbose;
    double min_time, max_time;
    int min_rounds;
    int calibration_precision;
    int warmup;
    uint64_t warmup_iterations;
    const char *timer; /* "time.perf_counter" (CLOCK_MONOTONIC), "time.thread_time", "time.process_time",
                          "callgrind.instructions" (then instructions = 1 and the clock is the wall clock) */
    int instructions;
    memsnap_bench_clock timer_clock;
    const char *group_by; /* comma list */
    const char *sort;
    const char *columns[MS_OPTIONS_MAX_COLUMNS];
    size_t ncolumns; /* 0: the default set */
    char columns_buf[256];
    const char *json_path;
    int save_data; /* --benchmark-save-data: every sample in the files, not the compact quantiles */
    const char *save;
    int autosave;
    const char *storage;
    int compare;
    const char *compare_spec; /* NULL: newest */
    struct ms_gate gates[MS_OPTIONS_MAX_GATES];
    size_t ngates;
    double alpha;
    const char *histogram; /* prefix or NULL */
    const char *keyword;   /* -k */
};
void ms_options_defaults(struct ms_options *o);
/* Strings point into argv. -EINVAL with err naming the flag; 1 for --help or --version (printed to out):
 * not a status (the caller exits 0). */
int ms_options_parse(struct ms_options *o, int argc, char **argv, FILE *out, struct ms_error *err);

/* ---- table.c: pytest-benchmark's result table ---- */
/* rows: results to show (current and compared), grouped with o->group_by and sorted with o->sort. */
void ms_table_print(FILE *out, struct ms_result *const *rows, size_t n, const struct ms_options *o);
/* Unit prefix ("n", "u", "m", "") and multiplier for a time in seconds. */
const char *ms_table_time_unit(double seconds, double *scale);
/* The group key of a result under a --benchmark-group-by list; NULL when everything is one group. */
char *ms_table_group_key(const struct ms_result *r, const char *group_by);

/* ---- compare.c: old versus new, with gates ---- */
/* Prints the change table; returns the number of failed gates (gates may be 0: no gating). */
size_t ms_compare_print(FILE *out, const struct ms_run *old, const struct ms_run *cur, const struct ms_gate *gates,
                        size_t ngates, double alpha);

/* ---- histogram.c: one SVG box plot per group ---- */
enum ms_status ms_histogram_write(const char *prefix, struct ms_result *const *rows, size_t n, const char *group_by,
                       FILE *log, struct ms_error *err);

/* ---- counters.c: hardware counters through perf_event_open ---- */
struct ms_counters;
/* NULL when the kernel does not allow them (the reason in err). */
struct ms_counters *ms_counters_open(struct ms_error *err);
void ms_counters_start(struct ms_counters *c);
/* Instructions and cycles since start. */
void ms_counters_stop(struct ms_counters *c, uint64_t *instructions, uint64_t *cycles);
void ms_counters_close(struct ms_counters *c);

/* ---- callgrind.c: --benchmark-timer=instructions under valgrind's callgrind ---- */
/* Event totals of one callgrind dump (cache simulation on). */
struct ms_callgrind_counts {
    uint64_t ir, dr, dw, i1mr, d1mr, d1mw, ilmr, dlmr, dlmw;
};
/* Per call: instructions, L1 hits, LL hits, RAM accesses, and cycles estimated from them as iai-callgrind
 * does (L1 hit 1, LL hit 5, RAM 35). */
struct ms_callgrind_estimate {
    double instructions, l1_hits, ll_hits, ram_hits, cycles;
};
int ms_callgrind_running(void);
/* 1 in the run that ms_callgrind_rerun started (under valgrind, with a dump file to write). */
int ms_callgrind_child(void);
/* Runs this program again, with the same arguments, under callgrind (collection off until toggled) and
 * waits for it: returns its exit status, or -errno with err set (no valgrind: -ENOENT). */
enum ms_status ms_callgrind_rerun(int argc, char **argv, struct ms_error *err);
void ms_callgrind_zero(void);
void ms_callgrind_toggle(void);
/* Dumps the counts collected since the last zero under `name` and reads them back. */
enum ms_status ms_callgrind_dump(const char *name, struct ms_callgrind_counts *out, struct ms_error *err);
/* c -= overhead * times, per event, not below zero. */
void ms_callgrind_subtract(struct ms_callgrind_counts *c, const struct ms_callgrind_counts *overhead, uint64_t times);
void ms_callgrind_estimate(const struct ms_callgrind_counts *c, double calls, struct ms_callgrind_estimate *out);

/* ---- report.c: the Markdown performance report ---- */
/* MS_GATE when a budget check failed; -errno on I/O error. budgets may be NULL. */
enum ms_status ms_report_write(FILE *out, const struct ms_run *run, const struct ms_budgets *budgets, struct ms_error *err);

/* ---- bench_cli.c: `memsnap bench compare|report ...`; argv[0] is the subcommand. Returns the exit status. */
int ms_bench_cli(int argc, char **argv);

#endif /* MEMSNAP_HARNESS_H */
