/* encode/decode_webp.c — WebP through libwebp (see decode.h).
 *
 * Still images: WebPGetFeatures reads the size from the VP8 / VP8L / VP8X
 * header, which is checked before anything is allocated; WebPDecodeRGBInto
 * decodes straight into seer's buffer (alpha dropped, as for PNG).
 * Animations (VP8X with ANIM): the first frame composited on the canvas by
 * libwebpdemux's WebPAnimDecoder, as Pillow's convert("RGB") of frame 0 would
 * (canvas size checked first).
 * Orientation: WebP has no orientation of its own; the EXIF chunk's
 * orientation is applied when exif_rotate is set, as for JPEG (what
 * Pillow's exif_transpose and browsers that honour EXIF do).
 * Metadata: RIFF chunks are walked (bounded by the RIFF and file sizes) for
 * "EXIF"; its payload is a TIFF header, sometimes behind an "Exif\0\0"
 * prefix.
 */
#include "decode.h"

#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>
#include <webp/demux.h>

/* the EXIF chunk's payload, or 0 */
static int webp_exif(const uint8_t *b, size_t n, const uint8_t **exif, size_t *len) {
    if (n < 12) return 0;
    size_t p = 12;
    while (p + 8 <= n) {
        uint32_t sz = (uint32_t)b[p + 4] | (uint32_t)b[p + 5] << 8 | (uint32_t)b[p + 6] << 16 | (uint32_t)b[p + 7] << 24;
        if (sz > n - p - 8) return 0;
        if (memcmp(b + p, "EXIF", 4) == 0) {
            *exif = b + p + 8;
            *len = sz;
            return 1;
        }
        p += 8 + (size_t)sz + (sz & 1);
    }
    return 0;
}

int decode_webp_meta(const uint8_t *b, size_t n, image_meta *m) {
    int w = 0, h = 0;
    if (!WebPGetInfo(b, n, &w, &h)) return status_fail(ST_FORMAT, "corrupt webp header");
    m->width = w;
    m->height = h;
    const uint8_t *exif;
    size_t len;
    if (webp_exif(b, n, &exif, &len)) meta_exif_parse(exif, len, m);
    return ST_OK;
}

static int decode_anim(const uint8_t *b, size_t n, const char *what, image *out) {
    WebPData data = {b, n};
    WebPAnimDecoderOptions opt;
    if (!WebPAnimDecoderOptionsInit(&opt)) return status_fail(ST_UNSUPPORTED, "%s: libwebp version mismatch", what);
    opt.color_mode = MODE_RGBA;
    opt.use_threads = 0;
    WebPAnimDecoder *dec = WebPAnimDecoderNew(&data, &opt);
    if (!dec) return status_fail(ST_FORMAT, "%s: corrupt animated webp", what);
    uint8_t *rgba = NULL;
    int ts = 0, st;
    if (!WebPAnimDecoderGetNext(dec, &rgba, &ts) || !rgba) {
        st = status_fail(ST_FORMAT, "%s: corrupt or truncated animated webp (first frame)", what);
    } else {
        const size_t px = (size_t)out->w * out->h;
        for (size_t i = 0; i < px; i++) {
            out->rgb[3 * i] = rgba[4 * i];
            out->rgb[3 * i + 1] = rgba[4 * i + 1];
            out->rgb[3 * i + 2] = rgba[4 * i + 2];
        }
        st = ST_OK;
    }
    WebPAnimDecoderDelete(dec);
    return st;
}

int decode_webp(const uint8_t *b, size_t n, const char *what, long long maxpx, int exif_rotate, image *out) {
    out->w = out->h = 0;
    out->rgb = NULL;
    WebPBitstreamFeatures f;
    VP8StatusCode vs = WebPGetFeatures(b, n, &f);
    if (vs == VP8_STATUS_NOT_ENOUGH_DATA) return status_fail(ST_FORMAT, "%s: truncated webp header", what);
    if (vs != VP8_STATUS_OK) return status_fail(ST_FORMAT, "%s: corrupt webp header (libwebp status %d)", what, (int)vs);
    int st = decode_check_size(f.width, f.height, maxpx, what, "webp");
    if (st) return st;
    if ((st = image_alloc(f.width, f.height, out))) return status_wrap(st, "%s", what);
    if (f.has_animation) {
        st = decode_anim(b, n, what, out);
    } else {
        const size_t stride = (size_t)f.width * 3;
        if (!WebPDecodeRGBInto(b, n, out->rgb, stride * f.height, (int)stride))
            st = status_fail(ST_FORMAT, "%s: corrupt or truncated webp", what);
    }
    if (st) { image_release(out); return st; }
    if (exif_rotate) {
        const uint8_t *exif;
        size_t len;
        if (webp_exif(b, n, &exif, &len)) {
            image_meta m;
            meta_init(&m);
            meta_exif_parse(exif, len, &m);
            if ((st = image_orient(out, m.orientation))) { image_release(out); return status_wrap(st, "%s", what); }
        }
    }
    return ST_OK;
}
