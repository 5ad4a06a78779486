/* model/pipeline/chat_adaptor.c — see chat_adaptor.h. */
#include "chat_adaptor.h"
#include "blip2.h"
#include "checkpoint.h"
#include "file.h"
#include "jsonx.h"
#include "matmul.h"
#include "preprocess.h"
#include "status.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct chat_adaptor {
    blip2_model   *blip2;
    preprocess_cfg pre;
    chat_linear    lin;
    char           vision_name[256];
};

/* ------------------------------------------------------------------ linear */

int chat_linear_load(const char *path, chat_linear *out) {
    memset(out, 0, sizeof *out);
    checkpoint *ck;
    int st = checkpoint_open_file(path, &ck);
    if (st) return st;
    /* plain names, MiniGPT-4's, and MiniGPT-4's inside a training checkpoint's
     * wrapper dict (pickle.h names those tensors "<wrapper>.<name>") */
    static const char *const names[][2] = {
        {"weight", "bias"},
        {"llama_proj.weight", "llama_proj.bias"},
        {"model.llama_proj.weight", "model.llama_proj.bias"},
        {"state_dict.llama_proj.weight", "state_dict.llama_proj.bias"},
        {"module.llama_proj.weight", "module.llama_proj.bias"},
    };
    const char *wn = names[0][0], *bn = names[0][1];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (checkpoint_find(ck, names[i][0])) {
            wn = names[i][0], bn = names[i][1];
            break;
        }
    const tensor *w = checkpoint_find(ck, wn), *b = checkpoint_find(ck, bn);
    if (!w || !b) {
        st = status_fail(ST_NOT_FOUND, "%s: no adaptor weights (looked for weight + bias and llama_proj.weight + "
                                       "llama_proj.bias, also under \"model\", \"state_dict\" or \"module\")", path);
    } else if (w->ndim != 2 || b->ndim != 1 || b->shape[0] != w->shape[0] || w->shape[0] <= 0 || w->shape[1] <= 0 ||
               w->shape[0] > 1 << 20 || w->shape[1] > 1 << 20) {
        st = status_fail(ST_MISMATCH, "%s: %s must be [out, in] and %s [out]", path, wn, bn);
    } else {
        out->out = (int)w->shape[0], out->in = (int)w->shape[1];
        out->w = malloc((size_t)out->out * out->in * sizeof(float));
        out->b = malloc((size_t)out->out * sizeof(float));
        if (!out->w || !out->b) st = status_fail(ST_NOMEM, "%s: out of memory", path);
        if (!st) st = checkpoint_read_f32(ck, wn, 2, (int64_t[]){out->out, out->in}, out->w);
        if (!st) st = checkpoint_read_f32(ck, bn, 1, (int64_t[]){out->out}, out->b);
    }
    checkpoint_close(ck);
    if (st) chat_linear_release(out);
    return st;
}

void chat_linear_release(chat_linear *l) {
    free(l->w);
    free(l->b);
    memset(l, 0, sizeof *l);
}

void chat_linear_apply(const chat_linear *l, const float *Z, int n, float *rows) {
    matmul_linear(rows, Z, l->w, l->b, n, l->out, l->in, 0);
}

/* ------------------------------------------------------------------ config */

int chat_adaptor_is_config(const char *path) {
    if (!file_is_regular(path)) return 0;
    json_t *root = NULL;
    if (jsonx_load(path, &root)) {
        status_clear();
        return 0;
    }
    int yes = json_is_object(root) && !strcmp(jsonx_str(root, "architecture", ""), "blip2-linear-llama");
    json_decref(root);
    return yes;
}

/* dir of the config + rel (absolute rel kept) */
static int rel_path(const char *config, const char *rel, char *out, size_t cap) {
    if (rel[0] == '/') {
        if (strlen(rel) >= cap) return status_fail(ST_ARG, "path too long: %s", rel);
        strcpy(out, rel);
        return ST_OK;
    }
    const char *sl = strrchr(config, '/');
    int n = snprintf(out, cap, "%.*s%s", sl ? (int)(sl - config + 1) : 0, config, rel);
    if (n < 0 || (size_t)n >= cap) return status_fail(ST_ARG, "path too long: %s", rel);
    return ST_OK;
}

int chat_adaptor_open(const char *path, chat_adaptor **out, char *lm_dir, size_t cap) {
    *out = NULL;
    json_t *cfg = NULL;
    int st = jsonx_load(path, &cfg);
    if (st) return st;
    const char *arch = jsonx_str(cfg, "architecture", ""), *vision = jsonx_str(cfg, "vision", NULL);
    const char *lm = jsonx_str(cfg, "language_model", NULL), *ad = jsonx_str(cfg, "adaptor", NULL);
    chat_adaptor *a = calloc(1, sizeof *a);
    char vdir[PATH_MAX], afile[PATH_MAX];
    if (!a) st = status_fail(ST_NOMEM, "out of memory");
    else if (strcmp(arch, "blip2-linear-llama"))
        st = status_fail(ST_FORMAT, "%s: architecture \"%s\" (seer reads \"blip2-linear-llama\")", path, arch);
    else if (!vision || !lm || !ad)
        st = status_fail(ST_FORMAT, "%s: needs \"vision\", \"language_model\" and \"adaptor\" paths", path);
    if (!st) st = rel_path(path, vision, vdir, sizeof vdir);
    if (!st) st = rel_path(path, ad, afile, sizeof afile);
    if (!st) st = rel_path(path, lm, lm_dir, cap);
    if (!st) {
        const char *b = strrchr(vision, '/');
        while (b && !b[1] && b > vision) { /* trailing slash */
            const char *p = b - 1;
            while (p > vision && *p != '/') p--;
            b = p;
        }
        snprintf(a->vision_name, sizeof a->vision_name, "%s", b ? b + (*b == '/') : vision);
        size_t k = strlen(a->vision_name);
        if (k && a->vision_name[k - 1] == '/') a->vision_name[k - 1] = 0;
    }
    if (!st && (st = blip2_load(vdir, &a->blip2))) st = status_wrap(st, "vision %s", vdir);
    if (!st && (st = preprocess_load(vdir, &a->pre))) st = status_wrap(st, "vision %s", vdir);
    if (!st) st = chat_linear_load(afile, &a->lin);
    if (!st && a->lin.in != a->blip2->D)
        st = status_fail(ST_MISMATCH, "%s: the adaptor takes %d-wide rows, the Q-Former of %s gives %d", afile,
                         a->lin.in, vdir, a->blip2->D);
    json_decref(cfg);
    if (st) {
        chat_adaptor_close(a);
        return st;
    }
    *out = a;
    return ST_OK;
}

void chat_adaptor_close(chat_adaptor *a) {
    if (!a) return;
    blip2_free(a->blip2);
    chat_linear_release(&a->lin);
    free(a);
}

int chat_adaptor_rows(const chat_adaptor *a) { return a->blip2->nq; }
int chat_adaptor_width(const chat_adaptor *a) { return a->lin.out; }
const char *chat_adaptor_vision_name(const chat_adaptor *a) { return a->vision_name; }

int chat_adaptor_image(const chat_adaptor *a, const image *img, float *rows, float *Z) {
    const blip2_model *m = a->blip2;
    int ph = 0, pw = 0;
    preprocess_out_size(&a->pre, &ph, &pw);
    if (ph != m->image_size || pw != m->image_size)
        return status_fail(ST_MISMATCH, "chat: the preprocessing gives %dx%d, BLIP-2 takes %dx%d", pw, ph,
                           m->image_size, m->image_size);
    float *pix = malloc((size_t)3 * ph * pw * sizeof(float));
    float *ir = malloc(blip2_image_rows_len(m) * sizeof(float));
    float *z = Z ? Z : malloc((size_t)m->nq * m->D * sizeof(float));
    int st = pix && ir && z ? ST_OK : status_fail(ST_NOMEM, "chat: out of memory for image features");
    if (!st) st = preprocess_image(&a->pre, img, pix);
    if (!st) st = blip2_vision(m, pix, 1, ir);
    if (!st) st = blip2_query_output(m, ir, 1, z);
    if (!st) chat_linear_apply(&a->lin, z, m->nq, rows);
    free(pix), free(ir);
    if (z != Z) free(z);
    return st;
}
