/* model/lm.h — the MoE-LLaVA language models: StableLM-2, Qwen-1 and Phi-2
 * backbones with top-2-of-4 mixture-of-experts MLPs (docs/model-spec.md §B2, B4, B5),
 * and LLaMA-2 (model_type "llama", dense; §L1).
 *
 *     lm_opts o = lm_opts_default();
 *     lm_model *m;
 *     if (lm_load("models/MoE-LLaVA-StableLM-1.6B-4e", &o, &m)) die(status_message());
 *     lm_state *s = lm_state_new(m, 4096);
 *     float *logits = malloc(lm_vocab(m) * sizeof *logits);
 *     lm_forward(m, s, ids, NULL, n, NULL, logits);      // prefill; logits of the last position
 *     lm_forward(m, s, &next, NULL, 1, NULL, logits);    // one decode step
 *     lm_state_free(s); lm_free(m);
 *
 * Ownership: lm_model owns the weights (kept in their stored precision, mostly
 * pointing into the mmap'd checkpoint, or quantised copies for LM_QUANT_Q8) and
 * is read-only after load: many lm_state may run on one model, one thread
 * each. An lm_state owns its KV cache and scratch; it is used by one thread at
 * a time.
 *
 * Memory: the weights are views into the checkpoint (kept open by the model),
 * so a BF16 model's resident size is its checkpoint's; only norms, biases and
 * the MoE gates are float32 copies. With LM_QUANT_Q8 every projection and the
 * lm_head get Q8 copies (about 1.06 bytes/weight) and the stored pages are
 * released. An lm_state holds a KV cache of 2·n_layers·max_ctx·kv_dim
 * values, float32 (4 bytes) or, with lm_opts.kv_f16, IEEE half (2 bytes;
 * lm_kv_bytes), plus scratch that grows with the largest n passed to lm_forward
 * (about n·(2·ffn + 8·hidden) floats).
 *
 * Routing (docs/model-spec.md §B5): e1 = argmax of the FP32 gate softmax; e2 = argmax
 * of the other experts' logits (moe_sampling 0), or of logits + Gumbel noise
 * drawn fresh on every call from the state's generator (moe_sampling 1,
 * seeded from lm_opts.seed at lm_state_new; lm_state_copy copies it). The
 * DeepSpeed capacity rule C = max(ceil(S/E·2·eval_capacity_factor),
 * min_capacity), S = positions of one lm_forward call, is applied; with the
 * shipped configs (2.0, 0) C = S and no token is ever dropped, so splitting a
 * prompt over several calls gives the same result.
 *
 * Numerics: float32 activations with float32 accumulation; the reference runs
 * in fp16, so expect fp16-noise-level differences against it (§B1). Two
 * faster paths round the activations that enter a matmul (kernels/linear.h):
 * LM_QUANT_Q8 quantises them to int8 per block of 32 (integer dot products),
 * and BF16 weights on a CPU with AVX512-BF16 take bfloat16 activations
 * unless lm_opts.exact is set (docs/benchmarks.md: their accuracy).
 */
#ifndef SEER_LM_H
#define SEER_LM_H

#include <stddef.h>
#include <stdint.h>

typedef enum { LM_STABLELM, LM_QWEN, LM_PHI, LM_LLAMA } lm_arch;
typedef enum { LM_QUANT_NONE, LM_QUANT_Q8 } lm_quant;

/* Token kinds for the router statistics. */
typedef enum { LM_TOK_TEXT = 0, LM_TOK_IMAGE = 1, LM_TOK_GEN = 2, LM_TOK_KINDS = 3 } lm_tok_kind;

typedef struct {
    lm_quant quant;        /* LM_QUANT_NONE: stored precision; Q8: int8 blocks of 32, quantised at load */
    int      moe_sampling; /* 0: 2nd expert = argmax of the rest (deterministic);
                              1: DeepSpeed's inference behaviour, Gumbel noise on the 2nd choice */
    uint64_t seed;         /* for moe_sampling */
    int      exact;        /* 1: BF16 weights always multiply float32 activations (the
                              float reference path); 0 (default): BF16 dot products
                              (x rounded to bfloat16) where the CPU has AVX512-BF16 */
    int      kv_f16;       /* 1: the KV cache holds IEEE half rows (half the memory); keys and
                              values are rounded to F16 when stored and widened to float32 head
                              by head as attention reads them (attention_forward_f16kv). 0 (default): float32, exact
                              against the references (docs/benchmarks.md "F16 KV cache") */
} lm_opts;

lm_opts lm_opts_default(void);

typedef struct {
    lm_arch arch;
    int n_layers, hidden, n_heads, head_dim, n_kv_heads, ffn; /* ffn: per-expert MLP width */
    int rope_dims;          /* rotary dims per head (partial rotary) */
    float rope_base, norm_eps;
    int vocab_rows;         /* rows of the embedding / lm_head in the checkpoint */
    int n_experts, top_k;   /* 4, 2 */
    int n_moe_layers;
    const int *moe_layers;  /* (n_moe_layers) layer indices with MoE MLPs */
    int max_pos;
} lm_config;

typedef struct lm_model lm_model;
typedef struct lm_state lm_state;

int  lm_load(const char *dir, const lm_opts *o, lm_model **out);
void lm_free(lm_model *m);
const lm_config *lm_get_config(const lm_model *m);
int  lm_vocab(const lm_model *m);         /* logits length = vocab_rows (callers cut to len(tokenizer)) */
int  lm_hidden(const lm_model *m);
/* Bytes of projections lm_load copied out of the checkpoint's mmap into
 * huge-page memory (the rest is read from the mapped file; see lm.c). */
size_t lm_weights_copied(const lm_model *m);

/* Embedding rows for ids: out (n, hidden) float32 (for splicing image features). */
int  lm_embed(const lm_model *m, const int32_t *ids, int n, float *out);

lm_state *lm_state_new(const lm_model *m, int max_ctx);
/* Bytes the KV cache of this model takes for `positions` positions (K and V,
 * all layers; 2 or 4 bytes a value per lm_opts.kv_f16). */
size_t lm_kv_bytes(const lm_model *m, int positions);
void lm_state_free(lm_state *s);
int  lm_state_pos(const lm_state *s);                  /* tokens in the KV cache */
void lm_state_truncate(lm_state *s, int n);            /* keep the first n positions */
int  lm_state_capacity(const lm_state *s);             /* max_ctx: positions the cache can hold */
int  lm_state_copy(lm_state *dst, const lm_state *src);/* same model; dst must hold src's positions
                                                          (beam search; capacities may differ) */
/* While cancel (may be NULL) is set nonzero, lm_forward stops before its next
 * layer with ST_CANCELLED and leaves the state's positions as they were (the
 * router counts of the layers that ran stay counted). The flag is borrowed:
 * it must outlive its use or be unset with NULL. lm_state_copy keeps dst's. */
void lm_state_set_cancel(lm_state *s, const volatile int *cancel);

/* Run n new positions after the cached ones. Input is either ids (n) or
 * embeds (n, hidden) — exactly one non-NULL. kinds (n) labels each position
 * for the router statistics (NULL = all LM_TOK_TEXT). logits (vocab) receives
 * the last position's logits (NULL to skip the lm_head). */
int  lm_forward(const lm_model *m, lm_state *s, const int32_t *ids, const float *embeds, int n,
                const uint8_t *kinds, float *logits);

/* Router statistics accumulated by a state since the last reset:
 * counts[(moe_layer * n_experts + expert) * LM_TOK_KINDS + kind] = tokens
 * routed there (each token counts for both of its top-2 experts). */
const uint32_t *lm_state_router_counts(const lm_state *s, size_t *len);
void lm_state_router_reset(lm_state *s);

/* ---- for tests, tools and diagnostics ---- */

/* lm_forward, but logits (n, vocab) receives every new position's logits. */
int  lm_forward_all(const lm_model *m, lm_state *s, const int32_t *ids, const float *embeds, int n,
                    const uint8_t *kinds, float *logits);

/* The top-2 experts chosen for each position of the last lm_forward call:
 * routes[(moe_layer * n + i) * 2 + {0, 1}] = {1st, 2nd} expert (the choice,
 * even if the capacity rule dropped it; it never does at eval settings).
 * *n = positions of that call. Valid until the next forward on s. */
const int32_t *lm_state_routes(const lm_state *s, int *n);

/* Bytes of weights the model streams per token (stored or Q8 precision,
 * dense layers + the 2 experts of each MoE layer + lm_head), and held in all. */
size_t lm_weight_bytes(const lm_model *m, size_t *total);

#endif
