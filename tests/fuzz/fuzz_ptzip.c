/* tests/fuzz/fuzz_ptzip.c — model/weights/ptzip.c: a torch.save zip (EOCD,
 * ZIP64 locator and record, central directory, local headers) and the
 * data.pkl it holds. */
#include "fuzz.h"
#include "ptzip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = fuzz_copy(data, size);
    if (!buf) return 0;
    ptzip *z;
    if (ptzip_parse("fuzz.bin", buf, size, &z) == 0) {
        for (size_t i = 0; i < ptzip_count(z); i++) {
            const tensor *t = ptzip_at(z, i);
            if (!t->name || t->nbytes != t->numel * dtype_size(t->dtype)) abort();
            fuzz_touch(t->data, t->nbytes);
        }
        if (!ptzip_prefix(z)) abort();
        ptzip_close(z);
    }
    free(buf);
    return 0;
}
