/* tests/test_vindex.c — exact search against a brute-force ranking (own scan
 * and FAISS flat), HNSW recall on clustered data, and the persisted index
 * being loaded, caught up or rebuilt as the store's generation moves. */
#include "test.h"

#include "status.h"
#include "store.h"
#include "vindex.h"

#include <stdint.h>

static uint64_t rng = 88172645463325252ull;
static double urand(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return (double)(rng >> 11) / 9007199254740992.0; }
static float gauss(void) { double u = urand() + 1e-12, v = urand(); return (float)(sqrt(-2 * log(u)) * cos(6.283185307179586 * v)); }

static void normalise(float *v, int dim) {
    double s = 0;
    for (int j = 0; j < dim; j++) s += (double)v[j] * v[j];
    for (int j = 0; j < dim; j++) v[j] /= (float)sqrt(s);
}

/* n unit vectors around nc Gaussian centres (spread sigma). */
static float *clustered(size_t n, int dim, int nc, float sigma) {
    float *c = malloc((size_t)nc * dim * sizeof *c), *x = malloc(n * dim * sizeof *x);
    for (size_t i = 0; i < (size_t)nc * dim; i++) c[i] = gauss();
    for (int i = 0; i < nc; i++) normalise(c + (size_t)i * dim, dim);
    for (size_t i = 0; i < n; i++) {
        const float *ci = c + (size_t)(urand() * nc) % nc * dim;
        for (int j = 0; j < dim; j++) x[i * dim + j] = ci[j] + sigma * gauss();
        normalise(x + i * dim, dim);
    }
    free(c);
    return x;
}

/* Brute-force top-k rows by dot product, in double. */
static void brute(const float *x, size_t n, int dim, const float *q, int k, size_t *rows, double *scores) {
    for (int i = 0; i < k; i++) { rows[i] = SIZE_MAX; scores[i] = -1e30; }
    for (size_t r = 0; r < n; r++) {
        double s = 0;
        for (int j = 0; j < dim; j++) s += (double)x[r * dim + j] * q[j];
        if (s <= scores[k - 1]) continue;
        int i = k - 1;
        while (i > 0 && scores[i - 1] < s) { scores[i] = scores[i - 1]; rows[i] = rows[i - 1]; i--; }
        scores[i] = s; rows[i] = r;
    }
}

TEST(exact_equals_brute_force) {
    enum { N = 5000, D = 64, K = 15, NQ = 12 };
    float *x = clustered(N, D, 40, 0.5f);
    uint64_t *ids = malloc(N * sizeof *ids);
    for (size_t i = 0; i < N; i++) ids[i] = 10 + 3 * i;
    float *q = clustered(NQ, D, 5, 0.5f);
    for (int scan = VINDEX_SCAN_OWN; scan <= VINDEX_SCAN_FAISS; scan++) {
        vindex_params p;
        vindex_params_default(&p);
        p.scan = scan;
        vindex *vi;
        CHECK_MSG(vindex_build(&p, D, N, x, ids, &vi) == 0, "%s", status_message());
        if (!vi) continue;
        vindex_hit hits[NQ * K], one[K];
        int nh;
        CHECK(vindex_search_batch(vi, NQ, q, K, hits, &nh) == 0 && nh == K);
        for (int qi = 0; qi < NQ; qi++) {
            size_t rows[K];
            double sc[K];
            brute(x, N, D, q + qi * D, K, rows, sc);
            int n1;
            /* an unnormalised query gives the same ranking and cosine scores */
            float q2[D];
            for (int j = 0; j < D; j++) q2[j] = 3.5f * q[qi * D + j];
            CHECK(vindex_search(vi, q2, K, one, &n1) == 0 && n1 == K);
            for (int i = 0; i < K; i++) {
                CHECK_MSG(hits[qi * K + i].id == ids[rows[i]], "scan %d query %d rank %d: %llu vs %llu", scan, qi, i,
                          (unsigned long long)hits[qi * K + i].id, (unsigned long long)ids[rows[i]]);
                CHECK_NEAR(hits[qi * K + i].score, sc[i], 1e-4);
                CHECK(one[i].id == hits[qi * K + i].id);
                CHECK_NEAR(one[i].score, sc[i], 1e-4);
            }
        }
        /* k beyond n, a zero query, a bad k */
        vindex_hit big[20];
        vindex *small;
        CHECK(vindex_build(&p, D, 7, x, ids, &small) == 0);
        CHECK(vindex_search(small, q, 20, big, &nh) == 0 && nh == 7);
        for (int i = 1; i < nh; i++) CHECK(big[i - 1].score >= big[i].score);
        float zero[D] = {0};
        CHECK(vindex_search(small, zero, 5, big, &nh) == ST_ARG);
        CHECK(vindex_search(small, q, 0, big, &nh) == ST_ARG);
        vindex_free(small);
        vindex_free(vi);
    }
    free(x); free(ids); free(q);
}

/* a dim that is not a multiple of 8 and a row count that is not of 4: the scalar tails */
TEST(exact_odd_shapes) {
    enum { N = 1001, D = 13, K = 5 };
    float *x = clustered(N, D, 7, 0.4f), *q = clustered(3, D, 3, 0.4f);
    uint64_t ids[N];
    for (int i = 0; i < N; i++) ids[i] = (uint64_t)i + 1;
    vindex_params p;
    vindex_params_default(&p);
    vindex *vi;
    CHECK(vindex_build(&p, D, N, x, ids, &vi) == 0);
    for (int qi = 0; qi < 3 && vi; qi++) {
        size_t rows[K];
        double sc[K];
        brute(x, N, D, q + qi * D, K, rows, sc);
        vindex_hit h[K];
        int nh;
        CHECK(vindex_search(vi, q + qi * D, K, h, &nh) == 0 && nh == K);
        for (int i = 0; i < K; i++) { CHECK(h[i].id == ids[rows[i]]); CHECK_NEAR(h[i].score, sc[i], 1e-4); }
    }
    vindex_free(vi);
    free(x); free(q);
}

TEST(exact_add_keeps_order) {
    enum { D = 16 };
    float *x = clustered(3000, D, 10, 0.3f);
    uint64_t ids[3000];
    for (int i = 0; i < 3000; i++) ids[i] = (uint64_t)i + 1;
    vindex_params p;
    vindex_params_default(&p);
    vindex *vi;
    CHECK(vindex_build(&p, D, 1000, x, ids, &vi) == 0);
    CHECK(vindex_add(vi, 2000, x + 1000 * D, ids + 1000) == 0);
    CHECK(vindex_add(vi, 1, x, ids) == ST_ARG);    /* ids must grow */
    CHECK(vindex_size(vi) == 3000);
    vindex_hit h[1];
    int nh;
    CHECK(vindex_search(vi, x + 2500 * D, 1, h, &nh) == 0 && nh == 1 && h[0].id == 2501);
    CHECK_NEAR(h[0].score, 1.0, 1e-5);
    vindex_free(vi);
    free(x);
}

TEST(hnsw_recall_clustered) {
    enum { N = 8000, D = 64, K = 10, NQ = 100 };
    float *x = clustered(N, D, 100, 0.35f);
    uint64_t *ids = malloc(N * sizeof *ids);
    for (size_t i = 0; i < N; i++) ids[i] = i + 1;
    float *q = clustered(NQ, D, 100, 0.35f);
    vindex_params p;
    vindex_params_default(&p);
    p.kind = VINDEX_HNSW;
    vindex *vi;
    CHECK_MSG(vindex_build(&p, D, N, x, ids, &vi) == 0, "%s", status_message());
    if (!vi) return;
    int found = 0;
    for (int qi = 0; qi < NQ; qi++) {
        size_t rows[K];
        double sc[K];
        brute(x, N, D, q + qi * D, K, rows, sc);
        vindex_hit h[K];
        int nh;
        CHECK(vindex_search(vi, q + qi * D, K, h, &nh) == 0 && nh == K);
        for (int i = 0; i < K; i++)
            for (int j = 0; j < K; j++) found += h[i].id == ids[rows[j]];
        CHECK(h[0].score <= sc[0] + 1e-4);   /* never better than exact */
    }
    double recall = (double)found / (NQ * K);
    printf("  HNSW recall@%d on %d clustered vectors: %.3f\n", K, N, recall);
    CHECK(recall >= 0.9);
    CHECK(vindex_set_ef_search(vi, 128) == 0);
    vindex_free(vi);
    free(x); free(ids); free(q);
}

/* ---------------------------------------------------------------- several vectors per image */

/* Brute-force top-k images by the max over each image's nv vectors, in double. */
static void brute_max(const float *x, size_t n, int nv, int dim, const float *q, int k, size_t *imgs, double *scores) {
    for (int i = 0; i < k; i++) { imgs[i] = SIZE_MAX; scores[i] = -1e30; }
    for (size_t r = 0; r < n; r++) {
        double s = -1e30;
        for (int v = 0; v < nv; v++) {
            double d = 0;
            const float *a = x + (r * (size_t)nv + (size_t)v) * (size_t)dim;
            for (int j = 0; j < dim; j++) d += (double)a[j] * q[j];
            if (d > s) s = d;
        }
        if (s <= scores[k - 1]) continue;
        int i = k - 1;
        while (i > 0 && scores[i - 1] < s) { scores[i] = scores[i - 1]; imgs[i] = imgs[i - 1]; i--; }
        scores[i] = s; imgs[i] = r;
    }
}

/* Exact search over n_vec vectors per image = the brute-force max over
 * each image's vectors, for the own scan (one query and a batch, a block
 * boundary that does not divide n_vec, an index grown by vindex_add) and the
 * FAISS flat scan. */
TEST(multivec_exact_equals_brute_force) {
    enum { N = 1500, D = 32, K = 15, NQ = 6 };
    const int nvs[] = {5, 32};
    for (int t = 0; t < 2; t++) {
        const int NV = nvs[t];
        float *x = clustered((size_t)N * NV, D, 60, 0.6f);
        uint64_t *ids = malloc(N * sizeof *ids);
        for (size_t i = 0; i < N; i++) ids[i] = 7 + 2 * i;
        float *q = clustered(NQ, D, 5, 0.6f);
        for (int mode = 0; mode < 3; mode++) {   /* own scan, own scan built in two adds, FAISS flat */
            vindex_params p;
            vindex_params_default(&p);
            p.n_vec = NV;
            p.scan = mode == 2 ? VINDEX_SCAN_FAISS : VINDEX_SCAN_OWN;
            vindex *vi = NULL;
            if (mode == 1) {
                CHECK(vindex_build(&p, D, 333, x, ids, &vi) == 0);
                if (vi) CHECK(vindex_add(vi, N - 333, x + (size_t)333 * NV * D, ids + 333) == 0);
            } else {
                CHECK_MSG(vindex_build(&p, D, N, x, ids, &vi) == 0, "%s", status_message());
            }
            if (!vi) continue;
            CHECK(vindex_size(vi) == N && vindex_n_vec(vi) == NV && vindex_dim(vi) == D);
            vindex_hit hits[NQ * K], one[K];
            int nh, n1;
            CHECK(vindex_search_batch(vi, NQ, q, K, hits, &nh) == 0 && nh == K);
            for (int qi = 0; qi < NQ; qi++) {
                size_t im[K];
                double sc[K];
                brute_max(x, N, NV, D, q + qi * D, K, im, sc);
                CHECK(vindex_search(vi, q + qi * D, K, one, &n1) == 0 && n1 == K);
                for (int i = 0; i < K; i++) {
                    CHECK_MSG(hits[qi * K + i].id == ids[im[i]], "nv %d mode %d query %d rank %d: %llu vs %llu", NV, mode,
                              qi, i, (unsigned long long)hits[qi * K + i].id, (unsigned long long)ids[im[i]]);
                    CHECK_NEAR(hits[qi * K + i].score, sc[i], 1e-4);
                    CHECK(one[i].id == ids[im[i]]);
                    CHECK_NEAR(one[i].score, sc[i], 1e-4);
                }
            }
            /* k above the image count: every image once */
            vindex_hit *all = malloc(4096 * sizeof *all);
            vindex *small;
            CHECK(vindex_build(&p, D, 40, x, ids, &small) == 0);
            if (small) {
                CHECK(vindex_search(small, q, 100, all, &nh) == 0 && nh == 40);
                int distinct = 1;
                for (int i = 0; i < nh; i++)
                    for (int j = 0; j < i; j++) distinct &= all[i].id != all[j].id;
                CHECK_MSG(distinct, "nv %d mode %d: an image returned twice", NV, mode);
                vindex_free(small);
            }
            free(all);
            vindex_free(vi);
        }
        free(x); free(ids); free(q);
    }
}

/* vindex_search_among on n_vec > 1: a filter (sparse: a row-by-row gather;
 * dense: the bitmap over the matrix) and an excluded image give the
 * brute-force max over the allowed images' vectors, for the own scan and
 * HNSW (whose filtered search reads the vectors back from FAISS). */
TEST(multivec_among_equals_brute_force) {
    enum { N = 700, NV = 4, D = 16, K = 10 };
    float *x = clustered((size_t)N * NV, D, 30, 0.6f);
    uint64_t *ids = malloc(N * sizeof *ids);
    for (size_t i = 0; i < N; i++) ids[i] = 3 + 5 * i;
    float *q = clustered(1, D, 1, 0.6f);
    for (int kind = 0; kind < 2; kind++) {
        vindex_params p;
        vindex_params_default(&p);
        p.n_vec = NV;
        if (kind) p.kind = VINDEX_HNSW;
        vindex *vi = NULL;
        CHECK_MSG(vindex_build(&p, D, N, x, ids, &vi) == 0, "%s", status_message());
        if (!vi) continue;
        for (int dense = 0; dense < 2; dense++) {
            /* keep every 7th image (sparse) or all but every 3rd (dense); exclude the best */
            uint64_t *allow = malloc(N * sizeof *allow);
            float *xa = malloc((size_t)N * NV * D * sizeof *xa);
            size_t *rows = malloc(N * sizeof *rows), na = 0;
            for (size_t i = 0; i < N; i++)
                if (dense ? i % 3 != 0 : i % 7 == 0) rows[na] = i, allow[na++] = ids[i];
            size_t im[K + 1];
            double sc[K + 1];
            for (size_t i = 0; i < na; i++) memcpy(xa + i * NV * D, x + rows[i] * NV * D, (size_t)NV * D * sizeof *xa);
            brute_max(xa, na, NV, D, q, K + 1, im, sc);
            uint64_t ex = allow[im[0]];
            vindex_hit hits[K];
            int nh = 0;
            vindex_scan_stats ss;
            CHECK_MSG(vindex_search_among(vi, q, allow, na, ex, K, hits, &nh, &ss) == 0, "%s", status_message());
            CHECK(nh == K && ss.scanned == na - 1);
            for (int i = 0; i < nh && i < K; i++) {
                CHECK_MSG(hits[i].id == allow[im[i + 1]], "kind %d dense %d rank %d: %llu vs %llu", kind, dense, i,
                          (unsigned long long)hits[i].id, (unsigned long long)allow[im[i + 1]]);
                CHECK_NEAR(hits[i].score, sc[i + 1], 1e-4);
            }
            free(allow); free(xa); free(rows);
        }
        vindex_free(vi);
    }
    free(x); free(ids); free(q);
}

/* HNSW over every vector, grouped to distinct images: recall against the
 * exact max, never a score above the exact one, and widening returns all
 * images when k covers them (the index exhausted). */
TEST(multivec_hnsw_recall) {
    enum { N = 2000, NV = 8, D = 32, K = 15, NQ = 60 };
    float *x = clustered((size_t)N * NV, D, 100, 0.4f);
    uint64_t *ids = malloc(N * sizeof *ids);
    for (size_t i = 0; i < N; i++) ids[i] = i + 1;
    float *q = clustered(NQ, D, 100, 0.4f);
    vindex_params p;
    vindex_params_default(&p);
    p.kind = VINDEX_HNSW;
    p.n_vec = NV;
    p.hnsw_m = 16;
    vindex *vi;
    CHECK_MSG(vindex_build(&p, D, N, x, ids, &vi) == 0, "%s", status_message());
    if (!vi) return;
    int found = 0;
    for (int qi = 0; qi < NQ; qi++) {
        size_t im[K];
        double sc[K];
        brute_max(x, N, NV, D, q + qi * D, K, im, sc);
        vindex_hit h[K];
        int nh;
        CHECK(vindex_search(vi, q + qi * D, K, h, &nh) == 0 && nh == K);
        for (int i = 0; i < K; i++) {
            for (int j = 0; j < i; j++) CHECK(h[i].id != h[j].id);
            for (int j = 0; j < K; j++) found += h[i].id == ids[im[j]];
        }
        CHECK(h[0].score <= sc[0] + 1e-4);
    }
    double recall = (double)found / (NQ * K);
    printf("  HNSW recall@%d on %d images × %d vectors: %.3f\n", K, N, NV, recall);
    CHECK(recall >= 0.9);
    vindex_free(vi);

    /* 50 images, k = 50: widening until every image is found */
    CHECK(vindex_build(&p, D, 50, x, ids, &vi) == 0);
    if (vi) {
        vindex_hit h[2 * 50];      /* [2, 50]: the first query's row is checked */
        int nh;
        CHECK(vindex_search_batch(vi, 2, q, 50, h, &nh) == 0 && nh == 50);
        int seen[51] = {0}, all = 1;
        for (int i = 0; i < 50; i++) { if (h[i].id >= 1 && h[i].id <= 50) seen[h[i].id]++; else all = 0; }
        for (int i = 1; i <= 50; i++) all &= seen[i] == 1;
        CHECK_MSG(all, "widening did not return each of the 50 images once");
        vindex_free(vi);
    }
    free(x); free(ids); free(q);
}

/* A store holding 6 vectors per image: flat and HNSW from the store (built,
 * persisted, loaded, caught up) equal the brute-force max. */
TEST(multivec_from_store) {
    enum { D = 16, NV = 6, N = 300, K = 10 };
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/seer_test_vindex_XXXXXX");
    if (!mkdtemp(dir)) { CHECK(0); return; }
    float *x = clustered((size_t)N * NV, D, 20, 0.5f);
    float *q = clustered(4, D, 4, 0.5f);
    store *st;
    CHECK(store_open(dir, STORE_CREATE, &st) == 0);
    if (!st) return;
    CHECK(store_check_model_vec(st, "tiny-blip2", "blip2", D, NV) == 0);
    static store_record recs[N];
    static char paths[N][32];
    for (int i = 0; i < N; i++) {
        snprintf(paths[i], sizeof paths[i], "/m/%04d", i);
        memset(&recs[i], 0, sizeof recs[i]);
        recs[i].path = paths[i];
        store_hash_bytes(paths[i], strlen(paths[i]), recs[i].hash);
        recs[i].vector = x + (size_t)i * NV * D;
        recs[i].format = "png";
    }
    CHECK(store_commit(st, 200, recs, NULL) == 0);
    vindex_params p;
    vindex_params_default(&p);
    p.kind = VINDEX_HNSW;
    vindex *vi;
    vindex_how how;
    CHECK_MSG(vindex_load(st, &p, &vi, &how) == 0, "%s", status_message());
    CHECK(how == VINDEX_REBUILT && vindex_size(vi) == 200 && vindex_n_vec(vi) == NV);
    vindex_free(vi);
    CHECK(store_commit(st, N - 200, recs + 200, NULL) == 0);
    CHECK(vindex_load(st, &p, &vi, &how) == 0 && how == VINDEX_CAUGHT_UP && vindex_size(vi) == N);
    vindex_free(vi);
    CHECK(vindex_load(st, &p, &vi, &how) == 0 && how == VINDEX_LOADED && vindex_size(vi) == N);
    vindex_params f;
    vindex_params_default(&f);     /* n_vec 1 asked: the store's 6 wins */
    vindex *fl;
    CHECK(vindex_load(st, &f, &fl, &how) == 0 && how == VINDEX_BUILT && vindex_n_vec(fl) == NV);
    int found = 0;
    for (int qi = 0; qi < 4; qi++) {
        size_t im[K];
        double sc[K];
        brute_max(x, N, NV, D, q + qi * D, K, im, sc);
        vindex_hit h[K], g[K];
        int nh, ng;
        CHECK(vindex_search(fl, q + qi * D, K, h, &nh) == 0 && nh == K);
        CHECK(vindex_search(vi, q + qi * D, K, g, &ng) == 0 && ng == K);
        for (int i = 0; i < K; i++) {
            CHECK(h[i].id == (uint64_t)im[i] + 1);
            CHECK_NEAR(h[i].score, sc[i], 1e-4);
            for (int j = 0; j < K; j++) found += g[i].id == (uint64_t)im[j] + 1;
        }
    }
    CHECK_MSG(found >= 4 * K * 9 / 10, "HNSW from the store found %d of %d", found, 4 * K);
    vindex_free(fl);
    vindex_free(vi);
    store_close(st);
    free(x); free(q);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

static int gone_first(const char *path, void *ctx) { return strcmp(path, (const char *)ctx) == 0; }

TEST(persisted_caught_up_rebuilt) {
    enum { D = 32 };
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/seer_test_vindex_XXXXXX");
    if (!mkdtemp(dir)) { CHECK(0); return; }
    float *x = clustered(700, D, 20, 0.3f);
    store *st;
    CHECK(store_open(dir, STORE_CREATE, &st) == 0);
    if (!st) return;
    vindex_params p;
    vindex_params_default(&p);
    p.kind = VINDEX_HNSW;
    vindex *vi;
    vindex_how how;
    /* an empty store gives an empty index */
    CHECK(vindex_load(st, &p, &vi, &how) == 0 && vindex_size(vi) == 0);
    vindex_hit h[5];
    int nh;
    float q[D] = {1};
    CHECK(vindex_search(vi, q, 5, h, &nh) == 0 && nh == 0);
    vindex_free(vi);
    CHECK(store_check_model(st, "m", D) == 0);

    store_record recs[700];
    char paths[700][32];
    for (int i = 0; i < 700; i++) {
        snprintf(paths[i], sizeof paths[i], "/v/%04d", i);
        memset(&recs[i], 0, sizeof recs[i]);
        recs[i].path = paths[i];
        store_hash_bytes(paths[i], strlen(paths[i]), recs[i].hash);
        recs[i].vector = x + (size_t)i * D;
        recs[i].format = "png";
    }
    CHECK(store_commit(st, 500, recs, NULL) == 0);
    CHECK_MSG(vindex_load(st, &p, &vi, &how) == 0, "%s", status_message());
    CHECK(how == VINDEX_REBUILT && vindex_size(vi) == 500 && vindex_generation(vi) == 1);
    vindex_free(vi);
    CHECK(vindex_load(st, &p, &vi, &how) == 0 && how == VINDEX_LOADED && vindex_size(vi) == 500);
    CHECK(vindex_search(vi, x + 123 * D, 5, h, &nh) == 0 && nh == 5 && h[0].id == 124);
    vindex_free(vi);

    CHECK(store_commit(st, 200, recs + 500, NULL) == 0);   /* additions only: catch up */
    CHECK(vindex_load(st, &p, &vi, &how) == 0 && how == VINDEX_CAUGHT_UP && vindex_size(vi) == 700);
    CHECK(vindex_generation(vi) == 2);
    CHECK(vindex_search(vi, x + 650 * D, 5, h, &nh) == 0 && h[0].id == 651);
    CHECK_NEAR(h[0].score, 1.0, 1e-4);
    vindex_free(vi);
    CHECK(vindex_load(st, &p, &vi, &how) == 0 && how == VINDEX_LOADED && vindex_size(vi) == 700);
    vindex_free(vi);

    uint64_t removed;
    CHECK(store_prune(st, gone_first, (void *)"/v/0010", &removed) == 0 && removed == 1);
    CHECK(vindex_load(st, &p, &vi, &how) == 0 && how == VINDEX_REBUILT && vindex_size(vi) == 699);
    CHECK(vindex_search(vi, x + 10 * D, 5, h, &nh) == 0 && h[0].id != 11);
    vindex_free(vi);

    /* flat from the store: exact, nothing persisted */
    vindex_params f;
    vindex_params_default(&f);
    CHECK(vindex_load(st, &f, &vi, &how) == 0 && how == VINDEX_BUILT && vindex_size(vi) == 699);
    CHECK(vindex_search(vi, x + 42 * D, 1, h, &nh) == 0 && h[0].id == 43);
    vindex_free(vi);
    store_close(st);

    /* a reader loads the persisted index */
    CHECK(store_open(dir, STORE_RDONLY, &st) == 0);
    CHECK(vindex_load(st, &p, &vi, &how) == 0 && how == VINDEX_LOADED && vindex_size(vi) == 699);
    vindex_free(vi);
    store_close(st);
    free(x);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

int main(void) {
    RUN(exact_equals_brute_force);
    RUN(exact_odd_shapes);
    RUN(exact_add_keeps_order);
    RUN(hnsw_recall_clustered);
    RUN(persisted_caught_up_rebuilt);
    RUN(multivec_exact_equals_brute_force);
    RUN(multivec_hnsw_recall);
    RUN(multivec_from_store);
    RUN(multivec_among_equals_brute_force);
    return test_summary();
}
