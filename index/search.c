/* index/search.c — see search.h. */
#include "search.h"
#include "status.h"
#include "timer.h"

#include <stdlib.h>
#include <string.h>

search_query search_query_default(void) {
    return (search_query){.image = image_opts_default(), .k = 15};
}

/* The query → v through the embedder (a text: dim floats; a picture, or a
 * stored image for like=: n_vec × dim); the decoded picture's facts into out. */
static int embed_query(const searcher *sr, const search_query *q, float *v, search_result *out) {
    const embedder *e = sr->emb;
    if (q->like) {
        int st = store_get_vector(sr->st, q->like, v);
        if (st == ST_NOT_FOUND)
            return status_fail(ST_NOT_FOUND, "like: no stored image with id %llu", (unsigned long long)q->like);
        return st;
    }
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

/* The top-k of v (nq query vectors) in *sr->vi among what the filter keeps,
 * under sr->lock when there is one. A query of nq > 1 vectors (a BLIP-2
 * picture, or like= on a BLIP-2 store) against images of several vectors:
 * an image's score is the best over every pair, i.e. the best of its scores
 * for each query vector, so the per-query top-k lists merged by max give the
 * exact overall top-k (an image in it has its best pair's query ranking it
 * above all but fewer than k others). The z statistics are those of the
 * first query vector's scan. */
static int lookup(const searcher *sr, const search_query *q, const float *v, int nq, int k, vindex_hit *hits,
                  int *n, search_result *out) {
    if (sr->lock) pthread_rwlock_rdlock(sr->lock);
    uint64_t *allow = NULL;
    size_t n_allow = 0;
    int st = ST_OK, filtered = q->filter && filter_active(q->filter);
    if (filtered) {
        if (!sr->cat || !*sr->cat) st = status_fail(ST_ARG, "search: filters need the catalog (none loaded)");
        else st = catalog_filter(*sr->cat, q->filter, &allow, &n_allow);
        out->matches = n_allow;
    } else {
        out->matches = vindex_size(*sr->vi) - (q->like ? 1 : 0);
    }
    *n = 0;
    if (!st && (!filtered || n_allow)) {
        if (nq == 1) {
            st = vindex_search_among(*sr->vi, v, filtered ? allow : NULL, n_allow, q->like, k, hits, n, &out->stats);
        } else {
            const int dim = sr->emb->dim;
            vindex_hit *all = malloc((size_t)nq * (size_t)k * sizeof *all);
            size_t m = 0;
            if (!all) st = status_fail(ST_NOMEM, "out of memory");
            for (int j = 0; !st && j < nq; j++) {
                int got = 0;
                st = vindex_search_among(*sr->vi, v + (size_t)j * dim, filtered ? allow : NULL, n_allow, q->like, k,
                                         all + m, &got, j == 0 ? &out->stats : NULL);
                m += (size_t)got;
            }
            if (!st) {
                qsort(all, m, sizeof *all, hit_by_score);   /* best first: an id's first entry is its best */
                for (size_t i = 0; i < m && *n < k; i++) {
                    int dup = 0;
                    for (int j = 0; j < *n && !dup; j++) dup = hits[j].id == all[i].id;
                    if (!dup) hits[(*n)++] = all[i];
                }
            }
            free(all);
        }
    }
    if (sr->lock) pthread_rwlock_unlock(sr->lock);
    free(allow);
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
static void resolve(store *st, const vindex_hit *vh, int n, const vindex_scan_stats *ss, search_hit *hits) {
    for (int i = 0; i < n; i++) {
        search_hit *h = &hits[i];
        memset(h, 0, sizeof *h);
        h->id = vh[i].id;
        h->score = vh[i].score;
        h->z = ss->std > 0 ? (float)((vh[i].score - ss->mean) / ss->std) : 0.0f;
        h->itm = -1;
        h->found = store_get_image(st, vh[i].id, &h->image) == ST_OK;
        if (!h->found) memset(&h->image, 0, sizeof h->image);
    }
}

int search_run(const searcher *sr, const search_query *q, search_result *out) {
    memset(out, 0, sizeof *out);
    int kinds = (q->text != NULL) + (q->image_path != NULL) + (q->image_bytes != NULL) + (q->like != 0);
    if (kinds != 1) return status_fail(ST_ARG, "search: give one query (a text, an image or like=ID), got %d", kinds);
    if (q->k < 1) return status_fail(ST_ARG, "search: k must be at least 1, got %d", q->k);
    if (q->offset < 0 || q->offset > 4096 - q->k)
        return status_fail(ST_ARG, "search: offset must be from 0 to %d with k = %d (k + offset <= 4096)", 4096 - q->k, q->k);
    int kk = q->k + q->offset;
    const int nq = q->text ? 1 : sr->emb->n_vec;   /* a picture (or like=) gives n_vec vectors */
    float *v = malloc((size_t)nq * (size_t)sr->emb->dim * sizeof *v);
    vindex_hit *vh = malloc((size_t)kk * sizeof *vh);
    search_hit *hits = malloc((size_t)q->k * sizeof *hits);
    int n = 0, st = v && vh && hits ? ST_OK : status_fail(ST_NOMEM, "out of memory");
    double t0 = timer_now();
    if (!st) st = embed_query(sr, q, v, out);
    if (!st) st = lookup(sr, q, v, nq, kk, vh, &n, out);
    double took = timer_now() - t0;
    /* strong: the best hit of the whole query, whatever the page */
    if (!st && n > 0 && out->stats.std > 0 && (vh[0].score - out->stats.mean) / out->stats.std >= SEARCH_STRONG_Z)
        out->strong = 1;
    /* the page: hits [offset, offset + k) */
    int from = n < q->offset ? n : q->offset;
    n -= from;
    if (!st) resolve(sr->st, vh + from, n, &out->stats, hits);
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
