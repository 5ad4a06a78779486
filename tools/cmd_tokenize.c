/* tools/cmd_tokenize.c — `seer tokenize`: the token ids a model's text
 * branch consumes (CLIP BPE, or BLIP-2's BERT WordPiece). */
#include "bert_tokenizer.h"
#include "clip_tokenizer.h"
#include "cmd.h"
#include "embed.h"
#include "file.h"
#include "status.h"

#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

static void tokenize_usage(FILE *f) {
    fprintf(f,
            "usage: seer tokenize --model DIR [--context N] TEXT\n"
            "\n"
            "Print {\"ids\": [...]} for TEXT with the CLIP tokenizer of DIR (vocab.json +\n"
            "merges.txt): start and end tokens included, no padding, truncated to the\n"
            "context (default 77) keeping the end token.\n"
            "A BLIP-2 directory (vocab.txt, no merges.txt) uses its BERT WordPiece\n"
            "tokenizer: [CLS] ... [SEP], truncated to the context (default 35, as\n"
            "BLIP-2's retrieval) keeping [SEP].\n");
}

int cmd_tokenize(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"context", required_argument, 0, 'c'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *model = NULL;
    long ctx = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'c': if (cli_parse_int("--context", optarg, 2, 4096, &ctx)) return 2; break;
        case 'h': tokenize_usage(stdout); return 0;
        default: tokenize_usage(stderr); return 2;
        }
    }
    if (!model || optind != argc - 1) {
        cli_error(!model ? "--model DIR is required" : "give exactly one TEXT");
        tokenize_usage(stderr);
        return 2;
    }
    /* BERT WordPiece when the directory has vocab.txt and no merges.txt */
    char vt[4096], mg[4096];
    int bert = !file_join(vt, sizeof vt, model, "vocab.txt") && !file_join(mg, sizeof mg, model, "merges.txt") &&
               access(vt, F_OK) == 0 && access(mg, F_OK) != 0;
    int32_t ids[4096];
    int n = 0, st;
    if (bert) {
        bert_tokenizer *bt;
        if (bert_tokenizer_load(model, &bt)) {
            cli_error("%s", status_message());
            return 1;
        }
        st = bert_tokenizer_encode(bt, argv[optind], ids, ctx ? (int)ctx : EMBED_BLIP2_TEXT_MAX, &n, NULL);
        bert_tokenizer_free(bt);
    } else {
        clip_tokenizer *tok;
        if (clip_tokenizer_load(model, &tok)) {
            cli_error("%s", status_message());
            return 1;
        }
        st = clip_tokenizer_encode(tok, argv[optind], ids, ctx ? (int)ctx : 77, &n);
        clip_tokenizer_free(tok);
    }
    if (st) {
        cli_error("%s", status_message());
        return 1;
    }
    fputs("{\"ids\": [", stdout);
    for (int i = 0; i < n; i++) printf("%s%d", i ? ", " : "", ids[i]);
    fputs("]}\n", stdout);
    return 0;
}
