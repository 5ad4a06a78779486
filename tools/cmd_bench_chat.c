/* tools/cmd_bench_chat.c — `seer bench chat`: time to first token and decode
 * rate of one chat answer with random weights of the real
 * MoE-LLaVA-StableLM-1.6B-4e geometry and a random CLIP-L/336 tower, against
 * this machine's limits measured in the same run.
 *
 * One answer runs the product's chat path (model/pipeline/chat.h) on a chat
 * model assembled by chat_model_random, timed step by step:
 *   tower      chat_set_image: CLIP-L/336 vision tower on one 336x336
 *              picture, hidden_states[-2] (23 of 24 layers, 577 tokens) + the
 *              mlp2x_gelu projector (1024 → 2048 → 2048) for the 576 patch rows;
 *   prefill    chat_prefill_ids: the prompt through the language model: the text before the
 *              image (system prompt + "USER: "), the 576 image rows, the
 *              question and " ASSISTANT:" (TEXT_BEFORE + 576 + TEXT_AFTER
 *              positions: a 20-word question is about 24 tokens);
 *   first      choosing the first token from the last position's logits
 *              (sampler_argmax, greedy);
 *   decode     further tokens, each appended and run through chat_prefill_ids
 *              (one position each: the rest is the cached prefix).
 * TTFT = tower + prefill + first ("cold": nothing prepared).
 *
 * Then the same question on the image prepared (chat.h chat_prepare_ids: the
 * features and the KV rows of the TEXT_BEFORE + 576 prefix copied from the
 * prepared-image cache into an emptied session, "reopen", timed apart):
 *   warm       chat_prefill_ids of the whole prompt, which runs only the
 *              TEXT_AFTER question positions, + the first token.
 * --json prints one JSON object (the runs' best figures, every run, and the
 * limits measured in the same run) on stdout; the progress lines go to stderr.
 *
 * Ratios: tower and prefill are compute-bound: FLOPs / time vs the sgemm rate
 * (measured just before each run); decode is weight-streaming: bytes of the
 * active weights per token × tokens/s vs the read bandwidth (measured just
 * before the decode). The LM checkpoint is the one `seer bench lm` writes
 * (/tmp/seer-bench-lm/stablelm-1.6b, written by it on first use); the tower
 * is built in memory (clip_random), the projector too (chat_model_random).
 */
#include "bench_util.h"
#include "chat.h"
#include "chat_cache.h"
#include "jsonx.h"
#include "clip.h"
#include "cmd.h"
#include "lm.h"
#include "sampler.h"
#include "status.h"
#include "timer.h"

#include <getopt.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cmd_bench_lm(int argc, char **argv);

#define TEXT_BEFORE 38   /* system prompt + " USER: " (StableLM-2 tokenizer: about 38) */
#define TEXT_AFTER  28   /* "\n" + a 20-word question + " ASSISTANT:" */

/* ------------------------------------------------------------------ FLOPs */

/* the vision tower's first n_layers on one picture + the projector */
static double tower_flops(const clip_vision *v, int n_layers, int hidden) {
    const double T = v->n_pos, D = v->enc.D, I = v->enc.I, N = v->n_pos - 1;
    double f = 2.0 * (v->grid * v->grid) * D * (3.0 * v->patch * v->patch);      /* patch conv */
    f += n_layers * (2.0 * T * (4 * D * D + 2 * D * I) + 4.0 * T * T * D);         /* layers */
    f += 2.0 * N * (D * hidden + (double)hidden * hidden);                         /* projector */
    return f;
}

/* ------------------------------------------------------------------ the command */

/* the progress lines: stdout, or stderr under --json */
static FILE *out_f;

static void usage(FILE *f) {
    fprintf(f,
            "usage: seer bench chat [--runs 3] [--decode 32] [--quant q8] [--kv f32|f16] [--dir DIR] [--json]\n"
            "\n"
            "Time to first token of one chat answer — CLIP-L/336 vision tower + projector,\n"
            "prefill of %d text + 576 image + %d text positions, first token — and the decode\n"
            "rate, with random weights of MoE-LLaVA-StableLM-1.6B-4e (the checkpoint seer\n"
            "bench lm writes, in DIR, default /tmp/seer-bench-lm/stablelm-1.6b) and of\n"
            "CLIP-L/336 (in memory). Each run prints its times and their ratios to the\n"
            "sgemm rate / read bandwidth measured just before; the load average is printed.\n"
            "Each run also times the warm case: the image prepared (the tower's features and\n"
            "the KV cache of the %d + 576 positions before the question copied from the\n"
            "prepared-image cache), then the %d question positions and the first token.\n"
            "--quant q8: int8 weights for the language model. --kv f16: the KV cache in IEEE\n"
            "half. --json: one JSON object on\n"
            "stdout (ttft_cold_s, ttft_warm_s, decode_tok_s: the best run; sgemm_gflops,\n"
            "read_gbs: the machine's limits measured in the same run; every run).\n",
            TEXT_BEFORE, TEXT_AFTER, TEXT_BEFORE, TEXT_AFTER);
}

/* The options of one `seer bench chat`. */
typedef struct {
    long runs, decode;
    const char *dir;
    lm_opts lo;
    int json;
} chat_args;

/* argv → *a; 0, -1 after --help, or the exit status of a usage error. */
static int parse_args(int argc, char **argv, chat_args *a) {
    static const struct option opts[] = {{"runs", required_argument, 0, 'r'}, {"decode", required_argument, 0, 'd'},
                                         {"quant", required_argument, 0, 'q'}, {"dir", required_argument, 0, 'D'},
                                         {"json", no_argument, 0, 'j'},
                                         {"kv", required_argument, 0, 'K'},
                                         {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    const char *quant = "none";
    int kv_f16 = 0;
    a->runs = 3, a->decode = 32, a->dir = "/tmp/seer-bench-lm/stablelm-1.6b", a->json = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'r': if (cli_parse_int("--runs", optarg, 1, 50, &a->runs)) return 2; break;
        case 'd': if (cli_parse_int("--decode", optarg, 1, 1000, &a->decode)) return 2; break;
        case 'q': quant = optarg; break;
        case 'K': if (cli_parse_kv(optarg, &kv_f16)) return 2; break;
        case 'D': a->dir = optarg; break;
        case 'j': a->json = 1; break;
        case 'h': usage(stdout); return -1;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        cli_error("bench chat: unexpected argument '%s'", argv[optind]);
        return 2;
    }
    a->lo = lm_opts_default();
    a->lo.kv_f16 = kv_f16;
    if (!strcmp(quant, "q8")) a->lo.quant = LM_QUANT_Q8;
    else if (strcmp(quant, "none")) {
        cli_error("--quant: expected none or q8, got '%s'", quant);
        return 2;
    }
    return 0;
}

/* The random LM checkpoint in dir: seer bench lm writes it (and measures
 * briefly) when it is not there yet. */
static int ensure_lm_checkpoint(const char *dir) {
    char mark[4200];
    snprintf(mark, sizeof mark, "%s/.complete", dir);
    struct stat sb;
    if (!stat(mark, &sb)) return 0;
    fprintf(stderr, "bench chat: no random checkpoint in %s yet: seer bench lm writes it\n", dir);
    char *av[] = {"lm", "--geometry", "stablelm-1.6b", "--prompt", "8", "--decode", "0", "--runs", "1",
                  "--dir", (char *)dir, NULL};
    return cmd_bench_lm(11, av) ? 1 : 0;
}

/* The random CLIP-L/336 tower, the LM from dir and the projector, as one
 * chat model; the models line printed. */
static int load_models(const chat_args *a, chat_model **cm, const clip_model **tower) {
    double t0 = timer_now();
    clip_model *tw = NULL;
    lm_model *lmm = NULL;
    *cm = NULL;
    if (clip_random(&CLIP_GEOMETRY_L14_336, 42, &tw) || lm_load(a->dir, &a->lo, &lmm) ||
        chat_model_random(lmm, tw, 0x5eed, cm)) {
        if (!*cm && tw && !lmm) clip_free(tw);
        cli_error("%s", status_message());
        return 1;
    }
    *tower = tw;
    const lm_model *m = chat_model_lm(*cm);
    const clip_vision *v = &tw->vision;
    const lm_config *cf = lm_get_config(m);
    fprintf(out_f, "models: CLIP-L/336 tower (random, %d layers of %d run, %d tokens, width %d) + mlp2x_gelu projector "
           "%d→%d→%d; %s (random, %s, KV %s): %d layers, hidden %d, %d MoE layers x %d experts top-%d; loaded in %.1f s\n",
           v->enc.L - 1, v->enc.L, v->n_pos, v->enc.D, v->enc.D, lm_hidden(m), lm_hidden(m), a->dir,
           a->lo.quant == LM_QUANT_Q8 ? "Q8" : "BF16", a->lo.kv_f16 ? "F16" : "F32", cf->n_layers, cf->hidden,
           cf->n_moe_layers, cf->n_experts,
           cf->top_k, timer_now() - t0);
    return 0;
}

/* One answer's work and its inputs: a random picture, the prompt ids (text,
 * the image marker, text) with room for the decoded tokens. */
typedef struct {
    image img;
    int32_t *ids;
    int n_ids;
    float *logits;
    double tw_fl, pre_fl;   /* FLOPs: tower + projector, prefill */
    size_t tok_b;           /* weight bytes per decoded token */
    int vocab_rows;
} chat_work;

static int make_work(const chat_model *cm, const clip_vision *v, long decode, chat_work *w) {
    const lm_model *m = chat_model_lm(cm);
    const lm_config *cf = lm_get_config(m);
    const int S = v->image_size, N = v->n_pos - 1, H = lm_hidden(m);
    const int n_text = TEXT_BEFORE + TEXT_AFTER, P = n_text + N;
    w->n_ids = TEXT_BEFORE + 1 + TEXT_AFTER;
    w->vocab_rows = cf->vocab_rows;
    w->ids = malloc((size_t)(w->n_ids + decode + 1) * sizeof *w->ids);
    w->logits = malloc((size_t)lm_vocab(m) * sizeof(float));
    if (image_alloc(S, S, &w->img) || !w->ids || !w->logits) return 1;
    uint64_t z = 0x5eed;
    for (size_t i = 0; i < (size_t)3 * S * S; i++) z = z * 6364136223846793005ull + 1, w->img.rgb[i] = (uint8_t)(z >> 40);
    for (int i = 0; i < TEXT_BEFORE; i++) w->ids[i] = (int32_t)(1000 + 37 * i);
    w->ids[TEXT_BEFORE] = CHAT_IMAGE_TOKEN;
    for (int i = 0; i < TEXT_AFTER; i++) w->ids[TEXT_BEFORE + 1 + i] = (int32_t)(2000 + 53 * i);

    double head_p;
    const double act_p = bench_lm_params(cf, &head_p);
    w->tw_fl = tower_flops(v, v->enc.L - 1, H);
    const double att = 4.0 * cf->n_layers * (double)cf->n_heads * cf->head_dim * ((double)P * (P + 1) / 2);
    w->pre_fl = 2.0 * act_p * P + 2.0 * head_p + att;
    size_t total_b;
    w->tok_b = lm_weight_bytes(m, &total_b);
    fprintf(out_f, "work: tower + projector %.1f GFLOP; prefill %d positions (%d text + %d image) %.1f GFLOP; decode "
           "%.2f GB of weights per token\n", w->tw_fl / 1e9, P, n_text, N, w->pre_fl / 1e9, w->tok_b / 1e9);
    return 0;
}

/* One run's figures. */
typedef struct {
    double sgemm, read;                    /* limits measured just before (FLOP/s, B/s) */
    double tower, prefill, first, ttft;    /* cold, s */
    double reopen, warm_prefill, ttft_warm;/* warm, s */
    double decode;                         /* tokens/s */
    char load[64];
} run_figs;

static const uint8_t IMAGE_KEY[16] = {'b', 'e', 'n', 'c', 'h'};

/* Run r: the cold answer (tower, prefill, first token, each against the
 * sgemm rate measured just before), the decode (against the read bandwidth
 * measured just before), then the warm question on the image prepared; the
 * run's line printed. */
static int run_once(chat_session *cs, chat_cache *cc, chat_work *w, long decode, int r, run_figs *f) {
    /* cold runs without the cache (cc NULL), so the image's entry is made
     * by the warm part's preparation, with its prefix */
    f->sgemm = bench_sgemm(1024, 0.5);
    const double sg = f->sgemm;
    /* cold: nothing prepared, nothing cached (the cache is emptied between runs) */
    double a = timer_now();
    int rc = chat_prepare_ids(cs, NULL, IMAGE_KEY, chat_image_copy_fn, &w->img, NULL, 0, NULL, NULL);   /* the tower only */
    if (rc) return rc;
    double b = timer_now();
    rc = chat_prefill_ids(cs, w->ids, w->n_ids, w->logits);
    if (rc) return rc;
    double cc_t = timer_now();
    int32_t next = sampler_argmax(w->logits, w->vocab_rows);
    double d = timer_now();
    f->tower = b - a, f->prefill = cc_t - b, f->first = d - cc_t, f->ttft = d - a;
    const double tw_r = w->tw_fl / f->tower / sg, pre_r = w->pre_fl / f->prefill / sg;
    /* decode: the bandwidth just before, then the tokens */
    bench_bandwidth((size_t)1024 << 20, 4, &f->read, NULL);
    double td = 0.0;
    int n = w->n_ids;
    for (int k = 0; k < decode && !rc; k++) {
        w->ids[n++] = next;
        double e = timer_now();
        rc = chat_prefill_ids(cs, w->ids, n, w->logits);
        td += timer_now() - e;
        next = sampler_argmax(w->logits, w->vocab_rows);
    }
    if (rc) return rc;
    f->decode = decode / td;
    const double dec_r = f->decode * w->tok_b / f->read;
    /* warm: prepare (tower + prefix into the cache, not timed: it happens
     * while the question is typed), empty the session, reopen (a copy from
     * the cache, timed), then the question */
    rc = chat_set_image(cs, NULL);
    if (!rc) rc = chat_prepare_ids(cs, cc, IMAGE_KEY, chat_image_copy_fn, &w->img, w->ids, TEXT_BEFORE + 1, NULL, NULL);
    if (!rc) rc = chat_set_image(cs, NULL);
    if (rc) return rc;
    double e0 = timer_now();
    int how = -1;
    rc = chat_prepare_ids(cs, cc, IMAGE_KEY, chat_image_copy_fn, &w->img, w->ids, TEXT_BEFORE + 1, NULL, &how);
    if (!rc && how != CHAT_PREP_CACHE) rc = status_fail(ST_INTERNAL, "bench chat: the prepared image was not reused");
    double e1 = timer_now();
    if (!rc) rc = chat_prefill_ids(cs, w->ids, w->n_ids, w->logits);
    if (rc) return rc;
    (void)sampler_argmax(w->logits, w->vocab_rows);
    double e2 = timer_now();
    f->reopen = e1 - e0, f->warm_prefill = e2 - e1, f->ttft_warm = e2 - e1;
    bench_loadavg(f->load, sizeof f->load);
    fprintf(out_f,
            "run %d: cold TTFT %.2f s = tower %.2f s (%.1f GFLOP/s, %.0f%% of sgemm) + prefill %.2f s (%.1f GFLOP/s, "
            "%.0f%% of sgemm) + first token %.1f ms | sgemm %.1f GFLOP/s just before | decode %.2f tokens/s = "
            "%.1f GB/s, %.0f%% of read %.1f GB/s just before | warm TTFT %.3f s (%d question positions + first "
            "token; reopening the prepared image %.3f s more) | load %s\n",
            r + 1, f->ttft, f->tower, w->tw_fl / f->tower / 1e9, 100 * tw_r, f->prefill, w->pre_fl / f->prefill / 1e9,
            100 * pre_r, f->first * 1e3, sg / 1e9, f->decode, f->decode * w->tok_b / 1e9, 100 * dec_r, f->read / 1e9,
            f->ttft_warm, TEXT_AFTER, f->reopen, f->load);
    fflush(out_f);
    return ST_OK;
}

/* The JSON object of --json: the best run's figures first. */
static json_t *report(const chat_args *a, const chat_work *w, const run_figs *f, int n) {
    int bc = 0, bw = 0, bd = 0;
    for (int i = 1; i < n; i++) {
        if (f[i].ttft < f[bc].ttft) bc = i;
        if (f[i].ttft_warm < f[bw].ttft_warm) bw = i;
        if (f[i].decode > f[bd].decode) bd = i;
    }
    double sg = 0, rd = 0;
    for (int i = 0; i < n; i++) sg = f[i].sgemm > sg ? f[i].sgemm : sg, rd = f[i].read > rd ? f[i].read : rd;
    json_t *runs = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(
            runs, json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:s}", "ttft_cold_s", f[i].ttft, "tower_s",
                            f[i].tower, "prefill_s", f[i].prefill, "ttft_warm_s", f[i].ttft_warm, "reopen_s",
                            f[i].reopen, "decode_tok_s", f[i].decode, "sgemm_gflops", f[i].sgemm / 1e9,
                            "read_gbs", f[i].read / 1e9, "prefill_sgemm_ratio",
                            w->pre_fl / f[i].prefill / f[i].sgemm, "load", f[i].load));
    char la[64];
    bench_loadavg(la, sizeof la);
    return json_pack("{s:s, s:s, s:s, s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:i, s:i, s:i, s:i, s:f, s:f, "
                     "s:f, s:s, s:o}",
                     "bench", "chat", "quant", a->lo.quant == LM_QUANT_Q8 ? "q8" : "none", "kv", a->lo.kv_f16 ? "f16" : "f32", "threads",
                     omp_get_max_threads(), "ttft_cold_s", f[bc].ttft, "ttft_warm_s", f[bw].ttft_warm,
                     "decode_tok_s", f[bd].decode, "tower_s", f[bc].tower, "prefill_s", f[bc].prefill, "reopen_s",
                     f[bw].reopen, "sgemm_gflops", sg / 1e9, "read_gbs", rd / 1e9, "decode_read_ratio",
                     f[bd].decode * w->tok_b / f[bd].read, "prompt_positions", TEXT_BEFORE + TEXT_AFTER + 576,
                     "prefix_positions", TEXT_BEFORE + 576, "question_positions", TEXT_AFTER, "decode_tokens",
                     (int)a->decode, "tower_gflop", w->tw_fl / 1e9, "prefill_gflop", w->pre_fl / 1e9,
                     "decode_gb_per_token", w->tok_b / 1e9, "load_at_end", la, "runs", runs);
}

int cmd_bench_chat(int argc, char **argv) {
    chat_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc < 0 ? 0 : rc;
    out_f = a.json ? stderr : stdout;
    if (a.json) { /* seer bench lm's lines (when it writes the checkpoint) go to stderr too */
        fflush(stdout);
        int saved = dup(1);
        dup2(2, 1);
        rc = ensure_lm_checkpoint(a.dir);
        fflush(stdout);
        dup2(saved, 1);
        close(saved);
    } else {
        rc = ensure_lm_checkpoint(a.dir);
    }
    if (rc) return 1;
    char la[64];
    bench_loadavg(la, sizeof la);
    fprintf(out_f, "threads: %d (OMP_NUM_THREADS)   load average at start: %s\n", omp_get_max_threads(), la);
    chat_model *cm;
    const clip_model *tower;
    if (load_models(&a, &cm, &tower)) return 1;
    chat_work w = {0};
    chat_cache *cc = NULL;
    chat_session *cs = NULL;
    run_figs *figs = calloc((size_t)a.runs, sizeof *figs);
    /* the context the work needs, not 4096 (1.6 GB of float32 KV) */
    rc = chat_model_set_context(cm, TEXT_BEFORE + 576 + TEXT_AFTER + (int)a.decode + 64);
    if (!rc) rc = chat_cache_new((size_t)1 << 30, &cc);
    if (!rc && !(cs = chat_session_new(cm))) rc = ST_NOMEM;
    if (rc || !figs || make_work(cm, &tower->vision, a.decode, &w)) {
        cli_error("bench chat: %s", rc ? status_message() : "out of memory");
        free(w.ids), free(w.logits), free(figs), image_release(&w.img), chat_session_free(cs), chat_cache_free(cc),
            chat_model_free(cm);
        return 1;
    }
    /* warm-up: page every LM weight in, run the tower once */
    double t0 = timer_now();
    rc = chat_set_image(cs, NULL);
    if (!rc) rc = chat_prefill_ids(cs, w.ids, 8, w.logits);
    if (!rc) rc = chat_set_image(cs, &w.img);
    fprintf(out_f, "warm-up: %.1f s\n", timer_now() - t0);
    int done = 0;
    for (int r = 0; r < a.runs && !rc; r++) {
        /* a fresh cache each run: the cold answer finds nothing */
        chat_cache_free(cc);
        cc = NULL;
        rc = chat_set_image(cs, NULL);
        if (!rc) rc = chat_cache_new((size_t)1 << 30, &cc);
        if (!rc) rc = run_once(cs, cc, &w, a.decode, r, &figs[r]);
        if (!rc) done++;
    }
    if (rc) cli_error("bench chat: %s", status_message());
    if (a.json && done) {
        json_t *o = report(&a, &w, figs, done);
        char *txt = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6)) : NULL;
        if (txt) printf("%s\n", txt);
        free(txt);
        json_decref(o);
    }
    chat_session_free(cs);
    chat_cache_free(cc);
    free(figs);
    free(w.ids), free(w.logits);
    image_release(&w.img);
    chat_model_free(cm);
    return rc ? 1 : 0;
}
