/* SHA-256 and MD5 through EVP: the algorithms are fetched once (a fetch per call costs more than the
 * digest), and each thread reuses its own contexts, so a digest allocates nothing. */
#include "processor.h"

#include <stdlib.h>

#include <openssl/evp.h>

struct ms_crypto {
    EVP_MD *sha256;
    EVP_MD *md5;
};

struct ms_crypto_ctx {
    const ms_crypto *algs;
    EVP_MD_CTX *sha256;
    EVP_MD_CTX *md5;
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
    cx->sha256 = EVP_MD_CTX_new();
    cx->md5 = EVP_MD_CTX_new();
    /* The first init allocates the provider state; later inits of the same digest reuse it. */
    if (!cx->sha256 || !cx->md5 || !EVP_DigestInit_ex2(cx->sha256, c->sha256, NULL) ||
        !EVP_DigestInit_ex2(cx->md5, c->md5, NULL)) {
        ms_crypto_ctx_free(cx);
        return MS_PROC_ECRYPTO;
    }
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

static int crypto_digest(EVP_MD_CTX *ctx, const EVP_MD *md, const void *data, size_t len,
                         unsigned char *out)
{
    if (!EVP_DigestInit_ex2(ctx, md, NULL) || !EVP_DigestUpdate(ctx, data, len) ||
        !EVP_DigestFinal_ex(ctx, out, NULL))
        return MS_PROC_ECRYPTO;
    return MS_PROC_OK;
}

int ms_crypto_sha256(ms_crypto_ctx *cx, const void *data, size_t len, unsigned char out[MS_SHA256_LEN])
{
    if (!cx || (!data && len) || !out)
        return MS_PROC_ENULL;
    return crypto_digest(cx->sha256, cx->algs->sha256, data, len, out);
}

int ms_crypto_md5(ms_crypto_ctx *cx, const void *data, size_t len, unsigned char out[MS_MD5_LEN])
{
    if (!cx || (!data && len) || !out)
        return MS_PROC_ENULL;
    return crypto_digest(cx->md5, cx->algs->md5, data, len, out);
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
