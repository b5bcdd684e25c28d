/* Canonical JSON of a transaction, byte for byte Python's json.dumps(t, sort_keys=True): keys sorted,
 * ", " and ": " separators, ensure_ascii escapes (lowercase \uXXXX, surrogate pairs above U+FFFF). */
#include "processor.h"

#include <string.h>

/* Decodes one UTF-8 sequence at s (n bytes available); returns its length and the code point, or 0. */
static size_t json_utf8_decode(const unsigned char *s, size_t n, unsigned long *cp)
{
    unsigned char c = s[0];
    size_t len;
    unsigned long v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

bool ms_json_utf8_valid(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        unsigned long cp;
        size_t k = json_utf8_decode(u + i, len - i, &cp);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

/* Room for the longest single emission (a surrogate pair) plus a closing quote, brace and NUL. */
#define JSON_SLACK 16

/* Every input byte becomes at most 6 output bytes (a control byte as \u00XX; 4 UTF-8 bytes become a
 * 12-byte surrogate pair). */
static size_t json_string_bound(const char *s)
{
    return 6 * strlen(s) + 2 + JSON_SLACK;
}

size_t ms_json_transaction_bound(const ms_transaction *t)
{
    if (!t || !t->merchant || !t->customer_id)
        return 0;
    return sizeof "{\"amount\": , \"customer_id\": , \"merchant\": }" + MS_REPR_MAX +
           json_string_bound(t->merchant) + json_string_bound(t->customer_id);
}

static const char json_hex[] = "0123456789abcdef";

static char *json_put_u(char *o, unsigned long u)
{
    *o++ = '\\';
    *o++ = 'u';
    *o++ = json_hex[(u >> 12) & 0xF];
    *o++ = json_hex[(u >> 8) & 0xF];
    *o++ = json_hex[(u >> 4) & 0xF];
    *o++ = json_hex[u & 0xF];
    return o;
}

/* Writes the literal of s at buf + *len, within cap. */
static int json_put_string(const char *s, char *buf, size_t cap, size_t *len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s);
    char *o = buf + *len;
    char *end = buf + cap;
    if (end - o < JSON_SLACK)
        return MS_PROC_EINVAL;
    *o++ = '"';
    for (size_t i = 0; i < n;) {
        if (end - o < JSON_SLACK)
            return MS_PROC_EINVAL;
        unsigned char c = u[i];
        if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
            *o++ = (char)c;
            i++;
            continue;
        }
        unsigned long cp;
        size_t k = json_utf8_decode(u + i, n - i, &cp);
        if (k == 0)
            return MS_PROC_EUTF8;
        i += k;
        switch (cp) {
        case '"': *o++ = '\\'; *o++ = '"'; break;
        case '\\': *o++ = '\\'; *o++ = '\\'; break;
        case '\n': *o++ = '\\'; *o++ = 'n'; break;
        case '\r': *o++ = '\\'; *o++ = 'r'; break;
        case '\t': *o++ = '\\'; *o++ = 't'; break;
        case '\b': *o++ = '\\'; *o++ = 'b'; break;
        case '\f': *o++ = '\\'; *o++ = 'f'; break;
        default:
            if (cp >= 0x10000) {
                cp -= 0x10000;
                o = json_put_u(o, 0xD800 | (cp >> 10));
                o = json_put_u(o, 0xDC00 | (cp & 0x3FF));
            } else {
                o = json_put_u(o, cp);
            }
        }
    }
    *o++ = '"';
    *o = '\0';
    *len = (size_t)(o - buf);
    return MS_PROC_OK;
}

int ms_json_string(const char *s, char *buf, size_t cap, size_t *len)
{
    if (!s || !buf || !len)
        return MS_PROC_ENULL;
    if (cap < *len)
        return MS_PROC_EINVAL;
    return json_put_string(s, buf, cap, len);
}

static const char json_key_amount[] = "{\"amount\": ";
static const char json_key_customer[] = ", \"customer_id\": ";
static const char json_key_merchant[] = ", \"merchant\": ";

int ms_json_transaction(const ms_transaction *t, char *buf, size_t cap, size_t *len)
{
    if (!t || !t->merchant || !t->customer_id || !buf || !len)
        return MS_PROC_ENULL;
    /* The fixed parts and the number always fit in this much; the strings check their own room. */
    if (cap < sizeof json_key_amount + MS_REPR_MAX + sizeof json_key_customer)
        return MS_PROC_EINVAL;
    size_t n = sizeof json_key_amount - 1;
    memcpy(buf, json_key_amount, n);
    n += ms_repr_double(t->amount, buf + n);
    memcpy(buf + n, json_key_customer, sizeof json_key_customer - 1);
    n += sizeof json_key_customer - 1;
    int rc = json_put_string(t->customer_id, buf, cap, &n);
    if (rc != MS_PROC_OK)
        return rc;
    if (cap - n < sizeof json_key_merchant)
        return MS_PROC_EINVAL;
    memcpy(buf + n, json_key_merchant, sizeof json_key_merchant - 1);
    n += sizeof json_key_merchant - 1;
    rc = json_put_string(t->merchant, buf, cap, &n);
    if (rc != MS_PROC_OK)
        return rc;
    buf[n++] = '}'; /* JSON_SLACK left room for it and the NUL */
    buf[n] = '\0';
    *len = n;
    return MS_PROC_OK;
}
