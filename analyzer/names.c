/* Display names: a demangled C++ name with its template arguments collapsed, as heaptrack's -t shows them
 * ("std::vector<>::_M_realloc_insert<>(...)"), for labels where the whole name does not fit; the full name
 * stays available (titles, search, the text commands). */
#include <string.h>

#include "analyze.h"

/* An operator's own '<' and '>' ("operator<<", "operator->", "operator<=>") open or close nothing. */
static size_t ms_names_operator(const char *s, size_t i)
{
    static const char op[] = "operator";
    size_t n = sizeof op - 1;
    if (i < n || strncmp(s + i - n, op, n) != 0)
        return 0;
    if (i > n) {
        char c = s[i - n - 1];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')
            return 0;
    }
    size_t k = 0;
    while (s[i + k] && strchr("<>=-", s[i + k]))
        k++;
    return k;
}

const char *ms_names_short(const char *name, char *buf, size_t len)
{
    size_t o = 0, depth = 0;
    if (!len || name[0] == '<') /* "<unknown>" and the like name no template */
        return name;
    for (size_t i = 0; name[i] && o + 1 < len;) {
        size_t op = depth ? 0 : ms_names_operator(name, i);
        if (op) {
            for (size_t k = 0; k < op && o + 1 < len; k++)
                buf[o++] = name[i + k];
            i += op;
            continue;
        }
        char c = name[i++];
        if (c == '<') {
            if (depth++ == 0)
                buf[o++] = c;
        } else if (c == '>' && depth) {
            if (--depth == 0)
                buf[o++] = c;
        } else if (!depth) {
            buf[o++] = c;
        }
    }
    buf[o] = 0;
    return buf;
}
