/* encode/embed.h — "embed an image / embed a text": a CLIP model directory
 * loaded with its tokenizer and preprocessing, as ingest, search and the
 * server use it.
 *
 *     embedder *e;
 *     if (embedder_open("models/clip-vit-base-patch32", EMBED_TEXT | EMBED_IMAGE, &e)) die(status_message());
 *     float *v = malloc(embedder_dim(e) * sizeof *v);
 *     embedder_text(e, "a photo of a cat", v);          // L2-normalised
 *     embedder_close(e);
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
    int             px_h, px_w; /* preprocessed image size */
    char            name[256];  /* the model directory's base name */
    char            identity[320]; /* "<name>@<16 hex digits>": weights fingerprint */
} embedder;

int  embedder_open(const char *dir, int parts, embedder **out);
/* An embedder over a model built in memory (benchmarks: clip_random), with
 * the standard CLIP preprocessing at the tower's size and no tokenizer. The
 * embedder takes ownership of m. */
int  embedder_wrap(clip_model *m, const char *name, embedder **out);
void embedder_close(embedder *e);

/* Floats in one preprocessed image: 3 * px_h * px_w. */
size_t embedder_pixels_len(const embedder *e);

/* Text → out (dim). Tokenised to the model's context (77), truncated. */
int embedder_text(const embedder *e, const char *text, float *out);

/* RGB image → pixels (embedder_pixels_len floats), per preprocessor_config. */
int embedder_preprocess(const embedder *e, const image_t *img, float *pixels);

/* n preprocessed images (n, 3, px_h, px_w) → out (n, dim), as one batch. */
int embedder_images(const embedder *e, const float *pixels, int n, float *out);

#endif
