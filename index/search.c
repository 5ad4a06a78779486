/* index/search.c — see search.h. */
#include "search.h"
#include "status.h"
#include "timer.h"

#include <stdlib.h>
#include <string.h>

search_query search_query_default(void) {
    return (search_query){.image = image_opts_default(), .k = 15};
}

/* The query → v through the embedder (a text: dim floats; a picture: n_vec ×
 * dim); the decoded picture's facts into out. */
static int embed_query(const embedder *e, const search_query *q, float *v, search_result *out) {
    if (q->text) return embedder_text(e, q->text, v);
    embed_image_info info = {0};
    int st = q->image_path ? embedder_image_file(e, q->image_path, &q->image, v, &info)
                           : embedder_image_bytes(e, q->image_bytes, q->image_len, q->image_name, &q->image, v, &info);
    out->format = info.format;
    out->width = info.width, out->height = info.height;
    return st;
}

static int hit_by_score(const void *a, const void *b) {
    const vindex_hit *x = a, *y = b;
    return x->score < y->score ? 1 : x->score > y->score ? -1 : (x->id > y->id) - (x->id < y->id);
}

/* A picture of nq > 1 vectors (BLIP-2's query tokens) against images of
 * several vectors: an image's score is the best over every pair, i.e. the
 * best of its scores for each query vector. Exact given exact per-query
 * top-k: an image in the overall top-k has its best pair's query ranking it
 * above all but fewer than k others. */
static int lookup_multi(const vindex *vi, const float *v, int nq, int k, vindex_hit *hits, int *n) {
    vindex_hit *all = malloc((size_t)nq * (size_t)k * sizeof *all);
    if (!all) return status_fail(ST_NOMEM, "out of memory");
    int per = 0, st = vindex_search_batch(vi, (size_t)nq, v, k, all, &per);
    if (!st) {
        size_t m = (size_t)nq * (size_t)k, w = 0;
        for (int q = 0; q < nq; q++)
            for (int i = 0; i < per; i++) all[w++] = all[(size_t)q * (size_t)k + (size_t)i];
        m = w;
        qsort(all, m, sizeof *all, hit_by_score);   /* best first: an id's first entry is its best */
        int got = 0;
        for (size_t i = 0; i < m && got < k; i++) {
            int dup = 0;
            for (int j = 0; j < got && !dup; j++) dup = hits[j].id == all[i].id;
            if (!dup) hits[got++] = all[i];
        }
        *n = got;
    }
    free(all);
    return st;
}

/* The top-k of v (nq query vectors) in *sr->vi, under sr->lock when there is one. */
static int lookup(const searcher *sr, const float *v, int nq, int k, vindex_hit *hits, int *n) {
    if (sr->lock) pthread_rwlock_rdlock(sr->lock);
    int st = nq > 1 ? lookup_multi(*sr->vi, v, nq, k, hits, n) : vindex_search(*sr->vi, v, k, hits, n);
    if (sr->lock) pthread_rwlock_unlock(sr->lock);
    return st ? status_wrap(st, "search failed") : ST_OK;
}

static int hit_cmp_desc(const void *a, const void *b) {
    const search_hit *x = a, *y = b;
    int rx = x->itm >= 0, ry = y->itm >= 0;   /* re-ranked hits first */
    if (rx != ry) return ry - rx;
    return x->score < y->score ? 1 : x->score > y->score ? -1 : 0;
}

/* BLIP-2's ITM on each found hit's image file with the text: score = match
 * logit + ITC score (LAVIS), itm = match probability; then re-sorted. */
static int rerank_itm(const embedder *e, const search_query *q, search_hit *hits, int n) {
    if (e->family != EMBED_BLIP2)
        return status_fail(ST_UNSUPPORTED, "search: --rerank itm needs a BLIP-2 model (%s has no ITM head)", e->name);
    if (!q->text) return status_fail(ST_ARG, "search: ITM re-ranking is for text queries");
    size_t plen = embedder_pixels_len(e);
    float *pix = malloc(plen * sizeof *pix);
    if (!pix) return status_fail(ST_NOMEM, "out of memory");
    int st = ST_OK;
    for (int i = 0; i < n && !st; i++) {
        if (!hits[i].found || embedder_pixels_file(e, hits[i].image.path, &q->image, pix, NULL)) {
            status_clear();            /* unreadable now: keeps its ITC score, after the re-ranked */
            continue;
        }
        float logits[2], prob;
        const char *t = q->text;
        if ((st = embedder_itm(e, pix, 1, &t, 1, logits, &prob))) break;
        hits[i].score += logits[1];
        hits[i].itm = prob;
    }
    free(pix);
    if (!st) qsort(hits, (size_t)n, sizeof *hits, hit_cmp_desc);
    return st;
}

/* Each hit's path and metadata from the store. */
static void resolve(store *st, const vindex_hit *vh, int n, search_hit *hits) {
    for (int i = 0; i < n; i++) {
        search_hit *h = &hits[i];
        memset(h, 0, sizeof *h);
        h->id = vh[i].id;
        h->score = vh[i].score;
        h->itm = -1;
        h->found = store_get_image(st, vh[i].id, &h->image) == ST_OK;
        if (!h->found) memset(&h->image, 0, sizeof h->image);
    }
}

int search_run(const searcher *sr, const search_query *q, search_result *out) {
    memset(out, 0, sizeof *out);
    int kinds = (q->text != NULL) + (q->image_path != NULL) + (q->image_bytes != NULL);
    if (kinds != 1) return status_fail(ST_ARG, "search: give one query (a text or an image), got %d", kinds);
    if (q->k < 1) return status_fail(ST_ARG, "search: k must be at least 1, got %d", q->k);
    const int nq = q->text ? 1 : sr->emb->n_vec;   /* a picture gives n_vec vectors */
    float *v = malloc((size_t)nq * (size_t)sr->emb->dim * sizeof *v);
    vindex_hit *vh = malloc((size_t)q->k * sizeof *vh);
    search_hit *hits = malloc((size_t)q->k * sizeof *hits);
    int n = 0, st = v && vh && hits ? ST_OK : status_fail(ST_NOMEM, "out of memory");
    double t0 = timer_now();
    if (!st) st = embed_query(sr->emb, q, v, out);
    if (!st) st = lookup(sr, v, nq, q->k, vh, &n);
    double took = timer_now() - t0;
    if (!st) resolve(sr->st, vh, n, hits);
    if (!st && q->rerank == SEARCH_RERANK_ITM) st = rerank_itm(sr->emb, q, hits, n);
    else if (!st && q->rerank) st = status_fail(ST_ARG, "search: unknown re-ranking %d", q->rerank);
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
