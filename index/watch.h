/* index/watch.h — what changed under a set of photo folders, from inotify,
 * gathered into debounced batches of paths for ingest_paths().
 *
 *     watch *w;
 *     if (watch_open(roots, n_roots, &w)) die(status_message());
 *     ingest_run(...);                        // the first full pass, AFTER
 *                                             // watch_open: nothing is missed
 *     watch_opts wo;
 *     watch_opts_default(&wo);
 *     watch_batch b;
 *     while (watch_next(w, &wo, &b) == ST_OK) {
 *         if (b.rescan) ingest_run(...);      // events were lost: walk everything
 *         else ingest_paths(st, e, &o, (const char *const *)b.paths, b.n, &s);
 *         watch_batch_release(&b);
 *     }
 *     watch_close(w);
 *
 * Every non-hidden directory under the roots gets an inotify watch (links to
 * directories are not followed, as in the ingest walk); a directory created
 * or moved in gets its watches when its event is read, and is itself part of
 * the batch (the ingest walks it, so files written into it before its watch
 * existed are not missed). A directory moved out or deleted loses its
 * watches. Events and the paths they give:
 *   a file written and closed, moved in, or its attributes changed (touch)
 *                                          → the file
 *   a directory created or moved in         → the directory
 *   a file or directory deleted or moved out → that path (no longer there:
 *                                             ingest_paths removes what the
 *                                             store holds at or under it)
 * Names starting with '.' are ignored (hidden files, and the temporary files
 * of rsync and many editors, which are renamed into place: seen as moved in).
 * A root itself deleted or unmounted removes nothing (as ingest --prune
 * refuses to empty a root that vanished); it is logged. The kernel's queue
 * overflowing (IN_Q_OVERFLOW) sets batch.rescan: events were lost and the
 * caller walks the roots again. When the system's inotify watch limit
 * (fs.inotify.max_user_watches) is reached, the folders beyond it are
 * logged once and only seen by such walks.
 *
 * Batching (debounce): watch_next returns once events have been quiet for
 * quiet_s, or max_wait_s after the batch's first event (a steady trickle
 * still gets ingested), or as soon as max_paths distinct paths are gathered
 * (a burst of thousands of files goes through in several batches, the rest
 * staying in the kernel's queue until the next call).
 *
 * Ownership: a batch's paths are malloc'd, freed by watch_batch_release.
 * Thread-safety: one thread per watch.
 */
#ifndef SEER_WATCH_H
#define SEER_WATCH_H

#include <stddef.h>

typedef struct watch watch;

typedef struct {
    double quiet_s;          /* default 1.0 */
    double max_wait_s;       /* default 10.0 */
    size_t max_paths;        /* default 4096 */
    double idle_s;           /* return an empty batch after this long without any
                                event (0 = wait for events indefinitely; default 0) */
    volatile int *cancel;    /* when set nonzero: return ST_CANCELLED (checked every 0.1 s) */
} watch_opts;

typedef struct {
    char  **paths;           /* (n) absolute, distinct, sorted */
    size_t  n;
    int     rescan;          /* events were lost: walk the roots again */
} watch_batch;

void watch_opts_default(watch_opts *o);

/* Watch every directory under the roots (files or directories; a file root
 * is watched through its directory, for that name only). ST_NOT_FOUND when
 * a root does not exist, ST_IO when inotify is unavailable. */
int  watch_open(const char *const *roots, int n_roots, watch **out);
void watch_close(watch *w);

/* Wait for the next batch (see above). ST_OK with *out filled (empty only
 * after idle_s without events), ST_CANCELLED, or ST_IO. */
int  watch_next(watch *w, const watch_opts *o, watch_batch *out);
void watch_batch_release(watch_batch *b);

/* The number of directories watched now (tests, logs). */
size_t watch_count(const watch *w);

#endif
