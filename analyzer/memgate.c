/* `memsnap run --fail-on leaks,growth --max-live --max-peak`: verdicts on the snapshots one run wrote. */
#include <stdlib.h>
#include <string.h>

#include "analyze.h"

bool ms_memgate_parse(const char *list, unsigned *out)
{
    *out = 0;
    while (*list) {
        size_t n = strcspn(list, ",");
        if (n == 5 && strncmp(list, "leaks", 5) == 0)
            *out |= MS_MEMGATE_LEAKS;
        else if (n == 6 && strncmp(list, "growth", 6) == 0)
            *out |= MS_MEMGATE_GROWTH;
        else
            return false;
        list += n;
        if (*list == ',' && *++list == 0)
            return false;
    }
    return *out != 0;
}

bool ms_memgate_wanted(const struct ms_memgate_opts *o)
{
    return o->fail_on || o->max_live >= 0 || o->max_peak >= 0;
}

/* One command's report into a buffer, copied to `report` only when it crossed its gate: a clean run says
 * nothing. */
static enum ms_status ms_memgate_command(enum ms_status (*fn)(const struct ms_cli *, struct ms_error *),
                                      struct ms_cli *cli, FILE *report, struct ms_error *err)
{
    char *buf = NULL;
    size_t len = 0;
    cli->out = open_memstream(&buf, &len);
    if (!cli->out)
        return ms_error_set(err, MS_NOMEM, "out of memory");
    enum ms_status r = fn(cli, err);
    if (fclose(cli->out) != 0 && r == MS_OK)
        r = ms_error_set(err, MS_NOMEM, "out of memory");
    if (r == MS_GATE)
        fwrite(buf, 1, len, report);
    free(buf);
    return r;
}

static int ms_memgate_by_sequence(const void *a, const void *b)
{
    const struct ms_snap *x = *(struct ms_snap *const *)a, *y = *(struct ms_snap *const *)b;
    return (x->info.sequence > y->info.sequence) - (x->info.sequence < y->info.sequence);
}

static bool ms_memgate_budget(FILE *report, const struct ms_snap *s, const char *what, uint64_t value,
                           long long limit, const char *option)
{
    if (limit < 0 || value <= (uint64_t)limit)
        return false;
    char v[32], l[32], exact[40] = "";
    if (value >= 1024)
        snprintf(exact, sizeof exact, " (%llu B)", (unsigned long long)value);
    fprintf(report, "memsnap: %s %s%s is over %s %s, in the %s snapshot of pid %u\n", what,
            ms_size_format(v, sizeof v, (double)value, false, false), exact, option,
            ms_size_format(l, sizeof l, (double)limit, false, false), ms_snapfile_trigger_name(s->info.trigger),
            (unsigned)s->info.pid);
    return true;
}

enum ms_status ms_memgate_check(const struct ms_memgate_opts *o, char *const *paths, size_t n, uint32_t pid,
                             FILE *report, struct ms_error *err)
{
    struct ms_snap **snaps = calloc(n + 1, sizeof *snaps);
    char **series = calloc(n + 1, sizeof *series);
    enum ms_status r = MS_OK;
    bool crossed = false;
    size_t scanned = 0, nseries = 0;
    if (!snaps || !series) {
        r = ms_error_set(err, MS_NOMEM, "out of memory");
        goto out;
    }
    if (n == 0) {
        r = ms_error_set(err, MS_INPUT, "the program wrote no snapshot: nothing to check");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if ((r = ms_snapfile_read(paths[i], &snaps[i], err)) != MS_OK)
            goto out;
    for (size_t i = 0; i < n; i++) {
        const struct ms_snap *s = snaps[i];
        if (!s->has_totals)
            continue;
        crossed |= ms_memgate_budget(report, s, "live heap", s->totals.current_bytes, o->max_live, "--max-live");
        crossed |= ms_memgate_budget(report, s, "peak heap", s->totals.peak_bytes, o->max_peak, "--max-peak");
    }
    if (o->fail_on & MS_MEMGATE_LEAKS) {
        for (size_t i = 0; i < n; i++) {
            if (!snaps[i]->has_leaks)
                continue;
            scanned++;
            char *one[] = {paths[i], NULL};
            struct ms_cli cli = {.format = MS_OUT_TEXT, .by = MS_BY_STACK, .limit = -1, .fail = true,
                                 .suppressions = o->suppressions, .inputs = one, .input_count = 1};
            r = ms_memgate_command(ms_leaks_main, &cli, report, err);
            if (r == MS_GATE)
                crossed = true;
            else if (r != MS_OK)
                goto out;
        }
        if (!scanned) {
            r = ms_error_set(err, MS_INPUT, "no snapshot with an at-exit leak scan among the %zu written: "
                                            "leaks not checked (MEMSNAP_AT_EXIT=0 or MEMSNAP_LEAK_SCAN=0?)", n);
            goto out;
        }
    }
    if (o->fail_on & MS_MEMGATE_GROWTH) {
        /* The main process's snapshots during the run, in order: the one at exit follows the clean-up. */
        struct ms_snap **own = calloc(n, sizeof *own);
        if (!own) {
            r = ms_error_set(err, MS_NOMEM, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < n; i++)
            if (snaps[i]->has_info && snaps[i]->info.pid == pid && !(snaps[i]->flags & MS_FMT_FLAG_AT_EXIT))
                own[nseries++] = snaps[i];
        qsort(own, nseries, sizeof *own, ms_memgate_by_sequence);
        for (size_t i = 0; i < nseries; i++)
            series[i] = (char *)own[i]->path;
        free(own);
        if (nseries < 3) {
            fprintf(report, "memsnap: growth not checked: %zu snapshot%s taken during the run, 3 needed "
                            "(--interval MS)\n", nseries, nseries == 1 ? "" : "s");
        } else {
            struct ms_cli cli = {.format = MS_OUT_TEXT, .by = MS_BY_STACK, .limit = -1, .fail = true,
                                 .inputs = series, .input_count = (int)nseries};
            r = ms_memgate_command(ms_growth_main, &cli, report, err);
            if (r == MS_GATE)
                crossed = true;
            else if (r != MS_OK)
                goto out;
        }
    }
    r = crossed ? MS_GATE : MS_OK;
out:
    for (size_t i = 0; snaps && i < n; i++)
        ms_snapfile_free(snaps[i]);
    free(snaps);
    free(series);
    return r;
}
