/* index/eval/retrieval_run.h — the retrieval evaluation of a store: which
 * caption images the store holds, the captions through the text tower, the
 * standard protocol (eval_retrieval.h) on the stored image vectors.
 *
 *     retrieval_run_opts o = {.db = "photos.db", .captions = "captions_val2017.json"};
 *     retrieval_run_result r;
 *     if (retrieval_run(&o, &r)) die(status_message());
 *     printf("%s: t2i R@1 %.3f\n", r.identity, r.r.t2i.r1);
 *
 * Images are matched by base name: a caption file names "000000039769.jpg",
 * the store holds "/photos/coco/val2017/000000039769.jpg". A caption image
 * the store does not hold is left out with its captions (counted in
 * n_missing; the first five named through on_missing). The model is the
 * store's own unless o->model names another directory (which the store must
 * have been built with: its identity is checked).
 *
 * Ownership: the result holds no pointers into the run except identity,
 * which is copied. Not thread-safe per call (it opens the store read-only).
 */
#ifndef SEER_RETRIEVAL_RUN_H
#define SEER_RETRIEVAL_RUN_H

#include <stddef.h>

#include "eval_retrieval.h"

typedef struct {
    const char *db;            /* the store */
    const char *captions;      /* COCO captions JSON or a Flickr CSV (captions.h) */
    const char *model;         /* NULL: the model the store was built with */
    size_t      limit;         /* only the images of the first limit captions (0: all) */
    /* optional: each caption embedded (done of total), and each caption
     * image the store lacks (path), as they happen */
    void      (*on_progress)(size_t done, size_t total, void *ctx);
    void      (*on_missing)(const char *image, void *ctx);
    void       *ctx;
} retrieval_run_opts;

typedef struct {
    eval_retrieval_result r;
    char   identity[512];                /* the model's identity */
    size_t n_images_file, n_captions_file; /* in the caption file (after limit) */
    size_t n_images, n_captions;         /* scored */
    size_t n_missing, n_dropped;         /* images not in the store, and their captions */
    size_t n_dup_names;                  /* stored base names under several paths (the first is used) */
    double t_embed, t_score;             /* seconds */
} retrieval_run_result;

/* ST_NOT_FOUND when none of the caption images is in the store; the
 * store's, captions' and model's errors otherwise. */
int retrieval_run(const retrieval_run_opts *o, retrieval_run_result *out);

#endif
