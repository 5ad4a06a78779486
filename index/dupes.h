/* index/dupes.h — near-duplicate groups: images whose embeddings are at
 * least `threshold` cosine-similar (resized, recompressed, lightly edited
 * copies of one photo), found from the vector index.
 *
 *     dupes_result r;
 *     if (dupes_find(st, vi, DUPES_THRESHOLD_DEFAULT, &r)) die(status_message());
 *     for (size_t g = 0; g < r.n_groups; g++) ... r.groups[g].ids[0 .. n) ...
 *     dupes_result_release(&r);
 *
 * How: every stored vector is a query for its DUPES_NEIGHBOURS nearest
 * neighbours (vindex_search_batch, 256 queries per batch: one pass over the
 * index per batch for the exact scan, the graph for HNSW); each neighbour
 * pair at or above the threshold joins the two ids in a union-find. The
 * groups are the sets of two or more ids. A photo with more near-copies than
 * DUPES_NEIGHBOURS still joins them all through chains. The cost is that of
 * n k-NN searches (exact: n^2 dot products in sgemm batches; HNSW: n graph
 * searches), never a pairwise pass in a scripting loop.
 *
 * Byte-identical files are already one image (store.h) and never show here.
 * The default threshold was measured on the sample photos and the
 * shared fixtures (docs/api.md).
 *
 * Ownership: a dupes_result owns its groups. Thread-safety: reentrant.
 */
#ifndef SEER_DUPES_H
#define SEER_DUPES_H

#include "store.h"
#include "vindex.h"

#include <stddef.h>
#include <stdint.h>

#define DUPES_THRESHOLD_DEFAULT 0.95f
#define DUPES_NEIGHBOURS        8

typedef struct {
    size_t    n;            /* >= 2 */
    uint64_t *ids;          /* (n) increasing */
    float     min_score;    /* the weakest pair link that joined the group */
    float     max_score;    /* the strongest pair in the group */
} dupes_group;

typedef struct {
    size_t       n_groups;
    dupes_group *groups;    /* by first id */
} dupes_result;

/* threshold in (0, 1]: ST_ARG otherwise. vi was built from st. */
int  dupes_find(store *st, const vindex *vi, float threshold, dupes_result *out);
void dupes_result_release(dupes_result *r);

#endif
