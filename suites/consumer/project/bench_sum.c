/* A benchmark built against the installed <memsnap/bench.h> and libmemsnap-bench. */
#include <memsnap/bench.h>

#include <stddef.h>

static double sum_body(void *arg)
{
    const unsigned *v = arg;
    unsigned s = 0;
    for (size_t i = 0; i < 256; i++)
        s += v[i];
    return (double)s;
}

int main(int argc, char **argv)
{
    static unsigned v[256];
    for (size_t i = 0; i < 256; i++)
        v[i] = (unsigned)i;
    memsnap_bench_session *s = memsnap_bench_session_new();
    if (!s)
        return 2;
    memsnap_bench *b = memsnap_bench_add(s, NULL, "sum", sum_body, v);
    int status = memsnap_bench_run(s, argc, argv);
    if (status == 0 && memsnap_bench_result(b) != 255.0 * 256 / 2)
        status = 1;
    memsnap_bench_session_free(s);
    return status;
}
