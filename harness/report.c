/* The Markdown performance report: machine, date, per-benchmark figures, PASS/FAIL against budgets. */
#include "harness.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const struct ms_result *ms_report_find(const struct ms_run *run, const char *name)
{
    for (size_t i = 0; name && i < run->count; i++) {
        if (strcmp(run->results[i].name, name) == 0 || strcmp(run->results[i].fullname, name) == 0) {
            return &run->results[i];
        }
    }
    return NULL;
}

/* pytest-benchmark's format_time: two decimals in the unit that fits. */
static void ms_report_time(double seconds, char *buf, size_t len)
{
    double scale;
    const char *unit = ms_table_time_unit(seconds, &scale);
    snprintf(buf, len, "%.2f%ss", seconds * scale, unit);
}

static const char *ms_report_info(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "unknown";
}

/* Time limits in ms: key -> statistic. */
static const struct {
    const char *key, *field;
} ms_report_time_limits[] = {
    {"max_mean", "mean"}, {"max_median", "median"}, {"max_min", "min"}, {"max_max", "max"},
    {"max_stddev", "stddev"}, {"max_p95", "p95"}, {"max_p99", "p99"},
};

struct ms_report_tally {
    int failed, checked;
};

static void ms_report_line(FILE *out, struct ms_report_tally *t, int pass, const char *section, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void ms_report_line(FILE *out, struct ms_report_tally *t, int pass, const char *section, const char *fmt, ...)
{
    va_list ap;
    fprintf(out, "- %s %s: ", pass ? "✅ PASS" : "❌ FAIL", section);
    va_start(ap, fmt);
    vfprintf(out, fmt, ap);
    va_end(ap);
    fputc('\n', out);
    t->checked++;
    t->failed += !pass;
}

/* Checks one section; returns -1 (some check failed), 1 (all passed), 0 (nothing checkable). Writes the lines. */
static int ms_report_section(FILE *out, const struct ms_run *run, const struct ms_budgets *b, size_t si,
                             struct ms_report_tally *t, struct ms_error *err)
{
    const char *sec = ms_budgets_section_name(b, si);
    const char *bench = ms_budgets_get_string(b, sec, "benchmark");
    const struct ms_result *r = ms_report_find(run, bench);
    int before_failed = t->failed, before_checked = t->checked;
    double limit;
    for (size_t k = 0; k < ms_budgets_key_count(b, si); k++) {
        const char *key = ms_budgets_key_name(b, si, k);
        if (strcmp(key, "benchmark") == 0 || strcmp(key, "description") == 0 || strcmp(key, "slow") == 0 ||
            strcmp(key, "fast") == 0 || strcmp(key, "batch_size") == 0) {
            continue;
        }
        int rc = ms_budgets_get(b, sec, key, &limit, err);
        if (rc) {
            if (rc == -EINVAL) {
                return -2;
            }
            continue;
        }
        const char *field = NULL;
        for (size_t i = 0; i < sizeof ms_report_time_limits / sizeof ms_report_time_limits[0]; i++) {
            if (strcmp(ms_report_time_limits[i].key, key) == 0) {
                field = ms_report_time_limits[i].field;
            }
        }
        if (strcmp(key, "min_ratio") == 0) {
            const struct ms_result *slow = ms_report_find(run, ms_budgets_get_string(b, sec, "slow"));
            const struct ms_result *fast = ms_report_find(run, ms_budgets_get_string(b, sec, "fast"));
            if (!slow || !fast) {
                ms_report_line(out, t, 0, sec, "min_ratio %g: needs `slow:` and `fast:` benchmarks present in the results",
                               limit);
                continue;
            }
            double ratio = slow->stats.mean / fast->stats.mean;
            ms_report_line(out, t, ratio >= limit, sec, "%s / %s = %.2fx (min_ratio %g)", slow->name, fast->name,
                           ratio, limit);
            continue;
        }
        if (strcmp(key, "max_kb") == 0) {
            fprintf(out, "- ➖ %s: max_kb %g KiB is checked by the memory suite, not from timings\n", sec, limit);
            continue;
        }
        if (!field && strcmp(key, "min_throughput") != 0 && strcmp(key, "min_ops") != 0 &&
            strcmp(key, "max_allocs_per_op") != 0 && strcmp(key, "max_bytes_per_op") != 0) {
            fprintf(out, "- ➖ %s: %s = %g is not checked by this report\n", sec, key, limit);
            continue;
        }
        if (!r) {
            ms_report_line(out, t, 0, sec, "%s %g: benchmark '%s' is not in the results", key, limit,
                           bench ? bench : "(no `benchmark:` key)");
            continue;
        }
        if (field) {
            double v = ms_result_field(&r->stats, field) * 1e3;
            ms_report_line(out, t, v < limit, sec, "%s %s %.4f ms (%s %g ms)", r->name, field, v, key, limit);
        } else if (strcmp(key, "min_throughput") == 0) {
            double size = 1;
            if (ms_budgets_has(b, sec, "batch_size") && ms_budgets_get(b, sec, "batch_size", &size, err)) {
                return -2;
            }
            double tput = size / r->stats.mean;
            ms_report_line(out, t, tput >= limit, sec, "%s throughput %.2f /s (min_throughput %g /s)", r->name, tput,
                           limit);
        } else if (strcmp(key, "min_ops") == 0) {
            ms_report_line(out, t, r->stats.ops >= limit, sec, "%s %.2f ops/s (min_ops %g)", r->name, r->stats.ops,
                           limit);
        } else if (!r->stats.has_allocs) {
            fprintf(out, "- ➖ %s: %s %g: not measured (run the benchmark under libmemsnap)\n", sec, key, limit);
        } else {
            double v = strcmp(key, "max_allocs_per_op") == 0 ? r->stats.allocs_per_op : r->stats.alloc_bytes_per_op;
            ms_report_line(out, t, v <= limit, sec, "%s %.2f per call (%s %g)", r->name, v, key, limit);
        }
    }
    if (t->checked == before_checked) {
        return 0;
    }
    return t->failed > before_failed ? -1 : 1;
}

enum ms_status ms_report_write(FILE *out, const struct ms_run *run, const struct ms_budgets *budgets, struct ms_error *err)
{
    const json_t *mi = run->machine_info, *ci = run->commit_info;
    const json_t *cpu = json_object_get(mi, "cpu");
    fprintf(out, "# Performance Test Report\n\n");
    fprintf(out, "Machine: %s (%s, %s %s", ms_report_info(mi, "machine"), ms_report_info(mi, "node"),
            ms_report_info(mi, "system"), ms_report_info(mi, "release"));
    if (json_is_object(cpu)) {
        fprintf(out, "; %s", ms_report_info(cpu, "brand_raw"));
        if (json_is_integer(json_object_get(cpu, "count"))) {
            fprintf(out, ", %lld CPUs", (long long)json_integer_value(json_object_get(cpu, "count")));
        }
    }
    fprintf(out, ")\n\n");
    const char *branch = json_string_value(json_object_get(ci, "branch"));
    fprintf(out, "Commit: %s", ms_report_info(ci, "id"));
    if (branch && strcmp(branch, "(unknown)") != 0) {
        fprintf(out, " (%s)", branch);
    }
    fprintf(out, "%s\n\n", json_is_true(json_object_get(ci, "dirty")) ? ", uncommitted changes" : "");
    fprintf(out, "Date: %s\n\n", run->datetime ? run->datetime : "unknown");
    const char *timer = run->count ? json_string_value(json_object_get(run->results[0].options, "timer")) : NULL;
    if (timer) {
        fprintf(out, "Timer: %s\n\n", timer);
    }

    /* Verdicts per benchmark first, so the results table can show them. */
    struct ms_report_tally tally = {0, 0};
    char *verdict = calloc(run->count ? run->count : 1, 1); /* 0 none, 1 pass, 2 fail */
    FILE *req = tmpfile();
    if (!verdict || !req) {
        free(verdict);
        if (req) {
            fclose(req);
        }
        return ms_error_set(err, -ENOMEM, "report: out of memory");
    }
    for (size_t si = 0; budgets && si < ms_budgets_section_count(budgets); si++) {
        int v = ms_report_section(req, run, budgets, si, &tally, err);
        if (v == -2) {
            free(verdict);
            fclose(req);
            return -EINVAL;
        }
        const char *sec = ms_budgets_section_name(budgets, si);
        const struct ms_result *r = ms_report_find(run, ms_budgets_get_string(budgets, sec, "benchmark"));
        if (r && v != 0) {
            size_t idx = (size_t)(r - run->results);
            verdict[idx] = v < 0 ? 2 : (verdict[idx] == 2 ? 2 : 1);
        }
    }
    fprintf(out, "## Benchmark Results\n\n");
    fprintf(out, "| Test | Mean | Min | Max | StdDev | Rounds | Status |\n");
    fprintf(out, "|------|------|-----|-----|--------|--------|--------|\n");
    for (size_t i = 0; i < run->count; i++) {
        const struct ms_result *r = &run->results[i];
        char mean[32], min[32], max[32], sd[32];
        ms_report_time(r->stats.mean, mean, sizeof mean);
        ms_report_time(r->stats.min, min, sizeof min);
        ms_report_time(r->stats.max, max, sizeof max);
        ms_report_time(r->stats.stddev, sd, sizeof sd);
        fprintf(out, "| %s | %s | %s | %s | %s | %zu | %s |\n", r->name, mean, min, max, sd, r->stats.rounds,
                verdict[i] == 2 ? "❌ FAIL" : (verdict[i] == 1 ? "✅ PASS" : "no budget"));
    }
    fprintf(out, "\n## Performance Requirements\n\n");
    if (!budgets) {
        fprintf(out, "No budgets given (`--budgets performance_budgets.yml`).\n");
    } else {
        fprintf(out, "Budgets: `%s`\n\n", ms_budgets_path(budgets));
        rewind(req);
        char line[1024];
        while (fgets(line, sizeof line, req)) {
            fputs(line, out);
        }
        fprintf(out, "\n%d of %d checks passed.\n", tally.checked - tally.failed, tally.checked);
    }
    free(verdict);
    fclose(req);
    return tally.failed ? MS_GATE : MS_OK;
}
