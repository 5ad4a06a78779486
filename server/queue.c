/* server/queue.c — the job queue of queue.h: a FIFO of caller-owned jobs, one
 * mutex, a condition for workers and one for waiting callers. */
#include "queue.h"

#include "status.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

typedef struct job {
    queue_fn    fn;
    void       *arg;
    int         done;
    int         posted;   /* queue_post's: heap-allocated, freed by the worker */
    struct job *next;
} job;

struct queue {
    pthread_mutex_t mu;
    pthread_cond_t  work_cv;    /* workers: a job arrived or stop */
    pthread_cond_t  done_cv;    /* callers: some job finished */
    job            *head, *tail;
    int             n_workers, started, running, pending, max_pending, stop;
    unsigned long long served, rejected;
    pthread_t      *threads;
};

static void *worker_main(void *arg) {
    queue *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->head && !q->stop) pthread_cond_wait(&q->work_cv, &q->mu);
        if (!q->head) break;                 /* stop, and nothing left to run */
        job *j = q->head;
        q->head = j->next;
        if (!q->head) q->tail = NULL;
        q->pending--;
        q->running++;
        pthread_mutex_unlock(&q->mu);
        j->fn(j->arg);
        pthread_mutex_lock(&q->mu);
        q->running--;
        q->served++;
        if (j->posted) {
            free(j);
            pthread_cond_broadcast(&q->done_cv);
            continue;
        }
        j->done = 1;
        pthread_cond_broadcast(&q->done_cv);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

int queue_new(int workers, int max_pending, queue **out) {
    *out = NULL;
    if (workers < 1 || max_pending < 0)
        return status_fail(ST_ARG, "queue: need workers >= 1 and max_pending >= 0 (got %d, %d)", workers, max_pending);
    queue *q = calloc(1, sizeof *q);
    if (!q || !(q->threads = calloc((size_t)workers, sizeof *q->threads))) {
        free(q);
        return status_fail(ST_NOMEM, "queue: out of memory");
    }
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->work_cv, NULL);
    pthread_cond_init(&q->done_cv, NULL);
    q->n_workers = workers;
    q->max_pending = max_pending;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, QUEUE_STACK_BYTES);
    for (; q->started < workers; q->started++)
        if (pthread_create(&q->threads[q->started], &at, worker_main, q)) break;
    pthread_attr_destroy(&at);
    if (q->started < workers) {
        queue_free(q);
        return status_fail(ST_INTERNAL, "queue: cannot start %d worker threads", workers);
    }
    *out = q;
    return ST_OK;
}

int queue_run(queue *q, queue_fn fn, void *arg) { return queue_run_wait(q, fn, arg, 0); }

int queue_post(queue *q, queue_fn fn, void *arg) {
    job *j = calloc(1, sizeof *j);
    if (!j) return status_fail(ST_NOMEM, "queue: out of memory");
    j->fn = fn, j->arg = arg, j->posted = 1;
    pthread_mutex_lock(&q->mu);
    int idle = q->n_workers - q->running - q->pending;
    if ((idle <= 0 && q->pending >= q->max_pending) || q->stop) {
        q->rejected++;
        int w = q->n_workers, p = q->pending;
        pthread_mutex_unlock(&q->mu);
        free(j);
        return status_fail(ST_BUSY, "server busy: %d jobs running and %d waiting; retry shortly", w, p);
    }
    if (q->tail) q->tail->next = j;
    else q->head = j;
    q->tail = j;
    q->pending++;
    pthread_cond_signal(&q->work_cv);
    pthread_mutex_unlock(&q->mu);
    return ST_OK;
}

int queue_run_wait(queue *q, queue_fn fn, void *arg, int wait_ms) {
    job j = {fn, arg, 0, 0, NULL};
    pthread_mutex_lock(&q->mu);
    /* a job that would wait counts against max_pending; one that an idle
     * worker takes at once does not */
    int idle = q->n_workers - q->running - q->pending;
    if (idle <= 0 && q->pending >= q->max_pending && wait_ms > 0) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += wait_ms / 1000;
        until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
        /* done_cv is broadcast whenever a job finishes */
        while (q->n_workers - q->running - q->pending <= 0 && q->pending >= q->max_pending && !q->stop)
            if (pthread_cond_timedwait(&q->done_cv, &q->mu, &until)) break;
        idle = q->n_workers - q->running - q->pending;
    }
    if (idle <= 0 && q->pending >= q->max_pending) {
        q->rejected++;
        int w = q->n_workers, p = q->pending;
        pthread_mutex_unlock(&q->mu);
        return status_fail(ST_BUSY, "server busy: %d jobs running and %d waiting; retry shortly", w, p);
    }
    if (q->tail) q->tail->next = &j;
    else q->head = &j;
    q->tail = &j;
    q->pending++;
    pthread_cond_signal(&q->work_cv);
    while (!j.done) pthread_cond_wait(&q->done_cv, &q->mu);
    pthread_mutex_unlock(&q->mu);
    return ST_OK;
}

void queue_stats_get(queue *q, queue_stats *out) {
    pthread_mutex_lock(&q->mu);
    *out = (queue_stats){q->n_workers, q->running, q->pending, q->max_pending, q->served, q->rejected};
    pthread_mutex_unlock(&q->mu);
}

void queue_free(queue *q) {
    if (!q) return;
    pthread_mutex_lock(&q->mu);
    q->stop = 1;
    pthread_cond_broadcast(&q->work_cv);
    pthread_mutex_unlock(&q->mu);
    for (int i = 0; i < q->started; i++) pthread_join(q->threads[i], NULL);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->work_cv);
    pthread_cond_destroy(&q->done_cv);
    free(q->threads);
    free(q);
}
