/* model/pipeline/embed.h — "embed an image / embed a text": a CLIP or BLIP-2
 * model directory loaded with its tokenizer and preprocessing. The one place
 * that turns a text or a picture into an embedding; ingest, search, the
 * server, seer embed / similarity and the benches all come through here.
 *
 * Families (read from config.json's model_type):
 *   CLIP (CLIPModel, and SigLIP vision towers): one vector per image
 *     (n_vec = 1), the projected class token; texts through the CLIP BPE
 *     tokenizer, up to the text tower's context (77).
 *   BLIP-2 (Blip2ForImageTextRetrieval): n_vec = num_query_tokens (32)
 *     vectors per image, the projected Q-Former query outputs; a text is one
 *     vector, the projected [CLS] of the text-only Q-Former pass, through the
 *     BERT WordPiece tokenizer truncated to EMBED_BLIP2_TEXT_MAX ids. An
 *     image's score for a text is the maximum over its n_vec dot products
 *     (BLIP-2's ITC). embedder_itm gives the ITM head's match logits for
 *     re-ranking.
 * Every vector is L2-normalised and dim long; an image's embedding is
 * (n_vec, dim), its rows back to back.
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

#include "bert_tokenizer.h"
#include "blip2.h"
#include "clip.h"
#include "clip_tokenizer.h"
#include "image.h"
#include "preprocess.h"

#include <stdint.h>

enum { EMBED_IMAGE = CLIP_VISION, EMBED_TEXT = CLIP_TEXT };

typedef enum { EMBED_CLIP = 0, EMBED_BLIP2 = 1 } embed_family;

/* BLIP-2 texts are cut to this many ids ([CLS] .. [SEP]), as its retrieval
 * evaluation (LAVIS, max_length=35) does. */
#define EMBED_BLIP2_TEXT_MAX 35

typedef struct embedder {
    embed_family    family;
    clip_model     *clip;       /* CLIP; NULL for BLIP-2 */
    clip_tokenizer *tok;        /* CLIP, NULL without EMBED_TEXT */
    blip2_model    *blip2;      /* BLIP-2 (always both sides); NULL for CLIP */
    bert_tokenizer *btok;       /* BLIP-2, NULL without EMBED_TEXT */
    preprocess_cfg  pre;        /* valid with EMBED_IMAGE */
    int             dim;        /* embedding size (projection_dim / image_text_hidden_size) */
    int             n_vec;      /* vectors per image: 1 (CLIP), num_query_tokens (BLIP-2) */
    int             px_h, px_w; /* preprocessed image size */
    char            name[256];  /* the model directory's base name */
    char            identity[320]; /* CLIP: "<name>@<16 hex digits>" (weights fingerprint);
                                      BLIP-2: "blip2:<name>@<16 hex digits>" */
} embedder;

int  embedder_load(const char *dir, int parts, embedder **out);
/* An embedder over a model built in memory (benchmarks: clip_random), with
 * the standard CLIP preprocessing at the tower's size and no tokenizer. The
 * embedder takes ownership of m. */
int  embedder_wrap(clip_model *m, const char *name, embedder **out);
/* The same for a BLIP-2 model (blip2_random): BLIP preprocessing (resize to
 * the tower's size, no crop, CLIP mean/std), no tokenizer; owns m. */
int  embedder_wrap_blip2(blip2_model *m, const char *name, embedder **out);
void embedder_free(embedder *e);

/* The ids the text branch consumes for text (CLIP: start/end tokens, cut to
 * the context; BLIP-2: [CLS] .. [SEP], cut to EMBED_BLIP2_TEXT_MAX), at most
 * max_ids of them; *n their count. */
int embedder_tokenize(const embedder *e, const char *text, int32_t *ids, int max_ids, int *n);

/* Floats in one preprocessed image: 3 * px_h * px_w. */
size_t embedder_pixels_len(const embedder *e);

/* Text → out (dim). Tokenised as embedder_tokenize does (truncated). */
int embedder_text(const embedder *e, const char *text, float *out);

/* Token ids (with the start and end tokens, n <= the text context) → out
 * (dim): the text tower (or BLIP-2's text pass) alone, as embedder_text
 * runs it after tokenising. */
int embedder_text_ids(const embedder *e, const int32_t *ids, int n, float *out);

/* RGB image → pixels (embedder_pixels_len floats), per preprocessor_config. */
int embedder_preprocess(const embedder *e, const image *img, float *pixels);

/* n preprocessed images (n, 3, px_h, px_w) → out (n, n_vec, dim), as one batch. */
int embedder_images(const embedder *e, const float *pixels, int n, float *out);

/* BLIP-2 image-text matching for re-ranking: n_img preprocessed images
 * (n_img, 3, px_h, px_w) against n_txt texts (tokenised as embedder_tokenize
 * does) → logits (n_img, n_txt, 2) = {no match, match}; prob (n_img, n_txt,
 * may be NULL) = softmax(logits)[1]. Each image runs the vision tower once.
 * ST_UNSUPPORTED for a CLIP embedder, ST_ARG without the text side. */
int embedder_itm(const embedder *e, const float *pixels, int n_img, const char *const *texts, int n_txt,
                 float *logits, float *prob);

/* What decoding a query picture found (the *_file / *_bytes calls fill it
 * when given; format is a static string, NULL until a decode succeeded). */
typedef struct {
    const char *format;        /* "jpeg", "png", ... */
    int         width, height; /* after EXIF orientation */
} embed_image_info;

/* One decoded RGB image → out (n_vec, dim): preprocess + tower. img is borrowed. */
int embedder_image(const embedder *e, const image *img, float *out);

/* Decode the file at path once (o: limits and EXIF orientation; NULL means
 * image_opts_default(), EXIF applied) and preprocess it into pixels
 * (embedder_pixels_len floats): one slot of a batch for embedder_images.
 * Decode errors name the path. */
int embedder_pixels_file(const embedder *e, const char *path, const image_opts *o, float *pixels,
                         embed_image_info *info);

/* Decode the file at path once, as above, and embed it → out (n_vec, dim). */
int embedder_image_file(const embedder *e, const char *path, const image_opts *o, float *out,
                        embed_image_info *info);

/* Decode n bytes of an image in memory (an upload; `what` names it in error
 * messages, NULL reads as "image") once and embed it → out (dim). The bytes
 * are borrowed. out (n_vec, dim). */
int embedder_image_bytes(const embedder *e, const void *bytes, size_t n, const char *what, const image_opts *o,
                         float *out, embed_image_info *info);

#endif
