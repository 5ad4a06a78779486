/* tools/cmd_similarity.c — `seer similarity`: CLIP's logits_per_image and the
 * softmax over texts, as in the openai/CLIP README example; for BLIP-2 the
 * ITC score matrix (max over query tokens) and optionally ITM probabilities. */
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
            "With a BLIP-2 model: {\"images\", \"texts\", \"scores\": [[...]]}, images x\n"
            "texts, each the maximum over the image's query vectors of their cosine with\n"
            "the text (BLIP-2's ITC); --itm adds \"itm\": [[...]], the ITM head's match\n"
            "probability.\n"
            "\n"
            "options:\n"
            "  --model DIR        Hugging Face CLIP or BLIP-2 model directory\n"
            "  --itm              BLIP-2: also the image-text matching probabilities\n"
            "  --json             accepted for symmetry; the output is always JSON\n"
            "  --image FILE       repeatable\n"
            "  --text STR         repeatable\n"
            "  --no-exif-rotate   do not apply JPEG EXIF orientation\n");
}

/* The options of one `seer similarity`: the images and texts in order. */
typedef struct {
    const char *model;
    const char **imgs, **txts;  /* calloc'd (argc entries each), the caller frees */
    int ni, nt;
    int itm;
    image_opts io;
} sim_args;

/* argv → *a; 0, -1 after --help, or the exit status of an error. */
static int parse_sim_args(int argc, char **argv, sim_args *a) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"image", required_argument, 0, 'i'},
        {"text", required_argument, 0, 't'},  {"no-exif-rotate", no_argument, 0, 'E'},
        {"itm", no_argument, 0, 'I'},         {"json", no_argument, 0, 'J'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    *a = (sim_args){.io = image_opts_default()};
    a->imgs = calloc((size_t)argc, sizeof *a->imgs);
    a->txts = calloc((size_t)argc, sizeof *a->txts);
    if (!a->imgs || !a->txts) return 1;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': a->model = optarg; break;
        case 'i': a->imgs[a->ni++] = optarg; break;
        case 't': a->txts[a->nt++] = optarg; break;
        case 'E': a->io.exif_rotate = 0; break;
        case 'I': a->itm = 1; break;
        case 'J': break;
        case 'h': similarity_usage(stdout); return -1;
        default: similarity_usage(stderr); return 2;
        }
    }
    if (!a->model || !a->ni || !a->nt || optind < argc) {
        cli_error("need --model, at least one --image and at least one --text");
        similarity_usage(stderr);
        return 2;
    }
    return 0;
}

/* The images as one batch → ie (ni, n_vec, dim); the texts → te (nt, dim).
 * The preprocessed pixels (ni, 3, h, w) are left in pix (caller frees). */
static int embed_all(const embedder *e, const sim_args *a, float *ie, float *te, float **pix_out) {
    const size_t plen = embedder_pixels_len(e);
    float *pix = malloc((size_t)a->ni * plen * sizeof(float));
    *pix_out = pix;
    if (!pix) {
        cli_error("out of memory");
        return 1;
    }
    int rc = 1;
    for (int i = 0; i < a->ni; i++)
        if (embedder_pixels_file(e, a->imgs[i], &a->io, pix + (size_t)i * plen, NULL)) {
            cli_error("%s", status_message());
            goto out;
        }
    if (embedder_images(e, pix, a->ni, ie)) {
        cli_error("%s", status_message());
        goto out;
    }
    for (int t = 0; t < a->nt; t++)
        if (embedder_text(e, a->txts[t], te + (size_t)t * e->dim)) {
            cli_error("text \"%s\": %s", a->txts[t], status_message());
            goto out;
        }
    rc = 0;
out:
    return rc;
}

static void json_print(json_t *o) {
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(8) | JSON_PRESERVE_ORDER);
    if (s) puts(s);
    free(s);
    json_decref(o);
}

/* BLIP-2: {"images", "texts", "scores"[, "itm"]}: scores[i][t] = max over
 * the n_vec query vectors of image i of their dot product with text t. */
static int print_blip2(const embedder *e, const sim_args *a, const float *ie, const float *te, const float *pix) {
    const int ni = a->ni, nt = a->nt, dim = e->dim, nv = e->n_vec;
    float *lg = NULL, *prob = NULL;
    if (a->itm) {
        lg = malloc((size_t)ni * nt * 2 * sizeof(float));
        prob = malloc((size_t)ni * nt * sizeof(float));
        if (!lg || !prob || embedder_itm(e, pix, ni, a->txts, nt, lg, prob)) {
            cli_error("%s", lg && prob ? status_message() : "out of memory");
            free(lg), free(prob);
            return 1;
        }
    }
    json_t *o = json_object(), *js = json_array(), *jm = json_array(), *ji = json_array(), *jt = json_array();
    for (int i = 0; i < ni; i++) json_array_append_new(ji, json_string(a->imgs[i]));
    for (int t = 0; t < nt; t++) json_array_append_new(jt, json_string(a->txts[t]));
    for (int i = 0; i < ni; i++) {
        json_t *rs = json_array(), *rm = json_array();
        for (int t = 0; t < nt; t++) {
            double best = -INFINITY;
            for (int q = 0; q < nv; q++) {
                double d = 0.0;
                for (int k = 0; k < dim; k++) d += (double)ie[((size_t)i * nv + q) * dim + k] * te[(size_t)t * dim + k];
                if (d > best) best = d;
            }
            json_array_append_new(rs, json_real(best));
            if (prob) json_array_append_new(rm, json_real(prob[(size_t)i * nt + t]));
        }
        json_array_append_new(js, rs);
        json_array_append_new(jm, rm);
    }
    json_object_set_new(o, "images", ji);
    json_object_set_new(o, "texts", jt);
    json_object_set_new(o, "scores", js);
    if (prob) json_object_set_new(o, "itm", jm);
    else json_decref(jm);
    json_print(o);
    free(lg), free(prob);
    return 0;
}

/* {"images", "texts", "logits_per_image", "probs"}: logits = exp(logit_scale)
 * x cosine, probs the softmax of each image's row. */
static void print_similarity(const sim_args *a, const float *ie, const float *te, int dim, double scale) {
    const int ni = a->ni, nt = a->nt;
    json_t *o = json_object(), *jl = json_array(), *jp = json_array(), *ji = json_array(), *jt = json_array();
    for (int i = 0; i < ni; i++) json_array_append_new(ji, json_string(a->imgs[i]));
    for (int t = 0; t < nt; t++) json_array_append_new(jt, json_string(a->txts[t]));
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
    json_print(o);
}

int cmd_similarity(int argc, char **argv) {
    sim_args a;
    int rc = parse_sim_args(argc, argv, &a);
    embedder *e = NULL;
    float *ie = NULL, *te = NULL, *pix = NULL;
    if (rc) {
        rc = rc < 0 ? 0 : rc;
    } else if (embedder_load(a.model, EMBED_IMAGE | EMBED_TEXT, &e)) {
        cli_error("%s", status_message());
        rc = 1;
    } else if (a.itm && e->family != EMBED_BLIP2) {
        cli_error("--itm needs a BLIP-2 model (%s is CLIP)", a.model);
        rc = 2;
    } else if (!(ie = malloc((size_t)a.ni * e->n_vec * e->dim * sizeof(float))) ||
               !(te = malloc((size_t)a.nt * e->dim * sizeof(float)))) {
        cli_error("out of memory");
        rc = 1;
    } else if (!(rc = embed_all(e, &a, ie, te, &pix))) {
        if (e->family == EMBED_BLIP2) rc = print_blip2(e, &a, ie, te, pix);
        else print_similarity(&a, ie, te, e->dim, exp((double)e->clip->logit_scale));
    }
    free(pix);
    free(ie);
    free(te);
    embedder_free(e);
    free(a.imgs);
    free(a.txts);
    return rc;
}
