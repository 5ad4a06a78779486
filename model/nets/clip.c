/* model/clip.c — CLIP towers: load (config + checkpoint → float32 arena) and
 * forward passes. See clip.h for the contract and docs/model-spec.md §A3 for the math.
 */
#include "clip.h"
#include "attention.h"
#include "gemm_small.h"
#include "checkpoint.h"
#include "file.h"
#include "jsonx.h"
#include "log.h"
#include "matmul.h"
#include "norm.h"
#include "rng.h"
#include "status.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ loading */

typedef struct {
    const checkpoint *ck;
    const char *dir;
    float *arena;      /* NULL in the sizing pass */
    size_t used;       /* floats handed out so far */
} loader;

/* Reserve n floats (64-byte aligned); in the sizing pass only count. */
static float *ld_alloc(loader *l, size_t n) {
    size_t start = (l->used + 15) & ~(size_t)15;
    l->used = start + n;
    return l->arena ? l->arena + start : NULL;
}

/* Take tensor `name` of the given shape into a fresh arena slot. */
static int ld_take(loader *l, const char *name, int ndim, const int64_t *shape, float **dst) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    float *p = ld_alloc(l, n);
    *dst = p;
    if (!l->arena) {
        const tensor *t;
        return checkpoint_get(l->ck, name, ndim, shape, &t);
    }
    return checkpoint_read_f32(l->ck, name, ndim, shape, p);
}

/* Read tensor name into an existing slot (for the fused qkv rows). */
static int ld_into(loader *l, const char *name, int ndim, const int64_t *shape, float *dst) {
    if (!l->arena) {
        const tensor *t;
        return checkpoint_get(l->ck, name, ndim, shape, &t);
    }
    return checkpoint_read_f32(l->ck, name, ndim, shape, dst);
}

static int count_layers(const checkpoint *ck, const char *prefix) {
    char name[256];
    int n = 0;
    for (;; n++) {
        snprintf(name, sizeof name, "%s.encoder.layers.%d.layer_norm1.weight", prefix, n);
        if (!checkpoint_find(ck, name)) return n;
    }
}

static const tensor *need(const checkpoint *ck, const char *dir, const char *name, int ndim, int *st) {
    const tensor *t = checkpoint_find(ck, name);
    if (!t) {
        *st = status_fail(ST_NOT_FOUND, "%s: required tensor \"%s\" is missing", dir, name);
        return NULL;
    }
    if (t->ndim != ndim) {
        *st = status_fail(ST_MISMATCH, "%s: tensor \"%s\" has %d dimensions, expected %d", dir, name,
                          t->ndim, ndim);
        return NULL;
    }
    return t;
}

/* Integer config field that must agree with what the tensors say (a NULL
 * config or an absent field agrees with anything). */
static int cfg_check(json_t *cfg, const char *key, long long have, const char *dir, const char *sect) {
    long long v = jsonx_int(cfg, key, have);
    if (v != have)
        return status_fail(ST_MISMATCH, "%s: config.json %s.%s = %lld but the weights say %lld", dir, sect,
                           key, v, have);
    return ST_OK;
}

static int load_encoder(loader *l, const char *prefix, json_t *cfg, const char *sect, clip_encoder *e) {
    const int64_t D = e->D, I = e->I, D3 = 3 * e->D;
    if (l->arena) {
        e->layers = calloc((size_t)e->L, sizeof *e->layers);
        if (!e->layers) return status_fail(ST_NOMEM, "%s: cannot allocate layers", l->dir);
    }
    char name[256];
    int st = ST_OK;
    for (int i = 0; i < e->L && !st; i++) {
        clip_layer dummy, *ly = l->arena ? &e->layers[i] : &dummy;
#define T1(field, suffix, n0) \
    (snprintf(name, sizeof name, "%s.encoder.layers.%d.%s", prefix, i, suffix), \
     ld_take(l, name, 1, (int64_t[]){n0}, &ly->field))
#define T2(field, suffix, n0, n1) \
    (snprintf(name, sizeof name, "%s.encoder.layers.%d.%s", prefix, i, suffix), \
     ld_take(l, name, 2, (int64_t[]){n0, n1}, &ly->field))
        st = T1(ln1_w, "layer_norm1.weight", D);
        if (!st) st = T1(ln1_b, "layer_norm1.bias", D);
        if (!st) {
            ly->qkv_w = ld_alloc(l, (size_t)D3 * D);
            ly->qkv_b = ld_alloc(l, (size_t)D3);
            static const char *qkv[3] = {"q_proj", "k_proj", "v_proj"};
            for (int j = 0; j < 3 && !st; j++) {
                snprintf(name, sizeof name, "%s.encoder.layers.%d.self_attn.%s.weight", prefix, i, qkv[j]);
                st = ld_into(l, name, 2, (int64_t[]){D, D}, ly->qkv_w ? ly->qkv_w + (size_t)j * D * D : NULL);
                if (st) break;
                snprintf(name, sizeof name, "%s.encoder.layers.%d.self_attn.%s.bias", prefix, i, qkv[j]);
                st = ld_into(l, name, 1, (int64_t[]){D}, ly->qkv_b ? ly->qkv_b + (size_t)j * D : NULL);
            }
        }
        if (!st) st = T2(o_w, "self_attn.out_proj.weight", D, D);
        if (!st) st = T1(o_b, "self_attn.out_proj.bias", D);
        if (!st) st = T1(ln2_w, "layer_norm2.weight", D);
        if (!st) st = T1(ln2_b, "layer_norm2.bias", D);
        if (!st) st = T2(fc1_w, "mlp.fc1.weight", I, D);
        if (!st) st = T1(fc1_b, "mlp.fc1.bias", I);
        if (!st) st = T2(fc2_w, "mlp.fc2.weight", D, I);
        if (!st) st = T1(fc2_b, "mlp.fc2.bias", D);
#undef T1
#undef T2
    }
    (void)cfg;
    (void)sect;
    return st;
}

/* Geometry of one encoder from the tensors, cross-checked with config. */
static int encoder_geometry(const checkpoint *ck, const char *dir, const char *prefix, json_t *cfg,
                            const char *sect, int D, int siglip, clip_encoder *e) {
    int st = ST_OK;
    char name[256];
    e->D = D;
    e->L = count_layers(ck, prefix);
    if (e->L == 0)
        return status_fail(ST_NOT_FOUND, "%s: no %s.encoder.layers.0.* tensors", dir, prefix);
    snprintf(name, sizeof name, "%s.encoder.layers.0.mlp.fc1.weight", prefix);
    const tensor *fc1 = need(ck, dir, name, 2, &st);
    if (!fc1) return st;
    e->I = (int)fc1->shape[0];
    e->H = (int)jsonx_int(cfg, "num_attention_heads", D / 64);
    if (e->H <= 0 || D % e->H)
        return status_fail(ST_MISMATCH, "%s: %s.num_attention_heads = %d does not divide width %d", dir, sect,
                           e->H, D);
    e->dh = D / e->H;
    /* transformers' defaults when the config leaves them out */
    e->eps = (float)jsonx_num(cfg, "layer_norm_eps", siglip ? 1e-6 : 1e-5);
    const char *act = jsonx_str(cfg, "hidden_act", siglip ? "gelu_pytorch_tanh" : "quick_gelu");
    int k = act_parse(act);
    if (k < 0) return status_fail(ST_UNSUPPORTED, "%s: %s.hidden_act \"%s\" is not supported", dir, sect, act);
    e->act = (act_kind)k;
    if ((st = cfg_check(cfg, "hidden_size", D, dir, sect))) return st;
    if ((st = cfg_check(cfg, "intermediate_size", e->I, dir, sect))) return st;
    if ((st = cfg_check(cfg, "num_hidden_layers", e->L, dir, sect))) return st;
    return ST_OK;
}

static json_t *sub_config(json_t *root, const char *key, const char *legacy, const char *own_type) {
    json_t *c = json_object_get(root, key);
    if (json_is_object(c)) return c;
    c = json_object_get(root, legacy);
    if (json_is_object(c)) return c;
    const char *mt = jsonx_str(root, "model_type", "");
    if (!strcmp(mt, own_type)) return root;
    return NULL;
}

static int load_all(loader *l, json_t *root, int towers, clip_model *m) {
    const checkpoint *ck = l->ck;
    const char *dir = l->dir;
    int st = ST_OK;
    const tensor *t;

    if (towers & CLIP_VISION) {
        json_t *vc = sub_config(root, "vision_config", "vision_config_dict", "clip_vision_model");
        if (!vc) vc = sub_config(root, "vision_config", "vision_config_dict", "siglip_vision_model");
        clip_vision *v = &m->vision;
        /* CLIP has a class token and a pre-LN; SigLIP has neither, and a
         * biased patch convolution. Both are read from which tensors exist. */
        v->has_cls = checkpoint_find(ck, "vision_model.embeddings.class_embedding") != NULL;
        if (!(t = need(ck, dir, "vision_model.embeddings.patch_embedding.weight", 4, &st))) return st;
        int D = (int)t->shape[0];
        v->patch = (int)t->shape[2];
        if (t->shape[1] != 3 || t->shape[3] != v->patch || v->patch <= 0)
            return status_fail(ST_MISMATCH, "%s: patch_embedding.weight has an unexpected shape", dir);
        int siglip = !strncmp(jsonx_str(root, "model_type", ""), "siglip", 6);
        if ((st = encoder_geometry(ck, dir, "vision_model", vc, "vision_config", D, siglip, &v->enc))) return st;
        if (!(t = need(ck, dir, "vision_model.embeddings.position_embedding.weight", 2, &st))) return st;
        v->n_pos = (int)t->shape[0];
        v->grid = (int)lround(sqrt((double)(v->n_pos - v->has_cls)));
        if (v->grid * v->grid + v->has_cls != v->n_pos)
            return status_fail(ST_MISMATCH, "%s: %d vision positions is not a square grid%s", dir, v->n_pos,
                               v->has_cls ? " plus a class token" : "");
        /* The patch convolution (stride = kernel = patch, no padding) drops
         * the pixels past grid * patch: SigLIP so400m-384 has 27 x 14 = 378 of
         * its 384. image_size is what the processor makes and the tower takes. */
        v->image_size = (int)jsonx_int(vc, "image_size", v->grid * v->patch);
        if (v->image_size / v->patch != v->grid)
            return status_fail(ST_MISMATCH, "%s: config.json vision_config.image_size = %d gives a %d-patch grid "
                               "but the weights say %d", dir, v->image_size, v->image_size / v->patch, v->grid);
        if ((st = cfg_check(vc, "patch_size", v->patch, dir, "vision_config"))) return st;
        const int64_t P = v->patch;
        if ((st = ld_take(l, "vision_model.embeddings.patch_embedding.weight", 4, (int64_t[]){D, 3, P, P},
                          &v->patch_w))) return st;
        v->patch_b = NULL;
        if (checkpoint_find(ck, "vision_model.embeddings.patch_embedding.bias") &&
            (st = ld_take(l, "vision_model.embeddings.patch_embedding.bias", 1, (int64_t[]){D}, &v->patch_b)))
            return st;
        v->class_emb = NULL;
        if (v->has_cls &&
            (st = ld_take(l, "vision_model.embeddings.class_embedding", 1, (int64_t[]){D}, &v->class_emb)))
            return st;
        if ((st = ld_take(l, "vision_model.embeddings.position_embedding.weight", 2,
                          (int64_t[]){v->n_pos, D}, &v->pos_emb))) return st;
        v->pre_ln_w = v->pre_ln_b = NULL;
        if (checkpoint_find(ck, "vision_model.pre_layrnorm.weight")) {
            if ((st = ld_take(l, "vision_model.pre_layrnorm.weight", 1, (int64_t[]){D}, &v->pre_ln_w))) return st;
            if ((st = ld_take(l, "vision_model.pre_layrnorm.bias", 1, (int64_t[]){D}, &v->pre_ln_b))) return st;
        }
        if ((st = ld_take(l, "vision_model.post_layernorm.weight", 1, (int64_t[]){D}, &v->post_ln_w))) return st;
        if ((st = ld_take(l, "vision_model.post_layernorm.bias", 1, (int64_t[]){D}, &v->post_ln_b))) return st;
        if ((st = load_encoder(l, "vision_model", vc, "vision_config", &v->enc))) return st;
        v->proj = NULL;
        if ((t = checkpoint_find(ck, "visual_projection.weight"))) {
            if (t->ndim != 2 || t->shape[1] != D)
                return status_fail(ST_MISMATCH, "%s: visual_projection.weight is not (proj, %d)", dir, D);
            m->proj_dim = (int)t->shape[0];
            if ((st = ld_take(l, "visual_projection.weight", 2, (int64_t[]){m->proj_dim, D}, &v->proj))) return st;
        }
        m->towers |= CLIP_VISION;
    }

    if (towers & CLIP_TEXT) {
        json_t *tc = sub_config(root, "text_config", "text_config_dict", "clip_text_model");
        clip_text *x = &m->text;
        if (!(t = need(ck, dir, "text_model.embeddings.token_embedding.weight", 2, &st))) return st;
        x->vocab = (int)t->shape[0];
        int D = (int)t->shape[1];
        if ((st = encoder_geometry(ck, dir, "text_model", tc, "text_config", D, 0, &x->enc))) return st;
        if (!(t = need(ck, dir, "text_model.embeddings.position_embedding.weight", 2, &st))) return st;
        x->n_pos = (int)t->shape[0];
        x->eot_id = (int32_t)jsonx_int(tc, "eos_token_id", 49407);
        if (x->eot_id == 2) x->eot_id = 49407; /* legacy configs: pooling is argmax == 49407 */
        if (!(t = need(ck, dir, "text_projection.weight", 2, &st))) return st;
        int proj = (int)t->shape[0];
        if ((m->towers & CLIP_VISION) && m->vision.proj && proj != m->proj_dim)
            return status_fail(ST_MISMATCH, "%s: text projection %d != visual projection %d", dir, proj,
                               m->proj_dim);
        m->proj_dim = proj;
        if ((st = ld_take(l, "text_model.embeddings.token_embedding.weight", 2, (int64_t[]){x->vocab, D},
                          &x->tok_emb))) return st;
        if ((st = ld_take(l, "text_model.embeddings.position_embedding.weight", 2, (int64_t[]){x->n_pos, D},
                          &x->pos_emb))) return st;
        if ((st = ld_take(l, "text_model.final_layer_norm.weight", 1, (int64_t[]){D}, &x->final_ln_w))) return st;
        if ((st = ld_take(l, "text_model.final_layer_norm.bias", 1, (int64_t[]){D}, &x->final_ln_b))) return st;
        if ((st = ld_take(l, "text_projection.weight", 2, (int64_t[]){proj, D}, &x->proj))) return st;
        if ((st = load_encoder(l, "text_model", tc, "text_config", &x->enc))) return st;
        m->towers |= CLIP_TEXT;
    }

    if (m->proj_dim && (m->towers & (CLIP_TEXT | CLIP_VISION))) {
        long long pd = jsonx_int(root, "projection_dim", m->proj_dim);
        if (pd != m->proj_dim)
            return status_fail(ST_MISMATCH, "%s: config.json projection_dim = %lld but the weights say %d", dir,
                               pd, m->proj_dim);
    }
    m->logit_scale = (float)log(100.0);
    if ((t = checkpoint_find(ck, "logit_scale"))) {
        float s;
        if (t->numel != 1 || tensor_to_f32(&s, t->data, t->dtype, 1))
            return status_fail(ST_FORMAT, "%s: logit_scale is not a float scalar", dir);
        m->logit_scale = s;
    }
    return ST_OK;
}

/* Repack an encoder's matrices for gemm_small (in place in the arena). */
static int encoder_pack(clip_encoder *e) {
    const int D = e->D, I = e->I;
    for (int l = 0; l < e->L; l++) {
        clip_layer *ly = &e->layers[l];
        int st = gemm_pack_inplace(&ly->qkv_p, ly->qkv_w, 3 * D, D);
        if (!st) st = gemm_pack_inplace(&ly->o_p, ly->o_w, D, D);
        if (!st) st = gemm_pack_inplace(&ly->fc1_p, ly->fc1_w, I, D);
        if (!st) st = gemm_pack_inplace(&ly->fc2_p, ly->fc2_w, D, I);
        if (st) return st;
    }
    e->packed = 1;
    return ST_OK;
}

static void encoder_free(clip_encoder *e) {
    for (int l = 0; e->layers && l < e->L; l++) {
        gemm_packed_release(&e->layers[l].qkv_p);
        gemm_packed_release(&e->layers[l].o_p);
        gemm_packed_release(&e->layers[l].fc1_p);
        gemm_packed_release(&e->layers[l].fc2_p);
    }
    free(e->layers);
    e->layers = NULL;
}

int clip_load(const char *dir, int towers, clip_model **out) {
    *out = NULL;
    char path[4096];
    int st;
    if ((st = file_join(path, sizeof path, dir, "config.json"))) return st;
    json_t *root;
    if ((st = jsonx_load(path, &root))) return st;
    checkpoint *ck;
    if ((st = checkpoint_open(dir, &ck))) {
        json_decref(root);
        return st;
    }
    clip_model *m = calloc(1, sizeof *m);
    if (!m) {
        st = status_fail(ST_NOMEM, "clip: out of memory");
        goto done;
    }
    /* Pass 1 sizes the arena and validates every tensor; pass 2 fills it. */
    loader l = {ck, dir, NULL, 0};
    clip_model sizing = {0};
    if ((st = load_all(&l, root, towers, &sizing))) goto done;
    m->arena_floats = l.used;
    if (posix_memalign((void **)&m->arena, 64, l.used * sizeof(float))) {
        m->arena = NULL;
        st = status_fail(ST_NOMEM, "%s: cannot allocate %.1f MB for weights", dir, l.used * 4 / 1e6);
        goto done;
    }
    l = (loader){ck, dir, m->arena, 0};
    if ((st = load_all(&l, root, towers, m))) goto done;
    /* A text query is a handful of rows: the text tower runs on gemm_small. */
    if ((m->towers & CLIP_TEXT) && (st = encoder_pack(&m->text.enc))) goto done;
    log_info("loaded CLIP from %s: vision %s, text %s, projection %d, %.1f MB float32", dir,
             (m->towers & CLIP_VISION) ? "yes" : "no", (m->towers & CLIP_TEXT) ? "yes" : "no", m->proj_dim,
             m->arena_floats * 4 / 1e6);
done:
    checkpoint_close(ck);
    json_decref(root);
    if (st) {
        clip_free(m);
        return st;
    }
    *out = m;
    return ST_OK;
}

void clip_free(clip_model *m) {
    if (!m) return;
    encoder_free(&m->vision.enc);
    encoder_free(&m->text.enc);
    free(m->arena);
    free(m);
}

/* ------------------------------------------------------------------ forward */

typedef struct {
    float *h;     /* (rows, D)  normed input of a sublayer */
    float *qkv;   /* (rows, 3D) */
    float *att;   /* (rows, D)  attention output before out_proj */
    float *mlp;   /* (rows, I) */
} scratch;

static int scratch_alloc(scratch *s, size_t rows, int D, int I) {
    s->h = malloc(rows * (size_t)D * sizeof(float));
    s->qkv = malloc(rows * (size_t)D * 3 * sizeof(float));
    s->att = malloc(rows * (size_t)D * sizeof(float));
    s->mlp = malloc(rows * (size_t)I * sizeof(float));
    if (!s->h || !s->qkv || !s->att || !s->mlp)
        return status_fail(ST_NOMEM, "clip: cannot allocate activations for %zu tokens", rows);
    return ST_OK;
}

static void scratch_free(scratch *s) {
    free(s->h);
    free(s->qkv);
    free(s->att);
    free(s->mlp);
}

/* y (M, N) = x (M, K) · Wᵀ + b through the encoder's GEMM of choice. */
static void linear(const clip_encoder *e, float *y, const float *x, const float *W, const gemm_packed *Wp,
                   const float *b, int M, int N, int K, int accumulate) {
    if (e->packed) gemm_small(y, x, Wp, b, M, accumulate);
    else matmul_linear(y, x, W, b, M, N, K, accumulate);
}

/* One pre-LN layer over B sequences of T tokens in x (B·T, D), in place.
 * last_only (B = 1, causal): only the last position's output is wanted, so
 * past the key/value projections the layer runs on that one row; x then
 * holds valid data only in its last row. */
static int layer_forward(const clip_encoder *e, const clip_layer *ly, float *x, int B, int T, int causal,
                         int last_only, scratch *s) {
    const int D = e->D, I = e->I, rows = B * T;
    const int q0 = last_only ? T - 1 : 0, nq = rows - q0; /* query rows */
    norm_layer(s->h, x, ly->ln1_w, ly->ln1_b, rows, D, e->eps);
    linear(e, s->qkv, s->h, ly->qkv_w, &ly->qkv_p, ly->qkv_b, rows, 3 * D, D, 0);
    attention_shape as = {T - q0, T, e->H, e->dh, 3 * D, 3 * D, 3 * D, D, 1.0f / sqrtf((float)e->dh), causal};
    int st = attention_batch(&as, B, s->att, s->qkv + (size_t)q0 * 3 * D, s->qkv + D, s->qkv + 2 * D);
    if (st) return st;
    float *xq = x + (size_t)q0 * D;
    linear(e, xq, s->att, ly->o_w, &ly->o_p, ly->o_b, nq, D, D, 1);
    norm_layer(s->h, xq, ly->ln2_w, ly->ln2_b, nq, D, e->eps);
    linear(e, s->mlp, s->h, ly->fc1_w, &ly->fc1_p, NULL, nq, I, D, 0);
    act_apply(e->act, s->mlp, (size_t)nq * I, ly->fc1_b, I);
    linear(e, xq, s->mlp, ly->fc2_w, &ly->fc2_p, ly->fc2_b, nq, D, I, 1);
    return ST_OK;
}

/* Embeddings + pre-LN + the first n_layers layers: x (B·n_pos, D). */
static int vision_trunk(const clip_model *m, const float *pixels, int B, int n_layers, float *x, scratch *s,
                        const volatile int *cancel) {
    const clip_vision *v = &m->vision;
    const int D = v->enc.D, P = v->patch, G = v->grid, S = v->image_size, T = v->n_pos;
    const int K = 3 * P * P, NP = G * G;
    /* im2col: one row per patch, columns in the conv weight's (ch, ky, kx) order. */
    float *cols = malloc((size_t)B * NP * K * sizeof(float));
    float *pe = malloc((size_t)B * NP * D * sizeof(float));
    if (!cols || !pe) {
        free(cols);
        free(pe);
        return status_fail(ST_NOMEM, "clip: cannot allocate patch buffers for %d images", B);
    }
    #pragma omp parallel for schedule(static)
    for (int bp = 0; bp < B * NP; bp++) {
        const int b = bp / NP, p = bp % NP, gy = p / G, gx = p % G;
        float *row = cols + (size_t)bp * K;
        for (int ch = 0; ch < 3; ch++)
            for (int ky = 0; ky < P; ky++)
                memcpy(row + (ch * P + ky) * P,
                       pixels + (((size_t)b * 3 + ch) * S + (size_t)gy * P + ky) * S + (size_t)gx * P,
                       (size_t)P * sizeof(float));
    }
    matmul_linear(pe, cols, v->patch_w, v->patch_b, B * NP, D, K, 0);
    free(cols);
    const int c = v->has_cls;
    for (int b = 0; b < B; b++) {
        float *xb = x + (size_t)b * T * D;
        if (c)
            for (int i = 0; i < D; i++) xb[i] = v->class_emb[i] + v->pos_emb[i];
        for (int p = 0; p < NP; p++) {
            const float *src = pe + ((size_t)b * NP + p) * D, *pos = v->pos_emb + (size_t)(p + c) * D;
            float *dst = xb + (size_t)(p + c) * D;
            for (int i = 0; i < D; i++) dst[i] = src[i] + pos[i];
        }
    }
    free(pe);
    if (v->pre_ln_w) norm_layer(x, x, v->pre_ln_w, v->pre_ln_b, B * T, D, v->enc.eps);
    for (int l = 0; l < n_layers; l++) {
        if (cancel && *cancel) return status_fail(ST_CANCELLED, "clip: cancelled before layer %d", l);
        int st = layer_forward(&v->enc, &v->enc.layers[l], x, B, T, 0, 0, s);
        if (st) return st;
    }
    return ST_OK;
}

static int vision_run(const clip_model *m, const float *pixels, int B, int n_layers, float *hidden, float *emb,
                      const volatile int *cancel) {
    if (!(m->towers & CLIP_VISION)) return status_fail(ST_ARG, "clip: the vision tower is not loaded");
    const clip_vision *v = &m->vision;
    const int D = v->enc.D, T = v->n_pos;
    if (n_layers < 0 || n_layers > v->enc.L)
        return status_fail(ST_ARG, "clip: %d layers asked of a %d-layer tower", n_layers, v->enc.L);
    if (emb && (!v->proj || !v->has_cls))
        return status_fail(ST_ARG, "clip: this checkpoint has no class-token projection (a vision-only tower?)");
    scratch s;
    float *x = hidden ? hidden : malloc((size_t)B * T * D * sizeof(float));
    int st = x ? scratch_alloc(&s, (size_t)B * T, D, v->enc.I)
               : status_fail(ST_NOMEM, "clip: cannot allocate activations for %d images", B);
    if (!st) st = vision_trunk(m, pixels, B, n_layers, x, &s, cancel);
    if (!st && emb) {
        float *pooled = s.h; /* (B, D) */
        for (int b = 0; b < B; b++)
            norm_layer(pooled + (size_t)b * D, x + (size_t)b * T * D, v->post_ln_w, v->post_ln_b, 1, D, v->enc.eps);
        matmul_linear(emb, pooled, v->proj, NULL, B, m->proj_dim, D, 0);
        norm_l2(emb, B, m->proj_dim);
    }
    if (x) scratch_free(&s);
    if (x != hidden) free(x);
    return st;
}

int clip_encode_images(const clip_model *m, const float *pixels, int B, float *out) {
    if (B <= 0) return status_fail(ST_ARG, "clip: batch of %d images", B);
    return vision_run(m, pixels, B, m->vision.enc.L, NULL, out, NULL);
}

int clip_vision_hidden(const clip_model *m, const float *pixels, int B, int n_layers, float *out) {
    if (B <= 0) return status_fail(ST_ARG, "clip: batch of %d images", B);
    return vision_run(m, pixels, B, n_layers, out, NULL, NULL);
}

int clip_vision_hidden_cancel(const clip_model *m, const float *pixels, int B, int n_layers, float *out,
                              const volatile int *cancel) {
    if (B <= 0) return status_fail(ST_ARG, "clip: batch of %d images", B);
    return vision_run(m, pixels, B, n_layers, out, NULL, cancel);
}

int clip_encode_text(const clip_model *m, const int32_t *ids, int n, float *out) {
    if (!(m->towers & CLIP_TEXT)) return status_fail(ST_ARG, "clip: the text tower is not loaded");
    const clip_text *t = &m->text;
    const int D = t->enc.D;
    if (n <= 0 || n > t->n_pos)
        return status_fail(ST_ARG, "clip: %d tokens (the text tower takes 1..%d)", n, t->n_pos);
    /* Pool at the first occurrence of the largest id (the end token). Causal
     * attention makes every later position irrelevant: run only up to it. */
    int pool = 0;
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->vocab)
            return status_fail(ST_ARG, "clip: token id %d outside the vocabulary of %d", ids[i], t->vocab);
        if (ids[i] > ids[pool]) pool = i;
    }
    const int T = pool + 1;
    float *x = malloc((size_t)T * D * sizeof(float));
    scratch s;
    int st = x ? scratch_alloc(&s, (size_t)T, D, t->enc.I) : status_fail(ST_NOMEM, "clip: out of memory");
    if (st) {
        free(x);
        return st;
    }
    for (int i = 0; i < T; i++) {
        const float *te = t->tok_emb + (size_t)ids[i] * D, *pe = t->pos_emb + (size_t)i * D;
        for (int j = 0; j < D; j++) x[(size_t)i * D + j] = te[j] + pe[j];
    }
    for (int l = 0; l < t->enc.L && !st; l++)
        st = layer_forward(&t->enc, &t->enc.layers[l], x, 1, T, 1, l == t->enc.L - 1, &s);
    if (!st) {
        norm_layer(s.h, x + (size_t)pool * D, t->final_ln_w, t->final_ln_b, 1, D, t->enc.eps);
        matmul_linear(out, s.h, t->proj, NULL, 1, m->proj_dim, D, 0);
        norm_l2(out, 1, m->proj_dim);
    }
    scratch_free(&s);
    free(x);
    return st;
}

/* --------------------------------------------------------- random weights */

const clip_geometry CLIP_GEOMETRY_B32 = {768, 12, 12, 3072, 224, 32, 512, 12, 8, 2048, 49408, 77, 512};
const clip_geometry CLIP_GEOMETRY_L14_336 = {1024, 24, 16, 4096, 336, 14, 768, 12, 12, 3072, 49408, 77, 768};

typedef struct {
    uint64_t s;
    float *arena;
    size_t used;
} rnd;

/* n floats from the arena (sizing pass when arena is NULL), set to
 * mean + std * N(0,1) (std 0 gives the constant mean). */
static float *rnd_take(rnd *r, size_t n, float mean, float std) {
    size_t start = (r->used + 15) & ~(size_t)15;
    r->used = start + n;
    if (!r->arena) return NULL;
    float *p = r->arena + start;
    for (size_t i = 0; i < n; i++) p[i] = mean + (std ? std * rng_normal(&r->s) : 0.0f);
    return p;
}

static int rnd_encoder(rnd *r, clip_encoder *e, int D, int L, int H, int I) {
    *e = (clip_encoder){D, I, L, H, D / H, 1e-5f, ACT_QUICK_GELU, 0, NULL};
    if (r->arena && !(e->layers = calloc((size_t)L, sizeof *e->layers)))
        return status_fail(ST_NOMEM, "clip: out of memory");
    for (int i = 0; i < L; i++) {
        clip_layer d, *ly = r->arena ? &e->layers[i] : &d;
        ly->ln1_w = rnd_take(r, D, 1, 0), ly->ln1_b = rnd_take(r, D, 0, 0);
        ly->qkv_w = rnd_take(r, (size_t)3 * D * D, 0, 0.02f), ly->qkv_b = rnd_take(r, 3 * D, 0, 0.02f);
        ly->o_w = rnd_take(r, (size_t)D * D, 0, 0.02f), ly->o_b = rnd_take(r, D, 0, 0.02f);
        ly->ln2_w = rnd_take(r, D, 1, 0), ly->ln2_b = rnd_take(r, D, 0, 0);
        ly->fc1_w = rnd_take(r, (size_t)I * D, 0, 0.02f), ly->fc1_b = rnd_take(r, I, 0, 0.02f);
        ly->fc2_w = rnd_take(r, (size_t)D * I, 0, 0.02f), ly->fc2_b = rnd_take(r, D, 0, 0.02f);
    }
    return ST_OK;
}

static int rnd_model(rnd *r, const clip_geometry *g, clip_model *m) {
    int st;
    clip_vision *v = &m->vision;
    v->patch = g->patch, v->image_size = g->image_size, v->grid = g->image_size / g->patch;
    v->n_pos = v->grid * v->grid + 1;
    const int D = g->v_width, P = g->patch;
    v->has_cls = 1;
    v->patch_w = rnd_take(r, (size_t)D * 3 * P * P, 0, 0.02f);
    v->class_emb = rnd_take(r, D, 0, 0.02f);
    v->pos_emb = rnd_take(r, (size_t)v->n_pos * D, 0, 0.02f);
    v->pre_ln_w = rnd_take(r, D, 1, 0), v->pre_ln_b = rnd_take(r, D, 0, 0);
    v->post_ln_w = rnd_take(r, D, 1, 0), v->post_ln_b = rnd_take(r, D, 0, 0);
    v->proj = rnd_take(r, (size_t)g->proj * D, 0, 0.02f);
    if ((st = rnd_encoder(r, &v->enc, D, g->v_layers, g->v_heads, g->v_mlp))) return st;
    clip_text *t = &m->text;
    const int Dt = g->t_width;
    t->vocab = g->vocab, t->n_pos = g->ctx, t->eot_id = g->vocab - 1;
    t->tok_emb = rnd_take(r, (size_t)g->vocab * Dt, 0, 0.02f);
    t->pos_emb = rnd_take(r, (size_t)g->ctx * Dt, 0, 0.01f);
    t->final_ln_w = rnd_take(r, Dt, 1, 0), t->final_ln_b = rnd_take(r, Dt, 0, 0);
    t->proj = rnd_take(r, (size_t)g->proj * Dt, 0, 0.02f);
    if ((st = rnd_encoder(r, &t->enc, Dt, g->t_layers, g->t_heads, g->t_mlp))) return st;
    m->proj_dim = g->proj;
    m->logit_scale = (float)log(100.0);
    m->towers = CLIP_VISION | CLIP_TEXT;
    return ST_OK;
}

int clip_random(const clip_geometry *g, unsigned seed, clip_model **out) {
    *out = NULL;
    if (g->patch <= 0 || g->image_size % g->patch || g->v_width % g->v_heads || g->t_width % g->t_heads)
        return status_fail(ST_ARG, "clip: inconsistent geometry");
    rnd r = {0x9E3779B97F4A7C15ULL ^ seed, NULL, 0};
    clip_model sizing = {0}, *m = calloc(1, sizeof *m);
    if (!m) return status_fail(ST_NOMEM, "clip: out of memory");
    int st = rnd_model(&r, g, &sizing);
    if (!st && posix_memalign((void **)&m->arena, 64, r.used * sizeof(float))) {
        m->arena = NULL;
        st = status_fail(ST_NOMEM, "clip: cannot allocate %.1f MB of random weights", r.used * 4 / 1e6);
    }
    if (!st) {
        m->arena_floats = r.used;
        r.arena = m->arena, r.used = 0;
        st = rnd_model(&r, g, m);
    }
    if (!st) st = encoder_pack(&m->text.enc);
    if (st) {
        clip_free(m);
        return st;
    }
    *out = m;
    return ST_OK;
}
