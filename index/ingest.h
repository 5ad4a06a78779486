/* index/ingest.h — bulk ingestion: photo trees in, store records out.
 *
 *     ingest_opts o;
 *     ingest_opts_default(&o);
 *     o.roots = (const char *[]){"~/Photos"}; o.n_roots = 1;
 *     ingest_stats s;
 *     if (ingest_run(st, emb, &o, &s)) die(status_message());
 *
 * Pipeline (design):
 *   walk      the roots recursively (hidden entries skipped, directory links
 *             not followed), keep files whose extension the decoder reads;
 *             paths are made absolute (realpath).
 *   workers   (o.threads) per file: stat; a path stored with the same size and
 *             mtime is "unchanged" and never read; otherwise read, hash
 *             (xxh3-128); content already stored is a "duplicate" needing no
 *             decode; else decode (EXIF applied), preprocess to the model's
 *             pixels, make the thumbnail.
 *   main      collects results; every `batch` decoded images run through the
 *             image tower as one GEMM batch, and the batch's records (new,
 *             replaced, duplicates) are committed in ONE write transaction.
 *   prune     (o.prune) afterwards, stored paths under the roots that no
 *             longer exist are removed. A root without any image file left
 *             while the store holds some under it is refused before the run
 *             unless o.prune_empty.
 * A kill at any point loses only the uncommitted batch; the next run sees the
 * committed paths as unchanged and finishes the job.
 *
 * A bad file never stops the run: it is counted in `failed` and reported to
 * o.on_error with the reason. Thread-safety: one ingest per store at a time
 * (the store's writer lock enforces it across processes).
 */
#ifndef SEER_INGEST_H
#define SEER_INGEST_H

#include "embed.h"
#include "store.h"

#include <stdint.h>

typedef struct {
    uint64_t total;        /* candidate image files found by the walk */
    uint64_t done;         /* of those, finished (any outcome) */
    uint64_t added, replaced, unchanged, duplicates, failed;
    uint64_t unsupported;  /* files skipped for their extension */
    uint64_t hidden;       /* hidden files and directories skipped */
    uint64_t pruned;
    double   t_read, t_decode, t_preprocess, t_thumb; /* seconds, summed over workers */
    double   t_encode, t_commit;                      /* seconds, main thread */
    double   elapsed;
} ingest_stats;

typedef struct {
    const char *const *roots;  /* files or directories */
    int   n_roots;
    int   batch;               /* images per encode + commit (default 32) */
    int   threads;             /* decode workers (default: online CPUs) */
    int   prune;               /* drop stored paths under the roots that are gone */
    int   prune_empty;         /* with prune: also when a root has no image file left
                                  (else that refuses the run: an unmounted drive
                                  would lose every image under it) */
    int   thumb_side;          /* default 256 */
    int   thumb_quality;       /* default 85 */
    image_opts image;          /* decode limits, EXIF */
    /* Called from the main thread about every progress_interval seconds and
     * once at the end. */
    void (*on_progress)(const ingest_stats *s, void *ctx);
    double progress_interval;  /* default 0.2 s */
    /* Called from the main thread for each failed file. */
    void (*on_error)(const char *path, const char *reason, void *ctx);
    void *ctx;
    volatile int *cancel;      /* when set nonzero, stop after the current batch */
} ingest_opts;

void ingest_opts_default(ingest_opts *o);

/* Run an ingest into a writable store whose model (store_check_model) is the
 * embedder's. Returns ST_OK when the run completed, even if files failed
 * (see stats; a path too long for the store is one such file); ST_CANCELLED
 * when *cancel stopped it (committed work kept); ST_ARG before anything is
 * done when pruning would empty a root that has no image file left (see
 * prune_empty). */
int ingest_run(store *st, const embedder *e, const ingest_opts *o, ingest_stats *stats);

/* Record the embedder's model in the store (identity, family, dim, vectors
 * per image: store_check_model_vec), or check that the store's is the same;
 * ST_MISMATCH names both. Ingest, search and the server call it. */
int ingest_check_model(store *st, const embedder *e);

/* 1 if the file name's extension is one the decoder reads. */
int ingest_supported_name(const char *name);

#endif
