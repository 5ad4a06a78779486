/* index/eval_retrieval.h — the standard image–caption retrieval protocol:
 * text→image and image→text Recall@1/5/10, mean and median rank.
 *
 *     eval_retrieval_result r;
 *     eval_retrieval_score(text_emb, n_captions, image_emb, n_images, dim, image_of, &r);
 *     printf("t2i R@1 %.3f  i2t R@1 %.3f\n", r.t2i.r1, r.i2t.r1);
 *
 * Protocol (Karpathy & Fei-Fei; CLIP, BLIP and the Flickr30k / COCO 5k
 * evaluations use it): similarities are cosines (both sides L2-normalised
 * here, whatever the caller passed).
 *   text→image: every caption is a query; its one relevant image is the
 *     image it describes; rank = position of that image among all images.
 *   image→text: every image is a query; its relevant items are all of its
 *     captions (~5); rank = the best position any of them reaches among all
 *     captions.
 *   Recall@K = fraction of queries with rank <= K; mean / median rank over
 *   the queries (median of an even count: the mean of the middle two).
 * Ties: an item scored exactly like the relevant one ranks ahead of it only
 * when its index is lower (what a stable descending sort gives).
 *
 * Cost: two blocked sgemm sweeps over the (caption x image) similarities, in
 * row blocks of EVAL_RETRIEVAL_BLOCK, so memory stays O(block x max(n)), not
 * O(captions x images).
 */
#ifndef SEER_EVAL_RETRIEVAL_H
#define SEER_EVAL_RETRIEVAL_H

#include <stddef.h>

#define EVAL_RETRIEVAL_BLOCK 256

typedef struct {
    size_t n_queries;
    double r1, r5, r10;        /* in [0, 1] */
    double mean_rank, median_rank;
} eval_recall;

typedef struct {
    eval_recall t2i, i2t;
    size_t n_images, n_captions;
} eval_retrieval_result;

/* text (nt, dim), img (ni, dim) row-major; image_of (nt) gives each
 * caption's image in [0, ni). Every image needs at least one caption
 * (ST_ARG otherwise: it could not be scored). Inputs are not modified. */
int eval_retrieval_score(const float *text, size_t nt, const float *img, size_t ni, int dim,
                         const size_t *image_of, eval_retrieval_result *out);

/* The same with n_vec vectors per image (BLIP-2's 32 query tokens): img is
 * (ni, n_vec, dim), every vector normalised here, and the similarity of a
 * caption and an image is the maximum over the image's vectors (BLIP-2's
 * ITC, in both directions). n_vec = 1 is eval_retrieval_score. */
int eval_retrieval_score_multi(const float *text, size_t nt, const float *img, size_t ni, int n_vec, int dim,
                               const size_t *image_of, eval_retrieval_result *out);

#endif
