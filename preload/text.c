/* Small formatting for the preload: stdio may allocate or take locks, so hooks and the snapshot writer
 * never touch it. */
#include "preload.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

size_t ms_text_u64(char *buf, uint64_t v)
{
    char tmp[21];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++) {
        buf[i] = tmp[n - 1 - i];
    }
    buf[n] = '\0';
    return n;
}

static int text_put(char *out, size_t size, size_t *at, const char *s, size_t len)
{
    if (*at + len >= size) {
        return -ENAMETOOLONG;
    }
    memcpy(out + *at, s, len);
    *at += len;
    return 0;
}

int ms_text_expand(const char *pattern, uint64_t pid, uint64_t seq, const char *exe, char *out, size_t size)
{
    size_t at = 0;
    char num[21];
    int rc = 0;
    for (const char *p = pattern; *p && rc == 0; p++) {
        if (*p != '%' || p[1] == '\0') {
            rc = text_put(out, size, &at, p, 1);
            continue;
        }
        p++;
        switch (*p) {
        case 'p':
            rc = text_put(out, size, &at, num, ms_text_u64(num, pid));
            break;
        case 'n':
            rc = text_put(out, size, &at, num, ms_text_u64(num, seq));
            break;
        case 'e':
            rc = text_put(out, size, &at, exe, strlen(exe));
            break;
        case '%':
            rc = text_put(out, size, &at, "%", 1);
            break;
        default: /* unknown: kept as written */
            rc = text_put(out, size, &at, p - 1, 2);
            break;
        }
    }
    if (rc < 0) {
        return rc;
    }
    out[at] = '\0';
    return (int)at;
}

void ms_text_warn(const char *first, ...)
{
    char buf[1024];
    size_t at = 0;
    va_list ap;
    static const char prefix[] = "memsnap: ";
    memcpy(buf, prefix, sizeof prefix - 1);
    at = sizeof prefix - 1;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *)) {
        size_t len = strlen(s);
        if (len > sizeof buf - 1 - at) {
            len = sizeof buf - 1 - at;
        }
        memcpy(buf + at, s, len);
        at += len;
    }
    va_end(ap);
    buf[at++] = '\n';
    ms_platform_stderr(buf, at);
}

int ms_text_parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    const char *p = s;
    if (*p < '0' || *p > '9') {
        return -EINVAL;
    }
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10) {
            return -EINVAL;
        }
        v = v * 10 + (uint64_t)(*p - '0');
    }
    unsigned shift = 0;
    switch (*p) {
    case 'k': case 'K': shift = 10; p++; break;
    case 'm': case 'M': shift = 20; p++; break;
    case 'g': case 'G': shift = 30; p++; break;
    default: break;
    }
    if (*p != '\0' || (shift && v > (UINT64_MAX >> shift))) {
        return -EINVAL;
    }
    *out = v << shift;
    return 0;
}
