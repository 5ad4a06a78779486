/* server/queue.h — a bounded job queue served by worker threads: the server's
 * model work (embedding a text or an uploaded image, then the index search)
 * runs here, off civetweb's request threads.
 *
 *     queue *q;
 *     if (queue_new(2, 8, &q)) die(status_message());   // 2 workers, 8 may wait
 *     if (queue_run(q, embed_and_search, &job) == ST_BUSY)
 *         return reply_503();                               // full: shed load
 *     ... job's results are ready here ...
 *     queue_free(q);
 *
 * Why not run on the request thread: civetweb's worker threads have small
 * stacks (about 100 KB in Debian's build), too small for the model code (PCRE2's JIT
 * matcher alone takes 32 KB of it). Workers get QUEUE_STACK_BYTES.
 *
 * queue_run blocks the caller until a worker has run fn(arg) to completion,
 * so the job may live on the caller's stack. Jobs start in FIFO order. When
 * max_pending jobs already wait for a worker, queue_run refuses at once with
 * ST_BUSY (the API answers 503 + Retry-After).
 *
 * Thread-safety: queue_run and queue_stats_get may be called from any thread.
 * queue_free must run after every queue_run has returned (the server stops
 * civetweb first); it joins the workers.
 */
#ifndef SEER_QUEUE_H
#define SEER_QUEUE_H

#define QUEUE_STACK_BYTES ((size_t)16 << 20)

typedef struct queue queue;
typedef void (*queue_fn)(void *arg);

typedef struct {
    int workers;
    int running;                  /* jobs running now */
    int pending;                  /* jobs waiting for a worker now */
    int max_pending;
    unsigned long long served;    /* jobs run */
    unsigned long long rejected;  /* queue_run calls refused (ST_BUSY) */
} queue_stats;

/* workers >= 1 threads, max_pending >= 0. ST_ARG, ST_NOMEM, ST_INTERNAL (no thread). */
int  queue_new(int workers, int max_pending, queue **out);
/* Run fn(arg) on a worker and wait for it. ST_BUSY (with a message) when the
 * queue is full; ST_OK once fn has returned. */
int  queue_run(queue *q, queue_fn fn, void *arg);
/* queue_run, but when the queue is full wait up to wait_ms for a place (a
 * worker finishing) before refusing with ST_BUSY. The chat endpoint uses it
 * so that a request arriving just after a client dropped its stream is served
 * once the worker has noticed (on its next write) and returned. */
int  queue_run_wait(queue *q, queue_fn fn, void *arg, int wait_ms);
/* Queue fn(arg) and return at once (the same admission rule as queue_run:
 * ST_BUSY when full, or once queue_free began). fn owns arg: it runs exactly
 * once when ST_OK was returned, queue_free included (it runs the jobs still
 * queued before joining), and must free arg itself. */
int  queue_post(queue *q, queue_fn fn, void *arg);
void queue_stats_get(queue *q, queue_stats *out);
/* Stop and join the workers. NULL is fine. */
void queue_free(queue *q);

#endif
