/* tests/test_search_multivec.c — a store of several vectors per image, end
 * to end, with the tiny BLIP-2 the repository carries (tests/data/blip2-tiny:
 * 4 query vectors of 8 per image) on the bundled samples/cifar10:
 *   ingest records the family and n_vec, every image's value is n_vec × dim;
 *   text search (exact) equals a brute-force max-over-queries ranking of the
 *   stored vectors, scores included, and HNSW finds nearly the same; a
 *   stored photo searched by file finds itself first (score 1);
 *   --rerank itm scores are ITC + the ITM head's match logit, computed here
 *   with embedder_itm, best first; a CLIP model is refused on this store;
 *   kill -9 in the middle of an ingest, then a re-run, ends with exactly the
 *   clean run's images and vectors. */
#include "test.h"

#include "ingest.h"
#include "search.h"
#include "status.h"
#include "store.h"
#include "vindex.h"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tmp[256], root[4200], model[4200], clip_dir[4200], db[400];
static embedder *emb;

static int run_ingest(const char *dir, ingest_stats *s) {
    store *st;
    int rc = store_open(dir, STORE_CREATE, &st);
    if (rc) return rc;
    rc = ingest_check_model(st, emb);
    ingest_opts o;
    ingest_opts_default(&o);
    o.roots = (const char *[]){root};
    o.n_roots = 1;
    if (!rc) rc = ingest_run(st, emb, &o, s);
    store_close(st);
    return rc;
}

/* Every stored value, for the brute force. */
typedef struct {
    int floats;
    size_t n;
    uint64_t ids[400];
    float *vecs;   /* (400, floats) */
} all_vecs;

static int grab(uint64_t id, const float *v, void *ctx) {
    all_vecs *a = ctx;
    if (a->n >= 400) return ST_INTERNAL;
    a->ids[a->n] = id;
    memcpy(a->vecs + a->n * (size_t)a->floats, v, (size_t)a->floats * sizeof *v);
    a->n++;
    return 0;
}

TEST(ingest_records_family_and_vectors) {
    ingest_stats s;
    CHECK_MSG(run_ingest(db, &s) == 0, "%s", status_message());
    CHECK_MSG(s.added == 300 && s.failed == 0, "added %llu", (unsigned long long)s.added);
    store *st;
    CHECK(store_open(db, STORE_RDONLY, &st) == 0);
    if (!st) return;
    store_model m;
    CHECK(store_get_model_info(st, &m) == 0);
    CHECK(strcmp(m.family, "blip2") == 0 && m.n_vec == emb->n_vec && m.dim == emb->dim && emb->n_vec > 1);
    CHECK(strcmp(m.identity, emb->identity) == 0);
    CHECK_MSG(store_verify(st) == 0, "%s", status_message());
    store_close(st);
}

TEST(text_search_is_the_max_over_queries) {
    store *st;
    CHECK(store_open(db, STORE_RDONLY, &st) == 0);
    if (!st) return;
    const int D = emb->dim, NV = emb->n_vec;
    all_vecs a = {.floats = D * NV, .vecs = malloc(400 * (size_t)D * NV * sizeof(float))};
    CHECK(store_foreach_vector(st, 0, grab, &a, NULL, NULL) == 0 && a.n == 300);
    vindex_params pf, ph;
    CHECK(search_index_params(st, "flat", &pf) == 0 && search_index_params(st, "hnsw", &ph) == 0);
    vindex *vf = NULL, *vh = NULL;
    CHECK(vindex_load(st, &pf, &vf, NULL) == 0 && vindex_load(st, &ph, &vh, NULL) == 0);
    if (!vf || !vh) { free(a.vecs); store_close(st); return; }
    CHECK(vindex_n_vec(vf) == NV && vindex_n_vec(vh) == NV);
    static const char *texts[] = {"a photo of a cat", "a red truck", "an airplane in the sky", "horse", "a small ship"};
    int found = 0, total = 0;
    for (int t = 0; t < 5; t++) {
        float q[256];
        CHECK(embedder_text(emb, texts[t], q) == 0);
        /* brute force over every stored vector: the image's max, best first */
        double sc[300];
        int order[300];
        for (size_t i = 0; i < a.n; i++) {
            double best = -1e30;
            for (int v = 0; v < NV; v++) {
                double d = 0;
                for (int j = 0; j < D; j++) d += (double)a.vecs[i * (size_t)a.floats + (size_t)v * D + j] * q[j];
                if (d > best) best = d;
            }
            sc[i] = best;
            order[i] = (int)i;
        }
        for (int i = 1; i < 300; i++)   /* insertion sort, best first */
            for (int j = i; j > 0 && sc[order[j]] > sc[order[j - 1]]; j--) { int x = order[j]; order[j] = order[j - 1]; order[j - 1] = x; }
        enum { K = 15 };
        searcher sf = {.emb = emb, .st = st, .vi = &vf}, sh = {.emb = emb, .st = st, .vi = &vh};
        search_query sq = search_query_default();
        sq.text = texts[t];
        sq.k = K;
        search_result rf, rh;
        CHECK(search_run(&sf, &sq, &rf) == 0 && rf.n == K);
        CHECK(search_run(&sh, &sq, &rh) == 0 && rh.n == K);
        for (int i = 0; i < rf.n && i < K; i++) {
            /* ties (equal maxima, to float rounding) may swap: compare scores
             * by rank, ids where the brute-force gap is clear */
            CHECK_NEAR(rf.hits[i].score, sc[order[i]], 1e-5);
            if ((i == 0 || sc[order[i - 1]] - sc[order[i]] > 1e-5) && (i == K - 1 || sc[order[i]] - sc[order[i + 1]] > 1e-5))
                CHECK_MSG(rf.hits[i].id == a.ids[order[i]], "'%s' rank %d: %llu vs %llu", texts[t], i,
                          (unsigned long long)rf.hits[i].id, (unsigned long long)a.ids[order[i]]);
            CHECK(rf.hits[i].found && rf.hits[i].itm == -1);
            for (int j = 0; j < K; j++) found += rh.hits[i].id == a.ids[order[j]];
            total++;
        }
        search_result_release(&rf);
        search_result_release(&rh);
    }
    printf("  HNSW recall@15 against the exact max: %.3f\n", (double)found / total);
    CHECK((double)found / total >= 0.9);
    vindex_free(vf);
    vindex_free(vh);
    free(a.vecs);
    store_close(st);
}

TEST(picture_finds_itself_and_itm_rerank) {
    store *st;
    CHECK(store_open(db, STORE_RDONLY, &st) == 0);
    if (!st) return;
    vindex_params p;
    vindex *vi = NULL;
    CHECK(search_index_params(st, "flat", &p) == 0 && vindex_load(st, &p, &vi, NULL) == 0);
    if (!vi) { store_close(st); return; }
    searcher sr = {.emb = emb, .st = st, .vi = &vi};
    char photo[4300];
    snprintf(photo, sizeof photo, "%s/horse/0003.jpg", root);
    search_query q = search_query_default();
    q.image_path = photo;
    q.k = 3;
    search_result r;
    CHECK_MSG(search_run(&sr, &q, &r) == 0 && r.n == 3, "%s", status_message());
    if (r.n) {
        CHECK(r.hits[0].found && strstr(r.hits[0].image.path, "horse/0003.jpg"));
        CHECK_NEAR(r.hits[0].score, 1.0, 1e-5);
    }
    search_result_release(&r);

    /* ITM re-ranking: each score = ITC + match logit, best first */
    search_query t = search_query_default();
    t.text = "a photo of a horse";
    t.k = 8;
    search_result plain, rr;
    CHECK(search_run(&sr, &t, &plain) == 0 && plain.n == 8);
    t.rerank = SEARCH_RERANK_ITM;
    CHECK_MSG(search_run(&sr, &t, &rr) == 0 && rr.n == 8, "%s", status_message());
    size_t plen = embedder_pixels_len(emb);
    float *pix = malloc(plen * sizeof *pix);
    for (int i = 0; i < rr.n; i++) {
        CHECK(rr.hits[i].itm >= 0 && rr.hits[i].itm <= 1);
        if (i) CHECK(rr.hits[i].score <= rr.hits[i - 1].score);
        float itc = -100;
        for (int j = 0; j < plain.n; j++)
            if (plain.hits[j].id == rr.hits[i].id) itc = plain.hits[j].score;
        CHECK_MSG(itc > -100, "re-ranked hit %llu is not one of the ITC top-k", (unsigned long long)rr.hits[i].id);
        float lg[2], prob;
        const char *txt = t.text;
        CHECK(embedder_pixels_file(emb, rr.hits[i].image.path, NULL, pix, NULL) == 0);
        CHECK(embedder_itm(emb, pix, 1, &txt, 1, lg, &prob) == 0);
        CHECK_NEAR(rr.hits[i].score, itc + lg[1], 1e-5);
        CHECK_NEAR(rr.hits[i].itm, prob, 1e-6);
    }
    free(pix);
    search_result_release(&plain);
    search_result_release(&rr);
    vindex_free(vi);
    store_close(st);
}

TEST(clip_refused) {
    embedder *clip;
    CHECK(embedder_load(clip_dir, EMBED_TEXT, &clip) == 0);
    if (!clip) return;
    store *st;
    CHECK(store_open(db, STORE_RDONLY, &st) == 0);
    if (st) {
        CHECK(ingest_check_model(st, clip) == ST_MISMATCH);
        CHECK_MSG(strstr(status_message(), "blip2") && strstr(status_message(), "clip"), "%s", status_message());
        store_close(st);
    }
    embedder_free(clip);
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* path → the same vectors in both stores (to float32 rounding: OpenBLAS's
 * blocking depends on the batch a row was in) */
typedef struct { store *a, *b; int floats, compared, mismatches; } pair_ctx;

static int cmp_vectors(const char *path, uint64_t id, void *ctx) {
    pair_ctx *c = ctx;
    static float x[4096], y[4096];
    store_path_info pi;
    if (store_get_vector(c->a, id, x) || store_lookup_path(c->b, path, &pi) || store_get_vector(c->b, pi.id, y)) {
        c->mismatches++;
        return 0;
    }
    c->compared++;
    for (int k = 0; k < c->floats; k++)
        if (fabsf(x[k] - y[k]) > 2e-6f) { c->mismatches++; break; }
    return 0;
}

TEST(kill9_resume) {
    char killed[400];
    snprintf(killed, sizeof killed, "%s/killed.db", tmp);
    /* the clean run's duration: this test's store was made by a clean run;
     * time another to choose when to kill */
    char clean2[400];
    snprintf(clean2, sizeof clean2, "%s/clean2.db", tmp);
    ingest_stats s;
    double t0 = now_s();
    CHECK(run_ingest(clean2, &s) == 0 && s.added == 300);
    const double clean_s = now_s() - t0;
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    for (int round = 0; round < 2; round++) {
        pid_t pid = fork();
        if (pid == 0) {
            ingest_stats cs;
            _exit(run_ingest(killed, &cs) ? 1 : 0);
        }
        const double at = clean_s * (0.1 + 0.8 * (rand() / (double)RAND_MAX));
        printf("  kill -9 after %.3f s of a %.3f s clean run\n", at, clean_s);
        usleep((useconds_t)(at * 1e6));
        kill(pid, SIGKILL);
        int wst;
        waitpid(pid, &wst, 0);
    }
    CHECK(run_ingest(killed, &s) == 0);
    store *a, *b;
    CHECK(store_open(db, STORE_RDONLY, &a) == 0);
    CHECK(store_open(killed, STORE_RDONLY, &b) == 0);
    if (!a || !b) { store_close(a); store_close(b); return; }
    store_counts cb;
    CHECK(store_counts_get(b, &cb) == 0);
    CHECK_MSG(cb.n_images == 300 && cb.n_paths == 300, "after kill -9 + re-run: %llu images", (unsigned long long)cb.n_images);
    CHECK_MSG(store_verify(b) == 0, "%s", status_message());
    store_model m;
    CHECK(store_get_model_info(b, &m) == 0 && m.n_vec == emb->n_vec && strcmp(m.family, "blip2") == 0);
    pair_ctx c = {b, a, emb->n_vec * emb->dim, 0, 0};
    CHECK(store_foreach_path(b, cmp_vectors, &c) == 0);
    CHECK_MSG(c.compared == 300 && c.mismatches == 0, "compared %d, mismatches %d", c.compared, c.mismatches);
    store_close(a);
    store_close(b);
}

int main(void) {
    const char *src = test_source();
    snprintf(root, sizeof root, "%s/samples/cifar10", src);
    snprintf(model, sizeof model, "%s/tests/data/blip2-tiny", src);
    snprintf(clip_dir, sizeof clip_dir, "%s/models/demo/clip", src);
    snprintf(tmp, sizeof tmp, "/tmp/seer-test-multivec-XXXXXX");
    if (!mkdtemp(tmp)) return 1;
    snprintf(db, sizeof db, "%s/b.db", tmp);
    if (embedder_load(model, EMBED_IMAGE | EMBED_TEXT, &emb)) {
        printf("cannot open %s: %s\n", model, status_message());
        return 1;
    }
    RUN(ingest_records_family_and_vectors);
    RUN(text_search_is_the_max_over_queries);
    RUN(picture_finds_itself_and_itm_rerank);
    RUN(clip_refused);
    RUN(kill9_resume);
    embedder_free(emb);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) printf("  could not remove %s\n", tmp);
    return test_summary();
}
