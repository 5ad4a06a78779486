/* model/pipeline/embed.c — see embed.h. */
#include "embed.h"
#include "checkpoint.h"
#include "file.h"
#include "status.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* A fingerprint of the model: config.json, every tensor's name, dtype and
 * shape, and the bytes of the two projections (which any fine-tune moves). */
static int fingerprint(const char *dir, uint64_t *out) {
    char path[PATH_MAX];
    int st;
    XXH3_state_t *h = XXH3_createState();
    if (!h) return status_fail(ST_NOMEM, "out of memory");
    XXH3_64bits_reset(h);
    uint8_t *cfg = NULL;
    size_t n = 0;
    if ((st = file_join(path, sizeof path, dir, "config.json")) || (st = file_read(path, 1 << 24, &cfg, &n))) {
        XXH3_freeState(h);
        return st;
    }
    XXH3_64bits_update(h, cfg, n);
    free(cfg);
    checkpoint *ck;
    if ((st = checkpoint_open(dir, &ck))) {
        XXH3_freeState(h);
        return st;
    }
    for (size_t i = 0; i < checkpoint_count(ck); i++) {
        const tensor *t = checkpoint_at(ck, i);
        XXH3_64bits_update(h, t->name, strlen(t->name) + 1);
        XXH3_64bits_update(h, &t->dtype, sizeof t->dtype);
        XXH3_64bits_update(h, t->shape, sizeof(int64_t) * (size_t)t->ndim);
        if (!strcmp(t->name, "visual_projection.weight") || !strcmp(t->name, "text_projection.weight"))
            XXH3_64bits_update(h, t->data, t->nbytes);
    }
    checkpoint_close(ck);
    *out = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    return ST_OK;
}

int embedder_load(const char *dir, int parts, embedder **out) {
    *out = NULL;
    embedder *e = calloc(1, sizeof *e);
    if (!e) return status_fail(ST_NOMEM, "out of memory");
    int st;
    char real[PATH_MAX];
    const char *base = realpath(dir, real) ? real : dir;
    const char *slash = strrchr(base, '/');
    snprintf(e->name, sizeof e->name, "%.255s", slash && slash[1] ? slash + 1 : base);
    uint64_t fp = 0;
    if ((st = fingerprint(dir, &fp))) goto fail;
    snprintf(e->identity, sizeof e->identity, "%s@%016llx", e->name, (unsigned long long)fp);
    if ((st = clip_load(dir, parts, &e->clip))) goto fail;
    e->dim = e->clip->proj_dim;
    e->n_vec = 1;
    if (e->dim <= 0) {
        st = status_fail(ST_MISMATCH, "%s: the model has no projection (not a CLIPModel checkpoint?)", dir);
        goto fail;
    }
    if ((parts & EMBED_TEXT) && (st = clip_tokenizer_load(dir, &e->tok))) goto fail;
    if (parts & EMBED_IMAGE) {
        if ((st = preprocess_load(dir, &e->pre))) goto fail;
        preprocess_out_size(&e->pre, &e->px_h, &e->px_w);
        int S = e->clip->vision.image_size;
        if (e->px_h != S || e->px_w != S) {
            st = status_fail(ST_MISMATCH, "%s: preprocessor_config.json gives %dx%d images, the vision tower takes %dx%d",
                             dir, e->px_w, e->px_h, S, S);
            goto fail;
        }
    }
    *out = e;
    return ST_OK;
fail:
    embedder_free(e);
    return st;
}

int embedder_wrap(clip_model *m, const char *name, embedder **out) {
    *out = NULL;
    embedder *e = calloc(1, sizeof *e);
    if (!e) {
        clip_free(m);
        return status_fail(ST_NOMEM, "out of memory");
    }
    e->clip = m;
    e->dim = m->proj_dim;
    e->n_vec = 1;
    e->pre = preprocess_cfg_clip(m->vision.image_size);
    preprocess_out_size(&e->pre, &e->px_h, &e->px_w);
    snprintf(e->name, sizeof e->name, "%.255s", name);
    snprintf(e->identity, sizeof e->identity, "%.255s@random", name);
    *out = e;
    return ST_OK;
}

void embedder_free(embedder *e) {
    if (!e) return;
    clip_free(e->clip);
    clip_tokenizer_free(e->tok);
    free(e);
}

size_t embedder_pixels_len(const embedder *e) { return (size_t)3 * e->px_h * e->px_w; }

int embedder_text(const embedder *e, const char *text, float *out) {
    if (!e->tok) return status_fail(ST_ARG, "embedder: the text tower is not loaded");
    int32_t ids[512];
    int n = 0, ctx = e->clip->text.n_pos < 512 ? e->clip->text.n_pos : 512;
    int st = clip_tokenizer_encode(e->tok, text, ids, ctx, &n);
    if (st) return st;
    return embedder_text_ids(e, ids, n, out);
}

int embedder_text_ids(const embedder *e, const int32_t *ids, int n, float *out) {
    return clip_encode_text(e->clip, ids, n, out);
}

int embedder_preprocess(const embedder *e, const image *img, float *pixels) {
    if (!e->px_h) return status_fail(ST_ARG, "embedder: the vision tower is not loaded");
    return preprocess_image(&e->pre, img, pixels);
}

int embedder_images(const embedder *e, const float *pixels, int n, float *out) {
    return clip_encode_images(e->clip, pixels, n, out);
}

int embedder_image(const embedder *e, const image *img, float *out) {
    float *pix = malloc(embedder_pixels_len(e) * sizeof *pix);
    if (!pix) return status_fail(ST_NOMEM, "out of memory");
    int st = embedder_preprocess(e, img, pix);
    if (!st) st = embedder_images(e, pix, 1, out);
    free(pix);
    return st;
}

/* The decoded picture's facts into *info (may be NULL). */
static void note_image(embed_image_info *info, const image *img, const char *format) {
    if (!info) return;
    info->format = format;
    info->width = img->w, info->height = img->h;
}

/* Decode path once (o NULL: the defaults), note the picture's facts, then
 * run step (preprocess only, or the whole embedding) on it into out. */
static int with_file(const embedder *e, const char *path, const image_opts *o, float *out, embed_image_info *info,
                     int (*step)(const embedder *, const image *, float *)) {
    image_opts io = o ? *o : image_opts_default();
    image img = {0};
    const char *format = NULL;
    int st = image_load(path, &io, &img, &format);
    note_image(info, &img, format);
    if (!st) st = step(e, &img, out);
    image_release(&img);
    return st;
}

int embedder_pixels_file(const embedder *e, const char *path, const image_opts *o, float *pixels,
                         embed_image_info *info) {
    return with_file(e, path, o, pixels, info, embedder_preprocess);
}

int embedder_image_file(const embedder *e, const char *path, const image_opts *o, float *out,
                        embed_image_info *info) {
    return with_file(e, path, o, out, info, embedder_image);
}

int embedder_image_bytes(const embedder *e, const void *bytes, size_t n, const char *what, const image_opts *o,
                         float *out, embed_image_info *info) {
    image_opts io = o ? *o : image_opts_default();
    image img = {0};
    const char *format = NULL;
    int st = image_decode(bytes, n, what, &io, &img, &format);
    note_image(info, &img, format);
    if (!st) st = embedder_image(e, &img, out);
    image_release(&img);
    return st;
}
