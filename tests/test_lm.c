/* tests/test_lm.c — the MoE language-model engine (model/lm.c) against the
 * PyTorch reference of tests/reference/moe_llava_ref.py (tiny random
 * StableLM / Qwen / Phi MoE checkpoints in tests/data/moe/), plus the KV-cache
 * contract, Q8, Gumbel routing, bad inputs, and the typed linear kernels
 * against a naive reference. */
#include "test.h"

#include "checkpoint.h"
#include "jsonx.h"
#include "linear.h"
#include "lm.h"
#include "qgemm.h"
#include "quant.h"
#include "status.h"
#include "tensor.h"

#include <float.h>
#include <stdint.h>
#include <unistd.h>

static const char *ARCHS[3] = {"stablelm", "qwen", "phi"};

typedef struct {
    json_t *root;
    int32_t prompt[64];
    int n_prompt, vocab, n_greedy;
    int32_t greedy[32];
    float *logits;   /* (n_prompt, vocab) */
} reference;

static void fixture_dir(char *buf, size_t cap, const char *arch) {
    snprintf(buf, cap, "%s/tests/data/moe/%s", test_source(), arch);
}

static int ref_load(const char *arch, reference *r) {
    char dir[1024], path[1100];
    fixture_dir(dir, sizeof dir, arch);
    snprintf(path, sizeof path, "%s/reference.json", dir);
    memset(r, 0, sizeof *r);
    if (jsonx_load(path, &r->root)) {
        CHECK_MSG(0, "%s", status_message());
        return -1;
    }
    json_t *p = json_object_get(r->root, "prompt"), *g = json_object_get(r->root, "greedy");
    r->n_prompt = (int)json_array_size(p);
    r->n_greedy = (int)json_array_size(g);
    for (int i = 0; i < r->n_prompt; i++) r->prompt[i] = (int32_t)json_integer_value(json_array_get(p, i));
    for (int i = 0; i < r->n_greedy; i++) r->greedy[i] = (int32_t)json_integer_value(json_array_get(g, i));
    r->vocab = (int)jsonx_int(r->root, "vocab", 0);
    json_t *lg = json_object_get(r->root, "logits");
    r->logits = malloc(json_array_size(lg) * sizeof(float));
    for (size_t i = 0; i < json_array_size(lg); i++) r->logits[i] = (float)json_number_value(json_array_get(lg, i));
    return 0;
}

static void ref_free(reference *r) {
    json_decref(r->root);
    free(r->logits);
}

static lm_model *load_kv(const char *arch, lm_quant q, int sampling, uint64_t seed, int kv_f16) {
    char dir[1024];
    fixture_dir(dir, sizeof dir, arch);
    lm_opts o = lm_opts_default();
    o.quant = q, o.moe_sampling = sampling, o.seed = seed, o.kv_f16 = kv_f16;
    o.exact = 1; /* BF16 weights × float32 x: the path the references check (bf16_dots_agree: the other) */
    lm_model *m = NULL;
    int st = lm_load(dir, &o, &m);
    CHECK_MSG(st == 0, "%s: %s", arch, status_message());
    return m;
}

static lm_model *load(const char *arch, lm_quant q, int sampling, uint64_t seed) {
    return load_kv(arch, q, sampling, seed, 0);
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

/* max |a - b| / max |b| over n */
static double rel_err(const float *a, const float *b, size_t n) {
    double d = 0, mx = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (e > d) d = e;
        if (fabs(b[i]) > mx) mx = fabs(b[i]);
    }
    return d / (mx > 0 ? mx : 1);
}

/* ------------------------------------------------------------------ reference */

static void check_reference(const char *arch) {
    reference r;
    if (ref_load(arch, &r)) return;
    lm_model *m = load(arch, LM_QUANT_NONE, 0, 0);
    if (!m) {
        ref_free(&r);
        return;
    }
    const lm_config *c = lm_get_config(m);
    CHECK(lm_vocab(m) == r.vocab);
    const int n_moe = (int)json_array_size(json_object_get(r.root, "moe_layers"));
    CHECK(c->n_moe_layers == n_moe);
    if (n_moe) CHECK(c->n_experts == 4 && c->top_k == 2);
    const int V = r.vocab, P = r.n_prompt;
    lm_state *s = lm_state_new(m, 64);
    float *all = malloc((size_t)P * V * sizeof(float));
    int st = lm_forward_all(m, s, r.prompt, NULL, P, NULL, all);
    CHECK_MSG(st == 0, "%s", status_message());
    double e = rel_err(all, r.logits, (size_t)P * V);
    printf("  %s: all-position logits, max rel err %.2e\n", arch, e);
    CHECK_MSG(e <= 1e-3, "%s logits rel err %.3g", arch, e);

    /* routes of the prompt, per MoE layer and token */
    int nr = 0;
    const int32_t *routes = lm_state_routes(s, &nr);
    CHECK(nr == P);
    json_t *jr = json_object_get(r.root, "routes"), *jall = json_object_get(r.root, "routes_all");
    int bad = 0;
    for (int k = 0; k < c->n_moe_layers; k++) {
        char key[16];
        snprintf(key, sizeof key, "%d", c->moe_layers[k]);
        json_t *lay = json_object_get(jr, key);
        CHECK(json_array_size(lay) == (size_t)P);
        for (int i = 0; i < P; i++)
            for (int j = 0; j < 2; j++)
                bad += routes[(k * P + i) * 2 + j] != json_integer_value(json_array_get(json_array_get(lay, i), j));
    }
    CHECK_MSG(bad == 0, "%s: %d prompt routing decisions differ", arch, bad);

    /* greedy continuation with the KV cache; routes of each decode step */
    float *lg = malloc((size_t)V * sizeof(float));
    memcpy(lg, all + (size_t)(P - 1) * V, (size_t)V * sizeof(float));
    int gen[32], bad_routes = 0;
    for (int t = 0; t < r.n_greedy; t++) {
        gen[t] = argmax(lg, V);
        if (t + 1 == r.n_greedy) break;
        int32_t tok = gen[t];
        CHECK(lm_forward(m, s, &tok, NULL, 1, NULL, lg) == 0);
        const int32_t *rt = lm_state_routes(s, &nr);
        for (int k = 0; k < c->n_moe_layers; k++) {
            char key[16];
            snprintf(key, sizeof key, "%d", c->moe_layers[k]);
            json_t *row = json_array_get(json_object_get(jall, key), (size_t)(P + t));
            for (int j = 0; j < 2; j++) bad_routes += rt[k * 2 + j] != json_integer_value(json_array_get(row, j));
        }
    }
    int same = 1;
    for (int t = 0; t < r.n_greedy; t++) same &= gen[t] == r.greedy[t];
    CHECK_MSG(same, "%s: greedy tokens differ from the reference", arch);
    CHECK_MSG(bad_routes == 0, "%s: %d decode routing decisions differ", arch, bad_routes);
    printf("  %s: greedy %s (%d tokens), routes of %d prompt + %d decode positions match\n", arch,
           same ? "identical" : "DIFFERENT", r.n_greedy, P, r.n_greedy - 1);
    free(lg);
    free(all);
    lm_state_free(s);
    lm_free(m);
    ref_free(&r);
}

TEST(reference_stablelm) { check_reference("stablelm"); }
TEST(reference_qwen) { check_reference("qwen"); }
TEST(reference_phi) { check_reference("phi"); }
TEST(reference_phi_dense) { check_reference("phi_dense"); }   /* model_type "phi", no MoE */

/* ------------------------------------------------------------------ cache */

TEST(prefill_equals_decode) {
    for (int a = 0; a < 3; a++) {
        reference r;
        if (ref_load(ARCHS[a], &r)) continue;
        lm_model *m = load(ARCHS[a], LM_QUANT_NONE, 0, 0);
        if (!m) {
            ref_free(&r);
            continue;
        }
        const int V = r.vocab, P = r.n_prompt;
        lm_state *s1 = lm_state_new(m, 32), *s2 = lm_state_new(m, 32), *s3 = lm_state_new(m, 32);
        float *l1 = malloc(V * sizeof(float)), *l2 = malloc(V * sizeof(float)), *l3 = malloc(V * sizeof(float));
        CHECK(lm_forward(m, s1, r.prompt, NULL, P, NULL, l1) == 0);
        for (int i = 0; i < P; i++) CHECK(lm_forward(m, s2, r.prompt + i, NULL, 1, NULL, l2) == 0);
        CHECK(lm_forward(m, s3, r.prompt, NULL, 5, NULL, NULL) == 0);
        CHECK(lm_forward(m, s3, r.prompt + 5, NULL, P - 5, NULL, l3) == 0);
        CHECK(lm_state_pos(s1) == P && lm_state_pos(s2) == P && lm_state_pos(s3) == P);
        double e2 = rel_err(l2, l1, V), e3 = rel_err(l3, l1, V);
        printf("  %s: one call vs token by token %.2e, vs 5 + %d chunks %.2e\n", ARCHS[a], e2, P - 5, e3);
        CHECK(e2 <= 1e-5 && e3 <= 1e-5);
        /* embeds in place of ids: the same numbers */
        lm_state *s4 = lm_state_new(m, 32);
        float *emb = malloc((size_t)P * lm_hidden(m) * sizeof(float));
        CHECK(lm_embed(m, r.prompt, P, emb) == 0);
        CHECK(lm_forward(m, s4, NULL, emb, P, NULL, l2) == 0);
        CHECK(rel_err(l2, l1, V) == 0.0);
        free(emb);
        lm_state_free(s4);
        free(l1), free(l2), free(l3);
        lm_state_free(s1), lm_state_free(s2), lm_state_free(s3);
        lm_free(m);
        ref_free(&r);
    }
}

TEST(truncate_and_copy) {
    reference r;
    if (ref_load("phi", &r)) return;
    lm_model *m = load("phi", LM_QUANT_NONE, 0, 0);
    if (!m) {
        ref_free(&r);
        return;
    }
    const int V = r.vocab, P = r.n_prompt;
    lm_state *s = lm_state_new(m, 32), *t = lm_state_new(m, 32);
    float *a = malloc(V * sizeof(float)), *b = malloc(V * sizeof(float));
    CHECK(lm_forward(m, s, r.prompt, NULL, P, NULL, a) == 0);
    CHECK(lm_state_copy(t, s) == 0);
    CHECK(lm_state_pos(t) == P);
    /* rewind 4 positions and feed a different token: then back to the prompt */
    lm_state_truncate(s, P - 4);
    CHECK(lm_state_pos(s) == P - 4);
    int32_t other = 5;
    CHECK(lm_forward(m, s, &other, NULL, 1, NULL, b) == 0);
    CHECK(rel_err(b, a, V) > 1e-3);
    lm_state_truncate(s, P - 4);
    CHECK(lm_forward(m, s, r.prompt + P - 4, NULL, 4, NULL, b) == 0);
    CHECK(rel_err(b, a, V) <= 1e-5);
    /* the copy decodes like the original */
    int32_t next = argmax(a, V);
    CHECK(lm_forward(m, s, &next, NULL, 1, NULL, a) == 0);
    CHECK(lm_forward(m, t, &next, NULL, 1, NULL, b) == 0);
    CHECK(rel_err(b, a, V) <= 1e-6);
    lm_state_truncate(s, 1000);   /* never grows */
    CHECK(lm_state_pos(s) == P + 1);
    lm_state *u = lm_state_new(m, P);
    CHECK(lm_state_copy(u, s) == ST_ARG);   /* too small for the P + 1 positions */
    lm_state_free(u);
    u = lm_state_new(m, P + 1);             /* smaller than s, large enough: fine */
    CHECK(lm_state_copy(u, s) == 0);
    CHECK(lm_forward(m, u, &next, NULL, 1, NULL, b) == ST_ARG); /* and full */
    lm_state_free(u);
    free(a), free(b);
    lm_state_free(s), lm_state_free(t);
    lm_free(m);
    ref_free(&r);
}

/* ------------------------------------------------------------------ F16 KV cache */

/* lm_opts.kv_f16 against the float32 cache on each fixture: every prompt
 * position's logits (the prompt's own K/V rows are read back from F16) and
 * the greedy continuation, which must be the same tokens. Measured max
 * |logit difference| / max |logit| (docs/benchmarks.md "F16 KV cache"):
 * stablelm 4.1e-4, qwen 6.4e-4, phi 1.7e-4, phi_dense 1.5e-4; the bound
 * 2e-3 is 3x the worst. */
TEST(kv_f16_agrees) {
    const char *archs[4] = {"stablelm", "qwen", "phi", "phi_dense"};
    for (int a = 0; a < 4; a++) {
        reference r;
        if (ref_load(archs[a], &r)) continue;
        lm_model *m32 = load_kv(archs[a], LM_QUANT_NONE, 0, 0, 0), *m16 = load_kv(archs[a], LM_QUANT_NONE, 0, 0, 1);
        if (!m32 || !m16) {
            lm_free(m32), lm_free(m16);
            ref_free(&r);
            continue;
        }
        CHECK(lm_kv_bytes(m16, 10) * 2 == lm_kv_bytes(m32, 10));
        const lm_config *c = lm_get_config(m32);
        const int V = r.vocab, P = r.n_prompt;
        lm_state *s32 = lm_state_new(m32, 64), *s16 = lm_state_new(m16, 64);
        float *a32 = malloc((size_t)P * V * sizeof(float)), *a16 = malloc((size_t)P * V * sizeof(float));
        CHECK(lm_forward_all(m32, s32, r.prompt, NULL, P, NULL, a32) == 0);
        CHECK(lm_forward_all(m16, s16, r.prompt, NULL, P, NULL, a16) == 0);
        double e = rel_err(a16, a32, (size_t)P * V), dmax = 0;
        for (size_t i = 0; i < (size_t)P * V; i++) dmax = fmax(dmax, fabs((double)a16[i] - a32[i]));
        /* greedy: each path decodes its own tokens */
        float *l32 = malloc((size_t)V * sizeof(float)), *l16 = malloc((size_t)V * sizeof(float));
        memcpy(l32, a32 + (size_t)(P - 1) * V, (size_t)V * sizeof(float));
        memcpy(l16, a16 + (size_t)(P - 1) * V, (size_t)V * sizeof(float));
        int same = 0;
        for (int t = 0; t < r.n_greedy; t++) {
            int32_t t32 = argmax(l32, V), t16 = argmax(l16, V);
            same += t32 == t16;
            double ed = rel_err(l16, l32, V);
            if (ed > e) e = ed;
            for (int i = 0; i < V; i++) dmax = fmax(dmax, fabs((double)l16[i] - l32[i]));
            if (t + 1 == r.n_greedy) break;
            CHECK(lm_forward(m32, s32, &t32, NULL, 1, NULL, l32) == 0);
            CHECK(lm_forward(m16, s16, &t16, NULL, 1, NULL, l16) == 0);
        }
        printf("  %s kv f16: greedy %d/%d same, max |logit diff| %.3e (rel to max |logit| %.2e), "
               "KV %zu -> %zu bytes per position (%zu -> %zu per token per layer)\n",
               archs[a], same, r.n_greedy, dmax, e, lm_kv_bytes(m32, 1), lm_kv_bytes(m16, 1),
               lm_kv_bytes(m32, 1) / c->n_layers, lm_kv_bytes(m16, 1) / c->n_layers);
        CHECK_MSG(same == r.n_greedy, "%s: F16 KV greedy tokens differ (%d/%d)", archs[a], same, r.n_greedy);
        CHECK_MSG(e <= 2e-3, "%s: F16 KV logits rel err %.3g", archs[a], e);
        CHECK(e > 0); /* the cache really is rounded */
        free(a32), free(a16), free(l32), free(l16);
        lm_state_free(s32), lm_state_free(s16);
        lm_free(m32), lm_free(m16);
        ref_free(&r);
    }
}

/* The cache contract in F16: chunked prefill, truncate-and-refeed and
 * lm_state_copy give the numbers of one call / of the original. */
TEST(kv_f16_truncate_and_copy) {
    reference r;
    if (ref_load("qwen", &r)) return;
    lm_model *m = load_kv("qwen", LM_QUANT_NONE, 0, 0, 1);
    if (!m) {
        ref_free(&r);
        return;
    }
    const int V = r.vocab, P = r.n_prompt;
    lm_state *s = lm_state_new(m, 32), *t = lm_state_new(m, 32), *w = lm_state_new(m, 32);
    float *a = malloc(V * sizeof(float)), *b = malloc(V * sizeof(float));
    CHECK(lm_forward(m, s, r.prompt, NULL, P, NULL, a) == 0);
    CHECK(lm_forward(m, w, r.prompt, NULL, 5, NULL, NULL) == 0);
    CHECK(lm_forward(m, w, r.prompt + 5, NULL, P - 5, NULL, b) == 0);
    /* the float32 path differs by ~1e-5 between chunkings (summation order);
     * that flips a few F16 roundings of K/V, so the F16 bound (measured
     * 1.9e-4 on qwen) is the F16-vs-F32 one */
    const double ec = rel_err(b, a, V);
    printf("  qwen kv f16: one call vs 5 + %d chunks %.2e\n", P - 5, ec);
    CHECK_MSG(ec <= 2e-3, "chunked prefill rel err %.3g", ec);
    lm_state_truncate(s, P - 4);
    int32_t other = 5;
    CHECK(lm_forward(m, s, &other, NULL, 1, NULL, b) == 0);
    CHECK(rel_err(b, a, V) > 1e-3);
    lm_state_truncate(s, P - 4);
    CHECK(lm_forward(m, s, r.prompt + P - 4, NULL, 4, NULL, b) == 0);
    CHECK(rel_err(b, a, V) <= 2e-3);
    /* a copy answers exactly as its source (copied after the re-feed: the
     * re-fed rows may round differently to F16 than the first ones did) */
    CHECK(lm_state_copy(t, s) == 0);
    CHECK(lm_state_pos(t) == P);
    int32_t next = argmax(a, V);
    CHECK(lm_forward(m, s, &next, NULL, 1, NULL, a) == 0);
    CHECK(lm_forward(m, t, &next, NULL, 1, NULL, b) == 0);
    CHECK(rel_err(b, a, V) <= 1e-6);
    lm_state *u = lm_state_new(m, P + 1);   /* a smaller state: the per-layer strides differ */
    CHECK(lm_state_copy(u, s) == 0);
    CHECK(lm_state_pos(u) == P + 1);
    lm_state_truncate(u, P);
    lm_state_truncate(t, P);
    CHECK(lm_forward(m, u, &next, NULL, 1, NULL, a) == 0);
    CHECK(lm_forward(m, t, &next, NULL, 1, NULL, b) == 0);
    CHECK(rel_err(b, a, V) <= 1e-6);
    lm_state_free(u);
    free(a), free(b);
    lm_state_free(s), lm_state_free(t), lm_state_free(w);
    lm_free(m);
    ref_free(&r);
}

TEST(router_counts) {
    reference r;
    if (ref_load("stablelm", &r)) return;
    lm_model *m = load("stablelm", LM_QUANT_NONE, 0, 0);
    if (!m) {
        ref_free(&r);
        return;
    }
    const lm_config *c = lm_get_config(m);
    const int P = r.n_prompt;
    uint8_t kinds[64];
    for (int i = 0; i < P; i++) kinds[i] = i >= 2 && i < 7 ? LM_TOK_IMAGE : LM_TOK_TEXT;
    lm_state *s = lm_state_new(m, 32);
    CHECK(lm_forward(m, s, r.prompt, NULL, P, kinds, NULL) == 0);
    int32_t tok = 3;
    uint8_t gen = LM_TOK_GEN;
    CHECK(lm_forward(m, s, &tok, NULL, 1, &gen, NULL) == 0);
    size_t len;
    const uint32_t *cnt = lm_state_router_counts(s, &len);
    CHECK(len == (size_t)c->n_moe_layers * c->n_experts * LM_TOK_KINDS);
    for (int l = 0; l < c->n_moe_layers; l++) {
        uint32_t per[LM_TOK_KINDS] = {0};
        for (int e = 0; e < c->n_experts; e++)
            for (int k = 0; k < LM_TOK_KINDS; k++) per[k] += cnt[(l * c->n_experts + e) * LM_TOK_KINDS + k];
        CHECK(per[LM_TOK_TEXT] == 2 * (P - 5) && per[LM_TOK_IMAGE] == 2 * 5 && per[LM_TOK_GEN] == 2);
    }
    lm_state_router_reset(s);
    cnt = lm_state_router_counts(s, &len);
    uint32_t sum = 0;
    for (size_t i = 0; i < len; i++) sum += cnt[i];
    CHECK(sum == 0);
    lm_state_free(s);
    lm_free(m);
    ref_free(&r);
}

/* ------------------------------------------------------------------ q8, gumbel */

TEST(q8_agrees) {
    for (int a = 0; a < 3; a++) {
        reference r;
        if (ref_load(ARCHS[a], &r)) continue;
        lm_model *m = load(ARCHS[a], LM_QUANT_Q8, 0, 0);
        if (!m) {
            ref_free(&r);
            continue;
        }
        const int V = r.vocab, P = r.n_prompt;
        size_t total_q, total_f;
        lm_weight_bytes(m, &total_q);
        lm_model *mf = load(ARCHS[a], LM_QUANT_NONE, 0, 0);
        lm_weight_bytes(mf, &total_f);
        lm_free(mf);
        /* prefill (dequantised W, float x): top-1 per prompt position */
        lm_state *s = lm_state_new(m, 32);
        float *all = malloc((size_t)P * V * sizeof(float));
        CHECK(lm_forward_all(m, s, r.prompt, NULL, P, NULL, all) == 0);
        int agree = 0;
        for (int i = 0; i < P; i++) agree += argmax(all + (size_t)i * V, V) == argmax(r.logits + (size_t)i * V, V);
        double e = rel_err(all, r.logits, (size_t)P * V);
        /* decode (int8 x int8 dots), teacher-forced on the reference greedy tokens */
        float *lg = malloc(V * sizeof(float));
        memcpy(lg, all + (size_t)(P - 1) * V, V * sizeof(float));
        int dec_agree = 0;
        for (int t = 0; t < r.n_greedy; t++) {
            dec_agree += argmax(lg, V) == r.greedy[t];
            CHECK(lm_forward(m, s, &r.greedy[t], NULL, 1, NULL, lg) == 0);
        }
        printf("  %s q8: prompt top-1 %d/%d, decode top-1 %d/%d, logits rel err %.3f, weights %zu -> %zu bytes\n",
               ARCHS[a], agree, P, dec_agree, r.n_greedy, e, total_f, total_q);
        CHECK(agree >= P * 3 / 4 && dec_agree >= r.n_greedy * 3 / 4);
        free(lg);
        free(all);
        lm_state_free(s);
        lm_free(m);
        ref_free(&r);
    }
}

/* The default BF16 path on a CPU with AVX512-BF16 rounds x to bfloat16 and
 * runs vdpbf16ps: on the BF16 StableLM fixture its logits stay within 2% of
 * the largest reference logit (measured 0.4%) and its greedy tokens are the
 * reference's. Elsewhere the default is the exact path and the same bounds
 * hold trivially. */
TEST(bf16_dots_agree) {
    reference r;
    if (ref_load("stablelm", &r)) return;
    char dir[1024];
    fixture_dir(dir, sizeof dir, "stablelm");
    lm_opts o = lm_opts_default();
    lm_model *m = NULL;
    CHECK_MSG(lm_load(dir, &o, &m) == 0, "%s", status_message());
    if (!m) {
        ref_free(&r);
        return;
    }
    const int V = r.vocab, P = r.n_prompt;
    lm_state *s = lm_state_new(m, 64);
    float *all = malloc((size_t)P * V * sizeof(float)), *lg = malloc((size_t)V * sizeof(float));
    CHECK(lm_forward_all(m, s, r.prompt, NULL, P, NULL, all) == 0);
    const double e = rel_err(all, r.logits, (size_t)P * V);
    memcpy(lg, all + (size_t)(P - 1) * V, (size_t)V * sizeof(float));
    int same = 1;
    for (int t = 0; t < r.n_greedy; t++) {
        int32_t tok = argmax(lg, V);
        same &= tok == r.greedy[t];
        if (t + 1 < r.n_greedy) CHECK(lm_forward(m, s, &tok, NULL, 1, NULL, lg) == 0);
    }
    printf("  stablelm bf16 (%s): logits max rel err %.2e, greedy %s\n",
           qgemm_bf16_best() == QGEMM_AVX512 ? "AVX512-BF16 dots" : "float32 path", e, same ? "identical" : "DIFFERENT");
    CHECK_MSG(e <= 2e-2, "bf16 logits rel err %.3g", e);
    CHECK(same);
    free(all), free(lg);
    lm_state_free(s);
    lm_free(m);
    ref_free(&r);
}

TEST(gumbel_reproducible) {
    reference r;
    if (ref_load("qwen", &r)) return;
    const int V = r.vocab, P = r.n_prompt;
    lm_model *m1 = load("qwen", LM_QUANT_NONE, 1, 42), *m2 = load("qwen", LM_QUANT_NONE, 1, 42);
    lm_model *m3 = load("qwen", LM_QUANT_NONE, 1, 43), *md = load("qwen", LM_QUANT_NONE, 0, 0);
    if (!m1 || !m2 || !m3 || !md) goto out;
    const lm_config *c = lm_get_config(md);
    const size_t nr = (size_t)c->n_moe_layers * P * 2;
    int32_t *r1 = malloc(nr * 4), *r2 = malloc(nr * 4), *r3 = malloc(nr * 4), *rd = malloc(nr * 4);
    float *l1 = malloc(V * 4), *l2 = malloc(V * 4);
    lm_model *ms[4] = {m1, m2, m3, md};
    int32_t *rs[4] = {r1, r2, r3, rd};
    for (int k = 0; k < 4; k++) {
        lm_state *s = lm_state_new(ms[k], 32);
        CHECK(lm_forward(ms[k], s, r.prompt, NULL, P, NULL, k == 0 ? l1 : k == 1 ? l2 : NULL) == 0);
        memcpy(rs[k], lm_state_routes(s, NULL), nr * 4);
        lm_state_free(s);
    }
    CHECK(memcmp(r1, r2, nr * 4) == 0);
    CHECK(memcmp(l1, l2, V * 4) == 0);
    int diff13 = 0, diffd = 0, first_same = 1;
    for (size_t i = 0; i < nr; i += 2) {
        diff13 += r1[i + 1] != r3[i + 1];
        diffd += r1[i + 1] != rd[i + 1];
        /* the first MoE layer's input does not depend on sampling */
        if (i < (size_t)P * 2) first_same &= r1[i] == rd[i] && r3[i] == rd[i];
    }
    printf("  gumbel: seed 42 vs 43 differ on %d of %zu 2nd choices; vs deterministic %d\n", diff13, nr / 2, diffd);
    CHECK(first_same);   /* the 1st expert is never sampled */
    CHECK(diffd > 0);
    CHECK(diff13 > 0);
    /* fresh noise per call: the same state, rewound, routes differently */
    lm_state *s = lm_state_new(m1, 32);
    int varied = 0;
    for (int it = 0; it < 4; it++) {
        lm_state_truncate(s, 0);
        CHECK(lm_forward(m1, s, r.prompt, NULL, P, NULL, NULL) == 0);
        varied += memcmp(lm_state_routes(s, NULL), r1, nr * 4) != 0;
    }
    CHECK(varied > 0);
    lm_state_free(s);
    free(r1), free(r2), free(r3), free(rd), free(l1), free(l2);
out:
    lm_free(m1), lm_free(m2), lm_free(m3), lm_free(md);
    ref_free(&r);
}

/* ------------------------------------------------------------------ bad input */

/* Write a safetensors file with the tensors of ck, skipping `drop` and
 * cutting one row off `shrink`. */
static int write_variant(const checkpoint *ck, const char *path, const char *drop, const char *shrink) {
    json_t *hdr = json_object();
    size_t off = 0, n = checkpoint_count(ck);
    size_t *len = calloc(n, sizeof *len);
    for (size_t i = 0; i < n; i++) {
        const tensor *t = checkpoint_at(ck, i);
        if (drop && !strcmp(t->name, drop)) continue;
        json_t *shape = json_array();
        size_t bytes = t->nbytes;
        for (int d = 0; d < t->ndim; d++) {
            int64_t v = t->shape[d];
            if (shrink && !strcmp(t->name, shrink) && d == 0) {
                bytes -= t->nbytes / (size_t)v;
                v--;
            }
            json_array_append_new(shape, json_integer(v));
        }
        json_object_set_new(hdr, t->name, json_pack("{s:s, s:o, s:[I, I]}", "dtype", dtype_name(t->dtype), "shape",
                                                    shape, "data_offsets", (json_int_t)off, (json_int_t)(off + bytes)));
        len[i] = bytes;
        off += bytes;
    }
    char *js = json_dumps(hdr, JSON_COMPACT);
    FILE *f = fopen(path, "wb");
    uint64_t hl = strlen(js);
    fwrite(&hl, 8, 1, f);
    fwrite(js, 1, hl, f);
    for (size_t i = 0; i < n; i++)
        if (len[i]) fwrite(checkpoint_at(ck, i)->data, 1, len[i], f);
    fclose(f);
    free(js);
    free(len);
    json_decref(hdr);
    return 0;
}

static void copy_file(const char *from, const char *to, const char *replace, const char *with) {
    FILE *f = fopen(from, "rb");
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char out[9000];
    char *p = replace ? strstr(buf, replace) : NULL;
    if (p) {
        *p = 0;
        snprintf(out, sizeof out, "%s%s%s", buf, with, p + strlen(replace));
    } else {
        snprintf(out, sizeof out, "%s", buf);
    }
    f = fopen(to, "wb");
    fputs(out, f);
    fclose(f);
}

TEST(bad_inputs) {
    char src[1024], tmp[] = "/tmp/seer_lm_XXXXXX", path[1200], cfg[1200];
    fixture_dir(src, sizeof src, "stablelm");
    CHECK(mkdtemp(tmp) != NULL);
    snprintf(path, sizeof path, "%s/config.json", src);
    snprintf(cfg, sizeof cfg, "%s/config.json", tmp);
    checkpoint *ck;
    CHECK(checkpoint_open(src, &ck) == 0);
    lm_opts o = lm_opts_default();
    lm_model *m = NULL;
    char st_path[1200];
    snprintf(st_path, sizeof st_path, "%s/model.safetensors", tmp);

    /* unknown model_type */
    copy_file(path, cfg, "moe_llava_stablelm", "gpt_neox");   /* ("llama" is supported now) */
    write_variant(ck, st_path, NULL, NULL);
    int st = lm_load(tmp, &o, &m);
    CHECK(st == ST_UNSUPPORTED && m == NULL);
    CHECK_MSG(strstr(status_message(), "\"gpt_neox\""), "%s", status_message());
    printf("  unknown type: %s\n", status_message());

    /* a missing tensor is named */
    copy_file(path, cfg, NULL, NULL);
    write_variant(ck, st_path, "model.layers.1.self_attn.k_proj.weight", NULL);
    st = lm_load(tmp, &o, &m);
    CHECK(st == ST_NOT_FOUND && m == NULL);
    CHECK_MSG(strstr(status_message(), "model.layers.1.self_attn.k_proj.weight"), "%s", status_message());
    printf("  missing: %s\n", status_message());

    /* an expert tensor with the wrong shape is named with both shapes */
    const char *ex = "model.layers.2.mlp.deepspeed_moe.experts.deepspeed_experts.3.up_proj.weight";
    write_variant(ck, st_path, NULL, ex);
    st = lm_load(tmp, &o, &m);
    CHECK(st == ST_MISMATCH && m == NULL);
    CHECK_MSG(strstr(status_message(), ex), "%s", status_message());
    printf("  shape: %s\n", status_message());

    /* a missing gate */
    write_variant(ck, st_path, "model.layers.0.mlp.deepspeed_moe.gate.wg.weight", NULL);
    st = lm_load(tmp, &o, &m);
    CHECK(st == ST_NOT_FOUND);
    CHECK_MSG(strstr(status_message(), "gate.wg.weight"), "%s", status_message());

    /* config and weights disagree on the layer count */
    copy_file(path, cfg, "\"num_hidden_layers\": 4", "\"num_hidden_layers\": 3");
    write_variant(ck, st_path, NULL, NULL);
    st = lm_load(tmp, &o, &m);
    CHECK(st == ST_MISMATCH);
    printf("  layers: %s\n", status_message());

    /* top-1 gating is refused */
    copy_file(path, cfg, "\"top_k_experts\": 2", "\"top_k_experts\": 1");
    CHECK(lm_load(tmp, &o, &m) == ST_UNSUPPORTED);
    checkpoint_close(ck);
    unlink(cfg);
    unlink(st_path);
    rmdir(tmp);

    /* forward-time argument errors */
    m = load("stablelm", LM_QUANT_NONE, 0, 0);
    if (!m) return;
    lm_state *s = lm_state_new(m, 4);
    int32_t ids[5] = {1, 2, 3, 4, 5}, badid = 300;
    float e[64];
    CHECK(lm_forward(m, s, NULL, NULL, 1, NULL, NULL) == ST_ARG);
    CHECK(lm_forward(m, s, ids, e, 1, NULL, NULL) == ST_ARG);
    CHECK(lm_forward(m, s, &badid, NULL, 1, NULL, NULL) == ST_ARG);
    CHECK(lm_forward(m, s, ids, NULL, 5, NULL, NULL) == ST_ARG);
    CHECK(lm_state_pos(s) == 0);
    CHECK(lm_forward(m, s, ids, NULL, 4, NULL, NULL) == 0);
    CHECK(lm_forward(m, s, ids, NULL, 1, NULL, NULL) == ST_ARG);
    lm_state_free(s);
    lm_free(m);
}

/* ------------------------------------------------------------------ kernels */

static uint64_t rng = 88172645463325252ULL;
static float frand(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static void check_linear(linear_type type, int M, int N, int K, int offset) {
    const size_t es = type == LINEAR_F32 || type == LINEAR_Q8 ? 4 : 2;
    float *wf = malloc((size_t)N * K * sizeof(float));
    uint8_t *raw = malloc((size_t)N * K * es + 8);
    uint8_t *w = raw + offset;                 /* offset 1: deliberately unaligned */
    for (size_t i = 0; i < (size_t)N * K; i++) {
        float v = frand();
        if (type == LINEAR_F16) {
            uint16_t h = f32_to_f16(v);
            memcpy(w + 2 * i, &h, 2);
            v = f16_to_f32(h);
        } else if (type == LINEAR_BF16) {
            uint16_t h = f32_to_bf16(v);
            memcpy(w + 2 * i, &h, 2);
            v = bf16_to_f32(h);
        } else {
            memcpy(w + 4 * i, &v, 4);
        }
        wf[i] = v;
    }
    const int ldx = K + 3, ldy = N + 5;
    float *x = malloc((size_t)M * ldx * sizeof(float)), *b = malloc((size_t)N * sizeof(float));
    float *y = malloc((size_t)M * ldy * sizeof(float)), *y0 = malloc((size_t)M * ldy * sizeof(float));
    for (int i = 0; i < M * ldx; i++) x[i] = frand();
    for (int i = 0; i < N; i++) b[i] = frand();
    for (int i = 0; i < M * ldy; i++) y0[i] = frand();
    linear_w W = linear_view(type, w, N, K), Q = {0};
    const linear_w *use = &W;
    if (type == LINEAR_Q8) {   /* Q8 from an F32 view of the same numbers */
        W = linear_view(LINEAR_F32, w, N, K);
        CHECK(linear_quantize_q8(&Q, &W) == 0);
        use = &Q;
    }
    for (int acc = 0; acc < 2; acc++) {
        memcpy(y, y0, (size_t)M * ldy * sizeof(float));
        CHECK(linear_forward(y, ldy, x, ldx, use, acc ? NULL : b, M, acc) == 0);
        double worst = 0;
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                double ref = acc ? y0[(size_t)m * ldy + n] : b[n], mag = 0;
                for (int k = 0; k < K; k++) {
                    ref += (double)x[(size_t)m * ldx + k] * wf[(size_t)n * K + k];
                    mag += fabs((double)x[(size_t)m * ldx + k] * wf[(size_t)n * K + k]);
                }
                double err = fabs(y[(size_t)m * ldy + n] - ref) / (mag + 1e-30);
                if (err > worst) worst = err;
            }
        /* untouched padding columns */
        int pad_ok = 1;
        for (int m = 0; m < M; m++)
            for (int n = N; n < ldy; n++) pad_ok &= y[(size_t)m * ldy + n] == y0[(size_t)m * ldy + n];
        /* AVX512-BF16 rounds x to bfloat16 (relative error <= 2^-9) before its exact products */
        const int bf16_dots = type == LINEAR_BF16 && qgemm_bf16_best() == QGEMM_AVX512;
        const double tol = type == LINEAR_Q8 ? 2e-2 : bf16_dots ? 1.0 / 512 + 1e-5 : 1e-5;
        CHECK_MSG(worst <= tol && pad_ok, "type %d M=%d N=%d K=%d acc=%d: rel err %.3g (tol %.0e)%s", type, M, N, K,
                  acc, worst, tol, pad_ok ? "" : ", wrote padding");
    }
    linear_release(&Q);
    free(wf), free(raw), free(x), free(b), free(y), free(y0);
}

TEST(linear_kernels) {
    const int shapes[][3] = {{1, 37, 75}, {2, 33, 64}, {3, 5, 7}, {4, 70, 67}, {17, 131, 96}, {9, 64, 200}};
    for (int t = 0; t < 4; t++)
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
            for (int off = 0; off < 2; off++)   /* aligned F32 prefill goes straight to sgemm */
                check_linear((linear_type)t, shapes[s][0], shapes[s][1], shapes[s][2], off * (1 + 4 * (t == 1)));
}

TEST(q8_roundtrip) {
    float x[77], d[77], sc[3];
    int8_t q[96];
    for (int i = 0; i < 77; i++) x[i] = frand() * (i < 32 ? 100.0f : 0.01f);
    x[40] = 0;
    quant_q8_row(q, sc, x, 77);
    quant_q8_row_to_f32(d, q, sc, 77);
    for (int i = 0; i < 77; i++) CHECK(fabsf(d[i] - x[i]) <= sc[i / 32] * 0.5f + 1e-9f);
    for (int i = 77; i < 96; i++) CHECK(q[i] == 0);
    float zero[32] = {0}, zs;
    int8_t zq[32];
    quant_q8_row(zq, &zs, zero, 32);
    CHECK(zs == 0.0f && zq[0] == 0);
}

int main(void) {
    RUN(linear_kernels);
    RUN(q8_roundtrip);
    RUN(reference_stablelm);
    RUN(reference_qwen);
    RUN(reference_phi);
    RUN(reference_phi_dense);
    RUN(prefill_equals_decode);
    RUN(truncate_and_copy);
    RUN(kv_f16_agrees);
    RUN(kv_f16_truncate_and_copy);
    RUN(router_counts);
    RUN(q8_agrees);
    RUN(bf16_dots_agree);
    RUN(gumbel_reproducible);
    RUN(bad_inputs);
    return test_summary();
}
