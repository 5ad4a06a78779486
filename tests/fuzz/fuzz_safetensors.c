/* tests/fuzz/fuzz_safetensors.c — model/weights/safetensors.c: the header
 * length, the JSON header, every tensor entry and the tiling checks. */
#include "fuzz.h"
#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = fuzz_copy(data, size);
    if (!buf) return 0;
    safetensors *st;
    if (safetensors_parse("fuzz.safetensors", buf, size, &st) == 0) {
        for (size_t i = 0; i < safetensors_count(st); i++) {
            const tensor *t = safetensors_at(st, i);
            if (!t->name || t->nbytes != t->numel * dtype_size(t->dtype)) abort();
            fuzz_touch(t->data, t->nbytes);
        }
        safetensors_meta(st, "format");
        safetensors_close(st);
    }
    free(buf);
    return 0;
}
