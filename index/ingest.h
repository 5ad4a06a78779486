/* index/ingest.h — bulk ingestion: photo trees in, store records out.
 *
 *     ingest_opts o;
 *     ingest_opts_default(&o);
 *     o.roots = (const char *[]){"~/Photos"}; o.n_roots = 1;
 *     ingest_stats s;
 *     if (ingest_run(st, emb, &o, &s)) die(status_message());
 *
 * Pipeline (design):
 *   walk      the roots recursively (hidden entries skipped and not counted
 *             as seen, directory links not followed); EVERY other regular file
 *             is seen: the name is no filter (a JPEG without extension or
 *             named .png is read). Paths are made absolute (realpath).
 *   workers   (o.threads) per file: stat; a path stored with the same size and
 *             mtime is "unchanged" and never read (unless its record is a
 *             migrated one whose metadata were never read). Otherwise the
 *             first 64 KiB are read and sniffed (image_sniff): no image →
 *             "skipped" with the reason ("empty file", "not an image: text",
 *             "unsupported image format: SVG", ...). Then the whole file is
 *             read and hashed (xxh3-128) and its metadata read
 *             (image_meta_read: date taken, else the mtime marked MTIME;
 *             camera, GPS, oriented size, sniffed format). A stored path with
 *             the same content (touched) is "unchanged": only its stamps and
 *             metadata are committed, nothing is decoded. Content already
 *             stored under another path is a "duplicate" needing no decode.
 *             Else decode (EXIF applied), preprocess to the model's pixels,
 *             make the thumbnail.
 *   main      collects results; every `batch` decoded images run through the
 *             image tower as one GEMM batch, and the batch's records (new,
 *             replaced, duplicates, touched) are committed in ONE write
 *             transaction.
 *   prune     (o.prune) afterwards, stored paths under the roots that no
 *             longer exist are removed. A root without any image file left
 *             while the store holds some under it is not pruned (ST_ARG)
 *             unless o.prune_empty.
 * A kill at any point loses only the uncommitted batch; the next run sees the
 * committed paths as unchanged and finishes the job.
 *
 * Every file seen gets exactly one status (ingest_status), reported once to
 * o.on_file with its reason (NULL for added/updated/unchanged/duplicate):
 * the stats' added + updated + unchanged + duplicates + failed + skipped =
 * total. A bad file never stops the run. Thread-safety: one ingest per store
 * at a time (the store's writer lock enforces it across processes).
 */
#ifndef SEER_INGEST_H
#define SEER_INGEST_H

#include "embed.h"
#include "store.h"

#include <stdint.h>

/* What happened to one file seen. */
typedef enum {
    INGEST_ADDED = 1,    /* new content: embedded and stored */
    INGEST_UPDATED,      /* a stored path with new content: embedded again */
    INGEST_UNCHANGED,    /* same size and mtime, or touched with the same bytes */
    INGEST_DUPLICATE,    /* a new path whose bytes are already stored */
    INGEST_FAILED,       /* an image seer could not read or store (reason says why) */
    INGEST_SKIPPED,      /* not an image seer reads (reason says what it is) */
} ingest_status;

/* "added", "updated", ... (static). */
const char *ingest_status_name(int status);

typedef struct {
    uint64_t total;        /* files seen (hidden ones are not seen) */
    uint64_t done;         /* of those, finished (any status) */
    uint64_t added, updated, unchanged, duplicates, failed, skipped;   /* sum = total when done */
    uint64_t hidden;       /* hidden files and directories passed over */
    uint64_t pruned;       /* stored paths removed (gone, or no longer an image) */
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
    /* Called from the main thread once for every file seen, with its status
     * (ingest_status) and, for failed and skipped files, the reason (NULL
     * otherwise). path and reason live for the call only. */
    void (*on_file)(const char *path, int status, const char *reason, void *ctx);
    void *ctx;
    volatile int *cancel;      /* when set nonzero, stop after the current batch */
} ingest_opts;

void ingest_opts_default(ingest_opts *o);

/* Run an ingest into a writable store whose model (store_check_model) is the
 * embedder's. The roots that are folders are recorded in the store
 * (store_roots_add). Returns ST_OK when the run completed, even if files
 * failed (see stats; a path too long for the store is one such file);
 * ST_CANCELLED when *cancel stopped it (committed work kept); ST_ARG, with
 * the files ingested but nothing pruned, when pruning would empty a root that
 * has no image file left (see prune_empty). */
int ingest_run(store *st, const embedder *e, const ingest_opts *o, ingest_stats *stats);

/* Ingest exactly these paths (absolute; what a watcher saw change): a file
 * goes through the pipeline above, a directory is walked (moved in, say), a
 * path that no longer exists has its stored paths removed — itself and, for
 * a directory, every stored path under it. o->roots and o->prune are not
 * used. Same statuses, stats and crash safety as ingest_run. */
int ingest_paths(store *st, const embedder *e, const ingest_opts *o, const char *const *paths, size_t n,
                 ingest_stats *stats);

/* Why n bytes that image_sniff does not recognise are no image seer reads:
 * "empty file", "not an image: text", "unsupported image format: SVG", ...
 * (static). */
const char *ingest_not_image_reason(const void *bytes, size_t n);

/* Record the embedder's model in the store (identity, family, dim, vectors
 * per image: store_check_model_vec), or check that the store's is the same;
 * ST_MISMATCH names both. Ingest, search and the server call it. */
int ingest_check_model(store *st, const embedder *e);

#endif
