/* tests/test_search.c — the shared embed path (model/pipeline/embed.h) and the
 * search service (index/search.h) on a small store of the bundled sample
 * photos (samples/cifar10) made with the bundled demo CLIP (models/demo/clip):
 *   every way into the image tower (an image, a file, bytes in memory, a
 *   batch slot) gives the same vector, and the reference's golden embedding
 *   (tests/data/clip/golden.json);
 *   a text search returns the index's ranking with the store's paths and
 *   metadata; a stored photo searched by file and by bytes finds itself
 *   first, with the decoded picture's facts; a hit removed since the index
 *   was built comes back not found; bad queries are refused with an empty
 *   result; the index kind is chosen as the CLI and the server choose it;
 *   searches under the lock survive index swaps on another thread. */
#include "test.h"

#include "file.h"
#include "ingest.h"
#include "search.h"
#include "status.h"
#include "store.h"
#include "vindex.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const char *src;
static char model[512], tmp[256], db[300], photo[1024];
static embedder *emb;

static float max_diff(const float *a, const float *b, int n) {
    float d = 0.0f;
    for (int i = 0; i < n; i++) d = fmaxf(d, fabsf(a[i] - b[i]));
    return d;
}

/* The first n .jpg files of the bundled samples/cifar10, copied into tmp/photos. */
static int make_store(int n) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/photos && cp $(ls -d %s/samples/cifar10/*/*.jpg | head -%d) %s/photos/",
             tmp, src, n, tmp);
    if (system(cmd) != 0) return -1;
    store *st;
    int rc = store_open(db, STORE_CREATE, &st);
    if (rc) return rc;
    rc = store_check_model(st, emb->identity, emb->dim);
    char root[400];
    snprintf(root, sizeof root, "%s/photos", tmp);
    ingest_opts o;
    ingest_opts_default(&o);
    o.roots = (const char *[]){root};
    o.n_roots = 1;
    ingest_stats s;
    if (!rc) rc = ingest_run(st, emb, &o, &s);
    store_close(st);
    return rc;
}

TEST(embed_paths_agree) {
    char png[600];
    snprintf(png, sizeof png, "%s/tests/data/clip/inputs/rgb_61x45.png", src);
    const int dim = emb->dim;
    float a[64], b[64], c[64], d[64];
    /* an image */
    image img = {0};
    image_opts io = image_opts_default();
    CHECK(image_load(png, &io, &img, NULL) == 0);
    CHECK(embedder_image(emb, &img, a) == 0);
    /* a file, decoded once */
    embed_image_info info = {0};
    CHECK_MSG(embedder_image_file(emb, png, NULL, b, &info) == 0, "%s", status_message());
    CHECK(info.format && !strcmp(info.format, "png") && info.width == img.w && info.height == img.h);
    /* the same bytes in memory */
    uint8_t *bytes;
    size_t n;
    CHECK(file_read(png, 1 << 26, &bytes, &n) == 0);
    CHECK(embedder_image_bytes(emb, bytes, n, "upload", &io, c, NULL) == 0);
    /* a batch slot: decode + preprocess, then the batch pass */
    float *pix = malloc(2 * embedder_pixels_len(emb) * sizeof *pix);
    float two[128];
    CHECK(embedder_pixels_file(emb, png, &io, pix, NULL) == 0);
    CHECK(embedder_preprocess(emb, &img, pix + embedder_pixels_len(emb)) == 0);
    CHECK(embedder_images(emb, pix, 2, two) == 0);
    memcpy(d, two, sizeof(float) * (size_t)dim);
    CHECK(max_diff(a, b, dim) == 0.0f && max_diff(a, c, dim) == 0.0f);
    CHECK_MSG(max_diff(a, d, dim) < 1e-5f && max_diff(a, two + dim, dim) < 1e-5f, "batch differs by %g",
              (double)max_diff(a, d, dim));
    /* the golden embedding (tests/reference/clip_ref.py), the same tolerance as seer embed's check */
    char golden[600];
    snprintf(golden, sizeof golden, "%s/tests/data/clip/golden.json", src);
    json_error_t je;
    json_t *g = json_load_file(golden, 0, &je), *imgs = json_object_get(g, "images"), *it;
    size_t i;
    int seen = 0;
    json_array_foreach(imgs, i, it) {
        if (strcmp(json_string_value(json_object_get(it, "file")), "tests/data/clip/inputs/rgb_61x45.png")) continue;
        json_t *e = json_object_get(it, "embedding");
        CHECK((int)json_array_size(e) == dim);
        float ref[64];
        for (int k = 0; k < dim; k++) ref[k] = (float)json_number_value(json_array_get(e, (size_t)k));
        CHECK_MSG(max_diff(a, ref, dim) < 1e-4f, "golden differs by %g", (double)max_diff(a, ref, dim));
        seen = 1;
    }
    CHECK(seen);
    json_decref(g);
    /* bad bytes: the error names what they are, and no vector comes back */
    CHECK(embedder_image_bytes(emb, "not an image", 12, "upload", NULL, c, &info) == ST_FORMAT);
    CHECK(strstr(status_message(), "upload") != NULL);
    free(pix);
    free(bytes);
    image_release(&img);
}

TEST(text_search_is_the_index_ranking) {
    store *st;
    CHECK(store_open(db, STORE_RDONLY, &st) == 0);
    vindex_params p;
    CHECK(search_index_params(st, "flat", &p) == 0);
    vindex *vi;
    CHECK(vindex_load(st, &p, &vi, NULL) == 0);
    searcher sr = {.emb = emb, .st = st, .vi = &vi};
    search_query q = search_query_default();
    q.text = "a dog sitting on a couch";
    q.k = 5;
    search_result r;
    CHECK_MSG(search_run(&sr, &q, &r) == 0, "%s", status_message());
    float v[64];
    vindex_hit vh[5];
    int n = 0;
    CHECK(embedder_text(emb, q.text, v) == 0);
    CHECK(vindex_search(vi, v, 5, vh, &n) == 0);
    CHECK(r.n == n && n == 5 && r.took_s >= 0.0 && r.format == NULL);
    for (int i = 0; i < r.n && i < n; i++) {
        store_image im;
        CHECK(store_get_image(st, vh[i].id, &im) == 0);
        CHECK(r.hits[i].id == vh[i].id && r.hits[i].score == vh[i].score && r.hits[i].found);
        CHECK(!strcmp(r.hits[i].image.path, im.path) && r.hits[i].image.width == im.width &&
              r.hits[i].image.height == im.height && !strcmp(r.hits[i].image.format, "jpeg"));
    }
    /* k above the index size gives every image */
    search_result_release(&r);
    CHECK(r.hits == NULL && r.n == 0);
    q.k = 1000;
    CHECK(search_run(&sr, &q, &r) == 0 && r.n == (int)vindex_size(vi));
    search_result_release(&r);
    vindex_free(vi);
    store_close(st);
}

TEST(image_search_finds_itself) {
    store *st;
    CHECK(store_open(db, STORE_RDONLY, &st) == 0);
    vindex_params p;
    CHECK(search_index_params(st, "auto", &p) == 0);
    vindex *vi;
    CHECK(vindex_load(st, &p, &vi, NULL) == 0);
    store_path_info pi;
    CHECK(store_lookup_path(st, photo, &pi) == 0);
    store_image im;
    CHECK(store_get_image(st, pi.id, &im) == 0);
    searcher sr = {.emb = emb, .st = st, .vi = &vi};
    search_query q = search_query_default();
    q.image_path = photo;
    q.k = 3;
    search_result a, b;
    CHECK_MSG(search_run(&sr, &q, &a) == 0, "%s", status_message());
    CHECK(a.n == 3 && a.hits[0].id == pi.id && fabsf(a.hits[0].score - 1.0f) < 1e-4f);
    CHECK(a.format && !strcmp(a.format, "jpeg") && a.width == (int)im.width && a.height == (int)im.height);
    /* the same photo as bytes: the same hits */
    uint8_t *bytes;
    size_t n;
    CHECK(file_read(photo, 1 << 26, &bytes, &n) == 0);
    q.image_path = NULL;
    q.image_bytes = bytes, q.image_len = n, q.image_name = "upload";
    CHECK(search_run(&sr, &q, &b) == 0 && b.n == a.n);
    for (int i = 0; i < a.n && i < b.n; i++) CHECK(a.hits[i].id == b.hits[i].id && a.hits[i].score == b.hits[i].score);
    search_result_release(&a);
    search_result_release(&b);
    free(bytes);
    vindex_free(vi);
    store_close(st);
}

TEST(bad_queries_refused) {
    store *st;
    CHECK(store_open(db, STORE_RDONLY, &st) == 0);
    vindex_params p;
    CHECK(search_index_params(st, "flat", &p) == 0);
    vindex *vi;
    CHECK(vindex_load(st, &p, &vi, NULL) == 0);
    searcher sr = {.emb = emb, .st = st, .vi = &vi};
    search_result r;
    search_query q = search_query_default();
    CHECK(search_run(&sr, &q, &r) == ST_ARG && r.hits == NULL && r.n == 0);   /* no query */
    q.text = "a cat", q.image_path = photo;
    CHECK(search_run(&sr, &q, &r) == ST_ARG && r.hits == NULL);               /* two */
    q.image_path = NULL, q.k = 0;
    CHECK(search_run(&sr, &q, &r) == ST_ARG && r.hits == NULL);               /* k 0 */
    q = search_query_default();
    q.image_bytes = "not an image", q.image_len = 12, q.image_name = "upload";
    CHECK(search_run(&sr, &q, &r) == ST_FORMAT && r.hits == NULL && r.format == NULL);
    CHECK(strstr(status_message(), "upload") != NULL);
    q = search_query_default();
    q.image_path = "/nonexistent/x.jpg";
    CHECK(search_run(&sr, &q, &r) != ST_OK && r.hits == NULL);
    CHECK(strstr(status_message(), "/nonexistent/x.jpg") != NULL);
    CHECK(search_index_params(st, "exact", &p) == ST_ARG && strstr(status_message(), "'exact'"));
    vindex_free(vi);
    store_close(st);
}

TEST(removed_hit_not_found_and_auto_kind) {
    store *st;
    CHECK(store_open(db, STORE_WRITE, &st) == 0);
    vindex_params p;
    CHECK(search_index_params(st, "auto", &p) == 0 && p.kind == VINDEX_FLAT);
    CHECK(search_index_params(st, "hnsw", &p) == 0 && p.kind == VINDEX_HNSW);
    vindex *vi;
    CHECK(vindex_load(st, &p, &vi, NULL) == 0 && vindex_save(vi, st) == 0);
    vindex_params auto_p;
    CHECK(search_index_params(st, "auto", &auto_p) == 0 && auto_p.kind == VINDEX_HNSW);
    store_path_info pi;
    CHECK(store_lookup_path(st, photo, &pi) == 0);
    CHECK(store_remove_path(st, photo) == 0);   /* the index still holds its id */
    searcher sr = {.emb = emb, .st = st, .vi = &vi};
    search_query q = search_query_default();
    q.image_path = photo;
    q.k = 2;
    search_result r;
    CHECK_MSG(search_run(&sr, &q, &r) == 0, "%s", status_message());
    CHECK(r.n == 2 && r.hits[0].id == pi.id && !r.hits[0].found && r.hits[0].image.path[0] == 0);
    CHECK(r.n == 2 && r.hits[1].found && r.hits[1].image.path[0] == '/');
    search_result_release(&r);
    vindex_free(vi);
    store_close(st);
}

/* ------------------------------------------------------------ the lock */

typedef struct {
    searcher *sr;
    int failures, runs;
} worker_arg;

static void *search_worker(void *arg) {
    worker_arg *w = arg;
    search_query q = search_query_default();
    q.text = "a plate of food";
    q.k = 4;
    for (int i = 0; i < 40; i++) {
        search_result r;
        if (search_run(w->sr, &q, &r) || r.n != 4) w->failures++;
        search_result_release(&r);
        w->runs++;
    }
    return NULL;
}

TEST(searches_under_the_lock_survive_swaps) {
    store *st;
    CHECK(store_open(db, STORE_RDONLY, &st) == 0);
    vindex_params p;
    CHECK(search_index_params(st, "flat", &p) == 0);
    vindex *vi;
    CHECK(vindex_load(st, &p, &vi, NULL) == 0);
    pthread_rwlock_t lock;
    pthread_rwlock_init(&lock, NULL);
    searcher sr = {.emb = emb, .st = st, .vi = &vi, .lock = &lock};
    worker_arg w[3] = {{&sr, 0, 0}, {&sr, 0, 0}, {&sr, 0, 0}};
    pthread_t t[3];
    for (int i = 0; i < 3; i++) pthread_create(&t[i], NULL, search_worker, &w[i]);
    for (int i = 0; i < 20; i++) {   /* what the server's reloader does */
        vindex *nv;
        if (vindex_load(st, &p, &nv, NULL)) break;
        pthread_rwlock_wrlock(&lock);
        vindex *old = vi;
        vi = nv;
        pthread_rwlock_unlock(&lock);
        vindex_free(old);
    }
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
    CHECK(w[0].failures + w[1].failures + w[2].failures == 0);
    CHECK(w[0].runs + w[1].runs + w[2].runs == 120);
    pthread_rwlock_destroy(&lock);
    vindex_free(vi);
    store_close(st);
}

int main(void) {
    src = test_source();
    snprintf(model, sizeof model, "%s/models/demo/clip", src);
    snprintf(tmp, sizeof tmp, "/tmp/seer-test-search-XXXXXX");
    if (!mkdtemp(tmp)) return 1;
    snprintf(db, sizeof db, "%s/db", tmp);
    if (embedder_load(model, EMBED_IMAGE | EMBED_TEXT, &emb)) {
        printf("cannot open %s: %s\n", model, status_message());
        return 1;
    }
    if (make_store(12)) {
        printf("cannot make the test store: %s\n", status_message());
        return 1;
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls -d %s/photos/*.jpg | head -1", tmp);
    FILE *f = popen(cmd, "r");
    if (!f || !fgets(photo, sizeof photo, f)) return 1;
    pclose(f);
    photo[strcspn(photo, "\n")] = 0;
    RUN(embed_paths_agree);
    RUN(text_search_is_the_index_ranking);
    RUN(image_search_finds_itself);
    RUN(bad_queries_refused);
    RUN(searches_under_the_lock_survive_swaps);
    RUN(removed_hit_not_found_and_auto_kind);   /* last: it changes the store */
    embedder_free(emb);
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0) printf("  could not remove %s\n", tmp);
    return test_summary();
}
