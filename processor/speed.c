/* dataproc-speed: how close the DataProcessor comes to the cost of its own hashing.
 *
 * Measured side by side, interleaved round by round (the two cores here change speed from run to run),
 * medians reported:
 *   floor (EVP)     the same 100 SHA-256 calls per transaction over the same prepared inputs, through EVP
 *                   with the digest fetched once and the context reused; nothing else
 *   floor (stack)   the same digests through SHA256_Init/Update/Final on a stack context
 *   uncached        ms_processor_score with the cache off: canonical JSON, float repr, 100 digests
 *   miss            cache on, every lookup a miss: the above plus MD5 and an insert
 *   hit             cache on, every lookup a hit: canonical JSON, MD5, lookup
 *   batch 1 / 2 thr ms_batch_process vs ms_batch_process_parallel(2) on a batch, cache off
 *   control loop    a plain loop on 1 and on 2 threads: the parallelism the machine offers right then
 * Ratios are medians of per-round ratios. "cores busy" is process CPU time over wall time during a
 * batch: below 2 for the 2-thread batch, the machine did not give both threads a core, whatever the code
 * does. "CPU efficiency" compares CPU time per transaction (1 thread over 2 threads): near 1.0 the
 * threads add no work of their own, so the speedup follows the cores the machine gives.
 * Usage: dataproc-speed [--rounds N] [--batch N] [--help]
 * Exit status: 0 ok, 1 a measurement failed, 2 usage error. */
#ifdef MS_CRYPTO_LOWLEVEL
#define OPENSSL_SUPPRESS_DEPRECATED
#endif
#include "processor.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#ifdef MS_CRYPTO_LOWLEVEL
#include <openssl/sha.h>
#endif

#define SPEED_TXNS 200
#define SPEED_ITERATIONS 100
#define SPEED_MSG 128

enum {
    M_FLOOR_EVP, M_FLOOR_STACK, M_UNCACHED, M_MISS, M_HIT, M_BATCH1, M_BATCH2, M_CORES1, M_CORES2,
    M_SPIN1, M_SPIN2, M_COUNT
};
static const char *speed_names[M_COUNT] = {
    "floor: 100 SHA-256 via EVP", "floor: 100 SHA-256 on stack ctx", "uncached score",
    "cache miss (score + MD5 + insert)", "cache hit", "batch, 1 thread", "batch, 2 threads",
    "cores busy in the 1-thread batch", "cores busy in the 2-thread batch", "control loop, 1 thread",
    "control loop, 2 threads",
};

static double speed_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int speed_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double speed_median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, speed_cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void speed_loadavg(char *out, size_t n)
{
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f || !fgets(out, (int)n, f))
        snprintf(out, n, "unknown\n");
    if (f)
        fclose(f);
}

/* Every digest input of the floor, prepared before timing: json + str(i). */
typedef struct speed_msgs {
    char (*msg)[SPEED_ITERATIONS][SPEED_MSG];
    size_t (*len)[SPEED_ITERATIONS];
} speed_msgs;

static volatile unsigned speed_sink;

/* noinline: callgrind then reports the floors as functions of their own (instruction counts do not
 * depend on the machine's load). */
__attribute__((noinline)) static double speed_floor_evp(const speed_msgs *m, EVP_MD_CTX *ctx, const EVP_MD *md)
{
    unsigned char d[32];
    unsigned s = 0;
    double t0 = speed_now();
    for (size_t t = 0; t < SPEED_TXNS; t++) {
        for (int i = 0; i < SPEED_ITERATIONS; i++) {
            EVP_DigestInit_ex2(ctx, md, NULL);
            EVP_DigestUpdate(ctx, m->msg[t][i], m->len[t][i]);
            EVP_DigestFinal_ex(ctx, d, NULL);
            s += d[0];
        }
    }
    double ns = (speed_now() - t0) / SPEED_TXNS;
    speed_sink += s;
    return ns;
}

__attribute__((noinline)) static double speed_floor_stack(const speed_msgs *m)
{
#ifdef MS_CRYPTO_LOWLEVEL
    unsigned char d[32];
    unsigned s = 0;
    double t0 = speed_now();
    for (size_t t = 0; t < SPEED_TXNS; t++) {
        for (int i = 0; i < SPEED_ITERATIONS; i++) {
            SHA256_CTX c;
            SHA256_Init(&c);
            SHA256_Update(&c, m->msg[t][i], m->len[t][i]);
            SHA256_Final(d, &c);
            s += d[0];
        }
    }
    double ns = (speed_now() - t0) / SPEED_TXNS;
    speed_sink += s;
    return ns;
#else
    (void)m;
    return 0;
#endif
}

/* ns per transaction of ms_processor_score over txns, reps times. */
static int speed_scores(ms_processor *p, const ms_transaction *txns, size_t n, int reps, double *ns)
{
    double s = 0, v;
    double t0 = speed_now();
    for (int r = 0; r < reps; r++) {
        for (size_t i = 0; i < n; i++) {
            int rc = ms_processor_score(p, &txns[i], &v);
            if (rc != MS_PROC_OK)
                return rc;
            s += v;
        }
    }
    *ns = (speed_now() - t0) / (double)(n * (size_t)reps);
    speed_sink += (unsigned)(s > 0);
    return MS_PROC_OK;
}

static double speed_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ns per transaction, and CPU time over wall time: about 2 when both threads really ran at once. */
static int speed_batch(ms_processor *p, const ms_transaction *txns, size_t n, ms_scored *out, unsigned threads,
                       double *ns, double *cores)
{
    double c0 = speed_cpu_now(), t0 = speed_now();
    int rc = ms_batch_process_parallel(p, txns, n, out, threads);
    double wall = speed_now() - t0;
    *cores = (speed_cpu_now() - c0) / wall;
    *ns = wall / (double)n;
    return rc;
}

/* The control: a plain loop with no shared state, the same total work on 1 and on 2 threads. Its speedup
 * is what the machine offers at that moment; the batch cannot beat it. */
#define SPEED_SPIN 4000000UL

static void *speed_spin(void *arg)
{
    volatile unsigned long x = 0;
    unsigned long n = *(const unsigned long *)arg;
    for (unsigned long i = 0; i < n; i++) {
        x = x + i;
    }
    return NULL;
}

static void speed_control(double *one, double *two)
{
    unsigned long all = SPEED_SPIN, half = SPEED_SPIN / 2;
    double t0 = speed_now();
    speed_spin(&all);
    *one = speed_now() - t0;
    pthread_t t;
    t0 = speed_now();
    bool started = pthread_create(&t, NULL, speed_spin, &half) == 0;
    speed_spin(started ? &half : &all);
    if (started)
        pthread_join(t, NULL);
    *two = speed_now() - t0;
}

static ms_processor *speed_processor(bool cache)
{
    ms_processor_config cfg;
    ms_processor_config_default(&cfg);
    cfg.cache_enabled = cache;
    ms_processor *p = NULL;
    if (ms_processor_new(&cfg, &p) != MS_PROC_OK)
        return NULL;
    return p;
}

/* A whole decimal number in lo..hi, or false ("5x", "-1" and "" are not counts). */
static bool speed_count(const char *s, size_t lo, size_t hi, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *s == '-' || *end || errno || v < lo || v > hi)
        return false;
    *out = (size_t)v;
    return true;
}

int main(int argc, char **argv)
{
    static const char usage[] = "usage: dataproc-speed [--rounds N (1..1000, default 9)] [--batch N (%d..1000000, "
                                "default 1000)]\n";
    size_t rounds = 9, batch = 1000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf(usage, SPEED_TXNS);
            return 0;
        }
        bool is_rounds = !strcmp(a, "--rounds");
        if (!is_rounds && strcmp(a, "--batch") != 0) {
            fprintf(stderr, "dataproc-speed: unknown argument '%s' (dataproc-speed --help)\n", a);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "dataproc-speed: %s needs a value\n", a);
            return 2;
        }
        const char *v = argv[++i];
        if (is_rounds ? !speed_count(v, 1, 1000, &rounds) : !speed_count(v, SPEED_TXNS, 1000000, &batch)) {
            fprintf(stderr, "dataproc-speed: %s: '%s' is not a count from %d to %d\n", a, v, is_rounds ? 1 : SPEED_TXNS,
                    is_rounds ? 1000 : 1000000);
            return 2;
        }
    }

    /* The Python original's generated transactions; the first SPEED_TXNS also feed the single-score rows. */
    ms_transaction *txns = calloc(batch, sizeof *txns);
    char (*names)[2][32] = calloc(batch, sizeof *names); /* room for any size_t */
    ms_scored *out = calloc(batch, sizeof *out);
    speed_msgs m = {calloc(SPEED_TXNS, sizeof *m.msg), calloc(SPEED_TXNS, sizeof *m.len)};
    double *samples = calloc(M_COUNT * rounds, sizeof *samples);
    ms_processor *uncached = speed_processor(false), *cached = speed_processor(true);
    ms_processor *missing = speed_processor(true);
    EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!txns || !names || !out || !m.msg || !m.len || !samples || !uncached || !cached || !missing || !md ||
        !ctx) {
        fprintf(stderr, "dataproc-speed: setup failed\n");
        return 1;
    }
    for (size_t i = 0; i < batch; i++) {
        snprintf(names[i][0], sizeof names[i][0], "Store %zu", i);
        snprintf(names[i][1], sizeof names[i][1], "C%zu", i);
        txns[i] = (ms_transaction){.amount = 100.0 + (double)i, .merchant = names[i][0], .customer_id = names[i][1]};
    }
    for (size_t t = 0; t < SPEED_TXNS; t++) {
        char json[SPEED_MSG];
        size_t len;
        if (ms_json_transaction(&txns[t], json, sizeof json - 12, &len) != MS_PROC_OK)
            return 1;
        for (int i = 0; i < SPEED_ITERATIONS; i++)
            m.len[t][i] = (size_t)snprintf(m.msg[t][i], SPEED_MSG, "%s%d", json, i);
    }

    char load0[128], load1[128];
    speed_loadavg(load0, sizeof load0);
    double dummy;
    /* Warm-up: page in, fill the hit cache. */
    speed_floor_evp(&m, ctx, md);
    if (speed_scores(cached, txns, SPEED_TXNS, 1, &dummy) != MS_PROC_OK)
        return 1;
    for (size_t r = 0; r < rounds; r++) {
        double *row = samples + r * M_COUNT;
        row[M_FLOOR_EVP] = speed_floor_evp(&m, ctx, md);
        row[M_FLOOR_STACK] = speed_floor_stack(&m);
        ms_processor_cache_clear(missing);
        int rc = speed_scores(uncached, txns, SPEED_TXNS, 1, &row[M_UNCACHED]);
        if (rc == MS_PROC_OK)
            rc = speed_scores(missing, txns, SPEED_TXNS, 1, &row[M_MISS]);
        if (rc == MS_PROC_OK)
            rc = speed_scores(cached, txns, SPEED_TXNS, 50, &row[M_HIT]);
        /* Alternate which batch variant goes first so neither always gets the warmer core. */
        int first = r % 2 ? M_BATCH2 : M_BATCH1;
        for (int k = 0; k < 2 && rc == MS_PROC_OK; k++) {
            int which = k == 0 ? first : (first == M_BATCH1 ? M_BATCH2 : M_BATCH1);
            rc = speed_batch(uncached, txns, batch, out, which == M_BATCH1 ? 1 : 2, &row[which],
                             &row[which == M_BATCH1 ? M_CORES1 : M_CORES2]);
        }
        speed_control(&row[M_SPIN1], &row[M_SPIN2]);
        if (rc != MS_PROC_OK) {
            fprintf(stderr, "dataproc-speed: %s\n", ms_processor_strerror(rc));
            return 1;
        }
    }
    speed_loadavg(load1, sizeof load1);

    /* Ratios are taken within each round (both sides saw the same machine), then their median. */
    enum { R_EVP, R_STACK, R_PAR, R_CPU, R_SPIN, R_COUNT };
    double med[M_COUNT], ratio[R_COUNT];
    double *v = calloc(rounds, sizeof *v);
    if (!v)
        return 1;
    for (int k = 0; k < M_COUNT + R_COUNT; k++) {
        for (size_t r = 0; r < rounds; r++) {
            const double *row = samples + r * M_COUNT;
            v[r] = k < M_COUNT       ? row[k]
                   : k == M_COUNT    ? row[M_UNCACHED] / row[M_FLOOR_EVP]
                   : k == M_COUNT + 1 ? (row[M_FLOOR_STACK] > 0 ? row[M_UNCACHED] / row[M_FLOOR_STACK] : 0)
                   : k == M_COUNT + 2 ? row[M_BATCH1] / row[M_BATCH2]
                   : k == M_COUNT + 3 /* CPU time per transaction, 1 thread over 2: 1.0 = no cost */
                       ? (row[M_BATCH1] * row[M_CORES1]) / (row[M_BATCH2] * row[M_CORES2])
                       : row[M_SPIN1] / row[M_SPIN2];
        }
        if (k < M_COUNT)
            med[k] = speed_median(v, rounds);
        else
            ratio[k - M_COUNT] = speed_median(v, rounds);
    }
    free(v);
    printf("dataproc-speed: %zu rounds interleaved, medians; %d transactions per single-score row, batch %zu\n",
           rounds, SPEED_TXNS, batch);
    printf("digests: %s\n", ms_crypto_backend());
    printf("load average before: %sload average after:  %s", load0, load1);
    printf("%-36s %12s\n", "measurement", "ns/txn");
    for (int k = 0; k < M_CORES1; k++) {
        if (k == M_FLOOR_STACK && med[k] == 0)
            continue;
        printf("%-36s %12.0f\n", speed_names[k], med[k]);
    }
    printf("%-36s %12.2f\n", speed_names[M_CORES1], med[M_CORES1]);
    printf("%-36s %12.2f\n", speed_names[M_CORES2], med[M_CORES2]);
    printf("%-36s %12.0f us\n", speed_names[M_SPIN1], med[M_SPIN1] / 1e3);
    printf("%-36s %12.0f us\n", speed_names[M_SPIN2], med[M_SPIN2] / 1e3);
    printf("uncached / floor (EVP)               %12.2fx   (target <= 1.30x)\n", ratio[R_EVP]);
    if (med[M_FLOOR_STACK] > 0)
        printf("uncached / floor (stack ctx)         %12.2fx\n", ratio[R_STACK]);
    printf("cache hit                            %12.0f ns (target < 1000 ns)\n", med[M_HIT]);
    printf("parallel speedup, 2 threads          %12.2fx   (target >= 1.80x; bounded by the cores busy above)\n",
           ratio[R_PAR]);
    printf("parallel CPU efficiency              %12.2f    (CPU per transaction, 1 thread / 2 threads)\n",
           ratio[R_CPU]);
    printf("control loop speedup, 2 threads      %12.2fx   (what the machine offered meanwhile)\n", ratio[R_SPIN]);

    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
    ms_processor_free(uncached);
    ms_processor_free(cached);
    ms_processor_free(missing);
    free(samples);
    free(m.msg);
    free(m.len);
    free(out);
    free(names);
    free(txns);
    return 0;
}
