/* Runs `memsnap bench ...` without the analyzer: argv[1] onwards go to ms_bench_cli. */
#include "harness.h"

int main(int argc, char **argv)
{
    return ms_bench_cli(argc - 1, argv + 1);
}
