/* Each case runs as a cmocka group of one with its output captured; the capture is copied out with
 * cmocka's plan, result and summary lines replaced by one result line numbered in the whole run. */
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tap_reason[512];

void ms_tap_skip_reason(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tap_reason, sizeof tap_reason, fmt, ap);
    va_end(ap);
}

int ms_tap_skip_all(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tap_reason, sizeof tap_reason, fmt, ap);
    va_end(ap);
    printf("1..0 # SKIP %s\n", tap_reason);
    fflush(stdout);
    return 0;
}

/* cmocka's line for the one case of its group: "ok 1 - name", "not ok 1 - name", "not ok 1 # SKIP name". */
static int tap_is_result(const char *line)
{
    const char *p = !strncmp(line, "not ok 1", 8) ? line + 8 : !strncmp(line, "ok 1", 4) ? line + 4 : NULL;
    return p && (*p == ' ' || *p == '\n' || *p == 0);
}

/* cmocka's plan and group summary ("# ok - group", "# not ok - group"). */
static int tap_is_frame(const char *line, const char *name)
{
    if (!strcmp(line, "1..1\n")) {
        return 1;
    }
    const char *p = !strncmp(line, "# ok - ", 7) ? line + 7 : !strncmp(line, "# not ok - ", 11) ? line + 11 : NULL;
    size_t n = strlen(name);
    return p && !strncmp(p, name, n) && !strcmp(p + n, "\n");
}

/* One case; its output, then its result line as case `number`. 1 when it failed. */
static int tap_case(const struct CMUnitTest *test, void *group_state, size_t number)
{
    struct CMUnitTest t = *test;
    if (group_state) {
        t.initial_state = group_state;
    }
    tap_reason[0] = 0;
    fflush(stdout);
    FILE *capture = tmpfile();
    int saved = dup(STDOUT_FILENO);
    if (!capture || saved < 0 || dup2(fileno(capture), STDOUT_FILENO) < 0) {
        printf("Bail out! cannot capture the output of %s\n", t.name);
        fflush(stdout);
        exit(1);
    }
    int failed = _cmocka_run_group_tests(t.name, &t, 1, NULL, NULL) != 0;
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    rewind(capture);
    char line[4096];
    int skipped = 0, placed = 0;
    while (fgets(line, sizeof line, capture)) {
        if (tap_is_frame(line, t.name)) {
            continue;
        }
        if (!tap_is_result(line)) {
            fputs(line, stdout);
            continue;
        }
        skipped = strstr(line, "# SKIP") != NULL;
        placed = 1;
        if (skipped && !failed) {
            printf("ok %zu - %s # SKIP %s\n", number, t.name, tap_reason[0] ? tap_reason : "skipped");
        } else {
            printf("%s %zu - %s\n", failed ? "not ok" : "ok", number, t.name);
        }
    }
    fclose(capture);
    if (!placed) {
        printf("%s %zu - %s\n", failed ? "not ok" : "ok", number, t.name);
    }
    fflush(stdout);
    return failed;
}

int ms_tap_run(const char *group, const struct CMUnitTest *tests, size_t count, CMFixtureFunction setup,
               CMFixtureFunction teardown)
{
    cmocka_set_message_output(CM_OUTPUT_TAP);
    void *state = NULL;
    if (setup && setup(&state) != 0) {
        printf("Bail out! the setup of %s failed\n", group);
        fflush(stdout);
        return 1;
    }
    printf("1..%zu\n", count);
    int failed = 0;
    for (size_t i = 0; i < count; i++) {
        failed += tap_case(&tests[i], state, i + 1);
    }
    if (teardown && teardown(&state) != 0) {
        printf("# the teardown of %s failed\n", group);
        failed++;
    }
    fflush(stdout);
    return failed;
}
