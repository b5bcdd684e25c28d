/* The seed's risk score: sum over i of sum(SHA-256(json + str(i))) / 1e6, divided by the iteration count,
 * capped at 1.0. The same double operations in the same order as Python, so the result is bit-identical. */
#include "processor.h"

#include <stdlib.h>
#include <string.h>

/* Canonical JSON of ordinary transactions is under 200 bytes; longer ones take one heap buffer per call. */
#define SCORE_STACK_MSG 512
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

int ms_score_risk(void *user, ms_crypto_ctx *cx, const char *json, size_t len, unsigned iterations,
                  double *score)
{
    (void)user;
    if (!cx || !json || !score)
        return MS_PROC_ENULL;
    if (iterations == 0)
        return MS_PROC_EINVAL;
    char stack[SCORE_STACK_MSG];
    char *msg = stack;
    if (len > SCORE_STACK_MSG - SCORE_MAX_DIGITS) {
        msg = malloc(len + SCORE_MAX_DIGITS);
        if (!msg)
            return MS_PROC_ENOMEM;
    }
    memcpy(msg, json, len);

    double sum = 0.0;
    int rc = MS_PROC_OK;
    for (unsigned i = 0; i < iterations; i++) {
        unsigned char digest[MS_SHA256_LEN];
        size_t n = len + score_utoa(i, msg + len);
        rc = ms_crypto_sha256(cx, msg, n, digest);
        if (rc != MS_PROC_OK)
            break;
        unsigned bytes = 0;
        for (size_t k = 0; k < MS_SHA256_LEN; k++)
            bytes += digest[k];
        sum += (double)bytes / 1000000.0;
    }
    if (msg != stack)
        free(msg);
    if (rc != MS_PROC_OK)
        return rc;
    double s = sum / (double)iterations;
    *score = s < 1.0 ? s : 1.0;
    return MS_PROC_OK;
}
