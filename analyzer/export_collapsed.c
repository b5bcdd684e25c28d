/* Folded stacks, the input of flamegraph.pl, speedscope, inferno and most flame graph viewers:
 * "outer;inner;leaf WEIGHT" per line. */
#include <stdlib.h>
#include <string.h>

#include "analyze.h"

struct ms_export_collapsed_line {
    char *text;
    uint64_t weight;
};

static int ms_export_collapsed_cmp(const void *a, const void *b)
{
    return strcmp(((const struct ms_export_collapsed_line *)a)->text,
                  ((const struct ms_export_collapsed_line *)b)->text);
}

/* ';' separates frames and the last space the weight, so a name may contain spaces but no ';' or newline. */
static void ms_export_collapsed_put(FILE *f, const char *name)
{
    for (const char *p = name; *p; p++)
        fputc(*p == ';' ? ':' : *p == '\n' || *p == '\r' ? ' ' : *p, f);
}

enum ms_status ms_export_collapsed_write(FILE *out, struct ms_groups *g, const struct ms_export_opts *o,
                                         struct ms_error *err)
{
    struct ms_export_collapsed_line *lines = calloc(g->count + 1, sizeof *lines);
    size_t n = 0;
    enum ms_status r = MS_OK;
    if (!lines)
        return ms_error_set(err, MS_NOMEM, "out of memory");
    for (size_t i = 0; i < g->count; i++) {
        const struct ms_group_row *row = &g->rows[i];
        uint64_t w = ms_export_weight(row, o);
        if (!w)
            continue;
        size_t len = 0;
        FILE *f = open_memstream(&lines[n].text, &len);
        if (!f) {
            r = ms_error_set(err, MS_NOMEM, "out of memory");
            goto out;
        }
        for (uint32_t j = row->stack_len; j-- > 0;) {
            ms_export_collapsed_put(f, ms_export_frame_name(g->sym, row->stack[j]));
            if (j)
                fputc(';', f);
        }
        if (row->stack_len == 0)
            fputs("[unknown]", f);
        if (fclose(f) != 0 || !lines[n].text) {
            r = ms_error_set(err, MS_NOMEM, "out of memory");
            goto out;
        }
        lines[n++].weight = w;
    }
    qsort(lines, n, sizeof *lines, ms_export_collapsed_cmp);
    /* Stacks that differ only below the function level (two lines of one function) fold into one line. */
    for (size_t i = 0; i < n;) {
        uint64_t w = 0;
        size_t j = i;
        for (; j < n && strcmp(lines[j].text, lines[i].text) == 0; j++)
            w += lines[j].weight;
        fprintf(out, "%s %llu\n", lines[i].text, (unsigned long long)w);
        i = j;
    }
out:
    for (size_t i = 0; i <= n && i < g->count + 1; i++)
        free(lines[i].text);
    free(lines);
    return r;
}
