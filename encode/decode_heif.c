/* encode/decode_heif.c — HEIC / HEIF / AVIF through libheif (see decode.h).
 *
 * libheif 1.15 as Debian bookworm builds it decodes HEVC with libde265 and
 * AV1 with dav1d (aom as the fallback); a build without the needed decoder
 * gives ST_UNSUPPORTED (libheif's Unsupported_feature / codec), not a
 * corrupt-file error. The primary image is decoded (HDR converted to 8 bit,
 * alpha dropped).
 *
 * Bounds: heif_context_set_maximum_image_size_limit(IMAGE_MAX_SIDE) makes
 * libheif itself refuse larger image items while parsing (its security
 * limit); then the primary image's size (after its transformations) is
 * checked against IMAGE_MAX_SIDE and maxpx before heif_decode_image allocates
 * anything of that size.
 *
 * Orientation: a HEIF file rotates and mirrors with its own irot / imir
 * properties, which heif_decode_image applies (and heif_image_handle_get_width
 * reports the size after them). The EXIF orientation such files also carry
 * (iPhones write it) describes the same rotation and must NOT be applied
 * again: it is ignored, and image_meta reports orientation 1 for HEIF/AVIF.
 *
 * Metadata: the "Exif" metadata item of the primary image; its payload starts
 * with a 4-byte big-endian offset to the TIFF header (ISO/IEC 23008-12
 * A.2.1), which is honoured within the payload's bounds.
 */
#include "decode.h"

#include <stdlib.h>
#include <string.h>

#include <libheif/heif.h>

typedef struct {
    struct heif_context *ctx;
    struct heif_image_handle *h;
} heif_open_file;

static void heif_close(heif_open_file *f) {
    if (f->h) heif_image_handle_release(f->h);
    if (f->ctx) heif_context_free(f->ctx);
    f->h = NULL;
    f->ctx = NULL;
}

static int heif_status(struct heif_error e) {
    if (e.code == heif_error_Memory_allocation_error) return ST_NOMEM;
    if (e.code == heif_error_Unsupported_feature || e.code == heif_error_Unsupported_filetype) return ST_UNSUPPORTED;
    if (e.subcode == heif_suberror_Security_limit_exceeded) return ST_TOO_LARGE;
    return ST_FORMAT;
}

static int heif_open(const uint8_t *b, size_t n, const char *what, heif_open_file *f) {
    f->ctx = heif_context_alloc();
    f->h = NULL;
    if (!f->ctx) return status_fail(ST_NOMEM, "%s: out of memory for a heif context", what);
    heif_context_set_maximum_image_size_limit(f->ctx, IMAGE_MAX_SIDE);
    struct heif_error e = heif_context_read_from_memory_without_copy(f->ctx, b, n, NULL);
    if (e.code == heif_error_Ok) e = heif_context_get_primary_image_handle(f->ctx, &f->h);
    if (e.code != heif_error_Ok) {   /* e.message may live in the context: use it before freeing that */
        int st = status_fail(heif_status(e), "%s: corrupt or unsupported heif (%s)", what, e.message ? e.message : "?");
        heif_close(f);
        return st;
    }
    return ST_OK;
}

int decode_heif_meta(const uint8_t *b, size_t n, image_meta *m) {
    heif_open_file f;
    int st = heif_open(b, n, "heif", &f);
    if (st) return st;
    m->width = heif_image_handle_get_width(f.h);
    m->height = heif_image_handle_get_height(f.h);
    m->orientation = 1;
    heif_item_id ids[4];
    int k = heif_image_handle_get_list_of_metadata_block_IDs(f.h, "Exif", ids, 4);
    for (int i = 0; i < k; i++) {
        size_t sz = heif_image_handle_get_metadata_size(f.h, ids[i]);
        if (sz < 4 || sz > (64u << 20)) continue;
        uint8_t *buf = malloc(sz);
        if (!buf) break;
        if (heif_image_handle_get_metadata(f.h, ids[i], buf).code == heif_error_Ok) {
            uint32_t off = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
            if (off <= sz - 4) meta_exif_parse(buf + 4 + off, sz - 4 - off, m);
        }
        free(buf);
        break;
    }
    m->orientation = 1;    /* applied by the decoder through irot/imir; never twice */
    heif_close(&f);
    return ST_OK;
}

int decode_heif(const uint8_t *b, size_t n, const char *what, const char *fmt, long long maxpx, image *out) {
    out->w = out->h = 0;
    out->rgb = NULL;
    heif_open_file f;
    int st = heif_open(b, n, what, &f);
    if (st) return st;
    const int w = heif_image_handle_get_width(f.h), h = heif_image_handle_get_height(f.h);
    const int iw = heif_image_handle_get_ispe_width(f.h), ih = heif_image_handle_get_ispe_height(f.h);
    if ((st = decode_check_size(w, h, maxpx, what, fmt)) || (st = decode_check_size(iw, ih, maxpx, what, fmt))) {
        heif_close(&f);
        return st;
    }
    struct heif_decoding_options *opt = heif_decoding_options_alloc();
    if (!opt) { heif_close(&f); return status_fail(ST_NOMEM, "%s: out of memory", what); }
    opt->convert_hdr_to_8bit = 1;
    struct heif_image *img = NULL;
    struct heif_error e = heif_decode_image(f.h, &img, heif_colorspace_RGB, heif_chroma_interleaved_RGB, opt);
    heif_decoding_options_free(opt);
    if (e.code != heif_error_Ok) {
        int code = heif_status(e);
        if (e.subcode == heif_suberror_Unsupported_codec) code = ST_UNSUPPORTED;
        st = status_fail(code, "%s: cannot decode %s (%s)", what, fmt, e.message ? e.message : "?");
        heif_close(&f);
        return st;
    }
    int stride = 0;
    const uint8_t *px = heif_image_get_plane_readonly(img, heif_channel_interleaved, &stride);
    const int dw = heif_image_get_width(img, heif_channel_interleaved), dh = heif_image_get_height(img, heif_channel_interleaved);
    if (!px || dw != w || dh != h || stride < 3 * w) {
        st = status_fail(ST_FORMAT, "%s: %s decoded to %dx%d, its header says %dx%d", what, fmt, dw, dh, w, h);
    } else if (!(st = image_alloc(w, h, out))) {
        for (int y = 0; y < h; y++) memcpy(out->rgb + (size_t)y * w * 3, px + (size_t)y * stride, (size_t)w * 3);
    } else {
        st = status_wrap(st, "%s", what);
    }
    heif_image_release(img);
    heif_close(&f);
    return st;
}
