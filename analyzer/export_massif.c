/* massif's output file (massif.out.PID) from a series of snapshots, for ms_print and massif-visualizer:
 * one detailed heap tree per snapshot, allocation sites at the top and their callers below, branches under
 * massif's 1% threshold folded into one "in N places" line as massif itself writes them. */
#include <stdlib.h>
#include <string.h>

#include "analyze.h"

#define MS_MASSIF_THRESHOLD 1.0 /* percent of the snapshot's heap, as massif's default --threshold */
/* Frames kept per stack, as massif's default --depth. Each tree line is indented by its depth, so an
 * unbounded depth made the output grow with its square (a crafted 2 MB snapshot gave 4.3 GB); with this
 * bound it is at most a small multiple of the input, and the recursion below is at most this deep. */
#define MS_MASSIF_DEPTH 30

static int ms_export_massif_cmp(const void *a, const void *b)
{
    const struct ms_tree *x = a, *y = b; /* keyed by frame id */
    if (x->weight != y->weight)
        return x->weight > y->weight ? -1 : 1;
    return x->key < y->key ? -1 : x->key > y->key;
}

/* ms_print drops everything after '#' on a line (comments), so names keep none. */
static void ms_export_massif_text(FILE *out, const char *s)
{
    for (; *s; s++)
        fputc(*s == '#' ? '?' : *s == '\n' || *s == '\r' ? ' ' : *s, out);
}

/* "0x1139: make_node (fx_leak.c:13)", "0x1139: ??? (in /path/module)": massif's frame text, with the
 * module offset for the address (load addresses change from run to run). */
static void ms_export_massif_frame(FILE *out, const struct ms_sym_frame *f)
{
    fprintf(out, "0x%llX: ", (unsigned long long)f->offset);
    ms_export_massif_text(out, f->function ? f->function : "???");
    if (f->file) {
        fputs(" (", out);
        ms_export_massif_text(out, f->file);
        fprintf(out, ":%u)", f->line);
    } else {
        fputs(" (in ", out);
        ms_export_massif_text(out, f->module);
        fputc(')', out);
    }
}

static void ms_export_massif_node(FILE *out, struct ms_tree *n, uint64_t total, unsigned depth)
{
    size_t shown = 0;
    uint64_t below = 0;
    if (n->nkids)
        qsort(n->kids, n->nkids, sizeof *n->kids, ms_export_massif_cmp);
    for (size_t i = 0; i < n->nkids; i++) {
        if ((double)n->kids[i].weight * 100.0 >= MS_MASSIF_THRESHOLD * (double)total)
            shown++;
        else
            below += n->kids[i].weight;
    }
    size_t folded = n->nkids - shown;
    fprintf(out, "%*sn%zu: %llu ", (int)depth, "", shown + (folded ? 1 : 0), (unsigned long long)n->weight);
    if (n->data)
        ms_export_massif_frame(out, n->data);
    else
        fputs("(heap allocation functions) malloc/new/new[], --alloc-fns, etc.", out);
    fputc('\n', out);
    for (size_t i = 0; i < shown; i++)
        ms_export_massif_node(out, &n->kids[i], total, depth + 1);
    if (folded)
        fprintf(out, "%*sn0: %llu in %zu place%s, %sbelow massif's threshold (%.2f%%)\n", (int)depth + 1, "",
                (unsigned long long)below, folded, folded == 1 ? "" : "s", folded == 1 ? "" : "all ",
                MS_MASSIF_THRESHOLD);
}

/* One snapshot's tree; the root holds the bytes of every site that passed the filters. */
static enum ms_status ms_export_massif_tree(struct ms_groups *g, struct ms_tree *root, struct ms_error *err)
{
    for (size_t i = 0; i < g->count; i++) {
        const struct ms_group_row *row = &g->rows[i];
        if (!row->size)
            continue;
        struct ms_tree *n = root;
        n->weight += row->size;
        for (uint32_t j = 0; j < row->stack_len && j < MS_MASSIF_DEPTH; j++) {
            if (!(n = ms_tree_child(n, row->stack[j]->id, row->stack[j])))
                return ms_error_set(err, MS_NOMEM, "out of memory");
            n->weight += row->size;
        }
    }
    return MS_OK;
}

enum ms_status ms_export_massif_write(FILE *out, struct ms_symbolizer *sym, struct ms_snap **snaps, size_t n,
                                      const struct ms_cli *cli, struct ms_error *err)
{
    struct ms_groups *gs = calloc(n + 1, sizeof *gs);
    enum ms_status r = MS_OK;
    if (!gs)
        return ms_error_set(err, MS_NOMEM, "out of memory");
    ms_plot_order(snaps, n);
    size_t peak = 0;
    bool by_ms = true; /* wall time, when it tells the snapshots apart; else massif's bytes-as-time */
    for (size_t i = 0; i < n && r == MS_OK; i++) {
        r = ms_export_group(sym, snaps[i], cli, &gs[i], err);
        if (r == MS_OK && gs[i].size > gs[peak].size)
            peak = i;
        if (i && snaps[i]->info.uptime_ns / 1000000 <= snaps[i - 1]->info.uptime_ns / 1000000)
            by_ms = false;
        if (i && snaps[i]->info.pid != snaps[0]->info.pid)
            by_ms = false;
    }
    if (r != MS_OK)
        goto out;
    /* ms_print shows desc: the one place a sampled export can say its bytes are estimates. */
    struct ms_estimate_rates rates = {0};
    for (size_t i = 0; i < n; i++)
        ms_estimate_rates_add(&rates, snaps[i]);
    char phrase[256];
    fprintf(out, "desc: memsnap export --format massif%s%s\ncmd: ", rates.sampled ? ", " : "",
            rates.sampled ? ms_estimate_rate_phrase(phrase, sizeof phrase, &rates, cli->bytes) : "");
    ms_export_massif_text(out, snaps[0]->exe && *snaps[0]->exe ? snaps[0]->exe : snaps[0]->path);
    fprintf(out, "\ntime_unit: %s\n", by_ms ? "ms" : "B");
    for (size_t i = 0; i < n && r == MS_OK; i++) {
        const struct ms_fmt_totals *t = &snaps[i]->totals;
        /* massif's "B" clock: bytes allocated plus bytes freed so far. */
        uint64_t time = by_ms ? snaps[i]->info.uptime_ns / 1000000
                              : t->alloc_bytes + (t->alloc_bytes - (t->current_bytes < t->alloc_bytes
                                                                        ? t->current_bytes : t->alloc_bytes));
        fprintf(out, "#-----------\nsnapshot=%zu\n#-----------\ntime=%llu\nmem_heap_B=%llu\nmem_heap_extra_B=0\n"
                "mem_stacks_B=0\nheap_tree=%s\n", i, (unsigned long long)time, (unsigned long long)gs[i].size,
                i == peak ? "peak" : "detailed");
        struct ms_tree root = {0};
        if ((r = ms_export_massif_tree(&gs[i], &root, err)) == MS_OK)
            ms_export_massif_node(out, &root, root.weight, 0);
        ms_tree_free(&root);
    }
out:
    for (size_t i = 0; i < n; i++)
        ms_group_free(&gs[i]);
    free(gs);
    return r;
}
