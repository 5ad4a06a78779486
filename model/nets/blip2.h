/* model/nets/blip2.h — BLIP-2 for image-text retrieval (Hugging Face
 * Blip2ForImageTextRetrieval, Salesforce/blip2-itm-vit-g): the EVA ViT-g
 * image encoder, the Q-Former with its learned query tokens, the text
 * embeddings, the ITC projections and the ITM head.
 *
 *     blip2_model *m;
 *     if (blip2_load("models/blip2-itm-vit-g", &m)) die(status_message());
 *     float *img = malloc(blip2_image_rows_len(m) * sizeof *img);
 *     blip2_vision(m, pixels, 1, img);              // pixels (1, 3, 224, 224) preprocessed
 *     float feats[32 * 256], text[256], logits[2];
 *     blip2_image_features(m, img, 1, NULL, feats);  // (1, 32, 256), rows L2-normalised
 *     blip2_text_feature(m, ids, n, NULL, text);     // ids from bert_tokenizer_encode
 *     blip2_itm(m, img, ids, n, logits);             // [no match, match]
 *     blip2_free(m);
 *
 * Math (docs/model-spec.md, BLIP-2): the vision tower is a pre-LN ViT with a
 * biased patch convolution, a class token, learned positions, no pre-LN,
 * one fused qkv weight and bias per layer, erf-GELU MLPs and a final
 * post_layernorm over every row ("image rows", what the Q-Former attends
 * to). The Q-Former is a post-LN BERT: its input rows go through
 * qformer.layernorm; every layer runs self-attention over all rows; layers
 * with crossattention (every cross_attention_frequency-th) let the query rows
 * attend to the image rows; query rows then take the *_query feed-forward
 * and text rows the plain one. Text rows are word + position embeddings,
 * positions counted from 0 even behind the queries; no token types.
 *
 * Geometry comes from the tensors' shapes and is cross-checked with
 * config.json; keys the hub's config leaves out take transformers' class
 * defaults (the real blip2-itm-vit-g values: vision heads 16, Q-Former heads
 * 12, layer_norm_eps 1e-6 / 1e-12, hidden_act gelu, cross_attention_frequency
 * 2, num_query_tokens 32, image_size 224). Weight matrices stay in the
 * checkpoint's dtype (F32, F16 or BF16), read in place from the mmap
 * (kernels/linear.h); vectors and embeddings are converted to float32 at load.
 *
 * Ownership: the model owns its checkpoint mapping; blip2_free releases all.
 * Thread-safety: a loaded model is read-only; any number of threads may run
 * forwards on it at once (each call allocates its own activations).
 */
#ifndef SEER_BLIP2_H
#define SEER_BLIP2_H

#include "act.h"
#include "linear.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    linear_w w;   /* (out, in) */
    float   *b;   /* (out) or NULL */
} blip2_lin;

typedef struct {
    float    *ln1_w, *ln1_b;  /* (Dv) */
    blip2_lin qkv;            /* (3Dv, Dv) + (3Dv): rows q | k | v, key bias zero upstream */
    blip2_lin proj;           /* (Dv, Dv) */
    float    *ln2_w, *ln2_b;  /* (Dv) */
    blip2_lin fc1, fc2;       /* (Iv, Dv), (Dv, Iv) */
} blip2_vision_layer;

typedef struct {
    blip2_lin q, k, v;        /* self: (D, D); cross: q (D, D), k/v (D, Dv) */
    blip2_lin o;              /* (D, D) */
    float    *ln_w, *ln_b;    /* (D) */
} blip2_attn;

typedef struct {
    blip2_attn self;
    int        has_cross;
    blip2_attn cross;         /* valid when has_cross */
    blip2_lin  fi_q, fo_q;    /* query feed-forward: (I, D), (D, I) */
    float     *fln_q_w, *fln_q_b;
    int        has_text_ffn;
    blip2_lin  fi_t, fo_t;    /* text feed-forward, when has_text_ffn */
    float     *fln_t_w, *fln_t_b;
} blip2_qformer_layer;

typedef struct blip2_model {
    /* vision (EVA ViT-g) */
    int    image_size, patch, grid, n_img;   /* n_img = grid² + 1 image rows */
    int    Dv, Iv, Lv, Hv;
    float  eps_v;
    act_kind act_v;
    linear_w patch_w;         /* (Dv, 3·P·P): conv weight flattened (ch, ky, kx) */
    float *patch_b;           /* (Dv) */
    float *class_emb;         /* (Dv) */
    float *pos_emb;           /* (n_img, Dv) */
    float *post_ln_w, *post_ln_b; /* (Dv) */
    blip2_vision_layer *vl;   /* (Lv) */
    /* Q-Former */
    int    D, I, L, H, nq, cross_freq;
    float  eps_q;
    act_kind act_q;
    float *query_tokens;      /* (nq, D) */
    float *qln_w, *qln_b;     /* qformer.layernorm (D) */
    blip2_qformer_layer *ql;  /* (L) */
    /* text embeddings */
    int    vocab, n_pos;
    const void *word_emb;     /* (vocab, D) in word_dtype, in the checkpoint (rows converted on use) */
    int    word_dtype;        /* a tensor.h dtype */
    float *pos_emb_t;         /* (n_pos, D) */
    /* heads */
    int    embed_dim;         /* image_text_hidden_size (256) */
    blip2_lin vision_proj, text_proj;  /* (embed_dim, D) + bias */
    blip2_lin itm_head;       /* (2, D) + bias */

    /* private: ownership */
    struct checkpoint *ck;    /* NULL for a random model */
    void **allocs;
    size_t n_allocs, cap_allocs;
    int    text_ok;           /* word embeddings, text FFNs and text_projection present */
} blip2_model;

/* Load a Blip2ForImageTextRetrieval directory (config.json + weights). */
int  blip2_load(const char *dir, blip2_model **out);
void blip2_free(blip2_model *m);

/* Floats of one image's rows: n_img * Dv. */
size_t blip2_image_rows_len(const blip2_model *m);

/* Vision tower: pixels (B, 3, S, S) preprocessed → out (B, n_img, Dv), the
 * post_layernorm output (CLS row first). */
int blip2_vision(const blip2_model *m, const float *pixels, int B, float *out);

/* The Q-Former's query pass over image rows (B, n_img, Dv) → Z (B, nq, D),
 * its last hidden state (no projection): what an LLM adaptor consumes. */
int blip2_query_output(const blip2_model *m, const float *img_rows, int B, float *Z);

/* ITC image features: image rows (B, n_img, Dv) → out (B, nq, embed_dim),
 * normalize(vision_projection(Z)) per row. Z (B, nq, D) is also written when
 * not NULL. */
int blip2_image_features(const blip2_model *m, const float *img_rows, int B, float *Z, float *out);

/* ITC text feature of one tokenised text (ids with [CLS] .. [SEP], 1 <= n <=
 * n_pos) → out (embed_dim), normalize(text_projection([CLS] row)) of the
 * text-only pass. cls (D), the [CLS] row before projection, when not NULL. */
int blip2_text_feature(const blip2_model *m, const int32_t *ids, int n, float *cls, float *out);

/* ITM logits of one image (its rows, (n_img, Dv)) against one text: the
 * Q-Former on [queries; text] with cross-attention for the query rows,
 * itm_head on the query rows averaged → logits[2] = {no match, match}. */
int blip2_itm(const blip2_model *m, const float *img_rows, const int32_t *ids, int n, float logits[2]);

/* softmax(logits)[1]: the match probability. */
float blip2_itm_prob(const float logits[2]);

/* ------------------------------------------------------------- benchmarks */

typedef struct {
    int image_size, patch, v_width, v_layers, v_heads, v_mlp;
    int q_width, q_layers, q_heads, q_mlp, n_query, cross_freq, embed_dim, vocab;
} blip2_geometry;

/* Salesforce/blip2-itm-vit-g: 224/14, ViT-g 1408×39 (16 heads, MLP 6144),
 * Q-Former 768×12 (12 heads, FFN 3072, cross-attention every 2nd layer),
 * 32 queries, ITC 256, vocabulary 30523. */
extern const blip2_geometry BLIP2_GEOMETRY_ITM_VIT_G;

/* A float32 model of that geometry with seeded random weights (normal, std
 * 0.02; layer norms at 1/0), for benchmarks. */
int blip2_random(const blip2_geometry *g, unsigned seed, blip2_model **out);

#endif
