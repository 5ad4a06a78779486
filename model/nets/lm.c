/* model/lm.c — the MoE-LLaVA language models and LLaMA-2 (see lm.h;
 * docs/model-spec.md §B2, B4, B5, L1). Four backbones share one decoder loop:
 *
 *   StableLM-2  h += o(attn(LN1 h));  h += mlp(LN2 h)     LN with bias, qkv bias,
 *               mlp = down(silu(gate x) * up x)           partial rotary rope_pct
 *   Qwen-1      same shape with RMSNorm, fused c_attn     full rotary (kv_channels)
 *               (q|k|v rows, bias), c_proj without bias,
 *               mlp = c_proj(w1 x * silu(w2 x))           SiLU on w2
 *   Phi-2       h = h + dense(attn(LN h)) + mlp(LN h)     one LN per layer, biased
 *               mlp = fc2(gelu_new(fc1 x))                everything, biased lm_head
 *   LLaMA-2     StableLM's shape and names with RMSNorm,  full rotary (rope_theta), GQA,
 *               no biases, untied lm_head                 never MoE
 *
 * In code an MLP is (a, b, out): out(act(a x) [* b x]); a = gate_proj | w2 |
 * fc1, b = up_proj | w1 | (none).
 *
 * MoE layers (DeepSpeed top-2 gate at eval): FP32 gate logits, softmax,
 * e1 = argmax p, e2 = argmax over the others of logits (+ Gumbel noise in
 * moe_sampling mode), the capacity rule C = max(ceil(S/E·2·eval_cf),
 * min_capacity) with DeepSpeed's slot order (all first choices before second
 * choices), w = p/max(p1+p2, FLT_EPSILON) over the kept choices. S is the
 * number of positions of one lm_forward call (upstream: B·L of one forward);
 * with the shipped eval_capacity_factor 2.0 and min_capacity 0, C = S and
 * nothing can be dropped, so chunking a prompt differently gives the same
 * result. Tokens are grouped by expert: each expert runs its MLP once over
 * its rows.
 *
 * Weights keep their stored dtype. Projections are copied out of the
 * checkpoint's mmap into huge-page memory (common/bigmem.h) while the
 * copies fit in half of MemAvailable at load, and read from the mmap after
 * that: a decoded token streams every projection, and from the mapped file
 * (4 KiB page-cache pages) it read them 30-40 % slower (docs/benchmarks.md).
 * The copied file pages are dropped from the process (MADV_DONTNEED), so
 * the resident size stays the weights' size. Norms, biases and the gates
 * (tiny) are float32 copies. LM_QUANT_Q8 makes Q8 copies of every
 * projection, lm_head included (not the embedding table, read a row at a
 * time, nor the gates).
 */
#include "lm.h"
#include "act.h"
#include "attention.h"
#include "bigmem.h"
#include "checkpoint.h"
#include "file.h"
#include "half.h"
#include "jsonx.h"
#include "linear.h"
#include "norm.h"
#include "rope.h"
#include "status.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ------------------------------------------------------------------ types */

typedef struct {
    linear_w w;            /* (out, in) */
    float *b;              /* (out) or NULL */
} lm_lin;

typedef struct {
    lm_lin a;              /* (ffn, hidden) activated branch: gate_proj | w2 | fc1 */
    lm_lin b;              /* (ffn, hidden) multiplied branch: up_proj | w1; w.data NULL for Phi */
    lm_lin out;            /* (hidden, ffn) down_proj | c_proj | fc2 */
} lm_mlp;

typedef struct {
    float *ln1_w, *ln1_b;  /* (hidden); b NULL for RMSNorm */
    float *ln2_w, *ln2_b;  /* (hidden); NULL for Phi (one norm per layer) */
    lm_lin qkv[3];         /* q (q_dim, hidden), k, v (kv_dim, hidden); Qwen: qkv[0] is
                              c_attn (q_dim + 2 kv_dim, hidden) and the others are unused */
    lm_lin o;              /* (hidden, q_dim) */
    int moe;               /* index among the MoE layers, or -1 */
    float *wg;             /* (n_experts, hidden) float32 gate, MoE layers only */
    lm_mlp *mlp;           /* (n_experts) for MoE layers, else (1) */
} lm_layer;

struct lm_model {
    lm_config cfg;
    lm_opts opts;
    checkpoint *ck;        /* open for the model's lifetime: weights point into it */
    char *dir;
    int q_dim, kv_dim, qkv_dim; /* n_heads·head_dim, n_kv_heads·head_dim, q + 2 kv */
    int fused_qkv;         /* Qwen */
    int rms;               /* RMSNorm (Qwen) instead of LayerNorm */
    int parallel;          /* Phi: attention and MLP both read LN(h) */
    int gated;             /* the MLP has a b branch */
    act_kind act;
    float eval_cf;         /* eval_capacity_factor */
    int min_capacity;
    linear_w embed;        /* (vocab_rows, hidden) stored dtype */
    lm_lin head;           /* (vocab_rows, hidden) */
    float *lnf_w, *lnf_b;  /* (hidden) final norm */
    lm_layer *layers;      /* (n_layers) */
    int *moe_layers;       /* (n_moe_layers) */
    void **allocs;         /* float32 copies and Q8 arrays to free */
    size_t n_allocs, cap_allocs;
    size_t copy_budget;    /* bytes of projections still to copy out of the mmap */
    size_t copied;         /* bytes copied (reported by lm_weights_copied) */
};

struct lm_state {
    const lm_model *m;
    int max_ctx, pos;
    void *k_cache, *v_cache;    /* (n_layers, max_ctx, kv_dim), keys after RoPE; float32, or
                                   uint16_t IEEE half when m->opts.kv_f16 */
    size_t esz;                 /* bytes a cached value: 4 or 2 */
    uint32_t *counts;           /* (n_moe_layers, n_experts, LM_TOK_KINDS) */
    uint64_t rng;               /* xorshift64* state for moe_sampling */
    int32_t *routes;            /* (n_moe_layers, routes_n, 2) of the last call */
    int routes_n, routes_cap;
    float *scratch;             /* see scratch_layout */
    size_t scratch_cap;         /* floats */
    const volatile int *cancel; /* lm_state_set_cancel; NULL: never */
};

lm_opts lm_opts_default(void) {
    lm_opts o = {LM_QUANT_NONE, 0, 0x5eed5eedULL, 0, 0};
    return o;
}

/* ------------------------------------------------------------------ loading */

/* Hand p to the model (freed by lm_free); on failure p is freed. */
static void *model_track(lm_model *m, void *p) {
    if (!p) return NULL;
    if (m->n_allocs == m->cap_allocs) {
        size_t cap = m->cap_allocs ? 2 * m->cap_allocs : 64;
        void **a = realloc(m->allocs, cap * sizeof *a);
        if (!a) {
            free(p);
            return NULL;
        }
        m->allocs = a, m->cap_allocs = cap;
    }
    m->allocs[m->n_allocs++] = p;
    return p;
}

static void *model_alloc(lm_model *m, size_t bytes) { return model_track(m, malloc(bytes ? bytes : 1)); }

/* float32 copy of a 1-D tensor of length n; req = 0 leaves *dst NULL when absent. */
static int load_vec(lm_model *m, const char *name, int n, int req, float **dst) {
    *dst = NULL;
    if (!req && !checkpoint_find(m->ck, name)) return ST_OK;
    float *p = model_alloc(m, (size_t)n * sizeof(float));
    if (!p) return status_fail(ST_NOMEM, "%s: cannot allocate %s", m->dir, name);
    int st = checkpoint_read_f32(m->ck, name, 1, (int64_t[]){n}, p);
    if (!st) *dst = p;
    return st;
}

/* Drop the process's pages of [p, p + n) of the mmap'd checkpoint (clean,
 * file-backed: the kernel reads them again if ever touched). Advisory. */
static void drop_mapped(const void *p, size_t n) {
    const long pg = sysconf(_SC_PAGESIZE);
    if (pg <= 0) return;
    uintptr_t a = ((uintptr_t)p + pg - 1) & ~(uintptr_t)(pg - 1);
    uintptr_t e = ((uintptr_t)p + n) & ~(uintptr_t)(pg - 1);
    if (e > a) (void)madvise((void *)a, e - a, MADV_DONTNEED);
}

/* Half of MemAvailable (/proc/meminfo), or 0 when it cannot be read. */
static size_t copy_budget(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
    fclose(f);
    return (size_t)(kb * 1024 / 2);
}

/* A (rows, cols) weight: a huge-page copy, its Q8 copy, or a view into the
 * checkpoint. */
static int load_mat(lm_model *m, const char *name, int rows, int cols, int quant, linear_w *dst) {
    const tensor *t;
    int st = checkpoint_get(m->ck, name, 2, (int64_t[]){rows, cols}, &t);
    if (st) return st;
    linear_type lt;
    switch (t->dtype) {
    case DT_F32:  lt = LINEAR_F32; break;
    case DT_F16:  lt = LINEAR_F16; break;
    case DT_BF16: lt = LINEAR_BF16; break;
    default:
        return status_fail(ST_UNSUPPORTED, "%s: tensor \"%s\" is %s; the LM takes F32, F16 or BF16 weights",
                           m->dir, name, dtype_name(t->dtype));
    }
    *dst = linear_view(lt, t->data, rows, cols);
    dst->f32_x = m->opts.exact;
    if (quant && m->opts.quant == LM_QUANT_Q8) {
        linear_w q;
        if ((st = linear_quantize_q8(&q, dst))) return st;
        if (!model_track(m, q.owned)) return status_fail(ST_NOMEM, "%s: out of memory", m->dir);
        q.owned = NULL;   /* the model frees it */
        *dst = q;
        /* the stored copy is never read again: Q8 RSS is the Q8 size */
        drop_mapped(t->data, t->nbytes);
    } else if (quant && t->nbytes <= m->copy_budget) {
        void *c = bigmem_alloc(t->nbytes);
        if (c) {   /* no memory for the copy: the view serves */
            memcpy(c, t->data, t->nbytes);
            if (!model_track(m, c)) return status_fail(ST_NOMEM, "%s: out of memory", m->dir);
            dst->data = c;
            m->copy_budget -= t->nbytes, m->copied += t->nbytes;
            drop_mapped(t->data, t->nbytes);
        }
    }
    return ST_OK;
}

/* prefix + suffix + ".weight" (and ".bias": bias_req 1 = required, 0 = if present, -1 = never). */
static int load_lin(lm_model *m, const char *prefix, const char *suffix, int rows, int cols, int bias_req,
                    lm_lin *l) {
    char name[320];
    snprintf(name, sizeof name, "%s%s.weight", prefix, suffix);
    int st = load_mat(m, name, rows, cols, 1, &l->w);
    if (st) return st;
    l->b = NULL;
    if (bias_req < 0) return ST_OK;
    snprintf(name, sizeof name, "%s%s.bias", prefix, suffix);
    return load_vec(m, name, rows, bias_req, &l->b);
}

typedef struct {
    const char *embed, *layer, *ln1, *ln2, *q, *k, *v, *qkv, *o, *mlp_a, *mlp_b, *mlp_out, *lnf;
} arch_names;

static const arch_names NAMES[4] = {
    [LM_STABLELM] = {"model.embed_tokens.weight", "model.layers.%d.", "input_layernorm",
                     "post_attention_layernorm", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                     NULL, "self_attn.o_proj", "gate_proj", "up_proj", "down_proj", "model.norm"},
    [LM_QWEN]     = {"transformer.wte.weight", "transformer.h.%d.", "ln_1", "ln_2", NULL, NULL, NULL,
                     "attn.c_attn", "attn.c_proj", "w2", "w1", "c_proj", "transformer.ln_f"},
    [LM_PHI]      = {"model.embed_tokens.weight", "model.layers.%d.", "input_layernorm", NULL,
                     "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", NULL, "self_attn.dense",
                     "fc1", NULL, "fc2", "model.final_layernorm"},
    [LM_LLAMA]    = {"model.embed_tokens.weight", "model.layers.%d.", "input_layernorm",
                     "post_attention_layernorm", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                     NULL, "self_attn.o_proj", "gate_proj", "up_proj", "down_proj", "model.norm"},
};

static int load_mlp(lm_model *m, const char *prefix, lm_mlp *p) {
    const arch_names *nm = &NAMES[m->cfg.arch];
    const int H = m->cfg.hidden, I = m->cfg.ffn;
    /* Qwen's no_bias and StableLM's MLP have no biases; Phi's are required */
    const int breq = m->cfg.arch == LM_PHI ? 1 : 0;
    int st = load_lin(m, prefix, nm->mlp_a, I, H, breq, &p->a);
    if (!st && nm->mlp_b) st = load_lin(m, prefix, nm->mlp_b, I, H, breq, &p->b);
    if (!nm->mlp_b) memset(&p->b, 0, sizeof p->b);
    if (!st) st = load_lin(m, prefix, nm->mlp_out, H, I, breq, &p->out);
    return st;
}

static int parse_arch(const char *mt, lm_arch *a) {
    if (!strcmp(mt, "moe_llava_stablelm") || !strcmp(mt, "stablelm_epoch") || !strcmp(mt, "llava_stablelm"))
        *a = LM_STABLELM;
    else if (!strcmp(mt, "moe_llava_qwen") || !strcmp(mt, "qwen") || !strcmp(mt, "llava_qwen"))
        *a = LM_QWEN;
    else if (!strcmp(mt, "moe_llava_phi") || !strcmp(mt, "phi") || !strcmp(mt, "llava_phi"))
        *a = LM_PHI;
    else if (!strcmp(mt, "llama"))
        *a = LM_LLAMA;
    else
        return -1;
    return 0;
}

/* config.moe → which layers are MoE (moe_layers_idx, or derived from
 * moe_mode the way llava_*_moe.py does) and the gate settings. */
static int load_moe_config(lm_model *m, json_t *cfg) {
    lm_config *c = &m->cfg;
    json_t *moe = json_object_get(cfg, "moe");
    c->n_experts = 0, c->top_k = 0, c->n_moe_layers = 0;
    if (!json_is_object(moe) || !json_is_true(json_object_get(moe, "moe_enable"))) return ST_OK;
    int L = c->n_layers, n = 0;
    m->moe_layers = model_alloc(m, (size_t)(L > 0 ? L : 1) * sizeof(int));
    if (!m->moe_layers) return status_fail(ST_NOMEM, "%s: out of memory", m->dir);
    json_t *idx = json_object_get(moe, "moe_layers_idx");
    if (json_is_array(idx)) {
        size_t i;
        json_t *v;
        json_array_foreach(idx, i, v) {
            long long l = json_is_integer(v) ? json_integer_value(v) : -1;
            if (l < 0 || l >= L || (n > 0 && l <= m->moe_layers[n - 1]))
                return status_fail(ST_FORMAT, "%s: config.json moe.moe_layers_idx[%zu] is not an increasing "
                                              "layer index below %d", m->dir, i, L);
            m->moe_layers[n++] = (int)l;
        }
    } else {
        const char *mode = jsonx_str(moe, "moe_mode", "sparse");
        int lo = 0, hi = L, step = 1;
        if (!strcmp(mode, "first_half")) hi = L / 2;
        else if (!strcmp(mode, "second_half")) lo = L / 2;
        else if (!strcmp(mode, "sparse")) step = 2;
        else if (strcmp(mode, "dense"))
            return status_fail(ST_UNSUPPORTED, "%s: config.json moe.moe_mode \"%s\" is unknown", m->dir, mode);
        for (int l = lo; l < hi; l += step) m->moe_layers[n++] = l;
    }
    c->n_moe_layers = n;
    c->moe_layers = m->moe_layers;
    json_t *ne = json_object_get(moe, "num_experts");
    int E = -1;
    if (json_is_integer(ne)) E = (int)json_integer_value(ne);
    else if (json_is_array(ne) && json_array_size(ne) > 0) {
        size_t i;
        json_t *v;
        json_array_foreach(ne, i, v) {
            int e = json_is_integer(v) ? (int)json_integer_value(v) : -1;
            if (E >= 0 && e != E)
                return status_fail(ST_UNSUPPORTED, "%s: config.json moe.num_experts differs between layers "
                                                   "(%d vs %d); seer needs one count", m->dir, E, e);
            E = e;
        }
        if (json_array_size(ne) != 1 && (int)json_array_size(ne) != n)
            return status_fail(ST_FORMAT, "%s: config.json moe.num_experts has %zu entries for %d MoE layers",
                               m->dir, json_array_size(ne), n);
    }
    if (E < 2 || E > 64)
        return status_fail(ST_FORMAT, "%s: config.json moe.num_experts is missing or out of range", m->dir);
    c->n_experts = E;
    c->top_k = (int)jsonx_int(moe, "top_k_experts", 2);
    if (c->top_k != 2)
        return status_fail(ST_UNSUPPORTED, "%s: config.json moe.top_k_experts = %d; only top-2 gating is "
                                           "implemented", m->dir, c->top_k);
    if (json_is_true(json_object_get(moe, "use_residual")))
        return status_fail(ST_UNSUPPORTED, "%s: config.json moe.use_residual (residual MoE) is not supported",
                           m->dir);
    m->eval_cf = (float)jsonx_num(moe, "eval_capacity_factor", 1.0);   /* DeepSpeed's default */
    m->min_capacity = (int)jsonx_int(moe, "min_capacity", 4);          /* MoE layer default */
    return ST_OK;
}

/* Geometry and hyper-parameters: config.json, cross-checked with the tensors. */
static int load_config(lm_model *m, json_t *cfg) {
    lm_config *c = &m->cfg;
    const arch_names *nm = &NAMES[c->arch];
    const tensor *t = checkpoint_find(m->ck, nm->embed);
    if (!t) return status_fail(ST_NOT_FOUND, "%s: required tensor \"%s\" is missing", m->dir, nm->embed);
    if (t->ndim != 2) return status_fail(ST_MISMATCH, "%s: tensor \"%s\" is not 2-D", m->dir, nm->embed);
    c->vocab_rows = (int)t->shape[0];
    c->hidden = (int)t->shape[1];
    const int H = c->hidden;
    if (jsonx_int(cfg, "hidden_size", H) != H)
        return status_fail(ST_MISMATCH, "%s: config.json hidden_size = %lld but \"%s\" has %d columns", m->dir,
                           jsonx_int(cfg, "hidden_size", H), nm->embed, H);
    c->n_layers = (int)jsonx_int(cfg, "num_hidden_layers", -1);
    if (c->n_layers <= 0) return status_fail(ST_FORMAT, "%s: config.json num_hidden_layers is missing", m->dir);
    char name[320], pre[64];
    /* a layer past the configured count means config and weights disagree */
    snprintf(pre, sizeof pre, nm->layer, c->n_layers);
    snprintf(name, sizeof name, "%s%s.weight", pre, nm->ln1);
    if (checkpoint_find(m->ck, name))
        return status_fail(ST_MISMATCH, "%s: config.json num_hidden_layers = %d but the weights have \"%s\"",
                           m->dir, c->n_layers, name);
    c->n_heads = (int)jsonx_int(cfg, "num_attention_heads", -1);
    if (c->n_heads <= 0) return status_fail(ST_FORMAT, "%s: config.json num_attention_heads is missing", m->dir);
    if (c->arch == LM_QWEN) {
        c->head_dim = (int)jsonx_int(cfg, "kv_channels", H / c->n_heads);
        c->n_kv_heads = c->n_heads;
        double pct = jsonx_num(cfg, "rotary_pct", 1.0);
        c->rope_dims = pct == 1.0 ? c->head_dim : (int)(c->head_dim * pct);
        c->rope_base = (float)jsonx_num(cfg, "rotary_emb_base", 10000.0);
        c->norm_eps = (float)jsonx_num(cfg, "layer_norm_epsilon", 1e-6);
        c->max_pos = (int)jsonx_int(cfg, "seq_length", jsonx_int(cfg, "max_position_embeddings", 8192));
        if (c->head_dim * c->n_heads != H)
            return status_fail(ST_UNSUPPORTED, "%s: kv_channels x heads = %d != hidden %d (Qwen splits c_attn by "
                                               "hidden_size)", m->dir, c->head_dim * c->n_heads, H);
    } else {
        if (H % c->n_heads)
            return status_fail(ST_FORMAT, "%s: %d heads do not divide hidden_size %d", m->dir, c->n_heads, H);
        c->head_dim = H / c->n_heads;
        c->n_kv_heads = (int)jsonx_int(cfg, "num_key_value_heads", c->n_heads);
        if (c->arch == LM_LLAMA) {
            /* LlamaConfig: full rotary, rms_norm_eps (class default 1e-6; Llama-2 writes 1e-5) */
            if (jsonx_int(cfg, "head_dim", c->head_dim) != c->head_dim)
                return status_fail(ST_UNSUPPORTED, "%s: config.json head_dim %lld != hidden_size / heads %d", m->dir,
                                   jsonx_int(cfg, "head_dim", c->head_dim), c->head_dim);
            c->rope_dims = c->head_dim;
            c->rope_base = (float)jsonx_num(cfg, "rope_theta", 10000.0);
            c->norm_eps = (float)jsonx_num(cfg, "rms_norm_eps", 1e-6);
            const char *act = jsonx_str(cfg, "hidden_act", "silu");
            if (act_parse(act) != ACT_SILU)
                return status_fail(ST_UNSUPPORTED, "%s: LLaMA hidden_act \"%s\" (only silu)", m->dir, act);
        } else if (c->arch == LM_STABLELM) {
            c->rope_dims = (int)(c->head_dim * jsonx_num(cfg, "rope_pct", 0.25));
            c->rope_base = (float)jsonx_num(cfg, "rope_theta", 10000.0);
            c->norm_eps = (float)jsonx_num(cfg, "norm_eps", 1e-5);
        } else {
            c->rope_dims = (int)(c->head_dim * jsonx_num(cfg, "partial_rotary_factor", 0.5));
            c->rope_base = (float)jsonx_num(cfg, "rope_theta", 10000.0);
            c->norm_eps = (float)jsonx_num(cfg, "layer_norm_eps", 1e-5);
            if (json_is_true(json_object_get(cfg, "qk_layernorm")))
                return status_fail(ST_UNSUPPORTED, "%s: Phi qk_layernorm is not supported", m->dir);
            const char *act = jsonx_str(cfg, "hidden_act", "gelu_new");
            if (act_parse(act) != ACT_GELU_TANH)
                return status_fail(ST_UNSUPPORTED, "%s: Phi hidden_act \"%s\" (only gelu_new)", m->dir, act);
        }
        json_t *rs = json_object_get(cfg, "rope_scaling");
        if (rs && !json_is_null(rs))
            return status_fail(ST_UNSUPPORTED, "%s: config.json rope_scaling is not supported", m->dir);
        c->max_pos = (int)jsonx_int(cfg, "max_position_embeddings", 4096);
    }
    if (c->n_kv_heads <= 0 || c->n_heads % c->n_kv_heads)
        return status_fail(ST_FORMAT, "%s: %d key/value heads do not divide %d heads", m->dir, c->n_kv_heads,
                           c->n_heads);
    if (c->rope_dims < 0 || c->rope_dims > c->head_dim || c->rope_dims % 2)
        return status_fail(ST_UNSUPPORTED, "%s: %d rotary dims of a %d-dim head (must be even)", m->dir,
                           c->rope_dims, c->head_dim);
    m->q_dim = c->n_heads * c->head_dim;
    m->kv_dim = c->n_kv_heads * c->head_dim;
    m->qkv_dim = m->q_dim + 2 * m->kv_dim;
    m->fused_qkv = c->arch == LM_QWEN;
    m->rms = c->arch == LM_QWEN || c->arch == LM_LLAMA;
    m->parallel = c->arch == LM_PHI;
    m->gated = c->arch != LM_PHI;
    m->act = c->arch == LM_PHI ? ACT_GELU_TANH : ACT_SILU;
    int st = load_moe_config(m, cfg);
    if (st) return st;
    /* per-expert MLP width from the first layer's MLP (dense or expert 0) */
    snprintf(pre, sizeof pre, nm->layer, 0);
    if (c->n_moe_layers > 0 && c->moe_layers[0] == 0)
        snprintf(name, sizeof name, "%smlp.deepspeed_moe.experts.deepspeed_experts.0.%s.weight", pre, nm->mlp_a);
    else
        snprintf(name, sizeof name, "%smlp.%s.weight", pre, nm->mlp_a);
    if (!(t = checkpoint_find(m->ck, name)))
        return status_fail(ST_NOT_FOUND, "%s: required tensor \"%s\" is missing", m->dir, name);
    if (t->ndim != 2) return status_fail(ST_MISMATCH, "%s: tensor \"%s\" is not 2-D", m->dir, name);
    c->ffn = (int)t->shape[0];
    long long cfg_ffn = jsonx_int(cfg, "intermediate_size", -1);
    if (cfg_ffn > 0 && cfg_ffn != (c->arch == LM_QWEN ? 2LL * c->ffn : c->ffn))
        return status_fail(ST_MISMATCH, "%s: config.json intermediate_size = %lld but \"%s\" has %d rows",
                           m->dir, cfg_ffn, name, c->ffn);
    return ST_OK;
}

static int load_weights(lm_model *m, json_t *cfg) {
    const lm_config *c = &m->cfg;
    const arch_names *nm = &NAMES[c->arch];
    const int H = c->hidden;
    int st = load_mat(m, nm->embed, c->vocab_rows, H, 0, &m->embed);
    if (st) return st;
    m->layers = model_alloc(m, (size_t)c->n_layers * sizeof *m->layers);
    if (!m->layers) return status_fail(ST_NOMEM, "%s: out of memory", m->dir);
    memset(m->layers, 0, (size_t)c->n_layers * sizeof *m->layers);
    /* StableLM: use_qkv_bias; LLaMA: attention_bias (false in every Llama-2: then no bias is read) */
    const int qkv_bias = c->arch == LM_STABLELM ? (json_is_false(json_object_get(cfg, "use_qkv_bias")) ? -1 : 1)
                         : c->arch == LM_LLAMA ? (json_is_true(json_object_get(cfg, "attention_bias")) ? 1 : -1)
                                               : 1;
    char pre[64], name[320];
    for (int i = 0; i < c->n_layers && !st; i++) {
        lm_layer *ly = &m->layers[i];
        snprintf(pre, sizeof pre, nm->layer, i);
        snprintf(name, sizeof name, "%s%s.weight", pre, nm->ln1);
        st = load_vec(m, name, H, 1, &ly->ln1_w);
        if (!st && !m->rms) {
            snprintf(name, sizeof name, "%s%s.bias", pre, nm->ln1);
            st = load_vec(m, name, H, 1, &ly->ln1_b);
        }
        if (!st && nm->ln2) {
            snprintf(name, sizeof name, "%s%s.weight", pre, nm->ln2);
            st = load_vec(m, name, H, 1, &ly->ln2_w);
            if (!st && !m->rms) {
                snprintf(name, sizeof name, "%s%s.bias", pre, nm->ln2);
                st = load_vec(m, name, H, 1, &ly->ln2_b);
            }
        }
        if (st) break;
        if (m->fused_qkv) {
            st = load_lin(m, pre, nm->qkv, m->qkv_dim, H, 1, &ly->qkv[0]);
        } else {
            st = load_lin(m, pre, nm->q, m->q_dim, H, qkv_bias, &ly->qkv[0]);
            if (!st) st = load_lin(m, pre, nm->k, m->kv_dim, H, qkv_bias, &ly->qkv[1]);
            if (!st) st = load_lin(m, pre, nm->v, m->kv_dim, H, qkv_bias, &ly->qkv[2]);
        }
        if (!st) st = load_lin(m, pre, nm->o, H, m->q_dim, c->arch == LM_PHI ? 1 : 0, &ly->o);
        if (st) break;
        ly->moe = -1;
        for (int j = 0; j < c->n_moe_layers; j++)
            if (c->moe_layers[j] == i) ly->moe = j;
        const int ne = ly->moe >= 0 ? c->n_experts : 1;
        ly->mlp = model_alloc(m, (size_t)ne * sizeof *ly->mlp);
        if (!ly->mlp) return status_fail(ST_NOMEM, "%s: out of memory", m->dir);
        if (ly->moe >= 0) {
            snprintf(name, sizeof name, "%smlp.deepspeed_moe.gate.wg.weight", pre);
            ly->wg = model_alloc(m, (size_t)c->n_experts * H * sizeof(float));
            if (!ly->wg) return status_fail(ST_NOMEM, "%s: out of memory", m->dir);
            st = checkpoint_read_f32(m->ck, name, 2, (int64_t[]){c->n_experts, H}, ly->wg);
            for (int e = 0; e < ne && !st; e++) {
                char ep[160];
                snprintf(ep, sizeof ep, "%smlp.deepspeed_moe.experts.deepspeed_experts.%d.", pre, e);
                st = load_mlp(m, ep, &ly->mlp[e]);
            }
        } else {
            char mp[96];
            snprintf(mp, sizeof mp, "%smlp.", pre);
            st = load_mlp(m, mp, &ly->mlp[0]);
        }
    }
    if (st) return st;
    snprintf(name, sizeof name, "%s.weight", nm->lnf);
    if ((st = load_vec(m, name, H, 1, &m->lnf_w))) return st;
    if (!m->rms) {
        snprintf(name, sizeof name, "%s.bias", nm->lnf);
        if ((st = load_vec(m, name, H, 1, &m->lnf_b))) return st;
    }
    if (!checkpoint_find(m->ck, "lm_head.weight") && json_is_true(json_object_get(cfg, "tie_word_embeddings"))) {
        if ((st = load_mat(m, nm->embed, c->vocab_rows, H, 1, &m->head.w))) return st;
        m->head.b = NULL;
        return ST_OK;
    }
    return load_lin(m, "", "lm_head", c->vocab_rows, H, c->arch == LM_PHI ? 1 : -1, &m->head);
}

int lm_load(const char *dir, const lm_opts *o, lm_model **out) {
    *out = NULL;
    lm_model *m = calloc(1, sizeof *m);
    if (!m) return status_fail(ST_NOMEM, "lm: out of memory");
    m->opts = o ? *o : lm_opts_default();
    m->dir = strdup(dir);
    json_t *cfg = NULL;
    char path[4096];
    int st = m->dir ? ST_OK : status_fail(ST_NOMEM, "lm: out of memory");
    if (!st) st = file_join(path, sizeof path, dir, "config.json");
    if (!st) st = jsonx_load(path, &cfg);
    if (!st) {
        const char *mt = jsonx_str(cfg, "model_type", NULL);
        if (!mt)
            st = status_fail(ST_FORMAT, "%s: config.json has no model_type", dir);
        else if (parse_arch(mt, &m->cfg.arch))
            st = status_fail(ST_UNSUPPORTED, "%s: config.json model_type \"%s\" is not a supported language model "
                                             "(moe_llava_stablelm, moe_llava_qwen, moe_llava_phi, stablelm_epoch, "
                                             "qwen, phi, llama)", dir, mt);
    }
    if (!st) st = checkpoint_open(dir, &m->ck);
    m->copy_budget = copy_budget();
    if (!st) st = load_config(m, cfg);
    if (!st) st = load_weights(m, cfg);
    json_decref(cfg);
    if (st) {
        lm_free(m);
        return st;
    }
    *out = m;
    return ST_OK;
}

void lm_free(lm_model *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n_allocs; i++) free(m->allocs[i]);
    free(m->allocs);
    checkpoint_close(m->ck);
    free(m->dir);
    free(m);
}

const lm_config *lm_get_config(const lm_model *m) { return &m->cfg; }
int lm_vocab(const lm_model *m) { return m->cfg.vocab_rows; }
size_t lm_weights_copied(const lm_model *m) { return m->copied; }
int lm_hidden(const lm_model *m) { return m->cfg.hidden; }

size_t lm_weight_bytes(const lm_model *m, size_t *total) {
    const lm_config *c = &m->cfg;
    size_t per_tok = linear_bytes(&m->head.w), all = per_tok + linear_bytes(&m->embed);
    for (int i = 0; i < c->n_layers; i++) {
        const lm_layer *ly = &m->layers[i];
        size_t att = 0;
        for (int j = 0; j < (m->fused_qkv ? 1 : 3); j++) att += linear_bytes(&ly->qkv[j].w);
        att += linear_bytes(&ly->o.w);
        const int ne = ly->moe >= 0 ? c->n_experts : 1;
        size_t mlp = 0;
        for (int e = 0; e < ne; e++) {
            const lm_mlp *p = &ly->mlp[e];
            mlp = linear_bytes(&p->a.w) + linear_bytes(&p->out.w) + (p->b.w.data ? linear_bytes(&p->b.w) : 0);
            all += mlp;
        }
        all += att;
        per_tok += att + mlp * (ly->moe >= 0 ? 2 : 1);
    }
    if (total) *total = all;
    return per_tok;
}

int lm_embed(const lm_model *m, const int32_t *ids, int n, float *out) {
    const int H = m->cfg.hidden;
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= m->cfg.vocab_rows)
            return status_fail(ST_ARG, "lm_embed: token id %d at position %d is outside [0, %d)", ids[i], i,
                               m->cfg.vocab_rows);
        linear_rows_to_f32(out + (size_t)i * H, &m->embed, ids[i], 1);
    }
    return ST_OK;
}

/* ------------------------------------------------------------------ state */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

lm_state *lm_state_new(const lm_model *m, int max_ctx) {
    if (max_ctx <= 0) {
        status_fail(ST_ARG, "lm_state_new: max_ctx %d", max_ctx);
        return NULL;
    }
    const lm_config *c = &m->cfg;
    lm_state *s = calloc(1, sizeof *s);
    if (!s) goto oom;
    s->m = m;
    s->max_ctx = max_ctx;
    const size_t kv = (size_t)c->n_layers * max_ctx * m->kv_dim;
    s->esz = m->opts.kv_f16 ? sizeof(uint16_t) : sizeof(float);
    s->k_cache = bigmem_alloc(kv * s->esz);   /* huge pages: streamed by every decoded token */
    s->v_cache = bigmem_alloc(kv * s->esz);
    s->counts = calloc((size_t)(c->n_moe_layers ? c->n_moe_layers : 1) * (c->n_experts ? c->n_experts : 1) *
                       LM_TOK_KINDS, sizeof(uint32_t));
    if (!s->k_cache || !s->v_cache || !s->counts) goto oom;
    uint64_t seed = m->opts.seed;
    s->rng = splitmix64(&seed) | 1;
    return s;
oom:
    lm_state_free(s);
    status_fail(ST_NOMEM, "lm_state_new: cannot allocate a KV cache of %d positions", max_ctx);
    return NULL;
}

void lm_state_free(lm_state *s) {
    if (!s) return;
    free(s->k_cache);
    free(s->v_cache);
    free(s->counts);
    free(s->routes);
    free(s->scratch);
    free(s);
}

size_t lm_kv_bytes(const lm_model *m, int positions) {
    const size_t esz = m->opts.kv_f16 ? sizeof(uint16_t) : sizeof(float);
    return 2 * esz * (size_t)m->cfg.n_layers * (size_t)(positions > 0 ? positions : 0) * (size_t)m->kv_dim;
}

int lm_state_pos(const lm_state *s) { return s->pos; }

void lm_state_truncate(lm_state *s, int n) {
    if (n < 0) n = 0;
    if (n < s->pos) s->pos = n;
}

int lm_state_capacity(const lm_state *s) { return s->max_ctx; }

int lm_state_copy(lm_state *dst, const lm_state *src) {
    if (dst->m != src->m || dst->max_ctx < src->pos)
        return status_fail(ST_ARG, "lm_state_copy: states of different models, or %d positions into a context of %d",
                           src->pos, dst->max_ctx);
    const lm_model *m = src->m;
    /* same model, so the same element size (lm_opts.kv_f16 is the model's) */
    const size_t row = (size_t)m->kv_dim * src->esz, sl = (size_t)src->max_ctx * row,
                 dl = (size_t)dst->max_ctx * row;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        memcpy((char *)dst->k_cache + l * dl, (const char *)src->k_cache + l * sl, (size_t)src->pos * row);
        memcpy((char *)dst->v_cache + l * dl, (const char *)src->v_cache + l * sl, (size_t)src->pos * row);
    }
    const lm_config *c = &m->cfg;
    memcpy(dst->counts, src->counts,
           (size_t)(c->n_moe_layers ? c->n_moe_layers : 1) * (c->n_experts ? c->n_experts : 1) * LM_TOK_KINDS *
               sizeof(uint32_t));
    dst->pos = src->pos;
    dst->rng = src->rng;
    return ST_OK;
}

void lm_state_set_cancel(lm_state *s, const volatile int *cancel) { s->cancel = cancel; }

const uint32_t *lm_state_router_counts(const lm_state *s, size_t *len) {
    const lm_config *c = &s->m->cfg;
    if (len) *len = (size_t)c->n_moe_layers * c->n_experts * LM_TOK_KINDS;
    return s->counts;
}

void lm_state_router_reset(lm_state *s) {
    const lm_config *c = &s->m->cfg;
    memset(s->counts, 0, (size_t)c->n_moe_layers * c->n_experts * LM_TOK_KINDS * sizeof(uint32_t));
}

const int32_t *lm_state_routes(const lm_state *s, int *n) {
    if (n) *n = s->routes_n;
    return s->routes;
}

/* ------------------------------------------------------------------ forward */

/* Per-call scratch for n positions, carved out of one float buffer. */
typedef struct {
    float *x;      /* (n, hidden) residual stream */
    float *xn;     /* (n, hidden) normed input of attention / MLP */
    float *qkv;    /* (n, qkv_dim) */
    float *att;    /* (n, q_dim) */
    float *y;      /* (n, hidden) MLP / MoE output (Phi: attention output) */
    float *gx;     /* (n, hidden) rows gathered for one expert */
    float *eo;     /* (n, hidden) one expert's output */
    float *ha, *hb;/* (n, ffn) */
    float *cs;     /* (n, rope_dims) */
    float *gl;     /* (n, n_experts) gate logits, then probabilities */
    float *gw;     /* (n, 2) combine weights */
    int *tok;      /* (n) token rows of one expert */
    float *tw;     /* (n) their weights */
} scratch_t;

static int scratch_layout(lm_state *s, int n, scratch_t *sc) {
    const lm_model *m = s->m;
    const lm_config *c = &m->cfg;
    const size_t N = (size_t)n, H = c->hidden;
    const size_t E = c->n_experts ? c->n_experts : 1;
    size_t sizes[] = {N * H, N * H, N * m->qkv_dim, N * m->q_dim, N * H, N * H, N * H, N * c->ffn, N * c->ffn,
                      N * (c->rope_dims ? c->rope_dims : 1), N * E, N * 2, N, N};
    enum { NB = sizeof sizes / sizeof *sizes };
    size_t total = 0;
    for (int i = 0; i < NB; i++) total += (sizes[i] + 15) & ~(size_t)15;
    if (total > s->scratch_cap) {
        float *p = malloc(total * sizeof(float));
        if (!p) return status_fail(ST_NOMEM, "lm_forward: cannot allocate %zu MB of scratch for %d positions",
                                   total * 4 >> 20, n);
        free(s->scratch);
        s->scratch = p, s->scratch_cap = total;
    }
    float *ptrs[NB], *p = s->scratch;
    for (int i = 0; i < NB; i++) {
        ptrs[i] = p;
        p += (sizes[i] + 15) & ~(size_t)15;
    }
    sc->x = ptrs[0], sc->xn = ptrs[1], sc->qkv = ptrs[2], sc->att = ptrs[3], sc->y = ptrs[4];
    sc->gx = ptrs[5], sc->eo = ptrs[6], sc->ha = ptrs[7], sc->hb = ptrs[8], sc->cs = ptrs[9];
    sc->gl = ptrs[10], sc->gw = ptrs[11];
    sc->tok = (int *)(void *)ptrs[12]; /* int and float have the same size */
    sc->tw = ptrs[13];
    if (s->routes_cap < (int)N) {
        int cap = n;
        int32_t *r = malloc((size_t)(c->n_moe_layers ? c->n_moe_layers : 1) * cap * 2 * sizeof(int32_t));
        if (!r) return status_fail(ST_NOMEM, "lm_forward: out of memory");
        free(s->routes);
        s->routes = r, s->routes_cap = cap;
    }
    return ST_OK;
}

static void norm_rows(const lm_model *m, float *y, const float *x, const float *w, const float *b, int rows) {
    if (m->rms)
        norm_rms(y, x, w, rows, m->cfg.hidden, m->cfg.norm_eps);
    else
        norm_layer(y, x, w, b, rows, m->cfg.hidden, m->cfg.norm_eps);
}

/* out (M, hidden) (+)= MLP p over x (M, hidden). */
static int mlp_forward(const lm_model *m, const lm_mlp *p, float *out, const float *x, int M, int accumulate,
                       scratch_t *sc) {
    const int H = m->cfg.hidden, I = m->cfg.ffn;
    int st;
    if (m->gated) {   /* gate and up in one pass over x */
        float *ys[2] = {sc->ha, sc->hb};
        const int ld[2] = {I, I};
        const linear_w *ws[2] = {&p->a.w, &p->b.w};
        const float *bs[2] = {p->a.b, p->b.b};
        st = linear_forward_n(2, ys, ld, x, H, ws, bs, M);
    } else {
        st = linear_forward(sc->ha, I, x, H, &p->a.w, p->a.b, M, 0);
    }
    if (st) return st;
    if (m->gated)
        act_swiglu(sc->ha, sc->ha, sc->hb, (size_t)M * I);  /* silu(a) * b */
    else
        act_apply(m->act, sc->ha, (size_t)M * I, NULL, 0);
    return linear_forward(out, H, sc->ha, I, &p->out.w, p->out.b, M, accumulate);
}

static double moe_uniform(lm_state *s) {
    /* xorshift64* with its own multiplier and an open interval (0, 1) for
     * log(-log(u)): not rng.h's [0, 1), which log(0) would break */
    uint64_t x = s->rng;
    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    s->rng = x;
    uint64_t r = (x * 0x2545F4914F6CDD1DULL) >> 11;
    return ((double)r + 0.5) / 9007199254740992.0;
}

/* sc->y (n, hidden) = MoE(xn) for one layer; records routes and counts. */
static int moe_forward(const lm_model *m, lm_state *s, const lm_layer *ly, int n, const uint8_t *kinds,
                       scratch_t *sc) {
    const lm_config *c = &m->cfg;
    const int H = c->hidden, E = c->n_experts;
    int32_t *routes = s->routes + (size_t)ly->moe * n * 2;
    /* 1. gate logits in FP32, softmax, e1, e2 */
    for (int i = 0; i < n; i++) {
        const float *x = sc->xn + (size_t)i * H;
        float *lg = sc->gl + (size_t)i * E;
        for (int e = 0; e < E; e++) {
            const float *w = ly->wg + (size_t)e * H;
            float a = 0.0f;
            for (int k = 0; k < H; k++) a += x[k] * w[k];
            lg[e] = a;
        }
        int e2 = -1;
        double best = -INFINITY;
        /* e1 = argmax p = argmax logits (first on ties, as torch.argmax) */
        int e1 = 0;
        for (int e = 1; e < E; e++)
            if (lg[e] > lg[e1]) e1 = e;
        for (int e = 0; e < E; e++) {
            double v = lg[e];
            if (m->opts.moe_sampling) v -= log(-log(moe_uniform(s)));   /* Gumbel noise on every expert */
            if (e != e1 && (e2 < 0 || v > best)) best = v, e2 = e;
        }
        /* softmax in float32 */
        float mx = lg[e1], sum = 0.0f;
        for (int e = 0; e < E; e++) sum += (lg[e] = expf(lg[e] - mx));
        for (int e = 0; e < E; e++) lg[e] /= sum;
        routes[2 * i] = e1, routes[2 * i + 1] = e2;
    }
    /* 2. capacity and slots (DeepSpeed top2gating): loc1 = earlier first
     *    choices of the same expert; loc2 = all first choices of that expert
     *    + earlier second choices of it; keep a choice iff loc < C. */
    const long C0 = (long)ceil((double)n / E * 2.0 * m->eval_cf);
    const long C = C0 > m->min_capacity ? C0 : m->min_capacity;
    long cnt1[64] = {0}, cnt2[64] = {0}, tot1[64] = {0};
    for (int i = 0; i < n; i++) tot1[routes[2 * i]]++;
    for (int i = 0; i < n; i++) {
        const int e1 = routes[2 * i], e2 = routes[2 * i + 1];
        const int keep1 = cnt1[e1]++ < C;
        const int keep2 = tot1[e2] + cnt2[e2]++ < C;
        const float *p = sc->gl + (size_t)i * E;
        float g1 = keep1 ? p[e1] : 0.0f, g2 = keep2 ? p[e2] : 0.0f;
        float d = g1 + g2;
        if (d < FLT_EPSILON) d = FLT_EPSILON;
        sc->gw[2 * i] = keep1 ? g1 / d : -1.0f;   /* -1: dropped */
        sc->gw[2 * i + 1] = keep2 ? g2 / d : -1.0f;
    }
    /* 3. each expert once over its rows; combine into y */
    memset(sc->y, 0, (size_t)n * H * sizeof(float));
    for (int e = 0; e < E; e++) {
        int cnt = 0;
        for (int i = 0; i < n; i++)
            for (int k = 0; k < 2; k++)
                if (routes[2 * i + k] == e && sc->gw[2 * i + k] >= 0.0f) {
                    sc->tok[cnt] = i, sc->tw[cnt] = sc->gw[2 * i + k], cnt++;
                    uint8_t kind = kinds ? kinds[i] : LM_TOK_TEXT;
                    if (kind >= LM_TOK_KINDS) kind = LM_TOK_TEXT;
                    s->counts[((size_t)ly->moe * E + e) * LM_TOK_KINDS + kind]++;
                }
        if (!cnt) continue;
        for (int r = 0; r < cnt; r++)
            memcpy(sc->gx + (size_t)r * H, sc->xn + (size_t)sc->tok[r] * H, (size_t)H * sizeof(float));
        int st = mlp_forward(m, &ly->mlp[e], sc->eo, sc->gx, cnt, 0, sc);
        if (st) return st;
        for (int r = 0; r < cnt; r++) {
            float *y = sc->y + (size_t)sc->tok[r] * H;
            const float *o = sc->eo + (size_t)r * H, w = sc->tw[r];
            for (int k = 0; k < H; k++) y[k] += w * o[k];
        }
    }
    return ST_OK;
}

static int attention_layer(const lm_model *m, lm_state *s, const lm_layer *ly, int l, int n, scratch_t *sc) {
    const lm_config *c = &m->cfg;
    const int H = c->hidden, pos0 = s->pos;
    int st;
    if (m->fused_qkv) {
        st = linear_forward(sc->qkv, m->qkv_dim, sc->xn, H, &ly->qkv[0].w, ly->qkv[0].b, n, 0);
    } else {   /* q, k and v in one pass over xn */
        float *ys[3] = {sc->qkv, sc->qkv + m->q_dim, sc->qkv + m->q_dim + m->kv_dim};
        const int ld[3] = {m->qkv_dim, m->qkv_dim, m->qkv_dim};
        const linear_w *ws[3] = {&ly->qkv[0].w, &ly->qkv[1].w, &ly->qkv[2].w};
        const float *bs[3] = {ly->qkv[0].b, ly->qkv[1].b, ly->qkv[2].b};
        st = linear_forward_n(3, ys, ld, sc->xn, H, ws, bs, n);
    }
    if (st) return st;
    if (c->rope_dims > 0) {
        rope_apply(sc->qkv, m->qkv_dim, n, c->n_heads, c->head_dim, c->rope_dims, sc->cs);
        rope_apply(sc->qkv + m->q_dim, m->qkv_dim, n, c->n_kv_heads, c->head_dim, c->rope_dims, sc->cs);
    }
    const size_t kvd = (size_t)m->kv_dim, layer = (size_t)s->max_ctx * kvd;
    const int f16 = s->esz == sizeof(uint16_t);
    /* this layer's K and V: float32, or IEEE half rows that attention widens
     * per head as it reads them (the new rows too, so a prompt split over
     * calls reads the same values) */
    float *kc = (float *)s->k_cache + l * layer, *vc = (float *)s->v_cache + l * layer;
    uint16_t *kh = (uint16_t *)s->k_cache + l * layer, *vh = (uint16_t *)s->v_cache + l * layer;
    for (int i = 0; i < n; i++) {
        const float *k = sc->qkv + (size_t)i * m->qkv_dim + m->q_dim, *v = k + kvd;
        const size_t at = (size_t)(pos0 + i) * kvd;
        if (f16) {
            f32_to_f16_n(kh + at, k, kvd);
            f32_to_f16_n(vh + at, v, kvd);
        } else {
            memcpy(kc + at, k, kvd * sizeof(float));
            memcpy(vc + at, v, kvd * sizeof(float));
        }
    }
    attention_shape as = {.Tq = n, .Tk = pos0 + n, .H = c->n_heads, .dh = c->head_dim, .ldq = m->qkv_dim,
                          .ldk = (int)kvd, .ldv = (int)kvd, .ldo = m->q_dim,
                          .scale = 1.0f / sqrtf((float)c->head_dim), .causal = 1};
    /* grouped-query: head h reads key/value head h / (n_heads / n_kv_heads) */
    const int gqa = c->n_kv_heads != c->n_heads, rep = c->n_heads / c->n_kv_heads;
    if (gqa) as.H = 1;
    for (int h = 0; h < (gqa ? c->n_heads : 1) && !st; h++) {
        const size_t qo = (size_t)h * c->head_dim, ko = (size_t)(h / rep) * c->head_dim;
        st = f16 ? attention_forward_f16kv(&as, sc->att + qo, sc->qkv + qo, kh + ko, vh + ko)
                 : attention_forward(&as, sc->att + qo, sc->qkv + qo, kc + ko, vc + ko);
    }
    return st;
}

static int forward(const lm_model *m, lm_state *s, const int32_t *ids, const float *embeds, int n,
                   const uint8_t *kinds, float *logits, int all) {
    const lm_config *c = &m->cfg;
    const int H = c->hidden;
    if (n <= 0) return status_fail(ST_ARG, "lm_forward: %d positions", n);
    if (!ids == !embeds) return status_fail(ST_ARG, "lm_forward: pass exactly one of ids and embeds");
    if (s->m != m) return status_fail(ST_ARG, "lm_forward: the state belongs to another model");
    if (s->pos + n > s->max_ctx)
        return status_fail(ST_ARG, "lm_forward: %d cached + %d new positions exceed the context of %d", s->pos, n,
                           s->max_ctx);
    scratch_t sc;
    int st = scratch_layout(s, n, &sc);
    if (st) return st;
    if (ids) {
        if ((st = lm_embed(m, ids, n, sc.x))) return st;
    } else {
        memcpy(sc.x, embeds, (size_t)n * H * sizeof(float));
    }
    s->routes_n = n;
    if (c->rope_dims > 0) rope_table(sc.cs, s->pos, n, c->rope_dims, c->rope_base);
    for (int l = 0; l < c->n_layers && !st; l++) {
        if (s->cancel && *s->cancel) {
            st = status_fail(ST_CANCELLED, "lm_forward: cancelled before layer %d", l);
            break;
        }
        const lm_layer *ly = &m->layers[l];
        norm_rows(m, sc.xn, sc.x, ly->ln1_w, ly->ln1_b, n);
        if ((st = attention_layer(m, s, ly, l, n, &sc))) break;
        if (m->parallel) {
            /* Phi: h + dense(attn) + mlp(LN h), both branches from the same LN */
            if ((st = linear_forward(sc.x, H, sc.att, m->q_dim, &ly->o.w, ly->o.b, n, 1))) break;
        } else {
            if ((st = linear_forward(sc.x, H, sc.att, m->q_dim, &ly->o.w, ly->o.b, n, 1))) break;
            norm_rows(m, sc.xn, sc.x, ly->ln2_w, ly->ln2_b, n);
        }
        if (ly->moe >= 0) {
            if ((st = moe_forward(m, s, ly, n, kinds, &sc))) break;
            for (size_t i = 0; i < (size_t)n * H; i++) sc.x[i] += sc.y[i];
        } else {
            st = mlp_forward(m, &ly->mlp[0], sc.x, sc.xn, n, 1, &sc);
        }
    }
    if (st) return st;   /* the KV rows written so far are past pos: harmless */
    s->pos += n;
    if (!logits) return ST_OK;
    const int first = all ? 0 : n - 1, rows = n - first;
    norm_rows(m, sc.xn, sc.x + (size_t)first * H, m->lnf_w, m->lnf_b, rows);
    return linear_forward(logits, c->vocab_rows, sc.xn, H, &m->head.w, m->head.b, rows, 0);
}

int lm_forward(const lm_model *m, lm_state *s, const int32_t *ids, const float *embeds, int n,
               const uint8_t *kinds, float *logits) {
    return forward(m, s, ids, embeds, n, kinds, logits, 0);
}

int lm_forward_all(const lm_model *m, lm_state *s, const int32_t *ids, const float *embeds, int n,
                   const uint8_t *kinds, float *logits) {
    return forward(m, s, ids, embeds, n, kinds, logits, 1);
}
