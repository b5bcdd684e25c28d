/* SHA-256 and MD5. The algorithms are fetched through EVP once (a fetch per call costs more than the
 * digest) and each thread reuses its own contexts. OpenSSL 3.0 still frees and re-creates the provider
 * state at every EVP_DigestInit (112 bytes, one malloc/free per digest, 100 per score; about 170 ns per
 * digest here against 96 ns for SHA256_Init/Update/Final on a stack context). So where the low-level
 * functions exist (MS_CRYPTO_LOWLEVEL, found by meson) digests run on stack contexts: no allocation at
 * all. EVP remains the fallback for libcrypto builds without the deprecated API. */
#ifdef MS_CRYPTO_LOWLEVEL
#define OPENSSL_SUPPRESS_DEPRECATED
#endif
#include "processor.h"

#include <stdlib.h>

#include <openssl/evp.h>
#ifdef MS_CRYPTO_LOWLEVEL
#include <openssl/md5.h>
#include <openssl/sha.h>
#endif

struct ms_crypto {
    EVP_MD *sha256;
    EVP_MD *md5;
};

struct ms_crypto_ctx {
    const ms_crypto *algs;
    EVP_MD_CTX *sha256;
    EVP_MD_CTX *md5;
    /* ms_crypto_sha256_prefix(): the state after the prefix (low-level), or the prefix itself (EVP). */
#ifdef MS_CRYPTO_LOWLEVEL
    SHA256_CTX prefix_state;
#endif
    const void *prefix;
    size_t prefix_len;
};

int ms_crypto_new(ms_crypto **out)
{
    if (!out)
        return MS_PROC_ENULL;
    ms_crypto *c = calloc(1, sizeof *c);
    if (!c)
        return MS_PROC_ENOMEM;
    c->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    c->md5 = EVP_MD_fetch(NULL, "MD5", NULL);
    if (!c->sha256 || !c->md5) {
        ms_crypto_free(c);
        return MS_PROC_ECRYPTO;
    }
    *out = c;
    return MS_PROC_OK;
}

void ms_crypto_free(ms_crypto *c)
{
    if (!c)
        return;
    EVP_MD_free(c->sha256);
    EVP_MD_free(c->md5);
    free(c);
}

int ms_crypto_ctx_new(const ms_crypto *c, ms_crypto_ctx **out)
{
    if (!c || !out)
        return MS_PROC_ENULL;
    ms_crypto_ctx *cx = calloc(1, sizeof *cx);
    if (!cx)
        return MS_PROC_ENOMEM;
    cx->algs = c;
#ifndef MS_CRYPTO_LOWLEVEL
    cx->sha256 = EVP_MD_CTX_new();
    cx->md5 = EVP_MD_CTX_new();
    if (!cx->sha256 || !cx->md5) {
        ms_crypto_ctx_free(cx);
        return MS_PROC_ENOMEM;
    }
#endif
    *out = cx;
    return MS_PROC_OK;
}

void ms_crypto_ctx_free(ms_crypto_ctx *cx)
{
    if (!cx)
        return;
    EVP_MD_CTX_free(cx->sha256);
    EVP_MD_CTX_free(cx->md5);
    free(cx);
}

const char *ms_crypto_backend(void)
{
#ifdef MS_CRYPTO_LOWLEVEL
    return "SHA256_Init/MD5_Init on stack contexts";
#else
    return "EVP (digest fetched once, context reused)";
#endif
}

#ifndef MS_CRYPTO_LOWLEVEL
static int crypto_digest(EVP_MD_CTX *ctx, const EVP_MD *md, const void *data, size_t len,
                         unsigned char *out)
{
    if (!EVP_DigestInit_ex2(ctx, md, NULL) || !EVP_DigestUpdate(ctx, data, len) ||
        !EVP_DigestFinal_ex(ctx, out, NULL))
        return MS_PROC_ECRYPTO;
    return MS_PROC_OK;
}

#endif

int ms_crypto_sha256(ms_crypto_ctx *cx, const void *data, size_t len, unsigned char out[MS_SHA256_LEN])
{
    if (!cx || (!data && len) || !out)
        return MS_PROC_ENULL;
#ifdef MS_CRYPTO_LOWLEVEL
    SHA256_CTX c;
    if (!SHA256_Init(&c) || !SHA256_Update(&c, data, len) || !SHA256_Final(out, &c))
        return MS_PROC_ECRYPTO;
    return MS_PROC_OK;
#else
    return crypto_digest(cx->sha256, cx->algs->sha256, data, len, out);
#endif
}

int ms_crypto_sha256_prefix(ms_crypto_ctx *cx, const void *prefix, size_t len)
{
    if (!cx || (!prefix && len))
        return MS_PROC_ENULL;
    cx->prefix = prefix;
    cx->prefix_len = len;
#ifdef MS_CRYPTO_LOWLEVEL
    if (!SHA256_Init(&cx->prefix_state) || !SHA256_Update(&cx->prefix_state, prefix, len))
        return MS_PROC_ECRYPTO;
#endif
    return MS_PROC_OK;
}

int ms_crypto_sha256_suffix(ms_crypto_ctx *cx, const void *suffix, size_t len, unsigned char out[MS_SHA256_LEN])
{
    if (!cx || (!suffix && len) || !out)
        return MS_PROC_ENULL;
#ifdef MS_CRYPTO_LOWLEVEL
    /* A struct copy resumes after the prefix: its whole blocks are never compressed again. */
    SHA256_CTX c = cx->prefix_state;
    if (!SHA256_Update(&c, suffix, len) || !SHA256_Final(out, &c))
        return MS_PROC_ECRYPTO;
#else
    /* EVP_MD_CTX_copy_ex() would allocate a provider context per copy in OpenSSL 3.0: rehash instead. */
    if (!EVP_DigestInit_ex2(cx->sha256, cx->algs->sha256, NULL) ||
        !EVP_DigestUpdate(cx->sha256, cx->prefix, cx->prefix_len) ||
        !EVP_DigestUpdate(cx->sha256, suffix, len) || !EVP_DigestFinal_ex(cx->sha256, out, NULL))
        return MS_PROC_ECRYPTO;
#endif
    return MS_PROC_OK;
}

int ms_crypto_md5(ms_crypto_ctx *cx, const void *data, size_t len, unsigned char out[MS_MD5_LEN])
{
    if (!cx || (!data && len) || !out)
        return MS_PROC_ENULL;
#ifdef MS_CRYPTO_LOWLEVEL
    MD5_CTX c;
    if (!MD5_Init(&c) || !MD5_Update(&c, data, len) || !MD5_Final(out, &c))
        return MS_PROC_ECRYPTO;
    return MS_PROC_OK;
#else
    return crypto_digest(cx->md5, cx->algs->md5, data, len, out);
#endif
}

void ms_crypto_hex(const unsigned char *bytes, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[bytes[i] >> 4];
        out[2 * i + 1] = hex[bytes[i] & 0xF];
    }
    out[2 * n] = '\0';
}
