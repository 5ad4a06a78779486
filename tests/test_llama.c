/* tests/test_llama.c — LLaMA-2 in the LM engine, its SentencePiece tokenizer
 * and the LLaMA-2 chat template, against tests/data/llama (written by
 * tests/reference/llama_vlm_ref.py) and, where $SEER_SHARED exists,
 * fixtures/llama-vlm (the real Llama 2 tokenizer.model, a 32000-vocabulary
 * tiny LLaMA-2, upstream transformers goldens). */
#include "test.h"

#include "chat_llama2.h"
#include "jsonx.h"
#include "lm.h"
#include "lm_tokenizer.h"
#include "status.h"

#include <stdint.h>

static char g_dir[4096], g_gold[4096];

static int ids_equal(const int32_t *a, int n, json_t *arr, int skip) {
    if ((int)json_array_size(arr) - skip != n) return 0;
    for (int i = 0; i < n; i++)
        if (a[i] != (int32_t)json_integer_value(json_array_get(arr, i + skip))) return 0;
    return 1;
}

static void print_ids(const char *what, const int32_t *a, int n) {
    printf("  %s:", what);
    for (int i = 0; i < n; i++) printf(" %d", a[i]);
    printf("\n");
}

/* Every tokenizer[] text: ids (the golden's leading BOS skipped when bos_in),
 * decode, and the streaming decode one id at a time. */
static void check_tokenizer(const char *dir, const char *gold, int bos_in) {
    lm_tokenizer *tok;
    json_t *root;
    if (lm_tokenizer_load(dir, &tok)) {
        CHECK_MSG(0, "%s", status_message());
        return;
    }
    CHECK(!strcmp(lm_tokenizer_kind(tok), "sentencepiece"));
    CHECK(lm_tokenizer_bos(tok) == 1);
    CHECK(lm_tokenizer_eos(tok) == 2);
    if (jsonx_load(gold, &root)) {
        CHECK_MSG(0, "%s", status_message());
        lm_tokenizer_free(tok);
        return;
    }
    size_t i;
    json_t *e;
    int n_checked = 0;
    json_array_foreach(json_object_get(root, "tokenizer"), i, e) {
        const char *text = jsonx_str(e, "text", "");
        json_t *want = json_object_get(e, "ids");
        int32_t *ids;
        int n;
        if (lm_tokenizer_encode(tok, text, &ids, &n)) {
            CHECK_MSG(0, "encode \"%s\": %s", text, status_message());
            continue;
        }
        int skip = bos_in && json_array_size(want) > 0 && json_integer_value(json_array_get(want, 0)) == 1;
        CHECK_MSG(ids_equal(ids, n, want, skip), "ids of \"%s\"", text);
        if (!ids_equal(ids, n, want, skip)) print_ids("got", ids, n);
        /* decode: SentencePiece's Decode (the leading dummy-prefix space dropped) */
        char *dec = NULL;
        CHECK(lm_tokenizer_decode(tok, ids, n, &dec) == 0);
        const char *want_dec = jsonx_str(e, "decoded", text);
        CHECK_MSG(dec && !strcmp(dec, want_dec), "decode of \"%s\" gave \"%s\"", text, dec ? dec : "(null)");
        /* streaming: the same text, piece by piece */
        lm_detok *d = lm_detok_new(tok);
        char buf[4096] = "", out[256];
        size_t len, k = 0;
        for (int j = 0; j < n && d; j++)
            if (!lm_detok_push(d, ids[j], out, sizeof out, &len) && k + len < sizeof buf) memcpy(buf + k, out, len), k += len;
        if (d && !lm_detok_flush(d, out, sizeof out, &len) && k + len < sizeof buf) memcpy(buf + k, out, len), k += len;
        buf[k] = 0;
        CHECK_MSG(dec && !strcmp(buf, dec), "streamed \"%s\" vs \"%s\"", buf, dec ? dec : "");
        lm_detok_free(d);
        free(dec);
        free(ids);
        n_checked++;
    }
    CHECK(n_checked > 5);
    json_decref(root);
    lm_tokenizer_free(tok);
}

TEST(tokenizer_tiny) { check_tokenizer(g_dir, g_gold, 0); }

static float max_abs_diff(const float *a, json_t *arr, int n) {
    float m = 0;
    for (int i = 0; i < n; i++) {
        float d = fabsf(a[i] - (float)json_number_value(json_array_get(arr, i)));
        if (!(d <= m)) m = d;
    }
    return m;
}

/* prompts[]: the prompt ids through the engine (whole and one token at a
 * time), last logits within tol, greedy identical. */
static void check_prompts(const char *dir, const char *gold, float tol, lm_quant q) {
    lm_opts o = lm_opts_default();
    o.quant = q;
    lm_model *m;
    json_t *root;
    if (lm_load(dir, &o, &m)) {
        CHECK_MSG(0, "%s", status_message());
        return;
    }
    CHECK(lm_get_config(m)->arch == LM_LLAMA);
    if (jsonx_load(gold, &root)) {
        CHECK_MSG(0, "%s", status_message());
        lm_free(m);
        return;
    }
    const int V = lm_vocab(m);
    float *lg = malloc((size_t)V * sizeof *lg), *lg2 = malloc((size_t)V * sizeof *lg2);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(root, "prompts"), i, e) {
        json_t *ids = json_object_get(e, "ids"), *want = json_object_get(e, "last_logits");
        const int n = (int)json_array_size(ids);
        int32_t p[256];
        for (int k = 0; k < n && k < 256; k++) p[k] = (int32_t)json_integer_value(json_array_get(ids, k));
        CHECK((int)json_array_size(want) == V);
        lm_state *s = lm_state_new(m, 128);
        CHECK(s && lm_forward(m, s, p, NULL, n, NULL, lg) == 0);
        float d = max_abs_diff(lg, want, V);
        CHECK_MSG(d <= tol, "prompt %zu: last logits differ by %g (tol %g)", i, d, tol);
        /* token by token through the KV cache: the same logits */
        lm_state *s2 = lm_state_new(m, 128);
        for (int k = 0; k < n && s2; k++) CHECK(lm_forward(m, s2, p + k, NULL, 1, NULL, lg2) == 0);
        float dd = 0;
        for (int k = 0; k < V; k++) dd = fmaxf(dd, fabsf(lg[k] - lg2[k]));
        /* Q8 runs one position with int8 activations, several with sgemm */
        CHECK_MSG(dd <= (q == LM_QUANT_NONE ? 1e-5f : tol), "cached decode differs by %g", dd);
        lm_state_free(s2);
        /* greedy */
        json_t *g = json_object_get(e, "greedy");
        for (size_t k = 0; k < json_array_size(g) && q == LM_QUANT_NONE; k++) {
            int best = 0;
            for (int v = 1; v < V; v++)
                if (lg[v] > lg[best]) best = v;
            CHECK_MSG(best == (int)json_integer_value(json_array_get(g, k)), "prompt %zu greedy step %zu: %d vs %lld",
                      i, k, best, json_integer_value(json_array_get(g, k)));
            int32_t t = best;
            if (t == 2 || lm_forward(m, s, &t, NULL, 1, NULL, lg)) break;
        }
        lm_state_free(s);
    }
    free(lg), free(lg2);
    json_decref(root);
    lm_free(m);
}

TEST(lm_tiny) { check_prompts(g_dir, g_gold, 2e-5f, LM_QUANT_NONE); }

TEST(lm_tiny_q8) {
    /* Q8 runs the same architecture; its logits stay near the float ones */
    check_prompts(g_dir, g_gold, 0.5f, LM_QUANT_Q8);
}

/* The LLaMA-2 chat template (Meta's chat_completion) against the reference's ids. */
TEST(template_tiny) {
    lm_tokenizer *tok;
    json_t *root;
    if (lm_tokenizer_load(g_dir, &tok) || jsonx_load(g_gold, &root)) {
        CHECK_MSG(0, "%s", status_message());
        return;
    }
    json_t *t = json_object_get(root, "template");
    const char *q0 = jsonx_str(t, "q0", ""), *a0 = jsonx_str(t, "a0", ""), *q1 = jsonx_str(t, "q1", "");
    const char *sys = jsonx_str(t, "system", "");
    int32_t *ids;
    int n;
    const char *qs[2] = {q0, q1}, *as[1] = {a0};
    CHECK(chat_llama2_ids(tok, sys, qs, as, 1, -1, &ids, &n) == 0);
    CHECK(ids_equal(ids, n, json_object_get(t, "system_ids"), 0));
    free(ids);
    CHECK(chat_llama2_ids(tok, NULL, qs, as, 2, -1, &ids, &n) == 0);
    CHECK(ids_equal(ids, n, json_object_get(t, "two_turn_ids"), 0));
    if (!ids_equal(ids, n, json_object_get(t, "two_turn_ids"), 0)) print_ids("got", ids, n);
    free(ids);
    /* the image form (MiniGPT-4's segments): one turn, then two */
    json_t *v = json_object_get(root, "vlm");
    const char *vq[2] = {jsonx_str(v, "question", ""), q1};
    CHECK(chat_llama2_ids(tok, NULL, vq, as, 1, 0, &ids, &n) == 0);
    CHECK(ids_equal(ids, n, json_object_get(v, "ids"), 0));
    if (!ids_equal(ids, n, json_object_get(v, "ids"), 0)) print_ids("got", ids, n);
    free(ids);
    CHECK(chat_llama2_ids(tok, NULL, vq, as, 2, 0, &ids, &n) == 0);
    CHECK(ids_equal(ids, n, json_object_get(v, "two_turn_ids"), 0));
    free(ids);
    json_decref(root);
    lm_tokenizer_free(tok);
}

/* fixtures/llama-vlm/llama2-tiny: the real tokenizer.model, upstream goldens */
TEST(shared_tokenizer) {
    const char *sh = test_shared_opt();
    if (!sh) return;
    char dir[3900], gold[4096];
    snprintf(dir, sizeof dir, "%s/fixtures/llama-vlm/llama2-tiny", sh);
    snprintf(gold, sizeof gold, "%s/golden.json", dir);
    check_tokenizer(dir, gold, 1);
}

TEST(shared_prompts) {
    const char *sh = test_shared_opt();
    if (!sh) return;
    char dir[3900], gold[4096];
    snprintf(dir, sizeof dir, "%s/fixtures/llama-vlm/llama2-tiny", sh);
    snprintf(gold, sizeof gold, "%s/golden.json", dir);
    check_prompts(dir, gold, 2e-6f, LM_QUANT_NONE);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "%s/tests/data/llama/llama-tiny", test_source());
    snprintf(g_gold, sizeof g_gold, "%s/tests/data/llama/golden.json", test_source());
    RUN(tokenizer_tiny);
    RUN(lm_tiny);
    RUN(lm_tiny_q8);
    RUN(template_tiny);
    RUN(shared_tokenizer);
    RUN(shared_prompts);
    return test_summary();
}
