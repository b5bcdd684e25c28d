/* libprocessor: the DataProcessor reference workload.
 *
 * Error convention: every function that can fail returns an `ms_proc_status` (MS_PROC_OK == 0, failures
 * are positive codes; ms_processor_strerror() names them). Nothing here aborts or prints. Out-parameters
 * are written only on MS_PROC_OK (the rows of a failed batch are unspecified). Functions that cannot
 * fail return their value directly.
 *
 * Threads: a processor may be shared by threads (the cache and its counters are locked). A custom score
 * function must then be thread-safe itself.
 */
#ifndef MEMSNAP_PROCESSOR_H
#define MEMSNAP_PROCESSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum ms_proc_status {
    MS_PROC_OK = 0,
    MS_PROC_ENULL,    /* a required pointer argument was NULL */
    MS_PROC_ENOMEM,   /* an allocation failed */
    MS_PROC_EUTF8,    /* a string is not valid UTF-8 */
    MS_PROC_EINVAL,   /* an invalid setting (e.g. 0 iterations, 0 threads) */
    MS_PROC_ECRYPTO,  /* libcrypto failed (digest unavailable or digest call failed) */
    MS_PROC_ESCORE,   /* the injected score function reported failure */
} ms_proc_status;

/* A transaction: the Python original's {'amount', 'merchant', 'customer_id'} dict. Strings are
 * NUL-terminated UTF-8. */
typedef struct ms_transaction {
    double amount;
    const char *merchant;
    const char *customer_id;
} ms_transaction;

/* ---- repr.c: Python's repr(float), the shortest string that reads back as the same double ---- */

/* Longest output of ms_repr_double() plus its NUL ("-2.2250738585072014e-308", "-Infinity"). */
#define MS_REPR_MAX 32

/* Writes repr(x) as Python's json.dumps does (100.0, 0.1, 1e+16, 1.5e-07, -0.0, Infinity, -Infinity,
 * NaN) into buf (at least MS_REPR_MAX bytes); returns the length. */
size_t ms_repr_double(double x, char buf[MS_REPR_MAX]);

/* ---- json.c: canonical JSON, byte for byte Python's json.dumps(t, sort_keys=True) ---- */

/* True if s[0..len) is well-formed UTF-8 (no overlongs, surrogates or code points above U+10FFFF). */
bool ms_json_utf8_valid(const char *s, size_t len);

/* Upper bound of the canonical JSON length of t, NUL included (0 if a string is NULL). */
size_t ms_json_transaction_bound(const ms_transaction *t);

/* Writes the canonical JSON of t into buf (cap bytes, NUL-terminated) and its length into *len.
 * MS_PROC_EINVAL if cap is too small (ms_json_transaction_bound() is always enough). */
int ms_json_transaction(const ms_transaction *t, char *buf, size_t cap, size_t *len);

/* Appends the JSON string literal of s (quotes included, ensure_ascii escapes) to buf; same contract. */
int ms_json_string(const char *s, char *buf, size_t cap, size_t *len);

/* ---- crypto.c: digests fetched once, contexts reused, no allocation per digest where libcrypto allows ---- */

#define MS_SHA256_LEN 32
#define MS_MD5_LEN 16
#define MS_MD5_HEX_LEN 33 /* 32 hex digits + NUL */

typedef struct ms_crypto ms_crypto; /* the fetched algorithms; immutable, shared by threads */
typedef struct ms_crypto_ctx ms_crypto_ctx; /* per-thread digest contexts */

int ms_crypto_new(ms_crypto **out);
void ms_crypto_free(ms_crypto *c);
int ms_crypto_ctx_new(const ms_crypto *c, ms_crypto_ctx **out);
void ms_crypto_ctx_free(ms_crypto_ctx *cx);
int ms_crypto_sha256(ms_crypto_ctx *cx, const void *data, size_t len, unsigned char out[MS_SHA256_LEN]);
/* SHA-256 of prefix || suffix for many suffixes: set the prefix once (it must stay valid while in use),
 * then each suffix costs only the blocks it touches. */
int ms_crypto_sha256_prefix(ms_crypto_ctx *cx, const void *prefix, size_t len);
int ms_crypto_sha256_suffix(ms_crypto_ctx *cx, const void *suffix, size_t len, unsigned char out[MS_SHA256_LEN]);
int ms_crypto_md5(ms_crypto_ctx *cx, const void *data, size_t len, unsigned char out[MS_MD5_LEN]);
/* How digests are computed in this build (for benchmark reports). */
const char *ms_crypto_backend(void);
/* Lowercase hex of n bytes into out (2n + 1 bytes). */
void ms_crypto_hex(const unsigned char *bytes, size_t n, char *out);

/* ---- score.c: the risk score ---- */

/* A score function: the risk score of the canonical JSON json[0..len). cx is the calling thread's
 * digest context (custom functions may ignore it). Returns MS_PROC_OK and writes *score, or an error. */
typedef int (*ms_score_fn)(void *user, ms_crypto_ctx *cx, const char *json, size_t len,
                           unsigned iterations, double *score);

/* The Python original's computation: for i in 0..iterations-1, sum(SHA-256(json + str(i))) / 1e6
 * accumulated in double, then min(sum / iterations, 1.0). Bit-identical to Python. The JSON's whole
 * 64-byte blocks are hashed once and each iteration hashes only the rest plus its digits; nothing is
 * allocated. */
int ms_score_risk(void *user, ms_crypto_ctx *cx, const char *json, size_t len, unsigned iterations,
                  double *score);

/* ---- cache.c: score cache keyed by MD5 of the canonical JSON; optional LRU bound; thread-safe ---- */

typedef struct ms_cache ms_cache;

typedef struct ms_cache_stats {
    size_t entries;
    uint64_t hits;
    uint64_t misses;
    uint64_t evictions;
} ms_cache_stats;

/* max_entries == 0: unbounded (the Python original's behaviour). Bounded caches keep one exact LRU order. */
int ms_cache_new(size_t max_entries, ms_cache **out);
void ms_cache_free(ms_cache *c);
/* Looks key up; a hit refreshes its LRU position. Counts a hit or a miss. */
bool ms_cache_get(ms_cache *c, const unsigned char key[MS_MD5_LEN], double *score);
/* Like ms_cache_get without touching LRU order or statistics. */
bool ms_cache_peek(ms_cache *c, const unsigned char key[MS_MD5_LEN], double *score);
/* Inserts or updates key; evicts the least recently used entry when the bound is reached. */
int ms_cache_put(ms_cache *c, const unsigned char key[MS_MD5_LEN], double score);
void ms_cache_clear(ms_cache *c);
void ms_cache_stats_get(ms_cache *c, ms_cache_stats *out);

/* ---- processor.c: the DataProcessor object ---- */

typedef struct ms_processor ms_processor;

typedef struct ms_processor_config {
    bool cache_enabled;   /* default true */
    unsigned iterations;  /* default 100; the Python original's "optimized" variant uses 10 */
    size_t cache_max;     /* 0 = unbounded cache (default); otherwise LRU bound on entries */
    ms_score_fn score_fn; /* NULL = ms_score_risk */
    void *score_user;     /* passed to score_fn */
} ms_processor_config;

/* The Python original's defaults: cache on, 100 iterations, unbounded, the real score. */
void ms_processor_config_default(ms_processor_config *cfg);
/* cfg NULL means the defaults. */
int ms_processor_new(const ms_processor_config *cfg, ms_processor **out);
void ms_processor_free(ms_processor *p);
/* calculate_risk_score(): from the cache when enabled and present, else computed (and cached).
 * Thread-safe; a caller that finds the processor's digest context busy uses a temporary one. */
int ms_processor_score(ms_processor *p, const ms_transaction *t, double *score);
/* The same with the caller's digest context (one per thread; batch workers use this). */
int ms_processor_score_ctx(ms_processor *p, ms_crypto_ctx *cx, const ms_transaction *t, double *score);
/* _get_cache_key(): lowercase hex MD5 of the canonical JSON. */
int ms_processor_cache_key(ms_processor *p, const ms_transaction *t, char out[MS_MD5_HEX_LEN]);
/* Zeroes when the cache is disabled. */
void ms_processor_cache_stats(ms_processor *p, ms_cache_stats *out);
void ms_processor_cache_clear(ms_processor *p);
const ms_crypto *ms_processor_crypto(const ms_processor *p);
const char *ms_processor_strerror(int status);

/* ---- batch.c: process_batch and a truly parallel process_batch_parallel ---- */

/* A result row: every input field (strings shared with the input, like the Python original's
 * dict.copy()) plus the risk score. */
typedef struct ms_scored {
    ms_transaction txn;
    double risk_score;
} ms_scored;

/* out has room for n rows and receives them in input order. On failure the rows are unspecified. */
int ms_batch_process(ms_processor *p, const ms_transaction *in, size_t n, ms_scored *out);
/* The same on `threads` threads (the caller's included); results equal ms_batch_process's. Work is
 * handed out in small chunks so a slow core does not hold the batch back. */
int ms_batch_process_parallel(ms_processor *p, const ms_transaction *in, size_t n, ms_scored *out,
                              unsigned threads);

/* ---- jsonl.c: transactions from JSON Lines (jansson) ---- */

/* Transactions read from a file; owns their strings. */
typedef struct ms_jsonl {
    ms_transaction *txns;
    size_t count;
    size_t skipped; /* malformed lines skipped */
} ms_jsonl;

/* Called for each malformed line: its number (0: the file itself) and what is wrong, e.g.
 * "'amount' must be a number". */
typedef void (*ms_jsonl_report_fn)(void *user, const char *path, size_t line, const char *what);

/* Reads {"amount": number, "merchant": string, "customer_id": string} per line (blank lines ignored).
 * A malformed line is reported and skipped, or with strict ends the read with MS_PROC_EINVAL.
 * MS_PROC_EINVAL also when the file cannot be opened (reported with line 0). */
int ms_jsonl_read(const char *path, bool strict, ms_jsonl_report_fn report, void *user, ms_jsonl *out);
void ms_jsonl_free(ms_jsonl *j);

#endif
