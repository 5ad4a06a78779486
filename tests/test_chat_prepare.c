/* tests/test_chat_prepare.c — preparing an image before the question
 * (chat_prepare, chat_prepare_start, model/pipeline/chat_cache.c) on the tiny
 * MoE-LLaVA fixtures of tests/data/vlm (StableLM + CLIP, Phi + SigLIP; see
 * tests/test_chat.c and tests/reference/moe_llava_vlm_ref.py).
 *
 * Checked: a prepared session (computed, or copied from the cache) gives the
 * same last-position logits as an unprepared one (the same lm_forward calls:
 * bit for bit; checked within 1e-6 of the largest logit) and the same greedy
 * and 3-beam answers, which are the reference's, and the same router counts
 * (the prepared prefix counted with the first answer); a question asked while the
 * preparation runs in the background waits for it and the tower runs once
 * (counted by the cache's claims and by the image callback); eviction under a
 * small budget; cancel before / during preparation leaves a session without
 * an image that still answers, and frees what was made (run under the ASan
 * build for the leak check); a cancelled wait. No ../shared needed. */
#include "test.h"

#include "chat.h"
#include "chat_cache.h"
#include "generate.h"
#include "image.h"
#include "jsonx.h"
#include "lm.h"
#include "status.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

typedef struct {
    json_t *root;
    char dir[1024], tower[1024];
    int32_t greedy[32], beam[32];
    int n_greedy, n_beam, vocab;
    const char *q1;
} reference;

static int ints(json_t *a, int32_t *out, int cap) {
    int n = (int)json_array_size(a);
    if (n > cap) n = cap;
    for (int i = 0; i < n; i++) out[i] = (int32_t)json_integer_value(json_array_get(a, i));
    return n;
}

static int ref_load(const char *name, reference *r) {
    memset(r, 0, sizeof *r);
    char path[1200];
    snprintf(r->dir, sizeof r->dir, "%s/tests/data/vlm/%s", test_source(), name);
    snprintf(path, sizeof path, "%s/reference.json", r->dir);
    if (jsonx_load(path, &r->root)) {
        CHECK_MSG(0, "%s", status_message());
        return -1;
    }
    snprintf(r->tower, sizeof r->tower, "%s/tests/data/vlm/towers/%s", test_source(), jsonx_str(r->root, "tower", ""));
    r->n_greedy = ints(json_object_get(r->root, "greedy"), r->greedy, 32);
    r->n_beam = ints(jsonx_path(r->root, "beam.ids"), r->beam, 32);
    r->vocab = (int)jsonx_int(r->root, "vocab", 0);
    r->q1 = jsonx_str(r->root, "question", "");
    return 0;
}

static chat_model *load_kv(const reference *r, int kv_f16) {
    chat_load_opts lo = chat_load_opts_default();
    lo.lm.kv_f16 = kv_f16;
    lo.vision_tower = r->tower;
    lo.max_ctx = 512;
    chat_model *cm = NULL;
    int st = chat_model_load(r->dir, &lo, &cm);
    CHECK_MSG(st == ST_OK, "%s", status_message());
    return cm;
}

static chat_model *load(const reference *r) { return load_kv(r, 0); }

static int load_image(image *img) {
    char path[1100];
    snprintf(path, sizeof path, "%s/tests/data/vlm/image.png", test_source());
    image_opts io = image_opts_default();
    int st = image_load(path, &io, img, NULL);
    CHECK_MSG(st == ST_OK, "%s", status_message());
    return st;
}

static int same_ids(const int32_t *a, int na, const int32_t *b, int nb) {
    if (na != nb) return 0;
    for (int i = 0; i < na; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

/* an image callback that counts its calls (= tower runs) */
typedef struct {
    const image *img;
    atomic_int calls;
    volatile int *cancel_on_call;   /* set this flag when called (cancel mid-preparation) */
} counted;

static int counted_fn(void *ctx, image *out) {
    counted *c = ctx;
    atomic_fetch_add(&c->calls, 1);
    if (c->cancel_on_call) *c->cancel_on_call = 1;
    return chat_image_copy_fn((void *)c->img, out);
}

static const uint8_t KEY1[16] = {1}, KEY2[16] = {2}, KEY3[16] = {3};

/* greedy + 3 beams + logits of the one-shot prompt, on cs as it is */
typedef struct {
    gen_result g, b;
    float *logits;
    uint32_t counts[4096];   /* router counts of the greedy answer */
    size_t n_counts;
} answers;

static int answer_all(chat_session *cs, const reference *r, answers *a) {
    memset(a, 0, sizeof *a);
    a->logits = malloc((size_t)r->vocab * sizeof(float));
    gen_opts o = gen_opts_default();
    o.sampling.temperature = 0;
    o.max_tokens = 8;
    int st = chat_ask(cs, r->q1, &o, &a->g);
    if (!st) {
        const uint32_t *c = chat_router_counts(cs, &a->n_counts);
        if (a->n_counts > 4096) a->n_counts = 4096;
        memcpy(a->counts, c, a->n_counts * sizeof *c);
    }
    o.num_beams = 3;
    if (!st) st = chat_regenerate(cs, &o, &a->b);
    int32_t *ids = NULL;
    int n = 0;
    if (!st) st = chat_prompt_logits(cs, r->q1, &ids, &n, a->logits);
    free(ids);
    CHECK_MSG(st == ST_OK, "%s", status_message());
    return st;
}

static void answers_free(answers *a) {
    gen_result_release(&a->g);
    gen_result_release(&a->b);
    free(a->logits);
}

static void compare(const char *what, const reference *r, const answers *x, const answers *y) {
    float amax = 0, dmax = 0;
    for (int i = 0; i < r->vocab; i++) {
        amax = fmaxf(amax, fabsf(x->logits[i]));
        dmax = fmaxf(dmax, fabsf(x->logits[i] - y->logits[i]));
    }
    CHECK_MSG(dmax <= 1e-6f * amax, "%s: logits max |diff| %g of %g", what, dmax, amax);
    CHECK_MSG(same_ids(x->g.ids, x->g.n, y->g.ids, y->g.n), "%s: greedy answers differ", what);
    CHECK_MSG(same_ids(x->b.ids, x->b.n, y->b.ids, y->b.n), "%s: 3-beam answers differ", what);
    CHECK_MSG(x->n_counts == y->n_counts && !memcmp(x->counts, y->counts, x->n_counts * sizeof *x->counts),
              "%s: router counts differ", what);
    printf("  %s: logits max |diff| %g of %g; greedy %d tokens, beams %d tokens: same\n", what, dmax, amax, y->g.n,
           y->b.n);
}

static void prepared_same(const char *name) {
    reference r;
    image img = {0};
    if (ref_load(name, &r) || load_image(&img)) return;
    chat_model *cm = load(&r);
    chat_cache *cc = NULL;
    CHECK(chat_cache_new((size_t)64 << 20, &cc) == ST_OK);
    if (!cm || !cc) goto out;
    chat_session *a = chat_session_new(cm), *b = chat_session_new(cm), *c = chat_session_new(cm);
    answers plain, prep, copy;
    counted cf = {&img, 0, NULL};
    int how = -1;
    CHECK(chat_set_image(a, &img) == ST_OK);
    if (answer_all(a, &r, &plain)) goto sessions;
    CHECK_MSG(same_ids(plain.g.ids, plain.g.n, r.greedy, r.n_greedy), "%s: greedy is not the reference's", name);
    CHECK_MSG(same_ids(plain.b.ids, plain.b.n, r.beam, r.n_beam), "%s: beams are not the reference's", name);
    /* computed */
    CHECK_MSG(chat_prepare(b, cc, KEY1, counted_fn, &cf, NULL, &how) == ST_OK, "%s", status_message());
    CHECK(how == CHAT_PREP_RAN);
    CHECK(chat_is_prepared(b, KEY1));
    if (!answer_all(b, &r, &prep)) {
        compare("prepared (computed)", &r, &plain, &prep);
        answers_free(&prep);
    }
    /* copied from the cache: no tower run */
    CHECK(chat_prepare(c, cc, KEY1, counted_fn, &cf, NULL, &how) == ST_OK);
    CHECK(how == CHAT_PREP_CACHE);
    if (!answer_all(c, &r, &copy)) {
        compare("prepared (from the cache)", &r, &plain, &copy);
        answers_free(&copy);
    }
    /* again on a session that has it: nothing to do */
    CHECK(chat_prepare(c, cc, KEY1, counted_fn, &cf, NULL, &how) == ST_OK);
    CHECK(how == CHAT_PREP_SESSION);
    CHECK_MSG(atomic_load(&cf.calls) == 1, "the tower ran %d times", atomic_load(&cf.calls));
    chat_cache_stats st;
    chat_cache_stats_get(cc, &st);
    CHECK(st.claims == 1 && st.hits == 1 && st.entries == 1 && st.bytes > 0);
    answers_free(&plain);
sessions:
    chat_session_free(a), chat_session_free(b), chat_session_free(c);
out:
    chat_cache_free(cc);
    chat_model_free(cm);
    image_release(&img);
    json_decref(r.root);
}

/* The F16 KV cache (lm_opts.kv_f16) through the prepared-image cache: the
 * copy answers exactly as the session that computed it, the greedy answer is
 * still the reference's, and the entry's bytes count the KV at 2 bytes a
 * value (less than the float32 entry's). */
static void prepared_f16(const char *name) {
    reference r;
    image img = {0};
    if (ref_load(name, &r) || load_image(&img)) return;
    chat_model *cm = load_kv(&r, 1), *cm32 = load_kv(&r, 0);
    chat_cache *cc = NULL, *cc32 = NULL;
    CHECK(chat_cache_new((size_t)64 << 20, &cc) == ST_OK && chat_cache_new((size_t)64 << 20, &cc32) == ST_OK);
    if (!cm || !cm32 || !cc || !cc32) goto out;
    chat_session *b = chat_session_new(cm), *c = chat_session_new(cm), *d = chat_session_new(cm32);
    answers prep, copy;
    counted cf = {&img, 0, NULL};
    int how = -1;
    CHECK_MSG(chat_prepare(b, cc, KEY1, counted_fn, &cf, NULL, &how) == ST_OK, "%s", status_message());
    CHECK(how == CHAT_PREP_RAN);
    if (answer_all(b, &r, &prep)) goto sessions;
    CHECK_MSG(same_ids(prep.g.ids, prep.g.n, r.greedy, r.n_greedy), "%s f16: greedy is not the reference's", name);
    CHECK(chat_prepare(c, cc, KEY1, counted_fn, &cf, NULL, &how) == ST_OK);
    CHECK(how == CHAT_PREP_CACHE);
    if (!answer_all(c, &r, &copy)) {
        compare("f16 KV, prepared (from the cache) vs computed", &r, &prep, &copy);
        answers_free(&copy);
    }
    CHECK(chat_prepare(d, cc32, KEY1, counted_fn, &cf, NULL, &how) == ST_OK);
    chat_cache_stats s16, s32;
    chat_cache_stats_get(cc, &s16);
    chat_cache_stats_get(cc32, &s32);
    printf("  %s: prepared entry %zu bytes with the F16 KV cache, %zu with F32\n", name, s16.bytes, s32.bytes);
    CHECK(s16.entries == 1 && s32.entries == 1 && s16.bytes < s32.bytes);
    answers_free(&prep);
sessions:
    chat_session_free(b), chat_session_free(c), chat_session_free(d);
out:
    chat_cache_free(cc), chat_cache_free(cc32);
    chat_model_free(cm), chat_model_free(cm32);
    image_release(&img);
    json_decref(r.root);
}

TEST(prepared_f16_stablelm_clip) { prepared_f16("stablelm-clip"); }

TEST(prepared_same_stablelm_clip) { prepared_same("stablelm-clip"); }
TEST(prepared_same_phi_siglip) { prepared_same("phi-siglip"); }

/* A question while the image is prepared in the background: on the same
 * session (chat_ask waits for the thread) and on another session through the
 * cache (waits for the claim). One tower run in all. */
TEST(prepare_races_question) {
    reference r;
    image img = {0};
    if (ref_load("stablelm-clip", &r) || load_image(&img)) return;
    chat_model *cm = load(&r);
    chat_cache *cc = NULL;
    CHECK(chat_cache_new((size_t)64 << 20, &cc) == ST_OK);
    if (!cm || !cc) goto out;
    chat_session *a = chat_session_new(cm), *b = chat_session_new(cm);
    gen_opts o = gen_opts_default();
    o.sampling.temperature = 0;
    o.max_tokens = 8;
    gen_result g;
    /* same session: the question is asked at once, it waits */
    CHECK(chat_prepare_start(a, cc, KEY1, &img, NULL, 0) == ST_OK);
    int st = chat_ask(a, r.q1, &o, &g);
    CHECK_MSG(st == ST_OK, "%s", status_message());
    if (!st) {
        CHECK_MSG(same_ids(g.ids, g.n, r.greedy, r.n_greedy), "answer after a racing preparation differs");
        gen_result_release(&g);
    }
    chat_cache_stats s1;
    chat_cache_stats_get(cc, &s1);
    CHECK_MSG(s1.claims == 1 && s1.entries == 1, "claims %llu entries %d", s1.claims, s1.entries);
    /* another session, another key: prepare in the background on a, and
     * b's question (through the cache) waits for a's claim or finds it done */
    counted cf = {&img, 0, NULL};
    CHECK(chat_prepare_start(a, cc, KEY2, &img, NULL, 0) == ST_OK);
    int how = -1;
    for (int i = 0; i < 200; i++) { /* let a's thread claim the key first (normally at once) */
        chat_cache_stats x;
        chat_cache_stats_get(cc, &x);
        if (x.claims == 2) break;
        usleep(5000);
    }
    st = chat_prepare(b, cc, KEY2, counted_fn, &cf, NULL, &how);
    CHECK_MSG(st == ST_OK, "%s", status_message());
    CHECK_MSG(how == CHAT_PREP_CACHE, "the second session ran the tower itself (how %d)", how);
    CHECK(atomic_load(&cf.calls) == 0);
    if (!st && !(st = chat_ask(b, r.q1, &o, &g))) {
        CHECK(same_ids(g.ids, g.n, r.greedy, r.n_greedy));
        gen_result_release(&g);
    }
    CHECK(chat_prepare_wait(a) == ST_OK);
    chat_cache_stats s2;
    chat_cache_stats_get(cc, &s2);
    CHECK_MSG(s2.claims == 2 && s2.hits == 1, "claims %llu hits %llu", s2.claims, s2.hits);
    printf("  claims %llu (tower runs), hits %llu, waits %llu\n", s2.claims, s2.hits, s2.waits);
    chat_session_free(a), chat_session_free(b);
out:
    chat_cache_free(cc);
    chat_model_free(cm);
    image_release(&img);
    json_decref(r.root);
}

TEST(eviction_small_budget) {
    reference r;
    image img = {0};
    if (ref_load("stablelm-clip", &r) || load_image(&img)) return;
    chat_model *cm = load(&r);
    chat_cache *probe = NULL, *cc = NULL, *none = NULL;
    if (!cm) goto out;
    chat_session *a = chat_session_new(cm);
    counted cf = {&img, 0, NULL};
    /* one entry's size */
    chat_cache_stats st;
    CHECK(chat_cache_new((size_t)64 << 20, &probe) == ST_OK);
    CHECK(chat_prepare(a, probe, KEY3, counted_fn, &cf, NULL, NULL) == ST_OK);
    chat_cache_stats_get(probe, &st);
    const size_t one = st.bytes;
    CHECK(one > 0);
    /* room for one and a half: the second image evicts the first */
    CHECK(chat_cache_new(one + one / 2, &cc) == ST_OK);
    CHECK(chat_prepare(a, cc, KEY1, counted_fn, &cf, NULL, NULL) == ST_OK);
    CHECK(chat_prepare(a, cc, KEY2, counted_fn, &cf, NULL, NULL) == ST_OK);
    chat_cache_stats_get(cc, &st);
    CHECK_MSG(st.entries == 1 && st.evictions == 1 && st.bytes <= st.budget, "entries %d evictions %llu bytes %zu",
              st.entries, st.evictions, st.bytes);
    int how = -1;
    CHECK(chat_prepare(a, cc, KEY1, counted_fn, &cf, NULL, &how) == ST_OK);   /* evicted: runs again */
    CHECK(how == CHAT_PREP_RAN);
    CHECK(atomic_load(&cf.calls) == 4);
    /* budget 0: nothing kept, preparing still works */
    CHECK(chat_cache_new(0, &none) == ST_OK);
    CHECK(chat_prepare(a, none, KEY2, counted_fn, &cf, NULL, &how) == ST_OK);
    chat_cache_stats_get(none, &st);
    CHECK(st.entries == 0 && st.bytes == 0 && st.preparing == 0);
    gen_opts o = gen_opts_default();
    o.sampling.temperature = 0;
    o.max_tokens = 8;
    gen_result g;
    if (!chat_ask(a, r.q1, &o, &g)) {
        CHECK(same_ids(g.ids, g.n, r.greedy, r.n_greedy));
        gen_result_release(&g);
    }
    chat_session_free(a);
out:
    chat_cache_free(probe), chat_cache_free(cc), chat_cache_free(none);
    chat_model_free(cm);
    image_release(&img);
    json_decref(r.root);
}

TEST(cancel_while_preparing) {
    reference r;
    image img = {0};
    if (ref_load("stablelm-clip", &r) || load_image(&img)) return;
    chat_model *cm = load(&r);
    chat_cache *cc = NULL;
    CHECK(chat_cache_new((size_t)64 << 20, &cc) == ST_OK);
    if (!cm || !cc) goto out;
    chat_session *a = chat_session_new(cm), *b = chat_session_new(cm);
    volatile int cancel = 0;
    counted cf = {&img, 0, &cancel};   /* cancels as the tower is about to run */
    int st = chat_prepare(a, cc, KEY1, counted_fn, &cf, &cancel, NULL);
    CHECK_MSG(st == ST_CANCELLED, "got %d", st);
    CHECK(!chat_is_prepared(a, KEY1));
    chat_cache_stats s;
    chat_cache_stats_get(cc, &s);
    CHECK(s.entries == 0 && s.preparing == 0 && s.abandoned == 1 && s.bytes == 0);
    /* a wait for someone else's preparation can be cancelled too */
    chat_cache_entry *e = NULL;
    int claimed = 0;
    CHECK(chat_cache_acquire(cc, KEY2, NULL, &e, &claimed) == ST_OK && claimed);
    cancel = 1;
    cf.cancel_on_call = NULL;
    CHECK(chat_prepare(b, cc, KEY2, counted_fn, &cf, &cancel, NULL) == ST_CANCELLED);
    chat_cache_abandon(cc, KEY2);
    /* in the background, cancelled at once or at some layer, or done first */
    CHECK(chat_prepare_start(a, cc, KEY1, &img, NULL, 0) == ST_OK);
    chat_prepare_cancel(a);
    chat_cache_stats_get(cc, &s);
    CHECK(s.preparing == 0);
    CHECK(!chat_is_prepared(a, KEY1));
    /* the session still answers (text only now), and prepares again */
    gen_opts o = gen_opts_default();
    o.sampling.temperature = 0;
    o.max_tokens = 4;
    gen_result g;
    st = chat_ask(a, r.q1, &o, &g);
    CHECK_MSG(st == ST_OK, "%s", status_message());
    if (!st) gen_result_release(&g);
    /* freeing a session while it prepares cancels and frees */
    CHECK(chat_prepare_start(b, cc, KEY2, &img, NULL, 0) == ST_OK);
    chat_session_free(b);
    chat_cache_stats_get(cc, &s);
    CHECK(s.preparing == 0);
    chat_session_free(a);
out:
    chat_cache_free(cc);
    chat_model_free(cm);
    image_release(&img);
    json_decref(r.root);
}

int main(void) {
    RUN(prepared_same_stablelm_clip);
    RUN(prepared_same_phi_siglip);
    RUN(prepared_f16_stablelm_clip);
    RUN(prepare_races_question);
    RUN(eviction_small_budget);
    RUN(cancel_while_preparing);
    return test_summary();
}
