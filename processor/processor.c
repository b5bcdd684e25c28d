/* The DataProcessor object: configuration, the cache in front of the score, calculate_risk_score(). */
#include "processor.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Canonical JSON of ordinary transactions fits here; longer ones take one heap buffer per call. */
#define PROCESSOR_STACK_JSON 512

struct ms_processor {
    ms_processor_config cfg;
    ms_crypto *crypto;
    ms_cache *cache; /* NULL when disabled */
    /* Digest contexts for callers without their own (ms_processor_score); batch workers bring their
     * own and never take the lock. */
    pthread_mutex_t solo_lock;
    ms_crypto_ctx *solo;
};

void ms_processor_config_default(ms_processor_config *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->cache_enabled = true;
    cfg->iterations = 100;
}

int ms_processor_new(const ms_processor_config *cfg, ms_processor **out)
{
    if (!out)
        return MS_PROC_ENULL;
    ms_processor_config def;
    if (!cfg) {
        ms_processor_config_default(&def);
        cfg = &def;
    }
    if (cfg->iterations == 0)
        return MS_PROC_EINVAL;
    ms_processor *p = calloc(1, sizeof *p);
    if (!p)
        return MS_PROC_ENOMEM;
    p->cfg = *cfg;
    if (!p->cfg.score_fn)
        p->cfg.score_fn = ms_score_risk;
    if (pthread_mutex_init(&p->solo_lock, NULL) != 0) {
        free(p);
        return MS_PROC_ENOMEM;
    }
    int rc = ms_crypto_new(&p->crypto);
    if (rc == MS_PROC_OK)
        rc = ms_crypto_ctx_new(p->crypto, &p->solo);
    if (rc == MS_PROC_OK && cfg->cache_enabled)
        rc = ms_cache_new(cfg->cache_max, &p->cache);
    if (rc != MS_PROC_OK) {
        ms_processor_free(p);
        return rc;
    }
    *out = p;
    return MS_PROC_OK;
}

void ms_processor_free(ms_processor *p)
{
    if (!p)
        return;
    ms_cache_free(p->cache);
    ms_crypto_ctx_free(p->solo);
    ms_crypto_free(p->crypto);
    pthread_mutex_destroy(&p->solo_lock);
    free(p);
}

/* Canonical JSON into stack (PROCESSOR_STACK_JSON bytes) or, when it does not fit, into *heap. */
static int processor_json(const ms_transaction *t, char *stack, char **json, char **heap, size_t *len)
{
    *heap = NULL;
    int rc = ms_json_transaction(t, stack, PROCESSOR_STACK_JSON, len);
    if (rc != MS_PROC_EINVAL) {
        *json = stack;
        return rc;
    }
    size_t cap = ms_json_transaction_bound(t);
    *heap = malloc(cap);
    if (!*heap)
        return MS_PROC_ENOMEM;
    *json = *heap;
    return ms_json_transaction(t, *heap, cap, len);
}

int ms_processor_score_ctx(ms_processor *p, ms_crypto_ctx *cx, const ms_transaction *t, double *score)
{
    if (!p || !cx || !t || !score)
        return MS_PROC_ENULL;
    char stack[PROCESSOR_STACK_JSON];
    char *json, *heap;
    size_t len;
    int rc = processor_json(t, stack, &json, &heap, &len);
    if (rc != MS_PROC_OK)
        goto out;
    unsigned char key[MS_MD5_LEN];
    if (p->cache) {
        rc = ms_crypto_md5(cx, json, len, key);
        if (rc != MS_PROC_OK)
            goto out;
        if (ms_cache_get(p->cache, key, score))
            goto out;
    }
    double s;
    rc = p->cfg.score_fn(p->cfg.score_user, cx, json, len, p->cfg.iterations, &s);
    if (rc != MS_PROC_OK) {
        /* A custom function may return any nonzero value; keep the codes meaningful. */
        if (rc < 0 || rc > MS_PROC_ESCORE)
            rc = MS_PROC_ESCORE;
        goto out;
    }
    if (p->cache)
        rc = ms_cache_put(p->cache, key, s);
    if (rc == MS_PROC_OK)
        *score = s;
out:
    free(heap);
    return rc;
}

int ms_processor_score(ms_processor *p, const ms_transaction *t, double *score)
{
    if (!p)
        return MS_PROC_ENULL;
    if (pthread_mutex_trylock(&p->solo_lock) == 0) {
        int rc = ms_processor_score_ctx(p, p->solo, t, score);
        pthread_mutex_unlock(&p->solo_lock);
        return rc;
    }
    /* Another thread is scoring: rather than wait ~10 us, take a context of our own for this call. */
    ms_crypto_ctx *cx = NULL;
    int rc = ms_crypto_ctx_new(p->crypto, &cx);
    if (rc == MS_PROC_OK)
        rc = ms_processor_score_ctx(p, cx, t, score);
    ms_crypto_ctx_free(cx);
    return rc;
}

int ms_processor_cache_key(ms_processor *p, const ms_transaction *t, char out[MS_MD5_HEX_LEN])
{
    if (!p || !t || !out)
        return MS_PROC_ENULL;
    char stack[PROCESSOR_STACK_JSON];
    char *json, *heap;
    size_t len;
    int rc = processor_json(t, stack, &json, &heap, &len);
    if (rc == MS_PROC_OK) {
        unsigned char key[MS_MD5_LEN];
        pthread_mutex_lock(&p->solo_lock);
        rc = ms_crypto_md5(p->solo, json, len, key);
        pthread_mutex_unlock(&p->solo_lock);
        if (rc == MS_PROC_OK)
            ms_crypto_hex(key, sizeof key, out);
    }
    free(heap);
    return rc;
}

void ms_processor_cache_stats(ms_processor *p, ms_cache_stats *out)
{
    if (!out)
        return;
    if (!p || !p->cache) {
        memset(out, 0, sizeof *out);
        return;
    }
    ms_cache_stats_get(p->cache, out);
}

void ms_processor_cache_clear(ms_processor *p)
{
    if (p)
        ms_cache_clear(p->cache);
}

const ms_crypto *ms_processor_crypto(const ms_processor *p)
{
    return p ? p->crypto : NULL;
}

const char *ms_processor_strerror(int status)
{
    switch (status) {
    case MS_PROC_OK: return "success";
    case MS_PROC_ENULL: return "required argument is NULL";
    case MS_PROC_ENOMEM: return "out of memory";
    case MS_PROC_EUTF8: return "string is not valid UTF-8";
    case MS_PROC_EINVAL: return "invalid argument";
    case MS_PROC_ECRYPTO: return "libcrypto digest failed";
    case MS_PROC_ESCORE: return "score function failed";
    default: return "unknown error";
    }
}
