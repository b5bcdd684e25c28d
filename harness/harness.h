/* harness: internal interface of libmemsnap-bench (the public side is <memsnap/bench.h>).
 *
 * Error convention: functions returning int give 0 on success or a negative errno value. Functions that
 * read user input (files, expressions, flags) also take a `struct ms_err *` and leave in it one line that
 * names the file, line, key or value that is wrong (no trailing newline). The `memsnap bench` CLI maps
 * results to exit statuses: 0 ok, 1 a gate failed or a budget was exceeded, 2 bad input or usage.
 */
#ifndef MEMSNAP_HARNESS_H
#define MEMSNAP_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <memsnap/bench.h>

struct ms_err {
    char msg[512];
};

/* Fill err->msg printf-style; returns `code` so that callers can `return ms_err_set(err, -EINVAL, ...)`. */
int ms_err_set(struct ms_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- budgets.c: performance_budgets.yml (libyaml) ----
 * A mapping of sections, each a mapping of keys to numbers or strings; an optional top-level `budgets:`
 * wrapper holds the sections (the seed's layout). Schema: docs/harness.md. */
struct ms_budgets;

int ms_budgets_load(const char *path, struct ms_budgets **out, struct ms_err *err);
void ms_budgets_free(struct ms_budgets *b);
/* The number at section.key; -ENOENT (section or key absent) or -EINVAL (not a number), with err set. */
int ms_budgets_get(const struct ms_budgets *b, const char *section, const char *key, double *out,
                   struct ms_err *err);
/* 1 if section.key exists, else 0. */
int ms_budgets_has(const struct ms_budgets *b, const char *section, const char *key);
/* The string at section.key (numbers as written), or NULL. */
const char *ms_budgets_get_string(const struct ms_budgets *b, const char *section, const char *key);
size_t ms_budgets_section_count(const struct ms_budgets *b);
const char *ms_budgets_section_name(const struct ms_budgets *b, size_t i);
size_t ms_budgets_key_count(const struct ms_budgets *b, size_t section);
const char *ms_budgets_key_name(const struct ms_budgets *b, size_t section, size_t i);
const char *ms_budgets_path(const struct ms_budgets *b);

/* ---- bench_cli.c: `memsnap bench compare|report ...`; argv[0] is the subcommand. Returns the exit status. */
int ms_bench_cli(int argc, char **argv);

#endif /* MEMSNAP_HARNESS_H */
