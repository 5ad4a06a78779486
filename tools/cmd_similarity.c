/* tools/cmd_similarity.c — `seer similarity`: CLIP's logits_per_image and the
 * softmax over texts, as in the openai/CLIP README example. */
#include "cmd.h"
#include "embed.h"
#include "status.h"

#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static void similarity_usage(FILE *f) {
    fprintf(f,
            "usage: seer similarity --model DIR --image FILE... --text STR...\n"
            "\n"
            "Print one JSON object: {\"images\", \"texts\", \"logits_per_image\": [[...]],\n"
            "\"probs\": [[...]]} where logits = exp(logit_scale) * cosine and probs is the\n"
            "softmax of each image's row over the texts.\n"
            "\n"
            "options:\n"
            "  --model DIR        Hugging Face CLIP model directory\n"
            "  --image FILE       repeatable\n"
            "  --text STR         repeatable\n"
            "  --no-exif-rotate   do not apply JPEG EXIF orientation\n");
}

int cmd_similarity(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"image", required_argument, 0, 'i'},
        {"text", required_argument, 0, 't'},  {"no-exif-rotate", no_argument, 0, 'E'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    const char *model = NULL;
    const char **imgs = calloc((size_t)argc, sizeof *imgs), **txts = calloc((size_t)argc, sizeof *txts);
    int ni = 0, nt = 0, c, rc = 1;
    image_opts io = image_opts_default();
    if (!imgs || !txts) return 1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'i': imgs[ni++] = optarg; break;
        case 't': txts[nt++] = optarg; break;
        case 'E': io.exif_rotate = 0; break;
        case 'h': similarity_usage(stdout); rc = 0; goto out0;
        default: similarity_usage(stderr); rc = 2; goto out0;
        }
    }
    if (!model || !ni || !nt || optind < argc) {
        cli_error("need --model, at least one --image and at least one --text");
        similarity_usage(stderr);
        rc = 2;
        goto out0;
    }
    embedder *e;
    if (embedder_open(model, EMBED_IMAGE | EMBED_TEXT, &e)) {
        cli_error("%s", status_message());
        goto out0;
    }
    const int dim = e->dim;
    const size_t plen = embedder_pixels_len(e);
    float *pix = malloc((size_t)ni * plen * sizeof(float));
    float *ie = malloc((size_t)ni * dim * sizeof(float)), *te = malloc((size_t)nt * dim * sizeof(float));
    if (!pix || !ie || !te) {
        cli_error("out of memory");
        goto out;
    }
    for (int i = 0; i < ni; i++)
        if (embedder_pixels_file(e, imgs[i], &io, pix + (size_t)i * plen, NULL)) {
            cli_error("%s", status_message());
            goto out;
        }
    if (embedder_images(e, pix, ni, ie)) {
        cli_error("%s", status_message());
        goto out;
    }
    for (int t = 0; t < nt; t++)
        if (embedder_text(e, txts[t], te + (size_t)t * dim)) {
            cli_error("text \"%s\": %s", txts[t], status_message());
            goto out;
        }
    const double scale = exp((double)e->clip->logit_scale);
    json_t *o = json_object(), *jl = json_array(), *jp = json_array(), *ji = json_array(), *jt = json_array();
    for (int i = 0; i < ni; i++) json_array_append_new(ji, json_string(imgs[i]));
    for (int t = 0; t < nt; t++) json_array_append_new(jt, json_string(txts[t]));
    double *row = malloc((size_t)nt * sizeof *row);
    for (int i = 0; i < ni && row; i++) {
        json_t *rl = json_array(), *rp = json_array();
        double mx = -INFINITY, sum = 0.0;
        for (int t = 0; t < nt; t++) {
            double d = 0.0;
            for (int k = 0; k < dim; k++) d += (double)ie[(size_t)i * dim + k] * te[(size_t)t * dim + k];
            row[t] = scale * d;
            if (row[t] > mx) mx = row[t];
            json_array_append_new(rl, json_real(row[t]));
        }
        for (int t = 0; t < nt; t++) sum += exp(row[t] - mx);
        for (int t = 0; t < nt; t++) json_array_append_new(rp, json_real(exp(row[t] - mx) / sum));
        json_array_append_new(jl, rl);
        json_array_append_new(jp, rp);
    }
    free(row);
    json_object_set_new(o, "images", ji);
    json_object_set_new(o, "texts", jt);
    json_object_set_new(o, "logits_per_image", jl);
    json_object_set_new(o, "probs", jp);
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(8) | JSON_PRESERVE_ORDER);
    if (s) puts(s);
    free(s);
    json_decref(o);
    rc = 0;
out:
    free(pix);
    free(ie);
    free(te);
    embedder_close(e);
out0:
    free(imgs);
    free(txts);
    return rc;
}
