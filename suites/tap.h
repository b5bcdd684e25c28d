/* Running cmocka cases as TAP that meson reads right, skips included.
 *
 * cmocka (1.1.5) reports a case that calls skip() as "not ok N # SKIP name", which meson's TAP reader
 * counts as a failure, and meson takes a TAP test's exit status 77 as an error. A test whose cases may
 * skip runs them with ms_tap_run_group instead of cmocka_run_group_tests: each case then reads
 * "ok N - name # SKIP reason" (meson: SKIP), and a test that cannot run at all prints TAP's empty plan
 * ("1..0 # SKIP reason": meson shows the whole test as SKIP). Errors: the runner returns the number of
 * failed cases, like cmocka. */
#ifndef MS_SUITES_TAP_H
#define MS_SUITES_TAP_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* The reason the current case skips (printf format), then cmocka's skip(): the case ends here. */
#define ms_tap_skip(...)                                                                                   \
    do {                                                                                                   \
        ms_tap_skip_reason(__VA_ARGS__);                                                                   \
        skip();                                                                                            \
    } while (0)

void ms_tap_skip_reason(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The whole test skips: prints the empty plan with the reason (printf format). Returns 0, for main. */
int ms_tap_skip_all(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Runs the cases one by one (group setup and teardown once around them, its state handed to each case as
 * cmocka does), printing one TAP plan and one line per case. The number of failed cases. */
int ms_tap_run(const char *group, const struct CMUnitTest *tests, size_t count, CMFixtureFunction setup,
               CMFixtureFunction teardown);
#define ms_tap_run_group(tests, setup, teardown)                                                           \
    ms_tap_run(#tests, tests, sizeof(tests) / sizeof((tests)[0]), setup, teardown)

#endif
