/* tools/cmd_generate.c — `seer generate` and `seer logits` on a MoE-LLaVA or
 * LLaMA-2 language model (text only; the image path is `seer chat`). A
 * LLaMA-2 prompt gets BOS in front, as HF LlamaTokenizer does. */
#include "chat.h"
#include "cmd.h"
#include "generate.h"
#include "router_stats.h"
#include "status.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *router_json(const lm_model *m, const lm_state *s) {
    size_t len;
    const uint32_t *cnt = lm_state_router_counts(s, &len);
    return router_stats_answer_json(m, cnt, len);
}

static int print_chunk(const char *text, size_t len, void *ctx) {
    (void)ctx;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return 0;
}

static void generate_usage(FILE *f, const char *cmd) {
    fprintf(f,
            "usage: seer %s --model DIR --prompt TEXT [options]\n"
            "\n", cmd);
    if (!strcmp(cmd, "logits")) {
        fprintf(f,
                "Print {\"ids\": [...], \"logits\": [...]}: the prompt's token ids and the logits\n"
                "of its last position (the first len(tokenizer) entries), for conformance checks.\n"
                "With --image, the prompt is the one-shot chat prompt seer chat builds (system\n"
                "prompt, USER/ASSISTANT, <image> spliced), ids hold -200 where the image\n"
                "features go, and the logits cover the checkpoint's vocabulary rows. BF16\n"
                "weights multiply float32 activations here (no BF16 dot products).\n"
                "\noptions:\n"
                "  --image FILE        a picture: chat prompt\n"
                "  --vision-tower DIR  the vision tower (default: mm_image_tower under the models root)\n"
                "  --models-root DIR   where towers are looked up\n"
                "  --quant q8          int8 weights, quantised at load\n"
                "  --kv f16|f32        KV cache precision (default f32, exact)\n");
        return;
    }
    fprintf(f,
            "Continue TEXT with the language model of a MoE-LLaVA checkpoint (StableLM-2,\n"
            "Qwen-1 or Phi-2 with top-2-of-4 expert layers) or of a LLaMA-2 directory (its prompt\n"
            "gets <s> in front; write the [INST] template yourself), streaming the text.\n"
            "\n"
            "options:\n"
            "  --max-tokens N     new tokens at most (default 128)\n"
            "  --temperature T    0 = greedy (default 0)\n"
            "  --top-k K          keep the K most likely tokens (default 0 = off)\n"
            "  --top-p P          nucleus sampling (default 1 = off)\n"
            "  --beams B          beam search with B beams (default 1)\n"
            "  --length-penalty L beam score = logprob / length^L (default 1)\n"
            "  --seed S           sampling seed (default 0)\n"
            "  --stop STR         stop at STR (repeatable)\n"
            "  --quant q8         int8 weights, quantised at load (faster on the CPU)\n"
            "  --kv f16|f32       KV cache in IEEE half (half the memory) or float32 (default)\n"
            "  --moe-sampling     pick the 2nd expert with Gumbel noise as DeepSpeed does\n"
            "  --json             print {\"text\", \"ids\", \"router\"} instead of streaming\n");
}

/* {"ids": [...], "logits": [...]}: n ids and the first V logits. */
static void print_logits(const int32_t *ids, int n, const float *logits, int V) {
    fputs("{\"ids\": [", stdout);
    for (int i = 0; i < n; i++) printf("%s%d", i ? ", " : "", ids[i]);
    fputs("], \"logits\": [", stdout);
    for (int i = 0; i < V; i++) printf("%s%.7g", i ? ", " : "", logits[i]);
    fputs("]}\n", stdout);
}

/* seer logits --image: the one-shot chat prompt seer chat builds. */
static int chat_logits(const char *model, const char *image_path, const char *prompt, const char *tower,
                       const char *root, const lm_opts *lo) {
    chat_load_opts co = chat_load_opts_default();
    co.vision_tower = tower;
    co.models_root = root;
    co.lm = *lo;
    chat_model *cm = NULL;
    chat_session *cs = NULL;
    image img = {0};
    image_opts io = image_opts_default();
    int32_t *ids = NULL;
    int n = 0, rc = 1;
    float *logits = NULL;
    if (chat_model_load(model, &co, &cm) || !(cs = chat_session_new(cm)) || image_load(image_path, &io, &img, NULL) ||
        chat_set_image(cs, &img)) {
        cli_error("%s", status_message());
        goto out;
    }
    const lm_model *m = chat_model_lm(cm);
    if (!(logits = malloc((size_t)lm_vocab(m) * sizeof *logits)) || chat_prompt_logits(cs, prompt, &ids, &n, logits)) {
        cli_error("%s", status_message());
        goto out;
    }
    print_logits(ids, n, logits, lm_vocab(m));
    rc = 0;
out:
    free(ids);
    free(logits);
    image_release(&img);
    chat_session_free(cs);
    chat_model_free(cm);
    return rc;
}

/* The options of one `seer generate` / `seer logits`. */
typedef struct {
    const char *cmd;          /* "generate" or "logits" */
    const char *model, *prompt, *image, *tower, *root;
    const char **stops;       /* malloc'd, the caller frees */
    int json;
    lm_opts lo;
    gen_opts go;
} gen_args;

/* argv → *a; 0, -1 after --help, 1 out of memory, or 2 after a usage
 * error (usage printed). a->stops is the caller's to free in every case. */
static int parse_gen_args(int argc, char **argv, int logits_only, gen_args *a) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},        {"prompt", required_argument, 0, 'p'},
        {"max-tokens", required_argument, 0, 'n'},   {"temperature", required_argument, 0, 't'},
        {"top-k", required_argument, 0, 'k'},        {"top-p", required_argument, 0, 'P'},
        {"beams", required_argument, 0, 'b'},        {"length-penalty", required_argument, 0, 'L'},
        {"seed", required_argument, 0, 's'},         {"stop", required_argument, 0, 'S'},
        {"quant", required_argument, 0, 'q'},        {"moe-sampling", no_argument, 0, 'M'},
        {"json", no_argument, 0, 'j'},               {"help", no_argument, 0, 'h'},
        {"image", required_argument, 0, 'i'},        {"vision-tower", required_argument, 0, 'V'},
        {"models-root", required_argument, 0, 'R'},  {"kv", required_argument, 0, 'K'},
        {0, 0, 0, 0}};
    *a = (gen_args){.cmd = logits_only ? "logits" : "generate", .lo = lm_opts_default(), .go = gen_opts_default()};
    a->lo.exact = logits_only; /* conformance: BF16 weights × float32 activations, as the references */
    a->go.max_tokens = 128;
    a->stops = calloc((size_t)argc + 1, sizeof *a->stops);
    int n_stop = 0, c;
    long v;
    if (!a->stops) return 1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': a->model = optarg; break;
        case 'p': a->prompt = optarg; break;
        case 'n': if (cli_parse_int("--max-tokens", optarg, 1, 1 << 20, &v)) goto usage; a->go.max_tokens = (int)v; break;
        case 't': a->go.sampling.temperature = strtof(optarg, NULL); break;
        case 'k': if (cli_parse_int("--top-k", optarg, 0, 1 << 24, &v)) goto usage; a->go.sampling.top_k = (int)v; break;
        case 'P': a->go.sampling.top_p = strtof(optarg, NULL); break;
        case 'b': if (cli_parse_int("--beams", optarg, 1, 16, &v)) goto usage; a->go.num_beams = (int)v; break;
        case 'L': a->go.length_penalty = strtof(optarg, NULL); break;
        case 's': a->go.sampling.seed = a->lo.seed = strtoull(optarg, NULL, 10); break;
        case 'S': a->stops[n_stop++] = optarg; break;
        case 'q':
            if (strcmp(optarg, "q8") && strcmp(optarg, "none")) {
                cli_error("--quant: expected q8 or none");
                goto usage;
            }
            a->lo.quant = strcmp(optarg, "q8") ? LM_QUANT_NONE : LM_QUANT_Q8;
            break;
        case 'M': a->lo.moe_sampling = 1; break;
        case 'K': if (cli_parse_kv(optarg, &a->lo.kv_f16)) goto usage; break;
        case 'j': a->json = 1; break;
        case 'i': a->image = optarg; break;
        case 'V': a->tower = optarg; break;
        case 'R': a->root = optarg; break;
        case 'h': generate_usage(stdout, a->cmd); return -1;
        default: goto usage;
        }
    }
    if (!a->model || !a->prompt || optind < argc) {
        cli_error("--model DIR and --prompt TEXT are required");
        goto usage;
    }
    if (a->go.sampling.temperature < 0 || a->go.sampling.top_p <= 0 || a->go.sampling.top_p > 1) {
        cli_error("--temperature must be >= 0 and --top-p in (0, 1]");
        goto usage;
    }
    a->go.stop = a->stops;
    a->go.n_stop = n_stop;
    if (a->image && !logits_only) {
        cli_error("--image is for seer logits and seer chat");
        goto usage;
    }
    return 0;
usage:
    generate_usage(stderr, a->cmd);
    return 2;
}

/* The generated text: {"text", "ids", "router"} with --json, else the
 * statistics line on stderr after the streamed text. */
static void print_generation(const gen_args *a, const lm_model *m, const lm_state *s, const gen_result *r,
                             int n_prompt) {
    if (a->json) {
        json_t *o = json_object(), *ids = json_array();
        for (int i = 0; i < r->n; i++) json_array_append_new(ids, json_integer(r->ids[i]));
        json_object_set_new(o, "text", json_string(r->text));
        json_object_set_new(o, "ids", ids);
        json_object_set_new(o, "router", router_json(m, s));
        char *out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (out) puts(out);
        free(out);
        json_decref(o);
    } else {
        putchar('\n');
        fprintf(stderr, "seer: %d prompt tokens in %.2fs, %d new tokens in %.2fs (%.1f tokens/s)\n", n_prompt,
                r->t_prefill, r->n, r->t_decode, r->t_decode > 0 ? r->n / r->t_decode : 0.0);
    }
}

/* The text-only path: the prompt's logits, or a generation. */
static int run_text(gen_args *a, int logits_only) {
    lm_model *m = NULL;
    lm_tokenizer *tok = NULL;
    lm_state *s = NULL;
    int32_t *ids = NULL;
    float *logits = NULL;
    int n = 0, rc = 1;
    if (lm_tokenizer_load(a->model, &tok) || lm_load(a->model, &a->lo, &m) ||
        lm_tokenizer_encode(tok, a->prompt, &ids, &n)) {
        cli_error("%s", status_message());
        goto out;
    }
    if (lm_tokenizer_bos(tok) >= 0) {
        /* LLaMA-2 (SentencePiece): the prompt starts with <s>, as HF LlamaTokenizer's add_bos_token */
        int32_t *p = realloc(ids, ((size_t)n + 1) * sizeof *p);
        if (!p) {
            cli_error("out of memory");
            goto out;
        }
        memmove(p + 1, p, (size_t)n * sizeof *p);
        p[0] = lm_tokenizer_bos(tok);
        ids = p, n++;
    }
    if (n == 0) {
        cli_error("the prompt is empty");
        goto out;
    }
    if (!(s = lm_state_new(m, n + a->go.max_tokens + 1)) || !(logits = malloc((size_t)lm_vocab(m) * sizeof *logits))) {
        cli_error("out of memory");
        goto out;
    }
    if (logits_only) {
        if (lm_forward(m, s, ids, NULL, n, NULL, logits)) {
            cli_error("%s", status_message());
            goto out;
        }
        print_logits(ids, n, logits, lm_tokenizer_size(tok) < lm_vocab(m) ? lm_tokenizer_size(tok) : lm_vocab(m));
        rc = 0;
        goto out;
    }
    if (!a->json) a->go.on_text = print_chunk;
    gen_result r;
    if (generate(m, s, tok, ids, n, &a->go, &r)) {
        cli_error("%s", status_message());
        goto out;
    }
    print_generation(a, m, s, &r, n);
    gen_result_release(&r);
    rc = 0;
out:
    free(ids);
    free(logits);
    lm_state_free(s);
    lm_free(m);
    lm_tokenizer_free(tok);
    return rc;
}

static int run(int argc, char **argv, int logits_only) {
    gen_args a;
    int rc = parse_gen_args(argc, argv, logits_only, &a);
    if (!rc) rc = a.image ? chat_logits(a.model, a.image, a.prompt, a.tower, a.root, &a.lo) : run_text(&a, logits_only);
    else if (rc < 0) rc = 0;
    free(a.stops);
    return rc;
}

int cmd_generate(int argc, char **argv) { return run(argc, argv, 0); }
int cmd_logits(int argc, char **argv) { return run(argc, argv, 1); }
