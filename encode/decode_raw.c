/* encode/decode_raw.c — camera RAW through libraw (the thread-safe
 * libraw_r build; see decode.h): CR2, CR3, NEF, ARW, DNG, RAF, ORF, RW2,
 * PEF... whatever libraw 0.20 opens.
 *
 * Preview or demosaic: what seer needs from a photo is an upright picture
 * for CLIP (224-336 px) and thumbnails, not a developed raw. Nearly every
 * camera embeds a full- or near-full-size JPEG rendering (the camera's own
 * development, the picture the photographer saw); immich, digiKam's
 * thumbnails and rclip-like tools use it too. So:
 *   - when libraw finds an embedded JPEG preview whose longer side is at
 *     least RAW_PREVIEW_MIN_SIDE (1024 px) and it decodes, it is the image
 *     (decoded by seer's own JPEG path, with its header checks);
 *   - otherwise (no preview, a tiny one, a bitmap one, a broken one) the
 *     sensor data is demosaiced by libraw (AHD, camera white balance, sRGB,
 *     8 bit); at half size (each 2x2 Bayer quad -> one pixel, no
 *     interpolation) when the full output would exceed RAW_HALF_SIZE_ABOVE
 *     pixels (16 Mpx), which is 4x faster and still over 2000 px wide.
 * So the decoded size is the preview's or the (half-)demosaiced one, not
 * always the sensor's; image_meta reports the sensor's output size.
 *
 * Orientation: libraw's flip (from the RAW's own orientation tag) is
 * applied when exif_rotate is set: libraw applies it to what it demosaics;
 * for a preview (previews are stored unrotated) seer applies it.
 *
 * Bounds: libraw's own raw-buffer cap (max_raw_memory_mb) is set to 1 GiB;
 * the output size (sizes.width x height, halved when half size is used) and
 * the preview's JPEG header are checked against IMAGE_MAX_SIDE and maxpx
 * before libraw unpacks anything; libraw's error callbacks (stderr) are off.
 *
 * Metadata: for TIFF-based RAW (CR2, NEF, ARW, DNG, PEF...) IFD0 and its
 * EXIF / GPS IFDs as for TIFF (meta_exif_parse: the exact strings with the
 * UTC offset); what that leaves empty (and everything for RAF, CR3, ORF...)
 * from libraw's parsed metadata: make, model, the date (libraw keeps it as a
 * time_t made with mktime(), turned back into local time here; no offset)
 * and its GPS. Orientation: libraw's flip, as decoded.
 */
#include "decode.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libraw/libraw.h>

#define RAW_PREVIEW_MIN_SIDE 1024
#define RAW_HALF_SIZE_ABOVE  (16LL << 20)

/* libraw's flip (dcraw: 1 mirror x, 2 mirror y, 4 transpose) -> EXIF orientation */
static int flip_to_exif(int flip) {
    static const int map[8] = {1, 2, 4, 3, 5, 8, 6, 7};
    return flip >= 0 && flip < 8 ? map[flip] : 1;
}

static int raw_status(int e) {
    if (e == LIBRAW_UNSUFFICIENT_MEMORY) return ST_NOMEM;
    if (e == LIBRAW_TOO_BIG) return ST_TOO_LARGE;
    if (e == LIBRAW_FILE_UNSUPPORTED) return ST_UNSUPPORTED;
    return ST_FORMAT;
}

static libraw_data_t *raw_open(const uint8_t *b, size_t n, const char *what, int *st) {
    libraw_data_t *lr = libraw_init(LIBRAW_OPIONS_NO_MEMERR_CALLBACK | LIBRAW_OPIONS_NO_DATAERR_CALLBACK);
    if (!lr) { *st = status_fail(ST_NOMEM, "%s: out of memory for libraw", what); return NULL; }
    lr->params.max_raw_memory_mb = 1024;
    int e = libraw_open_buffer(lr, (void *)b, n);
    if (e != LIBRAW_SUCCESS) {
        *st = status_fail(raw_status(e), "%s: %s raw (%s)", what, e == LIBRAW_FILE_UNSUPPORTED ? "unsupported" : "corrupt",
                          libraw_strerror(e));
        libraw_close(lr);
        return NULL;
    }
    *st = ST_OK;
    return lr;
}

int decode_raw_meta(const uint8_t *b, size_t n, image_meta *m) {
    if (n >= 4 && (memcmp(b, "II*\0", 4) == 0 || memcmp(b, "MM\0*", 4) == 0)) meta_exif_parse(b, n, m);
    int st;
    libraw_data_t *lr = raw_open(b, n, "raw", &st);
    if (!lr) return st;
    m->width = lr->sizes.width;
    m->height = lr->sizes.height;
    m->orientation = flip_to_exif(lr->sizes.flip);
    if (!m->make[0]) snprintf(m->make, sizeof m->make, "%.63s", lr->idata.make);
    if (!m->model[0]) snprintf(m->model, sizeof m->model, "%.63s", lr->idata.model);
    if (m->taken_source == IMAGE_TAKEN_NONE && lr->other.timestamp > 0) {
        struct tm tm;
        time_t t = lr->other.timestamp;
        if (localtime_r(&t, &tm) && tm.tm_year + 1900 >= 1800 && tm.tm_year + 1900 <= 9999) {
            char d[64];
            snprintf(d, sizeof d, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec);
            memcpy(m->taken, d, sizeof m->taken - 1);
            m->taken[sizeof m->taken - 1] = 0;
            m->taken_source = IMAGE_TAKEN_EXIF;
            m->taken_offset_min = IMAGE_OFFSET_UNKNOWN;
        }
    }
    const libraw_gps_info_t *g = &lr->other.parsed_gps;
    if (!m->has_gps && g->gpsparsed) {
        double lat = g->latitude[0] + g->latitude[1] / 60.0 + g->latitude[2] / 3600.0;
        double lon = g->longitude[0] + g->longitude[1] / 60.0 + g->longitude[2] / 3600.0;
        if (lat >= 0 && lat <= 90 && lon >= 0 && lon <= 180) {
            m->has_gps = 1;
            m->gps_lat = g->latref == 'S' ? -lat : lat;
            m->gps_lon = g->longref == 'W' ? -lon : lon;
        }
    }
    libraw_close(lr);
    /* trim what libraw gave */
    for (char *s = m->make; s; s = s == m->make ? m->model : NULL) {
        size_t k = strlen(s);
        while (k > 0 && s[k - 1] == ' ') s[--k] = 0;
    }
    return ST_OK;
}

/* the embedded JPEG preview, decoded, when it is large enough; 0 = use the sensor */
static int try_preview(libraw_data_t *lr, const char *what, long long maxpx, image *out) {
    if (libraw_unpack_thumb(lr) != LIBRAW_SUCCESS) return 0;
    if (lr->thumbnail.tformat != LIBRAW_THUMBNAIL_JPEG || !lr->thumbnail.thumb || lr->thumbnail.tlength < 4) return 0;
    image_opts o = image_opts_default();
    o.max_pixels = maxpx;
    o.exif_rotate = 0;   /* libraw's flip is the orientation of the RAW */
    image img;
    const char *fmt = NULL;
    if (image_decode(lr->thumbnail.thumb, lr->thumbnail.tlength, what, &o, &img, &fmt) != ST_OK) return 0;
    if (strcmp(fmt, "jpeg") != 0 || (img.w < RAW_PREVIEW_MIN_SIDE && img.h < RAW_PREVIEW_MIN_SIDE)) {
        image_release(&img);
        return 0;
    }
    *out = img;
    return 1;
}

int decode_raw(const uint8_t *b, size_t n, const char *what, long long maxpx, int exif_rotate, image *out) {
    out->w = out->h = 0;
    out->rgb = NULL;
    int st;
    libraw_data_t *lr = raw_open(b, n, what, &st);
    if (!lr) return st;
    const long long w = lr->sizes.width, h = lr->sizes.height;
    /* the sensor's output may be up to 4x maxpx: it is then developed at half size */
    if ((st = decode_check_size(w, h, maxpx > LLONG_MAX / 4 ? LLONG_MAX : maxpx * 4, what, "raw"))) {
        libraw_close(lr);
        return st;
    }
    const int flip = lr->sizes.flip;
    if (try_preview(lr, what, maxpx, out)) {
        libraw_close(lr);
        if (exif_rotate && (st = image_orient(out, flip_to_exif(flip)))) {
            image_release(out);
            return status_wrap(st, "%s", what);
        }
        return ST_OK;
    }
    const int half = w * h > RAW_HALF_SIZE_ABOVE;
    if ((st = decode_check_size(half ? (w + 1) / 2 : w, half ? (h + 1) / 2 : h, maxpx, what, "raw"))) {
        libraw_close(lr);
        return st;
    }
    lr->params.half_size = half;
    lr->params.use_camera_wb = 1;
    lr->params.output_bps = 8;
    lr->params.user_flip = exif_rotate ? -1 : 0;
    int e = libraw_unpack(lr);
    if (e == LIBRAW_SUCCESS) e = libraw_dcraw_process(lr);
    libraw_processed_image_t *pi = NULL;
    if (e == LIBRAW_SUCCESS) pi = libraw_dcraw_make_mem_image(lr, &e);
    if (!pi) {
        libraw_close(lr);
        return status_fail(raw_status(e), "%s: cannot decode raw (%s)", what, libraw_strerror(e));
    }
    if (pi->type != LIBRAW_IMAGE_BITMAP || pi->colors != 3 || pi->bits != 8 ||
        pi->data_size < (unsigned)pi->width * pi->height * 3) {
        st = status_fail(ST_UNSUPPORTED, "%s: raw developed to %d colours of %d bits", what, pi->colors, pi->bits);
    } else if (!(st = decode_check_size(pi->width, pi->height, maxpx, what, "raw")) &&
               !(st = image_alloc(pi->width, pi->height, out))) {
        memcpy(out->rgb, pi->data, (size_t)pi->width * pi->height * 3);
    }
    libraw_dcraw_clear_mem(pi);
    libraw_close(lr);
    return st;
}
