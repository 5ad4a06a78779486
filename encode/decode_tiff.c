/* encode/decode_tiff.c — TIFF through libtiff 4.5 (see decode.h).
 *
 * The file is read from memory (TIFFClientOpenExt over a cursor on the
 * bytes; no mapping, read-only), with per-handle error and warning handlers
 * (libtiff's global handlers would print to stderr and are not per thread):
 * the first error message becomes the status message. libtiff's own
 * allocation cap is set to 512 MiB per allocation (TIFFOpenOptions), and the
 * first page's ImageWidth / ImageLength tags are checked against
 * IMAGE_MAX_SIDE and maxpx before the RGBA raster (4 bytes a pixel) is
 * allocated.
 *
 * Pixels: TIFFRGBAImage (every photometric, bit depth and compression
 * libtiff supports -> 8-bit RGBA; alpha dropped). Orientation: libtiff is
 * told the image is already top-left so that it copies rows as stored; the
 * Orientation tag (1-8, the same codes as EXIF) is then applied with
 * image_orient when exif_rotate is set — libtiff's own flipping handles only
 * mirrors, not the transposed codes 5-8.
 * Metadata: the TIFF is itself an EXIF block (IFD0 with Make, Model,
 * DateTime, Orientation and pointers to the EXIF and GPS IFDs):
 * meta_exif_parse reads it.
 */
#include "decode.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tiffio.h>

typedef struct {
    const uint8_t *b;
    size_t n, pos;
    char err[200];
} tiff_mem;

static tmsize_t mem_read(thandle_t h, void *buf, tmsize_t size) {
    tiff_mem *m = h;
    if (size <= 0 || m->pos >= m->n) return 0;
    size_t k = (size_t)size < m->n - m->pos ? (size_t)size : m->n - m->pos;
    memcpy(buf, m->b + m->pos, k);
    m->pos += k;
    return (tmsize_t)k;
}
static tmsize_t mem_write(thandle_t h, void *buf, tmsize_t size) { (void)h, (void)buf, (void)size; return -1; }
static toff_t mem_seek(thandle_t h, toff_t off, int whence) {
    tiff_mem *m = h;
    uint64_t base = whence == SEEK_CUR ? m->pos : whence == SEEK_END ? m->n : 0;
    if (off > UINT64_MAX / 2 || base + off > (uint64_t)m->n + (1u << 30)) return (toff_t)-1;
    m->pos = (size_t)(base + off);
    return m->pos;
}
static int mem_close(thandle_t h) { (void)h; return 0; }
static toff_t mem_size(thandle_t h) { return ((tiff_mem *)h)->n; }
static int mem_map(thandle_t h, void **base, toff_t *size) { (void)h, (void)base, (void)size; return 0; }
static void mem_unmap(thandle_t h, void *base, toff_t size) { (void)h, (void)base, (void)size; }

static int on_error(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    (void)tif, (void)module;
    tiff_mem *m = user;
    if (m && !m->err[0]) vsnprintf(m->err, sizeof m->err, fmt, ap);
    return 1;   /* handled: libtiff's global handler stays quiet */
}
static int on_warning(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    (void)tif, (void)user, (void)module, (void)fmt, (void)ap;
    return 1;
}

static TIFF *tiff_open(tiff_mem *m, const uint8_t *b, size_t n) {
    m->b = b;
    m->n = n;
    m->pos = 0;
    m->err[0] = 0;
    TIFFOpenOptions *opt = TIFFOpenOptionsAlloc();
    if (!opt) return NULL;
    TIFFOpenOptionsSetMaxSingleMemAlloc(opt, (tmsize_t)512 << 20);
    TIFFOpenOptionsSetErrorHandlerExtR(opt, on_error, m);
    TIFFOpenOptionsSetWarningHandlerExtR(opt, on_warning, m);
    TIFF *t = TIFFClientOpenExt("tiff", "rm", m, mem_read, mem_write, mem_seek, mem_close, mem_size, mem_map,
                                mem_unmap, opt);
    TIFFOpenOptionsFree(opt);
    return t;
}

int decode_tiff_meta(const uint8_t *b, size_t n, image_meta *m) {
    tiff_mem mem;
    TIFF *t = tiff_open(&mem, b, n);
    if (!t) return status_fail(ST_FORMAT, "corrupt tiff (%s)", mem.err[0] ? mem.err : "unreadable header");
    uint32_t w = 0, h = 0;
    TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &w);
    TIFFGetField(t, TIFFTAG_IMAGELENGTH, &h);
    TIFFClose(t);
    m->width = w <= IMAGE_MAX_SIDE ? (int)w : 0;
    m->height = h <= IMAGE_MAX_SIDE ? (int)h : 0;
    meta_exif_parse(b, n, m);
    return ST_OK;
}

int decode_tiff(const uint8_t *b, size_t n, const char *what, long long maxpx, int exif_rotate, image *out) {
    out->w = out->h = 0;
    out->rgb = NULL;
    tiff_mem mem;
    TIFF *t = tiff_open(&mem, b, n);
    if (!t) return status_fail(ST_FORMAT, "%s: corrupt tiff (%s)", what, mem.err[0] ? mem.err : "unreadable header");
    uint32_t w = 0, h = 0;
    uint16_t orient = 1;
    TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &w);
    TIFFGetField(t, TIFFTAG_IMAGELENGTH, &h);
    TIFFGetFieldDefaulted(t, TIFFTAG_ORIENTATION, &orient);
    int st = decode_check_size(w, h, maxpx, what, "tiff");
    if (st) { TIFFClose(t); return st; }
    char emsg[1024] = "";
    TIFFRGBAImage img;
    if (!TIFFRGBAImageOK(t, emsg) || !TIFFRGBAImageBegin(&img, t, 1, emsg)) {
        TIFFClose(t);
        return status_fail(ST_UNSUPPORTED, "%s: tiff of a kind libtiff cannot convert to RGB (%s)", what, emsg);
    }
    uint32_t *raster = NULL;
    if (img.width != w || img.height != h) {
        st = status_fail(ST_FORMAT, "%s: tiff size disagrees with itself", what);
    } else if (!(raster = malloc((size_t)w * h * 4))) {
        st = status_fail(ST_NOMEM, "%s: out of memory for a %ux%u tiff", what, w, h);
    } else {
        img.req_orientation = ORIENTATION_TOPLEFT;
        img.orientation = ORIENTATION_TOPLEFT;   /* rows as stored; the tag is applied below */
        if (!TIFFRGBAImageGet(&img, raster, w, h))
            st = status_fail(ST_FORMAT, "%s: corrupt or truncated tiff (%s)", what, mem.err[0] ? mem.err : "?");
        else if ((st = image_alloc((int)w, (int)h, out)))
            st = status_wrap(st, "%s", what);
    }
    TIFFRGBAImageEnd(&img);
    TIFFClose(t);
    if (st) { free(raster); return st; }
    const size_t px = (size_t)w * h;
    for (size_t i = 0; i < px; i++) {   /* TIFFGetR/G/B: ABGR packed in a uint32 */
        out->rgb[3 * i] = (uint8_t)TIFFGetR(raster[i]);
        out->rgb[3 * i + 1] = (uint8_t)TIFFGetG(raster[i]);
        out->rgb[3 * i + 2] = (uint8_t)TIFFGetB(raster[i]);
    }
    free(raster);
    if (exif_rotate && orient >= 2 && orient <= 8 && (st = image_orient(out, orient))) {
        image_release(out);
        return status_wrap(st, "%s", what);
    }
    return ST_OK;
}
