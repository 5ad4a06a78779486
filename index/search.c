/* index/search.c — see search.h. */
#include "search.h"
#include "status.h"
#include "timer.h"

#include <stdlib.h>
#include <string.h>

search_query search_query_default(void) {
    return (search_query){.image = image_opts_default(), .k = 15};
}

/* The query → v (dim floats) through the embedder; the decoded picture's
 * facts into out. */
static int embed_query(const embedder *e, const search_query *q, float *v, search_result *out) {
    if (q->text) return embedder_text(e, q->text, v);
    embed_image_info info = {0};
    int st = q->image_path ? embedder_image_file(e, q->image_path, &q->image, v, &info)
                           : embedder_image_bytes(e, q->image_bytes, q->image_len, q->image_name, &q->image, v, &info);
    out->format = info.format;
    out->width = info.width, out->height = info.height;
    return st;
}

/* The top-k of v in *sr->vi, under sr->lock when there is one. */
static int lookup(const searcher *sr, const float *v, int k, vindex_hit *hits, int *n) {
    if (sr->lock) pthread_rwlock_rdlock(sr->lock);
    int st = vindex_search(*sr->vi, v, k, hits, n);
    if (sr->lock) pthread_rwlock_unlock(sr->lock);
    return st ? status_wrap(st, "search failed") : ST_OK;
}

/* Each hit's path and metadata from the store. */
static void resolve(store *st, const vindex_hit *vh, int n, search_hit *hits) {
    for (int i = 0; i < n; i++) {
        search_hit *h = &hits[i];
        memset(h, 0, sizeof *h);
        h->id = vh[i].id;
        h->score = vh[i].score;
        h->found = store_get_image(st, vh[i].id, &h->image) == ST_OK;
        if (!h->found) memset(&h->image, 0, sizeof h->image);
    }
}

int search_run(const searcher *sr, const search_query *q, search_result *out) {
    memset(out, 0, sizeof *out);
    int kinds = (q->text != NULL) + (q->image_path != NULL) + (q->image_bytes != NULL);
    if (kinds != 1) return status_fail(ST_ARG, "search: give one query (a text or an image), got %d", kinds);
    if (q->k < 1) return status_fail(ST_ARG, "search: k must be at least 1, got %d", q->k);
    float *v = malloc((size_t)sr->emb->dim * sizeof *v);
    vindex_hit *vh = malloc((size_t)q->k * sizeof *vh);
    search_hit *hits = malloc((size_t)q->k * sizeof *hits);
    int n = 0, st = v && vh && hits ? ST_OK : status_fail(ST_NOMEM, "out of memory");
    double t0 = timer_now();
    if (!st) st = embed_query(sr->emb, q, v, out);
    if (!st) st = lookup(sr, v, q->k, vh, &n);
    double took = timer_now() - t0;
    if (!st) resolve(sr->st, vh, n, hits);
    free(v);
    free(vh);
    if (st) {
        free(hits);
        memset(out, 0, sizeof *out);
        return st;
    }
    out->hits = hits;
    out->n = n;
    out->took_s = took;
    return ST_OK;
}

void search_result_release(search_result *r) {
    if (!r) return;
    free(r->hits);
    r->hits = NULL;
    r->n = 0;
}

int search_index_params(store *st, const char *kind, vindex_params *p) {
    vindex_params_default(p);
    if (!strcmp(kind, "flat")) return ST_OK;
    if (!strcmp(kind, "hnsw")) {
        p->kind = VINDEX_HNSW;
        return ST_OK;
    }
    if (strcmp(kind, "auto")) return status_fail(ST_ARG, "index kind: expected auto, flat or hnsw, got '%s'", kind);
    void *blob;
    size_t len;
    if (store_index_get(st, "hnsw", &blob, &len) == ST_OK) {
        free(blob);
        p->kind = VINDEX_HNSW;
    }
    return ST_OK;
}
