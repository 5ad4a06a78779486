/* encode/image_meta.c — image_meta_read (see image_meta.h): sniff the
 * format, then read the size and the EXIF block where the format keeps it:
 *   jpeg        the APP1 "Exif\0\0" segment before the first scan
 *   png         the eXIf chunk (a bare TIFF header), when present
 *   webp        the RIFF EXIF chunk (decode_webp.c)
 *   heic, avif  the primary image's Exif item (decode_heif.c)
 *   tiff, raw   the file's own IFDs (decode_tiff.c, decode_raw.c)
 *   gif, bmp, tga, pnm  no EXIF: size only
 * The size is read from the header (stb's header readers for the stb
 * formats) and swapped for orientations 5-8, so it is the size image_decode
 * gives (for RAW: the sensor's developed size; see decode_raw.c). A header
 * that cannot be read leaves the size 0 but never fails the call: any file
 * image_sniff names gives ST_OK with what could be read.
 */
#include "image_meta.h"

#include <limits.h>
#include <string.h>

#include <stb_image.h>

#include "decode.h"
#include "image.h"
#include "status.h"

/* the "Exif\0\0" APP1 payload of a JPEG, searched up to the first scan */
static int jpeg_exif(const uint8_t *b, size_t n, const uint8_t **seg, size_t *len) {
    size_t p = 2;
    while (p + 4 <= n) {
        if (b[p] != 0xFF) return 0;
        uint8_t m = b[p + 1];
        if (m == 0xFF) { p++; continue; }
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD8)) { p += 2; continue; }
        if (m == 0xDA || m == 0xD9) return 0;
        size_t l = (size_t)b[p + 2] << 8 | b[p + 3];
        if (l < 2 || l > n - p - 2) return 0;
        if (m == 0xE1 && l - 2 >= 14 && memcmp(b + p + 4, "Exif\0\0", 6) == 0) {
            *seg = b + p + 4;
            *len = l - 2;
            return 1;
        }
        p += 2 + l;
    }
    return 0;
}

/* the eXIf chunk of a PNG */
static int png_exif(const uint8_t *b, size_t n, const uint8_t **seg, size_t *len) {
    size_t p = 8;
    while (p + 12 <= n) {
        uint32_t l = (uint32_t)b[p] << 24 | (uint32_t)b[p + 1] << 16 | (uint32_t)b[p + 2] << 8 | b[p + 3];
        if (l > n - p - 12) return 0;
        if (memcmp(b + p + 4, "eXIf", 4) == 0) {
            *seg = b + p + 8;
            *len = l;
            return 1;
        }
        if (memcmp(b + p + 4, "IDAT", 4) == 0 || memcmp(b + p + 4, "IEND", 4) == 0) return 0;
        p += 12 + (size_t)l;
    }
    return 0;
}

int image_meta_read(const void *bytes, size_t n, image_meta *out) {
    meta_init(out);
    if (!bytes || n == 0) return status_fail(ST_FORMAT, "empty file, not an image");
    if (n > IMAGE_MAX_FILE_BYTES || n > INT_MAX)
        return status_fail(ST_TOO_LARGE, "%zu bytes is over the %zu-byte image file limit", n, (size_t)IMAGE_MAX_FILE_BYTES);
    const uint8_t *b = bytes;
    const char *fmt = image_sniff(b, n);
    if (!fmt) return status_fail(ST_UNSUPPORTED, "not an image format seer reads");
    out->format = fmt;
    const uint8_t *seg;
    size_t len;
    if (strcmp(fmt, "webp") == 0) {
        decode_webp_meta(b, n, out);
    } else if (strcmp(fmt, "heic") == 0 || strcmp(fmt, "avif") == 0) {
        decode_heif_meta(b, n, out);
    } else if (strcmp(fmt, "tiff") == 0) {
        decode_tiff_meta(b, n, out);
    } else if (strcmp(fmt, "raw") == 0) {
        decode_raw_meta(b, n, out);
    } else {
        int w = 0, h = 0, c = 0;
        if (stbi_info_from_memory(b, (int)n, &w, &h, &c) && w > 0 && h > 0) {
            out->width = w;
            out->height = h;
        }
        if (strcmp(fmt, "jpeg") == 0 && jpeg_exif(b, n, &seg, &len)) meta_exif_parse(seg, len, out);
        if (strcmp(fmt, "png") == 0 && png_exif(b, n, &seg, &len)) meta_exif_parse(seg, len, out);
        if (strcmp(fmt, "png") == 0) out->orientation = 1;   /* image_decode applies no orientation to PNG */
    }
    if (out->width <= 0 || out->height <= 0) out->width = out->height = 0;
    status_clear();
    if (out->orientation >= 5 && out->orientation <= 8) {
        int t = out->width;
        out->width = out->height;
        out->height = t;
    }
    return ST_OK;
}
