/* `memsnap bench ab OLD NEW`: the two benchmark programs run alternately, round by round (OLD NEW, NEW OLD,
 * ...), so that a machine that gets busier or quieter weighs on both alike; each benchmark's per-round
 * ratio new/old is a paired sample, and the gate tests those ratios (Wilcoxon signed-rank) rather than two
 * runs taken minutes apart. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int ms_ab_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The last non-empty line of a file, for an error message. */
static void ms_ab_last_line(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    char line[512];
    buf[0] = 0;
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (line[0]) {
            snprintf(buf, len, "%s", line);
        }
    }
    if (f) {
        fclose(f);
    }
}

/* Runs PROG [bench flags] --benchmark-json=JSON, output to /dev/null and stderr to a file, and reads the
 * results. */
static int ms_ab_run_once(const struct ms_ab_opts *o, const char *prog, const char *dir, struct ms_run **run,
                          struct ms_error *err)
{
    char json[4200], json_flag[4300], errfile[4200];
    snprintf(json, sizeof json, "%s/round.json", dir);
    snprintf(json_flag, sizeof json_flag, "--benchmark-json=%s", json);
    snprintf(errfile, sizeof errfile, "%s/stderr.txt", dir);
    char **args = calloc((size_t)o->nbench_args + 3, sizeof *args);
    if (!args) {
        return ms_error_set(err, -ENOMEM, "out of memory");
    }
    args[0] = (char *)prog;
    for (int i = 0; i < o->nbench_args; i++) {
        args[1 + i] = o->bench_args[i];
    }
    args[1 + o->nbench_args] = json_flag;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, errfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    int rc = posix_spawnp(&pid, prog, &fa, NULL, args, environ);
    posix_spawn_file_actions_destroy(&fa);
    free(args);
    if (rc != 0) {
        return ms_error_set(err, -rc, "%s: cannot run: %s", prog, strerror(rc));
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char last[512];
        ms_ab_last_line(errfile, last, sizeof last);
        return ms_error_set(err, -ECHILD, "%s: %s %d%s%s", prog, WIFEXITED(status) ? "exited with status" : "killed by signal",
                          WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), last[0] ? ": " : "", last);
    }
    rc = ms_json_read(json, run, err);
    unlink(json);
    unlink(errfile);
    return rc;
}

static const struct ms_result *ms_ab_find(const struct ms_run *run, const char *name)
{
    for (size_t i = 0; i < run->count; i++) {
        if (strcmp(run->results[i].name, name) == 0) {
            return &run->results[i];
        }
    }
    return NULL;
}

/* One benchmark and one statistic over the rounds: ratios, their median and interval, and each gate. */
struct ms_ab_row {
    char name[256];
    const char *field;
    size_t n;
    double median, lo, hi, coverage, slower; /* slower: rounds with ratio > 1 */
};

static void ms_ab_ratios(struct ms_run *const *olds, struct ms_run *const *news, int rounds, const char *name,
                         const char *field, double *ratios, struct ms_ab_row *row)
{
    memset(row, 0, sizeof *row);
    snprintf(row->name, sizeof row->name, "%s", name);
    row->field = field;
    for (int r = 0; r < rounds; r++) {
        const struct ms_result *a = ms_ab_find(olds[r], name), *b = ms_ab_find(news[r], name);
        double x = a ? ms_result_field(&a->stats, field) : NAN, y = b ? ms_result_field(&b->stats, field) : NAN;
        if (x > 0 && y >= 0) {
            ratios[row->n++] = y / x;
            row->slower += y > x;
        }
    }
    qsort(ratios, row->n, sizeof *ratios, ms_ab_cmp);
    if (row->n) {
        row->median = row->n % 2 ? ratios[row->n / 2] : (ratios[row->n / 2 - 1] + ratios[row->n / 2]) / 2;
        ms_wilcoxon_median_ci(ratios, row->n, &row->lo, &row->hi, &row->coverage);
    }
}

void ms_ab_gate(const struct ms_gate *g, const double *ratios, size_t n, double alpha, struct ms_ab_verdict *v)
{
    memset(v, 0, sizeof *v);
    v->limit = 1 + g->threshold / 100;
    v->p = 1.0;
    if (n == 0) {
        v->unavailable = 1;
        return;
    }
    double *d = malloc(n * sizeof *d), *sorted = malloc(n * sizeof *sorted);
    if (!d || !sorted) {
        free(d);
        free(sorted);
        v->unavailable = 1;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        d[i] = log(ratios[i]) - log(v->limit);
        sorted[i] = ratios[i];
    }
    qsort(sorted, n, sizeof *sorted, ms_ab_cmp);
    v->median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    struct ms_wilcoxon w;
    if (ms_wilcoxon_test(d, n, &w) == 0) {
        v->p = w.p_greater;
    }
    v->exceeded = v->median > v->limit;
    v->failed = v->exceeded && v->p <= alpha;
    free(d);
    free(sorted);
}

enum ms_status ms_ab_run(const struct ms_ab_opts *o, FILE *out, struct ms_error *err)
{
    char dir[] = "/tmp/memsnap-ab.XXXXXX";
    if (!mkdtemp(dir)) {
        return ms_error_set(err, -errno, "%s: cannot create: %s", dir, strerror(errno));
    }
    struct ms_run **olds = calloc((size_t)o->rounds, sizeof *olds), **news = calloc((size_t)o->rounds, sizeof *news);
    double *ratios = NULL;
    struct ms_ab_row *rows = NULL;
    char *messages = NULL;
    int rc = olds && news ? 0 : ms_error_set(err, -ENOMEM, "out of memory");
    for (int r = 0; !rc && r < o->rounds; r++) {
        /* ABBA: the program that runs first alternates, so that neither always gets the warmer machine */
        if (r % 2 == 0) {
            rc = ms_ab_run_once(o, o->old_prog, dir, &olds[r], err);
            rc = rc ? rc : ms_ab_run_once(o, o->new_prog, dir, &news[r], err);
        } else {
            rc = ms_ab_run_once(o, o->new_prog, dir, &news[r], err);
            rc = rc ? rc : ms_ab_run_once(o, o->old_prog, dir, &olds[r], err);
        }
    }
    rmdir(dir);
    size_t nb = !rc ? news[0]->count : 0;
    /* the statistics to show: each gate's field, or the median without gates */
    const char *fields[MS_OPTIONS_MAX_GATES];
    size_t nfields = 0;
    for (size_t g = 0; g < o->ngates; g++) {
        size_t k = 0;
        while (k < nfields && strcmp(fields[k], o->gates[g].field) != 0) {
            k++;
        }
        if (k == nfields) {
            fields[nfields++] = o->gates[g].field;
        }
    }
    if (!nfields) {
        fields[nfields++] = "median";
    }
    if (!rc) {
        ratios = malloc((size_t)o->rounds * sizeof *ratios);
        rows = calloc(nb * nfields + 1, sizeof *rows);
        messages = calloc(nb * (o->ngates + 1) + 1, 512);
        rc = ratios && rows && messages ? 0 : ms_error_set(err, -ENOMEM, "out of memory");
    }
    int failures = 0;
    if (!rc) {
        fprintf(out, "A/B: %s -> %s, %d rounds, each runs both programs (alternating which goes first)\n",
                o->old_prog, o->new_prog, o->rounds);
        fprintf(out, "%-28s %-12s %-20s %-24s %-7s %s\n", "Name", "Statistic", "Median ratio new/old", "CI",
                "Slower", "Gate");
        size_t nmsg = 0;
        for (size_t b = 0; b < nb; b++) {
            for (size_t f = 0; f < nfields; f++) {
                struct ms_ab_row *row = &rows[b * nfields + f];
                ms_ab_ratios(olds, news, o->rounds, news[0]->results[b].name, fields[f], ratios, row);
                char med[48], ci[48], slower[16], gate[256] = "";
                if (!row->n) {
                    fprintf(out, "%-28s %-12s n/a (not measured in both programs)\n", row->name, fields[f]);
                    continue;
                }
                snprintf(med, sizeof med, "%.4f (%+.1f%%)", row->median, (row->median - 1) * 100);
                snprintf(ci, sizeof ci, "%.4f .. %.4f (%.0f%%)", row->lo, row->hi, row->coverage * 100);
                snprintf(slower, sizeof slower, "%.0f/%zu", row->slower, row->n);
                for (size_t g = 0; g < o->ngates; g++) {
                    if (strcmp(o->gates[g].field, fields[f]) != 0) {
                        continue;
                    }
                    struct ms_ab_verdict v;
                    ms_ab_gate(&o->gates[g], ratios, row->n, o->alpha, &v);
                    size_t used = strlen(gate);
                    snprintf(gate + used, sizeof gate - used, "%s%s %s:%g%% p=%.2g", used ? ", " : "",
                             v.failed ? "FAIL" : (v.exceeded ? "noise" : "ok"), fields[f], o->gates[g].threshold,
                             v.p);
                    if (v.failed) {
                        failures++;
                        snprintf(messages + 512 * nmsg++, 512,
                                 "\t%s - Field '%s' has failed the A/B check: median ratio %.4f > %.4f over %zu "
                                 "rounds (%.0f%% CI %.4f .. %.4f; Wilcoxon signed-rank p=%.2g <= alpha %g)",
                                 row->name, fields[f], v.median, v.limit, row->n, row->coverage * 100, row->lo,
                                 row->hi, v.p, o->alpha);
                    }
                }
                fprintf(out, "%-28s %-12s %-20s %-24s %-7s %s\n", row->name, fields[f], med, ci, slower,
                        o->ngates ? gate : "-");
            }
        }
        fprintf(out, "Ratio: the statistic of NEW over OLD's in the same round; median over the rounds, with the "
                     "distribution-free interval of that median (order statistics; its coverage in brackets).\n");
        if (o->ngates) {
            fprintf(out, "Gates fail when the median ratio exceeds 1 + N%% AND Wilcoxon's signed-rank test finds "
                         "the log ratios above log(1 + N%%) (one-sided p <= %g).\n",
                    o->alpha);
        }
        if (nmsg) {
            fprintf(out, "Performance has regressed:\n");
            for (size_t i = 0; i < nmsg; i++) {
                fprintf(out, "%s\n", messages + 512 * i);
            }
        }
    }
    for (int r = 0; olds && news && r < o->rounds; r++) {
        ms_result_run_free(olds[r]);
        ms_result_run_free(news[r]);
    }
    free(olds);
    free(news);
    free(ratios);
    free(rows);
    free(messages);
    return rc ? rc : failures ? MS_GATE : MS_OK;
}
