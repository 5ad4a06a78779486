/* tests/test_store.c — the LMDB store: commit/read back, map growth,
 * duplicates, replacement, prune, model and schema refusal, the writer lock
 * and crash safety under kill -9; a store killed while being created, dead
 * reader processes, a full disk. */
#include "test.h"

#include "status.h"
#include "store.h"

#include <lmdb.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DIM 32

static void tmpdir(char *buf, size_t cap) {
    snprintf(buf, cap, "/tmp/seer_test_store_XXXXXX");
    if (!mkdtemp(buf)) { perror("mkdtemp"); exit(1); }
}

static void rmdir_all(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("  (could not remove %s)\n", dir);
}

/* A deterministic unit vector and record for image number i. */
static void make_vec(uint64_t i, float *v) {
    double s = 0;
    for (int j = 0; j < DIM; j++) { v[j] = (float)sin((double)(i * 31 + j) * 0.7) + 0.01f; s += v[j] * v[j]; }
    for (int j = 0; j < DIM; j++) v[j] /= (float)sqrt(s);
}

typedef struct { char path[64]; char content[32]; float vec[DIM]; uint8_t thumb[8]; store_record rec; } rec_buf;

static void make_rec(rec_buf *b, const char *path, uint64_t content_no, int64_t mtime) {
    snprintf(b->path, sizeof b->path, "%s", path);
    snprintf(b->content, sizeof b->content, "content-%llu", (unsigned long long)content_no);
    make_vec(content_no, b->vec);
    memcpy(b->thumb, "\xff\xd8JPEG\xff\xd9", 8);
    memset(&b->rec, 0, sizeof b->rec);
    b->rec.path = b->path;
    store_hash_bytes(b->content, strlen(b->content), b->rec.hash);
    b->rec.size = strlen(b->content);
    b->rec.mtime_ns = mtime;
    b->rec.width = 640; b->rec.height = 480;
    b->rec.format = "jpeg";
    b->rec.vector = b->vec;
    b->rec.thumb = b->thumb;
    b->rec.thumb_len = 8;
}

static store *open_new(const char *dir, uint64_t map) {
    store *st = NULL;
    int rc = store_open_with(dir, STORE_CREATE, map, &st);
    CHECK_MSG(rc == 0, "%s", status_message());
    if (st) CHECK_MSG(store_check_model(st, "test-model", DIM) == 0, "%s", status_message());
    return st;
}

TEST(commit_and_read_back) {
    char dir[64];
    tmpdir(dir, sizeof dir);
    store *st = open_new(dir, 0);
    if (!st) return;
    rec_buf b[3];
    make_rec(&b[0], "/photos/a.jpg", 1, 1000);
    make_rec(&b[1], "/photos/b.jpg", 2, 2000);
    make_rec(&b[2], "/photos/c.jpg", 3, 3000);
    b[2].rec.thumb = NULL; b[2].rec.thumb_len = 0;
    store_record recs[3] = {b[0].rec, b[1].rec, b[2].rec};
    store_result res[3];
    CHECK_MSG(store_commit(st, 3, recs, res) == 0, "%s", status_message());
    CHECK(res[0].outcome == STORE_ADDED && res[1].outcome == STORE_ADDED && res[2].outcome == STORE_ADDED);
    CHECK(res[0].id == 1 && res[1].id == 2 && res[2].id == 3);

    store_image im;
    CHECK(store_get_image(st, res[1].id, &im) == 0);
    CHECK(strcmp(im.path, "/photos/b.jpg") == 0);
    CHECK(strcmp(im.format, "jpeg") == 0);
    CHECK(im.width == 640 && im.height == 480 && im.size == strlen(b[1].content) && im.mtime_ns == 2000);
    CHECK(im.n_paths == 1 && im.added_ns > 0);
    CHECK(memcmp(im.hash, b[1].rec.hash, 16) == 0);
    float v[DIM];
    CHECK(store_get_vector(st, res[1].id, v) == 0);
    CHECK(memcmp(v, b[1].vec, sizeof v) == 0);
    uint8_t *jpg = NULL;
    size_t jl = 0;
    CHECK(store_get_thumb(st, res[0].id, &jpg, &jl) == 0 && jl == 8 && jpg && memcmp(jpg, b[0].thumb, 8) == 0);
    free(jpg);
    CHECK(store_get_thumb(st, res[2].id, &jpg, &jl) == ST_NOT_FOUND);
    CHECK(store_get_image(st, 99, &im) == ST_NOT_FOUND);

    store_path_info pi;
    CHECK(store_lookup_path(st, "/photos/c.jpg", &pi) == 0 && pi.id == 3 && pi.mtime_ns == 3000);
    CHECK(store_lookup_path(st, "/photos/zzz.jpg", &pi) == ST_NOT_FOUND);
    uint64_t id;
    CHECK(store_lookup_hash(st, b[0].rec.hash, &id) == 0 && id == 1);

    store_counts c;
    CHECK(store_counts_get(st, &c) == 0);
    CHECK(c.n_images == 3 && c.n_paths == 3 && c.n_vectors == 3 && c.n_thumbs == 2 && c.generation == 1 && c.next_id == 4);
    CHECK_MSG(store_verify(st) == 0, "%s", status_message());

    /* feedback: time order, no generation bump */
    uint64_t t1, t2;
    CHECK(store_feedback_put(st, "{\"vote\":1}", &t1) == 0);
    CHECK(store_feedback_put(st, "{\"vote\":-1}", &t2) == 0);
    CHECK(t2 >= t1);
    CHECK(store_counts_get(st, &c) == 0 && c.n_feedback == 2 && c.generation == 1);
    store_close(st);

    /* read-only reopen sees the same; writes are refused */
    CHECK(store_open(dir, STORE_RDONLY, &st) == 0);
    if (st) {
        CHECK(store_get_vector(st, 2, v) == 0 && memcmp(v, b[1].vec, sizeof v) == 0);
        CHECK(store_commit(st, 1, recs, NULL) == ST_ARG);
        CHECK(store_check_model(st, "test-model", DIM) == 0);
        store_close(st);
    }
    CHECK(store_open("/tmp/seer_definitely_absent_db", STORE_RDONLY, &st) == ST_NOT_FOUND);
    rmdir_all(dir);
}

TEST(map_grows) {
    char dir[64];
    tmpdir(dir, sizeof dir);
    store *st = open_new(dir, 1 << 20);    /* 1 MiB: a few records fill it */
    if (!st) return;
    enum { BATCH = 100, BATCHES = 30 };    /* 3000 × (128 B vector + 4 KiB thumb) ≈ 13 MB */
    static rec_buf b[BATCH];
    static uint8_t big_thumb[4096];
    memset(big_thumb, 0xab, sizeof big_thumb);
    store_record recs[BATCH];
    int rc = 0;
    for (int k = 0; k < BATCHES && !rc; k++) {
        for (int i = 0; i < BATCH; i++) {
            char p[64];
            snprintf(p, sizeof p, "/big/%06d.jpg", k * BATCH + i);
            make_rec(&b[i], p, (uint64_t)(k * BATCH + i), 1);
            b[i].rec.thumb = big_thumb;
            b[i].rec.thumb_len = sizeof big_thumb;
            recs[i] = b[i].rec;
        }
        rc = store_commit(st, BATCH, recs, NULL);
        CHECK_MSG(rc == 0, "batch %d: %s", k, status_message());
    }
    store_counts c;
    CHECK(store_counts_get(st, &c) == 0);
    CHECK(c.n_images == BATCH * BATCHES && c.generation == BATCHES);
    CHECK_MSG(c.map_bytes > (8u << 20), "map %llu", (unsigned long long)c.map_bytes);
    CHECK_MSG(store_verify(st) == 0, "%s", status_message());
    store_close(st);
    /* a reader with the default map size opens the grown db */
    CHECK(store_open(dir, STORE_RDONLY, &st) == 0);
    if (st) { CHECK(store_counts_get(st, &c) == 0 && c.n_images == BATCH * BATCHES); store_close(st); }
    rmdir_all(dir);
}

TEST(duplicates_stored_once) {
    char dir[64];
    tmpdir(dir, sizeof dir);
    store *st = open_new(dir, 0);
    if (!st) return;
    rec_buf a, b2, c2;
    make_rec(&a, "/p/one.jpg", 7, 10);
    make_rec(&b2, "/p/copy.jpg", 7, 20);    /* same bytes, another path */
    make_rec(&c2, "/p/copy2.jpg", 7, 30);
    c2.rec.vector = NULL;                    /* a caller that looked the hash up first */
    store_result r[3];
    store_record recs[2] = {a.rec, b2.rec};
    CHECK(store_commit(st, 2, recs, r) == 0);
    CHECK(r[0].outcome == STORE_ADDED && r[1].outcome == STORE_DUPLICATE && r[0].id == r[1].id);
    CHECK(store_commit(st, 1, &c2.rec, &r[2]) == 0 && r[2].outcome == STORE_DUPLICATE && r[2].id == r[0].id);
    store_counts c;
    store_counts_get(st, &c);
    CHECK(c.n_images == 1 && c.n_vectors == 1 && c.n_paths == 3);
    store_image im;
    CHECK(store_get_image(st, r[0].id, &im) == 0 && im.n_paths == 3 && strcmp(im.path, "/p/one.jpg") == 0);
    store_path_info pi;
    CHECK(store_lookup_path(st, "/p/copy.jpg", &pi) == 0 && pi.id == r[0].id && pi.mtime_ns == 20);

    /* removing the primary path promotes another; the last path takes the image with it */
    CHECK(store_remove_path(st, "/p/one.jpg") == 0);
    CHECK(store_get_image(st, r[0].id, &im) == 0 && im.n_paths == 2 && strcmp(im.path, "/p/copy.jpg") == 0);
    CHECK(im.mtime_ns == 20);
    CHECK_MSG(store_verify(st) == 0, "%s", status_message());
    CHECK(store_remove_path(st, "/p/one.jpg") == ST_NOT_FOUND);
    CHECK(store_remove_path(st, "/p/copy2.jpg") == 0);
    CHECK(store_remove_path(st, "/p/copy.jpg") == 0);
    store_counts_get(st, &c);
    CHECK(c.n_images == 0 && c.n_vectors == 0 && c.n_paths == 0 && c.n_thumbs == 0);
    uint64_t id;
    CHECK(store_lookup_hash(st, a.rec.hash, &id) == ST_NOT_FOUND);
    CHECK_MSG(store_verify(st) == 0, "%s", status_message());
    /* new content without a vector is refused, and nothing of the batch lands */
    rec_buf d;
    make_rec(&d, "/p/new.jpg", 8, 1);
    d.rec.vector = NULL;
    store_record two[2] = {a.rec, d.rec};
    CHECK(store_commit(st, 2, two, NULL) == ST_ARG);
    store_counts_get(st, &c);
    CHECK(c.n_images == 0 && c.n_paths == 0);
    store_close(st);
    rmdir_all(dir);
}

TEST(changed_file_replaced) {
    char dir[64];
    tmpdir(dir, sizeof dir);
    store *st = open_new(dir, 0);
    if (!st) return;
    rec_buf a, a2, a3;
    store_result r;
    make_rec(&a, "/p/x.jpg", 1, 100);
    CHECK(store_commit(st, 1, &a.rec, &r) == 0 && r.outcome == STORE_ADDED);
    uint64_t old = r.id;
    make_rec(&a2, "/p/x.jpg", 2, 200);      /* edited: new bytes */
    CHECK(store_commit(st, 1, &a2.rec, &r) == 0 && r.outcome == STORE_REPLACED && r.id != old);
    store_image im;
    CHECK(store_get_image(st, old, &im) == ST_NOT_FOUND);
    float v[DIM];
    CHECK(store_get_vector(st, old, v) == ST_NOT_FOUND);
    CHECK(store_get_vector(st, r.id, v) == 0 && memcmp(v, a2.vec, sizeof v) == 0);
    uint64_t new_id = r.id;
    make_rec(&a3, "/p/x.jpg", 2, 300);      /* touched: same bytes, new mtime */
    CHECK(store_commit(st, 1, &a3.rec, &r) == 0 && r.outcome == STORE_TOUCHED && r.id == new_id);
    store_path_info pi;
    CHECK(store_lookup_path(st, "/p/x.jpg", &pi) == 0 && pi.mtime_ns == 300);
    CHECK(store_get_image(st, new_id, &im) == 0 && im.mtime_ns == 300);
    store_counts c;
    store_counts_get(st, &c);
    CHECK(c.n_images == 1 && c.n_paths == 1 && c.generation == 3);
    CHECK_MSG(store_verify(st) == 0, "%s", status_message());
    store_close(st);
    rmdir_all(dir);
}

static int gone_even(const char *path, void *ctx) {
    (*(int *)ctx)++;
    int n = atoi(strrchr(path, '/') + 1);
    return n % 2 == 0;
}

TEST(prune) {
    char dir[64];
    tmpdir(dir, sizeof dir);
    store *st = open_new(dir, 0);
    if (!st) return;
    rec_buf b[10];
    store_record recs[10];
    for (int i = 0; i < 10; i++) {
        char p[32];
        snprintf(p, sizeof p, "/q/%d", i);
        make_rec(&b[i], p, (uint64_t)(i % 7), 1);   /* 7..9 duplicate 0..2 */
        recs[i] = b[i].rec;
    }
    CHECK(store_commit(st, 10, recs, NULL) == 0);
    int calls = 0;
    uint64_t removed = 0;
    CHECK_MSG(store_prune(st, gone_even, &calls, &removed) == 0, "%s", status_message());
    CHECK(calls == 10 && removed == 5);
    store_counts c;
    store_counts_get(st, &c);
    CHECK(c.n_paths == 5);
    store_path_info pi;
    CHECK(store_lookup_path(st, "/q/4", &pi) == ST_NOT_FOUND && store_lookup_path(st, "/q/5", &pi) == 0);
    CHECK_MSG(store_verify(st) == 0, "%s", status_message());
    store_close(st);
    rmdir_all(dir);
}

TEST(model_mismatch_names_both) {
    char dir[64];
    tmpdir(dir, sizeof dir);
    store *st;
    CHECK(store_open(dir, STORE_CREATE, &st) == 0);
    CHECK(store_check_model(st, "openai/clip-vit-base-patch32", 512) == 0);
    CHECK(store_check_model(st, "openai/clip-vit-base-patch32", 512) == 0);
    int rc = store_check_model(st, "openai/clip-vit-large-patch14", 768);
    CHECK(rc == ST_MISMATCH);
    CHECK_MSG(strstr(status_message(), "clip-vit-base-patch32") && strstr(status_message(), "clip-vit-large-patch14"),
              "%s", status_message());
    CHECK(store_check_model(st, "openai/clip-vit-base-patch32", 768) == ST_MISMATCH);
    store_close(st);
    CHECK(store_open(dir, STORE_RDONLY, &st) == 0);
    CHECK(store_check_model(st, "other", 512) == ST_MISMATCH);
    char name[64];
    int dim;
    CHECK(store_get_model(st, name, sizeof name, &dim) == 0 && dim == 512 && strcmp(name, "openai/clip-vit-base-patch32") == 0);
    store_close(st);
    rmdir_all(dir);
}

/* A store of 4 vectors per image: the family and n_vec are recorded, each
 * value is 4 × DIM floats, and a CLIP model (1 vector) is refused by name. */
TEST(multivec_model_recorded) {
    char dir[64];
    tmpdir(dir, sizeof dir);
    store *st;
    CHECK(store_open(dir, STORE_CREATE, &st) == 0);
    if (!st) return;
    CHECK(store_check_model_vec(st, "blip2-tiny@00", "blip2", DIM, 4) == 0);
    CHECK(store_check_model_vec(st, "blip2-tiny@00", "blip2", DIM, 4) == 0);
    CHECK(store_check_model_vec(st, "blip2-tiny@00", "blip2", DIM, 32) == ST_MISMATCH);
    CHECK(store_check_model(st, "blip2-tiny@00", DIM) == ST_MISMATCH);
    CHECK_MSG(strstr(status_message(), "blip2") && strstr(status_message(), "4 vectors per image"), "%s", status_message());
    CHECK(store_check_model_vec(st, "x", "a-family-name-too-long", DIM, 4) == ST_ARG);
    rec_buf b;
    static float v4[4 * DIM], back[4 * DIM];
    for (int i = 0; i < 4 * DIM; i++) v4[i] = (float)i / 100.0f;
    make_rec(&b, "/m/a.jpg", 1, 5);
    b.rec.vector = v4;
    store_result r;
    CHECK(store_commit(st, 1, &b.rec, &r) == 0 && r.outcome == STORE_ADDED);
    CHECK(store_get_vector(st, r.id, back) == 0 && memcmp(back, v4, sizeof v4) == 0);
    CHECK_MSG(store_verify(st) == 0, "%s", status_message());
    store_close(st);
    CHECK(store_open(dir, STORE_RDONLY, &st) == 0);
    store_model m;
    CHECK(store_get_model_info(st, &m) == 0);
    CHECK(strcmp(m.identity, "blip2-tiny@00") == 0 && strcmp(m.family, "blip2") == 0 && m.dim == DIM && m.n_vec == 4);
    CHECK_MSG(store_verify(st) == 0, "%s", status_message());
    store_close(st);
    rmdir_all(dir);
}

/* A store written before families and n_vec were recorded (meta holds only
 * model and model_dim) reads as clip, one vector per image, and keeps working. */
TEST(old_store_reads_as_clip) {
    char dir[64];
    tmpdir(dir, sizeof dir);
    store *st = open_new(dir, 0);
    if (!st) return;
    rec_buf b;
    make_rec(&b, "/o/a.jpg", 1, 5);
    CHECK(store_commit(st, 1, &b.rec, NULL) == 0);
    store_close(st);
    /* remove what this version adds, as an older seer never wrote it */
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 16);
    CHECK(mdb_env_open(env, dir, 0, 0644) == 0);
    CHECK(mdb_txn_begin(env, NULL, 0, &txn) == 0);
    CHECK(mdb_dbi_open(txn, "meta", 0, &dbi) == 0);
    MDB_val k1 = {12, "model_family"}, k2 = {11, "model_n_vec"};
    CHECK(mdb_del(txn, dbi, &k1, NULL) == 0 && mdb_del(txn, dbi, &k2, NULL) == 0);
    CHECK(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
    CHECK(store_open(dir, STORE_WRITE, &st) == 0);
    if (!st) return;
    store_model m;
    CHECK(store_get_model_info(st, &m) == 0 && strcmp(m.family, "clip") == 0 && m.n_vec == 1 && m.dim == DIM);
    CHECK(store_check_model(st, "test-model", DIM) == 0);
    CHECK(store_check_model_vec(st, "test-model", "blip2", DIM, 32) == ST_MISMATCH);
    rec_buf c;
    make_rec(&c, "/o/b.jpg", 2, 5);
    store_result r;
    CHECK(store_commit(st, 1, &c.rec, &r) == 0);
    float v[DIM];
    CHECK(store_get_vector(st, r.id, v) == 0 && memcmp(v, c.vec, sizeof v) == 0);
    CHECK_MSG(store_verify(st) == 0, "%s", status_message());
    store_close(st);
    rmdir_all(dir);
}

static void set_schema(const char *dir, uint32_t ver) {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 16);
    CHECK(mdb_env_open(env, dir, 0, 0644) == 0);
    CHECK(mdb_txn_begin(env, NULL, 0, &txn) == 0);
    CHECK(mdb_dbi_open(txn, "meta", 0, &dbi) == 0);
    uint8_t v[4] = {(uint8_t)ver, (uint8_t)(ver >> 8), (uint8_t)(ver >> 16), (uint8_t)(ver >> 24)};
    MDB_val k = {14, "schema_version"}, d = {4, v};
    CHECK(mdb_put(txn, dbi, &k, &d, 0) == 0);
    CHECK(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
}

TEST(schema_version_refused) {
    char dir[64];
    tmpdir(dir, sizeof dir);
    store *st;
    CHECK(store_open(dir, STORE_CREATE, &st) == 0);
    store_close(st);
    set_schema(dir, 99);
    CHECK(store_open(dir, STORE_RDONLY, &st) == ST_UNSUPPORTED);
    CHECK_MSG(strstr(status_message(), "version 99") && strstr(status_message(), "newer"), "%s", status_message());
    CHECK(store_open(dir, STORE_WRITE, &st) == ST_UNSUPPORTED);
    set_schema(dir, 0);
    CHECK(store_open(dir, STORE_RDONLY, &st) == ST_UNSUPPORTED);
    CHECK_MSG(strstr(status_message(), "older"), "%s", status_message());
    set_schema(dir, STORE_SCHEMA_VERSION);
    CHECK(store_open(dir, STORE_RDONLY, &st) == 0);
    store_close(st);
    rmdir_all(dir);
}

TEST(second_writer_busy) {
    char dir[64];
    tmpdir(dir, sizeof dir);
    store *st;
    CHECK(store_open(dir, STORE_CREATE, &st) == 0);
    store_close(st);
    int up[2];
    CHECK(pipe(up) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        store *cs;
        if (store_open(dir, STORE_WRITE, &cs)) _exit(3);
        if (write(up[1], "r", 1) != 1) _exit(4);
        usleep(400 * 1000);          /* hold the writer lock for 0.4 s */
        store_close(cs);
        _exit(0);
    }
    char ch;
    CHECK(read(up[0], &ch, 1) == 1);
    int rc = store_open(dir, STORE_WRITE, &st);
    CHECK(rc == ST_BUSY);
    char want[32];
    snprintf(want, sizeof want, "pid %d", (int)pid);
    CHECK_MSG(strstr(status_message(), want) && strstr(status_message(), "being written"), "%s", status_message());
    CHECK(store_open(dir, STORE_CREATE, &st) == ST_BUSY);
    /* a reader is not blocked by the writer */
    CHECK_MSG(store_open(dir, STORE_RDONLY, &st) == 0, "%s", status_message());
    store_close(st);
    /* a waiting writer gets in once the first one leaves */
    rc = store_open(dir, STORE_WRITE | STORE_WAIT, &st);
    CHECK_MSG(rc == 0, "%s", status_message());
    store_close(st);
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(up[0]); close(up[1]);
    rmdir_all(dir);
}

/* The child of crash_safety: commit batches of 20 new contents + 5 duplicate
 * paths, forever, on a small map (so growth happens under the kill too). */
static int crash_nvec = 1;   /* vectors per image the crash child commits */

static void crash_child(const char *dir, int ready_fd) {
    store *st;
    if (store_open_with(dir, STORE_CREATE, 1 << 20, &st)) _exit(3);
    if (crash_nvec == 1 ? store_check_model(st, "test-model", DIM)
                        : store_check_model_vec(st, "test-blip2", "blip2", DIM, crash_nvec)) _exit(4);
    static float multi[25][8 * DIM];
    uint64_t gen;
    if (store_generation(st, &gen)) _exit(5);
    static rec_buf b[25];
    static uint8_t thumb[2000];
    store_record recs[25];
    for (uint64_t g = gen;; g++) {
        for (int i = 0; i < 25; i++) {
            char p[64];
            uint64_t content = g * 20 + (uint64_t)(i < 20 ? i : i - 20);
            snprintf(p, sizeof p, "/crash/%llu_%d.jpg", (unsigned long long)g, i);
            make_rec(&b[i], p, content, (int64_t)g);
            b[i].rec.thumb = thumb;
            b[i].rec.thumb_len = sizeof thumb;
            if (crash_nvec > 1) {   /* vector v of content c: make_vec(c * 8 + v) */
                for (int v = 0; v < crash_nvec; v++) make_vec(content * 8 + (uint64_t)v, multi[i] + v * DIM);
                b[i].rec.vector = multi[i];
            }
            recs[i] = b[i].rec;
        }
        if (store_commit(st, 25, recs, NULL)) _exit(6);
        if (ready_fd >= 0) {   /* one commit done: the parent may kill from now on */
            if (write(ready_fd, "c", 1) != 1) _exit(7);
            close(ready_fd);
            ready_fd = -1;
        }
    }
}

/* A store killed while being created: LMDB made data.mdb (meta pages, or
 * not even those), the transaction creating the tables never committed.
 * Opening it says so, and STORE_CREATE completes it. */
TEST(half_created_store) {
    for (int kind = 0; kind < 2; kind++) {
        char dir[64], f[128];
        tmpdir(dir, sizeof dir);
        if (kind == 0) {
            MDB_env *env;
            CHECK(mdb_env_create(&env) == 0);
            CHECK(mdb_env_open(env, dir, 0, 0644) == 0);   /* the environment, no table */
            mdb_env_close(env);
        } else {
            snprintf(f, sizeof f, "%s/data.mdb", dir);   /* killed inside mdb_env_open */
            FILE *fp = fopen(f, "w");
            CHECK(fp != NULL);
            if (fp) fclose(fp);
        }
        store *st = NULL;
        int rc = store_open(dir, STORE_RDONLY, &st);
        CHECK_MSG(rc == ST_NOT_FOUND && strstr(status_message(), "did not finish"), "kind %d: rc %d: %s", kind, rc,
                  status_message());
        rc = store_open(dir, STORE_WRITE, &st);
        CHECK_MSG(rc == ST_NOT_FOUND, "kind %d: rc %d: %s", kind, rc, status_message());
        rc = store_open(dir, STORE_CREATE, &st);
        CHECK_MSG(rc == 0, "kind %d: %s", kind, status_message());
        if (!rc) {
            CHECK(store_verify(st) == 0);
            store_close(st);
        }
        CHECK_MSG(store_open(dir, STORE_RDONLY, &st) == 0, "kind %d: %s", kind, status_message());
        store_close(st);
        rmdir_all(dir);
    }
}

/* Reader processes killed inside a read keep their LMDB reader slots; more
 * of them than there are slots must not lock everyone else out. */
TEST(dead_readers_cleared) {
    char dir[64];
    tmpdir(dir, sizeof dir);
    store *st;
    CHECK(store_open(dir, STORE_CREATE, &st) == 0);
    CHECK(store_check_model(st, "test-model", DIM) == 0);
    rec_buf b;
    make_rec(&b, "/r/one.jpg", 1, 1);
    CHECK(store_commit(st, 1, &b.rec, NULL) == 0);
    /* st stays open, so the lock file (and its reader table) persists */
    const int per_child = 100, children = STORE_MAX_READERS / per_child + 2;
    for (int i = 0; i < children; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            MDB_env *env;
            if (mdb_env_create(&env) || mdb_env_set_maxreaders(env, STORE_MAX_READERS) ||
                mdb_env_set_maxdbs(env, 16) || mdb_env_open(env, dir, MDB_RDONLY | MDB_NOTLS, 0644))
                _exit(3);
            for (int k = 0; k < per_child; k++) {
                MDB_txn *txn;
                if (mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) break;   /* full: stop taking slots */
            }
            kill(getpid(), SIGKILL);   /* dies holding its slots */
        }
        int status;
        waitpid(pid, &status, 0);
        CHECK(WIFSIGNALED(status));
    }
    store_counts c;
    int rc = store_counts_get(st, &c);
    CHECK_MSG(rc == 0 && c.n_images == 1, "rc %d: %s", rc, status_message());
    store *r2;
    rc = store_open(dir, STORE_RDONLY, &r2);
    CHECK_MSG(rc == 0, "%s", status_message());
    if (!rc) {
        CHECK(store_counts_get(r2, &c) == 0 && c.n_images == 1);
        store_close(r2);
    }
    store_close(st);
    rmdir_all(dir);
}

/* A full disk: the commit fails with "disk full" and the store keeps its
 * last committed state. Needs a small filesystem: a tmpfs mounted in a
 * private mount namespace (as root, or in a user namespace). */
TEST(disk_full_reported) {
    char dir[64];
    tmpdir(dir, sizeof dir);
    int up[2];
    CHECK(pipe(up) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(up[0]);
        if (unshare(CLONE_NEWNS) != 0 && unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) _exit(77);
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) _exit(77);
        if (mount("tmpfs", dir, "tmpfs", 0, "size=3m") != 0) _exit(77);
        char db[128];
        snprintf(db, sizeof db, "%s/db", dir);
        store *st;
        if (store_open_with(db, STORE_CREATE, 1 << 20, &st) || store_check_model(st, "test-model", DIM)) _exit(3);
        static uint8_t thumb[60000];
        for (size_t i = 0; i < sizeof thumb; i++) thumb[i] = (uint8_t)(i * 7919 >> 3);
        uint64_t committed = 0;
        int rc = 0;
        for (uint64_t g = 0; g < 200 && !rc; g++) {
            rec_buf rb[4];
            store_record recs[4];
            for (int i = 0; i < 4; i++) {
                char p[64];
                snprintf(p, sizeof p, "/full/%llu_%d.jpg", (unsigned long long)g, i);
                make_rec(&rb[i], p, g * 4 + (uint64_t)i, 1);
                rb[i].rec.thumb = thumb;
                rb[i].rec.thumb_len = sizeof thumb;
                recs[i] = rb[i].rec;
            }
            rc = store_commit(st, 4, recs, NULL);
            if (!rc) committed += 4;
        }
        char msg[600];
        snprintf(msg, sizeof msg, "%d %llu %s", rc, (unsigned long long)committed, rc ? status_message() : "");
        store_close(st);
        int v = 9;
        store_counts c = {0};
        if (!store_open(db, STORE_RDONLY, &st)) {
            v = store_verify(st) == 0 && store_counts_get(st, &c) == 0 && c.n_images == committed ? 0 : 8;
            store_close(st);
        }
        if (write(up[1], msg, strlen(msg)) < 0) _exit(4);
        _exit(v);
    }
    close(up[1]);
    char msg[600] = "";
    ssize_t n = read(up[0], msg, sizeof msg - 1);
    msg[n > 0 ? n : 0] = 0;
    close(up[0]);
    int status;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
        printf("  skipped: no private mount namespace here to make a small filesystem\n");
    } else {
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d (%s)", status, msg);
        int rc = atoi(msg);
        CHECK_MSG(rc == ST_IO && strstr(msg, "disk full"), "%s", msg);
    }
    rmdir_all(dir);
}

/* Kill -9 a writer in the middle of its commits, four times. The kill comes
 * 0-250 ms after the child reports its first commit in this round, so each
 * round tests a kill during commits (not one before the store exists, which
 * half_created_store tests on its own). */
static void crash_rounds(int rounds);

TEST(crash_safety_kill9) { crash_nvec = 1; crash_rounds(4); }

/* The same with 8 vectors per image (BLIP-2-like values of 8 × DIM floats):
 * every committed image keeps all of its vectors, in order. */
TEST(crash_safety_kill9_multivec) { crash_nvec = 8; crash_rounds(2); crash_nvec = 1; }

static int check_multi(uint64_t id, const float *vec, void *ctx) {
    (void)id;
    int *bad = ctx;
    /* content of id: ids are allocated in commit order, 20 new contents per batch */
    float want[DIM];
    for (int v = 0; v < 8; v++) {
        make_vec((id - 1) * 8 + (uint64_t)v, want);
        if (memcmp(want, vec + v * DIM, sizeof want) != 0) { (*bad)++; break; }
    }
    return 0;
}

static void crash_rounds(int rounds) {
    char dir[64];
    tmpdir(dir, sizeof dir);
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    uint64_t last_gen = 0;
    for (int round = 0; round < rounds; round++) {
        int up[2];
        CHECK(pipe(up) == 0);
        pid_t pid = fork();
        if (pid == 0) {
            close(up[0]);
            crash_child(dir, up[1]);
        }
        close(up[1]);
        char ch;
        CHECK_MSG(read(up[0], &ch, 1) == 1, "round %d: the child died before its first commit", round);
        close(up[0]);
        usleep((useconds_t)(rand() % 250000));
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        CHECK_MSG(WIFSIGNALED(status), "child exited with %d before the kill", WEXITSTATUS(status));
        store *st;
        int rc = store_open(dir, STORE_WRITE, &st);      /* the lock died with the child */
        CHECK_MSG(rc == 0, "%s", status_message());
        if (rc) break;
        CHECK_MSG(store_verify(st) == 0, "round %d: %s", round, status_message());
        store_counts c;
        CHECK(store_counts_get(st, &c) == 0);
        CHECK_MSG(c.n_images == 20 * c.generation && c.n_paths == 25 * c.generation && c.n_vectors == c.n_images,
                  "round %d: gen %llu images %llu paths %llu", round, (unsigned long long)c.generation,
                  (unsigned long long)c.n_images, (unsigned long long)c.n_paths);
        CHECK(c.generation >= last_gen);
        CHECK(c.next_id == c.n_images + 1);
        if (crash_nvec > 1) {
            store_model m;
            CHECK(store_get_model_info(st, &m) == 0 && m.n_vec == crash_nvec && strcmp(m.family, "blip2") == 0);
            int bad = 0, dim = 0;
            CHECK(store_foreach_vector(st, 0, check_multi, &bad, NULL, &dim) == 0 && dim == DIM);
            CHECK_MSG(bad == 0, "round %d: %d images with wrong vectors", round, bad);
        }
        printf("  round %d: killed at generation %llu (%llu images, map %llu MiB)\n", round,
               (unsigned long long)c.generation, (unsigned long long)c.n_images, (unsigned long long)(c.map_bytes >> 20));
        last_gen = c.generation;
        store_close(st);
    }
    CHECK(last_gen > 0);
    rmdir_all(dir);
}

/* The raw value of images[id] (LMDB directly), copied into buf; its length. */
static size_t raw_image(const char *dir, uint64_t id, uint8_t *buf, size_t cap) {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    size_t n = 0;
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 16);
    if (mdb_env_open(env, dir, MDB_RDONLY, 0644) == 0 && mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0) {
        uint8_t kb[8];
        for (int i = 0; i < 8; i++) kb[i] = (uint8_t)(id >> (56 - 8 * i));
        MDB_val k = {8, kb}, d;
        if (mdb_dbi_open(txn, "images", 0, &dbi) == 0 && mdb_get(txn, dbi, &k, &d) == 0 && d.mv_size <= cap) {
            memcpy(buf, d.mv_data, d.mv_size);
            n = d.mv_size;
        }
        mdb_txn_abort(txn);
    }
    mdb_env_close(env);
    return n;
}

static uint32_t raw_schema(const char *dir) {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    uint32_t v = 0;
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 16);
    if (mdb_env_open(env, dir, MDB_RDONLY, 0644) == 0 && mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0) {
        MDB_val k = {14, "schema_version"}, d;
        if (mdb_dbi_open(txn, "meta", 0, &dbi) == 0 && mdb_get(txn, dbi, &k, &d) == 0 && d.mv_size == 4) {
            const uint8_t *p = d.mv_data;
            v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        }
        mdb_txn_abort(txn);
    }
    mdb_env_close(env);
    return v;
}

TEST(photo_metadata_round_trip) {
    char dir[64];
    tmpdir(dir, sizeof dir);
    store *st = open_new(dir, 0);
    if (!st) return;
    rec_buf a, b;
    make_rec(&a, "/photos/exif.heic", 1, 1000);
    a.rec.format = "heic";
    a.rec.taken_source = IMAGE_TAKEN_EXIF;
    a.rec.taken_ns = 1700000000LL * 1000000000LL;
    a.rec.taken_offset_min = -300;
    snprintf(a.rec.taken, sizeof a.rec.taken, "2023-11-14T17:13:20");
    snprintf(a.rec.make, sizeof a.rec.make, "Apple");
    snprintf(a.rec.model, sizeof a.rec.model, "iPhone 12 mini");
    a.rec.has_gps = 1;
    a.rec.gps_lat = 48.858222;
    a.rec.gps_lon = -2.2945;
    make_rec(&b, "/photos/plain.png", 2, 2000);   /* metadata left zeroed */
    store_record recs[2] = {a.rec, b.rec};
    store_result res[2];
    CHECK_MSG(store_commit(st, 2, recs, res) == 0, "%s", status_message());
    store_image im;
    CHECK(store_get_image(st, res[0].id, &im) == 0);
    CHECK(im.taken_source == IMAGE_TAKEN_EXIF && im.taken_ns == a.rec.taken_ns && im.taken_offset_min == -300);
    CHECK(!strcmp(im.taken, "2023-11-14T17:13:20") && !strcmp(im.make, "Apple") && !strcmp(im.model, "iPhone 12 mini"));
    CHECK(im.has_gps && im.gps_lat == 48.858222 && im.gps_lon == -2.2945 && !im.meta_stale);
    CHECK(!strcmp(im.format, "heic") && im.width == 640 && im.height == 480);
    CHECK(store_get_image(st, res[1].id, &im) == 0);
    CHECK(im.taken_source == IMAGE_TAKEN_NONE && im.taken_ns == STORE_TAKEN_NONE &&
          im.taken_offset_min == IMAGE_OFFSET_UNKNOWN && im.taken[0] == 0);
    CHECK(im.make[0] == 0 && im.model[0] == 0 && !im.has_gps && !im.meta_stale);

    /* the same bytes touched, now with metadata: TOUCHED updates them */
    rec_buf b2;
    make_rec(&b2, "/photos/plain.png", 2, 2500);
    b2.rec.vector = NULL;
    b2.rec.taken_source = IMAGE_TAKEN_MTIME;
    store_taken_from_mtime(2500, &b2.rec.taken_ns, &b2.rec.taken_offset_min, b2.rec.taken);
    store_result r;
    CHECK(store_commit(st, 1, &b2.rec, &r) == 0 && r.outcome == STORE_TOUCHED && r.id == res[1].id);
    CHECK(store_get_image(st, r.id, &im) == 0 && im.taken_source == IMAGE_TAKEN_MTIME && im.taken_ns == 2500 &&
          strlen(im.taken) == 19 && im.mtime_ns == 2500);
    store_close(st);

    /* the encoding: version 2, every prefix shorter than its fixed part and
     * strings refused; the whole value decodes as store_get_image does */
    uint8_t raw[1024];
    size_t n = raw_image(dir, res[0].id, raw, sizeof raw);
    CHECK(n > 104 && raw[0] == 2);
    store_image d;
    CHECK(store_image_decode(res[0].id, raw, n, &d) == 0 && !strcmp(d.make, "Apple") && !strcmp(d.path, "/photos/exif.heic"));
    size_t fixed = 104 + 4 + 5 + 14;   /* "heic", "Apple", "iPhone 12 mini" */
    for (size_t cut = 0; cut < fixed; cut++) CHECK_MSG(store_image_decode(1, raw, cut, &d) == ST_FORMAT, "prefix %zu", cut);
    raw[66] = 3;   /* taken_source out of range */
    CHECK(store_image_decode(1, raw, n, &d) == ST_FORMAT);
    raw[66] = 1; raw[2] = 200;   /* make length past the end */
    CHECK(store_image_decode(1, raw, n, &d) == ST_FORMAT);
    raw[0] = 3;
    CHECK(store_image_decode(1, raw, n, &d) == ST_FORMAT);
    rmdir_all(dir);
}

TEST(roots_recorded_once) {
    char dir[64];
    tmpdir(dir, sizeof dir);
    store *st = open_new(dir, 0);
    if (!st) return;
    store_roots r;
    CHECK(store_roots_list(st, &r) == 0 && r.n == 0);
    store_roots_release(&r);
    CHECK(store_roots_add(st, "/home/a/Pictures") == 0);
    CHECK(store_roots_add(st, "/mnt/photos") == 0);
    CHECK(store_roots_add(st, "/home/a/Pictures") == 0);
    CHECK(store_roots_add(st, "") == ST_ARG);
    uint64_t gen;
    CHECK(store_generation(st, &gen) == 0 && gen == 0);
    CHECK(store_roots_list(st, &r) == 0 && r.n == 2);
    if (r.n == 2) CHECK(!strcmp(r.v[0], "/home/a/Pictures") && !strcmp(r.v[1], "/mnt/photos"));
    store_roots_release(&r);
    store_close(st);
    CHECK(store_open(dir, STORE_RDONLY, &st) == 0);
    CHECK(store_roots_add(st, "/x") == ST_ARG);
    CHECK(store_roots_list(st, &r) == 0 && r.n == 2);
    store_roots_release(&r);
    store_close(st);
    rmdir_all(dir);
}

/* Everything a store holds, for comparing two views of one db. */
typedef struct {
    store_counts c;
    store_image im[8];
    float vec[8][64];
    uint8_t *thumb[8];
    size_t thumb_len[8];
    char paths[8][STORE_PATH_MAX];
    uint64_t path_id[8];
    size_t n_paths, n_fb;
    char fb[4][256];
    char model[STORE_MODEL_MAX], model_path[4096];
    int dim;
} snapshot;

static int snap_path(const char *path, uint64_t id, void *ctx) {
    snapshot *s = ctx;
    if (s->n_paths < 8) { snprintf(s->paths[s->n_paths], STORE_PATH_MAX, "%s", path); s->path_id[s->n_paths] = id; }
    s->n_paths++;
    return 0;
}

static int snap_fb(uint64_t t, const char *json, size_t len, void *ctx) {
    (void)t; (void)len;
    snapshot *s = ctx;
    if (s->n_fb < 4) snprintf(s->fb[s->n_fb], 256, "%s", json);
    s->n_fb++;
    return 0;
}

static void snap_take(store *st, snapshot *s) {
    memset(s, 0, sizeof *s);
    CHECK(store_counts_get(st, &s->c) == 0);
    CHECK(store_get_model(st, s->model, sizeof s->model, &s->dim) == 0);
    CHECK(store_get_model_path(st, s->model_path, sizeof s->model_path) == 0);
    for (uint64_t id = 1; id < s->c.next_id && id <= 8; id++) {
        CHECK_MSG(store_get_image(st, id, &s->im[id - 1]) == 0, "%s", status_message());
        CHECK(s->dim == 64 && store_get_vector(st, id, s->vec[id - 1]) == 0);
        CHECK(store_get_thumb(st, id, &s->thumb[id - 1], &s->thumb_len[id - 1]) == 0);
    }
    CHECK(store_foreach_path(st, snap_path, s) == 0);
    CHECK(store_feedback_list(st, snap_fb, s) == 0);
}

static void snap_free(snapshot *s) { for (int i = 0; i < 8; i++) free(s->thumb[i]); }

/* tests/data/store_v1: a version 1 store written by seer 89cba09 (before
 * schema 2; tests/data/store_v1/README.md says how). Readers read it as is;
 * the first writer migrates it in its opening transaction, keeping every
 * image, path, vector, thumbnail, feedback record and the index blob. */
TEST(migrates_v1_store) {
    const char *src = getenv("SEER_SOURCE");
    char fixture[1024], dir[64], cmd[1400];
    snprintf(fixture, sizeof fixture, "%s/tests/data/store_v1/data.mdb", src ? src : ".");
    struct stat sb;
    CHECK_MSG(stat(fixture, &sb) == 0, "%s is missing", fixture);
    if (stat(fixture, &sb)) return;
    tmpdir(dir, sizeof dir);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s/data.mdb' && chmod u+w '%s/data.mdb'", fixture, dir, dir);
    CHECK(system(cmd) == 0);
    CHECK(raw_schema(dir) == 1);

    /* read-only: version 1 records read with the defaults, nothing written */
    store *st;
    CHECK_MSG(store_open(dir, STORE_RDONLY, &st) == 0, "%s", status_message());
    if (!st) return;
    snapshot before;
    snap_take(st, &before);
    store_roots roots;
    CHECK(store_roots_list(st, &roots) == 0 && roots.n == 0);
    store_roots_release(&roots);
    store_close(st);
    CHECK(raw_schema(dir) == 1);
    CHECK(before.c.n_images == 3 && before.c.n_paths == 4 && before.c.n_vectors == 3 && before.c.n_thumbs == 3 &&
          before.c.n_feedback == 1 && before.c.generation == 1 && before.c.next_id == 4);
    CHECK(!strncmp(before.model, "clip@", 5) && before.dim == 64);
    CHECK(before.n_fb == 1 && strstr(before.fb[0], "\"answer\":\"a cat\""));
    /* the stored contents are the bundled samples' bytes */
    static const char *names[4] = {"cat-test0100-256px.jpg", "dog-test0100-256px.jpg",
                                   "horse-and-ship-test0101-512x256.jpg", "sub/dog-copy.jpg"};
    CHECK(before.n_paths == 4);
    for (size_t i = 0; i < before.n_paths && i < 4; i++) {
        CHECK_MSG(strstr(before.paths[i], names[i]) != NULL, "%s", before.paths[i]);
        const char *sample = i == 3 ? "dog-test0100-256px.jpg" : names[i];
        char sp[1200];
        snprintf(sp, sizeof sp, "%s/samples/larger/%s", src ? src : ".", sample);
        FILE *f = fopen(sp, "rb");
        CHECK_MSG(f != NULL, "%s", sp);
        if (!f) continue;
        static uint8_t bytes[1 << 20];
        size_t n = fread(bytes, 1, sizeof bytes, f);
        fclose(f);
        uint8_t h[16];
        store_hash_bytes(bytes, n, h);
        uint64_t id = before.path_id[i];
        CHECK(id >= 1 && id <= 3 && !memcmp(before.im[id - 1].hash, h, 16) && before.im[id - 1].size == n);
    }
    for (int i = 0; i < 3; i++) {
        const store_image *m = &before.im[i];
        CHECK(m->id == (uint64_t)i + 1 && !strcmp(m->format, "jpeg") && m->width >= 256 && m->height == 256);
        CHECK(m->taken_source == IMAGE_TAKEN_MTIME && m->taken_ns == m->mtime_ns && strlen(m->taken) == 19 &&
              m->taken_offset_min != IMAGE_OFFSET_UNKNOWN);
        CHECK(m->make[0] == 0 && m->model[0] == 0 && !m->has_gps && m->meta_stale == 1);
        CHECK(before.thumb_len[i] > 100 && before.thumb[i][0] == 0xff && before.thumb[i][1] == 0xd8);
    }
    for (int i = 0; i < 3; i++)   /* the dog is stored once, under two paths */
        CHECK(before.im[i].n_paths == (strstr(before.im[i].path, "/dog-test0100") ? 2u : 1u));

    /* a writer migrates: the same everything, now version 2 records */
    CHECK_MSG(store_open(dir, STORE_WRITE, &st) == 0, "%s", status_message());
    if (!st) return;
    CHECK(raw_schema(dir) == 2);
    CHECK_MSG(store_verify(st) == 0, "%s", status_message());
    snapshot after;
    snap_take(st, &after);
    CHECK(before.c.n_images == after.c.n_images && before.c.n_paths == after.c.n_paths &&
          before.c.n_vectors == after.c.n_vectors && before.c.generation == after.c.generation &&
          before.c.next_id == after.c.next_id && before.c.n_feedback == after.c.n_feedback &&
          before.c.n_thumbs == after.c.n_thumbs);
    CHECK(!strcmp(before.model, after.model) && !strcmp(before.model_path, after.model_path));
    CHECK(after.n_paths == before.n_paths && after.n_fb == 1 && !strcmp(after.fb[0], before.fb[0]));
    for (size_t i = 0; i < 4; i++) CHECK(!strcmp(before.paths[i], after.paths[i]) && before.path_id[i] == after.path_id[i]);
    for (int i = 0; i < 3; i++) {
        CHECK_MSG(!memcmp(&before.im[i], &after.im[i], sizeof before.im[i]), "image %d differs after migration", i + 1);
        CHECK(!memcmp(before.vec[i], after.vec[i], sizeof before.vec[i]));
        CHECK(before.thumb_len[i] == after.thumb_len[i] && !memcmp(before.thumb[i], after.thumb[i], before.thumb_len[i]));
        uint8_t raw[1024];
        CHECK(raw_image(dir, (uint64_t)i + 1, raw, sizeof raw) > 104 && raw[0] == 2);
    }
    void *blob = NULL;
    size_t blen = 0;
    CHECK(store_index_get(st, "hnsw", &blob, &blen) == 0 && blen > 48 && !memcmp(blob, "SVIX", 4));
    free(blob);

    /* the next ingest of a stale record reads the file's metadata: the
     * touched commit clears meta_stale; new content commits as usual */
    store_record t = {.path = after.im[0].path, .size = after.im[0].size, .mtime_ns = after.im[0].mtime_ns + 1,
                      .format = "jpeg", .taken_source = IMAGE_TAKEN_EXIF, .taken_ns = 0,
                      .taken_offset_min = IMAGE_OFFSET_UNKNOWN, .taken = "1970-01-01T00:00:00", .make = "Canon"};
    memcpy(t.hash, after.im[0].hash, 16);
    store_result r;
    CHECK_MSG(store_commit(st, 1, &t, &r) == 0 && r.outcome == STORE_TOUCHED && r.id == 1, "%s", status_message());
    store_image im;
    CHECK(store_get_image(st, 1, &im) == 0 && !im.meta_stale && !strcmp(im.make, "Canon") && im.taken_ns == 0);
    CHECK(store_get_image(st, 3, &im) == 0 && im.meta_stale);
    rec_buf nb;
    make_rec(&nb, "/photos/new.jpg", 77, 5);
    float v64[64] = {1};
    nb.rec.vector = v64;
    CHECK_MSG(store_commit(st, 1, &nb.rec, &r) == 0 && r.outcome == STORE_ADDED && r.id == 4, "%s", status_message());
    CHECK_MSG(store_verify(st) == 0, "%s", status_message());
    store_close(st);
    /* a second writer open finds nothing to migrate */
    CHECK(store_open(dir, STORE_WRITE, &st) == 0);
    CHECK(store_get_image(st, 1, &im) == 0 && !strcmp(im.make, "Canon"));
    store_close(st);
    snap_free(&before);
    snap_free(&after);
    rmdir_all(dir);
}

int main(void) {
    RUN(commit_and_read_back);
    RUN(map_grows);
    RUN(duplicates_stored_once);
    RUN(changed_file_replaced);
    RUN(prune);
    RUN(model_mismatch_names_both);
    RUN(schema_version_refused);
    RUN(second_writer_busy);
    RUN(crash_safety_kill9);
    RUN(crash_safety_kill9_multivec);
    RUN(multivec_model_recorded);
    RUN(old_store_reads_as_clip);
    RUN(half_created_store);
    RUN(dead_readers_cleared);
    RUN(disk_full_reported);
    RUN(photo_metadata_round_trip);
    RUN(roots_recorded_once);
    RUN(migrates_v1_store);
    return test_summary();
}
