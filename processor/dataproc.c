/* dataproc: the DataProcessor reference workload from the command line.
 * Exit status: 0 ok, 1 processing error, 2 usage or input error. */
#include "processor.h"
#include "ms_version.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum dataproc_exit { DATAPROC_OK = 0, DATAPROC_EPROCESS = 1, DATAPROC_EUSAGE = 2 };

static const char dataproc_usage[] =
    "usage: dataproc score --amount X --merchant NAME --customer-id ID [--iterations N]\n"
    "       dataproc batch (--count N | --input FILE.jsonl [--strict]) [--threads T] [--no-cache]\n"
    "                      [--iterations N] [--cache-max N] [--repeat R] [--json] [--output FILE]\n"
    "       dataproc --help | --version\n"
    "\n"
    "score   print the canonical JSON, its MD5 cache key and the risk score as one JSON line\n"
    "batch   score N generated transactions (amount 100.0+i, merchant \"Store i\", customer_id \"Ci\")\n"
    "        or the transactions of a JSON Lines file, and report transactions per second\n"
    "\n"
    "  --iterations N  SHA-256 rounds per score (default 100; the optimized variant uses 10)\n"
    "  --threads T     worker threads for the batch (default 1)\n"
    "  --no-cache      disable the score cache\n"
    "  --cache-max N   bound the cache to N entries, least recently used evicted (default 0: unbounded)\n"
    "  --repeat R      run the batch R times on the same processor (later runs hit the cache)\n"
    "  --input FILE    JSON Lines, one {\"amount\": ..., \"merchant\": ..., \"customer_id\": ...} per line;\n"
    "                  malformed lines are reported as FILE:LINE: reason and skipped\n"
    "  --strict        a malformed line ends the run (exit 2)\n"
    "  --json          print the batch summary as one JSON line\n"
    "  --output FILE   write each result as a JSON line: the transaction's fields plus risk_score, keys\n"
    "                  sorted (Python's json.dumps(result, sort_keys=True))\n"
    "\n"
    "exit status: 0 ok, 1 processing error, 2 usage or input error\n";

static int dataproc_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int dataproc_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "dataproc: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'dataproc --help'.\n");
    va_end(ap);
    return DATAPROC_EUSAGE;
}

/* A whole-string unsigned decimal within [min, max]. */
static bool dataproc_parse_size(const char *s, size_t min, size_t max, size_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = (size_t)v;
    return true;
}

static double dataproc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int dataproc_score(int argc, char **argv)
{
    static const struct option opts[] = {
        {"amount", required_argument, NULL, 'a'},   {"merchant", required_argument, NULL, 'm'},
        {"customer-id", required_argument, NULL, 'c'}, {"iterations", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    ms_transaction t = {0};
    bool have_amount = false;
    size_t iterations = 100;
    int o;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (o) {
        case 'a': {
            char *end;
            errno = 0;
            t.amount = strtod(optarg, &end);
            /* ERANGE with a finite result is underflow: 5e-324 is a valid (subnormal) float, as in Python.
             * Overflow gives HUGE_VAL. */
            if (!*optarg || *end || (errno == ERANGE && isinf(t.amount)))
                return dataproc_usage_error("--amount: '%s' is not a number", optarg);
            have_amount = true;
            break;
        }
        case 'm': t.merchant = optarg; break;
        case 'c': t.customer_id = optarg; break;
        case 'i':
            if (!dataproc_parse_size(optarg, 1, UINT_MAX, &iterations))
                return dataproc_usage_error("--iterations: '%s' is not a count from 1 to 4294967295", optarg);
            break;
        case 'h': fputs(dataproc_usage, stdout); return DATAPROC_OK;
        case ':': return dataproc_usage_error("score: option '%s' needs a value", argv[optind - 1]);
        default: return dataproc_usage_error("score: unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return dataproc_usage_error("score: unexpected argument '%s'", argv[optind]);
    if (!have_amount || !t.merchant || !t.customer_id)
        return dataproc_usage_error("score needs --amount, --merchant and --customer-id");
    if (!ms_json_utf8_valid(t.merchant, strlen(t.merchant)))
        return dataproc_usage_error("--merchant: not valid UTF-8");
    if (!ms_json_utf8_valid(t.customer_id, strlen(t.customer_id)))
        return dataproc_usage_error("--customer-id: not valid UTF-8");

    ms_processor_config cfg;
    ms_processor_config_default(&cfg);
    cfg.iterations = (unsigned)iterations;
    cfg.cache_enabled = false;
    ms_processor *p = NULL;
    char *json = NULL, *line = NULL;
    size_t cap = ms_json_transaction_bound(&t), len = 0, linelen = 0;
    char key[MS_MD5_HEX_LEN], score[MS_REPR_MAX];
    double s;
    int rc = ms_processor_new(&cfg, &p);
    if (rc == MS_PROC_OK && !(json = malloc(cap)))
        rc = MS_PROC_ENOMEM;
    if (rc == MS_PROC_OK)
        rc = ms_json_transaction(&t, json, cap, &len);
    if (rc == MS_PROC_OK)
        rc = ms_processor_cache_key(p, &t, key);
    if (rc == MS_PROC_OK)
        rc = ms_processor_score(p, &t, &s);
    /* The JSON as a JSON string: every byte may become a 6-byte escape. */
    size_t linecap = 6 * len + 128;
    if (rc == MS_PROC_OK && !(line = malloc(linecap)))
        rc = MS_PROC_ENOMEM;
    if (rc == MS_PROC_OK)
        rc = ms_json_string(json, line, linecap, &linelen);
    if (rc == MS_PROC_OK) {
        ms_repr_double(s, score);
        printf("{\"canonical_json\": %s, \"cache_key_md5\": \"%s\", \"score\": %s}\n", line, key, score);
    } else {
        fprintf(stderr, "dataproc: score: %s\n", ms_processor_strerror(rc));
    }
    free(line);
    free(json);
    ms_processor_free(p);
    return rc == MS_PROC_OK ? DATAPROC_OK : DATAPROC_EPROCESS;
}

static void dataproc_report_line(void *user, const char *path, size_t line, const char *what)
{
    (void)user;
    if (line)
        fprintf(stderr, "%s:%zu: %s\n", path, line, what);
    else
        fprintf(stderr, "%s: %s\n", path, what);
}

typedef struct dataproc_batch_opts {
    size_t count, threads, iterations, cache_max, repeat;
    bool have_count, cache, strict, json;
    const char *input, *output;
} dataproc_batch_opts;

/* The Python original's generated batch: amount 100.0 + i, merchant "Store i", customer_id "Ci". */
static int dataproc_generate(size_t n, ms_transaction **txns, char **names)
{
    /* Two strings per transaction of at most 6 + 20 + 1 bytes each, in one block. */
    enum { NAME = 28 };
    *txns = calloc(n ? n : 1, sizeof **txns);
    *names = malloc((n ? n : 1) * 2 * NAME);
    if (!*txns || !*names)
        return MS_PROC_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        char *m = *names + 2 * NAME * i, *c = m + NAME;
        snprintf(m, NAME, "Store %zu", i);
        snprintf(c, NAME, "C%zu", i);
        (*txns)[i] = (ms_transaction){.amount = 100.0 + (double)i, .merchant = m, .customer_id = c};
    }
    return MS_PROC_OK;
}

/* One line per row: the canonical JSON with risk_score spliced in before the closing brace, which is
 * where sort_keys puts it ("risk_score" sorts after "merchant"). */
static int dataproc_write_results(FILE *f, const char *path, const ms_scored *rows, size_t n)
{
    char stack[512], *heap = NULL;
    int rc = MS_PROC_OK;
    for (size_t i = 0; i < n && rc == MS_PROC_OK; i++) {
        size_t cap = ms_json_transaction_bound(&rows[i].txn), len;
        char *buf = stack;
        if (cap > sizeof stack) {
            free(heap);
            buf = heap = malloc(cap);
            if (!heap) {
                rc = MS_PROC_ENOMEM;
                break;
            }
        }
        rc = ms_json_transaction(&rows[i].txn, buf, cap, &len);
        if (rc == MS_PROC_OK) {
            char score[MS_REPR_MAX];
            ms_repr_double(rows[i].risk_score, score);
            fprintf(f, "%.*s, \"risk_score\": %s}\n", (int)(len - 1), buf, score);
        }
    }
    free(heap);
    bool write_failed = ferror(f) != 0;
    if (fclose(f) != 0)
        write_failed = true;
    if (rc != MS_PROC_OK) {
        fprintf(stderr, "dataproc: %s: %s\n", path, ms_processor_strerror(rc));
        return DATAPROC_EPROCESS;
    }
    if (write_failed) {
        fprintf(stderr, "dataproc: %s: write error\n", path);
        return DATAPROC_EPROCESS;
    }
    return DATAPROC_OK;
}

static int dataproc_batch_run(const dataproc_batch_opts *o)
{
    ms_transaction *txns = NULL;
    char *names = NULL;
    ms_jsonl in = {0};
    size_t n;
    int rc;
    if (o->input) {
        rc = ms_jsonl_read(o->input, o->strict, dataproc_report_line, NULL, &in);
        if (rc == MS_PROC_EINVAL)
            return DATAPROC_EUSAGE;
        if (rc != MS_PROC_OK) {
            fprintf(stderr, "dataproc: %s: %s\n", o->input, ms_processor_strerror(rc));
            return DATAPROC_EPROCESS;
        }
        txns = in.txns;
        n = in.count;
        if (in.skipped)
            fprintf(stderr, "dataproc: %s: skipped %zu malformed line%s\n", o->input, in.skipped,
                    in.skipped == 1 ? "" : "s");
        if (n == 0) {
            fprintf(stderr, "dataproc: %s: no transactions\n", o->input);
            ms_jsonl_free(&in);
            return DATAPROC_EUSAGE;
        }
    } else {
        n = o->count;
        rc = dataproc_generate(n, &txns, &names);
    }

    ms_processor_config cfg;
    ms_processor_config_default(&cfg);
    cfg.cache_enabled = o->cache;
    cfg.iterations = (unsigned)o->iterations;
    cfg.cache_max = o->cache_max;
    ms_processor *p = NULL;
    ms_scored *out = NULL;
    /* Opened first: a bad path should not cost a whole batch. */
    FILE *results = NULL;
    if (rc == MS_PROC_OK && o->output && !(results = fopen(o->output, "w"))) {
        fprintf(stderr, "dataproc: %s: cannot create: %s\n", o->output, strerror(errno));
        if (o->input)
            ms_jsonl_free(&in);
        else
            free(txns);
        free(names);
        return DATAPROC_EUSAGE;
    }
    if (rc == MS_PROC_OK)
        rc = ms_processor_new(&cfg, &p);
    if (rc == MS_PROC_OK && !(out = malloc((n ? n : 1) * sizeof *out)))
        rc = MS_PROC_ENOMEM;
    double elapsed = 0, sum = 0;
    for (size_t r = 0; rc == MS_PROC_OK && r < o->repeat; r++) {
        double t0 = dataproc_now();
        rc = ms_batch_process_parallel(p, txns, n, out, (unsigned)o->threads);
        elapsed += dataproc_now() - t0;
    }
    int status = rc == MS_PROC_OK ? DATAPROC_OK : DATAPROC_EPROCESS;
    if (rc == MS_PROC_OK && results)
        status = dataproc_write_results(results, o->output, out, n);
    else if (results)
        fclose(results);
    if (rc == MS_PROC_OK) {
        for (size_t i = 0; i < n; i++)
            sum += out[i].risk_score;
        ms_cache_stats st;
        ms_processor_cache_stats(p, &st);
        size_t total = n * o->repeat;
        double tps = elapsed > 0 ? (double)total / elapsed : 0;
        double us = total ? elapsed * 1e6 / (double)total : 0;
        char mean[MS_REPR_MAX];
        ms_repr_double(n ? sum / (double)n : 0.0, mean);
        if (o->json) {
            printf("{\"transactions\": %zu, \"threads\": %zu, \"iterations\": %zu, \"cache\": %s, "
                   "\"cache_max\": %zu, \"seconds\": %.6f, \"transactions_per_second\": %.1f, "
                   "\"mean_risk_score\": %s, \"cache_entries\": %zu, \"cache_hits\": %" PRIu64
                   ", \"cache_misses\": %" PRIu64 ", \"cache_evictions\": %" PRIu64 "}\n",
                   total, o->threads, o->iterations, o->cache ? "true" : "false", o->cache_max, elapsed, tps,
                   mean, st.entries, st.hits, st.misses, st.evictions);
        } else {
            printf("batch: %zu transactions x %zu, %zu thread%s, %zu iterations, cache %s\n", n, o->repeat,
                   o->threads, o->threads == 1 ? "" : "s", o->iterations,
                   !o->cache ? "off" : o->cache_max ? "LRU-bounded" : "on (unbounded)");
            printf("time: %.6f s, %.0f transactions/s, %.2f us per transaction\n", elapsed, tps, us);
            printf("mean risk score: %s\n", mean);
            if (o->cache)
                printf("cache: %zu entries, %" PRIu64 " hits, %" PRIu64 " misses, %" PRIu64 " evictions\n",
                       st.entries, st.hits, st.misses, st.evictions);
        }
    } else {
        fprintf(stderr, "dataproc: batch: %s\n", ms_processor_strerror(rc));
    }
    free(out);
    ms_processor_free(p);
    if (o->input)
        ms_jsonl_free(&in);
    else
        free(txns);
    free(names);
    return status;
}

static int dataproc_batch(int argc, char **argv)
{
    static const struct option opts[] = {
        {"count", required_argument, NULL, 'n'},      {"threads", required_argument, NULL, 't'},
        {"no-cache", no_argument, NULL, 'C'},         {"iterations", required_argument, NULL, 'i'},
        {"cache-max", required_argument, NULL, 'M'},  {"input", required_argument, NULL, 'f'},
        {"strict", no_argument, NULL, 's'},           {"repeat", required_argument, NULL, 'r'},
        {"json", no_argument, NULL, 'j'},             {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    dataproc_batch_opts o = {.threads = 1, .iterations = 100, .repeat = 1, .cache = true};
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            /* an empty batch would report a rate of nothing, as an --input file without a transaction does */
            if (!dataproc_parse_size(optarg, 1, SIZE_MAX / 64, &o.count))
                return dataproc_usage_error("--count: '%s' is not a count of at least 1", optarg);
            o.have_count = true;
            break;
        case 't':
            if (!dataproc_parse_size(optarg, 1, 1024, &o.threads))
                return dataproc_usage_error("--threads: '%s' is not a count from 1 to 1024", optarg);
            break;
        case 'i':
            if (!dataproc_parse_size(optarg, 1, UINT_MAX, &o.iterations))
                return dataproc_usage_error("--iterations: '%s' is not a count from 1 to 4294967295", optarg);
            break;
        case 'M':
            if (!dataproc_parse_size(optarg, 0, SIZE_MAX, &o.cache_max))
                return dataproc_usage_error("--cache-max: '%s' is not a count", optarg);
            break;
        case 'r':
            if (!dataproc_parse_size(optarg, 1, 1000000, &o.repeat))
                return dataproc_usage_error("--repeat: '%s' is not a count from 1 to 1000000", optarg);
            break;
        case 'C': o.cache = false; break;
        case 'f': o.input = optarg; break;
        case 's': o.strict = true; break;
        case 'j': o.json = true; break;
        case 'o': o.output = optarg; break;
        case 'h': fputs(dataproc_usage, stdout); return DATAPROC_OK;
        case ':': return dataproc_usage_error("batch: option '%s' needs a value", argv[optind - 1]);
        default: return dataproc_usage_error("batch: unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return dataproc_usage_error("batch: unexpected argument '%s'", argv[optind]);
    if (o.have_count == !!o.input)
        return dataproc_usage_error("batch needs either --count N or --input FILE");
    if (o.strict && !o.input)
        return dataproc_usage_error("--strict applies to --input only");
    return dataproc_batch_run(&o);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return dataproc_usage_error("missing command (score or batch)");
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(dataproc_usage, stdout);
        return DATAPROC_OK;
    }
    if (!strcmp(cmd, "--version")) {
        printf("dataproc (memsnap) %s%s%s%s\n", MS_VERSION_PROJECT, *MS_VERSION_GIT ? " (git " : "", MS_VERSION_GIT,
               *MS_VERSION_GIT ? ")" : "");
        return DATAPROC_OK;
    }
    /* getopt sees the command as argv[0]: options follow it. Its own messages are replaced by ours. */
    opterr = 0;
    int status;
    if (!strcmp(cmd, "score"))
        status = dataproc_score(argc - 1, argv + 1);
    else if (!strcmp(cmd, "batch"))
        status = dataproc_batch(argc - 1, argv + 1);
    else
        return dataproc_usage_error("unknown command '%s' (score or batch)", cmd);
    /* A result that never reached stdout (a full disk) is no result. */
    if ((fflush(stdout) != 0 || ferror(stdout)) && status == DATAPROC_OK) {
        fprintf(stderr, "dataproc: %s: cannot write the output: %s\n", cmd, strerror(errno ? errno : EIO));
        status = DATAPROC_EPROCESS;
    }
    return status;
}
