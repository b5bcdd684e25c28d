/* The Python original's risk score: sum over i of sum(SHA-256(json + str(i))) / 1e6, divided by the
 * iteration count, capped at 1.0. The same double operations in the same order as Python, so the result
 * is bit-identical. Every message shares the JSON as prefix, so its whole 64-byte blocks are hashed once
 * (for the standard 67-byte transaction, half the compression work). */
#include "processor.h"

#include <string.h>

#define SCORE_MAX_DIGITS 10 /* an unsigned iteration number */

static size_t score_utoa(unsigned v, char *out)
{
    char tmp[SCORE_MAX_DIGITS];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

/* sum(digest) a 32-bit word at a time, as SHA256_Final stores it (a wider load would wait for the stores
 * to retire): two 16-bit lanes of byte-pair sums, at most 16 * 255 each. */
static unsigned score_byte_sum(const unsigned char *d)
{
    uint32_t lanes = 0;
    for (size_t k = 0; k < MS_SHA256_LEN; k += 4) {
        uint32_t w;
        memcpy(&w, d + k, sizeof w);
        lanes += (w & 0x00FF00FFu) + ((w >> 8) & 0x00FF00FFu);
    }
    return (lanes & 0xFFFFu) + (lanes >> 16);
}

int ms_score_risk(void *user, ms_crypto_ctx *cx, const char *json, size_t len, unsigned iterations,
                  double *score)
{
    (void)user;
    if (!cx || !json || !score)
        return MS_PROC_ENULL;
    if (iterations == 0)
        return MS_PROC_EINVAL;
    int rc = ms_crypto_sha256_prefix(cx, json, len);
    if (rc != MS_PROC_OK)
        return rc;
    double sum = 0.0;
    for (unsigned i = 0; i < iterations; i++) {
        char digits[SCORE_MAX_DIGITS];
        unsigned char digest[MS_SHA256_LEN];
        rc = ms_crypto_sha256_suffix(cx, digits, score_utoa(i, digits), digest);
        if (rc != MS_PROC_OK)
            return rc;
        sum += (double)score_byte_sum(digest) / 1000000.0;
    }
    double s = sum / (double)iterations;
    *score = s < 1.0 ? s : 1.0;
    return MS_PROC_OK;
}
