/* The memory tracker: two snapshots through <memsnap.h>, diffed in process by libmemsnap-analyze, printed
 * the way the seed's tracemalloc fixture prints them. Output lines are TAP comments ("# ...") so that they
 * can sit beside cmocka's TAP report. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <memsnap.h>

#include "analyze.h"
#include "fixtures.h"

struct fixtures_tracker {
    char *paths[2];
    bool started, stopped;
    int status;
    struct memtrack_result result;
};

struct fixtures_tracker *memtrack_new(const char *dir, const char *name)
{
    struct fixtures_tracker *t = calloc(1, sizeof *t);
    if (!t) {
        return NULL;
    }
    const char *suffix[2] = {"before", "after"};
    for (int i = 0; i < 2; i++) {
        if (asprintf(&t->paths[i], "%s/%s-%s.snap", dir ? dir : ".", name, suffix[i]) < 0) {
            t->paths[i] = NULL;
            memtrack_free(t);
            return NULL;
        }
    }
    return t;
}

void memtrack_free(struct fixtures_tracker *t)
{
    if (t) {
        free(t->paths[0]);
        free(t->paths[1]);
        free(t);
    }
}

int memtrack_active(void)
{
    return memsnap_active();
}

const char *memtrack_path(const struct fixtures_tracker *t, int which)
{
    return t->paths[which ? 1 : 0];
}

bool memtrack_stopped(const struct fixtures_tracker *t)
{
    return t->stopped;
}

int memtrack_start(struct fixtures_tracker *t)
{
    if (!memsnap_active()) {
        return -ENOSYS;
    }
    int rc = memsnap_snapshot_labeled(t->paths[0], "before");
    if (rc != 0) {
        fprintf(stderr, "memtrack: snapshot %s: %s\n", t->paths[0], strerror(-rc));
        return rc;
    }
    t->started = true;
    return 0;
}

/* Each line of text as a TAP comment. */
static void memtrack_emit(FILE *out, const char *text)
{
    const char *line = text;
    while (*line) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        fprintf(out, "# %.*s\n", (int)len, line);
        line += len + (nl ? 1 : 0);
    }
    fflush(out);
}

int memtrack_stop(struct fixtures_tracker *t, int top, FILE *out, struct memtrack_result *res)
{
    if (t->stopped) {
        *res = t->result;
        return t->status;
    }
    if (!t->started) {
        return -ENOSYS;
    }
    t->stopped = true;
    t->status = -EIO;
    int rc = memsnap_snapshot_labeled(t->paths[1], "after");
    if (rc != 0) {
        fprintf(stderr, "memtrack: snapshot %s: %s\n", t->paths[1], strerror(-rc));
        return t->status;
    }
    struct ms_error err = {{0}};
    struct ms_diff *d = NULL;
    if (ms_diff_files(t->paths[0], t->paths[1], NULL, &d, &err) != MS_OK) {
        fprintf(stderr, "memtrack: diff: %s\n", err.msg);
        return t->status;
    }
    const struct ms_diff_row *total = ms_diff_total(d);
    t->result = (struct memtrack_result){.size_diff = total->size_diff, .count_diff = total->count_diff};
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (mem) {
        fprintf(mem, "Memory used: %.2f KB\n", (double)total->size_diff / 1024.0);
        if (top > 0) {
            fprintf(mem, "Top %d memory allocations:\n", top);
            ms_diff_print(d, mem, top, 0);
        }
        fclose(mem);
        memtrack_emit(out ? out : stdout, text);
        free(text);
    }
    ms_diff_free(d);
    t->status = 0;
    *res = t->result;
    return 0;
}

/* ---- the memory_tracker fixture ---- */

int fixtures_tracked_setup(void **state)
{
    if (fixtures_processor_setup(state) != 0) {
        return -1;
    }
    struct fixtures_env *env = *state;
    /* One pair of files per tracked test, named after the program, kept for inspection. */
    static unsigned seq;
    char name[256];
    snprintf(name, sizeof name, "%s-%u", program_invocation_short_name, seq++);
    env->tracker = memtrack_new(NULL, name);
    if (!env->tracker) {
        fixtures_teardown(state);
        return -1;
    }
    /* Inactive without the preload: the test still runs, the teardown prints nothing. */
    int rc = memtrack_start(env->tracker);
    return rc == 0 || rc == -ENOSYS ? 0 : -1;
}

int fixtures_tracked_teardown(void **state)
{
    struct fixtures_env *env = *state;
    int rc = 0;
    if (env && env->tracker && memtrack_active()) {
        struct memtrack_result res;
        rc = memtrack_stop(env->tracker, 5, stdout, &res) == 0 ? 0 : -1;
    }
    if (env) {
        memtrack_free(env->tracker);
        env->tracker = NULL;
    }
    fixtures_teardown(state);
    return rc;
}
