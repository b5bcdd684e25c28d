/* An example benchmark program: two hashing benchmarks in one group (parametrized), a sorting benchmark
 * that allocates, and a pedantic one whose per-round setup (shuffling the input) is not timed. MEMSNAP_EXAMPLE_SLOWDOWN=1.25 makes every body do 25% more work (1.05: 5%) (a planted regression for
 * scripts/aa-experiment).
 *
 *     bench-example --benchmark-max-time=0.5 --benchmark-json=out.json
 */
#include <memsnap/bench.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct hash_job {
    unsigned char buf[1024];
    size_t bytes; /* hashed cyclically over buf, so that a slowdown factor scales the work exactly */
};

static double hash_body(void *arg)
{
    struct hash_job *j = arg;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < j->bytes; i++) {
        h = (h ^ j->buf[i & (sizeof j->buf - 1)]) * 1099511628211ull;
    }
    return (double)(h >> 11);
}

struct sort_job {
    size_t n;
    unsigned seed;
};

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static double sort_body(void *arg)
{
    struct sort_job *j = arg;
    uint32_t *v = malloc(j->n * sizeof *v);
    if (!v) {
        return -1;
    }
    uint32_t x = j->seed;
    for (size_t i = 0; i < j->n; i++) {
        x = x * 1664525u + 1013904223u;
        v[i] = x;
    }
    qsort(v, j->n, sizeof *v, cmp_u32);
    double first = v[0];
    free(v);
    return first;
}

/* Pedantic: each round sorts a freshly shuffled array in place; the shuffle is the untimed setup. */
struct inplace_job {
    uint32_t v[1000];
    size_t n;
    uint32_t seed;
};

static void inplace_setup(void *arg)
{
    struct inplace_job *j = arg;
    for (size_t i = 0; i < j->n; i++) {
        j->seed = j->seed * 1664525u + 1013904223u;
        j->v[i] = j->seed;
    }
}

static double inplace_body(void *arg)
{
    struct inplace_job *j = arg;
    qsort(j->v, j->n, sizeof j->v[0], cmp_u32);
    return j->v[0] <= j->v[j->n - 1] ? 1.0 : 0.0; /* sorted */
}

int main(int argc, char **argv)
{
    double factor = 1.0;
    const char *slow = getenv("MEMSNAP_EXAMPLE_SLOWDOWN");
    if (slow) {
        factor = strtod(slow, NULL);
        if (!(factor >= 1.0 && factor <= 100.0)) {
            factor = 1.0;
        }
    }
    static struct hash_job small, large;
    for (size_t i = 0; i < sizeof small.buf; i++) {
        small.buf[i] = large.buf[i] = (unsigned char)(i * 31 + 7);
    }
    small.bytes = (size_t)(4096 * factor + 0.5);
    large.bytes = (size_t)(16384 * factor + 0.5);
    struct sort_job sort = {(size_t)(1000 * factor + 0.5), 12345};
    static struct inplace_job inplace;
    inplace.n = (size_t)(800 * factor + 0.5);
    inplace.seed = 777;

    memsnap_bench_session *s = memsnap_bench_session_new();
    if (!s) {
        return 2;
    }
    memsnap_bench *b1 = memsnap_bench_add(s, "hashing", "fnv1a", hash_body, &small);
    memsnap_bench *b2 = memsnap_bench_add(s, "hashing", "fnv1a", hash_body, &large);
    memsnap_bench *b3 = memsnap_bench_add(s, "sorting", "qsort_1000", sort_body, &sort);
    memsnap_bench *b4 = memsnap_bench_add(s, "sorting", "qsort_800_inplace", inplace_body, &inplace);
    struct memsnap_bench_pedantic ped = {.rounds = 200, .iterations = 1, .warmup_rounds = 5, .setup = inplace_setup};
    if (!b1 || !b2 || !b3 || !b4 || memsnap_bench_param(b1, "kib", "4") || memsnap_bench_param(b2, "kib", "16") ||
        memsnap_bench_set_pedantic(b4, &ped)) {
        memsnap_bench_session_free(s);
        return 2;
    }
    int status = memsnap_bench_run(s, argc, argv);
    /* The kept result is the body's last return value: assert on it as a test would. */
    if (status == 0 && memsnap_bench_was_called(b3) && memsnap_bench_result(b3) < 0) {
        status = 1;
    }
    if (status == 0 && memsnap_bench_was_called(b4) && memsnap_bench_result(b4) != 1.0) {
        status = 1;
    }
    memsnap_bench_session_free(s);
    return status;
}
