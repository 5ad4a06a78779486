/* model/nets/blip2.c — BLIP-2 retrieval model: load (config + checkpoint,
 * matrices read in place) and forward passes. See blip2.h for the contract
 * and docs/model-spec.md (BLIP-2) for the math.
 */
#include "blip2.h"
#include "attention.h"
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

/* ------------------------------------------------------------------ memory */

static void *track(blip2_model *m, size_t bytes) {
    if (m->n_allocs == m->cap_allocs) {
        size_t cap = m->cap_allocs ? 2 * m->cap_allocs : 256;
        void **a = realloc(m->allocs, cap * sizeof *a);
        if (!a) return NULL;
        m->allocs = a, m->cap_allocs = cap;
    }
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64)) return NULL;
    m->allocs[m->n_allocs++] = p;
    return p;
}

void blip2_free(blip2_model *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n_allocs; i++) free(m->allocs[i]);
    free(m->allocs);
    free(m->vl);
    free(m->ql);
    if (m->ck) checkpoint_close(m->ck);
    free(m);
}

/* ------------------------------------------------------------------ loading */

typedef struct {
    blip2_model *m;
    const char  *dir;
} loader;

/* A float vector/array tensor of numel n (any shape with that many
 * elements: query_tokens is (1, nq, D)) converted to float32. */
static int ld_vec(loader *l, const char *name, size_t n, float **dst) {
    const tensor *t = checkpoint_find(l->m->ck, name);
    if (!t) return status_fail(ST_NOT_FOUND, "%s: required tensor \"%s\" is missing", l->dir, name);
    if (t->numel != n)
        return status_fail(ST_MISMATCH, "%s: tensor \"%s\" has %zu elements, expected %zu", l->dir, name,
                           t->numel, n);
    float *p = track(l->m, n * sizeof(float));
    if (!p) return status_fail(ST_NOMEM, "%s: cannot allocate %s", l->dir, name);
    int st = tensor_to_f32(p, t->data, t->dtype, n);
    if (st) return status_fail(st, "%s: tensor \"%s\" is %s, not a float type", l->dir, name, dtype_name(t->dtype));
    *dst = p;
    return ST_OK;
}

static int lin_type(loader *l, const tensor *t, linear_type *lt) {
    switch (t->dtype) {
    case DT_F32:  *lt = LINEAR_F32; return ST_OK;
    case DT_F16:  *lt = LINEAR_F16; return ST_OK;
    case DT_BF16: *lt = LINEAR_BF16; return ST_OK;
    default:
        return status_fail(ST_UNSUPPORTED, "%s: tensor \"%s\" is %s; BLIP-2 takes F32, F16 or BF16 weights",
                           l->dir, t->name, dtype_name(t->dtype));
    }
}

/* prefix.weight (rows, cols) as a view, and prefix.bias (rows) if bias. */
static int ld_lin(loader *l, const char *prefix, int rows, int cols, int bias, blip2_lin *dst) {
    char name[512];
    snprintf(name, sizeof name, "%s.weight", prefix);
    const tensor *t;
    int st = checkpoint_get(l->m->ck, name, 2, (int64_t[]){rows, cols}, &t);
    if (st) return st;
    linear_type lt = LINEAR_F32;
    if ((st = lin_type(l, t, &lt))) return st;
    dst->w = linear_view(lt, t->data, rows, cols);
    dst->b = NULL;
    if (!bias) return ST_OK;
    snprintf(name, sizeof name, "%s.bias", prefix);
    return ld_vec(l, name, (size_t)rows, &dst->b);
}

/* prefix.weight and prefix.bias of a LayerNorm of width D. */
static int ld_ln(loader *l, const char *prefix, int D, float **w, float **b) {
    char name[512];
    snprintf(name, sizeof name, "%s.weight", prefix);
    int st = ld_vec(l, name, (size_t)D, w);
    if (st) return st;
    snprintf(name, sizeof name, "%s.bias", prefix);
    return ld_vec(l, name, (size_t)D, b);
}

static const tensor *need(loader *l, const char *name, int ndim, int *st) {
    const tensor *t = checkpoint_find(l->m->ck, name);
    if (!t) {
        *st = status_fail(ST_NOT_FOUND, "%s: required tensor \"%s\" is missing (not a Blip2ForImageTextRetrieval "
                          "checkpoint?)", l->dir, name);
        return NULL;
    }
    if (t->ndim != ndim) {
        *st = status_fail(ST_MISMATCH, "%s: tensor \"%s\" has %d dimensions, expected %d", l->dir, name,
                          t->ndim, ndim);
        return NULL;
    }
    return t;
}

/* A config integer that must agree with the weights (absent = agrees). */
static int cfg_check(loader *l, json_t *cfg, const char *sect, const char *key, long long have) {
    long long v = jsonx_int(cfg, key, have);
    if (v != have)
        return status_fail(ST_MISMATCH, "%s: config.json %s.%s = %lld but the weights say %lld", l->dir, sect, key,
                           v, have);
    return ST_OK;
}

static int cfg_heads(loader *l, json_t *cfg, const char *sect, int def, int D, int *H) {
    *H = (int)jsonx_int(cfg, "num_attention_heads", def);
    if (*H <= 0 || D % *H)
        return status_fail(ST_MISMATCH, "%s: %s.num_attention_heads = %d does not divide width %d", l->dir, sect,
                           *H, D);
    return ST_OK;
}

static int cfg_act(loader *l, json_t *cfg, const char *sect, act_kind *out) {
    const char *a = jsonx_str(cfg, "hidden_act", "gelu");
    int k = act_parse(a);
    if (k < 0) return status_fail(ST_UNSUPPORTED, "%s: %s.hidden_act \"%s\" is not supported", l->dir, sect, a);
    *out = (act_kind)k;
    return ST_OK;
}

static int count(const checkpoint *ck, const char *fmt) {
    char name[320];
    int n = 0;
    for (;; n++) {
        snprintf(name, sizeof name, fmt, n);
        if (!checkpoint_find(ck, name)) return n;
    }
}

static int load_vision(loader *l, json_t *vc) {
    blip2_model *m = l->m;
    int st = ST_OK;
    const tensor *t;
    if (!(t = need(l, "vision_model.embeddings.patch_embedding.weight", 4, &st))) return st;
    m->Dv = (int)t->shape[0], m->patch = (int)t->shape[2];
    if (t->shape[1] != 3 || t->shape[3] != m->patch || m->patch <= 0)
        return status_fail(ST_MISMATCH, "%s: patch_embedding.weight has an unexpected shape", l->dir);
    const int Dv = m->Dv, P = m->patch;
    if (!(t = need(l, "vision_model.embeddings.position_embedding", 3, &st))) return st;
    m->n_img = (int)t->shape[1];
    m->grid = (int)lround(sqrt((double)(m->n_img - 1)));
    if (m->grid * m->grid + 1 != m->n_img || t->shape[0] != 1 || t->shape[2] != Dv)
        return status_fail(ST_MISMATCH, "%s: vision position_embedding is not (1, grid² + 1, %d)", l->dir, Dv);
    m->image_size = (int)jsonx_int(vc, "image_size", 224);
    if (m->image_size / P != m->grid)
        return status_fail(ST_MISMATCH, "%s: vision_config.image_size = %d gives a %d-patch grid but the weights say %d",
                           l->dir, m->image_size, m->image_size / P, m->grid);
    m->Lv = count(m->ck, "vision_model.encoder.layers.%d.layer_norm1.weight");
    if (m->Lv == 0) return status_fail(ST_NOT_FOUND, "%s: no vision_model.encoder.layers.0.* tensors", l->dir);
    if (!(t = need(l, "vision_model.encoder.layers.0.mlp.fc1.weight", 2, &st))) return st;
    m->Iv = (int)t->shape[0];
    if ((st = cfg_check(l, vc, "vision_config", "hidden_size", Dv)) ||
        (st = cfg_check(l, vc, "vision_config", "intermediate_size", m->Iv)) ||
        (st = cfg_check(l, vc, "vision_config", "num_hidden_layers", m->Lv)) ||
        (st = cfg_check(l, vc, "vision_config", "patch_size", P)) ||
        (st = cfg_heads(l, vc, "vision_config", 16, Dv, &m->Hv)) || (st = cfg_act(l, vc, "vision_config", &m->act_v)))
        return st;
    m->eps_v = (float)jsonx_num(vc, "layer_norm_eps", 1e-6);

    if (!(t = need(l, "vision_model.embeddings.patch_embedding.weight", 4, &st))) return st;
    linear_type lt = LINEAR_F32;
    if ((st = lin_type(l, t, &lt))) return st;
    m->patch_w = linear_view(lt, t->data, Dv, 3 * P * P);
    if ((st = ld_vec(l, "vision_model.embeddings.patch_embedding.bias", Dv, &m->patch_b)) ||
        (st = ld_vec(l, "vision_model.embeddings.class_embedding", Dv, &m->class_emb)) ||
        (st = ld_vec(l, "vision_model.embeddings.position_embedding", (size_t)m->n_img * Dv, &m->pos_emb)) ||
        (st = ld_ln(l, "vision_model.post_layernorm", Dv, &m->post_ln_w, &m->post_ln_b)))
        return st;
    if (!(m->vl = calloc((size_t)m->Lv, sizeof *m->vl))) return status_fail(ST_NOMEM, "%s: out of memory", l->dir);
    char p[256];
    for (int i = 0; i < m->Lv; i++) {
        blip2_vision_layer *y = &m->vl[i];
#define VP(s) (snprintf(p, sizeof p, "vision_model.encoder.layers.%d.%s", i, s), p)
        if ((st = ld_ln(l, VP("layer_norm1"), Dv, &y->ln1_w, &y->ln1_b)) ||
            (st = ld_lin(l, VP("self_attn.qkv"), 3 * Dv, Dv, 1, &y->qkv)) ||
            (st = ld_lin(l, VP("self_attn.projection"), Dv, Dv, 1, &y->proj)) ||
            (st = ld_ln(l, VP("layer_norm2"), Dv, &y->ln2_w, &y->ln2_b)) ||
            (st = ld_lin(l, VP("mlp.fc1"), m->Iv, Dv, 1, &y->fc1)) ||
            (st = ld_lin(l, VP("mlp.fc2"), Dv, m->Iv, 1, &y->fc2)))
            return st;
#undef VP
    }
    return ST_OK;
}

static int ld_attn(loader *l, const char *prefix, int D, int Dkv, blip2_attn *a) {
    char p[320];
    int st;
#define AP(s) (snprintf(p, sizeof p, "%s.%s", prefix, s), p)
    if ((st = ld_lin(l, AP("attention.query"), D, D, 1, &a->q)) ||
        (st = ld_lin(l, AP("attention.key"), D, Dkv, 1, &a->k)) ||
        (st = ld_lin(l, AP("attention.value"), D, Dkv, 1, &a->v)) ||
        (st = ld_lin(l, AP("output.dense"), D, D, 1, &a->o)) ||
        (st = ld_ln(l, AP("output.LayerNorm"), D, &a->ln_w, &a->ln_b)))
        return st;
#undef AP
    return ST_OK;
}

static int load_qformer(loader *l, json_t *qc, json_t *root) {
    blip2_model *m = l->m;
    int st = ST_OK;
    const tensor *t;
    if (!(t = need(l, "query_tokens", 3, &st))) return st;
    m->nq = (int)t->shape[1], m->D = (int)t->shape[2];
    const int D = m->D;
    if (t->shape[0] != 1 || m->nq <= 0 || D <= 0)
        return status_fail(ST_MISMATCH, "%s: query_tokens is not (1, nq, width)", l->dir);
    if ((st = cfg_check(l, root, "(top level)", "num_query_tokens", m->nq))) return st;
    m->L = count(m->ck, "qformer.encoder.layer.%d.attention.attention.query.weight");
    if (m->L == 0) return status_fail(ST_NOT_FOUND, "%s: no qformer.encoder.layer.0.* tensors", l->dir);
    if (!(t = need(l, "qformer.encoder.layer.0.intermediate_query.dense.weight", 2, &st))) return st;
    m->I = (int)t->shape[0];
    m->cross_freq = (int)jsonx_int(qc, "cross_attention_frequency", 2);
    if (m->cross_freq <= 0)
        return status_fail(ST_FORMAT, "%s: qformer_config.cross_attention_frequency = %d", l->dir, m->cross_freq);
    if ((st = cfg_check(l, qc, "qformer_config", "hidden_size", D)) ||
        (st = cfg_check(l, qc, "qformer_config", "intermediate_size", m->I)) ||
        (st = cfg_check(l, qc, "qformer_config", "num_hidden_layers", m->L)) ||
        (st = cfg_check(l, qc, "qformer_config", "encoder_hidden_size", m->Dv)) ||
        (st = cfg_heads(l, qc, "qformer_config", 12, D, &m->H)) || (st = cfg_act(l, qc, "qformer_config", &m->act_q)))
        return st;
    m->eps_q = (float)jsonx_num(qc, "layer_norm_eps", 1e-12);
    if ((st = ld_vec(l, "query_tokens", (size_t)m->nq * D, &m->query_tokens)) ||
        (st = ld_ln(l, "qformer.layernorm", D, &m->qln_w, &m->qln_b)))
        return st;
    if (!(m->ql = calloc((size_t)m->L, sizeof *m->ql))) return status_fail(ST_NOMEM, "%s: out of memory", l->dir);
    char p[256], n2[320];
    int text_ffn = 1;
    for (int i = 0; i < m->L; i++) {
        blip2_qformer_layer *y = &m->ql[i];
#define QP(s) (snprintf(p, sizeof p, "qformer.encoder.layer.%d.%s", i, s), p)
        if ((st = ld_attn(l, QP("attention"), D, D, &y->self))) return st;
        snprintf(n2, sizeof n2, "qformer.encoder.layer.%d.crossattention.attention.query.weight", i);
        y->has_cross = checkpoint_find(m->ck, n2) != NULL;
        if (y->has_cross != (i % m->cross_freq == 0))
            return status_fail(ST_MISMATCH, "%s: Q-Former layer %d %s cross-attention but cross_attention_frequency "
                               "is %d", l->dir, i, y->has_cross ? "has" : "lacks", m->cross_freq);
        if (y->has_cross && (st = ld_attn(l, QP("crossattention"), D, m->Dv, &y->cross))) return st;
        if ((st = ld_lin(l, QP("intermediate_query.dense"), m->I, D, 1, &y->fi_q)) ||
            (st = ld_lin(l, QP("output_query.dense"), D, m->I, 1, &y->fo_q)) ||
            (st = ld_ln(l, QP("output_query.LayerNorm"), D, &y->fln_q_w, &y->fln_q_b)))
            return st;
        snprintf(n2, sizeof n2, "qformer.encoder.layer.%d.intermediate.dense.weight", i);
        y->has_text_ffn = checkpoint_find(m->ck, n2) != NULL;
        if (y->has_text_ffn) {
            if ((st = ld_lin(l, QP("intermediate.dense"), m->I, D, 1, &y->fi_t)) ||
                (st = ld_lin(l, QP("output.dense"), D, m->I, 1, &y->fo_t)) ||
                (st = ld_ln(l, QP("output.LayerNorm"), D, &y->fln_t_w, &y->fln_t_b)))
                return st;
        } else {
            text_ffn = 0;
        }
#undef QP
    }

    /* text side and heads */
    if (!(t = need(l, "vision_projection.weight", 2, &st))) return st;
    m->embed_dim = (int)t->shape[0];
    if ((st = cfg_check(l, root, "(top level)", "image_text_hidden_size", m->embed_dim))) return st;
    if ((st = ld_lin(l, "vision_projection", m->embed_dim, D, 1, &m->vision_proj))) return st;
    const tensor *we = checkpoint_find(m->ck, "embeddings.word_embeddings.weight");
    m->text_ok = 0;
    if (we && text_ffn && checkpoint_find(m->ck, "text_projection.weight")) {
        if (we->ndim != 2 || we->shape[1] != D)
            return status_fail(ST_MISMATCH, "%s: embeddings.word_embeddings.weight is not (vocab, %d)", l->dir, D);
        linear_type lt = LINEAR_F32;
        if ((st = lin_type(l, we, &lt))) return st;
        m->vocab = (int)we->shape[0];
        m->word_emb = we->data;
        m->word_dtype = we->dtype;
        if ((st = cfg_check(l, qc, "qformer_config", "vocab_size", m->vocab))) return st;
        if (!(t = need(l, "embeddings.position_embeddings.weight", 2, &st))) return st;
        m->n_pos = (int)t->shape[0];
        if ((st = ld_vec(l, "embeddings.position_embeddings.weight", (size_t)m->n_pos * D, &m->pos_emb_t)) ||
            (st = ld_lin(l, "text_projection", m->embed_dim, D, 1, &m->text_proj)) ||
            (st = ld_lin(l, "itm_head", 2, D, 1, &m->itm_head)))
            return st;
        m->text_ok = 1;
    }
    return ST_OK;
}

int blip2_load(const char *dir, blip2_model **out) {
    *out = NULL;
    char path[4096];
    int st;
    if ((st = file_join(path, sizeof path, dir, "config.json"))) return st;
    json_t *root;
    if ((st = jsonx_load(path, &root))) return st;
    blip2_model *m = calloc(1, sizeof *m);
    if (!m) {
        json_decref(root);
        return status_fail(ST_NOMEM, "blip2: out of memory");
    }
    const char *mt = jsonx_str(root, "model_type", "");
    if (strcmp(mt, "blip-2") && strcmp(mt, "blip_2")) {
        st = status_fail(ST_UNSUPPORTED, "%s: config.json model_type \"%s\" is not \"blip-2\"", dir, mt);
        goto done;
    }
    if ((st = checkpoint_open(dir, &m->ck))) goto done;
    json_t *vc = json_object_get(root, "vision_config"), *qc = json_object_get(root, "qformer_config");
    loader l = {m, dir};
    if ((st = load_vision(&l, json_is_object(vc) ? vc : NULL))) goto done;
    if ((st = load_qformer(&l, json_is_object(qc) ? qc : NULL, root))) goto done;
    log_info("loaded BLIP-2 from %s: ViT %d×%d, Q-Former %d×%d, %d queries, ITC %d%s", dir, m->Dv, m->Lv, m->D, m->L,
             m->nq, m->embed_dim, m->text_ok ? "" : " (no text side)");
done:
    json_decref(root);
    if (st) {
        blip2_free(m);
        return st;
    }
    *out = m;
    return ST_OK;
}

size_t blip2_image_rows_len(const blip2_model *m) { return (size_t)m->n_img * m->Dv; }

/* ------------------------------------------------------------------ forward */

static int lin(float *y, const float *x, const blip2_lin *L, int M, int accumulate) {
    return linear_forward(y, L->w.rows, x, L->w.cols, &L->w, L->b, M, accumulate);
}

/* malloc'd float buffers, all or none */
static int bufs(float **p[], const size_t *n, int k) {
    int ok = 1;
    for (int i = 0; i < k; i++) {
        *p[i] = malloc((n[i] ? n[i] : 1) * sizeof(float));
        ok &= *p[i] != NULL;
    }
    if (ok) return ST_OK;
    for (int i = 0; i < k; i++) free(*p[i]), *p[i] = NULL;
    return status_fail(ST_NOMEM, "blip2: cannot allocate activations");
}

int blip2_vision(const blip2_model *m, const float *pixels, int B, float *out) {
    if (B <= 0) return status_fail(ST_ARG, "blip2: batch of %d images", B);
    const int D = m->Dv, P = m->patch, G = m->grid, S = m->image_size, T = m->n_img, I = m->Iv;
    const int K = 3 * P * P, NP = G * G;
    const size_t rows = (size_t)B * T;
    float *cols = NULL, *pe = NULL, *h = NULL, *qkv = NULL, *att = NULL, *mlp = NULL;
    int st = bufs((float **[]){&cols, &pe, &h, &qkv, &att, &mlp},
                  (size_t[]){(size_t)B * NP * K, (size_t)B * NP * D, rows * D, rows * 3 * D, rows * D, rows * I}, 6);
    if (st) return st;
    /* im2col: one row per patch in row-major order, columns (ch, ky, kx) */
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
    st = linear_forward(pe, D, cols, K, &m->patch_w, m->patch_b, B * NP, 0);
    float *x = out;
    for (int b = 0; b < B && !st; b++) {
        float *xb = x + (size_t)b * T * D;
        for (int i = 0; i < D; i++) xb[i] = m->class_emb[i] + m->pos_emb[i];
        for (int p = 0; p < NP; p++) {
            const float *src = pe + ((size_t)b * NP + p) * D, *pos = m->pos_emb + (size_t)(p + 1) * D;
            float *dst = xb + (size_t)(p + 1) * D;
            for (int i = 0; i < D; i++) dst[i] = src[i] + pos[i];
        }
    }
    const int dh = D / m->Hv;
    for (int l = 0; l < m->Lv && !st; l++) {
        const blip2_vision_layer *y = &m->vl[l];
        norm_layer(h, x, y->ln1_w, y->ln1_b, (int)rows, D, m->eps_v);
        if ((st = lin(qkv, h, &y->qkv, (int)rows, 0))) break;
        attention_shape as = {T, T, m->Hv, dh, 3 * D, 3 * D, 3 * D, D, 1.0f / sqrtf((float)dh), 0};
        if ((st = attention_batch(&as, B, att, qkv, qkv + D, qkv + 2 * D))) break;
        if ((st = lin(x, att, &y->proj, (int)rows, 1))) break;
        norm_layer(h, x, y->ln2_w, y->ln2_b, (int)rows, D, m->eps_v);
        if ((st = linear_forward(mlp, I, h, D, &y->fc1.w, NULL, (int)rows, 0))) break;
        act_apply(m->act_v, mlp, rows * I, y->fc1.b, I);
        st = lin(x, mlp, &y->fc2, (int)rows, 1);
    }
    if (!st) norm_layer(x, x, m->post_ln_w, m->post_ln_b, (int)rows, D, m->eps_v);
    free(cols), free(pe), free(h), free(qkv), free(att), free(mlp);
    return st;
}

/* Rows [r0, r0 + n) of every one of B sequences of T rows (width D) between
 * x and a contiguous (B·n, D) buffer: gather when to_buf, else scatter. */
static void seq_rows(float *x, float *buf, int B, int T, int r0, int n, int D, int to_buf) {
    for (int b = 0; b < B; b++) {
        float *xs = x + ((size_t)b * T + r0) * D, *bs = buf + (size_t)b * n * D;
        if (to_buf) memcpy(bs, xs, (size_t)n * D * sizeof(float));
        else memcpy(xs, bs, (size_t)n * D * sizeof(float));
    }
}

/* The Q-Former over B sequences of T rows x (B·T, D), the first nq of each
 * being query rows (0 <= nq <= T), in place. img (B, n_img, Dv) for the
 * cross-attention of query rows (NULL: none). x must already hold the
 * embeddings; the input layernorm is applied here. */
static int qformer_forward(const blip2_model *m, float *x, int B, int T, int nq, const float *img) {
    const int D = m->D, I = m->I, dh = D / m->H, nt = T - nq, Ti = m->n_img;
    const size_t rows = (size_t)B * T, qrows = (size_t)B * nq, trows = (size_t)B * nt;
    const size_t irows = img ? (size_t)B * Ti : 0;
    const size_t mx = qrows > trows ? qrows : trows;
    float *qkv = NULL, *att = NULL, *part = NULL, *ffn = NULL, *ckv = NULL, *cq = NULL;
    int st = bufs((float **[]){&qkv, &att, &part, &ffn, &ckv, &cq},
                  (size_t[]){rows * 3 * D, rows * D, mx * D, mx * I, irows * 2 * D, qrows * D}, 6);
    if (st) return st;
    const float scale = 1.0f / sqrtf((float)dh);
    norm_layer(x, x, m->qln_w, m->qln_b, (int)rows, D, m->eps_q);
    for (int l = 0; l < m->L && !st; l++) {
        const blip2_qformer_layer *y = &m->ql[l];
        /* self-attention over all rows */
        if ((st = linear_forward(qkv, 3 * D, x, D, &y->self.q.w, y->self.q.b, (int)rows, 0)) ||
            (st = linear_forward(qkv + D, 3 * D, x, D, &y->self.k.w, y->self.k.b, (int)rows, 0)) ||
            (st = linear_forward(qkv + 2 * D, 3 * D, x, D, &y->self.v.w, y->self.v.b, (int)rows, 0)))
            break;
        attention_shape as = {T, T, m->H, dh, 3 * D, 3 * D, 3 * D, D, scale, 0};
        if ((st = attention_batch(&as, B, att, qkv, qkv + D, qkv + 2 * D))) break;
        if ((st = lin(x, att, &y->self.o, (int)rows, 1))) break;
        norm_layer(x, x, y->self.ln_w, y->self.ln_b, (int)rows, D, m->eps_q);
        /* query rows: cross-attention, then their feed-forward */
        if (nq > 0) {
            seq_rows(x, part, B, T, 0, nq, D, 1);
            if (y->has_cross && img) {
                if ((st = lin(cq, part, &y->cross.q, (int)qrows, 0)) ||
                    (st = linear_forward(ckv, 2 * D, img, m->Dv, &y->cross.k.w, y->cross.k.b, (int)irows, 0)) ||
                    (st = linear_forward(ckv + D, 2 * D, img, m->Dv, &y->cross.v.w, y->cross.v.b, (int)irows, 0)))
                    break;
                attention_shape cs = {nq, Ti, m->H, dh, D, 2 * D, 2 * D, D, scale, 0};
                if ((st = attention_batch(&cs, B, att, cq, ckv, ckv + D))) break;
                if ((st = lin(part, att, &y->cross.o, (int)qrows, 1))) break;
                norm_layer(part, part, y->cross.ln_w, y->cross.ln_b, (int)qrows, D, m->eps_q);
            }
            if ((st = linear_forward(ffn, I, part, D, &y->fi_q.w, NULL, (int)qrows, 0))) break;
            act_apply(m->act_q, ffn, qrows * I, y->fi_q.b, I);
            if ((st = lin(part, ffn, &y->fo_q, (int)qrows, 1))) break;
            norm_layer(part, part, y->fln_q_w, y->fln_q_b, (int)qrows, D, m->eps_q);
            seq_rows(x, part, B, T, 0, nq, D, 0);
        }
        if (nt > 0) {
            if (!y->has_text_ffn) {
                st = status_fail(ST_ARG, "blip2: this checkpoint has no text feed-forward weights");
                break;
            }
            seq_rows(x, part, B, T, nq, nt, D, 1);
            if ((st = linear_forward(ffn, I, part, D, &y->fi_t.w, NULL, (int)trows, 0))) break;
            act_apply(m->act_q, ffn, trows * I, y->fi_t.b, I);
            if ((st = lin(part, ffn, &y->fo_t, (int)trows, 1))) break;
            norm_layer(part, part, y->fln_t_w, y->fln_t_b, (int)trows, D, m->eps_q);
            seq_rows(x, part, B, T, nq, nt, D, 0);
        }
    }
    free(qkv), free(att), free(part), free(ffn), free(ckv), free(cq);
    return st;
}

int blip2_query_output(const blip2_model *m, const float *img_rows, int B, float *Z) {
    if (B <= 0) return status_fail(ST_ARG, "blip2: batch of %d images", B);
    const size_t one = (size_t)m->nq * m->D;
    for (int b = 0; b < B; b++) memcpy(Z + (size_t)b * one, m->query_tokens, one * sizeof(float));
    return qformer_forward(m, Z, B, m->nq, m->nq, img_rows);
}

int blip2_image_features(const blip2_model *m, const float *img_rows, int B, float *Z, float *out) {
    if (B <= 0) return status_fail(ST_ARG, "blip2: batch of %d images", B);
    float *z = Z ? Z : malloc((size_t)B * m->nq * m->D * sizeof(float));
    if (!z) return status_fail(ST_NOMEM, "blip2: out of memory");
    int st = blip2_query_output(m, img_rows, B, z);
    if (!st) st = lin(out, z, &m->vision_proj, B * m->nq, 0);
    if (!st) norm_l2(out, B * m->nq, m->embed_dim);
    if (z != Z) free(z);
    return st;
}

/* Text rows: word + position embeddings (positions from 0) into x (n, D). */
static int text_embed(const blip2_model *m, const int32_t *ids, int n, float *x) {
    const int D = m->D;
    if (!m->text_ok) return status_fail(ST_ARG, "blip2: this checkpoint has no text side");
    if (n <= 0 || n > m->n_pos)
        return status_fail(ST_ARG, "blip2: %d tokens (the Q-Former takes 1..%d)", n, m->n_pos);
    const size_t es = dtype_size((dtype)m->word_dtype);
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= m->vocab)
            return status_fail(ST_ARG, "blip2: token id %d outside the vocabulary of %d", ids[i], m->vocab);
        float *row = x + (size_t)i * D;
        tensor_to_f32(row, (const char *)m->word_emb + (size_t)ids[i] * D * es, (dtype)m->word_dtype, (size_t)D);
        const float *pe = m->pos_emb_t + (size_t)i * D;
        for (int j = 0; j < D; j++) row[j] += pe[j];
    }
    return ST_OK;
}

int blip2_text_feature(const blip2_model *m, const int32_t *ids, int n, float *cls, float *out) {
    float *x = malloc((size_t)(n > 0 ? n : 1) * m->D * sizeof(float));
    if (!x) return status_fail(ST_NOMEM, "blip2: out of memory");
    int st = text_embed(m, ids, n, x);
    if (!st) st = qformer_forward(m, x, 1, n, 0, NULL);
    if (!st && cls) memcpy(cls, x, (size_t)m->D * sizeof(float));
    if (!st) st = lin(out, x, &m->text_proj, 1, 0);
    if (!st) norm_l2(out, 1, m->embed_dim);
    free(x);
    return st;
}

int blip2_itm(const blip2_model *m, const float *img_rows, const int32_t *ids, int n, float logits[2]) {
    const int D = m->D, T = m->nq + (n > 0 ? n : 0);
    float *x = malloc((size_t)(T > 0 ? T : 1) * D * sizeof(float));
    float *lg = malloc((size_t)m->nq * 2 * sizeof(float));
    int st = x && lg ? ST_OK : status_fail(ST_NOMEM, "blip2: out of memory");
    if (!st) {
        memcpy(x, m->query_tokens, (size_t)m->nq * D * sizeof(float));
        st = text_embed(m, ids, n, x + (size_t)m->nq * D);
    }
    if (!st) st = qformer_forward(m, x, 1, T, m->nq, img_rows);
    if (!st) st = lin(lg, x, &m->itm_head, m->nq, 0);
    if (!st) {
        double s0 = 0, s1 = 0;
        for (int q = 0; q < m->nq; q++) s0 += lg[2 * q], s1 += lg[2 * q + 1];
        logits[0] = (float)(s0 / m->nq), logits[1] = (float)(s1 / m->nq);
    }
    free(x);
    free(lg);
    return st;
}

float blip2_itm_prob(const float logits[2]) {
    return (float)(1.0 / (1.0 + exp((double)logits[0] - (double)logits[1])));
}

/* --------------------------------------------------------- random weights */

const blip2_geometry BLIP2_GEOMETRY_ITM_VIT_G = {224, 14, 1408, 39, 16, 6144, 768, 12, 12, 3072, 32, 2, 256, 30523};

typedef struct {
    uint64_t s;
    blip2_model *m;
    int st;
} rnd;

static float *rnd_take(rnd *r, size_t n, float mean, float std) {
    float *p = track(r->m, n * sizeof(float));
    if (!p) {
        r->st = status_fail(ST_NOMEM, "blip2: cannot allocate random weights");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) p[i] = mean + (std ? std * rng_normal(&r->s) : 0.0f);
    return p;
}

static blip2_lin rnd_lin(rnd *r, int rows, int cols) {
    blip2_lin l = {0};
    float *w = rnd_take(r, (size_t)rows * cols, 0, 0.02f);
    l.w = linear_view(LINEAR_F32, w, rows, cols);
    l.b = rnd_take(r, (size_t)rows, 0, 0.02f);
    return l;
}

static blip2_attn rnd_attn(rnd *r, int D, int Dkv) {
    blip2_attn a;
    a.q = rnd_lin(r, D, D), a.k = rnd_lin(r, D, Dkv), a.v = rnd_lin(r, D, Dkv), a.o = rnd_lin(r, D, D);
    a.ln_w = rnd_take(r, D, 1, 0), a.ln_b = rnd_take(r, D, 0, 0);
    return a;
}

int blip2_random(const blip2_geometry *g, unsigned seed, blip2_model **out) {
    *out = NULL;
    if (g->patch <= 0 || g->image_size % g->patch || g->v_width % g->v_heads || g->q_width % g->q_heads ||
        g->cross_freq <= 0)
        return status_fail(ST_ARG, "blip2: inconsistent geometry");
    blip2_model *m = calloc(1, sizeof *m);
    if (!m) return status_fail(ST_NOMEM, "blip2: out of memory");
    rnd r = {0x9E3779B97F4A7C15ULL ^ seed, m, ST_OK};
    const int Dv = g->v_width, P = g->patch, D = g->q_width;
    m->image_size = g->image_size, m->patch = P, m->grid = g->image_size / P, m->n_img = m->grid * m->grid + 1;
    m->Dv = Dv, m->Iv = g->v_mlp, m->Lv = g->v_layers, m->Hv = g->v_heads, m->eps_v = 1e-6f, m->act_v = ACT_GELU_ERF;
    m->patch_w = linear_view(LINEAR_F32, rnd_take(&r, (size_t)Dv * 3 * P * P, 0, 0.02f), Dv, 3 * P * P);
    m->patch_b = rnd_take(&r, Dv, 0, 0.02f);
    m->class_emb = rnd_take(&r, Dv, 0, 0.02f);
    m->pos_emb = rnd_take(&r, (size_t)m->n_img * Dv, 0, 0.02f);
    m->post_ln_w = rnd_take(&r, Dv, 1, 0), m->post_ln_b = rnd_take(&r, Dv, 0, 0);
    m->vl = calloc((size_t)m->Lv, sizeof *m->vl);
    m->ql = calloc((size_t)g->q_layers, sizeof *m->ql);
    if (!m->vl || !m->ql) r.st = status_fail(ST_NOMEM, "blip2: out of memory");
    for (int i = 0; i < m->Lv && !r.st; i++) {
        blip2_vision_layer *y = &m->vl[i];
        y->ln1_w = rnd_take(&r, Dv, 1, 0), y->ln1_b = rnd_take(&r, Dv, 0, 0);
        y->qkv = rnd_lin(&r, 3 * Dv, Dv), y->proj = rnd_lin(&r, Dv, Dv);
        y->ln2_w = rnd_take(&r, Dv, 1, 0), y->ln2_b = rnd_take(&r, Dv, 0, 0);
        y->fc1 = rnd_lin(&r, g->v_mlp, Dv), y->fc2 = rnd_lin(&r, Dv, g->v_mlp);
    }
    m->D = D, m->I = g->q_mlp, m->L = g->q_layers, m->H = g->q_heads, m->nq = g->n_query;
    m->cross_freq = g->cross_freq, m->eps_q = 1e-12f, m->act_q = ACT_GELU_ERF;
    m->query_tokens = rnd_take(&r, (size_t)m->nq * D, 0, 0.02f);
    m->qln_w = rnd_take(&r, D, 1, 0), m->qln_b = rnd_take(&r, D, 0, 0);
    for (int i = 0; i < m->L && !r.st; i++) {
        blip2_qformer_layer *y = &m->ql[i];
        y->self = rnd_attn(&r, D, D);
        y->has_cross = i % m->cross_freq == 0;
        if (y->has_cross) y->cross = rnd_attn(&r, D, Dv);
        y->fi_q = rnd_lin(&r, m->I, D), y->fo_q = rnd_lin(&r, D, m->I);
        y->fln_q_w = rnd_take(&r, D, 1, 0), y->fln_q_b = rnd_take(&r, D, 0, 0);
        y->has_text_ffn = 1;
        y->fi_t = rnd_lin(&r, m->I, D), y->fo_t = rnd_lin(&r, D, m->I);
        y->fln_t_w = rnd_take(&r, D, 1, 0), y->fln_t_b = rnd_take(&r, D, 0, 0);
    }
    m->vocab = g->vocab, m->n_pos = 512, m->embed_dim = g->embed_dim;
    m->word_emb = rnd_take(&r, (size_t)m->vocab * D, 0, 0.02f);
    m->word_dtype = DT_F32;
    m->pos_emb_t = rnd_take(&r, (size_t)m->n_pos * D, 0, 0.02f);
    m->vision_proj = rnd_lin(&r, g->embed_dim, D);
    m->text_proj = rnd_lin(&r, g->embed_dim, D);
    m->itm_head = rnd_lin(&r, 2, D);
    m->text_ok = 1;
    if (r.st) {
        int st = r.st;
        blip2_free(m);
        return st;
    }
    *out = m;
    return ST_OK;
}
