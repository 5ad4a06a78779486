/* tools/seer.c — the seer command line: dispatch to tools/cmd_*.c. */
#include "cmd.h"
#include "log.h"
#include "version.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} command;

static const command commands[] = {
    {"ingest",     cmd_ingest,     "embed photo trees into a store (incremental, resumable)"},
    {"search",     cmd_search,     "top-k images for a text or an example image"},
    {"list",       cmd_list,       "the stored images, filtered, sorted and paged"},
    {"dupes",      cmd_dupes,      "groups of near-duplicate images"},
    {"info",       cmd_info,       "what a store holds"},
    {"serve",      cmd_serve,      "the search page and REST API over a store (HTTP)"},
    {"chat",       cmd_chat,       "talk with MoE-LLaVA about an image"},
    {"feedback",   cmd_feedback,   "export the votes on chat answers recorded by seer serve"},
    {"generate",   cmd_generate,   "continue a text with a MoE-LLaVA language model"},
    {"logits",     cmd_logits,     "prompt token ids and last-position logits (conformance)"},
    {"eval",       cmd_eval,       "benchmarks: retrieval recall, VQA / POPE accuracy, router figures"},
    {"embed",      cmd_embed,      "print CLIP embeddings of images and texts as JSON lines"},
    {"similarity", cmd_similarity, "CLIP logits and probabilities between images and texts"},
    {"tokenize",   cmd_tokenize,   "print the CLIP token ids of a text"},
    {"bench",      cmd_bench,      "measure throughput against this machine's limits"},
};

static void usage(FILE *f) {
    fprintf(f,
            "usage: seer <command> [options]\n"
            "\n"
            "seer — image search and retrieval with visual question answering.\n"
            "\n"
            "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
            "\n"
            "global options:\n"
            "  -h, --help     this help; `seer <command> --help` for a command's options\n"
            "  --version      print the version, the git commit and the optional parts built in\n"
            "  -v, --verbose  log progress (SEER_LOG=debug for more)\n"
            "\n"
            "Models are Hugging Face model directories (see docs/models.md).\n");
}

int main(int argc, char **argv) {
    /* OpenMP threads that spin at barriers stall badly whenever the cores are
     * shared (ingest runs decode threads beside the BLAS threads; a server
     * shares the machine): make them sleep instead. libgomp reads its
     * settings before main, so set them and start again, once; a user's own
     * OMP_WAIT_POLICY is left alone. */
    if (!getenv("OMP_WAIT_POLICY")) {
        setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
        execv("/proc/self/exe", argv);
        /* exec failed: run on with the spinning default */
    }
    const char *lv = getenv("SEER_LOG");
    if (lv) log_set_level(!strcmp(lv, "debug") ? LOG_DEBUG : !strcmp(lv, "info") ? LOG_INFO : LOG_WARN);
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--version")) {
            version_print(stdout);
            return 0;
        } else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) {
            log_set_level(LOG_INFO);
        } else {
            cli_error("unknown option '%s' (try seer --help)", argv[i]);
            return 2;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    for (size_t c = 0; c < sizeof commands / sizeof *commands; c++)
        if (!strcmp(argv[i], commands[c].name)) return commands[c].fn(argc - i, argv + i);
    cli_error("unknown command '%s' (try seer --help)", argv[i]);
    return 2;
}
