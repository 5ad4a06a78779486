/* tests/fuzz/fuzz_image.c — encode/image.c: image_decode (stb_image behind
 * seer's header checks and bomb guard), EXIF orientation, and the
 * orientation/padding of what decoded. */
#include "fuzz.h"
#include "image.h"
#include "log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    log_set_level(LOG_ERROR);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = fuzz_copy(data, size);
    if (!buf) return 0;
    int orient = image_exif_orientation(buf, size);
    if (orient < 1 || orient > 8) abort();
    image_opts o = image_opts_default();
    o.max_pixels = 1 << 20;   /* keep each run small; the guard itself is what is tested */
    image img;
    const char *fmt = NULL;
    if (image_decode(buf, size, "fuzz", &o, &img, &fmt) == 0) {
        if (!img.rgb || img.w <= 0 || img.h <= 0 || (long long)img.w * img.h > o.max_pixels || !fmt) abort();
        fuzz_touch(img.rgb, (size_t)img.w * img.h * 3);
        if ((long long)img.w * img.h <= 4096) {
            static const uint8_t fill[3] = {122, 116, 104};
            image sq;
            if (image_pad_square(&img, fill, &sq) == 0) image_release(&sq);
        }
        image_release(&img);
    } else if (img.rgb || img.w || img.h) {
        abort();   /* failure leaves {0, 0, NULL} */
    }
    free(buf);
    return 0;
}
