/* `memsnap bench compare|report`: the command-line face of the harness. */
#include "harness.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char ms_bench_cli_compare_usage[] =
    "usage: memsnap bench compare OLD.json NEW.json [--fail EXPR...] [--alpha A]\n"
    "Old against new, per benchmark: min, mean, median, stddev, IQR (old -> new, change), the Mann-Whitney p of\n"
    "the round samples, and each gate's verdict.\n"
    "  --fail EXPR...   (min|max|mean|median|stddev|iqr):(N%|SECONDS): fails when the threshold is exceeded\n"
    "                   (for a location, by the field or by the median) and Mann-Whitney U finds the new\n"
    "                   samples slower than the old ones moved by the threshold at level A;\n"
    "                   (allocs|bytes|instructions|cycles):(N%|NUMBER): counts per call, threshold alone\n"
    "  --alpha A        the test's level, in (0, 1] (default 0.01; 1 = pytest-benchmark's plain threshold)\n"
    "  -h, --help       this help\n"
    "exit: 0 ok, 1 a gate failed, 2 bad input or usage\n";

static const char ms_bench_cli_report_usage[] =
    "usage: memsnap bench report RESULTS.json [--budgets FILE] [-o FILE]\n"
    "The performance report as Markdown: machine, commit, date, timer, one row per benchmark, and one line\n"
    "per budget check.\n"
    "  --budgets FILE   performance_budgets.yml to check the results against\n"
    "  -o, --output FILE  write the report there (default stdout)\n"
    "  -h, --help       this help\n"
    "exit: 0 ok, 1 a budget failed, 2 bad input or usage\n";

static const char ms_bench_cli_show_usage[] =
    "usage: memsnap bench show RESULTS.json... [options]\n"
    "pytest-benchmark's table for saved files, each row labelled with its file's short name.\n"
    "  --benchmark-sort=COL         min|max|mean|stddev|name|fullname (default min)\n"
    "  --benchmark-group-by=LIST    group,name,func,fullname,fullfunc,param,param:NAME (default group)\n"
    "  --benchmark-columns=LIST     min,max,mean,stddev,median,iqr,outliers,ops,rounds,iterations,\n"
    "                               p95,p99,allocs,bytes,instructions,cycles\n"
    "  --benchmark-histogram[=PREFIX]  one SVG box plot per group: PREFIX-GROUP.svg\n"
    "  -h, --help                   this help\n"
    "exit: 0 ok, 2 bad input or usage\n";

static const char ms_bench_cli_ab_usage[] =
    "usage: memsnap bench ab OLD_PROGRAM NEW_PROGRAM [--fail EXPR...] [--rounds N] [--alpha A] [-- FLAGS...]\n"
    "Runs the two benchmark programs alternately, round by round (OLD NEW, NEW OLD, ...), each round one\n"
    "short calibrated run of every benchmark with FLAGS (e.g. -- --benchmark-max-time=0.1 -k fnv), and\n"
    "reports per benchmark the median of the per-round ratios new/old with its confidence interval.\n"
    "  --fail EXPR...   (min|max|mean|median|stddev|iqr|instructions|cycles|allocs|bytes):N%: fails when the\n"
    "                   median ratio exceeds 1 + N% and Wilcoxon's signed-rank test on the rounds' log ratios\n"
    "                   against log(1 + N%) rejects at level A (one-sided)\n"
    "  --rounds N       rounds (default 10; 2..1000)\n"
    "  --alpha A        the test's level, in (0, 1] (default 0.01)\n"
    "  -h, --help       this help\n"
    "exit: 0 ok, 1 a gate failed, 2 bad usage or a program failed\n";

static void ms_bench_cli_usage(FILE *f)
{
    fputs("usage: memsnap bench compare OLD.json NEW.json [--fail EXPR...] [--alpha A]\n"
          "       memsnap bench ab OLD_PROGRAM NEW_PROGRAM [--fail EXPR...] [--rounds N] [-- FLAGS...]\n"
          "       memsnap bench report RESULTS.json [--budgets FILE] [-o report.md]\n"
          "       memsnap bench show RESULTS.json... [--benchmark-sort=COL] [--benchmark-group-by=LIST]\n"
          "                                            [--benchmark-columns=LIST]\n"
          "EXPR: (min|max|mean|median|stddev|iqr):(N%|SECONDS); a gate fails when its threshold is exceeded and\n"
          "      Mann-Whitney U (two-sided, over the round samples) finds the new run slower at level A (0.01).\n"
          "      (allocs|bytes|instructions|cycles):(N%|NUMBER): counts per call, threshold alone.\n"
          "`memsnap bench SUBCOMMAND --help` lists each one's options.\n"
          "exit: 0 ok, 1 a gate or budget failed, 2 bad input or usage\n",
          f);
}

/* 1 when argv holds -h or --help (before a lone "--"). */
static int ms_bench_cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            return 1;
        }
    }
    return 0;
}

/* --fail EXPR [EXPR...] (or --fail=EXPR) at argv[*i]: the expressions up to the next option or file name.
 * 0, or 2 with the message printed. */
static int ms_bench_cli_fail(const char *cmd, int argc, char **argv, int *i, struct ms_gate *gates, size_t *ngates)
{
    struct ms_error err = {{0}};
    const char *a = argv[*i];
    int taken = 0;
    const char *expr = a[6] == '=' ? a + 7 : NULL;
    for (;;) {
        if (!expr) {
            const char *next = *i + 1 < argc ? argv[*i + 1] : NULL;
            size_t len = next ? strlen(next) : 0;
            if (!next || next[0] == '-' || !strchr(next, ':') || (len > 5 && strcmp(next + len - 5, ".json") == 0)) {
                break;
            }
            expr = argv[++*i];
        }
        if (*ngates == MS_OPTIONS_MAX_GATES) {
            fprintf(stderr, "memsnap bench %s: too many --fail expressions\n", cmd);
            return 2;
        }
        if (ms_gate_parse(expr, &gates[*ngates], &err)) {
            fprintf(stderr, "memsnap bench %s: %s\n", cmd, err.msg);
            return 2;
        }
        ++*ngates;
        taken = 1;
        expr = NULL;
    }
    if (!taken) {
        fprintf(stderr, "memsnap bench %s: --fail needs an expression such as mean:10%%\n", cmd);
        return 2;
    }
    return 0;
}

/* --alpha A or --alpha=A at argv[*i]: 0, or 2 with the message printed. */
static int ms_bench_cli_alpha(const char *cmd, int argc, char **argv, int *i, double *alpha)
{
    const char *a = argv[*i];
    const char *v = a[7] == '=' ? a + 8 : (*i + 1 < argc ? argv[++*i] : NULL);
    if (!v) {
        fprintf(stderr, "memsnap bench %s: --alpha needs a value in (0, 1]\n", cmd);
        return 2;
    }
    char *end;
    *alpha = strtod(v, &end);
    if (!*v || *end || !(*alpha > 0 && *alpha <= 1)) {
        fprintf(stderr, "memsnap bench %s: --alpha: '%s' is not in (0, 1]\n", cmd, v);
        return 2;
    }
    return 0;
}

static int ms_bench_cli_compare(int argc, char **argv)
{
    const char *files[2] = {NULL, NULL};
    size_t nfiles = 0;
    struct ms_gate gates[MS_OPTIONS_MAX_GATES];
    size_t ngates = 0;
    double alpha = MS_GATE_ALPHA_DEFAULT;
    struct ms_error err = {{0}};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--fail") == 0 || strncmp(a, "--fail=", 7) == 0) {
            if (ms_bench_cli_fail("compare", argc, argv, &i, gates, &ngates)) {
                return 2;
            }
        } else if (strcmp(a, "--alpha") == 0 || strncmp(a, "--alpha=", 8) == 0) {
            if (ms_bench_cli_alpha("compare", argc, argv, &i, &alpha)) {
                return 2;
            }
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "memsnap bench compare: unknown option '%s'\n", a);
            return 2;
        } else if (nfiles < 2) {
            files[nfiles++] = a;
        } else {
            fprintf(stderr, "memsnap bench compare: one OLD and one NEW file, not '%s' too\n", a);
            return 2;
        }
    }
    if (nfiles != 2) {
        fprintf(stderr, "memsnap bench compare: needs OLD.json and NEW.json\n");
        return 2;
    }
    struct ms_run *old = NULL, *cur = NULL;
    if (ms_json_read(files[0], &old, &err) || ms_json_read(files[1], &cur, &err)) {
        fprintf(stderr, "memsnap bench compare: %s\n", err.msg);
        ms_result_run_free(old);
        return 2;
    }
    if (ms_result_set_source(old, files[0]) != 0) {
        ms_result_run_free(old);
        ms_result_run_free(cur);
        return 2;
    }
    size_t failed = ms_compare_print(stdout, old, cur, gates, ngates, alpha);
    ms_result_run_free(old);
    ms_result_run_free(cur);
    return failed ? 1 : 0;
}

static int ms_bench_cli_ab(int argc, char **argv)
{
    struct ms_gate gates[MS_OPTIONS_MAX_GATES];
    struct ms_ab_opts o = {.rounds = 10, .alpha = MS_GATE_ALPHA_DEFAULT, .gates = gates};
    const char *progs[2] = {NULL, NULL};
    int nprogs = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            o.bench_args = argv + i + 1;
            o.nbench_args = argc - i - 1;
            break;
        }
        if (strcmp(a, "--fail") == 0 || strncmp(a, "--fail=", 7) == 0) {
            if (ms_bench_cli_fail("ab", argc, argv, &i, gates, &o.ngates)) {
                return 2;
            }
            if (!gates[o.ngates - 1].percent) {
                fprintf(stderr, "memsnap bench ab: --fail %s: A/B gates are percentages (ratios new/old), such as "
                                "%s:5%%\n", gates[o.ngates - 1].field, gates[o.ngates - 1].field);
                return 2;
            }
        } else if (strcmp(a, "--alpha") == 0 || strncmp(a, "--alpha=", 8) == 0) {
            if (ms_bench_cli_alpha("ab", argc, argv, &i, &o.alpha)) {
                return 2;
            }
        } else if (strcmp(a, "--rounds") == 0 || strncmp(a, "--rounds=", 9) == 0) {
            const char *v = a[8] == '=' ? a + 9 : (i + 1 < argc ? argv[++i] : "");
            char *end;
            long n = strtol(v, &end, 10);
            if (!*v || *end || n < 2 || n > 1000) {
                fprintf(stderr, "memsnap bench ab: --rounds: '%s' is not a whole number from 2 to 1000\n", v);
                return 2;
            }
            o.rounds = (int)n;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "memsnap bench ab: unknown option '%s' (benchmark flags go after --)\n", a);
            return 2;
        } else if (nprogs < 2) {
            progs[nprogs++] = a;
        } else {
            fprintf(stderr, "memsnap bench ab: one OLD and one NEW program, not '%s' too\n", a);
            return 2;
        }
    }
    if (nprogs != 2) {
        fprintf(stderr, "memsnap bench ab: needs OLD_PROGRAM and NEW_PROGRAM\n");
        return 2;
    }
    o.old_prog = progs[0];
    o.new_prog = progs[1];
    struct ms_error err = {{0}};
    int rc = ms_ab_run(&o, stdout, &err);
    if (rc < 0) {
        fprintf(stderr, "memsnap bench ab: %s\n", err.msg);
        return 2;
    }
    return rc > 0 ? 1 : 0;
}

/* Like `pytest-benchmark compare FILES...`: every file's rows in pytest-benchmark's table, labelled with
 * the file's short name. */
static int ms_bench_cli_show(int argc, char **argv)
{
    struct ms_options o;
    struct ms_error err = {{0}};
    ms_options_defaults(&o);
    char **flags = calloc((size_t)argc + 1, sizeof *flags);
    struct ms_run **runs = calloc((size_t)argc + 1, sizeof *runs);
    struct ms_result **rows = NULL;
    int nflags = 0, nruns = 0, status = 0;
    size_t nrows = 0;
    if (!flags || !runs) {
        free(flags);
        free(runs);
        return 2;
    }
    flags[nflags++] = "memsnap bench show";
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-') {
            flags[nflags++] = argv[i];
        } else if (ms_json_read(argv[i], &runs[nruns], &err) == 0) {
            nrows += runs[nruns++]->count;
        } else {
            fprintf(stderr, "memsnap bench show: %s\n", err.msg);
            status = 2;
            goto out;
        }
    }
    int rc = ms_options_parse(&o, nflags, flags, stdout, &err);
    if (rc) {
        if (rc < 0) {
            fprintf(stderr, "memsnap bench show: %s\n", err.msg);
        }
        status = rc < 0 ? 2 : 0;
        goto out;
    }
    if (!nruns) {
        fprintf(stderr, "memsnap bench show: needs at least one RESULTS.json\n");
        status = 2;
        goto out;
    }
    rows = calloc(nrows + 1, sizeof *rows);
    if (!rows) {
        status = 2;
        goto out;
    }
    nrows = 0;
    for (int r = 0; r < nruns; r++) {
        if (ms_result_set_source(runs[r], runs[r]->path) != 0) {
            status = 2;
            goto out;
        }
        for (size_t i = 0; i < runs[r]->count; i++) {
            rows[nrows++] = &runs[r]->results[i];
        }
    }
    ms_table_print(stdout, rows, nrows, &o);
    if (o.histogram && ms_histogram_write(o.histogram, rows, nrows, o.group_by, stdout, &err) != 0) {
        fprintf(stderr, "memsnap bench show: %s\n", err.msg);
        status = 2;
    }
out:
    for (int r = 0; r < nruns; r++) {
        ms_result_run_free(runs[r]);
    }
    free(rows);
    free(runs);
    free(flags);
    return status;
}

static int ms_bench_cli_report(int argc, char **argv)
{
    const char *results = NULL, *budgets_path = NULL, *output = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((strcmp(a, "--budgets") == 0 || strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) && i + 1 < argc) {
            *(strcmp(a, "--budgets") == 0 ? &budgets_path : &output) = argv[++i];
        } else if (strncmp(a, "--budgets=", 10) == 0) {
            budgets_path = a + 10;
        } else if (strncmp(a, "--output=", 9) == 0) {
            output = a + 9;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "memsnap bench report: unknown option or missing value: '%s'\n", a);
            return 2;
        } else if (!results) {
            results = a;
        } else {
            fprintf(stderr, "memsnap bench report: one RESULTS.json, not '%s' too\n", a);
            return 2;
        }
    }
    if (!results) {
        fprintf(stderr, "memsnap bench report: needs RESULTS.json\n");
        return 2;
    }
    struct ms_error err = {{0}};
    struct ms_run *run = NULL;
    struct ms_budgets *budgets = NULL;
    if (ms_json_read(results, &run, &err) || (budgets_path && ms_budgets_load(budgets_path, &budgets, &err))) {
        fprintf(stderr, "memsnap bench report: %s\n", err.msg);
        ms_result_run_free(run);
        return 2;
    }
    FILE *out = output ? fopen(output, "w") : stdout;
    int status;
    if (!out) {
        fprintf(stderr, "memsnap bench report: %s: cannot write: %s\n", output, strerror(errno));
        status = 2;
    } else {
        enum ms_status failed = ms_report_write(out, run, budgets, &err);
        if (failed < 0) {
            fprintf(stderr, "memsnap bench report: %s\n", err.msg);
            status = 2;
        } else {
            status = failed ? 1 : 0;
            if (output) {
                fprintf(stderr, "Report generated: %s (%s)\n", output, failed ? "budgets FAILED" : "all budgets met");
            }
        }
        if (output && fclose(out) != 0 && status != 2) {
            fprintf(stderr, "memsnap bench report: %s: cannot write: %s\n", output, strerror(errno));
            status = 2;
        }
    }
    ms_budgets_free(budgets);
    ms_result_run_free(run);
    return status;
}

int ms_bench_cli(int argc, char **argv)
{
    if (argc < 1) {
        ms_bench_cli_usage(stderr);
        return 2;
    }
    if (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "help") == 0) {
        ms_bench_cli_usage(stdout);
        return 0;
    }
    static const struct {
        const char *name;
        int (*run)(int, char **);
        const char *usage;
    } subs[] = {
        {"compare", ms_bench_cli_compare, ms_bench_cli_compare_usage},
        {"ab", ms_bench_cli_ab, ms_bench_cli_ab_usage},
        {"show", ms_bench_cli_show, ms_bench_cli_show_usage},
        {"report", ms_bench_cli_report, ms_bench_cli_report_usage},
    };
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        if (strcmp(argv[0], subs[i].name) == 0) {
            if (ms_bench_cli_wants_help(argc, argv)) {
                fputs(subs[i].usage, stdout);
                return 0;
            }
            int status = subs[i].run(argc, argv);
            /* A table that never reached stdout (a full disk) is no result. */
            if ((fflush(stdout) != 0 || ferror(stdout)) && status == 0) {
                fprintf(stderr, "memsnap bench %s: cannot write the output: %s\n", subs[i].name,
                        strerror(errno ? errno : EIO));
                status = 2;
            }
            return status;
        }
    }
    fprintf(stderr, "memsnap bench: unknown subcommand '%s' (compare, ab, report, show; see memsnap bench --help)\n",
            argv[0]);
    return 2;
}
