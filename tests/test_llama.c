/* tests/test_llama.c — LLaMA-2 in the LM engine, its SentencePiece tokenizer
 * and the LLaMA-2 chat template, against tests/data/llama (written by
 * tests/reference/llama_vlm_ref.py) and, where $SEER_SHARED exists,
 * fixtures/llama-vlm (the real Llama 2 tokenizer.model, a 32000-vocabulary
 * tiny LLaMA-2, upstream transformers goldens). */
#include "test.h"

#include "chat.h"
#include "chat_adaptor.h"
#include "chat_cache.h"
#include "chat_llama2.h"
#include "image.h"
#include "jsonx.h"
#include "lm.h"
#include "lm_tokenizer.h"
#include "status.h"

#include <stdint.h>
#include <unistd.h>

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

/* The adaptor alone: every file, every name set, against the reference rows. */
TEST(adaptor_linear) {
    json_t *root;
    if (jsonx_load(g_gold, &root)) {
        CHECK_MSG(0, "%s", status_message());
        return;
    }
    json_t *v = json_object_get(root, "vlm"), *z = json_object_get(v, "qformer_output"), *rows = json_object_get(v, "image_rows");
    /* adaptor_minigpt4.pth: {"model": {..., llama_proj.*, ...}}, as MiniGPT-4 releases it */
    const char *files[] = {"adaptor.safetensors", "adaptor.pth", "adaptor_minigpt4.pth"};
    for (int f = 0; f < 3; f++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/tests/data/llama/%s", test_source(), files[f]);
        chat_linear l;
        if (chat_linear_load(path, &l)) {
            CHECK_MSG(0, "%s", status_message());
            continue;
        }
        CHECK(l.out == 16 && l.in == 16);
        const int n = (int)json_array_size(z);
        float Z[64 * 16], R[64 * 16];
        for (int i = 0; i < n && i < 64; i++)
            for (int k = 0; k < l.in; k++) Z[i * l.in + k] = (float)json_number_value(json_array_get(json_array_get(z, i), k));
        chat_linear_apply(&l, Z, n, R);
        for (int i = 0; i < n; i++) CHECK(max_abs_diff(R + i * l.out, json_array_get(rows, i), l.out) < 1e-5f);
        chat_linear_release(&l);
    }
    chat_linear l;
    CHECK(chat_linear_load(g_gold, &l) != 0);   /* not a weight file */
    json_decref(root);
}

/* One image question through a chat model: prompt ids, last logits, greedy answer ids. */
/* prepared: the image goes in through chat_prepare (features + the prompt
 * prefix through the image, computed before the question) instead of
 * chat_set_image; the answer must not change. */
static void check_chat(const char *model, const char *image_path, const char *question, json_t *want_ids,
                       json_t *want_logits, json_t *want_greedy, float tol, int prepared) {
    chat_load_opts lo = chat_load_opts_default();
    chat_model *cm = NULL;
    chat_session *cs = NULL;
    chat_cache *cc = NULL;
    image img = {0};
    image_opts io = image_opts_default();
    static const uint8_t key[16] = {7};
    int how = -1;
    if (chat_model_load(model, &lo, &cm) || !(cs = chat_session_new(cm)) || image_load(image_path, &io, &img, NULL) ||
        (prepared ? chat_cache_new((size_t)16 << 20, &cc) || chat_prepare(cs, cc, key, chat_image_copy_fn, &img, NULL, &how)
                  : chat_set_image(cs, &img))) {
        CHECK_MSG(0, "%s", status_message());
        goto out;
    }
    if (prepared) CHECK_MSG(how == CHAT_PREP_RAN && chat_is_prepared(cs, key), "the image was not prepared");
    const int V = lm_vocab(chat_model_lm(cm));
    float *lg = malloc((size_t)V * sizeof *lg);
    int32_t *ids = NULL;
    int n = 0;
    CHECK(chat_prompt_logits(cs, question, &ids, &n, lg) == 0);
    CHECK_MSG(ids_equal(ids, n, want_ids, 0), "prompt ids of \"%s\"", question);
    if (!ids_equal(ids, n, want_ids, 0)) print_ids("got", ids, n);
    float d = max_abs_diff(lg, want_logits, V);
    CHECK_MSG(d <= tol, "last logits differ by %g (tol %g)", d, tol);
    free(ids);
    free(lg);
    gen_opts go = gen_opts_default();
    go.sampling.temperature = 0;
    go.max_tokens = (int)json_array_size(want_greedy);
    gen_result r;
    if (chat_ask(cs, question, &go, &r) == 0) {
        int ng = (int)json_array_size(want_greedy);
        if (ng && json_integer_value(json_array_get(want_greedy, ng - 1)) == 2) ng--;   /* </s> is not in r.ids */
        CHECK_MSG(r.n == ng && ids_equal(r.ids, r.n, want_greedy, 0), "greedy answer of \"%s\"", question);
        if (!ids_equal(r.ids, r.n, want_greedy, 0)) print_ids("got", r.ids, r.n);
        gen_result_release(&r);
    } else {
        CHECK_MSG(0, "%s", status_message());
    }
out:
    image_release(&img);
    chat_session_free(cs);
    chat_cache_free(cc);
    chat_model_free(cm);
}

/* tests/data/llama/chat*.json: blip2-tiny + llama-tiny + the adaptor, from each adaptor file */
TEST(adaptor_chat_tiny) {
    json_t *root;
    if (jsonx_load(g_gold, &root)) {
        CHECK_MSG(0, "%s", status_message());
        return;
    }
    json_t *v = json_object_get(root, "vlm");
    char img[4200], model[4200];
    snprintf(img, sizeof img, "%s/%s", test_source(), jsonx_str(v, "image", ""));
    /* the adaptor from safetensors, a flat .pth and MiniGPT-4's wrapped .pth: one answer */
    const char *configs[] = {"chat.json", "chat_pth.json", "chat_minigpt4.json"};
    for (int c = 0; c < 3; c++) {
        snprintf(model, sizeof model, "%s/tests/data/llama/%s", test_source(), configs[c]);
        /* Z is computed in float32 here, in float64 by the reference */
        check_chat(model, img, jsonx_str(v, "question", ""), json_object_get(v, "ids"), json_object_get(v, "last_logits"),
                   json_object_get(v, "greedy"), 5e-5f, 0);
    }
    /* prepared before the question (BLIP-2 rows + the LLaMA-2 prefix through
     * the image): the same ids, logits and answer */
    snprintf(model, sizeof model, "%s/tests/data/llama/chat.json", test_source());
    check_chat(model, img, jsonx_str(v, "question", ""), json_object_get(v, "ids"), json_object_get(v, "last_logits"),
               json_object_get(v, "greedy"), 5e-5f, 1);
    /* a text-only LLaMA-2 directory refuses an image, clearly */
    chat_load_opts lo = chat_load_opts_default();
    chat_model *cm;
    if (chat_model_load(g_dir, &lo, &cm) == 0) {
        chat_session *cs = chat_session_new(cm);
        image im = {0};
        image_opts io = image_opts_default();
        CHECK(cs && image_load(img, &io, &im, NULL) == 0 && chat_set_image(cs, &im) == ST_UNSUPPORTED);
        image_release(&im);
        chat_session_free(cs);
        chat_model_free(cm);
    } else {
        CHECK_MSG(0, "%s", status_message());
    }
    json_decref(root);
}

/* fixtures/llama-vlm/golden_vlm.json: the shared BLIP-2 tower, llama2-tiny, the adaptor */
TEST(shared_vlm) {
    const char *sh = test_shared_opt();
    if (!sh) return;
    char cfg[] = "/tmp/seer-test-llama-XXXXXX", gold[4096], img[4200];
    int fd = mkstemp(cfg);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        CHECK_MSG(0, "cannot write a temporary config");
        return;
    }
    fprintf(f, "{\"architecture\": \"blip2-linear-llama\", \"vision\": \"%s/fixtures/blip2/blip2-tiny-itm\",\n"
               " \"language_model\": \"%s/fixtures/llama-vlm/llama2-tiny\",\n"
               " \"adaptor\": \"%s/fixtures/llama-vlm/adaptor.safetensors\"}\n", sh, sh, sh);
    fclose(f);
    snprintf(gold, sizeof gold, "%s/fixtures/llama-vlm/golden_vlm.json", sh);
    json_t *root;
    if (jsonx_load(gold, &root)) {
        CHECK_MSG(0, "%s", status_message());
        unlink(cfg);
        return;
    }
    size_t i;
    json_t *c;
    chat_adaptor *ad = NULL;
    char lm_dir[4096];
    CHECK(chat_adaptor_open(cfg, &ad, lm_dir, sizeof lm_dir) == 0);
    json_array_foreach(json_object_get(root, "cases"), i, c) {
        snprintf(img, sizeof img, "%s/fixtures/clip/inputs/%s", sh, jsonx_str(c, "image", ""));
        /* image_rows: the adaptor over the Q-Former output */
        image im = {0};
        image_opts io = image_opts_default();
        json_t *rows = json_object_get(c, "image_rows");
        if (ad && image_load(img, &io, &im, NULL) == 0) {
            const int R = chat_adaptor_rows(ad), W = chat_adaptor_width(ad);
            float *out = malloc((size_t)R * W * sizeof *out);
            CHECK(R == (int)json_array_size(rows) && chat_adaptor_image(ad, &im, out, NULL) == 0);
            for (int r = 0; r < R && r < (int)json_array_size(rows); r++) {
                float d = max_abs_diff(out + (size_t)r * W, json_array_get(rows, r), W);
                CHECK_MSG(d <= 1e-5f, "%s: image row %d differs by %g", jsonx_str(c, "image", ""), r, d);
            }
            free(out);
        }
        image_release(&im);
        check_chat(cfg, img, jsonx_str(c, "question", ""), json_object_get(c, "ids"), json_object_get(c, "last_logits"),
                   json_object_get(c, "greedy"), 2e-5f, 0);
        check_chat(cfg, img, jsonx_str(c, "question", ""), json_object_get(c, "ids"), json_object_get(c, "last_logits"),
                   json_object_get(c, "greedy"), 2e-5f, 1);
    }
    chat_adaptor_close(ad);
    json_decref(root);
    unlink(cfg);
}

/* Hostile or wrong files: clear errors, nothing loaded. */
static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) fputs(text, f), fclose(f);
}

TEST(bad_inputs) {
    char tmp[] = "/tmp/seer-test-llama-bad-XXXXXX", p[4200], cfgp[4200];
    if (!mkdtemp(tmp)) {
        CHECK_MSG(0, "mkdtemp");
        return;
    }
    /* a tokenizer.model that is not a protobuf */
    snprintf(p, sizeof p, "%s/tokenizer.model", tmp);
    write_text(p, "this is not a sentencepiece model\n");
    lm_tokenizer *tok = NULL;
    int st = lm_tokenizer_load(tmp, &tok);
    CHECK(st != 0 && tok == NULL);
    printf("  bad tokenizer.model: %s\n", status_message());
    unlink(p);
    /* adaptor configs */
    snprintf(cfgp, sizeof cfgp, "%s/chat.json", tmp);
    chat_load_opts lo = chat_load_opts_default();
    chat_model *cm = NULL;
    write_text(cfgp, "{\"architecture\": \"blip2-linear-llama\", \"vision\": \"v\"}");
    st = chat_model_load(cfgp, &lo, &cm);
    CHECK(st == ST_FORMAT && cm == NULL && strstr(status_message(), "language_model"));
    printf("  config without paths: %s\n", status_message());
    char body[8192];
    snprintf(body, sizeof body, "{\"architecture\": \"blip2-linear-llama\", \"vision\": \"%s/tests/data/blip2-tiny\", "
             "\"language_model\": \"%s\", \"adaptor\": \"%s/nothing.safetensors\"}", test_source(), g_dir, tmp);
    write_text(cfgp, body);
    st = chat_model_load(cfgp, &lo, &cm);
    CHECK(st != 0 && cm == NULL);
    printf("  missing adaptor file: %s\n", status_message());
    /* an adaptor whose width does not match the language model */
    snprintf(p, sizeof p, "%s/narrow.safetensors", tmp);
    {
        /* weight [8, 16] F32, bias [8] F32: the Q-Former's 16 in, 8 out (the LM is 16 wide) */
        const char *hdr = "{\"bias\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[0,32]},"
                          "\"weight\":{\"dtype\":\"F32\",\"shape\":[8,16],\"data_offsets\":[32,544]}}";
        char h[256];
        size_t hl = strlen(hdr), pad = (8 - hl % 8) % 8;
        memcpy(h, hdr, hl);
        memset(h + hl, ' ', pad);
        uint64_t n = hl + pad;
        FILE *f = fopen(p, "wb");
        float z[136] = {0};
        if (f) fwrite(&n, 8, 1, f), fwrite(h, 1, n, f), fwrite(z, sizeof z[0], 136, f), fclose(f);
    }
    snprintf(body, sizeof body, "{\"architecture\": \"blip2-linear-llama\", \"vision\": \"%s/tests/data/blip2-tiny\", "
             "\"language_model\": \"%s\", \"adaptor\": \"narrow.safetensors\"}", test_source(), g_dir);
    write_text(cfgp, body);
    st = chat_model_load(cfgp, &lo, &cm);
    CHECK(st == ST_MISMATCH && cm == NULL);
    printf("  narrow adaptor: %s\n", status_message());
    unlink(p);
    unlink(cfgp);
    rmdir(tmp);
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
    RUN(adaptor_linear);
    RUN(adaptor_chat_tiny);
    RUN(shared_vlm);
    RUN(bad_inputs);
    return test_summary();
}
