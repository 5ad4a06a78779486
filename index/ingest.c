/* index/ingest.c — see ingest.h for the pipeline and its invariants.
 *
 * Threads: the caller's thread walks, then runs the main loop (encode +
 * commit); `threads` workers stat/read/hash/decode/preprocess/thumbnail and
 * hand results over a bounded queue. Workers only read the store (LMDB read
 * transactions); the main thread is the only writer.
 */
#include "ingest.h"
#include "file.h"
#include "image_meta.h"
#include "log.h"
#include "status.h"
#include "thumb.h"
#include "timer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define INGEST_MAX_FILE_BYTES (512u << 20) /* larger files are refused, not read */
#define SNIFF_BYTES (64u << 10)            /* read of every file to tell what it is: TIFF-based
                                              RAW is told from TIFF by IFDs near the start */

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

const char *ingest_status_name(int status) {
    static const char *const names[] = {"?", "added", "updated", "unchanged", "duplicate", "failed", "skipped"};
    return status >= INGEST_ADDED && status <= INGEST_SKIPPED ? names[status] : "?";
}

/* 1 when the first bytes read as text: no NUL, and control bytes only as
 * whitespace (bytes >= 0x80 pass: UTF-8 and the legacy 8-bit sets). */
static int looks_like_text(const uint8_t *p, size_t n) {
    if (n > 4096) n = 4096;
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' && p[i] != '\r' && p[i] != '\f') return 0;
    return 1;
}

static int has_at(const uint8_t *p, size_t n, size_t at, const char *magic, size_t m) {
    return n >= at + m && !memcmp(p + at, magic, m);
}

const char *ingest_not_image_reason(const void *bytes, size_t n) {
    const uint8_t *p = bytes;
    if (n == 0) return "empty file";
    if (has_at(p, n, 0, "8BPS", 4)) return "unsupported image format: Photoshop (PSD)";
    if (has_at(p, n, 0, "\xff\x0a", 2) || has_at(p, n, 4, "JXL ", 4)) return "unsupported image format: JPEG XL";
    if (has_at(p, n, 0, "\0\0\1\0", 4) && n >= 6 && p[4] + p[5] > 0) return "unsupported image format: ICO";
    if (has_at(p, n, 0, "%PDF", 4)) return "not an image: PDF";
    if (has_at(p, n, 0, "PK\3\4", 4)) return "not an image: ZIP archive";
    if (has_at(p, n, 4, "ftyp", 4)) return "not an image: video or another ISO-BMFF file";
    if (has_at(p, n, 0, "RIFF", 4) && has_at(p, n, 8, "AVI ", 4)) return "not an image: video";
    if (has_at(p, n, 0, "\x1a\x45\xdf\xa3", 4)) return "not an image: video";
    if (looks_like_text(p, n)) {
        size_t m = n < 4096 ? n : 4096;
        for (size_t i = 0; i + 4 <= m; i++)
            if (!memcmp(p + i, "<svg", 4)) return "unsupported image format: SVG";
        return "not an image: text";
    }
    return "not an image: unknown format";
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
    if (!d) {   /* a folder that cannot be read counts as one failed file, so the counts still add up */
        char why[300];
        snprintf(why, sizeof why, "cannot read the folder: %s", strerror(errno));
        if (o->on_file) o->on_file(dir, INGEST_FAILED, why, o->ctx);
        s->failed++, s->total++, s->done++;
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
            st = pathlist_add(out, path);   /* every file: the name is no filter */
        }
    }
    closedir(d);
    return st;
}

static void pathlist_sort_unique(pathlist *out);

static int walk_roots(const ingest_opts *o, pathlist *out, ingest_stats *s) {
    char real[PATH_MAX];
    for (int i = 0; i < o->n_roots; i++) {
        if (!realpath(o->roots[i], real))
            return status_fail(errno == ENOENT ? ST_NOT_FOUND : ST_IO, "%s: %s", o->roots[i], strerror(errno));
        struct stat sb;
        if (stat(real, &sb) != 0) return status_fail(ST_IO, "%s: %s", o->roots[i], strerror(errno));
        int st = ST_OK;
        if (S_ISDIR(sb.st_mode)) st = walk_dir(real, out, s, o, 0);
        else st = pathlist_add(out, real);
        if (st) return st;
    }
    pathlist_sort_unique(out);
    return ST_OK;
}

/* Sorted and unique: stable order, and a root given twice counts once. */
static void pathlist_sort_unique(pathlist *out) {
    if (out->n) qsort(out->v, out->n, sizeof *out->v, cmp_str);   /* v is NULL when nothing was found */
    size_t w = 0;
    for (size_t r = 0; r < out->n; r++) {
        if (w && !strcmp(out->v[w - 1], out->v[r])) free(out->v[r]);
        else out->v[w++] = out->v[r];
    }
    out->n = w;
}

/* ---------------------------------------------------------------- results */

typedef enum { R_UNCHANGED, R_DUPLICATE, R_TOUCHED, R_IMAGE, R_FAILED, R_SKIPPED } rkind;

typedef struct {
    rkind    kind;
    char    *path;        /* borrowed from the path list */
    size_t   idx;         /* its index there */
    int      known;       /* the path is stored */
    uint8_t  hash[16];
    uint64_t size;
    int64_t  mtime_ns;
    int      w, h;
    const char *format;
    int      have_meta;   /* meta read (image_meta_read succeeded) */
    image_meta meta;
    float   *pixels;      /* (3, px_h, px_w), R_IMAGE */
    uint8_t *thumb;
    size_t   thumb_len;
    char    *reason;      /* R_FAILED, R_SKIPPED (malloc'd) */
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
    uint8_t *image;       /* (files.n) 1: files[i] is an image file (not skipped) */
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

static void set_reason(result *r, rkind kind, const char *fmt, const char *msg) {
    r->kind = kind;
    size_t n = strlen(fmt) + strlen(msg) + 1;
    r->reason = malloc(n);
    if (r->reason) snprintf(r->reason, n, fmt, msg);
}

static void fail_result(result *r, const char *fmt, const char *msg) { set_reason(r, R_FAILED, fmt, msg); }

/* Up to cap bytes from the start of path into buf; the count, or -1 (errno). */
static ssize_t read_head(const char *path, uint8_t *buf, size_t cap) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t got = 0;
    while (got < cap) {
        ssize_t k = read(fd, buf + got, cap - got);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) { int e = errno; close(fd); errno = e; return -1; }
        if (k == 0) break;
        got += (size_t)k;
    }
    close(fd);
    return (ssize_t)got;
}

/* "YYYY-MM-DDTHH:MM:SS" read as UTC → ns; 0 when it is no such date. */
static int parse_local(const char *t, int64_t *ns) {
    int Y, M, D, h, m, sec;
    char tail;
    if (sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d%c", &Y, &M, &D, &h, &m, &sec, &tail) != 6) return 0;
    if (Y < 1 || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60 || h < 0 || m < 0 || sec < 0) return 0;
    struct tm tm = {.tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D, .tm_hour = h, .tm_min = m, .tm_sec = sec};
    *ns = (int64_t)timegm(&tm) * 1000000000LL;
    return 1;
}

/* The metadata of a result into its store record: the EXIF date (UTC when
 * the offset is known, else the local time read as UTC), else the file's
 * mtime marked MTIME; camera; GPS; the oriented size; the sniffed format. */
static void record_meta(const result *r, store_record *rec) {
    const image_meta *m = &r->meta;
    int64_t ns;
    if (r->have_meta && m->taken_source == IMAGE_TAKEN_EXIF && parse_local(m->taken, &ns)) {
        rec->taken_source = IMAGE_TAKEN_EXIF;
        rec->taken_offset_min = m->taken_offset_min;
        rec->taken_ns = m->taken_offset_min == IMAGE_OFFSET_UNKNOWN ? ns : ns - (int64_t)m->taken_offset_min * 60000000000LL;
        memcpy(rec->taken, m->taken, 19);
        rec->taken[19] = 0;
    } else {
        rec->taken_source = IMAGE_TAKEN_MTIME;
        store_taken_from_mtime(r->mtime_ns, &rec->taken_ns, &rec->taken_offset_min, rec->taken);
    }
    if (r->have_meta) {
        snprintf(rec->make, sizeof rec->make, "%s", m->make);
        snprintf(rec->model, sizeof rec->model, "%s", m->model);
        rec->has_gps = m->has_gps ? 1 : 0;
        rec->gps_lat = m->gps_lat, rec->gps_lon = m->gps_lon;
        if (m->width > 0 && m->height > 0) rec->width = (uint32_t)m->width, rec->height = (uint32_t)m->height;
        if (m->format) rec->format = m->format;
    }
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
    store_image known_im;
    r->known = store_lookup_path(p->st, path, &pi) == ST_OK && store_get_image(p->st, pi.id, &known_im) == ST_OK;
    /* a migrated record whose metadata were never read is read once more */
    if (r->known && pi.size == r->size && pi.mtime_ns == r->mtime_ns && !known_im.meta_stale) {
        r->kind = R_UNCHANGED;
        return;
    }
    double t0 = timer_now();
    uint8_t *head = malloc(SNIFF_BYTES);
    ssize_t nh = head ? read_head(path, head, SNIFF_BYTES) : -1;
    if (nh < 0) {
        fail_result(r, "%s", head ? strerror(errno) : "out of memory");
        free(head);
        return;
    }
    const char *sniffed = image_sniff(head, (size_t)nh);
    if (!sniffed) {
        set_reason(r, R_SKIPPED, "%s", ingest_not_image_reason(head, (size_t)nh));
        free(head);
        return;
    }
    free(head);
    uint8_t *bytes;
    size_t len;
    if (file_read(path, INGEST_MAX_FILE_BYTES, &bytes, &len)) {
        fail_result(r, "%s", status_message());
        return;
    }
    r->size = len;   /* what was read and hashed, should the file be growing */
    store_hash_bytes(bytes, len, r->hash);
    r->have_meta = image_meta_read(bytes, len, &r->meta) == ST_OK;
    r->format = r->have_meta && r->meta.format ? r->meta.format : sniffed;
    t[0] += timer_now() - t0;
    uint64_t id;
    /* The stored path, same bytes (touched, or a migrated record): the new
     * stamps and the metadata, nothing to decode. */
    if (r->known && !memcmp(known_im.hash, r->hash, 16)) {
        free(bytes);
        r->kind = R_TOUCHED;
        return;
    }
    /* New path, content already stored: a duplicate, nothing to decode. A
     * known path that changed is always decoded and embedded again. */
    if (!r->known && store_lookup_hash(p->st, r->hash, &id) == ST_OK) {
        free(bytes);
        r->kind = R_DUPLICATE;
        return;
    }
    t0 = timer_now();
    image img = {0};
    const char *dec_fmt = NULL;
    int st = image_decode(bytes, len, path, &p->o->image, &img, &dec_fmt);
    free(bytes);
    t[1] += timer_now() - t0;
    if (st) {
        /* the decoder names the file: the report names it already */
        const char *msg = status_message();
        size_t pl = strlen(path);
        if (!strncmp(msg, path, pl) && !strncmp(msg + pl, ": ", 2)) msg += pl + 2;
        fail_result(r, "%s", msg);
        return;
    }
    if (!r->have_meta && dec_fmt) r->format = dec_fmt;
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
        free(r->pixels), free(r->thumb);
        r->pixels = NULL, r->thumb = NULL;
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
        r.idx = i;
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

/* One file's final status: counted and reported, exactly once. */
static void report(const ingest_opts *o, ingest_stats *s, const char *path, int status, const char *reason) {
    switch (status) {
    case INGEST_ADDED: s->added++; break;
    case INGEST_UPDATED: s->updated++; break;
    case INGEST_UNCHANGED: s->unchanged++; break;
    case INGEST_DUPLICATE: s->duplicates++; break;
    case INGEST_SKIPPED: s->skipped++; break;
    default: s->failed++; status = INGEST_FAILED; break;
    }
    s->done++;
    if ((status == INGEST_FAILED || status == INGEST_SKIPPED) && !reason) reason = "out of memory";
    if (o->on_file) o->on_file(path, status, reason, o->ctx);
}

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
        record_meta(r, rec);
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
                free(b->items[i].reason);
                b->items[i].reason = strdup(status_message());
            } else {
                st = r1;
            }
        }
    }
    s->t_commit += timer_now() - t0;
    if (st) return status_wrap(st, "ingest: committing a batch of %zu files (%s)", b->n,
                               one_by_one ? "part of it was stored" : "nothing of it was stored");
    for (size_t i = 0; i < b->n; i++) {
        int status;
        switch (b->res[i].outcome) {
        case 0: status = INGEST_FAILED; break;   /* refused alone above */
        case STORE_ADDED: status = INGEST_ADDED; break;
        case STORE_REPLACED: status = INGEST_UPDATED; break;
        case STORE_DUPLICATE: status = INGEST_DUPLICATE; break;
        default: status = INGEST_UNCHANGED; break;   /* STORE_TOUCHED: the same bytes under new stamps */
        }
        report(p->o, s, b->items[i].path, status, status == INGEST_FAILED ? b->items[i].reason : NULL);
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

static int prune_guard(store *st, const pathlist *files, const uint8_t *image, const ingest_opts *o) {
    char real[PATH_MAX];
    for (int i = 0; i < o->n_roots; i++) {
        if (!realpath(o->roots[i], real)) continue;   /* the walk refused it already */
        size_t n = strlen(real);
        int found = 0;
        for (size_t f = 0; f < files->n && !found; f++)
            found = image[f] && !strncmp(files->v[f], real, n) &&
                    (files->v[f][n] == '/' || files->v[f][n] == 0 || real[n - 1] == '/');
        if (found) continue;
        under_ctx u = {real, 0};
        int rc = store_foreach_path(st, count_under, &u);
        if (rc) return rc;
        if (u.n)
            return status_fail(ST_ARG,
                               "--prune: %s holds no image file now, but the store has %llu under it (an "
                               "unmounted drive?); nothing was pruned. To drop them, prune again with "
                               "--prune-empty",
                               o->roots[i], (unsigned long long)u.n);
    }
    return ST_OK;
}

/* ------------------------------------------------------------------ run */

/* The pipeline over p->files (workers, batches, commits). */
static int run_files(pipeline *p, ingest_stats *s, double t_start) {
    const ingest_opts *o = p->o;
    const embedder *e = p->e;
    int rc = ST_OK;
    batch b = {0};
    const size_t plen = embedder_pixels_len(e);
    b.cap = (size_t)o->batch + 1024; /* images + duplicates and touched files riding along */
    b.items = calloc(b.cap, sizeof *b.items);
    b.recs = calloc(b.cap, sizeof *b.recs);
    b.res = calloc(b.cap, sizeof *b.res);
    b.pixels = malloc((size_t)o->batch * plen * sizeof(float));
    b.vectors = malloc((size_t)o->batch * (size_t)e->n_vec * (size_t)e->dim * sizeof(float));
    p->cap = (size_t)o->batch * 2;
    p->q = calloc(p->cap, sizeof *p->q);
    pthread_t *tid = calloc((size_t)o->threads, sizeof *tid);
    int n_threads = 0;
    if (!b.items || !b.recs || !b.res || !b.pixels || !b.vectors || !p->q || !tid) {
        rc = status_fail(ST_NOMEM, "ingest: cannot allocate batch buffers");
        goto out;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->not_empty, NULL);
    pthread_cond_init(&p->not_full, NULL);
    for (; n_threads < o->threads && (size_t)n_threads < p->files.n; n_threads++)
        if (pthread_create(&tid[n_threads], NULL, worker_main, p)) break;
    if (p->files.n && !n_threads) {
        rc = status_fail(ST_NOMEM, "ingest: cannot start decode threads");
        goto out_sync;
    }

    double last = timer_now();
    size_t received = 0;
    while (received < p->files.n) {
        result r = queue_pop(p);
        received++;
        if (p->image && r.kind != R_SKIPPED) p->image[r.idx] = 1;
        switch (r.kind) {
        case R_UNCHANGED:
            report(o, s, r.path, INGEST_UNCHANGED, NULL);
            break;
        case R_FAILED:
            report(o, s, r.path, INGEST_FAILED, r.reason);
            result_free(&r);
            break;
        case R_SKIPPED:
            /* a stored path that is no image any more (overwritten by
             * something else) leaves the store */
            if (r.known && store_remove_path(p->st, r.path) == ST_OK) s->pruned++;
            report(o, s, r.path, INGEST_SKIPPED, r.reason);
            result_free(&r);
            break;
        default:
            b.items[b.n++] = r;
            if (r.kind == R_IMAGE) b.n_images++;
        }
        if (b.n_images == (size_t)o->batch || b.n == b.cap || (received == p->files.n && b.n)) {
            if ((rc = flush(p, &b, s))) break;
            if (o->cancel && *o->cancel) {
                rc = status_fail(ST_CANCELLED, "ingest: cancelled; %llu files were committed",
                                 (unsigned long long)(s->added + s->updated + s->duplicates));
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
    atomic_store(&p->stop, 1);
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->not_full);
    pthread_mutex_unlock(&p->mu);
out_sync:
    for (int i = 0; i < n_threads; i++) pthread_join(tid[i], NULL);
    while (p->count) {
        result r = p->q[p->head];
        p->head = (p->head + 1) % p->cap;
        p->count--;
        result_free(&r);
    }
    for (size_t i = 0; i < b.n; i++) result_free(&b.items[i]);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->not_empty);
    pthread_cond_destroy(&p->not_full);
    s->t_read += p->t_read, s->t_decode += p->t_decode, s->t_preprocess += p->t_preprocess, s->t_thumb += p->t_thumb;
out:
    free(tid);
    free(p->q);
    p->q = NULL;
    free(b.items), free(b.recs), free(b.res), free(b.pixels), free(b.vectors);
    return rc;
}

static int check_args(const embedder *e, const ingest_opts *o) {
    if (o->batch <= 0 || o->threads <= 0) return status_fail(ST_ARG, "ingest: batch and threads must be positive");
    if (!e->px_h) return status_fail(ST_ARG, "ingest: the embedder has no vision tower");
    return ST_OK;
}

int ingest_run(store *st, const embedder *e, const ingest_opts *o, ingest_stats *s) {
    memset(s, 0, sizeof *s);
    int rc = check_args(e, o);
    if (rc) return rc;
    const double t_start = timer_now();
    pipeline p = {.st = st, .e = e, .o = o};
    if ((rc = walk_roots(o, &p.files, s))) goto out;
    s->total += p.files.n;
    log_info("ingest: %zu files to consider", p.files.n);
    if (p.files.n && !(p.image = calloc(p.files.n, 1))) {
        rc = status_fail(ST_NOMEM, "ingest: out of memory");
        goto out;
    }
    /* the folders ingested, for filters relative to them */
    char real[PATH_MAX];
    struct stat sb;
    for (int i = 0; i < o->n_roots && !rc; i++)
        if (realpath(o->roots[i], real) && stat(real, &sb) == 0 && S_ISDIR(sb.st_mode)) rc = store_roots_add(st, real);
    if (rc || (rc = run_files(&p, s, t_start))) goto out;

    /* after the run, as only it tells images from other files */
    if (o->prune && !o->prune_empty && (rc = prune_guard(st, &p.files, p.image, o))) goto out;
    if (o->prune) {
        pathlist roots = {0};
        for (int i = 0; i < o->n_roots && !rc; i++)
            if (realpath(o->roots[i], real)) rc = pathlist_add(&roots, real);
        prune_ctx pc = {&roots};
        uint64_t n = 0;
        if (!rc) rc = store_prune(st, prune_gone, &pc, &n);
        s->pruned += n;
        pathlist_free(&roots);
    }
    s->elapsed = timer_now() - t_start;
    if (o->on_progress) o->on_progress(s, o->ctx);
out:
    free(p.image);
    pathlist_free(&p.files);
    return rc;
}

/* Stored paths equal to or under one of the gone paths, and gone indeed. */
static int gone_under(const char *path, void *ctx) {
    const pathlist *gone = ctx;
    for (size_t i = 0; i < gone->n; i++) {
        size_t n = strlen(gone->v[i]);
        if (!strncmp(path, gone->v[i], n) && (path[n] == '/' || path[n] == 0)) {
            struct stat sb;
            return lstat(path, &sb) != 0 && errno == ENOENT;
        }
    }
    return 0;
}

/* 1 when a component of the absolute path starts with '.' (the walk never
 * sees such files). */
static int hidden_path(const char *path) {
    for (const char *c = strchr(path, '/'); c; c = strchr(c + 1, '/'))
        if (c[1] == '.') return 1;
    return 0;
}

int ingest_paths(store *st, const embedder *e, const ingest_opts *o, const char *const *paths, size_t n,
                 ingest_stats *s) {
    memset(s, 0, sizeof *s);
    int rc = check_args(e, o);
    if (rc) return rc;
    const double t_start = timer_now();
    pipeline p = {.st = st, .e = e, .o = o};
    pathlist gone = {0};
    for (size_t i = 0; i < n && !rc; i++) {
        struct stat sb;
        if (hidden_path(paths[i])) continue;
        if (lstat(paths[i], &sb) != 0) {
            if (errno == ENOENT || errno == ENOTDIR) rc = pathlist_add(&gone, paths[i]);
            continue;
        }
        if (S_ISDIR(sb.st_mode)) rc = walk_dir(paths[i], &p.files, s, o, 0);
        else if (S_ISREG(sb.st_mode) || (S_ISLNK(sb.st_mode) && stat(paths[i], &sb) == 0 && S_ISREG(sb.st_mode)))
            rc = pathlist_add(&p.files, paths[i]);
    }
    if (rc) goto out;
    pathlist_sort_unique(&p.files);
    s->total += p.files.n;
    if ((rc = run_files(&p, s, t_start))) goto out;
    if (gone.n) {
        uint64_t removed = 0;
        rc = store_prune(st, gone_under, &gone, &removed);
        s->pruned += removed;
    }
    s->elapsed = timer_now() - t_start;
    if (o->on_progress) o->on_progress(s, o->ctx);
out:
    pathlist_free(&gone);
    pathlist_free(&p.files);
    return rc;
}

int ingest_check_model(store *st, const embedder *e) {
    const char *family = e->family == EMBED_BLIP2 ? "blip2" : "clip";
    return store_check_model_vec(st, e->identity, family, e->dim, e->n_vec);
}
