/* The scaling suite (slow; `meson test --setup full --suite scaling`): batch sizes 10, 100, 1000, 10000,
 * as the seed's parametrized test_scaling_characteristics. Per-item cost must stay within 0.5x-1.5x of the
 * smallest size's: linear scaling, no quadratic step hidden in the batch or the cache.
 *
 *     scaling [--memory]
 *
 * Time: each size measured by the harness in CPU time (cold cache every round), per-item medians compared.
 * Memory (--memory, under libmemsnap; exit 77 without it): live bytes a batch keeps (cache entries and
 * results) divided by its size, by snapshot diff. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <memsnap/bench.h>

#include "fixtures.h"
#include "tap.h"

static const size_t scaling_sizes[] = {10, 100, 1000, 10000};
enum { SCALING_N = sizeof scaling_sizes / sizeof scaling_sizes[0] };

struct scaling_case {
    ms_processor *processor;
    struct fixtures_batch batch;
    int status;
};

static double scaling_batch(void *arg)
{
    struct scaling_case *c = arg;
    int rc = ms_batch_process(c->processor, c->batch.txns, c->batch.count, c->batch.out);
    if (rc != MS_PROC_OK) {
        c->status = rc;
    }
    return (double)c->batch.count;
}

static void scaling_clear(void *arg)
{
    ms_processor_cache_clear(((struct scaling_case *)arg)->processor);
}

/* Median seconds per item for one batch size. */
static double scaling_time_per_item(size_t size)
{
    struct scaling_case c = {.processor = fixtures_processor_new(true, 100, 0), .status = MS_PROC_OK};
    assert_int_equal(fixtures_batch_make(&c.batch, 0, size), 0);
    memsnap_bench_session *s = memsnap_bench_session_new();
    assert_non_null(s);
    memsnap_bench_set_output(s, stderr);
    char name[64];
    snprintf(name, sizeof name, "process_batch[%zu]", size);
    memsnap_bench *b = memsnap_bench_add(s, "scaling", name, scaling_batch, &c);
    assert_non_null(b);
    /* About 0.5 s of rounds per size (a 10000-batch is ~0.2 s): enough for a stable median. */
    int rounds = (int)(25000 / size);
    struct memsnap_bench_pedantic p = {
        .rounds = rounds < 3 ? 3 : rounds, .iterations = 1, .warmup_rounds = 1, .setup = scaling_clear};
    assert_int_equal(memsnap_bench_set_pedantic(b, &p), 0);
    /* CPU time: the sizes are compared with each other, so load that comes and goes must not count. */
    char *argv[] = {(char *)"scaling", (char *)"--benchmark-timer=thread_time", NULL};
    assert_int_equal(memsnap_bench_run(s, 2, argv), 0);
    const struct memsnap_bench_stats *st = memsnap_bench_get_stats(b);
    assert_non_null(st);
    assert_int_equal(c.status, MS_PROC_OK);
    double per_item = st->median / (double)size;
    memsnap_bench_session_free(s);
    fixtures_batch_free(&c.batch);
    ms_processor_free(c.processor);
    return per_item;
}

/* Live bytes kept per item by one batch with its results. */
static double scaling_memory_per_item(size_t size)
{
    struct scaling_case c = {.processor = fixtures_processor_new(true, 10, 0), .status = MS_PROC_OK};
    assert_int_equal(fixtures_batch_make(&c.batch, 0, size), 0);
    char name[64];
    snprintf(name, sizeof name, "scaling-%zu", size);
    struct fixtures_tracker *t = memtrack_new(NULL, name);
    assert_non_null(t);
    assert_int_equal(memtrack_start(t), 0);
    ms_scored *results = malloc(size * sizeof *results);
    assert_non_null(results);
    assert_int_equal(ms_batch_process(c.processor, c.batch.txns, size, results), MS_PROC_OK);
    struct memtrack_result res;
    assert_int_equal(memtrack_stop(t, 3, stdout, &res), 0);
    free(results);
    memtrack_free(t);
    fixtures_batch_free(&c.batch);
    ms_processor_free(c.processor);
    return (double)res.size_diff / (double)size;
}

static void scaling_assert_flat(const char *what, const char *unit, double scale, double (*measure)(size_t))
{
    double per_item[SCALING_N];
    for (int i = 0; i < SCALING_N; i++) {
        per_item[i] = measure(scaling_sizes[i]);
        printf("# %s per item, batch of %5zu: %.3f %s\n", what, scaling_sizes[i], per_item[i] * scale, unit);
    }
    int failures = 0;
    for (int i = 1; i < SCALING_N; i++) {
        double ratio = per_item[i] / per_item[0];
        if (ratio < 0.5 || ratio > 1.5) {
            printf("# %s per item at %zu is %.2fx the per-item %s at %zu (%.3f vs %.3f %s)\n", what,
                   scaling_sizes[i], ratio, what, scaling_sizes[0], per_item[i] * scale, per_item[0] * scale,
                   unit);
            failures++;
        }
    }
    if (failures) {
        fail_msg("%s per item deviates from 0.5x-1.5x of the smallest batch's at %d size(s)", what, failures);
    }
}

static void per_item_time_is_flat_across_batch_sizes(void **state)
{
    (void)state;
    scaling_assert_flat("time", "us", 1e6, scaling_time_per_item);
}

static void per_item_memory_is_flat_across_batch_sizes(void **state)
{
    (void)state;
    scaling_assert_flat("memory", "B", 1.0, scaling_memory_per_item);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--memory") == 0) {
        if (!memtrack_active()) {
            return ms_tap_skip_all("per-item memory needs LD_PRELOAD=libmemsnap.so");
        }
        const struct CMUnitTest tests[] = {cmocka_unit_test(per_item_memory_is_flat_across_batch_sizes)};
        return cmocka_run_group_tests_name("scaling memory", tests, NULL, NULL);
    }
    const struct CMUnitTest tests[] = {cmocka_unit_test(per_item_time_is_flat_across_batch_sizes)};
    return cmocka_run_group_tests_name("scaling time", tests, NULL, NULL);
}
