/* index/dupes.c — see dupes.h. */
#include "dupes.h"
#include "status.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 256

typedef struct {
    const vindex *vi;
    float threshold;
    int dim;
    /* union-find over the index ids (sorted: slot = position) */
    uint64_t *ids;
    size_t n;
    size_t *parent;
    float *lo, *hi;          /* per root: weakest join, strongest pair */
    /* the batch being collected */
    float *q;
    uint64_t *qid;
    size_t nq;
    vindex_hit *hits;
} dupes_ctx;

static size_t slot_of(const dupes_ctx *c, uint64_t id) {
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->ids[mid] < id) lo = mid + 1; else hi = mid;
    }
    return lo < c->n && c->ids[lo] == id ? lo : (size_t)-1;
}

static size_t find(size_t *p, size_t x) {
    while (p[x] != x) x = p[x] = p[p[x]];
    return x;
}

static void join(dupes_ctx *c, size_t a, size_t b, float s) {
    a = find(c->parent, a), b = find(c->parent, b);
    if (a == b) {
        if (s > c->hi[a]) c->hi[a] = s;
        return;
    }
    if (a > b) { size_t t = a; a = b; b = t; }
    c->parent[b] = a;
    float lo = fminf(fminf(c->lo[a], c->lo[b]), s), hi = fmaxf(fmaxf(c->hi[a], c->hi[b]), s);
    c->lo[a] = lo, c->hi[a] = hi;
}

static int flush(dupes_ctx *c) {
    if (!c->nq) return 0;
    int nh = 0;
    int rc = vindex_search_batch(c->vi, c->nq, c->q, DUPES_NEIGHBOURS + 1, c->hits, &nh);
    if (rc) return rc;
    for (size_t i = 0; i < c->nq; i++) {
        size_t a = slot_of(c, c->qid[i]);
        if (a == (size_t)-1) continue;
        for (int j = 0; j < nh; j++) {
            const vindex_hit *h = &c->hits[i * (DUPES_NEIGHBOURS + 1) + (size_t)j];
            if (h->score < c->threshold) break;       /* best first */
            if (h->id == c->qid[i] || !h->id) continue;
            size_t b = slot_of(c, h->id);
            if (b != (size_t)-1) join(c, a, b, h->score);
        }
    }
    c->nq = 0;
    return 0;
}

static int on_vector(uint64_t id, const float *vec, void *ctx) {
    dupes_ctx *c = ctx;
    memcpy(c->q + c->nq * (size_t)c->dim, vec, (size_t)c->dim * sizeof(float));
    c->qid[c->nq++] = id;
    return c->nq == BATCH ? flush(c) : 0;
}

typedef struct { uint64_t root_first; size_t slot; } member;

static int cmp_member(const void *a, const void *b) {
    const member *x = a, *y = b;
    if (x->root_first != y->root_first) return x->root_first < y->root_first ? -1 : 1;
    return x->slot < y->slot ? -1 : x->slot > y->slot;
}

typedef struct { uint64_t *ids; size_t n, cap; } id_acc;

static int collect_id(uint64_t id, const float *vec, void *ctx) {
    (void)vec;
    id_acc *a = ctx;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 4096;
        uint64_t *v = realloc(a->ids, cap * sizeof *v);
        if (!v) return status_fail(ST_NOMEM, "dupes: out of memory");
        a->ids = v, a->cap = cap;
    }
    a->ids[a->n++] = id;
    return 0;
}

int dupes_find(store *st, const vindex *vi, float threshold, dupes_result *out) {
    memset(out, 0, sizeof *out);
    if (!(threshold > 0 && threshold <= 1))
        return status_fail(ST_ARG, "the dupes threshold must be a cosine similarity in (0, 1], got %g", (double)threshold);
    dupes_ctx c = {.vi = vi, .threshold = threshold, .dim = vindex_dim(vi)};
    if (vindex_size(vi) == 0 || c.dim <= 0) return ST_OK;
    /* pass 1: the ids (increasing), so an id's union-find slot is its rank */
    id_acc a = {0};
    int rc = store_foreach_vector(st, 0, collect_id, &a, NULL, NULL);
    c.ids = a.ids, c.n = a.n;
    if (!rc) {
        c.parent = malloc((c.n ? c.n : 1) * sizeof *c.parent);
        c.lo = malloc((c.n ? c.n : 1) * sizeof *c.lo);
        c.hi = malloc((c.n ? c.n : 1) * sizeof *c.hi);
        c.q = malloc((size_t)BATCH * (size_t)c.dim * sizeof *c.q);
        c.qid = malloc(BATCH * sizeof *c.qid);
        c.hits = malloc((size_t)BATCH * (DUPES_NEIGHBOURS + 1) * sizeof *c.hits);
        if (!c.parent || !c.lo || !c.hi || !c.q || !c.qid || !c.hits) rc = status_fail(ST_NOMEM, "dupes: out of memory");
    }
    for (size_t i = 0; !rc && i < c.n; i++) c.parent[i] = i, c.lo[i] = INFINITY, c.hi[i] = -INFINITY;
    /* pass 2: every vector is a query, in batches */
    if (!rc) rc = store_foreach_vector(st, 0, on_vector, &c, NULL, NULL);
    if (!rc) rc = flush(&c);
    /* the groups: members sorted by (root's first slot = root, slot) */
    member *m = NULL;
    size_t nm = 0;
    if (!rc && !(m = malloc((c.n ? c.n : 1) * sizeof *m))) rc = status_fail(ST_NOMEM, "dupes: out of memory");
    for (size_t i = 0; !rc && i < c.n; i++) {
        size_t r = find(c.parent, i);
        if (r != i || c.hi[r] > -INFINITY) m[nm++] = (member){r, i};   /* in a group of 2+ */
    }
    if (!rc) {
        qsort(m, nm, sizeof *m, cmp_member);
        size_t ng = 0;
        for (size_t i = 0; i < nm; i++) ng += !i || m[i].root_first != m[i - 1].root_first;
        out->groups = calloc(ng ? ng : 1, sizeof *out->groups);
        if (!out->groups) rc = status_fail(ST_NOMEM, "dupes: out of memory");
        for (size_t i = 0, j; !rc && i < nm; i = j) {
            for (j = i; j < nm && m[j].root_first == m[i].root_first; j++) {}
            dupes_group *g = &out->groups[out->n_groups++];
            g->n = j - i;
            g->min_score = c.lo[m[i].root_first];
            g->max_score = c.hi[m[i].root_first];
            if (!(g->ids = malloc(g->n * sizeof *g->ids))) { rc = status_fail(ST_NOMEM, "dupes: out of memory"); break; }
            for (size_t t = i; t < j; t++) g->ids[t - i] = c.ids[m[t].slot];
        }
    }
    free(m);
    free(c.ids), free(c.parent), free(c.lo), free(c.hi), free(c.q), free(c.qid), free(c.hits);
    if (rc) dupes_result_release(out);
    return rc;
}

void dupes_result_release(dupes_result *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n_groups; i++) free(r->groups[i].ids);
    free(r->groups);
    memset(r, 0, sizeof *r);
}
