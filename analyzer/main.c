/* memsnap: subcommand dispatch and option parsing; the work is in libmemsnap-analyze. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "analyze.h"
#include "ms_version.h"
#ifdef MS_HAVE_BENCH
#include "harness.h" /* ms_bench_cli */
#endif

enum {
    O_FORMAT = 1 << 0, O_BYTES = 1 << 1, O_BY = 1 << 2, O_N = 1 << 3, O_CUMUL = 1 << 4, O_STACK = 1 << 5,
    O_FILTER = 1 << 6, O_SYM = 1 << 7, O_FAILSIZE = 1 << 8, O_FAIL = 1 << 9, O_SUPP = 1 << 10, O_LINES = 1 << 11,
    O_EXPORT = 1 << 12, O_XFORMAT = 1 << 13, O_EXITSNAP = 1 << 14, O_NAMES = 1 << 15,
};

/* export, flamegraph and plot take options beyond struct ms_cli; the table's calls reach them through this. */
static struct ms_export_opts ms_main_xo;
static enum ms_status ms_main_export(const struct ms_cli *cli, struct ms_error *err)
{
    return ms_export_main(cli, &ms_main_xo, err);
}
static enum ms_status ms_main_flamegraph(const struct ms_cli *cli, struct ms_error *err)
{
    return ms_flamegraph_main(cli, &ms_main_xo, err);
}
static enum ms_status ms_main_plot(const struct ms_cli *cli, struct ms_error *err)
{
    return ms_plot_main(cli, &ms_main_xo, err);
}
static enum ms_status ms_main_report(const struct ms_cli *cli, struct ms_error *err)
{
    return ms_report_main(cli, &ms_main_xo, err);
}

struct ms_main_cmd {
    const char *name;
    unsigned opts;
    enum ms_status (*fn)(const struct ms_cli *, struct ms_error *);
    long default_limit;
    const char *usage;
};

#define MS_MAIN_COMMON "  --format text|json  output format (JSON: see docs/cli.md)\n  --bytes  exact byte counts\n"
#define MS_MAIN_SYM "  --sysroot DIR  prefix for module paths\n  --debug-dir DIR  more places for binaries and debug files (repeatable)\n"
#define MS_MAIN_BY                                                                                             \
    "  --by KEY  group by line (default), function, file or stack (the whole stack)\n"                         \
    "  --cumulative  count a site under every frame of its stack, not only the site frame\n"                     \
    "  --stack  print each row's symbolized stack\n"
#define MS_MAIN_NAMES "  --full-names  C++ names with their template arguments (text leaves them out)\n"
#define MS_MAIN_FILTER "  --include PAT / --exclude PAT  fnmatch on file, function or module (repeatable)\n  --all-frames  filters look at every frame, not just the innermost\n"

static const struct ms_main_cmd ms_main_cmds[] = {
    {"top", O_FORMAT | O_BYTES | O_BY | O_N | O_CUMUL | O_STACK | O_FILTER | O_SYM | O_NAMES, ms_top_main, 10,
     "usage: memsnap top SNAP [--by line|function|file|stack] [-n N] [--cumulative] [--stack]\n"
     "Largest live allocation sites first, then the totals.\n"
     "  -n N  rows to show (default 10, 0 = all)\n" MS_MAIN_BY MS_MAIN_NAMES MS_MAIN_FILTER MS_MAIN_SYM MS_MAIN_COMMON},
    {"diff", O_FORMAT | O_BYTES | O_BY | O_N | O_CUMUL | O_STACK | O_FILTER | O_SYM | O_FAILSIZE | O_NAMES,
     ms_diff_main, 10,
     "usage: memsnap diff OLD NEW [--by line|function|file|stack] [-n N] [--cumulative] [--stack]\n"
     "                    [--fail-over SIZE] [--fail-site-over SIZE]\n"
     "What changed between two snapshots, largest change first (tracemalloc's compare_to).\n"
     "  -n N  rows to show (default 10, 0 = all)\n"
     "  --fail-over SIZE  exit 1 when the total grew by more than SIZE (e.g. 1MiB)\n"
     "  --fail-site-over SIZE  exit 1 when any row grew by more than SIZE\n" MS_MAIN_BY MS_MAIN_NAMES MS_MAIN_FILTER
     MS_MAIN_SYM
     MS_MAIN_COMMON},
    {"leaks", O_FORMAT | O_BYTES | O_N | O_FILTER | O_SYM | O_FAIL | O_SUPP | O_NAMES, ms_leaks_main, -1,
     "usage: memsnap leaks SNAP [--show-reachable] [--suppressions FILE] [--no-default-suppressions] [--fail] [-n N]\n"
     "Blocks lost at exit (definitely, then indirectly), by stack, largest first.\n"
     "  --show-reachable  also the blocks still reachable at exit\n"
     "  --suppressions FILE  LeakSanitizer syntax: leak:PATTERN per line\n"
     "  --no-default-suppressions  also list the C runtime's one-time allocations\n"
     "  -n N  stacks to list (default all)\n"
     "  --fail  exit 1 when any lost block is left after suppressions\n" MS_MAIN_NAMES MS_MAIN_FILTER MS_MAIN_SYM
     MS_MAIN_COMMON},
    {"growth", O_FORMAT | O_BYTES | O_BY | O_N | O_CUMUL | O_STACK | O_FILTER | O_SYM | O_FAIL | O_EXITSNAP | O_NAMES,
     ms_growth_main, -1,
     "usage: memsnap growth SNAP1 SNAP2 SNAP3... [--by stack|line|function|file] [--cumulative] [-n N] [--fail]\n"
     "                      [--stack] [--include-exit]\n"
     "Per site, the trend of live bytes: unbounded (a significant rising trend, Mann-Kendall, still making\n"
     "new highs) or bounded (a plateau seen, or no trend).\n"
     "  --fail  exit 1 when any site is unbounded\n  -n N  sites to list (default all)\n"
     "  --include-exit  keep at-exit snapshots in the series (left out by default)\n"
     "  --by KEY  group by stack (default), line, function or file\n"
     "  --cumulative  count a site under every frame of its stack (line, function, file)\n"
     "  --stack  print each site's stack (always printed for unbounded sites)\n" MS_MAIN_NAMES MS_MAIN_FILTER MS_MAIN_SYM
     MS_MAIN_COMMON},
    {"lines", O_FORMAT | O_BYTES | O_SYM | O_LINES, ms_lines_main, -1,
     "usage: memsnap lines SNAP (--file F | --function F) [--source-dir D]\n"
     "Per source line: allocated bytes, live bytes, allocations, beside the source text.\n"
     "  --file F  every line of a file (full path, path suffix, base name or fnmatch pattern)\n"
     "  --function F  the lines of one function\n"
     "  --source-dir D  where the sources are now, if they moved since the build\n" MS_MAIN_SYM
     MS_MAIN_COMMON},
    {"export", O_FORMAT | O_XFORMAT | O_BYTES | O_EXPORT | O_FILTER | O_SYM, ms_main_export, -1,
     "usage: memsnap export SNAP --format collapsed|pprof|json [-o FILE] [--live|--allocated] [--bytes|--count]\n"
     "       memsnap export SNAP1 SNAP2... --format massif [-o FILE]\n"
     "The snapshot for other tools: folded stacks (flamegraph.pl, speedscope), pprof's profile.proto, JSON;\n"
     "a series of snapshots as massif's output file (ms_print, massif-visualizer).\n"
     "  -o FILE  write there (default stdout)\n"
     "  --live / --allocated  collapsed: weigh by live memory (default) or by everything allocated\n"
     "  --bytes / --count  collapsed: weigh by bytes (default) or by blocks\n" MS_MAIN_FILTER MS_MAIN_SYM},
    {"flamegraph", O_BYTES | O_EXPORT | O_FILTER | O_SYM, ms_main_flamegraph, -1,
     "usage: memsnap flamegraph SNAP -o out.svg [--allocated] [--count] [--title T]\n"
     "A self-contained SVG flame graph of the live heap by call stack (click zooms, Ctrl-F searches).\n"
     "  --allocated  widths by bytes allocated over the lifetime, not live bytes\n"
     "  --count  widths by blocks, not bytes\n  --title T  the heading\n  --bytes  exact sizes in labels\n"
     MS_MAIN_FILTER MS_MAIN_SYM},
    {"plot", O_BYTES | O_EXPORT | O_BY | O_N | O_FILTER | O_SYM, ms_main_plot, 5,
     "usage: memsnap plot SNAP1 SNAP2... -o heap.svg [-n N] [--by line|function|file] [--allocated] [--title T]\n"
     "Live heap over time from a series of snapshots (e.g. MEMSNAP_INTERVAL): the process total as a line,\n"
     "the N largest sites (by peak) as stacked areas, as a self-contained SVG.\n"
     "  -n N  sites drawn (default 5, 0 = all)\n  --allocated  cumulative allocated bytes, not live bytes\n"
     "  --title T  the heading\n  --bytes  exact sizes on the axis and in the legend\n" MS_MAIN_FILTER MS_MAIN_SYM},
    {"report", O_BYTES | O_EXPORT | O_FILTER | O_SYM, ms_main_report, -1,
     "usage: memsnap report SNAP... -o report.html [--title T]\n"
     "One self-contained HTML page for the snapshots of one run: the heap over time with the peak marked, the\n"
     "flame graph of any moment (click it on the timeline; zoom, search, live/allocated/blocks), the largest\n"
     "sites, growth verdicts with sparklines, the leak summary of the at-exit snapshot, the run's facts.\n"
     "  -o FILE  the page to write\n  --title T  the heading\n  --bytes  exact sizes\n" MS_MAIN_FILTER MS_MAIN_SYM},
    {"dump", O_FORMAT | O_BYTES, ms_dump_main, -1,
     "usage: memsnap dump SNAP [--format text|json]\nThe snapshot as stored, unsymbolized (sizes are always exact).\n"},
};

enum {
    OPT_FORMAT = 256, OPT_BYTES, OPT_BY, OPT_CUMUL, OPT_STACK, OPT_INCLUDE, OPT_EXCLUDE, OPT_ALLFRAMES,
    OPT_SYSROOT, OPT_DEBUGDIR, OPT_FAILOVER, OPT_FAILSITE, OPT_FAIL, OPT_SUPP, OPT_NOSUPP, OPT_FILE,
    OPT_FUNCTION, OPT_SRCDIR, OPT_OUTPUT, OPT_INTERVAL, OPT_DEPTH, OPT_UNWIND, OPT_NOFOLLOW,
    OPT_LIVE, OPT_ALLOCATED, OPT_COUNT, OPT_TITLE, OPT_REACHABLE, OPT_INCLUDEEXIT, OPT_FULLNAMES,
    OPT_FAILON, OPT_MAXLIVE, OPT_MAXPEAK, OPT_FAILEXIT, OPT_VERSION, /* run's gates; --version */
};

/* The group (O_*) of each option: a command takes an option when its table entry has the group. */
static const struct {
    int opt;
    unsigned group;
} ms_main_groups[] = {
    {OPT_FORMAT, O_FORMAT}, {OPT_BYTES, O_BYTES}, {OPT_BY, O_BY}, {'n', O_N}, {OPT_CUMUL, O_CUMUL},
    {OPT_STACK, O_STACK}, {OPT_INCLUDE, O_FILTER}, {OPT_EXCLUDE, O_FILTER}, {OPT_ALLFRAMES, O_FILTER},
    {OPT_SYSROOT, O_SYM}, {OPT_DEBUGDIR, O_SYM}, {OPT_FAILOVER, O_FAILSIZE}, {OPT_FAILSITE, O_FAILSIZE},
    {OPT_FAIL, O_FAIL}, {OPT_SUPP, O_SUPP}, {OPT_NOSUPP, O_SUPP}, {OPT_REACHABLE, O_SUPP}, {OPT_FILE, O_LINES},
    {OPT_FUNCTION, O_LINES}, {OPT_SRCDIR, O_LINES}, {'o', O_EXPORT}, {OPT_OUTPUT, O_EXPORT},
    {OPT_LIVE, O_EXPORT}, {OPT_ALLOCATED, O_EXPORT}, {OPT_COUNT, O_EXPORT}, {OPT_TITLE, O_EXPORT},
    {OPT_INCLUDEEXIT, O_EXITSNAP}, {OPT_FULLNAMES, O_NAMES},
};

static unsigned ms_main_group(int c)
{
    for (size_t i = 0; i < sizeof ms_main_groups / sizeof *ms_main_groups; i++)
        if (ms_main_groups[i].opt == c)
            return ms_main_groups[i].group;
    return 0;
}

static const struct option ms_main_long[] = {
    {"format", required_argument, 0, OPT_FORMAT}, {"bytes", no_argument, 0, OPT_BYTES},
    {"by", required_argument, 0, OPT_BY}, {"cumulative", no_argument, 0, OPT_CUMUL},
    {"stack", no_argument, 0, OPT_STACK}, {"include", required_argument, 0, OPT_INCLUDE},
    {"exclude", required_argument, 0, OPT_EXCLUDE}, {"all-frames", no_argument, 0, OPT_ALLFRAMES},
    {"sysroot", required_argument, 0, OPT_SYSROOT}, {"debug-dir", required_argument, 0, OPT_DEBUGDIR},
    {"fail-over", required_argument, 0, OPT_FAILOVER}, {"fail-site-over", required_argument, 0, OPT_FAILSITE},
    {"fail", no_argument, 0, OPT_FAIL}, {"suppressions", required_argument, 0, OPT_SUPP},
    {"no-default-suppressions", no_argument, 0, OPT_NOSUPP}, {"show-reachable", no_argument, 0, OPT_REACHABLE}, {"file", required_argument, 0, OPT_FILE},
    {"function", required_argument, 0, OPT_FUNCTION}, {"source-dir", required_argument, 0, OPT_SRCDIR},
    {"output", required_argument, 0, OPT_OUTPUT}, {"interval", required_argument, 0, OPT_INTERVAL},
    {"depth", required_argument, 0, OPT_DEPTH}, {"unwind", required_argument, 0, OPT_UNWIND},
    {"no-follow", no_argument, 0, OPT_NOFOLLOW}, {"live", no_argument, 0, OPT_LIVE},
    {"allocated", no_argument, 0, OPT_ALLOCATED}, {"count", no_argument, 0, OPT_COUNT},
    {"title", required_argument, 0, OPT_TITLE}, {"include-exit", no_argument, 0, OPT_INCLUDEEXIT},
    {"full-names", no_argument, 0, OPT_FULLNAMES}, {"help", no_argument, 0, 'h'},
    {"fail-on", required_argument, 0, OPT_FAILON}, {"max-live", required_argument, 0, OPT_MAXLIVE},
    {"max-peak", required_argument, 0, OPT_MAXPEAK}, {"fail-exitcode", required_argument, 0, OPT_FAILEXIT},
    {"version", no_argument, 0, OPT_VERSION}, {0, 0, 0, 0},
};

static const char ms_main_usage[] =
    "usage: memsnap COMMAND [options]\n"
    "  run [options] -- PROGRAM ARGS...   run a program under libmemsnap.so\n"
    "  top SNAP                           largest live allocation sites\n"
    "  diff OLD NEW                       what grew between two snapshots\n"
    "  leaks SNAP                         what an at-exit snapshot still holds\n"
    "  growth SNAP1 SNAP2 SNAP3...        unbounded vs bounded growth per site\n"
    "  lines SNAP --file F|--function F   per-line totals beside the source\n"
    "  export SNAP --format collapsed|pprof|json|massif   for flame graph tools, pprof, ms_print\n"
    "  flamegraph SNAP -o out.svg         SVG flame graph of the live heap\n"
    "  plot SNAP1 SNAP2... -o heap.svg    SVG of the heap over time\n"
    "  report SNAP... -o report.html      one HTML page: timeline, flame graphs, sites, growth, leaks\n"
    "  dump SNAP                          raw snapshot contents\n"
    "  bench compare|ab|report|show ...   timing-harness results\n"
    "  --version                          memsnap's version (also after any COMMAND)\n"
    "`memsnap COMMAND --help` for each command's options; the manual: man memsnap (docs/cli.md in the\n"
    "source tree).\n"
    "Exit status: 0 ok, 1 a gate was crossed, 2 usage or input error.\n";

static const char ms_main_run_usage[] =
    "usage: memsnap run [--output PATTERN] [--interval MS] [--depth N] [--unwind dwarf|fp|libunwind]\n"
    "                   [--no-follow] [--fail-on leaks[,growth]] [--max-live SIZE] [--max-peak SIZE]\n"
    "                   [--suppressions FILE] [--fail-exitcode N] -- PROGRAM ARGS...\n"
    "Runs PROGRAM with LD_PRELOAD=libmemsnap.so and passes its exit status through (128+N for signal N,\n"
    "127 when not found). PATTERN takes %p (pid), %n (sequence), %e (program name).\n"
    "Gates, judged when PROGRAM exits 0 (its own failure is passed through unchanged); a crossed gate\n"
    "prints its report on stderr and exits 23 (or N):\n"
    "  --fail-on leaks  memory lost at exit (definitely or indirectly), after suppressions\n"
    "  --fail-on growth  a site growing without bound over the run's snapshots (needs --interval MS)\n"
    "  --max-live SIZE  live heap in any snapshot above SIZE (e.g. 64MiB)\n"
    "  --max-peak SIZE  peak heap above SIZE\n"
    "  --suppressions FILE  leaks to ignore (LeakSanitizer syntax: leak:PATTERN)\n"
    "  --fail-exitcode N  the exit status for a crossed gate (1-255, default 23)\n"
    "Without --output, a gated run keeps its snapshots in a temporary directory and removes them.\n"
    "Exit status: PROGRAM's, or 23 (N) a gate was crossed, 2 usage error or nothing to check.\n";

__attribute__((format(printf, 2, 3))) static int ms_main_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "memsnap %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(memsnap %s --help for usage)\n", cmd);
    return 2;
}

/* meson's project version, and `git describe` when built from a git checkout. */
static int ms_main_version(void)
{
    printf("memsnap %s%s%s%s\n", MS_VERSION_PROJECT, *MS_VERSION_GIT ? " (git " : "", MS_VERSION_GIT,
           *MS_VERSION_GIT ? ")" : "");
    return 0;
}

/* The option's name as typed (argv[optind - 1] is its argument when it takes one). */
static const char *ms_main_opt_name(int c)
{
    static char buf[64];
    for (const struct option *o = ms_main_long; o->name; o++)
        if (o->val == c && c >= 256) {
            snprintf(buf, sizeof buf, "--%s", o->name);
            return buf;
        }
    snprintf(buf, sizeof buf, "-%c", c);
    return buf;
}

/* getopt's own messages name neither memsnap nor the command; ours do. Called on '?' or ':'. */
static void ms_main_getopt_error(const char *cmd, int c, char **argv)
{
    const char *typed = argv[optind - 1];
    if (c == ':')
        fprintf(stderr, "memsnap %s: option %s needs an argument\n", cmd, typed);
    else if (optopt >= 256) /* a long option that takes none, given one with = */
        fprintf(stderr, "memsnap %s: option %s takes no argument ('%s')\n", cmd, ms_main_opt_name(optopt), typed);
    else if (optopt)
        fprintf(stderr, "memsnap %s: unknown option '-%c'\n", cmd, optopt);
    else
        fprintf(stderr, "memsnap %s: unknown or ambiguous option '%s'\n", cmd, typed);
    fprintf(stderr, "(memsnap %s --help for usage)\n", cmd);
}

/* A directory option that names nothing would only make every lookup miss, silently. */
static bool ms_main_dir_ok(const char *cmd, int c, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "memsnap %s: %s %s: %s\n", cmd, ms_main_opt_name(c), path, strerror(errno));
        return false;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "memsnap %s: %s %s: not a directory\n", cmd, ms_main_opt_name(c), path);
        return false;
    }
    return true;
}

static bool ms_main_push(const char ***v, size_t *n, const char *s)
{
    const char **nv = realloc(*v, (*n + 2) * sizeof *nv);
    if (!nv)
        return false;
    nv[(*n)++] = s;
    nv[*n] = NULL;
    *v = nv;
    return true;
}

static int ms_main_run(int argc, char **argv)
{
    struct ms_run_opts ro = {.gate = {.max_live = -1, .max_peak = -1}, .fail_exitcode = MS_MEMGATE_EXITCODE};
    struct ms_cli cli = {.out = stdout};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:h", ms_main_long, NULL)) != -1) {
        switch (c) {
        case OPT_OUTPUT: ro.output = optarg; break;
        case OPT_INTERVAL: ro.interval = optarg; break;
        case OPT_DEPTH: ro.depth = optarg; break;
        case OPT_UNWIND: ro.unwind = optarg; break;
        case OPT_NOFOLLOW: ro.no_follow = true; break;
        case OPT_SUPP: ro.gate.suppressions = optarg; break;
        case OPT_FAILON:
            if (!ms_memgate_parse(optarg, &ro.gate.fail_on))
                return ms_main_usage_error("run", "--fail-on takes leaks, growth or leaks,growth, not '%s'", optarg);
            break;
        case OPT_MAXLIVE:
        case OPT_MAXPEAK:
            if (!ms_size_parse(optarg, c == OPT_MAXLIVE ? &ro.gate.max_live : &ro.gate.max_peak))
                return ms_main_usage_error("run", "not a size: '%s' (examples: 1000, 64KiB, 1.5M)", optarg);
            break;
        case OPT_FAILEXIT: {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (!*optarg || *end || v < 1 || v > 255)
                return ms_main_usage_error("run", "--fail-exitcode takes 1 to 255, not '%s'", optarg);
            ro.fail_exitcode = (int)v;
            break;
        }
        case 'h': fputs(ms_main_run_usage, stdout); return 0;
        case OPT_VERSION: return ms_main_version();
        case '?':
        case ':': ms_main_getopt_error("run", c, argv); return 2;
        default:
            fprintf(stderr, "memsnap run: option %s does not apply to this command\n(memsnap run --help for usage)\n",
                    ms_main_opt_name(c));
            return 2;
        }
    }
    ro.argv = argv + optind;
    return ms_run_main(&ro, &cli);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(ms_main_usage, stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "help") == 0) {
        fputs(ms_main_usage, stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0)
        return ms_main_version();
    if (strcmp(name, "run") == 0)
        return ms_main_run(argc - 1, argv + 1);
    if (strcmp(name, "bench") == 0) {
        /* `memsnap bench --version`, `memsnap bench compare --version`: the harness is part of this memsnap. */
        for (int i = 2; i < argc && i < 4; i++)
            if (strcmp(argv[i], "--version") == 0)
                return ms_main_version();
#ifdef MS_HAVE_BENCH
        return ms_bench_cli(argc - 2, argv + 2);
#else
        fprintf(stderr, "memsnap bench: not built into this memsnap\n");
        return 2;
#endif
    }
    const struct ms_main_cmd *cmd = NULL;
    for (size_t i = 0; i < sizeof ms_main_cmds / sizeof *ms_main_cmds; i++)
        if (strcmp(name, ms_main_cmds[i].name) == 0)
            cmd = &ms_main_cmds[i];
    if (!cmd) {
        fprintf(stderr, "memsnap: unknown command '%s'\n(memsnap --help for the commands)\n", name);
        return 2;
    }
    struct ms_cli cli = {.format = MS_OUT_TEXT, .by = MS_BY_LINE, .limit = cmd->default_limit, .out = stdout};
    const char **include = NULL, **exclude = NULL, **debug_dirs = NULL;
    size_t ninc = 0, nexc = 0, ndbg = 0;
    int status = 2, c;
    bool ok = true, has_xformat = false;
    argc--;
    argv++;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hn:o:", ms_main_long, NULL)) != -1) {
        unsigned need = ms_main_group(c);
        if (c == 'h') {
            fputs(cmd->usage, stdout);
            status = 0;
            goto out;
        }
        if (c == OPT_VERSION) {
            status = ms_main_version();
            goto out;
        }
        if (c == '?' || c == ':') {
            ms_main_getopt_error(cmd->name, c, argv);
            goto out;
        }
        if (!(cmd->opts & need)) {
            ms_main_usage_error(cmd->name, "option %s does not apply to this command", ms_main_opt_name(c));
            goto out;
        }
        if ((c == OPT_SYSROOT || c == OPT_DEBUGDIR || c == OPT_SRCDIR) && !ms_main_dir_ok(cmd->name, c, optarg))
            goto out;
        switch (c) {
        case OPT_FORMAT:
            if (cmd->opts & O_XFORMAT) {
                static const char *const xnames[] = {"collapsed", "pprof", "json", "massif"};
                ok = false;
                for (int i = 0; i < 4 && !ok; i++)
                    if ((ok = strcmp(optarg, xnames[i]) == 0))
                        ms_main_xo.format = (enum ms_export_format)i;
                if (!ok) {
                    ms_main_usage_error(cmd->name, "--format takes collapsed, pprof, json or massif, not '%s'", optarg);
                    goto out;
                }
                has_xformat = true;
            } else if (strcmp(optarg, "text") == 0)
                cli.format = MS_OUT_TEXT;
            else if (strcmp(optarg, "json") == 0)
                cli.format = MS_OUT_JSON;
            else {
                ms_main_usage_error(cmd->name, "--format takes text or json, not '%s'", optarg);
                goto out;
            }
            break;
        case OPT_BYTES:
            cli.bytes = true;
            ms_main_xo.count = false;
            break;
        case 'o':
        case OPT_OUTPUT: ms_main_xo.output = optarg; break;
        case OPT_LIVE: ms_main_xo.allocated = false; break;
        case OPT_ALLOCATED: ms_main_xo.allocated = true; break;
        case OPT_COUNT: ms_main_xo.count = true; break;
        case OPT_TITLE: ms_main_xo.title = optarg; break;
        case OPT_BY:
            cli.by = ms_group_by_parse(optarg, &ok);
            cli.by_set = true;
            if (!ok) {
                ms_main_usage_error(cmd->name, "--by takes line, function, file or stack, not '%s'", optarg);
                goto out;
            }
            break;
        case 'n': {
            char *end;
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (!*optarg || *end || v < 0 || errno == ERANGE) {
                ms_main_usage_error(cmd->name, "-n takes a count (0 = all), not '%s'", optarg);
                goto out;
            }
            cli.limit = v == 0 ? -1 : v;
            break;
        }
        case OPT_CUMUL: cli.cumulative = true; break;
        case OPT_STACK: cli.show_stack = true; break;
        case OPT_INCLUDE: ok = ms_main_push(&include, &ninc, optarg); break;
        case OPT_EXCLUDE: ok = ms_main_push(&exclude, &nexc, optarg); break;
        case OPT_ALLFRAMES: cli.all_frames = true; break;
        case OPT_SYSROOT: cli.sym.sysroot = optarg; break;
        case OPT_DEBUGDIR: ok = ms_main_push(&debug_dirs, &ndbg, optarg); break;
        case OPT_FAILOVER:
        case OPT_FAILSITE: {
            long long v;
            if (!ms_size_parse(optarg, &v)) {
                ms_main_usage_error(cmd->name, "not a size: '%s' (examples: 1000, 64KiB, 1.5M)", optarg);
                goto out;
            }
            if (c == OPT_FAILOVER) {
                cli.fail_over = v;
                cli.has_fail_over = true;
            } else {
                cli.fail_site_over = v;
                cli.has_fail_site_over = true;
            }
            break;
        }
        case OPT_FAIL: cli.fail = true; break;
        case OPT_SUPP: cli.suppressions = optarg; break;
        case OPT_NOSUPP: cli.no_default_suppressions = true; break;
        case OPT_REACHABLE: cli.show_reachable = true; break;
        case OPT_INCLUDEEXIT: cli.include_exit = true; break;
        case OPT_FULLNAMES: ms_output_set_full_names(true); break;
        case OPT_FILE: cli.file = optarg; break;
        case OPT_FUNCTION: cli.function = optarg; break;
        case OPT_SRCDIR: cli.source_dir = optarg; break;
        }
        if (!ok) {
            fprintf(stderr, "memsnap: out of memory\n");
            goto out;
        }
    }
    if ((cmd->opts & O_XFORMAT) && !has_xformat) {
        ms_main_usage_error(cmd->name, "--format collapsed|pprof|json|massif is required");
        goto out;
    }
    if (cli.cumulative && cli.by == MS_BY_STACK) {
        ms_main_usage_error(cmd->name, "--cumulative applies to --by line, function or file");
        goto out;
    }
    cli.include = include;
    cli.exclude = exclude;
    cli.sym.debug_dirs = debug_dirs;
    cli.inputs = argv + optind;
    cli.input_count = argc - optind;
    struct ms_error err = {""};
    enum ms_status r = cmd->fn(&cli, &err);
    if (r != MS_OK && r != MS_GATE) {
        fprintf(stderr, "memsnap %s: %s\n", cmd->name, err.msg);
        if (r == MS_USAGE)
            fprintf(stderr, "(memsnap %s --help for usage)\n", cmd->name);
    }
    if (fflush(stdout) != 0 && r == MS_OK) {
        fprintf(stderr, "memsnap %s: writing output failed\n", cmd->name);
        r = MS_IO;
    }
    status = ms_error_exit_status(r);
out:
    free(include);
    free(exclude);
    free(debug_dirs);
    return status;
}
