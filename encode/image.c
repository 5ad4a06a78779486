/* encode/image.c — untrusted bytes -> 8-bit RGB (see image.h for the contract).
 *
 * Order of checks in image_decode (each one before any large allocation):
 *   1. 0 < n <= IMAGE_MAX_FILE_BYTES (stb takes an int length);
 *   2. the format is sniffed from the magic bytes (image_sniff; TGA only
 *      for a plausible header); WebP, HEIC/AVIF, TIFF and RAW go to their
 *      decoders (decode.h), which bound the size in their own way; the
 *      rest to stb:
 *   3. the size the header claims (read by image_sniff_size without stb,
 *      which rejects huge headers with an unhelpful message; then again by
 *      stbi_info_from_memory for every format): w, h in [1, IMAGE_MAX_SIDE]
 *      and w*h <= max_pixels, else ST_TOO_LARGE;
 *   4. stbi_load_from_memory(..., 3) decodes and converts to RGB (alpha
 *      dropped, grey replicated, 16-bit -> high byte); the decoded size must
 *      equal the header's;
 *   5. for JPEGs with exif_rotate, the APP1 EXIF orientation is applied.
 */
#include "image.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <libexif/exif-data.h>
#include <stb_image.h>

#include "decode.h"
#include "file.h"
#include "image_meta.h"
#include "log.h"
#include "status.h"

image_opts image_opts_default(void) {
    image_opts o = {.max_pixels = IMAGE_DEFAULT_MAX_PIXELS, .exif_rotate = 1};
    return o;
}

void image_release(image *img) {
    if (!img) return;
    free(img->rgb);
    img->rgb = NULL;
    img->w = img->h = 0;
}

int image_alloc(int w, int h, image *out) {
    out->w = out->h = 0;
    out->rgb = NULL;
    if (w <= 0 || h <= 0 || w > IMAGE_MAX_SIDE || h > IMAGE_MAX_SIDE)
        return status_fail(ST_ARG, "image size %dx%d out of range (1..%d per side)", w, h, IMAGE_MAX_SIDE);
    uint8_t *p = malloc((size_t)w * (size_t)h * 3);
    if (!p) return status_fail(ST_NOMEM, "out of memory for a %dx%d image", w, h);
    out->w = w;
    out->h = h;
    out->rgb = p;
    return ST_OK;
}

static uint32_t rd_le32(const uint8_t *p) { return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | p[1] << 8 | p[0]; }

/* ---------------------------------------------------------------- EXIF */

/* Find the "Exif\0\0" APP1 payload among the JPEG markers before SOS. */
static int jpeg_find_exif(const uint8_t *b, size_t n, const uint8_t **seg, size_t *seglen) {
    if (n < 4 || b[0] != 0xFF || b[1] != 0xD8) return 0;
    size_t pos = 2;
    while (pos + 4 <= n) {
        if (b[pos] != 0xFF) return 0;
        uint8_t m = b[pos + 1];
        if (m == 0xFF) { pos++; continue; }                           /* fill byte */
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD8)) { pos += 2; continue; } /* no length */
        if (m == 0xDA || m == 0xD9) return 0;                         /* SOS / EOI: no EXIF */
        size_t len = ((size_t)b[pos + 2] << 8) | b[pos + 3];
        if (len < 2 || pos + 2 + len > n) return 0;
        if (m == 0xE1 && len - 2 >= 6 && memcmp(b + pos + 4, "Exif\0\0", 6) == 0) {
            *seg = b + pos + 4;
            *seglen = len - 2;
            return 1;
        }
        pos += 2 + len;
    }
    return 0;
}

int image_exif_orientation(const void *bytes, size_t n) {
    const uint8_t *seg;
    size_t seglen;
    if (!bytes || !jpeg_find_exif(bytes, n, &seg, &seglen)) return 1;
    ExifData *ed = exif_data_new();
    if (!ed) return 1;
    /* Read only: do not let libexif "fix" (add/remove) tags. */
    exif_data_unset_option(ed, EXIF_DATA_OPTION_FOLLOW_SPECIFICATION);
    exif_data_load_data(ed, seg, (unsigned int)seglen);
    int orient = 1;
    ExifEntry *e = exif_content_get_entry(ed->ifd[EXIF_IFD_0], EXIF_TAG_ORIENTATION);
    if (e && e->format == EXIF_FORMAT_SHORT && e->components >= 1 && e->data && e->size >= 2) {
        int v = exif_get_short(e->data, exif_data_get_byte_order(ed));
        if (v >= 1 && v <= 8) orient = v;
        else log_debug("image: ignoring EXIF orientation %d (not 1-8)", v);
    } else if (e) {
        log_debug("image: ignoring malformed EXIF orientation entry");
    }
    exif_data_unref(ed);
    return orient;
}

int image_orient(image *img, int orientation) {
    if (orientation < 2 || orientation > 8 || !img->rgb) return ST_OK;
    const int w = img->w, h = img->h;
    const int swap = orientation >= 5;
    const int ow = swap ? h : w, oh = swap ? w : h;
    uint8_t *dst = malloc((size_t)w * (size_t)h * 3);
    if (!dst) return status_fail(ST_NOMEM, "out of memory rotating a %dx%d image", w, h);
    const uint8_t *src = img->rgb;
    /* For each output pixel (ox, oy), the source pixel (x, y) it shows. */
    for (int oy = 0; oy < oh; oy++) {
        uint8_t *d = dst + (size_t)oy * ow * 3;
        for (int ox = 0; ox < ow; ox++, d += 3) {
            int x, y;
            switch (orientation) {
            case 2: x = w - 1 - ox; y = oy; break;             /* mirror left-right */
            case 3: x = w - 1 - ox; y = h - 1 - oy; break;     /* rotate 180 */
            case 4: x = ox; y = h - 1 - oy; break;             /* mirror top-bottom */
            case 5: x = oy; y = ox; break;                     /* transpose */
            case 6: x = oy; y = h - 1 - ox; break;             /* rotate 90 clockwise */
            case 7: x = w - 1 - oy; y = h - 1 - ox; break;     /* transverse */
            default: x = w - 1 - oy; y = ox; break;            /* 8: rotate 90 counter-clockwise */
            }
            const uint8_t *s = src + ((size_t)y * w + x) * 3;
            d[0] = s[0]; d[1] = s[1]; d[2] = s[2];
        }
    }
    free(img->rgb);
    img->rgb = dst;
    img->w = ow;
    img->h = oh;
    return ST_OK;
}

/* ---------------------------------------------------------------- decode */

/* The maxval of a binary PNM header ("P5"/"P6", width, height, maxval, with
 * '#' comments), -1 when it cannot be read (stb then reports the header), or
 * -2 when a number is over 1000000 (stb's reader overflows an int on ten
 * digits). */
static long pnm_maxval(const uint8_t *b, size_t n) {
    size_t p = 2;
    long v = -1;
    for (int field = 0; field < 3; field++) {
        for (;;) {                                     /* whitespace and comments */
            while (p < n && (b[p] == ' ' || (b[p] >= '\t' && b[p] <= '\r'))) p++;
            if (p < n && b[p] == '#') { while (p < n && b[p] != '\n' && b[p] != '\r') p++; continue; }
            break;
        }
        if (p >= n || b[p] < '0' || b[p] > '9') return -1;
        for (v = 0; p < n && b[p] >= '0' && b[p] <= '9'; p++)
            if ((v = v * 10 + (b[p] - '0')) > 1000000) return -2;
    }
    return v;
}

/* NULL when every PNG chunk up to IEND lies inside the file and the first
 * IDAT chunk holds data; else what is wrong. stb reserves a chunk's claimed
 * IDAT length before reading it, so a 76-byte file claiming a 1 GB IDAT chunk
 * allocated 2 GB; and it copies an empty first IDAT chunk to a NULL buffer
 * (undefined behaviour; no encoder writes one). */
static const char *png_chunks_bad(const uint8_t *b, size_t n) {
    size_t p = 8;
    int idat_seen = 0;
    while (p + 8 <= n) {
        uint32_t len = (uint32_t)b[p] << 24 | (uint32_t)b[p + 1] << 16 | (uint32_t)b[p + 2] << 8 | b[p + 3];
        if (len > n - p - 8 || n - p - 8 - len < 4) return "a chunk runs past the end of the file"; /* data and CRC */
        if (memcmp(b + p + 4, "IEND", 4) == 0) return NULL;
        if (memcmp(b + p + 4, "IDAT", 4) == 0) {
            if (!idat_seen && len == 0) return "its first IDAT chunk is empty";
            idat_seen = 1;
        }
        p += 12 + (size_t)len;
    }
    return NULL;   /* no IEND: stb reports it */
}

/* 0 when every DHT segment of the JPEG is well-formed (each table's 16 code
 * counts sum to at most 256 and its values fit the segment) and every scan
 * uses only Huffman tables defined before it; else JPEG_BAD_COUNTS or
 * JPEG_UNDEFINED_TABLE. Debian's stb (git 2022-09) trusts the counts and
 * writes past its 257-entry size table, and decodes with a table no DHT
 * defined (uninitialised memory, an out-of-bounds symbol index); both were
 * fixed upstream later, and libjpeg refuses the second too. seer refuses
 * such a file before stb sees it. Entropy-coded data is skipped to the next
 * marker (DHT may follow a progressive scan). */
enum { JPEG_BAD_COUNTS = 1, JPEG_UNDEFINED_TABLE = 2 };

static int jpeg_tables_bad(const uint8_t *b, size_t n) {
    unsigned defined = 0;   /* bit (class * 4 + id): DC tables 0-3, AC tables 4-7 */
    size_t p = 2;
    while (p + 4 <= n) {
        if (b[p] != 0xFF) { p++; continue; }          /* entropy-coded data */
        uint8_t m = b[p + 1];
        if (m == 0xFF) { p++; continue; }              /* fill byte */
        if (m == 0x00 || (m >= 0xD0 && m <= 0xD8) || m == 0x01) { p += 2; continue; }  /* stuffing, RSTn, SOI, TEM */
        if (m == 0xD9) return 0;                       /* EOI */
        size_t len = (size_t)b[p + 2] << 8 | b[p + 3];
        if (len < 2) return 0;                         /* stb reports it */
        if (m == 0xC4) {
            /* the tables as stb reads them: while the segment has bytes left,
             * a 17-byte header and its values, even past the segment's end
             * (stb builds that table, then fails) or the file's (zeros) */
            long left = (long)len - 2;
            size_t q = p + 4;
            while (left > 0 && q < n) {
                unsigned total = 0;
                for (size_t i = 1; i <= 16; i++) total += q + i < n ? b[q + i] : 0;
                if (total > 256) return JPEG_BAD_COUNTS;
                unsigned tc = b[q] >> 4, th = b[q] & 15;
                if (tc <= 1 && th <= 3) defined |= 1u << (tc * 4 + th);
                left -= 17 + (long)total;
                q += 17 + total;
            }
            if (left != 0) return 0;                   /* stb reports the bad segment */
        }
        if (m == 0xDA && p + 5 <= n) {
            /* SOS: Ns, then (Cs, Td << 4 | Ta) per component, then Ss, Se,
             * Ah << 4 | Al. A DC refinement scan (Ah > 0) reads raw bits:
             * no DC table */
            size_t ns = b[p + 4], after = p + 5 + 2 * ns;
            if (after + 3 > n) return 0;               /* truncated: stb reports it */
            unsigned ss = b[after], se = b[after + 1], ah = b[after + 2] >> 4;
            for (size_t i = 0; i < ns; i++) {
                unsigned td = b[p + 6 + 2 * i] >> 4, ta = b[p + 6 + 2 * i] & 15;
                if (ss == 0 && ah == 0 && (td > 3 || !(defined >> td & 1))) return JPEG_UNDEFINED_TABLE;
                if (se > 0 && (ta > 3 || !(defined >> (4 + ta) & 1))) return JPEG_UNDEFINED_TABLE;
            }
        }
        if (len > n - p - 2) return 0;                 /* truncated: stb reports it */
        p += 2 + len;
    }
    return 0;
}

int image_decode(const void *bytes, size_t n, const char *what, const image_opts *o,
                 image *out, const char **format) {
    image_opts def = image_opts_default();
    if (!o) o = &def;
    if (!what) what = "image";
    out->w = out->h = 0;
    out->rgb = NULL;
    if (!bytes || n == 0) return status_fail(ST_FORMAT, "%s: empty file, not an image", what);
    if (n > IMAGE_MAX_FILE_BYTES || n > INT_MAX)
        return status_fail(ST_TOO_LARGE, "%s: %zu bytes is over the %zu-byte image file limit", what, n,
                           (size_t)IMAGE_MAX_FILE_BYTES);
    const uint8_t *b = bytes;
    const char *fmt = image_sniff(b, n);
    if (!fmt)
        return status_fail(ST_FORMAT, "%s: not a recognised image (JPEG, PNG, GIF, BMP, TGA, PNM, WebP, HEIC, AVIF, "
                           "TIFF, camera RAW)", what);

    const long long maxpx = o->max_pixels > 0 ? o->max_pixels : IMAGE_DEFAULT_MAX_PIXELS;
    long long hw, hh;
    int st = ST_OK, other = 1;
    if (strcmp(fmt, "webp") == 0) st = decode_webp(b, n, what, maxpx, o->exif_rotate, out);
    else if (strcmp(fmt, "heic") == 0 || strcmp(fmt, "avif") == 0) st = decode_heif(b, n, what, fmt, maxpx, out);
    else if (strcmp(fmt, "tiff") == 0) st = decode_tiff(b, n, what, maxpx, o->exif_rotate, out);
    else if (strcmp(fmt, "raw") == 0) st = decode_raw(b, n, what, maxpx, o->exif_rotate, out);
    else other = 0;
    if (other) {
        if (st == ST_OK && format) *format = fmt;
        return st;
    }
    /* the stb formats */
    if (image_sniff_size(b, n, fmt, &hw, &hh) && (st = decode_check_size(hw, hh, maxpx, what, fmt))) return st;

    const char *png_bad = fmt && strcmp(fmt, "png") == 0 ? png_chunks_bad(b, n) : NULL;
    if (png_bad) return status_fail(ST_FORMAT, "%s: corrupt or truncated png (%s)", what, png_bad);
    /* stb takes anything starting with SOI (after any 0xFF fill bytes) as a
     * JPEG, and skips junk before each marker */
    size_t soi = 0;
    while (soi < n && b[soi] == 0xFF) soi++;
    int bad = soi >= 1 && soi < n && b[soi] == 0xD8 ? jpeg_tables_bad(b + soi - 1, n - soi + 1) : 0;
    if (bad == JPEG_BAD_COUNTS)
        return status_fail(ST_FORMAT, "%s: corrupt jpeg (a Huffman table has more than 256 codes)", what);
    if (bad == JPEG_UNDEFINED_TABLE)
        return status_fail(ST_FORMAT, "%s: corrupt jpeg (a scan uses a Huffman table that was never defined)", what);

    /* Debian's stb converts a 16-bit PNM's channels with the 8-bit routine and
     * then reads twice the buffer it made (heap overflow); refuse those. */
    long maxval = fmt && strcmp(fmt, "pnm") == 0 ? pnm_maxval(b, n) : 0;
    if (maxval == -2) return status_fail(ST_FORMAT, "%s: corrupt pnm header (a number is out of range)", what);
    if (maxval > 255) return status_fail(ST_UNSUPPORTED, "%s: 16-bit pnm (maxval %ld) is not supported", what, maxval);

    int w = 0, h = 0, comp = 0;
    if (!stbi_info_from_memory(b, (int)n, &w, &h, &comp)) {
        const char *why = stbi_failure_reason();
        return status_fail(ST_FORMAT, "%s: corrupt or unsupported %s header (%s)", what, fmt, why ? why : "?");
    }
    if ((st = decode_check_size(w, h, maxpx, what, fmt))) return st;

    /* stb fills a short uncompressed BMP with zeros; Pillow calls it
     * truncated, and so does seer. */
    if (strcmp(fmt, "bmp") == 0 && n >= 34 && rd_le32(b + 14) >= 40 && rd_le32(b + 30) == 0) {
        const unsigned bpp = b[28] | b[29] << 8;
        const unsigned long long stride = (((unsigned long long)w * bpp + 31) / 32) * 4;
        if (rd_le32(b + 10) + stride * (unsigned long long)h > n)
            return status_fail(ST_FORMAT, "%s: truncated bmp (%zu bytes, pixel data needs %llu)", what, n,
                               rd_le32(b + 10) + stride * (unsigned long long)h);
    }

    int dw = 0, dh = 0, dc = 0;
    uint8_t *px = stbi_load_from_memory(b, (int)n, &dw, &dh, &dc, 3);
    if (!px) {
        const char *why = stbi_failure_reason();
        if (why && strcmp(why, "outofmem") == 0)
            return status_fail(ST_NOMEM, "%s: out of memory decoding a %dx%d %s", what, w, h, fmt);
        /* stb probes the formats in turn before the right one, and a probe
         * that fails leaves its own reason ("bad png sig" for a JPEG whose
         * decoder then failed silently): quote only a reason of this format */
        if (why && strcmp(fmt, "png") && !strncmp(why, "bad png", 7)) why = NULL;
        if (!why) return status_fail(ST_FORMAT, "%s: corrupt or truncated %s", what, fmt);
        return status_fail(ST_FORMAT, "%s: corrupt or truncated %s (%s)", what, fmt, why);
    }
    if (dw != w || dh != h) { /* header and decoder disagree: refuse rather than guess */
        stbi_image_free(px);
        return status_fail(ST_FORMAT, "%s: %s header says %dx%d but decodes to %dx%d", what, fmt, w, h, dw, dh);
    }
    /* stbi_image_free is free() in this build (no STBI_MALLOC override), so the
     * buffer can be handed to the caller as-is. */
    out->w = w;
    out->h = h;
    out->rgb = px;
    if (o->exif_rotate && strcmp(fmt, "jpeg") == 0) {
        int orient = image_exif_orientation(b, n);
        st = image_orient(out, orient);
        if (st) { image_release(out); return status_wrap(st, "%s", what); }
    }
    if (format) *format = fmt;
    return ST_OK;
}

int image_load(const char *path, const image_opts *o, image *out, const char **format) {
    out->w = out->h = 0;
    out->rgb = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    int st = file_read(path, IMAGE_MAX_FILE_BYTES, &buf, &len);
    if (st) return st; /* file_read names the path */
    st = image_decode(buf, len, path, o, out, format);
    free(buf);
    return st;
}

/* ---------------------------------------------------------------- pad */

int image_pad_square(const image *in, const uint8_t fill[3], image *out) {
    if (!in || !in->rgb || in->w <= 0 || in->h <= 0)
        return status_fail(ST_ARG, "image_pad_square: empty input image");
    const int side = in->w > in->h ? in->w : in->h;
    int st = image_alloc(side, side, out);
    if (st) return st;
    const int x0 = (side - in->w) / 2, y0 = (side - in->h) / 2;
    uint8_t *d = out->rgb;
    if (in->w != in->h) {
        for (size_t i = 0; i < (size_t)side * side; i++, d += 3) {
            d[0] = fill[0]; d[1] = fill[1]; d[2] = fill[2];
        }
    }
    for (int y = 0; y < in->h; y++)
        memcpy(out->rgb + ((size_t)(y + y0) * side + x0) * 3, in->rgb + (size_t)y * in->w * 3, (size_t)in->w * 3);
    return ST_OK;
}
