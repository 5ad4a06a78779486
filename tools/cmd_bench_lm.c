/* tools/cmd_bench_lm.c — `seer bench lm`: MoE-LLaVA language-model prefill
 * and decode throughput on random weights of the real geometry, against this
 * machine's limits measured in the same run.
 *
 *   decode  is weight-streaming: its floor is (active weight bytes per token)
 *           / (read bandwidth), so the ratio printed is
 *           tokens/s × bytes/token / read GB/s (1.0 = at the bandwidth floor);
 *   prefill is compute-bound: its floor is FLOPs / sgemm FLOP/s, FLOPs =
 *           2 × active matmul params × tokens + causal attention.
 *
 * The checkpoint (config.json + model.safetensors, BF16, MoE-LLaVA tensor
 * names) is written once into --dir (default /tmp/seer-bench-lm/<geometry>)
 * and reused; a ".complete" marker says it was written to the end.
 */
#include "bench_util.h"
#include "cmd.h"
#include "lm.h"
#include "sampler.h"
#include "status.h"
#include "timer.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


/* ------------------------------------------------------------------ geometry */

typedef struct {
    const char *name;
    int phi;                 /* 0: StableLM (gated SwiGLU, LN+bias, qkv bias); 1: Phi-2;
                                2: LLaMA-2 (dense, RMSNorm, no biases, untied lm_head) */
    int moe;                 /* 1: MoE-LLaVA (4 experts, top-2, every other layer); 0: dense */
    int hidden, layers, heads, kv_heads, ffn, vocab;
} bench_geom;

static const bench_geom GEOMS[] = {
    {"stablelm-1.6b", 0, 1, 2048, 24, 32, 32, 5632, 100352},
    {"phi2-2.7b", 1, 1, 2560, 32, 32, 32, 10240, 51200},
    {"llama2-7b", 2, 0, 4096, 32, 32, 32, 11008, 32000},
    /* dense StableLM-2-1.6B: what tools/bench_llamacpp.sh runs llama.cpp on */
    {"stablelm2-1.6b-dense", 0, 0, 2048, 24, 32, 32, 5632, 100352},
};

/* ------------------------------------------------------------------ checkpoint writer */

typedef struct {
    char name[320];
    int64_t rows, cols;      /* cols 0: 1-D */
    int kind;                /* 0 random weight, 1 ones (norm weight), 2 zeros (norm bias), 3 small random bias */
} tinfo;

typedef struct {
    tinfo *t;
    int n, cap;
} tlist;

static int tl_add(tlist *l, const char *name, int64_t rows, int64_t cols, int kind) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 256;
        tinfo *p = realloc(l->t, (size_t)cap * sizeof *p);
        if (!p) return -1;
        l->t = p, l->cap = cap;
    }
    tinfo *t = &l->t[l->n++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->rows = rows, t->cols = cols, t->kind = kind;
    return 0;
}

static int moe_layer(const bench_geom *g, int l) { return g->moe && l % 2 == 0; }

/* The MoE-LLaVA tensor list for a geometry (docs/model-spec.md §B4/§B5 names). */
static int build_tensors(const bench_geom *g, tlist *l) {
    const int H = g->hidden, I = g->ffn, V = g->vocab, kvd = g->kv_heads * (H / g->heads);
    char n[320], p[64];
    int e = 0;
    e |= tl_add(l, "model.embed_tokens.weight", V, H, 0);
    for (int i = 0; i < g->layers; i++) {
        snprintf(p, sizeof p, "model.layers.%d.", i);
#define ADD(suffix, r, c, k) (snprintf(n, sizeof n, "%s%s", p, suffix), e |= tl_add(l, n, r, c, k))
        const int llama = g->phi == 2;
        ADD("input_layernorm.weight", H, 0, 1);
        if (!llama) ADD("input_layernorm.bias", H, 0, 2);
        ADD("self_attn.q_proj.weight", H, H, 0);
        if (!llama) ADD("self_attn.q_proj.bias", H, 0, 3);
        ADD("self_attn.k_proj.weight", kvd, H, 0);
        if (!llama) ADD("self_attn.k_proj.bias", kvd, 0, 3);
        ADD("self_attn.v_proj.weight", kvd, H, 0);
        if (!llama) ADD("self_attn.v_proj.bias", kvd, 0, 3);
        if (g->phi == 1) {
            ADD("self_attn.dense.weight", H, H, 0);
            ADD("self_attn.dense.bias", H, 0, 3);
        } else {
            ADD("self_attn.o_proj.weight", H, H, 0);
            ADD("post_attention_layernorm.weight", H, 0, 1);
            if (!llama) ADD("post_attention_layernorm.bias", H, 0, 2);
        }
        const int ne = moe_layer(g, i) ? 4 : 1;
        if (moe_layer(g, i)) ADD("mlp.deepspeed_moe.gate.wg.weight", 4, H, 0);
        for (int x = 0; x < ne; x++) {
            char q[80];
            if (moe_layer(g, i))
                snprintf(q, sizeof q, "mlp.deepspeed_moe.experts.deepspeed_experts.%d.", x);
            else
                snprintf(q, sizeof q, "mlp.");
            char s[160];
            if (g->phi == 1) {
                snprintf(s, sizeof s, "%sfc1.weight", q), ADD(s, I, H, 0);
                snprintf(s, sizeof s, "%sfc1.bias", q), ADD(s, I, 0, 3);
                snprintf(s, sizeof s, "%sfc2.weight", q), ADD(s, H, I, 0);
                snprintf(s, sizeof s, "%sfc2.bias", q), ADD(s, H, 0, 3);
            } else {
                snprintf(s, sizeof s, "%sgate_proj.weight", q), ADD(s, I, H, 0);
                snprintf(s, sizeof s, "%sup_proj.weight", q), ADD(s, I, H, 0);
                snprintf(s, sizeof s, "%sdown_proj.weight", q), ADD(s, H, I, 0);
            }
        }
#undef ADD
    }
    const char *lnf = g->phi == 1 ? "model.final_layernorm" : "model.norm";
    snprintf(n, sizeof n, "%s.weight", lnf), e |= tl_add(l, n, H, 0, 1);
    if (g->phi != 2) snprintf(n, sizeof n, "%s.bias", lnf), e |= tl_add(l, n, H, 0, 2);
    e |= tl_add(l, "lm_head.weight", V, H, 0);
    if (g->phi == 1) e |= tl_add(l, "lm_head.bias", V, 0, 3);
    return e ? status_fail(ST_NOMEM, "bench lm: out of memory") : ST_OK;
}

static int write_config(const bench_geom *g, const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) return status_fail(ST_IO, "bench lm: cannot write %s: %s", path, strerror(errno));
    char idx[256] = "", nex[256] = "";
    int n = 0;
    for (int l = 0; l < g->layers; l++)
        if (moe_layer(g, l)) {
            size_t a = strlen(idx), b = strlen(nex);
            snprintf(idx + a, sizeof idx - a, "%s%d", n ? ", " : "", l);
            snprintf(nex + b, sizeof nex - b, "%s4", n ? ", " : "");
            n++;
        }
    if (g->phi == 2) {   /* meta-llama/Llama-2-7b-hf's config.json */
        fprintf(f, "{\n  \"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\",\n"
                   "  \"hidden_size\": %d, \"intermediate_size\": %d, \"num_hidden_layers\": %d,\n"
                   "  \"num_attention_heads\": %d, \"num_key_value_heads\": %d, \"hidden_act\": \"silu\",\n"
                   "  \"max_position_embeddings\": 4096, \"rms_norm_eps\": 1e-05, \"rope_theta\": 10000.0,\n"
                   "  \"rope_scaling\": null, \"attention_bias\": false, \"vocab_size\": %d,\n"
                   "  \"tie_word_embeddings\": false, \"bos_token_id\": 1, \"eos_token_id\": 2,\n"
                   "  \"torch_dtype\": \"bfloat16\"\n}\n",
                g->hidden, g->ffn, g->layers, g->heads, g->kv_heads, g->vocab);
        int bad = ferror(f);
        if (fclose(f) || bad) return status_fail(ST_IO, "bench lm: writing %s failed", path);
        return ST_OK;
    }
    fprintf(f, "{\n");
    if (g->phi)
        fprintf(f, "  \"architectures\": [\"EvalMoELLaVAPhiForCausalLM\"], \"model_type\": \"moe_llava_phi\",\n"
                   "  \"hidden_size\": %d, \"intermediate_size\": %d, \"num_hidden_layers\": %d,\n"
                   "  \"num_attention_heads\": %d, \"num_key_value_heads\": null, \"partial_rotary_factor\": 0.4,\n"
                   "  \"rope_theta\": 10000.0, \"rope_scaling\": null, \"qk_layernorm\": false,\n"
                   "  \"max_position_embeddings\": 2048, \"layer_norm_eps\": 1e-05, \"hidden_act\": \"gelu_new\",\n"
                   "  \"vocab_size\": %d, \"tie_word_embeddings\": false, \"torch_dtype\": \"bfloat16\",\n",
                g->hidden, g->ffn, g->layers, g->heads, g->vocab);
    else
        fprintf(f, "  \"architectures\": [\"EvalMoELLaVAStablelmForCausalLM\"], \"model_type\": \"moe_llava_stablelm\",\n"
                   "  \"hidden_size\": %d, \"intermediate_size\": %d, \"num_hidden_layers\": %d,\n"
                   "  \"num_attention_heads\": %d, \"num_key_value_heads\": %d, \"hidden_act\": \"silu\",\n"
                   "  \"rope_pct\": 0.25, \"rope_theta\": 10000, \"max_position_embeddings\": 4096, \"norm_eps\": 1e-05,\n"
                   "  \"use_qkv_bias\": true, \"vocab_size\": %d, \"tie_word_embeddings\": false,\n"
                   "  \"bos_token_id\": 100257, \"eos_token_id\": 100257, \"torch_dtype\": \"bfloat16\",\n",
                g->hidden, g->ffn, g->layers, g->heads, g->kv_heads, g->vocab);
    if (!g->moe)
        fprintf(f, "  \"moe\": {\"moe_enable\": false}\n}\n");
    else
        fprintf(f, "  \"moe\": {\"moe_enable\": true, \"moe_mode\": \"sparse\", \"moe_layers_idx\": [%s], \"ep_size\": 1,\n"
                   "          \"top_k_experts\": 2, \"capacity_factor\": 1.5, \"eval_capacity_factor\": 2.0,\n"
                   "          \"min_capacity\": 0, \"use_residual\": false, \"router_aux_loss_coef\": 0.01,\n"
                   "          \"num_experts\": [%s], \"train_modules\": []}\n}\n",
                idx, nex);
    int bad = ferror(f);
    if (fclose(f) || bad) return status_fail(ST_IO, "bench lm: writing %s failed", path);
    return ST_OK;
}

static inline uint64_t xs64(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return *s = x;
}

static inline uint16_t f32_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

/* Fill n BF16 values of a tensor kind: uniform with std 0.02 (random), 1, 0. */
static void fill_bf16(uint16_t *d, size_t n, int kind, uint64_t *s) {
    if (kind == 1 || kind == 2) {
        const uint16_t v = kind == 1 ? 0x3f80 : 0;
        for (size_t i = 0; i < n; i++) d[i] = v;
        return;
    }
    const float a = 0.02f * 1.7320508f / 2147483648.0f; /* uniform(-a, a) has std 0.02 */
    for (size_t i = 0; i + 4 <= n; i += 4) {
        uint64_t r = xs64(s), q = xs64(s);
        d[i + 0] = f32_bf16((float)(int32_t)(uint32_t)r * a);
        d[i + 1] = f32_bf16((float)(int32_t)(uint32_t)(r >> 32) * a);
        d[i + 2] = f32_bf16((float)(int32_t)(uint32_t)q * a);
        d[i + 3] = f32_bf16((float)(int32_t)(uint32_t)(q >> 32) * a);
    }
    for (size_t i = n & ~(size_t)3; i < n; i++) d[i] = f32_bf16((float)(int32_t)(uint32_t)xs64(s) * a);
}

static int write_safetensors(const bench_geom *g, const char *path) {
    tlist tl = {0};
    int st = build_tensors(g, &tl);
    if (st) return st;
    /* header */
    size_t hcap = (size_t)tl.n * 256 + 64, hl = 0;
    char *h = malloc(hcap);
    if (!h) {
        free(tl.t);
        return status_fail(ST_NOMEM, "bench lm: out of memory");
    }
    uint64_t off = 0;
    hl += (size_t)snprintf(h + hl, hcap - hl, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = 0; i < tl.n; i++) {
        const tinfo *t = &tl.t[i];
        uint64_t n = (uint64_t)t->rows * (t->cols ? t->cols : 1) * 2;
        if (t->cols)
            hl += (size_t)snprintf(h + hl, hcap - hl, ",\"%s\":{\"dtype\":\"BF16\",\"shape\":[%lld,%lld],"
                                   "\"data_offsets\":[%llu,%llu]}", t->name, (long long)t->rows,
                                   (long long)t->cols, (unsigned long long)off, (unsigned long long)(off + n));
        else
            hl += (size_t)snprintf(h + hl, hcap - hl, ",\"%s\":{\"dtype\":\"BF16\",\"shape\":[%lld],"
                                   "\"data_offsets\":[%llu,%llu]}", t->name, (long long)t->rows,
                                   (unsigned long long)off, (unsigned long long)(off + n));
        off += n;
    }
    hl += (size_t)snprintf(h + hl, hcap - hl, "}");
    while (hl % 8) h[hl++] = ' ';
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(h), free(tl.t);
        return status_fail(ST_IO, "bench lm: cannot write %s: %s", path, strerror(errno));
    }
    uint64_t hl64 = hl; /* little-endian host (x86-64) */
    int bad = fwrite(&hl64, 8, 1, f) != 1 || fwrite(h, 1, hl, f) != hl;
    free(h);
    const size_t CH = (size_t)8 << 20; /* elements per chunk */
    uint16_t *buf = malloc(CH * 2);
    uint64_t seed = 0x5eedbe7c4ULL;
    double t0 = timer_now(), last = t0;
    for (int i = 0; i < tl.n && !bad && buf; i++) {
        const tinfo *t = &tl.t[i];
        size_t n = (size_t)t->rows * (t->cols ? t->cols : 1);
        int kind = t->kind == 3 ? 0 : t->kind;
        for (size_t done = 0; done < n && !bad; done += CH) {
            size_t c = n - done < CH ? n - done : CH;
            fill_bf16(buf, c, kind, &seed);
            bad = fwrite(buf, 2, c, f) != c;
        }
        if (timer_now() - last > 5.0) {
            last = timer_now();
            fprintf(stderr, "  writing %s: tensor %d/%d (%.0f s)\n", path, i + 1, tl.n, last - t0);
        }
    }
    if (!buf) bad = 1;
    free(buf), free(tl.t);
    bad |= ferror(f);
    if (fclose(f) || bad) {
        remove(path);
        return status_fail(ST_IO, "bench lm: writing %s failed (disk full?)", path);
    }
    fprintf(stderr, "  wrote %s: %.2f GB in %.0f s\n", path, (double)(off + hl + 8) / 1e9, timer_now() - t0);
    return ST_OK;
}

/* dir/config.json + dir/model.safetensors unless dir/.complete exists. */
static int ensure_checkpoint(const bench_geom *g, const char *dir) {
    char p[4200], q[4096];
    snprintf(p, sizeof p, "%s/.complete", dir);
    struct stat sb;
    if (!stat(p, &sb)) return ST_OK;
    /* mkdir -p */
    snprintf(q, sizeof q, "%s", dir);
    for (char *s = q + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            mkdir(q, 0755);
            *s = '/';
        }
    if (mkdir(q, 0755) && errno != EEXIST)
        return status_fail(ST_IO, "bench lm: cannot create %s: %s", dir, strerror(errno));
    fprintf(stderr, "writing a random-weight %s checkpoint into %s (once; reused by later runs)\n", g->name, dir);
    snprintf(p, sizeof p, "%s/config.json", dir);
    int st = write_config(g, p);
    if (st) return st;
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    if ((st = write_safetensors(g, p))) return st;
    snprintf(p, sizeof p, "%s/.complete", dir);
    FILE *f = fopen(p, "w");
    if (!f) return status_fail(ST_IO, "bench lm: cannot write %s", p);
    fclose(f);
    return ST_OK;
}

/* ------------------------------------------------------------------ the command */

static void usage(FILE *f) {
    fprintf(f,
            "usage: seer bench lm [--geometry stablelm-1.6b|phi2-2.7b|llama2-7b] [--prompt N] [--decode N]\n"
            "                     [--quant none|q8] [--kv f32|f16] [--runs R] [--dir DIR]\n"
            "\n"
            "Prefill tokens/s for an N-token prompt (random ids; default 600) and decode tokens/s\n"
            "(greedy, one token per lm_forward; default 64) of a MoE-LLaVA language model with random\n"
            "weights of the real geometry (default stablelm-1.6b = MoE-LLaVA-StableLM-1.6B-4e;\n"
            "phi2-2.7b = MoE-LLaVA-Phi2-2.7B-4e; llama2-7b = Llama-2-7b, dense; stablelm2-1.6b-dense =\n"
            "StableLM-2-1.6B without experts), BF16 (mmap'd) or Q8 (quantised at load), with\n"
            "resident memory. Each figure is printed with its ratio to this machine's limit\n"
            "measured in the same run: prefill FLOPs / sgemm FLOP/s, decode active weight bytes\n"
            "per token / read bandwidth. The checkpoint is written once into DIR (default\n"
            "/tmp/seer-bench-lm/<geometry>: 5.8, 10.6 or 13.5 GB) and reused. R runs (default 3)\n"
            "of prefill + decode; best and median are printed. --kv f16: the KV cache in IEEE half.\n");
}

/* The options of one `seer bench lm`. */
typedef struct {
    const bench_geom *g;
    const char *dir;
    char dbuf[4096];
    lm_opts o;
    long prompt, decode, runs;
} lm_args;

/* argv → *a; 0, -1 after --help, or the exit status of a usage error. */
static int parse_args(int argc, char **argv, lm_args *a) {
    static const struct option opts[] = {
        {"geometry", required_argument, 0, 'g'}, {"prompt", required_argument, 0, 'p'},
        {"decode", required_argument, 0, 'd'},   {"quant", required_argument, 0, 'q'},
        {"runs", required_argument, 0, 'r'},     {"dir", required_argument, 0, 'D'},
        {"help", no_argument, 0, 'h'},           {"kv", required_argument, 0, 'K'},
        {0, 0, 0, 0}};
    const char *geom = "stablelm-1.6b", *quant = "none";
    int kv_f16 = 0;
    a->dir = NULL, a->prompt = 600, a->decode = 64, a->runs = 3;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'g': geom = optarg; break;
        case 'p': if (cli_parse_int("--prompt", optarg, 1, 4000, &a->prompt)) return 2; break;
        case 'd': if (cli_parse_int("--decode", optarg, 0, 1000, &a->decode)) return 2; break;
        case 'r': if (cli_parse_int("--runs", optarg, 1, 100, &a->runs)) return 2; break;
        case 'q': quant = optarg; break;
        case 'K': if (cli_parse_kv(optarg, &kv_f16)) return 2; break;
        case 'D': a->dir = optarg; break;
        case 'h': usage(stdout); return -1;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        cli_error("bench lm: unexpected argument '%s'", argv[optind]);
        return 2;
    }
    a->g = NULL;
    for (size_t i = 0; i < sizeof GEOMS / sizeof *GEOMS; i++)
        if (!strcmp(geom, GEOMS[i].name)) a->g = &GEOMS[i];
    if (!a->g) {
        cli_error("--geometry: expected stablelm-1.6b, phi2-2.7b, llama2-7b or stablelm2-1.6b-dense, got '%s'", geom);
        return 2;
    }
    a->o = lm_opts_default();
    a->o.kv_f16 = kv_f16;
    if (!strcmp(quant, "q8")) a->o.quant = LM_QUANT_Q8;
    else if (strcmp(quant, "none")) {
        cli_error("--quant: expected none or q8, got '%s'", quant);
        return 2;
    }
    if (!a->dir) {
        snprintf(a->dbuf, sizeof a->dbuf, "/tmp/seer-bench-lm/%s", a->g->name);
        a->dir = a->dbuf;
    }
    return 0;
}

/* This machine's limits: sgemm FLOP/s, read and triad bytes/s. */
typedef struct {
    double sg, rd, tr;
} limits;

/* What one run is measured against: the model's per-token work. */
typedef struct {
    const lm_config *cf;
    size_t tok_b, total_b;    /* weight bytes streamed per decoded token, in all */
    double act_p, head_p;     /* active matmul params per token, the head's */
    double pre_fl;            /* FLOPs of the T-token prefill */
    int T;
} lm_work;

static lm_work model_work(const lm_model *m, int T) {
    lm_work w = {.cf = lm_get_config(m), .T = T};
    w.tok_b = lm_weight_bytes(m, &w.total_b);
    w.act_p = bench_lm_params(w.cf, &w.head_p);
    /* prefill: every position through the active params, the head once (logits of the last) */
    const double att_fl = 4.0 * w.cf->n_layers * (double)w.cf->n_heads * w.cf->head_dim * ((double)T * (T + 1) / 2);
    w.pre_fl = 2.0 * w.act_p * T + 2.0 * w.head_p + att_fl;
    return w;
}

static void print_model(const lm_args *a, const lm_work *w, const limits *L, double t_load, size_t copied) {
    const lm_config *cf = w->cf;
    char how[96];
    if (a->o.quant == LM_QUANT_Q8) snprintf(how, sizeof how, "Q8 (quantised at load)");
    else snprintf(how, sizeof how, "BF16 (%.2f GB copied into huge pages, the rest mmap)", copied / 1e9);
    printf("model: %s random weights (%s), %s, KV cache %s; %d layers, hidden %d, ffn %d, %d MoE layers x %d experts "
           "top-%d, vocab %d\n", a->g->name, a->dir, how,
           a->o.kv_f16 ? "F16" : "F32", cf->n_layers, cf->hidden, cf->ffn, cf->n_moe_layers, cf->n_experts, cf->top_k, cf->vocab_rows);
    printf("       weights %.2f GB in all, %.2f GB streamed per decoded token; %.2f G active matmul params/token "
           "(+%.2f G lm_head); loaded in %.1f s\n", w->total_b / 1e9, w->tok_b / 1e9, w->act_p / 1e9, w->head_p / 1e9,
           t_load);
    printf("bounds: prefill %d tokens %.1f GFLOP -> %.1f s at sgemm = %.1f tokens/s; decode %.1f tokens/s at read "
           "bandwidth\n", w->T, w->pre_fl / 1e9, w->pre_fl / L->sg, w->T / (w->pre_fl / L->sg), L->rd / w->tok_b);
}

/* The figures of every run: tokens/s and their ratios to the limits. */
typedef struct {
    double pre[100], dec[100], pre_r[100], dec_r[100];
} lm_figures;

/* Run r: the limits right before its prefill (sgemm, ~0.5 s) and before its
 * decode (read sweeps): with the cores shared, the adjacent measurement is
 * the fairest yardstick for that run. Greedy decode, one token per
 * lm_forward. 1 when a forward failed (the run's line is still printed when
 * the prefill succeeded). */
static int run_once(lm_model *m, lm_state *s, const int32_t *ids, float *logits, long decode, const lm_work *w,
                    int r, lm_figures *f) {
    const int T = w->T;
    int rc = 0;
    lm_state_truncate(s, 0);
    const double sg_r = bench_sgemm(1024, 0.5);
    double t0 = timer_now();
    if (lm_forward(m, s, ids, NULL, T, NULL, logits)) return 1;
    const double tp = timer_now() - t0;
    f->pre[r] = T / tp;
    f->pre_r[r] = f->pre[r] * w->pre_fl / T / sg_r;
    double rd_r = 0.0, td = 0.0;
    if (decode > 0) bench_bandwidth((size_t)1024 << 20, 5, &rd_r, NULL);
    for (int k = 0; k < decode; k++) {
        int32_t next = sampler_argmax(logits, w->cf->vocab_rows);
        double d0 = timer_now();
        if (lm_forward(m, s, &next, NULL, 1, NULL, logits)) {
            rc = 1;
            break;
        }
        td += timer_now() - d0;
    }
    f->dec[r] = decode > 0 ? decode / td : 0.0;
    f->dec_r[r] = decode > 0 ? f->dec[r] * w->tok_b / rd_r : 0.0;
    char la[64];
    bench_loadavg(la, sizeof la);
    printf("run %d: prefill %d tokens %.2f s = %.2f tokens/s, %.1f GFLOP/s = %.1f%% of sgemm %.1f just before | "
           "decode %ld tokens %.2f tokens/s, %.1f GB/s = %.1f%% of read %.1f GB/s just before | load %s\n",
           r + 1, T, tp, f->pre[r], f->pre[r] * w->pre_fl / T / 1e9, 100.0 * f->pre_r[r], sg_r / 1e9, decode,
           f->dec[r], f->dec[r] * w->tok_b / 1e9, 100.0 * f->dec_r[r], rd_r / 1e9, la);
    fflush(stdout);
    return rc;
}

/* The limits again after the runs (the cores are shared: load varies); the
 * ratios use the higher of the two measurements of each limit. */
static void remeasure(limits *L) {
    const double sg2 = bench_sgemm(1024, 2.0);
    double rd2, tr2;
    bench_bandwidth((size_t)1536 << 20, 10, &rd2, &tr2);
    printf("machine again: sgemm %.1f GFLOP/s   read %.1f GB/s   triad %.1f GB/s (ratios below use the higher "
           "of each pair)\n", sg2 / 1e9, rd2 / 1e9, tr2 / 1e9);
    if (sg2 > L->sg) L->sg = sg2;
    if (rd2 > L->rd) L->rd = rd2;
    if (tr2 > L->tr) L->tr = tr2;
}

/* Best and median of the runs, against the limits; memory; the load. */
static void print_summary(lm_figures *f, int R, long decode, const lm_work *w, const limits *L, long rss0, long rss,
                          long hwm) {
    qsort(f->pre, (size_t)R, sizeof *f->pre, bench_cmp_double);
    qsort(f->dec, (size_t)R, sizeof *f->dec, bench_cmp_double);
    qsort(f->pre_r, (size_t)R, sizeof *f->pre_r, bench_cmp_double);
    qsort(f->dec_r, (size_t)R, sizeof *f->dec_r, bench_cmp_double);
    const double pb = f->pre[R - 1], pm = f->pre[R / 2], db = f->dec[R - 1], dm = f->dec[R / 2];
    const double pre_fl = w->pre_fl, tok_b = (double)w->tok_b;
    const int T = w->T;
    char la[64];
    bench_loadavg(la, sizeof la);
    printf("\n%-28s %10s %10s | %-34s %8s %8s\n", "measure", "best", "median", "ratio to the limit", "best",
           "median");
    printf("%-28s %10.2f %10.2f | %-34s %7.1f%% %7.1f%%\n", "prefill tokens/s", pb, pm,
           "vs sgemm just before each run", 100.0 * f->pre_r[R - 1], 100.0 * f->pre_r[R / 2]);
    printf("%-28s %10.1f %10.1f | %-34s %7.1f%% %7.1f%%\n", "prefill GFLOP/s", pb * pre_fl / T / 1e9,
           pm * pre_fl / T / 1e9, "vs best sgemm of the run", 100.0 * pb * pre_fl / T / L->sg,
           100.0 * pm * pre_fl / T / L->sg);
    if (decode > 0) {
        printf("%-28s %10.2f %10.2f | %-34s %7.1f%% %7.1f%%\n", "decode tokens/s", db, dm,
               "vs read sweep just before each run", 100.0 * f->dec_r[R - 1], 100.0 * f->dec_r[R / 2]);
        printf("%-28s %10.1f %10.1f | %-34s %7.1f%% %7.1f%%\n", "decode weight GB/s", db * tok_b / 1e9,
               dm * tok_b / 1e9, "vs best read sweep of the run", 100.0 * db * tok_b / L->rd,
               100.0 * dm * tok_b / L->rd);
        printf("%-28s %10s %10s | %-34s %7.1f%% %7.1f%%\n", "", "", "", "vs best triad of the run",
               100.0 * db * tok_b / L->tr, 100.0 * dm * tok_b / L->tr);
    }
    printf("best limits of the run: sgemm %.1f GFLOP/s, read %.1f GB/s, triad %.1f GB/s\n", L->sg / 1e9, L->rd / 1e9,
           L->tr / 1e9);
    printf("resident memory: VmRSS %.2f GB after warm-up, %.2f GB at the end; VmHWM %.2f GB "
           "(weights %.2f GB)\n", rss0 / 1048576.0, rss / 1048576.0, hwm / 1048576.0, w->total_b / 1e9);
    printf("load average at end: %s\n", la);
}

/* The machine's limits at the start, printed with the thread settings. */
static limits measure_start(void) {
    char la[64];
    bench_loadavg(la, sizeof la);
    const char *wp = getenv("OMP_WAIT_POLICY"), *sc = getenv("GOMP_SPINCOUNT");
    printf("threads: %d (OMP_NUM_THREADS)  OMP_WAIT_POLICY=%s GOMP_SPINCOUNT=%s  load average at start: %s\n",
           omp_get_max_threads(), wp ? wp : "(unset)", sc ? sc : "(unset)", la);
    limits L;
    L.sg = bench_sgemm(1024, 2.0);
    bench_bandwidth((size_t)1536 << 20, 10, &L.rd, &L.tr);
    printf("machine: sgemm 1024^3 %.1f GFLOP/s   read sweep 1.5 GB %.1f GB/s   triad %.1f GB/s\n", L.sg / 1e9,
           L.rd / 1e9, L.tr / 1e9);
    return L;
}

int cmd_bench_lm(int argc, char **argv) {
    lm_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc < 0 ? 0 : rc;
    if (ensure_checkpoint(a.g, a.dir)) {
        cli_error("%s", status_message());
        return 1;
    }
    limits L = measure_start();
    double t0 = timer_now();
    lm_model *m = NULL;
    if (lm_load(a.dir, &a.o, &m)) {
        cli_error("%s", status_message());
        return 1;
    }
    const double t_load = timer_now() - t0;
    const int T = (int)a.prompt;
    lm_work w = model_work(m, T);
    print_model(&a, &w, &L, t_load, lm_weights_copied(m));

    lm_state *s = lm_state_new(m, T + (int)a.decode + 16);
    float *logits = malloc((size_t)lm_vocab(m) * sizeof(float));
    int32_t *ids = malloc((size_t)T * sizeof(int32_t));
    lm_figures *f = malloc(sizeof *f);
    if (!s || !logits || !ids || !f) {
        cli_error("%s", s ? "out of memory" : status_message());
        lm_state_free(s), free(logits), free(ids), free(f), lm_free(m);
        return 1;
    }
    uint64_t seed = 0x1d5eed;
    for (int i = 0; i < T; i++) ids[i] = (int32_t)(xs64(&seed) % (uint64_t)w.cf->vocab_rows);
    /* warm-up: 8 positions touch every weight page once (all experts get rows) */
    t0 = timer_now();
    if (lm_forward(m, s, ids, NULL, T < 8 ? T : 8, NULL, logits)) rc = 1;
    printf("warm-up (8 positions, pages every weight in): %.1f s\n", timer_now() - t0);
    long rss0, hwm0, rss, hwm;
    bench_proc_mem(&rss0, &hwm0);
    for (int r = 0; r < a.runs && !rc; r++) rc = run_once(m, s, ids, logits, a.decode, &w, r, f);
    if (rc) cli_error("%s", status_message());
    bench_proc_mem(&rss, &hwm);
    if (!rc) {
        remeasure(&L);
        print_summary(f, (int)a.runs, a.decode, &w, &L, rss0, rss, hwm);
    }
    lm_state_free(s);
    free(logits), free(ids), free(f);
    lm_free(m);
    return rc;
}
