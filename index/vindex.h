/* index/vindex.h — the vector index: cosine top-k over the store's vectors.
 *
 *     vindex_params p;
 *     vindex_params_default(&p);            // exact (flat), own BLAS scan
 *     p.kind = VINDEX_HNSW;                 // or approximate, for large collections
 *     vindex *vi;
 *     if (vindex_load(st, &p, &vi, NULL)) die(status_message());
 *     vindex_hit hits[15];
 *     int n;
 *     if (vindex_search(vi, query, 15, hits, &n)) die(...);
 *     for (int i = 0; i < n; i++) printf("%llu %.4f\n", hits[i].id, hits[i].score);
 *     vindex_free(vi);
 *
 * Kinds:
 *   VINDEX_FLAT  exact. The vectors sit in one contiguous float32 [n, dim]
 *                matrix with an id array beside it. Two scans: our own
 *                (VINDEX_SCAN_OWN, the default: an AVX2 dot kernel for one
 *                query, cblas_sgemm for a batch, in row blocks with a fused
 *                top-k heap per block, split over `threads` OpenMP threads) or FAISS's
 *                IndexFlatIP (VINDEX_SCAN_FAISS, holds a second copy of the
 *                vectors). docs/benchmarks.md has the measurements behind the
 *                default. Nothing is persisted: the store's vectors ARE the index.
 *   VINDEX_HNSW  approximate: FAISS "HNSW<m>" with the inner-product metric
 *                (index_factory), efConstruction/efSearch set through the
 *                ParameterSpace. The serialized FAISS index is persisted in the
 *                store's `index` table under the name "hnsw" together with the
 *                generation it reflects (format in docs/storage.md).
 *
 * Generation rule (vindex_load, HNSW): the persisted index records the store
 * generation G, its id count n and its largest id M. Store ids are allocated
 * in increasing order and never reused, and an id's vector never changes, so
 * if the store now holds exactly n ids <= M, only additions happened since G:
 * the ids > M are added to the loaded index ("caught up"). Otherwise
 * (something was removed or replaced) the index is rebuilt from the vectors.
 * A writer store gets the refreshed index persisted; a read-only one keeps it
 * in memory only (the next ingest persists it).
 *
 * Scores are cosine similarities: the stored vectors are L2-normalised by the
 * encoder, and queries are normalised here (a zero query is ST_ARG).
 *
 * Several vectors per image (p.n_vec > 1; vindex_load takes it from the
 * store): an image's score is the maximum cosine over its n_vec vectors
 * (BLIP-2's ITC), and searches return distinct images ranked by it. FLAT is
 * exact; HNSW indexes every vector (label = row * n_vec + q), over-fetches
 * and groups, widening until k distinct images or the index is exhausted.
 *
 * Thread-safety: searches on one vindex may run concurrently from many
 * threads. vindex_add, vindex_set_ef_search and vindex_free need exclusive
 * access. Ownership: a vindex owns copies of everything it was given; it keeps
 * no reference to the store.
 */
#ifndef SEER_VINDEX_H
#define SEER_VINDEX_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

typedef enum { VINDEX_FLAT = 0, VINDEX_HNSW = 1 } vindex_kind;
typedef enum { VINDEX_SCAN_OWN = 0, VINDEX_SCAN_FAISS = 1 } vindex_scan;

typedef struct {
    vindex_kind kind;
    vindex_scan scan;      /* for VINDEX_FLAT */
    int threads;           /* own-scan OpenMP threads (default 2) */
    int hnsw_m;            /* graph degree (default 32) */
    int ef_construction;   /* default 64 */
    int ef_search;         /* default 64 */
    int n_vec;             /* vectors per image (default 1); vindex_load takes the store's */
} vindex_params;

typedef struct {
    uint64_t id;           /* store image id */
    float    score;        /* cosine similarity, best first */
} vindex_hit;

/* How vindex_load obtained the index. */
typedef enum { VINDEX_BUILT = 1, VINDEX_LOADED = 2, VINDEX_CAUGHT_UP = 3, VINDEX_REBUILT = 4 } vindex_how;

typedef struct vindex vindex;

void vindex_params_default(vindex_params *p);

/* Build from n images' vectors (row-major [n, p->n_vec, dim]) with their ids;
 * both copied. */
int  vindex_build(const vindex_params *p, int dim, size_t n, const float *vecs, const uint64_t *ids,
                  vindex **out);

/* Build, load, catch up or rebuild from the store (see the generation rule);
 * *how (may be NULL) says which. An empty store gives an empty index. */
int  vindex_load(store *st, const vindex_params *p, vindex **out, vindex_how *how);

/* Persist an HNSW index with the generation it reflects (no-op for FLAT).
 * The store must be writable. */
int  vindex_save(const vindex *vi, store *st);

/* Append n images' vectors ([n, n_vec, dim]) with ids (all > the ids already
 * in the index). */
int  vindex_add(vindex *vi, size_t n, const float *vecs, const uint64_t *ids);

/* Top-k by cosine for one query (dim floats). hits holds k entries;
 * *n_hits = min(k, size). */
int  vindex_search(const vindex *vi, const float *query, int k, vindex_hit *hits, int *n_hits);

/* nq queries at once ([nq, dim]); hits is [nq, k], row q filled with
 * *n_hits entries (the same for every query). */
int  vindex_search_batch(const vindex *vi, size_t nq, const float *queries, int k, vindex_hit *hits,
                         int *n_hits);

/* What one query's scan saw: the scores of every vector it compared the
 * query with (the "scanned set"), summarised for z-scores (search.h). */
typedef struct {
    size_t scanned;        /* vectors scored (0 when the stats are unknown) */
    double mean, std;      /* of those scores (population std; 0 when scanned < 2) */
} vindex_scan_stats;

/* Most vectors an HNSW search samples (evenly spaced rows) for its stats. */
#define VINDEX_STATS_SAMPLE 4096

/* Top-k for one query among the vectors whose ids are in allow (n_allow ids,
 * strictly increasing; ids not in the index are ignored), or among all when
 * allow is NULL; exclude (0 = none) is never returned nor counted (a stored
 * image used as the query). The filter is applied before ranking, so
 * *n_hits = min(k, matching vectors). *stats (may be NULL) gets the scanned
 * set's mean and std.
 *   FLAT: exact. A dense allow-set (>= 1/4 of the rows) is a bitmap checked
 *   during the usual block scan; a sparse one is scanned row by row (only
 *   those rows are read). The stats are exact over what was scored.
 *   HNSW: allow == NULL searches the graph, with stats over an evenly spaced
 *   sample of at most VINDEX_STATS_SAMPLE vectors; allow != NULL is an exact
 *   scan over the allowed vectors, read back from FAISS's storage: FAISS
 *   1.7.3's C API has no search parameters, so no IDSelector can reach the
 *   graph search (docs/benchmarks.md has the cost).
 * Thread-safe like vindex_search. */
int  vindex_search_among(const vindex *vi, const float *query, const uint64_t *allow, size_t n_allow,
                         uint64_t exclude, int k, vindex_hit *hits, int *n_hits, vindex_scan_stats *stats);

/* HNSW only: the search breadth (recall/latency knob). */
int  vindex_set_ef_search(vindex *vi, int ef);

size_t   vindex_size(const vindex *vi);    /* images */
int      vindex_dim(const vindex *vi);     /* floats per vector */
int      vindex_n_vec(const vindex *vi);   /* vectors per image */
vindex_kind vindex_kind_of(const vindex *vi);
/* The store generation the index reflects (0 for vindex_build). */
uint64_t vindex_generation(const vindex *vi);

void vindex_free(vindex *vi);

#endif
