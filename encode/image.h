/* encode/image.h — decode untrusted image bytes into 8-bit RGB.
 *
 *     image_opts o = image_opts_default();
 *     image img;
 *     const char *fmt;
 *     int st = image_load("cat.jpg", &o, &img, &fmt);
 *     if (st) { log_warn("skip: %s", status_message()); return st; }
 *     ... img.rgb[(y * img.w + x) * 3 + c] ...
 *     image_release(&img);
 *
 * Formats (stb_image, compiled in encode/stb_impl.c): JPEG baseline and
 * progressive (incl. Adobe CMYK), PNG (1-16 bit, palette, grey, alpha,
 * interlaced), BMP, GIF (first frame only), TGA, PNM (P5/P6, 8-bit;
 * 16-bit PNM is refused with ST_UNSUPPORTED).
 *
 * Semantics follow PIL `Image.open(f).convert("RGB")`:
 *   - alpha is dropped, NOT composited onto a background;
 *   - grey is replicated into R=G=B; palettes are expanded;
 *   - 16-bit channels keep their high byte (what Pillow does for 16-bit RGB
 *     PNGs; for 16-bit *grey* PNGs Pillow clips the value to 255 instead, a
 *     difference seer accepts);
 *   - EXIF orientation is applied only when opts.exif_rotate is set (PIL itself
 *     never applies it; the CLIP fixtures were made without it).
 *
 * Decompression-bomb guard: the header is read first (stbi_info_from_memory)
 * and the image is refused with ST_TOO_LARGE, before any pixel buffer is
 * allocated, when a side exceeds IMAGE_MAX_SIDE or w*h exceeds
 * opts.max_pixels. Inputs above IMAGE_MAX_FILE_BYTES are refused likewise.
 * Corrupt, truncated or non-image input gives ST_FORMAT; an empty input gives
 * ST_FORMAT. (Truncation is caught for JPEG, PNG and uncompressed BMP; stb
 * decodes a truncated GIF or RLE TGA with the missing pixels zero, where
 * Pillow would raise. Transparent GIF pixels may differ from Pillow's palette
 * colour.) No input can crash the decoder (stb is fuzzed upstream; seer's
 * bad-input tests run under ASan).
 *
 * Ownership: image.rgb is malloc'd by the function that fills the image
 * and released by image_release() (which leaves {0, 0, NULL}, so a second free is
 * harmless). On failure the output image is left as {0, 0, NULL}.
 * The *format strings are static constants.
 *
 * Thread-safety: every function is reentrant; independent images may be
 * decoded on any number of threads. (The stb failure hint quoted in error
 * messages is a process-global in stb and may name another thread's failure.)
 */
#ifndef SEER_IMAGE_H
#define SEER_IMAGE_H

#include <stddef.h>
#include <stdint.h>

/* Hard caps, independent of image_opts. */
#define IMAGE_MAX_SIDE        (1 << 16)               /* pixels per side */
#define IMAGE_MAX_FILE_BYTES  ((size_t)256 << 20)     /* 256 MiB of encoded bytes */
#define IMAGE_DEFAULT_MAX_PIXELS 100000000LL          /* 100 Mpx = 300 MB of RGB */

typedef struct {
    int w, h;
    uint8_t *rgb; /* (h, w, 3) row-major, malloc'd; NULL when empty */
} image;

typedef struct {
    long long max_pixels; /* refuse w*h above this before decoding (<= 0: IMAGE_DEFAULT_MAX_PIXELS) */
    int exif_rotate;      /* apply EXIF orientation 1-8 to JPEGs */
} image_opts;

/* {max_pixels = IMAGE_DEFAULT_MAX_PIXELS, exif_rotate = 1}. */
image_opts image_opts_default(void);

/* Decode n bytes of an in-memory file into *out (RGB, see above). o may be
 * NULL for the defaults. format, when not NULL, receives "jpeg", "png", "bmp",
 * "gif", "tga" or "pnm" on success. Error messages start with `what` (a path,
 * "upload"...; NULL reads as "image"). */
int  image_decode(const void *bytes, size_t n, const char *what, const image_opts *o,
                  image *out, const char **format);

/* Read path (at most IMAGE_MAX_FILE_BYTES) and image_decode() it. */
int  image_load(const char *path, const image_opts *o, image *out, const char **format);

/* Free img->rgb and reset img to {0, 0, NULL}. NULL is ignored. */
void image_release(image *img);

/* Allocate an uninitialised w x h image (ST_ARG for sides <= 0 or above
 * IMAGE_MAX_SIDE, ST_NOMEM). */
int  image_alloc(int w, int h, image *out);

/* Pad to a max(w,h) square filled with `fill`, the original pasted at
 * ((side-w)/2, (side-h)/2) — LLaVA's expand2square (fill (122,116,104) for the
 * CLIP mean, (127,127,127) for SigLIP). A square input is copied. *out is a
 * new image; in is not modified and may not alias out. */
int  image_pad_square(const image *in, const uint8_t fill[3], image *out);

/* Apply EXIF orientation code 1-8 (the TIFF Orientation tag: 6 = the stored
 * picture must be turned 90 degrees clockwise to display upright) to *img in
 * place (the buffer is replaced; w and h swap for 5-8). Codes outside 1-8 are
 * treated as 1. Returns ST_OK or ST_NOMEM (img unchanged). */
int  image_orient(image *img, int orientation);

/* The EXIF orientation (1-8) of a JPEG file in memory, or 1 when the bytes are
 * not a JPEG, carry no EXIF, or the EXIF is corrupt (logged at debug level).
 * Never fails. */
int  image_exif_orientation(const void *bytes, size_t n);

#endif
