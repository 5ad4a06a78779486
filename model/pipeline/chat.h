/* model/chat.h — MoE-LLaVA chat about one image: vision tower → projector →
 * image features spliced into the conversation → MoE language model
 * (docs/model-spec.md §B3, B6, B7, B8). The same API serves LLaMA-2 chat:
 * chat_model_load also takes a LLaMA-2 directory (text only) or an adaptor
 * config file ({"architecture": "blip2-linear-llama", ...}: BLIP-2's
 * Q-Former output through a linear adaptor into LLaMA-2, chat_adaptor.h);
 * their prompts follow the LLaMA-2 template (chat_llama2.h), the system
 * prompt defaults to none, chat_set_image_place's `after` is ignored (the
 * image precedes its question), and answers end on </s>.
 *
 *     chat_load_opts lo = chat_load_opts_default();
 *     chat_model *cm;
 *     if (chat_model_load("models/MoE-LLaVA-StableLM-1.6B-4e", &lo, &cm)) die(status_message());
 *     chat_session *cs = chat_session_new(cm);
 *     image img; image_load("cat.jpg", &io, &img, NULL);
 *     chat_set_image(cs, &img);                      // vision features computed once, cached
 *     // or, before the question is known: chat_prepare_start(cs, cache, key, &img, NULL, 0);
 *     // (tower + the prompt through the image, in the background; chat_ask waits for it)
 *     gen_opts o = gen_opts_default(); o.on_text = print_chunk;
 *     gen_result r;
 *     chat_ask(cs, "What is in this picture?", &o, &r);   // streams the answer
 *     chat_ask(cs, "And what colour is it?", &o, &r);     // follow-up: history kept
 *     chat_regenerate(cs, &o, &r);                   // drop the last answer, sample again
 *     chat_clear(cs);                                // forget the history (image kept)
 *     chat_session_free(cs); chat_model_free(cm);
 *
 * Prompt (conv templates "stablelm" / "phi" / "qwen", SeparatorStyle.TWO):
 *   system + " USER: <image>\n" + q1 + " ASSISTANT: " + a1 + "<|endoftext|>" + "USER: " + q2 + " ASSISTANT:"
 * tokenised in chunks around "<image>" (no BPE merge across it), the image
 * features (576 tokens for CLIP-L/336, 728 for SigLIP) spliced where the
 * -200 marker sits.
 *
 * Ownership: chat_model is read-only after load and may serve many sessions
 * (one thread per session). A session owns its KV cache, history and cached
 * image features.
 */
#ifndef SEER_CHAT_H
#define SEER_CHAT_H

#include "chat_cache.h"
#include "generate.h"
#include "image.h"
#include "lm.h"

#define CHAT_IMAGE_TOKEN (-200)   /* IMAGE_TOKEN_INDEX in the prompt ids */

typedef struct {
    const char *vision_tower; /* directory of the tower; NULL: resolve mm_image_tower under models_root */
    const char *models_root;  /* default $SEER_MODELS or ~/.cache/seer/models */
    lm_opts     lm;           /* quantisation, MoE sampling */
    int         max_ctx;      /* KV cache positions (default 4096) */
} chat_load_opts;

chat_load_opts chat_load_opts_default(void);

typedef struct chat_model chat_model;
typedef struct chat_session chat_session;
struct clip_model;

int  chat_model_load(const char *dir, const chat_load_opts *o, chat_model **out);
void chat_model_free(chat_model *cm);
/* A chat model around an LM and a vision tower already built (random
 * weights, for benches and tests): the tower's CLIP preprocessing at its own
 * image size, pad to square, hidden_states[-2], an mlp2x_gelu projector with
 * random weights from seed, no tokenizer (chat_ask needs one: use
 * chat_prefill_ids). Takes ownership of lm and tower, also on failure. */
int  chat_model_random(lm_model *lm, struct clip_model *tower, uint64_t seed, chat_model **out);
/* KV cache positions of the sessions made from now on (default: the load
 * option, 4096 for chat_model_random). ST_ARG when max_ctx < 1. */
int  chat_model_set_context(chat_model *cm, int max_ctx);
/* "MoE-LLaVA-StableLM-1.6B-4e (+ clip-vit-large-patch14-336)": for feedback records. */
const char *chat_model_identity(const chat_model *cm);
const lm_model *chat_model_lm(const chat_model *cm);

chat_session *chat_session_new(chat_model *cm);
void chat_session_free(chat_session *cs);

/* Set (or replace) the image; clears the history. NULL = text-only chat. */
int  chat_set_image(chat_session *cs, const image *img);
/* The system prompt (the text before the first "USER: "): NULL = MoE-LLaVA's
 * ("A chat between a curious user and an artificial intelligence
 * assistant. ..."). Copied; kept until changed (chat_set_image and
 * chat_clear keep it). ST_NOMEM. */
int  chat_set_system(chat_session *cs, const char *system);
/* Where the image's features go: with question `turn` (0 = the first, the
 * default), before its text ("<image>\n" q, LLaVA's form, after = 0) or
 * after it (q "\n<image>", after = 1). Kept until changed. A chat_ask whose
 * conversation has no question `turn` fails with ST_ARG. */
int  chat_set_image_place(chat_session *cs, int turn, int after);
/* Ask a question; the answer streams through o->on_text and lands in *r
 * (caller frees with gen_result_release) and in the history. */
int  chat_ask(chat_session *cs, const char *question, const gen_opts *o, gen_result *r);
/* Drop the last answer and generate it again (same question). */
int  chat_regenerate(chat_session *cs, const gen_opts *o, gen_result *r);
/* Forget the conversation, keep the image. */
void chat_clear(chat_session *cs);
/* Replace the history with n complete turns (questions q[i], answers a[i]),
 * as a stateless client (the server's /api/chat) sends the conversation back.
 * The image and the KV cache stay: the next chat_ask reuses the longest
 * common prefix of prompt ids, so a conversation that extends the one this
 * session produced only runs its new part. An answer that equals the one the
 * session stored for that turn (up to surrounding whitespace and the end
 * token the history keeps, see chat_ask) keeps the stored form, so such a
 * conversation is restored token for token. Strings are copied. ST_ARG on an
 * empty question or n < 0, ST_NOMEM (history unchanged on failure). */
int  chat_set_history(chat_session *cs, const char *const *q, const char *const *a, int n);

/* Make the session's KV cache hold exactly ids (CHAT_IMAGE_TOKEN where the
 * image features go), running only what follows the longest prefix already
 * cached, as chat_ask does; logits (lm_vocab floats, may be NULL) of the last
 * position. The ids are borrowed. */
int  chat_prefill_ids(chat_session *cs, const int32_t *ids, int n, float *logits);

/* The one-shot prompt chat_ask would build for question on a fresh session:
 * ids with CHAT_IMAGE_TOKEN where the features go (malloc'd, caller frees),
 * and the logits (lm_vocab floats) at its last position. For conformance. */
int  chat_prompt_logits(chat_session *cs, const char *question, int32_t **ids, int *n, float *logits);

/* Positions the prompt of the session's last answer took (system prompt,
 * history, question; the image counts as its feature rows), cached part
 * included: the answer's prompt size, as usage counts report it. */
int  chat_prompt_positions(const chat_session *cs);

/* Router counts of the session's last answer, as lm_state_router_counts
 * lays them out: the image tokens (counted when the features entered the KV
 * cache), the text positions that ran for this answer (those past the part
 * of the prompt already cached: the whole prompt on a fresh session, the new
 * question on a follow-up) and the generated tokens fed back. */
const uint32_t *chat_router_counts(const chat_session *cs, size_t *len);

/* ---- preparation: the image before the question (chat_cache.h) ----
 *
 * chat_prepare makes the session hold the image's features and the KV cache
 * of the prompt up to and including the image positions ("system USER: " +
 * the image rows, for an image before the first question's text; for
 * another place only the features), so the next chat_ask prefills only its
 * own tokens. The result is exactly what an unprepared chat_ask computes
 * (the same lm_forward calls in the same order). key identifies the image
 * (a content hash): a session that holds that key already returns at once;
 * with a cache cc (may be NULL) the features and the prefix KV come from it
 * when present (a copy), and are stored in it when computed; while another
 * session prepares the same key this waits for it instead of redoing it.
 * get(ctx, &img) is called only when the tower must run (img is released
 * after). cancel (may be NULL) is checked between the tower's and the
 * language model's layers: ST_CANCELLED, and the session is left with no
 * image and an empty cache (the memory it took freed). The history is
 * cleared (as chat_set_image does); the system prompt and image place are
 * read, so set them first. how (may be NULL): where the result came from. */
typedef int (*chat_image_fn)(void *ctx, image *out);
enum { CHAT_PREP_SESSION = 0, CHAT_PREP_CACHE = 1, CHAT_PREP_RAN = 2 };
int  chat_prepare(chat_session *cs, chat_cache *cc, const uint8_t key[16], chat_image_fn get, void *ctx,
                  const volatile int *cancel, int *how);
/* chat_prepare with the prefix given as ids (ending with CHAT_IMAGE_TOKEN,
 * the only marker; n = 0: features only), for a model without a tokenizer
 * (benches). The ids are borrowed. */
int  chat_prepare_ids(chat_session *cs, chat_cache *cc, const uint8_t key[16], chat_image_fn get, void *ctx,
                      const int32_t *prefix, int n, const volatile int *cancel, int *how);
/* A chat_image_fn for an image in memory: ctx is a const image *, copied. */
int  chat_image_copy_fn(void *ctx, image *out);

/* The same in the background: a thread of the session's own (img and prefix
 * are copied; prefix NULL = the session's own prefix, as chat_prepare). Every
 * other call on the session (chat_ask, chat_prefill_ids, ...) first waits for
 * it, so a question asked meanwhile waits and never redoes it, and fails with
 * the preparation's status if it failed. The session must not be used by
 * another thread meanwhile (as always). cc must outlive the work. */
int  chat_prepare_start(chat_session *cs, chat_cache *cc, const uint8_t key[16], const image *img,
                        const int32_t *prefix, int n);
/* Wait for chat_prepare_start's work: its status (ST_OK when none ran). */
int  chat_prepare_wait(chat_session *cs);
/* Stop chat_prepare_start's work (at the next layer), wait for it and free
 * what it made: the session is left with no image. No-op when none runs. */
void chat_prepare_cancel(chat_session *cs);
/* The session holds key's image (prepared, nothing running). */
int  chat_is_prepared(const chat_session *cs, const uint8_t key[16]);

#endif
