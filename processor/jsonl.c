/* Transactions from JSON Lines. Each line must be {"amount": number, "merchant": string,
 * "customer_id": string}; anything else is reported with its line number, never trusted. */
#include "processor.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static void jsonl_report(ms_jsonl_report_fn report, void *user, const char *path, size_t line,
                         const char *fmt, ...) __attribute__((format(printf, 5, 6)));


static void jsonl_report(ms_jsonl_report_fn report, void *user, const char *path, size_t line,
                         const char *fmt, ...)
{
    if (!report)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    report(user, path, line, msg);
}

static bool jsonl_blank(const char *s)
{
    for (; *s; s++) {
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
            return false;
    }
    return true;
}

/* Fills t from one parsed line; on failure writes what is wrong into why and returns false. */
static bool jsonl_transaction(json_t *obj, ms_transaction *t, char *why, size_t whylen)
{
    if (!json_is_object(obj)) {
        snprintf(why, whylen, "expected a JSON object");
        return false;
    }
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val)
    {
        if (strcmp(key, "amount") && strcmp(key, "merchant") && strcmp(key, "customer_id")) {
            snprintf(why, whylen, "unexpected key '%s' (expected amount, merchant, customer_id)", key);
            return false;
        }
    }
    json_t *amount = json_object_get(obj, "amount");
    json_t *merchant = json_object_get(obj, "merchant");
    json_t *customer = json_object_get(obj, "customer_id");
    if (!amount || !merchant || !customer) {
        snprintf(why, whylen, "missing key '%s'", !amount ? "amount" : !merchant ? "merchant" : "customer_id");
        return false;
    }
    if (!json_is_number(amount)) {
        snprintf(why, whylen, "'amount' must be a number");
        return false;
    }
    if (!json_is_string(merchant) || !json_is_string(customer)) {
        snprintf(why, whylen, "'%s' must be a string", !json_is_string(merchant) ? "merchant" : "customer_id");
        return false;
    }
    t->amount = json_number_value(amount);
    t->merchant = json_string_value(merchant);
    t->customer_id = json_string_value(customer);
    return true;
}

static int jsonl_append(ms_jsonl *out, size_t *cap, const ms_transaction *t)
{
    if (out->count == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        ms_transaction *n = realloc(out->txns, ncap * sizeof *n);
        if (!n)
            return MS_PROC_ENOMEM;
        out->txns = n;
        *cap = ncap;
    }
    char *m = strdup(t->merchant);
    char *c = strdup(t->customer_id);
    if (!m || !c) {
        free(m);
        free(c);
        return MS_PROC_ENOMEM;
    }
    out->txns[out->count++] = (ms_transaction){.amount = t->amount, .merchant = m, .customer_id = c};
    return MS_PROC_OK;
}

int ms_jsonl_read(const char *path, bool strict, ms_jsonl_report_fn report, void *user, ms_jsonl *out)
{
    if (!path || !out)
        return MS_PROC_ENULL;
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "r");
    if (!f) {
        jsonl_report(report, user, path, 0, "cannot open: %s", strerror(errno));
        return MS_PROC_EINVAL;
    }
    char *line = NULL;
    size_t linecap = 0, cap = 0, lineno = 0;
    ssize_t got;
    int rc = MS_PROC_OK;
    errno = 0;
    while ((got = getline(&line, &linecap, f)) >= 0) {
        lineno++;
        if (jsonl_blank(line))
            continue;
        if (strlen(line) != (size_t)got) {
            jsonl_report(report, user, path, lineno, "NUL byte in line");
        } else {
            json_error_t err;
            json_t *obj = json_loads(line, JSON_REJECT_DUPLICATES, &err);
            char why[300];
            ms_transaction t;
            if (!obj) {
                jsonl_report(report, user, path, lineno, "invalid JSON: %s (column %d)", err.text, err.column);
            } else if (!jsonl_transaction(obj, &t, why, sizeof why)) {
                jsonl_report(report, user, path, lineno, "%s", why);
            } else {
                rc = jsonl_append(out, &cap, &t);
                json_decref(obj);
                if (rc != MS_PROC_OK)
                    break;
                continue;
            }
            json_decref(obj);
        }
        out->skipped++;
        if (strict) {
            rc = MS_PROC_EINVAL;
            break;
        }
    }
    if (rc == MS_PROC_OK && ferror(f)) {
        jsonl_report(report, user, path, lineno, "read error: %s", strerror(errno));
        rc = MS_PROC_EINVAL;
    }
    free(line);
    fclose(f);
    if (rc != MS_PROC_OK)
        ms_jsonl_free(out);
    return rc;
}

void ms_jsonl_free(ms_jsonl *j)
{
    if (!j)
        return;
    for (size_t i = 0; i < j->count; i++) {
        free((char *)j->txns[i].merchant);
        free((char *)j->txns[i].customer_id);
    }
    free(j->txns);
    memset(j, 0, sizeof *j);
}
