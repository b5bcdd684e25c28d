/* Canonical JSON and float repr against Python's own output (python_oracle.h, from oracle.py): escapes,
 * \u escapes, surrogate pairs, float forms; and invalid UTF-8 rejected rather than passed through. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "processor.h"
#include "python_oracle.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void canonical_json_matches_python_json_dumps(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(oracle_txns); i++) {
        const oracle_txn *o = &oracle_txns[i];
        ms_transaction t = {.amount = o->amount, .merchant = o->merchant, .customer_id = o->customer_id};
        size_t cap = ms_json_transaction_bound(&t), len;
        char *buf = malloc(cap);
        assert_non_null(buf);
        assert_int_equal(ms_json_transaction(&t, buf, cap, &len), MS_PROC_OK);
        if (strcmp(buf, o->json) != 0)
            fail_msg("case %zu:\n  got  %s\n  want %s", i, buf, o->json);
        assert_int_equal(len, strlen(o->json));
        free(buf);
    }
}

static void scores_and_keys_match_python_for_edge_cases(void **state)
{
    (void)state;
    ms_processor *p100, *p10;
    ms_processor_config cfg;
    ms_processor_config_default(&cfg);
    assert_int_equal(ms_processor_new(&cfg, &p100), MS_PROC_OK);
    cfg.iterations = 10;
    assert_int_equal(ms_processor_new(&cfg, &p10), MS_PROC_OK);
    for (size_t i = 0; i < COUNT(oracle_txns); i++) {
        const oracle_txn *o = &oracle_txns[i];
        ms_transaction t = {.amount = o->amount, .merchant = o->merchant, .customer_id = o->customer_id};
        char key[MS_MD5_HEX_LEN];
        double s100, s10;
        assert_int_equal(ms_processor_cache_key(p100, &t, key), MS_PROC_OK);
        assert_string_equal(key, o->md5);
        assert_int_equal(ms_processor_score(p100, &t, &s100), MS_PROC_OK);
        assert_int_equal(ms_processor_score(p10, &t, &s10), MS_PROC_OK);
        if (s100 != o->score100 || s10 != o->score10)
            fail_msg("case %zu: scores %a %a, want %a %a", i, s100, s10, o->score100, o->score10);
    }
    ms_processor_free(p100);
    ms_processor_free(p10);
}

static void float_repr_matches_python_repr(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(oracle_reprs); i++) {
        char buf[MS_REPR_MAX];
        size_t n = ms_repr_double(oracle_reprs[i].x, buf);
        if (strcmp(buf, oracle_reprs[i].repr) != 0)
            fail_msg("%a: got %s, want %s", oracle_reprs[i].x, buf, oracle_reprs[i].repr);
        assert_int_equal(n, strlen(buf));
    }
}

/* The forms named in the specification, written out so a reader sees them at once. */
static void float_repr_uses_pythons_forms(void **state)
{
    (void)state;
    static const struct { double x; const char *want; } cases[] = {
        {100.0, "100.0"}, {0.1, "0.1"}, {1e16, "1e+16"}, {1.5e-07, "1.5e-07"}, {-0.0, "-0.0"},
        {1e-05, "1e-05"}, {0.0001, "0.0001"}, {123456789012345680.0, "1.2345678901234568e+17"},
        {9999999999999998.0, "9999999999999998.0"}, {1e22, "1e+22"}, {5e-324, "5e-324"},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        char buf[MS_REPR_MAX];
        ms_repr_double(cases[i].x, buf);
        assert_string_equal(buf, cases[i].want);
    }
}

static void invalid_utf8_is_rejected(void **state)
{
    (void)state;
    static const char *bad[] = {
        "\x80",             /* lone continuation byte */
        "caf\xc3",          /* truncated sequence */
        "\xc0\xaf",         /* overlong '/' */
        "\xe0\x80\xaf",     /* overlong, 3 bytes */
        "\xed\xa0\x80",     /* UTF-16 surrogate D800 */
        "\xf4\x90\x80\x80", /* above U+10FFFF */
        "\xff",             /* never valid */
        "ok\xe2\x82",       /* truncated at the end */
    };
    for (size_t i = 0; i < COUNT(bad); i++) {
        assert_false(ms_json_utf8_valid(bad[i], strlen(bad[i])));
        ms_transaction t = {.amount = 1.0, .merchant = bad[i], .customer_id = "C"};
        char buf[256];
        size_t len;
        assert_int_equal(ms_json_transaction(&t, buf, sizeof buf, &len), MS_PROC_EUTF8);
        t = (ms_transaction){.amount = 1.0, .merchant = "M", .customer_id = bad[i]};
        assert_int_equal(ms_json_transaction(&t, buf, sizeof buf, &len), MS_PROC_EUTF8);
    }
    static const char good[] = "\xf4\x8f\xbf\xbf \xef\xbf\xbf \xc2\x80";
    assert_true(ms_json_utf8_valid(good, strlen(good)));
}

static void too_small_buffer_is_an_error_not_an_overflow(void **state)
{
    (void)state;
    ms_transaction t = {.amount = 100.0, .merchant = "Test Store \xf0\x9f\x98\x80", .customer_id = "C123"};
    size_t bound = ms_json_transaction_bound(&t);
    char *buf = malloc(bound);
    size_t len, full;
    assert_int_equal(ms_json_transaction(&t, buf, bound, &full), MS_PROC_OK);
    /* Every capacity below the bound either fits the output exactly or says EINVAL (ASan checks the
     * writes stay inside). */
    for (size_t cap = 0; cap < bound; cap++) {
        char *small = malloc(cap ? cap : 1);
        int rc = ms_json_transaction(&t, small, cap, &len);
        assert_true(rc == MS_PROC_EINVAL || (rc == MS_PROC_OK && len == full && len < cap));
        free(small);
    }
    free(buf);
}

static void json_string_escapes_a_json_document(void **state)
{
    (void)state;
    char buf[128];
    size_t len = 0;
    assert_int_equal(ms_json_string("{\"a\": \"\\u00e9\"}", buf, sizeof buf, &len), MS_PROC_OK);
    assert_string_equal(buf, "\"{\\\"a\\\": \\\"\\\\u00e9\\\"}\"");
    assert_int_equal(len, strlen(buf));
    assert_int_equal(ms_json_string(NULL, buf, sizeof buf, &len), MS_PROC_ENULL);
    ms_transaction t = {.amount = 1.0, .merchant = NULL, .customer_id = "C"};
    assert_int_equal(ms_json_transaction(&t, buf, sizeof buf, &len), MS_PROC_ENULL);
    assert_int_equal(ms_json_transaction_bound(&t), 0);
}

/* xorshift64*: a fixed sequence, so a failure reproduces. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static void float_repr_reads_back_as_the_same_double(void **state)
{
    (void)state;
    for (int i = 0; i < 200000; i++) {
        uint64_t bits = rng();
        double x;
        memcpy(&x, &bits, sizeof x);
        if (isnan(x) || isinf(x))
            continue;
        char buf[MS_REPR_MAX];
        ms_repr_double(x, buf);
        if (strtod(buf, NULL) != x || signbit(strtod(buf, NULL)) != signbit(x))
            fail_msg("%a: %s does not read back", x, buf);
    }
}

/* Appends the UTF-8 of code point cp. */
static size_t put_utf8(unsigned long cp, char *o)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    } else if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static void random_string(char *s, size_t max_chars)
{
    size_t n = (size_t)(rng() % max_chars), len = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned long cp;
        switch (rng() % 4) {
        case 0: cp = 1 + rng() % 0x7F; break;          /* ASCII, controls included */
        case 1: cp = 0x80 + rng() % (0x800 - 0x80); break;
        case 2: cp = 0x800 + rng() % (0x10000 - 0x800); break;
        default: cp = 0x10000 + rng() % (0x110000 - 0x10000); break;
        }
        if (cp >= 0xD800 && cp <= 0xDFFF)
            cp = 'x';
        len += put_utf8(cp, s + len);
    }
    s[len] = '\0';
}

/* Any valid transaction's canonical JSON is ASCII and parses back (jansson) to the same values. */
static void canonical_json_parses_back_to_the_transaction(void **state)
{
    (void)state;
    static char merchant[4 * 40 + 1], customer[4 * 40 + 1];
    for (int i = 0; i < 20000; i++) {
        random_string(merchant, 40);
        random_string(customer, 40);
        uint64_t bits = rng();
        double amount;
        memcpy(&amount, &bits, sizeof amount);
        if (isnan(amount) || isinf(amount))
            amount = 1.5;
        ms_transaction t = {.amount = amount, .merchant = merchant, .customer_id = customer};
        char buf[2048];
        size_t len;
        assert_int_equal(ms_json_transaction(&t, buf, sizeof buf, &len), MS_PROC_OK);
        for (size_t k = 0; k < len; k++)
            assert_true(buf[k] >= 0x20 && buf[k] < 0x7F);
        json_error_t err;
        json_t *o = json_loadb(buf, len, 0, &err);
        if (!o)
            fail_msg("%s: %s", buf, err.text);
        assert_int_equal(json_object_size(o), 3);
        assert_string_equal(json_string_value(json_object_get(o, "merchant")), merchant);
        assert_string_equal(json_string_value(json_object_get(o, "customer_id")), customer);
        json_t *a = json_object_get(o, "amount");
        double back = json_is_integer(a) ? (double)json_integer_value(a) : json_real_value(a);
        assert_true(back == amount);
        json_decref(o);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(canonical_json_matches_python_json_dumps),
        cmocka_unit_test(scores_and_keys_match_python_for_edge_cases),
        cmocka_unit_test(float_repr_matches_python_repr),
        cmocka_unit_test(float_repr_uses_pythons_forms),
        cmocka_unit_test(invalid_utf8_is_rejected),
        cmocka_unit_test(too_small_buffer_is_an_error_not_an_overflow),
        cmocka_unit_test(json_string_escapes_a_json_document),
        cmocka_unit_test(float_repr_reads_back_as_the_same_double),
        cmocka_unit_test(canonical_json_parses_back_to_the_transaction),
    };
    return cmocka_run_group_tests_name("processor canonical JSON", tests, NULL, NULL);
}
