/* index/search.h — one search: a text or a picture in, the k most similar
 * stored images out, with what the store knows of each. `seer search` and
 * /api/search both run this.
 *
 *     vindex *vi;                                  // opened by the caller
 *     searcher sr = {.emb = e, .st = st, .vi = &vi};
 *     search_query q = search_query_default();
 *     q.text = "a dog on a couch";                 // or q.image_path / q.image_bytes
 *     q.k = 15;
 *     search_result r;
 *     if (search_run(&sr, &q, &r)) die(status_message());
 *     for (int i = 0; i < r.n; i++)
 *         printf("%.4f %s\n", r.hits[i].score, r.hits[i].found ? r.hits[i].image.path : "");
 *     search_result_release(&r);
 *
 * Steps: the query becomes a vector through the embedder (model/pipeline/
 * embed.h: text tower, or decode once + preprocess + image tower), the vindex
 * gives the top-k ids by cosine, and each id is looked up in the store for
 * its path and metadata. With several vectors per image (BLIP-2) an image's
 * score is the max over its vectors; a picture query (n_vec vectors) scores
 * an image by its best pair.
 *
 * Re-ranking (q.rerank = SEARCH_RERANK_ITM, BLIP-2 text queries only): the
 * top-k hits' image files are decoded and run through BLIP-2's ITM head with
 * the text; they are re-ordered by ITM match logit + ITC score, as BLIP-2's
 * retrieval evaluation (LAVIS compute_sim_matrix) does, and each gets its
 * ITM match probability in hit.itm. Only the k hits are re-ranked (the
 * caller asks a larger k to re-rank more). A hit whose file cannot be read
 * keeps its ITC score and goes after the re-ranked ones. The embedder needs
 * both sides (EMBED_TEXT | EMBED_IMAGE); a CLIP embedder is ST_UNSUPPORTED.
 *
 * Ownership and lifetimes: a searcher only borrows. emb, st, *vi and lock
 * belong to the caller and must outlive every search_run on them; nothing of
 * the query is kept after search_run returns. A search_result owns its hits
 * array (free it with search_result_release); each hit's store_image is a copy,
 * with no pointer into the store. result.format is a static string.
 *
 * Thread-safety: search_run may run on many threads at once over one
 * searcher (the embedder, the store's reads and vindex searches all are).
 * An owner that replaces the index while searches run (the server's reload)
 * sets lock: search_run holds it for reading only around the index lookup,
 * reading *vi under it, and the owner swaps *vi under the write lock.
 */
#ifndef SEER_SEARCH_H
#define SEER_SEARCH_H

#include "catalog.h"
#include "embed.h"
#include "filter.h"
#include "image.h"
#include "store.h"
#include "vindex.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* What searches run against; every pointer borrowed (see above). */
typedef struct {
    const embedder   *emb;   /* with the tower(s) the queries need */
    store            *st;    /* the store the index was built from */
    vindex *const    *vi;    /* where the current index is; *vi read at each search */
    pthread_rwlock_t *lock;  /* NULL, or held for reading around the lookup in *vi */
    catalog *const   *cat;   /* NULL, or where the current catalog is (read under lock
                                like *vi); needed by a query with a filter */
} searcher;

/* "Strong match" rule (docs/api.md): a hit stands out when its score is at
 * least SEARCH_STRONG_Z standard deviations above the mean score of the
 * scanned set for this query. Measured in docs/api.md. */
#define SEARCH_STRONG_Z 3.0

/* One query: exactly one of text, image_path, image_bytes, like. */
typedef struct {
    const char *text;        /* NUL-terminated text, or NULL */
    const char *image_path;  /* an image file, or NULL */
    const void *image_bytes; /* an image in memory (image_len bytes, e.g. an upload), or NULL */
    size_t      image_len;
    const char *image_name;  /* names image_bytes in error messages (NULL reads as "image") */
    image_opts  image;       /* decode limits and EXIF orientation for image queries */
    uint64_t    like;        /* a stored image's id: its vector is the query and it is
                                never a hit itself (0 = none); ST_NOT_FOUND if absent */
    int         k;           /* how many hits at most, >= 1 */
    int         offset;      /* skip the first offset hits (paging), >= 0; k + offset
                                at most 4096 */
    const filter *filter;    /* NULL, or which images may be hits (applied before
                                ranking: min(k, matches after offset) come back) */
    int         rerank;      /* SEARCH_RERANK_NONE (default) or SEARCH_RERANK_ITM */
} search_query;

enum { SEARCH_RERANK_NONE = 0, SEARCH_RERANK_ITM = 1 };

typedef struct {
    uint64_t    id;          /* store image id */
    float       score;       /* cosine similarity (max over the image's vectors), best
                                first; re-ranked: ITM match logit + that cosine */
    float       z;           /* (score - mean) / std of the scanned set; 0 when std is 0 */
    float       itm;         /* ITM match probability when re-ranked, else -1 */
    int         found;       /* 1 when the store holds the id (else image is zeroed: */
                             /* removed since the index was built, or unreadable) */
    store_image image;       /* path, size, width/height, format, ... (a copy) */
} search_hit;

typedef struct {
    search_hit *hits;        /* n entries, best first; malloc'd, owned by the result */
    int         n;           /* min(k, index size) */
    double      took_s;      /* embedding + index lookup (not the store look-ups) */
    uint64_t    matches;     /* images the filter kept (the index size without one) */
    vindex_scan_stats stats; /* the scanned set's mean and std (see vindex.h) */
    int         strong;      /* 1 when some hit has z >= SEARCH_STRONG_Z */
    /* the decoded query picture (image queries only; else NULL / 0) */
    const char *format;
    int         width, height;
} search_result;

/* {NULL..., image = image_opts_default(), k = 15}. */
search_query search_query_default(void);

/* Run one search. ST_ARG for a query that is not exactly one of text /
 * image_path / image_bytes / like, k < 1, offset < 0, k + offset > 4096, or
 * a filter without a catalog; ST_NOT_FOUND for a like id not stored; the embedder's errors for a text or a
 * picture it cannot take (ST_FORMAT, ST_TOO_LARGE, ST_UNSUPPORTED, ...); an
 * index lookup failure is wrapped as "search failed: ...". On failure *out is
 * empty ({NULL, 0}) and needs no free. */
int  search_run(const searcher *sr, const search_query *q, search_result *out);

/* Free the hits; NULL and an empty result are fine. */
void search_result_release(search_result *r);

/* vindex parameters for an index kind named "auto" (HNSW when the store has
 * a persisted one, else exact), "flat" or "hnsw": *p gets the defaults with
 * that kind. ST_ARG naming the choices for any other name. */
int  search_index_params(store *st, const char *kind, vindex_params *p);

#endif
