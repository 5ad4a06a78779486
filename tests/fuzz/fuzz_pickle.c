/* tests/fuzz/fuzz_pickle.c — model/weights/pickle.c: the state-dict
 * unpickler over arbitrary opcodes. */
#include "fuzz.h"
#include "pickle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = fuzz_copy(data, size);
    if (!buf) return 0;
    pickle_tensor *t;
    size_t n;
    if (pickle_load_state_dict("fuzz.pkl", buf, size, &t, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            if (!t[i].name || !t[i].storage_key || t[i].ndim < 0 || t[i].ndim > TENSOR_MAX_DIMS) abort();
            if (t[i].offset < 0 || (uint64_t)t[i].offset + t[i].numel > (uint64_t)t[i].storage_numel) abort();
        }
        pickle_tensors_free(t, n);
    }
    free(buf);
    return 0;
}
