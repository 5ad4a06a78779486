/* index/store.c — the image store on LMDB. See store.h for the API and
 * docs/storage.md for the byte-level format.
 *
 * NOTES ON THE DESIGN
 *
 * Files in DIR: data.mdb and lock.mdb (LMDB), seer.lock (our writer lock:
 * flock LOCK_EX held for the life of a writer handle; it holds the writer's
 * pid as text for the "being written by" message). flock dies with the
 * process, so a kill -9 never leaves a stale lock.
 *
 * Tables (named LMDB databases), ids big-endian in keys so cursors walk in id
 * order; values little-endian:
 *   meta      ascii name → value (schema_version, model, model_dim, model_family,
 *             model_n_vec, next_id, generation, created_ns, feedback_seq)
 *   images    id → image record (hash, size, dims, format, n_paths, primary path)
 *   paths     path → (id, size, mtime_ns)
 *   idpaths   id ‖ path → ""   (reverse of paths: every path of an id)
 *   hashes    xxh3-128 → id
 *   vectors   id → float32[n_vec × dim] (n_vec = 1 for CLIP, 32 for BLIP-2)
 *   thumbs    id → JPEG
 *   index     name → derived-index blob (vindex.c)
 *   feedback  time_ns ‖ seq → JSON
 *
 * Invariants (checked by store_verify; each write transaction moves the db
 * from one state satisfying them to another, so a crash at any point leaves
 * them true — LMDB commits are atomic and durable):
 *   I1  paths[p] = (id, ..)  ⇔  idpaths[id‖p] exists.
 *   I2  images[id] exists ⇔ vectors[id] exists (n_vec*dim*4 bytes) ⇔ hashes[images[id].hash] = id.
 *   I3  images[id].n_paths = |{p : idpaths[id‖p]}| ≥ 1, and images[id].path is one of them.
 *   I4  thumbs[id] exists ⇒ images[id] exists.
 *   I5  every id < next_id; ids are never reused; vectors[id] never changes.
 *   I6  generation increases by exactly one per committed catalog change
 *       (commit, remove, prune chunk); index and feedback writes do not bump it.
 *
 * Write path: every write runs as body(txn) inside store_write(). A body that
 * hits MDB_MAP_FULL (in a put or in the commit) makes store_write abort the
 * transaction, double the map and run the body again from scratch; bodies
 * therefore keep no state outside the transaction between attempts.
 *
 * Map resizing and threads: mdb_env_set_mapsize needs no live transaction in
 * this process. Every transaction holds st->resize (a rwlock) shared; a resize
 * takes it exclusive. A reader that sees MDB_MAP_RESIZED (another process grew
 * the map) adopts the new size the same way.
 */
#include "store.h"

#include "log.h"
#include "status.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#define STORE_DEFAULT_MAP (64ull << 20)
#define IMG_HDR1 56           /* bytes of the fixed part of a version 1 images record */
#define IMG_HDR 104           /* ... of a version 2 record (the one written) */
#define PATHVAL 24            /* bytes of a paths value */
#define PRUNE_CHUNK 4096

enum { T_META, T_IMAGES, T_PATHS, T_IDPATHS, T_HASHES, T_VECTORS, T_THUMBS, T_INDEX,
       T_FEEDBACK, T_COUNT };
static const char *const table_names[T_COUNT] = {
    "meta", "images", "paths", "idpaths", "hashes", "vectors", "thumbs", "index", "feedback"};

struct store {
    char dir[4096];
    MDB_env *env;
    MDB_dbi dbi[T_COUNT];
    int flags;
    int lock_fd;                 /* seer.lock, -1 when not a writer */
    pthread_rwlock_t resize;     /* shared by transactions, exclusive to resize */
    uint64_t map_bytes;
};

/* ---------------------------------------------------------------- encodings */

static void be64_put(uint8_t *p, uint64_t v) { for (int i = 7; i >= 0; i--) { p[i] = (uint8_t)v; v >>= 8; } }
static uint64_t be64_get(const uint8_t *p) { uint64_t v = 0; for (int i = 0; i < 8; i++) v = v << 8 | p[i]; return v; }
static void le32_put(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) { p[i] = (uint8_t)v; v >>= 8; } }
static uint32_t le32_get(const uint8_t *p) { uint32_t v = 0; for (int i = 3; i >= 0; i--) v = v << 8 | p[i]; return v; }
static void le64_put(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) { p[i] = (uint8_t)v; v >>= 8; } }
static uint64_t le64_get(const uint8_t *p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = v << 8 | p[i]; return v; }

/* The decoded images record; path/format point into the source buffer, the
 * metadata are copies. */
typedef struct {
    uint32_t width, height, n_paths;
    uint64_t size;
    int64_t mtime_ns, added_ns;
    uint8_t hash[16];
    const char *format; size_t format_len;
    const char *path;   size_t path_len;
    /* schema 2 */
    int64_t taken_ns;
    int16_t taken_offset_min;
    uint8_t taken_source, has_gps, meta_stale;
    char taken[20], make[64], model[64];
    double gps_lat, gps_lon;
} img_rec;

static double f64_get(const uint8_t *p) { uint64_t u = le64_get(p); double d; memcpy(&d, &u, 8); return d; }
static void f64_put(uint8_t *p, double d) { uint64_t u; memcpy(&u, &d, 8); le64_put(p, u); }

void store_taken_from_mtime(int64_t mtime_ns, int64_t *taken_ns, int16_t *offset_min, char taken[20]) {
    int64_t sec = mtime_ns / 1000000000;   /* floor, without overflowing at INT64_MIN (fuzzed) */
    if (mtime_ns % 1000000000 < 0) sec--;
    time_t t = (time_t)sec;
    struct tm tm;
    *taken_ns = mtime_ns;
    if (localtime_r(&t, &tm) && tm.tm_year >= -1900 && tm.tm_year <= 9999 - 1900) {
        char t64[64];   /* room for any int: the fields are in range, the compiler cannot know it */
        snprintf(t64, sizeof t64, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec);
        memcpy(taken, t64, 19);
        taken[19] = 0;
        *offset_min = (int16_t)(tm.tm_gmtoff / 60);
    } else {
        taken[0] = 0;
        *offset_min = IMAGE_OFFSET_UNKNOWN;
    }
}

/* The metadata a version 1 record stands for: the mtime as date, marked
 * stale so that the next ingest of the file reads the real ones. */
static void img_meta_v1(img_rec *r) {
    r->taken_source = IMAGE_TAKEN_MTIME;
    store_taken_from_mtime(r->mtime_ns, &r->taken_ns, &r->taken_offset_min, r->taken);
    r->make[0] = r->model[0] = 0;
    r->has_gps = 0;
    r->gps_lat = r->gps_lon = 0;
    r->meta_stale = 1;
}

/* A fixed-size text field of the record into a NUL-terminated copy. */
static void text_get(char *dst, size_t cap, const uint8_t *src, size_t n) {
    if (n >= cap) n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
}

/* Record versions 1 (schema 1) and 2; every length is checked against the
 * value's size (the fuzz target feeds this arbitrary bytes). */
static int img_decode(const MDB_val *v, img_rec *r) {
    const uint8_t *p = v->mv_data;
    memset(r, 0, sizeof *r);
    if (v->mv_size < IMG_HDR1 || (p[0] != 1 && p[0] != 2)) return -1;
    size_t hdr = p[0] == 1 ? IMG_HDR1 : IMG_HDR;
    size_t nf = p[1], nmk = p[0] == 2 ? p[2] : 0, nmd = p[0] == 2 ? p[3] : 0;
    if (v->mv_size < hdr || hdr + nf + nmk + nmd > v->mv_size || nf >= STORE_FORMAT_MAX) return -1;
    if (nmk >= sizeof r->make || nmd >= sizeof r->model) return -1;
    r->format_len = nf;
    r->width = le32_get(p + 4);  r->height = le32_get(p + 8);  r->n_paths = le32_get(p + 12);
    r->size = le64_get(p + 16);
    r->mtime_ns = (int64_t)le64_get(p + 24); r->added_ns = (int64_t)le64_get(p + 32);
    memcpy(r->hash, p + 40, 16);
    r->format = (const char *)p + hdr;
    r->path = r->format + nf + nmk + nmd;
    r->path_len = v->mv_size - hdr - nf - nmk - nmd;
    if (r->path_len >= STORE_PATH_MAX) return -1;
    if (p[0] == 1) {
        img_meta_v1(r);
        return 0;
    }
    r->taken_ns = (int64_t)le64_get(p + 56);
    r->taken_offset_min = (int16_t)(p[64] | p[65] << 8);
    r->taken_source = p[66];
    r->has_gps = p[67] & 1;
    r->meta_stale = (p[67] >> 1) & 1;
    r->gps_lat = f64_get(p + 68);
    r->gps_lon = f64_get(p + 76);
    if (r->taken_source > IMAGE_TAKEN_MTIME) return -1;
    text_get(r->taken, sizeof r->taken, p + 84, 19);
    text_get(r->make, sizeof r->make, p + hdr + nf, nmk);
    text_get(r->model, sizeof r->model, p + hdr + nf + nmk, nmd);
    return 0;
}

/* Encode (always version 2) into buf (IMG_BUF bytes); returns the length. */
static size_t img_encode(const img_rec *r, uint8_t *buf) {
    size_t nmk = strnlen(r->make, sizeof r->make - 1), nmd = strnlen(r->model, sizeof r->model - 1);
    memset(buf, 0, IMG_HDR);
    buf[0] = 2;
    buf[1] = (uint8_t)r->format_len;
    buf[2] = (uint8_t)nmk;
    buf[3] = (uint8_t)nmd;
    le32_put(buf + 4, r->width); le32_put(buf + 8, r->height); le32_put(buf + 12, r->n_paths);
    le64_put(buf + 16, r->size);
    le64_put(buf + 24, (uint64_t)r->mtime_ns); le64_put(buf + 32, (uint64_t)r->added_ns);
    memcpy(buf + 40, r->hash, 16);
    le64_put(buf + 56, (uint64_t)r->taken_ns);
    buf[64] = (uint8_t)((uint16_t)r->taken_offset_min & 0xff);
    buf[65] = (uint8_t)((uint16_t)r->taken_offset_min >> 8);
    buf[66] = r->taken_source;
    buf[67] = (uint8_t)((r->has_gps ? 1 : 0) | (r->meta_stale ? 2 : 0));
    f64_put(buf + 68, r->has_gps ? r->gps_lat : 0);
    f64_put(buf + 76, r->has_gps ? r->gps_lon : 0);
    memcpy(buf + 84, r->taken, strnlen(r->taken, 19));
    uint8_t *q = buf + IMG_HDR;
    memcpy(q, r->format, r->format_len); q += r->format_len;
    memcpy(q, r->make, nmk); q += nmk;
    memcpy(q, r->model, nmd); q += nmd;
    memcpy(q, r->path, r->path_len); q += r->path_len;
    return (size_t)(q - buf);
}

/* The metadata of a caller's record into an img_rec (normalised: no date →
 * STORE_TAKEN_NONE and an unknown offset; strings cut to fit). */
static void img_meta_from(img_rec *r, const store_record *rec) {
    r->taken_source = rec->taken_source <= IMAGE_TAKEN_MTIME ? rec->taken_source : IMAGE_TAKEN_NONE;
    if (r->taken_source == IMAGE_TAKEN_NONE) {
        r->taken_ns = STORE_TAKEN_NONE;
        r->taken_offset_min = IMAGE_OFFSET_UNKNOWN;
        r->taken[0] = 0;
    } else {
        r->taken_ns = rec->taken_ns;
        r->taken_offset_min = rec->taken_offset_min;
        text_get(r->taken, sizeof r->taken, (const uint8_t *)rec->taken, strnlen(rec->taken, sizeof rec->taken));
    }
    text_get(r->make, sizeof r->make, (const uint8_t *)rec->make, strnlen(rec->make, sizeof rec->make));
    text_get(r->model, sizeof r->model, (const uint8_t *)rec->model, strnlen(rec->model, sizeof rec->model));
    r->has_gps = rec->has_gps ? 1 : 0;
    r->gps_lat = r->has_gps ? rec->gps_lat : 0;
    r->gps_lon = r->has_gps ? rec->gps_lon : 0;
    r->meta_stale = 0;
}

#define IMG_BUF (IMG_HDR + STORE_FORMAT_MAX + 64 + 64 + STORE_PATH_MAX)

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---------------------------------------------------------------- errors */

/* Body return codes: 0, an ST_* code (message already recorded), or an LMDB
 * code (MDB_* or errno) that the caller turns into ST_STORE. */
static int is_st(int rc) { return rc < 0 && rc >= ST_INTERNAL; }

/* LMDB reports a short write (what a full disk gives) as EIO: a write that
 * failed so while the filesystem has next to no room left is a full disk. */
#define DISK_FULL_BELOW ((uint64_t)1 << 20)

static int disk_full(const store *st, int rc, uint64_t *avail) {
    struct statvfs vs;
    *avail = 0;
    if (rc != ENOSPC && rc != EIO && rc != EDQUOT) return 0;
    if (statvfs(st->dir, &vs) != 0) return rc == ENOSPC;
    *avail = (uint64_t)vs.f_bavail * vs.f_frsize;
    return rc == ENOSPC || rc == EDQUOT || *avail < DISK_FULL_BELOW;
}

static int mdb_fail(const store *st, int rc, const char *what) {
    if (is_st(rc)) return rc;
    uint64_t avail;
    if (disk_full(st, rc, &avail))
        return status_fail(ST_IO, "%s: %s: disk full (%llu KiB free on its filesystem); nothing of this write was "
                           "stored: free some space and run it again",
                           st->dir, what, (unsigned long long)(avail >> 10));
    return status_fail(ST_STORE, "%s: %s: %s", st->dir, what, mdb_strerror(rc));
}

/* ---------------------------------------------------------------- transactions */

static int adopt_map_size(store *st, uint64_t want) {
    pthread_rwlock_wrlock(&st->resize);
    int rc = mdb_env_set_mapsize(st->env, (size_t)want);
    MDB_envinfo info;
    if (!rc && !mdb_env_info(st->env, &info)) st->map_bytes = info.me_mapsize;
    pthread_rwlock_unlock(&st->resize);
    return rc;
}

/* Begin a transaction holding st->resize shared; adopt a map grown elsewhere. */
static int txn_begin(store *st, unsigned flags, MDB_txn **txn) {
    for (int tries = 0;; tries++) {
        pthread_rwlock_rdlock(&st->resize);
        int rc = mdb_txn_begin(st->env, NULL, flags, txn);
        if (!rc) return 0;
        pthread_rwlock_unlock(&st->resize);
        if (tries > 3) return rc;
        if (rc == MDB_READERS_FULL) {
            /* slots of reader processes that died (kill -9) stay taken until
             * someone clears them */
            int dead = 0;
            if (mdb_reader_check(st->env, &dead) || dead == 0) return rc;
            log_info("store %s: cleared %d reader slots of processes that died", st->dir, dead);
            continue;
        }
        if (rc != MDB_MAP_RESIZED) return rc;
        if ((rc = adopt_map_size(st, 0))) return rc;
    }
}

static void txn_abort(store *st, MDB_txn *txn) {
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&st->resize);
}

static int txn_commit(store *st, MDB_txn *txn) {
    int rc = mdb_txn_commit(txn);
    pthread_rwlock_unlock(&st->resize);
    return rc;
}

typedef int (*txn_body)(store *st, MDB_txn *txn, void *ctx);

static int meta_get_u64(store *st, MDB_txn *txn, const char *name, uint64_t *v) {
    MDB_val k = {strlen(name), (void *)name}, d;
    int rc = mdb_get(txn, st->dbi[T_META], &k, &d);
    if (rc) return rc;
    if (d.mv_size != 8) return status_fail(ST_FORMAT, "%s: meta '%s' is %zu bytes, expected 8", st->dir, name, d.mv_size);
    *v = le64_get(d.mv_data);
    return 0;
}

static int meta_put_u64(store *st, MDB_txn *txn, const char *name, uint64_t v) {
    uint8_t b[8];
    le64_put(b, v);
    MDB_val k = {strlen(name), (void *)name}, d = {8, b};
    return mdb_put(txn, st->dbi[T_META], &k, &d, 0);
}

/* The model dim recorded in meta, 0 when none. */
static int meta_dim(store *st, MDB_txn *txn, int *dim) {
    MDB_val k = {9, "model_dim"}, d;
    int rc = mdb_get(txn, st->dbi[T_META], &k, &d);
    if (rc == MDB_NOTFOUND) { *dim = 0; return 0; }
    if (rc) return rc;
    if (d.mv_size != 4) return status_fail(ST_FORMAT, "%s: meta 'model_dim' is malformed", st->dir);
    *dim = (int)le32_get(d.mv_data);
    return 0;
}

/* Vectors per image recorded in meta ("model_n_vec", u32): 1 when absent
 * (stores written before multi-vector models), and *floats = n_vec × dim,
 * the floats of one vectors value (0 when no model is recorded). */
static int meta_n_vec(store *st, MDB_txn *txn, int *n_vec, int *floats) {
    int dim = 0, rc;
    if ((rc = meta_dim(st, txn, &dim))) return rc;
    MDB_val k = {11, "model_n_vec"}, d;
    rc = mdb_get(txn, st->dbi[T_META], &k, &d);
    *n_vec = 1;
    if (rc && rc != MDB_NOTFOUND) return rc;
    if (!rc) {
        if (d.mv_size != 4 || le32_get(d.mv_data) < 1 || le32_get(d.mv_data) > 4096)
            return status_fail(ST_FORMAT, "%s: meta 'model_n_vec' is malformed", st->dir);
        *n_vec = (int)le32_get(d.mv_data);
    }
    if (floats) *floats = dim * *n_vec;
    return 0;
}

/* Run body in a write transaction, growing the map on MDB_MAP_FULL. With
 * bump, the generation is incremented in the same transaction. */
static int store_write(store *st, txn_body body, void *ctx, int bump, const char *what) {
    for (int attempt = 0; attempt < 40; attempt++) {
        MDB_txn *txn;
        int rc = txn_begin(st, 0, &txn);
        if (rc) return mdb_fail(st, rc, what);
        rc = body(st, txn, ctx);
        if (!rc && bump) {
            uint64_t gen = 0;
            rc = meta_get_u64(st, txn, "generation", &gen);
            if (!rc) rc = meta_put_u64(st, txn, "generation", gen + 1);
        }
        if (rc) {
            txn_abort(st, txn);
        } else {
            rc = txn_commit(st, txn);
            if (!rc) return 0;
        }
        if (rc != MDB_MAP_FULL) return mdb_fail(st, rc, what);
        uint64_t grow = st->map_bytes * 2;
        log_debug("store %s: map full at %llu MiB, growing to %llu MiB", st->dir,
                  (unsigned long long)(st->map_bytes >> 20), (unsigned long long)(grow >> 20));
        if ((rc = adopt_map_size(st, grow))) return mdb_fail(st, rc, "growing the map");
    }
    return status_fail(ST_STORE, "%s: %s: the map kept filling up (%llu bytes)", st->dir, what,
                       (unsigned long long)st->map_bytes);
}

/* Run body in a read transaction. */
static int store_read(store *st, txn_body body, void *ctx, const char *what) {
    MDB_txn *txn;
    int rc = txn_begin(st, MDB_RDONLY, &txn);
    if (rc) return mdb_fail(st, rc, what);
    rc = body(st, txn, ctx);
    txn_abort(st, txn);
    if (rc == MDB_NOTFOUND) return ST_NOT_FOUND;  /* bodies record their own message */
    return rc ? mdb_fail(st, rc, what) : 0;
}

/* ---------------------------------------------------------------- open/close */

static int take_writer_lock(store *st, int wait) {
    char lp[4200];
    snprintf(lp, sizeof lp, "%s/seer.lock", st->dir);
    st->lock_fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (st->lock_fd < 0) return status_fail(ST_IO, "%s: %s", lp, strerror(errno));
    if (flock(st->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK) return status_fail(ST_IO, "%s: flock: %s", lp, strerror(errno));
        char pid[32] = {0};
        ssize_t n = pread(st->lock_fd, pid, sizeof pid - 1, 0);
        if (n < 0) n = 0;
        pid[n] = 0;
        pid[strcspn(pid, "\n")] = 0;
        if (!wait)
            return status_fail(ST_BUSY, "database %s is being written by another seer process (pid %s)",
                               st->dir, pid[0] ? pid : "?");
        log_info("database %s is being written by another seer process (pid %s); waiting", st->dir,
                 pid[0] ? pid : "?");
        while (flock(st->lock_fd, LOCK_EX) != 0)
            if (errno != EINTR) return status_fail(ST_IO, "%s: flock: %s", lp, strerror(errno));
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(st->lock_fd, 0) != 0 || pwrite(st->lock_fd, pid, (size_t)n, 0) != n)
        log_warn("%s: could not record the writer pid", lp);
    return 0;
}

/* An environment without a single table: a store whose creation (one write
 * transaction, all tables or none) never committed, e.g. killed in between. */
static int never_created(MDB_txn *txn) {
    MDB_dbi main;
    MDB_stat ms;
    return !mdb_dbi_open(txn, NULL, 0, &main) && !mdb_stat(txn, main, &ms) && ms.ms_entries == 0;
}

/* Schema 1 → 2, inside the writer's opening transaction (all or nothing):
 * every images record rewritten as version 2 with the metadata a version 1
 * record stands for (img_meta_v1: the mtime as date, marked stale so the
 * next ingest of the file reads the real ones), then the version bumped. The
 * catalog does not change, so neither does the generation. */
static int migrate_v1(store *st, MDB_txn *txn) {
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, st->dbi[T_IMAGES], &cur);
    if (rc) return rc;
    MDB_val k, v;
    uint8_t kb[8], buf[IMG_BUF];
    char pbuf[STORE_PATH_MAX], fbuf[STORE_FORMAT_MAX];
    uint64_t n = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !rc; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        img_rec r;
        if (k.mv_size != 8 || img_decode(&v, &r)) {
            rc = status_fail(ST_FORMAT, "%s: an images record is malformed; the version 1 db was not migrated "
                             "(nothing was changed)", st->dir);
            break;
        }
        if (((const uint8_t *)v.mv_data)[0] != 1) continue;
        memcpy(kb, k.mv_data, 8);
        memcpy(pbuf, r.path, r.path_len); r.path = pbuf;        /* v points into the page being rewritten */
        memcpy(fbuf, r.format, r.format_len); r.format = fbuf;
        MDB_val nk = {8, kb}, nv = {img_encode(&r, buf), buf};
        if ((rc = mdb_cursor_put(cur, &nk, &nv, MDB_CURRENT))) break;
        n++;
    }
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND) return rc;
    uint8_t ver[4];
    le32_put(ver, STORE_SCHEMA_VERSION);
    MDB_val vk = {14, "schema_version"}, vv = {4, ver};
    if ((rc = mdb_put(txn, st->dbi[T_META], &vk, &vv, 0))) return rc;
    if ((rc = meta_put_u64(st, txn, "migrated_v1_ns", (uint64_t)now_ns()))) return rc;
    log_info("store %s: migrated from storage format version 1 to %d (%llu image records)", st->dir,
             STORE_SCHEMA_VERSION, (unsigned long long)n);
    return 0;
}

static int open_body(store *st, MDB_txn *txn, void *ctx) {
    int create = *(int *)ctx;
    if (!create && never_created(txn))
        return status_fail(ST_NOT_FOUND,
                           "no seer database at %s yet: its creation did not finish (seer ingest --db %s completes it)",
                           st->dir, st->dir);
    for (int t = 0; t < T_COUNT; t++) {
        int rc = mdb_dbi_open(txn, table_names[t], create ? MDB_CREATE : 0, &st->dbi[t]);
        if (rc == MDB_NOTFOUND)
            return status_fail(ST_FORMAT, "%s is not a seer database (table '%s' is missing)", st->dir,
                               table_names[t]);
        if (rc) return rc;
    }
    MDB_val k = {14, "schema_version"}, d;
    int rc = mdb_get(txn, st->dbi[T_META], &k, &d);
    if (rc == MDB_NOTFOUND) {
        if (!create) return status_fail(ST_FORMAT, "%s is not a seer database (no schema version)", st->dir);
        uint8_t v[4];
        le32_put(v, STORE_SCHEMA_VERSION);
        d.mv_size = 4; d.mv_data = v;
        if ((rc = mdb_put(txn, st->dbi[T_META], &k, &d, 0))) return rc;
        if ((rc = meta_put_u64(st, txn, "next_id", 1))) return rc;
        if ((rc = meta_put_u64(st, txn, "generation", 0))) return rc;
        if ((rc = meta_put_u64(st, txn, "feedback_seq", 0))) return rc;
        return meta_put_u64(st, txn, "created_ns", (uint64_t)now_ns());
    }
    if (rc) return rc;
    uint32_t ver = d.mv_size == 4 ? le32_get(d.mv_data) : 0;
    if (ver == 1 && store_writable(st)) return migrate_v1(st, txn);
    if (ver == 1) return 0;   /* readers read version 1 records as they are (img_decode) */
    if (ver != STORE_SCHEMA_VERSION)
        return status_fail(ST_UNSUPPORTED,
                           "database %s has storage format version %u; this seer reads versions 1 to %d (%s)",
                           st->dir, ver, STORE_SCHEMA_VERSION,
                           ver > STORE_SCHEMA_VERSION ? "it was written by a newer seer: upgrade seer"
                                                      : "it was written by an older seer: re-ingest into a new --db");
    return 0;
}

int store_open_with(const char *dir, int flags, uint64_t map_bytes, store **out) {
    *out = NULL;
    int modes = !!(flags & STORE_RDONLY) + !!(flags & STORE_CREATE) + !!(flags & STORE_WRITE) +
                !!(flags & STORE_SHARED);
    if (!dir || !*dir || modes != 1)
        return status_fail(ST_ARG, "store_open: give a directory and exactly one of RDONLY/CREATE/WRITE/SHARED");
    if (strlen(dir) >= 4000) return status_fail(ST_ARG, "store_open: directory name too long");
    int create = !!(flags & STORE_CREATE);
    int writer = create || (flags & STORE_WRITE);

    char dp[4200];
    snprintf(dp, sizeof dp, "%s/data.mdb", dir);
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        if (!create) return status_fail(ST_NOT_FOUND, "no seer database at %s (the directory does not exist)", dir);
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) return status_fail(ST_IO, "mkdir %s: %s", dir, strerror(errno));
    } else if (!S_ISDIR(sb.st_mode)) {
        return status_fail(ST_ARG, "%s is not a directory", dir);
    }
    if (!create && stat(dp, &sb) != 0)
        return status_fail(ST_NOT_FOUND, "no seer database at %s (no data.mdb)", dir);
    if (!create && sb.st_size == 0)   /* killed before LMDB wrote its first page */
        return status_fail(ST_NOT_FOUND,
                           "no seer database at %s yet: its creation did not finish (seer ingest --db %s completes it)",
                           dir, dir);

    store *st = calloc(1, sizeof *st);
    if (!st) return status_fail(ST_NOMEM, "store_open: out of memory");
    snprintf(st->dir, sizeof st->dir, "%s", dir);
    st->flags = flags;
    st->lock_fd = -1;
    pthread_rwlock_init(&st->resize, NULL);
    int rc;
    if (writer && (rc = take_writer_lock(st, !!(flags & STORE_WAIT)))) goto fail;

    if ((rc = mdb_env_create(&st->env))) { rc = mdb_fail(st, rc, "mdb_env_create"); goto fail; }
    mdb_env_set_maxdbs(st->env, 16);
    mdb_env_set_maxreaders(st->env, STORE_MAX_READERS);
    if ((rc = mdb_env_set_mapsize(st->env, (size_t)(map_bytes ? map_bytes : STORE_DEFAULT_MAP)))) {
        rc = mdb_fail(st, rc, "mdb_env_set_mapsize");
        goto fail;
    }
    rc = mdb_env_open(st->env, dir, MDB_NOTLS | ((flags & STORE_RDONLY) ? MDB_RDONLY : 0), 0644);
    if (rc) {
        rc = rc == EACCES ? status_fail(ST_IO, "%s: permission denied", dir) : mdb_fail(st, rc, "opening");
        goto fail;
    }
    MDB_envinfo info;
    mdb_env_info(st->env, &info);
    st->map_bytes = info.me_mapsize;
    int dead = 0;
    if (!mdb_reader_check(st->env, &dead) && dead)
        log_info("store %s: cleared %d reader slots of processes that died", dir, dead);

    if (flags & STORE_RDONLY) {
        /* handles opened in a read transaction survive only if it commits */
        MDB_txn *txn;
        if ((rc = txn_begin(st, MDB_RDONLY, &txn))) { rc = mdb_fail(st, rc, "opening"); goto fail; }
        rc = open_body(st, txn, &create);
        if (rc) txn_abort(st, txn);
        else rc = txn_commit(st, txn);
        if (rc) { rc = mdb_fail(st, rc, "opening"); goto fail; }
    } else
        rc = store_write(st, open_body, &create, 0, "opening");
    if (rc) goto fail;
    *out = st;
    return 0;
fail:
    store_close(st);
    return rc;
}

int store_open(const char *dir, int flags, store **out) { return store_open_with(dir, flags, 0, out); }

void store_close(store *st) {
    if (!st) return;
    if (st->env) mdb_env_close(st->env);
    if (st->lock_fd >= 0) close(st->lock_fd);   /* releases the flock */
    pthread_rwlock_destroy(&st->resize);
    free(st);
}

const char *store_dir(const store *st) { return st->dir; }
int store_writable(const store *st) { return (st->flags & (STORE_CREATE | STORE_WRITE)) != 0; }

static int need_writer(const store *st, const char *what) {
    if (store_writable(st)) return 0;
    return status_fail(ST_ARG, "%s: %s needs the store opened for writing", st->dir, what);
}

/* ---------------------------------------------------------------- model */

typedef struct {
    const char *identity, *family;
    int dim, n_vec;
    char *buf;
    size_t cap;
    int *dim_out;
    store_model *info;      /* store_get_model_info */
} model_ctx;

static int model_body(store *st, MDB_txn *txn, void *vctx) {
    model_ctx *c = vctx;
    MDB_val k = {5, "model"}, d;
    int rc = mdb_get(txn, st->dbi[T_META], &k, &d);
    if (rc == MDB_NOTFOUND) {
        if (c->buf || c->info) return status_fail(ST_NOT_FOUND, "database %s has no embedding model yet", st->dir);
        if (!store_writable(st)) return 0;   /* an empty db opened read-only accepts any model */
        d.mv_size = strlen(c->identity); d.mv_data = (void *)c->identity;
        if ((rc = mdb_put(txn, st->dbi[T_META], &k, &d, 0))) return rc;
        uint8_t v[4], nv[4];
        le32_put(v, (uint32_t)c->dim);
        MDB_val k2 = {9, "model_dim"}, d2 = {4, v};
        if ((rc = mdb_put(txn, st->dbi[T_META], &k2, &d2, 0))) return rc;
        MDB_val k3 = {12, "model_family"}, d3 = {strlen(c->family), (void *)c->family};
        if ((rc = mdb_put(txn, st->dbi[T_META], &k3, &d3, 0))) return rc;
        le32_put(nv, (uint32_t)c->n_vec);
        MDB_val k4 = {11, "model_n_vec"}, d4 = {4, nv};
        return mdb_put(txn, st->dbi[T_META], &k4, &d4, 0);
    }
    if (rc) return rc;
    char have[STORE_MODEL_MAX];
    size_t n = d.mv_size < sizeof have - 1 ? d.mv_size : sizeof have - 1;
    memcpy(have, d.mv_data, n);
    have[n] = 0;
    int have_dim = 0, have_nv = 1;
    if ((rc = meta_dim(st, txn, &have_dim))) return rc;
    if ((rc = meta_n_vec(st, txn, &have_nv, NULL))) return rc;
    /* the family: "clip" when absent (stores written before BLIP-2) */
    char fam[STORE_FAMILY_MAX] = "clip";
    MDB_val kf = {12, "model_family"}, df;
    if ((rc = mdb_get(txn, st->dbi[T_META], &kf, &df)) && rc != MDB_NOTFOUND) return rc;
    if (!rc) {
        if (df.mv_size == 0 || df.mv_size >= sizeof fam) return status_fail(ST_FORMAT, "%s: meta 'model_family' is malformed", st->dir);
        memcpy(fam, df.mv_data, df.mv_size);
        fam[df.mv_size] = 0;
    }
    if (c->info) {
        snprintf(c->info->identity, sizeof c->info->identity, "%s", have);
        snprintf(c->info->family, sizeof c->info->family, "%s", fam);
        c->info->dim = have_dim;
        c->info->n_vec = have_nv;
        return 0;
    }
    if (c->buf) {
        snprintf(c->buf, c->cap, "%s", have);
        *c->dim_out = have_dim;
        return 0;
    }
    if (strcmp(have, c->identity) != 0 || have_dim != c->dim || have_nv != c->n_vec || strcmp(fam, c->family) != 0)
        return status_fail(ST_MISMATCH,
                           "database %s was built with embedding model '%s' (%s, dim %d, %d vector%s per image), "
                           "not '%s' (%s, dim %d, %d vector%s per image): use that model, or ingest into a new --db",
                           st->dir, have, fam, have_dim, have_nv, have_nv == 1 ? "" : "s", c->identity, c->family,
                           c->dim, c->n_vec, c->n_vec == 1 ? "" : "s");
    return 0;
}

int store_check_model_vec(store *st, const char *identity, const char *family, int dim, int n_vec) {
    if (!identity || !*identity || strlen(identity) >= STORE_MODEL_MAX || dim <= 0)
        return status_fail(ST_ARG, "store_check_model: bad model identity or dim");
    if (!family || !*family || strlen(family) >= STORE_FAMILY_MAX || n_vec < 1 || n_vec > 4096)
        return status_fail(ST_ARG, "store_check_model: bad model family or vectors per image");
    model_ctx c = {.identity = identity, .family = family, .dim = dim, .n_vec = n_vec};
    return store_writable(st) ? store_write(st, model_body, &c, 0, "recording the model")
                              : store_read(st, model_body, &c, "reading the model");
}

int store_check_model(store *st, const char *identity, int dim) {
    return store_check_model_vec(st, identity, "clip", dim, 1);
}

int store_get_model(store *st, char *buf, size_t cap, int *dim) {
    model_ctx c = {.buf = buf, .cap = cap, .dim_out = dim};
    return store_read(st, model_body, &c, "reading the model");
}

int store_get_model_info(store *st, store_model *out) {
    memset(out, 0, sizeof *out);
    model_ctx c = {.info = out};
    return store_read(st, model_body, &c, "reading the model");
}

typedef struct { const char *set; char *buf; size_t cap; } mpath_ctx;

static int model_path_body(store *st, MDB_txn *txn, void *vctx) {
    mpath_ctx *c = vctx;
    MDB_val k = {10, "model_path"}, d;
    if (c->set) {
        d.mv_size = strlen(c->set);
        d.mv_data = (void *)c->set;
        return mdb_put(txn, st->dbi[T_META], &k, &d, 0);
    }
    int rc = mdb_get(txn, st->dbi[T_META], &k, &d);
    if (rc == MDB_NOTFOUND)
        return status_fail(ST_NOT_FOUND, "database %s records no model directory; give --model DIR", st->dir);
    if (rc) return rc;
    size_t n = d.mv_size < c->cap - 1 ? d.mv_size : c->cap - 1;
    memcpy(c->buf, d.mv_data, n);
    c->buf[n] = 0;
    return 0;
}

int store_set_model_path(store *st, const char *path) {
    if (!path || !*path || strlen(path) >= 4096) return status_fail(ST_ARG, "store_set_model_path: bad path");
    mpath_ctx c = {path, NULL, 0};
    return store_write(st, model_path_body, &c, 0, "recording the model directory");
}

int store_get_model_path(store *st, char *buf, size_t cap) {
    if (!buf || cap < 2) return status_fail(ST_ARG, "store_get_model_path: no buffer");
    mpath_ctx c = {NULL, buf, cap};
    return store_read(st, model_path_body, &c, "reading the model directory");
}

/* ---------------------------------------------------------------- roots */

/* meta "roots": the root paths, each followed by a NUL. */
typedef struct { const char *add; store_roots *out; } roots_ctx;

static int roots_body(store *st, MDB_txn *txn, void *vctx) {
    roots_ctx *c = vctx;
    MDB_val k = {5, "roots"}, d = {0, ""};
    int rc = mdb_get(txn, st->dbi[T_META], &k, &d);
    if (rc && rc != MDB_NOTFOUND) return rc;
    if (rc == MDB_NOTFOUND) d.mv_size = 0;
    const char *p = d.mv_data, *end = p + d.mv_size;
    if (d.mv_size && end[-1] != 0) return status_fail(ST_FORMAT, "%s: meta 'roots' is malformed", st->dir);
    if (c->add) {
        for (const char *q = p; q < end; q += strlen(q) + 1)
            if (!strcmp(q, c->add)) return 0;
        size_t n = strlen(c->add) + 1;
        char *nb = malloc(d.mv_size + n);
        if (!nb) return status_fail(ST_NOMEM, "out of memory");
        memcpy(nb, p, d.mv_size);
        memcpy(nb + d.mv_size, c->add, n);
        MDB_val nv = {d.mv_size + n, nb};
        rc = mdb_put(txn, st->dbi[T_META], &k, &nv, 0);
        free(nb);
        return rc;
    }
    size_t n = 0;
    for (const char *q = p; q < end; q += strlen(q) + 1) n++;
    store_roots *o = c->out;
    o->v = calloc(n ? n : 1, sizeof *o->v);
    if (!o->v) return status_fail(ST_NOMEM, "out of memory");
    for (const char *q = p; q < end; q += strlen(q) + 1) {
        if (!(o->v[o->n] = strdup(q))) return status_fail(ST_NOMEM, "out of memory");
        o->n++;
    }
    return 0;
}

int store_roots_add(store *st, const char *root) {
    int rc;
    if ((rc = need_writer(st, "store_roots_add"))) return rc;
    if (!root || !*root || strlen(root) >= 4096) return status_fail(ST_ARG, "store_roots_add: bad path");
    roots_ctx c = {root, NULL};
    return store_write(st, roots_body, &c, 0, "recording an ingested root");
}

int store_roots_list(store *st, store_roots *out) {
    memset(out, 0, sizeof *out);
    roots_ctx c = {NULL, out};
    int rc = store_read(st, roots_body, &c, "reading the ingested roots");
    if (rc) store_roots_release(out);
    return rc;
}

void store_roots_release(store_roots *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) free(r->v[i]);
    free(r->v);
    memset(r, 0, sizeof *r);
}

/* ---------------------------------------------------------------- commit */

void store_hash_bytes(const void *data, size_t len, uint8_t hash[16]) {
    XXH128_hash_t h = XXH3_128bits(data, len);
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, h);
    memcpy(hash, c.digest, 16);
}

int store_hash_fd(int fd, uint8_t hash[16], uint64_t *len) {
    enum { CHUNK = 256 << 10 };
    char *buf = malloc(CHUNK);
    XXH3_state_t *hs = XXH3_createState();
    uint64_t n = 0;
    int rc = buf && hs ? ST_OK : status_fail(ST_NOMEM, "out of memory hashing a file");
    if (!rc) XXH3_128bits_reset(hs);
    while (!rc) {
        ssize_t r = read(fd, buf, CHUNK);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) rc = status_fail(ST_IO, "reading a file to hash it: %s", strerror(errno));
        if (r <= 0) break;
        XXH3_128bits_update(hs, buf, (size_t)r);
        n += (uint64_t)r;
    }
    if (!rc) {
        XXH128_canonical_t c;
        XXH128_canonicalFromHash(&c, XXH3_128bits_digest(hs));
        memcpy(hash, c.digest, 16);
        if (len) *len = n;
    }
    XXH3_freeState(hs);
    free(buf);
    return rc;
}

static int put_path(store *st, MDB_txn *txn, const char *path, size_t plen, uint64_t id, uint64_t size,
                    int64_t mtime) {
    uint8_t v[PATHVAL], ik[8 + STORE_PATH_MAX];
    le64_put(v, id); le64_put(v + 8, size); le64_put(v + 16, (uint64_t)mtime);
    MDB_val k = {plen, (void *)path}, d = {PATHVAL, v};
    int rc = mdb_put(txn, st->dbi[T_PATHS], &k, &d, 0);
    if (rc) return rc;
    be64_put(ik, id);
    memcpy(ik + 8, path, plen);
    MDB_val k2 = {8 + plen, ik}, d2 = {0, ""};
    return mdb_put(txn, st->dbi[T_IDPATHS], &k2, &d2, 0);
}

static int get_image(store *st, MDB_txn *txn, uint64_t id, MDB_val *d, img_rec *r) {
    uint8_t kb[8];
    be64_put(kb, id);
    MDB_val k = {8, kb};
    int rc = mdb_get(txn, st->dbi[T_IMAGES], &k, d);
    if (rc) return rc;
    if (img_decode(d, r)) return status_fail(ST_FORMAT, "%s: image record %llu is malformed", st->dir, (unsigned long long)id);
    return 0;
}

static int put_image(store *st, MDB_txn *txn, uint64_t id, const img_rec *r) {
    uint8_t kb[8], buf[IMG_BUF];
    be64_put(kb, id);
    MDB_val k = {8, kb}, d = {img_encode(r, buf), buf};
    return mdb_put(txn, st->dbi[T_IMAGES], &k, &d, 0);
}

static int del_key(store *st, MDB_txn *txn, int t, const void *key, size_t len, int must_exist) {
    MDB_val k = {len, (void *)key};
    int rc = mdb_del(txn, st->dbi[t], &k, NULL);
    return (rc == MDB_NOTFOUND && !must_exist) ? 0 : rc;
}

/* Remove path (currently → id) and drop id with its last path (I1–I4). */
static int detach_path(store *st, MDB_txn *txn, const char *path, size_t plen, uint64_t id) {
    uint8_t ik[8 + STORE_PATH_MAX], idk[8];
    int rc;
    if ((rc = del_key(st, txn, T_PATHS, path, plen, 1))) return rc;
    be64_put(ik, id);
    memcpy(ik + 8, path, plen);
    if ((rc = del_key(st, txn, T_IDPATHS, ik, 8 + plen, 1))) return rc;
    MDB_val d;
    img_rec r;
    if ((rc = get_image(st, txn, id, &d, &r))) return rc;
    be64_put(idk, id);
    if (r.n_paths <= 1) {
        if ((rc = del_key(st, txn, T_IMAGES, idk, 8, 1))) return rc;
        if ((rc = del_key(st, txn, T_VECTORS, idk, 8, 1))) return rc;
        if ((rc = del_key(st, txn, T_THUMBS, idk, 8, 0))) return rc;
        return del_key(st, txn, T_HASHES, r.hash, 16, 1);
    }
    r.n_paths--;
    char newpath[STORE_PATH_MAX];
    if (r.path_len == plen && memcmp(r.path, path, plen) == 0) {
        /* the primary path goes: promote the first remaining path of id */
        MDB_cursor *cur;
        if ((rc = mdb_cursor_open(txn, st->dbi[T_IDPATHS], &cur))) return rc;
        MDB_val k = {8, idk}, dv;
        rc = mdb_cursor_get(cur, &k, &dv, MDB_SET_RANGE);
        if (!rc && (k.mv_size <= 8 || memcmp(k.mv_data, idk, 8) != 0)) rc = MDB_NOTFOUND;
        if (!rc) {
            size_t nl = k.mv_size - 8;
            memcpy(newpath, (char *)k.mv_data + 8, nl);
            r.path = newpath;
            r.path_len = nl;
            MDB_val pk = {nl, newpath}, pv;
            rc = mdb_get(txn, st->dbi[T_PATHS], &pk, &pv);
            if (!rc && pv.mv_size == PATHVAL) r.mtime_ns = (int64_t)le64_get((uint8_t *)pv.mv_data + 16);
        }
        mdb_cursor_close(cur);
        if (rc == MDB_NOTFOUND)
            return status_fail(ST_INTERNAL, "%s: image %llu has no path left though n_paths was %u", st->dir,
                               (unsigned long long)id, r.n_paths + 1);
        if (rc) return rc;
    } else {
        /* r.path points into the map; copy before put_image rewrites the page */
        memcpy(newpath, r.path, r.path_len);
        r.path = newpath;
    }
    char fmt[STORE_FORMAT_MAX];
    memcpy(fmt, r.format, r.format_len);
    r.format = fmt;
    return put_image(st, txn, id, &r);
}

typedef struct {
    size_t n;
    const store_record *recs;
    store_result *res;
} commit_ctx;

static int commit_one(store *st, MDB_txn *txn, const store_record *rec, int floats, uint64_t *next_id,
                      store_result *res) {
    size_t plen = rec->path ? strlen(rec->path) : 0;
    size_t flen = rec->format ? strlen(rec->format) : 0;
    if (!plen) return status_fail(ST_ARG, "store_commit: a record has no path");
    if (plen >= STORE_PATH_MAX)
        return status_fail(ST_TOO_LARGE, "%s: path is %zu bytes; the store holds paths up to %d bytes",
                           rec->path, plen, STORE_PATH_MAX - 1);
    if (flen >= STORE_FORMAT_MAX) return status_fail(ST_ARG, "%s: format name '%s' too long", rec->path, rec->format);

    int rc, replaced = 0;
    MDB_val pk = {plen, (void *)rec->path}, pv, d;
    img_rec r;
    rc = mdb_get(txn, st->dbi[T_PATHS], &pk, &pv);
    if (rc && rc != MDB_NOTFOUND) return rc;
    if (!rc) {
        if (pv.mv_size != PATHVAL) return status_fail(ST_FORMAT, "%s: paths entry of %s is malformed", st->dir, rec->path);
        uint64_t old = le64_get(pv.mv_data);
        if ((rc = get_image(st, txn, old, &d, &r))) return rc == MDB_NOTFOUND
            ? status_fail(ST_INTERNAL, "%s: %s points at missing image %llu", st->dir, rec->path, (unsigned long long)old) : rc;
        if (memcmp(r.hash, rec->hash, 16) == 0) {
            /* same bytes, new size/mtime stamp (e.g. touched): update the stamps */
            if ((rc = put_path(st, txn, rec->path, plen, old, rec->size, rec->mtime_ns))) return rc;
            int primary = r.path_len == plen && memcmp(r.path, rec->path, plen) == 0;
            int meta = rec->taken_source != IMAGE_TAKEN_NONE;   /* the caller read the file's metadata */
            if (primary || meta) {
                char pbuf[STORE_PATH_MAX], fbuf[STORE_FORMAT_MAX];
                memcpy(pbuf, r.path, r.path_len); r.path = pbuf;
                memcpy(fbuf, r.format, r.format_len); r.format = fbuf;
                if (primary) r.mtime_ns = rec->mtime_ns;
                if (meta) {
                    img_meta_from(&r, rec);
                    if (rec->width && rec->height) r.width = rec->width, r.height = rec->height;
                    if (flen) memcpy(fbuf, rec->format, flen), r.format_len = flen;
                }
                if ((rc = put_image(st, txn, old, &r))) return rc;
            }
            res->id = old;
            res->outcome = STORE_TOUCHED;
            return 0;
        }
        if ((rc = detach_path(st, txn, rec->path, plen, old))) return rc;
        replaced = 1;
    }

    MDB_val hk = {16, (void *)rec->hash}, hv;
    rc = mdb_get(txn, st->dbi[T_HASHES], &hk, &hv);
    if (rc && rc != MDB_NOTFOUND) return rc;
    if (!rc) {
        /* identical content under another path: one more path → that id */
        uint64_t id = le64_get(hv.mv_data);
        if ((rc = get_image(st, txn, id, &d, &r))) return rc;
        char pbuf[STORE_PATH_MAX], fbuf[STORE_FORMAT_MAX];
        memcpy(pbuf, r.path, r.path_len); r.path = pbuf;
        memcpy(fbuf, r.format, r.format_len); r.format = fbuf;
        r.n_paths++;
        if (r.meta_stale && rec->taken_source != IMAGE_TAKEN_NONE) img_meta_from(&r, rec);
        if ((rc = put_image(st, txn, id, &r))) return rc;
        if ((rc = put_path(st, txn, rec->path, plen, id, rec->size, rec->mtime_ns))) return rc;
        res->id = id;
        res->outcome = replaced ? STORE_REPLACED : STORE_DUPLICATE;
        return 0;
    }

    if (!rec->vector) return status_fail(ST_ARG, "%s: new content committed without a vector", rec->path);
    uint64_t id = (*next_id)++;
    uint8_t kb[8], ib[8];
    be64_put(kb, id);
    le64_put(ib, id);
    img_rec nr = {.width = rec->width, .height = rec->height, .n_paths = 1, .size = rec->size,
                  .mtime_ns = rec->mtime_ns, .added_ns = now_ns(), .format = rec->format ? rec->format : "",
                  .format_len = flen, .path = rec->path, .path_len = plen};
    memcpy(nr.hash, rec->hash, 16);
    img_meta_from(&nr, rec);
    if ((rc = put_image(st, txn, id, &nr))) return rc;
    MDB_val k = {8, kb}, v = {(size_t)floats * sizeof(float), (void *)rec->vector};
    if ((rc = mdb_put(txn, st->dbi[T_VECTORS], &k, &v, 0))) return rc;
    if (rec->thumb && rec->thumb_len) {
        MDB_val tv = {rec->thumb_len, (void *)rec->thumb};
        if ((rc = mdb_put(txn, st->dbi[T_THUMBS], &k, &tv, 0))) return rc;
    }
    MDB_val idv = {8, ib};
    if ((rc = mdb_put(txn, st->dbi[T_HASHES], &hk, &idv, 0))) return rc;
    if ((rc = put_path(st, txn, rec->path, plen, id, rec->size, rec->mtime_ns))) return rc;
    res->id = id;
    res->outcome = replaced ? STORE_REPLACED : STORE_ADDED;
    return 0;
}

static int commit_body(store *st, MDB_txn *txn, void *vctx) {
    commit_ctx *c = vctx;
    int floats = 0, n_vec, rc;
    uint64_t next_id = 0;
    if ((rc = meta_n_vec(st, txn, &n_vec, &floats))) return rc;
    if (floats <= 0) return status_fail(ST_ARG, "%s: store_commit before store_check_model (the vector dim is unknown)", st->dir);
    if ((rc = meta_get_u64(st, txn, "next_id", &next_id))) return rc;
    for (size_t i = 0; i < c->n; i++) {
        store_result tmp;
        if ((rc = commit_one(st, txn, &c->recs[i], floats, &next_id, c->res ? &c->res[i] : &tmp))) return rc;
    }
    return meta_put_u64(st, txn, "next_id", next_id);
}

int store_commit(store *st, size_t n, const store_record *recs, store_result *results) {
    int rc;
    if ((rc = need_writer(st, "store_commit"))) return rc;
    if (n == 0) return 0;
    commit_ctx c = {n, recs, results};
    return store_write(st, commit_body, &c, 1, "committing a batch");
}

/* ---------------------------------------------------------------- removal */

typedef struct { const char *const *paths; size_t n; uint64_t removed; int allow_none; } remove_ctx;

static int remove_body(store *st, MDB_txn *txn, void *vctx) {
    remove_ctx *c = vctx;
    c->removed = 0;
    for (size_t i = 0; i < c->n; i++) {
        size_t plen = strlen(c->paths[i]);
        if (!plen || plen >= STORE_PATH_MAX) continue;
        MDB_val k = {plen, (void *)c->paths[i]}, v;
        int rc = mdb_get(txn, st->dbi[T_PATHS], &k, &v);
        if (rc == MDB_NOTFOUND) continue;
        if (rc) return rc;
        if (v.mv_size != PATHVAL) return status_fail(ST_FORMAT, "%s: paths entry of %s is malformed", st->dir, c->paths[i]);
        if ((rc = detach_path(st, txn, c->paths[i], plen, le64_get(v.mv_data)))) return rc;
        c->removed++;
    }
    if (!c->removed && !c->allow_none)
        return status_fail(ST_NOT_FOUND, "%s is not in %s", c->n ? c->paths[0] : "(nothing)", st->dir);
    return 0;
}

int store_remove_path(store *st, const char *path) {
    int rc;
    if ((rc = need_writer(st, "store_remove_path"))) return rc;
    remove_ctx c = {&path, 1, 0, 0};
    return store_write(st, remove_body, &c, 1, "removing a path");
}

typedef struct { char **paths; size_t n, cap; } path_list;

static int collect_path(const char *path, uint64_t id, void *ctx) {
    path_list *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        char **p = realloc(l->paths, cap * sizeof *p);
        if (!p) return status_fail(ST_NOMEM, "store_prune: out of memory");
        l->paths = p;
        l->cap = cap;
    }
    if (!(l->paths[l->n] = strdup(path))) return status_fail(ST_NOMEM, "store_prune: out of memory");
    l->n++;
    return 0;
}

int store_prune(store *st, store_gone_fn gone, void *ctx, uint64_t *n_removed) {
    int rc;
    if (n_removed) *n_removed = 0;
    if ((rc = need_writer(st, "store_prune"))) return rc;
    path_list all = {0};
    if ((rc = store_foreach_path(st, collect_path, &all))) goto done;
    size_t ng = 0;   /* compact the gone ones to the front; the predicate runs outside any transaction */
    for (size_t i = 0; i < all.n; i++) {
        if (gone(all.paths[i], ctx)) { char *t = all.paths[ng]; all.paths[ng++] = all.paths[i]; all.paths[i] = t; }
    }
    for (size_t at = 0; at < ng; at += PRUNE_CHUNK) {
        remove_ctx c = {(const char *const *)all.paths + at, ng - at < PRUNE_CHUNK ? ng - at : PRUNE_CHUNK, 0, 1};
        if ((rc = store_write(st, remove_body, &c, 1, "pruning"))) goto done;
        if (n_removed) *n_removed += c.removed;
    }
done:
    for (size_t i = 0; i < all.n; i++) free(all.paths[i]);
    free(all.paths);
    return rc;
}

/* ---------------------------------------------------------------- reads */

typedef struct { const void *key; size_t klen; void *out; size_t cap; uint8_t **buf; size_t *len; uint64_t id; } get_ctx;

static int lookup_path_body(store *st, MDB_txn *txn, void *vctx) {
    get_ctx *c = vctx;
    MDB_val k = {c->klen, (void *)c->key}, v;
    int rc = mdb_get(txn, st->dbi[T_PATHS], &k, &v);
    if (rc == MDB_NOTFOUND) { status_fail(ST_NOT_FOUND, "%s is not in %s", (const char *)c->key, st->dir); return rc; }
    if (rc) return rc;
    if (v.mv_size != PATHVAL) return status_fail(ST_FORMAT, "%s: paths entry is malformed", st->dir);
    store_path_info *o = c->out;
    o->id = le64_get(v.mv_data);
    o->size = le64_get((uint8_t *)v.mv_data + 8);
    o->mtime_ns = (int64_t)le64_get((uint8_t *)v.mv_data + 16);
    return 0;
}

int store_lookup_path(store *st, const char *path, store_path_info *out) {
    size_t plen = path ? strlen(path) : 0;
    if (!plen || plen >= STORE_PATH_MAX) return status_fail(ST_NOT_FOUND, "%s is not in %s", path ? path : "(null)", st->dir);
    get_ctx c = {.key = path, .klen = plen, .out = out};
    return store_read(st, lookup_path_body, &c, "looking up a path");
}

static int lookup_hash_body(store *st, MDB_txn *txn, void *vctx) {
    get_ctx *c = vctx;
    MDB_val k = {16, (void *)c->key}, v;
    int rc = mdb_get(txn, st->dbi[T_HASHES], &k, &v);
    if (rc == MDB_NOTFOUND) { status_fail(ST_NOT_FOUND, "content hash not in %s", st->dir); return rc; }
    if (rc) return rc;
    *(uint64_t *)c->out = le64_get(v.mv_data);
    return 0;
}

int store_lookup_hash(store *st, const uint8_t hash[16], uint64_t *id) {
    get_ctx c = {.key = hash, .klen = 16, .out = id};
    return store_read(st, lookup_hash_body, &c, "looking up a hash");
}

/* A decoded record as the caller's copy (path and format cut to fit). */
static void img_copy(const img_rec *r, uint64_t id, store_image *o) {
    memset(o, 0, sizeof *o);
    o->id = id;
    memcpy(o->path, r->path, r->path_len < STORE_PATH_MAX ? r->path_len : STORE_PATH_MAX - 1);
    memcpy(o->hash, r->hash, 16);
    o->size = r->size; o->mtime_ns = r->mtime_ns; o->added_ns = r->added_ns;
    o->width = r->width; o->height = r->height; o->n_paths = r->n_paths;
    memcpy(o->format, r->format, r->format_len < STORE_FORMAT_MAX ? r->format_len : STORE_FORMAT_MAX - 1);
    o->taken_ns = r->taken_ns;
    o->taken_offset_min = r->taken_offset_min;
    o->taken_source = r->taken_source;
    memcpy(o->taken, r->taken, strnlen(r->taken, sizeof o->taken - 1));   /* o is zeroed: the copies end in NULs */
    memcpy(o->make, r->make, strnlen(r->make, sizeof o->make - 1));
    memcpy(o->model, r->model, strnlen(r->model, sizeof o->model - 1));
    o->has_gps = r->has_gps;
    o->gps_lat = r->gps_lat;
    o->gps_lon = r->gps_lon;
    o->meta_stale = r->meta_stale;
}

static int get_image_body(store *st, MDB_txn *txn, void *vctx) {
    get_ctx *c = vctx;
    MDB_val d;
    img_rec r;
    int rc = get_image(st, txn, c->id, &d, &r);
    if (rc == MDB_NOTFOUND) { status_fail(ST_NOT_FOUND, "image %llu is not in %s", (unsigned long long)c->id, st->dir); return rc; }
    if (rc) return rc;
    img_copy(&r, c->id, c->out);
    return 0;
}

int store_image_decode(uint64_t id, const void *val, size_t n, store_image *out) {
    MDB_val v = {n, (void *)val};
    img_rec r;
    memset(out, 0, sizeof *out);
    if (!val || img_decode(&v, &r)) return status_fail(ST_FORMAT, "image record %llu is malformed", (unsigned long long)id);
    img_copy(&r, id, out);
    return 0;
}

int store_get_image(store *st, uint64_t id, store_image *out) {
    get_ctx c = {.out = out, .id = id};
    return store_read(st, get_image_body, &c, "reading an image record");
}

static int get_blob_body(store *st, MDB_txn *txn, void *vctx) {
    get_ctx *c = vctx;   /* key/klen set for index; id for thumbs/vectors (cap = table) */
    uint8_t kb[8];
    MDB_val k, v;
    if (c->key) { k.mv_size = c->klen; k.mv_data = (void *)c->key; }
    else { be64_put(kb, c->id); k.mv_size = 8; k.mv_data = kb; }
    int t = (int)c->cap;
    int rc = mdb_get(txn, st->dbi[t], &k, &v);
    if (rc == MDB_NOTFOUND) {
        if (c->key) status_fail(ST_NOT_FOUND, "%s: no '%.*s' in table %s", st->dir, (int)c->klen, (const char *)c->key, table_names[t]);
        else status_fail(ST_NOT_FOUND, "%s: no %s for image %llu", st->dir, table_names[t], (unsigned long long)c->id);
        return rc;
    }
    if (rc) return rc;
    if (t == T_VECTORS) {
        int dim = 0, n_vec;
        if ((rc = meta_n_vec(st, txn, &n_vec, &dim))) return rc;
        if (v.mv_size != (size_t)dim * sizeof(float))
            return status_fail(ST_FORMAT, "%s: vector %llu has %zu bytes, expected %d floats", st->dir,
                               (unsigned long long)c->id, v.mv_size, dim);
        memcpy(c->out, v.mv_data, v.mv_size);
        return 0;
    }
    uint8_t *b = malloc(v.mv_size ? v.mv_size : 1);
    if (!b) return status_fail(ST_NOMEM, "%s: out of memory reading %zu bytes", st->dir, v.mv_size);
    memcpy(b, v.mv_data, v.mv_size);
    *c->buf = b;
    *c->len = v.mv_size;
    return 0;
}

int store_get_vector(store *st, uint64_t id, float *out) {
    get_ctx c = {.out = out, .id = id, .cap = T_VECTORS};
    return store_read(st, get_blob_body, &c, "reading a vector");
}

int store_get_thumb(store *st, uint64_t id, uint8_t **jpeg, size_t *len) {
    get_ctx c = {.id = id, .cap = T_THUMBS, .buf = jpeg, .len = len};
    return store_read(st, get_blob_body, &c, "reading a thumbnail");
}

int store_index_get(store *st, const char *name, void **blob, size_t *len) {
    get_ctx c = {.key = name, .klen = strlen(name), .cap = T_INDEX, .buf = (uint8_t **)blob, .len = len};
    return store_read(st, get_blob_body, &c, "reading the index");
}

typedef struct { const char *name; const void *blob; size_t len; } index_put_ctx;

static int index_put_body(store *st, MDB_txn *txn, void *vctx) {
    index_put_ctx *c = vctx;
    MDB_val k = {strlen(c->name), (void *)c->name}, v = {c->len, (void *)c->blob};
    return mdb_put(txn, st->dbi[T_INDEX], &k, &v, 0);
}

int store_index_put(store *st, const char *name, const void *blob, size_t len) {
    if (!store_writable(st) && !(st->flags & STORE_SHARED)) return need_writer(st, "store_index_put");
    if (!name || !*name || strlen(name) > 64) return status_fail(ST_ARG, "store_index_put: bad name");
    index_put_ctx c = {name, blob, len};
    return store_write(st, index_put_body, &c, 0, "writing the index");
}

static int counts_body(store *st, MDB_txn *txn, void *vctx) {
    store_counts *o = vctx;
    MDB_stat s;
    int rc;
    uint64_t *dst[] = {&o->n_images, &o->n_paths, &o->n_vectors, &o->n_thumbs, &o->n_feedback};
    int tabs[] = {T_IMAGES, T_PATHS, T_VECTORS, T_THUMBS, T_FEEDBACK};
    for (int i = 0; i < 5; i++) {
        if ((rc = mdb_stat(txn, st->dbi[tabs[i]], &s))) return rc;
        *dst[i] = s.ms_entries;
    }
    if ((rc = meta_get_u64(st, txn, "generation", &o->generation))) return rc;
    if ((rc = meta_get_u64(st, txn, "next_id", &o->next_id))) return rc;
    o->map_bytes = st->map_bytes;
    return 0;
}

int store_counts_get(store *st, store_counts *out) {
    memset(out, 0, sizeof *out);
    return store_read(st, counts_body, out, "counting");
}

int store_generation(store *st, uint64_t *gen) {
    store_counts c;
    int rc = store_counts_get(st, &c);
    *gen = c.generation;
    return rc;
}

/* ---------------------------------------------------------------- iteration */

typedef struct { uint64_t after; store_vector_fn fn; void *ctx; uint64_t *gen; int *dim; } vec_iter;

static int foreach_vector_body(store *st, MDB_txn *txn, void *vctx) {
    vec_iter *c = vctx;
    int dim = 0, n_vec, floats = 0, rc;
    if ((rc = meta_dim(st, txn, &dim))) return rc;
    if ((rc = meta_n_vec(st, txn, &n_vec, &floats))) return rc;
    if (c->dim) *c->dim = dim;
    if (c->gen && (rc = meta_get_u64(st, txn, "generation", c->gen))) return rc;
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(txn, st->dbi[T_VECTORS], &cur))) return rc;
    uint8_t kb[8];
    be64_put(kb, c->after + 1);
    MDB_val k = {8, kb}, v;
    if (c->after == UINT64_MAX) { mdb_cursor_close(cur); return 0; }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); !rc; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 8 || v.mv_size != (size_t)floats * sizeof(float)) {
            rc = status_fail(ST_FORMAT, "%s: a vectors entry is malformed (%zu bytes, dim %d × %d)", st->dir, v.mv_size,
                             dim, n_vec);
            break;
        }
        if ((rc = c->fn(be64_get(k.mv_data), v.mv_data, c->ctx))) break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int store_foreach_vector(store *st, uint64_t after_id, store_vector_fn fn, void *ctx, uint64_t *generation, int *dim) {
    vec_iter c = {after_id, fn, ctx, generation, dim};
    return store_read(st, foreach_vector_body, &c, "reading vectors");
}

typedef struct { store_path_fn fn; void *ctx; } path_iter;

static int foreach_path_body(store *st, MDB_txn *txn, void *vctx) {
    path_iter *c = vctx;
    MDB_cursor *cur;
    int rc;
    if ((rc = mdb_cursor_open(txn, st->dbi[T_PATHS], &cur))) return rc;
    MDB_val k, v;
    char p[STORE_PATH_MAX];
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !rc; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size >= STORE_PATH_MAX || v.mv_size != PATHVAL) {
            rc = status_fail(ST_FORMAT, "%s: a paths entry is malformed", st->dir);
            break;
        }
        memcpy(p, k.mv_data, k.mv_size);
        p[k.mv_size] = 0;
        if ((rc = c->fn(p, le64_get(v.mv_data), c->ctx))) break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int store_foreach_path(store *st, store_path_fn fn, void *ctx) {
    path_iter c = {fn, ctx};
    return store_read(st, foreach_path_body, &c, "reading paths");
}

/* ---------------------------------------------------------------- feedback */

static int feedback_body(store *st, MDB_txn *txn, void *vctx) {
    const char **args = vctx;   /* [0] json, [1] (uint64_t *) time out */
    uint64_t seq = 0;
    int rc = meta_get_u64(st, txn, "feedback_seq", &seq);
    if (rc && rc != MDB_NOTFOUND) return rc;
    uint64_t t = (uint64_t)now_ns();
    uint8_t kb[16];
    be64_put(kb, t);
    be64_put(kb + 8, seq);
    MDB_val k = {16, kb}, v = {strlen(args[0]), (void *)args[0]};
    if ((rc = mdb_put(txn, st->dbi[T_FEEDBACK], &k, &v, 0))) return rc;
    if (args[1]) *(uint64_t *)(void *)args[1] = t;
    return meta_put_u64(st, txn, "feedback_seq", seq + 1);
}

int store_feedback_put(store *st, const char *json, uint64_t *time_ns) {
    if (!store_writable(st) && !(st->flags & STORE_SHARED)) return need_writer(st, "store_feedback_put");
    if (!json) return status_fail(ST_ARG, "store_feedback_put: NULL json");
    const char *args[2] = {json, (const char *)(void *)time_ns};
    return store_write(st, feedback_body, (void *)args, 0, "recording feedback");
}

/* Walk the feedback table oldest first (newest_first 0) or newest first,
 * at most limit records, each NUL-terminated for the callback. */
typedef struct { size_t limit; int newest_first; store_feedback_fn fn; void *ctx; } fb_walk;

static int feedback_walk_body(store *st, MDB_txn *txn, void *vctx) {
    fb_walk *c = vctx;
    MDB_cursor *cur;
    int rc;
    if ((rc = mdb_cursor_open(txn, st->dbi[T_FEEDBACK], &cur))) return rc;
    const MDB_cursor_op first = c->newest_first ? MDB_LAST : MDB_FIRST, next = c->newest_first ? MDB_PREV : MDB_NEXT;
    MDB_val k, v;
    size_t n = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, first); !rc && n < c->limit; rc = mdb_cursor_get(cur, &k, &v, next), n++) {
        char *s = malloc(v.mv_size + 1);
        if (!s) { rc = status_fail(ST_NOMEM, "out of memory"); break; }
        memcpy(s, v.mv_data, v.mv_size);
        s[v.mv_size] = 0;
        rc = c->fn(k.mv_size == 16 ? be64_get(k.mv_data) : 0, s, v.mv_size, c->ctx);
        free(s);
        if (rc) break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int store_feedback_list(store *st, store_feedback_fn fn, void *ctx) {
    fb_walk c = {SIZE_MAX, 0, fn, ctx};
    return store_read(st, feedback_walk_body, &c, "reading feedback");
}

int store_feedback_latest(store *st, size_t limit, store_feedback_fn fn, void *ctx) {
    fb_walk c = {limit, 1, fn, ctx};
    return store_read(st, feedback_walk_body, &c, "reading feedback");
}

/* ---------------------------------------------------------------- verify */

#define VFAIL(...) do { rc = status_fail(ST_INTERNAL, __VA_ARGS__); goto out; } while (0)

static int verify_body(store *st, MDB_txn *txn, void *vctx) {
    (void)vctx;
    int dim = 0, rc;
    uint64_t next_id = 0, gen = 0;
    MDB_cursor *cur = NULL;
    MDB_val k, v, d;
    img_rec r;
    MDB_stat s_img, s_vec, s_hash, s_paths, s_idp;
    int n_vec;
    if ((rc = meta_n_vec(st, txn, &n_vec, &dim))) return rc;   /* dim = floats per image */
    if ((rc = meta_get_u64(st, txn, "next_id", &next_id))) return rc;
    if ((rc = meta_get_u64(st, txn, "generation", &gen))) return rc;
    mdb_stat(txn, st->dbi[T_IMAGES], &s_img);  mdb_stat(txn, st->dbi[T_VECTORS], &s_vec);
    mdb_stat(txn, st->dbi[T_HASHES], &s_hash); mdb_stat(txn, st->dbi[T_PATHS], &s_paths);
    mdb_stat(txn, st->dbi[T_IDPATHS], &s_idp);
    if (s_img.ms_entries != s_vec.ms_entries || s_img.ms_entries != s_hash.ms_entries)
        VFAIL("%s: %zu images, %zu vectors, %zu hashes (I2)", st->dir, s_img.ms_entries, s_vec.ms_entries, s_hash.ms_entries);
    if (s_paths.ms_entries != s_idp.ms_entries)
        VFAIL("%s: %zu paths but %zu idpaths (I1)", st->dir, s_paths.ms_entries, s_idp.ms_entries);
    if (s_img.ms_entries && !gen) VFAIL("%s: images stored at generation 0 (I6)", st->dir);

    /* paths → idpaths, images */
    if ((rc = mdb_cursor_open(txn, st->dbi[T_PATHS], &cur))) return rc;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !rc; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (v.mv_size != PATHVAL || k.mv_size >= STORE_PATH_MAX) VFAIL("%s: malformed paths entry", st->dir);
        uint64_t id = le64_get(v.mv_data);
        uint8_t ik[8 + STORE_PATH_MAX];
        be64_put(ik, id);
        memcpy(ik + 8, k.mv_data, k.mv_size);
        MDB_val ikv = {8 + k.mv_size, ik};
        if (mdb_get(txn, st->dbi[T_IDPATHS], &ikv, &d)) VFAIL("%s: path %.*s has no idpaths entry (I1)", st->dir, (int)k.mv_size, (char *)k.mv_data);
        if (get_image(st, txn, id, &d, &r)) VFAIL("%s: path %.*s → missing image %llu (I2)", st->dir, (int)k.mv_size, (char *)k.mv_data, (unsigned long long)id);
    }
    mdb_cursor_close(cur); cur = NULL;

    /* images → vectors, hashes, n_paths, primary path */
    if ((rc = mdb_cursor_open(txn, st->dbi[T_IMAGES], &cur))) return rc;
    MDB_cursor *ic = NULL;
    if ((rc = mdb_cursor_open(txn, st->dbi[T_IDPATHS], &ic))) goto out;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !rc; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 8 || img_decode(&v, &r)) { mdb_cursor_close(ic); VFAIL("%s: malformed images entry", st->dir); }
        uint64_t id = be64_get(k.mv_data);
        const char *why = NULL;
        if (id == 0 || id >= next_id) why = "id outside [1, next_id) (I5)";
        MDB_val vk = {8, k.mv_data};
        if (!why && (mdb_get(txn, st->dbi[T_VECTORS], &vk, &d) || d.mv_size != (size_t)dim * 4)) why = "no vector of the model dim (I2)";
        MDB_val hk = {16, r.hash};
        if (!why && (mdb_get(txn, st->dbi[T_HASHES], &hk, &d) || le64_get(d.mv_data) != id)) why = "hash entry missing or not this id (I2)";
        uint32_t np = 0;
        int primary_ok = 0;
        MDB_val ck = {8, k.mv_data}, cv;
        for (int g = mdb_cursor_get(ic, &ck, &cv, MDB_SET_RANGE); !g && ck.mv_size > 8 && memcmp(ck.mv_data, k.mv_data, 8) == 0;
             g = mdb_cursor_get(ic, &ck, &cv, MDB_NEXT)) {
            np++;
            if (ck.mv_size - 8 == r.path_len && memcmp((char *)ck.mv_data + 8, r.path, r.path_len) == 0) primary_ok = 1;
        }
        if (!why && (np != r.n_paths || np == 0)) why = "n_paths differs from its idpaths (I3)";
        if (!why && !primary_ok) why = "primary path is not one of its paths (I3)";
        if (why) { mdb_cursor_close(ic); VFAIL("%s: image %llu: %s", st->dir, (unsigned long long)id, why); }
    }
    mdb_cursor_close(ic);
    mdb_cursor_close(cur); cur = NULL;

    /* thumbs → images */
    if ((rc = mdb_cursor_open(txn, st->dbi[T_THUMBS], &cur))) return rc;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !rc; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        MDB_val ik = {k.mv_size, k.mv_data};
        if (mdb_get(txn, st->dbi[T_IMAGES], &ik, &d)) VFAIL("%s: thumbnail without an image (I4)", st->dir);
    }
    rc = 0;
out:
    if (cur) mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int store_verify(store *st) { return store_read(st, verify_body, NULL, "verifying"); }
