/* tests/test_chat.c — MoE-LLaVA chat sessions (model/chat.c) end to end
 * against the PyTorch reference of tests/reference/moe_llava_vlm_ref.py:
 * tiny StableLM + CLIP and Phi + SigLIP checkpoints in tests/data/vlm/ (the
 * towers in their own directories, as on the hub), a committed 97x61 picture
 * (so the expand2square pad runs).
 *
 * Checked: the prompt ids (-200 at the image) and last-position logits
 * (within 1e-3 of the largest reference logit), greedy answers (ids and
 * text), a second turn that reuses the KV cache against the reference's
 * from-scratch second turn, regenerate, clear, router counts by token kind,
 * beam search (1 beam = greedy; 3 beams = the reference's transformers-4.37
 * BeamSearchScorer), history restored by chat_set_history, tower resolution through models_root, and bad input
 * (tower not found, tower of the wrong width, empty question). Plus the
 * generator stopping at a full context (GEN_STOP_CONTEXT). No ../shared
 * needed. */
#include "test.h"

#include "chat.h"
#include "generate.h"
#include "image.h"
#include "jsonx.h"
#include "lm.h"
#include "lm_tokenizer.h"
#include "status.h"

#include <stdint.h>
#include <unistd.h>

typedef struct {
    json_t *root;
    char dir[1024], tower[1024];
    int32_t ids1[512], ids2[512], greedy[32], greedy2[32], beam[32];
    int n1, n2, n_greedy, n_greedy2, n_beam, n_img, vocab;
    const char *q1, *q2, *text1, *text2;
    float *logits;
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
    snprintf(r->tower, sizeof r->tower, "%s/tests/data/vlm/towers/%s", test_source(),
             jsonx_str(r->root, "tower", ""));
    r->n1 = ints(json_object_get(r->root, "prompt_ids"), r->ids1, 512);
    r->n2 = ints(json_object_get(r->root, "prompt2_ids"), r->ids2, 512);
    r->n_greedy = ints(json_object_get(r->root, "greedy"), r->greedy, 32);
    r->n_greedy2 = ints(json_object_get(r->root, "greedy2"), r->greedy2, 32);
    r->n_beam = ints(jsonx_path(r->root, "beam.ids"), r->beam, 32);
    r->n_img = (int)jsonx_int(r->root, "n_img", 0);
    r->vocab = (int)jsonx_int(r->root, "vocab", 0);
    r->q1 = jsonx_str(r->root, "question", "");
    r->q2 = jsonx_str(r->root, "question2", "");
    r->text1 = jsonx_str(r->root, "greedy_text", "");
    r->text2 = jsonx_str(r->root, "greedy2_text", "");
    json_t *lg = json_object_get(r->root, "logits");
    r->logits = malloc(json_array_size(lg) * sizeof(float));
    for (size_t i = 0; i < json_array_size(lg); i++) r->logits[i] = (float)json_number_value(json_array_get(lg, i));
    return 0;
}

static void ref_free(reference *r) {
    json_decref(r->root);
    free(r->logits);
}

static int load_image(image *img) {
    char path[1100];
    snprintf(path, sizeof path, "%s/tests/data/vlm/image.png", test_source());
    image_opts io = image_opts_default();
    int st = image_load(path, &io, img, NULL);
    CHECK_MSG(st == ST_OK, "%s", status_message());
    CHECK(st || (img->w == 97 && img->h == 61));
    return st;
}

/* Load with the tower given explicitly (by_root 0) or found under models_root. */
static chat_model *load(const reference *r, int by_root) {
    chat_load_opts lo = chat_load_opts_default();
    lo.lm.exact = 1; /* BF16 weights × float32 x, as the reference computes (lm.h) */
    char root[1100];
    snprintf(root, sizeof root, "%s/tests/data/vlm/towers", test_source());
    if (by_root) lo.models_root = root;
    else lo.vision_tower = r->tower;
    lo.max_ctx = 512;
    chat_model *cm = NULL;
    int st = chat_model_load(r->dir, &lo, &cm);
    CHECK_MSG(st == ST_OK, "%s", status_message());
    return cm;
}

static gen_opts greedy_opts(void) {
    gen_opts o = gen_opts_default();
    o.sampling.temperature = 0;
    o.max_tokens = 8;
    return o;
}

static int same_ids(const int32_t *a, int na, const int32_t *b, int nb) {
    if (na != nb) return 0;
    for (int i = 0; i < na; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

static void print_ids(const char *what, const int32_t *a, int n) {
    printf("  %s:", what);
    for (int i = 0; i < n; i++) printf(" %d", (int)a[i]);
    printf("\n");
}

static chat_session *session(chat_model *cm, const image *img) {
    chat_session *cs = chat_session_new(cm);
    CHECK(cs != NULL);
    if (cs) CHECK_MSG(chat_set_image(cs, img) == ST_OK, "%s", status_message());
    return cs;
}

/* ------------------------------------------------------------------ tests */

static void prompt_and_logits(const char *name, int by_root) {
    reference r;
    image img = {0};
    if (ref_load(name, &r) || load_image(&img)) return;
    chat_model *cm = load(&r, by_root);
    if (cm) {
        CHECK(lm_vocab(chat_model_lm(cm)) == r.vocab);
        chat_session *cs = session(cm, &img);
        float *logits = malloc((size_t)r.vocab * sizeof *logits);
        int32_t *ids = NULL;
        int n = 0;
        int st = chat_prompt_logits(cs, r.q1, &ids, &n, logits);
        CHECK_MSG(st == ST_OK, "%s", status_message());
        if (!st) {
            CHECK_MSG(same_ids(ids, n, r.ids1, r.n1), "%s: prompt ids differ (%d vs %d ids)", name, n, r.n1);
            float amax = 0, dmax = 0;
            for (int i = 0; i < r.vocab; i++) {
                amax = fmaxf(amax, fabsf(r.logits[i]));
                dmax = fmaxf(dmax, fabsf(logits[i] - r.logits[i]));
            }
            CHECK_MSG(dmax <= 1e-3f * amax, "%s: logits max |diff| %g, max |ref| %g", name, dmax, amax);
            printf("  %s (%s): %d prompt ids, logits max |diff| %.3g of %.3g\n", name,
                   by_root ? "models_root" : "vision_tower", n, dmax, amax);
        }
        free(ids);
        free(logits);
        chat_session_free(cs);
    }
    chat_model_free(cm);
    image_release(&img);
    ref_free(&r);
}

TEST(prompt_logits_stablelm_clip) { prompt_and_logits("stablelm-clip", 0); }
TEST(prompt_logits_phi_siglip) { prompt_and_logits("phi-siglip", 0); }
TEST(tower_from_models_root) {
    prompt_and_logits("stablelm-clip", 1);
    prompt_and_logits("phi-siglip", 1);
}

/* Sum of counts[(layer·E + e)·KINDS + kind] over experts, per MoE layer. */
static void check_counts(const chat_session *cs, const chat_model *cm, const char *name, int img_want, int text_want,
                         int gen_want) {
    size_t len;
    const uint32_t *c = chat_router_counts(cs, &len);
    const lm_config *cfg = lm_get_config(chat_model_lm(cm));
    CHECK(len == (size_t)cfg->n_moe_layers * cfg->n_experts * LM_TOK_KINDS);
    for (int l = 0; l < cfg->n_moe_layers && len; l++) {
        long k[LM_TOK_KINDS] = {0};
        for (int e = 0; e < cfg->n_experts; e++)
            for (int t = 0; t < LM_TOK_KINDS; t++) k[t] += c[((size_t)l * cfg->n_experts + e) * LM_TOK_KINDS + t];
        CHECK_MSG(k[LM_TOK_IMAGE] == 2L * img_want, "%s layer %d: %ld image routings, want %d", name, l,
                  k[LM_TOK_IMAGE], 2 * img_want);
        if (text_want >= 0)
            CHECK_MSG(k[LM_TOK_TEXT] == 2L * text_want, "%s layer %d: %ld text routings, want %d", name, l,
                      k[LM_TOK_TEXT], 2 * text_want);
        else
            CHECK(k[LM_TOK_TEXT] > 0);
        if (gen_want >= 0)
            CHECK_MSG(k[LM_TOK_GEN] == 2L * gen_want, "%s layer %d: %ld generated routings, want %d", name, l,
                      k[LM_TOK_GEN], 2 * gen_want);
        else
            CHECK(k[LM_TOK_GEN] > 0);
    }
}

static void conversation(const char *name) {
    reference r;
    image img = {0};
    if (ref_load(name, &r) || load_image(&img)) return;
    chat_model *cm = load(&r, 0);
    if (!cm) goto out;
    chat_session *cs = session(cm, &img);
    gen_opts o = greedy_opts();
    gen_result g1, g2, g3, g4;
    int st = chat_ask(cs, r.q1, &o, &g1);
    CHECK_MSG(st == ST_OK, "%s", status_message());
    if (!st) {
        if (!same_ids(g1.ids, g1.n, r.greedy, r.n_greedy)) {
            CHECK_MSG(0, "%s: turn 1 greedy ids differ", name);
            print_ids("got ", g1.ids, g1.n), print_ids("want", r.greedy, r.n_greedy);
        }
        CHECK_MSG(!strcmp(g1.text, r.text1), "%s: \"%s\" vs \"%s\"", name, g1.text, r.text1);
        /* every prompt id but the marker is text; generated: all fed but the last */
        check_counts(cs, cm, name, r.n_img, r.n1 - 1, g1.stop == GEN_STOP_EOS ? g1.n : g1.n - 1);
    }
    /* Follow-up: the cache holds turn 1; the reference ran turn 2 from scratch. */
    st = st ? st : chat_ask(cs, r.q2, &o, &g2);
    CHECK_MSG(st == ST_OK, "%s", status_message());
    if (!st) {
        if (!same_ids(g2.ids, g2.n, r.greedy2, r.n_greedy2)) {
            CHECK_MSG(0, "%s: turn 2 (cache reused) greedy ids differ", name);
            print_ids("got ", g2.ids, g2.n), print_ids("want", r.greedy2, r.n_greedy2);
        }
        CHECK_MSG(!strcmp(g2.text, r.text2), "%s: \"%s\" vs \"%s\"", name, g2.text, r.text2);
        check_counts(cs, cm, name, r.n_img, -1, -1);
        /* Regenerate (greedy): the same second answer again. */
        st = chat_regenerate(cs, &o, &g3);
        CHECK_MSG(st == ST_OK, "%s", status_message());
        if (!st) CHECK_MSG(same_ids(g3.ids, g3.n, r.greedy2, r.n_greedy2), "%s: regenerate differs", name);
        /* Clear, ask the first question again: the fresh-session answer. */
        chat_clear(cs);
        st = chat_ask(cs, r.q1, &o, &g4);
        CHECK_MSG(st == ST_OK, "%s", status_message());
        if (!st) {
            CHECK_MSG(same_ids(g4.ids, g4.n, r.greedy, r.n_greedy), "%s: after clear the answer differs", name);
            /* the prompt is a prefix of what the cache holds: only its last
             * id runs again; the image counts stay those of the features */
            check_counts(cs, cm, name, r.n_img, 1, g4.stop == GEN_STOP_EOS ? g4.n : g4.n - 1);
            gen_result_release(&g4);
        }
        if (!chat_regenerate(cs, &o, &g4)) {
            CHECK(same_ids(g4.ids, g4.n, r.greedy, r.n_greedy));
            gen_result_release(&g4);
        }
        gen_result_release(&g3);
        gen_result_release(&g2);
    }
    if (!st || g1.ids) gen_result_release(&g1);
    /* A fresh session asked both questions equals the cached one (above, the
     * reference); and after a new image the history is gone. */
    chat_session *fresh = session(cm, &img);
    if (fresh && !chat_ask(fresh, r.q1, &o, &g1)) {
        CHECK(same_ids(g1.ids, g1.n, r.greedy, r.n_greedy));
        gen_result_release(&g1);
        if (!chat_ask(fresh, r.q2, &o, &g2)) {
            CHECK(same_ids(g2.ids, g2.n, r.greedy2, r.n_greedy2));
            gen_result_release(&g2);
        }
        CHECK(chat_set_image(fresh, &img) == ST_OK);
        if (!chat_ask(fresh, r.q1, &o, &g1)) {
            CHECK_MSG(same_ids(g1.ids, g1.n, r.greedy, r.n_greedy), "%s: after a new image", name);
            gen_result_release(&g1);
        }
    }
    chat_session_free(fresh);
    chat_session_free(cs);
out:
    chat_model_free(cm);
    image_release(&img);
    ref_free(&r);
}

/* chat_set_history: a stateless client sends the conversation back. On the
 * session that produced turn 1 the follow-up reuses the cache (only the new
 * text runs) and equals the reference's turn 2; on a fresh session restored
 * from the texts alone it equals it too when turn 1 did not end on the end
 * token (the history keeps that token, the client's text does not). */
static void history(const char *name) {
    reference r;
    image img = {0};
    if (ref_load(name, &r) || load_image(&img)) return;
    chat_model *cm = load(&r, 0);
    if (!cm) goto out;
    chat_session *cs = session(cm, &img), *fresh = session(cm, &img);
    gen_opts o = greedy_opts();
    gen_result g1, g2;
    int st = cs && fresh ? chat_ask(cs, r.q1, &o, &g1) : ST_NOMEM;
    CHECK_MSG(st == ST_OK, "%s", status_message());
    if (!st) {
        const char *q[] = {r.q1}, *a[] = {g1.text};
        char padded[1024];
        snprintf(padded, sizeof padded, "  %s \n", g1.text);   /* whitespace does not matter */
        const char *ap[] = {padded};
        CHECK(chat_set_history(cs, q, ap, 1) == ST_OK);
        st = chat_ask(cs, r.q2, &o, &g2);
        CHECK_MSG(st == ST_OK, "%s", status_message());
        if (!st) {
            CHECK_MSG(same_ids(g2.ids, g2.n, r.greedy2, r.n_greedy2), "%s: turn 2 after set_history differs", name);
            /* the cache held turn 1: far fewer text positions ran than the whole prompt */
            size_t len;
            const uint32_t *c = chat_router_counts(cs, &len);
            const lm_config *cfg = lm_get_config(chat_model_lm(cm));
            long text = 0;
            for (int e = 0; e < cfg->n_experts; e++) text += c[(size_t)e * LM_TOK_KINDS + LM_TOK_TEXT];
            CHECK_MSG(text / 2 < r.n1, "%s: %ld text positions ran again (prompt 1 has %d)", name, text / 2, r.n1);
            gen_result_release(&g2);
        }
        /* history of zero turns = clear */
        CHECK(chat_set_history(cs, NULL, NULL, 0) == ST_OK);
        if (!chat_ask(cs, r.q1, &o, &g2)) {
            CHECK(same_ids(g2.ids, g2.n, r.greedy, r.n_greedy));
            gen_result_release(&g2);
        }
        if (g1.stop != GEN_STOP_EOS) {
            CHECK(chat_set_history(fresh, q, a, 1) == ST_OK);
            if (!chat_ask(fresh, r.q2, &o, &g2)) {
                CHECK_MSG(same_ids(g2.ids, g2.n, r.greedy2, r.n_greedy2), "%s: fresh session restored", name);
                gen_result_release(&g2);
            }
        }
        const char *eq[] = {""};
        CHECK(chat_set_history(fresh, eq, a, 1) == ST_ARG);
        CHECK(chat_set_history(fresh, q, a, -1) == ST_ARG);
        gen_result_release(&g1);
    }
    chat_session_free(fresh);
    chat_session_free(cs);
out:
    chat_model_free(cm);
    image_release(&img);
    ref_free(&r);
}

TEST(conversation_stablelm_clip) { conversation("stablelm-clip"); }
TEST(history_stablelm_clip) { history("stablelm-clip"); }
TEST(history_phi_siglip) { history("phi-siglip"); }
TEST(conversation_phi_siglip) { conversation("phi-siglip"); }

static void beams(const char *name) {
    reference r;
    image img = {0};
    if (ref_load(name, &r) || load_image(&img)) return;
    chat_model *cm = load(&r, 0);
    if (!cm) goto out;
    chat_session *cs = session(cm, &img);
    gen_opts o = greedy_opts();
    gen_result a, b;
    /* one beam = greedy */
    o.num_beams = 1;
    if (!chat_ask(cs, r.q1, &o, &a)) {
        CHECK(same_ids(a.ids, a.n, r.greedy, r.n_greedy));
        gen_result_release(&a);
    } else {
        CHECK_MSG(0, "%s", status_message());
    }
    /* three beams = the reference's BeamSearchScorer; twice the same */
    o.num_beams = 3;
    chat_clear(cs);
    int st = chat_ask(cs, r.q1, &o, &a);
    CHECK_MSG(st == ST_OK, "%s", status_message());
    if (!st) {
        if (!same_ids(a.ids, a.n, r.beam, r.n_beam)) {
            CHECK_MSG(0, "%s: 3-beam answer differs", name);
            print_ids("got ", a.ids, a.n), print_ids("want", r.beam, r.n_beam);
        }
        if (!chat_regenerate(cs, &o, &b)) {
            CHECK_MSG(same_ids(a.ids, a.n, b.ids, b.n), "%s: beam search is not deterministic", name);
            gen_result_release(&b);
        }
        /* the conversation goes on after a beam answer: as after any answer */
        o.num_beams = 1;
        if (!chat_ask(cs, r.q2, &o, &b)) {
            CHECK(b.n > 0);
            gen_result_release(&b);
        } else {
            CHECK_MSG(0, "%s", status_message());
        }
        gen_result_release(&a);
    }
    chat_session_free(cs);
out:
    chat_model_free(cm);
    image_release(&img);
    ref_free(&r);
}

TEST(beam_search_stablelm_clip) { beams("stablelm-clip"); }
TEST(beam_search_phi_siglip) { beams("phi-siglip"); }

TEST(tower_not_found) {
    reference r;
    if (ref_load("stablelm-clip", &r)) return;
    char root[] = "/tmp/seer-chat-XXXXXX";
    CHECK(mkdtemp(root) != NULL);
    chat_load_opts lo = chat_load_opts_default();
    lo.models_root = root;
    chat_model *cm = (chat_model *)1;
    int st = chat_model_load(r.dir, &lo, &cm);
    CHECK(st == ST_NOT_FOUND);
    CHECK(cm == NULL);
    CHECK_MSG(strstr(status_message(), root) && strstr(status_message(), "clip-vit-tiny-patch14-42"),
              "message: %s", status_message());
    lo.models_root = NULL;
    lo.vision_tower = root; /* an existing directory with no tower in it */
    st = chat_model_load(r.dir, &lo, &cm);
    CHECK(st != ST_OK);
    CHECK_MSG(strstr(status_message(), root) != NULL, "message: %s", status_message());
    lo.vision_tower = "/nonexistent/tower";
    CHECK(chat_model_load(r.dir, &lo, &cm) == ST_NOT_FOUND);
    CHECK_MSG(strstr(status_message(), "/nonexistent/tower") != NULL, "message: %s", status_message());
    rmdir(root);
    ref_free(&r);
}

TEST(tower_wrong_width) {
    reference r, other;
    if (ref_load("stablelm-clip", &r)) return;
    if (ref_load("phi-siglip", &other)) {
        ref_free(&r);
        return;
    }
    chat_load_opts lo = chat_load_opts_default();
    lo.vision_tower = other.tower; /* 32 wide; the checkpoint wants 48 */
    chat_model *cm = NULL;
    int st = chat_model_load(r.dir, &lo, &cm);
    CHECK(st == ST_MISMATCH);
    CHECK(cm == NULL);
    CHECK_MSG(strstr(status_message(), "mm_hidden_size") != NULL, "message: %s", status_message());
    ref_free(&r);
    ref_free(&other);
}

TEST(bad_questions) {
    reference r;
    image img = {0};
    if (ref_load("phi-siglip", &r) || load_image(&img)) return;
    chat_model *cm = load(&r, 0);
    if (cm) {
        chat_session *cs = session(cm, &img);
        gen_opts o = greedy_opts();
        gen_result g;
        CHECK(chat_ask(cs, "", &o, &g) == ST_ARG);
        CHECK(chat_ask(cs, NULL, &o, &g) == ST_ARG);
        CHECK(chat_regenerate(cs, &o, &g) == ST_ARG); /* nothing asked yet */
        /* a failed ask leaves the history untouched: the next one is turn 1 */
        if (!chat_ask(cs, r.q1, &o, &g)) {
            CHECK(same_ids(g.ids, g.n, r.greedy, r.n_greedy));
            gen_result_release(&g);
        }
        /* more than the context can hold */
        o.max_tokens = 100000;
        CHECK(chat_ask(cs, r.q2, &o, &g) == ST_TOO_LARGE);
        o.max_tokens = 8;
        if (!chat_ask(cs, r.q2, &o, &g)) {
            CHECK(same_ids(g.ids, g.n, r.greedy2, r.n_greedy2));
            gen_result_release(&g);
        }
        chat_session_free(cs);
    }
    chat_model_free(cm);
    image_release(&img);
    ref_free(&r);
}

/* generate() on a state with room for only a few positions stops with
 * GEN_STOP_CONTEXT (not an error). */
TEST(generate_context_full) {
    reference r;
    if (ref_load("phi-siglip", &r)) return;
    lm_opts lo = lm_opts_default();
    lm_model *m = NULL;
    lm_tokenizer *tok = NULL;
    if (lm_load(r.dir, &lo, &m) || lm_tokenizer_load(r.dir, &tok)) {
        CHECK_MSG(0, "%s", status_message());
    } else {
        const int32_t prompt[4] = {10, 20, 30, 40};
        lm_state *s = lm_state_new(m, 7);
        CHECK(s && lm_state_capacity(s) == 7);
        gen_opts o = gen_opts_default();
        o.sampling.temperature = 0;
        o.max_tokens = 10;
        gen_result g;
        int st = generate(m, s, tok, prompt, 4, &o, &g);
        CHECK_MSG(st == ST_OK, "%s", status_message());
        if (!st) {
            CHECK(g.stop == GEN_STOP_CONTEXT || g.stop == GEN_STOP_EOS);
            if (g.stop == GEN_STOP_CONTEXT) CHECK(g.n == 4); /* 3 fed after the prompt + the last one chosen */
            CHECK(lm_state_pos(s) <= 7);
            gen_result_release(&g);
        }
        /* beam search on the same small state: clamped to the room left */
        lm_state_truncate(s, 0);
        o.num_beams = 2;
        st = generate(m, s, tok, prompt, 4, &o, &g);
        CHECK_MSG(st == ST_OK, "%s", status_message());
        if (!st) {
            CHECK(g.n <= 4);
            CHECK(g.stop == GEN_STOP_CONTEXT || g.stop == GEN_STOP_EOS);
            gen_result_release(&g);
        }
        lm_state_free(s);
    }
    lm_tokenizer_free(tok);
    lm_free(m);
    ref_free(&r);
}

int main(void) {
    RUN(prompt_logits_stablelm_clip);
    RUN(prompt_logits_phi_siglip);
    RUN(tower_from_models_root);
    RUN(conversation_stablelm_clip);
    RUN(conversation_phi_siglip);
    RUN(history_stablelm_clip);
    RUN(history_phi_siglip);
    RUN(beam_search_stablelm_clip);
    RUN(beam_search_phi_siglip);
    RUN(tower_not_found);
    RUN(tower_wrong_width);
    RUN(bad_questions);
    RUN(generate_context_full);
    return test_summary();
}
