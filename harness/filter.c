/* -k: pytest's keyword expressions over benchmark names (case-insensitive substrings, and/or/not, parens). */
#include "harness.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

struct ms_filter {
    const char *p;
    const char *name, *group, *fullname;
    const char *expr;
    struct ms_error *err;
    const char *bad; /* where parsing first failed; the parse goes on, so f->p says nothing */
};

static void ms_filter_fail(struct ms_filter *f)
{
    if (!f->bad) {
        f->bad = f->p;
    }
}

static void ms_filter_skip_space(struct ms_filter *f)
{
    while (isspace((unsigned char)*f->p)) {
        f->p++;
    }
}

static int ms_filter_is_word_char(char c)
{
    return c && !isspace((unsigned char)c) && c != '(' && c != ')';
}

/* Reads the next word into buf; returns its length (0 at a parenthesis or the end). */
static size_t ms_filter_peek(struct ms_filter *f, char *buf, size_t len)
{
    ms_filter_skip_space(f);
    size_t n = 0;
    while (ms_filter_is_word_char(f->p[n]) && n + 1 < len) {
        buf[n] = f->p[n];
        n++;
    }
    buf[n] = 0;
    return n;
}

static int ms_filter_contains(const char *hay, const char *needle)
{
    return hay && strcasestr(hay, needle) != NULL;
}

static int ms_filter_or(struct ms_filter *f);

static int ms_filter_not(struct ms_filter *f)
{
    char w[256];
    size_t n = ms_filter_peek(f, w, sizeof w);
    if (n && strcmp(w, "not") == 0) {
        f->p += n;
        return !ms_filter_not(f);
    }
    if (*f->p == '(') {
        f->p++;
        int v = ms_filter_or(f);
        ms_filter_skip_space(f);
        if (*f->p != ')') {
            ms_filter_fail(f);
            return 0;
        }
        f->p++;
        return v;
    }
    if (!n || strcmp(w, "and") == 0 || strcmp(w, "or") == 0) {
        ms_filter_fail(f);
        return 0;
    }
    f->p += n;
    return ms_filter_contains(f->name, w) || ms_filter_contains(f->group, w) || ms_filter_contains(f->fullname, w);
}

static int ms_filter_and(struct ms_filter *f)
{
    int v = ms_filter_not(f);
    char w[8];
    for (;;) {
        size_t n = ms_filter_peek(f, w, sizeof w);
        if (!(n == 3 && strcmp(w, "and") == 0)) {
            return v;
        }
        f->p += n;
        v = ms_filter_not(f) && v;
    }
}

static int ms_filter_or(struct ms_filter *f)
{
    int v = ms_filter_and(f);
    char w[8];
    for (;;) {
        size_t n = ms_filter_peek(f, w, sizeof w);
        if (!(n == 2 && strcmp(w, "or") == 0)) {
            return v;
        }
        f->p += n;
        v = ms_filter_and(f) || v;
    }
}

int ms_filter_match(const char *expr, const char *name, const char *group, const char *fullname,
                    struct ms_error *err)
{
    struct ms_filter f = {.p = expr, .name = name, .group = group, .fullname = fullname, .expr = expr, .err = err};
    ms_filter_skip_space(&f);
    if (!*f.p) {
        return 1;
    }
    int v = ms_filter_or(&f);
    ms_filter_skip_space(&f);
    if (*f.p) {
        ms_filter_fail(&f);
    }
    if (f.bad) {
        if (!*f.bad) {
            return ms_error_set(err, -EINVAL, "-k: cannot parse expression '%s': it ends too early", expr);
        }
        return ms_error_set(err, -EINVAL, "-k: cannot parse expression '%s' near '%s'", expr, f.bad);
    }
    return v;
}
