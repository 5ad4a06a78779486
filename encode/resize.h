/* encode/resize.h — Pillow-exact resampling of 8-bit RGB images.
 *
 *     image small;
 *     int st = resize_bicubic(&img, 298, 224, &small);   // == PIL img.resize((298, 224), Image.BICUBIC)
 *     ...
 *     image_release(&small);
 *
 * Output is byte-identical to Pillow's Image.resize(size, filter) with no box
 * and no reducing_gap (Pillow's `ImagingResample` convolution resampler),
 * which is what Hugging Face CLIPImageProcessor / SiglipImageProcessor run:
 *   - separable, horizontal pass first, then vertical; a pass is skipped when
 *     that dimension is unchanged;
 *   - per output pixel the filter is centred at (i + 0.5) * in/out and widened
 *     by max(in/out, 1) when downscaling (antialiasing), taps clipped to the
 *     image and the weights renormalised to sum 1;
 *   - weights become 22-bit fixed point (rounded half away from zero); each
 *     output is (2^21 + sum(pixel * weight)) >> 22 clamped to 0..255, so the
 *     intermediate image between the passes is uint8, as in Pillow.
 * Filters: bicubic (a = -0.5, support 2), bilinear (triangle, support 1),
 * lanczos (a = 3, support 3).
 *
 * Cost: O((out_w * in_h * taps_x) + (out_w * out_h * taps_y)) int32 MACs; the
 * coefficient tables are built once per call (no global state).
 *
 * Ownership: *out is a new malloc'd image (free with image_release); in is not
 * modified and must not alias out. On failure *out is {0, 0, NULL}.
 * Thread-safety: reentrant.
 */
#ifndef SEER_RESIZE_H
#define SEER_RESIZE_H

#include "image.h"

typedef enum {
    RESIZE_BILINEAR = 2, /* values are PIL's Image.BILINEAR / BICUBIC / LANCZOS */
    RESIZE_BICUBIC  = 3,
    RESIZE_LANCZOS  = 1,
} resize_filter;

/* Resize in to out_w x out_h with `filter`. ST_ARG for an empty input, sizes
 * <= 0 or above IMAGE_MAX_SIDE, or an unknown filter; ST_NOMEM. */
int resize_image(const image *in, int out_w, int out_h, resize_filter filter, image *out);

/* resize_image(in, out_w, out_h, RESIZE_BICUBIC, out). */
int resize_bicubic(const image *in, int out_w, int out_h, image *out);

#endif
