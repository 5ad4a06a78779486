/* tools/cmd_embed.c — `seer embed`: CLIP / BLIP-2 embeddings as JSON lines. */
#include "cmd.h"
#include "embed.h"
#include "log.h"
#include "status.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void embed_usage(FILE *f) {
    fprintf(f,
            "usage: seer embed --model DIR (--image FILE | --text STR)...\n"
            "\n"
            "Print one JSON line per input, in the order given:\n"
            "  {\"input\": \"<file or text>\", \"embedding\": [floats]}   (L2-normalised)\n"
            "With a BLIP-2 model an image's embedding is one vector per query token,\n"
            "  {\"input\": \"<file>\", \"embedding\": [[floats], ...]}\n"
            "and a text's is one vector.\n"
            "A failed input is reported on stderr; the others still print and the\n"
            "exit status is 1.\n"
            "\n"
            "options:\n"
            "  --model DIR        Hugging Face CLIP or BLIP-2 (blip2-itm-vit-g) model directory\n"
            "  --image FILE       an image (JPEG, PNG, BMP, GIF, TGA, PNM); repeatable\n"
            "  --text STR         a text; repeatable\n"
            "  --batch N          images per forward pass (default 32)\n"
            "  --no-exif-rotate   do not apply JPEG EXIF orientation\n");
}

static json_t *vec_json(const float *v, int dim) {
    json_t *a = json_array();
    for (int i = 0; i < dim; i++) json_array_append_new(a, json_real(v[i]));
    return a;
}

/* One line of output: {"input": s, "embedding": v}; v (n_vec, dim), printed
 * flat when n_vec is 0 (one vector, CLIP and every text) and as a list of
 * n_vec vectors otherwise. */
static void print_line(const char *input, const float *v, int n_vec, int dim) {
    json_t *o = json_object(), *a;
    if (n_vec == 0) {
        a = vec_json(v, dim);
    } else {
        a = json_array();
        for (int k = 0; k < n_vec; k++) json_array_append_new(a, vec_json(v + (size_t)k * dim, dim));
    }
    json_object_set_new(o, "input", json_string(input));
    json_object_set_new(o, "embedding", a);
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9) | JSON_PRESERVE_ORDER);
    if (s) puts(s);
    free(s);
    json_decref(o);
}

typedef struct {
    int is_image;
    const char *value;
} input;

/* The options of one `seer embed`: the inputs in order. */
typedef struct {
    const char *model;
    long batch;
    image_opts io;
    input *in;                 /* calloc'd (argc entries), the caller frees */
    int n_in, n_img, n_txt;
} embed_args;

/* argv → *a; 0, -1 after --help, or the exit status of an error. */
static int parse_embed_args(int argc, char **argv, embed_args *a) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"image", required_argument, 0, 'i'},
        {"text", required_argument, 0, 't'},  {"batch", required_argument, 0, 'b'},
        {"no-exif-rotate", no_argument, 0, 'E'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    *a = (embed_args){.batch = 32, .io = image_opts_default()};
    a->in = calloc((size_t)argc, sizeof *a->in);
    if (!a->in) return 1;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': a->model = optarg; break;
        case 'i': a->in[a->n_in++] = (input){1, optarg}; a->n_img++; break;
        case 't': a->in[a->n_in++] = (input){0, optarg}; a->n_txt++; break;
        case 'b': if (cli_parse_int("--batch", optarg, 1, 4096, &a->batch)) return 2; break;
        case 'E': a->io.exif_rotate = 0; break;
        case 'h': embed_usage(stdout); return -1;
        default: embed_usage(stderr); return 2;
        }
    }
    if (!a->model || a->n_in == 0 || optind < argc) {
        if (optind < argc) cli_error("unexpected argument '%s'", argv[optind]);
        else cli_error(a->model ? "nothing to embed: give --image or --text" : "--model DIR is required");
        embed_usage(stderr);
        return 2;
    }
    return 0;
}

/* Every input, printed in order: texts immediately, images when their batch
 * runs; a batch is flushed before any text that follows it. A failed input
 * is reported and the others still print. 1 when any failed. */
static int embed_inputs(const embedder *e, const embed_args *a) {
    const int dim = e->dim, nv = e->n_vec, img_nv = nv > 1 ? nv : 0;
    const size_t plen = embedder_pixels_len(e);
    const long batch = a->batch;
    const input *in = a->in;
    int failed = 0;
    float *pix = a->n_img ? malloc((size_t)batch * plen * sizeof(float)) : NULL;
    float *emb = malloc((size_t)(batch > 1 ? batch : 1) * nv * dim * sizeof(float));
    int *slot = malloc((size_t)batch * sizeof(int)); /* input index of each batch row */
    if ((a->n_img && !pix) || !emb || !slot) {
        cli_error("out of memory");
        failed = 1;
        goto out;
    }
    int nb = 0;
    for (int i = 0; i <= a->n_in; i++) {
        int flush = nb > 0 && (i == a->n_in || !in[i].is_image || nb == batch);
        if (flush) {
            if (embedder_images(e, pix, nb, emb)) {
                for (int k = 0; k < nb; k++) cli_error("%s: %s", in[slot[k]].value, status_message());
                failed = 1;
            } else {
                for (int k = 0; k < nb; k++) print_line(in[slot[k]].value, emb + (size_t)k * nv * dim, img_nv, dim);
            }
            fflush(stdout);
            nb = 0;
        }
        if (i == a->n_in) break;
        if (in[i].is_image) {
            if (embedder_pixels_file(e, in[i].value, &a->io, pix + (size_t)nb * plen, NULL)) {
                cli_error("%s", status_message());
                failed = 1;
                continue;
            }
            slot[nb++] = i;
        } else {
            if (embedder_text(e, in[i].value, emb)) {
                cli_error("text \"%s\": %s", in[i].value, status_message());
                failed = 1;
                continue;
            }
            print_line(in[i].value, emb, 0, dim);
        }
    }
out:
    free(pix);
    free(emb);
    free(slot);
    return failed;
}

int cmd_embed(int argc, char **argv) {
    embed_args a;
    int rc = parse_embed_args(argc, argv, &a);
    if (rc) {
        free(a.in);
        return rc < 0 ? 0 : rc;
    }
    embedder *e;
    if (embedder_load(a.model, (a.n_img ? EMBED_IMAGE : 0) | (a.n_txt ? EMBED_TEXT : 0), &e)) {
        cli_error("%s", status_message());
        free(a.in);
        return 1;
    }
    rc = embed_inputs(e, &a) ? 1 : 0;
    free(a.in);
    embedder_free(e);
    return rc;
}
