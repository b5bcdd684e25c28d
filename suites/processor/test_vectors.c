/* Every reference vector (vectors.jsonl, computed by the Python original): canonical JSON and MD5 byte
 * for byte, scores for 100 and 10 iterations as exact doubles. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "processor.h"

static const char *vectors_path;

static void check_vector(json_t *v, size_t line)
{
    json_t *t = json_object_get(v, "transaction");
    assert_non_null(t);
    ms_transaction txn = {
        .amount = json_real_value(json_object_get(t, "amount")),
        .merchant = json_string_value(json_object_get(t, "merchant")),
        .customer_id = json_string_value(json_object_get(t, "customer_id")),
    };
    assert_true(json_is_real(json_object_get(t, "amount")));
    const char *want_json = json_string_value(json_object_get(v, "canonical_json"));
    const char *want_md5 = json_string_value(json_object_get(v, "cache_key_md5"));
    json_t *s100 = json_object_get(v, "score_100_iterations");
    json_t *s10 = json_object_get(v, "score_10_iterations");
    assert_true(txn.merchant && txn.customer_id && want_json && want_md5 && json_is_real(s100) &&
                json_is_real(s10));

    char json[1024];
    size_t len;
    assert_int_equal(ms_json_transaction(&txn, json, sizeof json, &len), MS_PROC_OK);
    if (strcmp(json, want_json) != 0)
        print_error("line %zu: canonical JSON differs\n", line);
    assert_string_equal(json, want_json);
    assert_int_equal(len, strlen(want_json));

    unsigned iterations[2] = {100, 10};
    json_t *want_scores[2] = {s100, s10};
    for (int k = 0; k < 2; k++) {
        ms_processor_config cfg;
        ms_processor_config_default(&cfg);
        cfg.iterations = iterations[k];
        ms_processor *p;
        assert_int_equal(ms_processor_new(&cfg, &p), MS_PROC_OK);
        char key[MS_MD5_HEX_LEN];
        assert_int_equal(ms_processor_cache_key(p, &txn, key), MS_PROC_OK);
        assert_string_equal(key, want_md5);
        double score;
        assert_int_equal(ms_processor_score(p, &txn, &score), MS_PROC_OK);
        double want = json_real_value(want_scores[k]);
        if (score != want)
            fail_msg("line %zu: %u iterations: score %.17g, want %.17g", line, iterations[k], score, want);
        ms_processor_free(p);
    }
}

static void every_reference_vector_matches_python(void **state)
{
    (void)state;
    FILE *f = fopen(vectors_path, "r");
    if (!f)
        fail_msg("cannot open %s", vectors_path);
    char buf[4096];
    size_t line = 0, checked = 0;
    while (fgets(buf, sizeof buf, f)) {
        line++;
        json_error_t err;
        json_t *v = json_loads(buf, 0, &err);
        if (!v)
            fail_msg("%s:%zu: %s", vectors_path, line, err.text);
        check_vector(v, line);
        json_decref(v);
        checked++;
    }
    fclose(f);
    assert_int_equal(checked, line);
    assert_true(checked >= 15);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s vectors.jsonl\n", argv[0]);
        return 2;
    }
    vectors_path = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_reference_vector_matches_python),
    };
    return cmocka_run_group_tests_name("processor reference vectors", tests, NULL, NULL);
}
