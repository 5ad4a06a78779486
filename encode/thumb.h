/* encode/thumb.h — small JPEG thumbnails for the web grid.
 *
 * The longest side becomes max_side (images already smaller are not
 * enlarged), with Pillow-exact bicubic (antialiased when shrinking), then
 * baseline JPEG through stb_image_write.
 *
 * Ownership: *jpeg is malloc'd; the caller frees it. Thread-safety: reentrant.
 */
#ifndef SEER_THUMB_H
#define SEER_THUMB_H

#include "image.h"

#include <stddef.h>
#include <stdint.h>

int thumb_jpeg(const image *img, int max_side, int quality, uint8_t **jpeg, size_t *len);

#endif
