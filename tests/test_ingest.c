/* tests/test_ingest.c — the ingest guarantees on the bundled samples/ with
 * the demo CLIP (models/demo/clip), and, when ../shared is present, also on
 * its photos (coco-mini, flickr8k-1000) with its fixture CLIP:
 *   samples/cifar10 gives 300 images (coco-mini 239) and a second run adds
 *   0; a copied file is a duplicate; a touched file is unchanged (its
 *   bytes are compared, nothing is embedded), a modified one re-embedded
 *   (updated); a deleted file is pruned; a corrupt file is reported and
 *   skipped while the rest goes in; kill -9 in the middle of an ingest (at a
 *   random point of a clean run's duration), then a re-run, ends with exactly
 *   the clean run's images and vectors; search equals a brute-force ranking
 *   of the stored vectors; another model is refused; a path too long for
 *   the store skips only its file; --prune on a root left empty is refused;
 *   a library of every format (tests/data/formats) gets one status per file
 *   and its metadata stored; a schema 1 store (tests/data/store_v1) is
 *   migrated and its metadata read by the next ingest. */
#include "test.h"

#include "ingest.h"
#include "status.h"
#include "store.h"
#include "vindex.h"

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tmp[256];
static embedder *emb; /* the model of the current run */

static int run_ingest(const char *db, const char *root, int prune, ingest_stats *s) {
    store *st;
    int rc = store_open(db, STORE_CREATE, &st);
    if (rc) return rc;
    rc = store_check_model(st, emb->identity, emb->dim);
    ingest_opts o;
    ingest_opts_default(&o);
    o.roots = (const char *[]){root};
    o.n_roots = 1;
    o.prune = prune;
    if (!rc) rc = ingest_run(st, emb, &o, s);
    store_close(st);
    return rc;
}

static void sh(const char *fmt, const char *a, const char *b) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, fmt, a, b);
    if (system(cmd) != 0) printf("  command failed: %s\n", cmd);
}

/* root holds n images: ingested into tmp/<name>.db, then again (nothing new). */
static void incremental(const char *name, const char *root, unsigned long long n_images) {
    char db[300];
    snprintf(db, sizeof db, "%s/%s.db", tmp, name);
    ingest_stats s;
    CHECK_MSG(run_ingest(db, root, 0, &s) == 0, "%s", status_message());
    CHECK_MSG(s.added == n_images && s.failed == 0, "added %llu failed %llu", (unsigned long long)s.added,
              (unsigned long long)s.failed);
    CHECK(run_ingest(db, root, 0, &s) == 0);
    CHECK(s.added == 0 && s.unchanged == n_images);
    store *st;
    CHECK(store_open(db, STORE_RDONLY, &st) == 0);
    store_counts c;
    CHECK(store_counts_get(st, &c) == 0 && c.n_images == n_images);
    CHECK(store_verify(st) == 0);
    /* Exact search equals a brute-force ranking of the stored vectors. */
    vindex_params p;
    vindex_params_default(&p);
    vindex *vi;
    CHECK(vindex_load(st, &p, &vi, NULL) == 0);
    float q[64];
    CHECK(embedder_text(emb, "a dog sitting on a couch", q) == 0);
    vindex_hit hits[15];
    int n = 0;
    CHECK(vindex_search(vi, q, 15, hits, &n) == 0 && n == 15);
    for (int i = 0; i < n; i++) {
        float v[64];
        CHECK(store_get_vector(st, hits[i].id, v) == 0);
        double d = 0;
        for (int k = 0; k < emb->dim; k++) d += (double)v[k] * q[k];
        CHECK_NEAR(d, hits[i].score, 1e-5);
        if (i) CHECK(hits[i].score <= hits[i - 1].score);
    }
    /* Nothing unreturned scores above the last hit. */
    int above = 0;
    for (uint64_t id = 1; id < c.next_id; id++) {
        float v[64];
        if (store_get_vector(st, id, v)) continue;
        double d = 0;
        for (int k = 0; k < emb->dim; k++) d += (double)v[k] * q[k];
        int returned = 0;
        for (int i = 0; i < n; i++) returned |= hits[i].id == id;
        if (!returned && d > hits[n - 1].score + 1e-6) above++;
    }
    CHECK(above == 0);
    vindex_free(vi);
    store_close(st);
}

/* 12 photos of src (a folder of at least 12 .jpg), then changes; other: a
 * path or glob whose first match, a .jpg of other content, replaces one. */
static void changes(const char *name, const char *src, const char *other) {
    char dir[300], db[300], a[400], b[400];
    snprintf(dir, sizeof dir, "%s/%s-photos", tmp, name);
    snprintf(db, sizeof db, "%s/%s-photos.db", tmp, name);
    sh("mkdir -p %s%s", dir, "");
    sh("cp $(ls -d %s/*.jpg | head -12) %s/", src, dir);
    ingest_stats s;
    CHECK(run_ingest(db, dir, 0, &s) == 0);
    CHECK(s.added == 12);
    /* a copy is a duplicate; a corrupt file is reported and skipped */
    DIR *d = opendir(dir);
    struct dirent *de;
    char first[256] = "";
    while (d && (de = readdir(d)))
        if (strstr(de->d_name, ".jpg") && (!first[0] || strcmp(de->d_name, first) < 0)) snprintf(first, sizeof first, "%s", de->d_name);
    if (d) closedir(d);
    snprintf(a, sizeof a, "%s/%s", dir, first);
    snprintf(b, sizeof b, "%s/copy.jpg", dir);
    sh("cp %s %s", a, b);
    sh("head -c 3000 %s > %s/corrupt.jpg", a, dir);
    sh("mkdir -p %s/.hidden%s", dir, "");
    snprintf(b, sizeof b, "%s/.hidden", dir);
    sh("cp %s %s/", a, b);
    snprintf(b, sizeof b, "%s/copy.jpg", dir);
    sh("touch -d '2001-01-01' %s%s", a, ""); /* touched: same bytes, new mtime */
    CHECK(run_ingest(db, dir, 0, &s) == 0);
    CHECK_MSG(s.duplicates == 1, "duplicates %llu", (unsigned long long)s.duplicates);
    CHECK_MSG(s.failed == 1, "failed %llu", (unsigned long long)s.failed);
    CHECK_MSG(s.updated == 0 && s.unchanged == 12 && s.added == 0, "updated %llu unchanged %llu",
              (unsigned long long)s.updated, (unsigned long long)s.unchanged);
    CHECK(s.total == 14 && s.added + s.updated + s.unchanged + s.duplicates + s.failed + s.skipped == s.total);
    CHECK(s.hidden >= 1);
    store *st;
    CHECK(store_open(db, STORE_RDONLY, &st) == 0);
    store_counts c;
    CHECK(store_counts_get(st, &c) == 0);
    CHECK_MSG(c.n_images == 12 && c.n_paths == 13, "images %llu paths %llu", (unsigned long long)c.n_images,
              (unsigned long long)c.n_paths);
    store_close(st);
    /* a modified file is re-embedded (new content: a new vector) */
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cp \"$(ls -d %s | head -1)\" %s", other, b);
    CHECK(system(cmd) == 0);
    CHECK(run_ingest(db, dir, 0, &s) == 0);
    CHECK_MSG(s.updated == 1, "updated %llu", (unsigned long long)s.updated);
    /* deleted files are pruned */
    sh("rm -f %s %s", b, a);
    CHECK(run_ingest(db, dir, 1, &s) == 0);
    CHECK_MSG(s.pruned == 2, "pruned %llu", (unsigned long long)s.pruned);
    CHECK(store_open(db, STORE_RDONLY, &st) == 0);
    CHECK(store_counts_get(st, &c) == 0);
    CHECK_MSG(c.n_images == 11 && c.n_paths == 11, "images %llu paths %llu", (unsigned long long)c.n_images,
              (unsigned long long)c.n_paths);
    CHECK(store_verify(st) == 0);
    store_close(st);
}

/* path → vector, for comparing two stores */
typedef struct {
    store *st;
    store *other;
    int dim, mismatches, compared;
} cmp_ctx;

static int cmp_path(const char *path, uint64_t id, void *ctx) {
    cmp_ctx *c = ctx;
    store_path_info pi;
    float a[64], b[64];
    if (store_lookup_path(c->other, path, &pi) || store_get_vector(c->st, id, a) || store_get_vector(c->other, pi.id, b)) {
        c->mismatches++;
        return 0;
    }
    c->compared++;
    /* OpenBLAS's blocking makes the last bits of a row depend on its position
     * in the batch (measured: at most 3.6e-7 on these models), and a resumed
     * run batches differently: equal means equal to float32 rounding. */
    for (int k = 0; k < c->dim; k++)
        if (fabsf(a[k] - b[k]) > 2e-6f) {
            c->mismatches++;
            break;
        }
    return 0;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* root holds n images: a clean run, then two runs killed at a random point of
 * the clean run's duration, then a re-run: equal stores. */
static void kill9_resume(const char *name, const char *root, unsigned long long n) {
    char clean[300], killed[300];
    snprintf(clean, sizeof clean, "%s/%s-clean.db", tmp, name);
    snprintf(killed, sizeof killed, "%s/%s-killed.db", tmp, name);
    ingest_stats s;
    double t0 = now_s();
    CHECK(run_ingest(clean, root, 0, &s) == 0);
    CHECK(s.added == n);
    const double clean_s = now_s() - t0;
    srand((unsigned)time(NULL));
    for (int round = 0; round < 2; round++) {
        pid_t pid = fork();
        if (pid == 0) {
            ingest_stats cs;
            _exit(run_ingest(killed, root, 0, &cs) ? 1 : 0);
        }
        const double at = clean_s * (0.1 + 0.8 * (rand() / (double)RAND_MAX));
        printf("  %s: kill -9 after %.3f s of a %.3f s clean run\n", name, at, clean_s);
        usleep((useconds_t)(at * 1e6));
        kill(pid, SIGKILL);
        int wst;
        waitpid(pid, &wst, 0);
    }
    CHECK(run_ingest(killed, root, 0, &s) == 0);
    store *a, *b;
    CHECK(store_open(clean, STORE_RDONLY, &a) == 0);
    CHECK(store_open(killed, STORE_RDONLY, &b) == 0);
    store_counts ca, cb;
    CHECK(store_counts_get(a, &ca) == 0 && store_counts_get(b, &cb) == 0);
    CHECK_MSG(cb.n_images == n && cb.n_paths == n, "after kill -9 + re-run: %llu images, %llu paths",
              (unsigned long long)cb.n_images, (unsigned long long)cb.n_paths);
    CHECK(store_verify(b) == 0);
    cmp_ctx c = {b, a, emb->dim, 0, 0};
    CHECK(store_foreach_path(b, cmp_path, &c) == 0);
    CHECK_MSG(c.compared == (int)n && c.mismatches == 0, "compared %d, mismatches %d", c.compared, c.mismatches);
    store_close(a);
    store_close(b);
}

/* the store tmp/<name>.db (made with emb) refuses the model of model2 */
static void model_mismatch_refused(const char *name, const char *model2) {
    char db[300];
    snprintf(db, sizeof db, "%s/%s.db", tmp, name);
    embedder *other;
    CHECK(embedder_load(model2, EMBED_IMAGE, &other) == 0);
    store *st;
    CHECK(store_open(db, STORE_WRITE, &st) == 0);
    int rc = store_check_model(st, other->identity, other->dim);
    CHECK(rc == ST_MISMATCH);
    CHECK(strstr(status_message(), emb->identity) && strstr(status_message(), other->identity));
    store_close(st);
    embedder_free(other);
}

static int open_model(const char *dir) {
    if (embedder_load(dir, EMBED_IMAGE | EMBED_TEXT, &emb)) {
        printf("cannot open %s: %s\n", dir, status_message());
        return 1;
    }
    return 0;
}

static char src_dir[4096], path1[4300], path2[4300], path3[4300];

TEST(samples_incremental) {
    snprintf(path1, sizeof path1, "%s/samples/cifar10", src_dir);
    incremental("samples", path1, 300);
}

TEST(samples_changes_duplicates_prune_corrupt) {
    snprintf(path1, sizeof path1, "%s/samples/larger", src_dir);
    snprintf(path2, sizeof path2, "%s/samples/cifar10/cat/0000.jpg", src_dir);
    changes("samples", path1, path2);
}

TEST(samples_kill9_resume) {
    snprintf(path1, sizeof path1, "%s/samples/cifar10", src_dir);
    kill9_resume("samples", path1, 300);
}

/* another model: a copy of the demo CLIP under another name */
TEST(samples_model_mismatch_refused) {
    snprintf(path3, sizeof path3, "%s/demo-clip-copy", tmp);
    snprintf(path1, sizeof path1, "cp -r '%.2000s/models/demo/clip' %.2000s", src_dir, path3);
    CHECK(system(path1) == 0);
    model_mismatch_refused("samples", path3);
}

static void shared_checks(const char *shared) {
    char model[600], model2[600], root[600], other[1200];
    snprintf(model, sizeof model, "%s/fixtures/clip/clip-tiny-b32", shared);
    snprintf(model2, sizeof model2, "%s/fixtures/clip/clip-tiny-b32-f16", shared);
    if (open_model(model)) {
        CHECK(0);
        return;
    }
    snprintf(root, sizeof root, "%s/data/coco-mini", shared);
    incremental("coco", root, 239);
    snprintf(root, sizeof root, "%s/data/coco-mini/val2017", shared);
    snprintf(other, sizeof other, "%s/data/coco-mini/train2017/*.jpg", shared);
    changes("coco", root, other);
    snprintf(root, sizeof root, "%s/data/flickr8k-1000", shared);
    kill9_resume("flickr", root, 1000);
    model_mismatch_refused("coco", model2);
    embedder_free(emb);
    emb = NULL;
}

TEST(shared_photos) {
    const char *shared = test_shared_opt();
    if (shared) shared_checks(shared);
}

/* ---- with the repository's demo model and samples (no ../shared needed) */


static int demo_ingest(const char *db, const char *root, int prune, int prune_empty, ingest_stats *s) {
    store *st;
    int rc = store_open(db, STORE_CREATE, &st);
    if (rc) return rc;
    rc = store_check_model(st, emb->identity, emb->dim);
    ingest_opts o;
    ingest_opts_default(&o);
    o.roots = (const char *[]){root};
    o.n_roots = 1;
    o.prune = prune;
    o.prune_empty = prune_empty;
    if (!rc) rc = ingest_run(st, emb, &o, s);
    store_close(st);
    return rc;
}

static uint64_t stored_paths(const char *db) {
    store *st;
    store_counts c = {0};
    if (store_open(db, STORE_RDONLY, &st)) return (uint64_t)-1;
    store_counts_get(st, &c);
    store_close(st);
    return c.n_paths;
}

/* A path too long for the store skips that file only: the files of its
 * batch and after it are stored, now and on every rerun. */
TEST(long_path_skips_one_file) {
    char root[300], deep[1200], db[300], cmd[24576];
    snprintf(root, sizeof root, "%s/longpath", tmp);
    snprintf(db, sizeof db, "%s/longpath.db", tmp);
    int n = snprintf(deep, sizeof deep, "%s/a", root);
    while (n < 470) n += snprintf(deep + n, sizeof deep - (size_t)n, "/%s", "dddddddddddddddddddddddddddddddddddddddddddddddddd");
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s' && cp '%s/samples/cifar10/cat/0000.jpg' '%s/zz_long_name_%s.jpg' && "
             "cp '%s/samples/cifar10/cat/0001.jpg' '%s/b.jpg' && cp '%s/samples/cifar10/dog/0000.jpg' '%s/c.jpg' && "
             "cp '%s/samples/cifar10/frog/0000.jpg' '%s/d.jpg'",
             deep, src_dir, deep, "xxxxxxxxxxxxxxxxxxxx", src_dir, root, src_dir, root, src_dir, root);
    CHECK(system(cmd) == 0);
    ingest_stats s;
    int rc = demo_ingest(db, root, 0, 0, &s);
    CHECK_MSG(rc == 0, "%s", status_message());
    CHECK_MSG(s.added == 3 && s.failed == 1, "added %llu failed %llu", (unsigned long long)s.added,
              (unsigned long long)s.failed);
    CHECK(stored_paths(db) == 3);
    rc = demo_ingest(db, root, 0, 0, &s);   /* a rerun: the same file alone fails again */
    CHECK_MSG(rc == 0 && s.unchanged == 3 && s.failed == 1, "rc %d unchanged %llu failed %llu", rc,
              (unsigned long long)s.unchanged, (unsigned long long)s.failed);
}

/* --prune on a root that became empty (an unmounted drive) is refused and
 * removes nothing; with prune_empty it prunes. */
TEST(prune_refuses_empty_root) {
    char root[300], db[300], cmd[16384];
    snprintf(root, sizeof root, "%s/mnt", tmp);
    snprintf(db, sizeof db, "%s/prune.db", tmp);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/sub' && cp '%s/samples/cifar10/cat/0002.jpg' '%s/sub/' && "
             "cp '%s/samples/cifar10/dog/0002.jpg' '%s/'", root, src_dir, root, src_dir, root);
    CHECK(system(cmd) == 0);
    ingest_stats s;
    CHECK_MSG(demo_ingest(db, root, 0, 0, &s) == 0 && s.added == 2, "%s", status_message());
    snprintf(cmd, sizeof cmd, "rm -rf '%s'/* && touch '%s/notes.txt'", root, root);
    CHECK(system(cmd) == 0);
    int rc = demo_ingest(db, root, 1, 0, &s);
    CHECK_MSG(rc == ST_ARG && strstr(status_message(), "--prune-empty"), "rc %d: %s", rc, status_message());
    CHECK(stored_paths(db) == 2);
    rc = demo_ingest(db, root, 1, 1, &s);
    CHECK_MSG(rc == 0 && s.pruned == 2, "rc %d pruned %llu: %s", rc, (unsigned long long)s.pruned, status_message());
    CHECK(stored_paths(db) == 0);
}

/* Every file of a generated library gets one status with its reason. */
typedef struct {
    char name[64][64];
    int status[64];
    char reason[64][256];
    int n;
} file_log;

static void log_file(const char *path, int status, const char *reason, void *ctx) {
    file_log *l = ctx;
    if (l->n >= 64) return;
    snprintf(l->name[l->n], sizeof l->name[l->n], "%s", strrchr(path, '/') + 1);
    l->status[l->n] = status;
    snprintf(l->reason[l->n], sizeof l->reason[l->n], "%s", reason ? reason : "");
    l->n++;
}

static int logged(const file_log *l, const char *name, const char **reason) {
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->name[i], name)) {
            if (reason) *reason = l->reason[i];
            return l->status[i];
        }
    return 0;
}

static int log_ingest(const char *db, const char *root, file_log *l, ingest_stats *s) {
    store *st;
    int rc = store_open(db, STORE_CREATE, &st);
    if (rc) return rc;
    rc = store_check_model(st, emb->identity, emb->dim);
    ingest_opts o;
    ingest_opts_default(&o);
    o.roots = (const char *[]){root};
    o.n_roots = 1;
    o.on_file = log_file;
    o.ctx = l;
    memset(l, 0, sizeof *l);
    if (!rc) rc = ingest_run(st, emb, &o, s);
    store_close(st);
    return rc;
}

static int image_of(store *st, const char *root, const char *name, store_image *im) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s", root, name);
    store_path_info pi;
    memset(im, 0, sizeof *im);
    return store_lookup_path(st, p, &pi) || store_get_image(st, pi.id, im);
}

/* tests/data/formats (every format, EXIF dates and cameras, a JPEG without
 * extension and one named .png, bad files) + a resized near-copy + a byte
 * copy: each file's status and reason, the counts add up, the metadata in
 * the store; a touched file is unchanged. */
TEST(library_statuses_and_metadata) {
    char root[300], db[300], cmd[16384];
    snprintf(root, sizeof root, "%s/library", tmp);
    snprintf(db, sizeof db, "%s/library.db", tmp);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/.thumbs' && cp '%s'/tests/data/formats/* '%s/' && "
             "cp '%s/tests/data/library/near_copy.jpg' '%s/' && cp '%s/exif.jpg' '%s/exif-copy.jpg' && "
             "cp '%s/plain.jpg' '%s/.thumbs/' && cp '%s/plain.jpg' '%s/.hidden.jpg'",
             root, src_dir, root, src_dir, root, root, root, root, root, root, root);
    CHECK(system(cmd) == 0);
    file_log l;
    ingest_stats s;
    int rc = log_ingest(db, root, &l, &s);
    CHECK_MSG(rc == 0, "%s", status_message());
    CHECK_MSG(s.total == 23 && (int)s.total == l.n, "seen %llu, reported %d", (unsigned long long)s.total, l.n);
    CHECK(s.added + s.updated + s.unchanged + s.duplicates + s.failed + s.skipped == s.total);
    CHECK_MSG(s.added == 13 && s.duplicates == 3 && s.failed == 3 && s.skipped == 4 && s.hidden == 2,
              "added %llu duplicates %llu failed %llu skipped %llu hidden %llu", (unsigned long long)s.added,
              (unsigned long long)s.duplicates, (unsigned long long)s.failed, (unsigned long long)s.skipped,
              (unsigned long long)s.hidden);
    static const char *added[] = {"avif.avif", "heic.heic", "webp.webp", "webp_orient6.webp", "tiff.tif",
                                  "tiff_orient6.tif", "dng.dng", "bmp.bmp", "gif.gif", "src.png", "near_copy.jpg"};
    for (size_t i = 0; i < sizeof added / sizeof *added; i++)
        CHECK_MSG(logged(&l, added[i], NULL) == INGEST_ADDED, "%s: %s", added[i],
                  ingest_status_name(logged(&l, added[i], NULL)));
    /* byte copies: one of each set added, the others duplicates */
    CHECK((logged(&l, "exif.jpg", NULL) == INGEST_ADDED) + (logged(&l, "exif-copy.jpg", NULL) == INGEST_ADDED) == 1);
    CHECK((logged(&l, "exif.jpg", NULL) == INGEST_DUPLICATE) + (logged(&l, "exif-copy.jpg", NULL) == INGEST_DUPLICATE) == 1);
    int plain_added = (logged(&l, "plain.jpg", NULL) == INGEST_ADDED) + (logged(&l, "jpeg_noext", NULL) == INGEST_ADDED) +
                      (logged(&l, "jpeg_named.png", NULL) == INGEST_ADDED);
    CHECK(plain_added == 1);
    const char *why = NULL;
    CHECK(logged(&l, "bad_empty.jpg", &why) == INGEST_SKIPPED && !strcmp(why, "empty file"));
    CHECK(logged(&l, "bad_text.jpg", &why) == INGEST_SKIPPED && !strcmp(why, "not an image: text"));
    CHECK(logged(&l, "make.sh", &why) == INGEST_SKIPPED && !strcmp(why, "not an image: text"));
    CHECK(logged(&l, "bad_garbage.heic", &why) == INGEST_SKIPPED && !strncmp(why, "not an image", 12));
    static const char *bad[] = {"bad_truncated.jpg", "bad_truncated.heic", "bad_truncated.tif"};
    for (int i = 0; i < 3; i++) {
        CHECK_MSG(logged(&l, bad[i], &why) == INGEST_FAILED && why[0] && !strstr(why, root), "%s: %s", bad[i], why);
    }
    for (int i = 0; i < l.n; i++)
        CHECK_MSG(l.name[i][0] != '.', "hidden %s was seen", l.name[i]);

    store *st;
    CHECK(store_open(db, STORE_RDONLY, &st) == 0);
    if (!st) return;
    CHECK_MSG(store_verify(st) == 0, "%s", status_message());
    store_roots roots;
    CHECK(store_roots_list(st, &roots) == 0 && roots.n == 1 && !strcmp(roots.v[0], root));
    store_roots_release(&roots);
    store_image im;
    CHECK(image_of(st, root, "exif.jpg", &im) == 0);
    CHECK(im.taken_source == IMAGE_TAKEN_EXIF && !strcmp(im.taken, "2023-07-14T18:30:05") && im.taken_offset_min == 120);
    CHECK(im.taken_ns == 1689352205LL * 1000000000LL);   /* 16:30:05 UTC */
    CHECK(!strcmp(im.make, "Canon") && !strcmp(im.model, "Canon EOS R6") && im.has_gps);
    CHECK_NEAR(im.gps_lat, -33.8568, 1e-4);
    CHECK_NEAR(im.gps_lon, 151.2153, 1e-4);
    CHECK_MSG(im.width == 48 && im.height == 64 && !strcmp(im.format, "jpeg"), "%ux%u %s", im.width, im.height, im.format);
    CHECK(image_of(st, root, "heic.heic", &im) == 0);
    CHECK(!strcmp(im.format, "heic") && im.taken_offset_min == -300 && im.taken_ns == 1709226000LL * 1000000000LL);
    CHECK(!strcmp(im.make, "Apple") && !strcmp(im.model, "iPhone 13") && im.has_gps && im.width == 64 && im.height == 48);
    CHECK_NEAR(im.gps_lat, 40.6892, 1e-4);
    CHECK_NEAR(im.gps_lon, -74.0445, 1e-4);
    CHECK(image_of(st, root, "webp.webp", &im) == 0);   /* no offset: the local time read as UTC */
    CHECK(!strcmp(im.format, "webp") && im.taken_offset_min == IMAGE_OFFSET_UNKNOWN &&
          im.taken_ns == 1641092645LL * 1000000000LL && !strcmp(im.model, "Pixel 7") && !im.has_gps);
    CHECK(image_of(st, root, "tiff.tif", &im) == 0);
    CHECK(!strcmp(im.format, "tiff") && !strcmp(im.make, "Epson") && im.taken_ns == 946684799LL * 1000000000LL);
    CHECK(image_of(st, root, "dng.dng", &im) == 0);
    CHECK(!strcmp(im.format, "raw") && im.taken_offset_min == 540 && im.taken_ns == 1614801967LL * 1000000000LL);
    CHECK(image_of(st, root, "webp_orient6.webp", &im) == 0 && im.width == 48 && im.height == 64);
    CHECK(image_of(st, root, "tiff_orient6.tif", &im) == 0 && im.width == 48 && im.height == 64);
    CHECK(image_of(st, root, "avif.avif", &im) == 0 && !strcmp(im.format, "avif"));
    CHECK(im.taken_source == IMAGE_TAKEN_MTIME && im.taken_ns == im.mtime_ns && strlen(im.taken) == 19 && !im.make[0]);
    CHECK(image_of(st, root, "jpeg_named.png", &im) == 0 && !strcmp(im.format, "jpeg") && im.n_paths == 3);
    CHECK(image_of(st, root, "bad_text.jpg", &im) != 0);
    store_close(st);

    /* touched, same bytes: unchanged, nothing embedded; the rest as before */
    snprintf(cmd, sizeof cmd, "touch -d '2001-02-03 04:05:06' '%s/exif.jpg' '%s/heic.heic'", root, root);
    CHECK(system(cmd) == 0);
    rc = log_ingest(db, root, &l, &s);
    CHECK_MSG(rc == 0 && s.added == 0 && s.updated == 0 && s.duplicates == 0 && s.unchanged == 16 && s.failed == 3 &&
              s.skipped == 4, "added %llu updated %llu unchanged %llu", (unsigned long long)s.added,
              (unsigned long long)s.updated, (unsigned long long)s.unchanged);
    CHECK(logged(&l, "exif.jpg", NULL) == INGEST_UNCHANGED && logged(&l, "heic.heic", NULL) == INGEST_UNCHANGED);
    CHECK(s.t_encode == 0);
    CHECK(store_open(db, STORE_RDONLY, &st) == 0);
    if (!st) return;
    store_path_info pi;
    char p[600];
    snprintf(p, sizeof p, "%s/heic.heic", root);
    CHECK(store_lookup_path(st, p, &pi) == 0 && pi.mtime_ns == 981173106LL * 1000000000LL);
    CHECK(image_of(st, root, "heic.heic", &im) == 0 && !strcmp(im.make, "Apple") && im.taken_offset_min == -300);
    CHECK_MSG(store_verify(st) == 0, "%s", status_message());
    store_close(st);
}

/* A store of the release before schema 2 (tests/data/store_v1): ingest on
 * it migrates it, reads the metadata of its files once (unchanged, no
 * re-embedding) and adds new files as usual. Its paths are under
 * /tmp/seer-v1-fixture/photos, recreated here from the same samples. */
TEST(v1_store_ingest) {
    char db[300], cmd[32768];
    const char *fx = "/tmp/seer-v1-fixture/photos";
    snprintf(db, sizeof db, "%s/v1.db", tmp);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' '%s/sub' && cp '%s/tests/data/store_v1/data.mdb' '%s/' && chmod u+w '%s/data.mdb' && "
             "cp '%s'/samples/larger/cat-test0100-256px.jpg '%s'/samples/larger/dog-test0100-256px.jpg "
             "'%s'/samples/larger/horse-and-ship-test0101-512x256.jpg '%s/' && "
             "cp '%s/samples/larger/dog-test0100-256px.jpg' '%s/sub/dog-copy.jpg'",
             db, fx, src_dir, db, db, src_dir, src_dir, src_dir, fx, src_dir, fx);
    CHECK(system(cmd) == 0);
    file_log l;
    ingest_stats s;
    int rc = log_ingest(db, fx, &l, &s);
    CHECK_MSG(rc == 0 && s.total == 4 && s.unchanged == 4 && s.added == 0 && s.t_encode == 0,
              "rc %d: %s; seen %llu unchanged %llu", rc, rc ? status_message() : "", (unsigned long long)s.total,
              (unsigned long long)s.unchanged);
    store *st;
    CHECK(store_open(db, STORE_RDONLY, &st) == 0);
    if (!st) return;
    store_counts c;
    CHECK(store_counts_get(st, &c) == 0 && c.n_images == 3 && c.n_paths == 4 && c.n_feedback == 1 && c.n_thumbs == 3);
    for (uint64_t id = 1; id <= 3; id++) {
        store_image im;
        CHECK(store_get_image(st, id, &im) == 0 && !im.meta_stale && im.taken_source == IMAGE_TAKEN_MTIME);
    }
    CHECK_MSG(store_verify(st) == 0, "%s", status_message());
    store_close(st);
    snprintf(cmd, sizeof cmd, "cp '%s/samples/larger/truck-test0100-256px.jpg' '%s/'", src_dir, fx);
    CHECK(system(cmd) == 0);
    rc = log_ingest(db, fx, &l, &s);
    CHECK(rc == 0 && s.added == 1 && s.unchanged == 4);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx);
    CHECK(system(cmd) == 0);
}

int main(void) {
    snprintf(src_dir, sizeof src_dir, "%s", test_source());
    snprintf(tmp, sizeof tmp, "/tmp/seer-test-ingest-XXXXXX");
    if (!mkdtemp(tmp)) return 1;
    snprintf(path1, sizeof path1, "%s/models/demo/clip", src_dir);
    if (open_model(path1)) return 1;
    RUN(samples_incremental);
    RUN(samples_changes_duplicates_prune_corrupt);
    RUN(samples_kill9_resume);
    RUN(samples_model_mismatch_refused);
    RUN(long_path_skips_one_file);
    RUN(prune_refuses_empty_root);
    RUN(library_statuses_and_metadata);
    RUN(v1_store_ingest);
    embedder_free(emb);
    emb = NULL;
    RUN(shared_photos);
    sh("rm -rf %s%s", tmp, "");
    return test_summary();
}
