/* performance_budgets.yml: sections of numeric limits, read with libyaml. */
#include "harness.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

struct ms_budgets_entry {
    char *key;
    char *text; /* the scalar as written */
    int is_number;
    double number;
    size_t line;
};

struct ms_budgets_section {
    char *name;
    size_t line;
    struct ms_budgets_entry *entries;
    size_t count;
};

struct ms_budgets {
    char *path;
    struct ms_budgets_section *sections;
    size_t count;
};

static int ms_budgets_parse_number(const char *s, double *out)
{
    char *end;
    if (!*s) {
        return 0;
    }
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno || !isfinite(v)) {
        return 0;
    }
    *out = v;
    return 1;
}

static const struct ms_budgets_section *ms_budgets_find(const struct ms_budgets *b, const char *section)
{
    for (size_t i = 0; i < b->count; i++) {
        if (strcmp(b->sections[i].name, section) == 0) {
            return &b->sections[i];
        }
    }
    return NULL;
}

static const struct ms_budgets_entry *ms_budgets_entry(const struct ms_budgets *b, const char *section,
                                                       const char *key)
{
    const struct ms_budgets_section *s = ms_budgets_find(b, section);
    if (!s) {
        return NULL;
    }
    for (size_t i = 0; i < s->count; i++) {
        if (strcmp(s->entries[i].key, key) == 0) {
            return &s->entries[i];
        }
    }
    return NULL;
}

static int ms_budgets_add_section(struct ms_budgets *b, yaml_document_t *doc, const char *name,
                                  yaml_node_t *map, struct ms_error *err)
{
    if (ms_budgets_find(b, name)) {
        return ms_error_set(err, -EINVAL, "%s:%zu: section '%s' appears twice", b->path,
                          map->start_mark.line + 1, name);
    }
    struct ms_budgets_section *grown = realloc(b->sections, (b->count + 1) * sizeof *grown);
    if (!grown) {
        return ms_error_set(err, -ENOMEM, "%s: out of memory", b->path);
    }
    b->sections = grown;
    struct ms_budgets_section *s = &b->sections[b->count++];
    *s = (struct ms_budgets_section){.name = strdup(name), .line = map->start_mark.line + 1};
    size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    s->entries = calloc(n ? n : 1, sizeof *s->entries);
    if (!s->name || !s->entries) {
        return ms_error_set(err, -ENOMEM, "%s: out of memory", b->path);
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        if (!k || k->type != YAML_SCALAR_NODE) {
            return ms_error_set(err, -EINVAL, "%s:%zu: section '%s': keys must be plain names", b->path,
                              (k ? k->start_mark.line : map->start_mark.line) + 1, name);
        }
        const char *key = (const char *)k->data.scalar.value;
        if (!v || v->type != YAML_SCALAR_NODE) {
            return ms_error_set(err, -EINVAL, "%s:%zu: %s.%s: value must be a number or a string", b->path,
                              k->start_mark.line + 1, name, key);
        }
        for (size_t i = 0; i < s->count; i++) {
            if (strcmp(s->entries[i].key, key) == 0) {
                return ms_error_set(err, -EINVAL, "%s:%zu: %s.%s appears twice", b->path, k->start_mark.line + 1,
                                  name, key);
            }
        }
        struct ms_budgets_entry *e = &s->entries[s->count++];
        e->key = strdup(key);
        e->text = strdup((const char *)v->data.scalar.value);
        e->line = v->start_mark.line + 1;
        if (!e->key || !e->text) {
            return ms_error_set(err, -ENOMEM, "%s: out of memory", b->path);
        }
        /* Quoted scalars stay strings: "100" is a description, 100 a limit. */
        if (v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
            e->is_number = ms_budgets_parse_number(e->text, &e->number);
        }
    }
    return 0;
}

static int ms_budgets_add_sections(struct ms_budgets *b, yaml_document_t *doc, yaml_node_t *root,
                                   int allow_wrapper, struct ms_error *err)
{
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        if (!k || k->type != YAML_SCALAR_NODE || !v) {
            return ms_error_set(err, -EINVAL, "%s:%zu: section names must be plain names", b->path,
                              (k ? k->start_mark.line : root->start_mark.line) + 1);
        }
        const char *name = (const char *)k->data.scalar.value;
        if (v->type != YAML_MAPPING_NODE) {
            if (v->type == YAML_SCALAR_NODE) {
                continue; /* top-level strings (version, description) are allowed and ignored */
            }
            return ms_error_set(err, -EINVAL, "%s:%zu: '%s' must be a mapping of budget keys", b->path,
                              k->start_mark.line + 1, name);
        }
        if (allow_wrapper && strcmp(name, "budgets") == 0) {
            int rc = ms_budgets_add_sections(b, doc, v, 0, err);
            if (rc) {
                return rc;
            }
            continue;
        }
        int rc = ms_budgets_add_section(b, doc, name, v, err);
        if (rc) {
            return rc;
        }
    }
    return 0;
}

enum ms_status ms_budgets_load(const char *path, struct ms_budgets **out, struct ms_error *err)
{
    *out = NULL;
    FILE *f;
    int rc = ms_input_open(path, "budgets file", &f, err);
    if (rc) {
        return rc;
    }
    struct ms_budgets *b = calloc(1, sizeof *b);
    yaml_parser_t parser;
    yaml_document_t doc;
    int have_parser = 0, have_doc = 0;
    if (!b || !(b->path = strdup(path))) {
        rc = ms_error_set(err, -ENOMEM, "%s: out of memory", path);
        goto out;
    }
    if (!yaml_parser_initialize(&parser)) {
        rc = ms_error_set(err, -ENOMEM, "%s: out of memory", path);
        goto out;
    }
    have_parser = 1;
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = ms_error_set(err, -EINVAL, "%s:%zu:%zu: malformed YAML: %s", path, parser.problem_mark.line + 1,
                        parser.problem_mark.column + 1, parser.problem ? parser.problem : "parse error");
        goto out;
    }
    have_doc = 1;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        rc = ms_error_set(err, -EINVAL, "%s: empty file: expected a mapping of budget sections", path);
        goto out;
    }
    if (root->type != YAML_MAPPING_NODE) {
        rc = ms_error_set(err, -EINVAL, "%s:%zu: expected a mapping of budget sections", path,
                        root->start_mark.line + 1);
        goto out;
    }
    rc = ms_budgets_add_sections(b, &doc, root, 1, err);
out:
    if (have_doc) {
        yaml_document_delete(&doc);
    }
    if (have_parser) {
        yaml_parser_delete(&parser);
    }
    fclose(f);
    if (rc) {
        ms_budgets_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

void ms_budgets_free(struct ms_budgets *b)
{
    if (!b) {
        return;
    }
    for (size_t i = 0; i < b->count; i++) {
        struct ms_budgets_section *s = &b->sections[i];
        for (size_t j = 0; j < s->count; j++) {
            free(s->entries[j].key);
            free(s->entries[j].text);
        }
        free(s->entries);
        free(s->name);
    }
    free(b->sections);
    free(b->path);
    free(b);
}

enum ms_status ms_budgets_get(const struct ms_budgets *b, const char *section, const char *key, double *out,
                   struct ms_error *err)
{
    const struct ms_budgets_section *s = ms_budgets_find(b, section);
    if (!s) {
        return ms_error_set(err, -ENOENT, "%s: no section '%s'", b->path, section);
    }
    const struct ms_budgets_entry *e = ms_budgets_entry(b, section, key);
    if (!e) {
        return ms_error_set(err, -ENOENT, "%s:%zu: section '%s' has no key '%s'", b->path, s->line, section, key);
    }
    if (!e->is_number) {
        return ms_error_set(err, -EINVAL, "%s:%zu: %s.%s: '%s' is not a number", b->path, e->line, section, key,
                          e->text);
    }
    *out = e->number;
    return 0;
}

int ms_budgets_has(const struct ms_budgets *b, const char *section, const char *key)
{
    return ms_budgets_entry(b, section, key) != NULL;
}

const char *ms_budgets_get_string(const struct ms_budgets *b, const char *section, const char *key)
{
    const struct ms_budgets_entry *e = ms_budgets_entry(b, section, key);
    return e ? e->text : NULL;
}

size_t ms_budgets_section_count(const struct ms_budgets *b)
{
    return b->count;
}

const char *ms_budgets_section_name(const struct ms_budgets *b, size_t i)
{
    return i < b->count ? b->sections[i].name : NULL;
}

size_t ms_budgets_key_count(const struct ms_budgets *b, size_t section)
{
    return section < b->count ? b->sections[section].count : 0;
}

const char *ms_budgets_key_name(const struct ms_budgets *b, size_t section, size_t i)
{
    if (section >= b->count || i >= b->sections[section].count) {
        return NULL;
    }
    return b->sections[section].entries[i].key;
}

const char *ms_budgets_path(const struct ms_budgets *b)
{
    return b->path;
}
