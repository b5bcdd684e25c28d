/* `memsnap bench compare|report`: the command-line face of the harness. */
#include "harness.h"

#include <string.h>

static void ms_bench_cli_usage(FILE *f)
{
    fputs("usage: memsnap bench compare OLD.json NEW.json [--fail EXPR...]\n"
          "       memsnap bench report RESULTS.json [--budgets FILE] [-o report.md]\n",
          f);
}

int ms_bench_cli(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
        ms_bench_cli_usage(argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    fprintf(stderr, "memsnap bench: unknown subcommand '%s'\n", argv[0]);
    ms_bench_cli_usage(stderr);
    return 2;
}
