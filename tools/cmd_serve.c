/* tools/cmd_serve.c — `seer serve`: the HTTP server (server/server.h) until
 * SIGINT or SIGTERM, then a graceful stop and exit 0. */
#include "cli_settings.h"
#include "cmd.h"
#include "log.h"
#include "server.h"
#include "status.h"

#include <errno.h>
#include <getopt.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void serve_usage(FILE *f) {
    fprintf(f,
            "usage: seer serve --db DIR [--listen [HOST:]PORT] [options]\n"
            "\n"
            "Serve a store over HTTP: the search page at / and the REST API under /api/\n"
            "(docs/api.md). The text and image encoders and the index stay loaded. The\n"
            "store is opened read-only, so seer ingest may run meanwhile; the index is\n"
            "rebuilt in the background when the store changes (see --reload).\n"
            "Stops gracefully on SIGINT (Ctrl-C) or SIGTERM.\n"
            "\n"
            "options:\n"
            "  --config FILE       settings read before these options (default /etc/seer/seer.conf\n"
            "                      when present; docs/install.md)\n"
            "  --db DIR            the store made by seer ingest\n"
            "  --model DIR         the CLIP model (default: the one the store was built with)\n"
            "  --listen ADDR       HOST:PORT or PORT (default 127.0.0.1:8080; port 0 = any free)\n"
            "  --token TOKEN       require 'Authorization: Bearer TOKEN' on /api/ (also: env\n"
            "                      SEER_TOKEN); needed for a non-loopback --listen address\n"
            "  --no-token          allow a non-loopback address without a token\n"
            "  --allow-host NAME   also answer requests whose Host is NAME (repeatable); by\n"
            "                      default only localhost and IP addresses are answered\n"
            "                      (a defence against DNS rebinding; docs/api.md)\n"
            "  --index KIND        auto (hnsw when the store has one, else exact), flat, hnsw\n"
            "  --threads N         HTTP worker threads (default 32)\n"
            "  --max-upload SIZE   largest image upload, e.g. 20M (default 20M)\n"
            "  --max-pixels N      largest uploaded image, width x height, read from its\n"
            "                      header before decoding, e.g. 50M (default 50M)\n"
            "  --request-timeout S seconds a request (headers and body) may take (default 30)\n"
            "  --max-k N           largest k a search may ask for (default 100)\n"
            "  --text-workers N    threads embedding text queries (default 2)\n"
            "  --text-queue N      text searches that may wait for one before 503 (default 64)\n"
            "  --image-slots N     threads decoding + embedding uploaded images (default 2)\n"
            "  --image-queue N     image searches that may wait for one before 503 (default 8)\n"
            "  --reload SECONDS    check the store for changes this often; 0 = never (default 10)\n"
            "\n"
            "chat (POST /api/chat, the chat panel of the page, POST /api/feedback):\n"
            "  --chat-model DIR    a MoE-LLaVA checkpoint or a blip2-linear-llama config:\n"
            "                      answer questions about images\n"
            "  --vision-tower DIR  its vision tower (default: mm_image_tower under the models root)\n"
            "  --models-root DIR   where towers are looked up (default $SEER_MODELS or ~/.cache/seer/models)\n"
            "  --quant q8          int8 language-model weights\n"
            "  --kv f16|f32        KV cache precision (default f32; f16 halves the KV memory)\n"
            "  --chat-workers N    answers generated at once, one per worker (default 1)\n"
            "  --chat-queue N      answers that may wait for a worker before 503 (default 4)\n"
            "  --chat-sessions N   images whose features + KV cache each worker keeps (default 2)\n"
            "  --chat-context N    KV cache positions per session (default 2048; float32: 0.8 GB\n"
            "                      per session for StableLM-1.6B)\n"
            "  --chat-cache-mb N   MiB of prepared images kept for all workers: the vision\n"
            "                      features and the KV cache of the prompt up to the image,\n"
            "                      so that reopening an image skips the tower and ~600\n"
            "                      positions of prefill (default 1024: about 4 images for\n"
            "                      StableLM-1.6B + CLIP-L/336, 0.24 GB each; 0 keeps none)\n"
            "  --max-feedback N    feedback records the store may hold; more are refused with\n"
            "                      507 (default 100000)\n");
}

static sem_t stop_sem;
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig) {
    stop_signal = sig;
    sem_post(&stop_sem);
}

/* "20M", "512K", "1048576" → bytes. */
static int parse_size(const char *s, size_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || s[0] == '-') return -1;
    unsigned long long mul = 1;
    if (*end == 'K' || *end == 'k') mul = 1ull << 10, end++;
    else if (*end == 'M' || *end == 'm') mul = 1ull << 20, end++;
    else if (*end == 'G' || *end == 'g') mul = 1ull << 30, end++;
    if (*end || v > (1ull << 40) / mul) return -1;
    *out = (size_t)(v * mul);
    return 0;
}

int cmd_serve(int argc, char **argv) {
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'},         {"model", required_argument, 0, 'm'},
        {"listen", required_argument, 0, 'l'},     {"token", required_argument, 0, 't'},
        {"no-token", no_argument, 0, 'N'},         {"index", required_argument, 0, 'x'},
        {"threads", required_argument, 0, 'T'},    {"max-upload", required_argument, 0, 'u'},
        {"max-k", required_argument, 0, 'k'},      {"image-slots", required_argument, 0, 's'},
        {"image-queue", required_argument, 0, 'q'}, {"reload", required_argument, 0, 'r'},
        {"text-workers", required_argument, 0, 'w'}, {"text-queue", required_argument, 0, 'W'},
        {"chat-model", required_argument, 0, 'C'}, {"vision-tower", required_argument, 0, 'V'},
        {"models-root", required_argument, 0, 'R'}, {"quant", required_argument, 0, 'Q'},
        {"chat-workers", required_argument, 0, 'c'}, {"chat-queue", required_argument, 0, 'Z'},
        {"chat-sessions", required_argument, 0, 'S'}, {"chat-context", required_argument, 0, 'X'},
        {"chat-cache-mb", required_argument, 0, 'M'},
        {"allow-host", required_argument, 0, 'H'}, {"max-pixels", required_argument, 0, 'P'},
        {"request-timeout", required_argument, 0, 'O'}, {"max-feedback", required_argument, 0, 'F'},
        {"config", required_argument, 0, 'G'},     {"help", no_argument, 0, 'h'},
        {"kv", required_argument, 0, 1000},        {0, 0, 0, 0}};
    const char *hosts[64];
    int n_hosts = 0;
    server_opts o;
    server_opts_default(&o);
    o.token = getenv("SEER_TOKEN");
    if (cli_settings_serve(argc, argv, &o)) return 2;
    long v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': o.db = optarg; break;
        case 'm': o.model = optarg; break;
        case 'l': o.listen = optarg; break;
        case 't': o.token = optarg; break;
        case 'N': o.allow_no_token = 1; break;
        case 'x': o.index = optarg; break;
        case 'T': if (cli_parse_int("--threads", optarg, 2, 1024, &v)) return 2; o.threads = (int)v; break;
        case 'u':
            if (parse_size(optarg, &o.max_upload) || o.max_upload < 1024) {
                cli_error("--max-upload: expected a size of at least 1K (e.g. 20M), got '%s'", optarg);
                return 2;
            }
            break;
        case 'k': if (cli_parse_int("--max-k", optarg, 1, 10000, &v)) return 2; o.max_k = (int)v; break;
        case 's': if (cli_parse_int("--image-slots", optarg, 1, 256, &v)) return 2; o.image_slots = (int)v; break;
        case 'q': if (cli_parse_int("--image-queue", optarg, 0, 4096, &v)) return 2; o.image_waiting = (int)v; break;
        case 'w': if (cli_parse_int("--text-workers", optarg, 1, 256, &v)) return 2; o.text_workers = (int)v; break;
        case 'W': if (cli_parse_int("--text-queue", optarg, 0, 4096, &v)) return 2; o.text_waiting = (int)v; break;
        case 'r': if (cli_parse_int("--reload", optarg, 0, 86400, &v)) return 2; o.reload_s = (int)v; break;
        case 'C': o.chat_model = optarg; break;
        case 'V': o.vision_tower = optarg; break;
        case 'R': o.models_root = optarg; break;
        case 'Q':
            if (strcmp(optarg, "q8")) {
                cli_error("--quant: expected q8, got '%s'", optarg);
                return 2;
            }
            o.chat_quant_q8 = 1;
            break;
        case 1000: if (cli_parse_kv(optarg, &o.chat_kv_f16)) return 2; break;
        case 'c': if (cli_parse_int("--chat-workers", optarg, 1, 64, &v)) return 2; o.chat_workers = (int)v; break;
        case 'Z': if (cli_parse_int("--chat-queue", optarg, 0, 4096, &v)) return 2; o.chat_waiting = (int)v; break;
        case 'S': if (cli_parse_int("--chat-sessions", optarg, 1, 64, &v)) return 2; o.chat_sessions = (int)v; break;
        case 'M': if (cli_parse_int("--chat-cache-mb", optarg, 0, 1048576, &v)) return 2; o.chat_cache_mb = v; break;
        case 'X': if (cli_parse_int("--chat-context", optarg, 256, 1 << 20, &v)) return 2; o.chat_max_ctx = (int)v; break;
        case 'H':
            if (n_hosts == (int)(sizeof hosts / sizeof *hosts)) {
                cli_error("--allow-host: at most %d names", (int)(sizeof hosts / sizeof *hosts));
                return 2;
            }
            hosts[n_hosts++] = optarg;
            break;
        case 'P': {
            size_t px;
            /* a pixel count: K = 1000, M = 1000000 */
            char *end;
            errno = 0;
            double d = strtod(optarg, &end);
            double mul = *end == 'M' || *end == 'm' ? 1e6 : *end == 'K' || *end == 'k' ? 1e3 : 1;
            if (mul != 1) end++;
            if (errno || end == optarg || *end || d < 1 || d * mul > 1e12) {
                cli_error("--max-pixels: expected a pixel count such as 50M or 12000000, got '%s'", optarg);
                return 2;
            }
            px = (size_t)(d * mul);
            o.max_pixels = (long long)px;
            break;
        }
        case 'F': if (cli_parse_int("--max-feedback", optarg, 0, 100000000, &v)) return 2; o.max_feedback = v; break;
        case 'O': if (cli_parse_int("--request-timeout", optarg, 1, 3600, &v)) return 2; o.request_timeout_ms = (int)v * 1000; break;
        case 'G': break; /* read by cli_settings_serve */
        case 'h': serve_usage(stdout); return 0;
        default: serve_usage(stderr); return 2;
        }
    }
    if (!o.chat_model && (o.vision_tower || o.models_root || o.chat_quant_q8 || o.chat_kv_f16)) {
        cli_error("--vision-tower, --models-root, --quant and --kv go with --chat-model DIR");
        return 2;
    }
    if (!o.db || optind != argc) {
        cli_error(!o.db ? "--db DIR is required" : "unexpected argument '%s'", argv[optind]);
        serve_usage(stderr);
        return 2;
    }
    /* Stop on SIGINT/SIGTERM. Libraries start threads before main (OpenBLAS,
     * OpenMP) with the signals unblocked, so a mask + sigwait would let the
     * default action kill the process: a handler that posts a semaphore
     * (async-signal-safe) works whichever thread takes the signal. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sem_init(&stop_sem, 0, 0);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    o.allow_hosts = hosts;
    o.n_allow_hosts = n_hosts;
    server *s;
    if (server_start(&o, &s)) {
        cli_error("%s", status_message());
        return 1;
    }
    printf("seer: serving %s on %s%s%s\n", o.db, server_url(s), o.token && o.token[0] ? " (token required for /api/)" : "",
           o.chat_model ? " with chat" : "");
    printf("seer: press Ctrl-C to stop\n");
    fflush(stdout);
    while (sem_wait(&stop_sem) && errno == EINTR) {}
    fprintf(stderr, "seer: %s received, stopping\n", stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
    server_stop(s);
    return 0;
}
