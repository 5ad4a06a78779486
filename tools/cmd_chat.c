/* tools/cmd_chat.c — `seer chat`: talk with MoE-LLaVA about an image, on a
 * terminal (streaming, /regenerate /clear /image /quit) or one-shot. */
#include "chat.h"
#include "cmd.h"
#include "router_stats.h"
#include "status.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void chat_usage(FILE *f) {
    fprintf(f,
            "usage: seer chat --model DIR [--image FILE] [--prompt TEXT] [options]\n"
            "\n"
            "Chat with a MoE-LLaVA checkpoint about an image. Without --prompt the chat is\n"
            "interactive: type a question; /regenerate, /clear, /image FILE, /quit.\n"
            "\n"
            "options:\n"
            "  --model DIR         MoE-LLaVA checkpoint directory, a LLaMA-2 directory (text\n"
            "                      chat), or a blip2-linear-llama JSON config (docs/models.md)\n"
            "  --image FILE        the picture to talk about\n"
            "  --prompt TEXT       ask one question, print the answer, exit\n"
            "  --vision-tower DIR  the vision tower (default: mm_image_tower under the models root)\n"
            "  --models-root DIR   where towers are looked up (default $SEER_MODELS or ~/.cache/seer/models)\n"
            "  --max-tokens N      (default 512)  --temperature T (default 0.2)  --top-p P  --top-k K\n"
            "  --beams B           beam search     --seed S\n"
            "  --quant q8          int8 language-model weights   --moe-sampling  Gumbel 2nd expert\n"
            "  --kv f16|f32        KV cache precision (default f32; f16 halves its memory)\n"
            "  --json              one-shot: print {\"text\", \"ids\", \"router\"}\n");
}

static int stream(const char *text, size_t len, void *ctx) {
    (void)ctx;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return 0;
}

static int load_image(chat_session *cs, const char *path) {
    image_opts io = image_opts_default();
    image img = {0};
    int st = image_load(path, &io, &img, NULL);
    if (!st) st = chat_set_image(cs, &img);
    image_release(&img);
    return st;
}

/* The options of one `seer chat`. */
typedef struct {
    const char *model, *image, *prompt;
    int json;
    chat_load_opts lo;
    gen_opts go;
} chat_args;

/* argv → *a; 0, -1 after --help, or the exit status of a usage error. */
static int parse_chat_args(int argc, char **argv, chat_args *a) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},       {"image", required_argument, 0, 'i'},
        {"prompt", required_argument, 0, 'p'},      {"vision-tower", required_argument, 0, 'V'},
        {"models-root", required_argument, 0, 'R'}, {"max-tokens", required_argument, 0, 'n'},
        {"temperature", required_argument, 0, 't'}, {"top-p", required_argument, 0, 'P'},
        {"top-k", required_argument, 0, 'k'},       {"beams", required_argument, 0, 'b'},
        {"seed", required_argument, 0, 's'},        {"quant", required_argument, 0, 'q'},
        {"moe-sampling", no_argument, 0, 'M'},      {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},              {"kv", required_argument, 0, 'K'},
        {0, 0, 0, 0}};
    *a = (chat_args){.lo = chat_load_opts_default(), .go = gen_opts_default()};
    a->go.sampling.temperature = 0.2f; /* MoE-LLaVA's cli default */
    int c;
    long v;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': a->model = optarg; break;
        case 'i': a->image = optarg; break;
        case 'p': a->prompt = optarg; break;
        case 'V': a->lo.vision_tower = optarg; break;
        case 'R': a->lo.models_root = optarg; break;
        case 'n': if (cli_parse_int("--max-tokens", optarg, 1, 1 << 16, &v)) return 2; a->go.max_tokens = (int)v; break;
        case 't': a->go.sampling.temperature = strtof(optarg, NULL); break;
        case 'P': a->go.sampling.top_p = strtof(optarg, NULL); break;
        case 'k': if (cli_parse_int("--top-k", optarg, 0, 1 << 24, &v)) return 2; a->go.sampling.top_k = (int)v; break;
        case 'b': if (cli_parse_int("--beams", optarg, 1, 16, &v)) return 2; a->go.num_beams = (int)v; break;
        case 's': a->go.sampling.seed = a->lo.lm.seed = strtoull(optarg, NULL, 10); break;
        case 'q': a->lo.lm.quant = !strcmp(optarg, "q8") ? LM_QUANT_Q8 : LM_QUANT_NONE; break;
        case 'M': a->lo.lm.moe_sampling = 1; break;
        case 'K': if (cli_parse_kv(optarg, &a->lo.lm.kv_f16)) return 2; break;
        case 'j': a->json = 1; break;
        case 'h': chat_usage(stdout); return -1;
        default: chat_usage(stderr); return 2;
        }
    }
    if (!a->model || optind < argc) {
        cli_error("--model DIR is required");
        chat_usage(stderr);
        return 2;
    }
    if (a->go.sampling.temperature < 0 || a->go.sampling.top_p <= 0 || a->go.sampling.top_p > 1) {
        cli_error("--temperature must be >= 0 and --top-p in (0, 1]");
        return 2;
    }
    return 0;
}

/* --prompt: one answer, streamed, or as {"text", "ids", "router"}. */
static int one_shot(chat_session *cs, const chat_model *cm, chat_args *a) {
    gen_result r;
    if (!a->json) a->go.on_text = stream;
    if (chat_ask(cs, a->prompt, &a->go, &r)) {
        cli_error("%s", status_message());
        return 1;
    }
    if (a->json) {
        size_t n;
        const uint32_t *cnt = chat_router_counts(cs, &n);
        json_t *o = json_object(), *ids = json_array();
        for (int i = 0; i < r.n; i++) json_array_append_new(ids, json_integer(r.ids[i]));
        json_object_set_new(o, "text", json_string(r.text));
        json_object_set_new(o, "ids", ids);
        json_object_set_new(o, "router", router_stats_answer_json(chat_model_lm(cm), cnt, n));
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (s) puts(s);
        free(s);
        json_decref(o);
    } else {
        putchar('\n');
    }
    gen_result_release(&r);
    return 0;
}

/* One line typed in the interactive chat: a command or a question. 1 to
 * quit, else 0 (a failure is reported and the chat goes on). */
static int interact(chat_session *cs, const char *line, const gen_opts *go) {
    gen_result r;
    int st = ST_OK;
    if (!strcmp(line, "/quit") || !strcmp(line, "/exit")) return 1;
    if (!strcmp(line, "/clear")) {
        chat_clear(cs);
        puts("(history cleared)");
        return 0;
    } else if (!strncmp(line, "/image ", 7)) {
        st = load_image(cs, line + 7);
        if (!st) printf("(image %s)\n", line + 7);
    } else if (!strcmp(line, "/regenerate")) {
        st = chat_regenerate(cs, go, &r);
        if (!st) {
            putchar('\n');
            gen_result_release(&r);
        }
    } else if (line[0] == '/') {
        printf("unknown command %s: /regenerate /clear /image FILE /quit\n", line);
        return 0;
    } else {
        st = chat_ask(cs, line, go, &r);
        if (!st) {
            putchar('\n');
            gen_result_release(&r);
        }
    }
    if (st) cli_error("%s", status_message());
    fflush(stdout);
    return 0;
}

/* The terminal chat: lines from stdin until EOF or /quit. */
static void interactive(chat_session *cs, const chat_model *cm, chat_args *a) {
    a->go.on_text = stream;
    int tty = isatty(0);
    char line[8192];
    if (tty) printf("seer chat: %s%s%s. /regenerate /clear /image FILE /quit\n", chat_model_identity(cm),
                    a->image ? ", image " : ", no image yet (/image FILE to give one)", a->image ? a->image : "");
    else if (!a->image)
        fprintf(stderr, "seer chat: no image given (--image FILE or /image FILE): the model answers from the text alone\n");
    for (;;) {
        if (tty) {
            fputs("> ", stdout);
            fflush(stdout);
        }
        if (!fgets(line, sizeof line, stdin)) break;
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0]) continue;
        if (interact(cs, line, &a->go)) break;
    }
}

int cmd_chat(int argc, char **argv) {
    chat_args a;
    int rc = parse_chat_args(argc, argv, &a);
    if (rc) return rc < 0 ? 0 : rc;
    chat_model *cm;
    if (chat_model_load(a.model, &a.lo, &cm)) {
        cli_error("%s", status_message());
        return 1;
    }
    chat_session *cs = chat_session_new(cm);
    rc = 1;
    if (!cs) {
        cli_error("cannot allocate a chat session: %s", status_message());
    } else if (a.image && load_image(cs, a.image)) {
        cli_error("%s", status_message());
    } else if (a.prompt) {
        if (!a.image) fprintf(stderr, "seer chat: no image given (--image FILE): the model answers from the text alone\n");
        rc = one_shot(cs, cm, &a);
    } else {
        interactive(cs, cm, &a);
        rc = 0;
    }
    chat_session_free(cs);
    chat_model_free(cm);
    return rc;
}
