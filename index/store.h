/* index/store.h — the image store: one LMDB environment per `--db DIR`.
 *
 *     store *st;
 *     if (store_open("photos.db", STORE_CREATE, &st)) die(status_message());
 *     if (store_check_model(st, "openai/clip-vit-base-patch32", 512)) die(...);
 *     store_path_info pi;
 *     if (store_lookup_path(st, path, &pi) == ST_OK &&
 *         pi.size == size && pi.mtime_ns == mtime) skip();      // unchanged
 *     store_record rec = { .path = path, .size = size, .mtime_ns = mtime,
 *                          .width = w, .height = h, .format = "jpeg",
 *                          .vector = emb, .thumb = jpg, .thumb_len = jpg_len };
 *     memcpy(rec.hash, h128, 16);                                // store_hash_bytes()
 *     store_result res;
 *     if (store_commit(st, 1, &rec, &res)) die(...);             // one transaction
 *     store_close(st);
 *
 * The on-disk format (tables, key and value encodings, schema version,
 * invariants) is documented in docs/storage.md; the summary is in store.c.
 *
 * Model: every image (one distinct file content) has a u64 id; one or more
 * paths point at an id (identical bytes under two paths are stored once). The
 * vectors table is the truth the vector index (vindex.h) is derived from. Ids
 * are never reused and an id's vector never changes: a modified file gets a
 * new id. Every committed change to the catalog (commit, remove, prune) bumps
 * the store's `generation` by one.
 *
 * Modes (flags of store_open):
 *   STORE_RDONLY  read only (the server): no lock, many processes at once.
 *   STORE_CREATE  writer (ingest): creates the db if missing; takes the db's
 *                 exclusive writer lock (flock on DIR/seer.lock). A second
 *                 writer fails at once with ST_BUSY naming the holder's pid,
 *                 or waits for it with STORE_WAIT.
 *   STORE_WRITE   writer on an existing db (ST_NOT_FOUND if absent).
 *   STORE_SHARED  writable without the writer lock: only store_feedback_put
 *                 and store_index_put are allowed (the server records votes
 *                 while an ingest runs; LMDB serialises the transactions).
 *
 * The map size grows by itself: a transaction that hits MDB_MAP_FULL is
 * aborted, the map doubled and the transaction retried. A full disk fails the
 * write with ST_IO and a message saying "disk full" (the store keeps its last
 * committed state).
 *
 * Thread-safety: a store handle may be used from many threads for reads
 * (LMDB readers with MDB_NOTLS, each call in its own read transaction). Write
 * calls serialise on the LMDB write lock; call them from one thread at a time.
 * Never use a store handle in a child after fork(); open a new one.
 *
 * Ownership: the store owns nothing the caller passed in (all copied); every
 * output buffer is either caller-provided or malloc'd and documented so.
 */
#ifndef SEER_STORE_H
#define SEER_STORE_H

#include "image_meta.h"

#include <stddef.h>
#include <stdint.h>

#define STORE_SCHEMA_VERSION 2          /* see docs/storage.md; a version 1 db is migrated by
                                           the first writer and read as is by readers */
#define STORE_PATH_MAX       481        /* bytes, including the NUL: LMDB keys are at most
                                           511 bytes and idpaths keys are id + path */
#define STORE_FORMAT_MAX     16         /* "jpeg", "png", ... including the NUL */
#define STORE_TAKEN_NONE     INT64_MIN  /* taken_ns of an image without a date */
#define STORE_MODEL_MAX      256        /* model identity string, including the NUL */
#define STORE_FAMILY_MAX     16         /* model family ("clip", "blip2"), including the NUL */
#define STORE_MAX_READERS    2048       /* LMDB reader slots: above seer serve's 1024 HTTP
                                           threads plus its worker pools */

enum {
    STORE_RDONLY = 1,
    STORE_CREATE = 2,
    STORE_WRITE  = 4,
    STORE_SHARED = 8,
    STORE_WAIT   = 16,   /* with CREATE/WRITE: wait for the writer lock */
};

typedef struct store store;

/* Photo metadata (schema 2), the same fields in store_record (input) and
 * store_image (read back). A record left zeroed by the caller has no date
 * (taken_source NONE: stored as STORE_TAKEN_NONE, offset unknown), no
 * camera, no GPS.
 *   taken_ns          date taken, UTC ns; a local time read as UTC when the
 *                     offset is unknown; STORE_TAKEN_NONE when none
 *   taken_offset_min  UTC offset of `taken` in minutes, IMAGE_OFFSET_UNKNOWN
 *   taken_source      enum image_taken_source: NONE, EXIF, MTIME
 *   taken             local "YYYY-MM-DDTHH:MM:SS" as written by the camera (or
 *                     from the mtime, in local time), "" when none
 *   make, model       camera, "" when unknown
 *   has_gps, gps_lat, gps_lon   degrees, south and west negative
 * width/height are the pixel size after orientation; format is the sniffed one. */

/* One image to commit. All pointers are borrowed for the call. */
typedef struct {
    const char    *path;       /* as the caller names it (absolute preferred) */
    uint8_t        hash[16];   /* xxh3-128 of the file bytes (store_hash_bytes) */
    uint64_t       size;       /* file bytes */
    int64_t        mtime_ns;   /* file modification time, ns since the epoch */
    uint32_t       width, height;
    const char    *format;     /* "jpeg", "png", ... (< STORE_FORMAT_MAX) */
    const float   *vector;     /* (n_vec, dim) the embedding(s); may be NULL only
                                  when the hash is already stored (a duplicate) */
    const uint8_t *thumb;      /* JPEG bytes, may be NULL */
    size_t         thumb_len;
    int64_t  taken_ns;          /* date taken, UTC ns; local time read as UTC when the
                                   offset is unknown; STORE_TAKEN_NONE when none */
    int16_t  taken_offset_min;  /* IMAGE_OFFSET_UNKNOWN when unknown */
    uint8_t  taken_source;      /* enum image_taken_source: NONE, EXIF, MTIME */
    char     taken[20];         /* local "YYYY-MM-DDTHH:MM:SS", "" none */
    char     make[64], model[64];
    uint8_t  has_gps;
    double   gps_lat, gps_lon;
} store_record;

/* What store_commit did with one record. */
typedef enum {
    STORE_ADDED     = 1,  /* new content, new id, vector stored */
    STORE_REPLACED  = 2,  /* the path existed with other content: re-pointed to a new id */
    STORE_DUPLICATE = 3,  /* the content is already stored: path → existing id */
    STORE_TOUCHED   = 4,  /* the path existed with this very content: size/mtime updated,
                             and the metadata when the record carries some
                             (taken_source != NONE) */
} store_outcome;

typedef struct {
    uint64_t id;
    int      outcome;     /* store_outcome */
} store_result;

/* One image, as read back (a copy; no pointers into the db). */
typedef struct {
    uint64_t id;
    char     path[STORE_PATH_MAX];     /* the image's primary path (see docs/storage.md) */
    uint8_t  hash[16];
    uint64_t size;
    int64_t  mtime_ns;                 /* of the primary path */
    int64_t  added_ns;                 /* when the content was first committed */
    uint32_t width, height;
    char     format[STORE_FORMAT_MAX];
    uint32_t n_paths;                  /* how many paths point at this id */
    int64_t  taken_ns;          /* date taken, UTC ns; local time read as UTC when the
                                   offset is unknown; STORE_TAKEN_NONE when none */
    int16_t  taken_offset_min;  /* IMAGE_OFFSET_UNKNOWN when unknown */
    uint8_t  taken_source;      /* enum image_taken_source: NONE, EXIF, MTIME */
    char     taken[20];         /* local "YYYY-MM-DDTHH:MM:SS", "" none */
    char     make[64], model[64];
    uint8_t  has_gps;
    double   gps_lat, gps_lon;
    uint8_t  meta_stale;               /* 1: a record of a version 1 db: the metadata are the
                                          mtime defaults, not read from the file yet (the next
                                          ingest of its path reads them) */
} store_image;

typedef struct {
    uint64_t id;
    uint64_t size;
    int64_t  mtime_ns;
} store_path_info;

typedef struct {
    uint64_t n_images;     /* distinct contents (= vectors) */
    uint64_t n_paths;
    uint64_t n_vectors;
    uint64_t n_thumbs;
    uint64_t n_feedback;
    uint64_t generation;
    uint64_t next_id;
    uint64_t map_bytes;    /* current LMDB map size */
} store_counts;

/* ---------------------------------------------------------------- open/close */

/* Open the db in directory dir (created with STORE_CREATE). Creation is one
 * transaction: a store killed while being created has no tables at all; it
 * opens as ST_NOT_FOUND (the message says so), and STORE_CREATE completes
 * it. Reader slots left by processes that died are cleared at open (and when
 * the slots run out). Errors:
 * ST_NOT_FOUND (no db and no STORE_CREATE), ST_BUSY (writer lock held by
 * another process; the message names its pid), ST_UNSUPPORTED (schema version
 * of another seer), ST_STORE / ST_IO. */
int  store_open(const char *dir, int flags, store **out);
/* Same, with the initial LMDB map size in bytes (0 = default 64 MiB; tests use
 * a tiny one to exercise growth). */
int  store_open_with(const char *dir, int flags, uint64_t map_bytes, store **out);
/* Close; NULL is fine. Releases the writer lock. */
void store_close(store *st);

const char *store_dir(const store *st);
int  store_writable(const store *st);    /* 1 for CREATE/WRITE (lock held) */

/* Model identity. If the db has none yet and st is a writer, record
 * (identity, family, dim, n_vec); if it has one, ST_MISMATCH unless all
 * match, with a message naming both models. A read-only empty db accepts any
 * model. family is "clip" or "blip2" (< STORE_FAMILY_MAX); n_vec is the
 * number of vectors per image (1 for CLIP, 32 for BLIP-2's query tokens):
 * every image's stored vector value is then n_vec × dim floats. A store
 * written before these were recorded reads as ("clip", n_vec 1). */
int  store_check_model_vec(store *st, const char *identity, const char *family, int dim, int n_vec);
/* = store_check_model_vec(st, identity, "clip", dim, 1). */
int  store_check_model(store *st, const char *identity, int dim);
/* The recorded model: identity copied into buf (cap bytes), *dim; ST_NOT_FOUND
 * when none is recorded. */
int  store_get_model(store *st, char *buf, size_t cap, int *dim);

/* Everything recorded about the model (a copy). */
typedef struct {
    char identity[STORE_MODEL_MAX];
    char family[STORE_FAMILY_MAX];  /* "clip" when the store predates families */
    int  dim;                       /* floats per vector */
    int  n_vec;                     /* vectors per image (1 when not recorded) */
} store_model;
/* ST_NOT_FOUND when no model is recorded. */
int  store_get_model_info(store *st, store_model *out);
/* The model directory seer ingest used (meta "model_path"), so search and
 * serve need no --model. Writers only for set; does not bump the generation.
 * get: ST_NOT_FOUND (message says to give --model) when none is recorded. */
int  store_set_model_path(store *st, const char *path);
int  store_get_model_path(store *st, char *buf, size_t cap);

/* The folders and files ingested into this db (meta "roots"), absolute,
 * each recorded once, in the order first added: what a relative `folder=`
 * filter is resolved against. add: writers only; does not bump the
 * generation; ST_ARG for an empty or over-long (>= 4096 bytes) path. list:
 * out->v is malloc'd (free with store_roots_release); an empty list when
 * none is recorded (a version 1 db until its next ingest). */
typedef struct {
    size_t n;
    char **v;    /* (n) NUL-terminated paths */
} store_roots;
int  store_roots_add(store *st, const char *root);
int  store_roots_list(store *st, store_roots *out);
void store_roots_release(store_roots *r);

/* ---------------------------------------------------------------- writes */

/* The "taken" fields for a file that carries no date: its mtime (a true UTC
 * instant) and that instant in local time, marked IMAGE_TAKEN_MTIME. */
void store_taken_from_mtime(int64_t mtime_ns, int64_t *taken_ns, int16_t *offset_min, char taken[20]);

/* xxh3-128 of bytes, in the canonical big-endian byte order. */
void store_hash_bytes(const void *data, size_t len, uint8_t hash[16]);
/* The same hash of everything read from fd (from its current offset to EOF),
 * in fixed-size pieces: memory does not grow with the file. *len (may be
 * NULL) gets the bytes read. ST_IO when a read fails. */
int  store_hash_fd(int fd, uint8_t hash[16], uint64_t *len);

/* Commit n records in ONE write transaction across all tables (all or
 * nothing), bumping the generation once. results (may be NULL) receives n
 * entries. The model must have been set (store_check_model) so the vector
 * dim is known. Writers only. */
int  store_commit(store *st, size_t n, const store_record *recs, store_result *results);

/* Remove one path: ST_NOT_FOUND if absent. An id whose last path goes loses
 * its image record, vector, thumbnail and hash entry. */
int  store_remove_path(store *st, const char *path);

/* Walk every path; remove (in one transaction per 4096 paths) those for which
 * gone(path, ctx) returns nonzero. *n_removed (may be NULL) gets the count. */
typedef int (*store_gone_fn)(const char *path, void *ctx);
int  store_prune(store *st, store_gone_fn gone, void *ctx, uint64_t *n_removed);

/* ---------------------------------------------------------------- reads */

/* ST_NOT_FOUND when path is not stored. */
int  store_lookup_path(store *st, const char *path, store_path_info *out);
/* The id holding content hash; ST_NOT_FOUND when none. */
int  store_lookup_hash(store *st, const uint8_t hash[16], uint64_t *id);
int  store_get_image(store *st, uint64_t id, store_image *out);
/* Decode the n bytes of an "images" table value (id's record, as LMDB holds
 * it) into *out, the way store_get_image does. ST_FORMAT when the bytes are
 * not a well-formed record. Needs no store (the fuzz target uses it). */
int  store_image_decode(uint64_t id, const void *val, size_t n, store_image *out);
/* Copy the vector value (n_vec × dim floats) of id into out. */
int  store_get_vector(store *st, uint64_t id, float *out);
/* The thumbnail of id as a malloc'd copy (caller frees); ST_NOT_FOUND if none. */
int  store_get_thumb(store *st, uint64_t id, uint8_t **jpeg, size_t *len);
int  store_counts_get(store *st, store_counts *out);
int  store_generation(store *st, uint64_t *gen);

/* Call fn(id, vec, ctx) for every stored vector with id > after_id (0 = all),
 * in increasing id order, from one read snapshot. vec (n_vec × dim floats) points
 * into the map and is valid only during the call. A nonzero return from fn
 * stops the walk and is returned. *generation (may be NULL) receives the
 * generation of the snapshot walked; *dim the dim of one vector. */
typedef int (*store_vector_fn)(uint64_t id, const float *vec, void *ctx);
int  store_foreach_vector(store *st, uint64_t after_id, store_vector_fn fn, void *ctx,
                          uint64_t *generation, int *dim);

/* Call fn(path, id, ctx) for every path (byte order). Same snapshot rules. */
typedef int (*store_path_fn)(const char *path, uint64_t id, void *ctx);
int  store_foreach_path(store *st, store_path_fn fn, void *ctx);

/* Check every invariant of docs/storage.md over the whole db (slow: reads
 * everything). ST_INTERNAL with the first violation in the message. */
int  store_verify(store *st);

/* ---------------------------------------------------------------- index blobs */

/* The derived-index table: name → opaque bytes (vindex.c writes its
 * serialized index there). Put does not bump the generation. get returns a
 * malloc'd copy (caller frees); ST_NOT_FOUND when absent. Writers and
 * STORE_SHARED only for put. */
int  store_index_put(store *st, const char *name, const void *blob, size_t len);
int  store_index_get(store *st, const char *name, void **blob, size_t *len);

/* ---------------------------------------------------------------- feedback */

/* Append a feedback record (a JSON text). Key = (time ns, sequence), both
 * big-endian, so records list in time order; *key_out (may be NULL) gets the
 * time in ns. Does not bump the generation. Writers and STORE_SHARED. */
int  store_feedback_put(store *st, const char *json, uint64_t *time_ns);
/* Call fn(time_ns, json, ctx) for every record in time order; json is valid
 * only during the call. */
typedef int (*store_feedback_fn)(uint64_t time_ns, const char *json, size_t len, void *ctx);
int  store_feedback_list(store *st, store_feedback_fn fn, void *ctx);
/* The newest limit records, newest first (reads only those: the table may be
 * large). */
int  store_feedback_latest(store *st, size_t limit, store_feedback_fn fn, void *ctx);

#endif
