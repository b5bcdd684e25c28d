/* The score's cost model: scoring allocates nothing per iteration, neither in libprocessor (counted
 * through -Wl,--wrap) nor inside libcrypto (counted through its allocator hooks; the EVP fallback build
 * is allowed exactly OpenSSL 3.0's one allocation per digest). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "processor.h"
#include "tap.h"

static atomic_long crypto_allocs, lib_allocs;

void *__real_malloc(size_t n);
void *__wrap_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__wrap_calloc(size_t n, size_t m);

static void *count_malloc(size_t n, const char *file, int line)
{
    (void)file, (void)line;
    atomic_fetch_add(&crypto_allocs, 1);
    return __real_malloc(n); /* not counted twice */
}

static void *count_realloc(void *p, size_t n, const char *file, int line)
{
    (void)file, (void)line;
    atomic_fetch_add(&crypto_allocs, 1);
    return realloc(p, n);
}

static void count_free(void *p, const char *file, int line)
{
    (void)file, (void)line;
    free(p);
}

void *__wrap_malloc(size_t n)
{
    atomic_fetch_add(&lib_allocs, 1);
    return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m)
{
    atomic_fetch_add(&lib_allocs, 1);
    return __real_calloc(n, m);
}

/* The EVP fallback pays OpenSSL 3.0's one provider allocation per digest; nothing else may allocate. */
static bool evp_backend(void)
{
    return strncmp(ms_crypto_backend(), "EVP", 3) == 0;
}

static long allocs_for_score(ms_processor *p, const ms_transaction *t, double *score, long digests)
{
    long lib = atomic_load(&lib_allocs), crypto = atomic_load(&crypto_allocs);
    assert_int_equal(ms_processor_score(p, t, score), MS_PROC_OK);
    lib = atomic_load(&lib_allocs) - lib;
    crypto = atomic_load(&crypto_allocs) - crypto;
    if (evp_backend() && digests >= 0) {
        assert_int_equal(crypto, digests);
        return lib;
    }
    return lib + crypto;
}

static void scoring_allocates_nothing_per_iteration(void **state)
{
    (void)state;
    ms_processor_config cfg;
    ms_processor_config_default(&cfg);
    cfg.cache_enabled = false;
    ms_transaction t = {.amount = 100.0, .merchant = "Test Store", .customer_id = "C123"};
    unsigned iterations[3] = {1, 100, 1000};
    for (int k = 0; k < 3; k++) {
        cfg.iterations = iterations[k];
        ms_processor *p;
        assert_int_equal(ms_processor_new(&cfg, &p), MS_PROC_OK);
        double s;
        allocs_for_score(p, &t, &s, -1); /* first use may set up provider state */
        long n = allocs_for_score(p, &t, &s, iterations[k]);
        if (n != 0)
            fail_msg("%u iterations: %ld allocations per score", iterations[k], n);
        ms_processor_free(p);
    }
}

static void cache_hit_allocates_nothing(void **state)
{
    (void)state;
    ms_processor *p;
    assert_int_equal(ms_processor_new(NULL, &p), MS_PROC_OK);
    ms_transaction t = {.amount = 100.0, .merchant = "Test Store", .customer_id = "C123"};
    double s1, s2;
    allocs_for_score(p, &t, &s1, -1);
    assert_int_equal(allocs_for_score(p, &t, &s2, 1), 0);
    assert_true(s1 == s2);
    ms_processor_free(p);
}

static void long_transactions_take_one_buffer_per_call_not_per_iteration(void **state)
{
    (void)state;
    char merchant[2000];
    memset(merchant, 'x', sizeof merchant - 1);
    merchant[sizeof merchant - 1] = '\0';
    ms_transaction t = {.amount = 1.0, .merchant = merchant, .customer_id = "C"};
    ms_processor_config cfg;
    ms_processor_config_default(&cfg);
    cfg.cache_enabled = false;
    long counts[2];
    unsigned iterations[2] = {10, 1000};
    for (int k = 0; k < 2; k++) {
        cfg.iterations = iterations[k];
        ms_processor *p;
        assert_int_equal(ms_processor_new(&cfg, &p), MS_PROC_OK);
        double s;
        allocs_for_score(p, &t, &s, -1);
        counts[k] = allocs_for_score(p, &t, &s, iterations[k]);
        ms_processor_free(p);
    }
    assert_int_equal(counts[0], 1); /* the JSON buffer */
    assert_int_equal(counts[0], counts[1]);
}

static void zero_iterations_is_invalid(void **state)
{
    (void)state;
    ms_crypto *c;
    ms_crypto_ctx *cx;
    assert_int_equal(ms_crypto_new(&c), MS_PROC_OK);
    assert_int_equal(ms_crypto_ctx_new(c, &cx), MS_PROC_OK);
    double s = 3.0;
    assert_int_equal(ms_score_risk(NULL, cx, "{}", 2, 0, &s), MS_PROC_EINVAL);
    assert_int_equal(ms_score_risk(NULL, NULL, "{}", 2, 1, &s), MS_PROC_ENULL);
    assert_true(s == 3.0);
    /* Known answers: SHA-256("") and MD5(""). */
    unsigned char d[MS_SHA256_LEN];
    char hex[2 * MS_SHA256_LEN + 1];
    assert_int_equal(ms_crypto_sha256(cx, "", 0, d), MS_PROC_OK);
    ms_crypto_hex(d, MS_SHA256_LEN, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_int_equal(ms_crypto_md5(cx, "", 0, d), MS_PROC_OK);
    ms_crypto_hex(d, MS_MD5_LEN, hex);
    assert_string_equal(hex, "d41d8cd98f00b204e9800998ecf8427e");
    ms_crypto_ctx_free(cx);
    ms_crypto_free(c);
}

int main(void)
{
    /* Must precede libcrypto's first allocation. */
    if (!CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free)) {
        return ms_tap_skip_all("cannot install libcrypto allocation hooks");
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scoring_allocates_nothing_per_iteration),
        cmocka_unit_test(cache_hit_allocates_nothing),
        cmocka_unit_test(long_transactions_take_one_buffer_per_call_not_per_iteration),
        cmocka_unit_test(zero_iterations_is_invalid),
    };
    return cmocka_run_group_tests_name("processor score", tests, NULL, NULL);
}
