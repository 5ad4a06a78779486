/* model/pipeline/embed.c — see embed.h. */
#include "embed.h"
#include "checkpoint.h"
#include "file.h"
#include "jsonx.h"
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
        if (!strcmp(t->name, "visual_projection.weight") || !strcmp(t->name, "text_projection.weight") ||
            !strcmp(t->name, "vision_projection.weight"))
            XXH3_64bits_update(h, t->data, t->nbytes);
    }
    checkpoint_close(ck);
    *out = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    return ST_OK;
}

/* The family of the model in dir, from config.json's model_type (a
 * missing or unreadable config is left for the loader to report). */
static embed_family family_of(const char *dir) {
    char path[PATH_MAX];
    json_t *root;
    if (file_join(path, sizeof path, dir, "config.json") || jsonx_load(path, &root)) return EMBED_CLIP;
    const char *mt = jsonx_str(root, "model_type", "");
    embed_family f = !strcmp(mt, "blip-2") || !strcmp(mt, "blip_2") ? EMBED_BLIP2 : EMBED_CLIP;
    json_decref(root);
    return f;
}

static int load_blip2(embedder *e, const char *dir, int parts) {
    int st;
    if ((st = blip2_load(dir, &e->blip2))) return st;
    e->dim = e->blip2->embed_dim;
    e->n_vec = e->blip2->nq;
    if (parts & EMBED_TEXT) {
        if (!e->blip2->text_ok)
            return status_fail(ST_MISMATCH, "%s: this BLIP-2 checkpoint has no text side (word embeddings, "
                               "text feed-forward or text_projection missing)", dir);
        if ((st = bert_tokenizer_load(dir, &e->btok))) return st;
    }
    if (parts & EMBED_IMAGE) {
        if ((st = preprocess_load(dir, &e->pre))) return st;
        preprocess_out_size(&e->pre, &e->px_h, &e->px_w);
        int S = e->blip2->image_size;
        if (e->px_h != S || e->px_w != S)
            return status_fail(ST_MISMATCH, "%s: preprocessor_config.json gives %dx%d images, the vision tower takes %dx%d",
                               dir, e->px_w, e->px_h, S, S);
    }
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
    e->family = family_of(dir);
    e->n_vec = 1;
    if (e->family == EMBED_BLIP2) {
        snprintf(e->identity, sizeof e->identity, "blip2:%.230s@%016llx", e->name, (unsigned long long)fp);
        if ((st = load_blip2(e, dir, parts))) goto fail;
        *out = e;
        return ST_OK;
    }
    snprintf(e->identity, sizeof e->identity, "%s@%016llx", e->name, (unsigned long long)fp);
    if ((st = clip_load(dir, parts, &e->clip))) goto fail;
    e->dim = e->clip->proj_dim;
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

int embedder_wrap_blip2(blip2_model *m, const char *name, embedder **out) {
    *out = NULL;
    embedder *e = calloc(1, sizeof *e);
    if (!e) {
        blip2_free(m);
        return status_fail(ST_NOMEM, "out of memory");
    }
    e->family = EMBED_BLIP2;
    e->blip2 = m;
    e->dim = m->embed_dim;
    e->n_vec = m->nq;
    e->pre = preprocess_cfg_clip(m->image_size);
    e->pre.do_center_crop = 0, e->pre.shortest_edge = 0;
    e->pre.size_h = e->pre.size_w = m->image_size;
    preprocess_out_size(&e->pre, &e->px_h, &e->px_w);
    snprintf(e->name, sizeof e->name, "%.255s", name);
    snprintf(e->identity, sizeof e->identity, "blip2:%.230s@random", name);
    *out = e;
    return ST_OK;
}

void embedder_free(embedder *e) {
    if (!e) return;
    clip_free(e->clip);
    clip_tokenizer_free(e->tok);
    blip2_free(e->blip2);
    bert_tokenizer_free(e->btok);
    free(e);
}

size_t embedder_pixels_len(const embedder *e) { return (size_t)3 * e->px_h * e->px_w; }

int embedder_tokenize(const embedder *e, const char *text, int32_t *ids, int max_ids, int *n) {
    *n = 0;
    if (e->family == EMBED_BLIP2) {
        if (!e->btok) return status_fail(ST_ARG, "embedder: the text side is not loaded");
        int cap = max_ids < EMBED_BLIP2_TEXT_MAX ? max_ids : EMBED_BLIP2_TEXT_MAX;
        return bert_tokenizer_encode(e->btok, text, ids, cap, n, NULL);
    }
    if (!e->tok) return status_fail(ST_ARG, "embedder: the text tower is not loaded");
    int ctx = e->clip->text.n_pos < max_ids ? e->clip->text.n_pos : max_ids;
    return clip_tokenizer_encode(e->tok, text, ids, ctx, n);
}

int embedder_text(const embedder *e, const char *text, float *out) {
    int32_t ids[512];
    int n = 0;
    int st = embedder_tokenize(e, text, ids, 512, &n);
    if (st) return st;
    return embedder_text_ids(e, ids, n, out);
}

int embedder_text_ids(const embedder *e, const int32_t *ids, int n, float *out) {
    if (e->family == EMBED_BLIP2) return blip2_text_feature(e->blip2, ids, n, NULL, out);
    return clip_encode_text(e->clip, ids, n, out);
}

int embedder_preprocess(const embedder *e, const image *img, float *pixels) {
    if (!e->px_h) return status_fail(ST_ARG, "embedder: the vision tower is not loaded");
    return preprocess_image(&e->pre, img, pixels);
}

int embedder_images(const embedder *e, const float *pixels, int n, float *out) {
    if (e->family != EMBED_BLIP2) return clip_encode_images(e->clip, pixels, n, out);
    if (n <= 0) return status_fail(ST_ARG, "embedder: batch of %d images", n);
    float *rows = malloc((size_t)n * blip2_image_rows_len(e->blip2) * sizeof(float));
    if (!rows) return status_fail(ST_NOMEM, "embedder: cannot allocate image rows for %d images", n);
    int st = blip2_vision(e->blip2, pixels, n, rows);
    if (!st) st = blip2_image_features(e->blip2, rows, n, NULL, out);
    free(rows);
    return st;
}

int embedder_itm(const embedder *e, const float *pixels, int n_img, const char *const *texts, int n_txt,
                 float *logits, float *prob) {
    if (e->family != EMBED_BLIP2)
        return status_fail(ST_UNSUPPORTED, "embedder: %s is not a BLIP-2 model; image-text matching needs its ITM head",
                           e->name);
    if (!e->btok || !e->px_h) return status_fail(ST_ARG, "embedder: ITM needs both the image and the text side");
    if (n_img < 0 || n_txt < 0) return status_fail(ST_ARG, "embedder: %d images, %d texts", n_img, n_txt);
    int32_t (*ids)[EMBED_BLIP2_TEXT_MAX] = malloc(((size_t)n_txt + 1) * sizeof *ids);
    int *nid = malloc(((size_t)n_txt + 1) * sizeof *nid);
    float *rows = malloc(blip2_image_rows_len(e->blip2) * sizeof(float));
    int st = ids && nid && rows ? ST_OK : status_fail(ST_NOMEM, "embedder: out of memory");
    for (int t = 0; t < n_txt && !st; t++) st = embedder_tokenize(e, texts[t], ids[t], EMBED_BLIP2_TEXT_MAX, &nid[t]);
    for (int i = 0; i < n_img && !st; i++) {
        st = blip2_vision(e->blip2, pixels + (size_t)i * embedder_pixels_len(e), 1, rows);
        for (int t = 0; t < n_txt && !st; t++) {
            float *lg = logits + ((size_t)i * n_txt + t) * 2;
            st = blip2_itm(e->blip2, rows, ids[t], nid[t], lg);
            if (!st && prob) prob[(size_t)i * n_txt + t] = blip2_itm_prob(lg);
        }
    }
    free(ids), free(nid), free(rows);
    return st;
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
