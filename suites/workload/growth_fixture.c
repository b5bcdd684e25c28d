/* The DataProcessor over growing input, snapshotting the heap after every round: with an unbounded cache
 * the cache grows in every interval (`memsnap growth` must say unbounded); with an LRU bound it fills and
 * plateaus (bounded).
 *
 *     growth-fixture --out PREFIX [--cache-max N] [--rounds R] [--batch B]
 *
 * Writes PREFIX-00.snap before the first round (the processor exists, nothing is cached yet), then
 * PREFIX-01.snap ... after each round. Needs LD_PRELOAD=libmemsnap.so (exit 77 without it). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memsnap.h>

#include "fixtures.h"

int main(int argc, char **argv)
{
    const char *prefix = NULL;
    long cache_max = 0, rounds = 6, batch = 200;
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'},     {"cache-max", required_argument, NULL, 'm'},
        {"rounds", required_argument, NULL, 'r'},  {"batch", required_argument, NULL, 'b'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'o': prefix = optarg; break;
        case 'm': cache_max = atol(optarg); break;
        case 'r': rounds = atol(optarg); break;
        case 'b': batch = atol(optarg); break;
        default: return 2;
        }
    }
    if (!prefix || cache_max < 0 || rounds < 1 || rounds > 99 || batch < 1) {
        fprintf(stderr, "usage: growth-fixture --out PREFIX [--cache-max N >= 0] [--rounds 1..99] [--batch N >= 1]\n");
        return 2;
    }
    if (!memsnap_active()) {
        fprintf(stderr, "skip: growth-fixture needs LD_PRELOAD=libmemsnap.so\n");
        return 77;
    }
    ms_processor_config cfg;
    ms_processor_config_default(&cfg);
    cfg.cache_max = (size_t)cache_max;
    cfg.iterations = 10; /* the cache is under test, not the hashing: keep the rounds short */
    ms_processor *p = NULL;
    if (ms_processor_new(&cfg, &p) != MS_PROC_OK) {
        fprintf(stderr, "growth-fixture: cannot create the processor\n");
        return 1;
    }
    int status = 0;
    for (long r = 0; r <= rounds && status == 0; r++) {
        char path[4096];
        snprintf(path, sizeof path, "%s-%02ld.snap", prefix, r);
        int rc = memsnap_snapshot(path);
        if (rc != 0) {
            fprintf(stderr, "growth-fixture: snapshot %s: %s\n", path, strerror(-rc));
            status = 1;
            break;
        }
        if (r == rounds) {
            break;
        }
        struct fixtures_batch b;
        /* New transactions every round: an unbounded cache can only grow. */
        if (fixtures_batch_make(&b, (size_t)(r * batch), (size_t)batch) != 0 ||
            ms_batch_process(p, b.txns, b.count, b.out) != MS_PROC_OK) {
            fprintf(stderr, "growth-fixture: round %ld failed\n", r);
            status = 1;
        }
        fixtures_batch_free(&b);
    }
    ms_cache_stats st;
    ms_processor_cache_stats(p, &st);
    printf("cache entries %zu, evictions %llu\n", st.entries, (unsigned long long)st.evictions);
    ms_processor_free(p);
    return status;
}
