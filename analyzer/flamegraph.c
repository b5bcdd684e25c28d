/* `memsnap flamegraph`: the heap as a flame graph (Brendan Gregg's layout: callers below, callees above,
 * width = bytes), one self-contained SVG with a little inline script for zoom and search. */
#include <stdlib.h>
#include <string.h>

#include "analyze.h"

enum { MS_FG_WIDTH = 1200, MS_FG_PAD = 10, MS_FG_FRAME = 16, MS_FG_TOP = 60, MS_FG_BOTTOM = 34 };
#define MS_FG_MINWIDTH 0.1 /* px: narrower frames are left out, as flamegraph.pl does */
#define MS_FG_CHAR 7.0     /* px per character of 12px Verdana, for fitting labels */

struct ms_fg {
    FILE *out;
    const struct ms_strtab *strs;
    const struct ms_export_opts *o;
    bool exact;
    uint64_t total;
    double scale; /* px per unit of weight */
    uint32_t depth;
    struct ms_flamegraph_embed *embed; /* NULL: a standalone SVG */
    size_t frames;
    bool estimated; /* a sampled snapshot: the amounts are estimates, and say so */
};

static const struct ms_strtab *ms_fg_sort_strs; /* for qsort's comparator */

static int ms_fg_cmp(const void *a, const void *b)
{
    const struct ms_tree *x = a, *y = b;
    return strcmp(ms_strtab_get(ms_fg_sort_strs, x->key), ms_strtab_get(ms_fg_sort_strs, y->key));
}

/* A warm colour from the name alone, so one function has one colour in every graph. */
static void ms_fg_colour(const char *name, int rgb[3])
{
    uint64_t h = ms_map_hash(name, strlen(name));
    rgb[0] = 205 + (int)(h % 51);
    rgb[1] = (int)((h >> 16) % 231);
    rgb[2] = (int)((h >> 32) % 56);
}

static const char *ms_fg_amount(const struct ms_fg *fg, char *buf, size_t len, uint64_t w)
{
    if (fg->o->count) {
        snprintf(buf, len, "%llu block%s", (unsigned long long)w, w == 1 ? "" : "s");
        return buf;
    }
    return ms_size_format(buf, len, (double)w, false, fg->exact);
}

/* One frame: its rectangle, its label as much as fits (whole, cut with "..", or nothing, like
 * flamegraph.pl) and, as its title, the full name with the amount. */
static void ms_fg_box(struct ms_fg *fg, const char *name, uint64_t weight, double x, uint32_t level)
{
    double w = (double)weight * fg->scale;
    char amount[64], label[1024], shortname[1024];
    const char *shown = fg->embed ? ms_symbolize_shorten(name, shortname, sizeof shortname) : name;
    ms_fg_amount(fg, amount, sizeof amount, weight);
    snprintf(label, sizeof label, "%s (%s)", shown, amount);
    double y = MS_FG_TOP + (double)(fg->depth - level) * MS_FG_FRAME;
    int rgb[3];
    ms_fg_colour(name, rgb);
    fputs("<g class=\"f\"", fg->out);
    if (!fg->embed) { /* the report's script searches the titles */
        fputs(" data-n=\"", fg->out);
        ms_output_xml(fg->out, name);
        fputc('"', fg->out);
    }
    fputs(" data-l=\"", fg->out);
    ms_output_xml(fg->out, label);
    fputs("\"><title>", fg->out);
    ms_output_xml(fg->out, name);
    fprintf(fg->out, " (%s%s, %.2f%%)</title>", fg->estimated ? "estimated " : "", amount,
            fg->total ? 100.0 * (double)weight / (double)fg->total : 0);
    fprintf(fg->out, "<rect x=\"%.3f\" y=\"%.1f\" width=\"%.3f\" height=\"%d\" fill=\"rgb(%d,%d,%d)\" rx=\"2\"/>",
            x, y, w, MS_FG_FRAME - 1, rgb[0], rgb[1], rgb[2]);
    size_t fit = w > 6 ? (size_t)((w - 6) / MS_FG_CHAR) : 0, len = strlen(label);
    fprintf(fg->out, "<text x=\"%.2f\" y=\"%.1f\">", x + 3, y + MS_FG_FRAME - 5);
    if (fit >= 3) {
        if (len > fit) {
            label[fit - 2] = 0;
            /* do not leave half of a UTF-8 sequence */
            for (size_t i = fit - 2; i > 0 && ((unsigned char)label[i - 1] & 0xc0) == 0x80; i--)
                label[i - 1] = 0;
            ms_output_xml(fg->out, label);
            fputs("..", fg->out);
        } else {
            ms_output_xml(fg->out, label);
        }
    }
    fputs("</text></g>\n", fg->out);
    fg->frames++;
}

/* The frames in depth-first order (callers before callees, siblings left to right), with an explicit stack
 * of depth + 1 entries instead of recursion (a stack may be thousands of frames deep). Embedded, callees
 * narrower than min_width go into one "other" frame after their siblings (each is counted). */
struct ms_fg_visit {
    const struct ms_tree *n;
    double next_x;    /* where the next child starts */
    size_t next;      /* the next child to draw */
    uint64_t merged;  /* weight of the children folded into "other" */
    size_t nmerged;
};

/* Draws n unless it is too narrow (then neither are its children); true when it was drawn. */
static bool ms_fg_frame(struct ms_fg *fg, const struct ms_tree *n, double x, uint32_t level)
{
    if ((double)n->weight * fg->scale < MS_FG_MINWIDTH)
        return false;
    ms_fg_box(fg, n->key == UINT32_MAX ? "all" : ms_strtab_get(fg->strs, n->key), n->weight, x, level);
    return true;
}

static enum ms_status ms_fg_frames(struct ms_fg *fg, const struct ms_tree *root, struct ms_error *err)
{
    struct ms_fg_visit *st = malloc(((size_t)fg->depth + 2) * sizeof *st);
    size_t sp = 0;
    if (!st)
        return ms_error_set(err, MS_NOMEM, "out of memory");
    if (ms_fg_frame(fg, root, MS_FG_PAD, 0))
        st[sp++] = (struct ms_fg_visit){root, MS_FG_PAD, 0, 0, 0};
    while (sp) {
        struct ms_fg_visit *t = &st[sp - 1];
        if (t->next == t->n->nkids) {
            if (t->nmerged && (double)t->merged * fg->scale >= MS_FG_MINWIDTH) {
                char name[64];
                snprintf(name, sizeof name, "other (%zu small frame%s)", t->nmerged, t->nmerged == 1 ? "" : "s");
                ms_fg_box(fg, name, t->merged, t->next_x, (uint32_t)sp);
            }
            if (fg->embed)
                fg->embed->merged_frames += t->nmerged;
            sp--;
            continue;
        }
        const struct ms_tree *k = &t->n->kids[t->next++];
        if (fg->embed && (double)k->weight * fg->scale < fg->embed->min_width) {
            t->merged += k->weight;
            t->nmerged++;
            continue;
        }
        double x = t->next_x;
        t->next_x += (double)k->weight * fg->scale;
        if (ms_fg_frame(fg, k, x, (uint32_t)sp))
            st[sp++] = (struct ms_fg_visit){k, x, 0, 0, 0};
    }
    free(st);
    return MS_OK;
}

/* Zoom (click a frame; click "Reset Zoom" to go back) and search (Ctrl-F or "Search"), nothing external. */
static const char ms_fg_script[] =
    "<script type=\"text/ecmascript\"><![CDATA[\n"
    "var W=%d,P=%d,C=%.1f,fs,zoomed=null;\n"
    "function init(){fs=Array.prototype.slice.call(document.querySelectorAll('g.f'));fs.forEach(function(g){\n"
    " var r=g.querySelector('rect');g.ox=+r.getAttribute('x');g.ow=+r.getAttribute('width');g.oy=+r.getAttribute('y');\n"
    " g.onclick=function(){zoom(g);};g.onmouseover=function(){det(g.querySelector('title').textContent);};\n"
    " g.onmouseout=function(){det(' ');};});\n"
    " window.addEventListener('keydown',function(e){if((e.ctrlKey||e.metaKey)&&e.keyCode===70){e.preventDefault();search();}});}\n"
    "function det(t){document.getElementById('details').textContent=t;}\n"
    "function fit(g,w){var l=g.getAttribute('data-l'),n=Math.floor((w-6)/C);return n<3?'':l.length<=n?l:l.substr(0,n-2)+'..';}\n"
    "function place(g,x,w){var r=g.querySelector('rect'),t=g.querySelector('text');r.setAttribute('x',x);\n"
    " r.setAttribute('width',w);t.setAttribute('x',x+3);t.textContent=fit(g,w);}\n"
    "function zoom(z){zoomed=z;var s=(W-2*P)/z.ow;document.getElementById('unzoom').style.opacity=1;\n"
    " fs.forEach(function(g){var inside=g.ox>=z.ox-1e-6&&g.ox+g.ow<=z.ox+z.ow+1e-6;\n"
    "  if(g.oy>z.oy&&g.ox<=z.ox+1e-6&&g.ox+g.ow>=z.ox+z.ow-1e-6){g.style.display='';g.style.opacity=0.5;place(g,P,W-2*P);}\n"
    "  else if(g.oy<=z.oy&&inside){g.style.display='';g.style.opacity=1;place(g,P+(g.ox-z.ox)*s,g.ow*s);}\n"
    "  else g.style.display='none';});}\n"
    "function unzoom(){zoomed=null;document.getElementById('unzoom').style.opacity=0;\n"
    " fs.forEach(function(g){g.style.display='';g.style.opacity=1;place(g,g.ox,g.ow);});}\n"
    "function search(){var t=prompt('Search for a function (regular expression)','');if(t===null)return;\n"
    " var re;try{re=new RegExp(t);}catch(e){alert(e);return;}var iv=[];\n"
    " fs.forEach(function(g){var r=g.querySelector('rect');if(!r.of)r.of=r.getAttribute('fill');\n"
    "  if(t!==''&&re.test(g.getAttribute('data-n'))){r.setAttribute('fill','rgb(230,0,230)');iv.push([g.ox,g.ox+g.ow]);}\n"
    "  else r.setAttribute('fill',r.of);});\n"
    " iv.sort(function(a,b){return a[0]-b[0];});var sum=0,end=-1;iv.forEach(function(v){\n"
    "  if(v[0]>=end){sum+=v[1]-v[0];end=v[1];}else if(v[1]>end){sum+=v[1]-end;end=v[1];}});\n"
    " document.getElementById('matched').textContent=t===''?'':'Matched: '+(100*sum/(W-2*P)).toFixed(1)+'%%';}\n"
    "]]></script>\n";

enum ms_status ms_flamegraph_write(FILE *out, struct ms_groups *g, const struct ms_export_opts *o, bool exact,
                                   struct ms_flamegraph_embed *embed, struct ms_error *err)
{
    struct ms_tree root = {.key = UINT32_MAX};
    struct ms_fg fg = {out, ms_symbolize_strtab(g->sym), o, exact, 0, 0, 0, embed, 0, ms_estimate_sampled(g->snap)};
    for (size_t i = 0; i < g->count; i++) {
        const struct ms_group_row *row = &g->rows[i];
        uint64_t w = ms_export_weight(row, o);
        if (!w)
            continue;
        struct ms_tree *n = &root;
        n->weight += w;
        for (uint32_t j = row->stack_len; j-- > 0;) {
            if (!(n = ms_tree_child(n, row->stack[j]->function_key, NULL))) {
                ms_tree_free(&root);
                return ms_error_set(err, MS_NOMEM, "out of memory");
            }
            n->weight += w;
        }
        if (row->stack_len > fg.depth)
            fg.depth = row->stack_len;
    }
    ms_fg_sort_strs = fg.strs;
    size_t nnodes;
    struct ms_tree **all = ms_tree_nodes(&root, ms_fg_cmp, &nnodes);
    if (!all) {
        ms_tree_free(&root);
        return ms_error_set(err, MS_NOMEM, "out of memory");
    }
    free(all);
    fg.total = root.weight;
    fg.scale = root.weight ? (double)(MS_FG_WIDTH - 2 * MS_FG_PAD) / (double)root.weight : 0;
    int height = MS_FG_TOP + (int)(fg.depth + 1) * MS_FG_FRAME + MS_FG_BOTTOM;
    char amount[64];
    const char *what = o->allocated ? (o->count ? "blocks allocated" : "bytes allocated")
                                    : (o->count ? "live blocks" : "live bytes");
    if (embed) {
        height -= MS_FG_TOP + MS_FG_BOTTOM - 4;
        fprintf(out, "<svg class=\"flame\" width=\"%d\" height=\"%d\" viewBox=\"0 %d %d %d\" "
                "xmlns=\"http://www.w3.org/2000/svg\">\n", MS_FG_WIDTH, height, MS_FG_TOP, MS_FG_WIDTH, height);
    } else {
        fprintf(out,
                "<?xml version=\"1.0\" standalone=\"no\"?>\n"
                "<svg version=\"1.1\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" onload=\"init()\" "
                "xmlns=\"http://www.w3.org/2000/svg\">\n"
                "<defs><linearGradient id=\"bg\" y1=\"0\" y2=\"1\" x1=\"0\" x2=\"0\"><stop stop-color=\"#eeeeee\" "
                "offset=\"5%%\"/><stop stop-color=\"#eeeeb0\" offset=\"95%%\"/></linearGradient></defs>\n"
                "<style type=\"text/css\">text{font-family:Verdana,sans-serif;font-size:12px;fill:#000}"
                "g.f:hover rect{stroke:#000;stroke-width:0.5;cursor:pointer}#title{font-size:17px}"
                "#unzoom,#search{cursor:pointer}</style>\n",
                MS_FG_WIDTH, height, MS_FG_WIDTH, height);
        fprintf(out, ms_fg_script, MS_FG_WIDTH, MS_FG_PAD, MS_FG_CHAR);
        fprintf(out, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"url(#bg)\"/>\n", MS_FG_WIDTH, height);
        fprintf(out, "<text id=\"title\" x=\"%d\" y=\"24\" text-anchor=\"middle\">", MS_FG_WIDTH / 2);
        ms_output_xml(out, o->title ? o->title : fg.estimated ? "Heap flame graph (estimated)" : "Heap flame graph");
        fprintf(out, "</text>\n<text id=\"subtitle\" x=\"%d\" y=\"44\" text-anchor=\"middle\">", MS_FG_WIDTH / 2);
        if (fg.estimated) {
            struct ms_estimate_rates rates = {0};
            char phrase[256];
            ms_estimate_rates_add(&rates, g->snap);
            fprintf(out, "%s by call stack, %s: %s in all; ", what,
                    ms_estimate_rate_phrase(phrase, sizeof phrase, &rates, exact),
                    ms_fg_amount(&fg, amount, sizeof amount, root.weight));
        } else {
            fprintf(out, "%s by call stack: %s in all; ", what, ms_fg_amount(&fg, amount, sizeof amount, root.weight));
        }
        ms_output_xml(out, g->snap->path);
        fputs("</text>\n", out);
        fprintf(out,
                "<text id=\"unzoom\" x=\"%d\" y=\"24\" onclick=\"unzoom()\" style=\"opacity:0\">Reset Zoom</text>\n"
                "<text id=\"search\" x=\"%d\" y=\"24\" text-anchor=\"end\" onclick=\"search()\">Search</text>\n"
                "<text id=\"matched\" x=\"%d\" y=\"%d\" text-anchor=\"end\"> </text>\n"
                "<text id=\"details\" x=\"%d\" y=\"%d\"> </text>\n",
                MS_FG_PAD, MS_FG_WIDTH - MS_FG_PAD, MS_FG_WIDTH - MS_FG_PAD, height - 12, MS_FG_PAD, height - 12);
    }
    enum ms_status r = MS_OK;
    if (root.weight)
        r = ms_fg_frames(&fg, &root, err);
    else
        fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">nothing to show: no %s</text>\n",
                MS_FG_WIDTH / 2, MS_FG_TOP + MS_FG_FRAME, what);
    fputs("</svg>\n", out);
    if (embed) {
        embed->frames = fg.frames;
        embed->total = root.weight;
    }
    ms_tree_free(&root);
    return r;
}

enum ms_status ms_flamegraph_main(const struct ms_cli *cli, const struct ms_export_opts *o, struct ms_error *err)
{
    struct ms_export_run run;
    enum ms_status r;
    if (cli->input_count != 1)
        return ms_error_set(err, MS_USAGE, "flamegraph takes one snapshot");
    if ((r = ms_export_begin(cli, o, true, &run, err)) == MS_OK)
        r = ms_flamegraph_write(run.out.f, &run.g, o, cli->bytes, NULL, err);
    return ms_export_end(cli, &run, r, err);
}
