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
 * Formats, told apart by their magic bytes (image_sniff, image_meta.h), never
 * by the file's name:
 *   - stb_image (encode/stb_impl.c): JPEG baseline and progressive (incl.
 *     Adobe CMYK), PNG (1-16 bit, palette, grey, alpha, interlaced), BMP, GIF
 *     (first frame only), TGA (no magic: only a plausible header), PNM
 *     (P5/P6, 8-bit; 16-bit PNM is refused with ST_UNSUPPORTED);
 *   - WebP: libwebp, still or the first frame of an animation
 *     (encode/decode_webp.c);
 *   - HEIC / HEIF and AVIF: libheif 1.15 with Debian's libde265 (HEVC) and
 *     dav1d / aom (AV1); the primary image, HDR reduced to 8 bit
 *     (encode/decode_heif.c);
 *   - TIFF: libtiff, first page, any layout libtiff's RGBA reader knows
 *     (encode/decode_tiff.c);
 *   - camera RAW (CR2, CR3, NEF, ARW, DNG, RAF, ORF, RW2, PEF...): libraw_r;
 *     the embedded JPEG preview when its longer side is >= 1024 px, else
 *     libraw's demosaic (at half size above 16 Mpx), so the decoded size may
 *     be the preview's rather than the sensor's (encode/decode_raw.c).
 *
 * Orientation (when opts.exif_rotate is set): JPEG and WebP apply their EXIF
 * orientation; TIFF its Orientation tag; RAW libraw's flip (from the RAW's
 * own tag); HEIC/AVIF apply their irot/imir transformations (always: they
 * are part of the format) and never the EXIF orientation they may also carry
 * (it describes the same turn; applying it would turn twice); PNG, GIF,
 * BMP, TGA, PNM none.
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
 * Decompression-bomb guard: the header is read first (stbi_info_from_memory,
 * WebPGetFeatures, libheif's item sizes, libtiff's tags, libraw's sizes) and
 * the image is refused with ST_TOO_LARGE, before any pixel buffer is
 * allocated, when a side exceeds IMAGE_MAX_SIDE or w*h exceeds
 * opts.max_pixels (a RAW may have up to 4x that on its sensor when it is
 * developed at half size or through its preview). Inputs above IMAGE_MAX_FILE_BYTES are refused likewise.
 * Corrupt, truncated or non-image input gives ST_FORMAT; an empty input gives
 * ST_FORMAT; a well-formed file the libraries cannot decode here (a TIFF
 * layout libtiff cannot convert, a RAW libraw does not know, a HEIF whose
 * codec is missing) gives ST_UNSUPPORTED. (Truncation is caught for JPEG, PNG and uncompressed BMP; stb
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
    int exif_rotate;      /* apply the orientation of JPEG/WebP EXIF, TIFF and RAW (see above) */
} image_opts;

/* {max_pixels = IMAGE_DEFAULT_MAX_PIXELS, exif_rotate = 1}. */
image_opts image_opts_default(void);

/* Decode n bytes of an in-memory file into *out (RGB, see above). o may be
 * NULL for the defaults. format, when not NULL, receives image_sniff's name
 * on success: "jpeg", "png", "gif", "bmp", "tga", "pnm", "webp", "heic"
 * (any HEIF), "avif", "tiff" or "raw". Error messages start with `what` (a path,
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
