/* Calibration and pedantic mode on a fake clock: the clock advances 1 ns per read and by the body's cost
 * per call, so every duration is known exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "harness.h"

struct fake {
    uint64_t now;
    uint64_t cost, first_cost, setup_cost;
    unsigned calls, setups, teardowns;
};

static uint64_t fake_clock(void *ctx)
{
    struct fake *f = ctx;
    return f->now++;
}

static double fake_body(void *arg)
{
    struct fake *f = arg;
    f->now += f->calls++ == 0 && f->first_cost ? f->first_cost : f->cost;
    return 42.5;
}

static void fake_setup(void *arg)
{
    struct fake *f = arg;
    f->setups++;
    f->now += f->setup_cost;
}

static void fake_teardown(void *arg)
{
    struct fake *f = arg;
    f->teardowns++;
    f->now += f->setup_cost;
}

static FILE *devnull(void)
{
    FILE *f = fopen("/dev/null", "w");
    assert_non_null(f);
    return f;
}

/* A 0.6 us body whose first call takes 100 us: pytest-benchmark stops at 1 iteration (the cold call is
 * already >= min_time 5 us); we discard a warm-up call and reach 10 iterations of 6.001 us. */
static void calibration_not_fooled_by_cold_first_call(void **state)
{
    (void)state;
    struct fake f = {.cost = 600, .first_cost = 100000};
    memsnap_bench_session *s = memsnap_bench_session_new();
    FILE *out = devnull();
    memsnap_bench_set_output(s, out);
    memsnap_bench_set_clock(s, fake_clock, &f);
    memsnap_bench *b = memsnap_bench_add(s, NULL, "fast", fake_body, &f);
    char *argv[] = {"prog", "--benchmark-max-time=0.001", NULL};
    assert_int_equal(memsnap_bench_run(s, 2, argv), 0);
    const struct memsnap_bench_stats *st = memsnap_bench_get_stats(b);
    assert_non_null(st);
    assert_int_equal(st->iterations, 10);
    /* rounds = ceil(max_time / round duration) = ceil(0.001 / 6.001e-6) = 167 */
    assert_int_equal(st->rounds, 167);
    assert_true(st->min == st->max);
    assert_true(st->mean > 6.0009e-7 && st->mean < 6.0011e-7);
    assert_true(memsnap_bench_result(b) == 42.5);
    assert_string_equal(memsnap_bench_fullname(b), "prog::fast");
    memsnap_bench_session_free(s);
    fclose(out);
}

/* min_rounds wins over a long body; a body slower than min_time runs 1 iteration per round, and a 50 ms
 * first call settles calibration without more calls. */
static void calibration_slow_body_single_iteration_min_rounds(void **state)
{
    (void)state;
    struct fake f = {.cost = 50000000}; /* 50 ms */
    memsnap_bench_session *s = memsnap_bench_session_new();
    FILE *out = devnull();
    memsnap_bench_set_output(s, out);
    memsnap_bench_set_clock(s, fake_clock, &f);
    memsnap_bench *b = memsnap_bench_add(s, NULL, "slow", fake_body, &f);
    char *argv[] = {"prog", "--benchmark-max-time=0.1", "--benchmark-min-rounds=7", NULL};
    assert_int_equal(memsnap_bench_run(s, 3, argv), 0);
    const struct memsnap_bench_stats *st = memsnap_bench_get_stats(b);
    assert_non_null(st);
    assert_int_equal(st->iterations, 1);
    assert_int_equal(st->rounds, 7);
    assert_int_equal(f.calls, 1 + 7);
    memsnap_bench_session_free(s);
    fclose(out);
}

struct rounds_ctx {
    double durations[8];
    unsigned i;
    uint64_t loops_seen[8];
};

static double scripted_round(void *ctx, uint64_t loops)
{
    struct rounds_ctx *r = ctx;
    r->loops_seen[r->i] = loops;
    return r->durations[r->i++] * (double)loops;
}

/* The search itself, as pytest-benchmark: x10 below the estimate threshold, then ceil(min_time*loops/d). */
static void calibration_estimates_loops_like_pytest_benchmark(void **state)
{
    (void)state;
    /* per-call 0.3 us, min_time 5 us: warm(1), 1 -> 0.3 us, 10 -> 3 us (>= 2.5 us: re-check 3 us), estimate
     * ceil(5/3*10) = 17 -> 5.1 us (re-check), done. */
    struct rounds_ctx r = {.durations = {0.3e-6, 0.3e-6, 0.3e-6, 0.3e-6, 0.3e-6, 0.3e-6, 0.3e-6, 0.3e-6}};
    struct ms_calibrate_opts o = {.min_time = 5e-6, .calibration_precision = 10};
    struct ms_calibration cal;
    assert_int_equal(ms_calibrate(scripted_round, &r, &o, &cal), 0);
    assert_int_equal(cal.iterations, 17);
    assert_int_equal(r.loops_seen[1], 1);
    assert_int_equal(r.loops_seen[2], 10);
    assert_int_equal(r.loops_seen[4], 17);
    assert_true(cal.duration > 5.09e-6 && cal.duration < 5.11e-6);
}

/* One preempted round at the decision point is re-measured, not taken as the round length. */
static void calibration_rechecks_a_spike(void **state)
{
    (void)state;
    /* warm 1; 1 call 0.3 us; 10 calls spike to 10 us each (100 us); re-check 0.3 us each -> 3 us -> 17 */
    struct rounds_ctx r = {.durations = {0.3e-6, 0.3e-6, 10e-6, 0.3e-6, 0.3e-6, 0.3e-6, 0.3e-6, 0.3e-6}};
    struct ms_calibrate_opts o = {.min_time = 5e-6, .calibration_precision = 10};
    struct ms_calibration cal;
    assert_int_equal(ms_calibrate(scripted_round, &r, &o, &cal), 0);
    assert_int_equal(cal.iterations, 17);
}

static double stuck_round(void *ctx, uint64_t loops)
{
    (void)loops;
    (*(unsigned *)ctx)++;
    return 0.0;
}

/* A clock that never advances ends the search with an error instead of a hang. */
static void calibration_gives_up_on_a_stuck_clock(void **state)
{
    (void)state;
    unsigned rounds = 0;
    struct ms_calibrate_opts o = {.min_time = 5e-6, .calibration_precision = 10};
    struct ms_calibration cal;
    assert_int_equal(ms_calibrate(stuck_round, &rounds, &o, &cal), -ERANGE);
    assert_int_equal(rounds, 1 + 10); /* warm call, then 1, 10, ... 1e9 loops */
}

static void pedantic_setup_is_not_timed(void **state)
{
    (void)state;
    struct fake f = {.cost = 2000, .setup_cost = 1000000};
    memsnap_bench_session *s = memsnap_bench_session_new();
    FILE *out = devnull();
    memsnap_bench_set_output(s, out);
    memsnap_bench_set_clock(s, fake_clock, &f);
    memsnap_bench *b = memsnap_bench_add(s, "g", "ped", fake_body, &f);
    struct memsnap_bench_pedantic p = {.rounds = 3, .iterations = 1, .warmup_rounds = 2, .setup = fake_setup,
                                       .teardown = fake_teardown};
    assert_int_equal(memsnap_bench_set_pedantic(b, &p), 0);
    char *argv[] = {"prog", NULL};
    assert_int_equal(memsnap_bench_run(s, 1, argv), 0);
    const struct memsnap_bench_stats *st = memsnap_bench_get_stats(b);
    assert_non_null(st);
    assert_int_equal(st->rounds, 3);
    assert_int_equal(st->iterations, 1);
    assert_int_equal(f.setups, 5);
    assert_int_equal(f.teardowns, 5);
    assert_int_equal(f.calls, 5);
    /* 2 us body + 1 ns clock read, never the 1 ms setup */
    assert_true(st->max < 2.01e-6 && st->min > 1.99e-6);
    memsnap_bench_session_free(s);
    fclose(out);
}

static void pedantic_iterations_divide_the_round(void **state)
{
    (void)state;
    struct fake f = {.cost = 1000};
    memsnap_bench_session *s = memsnap_bench_session_new();
    FILE *out = devnull();
    memsnap_bench_set_output(s, out);
    memsnap_bench_set_clock(s, fake_clock, &f);
    memsnap_bench *b = memsnap_bench_add(s, NULL, "ped", fake_body, &f);
    struct memsnap_bench_pedantic p = {.rounds = 4, .iterations = 10};
    assert_int_equal(memsnap_bench_set_pedantic(b, &p), 0);
    char *argv[] = {"prog", NULL};
    assert_int_equal(memsnap_bench_run(s, 1, argv), 0);
    const struct memsnap_bench_stats *st = memsnap_bench_get_stats(b);
    assert_int_equal(st->rounds, 4);
    assert_int_equal(st->iterations, 10);
    assert_int_equal(f.calls, 40);
    assert_true(st->mean > 1.0000e-6 && st->mean < 1.0002e-6); /* (10 * 1000 + 1) / 10 ns */
    memsnap_bench_session_free(s);
    fclose(out);
}

static void pedantic_rejects_what_pytest_benchmark_rejects(void **state)
{
    (void)state;
    struct fake f = {.cost = 1};
    memsnap_bench_session *s = memsnap_bench_session_new();
    memsnap_bench *b = memsnap_bench_add(s, NULL, "ped", fake_body, &f);
    struct memsnap_bench_pedantic bad_rounds = {.rounds = 0, .iterations = 1};
    struct memsnap_bench_pedantic bad_iter = {.rounds = 1, .iterations = 0};
    struct memsnap_bench_pedantic bad_warm = {.rounds = 1, .iterations = 1, .warmup_rounds = -1};
    struct memsnap_bench_pedantic setup_iter = {.rounds = 1, .iterations = 2, .setup = fake_setup};
    struct memsnap_bench_pedantic ok = {.rounds = 1, .iterations = 1, .setup = fake_setup};
    assert_int_equal(memsnap_bench_set_pedantic(b, &bad_rounds), -EINVAL);
    assert_int_equal(memsnap_bench_set_pedantic(b, &bad_iter), -EINVAL);
    assert_int_equal(memsnap_bench_set_pedantic(b, &bad_warm), -EINVAL);
    assert_int_equal(memsnap_bench_set_pedantic(b, &setup_iter), -EINVAL);
    assert_int_equal(memsnap_bench_set_pedantic(b, &ok), 0);
    memsnap_bench_session_free(s);
}

static void warmup_rounds_are_run_and_not_recorded(void **state)
{
    (void)state;
    struct fake f = {.cost = 50000000};
    memsnap_bench_session *s = memsnap_bench_session_new();
    FILE *out = devnull();
    memsnap_bench_set_output(s, out);
    memsnap_bench_set_clock(s, fake_clock, &f);
    memsnap_bench *b = memsnap_bench_add(s, NULL, "w", fake_body, &f);
    char *argv[] = {"prog", "--benchmark-max-time=0.1", "--benchmark-warmup=on", "--benchmark-warmup-iterations=3",
                    NULL};
    assert_int_equal(memsnap_bench_run(s, 4, argv), 0);
    const struct memsnap_bench_stats *st = memsnap_bench_get_stats(b);
    assert_int_equal(st->rounds, 5);
    /* the first call (50 ms: slow enough to settle calibration alone) + 3 warmup + 5 rounds */
    assert_int_equal(f.calls, 1 + 3 + 5);
    memsnap_bench_session_free(s);
    fclose(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(calibration_not_fooled_by_cold_first_call),
        cmocka_unit_test(calibration_slow_body_single_iteration_min_rounds),
        cmocka_unit_test(calibration_estimates_loops_like_pytest_benchmark),
        cmocka_unit_test(calibration_rechecks_a_spike),
        cmocka_unit_test(calibration_gives_up_on_a_stuck_clock),
        cmocka_unit_test(pedantic_setup_is_not_timed),
        cmocka_unit_test(pedantic_iterations_divide_the_round),
        cmocka_unit_test(pedantic_rejects_what_pytest_benchmark_rejects),
        cmocka_unit_test(warmup_rounds_are_run_and_not_recorded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
