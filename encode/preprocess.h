/* encode/preprocess.h — Hugging Face CLIPImageProcessor / SiglipImageProcessor
 * / BlipImageProcessor (BLIP-2: like SigLIP, no crop) in C: RGB image -> normalised float32 CHW tensor for a vision tower.
 *
 *     preprocess_cfg cfg;
 *     if (preprocess_load("models/clip-vit-base-patch32", &cfg)) return ...;
 *     int h, w;
 *     preprocess_out_size(&cfg, &h, &w);               // 224, 224
 *     float *x = malloc(sizeof(float) * 3 * h * w);    // (3, h, w)
 *     int st = preprocess_image(&cfg, &img, x);
 *
 * Steps (each switched by its do_* flag, in this order):
 *   1. resize (bicubic, Pillow-exact, see resize.h):
 *        shortest_edge S > 0: the short side becomes S, the long side
 *          int(S * long / short) (truncation), as HF get_resize_output_image_size;
 *        else straight to size_h x size_w (SigLIP);
 *   2. center crop to crop_h x crop_w with top = (H - crop_h) // 2,
 *      left = (W - crop_w) // 2 (HF floor rule, not torchvision's round); a
 *      crop larger than the image pads with 0 pixels, as HF does;
 *   3. x * rescale (float32 of the double product, as HF/numpy);
 *   4. (x - mean[c]) / std[c] in float32.
 * do_convert_rgb is implied: image is always RGB (see image.h).
 *
 * Ownership: a preprocess_cfg is a plain value (no pointers). preprocess_image
 * writes exactly 3*out_h*out_w floats to the caller's buffer.
 * Thread-safety: reentrant; one cfg may be shared read-only by any number of
 * threads.
 */
#ifndef SEER_PREPROCESS_H
#define SEER_PREPROCESS_H

#include <jansson.h>

#include "image.h"

typedef struct {
    int   do_resize, do_center_crop, do_rescale, do_normalize, do_convert_rgb;
    int   shortest_edge; /* size.shortest_edge (CLIP); 0 when size is height/width */
    int   size_h, size_w; /* size.height/width (SigLIP: resize straight to this) */
    int   crop_h, crop_w;
    float rescale;        /* rescale_factor */
    float mean[3], std[3];
    int   resample;       /* PIL filter id: 3 = bicubic (2 bilinear, 1 lanczos also accepted) */
} preprocess_cfg;

/* The CLIP defaults (openai/clip-vit-base-patch32): shortest_edge 224, crop
 * 224x224, rescale 1/255, the CLIP mean/std, bicubic. */
preprocess_cfg preprocess_cfg_clip(int size);

/* Read model_dir/preprocessor_config.json. Accepts size as {"shortest_edge"},
 * {"height","width"} or a legacy int (shortest_edge for CLIP, height=width for
 * a SigLIP processor) and crop_size as {"height","width"} or an int. Absent
 * keys take the HF CLIPImageProcessor defaults. ST_NOT_FOUND when the file is
 * missing, ST_FORMAT for malformed JSON or values, ST_UNSUPPORTED for a
 * resample filter other than bicubic/bilinear/lanczos. */
int  preprocess_load(const char *model_dir, preprocess_cfg *cfg);

/* Same, from an already-parsed JSON object (borrowed); `what` names it in
 * error messages. */
int  preprocess_from_json(json_t *root, const char *what, preprocess_cfg *cfg);

/* Output height/width: the crop when do_center_crop, else size_h x size_w when
 * resizing straight to a size; 0 x 0 when it depends on the image (no crop and
 * shortest_edge resize, or no resize), which preprocess_image refuses. */
void preprocess_out_size(const preprocess_cfg *cfg, int *h, int *w);

/* img (RGB) -> out, float32 (3, out_h, out_w) per preprocess_out_size.
 * ST_ARG for an empty image, ST_UNSUPPORTED for a cfg whose output size is not
 * fixed, ST_NOMEM. */
int  preprocess_image(const preprocess_cfg *cfg, const image *img, float *out);

#endif
