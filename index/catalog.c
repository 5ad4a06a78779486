/* index/catalog.c — see catalog.h. */
#include "catalog.h"
#include "status.h"

#include <stdlib.h>
#include <string.h>

struct catalog {
    catalog_entry *e;        /* (n) increasing id */
    size_t n;
    char **strings;          /* (n_strings) every path and camera string */
    size_t n_strings;
    store_roots roots;
    uint64_t generation;
};

typedef struct {
    uint64_t *ids;
    size_t n, cap;
} id_list;

static int collect_id(const char *path, uint64_t id, void *ctx) {
    (void)path;
    id_list *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        uint64_t *v = realloc(l->ids, cap * sizeof *v);
        if (!v) return status_fail(ST_NOMEM, "catalog: out of memory");
        l->ids = v, l->cap = cap;
    }
    l->ids[l->n++] = id;
    return 0;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void catalog_free(catalog *cat) {
    if (!cat) return;
    for (size_t i = 0; i < cat->n_strings; i++) free(cat->strings[i]);
    free(cat->strings);
    free(cat->e);
    store_roots_release(&cat->roots);
    free(cat);
}

int catalog_load(store *st, catalog **out) {
    *out = NULL;
    catalog *cat = calloc(1, sizeof *cat);
    id_list l = {0};
    int rc = cat ? ST_OK : status_fail(ST_NOMEM, "catalog: out of memory");
    if (!rc) rc = store_generation(st, &cat->generation);
    if (!rc) rc = store_foreach_path(st, collect_id, &l);
    if (!rc) rc = store_roots_list(st, &cat->roots);
    if (!rc) {
        qsort(l.ids, l.n, sizeof *l.ids, cmp_u64);
        size_t m = 0;
        for (size_t i = 0; i < l.n; i++)
            if (!m || l.ids[i] != l.ids[m - 1]) l.ids[m++] = l.ids[i];
        l.n = m;
        cat->e = calloc(m ? m : 1, sizeof *cat->e);
        cat->strings = calloc(2 * m + 1, sizeof *cat->strings);
        if (!cat->e || !cat->strings) rc = status_fail(ST_NOMEM, "catalog: out of memory for %zu images", m);
    }
    store_image im;
    for (size_t i = 0; !rc && i < l.n; i++) {
        int r = store_get_image(st, l.ids[i], &im);
        if (r == ST_NOT_FOUND) { status_clear(); continue; }   /* removed since the path walk */
        if (r) { rc = r; break; }
        char cam[2 * 64 + 2];
        filter_camera(im.make, im.model, cam, sizeof cam);
        char *p = strdup(im.path), *c = strdup(cam);
        if (p) cat->strings[cat->n_strings++] = p;
        if (c) cat->strings[cat->n_strings++] = c;
        if (!p || !c) { rc = status_fail(ST_NOMEM, "catalog: out of memory"); break; }
        catalog_entry *e = &cat->e[cat->n++];
        e->id = im.id;
        e->added_ns = im.added_ns;
        memcpy(e->taken, im.taken, sizeof e->taken);
        e->taken[sizeof e->taken - 1] = 0;
        memcpy(e->format, im.format, sizeof e->format);
        e->path = p, e->camera = c;
    }
    free(l.ids);
    if (rc) { catalog_free(cat); return rc; }
    *out = cat;
    return ST_OK;
}

uint64_t catalog_generation(const catalog *cat) { return cat->generation; }

const catalog_entry *catalog_entries(const catalog *cat, size_t *n) {
    *n = cat->n;
    return cat->e;
}

const catalog_entry *catalog_find(const catalog *cat, uint64_t id) {
    size_t lo = 0, hi = cat->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cat->e[mid].id < id) lo = mid + 1; else hi = mid;
    }
    return lo < cat->n && cat->e[lo].id == id ? &cat->e[lo] : NULL;
}

int catalog_match(const catalog *cat, const filter *f, const catalog_entry *e) {
    return filter_match(f, e->taken, e->path, e->camera, e->format, (const char *const *)cat->roots.v, cat->roots.n);
}

int catalog_filter(const catalog *cat, const filter *f, uint64_t **ids, size_t *n) {
    *ids = NULL;
    *n = 0;
    uint64_t *v = malloc((cat->n ? cat->n : 1) * sizeof *v);
    if (!v) return status_fail(ST_NOMEM, "catalog: out of memory");
    size_t m = 0;
    for (size_t i = 0; i < cat->n; i++)
        if (catalog_match(cat, f, &cat->e[i])) v[m++] = cat->e[i].id;
    if (!m) { free(v); return ST_OK; }
    *ids = v;
    *n = m;
    return ST_OK;
}
