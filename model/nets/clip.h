/* model/clip.h — the CLIP image and text towers (Hugging Face CLIPModel).
 *
 *     clip_model *m;
 *     if (clip_load("models/clip-vit-base-patch32", CLIP_VISION | CLIP_TEXT, &m)) die(status_message());
 *     float emb[512];
 *     clip_encode_images(m, pixels, 1, emb);        // pixels: (1, 3, 224, 224) preprocessed
 *     clip_encode_text(m, ids, n_ids, emb);         // ids from clip_tokenizer_encode
 *     clip_free(m);
 *
 * The vision side also reads SigLIP towers (google/siglip-*: no class token,
 * no pre-LN, biased patch conv, gelu_pytorch_tanh) for their hidden states,
 * as MoE-LLaVA's -384 variants use them (clip_vision_hidden only).
 *
 * Math: docs/model-spec.md §A3 (pre-LN transformer, quick_gelu or gelu per config,
 * class-token pooling + post_layernorm for images, end-token pooling +
 * final_layer_norm for text, no-bias projections). Embeddings come back
 * L2-normalised. The text tower runs only up to the end token (causal, so
 * identical to running all 77 positions).
 *
 * Geometry is read from the tensors' shapes (width, layers, patch, positions,
 * projection) and from config.json where shapes cannot tell (heads,
 * layer_norm_eps, hidden_act); a config that disagrees with the tensors is an
 * error naming both. Weights are converted to float32 once at load whatever
 * their stored dtype (F32/F16/BF16), and q/k/v are fused into one matrix.
 *
 * Thread-safety: a loaded model is read-only; any number of threads may run
 * forwards on it at once (each call allocates its own activations).
 */
#ifndef SEER_CLIP_H
#define SEER_CLIP_H

#include "act.h"
#include "gemm_small.h"

#include <stdint.h>

enum { CLIP_VISION = 1, CLIP_TEXT = 2 };

typedef struct {
    float *ln1_w, *ln1_b;   /* (D) */
    float *qkv_w;           /* (3D, D): rows q | k | v */
    float *qkv_b;           /* (3D) */
    float *o_w, *o_b;       /* (D, D), (D) */
    float *ln2_w, *ln2_b;   /* (D) */
    float *fc1_w, *fc1_b;   /* (I, D), (I) */
    float *fc2_w, *fc2_b;   /* (D, I), (D) */
    /* With clip_encoder.packed the four matrices above are repacked for
     * gemm_small (the text tower: a query is a handful of rows) and these
     * views are the ones to use. */
    gemm_packed qkv_p, o_p, fc1_p, fc2_p;
} clip_layer;

typedef struct {
    int      D, I, L, H, dh; /* width, MLP width, layers, heads, head dim */
    float    eps;
    act_kind act;
    int      packed;         /* weights repacked for gemm_small (see clip_layer) */
    clip_layer *layers;      /* (L) */
} clip_encoder;

typedef struct {
    clip_encoder enc;
    int    image_size, patch, grid, n_pos;   /* n_pos = grid² + has_cls */
    int    has_cls;          /* CLIP: 1; SigLIP: 0 (no class token, no pre-LN) */
    float *patch_w;          /* (D, 3·P·P): conv weight flattened (ch, ky, kx) */
    float *patch_b;          /* (D) or NULL (SigLIP's conv has a bias) */
    float *class_emb;        /* (D) or NULL */
    float *pos_emb;          /* (n_pos, D) */
    float *pre_ln_w, *pre_ln_b;   /* (D) or NULL */
    float *post_ln_w, *post_ln_b; /* (D) */
    float *proj;             /* (proj_dim, D), NULL for a vision-only checkpoint */
} clip_vision;

typedef struct {
    clip_encoder enc;
    int    vocab, n_pos;     /* 49408, 77 */
    int32_t eot_id;          /* pooled position: the first end token (= argmax id) */
    float *tok_emb;          /* (vocab, D) */
    float *pos_emb;          /* (n_pos, D) */
    float *final_ln_w, *final_ln_b; /* (D) */
    float *proj;             /* (proj_dim, D) */
} clip_text;

typedef struct clip_model {
    int         towers;      /* CLIP_VISION | CLIP_TEXT actually loaded */
    clip_vision vision;
    clip_text   text;
    int         proj_dim;
    float       logit_scale; /* the stored log-scale; similarity uses exp() */
    float      *arena;       /* every weight above points in here */
    size_t      arena_floats;
} clip_model;

/* Load the towers asked for (CLIP_VISION and/or CLIP_TEXT) from a model
 * directory (config.json + weights). A tower whose tensors are absent is an
 * error only when asked for. */
int  clip_load(const char *dir, int towers, clip_model **out);
void clip_free(clip_model *m);

/* Image embeddings: pixels (B, 3, S, S) preprocessed → out (B, proj_dim),
 * L2-normalised. */
int clip_encode_images(const clip_model *m, const float *pixels, int B, float *out);

/* Vision hidden states: the output of the first n_layers encoder layers
 * (hidden_states[n_layers] in transformers' numbering; hidden_states[-2] of an
 * L-layer tower is n_layers = L - 1), no post_layernorm, all n_pos tokens:
 * out (B, n_pos, D). */
int clip_vision_hidden(const clip_model *m, const float *pixels, int B, int n_layers, float *out);
/* clip_vision_hidden, checking *cancel (may be NULL) before each layer:
 * ST_CANCELLED once it is set (out then holds nothing useful). */
int clip_vision_hidden_cancel(const clip_model *m, const float *pixels, int B, int n_layers, float *out,
                              const volatile int *cancel);

/* Text embedding of one tokenised sequence (ids with start/end tokens,
 * n <= n_pos) → out (proj_dim), L2-normalised. */
int clip_encode_text(const clip_model *m, const int32_t *ids, int n, float *out);


/* ------------------------------------------------------------- benchmarks */

/* Geometry of a CLIP model with random weights (no checkpoint needed). */
typedef struct {
    int v_width, v_layers, v_heads, v_mlp, image_size, patch;
    int t_width, t_layers, t_heads, t_mlp, vocab, ctx;
    int proj;
} clip_geometry;

/* The geometries of openai/clip-vit-base-patch32 and -large-patch14-336. */
extern const clip_geometry CLIP_GEOMETRY_B32, CLIP_GEOMETRY_L14_336;

/* A model of that geometry with seeded random weights (normal, std 0.02;
 * layer norms at 1/0), for benchmarks. Both towers; quick_gelu. */
int clip_random(const clip_geometry *g, unsigned seed, clip_model **out);

#endif
