/* index/ingest.c — see ingest.h for the pipeline and its invariants.
 *
 * Threads: the caller's thread walks, then runs the main loop (encode +
 * commit); `threads` workers stat/read/hash/decode/preprocess/thumbnail and
 * hand results over a bounded queue. Workers only read the store (LMDB read
 * transactions); the main thread is the only writer.
 */
#include "ingest.h"
#include "file.h"
#include "log.h"
#include "status.h"
#include "thumb.h"
#include "timer.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define INGEST_MAX_FILE_BYTES (512u << 20) /* larger files are refused, not read */

void ingest_opts_default(ingest_opts *o) {
    memset(o, 0, sizeof *o);
    o->batch = 32;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    o->threads = n > 0 ? (int)n : 2;
    o->thumb_side = 256;
    o->thumb_quality = 85;
    o->image = image_opts_default();
    o->progress_interval = 0.2;
}

int ingest_supported_name(const char *name) {
    static const char *ext[] = {"jpg", "jpeg", "jpe", "jfif", "png", "bmp", "gif", "tga", "ppm", "pgm", "pnm"};
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name) return 0;
    for (size_t i = 0; i < sizeof ext / sizeof *ext; i++)
        if (!strcasecmp(dot + 1, ext[i])) return 1;
    return 0;
}

/* ------------------------------------------------------------------ walk */

typedef struct {
    char **v;
    size_t n, cap;
} pathlist;

static int pathlist_add(pathlist *l, const char *p) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v) return status_fail(ST_NOMEM, "ingest: out of memory listing files");
        l->v = v, l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(p))) return status_fail(ST_NOMEM, "ingest: out of memory listing files");
    l->n++;
    return ST_OK;
}

static void pathlist_free(pathlist *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Recursive walk of an absolute directory path; errors inside are reported
 * and skipped, never fatal. */
static int walk_dir(const char *dir, pathlist *out, ingest_stats *s, const ingest_opts *o, int depth) {
    if (depth > 64) return ST_OK;
    DIR *d = opendir(dir);
    if (!d) {
        if (o->on_error) o->on_error(dir, strerror(errno), o->ctx);
        s->failed++;
        return ST_OK;
    }
    struct dirent *de;
    char path[PATH_MAX];
    int st = ST_OK;
    while (!st && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if (de->d_name[0] == '.') {
            s->hidden++;
            continue;
        }
        if (snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= (int)sizeof path) continue;
        struct stat sb;
        if (lstat(path, &sb) != 0) continue;
        if (S_ISDIR(sb.st_mode)) {
            st = walk_dir(path, out, s, o, depth + 1);
        } else if (S_ISREG(sb.st_mode) || (S_ISLNK(sb.st_mode) && stat(path, &sb) == 0 && S_ISREG(sb.st_mode))) {
            if (ingest_supported_name(de->d_name)) st = pathlist_add(out, path);
            else s->unsupported++;
        }
    }
    closedir(d);
    return st;
}

static int walk_roots(const ingest_opts *o, pathlist *out, ingest_stats *s) {
    char real[PATH_MAX];
    for (int i = 0; i < o->n_roots; i++) {
        if (!realpath(o->roots[i], real))
            return status_fail(errno == ENOENT ? ST_NOT_FOUND : ST_IO, "%s: %s", o->roots[i], strerror(errno));
        struct stat sb;
        if (stat(real, &sb) != 0) return status_fail(ST_IO, "%s: %s", o->roots[i], strerror(errno));
        int st = ST_OK;
        if (S_ISDIR(sb.st_mode)) st = walk_dir(real, out, s, o, 0);
        else if (ingest_supported_name(real)) st = pathlist_add(out, real);
        else s->unsupported++;
        if (st) return st;
    }
    /* Sorted and unique: stable order, and a root given twice counts once. */
    if (out->n) qsort(out->v, out->n, sizeof *out->v, cmp_str);   /* v is NULL when nothing was found */
    size_t w = 0;
    for (size_t r = 0; r < out->n; r++) {
        if (w && !strcmp(out->v[w - 1], out->v[r])) free(out->v[r]);
        else out->v[w++] = out->v[r];
    }
    out->n = w;
    return ST_OK;
}

/* ---------------------------------------------------------------- results */

typedef enum { R_UNCHANGED, R_DUPLICATE, R_IMAGE, R_FAILED } rkind;

typedef struct {
    rkind    kind;
    char    *path;        /* borrowed from the path list */
    uint8_t  hash[16];
    uint64_t size;
    int64_t  mtime_ns;
    int      w, h;
    const char *format;
    float   *pixels;      /* (3, px_h, px_w), R_IMAGE */
    uint8_t *thumb;
    size_t   thumb_len;
    char    *reason;      /* R_FAILED */
} result;

static void result_free(result *r) {
    free(r->pixels);
    free(r->thumb);
    free(r->reason);
    memset(r, 0, sizeof *r);
}

typedef struct {
    /* fixed */
    store *st;
    const embedder *e;
    const ingest_opts *o;
    pathlist files;
    /* work distribution */
    atomic_size_t next;
    atomic_int stop;
    /* the bounded queue */
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    result *q;
    size_t cap, head, count;
    /* worker-side timings (under mu) */
    double t_read, t_decode, t_preprocess, t_thumb;
} pipeline;

static void fail_result(result *r, const char *fmt, const char *msg) {
    r->kind = R_FAILED;
    size_t n = strlen(fmt) + strlen(msg) + 1;
    r->reason = malloc(n);
    if (r->reason) snprintf(r->reason, n, fmt, msg);
}

static void process_file(pipeline *p, char *path, result *r, double t[4]) {
    memset(r, 0, sizeof *r);
    r->path = path;
    size_t plen = strlen(path);
    if (plen >= STORE_PATH_MAX) {   /* the store cannot hold it: skip this file only */
        char why[96];
        snprintf(why, sizeof why, "path of %zu bytes; the store holds paths up to %d bytes", plen, STORE_PATH_MAX - 1);
        fail_result(r, "%s", why);
        return;
    }
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fail_result(r, "%s", strerror(errno));
        return;
    }
    r->size = (uint64_t)sb.st_size;
    r->mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec;
    store_path_info pi;
    int known = store_lookup_path(p->st, path, &pi) == ST_OK;
    if (known && pi.size == r->size && pi.mtime_ns == r->mtime_ns) {
        r->kind = R_UNCHANGED;
        return;
    }
    double t0 = timer_now();
    uint8_t *bytes;
    size_t len;
    if (file_read(path, INGEST_MAX_FILE_BYTES, &bytes, &len)) {
        fail_result(r, "%s", status_message());
        return;
    }
    store_hash_bytes(bytes, len, r->hash);
    t[0] += timer_now() - t0;
    uint64_t id;
    /* New path, content already stored: a duplicate, nothing to decode. A
     * known path that changed is always decoded and embedded again. */
    if (!known && store_lookup_hash(p->st, r->hash, &id) == ST_OK) {
        free(bytes);
        r->kind = R_DUPLICATE;
        return;
    }
    t0 = timer_now();
    image img = {0};
    int st = image_decode(bytes, len, path, &p->o->image, &img, &r->format);
    free(bytes);
    t[1] += timer_now() - t0;
    if (st) {
        fail_result(r, "%s", status_message());
        return;
    }
    r->w = img.w, r->h = img.h;
    t0 = timer_now();
    r->pixels = malloc(embedder_pixels_len(p->e) * sizeof(float));
    st = r->pixels ? embedder_preprocess(p->e, &img, r->pixels) : status_fail(ST_NOMEM, "out of memory");
    t[2] += timer_now() - t0;
    if (!st) {
        t0 = timer_now();
        st = thumb_jpeg(&img, p->o->thumb_side, p->o->thumb_quality, &r->thumb, &r->thumb_len);
        t[3] += timer_now() - t0;
    }
    image_release(&img);
    if (st) {
        char *why = strdup(status_message());
        result_free(r);
        r->path = path;
        fail_result(r, "%s", why ? why : "out of memory");
        free(why);
        return;
    }
    r->kind = R_IMAGE;
}

static void *worker_main(void *arg) {
    pipeline *p = arg;
    double t[4] = {0};
    for (;;) {
        size_t i = atomic_fetch_add(&p->next, 1);
        if (i >= p->files.n || atomic_load(&p->stop)) break;
        result r;
        process_file(p, p->files.v[i], &r, t);
        pthread_mutex_lock(&p->mu);
        while (p->count == p->cap && !atomic_load(&p->stop)) pthread_cond_wait(&p->not_full, &p->mu);
        if (atomic_load(&p->stop)) {
            pthread_mutex_unlock(&p->mu);
            result_free(&r);
            break;
        }
        p->q[(p->head + p->count) % p->cap] = r;
        p->count++;
        pthread_cond_signal(&p->not_empty);
        pthread_mutex_unlock(&p->mu);
    }
    pthread_mutex_lock(&p->mu);
    p->t_read += t[0], p->t_decode += t[1], p->t_preprocess += t[2], p->t_thumb += t[3];
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static result queue_pop(pipeline *p) {
    pthread_mutex_lock(&p->mu);
    while (p->count == 0) pthread_cond_wait(&p->not_empty, &p->mu);
    result r = p->q[p->head];
    p->head = (p->head + 1) % p->cap;
    p->count--;
    pthread_cond_signal(&p->not_full);
    pthread_mutex_unlock(&p->mu);
    return r;
}

/* ------------------------------------------------------------------ commit */

typedef struct {
    result *items;       /* pending results: images and duplicates */
    size_t n, cap;
    size_t n_images;
    float *pixels;       /* (batch, plen) staging for the forward pass */
    float *vectors;      /* (batch, n_vec, dim) */
    store_record *recs;
    store_result *res;
} batch;

static int flush(pipeline *p, batch *b, ingest_stats *s) {
    if (!b->n) return ST_OK;
    const size_t plen = embedder_pixels_len(p->e);
    const size_t per = (size_t)p->e->n_vec * (size_t)p->e->dim;   /* floats per image */
    int st = ST_OK;
    if (b->n_images) {
        size_t k = 0;
        for (size_t i = 0; i < b->n; i++)
            if (b->items[i].kind == R_IMAGE) memcpy(b->pixels + plen * k++, b->items[i].pixels, plen * sizeof(float));
        double t0 = timer_now();
        st = embedder_images(p->e, b->pixels, (int)b->n_images, b->vectors);
        s->t_encode += timer_now() - t0;
        if (st) return status_wrap(st, "ingest: encoding a batch of %zu images", b->n_images);
    }
    size_t k = 0;
    for (size_t i = 0; i < b->n; i++) {
        result *r = &b->items[i];
        store_record *rec = &b->recs[i];
        memset(rec, 0, sizeof *rec);
        rec->path = r->path;
        memcpy(rec->hash, r->hash, 16);
        rec->size = r->size;
        rec->mtime_ns = r->mtime_ns;
        rec->width = (uint32_t)r->w, rec->height = (uint32_t)r->h;
        rec->format = r->format ? r->format : "";
        if (r->kind == R_IMAGE) {
            rec->vector = b->vectors + per * k++;
            rec->thumb = r->thumb, rec->thumb_len = r->thumb_len;
        }
    }
    double t0 = timer_now();
    st = store_commit(p->st, b->n, b->recs, b->res);
    int one_by_one = st == ST_TOO_LARGE || st == ST_ARG;
    if (one_by_one) {
        /* a record the store refuses (not the store failing): commit the
         * batch record by record so that only that file is skipped */
        st = ST_OK;
        for (size_t i = 0; i < b->n && !st; i++) {
            int r1 = store_commit(p->st, 1, &b->recs[i], &b->res[i]);
            if (r1 == ST_TOO_LARGE || r1 == ST_ARG) {
                b->res[i].outcome = 0;
                if (p->o->on_error) p->o->on_error(b->items[i].path, status_message(), p->o->ctx);
            } else {
                st = r1;
            }
        }
    }
    s->t_commit += timer_now() - t0;
    if (st) return status_wrap(st, "ingest: committing a batch of %zu files (%s)", b->n,
                               one_by_one ? "part of it was stored" : "nothing of it was stored");
    for (size_t i = 0; i < b->n; i++) {
        switch (b->res[i].outcome) {
        case 0: s->failed++; break;   /* refused alone above */
        case STORE_ADDED: s->added++; break;
        case STORE_REPLACED: s->replaced++; break;
        case STORE_DUPLICATE: s->duplicates++; break;
        default: s->replaced++; break; /* STORE_TOUCHED: a changed path, same content, re-embedded */
        }
        s->done++;
        result_free(&b->items[i]);
    }
    b->n = b->n_images = 0;
    return ST_OK;
}

/* ------------------------------------------------------------------ prune */

typedef struct {
    const pathlist *roots;
} prune_ctx;

static int prune_gone(const char *path, void *ctx) {
    const pathlist *roots = ((prune_ctx *)ctx)->roots;
    int under = 0;
    for (size_t i = 0; i < roots->n && !under; i++) {
        size_t n = strlen(roots->v[i]);
        under = !strncmp(path, roots->v[i], n) && (path[n] == '/' || path[n] == 0 || roots->v[i][n - 1] == '/');
    }
    if (!under) return 0;
    struct stat sb;
    return lstat(path, &sb) != 0 && errno == ENOENT;
}

/* A root with no image file left under it while the store holds some: an
 * unmounted drive or a vanished folder, more likely than a deliberate
 * emptying. Pruning it would drop every image under it, so that needs
 * o->prune_empty. files: the walk's sorted list. */
typedef struct {
    const char *root;
    uint64_t n;
} under_ctx;

static int count_under(const char *path, uint64_t id, void *vctx) {
    (void)id;
    under_ctx *u = vctx;
    size_t n = strlen(u->root);
    if (!strncmp(path, u->root, n) && (path[n] == '/' || path[n] == 0 || (n && u->root[n - 1] == '/'))) u->n++;
    return 0;
}

static int prune_guard(store *st, const pathlist *files, const ingest_opts *o) {
    char real[PATH_MAX];
    for (int i = 0; i < o->n_roots; i++) {
        if (!realpath(o->roots[i], real)) continue;   /* the walk refused it already */
        size_t n = strlen(real);
        int found = 0;
        for (size_t f = 0; f < files->n && !found; f++)
            found = !strncmp(files->v[f], real, n) && (files->v[f][n] == '/' || files->v[f][n] == 0 || real[n - 1] == '/');
        if (found) continue;
        under_ctx u = {real, 0};
        int rc = store_foreach_path(st, count_under, &u);
        if (rc) return rc;
        if (u.n)
            return status_fail(ST_ARG,
                               "--prune: %s holds no image file now, but the store has %llu under it (an unmounted "
                               "drive?); nothing was ingested or pruned. To drop them, prune again with "
                               "--prune-empty",
                               o->roots[i], (unsigned long long)u.n);
    }
    return ST_OK;
}

/* ------------------------------------------------------------------ run */

int ingest_run(store *st, const embedder *e, const ingest_opts *o, ingest_stats *s) {
    memset(s, 0, sizeof *s);
    if (o->batch <= 0 || o->threads <= 0) return status_fail(ST_ARG, "ingest: batch and threads must be positive");
    if (!e->px_h) return status_fail(ST_ARG, "ingest: the embedder has no vision tower");
    const double t_start = timer_now();
    pipeline p = {.st = st, .e = e, .o = o};
    int rc = walk_roots(o, &p.files, s);
    if (rc) {
        pathlist_free(&p.files);
        return rc;
    }
    s->total = p.files.n;
    log_info("ingest: %zu image files to consider", p.files.n);
    if (o->prune && !o->prune_empty && (rc = prune_guard(st, &p.files, o))) {
        pathlist_free(&p.files);
        return rc;
    }

    batch b = {0};
    const size_t plen = embedder_pixels_len(e);
    b.cap = (size_t)o->batch + 1024; /* images + duplicates riding along */
    b.items = calloc(b.cap, sizeof *b.items);
    b.recs = calloc(b.cap, sizeof *b.recs);
    b.res = calloc(b.cap, sizeof *b.res);
    b.pixels = malloc((size_t)o->batch * plen * sizeof(float));
    b.vectors = malloc((size_t)o->batch * (size_t)e->n_vec * (size_t)e->dim * sizeof(float));
    p.cap = (size_t)o->batch * 2;
    p.q = calloc(p.cap, sizeof *p.q);
    pthread_t *tid = calloc((size_t)o->threads, sizeof *tid);
    int n_threads = 0;
    if (!b.items || !b.recs || !b.res || !b.pixels || !b.vectors || !p.q || !tid) {
        rc = status_fail(ST_NOMEM, "ingest: cannot allocate batch buffers");
        goto out;
    }
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.not_empty, NULL);
    pthread_cond_init(&p.not_full, NULL);
    for (; n_threads < o->threads && (size_t)n_threads < p.files.n; n_threads++)
        if (pthread_create(&tid[n_threads], NULL, worker_main, &p)) break;
    if (p.files.n && !n_threads) {
        rc = status_fail(ST_NOMEM, "ingest: cannot start decode threads");
        goto out_sync;
    }

    double last = timer_now();
    size_t received = 0;
    while (received < p.files.n) {
        result r = queue_pop(&p);
        received++;
        switch (r.kind) {
        case R_UNCHANGED:
            s->unchanged++, s->done++;
            break;
        case R_FAILED:
            if (o->on_error) o->on_error(r.path, r.reason ? r.reason : "out of memory", o->ctx);
            s->failed++, s->done++;
            result_free(&r);
            break;
        default:
            b.items[b.n++] = r;
            if (r.kind == R_IMAGE) b.n_images++;
        }
        if (b.n_images == (size_t)o->batch || b.n == b.cap || (received == p.files.n && b.n)) {
            if ((rc = flush(&p, &b, s))) break;
            if (o->cancel && *o->cancel) {
                rc = status_fail(ST_CANCELLED, "ingest: cancelled; %llu files were committed",
                                 (unsigned long long)(s->added + s->replaced + s->duplicates));
                break;
            }
        }
        double now = timer_now();
        if (o->on_progress && now - last >= o->progress_interval) {
            s->elapsed = now - t_start;
            o->on_progress(s, o->ctx);
            last = now;
        }
    }
    /* On an early stop, release the workers and drop what they made. */
    atomic_store(&p.stop, 1);
    pthread_mutex_lock(&p.mu);
    pthread_cond_broadcast(&p.not_full);
    pthread_mutex_unlock(&p.mu);
out_sync:
    for (int i = 0; i < n_threads; i++) pthread_join(tid[i], NULL);
    while (p.count) {
        result r = p.q[p.head];
        p.head = (p.head + 1) % p.cap;
        p.count--;
        result_free(&r);
    }
    for (size_t i = 0; i < b.n; i++) result_free(&b.items[i]);
    pthread_mutex_destroy(&p.mu);
    pthread_cond_destroy(&p.not_empty);
    pthread_cond_destroy(&p.not_full);
    s->t_read = p.t_read, s->t_decode = p.t_decode, s->t_preprocess = p.t_preprocess, s->t_thumb = p.t_thumb;

    if (!rc && o->prune) {
        pathlist roots = {0};
        char real[PATH_MAX];
        for (int i = 0; i < o->n_roots && !rc; i++)
            if (realpath(o->roots[i], real)) rc = pathlist_add(&roots, real);
        prune_ctx pc = {&roots};
        if (!rc) rc = store_prune(st, prune_gone, &pc, &s->pruned);
        pathlist_free(&roots);
    }
    s->elapsed = timer_now() - t_start;
    if (o->on_progress) o->on_progress(s, o->ctx);
out:
    free(tid);
    free(p.q);
    free(b.items), free(b.recs), free(b.res), free(b.pixels), free(b.vectors);
    pathlist_free(&p.files);
    return rc;
}

int ingest_check_model(store *st, const embedder *e) {
    const char *family = e->family == EMBED_BLIP2 ? "blip2" : "clip";
    return store_check_model_vec(st, e->identity, family, e->dim, e->n_vec);
}
