/* model/pipeline/embed.h — "embed an image / embed a text": a CLIP model
 * directory loaded with its tokenizer and preprocessing. The one place that
 * turns a text or a picture into an embedding; ingest, search, the server,
 * seer embed / similarity and the benches all come through here.
 *
 *     embedder *e;
 *     if (embedder_load("models/clip-vit-base-patch32", EMBED_TEXT | EMBED_IMAGE, &e)) die(status_message());
 *     float *v = malloc(e->dim * sizeof *v);
 *     embedder_text(e, "a photo of a cat", v);          // L2-normalised
 *     embedder_image_file(e, "cat.jpg", NULL, v, NULL);  // decoded once, EXIF applied
 *     embedder_free(e);
 *
 * Image steps, in order: decode (encode/image.h: limits, EXIF orientation per
 * image_opts) → preprocess (preprocessor_config.json: resize, crop, rescale,
 * normalise) → vision tower + projection → L2 normalisation. One image at a
 * time: embedder_image / _file / _bytes. Batches (one GEMM pass for n
 * images): fill n slots of pixels with embedder_preprocess or
 * embedder_pixels_file (decode + preprocess), then embedder_images.
 *
 * Thread-safety: after open everything is read-only; any thread may call the
 * encode functions concurrently (each call allocates its own activations).
 */
#ifndef SEER_EMBED_H
#define SEER_EMBED_H

#include "clip.h"
#include "clip_tokenizer.h"
#include "image.h"
#include "preprocess.h"

#include <stdint.h>

enum { EMBED_IMAGE = CLIP_VISION, EMBED_TEXT = CLIP_TEXT };

typedef struct embedder {
    clip_model     *clip;
    clip_tokenizer *tok;        /* NULL without EMBED_TEXT */
    preprocess_cfg  pre;        /* valid with EMBED_IMAGE */
    int             dim;        /* embedding size (projection_dim) */
    int             n_vec;      /* vectors per image: 1 for CLIP (BLIP-2: 32); the
                                   image calls write (n_vec, dim) per image */
    int             px_h, px_w; /* preprocessed image size */
    char            name[256];  /* the model directory's base name */
    char            identity[320]; /* "<name>@<16 hex digits>": weights fingerprint */
} embedder;

int  embedder_load(const char *dir, int parts, embedder **out);
/* An embedder over a model built in memory (benchmarks: clip_random), with
 * the standard CLIP preprocessing at the tower's size and no tokenizer. The
 * embedder takes ownership of m. */
int  embedder_wrap(clip_model *m, const char *name, embedder **out);
void embedder_free(embedder *e);

/* Floats in one preprocessed image: 3 * px_h * px_w. */
size_t embedder_pixels_len(const embedder *e);

/* Text → out (dim). Tokenised to the model's context (77), truncated. */
int embedder_text(const embedder *e, const char *text, float *out);

/* Token ids (with the start and end tokens, n <= the text context) → out
 * (dim): the text tower alone, as embedder_text runs it after tokenising. */
int embedder_text_ids(const embedder *e, const int32_t *ids, int n, float *out);

/* RGB image → pixels (embedder_pixels_len floats), per preprocessor_config. */
int embedder_preprocess(const embedder *e, const image *img, float *pixels);

/* n preprocessed images (n, 3, px_h, px_w) → out (n, dim), as one batch. */
int embedder_images(const embedder *e, const float *pixels, int n, float *out);

/* What decoding a query picture found (the *_file / *_bytes calls fill it
 * when given; format is a static string, NULL until a decode succeeded). */
typedef struct {
    const char *format;        /* "jpeg", "png", ... */
    int         width, height; /* after EXIF orientation */
} embed_image_info;

/* One decoded RGB image → out (dim): preprocess + tower. img is borrowed. */
int embedder_image(const embedder *e, const image *img, float *out);

/* Decode the file at path once (o: limits and EXIF orientation; NULL means
 * image_opts_default(), EXIF applied) and preprocess it into pixels
 * (embedder_pixels_len floats): one slot of a batch for embedder_images.
 * Decode errors name the path. */
int embedder_pixels_file(const embedder *e, const char *path, const image_opts *o, float *pixels,
                         embed_image_info *info);

/* Decode the file at path once, as above, and embed it → out (dim). */
int embedder_image_file(const embedder *e, const char *path, const image_opts *o, float *out,
                        embed_image_info *info);

/* Decode n bytes of an image in memory (an upload; `what` names it in error
 * messages, NULL reads as "image") once and embed it → out (dim). The bytes
 * are borrowed. */
int embedder_image_bytes(const embedder *e, const void *bytes, size_t n, const char *what, const image_opts *o,
                         float *out, embed_image_info *info);

#endif
