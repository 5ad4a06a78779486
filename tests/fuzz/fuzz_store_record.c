/* tests/fuzz/fuzz_store_record.c — index/store.c: the decoder of an
 * "images" table value (what LMDB hands back for an id) into a store_image:
 * record versions 1 and 2 (photo metadata). */
#include "fuzz.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = fuzz_copy(data, size);
    if (!buf) return 0;
    store_image im;
    if (store_image_decode(7, buf, size, &im) == 0) {
        if (im.id != 7 || strnlen(im.path, sizeof im.path) == sizeof im.path ||
            strnlen(im.format, sizeof im.format) == sizeof im.format ||
            strnlen(im.taken, sizeof im.taken) == sizeof im.taken ||
            strnlen(im.make, sizeof im.make) == sizeof im.make ||
            strnlen(im.model, sizeof im.model) == sizeof im.model || im.taken_source > IMAGE_TAKEN_MTIME)
            abort();
    }
    free(buf);
    return 0;
}
