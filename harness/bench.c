/* The public harness: sessions of benchmarks, measured as pytest-benchmark measures them. */
#include "harness.h"

#include <errno.h>
#include <math.h>
#include <memsnap.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct memsnap_bench {
    char *group, *base_name, *name, *fullname;
    char *param_key, *param_value;
    memsnap_bench_fn fn;
    void *arg;
    json_t *extra;
    int pedantic;
    struct memsnap_bench_pedantic ped;
    double result;
    int called;
    long result_index; /* into session->run, -1 when not timed */
    memsnap_bench_session *session;
};

struct memsnap_bench_session {
    memsnap_bench **benches;
    size_t count;
    FILE *out;
    memsnap_bench_clock clock;
    void *clock_ctx;
    int clock_set; /* by memsnap_bench_set_clock: --benchmark-timer does not override it */
    struct ms_run *run;
    struct ms_run *compared;
};

memsnap_bench_session *memsnap_bench_session_new(void)
{
    memsnap_bench_session *s = calloc(1, sizeof *s);
    if (s) {
        s->clock = ms_clock_monotonic;
    }
    return s;
}

static void memsnap_bench_free_one(memsnap_bench *b)
{
    free(b->group);
    free(b->base_name);
    free(b->name);
    free(b->fullname);
    free(b->param_key);
    free(b->param_value);
    json_decref(b->extra);
    free(b);
}

void memsnap_bench_session_free(memsnap_bench_session *s)
{
    if (!s) {
        return;
    }
    for (size_t i = 0; i < s->count; i++) {
        memsnap_bench_free_one(s->benches[i]);
    }
    free(s->benches);
    ms_result_run_free(s->run);
    ms_result_run_free(s->compared);
    free(s);
}

memsnap_bench *memsnap_bench_add(memsnap_bench_session *s, const char *group, const char *name,
                                 memsnap_bench_fn fn, void *arg)
{
    if (!s || !name || !*name || !fn) {
        return NULL;
    }
    memsnap_bench **grown = realloc(s->benches, (s->count + 1) * sizeof *grown);
    if (!grown) {
        return NULL;
    }
    s->benches = grown;
    memsnap_bench *b = calloc(1, sizeof *b);
    if (!b) {
        return NULL;
    }
    b->group = group ? strdup(group) : NULL;
    b->base_name = strdup(name);
    b->name = strdup(name);
    b->extra = json_object();
    b->fn = fn;
    b->arg = arg;
    b->result_index = -1;
    b->session = s;
    if ((group && !b->group) || !b->base_name || !b->name || !b->extra) {
        memsnap_bench_free_one(b);
        return NULL;
    }
    s->benches[s->count++] = b;
    return b;
}

int memsnap_bench_param(memsnap_bench *b, const char *key, const char *value)
{
    if (!b || !key || !value) {
        return -EINVAL;
    }
    size_t len = strlen(b->base_name) + strlen(value) + 3;
    char *name = malloc(len);
    char *k = strdup(key), *v = strdup(value);
    if (!name || !k || !v) {
        free(name);
        free(k);
        free(v);
        return -ENOMEM;
    }
    snprintf(name, len, "%s[%s]", b->base_name, value);
    free(b->name);
    free(b->param_key);
    free(b->param_value);
    b->name = name;
    b->param_key = k;
    b->param_value = v;
    return 0;
}

int memsnap_bench_extra_info(memsnap_bench *b, const char *key, double value)
{
    if (!b || !key) {
        return -EINVAL;
    }
    return json_object_set_new(b->extra, key, json_real(value)) == 0 ? 0 : -ENOMEM;
}

int memsnap_bench_set_pedantic(memsnap_bench *b, const struct memsnap_bench_pedantic *p)
{
    /* pytest-benchmark's rules: positive rounds and iterations, non-negative warmup, and no setup
     * with several iterations (the setup would run once for many calls). */
    if (!b || !p || p->rounds < 1 || p->iterations < 1 || p->warmup_rounds < 0 || (p->iterations > 1 && p->setup)) {
        return -EINVAL;
    }
    b->pedantic = 1;
    b->ped = *p;
    return 0;
}

const struct memsnap_bench_stats *memsnap_bench_get_stats(const memsnap_bench *b)
{
    if (!b || b->result_index < 0 || !b->session || !b->session->run) {
        return NULL;
    }
    return &b->session->run->results[b->result_index].stats;
}

double memsnap_bench_result(const memsnap_bench *b)
{
    return b ? b->result : 0;
}

int memsnap_bench_was_called(const memsnap_bench *b)
{
    return b ? b->called : 0;
}

const char *memsnap_bench_name(const memsnap_bench *b)
{
    return b ? b->name : NULL;
}

const char *memsnap_bench_fullname(const memsnap_bench *b)
{
    return b ? b->fullname : NULL;
}

void memsnap_bench_set_output(memsnap_bench_session *s, FILE *out)
{
    s->out = out;
}

void memsnap_bench_set_clock(memsnap_bench_session *s, memsnap_bench_clock clock, void *ctx)
{
    s->clock = clock ? clock : ms_clock_monotonic;
    s->clock_ctx = clock ? ctx : NULL;
    s->clock_set = clock != NULL;
}

struct memsnap_bench_round {
    memsnap_bench_session *s;
    memsnap_bench *b;
    int collect; /* toggle callgrind's collection around the calls (the clock reads stay outside) */
};

static double memsnap_bench_time_round(void *ctx, uint64_t loops)
{
    struct memsnap_bench_round *r = ctx;
    memsnap_bench *b = r->b;
    uint64_t t0 = r->s->clock(r->s->clock_ctx);
    if (r->collect) {
        ms_callgrind_toggle();
    }
    for (uint64_t i = 0; i < loops; i++) {
        b->result = b->fn(b->arg);
    }
    if (r->collect) {
        ms_callgrind_toggle();
    }
    uint64_t t1 = r->s->clock(r->s->clock_ctx);
    b->called = 1;
    return t1 > t0 ? (double)(t1 - t0) * 1e-9 : 0.0;
}

/* One pedantic round: setup and teardown around the timed calls, outside the clock reads. */
static double memsnap_bench_time_pedantic(struct memsnap_bench_round *r, uint64_t loops)
{
    memsnap_bench *b = r->b;
    if (b->ped.setup) {
        b->ped.setup(b->arg);
    }
    double d = memsnap_bench_time_round(r, loops);
    if (b->ped.teardown) {
        b->ped.teardown(b->arg);
    }
    return d;
}

static json_t *memsnap_bench_options_json(const struct ms_options *o, int pedantic)
{
    json_t *j = json_object();
    json_object_set_new(j, "disable_gc", json_false());
    json_object_set_new(j, "timer", json_string(o->timer));
    json_object_set_new(j, "min_rounds", json_integer(o->min_rounds));
    json_object_set_new(j, "max_time", json_real(o->max_time));
    json_object_set_new(j, "min_time", json_real(o->min_time));
    json_object_set_new(j, "warmup", json_boolean(o->warmup));
    if (pedantic) {
        json_object_set_new(j, "pedantic", json_true());
    }
    return j;
}

static void memsnap_bench_call_once(memsnap_bench *b);

/* The counts of an empty toggled region: what one round's pair of client requests adds. */
static int memsnap_bench_toggle_overhead(struct ms_callgrind_counts *out, struct ms_error *err)
{
    ms_callgrind_zero();
    ms_callgrind_toggle();
    ms_callgrind_toggle();
    return ms_callgrind_dump("memsnap-bench: toggle overhead", out, err);
}

static int memsnap_bench_measure(memsnap_bench_session *s, memsnap_bench *b, const struct ms_options *o,
                                 double precision, struct ms_counters *counters,
                                 const struct ms_callgrind_counts *toggle_cost, struct ms_error *err)
{
    struct memsnap_bench_round r = {s, b, 0};
    uint64_t iterations;
    size_t rounds;
    if (o->instructions) {
        /* Counts do not need calibration or many rounds: a fixed schedule after one warm call keeps
         * them identical from run to run. */
        iterations = b->pedantic ? (uint64_t)b->ped.iterations : 1;
        rounds = b->pedantic ? (size_t)b->ped.rounds : (size_t)o->min_rounds;
        memsnap_bench_call_once(b);
        ms_callgrind_zero();
        r.collect = 1;
    } else if (b->pedantic) {
        iterations = (uint64_t)b->ped.iterations;
        rounds = (size_t)b->ped.rounds;
        for (int i = 0; i < b->ped.warmup_rounds; i++) {
            memsnap_bench_time_pedantic(&r, iterations);
        }
    } else {
        struct ms_calibrate_opts co = {
            .min_time = fmax(o->min_time, precision * o->calibration_precision),
            .calibration_precision = o->calibration_precision,
        };
        struct ms_calibration cal;
        int rc = ms_calibrate(memsnap_bench_time_round, &r, &co, &cal);
        if (rc) {
            return ms_error_set(err, rc, "%s: calibration failed: %s", b->name,
                              rc == -ERANGE ? "the timer did not advance over 1e9 calls" : strerror(-rc));
        }
        iterations = cal.iterations;
        double want = ceil(o->max_time / cal.duration);
        rounds = want > 1e7 ? 10000000u : (size_t)want; /* 80 MB of samples at most */
        if (rounds < (size_t)o->min_rounds) {
            rounds = (size_t)o->min_rounds;
        }
        if (o->verbose) {
            fprintf(stderr, "%s: precision %.3g s, calibrated to %llu iterations (%.3g s per round, %u measurements), "
                            "%zu rounds\n",
                    b->name, precision, (unsigned long long)iterations, cal.duration, cal.measurements, rounds);
        }
        if (o->warmup) {
            uint64_t w = o->warmup_iterations / iterations;
            w = w < 1 ? 1 : w;
            w = w > rounds ? rounds : w;
            for (uint64_t i = 0; i < w; i++) {
                memsnap_bench_time_round(&r, iterations);
            }
        }
    }
    double *samples = malloc(rounds * sizeof *samples);
    if (!samples) {
        return ms_error_set(err, -ENOMEM, "%s: out of memory for %zu rounds", b->name, rounds);
    }
    int profiled = memsnap_active();
    struct memsnap_stats before = {0}, after = {0};
    uint64_t instructions = 0, cycles = 0;
    if (profiled) {
        memsnap_stats(&before);
    }
    if (counters) {
        ms_counters_start(counters);
    }
    for (size_t i = 0; i < rounds; i++) {
        double d = b->pedantic ? memsnap_bench_time_pedantic(&r, iterations) : memsnap_bench_time_round(&r, iterations);
        samples[i] = d / (double)iterations;
    }
    if (counters) {
        ms_counters_stop(counters, &instructions, &cycles);
    }
    struct ms_callgrind_estimate est = {0};
    if (o->instructions) {
        struct ms_callgrind_counts cg;
        int rc = ms_callgrind_dump(b->fullname, &cg, err);
        if (rc) {
            free(samples);
            return rc;
        }
        ms_callgrind_subtract(&cg, toggle_cost, rounds);
        ms_callgrind_estimate(&cg, (double)rounds * (double)iterations, &est);
    }
    if (profiled) {
        memsnap_stats(&after);
    }
    struct ms_result *res = ms_result_add(s->run);
    int rc = res ? 0 : -ENOMEM;
    if (res) {
        res->group = b->group ? strdup(b->group) : NULL;
        res->name = strdup(b->name);
        res->fullname = strdup(b->fullname);
        res->param = b->param_value ? strdup(b->param_value) : NULL;
        if (b->param_key) {
            res->params = json_object();
            json_object_set_new(res->params, b->param_key, json_string(b->param_value));
        }
        res->extra_info = json_deep_copy(b->extra);
        res->options = memsnap_bench_options_json(o, b->pedantic);
        double calls = (double)rounds * (double)iterations;
        /* Pedantic setup/teardown allocate too: the per-call figure includes them, as the stats do not. */
        if (profiled) {
            res->stats.has_allocs = 1;
            res->stats.allocs_per_op = (double)(after.alloc_count - before.alloc_count) / calls;
            res->stats.alloc_bytes_per_op = (double)(after.alloc_bytes - before.alloc_bytes) / calls;
        }
        if (counters) {
            res->stats.has_counters = 1;
            res->stats.instructions_per_op = (double)instructions / calls;
            res->stats.cycles_per_op = (double)cycles / calls;
        }
        if (o->instructions) {
            res->stats.has_counters = 1;
            res->stats.instructions_per_op = est.instructions;
            res->stats.cycles_per_op = est.cycles;
            json_object_set_new(res->extra_info, "l1_hits_per_op", json_real(est.l1_hits));
            json_object_set_new(res->extra_info, "ll_hits_per_op", json_real(est.ll_hits));
            json_object_set_new(res->extra_info, "ram_hits_per_op", json_real(est.ram_hits));
        }
        rc = ms_result_set_samples(res, samples, rounds, iterations);
        b->result_index = rc ? -1 : (long)(s->run->count - 1);
    }
    size_t slow = 0;
    double share = 0;
    if (rc == 0 && !o->instructions && ms_stats_slow_outliers(samples, rounds, &slow, &share) == 0 &&
        share > 0.10) {
        /* The mean then carries other processes' time slices: say so, as hyperfine warns of outliers. */
        fprintf(stderr,
                "Warning: %s: %zu of %zu rounds took over twice the median and hold %.0f%% of the measured time: "
                "the mean and stddev include them (preemption, interrupts?).%s\n",
                b->name, slow, rounds, share * 100,
                strcmp(o->timer, "time.perf_counter") == 0
                    ? " --benchmark-timer=thread_time leaves out the time other processes ran."
                    : "");
    }
    free(samples);
    return rc ? ms_error_set(err, rc, "%s: %s", b->name, strerror(-rc)) : 0;
}

static void memsnap_bench_call_once(memsnap_bench *b)
{
    if (b->pedantic && b->ped.setup) {
        b->ped.setup(b->arg);
    }
    b->result = b->fn(b->arg);
    b->called = 1;
    if (b->pedantic && b->ped.teardown) {
        b->ped.teardown(b->arg);
    }
}

static void memsnap_bench_now_iso(char *buf, size_t len)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%06ld", base, ts.tv_nsec / 1000);
}

/* Loads the run to compare with; its rows get the short file name as source, as pytest-benchmark shows. */
static int memsnap_bench_load_compared(memsnap_bench_session *s, const struct ms_options *o, struct ms_error *err)
{
    char path[4096];
    int rc = ms_storage_find(o->storage, o->compare_spec, path, sizeof path, err);
    if (rc) {
        return rc;
    }
    rc = ms_json_read(path, &s->compared, err);
    if (rc) {
        return rc;
    }
    return ms_result_set_source(s->compared, path) == 0 ? 0 : ms_error_set(err, -ENOMEM, "out of memory");
}

static int memsnap_bench_finish(memsnap_bench_session *s, const struct ms_options *o, FILE *out)
{
    struct ms_error err = {{0}};
    int status = 0;
    size_t nrows = 0;
    struct ms_result **rows = calloc(s->run->count * 2 + 1, sizeof *rows);
    if (!rows) {
        return 2;
    }
    for (size_t i = 0; i < s->run->count; i++) {
        struct ms_result *cur = &s->run->results[i];
        const struct ms_result *old = s->compared ? ms_result_find(s->compared, cur->fullname) : NULL;
        if (old) {
            rows[nrows++] = (struct ms_result *)old;
            free(cur->source);
            cur->source = strdup("NOW");
        }
        rows[nrows++] = cur;
    }
    fputc('\n', out);
    ms_table_print(out, rows, nrows, o);
    if (o->histogram && ms_histogram_write(o->histogram, rows, nrows, o->group_by, out, &err) != 0) {
        fprintf(stderr, "error: %s\n", err.msg);
        status = 2;
    }
    free(rows);
    if (s->compared) {
        fputc('\n', out);
        if (ms_compare_print(out, s->compared, s->run, o->gates, o->ngates, o->alpha) > 0) {
            status = status ? status : 1;
        }
    }
    if (o->json_path || o->save || o->autosave) {
        s->run->machine_info = ms_machine_info();
        s->run->commit_info = ms_machine_commit_info();
    }
    if (o->json_path) {
        if (ms_json_write(s->run, o->json_path, o->save_data, &err) != 0) {
            fprintf(stderr, "error: %s\n", err.msg);
            return 2;
        }
        fprintf(out, "Wrote benchmark data in: %s\n", o->json_path);
    }
    if (o->save || o->autosave) {
        char name[512], saved[4096];
        if (o->save) {
            snprintf(name, sizeof name, "%s", o->save);
        } else {
            ms_storage_autosave_name(s->run->commit_info, name, sizeof name);
        }
        if (ms_storage_save(o->storage, s->run, name, o->save_data, saved, sizeof saved, &err) != 0) {
            fprintf(stderr, "error: %s\n", err.msg);
            return 2;
        }
        fprintf(out, "Saved benchmark data in: %s\n", saved);
    }
    return status;
}

int memsnap_bench_run(memsnap_bench_session *s, int argc, char **argv)
{
    FILE *out = s->out ? s->out : stdout;
    struct ms_options o;
    struct ms_error err = {{0}};
    ms_options_defaults(&o);
    int rc = ms_options_parse(&o, argc, argv, out, &err);
    if (rc == 1) {
        return 0;
    }
    if (rc < 0) {
        fprintf(stderr, "%s: error: %s\n", argc > 0 ? argv[0] : "bench", err.msg);
        return 2;
    }
    if (o.instructions && !o.skip && !o.disable && !ms_callgrind_child()) {
        /* The whole program runs again under callgrind; this process only waits for its status. */
        if (ms_callgrind_running()) {
            fprintf(stderr, "%s: error: --benchmark-timer=instructions starts callgrind itself: run the program "
                            "without valgrind\n", argv[0]);
            return 2;
        }
        rc = ms_callgrind_rerun(argc, argv, &err);
        if (rc < 0) {
            fprintf(stderr, "%s: error: %s\n", argv[0], err.msg);
            return 2;
        }
        return rc;
    }
    ms_result_run_free(s->run);
    ms_result_run_free(s->compared);
    s->compared = NULL;
    s->run = ms_result_run_new();
    if (!s->run) {
        return 2;
    }
    char now[64];
    memsnap_bench_now_iso(now, sizeof now);
    s->run->datetime = strdup(now);
    if (o.compare && !o.skip && !o.disable && memsnap_bench_load_compared(s, &o, &err) != 0) {
        if (o.ngates) {
            fprintf(stderr, "error: %s (--benchmark-compare-fail requires valid --benchmark-compare)\n", err.msg);
            return 2;
        }
        fprintf(stderr, "warning: %s\n", err.msg);
    }
    const char *prog = argc > 0 && argv[0] ? (strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0]) : "bench";
    for (size_t i = 0; i < s->count; i++) {
        memsnap_bench *b = s->benches[i];
        size_t len = strlen(prog) + strlen(b->name) + 3;
        free(b->fullname);
        b->fullname = malloc(len);
        if (!b->fullname) {
            return 2;
        }
        snprintf(b->fullname, len, "%s::%s", prog, b->name);
        b->result_index = -1;
        b->called = 0;
    }
    if (o.skip) {
        fprintf(out, "Benchmarks are skipped (--benchmark-skip was used).\n");
        return 0;
    }
    struct ms_counters *counters = NULL;
    struct ms_callgrind_counts toggle_cost = {0};
    if (o.instructions && !o.disable && memsnap_bench_toggle_overhead(&toggle_cost, &err) != 0) {
        fprintf(stderr, "%s: error: %s\n", prog, err.msg);
        return 2;
    }
    if (!o.disable && !o.instructions) {
        counters = ms_counters_open(&err);
        if (!counters && o.verbose) {
            fprintf(stderr, "%s (no instructions/cycles columns)\n", err.msg);
        }
    }
    if (!s->clock_set) {
        s->clock = o.timer_clock;
        s->clock_ctx = NULL;
    }
    double precision = o.disable ? 0 : ms_clock_precision(s->clock, s->clock_ctx);
    int status = 0;
    for (size_t i = 0; i < s->count && status == 0; i++) {
        memsnap_bench *b = s->benches[i];
        if (o.keyword) {
            int m = ms_filter_match(o.keyword, b->name, b->group, b->fullname, &err);
            if (m < 0) {
                fprintf(stderr, "%s: error: %s\n", prog, err.msg);
                status = 2;
                break;
            }
            if (!m) {
                continue;
            }
        }
        if (o.disable) {
            memsnap_bench_call_once(b);
            continue;
        }
        if (memsnap_bench_measure(s, b, &o, precision, counters, &toggle_cost, &err) != 0) {
            fprintf(stderr, "%s: error: %s\n", prog, err.msg);
            status = 2;
        }
    }
    ms_counters_close(counters);
    if (status == 0 && !o.disable) {
        status = memsnap_bench_finish(s, &o, out);
    }
    fflush(out);
    return status;
}
