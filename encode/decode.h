/* encode/decode.h — the decoders behind image_decode() and image_meta_read()
 * for the formats stb_image does not read, one file each (internal to the
 * encode layer; callers use image.h / image_meta.h).
 *
 *   decode_webp.c  WebP (libwebp; still images, and the first frame of an
 *                  animation)
 *   decode_heif.c  HEIC / HEIF / AVIF (libheif 1.15 with Debian's libde265
 *                  for HEVC and dav1d / aom for AV1)
 *   decode_tiff.c  TIFF (libtiff 4.5, from memory, first page, via its RGBA
 *                  reader: any bit depth, photometric and compression libtiff
 *                  knows)
 *   decode_raw.c   camera RAW (libraw_r, from memory; embedded preview or
 *                  demosaic: see there)
 *
 * Each decode_X(b, n, what, maxpx, exif_rotate, out) checks the size its
 * header claims against IMAGE_MAX_SIDE and maxpx (decode_check_size: ST_TOO_LARGE)
 * before allocating pixels, returns ST_FORMAT for corrupt or truncated data,
 * ST_UNSUPPORTED for a valid file of a kind the library cannot decode here
 * (e.g. no HEVC decoder), ST_NOMEM; on failure *out is {0, 0, NULL}. Each
 * applies the orientation rule of its format (see image.h).
 *
 * Each decode_X_meta(b, n, m) fills m->width, m->height (as stored, before
 * orientation), m->orientation and whatever EXIF the container carries
 * (through meta_exif_parse), never failing the file for malformed EXIF.
 * Returns ST_OK, or ST_FORMAT when even the header cannot be read.
 *
 * Thread-safety: all reentrant (each call has its own library handle;
 * libtiff's error handlers are per handle, libraw is the thread-safe _r
 * build).
 */
#ifndef SEER_DECODE_H
#define SEER_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"
#include "image_meta.h"
#include "status.h"

/* ST_TOO_LARGE (naming what and fmt) unless 1 <= w, h <= IMAGE_MAX_SIDE and
 * w*h <= maxpx. */
static inline int decode_check_size(long long w, long long h, long long maxpx, const char *what, const char *fmt) {
    if (w <= 0 || h <= 0 || w > IMAGE_MAX_SIDE || h > IMAGE_MAX_SIDE)
        return status_fail(ST_TOO_LARGE, "%s: %s header claims %lldx%lld pixels: each side must be 1..%d", what, fmt,
                           w, h, IMAGE_MAX_SIDE);
    if (w * h > maxpx)
        return status_fail(ST_TOO_LARGE, "%s: %s of %lldx%lld = %lld pixels is over the %lld-pixel limit", what,
                           fmt, w, h, w * h, maxpx);
    return ST_OK;
}

int decode_webp(const uint8_t *b, size_t n, const char *what, long long maxpx, int exif_rotate, image *out);
int decode_heif(const uint8_t *b, size_t n, const char *what, const char *fmt, long long maxpx, image *out);
int decode_tiff(const uint8_t *b, size_t n, const char *what, long long maxpx, int exif_rotate, image *out);
int decode_raw(const uint8_t *b, size_t n, const char *what, long long maxpx, int exif_rotate, image *out);

int decode_webp_meta(const uint8_t *b, size_t n, image_meta *m);
int decode_heif_meta(const uint8_t *b, size_t n, image_meta *m);
int decode_tiff_meta(const uint8_t *b, size_t n, image_meta *m);
int decode_raw_meta(const uint8_t *b, size_t n, image_meta *m);

/* Parse an EXIF block — a TIFF header and IFDs, with or without the
 * "Exif\0\0" prefix — into m: taken / taken_offset_min / taken_source, make,
 * model, GPS, orientation (only fields the block carries are written). Never
 * reads outside [exif, exif + n); malformed EXIF leaves fields as they were.
 * (encode/meta_exif.c) */
void meta_exif_parse(const uint8_t *exif, size_t n, image_meta *m);

/* A blank image_meta (format NULL, orientation 1, offset unknown). */
void meta_init(image_meta *m);

#endif
