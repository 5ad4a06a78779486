/* tests/fuzz/fuzz_formats.c — every format behind image_sniff: image_decode
 * through the WebP, HEIC/AVIF, TIFF and RAW decoders (encode/decode_*.c:
 * libwebp, libheif, libtiff, libraw_r behind seer's bounds) as well as stb's,
 * and image_meta_read (EXIF from every container, meta_exif_parse). Seeds:
 * the files of tests/data/formats (tests/fuzz/corpus/fuzz_formats).
 * The libraries themselves are Debian's, not instrumented: this finds what
 * seer's bounds and glue let through (crashes, leaks, hangs, huge
 * allocations), not coverage inside libheif or libraw. */
#include "fuzz.h"
#include "image.h"
#include "image_meta.h"
#include "log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    log_set_level(LOG_ERROR);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = fuzz_copy(data, size);
    if (!buf && size) return 0;
    const char *sn = image_sniff(buf, size);
    image_meta m;
    if (image_meta_read(buf, size, &m) == 0) {
        if (!m.format || !sn || strcmp(m.format, sn) != 0) abort();
        if (m.orientation < 1 || m.orientation > 8 || m.width < 0 || m.height < 0) abort();
        if (memchr(m.taken, 0, sizeof m.taken) == NULL || memchr(m.make, 0, sizeof m.make) == NULL ||
            memchr(m.model, 0, sizeof m.model) == NULL)
            abort();
        if (m.has_gps && !(m.gps_lat >= -90 && m.gps_lat <= 90 && m.gps_lon >= -180 && m.gps_lon <= 180)) abort();
    }
    image_opts o = image_opts_default();
    o.max_pixels = 1 << 20;
    image img;
    const char *fmt = NULL;
    if (image_decode(buf, size, "fuzz", &o, &img, &fmt) == 0) {
        if (!img.rgb || img.w <= 0 || img.h <= 0 || (long long)img.w * img.h > o.max_pixels || !fmt) abort();
        if (!sn || strcmp(fmt, sn) != 0) abort();
        fuzz_touch(img.rgb, (size_t)img.w * img.h * 3);
        image_release(&img);
    } else if (img.rgb || img.w || img.h) {
        abort();
    }
    free(buf);
    return 0;
}
