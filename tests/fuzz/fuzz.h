/* tests/fuzz/fuzz.h — shared bits of the libFuzzer targets (tests/fuzz/fuzz_*.c).
 *
 * Each target defines LLVMFuzzerTestOneInput over one parser of untrusted
 * bytes; tools/fuzz.sh builds them (cmake -DSEER_FUZZ=ON with clang) and runs
 * them over tests/fuzz/corpus/<target>/ and tests/fuzz/regressions/<target>/.
 * A parser may fail on any input, but must not crash, leak, hang, touch
 * memory it does not own, or hit undefined behaviour.
 */
#ifndef SEER_FUZZ_H
#define SEER_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A NUL-terminated malloc'd copy of data (NULL when out of memory). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (s) {
        if (size) memcpy(s, data, size);
        s[size] = 0;
    }
    return s;
}

/* An exact-size malloc'd copy, so ASan sees a read one past the end. */
static inline uint8_t *fuzz_copy(const uint8_t *data, size_t size) {
    uint8_t *p = malloc(size ? size : 1);
    if (p && size) memcpy(p, data, size);
    return p;
}

/* Read every byte of a tensor view, so a view past its buffer is caught. */
static inline unsigned fuzz_touch(const void *p, size_t n) {
    unsigned acc = 0;
    const volatile uint8_t *b = p;
    for (size_t i = 0; i < n; i++) acc += b[i];
    return acc;
}

#endif
