/* pytest-benchmark JSON files: write/read round trip, the smallest file pytest-benchmark accepts, clear
 * errors for bad files, and the .benchmarks/<machine-id>/NNNN_name.json storage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static char dir[256];

static const char *path_in(const char *name)
{
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static const char *write_text(const char *name, const char *text)
{
    const char *p = path_in(name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

static struct ms_run *sample_run(void)
{
    struct ms_run *run = ms_result_run_new();
    run->machine_info = ms_machine_info();
    run->commit_info = json_pack("{s:s, s:b}", "id", "abc123", "dirty", 1);
    run->datetime = strdup("2026-11-27T14:00:00.000001");
    struct ms_result *a = ms_result_add(run);
    a->name = strdup("fnv1a[4]");
    a->fullname = strdup("prog::fnv1a[4]");
    a->group = strdup("hashing");
    a->param = strdup("4");
    a->params = json_pack("{s:s}", "kib", "4");
    a->extra_info = json_pack("{s:f}", "bytes", 4096.0);
    a->options = json_pack("{s:i}", "min_rounds", 5);
    const double da[] = {1.5e-6, 1.25e-6, 1.75e-6, 1.0000000000000002e-6, 9.0e-6, 1.3e-6, 0.1 + 0.2};
    assert_int_equal(ms_result_set_samples(a, da, 7, 3), 0);
    struct ms_result *b = ms_result_add(run);
    b->name = strdup("plain");
    b->fullname = strdup("prog::plain");
    b->extra_info = json_object();
    b->stats.has_allocs = 1;
    b->stats.allocs_per_op = 2.5;
    b->stats.alloc_bytes_per_op = 128;
    const double db[] = {0.25, 0.5};
    assert_int_equal(ms_result_set_samples(b, db, 2, 1), 0);
    return run;
}

static void json_round_trip_keeps_every_field(void **state)
{
    (void)state;
    struct ms_run *run = sample_run();
    struct ms_error err = {{0}};
    const char *p = path_in("rt.json");
    assert_int_equal(ms_json_write(run, p, 1, &err), 0);
    struct ms_run *back;
    assert_int_equal(ms_json_read(p, &back, &err), 0);
    assert_int_equal(back->count, 2);
    assert_string_equal(back->datetime, run->datetime);
    assert_string_equal(json_string_value(json_object_get(back->commit_info, "id")), "abc123");
    assert_non_null(json_object_get(back->machine_info, "machine"));
    for (size_t i = 0; i < 2; i++) {
        const struct ms_result *x = &run->results[i], *y = &back->results[i];
        assert_string_equal(x->name, y->name);
        assert_string_equal(x->fullname, y->fullname);
        assert_true((x->group == NULL) == (y->group == NULL));
        assert_true((x->param == NULL) == (y->param == NULL));
        static const char *fields[] = {"min", "max",     "mean",    "stddev", "median", "q1", "q3",
                                       "iqr", "ld15iqr", "hd15iqr", "p95",    "p99",    "ops", "total"};
        for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
            /* 17 significant digits: the exact double comes back */
            if (ms_result_field(&x->stats, fields[f]) != ms_result_field(&y->stats, fields[f])) {
                fail_msg("%s.%s: %.17g != %.17g", x->name, fields[f], ms_result_field(&x->stats, fields[f]),
                         ms_result_field(&y->stats, fields[f]));
            }
        }
        assert_int_equal(x->stats.rounds, y->stats.rounds);
        assert_int_equal(x->stats.iterations, y->stats.iterations);
        assert_int_equal(x->stats.stddev_outliers, y->stats.stddev_outliers);
        assert_int_equal(x->stats.iqr_outliers, y->stats.iqr_outliers);
        assert_memory_equal(x->data, y->data, x->stats.rounds * sizeof(double));
        assert_ptr_equal(y->stats.data, y->data);
    }
    assert_string_equal(back->results[0].group, "hashing");
    assert_string_equal(back->results[0].param, "4");
    assert_string_equal(json_string_value(json_object_get(back->results[0].params, "kib")), "4");
    assert_true(json_real_value(json_object_get(back->results[0].extra_info, "bytes")) == 4096.0);
    assert_true(back->results[1].stats.has_allocs);
    assert_true(back->results[1].stats.allocs_per_op == 2.5 && back->results[1].stats.alloc_bytes_per_op == 128);
    assert_false(back->results[0].stats.has_allocs);
    ms_result_run_free(back);

    /* pytest-benchmark's key names and order in the stats object */
    json_t *top = json_load_file(p, 0, NULL);
    json_t *stats = json_object_get(json_array_get(json_object_get(top, "benchmarks"), 0), "stats");
    static const char *keys[] = {"min",  "max",          "mean",           "stddev",  "rounds",  "median",
                                 "iqr",  "q1",           "q3",             "iqr_outliers", "stddev_outliers",
                                 "outliers", "ld15iqr",  "hd15iqr",        "ops",     "total",   "data",
                                 "iterations"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        if (!json_object_get(stats, keys[k])) {
            fail_msg("stats.%s missing", keys[k]);
        }
    }
    assert_string_equal(json_string_value(json_object_get(stats, "outliers")), "1;1");
    for (size_t k = 0; k < 5; k++) {
        static const char *top_keys[] = {"machine_info", "commit_info", "benchmarks", "datetime", "version"};
        assert_non_null(json_object_get(top, top_keys[k]));
    }
    json_decref(top);
    ms_result_run_free(run);
}

static void json_reads_the_smallest_file_pytest_benchmark_reads(void **state)
{
    (void)state;
    const char *p = write_text("min.json",
                               "{\"benchmarks\": [{\"group\": null, \"name\": \"test_sum\",\n"
                               "  \"stats\": {\"min\": 6.1e-07, \"max\": 1.43e-04, \"mean\": 7.09e-07, \"stddev\": 1.37e-06,\n"
                               "            \"median\": 6.61e-07, \"iqr\": 1.0e-08, \"outliers\": \"242;8843\",\n"
                               "            \"rounds\": 174490, \"iterations\": 1}}]}\n");
    struct ms_run *run;
    struct ms_error err = {{0}};
    assert_int_equal(ms_json_read(p, &run, &err), 0);
    const struct ms_result *r = &run->results[0];
    assert_string_equal(r->fullname, "test_sum");
    assert_null(r->group);
    assert_null(r->data);
    assert_int_equal(r->stats.rounds, 174490);
    assert_int_equal(r->stats.stddev_outliers, 242);
    assert_int_equal(r->stats.iqr_outliers, 8843);
    assert_true(fabs(r->stats.ops - 1 / 7.09e-07) < 1e-3);
    ms_result_run_free(run);
}

static void json_bad_files_get_one_clear_line(void **state)
{
    (void)state;
    struct ms_run *run;
    struct ms_error err = {{0}};
    assert_int_equal(ms_json_read(path_in("absent.json"), &run, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "absent.json"));
    const char *p = write_text("broken.json", "{\"benchmarks\": [\n  {\"name\": }\n]}\n");
    assert_int_equal(ms_json_read(p, &run, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "broken.json:2:"));
    p = write_text("other.json", "{\"results\": []}");
    assert_int_equal(ms_json_read(p, &run, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "other.json: not a benchmark file"));
    p = write_text("strmean.json", "{\"benchmarks\": [{\"name\": \"x\", \"stats\": {\"min\": 1, \"max\": 1, "
                                   "\"mean\": \"fast\", \"stddev\": 0, \"median\": 1, \"iqr\": 0, \"rounds\": 1, "
                                   "\"iterations\": 1}}]}");
    assert_int_equal(ms_json_read(p, &run, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "strmean.json: benchmark 'x': stats.mean"));
    p = write_text("negrounds.json", "{\"benchmarks\": [{\"name\": \"x\", \"stats\": {\"min\": 1, \"max\": 1, "
                                     "\"mean\": 1, \"stddev\": 0, \"median\": 1, \"iqr\": 0, \"rounds\": -3, "
                                     "\"iterations\": 1}}]}");
    assert_int_equal(ms_json_read(p, &run, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "stats.rounds"));
}

static void storage_numbers_runs_and_finds_them(void **state)
{
    (void)state;
    struct ms_run *run = sample_run();
    struct ms_error err = {{0}};
    char saved[4096], found[4096], id[128];
    const char *store = path_in("store");
    ms_machine_id(id, sizeof id);
    assert_int_equal(ms_storage_find(store, NULL, found, sizeof found, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "Can't compare"));
    assert_int_equal(ms_storage_save(store, run, "baseline", 1, saved, sizeof saved, &err), 0);
    char want[4096];
    snprintf(want, sizeof want, "%s/%s/0001_baseline.json", store, id);
    assert_string_equal(saved, want);
    assert_int_equal(ms_storage_save(store, run, "after", 1, saved, sizeof saved, &err), 0);
    snprintf(want, sizeof want, "%s/%s/0002_after.json", store, id);
    assert_string_equal(saved, want);
    assert_int_equal(ms_storage_find(store, NULL, found, sizeof found, &err), 0);
    assert_string_equal(found, want);
    assert_int_equal(ms_storage_find(store, "1", found, sizeof found, &err), 0);
    assert_non_null(strstr(found, "0001_baseline.json"));
    assert_int_equal(ms_storage_find(store, "0001", found, sizeof found, &err), 0);
    assert_non_null(strstr(found, "0001_baseline.json"));
    assert_int_equal(ms_storage_find(store, "baseline", found, sizeof found, &err), 0);
    assert_non_null(strstr(found, "0001_baseline.json"));
    assert_int_equal(ms_storage_find(store, "0007", found, sizeof found, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "match '0007'"));
    /* a path is taken as it is */
    assert_int_equal(ms_storage_find(store, want, found, sizeof found, &err), 0);
    assert_string_equal(found, want);

    char name[256];
    ms_storage_autosave_name(run->commit_info, name, sizeof name);
    assert_true(strncmp(name, "abc123_", 7) == 0);
    assert_non_null(strstr(name, "_uncommitted-changes"));
    assert_int_equal(strlen(name), strlen("abc123_20261127_140000_uncommitted-changes"));
    ms_result_run_free(run);
}

/* Without --benchmark-save-data a file keeps at most 1000 quantiles, not every sample: the file stays
 * small, rounds keep their true count, and the gate still ranks them (a +20% shift still fails). */
static void json_compact_quantiles_instead_of_every_sample(void **state)
{
    (void)state;
    enum { N = 20000 };
    double *d = malloc(N * sizeof *d), *slow = malloc(N * sizeof *slow);
    assert_non_null(d);
    assert_non_null(slow);
    for (int i = 0; i < N; i++) {
        d[i] = 1e-6 * (1 + 0.001 * ((i * 7919) % 1000));
        slow[i] = d[i] * 1.2;
    }
    struct ms_run *run = ms_result_run_new(), *run2 = ms_result_run_new();
    struct ms_result *a = ms_result_add(run), *b = ms_result_add(run2);
    a->name = strdup("x");
    b->name = strdup("x");
    a->fullname = strdup("p::x");
    b->fullname = strdup("p::x");
    assert_int_equal(ms_result_set_samples(a, d, N, 1), 0);
    assert_int_equal(ms_result_set_samples(b, slow, N, 1), 0);
    struct ms_error err = {{0}};
    const char *full = path_in("full.json"), *compact = path_in("compact.json"), *compact2 = path_in("compact2.json");
    assert_int_equal(ms_json_write(run, full, 1, &err), 0);
    assert_int_equal(ms_json_write(run, compact, 0, &err), 0);
    assert_int_equal(ms_json_write(run2, compact2, 0, &err), 0);
    struct stat sf, sc;
    assert_int_equal(stat(full, &sf), 0);
    assert_int_equal(stat(compact, &sc), 0);
    assert_true(sc.st_size * 10 < sf.st_size);
    json_t *top = json_load_file(compact, 0, NULL);
    json_t *st = json_object_get(json_array_get(json_object_get(top, "benchmarks"), 0), "stats");
    assert_null(json_object_get(st, "data"));
    assert_int_equal(json_array_size(json_object_get(st, "quantiles")), MS_JSON_QUANTILES);
    json_decref(top);
    struct ms_run *back, *back2;
    assert_int_equal(ms_json_read(compact, &back, &err), 0);
    assert_int_equal(ms_json_read(compact2, &back2, &err), 0);
    assert_int_equal(back->results[0].stats.rounds, N);
    assert_int_equal(back->results[0].ndata, MS_JSON_QUANTILES);
    assert_true(back->results[0].data[0] == a->stats.min);
    assert_true(back->results[0].data[MS_JSON_QUANTILES - 1] == a->stats.max);
    assert_true(back->results[0].stats.median == a->stats.median);
    struct ms_gate g;
    struct ms_gate_verdict v;
    assert_int_equal(ms_gate_parse("median:10%", &g, &err), 0);
    ms_gate_check(&g, &back->results[0], &back2->results[0], 0.01, &v);
    assert_true(!isnan(v.p) && v.failed);
    ms_gate_check(&g, &back->results[0], &back->results[0], 0.01, &v);
    assert_false(v.failed);
    /* a few samples are kept whole, sorted */
    const double few[] = {3e-6, 1e-6, 2e-6};
    assert_int_equal(ms_result_set_samples(a, few, 3, 1), 0);
    assert_int_equal(ms_json_write(run, compact, 0, &err), 0);
    ms_result_run_free(back);
    assert_int_equal(ms_json_read(compact, &back, &err), 0);
    assert_int_equal(back->results[0].ndata, 3);
    assert_true(back->results[0].data[0] == 1e-6 && back->results[0].data[2] == 3e-6);
    ms_result_run_free(back);
    ms_result_run_free(back2);
    ms_result_run_free(run);
    ms_result_run_free(run2);
    free(d);
    free(slow);
}

/* The box plot: ticks at round values, every mean drawn inside the axis (here one far past its whisker),
 * and a legend that names the mean marker. */
static void histogram_ticks_round_and_means_inside_the_axis(void **state)
{
    (void)state;
    struct ms_run *run = ms_result_run_new();
    struct ms_result *a = ms_result_add(run);
    a->name = strdup("qsort_800");
    a->fullname = strdup("p::qsort_800");
    double d[200];
    for (int i = 0; i < 200; i++) {
        d[i] = 1.9e-3 + 1e-6 * (i % 37);
    }
    d[3] = d[77] = d[150] = 0.2; /* preempted rounds: the mean lies far past hd15iqr */
    assert_int_equal(ms_result_set_samples(a, d, 200, 1), 0);
    assert_true(a->stats.mean > a->stats.hd15iqr * 1.5);
    struct ms_result *rows[] = {a};
    struct ms_error err = {{0}};
    char prefix[512];
    snprintf(prefix, sizeof prefix, "%s/h", dir);
    assert_int_equal(ms_histogram_write(prefix, rows, 1, "group", NULL, &err), 0);
    FILE *f = fopen(path_in("h-default.svg"), "r");
    assert_non_null(f);
    char line[1024];
    int ticks = 0, means = 0, legend_mean = 0;
    double tick[64];
    while (fgets(line, sizeof line, f)) {
        double x, v;
        const char *t = strstr(line, "class=\"tick\" x=\"");
        if (t && sscanf(t, "class=\"tick\" x=\"%lf\"", &x) == 1) {
            const char *gt = strchr(t, '>');
            assert_non_null(gt);
            v = strtod(gt + 1, NULL);
            assert_true(ticks < 64);
            tick[ticks] = v;
            ticks++;
        }
        const char *c = strstr(line, "class=\"mean\" cx=\"");
        if (c && sscanf(c, "class=\"mean\" cx=\"%lf\"", &x) == 1) {
            assert_true(x >= 260 && x <= 860);
            means++;
        }
        legend_mean += strstr(line, ">mean</text>") != NULL;
    }
    fclose(f);
    assert_true(ticks >= 3);
    /* round values: a step of 1, 2 or 5 times a power of ten, and every tick a multiple of it */
    double step = tick[1] - tick[0], mant = step / pow(10, floor(log10(step)));
    if (!(fabs(mant - 1) < 1e-6 || fabs(mant - 2) < 1e-6 || fabs(mant - 5) < 1e-6 || fabs(mant - 10) < 1e-6)) {
        fail_msg("tick step %g is not 1, 2 or 5 times a power of ten", step);
    }
    for (int i = 0; i < ticks; i++) {
        if (fabs(tick[i] / step - round(tick[i] / step)) > 1e-6) {
            fail_msg("tick %g is not a multiple of %g", tick[i], step);
        }
    }
    assert_int_equal(means, 1);
    assert_int_equal(legend_mean, 1);
    ms_result_run_free(run);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/ms-json-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_round_trip_keeps_every_field),
        cmocka_unit_test(json_reads_the_smallest_file_pytest_benchmark_reads),
        cmocka_unit_test(json_bad_files_get_one_clear_line),
        cmocka_unit_test(storage_numbers_runs_and_finds_them),
        cmocka_unit_test(json_compact_quantiles_instead_of_every_sample),
        cmocka_unit_test(histogram_ticks_round_and_means_inside_the_axis),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", dir);
    }
    return rc;
}
