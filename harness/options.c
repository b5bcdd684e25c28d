/* The --benchmark-* flags, named and behaving as pytest-benchmark's. */
#include "harness.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *ms_options_usage =
    "benchmark options (pytest-benchmark's names):\n"
    "  --benchmark-only                 run benchmarks (every registered body is one)\n"
    "  --benchmark-skip                 skip all benchmarks\n"
    "  --benchmark-disable              call each body once, untimed, as a plain test\n"
    "  --benchmark-min-time=SECONDS     minimum round duration (default 0.000005)\n"
    "  --benchmark-max-time=SECONDS     target time per benchmark (default 1.0)\n"
    "  --benchmark-min-rounds=N         at least N rounds (default 5)\n"
    "  --benchmark-calibration-precision=N  (default 10)\n"
    "  --benchmark-warmup[=on|off|auto] warmup rounds before timing (default off; auto = off in C)\n"
    "  --benchmark-warmup-iterations=N  calls spent warming up (default 100000)\n"
    "  --benchmark-timer=NAME           perf_counter (wall, CLOCK_MONOTONIC; default), thread_time or\n"
    "                                   process_time (CPU time: preemption by other processes not counted),\n"
    "                                   or instructions (runs again under valgrind's callgrind: instructions\n"
    "                                   and estimated cycles per call, the same on a busy machine)\n"
    "  --benchmark-group-by=LIST        group,name,func,fullname,fullfunc,param,param:NAME (default group)\n"
    "  --benchmark-sort=COL             min|max|mean|stddev|name|fullname (default min)\n"
    "  --benchmark-columns=LIST         min,max,mean,stddev,median,iqr,outliers,ops,rounds,iterations,\n"
    "                                   p95,p99,allocs,bytes,instructions,cycles\n"
    "  --benchmark-json=FILE            write results as pytest-benchmark JSON\n"
    "  --benchmark-save=NAME            save to STORAGE/<machine-id>/NNNN_NAME.json\n"
    "  --benchmark-autosave             save as NNNN_<commit>_<date>.json\n"
    "  --benchmark-save-data            every sample (stats.data) in the JSON and saved files; without it\n"
    "                                   they keep up to 1000 quantiles (stats.quantiles), which compare needs\n"
    "  --benchmark-storage=DIR          default .benchmarks\n"
    "  --benchmark-compare[=NUM|NAME|FILE]  compare with the newest saved run, run NUM, the newest\n"
    "                                   saved as NAME, or FILE\n"
    "  --benchmark-compare-fail=EXPR... fail on (min|max|mean|median|stddev|iqr):(N%|SECONDS) when the\n"
    "                                   change is also significant (Mann-Whitney U, two-sided), or on\n"
    "                                   (allocs|bytes|instructions|cycles):(N%|NUMBER) per call\n"
    "  --benchmark-compare-alpha=A      significance level of that test (default 0.01; 1 = threshold only)\n"
    "  --benchmark-histogram[=PREFIX]   one SVG box plot per group: PREFIX-GROUP.svg (default benchmark)\n"
    "  --benchmark-disable-gc           accepted for pytest-benchmark compatibility (no effect)\n"
    "  --benchmark-verbose              calibration details on stderr\n"
    "  -k EXPR                          only benchmarks matching EXPR (substrings, and/or/not)\n";

void ms_options_defaults(struct ms_options *o)
{
    memset(o, 0, sizeof *o);
    o->min_time = 0.000005;
    o->max_time = 1.0;
    o->min_rounds = 5;
    o->calibration_precision = 10;
    o->warmup_iterations = 100000;
    o->timer = "time.perf_counter";
    o->timer_clock = ms_clock_monotonic;
    o->group_by = "group";
    o->sort = "min";
    o->storage = ".benchmarks";
    o->alpha = MS_GATE_ALPHA_DEFAULT;
}

static int ms_options_number(const char *flag, const char *v, double lo, double *out, struct ms_error *err)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (!*v || *end || errno || !isfinite(d) || d < lo) {
        return ms_error_set(err, -EINVAL, "%s: '%s' is not a number >= %g", flag, v, lo);
    }
    *out = d;
    return 0;
}

static int ms_options_list_has(const char *const *list, const char *word)
{
    for (; *list; list++) {
        if (strcmp(*list, word) == 0) {
            return 1;
        }
    }
    return 0;
}

static int ms_options_check_columns(struct ms_options *o, const char *value, struct ms_error *err)
{
    if (strlen(value) >= sizeof o->columns_buf) {
        return ms_error_set(err, -EINVAL, "--benchmark-columns: list too long");
    }
    char *list = strcpy(o->columns_buf, value);
    static const char *known[] = {"min",  "max",  "mean",   "stddev", "median",       "iqr",
                                  "outliers", "ops", "rounds", "iterations", "p95", "p99",
                                  "allocs", "bytes", "instructions", "cycles", NULL};
    o->ncolumns = 0;
    for (char *save = NULL, *c = strtok_r(list, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
        if (!ms_options_list_has(known, c)) {
            return ms_error_set(err, -EINVAL, "--benchmark-columns: unknown column '%s'", c);
        }
        if (o->ncolumns == MS_OPTIONS_MAX_COLUMNS) {
            return ms_error_set(err, -EINVAL, "--benchmark-columns: too many columns");
        }
        o->columns[o->ncolumns++] = c;
    }
    return 0;
}

static int ms_options_check_group_by(const char *v, struct ms_error *err)
{
    static const char *known[] = {"group", "name", "func", "fullname", "fullfunc", "param", NULL};
    char buf[256];
    snprintf(buf, sizeof buf, "%s", v);
    for (char *save = NULL, *g = strtok_r(buf, ",", &save); g; g = strtok_r(NULL, ",", &save)) {
        if (!ms_options_list_has(known, g) && strncmp(g, "param:", 6) != 0) {
            return ms_error_set(err, -EINVAL, "--benchmark-group-by: unknown key '%s'", g);
        }
    }
    return 0;
}

/* Which flags take a value, and whether it may be omitted. */
enum ms_options_arg { MS_ARG_NONE, MS_ARG_REQUIRED, MS_ARG_OPTIONAL };

static const struct {
    const char *name;
    enum ms_options_arg arg;
} ms_options_flags[] = {
    {"--benchmark-only", MS_ARG_NONE},
    {"--benchmark-skip", MS_ARG_NONE},
    {"--benchmark-disable", MS_ARG_NONE},
    {"--benchmark-disable-gc", MS_ARG_NONE},
    {"--benchmark-verbose", MS_ARG_NONE},
    {"--benchmark-autosave", MS_ARG_NONE},
    {"--benchmark-save-data", MS_ARG_NONE},
    {"--benchmark-min-time", MS_ARG_REQUIRED},
    {"--benchmark-max-time", MS_ARG_REQUIRED},
    {"--benchmark-min-rounds", MS_ARG_REQUIRED},
    {"--benchmark-calibration-precision", MS_ARG_REQUIRED},
    {"--benchmark-warmup", MS_ARG_OPTIONAL},
    {"--benchmark-warmup-iterations", MS_ARG_REQUIRED},
    {"--benchmark-timer", MS_ARG_REQUIRED},
    {"--benchmark-group-by", MS_ARG_REQUIRED},
    {"--benchmark-sort", MS_ARG_REQUIRED},
    {"--benchmark-columns", MS_ARG_REQUIRED},
    {"--benchmark-json", MS_ARG_REQUIRED},
    {"--benchmark-save", MS_ARG_REQUIRED},
    {"--benchmark-storage", MS_ARG_REQUIRED},
    {"--benchmark-compare", MS_ARG_OPTIONAL},
    {"--benchmark-compare-fail", MS_ARG_REQUIRED},
    {"--benchmark-compare-alpha", MS_ARG_REQUIRED},
    {"--benchmark-histogram", MS_ARG_OPTIONAL},
    {"-k", MS_ARG_REQUIRED},
};

static int ms_options_apply(struct ms_options *o, const char *flag, char *v, struct ms_error *err)
{
    double d;
    int rc = 0;
    if (strcmp(flag, "--benchmark-only") == 0) {
        o->only = 1;
    } else if (strcmp(flag, "--benchmark-skip") == 0) {
        o->skip = 1;
    } else if (strcmp(flag, "--benchmark-disable") == 0) {
        o->disable = 1;
    } else if (strcmp(flag, "--benchmark-disable-gc") == 0) {
        /* accepted for compatibility: C has no collector */
    } else if (strcmp(flag, "--benchmark-verbose") == 0) {
        o->verbose = 1;
    } else if (strcmp(flag, "--benchmark-autosave") == 0) {
        o->autosave = 1;
    } else if (strcmp(flag, "--benchmark-save-data") == 0) {
        o->save_data = 1;
    } else if (strcmp(flag, "--benchmark-min-time") == 0) {
        rc = ms_options_number(flag, v, 0, &o->min_time, err);
    } else if (strcmp(flag, "--benchmark-max-time") == 0) {
        rc = ms_options_number(flag, v, 0, &o->max_time, err);
    } else if (strcmp(flag, "--benchmark-min-rounds") == 0) {
        if (!(rc = ms_options_number(flag, v, 1, &d, err))) {
            if (d != floor(d) || d > 1e9) {
                return ms_error_set(err, -EINVAL, "%s: '%s' is not a whole number of rounds", flag, v);
            }
            o->min_rounds = (int)d;
        }
    } else if (strcmp(flag, "--benchmark-calibration-precision") == 0) {
        if (!(rc = ms_options_number(flag, v, 1, &d, err))) {
            o->calibration_precision = (int)d;
        }
    } else if (strcmp(flag, "--benchmark-warmup") == 0) {
        if (!v || !*v || strcmp(v, "on") == 0 || strcmp(v, "true") == 0 || strcmp(v, "yes") == 0) {
            o->warmup = 1;
        } else if (strcmp(v, "off") == 0 || strcmp(v, "false") == 0 || strcmp(v, "no") == 0 ||
                   strcmp(v, "auto") == 0) {
            o->warmup = 0; /* auto: warm up only under a JIT, as pytest-benchmark; C has none */
        } else {
            return ms_error_set(err, -EINVAL, "%s: '%s' is not on, off or auto", flag, v);
        }
    } else if (strcmp(flag, "--benchmark-warmup-iterations") == 0) {
        if (!(rc = ms_options_number(flag, v, 0, &d, err))) {
            o->warmup_iterations = (uint64_t)d;
        }
    } else if (strcmp(flag, "--benchmark-timer") == 0) {
        o->instructions = strcmp(v, "instructions") == 0 || strcmp(v, "callgrind.instructions") == 0;
        if (o->instructions) {
            o->timer = "callgrind.instructions";
            o->timer_clock = ms_clock_monotonic;
        } else if (ms_clock_by_name(v, &o->timer_clock, &o->timer) != 0) {
            return ms_error_set(err, -EINVAL,
                              "%s: unknown timer '%s' (perf_counter, thread_time, process_time, instructions)", flag,
                              v);
        }
    } else if (strcmp(flag, "--benchmark-group-by") == 0) {
        rc = ms_options_check_group_by(v, err);
        o->group_by = v;
    } else if (strcmp(flag, "--benchmark-sort") == 0) {
        static const char *sorts[] = {"min", "max", "mean", "stddev", "name", "fullname", NULL};
        if (!ms_options_list_has(sorts, v)) {
            return ms_error_set(err, -EINVAL, "%s: unknown column '%s' (min|max|mean|stddev|name|fullname)", flag, v);
        }
        o->sort = v;
    } else if (strcmp(flag, "--benchmark-columns") == 0) {
        rc = ms_options_check_columns(o, v, err);
    } else if (strcmp(flag, "--benchmark-json") == 0) {
        o->json_path = v;
    } else if (strcmp(flag, "--benchmark-save") == 0) {
        if (!*v || strchr(v, '/')) {
            return ms_error_set(err, -EINVAL, "%s: '%s' is not a plain name", flag, v);
        }
        o->save = v;
    } else if (strcmp(flag, "--benchmark-storage") == 0) {
        o->storage = strncmp(v, "file://", 7) == 0 ? v + 7 : v;
    } else if (strcmp(flag, "--benchmark-compare") == 0) {
        o->compare = 1;
        o->compare_spec = v && *v ? v : NULL;
    } else if (strcmp(flag, "--benchmark-compare-fail") == 0) {
        if (o->ngates == MS_OPTIONS_MAX_GATES) {
            return ms_error_set(err, -EINVAL, "%s: too many expressions", flag);
        }
        rc = ms_gate_parse(v, &o->gates[o->ngates], err);
        o->ngates += rc == 0;
    } else if (strcmp(flag, "--benchmark-compare-alpha") == 0) {
        if (!(rc = ms_options_number(flag, v, 0, &o->alpha, err)) && (o->alpha <= 0 || o->alpha > 1)) {
            return ms_error_set(err, -EINVAL, "%s: '%s' is not in (0, 1]", flag, v);
        }
    } else if (strcmp(flag, "--benchmark-histogram") == 0) {
        o->histogram = v && *v ? v : "benchmark";
    } else if (strcmp(flag, "-k") == 0) {
        o->keyword = v;
    }
    return rc;
}

int ms_options_parse(struct ms_options *o, int argc, char **argv, FILE *out, struct ms_error *err)
{
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fprintf(out, "usage: %s [options]\n%s", argv[0], ms_options_usage);
            return 1;
        }
        if (strcmp(a, "--version") == 0) {
            fprintf(out, "%s (memsnap-bench %s)\n", argv[0], MS_VERSION_PROJECT);
            return 1;
        }
        char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
        size_t flen = eq ? (size_t)(eq - a) : strlen(a);
        size_t f;
        for (f = 0; f < sizeof ms_options_flags / sizeof ms_options_flags[0]; f++) {
            if (strlen(ms_options_flags[f].name) == flen && strncmp(ms_options_flags[f].name, a, flen) == 0) {
                break;
            }
        }
        if (f == sizeof ms_options_flags / sizeof ms_options_flags[0]) {
            if (strncmp(a, "-k", 2) == 0 && a[2]) {
                o->keyword = a + 2;
                continue;
            }
            return ms_error_set(err, -EINVAL, "unknown option '%s' (see --help)", a);
        }
        const char *flag = ms_options_flags[f].name;
        char *v = eq ? eq + 1 : NULL;
        enum ms_options_arg kind = ms_options_flags[f].arg;
        if (kind == MS_ARG_NONE && v) {
            return ms_error_set(err, -EINVAL, "%s takes no value", flag);
        }
        if (kind == MS_ARG_REQUIRED && !v) {
            if (i + 1 >= argc) {
                return ms_error_set(err, -EINVAL, "%s needs a value", flag);
            }
            v = argv[++i];
        }
        int rc = ms_options_apply(o, flag, v, err);
        if (rc) {
            return rc;
        }
        /* Like pytest-benchmark (nargs='+'): more expressions may follow one --benchmark-compare-fail. */
        if (strcmp(flag, "--benchmark-compare-fail") == 0) {
            while (i + 1 < argc && argv[i + 1][0] != '-') {
                if ((rc = ms_options_apply(o, flag, argv[++i], err))) {
                    return rc;
                }
            }
        }
    }
    if (o->ngates && !o->compare) {
        return ms_error_set(err, -EINVAL, "--benchmark-compare-fail requires valid --benchmark-compare");
    }
    if (o->skip && o->only) {
        return ms_error_set(err, -EINVAL, "cannot use both --benchmark-skip and --benchmark-only");
    }
    return 0;
}
