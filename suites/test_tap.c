/* suites/tap.c: a case that skips reads "ok N - name # SKIP reason" (meson: SKIP; cmocka's own
 * "not ok N # SKIP name" is a failure to meson), a failing case "not ok N", the others "ok N", numbered
 * in one plan, with the cases' own output kept; the group state reaches every case; a test that cannot
 * run prints the empty plan. Exit status: 0 when all hold, 1 otherwise (one line per mismatch). */
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int group_value = 42;

static int group_setup(void **state)
{
    *state = &group_value;
    return 0;
}

static void passes(void **state)
{
    assert_ptr_equal(*state, &group_value);
    printf("# said by the passing case\n");
}

static void skips_with_a_reason(void **state)
{
    (void)state;
    ms_tap_skip("needs %s", "root");
    fail_msg("went on after the skip");
}

static void fails(void **state)
{
    (void)state;
    assert_int_equal(1, 2);
}

static void skips_through_cmocka(void **state)
{
    (void)state;
    skip();
}

/* Runs `fn` with stdout going to a buffer; returns the buffer (malloc'd) and *rc the function's result. */
static char *captured(int (*fn)(void), int *rc)
{
    fflush(stdout);
    FILE *f = tmpfile();
    int saved = dup(STDOUT_FILENO);
    if (!f || saved < 0 || dup2(fileno(f), STDOUT_FILENO) < 0) {
        fprintf(stderr, "cannot capture stdout\n");
        exit(1);
    }
    *rc = fn();
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    long n = ftell(f);
    char *buf = calloc(1, (size_t)(n > 0 ? n : 0) + 1);
    rewind(f);
    if (!buf || (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)) {
        fprintf(stderr, "cannot read the capture\n");
        exit(1);
    }
    fclose(f);
    return buf;
}

static int run_cases(void)
{
    const struct CMUnitTest cases[] = {
        cmocka_unit_test(passes),
        cmocka_unit_test(skips_with_a_reason),
        cmocka_unit_test(fails),
        cmocka_unit_test(skips_through_cmocka),
    };
    return ms_tap_run_group(cases, group_setup, NULL);
}

static int skip_all(void)
{
    return ms_tap_skip_all("no %s", "preload");
}

static int bad;

static void expect(const char *out, const char *line, int present)
{
    if ((strstr(out, line) != NULL) != present) {
        fprintf(stderr, "%s: %s\n", present ? "missing" : "unexpected", line);
        bad = 1;
    }
}

int main(void)
{
    int rc;
    char *out = captured(run_cases, &rc);
    fputs(out, stderr); /* what meson would have read */
    if (rc != 1) {
        fprintf(stderr, "the runner counted %d failed cases, not 1\n", rc);
        bad = 1;
    }
    expect(out, "1..4\n", 1);
    expect(out, "# said by the passing case\nok 1 - passes\n", 1);
    expect(out, "ok 2 - skips_with_a_reason # SKIP needs root\n", 1);
    expect(out, "not ok 3 - fails\n", 1);
    expect(out, "ok 4 - skips_through_cmocka # SKIP skipped\n", 1);
    expect(out, "not ok 2", 0);
    expect(out, "not ok 4", 0);
    expect(out, "1..1", 0);
    expect(out, "went on after the skip", 0);
    free(out);
    out = captured(skip_all, &rc);
    if (rc != 0 || strcmp(out, "1..0 # SKIP no preload\n") != 0) {
        fprintf(stderr, "skip_all printed '%s' and returned %d\n", out, rc);
        bad = 1;
    }
    free(out);
    return bad;
}
